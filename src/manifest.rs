//! The state file: what the site looked like the last time its URLs were purged (or recorded).
//! Versioned JSON with sorted keys so it diffs well in git; loaded strictly (a damaged file is an
//! error, never a silent first run) and saved atomically (temp file, fsync, rename).

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::scan::Hashes;

/// The state format this build writes. Older formats are read, newer ones refused.
pub const FORMAT: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// State format version ([`FORMAT`]).
    pub format: u64,
    /// The sitepurge that wrote it, e.g. `sitepurge 0.1.0`.
    pub tool: String,
    /// When it was written, RFC 3339 UTC.
    pub written_at: String,
    /// The base URLs in force when it was written.
    pub base_urls: Vec<String>,
    /// The URL options in force (`clean_urls`, ...), when any: they decide which spellings of
    /// each file were purged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url_options: Vec<String>,
    /// Fingerprint of the `ignore_content` rules the hashes were computed under.
    pub content_rules: String,
    /// Output path -> SHA-256 (hex) of its content after the content rules.
    pub files: Hashes,
    /// Paths whose purge failed: purged on the next run even if the file has meanwhile gone
    /// back to its recorded content (the cache may hold the version in between).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub pending: BTreeSet<String>,
}

impl Manifest {
    pub fn new(
        now: SystemTime,
        base_urls: Vec<String>,
        url_options: Vec<String>,
        content_rules: String,
        files: Hashes,
    ) -> Self {
        Manifest {
            format: FORMAT,
            tool: format!("sitepurge {}", env!("CARGO_PKG_VERSION")),
            written_at: humantime::format_rfc3339_seconds(now).to_string(),
            base_urls,
            url_options,
            content_rules,
            files,
            pending: BTreeSet::new(),
        }
    }
}

/// Only the field that tells whether the rest can be read by this version.
#[derive(Deserialize)]
struct FormatProbe {
    format: u64,
    #[serde(default)]
    tool: String,
}

/// Loads the state. `Ok(None)` means no state file: a first run.
pub fn load(path: &Path) -> Result<Option<Manifest>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::StateRead {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(path, &bytes).map(Some)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest> {
    let corrupt = |message: String| Error::StateCorrupt {
        path: path.to_path_buf(),
        message,
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(corrupt("the file is empty".into()));
    }
    let probe: FormatProbe = serde_json::from_slice(bytes).map_err(|e| corrupt(describe(&e)))?;
    if probe.format > FORMAT {
        return Err(Error::StateTooNew {
            path: path.to_path_buf(),
            found: probe.format,
            supported: FORMAT,
            tool: if probe.tool.is_empty() {
                "an unknown version".into()
            } else {
                probe.tool
            },
        });
    }
    if probe.format == 0 {
        return Err(corrupt("format 0 is not a sitepurge state format".into()));
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| corrupt(describe(&e)))?;
    for (file, digest) in &manifest.files {
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(corrupt(format!(
                "the hash recorded for {file:?} is not a SHA-256 hex digest"
            )));
        }
    }
    Ok(manifest)
}

fn describe(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Eof => {
            format!("it ends early (line {}): truncated?", e.line())
        }
        _ => e.to_string(),
    }
}

/// Writes the state atomically: a temp file in the same folder, fsync, rename, fsync the folder.
/// Whenever the process dies, the file on disk is the old state or the new one.
pub fn save(path: &Path, manifest: &Manifest) -> Result<()> {
    let fail = |source| Error::StateWrite {
        path: path.to_path_buf(),
        source,
    };
    let folder: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder).map_err(fail)?;
    let mut json =
        serde_json::to_vec_pretty(manifest).map_err(|e| fail(std::io::Error::other(e)))?;
    json.push(b'\n');
    let mut tmp = tempfile::Builder::new()
        .prefix(".state-")
        .suffix(".tmp")
        .tempfile_in(&folder)
        .map_err(fail)?;
    tmp.write_all(&json).map_err(fail)?;
    // A temp file is created private (0600); the state keeps the mode it had, or gets the usual
    // 0644, so that another user (a service, a deploy user) can read it.
    let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    // The rename is durable only once the folder entry is on disk too.
    if let Ok(dir) = std::fs::File::open(&folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn sample() -> Manifest {
        let mut files = Hashes::new();
        files.insert("index.html".into(), "a".repeat(64));
        files.insert("about/index.html".into(), "b".repeat(64));
        Manifest::new(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            vec!["https://example.com/".into()],
            Vec::new(),
            "c".repeat(64),
            files,
        )
    }

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/state.json");
        save(&path, &sample()).expect("save");
        assert_eq!(load(&path).expect("load"), Some(sample()));
    }

    #[test]
    fn file_format_is_pinned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        save(&path, &sample()).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        let expected = format!(
            r#"{{
  "format": 1,
  "tool": "sitepurge {}",
  "written_at": "2023-11-14T22:13:20Z",
  "base_urls": [
    "https://example.com/"
  ],
  "content_rules": "{}",
  "files": {{
    "about/index.html": "{}",
    "index.html": "{}"
  }}
}}
"#,
            env!("CARGO_PKG_VERSION"),
            "c".repeat(64),
            "b".repeat(64),
            "a".repeat(64)
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn missing_file_is_a_first_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(&dir.path().join("none.json")).expect("load"), None);
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_first_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, "this is not json").expect("write");
        let err = load(&path).expect_err("corrupt");
        assert!(matches!(err, Error::StateCorrupt { .. }), "{err}");
        assert!(
            err.hint()
                .unwrap_or_default()
                .contains("sitepurge baseline")
        );
    }

    #[test]
    fn truncated_file_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        save(&path, &sample()).expect("save");
        let full = std::fs::read(&path).expect("read");
        std::fs::write(&path, &full[..full.len() / 2]).expect("truncate");
        let err = load(&path).expect_err("truncated");
        assert!(matches!(err, Error::StateCorrupt { .. }), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
        std::fs::write(&path, b"").expect("empty");
        assert!(matches!(load(&path), Err(Error::StateCorrupt { .. })));
    }

    #[test]
    fn newer_format_is_refused_naming_the_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"format": 2, "tool": "sitepurge 9.0.0", "files": {}}"#,
        )
        .expect("write");
        let err = load(&path).expect_err("too new");
        assert!(
            matches!(
                err,
                Error::StateTooNew {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("sitepurge 9.0.0"));
    }

    #[test]
    fn bad_hash_is_reported_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let mut m = sample();
        m.files.insert("x.html".into(), "zz".into());
        save(&path, &m).expect("save");
        let err = load(&path).expect_err("bad hash");
        assert!(err.to_string().contains("x.html"), "{err}");
    }

    #[test]
    fn the_state_is_readable_by_others_and_keeps_a_mode_set_on_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        save(&path, &sample()).expect("save");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        save(&path, &sample()).expect("save again");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn save_leaves_no_temp_files_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        save(&path, &sample()).expect("save");
        save(&path, &sample()).expect("save again");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }
}
