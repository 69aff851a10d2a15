//! sitepurge: purge exactly the CDN URLs that a static site build changed.
//!
//! The modules are listed in layers, and each imports only modules listed above it (pinned by
//! a test below). [`pipeline`] reads top to bottom in the same order as the middle group.

// Foundations: a command's surroundings, secrets, the providers' API clients, errors, and what
// the site's generator and its config files say.
pub mod context;
pub mod secret;
pub mod provider;
pub mod error;
pub mod generator;
pub mod site_config;

// The pipeline: scan → manifest → diff → urls → plan → purge → record → report.
pub mod scan;
pub mod manifest;
pub mod diff;
pub mod urls;
pub mod plan;
pub mod compact;
pub mod purge;
pub mod publish;
pub mod record;
pub mod planfile;
pub mod report;

// The command line, the settings it resolves to, the provider set up from them, one run.
pub mod cli;
pub mod config;
pub mod connect;
pub mod lock;
pub mod pipeline;

// Commands: stopping on signals, watch mode, init, and the thin command functions.
pub mod stop;
pub mod watch;
pub mod init;
pub mod app;

use std::io::Write;

use cli::{Cli, Command};
use context::Context;
use error::Exit;
use report::Console;

/// Runs one parsed command line. Errors are printed to `err` with their hint (and with
/// `--json`, as one object on `out`); the return value is the process exit code.
pub async fn run(cli: Cli, ctx: &Context, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let mut console = Console { out, err };
    let result = match &cli.command {
        Command::Plan(args) => {
            app::plan(
                &args.common,
                args.out.as_deref(),
                args.summary.as_deref(),
                ctx,
                &mut console,
            )
            .await
        }
        Command::Baseline(flags) => app::baseline(flags, ctx, &mut console),
        Command::Run(args) if args.dry_run => {
            app::plan(
                &args.common,
                None,
                args.summary.as_deref(),
                ctx,
                &mut console,
            )
            .await
        }
        Command::Run(args) => app::run(args, ctx, &mut console).await,
        Command::Apply(args) => app::apply(args, ctx, &mut console).await,
        Command::Verify(flags) => app::verify(flags, ctx, &mut console).await,
        Command::Watch(args) => app::watch(args, ctx, &mut console).await,
        Command::Explain(args) => app::explain(args, ctx, &mut console),
        Command::Init(args) => app::init(args, ctx, &mut console),
        Command::Completions(args) => app::completions(args, &mut console),
        Command::Man(args) => app::man(args, ctx, &mut console),
    };
    match result {
        Ok(exit) => exit,
        Err(e) => {
            let json = cli.command.common().is_some_and(|c| c.json);
            report::print_error(&e, json, &mut console);
            if let Some(path) = cli.command.summary() {
                let _ =
                    report::append_summary(path, &report::markdown_error(cli.command.name(), &e));
            }
            e.exit()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The `pub mod` names of lib.rs, in order.
    fn layers() -> Vec<String> {
        include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod "))
            .map(|l| l.trim_end_matches(';').to_string())
            .collect()
    }

    /// The crate modules a module's code (not its tests or comments) names.
    fn imports(module: &str) -> Vec<String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.join(format!("{module}.rs"))];
        if let Ok(dir) = std::fs::read_dir(src.join(module)) {
            files.extend(dir.flatten().map(|e| e.path()));
        }
        let mut names = Vec::new();
        for file in files.iter().filter(|f| f.is_file()) {
            let text = std::fs::read_to_string(file).expect("read module");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (i, _) in line.match_indices("crate::") {
                    let name: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module && !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        names
    }

    #[test]
    fn modules_only_import_modules_listed_above_them() {
        let layers = layers();
        assert!(layers.len() > 20, "{layers:?}");
        let mut wrong = Vec::new();
        for (at, module) in layers.iter().enumerate() {
            for import in imports(module) {
                match layers.iter().position(|m| *m == import) {
                    Some(i) if i < at => {}
                    _ => wrong.push(format!("{module} imports {import}")),
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
