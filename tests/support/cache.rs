//! What the tests against a real cache (tests/suite/varnish.rs, nginx.rs, squid.rs) share: the
//! [`Cache`] they send browser requests to, the [`Response`] they read back, a server process
//! stopped when dropped ([`Server`]), the config recipes they fill in ([`recipe`]), `sitepurge`
//! run against the cache ([`PurgeSite`]), and the scenarios every cache is put through
//! ([`Changes`], [`OneByOne`]) on a [`Stack`] of origin and cache.
//!
//! A suite keeps what is its own: how its server starts, how its purge log reads, the purge
//! lines it expects, and its own extra tests.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::{Value, json};

use super::expect::urls;
use super::origin::Origin;
use super::site::{Folder, Site, sitepurge_in};

// ---------------------------------------------------------------------------------------------
// Browser requests

/// A cache under test, listening on 127.0.0.1.
pub trait Cache {
    /// `varnish`, `nginx`, `squid`: for messages.
    fn name(&self) -> &'static str;

    fn addr(&self) -> SocketAddr;

    /// The `endpoint` of sitepurge.toml that sends the purges to this cache.
    fn endpoint(&self) -> String;

    /// What the server wrote to its logs so far, for failure messages.
    fn output(&self) -> String;

    /// Whether the cache says it served this response from its store, by its own header.
    fn is_hit(&self, response: &Response) -> bool;

    /// `GET path` through the cache with `Host: host`, the path sent byte for byte as a
    /// browser sends it.
    fn get_as(&self, host: &str, path: &str) -> Response {
        get(self.addr(), host, path).unwrap_or_else(|e| {
            panic!(
                "GET {path} (Host: {host}) via {} at {}: {e}\n{} said:\n{}",
                self.name(),
                self.addr(),
                self.name(),
                self.output()
            )
        })
    }

    /// Whether `GET path` for `host` is a cache hit.
    fn hit_as(&self, host: &str, path: &str) -> bool {
        self.is_hit(&self.get_as(host, path))
    }
}

/// Sends `GET path` to `addr` on a new connection and reads the whole response.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<Response> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sitepurge-tests\r\nConnection: close\r\n\r\n"
    );
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)?;
    Response::parse(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

/// An HTTP response as the cache sent it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn parse(raw: &[u8]) -> Option<Response> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        if chunked {
            body = dechunk(&body)?;
        }
        Some(Response {
            status,
            headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Asserts status, body and cache state of `GET path` (with `Host: host`) through the cache.
#[track_caller]
pub fn expect(cache: &impl Cache, host: &str, path: &str, status: u16, body: &str, hit: bool) {
    let r = cache.get_as(host, path);
    let state = |h: bool| if h { "a cache hit" } else { "a miss" };
    assert_eq!(
        (r.status, r.text().as_str(), state(cache.is_hit(&r))),
        (status, body, state(hit)),
        "GET {path} (Host: {host}) through {}; headers: {:?}",
        cache.name(),
        r.headers
    );
}

// ---------------------------------------------------------------------------------------------
// Server processes

/// A free port on 127.0.0.1, as far as the kernel knows now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

/// The first of `names` found on PATH, else the first of `fallbacks` that exists.
pub fn program(names: &[&str], fallbacks: &[&str]) -> Option<PathBuf> {
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// Whether a process runs (a zombie left for some reaper does not count).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) if Path::new("/proc/self/stat").exists() => false,
        // No /proc: ask kill(1).
        Err(_) => StdCommand::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
    }
}

/// Sends `signal` (`-TERM`, `-KILL`...) to a process, or with `-- -PID` to its group.
pub fn signal(signal: &str, target: &str) {
    let _ = StdCommand::new("kill")
        .args([signal, "--", target])
        .stderr(Stdio::null())
        .status();
}

/// Polls `ready` every 20 ms until it gives a value or `limit` has passed.
pub fn wait_for<T>(limit: Duration, mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = ready() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server run in the foreground as a child of the test, in a process group of its own, and
/// stopped when dropped (also on a panic): `stop_signal` to the server, then SIGKILL to its
/// whole group (workers and helpers too) if it has not exited within 10 s.
pub struct Server {
    child: Child,
    stop_signal: &'static str,
}

impl Server {
    /// Starts `cmd` with stdin closed and stdout and stderr appended to `log`.
    pub fn spawn(mut cmd: StdCommand, log: &Path, stop_signal: &'static str) -> Server {
        use std::os::unix::process::CommandExt;
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("server log file");
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().expect("server log file"))
            .stderr(out)
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        Server { child, stop_signal }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let pid = self.pid().to_string();
        signal(self.stop_signal, &pid);
        if wait_for(Duration::from_secs(10), || self.exited()).is_none() {
            signal("-KILL", &format!("-{pid}"));
            let _ = self.child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A temp folder for a server's config, cache, logs and pid file, removed when dropped.
/// Servers started as root drop to an unprivileged user for their work, so it is open to all:
/// `mode` 0o755 to read it, 0o777 where that user also writes its logs there.
pub fn server_dir(prefix: &str, mode: u32) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).expect("chmod");
    dir
}

/// A recipe file of the repository (`examples/nginx/cache.conf`), with each `(from, to)` of
/// `changes` replaced; every `from` must occur in it, so a recipe edited out of step with its
/// test fails loudly instead of running with the wrong value.
pub fn recipe(rel: &str, changes: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let mut text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in changes {
        assert!(text.contains(from), "{rel} no longer holds {from:?}");
        text = text.replace(from, to);
    }
    text
}

/// Asserts that a recipe filled in by a test (`rel` names it) leaves no path outside the temp
/// folder, comments aside: the server must not touch the machine's own cache, logs or pid file.
#[track_caller]
pub fn assert_no_system_paths(rel: &str, text: &str) {
    for line in text.lines().map(|l| l.split('#').next().unwrap_or("")) {
        assert!(
            !["/var/", "/run/", "/etc/"].iter().any(|p| line.contains(p)),
            "{rel}: a path outside the temp folder is left: {line}"
        );
    }
}

/// The files `names` below `dir` one after the other, a missing one as empty: what a server
/// wrote so far, for failure messages.
pub fn read_logs(dir: &Path, names: &[&str]) -> String {
    names
        .iter()
        .map(|f| fs::read_to_string(dir.join(f)).unwrap_or_default())
        .collect()
}

/// What `read` gives once it has `count` lines, or after 15 s whatever it has then: a server
/// logs a request just after answering it (nginx), or from a log writer of its own (Squid), so
/// sitepurge may have exited before the last purge is in the log.
pub fn once_logged(count: usize, read: impl Fn() -> Vec<String>) -> Vec<String> {
    wait_for(Duration::from_secs(15), || {
        let lines = read();
        (lines.len() >= count).then_some(lines)
    })
    .unwrap_or_else(read)
}

// ---------------------------------------------------------------------------------------------
// sitepurge

/// What these tests do with a [`Site`] (tests/support/site.rs): a temp folder used as the cwd,
/// holding the output folder `_site` and `sitepurge.toml`.
pub trait PurgeSite {
    /// `sitepurge ARGS` in the site's folder, isolated, never through a proxy.
    fn cmd(&self, args: &[&str]) -> Command;

    /// Records the current site as the state, silently.
    fn baseline(&self);

    /// Runs `sitepurge ARGS --json`, which must exit 0, and returns its report.
    fn run_json(&self, args: &[&str]) -> Value;
}

impl PurgeSite for Site {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = sitepurge_in(self.root());
        no_proxy(&mut cmd);
        cmd.args(args);
        cmd
    }

    fn baseline(&self) {
        // Named in full: a test file may give `Site` inherent methods of the same names.
        self.baseline_with(&mut PurgeSite::cmd(self, &["baseline", "-q"]));
    }

    fn run_json(&self, args: &[&str]) -> Value {
        let out = PurgeSite::cmd(self, args)
            .arg("--json")
            .timeout(Duration::from_secs(60))
            .output()
            .expect("run sitepurge");
        assert_eq!(
            out.status.code(),
            Some(0),
            "sitepurge {args:?} failed\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
    }
}

/// The purges go to the loopback endpoint directly, never through a proxy.
pub fn no_proxy(cmd: &mut Command) {
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("NO_PROXY", "*");
}

// ---------------------------------------------------------------------------------------------
// Scenarios

// `café crème/` as a browser requests it, and the same bytes with lower-case hex: written out
// by hand, never computed with sitepurge's own code.
pub const CAFE: &str = "/caf%C3%A9%20cr%C3%A8me/";
pub const CAFE_INDEX: &str = "/caf%C3%A9%20cr%C3%A8me/index.html";
pub const CAFE_LOWER: &str = "/caf%c3%a9%20cr%c3%a8me/";

/// A test's origin (serving the site's `_site`) and the cache in front of it, stopped in this
/// order when dropped (also on a panic).
pub struct Stack<C> {
    pub cache: C,
    pub origin: Origin,
    /// The site's host: the `Host` header of the browser requests, never resolved.
    pub host: &'static str,
}

impl<C: Cache> Stack<C> {
    /// Starts the origin for `site`, then the cache in front of it with `start(origin_port)`.
    pub fn start(site: &Site, host: &'static str, start: impl FnOnce(u16) -> C) -> Stack<C> {
        let origin = Origin::start(site.path("_site"));
        let cache = start(origin.port());
        Stack {
            cache,
            origin,
            host,
        }
    }

    /// Asserts status, body and cache state of `GET path` through the cache, for the site.
    #[track_caller]
    pub fn expect(&self, path: &str, status: u16, body: &str, hit: bool) {
        expect(&self.cache, self.host, path, status, body, hit);
    }

    /// Requests each `(path, status, body)` twice as a browser does: a miss fetched from the
    /// origin, then a hit, the origin asked once in all.
    #[track_caller]
    pub fn warm(&self, pages: &[(&str, u16, &str)]) {
        for &(path, status, body) in pages {
            self.expect(path, status, body, false);
            self.expect(path, status, body, true);
            assert_eq!(
                self.origin.fetches(path),
                1,
                "{path} fetched from the origin once"
            );
        }
    }
}

/// A new site of `pages` (output path, body) behind the stack `start` builds (it also writes
/// sitepurge.toml, which is the cache's own), recorded as the baseline, and the `warm` requests
/// made through the cache.
#[track_caller]
fn warmed<C: Cache>(
    pages: &[(&str, &str)],
    start: impl FnOnce(&Site) -> Stack<C>,
    warm: &[(&str, u16, &str)],
) -> (Stack<C>, Site) {
    let site = Site::new();
    for (rel, body) in pages {
        site.page(rel, body);
    }
    let stack = start(&site);
    site.baseline();
    stack.warm(warm);
    (stack, site)
}

/// The scenario every cache must pass: a site cached the way browsers ask for it, then two
/// pages edited, one added (over a cached 404) and one removed. `sitepurge run` must purge
/// exactly their URLs under the keys the browsers created, and leave the rest cached.
///
/// A suite calls [`Changes::set_up`], [`Changes::run`], checks the purges in its cache's own
/// log, then [`Changes::check_served`].
pub struct Changes<C> {
    /// Dropped before the site, whose folder the origin serves.
    pub stack: Stack<C>,
    pub site: Site,
}

impl<C: Cache> Changes<C> {
    #[track_caller]
    pub fn set_up(start: impl FnOnce(&Site) -> Stack<C>) -> Changes<C> {
        let pages = [
            ("index.html", "<h1>Home</h1>"),
            ("about/index.html", "<h1>About v1</h1>"),
            ("café crème/index.html", "<h1>Café crème v1</h1>"),
            ("blog/old/index.html", "<h1>Old post</h1>"),
            ("css/site.css", "body { margin: 0 }"),
        ];
        // Every URL of the site, plus the URL of a page that does not exist yet (a cached
        // 404), plus `café crème/` with lower-case hex (another key for the cache, though the
        // origin serves the same file).
        let warm = [
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
        let (stack, site) = warmed(&pages, start, &warm);
        site.page("about/index.html", "<h1>About v2</h1>");
        site.page("café crème/index.html", "<h1>Café crème v2</h1>");
        site.page("news/index.html", "<h1>News</h1>");
        site.remove("blog/old/index.html");
        Changes { stack, site }
    }

    /// Runs `sitepurge ARGS` and checks its report: one request per changed URL, the site's
    /// URLs under `base` (its base URL, written out by the suite), all purged, and none of the
    /// purges reached the origin.
    #[track_caller]
    pub fn run(&self, args: &[&str], base: &str) {
        let started = Instant::now();
        let report = self.site.run_json(args);
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
        let expected: Vec<String> = [
            "about/",
            "about/index.html",
            "blog/old/",
            "blog/old/index.html",
            "caf%C3%A9%20cr%C3%A8me/",
            "caf%C3%A9%20cr%C3%A8me/index.html",
            "news/",
            "news/index.html",
        ]
        .iter()
        .map(|path| format!("{base}{path}"))
        .collect();
        assert_eq!(urls(&report), expected);
        assert_eq!(
            report["purge"],
            json!({
                "one_by_one": false,
                "provider": "http-purge",
                "target": format!("endpoint {}", self.stack.cache.endpoint()),
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
        // The purges stopped at the cache: no PURGE passed on, and no purged URL fetched again
        // (a cache that purges by fetching anew would show here).
        let origin = &self.stack.origin;
        for path in ["/about/", CAFE, "/news/", "/blog/old/"] {
            assert_eq!(origin.fetches(path), 1, "{path} reached the origin");
        }
        assert_eq!(origin.not_reads(), Vec::<String>::new());
    }

    /// Checks what the cache serves after the run.
    #[track_caller]
    pub fn check_served(&self) {
        let (stack, origin) = (&self.stack, &self.stack.origin);
        // Changed pages: the new bytes, under both spellings, fetched afresh.
        stack.expect("/about/", 200, "<h1>About v2</h1>", false);
        stack.expect("/about/index.html", 200, "<h1>About v2</h1>", false);
        stack.expect(CAFE, 200, "<h1>Café crème v2</h1>", false);
        stack.expect(CAFE_INDEX, 200, "<h1>Café crème v2</h1>", false);
        // The added page replaces its cached 404; the removed page is gone.
        stack.expect("/news/", 200, "<h1>News</h1>", false);
        stack.expect("/news/index.html", 200, "<h1>News</h1>", false);
        stack.expect("/blog/old/", 404, "not found\n", false);
        stack.expect("/blog/old/index.html", 404, "not found\n", false);
        // Unchanged pages stay cached: no new fetch from the origin.
        stack.expect("/", 200, "<h1>Home</h1>", true);
        stack.expect("/index.html", 200, "<h1>Home</h1>", true);
        stack.expect("/css/site.css", 200, "body { margin: 0 }", true);
        for path in ["/", "/index.html", "/css/site.css"] {
            assert_eq!(origin.fetches(path), 1, "{path} fetched again");
        }
        // Each cache keys on the URL as it was received (Varnish its raw bytes, nginx the raw
        // URI, Squid the URL it got): the lower-case spelling is another entry, which the purge
        // of the browser's (upper-case) spelling did not touch: it still serves the OLD page.
        stack.expect(CAFE_LOWER, 200, "<h1>Café crème v1</h1>", true);
        assert_eq!(origin.fetches(CAFE_LOWER), 1);
        assert_eq!(origin.fetches(CAFE), 2);
    }
}

/// Over the threshold, for a cache that has no request clearing a whole site (nginx, Squid)
/// and the recipe's threshold (50%): readers asked for some URLs only, then 5 of the site's 7
/// URLs change, so `sitepurge run` purges every URL of the site, one request each.
///
/// A suite calls [`OneByOne::set_up`], [`OneByOne::run`], checks the purges in its cache's own
/// log, then [`OneByOne::check_served`].
pub struct OneByOne<C> {
    /// Dropped before the site, whose folder the origin serves.
    pub stack: Stack<C>,
    pub site: Site,
}

impl<C: Cache> OneByOne<C> {
    #[track_caller]
    pub fn set_up(start: impl FnOnce(&Site) -> Stack<C>) -> OneByOne<C> {
        let pages = [
            ("index.html", "<h1>Home</h1>"),
            ("about/index.html", "<h1>About v1</h1>"),
            ("café crème/index.html", "<h1>Café crème v1</h1>"),
            ("css/site.css", "body { margin: 0 }"),
        ];
        // The other URLs (`/index.html`, `/about/index.html`, CAFE_INDEX) have nothing cached.
        let cached = [
            ("/", 200, "<h1>Home</h1>"),
            ("/about/", 200, "<h1>About v1</h1>"),
            (CAFE, 200, "<h1>Café crème v1</h1>"),
            ("/css/site.css", 200, "body { margin: 0 }"),
        ];
        let (stack, site) = warmed(&pages, start, &cached);
        site.page("about/index.html", "<h1>About v2</h1>");
        site.page("café crème/index.html", "<h1>Café crème v2</h1>");
        site.page("css/site.css", "body { margin: 1em }");
        OneByOne { stack, site }
    }

    /// Runs `sitepurge run` and checks its report: everything, as 7 requests, none failed, and
    /// none of them reached the origin.
    #[track_caller]
    pub fn run(&self) {
        let report = self.site.run_json(&["run"]);
        assert_eq!(
            (&report["decision"], &report["reason"]),
            (&json!("everything"), &json!("threshold"))
        );
        assert_eq!(report["purge"]["one_by_one"], json!(true));
        assert_eq!(report["purge"]["requests"], json!(7));
        assert_eq!(report["purge"]["failures"], json!([]));
        assert_eq!(report["state_saved"], json!(true));
        assert_eq!(self.stack.origin.not_reads(), Vec::<String>::new());
    }

    /// Checks that every cached page is fetched again, changed or not.
    #[track_caller]
    pub fn check_served(&self) {
        let (stack, origin) = (&self.stack, &self.stack.origin);
        let fetched_before = origin.requests();
        stack.expect("/", 200, "<h1>Home</h1>", false);
        stack.expect("/about/", 200, "<h1>About v2</h1>", false);
        stack.expect(CAFE, 200, "<h1>Café crème v2</h1>", false);
        stack.expect("/css/site.css", 200, "body { margin: 1em }", false);
        assert_eq!(origin.requests() - fetched_before, 4);
    }
}
