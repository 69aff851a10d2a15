//! Stopping on SIGINT or SIGTERM. The first signal cancels the token: the scan ends between two
//! files, no new purge request is sent, a request in flight gets a short grace, and the state
//! is saved for what was purged. A second signal, or [`STOP_LIMIT`] after the first, ends the
//! process at once (the state file is valid at any moment: it is replaced atomically).
//!
//! Signals are received on a task of the multi-thread runtime, never on the thread that scans,
//! so a stop works while files are being hashed.

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::error::Exit;

/// After a first signal, how long the command may take to finish (a request in flight gets
/// [`crate::purge::STOP_GRACE`], then the state is saved) before the process ends regardless.
/// Below the systemd unit's TimeoutStopSec.
pub const STOP_LIMIT: Duration = Duration::from_secs(15);

/// SIGINT or SIGTERM.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
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

/// Listens for SIGINT and SIGTERM from now on; the token is cancelled by the first one. A
/// second one ends the process with `forced` as its exit code.
pub fn on_signals(forced: Exit) -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut signals = Signals::new()?;
    let cancel = token.clone();
    tokio::spawn(async move {
        signals.next().await;
        cancel.cancel();
        tokio::select! {
            () = signals.next() => {}
            () = tokio::time::sleep(STOP_LIMIT) => {}
        }
        std::process::exit(forced.code().into());
    });
    Ok(token)
}
