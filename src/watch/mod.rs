//! Watch mode: the `run` pipeline in a loop, one cycle whenever the output folder settles after
//! file events ([`events`]), and again every `retry_every` while URLs are pending. The hashes
//! decide what changed; the events only say when to look.

pub mod events;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::config::{Settings, WatchSettings};
use crate::context::Context;
use crate::error::{Error, Exit, Result};
use crate::pipeline;
use crate::report::{self, Console};
use events::{FolderWatch, Touch, Wake};

/// Runs cycles until `stop` is cancelled. The caller holds the state's lock.
pub async fn watch(
    settings: Settings,
    timing: WatchSettings,
    ctx: &Context,
    stop: &CancellationToken,
    console: &mut Console<'_>,
) -> Result<Exit> {
    let quiet = settings.output.verbosity < 0;
    let json = settings.output.json;
    let own = vec![
        settings.state.clone(),
        crate::lock::lock_path(&settings.state),
    ];
    let poll = timing.settle.max(Duration::from_millis(500));
    let (mut folder, mut events) = FolderWatch::start(&settings.dir, own, timing.poll, poll)
        .map_err(|e| {
            Error::setting(
                "dir",
                format!("cannot watch {}: {e}", settings.dir.display()),
                None,
            )
        })?;
    let poll_every = humantime::format_duration(poll);
    let debounce = events::Timing {
        settle: timing.settle,
        max_wait: timing.max_wait,
    };
    let mut said_waiting = false;
    // The first cycle runs at once: whatever changed while sitepurge was not running.
    let mut wake = Wake::Changes;
    while wake != Wake::Closed {
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
        // After a stop the cycle sends no new request, gives those in flight a short grace,
        // and saves the state for what was purged.
        let outcome = pipeline::run_once(settings.clone(), &cycle_ctx, stop, console).await;
        let pending = match outcome {
            Ok((report, exit)) => {
                said_waiting = false;
                report::print_state_error(&report, console);
                if !quiet {
                    let line =
                        report::cycle_line(&report, exit == Exit::Ok, started.elapsed(), json, now);
                    let _ = writeln!(console.out, "{line}");
                }
                exit != Exit::Ok
            }
            Err(Error::Stopped) => false,
            Err(Error::MissingSite { path }) => {
                if !said_waiting && !quiet {
                    let shown = path.strip_prefix(&ctx.cwd).unwrap_or(&path);
                    let _ = writeln!(
                        console.err,
                        "note: waiting for {} to appear",
                        Path::new(shown).display()
                    );
                }
                said_waiting = true;
                false
            }
            Err(e) => {
                report::print_error(&e, false, console);
                if !quiet {
                    // Every cycle has its line, a failed one too.
                    let line = report::failed_cycle_line(&e, started.elapsed(), json, now);
                    let _ = writeln!(console.out, "{line}");
                }
                matches!(e.exit(), Exit::PurgeFailed | Exit::Site | Exit::Usage)
            }
        };
        let _ = console.out.flush();
        if stop.is_cancelled() {
            break;
        }
        let retry = pending.then_some(timing.retry_every);
        wake = tokio::select! {
            wake = events::next_cycle(&mut events, debounce, retry, |touch: &Touch| {
                if touch.folder {
                    folder.refresh();
                }
            }) => wake,
            () = stop.cancelled() => break,
        };
    }
    Ok(Exit::Ok)
}
