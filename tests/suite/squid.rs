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
use std::time::Duration;

use support::cache::{self, Cache, Changes, OneByOne, Response, Server, Stack, free_port};
use support::site::{Folder, Site};

/// The site's host in examples/squid/sitepurge.toml: only ever a `Host` header.
const HOST: &str = "www.example.com";
const CONF: &str = "examples/squid/squid.conf";
const TOML: &str = "examples/squid/sitepurge.toml";

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

            // A service name of its own: Squid names its shared memory segments after it
            // (/squid-cf__metadata.shm by default), so two Squids would collide; `squid -z`
            // included.
            let service = format!("sitepurge{}", addr.port());
            if attempt == 1 {
                // The cache folders, once (`squid -z`, which exits when done).
                let mut cmd = StdCommand::new(&squid);
                cmd.args(["-N", "-z", "-n", &service, "-f"]).arg(&conf);
                let mut init = Server::spawn(cmd, &path("output.log"), "-INT");
                let status = cache::wait_for(Duration::from_secs(10), || init.exited());
                assert!(
                    status.is_some_and(|s| s.success()),
                    "squid -z failed ({status:?}):\n{}",
                    Self::output_in(dir.path())
                );
            }

            let mut cmd = StdCommand::new(&squid);
            cmd.args(["-N", "-n", &service, "-f"]).arg(&conf);
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

/// Starts the origin and Squid for `site`, and writes the example's sitepurge.toml there with
/// Squid's port in the endpoint.
fn stack(site: &Site) -> Stack<Squid> {
    let stack = Stack::start(site, HOST, Squid::start);
    let endpoint = format!("\"{}\"", stack.cache.endpoint());
    site.put(
        "sitepurge.toml",
        cache::recipe(TOML, &[("\"http://127.0.0.1\"", &endpoint)]),
    );
    stack
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
#[cfg_attr(
    missing_squid,
    ignore = "needs squid: apt-get install squid (or run tests/run-all.sh)"
)]
fn run_purges_exactly_what_changed_under_the_keys_browsers_created() {
    let changes = Changes::set_up(stack);
    // The example's threshold (50%) would purge everything for this small site.
    changes.run(&["run", "--threshold", "100"], "https://www.example.com/");
    // One PURGE per URL, which Squid turned into the URL it caches under (http://, the Host
    // header, the path as sent); each found its object (200; 404 would mean it missed), the
    // encoded ones included.
    assert_eq!(
        changes.stack.cache.purges(8),
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
    changes.check_served();
}

#[test]
#[cfg_attr(
    missing_squid,
    ignore = "needs squid: apt-get install squid (or run tests/run-all.sh)"
)]
fn over_the_threshold_every_url_of_the_site_is_purged_one_by_one() {
    let one_by_one = OneByOne::set_up(stack);
    // Squid has no request that clears a site: everything is every URL of the site.
    one_by_one.run();
    // Cached objects are purged (200); the others were not cached (404, which is done too).
    assert_eq!(
        one_by_one.stack.cache.purges(7),
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
    one_by_one.check_served();
}
