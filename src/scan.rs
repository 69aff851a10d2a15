//! Walks the output folder and hashes every file into a [`Snapshot`]. This is the only module that
//! reads the site's files. Hashing runs on every core; the walk feeds the hashers as it goes.

mod hashes;
mod noise;

use std::cmp::Ordering as Order;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use globset::GlobSet;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

pub use hashes::{ContentHash, Hashes, HashesBuilder};
pub use noise::{Blanked, ContentRules, Learned, Rule, Stamp, StampKind, trace_slot};

/// What the output folder held at scan time.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub files: Hashes,
    /// Things skipped on the way (links leaving the folder, loops, non-UTF-8 names), sorted.
    pub warnings: Vec<String>,
    /// Things worth knowing at `-v` (files too large for the content rules), sorted.
    pub notes: Vec<String>,
    /// The files the content rules changed: what they blanked, and which kinds of rule
    /// ([`ContentRules::kinds`]) blanked something.
    pub noise: BTreeMap<String, Noisy>,
    /// The build-wide times learned from the stamps.
    pub learned: Learned,
}

/// A file the content rules changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Noisy {
    /// What each kind of rule blanked in it, two bytes a kind ([`noise::trace_slot`]).
    pub trace: ContentHash,
    /// Bit `i`: the `i`th of [`ContentRules::kinds`] blanked something in it.
    pub kinds: u64,
}

/// Text files above this size are hashed as they are, streaming, without the content rules
/// (which need the whole text in memory): no generator writes a page this large, and a
/// multi-gigabyte file with a `.html` name must not take that much memory.
pub const RULES_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// How many times one real folder may be walked through links. A site may link `latest` to a
/// version's folder; chains of links that fan out (two links to the next level, at each of 18
/// levels) would otherwise be walked 2^18 times.
const LINKED_WALKS: usize = 4;

/// How to scan: which paths to leave out and which noise to blank.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub ignore: GlobSet,
    /// Folders whose whole content is ignored (from `ignore` patterns ending in `/**`).
    pub ignore_dirs: GlobSet,
    pub content: ContentRules,
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Scans `root`. A missing folder or an unreadable file is an error naming the path; links that
/// leave the folder, link loops and non-UTF-8 names are skipped with a warning. A cancelled
/// `stop` ends the scan between two files with [`Error::Stopped`].
pub fn scan(root: &Path, opts: &ScanOptions, stop: &CancellationToken) -> Result<Snapshot> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::SiteRead {
                path: root.to_path_buf(),
                source: std::io::Error::other("not a directory"),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingSite {
                path: root.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(Error::SiteRead {
                path: root.to_path_buf(),
                source,
            });
        }
    }
    let canon_root = std::fs::canonicalize(root).map_err(|source| Error::SiteRead {
        path: root.to_path_buf(),
        source,
    })?;
    let walker = Walker {
        canon_root: canon_root.clone(),
        opts,
        warnings: Mutex::new(Vec::new()),
        linked_walks: Mutex::new(BTreeMap::new()),
    };
    // The build-wide times come first: every text file is blanked with them.
    let learned = opts.content.learn(root)?;
    let noise_found: Mutex<Vec<(String, Noisy)>> = Mutex::new(Vec::new());
    let notes: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let assembly = Mutex::new(Assembly::default());
    let gate = Gate::default();
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let failed = AtomicBool::new(false);
    let fail = |e: Error| {
        failed.store(true, Ordering::Relaxed);
        if let Ok(mut f) = failure.lock() {
            f.get_or_insert(e);
        }
    };
    // One thread walks while the others hash: the walk mostly waits on the kernel, so it gets
    // a thread of its own on top of one per core.
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cores + 1)
        .build()
        .map_err(|e| Error::SiteRead {
            path: root.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
    // The walk outruns the hashing: without a limit, the paths of a million-file site would
    // queue up in memory. It waits while this many batches are in hand.
    let in_flight = 4 * (cores + 1);
    pool.scope(|scope| {
        let hash_batch = |seq: usize, batch: Vec<(String, PathBuf)>| {
            // Handed back however the task ends, a panic included, or the walk would wait on.
            let _leave = Leave(&gate);
            let mut done = Vec::with_capacity(batch.len());
            for (rel, path) in batch {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                if stop.is_cancelled() {
                    return fail(Error::Stopped);
                }
                let noise = opts
                    .content
                    .applies_to(&rel)
                    .then_some((&opts.content, &learned));
                match hash_file(&path, noise, RULES_SIZE_LIMIT) {
                    Ok(Hashed {
                        hash: digest,
                        too_large,
                        noisy,
                    }) => {
                        if let Some(noisy) = noisy
                            && let Ok(mut found) = noise_found.lock()
                        {
                            found.push((rel.clone(), noisy));
                        }
                        if too_large && let Ok(mut n) = notes.lock() {
                            n.push(format!(
                                "{rel} is larger than {} MiB: hashed as it is, without the content rules",
                                RULES_SIZE_LIMIT >> 20
                            ));
                        }
                        done.push((rel, digest));
                    }
                    Err(e) => {
                        fail(e);
                        break;
                    }
                }
            }
            if let Ok(mut all) = assembly.lock() {
                all.add(seq, done);
            }
        };
        let mut seq = 0;
        let mut batch: Vec<(String, PathBuf)> = Vec::with_capacity(BATCH);
        let mut chain = vec![canon_root.clone()];
        let walked = walker.walk(root, "", &mut chain, &mut |rel, path| {
            batch.push((rel, path));
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                gate.enter(in_flight);
                scope.spawn(move |_| hash_batch(seq, full));
                seq += 1;
            }
            !failed.load(Ordering::Relaxed) && !stop.is_cancelled()
        });
        if let Err(e) = walked {
            fail(e);
        }
        gate.enter(in_flight);
        scope.spawn(move |_| hash_batch(seq, batch));
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if stop.is_cancelled() {
        return Err(Error::Stopped);
    }
    let mut warnings = walker.warnings.into_inner().unwrap_or_default();
    warnings.sort();
    let mut notes = notes.into_inner().unwrap_or_default();
    notes.sort();
    let files = assembly.into_inner().unwrap_or_default().hashes.finish();
    Ok(Snapshot {
        files,
        warnings,
        notes,
        noise: noise_found
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        learned,
    })
}

/// Puts the hashed batches back in walk order as they come in. The walk lists paths sorted (see
/// [`walk_order`]), so the hashes end up sorted without a second copy to sort them.
#[derive(Default)]
struct Assembly {
    next: usize,
    waiting: BTreeMap<usize, Vec<(String, ContentHash)>>,
    hashes: HashesBuilder,
}

impl Assembly {
    fn add(&mut self, seq: usize, batch: Vec<(String, ContentHash)>) {
        self.waiting.insert(seq, batch);
        while let Some(batch) = self.waiting.remove(&self.next) {
            for (rel, hash) in batch {
                self.hashes.push(&rel, hash);
            }
            self.next += 1;
        }
    }
}

/// Counts the batches handed out and not yet hashed.
#[derive(Default)]
struct Gate {
    count: Mutex<usize>,
    freed: Condvar,
}

impl Gate {
    /// Waits until fewer than `limit` batches are in hand, then takes one more.
    fn enter(&self, limit: usize) {
        let Ok(mut count) = self.count.lock() else {
            return;
        };
        while *count >= limit {
            count = match self.freed.wait(count) {
                Ok(c) => c,
                Err(_) => return,
            };
        }
        *count += 1;
    }
}

/// Gives a batch back to the [`Gate`] when dropped.
struct Leave<'g>(&'g Gate);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if let Ok(mut count) = self.0.count.lock() {
            *count = count.saturating_sub(1);
        }
        self.0.freed.notify_one();
    }
}

/// The order of a folder's entries in which the walk lists full paths sorted by their bytes, as
/// [`Hashes`] keeps them: a folder sorts as its name followed by `/` (so `blog.html` comes
/// before `blog/index.html`, and `a-b/x` before `a/x`). A link is stat'ed to tell.
fn walk_order(a: &walkdir::DirEntry, b: &walkdir::DirEntry) -> Order {
    sort_key(a).cmp(sort_key(b))
}

fn sort_key(e: &walkdir::DirEntry) -> impl Iterator<Item = &u8> {
    let kind = e.file_type();
    let folder = kind.is_dir() || (kind.is_symlink() && e.path().is_dir());
    e.file_name()
        .as_bytes()
        .iter()
        .chain(folder.then_some(&b'/'))
}

/// Files handed to a hashing task at a time.
const BATCH: usize = 64;

/// ELOOP: too many levels of symbolic links.
const ELOOP: i32 = 40;

struct Walker<'a> {
    canon_root: PathBuf,
    opts: &'a ScanOptions,
    warnings: Mutex<Vec<String>>,
    /// How many times each real folder was walked through a link.
    linked_walks: Mutex<BTreeMap<PathBuf, usize>>,
}

/// A path for messages: a name that is not UTF-8 shows its odd bytes as `\xNN`, not as the
/// replacement character, so two such names stay told apart.
fn escaped(path: &Path) -> String {
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
    out
}

impl Walker<'_> {
    fn warn(&self, message: String) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message);
        }
    }

    /// Walks `dir`, whose files are named `prefix` + their path below it, and hands every file
    /// to `emit` (which returns false to stop). Entries are not stat'ed: the file type comes
    /// from the directory listing, and only symbolic links are resolved. `chain` holds the
    /// folders entered through links, to catch loops.
    fn walk(
        &self,
        dir: &Path,
        prefix: &str,
        chain: &mut Vec<PathBuf>,
        emit: &mut dyn FnMut(String, PathBuf) -> bool,
    ) -> Result<()> {
        let mut entries = walkdir::WalkDir::new(dir)
            .follow_links(false)
            .min_depth(1)
            .sort_by(walk_order)
            .into_iter();
        while let Some(item) = entries.next() {
            let entry = item.map_err(|err| {
                let path = err
                    .path()
                    .map_or_else(|| dir.to_path_buf(), Path::to_path_buf);
                let source = err
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("walk failed"));
                Error::SiteRead { path, source }
            })?;
            let kind = entry.file_type();
            let Some(below) = entry.path().strip_prefix(dir).ok().and_then(Path::to_str) else {
                self.warn(format!(
                    "skipped {}: its name is not UTF-8, so it has no URL",
                    escaped(entry.path())
                ));
                if kind.is_dir() {
                    entries.skip_current_dir();
                }
                continue;
            };
            let rel = format!("{prefix}{}", below.replace(std::path::MAIN_SEPARATOR, "/"));
            if kind.is_dir() {
                if self.opts.ignore_dirs.is_match(&rel) {
                    entries.skip_current_dir();
                }
                continue;
            }
            if self.opts.ignore.is_match(&rel) {
                continue;
            }
            if kind.is_file() {
                if !emit(rel, entry.into_path()) {
                    return Ok(());
                }
            } else if kind.is_symlink() {
                self.follow(entry.path(), rel, chain, emit)?;
            }
        }
        Ok(())
    }

    /// A link inside the site is hashed as its target, when the target is inside too.
    fn follow(
        &self,
        link: &Path,
        rel: String,
        chain: &mut Vec<PathBuf>,
        emit: &mut dyn FnMut(String, PathBuf) -> bool,
    ) -> Result<()> {
        let target = match std::fs::canonicalize(link) {
            Ok(t) => t,
            Err(e) => {
                let why = if e.raw_os_error() == Some(ELOOP) {
                    "it loops".to_string()
                } else {
                    format!("its target cannot be read ({e})")
                };
                self.warn(format!("skipped link {}: {why}", link.display()));
                return Ok(());
            }
        };
        if !target.starts_with(&self.canon_root) {
            self.warn(format!(
                "skipped link {}: it points outside the output folder (to {})",
                link.display(),
                target.display()
            ));
            return Ok(());
        }
        let meta = std::fs::metadata(&target).map_err(|source| Error::SiteRead {
            path: link.to_path_buf(),
            source,
        })?;
        if meta.is_file() {
            emit(rel, link.to_path_buf());
        } else if meta.is_dir() {
            let location = link
                .parent()
                .and_then(|p| std::fs::canonicalize(p).ok())
                .unwrap_or_default();
            if location.starts_with(&target) || chain.contains(&target) {
                self.warn(format!(
                    "skipped link {}: it loops back to {}",
                    link.display(),
                    target.display()
                ));
                return Ok(());
            }
            let walks = self.linked_walks.lock().map_or(0, |mut w| {
                let n = w.entry(target.clone()).or_insert(0);
                *n += 1;
                *n
            });
            if walks > LINKED_WALKS {
                self.warn(format!(
                    "skipped link {}: its target {} was already walked {LINKED_WALKS} times through links (links to folders that fan out)",
                    link.display(),
                    target.display()
                ));
                return Ok(());
            }
            chain.push(target);
            let walked = self.walk(link, &format!("{rel}/"), chain, emit);
            chain.pop();
            walked?;
        }
        Ok(())
    }
}

/// For `sitepurge explain`: the file's hash as the scan computes it (the build-wide times
/// learned from the whole output folder), and every blank of every content rule, in order.
pub fn explain_file(
    root: &Path,
    rel: &str,
    rules: &ContentRules,
) -> Result<(ContentHash, Vec<Blanked>)> {
    let path = root.join(rel);
    let learned = rules.learn(root)?;
    let noise = rules.applies_to(rel).then_some((rules, &learned));
    let hashed = hash_file(&path, noise, RULES_SIZE_LIMIT)?;
    let mut blanked = Vec::new();
    if let Some((rules, learned)) = noise.filter(|_| !hashed.too_large) {
        let bytes = std::fs::read(&path).map_err(|source| Error::SiteRead {
            path: path.clone(),
            source,
        })?;
        let mut seen = |b: Blanked| blanked.push(b);
        rules.apply(&bytes, learned, Some(&mut seen));
    }
    Ok((hashed.hash, blanked))
}

/// The hash the scan gives a file at `rel` whose bytes are `bytes` (fetched from a cache or the
/// origin): after the content rules when they apply, with the build-wide times `learned`.
pub fn hash_bytes(rel: &str, bytes: &[u8], rules: &ContentRules, learned: &Learned) -> ContentHash {
    let text = if rules.applies_to(rel) && bytes.len() as u64 <= RULES_SIZE_LIMIT {
        rules.apply(bytes, learned, None).text
    } else {
        std::borrow::Cow::Borrowed(bytes)
    };
    ContentHash::new(Sha256::digest(&text).into())
}

/// A file's hash, and what the content rules did to it.
struct Hashed {
    hash: ContentHash,
    /// Hashed as it is: larger than the limit for the content rules.
    too_large: bool,
    /// The rules changed it: its hash as built, and which kinds of rule.
    noisy: Option<Noisy>,
}

/// The file's hash, after the content rules when they apply and the file is at most `limit`
/// bytes.
fn hash_file(path: &Path, noise: Option<(&ContentRules, &Learned)>, limit: u64) -> Result<Hashed> {
    let fail = |source| Error::SiteRead {
        path: PathBuf::from(path),
        source,
    };
    let mut file = File::open(path).map_err(fail)?;
    let mut hasher = Sha256::new();
    let too_large = noise.is_some() && file.metadata().map_err(fail)?.len() > limit;
    let mut noisy = None;
    match noise.filter(|_| !too_large) {
        Some((rules, learned)) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(fail)?;
            let applied = rules.apply(&bytes, learned, None);
            hasher.update(&applied.text);
            if let std::borrow::Cow::Owned(_) = applied.text {
                noisy = Some(Noisy {
                    trace: ContentHash::new(applied.trace),
                    kinds: applied.kinds,
                });
            }
        }
        None => {
            let mut buf = [0u8; 64 * 1024];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(fail(e)),
                };
                hasher.update(&buf[..n]);
            }
        }
    }
    Ok(Hashed {
        hash: ContentHash::new(hasher.finalize().into()),
        too_large,
        noisy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn site() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, body).expect("write");
    }

    fn rule(pattern: &str) -> Rule {
        Rule {
            name: "test".into(),
            pattern: regex::bytes::Regex::new(pattern).expect("regex"),
        }
    }

    fn sha(body: &str) -> ContentHash {
        ContentHash::new(Sha256::digest(body.as_bytes()).into())
    }

    #[test]
    fn hashes_every_file_by_relative_path() {
        let dir = site();
        write(dir.path(), "index.html", "home");
        write(dir.path(), "a/b/index.html", "deep");
        write(dir.path(), "css/site.css", "body{}");
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        let paths: Vec<&str> = snap.files.keys().collect();
        assert_eq!(paths, ["a/b/index.html", "css/site.css", "index.html"]);
        assert_eq!(snap.files["index.html"], sha("home"));
        assert!(snap.warnings.is_empty());
    }

    #[test]
    fn empty_folder_gives_an_empty_snapshot() {
        let dir = site();
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert!(snap.files.is_empty());
        assert!(snap.warnings.is_empty());
    }

    #[test]
    fn missing_folder_is_an_error_naming_it() {
        let dir = site();
        let missing = dir.path().join("_site");
        let err = scan(&missing, &ScanOptions::default(), &CancellationToken::new())
            .expect_err("missing");
        assert!(matches!(err, Error::MissingSite { ref path } if path == &missing));
        assert!(err.to_string().contains("_site"));
    }

    #[test]
    fn link_to_a_file_inside_is_hashed_as_that_file() {
        let dir = site();
        write(dir.path(), "real.html", "content");
        symlink(dir.path().join("real.html"), dir.path().join("alias.html")).expect("link");
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert_eq!(snap.files["alias.html"], sha("content"));
        assert_eq!(snap.files["real.html"], sha("content"));
        assert!(snap.warnings.is_empty());
    }

    #[test]
    fn link_to_a_folder_inside_is_walked_under_the_link_name() {
        let dir = site();
        write(dir.path(), "v2/guide/index.html", "guide");
        symlink("v2", dir.path().join("latest")).expect("link");
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert_eq!(
            snap.files.keys().collect::<Vec<_>>(),
            ["latest/guide/index.html", "v2/guide/index.html"]
        );
        assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    }

    #[test]
    fn links_looping_through_two_folders_are_caught() {
        let dir = site();
        write(dir.path(), "a/x.html", "x");
        write(dir.path(), "b/y.html", "y");
        symlink("../b", dir.path().join("a/to-b")).expect("link");
        symlink("../a", dir.path().join("b/to-a")).expect("link");
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert!(snap.files.contains_key("a/x.html") && snap.files.contains_key("a/to-b/y.html"));
        assert!(!snap.warnings.is_empty());
        assert!(
            snap.warnings.iter().all(|w| w.contains("loops")),
            "{:?}",
            snap.warnings
        );
    }

    #[test]
    fn link_escaping_the_folder_is_skipped_with_a_warning() {
        let outside = site();
        write(outside.path(), "secret.txt", "nope");
        let dir = site();
        write(dir.path(), "index.html", "home");
        symlink(
            outside.path().join("secret.txt"),
            dir.path().join("leak.txt"),
        )
        .expect("link");
        symlink(outside.path(), dir.path().join("leakdir")).expect("link");
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert_eq!(snap.files.keys().collect::<Vec<_>>(), ["index.html"]);
        assert_eq!(snap.warnings.len(), 2, "{:?}", snap.warnings);
        assert!(
            snap.warnings
                .iter()
                .all(|w| w.contains("outside the output folder"))
        );
        assert!(snap.warnings.iter().any(|w| w.contains("leak.txt")));
    }

    #[test]
    fn link_loops_are_skipped_with_a_warning() {
        let dir = site();
        write(dir.path(), "a/page.html", "p");
        symlink(dir.path().join("a"), dir.path().join("a/again")).expect("link");
        symlink("self", dir.path().join("self")).expect("link");
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert_eq!(snap.files.keys().collect::<Vec<_>>(), ["a/page.html"]);
        assert_eq!(snap.warnings.len(), 2, "{:?}", snap.warnings);
        assert!(
            snap.warnings
                .iter()
                .any(|w| w.contains("again") && w.contains("loops"))
        );
        assert!(snap.warnings.iter().any(|w| w.contains("self")));
    }

    #[test]
    fn non_utf8_names_are_skipped_with_an_escaped_warning() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = site();
        write(dir.path(), "ok.html", "ok");
        fs::write(dir.path().join(OsStr::from_bytes(b"bad\xff.html")), "x").expect("write");
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert_eq!(snap.files.keys().collect::<Vec<_>>(), ["ok.html"]);
        assert_eq!(snap.warnings.len(), 1);
        // Escaped, not replaced: `bad\xFF.html` and `bad\xFE.html` stay two names.
        assert!(
            snap.warnings[0].contains("bad\\xFF.html"),
            "{}",
            snap.warnings[0]
        );
        assert!(snap.warnings[0].contains("not UTF-8"));
    }

    #[test]
    fn unreadable_file_is_an_error_naming_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = site();
        write(dir.path(), "locked.html", "x");
        let locked = dir.path().join("locked.html");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
        if File::open(&locked).is_ok() {
            // Running as root: permissions do not stop us. The end-to-end suite covers this case
            // by running the binary as an unprivileged user.
            return;
        }
        let err = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect_err("unreadable");
        assert!(
            matches!(err, Error::SiteRead { ref path, .. } if path == &locked),
            "{err}"
        );
    }

    #[test]
    fn ignored_paths_are_not_tracked() {
        let dir = site();
        write(dir.path(), "index.html", "home");
        write(dir.path(), "css/app.css.map", "map");
        write(dir.path(), "drafts/x/index.html", "draft");
        write(dir.path(), "drafts.html", "not a draft");
        let mut b = globset::GlobSetBuilder::new();
        b.add(globset::Glob::new("*.map").expect("glob"));
        b.add(globset::Glob::new("drafts/**").expect("glob"));
        let opts = ScanOptions {
            ignore: b.build().expect("set"),
            ..Default::default()
        };
        let snap = scan(dir.path(), &opts, &CancellationToken::new()).expect("scan");
        assert_eq!(
            snap.files.keys().collect::<Vec<_>>(),
            ["drafts.html", "index.html"]
        );
    }

    #[test]
    fn ignored_folders_are_not_even_read() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = site();
        write(dir.path(), "index.html", "home");
        write(dir.path(), "drafts/x/a.html", "x");
        // Read, this folder would raise a warning; skipped, it says nothing.
        fs::write(
            dir.path()
                .join("drafts/x")
                .join(OsStr::from_bytes(b"bad\xff")),
            "x",
        )
        .expect("write");
        symlink("loop", dir.path().join("drafts/loop")).expect("link");
        let glob = |p: &str| {
            let mut b = globset::GlobSetBuilder::new();
            b.add(globset::Glob::new(p).expect("glob"));
            b.build().expect("set")
        };
        let opts = ScanOptions {
            ignore: glob("drafts/**"),
            ignore_dirs: glob("drafts"),
            ..Default::default()
        };
        let snap = scan(dir.path(), &opts, &CancellationToken::new()).expect("scan");
        assert_eq!(snap.files.keys().collect::<Vec<_>>(), ["index.html"]);
        assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
    }

    #[test]
    fn content_rules_blank_build_noise_in_text_files_only() {
        let rules = ContentRules {
            rules: vec![rule(r"<time>[^<]*</time>")],
            stamps: vec![],
            extensions: vec!["html".into(), "xml".into()],
        };
        let opts = ScanOptions {
            content: rules,
            ..Default::default()
        };
        let a = site();
        write(a.path(), "p.html", "x<time>10:00</time>y");
        write(a.path(), "p.css", "x<time>10:00</time>y");
        let b = site();
        write(b.path(), "p.html", "x<time>11:30</time>y");
        write(b.path(), "p.css", "x<time>11:30</time>y");
        let sa = scan(a.path(), &opts, &CancellationToken::new()).expect("scan");
        let sb = scan(b.path(), &opts, &CancellationToken::new()).expect("scan");
        assert_eq!(sa.files["p.html"], sb.files["p.html"]);
        assert_eq!(sa.files["p.html"], sha("xy"));
        assert_ne!(sa.files["p.css"], sb.files["p.css"]);
        // The snapshot keeps what the rules blanked, for the precision report.
        let noisy = |s: &Snapshot| s.noise.get("p.html").map(|n| (n.trace.clone(), n.kinds));
        assert_eq!(sa.noise.len(), 1);
        let (trace_a, kinds) = noisy(&sa).expect("p.html blanked");
        assert_eq!(kinds, 1);
        assert_ne!(Some((trace_a, 1)), noisy(&sb), "other times, other trace");
    }

    #[test]
    fn fingerprint_changes_with_the_rules() {
        let none = ContentRules::default();
        let one = ContentRules {
            rules: vec![rule("a")],
            stamps: vec![],
            extensions: vec!["html".into()],
        };
        let other = ContentRules {
            rules: vec![rule("b")],
            stamps: vec![],
            extensions: vec!["html".into()],
        };
        assert_ne!(none.fingerprint(), one.fingerprint());
        assert_ne!(one.fingerprint(), other.fingerprint());
        assert_eq!(one.fingerprint(), one.clone().fingerprint());
    }

    #[test]
    fn paths_come_out_in_byte_order_whatever_the_folder_names() {
        let dir = site();
        let names = [
            "a.html",
            "a/index.html",
            "a-b/index.html",
            "a b/x.html",
            "a/b/c.html",
            "a/b.html",
            "a/b-c/d.html",
            "Z.html",
            "é/index.html",
            "e.html",
        ];
        for n in names {
            write(dir.path(), n, n);
        }
        symlink("a", dir.path().join("a0")).expect("link");
        symlink("a.html", dir.path().join("a.htm")).expect("link");
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        expected.extend(
            [
                "a0/index.html",
                "a0/b/c.html",
                "a0/b.html",
                "a0/b-c/d.html",
                "a.htm",
            ]
            .map(String::from),
        );
        expected.sort();
        assert_eq!(snap.files.keys().collect::<Vec<_>>(), expected);
        assert_eq!(snap.files["a0/b.html"], sha("a/b.html"));
        assert_eq!(snap.files["a.htm"], sha("a.html"));
    }

    #[test]
    fn a_large_tree_is_hashed_completely_across_batches() {
        let dir = site();
        for i in 0..1500 {
            write(dir.path(), &format!("d{}/f{i}.txt", i % 7), &format!("{i}"));
        }
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert_eq!(snap.files.len(), 1500);
        for i in 0..1500 {
            assert_eq!(
                snap.files[&*format!("d{}/f{i}.txt", i % 7)],
                sha(&format!("{i}"))
            );
        }
        let keys: Vec<&str> = snap.files.keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_cancelled_stop_ends_the_scan_with_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..200 {
            std::fs::write(dir.path().join(format!("{i}.html")), "x").expect("write");
        }
        let stop = CancellationToken::new();
        stop.cancel();
        let err = scan(dir.path(), &ScanOptions::default(), &stop).expect_err("stopped");
        assert!(matches!(err, Error::Stopped), "{err}");
    }

    #[test]
    fn links_to_folders_that_fan_out_are_walked_a_bounded_number_of_times() {
        // 18 levels, each with two links to the next: 2^18 paths if every link were walked.
        let dir = site();
        for level in 1..=18 {
            write(dir.path(), &format!("l{level}/page.html"), "p");
        }
        for level in 1..18 {
            for name in ["x", "y"] {
                symlink(
                    format!("../l{}", level + 1),
                    dir.path().join(format!("l{level}/{name}")),
                )
                .expect("link");
            }
        }
        let started = std::time::Instant::now();
        let snap = scan(
            dir.path(),
            &ScanOptions::default(),
            &CancellationToken::new(),
        )
        .expect("scan");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(snap.files.len() < 1000, "{} paths", snap.files.len());
        assert!(snap.files.contains_key("l1/page.html"));
        assert!(snap.files.contains_key("l1/x/page.html"));
        assert!(
            snap.warnings
                .iter()
                .any(|w| w.contains("already walked 4 times through links")),
            "{:?}",
            snap.warnings
        );
    }

    #[test]
    fn a_text_file_above_the_limit_is_hashed_as_it_is_without_the_rules() {
        let dir = site();
        let body = "<p>built at 12:00</p><p>content</p>";
        write(dir.path(), "big.html", body);
        let rules = ContentRules {
            rules: vec![rule("built at [0-9:]+")],
            stamps: vec![],
            extensions: vec!["html".into()],
        };
        let learned = Learned::default();
        let path = dir.path().join("big.html");
        let blanked = hash_file(&path, Some((&rules, &learned)), 1024).expect("hash");
        assert!(!blanked.too_large);
        assert_eq!(blanked.hash, sha("<p></p><p>content</p>"));
        let whole = hash_file(&path, Some((&rules, &learned)), 10).expect("hash");
        assert!(whole.too_large, "over the limit");
        assert_eq!(whole.hash, sha(body));
        // Files the rules do not apply to are never flagged.
        let plain = hash_file(&path, None, 10).expect("hash");
        assert_eq!((plain.hash, plain.too_large), (sha(body), false));
    }
}
