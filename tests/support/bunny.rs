//! A stand-in for the bunny.net API operations sitepurge uses (two purges, and for `verify` the
//! pull zone read and list), built from the published API reference as recorded in `tests/fixtures/bunny/api.json` (with its sources). Every request is
//! checked against that fixture: operation (method and path), the `AccessKey` header, the query
//! (`url` required and an absolute, percent-encoded http(s) URL; only the parameters the
//! reference lists, booleans as `true`/`false`), the pull zone id an integer, and no body. A
//! break is answered 400 and recorded in [`FakeBunny::violations`].
//!
//! For tests: scripted answers ([`FakeBunny::push`]) and URLs that always fail
//! ([`FakeBunny::fail_urls_containing`]).

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde_json::{Value, json};

use super::cloudflare::url_problem;
use super::fake_api::{Answer, FakeApi, Recorded};

/// The API key the fake accepts.
pub const KEY: &str = "b0a1c2d3-TEST-4e5f-6789-abcdefabcdef0123456789";
/// The pull zone the fake knows.
pub const PULL_ZONE: u64 = 4242;
/// Its name and host names, as `GET /pullzone/{id}` answers them.
pub const PULL_ZONE_NAME: &str = "sitepurge-test";
pub const PULL_ZONE_HOSTNAMES: [&str; 2] = ["sitepurge-test.b-cdn.net", "www.example.com"];
/// Secrets the pull zone's answer carries (as bunny's does: the token-authentication key, a
/// certificate key), which must never be printed.
pub const ZONE_SECRETS: [&str; 2] = ["zone-security-key-SECRET-1", "certificate-key-SECRET-2"];

/// The reference fixture.
pub fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bunny/api.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("bunny fixture"))
            .expect("bunny fixture is JSON")
    })
}

#[derive(Default)]
struct State {
    script: VecDeque<Answer>,
    fail_urls: Vec<String>,
    violations: Vec<String>,
    /// Exact URLs purged, with `exactPath=true` when given (`url exact`).
    purged: BTreeSet<String>,
    /// Wildcard URLs purged.
    wildcards: BTreeSet<String>,
    zone_purges: usize,
}

pub struct FakeBunny {
    api: FakeApi,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn error(status: u16, key: &str, message: &str) -> Answer {
    Answer::new(
        status,
        json!({ "ErrorKey": key, "Field": "", "Message": message }).to_string(),
    )
}

impl FakeBunny {
    pub fn start() -> FakeBunny {
        let _ = reference();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let api = FakeApi::start(move |req| handle(&shared, req));
        FakeBunny { api, state }
    }

    /// What `BUNNY_API_BASE_URL` should be.
    pub fn base_url(&self) -> String {
        self.api.base_url()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.api.requests()
    }

    pub fn push(&self, answer: Answer) {
        lock(&self.state).script.push_back(answer);
    }

    pub fn fail_urls_containing(&self, part: &str) {
        lock(&self.state).fail_urls.push(part.to_string());
    }

    pub fn heal(&self) {
        lock(&self.state).fail_urls.clear();
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
    }

    /// URLs purged exactly; a URL ending in `/` sent with `exactPath=true` is listed as is.
    pub fn purged(&self) -> BTreeSet<String> {
        lock(&self.state).purged.clone()
    }

    /// URLs purged as prefixes (a `*`, or a `/` without `exactPath`).
    pub fn wildcards(&self) -> BTreeSet<String> {
        lock(&self.state).wildcards.clone()
    }

    pub fn zone_purges(&self) -> usize {
        lock(&self.state).zone_purges
    }
}

fn handle(state: &Mutex<State>, req: &Recorded) -> Answer {
    let label = format!("request #{} {} {}", req.seq, req.method, req.path);
    let mut violations = Vec::new();
    let answer = check_and_answer(state, req, &label, &mut violations);
    lock(state).violations.extend(violations);
    answer
}

fn check_and_answer(
    state: &Mutex<State>,
    req: &Recorded,
    label: &str,
    violations: &mut Vec<String>,
) -> Answer {
    let reference = reference();
    let (name, zone) = if req.path == "/purge" {
        ("purge_url", None)
    } else if req.path == "/pullzone" {
        ("list_pull_zones", None)
    } else if let Some(id) = req
        .path
        .strip_prefix("/pullzone/")
        .and_then(|rest| rest.strip_suffix("/purgeCache"))
    {
        ("purge_pull_zone", Some(id.to_string()))
    } else if let Some(id) = req
        .path
        .strip_prefix("/pullzone/")
        .filter(|id| !id.contains('/'))
    {
        ("get_pull_zone", Some(id.to_string()))
    } else {
        violations.push(format!("{label}: no such operation in the reference"));
        return error(404, "not_found", "Not found");
    };
    let spec = &reference["operations"][name];
    if req.method != spec["method"].as_str().unwrap_or_default() {
        violations.push(format!("{label}: {name} must be {}", spec["method"]));
        return error(405, "method", "Method not allowed");
    }
    if !req.body.is_empty() {
        violations.push(format!("{label}: sitepurge sends {name} without a body"));
    }
    let auth = reference["auth"]["header"].as_str().unwrap_or_default();
    let keys = req.header_values(auth);
    if keys.len() > 1 {
        violations.push(format!("{label}: {auth} sent {} times", keys.len()));
    }
    if req.header("authorization").is_some() {
        violations.push(format!("{label}: Authorization sent; bunny takes {auth}"));
    }
    let pairs = req.query_pairs();
    let params = &spec["query"];
    for (k, v) in &pairs {
        match params.get(k) {
            None => violations.push(format!(
                "{label}: query parameter {k:?} is not in the reference"
            )),
            Some(p) if p["type"] == "boolean" && v != "true" && v != "false" => {
                violations.push(format!("{label}: {k}={v:?} is not a boolean"))
            }
            Some(p) if p["type"] == "integer" => {
                let n = v.parse::<u64>().ok();
                let low = p["minimum"].as_u64().unwrap_or(0);
                let high = p["maximum"].as_u64().unwrap_or(u64::MAX);
                if !n.is_some_and(|n| (low..=high).contains(&n)) {
                    violations.push(format!(
                        "{label}: {k}={v:?} is not an integer in {low}..={high}"
                    ));
                }
            }
            _ => {}
        }
        if pairs.iter().filter(|(o, _)| o == k).count() > 1 {
            violations.push(format!("{label}: query parameter {k:?} given twice"));
        }
    }
    if keys.first() != Some(&KEY) {
        return error(
            401,
            "unauthorized",
            "Authorization has been denied for this request.",
        );
    }
    let mut st = lock(state);
    match (name, zone) {
        ("list_pull_zones", _) => {
            if let Some(answer) = st.script.pop_front() {
                return answer;
            }
            Answer::new(
                200,
                json!({
                    "Items": [pull_zone()],
                    "CurrentPage": 1,
                    "TotalItems": 1,
                    "HasMoreItems": false,
                })
                .to_string(),
            )
        }
        ("get_pull_zone", Some(id)) => {
            let Ok(id) = id.parse::<u64>() else {
                violations.push(format!("{label}: pull zone id {id:?} is not an integer"));
                return error(400, "id.invalid", "The id is invalid");
            };
            if let Some(answer) = st.script.pop_front() {
                return answer;
            }
            if id != PULL_ZONE {
                return error(
                    404,
                    "pullzone.not_found",
                    "The requested Pull Zone was not found",
                );
            }
            Answer::new(200, pull_zone().to_string())
        }
        (_, None) => {
            let Some(url) = pairs
                .iter()
                .find(|(k, _)| k == "url")
                .map(|(_, v)| v.clone())
            else {
                violations.push(format!("{label}: purge without the required url"));
                return error(400, "url.required", "The url is required");
            };
            // A trailing `*` is bunny's wildcard: the rest must be a proper URL.
            let plain = url.strip_suffix('*').unwrap_or(&url);
            if let Some(problem) = url_problem(plain) {
                violations.push(format!("{label}: url {url:?}: {problem}"));
                return error(400, "url.invalid", "The url is invalid");
            }
            if let Some(answer) = st.script.pop_front() {
                return answer;
            }
            if st.fail_urls.iter().any(|p| url.contains(p.as_str())) {
                return Answer::new(500, "");
            }
            let exact = pairs.iter().any(|(k, v)| k == "exactPath" && v == "true");
            if url.ends_with('*') || (url.ends_with('/') && !exact) {
                st.wildcards.insert(url);
            } else {
                st.purged.insert(url);
            }
            Answer::new(200, "")
        }
        (_, Some(id)) => {
            if !pairs.is_empty() {
                violations.push(format!("{label}: purge_pull_zone takes no query"));
            }
            let Ok(id) = id.parse::<u64>() else {
                violations.push(format!("{label}: pull zone id {id:?} is not an integer"));
                return error(400, "id.invalid", "The id is invalid");
            };
            if let Some(answer) = st.script.pop_front() {
                return answer;
            }
            if id != PULL_ZONE {
                return error(
                    404,
                    "pullzone.not_found",
                    "The requested Pull Zone was not found",
                );
            }
            st.zone_purges += 1;
            Answer::new(204, "")
        }
    }
}

/// The pull zone as the reference's `GET /pullzone/{id}` shows it (the fields sitepurge reads,
/// and two secrets it must not print).
fn pull_zone() -> Value {
    let hostnames: Vec<Value> = PULL_ZONE_HOSTNAMES
        .iter()
        .enumerate()
        .map(|(i, h)| {
            json!({
                "Id": i + 1,
                "Value": h,
                "ForceSSL": true,
                "IsSystemHostname": h.ends_with(".b-cdn.net"),
                "HasCertificate": true,
                "CertificateKey": if i == 1 { ZONE_SECRETS[1] } else { "" },
            })
        })
        .collect();
    json!({
        "Id": PULL_ZONE,
        "Name": PULL_ZONE_NAME,
        "OriginUrl": "https://origin.example.com",
        "Enabled": true,
        "Suspended": false,
        "Hostnames": hostnames,
        "ZoneSecurityEnabled": true,
        "ZoneSecurityKey": ZONE_SECRETS[0],
    })
}
