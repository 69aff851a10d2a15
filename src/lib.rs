//! sitepurge: purge exactly the CDN URLs that a static site build changed.
//!
//! The modules, in the order a run goes through them ([`pipeline`] reads top to bottom the same
//! way). Each imports only modules listed above it.

// What a run starts from.
pub mod cli;
pub mod context;
pub mod error;
pub mod generator;
pub mod plan;
pub mod provider;
pub mod secret;
pub mod site_config;
pub mod urls;

// The pipeline: scan → manifest → diff → urls → plan → purge → record → report.
pub mod diff;
pub mod manifest;
pub mod purge;
pub mod record;
pub mod report;
pub mod scan;

// Settings, the provider set up from them, and the pipeline that uses both.
pub mod config;
pub mod connect;
pub mod lock;
pub mod pipeline;

// Commands.
pub mod app;
pub mod init;
pub mod stop;
pub mod watch;

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
            let json = cli.command.common().is_some_and(|c| c.json);
            report::print_error(&e, json, &mut console);
            e.exit()
        }
    }
}
