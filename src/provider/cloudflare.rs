//! Cloudflare v4 API: a thin client for the three calls sitepurge makes (purge, zone lookup,
//! token verify), the envelope rules (`success: false` is a failure even with HTTP 200), and hints
//! for the error codes people actually hit.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, Failure, FailureKind, Purger, Request};
use crate::secret::Secret;

pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// The largest `files` list Cloudflare accepts on any plan.
pub const MAX_BATCH_SIZE: usize = 500;

/// What "purge everything" sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Everything {
    /// Purge the site's own host names, so other apps in the same zone keep their cache.
    #[default]
    Hosts,
    /// Purge the whole zone.
    Zone,
}

/// `batch_size = "auto"`: the first try, what Cloudflare's cache docs give for purges since
/// instant purge (2025)...
pub const AUTO_BATCH_SIZE: usize = 100;
/// ...and where "auto" falls back to when a zone refuses that count: the URL-purge limit the
/// API reference and older docs give for Free, Pro and Business plans.
pub const FALLBACK_BATCH_SIZE: usize = 30;

/// How many URLs go in one purge request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BatchSize {
    /// [`AUTO_BATCH_SIZE`], dropping to [`FALLBACK_BATCH_SIZE`] for good if the zone refuses it.
    #[default]
    Auto,
    /// This many, always (a refused batch is split to find a refused URL, as for any 400).
    Fixed(usize),
}

/// Whether a refusal of a purge of `sent` files may be for their count. Cloudflare documents
/// no error code or message for it, and its docs disagree on the count (100, or 30 for URL
/// purges below Enterprise), so any 400 refusal of a request above [`FALLBACK_BATCH_SIZE`]
/// counts: [`FALLBACK_BATCH_SIZE`] works on every plan, and a URL refused for itself is still
/// found by splitting the smaller requests.
pub fn is_too_many_files(sent: usize, failure: &Failure) -> bool {
    failure.status == Some(400)
        && failure.kind == FailureKind::Rejected
        && sent > FALLBACK_BATCH_SIZE
}

/// How requests prove who sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// An API token, sent as `Authorization: Bearer` (preferred).
    Token(Secret),
    /// The legacy global API key with the account's e-mail address.
    Key { email: String, key: Secret },
}

impl Auth {
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut sensitive = |name: &'static str, value: &str| {
            if let Ok(mut v) = HeaderValue::from_str(value) {
                v.set_sensitive(true);
                headers.insert(name, v);
            }
        };
        match self {
            Auth::Token(token) => sensitive("authorization", &format!("Bearer {}", token.expose())),
            Auth::Key { email, key } => {
                sensitive("x-auth-email", email);
                sensitive("x-auth-key", key.expose());
            }
        }
        headers
    }

    /// `text` with every occurrence of the secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        let secret = match self {
            Auth::Token(t) => t.expose(),
            Auth::Key { key, .. } => key.expose(),
        };
        if secret.is_empty() {
            return text.to_string();
        }
        text.replace(secret, "<redacted>")
    }

    /// Whether the secret can travel in an HTTP header at all.
    pub fn is_sendable(&self) -> bool {
        // Tokens, keys and e-mail addresses are printable ASCII without spaces.
        let printable = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic());
        match self {
            Auth::Token(t) => printable(t.expose()),
            Auth::Key { email, key } => printable(email) && printable(key.expose()),
        }
    }

    /// How the credentials are described to the user (never the secret).
    pub fn describe(&self) -> String {
        match self {
            Auth::Token(_) => "API token (CLOUDFLARE_API_TOKEN or token_file)".into(),
            Auth::Key { email, .. } => format!("global API key of {email}"),
        }
    }
}

/// The zone as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneRef {
    Id(String),
    Name(String),
}

impl ZoneRef {
    /// A 32-hex id, or a domain name; `None` for anything else.
    pub fn parse(text: &str) -> Option<ZoneRef> {
        let t = text.trim();
        if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(ZoneRef::Id(t.to_ascii_lowercase()));
        }
        // A Unicode name becomes its ASCII (punycode) form, as Cloudflare lists it.
        let unicode = t.trim_end_matches('.').to_lowercase();
        let name = url::Url::parse(&format!("http://{unicode}/"))
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or(unicode);
        let label_ok =
            |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        (name.contains('.') && name.split('.').all(label_ok)).then_some(ZoneRef::Name(name))
    }
}

/// The registrable domain of a host (`www.blog.example.co.uk` -> `example.co.uk`): the zone
/// name when none is given.
pub fn registrable_domain(host: &str) -> Option<String> {
    psl::domain_str(host).map(str::to_string)
}

/// Checks the API base URL: https, or plain http only to a loopback host (a local test server
/// or proxy), since credentials travel in its headers.
pub fn check_api_base(raw: &str) -> Result<String, String> {
    let text = &crate::secret::redact(raw);
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{text:?} carries a user name or password: credentials go in CLOUDFLARE_API_TOKEN"
        ));
    }
    let loopback = crate::secret::is_loopback(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{text:?} is plain http to a host that is not loopback: credentials would travel unencrypted"
            ));
        }
        _ => return Err(format!("{text:?} is not an http(s) URL")),
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The Cloudflare API, authenticated.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub status: String,
    /// The account that holds the zone (where an account-owned token is verified).
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    pub id: String,
    pub status: String,
    pub expires_on: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    success: Option<bool>,
    #[serde(default)]
    errors: Vec<ApiError>,
    #[serde(default)]
    result: Value,
}

impl Api {
    pub fn new(base: &str, auth: Auth, transport: &super::Transport) -> Result<Api, String> {
        let http = super::http_client(transport)?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut url = url::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Failure::new(FailureKind::Rejected, None, format!("bad API URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut req = self.http.request(method, url).headers(self.auth.headers());
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| super::transport_failure(&e))?;
        let status = resp.status().as_u16();
        let retry_after = super::retry_after(&resp);
        // An answer may echo the request (a misbehaving proxy or API): the secret is blanked
        // from the whole answer before anything of it (errors, messages, results) is kept.
        let text = self.auth.scrub(
            &resp
                .text()
                .await
                .map_err(|e| super::transport_failure(&e))?,
        );
        classify(status, retry_after, &text).map_err(|mut f| {
            // The hints speak of API tokens; a global key fails for other reasons.
            if matches!(self.auth, Auth::Key { .. })
                && let Some(hint) = f.errors.iter().find_map(|e| key_hint_for(e.code))
            {
                f.hint = Some(hint.into());
            }
            f
        })
    }

    /// `POST /zones/{id}/purge_cache`.
    pub async fn purge(&self, zone_id: &str, request: &Request) -> Result<(), Failure> {
        let body = purge_body(request);
        self.call(
            reqwest::Method::POST,
            &format!("/zones/{zone_id}/purge_cache"),
            &[],
            Some(&body),
        )
        .await
        .map(|_| ())
        .map_err(|mut f| {
            if f.status == Some(400) && f.errors.iter().any(|e| e.code == 7003) {
                f.kind = FailureKind::Credentials;
            }
            f
        })
    }

    /// `GET /zones?name=`: the zone of that name visible to these credentials.
    pub async fn find_zone(&self, name: &str) -> Result<Option<Zone>, Failure> {
        let result = self
            .call(reqwest::Method::GET, "/zones", &[("name", name)], None)
            .await
            .map_err(|mut f| {
                if matches!(f.status, Some(401 | 403)) {
                    f.hint = Some(format!(
                        "looking up a zone by name needs the \"Zone Read\" permission on {name}; \
                         grant it to the token, or give the zone's 32-hex id instead (--zone or CLOUDFLARE_ZONE_ID)"
                    ));
                }
                f
            })?;
        let zones = result.as_array().cloned().unwrap_or_default();
        Ok(zones
            .iter()
            .find(|z| z["name"].as_str() == Some(name))
            .map(|z| Zone {
                id: z["id"].as_str().unwrap_or_default().to_string(),
                name: name.to_string(),
                status: z["status"].as_str().unwrap_or("unknown").to_string(),
                account_id: account_of(z),
            }))
    }

    /// `GET /zones/{id}`: the zone with this id (for the account that holds it).
    pub async fn zone(&self, zone_id: &str) -> Result<Zone, Failure> {
        let z = self
            .call(reqwest::Method::GET, &format!("/zones/{zone_id}"), &[], None)
            .await
            .map_err(|mut f| {
                if matches!(f.status, Some(401 | 403)) {
                    f.hint = Some(
                        "reading the zone needs the \"Zone Read\" permission; or set CLOUDFLARE_ACCOUNT_ID to the account that owns the token"
                            .into(),
                    );
                }
                f
            })?;
        Ok(Zone {
            id: z["id"].as_str().unwrap_or(zone_id).to_string(),
            name: z["name"].as_str().unwrap_or_default().to_string(),
            status: z["status"].as_str().unwrap_or("unknown").to_string(),
            account_id: account_of(&z),
        })
    }

    /// `GET /accounts/{account_id}/tokens/verify`: the check for an account-owned API token,
    /// which the user endpoint refuses (401) although the token works.
    pub async fn verify_account_token(&self, account_id: &str) -> Result<TokenStatus, Failure> {
        let result = self
            .call(
                reqwest::Method::GET,
                &format!("/accounts/{account_id}/tokens/verify"),
                &[],
                None,
            )
            .await?;
        Ok(token_status(&result))
    }

    /// `GET /user/tokens/verify`: whether the API token is valid and active.
    pub async fn verify_token(&self) -> Result<TokenStatus, Failure> {
        let result = self
            .call(reqwest::Method::GET, "/user/tokens/verify", &[], None)
            .await
            .map_err(|mut f| {
                if f.kind == FailureKind::Credentials {
                    f.hint = Some(
                        "the token is invalid, expired or revoked (or not a token: a global API key goes in CLOUDFLARE_API_KEY with CLOUDFLARE_EMAIL)"
                            .into(),
                    );
                }
                f
            })?;
        Ok(token_status(&result))
    }
}

fn token_status(result: &Value) -> TokenStatus {
    TokenStatus {
        id: result["id"].as_str().unwrap_or_default().to_string(),
        status: result["status"].as_str().unwrap_or("unknown").to_string(),
        expires_on: result["expires_on"].as_str().map(str::to_string),
    }
}

fn account_of(zone: &Value) -> Option<String> {
    zone["account"]["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// The JSON body for one purge request: exactly one purge key.
pub fn purge_body(request: &Request) -> Value {
    match request {
        Request::Files(entries) => {
            let files: Vec<Value> = entries
                .iter()
                .map(|e| {
                    if e.headers.is_empty() {
                        Value::String(e.url.clone())
                    } else {
                        json!({ "url": e.url, "headers": e.headers })
                    }
                })
                .collect();
            json!({ "files": files })
        }
        Request::Hosts(hosts) => json!({ "hosts": hosts }),
        Request::Prefixes(prefixes) => json!({ "prefixes": prefixes }),
        Request::Everything => json!({ "purge_everything": true }),
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Turns an HTTP answer into the result or a classified failure.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Result<Value, Failure> {
    let envelope: Option<Envelope> = serde_json::from_str(body).ok();
    let success = envelope.as_ref().and_then(|e| e.success);
    if (200..300).contains(&status) && success == Some(true) {
        return Ok(envelope.map(|e| e.result).unwrap_or(Value::Null));
    }
    let errors = envelope.map(|e| e.errors).unwrap_or_default();
    let kind = match status {
        429 | 408 | 500..=599 => FailureKind::Transient,
        300..=399 => FailureKind::Rejected,
        401 | 403 => FailureKind::Credentials,
        _ if errors.iter().any(|e| is_credentials_code(e.code)) => FailureKind::Credentials,
        _ => FailureKind::Rejected,
    };
    let detail = if (300..400).contains(&status) {
        "the API answered with a redirect, which is not followed: is CLOUDFLARE_API_BASE_URL right?"
            .to_string()
    } else if (200..300).contains(&status) {
        if success == Some(false) {
            "the API answered success: false".to_string()
        } else {
            "the answer is not a Cloudflare API envelope".to_string()
        }
    } else if errors.is_empty() {
        let snippet: String = body.chars().take(200).collect();
        snippet.trim().to_string()
    } else {
        String::new()
    };
    let mut failure = Failure::new(kind, Some(status), detail);
    failure.hint = errors
        .iter()
        .find_map(|e| hint_for(e.code))
        .map(str::to_string);
    if failure.hint.is_none() && kind == FailureKind::Credentials {
        failure.hint = Some(
            "check the credentials: `sitepurge verify` tells what the API thinks of them".into(),
        );
    }
    failure.errors = errors;
    failure.rate_limited = status == 429;
    failure.retry_after = retry_after;
    Err(failure)
}

fn is_credentials_code(code: i64) -> bool {
    matches!(
        code,
        10000 | 6003 | 6103 | 6111 | 9103 | 9106 | 9109 | 1000 | 7003
    )
}

/// What to do about the error codes people hit.
pub fn hint_for(code: i64) -> Option<&'static str> {
    Some(match code {
        10000 => {
            "the API token lacks the \"Cache Purge\" permission on this zone (or the token is for another account): edit the token's permissions in the dashboard"
        }
        6003 | 6103 | 6111 => {
            "a global API key header is malformed: an API token goes in CLOUDFLARE_API_TOKEN, not CLOUDFLARE_API_KEY"
        }
        9103 | 9106 => {
            "no valid credentials were sent: set CLOUDFLARE_API_TOKEN (or CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY)"
        }
        9109 | 1000 => "the API token is invalid or revoked: create a new one with \"Cache Purge\"",
        7003 => {
            "the zone id is wrong: copy it from the zone's Overview page in the dashboard (--zone or CLOUDFLARE_ZONE_ID)"
        }
        1012 | 1014 => {
            "Cloudflare refused the request body: this is a sitepurge bug, please report it with the output of -vv"
        }
        _ => return None,
    })
}

/// The hint for an error code when the credentials are a global API key, where the token hint
/// of [`hint_for`] would mislead.
pub fn key_hint_for(code: i64) -> Option<&'static str> {
    Some(match code {
        10000 => {
            "the global API key's account cannot purge this zone, or CLOUDFLARE_EMAIL is not the key's account: check both, or better, create an API token with \"Cache Purge\" on the zone and set CLOUDFLARE_API_TOKEN"
        }
        9109 | 1000 => {
            "the global API key or its e-mail is not valid: copy the key again (My Profile > API Tokens > Global API Key) and check CLOUDFLARE_EMAIL"
        }
        _ => return None,
    })
}

/// Cloudflare as a [`Purger`] for one zone.
#[derive(Debug, Clone)]
pub struct Cloudflare {
    pub api: Api,
    pub zone_id: String,
    /// URLs per request now (for "auto", what an earlier run learned, else [`AUTO_BATCH_SIZE`]).
    pub batch_size: usize,
    /// `batch_size = "auto"`: a refusal of the count drops to [`FALLBACK_BATCH_SIZE`].
    pub auto_batch: bool,
    /// What "everything" means: the site's hosts (and path prefixes), or the whole zone.
    pub everything: Vec<Request>,
}

impl Purger for Cloudflare {
    fn name(&self) -> &'static str {
        "cloudflare"
    }

    fn target(&self) -> String {
        format!("zone {}", self.zone_id)
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn everything(&self) -> Vec<Request> {
        self.everything.clone()
    }

    async fn send(&self, request: &Request) -> Result<(), Failure> {
        self.api.purge(&self.zone_id, request).await
    }

    fn smaller_batch(&self, request: &Request, failure: &Failure) -> Option<usize> {
        match request {
            Request::Files(entries)
                if self.auto_batch && is_too_many_files(entries.len(), failure) =>
            {
                Some(FALLBACK_BATCH_SIZE)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::FileEntry;
    use std::collections::BTreeMap;

    #[test]
    fn success_false_is_a_failure_even_with_http_200() {
        let body = r#"{"success":false,"errors":[{"code":1234,"message":"nope"}],"messages":[],"result":null}"#;
        let f = classify(200, None, body).expect_err("failure");
        assert_eq!(f.kind, FailureKind::Rejected);
        assert_eq!(f.errors[0].code, 1234);
    }

    #[test]
    fn success_true_returns_the_result() {
        let body = r#"{"success":true,"errors":[],"messages":[],"result":{"id":"abc"}}"#;
        assert_eq!(classify(200, None, body).expect("ok")["id"], "abc");
    }

    #[test]
    fn classifies_retryable_and_final_statuses() {
        for status in [429, 408, 500, 502, 503, 504] {
            assert_eq!(
                classify(status, None, "").expect_err("x").kind,
                FailureKind::Transient,
                "{status}"
            );
        }
        let auth = r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#;
        let f = classify(403, None, auth).expect_err("x");
        assert_eq!(f.kind, FailureKind::Credentials);
        assert!(
            f.hint
                .as_deref()
                .unwrap_or_default()
                .contains("Cache Purge")
        );
        assert_eq!(f.to_string(), "HTTP 403: 10000 Authentication error");
        let zone = r#"{"success":false,"errors":[{"code":7003,"message":"Could not route"}],"messages":[],"result":null}"#;
        assert_eq!(
            classify(400, None, zone).expect_err("x").kind,
            FailureKind::Credentials
        );
        let body = r#"{"success":false,"errors":[{"code":1012,"message":"bad"}],"messages":[],"result":null}"#;
        let f = classify(400, None, body).expect_err("x");
        assert_eq!(f.kind, FailureKind::Rejected);
        assert!(f.hint.as_deref().unwrap_or_default().contains("bug"));
    }

    #[test]
    fn only_a_400_to_more_than_thirty_files_may_be_for_the_count() {
        let refused = classify(400, None, r#"{"success":false,"errors":[{"code":1015,"message":"x"}],"messages":[],"result":null}"#)
            .expect_err("400");
        assert!(is_too_many_files(31, &refused));
        assert!(is_too_many_files(100, &refused));
        assert!(!is_too_many_files(30, &refused), "30 works on every plan");
        let zone = classify(400, None, r#"{"success":false,"errors":[{"code":7003,"message":"x"}],"messages":[],"result":null}"#)
            .expect_err("400");
        assert!(
            !is_too_many_files(100, &zone),
            "a wrong zone is not a count"
        );
        for status in [403, 429, 500] {
            let f = classify(status, None, "").expect_err("failure");
            assert!(!is_too_many_files(100, &f), "{status}");
        }
    }

    #[test]
    fn a_redirect_is_a_failure_not_followed() {
        let f = classify(302, None, "").expect_err("redirect");
        assert_eq!(f.kind, FailureKind::Rejected);
        assert!(f.detail.contains("redirect"));
    }

    #[test]
    fn secrets_are_scrubbed_and_unsendable_ones_detected() {
        let auth = Auth::Token(Secret::new("tok-123"));
        assert_eq!(
            auth.scrub("echo: Bearer tok-123"),
            "echo: Bearer <redacted>"
        );
        assert!(auth.is_sendable());
        assert!(!Auth::Token(Secret::new("tok\u{e9}n")).is_sendable());
        assert!(!Auth::Token(Secret::new("a\nb")).is_sendable());
    }

    #[test]
    fn rate_limit_carries_retry_after() {
        let f = classify(429, Some(Duration::from_secs(3)), "").expect_err("x");
        assert!(f.rate_limited);
        assert_eq!(f.retry_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn hints_cover_the_common_codes() {
        for code in [10000, 6003, 6103, 9106, 7003, 1012, 1014] {
            assert!(hint_for(code).is_some(), "{code}");
        }
        assert!(
            hint_for(6003)
                .unwrap_or_default()
                .contains("CLOUDFLARE_API_TOKEN")
        );
    }

    #[test]
    fn parses_retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn purge_bodies_have_exactly_one_key() {
        let plain = Request::Files(vec![FileEntry {
            url: "https://example.com/a".into(),
            headers: BTreeMap::new(),
        }]);
        assert_eq!(
            purge_body(&plain),
            json!({"files": ["https://example.com/a"]})
        );
        let with_headers = Request::Files(vec![FileEntry {
            url: "https://example.com/a".into(),
            headers: BTreeMap::from([("CF-Device-Type".into(), "mobile".into())]),
        }]);
        assert_eq!(
            purge_body(&with_headers),
            json!({"files": [{"url": "https://example.com/a", "headers": {"CF-Device-Type": "mobile"}}]})
        );
        assert_eq!(
            purge_body(&Request::Hosts(vec!["example.com".into()])),
            json!({"hosts": ["example.com"]})
        );
        assert_eq!(
            purge_body(&Request::Everything),
            json!({"purge_everything": true})
        );
    }

    #[test]
    fn zone_is_an_id_or_a_name() {
        assert_eq!(
            ZoneRef::parse("0123456789ABCDEF0123456789abcdef"),
            Some(ZoneRef::Id("0123456789abcdef0123456789abcdef".into()))
        );
        assert_eq!(
            ZoneRef::parse("Example.com."),
            Some(ZoneRef::Name("example.com".into()))
        );
        assert_eq!(ZoneRef::parse("not a zone!"), None);
        assert_eq!(
            ZoneRef::parse("bücher.de"),
            Some(ZoneRef::Name("xn--bcher-kva.de".into()))
        );
        assert_eq!(ZoneRef::parse("localhost"), None);
        assert_eq!(
            registrable_domain("www.blog.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(
            registrable_domain("example.com").as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn plain_http_api_only_on_loopback() {
        assert!(check_api_base("http://127.0.0.1:8080/client/v4").is_ok());
        assert!(check_api_base("http://localhost:1/client/v4/").is_ok());
        assert!(check_api_base("http://[::1]:1/client/v4").is_ok());
        assert!(check_api_base("https://api.cloudflare.com/client/v4").is_ok());
        assert!(check_api_base("http://api.example.com/client/v4").is_err());
        assert!(check_api_base("ftp://127.0.0.1/").is_err());
        let err = check_api_base("https://u:pw123@api.example.com/").expect_err("userinfo");
        assert!(!err.contains("pw123"), "{err}");
    }

    #[test]
    fn auth_headers_are_sensitive_and_debug_hides_secrets() {
        let auth = Auth::Token(Secret::new("tok-123"));
        let h = auth.headers();
        assert_eq!(h["authorization"], "Bearer tok-123");
        assert!(h["authorization"].is_sensitive());
        assert!(!format!("{h:?} {auth:?}").contains("tok-123"));
        let key = Auth::Key {
            email: "me@example.com".into(),
            key: Secret::new("k-456"),
        };
        assert_eq!(key.headers()["x-auth-key"], "k-456");
        assert!(!format!("{key:?}").contains("k-456"));
    }
}
