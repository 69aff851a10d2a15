//! End-to-end tests of `sitepurge run` and `verify` with `provider = "akamai"` against a Fast
//! Purge stand-in (`tests/support/edgegrid_server.py`) that checks every request's EdgeGrid
//! signature with Akamai's own library, edgegrid-python: a request signed differently from how
//! Akamai's signer signs it is refused with 401, as Akamai refuses it. The stand-in is reached
//! through `AKAMAI_API_BASE_URL` and checks each signature for `https://` and the credentials'
//! host, as Akamai would.
//!
//! Each test builds a small site, runs the real binary with only the `AKAMAI_*` variables it sets
//! (and `HOME` pointing at the site, so no real `~/.edgerc` is read), then checks the exact
//! requests the stand-in received and whether each was signed right, what it purged, the exit
//! code and the state file.
#![cfg(unix)]

use crate::support;

use std::collections::BTreeSet;

use assert_cmd::Command;
use serde_json::Value;
use support::expect::set;
use support::python::Script;
use support::site::{Folder, Out, Site, isolated, remove_vars, sitepurge_bin};

const BASE: &str = "https://example.com/";

/// The stand-in and the credentials it accepts.
struct FastPurge {
    script: Script,
    /// The credentials' host (`akab-test-….luna.akamaiapis.net`).
    host: String,
    /// Where the stand-in listens (`http://127.0.0.1:PORT`): `AKAMAI_API_BASE_URL`.
    base_url: String,
    client_token: String,
    client_secret: String,
    access_token: String,
}

impl FastPurge {
    fn start() -> FastPurge {
        let script = Script::start("edgegrid_server.py");
        FastPurge {
            host: script.get("host"),
            base_url: script.get("base_url"),
            client_token: script.get("client_token"),
            client_secret: script.get("client_secret"),
            access_token: script.get("access_token"),
            script,
        }
    }

    fn requests(&mut self) -> Vec<Value> {
        self.script.requests()
    }

    /// Every purge accepted so far: `{path, objects}`.
    fn purged(&mut self) -> Vec<Value> {
        self.script.ask("purged").as_array().cloned().expect("list")
    }

    fn purged_urls(&mut self) -> BTreeSet<String> {
        self.purged()
            .iter()
            .flat_map(|p| p["objects"].as_array().cloned().expect("objects"))
            .map(|o| o.as_str().expect("url").to_string())
            .collect()
    }

    fn command(&mut self, command: &str) {
        assert_eq!(self.script.ask(command), "ok", "{command}");
    }

    /// The four `AKAMAI_*` credentials, with `secret` as the client secret, and
    /// `AKAMAI_API_BASE_URL`.
    fn env(&self, secret: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AKAMAI_API_BASE_URL", self.base_url.clone()),
            ("AKAMAI_HOST", self.host.clone()),
            ("AKAMAI_CLIENT_TOKEN", self.client_token.clone()),
            ("AKAMAI_CLIENT_SECRET", secret.to_string()),
            ("AKAMAI_ACCESS_TOKEN", self.access_token.clone()),
        ]
    }
}

/// A site using Akamai, with `extra` lines in its `[akamai]` table.
fn site(top: &str, extra: &str) -> Site {
    let site = Site::new();
    site.put(
        "sitepurge.toml",
        format!(
            "provider = \"akamai\"\nbase_urls = [\"{BASE}\"]\nretry_delay = \"10ms\"\nthreshold = 100000\n{top}\n[akamai]\n{extra}\n"
        ),
    );
    site.page("index.html", "<h1>Home</h1>");
    site.page("café crème/index.html", "<p>menu</p>");
    site.page("a.css", "a { }");
    site
}

/// The binary in the site's folder with nothing Akamai-related inherited, `HOME` the site.
fn cmd(site: &Site, env: &[(&str, String)], args: &[&str]) -> Command {
    let mut std = isolated(sitepurge_bin(), site.root());
    remove_vars(&mut std, &["AKAMAI_", "HOME"]);
    std.env("HOME", site.root());
    for (k, v) in env {
        std.env(k, v);
    }
    let mut cmd = Command::from_std(std);
    cmd.args(args);
    cmd
}

fn run(site: &Site, fp: &FastPurge, args: &[&str]) -> Out {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    Out::of(&mut cmd(site, &fp.env(&fp.client_secret), &all))
}

fn baseline(site: &Site) {
    site.baseline_with(&mut cmd(site, &[], &["baseline", "-q"]));
}

/// Changes two pages of [`site`]: the URLs now to purge.
fn change(site: &Site) -> BTreeSet<String> {
    site.page("café crème/index.html", "<p>new menu</p>");
    site.page("a.css", "a { color: red }");
    set([
        "https://example.com/a.css",
        "https://example.com/caf%C3%A9%20cr%C3%A8me/",
        "https://example.com/caf%C3%A9%20cr%C3%A8me/index.html",
    ])
}

/// Checks one request: a signed POST to `path` with `{"objects": urls}`; the URLs it carried.
fn assert_purge(request: &Value, path: &str) -> Vec<String> {
    assert_eq!(request["method"], "POST", "{request}");
    assert_eq!(request["path"], path, "{request}");
    assert_eq!(
        request["signed"], true,
        "edgegrid-python refused it: {request}"
    );
    let headers = &request["headers"];
    assert_eq!(headers["content-type"], "application/json");
    let auth = headers["authorization"].as_str().expect("authorization");
    assert!(auth.starts_with("EG1-HMAC-SHA256 client_token="), "{auth}");
    let body = request["body"].as_str().expect("body");
    assert!(body.len() <= 50_000, "{} bytes", body.len());
    assert!(body.starts_with("{\"objects\":["), "{body}");
    let parsed: Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(parsed.as_object().expect("object").len(), 1, "{body}");
    parsed["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o.to_string().trim_matches('"').to_string())
        .collect()
}

#[test]
#[cfg_attr(
    missing_edgegrid,
    ignore = "needs edgegrid-python in .test-tools/: run tests/run-all.sh --install-only"
)]
fn changed_urls_are_one_invalidation_that_akamais_signer_accepts() {
    let mut fp = FastPurge::start();
    let site = site("", "");
    baseline(&site);
    let urls = change(&site);

    let out = run(&site, &fp, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = fp.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let sent = assert_purge(&requests[0], "/ccu/v3/invalidate/url/production");
    assert_eq!(
        requests[0]["body"],
        format!(
            "{{\"objects\":[{}]}}",
            urls.iter()
                .map(|u| format!("\"{u}\""))
                .collect::<Vec<_>>()
                .join(",")
        ),
        "the URLs in order, each once"
    );
    assert_eq!(set(sent), urls);
    assert_eq!(fp.purged_urls(), urls);
    let report = out.json();
    assert_eq!(report["purge"]["provider"], "akamai");
    assert_eq!(report["purge"]["urls_purged"], 3);
    assert!(site.state_pending().is_empty());
    let all = out.all();
    assert!(!all.contains(&fp.client_secret) && !all.contains(&fp.access_token));
}

#[test]
#[cfg_attr(
    missing_edgegrid,
    ignore = "needs edgegrid-python in .test-tools/: run tests/run-all.sh --install-only"
)]
fn a_wrong_secret_is_refused_by_akamais_signer_and_everything_stays_pending() {
    let mut fp = FastPurge::start();
    let site = site("", "");
    baseline(&site);
    let urls = change(&site);
    let wrong = "dGhpcyBpcyBub3QgdGhlIHNlY3JldCBvZiB0aGlzIGNsaWVudA==";

    let out = Out::of(&mut cmd(&site, &fp.env(wrong), &["run"]));
    assert_eq!(
        out.code, 2,
        "a credentials failure is a setup error: {out:?}"
    );
    assert!(
        out.stderr
            .contains("HTTP 401: Not authorized: The signature does not match"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(".edgerc"), "{}", out.stderr);
    assert!(!out.all().contains(wrong));
    let requests = fp.requests();
    assert_eq!(requests.len(), 1, "not retried: {requests:#?}");
    assert_eq!(requests[0]["signed"], false);
    assert!(fp.purged().is_empty());
    assert_eq!(
        site.state_pending(),
        set(["a.css", "café crème/index.html"])
    );

    let out = run(&site, &fp, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(fp.purged_urls(), urls);
    assert!(site.state_pending().is_empty());
}

#[test]
#[cfg_attr(
    missing_edgegrid,
    ignore = "needs edgegrid-python in .test-tools/: run tests/run-all.sh --install-only"
)]
fn credentials_come_from_an_edgerc_section_with_the_network_and_action_chosen() {
    let mut fp = FastPurge::start();
    let site = site(
        "",
        "edgerc_section = \"ccu\"\nnetwork = \"staging\"\naction = \"delete\"",
    );
    baseline(&site);
    let urls = change(&site);
    site.put(
        ".edgerc",
        format!(
            "[default]\nhost = akab-wrong.luna.akamaiapis.net\nclient_token = a\nclient_secret = b\naccess_token = c\n\n[ccu]\nhost = {}/\nclient-token = {}\nclient-secret = {}\naccess-token = {}\n",
            fp.host, fp.client_token, fp.client_secret, fp.access_token
        ),
    );
    let base = [("AKAMAI_API_BASE_URL", fp.base_url.clone())];
    let out = Out::of(&mut cmd(&site, &base, &["run", "-vv"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("section [ccu] of"), "{}", out.stderr);
    let requests = fp.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        set(assert_purge(&requests[0], "/ccu/v3/delete/url/staging")),
        urls
    );
    assert!(!out.all().contains(&fp.client_secret));
}

#[test]
#[cfg_attr(
    missing_edgegrid,
    ignore = "needs edgegrid-python in .test-tools/: run tests/run-all.sh --install-only"
)]
fn many_urls_are_split_into_bodies_under_50000_bytes() {
    let mut fp = FastPurge::start();
    let site = site("", "batch_size = 2000");
    let long = "a-rather-long-page-name-".repeat(6);
    for i in 0..400 {
        site.page(&format!("{long}{i:03}.html"), "v1");
    }
    baseline(&site);
    let mut urls = BTreeSet::new();
    for i in 0..400 {
        site.page(&format!("{long}{i:03}.html"), "v2");
        urls.insert(format!("{BASE}{long}{i:03}.html"));
    }

    let out = run(&site, &fp, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = fp.requests();
    // 400 URLs of ~170 bytes: ~69,000 bytes, two bodies.
    assert_eq!(requests.len(), 2, "{}", requests.len());
    let mut sent = Vec::new();
    for r in &requests {
        sent.extend(assert_purge(r, "/ccu/v3/invalidate/url/production"));
    }
    assert_eq!(sent.len(), 400, "a URL sent twice or lost");
    assert_eq!(set(sent), urls);
    assert_eq!(fp.purged_urls(), urls);
    assert!(site.state_pending().is_empty());
}

#[test]
#[cfg_attr(
    missing_edgegrid,
    ignore = "needs edgegrid-python in .test-tools/: run tests/run-all.sh --install-only"
)]
fn retries_after_429_and_5xx_send_the_same_purge_signed_anew() {
    let mut fp = FastPurge::start();
    let site = site("", "");
    baseline(&site);
    let urls = change(&site);
    fp.command("fail 1 429");
    fp.command("fail 1 507");

    let out = run(&site, &fp, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = fp.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for r in &requests {
        assert_eq!(
            set(assert_purge(r, "/ccu/v3/invalidate/url/production")),
            urls
        );
        assert_eq!(r["body"], requests[0]["body"]);
    }
    // Each attempt has its own nonce (the stand-in refuses a nonce seen before).
    let auths: BTreeSet<&str> = requests
        .iter()
        .map(|r| r["headers"]["authorization"].as_str().expect("auth"))
        .collect();
    assert_eq!(auths.len(), 3);
    assert_eq!(fp.purged().len(), 1);
    assert!(site.state_pending().is_empty());
}

#[test]
#[cfg_attr(
    missing_edgegrid,
    ignore = "needs edgegrid-python in .test-tools/: run tests/run-all.sh --install-only"
)]
fn a_purge_that_keeps_failing_leaves_the_urls_pending_for_the_next_run() {
    let mut fp = FastPurge::start();
    let site = site("retries = 2", "");
    baseline(&site);
    let baseline_files = site.state()["files"].clone();
    let urls = change(&site);
    fp.command("fail 3 500");

    let out = run(&site, &fp, &["--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("HTTP 500"), "{}", out.stderr);
    assert_eq!(fp.requests().len(), 3, "1 try + 2 retries");
    assert!(fp.purged().is_empty());
    assert_eq!(site.state()["files"], baseline_files, "something advanced");
    assert_eq!(
        site.state_pending(),
        set(["a.css", "café crème/index.html"])
    );
    assert_eq!(out.json()["purge"]["failures"][0]["kind"], "transient");

    let out = run(&site, &fp, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(fp.purged_urls(), urls);
    assert!(site.state_pending().is_empty());
}

#[test]
#[cfg_attr(
    missing_edgegrid,
    ignore = "needs edgegrid-python in .test-tools/: run tests/run-all.sh --install-only"
)]
fn everything_is_a_cp_code_purge_or_else_every_url() {
    let mut fp = FastPurge::start();
    // No state: the first run purges everything.
    let site = site("", "cp_codes = [12345, 678]");
    let out = run(&site, &fp, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = fp.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        assert_purge(&requests[0], "/ccu/v3/invalidate/cpcode/production"),
        ["12345", "678"]
    );
    assert_eq!(requests[0]["body"], "{\"objects\":[12345,678]}");

    // Without CP codes, "everything" is every URL of the site, and the report says so.
    let plain = self::site("", "");
    let out = run(&plain, &fp, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = fp.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        set(assert_purge(
            &requests[0],
            "/ccu/v3/invalidate/url/production"
        )),
        set([
            "https://example.com/",
            "https://example.com/index.html",
            "https://example.com/a.css",
            "https://example.com/caf%C3%A9%20cr%C3%A8me/",
            "https://example.com/caf%C3%A9%20cr%C3%A8me/index.html",
        ])
    );
    assert_eq!(out.json()["purge"]["one_by_one"], true);
}

#[test]
fn verify_says_the_credentials_resolve_but_are_checked_by_the_first_purge() {
    let site = site("", "cp_codes = [12345]");
    let env = [
        ("AKAMAI_HOST", "akab-x.luna.akamaiapis.net".to_string()),
        ("AKAMAI_CLIENT_TOKEN", "akab-c".to_string()),
        ("AKAMAI_CLIENT_SECRET", "SECRETSECRET".to_string()),
        ("AKAMAI_ACCESS_TOKEN", "akab-a".to_string()),
    ];
    let out = Out::of(&mut cmd(&site, &env, &["verify", "--json"]));
    assert_eq!(out.code, 0, "{out:?}");
    let found = out.json();
    assert_eq!(found["provider"], "akamai");
    assert_eq!(found["host"], "akab-x.luna.akamaiapis.net");
    assert_eq!(found["network"], "production");
    assert_eq!(found["cp_codes"], serde_json::json!([12345]));
    assert_eq!(found["credentials_checked"], false);
    let out = Out::of(&mut cmd(&site, &env, &["verify"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("not checked"), "{}", out.stdout);
    assert!(!out.all().contains("SECRETSECRET"));

    // Missing credentials, and plain http to another machine, are refused before any request.
    let out = Out::of(&mut cmd(&site, &[], &["run"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains(".edgerc"), "{}", out.stderr);
    let mut plain = env.to_vec();
    plain.push((
        "AKAMAI_API_BASE_URL",
        "http://akab-x.luna.akamaiapis.net".into(),
    ));
    let out = Out::of(&mut cmd(&site, &plain, &["run"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("AKAMAI_API_BASE_URL"), "{}", out.stderr);
    assert!(out.stderr.contains("unencrypted"), "{}", out.stderr);
    assert!(!out.all().contains("SECRETSECRET"));
}

#[test]
#[cfg_attr(
    missing_edgegrid,
    ignore = "needs edgegrid-python in .test-tools/: run tests/run-all.sh --install-only"
)]
fn akamai_api_base_url_takes_the_requests_which_stay_signed_for_the_credentials_host() {
    let mut fp = FastPurge::start();
    let site = site("", "");
    baseline(&site);
    let urls = change(&site);
    let out = run(&site, &fp, &["-vv"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("sent to {} (AKAMAI_API_BASE_URL)", fp.base_url)),
        "{}",
        out.stderr
    );
    let requests = fp.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    // Sent to the stand-in's address, carrying the credentials' host, and accepted by
    // edgegrid-python checking the signature for https://{that host}.
    assert_eq!(requests[0]["headers"]["host"], fp.host.as_str());
    assert_eq!(
        set(assert_purge(
            &requests[0],
            "/ccu/v3/invalidate/url/production"
        )),
        urls
    );
    for secret in [&fp.client_secret, &fp.client_token, &fp.access_token] {
        assert!(!out.all().contains(secret.as_str()), "{out:?}");
    }

    // The stand-in's address as the host (the old way to name a test server) is refused
    // before any request, pointing at the variable.
    site.page("a.css", "a { color: blue }");
    let mut old = fp.env(&fp.client_secret);
    old.retain(|(k, _)| *k != "AKAMAI_API_BASE_URL");
    for (k, v) in &mut old {
        if *k == "AKAMAI_HOST" {
            *v = fp.base_url.clone();
        }
    }
    let out = Out::of(&mut cmd(&site, &old, &["run"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("AKAMAI_API_BASE_URL"), "{}", out.stderr);
    assert!(fp.requests().is_empty());
}
