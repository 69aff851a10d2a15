//! What sitepurge tells the user: a short human summary (with every URL at `-v`), or one JSON
//! object with `--json`. Written to any `impl Write`, so tests read exactly what users see.

use std::io::{self, Write};

use serde::Serialize;

use crate::config::Output;
use crate::diff::ChangeSet;
use crate::plan::{Decision, PurgeUrl, Reason};

/// The outcome of one command, as printed with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `plan`, `baseline` or `run`.
    pub command: &'static str,
    /// The generator preset in force: `{name, detected_from}` (null: none).
    pub generator: Option<GeneratorReport>,
    /// The base URLs the site's files were mapped under.
    pub base_urls: Vec<String>,
    /// The generator's config file they were read from, when no setting gave them (null: set
    /// by a flag, the environment or sitepurge.toml).
    pub base_urls_from: Option<String>,
    pub dir: String,
    pub state: String,
    /// When the state compared against was written; null on a first run.
    pub state_written_at: Option<String>,
    pub first_run: bool,
    pub files_scanned: usize,
    pub changes: ChangeSet,
    pub decision: Decision,
    pub reason: Reason,
    pub explanation: String,
    pub threshold: ThresholdReport,
    /// Every URL of every changed file (also when everything is purged).
    pub urls: Vec<PurgeUrl>,
    /// When the decision is `everything`: what that sends, in words.
    pub everything: Option<String>,
    /// Whether this command wrote the state file.
    pub state_saved: bool,
    pub warnings: Vec<String>,
    /// What the purge did (`run` only; null when nothing was sent).
    pub purge: Option<PurgeReport>,
}

/// The purge as carried out.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    /// "Everything" was done by purging every URL of the site, one by one (the provider has
    /// no request that clears a site).
    pub one_by_one: bool,
    /// `cloudflare` or `http-purge`.
    pub provider: &'static str,
    /// What was purged on: `zone 0123…`.
    pub target: String,
    /// `files`, or for everything `hosts`, `prefixes` and/or `purge_everything`.
    pub kinds: Vec<&'static str>,
    /// Host names / prefixes purged whole, when everything was purged that way.
    pub hosts: Vec<String>,
    pub prefixes: Vec<String>,
    /// Requests sent, retries included.
    pub requests: u32,
    /// URLs confirmed purged (all of them when everything was purged).
    pub urls_purged: usize,
    /// URLs still pending: the state keeps their files for the next run.
    pub urls_pending: Vec<String>,
    pub failures: Vec<crate::provider::Failure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GeneratorReport {
    pub name: &'static str,
    /// The config file it was detected from; null when set explicitly.
    pub detected_from: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdReport {
    /// As set: `50%` or `200`.
    pub setting: String,
    /// The setting as a number of URLs for this site.
    pub limit: usize,
    /// How many URLs the whole site has.
    pub site_urls: usize,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Prints the report the way `output` asks.
pub fn print(report: &Report, output: Output, out: &mut dyn Write) -> io::Result<()> {
    if output.json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        return writeln!(out);
    }
    if output.verbosity < 0 {
        return Ok(());
    }
    let mut since = match &report.generator {
        Some(GeneratorReport {
            name,
            detected_from: Some(from),
        }) => format!("{name} preset, detected from {from}; "),
        Some(GeneratorReport { name, .. }) => format!("{name} preset; "),
        None => String::new(),
    };
    since.push_str(&match &report.state_written_at {
        Some(t) => format!("state of {t}"),
        None => format!("no state yet at {}", report.state),
    });
    writeln!(
        out,
        "scanned {} in {} ({since})",
        plural(report.files_scanned, "file", "files"),
        report.dir
    )?;
    if let Some(from) = &report.base_urls_from {
        writeln!(out, "base URL {} from {from}", report.base_urls.join(", "))?;
    }
    if report.command == "baseline" {
        return writeln!(
            out,
            "recorded {} in {}; nothing purged",
            plural(report.files_scanned, "file", "files"),
            report.state
        );
    }
    let c = &report.changes;
    writeln!(
        out,
        "changes: {} added, {} modified, {} removed",
        c.added.len(),
        c.modified.len(),
        c.removed.len()
    )?;
    let what = match report.decision {
        Decision::Nothing => "nothing to purge".to_string(),
        Decision::Urls => format!("purge {}", plural(report.urls.len(), "URL", "URLs")),
        Decision::Everything => match &report.everything {
            Some(what) => format!("purge everything ({what})"),
            None => "purge everything".to_string(),
        },
    };
    writeln!(out, "plan: {what}: {}", report.explanation)?;
    if output.verbosity >= 1 {
        for u in &report.urls {
            writeln!(out, "  {:<8}  {}  <- {}", u.change.as_str(), u.url, u.path)?;
        }
    }
    if let Some(p) = &report.purge {
        let requests = plural(p.requests as usize, "request", "requests");
        if p.failures.is_empty() {
            if report.decision == Decision::Everything {
                let mut scope: Vec<String> = Vec::new();
                if !p.hosts.is_empty() {
                    scope.push(format!("hosts {}", p.hosts.join(", ")));
                }
                if !p.prefixes.is_empty() {
                    scope.push(format!("prefixes {}", p.prefixes.join(", ")));
                }
                if p.one_by_one {
                    scope = vec![format!(
                        "every one of the site's {} URLs, one by one: no `everything` request is configured",
                        p.urls_purged
                    )];
                } else if scope.is_empty() {
                    scope.push("the whole zone".into());
                }
                writeln!(
                    out,
                    "purged everything ({}) with {requests} to {} {}",
                    scope.join("; "),
                    p.provider,
                    p.target
                )?;
            } else {
                writeln!(
                    out,
                    "purged {} with {requests} to {} {}",
                    plural(p.urls_purged, "URL", "URLs"),
                    p.provider,
                    p.target
                )?;
            }
        } else {
            writeln!(
                out,
                "purge failed: {} purged, {} still pending (kept in the state for the next run)",
                plural(p.urls_purged, "URL", "URLs"),
                plural(p.urls_pending.len(), "URL", "URLs")
            )?;
        }
    }
    if report.command == "run" {
        writeln!(
            out,
            "state {}: {}",
            if report.state_saved {
                "saved"
            } else {
                "unchanged"
            },
            report.state
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Change;

    fn sample() -> Report {
        Report {
            command: "plan",
            generator: None,
            base_urls: vec!["https://example.com/".into()],
            base_urls_from: None,
            dir: "_site".into(),
            state: ".sitepurge/state.json".into(),
            state_written_at: Some("2026-01-01T00:00:00Z".into()),
            first_run: false,
            files_scanned: 3,
            changes: ChangeSet {
                modified: ["a.css"].into(),
                ..Default::default()
            },
            decision: Decision::Urls,
            reason: Reason::Changes,
            explanation: "1 URL of changed files".into(),
            threshold: ThresholdReport {
                setting: "50%".into(),
                limit: 1,
                site_urls: 3,
            },
            urls: vec![PurgeUrl {
                url: "https://example.com/a.css".into(),
                path: "a.css".into(),
                change: Change::Modified,
            }],
            everything: None,
            state_saved: false,
            warnings: vec![],
            purge: None,
        }
    }

    fn render(output: Output) -> String {
        let mut buf = Vec::new();
        print(&sample(), output, &mut buf).expect("print");
        String::from_utf8(buf).expect("utf8")
    }

    #[test]
    fn summary_is_short_and_lists_urls_only_when_verbose() {
        let text = render(Output::default());
        assert_eq!(
            text,
            "scanned 3 files in _site (state of 2026-01-01T00:00:00Z)\n\
             changes: 0 added, 1 modified, 0 removed\n\
             plan: purge 1 URL: 1 URL of changed files\n"
        );
        let verbose = render(Output {
            json: false,
            verbosity: 1,
        });
        assert!(
            verbose.ends_with("  modified  https://example.com/a.css  <- a.css\n"),
            "{verbose}"
        );
    }

    #[test]
    fn quiet_prints_nothing() {
        assert_eq!(
            render(Output {
                json: false,
                verbosity: -1
            }),
            ""
        );
    }

    #[test]
    fn json_has_the_documented_fields() {
        let text = render(Output {
            json: true,
            verbosity: 0,
        });
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["decision"], "urls");
        assert_eq!(v["reason"], "changes");
        assert_eq!(v["changes"]["modified"][0], "a.css");
        assert_eq!(v["urls"][0]["url"], "https://example.com/a.css");
        assert_eq!(v["urls"][0]["change"], "modified");
        assert_eq!(v["threshold"]["limit"], 1);
    }
}
