//! The state file: what the site looked like the last time its URLs were purged (or recorded).
//! Versioned JSON with sorted keys so it diffs well in git; loaded strictly (a damaged file is an
//! error, never a silent first run) and saved atomically (temp file, fsync, rename), both as a
//! stream, so a million-file site's state (about 110 MB) is never in memory as text.
//!
//! Format 1 is kept for large sites: text with one line per file is what lets a committed state
//! diff well, and git compresses it anyway (a compressed file would change whole on every run and
//! defeat git's deltas). Streamed, it loads and saves a million files in well under 2 s.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::scan::Hashes;

/// The state format this build writes. Older formats are read, newer ones refused.
pub const FORMAT: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a sitepurge state (a JSON object with format, files...)"
)]
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
    /// URLs per Cloudflare purge request that the zone was found to take (`batch_size =
    /// "auto"` after a refusal of the larger count), so the next run starts there. Absent until
    /// learned; older states, without it, read as not learned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudflare_batch_size: Option<usize>,
    /// Output path -> SHA-256 of its content after the content rules (hex in the file).
    pub files: Hashes,
    /// Output path -> what the content rules blanked in it (two bytes a kind of rule, hex), for
    /// the files they changed: only for the precision report (files that changed by build
    /// noise alone, and which noise); it never decides a purge.
    #[serde(default, skip_serializing_if = "Hashes::is_empty")]
    pub noise: Hashes,
    /// The plan file `apply` last carried out into this state (its id): applying that plan
    /// again (a re-run of a failed apply job) is accepted although the state changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_plan: Option<String>,
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
            cloudflare_batch_size: None,
            files,
            noise: Hashes::new(),
            applied_plan: None,
            pending: BTreeSet::new(),
        }
    }
}

/// Only the field that tells whether the rest can be read by this version.
#[derive(Deserialize)]
#[serde(expecting = "a sitepurge state (a JSON object with format, files...)")]
struct FormatProbe {
    format: u64,
    #[serde(default)]
    tool: String,
}

/// Loads the state. `Ok(None)` means no state file: a first run.
///
/// The file is streamed into [`Hashes`]' compact form, never read whole: a million-file site's
/// state is about 110 MB of JSON, which would otherwise sit in memory beside the scan.
pub fn load(path: &Path) -> Result<Option<Manifest>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(read_error(path, source)),
    };
    read(path, file).map(Some)
}

/// [`load`], for a state compared with `scan`: the paths the two have in common are kept once,
/// in the scan's table (with a million files, that saves the state about 33 MB of paths).
pub fn load_beside(path: &Path, scan: &Hashes) -> Result<Option<Manifest>> {
    scan.share_paths_while(|| load(path))
}

fn read_error(path: &Path, source: std::io::Error) -> Error {
    Error::StateRead {
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path, file: File) -> Result<Manifest> {
    let corrupt = |message: String| Error::StateCorrupt {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    if only_whitespace(&mut reader).map_err(|e| read_error(path, e))? {
        return Err(corrupt("the file is empty".into()));
    }
    let error = match serde_json::from_reader::<_, Manifest>(reader) {
        Ok(manifest) => return checked(path, manifest),
        Err(e) if e.is_io() => return Err(read_error(path, e.into())),
        Err(e) => e,
    };
    // A newer format may have fields or values this version cannot read: read only the
    // version, to say so rather than call the file corrupt.
    let probe = File::open(path)
        .ok()
        .and_then(|f| serde_json::from_reader::<_, FormatProbe>(BufReader::new(f)).ok());
    match probe {
        Some(p) if p.format > FORMAT => Err(too_new(path, p.format, p.tool)),
        Some(p) if p.format == 0 => Err(corrupt("format 0 is not a sitepurge state format".into())),
        _ => Err(corrupt(describe(&error))),
    }
}

/// A state read from `bytes` (a manifest published with the site), checked as [`load`] checks
/// a file; `path` names it in errors.
pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Manifest> {
    match serde_json::from_slice::<Manifest>(bytes) {
        Ok(manifest) => checked(path, manifest),
        Err(e) => {
            let probe = serde_json::from_slice::<FormatProbe>(bytes).ok();
            match probe {
                Some(p) if p.format > FORMAT => Err(too_new(path, p.format, p.tool)),
                _ => Err(Error::StateCorrupt {
                    path: path.to_path_buf(),
                    message: describe(&e),
                }),
            }
        }
    }
}

/// A parsed state, refused when its format is too new or 0, or a path is not inside the site.
fn checked(path: &Path, manifest: Manifest) -> Result<Manifest> {
    let corrupt = |message: String| Error::StateCorrupt {
        path: path.to_path_buf(),
        message,
    };
    if manifest.format > FORMAT {
        return Err(too_new(path, manifest.format, manifest.tool));
    }
    if manifest.format == 0 {
        return Err(corrupt("format 0 is not a sitepurge state format".into()));
    }
    // Hand-edited or damaged: a path that is not inside the site would become a purge URL of
    // something else.
    let paths = manifest
        .files
        .iter()
        .chain(manifest.noise.iter())
        .map(|(p, _)| p.to_string())
        .chain(manifest.pending.iter().cloned());
    for p in paths {
        if !is_site_path(&p) {
            return Err(corrupt(format!(
                "{p:?} is not a path inside the output folder (it is absolute, or has an empty, . or .. part)"
            )));
        }
    }
    Ok(manifest)
}

/// Whether `path` is one the scan could have recorded: relative, `/`-separated, with no empty,
/// `.` or `..` part.
pub fn is_site_path(path: &str) -> bool {
    path.split('/')
        .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Large enough that the reads cost nothing next to the parsing.
const READ_BUFFER: usize = 256 * 1024;

/// Whether nothing but whitespace is left; consumes the whitespace it skips.
fn only_whitespace(reader: &mut impl BufRead) -> std::io::Result<bool> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(true);
        }
        let blank = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let done = blank < buf.len();
        reader.consume(blank);
        if done {
            return Ok(false);
        }
    }
}

fn too_new(path: &Path, found: u64, tool: String) -> Error {
    Error::StateTooNew {
        path: path.to_path_buf(),
        found,
        supported: FORMAT,
        tool: if tool.is_empty() {
            "an unknown version".into()
        } else {
            tool
        },
    }
}

fn describe(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Eof => {
            format!("it ends early (line {}): truncated?", e.line())
        }
        _ => e.to_string(),
    }
}

const WRITE_BUFFER: usize = 256 * 1024;

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
    let mut tmp = tempfile::Builder::new()
        .prefix(".state-")
        .suffix(".tmp")
        .tempfile_in(&folder)
        .map_err(fail)?;
    // Streamed, like the load: the whole text of a big state is never in memory.
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, tmp.as_file_mut());
    serde_json::to_writer_pretty(&mut out, manifest).map_err(|e| fail(e.into()))?;
    out.write_all(b"\n").map_err(fail)?;
    out.into_inner().map_err(|e| fail(e.into_error()))?;
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
    use crate::scan::ContentHash;
    use std::time::{Duration, UNIX_EPOCH};

    fn hash(hex: &str) -> ContentHash {
        ContentHash::from_hex(hex).expect("hex")
    }

    fn sample() -> Manifest {
        let mut files = Hashes::new();
        files.insert("index.html".into(), hash(&"a".repeat(64)));
        files.insert("about/index.html".into(), hash(&"b".repeat(64)));
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
    fn a_learned_batch_size_is_written_after_the_content_rules_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let mut m = sample();
        m.cloudflare_batch_size = Some(30);
        save(&path, &m).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        let expected = format!(
            "  \"content_rules\": \"{}\",\n  \"cloudflare_batch_size\": 30,\n  \"files\": {{\n",
            "c".repeat(64)
        );
        assert!(text.contains(&expected), "{text}");
        assert_eq!(load(&path).expect("load"), Some(m));
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
        save(&path, &sample()).expect("save");
        let good = std::fs::read_to_string(&path).expect("read");
        std::fs::write(
            &path,
            good.replace(
                r#""index.html": "aaaa"#,
                r#""x.html": "zz", "index.html": "aaaa"#,
            ),
        )
        .expect("write");
        let err = load(&path).expect_err("bad hash");
        assert!(matches!(err, Error::StateCorrupt { .. }), "{err}");
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

    /// A state written by sitepurge 0.1.0 (format 1) with every field, pending paths included.
    const FORMAT_1: &str = include_str!("../tests/fixtures/state/format-1.json");

    #[test]
    fn a_format_1_state_loads_and_saves_back_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, FORMAT_1).expect("write");
        let m = load(&path).expect("load").expect("a state");
        assert_eq!(m.format, 1);
        assert_eq!(m.tool, "sitepurge 0.1.0");
        assert_eq!(m.written_at, "2026-12-01T16:29:02Z");
        assert_eq!(
            m.base_urls,
            ["https://example.com/", "https://www.example.com/"]
        );
        assert_eq!(m.url_options, ["clean_urls"]);
        assert_eq!(
            m.files.keys().collect::<Vec<_>>(),
            [
                "about.html",
                "css/site.css",
                "index.html",
                "posts/caf é/index.html"
            ]
        );
        assert_eq!(
            m.files["posts/caf é/index.html"],
            hash("72231043bc1807e6f740b235eb7511ecb33255a6a375435631196de8a9750d4b")
        );
        assert_eq!(
            m.pending.iter().collect::<Vec<_>>(),
            ["about.html", "old/gone.html"]
        );
        save(&path, &m).expect("save");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), FORMAT_1);
    }

    #[test]
    fn a_newer_format_is_refused_whether_or_not_this_version_could_parse_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let readable = FORMAT_1
            .replace(r#""format": 1"#, r#""format": 3"#)
            .replace("sitepurge 0.1.0", "sitepurge 2.0.0");
        let unreadable = readable
            .replace(r#""files": {"#, r#""chunks": 4, "files": {"#)
            .replace(
                "a4262e1c9bcbc1721eb3fe13558154460a2b2a2d307daa32532478526ce6ccb1",
                "AQID",
            );
        for text in [readable, unreadable] {
            std::fs::write(&path, text).expect("write");
            let err = load(&path).expect_err("too new");
            assert!(
                matches!(err, Error::StateTooNew { found: 3, supported: 1, ref tool, .. } if tool == "sitepurge 2.0.0"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_hand_edited_state_out_of_order_loads_sorted_and_the_last_duplicate_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        std::fs::write(
            &path,
            format!(
                r#"{{"format": 1, "tool": "", "written_at": "", "base_urls": [], "content_rules": "",
                "files": {{"z.html": "{a}", "b.html": "{b}", "z.html": "{c}", "a/b.html": "{a}"}}}}"#
            ),
        )
        .expect("write");
        let m = load(&path).expect("load").expect("a state");
        assert_eq!(
            m.files.keys().collect::<Vec<_>>(),
            ["a/b.html", "b.html", "z.html"]
        );
        assert_eq!(m.files["z.html"], hash(&c));
    }

    #[test]
    fn leading_whitespace_is_not_an_empty_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        std::fs::write(&path, format!("\n\n  {FORMAT_1}")).expect("write");
        assert!(load(&path).expect("load").is_some());
        std::fs::write(&path, " \n\t ").expect("write");
        let err = load(&path).expect_err("blank");
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn paths_outside_the_site_are_refused_not_turned_into_urls() {
        for bad in [
            "/etc/passwd",
            "../secret.html",
            "a/../../b",
            "a//b",
            "./a",
            "",
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("state.json");
            let text = format!(
                r#"{{"format": 1, "tool": "x", "written_at": "t", "base_urls": [], "content_rules": "r", "files": {{"{}": "{}"}}}}"#,
                bad.replace('"', "\\\""),
                "0".repeat(64)
            );
            std::fs::write(&path, text).expect("write");
            let err = load(&path).expect_err(bad);
            assert!(matches!(err, Error::StateCorrupt { .. }), "{bad}: {err}");
            assert_eq!(err.exit(), crate::error::Exit::State);
            assert!(
                err.to_string()
                    .contains("is not a path inside the output folder"),
                "{err}"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let pending = r#"{"format": 1, "tool": "x", "written_at": "t", "base_urls": [], "content_rules": "r", "files": {}, "pending": ["../x"]}"#;
        std::fs::write(&path, pending).expect("write");
        assert!(matches!(load(&path), Err(Error::StateCorrupt { .. })));
    }

    #[test]
    fn a_state_of_the_wrong_shape_says_what_is_expected_not_a_type_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        for text in ["[]", "5", "\"state\""] {
            std::fs::write(&path, text).expect("write");
            let err = load(&path).expect_err(text).to_string();
            assert!(err.contains("a sitepurge state"), "{text}: {err}");
            assert!(
                !err.contains("struct")
                    && !err.contains("FormatProbe")
                    && !err.contains("Manifest"),
                "{text}: {err}"
            );
        }
    }
}
