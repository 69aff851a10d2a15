//! Choosing and setting up the provider: credentials from the environment, the API client, the
//! zone (looked up once, here, for `run`, `watch` and `verify`), and what "purge everything"
//! means. The one place where settings become a [`AnyPurger`].

use std::collections::BTreeMap;
use std::io::Write;

use tokio_util::sync::CancellationToken;

use crate::config::{CloudflareSettings, HeaderSpec, Settings};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::provider::akamai::{self, Akamai};
use crate::provider::cloudflare::{self, Auth, Cloudflare, Everything, ZoneRef};
use crate::provider::cloudfront::{self, CloudFront};
use crate::provider::{AnyPurger, FailureKind, ProviderName, Purger, Request, Transport};
use crate::purge;
use crate::report::{
    self, AkamaiVerified, BunnyVerified, CloudFrontVerified, CloudflareVerified, Console,
    FastlyVerified, HttpPurgeVerified, Verified,
};
use crate::secret::Secret;

/// The API client for these settings: the base URL must be https (or http to loopback).
pub fn cloudflare_api(
    cf: &CloudflareSettings,
    auth: Auth,
    transport: &Transport,
) -> Result<cloudflare::Api> {
    let base = cloudflare::check_api_base(&cf.api_base).map_err(|m| {
        Error::setting(
            "CLOUDFLARE_API_BASE_URL",
            m,
            Some("use https, or http only to 127.0.0.1/localhost (a local proxy or test server)"),
        )
    })?;
    cloudflare::Api::new(&base, auth, transport)
        .map_err(|m| Error::setting("CLOUDFLARE_API_BASE_URL", m, None))
}

/// The HTTP PURGE provider, with header values read from the environment where asked.
pub fn http_purge(
    settings: &Settings,
    ctx: &Context,
) -> Result<crate::provider::http_purge::HttpPurge> {
    use crate::provider::http_purge::{EverythingRequest, HttpPurge};
    let hp = &settings.http_purge;
    let endpoint = match &hp.endpoint {
        None => None,
        Some(text) => {
            let shown = crate::secret::redact(text);
            let url = reqwest::Url::parse(text.trim()).map_err(|e| {
                Error::setting(
                    "http_purge.endpoint",
                    format!("{shown:?} is not a URL ({e})"),
                    Some("write it like http://127.0.0.1:6081"),
                )
            })?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(Error::setting(
                    "http_purge.endpoint",
                    format!(
                        "{shown:?} carries a user name or password, which would be printed with it"
                    ),
                    Some(
                        "send credentials as a header instead: headers = { Authorization = { env = \"PURGE_AUTH\" } }",
                    ),
                ));
            }
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(Error::setting(
                    "http_purge.endpoint",
                    format!("{shown:?} is not an http(s) URL with a host"),
                    None,
                ));
            }
            Some(url)
        }
    };
    let method = |text: &str, key: &'static str| {
        reqwest::Method::from_bytes(text.trim().as_bytes())
            .map_err(|_| Error::setting(key, format!("{text:?} is not an HTTP method"), None))
    };
    let headers = |specs: &Option<BTreeMap<String, HeaderSpec>>, key: &'static str| {
        let mut out = Vec::new();
        for (name, spec) in specs.iter().flatten() {
            let header = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::setting(key, format!("{name:?} is not a header name"), None))?;
            let value = match spec {
                HeaderSpec::Text(t) => t.clone(),
                HeaderSpec::Env { env } => ctx.env.get(env).cloned().ok_or_else(|| {
                    Error::setting(
                        key,
                        format!("the header {name} is to come from the environment variable {env}, which is not set"),
                        Some("export it before running sitepurge (its value is never printed)"),
                    )
                })?,
            };
            if reqwest::header::HeaderValue::from_str(&value).is_err() {
                return Err(Error::setting(
                    key,
                    format!("the value of header {name} is not a valid header value"),
                    None,
                ));
            }
            out.push((header, Secret::new(value)));
        }
        Ok::<_, Error>(out)
    };
    let everything = match &hp.everything {
        None => None,
        Some(e) => Some(EverythingRequest {
            method: method(&e.method, "http_purge.everything.method")?,
            path: e.path.clone(),
            headers: headers(&e.headers, "http_purge.everything.headers")?,
        }),
    };
    HttpPurge::new(
        endpoint,
        method(hp.method.as_deref().unwrap_or("PURGE"), "http_purge.method")?,
        headers(&hp.headers, "http_purge.headers")?,
        everything,
        &settings.transport,
    )
    .map_err(|m| Error::setting("http_purge", m, None))
}

/// The CloudFront provider for these settings: the distribution, the endpoint (https, or http
/// to this machine), the AWS credentials, what "everything" sends, and this run's key for the
/// `CallerReference`s.
pub fn cloudfront(settings: &Settings, ctx: &Context) -> Result<CloudFront> {
    let cf = &settings.cloudfront;
    let distribution_id = cf.distribution_id.clone().ok_or_else(|| {
        Error::setting(
            "cloudfront.distribution_id",
            "no CloudFront distribution is set".into(),
            Some(
                "add [cloudfront] distribution_id = \"E2QWRUHAPOMQZL\" to sitepurge.toml (the ID column in the CloudFront console)",
            ),
        )
    })?;
    let endpoint = cloudfront::check_endpoint(&cf.endpoint).map_err(|m| {
        Error::setting(
            cf.endpoint_from,
            m,
            Some("use https, or http only to 127.0.0.1/localhost (a local test server)"),
        )
    })?;
    let credentials = cloudfront::find_credentials(&ctx.env).map_err(|e| Error::Setting {
        setting: e.setting,
        message: e.message,
        hint: e.hint,
    })?;
    let mut purger = CloudFront::new(endpoint, distribution_id, credentials, &settings.transport)
        .map_err(|m| Error::setting("cloudfront", m, None))?;
    purger.batch_size = cf.batch_size;
    let (hosts, prefixes) = settings.rules.scopes();
    // A site at the root of a host clears the whole distribution; a site below paths, those.
    purger.everything = if hosts.is_empty() && !prefixes.is_empty() {
        vec![Request::Prefixes(prefixes)]
    } else {
        vec![Request::Everything]
    };
    // Each run (each watch cycle) has its own time: retries within a run reuse their
    // CallerReference, a later run never collides with an earlier one.
    let since_epoch = ctx
        .now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    purger.plan_key = format!("{since_epoch} {}", settings.state.display());
    purger.wait = cf.wait.map(|(every, at_most)| cloudfront::Wait {
        every,
        at_most,
        progress: settings.output.verbosity >= 0,
    });
    Ok(purger)
}

/// The Akamai Fast Purge provider: EdgeGrid credentials from the `AKAMAI_*` variables or the
/// `.edgerc` section, the API host they sign for, `AKAMAI_API_BASE_URL` (https, or http to this
/// machine) where requests go instead, network, action, CP codes.
pub fn akamai(settings: &Settings, ctx: &Context) -> Result<Akamai> {
    let ak = &settings.akamai;
    let credentials = akamai::find_credentials(&ctx.env, ak.edgerc.as_deref(), &ak.section)
        .map_err(|e| Error::Setting {
            setting: e.setting,
            message: e.message,
            hint: e.hint,
        })?;
    let api_base = match &ak.api_base {
        None => None,
        Some(raw) => Some(akamai::check_api_base(raw).map_err(|m| {
            Error::setting(
                "AKAMAI_API_BASE_URL",
                m,
                Some(
                    "use https, or http only to 127.0.0.1/localhost (a local proxy or test server)",
                ),
            )
        })?),
    };
    let source = credentials.source.clone();
    let mut purger = Akamai::new(credentials, api_base, &settings.transport).map_err(|m| {
        Error::setting(
            "akamai.edgerc",
            format!("{m} ({source})"),
            Some("use the host of the API client's credentials (akab-….luna.akamaiapis.net), without a scheme"),
        )
    })?;
    purger.network = ak.network;
    purger.action = ak.action;
    purger.cp_codes = ak.cp_codes.clone();
    purger.batch_size = ak.batch_size;
    Ok(purger)
}

/// The Cloudflare credentials: `CLOUDFLARE_API_TOKEN`, else the token file, else the legacy
/// `CLOUDFLARE_EMAIL` + `CLOUDFLARE_API_KEY` pair. Never from a flag: argv is public.
pub fn credentials(cf: &CloudflareSettings, ctx: &Context) -> Result<Auth> {
    let (auth, source) = find_credentials(cf, ctx)?;
    if !auth.is_sendable() {
        return Err(Error::setting(
            source,
            format!(
                "the value of {source} cannot be sent in an HTTP header (a stray character or line break?)"
            ),
            Some(
                "copy the token again from the dashboard: it is plain ASCII letters, digits, - and _",
            ),
        ));
    }
    Ok(auth)
}

fn find_credentials(cf: &CloudflareSettings, ctx: &Context) -> Result<(Auth, &'static str)> {
    let nonempty = |name: &str| {
        ctx.env
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let set_but_empty = |name: &str| ctx.env.get(name).is_some_and(|v| v.trim().is_empty());
    if let Some(token) = nonempty("CLOUDFLARE_API_TOKEN") {
        return Ok((Auth::Token(Secret::new(token)), "CLOUDFLARE_API_TOKEN"));
    }
    if let Some(path) = &cf.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::setting(
                "token_file",
                format!("cannot read the token file {}: {e}", path.display()),
                Some("the file must hold the API token alone; under systemd use LoadCredential= and point token_file at $CREDENTIALS_DIRECTORY"),
            )
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::setting(
                "token_file",
                format!("the token file {} is empty", path.display()),
                None,
            ));
        }
        return Ok((Auth::Token(Secret::new(token)), "token_file"));
    }
    match (nonempty("CLOUDFLARE_EMAIL"), nonempty("CLOUDFLARE_API_KEY")) {
        (Some(email), Some(key)) => Ok((
            Auth::Key {
                email: email.to_string(),
                key: Secret::new(key),
            },
            "CLOUDFLARE_API_KEY",
        )),
        (None, Some(_)) => Err(Error::setting(
            "CLOUDFLARE_EMAIL",
            "CLOUDFLARE_API_KEY is set but CLOUDFLARE_EMAIL is not".into(),
            Some(
                "a global API key needs the account's e-mail in CLOUDFLARE_EMAIL; better, create an API token with \"Cache Purge\" and set CLOUDFLARE_API_TOKEN",
            ),
        )),
        _ if set_but_empty("CLOUDFLARE_API_TOKEN") => Err(Error::setting(
            "CLOUDFLARE_API_TOKEN",
            "CLOUDFLARE_API_TOKEN is set but empty".into(),
            Some(
                "in CI, is the secret mapped into this step's environment (env: CLOUDFLARE_API_TOKEN: ${{ secrets.CLOUDFLARE_API_TOKEN }})?",
            ),
        )),
        _ => Err(Error::setting(
            "CLOUDFLARE_API_TOKEN",
            "no Cloudflare credentials are set".into(),
            Some(
                "create an API token with the \"Cache Purge\" permission on the zone and put it in the CLOUDFLARE_API_TOKEN environment variable (or in a file named by token_file)",
            ),
        )),
    }
}

/// Retry notes, as they happen, on the process's stderr (the purge runs on other tasks).
pub fn retry_note(verbose: bool) -> impl Fn(String) + Sync {
    move |line: String| {
        if verbose {
            let _ = writeln!(std::io::stderr().lock(), "note: {line}");
        }
    }
}

/// What "purge everything" sends with these settings, in words.
pub fn everything_means(settings: &Settings) -> String {
    let scope = |(hosts, prefixes): (Vec<String>, Vec<String>)| {
        let mut parts = Vec::new();
        if !hosts.is_empty() {
            parts.push(format!("hosts {}", hosts.join(", ")));
        }
        if !prefixes.is_empty() {
            parts.push(format!("prefixes {}", prefixes.join(", ")));
        }
        parts.join("; ")
    };
    match settings.provider {
        ProviderName::Cloudflare => match settings.cloudflare.everything {
            Everything::Zone => "the WHOLE zone: purge_everything".into(),
            Everything::Hosts => scope(settings.rules.scopes()),
        },
        ProviderName::HttpPurge => match &settings.http_purge.everything {
            Some(e) => format!(
                "{} for {}",
                e.method,
                scope(settings.rules.scopes_by(crate::urls::BaseUrl::authority))
            ),
            None => "every URL of the site, one by one".into(),
        },
        ProviderName::Akamai => {
            let ak = &settings.akamai;
            if ak.cp_codes.is_empty() {
                "every URL of the site, in batches, as no cp_codes are set".into()
            } else {
                let codes: Vec<String> = ak.cp_codes.iter().map(u64::to_string).collect();
                format!(
                    "{} of CP code(s) {} on {}",
                    ak.action.as_str(),
                    codes.join(", "),
                    ak.network.as_str()
                )
            }
        }
        ProviderName::CloudFront => {
            let (hosts, prefixes) = settings.rules.scopes();
            if hosts.is_empty() && !prefixes.is_empty() {
                let paths = cloudfront::request_paths(&Request::Prefixes(prefixes));
                format!("an invalidation of {}", paths.join(", "))
            } else {
                "an invalidation of /* (the whole distribution)".into()
            }
        }
        ProviderName::Fastly => format!(
            "the WHOLE service {}: purge_all",
            settings
                .fastly
                .0
                .service_id
                .as_deref()
                .unwrap_or("(service_id not set)")
        ),
        ProviderName::Bunny => match settings.bunny.0.pull_zone_id {
            Some(id) => format!("the WHOLE pull zone {id}: purgeCache"),
            None => format!(
                "a wildcard purge of {}",
                scope(settings.rules.scopes_by(crate::urls::BaseUrl::authority))
            ),
        },
    }
}

/// The secret of an API provider: the environment variable `env`, else the `token_file` of its
/// table. Never from the config file itself, never from a flag.
fn api_secret(
    env: &'static str,
    token_file: Option<&std::path::Path>,
    ctx: &Context,
) -> Result<Secret> {
    let table_key = if env.starts_with("FASTLY") {
        "fastly.token_file"
    } else {
        "bunny.token_file"
    };
    let (value, source) = match ctx.env.get(env).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        Some(v) => (v.to_string(), env),
        None => match token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::setting(
                        table_key,
                        format!("cannot read the token file {}: {e}", path.display()),
                        Some("the file must hold the secret alone"),
                    )
                })?;
                (text.trim().to_string(), table_key)
            }
            None => {
                return Err(Error::setting(
                    env,
                    format!("{env} is not set"),
                    Some(&format!(
                        "put the API secret in the {env} environment variable (or in a file named by token_file in its table); it is never read from sitepurge.toml"
                    )),
                ));
            }
        },
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::setting(
            source,
            format!(
                "the value of {source} is empty or cannot be sent in an HTTP header (a stray character or line break?)"
            ),
            Some("copy the secret again"),
        ));
    }
    Ok(Secret::new(value))
}

/// An API base URL: https, or http only to loopback (the secret travels in its headers).
fn api_base(raw: &str, env: &'static str) -> Result<String> {
    cloudflare::check_api_base(raw).map_err(|m| {
        Error::setting(
            env,
            m,
            Some("use https, or http only to 127.0.0.1/localhost (a local proxy or test server)"),
        )
    })
}

/// The Fastly provider for these settings.
pub fn fastly(settings: &Settings, ctx: &Context) -> Result<crate::provider::fastly::Fastly> {
    let (file, api) = &settings.fastly;
    let service_id = file
        .service_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::setting(
                "fastly.service_id",
                "no Fastly service is set".into(),
                Some("add service_id = \"...\" under [fastly] (the service's id, from its dashboard page)"),
            )
        })?;
    if !service_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::setting(
            "fastly.service_id",
            format!("{service_id:?} is not a Fastly service id (letters and digits)"),
            Some("copy the id from the service's page in the Fastly control panel, not its name"),
        ));
    }
    let token = api_secret("FASTLY_API_TOKEN", api.token_file.as_deref(), ctx)?;
    let base = api_base(&api.api_base, "FASTLY_API_BASE_URL")?;
    crate::provider::fastly::Fastly::new(
        &base,
        token,
        service_id.to_string(),
        file.soft.unwrap_or(false),
        &settings.transport,
    )
    .map_err(|m| Error::setting("FASTLY_API_BASE_URL", m, None))
}

/// The bunny.net provider for these settings.
pub fn bunny(settings: &Settings, ctx: &Context) -> Result<crate::provider::bunny::Bunny> {
    let (file, api) = &settings.bunny;
    let key = api_secret("BUNNY_API_KEY", api.token_file.as_deref(), ctx)?;
    let base = api_base(&api.api_base, "BUNNY_API_BASE_URL")?;
    let mut purger =
        crate::provider::bunny::Bunny::new(&base, key, file.pull_zone_id, &settings.transport)
            .map_err(|m| Error::setting("BUNNY_API_BASE_URL", m, None))?;
    purger.scopes = settings.rules.scopes_by(crate::urls::BaseUrl::authority);
    purger.schemes = settings
        .rules
        .base_urls
        .iter()
        .map(|b| (b.authority().to_string(), b.scheme().to_string()))
        .collect();
    Ok(purger)
}

/// Checks, without asking anything, that a purge could be sent: credentials present and
/// well-formed, API base or endpoint usable.
pub fn check_ready(settings: &Settings, ctx: &Context) -> Result<()> {
    match settings.provider {
        ProviderName::Cloudflare => {
            let auth = credentials(&settings.cloudflare, ctx)?;
            cloudflare_api(&settings.cloudflare, auth, &settings.transport)?;
        }
        ProviderName::HttpPurge => {
            http_purge(settings, ctx)?;
        }
        ProviderName::CloudFront => {
            cloudfront(settings, ctx)?;
        }
        ProviderName::Akamai => {
            akamai(settings, ctx)?;
        }
        ProviderName::Fastly => {
            fastly(settings, ctx)?;
        }
        ProviderName::Bunny => {
            bunny(settings, ctx)?;
        }
    }
    Ok(())
}

/// Sets up the configured provider for this site.
pub async fn connect(
    settings: &Settings,
    ctx: &Context,
    stop: &CancellationToken,
    console: &mut Console<'_>,
) -> Result<AnyPurger> {
    match settings.provider {
        ProviderName::Cloudflare => connect_cloudflare(settings, ctx, stop, console)
            .await
            .map(AnyPurger::Cloudflare),
        ProviderName::HttpPurge => {
            let mut purger = http_purge(settings, ctx)?;
            purger.scopes = settings.rules.scopes_by(crate::urls::BaseUrl::authority);
            purger.schemes = settings
                .rules
                .base_urls
                .iter()
                .map(|b| (b.authority().to_string(), b.scheme().to_string()))
                .collect();
            report::debug(
                settings.output,
                console,
                format_args!("http-purge to {}", purger.target()),
            );
            Ok(AnyPurger::HttpPurge(purger))
        }
        ProviderName::CloudFront => {
            let purger = cloudfront(settings, ctx)?;
            report::debug(
                settings.output,
                console,
                format_args!(
                    "cloudfront: {} with the access key {} from {}",
                    purger.target(),
                    purger.credentials().access_key_id,
                    purger.credentials().source
                ),
            );
            Ok(AnyPurger::CloudFront(purger))
        }
        ProviderName::Akamai => {
            let purger = akamai(settings, ctx)?;
            report::debug(
                settings.output,
                console,
                format_args!(
                    "akamai: {} {} with the credentials of {}{}",
                    purger.action.as_str(),
                    purger.target(),
                    purger.credentials().source,
                    purger
                        .api_base()
                        .map(|b| format!(", sent to {b} (AKAMAI_API_BASE_URL)"))
                        .unwrap_or_default()
                ),
            );
            Ok(AnyPurger::Akamai(purger))
        }
        ProviderName::Fastly => {
            let purger = fastly(settings, ctx)?;
            report::debug(
                settings.output,
                console,
                format_args!("fastly: {}", purger.target()),
            );
            Ok(AnyPurger::Fastly(purger))
        }
        ProviderName::Bunny => {
            let purger = bunny(settings, ctx)?;
            report::debug(
                settings.output,
                console,
                format_args!("bunny: {}", purger.target()),
            );
            Ok(AnyPurger::Bunny(purger))
        }
    }
}

/// Reads the credentials, finds the zone and sets up Cloudflare for this site.
pub async fn connect_cloudflare(
    settings: &Settings,
    ctx: &Context,
    stop: &CancellationToken,
    console: &mut Console<'_>,
) -> Result<Cloudflare> {
    let cf = &settings.cloudflare;
    let auth = credentials(cf, ctx)?;
    report::debug(
        settings.output,
        console,
        format_args!("credentials: {}", auth.describe()),
    );
    report::debug(
        settings.output,
        console,
        format_args!("API: {}", crate::secret::redact(&cf.api_base)),
    );
    let api = cloudflare_api(cf, auth, &settings.transport)?;
    let zone = zone_name(settings)?;
    // A zone derived from the first base URL must hold the others too. A zone given explicitly
    // is trusted (Cloudflare for SaaS serves customers' own host names from one zone).
    if settings.cloudflare.zone.is_none() {
        check_one_zone(settings, &zone)?;
    }
    let zone_id = match zone {
        ZoneRef::Id(id) => id,
        ZoneRef::Name(name) => {
            let z = find_zone(settings, &api, &name, stop).await?;
            report::debug(
                settings.output,
                console,
                format_args!("zone {} is {}", z.name, z.id),
            );
            z.id
        }
    };
    let (hosts, prefixes) = settings.rules.scopes();
    let everything = match cf.everything {
        Everything::Zone => vec![Request::Everything],
        Everything::Hosts => Request::for_scopes(hosts, prefixes),
    };
    let (batch_size, auto_batch) = match cf.batch_size {
        cloudflare::BatchSize::Auto => (cloudflare::AUTO_BATCH_SIZE, true),
        cloudflare::BatchSize::Fixed(n) => (n, false),
    };
    Ok(Cloudflare {
        api,
        zone_id,
        batch_size,
        auto_batch,
        everything,
    })
}

/// Looks the zone up by name (needs "Zone Read"), retrying like a purge.
async fn find_zone(
    settings: &Settings,
    api: &cloudflare::Api,
    name: &str,
    stop: &CancellationToken,
) -> Result<cloudflare::Zone> {
    let action = format!("looking up the Cloudflare zone {name}");
    let note = retry_note(settings.output.verbosity >= 0);
    let zone = purge::retry(&settings.policy, &action, stop, &note, || {
        api.find_zone(name)
    })
    .await
    .map_err(|failure| Error::Api {
        action: action.clone(),
        failure,
    })?;
    zone.ok_or_else(|| zone_not_found(name))
}

/// One run purges one zone: every base URL's host must belong to it (by name, when the zone is
/// known by name; else by registrable domain, which a zone never spans).
fn check_one_zone(settings: &Settings, zone: &ZoneRef) -> Result<()> {
    let bases = &settings.rules.base_urls;
    for b in bases {
        let outside = match zone {
            ZoneRef::Name(name) => b.host() != name && !b.host().ends_with(&format!(".{name}")),
            ZoneRef::Id(_) => {
                let first = bases
                    .first()
                    .and_then(|f| cloudflare::registrable_domain(f.host()));
                let this = cloudflare::registrable_domain(b.host());
                first.is_some() && this.is_some() && first != this
            }
        };
        if outside {
            let zone = match zone {
                ZoneRef::Name(n) => n.clone(),
                ZoneRef::Id(id) => format!("{id} (the zone of {})", bases[0].host()),
            };
            return Err(Error::Setting {
                setting: "base_urls",
                message: format!("the base URL {} is not in the Cloudflare zone {zone}", b.as_str()),
                hint: Some(
                    "one run purges one zone: run sitepurge once per zone, each with its own base URLs and --state"
                        .into(),
                ),
            });
        }
    }
    Ok(())
}

/// The zone as set, or the registrable domain of the first base URL.
fn zone_name(settings: &Settings) -> Result<ZoneRef> {
    if let Some(z) = &settings.cloudflare.zone {
        return Ok(z.clone());
    }
    let host = settings
        .rules
        .base_urls
        .first()
        .map(|b| b.host().to_string())
        .unwrap_or_default();
    cloudflare::registrable_domain(&host)
        .map(ZoneRef::Name)
        .ok_or_else(|| Error::Setting {
            setting: "zone",
            message: format!("cannot tell the Cloudflare zone of {host:?}"),
            hint: Some("give the zone: --zone ID|NAME, CLOUDFLARE_ZONE_ID, or zone = \"...\" in sitepurge.toml".into()),
        })
}

fn zone_not_found(name: &str) -> Error {
    Error::Setting {
        setting: "zone",
        message: format!("no Cloudflare zone named {name} is visible to these credentials"),
        hint: Some(format!(
            "check the name, give the zone's 32-hex id (--zone or CLOUDFLARE_ZONE_ID), or grant the token \"Zone Read\" on {name}"
        )),
    }
}

/// The account of an account-owned token: `CLOUDFLARE_ACCOUNT_ID` when set (checked to be an
/// account id), else `None`.
fn account_from_env(ctx: &Context) -> Result<Option<String>> {
    let Some(id) = ctx
        .env
        .get("CLOUDFLARE_ACCOUNT_ID")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::setting(
            "CLOUDFLARE_ACCOUNT_ID",
            format!("{id:?} is not an account id (32 hex digits)"),
            Some(
                "copy the account id from the dashboard (Account Home, or any zone's Overview page)",
            ),
        ));
    }
    Ok(Some(id.to_ascii_lowercase()))
}

/// Asks the API whether the token is valid and active, and whose it is. A user-owned token is
/// verified at `/user/tokens/verify`; an account-owned one only at
/// `/accounts/{id}/tokens/verify` (the user endpoint calls it invalid), with the account from
/// `CLOUDFLARE_ACCOUNT_ID` (then asked first) or from the zone. Returns the token's status and,
/// for an account-owned token, the account.
async fn verify_token(
    settings: &Settings,
    ctx: &Context,
    api: &cloudflare::Api,
    zone: &ZoneRef,
    looked_up: &mut Option<cloudflare::Zone>,
) -> Result<(cloudflare::TokenStatus, Option<String>)> {
    let never = CancellationToken::new();
    let note = retry_note(settings.output.verbosity >= 0);
    let user_action = "verifying the API token (as a user-owned token)";
    let account_check = async |account: &str| {
        let action = format!("verifying the API token as owned by the account {account}");
        purge::retry(&settings.policy, &action, &never, &note, || {
            api.verify_account_token(account)
        })
        .await
        .map_err(|failure| (action, failure))
    };
    let env_account = account_from_env(ctx)?;
    if let Some(account) = &env_account {
        match account_check(account).await {
            Ok(token) => return Ok((token, Some(account.clone()))),
            Err((_, f)) if f.kind == FailureKind::Credentials => {}
            Err((action, failure)) => return Err(Error::Api { action, failure }),
        }
    }
    let user = purge::retry(&settings.policy, user_action, &never, &note, || {
        api.verify_token()
    })
    .await;
    let refused = match user {
        Ok(token) => return Ok((token, None)),
        Err(f) if f.kind == FailureKind::Credentials && env_account.is_none() => f,
        Err(failure) => {
            return Err(Error::Api {
                action: user_action.into(),
                failure,
            });
        }
    };
    // Not a user-owned token (or not a valid one): the account that holds the zone may own it.
    let zone_found = match zone {
        ZoneRef::Id(id) => {
            let action =
                format!("reading the Cloudflare zone {id} (for the account that owns the token)");
            purge::retry(&settings.policy, &action, &never, &note, || api.zone(id))
                .await
                .map_err(|failure| (action, failure))
        }
        ZoneRef::Name(name) => {
            let action = format!(
                "looking up the Cloudflare zone {name} (for the account that owns the token)"
            );
            match purge::retry(&settings.policy, &action, &never, &note, || {
                api.find_zone(name)
            })
            .await
            {
                Ok(Some(z)) => Ok(z),
                Ok(None) => return Err(zone_not_found(name)),
                Err(failure) => Err((action, failure)),
            }
        }
    };
    let zone_found = match zone_found {
        Ok(z) => z,
        Err((_, mut failure)) if failure.kind == FailureKind::Credentials => {
            // The zone cannot be read with this token either: the first answer is the one to show.
            let mut first = refused;
            first.hint = Some(
                "the token is not valid as a user-owned token, and the zone cannot be read to find its account: if it is an account-owned token, set CLOUDFLARE_ACCOUNT_ID to the account's id; else it is invalid, expired or revoked"
                    .into(),
            );
            failure.hint = None;
            return Err(Error::Api {
                action: user_action.into(),
                failure: first,
            });
        }
        Err((action, failure)) => return Err(Error::Api { action, failure }),
    };
    let Some(account) = zone_found.account_id.clone() else {
        return Err(Error::Api {
            action: user_action.into(),
            failure: refused,
        });
    };
    if matches!(zone, ZoneRef::Name(_)) {
        *looked_up = Some(zone_found);
    }
    match account_check(&account).await {
        Ok(token) => Ok((token, Some(account))),
        Err((action, mut failure)) => {
            if failure.kind == FailureKind::Credentials {
                failure.hint = Some(format!(
                    "the token is invalid, expired or revoked: neither /user/tokens/verify nor the zone's account ({account}) knows it (or not a token: a global API key goes in CLOUDFLARE_API_KEY with CLOUDFLARE_EMAIL)"
                ));
            }
            Err(Error::Api { action, failure })
        }
    }
}

/// Checks that the provider can be set up, and for Cloudflare asks the API about the
/// credentials and the zone (`sitepurge verify`).
pub async fn verify(settings: &Settings, ctx: &Context) -> Result<Verified> {
    if settings.provider == ProviderName::HttpPurge {
        // Nothing to ask a cache before purging; check that the settings resolve.
        let purger = http_purge(settings, ctx)?;
        return Ok(Verified::HttpPurge(HttpPurgeVerified {
            provider: "http-purge",
            method: purger.method.to_string(),
            target: purger.target(),
            headers: purger.headers.len(),
            everything: purger.everything.as_ref().map(|e| e.method.to_string()),
        }));
    }
    if settings.provider == ProviderName::CloudFront {
        return verify_cloudfront(settings, ctx)
            .await
            .map(Verified::CloudFront);
    }
    if settings.provider == ProviderName::Akamai {
        // Fast Purge has no call that checks credentials without purging: check that they
        // resolve and that the host is usable, and say so.
        let purger = akamai(settings, ctx)?;
        return Ok(Verified::Akamai(AkamaiVerified {
            provider: "akamai",
            credentials: purger.credentials().source.clone(),
            host: purger.host(),
            network: purger.network.as_str(),
            action: purger.action.as_str(),
            cp_codes: purger.cp_codes.clone(),
            credentials_checked: false,
        }));
    }
    match settings.provider {
        ProviderName::Fastly => return verify_fastly(settings, ctx).await.map(Verified::Fastly),
        ProviderName::Bunny => return verify_bunny(settings, ctx).await.map(Verified::Bunny),
        _ => {}
    }
    let cf = &settings.cloudflare;
    let auth = credentials(cf, ctx)?;
    let mut found = CloudflareVerified {
        provider: "cloudflare",
        credentials: auth.describe(),
        ..Default::default()
    };
    let is_token = matches!(auth, Auth::Token(_));
    let api = cloudflare_api(cf, auth, &settings.transport)?;
    let never = CancellationToken::new();
    let zone = zone_name(settings)?;
    if settings.cloudflare.zone.is_none() {
        check_one_zone(settings, &zone)?;
    }
    // A zone looked up by name on the way (for the account of a token), not asked twice.
    let mut looked_up = None;
    if is_token {
        let (token, account) = verify_token(settings, ctx, &api, &zone, &mut looked_up).await?;
        if token.status != "active" {
            return Err(Error::setting(
                "CLOUDFLARE_API_TOKEN",
                format!("the API token is {}, not active", token.status),
                Some("create or re-enable a token with \"Cache Purge\" on the zone"),
            ));
        }
        found.token_owner = Some(if account.is_some() { "account" } else { "user" });
        found.account_id = account;
        found.token_id = Some(token.id);
        found.token_expires_on = token.expires_on;
        found.token_status = Some(token.status);
    }
    // Whether the API has vouched for the credentials.
    found.credentials_checked = is_token;
    match zone {
        ZoneRef::Id(id) => found.zone_id = Some(id),
        ZoneRef::Name(name) => {
            let zone = match looked_up {
                Some(z) => z,
                None => find_zone(settings, &api, &name, &never).await?,
            };
            found.credentials_checked = true;
            found.zone_id = Some(zone.id);
            found.zone_name = Some(zone.name);
            found.zone_status = Some(zone.status);
        }
    }
    Ok(Verified::Cloudflare(found))
}

/// Reads the token (`GET /tokens/self`): it must be valid, may purge URLs, and may act on the
/// service. Without `purge_all` it is still usable (the report warns).
async fn verify_fastly(settings: &Settings, ctx: &Context) -> Result<FastlyVerified> {
    let purger = fastly(settings, ctx)?;
    let never = CancellationToken::new();
    let note = retry_note(settings.output.verbosity >= 0);
    let action = "reading the Fastly API token".to_string();
    let token = purge::retry(&settings.policy, &action, &never, &note, || {
        purger.current_token()
    })
    .await
    .map_err(|failure| Error::Api { action, failure })?;
    let service = &purger.service_id;
    if !token.covers(service) {
        return Err(Error::setting(
            "FASTLY_API_TOKEN",
            format!(
                "the Fastly API token is limited to the service(s) {}, not {service}",
                token.services.join(", ")
            ),
            Some(&format!(
                "create a token for the service {service} (or for all services), or check [fastly] service_id"
            )),
        ));
    }
    if !token.purges_urls() {
        let mut hint = format!(
            "create a token with the purge_select scope{} for the service {service}",
            if token.purges_all() {
                ""
            } else {
                " (and purge_all, to purge everything)"
            }
        );
        hint.push_str(" and put it in FASTLY_API_TOKEN");
        return Err(Error::setting(
            "FASTLY_API_TOKEN",
            format!(
                "the Fastly API token cannot purge URLs: its scope is {:?}, without purge_select (or global)",
                token.scopes.join(" ")
            ),
            Some(&hint),
        ));
    }
    Ok(FastlyVerified {
        provider: "fastly",
        credentials: "API token (FASTLY_API_TOKEN or [fastly] token_file)".into(),
        target: purger.target(),
        everything: everything_means(settings),
        purge_urls: token.purges_urls(),
        purge_all: token.purges_all(),
        token_id: token.id,
        token_name: token.name,
        scopes: token.scopes,
        services: token.services,
        expires_at: token.expires_at,
        credentials_checked: true,
    })
}

/// Reads the pull zone (or, without a pull zone id, lists pull zones): a wrong key or an
/// unknown pull zone fails.
async fn verify_bunny(settings: &Settings, ctx: &Context) -> Result<BunnyVerified> {
    let purger = bunny(settings, ctx)?;
    let never = CancellationToken::new();
    let note = retry_note(settings.output.verbosity >= 0);
    let action = match purger.pull_zone_id {
        Some(id) => format!("reading the bunny.net pull zone {id}"),
        None => "listing the bunny.net pull zones".to_string(),
    };
    let zone = purge::retry(&settings.policy, &action, &never, &note, || {
        purger.check_key()
    })
    .await
    .map_err(|failure| Error::Api { action, failure })?;
    let (pull_zone_name, hostnames) = match zone {
        Some(z) => (
            Some(z.name.unwrap_or_else(|| "(unnamed)".into())),
            z.hostnames,
        ),
        None => (None, Vec::new()),
    };
    Ok(BunnyVerified {
        provider: "bunny",
        credentials: "API key (BUNNY_API_KEY or [bunny] token_file)".into(),
        target: purger.target(),
        everything: everything_means(settings),
        pull_zone_name,
        hostnames,
        credentials_checked: true,
    })
}

/// Signs a `ListInvalidations` of the distribution: a wrong key, secret or distribution id
/// fails; a refusal for the list permission alone (a purge does not need it) does not.
async fn verify_cloudfront(settings: &Settings, ctx: &Context) -> Result<CloudFrontVerified> {
    let purger = cloudfront(settings, ctx)?;
    let never = CancellationToken::new();
    let note = retry_note(settings.output.verbosity >= 0);
    let action = format!("listing the invalidations of {}", purger.target());
    let listed = purge::retry(&settings.policy, &action, &never, &note, || {
        purger.list_invalidations()
    })
    .await;
    let listed = match listed {
        Ok(l) => Some(l),
        Err(f) if f.detail.starts_with("AccessDenied") => None,
        Err(failure) => return Err(Error::Api { action, failure }),
    };
    Ok(CloudFrontVerified {
        provider: "cloudfront",
        credentials: purger.credentials().source.clone(),
        access_key_id: purger.credentials().access_key_id.clone(),
        distribution_id: purger.distribution_id.clone(),
        listed: listed.is_some(),
        invalidations_in_progress: listed.map(|l| l.in_progress),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Common;
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    fn settings(bases: &[&str]) -> Settings {
        let dir = tempfile::tempdir().expect("tempdir");
        let flags = Common {
            dir: Some("_site".into()),
            base_urls: bases.iter().map(|b| b.to_string()).collect(),
            ..Default::default()
        };
        let ctx = Context {
            cwd: dir.path().to_path_buf(),
            now: SystemTime::UNIX_EPOCH,
            env: BTreeMap::new(),
        };
        crate::config::resolve(&flags, &ctx, true).expect("settings")
    }

    #[test]
    fn base_urls_must_all_be_in_the_zone() {
        let s = settings(&["https://example.com/", "https://www.example.com/"]);
        assert!(check_one_zone(&s, &ZoneRef::Name("example.com".into())).is_ok());
        let s = settings(&["https://example.com/", "https://example.net/"]);
        let err = check_one_zone(&s, &ZoneRef::Name("example.com".into())).expect_err("two zones");
        assert!(err.to_string().contains("https://example.net/"), "{err}");
        let id = ZoneRef::Id("0123456789abcdef0123456789abcdef".into());
        assert!(check_one_zone(&s, &id).is_err());
        let s = settings(&["https://a.example.co.uk/", "https://b.example.co.uk/"]);
        assert!(check_one_zone(&s, &id).is_ok());
        // A host that is not the zone but ends like it is still outside it.
        let s = settings(&["https://notexample.com/"]);
        assert!(check_one_zone(&s, &ZoneRef::Name("example.com".into())).is_err());
    }

    fn env(pairs: &[(&str, &str)]) -> Context {
        Context {
            cwd: "/nonexistent".into(),
            now: SystemTime::UNIX_EPOCH,
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn cf() -> CloudflareSettings {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Context {
            cwd: dir.path().to_path_buf(),
            now: SystemTime::UNIX_EPOCH,
            env: BTreeMap::new(),
        };
        crate::config::resolve_without_site(&Common::default(), &ctx)
            .expect("defaults")
            .cloudflare
    }

    #[test]
    fn token_is_preferred_over_the_global_key() {
        let c = cf();
        let both = env(&[
            ("CLOUDFLARE_API_TOKEN", "t"),
            ("CLOUDFLARE_EMAIL", "e@x"),
            ("CLOUDFLARE_API_KEY", "k"),
        ]);
        assert_eq!(
            credentials(&c, &both).expect("auth"),
            Auth::Token(Secret::new("t"))
        );
        let legacy = env(&[("CLOUDFLARE_EMAIL", "e@x"), ("CLOUDFLARE_API_KEY", "k")]);
        assert!(matches!(
            credentials(&c, &legacy).expect("auth"),
            Auth::Key { .. }
        ));
        let half = env(&[("CLOUDFLARE_API_KEY", "k")]);
        assert!(
            credentials(&c, &half)
                .expect_err("half")
                .to_string()
                .contains("CLOUDFLARE_EMAIL")
        );
        let none = credentials(&c, &env(&[])).expect_err("none");
        assert!(
            none.hint()
                .unwrap_or_default()
                .contains("CLOUDFLARE_API_TOKEN")
        );
    }

    #[test]
    fn token_file_is_read_and_trimmed_without_showing_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "file-token\n").expect("write");
        let mut c = cf();
        c.token_file = Some(path.clone());
        assert_eq!(
            credentials(&c, &env(&[])).expect("auth"),
            Auth::Token(Secret::new("file-token"))
        );
        c.token_file = Some(dir.path().join("missing"));
        let err = credentials(&c, &env(&[])).expect_err("missing");
        assert!(err.to_string().contains("missing"));
    }

    #[test]
    fn the_api_base_must_be_https_or_loopback() {
        let mut c = cf();
        c.api_base = "http://proxy.example/client/v4".into();
        let transport = Transport::new(std::time::Duration::from_secs(1), &BTreeMap::new());
        let err = cloudflare_api(&c, Auth::Token(Secret::new("t")), &transport).expect_err("http");
        assert!(err.to_string().contains("CLOUDFLARE_API_BASE_URL"));
        c.api_base = "http://127.0.0.1:9/client/v4".into();
        assert!(cloudflare_api(&c, Auth::Token(Secret::new("t")), &transport).is_ok());
    }
}
