//! sitepurge: purge exactly the CDN URLs that a static site build changed.
//!
//! Data flow: flags -> [`config`] settings -> [`scan`] -> [`manifest`] (last state) -> [`diff`]
//! -> [`urls`] -> [`plan`] -> provider -> [`manifest`] (new state) -> [`report`].

pub mod app;
pub mod cli;
pub mod config;
pub mod diff;
pub mod error;
pub mod generator;
pub mod init;
pub mod lock;
pub mod manifest;
pub mod plan;
pub mod provider;
pub mod purge;
pub mod report;
pub mod scan;
pub mod secret;
pub mod site_config;
pub mod urls;
pub mod watch;

use std::io::Write;

use app::{Console, Context};
use cli::{Cli, Command};
use error::Exit;

/// Runs one parsed command line. Errors are printed to `err` with their hint; the return value
/// is the process exit code.
pub async fn run(cli: Cli, ctx: &Context, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let mut console = Console { out, err };
    let result = match &cli.command {
        Command::Plan(flags) => app::plan(flags, ctx, &mut console),
        Command::Baseline(flags) => app::baseline(flags, ctx, &mut console),
        Command::Run(args) if args.dry_run => app::plan(&args.common, ctx, &mut console),
        Command::Run(args) => app::run(&args.common, ctx, &mut console).await,
        Command::Verify(flags) => app::verify(flags, ctx, &mut console).await,
        Command::Watch(args) => app::watch(args, ctx, &mut console).await,
        Command::Init(args) => app::init(args, ctx, &mut console),
        Command::Completions(args) => app::completions(args, &mut console),
        Command::Man(args) => app::man(args, ctx, &mut console),
    };
    match result {
        Ok(exit) => exit,
        Err(e) => {
            let _ = writeln!(console.err, "error: {e}");
            if let Some(hint) = e.hint() {
                let _ = writeln!(console.err, "hint: {hint}");
            }
            // A script reading --json gets an object on stdout either way.
            if cli.command.common().is_some_and(|c| c.json) {
                let object = serde_json::json!({
                    "ok": false,
                    "error": e.to_string(),
                    "hint": e.hint(),
                    "exit_code": e.exit().code(),
                });
                let _ = writeln!(console.out, "{object}");
            }
            e.exit()
        }
    }
}
