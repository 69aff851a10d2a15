//! One run, top to bottom: scan → manifest → diff → urls → plan → purge → record → report.
//! `plan` stops after the plan, `baseline` records the scan, `run` goes to the end, and `watch`
//! calls [`run_once`] in a loop.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::connect;
use crate::context::Context;
use crate::diff::{self, ChangeSet};
use crate::error::{Error, Exit, Result};
use crate::manifest::{self, Manifest};
use crate::plan::{self, Decision, Plan};
use crate::provider::{AnyPurger, Purger, Request};
use crate::purge::{self, Job};
use crate::record::{self, InForce, Purge};
use crate::report::{self, Console, PurgeReport, Report, ThresholdReport};
use crate::scan::{self, Hashes, Snapshot};

/// The site compared with its recorded state, and the resulting plan.
pub struct Survey {
    pub settings: Settings,
    pub snapshot: Snapshot,
    pub previous: Option<Manifest>,
    /// The previous state's hashes, less the paths now ignored.
    pub old: Hashes,
    pub changes: ChangeSet,
    pub plan: Plan,
    /// For each kind of content rule, the files changed by build noise alone.
    pub noise_only: Vec<(String, usize)>,
}

/// How to treat a state file that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadState {
    /// Stop with the error (plan, run).
    Fail,
    /// Warn and carry on as on a first run: `baseline` is the way out of a damaged state.
    Replace,
}

fn display(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd).unwrap_or(path).display().to_string()
}

/// What the settings in force are, as the state records them.
fn in_force(settings: &Settings) -> InForce {
    InForce {
        base_urls: settings
            .rules
            .base_urls
            .iter()
            .map(|b| b.as_str().to_string())
            .collect(),
        url_options: settings.rules.options(),
        content_rules: settings.scan.content.fingerprint(),
    }
}

/// Scans the site, loads the state, diffs and plans. Touches nothing. A cancelled `stop` ends
/// the scan between two files.
pub fn survey(
    settings: Settings,
    bad_state: BadState,
    listing: plan::Listing,
    stop: &CancellationToken,
    console: &mut Console<'_>,
) -> Result<Survey> {
    let out = settings.output;
    let config_file = settings
        .config_file
        .as_deref()
        .map_or("none".into(), |p| p.display().to_string());
    report::debug(out, console, format_args!("config file: {config_file}"));
    report::debug(
        out,
        console,
        format_args!("output folder: {}", settings.dir.display()),
    );
    report::debug(
        out,
        console,
        format_args!("state file: {}", settings.state.display()),
    );
    for r in &settings.scan.content.rules {
        report::debug(
            out,
            console,
            format_args!("content rule ({}): {}", r.name, r.pattern.as_str()),
        );
    }
    for s in &settings.scan.content.stamps {
        report::debug(
            out,
            console,
            format_args!("{} read in {}: {}", s.name, s.file, s.pattern.as_str()),
        );
    }
    for b in &settings.rules.base_urls {
        report::debug(out, console, format_args!("base URL: {}", b.as_str()));
    }

    // scan
    let started = Instant::now();
    let snapshot = scan::scan(&settings.dir, &settings.scan, stop)?;
    report::debug(
        out,
        console,
        format_args!(
            "scanned {} file{} in {:.0?}",
            snapshot.files.len(),
            if snapshot.files.len() == 1 { "" } else { "s" },
            started.elapsed()
        ),
    );
    report::warn_all(out, &settings.notes, console);
    report::warn_all(out, &snapshot.warnings, console);
    report::note_all(out, &snapshot.notes, console);
    for learned in &snapshot.learned {
        report::debug(out, console, format_args!("learned the {learned}"));
    }

    // manifest
    let previous = match (
        manifest::load_beside(&settings.state, &snapshot.files),
        bad_state,
    ) {
        (Ok(p), _) => p,
        (Err(e), BadState::Replace) if e.exit() == Exit::State => {
            report::warn_all(
                out,
                &[format!("replacing the unusable state: {e}")],
                console,
            );
            None
        }
        (Err(e), _) => return Err(e),
    };
    // Files the state recorded before an `ignore` rule covered them are no longer tracked:
    // they are neither changed nor removed. The copy shares the state's table.
    let old: Hashes = previous.as_ref().map_or_else(Hashes::new, |m| {
        m.files.without(|p| settings.scan.ignore.is_match(p))
    });

    // diff, with what the last run left pending: purged again even if its file went back to
    // the recorded content meanwhile (the cache may hold the version in between).
    let mut changes = diff::diff(&old, &snapshot.files);
    if let Some(m) = &previous {
        record::add_pending(
            &mut changes,
            &m.pending,
            &old,
            &snapshot.files,
            &settings.scan.ignore,
        );
    }

    // urls and plan
    let now = in_force(&settings);
    let content_rules_changed = previous
        .as_ref()
        .is_some_and(|m| m.content_rules != now.content_rules);
    // A state recorded without base URLs (by `baseline` alone) does not pin them, nor the URL
    // options; otherwise new URLs (another host, a new spelling) were never purged.
    let base_urls_changed = previous.as_ref().is_some_and(|m| {
        !m.base_urls.is_empty()
            && (!same_set(&m.base_urls, &now.base_urls) || m.url_options != now.url_options)
    });
    let site_urls = snapshot
        .files
        .keys()
        .chain(changes.removed.iter())
        .map(|p| settings.rules.count_for(p))
        .sum();
    let plan = plan::plan(plan::Inputs {
        changes: &changes,
        rules: &settings.rules,
        site_urls,
        threshold: settings.threshold,
        first_run: previous.is_none(),
        first_run_mode: settings.first_run,
        content_rules_changed,
        base_urls_changed,
        listing,
        immutable: &settings.immutable,
    });
    let noise_only = diff::noise_only(
        previous.as_ref().map_or(&Hashes::new(), |m| &m.noise),
        &snapshot.noise,
        &settings.scan.content.kinds(),
        &changes,
    );
    Ok(Survey {
        settings,
        snapshot,
        previous,
        old,
        changes,
        plan,
        noise_only,
    })
}

/// What the content rules blanked in each file the state records as it is now (the precision
/// report compares against it).
fn noise_traces(recorded: &Hashes, snapshot: &scan::Snapshot) -> Hashes {
    snapshot
        .noise
        .iter()
        .filter(|(p, _)| recorded.get(p) == snapshot.files.get(p))
        .map(|(p, n)| (p.clone(), n.trace.clone()))
        .collect()
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// The report of a survey (the purge part is filled in by [`run_once`]).
pub fn report_of(
    command: &'static str,
    survey: &Survey,
    ctx: &Context,
    state_saved: bool,
) -> Report {
    let s = &survey.settings;
    Report {
        command,
        generator: s
            .generator
            .as_ref()
            .map(|(g, from)| report::GeneratorReport {
                name: g.name(),
                detected_from: from.clone(),
            }),
        base_urls: s
            .rules
            .base_urls
            .iter()
            .map(|b| b.as_str().to_string())
            .collect(),
        base_urls_from: s.base_url_from.clone(),
        dir: display(&s.dir, &ctx.cwd),
        state: display(&s.state, &ctx.cwd),
        state_written_at: survey.previous.as_ref().map(|m| m.written_at.clone()),
        first_run: survey.previous.is_none(),
        files_scanned: survey.snapshot.files.len(),
        changes: survey.changes.clone(),
        decision: survey.plan.decision,
        reason: survey.plan.reason,
        explanation: survey.plan.explain(),
        threshold: ThresholdReport {
            setting: s.threshold.to_string(),
            limit: survey.plan.limit,
            site_urls: survey.plan.site_urls,
        },
        urls: survey.plan.urls.clone(),
        skipped: survey
            .plan
            .skipped
            .iter()
            .map(|(path, change)| report::Skipped {
                path: path.clone(),
                change: *change,
                why: "fingerprinted: its URL changes with its content",
            })
            .collect(),
        noise_only: survey
            .noise_only
            .iter()
            .map(|(rule, files)| report::NoiseOnly {
                rule: rule.clone(),
                files: *files,
            })
            .collect(),
        everything: (survey.plan.decision == Decision::Everything)
            .then(|| connect::everything_means(s)),
        state_saved,
        state_error: None,
        warnings: survey.snapshot.warnings.clone(),
        purge: None,
    }
}

/// `baseline`: records the scan as the state, purging nothing.
pub fn record_baseline(survey: &Survey, ctx: &Context) -> Result<()> {
    let now = in_force(&survey.settings);
    let mut manifest = Manifest::new(
        ctx.now,
        now.base_urls,
        now.url_options,
        now.content_rules,
        survey.snapshot.files.clone(),
    );
    manifest.noise = noise_traces(&manifest.files, &survey.snapshot);
    manifest.cloudflare_batch_size = learned_batch_size(survey.previous.as_ref());
    manifest::save(&survey.settings.state, &manifest)
}

/// The Cloudflare batch size an earlier run learned (kept across every state written).
fn learned_batch_size(previous: Option<&Manifest>) -> Option<usize> {
    previous.and_then(|m| m.cloudflare_batch_size)
}

/// URLs per request: the provider's, or for Cloudflare's "auto" what an earlier run learned.
fn batch_size(purger: &AnyPurger, learned: Option<usize>) -> usize {
    match (purger, learned) {
        (AnyPurger::Cloudflare(cf), Some(n)) if cf.auto_batch => n.clamp(1, cf.batch_size),
        _ => purger.batch_size(),
    }
}

/// One pass of the pipeline (what `run` does, and what `watch` does on each cycle): survey,
/// purge, record what was purged. The caller holds the lock and prints the report. After a
/// cancelled `stop`, no new request is sent; what was purged is still recorded.
pub async fn run_once(
    settings: Settings,
    ctx: &Context,
    stop: &CancellationToken,
    console: &mut Console<'_>,
) -> Result<(Report, Exit)> {
    let survey = survey(settings, BadState::Fail, plan::Listing::All, stop, console)?;
    let s = &survey.settings;
    let now = in_force(s);

    // purge
    let mut exit = Exit::Ok;
    let mut purge_report = None;
    let all_urls: BTreeSet<String> = survey.plan.urls.iter().map(|u| u.url.clone()).collect();
    let mut purged = BTreeSet::new();
    let mut purge = Purge::NotNeeded;
    let mut everything_outcome = None;
    let mut learned = learned_batch_size(survey.previous.as_ref());
    if survey.plan.decision != Decision::Nothing {
        if stop.is_cancelled() {
            return Err(Error::Stopped);
        }
        let purger = connect::connect(s, ctx, stop, console).await?;
        // Write-ahead: before the first request, the state owes every path about to be purged,
        // so a kill at any instant (even SIGKILL, between a request and the save) leaves them
        // owed, and the next run purges them even if their files went back to what is recorded.
        if let Some(ahead) = record::before_purge(survey.previous.as_ref(), &survey.changes) {
            let mut manifest = Manifest::new(
                ctx.now,
                ahead.in_force.base_urls,
                ahead.in_force.url_options,
                ahead.in_force.content_rules,
                ahead.files,
            );
            manifest.pending = ahead.pending;
            manifest.cloudflare_batch_size = learned_batch_size(survey.previous.as_ref());
            manifest.noise = survey
                .previous
                .as_ref()
                .map_or_else(Hashes::new, |m| m.noise.clone());
            manifest::save(&s.state, &manifest)?;
        }
        let batch_size = batch_size(&purger, learned);
        let everything = survey.plan.decision == Decision::Everything;
        // A provider with no "clear the site" request purges every URL of the site instead.
        let one_by_one = everything && purger.everything().is_empty();
        let jobs: Vec<Job> = if one_by_one {
            let site: BTreeSet<String> = survey
                .snapshot
                .files
                .keys()
                .chain(survey.changes.removed.iter())
                .flat_map(|p| s.rules.urls_for(p))
                .collect();
            let urls: Vec<String> = site.into_iter().collect();
            purge::batches(&urls, &s.cache_key_headers, batch_size)
        } else if everything {
            purger
                .everything()
                .into_iter()
                .map(|request| Job {
                    request,
                    urls: all_urls.clone(),
                })
                .collect()
        } else if purger.wildcard_from() > 0 {
            // Folders whose every URL changed go in one wildcard purge each.
            let site: BTreeSet<String> = survey
                .snapshot
                .files
                .keys()
                .chain(survey.changes.removed.iter())
                .flat_map(|p| s.rules.urls_for(p))
                .collect();
            let (left, folders) = purge::compact(&all_urls, &site, purger.wildcard_from());
            let mut jobs = purge::batches(&left, &s.cache_key_headers, batch_size);
            jobs.extend(folders);
            jobs
        } else {
            let urls: Vec<String> = all_urls.iter().cloned().collect();
            purge::batches(&urls, &s.cache_key_headers, batch_size)
        };
        report::debug(
            s.output,
            console,
            format_args!("sending {} request(s) to {}", jobs.len(), purger.target()),
        );
        // Retries are reported as they happen: a run backing off says so at once.
        let note = connect::retry_note(s.output.verbosity >= 0);
        let outcome = purge::execute(&purger, jobs, &s.policy, stop, &note).await;
        if let Some(limit) = outcome.batch_limit {
            learned = Some(limit);
        }
        let failures: Vec<_> = outcome
            .failures()
            .map(|(job, f)| (job.urls.len(), f.clone()))
            .collect();
        report::print_failures(&failures, purger.name(), &purger.target(), console);
        purged = outcome.purged();
        let (mut hosts, mut prefixes, mut kinds) = (Vec::new(), Vec::new(), Vec::new());
        for r in &outcome.results {
            kinds.push(match &r.job.request {
                Request::Files(_) => "files",
                Request::Hosts(h) => {
                    hosts.extend(h.iter().cloned());
                    "hosts"
                }
                Request::Prefixes(p) => {
                    prefixes.extend(p.iter().cloned());
                    "prefixes"
                }
                Request::Everything => "purge_everything",
            });
        }
        kinds.dedup();
        purge_report = Some(PurgeReport {
            one_by_one,
            provider: purger.name(),
            target: purger.target(),
            kinds,
            hosts,
            prefixes,
            requests: outcome.requests(),
            urls_purged: purged.len(),
            urls_pending: outcome.pending().into_iter().collect(),
            failures: failures.into_iter().map(|(_, f)| f).collect(),
        });
        if !outcome.all_ok() {
            let setup = outcome.failures().all(|(_, f)| f.kind.is_setup());
            exit = if setup {
                Exit::Usage
            } else {
                Exit::PurgeFailed
            };
        }
        everything_outcome = everything.then_some((outcome.all_ok(), one_by_one));
    }
    // Fingerprinted files added or removed need no purge: recorded as if their URLs went.
    if survey.plan.decision != Decision::Everything {
        for (path, _) in &survey.plan.skipped {
            purged.extend(s.rules.urls_for(path));
        }
    }
    if let Some((all_ok, one_by_one)) = everything_outcome {
        purge = Purge::Everything {
            all_ok,
            one_by_one,
            purged: &purged,
        };
    } else if survey.plan.decision != Decision::Nothing || !survey.plan.skipped.is_empty() {
        purge = Purge::Urls { purged: &purged };
    }

    // record
    let record = record::after(
        record::Inputs {
            previous: survey.previous.as_ref(),
            old: &survey.old,
            scanned: &survey.snapshot.files,
            changes: &survey.changes,
            rules: &s.rules,
            now_in_force: &now,
        },
        purge,
    );
    let (mut saved, mut state_error) = (false, None);
    if let Some(record) = record
        && !survey
            .previous
            .as_ref()
            .is_some_and(|m| record.same_as(m) && m.cloudflare_batch_size == learned)
    {
        let mut manifest = Manifest::new(
            ctx.now,
            record.in_force.base_urls,
            record.in_force.url_options,
            record.in_force.content_rules,
            record.files,
        );
        manifest.pending = record.pending;
        manifest.cloudflare_batch_size = learned;
        manifest.noise = noise_traces(&manifest.files, &survey.snapshot);
        match manifest::save(&s.state, &manifest) {
            Ok(()) => saved = true,
            // The purge went out: the report must still say what it did. Those URLs are
            // purged again by the next run (the old state still owes them), which is harmless.
            Err(e) if purge_report.is_some() => {
                state_error = Some(e.to_string());
                exit = Exit::State;
            }
            Err(e) => return Err(e),
        }
    }

    // report
    let mut report = report_of("run", &survey, ctx, saved);
    report.purge = purge_report;
    report.state_error = state_error;
    Ok((report, exit))
}
