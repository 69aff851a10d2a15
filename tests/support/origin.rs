//! The origin behind a real cache in the HTTP PURGE tests (tests/suite/varnish.rs, nginx.rs,
//! squid.rs): a thread on 127.0.0.1 serving a site's output folder by percent-decoded path, as a
//! static host does, and logging every request's method and raw target, so a test can tell a
//! cache hit (the origin was not asked) from a fetch, and see a purge that went past the cache.
//!
//! It sends no `Cache-Control`, `Expires` or `Last-Modified`: how long a page stays cached is
//! the cache's own configuration, which is what the recipes under test set.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// An HTTP/1.1 server on 127.0.0.1 serving files from a folder (`dir/` serves
/// `dir/index.html`), 404 for anything missing, one request per connection.
pub struct Origin {
    pub addr: SocketAddr,
    /// The method and raw request target of every request, in order.
    log: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Origin {
    pub fn start(root: PathBuf) -> Origin {
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

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many times the origin was asked for this raw request target, by any method.
    pub fn fetches(&self, target: &str) -> usize {
        let log = self.log.lock().expect("origin log");
        log.iter().filter(|(_, t)| t.as_str() == target).count()
    }

    /// The requests other than GET and HEAD it got (`METHOD target`): a purge that reached it
    /// went past the cache.
    pub fn not_reads(&self) -> Vec<String> {
        let log = self.log.lock().expect("origin log");
        log.iter()
            .filter(|(m, _)| m != "GET" && m != "HEAD")
            .map(|(m, t)| format!("{m} {t}"))
            .collect()
    }

    /// How many requests the origin has answered so far.
    pub fn requests(&self) -> usize {
        self.log.lock().expect("origin log").len()
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

fn serve(mut conn: TcpStream, root: &Path, log: &Mutex<Vec<(String, String)>>) {
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
        log.push((method.to_string(), target.to_string()));
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
