//! The HTTP PURGE provider against a real Varnish: the test starts `varnishd` (Debian package
//! `varnish`) on a free loopback port, with `tests/fixtures/varnish/purge.vcl`, in front of a
//! small origin server written here (a thread serving the temp site's `_site` folder), warms the
//! cache the way a browser does, changes the site, runs `sitepurge run` against Varnish and then
//! checks what Varnish serves. Nothing is sent outside 127.0.0.0/8. A missing `varnishd` fails
//! the test with the install hint: it is never skipped.
//!
//! Expected URLs and request paths are written out by hand, as a browser sends them (UTF-8,
//! upper-case hex), never computed with sitepurge's own code.
#![cfg(unix)]

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::{Value, json};
use support::expect::urls;
use support::site::{Folder, Site, sitepurge_in};

/// The host name of the test site: only ever a `Host` header, never resolved.
const HOST: &str = "example.test";
const VCL: &str = "tests/fixtures/varnish/purge.vcl";

// `café crème/` as a browser requests it, and the same bytes with lower-case hex.
const CAFE: &str = "/caf%C3%A9%20cr%C3%A8me/";
const CAFE_INDEX: &str = "/caf%C3%A9%20cr%C3%A8me/index.html";
const CAFE_LOWER: &str = "/caf%c3%a9%20cr%c3%a8me/";

// ---------------------------------------------------------------------------------------------
// The site and the sitepurge binary

// What these tests do with a `Site` (tests/support/site.rs): a temp folder used as the cwd,
// holding the output folder `_site` and `sitepurge.toml`.
impl Site {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = sitepurge_in(self.root());
        no_proxy(&mut cmd);
        cmd.args(args);
        cmd
    }

    /// Records the current site as the state, silently.
    fn baseline(&self) {
        self.baseline_with(&mut self.cmd(&["baseline", "-q"]));
    }

    /// Runs `sitepurge ARGS --json`, which must exit 0, and returns its report.
    fn run_json(&self, args: &[&str]) -> Value {
        let out = self
            .cmd(args)
            .arg("--json")
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
fn no_proxy(cmd: &mut Command) {
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
// The origin: serves `_site` by percent-decoded path

/// An HTTP/1.1 server on 127.0.0.1 serving files from a folder (`dir/` serves
/// `dir/index.html`), 404 for anything missing, one request per connection. It logs the raw
/// request target of every request it gets, so a test can tell a cache hit from a fetch.
struct Origin {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Origin {
    fn start(root: PathBuf) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the origin");
        let addr = listener.local_addr().expect("origin address");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        serve(conn, &root, &log);
                    }
                }
            })
        };
        Origin {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// How many times the origin was asked for this raw request target.
    fn fetches(&self, target: &str) -> usize {
        let log = self.log.lock().expect("origin log");
        log.iter().filter(|t| t.as_str() == target).count()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut conn: TcpStream, root: &Path, log: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if let Ok(mut log) = log.lock() {
        log.push(target.to_string());
    }
    let (status, body, kind) = match file_for(root, target) {
        Some((body, kind)) => ("200 OK", body, kind),
        None => ("404 Not Found", b"not found\n".to_vec(), "text/plain"),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(&body);
    }
    let _ = conn.write_all(&response);
    let _ = conn.shutdown(Shutdown::Write);
}

/// The file a request target names below `root`, by percent-decoded path.
fn file_for(root: &Path, target: &str) -> Option<(Vec<u8>, &'static str)> {
    let path = target.split(['?', '#']).next()?.strip_prefix('/')?;
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let rel = Path::new(decoded.as_ref());
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut file = root.join(rel);
    if decoded.is_empty() || decoded.ends_with('/') {
        file.push("index.html");
    }
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    };
    fs::read(&file).ok().map(|body| (body, kind))
}

// ---------------------------------------------------------------------------------------------
// Varnish

/// `varnishd`, from PATH or where Debian installs it; fails the test if it is not installed.
fn varnishd() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("varnishd"));
    on_path
        .chain([PathBuf::from("/usr/sbin/varnishd")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "varnishd is not installed (looked on PATH and at /usr/sbin/varnishd): \
                 the HTTP PURGE tests need a real Varnish; install it with \
                 `apt-get install varnish` (it also needs a C compiler for the VCL: `cc`)"
            )
        })
}

/// A free port on 127.0.0.1, as far as the kernel knows now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
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
        let dir = tempfile::Builder::new()
            .prefix("sitepurge-varnish-")
            .tempdir()
            .expect("tempdir");
        // As root, varnishd drops to the `varnish` and `vcache` users: they must reach the
        // work dir and read the VCL.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
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

    /// What varnishd printed.
    fn output(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    fn pid(&self) -> Option<u32> {
        fs::read_to_string(&self.pid_file).ok()?.trim().parse().ok()
    }

    /// The `endpoint` for sitepurge.toml.
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET path` through Varnish with `Host: host`; the path is sent byte for byte.
    fn get_as(&self, host: &str, path: &str) -> Response {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sitepurge-tests\r\nConnection: close\r\n\r\n"
        );
        let result = (|| {
            let mut conn = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            conn.set_read_timeout(Some(Duration::from_secs(10)))?;
            conn.write_all(request.as_bytes())?;
            let mut raw = Vec::new();
            conn.read_to_end(&mut raw)?;
            Ok::<_, std::io::Error>(raw)
        })();
        match result {
            Ok(raw) => Response::parse(&raw)
                .unwrap_or_else(|| panic!("GET {path}: not an HTTP response: {raw:?}")),
            Err(e) => panic!(
                "GET {path} via varnish at {}: {e}\nvarnishd said:\n{}",
                self.addr,
                self.output()
            ),
        }
    }

    fn get(&self, path: &str) -> Response {
        self.get_as(HOST, path)
    }

    /// Stops varnishd: SIGTERM to the manager (which stops its worker), SIGKILL after 10 s.
    fn stop(&mut self) {
        let Some(pid) = self.pid() else { return };
        let _ = fs::remove_file(&self.pid_file);
        let signal = |sig: &str| {
            let _ = StdCommand::new("kill")
                .args([sig, &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            if Instant::now() > deadline {
                signal("-KILL");
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        self.stop();
        // `dir` (VCL, work dir, logs) is removed when the TempDir field drops.
    }
}

/// Whether a process runs (a zombie left for some reaper does not count).
fn alive(pid: u32) -> bool {
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

/// An HTTP response as Varnish sent it.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Option<Response> {
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

    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    fn hit(&self) -> bool {
        let age = self.header("age").and_then(|a| a.parse::<u64>().ok());
        self.header("x-cache") == Some("HIT") || age.is_some_and(|a| a > 0)
    }

    fn text(&self) -> String {
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

/// Asserts status, body and cache state of `GET path` through Varnish.
#[track_caller]
fn expect(varnish: &Varnish, path: &str, status: u16, body: &str, hit: bool) {
    let r = varnish.get(path);
    let state = |h: bool| if h { "a cache hit" } else { "a miss" };
    assert_eq!(
        (r.status, r.text().as_str(), state(r.hit())),
        (status, body, state(hit)),
        "GET {path} (Host: {HOST}) through Varnish; headers: {:?}",
        r.headers
    );
}

/// The test's origin and Varnish, stopped in this order when dropped (also on a panic).
struct Stack {
    varnish: Varnish,
    origin: Origin,
}

fn stack(site: &Site) -> Stack {
    let origin = Origin::start(site.path("_site"));
    let varnish = Varnish::start(origin.addr.port());
    Stack { varnish, origin }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn run_purges_exactly_what_changed_under_the_keys_browsers_created() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    site.page("café crème/index.html", "<h1>Café crème v1</h1>");
    site.page("blog/old/index.html", "<h1>Old post</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    let Stack { varnish, origin } = stack(&site);
    site.put(
        "sitepurge.toml",
        format!(
            "base_urls = [\"http://{HOST}/\"]\nthreshold = 100\n\n[http_purge]\nendpoint = \"{}\"\n",
            varnish.endpoint()
        ),
    );
    site.baseline();

    // Warm the cache as browsers would: every URL of the site, plus the URL of a page that does
    // not exist yet (a cached 404), plus `café crème/` with lower-case hex (another object for
    // Varnish, though the origin serves the same file).
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
        expect(&varnish, path, status, body, false);
        expect(&varnish, path, status, body, true);
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
    let report = site.run_json(&["run", "--provider", "http-purge"]);
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
            "http://example.test/about/",
            "http://example.test/about/index.html",
            "http://example.test/blog/old/",
            "http://example.test/blog/old/index.html",
            "http://example.test/caf%C3%A9%20cr%C3%A8me/",
            "http://example.test/caf%C3%A9%20cr%C3%A8me/index.html",
            "http://example.test/news/",
            "http://example.test/news/index.html",
        ]
    );
    assert_eq!(
        report["purge"],
        json!({
            "one_by_one": false,
            "provider": "http-purge",
            "target": format!("endpoint {}", varnish.endpoint()),
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
    // The PURGE requests went to Varnish and stopped there.
    for path in ["/about/", CAFE, "/news/", "/blog/old/"] {
        assert_eq!(origin.fetches(path), 1, "{path} reached the origin");
    }

    // Changed pages: the new bytes, under both spellings, fetched afresh.
    expect(&varnish, "/about/", 200, "<h1>About v2</h1>", false);
    expect(
        &varnish,
        "/about/index.html",
        200,
        "<h1>About v2</h1>",
        false,
    );
    expect(&varnish, CAFE, 200, "<h1>Café crème v2</h1>", false);
    expect(&varnish, CAFE_INDEX, 200, "<h1>Café crème v2</h1>", false);
    // The added page replaces its cached 404; the removed page is gone.
    expect(&varnish, "/news/", 200, "<h1>News</h1>", false);
    expect(&varnish, "/news/index.html", 200, "<h1>News</h1>", false);
    expect(&varnish, "/blog/old/", 404, "not found\n", false);
    expect(&varnish, "/blog/old/index.html", 404, "not found\n", false);
    // Unchanged pages stay cached: no new fetch from the origin.
    expect(&varnish, "/", 200, "<h1>Home</h1>", true);
    expect(&varnish, "/index.html", 200, "<h1>Home</h1>", true);
    expect(&varnish, "/css/site.css", 200, "body { margin: 0 }", true);
    for path in ["/", "/index.html", "/css/site.css"] {
        assert_eq!(origin.fetches(path), 1, "{path} fetched again");
    }
    // Varnish keys on the raw URL bytes: the lower-case spelling is another object, which the
    // purge of the browser's (upper-case) spelling did not touch: it still serves the OLD page.
    expect(&varnish, CAFE_LOWER, 200, "<h1>Café crème v1</h1>", true);
    assert_eq!(origin.fetches(CAFE_LOWER), 1);
    assert_eq!(origin.fetches(CAFE), 2);
}

#[test]
fn over_the_threshold_one_ban_clears_the_whole_site_and_only_it() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    site.page("café crème/index.html", "<h1>Café crème v1</h1>");
    site.page("docs/index.html", "<h1>Docs</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    let Stack { varnish, origin } = stack(&site);
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
        expect(&varnish, path, 200, body, false);
        expect(&varnish, path, 200, body, true);
    }
    // Another site in the same cache, which a ban of this site's host must leave alone.
    assert!(!varnish.get_as("other.test", "/docs/").hit());
    assert!(varnish.get_as("other.test", "/docs/").hit());

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
    let fetched_before = origin.log.lock().expect("origin log").len();
    let pages_now = pages.map(|(path, body)| (path, body.replace("v1", "v2")));
    for (path, body) in &pages_now {
        expect(&varnish, path, 200, body, false);
    }
    let fetched = origin.log.lock().expect("origin log").len() - fetched_before;
    assert_eq!(fetched, pages.len(), "every page fetched again");
    // The other host's page is still cached.
    assert!(varnish.get_as("other.test", "/docs/").hit());
}

/// Warms `paths` for `host` (a miss, then a hit each).
fn warm_as(varnish: &Varnish, host: &str, paths: &[&str]) {
    for path in paths {
        assert!(
            !varnish.get_as(host, path).hit(),
            "{host}{path} cached early"
        );
        assert!(varnish.get_as(host, path).hit(), "{host}{path} not cached");
    }
}

#[test]

fn over_the_threshold_the_ban_names_the_host_with_its_port() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    let Stack {
        varnish,
        origin: _origin,
    } = stack(&site);
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
    warm_as(&varnish, &authority, &paths);

    site.page("about/index.html", "<h1>About v2</h1>");
    let report = site.run_json(&["run"]);
    assert_eq!(report["decision"], json!("everything"));
    assert_eq!(report["purge"]["kinds"], json!(["hosts"]));
    for path in paths {
        let r = varnish.get_as(&authority, path);
        assert!(
            !r.hit(),
            "{authority}{path} is still cached after the BAN: {:?}",
            r.headers
        );
    }
}

#[test]

fn without_an_endpoint_the_ban_goes_to_the_base_url_itself() {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About v1</h1>");
    let Stack {
        varnish,
        origin: _origin,
    } = stack(&site);
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
    warm_as(&varnish, &authority, &paths);

    site.page("about/index.html", "<h1>About v2</h1>");
    // Exits 0 only if the BAN reached Varnish at http://127.0.0.1:PORT/.
    let report = site.run_json(&["run"]);
    assert_eq!(report["decision"], json!("everything"));
    assert_eq!(report["purge"]["failures"], json!([]));
    for path in paths {
        assert!(
            !varnish.get_as(&authority, path).hit(),
            "{path} still cached"
        );
    }
}
