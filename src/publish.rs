//! Publishing from CI: the pieces that look at the live site over HTTP.
//!
//! - The state published with the site (`publish_manifest`), read back by the next plan from
//!   `state_url`, so a CI job with no disk of its own still knows what the live site holds.
//! - Waiting for the origin (`origin_url`) to serve the new build before purging, so the cache
//!   does not fetch the old version again.
//! - Checking, after the purge, that the cache serves the new bytes (`check_after_purge`).
//!
//! A page is compared by the hash the scan gives it: the bytes after the content rules, so that
//! build noise in what is served does not count as stale.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::manifest::{self, Manifest};
use crate::scan::{self, ContentHash, ContentRules, Learned};

/// Where the published manifest goes in the output folder when `publish_manifest = true`.
pub const DEFAULT_MANIFEST_PATH: &str = ".well-known/sitepurge.json";

/// How many URLs are fetched at once, by the check and while waiting for the origin.
const CONCURRENCY: usize = 8;

/// The headers that tell where a response came from, reported with a stale URL.
const CACHE_HEADERS: [&str; 6] = [
    "age",
    "cf-cache-status",
    "x-cache",
    "x-cache-status",
    "x-varnish",
    "via",
];

/// `check_after_purge`: how many purged URLs to fetch afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged, expecting = "a number of URLs (10), or \"all\"")]
pub enum CheckCount {
    Sample(usize),
    All(AllWord),
}

/// The word `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllWord {
    All,
}

impl Default for CheckCount {
    fn default() -> Self {
        CheckCount::Sample(10)
    }
}

impl CheckCount {
    /// At most this many URLs (None: all of them).
    pub fn limit(self) -> Option<usize> {
        match self {
            CheckCount::Sample(n) => Some(n),
            CheckCount::All(_) => None,
        }
    }
}

/// What to do when the published state cannot be read (a 5xx, a timeout, not a state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStateError {
    /// Stop with exit 3: nothing is purged, nothing is lost.
    #[default]
    Fail,
    /// Purge everything, as on a first run.
    Everything,
}

/// The publishing settings, resolved.
#[derive(Debug, Clone, Default)]
pub struct Publishing {
    /// Where `plan` writes the new state in the output folder (None: it does not).
    pub manifest_path: Option<String>,
    /// Where `plan` reads the previous state (None: from the state file).
    pub state_url: Option<url::Url>,
    pub on_state_error: OnStateError,
    /// The origin's base URL, polled before the purge until it serves the new build.
    pub origin_url: Option<url::Url>,
    pub origin_timeout: Duration,
    pub check: CheckCount,
}

/// One URL to look at, and what its file holds in the build (None: the file was removed, so
/// anything but a 200 is fresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub url: String,
    pub path: String,
    pub expected: Option<ContentHash>,
}

/// What a URL served, compared with the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Fresh,
    /// Other bytes than the build's (or a 200 for a removed file): the status, and the headers
    /// that tell which cache answered.
    Stale {
        status: u16,
        headers: BTreeMap<String, String>,
    },
    /// No answer to judge by (a connection error, a timeout, a 5xx).
    Unreachable(String),
}

/// A stale URL, as the report shows it: `{url, path, status, headers}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleUrl {
    pub url: String,
    pub path: String,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
}

/// How the rules and learned times of the build apply to what is fetched.
#[derive(Debug, Clone, Copy)]
pub struct Judge<'a> {
    pub rules: &'a ContentRules,
    pub learned: &'a Learned,
}

/// A URL with a query that no cache has seen, so a cache in the way passes it to the origin.
fn cache_busting(url: &str, nonce: u64) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sitepurge={nonce:x}")
}

/// A number that differs between two runs (and two polls), for cache-busting queries.
pub fn nonce() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (now as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// Fetches `probe.url` and compares it with the build. `bypass`: ask past every cache (the
/// origin wait), rather than see what the cache serves (the check).
pub async fn look(client: &reqwest::Client, probe: &Probe, bypass: bool, judge: Judge<'_>) -> Seen {
    let mut request = if bypass {
        client
            .get(cache_busting(&probe.url, nonce()))
            .header("Cache-Control", "no-cache")
            .header("Pragma", "no-cache")
    } else {
        client.get(&probe.url)
    };
    request = request.header("Accept-Encoding", "identity");
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Seen::Unreachable(describe(&e)),
    };
    let status = response.status().as_u16();
    let headers: BTreeMap<String, String> = CACHE_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    if status >= 500 {
        return Seen::Unreachable(format!("HTTP {status}"));
    }
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return Seen::Unreachable(describe(&e)),
    };
    let fresh = match &probe.expected {
        None => status != 200,
        Some(expected) => {
            status == 200
                && scan::hash_bytes(&probe.path, &body, judge.rules, judge.learned) == *expected
        }
    };
    if fresh {
        Seen::Fresh
    } else {
        Seen::Stale { status, headers }
    }
}

/// [`look`] at every probe, a few at a time; the results in the probes' order.
pub async fn look_all(
    client: &reqwest::Client,
    probes: &[Probe],
    bypass: bool,
    judge: Judge<'_>,
) -> Vec<Seen> {
    let mut seen: Vec<(usize, Seen)> = stream::iter(probes.iter().enumerate())
        .map(|(i, p)| async move { (i, look(client, p, bypass, judge).await) })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    seen.sort_by_key(|(i, _)| *i);
    seen.into_iter().map(|(_, s)| s).collect()
}

/// An error of the HTTP client in a few words, with no URL (the caller names it).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {cause}")
    }
}

/// Up to `limit` probes, chosen across the changed paths: one URL of each path in turn (the
/// first base URL's first spelling, then the next), so that a sample covers as many files as
/// it can. `urls` are the plan's `(url, path)` pairs, grouped by path.
pub fn sample(
    urls: &[(String, String)],
    expected: impl Fn(&str) -> Option<ContentHash>,
    limit: Option<usize>,
) -> Vec<Probe> {
    let mut by_path: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (url, path) in urls {
        by_path.entry(path).or_default().push(url);
    }
    let mut out = Vec::new();
    let mut round = 0;
    let limit = limit.unwrap_or(usize::MAX);
    while out.len() < limit {
        let mut any = false;
        for (path, list) in &by_path {
            if let Some(url) = list.get(round) {
                any = true;
                if out.len() < limit {
                    out.push(Probe {
                        url: url.to_string(),
                        path: path.to_string(),
                        expected: expected(path),
                    });
                }
            }
        }
        if !any {
            break;
        }
        round += 1;
    }
    out
}

/// What reading the published state found.
#[derive(Debug)]
pub enum Published {
    /// The state the live site was deployed with.
    Found(Box<Manifest>),
    /// None there (404 or 410): the site was never deployed with one.
    Absent,
}

/// Reads the state published with the live site, past every cache. A 404 or 410 is
/// [`Published::Absent`]; anything else that is not a state (a 5xx, a timeout, another
/// document) is an error in words.
pub async fn fetch_state(client: &reqwest::Client, url: &url::Url) -> Result<Published, String> {
    let response = client
        .get(cache_busting(url.as_str(), nonce()))
        .header("Cache-Control", "no-cache")
        .header("Pragma", "no-cache")
        .header("Accept-Encoding", "identity")
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    if status == 404 || status == 410 {
        return Ok(Published::Absent);
    }
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let body = response.bytes().await.map_err(|e| describe(&e))?;
    manifest::from_bytes(Path::new(url.as_str()), &body)
        .map(|m| Published::Found(Box::new(m)))
        .map_err(|e| match e {
            crate::error::Error::StateCorrupt { message, .. } => {
                format!("it is not a sitepurge state ({message})")
            }
            other => other.to_string(),
        })
}

/// `url` of `path` with the origin's base instead of the site's: `base` is one of the site's
/// base URLs that `url` starts with.
pub fn at_origin(url: &str, bases: &[String], origin: &url::Url) -> Option<String> {
    let base = bases.iter().find(|b| url.starts_with(b.as_str()))?;
    let rest = &url[base.len()..];
    let mut origin = origin.as_str().to_string();
    if !origin.ends_with('/') {
        origin.push('/');
    }
    Some(format!("{origin}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> ContentHash {
        ContentHash::new([n; 32])
    }

    #[test]
    fn a_sample_covers_as_many_files_as_it_can() {
        let urls: Vec<(String, String)> = [
            ("https://a/x/", "x/index.html"),
            ("https://a/x/index.html", "x/index.html"),
            ("https://a/y.css", "y.css"),
            ("https://a/z/", "z/index.html"),
            ("https://a/z/index.html", "z/index.html"),
        ]
        .iter()
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect();
        let got: Vec<String> = sample(&urls, |_| Some(hash(1)), Some(4))
            .into_iter()
            .map(|p| p.url)
            .collect();
        assert_eq!(
            got,
            [
                "https://a/x/",
                "https://a/y.css",
                "https://a/z/",
                "https://a/x/index.html"
            ]
        );
        assert_eq!(sample(&urls, |_| None, None).len(), 5);
        assert!(sample(&urls, |_| None, Some(0)).is_empty());
    }

    #[test]
    fn a_url_moves_to_the_origin_below_its_base() {
        let origin = url::Url::parse("https://user.github.io/site").expect("url");
        let bases = ["https://example.com/docs/".to_string()];
        assert_eq!(
            at_origin("https://example.com/docs/a/b/", &bases, &origin).as_deref(),
            Some("https://user.github.io/site/a/b/")
        );
        assert_eq!(at_origin("https://other.com/a", &bases, &origin), None);
    }

    #[test]
    fn cache_busting_adds_a_query_that_changes() {
        assert_eq!(
            cache_busting("https://a/x", 255),
            "https://a/x?sitepurge=ff"
        );
        assert_eq!(
            cache_busting("https://a/x?p=1", 1),
            "https://a/x?p=1&sitepurge=1"
        );
    }

    #[test]
    fn check_after_purge_reads_a_number_or_all() {
        #[derive(Deserialize)]
        struct T {
            c: CheckCount,
        }
        let read = |s: &str| toml::from_str::<T>(s).map(|t| t.c.limit());
        assert_eq!(read("c = 3").ok(), Some(Some(3)));
        assert_eq!(read("c = \"all\"").ok(), Some(None));
        assert!(read("c = \"some\"").is_err());
        assert_eq!(CheckCount::default().limit(), Some(10));
    }
}
