//! The HTTP PURGE provider against a real Varnish: the test starts `varnishd` (Debian package
//! `varnish`) on a free loopback port, with `tests/fixtures/varnish/purge.vcl`, in front of the
//! origin of tests/support/origin.rs (serving the temp site's `_site` folder), warms the cache
//! the way a browser does, changes the site, runs `sitepurge run` against Varnish and then
//! checks what Varnish serves. Nothing is sent outside 127.0.0.0/8.
//!
//! Without `varnishd` or a C compiler (for the VCL) each test is skipped, and `cargo test` says
//! why; with `CI` set, it fails instead (build.rs).
//!
//! Expected URLs and request paths are written out by hand, as a browser sends them (UTF-8,
//! upper-case hex), never computed with sitepurge's own code.
#![cfg(unix)]

use crate::support;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use serde_json::json;
use support::cache::{
    self, CAFE, CAFE_INDEX, Cache, Changes, PurgeSite, Response, Stack, alive, free_port,
};
use support::origin::Origin;
use support::site::{Folder, Site};

/// The host name of the test site: only ever a `Host` header, never resolved.
const HOST: &str = "example.test";
const VCL: &str = "tests/fixtures/varnish/purge.vcl";

// ---------------------------------------------------------------------------------------------
// Varnish

/// `varnishd`, from PATH or where Debian installs it; fails the test if it is not installed.
fn varnishd() -> PathBuf {
    cache::program(&["varnishd"], &["/usr/sbin/varnishd"]).unwrap_or_else(|| {
        panic!(
            "varnishd is not installed (looked on PATH and at /usr/sbin/varnishd): \
             the HTTP PURGE tests need a real Varnish; install it with \
             `apt-get install varnish` (it also needs a C compiler for the VCL: `cc`)"
        )
    })
}

/// A `varnishd` of our own, stopped (and its work dir removed) when dropped.
struct Varnish {
    addr: SocketAddr,
    pid_file: PathBuf,
    log_file: PathBuf,
    /// Holds the VCL, the `-n` work dir, the pid file and varnishd's output. Removed last.
    dir: tempfile::TempDir,
}

impl Varnish {
    /// Starts varnishd on a free loopback port in front of the origin at `origin_port`.
    fn start(origin_port: u16) -> Varnish {
        let varnishd = varnishd();
        // As root, varnishd drops to the `varnish` and `vcache` users: they must reach the
        // work dir and read the VCL.
        let dir = cache::server_dir("sitepurge-varnish-", 0o755);
        let template =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(VCL)).expect("VCL");
        assert!(
            template.contains("@ORIGIN_PORT@"),
            "{VCL} has no @ORIGIN_PORT@"
        );
        let vcl = dir.path().join("purge.vcl");
        fs::write(
            &vcl,
            template.replace("@ORIGIN_PORT@", &origin_port.to_string()),
        )
        .expect("write VCL");
        fs::set_permissions(&vcl, fs::Permissions::from_mode(0o644)).expect("chmod");

        let mut varnish = Varnish {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid_file: dir.path().join("varnishd.pid"),
            log_file: dir.path().join("varnishd.log"),
            dir,
        };
        // The port is free when picked, but another process may take it before varnishd
        // binds it: then try again with another one.
        for attempt in 1..=5 {
            varnish.addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let work = varnish.dir.path().join(format!("work-{attempt}"));
            let log = fs::File::create(&varnish.log_file).expect("log file");
            let status = StdCommand::new(&varnishd)
                .arg("-a")
                .arg(varnish.addr.to_string())
                .arg("-f")
                .arg(&vcl)
                .arg("-n")
                .arg(&work)
                .arg("-P")
                .arg(&varnish.pid_file)
                .args(["-s", "malloc,32m", "-T", "none"])
                // Small: one thread pool, few threads, the smallest shared memory log.
                .args(["-p", "thread_pools=1", "-p", "thread_pool_min=5"])
                .args(["-p", "vsl_space=1M"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                // It daemonizes once it has bound the port: requests sent before its worker
                // is up wait in the listen backlog.
                .status()
                .expect("start varnishd");
            if status.success() {
                return varnish;
            }
            varnish.stop();
            let output = varnish.output();
            let port_taken = output.contains("Could not get socket")
                || output.contains("Address already in use");
            if !port_taken || attempt == 5 {
                panic!("varnishd failed to start ({status}):\n{output}");
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn pid(&self) -> Option<u32> {
        fs::read_to_string(&self.pid_file).ok()?.trim().parse().ok()
    }

    /// Stops varnishd: SIGTERM to the manager (which stops its worker), SIGKILL after 10 s.
    fn stop(&mut self) {
        let Some(pid) = self.pid() else { return };
        let _ = fs::remove_file(&self.pid_file);
        let pid_text = pid.to_string();
        cache::signal("-TERM", &pid_text);
        if cache::wait_for(Duration::from_secs(10), || (!alive(pid)).then_some(())).is_none() {
            cache::signal("-KILL", &pid_text);
        }
    }
}

impl Cache for Varnish {
    fn name(&self) -> &'static str {
        "varnish"
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What varnishd printed.
    fn output(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// The VCL's `X-Cache: HIT`, or an `Age` above 0.
    fn is_hit(&self, r: &Response) -> bool {
        let age = r.header("age").and_then(|a| a.parse::<u64>().ok());
        r.header("x-cache") == Some("HIT") || age.is_some_and(|a| a > 0)
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        self.stop();
        // `dir` (VCL, work dir, logs) is removed when the TempDir field drops.
    }
}

/// Starts the origin and Varnish for `site`; each test writes its own sitepurge.toml.
fn stack(site: &Site) -> Stack<Varnish> {
    Stack::start(site, HOST, Varnish::start)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
#[cfg_attr(
    missing_varnish,
    ignore = "needs varnishd and a C compiler: apt-get install varnish gcc (or run tests/run-all.sh)"
)]
fn run_purges_exactly_what_changed_under_the_keys_browsers_created() {
    let changes = Changes::set_up(|site| {
        let stack = stack(site);
        site.put(
            "sitepurge.toml",
            format!(
                "base_urls = [\"http://{HOST}/\"]\nthreshold = 100\n\n[http_purge]\nendpoint = \"{}\"\n",
                stack.cache.endpoint()
            ),
        );
        stack
    });
    // The test's sitepurge.toml names no provider.
    changes.run(&["run", "--provider", "http-purge"], "http://example.test/");
    changes.check_served();
}

#[test]
#[cfg_attr(
    missing_varnish,
    ignore = "needs varnishd and a C compiler: apt-get install varnish gcc (or run tests/run-all.sh)"
)]
fn over_the_threshold_one_ban_clears_the_whole_site_and_only_it() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    site.page("café crème/index.html", "<h1>Café crème v1</h1>");
    site.page("docs/index.html", "<h1>Docs</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    let stack = stack(&site);
    let (varnish, origin) = (&stack.cache, &stack.origin);
    site.put(
        "sitepurge.toml",
        format!(
            r#"provider = "http-purge"
base_urls = ["http://{HOST}/"]
threshold = 1

[http_purge]
endpoint = "{}"
everything = {{ method = "BAN", path = "/", headers = {{ X-Ban-Host = "{{host}}" }} }}
"#,
            varnish.endpoint()
        ),
    );
    site.baseline();

    let pages: [(&str, &str); 9] = [
        ("/", "<h1>Home</h1>"),
        ("/index.html", "<h1>Home</h1>"),
        ("/about/", "<h1>About v1</h1>"),
        ("/about/index.html", "<h1>About v1</h1>"),
        (CAFE, "<h1>Café crème v1</h1>"),
        (CAFE_INDEX, "<h1>Café crème v1</h1>"),
        ("/docs/", "<h1>Docs</h1>"),
        ("/docs/index.html", "<h1>Docs</h1>"),
        ("/css/site.css", "body { margin: 0 }"),
    ];
    for (path, body) in pages {
        stack.expect(path, 200, body, false);
        stack.expect(path, 200, body, true);
    }
    // Another site in the same cache, which a ban of this site's host must leave alone.
    assert!(!varnish.hit_as("other.test", "/docs/"));
    assert!(varnish.hit_as("other.test", "/docs/"));

    site.page("about/index.html", "<h1>About v2</h1>");
    site.page("café crème/index.html", "<h1>Café crème v2</h1>");

    // 4 changed URLs > threshold 1: everything, as one BAN for the site's host.
    let report = site.run_json(&["run"]);
    assert_eq!(
        (&report["decision"], &report["reason"]),
        (&json!("everything"), &json!("threshold"))
    );
    assert_eq!(
        report["purge"],
        json!({
            "one_by_one": false,
            "provider": "http-purge",
            "target": format!("endpoint {}", varnish.endpoint()),
            "kinds": ["hosts"],
            "hosts": [HOST],
            "prefixes": [],
            "requests": 1,
            "urls_purged": 4,
            "urls_pending": [],
            "failures": [],
        })
    );
    assert_eq!(report["state_saved"], json!(true));

    // Every page of the site was cached; now every one is a miss, changed or not.
    let fetched_before = origin.requests();
    let pages_now = pages.map(|(path, body)| (path, body.replace("v1", "v2")));
    for (path, body) in &pages_now {
        stack.expect(path, 200, body, false);
    }
    let fetched = origin.requests() - fetched_before;
    assert_eq!(fetched, pages.len(), "every page fetched again");
    // The other host's page is still cached.
    assert!(varnish.hit_as("other.test", "/docs/"));
}

/// Warms `paths` for `host` (a miss, then a hit each).
fn warm_as(varnish: &Varnish, host: &str, paths: &[&str]) {
    for path in paths {
        assert!(!varnish.hit_as(host, path), "{host}{path} cached early");
        assert!(varnish.hit_as(host, path), "{host}{path} not cached");
    }
}

#[test]
#[cfg_attr(
    missing_varnish,
    ignore = "needs varnishd and a C compiler: apt-get install varnish gcc (or run tests/run-all.sh)"
)]
fn over_the_threshold_the_ban_names_the_host_with_its_port() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    let stack = stack(&site);
    let varnish = &stack.cache;
    site.put(
        "sitepurge.toml",
        format!(
            r#"provider = "http-purge"
base_urls = ["http://{HOST}:8080/"]
threshold = 1

[http_purge]
endpoint = "{}"
everything = {{ method = "BAN", headers = {{ X-Ban-Host = "{{host}}" }} }}
"#,
            varnish.endpoint()
        ),
    );
    site.baseline();
    // A browser opening http://example.test:8080/ sends `Host: example.test:8080`, and so does
    // sitepurge's PURGE of one URL of this site.
    let authority = format!("{HOST}:8080");
    let paths = ["/", "/index.html", "/about/", "/about/index.html"];
    warm_as(varnish, &authority, &paths);

    site.page("about/index.html", "<h1>About v2</h1>");
    let report = site.run_json(&["run"]);
    assert_eq!(report["decision"], json!("everything"));
    assert_eq!(report["purge"]["kinds"], json!(["hosts"]));
    for path in paths {
        let r = varnish.get_as(&authority, path);
        assert!(
            !varnish.is_hit(&r),
            "{authority}{path} is still cached after the BAN: {:?}",
            r.headers
        );
    }
}

#[test]
#[cfg_attr(
    missing_varnish,
    ignore = "needs varnishd and a C compiler: apt-get install varnish gcc (or run tests/run-all.sh)"
)]
fn without_an_endpoint_the_ban_goes_to_the_base_url_itself() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    let stack = stack(&site);
    let varnish = &stack.cache;
    // The site is served by Varnish itself, on plain HTTP: PURGE and BAN go to each URL's own
    // address. The ban header is written out, so only where the BAN is sent matters here.
    let authority = varnish.addr.to_string();
    site.put(
        "sitepurge.toml",
        format!(
            r#"provider = "http-purge"
base_urls = ["http://{authority}/"]
threshold = 1
retries = 0
timeout = "2s"

[http_purge]
everything = {{ method = "BAN", headers = {{ X-Ban-Host = "{authority}" }} }}
"#
        ),
    );
    site.baseline();
    let paths = ["/", "/index.html", "/about/", "/about/index.html"];
    warm_as(varnish, &authority, &paths);

    site.page("about/index.html", "<h1>About v2</h1>");
    // Exits 0 only if the BAN reached Varnish at http://127.0.0.1:PORT/. (--no-check: the
    // freshness check would fetch the purged pages through Varnish, caching them again.)
    let report = site.run_json(&["run", "--no-check"]);
    assert_eq!(report["decision"], json!("everything"));
    assert_eq!(report["purge"]["failures"], json!([]));
    for path in paths {
        assert!(!varnish.hit_as(&authority, path), "{path} still cached");
    }
}

// ---------------------------------------------------------------------------------------------
// Deploys in two steps: plan before the deploy, apply after it (README: Publishing from CI)

/// The pages of the deployed build, and of the new one.
const OLD_BUILD: [(&str, &str); 5] = [
    ("index.html", "<h1>Home</h1>"),
    ("about/index.html", "<h1>About v1</h1>"),
    ("blog/index.html", "<h1>Blog</h1>"),
    ("docs/index.html", "<h1>Docs v1</h1>"),
    ("css/site.css", "body { margin: 0 }"),
];
const NEW_BUILD: [(&str, &str); 5] = [
    ("index.html", "<h1>Home</h1>"),
    ("about/index.html", "<h1>About v2</h1>"),
    ("docs/index.html", "<h1>Docs v2</h1>"),
    ("css/site.css", "body { margin: 1em }"),
    ("news/index.html", "<h1>News</h1>"),
];

/// A site whose origin serves `live`, a link to the deployed build (`old/`), behind a real
/// Varnish whose address is the site's base URL (so sitepurge's check fetches through it). The
/// old build is recorded and cached as browsers ask for it; `_site` then holds the new build.
struct TwoStep {
    varnish: Varnish,
    origin: Origin,
    /// `127.0.0.1:PORT` of Varnish: the `Host` of every request, and the base URL's.
    authority: String,
    site: Site,
}

impl TwoStep {
    fn set_up(settings: impl FnOnce(&Origin) -> String) -> TwoStep {
        let site = Site::bare();
        for (rel, body) in OLD_BUILD {
            site.put(&format!("old/{rel}"), body);
            site.put(&format!("_site/{rel}"), body);
        }
        std::os::unix::fs::symlink("old", site.path("live")).expect("link live -> old");
        let origin = Origin::start(site.path("live"));
        let varnish = Varnish::start(origin.port());
        let authority = varnish.addr.to_string();
        site.put(
            "sitepurge.toml",
            format!(
                "provider = \"http-purge\"\nbase_urls = [\"http://{authority}/\"]\n\
                 threshold = 100\nretries = 0\ntimeout = \"5s\"\n{}",
                settings(&origin)
            ),
        );
        site.baseline();
        warm_as(&varnish, &authority, &TwoStep::old_paths());
        // The new build, in the output folder sitepurge plans from.
        fs::remove_dir_all(site.path("_site")).expect("rm _site");
        for (rel, body) in NEW_BUILD {
            site.page(rel, body);
        }
        TwoStep {
            varnish,
            origin,
            authority,
            site,
        }
    }

    fn old_paths() -> Vec<&'static str> {
        vec![
            "/",
            "/about/",
            "/blog/",
            "/docs/",
            "/css/site.css",
            // A cached 404 for the page the new build adds.
            "/news/",
        ]
    }

    /// Publishes the new build at the origin: `live` now links to a copy of `_site`.
    fn deploy(root: &Path) {
        for (rel, body) in NEW_BUILD {
            let file = root.join("new").join(rel);
            fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            fs::write(file, body).expect("write");
        }
        std::os::unix::fs::symlink("new", root.join("live.next")).expect("link");
        fs::rename(root.join("live.next"), root.join("live")).expect("swap live");
    }

    fn sitepurge(&self, args: &[&str]) -> support::site::Out {
        let mut cmd = support::site::sitepurge_in(self.site.root());
        cache::no_proxy(&mut cmd);
        support::site::Out::of(cmd.args(args).timeout(Duration::from_secs(120)))
    }

    /// What Varnish serves for `path` now: `(body, was it a hit)`.
    fn served(&self, path: &str) -> (String, bool) {
        let r = self.varnish.get_as(&self.authority, path);
        (r.text(), self.varnish.is_hit(&r))
    }
}

/// The changed files' URLs, as a browser writes them under the base URL.
fn changed_urls(authority: &str) -> std::collections::BTreeSet<String> {
    [
        "about/",
        "about/index.html",
        "blog/",
        "blog/index.html",
        "css/site.css",
        "docs/",
        "docs/index.html",
        "news/",
        "news/index.html",
    ]
    .iter()
    .map(|p| format!("http://{authority}/{p}"))
    .collect()
}

#[test]
#[cfg_attr(
    missing_varnish,
    ignore = "needs varnishd and a C compiler: apt-get install varnish gcc (or run tests/run-all.sh)"
)]
fn apply_waits_for_the_origin_then_every_changed_url_is_fresh_and_the_rest_still_cached() {
    let t = TwoStep::set_up(|origin| {
        format!(
            "origin_url = \"http://127.0.0.1:{}/\"\ncheck_after_purge = \"all\"\n",
            origin.port()
        )
    });
    let plan = t.sitepurge(&["plan", "--out", "plan.json", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let planned: std::collections::BTreeSet<String> = plan.json()["urls"]
        .as_array()
        .expect("urls")
        .iter()
        .map(|u| u["url"].as_str().expect("url").to_string())
        .collect();
    assert_eq!(planned, changed_urls(&t.authority));

    // The deploy becomes visible at the origin 3 s after apply starts.
    let root = t.site.root().to_path_buf();
    let deploy = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        TwoStep::deploy(&root);
    });
    let out = t.sitepurge(&["apply", "plan.json", "--json"]);
    deploy.join().expect("deploy");
    assert_eq!(out.code, 0, "{out:?}");
    let report = out.json();
    assert_eq!(report["command"], json!("apply"));
    assert_eq!(report["origin"]["served_new"], json!(true), "{report:#}");
    assert!(
        report["origin"]["seconds"].as_u64().expect("seconds") >= 2,
        "{report:#}"
    );
    assert!(
        out.stderr
            .contains("waiting for the origin to serve the new build"),
        "{}",
        out.stderr
    );
    assert_eq!(report["purge"]["urls_purged"], json!(9), "{report:#}");
    // Every purged URL was fetched through Varnish, and served the new build.
    let check = &report["check"];
    let checked: std::collections::BTreeSet<String> = check["checked"]
        .as_array()
        .expect("checked")
        .iter()
        .map(|u| u.as_str().expect("url").to_string())
        .collect();
    assert_eq!(checked, changed_urls(&t.authority), "{report:#}");
    assert_eq!(check["fresh"], json!(9), "{report:#}");
    assert_eq!(check["stale"], json!([]));
    assert_eq!(check["repurged"], json!(0));

    for (path, body) in [
        ("/about/", "<h1>About v2</h1>"),
        ("/docs/", "<h1>Docs v2</h1>"),
        ("/css/site.css", "body { margin: 1em }"),
        ("/news/", "<h1>News</h1>"),
    ] {
        assert_eq!(t.served(path).0, body, "{path}");
    }
    assert_eq!(t.varnish.get_as(&t.authority, "/blog/").status, 404);
    // The unchanged home page was never purged: still the cached copy.
    let fetched = t.origin.fetches("/");
    assert_eq!(t.served("/"), ("<h1>Home</h1>".to_string(), true));
    assert_eq!(t.origin.fetches("/"), fetched);
    // The state records the new build; nothing is owed.
    assert_eq!(t.site.state()["pending"], serde_json::Value::Null);
}

#[test]
#[cfg_attr(
    missing_varnish,
    ignore = "needs varnishd and a C compiler: apt-get install varnish gcc (or run tests/run-all.sh)"
)]
fn an_origin_that_never_serves_the_new_build_means_nothing_purged_and_all_still_owed() {
    let t = TwoStep::set_up(|origin| {
        format!(
            "origin_url = \"http://127.0.0.1:{}/\"\norigin_timeout = \"3s\"\n",
            origin.port()
        )
    });
    let plan = t.sitepurge(&["plan", "--out", "plan.json", "-q"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let out = t.sitepurge(&["apply", "plan.json", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let report = out.json();
    assert_eq!(report["origin"]["served_new"], json!(false), "{report:#}");
    let still_old = report["origin"]["still_old"].as_str().expect("a URL");
    assert!(
        still_old.starts_with(&format!("http://127.0.0.1:{}/", t.origin.port())),
        "{still_old}"
    );
    assert_eq!(report["purge"], serde_json::Value::Null, "nothing purged");
    // Varnish still serves the cached old pages, and the state owes every changed path.
    assert_eq!(t.served("/about/"), ("<h1>About v1</h1>".to_string(), true));
    let pending: Vec<String> =
        serde_json::from_value(t.site.state()["pending"].clone()).expect("pending");
    assert_eq!(
        pending,
        [
            "about/index.html",
            "blog/index.html",
            "css/site.css",
            "docs/index.html",
            "news/index.html"
        ]
    );

    // The deploy finally lands; re-running the failed apply job applies the same plan.
    TwoStep::deploy(t.site.root());
    let again = t.sitepurge(&["apply", "plan.json", "--json"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["check"]["stale"], json!([]));
    assert_eq!(t.served("/about/").0, "<h1>About v2</h1>");
    assert_eq!(t.site.state()["pending"], serde_json::Value::Null);
}

#[test]
#[cfg_attr(
    missing_varnish,
    ignore = "needs varnishd and a C compiler: apt-get install varnish gcc (or run tests/run-all.sh)"
)]
fn a_purge_answered_200_that_purged_nothing_is_caught_by_the_check() {
    // The purges go to a peer that answers 200 to everything and purges nothing: a wrong
    // endpoint, as far as sitepurge can tell from the answers.
    let wrong = support::stub::Stub::start("200 OK");
    let t = TwoStep::set_up(|_| {
        format!(
            "check_after_purge = \"all\"\n\n[http_purge]\nendpoint = \"{}\"\n",
            wrong.url()
        )
    });
    let plan = t.sitepurge(&["plan", "--out", "plan.json", "-q"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    TwoStep::deploy(t.site.root());
    let out = t.sitepurge(&["apply", "plan.json", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let report = out.json();
    assert_eq!(
        report["purge"]["failures"],
        json!([]),
        "every purge answered 200"
    );
    let stale: Vec<&str> = report["check"]["stale"]
        .as_array()
        .expect("stale")
        .iter()
        .map(|s| s["url"].as_str().expect("url"))
        .collect();
    // The pages Varnish had cached stay stale; the two it had not (`index.html` spellings of
    // changed pages were never requested) are fetched fresh from the origin.
    for path in ["about/", "blog/", "css/site.css", "docs/", "news/"] {
        assert!(
            stale.contains(&format!("http://{}/{path}", t.authority).as_str()),
            "{path} not reported stale: {report:#}"
        );
    }
    let about = report["check"]["stale"]
        .as_array()
        .expect("stale")
        .iter()
        .find(|s| s["url"] == json!(format!("http://{}/about/", t.authority)))
        .expect("about");
    assert_eq!(about["status"], json!(200));
    assert_eq!(about["headers"]["x-cache"], json!("HIT"), "{about:#}");
    assert_eq!(
        report["check"]["repurged"].as_u64(),
        Some(3 * stale.len() as u64)
    );
    assert!(
        wrong.requests() >= 9 + 3 * stale.len(),
        "every purge went to the wrong peer"
    );
    // Their files stay owed to the next run.
    let pending: Vec<String> =
        serde_json::from_value(t.site.state()["pending"].clone()).expect("pending");
    for path in [
        "about/index.html",
        "blog/index.html",
        "css/site.css",
        "docs/index.html",
        "news/index.html",
    ] {
        assert!(pending.contains(&path.to_string()), "{path}: {pending:?}");
    }
}

/// Deploys `_site` as the build `name`: the origin's `live` now links to a copy of it.
fn deploy_as(site: &Site, name: &str) {
    support::site::copy_tree(&site.path("_site"), &site.path(name), None);
    let next = site.path("live.next");
    std::os::unix::fs::symlink(name, &next).expect("link");
    fs::rename(&next, site.path("live")).expect("swap live");
}

#[test]
#[cfg_attr(
    missing_varnish,
    ignore = "needs varnishd and a C compiler: apt-get install varnish gcc (or run tests/run-all.sh)"
)]
fn an_apply_that_failed_and_was_never_run_again_is_healed_by_the_next_deploy() {
    // The state travels with the site: each plan publishes it, the next reads it back through
    // Varnish (past its cache). Nothing is kept on this side between deploys.
    let site = Site::bare();
    fs::create_dir_all(site.path("empty")).expect("mkdir");
    std::os::unix::fs::symlink("empty", site.path("live")).expect("link");
    let origin = Origin::start(site.path("live"));
    let varnish = Varnish::start(origin.port());
    let authority = varnish.addr.to_string();
    let config = |extra: &str| {
        format!(
            "provider = \"http-purge\"\nbase_urls = [\"http://{authority}/\"]\nthreshold = 100\n\
             retries = 0\ntimeout = \"5s\"\nfirst_run = \"baseline\"\npublish_manifest = true\n\
             state_url = \"http://{authority}/.well-known/sitepurge.json\"\n\
             check_after_purge = \"all\"\n{extra}"
        )
    };
    let sitepurge = |args: &[&str]| {
        let mut cmd = support::site::sitepurge_in(site.root());
        cache::no_proxy(&mut cmd);
        support::site::Out::of(cmd.args(args).timeout(Duration::from_secs(120)))
    };
    let paths = ["/", "/about/", "/docs/", "/css/site.css"];

    // Deploy 1: the first, recorded as it is (first_run = "baseline"), then cached.
    site.put("sitepurge.toml", config(""));
    for (rel, body) in OLD_BUILD {
        site.page(rel, body);
    }
    let plan = sitepurge(&["plan", "--out", "plan1.json", "-q"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    deploy_as(&site, "build1");
    let apply = sitepurge(&["apply", "plan1.json", "-q"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    warm_as(&varnish, &authority, &paths);

    // Deploy 2 changes the about page, and its purge goes to a peer that refuses it: the
    // apply job fails, and nobody runs it again.
    let refusing = support::stub::Stub::start("500 Internal Server Error");
    site.put(
        "sitepurge.toml",
        config(&format!(
            "\n[http_purge]\nendpoint = \"{}\"\n",
            refusing.url()
        )),
    );
    site.page("about/index.html", "<h1>About v2</h1>");
    let plan = sitepurge(&["plan", "--out", "plan2.json", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(
        plan.json()["changes"],
        json!({"added": [], "modified": ["about/index.html"], "removed": []})
    );
    deploy_as(&site, "build2");
    let failed = sitepurge(&["apply", "plan2.json", "-q"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    let served = varnish.get_as(&authority, "/about/");
    assert_eq!(
        served.text(),
        "<h1>About v1</h1>",
        "stale after the failed apply"
    );

    // Deploy 3 changes the docs only. Its plan finds about/ stale through Varnish and purges
    // it again with the docs.
    site.put("sitepurge.toml", config(""));
    site.page("docs/index.html", "<h1>Docs v3</h1>");
    let plan = sitepurge(&["plan", "--out", "plan3.json", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(
        plan.json()["changes"],
        json!({"added": [], "modified": ["about/index.html", "docs/index.html"], "removed": []})
    );
    deploy_as(&site, "build3");
    let apply = sitepurge(&["apply", "plan3.json", "--json"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    assert_eq!(apply.json()["check"]["stale"], json!([]));

    // Every URL serves the current bytes.
    for (path, body) in [
        ("/", "<h1>Home</h1>"),
        ("/about/", "<h1>About v2</h1>"),
        ("/docs/", "<h1>Docs v3</h1>"),
        ("/css/site.css", "body { margin: 0 }"),
    ] {
        assert_eq!(varnish.get_as(&authority, path).text(), body, "{path}");
    }
}
