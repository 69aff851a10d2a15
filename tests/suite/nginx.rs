//! The HTTP PURGE provider against a real nginx with the cache purge module (Debian packages
//! `nginx` and `libnginx-mod-http-cache-purge`), run with the recipe users copy:
//! `examples/nginx/cache.conf` (the cache and its `/purge/` location) and
//! `examples/nginx/sitepurge.toml`, changed only in ports and paths. nginx runs in the
//! foreground from a temp folder (`-p`, `-c`, `-e`, its pid, logs, cache and temp files all
//! there; `tests/fixtures/nginx/nginx.conf` stands in for Debian's nginx.conf), on a free
//! loopback port, in front of the origin of tests/support/origin.rs. Each test warms the cache
//! as a browser does, changes the site, runs `sitepurge run`, then checks what nginx serves
//! (its `X-Cache-Status`), which requests reached the origin, and the purges in nginx's access
//! log. Nothing is sent outside 127.0.0.1.
//!
//! Without nginx or the module each test is skipped, and `cargo test` says why; with `CI` set,
//! it fails instead (build.rs).
//!
//! Expected URLs and request lines are written out by hand, as a browser sends them (UTF-8,
//! upper-case hex), never computed with sitepurge's own code.
#![cfg(unix)]

use crate::support;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use serde_json::json;
use support::cache::{self, Cache, PurgeSite, Response, Server, free_port};
use support::expect::urls;
use support::origin::Origin;
use support::site::{Folder, Out, Site};

/// The site's host in examples/nginx/sitepurge.toml: only ever a `Host` header.
const HOST: &str = "www.example.com";
/// The module: what build.rs looks for, and what the stand-in nginx.conf loads.
const MODULE: &str = "/usr/lib/nginx/modules/ngx_http_cache_purge_module.so";
const CONF: &str = "tests/fixtures/nginx/nginx.conf";
const SITE_CONF: &str = "examples/nginx/cache.conf";
const TOML: &str = "examples/nginx/sitepurge.toml";

// `café crème/` as a browser requests it, and the same bytes with lower-case hex.
const CAFE: &str = "/caf%C3%A9%20cr%C3%A8me/";
const CAFE_INDEX: &str = "/caf%C3%A9%20cr%C3%A8me/index.html";
const CAFE_LOWER: &str = "/caf%c3%a9%20cr%c3%a8me/";

// ---------------------------------------------------------------------------------------------
// nginx

/// `nginx`, from PATH or where Debian installs it, with the module; fails the test if either
/// is missing.
fn nginx() -> PathBuf {
    let hint = "the nginx tests need nginx with the cache purge module: \
                `apt-get install nginx libnginx-mod-http-cache-purge`";
    let nginx = cache::program(&["nginx"], &["/usr/sbin/nginx"]).unwrap_or_else(|| {
        panic!("nginx is not installed (looked on PATH and at /usr/sbin/nginx): {hint}")
    });
    assert!(
        PathBuf::from(MODULE).is_file(),
        "{MODULE} is missing: {hint}"
    );
    nginx
}

/// An nginx of our own, from a temp folder, stopped when dropped.
struct Nginx {
    addr: SocketAddr,
    /// Dropped (so stopped) before `dir` is removed.
    server: Server,
    /// Holds the configs, the cache, the logs, the pid file and the temp files.
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx on a free loopback port in front of the origin at `origin_port`.
    fn start(origin_port: u16) -> Nginx {
        let nginx = nginx();
        // As root, nginx runs its worker as `nobody`: it must reach the cache folder (which
        // the master creates and hands over to it).
        let dir = cache::server_dir("sitepurge-nginx-", 0o755);
        let path = |rel: &str| dir.path().join(rel);
        fs::create_dir(path("temp")).expect("mkdir temp");
        fs::copy(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(CONF),
            path("nginx.conf"),
        )
        .expect("copy nginx.conf");
        let cache_dir = path("cache");
        let cache_dir = cache_dir.to_str().expect("UTF-8 temp path");
        let origin = format!("127.0.0.1:{origin_port}");

        // The port is free when picked, but another process may take it before nginx binds
        // it: then try again with another one.
        for attempt in 1..=5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let site_conf = cache::recipe(
                SITE_CONF,
                &[
                    ("listen 80;", &format!("listen {addr};")),
                    ("127.0.0.1:4000", &origin),
                    ("/var/lib/nginx/sitepurge", cache_dir),
                ],
            );
            cache::assert_no_system_paths(SITE_CONF, &site_conf);
            fs::write(path("cache.conf"), site_conf).expect("write cache.conf");
            let _ = fs::remove_file(path("nginx.pid"));

            let mut cmd = StdCommand::new(&nginx);
            cmd.arg("-p")
                .arg(format!("{}/", dir.path().display()))
                .arg("-c")
                .arg(path("nginx.conf"))
                .arg("-e")
                .arg(path("error.log"));
            // SIGTERM: nginx's fast shutdown, which also stops its worker.
            let mut server = Server::spawn(cmd, &path("output.log"), "-TERM");
            // nginx writes its pid file once it has bound the port; requests sent before its
            // worker is up wait in the listen backlog.
            let ready = cache::wait_for(Duration::from_secs(10), || {
                if path("nginx.pid").is_file() {
                    return Some(true);
                }
                server.exited().map(|_| false)
            });
            if ready == Some(true) {
                return Nginx { addr, server, dir };
            }
            server.stop();
            let output = Self::output_in(dir.path());
            if !output.contains("Address already in use") || attempt == 5 {
                panic!("nginx failed to start ({ready:?}):\n{output}");
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn output_in(dir: &Path) -> String {
        cache::read_logs(dir, &["output.log", "error.log"])
    }

    /// The purges nginx logged (`method uri host status`), sorted, once there are `count`.
    fn purges(&self, count: usize) -> Vec<String> {
        cache::once_logged(count, || {
            let log = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
            let mut lines: Vec<String> = log
                .lines()
                .filter(|l| !l.starts_with("GET ") && !l.starts_with("HEAD "))
                .map(str::to_string)
                .collect();
            lines.sort();
            lines
        })
    }
}

impl Cache for Nginx {
    fn name(&self) -> &'static str {
        "nginx"
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The nginx example's endpoint, on this nginx's port.
    fn endpoint(&self) -> String {
        format!("http://{}/purge", self.addr)
    }

    fn output(&self) -> String {
        Self::output_in(self.dir.path())
    }

    /// `X-Cache-Status: HIT` (the recipe's `add_header` of `$upstream_cache_status`).
    fn is_hit(&self, r: &Response) -> bool {
        r.header("x-cache-status") == Some("HIT")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.server.stop();
        // A crashed worker (the recipe warns of one way) shows only in the error log, and the
        // master starts another: fail the test on it.
        let log = self.output();
        if log.contains("exited on signal") && !std::thread::panicking() {
            panic!("an nginx worker crashed:\n{log}");
        }
    }
}

/// Asserts status, body and cache state of `GET path` through nginx, for the test site.
#[track_caller]
fn expect(nginx: &Nginx, path: &str, status: u16, body: &str, hit: bool) {
    cache::expect(nginx, HOST, path, status, body, hit);
}

/// The test's origin and nginx, stopped in this order when dropped (also on a panic).
struct Stack {
    nginx: Nginx,
    origin: Origin,
}

/// Starts the origin and nginx for `site`, and writes the example's sitepurge.toml there with
/// nginx's port in the endpoint.
fn stack(site: &Site) -> Stack {
    let origin = Origin::start(site.path("_site"));
    let nginx = Nginx::start(origin.port());
    site.put(
        "sitepurge.toml",
        cache::recipe(TOML, &[("http://127.0.0.1/purge", &nginx.endpoint())]),
    );
    Stack { nginx, origin }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
#[cfg_attr(
    missing_nginx,
    ignore = "needs nginx with the cache purge module: apt-get install nginx libnginx-mod-http-cache-purge (or run tests/run-all.sh)"
)]
fn run_purges_exactly_what_changed_under_the_keys_browsers_created() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    site.page("café crème/index.html", "<h1>Café crème v1</h1>");
    site.page("blog/old/index.html", "<h1>Old post</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    let Stack { nginx, origin } = stack(&site);
    site.baseline();

    // Warm the cache as browsers would: every URL of the site, plus the URL of a page that does
    // not exist yet (a cached 404), plus `café crème/` with lower-case hex (another key for
    // nginx, though the origin serves the same file).
    let warm: [(&str, u16, &str); 12] = [
        ("/", 200, "<h1>Home</h1>"),
        ("/index.html", 200, "<h1>Home</h1>"),
        ("/about/", 200, "<h1>About v1</h1>"),
        ("/about/index.html", 200, "<h1>About v1</h1>"),
        (CAFE, 200, "<h1>Café crème v1</h1>"),
        (CAFE_INDEX, 200, "<h1>Café crème v1</h1>"),
        (CAFE_LOWER, 200, "<h1>Café crème v1</h1>"),
        ("/blog/old/", 200, "<h1>Old post</h1>"),
        ("/blog/old/index.html", 200, "<h1>Old post</h1>"),
        ("/css/site.css", 200, "body { margin: 0 }"),
        ("/news/", 404, "not found\n"),
        ("/news/index.html", 404, "not found\n"),
    ];
    for (path, status, body) in warm {
        expect(&nginx, path, status, body, false);
        expect(&nginx, path, status, body, true);
        assert_eq!(
            origin.fetches(path),
            1,
            "{path} fetched from the origin once"
        );
    }

    site.page("about/index.html", "<h1>About v2</h1>");
    site.page("café crème/index.html", "<h1>Café crème v2</h1>");
    site.page("news/index.html", "<h1>News</h1>");
    site.remove("blog/old/index.html");

    let started = Instant::now();
    // The example's threshold (50%) would purge everything for this small site.
    let report = site.run_json(&["run", "--threshold", "100"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "the run took {took:?}");
    assert_eq!(
        (&report["decision"], &report["reason"]),
        (&json!("urls"), &json!("changes"))
    );
    assert_eq!(
        report["changes"],
        json!({
            "added": ["news/index.html"],
            "modified": ["about/index.html", "café crème/index.html"],
            "removed": ["blog/old/index.html"],
        })
    );
    assert_eq!(
        urls(&report),
        [
            "https://www.example.com/about/",
            "https://www.example.com/about/index.html",
            "https://www.example.com/blog/old/",
            "https://www.example.com/blog/old/index.html",
            "https://www.example.com/caf%C3%A9%20cr%C3%A8me/",
            "https://www.example.com/caf%C3%A9%20cr%C3%A8me/index.html",
            "https://www.example.com/news/",
            "https://www.example.com/news/index.html",
        ]
    );
    assert_eq!(
        report["purge"],
        json!({
            "one_by_one": false,
            "provider": "http-purge",
            "target": format!("endpoint {}", nginx.endpoint()),
            "kinds": ["files"],
            "hosts": [],
            "prefixes": [],
            "requests": 8,
            "urls_purged": 8,
            "urls_pending": [],
            "failures": [],
        })
    );
    assert_eq!(report["state_saved"], json!(true));
    // One PURGE per URL, to the purge location, with the site's Host; each found its entry
    // (200; 404 would mean the key missed), the encoded ones included.
    assert_eq!(
        nginx.purges(8),
        [
            "PURGE /purge/about/ www.example.com 200",
            "PURGE /purge/about/index.html www.example.com 200",
            "PURGE /purge/blog/old/ www.example.com 200",
            "PURGE /purge/blog/old/index.html www.example.com 200",
            "PURGE /purge/caf%C3%A9%20cr%C3%A8me/ www.example.com 200",
            "PURGE /purge/caf%C3%A9%20cr%C3%A8me/index.html www.example.com 200",
            "PURGE /purge/news/ www.example.com 200",
            "PURGE /purge/news/index.html www.example.com 200",
        ]
    );
    // The purges stopped at nginx.
    assert_eq!(origin.not_reads(), Vec::<String>::new());

    // Changed pages: the new bytes, under both spellings, fetched afresh.
    expect(&nginx, "/about/", 200, "<h1>About v2</h1>", false);
    expect(&nginx, "/about/index.html", 200, "<h1>About v2</h1>", false);
    expect(&nginx, CAFE, 200, "<h1>Café crème v2</h1>", false);
    expect(&nginx, CAFE_INDEX, 200, "<h1>Café crème v2</h1>", false);
    // The added page replaces its cached 404; the removed page is gone.
    expect(&nginx, "/news/", 200, "<h1>News</h1>", false);
    expect(&nginx, "/news/index.html", 200, "<h1>News</h1>", false);
    expect(&nginx, "/blog/old/", 404, "not found\n", false);
    expect(&nginx, "/blog/old/index.html", 404, "not found\n", false);
    // Unchanged pages stay cached: no new fetch from the origin.
    expect(&nginx, "/", 200, "<h1>Home</h1>", true);
    expect(&nginx, "/index.html", 200, "<h1>Home</h1>", true);
    expect(&nginx, "/css/site.css", 200, "body { margin: 0 }", true);
    for path in ["/", "/index.html", "/css/site.css"] {
        assert_eq!(origin.fetches(path), 1, "{path} fetched again");
    }
    // The key is the raw URI: the lower-case spelling is another entry, which the purge of the
    // browser's (upper-case) spelling did not touch: it still serves the OLD page.
    expect(&nginx, CAFE_LOWER, 200, "<h1>Café crème v1</h1>", true);
    assert_eq!(origin.fetches(CAFE_LOWER), 1);
    assert_eq!(origin.fetches(CAFE), 2);
}

#[test]
#[cfg_attr(
    missing_nginx,
    ignore = "needs nginx with the cache purge module: apt-get install nginx libnginx-mod-http-cache-purge (or run tests/run-all.sh)"
)]
fn over_the_threshold_every_url_of_the_site_is_purged_one_by_one() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    site.page("café crème/index.html", "<h1>Café crème v1</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    let Stack { nginx, origin } = stack(&site);
    site.baseline();

    // Readers asked for some URLs only: the others have nothing cached.
    let cached: [(&str, &str); 4] = [
        ("/", "<h1>Home</h1>"),
        ("/about/", "<h1>About v1</h1>"),
        (CAFE, "<h1>Café crème v1</h1>"),
        ("/css/site.css", "body { margin: 0 }"),
    ];
    for (path, body) in cached {
        expect(&nginx, path, 200, body, false);
        expect(&nginx, path, 200, body, true);
    }

    site.page("about/index.html", "<h1>About v2</h1>");
    site.page("café crème/index.html", "<h1>Café crème v2</h1>");
    site.page("css/site.css", "body { margin: 1em }");

    // 5 changed URLs of 7, above the example's 50%: everything, which for nginx (no request
    // clears a site) is every URL of the site, one PURGE each.
    let report = site.run_json(&["run"]);
    assert_eq!(
        (&report["decision"], &report["reason"]),
        (&json!("everything"), &json!("threshold"))
    );
    assert_eq!(report["purge"]["one_by_one"], json!(true));
    assert_eq!(report["purge"]["requests"], json!(7));
    assert_eq!(report["purge"]["failures"], json!([]));
    assert_eq!(report["state_saved"], json!(true));
    // Cached entries are purged (200); the others were not cached (404, which is done too).
    assert_eq!(
        nginx.purges(7),
        [
            "PURGE /purge/ www.example.com 200",
            "PURGE /purge/about/ www.example.com 200",
            "PURGE /purge/about/index.html www.example.com 404",
            "PURGE /purge/caf%C3%A9%20cr%C3%A8me/ www.example.com 200",
            "PURGE /purge/caf%C3%A9%20cr%C3%A8me/index.html www.example.com 404",
            "PURGE /purge/css/site.css www.example.com 200",
            "PURGE /purge/index.html www.example.com 404",
        ]
    );

    // Every cached page is fetched again, changed or not.
    let fetched_before = origin.requests();
    expect(&nginx, "/", 200, "<h1>Home</h1>", false);
    expect(&nginx, "/about/", 200, "<h1>About v2</h1>", false);
    expect(&nginx, CAFE, 200, "<h1>Café crème v2</h1>", false);
    expect(&nginx, "/css/site.css", 200, "body { margin: 1em }", false);
    assert_eq!(origin.requests() - fetched_before, 4);
}

#[test]
#[cfg_attr(
    missing_nginx,
    ignore = "needs nginx with the cache purge module: apt-get install nginx libnginx-mod-http-cache-purge (or run tests/run-all.sh)"
)]
fn a_purge_sent_past_the_purge_location_is_refused_not_passed_to_the_origin() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    let Stack { nginx, origin } = stack(&site);
    // The endpoint without its /purge path: the PURGEs land in the site's location.
    let toml = fs::read_to_string(site.path("sitepurge.toml")).expect("sitepurge.toml");
    let wrong = toml.replace(&nginx.endpoint(), &format!("http://{}", nginx.addr));
    assert_ne!(wrong, toml);
    site.put("sitepurge.toml", wrong);
    site.baseline();
    expect(&nginx, "/about/", 200, "<h1>About v1</h1>", false);
    expect(&nginx, "/about/", 200, "<h1>About v1</h1>", true);

    site.page("about/index.html", "<h1>About v2</h1>");
    let out = Out::of(&mut site.cmd(&["run", "--threshold", "100"]));
    // 403 is a setup to fix (exit 2), and the URLs stay pending.
    assert_eq!(out.code, 2, "the purge must fail: {out:?}");
    assert!(
        out.stderr
            .contains("HTTP 403: PURGE https://www.example.com/about/\n")
            && out.stdout.contains("2 URLs still pending"),
        "{out:?}"
    );
    // Refused by nginx itself: the origin never saw a PURGE, and the page is still cached.
    assert_eq!(origin.not_reads(), Vec::<String>::new());
    // After a refusal for the credentials the requests still waiting are not sent, so the
    // second may or may not have gone out, depending on whether it was already in flight.
    let purges = nginx.purges(1);
    assert!(!purges.is_empty(), "no PURGE reached nginx");
    for line in &purges {
        assert!(
            [
                "PURGE /about/ www.example.com 403",
                "PURGE /about/index.html www.example.com 403",
            ]
            .contains(&line.as_str()),
            "{purges:?}"
        );
    }
    expect(&nginx, "/about/", 200, "<h1>About v1</h1>", true);
}
