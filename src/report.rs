//! What sitepurge tells the user: a short human summary (with every URL at `-v`), or one JSON
//! object with `--json`. Written to any `impl Write`, so tests read exactly what users see.

use std::io::{self, Write};

use serde::Serialize;

use crate::diff::ChangeSet;
use crate::plan::{Decision, PurgeUrl, Reason, Wildcard};

/// Where output goes: stdout for the report, stderr for warnings, debug detail and errors.
pub struct Console<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// How much to print, and in which form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Output {
    pub json: bool,
    /// -1 quiet, 0 normal, 1 list URLs, 2 debug.
    pub verbosity: i8,
}

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
    /// A compacted plan's folder wildcards, each standing for some of `urls` (the others are
    /// purged one by one); empty otherwise.
    pub wildcards: Vec<Wildcard>,
    /// Changed files not purged: fingerprinted files added or removed.
    pub skipped: Vec<Skipped>,
    /// For each kind of content rule in force, how many files changed since the state by build
    /// noise alone, and so were not purged.
    pub noise_only: Vec<NoiseOnly>,
    /// When the decision is `everything`: what that sends, in words.
    pub everything: Option<String>,
    /// Whether this command wrote the state file.
    pub state_saved: bool,
    /// Why the state could not be saved after the purge went out (null: saved, or nothing to
    /// save). The old state still owes those URLs, so the next run purges them again.
    pub state_error: Option<String>,
    pub warnings: Vec<String>,
    /// What the purge did (`run` and `apply`; null when nothing was sent).
    pub purge: Option<PurgeReport>,
    /// The wait for the origin to serve the new build (`origin_url`; null: no wait).
    pub origin: Option<OriginReport>,
    /// The freshness check after the purge (`check_after_purge`; null: none was made).
    pub check: Option<CheckReport>,
}

/// The wait for the origin: `{url, seconds, served_new, still_old}`.
#[derive(Debug, Clone, Serialize)]
pub struct OriginReport {
    /// The origin's base URL.
    pub url: String,
    /// How long sitepurge waited.
    pub seconds: u64,
    /// Whether the origin served the new build in time (false: nothing was purged).
    pub served_new: bool,
    /// A URL the origin still served old when the wait ended (null when it served the new
    /// build).
    pub still_old: Option<String>,
}

/// The check after the purge: `{checked, fresh, stale, unreachable, repurged}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// The URLs fetched through the site, in order.
    pub checked: Vec<String>,
    /// How many served the new build.
    pub fresh: usize,
    /// Those that still served something else after the purges again.
    pub stale: Vec<crate::publish::StaleUrl>,
    /// Those that could not be fetched: `{url, why}`. Not counted as stale.
    pub unreachable: Vec<Unreachable>,
    /// How many purges of stale URLs were sent again.
    pub repurged: usize,
}

/// A URL the check could not fetch.
#[derive(Debug, Clone, Serialize)]
pub struct Unreachable {
    pub url: String,
    pub why: String,
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

/// Files that changed by one kind of build noise alone: `{rule, files}`.
#[derive(Debug, Clone, Serialize)]
pub struct NoiseOnly {
    pub rule: String,
    pub files: usize,
}

/// A changed file that needs no purge, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: String,
    pub change: crate::diff::Change,
    pub why: &'static str,
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
        Decision::Urls if !report.wildcards.is_empty() => {
            let covered: usize = report.wildcards.iter().map(|w| w.changed).sum();
            let unchanged: usize = report.wildcards.iter().map(|w| w.unchanged).sum();
            format!(
                "purge {} as {} and {} (purging {} too)",
                plural(report.urls.len(), "URL", "URLs"),
                plural(report.wildcards.len(), "wildcard", "wildcards"),
                plural(
                    report.urls.len().saturating_sub(covered),
                    "exact URL",
                    "exact URLs"
                ),
                plural(unchanged, "unchanged URL", "unchanged URLs")
            )
        }
        Decision::Urls => format!("purge {}", plural(report.urls.len(), "URL", "URLs")),
        Decision::Everything => match &report.everything {
            Some(what) => format!("purge everything ({what})"),
            None => "purge everything".to_string(),
        },
    };
    writeln!(out, "plan: {what}: {}", report.explanation)?;
    if output.verbosity >= 1 {
        for k in &report.skipped {
            writeln!(
                out,
                "  skipped   {} ({}: {})",
                k.path,
                k.change.as_str(),
                k.why
            )?;
        }
        for w in &report.wildcards {
            writeln!(
                out,
                "  wildcard  {}  (covers {} changed, {} unchanged)",
                w.url, w.changed, w.unchanged
            )?;
        }
        for u in &report.urls {
            writeln!(out, "  {:<8}  {}  <- {}", u.change.as_str(), u.url, u.path)?;
        }
        for n in &report.noise_only {
            writeln!(
                out,
                "precision: {} changed only by {} (not purged)",
                plural(n.files, "file", "files"),
                n.rule
            )?;
        }
        // (Without content rules, only what was skipped is worth a line.)
        if report.command != "baseline"
            && (!report.noise_only.is_empty() || !report.skipped.is_empty())
        {
            writeln!(
                out,
                "precision: {} added or removed (not purged)",
                plural(
                    report.skipped.len(),
                    "fingerprinted file",
                    "fingerprinted files"
                )
            )?;
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
    if let Some(o) = &report.origin {
        if o.served_new {
            writeln!(
                out,
                "the origin {} served the new build after {}s",
                o.url, o.seconds
            )?;
        } else {
            writeln!(
                out,
                "the origin {} still served the old build after {}s ({} is old): nothing purged, everything stays pending",
                o.url,
                o.seconds,
                o.still_old.as_deref().unwrap_or("a sampled file")
            )?;
        }
    }
    if let Some(c) = &report.check {
        let mut line = format!(
            "checked {} through the site: {} fresh",
            plural(c.checked.len(), "purged URL", "purged URLs"),
            c.fresh
        );
        if !c.stale.is_empty() {
            line.push_str(&format!(", {} STALE", c.stale.len()));
        }
        if !c.unreachable.is_empty() {
            line.push_str(&format!(", {} not reachable", c.unreachable.len()));
        }
        if c.repurged > 0 {
            line.push_str(&format!(
                " ({} purged again)",
                plural(c.repurged, "URL", "URLs")
            ));
        }
        writeln!(out, "{line}")?;
        for st in &c.stale {
            let headers: Vec<String> = st
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            writeln!(
                out,
                "  stale  {} (HTTP {}{}{})",
                st.url,
                st.status,
                if headers.is_empty() { "" } else { "; " },
                headers.join("; ")
            )?;
        }
        for u in &c.unreachable {
            writeln!(out, "  not checked  {} ({})", u.url, u.why)?;
        }
        if output.verbosity >= 1 {
            for url in &c.checked {
                writeln!(out, "  checked  {url}")?;
            }
        }
    }
    if report.command == "run" || report.command == "apply" {
        let state = match (&report.state_error, report.state_saved) {
            (Some(_), _) => "NOT saved",
            (None, true) => "saved",
            (None, false) => "unchanged",
        };
        writeln!(out, "state {state}: {}", report.state)?;
    }
    Ok(())
}

/// The report as Markdown, for a CI job's summary page (`--summary "$GITHUB_STEP_SUMMARY"`):
/// a heading with the outcome, a table of the figures, the stale URLs.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let what = match report.decision {
        Decision::Nothing => "nothing to purge".to_string(),
        Decision::Urls => format!("purge {}", plural(report.urls.len(), "URL", "URLs")),
        Decision::Everything => "purge everything".to_string(),
    };
    let failed = report
        .purge
        .as_ref()
        .is_some_and(|p| !p.failures.is_empty())
        || report.origin.as_ref().is_some_and(|o| !o.served_new)
        || report.check.as_ref().is_some_and(|c| !c.stale.is_empty());
    let outcome = if failed { "FAILED" } else { "ok" };
    md.push_str(&format!(
        "### sitepurge {}: {what} ({outcome})\n\n",
        report.command
    ));
    md.push_str("| | |\n|---|---|\n");
    let c = &report.changes;
    md.push_str(&format!(
        "| changes | {} added, {} modified, {} removed |\n",
        c.added.len(),
        c.modified.len(),
        c.removed.len()
    ));
    md.push_str(&format!("| why | {} |\n", report.explanation));
    for w in &report.wildcards {
        md.push_str(&format!(
            "| wildcard | `{}`: covers {} changed, {} unchanged |\n",
            w.url, w.changed, w.unchanged
        ));
    }
    if !report.noise_only.is_empty() {
        let noise: Vec<String> = report
            .noise_only
            .iter()
            .filter(|n| n.files > 0)
            .map(|n| format!("{} by {}", n.files, n.rule))
            .collect();
        if !noise.is_empty() {
            md.push_str(&format!(
                "| changed by build noise only | {} |\n",
                noise.join(", ")
            ));
        }
    }
    if !report.skipped.is_empty() {
        md.push_str(&format!(
            "| fingerprinted, skipped | {} |\n",
            report.skipped.len()
        ));
    }
    if let Some(o) = &report.origin {
        md.push_str(&match &o.still_old {
            None => format!("| origin | served the new build after {} s |\n", o.seconds),
            Some(old) => format!(
                "| origin | still old after {} s (`{old}`): nothing purged |\n",
                o.seconds
            ),
        });
    }
    if let Some(p) = &report.purge {
        md.push_str(&format!(
            "| purged | {} with {} to {} |\n",
            plural(p.urls_purged, "URL", "URLs"),
            plural(p.requests as usize, "request", "requests"),
            p.target
        ));
        if !p.urls_pending.is_empty() {
            md.push_str(&format!(
                "| still pending | {} (kept for the next run) |\n",
                plural(p.urls_pending.len(), "URL", "URLs")
            ));
        }
    }
    if let Some(check) = &report.check {
        md.push_str(&format!(
            "| checked through the site | {} of {} fresh{} |\n",
            check.fresh,
            check.checked.len(),
            if check.unreachable.is_empty() {
                String::new()
            } else {
                format!(", {} not reachable", check.unreachable.len())
            }
        ));
    }
    if let Some(check) = &report.check
        && !check.stale.is_empty()
    {
        md.push_str("\nStale after purging again:\n\n");
        for st in &check.stale {
            let headers: Vec<String> = st
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            md.push_str(&format!(
                "- `{}` (HTTP {}{}{})\n",
                st.url,
                st.status,
                if headers.is_empty() { "" } else { "; " },
                headers.join("; ")
            ));
        }
    }
    md.push('\n');
    md
}

/// An error as Markdown, for a CI job's summary page.
pub fn markdown_error(command: &str, e: &crate::error::Error) -> String {
    let mut md = format!("### sitepurge {command}: FAILED\n\n```\nerror: {e}\n");
    if let Some(hint) = e.hint() {
        md.push_str(&format!("hint: {hint}\n"));
    }
    md.push_str("```\n\n");
    md
}

/// Appends `text` to the summary file (created if missing).
pub fn append_summary(path: &std::path::Path, text: &str) -> io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// After a purge that went out, why the state could not be saved, on stderr.
pub fn print_state_error(report: &Report, console: &mut Console<'_>) {
    if let Some(error) = &report.state_error {
        let purged = report.purge.as_ref().map_or(0, |p| p.urls_purged);
        let _ = writeln!(
            console.err,
            "error: the purge went out ({} purged), but the new state could not be saved: {error}",
            plural(purged, "URL", "URLs")
        );
        let _ = writeln!(
            console.err,
            "hint: the state still owes those URLs, so the next run purges them again (harmless); make room or fix the folder, then run again"
        );
    }
}

/// `-vv` detail on stderr.
pub fn debug(output: Output, console: &mut Console<'_>, message: std::fmt::Arguments<'_>) {
    if output.verbosity >= 2 {
        let _ = writeln!(console.err, "debug: {message}");
    }
}

/// A line about what sitepurge is waiting for, on stderr (also with `--json`), unless `-q`.
pub fn progress(output: Output, console: &mut Console<'_>, message: std::fmt::Arguments<'_>) {
    if output.verbosity >= 0 {
        let _ = writeln!(console.err, "{message}");
    }
}

/// Warnings on stderr, unless `-q`.
pub fn warn_all(output: Output, warnings: &[String], console: &mut Console<'_>) {
    if output.verbosity >= 0 {
        for w in warnings {
            let _ = writeln!(console.err, "warning: {w}");
        }
    }
}

/// Notes on stderr at `-v`.
pub fn note_all(output: Output, notes: &[String], console: &mut Console<'_>) {
    if output.verbosity >= 1 {
        for n in notes {
            let _ = writeln!(console.err, "note: {n}");
        }
    }
}

/// An error, as `error: ...` and `hint: ...` on stderr, and with `--json` as one object on
/// stdout too.
pub fn print_error(error: &crate::error::Error, json: bool, console: &mut Console<'_>) {
    let _ = writeln!(console.err, "error: {error}");
    let hint = error.hint();
    if let Some(hint) = &hint {
        let _ = writeln!(console.err, "hint: {hint}");
    }
    // A script reading --json gets an object on stdout either way.
    if json {
        let object = ErrorReport {
            ok: false,
            error: error.to_string(),
            hint,
            exit_code: error.exit().code(),
        };
        let _ = serde_json::to_writer(&mut *console.out, &object);
        let _ = writeln!(console.out);
    }
}

/// Prints a command-line error the way clap does (help and version too), and with `--json`
/// among the arguments also as one [`ErrorReport`] on stdout, as every other error is. Returns
/// the exit code: 0 for `--help` and `--version`, 2 for a usage error.
pub fn usage_error(
    error: &clap::Error,
    args: impl IntoIterator<Item = std::ffi::OsString>,
    out: &mut dyn Write,
) -> crate::error::Exit {
    use clap::error::ErrorKind;
    let _ = error.print();
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        return crate::error::Exit::Ok;
    }
    if args.into_iter().any(|a| a == "--json") {
        let rendered = error.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        let object = ErrorReport {
            ok: false,
            error: first.strip_prefix("error: ").unwrap_or(first).to_string(),
            hint: Some("see sitepurge help".into()),
            exit_code: crate::error::Exit::Usage.code(),
        };
        let _ = serde_json::to_writer(&mut *out, &object);
        let _ = writeln!(out);
    }
    crate::error::Exit::Usage
}

/// `--json` on an error: `{ok: false, error, hint, exit_code}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub ok: bool,
    pub error: String,
    pub hint: Option<String>,
    pub exit_code: u8,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Verified {
    Cloudflare(CloudflareVerified),
    HttpPurge(HttpPurgeVerified),
    CloudFront(CloudFrontVerified),
    Akamai(AkamaiVerified),
    Fastly(FastlyVerified),
    Bunny(BunnyVerified),
}

/// `verify` with Fastly: `{provider, credentials, target, everything, token_id, token_name,
/// scopes, services, expires_at, purge_urls, purge_all, credentials_checked}`, from
/// `GET /tokens/self`.
#[derive(Debug, Clone, Serialize)]
pub struct FastlyVerified {
    /// `fastly`.
    pub provider: &'static str,
    /// Where the token comes from, never its value.
    pub credentials: String,
    /// `service SU1Z...`.
    pub target: String,
    /// What "purge everything" sends, in words.
    pub everything: String,
    pub token_id: Option<String>,
    pub token_name: Option<String>,
    /// The token's scopes (`global`, `purge_select`, `purge_all`, `global:read`).
    pub scopes: Vec<String>,
    /// The services the token is limited to; empty: all of the account's.
    pub services: Vec<String>,
    pub expires_at: Option<String>,
    /// Whether it may purge URLs (`purge_select` or `global`).
    pub purge_urls: bool,
    /// Whether it may purge the whole service (`purge_all` or `global`).
    pub purge_all: bool,
    /// Always true: the API answered for the token.
    pub credentials_checked: bool,
}

/// `verify` with bunny.net: `{provider, credentials, target, everything, pull_zone_name,
/// hostnames, credentials_checked}`, from `GET /pullzone/{id}` (or a one-page list of pull
/// zones without an id).
#[derive(Debug, Clone, Serialize)]
pub struct BunnyVerified {
    /// `bunny`.
    pub provider: &'static str,
    /// Where the key comes from, never its value.
    pub credentials: String,
    /// `pull zone 42`, or `bunny.net` without one.
    pub target: String,
    /// What "purge everything" sends, in words.
    pub everything: String,
    /// The pull zone's name; null without a `pull_zone_id`.
    pub pull_zone_name: Option<String>,
    /// The pull zone's host names; empty without a `pull_zone_id`.
    pub hostnames: Vec<String>,
    /// Always true: the API accepted the key.
    pub credentials_checked: bool,
}

/// `verify` with Akamai: `{provider, credentials, host, network, action, cp_codes,
/// credentials_checked}`.
#[derive(Debug, Clone, Serialize)]
pub struct AkamaiVerified {
    /// `akamai`.
    pub provider: &'static str,
    /// Where the credentials came from, never their values.
    pub credentials: String,
    /// The API host they name.
    pub host: String,
    pub network: &'static str,
    pub action: &'static str,
    pub cp_codes: Vec<u64>,
    /// Always false: Fast Purge has no call that checks credentials short of a purge.
    pub credentials_checked: bool,
}

/// `verify` with CloudFront: `{provider, credentials, access_key_id, distribution_id,
/// invalidations_in_progress, listed}`.
#[derive(Debug, Clone, Serialize)]
pub struct CloudFrontVerified {
    /// `cloudfront`.
    pub provider: &'static str,
    /// Where the credentials came from, never their secret (`AWS_ACCESS_KEY_ID`).
    pub credentials: String,
    /// The access key id (not a secret: AWS shows it in consoles and logs).
    pub access_key_id: String,
    pub distribution_id: String,
    /// Invalidations still in progress among the latest 100; null when not listed.
    pub invalidations_in_progress: Option<usize>,
    /// Whether `ListInvalidations` answered (it needs cloudfront:ListInvalidations, which a
    /// purge does not: a refusal for that permission alone is no error).
    pub listed: bool,
}

/// `verify` with Cloudflare: `{provider, credentials, token_status, zone_id, zone_name,
/// zone_status, credentials_checked}` (the fields that apply).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CloudflareVerified {
    /// `cloudflare`.
    pub provider: &'static str,
    /// Which credentials were used, never their value (`API token from CLOUDFLARE_API_TOKEN`).
    pub credentials: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_status: Option<String>,
    /// `user` or `account`: which verify endpoint knew the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_owner: Option<&'static str>,
    /// The account of an account-owned token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip)]
    pub token_id: Option<String>,
    #[serde(skip)]
    pub token_expires_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_status: Option<String>,
    /// Whether the API vouched for the credentials (a token check or a zone lookup).
    pub credentials_checked: bool,
}

/// `verify` with http-purge: `{provider, method, target, headers, everything}`.
#[derive(Debug, Clone, Serialize)]
pub struct HttpPurgeVerified {
    /// `http-purge`.
    pub provider: &'static str,
    pub method: String,
    /// Where purges go: the endpoint, or "each URL itself".
    pub target: String,
    /// How many extra headers are sent (never their values).
    pub headers: usize,
    /// The method of the request that clears the site; null: every URL one by one.
    pub everything: Option<String>,
}

/// Prints what `verify` found.
pub fn print_verified(found: &Verified, output: Output, out: &mut dyn Write) -> io::Result<()> {
    if output.json {
        serde_json::to_writer(&mut *out, found)?;
        return writeln!(out);
    }
    if output.verbosity < 0 {
        return Ok(());
    }
    match found {
        Verified::Fastly(f) => {
            writeln!(out, "credentials: {}", f.credentials)?;
            let name = f
                .token_name
                .as_deref()
                .map(|n| format!(" {n:?}"))
                .unwrap_or_default();
            let id = f
                .token_id
                .as_deref()
                .map(|i| format!(" (id {i})"))
                .unwrap_or_default();
            let expires = f.expires_at.as_deref().map_or_else(
                || ", never expires".to_string(),
                |e| format!(", expires {e}"),
            );
            writeln!(out, "token{name}{id}: valid{expires}")?;
            let services = if f.services.is_empty() {
                "all services".to_string()
            } else {
                format!("services {}", f.services.join(", "))
            };
            writeln!(out, "scopes: {} on {services}", f.scopes.join(" "))?;
            let can = |yes: bool| if yes { "yes" } else { "no" };
            writeln!(
                out,
                "purges: URLs {}, everything {}; {}",
                can(f.purge_urls),
                can(f.purge_all),
                f.target
            )?;
            if !f.purge_all {
                writeln!(
                    out,
                    "warning: without purge_all, purging everything (a first run, or more changes than the threshold) fails: add the purge_all scope"
                )?;
            }
            writeln!(out, "everything: {}", f.everything)
        }
        Verified::Bunny(b) => {
            writeln!(out, "credentials: {} (accepted)", b.credentials)?;
            match &b.pull_zone_name {
                Some(name) if b.hostnames.is_empty() => writeln!(out, "{}: {name}", b.target)?,
                Some(name) => writeln!(out, "{}: {name} ({})", b.target, b.hostnames.join(", "))?,
                None => writeln!(
                    out,
                    "pull zone: none set (the key was checked by listing pull zones)"
                )?,
            }
            writeln!(out, "everything: {}", b.everything)
        }
        Verified::HttpPurge(h) => writeln!(
            out,
            "http-purge: {} requests to {}; {} extra header(s); everything: {}",
            h.method,
            h.target,
            h.headers,
            h.everything.as_ref().map_or_else(
                || "every URL one by one".to_string(),
                |m| format!("{m} request")
            )
        ),
        Verified::Akamai(a) => {
            writeln!(out, "credentials: {} (API host {})", a.credentials, a.host)?;
            let everything = if a.cp_codes.is_empty() {
                "every URL one by one".to_string()
            } else {
                let codes: Vec<String> = a.cp_codes.iter().map(u64::to_string).collect();
                format!("CP code(s) {}", codes.join(", "))
            };
            writeln!(
                out,
                "purges: {} on {}; everything: {everything}",
                a.action, a.network
            )?;
            writeln!(
                out,
                "not checked: Fast Purge has no request that tests credentials without purging; the first purge does"
            )
        }
        Verified::CloudFront(c) => {
            writeln!(
                out,
                "credentials: access key {} from {}",
                c.access_key_id, c.credentials
            )?;
            writeln!(out, "distribution: {}", c.distribution_id)?;
            match c.invalidations_in_progress {
                Some(n) if c.listed => writeln!(
                    out,
                    "ok: the signature is accepted and the distribution is known; {n} invalidation(s) in progress"
                ),
                _ => writeln!(
                    out,
                    "ok: the signature is accepted; these credentials may not list invalidations (cloudfront:ListInvalidations), so the distribution and the cloudfront:CreateInvalidation permission are checked by the first purge"
                ),
            }
        }
        Verified::Cloudflare(c) => {
            writeln!(out, "credentials: {}", c.credentials)?;
            if let (Some(status), Some(id)) = (&c.token_status, &c.token_id) {
                let expires = c
                    .token_expires_on
                    .as_deref()
                    .map(|e| format!(", expires {e}"))
                    .unwrap_or_default();
                let owner = match (c.token_owner, &c.account_id) {
                    (Some("account"), Some(account)) => {
                        format!(", account-owned token of account {account}")
                    }
                    (Some(owner), _) => format!(", {owner}-owned token"),
                    _ => String::new(),
                };
                writeln!(out, "token: {status}{owner} (id {id}{expires})")?;
            }
            match (&c.zone_id, &c.zone_name, &c.zone_status) {
                (Some(id), Some(name), Some(status)) => {
                    writeln!(out, "zone: {name} is {id} (status: {status})")?
                }
                (Some(id), _, _) => writeln!(
                    out,
                    "zone: {id} (given as an id; a purge request checks it)"
                )?,
                _ => {}
            }
            let verdict = if c.credentials_checked && c.zone_name.is_some() {
                "ok: the credentials work and the zone is known; whether they may purge (\"Cache Purge\") shows on the first purge"
            } else if c.credentials_checked {
                "ok: the token is active; the zone id and the \"Cache Purge\" permission are checked by the first purge"
            } else {
                "not checked: a global API key with a zone id leaves nothing to ask short of a purge \
                 (give the zone by name to have it looked up, or use an API token)"
            };
            writeln!(out, "{verdict}")
        }
    }
}

/// What `explain` found about one file: `{path, status, pending, ignored, immutable, hash,
/// recorded, blanked, urls}`.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub path: String,
    /// `unchanged`, `modified`, `added`, `removed`, `absent` (in neither), or `no-state`.
    pub status: &'static str,
    /// The state owes it a purge from an earlier run.
    pub pending: bool,
    /// An `ignore` glob leaves it out.
    pub ignored: bool,
    /// Fingerprinted: added or removed, it needs no purge.
    pub immutable: bool,
    /// Its hash as the scan computes it (null: no such file).
    pub hash: Option<String>,
    /// The hash the state records (null: none).
    pub recorded: Option<String>,
    /// What the content rules blanked before hashing.
    pub blanked: Vec<BlankedReport>,
    /// The URLs it is purged under.
    pub urls: Vec<String>,
}

/// One blank of a content rule: `{rule, at, text, before, after}`.
#[derive(Debug, Clone, Serialize)]
pub struct BlankedReport {
    /// The rule's name (`generator tag`, `build time`, `ignore_content`...).
    pub rule: String,
    /// Byte offset in the text as the earlier rules left it.
    pub at: usize,
    pub text: String,
    pub before: String,
    pub after: String,
}

/// Prints what `explain` found.
pub fn print_explained(e: &Explained, output: Output, out: &mut dyn Write) -> io::Result<()> {
    if output.json {
        serde_json::to_writer(&mut *out, e)?;
        return writeln!(out);
    }
    if output.verbosity < 0 {
        return Ok(());
    }
    let mut notes = Vec::new();
    if e.pending {
        notes.push("pending: the state owes it a purge");
    }
    if e.ignored {
        notes.push("ignored by an `ignore` glob");
    }
    if e.immutable {
        notes.push("fingerprinted: added or removed, it needs no purge");
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    writeln!(out, "{}: {}{notes}", e.path, e.status)?;
    writeln!(
        out,
        "  hash {}, recorded {}",
        e.hash.as_deref().unwrap_or("none"),
        e.recorded.as_deref().unwrap_or("none")
    )?;
    for b in &e.blanked {
        writeln!(
            out,
            "  blanked by {} at byte {}: ...{}[{}]{}...",
            b.rule, b.at, b.before, b.text, b.after
        )?;
    }
    for u in &e.urls {
        writeln!(out, "  {u}")?;
    }
    Ok(())
}

/// One watch cycle, as `watch --json` prints it (one object per line).
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    /// When the cycle started (RFC 3339, seconds).
    pub time: String,
    pub files_changed: usize,
    pub added: usize,
    pub modified: usize,
    pub removed: usize,
    pub decision: Decision,
    pub reason: Reason,
    pub urls_purged: usize,
    pub urls_pending: usize,
    pub requests: u32,
    pub seconds: f64,
    pub ok: bool,
}

/// A watch cycle that failed before it could purge: `{time, ok: false, error, seconds}`.
#[derive(Debug, Clone, Serialize)]
pub struct FailedCycle {
    pub time: String,
    pub ok: bool,
    pub error: String,
    pub seconds: f64,
}

fn millis(took: std::time::Duration) -> f64 {
    (took.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The one line (or JSON object) a watch cycle prints.
pub fn cycle_line(
    report: &Report,
    ok: bool,
    took: std::time::Duration,
    json: bool,
    now: std::time::SystemTime,
) -> String {
    let time = humantime::format_rfc3339_seconds(now).to_string();
    let c = &report.changes;
    let changed = c.len();
    let purge = report.purge.as_ref();
    let purged = purge.map_or(0, |p| p.urls_purged);
    let pending = purge.map_or(0, |p| p.urls_pending.len());
    let requests = purge.map_or(0, |p| p.requests);
    if json {
        let cycle = CycleReport {
            time,
            files_changed: changed,
            added: c.added.len(),
            modified: c.modified.len(),
            removed: c.removed.len(),
            decision: report.decision,
            reason: report.reason,
            urls_purged: purged,
            urls_pending: pending,
            requests,
            seconds: millis(took),
            ok,
        };
        return serde_json::to_string(&cycle).unwrap_or_default();
    }
    let files = format!(
        "{changed} file{} changed ({} added, {} modified, {} removed)",
        if changed == 1 { "" } else { "s" },
        c.added.len(),
        c.modified.len(),
        c.removed.len()
    );
    let what = match (report.decision, ok) {
        (Decision::Nothing, _) => "nothing to purge".to_string(),
        (Decision::Everything, true) => format!(
            "everything purged ({})",
            report.explanation.split(':').next().unwrap_or_default()
        ),
        (_, true) => format!(
            "{purged} URL{} purged with {requests} request{}",
            if purged == 1 { "" } else { "s" },
            if requests == 1 { "" } else { "s" }
        ),
        _ => format!(
            "purge failed: {pending} URL{} pending",
            if pending == 1 { "" } else { "s" }
        ),
    };
    format!("{time} {files}; {what}; {:.2}s", took.as_secs_f64())
}

/// The line (or JSON object) of a watch cycle that failed before it could purge.
pub fn failed_cycle_line(
    error: &crate::error::Error,
    took: std::time::Duration,
    json: bool,
    now: std::time::SystemTime,
) -> String {
    let time = humantime::format_rfc3339_seconds(now).to_string();
    if json {
        let failed = FailedCycle {
            time,
            ok: false,
            error: error.to_string(),
            seconds: millis(took),
        };
        return serde_json::to_string(&failed).unwrap_or_default();
    }
    format!("{time} cycle failed: {error}")
}

/// One line per distinct purge failure (not one per batch), with its hint.
pub fn print_failures(
    failures: &[(usize, crate::provider::Failure)],
    provider: &str,
    target: &str,
    console: &mut Console<'_>,
) {
    let mut seen: Vec<(String, Option<String>, usize)> = Vec::new();
    for (urls, failure) in failures {
        let line = failure.to_string();
        match seen.iter_mut().find(|(l, _, _)| *l == line) {
            Some(entry) => entry.2 += urls,
            None => seen.push((line, failure.hint.clone(), *urls)),
        }
    }
    for (line, hint, urls) in seen {
        let _ = writeln!(
            console.err,
            "error: {provider} purge via {target} failed ({} URL{}): {line}",
            urls,
            if urls == 1 { "" } else { "s" }
        );
        if let Some(hint) = hint {
            let _ = writeln!(console.err, "hint: {hint}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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
            skipped: vec![],
            noise_only: vec![],
            urls: vec![PurgeUrl {
                url: "https://example.com/a.css".into(),
                path: "a.css".into(),
                change: Change::Modified,
            }],
            wildcards: vec![],
            everything: None,
            state_saved: false,
            state_error: None,
            warnings: vec![],
            purge: None,
            origin: None,
            check: None,
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
    fn a_compacted_plan_shows_each_wildcard_with_what_it_covers() {
        let mut report = sample();
        report.urls.push(PurgeUrl {
            url: "https://example.com/blog/a/".into(),
            path: "blog/a/index.html".into(),
            change: Change::Modified,
        });
        report.wildcards = vec![Wildcard {
            url: "https://example.com/blog/*".into(),
            changed: 1,
            unchanged: 3,
            includes_folder: true,
        }];
        let verbose = Output {
            json: false,
            verbosity: 1,
        };
        let mut buf = Vec::new();
        print(&report, verbose, &mut buf).expect("print");
        let text = String::from_utf8(buf).expect("utf8");
        assert!(
            text.contains(
                "plan: purge 2 URLs as 1 wildcard and 1 exact URL (purging 3 unchanged URLs too): "
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  wildcard  https://example.com/blog/*  (covers 1 changed, 3 unchanged)\n"
            ),
            "{text}"
        );
        let mut json = Vec::new();
        print(
            &report,
            Output {
                json: true,
                verbosity: 0,
            },
            &mut json,
        )
        .expect("print");
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            v["wildcards"],
            serde_json::json!([{"url": "https://example.com/blog/*", "changed": 1, "unchanged": 3, "includes_folder": true}])
        );
        assert_eq!(keys(&report.wildcards[0]), documented_shape("`wildcards`"));
        assert!(
            markdown(&report).contains(
                "| wildcard | `https://example.com/blog/*`: covers 1 changed, 3 unchanged |\n"
            ),
            "{}",
            markdown(&report)
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

    /// The README's Output section.
    fn readme_output() -> &'static str {
        let readme = include_str!("../README.md");
        let start = readme.find("## Output").expect("an Output section");
        let end = readme[start + 3..]
            .find("\n## ")
            .map_or(readme.len(), |e| start + 3 + e);
        &readme[start..end]
    }

    /// The field names the README's report table lists (first column, `a`, `b` form).
    fn documented_report_fields() -> BTreeSet<String> {
        let section = readme_output();
        let table = &section[section
            .find("| field | meaning |")
            .expect("the report table")..];
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .flat_map(|l| {
                l.split('|')
                    .nth(1)
                    .unwrap_or_default()
                    .split(',')
                    .map(|f| f.trim().trim_matches('`').to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The fields of `{a, b, c}` in the README's row that starts with `row`.
    fn documented_shape(row: &str) -> BTreeSet<String> {
        let line = readme_output()
            .lines()
            .find(|l| l.starts_with(&format!("| {row}")))
            .unwrap_or_else(|| panic!("no README row for {row}"));
        let start = line.find("`{").expect("a {fields} list") + 2;
        let end = start + line[start..].find("}`").expect("closing");
        // Top-level names only: `failures[{kind, ...}]` is the field `failures`.
        let (mut fields, mut name, mut depth) = (BTreeSet::new(), String::new(), 0);
        for c in line[start..end].chars() {
            match c {
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    fields.insert(std::mem::take(&mut name).trim().to_string());
                }
                _ if depth == 0 => name.push(c),
                _ => {}
            }
        }
        fields.insert(name.trim().to_string());
        fields
    }

    fn keys(value: &impl Serialize) -> BTreeSet<String> {
        match serde_json::to_value(value).expect("json") {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn the_report_json_has_exactly_the_documented_fields() {
        let text = render(Output {
            json: true,
            verbosity: 0,
        });
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let fields: BTreeSet<String> = v.as_object().expect("object").keys().cloned().collect();
        assert_eq!(fields, documented_report_fields());
        assert_eq!(v["decision"], "urls");
        assert_eq!(v["reason"], "changes");
        assert_eq!(v["changes"]["modified"][0], "a.css");
        assert_eq!(v["urls"][0]["url"], "https://example.com/a.css");
        assert_eq!(v["urls"][0]["change"], "modified");
        assert_eq!(v["threshold"]["limit"], 1);
    }

    #[test]
    fn every_other_json_shape_has_exactly_the_documented_fields() {
        let failure = crate::provider::Failure::new(
            crate::provider::FailureKind::Transient,
            Some(503),
            "busy",
        );
        let purge = PurgeReport {
            one_by_one: false,
            provider: "cloudflare",
            target: "zone x".into(),
            kinds: vec!["files"],
            hosts: vec![],
            prefixes: vec![],
            requests: 1,
            urls_purged: 0,
            urls_pending: vec!["https://example.com/a.css".into()],
            failures: vec![failure.clone()],
        };
        let mut purge_fields = documented_shape("`purge`");
        assert!(purge_fields.remove("failures"));
        let mut expected = keys(&purge);
        assert!(expected.remove("failures"));
        assert_eq!(expected, purge_fields);
        let failure_fields: BTreeSet<String> = ["kind", "status", "errors", "detail", "hint"]
            .map(str::to_string)
            .into();
        assert_eq!(keys(&failure), failure_fields);
        assert!(readme_output().contains("failures[{kind, status, errors, detail, hint}]"));

        let error = ErrorReport {
            ok: false,
            error: "e".into(),
            hint: None,
            exit_code: 2,
        };
        assert_eq!(keys(&error), documented_shape("an error"));
        let cloudflare = CloudflareVerified {
            provider: "cloudflare",
            credentials: "API token".into(),
            token_status: Some("active".into()),
            token_owner: Some("account"),
            account_id: Some("a".into()),
            token_id: Some("id".into()),
            token_expires_on: None,
            zone_id: Some("z".into()),
            zone_name: Some("example.com".into()),
            zone_status: Some("active".into()),
            credentials_checked: true,
        };
        assert_eq!(
            keys(&Verified::Cloudflare(cloudflare)),
            documented_shape("`verify --json`, Cloudflare")
        );
        let http = HttpPurgeVerified {
            provider: "http-purge",
            method: "PURGE".into(),
            target: "http://127.0.0.1:6081".into(),
            headers: 1,
            everything: None,
        };
        assert_eq!(
            keys(&Verified::HttpPurge(http)),
            documented_shape("`verify --json`, http-purge")
        );
        let cloudfront = CloudFrontVerified {
            provider: "cloudfront",
            credentials: "AWS_ACCESS_KEY_ID".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            distribution_id: "E2QWRUHAPOMQZL".into(),
            invalidations_in_progress: Some(0),
            listed: true,
        };
        assert_eq!(
            keys(&Verified::CloudFront(cloudfront)),
            documented_shape("`verify --json`, cloudfront")
        );
        let akamai = AkamaiVerified {
            provider: "akamai",
            credentials: "section [default] of ~/.edgerc".into(),
            host: "akab-x.luna.akamaiapis.net".into(),
            network: "production",
            action: "invalidate",
            cp_codes: vec![],
            credentials_checked: false,
        };
        assert_eq!(
            keys(&Verified::Akamai(akamai)),
            documented_shape("`verify --json`, akamai")
        );
        let fastly = FastlyVerified {
            provider: "fastly",
            credentials: "API token".into(),
            target: "service x".into(),
            everything: "purge_all".into(),
            token_id: Some("t".into()),
            token_name: None,
            scopes: vec!["purge_select".into()],
            services: vec![],
            expires_at: None,
            purge_urls: true,
            purge_all: false,
            credentials_checked: true,
        };
        assert_eq!(
            keys(&Verified::Fastly(fastly)),
            documented_shape("`verify --json`, fastly")
        );
        let bunny = BunnyVerified {
            provider: "bunny",
            credentials: "API key".into(),
            target: "pull zone 42".into(),
            everything: "purgeCache".into(),
            pull_zone_name: Some("site".into()),
            hostnames: vec!["site.b-cdn.net".into()],
            credentials_checked: true,
        };
        assert_eq!(
            keys(&Verified::Bunny(bunny)),
            documented_shape("`verify --json`, bunny")
        );
        let explained = Explained {
            path: "a.html".into(),
            status: "modified",
            pending: false,
            ignored: false,
            immutable: false,
            hash: None,
            recorded: None,
            blanked: vec![BlankedReport {
                rule: "x".into(),
                at: 0,
                text: "x".into(),
                before: String::new(),
                after: String::new(),
            }],
            urls: vec![],
        };
        assert_eq!(keys(&explained), documented_shape("`explain --json`"));
        assert_eq!(
            keys(&explained.blanked[0]),
            ["after", "at", "before", "rule", "text"]
                .map(str::to_string)
                .into()
        );
        let mut report = sample();
        report.purge = Some(purge);
        let line = cycle_line(
            &report,
            false,
            std::time::Duration::from_millis(1500),
            true,
            std::time::UNIX_EPOCH,
        );
        let cycle: serde_json::Value = serde_json::from_str(&line).expect("one object");
        assert_eq!(keys(&cycle), documented_shape("`watch --json`, a cycle |"));
        assert_eq!(cycle["urls_pending"], 1);
        assert_eq!(cycle["seconds"], 1.5);
        assert_eq!(cycle["time"], "1970-01-01T00:00:00Z");
        let failed = failed_cycle_line(
            &crate::error::Error::Stopped,
            std::time::Duration::ZERO,
            true,
            std::time::UNIX_EPOCH,
        );
        let failed: serde_json::Value = serde_json::from_str(&failed).expect("one object");
        assert_eq!(
            keys(&failed),
            documented_shape("`watch --json`, a cycle that failed")
        );
    }
}
