//! The commands, thin: each parses what it needs, resolves the settings, calls the pipeline (or
//! the provider setup), prints through report and returns the exit code.

use crate::cli::{
    ApplyArgs, Cli, Common, CompletionsArgs, ExplainArgs, InitArgs, ManArgs, RunArgs, WatchArgs,
};
use crate::config;
use crate::connect;
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::generator::Generator;
use crate::init;
use crate::lock;
use crate::pipeline::{self, BadState};
use crate::plan;
use crate::planfile;
use crate::report::{self, Console};
use crate::site_config::{self, SiteBaseUrl};
use crate::stop;
use crate::urls::BaseUrl;
use crate::watch;

/// `sitepurge plan [--out FILE]`: what a run would purge, and why; with `out`, also the plan
/// file for `apply`. With `state_url`, the previous state is the one published with the live
/// site; with `publish_manifest`, the new state is written into the output folder for the
/// deploy to publish.
pub async fn plan(
    flags: &Common,
    out: Option<&std::path::Path>,
    summary: Option<&std::path::Path>,
    ctx: &Context,
    console: &mut Console<'_>,
) -> Result<Exit> {
    let settings = config::resolve(flags, ctx, true)?;
    let stop = stop::on_signals(Exit::PurgeFailed).map_err(signals_error)?;
    // The URLs are listed when the report shows them (or they are to be purged, or applied).
    let listing = if settings.output.json
        || settings.output.verbosity >= 1
        || out.is_some()
        || settings.publishing.manifest_path.is_some()
    {
        plan::Listing::All
    } else {
        plan::Listing::WhenPurgingThem
    };
    let (base, source) = match settings.publishing.state_url.clone() {
        Some(url) => {
            let (source, found) = pipeline::published_state(&settings, &url, console).await?;
            (
                planfile::Base::Url {
                    url: url.to_string(),
                    found,
                },
                source,
            )
        }
        // Fingerprinted before it is read: if it changes meanwhile, apply sees the difference.
        None => (
            planfile::Base::File {
                path: settings.state.display().to_string(),
                fingerprint: planfile::fingerprint_file(&settings.state)?,
            },
            pipeline::Previous::File,
        ),
    };
    let survey = pipeline::survey_from(settings, source, BadState::Fail, listing, &stop, console)?;
    if let Some(out) = out {
        let file = pipeline::plan_file(&survey, base, ctx);
        planfile::save(&ctx.cwd.join(out), &file)?;
    }
    if let Some(rel) = &survey.settings.publishing.manifest_path {
        pipeline::publish_manifest(&survey, rel, ctx)?;
    }
    let report = pipeline::report_of("plan", &survey, ctx, false);
    summarize(summary, &report, console);
    // A closed stdout (e.g. `| head`) is not a failure.
    let _ = report::print(&report, survey.settings.output, console.out);
    Ok(Exit::Ok)
}

/// `sitepurge baseline`: record the site as it is; purge nothing.
pub fn baseline(flags: &Common, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let settings = config::resolve(flags, ctx, false)?;
    let _lock = lock::acquire(&settings.state, lock::DEFAULT_WAIT)?;
    let stop = stop::on_signals(Exit::PurgeFailed).map_err(signals_error)?;
    let survey = pipeline::survey(
        settings,
        BadState::Replace,
        plan::Listing::Nothing,
        &stop,
        console,
    )?;
    pipeline::record_baseline(&survey, ctx)?;
    let mut report = pipeline::report_of("baseline", &survey, ctx, true);
    report.decision = plan::Decision::Nothing;
    report.reason = plan::Reason::Baseline;
    report.explanation = survey.plan.explain_reason(plan::Reason::Baseline);
    let _ = report::print(&report, survey.settings.output, console.out);
    Ok(Exit::Ok)
}

/// `sitepurge run`: plan, purge, then record what was purged. A signal stops it the way it
/// stops `watch`; the exit code then says whether anything is still pending.
pub async fn run(args: &RunArgs, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let mut settings = config::resolve(&args.common, ctx, true)?;
    if settings.publishing.state_url.is_some() {
        return Err(Error::setting(
            "state_url",
            "`run` reads and records the state file; the published state is for deploys in two steps".into(),
            Some("run `sitepurge plan --out plan.json` before the deploy and `sitepurge apply plan.json` after it, or remove state_url"),
        ));
    }
    if args.no_check {
        settings.publishing.check = crate::publish::CheckCount::Sample(0);
    }
    let _lock = lock::acquire(&settings.state, lock::DEFAULT_WAIT)?;
    let output = settings.output;
    let stop = stop::on_signals(Exit::PurgeFailed).map_err(signals_error)?;
    let (report, exit) = pipeline::run_once(settings, ctx, &stop, console).await?;
    let _ = report::print(&report, output, console.out);
    summarize(args.summary.as_deref(), &report, console);
    report::print_state_error(&report, console);
    Ok(exit)
}

/// `sitepurge apply PLAN`: purge exactly what the plan file says and record it, once its
/// settings and base state are checked to be those of today.
pub async fn apply(args: &ApplyArgs, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let mut settings = config::resolve_for_apply(&args.common, ctx)?;
    if args.no_check {
        settings.publishing.check = crate::publish::CheckCount::Sample(0);
    }
    let path = ctx.cwd.join(&args.plan);
    let file = planfile::load(&path)?;
    if file.settings != pipeline::settings_fingerprint(&settings) {
        return Err(Error::PlanStale {
            path,
            what: "the settings differ from those it was made with (base URLs, URL options, content rules, provider, zone or endpoint)".into(),
        });
    }
    let output = settings.output;
    let _lock = lock::acquire(&settings.state, lock::DEFAULT_WAIT)?;
    let id = planfile::id(&file);
    let (previous, recording) = match &file.base {
        planfile::Base::File { fingerprint, .. } => {
            let previous = crate::manifest::load(&settings.state)?;
            // The state it was made from, or the state an earlier apply of it left (a re-run
            // of a failed apply job): anything else recorded meanwhile makes it stale.
            let applied_before = previous
                .as_ref()
                .is_some_and(|m| m.applied_plan.as_deref() == Some(id.as_str()));
            if planfile::fingerprint_file(&settings.state)? != *fingerprint && !applied_before {
                return Err(Error::PlanStale {
                    path,
                    what: format!(
                        "the state file {} changed since the plan was made (another run or apply recorded it)",
                        settings.state.display()
                    ),
                });
            }
            (previous, pipeline::Recording::Applied(id))
        }
        planfile::Base::Url { .. } => (None, pipeline::Recording::Published),
    };
    let stop = stop::on_signals(Exit::PurgeFailed).map_err(signals_error)?;
    let survey = pipeline::survey_of_plan(settings, file, previous);
    let (report, exit) =
        pipeline::carry_out("apply", survey, recording, ctx, &stop, console).await?;
    let _ = report::print(&report, output, console.out);
    summarize(args.summary.as_deref(), &report, console);
    report::print_state_error(&report, console);
    Ok(exit)
}

/// `sitepurge verify`: check credentials and zone, print what was found.
pub async fn verify(flags: &Common, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let settings = config::resolve_without_site(flags, ctx)?;
    report::warn_all(settings.output, &settings.notes, console);
    let found = connect::verify(&settings, ctx).await?;
    let _ = report::print_verified(&found, settings.output, console.out);
    Ok(Exit::Ok)
}

/// `sitepurge watch`: run a cycle whenever the output folder settles after changes.
pub async fn watch(args: &WatchArgs, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let (settings, timing) = config::resolve_watch(args, ctx)?;
    // A watcher that could never purge should not start (a wrong LoadCredential= path would
    // otherwise go unnoticed until the next deploy).
    connect::check_ready(&settings, ctx)?;
    let _lock = lock::acquire(&settings.state, lock::DEFAULT_WAIT)?;
    let stop = stop::on_signals(Exit::Ok).map_err(signals_error)?;
    watch::watch(settings, timing, ctx, &stop, console).await
}

/// Appends the report's Markdown to `--summary FILE`; a file that cannot be written is a
/// warning, never a failure of the purge.
fn summarize(path: Option<&std::path::Path>, report: &report::Report, console: &mut Console<'_>) {
    if let Some(path) = path
        && let Err(e) = report::append_summary(path, &report::markdown(report))
    {
        let _ = writeln!(
            console.err,
            "warning: cannot write the summary to {}: {e}",
            path.display()
        );
    }
}

fn signals_error(e: std::io::Error) -> Error {
    Error::setting("signals", format!("cannot listen for signals: {e}"), None)
}

/// `sitepurge explain PATH`: one file, as the scan, the state and the URL rules see it.
pub fn explain(args: &ExplainArgs, ctx: &Context, console: &mut Console<'_>) -> Result<Exit> {
    let settings = config::resolve(&args.common, ctx, false)?;
    let rel = args.path.trim_start_matches("./").trim_start_matches('/');
    if !crate::manifest::is_site_path(rel) {
        return Err(Error::setting(
            "PATH",
            format!("{:?} is not a path inside the output folder", args.path),
            Some("give it relative to the output folder, like blog/first-post/index.html"),
        ));
    }
    let file = settings.dir.join(rel);
    let (hash, blanked) = if file.is_file() {
        let (hash, blanked) =
            crate::scan::explain_file(&settings.dir, rel, &settings.scan.content)?;
        (Some(hash.to_string()), blanked)
    } else {
        (None, Vec::new())
    };
    let previous = crate::manifest::load(&settings.state)?;
    let recorded = previous
        .as_ref()
        .and_then(|m| m.files.get(rel).map(|h| h.to_string()));
    let status = match (&previous, &hash, &recorded) {
        (None, _, _) => "no-state",
        (Some(_), Some(h), Some(r)) if h == r => "unchanged",
        (Some(_), Some(_), Some(_)) => "modified",
        (Some(_), Some(_), None) => "added",
        (Some(_), None, Some(_)) => "removed",
        (Some(_), None, None) => "absent",
    };
    let found = report::Explained {
        path: rel.to_string(),
        status,
        pending: previous.as_ref().is_some_and(|m| m.pending.contains(rel)),
        ignored: settings.scan.ignore.is_match(rel),
        immutable: settings.immutable.matches(rel),
        hash,
        recorded,
        blanked: blanked
            .into_iter()
            .map(|b| report::BlankedReport {
                rule: b.rule,
                at: b.at,
                text: b.text,
                before: b.before,
                after: b.after,
            })
            .collect(),
        urls: settings.rules.urls_for(rel),
    };
    let _ = report::print_explained(&found, settings.output, console.out);
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
            SiteBaseUrl::InCode { file, key } => {
                base_url_not_used = Some(format!(
                    "{file} sets it as {key} in JavaScript, which sitepurge does not read"
                ))
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
