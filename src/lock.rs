//! One sitepurge per state file at a time. The lock is an advisory `flock` on `<state>.lock`,
//! which the kernel releases when its holder dies, so a stale lock is simply taken over; the
//! file also holds the holder's pid, so a refused user is told who holds it. The holder removes
//! the file when done; a waiter that wins the lock on a file already removed tries again.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a second sitepurge waits for the lock before giving up.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(3);

/// Held while a command may write the state; released on drop or process exit.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
    /// The state's folder, when taking the lock created it (removed again if still empty).
    created_folder: Option<PathBuf>,
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock, so nobody locks a file that is about to vanish.
        let _ = std::fs::remove_file(&self.path);
        if let Some(folder) = &self.created_folder {
            let _ = std::fs::remove_dir(folder);
        }
    }
}

impl StateLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file that guards `state`.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    state.with_file_name(name)
}

/// Takes the lock on `state`, waiting up to `wait` for another holder to finish.
pub fn acquire(state: &Path, wait: Duration) -> Result<StateLock> {
    let path = lock_path(state);
    let fail = |source| Error::StateWrite {
        path: path.clone(),
        source,
    };
    let mut created_folder = None;
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !folder.exists() {
            created_folder = Some(folder.to_path_buf());
        }
        std::fs::create_dir_all(folder).map_err(fail)?;
    }
    // Never through a symbolic link: `ln -s /some/victim state.json.lock` would otherwise
    // have every run truncate and overwrite the victim.
    let open = || {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
    };
    let refuse_link = |source: std::io::Error| {
        if source.raw_os_error() == Some(libc::ELOOP) {
            Error::LockIsLink { path: path.clone() }
        } else {
            fail(source)
        }
    };
    let mut file = open().map_err(refuse_link)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) if still_linked(&file, &path) => break,
            // The holder removed the file as we waited for it: lock the current one.
            Ok(()) => file = open().map_err(refuse_link)?,
            Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::Locked {
                    state: state.to_path_buf(),
                    holder: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(fail(e)),
        }
    }
    let pid = std::process::id();
    file.set_len(0).map_err(fail)?;
    file.seek(SeekFrom::Start(0)).map_err(fail)?;
    writeln!(file, "{pid}").map_err(fail)?;
    Ok(StateLock {
        _file: file,
        path,
        created_folder,
    })
}

/// Whether `path` still names the file we hold open.
fn still_linked(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.ino() == named.ino() && held.dev() == named.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_sits_beside_the_state() {
        assert_eq!(
            lock_path(Path::new("/x/.sitepurge/state.json")),
            PathBuf::from("/x/.sitepurge/state.json.lock")
        );
    }

    #[test]
    fn second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("s/state.json");
        let first = acquire(&state, Duration::ZERO).expect("first");
        let err = acquire(&state, Duration::from_millis(120)).expect_err("second");
        let pid = std::process::id();
        assert!(
            matches!(err, Error::Locked { holder: Some(p), .. } if p == pid),
            "{err}"
        );
        assert!(err.to_string().contains(&pid.to_string()));
        drop(first);
        acquire(&state, Duration::ZERO).expect("free again");
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state.json");
        std::fs::write(lock_path(&state), "999999999\n").expect("stale");
        let lock = acquire(&state, Duration::ZERO).expect("taken over");
        let text = std::fs::read_to_string(lock.path()).expect("read");
        assert_eq!(text.trim(), std::process::id().to_string());
    }

    #[test]
    fn releasing_removes_the_lock_file_and_a_folder_it_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join(".sitepurge/state.json");
        let lock = acquire(&state, Duration::ZERO).expect("lock");
        assert!(lock_path(&state).exists());
        drop(lock);
        assert!(!dir.path().join(".sitepurge").exists());
        std::fs::create_dir(dir.path().join(".sitepurge")).expect("mkdir");
        std::fs::write(&state, "{}").expect("state");
        drop(acquire(&state, Duration::ZERO).expect("lock"));
        assert!(state.exists() && !lock_path(&state).exists());
    }

    #[test]
    fn a_waiter_blocks_until_the_holder_releases_the_lock() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state.json");
        let first = acquire(&state, Duration::ZERO).expect("first");
        let released = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (state, released) = (state.clone(), released.clone());
            std::thread::spawn(move || {
                let lock = acquire(&state, Duration::from_secs(5)).map(|_| ());
                // Only a release may let the waiter through.
                (lock, released.load(Ordering::SeqCst))
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !waiter.is_finished(),
            "the waiter did not wait for the holder"
        );
        released.store(true, Ordering::SeqCst);
        drop(first);
        let (lock, after_release) = waiter.join().expect("join");
        lock.expect("second gets it");
        assert!(after_release, "the waiter got the lock while it was held");
    }

    #[test]
    fn a_lock_file_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").expect("victim");
        let state = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, lock_path(&state)).expect("symlink");
        let err = acquire(&state, Duration::ZERO).expect_err("refused");
        assert!(
            matches!(&err, Error::LockIsLink { path } if *path == lock_path(&state)),
            "{err}"
        );
        assert_eq!(err.exit(), crate::error::Exit::State);
        assert!(err.hint().unwrap_or_default().contains("remove"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "precious\n"
        );
    }
}
