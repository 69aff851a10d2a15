//! End-to-end tests of `provider = "bunny"` against the stand-in built from bunny.net's API
//! reference (`tests/support/bunny.rs`, `tests/fixtures/bunny/api.json`): the exact requests,
//! exit codes, the state after a failure, retries, "everything" by pull zone or by wildcard,
//! and that the key never shows.
#![cfg(unix)]

use crate::support;

use std::time::Duration;

use assert_cmd::Command;
use serde_json::json;
use support::bunny::{
    FakeBunny, KEY, PULL_ZONE, PULL_ZONE_HOSTNAMES, PULL_ZONE_NAME, ZONE_SECRETS,
};
use support::fake_api::{Answer, Recorded};
use support::site::{Folder, Out, Site, sitepurge_in};

const FAST: &str = "retry_delay = \"10ms\"\nmax_retry_delay = \"50ms\"";

fn bunny_site(extra: &str, table: &str) -> Site {
    let site = Site::new();
    site.put(
        "sitepurge.toml",
        format!(
            "base_urls = [\"https://example.com/\"]\nprovider = \"bunny\"\n{FAST}\n{extra}\n[bunny]\n{table}\n"
        ),
    );
    site.page("index.html", "home");
    site.page("a.html", "a");
    site.page("b.html", "b");
    site
}

fn cmd(site: &Site, api: &FakeBunny, args: &[&str]) -> Command {
    let mut cmd = sitepurge_in(site.root());
    cmd.env("BUNNY_API_BASE_URL", api.base_url())
        .env("BUNNY_API_KEY", KEY)
        .args(args);
    cmd
}

fn run(site: &Site, api: &FakeBunny, args: &[&str]) -> Out {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    Out::of(&mut cmd(site, api, &all))
}

fn baseline(site: &Site, api: &FakeBunny) {
    site.baseline_with(&mut cmd(site, api, &["baseline", "-q"]));
}

/// The decoded query of each URL purge, sorted.
fn purges(requests: &[Recorded]) -> Vec<Vec<(String, String)>> {
    let mut all: Vec<Vec<(String, String)>> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.method, "POST", "{r:?}");
            assert_eq!(r.path, "/purge", "{r:?}");
            assert_eq!(r.header_values("accesskey"), [KEY], "{r:?}");
            assert!(r.body.is_empty(), "{r:?}");
            r.query_pairs()
        })
        .collect();
    all.sort();
    all
}

fn url(u: &str) -> Vec<(String, String)> {
    vec![("url".into(), u.into())]
}

fn exact_dir(u: &str) -> Vec<(String, String)> {
    vec![
        ("url".into(), u.into()),
        ("exactPath".into(), "true".into()),
    ]
}

fn assert_clean(api: &FakeBunny) {
    assert!(api.violations().is_empty(), "{:#?}", api.violations());
}

#[test]
fn changed_urls_are_purged_exactly_one_per_request() {
    let api = FakeBunny::start();
    let site = bunny_site("", "");
    baseline(&site, &api);
    site.page("a.html", "a2");
    site.page("café/index.html", "new");

    let out = run(&site, &api, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = api.requests();
    assert_eq!(
        purges(&requests),
        [
            url("https://example.com/a.html"),
            exact_dir("https://example.com/caf%C3%A9/"),
            url("https://example.com/caf%C3%A9/index.html"),
        ]
    );
    // The query is percent-encoded on the wire.
    assert!(
        requests
            .iter()
            .any(|r| r.query.as_deref() == Some("url=https%3A%2F%2Fexample.com%2Fa.html")),
        "{requests:#?}"
    );
    assert!(api.wildcards().is_empty(), "a page was purged as a prefix");
    assert_eq!(out.json()["purge"]["provider"], "bunny");
    assert_eq!(out.json()["purge"]["urls_purged"], 3);
    assert_clean(&api);
}

#[test]
fn everything_is_the_pull_zone_when_known_else_a_wildcard_per_host() {
    let api = FakeBunny::start();
    let with_zone = bunny_site("", &format!("pull_zone_id = {PULL_ZONE}"));
    let out = run(&with_zone, &api, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].method, "POST");
    assert_eq!(
        requests[0].path,
        format!("/pullzone/{PULL_ZONE}/purgeCache")
    );
    assert_eq!(requests[0].query, None);
    assert_eq!(requests[0].header_values("accesskey"), [KEY]);
    assert_eq!(requests[0].status, Some(204));
    assert_eq!(api.zone_purges(), 1);
    assert!(
        out.json()["everything"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("pull zone {PULL_ZONE}"))
    );

    let api = FakeBunny::start();
    let without = bunny_site("", "");
    let out = run(&without, &api, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(purges(&api.requests()), [url("https://example.com/*")]);
    assert_eq!(
        api.wildcards().into_iter().collect::<Vec<_>>(),
        ["https://example.com/*"]
    );
    assert_clean(&api);
}

#[test]
fn a_failed_url_stays_pending_and_the_next_run_purges_it() {
    let api = FakeBunny::start();
    let site = bunny_site("retries = 1", "");
    baseline(&site, &api);
    site.page("a.html", "a2");
    site.page("b.html", "b2");
    api.fail_urls_containing("b.html");

    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("b.html"), "{}", out.stderr);
    let requests = api.requests();
    assert_eq!(
        requests.len(),
        3,
        "a.html once, b.html twice: {requests:#?}"
    );
    assert_eq!(site.state()["pending"], json!(["b.html"]));

    api.heal();
    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let later: Vec<Recorded> = api.requests().into_iter().skip(3).collect();
    assert_eq!(purges(&later), [url("https://example.com/b.html")]);
    assert_eq!(site.state()["pending"], serde_json::Value::Null);
    assert_clean(&api);
}

#[test]
fn a_429_waits_for_retry_after_and_a_5xx_is_retried() {
    let api = FakeBunny::start();
    let site = bunny_site("concurrency = 1", "");
    baseline(&site, &api);
    site.page("a.html", "a2");
    api.push(Answer::new(429, "").with_header("retry-after", "1"));
    api.push(Answer::new(502, ""));

    let out = run(&site, &api, &["-v"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = api.requests();
    let statuses: Vec<Option<u16>> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(429), Some(502), Some(200)]);
    assert!(requests[1].received.duration_since(requests[0].received) >= Duration::from_secs(1));
    assert_clean(&api);
}

#[test]
fn the_key_never_shows_and_setup_errors_exit_2() {
    let api = FakeBunny::start();
    let site = bunny_site("", "");
    baseline(&site, &api);
    site.page("a.html", "a2");
    let mut wrong = cmd(&site, &api, &["run", "-vv"]);
    wrong.env("BUNNY_API_KEY", "wrong-key-yyyyyyyyyyyyyyyy");
    let out = Out::of(&mut wrong);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(out.stderr.contains("BUNNY_API_KEY"), "{}", out.stderr);
    assert!(!out.all().contains("wrong-key-yyyy"), "{out:?}");
    assert_eq!(site.state()["pending"], json!(["a.html"]));

    let out = run(&site, &api, &["-vv"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.all().contains(KEY), "{out:?}");
    let state = String::from_utf8_lossy(&site.state_bytes().expect("state")).into_owned();
    assert!(!state.contains(KEY));

    // A pull zone that does not exist: a setup error naming the setting.
    let other = bunny_site("", "pull_zone_id = 7");
    let out = run(&other, &api, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("pull_zone_id"), "{}", out.stderr);

    let mut no_key = cmd(&other, &api, &["run"]);
    no_key.env_remove("BUNNY_API_KEY");
    let out = Out::of(&mut no_key);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("BUNNY_API_KEY"), "{}", out.stderr);
    assert_clean(&api);
}

#[test]
fn the_key_can_come_from_a_token_file_relative_to_the_config() {
    let api = FakeBunny::start();
    let site = bunny_site("", "token_file = \"secrets/bunny\"");
    site.put("secrets/bunny", format!("{KEY}\n"));
    baseline(&site, &api);
    site.page("a.html", "a2");
    let mut from_file = cmd(&site, &api, &["run"]);
    from_file.env_remove("BUNNY_API_KEY");
    let out = Out::of(&mut from_file);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(purges(&api.requests()), [url("https://example.com/a.html")]);
    assert_clean(&api);
}

/// A site with `posts/index.html` and 12 posts, and `a.html`.
fn blog(table: &str) -> Site {
    let site = bunny_site("threshold = 1000", table);
    site.page("posts/index.html", "list");
    for i in 0..12 {
        site.page(&format!("posts/p{i:02}.html"), "post");
    }
    site
}

fn change_blog(site: &Site, posts: usize) {
    site.page("a.html", "a2");
    site.page("posts/index.html", "list2");
    for i in 0..posts {
        site.page(&format!("posts/p{i:02}.html"), "post2");
    }
}

#[test]
fn a_folder_whose_every_url_changed_is_purged_by_one_wildcard() {
    let api = FakeBunny::start();
    let site = blog("");
    baseline(&site, &api);
    change_blog(&site, 12);

    let out = run(&site, &api, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    // a.html and the folder's own page exactly; the 13 URLs below posts/ in one wildcard.
    assert_eq!(
        purges(&api.requests()),
        [
            url("https://example.com/a.html"),
            exact_dir("https://example.com/posts/"),
            url("https://example.com/posts/*"),
        ]
    );
    let report = out.json();
    assert_eq!(report["purge"]["urls_purged"], 15);
    assert_eq!(report["purge"]["prefixes"], json!(["example.com/posts/"]));
    assert_eq!(site.state()["pending"], serde_json::Value::Null);
    assert_clean(&api);

    // One post unchanged: the folder is not wholly changed, so every URL goes on its own.
    let api = FakeBunny::start();
    let site = blog("");
    baseline(&site, &api);
    change_blog(&site, 11);
    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(api.requests().len(), 14, "{:#?}", api.requests());
    assert!(api.wildcards().is_empty());

    // wildcard_from = 0 turns it off.
    let api = FakeBunny::start();
    let site = blog("wildcard_from = 0");
    baseline(&site, &api);
    change_blog(&site, 12);
    let out = run(&site, &api, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(api.requests().len(), 15, "{:#?}", api.requests());
    assert!(api.wildcards().is_empty());
    assert_clean(&api);
}

fn assert_read(r: &Recorded, path: &str) {
    assert_eq!(r.method, "GET", "{r:?}");
    assert_eq!(r.path, path, "{r:?}");
    assert_eq!(r.header_values("accesskey"), [KEY], "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
}

#[test]
fn verify_reads_the_pull_zone_and_shows_its_name_and_host_names() {
    let api = FakeBunny::start();
    let site = bunny_site("", &format!("pull_zone_id = {PULL_ZONE}"));
    let out = Out::of(&mut cmd(&site, &api, &["verify", "--json", "-vv"]));
    assert_eq!(out.code, 0, "{out:?}");
    let found = out.json();
    assert_eq!(found["provider"], "bunny");
    assert_eq!(found["target"], format!("pull zone {PULL_ZONE}"));
    assert_eq!(found["pull_zone_name"], PULL_ZONE_NAME);
    assert_eq!(found["hostnames"], json!(PULL_ZONE_HOSTNAMES));
    assert_eq!(found["credentials_checked"], true);
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_read(&requests[0], &format!("/pullzone/{PULL_ZONE}"));
    assert_eq!(requests[0].query, None);

    let out = Out::of(&mut cmd(&site, &api, &["verify", "-vv"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "pull zone {PULL_ZONE}: {PULL_ZONE_NAME} ({})",
            PULL_ZONE_HOSTNAMES.join(", ")
        )),
        "{}",
        out.stdout
    );
    for secret in [KEY, ZONE_SECRETS[0], ZONE_SECRETS[1]] {
        assert!(!out.all().contains(secret), "{secret} shown: {out:?}");
    }
    assert_clean(&api);
}

#[test]
fn verify_without_a_pull_zone_lists_one_page_of_pull_zones() {
    let api = FakeBunny::start();
    let site = bunny_site("", "");
    let out = Out::of(&mut cmd(&site, &api, &["verify", "--json", "-vv"]));
    assert_eq!(out.code, 0, "{out:?}");
    let found = out.json();
    assert_eq!(found["target"], "bunny.net");
    assert_eq!(found["pull_zone_name"], serde_json::Value::Null);
    assert_eq!(found["hostnames"], json!([]));
    assert_eq!(found["credentials_checked"], true);
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_read(&requests[0], "/pullzone");
    assert_eq!(requests[0].query.as_deref(), Some("page=1&perPage=5"));
    for secret in [KEY, ZONE_SECRETS[0], ZONE_SECRETS[1]] {
        assert!(!out.all().contains(secret), "{secret} shown: {out:?}");
    }
    assert_clean(&api);
}

#[test]
fn verify_with_a_refused_key_fails_with_exit_2_and_never_shows_it() {
    let api = FakeBunny::start();
    for table in [format!("pull_zone_id = {PULL_ZONE}"), String::new()] {
        let site = bunny_site("", &table);
        let mut refused = cmd(&site, &api, &["verify", "-vv"]);
        refused.env("BUNNY_API_KEY", "wrong-key-zzzzzzzzzzzzzzzz");
        let out = Out::of(&mut refused);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("401"), "{}", out.stderr);
        assert!(
            out.stderr.contains("Authorization has been denied"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("hint: "), "{}", out.stderr);
        assert!(out.stderr.contains("BUNNY_API_KEY"), "{}", out.stderr);
        assert!(!out.all().contains("wrong-key-zzzz"), "{out:?}");
    }
    // Refused once each, not retried.
    assert_eq!(api.requests().len(), 2, "{:#?}", api.requests());
    assert_clean(&api);
}

#[test]
fn verify_of_an_unknown_pull_zone_fails_with_exit_2() {
    let api = FakeBunny::start();
    let site = bunny_site("", "pull_zone_id = 999");
    let out = Out::of(&mut cmd(&site, &api, &["verify", "-vv"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("GET /pullzone/999"), "{}", out.stderr);
    assert!(out.stderr.contains("404"), "{}", out.stderr);
    assert!(out.stderr.contains("pull_zone_id"), "{}", out.stderr);
    assert!(!out.all().contains(KEY), "{out:?}");
    assert_eq!(api.requests().len(), 1, "{:#?}", api.requests());
    assert_clean(&api);
}
