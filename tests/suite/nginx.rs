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
use std::time::Duration;

use support::cache::{
    self, Cache, Changes, OneByOne, PurgeSite, Response, Server, Stack, free_port,
};
use support::site::{Folder, Out, Site};

/// The site's host in examples/nginx/sitepurge.toml: only ever a `Host` header.
const HOST: &str = "www.example.com";
/// The module: what build.rs looks for, and what the stand-in nginx.conf loads.
const MODULE: &str = "/usr/lib/nginx/modules/ngx_http_cache_purge_module.so";
const CONF: &str = "tests/fixtures/nginx/nginx.conf";
const SITE_CONF: &str = "examples/nginx/cache.conf";
const TOML: &str = "examples/nginx/sitepurge.toml";

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

/// Starts the origin and nginx for `site`, and writes the example's sitepurge.toml there with
/// nginx's port in the endpoint.
fn stack(site: &Site) -> Stack<Nginx> {
    let stack = Stack::start(site, HOST, Nginx::start);
    site.put(
        "sitepurge.toml",
        cache::recipe(TOML, &[("http://127.0.0.1/purge", &stack.cache.endpoint())]),
    );
    stack
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
#[cfg_attr(
    missing_nginx,
    ignore = "needs nginx with the cache purge module: apt-get install nginx libnginx-mod-http-cache-purge (or run tests/run-all.sh)"
)]
fn run_purges_exactly_what_changed_under_the_keys_browsers_created() {
    let changes = Changes::set_up(stack);
    // The example's threshold (50%) would purge everything for this small site.
    changes.run(&["run", "--threshold", "100"], "https://www.example.com/");
    // One PURGE per URL, to the purge location, with the site's Host; each found its entry
    // (200; 404 would mean the key missed), the encoded ones included.
    assert_eq!(
        changes.stack.cache.purges(8),
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
    changes.check_served();
}

#[test]
#[cfg_attr(
    missing_nginx,
    ignore = "needs nginx with the cache purge module: apt-get install nginx libnginx-mod-http-cache-purge (or run tests/run-all.sh)"
)]
fn over_the_threshold_every_url_of_the_site_is_purged_one_by_one() {
    let one_by_one = OneByOne::set_up(stack);
    // nginx has no request that clears a site: everything is every URL of the site.
    one_by_one.run();
    // Cached entries are purged (200); the others were not cached (404, which is done too).
    assert_eq!(
        one_by_one.stack.cache.purges(7),
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
    one_by_one.check_served();
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
    let stack = stack(&site);
    let (nginx, origin) = (&stack.cache, &stack.origin);
    // The endpoint without its /purge path: the PURGEs land in the site's location.
    let toml = fs::read_to_string(site.path("sitepurge.toml")).expect("sitepurge.toml");
    let wrong = toml.replace(&nginx.endpoint(), &format!("http://{}", nginx.addr));
    assert_ne!(wrong, toml);
    site.put("sitepurge.toml", wrong);
    site.baseline();
    stack.expect("/about/", 200, "<h1>About v1</h1>", false);
    stack.expect("/about/", 200, "<h1>About v1</h1>", true);

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
    stack.expect("/about/", 200, "<h1>About v1</h1>", true);
}
