//! Akamai Fast Purge (CCU v3): `POST /ccu/v3/{invalidate|delete}/url/{network}` with the URLs
//! in bodies under the 50,000-byte limit, or `…/cpcode/{network}` for "everything", each signed
//! with Akamai's EdgeGrid scheme (HMAC-SHA256 over the request, with the `hmac` and `sha2`
//! crates). The signer reproduces the test vectors of Akamai's own edgegrid-python library
//! (`tests/fixtures/edgegrid/`). Credentials come from `AKAMAI_*` variables or a `.edgerc`
//! section, the way Akamai's tools read them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Failure, FailureKind, Purger, Request};
use crate::secret::Secret;

/// The largest body Fast Purge accepts, in bytes.
pub const MAX_BODY: usize = 50_000;
/// URLs per request before the byte limit splits it further.
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// EdgeGrid hashes at most this much of a POST body (edgegrid-python's default).
const DEFAULT_MAX_BODY_HASHED: usize = 131_072;

/// What a purge does to the cached objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Marks them stale: the edge revalidates with the origin (If-Modified-Since), cheap for the origin.
    #[default]
    Invalidate,
    /// Removes them: the edge fetches them again in full.
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Invalidate => "invalidate",
            Action::Delete => "delete",
        }
    }
}

/// Which Akamai network to purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    #[default]
    Production,
    Staging,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Production => "production",
            Network::Staging => "staging",
        }
    }
}

// ------------------------------------------------------------------------------------------
// EdgeGrid signing
// ------------------------------------------------------------------------------------------

/// An EdgeGrid API client's credentials. Every part is kept from `Debug`: the client and access
/// tokens travel in the clear in each `Authorization` header, but together they name the client.
#[derive(Clone, PartialEq, Eq)]
pub struct EdgeGrid {
    /// `akab-….luna.akamaiapis.net`, or a full `http(s)://` base (a test server).
    pub host: String,
    pub client_token: Secret,
    pub client_secret: Secret,
    pub access_token: Secret,
    /// Headers included in the signature, in this order (lower-case); Fast Purge needs none.
    pub headers_to_sign: Vec<String>,
    /// How much of a POST body is hashed.
    pub max_body: usize,
    /// Where they were found, for messages (`AKAMAI_HOST`, `section default of ~/.edgerc`).
    pub source: String,
}

impl std::fmt::Debug for EdgeGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeGrid")
            .field("host", &self.host)
            .field("client_token", &self.client_token)
            .field("client_secret", &self.client_secret)
            .field("access_token", &self.access_token)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// One request as EdgeGrid sees it.
#[derive(Debug, Clone, Copy)]
pub struct ToSign<'a> {
    pub method: &'a str,
    pub scheme: &'a str,
    /// `host[:port]`, as in the `Host` header.
    pub host: &'a str,
    /// The path and query, as sent.
    pub path_and_query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

fn base64_hmac_sha256(key: &[u8], data: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| {
        unreachable!("HMAC accepts keys of any length");
    });
    mac.update(data);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// EdgeGrid's timestamp: `20140321T19:34:21+0000`, always UTC.
pub fn timestamp(now: SystemTime) -> String {
    jiff::Timestamp::try_from(now)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y%m%dT%H:%M:%S+0000")
        .to_string()
}

impl EdgeGrid {
    /// The signing key of a timestamp: HMAC of the timestamp with the client secret.
    pub fn signing_key(&self, timestamp: &str) -> String {
        base64_hmac_sha256(self.client_secret.expose().as_bytes(), timestamp.as_bytes())
    }

    /// The hash of the body: for POST only, of its first `max_body` bytes; empty otherwise.
    pub fn content_hash(&self, method: &str, body: &[u8]) -> String {
        if method != "POST" || body.is_empty() {
            return String::new();
        }
        let hashed = &body[..body.len().min(self.max_body)];
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(hashed))
    }

    /// The headers of `headers_to_sign` present in the request, `name:value` with runs of
    /// white space made one space, tab-separated.
    fn canonical_headers(&self, headers: &[(&str, &str)]) -> String {
        self.headers_to_sign
            .iter()
            .filter_map(|wanted| {
                headers
                    .iter()
                    .rev()
                    .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                    .map(|(_, value)| {
                        let value: Vec<&str> = value.split_whitespace().collect();
                        format!("{wanted}:{}", value.join(" "))
                    })
            })
            .collect::<Vec<_>>()
            .join("\t")
    }

    /// What the signature covers, fields tab-separated.
    pub fn data_to_sign(&self, request: &ToSign<'_>, unsigned_header: &str) -> String {
        [
            request.method.to_ascii_uppercase().as_str(),
            request.scheme,
            request.host,
            request.path_and_query,
            &self.canonical_headers(request.headers),
            &self.content_hash(&request.method.to_ascii_uppercase(), request.body),
            unsigned_header,
        ]
        .join("\t")
    }

    /// The `Authorization` header of a request at `timestamp` with `nonce`.
    pub fn authorization(&self, request: &ToSign<'_>, timestamp: &str, nonce: &str) -> String {
        let unsigned = format!(
            "EG1-HMAC-SHA256 client_token={};access_token={};timestamp={timestamp};nonce={nonce};",
            self.client_token.expose(),
            self.access_token.expose()
        );
        let key = self.signing_key(timestamp);
        let signature = base64_hmac_sha256(
            key.as_bytes(),
            self.data_to_sign(request, &unsigned).as_bytes(),
        );
        format!("{unsigned}signature={signature}")
    }

    /// The API's URL as the signature names it: `https://{host}`. The host is a host name
    /// (with an optional port), as Akamai Control Center shows it; a test server or proxy is
    /// named by `AKAMAI_API_BASE_URL` instead (see [`check_api_base`]).
    pub fn signed_url(&self) -> Result<url::Url, String> {
        let host = self.host.trim().trim_end_matches('/');
        if host.starts_with('"') || host.starts_with('\'') {
            return Err(format!(
                "the host {host} is quoted: write it without quotes, as Akamai Control Center shows it"
            ));
        }
        let shown = crate::secret::redact(host);
        if host.contains("://") {
            return Err(format!(
                "the host {shown:?} is a URL: write the API client's host name alone (akab-….luna.akamaiapis.net); to send the requests elsewhere (a test server, a proxy), set AKAMAI_API_BASE_URL"
            ));
        }
        let url = url::Url::parse(&format!("https://{host}"))
            .map_err(|e| format!("the host {shown:?} is not usable ({e})"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "the host {shown:?} carries a user name or password"
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("the host {shown:?} has no host name"));
        }
        if url.path() != "/" || url.query().is_some() {
            return Err(format!(
                "the host {shown:?} has a path: write the host name alone"
            ));
        }
        Ok(url)
    }
}

/// `AKAMAI_API_BASE_URL`: where requests go instead of `https://{host}` (a test server or a
/// proxy), `scheme://host[:port]` without a path; https, or plain http only to this machine
/// (the tokens travel in each request's headers). Requests are still signed for the
/// credentials' host.
pub fn check_api_base(raw: &str) -> Result<url::Url, String> {
    let text = raw.trim().trim_end_matches('/');
    let shown = crate::secret::redact(text);
    let url = url::Url::parse(text).map_err(|e| format!("{shown:?} is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{shown:?} carries a user name or password"));
    }
    match url.scheme() {
        "https" => {}
        "http" if crate::secret::is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{shown:?} is plain http to another machine: the tokens would travel unencrypted"
            ));
        }
        _ => return Err(format!("{shown:?} is not an http(s) URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{shown:?} has no host name"));
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(format!(
            "{shown:?} has a path or query: give scheme://host[:port] alone"
        ));
    }
    Ok(url)
}

/// `host[:port]` of a URL, as in a `Host` header.
fn authority(url: &url::Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    }
}

// ------------------------------------------------------------------------------------------
// Credentials
// ------------------------------------------------------------------------------------------

/// Why no credentials could be used: the setting at fault, what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsError {
    pub setting: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

fn cred_error(setting: &'static str, message: String, hint: &str) -> CredentialsError {
    CredentialsError {
        setting,
        message,
        hint: Some(hint.to_string()),
    }
}

const ENV_VARS: [&str; 4] = [
    "AKAMAI_HOST",
    "AKAMAI_CLIENT_TOKEN",
    "AKAMAI_CLIENT_SECRET",
    "AKAMAI_ACCESS_TOKEN",
];

/// The credentials: `AKAMAI_HOST`, `AKAMAI_CLIENT_TOKEN`, `AKAMAI_CLIENT_SECRET` and
/// `AKAMAI_ACCESS_TOKEN` when any is set (then all must be), else `section` of the `.edgerc`
/// file (`edgerc`, else `~/.edgerc`).
pub fn find_credentials(
    env: &BTreeMap<String, String>,
    edgerc: Option<&Path>,
    section: &str,
) -> Result<EdgeGrid, CredentialsError> {
    let var = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    if ENV_VARS.iter().any(|v| var(v).is_some()) {
        if let Some(missing) = ENV_VARS.iter().find(|v| var(v).is_none()) {
            return Err(cred_error(
                missing,
                format!("{missing} is not set, but other AKAMAI_* credentials are"),
                "set all four of AKAMAI_HOST, AKAMAI_CLIENT_TOKEN, AKAMAI_CLIENT_SECRET and AKAMAI_ACCESS_TOKEN, or none to use ~/.edgerc",
            ));
        }
        let get = |name: &str| var(name).unwrap_or_default().to_string();
        return Ok(EdgeGrid {
            host: get("AKAMAI_HOST"),
            client_token: Secret::new(get("AKAMAI_CLIENT_TOKEN")),
            client_secret: Secret::new(get("AKAMAI_CLIENT_SECRET")),
            access_token: Secret::new(get("AKAMAI_ACCESS_TOKEN")),
            headers_to_sign: Vec::new(),
            max_body: DEFAULT_MAX_BODY_HASHED,
            source: "AKAMAI_HOST and the other AKAMAI_* variables".into(),
        });
    }
    let path: PathBuf = match edgerc {
        Some(p) => p.to_path_buf(),
        None => match var("HOME") {
            Some(home) => Path::new(home).join(".edgerc"),
            None => {
                return Err(cred_error(
                    "AKAMAI_HOST",
                    "no Akamai credentials are set, and there is no home folder to find ~/.edgerc in".into(),
                    "set AKAMAI_HOST, AKAMAI_CLIENT_TOKEN, AKAMAI_CLIENT_SECRET and AKAMAI_ACCESS_TOKEN, or name the file with edgerc in [akamai]",
                ));
            }
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(cred_error(
                if edgerc.is_some() {
                    "akamai.edgerc"
                } else {
                    "AKAMAI_HOST"
                },
                format!(
                    "no Akamai credentials are set, and {} does not exist",
                    path.display()
                ),
                "create an API client with read-write access to \"CCU APIs\" in Akamai Control Center (Identity and access), and save its credentials as ~/.edgerc, or set AKAMAI_HOST, AKAMAI_CLIENT_TOKEN, AKAMAI_CLIENT_SECRET and AKAMAI_ACCESS_TOKEN",
            ));
        }
        Err(e) => {
            return Err(cred_error(
                "akamai.edgerc",
                format!("cannot read {}: {e}", path.display()),
                "fix its permissions, or name another file with edgerc in [akamai]",
            ));
        }
    };
    let options = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..Default::default()
    };
    // Only the position: the parser's message may quote a line holding a secret.
    let parsed = ini::Ini::load_from_str_opt(&text, options).map_err(|e| {
        cred_error(
            "akamai.edgerc",
            format!(
                "{} is not an INI file (line {}, column {})",
                path.display(),
                e.line,
                e.col
            ),
            "fix the file: [section] lines, then key = value lines",
        )
    })?;
    let Some(props) = parsed.section(Some(section)) else {
        return Err(cred_error(
            "akamai.edgerc_section",
            format!("{} has no section [{section}]", path.display()),
            "name the section with edgerc_section in [akamai]",
        ));
    };
    // `client-token` and `client_token` alike, as edgegrid-python reads them.
    let props: BTreeMap<String, String> = props
        .iter()
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase().replace('-', "_"),
                v.trim().to_string(),
            )
        })
        .collect();
    let get = |key: &str| props.get(key).filter(|v| !v.is_empty()).cloned();
    let mut missing = ["host", "client_token", "client_secret", "access_token"]
        .into_iter()
        .filter(|k| get(k).is_none());
    if let Some(key) = missing.next() {
        return Err(cred_error(
            "akamai.edgerc",
            format!("section [{section}] of {} has no {key}", path.display()),
            "copy the API client's credentials again from Akamai Control Center: host, client_token, client_secret and access_token",
        ));
    }
    let max_body = match get("max_body") {
        None => DEFAULT_MAX_BODY_HASHED,
        Some(v) => v.parse().map_err(|_| {
            cred_error(
                "akamai.edgerc",
                format!(
                    "max_body in section [{section}] of {} is not a number",
                    path.display()
                ),
                "leave it out, or write a number of bytes (131072)",
            )
        })?,
    };
    let headers_to_sign = get("headers_to_sign")
        .filter(|v| v != "None")
        .map(|v| {
            v.split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(EdgeGrid {
        host: get("host").unwrap_or_default(),
        client_token: Secret::new(get("client_token").unwrap_or_default()),
        client_secret: Secret::new(get("client_secret").unwrap_or_default()),
        access_token: Secret::new(get("access_token").unwrap_or_default()),
        headers_to_sign,
        max_body,
        source: format!("section [{section}] of {}", path.display()),
    })
}

// ------------------------------------------------------------------------------------------
// Requests and answers
// ------------------------------------------------------------------------------------------

/// The bodies that carry these objects, each at most `max` bytes: `{"objects":[...]}` with the
/// objects in order. An object too large for any body alone is an error.
pub fn bodies(objects: &[serde_json::Value], max: usize) -> Result<Vec<String>, String> {
    const OPEN: &str = "{\"objects\":[";
    const CLOSE: &str = "]}";
    let mut out = Vec::new();
    let mut body = String::from(OPEN);
    let mut count = 0;
    for object in objects {
        let text = object.to_string();
        let extra = text.len() + usize::from(count > 0);
        if OPEN.len() + text.len() + CLOSE.len() > max {
            return Err(format!(
                "{} is too long for one Fast Purge request ({} bytes at most)",
                text.chars().take(100).collect::<String>(),
                max
            ));
        }
        if body.len() + extra + CLOSE.len() > max {
            body.push_str(CLOSE);
            out.push(std::mem::replace(&mut body, String::from(OPEN)));
            count = 0;
        }
        if count > 0 {
            body.push(',');
        }
        body.push_str(&text);
        count += 1;
    }
    if count > 0 {
        body.push_str(CLOSE);
        out.push(body);
    }
    Ok(out)
}

/// An error answer of the API (an RFC 7807 problem).
#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
    #[serde(default, rename = "supportId")]
    support_id: String,
}

/// Turns an error answer into a classified failure.
pub fn classify_error(status: u16, retry_after: Option<Duration>, body: &str) -> Failure {
    let problem: Problem = serde_json::from_str(body).unwrap_or_default();
    let kind = match status {
        300..=399 => FailureKind::Rejected,
        429 | 408 | 500..=599 => FailureKind::Transient,
        401 | 403 => FailureKind::Credentials,
        _ => FailureKind::Rejected,
    };
    let mut detail = match (problem.title.is_empty(), problem.detail.is_empty()) {
        (false, false) => format!("{}: {}", problem.title, problem.detail),
        (false, true) => problem.title.clone(),
        (true, false) => problem.detail.clone(),
        (true, true) => body
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string(),
    };
    if (300..400).contains(&status) {
        detail =
            "the API answered with a redirect, which is not followed: is the host right?".into();
    }
    if !problem.support_id.is_empty() {
        detail.push_str(&format!(" (support id {})", problem.support_id));
    }
    let mut failure = Failure::new(kind, Some(status), detail);
    failure.hint = match status {
        401 => Some(
            "Akamai refused the signature: the client token, client secret, access token and host must all come from the same API client (check the .edgerc section or the AKAMAI_* variables), and this machine's clock must be right".into(),
        ),
        403 => Some(
            "the API client may not purge this: give it read-write access to \"CCU APIs\" in Akamai Control Center, and check that the URLs' host names or CP codes belong to its account".into(),
        ),
        413 => Some(
            "the body was too large: this is a sitepurge bug, please report it with the output of -vv".into(),
        ),
        _ => None,
    };
    failure.retry_after = retry_after;
    failure.rate_limited = status == 429;
    failure
}

/// Akamai Fast Purge as a [`Purger`].
#[derive(Debug, Clone)]
pub struct Akamai {
    http: reqwest::Client,
    /// `https://{host}` of the credentials: what each request is signed for.
    signed: url::Url,
    /// Where requests go: `signed`, or `AKAMAI_API_BASE_URL`.
    base: url::Url,
    credentials: EdgeGrid,
    pub network: Network,
    pub action: Action,
    /// CP codes purged for "everything"; none: every URL of the site, one batch at a time.
    pub cp_codes: Vec<u64>,
    pub batch_size: usize,
}

impl Akamai {
    /// Fast Purge for these credentials; requests go to `api_base` (checked by
    /// [`check_api_base`]) when given, else to `https://{host}`.
    pub fn new(
        credentials: EdgeGrid,
        api_base: Option<url::Url>,
        transport: &super::Transport,
    ) -> Result<Akamai, String> {
        let signed = credentials.signed_url()?;
        Ok(Akamai {
            http: super::http_client(transport)?,
            base: api_base.unwrap_or_else(|| signed.clone()),
            signed,
            credentials,
            network: Network::default(),
            action: Action::default(),
            cp_codes: Vec::new(),
            batch_size: DEFAULT_BATCH_SIZE,
        })
    }

    pub fn credentials(&self) -> &EdgeGrid {
        &self.credentials
    }

    /// The API host the requests are signed for, for messages (`akab-….luna.akamaiapis.net`).
    pub fn host(&self) -> String {
        authority(&self.signed)
    }

    /// `AKAMAI_API_BASE_URL` when it redirects the requests.
    pub fn api_base(&self) -> Option<String> {
        (self.base != self.signed).then(|| self.base.as_str().trim_end_matches('/').to_string())
    }

    /// `/ccu/v3/{action}/{kind}/{network}`.
    pub fn path(&self, kind: &str) -> String {
        format!(
            "/ccu/v3/{}/{kind}/{}",
            self.action.as_str(),
            self.network.as_str()
        )
    }

    /// Sends one signed POST of `body` to `path`.
    async fn post(&self, path: &str, body: String) -> Result<(), Failure> {
        // Both URLs are `scheme://authority/` (checked): the path is the API's own.
        let url = format!("{}://{}{path}", self.base.scheme(), authority(&self.base));
        let now = SystemTime::now();
        let nonce = uuid::Uuid::new_v4().to_string();
        let host = self.host();
        // Signed for https and the credentials' host, wherever the request goes: a verifier
        // (Akamai behind a proxy, or a test server) rebuilds the URL from the `Host` header.
        let authorization = self.credentials.authorization(
            &ToSign {
                method: "POST",
                scheme: self.signed.scheme(),
                host: &host,
                path_and_query: path,
                headers: &[("content-type", "application/json")],
                body: body.as_bytes(),
            },
            &timestamp(now),
            &nonce,
        );
        let mut auth = HeaderValue::from_str(&authorization).map_err(|_| {
            Failure::new(
                FailureKind::Credentials,
                None,
                "the Akamai credentials cannot be sent in an HTTP header (a stray character or line break?)",
            )
        })?;
        auth.set_sensitive(true);
        let mut request = self.http.post(&url);
        if self.base != self.signed {
            request = request.header(HOST, &host);
        }
        let resp = request
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await
            .map_err(|e| super::transport_failure(&e))?;
        let status = resp.status().as_u16();
        let retry_after = super::retry_after(&resp);
        let text = resp
            .text()
            .await
            .map_err(|e| super::transport_failure(&e))?;
        // An answer that echoed the request must not carry a token into a message.
        let text = [
            &self.credentials.client_token,
            &self.credentials.access_token,
            &self.credentials.client_secret,
        ]
        .iter()
        .filter(|s| !s.expose().is_empty())
        .fold(text, |t, s| t.replace(s.expose(), "<redacted>"));
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(classify_error(status, retry_after, &text))
        }
    }
}

impl Purger for Akamai {
    fn name(&self) -> &'static str {
        "akamai"
    }

    fn target(&self) -> String {
        format!("Fast Purge at {} ({})", self.host(), self.network.as_str())
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn everything(&self) -> Vec<Request> {
        // Without CP codes the caller purges every URL of the site instead.
        if self.cp_codes.is_empty() {
            Vec::new()
        } else {
            vec![Request::Everything]
        }
    }

    async fn send(&self, request: &Request) -> Result<(), Failure> {
        let (kind, objects): (&str, Vec<serde_json::Value>) = match request {
            Request::Files(entries) => {
                let mut urls: Vec<&str> = entries.iter().map(|e| e.url.as_str()).collect();
                // One URL purged once, whatever cache-key header sets it was listed with.
                urls.dedup();
                (
                    "url",
                    urls.into_iter().map(serde_json::Value::from).collect(),
                )
            }
            Request::Everything if !self.cp_codes.is_empty() => (
                "cpcode",
                self.cp_codes
                    .iter()
                    .map(|c| serde_json::Value::from(*c))
                    .collect(),
            ),
            _ => {
                return Err(Failure::new(
                    FailureKind::Rejected,
                    None,
                    "Fast Purge clears a whole site only by CP code, and no cp_codes are set",
                ));
            }
        };
        let bodies =
            bodies(&objects, MAX_BODY).map_err(|m| Failure::new(FailureKind::Rejected, None, m))?;
        // In order; a failure fails the whole request, whose retry sends every body again (a
        // purge sent twice costs nothing but a request).
        for body in bodies {
            self.post(&self.path(kind), body).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/edgegrid")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn vector_client(data: &Value) -> EdgeGrid {
        let s = |k: &str| data[k].as_str().expect(k).to_string();
        EdgeGrid {
            host: s("base_url"),
            client_token: Secret::new(s("client_token")),
            client_secret: Secret::new(s("client_secret")),
            access_token: Secret::new(s("access_token")),
            headers_to_sign: data["headers_to_sign"]
                .as_array()
                .expect("headers_to_sign")
                .iter()
                .map(|h| h.as_str().expect("header").to_ascii_lowercase())
                .collect(),
            max_body: usize::try_from(data["max_body"].as_u64().expect("max_body")).expect("fits"),
            source: "test vectors".into(),
        }
    }

    #[test]
    fn reproduces_the_signing_key_and_content_hash_of_edgegrid_python() {
        let data: Value = serde_json::from_str(&fixture("testdata.json")).expect("JSON");
        let client = vector_client(&data);
        let ts = data["timestamp"].as_str().expect("timestamp");
        assert_eq!(client.signing_key(ts), data["sign_key_test"]);
        assert_eq!(
            client.content_hash("POST", b"test_body"),
            data["content_hash_test"]
        );
        assert_eq!(client.content_hash("PUT", b"test_body"), "");
        assert_eq!(client.content_hash("POST", b""), "");
    }

    #[test]
    fn reproduces_every_test_case_of_edgegrid_python() {
        let data: Value = serde_json::from_str(&fixture("testdata.json")).expect("JSON");
        let cases: Vec<Value> = serde_json::from_str(&fixture("testcases.json")).expect("JSON");
        let client = vector_client(&data);
        let base = url::Url::parse(data["base_url"].as_str().expect("base_url")).expect("url");
        let ts = data["timestamp"].as_str().expect("timestamp");
        let nonce = data["nonce"].as_str().expect("nonce");
        let mut checked = 0;
        for case in &cases {
            let name = case["testName"].as_str().expect("name");
            // These test how python-requests refuses a header value, not the signature.
            if case.get("failsWithMessage").is_some() {
                continue;
            }
            let request = &case["request"];
            let mut headers: Vec<(String, String)> = Vec::new();
            for h in request["headers"].as_array().into_iter().flatten() {
                for (k, v) in h.as_object().expect("header object") {
                    headers.push((k.clone(), v.as_str().expect("value").to_string()));
                }
            }
            let host = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                .map_or_else(
                    || base.host_str().expect("host").to_string(),
                    |(_, v)| v.clone(),
                );
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let to_sign = ToSign {
                method: request["method"].as_str().expect("method"),
                scheme: base.scheme(),
                host: &host,
                path_and_query: request["path"].as_str().expect("path"),
                headers: &pairs,
                body: request["data"].as_str().unwrap_or("").as_bytes(),
            };
            assert_eq!(
                client.data_to_sign(&to_sign, ""),
                case["expectedDataToSign"].as_str().expect("data to sign"),
                "{name}: data to sign"
            );
            assert_eq!(
                client.authorization(&to_sign, ts, nonce),
                case["expectedAuthorization"]
                    .as_str()
                    .expect("authorization"),
                "{name}: Authorization"
            );
            checked += 1;
        }
        assert!(checked >= 12, "only {checked} cases checked");
    }

    #[test]
    fn timestamps_are_utc_in_edgegrid_form() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_395_430_461);
        assert_eq!(timestamp(t), "20140321T19:34:21+0000");
    }

    #[test]
    fn edgerc_sections_are_read_as_edgegrid_python_reads_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("edgerc");
        std::fs::write(&path, fixture("sample_edgerc")).expect("write");
        let env = BTreeMap::new();
        let default = find_credentials(&env, Some(&path), "default").expect("default");
        assert_eq!(
            default.host,
            "xxxx-xxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxx.luna.akamaiapis.net/"
        );
        assert_eq!(
            default.signed_url().expect("url").as_str(),
            "https://xxxx-xxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxx.luna.akamaiapis.net/"
        );
        assert_eq!(default.max_body, 131_072);
        assert!(default.headers_to_sign.is_empty());
        let dashes = find_credentials(&env, Some(&path), "dashes").expect("dashes");
        assert_eq!(dashes.client_token, default.client_token);
        assert_eq!(dashes.client_secret, default.client_secret);
        let headers = find_credentials(&env, Some(&path), "headers").expect("headers");
        assert_eq!(headers.headers_to_sign, ["x-mything1", "x-mything2"]);
        let broken = find_credentials(&env, Some(&path), "broken").expect("read");
        assert!(broken.signed_url().expect_err("quoted").contains("quoted"));
        let err = find_credentials(&env, Some(&path), "nope").expect_err("no section");
        assert_eq!(err.setting, "akamai.edgerc_section");
        let shown = format!("{default:?}");
        assert!(
            !shown.contains("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx="),
            "{shown}"
        );
    }

    #[test]
    fn the_environment_wins_and_must_be_complete() {
        let mut env: BTreeMap<String, String> = [
            ("AKAMAI_HOST", "akab-h.luna.akamaiapis.net"),
            ("AKAMAI_CLIENT_TOKEN", "akab-c"),
            ("AKAMAI_CLIENT_SECRET", "s3cr3t"),
            ("AKAMAI_ACCESS_TOKEN", "akab-a"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let creds =
            find_credentials(&env, Some(Path::new("/nonexistent")), "default").expect("env");
        assert_eq!(creds.client_secret.expose(), "s3cr3t");
        assert!(!format!("{creds:?}").contains("s3cr3t"));
        env.remove("AKAMAI_ACCESS_TOKEN");
        let err = find_credentials(&env, None, "default").expect_err("partial");
        assert_eq!(err.setting, "AKAMAI_ACCESS_TOKEN");
        let err = find_credentials(
            &BTreeMap::new(),
            Some(Path::new("/nonexistent/x")),
            "default",
        )
        .expect_err("none");
        assert!(err.message.contains("/nonexistent/x"), "{}", err.message);
    }

    #[test]
    fn the_host_is_a_host_name_and_the_api_base_https_or_this_machine() {
        let mut c = EdgeGrid {
            host: "akab-x.luna.akamaiapis.net".into(),
            client_token: Secret::new("c"),
            client_secret: Secret::new("s"),
            access_token: Secret::new("a"),
            headers_to_sign: Vec::new(),
            max_body: 1,
            source: String::new(),
        };
        assert_eq!(
            c.signed_url().expect("url").as_str(),
            "https://akab-x.luna.akamaiapis.net/"
        );
        c.host = "akab-x.luna.akamaiapis.net:8443/".into();
        assert_eq!(
            authority(&c.signed_url().expect("url")),
            "akab-x.luna.akamaiapis.net:8443"
        );
        // A URL as the host was once how a test server was named: now AKAMAI_API_BASE_URL is.
        c.host = "http://127.0.0.1:8080".into();
        assert!(
            c.signed_url()
                .expect_err("url")
                .contains("AKAMAI_API_BASE_URL")
        );
        c.host = "akab-x.luna.akamaiapis.net/ccu".into();
        assert!(c.signed_url().expect_err("path").contains("path"));

        assert!(check_api_base("http://127.0.0.1:8080").is_ok());
        assert!(check_api_base("http://localhost:8080/").is_ok());
        assert!(check_api_base("https://proxy.example.com").is_ok());
        let plain = check_api_base("http://proxy.example.com").expect_err("plain");
        assert!(plain.contains("unencrypted"), "{plain}");
        assert!(check_api_base("http://127.0.0.1:8080/ccu").is_err());
        assert!(check_api_base("ftp://127.0.0.1").is_err());
        assert!(check_api_base("not a url").is_err());
    }

    #[test]
    fn requests_go_to_the_api_base_but_are_signed_for_the_host() {
        let c = EdgeGrid {
            host: "akab-x.luna.akamaiapis.net".into(),
            client_token: Secret::new("c"),
            client_secret: Secret::new("s"),
            access_token: Secret::new("a"),
            headers_to_sign: Vec::new(),
            max_body: 1,
            source: String::new(),
        };
        let transport = super::super::Transport::new(Duration::from_secs(5), &BTreeMap::new());
        let base = check_api_base("http://127.0.0.1:9").expect("base");
        let a = Akamai::new(c.clone(), Some(base), &transport).expect("akamai");
        assert_eq!(a.host(), "akab-x.luna.akamaiapis.net");
        assert_eq!(a.api_base().as_deref(), Some("http://127.0.0.1:9"));
        let direct = Akamai::new(c, None, &transport).expect("akamai");
        assert_eq!(direct.api_base(), None);
    }

    #[test]
    fn bodies_stay_within_the_limit_and_keep_every_object_in_order() {
        let objects: Vec<Value> = (0..100)
            .map(|i| Value::from(format!("https://example.com/{i:03}/{}", "x".repeat(40))))
            .collect();
        let all = bodies(&objects, 50_000).expect("bodies");
        assert_eq!(all.len(), 1);
        let small = bodies(&objects, 1000).expect("bodies");
        assert!(small.len() > 1);
        let mut back = Vec::new();
        for b in &small {
            assert!(b.len() <= 1000, "{} bytes", b.len());
            let v: Value = serde_json::from_str(b).expect("JSON");
            back.extend(v["objects"].as_array().expect("objects").iter().cloned());
        }
        assert_eq!(back, objects);
        // Exactly at the limit fits; one byte over does not.
        let one = [Value::from("abc")];
        let exact = "{\"objects\":[\"abc\"]}".len();
        assert_eq!(bodies(&one, exact).expect("fits").len(), 1);
        assert!(bodies(&one, exact - 1).is_err());
        assert!(bodies(&[], 10).expect("none").is_empty());
        let codes = [Value::from(12345u64), Value::from(678u64)];
        assert_eq!(
            bodies(&codes, MAX_BODY).expect("codes"),
            ["{\"objects\":[12345,678]}"]
        );
    }

    #[test]
    fn errors_are_classified_with_a_hint() {
        let problem = r#"{"type":"x","title":"Not authorized","detail":"The signature does not match","status":401,"supportId":"17PY1"}"#;
        let f = classify_error(401, None, problem);
        assert_eq!(f.kind, FailureKind::Credentials);
        assert_eq!(
            f.to_string(),
            "HTTP 401: Not authorized: The signature does not match (support id 17PY1)"
        );
        assert!(f.hint.unwrap_or_default().contains(".edgerc"));
        assert!(
            classify_error(403, None, "{}")
                .hint
                .unwrap_or_default()
                .contains("CCU APIs")
        );
        for status in [429, 500, 503, 507] {
            assert_eq!(
                classify_error(status, None, "").kind,
                FailureKind::Transient
            );
        }
        assert!(classify_error(429, None, "").rate_limited);
        assert_eq!(classify_error(400, None, "{}").kind, FailureKind::Rejected);
        assert_eq!(classify_error(302, None, "").kind, FailureKind::Rejected);
    }
}
