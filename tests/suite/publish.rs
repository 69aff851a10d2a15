//! Deploys in two steps (README: Publishing from CI): `plan --out` before the deploy and
//! `apply` after it, against the local stand-in for the Cloudflare API; the state published
//! with the site (`publish_manifest`) and read back from it (`state_url`), served by the test's
//! own origin on loopback. The real-cache side (the origin wait, the freshness check) is in
//! tests/suite/varnish.rs.
#![cfg(unix)]

use crate::support;

use std::collections::BTreeSet;
use std::fs;

use serde_json::{Value, json};
use support::cloudflare::{FakeCloudflare, TOKEN, ZONE_ID};
use support::origin::Origin;
use support::site::{Folder, Out, STATE, Site, sitepurge_in};

const BASE: &str = "https://example.com/";

/// `sitepurge ARGS` in the site's folder, talking to `cf` with the good token, with no proxy.
fn sitepurge(site: &Site, cf: &FakeCloudflare, args: &[&str]) -> Out {
    let mut cmd = sitepurge_in(site.root());
    cmd.env("CLOUDFLARE_API_BASE_URL", cf.base_url())
        .env("CLOUDFLARE_API_TOKEN", TOKEN);
    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env_remove(var);
    }
    Out::of(cmd.args(args))
}

/// A recorded site (`index.html`, `about/index.html`, `css/site.css`) with `config`.
fn recorded(cf: &FakeCloudflare, config: &str) -> Site {
    let site = Site::new();
    site.put("sitepurge.toml", config);
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    let out = sitepurge(&site, cf, &["baseline", "-q"]);
    assert_eq!(out.code, 0, "{out:?}");
    site
}

fn config() -> String {
    format!("base_urls = [\"{BASE}\"]\nzone = \"{ZONE_ID}\"\nthreshold = 100\nretries = 0\n")
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn apply_purges_exactly_the_plan_and_records_it_without_the_output_folder() {
    let cf = FakeCloudflare::start();
    let site = recorded(&cf, &config());
    site.page("about/index.html", "<h1>About v2</h1>");
    site.page("news/index.html", "<h1>News</h1>");
    let plan = sitepurge(&site, &cf, &["plan", "--out", "plan.json", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(cf.purge_requests().is_empty(), "plan sends nothing");
    let planned_state = site.state();

    // The apply job has the checkout, not the build: and the site changed again meanwhile.
    let built: Value = serde_json::from_slice(&fs::read(site.path("plan.json")).expect("plan"))
        .expect("plan is JSON");
    fs::remove_dir_all(site.path("_site")).expect("rm _site");
    let out = sitepurge(&site, &cf, &["apply", "plan.json", "--no-check", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let expected = set(&[
        "https://example.com/about/",
        "https://example.com/about/index.html",
        "https://example.com/news/",
        "https://example.com/news/index.html",
    ]);
    assert_eq!(cf.purged_files(), expected);
    assert_eq!(cf.violations(), Vec::<String>::new());
    let report = out.json();
    assert_eq!(report["command"], json!("apply"));
    assert_eq!(report["urls"], plan.json()["urls"]);
    assert_eq!(report["state_saved"], json!(true));
    // The state now records the build the plan was made from.
    let state = site.state();
    assert_eq!(state["files"], built["files"]);
    assert_ne!(state, planned_state);
    assert_eq!(state["pending"], Value::Null);
}

#[test]
fn apply_refuses_a_plan_made_under_other_settings_or_from_another_state() {
    let cf = FakeCloudflare::start();
    let site = recorded(&cf, &config());
    site.page("about/index.html", "<h1>About v2</h1>");
    let plan = sitepurge(&site, &cf, &["plan", "--out", "plan.json", "-q"]);
    assert_eq!(plan.code, 0, "{plan:?}");

    // Another base URL: the plan's URLs would purge the wrong keys.
    let out = sitepurge(
        &site,
        &cf,
        &[
            "apply",
            "plan.json",
            "--base-url",
            "https://www.example.com/",
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("plan.json no longer matches: the settings differ"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: make a new plan"),
        "{}",
        out.stderr
    );

    // Another run recorded the state meanwhile.
    let run = sitepurge(&site, &cf, &["run", "-q", "--no-check"]);
    assert_eq!(run.code, 0, "{run:?}");
    let purged = cf.purge_requests().len();
    let out = sitepurge(&site, &cf, &["apply", "plan.json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("changed since the plan was made"),
        "{}",
        out.stderr
    );
    assert_eq!(cf.purge_requests().len(), purged, "nothing sent");
}

#[test]
fn a_failed_apply_job_run_again_applies_the_same_plan() {
    let cf = FakeCloudflare::start();
    let site = recorded(&cf, &config());
    site.page("about/index.html", "<h1>About v2</h1>");
    let plan = sitepurge(&site, &cf, &["plan", "--out", "plan.json", "-q"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    cf.fail_all(Some(500));
    let failed = sitepurge(&site, &cf, &["apply", "plan.json", "--no-check", "-q"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert_eq!(site.state()["pending"], json!(["about/index.html"]));

    cf.fail_all(None);
    let again = sitepurge(&site, &cf, &["apply", "plan.json", "--no-check", "--json"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        cf.purged_files(),
        set(&[
            "https://example.com/about/",
            "https://example.com/about/index.html"
        ])
    );
    assert_eq!(site.state()["pending"], Value::Null);
}

#[test]
fn a_damaged_plan_file_is_refused_naming_it() {
    let cf = FakeCloudflare::start();
    let site = recorded(&cf, &config());
    site.put("plan.json", "{\"format\": 1, \"files\": {}}");
    let out = sitepurge(&site, &cf, &["apply", "plan.json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("plan file"), "{}", out.stderr);
    assert!(out.stderr.contains("plan.json"), "{}", out.stderr);
    let missing = sitepurge(&site, &cf, &["apply", "none.json"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("none.json"), "{}", missing.stderr);
}

#[test]
fn run_refuses_state_url() {
    let cf = FakeCloudflare::start();
    let site = recorded(&cf, &config());
    site.put(
        "sitepurge.toml",
        format!(
            "{}state_url = \"{BASE}.well-known/sitepurge.json\"\n",
            config()
        ),
    );
    let out = sitepurge(&site, &cf, &["run"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("state_url"), "{}", out.stderr);
    assert!(out.stderr.contains("plan --out"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// The published state

/// A site whose live copy is served by an origin of the test's own, from `live/`, which is
/// also its base URL (the check through the site reaches it); `publish_manifest` and
/// `state_url` on.
struct Live {
    origin: Origin,
    site: Site,
    base: String,
}

impl Live {
    fn new(cf: &FakeCloudflare) -> Live {
        let site = Site::new();
        fs::create_dir_all(site.path("live")).expect("mkdir live");
        let origin = Origin::start(site.path("live"));
        let base = format!("http://127.0.0.1:{}/", origin.port());
        site.put(
            "sitepurge.toml",
            format!(
                "base_urls = [\"{base}\"]\nzone = \"{ZONE_ID}\"\nthreshold = 100\nretries = 0\n\
                 timeout = \"5s\"\npublish_manifest = true\n\
                 state_url = \"{base}.well-known/sitepurge.json\"\n"
            ),
        );
        site.page("index.html", "<h1>Home</h1>");
        site.page("about/index.html", "<h1>About v1</h1>");
        let _ = cf;
        Live { origin, site, base }
    }

    /// Copies the output folder to `live/`: the deploy.
    fn deploy(&self) {
        let live = self.site.path("live");
        fs::remove_dir_all(&live).expect("rm live");
        support::site::copy_tree(&self.site.path("_site"), &live, None);
    }

    fn published(&self) -> Value {
        let text = fs::read(self.site.path("_site/.well-known/sitepurge.json")).expect("manifest");
        serde_json::from_slice(&text).expect("JSON")
    }
}

#[test]
fn the_first_plan_finds_no_published_state_and_publishes_one_without_hashing_it() {
    let cf = FakeCloudflare::start();
    let live = Live::new(&cf);
    let out = sitepurge(&live.site, &cf, &["plan", "--out", "plan.json", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report = out.json();
    // 404 at state_url: a first run, which purges everything by default.
    assert_eq!(
        (&report["first_run"], &report["reason"]),
        (&json!(true), &json!("first-run"))
    );
    let plan: Value = serde_json::from_slice(&fs::read(live.site.path("plan.json")).expect("plan"))
        .expect("JSON");
    assert_eq!(
        plan["base"],
        json!({"from": "url", "url": format!("{}.well-known/sitepurge.json", live.base), "found": false})
    );
    // The new state is in the output folder for the deploy to publish, but not in itself.
    let published = live.published();
    let files: BTreeSet<String> = published["files"]
        .as_object()
        .expect("files")
        .keys()
        .cloned()
        .collect();
    assert_eq!(files, set(&["about/index.html", "index.html"]));
    assert_eq!(
        published["pending"],
        json!(["about/index.html", "index.html"])
    );
    // No local state file is used in this mode.
    assert!(!live.site.path(STATE).exists());
}

#[test]
fn the_next_plan_reads_the_published_state_and_purges_only_what_changed() {
    let cf = FakeCloudflare::start();
    let live = Live::new(&cf);
    assert_eq!(sitepurge(&live.site, &cf, &["plan", "-q"]).code, 0);
    live.deploy();
    // The next build: one page changed.
    live.site.page("about/index.html", "<h1>About v2</h1>");
    let out = sitepurge(&live.site, &cf, &["plan", "--out", "plan.json", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report = out.json();
    assert_eq!(report["first_run"], json!(false));
    assert_eq!(
        report["changes"],
        json!({"added": [], "modified": ["about/index.html"], "removed": []})
    );
    assert_eq!(live.published()["pending"], json!(["about/index.html"]));

    // apply after the deploy: purges the plan, records nothing locally.
    live.deploy();
    let applied = sitepurge(&live.site, &cf, &["apply", "plan.json", "--json"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    assert_eq!(
        cf.purged_files(),
        set(&[
            &format!("{}about/", live.base),
            &format!("{}about/index.html", live.base)
        ])
    );
    // The check fetched them through the site (the origin here) and found them fresh.
    assert_eq!(applied.json()["check"]["fresh"], json!(2));
    assert!(!live.site.path(STATE).exists());
    assert!(live.origin.fetches("/about/") >= 1);
}

#[test]
fn an_apply_that_failed_and_was_never_run_again_is_healed_by_the_next_plan() {
    let cf = FakeCloudflare::start();
    let live = Live::new(&cf);
    assert_eq!(sitepurge(&live.site, &cf, &["plan", "-q"]).code, 0);
    live.deploy();
    live.site.page("about/index.html", "<h1>About v2</h1>");
    assert_eq!(sitepurge(&live.site, &cf, &["plan", "-q"]).code, 0);
    live.deploy();
    // The apply of that deploy failed and nobody ran it again: what the site serves for about/
    // is still the old page (the cache kept it).
    fs::write(live.site.path("live/about/index.html"), "<h1>About v1</h1>").expect("stale");

    // The next deploy changes something else.
    live.site.page("index.html", "<h1>Home v2</h1>");
    let out = sitepurge(&live.site, &cf, &["plan", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let report = out.json();
    // about/ is owed again: served stale through the site, so purged with the new change.
    assert_eq!(
        report["changes"],
        json!({"added": [], "modified": ["about/index.html", "index.html"], "removed": []})
    );

    // Had the site served it fresh, it would not be.
    fs::write(live.site.path("live/about/index.html"), "<h1>About v2</h1>").expect("fresh");
    let out = sitepurge(&live.site, &cf, &["plan", "--json"]);
    assert_eq!(
        out.json()["changes"],
        json!({"added": [], "modified": ["index.html"], "removed": []})
    );
}

#[test]
fn a_published_state_that_cannot_be_read_stops_the_plan_unless_told_to_purge_everything() {
    let cf = FakeCloudflare::start();
    let live = Live::new(&cf);
    let state_url = format!("{}.well-known/sitepurge.json", live.base);

    // Garbage where the state should be.
    fs::create_dir_all(live.site.path("live/.well-known")).expect("mkdir");
    fs::write(
        live.site.path("live/.well-known/sitepurge.json"),
        "<html>oops</html>",
    )
    .expect("write");
    let out = sitepurge(&live.site, &cf, &["plan"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("cannot read the published state at {state_url}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("not a sitepurge state"),
        "{}",
        out.stderr
    );
    assert!(!live.site.path("_site/.well-known/sitepurge.json").exists());

    // A server error.
    let broken = support::stub::Stub::start("500 Internal Server Error");
    let config = fs::read_to_string(live.site.path("sitepurge.toml")).expect("config");
    let pointed = config.replace(&state_url, &format!("{}/sitepurge.json", broken.url()));
    live.site.put("sitepurge.toml", &pointed);
    let out = sitepurge(&live.site, &cf, &["plan"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("HTTP 500"), "{}", out.stderr);
    assert!(out.stderr.contains("on_state_error"), "{}", out.stderr);

    // Told to purge everything instead.
    live.site.put(
        "sitepurge.toml",
        format!("{pointed}on_state_error = \"everything\"\n"),
    );
    let out = sitepurge(&live.site, &cf, &["plan", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["decision"], json!("everything"));
    assert!(out.stderr.contains("purging everything"), "{}", out.stderr);
}

#[test]
fn apply_purges_a_compacted_plans_wildcards_as_planned() {
    let cf = FakeCloudflare::start();
    // Over the threshold of 3, but the docs folder wholly changed: one prefix and one URL.
    let site = Site::new();
    site.put(
        "sitepurge.toml",
        format!(
            "base_urls = [\"{BASE}\"]\nzone = \"{ZONE_ID}\"\nthreshold = 3\nretries = 0\ncompact = true\n"
        ),
    );
    site.page("index.html", "<h1>Home</h1>");
    for i in 0..4 {
        site.page(&format!("docs/d{i}.html"), "v1");
    }
    assert_eq!(sitepurge(&site, &cf, &["baseline", "-q"]).code, 0);
    site.page("index.html", "<h1>Home v2</h1>");
    for i in 0..4 {
        site.page(&format!("docs/d{i}.html"), "v2");
    }
    let plan = sitepurge(&site, &cf, &["plan", "--out", "plan.json", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let planned = plan.json();
    assert_eq!(
        (&planned["decision"], &planned["reason"]),
        (&json!("urls"), &json!("compacted"))
    );
    let file: Value =
        serde_json::from_slice(&fs::read(site.path("plan.json")).expect("plan")).expect("JSON");
    assert_eq!(file["plan"]["wildcards"], planned["wildcards"]);
    assert_eq!(
        file["plan"]["wildcards"][0]["url"],
        json!("https://example.com/docs/*")
    );

    fs::remove_dir_all(site.path("_site")).expect("rm _site");
    let out = sitepurge(&site, &cf, &["apply", "plan.json", "--no-check", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(cf.purged_prefixes(), set(&["example.com/docs/"]));
    assert_eq!(
        cf.purged_files(),
        set(&["https://example.com/", "https://example.com/index.html"])
    );
    assert!(cf.purged_hosts().is_empty());
    assert_eq!(cf.violations(), Vec::<String>::new());
    assert_eq!(out.json()["purge"]["urls_purged"], 6);
    assert_eq!(site.state()["pending"], Value::Null);
}
