//! End-to-end tests of `provider = "fastly"` against the stand-in built from Fastly's API
//! reference (`tests/support/fastly.rs`, `tests/fixtures/fastly/api.json`): the exact requests,
//! exit codes, the state after a failure, retries, soft purge, the rate-limit headers, and
//! that the token never shows.
#![cfg(unix)]

use crate::support;

use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::json;
use support::fake_api::{Answer, Recorded};
use support::fastly::{FakeFastly, SERVICE_ID, TOKEN};
use support::site::{Folder, Out, Site, sitepurge_in};

const FAST: &str = "retry_delay = \"10ms\"\nmax_retry_delay = \"50ms\"";

fn site(extra: &str) -> Site {
    let site = Site::new();
    site.put(
        "sitepurge.toml",
        format!(
            "base_urls = [\"https://example.com/\"]\nprovider = \"fastly\"\n{FAST}\n{extra}\n[fastly]\nservice_id = \"{SERVICE_ID}\"\n"
        ),
    );
    site.page("index.html", "home");
    site.page("a.html", "a");
    site.page("b.html", "b");
    site
}

fn cmd(site: &Site, api: &FakeFastly, args: &[&str]) -> Command {
    let mut cmd = sitepurge_in(site.root());
    cmd.env("FASTLY_API_BASE_URL", api.base_url())
        .env("FASTLY_API_TOKEN", TOKEN)
        .args(args);
    cmd
}

fn run(site: &Site, api: &FakeFastly, args: &[&str]) -> Out {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    Out::of(&mut cmd(site, api, &all))
}

fn baseline(site: &Site, api: &FakeFastly) {
    site.baseline_with(&mut cmd(site, api, &["baseline", "-q"]));
}

fn assert_url_purge(r: &Recorded, cached: &str) {
    assert_eq!(r.method, "POST", "{r:?}");
    assert_eq!(r.path, format!("/purge/{cached}"), "{r:?}");
    assert_eq!(r.header_values("fastly-key"), [TOKEN], "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
}

fn paths(requests: &[Recorded]) -> Vec<String> {
    let mut p: Vec<String> = requests.iter().map(|r| r.path.clone()).collect();
    p.sort();
    p
}

fn assert_clean(api: &FakeFastly) {
    assert!(api.violations().is_empty(), "{:#?}", api.violations());
}

#[test]
fn changed_files_are_purged_one_url_per_request() {
    let api = FakeFastly::start();
    let site = site("");
    baseline(&site, &api);
    site.page("a.html", "a2");
    site.page("new/index.html", "new");

    let out = run(&site, &api, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = api.requests();
    assert_eq!(
        paths(&requests),
        [
            "/purge/example.com/a.html",
            "/purge/example.com/new/",
            "/purge/example.com/new/index.html"
        ]
    );
    for r in &requests {
        assert_url_purge(r, r.path.trim_start_matches("/purge/"));
        assert_eq!(r.header("fastly-soft-purge"), None, "{r:?}");
        assert_eq!(r.status, Some(200));
    }
    let report = out.json();
    assert_eq!(report["purge"]["provider"], "fastly");
    assert_eq!(report["purge"]["target"], format!("service {SERVICE_ID}"));
    assert_eq!(report["purge"]["urls_purged"], 3);
    assert_eq!(report["state_saved"], true);
    assert_eq!(site.state()["pending"], serde_json::Value::Null);
    assert_clean(&api);
}

#[test]
fn soft_purge_sends_the_header_on_url_purges_only() {
    let api = FakeFastly::start();
    let site = site("");
    let config = std::fs::read_to_string(site.path("sitepurge.toml")).expect("config");
    site.put("sitepurge.toml", format!("{config}soft = true\n"));
    // No state: the first run purges everything (purge_all, never soft), then a change.
    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, format!("/service/{SERVICE_ID}/purge_all"));
    assert_eq!(requests[0].header_values("fastly-key"), [TOKEN]);
    assert_eq!(requests[0].header("fastly-soft-purge"), None);
    assert_eq!(api.purge_all_count(), 1);

    site.page("b.html", "b2");
    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = api.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_url_purge(&requests[1], "example.com/b.html");
    assert_eq!(requests[1].header_values("fastly-soft-purge"), ["1"]);
    assert_eq!(
        api.purged_soft().into_iter().collect::<Vec<_>>(),
        ["example.com/b.html"]
    );
    assert_clean(&api);
}

#[test]
fn a_failed_url_stays_pending_and_the_next_run_purges_it() {
    let api = FakeFastly::start();
    let site = site("retries = 2");
    baseline(&site, &api);
    site.page("a.html", "a2");
    site.page("b.html", "b2");
    api.fail_urls_containing("b.html");

    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("example.com/b.html"), "{}", out.stderr);
    // a.html once; b.html once and 2 retries.
    let requests = api.requests();
    let b: Vec<&Recorded> = requests
        .iter()
        .filter(|r| r.path.ends_with("b.html"))
        .collect();
    assert_eq!(b.len(), 3, "{requests:#?}");
    assert!(b.iter().all(|r| r.status == Some(500)));
    assert_eq!(site.state()["pending"], json!(["b.html"]));

    api.heal();
    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let later: Vec<Recorded> = api.requests().into_iter().skip(requests.len()).collect();
    assert_eq!(paths(&later), ["/purge/example.com/b.html"]);
    assert_eq!(site.state()["pending"], serde_json::Value::Null);
    assert_clean(&api);
}

#[test]
fn a_429_and_a_503_are_retried_after_the_wait_asked() {
    let api = FakeFastly::start();
    let site = site("concurrency = 1");
    baseline(&site, &api);
    site.page("a.html", "a2");
    api.push(
        Answer::new(429, json!({"msg": "Too many requests"}).to_string())
            .with_header("retry-after", "1"),
    );
    api.push(Answer::new(
        503,
        json!({"msg": "Service unavailable"}).to_string(),
    ));

    let started = Instant::now();
    let out = run(&site, &api, &["-v"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = api.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    let statuses: Vec<Option<u16>> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(429), Some(503), Some(200)]);
    assert!(
        requests[1].received.duration_since(requests[0].received) >= Duration::from_secs(1),
        "Retry-After not honoured"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(out.stderr.contains("retrying"), "{}", out.stderr);
    assert_clean(&api);
}

#[test]
fn a_spent_rate_limit_window_is_waited_out_not_failed() {
    let api = FakeFastly::start();
    let site = site("concurrency = 1\nthreshold = 1000");
    baseline(&site, &api);
    for page in ["a.html", "b.html", "index.html"] {
        site.page(page, "changed");
    }
    // 4 URLs (index.html is also /); 2 requests per 2-second window.
    api.set_window(2, Duration::from_secs(2));

    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = api.requests();
    // No request was refused: none was sent while the window was spent (the fake records a
    // violation and answers 429 if one is).
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert!(
        requests.iter().all(|r| r.status == Some(200)),
        "{requests:#?}"
    );
    // With 1 left the next waited its share of the window, with 0 left for the reset: the
    // requests were spread out, not sent back to back.
    for pair in requests.windows(2) {
        let gap = pair[1].received.duration_since(pair[0].received);
        assert!(gap >= Duration::from_millis(300), "no wait: {gap:?}");
    }
    assert_clean(&api);
}

#[test]
fn the_token_never_shows_even_at_vv_or_when_refused() {
    let api = FakeFastly::start();
    let site = site("");
    baseline(&site, &api);
    site.page("a.html", "a2");
    let mut refused = cmd(&site, &api, &["run", "-vv"]);
    refused.env("FASTLY_API_TOKEN", "wrong-token-zzzzzzzzzzzzzzzz");
    let out = Out::of(&mut refused);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(out.stderr.contains("purge_select"), "{}", out.stderr);
    assert!(!out.all().contains("wrong-token-zzzz"), "{out:?}");
    assert_eq!(site.state()["pending"], json!(["a.html"]));

    let out = run(&site, &api, &["-vv"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.all().contains(TOKEN), "{out:?}");
    let state = String::from_utf8_lossy(&site.state_bytes().expect("state")).into_owned();
    assert!(!state.contains(TOKEN));
    assert_clean(&api);
}

#[test]
fn setup_errors_name_the_setting_and_send_nothing() {
    let api = FakeFastly::start();
    let site = site("");
    baseline(&site, &api);
    site.page("a.html", "a2");
    let mut no_token = cmd(&site, &api, &["run"]);
    no_token.env_remove("FASTLY_API_TOKEN");
    let out = Out::of(&mut no_token);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("FASTLY_API_TOKEN"), "{}", out.stderr);

    site.put(
        "sitepurge.toml",
        "base_urls = [\"https://example.com/\"]\nprovider = \"fastly\"\n[fastly]\nservice_id = \"not an id\"\n",
    );
    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("fastly.service_id"), "{}", out.stderr);

    // The token is never read from the config file.
    site.put(
        "sitepurge.toml",
        format!("base_urls = [\"https://example.com/\"]\nprovider = \"fastly\"\n[fastly]\nservice_id = \"{SERVICE_ID}\"\ntoken = \"x\"\n"),
    );
    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("token"), "{}", out.stderr);
    assert!(api.requests().is_empty(), "{:#?}", api.requests());
}

fn assert_token_read(r: &Recorded) {
    assert_eq!(r.method, "GET", "{r:?}");
    assert_eq!(r.path, "/tokens/self", "{r:?}");
    assert_eq!(r.query, None, "{r:?}");
    assert_eq!(r.header_values("fastly-key"), [TOKEN], "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
}

#[test]
fn verify_reads_the_token_and_reports_its_scopes() {
    let api = FakeFastly::start();
    let site = site("");
    let out = Out::of(&mut cmd(&site, &api, &["verify", "--json", "-vv"]));
    assert_eq!(out.code, 0, "{out:?}");
    let found = out.json();
    assert_eq!(found["provider"], "fastly");
    assert_eq!(found["target"], format!("service {SERVICE_ID}"));
    assert_eq!(found["token_id"], "5Yo3XXnrQpjc20u0ybrf2g");
    assert_eq!(found["token_name"], "sitepurge-ci");
    assert_eq!(found["scopes"], json!(["purge_select", "purge_all"]));
    assert_eq!(found["services"], json!([SERVICE_ID]));
    assert_eq!(found["expires_at"], serde_json::Value::Null);
    assert_eq!(found["purge_urls"], true);
    assert_eq!(found["purge_all"], true);
    assert_eq!(found["credentials_checked"], true);
    assert!(
        found["everything"]
            .as_str()
            .unwrap_or_default()
            .contains("purge_all")
    );
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_token_read(&requests[0]);
    assert!(!out.all().contains(TOKEN), "{out:?}");

    // A global token on every service, in words.
    api.set_token("global", &[]);
    let out = Out::of(&mut cmd(&site, &api, &["verify", "-vv"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("scopes: global on all services"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("purges: URLs yes, everything yes"),
        "{}",
        out.stdout
    );
    assert!(!out.all().contains(TOKEN), "{out:?}");
    assert_clean(&api);
}

#[test]
fn verify_warns_when_the_token_cannot_purge_everything() {
    let api = FakeFastly::start();
    let site = site("");
    api.set_token("purge_select", &[SERVICE_ID]);
    let out = Out::of(&mut cmd(&site, &api, &["verify"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("purges: URLs yes, everything no"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("add the purge_all scope"),
        "{}",
        out.stdout
    );
    let out = Out::of(&mut cmd(&site, &api, &["verify", "--json"]));
    assert_eq!(out.json()["purge_all"], false);
    assert_clean(&api);
}

#[test]
fn verify_with_a_refused_token_fails_with_exit_2_and_never_shows_it() {
    let api = FakeFastly::start();
    let site = site("");
    let mut refused = cmd(&site, &api, &["verify", "-vv"]);
    refused.env("FASTLY_API_TOKEN", "wrong-token-zzzzzzzzzzzzzzzz");
    let out = Out::of(&mut refused);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("GET /tokens/self"), "{}", out.stderr);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(out.stderr.contains("missing or invalid"), "{}", out.stderr);
    assert!(out.stderr.contains("hint: "), "{}", out.stderr);
    assert!(out.stderr.contains("purge_select"), "{}", out.stderr);
    assert!(out.stderr.contains(SERVICE_ID), "{}", out.stderr);
    assert!(!out.all().contains("wrong-token-zzzz"), "{out:?}");
    // Refused once, not retried.
    assert_eq!(api.requests().len(), 1, "{:#?}", api.requests());

    api.push(Answer::new(403, json!({"msg": "Forbidden"}).to_string()));
    let out = Out::of(&mut cmd(&site, &api, &["verify", "--json"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.json()["exit_code"], 2);
    assert!(!out.all().contains(TOKEN), "{out:?}");
    assert_clean(&api);
}

#[test]
fn verify_fails_for_a_token_without_the_purge_scope() {
    let api = FakeFastly::start();
    let site = site("");
    api.set_token("global:read", &[]);
    let out = Out::of(&mut cmd(&site, &api, &["verify", "-vv"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("cannot purge URLs"), "{}", out.stderr);
    assert!(out.stderr.contains("\"global:read\""), "{}", out.stderr);
    assert!(out.stderr.contains("purge_select"), "{}", out.stderr);
    assert!(out.stderr.contains("and purge_all"), "{}", out.stderr);
    assert!(!out.all().contains(TOKEN), "{out:?}");
    // purge_all alone still cannot purge URLs.
    api.set_token("purge_all", &[]);
    let out = Out::of(&mut cmd(&site, &api, &["verify"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("without purge_select"),
        "{}",
        out.stderr
    );
    assert_clean(&api);
}

#[test]
fn verify_fails_for_a_token_of_another_service() {
    let api = FakeFastly::start();
    let site = site("");
    api.set_token("purge_select purge_all", &["7i6HN3TK9wS159v2gPAZ8A"]);
    let out = Out::of(&mut cmd(&site, &api, &["verify", "--json"]));
    assert_eq!(out.code, 2, "{out:?}");
    let error = out.json();
    let message = error["error"].as_str().unwrap_or_default();
    assert!(message.contains("7i6HN3TK9wS159v2gPAZ8A"), "{message}");
    assert!(message.contains(SERVICE_ID), "{message}");
    assert!(
        error["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("service_id"),
        "{error}"
    );
    assert_clean(&api);
}

#[test]
fn verify_without_a_token_sends_nothing() {
    let api = FakeFastly::start();
    let site = site("");
    let mut no_token = cmd(&site, &api, &["verify"]);
    no_token.env_remove("FASTLY_API_TOKEN");
    let out = Out::of(&mut no_token);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("FASTLY_API_TOKEN"), "{}", out.stderr);
    assert!(api.requests().is_empty());
}
