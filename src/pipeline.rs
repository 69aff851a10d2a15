//! One run, top to bottom: scan → manifest → diff → urls → plan → purge → record → report.
//! `plan` stops after the plan, `baseline` records the scan, `run` goes to the end, and `watch`
//! calls [`run_once`] in a loop.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::compact;
use crate::config::Settings;
use crate::connect;
use crate::context::Context;
use crate::diff::{self, ChangeSet};
use crate::error::{Error, Exit, Result};
use crate::manifest::{self, Manifest};
use crate::plan::{self, Decision, Plan};
use crate::planfile::{self, PlanFile};
use crate::provider::{AnyPurger, Purger, Request};
use crate::publish;
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

/// Where the previous state comes from.
#[derive(Debug)]
pub enum Previous {
    /// The state file.
    File,
    /// The manifest published with the live site (`state_url`): None when there is none yet.
    Published(Option<Box<Manifest>>),
    /// The published manifest could not be read and `on_state_error = "everything"`: plan as
    /// on a first run that purges everything.
    Unreadable,
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
    survey_from(settings, Previous::File, bad_state, listing, stop, console)
}

/// [`survey`], with the previous state from `source`.
pub fn survey_from(
    settings: Settings,
    source: Previous,
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
    for learned in snapshot.learned.describe(&settings.scan.content) {
        report::debug(out, console, format_args!("learned the {learned}"));
    }

    // manifest
    let unreadable = matches!(source, Previous::Unreadable);
    let loaded = match source {
        Previous::File => manifest::load_beside(&settings.state, &snapshot.files),
        Previous::Published(m) => Ok(m.map(|m| *m)),
        Previous::Unreadable => Ok(None),
    };
    let previous = match (loaded, bad_state) {
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
    let mut plan = plan::plan(plan::Inputs {
        changes: &changes,
        rules: &settings.rules,
        site_urls,
        threshold: settings.threshold,
        first_run: previous.is_none(),
        first_run_mode: if unreadable {
            plan::FirstRun::Everything
        } else {
            settings.first_run
        },
        content_rules_changed,
        base_urls_changed,
        listing,
        immutable: &settings.immutable,
        list_above_threshold: settings
            .compaction
            .is_some_and(|c| c.above_threshold && listing != plan::Listing::Nothing),
    });
    if let Some(compaction) = &settings.compaction {
        let bases: Vec<String> = settings
            .rules
            .base_urls
            .iter()
            .map(|b| b.as_str().to_string())
            .collect();
        let site = || site_url_set(&settings, &snapshot, &changes);
        compact::compact_plan(&mut plan, compaction, site, &bases);
    }
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

/// Every URL of the site: its files' now, and its removed files'.
fn site_url_set(settings: &Settings, snapshot: &Snapshot, changes: &ChangeSet) -> BTreeSet<String> {
    snapshot
        .files
        .keys()
        .chain(changes.removed.iter())
        .flat_map(|p| settings.rules.urls_for(p))
        .collect()
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

/// Reads the state published with the live site (`state_url`), and checks through the site
/// the paths its plan was to purge: those not served fresh (a purge that failed, or never ran)
/// stay owed. Returns the state to plan from, and whether one was found.
pub async fn published_state(
    settings: &Settings,
    url: &url::Url,
    console: &mut Console<'_>,
) -> Result<(Previous, bool)> {
    let client = crate::provider::http_client(&settings.transport)
        .map_err(|m| Error::setting("state_url", m, None))?;
    match publish::fetch_state(&client, url).await {
        Ok(publish::Published::Absent) => {
            report::debug(
                settings.output,
                console,
                format_args!("no state published at {url} yet: a first run"),
            );
            Ok((Previous::Published(None), false))
        }
        Ok(publish::Published::Found(mut m)) => {
            let owed = std::mem::take(&mut m.pending);
            let judge = publish::Judge {
                rules: &settings.scan.content,
                learned: &scan::Learned::default(),
            };
            let mut probes = Vec::new();
            for path in &owed {
                for u in settings.rules.urls_for(path) {
                    probes.push(publish::Probe {
                        url: u,
                        path: path.clone(),
                        expected: m.files.get(path).cloned(),
                    });
                }
            }
            let seen = publish::look_all(&client, &probes, false, judge).await;
            for (probe, seen) in probes.iter().zip(seen) {
                if seen != publish::Seen::Fresh {
                    report::debug(
                        settings.output,
                        console,
                        format_args!(
                            "{} was to be purged by the last deploy and is not served fresh: purged again",
                            probe.url
                        ),
                    );
                    m.pending.insert(probe.path.clone());
                }
            }
            Ok((Previous::Published(Some(m)), true))
        }
        Err(message) => match settings.publishing.on_state_error {
            publish::OnStateError::Fail => Err(Error::StateUrl {
                url: url.to_string(),
                message,
            }),
            publish::OnStateError::Everything => {
                report::warn_all(
                    settings.output,
                    &[format!(
                        "cannot read the published state at {url} ({message}): purging everything (on_state_error = \"everything\")"
                    )],
                    console,
                );
                Ok((Previous::Unreadable, false))
            }
        },
    }
}

/// Writes the new state into the output folder at `rel`, for the deploy to publish: the site
/// as scanned, owing every path this plan purges until a later plan finds it fresh.
pub fn publish_manifest(survey: &Survey, rel: &str, ctx: &Context) -> Result<()> {
    let now = in_force(&survey.settings);
    let mut manifest = Manifest::new(
        ctx.now,
        now.base_urls,
        now.url_options,
        now.content_rules,
        survey.snapshot.files.clone(),
    );
    manifest.pending = survey
        .changes
        .paths()
        .into_iter()
        .map(|(p, _)| p.to_string())
        .collect();
    let path = survey.settings.dir.join(rel);
    manifest::save(&path, &manifest).map_err(|e| match e {
        Error::StateWrite { path, source } => Error::WriteFile { path, source },
        other => other,
    })
}

/// A fingerprint of the settings a purge depends on: what the URLs are (base URLs, URL
/// options), how files hash (content rules), and where the purge goes (provider, its target,
/// what "everything" sends, cache-key header sets). A plan made under other settings is refused.
pub fn settings_fingerprint(s: &Settings) -> String {
    let now = in_force(s);
    let mut base_urls = now.base_urls.clone();
    base_urls.sort();
    let target = match s.provider {
        crate::provider::ProviderName::Cloudflare => {
            format!("{:?} {}", s.cloudflare.zone, s.cloudflare.api_base)
        }
        crate::provider::ProviderName::HttpPurge => {
            format!("{:?} {:?}", s.http_purge.endpoint, s.http_purge.method)
        }
        crate::provider::ProviderName::CloudFront => format!(
            "{:?} {}",
            s.cloudfront.distribution_id, s.cloudfront.endpoint
        ),
        crate::provider::ProviderName::Akamai => format!(
            "{} {:?} {:?} {:?}",
            s.akamai.section, s.akamai.network, s.akamai.action, s.akamai.cp_codes
        ),
        crate::provider::ProviderName::Fastly => format!(
            "{:?} {:?} {}",
            s.fastly.0.service_id, s.fastly.0.soft, s.fastly.1.api_base
        ),
        crate::provider::ProviderName::Bunny => {
            format!("{:?} {}", s.bunny.0.pull_zone_id, s.bunny.1.api_base)
        }
    };
    let fields = [
        ("base_urls", base_urls.join(" ")),
        ("url_options", now.url_options.join(" ")),
        ("content_rules", now.content_rules),
        ("provider", format!("{:?}", s.provider)),
        ("target", target),
        ("everything", connect::everything_means(s)),
        ("cache_key_headers", format!("{:?}", s.cache_key_headers)),
    ];
    let mut hasher = Sha256::new();
    for (name, value) in fields {
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(value.as_bytes());
        hasher.update(b"\0");
    }
    scan::hex(&hasher.finalize())
}

/// The plan file of a survey: what `apply` needs to purge and record exactly this.
pub fn plan_file(survey: &Survey, base: planfile::Base, ctx: &Context) -> PlanFile {
    PlanFile {
        format: planfile::FORMAT,
        tool: format!("sitepurge {}", env!("CARGO_PKG_VERSION")),
        written_at: planfile::timestamp(ctx.now),
        settings: settings_fingerprint(&survey.settings),
        base,
        dir: display(&survey.settings.dir, &ctx.cwd),
        changes: survey.changes.clone(),
        plan: survey.plan.clone(),
        files: survey.snapshot.files.clone(),
        noise: survey
            .snapshot
            .noise
            .iter()
            .map(|(p, n)| (p.clone(), n.trace.clone()))
            .collect(),
        learned: survey.snapshot.learned.clone(),
        warnings: survey.snapshot.warnings.clone(),
    }
}

/// The survey a plan file stands for, with the state it was made from (`previous`, checked by
/// the caller) and today's settings (checked against its fingerprint by the caller).
pub fn survey_of_plan(settings: Settings, file: PlanFile, previous: Option<Manifest>) -> Survey {
    let old: Hashes = previous.as_ref().map_or_else(Hashes::new, |m| {
        m.files.without(|p| settings.scan.ignore.is_match(p))
    });
    let noise = file
        .noise
        .iter()
        .map(|(p, trace)| {
            (
                p.to_string(),
                scan::Noisy {
                    trace: trace.clone(),
                    kinds: 0,
                },
            )
        })
        .collect();
    Survey {
        settings,
        snapshot: Snapshot {
            files: file.files,
            warnings: file.warnings,
            notes: Vec::new(),
            noise,
            learned: scan::Learned::new(file.learned.instants),
        },
        previous,
        old,
        changes: file.changes,
        plan: file.plan,
        noise_only: Vec::new(),
    }
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
        wildcards: survey.plan.wildcards.clone(),
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
        origin: None,
        check: None,
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
    carry_out("run", survey, Recording::StateFile, ctx, stop, console).await
}

/// Where a carried-out plan is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recording {
    /// The state file (`run`, `watch`).
    StateFile,
    /// The state file, by `apply` of the plan with this id (recorded in the state, so that
    /// applying the same plan again is accepted).
    Applied(String),
    /// Nowhere here: the state is the manifest the deploy published (`state_url`).
    Published,
}

impl Recording {
    fn to_state_file(&self) -> bool {
        !matches!(self, Recording::Published)
    }

    fn plan_id(&self) -> Option<String> {
        match self {
            Recording::Applied(id) => Some(id.clone()),
            _ => None,
        }
    }
}

/// Purges what `survey` planned and records what was purged: the second half of `run`, and
/// all of `apply`. The caller holds the lock and prints the report.
pub async fn carry_out(
    command: &'static str,
    survey: Survey,
    recording: Recording,
    ctx: &Context,
    stop: &CancellationToken,
    console: &mut Console<'_>,
) -> Result<(Report, Exit)> {
    let s = &survey.settings;
    let now = in_force(s);

    // purge
    let mut exit = Exit::Ok;
    let mut purge_report = None;
    let mut origin_report = None;
    let mut connected = None;
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
        if let Some(ahead) = record::before_purge(survey.previous.as_ref(), &survey.changes)
            && recording.to_state_file()
        {
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
            manifest.applied_plan = recording.plan_id();
            manifest::save(&s.state, &manifest)?;
        }
        // A purge before the origin serves the new build would let the cache fetch the old
        // version again: wait for it, and on timeout purge nothing (what is owed stays owed).
        if let Some(origin) = &s.publishing.origin_url {
            let waited = wait_for_origin(&survey, origin, stop, console).await?;
            let served_new = waited.still_old.is_none();
            origin_report = Some(waited);
            if !served_new {
                let mut report = report_of(command, &survey, ctx, false);
                report.origin = origin_report;
                return Ok((report, Exit::PurgeFailed));
            }
        }
        let batch_size = batch_size(&purger, learned);
        let everything = survey.plan.decision == Decision::Everything;
        // A provider with no "clear the site" request purges every URL of the site instead.
        let one_by_one = everything && purger.everything().is_empty();
        let jobs: Vec<Job> = if one_by_one {
            let urls: Vec<String> = site_url_set(s, &survey.snapshot, &survey.changes)
                .into_iter()
                .collect();
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
        } else {
            // A compacted plan: the URLs no wildcard covers one by one, then the wildcards.
            let wildcards = &survey.plan.wildcards;
            let urls: Vec<String> = all_urls
                .iter()
                .filter(|u| !wildcards.iter().any(|w| w.covers(u)))
                .cloned()
                .collect();
            let mut jobs = purge::batches(&urls, &s.cache_key_headers, batch_size);
            jobs.extend(purge::wildcard_jobs(wildcards, &all_urls));
            jobs
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
        connected = Some(purger);
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
        && recording.to_state_file()
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
        manifest.applied_plan = recording.plan_id();
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

    // check: fetch a sample of what was purged through the site
    let mut check_report = None;
    if let Some(purger) = &connected
        && s.publishing.check.limit() != Some(0)
        && !stop.is_cancelled()
    {
        let check = check_freshness(&survey, purger, &purged, stop, console).await?;
        if !check.stale.is_empty() {
            exit = Exit::PurgeFailed;
            // Still stale after purging again: owed to the next run, whatever the state says.
            if recording.to_state_file()
                && let Some(mut m) = manifest::load(&s.state)?
            {
                m.pending
                    .extend(check.stale.iter().map(|st| st.path.clone()));
                manifest::save(&s.state, &m)?;
                saved = true;
            }
        }
        check_report = Some(check);
    }

    // report
    let mut report = report_of(command, &survey, ctx, saved);
    report.purge = purge_report;
    report.state_error = state_error;
    report.origin = origin_report;
    report.check = check_report;
    Ok((report, exit))
}

/// How often the origin is asked while sitepurge waits for it.
const ORIGIN_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Polls the origin until it serves the new build: the published manifest when there is one
/// (its files must be this build's), else a sample of the added and modified files (by hash,
/// after the content rules), past every cache. Gives up after `origin_timeout`.
async fn wait_for_origin(
    survey: &Survey,
    origin: &url::Url,
    stop: &CancellationToken,
    console: &mut Console<'_>,
) -> Result<report::OriginReport> {
    let s = &survey.settings;
    let client = crate::provider::http_client(&s.transport)
        .map_err(|m| Error::setting("origin_url", m, None))?;
    let judge = publish::Judge {
        rules: &s.scan.content,
        learned: &survey.snapshot.learned,
    };
    let bases: Vec<String> = s
        .rules
        .base_urls
        .iter()
        .map(|b| b.as_str().to_string())
        .collect();
    let manifest_url = s.publishing.manifest_path.as_ref().map(|p| {
        let mut base = origin.as_str().to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        format!("{base}{p}")
    });
    let probes: Vec<publish::Probe> = if manifest_url.is_some() {
        Vec::new()
    } else {
        let changed: Vec<(String, String)> = survey
            .plan
            .urls
            .iter()
            .filter(|u| u.change != diff::Change::Removed)
            .filter_map(|u| Some((publish::at_origin(&u.url, &bases, origin)?, u.path.clone())))
            .collect();
        publish::sample(&changed, |p| survey.snapshot.files.get(p).cloned(), Some(5))
    };
    let started = Instant::now();
    let timeout = s.publishing.origin_timeout;
    loop {
        let still_old: Option<String> = match &manifest_url {
            Some(url) => {
                let parsed = url::Url::parse(url)
                    .map_err(|e| Error::setting("publish_manifest", format!("{url}: {e}"), None))?;
                match publish::fetch_state(&client, &parsed).await {
                    Ok(publish::Published::Found(m)) if m.files == survey.snapshot.files => None,
                    _ => Some(url.clone()),
                }
            }
            None => {
                let seen = publish::look_all(&client, &probes, true, judge).await;
                probes
                    .iter()
                    .zip(&seen)
                    .find(|(_, seen)| **seen != publish::Seen::Fresh)
                    .map(|(p, _)| p.url.clone())
            }
        };
        let waited = started.elapsed();
        let Some(old) = still_old else {
            return Ok(report::OriginReport {
                url: origin.to_string(),
                seconds: waited.as_secs(),
                served_new: true,
                still_old: None,
            });
        };
        if waited >= timeout {
            return Ok(report::OriginReport {
                url: origin.to_string(),
                seconds: waited.as_secs(),
                served_new: false,
                still_old: Some(old),
            });
        }
        report::progress(
            s.output,
            console,
            format_args!(
                "waiting for the origin to serve the new build: {old} is still old ({}s of {})",
                waited.as_secs(),
                humantime::format_duration(timeout)
            ),
        );
        tokio::select! {
            () = stop.cancelled() => return Err(Error::Stopped),
            () = tokio::time::sleep(ORIGIN_POLL.min(timeout.saturating_sub(waited))) => {}
        }
    }
}

/// How many times stale URLs are purged again before the check gives up on them.
const CHECK_ROUNDS: u32 = 3;

/// Fetches a sample of the purged URLs through the site (as a visitor would, through the
/// cache) and compares them with the build. Stale ones are purged again, up to
/// [`CHECK_ROUNDS`] times with a growing pause, then reported.
async fn check_freshness(
    survey: &Survey,
    purger: &crate::provider::AnyPurger,
    purged: &BTreeSet<String>,
    stop: &CancellationToken,
    console: &mut Console<'_>,
) -> Result<report::CheckReport> {
    let s = &survey.settings;
    let client = crate::provider::http_client(&s.transport)
        .map_err(|m| Error::setting("check_after_purge", m, None))?;
    let judge = publish::Judge {
        rules: &s.scan.content,
        learned: &survey.snapshot.learned,
    };
    let urls: Vec<(String, String)> = survey
        .plan
        .urls
        .iter()
        .filter(|u| purged.contains(&u.url))
        .map(|u| (u.url.clone(), u.path.clone()))
        .collect();
    let probes = publish::sample(
        &urls,
        |p| survey.snapshot.files.get(p).cloned(),
        s.publishing.check.limit(),
    );
    let mut seen = publish::look_all(&client, &probes, false, judge).await;
    let note = connect::retry_note(s.output.verbosity >= 0);
    let mut repurged = 0;
    for round in 0..CHECK_ROUNDS {
        let stale: Vec<usize> = (0..probes.len())
            .filter(|i| matches!(seen[*i], publish::Seen::Stale { .. }))
            .collect();
        if stale.is_empty() || stop.is_cancelled() {
            break;
        }
        let again: Vec<String> = stale.iter().map(|i| probes[*i].url.clone()).collect();
        report::progress(
            s.output,
            console,
            format_args!(
                "{} still stale after the purge: purging again",
                if again.len() == 1 {
                    again[0].clone()
                } else {
                    format!("{} URLs", again.len())
                }
            ),
        );
        let jobs = purge::batches(&again, &s.cache_key_headers, purger.batch_size());
        purge::execute(purger, jobs, &s.policy, stop, &note).await;
        repurged += again.len();
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(std::time::Duration::from_secs(1 << round)) => {}
        }
        let retry: Vec<publish::Probe> = stale.iter().map(|i| probes[*i].clone()).collect();
        let again_seen = publish::look_all(&client, &retry, false, judge).await;
        for (i, now) in stale.into_iter().zip(again_seen) {
            seen[i] = now;
        }
    }
    let mut check = report::CheckReport {
        checked: probes.iter().map(|p| p.url.clone()).collect(),
        repurged,
        ..Default::default()
    };
    for (probe, seen) in probes.iter().zip(seen) {
        match seen {
            publish::Seen::Fresh => check.fresh += 1,
            publish::Seen::Stale { status, headers } => check.stale.push(publish::StaleUrl {
                url: probe.url.clone(),
                path: probe.path.clone(),
                status,
                headers,
            }),
            publish::Seen::Unreachable(why) => check.unreachable.push(report::Unreachable {
                url: probe.url.clone(),
                why,
            }),
        }
    }
    Ok(check)
}
