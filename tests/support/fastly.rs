//! A stand-in for the Fastly API operations sitepurge uses (two purges, and `GET /tokens/self`
//! for `verify`), built from the published API reference as recorded in `tests/fixtures/fastly/api.json` (with its sources). Every request
//! is checked against that fixture: operation (method and path), the auth header, the headers
//! each operation allows (and forbids: no soft `purge_all`), an empty body, and the form of
//! `cached_url` (no scheme, a host, percent-encoded). A break is answered 400 and recorded in
//! [`FakeFastly::violations`]; every answer it builds is checked against the fixture's
//! response shape too. The token it answers for has the scopes and services
//! [`FakeFastly::set_token`] gives (by default `purge_select purge_all` on [`SERVICE_ID`]).
//!
//! Beyond the reference, for tests: scripted answers ([`FakeFastly::push`]), URLs that always
//! fail ([`FakeFastly::fail_urls_containing`]), and a rate-limit window ([`FakeFastly::set_window`])
//! that, stricter than Fastly (which limits only `purge_all`), counts every request, reports
//! `Fastly-RateLimit-Remaining`/`-Reset` on each answer, and records a violation for a request
//! sent while the window is spent.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::cloudflare::url_problem;
use super::fake_api::{Answer, FakeApi, Recorded};

/// The API token the fake accepts.
pub const TOKEN: &str = "fastly-TEST-0123456789abcdefghijklmnopq";
/// The service the fake knows.
pub const SERVICE_ID: &str = "SU1Z0isxPaozGVKXdv0eY";

/// The reference fixture.
pub fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fastly/api.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("fastly fixture"))
            .expect("fastly fixture is JSON")
    })
}

#[derive(Default)]
struct State {
    script: VecDeque<Answer>,
    fail_urls: Vec<String>,
    violations: Vec<String>,
    purged: BTreeSet<String>,
    soft: BTreeSet<String>,
    purge_all: usize,
    /// (requests per window, window length, requests left, window end).
    window: Option<(u64, Duration, u64, SystemTime)>,
    next_id: u64,
    /// (scope, services) of the token, as `GET /tokens/self` shows them.
    token: Option<(String, Vec<String>)>,
}

pub struct FakeFastly {
    api: FakeApi,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeFastly {
    pub fn start() -> FakeFastly {
        let _ = reference();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let api = FakeApi::start(move |req| handle(&shared, req));
        FakeFastly { api, state }
    }

    /// What `FASTLY_API_BASE_URL` should be.
    pub fn base_url(&self) -> String {
        self.api.base_url()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.api.requests()
    }

    /// The next request is answered with this (after the checks, which still record).
    pub fn push(&self, answer: Answer) {
        lock(&self.state).script.push_back(answer);
    }

    /// Every purge of a URL containing `part` is answered 500.
    pub fn fail_urls_containing(&self, part: &str) {
        lock(&self.state).fail_urls.push(part.to_string());
    }

    pub fn heal(&self) {
        lock(&self.state).fail_urls.clear();
    }

    /// `requests` per `length`, counted over every request (see the module doc).
    pub fn set_window(&self, requests: u64, length: Duration) {
        lock(&self.state).window = Some((requests, length, requests, SystemTime::now() + length));
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
    }

    /// `cached_url`s purged (hard or soft).
    pub fn purged(&self) -> BTreeSet<String> {
        lock(&self.state).purged.clone()
    }

    /// `cached_url`s purged soft.
    pub fn purged_soft(&self) -> BTreeSet<String> {
        lock(&self.state).soft.clone()
    }

    pub fn purge_all_count(&self) -> usize {
        lock(&self.state).purge_all
    }

    /// The accepted token's `scope` (space-delimited) and `services` (empty: all).
    pub fn set_token(&self, scope: &str, services: &[&str]) {
        lock(&self.state).token = Some((
            scope.to_string(),
            services.iter().map(|s| s.to_string()).collect(),
        ));
    }
}

enum Operation {
    Url(String),
    All(String),
    Token,
}

fn operation(req: &Recorded) -> Option<(&'static str, Operation)> {
    if req.path == "/tokens/self" {
        return Some(("get_token_current", Operation::Token));
    }
    if let Some(cached) = req.path.strip_prefix("/purge/") {
        return Some(("purge_single_url", Operation::Url(cached.to_string())));
    }
    let rest = req.path.strip_prefix("/service/")?;
    let (id, tail) = rest.split_once('/')?;
    (tail == "purge_all").then(|| ("purge_all", Operation::All(id.to_string())))
}

fn error(status: u16, msg: &str) -> Answer {
    Answer::new(status, json!({ "msg": msg, "detail": "" }).to_string())
}

fn handle(state: &Mutex<State>, req: &Recorded) -> Answer {
    let reference = reference();
    let label = format!("request #{} {} {}", req.seq, req.method, req.path);
    let mut violations = Vec::new();
    let answer = if window_spent(state) {
        violations.push(format!(
            "{label}: sent while the rate-limit window was spent (Remaining: 0)"
        ));
        error(429, "Too many requests")
    } else {
        check_and_answer(state, reference, req, &label, &mut violations)
    };
    let answer = with_window(state, answer);
    // The answers the fake builds must have the reference's shape.
    if (200..300).contains(&answer.status) {
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        let op = operation(req).map(|(name, _)| name);
        if op == Some("get_token_current") {
            let shape = &reference["operations"]["get_token_current"]["responses"]["200"];
            for (field, kind) in shape.as_object().into_iter().flatten() {
                let value = &body[field.as_str()];
                let fits = match kind.as_str().unwrap_or_default() {
                    "string" => value.is_string(),
                    "array" => value.is_array(),
                    "string or null" => value.is_string() || value.is_null(),
                    _ => false,
                };
                if !fits {
                    violations.push(format!("response to {label}: {field} is not a {kind}"));
                }
            }
        } else if body["status"] != "ok" || !body["id"].is_string() {
            violations.push(format!("response to {label}: not {{status: ok, id}}"));
        }
    }
    lock(state).violations.extend(violations);
    answer
}

fn check_and_answer(
    state: &Mutex<State>,
    reference: &Value,
    req: &Recorded,
    label: &str,
    violations: &mut Vec<String>,
) -> Answer {
    let Some((name, op)) = operation(req) else {
        violations.push(format!("{label}: no such operation in the reference"));
        return error(404, "Not found");
    };
    let spec = &reference["operations"][name];
    if req.method != spec["method"].as_str().unwrap_or_default() {
        violations.push(format!("{label}: {name} must be {}", spec["method"]));
        return error(405, "Method not allowed");
    }
    if !req.body.is_empty() || req.query.is_some() {
        violations.push(format!("{label}: {name} takes no body and no query"));
    }
    for (header, rule) in spec["headers"].as_object().into_iter().flatten() {
        for value in req.header_values(header) {
            if Some(value) != rule["value"].as_str() {
                violations.push(format!(
                    "{label}: {header}: {value:?} is not {}",
                    rule["value"]
                ));
            }
        }
    }
    for header in spec["forbidden_headers"].as_array().into_iter().flatten() {
        let header = header.as_str().unwrap_or_default();
        if req.header(header).is_some() {
            violations.push(format!("{label}: {name} does not take {header}"));
        }
    }
    let auth = reference["auth"]["header"].as_str().unwrap_or_default();
    let keys = req.header_values(auth);
    if keys.len() > 1 {
        violations.push(format!("{label}: {auth} sent {} times", keys.len()));
    }
    if req.header("authorization").is_some() {
        violations.push(format!(
            "{label}: Authorization sent; Fastly's API takes {auth}"
        ));
    }
    if keys.first() != Some(&TOKEN) {
        return error(401, "Provided credentials are missing or invalid");
    }
    let mut st = lock(state);
    st.next_id += 1;
    let ok = Answer::new(
        200,
        json!({ "status": "ok", "id": format!("108-1391560174-{}", st.next_id) }).to_string(),
    );
    match op {
        Operation::Url(cached) => {
            if cached.contains("://") || cached.is_empty() || cached.starts_with('/') {
                violations.push(format!(
                    "{label}: cached_url {cached:?} must be host/path without a scheme"
                ));
                return error(400, "Bad cached_url");
            }
            if let Some(problem) = url_problem(&format!("https://{cached}")) {
                violations.push(format!("{label}: cached_url {cached:?}: {problem}"));
                return error(400, "Bad cached_url");
            }
            if let Some(answer) = st.script.pop_front() {
                return answer;
            }
            if st.fail_urls.iter().any(|p| cached.contains(p.as_str())) {
                return error(500, "Internal Server Error");
            }
            if req.header("fastly-soft-purge").is_some() {
                st.soft.insert(cached.clone());
            }
            st.purged.insert(cached);
            ok
        }
        Operation::All(id) => {
            if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                violations.push(format!("{label}: service_id {id:?} is not alphanumeric"));
            }
            if let Some(answer) = st.script.pop_front() {
                return answer;
            }
            if id != SERVICE_ID {
                return error(404, "Record not found");
            }
            st.purge_all += 1;
            Answer::new(
                200,
                json!({ "status": "ok", "id": "purge-all" }).to_string(),
            )
        }
        Operation::Token => {
            if let Some(answer) = st.script.pop_front() {
                return answer;
            }
            let (scope, services) = st
                .token
                .clone()
                .unwrap_or_else(|| ("purge_select purge_all".into(), vec![SERVICE_ID.into()]));
            let known = &reference["auth"]["known_scopes"];
            for s in scope.split_whitespace() {
                if !known.as_array().into_iter().flatten().any(|k| k == s) {
                    violations.push(format!(
                        "set_token: {s:?} is not a scope the reference knows"
                    ));
                }
            }
            Answer::new(
                200,
                json!({
                    "id": "5Yo3XXnrQpjc20u0ybrf2g",
                    "user_id": "4y5K5trZocEAQYkesWlk7M",
                    "name": "sitepurge-ci",
                    "scope": scope,
                    "services": services,
                    "created_at": "2026-01-15T10:00:00Z",
                    "expires_at": null,
                    "last_used_at": "2026-11-30T12:00:00Z",
                })
                .to_string(),
            )
        }
    }
}

/// Whether the window (if set) has no request left; starts a new window when the old one ended.
fn window_spent(state: &Mutex<State>) -> bool {
    let mut st = lock(state);
    let Some((per, length, left, end)) = st.window else {
        return false;
    };
    let now = SystemTime::now();
    if now >= end {
        st.window = Some((per, length, per, now + length));
        return false;
    }
    left == 0
}

/// Counts the request against the window (if set and not spent) and adds the rate-limit
/// headers the reference names.
fn with_window(state: &Mutex<State>, answer: Answer) -> Answer {
    let mut st = lock(state);
    let Some((per, length, mut left, end)) = st.window else {
        return answer;
    };
    if answer.status != 429 {
        left = left.saturating_sub(1);
    }
    st.window = Some((per, length, left, end));
    let reset = end
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
    let names = &reference()["rate_limit"]["headers"];
    answer
        .with_header(
            names["remaining"].as_str().unwrap_or_default(),
            left.to_string(),
        )
        .with_header(
            names["reset"].as_str().unwrap_or_default(),
            reset.to_string(),
        )
}
