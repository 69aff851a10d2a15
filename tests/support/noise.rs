//! What a preset's rules blank in a real build, as `sitepurge explain --json` tells it: the
//! check behind the presets' one principle (blank what is the same for the whole build, never
//! what differs from page to page).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::site::Out;

/// Every file of `build` (the output folder) whose extension is in `extensions`, explained by
/// `explain` (which runs `sitepurge explain PATH --json` in the site's folder): rule name ->
/// the distinct texts it blanked.
pub fn blanked_by_rule(
    build: &Path,
    extensions: &[&str],
    explain: impl Fn(&str) -> Out,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(build) {
        let entry = entry.expect("walk the build");
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(build).expect("below the build");
        let rel = rel.to_str().expect("UTF-8 path");
        let ext = rel.rsplit_once('.').map_or("", |(_, e)| e);
        if !extensions.contains(&ext) {
            continue;
        }
        let out = explain(rel);
        assert_eq!(out.code, 0, "{out:?}");
        for b in out.json()["blanked"].as_array().expect("blanked") {
            let rule = b["rule"].as_str().expect("rule").to_string();
            let text = b["text"].as_str().expect("text").to_string();
            found.entry(rule).or_default().insert(text);
        }
    }
    found
}

/// Checks that exactly `rules` fired on the build, and that each blanked one and the same text
/// in every file.
pub fn assert_one_value_per_rule(found: &BTreeMap<String, BTreeSet<String>>, rules: &[&str]) {
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        rules,
        "the rules that fire on this build: {found:#?}"
    );
    for (rule, texts) in found {
        assert_eq!(
            texts.len(),
            1,
            "{rule} blanked values that differ: {texts:#?}"
        );
    }
}
