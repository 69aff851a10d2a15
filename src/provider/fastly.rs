//! Fastly's API: one `POST /purge/{host}/{path}` per URL (soft with `Fastly-Soft-Purge: 1`),
//! `POST /service/{id}/purge_all` for everything, the API token in `Fastly-Key`, and the
//! `Fastly-RateLimit-Remaining` / `Fastly-RateLimit-Reset` headers honoured by waiting, not
//! failing. `GET /tokens/self` reads the token's scopes and services for `verify`. (`PURGE <url>`
//! sent to the site itself also works on Fastly; that is `http-purge`.)

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use super::{Failure, FailureKind, Purger, Request};
use crate::secret::Secret;

pub const DEFAULT_API_BASE: &str = "https://api.fastly.com";

/// The longest wait for a rate-limit window to reset, so a confused answer cannot park a run
/// for an hour (a request sent too early is answered 429 and retried like any other).
const LONGEST_RESET_WAIT: Duration = Duration::from_secs(600);

/// Below this many requests left in a window, the rest are spread over the time to its reset.
const FEW_LEFT: u64 = 10;

/// Fastly as a [`Purger`] for one service.
#[derive(Debug)]
pub struct Fastly {
    http: reqwest::Client,
    base: String,
    token: Secret,
    pub service_id: String,
    pub soft: bool,
    /// Set when an answer said few or no requests are left in this rate-limit window: the
    /// next request waits until then.
    wait_until: Mutex<Option<SystemTime>>,
}

impl Clone for Fastly {
    fn clone(&self) -> Fastly {
        Fastly {
            http: self.http.clone(),
            base: self.base.clone(),
            token: self.token.clone(),
            service_id: self.service_id.clone(),
            soft: self.soft,
            wait_until: Mutex::new(self.wait_until.lock().ok().and_then(|w| *w)),
        }
    }
}

impl Fastly {
    pub fn new(
        base: &str,
        token: Secret,
        service_id: String,
        soft: bool,
        transport: &super::Transport,
    ) -> Result<Fastly, String> {
        Ok(Fastly {
            http: super::http_client(transport)?,
            base: base.trim_end_matches('/').to_string(),
            token,
            service_id,
            soft,
            wait_until: Mutex::new(None),
        })
    }

    fn headers(&self, soft: bool) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(mut v) = HeaderValue::from_str(self.token.expose()) {
            v.set_sensitive(true);
            headers.insert("fastly-key", v);
        }
        headers.insert("accept", HeaderValue::from_static("application/json"));
        if soft {
            headers.insert("fastly-soft-purge", HeaderValue::from_static("1"));
        }
        headers
    }

    async fn post(&self, path: &str, soft: bool, describe: &str) -> Result<(), Failure> {
        let (status, limits, text) = self
            .call(reqwest::Method::POST, path, soft, describe)
            .await?;
        classify(status, limits, &text, describe)
    }

    /// Sends one request (after any rate-limit wait) and returns the status, the rate-limit
    /// headers and the body with the token blanked out.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        soft: bool,
        describe: &str,
    ) -> Result<(u16, RateLimit, String), Failure> {
        let pause = self.wait_until.lock().ok().and_then(|w| *w);
        if let Some(until) = pause
            && let Ok(wait) = until.duration_since(SystemTime::now())
        {
            tokio::time::sleep(wait.min(LONGEST_RESET_WAIT)).await;
        }
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .headers(self.headers(soft))
            .send()
            .await
            .map_err(|e| transport_failure(describe, &e))?;
        let status = resp.status().as_u16();
        let now = SystemTime::now();
        let limits = RateLimit::of(resp.headers(), now);
        let text = resp
            .text()
            .await
            .map_err(|e| transport_failure(describe, &e))?;
        // An answer may echo the request: the token is blanked before anything of it is kept.
        let text = scrub(&text, self.token.expose());
        if let Ok(mut w) = self.wait_until.lock() {
            *w = limits.next_request_at;
        }
        Ok((status, limits, text))
    }

    /// `GET /tokens/self`: the token sitepurge holds, as the API sees it.
    pub async fn current_token(&self) -> Result<Token, Failure> {
        let describe = "GET /tokens/self";
        let (status, limits, text) = self
            .call(reqwest::Method::GET, "/tokens/self", false, describe)
            .await?;
        if !(200..300).contains(&status) {
            let mut failure = classify(status, limits, &text, describe)
                .err()
                .unwrap_or_else(|| Failure::new(FailureKind::Rejected, Some(status), describe));
            if matches!(status, 401 | 403) {
                failure.hint = Some(format!(
                    "the token (FASTLY_API_TOKEN or [fastly] token_file) is invalid, expired or revoked: create an API token with the purge_select scope (and purge_all, to purge everything) for the service {}",
                    self.service_id
                ));
            }
            return Err(failure);
        }
        Token::parse(&text).map_err(|m| {
            Failure::new(
                FailureKind::Rejected,
                Some(status),
                format!("{describe}: the answer is not a Fastly token ({m})"),
            )
        })
    }
}

/// The current API token, from `GET /tokens/self` (the API reference's `TokenResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Token {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The space-delimited `scope`, split; `global` when absent (the reference's default).
    pub scopes: Vec<String>,
    /// The services the token is limited to; empty: every service of the account.
    pub services: Vec<String>,
    pub expires_at: Option<String>,
}

impl Token {
    pub fn parse(body: &str) -> Result<Token, String> {
        let json: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        if !json.is_object() {
            return Err("not a JSON object".into());
        }
        let text = |k: &str| json[k].as_str().map(str::to_string);
        let scopes: Vec<String> = json["scope"]
            .as_str()
            .unwrap_or("global")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let services = json["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        Ok(Token {
            id: text("id"),
            name: text("name"),
            scopes,
            services,
            expires_at: text("expires_at"),
        })
    }

    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == "global")
    }

    /// URL purges need `purge_select` (or `global`).
    pub fn purges_urls(&self) -> bool {
        self.has("purge_select")
    }

    /// `purge_all` needs `purge_all` (or `global`).
    pub fn purges_all(&self) -> bool {
        self.has("purge_all")
    }

    /// Whether the token may act on this service: it lists no services, or this one.
    pub fn covers(&self, service_id: &str) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| s == service_id)
    }
}

fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "<redacted>")
    }
}

fn transport_failure(describe: &str, e: &reqwest::Error) -> Failure {
    let detail = if e.is_timeout() {
        format!("{describe}: no answer in time")
    } else {
        format!("{describe}: {}", super::root_cause(e))
    };
    Failure::new(FailureKind::Transient, None, detail)
}

/// What the rate-limit headers of one answer say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `Retry-After`, else (on a 429) the time to `Fastly-RateLimit-Reset`.
    pub retry_after: Option<Duration>,
    /// When few requests are left in the window, when the next may go: with none left, at the
    /// reset; with `n` left, a `1/n` share of the time to the reset from now, so the rest of the
    /// window is spread out rather than spent at once.
    pub next_request_at: Option<SystemTime>,
}

impl RateLimit {
    /// Reads `Retry-After`, `Fastly-RateLimit-Remaining` and `Fastly-RateLimit-Reset` (UTC
    /// epoch seconds) as of `now`.
    pub fn of(headers: &HeaderMap, now: SystemTime) -> RateLimit {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let reset = text("fastly-ratelimit-reset")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let remaining =
            text("fastly-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok());
        let until_reset = reset.map(|r| r.duration_since(now).unwrap_or(Duration::ZERO));
        let next_request_at = match (remaining, until_reset) {
            (Some(0), Some(wait)) => Some(now + wait),
            (Some(n), Some(wait)) if n < FEW_LEFT => {
                Some(now + wait / u32::try_from(n).unwrap_or(u32::MAX))
            }
            _ => None,
        };
        RateLimit {
            retry_after: text(RETRY_AFTER.as_str())
                .and_then(|v| super::cloudflare::parse_retry_after(v, now))
                .or(until_reset),
            next_request_at,
        }
    }
}

/// Turns an answer into done or a classified failure. Done is a 2xx whose JSON says
/// `"status": "ok"`, as the API reference shows for both purges.
pub fn classify(status: u16, limits: RateLimit, body: &str, describe: &str) -> Result<(), Failure> {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let ok = json.as_ref().and_then(|j| j["status"].as_str()) == Some("ok");
    if (200..300).contains(&status) && ok {
        return Ok(());
    }
    let kind = match status {
        429 | 408 | 500..=599 => FailureKind::Transient,
        401 | 403 => FailureKind::Credentials,
        _ => FailureKind::Rejected,
    };
    // Fastly's errors are `{"msg": ..., "detail": ...}`.
    let said: Vec<&str> = ["msg", "detail"]
        .iter()
        .filter_map(|k| json.as_ref().and_then(|j| j[*k].as_str()))
        .filter(|s| !s.is_empty())
        .collect();
    let detail = if (200..300).contains(&status) {
        format!("{describe}: the answer is not a Fastly purge answer (no \"status\": \"ok\")")
    } else if (300..400).contains(&status) {
        format!(
            "{describe}: the API answered with a redirect, which is not followed: is FASTLY_API_BASE_URL right?"
        )
    } else if said.is_empty() {
        let snippet: String = body.chars().take(200).collect();
        format!("{describe}: {}", snippet.trim())
    } else {
        format!("{describe}: {}", said.join(": "))
    };
    let mut failure = Failure::new(
        kind,
        Some(status),
        detail.trim_end_matches(": ").to_string(),
    );
    failure.rate_limited = status == 429;
    failure.retry_after = if matches!(status, 429 | 503) {
        limits.retry_after
    } else {
        None
    };
    failure.hint = match status {
        401 | 403 => Some(
            "the Fastly API token (FASTLY_API_TOKEN or [fastly] token_file) was refused: it needs the purge_select scope for URLs and purge_all for everything, on this service".into(),
        ),
        404 if describe.contains("purge_all") => Some(
            "no such service: check [fastly] service_id (the service's id, not its name)".into(),
        ),
        _ => None,
    };
    Err(failure)
}

/// `host[:port]/path?query` of a URL: what follows `/purge/` (the API reference's
/// `cached_url`, without a scheme).
pub fn cached_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    if parsed.host_str().is_none() || rest.is_empty() {
        return Err(format!("{url} has no host"));
    }
    // As written: the path is already percent-encoded the way browsers send it.
    Ok(rest.split('#').next().unwrap_or(rest).to_string())
}

impl Purger for Fastly {
    fn name(&self) -> &'static str {
        "fastly"
    }

    fn target(&self) -> String {
        format!("service {}", self.service_id)
    }

    fn batch_size(&self) -> usize {
        1
    }

    fn everything(&self) -> Vec<Request> {
        vec![Request::Everything]
    }

    async fn send(&self, request: &Request) -> Result<(), Failure> {
        match request {
            Request::Files(entries) => {
                let mut sent: Vec<&str> = Vec::new();
                for entry in entries {
                    // Cache-key header sets mean nothing here: one purge per URL.
                    if sent.contains(&entry.url.as_str()) {
                        continue;
                    }
                    sent.push(&entry.url);
                    let cached = cached_url(&entry.url)
                        .map_err(|m| Failure::new(FailureKind::Rejected, None, m))?;
                    let describe = format!("POST /purge/{cached}");
                    self.post(&format!("/purge/{cached}"), self.soft, &describe)
                        .await?;
                }
                Ok(())
            }
            Request::Everything => {
                // The API has no soft purge_all.
                let path = format!("/service/{}/purge_all", self.service_id);
                let describe = format!("POST {path}");
                self.post(&path, false, &describe).await
            }
            Request::Hosts(_) | Request::Prefixes(_) => Err(Failure::new(
                FailureKind::Rejected,
                None,
                "fastly purges a whole service only (purge_all), not host names or prefixes",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn the_cached_url_is_the_url_without_its_scheme() {
        assert_eq!(
            cached_url("https://www.example.com/caf%C3%A9/").expect("url"),
            "www.example.com/caf%C3%A9/"
        );
        assert_eq!(
            cached_url("http://localhost:8080/a?b=1").expect("url"),
            "localhost:8080/a?b=1"
        );
        assert!(cached_url("not a url").is_err());
    }

    #[test]
    fn done_is_a_2xx_that_says_ok() {
        let none = RateLimit::default();
        assert!(classify(200, none, r#"{"status":"ok","id":"1-2-3"}"#, "x").is_ok());
        let f = classify(200, none, "<html>hi</html>", "POST /purge/x").expect_err("not ok");
        assert_eq!(f.kind, FailureKind::Rejected);
        assert!(f.detail.contains("not a Fastly purge answer"), "{f}");
        for status in [429, 408, 500, 503] {
            assert_eq!(
                classify(status, none, "", "x").expect_err("x").kind,
                FailureKind::Transient
            );
        }
        let refused = classify(
            401,
            none,
            r#"{"msg":"Provided credentials are missing or invalid"}"#,
            "POST /purge/example.com/a",
        )
        .expect_err("401");
        assert_eq!(refused.kind, FailureKind::Credentials);
        assert!(refused.detail.contains("missing or invalid"), "{refused}");
        assert!(refused.hint.unwrap_or_default().contains("purge_select"));
        let unknown = classify(404, none, "{}", "POST /service/x/purge_all").expect_err("404");
        assert!(unknown.hint.unwrap_or_default().contains("service_id"));
    }

    #[test]
    fn rate_limit_headers_give_the_wait() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_452_032_000);
        let h = headers(&[
            ("fastly-ratelimit-remaining", "0"),
            ("fastly-ratelimit-reset", "1452032384"),
        ]);
        let limits = RateLimit::of(&h, now);
        assert_eq!(limits.retry_after, Some(Duration::from_secs(384)));
        assert_eq!(
            limits.next_request_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_452_032_384))
        );
        let plenty = headers(&[
            ("fastly-ratelimit-remaining", "999"),
            ("fastly-ratelimit-reset", "1452032384"),
        ]);
        assert_eq!(RateLimit::of(&plenty, now).next_request_at, None);
        // 4 left for 384 s: the next one goes in 96 s.
        let few = headers(&[
            ("fastly-ratelimit-remaining", "4"),
            ("fastly-ratelimit-reset", "1452032384"),
        ]);
        assert_eq!(
            RateLimit::of(&few, now).next_request_at,
            Some(now + Duration::from_secs(96))
        );
        assert_eq!(RateLimit::of(&HeaderMap::new(), now), RateLimit::default());
        // Retry-After wins over the reset.
        let both = headers(&[
            ("retry-after", "7"),
            ("fastly-ratelimit-reset", "1452032384"),
        ]);
        assert_eq!(
            RateLimit::of(&both, now).retry_after,
            Some(Duration::from_secs(7))
        );
        let f = classify(429, RateLimit::of(&h, now), "", "x").expect_err("429");
        assert!(f.rate_limited);
        assert_eq!(f.retry_after, Some(Duration::from_secs(384)));
    }

    #[test]
    fn a_token_is_read_for_its_scopes_and_services() {
        let t = Token::parse(
            r#"{"id":"5Yo3XXnrQpjc20u0ybrf2g","name":"ci","scope":"purge_select purge_all","services":["SU1Z0isxPaozGVKXdv0eY"],"expires_at":null}"#,
        )
        .expect("token");
        assert_eq!(t.scopes, ["purge_select", "purge_all"]);
        assert!(t.purges_urls() && t.purges_all());
        assert!(t.covers("SU1Z0isxPaozGVKXdv0eY"));
        assert!(!t.covers("other"));
        assert_eq!(t.expires_at, None);
        let read_only = Token::parse(r#"{"scope":"global:read"}"#).expect("token");
        assert!(!read_only.purges_urls() && !read_only.purges_all());
        assert!(read_only.covers("anything"));
        // No scope is the default, global; no services is every service.
        let global = Token::parse("{}").expect("token");
        assert!(global.purges_urls() && global.purges_all());
        let select = Token::parse(r#"{"scope":"purge_select"}"#).expect("token");
        assert!(select.purges_urls() && !select.purges_all());
        assert!(Token::parse("[]").is_err());
        assert!(Token::parse("<html>").is_err());
    }

    #[test]
    fn the_token_is_sensitive_and_soft_purge_is_a_header() {
        let transport = super::super::Transport::new(
            Duration::from_secs(5),
            &std::collections::BTreeMap::new(),
        );
        let f = Fastly::new(
            "http://127.0.0.1:1",
            Secret::new("tok-123"),
            "svc".into(),
            true,
            &transport,
        )
        .expect("client");
        let h = f.headers(true);
        assert_eq!(h["fastly-key"], "tok-123");
        assert!(h["fastly-key"].is_sensitive());
        assert_eq!(h["fastly-soft-purge"], "1");
        assert!(!f.headers(false).contains_key("fastly-soft-purge"));
        assert!(!format!("{f:?}").contains("tok-123"));
    }
}
