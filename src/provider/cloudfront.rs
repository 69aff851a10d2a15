//! Amazon CloudFront: one `CreateInvalidation` per batch of paths, signed with SigV4 (the
//! `aws-sigv4` crate), optionally followed by `GetInvalidation` polls until it is complete. Also
//! the AWS credentials chain the way AWS tools read it: the environment, then the shared
//! credentials and config files with `AWS_PROFILE`.
//!
//! A retried request carries the same `CallerReference`, so CloudFront answers it with the
//! invalidation the first attempt created instead of creating (and billing) a second one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use percent_encoding::{AsciiSet, percent_encode};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Failure, FailureKind, Purger, Request};
use crate::secret::Secret;

pub const DEFAULT_ENDPOINT: &str = "https://cloudfront.amazonaws.com";
/// The API version in every path.
const API: &str = "2020-05-31";
/// CloudFront is a global service, signed for this region.
const SIGNING_REGION: &str = "us-east-1";
/// The most paths one invalidation may carry (and the most file paths CloudFront keeps in
/// progress per distribution).
pub const MAX_BATCH_SIZE: usize = 3000;
/// One third of [`MAX_BATCH_SIZE`]: three requests may be in progress at once.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// Characters a path keeps percent-encoded beyond what a URL already encodes: CloudFront asks
/// for the "unsafe" characters of RFC 1738 to be encoded, and a literal `*` would be read as a
/// wildcard. `%` is not here: the path is already encoded, its escapes stay as they are.
const CLOUDFRONT_EXTRA: &AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'#')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'~')
    .add(b'[')
    .add(b']')
    .add(b'`')
    .add(b'*');

// ------------------------------------------------------------------------------------------
// Credentials
// ------------------------------------------------------------------------------------------

/// AWS credentials. The key id is not secret (it shows in consoles and logs); the secret
/// access key and session token are, and `Debug` hides them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    /// Where they were found, for messages (`AWS_ACCESS_KEY_ID`, `profile deploy in ~/.aws/credentials`).
    pub source: String,
}

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

/// Finds the credentials as the AWS CLI and SDKs do, minus the ways that need another
/// program or service: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` (what
/// GitHub's `aws-actions/configure-aws-credentials` sets), then the profile `AWS_PROFILE`
/// (else `default`) of `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`), then of
/// `AWS_CONFIG_FILE` (else `~/.aws/config`).
pub fn find_credentials(env: &BTreeMap<String, String>) -> Result<Credentials, CredentialsError> {
    let var = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => {
            return Ok(Credentials {
                access_key_id: id.to_string(),
                secret_access_key: Secret::new(secret),
                session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
                source: "AWS_ACCESS_KEY_ID".into(),
            });
        }
        (Some(_), None) => {
            return Err(cred_error(
                "AWS_SECRET_ACCESS_KEY",
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
                "set both (in CI, map both secrets into this step's environment), or neither to use a profile",
            ));
        }
        (None, Some(_)) => {
            return Err(cred_error(
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into(),
                "set both, or neither to use a profile",
            ));
        }
        (None, None) => {}
    }
    let named = var("AWS_PROFILE").or_else(|| var("AWS_DEFAULT_PROFILE"));
    let profile = named.unwrap_or("default");
    let home = var("HOME").map(PathBuf::from);
    let file = |var_name: &str, default: &str| {
        var(var_name)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let files = [
        (
            file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
            "AWS_SHARED_CREDENTIALS_FILE",
            profile.to_string(),
        ),
        (
            file("AWS_CONFIG_FILE", ".aws/config"),
            "AWS_CONFIG_FILE",
            // The config file names every profile but `default` `[profile NAME]`.
            if profile == "default" {
                "default".to_string()
            } else {
                format!("profile {profile}")
            },
        ),
    ];
    let mut seen_profile = false;
    let mut needs_a_tool = None;
    for (path, setting, section) in files {
        let Some(path) = path else { continue };
        let Some(props) = read_profile(&path, &section, setting)? else {
            continue;
        };
        seen_profile = true;
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => {
                return Ok(Credentials {
                    access_key_id: id.to_string(),
                    secret_access_key: Secret::new(secret),
                    session_token: get("aws_session_token").map(Secret::new),
                    source: format!("profile {profile} in {}", path.display()),
                });
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(cred_error(
                    setting,
                    format!(
                        "profile {profile} in {} has only one of aws_access_key_id and aws_secret_access_key",
                        path.display()
                    ),
                    "add the other one (`aws configure --profile NAME` writes both)",
                ));
            }
            (None, None) => {
                if let Some(key) = [
                    "role_arn",
                    "sso_session",
                    "sso_start_url",
                    "credential_process",
                    "web_identity_token_file",
                ]
                .into_iter()
                .find(|k| get(k).is_some())
                {
                    needs_a_tool = Some((key, path.clone()));
                }
            }
        }
    }
    if let Some((key, path)) = needs_a_tool {
        return Err(cred_error(
            "AWS_PROFILE",
            format!(
                "profile {profile} in {} gets its credentials through {key}, which sitepurge does not run",
                path.display()
            ),
            "export them first: eval \"$(aws configure export-credentials --profile NAME --format env)\"; in GitHub Actions, aws-actions/configure-aws-credentials sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN",
        ));
    }
    if let Some(name) = named {
        return Err(cred_error(
            "AWS_PROFILE",
            format!(
                "the profile {name} is in neither the shared credentials nor the config file{}",
                if seen_profile { " with keys" } else { "" }
            ),
            "check the name (`aws configure list-profiles`), or unset AWS_PROFILE",
        ));
    }
    Err(cred_error(
        "AWS_ACCESS_KEY_ID",
        "no AWS credentials are set".into(),
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or a profile in ~/.aws/credentials; in GitHub Actions use aws-actions/configure-aws-credentials with an OIDC role",
    ))
}

/// The keys of `[section]` in the INI file at `path`; none if the file or section is absent.
fn read_profile(
    path: &Path,
    section: &str,
    setting: &'static str,
) -> Result<Option<BTreeMap<String, String>>, CredentialsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(cred_error(
                setting,
                format!("cannot read {}: {e}", path.display()),
                "fix its permissions, or point the variable at another file",
            ));
        }
    };
    // Values are taken as written: no quotes or backslash escapes, as the AWS CLI reads them.
    let options = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..Default::default()
    };
    // The parser's message may quote a line, and the line may hold a key: only the position.
    let parsed = ini::Ini::load_from_str_opt(&text, options).map_err(|e| {
        cred_error(
            setting,
            format!(
                "{} is not an INI file (line {}, column {})",
                path.display(),
                e.line,
                e.col
            ),
            "fix the file (`aws configure` writes it), or point the variable at another file",
        )
    })?;
    Ok(parsed.section(Some(section)).map(|props| {
        props
            .iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.to_string()))
            .collect()
    }))
}

// ------------------------------------------------------------------------------------------
// Endpoint and paths
// ------------------------------------------------------------------------------------------

/// Checks the endpoint: https, or plain http only to this machine (a test server), since the
/// session token and replayable signatures travel in its headers.
pub fn check_endpoint(raw: &str) -> Result<url::Url, String> {
    let text = crate::secret::redact(raw);
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{text:?} carries a user name or password, which CloudFront does not use"
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if crate::secret::is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{text:?} is plain http to a host that is not this machine: signed requests would travel unencrypted"
            ));
        }
        _ => return Err(format!("{text:?} is not an http(s) URL")),
    }
    if url.host_str().is_none() {
        return Err(format!("{text:?} has no host"));
    }
    Ok(url)
}

/// The invalidation path of a URL: its path, encoded as CloudFront asks.
pub fn invalidation_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    // A URL's path is already percent-encoded (non-ASCII, spaces, `%`): encode what is left.
    percent_encode(path.as_bytes(), CLOUDFRONT_EXTRA).to_string()
}

/// The paths of one request, deduplicated and sorted (two host names, or two cache-key header
/// sets, of one path are one invalidation path).
pub fn request_paths(request: &Request) -> Vec<String> {
    let paths: BTreeSet<String> = match request {
        Request::Files(entries) => entries.iter().map(|e| invalidation_path(&e.url)).collect(),
        // A distribution serves its host names alike: clearing one clears them all.
        Request::Hosts(_) | Request::Everything => ["/*".to_string()].into(),
        // `host/path` prefixes, their path already encoded as in a URL.
        Request::Prefixes(prefixes) => prefixes
            .iter()
            .map(|p| {
                let path = p.split_once('/').map_or("", |(_, path)| path);
                let path = format!("/{}", path.trim_end_matches('/'));
                let encoded = percent_encode(path.as_bytes(), CLOUDFRONT_EXTRA).to_string();
                format!("{}/*", encoded.trim_end_matches('/'))
            })
            .collect(),
    };
    paths.into_iter().collect()
}

/// The `CallerReference` of a request: the plan's key and the paths, hashed. The same request
/// of the same run gets the same reference, so a retry never creates a second invalidation; a
/// later run has another key.
pub fn caller_reference(plan_key: &str, paths: &[String]) -> String {
    let mut hash = Sha256::new();
    hash.update(plan_key.as_bytes());
    for p in paths {
        hash.update(b"\n");
        hash.update(p.as_bytes());
    }
    let hex: String = hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sitepurge-{hex}")
}

/// The `InvalidationBatch` XML of a request.
pub fn invalidation_body(paths: &[String], caller_reference: &str) -> String {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/{API}/\"><Paths><Quantity>{}</Quantity><Items>",
        paths.len()
    );
    for p in paths {
        body.push_str("<Path>");
        body.push_str(&quick_xml::escape::escape(p.as_str()));
        body.push_str("</Path>");
    }
    body.push_str("</Items></Paths><CallerReference>");
    body.push_str(&quick_xml::escape::escape(caller_reference));
    body.push_str("</CallerReference></InvalidationBatch>");
    body
}

// ------------------------------------------------------------------------------------------
// Answers
// ------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Invalidation {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Status")]
    status: String,
}

/// `<ErrorResponse><Error>…` as CloudFront writes it, or `<ErrorResponse><Errors><Error>…` as
/// some AWS services (and moto) do.
#[derive(Debug, Deserialize)]
struct ErrorResponse {
    #[serde(rename = "Error")]
    error: Option<ErrorBody>,
    #[serde(rename = "Errors")]
    errors: Option<Errors>,
}

#[derive(Debug, Deserialize)]
struct Errors {
    #[serde(rename = "Error")]
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

#[derive(Debug, Default, Deserialize)]
struct InvalidationList {
    #[serde(rename = "Items", default)]
    items: Option<InvalidationItems>,
}

#[derive(Debug, Default, Deserialize)]
struct InvalidationItems {
    #[serde(rename = "InvalidationSummary", default)]
    summaries: Vec<Invalidation>,
}

/// Whether an invalidation's status means done. CloudFront says `Completed`; moto, the test
/// stand-in, says `COMPLETED`.
pub fn is_completed(status: &str) -> bool {
    status.eq_ignore_ascii_case("completed")
}

/// Turns an error answer into a classified failure, with a hint for the codes people hit.
pub fn classify_error(status: u16, retry_after: Option<Duration>, body: &str) -> Failure {
    let parsed: Option<ErrorResponse> = quick_xml::de::from_str(body).ok();
    let (code, message) = parsed
        .and_then(|e| e.error.or(e.errors.map(|e| e.error)))
        .map(|e| (e.code, e.message))
        .unwrap_or_default();
    let kind = match (status, code.as_str()) {
        (300..=399, _) => FailureKind::Rejected,
        (_, "Throttling" | "TooManyInvalidationsInProgress" | "ServiceUnavailable") => {
            FailureKind::Transient
        }
        (429 | 408 | 500..=599, _) => FailureKind::Transient,
        (
            _,
            "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "ExpiredToken"
            | "AccessDenied"
            | "NoSuchDistribution",
        ) => FailureKind::Credentials,
        (401 | 403, _) => FailureKind::Credentials,
        _ => FailureKind::Rejected,
    };
    let detail = if (300..400).contains(&status) {
        "the API answered with a redirect, which is not followed: is the endpoint right?".into()
    } else if code.is_empty() {
        body.chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string()
    } else if message.is_empty() {
        code.clone()
    } else {
        format!("{code}: {message}")
    };
    let mut failure = Failure::new(kind, Some(status), detail);
    failure.hint = match code.as_str() {
        "SignatureDoesNotMatch" => Some(
            "the secret access key does not belong to the key id (or the clock is off by minutes): check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key".into(),
        ),
        "InvalidClientTokenId" | "UnrecognizedClientException" => Some(
            "AWS does not know this access key id: it was deleted, or belongs to another partition".into(),
        ),
        "ExpiredToken" => Some(
            "the temporary credentials have expired: get new ones (in CI, run the credentials step again closer to the purge)".into(),
        ),
        "AccessDenied" => Some(
            "the credentials lack a permission: allow cloudfront:CreateInvalidation (and cloudfront:GetInvalidation for wait = true) on the distribution".into(),
        ),
        "NoSuchDistribution" => Some(
            "no distribution has this id in the account: copy it from the CloudFront console (distribution_id in [cloudfront])".into(),
        ),
        "TooManyInvalidationsInProgress" => Some(
            "CloudFront keeps at most 3,000 file paths and 15 wildcard paths in progress per distribution: the request is retried; a smaller batch_size or `everything` helps".into(),
        ),
        "InvalidArgument" | "InvalidRelativePath" => Some(
            "CloudFront refused a path: this is a sitepurge bug, please report it with the output of -vv".into(),
        ),
        _ if kind == FailureKind::Credentials => Some(
            "check the credentials: `sitepurge verify` tells what CloudFront thinks of them".into(),
        ),
        _ => None,
    };
    failure.retry_after = retry_after;
    failure.rate_limited = status == 429 || code == "Throttling";
    failure
}

// ------------------------------------------------------------------------------------------
// The client
// ------------------------------------------------------------------------------------------

/// Waiting for invalidations to complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Time between two `GetInvalidation` polls.
    pub every: Duration,
    /// Give up waiting (the invalidation goes on) after this long.
    pub at_most: Duration,
    /// Print a progress line on stderr at each poll.
    pub progress: bool,
}

/// CloudFront as a [`Purger`] for one distribution.
#[derive(Debug, Clone)]
pub struct CloudFront {
    http: reqwest::Client,
    endpoint: url::Url,
    pub distribution_id: String,
    credentials: Credentials,
    pub batch_size: usize,
    pub everything: Vec<Request>,
    /// What makes this run's `CallerReference`s its own (see [`caller_reference`]).
    pub plan_key: String,
    pub wait: Option<Wait>,
}

/// What `sitepurge verify` learns from `ListInvalidations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Invalidations of the first page still in progress.
    pub in_progress: usize,
}

impl CloudFront {
    pub fn new(
        endpoint: url::Url,
        distribution_id: String,
        credentials: Credentials,
        transport: &super::Transport,
    ) -> Result<CloudFront, String> {
        Ok(CloudFront {
            http: super::http_client(transport)?,
            endpoint,
            distribution_id,
            credentials,
            batch_size: DEFAULT_BATCH_SIZE,
            everything: vec![Request::Everything],
            plan_key: String::new(),
            wait: None,
        })
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.as_str().trim_end_matches('/'))
    }

    /// Sends one signed request; the answer's status and body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, String), Failure> {
        let url = self.url(path);
        let body = body.unwrap_or_default();
        let mut headers = HeaderMap::new();
        if !body.is_empty() {
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml"),
            );
        }
        for (name, value) in self.sign(method, &url, body.as_bytes())? {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                Failure::new(
                    FailureKind::Credentials,
                    None,
                    "the credentials cannot be sent in an HTTP header (a stray character or line break?)",
                )
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| Failure::new(FailureKind::Rejected, None, "bad method"))?;
        let resp = self
            .http
            .request(method, &url)
            .headers(headers)
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
        // An answer that echoed the session token must not carry it into a message.
        let text = match &self.credentials.session_token {
            Some(t) if !t.expose().is_empty() => text.replace(t.expose(), "<redacted>"),
            _ => text,
        };
        if (200..300).contains(&status) {
            Ok((status, text))
        } else {
            Err(classify_error(status, retry_after, &text))
        }
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) of a request.
    fn sign(
        &self,
        method: &str,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, String)>, Failure> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let creds = &self.credentials;
        let identity = aws_credential_types::Credentials::new(
            creds.access_key_id.clone(),
            creds.secret_access_key.expose().to_string(),
            creds.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "sitepurge",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(SIGNING_REGION)
            .name("cloudfront")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::new(FailureKind::Rejected, None, format!("cannot sign: {e}")))?
            .into();
        let signable =
            SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(body))
                .map_err(|e| {
                    Failure::new(FailureKind::Rejected, None, format!("cannot sign: {e}"))
                })?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Failure::new(FailureKind::Rejected, None, format!("cannot sign: {e}")))?
            .into_parts();
        instructions
            .headers()
            .map(|(name, value)| {
                HeaderName::from_bytes(name.as_bytes())
                    .map(|n| (n, value.to_string()))
                    .map_err(|_| Failure::new(FailureKind::Rejected, None, "bad signing header"))
            })
            .collect()
    }

    /// `CreateInvalidation` of these paths: the invalidation's id and status.
    pub async fn create_invalidation(&self, paths: &[String]) -> Result<(String, String), Failure> {
        let reference = caller_reference(&self.plan_key, paths);
        let body = invalidation_body(paths, &reference);
        let (_, text) = self
            .call(
                "POST",
                &format!("/{API}/distribution/{}/invalidation", self.distribution_id),
                Some(body),
            )
            .await?;
        let found: Invalidation = quick_xml::de::from_str(&text).map_err(|e| {
            Failure::new(
                FailureKind::Rejected,
                None,
                format!("the answer to CreateInvalidation is not an invalidation: {e}"),
            )
        })?;
        Ok((found.id, found.status))
    }

    /// `GetInvalidation`: the invalidation's status.
    pub async fn invalidation_status(&self, id: &str) -> Result<String, Failure> {
        let (_, text) = self
            .call(
                "GET",
                &format!(
                    "/{API}/distribution/{}/invalidation/{id}",
                    self.distribution_id
                ),
                None,
            )
            .await?;
        let found: Invalidation = quick_xml::de::from_str(&text).map_err(|e| {
            Failure::new(
                FailureKind::Rejected,
                None,
                format!("the answer to GetInvalidation is not an invalidation: {e}"),
            )
        })?;
        Ok(found.status)
    }

    /// `ListInvalidations` (first page): proves the credentials and the distribution id.
    pub async fn list_invalidations(&self) -> Result<Listed, Failure> {
        let (_, text) = self
            .call(
                "GET",
                &format!(
                    "/{API}/distribution/{}/invalidation?MaxItems=100",
                    self.distribution_id
                ),
                None,
            )
            .await?;
        let list: InvalidationList = quick_xml::de::from_str(&text).unwrap_or_default();
        Ok(Listed {
            in_progress: list
                .items
                .map(|i| i.summaries)
                .unwrap_or_default()
                .iter()
                .filter(|s| !is_completed(&s.status))
                .count(),
        })
    }

    /// Polls until the invalidation is complete, saying how it goes on stderr.
    async fn wait_for(&self, wait: Wait, id: &str, paths: usize) -> Result<(), Failure> {
        let started = Instant::now();
        loop {
            let status = self.invalidation_status(id).await?;
            let elapsed = Duration::from_secs(started.elapsed().as_secs());
            if wait.progress {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "cloudfront: invalidation {id} ({paths} path{}): {status} after {}",
                    if paths == 1 { "" } else { "s" },
                    humantime::format_duration(elapsed)
                );
            }
            if is_completed(&status) {
                return Ok(());
            }
            if started.elapsed() >= wait.at_most {
                if wait.progress {
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "cloudfront: stopped waiting for invalidation {id} after {}; it goes on without us",
                        humantime::format_duration(elapsed)
                    );
                }
                return Ok(());
            }
            tokio::time::sleep(wait.every).await;
        }
    }
}

impl Purger for CloudFront {
    fn name(&self) -> &'static str {
        "cloudfront"
    }

    fn target(&self) -> String {
        format!("distribution {}", self.distribution_id)
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn everything(&self) -> Vec<Request> {
        self.everything.clone()
    }

    async fn send(&self, request: &Request) -> Result<(), Failure> {
        let paths = request_paths(request);
        if paths.is_empty() {
            return Ok(());
        }
        // A failed poll fails the request: its retry sends the same CallerReference, which
        // CloudFront answers with the same invalidation, and polls again.
        let (id, status) = self.create_invalidation(&paths).await?;
        match self.wait {
            Some(wait) if !is_completed(&status) => self.wait_for(wait, &id, paths.len()).await,
            Some(wait) => {
                if wait.progress {
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "cloudfront: invalidation {id} ({} path{}): {status}",
                        paths.len(),
                        if paths.len() == 1 { "" } else { "s" },
                    );
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::FileEntry;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn paths_are_the_url_paths_with_unsafe_characters_encoded() {
        let cases = [
            ("https://example.com/", "/"),
            ("https://example.com/index.html", "/index.html"),
            ("https://example.com/caf%C3%A9/", "/caf%C3%A9/"),
            ("https://example.com/a%20b.html", "/a%20b.html"),
            ("https://example.com:8443/x", "/x"),
            ("https://example.com/~user/", "/%7Euser/"),
            ("https://example.com/a*b", "/a%2Ab"),
            ("https://example.com/[x]|y", "/%5Bx%5D%7Cy"),
            ("https://example.com/a&b+c=d", "/a&b+c=d"),
        ];
        for (url, path) in cases {
            assert_eq!(invalidation_path(url), path, "{url}");
        }
    }

    #[test]
    fn one_path_per_request_whatever_the_host_or_headers() {
        let entry = |url: &str| FileEntry {
            url: url.into(),
            headers: BTreeMap::new(),
        };
        let request = Request::Files(vec![
            entry("https://www.example.com/b"),
            entry("https://example.com/b"),
            entry("https://example.com/a"),
        ]);
        assert_eq!(request_paths(&request), ["/a", "/b"]);
        assert_eq!(request_paths(&Request::Everything), ["/*"]);
        assert_eq!(
            request_paths(&Request::Hosts(vec!["example.com".into()])),
            ["/*"]
        );
        assert_eq!(
            request_paths(&Request::Prefixes(vec![
                "example.com/docs/".into(),
                "www.example.com/docs".into(),
                "example.com/blog/en".into(),
                "example.com/caf%C3%A9~/".into(),
            ])),
            ["/blog/en/*", "/caf%C3%A9%7E/*", "/docs/*"]
        );
    }

    #[test]
    fn caller_reference_is_the_same_for_a_retry_and_new_for_another_run() {
        let paths = vec!["/a".to_string(), "/b".to_string()];
        let first = caller_reference("run-1", &paths);
        assert_eq!(first, caller_reference("run-1", &paths));
        assert_ne!(first, caller_reference("run-2", &paths));
        assert_ne!(first, caller_reference("run-1", &paths[..1]));
        assert!(
            first.starts_with("sitepurge-") && first.len() == 42,
            "{first}"
        );
    }

    #[test]
    fn the_body_lists_every_path_escaped() {
        let body = invalidation_body(&["/a&b".into(), "/c".into()], "sitepurge-1");
        assert!(
            body.ends_with(
                "<InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Paths><Quantity>2</Quantity><Items><Path>/a&amp;b</Path><Path>/c</Path></Items></Paths><CallerReference>sitepurge-1</CallerReference></InvalidationBatch>"
            ),
            "{body}"
        );
    }

    #[test]
    fn errors_are_classified_with_a_hint() {
        let xml = |code: &str| {
            format!(
                "<ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            )
        };
        let f = classify_error(403, None, &xml("SignatureDoesNotMatch"));
        assert_eq!(f.kind, FailureKind::Credentials);
        assert_eq!(f.to_string(), "HTTP 403: SignatureDoesNotMatch: m");
        assert!(f.hint.unwrap_or_default().contains("AWS_SECRET_ACCESS_KEY"));
        let f = classify_error(404, None, &xml("NoSuchDistribution"));
        assert!(f.kind.is_setup());
        assert!(f.hint.unwrap_or_default().contains("distribution_id"));
        for (status, code) in [
            (400, "TooManyInvalidationsInProgress"),
            (400, "Throttling"),
            (429, ""),
            (503, "ServiceUnavailable"),
            (500, ""),
        ] {
            let f = classify_error(status, Some(Duration::from_secs(1)), &xml(code));
            assert_eq!(f.kind, FailureKind::Transient, "{status} {code}");
            assert_eq!(f.retry_after, Some(Duration::from_secs(1)));
        }
        assert!(classify_error(400, None, &xml("Throttling")).rate_limited);
        let wrapped = "<?xml version=\"1.0\"?><ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>m</Message><Type>Sender</Type></Error></Errors></ErrorResponse>";
        assert_eq!(
            classify_error(403, None, wrapped).to_string(),
            "HTTP 403: SignatureDoesNotMatch: m"
        );
        assert_eq!(
            classify_error(400, None, &xml("InvalidArgument")).kind,
            FailureKind::Rejected
        );
        assert_eq!(
            classify_error(403, None, "not xml").kind,
            FailureKind::Credentials
        );
        assert_eq!(
            classify_error(301, None, "").kind,
            FailureKind::Rejected,
            "a redirect is not followed"
        );
    }

    #[test]
    fn completed_in_either_spelling() {
        assert!(is_completed("Completed") && is_completed("COMPLETED"));
        assert!(!is_completed("InProgress"));
    }

    #[test]
    fn the_environment_comes_before_the_files() {
        let creds = find_credentials(&env(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
            ("AWS_SESSION_TOKEN", "t0ken"),
            ("HOME", "/nonexistent"),
        ]))
        .expect("creds");
        assert_eq!(creds.access_key_id, "AKIDEXAMPLE");
        assert_eq!(creds.secret_access_key.expose(), "s3cr3t");
        assert_eq!(
            creds.session_token.as_ref().map(Secret::expose),
            Some("t0ken")
        );
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0ken"),
            "{shown}"
        );
        let half =
            find_credentials(&env(&[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")])).expect_err("half");
        assert_eq!(half.setting, "AWS_SECRET_ACCESS_KEY");
        let none = find_credentials(&env(&[("HOME", "/nonexistent")])).expect_err("none");
        assert!(
            none.hint
                .unwrap_or_default()
                .contains("configure-aws-credentials")
        );
    }

    #[test]
    fn profiles_come_from_the_credentials_file_then_the_config_file() {
        let home = tempfile::tempdir().expect("tempdir");
        let aws = home.path().join(".aws");
        std::fs::create_dir(&aws).expect("mkdir");
        std::fs::write(
            aws.join("credentials"),
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = def/+secret\n\n[deploy]\naws_access_key_id=AKIDDEPLOY\naws_secret_access_key=dep\naws_session_token=tok\n",
        )
        .expect("write");
        std::fs::write(
            aws.join("config"),
            "[default]\nregion = eu-west-1\n[profile other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = oth\n[profile sso]\nsso_session = corp\n",
        )
        .expect("write");
        let home_var = home.path().to_str().expect("utf-8");
        let with = |profile: Option<&str>| {
            let mut e = env(&[("HOME", home_var)]);
            if let Some(p) = profile {
                e.insert("AWS_PROFILE".into(), p.into());
            }
            find_credentials(&e)
        };
        let default = with(None).expect("default");
        assert_eq!(default.access_key_id, "AKIDDEFAULT");
        assert_eq!(default.secret_access_key.expose(), "def/+secret");
        assert_eq!(default.session_token, None);
        let deploy = with(Some("deploy")).expect("deploy");
        assert_eq!(deploy.access_key_id, "AKIDDEPLOY");
        assert_eq!(
            deploy.session_token.as_ref().map(Secret::expose),
            Some("tok")
        );
        assert!(
            deploy.source.contains("profile deploy"),
            "{}",
            deploy.source
        );
        assert_eq!(
            with(Some("other")).expect("other").access_key_id,
            "AKIDOTHER"
        );
        let sso = with(Some("sso")).expect_err("sso");
        assert!(sso.message.contains("sso_session"), "{}", sso.message);
        assert!(sso.hint.unwrap_or_default().contains("export-credentials"));
        let missing = with(Some("nope")).expect_err("missing");
        assert_eq!(missing.setting, "AWS_PROFILE");
        assert!(missing.message.contains("nope"));
        // The environment wins over any profile.
        let mut e = env(&[
            ("HOME", home_var),
            ("AWS_PROFILE", "deploy"),
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
        ]);
        assert_eq!(find_credentials(&e).expect("env").access_key_id, "AKIDENV");
        // Files named by variables replace the default places.
        e.remove("AWS_ACCESS_KEY_ID");
        e.remove("AWS_SECRET_ACCESS_KEY");
        let other = home.path().join("elsewhere");
        std::fs::write(
            &other,
            "[deploy]\naws_access_key_id=AKIDELSEWHERE\naws_secret_access_key=x\n",
        )
        .expect("write");
        e.insert(
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            other.to_str().expect("utf-8").into(),
        );
        assert_eq!(
            find_credentials(&e).expect("file").access_key_id,
            "AKIDELSEWHERE"
        );
    }

    #[test]
    fn a_broken_credentials_file_never_quotes_its_lines() {
        let home = tempfile::tempdir().expect("tempdir");
        let file = home.path().join("creds");
        std::fs::write(&file, "[default\naws_secret_access_key = SUPERSECRET\n").expect("write");
        let err = find_credentials(&env(&[(
            "AWS_SHARED_CREDENTIALS_FILE",
            file.to_str().expect("utf-8"),
        )]))
        .expect_err("broken");
        assert!(!format!("{err:?}").contains("SUPERSECRET"), "{err:?}");
        assert_eq!(err.setting, "AWS_SHARED_CREDENTIALS_FILE");
    }

    #[test]
    fn the_endpoint_is_https_or_this_machine() {
        assert!(check_endpoint("https://cloudfront.amazonaws.com").is_ok());
        assert!(check_endpoint("http://127.0.0.1:5000").is_ok());
        assert!(check_endpoint("http://localhost:5000/").is_ok());
        let err = check_endpoint("http://proxy.example").expect_err("plain http");
        assert!(err.contains("unencrypted"), "{err}");
        let err = check_endpoint("https://u:pw@example.com").expect_err("password");
        assert!(!err.contains("pw"), "{err}");
    }

    #[test]
    fn signing_adds_the_sigv4_headers_and_the_session_token() {
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: Some(Secret::new("session")),
            source: "test".into(),
        };
        let cf = CloudFront::new(
            url::Url::parse("https://cloudfront.amazonaws.com").expect("url"),
            "E123".into(),
            creds,
            &crate::provider::Transport::new(Duration::from_secs(5), &BTreeMap::new()),
        )
        .expect("client");
        let headers = cf
            .sign(
                "POST",
                &cf.url("/2020-05-31/distribution/E123/invalidation"),
                b"<x/>",
            )
            .expect("signed");
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let auth = get("authorization");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && auth.contains("/us-east-1/cloudfront/aws4_request"),
            "{auth}"
        );
        assert!(!auth.contains("wJalrXUtnFEMI"));
        assert_eq!(get("x-amz-security-token"), "session");
        assert_eq!(get("x-amz-date").len(), "20150830T123600Z".len());
    }
}
