//! End-to-end tests of `sitepurge run` and `verify` with `provider = "cloudfront"` against moto's
//! CloudFront in server mode with its signature checking on (`tests/support/moto_cloudfront.py`):
//! moto recomputes every request's SigV4 signature with botocore's signer and refuses a wrong
//! one, so these tests prove the signing against an implementation that is not ours.
//!
//! Each test builds a small site, runs the real binary with only the AWS variables it sets (and
//! `HOME` pointing at the site, so no real `~/.aws` is read), then checks the exact requests
//! moto received, moto's own record of invalidations (counted by `CallerReference`: moto 5.2.5
//! does not merge two requests with the same one, as CloudFront does), the exit code and the
//! state file.
#![cfg(unix)]

use crate::support;

use std::collections::BTreeSet;

use assert_cmd::Command;
use serde_json::Value;
use support::expect::set;
use support::python::Script;
use support::site::{Folder, Out, STATE, Site, isolated, remove_vars, sitepurge_bin};

/// moto with one IAM user allowed `cloudfront:*` and one distribution.
struct Moto {
    script: Script,
    endpoint: String,
    key_id: String,
    secret: String,
    distribution: String,
}

impl Moto {
    fn start() -> Moto {
        let script = Script::start("moto_cloudfront.py");
        Moto {
            endpoint: script.get("endpoint"),
            key_id: script.get("access_key_id"),
            secret: script.get("secret_access_key"),
            distribution: script.get("distribution_id"),
            script,
        }
    }

    /// moto's invalidations of the distribution: `{id, caller_reference, paths}`.
    fn invalidations(&mut self) -> Vec<Value> {
        self.script
            .ask("invalidations")
            .as_array()
            .cloned()
            .expect("list")
    }

    fn caller_references(&mut self) -> BTreeSet<String> {
        self.invalidations()
            .iter()
            .map(|i| i["caller_reference"].as_str().expect("string").to_string())
            .collect()
    }

    fn invalidated_paths(&mut self) -> BTreeSet<String> {
        self.invalidations()
            .iter()
            .flat_map(|i| i["paths"].as_array().cloned().expect("paths"))
            .map(|p| p.as_str().expect("string").to_string())
            .collect()
    }

    fn requests(&mut self) -> Vec<Value> {
        self.script.requests()
    }

    fn command(&mut self, command: &str) {
        assert_eq!(self.script.ask(command), "ok", "{command}");
    }

    fn invalidation_path(&self) -> String {
        format!(
            "/2020-05-31/distribution/{}/invalidation",
            self.distribution
        )
    }
}

/// A site using CloudFront, with `extra` lines added to its `[cloudfront]` table.
fn site(moto: &Moto, top: &str, extra: &str) -> Site {
    let site = Site::new();
    site.put(
        "sitepurge.toml",
        format!(
            "provider = \"cloudfront\"\nbase_urls = [\"https://example.com/\", \"https://www.example.com/\"]\nretry_delay = \"10ms\"\nthreshold = 1000\n{top}\n[cloudfront]\ndistribution_id = \"{}\"\n{extra}\n",
            moto.distribution
        ),
    );
    site.page("index.html", "<h1>Home</h1>");
    site.page("café crème/index.html", "<p>menu</p>");
    site.page("a.css", "a { }");
    site
}

/// The binary in the site's folder with nothing AWS-related inherited: `HOME` is the site (no
/// `~/.aws`), the endpoint is moto's, and the credentials are `key_id`/`secret` when given.
fn cmd(site: &Site, endpoint: &str, creds: Option<(&str, &str)>, args: &[&str]) -> Command {
    let mut std = isolated(sitepurge_bin(), site.root());
    remove_vars(&mut std, &["AWS_", "HOME"]);
    std.env("HOME", site.root())
        .env("AWS_ENDPOINT_URL_CLOUDFRONT", endpoint);
    if let Some((id, secret)) = creds {
        std.env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret);
    }
    let mut cmd = Command::from_std(std);
    cmd.args(args);
    cmd
}

fn run(site: &Site, moto: &Moto, args: &[&str]) -> Out {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    Out::of(&mut cmd(
        site,
        &moto.endpoint,
        Some((&moto.key_id, &moto.secret)),
        &all,
    ))
}

fn baseline(site: &Site) {
    site.baseline_with(&mut cmd(
        site,
        "http://127.0.0.1:9",
        None,
        &["baseline", "-q"],
    ));
}

/// Changes two pages of [`site`]: the paths CloudFront must now invalidate.
fn change(site: &Site) -> BTreeSet<String> {
    site.page("café crème/index.html", "<p>new menu</p>");
    site.page("a.css", "a { color: red }");
    // `x/index.html` is both `x/` and `x/index.html`.
    set([
        "/a.css",
        "/caf%C3%A9%20cr%C3%A8me/",
        "/caf%C3%A9%20cr%C3%A8me/index.html",
    ])
}

/// Checks one request is a SigV4-signed CreateInvalidation of `paths`; its CallerReference.
fn assert_create(moto: &Moto, request: &Value, paths: &BTreeSet<String>) -> String {
    assert_eq!(request["method"], "POST", "{request}");
    assert_eq!(request["path"], moto.invalidation_path(), "{request}");
    let headers = &request["headers"];
    let auth = headers["authorization"].as_str().expect("authorization");
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={}/", moto.key_id))
            && auth.contains("/us-east-1/cloudfront/aws4_request, SignedHeaders=")
            && auth.contains("host")
            && auth.contains("x-amz-date"),
        "{auth}"
    );
    assert!(headers["x-amz-date"].as_str().is_some(), "{headers}");
    assert_eq!(headers["content-type"], "text/xml");
    let body = request["body"].as_str().expect("body");
    let items: String = paths.iter().map(|p| format!("<Path>{p}</Path>")).collect();
    let start = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Paths><Quantity>{}</Quantity><Items>{items}</Items></Paths><CallerReference>",
        paths.len()
    );
    assert!(body.starts_with(&start), "{body}");
    let reference = body[start.len()..]
        .strip_suffix("</CallerReference></InvalidationBatch>")
        .expect("ends with the CallerReference");
    assert!(
        reference.starts_with("sitepurge-") && reference.len() == 42,
        "{reference}"
    );
    reference.to_string()
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn changed_files_become_one_invalidation_whose_signature_moto_accepts() {
    let mut moto = Moto::start();
    let site = site(&moto, "", "");
    baseline(&site);
    let paths = change(&site);

    let out = run(&site, &moto, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = moto.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    // Two host names of one path are one invalidation path.
    let reference = assert_create(&moto, &requests[0], &paths);
    assert!(
        requests[0]["headers"].get("x-amz-security-token").is_none(),
        "no session token for long-term keys"
    );
    let invalidations = moto.invalidations();
    assert_eq!(invalidations.len(), 1, "{invalidations:#?}");
    assert_eq!(invalidations[0]["caller_reference"], reference.as_str());
    assert_eq!(moto.invalidated_paths(), paths);
    let report = out.json();
    assert_eq!(report["purge"]["provider"], "cloudfront");
    assert_eq!(
        report["purge"]["target"],
        format!("distribution {}", moto.distribution)
    );
    assert_eq!(report["purge"]["urls_purged"], 6, "{report}");
    assert!(site.state_pending().is_empty());
    assert!(!out.all().contains(&moto.secret));

    // Nothing changed: nothing sent.
    let out = run(&site, &moto, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(moto.requests().is_empty());
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn a_wrong_secret_fails_moto_signature_check_and_keeps_everything_pending() {
    let mut moto = Moto::start();
    let site = site(&moto, "", "");
    baseline(&site);
    let paths = change(&site);
    let wrong = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    let out = Out::of(&mut cmd(
        &site,
        &moto.endpoint,
        Some((&moto.key_id, wrong)),
        &["run"],
    ));
    assert_eq!(
        out.code, 2,
        "a credentials failure is a setup error: {out:?}"
    );
    assert!(
        out.stderr.contains("HTTP 403: SignatureDoesNotMatch"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("AWS_SECRET_ACCESS_KEY"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(wrong));
    // Refused once, not retried: the same signature would fail again.
    let requests = moto.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_create(&moto, &requests[0], &paths);
    assert!(moto.invalidations().is_empty());
    assert_eq!(
        site.state_pending(),
        set(["a.css", "café crème/index.html"])
    );
    assert!(!String::from_utf8_lossy(&site.state_bytes().expect("state")).contains(wrong));

    // The right secret purges what is pending.
    let out = run(&site, &moto, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(moto.invalidated_paths(), paths);
    assert!(site.state_pending().is_empty());
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn retries_after_429_503_and_a_lost_answer_reuse_one_caller_reference() {
    let mut moto = Moto::start();
    let site = site(&moto, "", "");
    baseline(&site);
    let paths = change(&site);
    moto.command("fail 1 429");
    moto.command("fail 1 503");
    // Then moto creates the invalidation, but its answer is lost on the way back.
    moto.command("drop 1");

    let out = run(&site, &moto, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = moto.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let references: BTreeSet<String> = requests
        .iter()
        .map(|r| assert_create(&moto, r, &paths))
        .collect();
    assert_eq!(references.len(), 1, "a retry changed the CallerReference");
    // moto made two invalidations of it (CloudFront would answer the second with the first).
    assert_eq!(moto.invalidations().len(), 2);
    assert_eq!(moto.caller_references(), references);
    assert!(site.state_pending().is_empty());

    // A later run with other changes has its own reference.
    site.page("a.css", "a { color: blue }");
    let out = run(&site, &moto, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = moto.requests();
    assert_eq!(requests.len(), 1);
    let later = assert_create(&moto, &requests[0], &set(["/a.css"]));
    assert!(!references.contains(&later));
    assert_eq!(moto.caller_references().len(), 2);
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn a_purge_that_keeps_failing_leaves_the_paths_pending_for_the_next_run() {
    let mut moto = Moto::start();
    let site = site(&moto, "retries = 2", "");
    baseline(&site);
    let baseline_files = site.state()["files"].clone();
    let paths = change(&site);
    moto.command("fail 3 503");

    let out = run(&site, &moto, &["--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("HTTP 503"), "{}", out.stderr);
    assert_eq!(moto.requests().len(), 3, "1 try + 2 retries");
    assert!(moto.invalidations().is_empty());
    assert_eq!(site.state()["files"], baseline_files, "something advanced");
    assert_eq!(
        site.state_pending(),
        set(["a.css", "café crème/index.html"])
    );
    let report = out.json();
    assert_eq!(report["purge"]["failures"][0]["kind"], "transient");

    let out = run(&site, &moto, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(moto.invalidated_paths(), paths);
    assert!(site.state_pending().is_empty());
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn wait_polls_get_invalidation_until_it_is_completed() {
    let mut moto = Moto::start();
    let site = site(&moto, "", "wait = true\nwait_every = \"10ms\"");
    baseline(&site);
    let paths = change(&site);
    // CloudFront answers CreateInvalidation with InProgress; so does moto here, and to the
    // first poll; the second poll gets moto's own COMPLETED.
    moto.command("inprogress 2");

    let out = run(&site, &moto, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = moto.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_create(&moto, &requests[0], &paths);
    let id = moto.invalidations()[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    for r in &requests[1..] {
        assert_eq!(r["method"], "GET");
        assert_eq!(r["path"], format!("{}/{id}", moto.invalidation_path()));
        assert_eq!(r["body"], "");
        assert!(
            r["headers"]["authorization"]
                .as_str()
                .is_some_and(|a| a.contains(&moto.key_id)),
            "{r}"
        );
    }
    let progress: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("cloudfront: invalidation"))
        .collect();
    assert_eq!(progress.len(), 2, "{}", out.stderr);
    assert!(
        progress[0].contains(&format!("{id} (3 paths): InProgress after")),
        "{}",
        progress[0]
    );
    assert!(progress[1].contains("COMPLETED"), "{}", progress[1]);
    // -q: no progress lines.
    site.page("a.css", "a { color: green }");
    moto.command("inprogress 1");
    let out = run(&site, &moto, &["-q"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(moto.requests().len(), 2);
    assert_eq!(out.stderr, "");
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn everything_is_one_wildcard_path_or_one_per_base_path() {
    let mut moto = Moto::start();
    // No state: the first run purges everything.
    let site = site(&moto, "", "");
    let out = run(&site, &moto, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = moto.requests();
    assert_eq!(requests.len(), 1);
    assert_create(&moto, &requests[0], &set(["/*"]));

    let below = Site::new();
    below.put(
        "sitepurge.toml",
        format!(
            "provider = \"cloudfront\"\nbase_urls = [\"https://example.com/docs/\", \"https://example.com/blog/\"]\n[cloudfront]\ndistribution_id = \"{}\"\n",
            moto.distribution
        ),
    );
    below.page("index.html", "x");
    let out = run(&below, &moto, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = moto.requests();
    assert_eq!(requests.len(), 1);
    assert_create(&moto, &requests[0], &set(["/blog/*", "/docs/*"]));
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn temporary_credentials_send_their_session_token_and_a_wrong_one_is_refused() {
    let mut moto = Moto::start();
    let session = moto.script.ready["session"].clone();
    let get = |k: &str| session[k].as_str().expect(k).to_string();
    let (id, secret, token) = (
        get("access_key_id"),
        get("secret_access_key"),
        get("session_token"),
    );
    let site = site(&moto, "", "");
    baseline(&site);
    let paths = change(&site);

    let mut c = cmd(&site, &moto.endpoint, Some((&id, &secret)), &["run"]);
    c.env("AWS_SESSION_TOKEN", "not-the-token");
    let out = Out::of(&mut c);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("HTTP 403"), "{}", out.stderr);
    assert!(moto.invalidations().is_empty());
    assert_eq!(moto.requests().len(), 1);
    assert!(!out.all().contains("not-the-token"));

    let mut c = cmd(&site, &moto.endpoint, Some((&id, &secret)), &["run"]);
    c.env("AWS_SESSION_TOKEN", &token);
    let out = Out::of(&mut c);
    assert_eq!(out.code, 0, "{out:?}");
    let requests = moto.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0]["headers"]["x-amz-security-token"],
        token.as_str()
    );
    let auth = requests[0]["headers"]["authorization"]
        .as_str()
        .expect("authorization");
    assert!(
        auth.contains(&format!("Credential={id}/")) && auth.contains("x-amz-security-token"),
        "the token is signed: {auth}"
    );
    assert_eq!(moto.invalidated_paths(), paths);
    assert!(!out.all().contains(&token) && !out.all().contains(&secret));
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn credentials_come_from_a_profile_of_the_shared_credentials_file() {
    let mut moto = Moto::start();
    let site = site(&moto, "", "");
    baseline(&site);
    let paths = change(&site);
    site.put(
        ".aws/credentials",
        format!(
            "[default]\naws_access_key_id = AKIAWRONGWRONGWRONG0\naws_secret_access_key = nope\n\n[deploy]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            moto.key_id, moto.secret
        ),
    );
    let mut c = cmd(&site, &moto.endpoint, None, &["run", "-vv"]);
    c.env("AWS_PROFILE", "deploy");
    let out = Out::of(&mut c);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("profile deploy in"), "{}", out.stderr);
    assert!(!out.all().contains(&moto.secret));
    let requests = moto.requests();
    assert_eq!(requests.len(), 1);
    assert_create(&moto, &requests[0], &paths);
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn verify_lists_invalidations_with_a_signed_get() {
    let mut moto = Moto::start();
    let site = site(&moto, "", "");
    let out = Out::of(&mut cmd(
        &site,
        &moto.endpoint,
        Some((&moto.key_id, &moto.secret)),
        &["verify", "--json"],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    let found = out.json();
    assert_eq!(found["provider"], "cloudfront");
    assert_eq!(found["distribution_id"], moto.distribution.as_str());
    assert_eq!(found["access_key_id"], moto.key_id.as_str());
    assert_eq!(found["listed"], true);
    assert_eq!(found["invalidations_in_progress"], 0);
    let requests = moto.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["method"], "GET");
    assert_eq!(
        requests[0]["path"],
        format!("{}?MaxItems=100", moto.invalidation_path())
    );

    let out = Out::of(&mut cmd(
        &site,
        &moto.endpoint,
        Some((&moto.key_id, "wrong")),
        &["verify"],
    ));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("SignatureDoesNotMatch"),
        "{}",
        out.stderr
    );
    // The state was never touched by verify.
    assert!(!site.path(STATE).exists());
}

#[test]
fn credentials_and_the_endpoint_are_checked_before_anything_is_sent() {
    let site = Site::new();
    site.put(
        "sitepurge.toml",
        "provider = \"cloudfront\"\nbase_urls = [\"https://example.com/\"]\n[cloudfront]\ndistribution_id = \"E2QWRUHAPOMQZL\"\n",
    );
    site.page("index.html", "x");
    // No credentials at all.
    let out = Out::of(&mut cmd(&site, "http://127.0.0.1:9", None, &["run"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("no AWS credentials are set"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("configure-aws-credentials"),
        "{}",
        out.stderr
    );
    // Plain http to another machine would carry the session token in clear.
    let out = Out::of(&mut cmd(
        &site,
        "http://cloudfront.example",
        Some(("AKIDEXAMPLE", "secret")),
        &["run"],
    ));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("AWS_ENDPOINT_URL_CLOUDFRONT") && out.stderr.contains("plain http"),
        "{}",
        out.stderr
    );
    // No distribution.
    site.put(
        "sitepurge.toml",
        "provider = \"cloudfront\"\nbase_urls = [\"https://example.com/\"]\n",
    );
    let out = Out::of(&mut cmd(
        &site,
        "http://127.0.0.1:9",
        Some(("AKIDEXAMPLE", "secret")),
        &["run"],
    ));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("cloudfront.distribution_id"),
        "{}",
        out.stderr
    );
}

#[test]
#[cfg_attr(
    missing_moto,
    ignore = "needs moto[server] in .test-tools/: run tests/run-all.sh --install-only"
)]
fn compact_invalidates_a_wholly_changed_section_by_one_wildcard_path() {
    let mut moto = Moto::start();
    let site = site(&moto, "compact = true", "");
    site.page("blog/index.html", "list");
    for i in 0..6 {
        site.page(&format!("blog/p{i}/index.html"), format!("post {i}"));
    }
    site.page("docs/d.html", "doc");
    baseline(&site);
    site.page("a.css", "a { color: red }");
    site.page("blog/index.html", "list, edited");
    for i in 0..6 {
        site.page(
            &format!("blog/p{i}/index.html"),
            format!("post {i}, edited"),
        );
    }

    let out = run(&site, &moto, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    // Two host names: one wildcard each in the plan, one path `/blog/*` for CloudFront.
    let report = out.json();
    let wildcards: Vec<(&str, u64, u64)> = report["wildcards"]
        .as_array()
        .expect("wildcards")
        .iter()
        .map(|w| {
            (
                w["url"].as_str().expect("url"),
                w["changed"].as_u64().expect("changed"),
                w["unchanged"].as_u64().expect("unchanged"),
            )
        })
        .collect();
    assert_eq!(
        wildcards,
        [
            ("https://example.com/blog/*", 14, 0),
            ("https://www.example.com/blog/*", 14, 0)
        ]
    );
    let requests = moto.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let mut sent: Vec<BTreeSet<String>> = Vec::new();
    for r in &requests {
        let body = r["body"].as_str().expect("body");
        let paths: BTreeSet<String> = body
            .split("<Path>")
            .skip(1)
            .map(|p| p.split("</Path>").next().expect("path").to_string())
            .collect();
        assert_create(&moto, r, &paths);
        sent.push(paths);
    }
    sent.sort();
    assert_eq!(sent, [set(["/a.css"]), set(["/blog/*"])]);
    assert_eq!(moto.invalidated_paths(), set(["/a.css", "/blog/*"]));
    assert_eq!(report["purge"]["urls_purged"], 30, "{report}");
    assert!(site.state_pending().is_empty());
}
