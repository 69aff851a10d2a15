use std::process::ExitCode;

use clap::Parser;
use sitepurge::cli::Cli;
use sitepurge::context::Context;
use sitepurge::error::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let exit =
                sitepurge::report::usage_error(&e, std::env::args_os(), &mut std::io::stdout());
            return exit.into();
        }
    };
    let ctx = match std::env::current_dir() {
        Ok(cwd) => Context {
            cwd,
            now: std::time::SystemTime::now(),
            // Read once, here; header values may name any variable ([http_purge] headers).
            env: std::env::vars().collect(),
        },
        Err(e) => {
            eprintln!("error: cannot read the current folder: {e}");
            return Exit::Usage.into();
        }
    };
    // Two worker threads: signals are received on one while the command's own thread hashes.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Usage.into();
        }
    };
    let exit = runtime.block_on(sitepurge::run(
        cli,
        &ctx,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ));
    exit.into()
}
