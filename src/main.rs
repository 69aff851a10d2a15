use std::process::ExitCode;

use clap::Parser;
use sitepurge::app::Context;
use sitepurge::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = match std::env::current_dir() {
        Ok(cwd) => Context {
            cwd,
            now: std::time::SystemTime::now(),
            // Read once, here; header values may name any variable ([http_purge] headers).
            env: std::env::vars().collect(),
        },
        Err(e) => {
            eprintln!("error: cannot read the current folder: {e}");
            return ExitCode::from(sitepurge::error::Exit::Usage.code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(sitepurge::error::Exit::Usage.code());
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
