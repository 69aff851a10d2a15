//! End-to-end tests of `sitepurge run` and `sitepurge verify` against the local stand-in for the
//! Cloudflare v4 API (`tests/support/cloudflare.rs`). Each test builds a small site in its own
//! temp folder, runs the real binary there with no `SITEPURGE_*`/`CLOUDFLARE_*` variable
//! inherited and `CLOUDFLARE_API_BASE_URL` pointing at the fake, then checks the exact requests
//! the fake received (count, method, path, credentials, body), that the fake saw no rule break,
//! the exit code, what the user was told, and the state file afterwards.
//!
//! Expected URLs are written out by hand from the file names, and expected hashes computed with
//! `sha2` directly, never with sitepurge's own code.
#![cfg(unix)]

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::{Value, json};
use support::cloudflare::{
    ACCOUNT_ID, API_KEY, Behaviour, EMAIL, FakeCloudflare, OLD_PLAN_LIMIT, RecordedRequest, TOKEN,
    TOKEN_ID, TokenOwner, TokenStatus, ZONE_ID,
};
use support::expect::{assert_clean, purge_path, set, sha};
use support::site::{Folder, Out, Site, sitepurge_in};

const APEX: &str = "https://example.com/";
const WWW: &str = "https://www.example.com/";
/// A token the fake does not accept (same shape as a real one, so it is not "malformed").
const BAD_TOKEN: &str = "WrongTokenZq8vK2mN4pR6tX9yB1cD3fG5hJ7kLm";
/// A global API key the fake does not accept (37 lower-case hex digits, like a real one).
const BAD_KEY: &str = "0123456789abcdef0123456789abcdef01234";

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// Which credentials a run gets from its environment.
#[derive(Clone, Copy)]
enum Creds<'a> {
    Token(&'a str),
    Key(&'a str, &'a str),
    None,
}

// What these tests do with a `Site` (tests/support/site.rs): a temp folder used as the cwd,
// holding `sitepurge.toml` and the output folder `_site`.
/// What this suite does with a test site (an extension trait: every suite adds its own).
trait ApiSite {
    fn with_config(config: &str) -> Site;
    fn state_folder_text(&self) -> String;
    fn cmd(&self, api: &str, creds: Creds<'_>, args: &[&str]) -> Command;
    fn exec(&self, cf: &FakeCloudflare, creds: Creds<'_>, args: &[&str]) -> Out;
    fn run(&self, cf: &FakeCloudflare, args: &[&str]) -> Out;
    fn baseline(&self);
    fn fresh_baseline(&self) -> Value;
    fn assert_state_is_fresh_baseline(&self);
}

impl ApiSite for Site {
    /// A site with `_site` and this `sitepurge.toml`.
    fn with_config(config: &str) -> Site {
        let site = Site::new();
        site.put("sitepurge.toml", config);
        site
    }

    /// Every byte under `.sitepurge/`, for secrecy checks.
    fn state_folder_text(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = fs::read_dir(self.path(".sitepurge")) {
            for e in entries {
                let e = e.expect("entry");
                text.push_str(&String::from_utf8_lossy(&fs::read(e.path()).expect("read")));
            }
        }
        text
    }

    /// The binary in this folder, isolated from the test's environment, talking to `api`.
    fn cmd(&self, api: &str, creds: Creds<'_>, args: &[&str]) -> Command {
        let mut cmd = sitepurge_in(self.root());
        cmd.env("CLOUDFLARE_API_BASE_URL", api);
        match creds {
            Creds::Token(t) => {
                cmd.env("CLOUDFLARE_API_TOKEN", t);
            }
            Creds::Key(email, key) => {
                cmd.env("CLOUDFLARE_EMAIL", email)
                    .env("CLOUDFLARE_API_KEY", key);
            }
            Creds::None => {}
        }
        cmd.args(args);
        cmd
    }

    fn exec(&self, cf: &FakeCloudflare, creds: Creds<'_>, args: &[&str]) -> Out {
        Out::of(&mut self.cmd(&cf.base_url(), creds, args))
    }

    /// `sitepurge run ARGS` with the good token.
    fn run(&self, cf: &FakeCloudflare, args: &[&str]) -> Out {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        self.exec(cf, Creds::Token(TOKEN), &all)
    }

    /// Records the current site as the state (no API involved).
    fn baseline(&self) {
        let out = self
            .cmd(
                "http://127.0.0.1:9/client/v4",
                Creds::None,
                &["baseline", "-q"],
            )
            .output()
            .expect("baseline");
        assert!(out.status.success(), "baseline failed: {out:?}");
        assert!(self.state_bytes().is_some(), "baseline wrote no state");
    }

    /// The state a fresh `baseline` of the site as it is now would write, without `written_at`.
    fn fresh_baseline(&self) -> Value {
        let out = self
            .cmd(
                "http://127.0.0.1:9/client/v4",
                Creds::None,
                &["baseline", "-q", "--state", "fresh-baseline.json"],
            )
            .output()
            .expect("baseline");
        assert!(out.status.success(), "baseline failed: {out:?}");
        let bytes = fs::read(self.path("fresh-baseline.json")).expect("fresh baseline");
        fs::remove_file(self.path("fresh-baseline.json")).expect("rm fresh baseline");
        without_written_at(serde_json::from_slice(&bytes).expect("JSON"))
    }

    /// Asserts the state file is exactly what a fresh baseline records (but for the time).
    fn assert_state_is_fresh_baseline(&self) {
        assert_eq!(without_written_at(self.state()), self.fresh_baseline());
    }
}

fn without_written_at(mut v: Value) -> Value {
    v.as_object_mut()
        .expect("state object")
        .remove("written_at")
        .expect("written_at");
    v
}

/// `sitepurge.toml` with these base URLs and extra lines.
fn config(bases: &[&str], extra: &[&str]) -> String {
    let bases: Vec<String> = bases.iter().map(|b| format!("{b:?}")).collect();
    let mut text = format!("base_urls = [{}]\n", bases.join(", "));
    for line in extra {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `zone = "<ZONE_ID>"`: no zone lookup.
fn zone_id() -> String {
    format!("zone = \"{ZONE_ID}\"")
}

const FAST: &str = "retry_delay = \"10ms\"";

/// Asserts the request is a well-formed purge of the default zone carrying these credentials.
fn assert_purge(r: &RecordedRequest, creds: Creds<'_>) {
    assert_eq!(r.method, "POST", "{r:?}");
    assert_eq!(r.path, purge_path(ZONE_ID), "{r:?}");
    // No query (the client ends the URL with a bare `?`, which is the same thing).
    assert_eq!(r.query.as_deref().unwrap_or(""), "", "{r:?}");
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
    assert_creds(r, creds);
}

/// Asserts the request carries exactly these credentials, once, and no other scheme.
fn assert_creds(r: &RecordedRequest, creds: Creds<'_>) {
    match creds {
        Creds::Token(t) => {
            assert_eq!(
                r.header_values("authorization"),
                [format!("Bearer {t}").as_str()]
            );
            assert!(r.header_values("x-auth-email").is_empty(), "{r:?}");
            assert!(r.header_values("x-auth-key").is_empty(), "{r:?}");
        }
        Creds::Key(email, key) => {
            assert!(r.header_values("authorization").is_empty(), "{r:?}");
            assert_eq!(r.header_values("x-auth-email"), [email]);
            assert_eq!(r.header_values("x-auth-key"), [key]);
        }
        Creds::None => panic!("a request was sent without credentials: {r:?}"),
    }
}

/// The URLs of a `{"files": [...]}` body of plain URL strings (and nothing else in it).
fn files_of(r: &RecordedRequest) -> Vec<String> {
    let body = r.json().expect("JSON body");
    let obj = body.as_object().expect("body object");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["files"],
        "body keys: {body}"
    );
    body["files"]
        .as_array()
        .expect("files array")
        .iter()
        .map(|f| f.as_str().expect("a URL string").to_string())
        .collect()
}

/// Both spellings of every base URL for a plain file.
fn both(path: &str) -> [String; 2] {
    [format!("{APEX}{path}"), format!("{WWW}{path}")]
}

/// A small site: 4 files, each 1 URL per base URL except the index (2).
fn small_site(extra: &[&str]) -> Site {
    let mut lines = vec![zone_id(), FAST.to_string(), "threshold = 1000".to_string()];
    lines.extend(extra.iter().map(|s| s.to_string()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let site = Site::with_config(&config(&[APEX, WWW], &lines));
    site.page("index.html", "<h1>Home</h1>");
    site.page("a.css", "a { }");
    site.page("c.css", "c { }");
    site.page("keep.txt", "unchanged");
    site
}

/// After a baseline of [`small_site`]: modify `a.css`, add `b.css`, remove `c.css`.
/// Returns the 6 URLs to purge.
fn change_small_site(site: &Site) -> BTreeSet<String> {
    site.page("a.css", "a { color: red }");
    site.page("b.css", "b { }");
    site.remove("c.css");
    set(["a.css", "b.css", "c.css"].iter().flat_map(|p| both(p)))
}

/// Builds a site, records a baseline, then changes it so the plan is exactly 95 URLs under the
/// single base URL `https://example.com/`. Returns the 95 URLs, written out from the names.
fn ninety_five(extra: &[&str]) -> (Site, BTreeSet<String>) {
    let mut lines = vec![zone_id(), FAST.to_string(), "threshold = 1000".to_string()];
    lines.extend(extra.iter().map(|s| s.to_string()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let site = Site::with_config(&config(&[APEX], &lines));
    for i in 0..40 {
        site.page(&format!("css/p{i:02}.css"), format!("p{i} {{ }}"));
    }
    for i in 0..5 {
        site.page(&format!("old/r{i:02}.txt"), format!("old {i}"));
        site.page(
            &format!("posts/p{i:02}/index.html"),
            format!("<h1>{i}</h1>"),
        );
    }
    for i in 0..20 {
        site.page(&format!("keep/k{i:02}.html"), format!("keep {i}"));
    }
    site.baseline();

    let mut expected = BTreeSet::new();
    // 40 modified stylesheets: 40 URLs.
    for i in 0..40 {
        site.page(
            &format!("css/p{i:02}.css"),
            format!("p{i} {{ color: red }}"),
        );
        expected.insert(format!("https://example.com/css/p{i:02}.css"));
    }
    // 5 removed files: 5 URLs.
    for i in 0..5 {
        site.remove(&format!("old/r{i:02}.txt"));
        expected.insert(format!("https://example.com/old/r{i:02}.txt"));
    }
    // 5 modified pages: 10 URLs (the folder and its index.html).
    for i in 0..5 {
        site.page(
            &format!("posts/p{i:02}/index.html"),
            format!("<h1>{i} (edited)</h1>"),
        );
        expected.insert(format!("https://example.com/posts/p{i:02}/"));
        expected.insert(format!("https://example.com/posts/p{i:02}/index.html"));
    }
    // 39 added scripts and one added image with a space and non-ASCII in its name: 40 URLs.
    for i in 1..40 {
        site.page(&format!("js/n{i:02}.js"), format!("let n = {i};"));
        expected.insert(format!("https://example.com/js/n{i:02}.js"));
    }
    site.page("img/café 1.png", [0x89, b'P', b'N', b'G']);
    expected.insert("https://example.com/img/caf%C3%A9%201.png".to_string());
    assert_eq!(expected.len(), 95);
    (site, expected)
}

// ------------------------------------------------------------------------------------------
// 1, 2: batches
// ------------------------------------------------------------------------------------------

#[test]
fn ninety_five_changed_urls_go_in_one_request_of_the_auto_size() {
    let cf = FakeCloudflare::start();
    let (site, expected) = ninety_five(&[]);

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let purges = cf.requests();
    assert_eq!(purges.len(), 1, "{purges:#?}");
    assert_purge(&purges[0], Creds::Token(TOKEN));
    assert_eq!(purges[0].status, Some(200));
    let files = files_of(&purges[0]);
    assert_eq!(files.len(), 95, "a URL was sent twice or left out");
    assert_eq!(set(files), expected);
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);

    let report = out.json();
    assert_eq!(report["decision"], "urls");
    assert_eq!(report["purge"]["requests"], 1);
    assert_eq!(report["purge"]["urls_purged"], 95);
    assert_eq!(report["purge"]["urls_pending"], json!([]));
    assert_eq!(report["state_saved"], true);
    // Nothing learned: the state is what a baseline writes.
    site.assert_state_is_fresh_baseline();

    // Nothing changed since: no request at all, state untouched.
    let before = site.state_bytes();
    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cf.requests().len(), 1, "the second run sent a request");
    assert_eq!(out.json()["purge"], Value::Null);
    assert_eq!(out.json()["state_saved"], false);
    assert_eq!(site.state_bytes(), before);
    assert_clean(&cf);
}

#[test]
fn a_zone_that_refuses_a_hundred_gets_thirty_for_the_rest_of_the_run_and_the_next() {
    let cf = FakeCloudflare::start();
    cf.set_plan_limit(OLD_PLAN_LIMIT);
    let (site, expected) = ninety_five(&[]);

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    // The 95 refused whole (400, not a rule break), then 30 + 30 + 30 + 5.
    assert_eq!(requests.len(), 5, "{requests:#?}");
    assert_eq!(files_of(&requests[0]).len(), 95);
    assert_eq!(requests[0].status, Some(400));
    let mut sizes: Vec<usize> = requests[1..].iter().map(|r| files_of(r).len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [5, 30, 30, 30]);
    let mut all = Vec::new();
    for r in &requests[1..] {
        assert_purge(r, Creds::Token(TOKEN));
        assert_eq!(r.status, Some(200));
        all.extend(files_of(r));
    }
    assert_eq!(all.len(), 95, "a URL was sent twice");
    assert_eq!(set(all), expected);
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    let report = out.json();
    assert_eq!(report["purge"]["requests"], 5);
    assert_eq!(report["purge"]["urls_purged"], 95);
    assert_eq!(report["purge"]["urls_pending"], json!([]));
    assert_eq!(report["purge"]["failures"], json!([]));
    // The size is remembered; the rest of the state is what a baseline writes.
    let mut state = without_written_at(site.state());
    assert_eq!(state["cloudflare_batch_size"], 30, "{state:#}");
    state
        .as_object_mut()
        .expect("object")
        .remove("cloudflare_batch_size");
    assert_eq!(state, site.fresh_baseline());

    // The next run starts at 30: no refused request, and 30 stays in the state.
    for i in 0..40 {
        site.page(
            &format!("css/p{i:02}.css"),
            format!("p{i} {{ color: blue }}"),
        );
    }
    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let next: Vec<RecordedRequest> = cf.requests().into_iter().skip(5).collect();
    let mut sizes: Vec<usize> = next.iter().map(|r| files_of(r).len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [10, 30], "{next:#?}");
    assert!(next.iter().all(|r| r.status == Some(200)));
    assert_eq!(site.state()["cloudflare_batch_size"], 30);
    assert_clean(&cf);
}

#[test]
fn an_explicit_batch_size_is_kept_when_refused() {
    let cf = FakeCloudflare::start();
    cf.set_plan_limit(OLD_PLAN_LIMIT);
    let (site, expected) = ninety_five(&["batch_size = 48"]);

    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let sizes: Vec<(usize, Option<u16>)> = cf
        .requests()
        .iter()
        .map(|r| (files_of(r).len(), r.status))
        .collect();
    // Today's rule for any refused batch: halves until accepted; nothing is learned.
    assert_eq!(sizes.len(), 6, "{sizes:?}");
    assert_eq!(
        sizes.iter().filter(|(_, s)| *s == Some(400)).count(),
        2,
        "{sizes:?}"
    );
    assert!(
        sizes.iter().all(|(n, s)| (*n > 30) == (*s == Some(400))),
        "{sizes:?}"
    );
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    assert_eq!(site.state().get("cloudflare_batch_size"), None);
}

#[test]
fn batch_size_100_sends_the_95_urls_in_one_request() {
    let cf = FakeCloudflare::start();
    // An Enterprise zone: up to 500 files per request. 100 is what the client is told to use.
    cf.set_max_files(100);
    let (site, expected) = ninety_five(&["batch_size = 100"]);

    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_purge(&requests[0], Creds::Token(TOKEN));
    let files = files_of(&requests[0]);
    assert_eq!(files.len(), 95);
    assert_eq!(set(files), expected);
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

// ------------------------------------------------------------------------------------------
// 3: everything
// ------------------------------------------------------------------------------------------

#[test]
fn crossing_the_threshold_purges_the_sites_hosts() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    // 3 URLs allowed; the change below makes 6.
    site.put(
        "sitepurge.toml",
        config(&[APEX, WWW], &[&zone_id(), FAST, "threshold = 3"]),
    );
    site.baseline();
    change_small_site(&site);

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_purge(&requests[0], Creds::Token(TOKEN));
    assert_eq!(
        requests[0].json(),
        Some(&json!({"hosts": ["example.com", "www.example.com"]}))
    );
    assert_eq!(cf.purged_hosts(), set(["example.com", "www.example.com"]));
    assert!(cf.purged_files().is_empty());
    assert_eq!(cf.purged_everything(), 0);
    assert_clean(&cf);
    let report = out.json();
    assert_eq!(
        (&report["decision"], &report["reason"]),
        (&json!("everything"), &json!("threshold"))
    );
    assert_eq!(report["purge"]["kinds"], json!(["hosts"]));
    assert_eq!(
        report["purge"]["hosts"],
        json!(["example.com", "www.example.com"])
    );
    site.assert_state_is_fresh_baseline();

    assert_eq!(site.run(&cf, &[]).code, 0);
    assert_eq!(
        cf.requests().len(),
        1,
        "nothing changed, yet a request went out"
    );
}

#[test]
fn a_site_below_a_path_is_purged_by_prefix() {
    let cf = FakeCloudflare::start();
    let site = Site::with_config(&config(
        &["https://example.com/docs/"],
        &[&zone_id(), FAST, "threshold = 1"],
    ));
    site.page("index.html", "<h1>Docs</h1>");
    site.page("guide/index.html", "<h1>Guide</h1>");
    site.baseline();
    site.page("guide/index.html", "<h1>Guide, edited</h1>");

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_purge(&requests[0], Creds::Token(TOKEN));
    assert_eq!(
        requests[0].json(),
        Some(&json!({"prefixes": ["example.com/docs"]}))
    );
    assert_eq!(cf.purged_prefixes(), set(["example.com/docs"]));
    assert!(cf.purged_hosts().is_empty());
    assert_clean(&cf);
    assert_eq!(out.json()["purge"]["kinds"], json!(["prefixes"]));
    site.assert_state_is_fresh_baseline();
}

#[test]
fn everything_zone_purges_the_whole_zone() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    site.put(
        "sitepurge.toml",
        config(
            &[APEX, WWW],
            &[&zone_id(), FAST, "threshold = 3", "everything = \"zone\""],
        ),
    );
    site.baseline();
    change_small_site(&site);

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_purge(&requests[0], Creds::Token(TOKEN));
    assert_eq!(requests[0].json(), Some(&json!({"purge_everything": true})));
    assert_eq!(cf.purged_everything(), 1);
    assert!(cf.purged_hosts().is_empty());
    assert_clean(&cf);
    assert_eq!(out.json()["purge"]["kinds"], json!(["purge_everything"]));
    site.assert_state_is_fresh_baseline();
}

#[test]
fn first_run_purges_everything_and_records_every_file() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    assert!(site.state_bytes().is_none());

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_purge(&requests[0], Creds::Token(TOKEN));
    assert_eq!(
        requests[0].json(),
        Some(&json!({"hosts": ["example.com", "www.example.com"]}))
    );
    assert_clean(&cf);
    let report = out.json();
    assert_eq!(
        (&report["decision"], &report["reason"]),
        (&json!("everything"), &json!("first-run"))
    );
    let expected: BTreeMap<String, String> = [
        ("a.css", sha("a { }")),
        ("c.css", sha("c { }")),
        ("index.html", sha("<h1>Home</h1>")),
        ("keep.txt", sha("unchanged")),
    ]
    .into_iter()
    .map(|(p, h)| (p.to_string(), h))
    .collect();
    assert_eq!(site.state_files(), expected);
    assert_eq!(site.state()["base_urls"], json!([APEX, WWW]));
    site.assert_state_is_fresh_baseline();

    assert_eq!(site.run(&cf, &[]).code, 0);
    assert_eq!(cf.requests().len(), 1, "second run sent a request");
}

// ------------------------------------------------------------------------------------------
// 4: retries and rate limits
// ------------------------------------------------------------------------------------------

#[test]
fn rate_limit_waits_for_retry_after_then_succeeds() {
    let cf = FakeCloudflare::start();
    cf.push(Behaviour::rate_limited("1"));
    let site = small_site(&[]);
    site.baseline();
    let expected = change_small_site(&site);

    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("429"), "{}", out.stderr);
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(429), Some(200)]
    );
    for r in &requests {
        assert_purge(r, Creds::Token(TOKEN));
        assert_eq!(set(files_of(r)), expected);
    }
    let waited = requests[1].received.duration_since(requests[0].received);
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, Retry-After said 1 s"
    );
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

#[test]
fn server_errors_are_retried() {
    let cf = FakeCloudflare::start();
    cf.script([Behaviour::status(500), Behaviour::status(500)]);
    let site = small_site(&[]);
    site.baseline();
    let expected = change_small_site(&site);

    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(500), Some(500), Some(200)]
    );
    for r in &requests {
        assert_purge(r, Creds::Token(TOKEN));
        assert_eq!(set(files_of(r)), expected);
    }
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

#[test]
fn a_dropped_connection_is_retried() {
    let cf = FakeCloudflare::start();
    cf.push(Behaviour::Drop);
    let site = small_site(&[]);
    site.baseline();
    let expected = change_small_site(&site);

    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [None, Some(200)]
    );
    for r in &requests {
        assert_purge(r, Creds::Token(TOKEN));
        assert_eq!(set(files_of(r)), expected);
    }
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

/// 8 files under two base URLs with `batch_size = 2`: 16 URLs in 8 batches.
fn eight_batches() -> (Site, BTreeSet<String>) {
    let site = Site::with_config(&config(
        &[APEX, WWW],
        &[&zone_id(), FAST, "threshold = 1000", "batch_size = 2"],
    ));
    for i in 0..8 {
        site.page(&format!("f{i}.css"), "old");
    }
    site.baseline();
    let mut expected = BTreeSet::new();
    for i in 0..8 {
        site.page(&format!("f{i}.css"), "new");
        expected.extend(both(&format!("f{i}.css")));
    }
    (site, expected)
}

#[test]
fn after_a_rate_limit_requests_go_one_at_a_time() {
    const LATENCY: Duration = Duration::from_millis(300);
    let cf = FakeCloudflare::start();
    cf.set_latency(LATENCY);
    // The 429 is answered once 4 requests have arrived, so the first wave is in flight together
    // however slow the machine is; a client that sent one at a time would leave it waiting 10 s
    // and fail the count below.
    cf.push(Behaviour::AfterRequests {
        count: 4,
        then: Box::new(Behaviour::rate_limited("1")),
    });
    let (site, expected) = eight_batches();

    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    // 8 batches, one of them sent twice.
    assert_eq!(requests.len(), 9, "{requests:#?}");
    for r in &requests {
        assert_purge(r, Creds::Token(TOKEN));
        assert!(files_of(r).len() <= 2);
    }
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    // Before the rate limit, requests went a few at once (default concurrency 4).
    let max = cf.max_in_flight();
    assert!((2..=4).contains(&max), "max in flight {max}");
    // The first request to arrive got the 429, answered once the first wave of 4 was in.
    assert_eq!(requests[0].status, Some(429));
    let (first_wave, rest) = requests.split_at(4);
    assert!(first_wave[1..].iter().all(|r| r.status == Some(200)));
    // Everything after it waited for Retry-After, then went one at a time: each request was
    // sent only once the previous one (held LATENCY by the fake) was answered.
    assert_eq!(rest.len(), 5);
    let answered_429 = first_wave[3].received;
    assert!(rest[0].received.duration_since(answered_429) >= Duration::from_secs(1));
    for pair in rest.windows(2) {
        let gap = pair[1].received.duration_since(pair[0].received);
        assert!(
            gap >= LATENCY,
            "requests #{} and #{} overlapped ({gap:?} apart)",
            pair[0].seq,
            pair[1].seq
        );
    }
    site.assert_state_is_fresh_baseline();
}

/// Two batches sent at once: one answered 500, the other 429 + `Retry-After: 1`. The batch that
/// was waiting in backoff when the rate limit came is held to the same rule as the limited one:
/// after the pause the two retries go one at a time, not together.
#[test]
fn after_a_rate_limit_retries_in_backoff_also_go_one_at_a_time() {
    const LATENCY: Duration = Duration::from_millis(300);
    let cf = FakeCloudflare::start();
    cf.set_latency(LATENCY);
    // The 500 waits for the second batch to arrive, so the two are in flight together.
    cf.script([
        Behaviour::AfterRequests {
            count: 2,
            then: Box::new(Behaviour::status(500)),
        },
        Behaviour::rate_limited("1"),
    ]);
    let site = small_site(&[]);
    site.put(
        "sitepurge.toml",
        config(
            &[APEX, WWW],
            &[
                &zone_id(),
                "threshold = 1000",
                "batch_size = 3",
                "retry_delay = \"100ms\"",
            ],
        ),
    );
    site.baseline();
    let expected = change_small_site(&site);

    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    let limited = requests
        .iter()
        .find(|r| r.status == Some(429))
        .expect("the 429")
        .received;
    let after: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|r| r.received > limited && r.status == Some(200))
        .collect();
    assert_eq!(after.len(), 2, "{requests:#?}");
    let gap = after[1].received.duration_since(after[0].received);
    assert!(
        gap >= LATENCY,
        "two requests in flight at once after a 429: sent {gap:?} apart, each held {LATENCY:?}"
    );
}

// ------------------------------------------------------------------------------------------
// 5, 6, 7: failures keep the state pending
// ------------------------------------------------------------------------------------------

#[test]
fn a_failed_purge_keeps_every_change_pending_until_a_later_run_purges_it() {
    let cf = FakeCloudflare::start();
    cf.fail_all(Some(500));
    let site = small_site(&["retries = 2"]);
    site.baseline();
    let baseline = site.state_bytes();
    let expected = change_small_site(&site);

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("HTTP 500"), "{}", out.stderr);
    // One batch of 6 URLs, tried 1 + 2 times.
    let requests = cf.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for r in &requests {
        assert_purge(r, Creds::Token(TOKEN));
        assert_eq!(r.status, Some(500));
        assert_eq!(set(files_of(r)), expected);
    }
    assert!(cf.purged_files().is_empty());
    assert_clean(&cf);
    let report = out.json();
    assert_eq!(report["purge"]["urls_purged"], 0);
    assert_eq!(set(strings(&report["purge"]["urls_pending"])), expected);
    assert_eq!(report["purge"]["failures"][0]["status"], 500);
    assert_eq!(report["purge"]["failures"][0]["kind"], "transient");
    // The state keeps every change pending: a.css keeps its old hash, b.css is still absent,
    // c.css is still present.
    let files = site.state_files();
    assert_eq!(files.get("a.css"), Some(&sha("a { }")));
    assert!(!files.contains_key("b.css"));
    assert_eq!(files.get("c.css"), Some(&sha("c { }")));
    assert_only_pending_added(&site, &baseline);

    // A healthy server: exactly the pending URLs are purged.
    cf.fail_all(None);
    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert_purge(&requests[3], Creds::Token(TOKEN));
    assert_eq!(set(files_of(&requests[3])), expected);
    assert_eq!(cf.purged_files(), expected);
    site.assert_state_is_fresh_baseline();

    // And then nothing is left.
    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cf.requests().len(), 4, "the third run sent a request");
    assert_clean(&cf);
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn only_files_whose_every_url_was_purged_advance_after_a_partial_failure() {
    let cf = FakeCloudflare::start();
    // Batch 1 succeeds, batch 2 fails three times (1 try + 2 retries), batch 3 succeeds.
    cf.script([
        Behaviour::Delay(Duration::ZERO),
        Behaviour::status(500),
        Behaviour::status(500),
        Behaviour::status(500),
    ]);
    let site = Site::with_config(&config(
        &[APEX, WWW],
        &[
            &zone_id(),
            FAST,
            "threshold = 1000",
            "retries = 2",
            "batch_size = 4",
            // One request at a time, so the script's order is the batches' order.
            "concurrency = 1",
        ],
    ));
    let names = ["a", "b", "c", "d", "e", "f"];
    for n in names {
        site.page(&format!("{n}.css"), "old");
    }
    site.page("z.txt", "unchanged");
    site.baseline();
    for n in names {
        site.page(&format!("{n}.css"), format!("{n} new"));
    }
    // The 12 URLs sorted: every apex URL before every www URL. In batches of 4:
    let batch1 = set(["a", "b", "c", "d"].map(|n| format!("{APEX}{n}.css")));
    let batch2 = set([
        format!("{APEX}e.css"),
        format!("{APEX}f.css"),
        format!("{WWW}a.css"),
        format!("{WWW}b.css"),
    ]);
    let batch3 = set(["c", "d", "e", "f"].map(|n| format!("{WWW}{n}.css")));

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("HTTP 500"), "{}", out.stderr);
    let requests = cf.requests();
    assert_eq!(requests.len(), 5, "{requests:#?}");
    for r in &requests {
        assert_purge(r, Creds::Token(TOKEN));
    }
    let bodies: Vec<BTreeSet<String>> = requests.iter().map(|r| set(files_of(r))).collect();
    assert_eq!(
        bodies,
        [
            batch1.clone(),
            batch2.clone(),
            batch2.clone(),
            batch2.clone(),
            batch3.clone()
        ]
    );
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(200), Some(500), Some(500), Some(500), Some(200)]
    );
    let purged: BTreeSet<String> = batch1.union(&batch3).cloned().collect();
    assert_eq!(cf.purged_files(), purged);
    assert_clean(&cf);
    let report = out.json();
    assert_eq!(report["purge"]["urls_purged"], 8);
    assert_eq!(set(strings(&report["purge"]["urls_pending"])), batch2);

    // c and d had both URLs in batches 1 and 3: they advance. a, b (www URL in batch 2) and
    // e, f (apex URL in batch 2) keep their old hash.
    let files = site.state_files();
    for n in ["c", "d"] {
        assert_eq!(files[&format!("{n}.css")], sha(format!("{n} new")), "{n}");
    }
    for n in ["a", "b", "e", "f"] {
        assert_eq!(files[&format!("{n}.css")], sha("old"), "{n}");
    }
    assert_eq!(files["z.txt"], sha("unchanged"));
    assert_eq!(files.len(), 7);

    // The next run purges exactly the four files still pending, both URLs each.
    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let again: Vec<String> = cf.requests()[5..].iter().flat_map(files_of).collect();
    assert_eq!(again.len(), 8);
    assert_eq!(
        set(again),
        set(["a", "b", "e", "f"]
            .iter()
            .flat_map(|n| both(&format!("{n}.css"))))
    );
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

#[test]
fn success_false_with_http_200_is_a_failure() {
    let cf = FakeCloudflare::start();
    cf.push(Behaviour::SuccessFalse);
    let site = small_site(&[]);
    site.baseline();
    let before = site.state_bytes();
    let expected = change_small_site(&site);

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("10001"), "{}", out.stderr);
    let requests = cf.requests();
    // Not worth retrying: one request.
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_purge(&requests[0], Creds::Token(TOKEN));
    assert_eq!(requests[0].status, Some(200));
    assert_eq!(set(files_of(&requests[0])), expected);
    assert!(cf.purged_files().is_empty());
    assert_clean(&cf);
    let report = out.json();
    assert_eq!(report["purge"]["urls_purged"], 0);
    assert_eq!(set(strings(&report["purge"]["urls_pending"])), expected);
    assert_eq!(report["state_saved"], true, "to list the pending paths");
    assert_only_pending_added(&site, &before);
}

// ------------------------------------------------------------------------------------------
// 8: bad credentials, and secrets never shown
// ------------------------------------------------------------------------------------------

/// Asserts a secret appears in no output of these runs and nowhere in the state folder.
fn assert_secret_kept(secret: &str, site: &Site, outs: &[&Out]) {
    for out in outs {
        assert!(!out.all().contains(secret), "secret shown: {out:#?}");
    }
    assert!(
        !site.state_folder_text().contains(secret),
        "secret in the state"
    );
}

#[test]
fn a_bad_token_exits_2_with_the_cache_purge_hint_and_is_never_shown() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    site.baseline();
    let before = site.state_bytes();
    let expected = change_small_site(&site);

    let verbose = site.exec(&cf, Creds::Token(BAD_TOKEN), &["run", "-vv"]);
    let json = site.exec(&cf, Creds::Token(BAD_TOKEN), &["run", "--json"]);
    for out in [&verbose, &json] {
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("10000"), "{}", out.stderr);
        assert!(
            out.stderr
                .lines()
                .any(|l| l.starts_with("hint:") && l.contains("Cache Purge")),
            "{}",
            out.stderr
        );
    }
    assert!(verbose.stderr.contains("debug:"), "-vv printed no debug");
    assert_eq!(json.json()["purge"]["failures"][0]["status"], 403);
    assert_eq!(
        json.json()["purge"]["failures"][0]["errors"][0]["code"],
        10000
    );
    // One request per run: a credentials error is not retried.
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    for r in &requests {
        assert_purge(r, Creds::Token(BAD_TOKEN));
        assert_eq!(r.status, Some(403));
        assert_eq!(set(files_of(r)), expected);
    }
    assert_clean(&cf);
    assert_only_pending_added(&site, &before);
    assert_secret_kept(BAD_TOKEN, &site, &[&verbose, &json]);

    // The good token, just as verbose, is not shown either.
    let verbose = site.exec(&cf, Creds::Token(TOKEN), &["run", "-vv"]);
    assert_eq!(verbose.code, 0, "{verbose:?}");
    site.page("a.css", "a { color: blue }");
    let json = site.exec(&cf, Creds::Token(TOKEN), &["run", "--json", "-vv"]);
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(cf.requests().len(), 4);
    assert_secret_kept(TOKEN, &site, &[&verbose, &json]);
    assert_clean(&cf);
}

#[test]
fn the_legacy_key_is_never_shown() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    site.baseline();
    let before = site.state_bytes();
    change_small_site(&site);

    let bad = Creds::Key(EMAIL, BAD_KEY);
    let verbose = site.exec(&cf, bad, &["run", "-vv"]);
    let json = site.exec(&cf, bad, &["run", "--json"]);
    for out in [&verbose, &json] {
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("9103"), "{}", out.stderr);
        assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    }
    for r in cf.requests() {
        assert_purge(&r, bad);
        assert_eq!(r.status, Some(403));
    }
    assert_eq!(cf.requests().len(), 2);
    assert_only_pending_added(&site, &before);
    assert_secret_kept(BAD_KEY, &site, &[&verbose, &json]);

    let good = Creds::Key(EMAIL, API_KEY);
    let verbose = site.exec(&cf, good, &["run", "-vv"]);
    assert_eq!(verbose.code, 0, "{verbose:?}");
    site.page("a.css", "a { color: blue }");
    let json = site.exec(&cf, good, &["run", "--json", "-vv"]);
    assert_eq!(json.code, 0, "{json:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests[2..] {
        assert_purge(r, good);
        assert_eq!(r.status, Some(200));
    }
    assert_secret_kept(API_KEY, &site, &[&verbose, &json]);
    assert_clean(&cf);
}

#[test]
fn a_token_from_token_file_is_used_and_never_shown() {
    let cf = FakeCloudflare::start();
    let site = small_site(&["token_file = \"secrets/cf-token\""]);
    site.put("secrets/cf-token", format!("{BAD_TOKEN}\n"));
    site.baseline();
    let before = site.state_bytes();
    let expected = change_small_site(&site);

    let verbose = site.exec(&cf, Creds::None, &["run", "-vv"]);
    let json = site.exec(&cf, Creds::None, &["run", "--json"]);
    for out in [&verbose, &json] {
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("10000"), "{}", out.stderr);
        assert!(out.stderr.contains("Cache Purge"), "{}", out.stderr);
    }
    assert_eq!(cf.requests().len(), 2);
    for r in cf.requests() {
        assert_purge(&r, Creds::Token(BAD_TOKEN));
    }
    assert_only_pending_added(&site, &before);
    assert_secret_kept(BAD_TOKEN, &site, &[&verbose, &json]);

    site.put("secrets/cf-token", format!("  {TOKEN}\n"));
    let verbose = site.exec(&cf, Creds::None, &["run", "-vv"]);
    assert_eq!(verbose.code, 0, "{verbose:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 3);
    assert_purge(&requests[2], Creds::Token(TOKEN));
    assert_eq!(set(files_of(&requests[2])), expected);
    site.page("a.css", "a { color: blue }");
    let json = site.exec(&cf, Creds::None, &["run", "--json", "-vv"]);
    assert_eq!(json.code, 0, "{json:?}");
    assert_eq!(cf.requests().len(), 4);
    assert_secret_kept(TOKEN, &site, &[&verbose, &json]);
    assert_clean(&cf);
}

// ------------------------------------------------------------------------------------------
// 9: zones
// ------------------------------------------------------------------------------------------

/// Asserts the request is `GET /zones?name=NAME` with the good token.
fn assert_zone_lookup(r: &RecordedRequest, name: &str) {
    assert_eq!(r.method, "GET", "{r:?}");
    assert_eq!(r.path, "/client/v4/zones", "{r:?}");
    assert_eq!(
        r.query_pairs(),
        [("name".to_string(), name.to_string())],
        "{r:?}"
    );
    assert_eq!(r.body, support::cloudflare::Body::Empty);
}

/// [`small_site`] without a zone setting, baselined and changed.
fn zoneless_site(bases: &[&str]) -> (Site, BTreeSet<String>) {
    let site = Site::with_config(&config(bases, &[FAST, "threshold = 1000"]));
    site.page("a.css", "a { }");
    site.baseline();
    site.page("a.css", "a { color: red }");
    let urls = bases.iter().map(|b| format!("{b}a.css")).collect();
    (site, urls)
}

#[test]
fn a_zone_given_by_name_is_looked_up_then_purged_by_id() {
    let cf = FakeCloudflare::start();
    let (site, expected) = zoneless_site(&[APEX, WWW]);

    let out = site.run(&cf, &["--zone", "example.com"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_zone_lookup(&requests[0], "example.com");
    assert_creds(&requests[0], Creds::Token(TOKEN));
    assert_purge(&requests[1], Creds::Token(TOKEN));
    assert_eq!(set(files_of(&requests[1])), expected);
    assert_clean(&cf);
}

#[test]
fn without_a_zone_the_registrable_domain_of_the_first_base_url_is_looked_up() {
    let cf = FakeCloudflare::start();
    let (site, expected) = zoneless_site(&[WWW, APEX]);

    let out = site.run(&cf, &["-vv"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains(ZONE_ID), "{}", out.stderr);
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_zone_lookup(&requests[0], "example.com");
    assert_creds(&requests[0], Creds::Token(TOKEN));
    assert_purge(&requests[1], Creds::Token(TOKEN));
    assert_eq!(set(files_of(&requests[1])), expected);
    assert_clean(&cf);
}

#[test]
fn a_zone_id_needs_no_lookup() {
    let cf = FakeCloudflare::start();
    let (site, expected) = zoneless_site(&[APEX, WWW]);
    let out = site.run(&cf, &["--zone", ZONE_ID]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_purge(&requests[0], Creds::Token(TOKEN));
    assert_eq!(set(files_of(&requests[0])), expected);

    // The same from CLOUDFLARE_ZONE_ID, upper-case.
    site.page("a.css", "a { color: blue }");
    let output = site
        .cmd(&cf.base_url(), Creds::Token(TOKEN), &["run"])
        .env("CLOUDFLARE_ZONE_ID", ZONE_ID.to_ascii_uppercase())
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_purge(&requests[1], Creds::Token(TOKEN));
    assert_clean(&cf);
}

#[test]
fn base_urls_outside_the_derived_zone_are_refused_before_any_request() {
    let cf = FakeCloudflare::start();
    // No zone given: it is example.com's, which cannot hold example.net.
    let (site, _) = zoneless_site(&[APEX, "https://example.net/"]);
    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "the base URL https://example.net/ is not in the Cloudflare zone example.com"
        ),
        "{}",
        out.stderr
    );
    assert!(cf.requests().is_empty());
}

#[test]
fn an_unknown_zone_name_exits_2_with_a_hint() {
    let cf = FakeCloudflare::start();
    // A zone the fake does not know, holding the site's base URL.
    let (site, _) = zoneless_site(&["https://www.other.org/"]);
    let before = site.state_bytes();

    let out = site.run(&cf, &["--zone", "other.org"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("other.org"), "{}", out.stderr);
    let hint = out
        .stderr
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint: {}", out.stderr));
    assert!(hint.contains("id") && hint.contains("Zone Read"), "{hint}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_zone_lookup(&requests[0], "other.org");
    assert_creds(&requests[0], Creds::Token(TOKEN));
    assert_clean(&cf);
    assert_eq!(site.state_bytes(), before);
}

/// The fake cannot hold a token that may purge but not read zones; what it can do is answer
/// the zone lookup 403 (code 10000), as it does for a token it does not accept. That is the
/// answer a lookup without "Zone Read" permission gets, and the hint must say so.
#[test]
fn a_zone_lookup_refused_with_403_hints_at_zone_read() {
    let cf = FakeCloudflare::start();
    let (site, _) = zoneless_site(&[APEX, WWW]);
    let before = site.state_bytes();

    let out = site.exec(&cf, Creds::Token(BAD_TOKEN), &["run", "-vv"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("403"), "{}", out.stderr);
    let hint = out
        .stderr
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint: {}", out.stderr));
    assert!(hint.contains("Zone Read"), "{hint}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_zone_lookup(&requests[0], "example.com");
    assert_creds(&requests[0], Creds::Token(BAD_TOKEN));
    assert_eq!(requests[0].status, Some(403));
    assert_clean(&cf);
    assert_eq!(site.state_bytes(), before);
    assert_secret_kept(BAD_TOKEN, &site, &[&out]);
}

// ------------------------------------------------------------------------------------------
// 10: legacy email + key
// ------------------------------------------------------------------------------------------

#[test]
fn legacy_email_and_key_are_sent_as_x_auth_headers() {
    let cf = FakeCloudflare::start();
    let (site, expected) = zoneless_site(&[APEX, WWW]);
    let creds = Creds::Key(EMAIL, API_KEY);

    let out = site.exec(&cf, creds, &["run"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_zone_lookup(&requests[0], "example.com");
    assert_creds(&requests[0], creds);
    assert_purge(&requests[1], creds);
    assert_eq!(set(files_of(&requests[1])), expected);
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

// ------------------------------------------------------------------------------------------
// 11: cache-key headers
// ------------------------------------------------------------------------------------------

#[test]
fn cache_key_headers_purge_each_url_once_per_header_set() {
    let cf = FakeCloudflare::start();
    let site = Site::with_config(&config(
        &[APEX, WWW],
        &[
            &zone_id(),
            FAST,
            "threshold = 1000",
            "batch_size = 30",
            r#"cache_key_headers = [{"CF-Device-Type" = "mobile"}, {"CF-Device-Type" = "desktop"}]"#,
        ],
    ));
    for i in 0..10 {
        site.page(&format!("p{i}.css"), "old");
    }
    site.baseline();
    let mut urls = BTreeSet::new();
    for i in 0..10 {
        site.page(&format!("p{i}.css"), "new");
        urls.extend(both(&format!("p{i}.css")));
    }
    // 20 URLs x 2 header sets = 40 entries: 2 requests of at most 30.

    let out = site.run(&cf, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let mut entries: Vec<(String, String)> = Vec::new();
    for r in &requests {
        assert_purge(r, Creds::Token(TOKEN));
        let body = r.json().expect("JSON");
        assert_eq!(body.as_object().expect("object").len(), 1, "{body}");
        let files = body["files"].as_array().expect("files");
        assert!(files.len() <= 30, "{} entries", files.len());
        for f in files {
            let obj = f.as_object().expect("a {url, headers} object");
            assert_eq!(obj.len(), 2, "{f}");
            let headers = obj["headers"].as_object().expect("headers");
            assert_eq!(headers.len(), 1, "{f}");
            entries.push((
                f["url"].as_str().expect("url").to_string(),
                headers["CF-Device-Type"]
                    .as_str()
                    .expect("CF-Device-Type")
                    .to_string(),
            ));
        }
    }
    entries.sort();
    let mut expected: Vec<(String, String)> = urls
        .iter()
        .flat_map(|u| [(u.clone(), "desktop".into()), (u.clone(), "mobile".into())])
        .collect();
    expected.sort();
    assert_eq!(entries, expected, "each URL once per header set");
    let purged: BTreeSet<String> = urls
        .iter()
        .flat_map(|u| {
            [
                format!(r#"{u} {{"CF-Device-Type":"desktop"}}"#),
                format!(r#"{u} {{"CF-Device-Type":"mobile"}}"#),
            ]
        })
        .collect();
    assert_eq!(cf.purged_files(), purged);
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

// ------------------------------------------------------------------------------------------
// 12: verify
// ------------------------------------------------------------------------------------------

fn assert_verify_call(r: &RecordedRequest, token: &str) {
    assert_eq!(r.method, "GET", "{r:?}");
    assert_eq!(r.path, "/client/v4/user/tokens/verify", "{r:?}");
    assert_eq!(r.query.as_deref().unwrap_or(""), "", "{r:?}");
    assert_creds(r, Creds::Token(token));
}

#[test]
fn verify_with_a_good_token_prints_its_status_and_the_zone() {
    let cf = FakeCloudflare::start();
    let site = Site::with_config("");
    let out = site.exec(
        &cf,
        Creds::Token(TOKEN),
        &["verify", "--base-url", WWW, "-vv"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("token: active, user-owned token (id {TOKEN_ID})")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("zone: example.com is {ZONE_ID} (status: active)")),
        "{}",
        out.stdout
    );
    let json = site.exec(
        &cf,
        Creds::Token(TOKEN),
        &["verify", "--base-url", WWW, "--json"],
    );
    assert_eq!(json.code, 0, "{json:?}");
    let found = json.json();
    assert_eq!(found["token_status"], "active");
    assert_eq!(found["token_owner"], "user");
    assert_eq!(found["account_id"], Value::Null);
    assert_eq!(found["zone_id"], ZONE_ID);
    assert_eq!(found["zone_name"], "example.com");
    for o in [&out, &json] {
        assert!(!o.all().contains(TOKEN), "token shown: {o:#?}");
    }
    let requests = cf.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    for pair in requests.chunks(2) {
        assert_verify_call(&pair[0], TOKEN);
        assert_zone_lookup(&pair[1], "example.com");
        assert_creds(&pair[1], Creds::Token(TOKEN));
    }
    assert!(cf.purge_requests().is_empty());
    assert_clean(&cf);
    assert!(site.state_bytes().is_none(), "verify wrote a state");
}

#[test]
fn verify_with_a_bad_token_fails_with_a_hint() {
    let cf = FakeCloudflare::start();
    let site = Site::with_config("");
    let out = site.exec(
        &cf,
        Creds::Token(BAD_TOKEN),
        &["verify", "--base-url", APEX, "-vv"],
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("1000"), "{}", out.stderr);
    assert!(
        out.stderr.lines().any(|l| l.starts_with("hint:")),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(BAD_TOKEN), "token shown: {out:#?}");
    assert!(
        out.stderr.contains("CLOUDFLARE_ACCOUNT_ID")
            && out.stderr.contains("invalid, expired or revoked"),
        "{}",
        out.stderr
    );
    // The user endpoint refuses it; the zone, read for its account, refuses it too.
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_verify_call(&requests[0], BAD_TOKEN);
    assert_eq!(requests[0].status, Some(401));
    assert_zone_lookup(&requests[1], "example.com");
    assert_eq!(requests[1].status, Some(403));
    assert_clean(&cf);
}

fn assert_account_verify_call(r: &RecordedRequest, account: &str) {
    assert_eq!(r.method, "GET", "{r:?}");
    assert_eq!(
        r.path,
        format!("/client/v4/accounts/{account}/tokens/verify"),
        "{r:?}"
    );
    assert_eq!(r.query.as_deref().unwrap_or(""), "", "{r:?}");
    assert_creds(r, Creds::Token(TOKEN));
}

#[test]
fn verify_finds_an_account_owned_token_through_the_zones_account() {
    let cf = FakeCloudflare::start();
    cf.set_token_owner(TokenOwner::Account);
    let site = Site::with_config("");
    let out = site.exec(
        &cf,
        Creds::Token(TOKEN),
        &["verify", "--base-url", WWW, "-vv"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "token: active, account-owned token of account {ACCOUNT_ID} (id {TOKEN_ID})"
        )),
        "{}",
        out.stdout
    );
    assert!(!out.all().contains("invalid"), "{out:?}");
    assert!(!out.all().contains(TOKEN), "token shown: {out:#?}");
    // User endpoint (401), the zone by name (its account), the account endpoint; the zone is
    // not looked up twice.
    let requests = cf.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_verify_call(&requests[0], TOKEN);
    assert_eq!(requests[0].status, Some(401));
    assert_zone_lookup(&requests[1], "example.com");
    assert_account_verify_call(&requests[2], ACCOUNT_ID);
    assert_eq!(requests[2].status, Some(200));

    // A zone given by id is read by id for its account.
    let site = Site::with_config(&config(&[WWW], &[&zone_id()]));
    let json = site.exec(&cf, Creds::Token(TOKEN), &["verify", "--json"]);
    assert_eq!(json.code, 0, "{json:?}");
    let found = json.json();
    assert_eq!(found["token_owner"], "account");
    assert_eq!(found["account_id"], ACCOUNT_ID);
    assert_eq!(found["zone_id"], ZONE_ID);
    let requests: Vec<RecordedRequest> = cf.requests().into_iter().skip(3).collect();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_verify_call(&requests[0], TOKEN);
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].path, format!("/client/v4/zones/{ZONE_ID}"));
    assert_eq!(requests[1].status, Some(200));
    assert_account_verify_call(&requests[2], ACCOUNT_ID);
    assert!(cf.purge_requests().is_empty());
    assert_clean(&cf);
}

#[test]
fn verify_with_cloudflare_account_id_asks_the_account_first_and_falls_back_to_the_user() {
    let cf = FakeCloudflare::start();
    cf.set_token_owner(TokenOwner::Account);
    let site = Site::with_config(&config(&[WWW], &[&zone_id()]));
    let run = |cf: &FakeCloudflare| {
        Out::of(
            site.cmd(&cf.base_url(), Creds::Token(TOKEN), &["verify", "--json"])
                .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT_ID),
        )
    };
    let out = run(&cf);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["token_owner"], "account");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_account_verify_call(&requests[0], ACCOUNT_ID);

    // A user-owned token with the variable set: the account refuses it, the user endpoint
    // knows it.
    cf.set_token_owner(TokenOwner::User);
    let out = run(&cf);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["token_owner"], "user");
    let requests: Vec<RecordedRequest> = cf.requests().into_iter().skip(1).collect();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_account_verify_call(&requests[0], ACCOUNT_ID);
    assert_eq!(requests[0].status, Some(401));
    assert_verify_call(&requests[1], TOKEN);

    // Not an account id: a setting error, nothing sent.
    let out = Out::of(
        site.cmd(&cf.base_url(), Creds::Token(TOKEN), &["verify"])
            .env("CLOUDFLARE_ACCOUNT_ID", "my-account"),
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("CLOUDFLARE_ACCOUNT_ID"),
        "{}",
        out.stderr
    );
    assert_eq!(cf.requests().len(), 3);
    assert_clean(&cf);
}

#[test]
fn verify_with_a_disabled_token_says_it_is_not_active() {
    let cf = FakeCloudflare::start();
    cf.set_token_status(TokenStatus::Disabled);
    let site = Site::with_config("");
    let out = site.exec(&cf, Creds::Token(TOKEN), &["verify", "--base-url", APEX]);
    assert_ne!(out.code, 0, "{out:?}");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("disabled"), "{}", out.stderr);
    assert!(out.stderr.contains("not active"), "{}", out.stderr);
    assert!(!out.all().contains(TOKEN), "token shown: {out:#?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_verify_call(&requests[0], TOKEN);
    assert_clean(&cf);
}

// ------------------------------------------------------------------------------------------
// 13, 14: setup errors send nothing
// ------------------------------------------------------------------------------------------

#[test]
fn no_credentials_exit_2_naming_the_variable_only_when_something_needs_purging() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    site.baseline();
    let before = site.state_bytes();

    // Nothing to purge: no credentials needed, nothing sent.
    let out = site.exec(&cf, Creds::None, &["run"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(cf.requests().is_empty());
    assert_eq!(site.state_bytes(), before);

    change_small_site(&site);
    let out = site.exec(&cf, Creds::None, &["run"]);
    assert_eq!(out.code, 2, "{out:?}");
    let hint = out
        .stderr
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint: {}", out.stderr));
    assert!(hint.contains("CLOUDFLARE_API_TOKEN"), "{hint}");
    assert!(cf.requests().is_empty(), "{:#?}", cf.requests());
    assert_eq!(site.state_bytes(), before);
    assert_clean(&cf);
}

#[test]
fn plain_http_api_base_off_loopback_is_refused() {
    let site = small_site(&[]);
    site.baseline();
    let before = site.state_bytes();
    change_small_site(&site);
    let output = site
        .cmd(
            "http://example.com/client/v4",
            Creds::Token(TOKEN),
            &["run"],
        )
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stderr.contains("CLOUDFLARE_API_BASE_URL"), "{stderr}");
    assert!(stderr.contains("not loopback"), "{stderr}");
    assert!(!stderr.contains(TOKEN));
    assert_eq!(site.state_bytes(), before);
}

/// After a failed purge: every recorded hash is as before (nothing advanced), and the changed
/// paths are listed as pending.
fn assert_only_pending_added(site: &Site, before: &Option<Vec<u8>>) {
    let before: Value =
        serde_json::from_slice(before.as_deref().expect("a state before")).expect("JSON");
    let now = site.state();
    assert_eq!(now["files"], before["files"], "something advanced");
    assert_eq!(now["base_urls"], before["base_urls"]);
    assert_eq!(now["content_rules"], before["content_rules"]);
    let pending = now["pending"].as_array().map_or(0, Vec::len);
    assert!(pending > 0, "no path listed as pending: {now}");
}

#[test]
fn an_answer_that_echoes_the_token_in_any_field_never_shows_it() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    site.baseline();
    change_small_site(&site);
    let echo = format!("Authentication error: Bearer {TOKEN} is not valid for this zone");
    let answer = || Behaviour::Status {
        code: 403,
        retry_after: None,
        body: serde_json::json!({
            "success": false,
            "errors": [{"code": 10000, "message": echo}],
            "messages": [{"code": 1, "message": format!("seen: {TOKEN}")}],
            "result": null,
        }),
    };
    cf.script([answer(), answer()]);
    let text = site.exec(&cf, Creds::Token(TOKEN), &["run", "-vv"]);
    let json = site.exec(&cf, Creds::Token(TOKEN), &["run", "--json"]);
    for out in [&text, &json] {
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr.contains("Bearer <redacted> is not valid"),
            "{out:?}"
        );
    }
    assert_eq!(
        json.json()["purge"]["failures"][0]["errors"][0]["message"],
        "Authentication error: Bearer <redacted> is not valid for this zone"
    );
    assert_secret_kept(TOKEN, &site, &[&text, &json]);
}

#[test]
fn plain_http_to_this_machine_never_goes_through_a_proxy() {
    let cf = FakeCloudflare::start();
    let proxy = support::stub::Stub::start("502 Bad Gateway");
    let site = small_site(&[]);
    site.baseline();
    let expected = change_small_site(&site);
    // (--no-check: the freshness check's GETs of the public URLs do go through the proxy, as
    // a browser's would; this test is about the API requests.)
    let mut cmd = site.cmd(
        &cf.base_url(),
        Creds::Token(TOKEN),
        &["run", "-q", "--no-check"],
    );
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env(var, proxy.url());
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    let out = Out::of(&mut cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cf.purged_files(), expected);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        proxy.seen(),
        Vec::<String>::new(),
        "the proxy saw the token"
    );
}

#[test]
fn https_goes_through_https_proxy_unless_no_proxy_names_the_host() {
    let proxy = support::stub::Stub::start("502 Bad Gateway");
    // Nothing listens here: without the proxy the connection is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let api = format!("https://127.0.0.1:{port}/client/v4");
    let site = small_site(&["retries = 0"]);
    site.baseline();
    change_small_site(&site);
    let run = |no_proxy: Option<&str>| {
        let mut cmd = site.cmd(&api, Creds::Token(TOKEN), &["run", "-q"]);
        cmd.env("HTTPS_PROXY", proxy.url()).env_remove("no_proxy");
        match no_proxy {
            Some(v) => cmd.env("NO_PROXY", v),
            None => cmd.env_remove("NO_PROXY"),
        };
        Out::of(&mut cmd)
    };
    let out = run(None);
    assert_eq!(out.code, 1, "{out:?}");
    // The tunnel was asked for; the token would travel inside it, encrypted.
    assert_eq!(
        proxy.seen().first().map(String::as_str),
        Some(format!("CONNECT 127.0.0.1:{port} HTTP/1.1").as_str())
    );
    let before = proxy.seen().len();
    let out = run(Some("127.0.0.1"));
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(proxy.seen().len(), before, "NO_PROXY was not honoured");
}

#[test]
fn a_refused_global_key_gets_a_hint_about_the_key_not_a_token() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    site.baseline();
    change_small_site(&site);
    let refused = || Behaviour::Status {
        code: 403,
        retry_after: None,
        body: support::cloudflare::error_envelope(10000, "Authentication error"),
    };
    cf.script([refused(), refused()]);
    let key = site.exec(&cf, Creds::Key(EMAIL, API_KEY), &["run"]);
    assert_eq!(key.code, 2, "{key:?}");
    assert!(
        key.stderr
            .contains("hint: the global API key's account cannot purge this zone"),
        "{key:?}"
    );
    assert!(!key.stderr.contains("API token lacks"), "{key:?}");
    let token = site.exec(&cf, Creds::Token(TOKEN), &["run"]);
    assert!(
        token
            .stderr
            .contains("hint: the API token lacks the \"Cache Purge\" permission"),
        "{token:?}"
    );
}

#[test]
fn one_url_the_api_refuses_stays_pending_alone_and_the_rest_of_its_batch_is_purged() {
    let cf = FakeCloudflare::start();
    let site = small_site(&["batch_size = 30"]);
    site.baseline();
    let expected = change_small_site(&site);
    site.page("a|b.html", "<p>pipe</p>");
    // The page under both base URLs; a strict API refuses the raw `|`.
    let refused = set([APEX, WWW]
        .map(|b| format!("{b}a|b.html"))
        .iter()
        .map(String::as_str));
    cf.refuse_urls_containing("a|b");
    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    // Every other URL was purged; only the refused ones are pending.
    assert_eq!(cf.purged_files(), expected);
    let report = out.json();
    assert_eq!(set(strings(&report["purge"]["urls_pending"])), refused);
    assert_eq!(site.state()["pending"], json!(["a|b.html"]));
    let failures = report["purge"]["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 2, "{report:#}");
    for (failure, url) in failures.iter().zip(&refused) {
        assert_eq!(
            failure["errors"][0]["message"],
            format!("Unable to purge {url}, which is an invalid URL")
        );
        let hint = failure["hint"].as_str().unwrap_or_default();
        assert!(hint.contains("refused this one URL"), "{hint}");
        assert!(!hint.contains("bug"), "{hint}");
        assert!(
            out.stderr.contains(&format!("Unable to purge {url}")),
            "{out:?}"
        );
    }
    assert_clean(&cf);
    // The next run sends only those again.
    let before = cf.purge_requests().len();
    let again = site.run(&cf, &["-q"]);
    assert_eq!(again.code, 1, "{again:?}");
    let sent: BTreeSet<String> = cf.purge_requests()[before..]
        .iter()
        .flat_map(files_of)
        .collect();
    assert_eq!(sent, refused);
}

/// Makes a folder immutable (no file can be created, renamed or removed in it, even by root),
/// and mutable again when dropped.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(folder: &std::path::Path) -> Immutable {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(folder)
            .status()
            .expect("run chattr");
        assert!(status.success(), "chattr +i {}", folder.display());
        Immutable(folder.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
#[cfg_attr(
    missing_chattr,
    ignore = "needs chattr: apt-get install e2fsprogs (or run tests/run-all.sh)"
)]
fn a_state_that_cannot_be_saved_after_the_purge_still_reports_what_was_purged() {
    let cf = FakeCloudflare::start();
    let site = small_site(&[]);
    site.baseline();
    let before = site.state_bytes();
    let expected = change_small_site(&site);
    cf.set_latency(Duration::from_millis(700));
    let child = support::site::isolated(support::site::sitepurge_bin(), site.root())
        .env("CLOUDFLARE_API_BASE_URL", cf.base_url())
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .args(["run", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // While the purge is in flight, the state's folder stops taking writes (a full disk, a
    // read-only remount).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cf.purge_requests().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let frozen = Immutable::set(&site.path(".sitepurge"));
    let output = child.wait_with_output().expect("wait");
    drop(frozen);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    // The report is still the report: what was purged, and why the state was not saved.
    let report: Value = serde_json::from_str(&stdout).expect("the report");
    assert_eq!(report["purge"]["urls_purged"], expected.len());
    assert_eq!(report["state_saved"], false);
    let why = report["state_error"].as_str().expect("state_error");
    assert!(why.starts_with("cannot write state file"), "{why}");
    assert!(
        stderr.contains(&format!(
            "error: the purge went out ({} URLs purged), but the new state could not be saved: cannot write state file",
            expected.len()
        )) && stderr.contains("hint: the state still owes those URLs"),
        "{stderr}"
    );
    assert_eq!(cf.purged_files(), expected);
    // The state is the one written ahead of the purge: the old hashes, owing the changed
    // paths, so the next run purges the same URLs again.
    let state = site.state();
    let old: Value = serde_json::from_slice(&before.expect("baseline state")).expect("json");
    assert_eq!(state["files"], old["files"]);
    assert_eq!(state["pending"], json!(["a.css", "b.css", "c.css"]));
    cf.set_latency(Duration::ZERO);
    let again = site.run(&cf, &["-q"]);
    assert_eq!(again.code, 0, "{again:?}");
    let last: BTreeSet<String> = cf
        .purge_requests()
        .iter()
        .rev()
        .take(1)
        .flat_map(files_of)
        .collect();
    assert_eq!(last, expected);
}

// ------------------------------------------------------------------------------------------
// Compaction: folder wildcards as prefixes
// ------------------------------------------------------------------------------------------

/// A site under `https://example.com/`: `index.html`, `about.html`, a blog (`blog/index.html`
/// and 20 posts `blog/pNN/index.html`: 42 URLs) and 10 docs pages. After a baseline, changes
/// `about.html`, the blog's index and its first `posts` posts; returns the changed URLs.
fn blog_site(extra: &[&str], posts: usize) -> (Site, BTreeSet<String>) {
    let mut lines = vec![zone_id(), FAST.to_string()];
    lines.extend(extra.iter().map(|s| s.to_string()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let site = Site::with_config(&config(&[APEX], &lines));
    site.page("index.html", "<h1>Home</h1>");
    site.page("about.html", "about");
    site.page("blog/index.html", "list");
    for i in 0..20 {
        site.page(&format!("blog/p{i:02}/index.html"), format!("post {i}"));
    }
    for i in 0..10 {
        site.page(&format!("docs/d{i:02}.html"), format!("doc {i}"));
    }
    site.baseline();
    site.page("about.html", "about, edited");
    site.page("blog/index.html", "list, edited");
    let mut changed = set([
        format!("{APEX}about.html"),
        format!("{APEX}blog/"),
        format!("{APEX}blog/index.html"),
    ]);
    for i in 0..posts {
        site.page(
            &format!("blog/p{i:02}/index.html"),
            format!("post {i}, edited"),
        );
        changed.insert(format!("{APEX}blog/p{i:02}/"));
        changed.insert(format!("{APEX}blog/p{i:02}/index.html"));
    }
    (site, changed)
}

/// The request whose body has `key`, and there must be one.
fn request_with<'a>(requests: &'a [RecordedRequest], key: &str) -> &'a RecordedRequest {
    let with: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|r| r.json().is_some_and(|b| b.get(key).is_some()))
        .collect();
    assert_eq!(with.len(), 1, "{key}: {requests:#?}");
    with[0]
}

#[test]
fn compact_purges_a_wholly_changed_section_by_one_prefix_and_the_rest_exactly() {
    let cf = FakeCloudflare::start();
    let (site, changed) = blog_site(&["threshold = 1000", "compact = true"], 20);
    assert_eq!(changed.len(), 43);

    let plan = site.exec(&cf, Creds::Token(TOKEN), &["plan", "-v"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stdout.contains(
            "plan: purge 43 URLs as 1 wildcard and 1 exact URL (purging 0 unchanged URLs too): "
        ),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("  wildcard  https://example.com/blog/*  (covers 42 changed, 0 unchanged)\n"),
        "{}",
        plan.stdout
    );
    assert!(cf.requests().is_empty(), "plan sent a request");

    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = cf.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    for r in &requests {
        assert_purge(r, Creds::Token(TOKEN));
    }
    assert_eq!(
        request_with(&requests, "prefixes").json(),
        Some(&json!({"prefixes": ["example.com/blog/"]}))
    );
    assert_eq!(
        files_of(request_with(&requests, "files")),
        [format!("{APEX}about.html")]
    );
    assert_eq!(cf.purged_prefixes(), set(["example.com/blog/"]));
    assert_eq!(cf.purged_files(), set([format!("{APEX}about.html")]));
    assert_clean(&cf);
    let report = out.json();
    assert_eq!(
        (&report["decision"], &report["reason"]),
        (&json!("urls"), &json!("changes"))
    );
    assert_eq!(
        report["wildcards"],
        json!([{"url": "https://example.com/blog/*", "changed": 42, "unchanged": 0, "includes_folder": true}])
    );
    assert_eq!(report["purge"]["urls_purged"], 43);
    assert_eq!(report["purge"]["prefixes"], json!(["example.com/blog/"]));
    site.assert_state_is_fresh_baseline();
}

#[test]
fn compact_leaves_scattered_changes_as_exact_urls() {
    let cf = FakeCloudflare::start();
    // Two of 20 posts: the blog is mostly unchanged, and 7 URLs fit max_paths.
    let (site, changed) = blog_site(&["threshold = 1000", "compact = true"], 2);
    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(cf.purged_prefixes().is_empty());
    assert_eq!(cf.purged_files(), changed);
    assert_eq!(out.json()["wildcards"], json!([]));
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

#[test]
fn over_the_threshold_a_compacted_plan_replaces_everything_within_max_collateral() {
    let cf = FakeCloudflare::start();
    // 18 of 20 posts: 39 changed URLs, over the threshold of 10; blog/* covers 38 of them and
    // the 4 URLs of the 2 unchanged posts.
    let (site, changed) = blog_site(
        &["threshold = 10", "compact = true", "max_collateral = 4"],
        18,
    );
    assert_eq!(changed.len(), 39);
    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report = out.json();
    assert_eq!(
        (&report["decision"], &report["reason"]),
        (&json!("urls"), &json!("compacted"))
    );
    assert!(
        report["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("purging 4 unchanged URLs too")),
        "{report}"
    );
    assert_eq!(
        report["wildcards"],
        json!([{"url": "https://example.com/blog/*", "changed": 38, "unchanged": 4, "includes_folder": true}])
    );
    assert_eq!(cf.purged_prefixes(), set(["example.com/blog/"]));
    assert_eq!(cf.purged_files(), set([format!("{APEX}about.html")]));
    assert!(cf.purged_hosts().is_empty());
    assert_eq!(cf.purged_everything(), 0);
    assert_eq!(cf.requests().len(), 2);
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

#[test]
fn over_the_threshold_more_collateral_than_allowed_purges_everything() {
    let cf = FakeCloudflare::start();
    let (site, _) = blog_site(
        &["threshold = 10", "compact = true", "max_collateral = 3"],
        18,
    );
    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report = out.json();
    assert_eq!(
        (&report["decision"], &report["reason"]),
        (&json!("everything"), &json!("threshold"))
    );
    assert_eq!(report["wildcards"], json!([]));
    assert_eq!(cf.purged_hosts(), set(["example.com"]));
    assert!(cf.purged_prefixes().is_empty());
    assert!(cf.purged_files().is_empty());
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}

#[test]
fn a_failed_prefix_purge_leaves_the_urls_it_covers_pending_until_a_later_run() {
    let cf = FakeCloudflare::start();
    let (site, _) = blog_site(
        &["threshold = 1000", "compact = true", "concurrency = 1"],
        20,
    );
    // One request at a time: the exact URLs go first, then the prefix, which is refused.
    cf.push(Behaviour::Delay(Duration::ZERO));
    cf.push(Behaviour::status(400));
    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(cf.purged_files(), set([format!("{APEX}about.html")]));
    assert!(cf.purged_prefixes().is_empty());
    let report = out.json();
    assert_eq!(report["purge"]["urls_purged"], 1);
    assert_eq!(
        report["purge"]["urls_pending"].as_array().map(Vec::len),
        Some(42)
    );
    let mut pending = strings(&site.state()["pending"]);
    pending.sort();
    let mut blog: Vec<String> = (0..20)
        .map(|i| format!("blog/p{i:02}/index.html"))
        .collect();
    blog.push("blog/index.html".into());
    blog.sort();
    assert_eq!(pending, blog);

    // The next run purges the blog again, by its prefix, and owes nothing after.
    let out = site.run(&cf, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cf.purged_prefixes(), set(["example.com/blog/"]));
    assert_eq!(out.json()["purge"]["urls_purged"], 42);
    assert_clean(&cf);
    site.assert_state_is_fresh_baseline();
}
