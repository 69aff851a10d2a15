//! A site in a temp folder, and the `sitepurge` binary run there with nothing inherited from
//! the test's environment.
//!
//! ```ignore
//! mod support;
//! use support::site::{Folder, Out, Site, sitepurge_in};
//!
//! let site = Site::new();                      // a temp folder holding `_site`
//! site.put("sitepurge.toml", "base_urls = [\"https://example.com/\"]\n");
//! site.page("index.html", "<h1>Home</h1>");    // `_site/index.html`
//! let out = Out::of(sitepurge_in(site.root()).args(["plan", "--json"]));
//! assert_eq!(out.code, 0, "{out:?}");
//! ```
//!
//! A suite adds its own methods to [`Site`] with an extension trait of its own (suites share
//! one crate, so two `impl Site` blocks would clash), or implements [`Folder`] for a site type
//! of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// Where sitepurge keeps its state by default, relative to its cwd.
pub const STATE: &str = ".sitepurge/state.json";

/// Writes a file, creating the folders above it.
pub fn write(path: &Path, body: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Writes `files` (relative path, text) below `root`, as a generator does.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        write(&root.join(rel), text);
    }
}

/// A folder a test builds a site in; every path is relative to [`Folder::root`].
pub trait Folder {
    fn root(&self) -> &Path;

    fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Writes a file relative to the folder (config files, state files, sources).
    fn put(&self, rel: &str, body: impl AsRef<[u8]>) {
        write(&self.path(rel), body);
    }
}

/// A temp folder used as sitepurge's cwd, removed on drop; its output folder is `_site`.
pub struct Site {
    tmp: tempfile::TempDir,
}

impl Folder for Site {
    fn root(&self) -> &Path {
        self.tmp.path()
    }
}

impl Site {
    /// An empty temp folder.
    pub fn bare() -> Site {
        Site {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A temp folder holding an empty output folder `_site`.
    pub fn new() -> Site {
        let site = Site::bare();
        fs::create_dir(site.path("_site")).expect("mkdir _site");
        site
    }

    /// Writes a file in the output folder.
    pub fn page(&self, rel: &str, body: impl AsRef<[u8]>) {
        self.put(&format!("_site/{rel}"), body);
    }

    /// Removes a file from the output folder.
    pub fn remove(&self, rel: &str) {
        fs::remove_file(self.path(&format!("_site/{rel}"))).expect("remove");
    }

    /// Runs `cmd`, a `sitepurge baseline -q` in this folder: it must succeed, print nothing and
    /// write the state.
    pub fn baseline_with(&self, cmd: &mut Command) {
        cmd.assert().success().stdout("").stderr("");
        assert!(self.state_bytes().is_some(), "baseline wrote no state");
    }

    /// The state file's bytes, if there is one.
    pub fn state_bytes(&self) -> Option<Vec<u8>> {
        fs::read(self.path(STATE)).ok()
    }

    /// The state file, which must exist and be JSON.
    pub fn state(&self) -> Value {
        serde_json::from_slice(&self.state_bytes().expect("state file")).expect("state is JSON")
    }

    /// `files` of the state: path -> hash.
    pub fn state_files(&self) -> BTreeMap<String, String> {
        serde_json::from_value(self.state()["files"].clone()).expect("files map")
    }

    /// `pending` of the state: the paths whose purge failed (empty when the key is absent).
    pub fn state_pending(&self) -> BTreeSet<String> {
        self.state()["pending"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p.as_str().expect("pending path").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Output path -> bytes.
pub type Snapshot = BTreeMap<String, Vec<u8>>;

/// Every file below `dir`: `/`-separated relative path -> bytes.
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).expect("below dir");
            let rel = rel.to_str().expect("UTF-8 path").to_string();
            files.insert(rel, fs::read(entry.path()).expect("read"));
        }
    }
    files
}

/// Paths that appeared, vanished or whose bytes differ from `before` to `after`.
pub fn changed(before: &Snapshot, after: &Snapshot) -> BTreeSet<String> {
    before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .cloned()
        .collect()
}

/// The `sitepurge` binary built for these tests.
pub fn sitepurge_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sitepurge")
}

/// Removes every variable of the test's environment whose name starts with one of `prefixes`.
pub fn remove_vars(cmd: &mut StdCommand, prefixes: &[&str]) {
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if prefixes.iter().any(|p| n.starts_with(p)) {
            cmd.env_remove(&name);
        }
    }
}

/// `program` run in `cwd` with no `SITEPURGE_*`/`CLOUDFLARE_*` variable leaking in from the
/// test's environment.
pub fn isolated(program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(program);
    cmd.current_dir(cwd);
    remove_vars(
        &mut cmd,
        &["SITEPURGE_", "CLOUDFLARE_", "FASTLY_", "BUNNY_"],
    );
    cmd
}

/// The binary run in `cwd`, [`isolated`].
pub fn sitepurge_in(cwd: &Path) -> Command {
    Command::from_std(isolated(sitepurge_bin(), cwd))
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Runs `cmd` to its end (killed after 60 s); ended by a signal, it fails the test.
    pub fn of(cmd: &mut Command) -> Out {
        let output = cmd
            .timeout(Duration::from_secs(60))
            .output()
            .expect("run sitepurge");
        Out {
            code: output.status.code().expect("exit code, not a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Stdout, which must be one JSON object.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not one JSON object on stdout ({e}): {self:?}"))
    }

    /// Stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Copies a tree file by file (links as links). `mtime`: set every copied file's modification
/// time to it.
pub fn copy_tree(from: &Path, to: &Path, mtime: Option<std::time::SystemTime>) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("under root");
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest).expect("mkdir");
        } else if entry.file_type().is_symlink() {
            let target = fs::read_link(entry.path()).expect("read link");
            std::os::unix::fs::symlink(target, &dest).expect("link");
        } else {
            fs::copy(entry.path(), &dest).expect("copy");
            if let Some(t) = mtime {
                fs::File::options()
                    .write(true)
                    .open(&dest)
                    .and_then(|f| f.set_modified(t))
                    .expect("set mtime");
            }
        }
    }
}
