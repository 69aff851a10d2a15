//! A loopback HTTP/1.1 server for the stand-ins of small purge APIs (Fastly, bunny.net): each
//! request is read whole, recorded, and answered by the stand-in's handler on its own thread,
//! then the connection is closed. The stand-ins check each request against their reference
//! fixture in the handler.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Position among all requests, from 0.
    pub seq: usize,
    pub method: String,
    /// The path as sent, without the query (not percent-decoded).
    pub path: String,
    /// The raw query, without `?`.
    pub query: Option<String>,
    /// Names lower-cased, values verbatim, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received: Instant,
    /// What it was answered.
    pub status: Option<u16>,
}

impl Recorded {
    /// Every value of a header (name case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// Decoded query pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }
}

/// An answer: status, extra headers, body (sent as `application/json` when not empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn new(status: u16, body: impl Into<String>) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Answer {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Recorded) -> Answer + Send + Sync;

/// The running server; stops when dropped.
pub struct FakeApi {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

impl FakeApi {
    pub fn start(handler: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake api: bind");
        listener
            .set_nonblocking(true)
            .expect("fake api: nonblocking");
        let addr = listener.local_addr().expect("fake api: addr");
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (log, halt) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (log, handler) = (log.clone(), handler.clone());
                        std::thread::spawn(move || serve(conn, &log, &*handler));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        FakeApi {
            addr,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(mut conn: TcpStream, log: &Mutex<Vec<Recorded>>, handler: &Handler) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut body = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let first: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    let (method, target) = (
        first.first().copied().unwrap_or_default(),
        first.get(1).copied().unwrap_or_default(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    while body.len() < length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let seq = {
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = log.len();
        log.push(Recorded {
            seq,
            method: method.to_string(),
            path,
            query,
            headers,
            body,
            received: Instant::now(),
            status: None,
        });
        seq
    };
    let request = log.lock().unwrap_or_else(PoisonError::into_inner)[seq].clone();
    let answer = handler(&request);
    if let Some(r) = log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(seq)
    {
        r.status = Some(answer.status);
    }
    let mut text = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    if !answer.body.is_empty() {
        text.push_str("content-type: application/json\r\n");
    }
    for (n, v) in &answer.headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&answer.body);
    let _ = conn.write_all(text.as_bytes());
    let _ = conn.flush();
}
