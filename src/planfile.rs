//! The plan as a file, for deploys in two steps: `sitepurge plan --out FILE` before the deploy
//! writes everything the purge needs (the decision, the URLs, the state to record, and
//! fingerprints of the settings and of the state it was computed from); `sitepurge apply FILE`
//! after the deploy purges exactly that and records it, and refuses a plan whose settings or
//! base state no longer match.

use std::collections::BTreeSet;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diff::ChangeSet;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::scan::{Hashes, Learned};

/// The plan-file format this build writes and reads.
pub const FORMAT: u64 = 1;

/// Where the state a plan was computed from came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Base {
    /// The state file (its path and a fingerprint of its bytes), or none yet (`fingerprint`
    /// null): apply refuses the plan once the file differs.
    File {
        path: String,
        fingerprint: Option<String>,
    },
    /// The manifest published with the live site (`state_url`), or none there yet (a 404).
    Url { url: String, found: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a sitepurge plan (a JSON object with format, settings, plan...)"
)]
pub struct PlanFile {
    /// [`FORMAT`].
    pub format: u64,
    /// The sitepurge that wrote it.
    pub tool: String,
    /// When, RFC 3339 UTC.
    pub written_at: String,
    /// A fingerprint of the settings the purge depends on (base URLs, URL options, content
    /// rules, provider and its target): apply refuses the plan under other settings.
    pub settings: String,
    pub base: Base,
    /// The output folder it was made from, as the report showed it.
    pub dir: String,
    /// What changed, pending paths included.
    pub changes: ChangeSet,
    pub plan: Plan,
    /// The site as built: each file's hash after the content rules (what apply records).
    pub files: Hashes,
    /// What the content rules blanked in each file (the precision report's traces).
    #[serde(default, skip_serializing_if = "Hashes::is_empty")]
    pub noise: Hashes,
    /// The build-wide times learned from the build (blanked the same way when the freshness
    /// check compares what the cache serves).
    #[serde(default)]
    pub learned: Learned,
    /// What the scan skipped, as the plan reported it.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl PlanFile {
    /// The paths whose URLs the plan purges (every changed path), sorted.
    pub fn changed_paths(&self) -> BTreeSet<String> {
        self.changes
            .paths()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect()
    }
}

/// A plan's id: a fingerprint of all it says. The state records the id of the plan an apply
/// carried out, so that applying it again is recognised.
pub fn id(plan: &PlanFile) -> String {
    let bytes = serde_json::to_vec(plan).unwrap_or_default();
    crate::scan::hex(&Sha256::digest(&bytes))
}

/// A fingerprint of a file's bytes (None: no such file).
pub fn fingerprint_file(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(crate::scan::hex(&Sha256::digest(&bytes)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::StateRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// When a plan is written: RFC 3339 UTC, to the second.
pub fn timestamp(now: SystemTime) -> String {
    humantime::format_rfc3339_seconds(now).to_string()
}

/// Writes the plan atomically (temp file beside it, then rename).
pub fn save(path: &Path, plan: &PlanFile) -> Result<()> {
    let fail = |source: std::io::Error| Error::WriteFile {
        path: path.to_path_buf(),
        source,
    };
    let folder: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder).map_err(fail)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".plan-")
        .suffix(".tmp")
        .tempfile_in(&folder)
        .map_err(fail)?;
    let mut out = BufWriter::new(tmp.as_file_mut());
    serde_json::to_writer(&mut out, plan).map_err(|e| fail(e.into()))?;
    out.write_all(b"\n").map_err(fail)?;
    out.into_inner().map_err(|e| fail(e.into_error()))?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Reads a plan; a missing, damaged or newer-format file is an error naming it.
pub fn load(path: &Path) -> Result<PlanFile> {
    let file = std::fs::File::open(path).map_err(|source| Error::PlanRead {
        path: path.to_path_buf(),
        source,
    })?;
    let corrupt = |message: String| Error::PlanCorrupt {
        path: path.to_path_buf(),
        message,
    };
    let value: serde_json::Value = serde_json::from_reader(BufReader::new(file))
        .map_err(|e| corrupt(format!("not JSON: {e}")))?;
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(corrupt(format!(
                "it is in format {other}, and this sitepurge reads format {FORMAT}: make and apply plans with the same sitepurge version"
            )));
        }
        None => return Err(corrupt("it is not a sitepurge plan (no format)".into())),
    }
    let plan: PlanFile = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
    for p in plan
        .files
        .keys()
        .chain(plan.changed_paths().iter().map(String::as_str))
    {
        if !crate::manifest::is_site_path(p) {
            return Err(corrupt(format!(
                "{p:?} is not a path inside the output folder"
            )));
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Decision, PurgeUrl, Reason};
    use crate::scan::ContentHash;
    use std::time::{Duration, UNIX_EPOCH};

    fn sample() -> PlanFile {
        let mut files = Hashes::new();
        files.insert("index.html".into(), ContentHash::new([1; 32]));
        let mut changes = ChangeSet::default();
        changes.modified.push("index.html".into());
        PlanFile {
            format: FORMAT,
            tool: "sitepurge test".into(),
            written_at: timestamp(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            settings: "s".repeat(64),
            base: Base::File {
                path: ".sitepurge/state.json".into(),
                fingerprint: Some("f".repeat(64)),
            },
            dir: "_site".into(),
            changes,
            plan: Plan {
                decision: Decision::Urls,
                reason: Reason::Changes,
                urls: vec![PurgeUrl {
                    url: "https://example.com/".into(),
                    path: "index.html".into(),
                    change: crate::diff::Change::Modified,
                }],
                url_count: 1,
                skipped: vec![],
                limit: 10,
                site_urls: 2,
                wildcards: vec![crate::plan::Wildcard {
                    url: "https://example.com/blog/*".into(),
                    changed: 4,
                    unchanged: 1,
                    includes_folder: true,
                }],
            },
            files: files.clone(),
            noise: files,
            learned: Learned::default(),
            warnings: vec![],
        }
    }

    #[test]
    fn the_plan_file_has_exactly_the_fields_the_readme_lists() {
        let readme = include_str!("../README.md");
        let row = readme
            .lines()
            .find(|l| l.starts_with("| `plan --out FILE`"))
            .expect("a README row for the plan file");
        let start = row.find("`{").expect("fields") + 2;
        let end = start + row[start..].find("}`").expect("closing");
        let documented: BTreeSet<String> =
            row[start..end].split(", ").map(str::to_string).collect();
        let json = serde_json::to_value(sample()).expect("json");
        let actual: BTreeSet<String> = json.as_object().expect("object").keys().cloned().collect();
        assert_eq!(actual, documented);
    }

    #[test]
    fn a_plan_round_trips_through_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out/plan.json");
        save(&path, &sample()).expect("save");
        assert_eq!(load(&path).expect("load"), sample());
    }

    #[test]
    fn a_damaged_or_foreign_plan_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        for (text, says) in [
            ("{", "not JSON"),
            ("{\"files\": {}}", "no format"),
            ("{\"format\": 9}", "format 9"),
            ("{\"format\": 1}", "missing field"),
        ] {
            std::fs::write(&path, text).expect("write");
            let e = load(&path).expect_err(text).to_string();
            assert!(e.contains("plan.json") && e.contains(says), "{text}: {e}");
        }
        let mut bad = sample();
        bad.files
            .insert("../etc/passwd".into(), ContentHash::new([2; 32]));
        save(&path, &bad).expect("save");
        assert!(
            load(&path)
                .expect_err("outside")
                .to_string()
                .contains("passwd")
        );
        let missing = load(&dir.path().join("none.json")).expect_err("missing");
        assert_eq!(missing.exit(), crate::error::Exit::Usage);
    }
}
