//! What the tests against a real cache (tests/suite/varnish.rs, nginx.rs, squid.rs) share: the
//! [`Cache`] they send browser requests to, the [`Response`] they read back, a server process
//! stopped when dropped ([`Server`]), the config recipes they fill in ([`recipe`]), and
//! `sitepurge` run against the cache ([`PurgeSite`]).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

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

/// What `read` gives once it has `count` lines, or after 5 s whatever it has then: a server
/// logs a request just after answering it (nginx), or from a log writer of its own (Squid), so
/// sitepurge may have exited before the last purge is in the log.
pub fn once_logged(count: usize, read: impl Fn() -> Vec<String>) -> Vec<String> {
    wait_for(Duration::from_secs(5), || {
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
