//! What a test expects, worked out here and never with sitepurge's own code: the URLs of an
//! output file, a file's hash, the URLs of a report, the purge endpoint, a clean run of the fake.

use std::collections::BTreeSet;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cloudflare::FakeCloudflare;

/// The base URL of the test sites (its zone is the fake's `example.com`).
pub const BASE: &str = "https://example.com/";

/// SHA-256 hex of some bytes: what the state records for a file (no `ignore_content` rules).
pub fn sha(content: impl AsRef<[u8]>) -> String {
    Sha256::digest(content.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A set of strings, from anything that yields them.
pub fn set(items: impl IntoIterator<Item = impl AsRef<str>>) -> BTreeSet<String> {
    items.into_iter().map(|s| s.as_ref().to_string()).collect()
}

/// The `urls[].url` of a report, sorted.
pub fn urls(report: &Value) -> Vec<String> {
    let mut urls: Vec<String> = report["urls"]
        .as_array()
        .expect("urls array")
        .iter()
        .map(|u| u["url"].as_str().expect("url").to_string())
        .collect();
    urls.sort();
    urls
}

/// Percent-encodes a path as a browser sends it, for the characters the fixtures use: ASCII
/// letters, digits, `-._~/` kept; everything else (space, UTF-8 bytes) as `%XX`, upper-case hex.
pub fn encode(path: &str) -> String {
    let mut out = String::new();
    for &b in path.as_bytes() {
        assert!(
            b.is_ascii_alphanumeric() || b" -._~/".contains(&b) || !b.is_ascii(),
            "{path:?}: this test's encoder only knows letters, digits, -._~/, space and non-ASCII"
        );
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URLs of an output path under [`BASE`], as the README's table says: `a/index.html` is
/// both `a/` and `a/index.html`; anything else itself.
pub fn urls_of(path: &str) -> Vec<String> {
    let encoded = encode(path);
    match encoded.strip_suffix("index.html") {
        Some(dir) if dir.is_empty() || dir.ends_with('/') => {
            vec![format!("{BASE}{dir}"), format!("{BASE}{encoded}")]
        }
        _ => vec![format!("{BASE}{encoded}")],
    }
}

/// The URLs of every output path in `paths`.
pub fn urls_of_all<'a>(paths: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    paths.into_iter().flat_map(|p| urls_of(p)).collect()
}

/// The API path of a zone's purge endpoint.
pub fn purge_path(zone: &str) -> String {
    format!("/client/v4/zones/{zone}/purge_cache")
}

/// Asserts the fake saw no rule break.
pub fn assert_clean(cf: &FakeCloudflare) {
    let v = cf.violations();
    assert!(v.is_empty(), "the fake saw rule breaks: {v:#?}");
}
