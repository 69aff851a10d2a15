//! bunny.net's API: one `POST /purge?url=...` per URL (`exactPath=true` for a URL ending in
//! `/`, which bunny would otherwise purge as a prefix), a wildcard `https://host/path/*` for a
//! host or a path prefix, and `POST /pullzone/{id}/purgeCache` for everything when the pull zone
//! is known. The API key travels in `AccessKey`; `verify` reads the pull zone (or lists pull
//! zones) with it.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::{Failure, FailureKind, Purger, Request};
use crate::secret::Secret;

pub const DEFAULT_API_BASE: &str = "https://api.bunny.net";

/// bunny.net as a [`Purger`].
#[derive(Debug, Clone)]
pub struct Bunny {
    http: reqwest::Client,
    base: String,
    key: Secret,
    /// The pull zone to clear for "everything"; without it, everything is a wildcard purge
    /// of each of the site's hosts (and path prefixes).
    pub pull_zone_id: Option<u64>,
    /// The site's `host[:port]`s and `host[:port]/path` prefixes, for wildcard purges.
    pub scopes: (Vec<String>, Vec<String>),
    /// The scheme of each `host[:port]`, for wildcard URLs.
    pub schemes: BTreeMap<String, String>,
}

/// The default of `[bunny] wildcard_from` (the fewest changed URLs one wildcard stands for,
/// see `crate::compact`): bunny.net takes about 5 exact purges a second and
/// one prefix purge every 2 seconds (its rate-limit page), so a folder of 10 changed URLs costs
/// about the same either way, and more go faster as one wildcard.
pub const WILDCARD_FROM: usize = 10;

impl Bunny {
    pub fn new(
        base: &str,
        key: Secret,
        pull_zone_id: Option<u64>,
        transport: &super::Transport,
    ) -> Result<Bunny, String> {
        Ok(Bunny {
            http: super::http_client(transport)?,
            base: base.trim_end_matches('/').to_string(),
            key,
            pull_zone_id,
            scopes: (Vec::new(), Vec::new()),
            schemes: BTreeMap::new(),
        })
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(mut v) = HeaderValue::from_str(self.key.expose()) {
            v.set_sensitive(true);
            headers.insert("accesskey", v);
        }
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers
    }

    async fn post(
        &self,
        path: &str,
        query: &[(&str, &str)],
        describe: &str,
    ) -> Result<(), Failure> {
        self.call(reqwest::Method::POST, path, query, describe)
            .await
            .map(drop)
    }

    /// Sends one request; a 2xx gives its body (the key blanked out), else a classified failure.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        describe: &str,
    ) -> Result<String, Failure> {
        let mut url = url::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Failure::new(FailureKind::Rejected, None, format!("bad API URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let resp = self
            .http
            .request(method, url)
            .headers(self.headers())
            .send()
            .await
            .map_err(|e| transport_failure(describe, &e))?;
        let status = resp.status().as_u16();
        let retry_after = super::retry_after(&resp);
        let text = resp
            .text()
            .await
            .map_err(|e| transport_failure(describe, &e))?;
        let secret = self.key.expose();
        let text = if secret.is_empty() {
            text
        } else {
            text.replace(secret, "<redacted>")
        };
        classify(status, retry_after, &text, describe).map(|()| text)
    }

    /// Reads the pull zone (`GET /pullzone/{id}`) when one is set, else the first page of the
    /// account's pull zones (`GET /pullzone?page=1&perPage=5`): either needs a valid key.
    pub async fn check_key(&self) -> Result<Option<PullZone>, Failure> {
        match self.pull_zone_id {
            Some(id) => {
                let path = format!("/pullzone/{id}");
                let describe = format!("GET {path}");
                let text = self
                    .call(reqwest::Method::GET, &path, &[], &describe)
                    .await?;
                PullZone::parse(&text).map(Some).map_err(|m| {
                    Failure::new(
                        FailureKind::Rejected,
                        None,
                        format!("{describe}: the answer is not a pull zone ({m})"),
                    )
                })
            }
            None => {
                let query = [("page", "1"), ("perPage", "5")];
                self.call(
                    reqwest::Method::GET,
                    "/pullzone",
                    &query,
                    "GET /pullzone?page=1&perPage=5",
                )
                .await?;
                Ok(None)
            }
        }
    }

    /// `https://host/path/*` for a host or a `host/path` prefix.
    pub fn wildcard(&self, scope: &str) -> String {
        let (host, path) = scope.split_once('/').unwrap_or((scope, ""));
        let scheme = self.schemes.get(host).map_or("https", String::as_str);
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            format!("{scheme}://{host}/*")
        } else {
            format!("{scheme}://{host}/{path}/*")
        }
    }
}

/// What `verify` shows of a pull zone: its name and host names. The rest of the answer (which
/// can hold certificate keys and the token-authentication key) is not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullZone {
    pub name: Option<String>,
    pub hostnames: Vec<String>,
}

impl PullZone {
    pub fn parse(body: &str) -> Result<PullZone, String> {
        let json: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        if !json.is_object() {
            return Err("not a JSON object".into());
        }
        Ok(PullZone {
            name: json["Name"].as_str().map(str::to_string),
            hostnames: json["Hostnames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["Value"].as_str().map(str::to_string))
                .collect(),
        })
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

/// Turns an answer into done or a classified failure: any 2xx is done (the reference gives 200
/// for a URL purge and 204 for a pull zone's).
pub fn classify(
    status: u16,
    retry_after: Option<std::time::Duration>,
    body: &str,
    describe: &str,
) -> Result<(), Failure> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let kind = match status {
        429 | 408 | 500..=599 => FailureKind::Transient,
        401 | 403 => FailureKind::Credentials,
        _ => FailureKind::Rejected,
    };
    // bunny's errors are `{"ErrorKey": ..., "Field": ..., "Message": ...}`.
    let json: Option<Value> = serde_json::from_str(body).ok();
    let said: Vec<&str> = ["ErrorKey", "Message"]
        .iter()
        .filter_map(|k| json.as_ref().and_then(|j| j[*k].as_str()))
        .filter(|s| !s.is_empty())
        .collect();
    let detail = if (300..400).contains(&status) {
        format!(
            "{describe}: the API answered with a redirect, which is not followed: is BUNNY_API_BASE_URL right?"
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
    failure.retry_after = retry_after;
    failure.hint = match status {
        401 | 403 => Some(
            "the bunny.net API key (BUNNY_API_KEY or [bunny] token_file) was refused: use the account's API key (Account settings > API key), not a storage zone password".into(),
        ),
        404 if describe.contains("/pullzone/") => Some(
            "no such pull zone: check [bunny] pull_zone_id (the number in the pull zone's dashboard URL)".into(),
        ),
        _ => None,
    };
    if status == 404 && describe.contains("/pullzone/") {
        failure.kind = FailureKind::Credentials;
    }
    Err(failure)
}

impl Purger for Bunny {
    fn name(&self) -> &'static str {
        "bunny"
    }

    fn target(&self) -> String {
        match self.pull_zone_id {
            Some(id) => format!("pull zone {id}"),
            None => "bunny.net".into(),
        }
    }

    fn batch_size(&self) -> usize {
        1
    }

    fn everything(&self) -> Vec<Request> {
        match self.pull_zone_id {
            Some(_) => vec![Request::Everything],
            None => Request::for_scopes(self.scopes.0.clone(), self.scopes.1.clone()),
        }
    }

    async fn send(&self, request: &Request) -> Result<(), Failure> {
        match request {
            Request::Files(entries) => {
                let mut sent: Vec<&str> = Vec::new();
                for entry in entries {
                    if sent.contains(&entry.url.as_str()) {
                        continue;
                    }
                    sent.push(&entry.url);
                    let describe = format!("POST /purge?url={}", entry.url);
                    // A URL ending in `/` would be purged as a prefix: a page is exact.
                    let mut query = vec![("url", entry.url.as_str())];
                    if entry.url.ends_with('/') {
                        query.push(("exactPath", "true"));
                    }
                    self.post("/purge", &query, &describe).await?;
                }
                Ok(())
            }
            Request::Hosts(scopes) | Request::Prefixes(scopes) => {
                for scope in scopes {
                    let url = self.wildcard(scope);
                    let describe = format!("POST /purge?url={url}");
                    self.post("/purge", &[("url", url.as_str())], &describe)
                        .await?;
                }
                Ok(())
            }
            Request::Everything => {
                let Some(id) = self.pull_zone_id else {
                    return Err(Failure::new(
                        FailureKind::Rejected,
                        None,
                        "no [bunny] pull_zone_id is set to purge everything",
                    ));
                };
                let path = format!("/pullzone/{id}/purgeCache");
                let describe = format!("POST {path}");
                self.post(&path, &[], &describe).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn bunny(zone: Option<u64>) -> Bunny {
        let transport = super::super::Transport::new(Duration::from_secs(5), &BTreeMap::new());
        Bunny::new(
            "http://127.0.0.1:1",
            Secret::new("key-123"),
            zone,
            &transport,
        )
        .expect("client")
    }

    #[test]
    fn everything_is_the_pull_zone_or_a_wildcard_per_scope() {
        let mut b = bunny(None);
        b.scopes = (
            vec!["example.com".into()],
            vec!["www.example.com/docs".into()],
        );
        b.schemes.insert("localhost:8080".into(), "http".into());
        assert_eq!(
            b.everything(),
            vec![
                Request::Hosts(vec!["example.com".into()]),
                Request::Prefixes(vec!["www.example.com/docs".into()])
            ]
        );
        assert_eq!(b.wildcard("example.com"), "https://example.com/*");
        assert_eq!(
            b.wildcard("www.example.com/docs"),
            "https://www.example.com/docs/*"
        );
        assert_eq!(b.wildcard("localhost:8080"), "http://localhost:8080/*");
        assert_eq!(bunny(Some(42)).everything(), vec![Request::Everything]);
        assert_eq!(bunny(Some(42)).target(), "pull zone 42");
    }

    #[test]
    fn done_is_any_2xx_and_failures_are_classified() {
        assert!(classify(200, None, "", "x").is_ok());
        assert!(classify(204, None, "", "x").is_ok());
        let f = classify(
            401,
            None,
            r#"{"ErrorKey":"unauthorized","Message":"Authorization has been denied"}"#,
            "POST /purge?url=x",
        )
        .expect_err("401");
        assert_eq!(f.kind, FailureKind::Credentials);
        assert!(f.detail.contains("denied"), "{f}");
        assert!(f.hint.unwrap_or_default().contains("BUNNY_API_KEY"));
        let zone = classify(404, None, "", "POST /pullzone/9/purgeCache").expect_err("404");
        assert!(zone.kind.is_setup());
        let limited = classify(429, Some(Duration::from_secs(2)), "", "x").expect_err("429");
        assert!(limited.rate_limited);
        assert_eq!(limited.kind, FailureKind::Transient);
        assert_eq!(
            classify(400, None, "", "x").expect_err("400").kind,
            FailureKind::Rejected
        );
    }

    #[test]
    fn a_pull_zone_keeps_its_name_and_host_names_only() {
        let zone = PullZone::parse(
            r#"{"Id":4242,"Name":"site","ZoneSecurityKey":"k","Hostnames":[{"Id":1,"Value":"site.b-cdn.net","CertificateKey":"x"},{"Id":2,"Value":"www.example.com"}]}"#,
        )
        .expect("zone");
        assert_eq!(zone.name.as_deref(), Some("site"));
        assert_eq!(zone.hostnames, ["site.b-cdn.net", "www.example.com"]);
        assert_eq!(PullZone::parse("{}").expect("zone"), PullZone::default());
        assert!(PullZone::parse("[]").is_err());
    }

    #[test]
    fn the_key_is_sensitive_and_never_in_debug() {
        let b = bunny(None);
        assert_eq!(b.headers()["accesskey"], "key-123");
        assert!(b.headers()["accesskey"].is_sensitive());
        assert!(!format!("{b:?}").contains("key-123"));
    }
}
