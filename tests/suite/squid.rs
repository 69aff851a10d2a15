//! The HTTP PURGE provider against a real Squid (Debian package `squid`) as a reverse proxy,
//! run with the recipe users copy: `examples/squid/squid.conf` and
//! `examples/squid/sitepurge.toml`, changed only in ports and paths. Squid runs in the
//! foreground (`-N -f`) with its cache, logs and pid file in a temp folder, on a free loopback
//! port, in front of the origin of tests/support/origin.rs. Each test warms the cache as a
//! browser does, changes the site, runs `sitepurge run`, then checks what Squid serves (its
//! `X-Cache`), which requests reached the origin, and the purges in Squid's access log.
//! Nothing is sent outside 127.0.0.1.
//!
//! Without squid each test is skipped, and `cargo test` says why; with `CI` set, it fails
//! instead (build.rs).
//!
//! Expected URLs and request lines are written out by hand, as a browser sends them (UTF-8,
//! upper-case hex), never computed with sitepurge's own code.
#![cfg(unix)]

use crate::support;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use serde_json::json;
use support::cache::{self, Cache, PurgeSite, Response, Server, free_port};
use support::expect::urls;
use support::origin::Origin;
use support::site::{Folder, Site};

/// The site's host in examples/squid/sitepurge.toml: only ever a `Host` header.
const HOST: &str = "www.example.com";
const CONF: &str = "examples/squid/squid.conf";
const TOML: &str = "examples/squid/sitepurge.toml";

// `café crème/` as a browser requests it, and the same bytes with lower-case hex.
const CAFE: &str = "/caf%C3%A9%20cr%C3%A8me/";
const CAFE_INDEX: &str = "/caf%C3%A9%20cr%C3%A8me/index.html";
const CAFE_LOWER: &str = "/caf%c3%a9%20cr%c3%a8me/";

// ---------------------------------------------------------------------------------------------
// Squid

/// `squid`, from PATH or where Debian installs it; fails the test if it is not installed.
fn squid() -> PathBuf {
    cache::program(&["squid"], &["/usr/sbin/squid"]).unwrap_or_else(|| {
        panic!(
            "squid is not installed (looked on PATH and at /usr/sbin/squid): \
             the Squid tests need a real Squid: `apt-get install squid`"
        )
    })
}

/// A Squid of our own, in the foreground, stopped when dropped.
struct Squid {
    addr: SocketAddr,
    /// Dropped (so stopped) before `dir` is removed.
    server: Server,
    /// Holds squid.conf, the cache, the logs and the pid file.
    dir: tempfile::TempDir,
}

impl Squid {
    /// Starts Squid on a free loopback port in front of the origin at `origin_port`.
    fn start(origin_port: u16) -> Squid {
        let squid = squid();
        let dir = cache::server_dir("sitepurge-squid-", 0o755);
        let path = |rel: &str| dir.path().join(rel);
        // As root, Squid works as the `proxy` user: it creates the cache and writes the logs.
        for sub in ["cache", "logs"] {
            fs::create_dir(path(sub)).expect("mkdir");
            fs::set_permissions(path(sub), fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        let conf = path("squid.conf");
        // Squid looks up the site's host name for each request it forwards: here, not in DNS.
        fs::write(path("hosts"), format!("127.0.0.1 localhost {HOST}\n")).expect("hosts");
        fs::set_permissions(path("hosts"), fs::Permissions::from_mode(0o644)).expect("chmod");
        let text = |p: &Path| p.to_str().expect("UTF-8 temp path").to_string();
        let origin = format!(" parent {origin_port} ");

        // The port is free when picked, but another process may take it before Squid binds
        // it: then try again with another one.
        for attempt in 1..=5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let squid_conf = cache::recipe(
                CONF,
                &[
                    ("http_port 80 ", &format!("http_port {addr} ")),
                    (" parent 4000 ", &origin),
                    ("/var/spool/squid", &text(&path("cache"))),
                    ("/var/log/squid/", &format!("{}/", text(&path("logs")))),
                    ("/run/squid.pid", &text(&path("squid.pid"))),
                    ("/etc/hosts", &text(&path("hosts"))),
                ],
            );
            cache::assert_no_system_paths(CONF, &squid_conf);
            fs::write(&conf, squid_conf).expect("write squid.conf");
            fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).expect("chmod");
            let _ = fs::remove_file(path("logs/cache.log"));

            if attempt == 1 {
                // The cache folders, once (`squid -z`, which exits when done).
                let mut cmd = StdCommand::new(&squid);
                cmd.args(["-N", "-z", "-f"]).arg(&conf);
                let mut init = Server::spawn(cmd, &path("output.log"), "-INT");
                let status = cache::wait_for(Duration::from_secs(10), || init.exited());
                assert!(
                    status.is_some_and(|s| s.success()),
                    "squid -z failed ({status:?}):\n{}",
                    Self::output_in(dir.path())
                );
            }

            let mut cmd = StdCommand::new(&squid);
            // A service name of its own: Squid names its shared memory segments after it
            // (/squid-cf__metadata.shm by default), so two Squids would collide.
            cmd.arg("-N")
                .arg("-n")
                .arg(format!("sitepurge{}", addr.port()))
                .arg("-f")
                .arg(&conf);
            // SIGINT: Squid's shutdown without waiting for clients (SIGTERM waits
            // shutdown_lifetime, 30 s by default).
            let mut server = Server::spawn(cmd, &path("output.log"), "-INT");
            // Ready once it listens and has loaded its (empty) cache from disk.
            let ready = cache::wait_for(Duration::from_secs(10), || {
                let log = fs::read_to_string(path("logs/cache.log")).unwrap_or_default();
                if log.contains("Accepting reverse-proxy HTTP Socket connections")
                    && log.contains("Finished rebuilding storage from disk")
                {
                    return Some(true);
                }
                if log.contains("FATAL") || log.contains("Address already in use") {
                    return Some(false);
                }
                server.exited().map(|_| false)
            });
            if ready == Some(true) {
                return Squid { addr, server, dir };
            }
            server.stop();
            let output = Self::output_in(dir.path());
            if !output.contains("Address already in use") || attempt == 5 {
                panic!("squid failed to start ({ready:?}):\n{output}");
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn output_in(dir: &Path) -> String {
        cache::read_logs(dir, &["output.log", "logs/cache.log"])
    }

    /// The purges Squid logged (`method URL status`), sorted, once there are `count`.
    fn purges(&self, count: usize) -> Vec<String> {
        cache::once_logged(count, || {
            let log =
                fs::read_to_string(self.dir.path().join("logs/access.log")).unwrap_or_default();
            // Squid's native format: time elapsed client result/status bytes method URL ...
            let mut lines: Vec<String> = log
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let status = f.get(3)?.split_once('/')?.1;
                    let (method, url) = (*f.get(5)?, *f.get(6)?);
                    // A connection the HTTP client opened but closed unused (its pool raced
                    // two connections for one request) is logged with no method: not a request.
                    let request = method != "-";
                    (request && method != "GET" && method != "HEAD")
                        .then(|| format!("{method} {url} {status}"))
                })
                .collect();
            lines.sort();
            lines
        })
    }
}

impl Cache for Squid {
    fn name(&self) -> &'static str {
        "squid"
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Squid example's endpoint, on this Squid's port.
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn output(&self) -> String {
        Self::output_in(self.dir.path())
    }

    /// `X-Cache: HIT from ...` (Squid's own header; a miss says `MISS from ...`).
    fn is_hit(&self, r: &Response) -> bool {
        r.header("x-cache")
            .is_some_and(|v| v.starts_with("HIT from "))
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        self.server.stop();
    }
}

/// Asserts status, body and cache state of `GET path` through Squid, for the test site.
#[track_caller]
fn expect(squid: &Squid, path: &str, status: u16, body: &str, hit: bool) {
    cache::expect(squid, HOST, path, status, body, hit);
}

/// The test's origin and Squid, stopped in this order when dropped (also on a panic).
struct Stack {
    squid: Squid,
    origin: Origin,
}

/// Starts the origin and Squid for `site`, and writes the example's sitepurge.toml there with
/// Squid's port in the endpoint.
fn stack(site: &Site) -> Stack {
    let origin = Origin::start(site.path("_site"));
    let squid = Squid::start(origin.port());
    site.put(
        "sitepurge.toml",
        cache::recipe(
            TOML,
            &[("\"http://127.0.0.1\"", &format!("\"{}\"", squid.endpoint()))],
        ),
    );
    Stack { squid, origin }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
#[cfg_attr(
    missing_squid,
    ignore = "needs squid: apt-get install squid (or run tests/run-all.sh)"
)]
fn run_purges_exactly_what_changed_under_the_keys_browsers_created() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    site.page("café crème/index.html", "<h1>Café crème v1</h1>");
    site.page("blog/old/index.html", "<h1>Old post</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    let Stack { squid, origin } = stack(&site);
    site.baseline();

    // Warm the cache as browsers would: every URL of the site, plus the URL of a page that does
    // not exist yet (a cached 404), plus `café crème/` with lower-case hex.
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
        expect(&squid, path, status, body, false);
        expect(&squid, path, status, body, true);
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
            "target": format!("endpoint {}", squid.endpoint()),
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
    // One PURGE per URL, which Squid turned into the URL it caches under (http://, the Host
    // header, the path as sent); each found its object (200; 404 would mean it missed), the
    // encoded ones included.
    assert_eq!(
        squid.purges(8),
        [
            "PURGE http://www.example.com/about/ 200",
            "PURGE http://www.example.com/about/index.html 200",
            "PURGE http://www.example.com/blog/old/ 200",
            "PURGE http://www.example.com/blog/old/index.html 200",
            "PURGE http://www.example.com/caf%C3%A9%20cr%C3%A8me/ 200",
            "PURGE http://www.example.com/caf%C3%A9%20cr%C3%A8me/index.html 200",
            "PURGE http://www.example.com/news/ 200",
            "PURGE http://www.example.com/news/index.html 200",
        ]
    );
    // The purges stopped at Squid.
    assert_eq!(origin.not_reads(), Vec::<String>::new());

    // Changed pages: the new bytes, under both spellings, fetched afresh.
    expect(&squid, "/about/", 200, "<h1>About v2</h1>", false);
    expect(&squid, "/about/index.html", 200, "<h1>About v2</h1>", false);
    expect(&squid, CAFE, 200, "<h1>Café crème v2</h1>", false);
    expect(&squid, CAFE_INDEX, 200, "<h1>Café crème v2</h1>", false);
    // The added page replaces its cached 404; the removed page is gone.
    expect(&squid, "/news/", 200, "<h1>News</h1>", false);
    expect(&squid, "/news/index.html", 200, "<h1>News</h1>", false);
    expect(&squid, "/blog/old/", 404, "not found\n", false);
    expect(&squid, "/blog/old/index.html", 404, "not found\n", false);
    // Unchanged pages stay cached: no new fetch from the origin.
    expect(&squid, "/", 200, "<h1>Home</h1>", true);
    expect(&squid, "/index.html", 200, "<h1>Home</h1>", true);
    expect(&squid, "/css/site.css", 200, "body { margin: 0 }", true);
    for path in ["/", "/index.html", "/css/site.css"] {
        assert_eq!(origin.fetches(path), 1, "{path} fetched again");
    }
    // Squid keys on the URL as received: the lower-case spelling is another object, which the
    // purge of the browser's (upper-case) spelling did not touch: it still serves the OLD page.
    expect(&squid, CAFE_LOWER, 200, "<h1>Café crème v1</h1>", true);
    assert_eq!(origin.fetches(CAFE_LOWER), 1);
    assert_eq!(origin.fetches(CAFE), 2);
}

#[test]
#[cfg_attr(
    missing_squid,
    ignore = "needs squid: apt-get install squid (or run tests/run-all.sh)"
)]
fn over_the_threshold_every_url_of_the_site_is_purged_one_by_one() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    site.page("café crème/index.html", "<h1>Café crème v1</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    let Stack { squid, origin } = stack(&site);
    site.baseline();

    // Readers asked for some URLs only: the others have nothing cached.
    let cached: [(&str, &str); 4] = [
        ("/", "<h1>Home</h1>"),
        ("/about/", "<h1>About v1</h1>"),
        (CAFE, "<h1>Café crème v1</h1>"),
        ("/css/site.css", "body { margin: 0 }"),
    ];
    for (path, body) in cached {
        expect(&squid, path, 200, body, false);
        expect(&squid, path, 200, body, true);
    }

    site.page("about/index.html", "<h1>About v2</h1>");
    site.page("café crème/index.html", "<h1>Café crème v2</h1>");
    site.page("css/site.css", "body { margin: 1em }");

    // 5 changed URLs of 7, above the example's 50%: everything, which for Squid (no request
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
    // Cached objects are purged (200); the others were not cached (404, which is done too).
    assert_eq!(
        squid.purges(7),
        [
            "PURGE http://www.example.com/ 200",
            "PURGE http://www.example.com/about/ 200",
            "PURGE http://www.example.com/about/index.html 404",
            "PURGE http://www.example.com/caf%C3%A9%20cr%C3%A8me/ 200",
            "PURGE http://www.example.com/caf%C3%A9%20cr%C3%A8me/index.html 404",
            "PURGE http://www.example.com/css/site.css 200",
            "PURGE http://www.example.com/index.html 404",
        ]
    );
    assert_eq!(origin.not_reads(), Vec::<String>::new());

    // Every cached page is fetched again, changed or not.
    let fetched_before = origin.requests();
    expect(&squid, "/", 200, "<h1>Home</h1>", false);
    expect(&squid, "/about/", 200, "<h1>About v2</h1>", false);
    expect(&squid, CAFE, 200, "<h1>Café crème v2</h1>", false);
    expect(&squid, "/css/site.css", 200, "body { margin: 1em }", false);
    assert_eq!(origin.requests() - fetched_before, 4);
}
