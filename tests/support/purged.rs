//! What a real generator's rebuild should purge, worked out from the two builds' bytes, and the
//! check that the fake Cloudflare received exactly that. (The same checks as
//! `tests/suite/generators.rs`, shared here for the suites that build with other generators.)

use std::collections::BTreeSet;

use regex::bytes::Regex;
use serde_json::{Value, json};

use super::cloudflare::{FakeCloudflare, ZONE_ID};
use super::expect::urls;
use super::site::Snapshot;

/// The files the noise rules apply to.
const TEXT_EXTENSIONS: &[&str] = &["html", "xml", "txt", "json"];

/// Paths that appeared, vanished or differ once every match of `patterns` is removed from text
/// files (html, xml, txt, json).
pub fn changed_ignoring(
    before: &Snapshot,
    after: &Snapshot,
    patterns: &[&str],
) -> BTreeSet<String> {
    let rules: Vec<Regex> = patterns
        .iter()
        .map(|p| Regex::new(p).expect("regex"))
        .collect();
    let content = |path: &str, bytes: &[u8]| {
        let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
        let mut bytes = bytes.to_vec();
        if TEXT_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) {
            for rule in &rules {
                bytes = rule.replace_all(&bytes, &b""[..]).into_owned();
            }
        }
        bytes
    };
    let paths: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    paths
        .into_iter()
        .filter(|p| match (before.get(*p), after.get(*p)) {
            (Some(a), Some(b)) => content(p, a) != content(p, b),
            _ => true,
        })
        .cloned()
        .collect()
}

/// Checks what the fake received against `expected`: the union of the purge requests' `files`
/// is exactly it, no URL is sent twice, nothing is purged when it is empty, no rule was broken;
/// and the report lists the same URLs.
pub fn assert_purged(cf: &FakeCloudflare, report: &Value, expected: &BTreeSet<String>) {
    assert_eq!(cf.violations(), Vec::<String>::new(), "API rules broken");
    let requests = cf.purge_requests();
    let mut sent: Vec<String> = Vec::new();
    for r in &requests {
        assert_eq!(r.purge_zone(), Some(ZONE_ID));
        assert_eq!(r.status, Some(200), "purge answered {:?}", r.status);
        let body = r.json().expect("JSON purge body");
        let files = body["files"]
            .as_array()
            .unwrap_or_else(|| panic!("a purge by files, got {body}"));
        sent.extend(
            files
                .iter()
                .map(|f| f.as_str().expect("URL string").to_string()),
        );
    }
    let union: BTreeSet<String> = sent.iter().cloned().collect();
    let missing: Vec<&String> = expected.difference(&union).collect();
    let extra: Vec<&String> = union.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "purged URLs differ from the changed files' URLs\nnot purged: {missing:#?}\n\
         purged but unchanged: {extra:#?}"
    );
    assert_eq!(sent.len(), union.len(), "a URL was sent twice: {sent:#?}");
    assert_eq!(&cf.purged_files(), expected);

    assert_eq!(urls(report), expected.iter().cloned().collect::<Vec<_>>());
    if expected.is_empty() {
        assert!(requests.is_empty(), "purged with nothing changed");
        assert_eq!(report["decision"], "nothing", "{report:#}");
        assert_eq!(report["purge"], Value::Null);
    } else {
        assert_eq!(report["decision"], "urls", "{report:#}");
        assert_eq!(report["purge"]["urls_purged"], json!(expected.len()));
        assert_eq!(report["purge"]["urls_pending"], json!([]));
    }
}
