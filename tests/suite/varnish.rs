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
