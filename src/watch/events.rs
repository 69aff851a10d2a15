//! File events -> a quiet period -> "run again". Events only say
//! *when* to look; the hashes decide what changed, so a lost or merged event costs nothing.
//!
//! The watcher follows the output folder's parent (non-recursively) as well as the folder
//! itself, because generators delete and recreate their output folder and deploys rename a new
//! one into place; when the folder itself appears again it is watched anew.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::{Instant, sleep_until};

/// When to run a cycle after file events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Run once no event came for this long.
    pub settle: Duration,
    /// ...but never later than this after the first event of a burst.
    pub max_wait: Duration,
}

/// What woke the watcher up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Files changed and then settled (or `max_wait` passed).
    Changes,
    /// Nothing changed, but URLs are pending and the retry timer fired.
    Retry,
    /// The event source is gone.
    Closed,
}

/// Waits for the next reason to run a cycle: the first event, then a quiet period of
/// `timing.settle` (at most `timing.max_wait` from that first event); or, with no event, the
/// retry timer when one is given. Events already queued (e.g. written during the previous cycle)
/// start a burst at once, so they bring exactly one more cycle.
pub async fn next_cycle<E>(
    events: &mut UnboundedReceiver<E>,
    timing: Timing,
    retry_in: Option<Duration>,
    mut on_event: impl FnMut(&E),
) -> Wake {
    let first = match retry_in {
        Some(wait) => tokio::select! {
            event = events.recv() => event,
            () = tokio::time::sleep(wait) => return Wake::Retry,
        },
        None => events.recv().await,
    };
    let Some(first) = first else {
        return Wake::Closed;
    };
    on_event(&first);
    let deadline = Instant::now() + timing.max_wait;
    let mut quiet_from = Instant::now();
    loop {
        let wake_at = (quiet_from + timing.settle).min(deadline);
        tokio::select! {
            event = events.recv() => match event {
                Some(e) => {
                    on_event(&e);
                    quiet_from = Instant::now();
                }
                None => return Wake::Changes,
            },
            () = sleep_until(wake_at) => return Wake::Changes,
        }
    }
}

/// A file event that matters, already filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    /// The output folder itself appeared, vanished or was renamed: watch it anew.
    pub folder: bool,
}

/// Names that editors, rsync and sitepurge itself use for temporary files.
pub fn is_temporary(name: &str) -> bool {
    let editor = name.starts_with(".#")
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.ends_with(".tmp")
        || name == "4913";
    // rsync writes `.name.XXXXXX` and renames it into place.
    // Its six random letters and digits are rarely all lower case, unlike a real extension
    // (`.env.sample`).
    let rsync = name.starts_with('.')
        && name.rsplit_once('.').is_some_and(|(head, tail)| {
            head.len() > 1
                && tail.len() == 6
                && tail.bytes().all(|b| b.is_ascii_alphanumeric())
                && !tail.bytes().all(|b| b.is_ascii_lowercase())
        });
    editor || rsync
}

/// Whether an event on `path` concerns the output folder `dir`, and how.
pub fn classify(path: &Path, dir: &Path, own: &[PathBuf]) -> Option<Touch> {
    if own.iter().any(|o| path.starts_with(o)) {
        return None;
    }
    if path == dir {
        return Some(Touch { folder: true });
    }
    if !path.starts_with(dir) {
        return None;
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if is_temporary(name) {
        return None;
    }
    Some(Touch { folder: false })
}

/// File systems where inotify sees no changes made by other machines.
const NETWORK_FILE_SYSTEMS: [&str; 12] = [
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "afs",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "davfs",
];

/// The file system type holding `path`, from the kernel's mount table.
pub fn file_system_of(path: &Path) -> Option<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let path = std::fs::canonicalize(path).ok()?;
    file_system_in(&table, &path)
}

/// The type of the file system in a mount table (`/proc/self/mountinfo`) that holds the
/// canonical `path`: the mount with the longest mount point above it.
fn file_system_in(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options... - fstype source superoptions
        let Some(mount_point) = line.split(' ').nth(4).map(|m| m.replace("\\040", " ")) else {
            continue;
        };
        let Some(fs_type) = line
            .split(" - ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
        else {
            continue;
        };
        if path.starts_with(&mount_point)
            && best
                .as_ref()
                .is_none_or(|(len, _)| mount_point.len() >= *len)
        {
            best = Some((mount_point.len(), fs_type.to_string()));
        }
    }
    best.map(|(_, t)| t)
}

/// Why polling is used instead of inotify, if it is.
pub fn needs_polling(path: &Path) -> Option<String> {
    polling_reason(path, &file_system_of(path)?)
}

fn polling_reason(path: &Path, fs: &str) -> Option<String> {
    NETWORK_FILE_SYSTEMS.contains(&fs).then(|| {
        format!(
            "{} is on a network file system ({fs}), where file events from other machines are not seen",
            path.display()
        )
    })
}

/// The live watch on the output folder and its parent.
pub struct FolderWatch {
    /// inotify (or the platform's watcher); `None` while polling.
    watcher: Option<Box<dyn Watcher + Send>>,
    dir: PathBuf,
    parent: PathBuf,
    /// Whether the recursive watch on `dir` is in place.
    watching_dir: bool,
    /// Set by the event handler when `dir` itself changed.
    folder_changed: Arc<AtomicBool>,
    /// Why the folder is polled instead of watched, if it is.
    pub polling: Option<String>,
    /// A switch to polling not yet told to the user.
    note: Option<String>,
    tx: UnboundedSender<Touch>,
    interval: Duration,
}

impl FolderWatch {
    /// Starts watching; events that matter are sent on the returned channel. `poll` forces
    /// polling (every `interval`); it is also used, with a reason, on network file systems and
    /// when inotify cannot be.
    pub fn start(
        dir: &Path,
        own: Vec<PathBuf>,
        poll: bool,
        interval: Duration,
    ) -> notify::Result<(FolderWatch, UnboundedReceiver<Touch>)> {
        let (tx, rx) = unbounded_channel();
        let folder_changed = Arc::new(AtomicBool::new(false));
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut watch = FolderWatch {
            watcher: None,
            dir: dir.to_path_buf(),
            parent,
            watching_dir: false,
            folder_changed: folder_changed.clone(),
            polling: None,
            note: None,
            tx: tx.clone(),
            interval,
        };
        let reason = if poll {
            Some("--poll was given".to_string())
        } else {
            needs_polling(&watch.parent)
        };
        if reason.is_none() {
            let handler = handler(tx.clone(), dir.to_path_buf(), own.clone(), folder_changed);
            match notify::recommended_watcher(handler) {
                Ok(mut w) => match w.watch(&watch.parent, RecursiveMode::NonRecursive) {
                    Ok(()) => watch.watcher = Some(Box::new(w)),
                    // Typically the inotify watch limit: polling always works.
                    Err(e) => {
                        watch.polling = Some(format!(
                            "inotify cannot watch {} ({e})",
                            watch.parent.display()
                        ));
                    }
                },
                Err(e) => watch.polling = Some(format!("inotify is not available ({e})")),
            }
        } else {
            watch.polling = reason;
        }
        if watch.polling.is_some() {
            watch.note = watch.polling.clone();
            spawn_poller(dir.to_path_buf(), tx, interval);
        }
        watch.refresh();
        Ok((watch, rx))
    }

    /// A switch to polling the user has not been told about yet.
    pub fn take_note(&mut self) -> Option<String> {
        self.note.take()
    }

    /// From now on, poll: inotify could not watch the folder.
    fn fall_back_to_polling(&mut self, why: String) {
        self.watcher = None;
        self.polling = Some(why.clone());
        self.note = Some(why);
        spawn_poller(self.dir.clone(), self.tx.clone(), self.interval);
    }

    /// Puts the recursive watch on the output folder (again) when it (re)appeared.
    pub fn refresh(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let changed = self.folder_changed.swap(false, Ordering::SeqCst);
        if self.watching_dir && !changed {
            return;
        }
        if self.watching_dir {
            let _ = watcher.unwatch(&self.dir);
        }
        self.watching_dir = false;
        if !self.dir.is_dir() {
            return;
        }
        match watcher.watch(&self.dir, RecursiveMode::Recursive) {
            Ok(()) => self.watching_dir = true,
            // The inotify watch limit (one watch per folder): poll instead.
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                let why = format!(
                    "inotify cannot watch {} ({e}; raise fs.inotify.max_user_watches)",
                    self.dir.display()
                );
                self.fall_back_to_polling(why);
            }
            // A folder vanishing during the walk (a deploy in progress): try again on the next
            // event or cycle.
            Err(_) => self.folder_changed.store(true, Ordering::SeqCst),
        }
    }
}

fn handler(
    tx: UnboundedSender<Touch>,
    dir: PathBuf,
    own: Vec<PathBuf>,
    folder_changed: Arc<AtomicBool>,
) -> impl FnMut(notify::Result<notify::Event>) + Send + 'static {
    move |event: notify::Result<notify::Event>| {
        let event = match event {
            // A lost event queue (overflow) or a failed watch: events may be missing, the
            // folder may have been replaced. Look anyway and watch anew: the hashes will tell.
            Ok(e) if !e.need_rescan() && !e.paths.is_empty() => e,
            _ => {
                folder_changed.store(true, Ordering::SeqCst);
                let _ = tx.send(Touch { folder: true });
                return;
            }
        };
        if event.kind.is_access() {
            return;
        }
        for path in &event.paths {
            if let Some(touch) = classify(path, &dir, &own) {
                if touch.folder {
                    folder_changed.store(true, Ordering::SeqCst);
                }
                let _ = tx.send(touch);
            }
        }
    }
}

/// A cheap summary of the folder: every entry's path, size, inode and change and modification
/// times to the nanosecond. Any write changes the change time, so a file put back with an old
/// modification time (a rollback by `rsync -a`, `cp -p`, `tar x`) still counts.
pub fn fingerprint(dir: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    if !dir.is_dir() {
        return None;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for entry in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy();
        if is_temporary(&name) {
            continue;
        }
        entry.path().hash(&mut hasher);
        if let Ok(m) = entry.metadata() {
            (
                m.len(),
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            )
                .hash(&mut hasher);
        }
    }
    Some(hasher.finish())
}

/// Polls the folder every `interval` on a thread of its own, until the receiver is gone.
fn spawn_poller(dir: PathBuf, tx: UnboundedSender<Touch>, interval: Duration) {
    std::thread::spawn(move || {
        let mut last = fingerprint(&dir);
        loop {
            std::thread::sleep(interval);
            if tx.is_closed() {
                return;
            }
            let now = fingerprint(&dir);
            if now != last {
                last = now;
                if tx.send(Touch { folder: true }).is_err() {
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: Timing = Timing {
        settle: Duration::from_secs(2),
        max_wait: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_quiet_makes_one_cycle_after_the_settle() {
        let (tx, mut rx) = unbounded_channel();
        let start = Instant::now();
        let feeder = async {
            for _ in 0..50 {
                let _ = tx.send(());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let (wake, ()) = tokio::join!(next_cycle(&mut rx, TIMING, None, |_| {}), feeder);
        assert_eq!(wake, Wake::Changes);
        // Last event at 490 ms, then 2 s of quiet.
        assert_eq!(start.elapsed(), Duration::from_millis(2490));
        // Nothing queued: the next wait does not end before a new event.
        let next = tokio::time::timeout(
            Duration::from_secs(600),
            next_cycle(&mut rx, TIMING, None, |_| {}),
        )
        .await;
        assert!(next.is_err(), "a cycle without events");
    }

    #[tokio::test(start_paused = true)]
    async fn an_endless_stream_is_cut_at_max_wait() {
        let (tx, mut rx) = unbounded_channel();
        let start = Instant::now();
        let feeder = async {
            for _ in 0..1000 {
                let _ = tx.send(());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        tokio::select! {
            wake = next_cycle(&mut rx, TIMING, None, |_| {}) => assert_eq!(wake, Wake::Changes),
            () = feeder => panic!("the stream ended first"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn events_during_a_cycle_bring_exactly_one_more_cycle() {
        let (tx, mut rx) = unbounded_channel();
        let _ = tx.send(());
        assert_eq!(
            next_cycle(&mut rx, TIMING, None, |_| {}).await,
            Wake::Changes
        );
        // The cycle runs; meanwhile the generator writes three more files.
        for _ in 0..3 {
            let _ = tx.send(());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        let start = Instant::now();
        assert_eq!(
            next_cycle(&mut rx, TIMING, None, |_| {}).await,
            Wake::Changes
        );
        assert_eq!(start.elapsed(), TIMING.settle);
        let after = tokio::time::timeout(
            Duration::from_secs(600),
            next_cycle(&mut rx, TIMING, None, |_| {}),
        )
        .await;
        assert!(after.is_err(), "a third cycle");
    }

    #[tokio::test(start_paused = true)]
    async fn pending_urls_are_retried_on_the_timer_without_events() {
        let (_tx, mut rx) = unbounded_channel::<()>();
        let start = Instant::now();
        let wake = next_cycle(&mut rx, TIMING, Some(Duration::from_secs(60)), |_| {}).await;
        assert_eq!(wake, Wake::Retry);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_source_ends_the_wait() {
        let (tx, mut rx) = unbounded_channel::<()>();
        drop(tx);
        assert_eq!(
            next_cycle(&mut rx, TIMING, None, |_| {}).await,
            Wake::Closed
        );
    }

    #[test]
    fn temporary_files_are_recognised() {
        for name in [
            ".index.html.swp",
            "a.html~",
            ".#a.html",
            ".a.html.Xy12Ab",
            "4913",
            ".state-x.tmp",
        ] {
            assert!(is_temporary(name), "{name}");
        }
        for name in [
            "index.html",
            ".htaccess",
            "a.min.js",
            ".well-known",
            ".env.sample",
        ] {
            assert!(!is_temporary(name), "{name}");
        }
    }

    #[test]
    fn only_events_in_the_output_folder_count() {
        let dir = Path::new("/srv/www/public");
        let own = [PathBuf::from("/srv/www/.sitepurge")];
        assert_eq!(
            classify(Path::new("/srv/www/public/a/index.html"), dir, &own),
            Some(Touch { folder: false })
        );
        assert_eq!(classify(dir, dir, &own), Some(Touch { folder: true }));
        assert_eq!(
            classify(Path::new("/srv/www/public.new/a.html"), dir, &own),
            None
        );
        assert_eq!(
            classify(Path::new("/srv/www/.sitepurge/state.json"), dir, &own),
            None
        );
        assert_eq!(
            classify(Path::new("/srv/www/public/.a.html.swp"), dir, &own),
            None
        );
        assert_eq!(classify(Path::new("/srv/www/other.txt"), dir, &own), None);
    }

    #[test]
    fn the_fingerprint_sees_a_rollback_to_an_older_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.html");
        std::fs::write(&file, "one").expect("write");
        let before = fingerprint(dir.path());
        let old = std::fs::metadata(&file)
            .expect("meta")
            .modified()
            .expect("mtime");
        std::fs::write(&file, "two").expect("write");
        std::fs::File::options()
            .write(true)
            .open(&file)
            .expect("open")
            .set_modified(old)
            .expect("set mtime");
        assert_ne!(fingerprint(dir.path()), before);
        assert_eq!(fingerprint(&dir.path().join("missing")), None);
    }

    #[test]
    fn finds_the_file_system_of_a_path() {
        // Whatever the machine, the root is on some file system.
        assert!(file_system_of(Path::new("/")).is_some_and(|t| !t.is_empty()));
    }

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /mnt rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
41 40 8:2 / /mnt/local rw,relatime shared:21 - ext4 /dev/sdb1 rw
42 22 0:40 / /srv/my\\040share rw,relatime shared:22 - cifs //nas/share rw
43 22 0:41 / /home/u/remote rw,nosuid shared:23 - fuse.sshfs u@host:/srv rw
44 22 0:42 / /srv/www rw,relatime shared:24 - tmpfs tmpfs rw
";

    #[test]
    fn the_file_system_is_the_longest_mount_point_above_the_path() {
        let cases = [
            ("/srv/site/_site", "ext4"),
            ("/mnt/site/public", "nfs4"),
            ("/mnt/local/site/public", "ext4"),
            ("/srv/my share/public", "cifs"),
            ("/home/u/remote/site", "fuse.sshfs"),
            ("/srv/www", "tmpfs"),
            // A name that only begins like a mount point is not under it.
            ("/mntx/site", "ext4"),
        ];
        for (path, fs) in cases {
            assert_eq!(
                file_system_in(MOUNTINFO, Path::new(path)).as_deref(),
                Some(fs),
                "{path}"
            );
        }
        assert_eq!(file_system_in("garbage\n", Path::new("/x")), None);
    }

    #[test]
    fn network_file_systems_need_polling_and_says_why() {
        for fs in ["nfs", "nfs4", "cifs", "fuse.sshfs", "9p"] {
            let why = polling_reason(Path::new("/mnt/site"), fs).expect(fs);
            assert_eq!(
                why,
                format!(
                    "/mnt/site is on a network file system ({fs}), where file events from other machines are not seen"
                )
            );
        }
        for fs in [
            "ext4",
            "xfs",
            "btrfs",
            "tmpfs",
            "overlay",
            "fuse.rclone-local-cache",
        ] {
            assert_eq!(polling_reason(Path::new("/srv/site"), fs), None, "{fs}");
        }
    }

    #[test]
    fn a_local_folder_needs_no_polling() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Wherever the test runs, its temp folder is on a local file system.
        assert_eq!(needs_polling(dir.path()), None);
    }
}
