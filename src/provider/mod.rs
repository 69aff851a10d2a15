//! CDN providers behind one trait. A provider only knows how to send one purge request and how
//! to classify the answer; batching, retries, concurrency and state live in [`crate::purge`].

pub mod akamai;
pub mod bunny;
pub mod cloudflare;
pub mod cloudfront;
pub mod fastly;
pub mod http_purge;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which cache to purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderName {
    /// The Cloudflare API.
    #[default]
    Cloudflare,
    /// `PURGE <url>` requests: Varnish, nginx, Squid, Fastly...
    HttpPurge,
    /// Amazon CloudFront invalidations.
    #[serde(rename = "cloudfront")]
    #[value(name = "cloudfront")]
    CloudFront,
    /// Akamai Fast Purge (CCU v3).
    Akamai,
    /// The Fastly API (`[fastly]`, `FASTLY_API_TOKEN`).
    Fastly,
    /// The bunny.net API (`[bunny]`, `BUNNY_API_KEY`).
    Bunny,
}

/// One purge request, as the shared executor hands it to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// These URLs (at most the provider's batch size).
    Files(Vec<FileEntry>),
    /// Everything cached for these host names.
    Hosts(Vec<String>),
    /// Everything cached below these `host/path` prefixes (a site under a path).
    Prefixes(Vec<String>),
    /// Everything the provider holds for the site's zone.
    Everything,
}

impl Request {
    /// The requests that clear whole host names and `host/path` prefixes: one per kind, none
    /// for an empty list.
    pub fn for_scopes(hosts: Vec<String>, prefixes: Vec<String>) -> Vec<Request> {
        let mut requests = Vec::new();
        if !hosts.is_empty() {
            requests.push(Request::Hosts(hosts));
        }
        if !prefixes.is_empty() {
            requests.push(Request::Prefixes(prefixes));
        }
        requests
    }
}

/// A URL to purge, optionally for one set of cache-key headers (e.g. `CF-Device-Type: mobile`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FileEntry {
    pub url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// An error object from the provider's API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// What kind of failure, which decides whether to retry and how the run exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Worth retrying: rate limit, timeout, server error, dropped connection.
    Transient,
    /// The credentials or zone are wrong: retrying cannot help, the user must act.
    Credentials,
    /// The service does not take this kind of request (405, 501): retrying cannot help, and the
    /// other requests would fare alike, so the setup must change (the method, the endpoint).
    Unsupported,
    /// The request was refused for another reason.
    Rejected,
}

impl FailureKind {
    /// Whether the user must change the setup (credentials, zone, method, endpoint): the
    /// requests still waiting are not sent, and a run that failed only so exits 2.
    pub fn is_setup(self) -> bool {
        matches!(self, FailureKind::Credentials | FailureKind::Unsupported)
    }
}

/// A failed request: everything a user needs to see what went wrong, and never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: FailureKind,
    /// HTTP status, if an answer came back.
    pub status: Option<u16>,
    /// The API's own error codes and messages.
    pub errors: Vec<ApiError>,
    /// What happened, in words (e.g. `connection closed before any answer`).
    pub detail: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// For 429 and 503: how long the server asked us to wait.
    #[serde(skip)]
    pub retry_after: Option<Duration>,
    /// The answer was a rate limit (429): slow down from now on.
    #[serde(skip)]
    pub rate_limited: bool,
}

impl Failure {
    pub fn new(kind: FailureKind, status: Option<u16>, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            status,
            errors: Vec::new(),
            detail: detail.into(),
            hint: None,
            retry_after: None,
            rate_limited: false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "HTTP {status}")?;
            if !self.errors.is_empty() || !self.detail.is_empty() {
                f.write_str(": ")?;
            }
        }
        let codes: Vec<String> = self
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message))
            .collect();
        f.write_str(&codes.join("; "))?;
        if !self.detail.is_empty() {
            if !codes.is_empty() {
                f.write_str(" (")?;
                f.write_str(&self.detail)?;
                f.write_str(")")?;
            } else {
                f.write_str(&self.detail)?;
            }
        }
        Ok(())
    }
}

/// A CDN that can purge URLs and everything of a site.
pub trait Purger: Sync {
    /// The provider's name, for messages (`cloudflare`).
    fn name(&self) -> &'static str;
    /// What the provider calls the object a purge acts on, for messages (`zone 0123…`).
    fn target(&self) -> String;
    /// The most file entries one request may carry.
    fn batch_size(&self) -> usize;
    /// The requests that purge everything of the site.
    fn everything(&self) -> Vec<Request>;
    /// Sends one request and classifies the answer.
    fn send(&self, request: &Request) -> impl Future<Output = Result<(), Failure>> + Send;
    /// When `failure` says `request` named more entries than the service takes at once: how
    /// many to send per request from now on. Most services say nothing of the kind.
    fn smaller_batch(&self, _request: &Request, _failure: &Failure) -> Option<usize> {
        None
    }
}

/// How requests travel: the timeout of one request, and the proxy for https requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub timeout: Duration,
    /// `HTTPS_PROXY` (else `ALL_PROXY`), lower-case spellings too.
    pub https_proxy: Option<String>,
    /// `NO_PROXY`: hosts reached without the proxy.
    pub no_proxy: Option<String>,
}

impl Transport {
    /// The proxy settings of `env`, the way curl and most tools read them.
    pub fn new(timeout: Duration, env: &BTreeMap<String, String>) -> Transport {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| env.get(*n).map(|v| v.trim()).filter(|v| !v.is_empty()))
                .map(str::to_string)
        };
        Transport {
            timeout,
            https_proxy: var(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: var(&["NO_PROXY", "no_proxy"]),
        }
    }
}

/// The HTTP client every provider uses: rustls with ring (reqwest is built without a default
/// crypto provider), a user agent, timeouts, and no redirects: a purge is addressed to one
/// service, credentials must not follow a redirect elsewhere, and a redirected POST would come
/// back as a GET whose success would pass for a purge.
///
/// Proxies: https requests go through `HTTPS_PROXY`/`ALL_PROXY` unless `NO_PROXY` names the
/// host; plain-http requests never go through a proxy, which would see the credentials in
/// clear (sitepurge sends them over plain http only to this machine).
pub fn http_client(transport: &Transport) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("sitepurge/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(transport.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(proxy) = &transport.https_proxy {
        let proxy = reqwest::Proxy::https(proxy)
            .map_err(|e| {
                format!(
                    "the https proxy {:?} cannot be used: {e}",
                    crate::secret::redact(proxy)
                )
            })?
            .no_proxy(
                transport
                    .no_proxy
                    .as_deref()
                    .and_then(reqwest::NoProxy::from_string),
            );
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

/// How long an answer's `Retry-After` (seconds or an HTTP date) asks to wait, if it does.
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<std::time::Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| cloudflare::parse_retry_after(v, std::time::SystemTime::now()))
}

/// A request that got no answer (timeout, refused, reset, TLS): always worth retrying.
pub(crate) fn transport_failure(e: &reqwest::Error) -> Failure {
    let detail = if e.is_timeout() {
        "no answer in time (timeout)".to_string()
    } else if e.is_connect() {
        format!("cannot connect: {}", root_cause(e))
    } else {
        format!("connection failed: {}", root_cause(e))
    };
    Failure::new(FailureKind::Transient, None, detail)
}

/// The innermost error of a chain: what actually went wrong ("connection refused").
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The providers sitepurge can use, behind one type.
#[derive(Debug, Clone)]
pub enum AnyPurger {
    Cloudflare(cloudflare::Cloudflare),
    HttpPurge(http_purge::HttpPurge),
    CloudFront(cloudfront::CloudFront),
    Akamai(akamai::Akamai),
    Fastly(fastly::Fastly),
    Bunny(bunny::Bunny),
}

impl Purger for AnyPurger {
    fn name(&self) -> &'static str {
        match self {
            AnyPurger::Cloudflare(p) => p.name(),
            AnyPurger::HttpPurge(p) => p.name(),
            AnyPurger::CloudFront(p) => p.name(),
            AnyPurger::Akamai(p) => p.name(),
            AnyPurger::Fastly(p) => p.name(),
            AnyPurger::Bunny(p) => p.name(),
        }
    }

    fn target(&self) -> String {
        match self {
            AnyPurger::Cloudflare(p) => p.target(),
            AnyPurger::HttpPurge(p) => p.target(),
            AnyPurger::CloudFront(p) => p.target(),
            AnyPurger::Akamai(p) => p.target(),
            AnyPurger::Fastly(p) => p.target(),
            AnyPurger::Bunny(p) => p.target(),
        }
    }

    fn batch_size(&self) -> usize {
        match self {
            AnyPurger::Cloudflare(p) => p.batch_size(),
            AnyPurger::HttpPurge(p) => p.batch_size(),
            AnyPurger::CloudFront(p) => p.batch_size(),
            AnyPurger::Akamai(p) => p.batch_size(),
            AnyPurger::Fastly(p) => p.batch_size(),
            AnyPurger::Bunny(p) => p.batch_size(),
        }
    }

    fn everything(&self) -> Vec<Request> {
        match self {
            AnyPurger::Cloudflare(p) => p.everything(),
            AnyPurger::HttpPurge(p) => p.everything(),
            AnyPurger::CloudFront(p) => p.everything(),
            AnyPurger::Akamai(p) => p.everything(),
            AnyPurger::Fastly(p) => p.everything(),
            AnyPurger::Bunny(p) => p.everything(),
        }
    }

    async fn send(&self, request: &Request) -> Result<(), Failure> {
        match self {
            AnyPurger::Cloudflare(p) => p.send(request).await,
            AnyPurger::HttpPurge(p) => p.send(request).await,
            AnyPurger::CloudFront(p) => p.send(request).await,
            AnyPurger::Akamai(p) => p.send(request).await,
            AnyPurger::Fastly(p) => p.send(request).await,
            AnyPurger::Bunny(p) => p.send(request).await,
        }
    }

    fn smaller_batch(&self, request: &Request, failure: &Failure) -> Option<usize> {
        match self {
            AnyPurger::Cloudflare(p) => p.smaller_batch(request, failure),
            AnyPurger::HttpPurge(p) => p.smaller_batch(request, failure),
            AnyPurger::Fastly(p) => p.smaller_batch(request, failure),
            AnyPurger::Bunny(p) => p.smaller_batch(request, failure),
            AnyPurger::CloudFront(p) => p.smaller_batch(request, failure),
            AnyPurger::Akamai(p) => p.smaller_batch(request, failure),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reads_as_status_code_and_message() {
        let mut f = Failure::new(FailureKind::Credentials, Some(403), "");
        f.errors.push(ApiError {
            code: 10000,
            message: "Authentication error".into(),
        });
        assert_eq!(f.to_string(), "HTTP 403: 10000 Authentication error");
        let f = Failure::new(
            FailureKind::Transient,
            None,
            "connection closed before any answer",
        );
        assert_eq!(f.to_string(), "connection closed before any answer");
    }
}
