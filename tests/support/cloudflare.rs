//! A local fake of the three Cloudflare v4 operations sitepurge uses, for integration tests
//! that run the real binary against it.
//!
//! ```ignore
//! mod support;
//! use support::cloudflare::{Behaviour, FakeCloudflare, TOKEN, ZONE_ID};
//!
//! let cf = FakeCloudflare::start();           // 127.0.0.1, port 0, own thread + runtime
//! cf.push(Behaviour::rate_limited("1"));      // first purge gets 429 + Retry-After: 1
//! // run sitepurge with cf.base_url() as the API base and TOKEN as the token ...
//! assert!(cf.violations().is_empty(), "{:#?}", cf.violations());
//! assert!(cf.purged_files().contains("https://example.com/index.html"));
//! ```
//!
//! Endpoints, under `http://127.0.0.1:PORT/client/v4`:
//! - `POST /zones/{zone_id}/purge_cache`
//! - `GET /zones?name=...` (also `status`, `page`, `per_page`, `order`, `direction`, `match`,
//!   `account.id`, `account.name`)
//! - `GET /user/tokens/verify`
//! - `GET /accounts/{account_id}/tokens/verify` and `GET /zones/{zone_id}`: not in the OpenAPI
//!   subset (it was cut before sitepurge needed them); their answers are checked against the
//!   nearest schemas the subset has: the token-verify response, and `zones_zone` inside the
//!   zones envelope.
//!
//! Every request is recorded. Every purge body is checked against the request-body schema of
//! the OpenAPI subset *and* the stricter rules of `tests/fixtures/cloudflare/README.md`; a body
//! that breaks one is answered with a 400 error envelope and recorded in [`FakeCloudflare::violations`].
//! Every JSON response the fake sends is checked against the subset's response schemas too; a
//! mismatch (a bug in the fake or in a scripted body) is also reported as a violation, prefixed
//! `response`.
//!
//! Error codes. Taken from real Cloudflare answers (as quoted in public bug reports):
//! 9106 missing credentials, 6003 + error_chain 6102/6103/6105/6111 malformed headers,
//! 10000 authentication error, 9103 unknown key/email, 1000 invalid API token (verify),
//! 7003 unroutable object identifier, 1012 no purge key, 1014 "must be an array",
//! 6007 malformed JSON, 971 rate limited. Chosen here because no real answer was at hand
//! (tests should not depend on them): 1012 also for "more than one purge key", unknown
//! fields and `purge_everything` other than `true`; 1014 for every other shape error in a
//! purge body; 1015 too many files; 1016 invalid or badly encoded URL; 1001 invalid query
//! parameter; 7001 method not allowed; 10001 generic server-side failure used by scripted
//! 408/5xx and `SuccessFalse` bodies.
//!
//! Order of checks for a normal purge: credentials (missing/malformed 400, wrong 403), zone
//! (7003), body (400). Body rules are checked for *every* purge request, whatever it is
//! answered with, so a misbehaving client is reported even when a scripted fault answers it.
//!
//! Scripted behaviours ([`FakeCloudflare::push`]) are consumed one per purge request, before
//! any other check; when the queue is empty, [`FakeCloudflare::fail_all`] (if set) answers;
//! otherwise the request is processed normally.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::openapi::{self, Spec};

/// API token accepted by the default [`Config`] (40 characters, like a real token).
pub const TOKEN: &str = "PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA-";
/// Identifier reported by token verify for [`TOKEN`].
pub const TOKEN_ID: &str = "e9cb0eb53f16947ccf25ec84d8dbc742";
/// `X-Auth-Email` accepted by the default [`Config`].
pub const EMAIL: &str = "purge-test@example.com";
/// `X-Auth-Key` (global API key: 37 lower-case hex digits) accepted by the default [`Config`].
pub const API_KEY: &str = "daeeb975729fae923d5a4fd12aabfe228f219";
/// Identifier of the default zone.
pub const ZONE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";
/// Name of the default zone.
pub const ZONE_NAME: &str = "example.com";
/// Account of every zone unless changed.
pub const ACCOUNT_ID: &str = "54770f58904dba41ecccc3fc1626e53a";
/// Default limit of files per purge request: what `batch_size = "auto"` sends first (the
/// cache docs' limit since instant purge). More is a client bug, recorded as a violation.
pub const DEFAULT_MAX_FILES: usize = 100;
/// The URL-purge limit the API reference gives for Free/Pro/Business plans, for
/// [`FakeCloudflare::set_plan_limit`].
pub const OLD_PLAN_LIMIT: usize = 30;

const PURGE_OP: &str = "/zones/{zone_id}/purge_cache";
const ZONES_OP: &str = "/zones";
const VERIFY_OP: &str = "/user/tokens/verify";
const API_PREFIX: &str = "/client/v4";
const PURGE_KEYS: [&str; 5] = ["files", "tags", "hosts", "prefixes", "purge_everything"];
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// A zone the fake knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    pub id: String,
    pub name: String,
    /// "active", "pending", "initializing" or "moved".
    pub status: String,
    pub account_id: String,
    pub account_name: String,
}

impl Zone {
    /// An active zone in the default account.
    pub fn new(id: &str, name: &str) -> Zone {
        Zone {
            id: id.to_string(),
            name: name.to_string(),
            status: "active".to_string(),
            account_id: ACCOUNT_ID.to_string(),
            account_name: "Sitepurge Test Account".to_string(),
        }
    }

    /// The same zone with another status.
    pub fn with_status(mut self, status: &str) -> Zone {
        self.status = status.to_string();
        self
    }
}

/// Status token verify reports for the accepted token; anything but `Active` also makes
/// purge and zone requests with that token fail with 403 / 10000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Disabled,
    Expired,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Disabled => "disabled",
            TokenStatus::Expired => "expired",
        }
    }
}

/// Who owns the accepted API token. An account-owned token is refused (401 / 1000 "Invalid API
/// Token") by `/user/tokens/verify` although it purges fine: only
/// `/accounts/{account_id}/tokens/verify` of its own account knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenOwner {
    User,
    Account,
}

/// What the fake accepts. `Config::default()` accepts [`TOKEN`] and [`EMAIL`]+[`API_KEY`],
/// knows one zone ([`ZONE_ID`], [`ZONE_NAME`]) and allows [`DEFAULT_MAX_FILES`] files.
#[derive(Clone, Debug)]
pub struct Config {
    /// Accepted `Authorization: Bearer` token; `None` rejects every token.
    pub token: Option<String>,
    pub token_status: TokenStatus,
    pub token_owner: TokenOwner,
    /// Accepted `X-Auth-Email` + `X-Auth-Key` pair; `None` rejects every pair.
    pub email_key: Option<(String, String)>,
    pub zones: Vec<Zone>,
    /// Most files one purge request may name; more is a violation (a client bug).
    pub max_files: usize,
    /// Most files the zone's plan takes per request, if fewer than `max_files`: a purge naming
    /// more is refused with 400 / 1015 as the real API refuses it, and is *not* a violation (a
    /// client cannot know the plan's limit before it is told).
    pub plan_limit: Option<usize>,
    /// A purge naming a URL that contains one of these is refused whole with 400 / 1016, as a
    /// stricter API would refuse a URL it considers malformed (not a rule violation).
    pub refused_urls: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            token: Some(TOKEN.to_string()),
            token_status: TokenStatus::Active,
            token_owner: TokenOwner::User,
            email_key: Some((EMAIL.to_string(), API_KEY.to_string())),
            zones: vec![Zone::new(ZONE_ID, ZONE_NAME)],
            max_files: DEFAULT_MAX_FILES,
            plan_limit: None,
            refused_urls: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scripted behaviours
// ---------------------------------------------------------------------------------------------

/// How the fake answers one purge request instead of processing it normally.
#[derive(Clone, Debug, PartialEq)]
pub enum Behaviour {
    /// Answer with this HTTP status, optional `Retry-After` header and JSON body
    /// (should be an error envelope; it is schema-checked like every response).
    Status {
        code: u16,
        retry_after: Option<String>,
        body: Value,
    },
    /// HTTP 200 with `success: false` and one error (code 10001).
    SuccessFalse,
    /// Read the request, then close the connection without sending a single byte.
    Drop,
    /// Carry the purge out, then close the connection without answering: the client cannot
    /// know it was done (a connection lost after the work).
    DropAfterPurge,
    /// Wait this long, then process the request normally.
    Delay(Duration),
    /// Hold the request until the fake has received `count` requests in all (this one
    /// included; at most 10 s), then behave as `then`: makes "these requests were in flight
    /// together" a fact rather than a race with the machine's load.
    AfterRequests { count: usize, then: Box<Behaviour> },
    /// Answer with an arbitrary body (for instance an HTML 502 page from the edge); not
    /// schema-checked.
    Raw {
        code: u16,
        content_type: String,
        body: String,
    },
}

impl Behaviour {
    /// `Status` with a realistic error envelope for `code` and no `Retry-After`
    /// (429: code 971 "Please wait and consider throttling your request speed";
    /// other codes: 10001 and the reason phrase).
    pub fn status(code: u16) -> Behaviour {
        Behaviour::Status {
            code,
            retry_after: None,
            body: default_error_body(code),
        }
    }

    /// 429 with `Retry-After: <retry_after>` and the rate-limit envelope (code 971).
    pub fn rate_limited(retry_after: &str) -> Behaviour {
        Behaviour::Status {
            code: 429,
            retry_after: Some(retry_after.to_string()),
            body: default_error_body(429),
        }
    }
}

/// `{"success":false,"errors":[{"code":code,"message":message}],"messages":[],"result":null}`.
pub fn error_envelope(code: i64, message: &str) -> Value {
    ApiError::new(code, message).envelope()
}

fn default_error_body(status: u16) -> Value {
    if status == 429 {
        error_envelope(
            971,
            "Please wait and consider throttling your request speed",
        )
    } else {
        error_envelope(10001, reason(status))
    }
}

/// One entry of `errors`, possibly with an `error_chain`.
#[derive(Clone, Debug)]
struct ApiError {
    code: i64,
    message: String,
    chain: Vec<(i64, String)>,
}

impl ApiError {
    fn new(code: i64, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            chain: Vec::new(),
        }
    }

    fn headers(chain: Vec<(i64, &str)>) -> ApiError {
        ApiError {
            code: 6003,
            message: "Invalid request headers".to_string(),
            chain: chain.into_iter().map(|(c, m)| (c, m.to_string())).collect(),
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({ "code": self.code, "message": self.message });
        if !self.chain.is_empty() {
            v["error_chain"] = self
                .chain
                .iter()
                .map(|(code, message)| json!({ "code": code, "message": message }))
                .collect();
        }
        v
    }

    fn envelope(&self) -> Value {
        envelope_of(std::slice::from_ref(self))
    }
}

fn envelope_of(errors: &[ApiError]) -> Value {
    json!({
        "success": false,
        "errors": errors.iter().map(ApiError::to_json).collect::<Vec<_>>(),
        "messages": [],
        "result": null,
    })
}

// ---------------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------------

/// A request body as received.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Empty,
    Json(Value),
    /// Not JSON: the bytes as (lossy) UTF-8.
    Text(String),
}

/// One request the fake received, whatever it answered.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Position among all requests, from 0.
    pub seq: usize,
    /// Which TCP connection carried it (from 0, in accept order); equal numbers mean keep-alive reuse.
    pub connection: u64,
    pub method: String,
    /// Path without the query, as sent (not percent-decoded).
    pub path: String,
    /// Raw query string without `?`.
    pub query: Option<String>,
    /// Header names lower-cased, values verbatim, in the order sent (repeats kept).
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// When the whole request had been read.
    pub received: Instant,
    /// Status answered; `None` if the connection was dropped without an answer (or not yet answered).
    pub status: Option<u16>,
    /// The JSON body answered, if any.
    pub response: Option<Value>,
}

impl RecordedRequest {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// Every value of a header, in order (name case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The parsed JSON body, if the body was JSON.
    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            Body::Json(v) => Some(v),
            _ => None,
        }
    }

    /// Decoded query pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    /// The zone id if this is a `POST .../zones/{id}/purge_cache`.
    pub fn purge_zone(&self) -> Option<&str> {
        match route(&self.method, &self.path) {
            Route::Purge(_) => self
                .path
                .strip_prefix("/client/v4/zones/")
                .and_then(|rest| rest.strip_suffix("/purge_cache")),
            _ => None,
        }
    }

    /// True for purge requests.
    pub fn is_purge(&self) -> bool {
        self.purge_zone().is_some()
    }
}

#[derive(Default)]
struct State {
    config: Config,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    script: VecDeque<Behaviour>,
    fail_all: Option<u16>,
    latency: Duration,
    in_flight: usize,
    max_in_flight: usize,
    connections: u64,
    files: BTreeSet<String>,
    /// Every purge carried out: when, and the file URLs it named.
    purge_log: Vec<(Instant, Vec<String>)>,
    hosts: BTreeSet<String>,
    tags: BTreeSet<String>,
    prefixes: BTreeSet<String>,
    everything: usize,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts a purge request as in flight until dropped (after its answer is written).
struct InFlight(Shared);

impl InFlight {
    fn enter(shared: &Shared) -> InFlight {
        let mut st = lock(shared);
        st.in_flight += 1;
        st.max_in_flight = st.max_in_flight.max(st.in_flight);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = lock(&self.0);
        st.in_flight = st.in_flight.saturating_sub(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The server handle
// ---------------------------------------------------------------------------------------------

/// The running fake. Dropping it stops the server and closes every connection.
pub struct FakeCloudflare {
    addr: SocketAddr,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeCloudflare {
    /// Starts with [`Config::default`].
    pub fn start() -> FakeCloudflare {
        FakeCloudflare::with_config(Config::default())
    }

    /// Starts on 127.0.0.1 with an OS-chosen port, in a background thread with its own runtime.
    pub fn with_config(config: Config) -> FakeCloudflare {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("fake cloudflare: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("fake cloudflare: set_nonblocking");
        let addr = listener.local_addr().expect("fake cloudflare: local_addr");
        let shared: Shared = Arc::new(Mutex::new(State {
            config,
            ..State::default()
        }));
        // Load the spec now so a broken fixture fails the test, not a server task.
        let _ = Spec::get();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-cloudflare-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake cloudflare: tokio runtime");
                runtime.block_on(async move {
                    let listener =
                        TcpListener::from_std(listener).expect("fake cloudflare: listener");
                    tokio::select! {
                        () = accept_loop(listener, state) => {}
                        _ = rx => {}
                    }
                });
                // Dropping the runtime cancels every connection task and closes its socket.
            })
            .expect("fake cloudflare: spawn thread");
        FakeCloudflare {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/client/v4` — the API base to hand to the client.
    pub fn base_url(&self) -> String {
        format!("http://{}{API_PREFIX}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Appends a behaviour to the FIFO queue consumed by successive purge requests.
    pub fn push(&self, behaviour: Behaviour) {
        lock(&self.shared).script.push_back(behaviour);
    }

    /// Appends several behaviours, in order.
    pub fn script(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        lock(&self.shared).script.extend(behaviours);
    }

    /// Forgets the behaviours still queued.
    pub fn clear_script(&self) {
        lock(&self.shared).script.clear();
    }

    /// Behaviours still queued.
    pub fn pending_script(&self) -> usize {
        lock(&self.shared).script.len()
    }

    /// `Some(status)`: every purge not covered by the queue fails with
    /// [`Behaviour::status`]`(status)`; `None`: back to normal.
    pub fn fail_all(&self, status: Option<u16>) {
        lock(&self.shared).fail_all = status;
    }

    /// Extra time every normally processed purge takes (makes concurrency observable).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared).latency = latency;
    }

    /// Changes the status of the accepted token.
    pub fn set_token_status(&self, status: TokenStatus) {
        lock(&self.shared).config.token_status = status;
    }

    /// From now on, refuse (400 / 1016) every purge request naming a URL that contains `part`.
    pub fn refuse_urls_containing(&self, part: &str) {
        lock(&self.shared)
            .config
            .refused_urls
            .push(part.to_string());
    }

    /// Changes the most files one purge request may name.
    pub fn set_max_files(&self, max_files: usize) {
        lock(&self.shared).config.max_files = max_files;
    }

    /// Makes the accepted token user- or account-owned.
    pub fn set_token_owner(&self, owner: TokenOwner) {
        lock(&self.shared).config.token_owner = owner;
    }

    /// Makes the zone's plan take at most `limit` files per purge (see [`Config::plan_limit`]).
    pub fn set_plan_limit(&self, limit: usize) {
        lock(&self.shared).config.plan_limit = Some(limit);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// The purge requests received so far, in order.
    pub fn purge_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_purge)
            .collect()
    }

    /// Files purged by requests answered with success. A string entry is its URL; a
    /// `{url, headers}` entry is `url` alone when `headers` is absent or empty, else
    /// `url` + one space + the headers as compact JSON with sorted keys.
    pub fn purged_files(&self) -> BTreeSet<String> {
        lock(&self.shared).files.clone()
    }

    /// Hosts purged by successful requests.
    /// Every purge carried out (answered or not): when, and the file URLs it named.
    pub fn purge_log(&self) -> Vec<(Instant, Vec<String>)> {
        lock(&self.shared).purge_log.clone()
    }

    pub fn purged_hosts(&self) -> BTreeSet<String> {
        lock(&self.shared).hosts.clone()
    }

    /// Tags purged by successful requests.
    pub fn purged_tags(&self) -> BTreeSet<String> {
        lock(&self.shared).tags.clone()
    }

    /// Prefixes purged by successful requests.
    pub fn purged_prefixes(&self) -> BTreeSet<String> {
        lock(&self.shared).prefixes.clone()
    }

    /// How many successful `purge_everything` requests were received.
    pub fn purged_everything(&self) -> usize {
        lock(&self.shared).everything
    }

    /// Rule breaks seen so far (by the client, or `response ...` by the fake itself).
    pub fn violations(&self) -> Vec<String> {
        lock(&self.shared).violations.clone()
    }

    /// Most purge requests that were in flight at the same time.
    pub fn max_in_flight(&self) -> usize {
        lock(&self.shared).max_in_flight
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        lock(&self.shared).connections
    }
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 plumbing
// ---------------------------------------------------------------------------------------------

async fn accept_loop(listener: TcpListener, shared: Shared) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let id = {
                    let mut st = lock(&shared);
                    st.connections += 1;
                    st.connections - 1
                };
                tokio::spawn(serve_connection(stream, shared.clone(), id));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

struct RawRequest {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let connection = self.header("connection").unwrap_or("").to_ascii_lowercase();
        if self.version == "HTTP/1.0" {
            connection.contains("keep-alive")
        } else {
            !connection.contains("close")
        }
    }
}

enum Reply {
    Json {
        status: u16,
        headers: Vec<(String, String)>,
        body: Value,
    },
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
    Drop,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply::Json {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn error(status: u16, error: ApiError) -> Reply {
        Reply::json(status, error.envelope())
    }
}

async fn serve_connection(mut stream: TcpStream, shared: Shared, connection: u64) {
    let mut buf = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buf).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(problem) => {
                lock(&shared).violations.push(format!(
                    "connection {connection}: bad HTTP request: {problem}"
                ));
                let body = b"bad request";
                let head = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body).await;
                let _ = stream.shutdown().await;
                return;
            }
        };
        let keep_alive = request.keep_alive();
        let (reply, seq, in_flight) = handle(&shared, connection, request).await;
        let (status, content_type, extra, body) = match reply {
            Reply::Drop => {
                let _ = stream.shutdown().await;
                drop(in_flight);
                return;
            }
            Reply::Json {
                status,
                headers,
                body,
            } => (
                status,
                "application/json".to_string(),
                headers,
                body.to_string().into_bytes(),
            ),
            Reply::Raw {
                status,
                content_type,
                body,
            } => (status, content_type, Vec::new(), body.into_bytes()),
        };
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: {}\r\nserver: cloudflare\r\ncf-ray: {seq:016x}-FAKE\r\n",
            reason(status),
            body.len(),
            if keep_alive { "keep-alive" } else { "close" },
        );
        for (name, value) in extra {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        let written = stream.write_all(&bytes).await.is_ok() && stream.flush().await.is_ok();
        drop(in_flight);
        if !written || !keep_alive {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Reads more bytes into `buf`; Ok(0) at end of stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream
        .read(&mut chunk)
        .await
        .map_err(|e| format!("read error: {e}"))?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Takes one CRLF-terminated line from the front of `buf`, reading more as needed.
async fn take_line(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<String, String> {
    loop {
        if let Some(pos) = find(buf, b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..pos]).into_owned();
            buf.drain(..pos + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err("line too long".into());
        }
        if fill(stream, buf).await? == 0 {
            return Err("connection closed inside a chunked body".into());
        }
    }
}

/// Takes exactly `n` bytes from the front of `buf`, reading more as needed.
async fn take_bytes(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    n: usize,
) -> Result<Vec<u8>, String> {
    while buf.len() < n {
        if fill(stream, buf).await? == 0 {
            return Err(format!(
                "connection closed after {} of {n} body bytes",
                buf.len()
            ));
        }
    }
    Ok(buf.drain(..n).collect())
}

/// Reads one request; Ok(None) when the peer closed the connection between requests.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<Option<RawRequest>, String> {
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err("request head larger than 64 KiB".into());
        }
        if fill(stream, buf).await? == 0 {
            return if buf.iter().all(u8::is_ascii_whitespace) {
                Ok(None)
            } else {
                Err("connection closed inside the request head".into())
            };
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    // Tolerate blank lines before the request line (RFC 9112 section 2.2).
    let mut lines = head.split("\r\n").skip_while(|l| l.is_empty());
    let request_line = lines.next().ok_or("empty request head")?;
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(format!("malformed request line {request_line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported protocol {version:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {line:?}"))?;
        if name.is_empty() || name.ends_with(' ') || name.ends_with('\t') {
            return Err(format!("malformed header name {name:?}"));
        }
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    let mut request = RawRequest {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let lengths: BTreeSet<&str> = request
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.as_str())
        .collect();
    let expects_continue = request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    if expects_continue && (chunked || !lengths.is_empty()) && buf.is_empty() {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|e| format!("write error: {e}"))?;
    }
    if chunked {
        let mut body = Vec::new();
        loop {
            let line = take_line(stream, buf).await?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                // Trailers, up to an empty line.
                while !take_line(stream, buf).await?.is_empty() {}
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err("body larger than 16 MiB".into());
            }
            body.extend(take_bytes(stream, buf, size).await?);
            if !take_line(stream, buf).await?.is_empty() {
                return Err("chunk not followed by CRLF".into());
            }
        }
        request.body = body;
    } else if !lengths.is_empty() {
        if lengths.len() > 1 {
            return Err("conflicting content-length headers".into());
        }
        let len: usize = lengths
            .iter()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or("unparsable content-length")?;
        if len > MAX_BODY {
            return Err("body larger than 16 MiB".into());
        }
        request.body = take_bytes(stream, buf, len).await?;
    }
    Ok(Some(request))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        520..=527 => "Origin Error",
        _ => "Unknown",
    }
}

// ---------------------------------------------------------------------------------------------
// Routing and handlers
// ---------------------------------------------------------------------------------------------

enum Route {
    Purge(String),
    Zones,
    Zone(String),
    Verify,
    AccountVerify(String),
    WrongMethod(&'static str),
    Unknown,
}

fn route(method: &str, path: &str) -> Route {
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return Route::Unknown;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let (expected, found) = match segments[..] {
        ["", "zones", id, "purge_cache"] if !id.is_empty() => {
            ("POST", Route::Purge(id.to_string()))
        }
        ["", "zones"] => ("GET", Route::Zones),
        ["", "zones", id] if !id.is_empty() => ("GET", Route::Zone(id.to_string())),
        ["", "user", "tokens", "verify"] => ("GET", Route::Verify),
        ["", "accounts", id, "tokens", "verify"] if !id.is_empty() => {
            ("GET", Route::AccountVerify(id.to_string()))
        }
        _ => return Route::Unknown,
    };
    if method == expected {
        found
    } else {
        Route::WrongMethod(expected)
    }
}

/// Schemas a response of an operation is checked against.
#[derive(Clone, Copy)]
enum Operation {
    Purge,
    Zones,
    Zone,
    Verify,
}

/// `GET /zones/{zone_id}` is not in the subset: its success is the zones envelope with one
/// `zones_zone` as `result`.
fn zone_schema() -> &'static Value {
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        let spec = Spec::get();
        json!({ "allOf": [
            spec.component("zones_api-response-common"),
            { "type": "object", "properties": { "result": spec.component("zones_zone") } },
        ]})
    })
}

impl Operation {
    fn success_schema(self) -> (&'static Value, String) {
        let (path, method) = match self {
            Operation::Purge => (PURGE_OP, "post"),
            Operation::Zones => (ZONES_OP, "get"),
            Operation::Zone => {
                return (
                    zone_schema(),
                    "zones_api-response-common + zones_zone".into(),
                );
            }
            Operation::Verify => (VERIFY_OP, "get"),
        };
        (
            Spec::get().response_schema(path, method, "200"),
            format!("{} {path} 200", method.to_uppercase()),
        )
    }

    /// README quirk 2: the published 4XX schemas cannot be satisfied, so error bodies are
    /// checked against the plain failure envelope of the operation's family.
    fn failure_schema(self) -> (&'static Value, String) {
        let name = match self {
            Operation::Purge => "cache-purge_api-response-common-failure",
            Operation::Zones | Operation::Zone => "zones_api-response-common-failure",
            Operation::Verify => "iam_api-response-common-failure",
        };
        (Spec::get().component(name), name.to_string())
    }
}

struct Incoming {
    seq: usize,
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Incoming {
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    fn label(&self) -> String {
        format!("request #{} {} {}", self.seq, self.method, self.path)
    }
}

async fn handle(
    shared: &Shared,
    connection: u64,
    raw: RawRequest,
) -> (Reply, usize, Option<InFlight>) {
    let (path, query) = match raw.target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (raw.target.clone(), None),
    };
    let body = if raw.body.is_empty() {
        Body::Empty
    } else {
        match serde_json::from_slice::<Value>(&raw.body) {
            Ok(v) => Body::Json(v),
            Err(_) => Body::Text(String::from_utf8_lossy(&raw.body).into_owned()),
        }
    };
    let seq = {
        let mut st = lock(shared);
        let seq = st.requests.len();
        st.requests.push(RecordedRequest {
            seq,
            connection,
            method: raw.method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: raw.headers.clone(),
            body: body.clone(),
            received: Instant::now(),
            status: None,
            response: None,
        });
        seq
    };
    let req = Incoming {
        seq,
        method: raw.method,
        path,
        query,
        headers: raw.headers,
        body,
    };
    let mut violations = Vec::new();
    let (reply, operation, in_flight) = match route(&req.method, &req.path) {
        Route::Purge(zone) => {
            let in_flight = InFlight::enter(shared);
            let reply = purge(shared, &req, &zone, &mut violations).await;
            (reply, Operation::Purge, Some(in_flight))
        }
        Route::Zones => (zones(shared, &req, &mut violations), Operation::Zones, None),
        Route::Zone(id) => (
            zone(shared, &req, &id, &mut violations),
            Operation::Zone,
            None,
        ),
        Route::Verify => (
            verify(shared, &req, None, &mut violations),
            Operation::Verify,
            None,
        ),
        Route::AccountVerify(account) => (
            verify(shared, &req, Some(&account), &mut violations),
            Operation::Verify,
            None,
        ),
        Route::WrongMethod(expected) => {
            violations.push(format!("{}: method must be {expected}", req.label()));
            let reply = Reply::error(
                405,
                ApiError::new(
                    7001,
                    format!("Method {} not allowed for this route", req.method),
                ),
            );
            (reply, Operation::Purge, None)
        }
        Route::Unknown => {
            violations.push(format!("{}: no such endpoint in the fake", req.label()));
            let reply = Reply::error(400, ApiError::new(7003, "No route for that URI"));
            (reply, Operation::Purge, None)
        }
    };
    if let Reply::Json { status, body, .. } = &reply {
        check_response(&req, operation, *status, body, &mut violations);
    }
    let mut st = lock(shared);
    st.violations.extend(violations);
    if let Some(recorded) = st.requests.get_mut(seq) {
        match &reply {
            Reply::Json { status, body, .. } => {
                recorded.status = Some(*status);
                recorded.response = Some(body.clone());
            }
            Reply::Raw { status, .. } => recorded.status = Some(*status),
            Reply::Drop => {}
        }
    }
    drop(st);
    (reply, seq, in_flight)
}

/// Checks a JSON response against the subset, plus the envelope invariants the schema
/// means but does not say (`errors` empty on success, non-empty on failure).
fn check_response(req: &Incoming, op: Operation, status: u16, body: &Value, out: &mut Vec<String>) {
    let success = body.get("success").and_then(Value::as_bool);
    let (schema, name) = if success == Some(true) {
        op.success_schema()
    } else {
        op.failure_schema()
    };
    for error in openapi::validate(schema, body) {
        // Real Cloudflare answers rate limiting with code 971, below the schema's minimum 1000.
        let real_rate_limit = error.keyword == "minimum"
            && body.pointer(&error.path).and_then(Value::as_i64) == Some(971);
        if !real_rate_limit {
            out.push(format!(
                "response {status} to {}: breaks schema `{name}`: {error}",
                req.label()
            ));
        }
    }
    let errors = body.get("errors").and_then(Value::as_array).map(Vec::len);
    match success {
        Some(true) if errors != Some(0) => out.push(format!(
            "response {status} to {}: success with errors",
            req.label()
        )),
        Some(true) if status >= 400 => out.push(format!(
            "response {status} to {}: success:true with an error status",
            req.label()
        )),
        Some(false) if errors == Some(0) => out.push(format!(
            "response {status} to {}: failure without errors",
            req.label()
        )),
        _ => {}
    }
}

// --------------------------------- authentication ------------------------------------------

fn is_token_like(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_global_key_like(s: &str) -> bool {
    s.len() == 37
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_email_like(s: &str) -> bool {
    match s.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !s.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

/// Cloudflare-style credential check for purge and zone requests.
fn authenticate(
    config: &Config,
    req: &Incoming,
    violations: &mut Vec<String>,
) -> Result<(), Reply> {
    for name in ["authorization", "x-auth-email", "x-auth-key"] {
        let n = req.header_values(name).len();
        if n > 1 {
            violations.push(format!("{}: header `{name}` sent {n} times", req.label()));
        }
    }
    let authorization = req.header("authorization");
    let email = req.header("x-auth-email");
    let key = req.header("x-auth-key");
    if authorization.is_some() && (email.is_some() || key.is_some()) {
        violations.push(format!(
            "{}: both a bearer token and X-Auth-Email/X-Auth-Key sent",
            req.label()
        ));
    }
    if let Some(value) = authorization {
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .filter(|token| is_token_like(token));
        let Some(token) = token else {
            return Err(Reply::error(
                400,
                ApiError::headers(vec![(6111, "Invalid format for Authorization header")]),
            ));
        };
        if config.token.as_deref() == Some(token) && config.token_status == TokenStatus::Active {
            return Ok(());
        }
        return Err(Reply::error(
            403,
            ApiError::new(10000, "Authentication error"),
        ));
    }
    let (Some(email), Some(key)) = (email, key) else {
        return Err(Reply::error(
            400,
            ApiError::new(
                9106,
                "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
            ),
        ));
    };
    let (good_email, good_key) = match &config.email_key {
        Some((e, k)) => (e.as_str(), k.as_str()),
        None => ("", ""),
    };
    let mut chain = Vec::new();
    if email != good_email && !is_email_like(email) {
        chain.push((6102, "Invalid format for X-Auth-Email header"));
    }
    if key != good_key && !is_global_key_like(key) {
        chain.push((6103, "Invalid format for X-Auth-Key header"));
    }
    if !chain.is_empty() {
        return Err(Reply::error(400, ApiError::headers(chain)));
    }
    if config.email_key.is_some() && email == good_email && key == good_key {
        Ok(())
    } else {
        Err(Reply::error(
            403,
            ApiError::new(9103, "Unknown X-Auth-Key or X-Auth-Email"),
        ))
    }
}

// --------------------------------- purge ----------------------------------------------------

async fn purge(shared: &Shared, req: &Incoming, zone: &str, violations: &mut Vec<String>) -> Reply {
    let (behaviour, latency, config) = {
        let mut st = lock(shared);
        let behaviour = match st.script.pop_front() {
            Some(b) => Some(b),
            None => st.fail_all.map(Behaviour::status),
        };
        (behaviour, st.latency, st.config.clone())
    };
    let mut behaviour = behaviour;
    while let Some(Behaviour::AfterRequests { count, then }) = behaviour {
        let deadline = Instant::now() + Duration::from_secs(10);
        while lock(shared).requests.len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        behaviour = Some(*then);
    }
    // Body rules are checked whatever the answer, so a bad client is always reported.
    let body_errors = check_purge_body(req, config.max_files);
    for error in &body_errors {
        violations.push(format!(
            "{}: {} ({})",
            req.label(),
            error.message,
            error.code
        ));
    }
    match behaviour {
        Some(Behaviour::Drop) => return Reply::Drop,
        Some(Behaviour::DropAfterPurge) => {
            if body_errors.is_empty()
                && let Some(body) = req.json()
            {
                record_purge(shared, body);
            }
            return Reply::Drop;
        }
        Some(Behaviour::Status {
            code,
            retry_after,
            body,
        }) => {
            let headers = retry_after
                .map(|v| vec![("retry-after".to_string(), v)])
                .unwrap_or_default();
            return Reply::Json {
                status: code,
                headers,
                body,
            };
        }
        Some(Behaviour::SuccessFalse) => {
            return Reply::json(
                200,
                error_envelope(10001, "The purge request could not be processed"),
            );
        }
        Some(Behaviour::Raw {
            code,
            content_type,
            body,
        }) => {
            return Reply::Raw {
                status: code,
                content_type,
                body,
            };
        }
        Some(Behaviour::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Behaviour::AfterRequests { .. }) | None => {}
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // Re-read the config: tests may change token status or limits while a request waits.
    let config = lock(shared).config.clone();
    if let Err(reply) = authenticate(&config, req, violations) {
        return reply;
    }
    if !config.zones.iter().any(|z| z.id == zone) {
        return Reply::error(
            400,
            ApiError::new(
                7003,
                format!(
                    "Could not route to /zones/{zone}/purge_cache, perhaps your object identifier is invalid?"
                ),
            ),
        );
    }
    if !body_errors.is_empty() {
        return Reply::json(400, envelope_of(&body_errors));
    }
    let named: Vec<&str> = req
        .json()
        .and_then(|b| b.get("files"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().or_else(|| f.get("url").and_then(Value::as_str)))
        .collect();
    if let Some(limit) = config.plan_limit
        && named.len() > limit
    {
        return Reply::error(
            400,
            ApiError::new(
                1015,
                format!(
                    "Too many files: {} given, this zone takes at most {limit} per request",
                    named.len()
                ),
            ),
        );
    }
    for url in named {
        if config
            .refused_urls
            .iter()
            .any(|part| url.contains(part.as_str()))
        {
            return Reply::error(
                400,
                ApiError::new(
                    1016,
                    format!("Unable to purge {url}, which is an invalid URL"),
                ),
            );
        }
    }
    if let Some(body) = req.json() {
        record_purge(shared, body);
    }
    Reply::json(
        200,
        json!({ "success": true, "errors": [], "messages": [], "result": { "id": zone } }),
    )
}

impl Incoming {
    fn json(&self) -> Option<&Value> {
        match &self.body {
            Body::Json(v) => Some(v),
            _ => None,
        }
    }
}

fn record_purge(shared: &Shared, body: &Value) {
    let mut st = lock(shared);
    let named: Vec<String> = body
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().or_else(|| f.get("url").and_then(Value::as_str)))
        .map(str::to_string)
        .collect();
    st.purge_log.push((Instant::now(), named));
    let strings = |key: &str| -> Vec<String> {
        body.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let hosts = strings("hosts");
    let tags = strings("tags");
    let prefixes = strings("prefixes");
    st.hosts.extend(hosts);
    st.tags.extend(tags);
    st.prefixes.extend(prefixes);
    if body.get("purge_everything") == Some(&Value::Bool(true)) {
        st.everything += 1;
    }
    for file in body
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match file {
            Value::String(url) => {
                st.files.insert(url.clone());
            }
            Value::Object(obj) => {
                let url = obj.get("url").and_then(Value::as_str).unwrap_or_default();
                let headers: BTreeMap<&String, &Value> = obj
                    .get("headers")
                    .and_then(Value::as_object)
                    .map(|h| h.iter().collect())
                    .unwrap_or_default();
                let entry = if headers.is_empty() {
                    url.to_string()
                } else {
                    format!("{url} {}", json!(headers))
                };
                st.files.insert(entry);
            }
            _ => {}
        }
    }
}

/// All rule breaks of a purge request's headers and body, as Cloudflare-style errors.
fn check_purge_body(req: &Incoming, max_files: usize) -> Vec<ApiError> {
    let mut errors = Vec::new();
    let content_type = req.header("content-type").unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        errors.push(ApiError::headers(vec![(
            6105,
            "Invalid Content-Type header, valid values are application/json,multipart/form-data",
        )]));
    }
    let body = match &req.body {
        Body::Json(v) => v,
        Body::Empty => {
            errors.push(ApiError::new(1012, MISSING_KEY_MESSAGE));
            return errors;
        }
        Body::Text(_) => {
            errors.push(ApiError::new(6007, "Malformed JSON in request body"));
            return errors;
        }
    };
    // (a) The published request-body schema (permissive, README quirk 1).
    let schema = Spec::get().request_schema(PURGE_OP, "post");
    for error in openapi::validate(schema, body) {
        errors.push(ApiError::new(
            1012,
            format!("body breaks the published request schema: {error}"),
        ));
    }
    let Some(obj) = body.as_object() else {
        return errors;
    };
    // (b) The stricter rules.
    let present: Vec<&str> = PURGE_KEYS
        .iter()
        .copied()
        .filter(|k| obj.contains_key(*k))
        .collect();
    for key in obj.keys() {
        if !PURGE_KEYS.contains(&key.as_str()) {
            errors.push(ApiError::new(1012, format!("Unknown field \"{key}\"")));
        }
    }
    match present.len() {
        0 => errors.push(ApiError::new(1012, MISSING_KEY_MESSAGE)),
        1 => {}
        _ => errors.push(ApiError::new(
            1012,
            format!(
                "Only one of \"purge_everything\", \"files\", \"tags\", \"hosts\" or \"prefixes\" may be given, found {}",
                present.join(", ")
            ),
        )),
    }
    if let Some(files) = obj.get("files") {
        check_files(files, max_files, &mut errors);
    }
    for key in ["tags", "hosts", "prefixes"] {
        if let Some(list) = obj.get(key) {
            check_string_list(key, list, &mut errors);
        }
    }
    if let Some(everything) = obj.get("purge_everything")
        && everything != &Value::Bool(true)
    {
        errors.push(ApiError::new(
            1012,
            format!("\"purge_everything\" must be true, found {everything}"),
        ));
    }
    errors
}

const MISSING_KEY_MESSAGE: &str = "Request must contain one of \"purge_everything\", \"files\", \"tags\", \"hosts\" or \"prefixes\"";
const NOT_ARRAY_MESSAGE: &str = "\"files\", \"tags\", or \"hosts\" must be an array";

fn check_string_list(key: &str, list: &Value, errors: &mut Vec<ApiError>) {
    let Some(items) = list.as_array() else {
        errors.push(ApiError::new(
            1014,
            format!("{NOT_ARRAY_MESSAGE} (\"{key}\" is {list})"),
        ));
        return;
    };
    if items.is_empty() {
        errors.push(ApiError::new(1014, format!("\"{key}\" must not be empty")));
    }
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) if !s.trim().is_empty() => {
                if key == "hosts" && (s.contains("://") || s.contains('/')) {
                    errors.push(ApiError::new(
                        1014,
                        format!(
                            "hosts[{i}] {item} must be a bare hostname, without scheme or path"
                        ),
                    ));
                }
            }
            _ => errors.push(ApiError::new(
                1014,
                format!("{key}[{i}] must be a non-empty string, found {item}"),
            )),
        }
    }
}

fn check_files(files: &Value, max_files: usize, errors: &mut Vec<ApiError>) {
    let Some(items) = files.as_array() else {
        errors.push(ApiError::new(
            1014,
            format!("{NOT_ARRAY_MESSAGE} (\"files\" is {files})"),
        ));
        return;
    };
    if items.is_empty() {
        errors.push(ApiError::new(1014, "\"files\" must not be empty"));
    }
    if items.len() > max_files {
        errors.push(ApiError::new(
            1015,
            format!(
                "Too many files: {} given, at most {max_files} may be purged per request",
                items.len()
            ),
        ));
    }
    let strings = items.iter().filter(|i| i.is_string()).count();
    let objects = items.iter().filter(|i| i.is_object()).count();
    if strings > 0 && objects > 0 {
        errors.push(ApiError::new(
            1014,
            "\"files\" mixes URL strings and {url, headers} objects",
        ));
    }
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(url) => check_url(&format!("files[{i}]"), url, errors),
            Value::Object(obj) => {
                for key in obj.keys() {
                    if key != "url" && key != "headers" {
                        errors.push(ApiError::new(
                            1014,
                            format!("files[{i}] has unknown field \"{key}\""),
                        ));
                    }
                }
                match obj.get("url") {
                    Some(Value::String(url)) => check_url(&format!("files[{i}].url"), url, errors),
                    other => errors.push(ApiError::new(
                        1014,
                        format!(
                            "files[{i}].url must be a string, found {}",
                            other.map_or("nothing".to_string(), Value::to_string)
                        ),
                    )),
                }
                match obj.get("headers") {
                    None => {}
                    Some(Value::Object(headers)) => {
                        for (name, value) in headers {
                            if !value.is_string() {
                                errors.push(ApiError::new(
                                    1014,
                                    format!(
                                        "files[{i}].headers[\"{name}\"] must be a string, found {value}"
                                    ),
                                ));
                            }
                        }
                    }
                    Some(other) => errors.push(ApiError::new(
                        1014,
                        format!("files[{i}].headers must be an object of strings, found {other}"),
                    )),
                }
            }
            other => errors.push(ApiError::new(
                1014,
                format!(
                    "files[{i}] must be a URL string or a {{url, headers}} object, found {other}"
                ),
            )),
        }
    }
}

fn check_url(at: &str, url: &str, errors: &mut Vec<ApiError>) {
    if let Some(problem) = url_problem(url) {
        errors.push(ApiError::new(
            1016,
            format!("Unable to purge {url}, which is an invalid URL ({at}: {problem})"),
        ));
    }
}

/// Why `url` is not an absolute, properly percent-encoded http(s) URL, if it is not.
///
/// Characters that must appear percent-encoded are those of the URL Standard's path
/// percent-encode set (C0 controls, space, `"`, `#`, `<`, `>`, `` ` ``, `{`, `}`) in the
/// path, and of its query set (controls, space, `"`, `#`, `<`, `>`) in the query, plus
/// everything outside ASCII. `|`, `^` and `'` are left alone, as the `url` crate does.
/// Every `%` must start an escape with two upper-case hex digits.
pub fn url_problem(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let Some(after_scheme) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return Some("not an absolute http(s) URL".into());
    };
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    if after_scheme[..authority_end].is_empty() {
        return Some("no host".into());
    }
    let query_start = url.find('?');
    let bytes = url.as_bytes();
    for (i, c) in url.char_indices() {
        let in_query = query_start.is_some_and(|q| i > q);
        match c {
            ' ' => return Some(format!("raw space at byte {i}")),
            c if c.is_control() => {
                return Some(format!("raw control character {c:?} at byte {i}"));
            }
            c if !c.is_ascii() => {
                return Some(format!(
                    "raw non-ASCII character {c:?} at byte {i} (percent-encode its UTF-8 bytes)"
                ));
            }
            '#' => return Some(format!("raw '#' at byte {i} (a fragment cannot be purged)")),
            '"' | '<' | '>' => return Some(format!("raw {c:?} at byte {i}")),
            '`' | '{' | '}' if !in_query => {
                return Some(format!("raw {c:?} in the path at byte {i}"));
            }
            '%' => {
                let escape = bytes.get(i + 1..i + 3);
                match escape {
                    Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => {
                        if hex.iter().any(u8::is_ascii_lowercase) {
                            return Some(format!(
                                "lower-case hex in escape %{} at byte {i} (use upper case)",
                                String::from_utf8_lossy(hex)
                            ));
                        }
                    }
                    _ => return Some(format!("'%' at byte {i} does not start a %XX escape")),
                }
            }
            _ => {}
        }
    }
    match url::Url::parse(url) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => None,
        Ok(_) => Some("no host".into()),
        Err(e) => Some(format!("does not parse: {e}")),
    }
}

// --------------------------------- zones ----------------------------------------------------

fn zone_json(zone: &Zone) -> Value {
    let activated = if zone.status == "active" {
        json!("2024-01-02T00:01:00.12345Z")
    } else {
        Value::Null
    };
    json!({
        "id": zone.id,
        "name": zone.name,
        "status": zone.status,
        "paused": false,
        "type": "full",
        "development_mode": 0,
        "name_servers": ["bob.ns.cloudflare.com", "lola.ns.cloudflare.com"],
        "original_name_servers": null,
        "original_registrar": null,
        "original_dnshost": null,
        "created_on": "2024-01-01T05:20:00.12345Z",
        "modified_on": "2024-01-01T05:20:00.12345Z",
        "activated_on": activated,
        "meta": {
            "step": 2,
            "custom_certificate_quota": 0,
            "page_rule_quota": 3,
            "phishing_detected": false,
        },
        "owner": { "id": TOKEN_ID, "type": "user", "name": "Sitepurge Test User" },
        "account": { "id": zone.account_id, "name": zone.account_name },
        "permissions": ["#cache_purge:edit", "#zone:read"],
        "plan": {
            "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "name": "Free Website",
            "price": 0,
            "currency": "USD",
            "frequency": "",
            "is_subscribed": false,
            "can_subscribe": false,
            "legacy_id": "free",
            "legacy_discount": false,
            "externally_managed": false,
        },
    })
}

/// `name`-style filter: `contains:`, `starts_with:`, `ends_with:` or exact (case-insensitive).
fn text_matches(filter: &str, value: &str) -> bool {
    let value = value.to_ascii_lowercase();
    let filter = filter.to_ascii_lowercase();
    if let Some(f) = filter.strip_prefix("contains:") {
        value.contains(f)
    } else if let Some(f) = filter.strip_prefix("starts_with:") {
        value.starts_with(f)
    } else if let Some(f) = filter.strip_prefix("ends_with:") {
        value.ends_with(f)
    } else {
        value == filter
    }
}

type ZoneFilter = Box<dyn Fn(&Zone) -> bool>;

fn zones(shared: &Shared, req: &Incoming, violations: &mut Vec<String>) -> Reply {
    let config = lock(shared).config.clone();
    if let Err(reply) = authenticate(&config, req, violations) {
        return reply;
    }
    let spec = Spec::get();
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(req.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let mut errors = Vec::new();
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &pairs {
        if params.insert(name.clone(), value.clone()).is_some() {
            errors.push(format!("query parameter `{name}` given twice"));
        }
        // Unknown parameters are ignored, as Cloudflare does.
        let Some(schema) = spec.query_parameter(ZONES_OP, "get", name) else {
            continue;
        };
        let typed = match schema.get("type").and_then(Value::as_str) {
            Some("number" | "integer") => match value.parse::<f64>() {
                Ok(n) => json!(n),
                Err(_) => {
                    errors.push(format!(
                        "query parameter `{name}`={value:?} is not a number"
                    ));
                    continue;
                }
            },
            _ => json!(value),
        };
        for error in openapi::validate(schema, &typed) {
            errors.push(format!(
                "query parameter `{name}`={value:?}: {}",
                error.message
            ));
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            violations.push(format!("{}: {e}", req.label()));
        }
        let api_errors: Vec<ApiError> = errors
            .into_iter()
            .map(|e| ApiError::new(1001, format!("Invalid {e}")))
            .collect();
        return Reply::json(400, envelope_of(&api_errors));
    }
    let any = params.get("match").map(String::as_str) == Some("any");
    let mut filters: Vec<ZoneFilter> = Vec::new();
    if let Some(f) = params.get("name").cloned() {
        filters.push(Box::new(move |z| text_matches(&f, &z.name)));
    }
    if let Some(f) = params.get("status").cloned() {
        filters.push(Box::new(move |z| z.status == f));
    }
    if let Some(f) = params.get("account.id").cloned() {
        filters.push(Box::new(move |z| z.account_id == f));
    }
    if let Some(f) = params.get("account.name").cloned() {
        filters.push(Box::new(move |z| text_matches(&f, &z.account_name)));
    }
    let mut found: Vec<&Zone> = config
        .zones
        .iter()
        .filter(|z| {
            filters.is_empty()
                || if any {
                    filters.iter().any(|f| f(z))
                } else {
                    filters.iter().all(|f| f(z))
                }
        })
        .collect();
    if let Some(order) = params.get("order") {
        let key = |z: &Zone| match order.as_str() {
            "status" => z.status.clone(),
            "account.id" => z.account_id.clone(),
            "account.name" => z.account_name.clone(),
            _ => z.name.clone(),
        };
        found.sort_by_key(|z| key(z));
        if params.get("direction").map(String::as_str) == Some("desc") {
            found.reverse();
        }
    }
    let number = |name: &str, default: usize| -> usize {
        params
            .get(name)
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(default, |n| n as usize)
    };
    let per_page = number("per_page", 20).max(1);
    let page = number("page", 1).max(1);
    let total = found.len();
    let page_items: Vec<Value> = found
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|z| zone_json(z))
        .collect();
    Reply::json(
        200,
        json!({
            "success": true,
            "errors": [],
            "messages": [],
            "result": page_items,
            "result_info": {
                "page": page,
                "per_page": per_page,
                "count": page_items.len(),
                "total_count": total,
                "total_pages": total.div_ceil(per_page),
            },
        }),
    )
}

// --------------------------------- token verify ---------------------------------------------

/// `GET /zones/{zone_id}`: one zone, as in the list.
fn zone(shared: &Shared, req: &Incoming, id: &str, violations: &mut Vec<String>) -> Reply {
    let config = lock(shared).config.clone();
    if let Err(reply) = authenticate(&config, req, violations) {
        return reply;
    }
    if req.query.is_some() {
        violations.push(format!("{}: a query on a single zone", req.label()));
    }
    match config.zones.iter().find(|z| z.id == id) {
        Some(z) => Reply::json(
            200,
            json!({ "success": true, "errors": [], "messages": [], "result": zone_json(z) }),
        ),
        None => Reply::error(
            400,
            ApiError::new(
                7003,
                format!(
                    "Could not route to /zones/{id}, perhaps your object identifier is invalid?"
                ),
            ),
        ),
    }
}

/// Token verify, at the user endpoint (`account` None) or an account's.
fn verify(
    shared: &Shared,
    req: &Incoming,
    account: Option<&str>,
    violations: &mut Vec<String>,
) -> Reply {
    let config = lock(shared).config.clone();
    let values = req.header_values("authorization");
    if values.len() > 1 {
        violations.push(format!(
            "{}: header `authorization` sent {} times",
            req.label(),
            values.len()
        ));
    }
    let Some(value) = values.first() else {
        violations.push(format!(
            "{}: token verify called without an Authorization header",
            req.label()
        ));
        return Reply::error(
            400,
            ApiError::new(
                9106,
                "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
            ),
        );
    };
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .filter(|token| is_token_like(token));
    let Some(token) = token else {
        return Reply::error(
            400,
            ApiError::headers(vec![(6111, "Invalid format for Authorization header")]),
        );
    };
    // Each endpoint knows only its own tokens: the user's, or this account's.
    let known_here = match (config.token_owner, account) {
        (TokenOwner::User, None) => true,
        (TokenOwner::Account, Some(id)) => config.zones.iter().any(|z| z.account_id == id),
        _ => false,
    };
    if config.token.as_deref() != Some(token) || !known_here {
        return Reply::error(401, ApiError::new(1000, "Invalid API Token"));
    }
    let mut result = json!({ "id": TOKEN_ID, "status": config.token_status.as_str() });
    let mut messages = Vec::new();
    match config.token_status {
        TokenStatus::Active => messages.push(json!({
            "code": 10000,
            "message": "This API Token is valid and active",
            "type": null,
        })),
        TokenStatus::Expired => {
            result["expires_on"] = json!("2020-01-01T00:00:00Z");
        }
        TokenStatus::Disabled => {}
    }
    Reply::json(
        200,
        json!({ "success": true, "errors": [], "messages": messages, "result": result }),
    )
}
