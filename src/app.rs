//! The pipeline of one command: resolve settings, scan, load the state, diff, plan, act, report.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::cli::{Cli, Common, CompletionsArgs, InitArgs, ManArgs};
use crate::config::Everything;
use crate::config::ProviderName;
use crate::config::{self, Settings};
use crate::diff::{self, ChangeSet};
use crate::error::{Error, Exit, Result};
use crate::generator::Generator;
use crate::init;
use crate::lock;
use crate::manifest::{self, Manifest};
use crate::plan::Decision;
use crate::plan::{self, Plan};
use crate::provider::AnyPurger;
use crate::provider::cloudflare::{self, Cloudflare, ZoneRef};
use crate::provider::{FailureKind, Purger, Request};
use crate::purge::{self, Job, Outcome, Stop};
use crate::report::PurgeReport;
use crate::report::{self, Report, ThresholdReport};
use crate::scan::Hashes;
use crate::scan::{self, Snapshot};
use crate::site_config::{self, SiteBaseUrl};
use crate::urls::BaseUrl;
use crate::watch;

/// What the pipeline reads from its surroundings, passed in so tests control it.
#[derive(Debug, Clone)]
pub struct Context {
    pub cwd: PathBuf,
    pub now: SystemTime,
    /// The environment (`CLOUDFLARE_*`, and variables named by `[http_purge]` headers).
    pub env: BTreeMap<String, String>,
}

/// Where output goes: stdout for the report, stderr for warnings, debug detail and errors.
pub struct Console<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// The site compared with its recorded state, and the resulting plan.
pub struct Survey {
    pub settings: Settings,
    pub snapshot: Snapshot,
    pub previous: Option<Manifest>,
    /// The previous state's hashes, less the paths now ignored.
    pub old: Hashes,
    pub changes: ChangeSet,
    pub plan: Plan,
}

fn display(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd).unwrap_or(path).display().to_string()
}

fn debug(settings: &Settings, console: &mut Console<'_>, message: std::fmt::Arguments<'_>) {
    if settings.output.verbosity >= 2 {
        let _ = writeln!(console.err, "debug: {message}");
    }
}

fn warn_all(settings: &Settings, warnings: &[String], console: &mut Console<'_>) {
    if settings.output.verbosity >= 0 {
        for w in warnings {
            let _ = writeln!(console.err, "warning: {w}");
        }
    }
}

/// Scans the site, loads the state and plans. Touches nothing.
/// How to treat a state file that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadState {
    /// Stop with the error (plan, run).
    Fail,
    /// Warn and carry on as on a first run: `baseline` is the way out of a damaged state.
    Replace,
}

pub fn survey(
    settings: Settings,
    bad_state: BadState,
    console: &mut Console<'_>,
) -> Result<Survey> {
    debug(
        &settings,
        console,
        format_args!(
            "config file: {}",
            settings
                .config_file
                .as_deref()
                .map_or("none".into(), |p| p.display().to_string())
        ),
    );
    debug(
        &settings,
        console,
        format_args!("output folder: {}", settings.dir.display()),
    );
    debug(
        &settings,
        console,
        format_args!("state file: {}", settings.state.display()),
    );
    for p in &settings.scan.content.patterns {
        debug(
            &settings,
            console,
            format_args!("ignore_content: {}", p.as_str()),
        );
    }
    for b in &settings.rules.base_urls {
        debug(&settings, console, format_args!("base URL: {}", b.as_str()));
    }
    let started = Instant::now();
    let snapshot = scan::scan(&settings.dir, &settings.scan)?;
    debug(
        &settings,
        console,
        format_args!(
            "scanned {} file{} in {:.0?}",
            snapshot.files.len(),
            if snapshot.files.len() == 1 { "" } else { "s" },
            started.elapsed()
        ),
    );
    warn_all(&settings, &settings.notes, console);
    warn_all(&settings, &snapshot.warnings, console);

    let previous = match (
        manifest::load_beside(&settings.state, &snapshot.files),
        bad_state,
    ) {
        (Ok(p), _) => p,
        (Err(e), BadState::Replace) if e.exit() == Exit::State => {
            if settings.output.verbosity >= 0 {
                let _ = writeln!(console.err, "warning: replacing the unusable state: {e}");
            }
            None
        }
        (Err(e), _) => return Err(e),
    };
    // Files the state recorded before an `ignore` rule covered them are no longer tracked:
    // they are neither changed nor removed. The copy shares the state's table.
    let old: Hashes = previous.as_ref().map_or_else(Hashes::new, |m| {
        m.files.without(|p| settings.scan.ignore.is_match(p))
    });
    let mut changes = diff::diff(&old, &snapshot.files);
    // Paths whose purge failed last time are purged again, even if their file went back to
    // the recorded content meanwhile: the cache may hold the version in between.
    if let Some(m) = &previous {
        add_pending(
            &mut changes,
            &m.pending,
            &old,
            &snapshot.files,
            &settings.scan.ignore,
        );
    }

    let fingerprint = settings.scan.content.fingerprint();
    let content_rules_changed = previous
        .as_ref()
        .is_some_and(|m| m.content_rules != fingerprint);
    let bases: Vec<String> = settings
        .rules
        .base_urls
        .iter()
        .map(|b| b.as_str().to_string())
        .collect();
    // A state recorded without base URLs (by `baseline` alone) does not pin them, nor the URL
    // options; otherwise new URLs (another host, a new spelling) were never purged.
    let base_urls_changed = previous.as_ref().is_some_and(|m| {
        !m.base_urls.is_empty()
            && (!same_set(&m.base_urls, &bases) || m.url_options != settings.rules.options())
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
    });
    Ok(Survey {
        settings,
        snapshot,
        previous,
        old,
        changes,
        plan,
    })
}

fn add_pending(
    changes: &mut ChangeSet,
    pending: &BTreeSet<String>,
    old: &Hashes,
    new: &Hashes,
    ignore: &globset::GlobSet,
) {
    let listed: BTreeSet<String> = changes
        .paths()
        .into_iter()
        .map(|(p, _)| p.to_string())
        .collect();
    for path in pending {
        if listed.contains(path) || ignore.is_match(path) {
            continue;
        }
        match (new.contains_key(path), old.contains_key(path)) {
            (true, true) => changes.modified.push(path.clone()),
            (true, false) => changes.added.push(path.clone()),
            (false, _) => changes.removed.push(path.clone()),
        }
    }
    changes.added.sort();
    changes.modified.sort();
    changes.removed.sort();
}

/// Changed paths not all of whose URLs were purged.
fn still_pending(
    changes: &ChangeSet,
    rules: &crate::urls::UrlRules,
    purged: &BTreeSet<String>,
) -> BTreeSet<String> {
    changes
        .paths()
        .into_iter()
        .filter(|(path, _)| !rules.urls_for(path).iter().all(|u| purged.contains(u)))
        .map(|(path, _)| path.to_string())
        .collect()
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

fn report_of(command: &'static str, survey: &Survey, ctx: &Context, state_saved: bool) -> Report {
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
        everything: (survey.plan.decision == Decision::Everything).then(|| everything_means(s)),
        state_saved,
        warnings: survey.snapshot.warnings.clone(),
        purge: None,
    }
}

fn print(report: &Report, settings: &Settings, console: &mut Console<'_>) -> Result<Exit> {
    // A closed stdout (e.g. `| head`) is not a failure of the purge.
    let _ = report::print(report, settings.output, console.out);
    Ok(Exit::Ok)
}

/// `sitepurge plan`: what a run would purge, and why.
pub fn plan(flags: &Common, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let settings = config::resolve(flags, ctx, true)?;
    let survey = survey(settings, BadState::Fail, console)?;
    let report = report_of("plan", &survey, ctx, false);
    print(&report, &survey.settings, console)
}

/// `sitepurge baseline`: record the site as it is; purge nothing.
pub fn baseline(flags: &Common, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let settings = config::resolve(flags, ctx, false)?;
    let _lock = lock::acquire(&settings.state, lock::DEFAULT_WAIT)?;
    let survey = survey(settings, BadState::Replace, console)?;
    let s = &survey.settings;
    let manifest = Manifest::new(
        ctx.now,
        s.rules
            .base_urls
            .iter()
            .map(|b| b.as_str().to_string())
            .collect(),
        s.rules.options(),
        s.scan.content.fingerprint(),
        survey.snapshot.files.clone(),
    );
    manifest::save(&s.state, &manifest)?;
    let mut report = report_of("baseline", &survey, ctx, true);
    report.decision = plan::Decision::Nothing;
    report.reason = plan::Reason::Baseline;
    report.explanation = survey.plan.explain_reason(plan::Reason::Baseline);
    print(&report, &survey.settings, console)
}

/// Retry notes, as they happen, on the process's stderr (the purge runs on other tasks).
fn retry_note(verbose: bool) -> impl Fn(String) + Sync {
    move |line: String| {
        if verbose {
            let _ = writeln!(std::io::stderr().lock(), "note: {line}");
        }
    }
}

/// What "purge everything" sends with these settings, in words.
pub fn everything_means(settings: &Settings) -> String {
    let scope = |(hosts, prefixes): (Vec<String>, Vec<String>)| {
        let mut parts = Vec::new();
        if !hosts.is_empty() {
            parts.push(format!("hosts {}", hosts.join(", ")));
        }
        if !prefixes.is_empty() {
            parts.push(format!("prefixes {}", prefixes.join(", ")));
        }
        parts.join("; ")
    };
    match settings.provider {
        ProviderName::Cloudflare => match settings.cloudflare.everything {
            Everything::Zone => "the WHOLE zone: purge_everything".into(),
            Everything::Hosts => scope(settings.rules.scopes()),
        },
        ProviderName::HttpPurge => match &settings.http_purge.everything {
            Some(e) => format!(
                "{} for {}",
                e.method,
                scope(settings.rules.scopes_by(crate::urls::BaseUrl::authority))
            ),
            None => "every URL of the site, one by one".into(),
        },
    }
}

/// Sets up the configured provider for this site.
pub async fn connect(
    settings: &Settings,
    ctx: &Context,
    stop: &Stop,
    console: &mut Console<'_>,
) -> Result<AnyPurger> {
    match settings.provider {
        ProviderName::Cloudflare => connect_cloudflare(settings, ctx, stop, console)
            .await
            .map(AnyPurger::Cloudflare),
        ProviderName::HttpPurge => {
            let mut purger = config::http_purge(settings, ctx)?;
            purger.scopes = settings.rules.scopes_by(crate::urls::BaseUrl::authority);
            purger.schemes = settings
                .rules
                .base_urls
                .iter()
                .map(|b| (b.authority().to_string(), b.scheme().to_string()))
                .collect();
            debug(
                settings,
                console,
                format_args!("http-purge to {}", purger.target()),
            );
            Ok(AnyPurger::HttpPurge(purger))
        }
    }
}

/// Reads the credentials, finds the zone and sets up Cloudflare for this site.
pub async fn connect_cloudflare(
    settings: &Settings,
    ctx: &Context,
    stop: &Stop,
    console: &mut Console<'_>,
) -> Result<Cloudflare> {
    let cf = &settings.cloudflare;
    let auth = config::credentials(cf, ctx)?;
    debug(
        settings,
        console,
        format_args!("credentials: {}", auth.describe()),
    );
    debug(
        settings,
        console,
        format_args!("API: {}", crate::urls::redact(&cf.api_base)),
    );
    let api = cf.api(auth)?;
    let zone = zone_name(settings)?;
    // A zone derived from the first base URL must hold the others too. A zone given explicitly
    // is trusted (Cloudflare for SaaS serves customers' own host names from one zone).
    if settings.cloudflare.zone.is_none() {
        check_one_zone(settings, &zone)?;
    }
    let zone_id = match zone {
        ZoneRef::Id(id) => id,
        ZoneRef::Name(name) => {
            let verbose = settings.output.verbosity >= 0;
            let action = format!("looking up the Cloudflare zone {name}");
            let policy = &settings.cloudflare.policy;
            let zone = purge::retry(policy, &action, stop, &retry_note(verbose), || {
                api.find_zone(&name)
            })
            .await
            .map_err(|failure| Error::Api {
                action: action.clone(),
                failure,
            })?;
            match zone {
                Some(z) => {
                    debug(
                        settings,
                        console,
                        format_args!("zone {} is {}", z.name, z.id),
                    );
                    z.id
                }
                None => return Err(zone_not_found(&name)),
            }
        }
    };
    let (hosts, prefixes) = settings.rules.scopes();
    let everything = match cf.everything {
        Everything::Zone => vec![Request::Everything],
        Everything::Hosts => Request::for_scopes(hosts, prefixes),
    };
    Ok(Cloudflare {
        api,
        zone_id,
        batch_size: cf.batch_size,
        everything,
    })
}

/// One run purges one zone: every base URL's host must belong to it (by name, when the zone is
/// known by name; else by registrable domain, which a zone never spans).
fn check_one_zone(settings: &Settings, zone: &ZoneRef) -> Result<()> {
    let bases = &settings.rules.base_urls;
    for b in bases {
        let outside = match zone {
            ZoneRef::Name(name) => b.host() != name && !b.host().ends_with(&format!(".{name}")),
            ZoneRef::Id(_) => {
                let first = bases
                    .first()
                    .and_then(|f| cloudflare::registrable_domain(f.host()));
                let this = cloudflare::registrable_domain(b.host());
                first.is_some() && this.is_some() && first != this
            }
        };
        if outside {
            let zone = match zone {
                ZoneRef::Name(n) => n.clone(),
                ZoneRef::Id(id) => format!("{id} (the zone of {})", bases[0].host()),
            };
            return Err(Error::Setting {
                setting: "base_urls",
                message: format!("the base URL {} is not in the Cloudflare zone {zone}", b.as_str()),
                hint: Some(
                    "one run purges one zone: run sitepurge once per zone, each with its own base URLs and --state"
                        .into(),
                ),
            });
        }
    }
    Ok(())
}

/// The zone as set, or the registrable domain of the first base URL.
fn zone_name(settings: &Settings) -> Result<ZoneRef> {
    if let Some(z) = &settings.cloudflare.zone {
        return Ok(z.clone());
    }
    let host = settings
        .rules
        .base_urls
        .first()
        .map(|b| b.host().to_string())
        .unwrap_or_default();
    cloudflare::registrable_domain(&host)
        .map(ZoneRef::Name)
        .ok_or_else(|| Error::Setting {
            setting: "zone",
            message: format!("cannot tell the Cloudflare zone of {host:?}"),
            hint: Some("give the zone: --zone ID|NAME, CLOUDFLARE_ZONE_ID, or zone = \"...\" in sitepurge.toml".into()),
        })
}

fn zone_not_found(name: &str) -> Error {
    Error::Setting {
        setting: "zone",
        message: format!("no Cloudflare zone named {name} is visible to these credentials"),
        hint: Some(format!(
            "check the name, give the zone's 32-hex id (--zone or CLOUDFLARE_ZONE_ID), or grant the token \"Zone Read\" on {name}"
        )),
    }
}

/// The hashes to record after a purge: the old state, moved forward for every changed file
/// whose URLs were all purged. A file whose purge failed keeps its old entry (an added file stays
/// absent, a removed one present), so the next run purges exactly what is still pending.
pub fn advance(
    old: &Hashes,
    new: &Hashes,
    changes: &ChangeSet,
    rules: &crate::urls::UrlRules,
    purged: &BTreeSet<String>,
) -> Hashes {
    let mut next = old.clone();
    for (path, _) in changes.paths() {
        if !rules.urls_for(path).iter().all(|u| purged.contains(u)) {
            continue;
        }
        match new.get(path) {
            Some(hash) => next.insert(path.to_string(), hash.clone()),
            None => next.remove(path),
        };
    }
    next
}

fn print_failures(outcome: &Outcome, purger: &AnyPurger, console: &mut Console<'_>) {
    // One line per distinct failure, not one per batch.
    let mut seen: Vec<(String, Option<String>, usize)> = Vec::new();
    for (job, failure) in outcome.failures() {
        let line = failure.to_string();
        match seen.iter_mut().find(|(l, _, _)| *l == line) {
            Some(entry) => entry.2 += job.urls.len(),
            None => seen.push((line, failure.hint.clone(), job.urls.len())),
        }
    }
    for (line, hint, urls) in seen {
        let _ = writeln!(
            console.err,
            "error: {} purge via {} failed ({} URL{}): {line}",
            purger.name(),
            purger.target(),
            urls,
            if urls == 1 { "" } else { "s" }
        );
        if let Some(hint) = hint {
            let _ = writeln!(console.err, "hint: {hint}");
        }
    }
}

/// `sitepurge run`: plan, purge, then record what was purged.
pub async fn run(flags: &Common, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let settings = config::resolve(flags, ctx, true)?;
    let _lock = lock::acquire(&settings.state, lock::DEFAULT_WAIT)?;
    let output = settings.output;
    let (report, exit) = run_once(settings, ctx, &Stop::never(), console).await?;
    let _ = report::print(&report, output, console.out);
    Ok(exit)
}

/// One pass of the pipeline (what `run` does, and what `watch` does on each cycle): plan, purge,
/// save the state for what was purged. The caller holds the lock and prints the report.
pub async fn run_once(
    settings: Settings,
    ctx: &Context,
    stop: &Stop,
    console: &mut Console<'_>,
) -> Result<(Report, Exit)> {
    let survey = survey(settings, BadState::Fail, console)?;
    let s = &survey.settings;
    let bases: Vec<String> = s
        .rules
        .base_urls
        .iter()
        .map(|b| b.as_str().to_string())
        .collect();
    let fingerprint = s.scan.content.fingerprint();
    let old = &survey.old;

    let mut exit = Exit::Ok;
    let mut purge_report = None;
    let now_in_force = (bases, s.rules.options(), fingerprint);
    // What to record: the files, (base URLs, URL options, rules fingerprint) they were purged
    // under, and the paths still pending; None leaves the state alone.
    type InForce = (Vec<String>, Vec<String>, String);
    let no_pending = BTreeSet::new;
    let record: Option<(Hashes, InForce, BTreeSet<String>)> = match survey.plan.decision {
        Decision::Nothing => match &survey.previous {
            None => Some((survey.snapshot.files.clone(), now_in_force, no_pending())),
            // Nothing changed; only fill in base URLs a bare `baseline` did not know.
            Some(m) if m.base_urls.is_empty() => {
                Some((m.files.clone(), now_in_force, m.pending.clone()))
            }
            Some(_) => None,
        },
        Decision::Urls | Decision::Everything => {
            let purger = connect(s, ctx, stop, console).await?;
            let all_urls: BTreeSet<String> =
                survey.plan.urls.iter().map(|u| u.url.clone()).collect();
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
                purge::batches(&urls, &s.cloudflare.cache_key_headers, purger.batch_size())
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
                let urls: Vec<String> = all_urls.iter().cloned().collect();
                purge::batches(&urls, &s.cloudflare.cache_key_headers, purger.batch_size())
            };
            debug(
                s,
                console,
                format_args!("sending {} request(s) to {}", jobs.len(), purger.target()),
            );
            // Retries are reported as they happen: a run backing off says so at once.
            let note = retry_note(s.output.verbosity >= 0);
            let outcome = purge::execute(&purger, jobs, &s.cloudflare.policy, stop, &note).await;
            print_failures(&outcome, &purger, console);
            let purged = outcome.purged();
            let pending: Vec<String> = outcome.pending().into_iter().collect();
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
                urls_pending: pending,
                failures: outcome.failures().map(|(_, f)| f.clone()).collect(),
            });
            if !outcome.all_ok() {
                let credentials = outcome
                    .failures()
                    .all(|(_, f)| f.kind == FailureKind::Credentials);
                exit = if credentials {
                    Exit::Usage
                } else {
                    Exit::PurgeFailed
                };
            }
            let in_force_before = |m: &Manifest| {
                (
                    m.base_urls.clone(),
                    m.url_options.clone(),
                    m.content_rules.clone(),
                )
            };
            match (everything, outcome.all_ok(), &survey.previous) {
                (true, true, _) => {
                    Some((survey.snapshot.files.clone(), now_in_force, no_pending()))
                }
                // Everything failed: the old state (rules and base URLs too) stays in force, and
                // every changed path is pending.
                (true, false, Some(m)) if !one_by_one => {
                    let mut pending = m.pending.clone();
                    pending.extend(
                        survey
                            .changes
                            .paths()
                            .into_iter()
                            .map(|(p, _)| p.to_string()),
                    );
                    Some((m.files.clone(), in_force_before(m), pending))
                }
                (true, false, None) if !one_by_one => None,
                // Partly done, URL by URL: files whose URLs all went advance; the rest are
                // pending.
                (_, _, Some(m)) => Some((
                    advance(
                        old,
                        &survey.snapshot.files,
                        &survey.changes,
                        &s.rules,
                        &purged,
                    ),
                    in_force_before(m),
                    still_pending(&survey.changes, &s.rules, &purged),
                )),
                (_, _, None) => None,
            }
        }
    };
    let mut saved = false;
    if let Some((files, (base_urls, url_options, rules), pending)) = record {
        let unchanged = survey.previous.as_ref().is_some_and(|m| {
            m.files == files
                && m.base_urls == base_urls
                && m.url_options == url_options
                && m.content_rules == rules
                && m.pending == pending
        });
        if !unchanged {
            let mut manifest = Manifest::new(ctx.now, base_urls, url_options, rules, files);
            manifest.pending = pending;
            manifest::save(&s.state, &manifest)?;
            saved = true;
        }
    }
    let mut report = report_of("run", &survey, ctx, saved);
    report.purge = purge_report;
    Ok((report, exit))
}

/// `sitepurge verify`: check credentials and zone, print what was found.
pub async fn verify(flags: &Common, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let settings = config::resolve_without_site(flags, ctx)?;
    if settings.provider == ProviderName::HttpPurge {
        // Nothing to ask a cache before purging; check that the settings resolve.
        let purger = config::http_purge(&settings, ctx)?;
        if settings.output.json {
            let found = serde_json::json!({
                "provider": "http-purge",
                "method": purger.method.as_str(),
                "target": purger.target(),
                "headers": purger.headers.len(),
                "everything": purger.everything.as_ref().map(|e| e.method.as_str().to_string()),
            });
            let _ = writeln!(console.out, "{found}");
        } else if settings.output.verbosity >= 0 {
            let _ =
                writeln!(
                    console.out,
                    "http-purge: {} requests to {}; {} extra header(s); everything: {}",
                    purger.method,
                    purger.target(),
                    purger.headers.len(),
                    purger.everything.as_ref().map_or(
                        "every URL one by one".to_string(),
                        |e| format!("{} request", e.method)
                    )
                );
        }
        return Ok(Exit::Ok);
    }
    let cf = &settings.cloudflare;
    let auth = config::credentials(cf, ctx)?;
    let described = auth.describe();
    let is_token = matches!(auth, cloudflare::Auth::Token(_));
    let api = cf.api(auth)?;
    let mut found = serde_json::Map::new();
    let mut lines = vec![format!("credentials: {described}")];
    found.insert("credentials".into(), described.into());
    if is_token {
        let note = retry_note(settings.output.verbosity >= 0);
        let token = purge::retry(
            &cf.policy,
            "verifying the API token",
            &Stop::never(),
            &note,
            || api.verify_token(),
        )
        .await
        .map_err(|failure| Error::Api {
            action: "verifying the API token".into(),
            failure,
        })?;
        lines.push(format!(
            "token: {} (id {}{})",
            token.status,
            token.id,
            token
                .expires_on
                .as_deref()
                .map(|e| format!(", expires {e}"))
                .unwrap_or_default()
        ));
        found.insert("token_status".into(), token.status.clone().into());
        if token.status != "active" {
            return Err(Error::Setting {
                setting: "CLOUDFLARE_API_TOKEN",
                message: format!("the API token is {}, not active", token.status),
                hint: Some("create or re-enable a token with \"Cache Purge\" on the zone".into()),
            });
        }
    }
    let zone = zone_name(&settings)?;
    if settings.cloudflare.zone.is_none() {
        check_one_zone(&settings, &zone)?;
    }
    // Whether the API has vouched for the credentials, and found the zone.
    let mut checked = is_token;
    let mut zone_found = false;
    match zone {
        ZoneRef::Id(id) => {
            lines.push(format!(
                "zone: {id} (given as an id; a purge request checks it)"
            ));
            found.insert("zone_id".into(), id.into());
        }
        ZoneRef::Name(name) => {
            checked = true;
            zone_found = true;
            let action = format!("looking up the Cloudflare zone {name}");
            let note = retry_note(settings.output.verbosity >= 0);
            let zone = purge::retry(&cf.policy, &action, &Stop::never(), &note, || {
                api.find_zone(&name)
            })
            .await
            .map_err(|failure| Error::Api {
                action: action.clone(),
                failure,
            })?;
            let zone = zone.ok_or_else(|| zone_not_found(&name))?;
            lines.push(format!(
                "zone: {} is {} (status: {})",
                zone.name, zone.id, zone.status
            ));
            found.insert("zone_id".into(), zone.id.into());
            found.insert("zone_name".into(), zone.name.into());
            found.insert("zone_status".into(), zone.status.into());
        }
    }
    found.insert("credentials_checked".into(), checked.into());
    if settings.output.json {
        let _ = writeln!(console.out, "{}", serde_json::Value::Object(found));
    } else if settings.output.verbosity >= 0 {
        for line in lines {
            let _ = writeln!(console.out, "{line}");
        }
        let verdict = if checked && zone_found {
            "ok: the credentials work and the zone is known; whether they may purge (\"Cache Purge\") shows on the first purge"
        } else if checked {
            "ok: the token is active; the zone id and the \"Cache Purge\" permission are checked by the first purge"
        } else {
            "not checked: a global API key with a zone id leaves nothing to ask short of a purge \
             (give the zone by name to have it looked up, or use an API token)"
        };
        let _ = writeln!(console.out, "{verdict}");
    }
    Ok(Exit::Ok)
}

/// After a stop, how long the watcher may take to finish its cycle (a request in flight gets
/// [`purge::STOP_GRACE`], then the state is saved) before the process ends regardless. Below
/// the systemd unit's TimeoutStopSec.
const STOP_LIMIT: Duration = Duration::from_secs(15);

/// SIGINT or SIGTERM.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// The one line (or JSON object) a watch cycle prints.
fn cycle_line(report: &Report, exit: Exit, took: Duration, json: bool, now: SystemTime) -> String {
    let time = humantime::format_rfc3339_seconds(now).to_string();
    let c = &report.changes;
    let changed = c.len();
    let purge = report.purge.as_ref();
    let purged = purge.map_or(0, |p| p.urls_purged);
    let pending = purge.map_or(0, |p| p.urls_pending.len());
    let requests = purge.map_or(0, |p| p.requests);
    if json {
        return serde_json::json!({
            "time": time,
            "files_changed": changed,
            "added": c.added.len(),
            "modified": c.modified.len(),
            "removed": c.removed.len(),
            "decision": report.decision,
            "reason": report.reason,
            "urls_purged": purged,
            "urls_pending": pending,
            "requests": requests,
            "seconds": (took.as_secs_f64() * 1000.0).round() / 1000.0,
            "ok": exit == Exit::Ok,
        })
        .to_string();
    }
    let files = format!(
        "{changed} file{} changed ({} added, {} modified, {} removed)",
        if changed == 1 { "" } else { "s" },
        c.added.len(),
        c.modified.len(),
        c.removed.len()
    );
    let what = match (report.decision, exit) {
        (Decision::Nothing, _) => "nothing to purge".to_string(),
        (_, Exit::Ok) if report.decision == Decision::Everything => format!(
            "everything purged ({})",
            report.explanation.split(':').next().unwrap_or_default()
        ),
        (_, Exit::Ok) => format!(
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

/// `sitepurge watch`: run a cycle whenever the output folder settles after changes.
pub async fn watch(
    args: &crate::cli::WatchArgs,
    ctx: &Context,
    console: &mut Console<'_>,
) -> Result<Exit> {
    let settings = config::resolve(&args.common, ctx, true)?;
    let timing = config::resolve_watch(args, ctx)?;
    // A watcher that could never purge should not start (a wrong LoadCredential= path would
    // otherwise go unnoticed until the next deploy).
    match settings.provider {
        ProviderName::Cloudflare => {
            let auth = config::credentials(&settings.cloudflare, ctx)?;
            settings.cloudflare.api(auth)?;
        }
        ProviderName::HttpPurge => {
            config::http_purge(&settings, ctx)?;
        }
    }
    let _lock = lock::acquire(&settings.state, lock::DEFAULT_WAIT)?;
    let quiet = settings.output.verbosity < 0;
    let json = settings.output.json;
    let own = vec![settings.state.clone(), lock::lock_path(&settings.state)];
    let (mut folder, mut events) = watch::FolderWatch::start(
        &settings.dir,
        own,
        timing.poll,
        timing.settle.max(Duration::from_millis(500)),
    )
    .map_err(|e| Error::Setting {
        setting: "dir",
        message: format!("cannot watch {}: {e}", settings.dir.display()),
        hint: None,
    })?;
    let poll_every = humantime::format_duration(timing.settle.max(Duration::from_millis(500)));
    let mut signals = Signals::new().map_err(|e| Error::Setting {
        setting: "watch",
        message: format!("cannot listen for signals: {e}"),
        hint: None,
    })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = Stop::new(stop_rx);
    // Signals are handled on a task of their own, so they work even while this one is busy
    // hashing: the first one stops the watcher; a second one, or STOP_LIMIT later, ends the
    // process at once (the state file is valid at any moment: it is replaced atomically).
    tokio::spawn(async move {
        signals.next().await;
        let _ = stop_tx.send(true);
        tokio::select! {
            () = signals.next() => {}
            () = tokio::time::sleep(STOP_LIMIT) => {}
        }
        std::process::exit(Exit::Ok.code().into());
    });
    let debounce = watch::Timing {
        settle: timing.settle,
        max_wait: timing.max_wait,
    };
    let mut said_waiting = false;
    // The first cycle runs at once: whatever changed while sitepurge was not running.
    let mut wake = watch::Wake::Changes;
    loop {
        if wake == watch::Wake::Closed {
            break;
        }
        folder.refresh();
        if let Some(why) = folder.take_note() {
            let _ = writeln!(
                console.err,
                "note: {why}: polling the folder every {poll_every}"
            );
        }
        let now = SystemTime::now();
        let cycle_ctx = Context { now, ..ctx.clone() };
        let started = Instant::now();
        let (outcome, stopping) = {
            let cycle = run_once(settings.clone(), &cycle_ctx, &stop, console);
            tokio::pin!(cycle);
            tokio::select! {
                outcome = &mut cycle => (Some(outcome), false),
                () = stop.wait() => {
                    // No new requests; those in flight may finish, briefly; the cycle then
                    // saves the state for what was purged.
                    (Some(cycle.await), true)
                }
            }
        };
        if stopping {
            if let Some(Ok((report, exit))) = outcome
                && !quiet
            {
                let line = cycle_line(&report, exit, started.elapsed(), json, now);
                let _ = writeln!(console.out, "{line}");
            }
            return Ok(Exit::Ok);
        }
        let Some(outcome) = outcome else {
            return Ok(Exit::Ok);
        };
        let pending = match outcome {
            Ok((report, exit)) => {
                said_waiting = false;
                if !quiet {
                    let _ = writeln!(
                        console.out,
                        "{}",
                        cycle_line(&report, exit, started.elapsed(), json, now)
                    );
                }
                exit != Exit::Ok
            }
            Err(Error::MissingSite { path }) => {
                if !said_waiting && !quiet {
                    let _ = writeln!(
                        console.err,
                        "note: waiting for {} to appear",
                        display(&path, &ctx.cwd)
                    );
                }
                said_waiting = true;
                false
            }
            Err(e) => {
                let _ = writeln!(console.err, "error: {e}");
                if let Some(hint) = e.hint() {
                    let _ = writeln!(console.err, "hint: {hint}");
                }
                if !quiet {
                    // Every cycle has its line, a failed one too.
                    let time = humantime::format_rfc3339_seconds(now);
                    let line = if json {
                        serde_json::json!({
                            "time": time.to_string(),
                            "ok": false,
                            "error": e.to_string(),
                            "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
                        })
                        .to_string()
                    } else {
                        format!("{time} cycle failed: {e}")
                    };
                    let _ = writeln!(console.out, "{line}");
                }
                matches!(e.exit(), Exit::PurgeFailed | Exit::Site | Exit::Usage)
            }
        };
        let _ = console.out.flush();
        let retry = pending.then_some(timing.retry_every);
        wake = tokio::select! {
            wake = watch::next_cycle(&mut events, debounce, retry, |touch: &watch::Touch| {
                if touch.folder {
                    folder.refresh();
                }
            }) => wake,
            () = stop.wait() => return Ok(Exit::Ok),
        };
    }
    Ok(Exit::Ok)
}

/// `sitepurge init`: writes a commented sitepurge.toml for the site in the current folder.
pub fn init(args: &InitArgs, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let path = ctx.cwd.join(config::DEFAULT_CONFIG);
    if path.exists() && !args.force {
        return Err(Error::ConfigExists { path });
    }
    let detected = site_config::detect(&ctx.cwd).map_err(config::site_config_error)?;
    let generator = match args.generator {
        Some(Generator::None) => None,
        Some(g) => Some((g, None)),
        None => detected.map(|d| (d.generator, Some(d.file))),
    };
    let dir = generator
        .as_ref()
        .and_then(|(g, _)| g.output_dir())
        .map(str::to_string)
        .or_else(|| {
            let found = config::default_dir(&ctx.cwd).ok()?;
            Some(found.file_name()?.to_string_lossy().into_owned())
        });
    let mut base_urls = Vec::new();
    for raw in args.base_urls.iter().filter(|b| !b.trim().is_empty()) {
        let base = BaseUrl::parse(raw).map_err(|message| Error::Setting {
            setting: "base_urls",
            message,
            hint: None,
        })?;
        base_urls.push(base.as_str().to_string());
    }
    let (mut site_base_url, mut base_url_not_used) = (None, None);
    if let Some((g, _)) = &generator {
        match site_config::base_url(*g, &ctx.cwd, &[]).map_err(config::site_config_error)? {
            SiteBaseUrl::Found { url, file } => site_base_url = Some((url, file)),
            SiteBaseUrl::Unusable { value, file, why } => {
                base_url_not_used = Some(format!("{file} sets the base URL to {value:?}: {why}"))
            }
            SiteBaseUrl::Absent => {}
        }
    }
    let found = init::Found {
        generator,
        dir,
        base_urls,
        site_base_url,
        base_url_not_used,
        provider: args.provider.unwrap_or_default(),
    };
    std::fs::write(&path, init::config_text(&found)).map_err(|source| Error::WriteFile {
        path: path.clone(),
        source,
    })?;
    let _ = console
        .out
        .write_all(init::summary(&found, config::DEFAULT_CONFIG).as_bytes());
    Ok(Exit::Ok)
}

/// `sitepurge completions SHELL`: the completion script, generated from the CLI definition.
pub fn completions(args: &CompletionsArgs, console: &mut Console<'_>) -> Result<Exit> {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "sitepurge", console.out);
    Ok(Exit::Ok)
}

/// `sitepurge man`: the man page, generated from the CLI definition.
pub fn man(args: &ManArgs, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let command = <Cli as clap::CommandFactory>::command();
    match &args.dir {
        None => {
            let _ = clap_mangen::Man::new(command).render(console.out);
        }
        Some(dir) => {
            let dir = ctx.cwd.join(dir);
            let write_error = |source| Error::WriteFile {
                path: dir.clone(),
                source,
            };
            std::fs::create_dir_all(&dir).map_err(write_error)?;
            clap_mangen::generate_to(command, &dir).map_err(write_error)?;
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(bases: &[&str]) -> Settings {
        let dir = tempfile::tempdir().expect("tempdir");
        let flags = Common {
            dir: Some("_site".into()),
            base_urls: bases.iter().map(|b| b.to_string()).collect(),
            ..Default::default()
        };
        let ctx = Context {
            cwd: dir.path().to_path_buf(),
            now: SystemTime::UNIX_EPOCH,
            env: BTreeMap::new(),
        };
        config::resolve(&flags, &ctx, true).expect("settings")
    }

    #[test]
    fn base_urls_must_all_be_in_the_zone() {
        let s = settings(&["https://example.com/", "https://www.example.com/"]);
        assert!(check_one_zone(&s, &ZoneRef::Name("example.com".into())).is_ok());
        let s = settings(&["https://example.com/", "https://example.net/"]);
        let err = check_one_zone(&s, &ZoneRef::Name("example.com".into())).expect_err("two zones");
        assert!(err.to_string().contains("https://example.net/"), "{err}");
        let id = ZoneRef::Id("0123456789abcdef0123456789abcdef".into());
        assert!(check_one_zone(&s, &id).is_err());
        let s = settings(&["https://a.example.co.uk/", "https://b.example.co.uk/"]);
        assert!(check_one_zone(&s, &id).is_ok());
        // A host that is not the zone but ends like it is still outside it.
        let s = settings(&["https://notexample.com/"]);
        assert!(check_one_zone(&s, &ZoneRef::Name("example.com".into())).is_err());
    }
}
