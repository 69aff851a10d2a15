//! HTTP PURGE: for caches run in-house (Varnish, nginx proxy_cache, Squid, Apache Traffic Server)
//! and for CDNs that purge a URL on `PURGE <url>` (Fastly). One request per URL, sent either to
//! the URL itself or to a configured endpoint with the URL's path and `Host` header.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use super::{Failure, FailureKind, Purger, Request};
use crate::secret::Secret;

/// A request that clears a whole site, e.g. Varnish's `BAN /` with a header its VCL reads.
#[derive(Debug, Clone)]
pub struct EverythingRequest {
    pub method: Method,
    /// Path to send (default `/`; for a site below a path, that path).
    pub path: Option<String>,
    /// Header values may hold `{host}` and `{path}`, replaced per site scope.
    pub headers: Vec<(HeaderName, Secret)>,
}

/// HTTP PURGE as a [`Purger`].
#[derive(Debug, Clone)]
pub struct HttpPurge {
    http: reqwest::Client,
    /// Where to send purges; `None`: to each URL itself.
    pub endpoint: Option<Url>,
    pub method: Method,
    /// Extra headers (values may be secrets, e.g. `Fastly-Key`; never printed).
    pub headers: Vec<(HeaderName, Secret)>,
    pub everything: Option<EverythingRequest>,
    /// The site's `host[:port]`s and `host[:port]/path` prefixes, for the `everything` request.
    pub scopes: (Vec<String>, Vec<String>),
    /// The scheme of each `host[:port]`, for `everything` requests sent to the site itself.
    pub schemes: BTreeMap<String, String>,
}

impl HttpPurge {
    pub fn new(
        endpoint: Option<Url>,
        method: Method,
        headers: Vec<(HeaderName, Secret)>,
        everything: Option<EverythingRequest>,
        transport: &super::Transport,
    ) -> Result<HttpPurge, String> {
        let http = super::http_client(transport)?;
        Ok(HttpPurge {
            http,
            endpoint,
            method,
            headers,
            everything,
            scopes: (Vec::new(), Vec::new()),
            schemes: BTreeMap::new(),
        })
    }

    /// Where the request for `url` goes, and the `Host` it carries when sent to an endpoint.
    pub fn address(&self, url: &str) -> Result<(String, Option<String>), String> {
        let parsed = Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
        match &self.endpoint {
            None => Ok((url.to_string(), None)),
            Some(endpoint) => {
                let host = match parsed.port() {
                    Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
                    None => parsed.host_str().unwrap_or_default().to_string(),
                };
                // The path as written (already percent-encoded the way browsers send it).
                let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
                let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
                let mut target = endpoint.as_str().trim_end_matches('/').to_string();
                target.push_str(path);
                Ok((target, Some(host)))
            }
        }
    }

    async fn send_one(
        &self,
        method: Method,
        target: &str,
        host: Option<&str>,
        headers: &[(HeaderName, Secret)],
        extra: &BTreeMap<String, String>,
        describe: &str,
    ) -> Result<(), Failure> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(mut v) = HeaderValue::from_str(value.expose()) {
                v.set_sensitive(true);
                map.append(name.clone(), v);
            }
        }
        for (name, value) in extra {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                map.insert(n, v);
            }
        }
        if let Some(host) = host
            && let Ok(v) = HeaderValue::from_str(host)
        {
            map.insert(HOST, v);
        }
        let resp = self
            .http
            .request(method, target)
            .headers(map)
            .send()
            .await
            .map_err(|e| {
                let detail = if e.is_timeout() {
                    format!("{describe}: no answer in time")
                } else {
                    format!("{describe}: {}", super::root_cause(&e))
                };
                Failure::new(FailureKind::Transient, None, detail)
            })?;
        let status = resp.status().as_u16();
        let retry_after = super::retry_after(&resp);
        classify(status, retry_after, describe)
    }
}

/// 2xx and 404 (nothing cached) are done; 429, 408 and 5xx are worth retrying.
pub fn classify(status: u16, retry_after: Option<Duration>, describe: &str) -> Result<(), Failure> {
    if (200..300).contains(&status) || status == 404 {
        return Ok(());
    }
    let kind = match status {
        // "Not implemented" and "method not allowed" are answers about the method, not about
        // a passing fault: the same request gets the same answer every time.
        405 | 501 => FailureKind::Unsupported,
        429 | 408 | 500..=599 => FailureKind::Transient,
        401 | 403 => FailureKind::Credentials,
        _ => FailureKind::Rejected,
    };
    let mut failure = Failure::new(kind, Some(status), describe.to_string());
    failure.retry_after = retry_after;
    failure.rate_limited = status == 429;
    failure.hint = match status {
        401 | 403 => Some(
            "the cache refused the purge: allow PURGE from this machine in its configuration (e.g. a Varnish ACL), or check the headers (e.g. Fastly-Key)"
                .into(),
        ),
        405 | 501 => Some(
            "the server does not take this method here: is `endpoint` the cache (not the origin or a plain web server), and is `method` the one its configuration allows (PURGE, or BAN for `everything`)?"
                .into(),
        ),
        _ => None,
    };
    Err(failure)
}

fn fill(template: &str, host: &str, path: &str) -> String {
    template.replace("{host}", host).replace("{path}", path)
}

impl Purger for HttpPurge {
    fn name(&self) -> &'static str {
        "http-purge"
    }

    fn target(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("endpoint {}", e.as_str().trim_end_matches('/')),
            None => "each URL's own host".into(),
        }
    }

    fn batch_size(&self) -> usize {
        1
    }

    fn everything(&self) -> Vec<Request> {
        // Without an `everything` request the caller purges every URL of the site instead.
        if self.everything.is_none() {
            return Vec::new();
        }
        let (hosts, prefixes) = self.scopes.clone();
        Request::for_scopes(hosts, prefixes)
    }

    async fn send(&self, request: &Request) -> Result<(), Failure> {
        match request {
            Request::Files(entries) => {
                for entry in entries {
                    let (target, host) = self
                        .address(&entry.url)
                        .map_err(|m| Failure::new(FailureKind::Rejected, None, m))?;
                    let describe = format!("{} {}", self.method, entry.url);
                    self.send_one(
                        self.method.clone(),
                        &target,
                        host.as_deref(),
                        &self.headers,
                        &entry.headers,
                        &describe,
                    )
                    .await?;
                }
                Ok(())
            }
            Request::Hosts(_) | Request::Prefixes(_) | Request::Everything => {
                let Some(everything) = &self.everything else {
                    return Err(Failure::new(
                        FailureKind::Rejected,
                        None,
                        "no `everything` request is configured for http-purge",
                    ));
                };
                let scopes: Vec<(String, String)> = match request {
                    Request::Hosts(hosts) => {
                        hosts.iter().map(|h| (h.clone(), "/".to_string())).collect()
                    }
                    Request::Prefixes(prefixes) => prefixes
                        .iter()
                        .map(|p| match p.split_once('/') {
                            Some((h, path)) => (h.to_string(), format!("/{path}")),
                            None => (p.clone(), "/".to_string()),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                for (host, path) in scopes {
                    let path = everything
                        .path
                        .clone()
                        .map_or(path.clone(), |p| fill(&p, &host, &path));
                    let base = match &self.endpoint {
                        Some(e) => e.as_str().trim_end_matches('/').to_string(),
                        None => format!(
                            "{}://{host}",
                            self.schemes.get(&host).map_or("https", String::as_str)
                        ),
                    };
                    let target = format!("{base}{path}");
                    let headers: Vec<(HeaderName, Secret)> = everything
                        .headers
                        .iter()
                        .map(|(n, v)| (n.clone(), Secret::new(fill(v.expose(), &host, &path))))
                        .chain(self.headers.iter().cloned())
                        .collect();
                    let describe = format!("{} {host}{path}", everything.method);
                    self.send_one(
                        everything.method.clone(),
                        &target,
                        self.endpoint.is_some().then_some(host.as_str()),
                        &headers,
                        &BTreeMap::new(),
                        &describe,
                    )
                    .await?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purger(endpoint: Option<&str>) -> HttpPurge {
        HttpPurge::new(
            endpoint.map(|e| Url::parse(e).expect("url")),
            Method::from_bytes(b"PURGE").expect("method"),
            Vec::new(),
            None,
            &crate::provider::Transport::new(Duration::from_secs(5), &BTreeMap::new()),
        )
        .expect("client")
    }

    #[test]
    fn without_an_endpoint_the_purge_goes_to_the_url_itself() {
        let p = purger(None);
        assert_eq!(
            p.address("https://example.com/caf%C3%A9/")
                .expect("address"),
            ("https://example.com/caf%C3%A9/".to_string(), None)
        );
    }

    #[test]
    fn with_an_endpoint_the_path_goes_there_with_the_host_header() {
        let p = purger(Some("http://127.0.0.1:6081"));
        assert_eq!(
            p.address("https://www.example.com/a%20b/index.html")
                .expect("address"),
            (
                "http://127.0.0.1:6081/a%20b/index.html".to_string(),
                Some("www.example.com".to_string())
            )
        );
        assert_eq!(
            p.address("http://localhost:8080/x")
                .expect("address")
                .1
                .as_deref(),
            Some("localhost:8080")
        );
        assert_eq!(
            p.address("https://example.com/").expect("address").0,
            "http://127.0.0.1:6081/"
        );
    }

    #[test]
    fn done_means_2xx_or_not_cached() {
        for status in [200, 201, 204, 404] {
            assert!(classify(status, None, "PURGE x").is_ok(), "{status}");
        }
        for status in [429, 408, 500, 503] {
            assert_eq!(
                classify(status, None, "x").expect_err("x").kind,
                FailureKind::Transient
            );
        }
        let refused = classify(403, None, "PURGE https://example.com/a").expect_err("x");
        assert_eq!(refused.kind, FailureKind::Credentials);
        assert!(
            refused.to_string().contains("403")
                && refused.to_string().contains("https://example.com/a")
        );
        assert!(refused.hint.unwrap_or_default().contains("ACL"));
        assert_eq!(
            classify(400, None, "x").expect_err("x").kind,
            FailureKind::Rejected
        );
    }

    #[test]
    fn method_not_allowed_or_not_implemented_is_a_setup_error_not_a_passing_fault() {
        for status in [405, 501] {
            let failure = classify(status, None, "PURGE https://example.com/a").expect_err("x");
            assert_eq!(failure.kind, FailureKind::Unsupported, "{status}");
            assert!(failure.kind.is_setup());
            assert!(
                failure.hint.unwrap_or_default().contains("`method`"),
                "{status}"
            );
        }
    }

    #[test]
    fn header_templates_name_the_scope() {
        assert_eq!(fill("^{path}", "example.com", "/docs"), "^/docs");
        assert_eq!(fill("{host}", "example.com", "/"), "example.com");
    }
}
