//! Settings: the config file (every key optional, unknown keys refused) merged with flags and
//! environment into plain resolved [`Settings`]. Precedence: flags/env > config file > defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::cli::Common;
use crate::compact::{self, Compaction};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::generator::Generator;
use crate::plan::{FirstRun, Immutable, Threshold};
use crate::provider::akamai;
use crate::provider::cloudflare::{self, BatchSize, Everything, ZoneRef};
use crate::provider::{ProviderName, Transport};
use crate::publish::{CheckCount, DEFAULT_MANIFEST_PATH, OnStateError, Publishing};
use crate::purge::Policy;
use crate::report::Output;
use crate::scan::{ContentRules, Rule, ScanOptions, Stamp};
use crate::site_config::{self, SiteBaseUrl};
use crate::urls::{BaseUrl, UrlRules};

/// The config file read when `--config` is not given, from the current folder.
pub const DEFAULT_CONFIG: &str = "sitepurge.toml";
/// The state file, relative to the current folder, when none is set.
pub const DEFAULT_STATE: &str = ".sitepurge/state.json";
/// Output folders looked for when none is set.
pub const DEFAULT_DIRS: [&str; 2] = ["_site", "public"];
/// Files whose text `ignore_content` rules apply to, unless `text_extensions` says otherwise.
pub const DEFAULT_TEXT_EXTENSIONS: [&str; 4] = ["html", "xml", "txt", "json"];

/// `sitepurge.toml`, as written by the user.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of settings")]
pub struct FileConfig {
    pub provider: Option<ProviderName>,
    pub http_purge: Option<HttpPurgeFile>,
    pub cloudfront: Option<CloudFrontFile>,
    pub akamai: Option<AkamaiFile>,
    pub fastly: Option<FastlyFile>,
    pub bunny: Option<BunnyFile>,
    pub generator: Option<Generator>,
    pub dir: Option<PathBuf>,
    pub base_urls: Option<OneOrMany>,
    pub site_config: Option<OneOrMany>,
    pub state: Option<PathBuf>,
    pub threshold: Option<ThresholdValue>,
    pub compact: Option<bool>,
    pub max_paths: Option<usize>,
    pub max_collateral: Option<ThresholdValue>,
    pub first_run: Option<FirstRun>,
    pub ignore: Option<Vec<String>>,
    pub ignore_content: Option<Vec<String>>,
    pub immutable: Option<Vec<String>>,
    pub immutable_hashed_names: Option<bool>,
    pub text_extensions: Option<Vec<String>>,
    pub index_without_slash: Option<bool>,
    pub lowercase_escapes: Option<bool>,
    pub clean_urls: Option<bool>,
    pub zone: Option<String>,
    pub token_file: Option<PathBuf>,
    pub batch_size: Option<BatchSizeValue>,
    pub everything: Option<Everything>,
    pub retries: Option<u32>,
    pub cache_key_headers: Option<Vec<BTreeMap<String, String>>>,
    pub concurrency: Option<usize>,
    pub retry_delay: Option<String>,
    pub max_retry_delay: Option<String>,
    pub timeout: Option<String>,
    pub settle: Option<String>,
    pub max_wait: Option<String>,
    pub retry_every: Option<String>,
    pub publish_manifest: Option<PublishManifest>,
    pub state_url: Option<String>,
    pub on_state_error: Option<OnStateError>,
    pub origin_url: Option<String>,
    pub origin_timeout: Option<String>,
    pub check_after_purge: Option<CheckCount>,
}

/// `publish_manifest = true`, or the path in the output folder to publish it at.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "true, false, or a path in the output folder (\".well-known/sitepurge.json\")"
)]
pub enum PublishManifest {
    On(bool),
    At(String),
}

/// Watch-mode settings, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSettings {
    pub settle: Duration,
    pub max_wait: Duration,
    pub retry_every: Duration,
    pub poll: bool,
}

/// Resolves the settings of `watch`, its timing included, reading the config file once.
pub fn resolve_watch(
    args: &crate::cli::WatchArgs,
    ctx: &Context,
) -> Result<(Settings, WatchSettings)> {
    let flags = args.common.with_env(&ctx.env);
    let (file, config_file) = load_file(flags.config.as_deref(), &ctx.cwd)?;
    let timing = watch_timing(args, &file)?;
    let mut settings = resolve_loaded(&args.common, ctx, file, config_file, true, true)?;
    // A watcher purges as it goes; fetching URLs after every cycle is for deploys.
    settings.publishing.check = crate::publish::CheckCount::Sample(0);
    Ok((settings, timing))
}

/// Watch timing: flags > config file > defaults.
fn watch_timing(args: &crate::cli::WatchArgs, file: &FileConfig) -> Result<WatchSettings> {
    let pick = |flag: &Option<String>, file: &Option<String>| flag.clone().or_else(|| file.clone());
    let settle = duration(
        "settle",
        pick(&args.settle, &file.settle).as_deref(),
        Duration::from_secs(2),
    )?;
    let max_wait = duration(
        "max_wait",
        pick(&args.max_wait, &file.max_wait).as_deref(),
        Duration::from_secs(60),
    )?;
    let retry_every = duration(
        "retry_every",
        pick(&args.retry_every, &file.retry_every).as_deref(),
        Duration::from_secs(60),
    )?;
    if max_wait < settle {
        return Err(setting(
            "max_wait",
            format!("{max_wait:?} is shorter than the settle time {settle:?}"),
            None,
        ));
    }
    if retry_every.is_zero() {
        return Err(setting(
            "retry_every",
            "must be longer than 0s".into(),
            None,
        ));
    }
    Ok(WatchSettings {
        settle,
        max_wait,
        retry_every,
        poll: args.poll,
    })
}

/// A header value in `[http_purge]`: text, or `{ env = "NAME" }` to read it from the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a header value: text, or { env = \"VARIABLE\" } to read it from the environment"
)]
pub enum HeaderSpec {
    Text(String),
    Env { env: String },
}

/// `[http_purge]` in sitepurge.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: [http_purge] with endpoint, method, headers..."
)]
pub struct HttpPurgeFile {
    pub endpoint: Option<String>,
    pub method: Option<String>,
    pub headers: Option<BTreeMap<String, HeaderSpec>>,
    pub everything: Option<EverythingFile>,
    pub concurrency: Option<usize>,
    /// Send the headers over plain http to a host that is not this machine anyway.
    pub allow_plain_http: Option<bool>,
}

/// `[fastly]` in sitepurge.toml. The token comes from `FASTLY_API_TOKEN` or `token_file`, never
/// from this file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: [fastly] with service_id, soft, token_file"
)]
pub struct FastlyFile {
    pub service_id: Option<String>,
    /// Mark URLs stale (`Fastly-Soft-Purge: 1`) instead of removing them.
    pub soft: Option<bool>,
    pub token_file: Option<PathBuf>,
}

/// `[bunny]` in sitepurge.toml. The key comes from `BUNNY_API_KEY` or `token_file`, never from
/// this file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: [bunny] with pull_zone_id, token_file, wildcard_from"
)]
pub struct BunnyFile {
    pub pull_zone_id: Option<u64>,
    pub token_file: Option<PathBuf>,
    /// From how many changed URLs below a folder (all of the site's there) one wildcard purge
    /// replaces them; 0: never.
    pub wildcard_from: Option<usize>,
}

/// An API provider's settings, resolved: where the API is, and the file its secret may be in
/// (relative to the config file). The secret itself is read only when a purge needs it.
#[derive(Debug, Clone, Default)]
pub struct ApiSettings {
    /// As given (checked when used).
    pub api_base: String,
    pub token_file: Option<PathBuf>,
}

/// `[http_purge.everything]`: the request that clears the whole site.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: everything = { method = \"BAN\", path = \"/\", headers = { ... } }"
)]
pub struct EverythingFile {
    pub method: String,
    pub path: Option<String>,
    pub headers: Option<BTreeMap<String, HeaderSpec>>,
}

/// `[cloudfront]` in sitepurge.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: [cloudfront] with distribution_id, wait..."
)]
pub struct CloudFrontFile {
    pub distribution_id: Option<String>,
    /// Where the API is (a test server); else `AWS_ENDPOINT_URL_CLOUDFRONT`, `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    pub batch_size: Option<usize>,
    pub concurrency: Option<usize>,
    /// Poll each invalidation until it is complete.
    pub wait: Option<bool>,
    pub wait_every: Option<String>,
    pub wait_at_most: Option<String>,
}

/// CloudFront settings, resolved. Credentials are read, and the endpoint checked, only when a
/// purge needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudFrontSettings {
    pub distribution_id: Option<String>,
    /// As given, or the default.
    pub endpoint: String,
    /// The setting or variable the endpoint came from, for messages.
    pub endpoint_from: &'static str,
    pub batch_size: usize,
    /// `wait = true`: time between two polls, and how long to wait at most.
    pub wait: Option<(Duration, Duration)>,
}

/// `[akamai]` in sitepurge.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table: [akamai] with edgerc_section, network, action..."
)]
pub struct AkamaiFile {
    /// The `.edgerc` file (default `~/.edgerc`).
    pub edgerc: Option<PathBuf>,
    pub edgerc_section: Option<String>,
    pub network: Option<akamai::Network>,
    pub action: Option<akamai::Action>,
    /// CP codes purged for "everything".
    pub cp_codes: Option<Vec<u64>>,
    pub batch_size: Option<usize>,
    pub concurrency: Option<usize>,
}

/// Akamai settings, resolved. Credentials are read only when a purge needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AkamaiSettings {
    /// The `.edgerc` named, relative to the config file; `None`: `~/.edgerc`.
    pub edgerc: Option<PathBuf>,
    pub section: String,
    pub network: akamai::Network,
    pub action: akamai::Action,
    pub cp_codes: Vec<u64>,
    pub batch_size: usize,
    /// `AKAMAI_API_BASE_URL` as given: where requests go instead of `https://{host}` (they are
    /// still signed for the credentials' host); checked when the provider is set up.
    pub api_base: Option<String>,
}

/// Cloudflare settings, resolved. Credentials are read only when a purge needs them.
#[derive(Debug, Clone)]
pub struct CloudflareSettings {
    /// As given (checked by [`CloudflareSettings::api`]).
    pub api_base: String,
    pub zone: Option<ZoneRef>,
    pub token_file: Option<PathBuf>,
    pub batch_size: BatchSize,
    pub everything: Everything,
}

/// `base_urls = ["https://a/", "https://b/"]`, or a single `"https://a/"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "expected a string or a list of strings")]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `batch_size = 30` or `batch_size = "auto"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a number of URLs per request (30) or \"auto\""
)]
pub enum BatchSizeValue {
    Count(usize),
    Text(String),
}

/// `threshold = 200` or `threshold = "50%"`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a number of URLs (200) or a share of the site in quotes (\"50%\")"
)]
pub enum ThresholdValue {
    Count(u64),
    Text(String),
    /// Only to say what is wrong with it.
    Fraction(f64),
}

/// A number of URLs (`200`) or a share of the site's (`"50%"`).
fn count_or_share(value: &ThresholdValue) -> std::result::Result<Threshold, String> {
    match value {
        ThresholdValue::Text(t) => t.parse(),
        ThresholdValue::Count(n) => Ok(Threshold::Count(*n)),
        ThresholdValue::Fraction(f) if *f >= 0.0 && f.fract() == 0.0 => {
            Ok(Threshold::Count(*f as u64))
        }
        ThresholdValue::Fraction(f) if *f < 0.0 => Err(format!(
            "{f} is negative; write a number of URLs (200) or a share (\"50%\")"
        )),
        ThresholdValue::Fraction(f) if *f < 1.0 => Err(format!(
            "{f} is not a whole number of URLs; for a share of the site write \"{}%\"",
            f * 100.0
        )),
        ThresholdValue::Fraction(f) => Err(format!(
            "{f} is not a whole number of URLs; write a whole number (200) or a share (\"50%\")"
        )),
    }
}

/// How plans use wildcards with this provider: `compact = true` where the provider has
/// wildcard purges, and bunny.net's `wildcard_from` rule (wildcards without collateral) even
/// without it. A setting with no effect is said in `notes`.
fn resolve_compaction(
    file: &FileConfig,
    provider: ProviderName,
    notes: &mut Vec<String>,
) -> Result<Option<Compaction>> {
    let on = file.compact.unwrap_or(false);
    let max_collateral = file
        .max_collateral
        .as_ref()
        .map(count_or_share)
        .transpose()
        .map_err(|m| setting("max_collateral", m, None))?
        .unwrap_or(compact::MAX_COLLATERAL);
    if file.max_paths == Some(0) {
        return Err(setting(
            "max_paths",
            "0 leaves no room for any purge: write at least 1".to_string(),
            None,
        ));
    }
    let bunny_from = file
        .bunny
        .as_ref()
        .and_then(|b| b.wildcard_from)
        .unwrap_or(crate::provider::bunny::WILDCARD_FROM);
    let (max_paths, max_wildcards, min_changed, covers_folder) = match provider {
        ProviderName::Cloudflare => (
            compact::CLOUDFLARE_MAX_PATHS,
            compact::CLOUDFLARE_MAX_PATHS,
            compact::MIN_CHANGED,
            true,
        ),
        ProviderName::CloudFront => (
            compact::CLOUDFRONT_MAX_PATHS,
            compact::CLOUDFRONT_MAX_WILDCARDS,
            compact::MIN_CHANGED,
            true,
        ),
        ProviderName::Bunny if bunny_from > 0 => {
            (compact::BUNNY_MAX_PATHS, usize::MAX, bunny_from, false)
        }
        other => {
            if on || file.max_paths.is_some() || file.max_collateral.is_some() {
                notes.push(format!(
                    "compact, max_paths and max_collateral have no effect with {}: {}",
                    provider_word(other),
                    if other == ProviderName::Bunny {
                        "[bunny] wildcard_from = 0 turns wildcards off"
                    } else {
                        "it has no wildcard purge, so every changed URL is purged on its own"
                    }
                ));
            }
            return Ok(None);
        }
    };
    if !on {
        if file.max_paths.is_some() || file.max_collateral.is_some() {
            notes.push(
                "max_paths and max_collateral have no effect without compact = true".to_string(),
            );
        }
        // bunny.net's rule: wildcards only where every URL changed, from wildcard_from of them.
        return Ok((provider == ProviderName::Bunny).then_some(Compaction {
            max_paths: usize::MAX,
            max_wildcards: usize::MAX,
            min_changed,
            covers_folder,
            max_collateral: Threshold::Count(0),
            above_threshold: false,
        }));
    }
    Ok(Some(Compaction {
        max_paths: file.max_paths.unwrap_or(max_paths),
        max_wildcards,
        min_changed,
        covers_folder,
        max_collateral,
        above_threshold: true,
    }))
}

/// Everything a command needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The generator preset in force, and the config file it was detected from (if detected).
    pub generator: Option<(Generator, Option<String>)>,
    /// The generator's config file the base URL was read from, when no setting gave one.
    pub base_url_from: Option<String>,
    pub dir: PathBuf,
    pub state: PathBuf,
    pub rules: UrlRules,
    pub threshold: Threshold,
    /// How plans use folder wildcards (None: they do not).
    pub compaction: Option<Compaction>,
    pub first_run: FirstRun,
    pub scan: ScanOptions,
    pub output: Output,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Things in the settings that will have no effect, said as warnings.
    pub notes: Vec<String>,
    pub provider: ProviderName,
    pub cloudflare: CloudflareSettings,
    /// Fingerprinted files: added or removed, they need no purge.
    pub immutable: Immutable,
    /// Concurrency and retries of purge requests, for every provider.
    pub policy: Policy,
    /// The timeout of one request and the https proxy, for every provider.
    pub transport: Transport,
    /// Header sets that are part of the cache key: each URL is purged once per set.
    pub cache_key_headers: Vec<BTreeMap<String, String>>,
    /// `[http_purge]` as written; resolved (environment read) when a purge needs it.
    pub http_purge: HttpPurgeFile,
    /// Publishing from CI: the published state, the origin wait, the freshness check.
    pub publishing: Publishing,
    pub cloudfront: CloudFrontSettings,
    pub akamai: AkamaiSettings,
    /// `[fastly]` as written, and where its API and token file are.
    pub fastly: (FastlyFile, ApiSettings),
    /// `[bunny]` as written, and where its API and key file are.
    pub bunny: (BunnyFile, ApiSettings),
}

/// Reads the config file: the one named, or `./sitepurge.toml` when present.
/// Returns the file's settings and the folder its relative paths are relative to.
pub fn load_file(named: Option<&Path>, cwd: &Path) -> Result<(FileConfig, Option<PathBuf>)> {
    let (path, must_exist) = match named {
        Some(p) => (cwd.join(p), true),
        None => (cwd.join(DEFAULT_CONFIG), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok((FileConfig::default(), None));
        }
        Err(source) => return Err(Error::ConfigRead { path, source }),
    };
    Ok((parse_file(&text, &path)?, Some(path)))
}

/// Parses the text of a config file (`path` is only for messages).
pub fn parse_file(text: &str, path: &Path) -> Result<FileConfig> {
    // The message and position only: toml's own rendering quotes the line, which may hold a
    // secret (an [http_purge] header value).
    toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(String::new(), |span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: ")
        });
        Error::ConfigParse {
            path: path.to_path_buf(),
            message: format!("{at}{}", e.message().trim_end()),
        }
    })
}

/// Where `[http_purge]` would send its headers over plain http to another machine, if it
/// would: the endpoint, or without one each base URL. None when there are no headers.
fn plain_http_exposure(hp: &HttpPurgeFile, base_urls: &[BaseUrl]) -> Option<String> {
    let has_headers = hp.headers.as_ref().is_some_and(|h| !h.is_empty())
        || hp
            .everything
            .as_ref()
            .and_then(|e| e.headers.as_ref())
            .is_some_and(|h| !h.is_empty());
    if !has_headers {
        return None;
    }
    let targets: Vec<String> = match &hp.endpoint {
        Some(endpoint) => vec![endpoint.trim().to_string()],
        None => base_urls.iter().map(|b| b.as_str().to_string()).collect(),
    };
    targets
        .into_iter()
        .find(|t| {
            url::Url::parse(t)
                .is_ok_and(|u| u.scheme() == "http" && !crate::secret::is_loopback(&u))
        })
        .map(|t| crate::secret::redact(&t))
}

/// A generator config file that cannot be parsed, as a setting error naming it.
pub fn site_config_error(e: site_config::Unreadable) -> Error {
    setting(
        "site_config",
        format!("cannot read {}: {}", e.path.display(), e.message),
        Some("fix the file, or set generator and base_urls in sitepurge.toml"),
    )
}

fn setting(setting: &'static str, message: String, hint: Option<&str>) -> Error {
    Error::setting(setting, message, hint)
}

/// Merges flags (and their environment variables) over the config file over the defaults.
/// `need_base_urls` is false for commands that can do without (baseline).
pub fn resolve(flags: &Common, ctx: &Context, need_base_urls: bool) -> Result<Settings> {
    resolve_with(flags, ctx, need_base_urls, true)
}

/// Settings for `apply`, which purges what a plan file lists: the output folder need not be
/// here (an apply job after the deploy may not have it), but the base URLs must.
pub fn resolve_for_apply(flags: &Common, ctx: &Context) -> Result<Settings> {
    resolve_with(flags, ctx, true, false)
}

/// Settings for commands that never read the site (`verify`): no output folder needed.
pub fn resolve_without_site(flags: &Common, ctx: &Context) -> Result<Settings> {
    resolve_with(flags, ctx, false, false)
}

fn resolve_with(
    flags: &Common,
    ctx: &Context,
    need_base_urls: bool,
    need_site: bool,
) -> Result<Settings> {
    let named = flags.with_env(&ctx.env).config;
    let (file, config_file) = load_file(named.as_deref(), &ctx.cwd)?;
    resolve_loaded(flags, ctx, file, config_file, need_base_urls, need_site)
}

fn resolve_loaded(
    flags: &Common,
    ctx: &Context,
    file: FileConfig,
    config_file: Option<PathBuf>,
    need_base_urls: bool,
    need_site: bool,
) -> Result<Settings> {
    // Name an environment variable as the setting at fault when the value came from it.
    let from_env = |absent: bool, var: &'static str, key: &'static str| {
        let set = ctx.env.get(var).is_some_and(|v| !v.trim().is_empty());
        if absent && set { var } else { key }
    };
    let threshold_key = from_env(
        flags.threshold.is_none(),
        "SITEPURGE_THRESHOLD",
        "threshold",
    );
    let base_urls_key = from_env(
        flags.base_urls.is_empty(),
        "SITEPURGE_BASE_URL",
        "base_urls",
    );
    let flags = &flags.with_env(&ctx.env);
    let cwd = ctx.cwd.as_path();
    // Paths in the config file are relative to the file's folder; flags to the current folder.
    let file_base = config_file
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);

    let site_files: Vec<PathBuf> = file
        .site_config
        .clone()
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .into_iter()
        .map(|p| file_base.join(p))
        .collect();
    // The site's source: the current folder, else the config file's.
    let detected = match site_config::detect(cwd).map_err(site_config_error)? {
        Some(d) => Some((d, cwd.to_path_buf())),
        None => site_config::detect(&file_base)
            .map_err(site_config_error)?
            .map(|d| (d, file_base.clone())),
    };
    let generator = match flags.generator.or(file.generator) {
        Some(Generator::None) => None,
        Some(g) => Some((g, None)),
        None => detected
            .as_ref()
            .map(|(d, _)| (d.generator, Some(d.file.clone()))),
    };
    let preset_dir = generator.as_ref().and_then(|(g, _)| g.output_dir());
    let dir = match (&flags.dir, &file.dir) {
        (Some(d), _) => cwd.join(d),
        (None, Some(d)) => file_base.join(d),
        // Defaults are relative to where sitepurge runs (the site's folder); a config file used
        // from elsewhere names `dir` and `state` itself.
        (None, None) if preset_dir.is_some() => cwd.join(preset_dir.unwrap_or_default()),
        (None, None) if need_site => default_dir(cwd)?,
        (None, None) => default_dir(cwd).unwrap_or_else(|_| cwd.join(DEFAULT_DIRS[0])),
    };
    let state = match (&flags.state, &file.state) {
        (Some(s), _) => cwd.join(s),
        (None, Some(s)) => file_base.join(s),
        (None, None) => cwd.join(DEFAULT_STATE),
    };
    check_state_outside(&state, &dir)?;

    let raw_bases: Vec<String> = if flags.base_urls.iter().all(|b| b.trim().is_empty()) {
        file.base_urls
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
    } else {
        flags.base_urls.clone()
    };
    let mut base_urls = Vec::new();
    for raw in raw_bases.iter().filter(|b| !b.trim().is_empty()) {
        let base = BaseUrl::parse(raw).map_err(|m| setting(base_urls_key, m, None))?;
        if !base_urls.contains(&base) {
            base_urls.push(base);
        }
    }
    // Neither flag, environment nor sitepurge.toml: the generator's own config may say.
    let mut base_url_from = None;
    let mut not_used = None;
    if base_urls.is_empty()
        && let Some((g, _)) = generator
    {
        let site_dir = match &detected {
            Some((d, dir)) if d.generator == g => dir.clone(),
            _ => cwd.to_path_buf(),
        };
        match site_config::base_url(g, &site_dir, &site_files).map_err(site_config_error)? {
            SiteBaseUrl::Found { url, file } => {
                let base = BaseUrl::parse(&url).map_err(|m| {
                    setting(
                        "base_urls",
                        format!("{file} gives the base URL {url:?}, which cannot be used: {m}"),
                        Some("set base_urls in sitepurge.toml, which wins over the site's config"),
                    )
                })?;
                base_urls.push(base);
                base_url_from = Some(file);
            }
            SiteBaseUrl::Unusable { value, file, why } => {
                not_used = Some(format!(
                    "{file} sets the base URL to {value:?}, not used: {why}"
                ));
            }
            SiteBaseUrl::InCode { file, key } => {
                not_used = Some(format!(
                    "{file} sets it as {key} in JavaScript, which sitepurge does not run"
                ));
            }
            SiteBaseUrl::Absent => {}
        }
    }
    if need_base_urls && base_urls.is_empty() {
        let message = match &not_used {
            Some(why) => format!("no base URL is set, so files cannot be turned into URLs ({why})"),
            None => "no base URL is set, so files cannot be turned into URLs".into(),
        };
        return Err(setting(
            "base_urls",
            message,
            Some(
                "pass --base-url https://example.com/ (repeat for www), or set base_urls = [\"https://example.com/\"] in sitepurge.toml",
            ),
        ));
    }

    let threshold = match (&flags.threshold, &file.threshold) {
        (Some(t), _) => t.parse(),
        (None, Some(v)) => count_or_share(v),
        (None, None) => Ok(Threshold::default()),
    }
    .map_err(|m| setting(threshold_key, m, None))?;

    let publishing = resolve_publishing(&file)?;
    // The preset's files that are no part of the site (Sphinx's .doctrees), then the user's.
    let mut ignore_patterns: Vec<String> = generator
        .as_ref()
        .map_or(&[][..], |(g, _)| g.ignore())
        .iter()
        .map(|g| g.to_string())
        .chain(file.ignore.iter().flatten().cloned())
        .collect();
    // The published state is never part of what it records.
    if let Some(path) = &publishing.manifest_path {
        ignore_patterns.push(globset::escape(path));
    }
    let ignore = build_globs("ignore", &ignore_patterns)?;
    // `drafts/**` ignores the whole folder: the scan need not even read it.
    let ignore_dirs = build_globs(
        "ignore",
        &ignore_patterns
            .iter()
            .filter_map(|p| p.strip_suffix("/**"))
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>(),
    )?;
    // The preset's fingerprinted-asset globs, then the user's.
    let immutable_globs: Vec<String> = generator
        .as_ref()
        .map_or(&[][..], |(g, _)| g.immutable())
        .iter()
        .map(|g| g.to_string())
        .chain(file.immutable.iter().flatten().cloned())
        .collect();
    let preset = generator.as_ref().map(|(g, _)| *g);
    let compile = |key: &'static str, p: &str| {
        regex::bytes::Regex::new(p).map_err(|e| {
            setting(
                key,
                format!("{p:?} is not a valid regular expression: {e}"),
                None,
            )
        })
    };
    let rules = preset
        .map_or(&[][..], |g| g.noise())
        .iter()
        .map(|r| (r.name, r.pattern))
        .chain(
            file.ignore_content
                .iter()
                .flatten()
                .map(|p| ("ignore_content", p.as_str())),
        )
        .map(|(name, p)| {
            Ok(Rule {
                name: name.to_string(),
                pattern: compile("ignore_content", p)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let stamps = preset
        .map_or(&[][..], |g| g.build_stamps())
        .iter()
        .map(|s| {
            Ok(Stamp {
                name: s.name.to_string(),
                file: s.file.to_string(),
                pattern: compile("generator", s.pattern)?,
                kind: s.kind,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let extensions = file.text_extensions.clone().unwrap_or_else(|| {
        DEFAULT_TEXT_EXTENSIONS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let preset_extensions = generator
        .as_ref()
        .map_or(&[][..], |(g, _)| g.extra_text_extensions());
    let mut extensions: Vec<String> = extensions
        .into_iter()
        .chain(preset_extensions.iter().map(|e| e.to_string()))
        .map(|e| e.trim_start_matches('.').to_ascii_lowercase())
        .collect();
    extensions.sort();
    extensions.dedup();

    let notes = {
        let provider = flags.provider.or(file.provider).unwrap_or_default();
        let mut notes = Vec::new();
        if provider == ProviderName::HttpPurge
            && let Some(hp) = &file.http_purge
            && let Some(exposed) = plain_http_exposure(hp, &base_urls)
        {
            if hp.allow_plain_http != Some(true) {
                return Err(setting(
                    "http_purge.allow_plain_http",
                    format!(
                        "[http_purge] headers would be sent over plain http to {exposed}, which is not this machine: anyone on the way can read them"
                    ),
                    Some(
                        "use https, or an endpoint on this machine (127.0.0.1); or, if the network is trusted, set allow_plain_http = true in [http_purge]",
                    ),
                ));
            }
            notes.push(format!(
                "[http_purge] headers are sent over plain http to {exposed} (allow_plain_http = true): anyone on the way can read them"
            ));
        }
        if provider != ProviderName::CloudFront && file.cloudfront.is_some() {
            notes.push(format!(
                "[cloudfront] is set but the provider is {}: add provider = \"cloudfront\" to use it",
                provider_word(provider)
            ));
        }
        if provider != ProviderName::Akamai && file.akamai.is_some() {
            notes.push(format!(
                "[akamai] is set but the provider is {}: add provider = \"akamai\" to use it",
                provider_word(provider)
            ));
        }
        for (table, set, used_by) in [
            ("fastly", file.fastly.is_some(), ProviderName::Fastly),
            ("bunny", file.bunny.is_some(), ProviderName::Bunny),
        ] {
            if set && provider != used_by {
                notes.push(format!(
                    "[{table}] is set but the provider is not {table}: add provider = \"{table}\" to use it"
                ));
            }
        }
        if provider == ProviderName::Cloudflare && file.http_purge.is_some() {
            notes.push(
                "[http_purge] is set but the provider is cloudflare: add provider = \"http-purge\" to use it"
                    .to_string(),
            );
        }
        notes
    };
    let mut notes = notes;
    let compaction = resolve_compaction(
        &file,
        flags.provider.or(file.provider).unwrap_or_default(),
        &mut notes,
    )?;
    Ok(Settings {
        generator,
        base_url_from,
        dir,
        state,
        rules: UrlRules {
            base_urls,
            index_without_slash: file.index_without_slash.unwrap_or(false),
            lowercase_escapes: file.lowercase_escapes.unwrap_or(false),
            clean_urls: file.clean_urls.unwrap_or(false),
        },
        threshold,
        compaction,
        first_run: flags.first_run.or(file.first_run).unwrap_or_default(),
        scan: ScanOptions {
            ignore,
            ignore_dirs,
            content: ContentRules {
                rules,
                stamps,
                extensions,
            },
        },
        output: Output {
            json: flags.json,
            verbosity: if flags.quiet {
                -1
            } else {
                i8::try_from(flags.verbose).unwrap_or(i8::MAX)
            },
        },
        config_file,
        notes,
        provider: flags.provider.or(file.provider).unwrap_or_default(),
        cloudflare: resolve_cloudflare(flags, &file, &file_base, ctx)?,
        immutable: Immutable {
            globs: build_globs("immutable", &immutable_globs)?,
            hashed_names: file.immutable_hashed_names.unwrap_or(true),
        },
        policy: resolve_policy(flags, &file)?,
        transport: Transport::new(
            duration("timeout", file.timeout.as_deref(), Duration::from_secs(30))?,
            &ctx.env,
        ),
        cache_key_headers: file.cache_key_headers.clone().unwrap_or_default(),
        http_purge: file.http_purge.clone().unwrap_or_default(),
        cloudfront: resolve_cloudfront(&file, ctx)?,
        akamai: resolve_akamai(&file, &file_base, ctx)?,
        publishing,
        fastly: {
            let f = file.fastly.clone().unwrap_or_default();
            let api = api_settings(
                ctx,
                &file_base,
                "FASTLY_API_BASE_URL",
                crate::provider::fastly::DEFAULT_API_BASE,
                f.token_file.as_deref(),
            );
            (f, api)
        },
        bunny: {
            let b = file.bunny.clone().unwrap_or_default();
            let api = api_settings(
                ctx,
                &file_base,
                "BUNNY_API_BASE_URL",
                crate::provider::bunny::DEFAULT_API_BASE,
                b.token_file.as_deref(),
            );
            (b, api)
        },
    })
}

/// `publish_manifest`, `state_url`, `on_state_error`, `origin_url`, `origin_timeout` and
/// `check_after_purge`.
fn resolve_publishing(file: &FileConfig) -> Result<Publishing> {
    let manifest_path = match &file.publish_manifest {
        None | Some(PublishManifest::On(false)) => None,
        Some(PublishManifest::On(true)) => Some(DEFAULT_MANIFEST_PATH.to_string()),
        Some(PublishManifest::At(path)) => {
            let path = path.trim().trim_start_matches('/');
            if !crate::manifest::is_site_path(path) {
                return Err(setting(
                    "publish_manifest",
                    format!("{path:?} is not a path inside the output folder"),
                    Some("write it like \".well-known/sitepurge.json\", or true for that path"),
                ));
            }
            Some(path.to_string())
        }
    };
    let web_url = |key: &'static str, value: &Option<String>| -> Result<Option<url::Url>> {
        let Some(raw) = value else { return Ok(None) };
        let text = crate::secret::redact(raw);
        match url::Url::parse(raw.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                Ok(Some(u))
            }
            Ok(_) => Err(setting(
                key,
                format!("{text:?} is not an http or https URL"),
                None,
            )),
            Err(e) => Err(setting(
                key,
                format!("{text:?} is not an absolute URL ({e})"),
                Some("write it like https://example.com/.well-known/sitepurge.json"),
            )),
        }
    };
    Ok(Publishing {
        manifest_path,
        state_url: web_url("state_url", &file.state_url)?,
        on_state_error: file.on_state_error.unwrap_or_default(),
        origin_url: web_url("origin_url", &file.origin_url)?,
        origin_timeout: duration(
            "origin_timeout",
            file.origin_timeout.as_deref(),
            Duration::from_secs(600),
        )?,
        check: file.check_after_purge.unwrap_or_default(),
    })
}

fn resolve_akamai(file: &FileConfig, file_base: &Path, ctx: &Context) -> Result<AkamaiSettings> {
    let ak = file.akamai.clone().unwrap_or_default();
    let batch_size = ak.batch_size.unwrap_or(akamai::DEFAULT_BATCH_SIZE);
    if !(1..=10_000).contains(&batch_size) {
        return Err(setting(
            "akamai.batch_size",
            format!("{batch_size} is not between 1 and 10000"),
            Some("each request is split further to stay under Fast Purge's 50,000-byte body limit"),
        ));
    }
    let section = ak
        .edgerc_section
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    Ok(AkamaiSettings {
        edgerc: ak.edgerc.map(|p| file_base.join(p)),
        section,
        network: ak.network.unwrap_or_default(),
        action: ak.action.unwrap_or_default(),
        cp_codes: ak.cp_codes.unwrap_or_default(),
        batch_size,
        api_base: ctx
            .env
            .get("AKAMAI_API_BASE_URL")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string),
    })
}

fn resolve_cloudfront(file: &FileConfig, ctx: &Context) -> Result<CloudFrontSettings> {
    use crate::provider::cloudfront;
    let cf = file.cloudfront.clone().unwrap_or_default();
    let env = |name: &'static str| {
        ctx.env
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (v, name))
    };
    let (endpoint, endpoint_from) = cf
        .endpoint_url
        .clone()
        .map(|e| (e, "cloudfront.endpoint_url"))
        .or_else(|| env("AWS_ENDPOINT_URL_CLOUDFRONT"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| {
            (
                cloudfront::DEFAULT_ENDPOINT.to_string(),
                "cloudfront.endpoint_url",
            )
        });
    let batch_size = cf.batch_size.unwrap_or(cloudfront::DEFAULT_BATCH_SIZE);
    if !(1..=cloudfront::MAX_BATCH_SIZE).contains(&batch_size) {
        return Err(setting(
            "cloudfront.batch_size",
            format!(
                "{batch_size} is not between 1 and {}",
                cloudfront::MAX_BATCH_SIZE
            ),
            Some(
                "CloudFront keeps at most 3,000 file paths in progress per distribution; the default, 1000, lets three batches run at once",
            ),
        ));
    }
    let wait = if cf.wait.unwrap_or(false) {
        Some((
            duration(
                "cloudfront.wait_every",
                cf.wait_every.as_deref(),
                Duration::from_secs(15),
            )?,
            duration(
                "cloudfront.wait_at_most",
                cf.wait_at_most.as_deref(),
                Duration::from_secs(30 * 60),
            )?,
        ))
    } else {
        None
    };
    let distribution_id = cf
        .distribution_id
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    if let Some(id) = &distribution_id
        && !id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(setting(
            "cloudfront.distribution_id",
            format!("{id:?} is not a distribution id (letters and digits, like E2QWRUHAPOMQZL)"),
            Some(
                "copy the ID column of the distribution in the CloudFront console (not its domain name)",
            ),
        ));
    }
    Ok(CloudFrontSettings {
        distribution_id,
        endpoint,
        endpoint_from,
        batch_size,
        wait,
    })
}

/// The provider as written in sitepurge.toml.
fn provider_word(provider: ProviderName) -> &'static str {
    match provider {
        ProviderName::Cloudflare => "cloudflare",
        ProviderName::HttpPurge => "http-purge",
        ProviderName::CloudFront => "cloudfront",
        ProviderName::Akamai => "akamai",
        ProviderName::Fastly => "fastly",
        ProviderName::Bunny => "bunny",
    }
}

/// Where an API provider's API is (`base_env`, else `default`) and its token file, relative to
/// the config file's folder.
fn api_settings(
    ctx: &Context,
    file_base: &Path,
    base_env: &str,
    default: &str,
    token_file: Option<&Path>,
) -> ApiSettings {
    ApiSettings {
        api_base: ctx
            .env
            .get(base_env)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_string(),
        token_file: token_file.map(|p| file_base.join(p)),
    }
}

/// No setting waits longer than this (and times stay far from overflowing).
const LONGEST_DURATION: Duration = Duration::from_secs(24 * 3600);

fn duration(setting: &'static str, value: Option<&str>, default: Duration) -> Result<Duration> {
    match value {
        None => Ok(default),
        Some(text) => {
            let d = humantime::parse_duration(text.trim()).map_err(|e| {
                self::setting(
                    setting,
                    format!("{text:?} is not a duration ({e}); write it like 500ms, 2s or 1m"),
                    None,
                )
            })?;
            if d > LONGEST_DURATION {
                return Err(self::setting(
                    setting,
                    format!("{text:?} is longer than a day"),
                    None,
                ));
            }
            // No setting here means anything at zero: a request that may take no time, a
            // retry at once, a quiet period of nothing.
            if d.is_zero() {
                return Err(self::setting(
                    setting,
                    format!("{text:?} is no time at all"),
                    Some("write a duration longer than 0s, like 500ms, 2s or 1m"),
                ));
            }
            Ok(d)
        }
    }
}

fn resolve_cloudflare(
    flags: &Common,
    file: &FileConfig,
    file_base: &Path,
    ctx: &Context,
) -> Result<CloudflareSettings> {
    // Checked when a request is to be sent (`api()`), so that `plan` never fails on it.
    let api_base = ctx
        .env
        .get("CLOUDFLARE_API_BASE_URL")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map_or(cloudflare::DEFAULT_API_BASE, |v| v)
        .to_string();
    let zone = flags
        .zone
        .as_deref()
        .or(file.zone.as_deref())
                .filter(|z| !z.trim().is_empty())
        .map(|z| {
            ZoneRef::parse(z).ok_or_else(|| {
                setting(
                    "zone",
                    format!("{z:?} is neither a 32-hex zone id nor a domain name"),
                    Some("copy the zone id from the zone's Overview page, or give its name (example.com)"),
                )
            })
        })
        .transpose()?;
    let batch_size = match &file.batch_size {
        None => BatchSize::Auto,
        Some(BatchSizeValue::Text(t)) if t.trim().eq_ignore_ascii_case("auto") => BatchSize::Auto,
        Some(BatchSizeValue::Text(t)) => {
            return Err(setting(
                "batch_size",
                format!("{t:?} is neither a number nor \"auto\""),
                Some(
                    "leave it out (\"auto\"), or write a number of URLs per request: batch_size = 30",
                ),
            ));
        }
        Some(BatchSizeValue::Count(n)) if (1..=cloudflare::MAX_BATCH_SIZE).contains(n) => {
            BatchSize::Fixed(*n)
        }
        Some(BatchSizeValue::Count(n)) => {
            return Err(setting(
                "batch_size",
                format!("{n} is not between 1 and {}", cloudflare::MAX_BATCH_SIZE),
                Some(
                    "leave it out (\"auto\": 100, or 30 if the zone refuses 100); 30 works on every plan, Enterprise takes 500",
                ),
            ));
        }
    };
    let token_file = match (ctx.env.get("CLOUDFLARE_API_TOKEN_FILE"), &file.token_file) {
        (Some(p), _) => Some(ctx.cwd.join(p)),
        (None, Some(p)) => Some(file_base.join(p)),
        (None, None) => None,
    };
    Ok(CloudflareSettings {
        api_base,
        zone,
        token_file,
        batch_size,
        everything: flags.everything.or(file.everything).unwrap_or_default(),
    })
}

/// How hard purge requests try, whatever the provider.
fn resolve_policy(flags: &Common, file: &FileConfig) -> Result<Policy> {
    let concurrency = match flags.provider.or(file.provider).unwrap_or_default() {
        ProviderName::Cloudflare | ProviderName::Fastly | ProviderName::Bunny => {
            file.concurrency.unwrap_or(4)
        }
        ProviderName::HttpPurge => file
            .http_purge
            .as_ref()
            .and_then(|h| h.concurrency)
            .or(file.concurrency)
            .unwrap_or(8),
        // Invalidations are large and CloudFront limits how many are in progress.
        ProviderName::CloudFront => file
            .cloudfront
            .as_ref()
            .and_then(|c| c.concurrency)
            .or(file.concurrency)
            .unwrap_or(2),
        ProviderName::Akamai => file
            .akamai
            .as_ref()
            .and_then(|c| c.concurrency)
            .or(file.concurrency)
            .unwrap_or(2),
    };
    if !(1..=64).contains(&concurrency) {
        return Err(setting(
            "concurrency",
            format!("{concurrency} is not between 1 and 64"),
            None,
        ));
    }
    let defaults = Policy::default();
    let policy = Policy {
        concurrency,
        retries: file.retries.unwrap_or(defaults.retries),
        first_delay: duration(
            "retry_delay",
            file.retry_delay.as_deref(),
            defaults.first_delay,
        )?,
        max_delay: duration(
            "max_retry_delay",
            file.max_retry_delay.as_deref(),
            defaults.max_delay,
        )?,
    };
    if policy.max_delay < policy.first_delay {
        return Err(setting(
            "max_retry_delay",
            format!(
                "{} is shorter than retry_delay ({})",
                humantime::format_duration(policy.max_delay),
                humantime::format_duration(policy.first_delay)
            ),
            Some("the delay doubles from retry_delay up to max_retry_delay"),
        ));
    }
    Ok(policy)
}

pub fn default_dir(cwd: &Path) -> Result<PathBuf> {
    let found: Vec<PathBuf> = DEFAULT_DIRS
        .iter()
        .map(|d| cwd.join(d))
        .filter(|p| p.is_dir())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::NoOutputFolder {
            cwd: cwd.to_path_buf(),
        }),
        _ => Err(Error::AmbiguousOutputFolder {
            cwd: cwd.to_path_buf(),
        }),
    }
}

fn build_globs(key: &'static str, patterns: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p.trim_start_matches('/'))
            .map_err(|e| setting(key, format!("{p:?} is not a valid glob: {e}"), None))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| setting("ignore", e.to_string(), None))
}

/// Lexically normalises `a/./b/../c` to `a/c`, so paths compare without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Generators wipe their output folder, so a state file inside it would be lost.
fn check_state_outside(state: &Path, dir: &Path) -> Result<()> {
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| normalize(p));
    let dir_real = real(dir);
    let state_parent = state.parent().map(real).unwrap_or_default();
    if normalize(state).starts_with(normalize(dir)) || state_parent.starts_with(&dir_real) {
        return Err(Error::StateInsideSite {
            state: state.to_path_buf(),
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    fn ctx(cwd: &Path) -> Context {
        Context {
            cwd: cwd.to_path_buf(),
            now: std::time::SystemTime::UNIX_EPOCH,
            env: BTreeMap::new(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Context {
        let mut c = ctx(Path::new("/nonexistent"));
        c.env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c
    }

    fn cf() -> CloudflareSettings {
        resolve_cloudflare(
            &Common::default(),
            &FileConfig::default(),
            Path::new("/"),
            &env(&[]),
        )
        .expect("defaults")
    }

    #[test]
    fn a_detected_generator_sets_the_folder_and_the_noise_rules() {
        let cwd = tmp();
        std::fs::write(cwd.path().join("_config.yml"), "title: x\n").expect("write");
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "ignore_content = ['<!-- built .* -->']\n",
        )
        .expect("write");
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(
            s.generator,
            Some((Generator::Jekyll, Some("_config.yml".to_string())))
        );
        assert_eq!(s.dir, cwd.path().join("_site"));
        let patterns: Vec<&str> = s
            .scan
            .content
            .rules
            .iter()
            .map(|r| r.pattern.as_str())
            .collect();
        let mut expected: Vec<&str> = Generator::Jekyll
            .noise()
            .iter()
            .map(|r| r.pattern)
            .collect();
        expected.push("<!-- built .* -->");
        assert_eq!(patterns, expected);
    }

    #[test]
    fn generator_can_be_set_or_turned_off() {
        let cwd = tmp();
        std::fs::write(cwd.path().join("_config.yml"), "title: x\n").expect("write");
        let mut f = flags();
        f.generator = Some(Generator::Hugo);
        let s = resolve(&f, &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.generator, Some((Generator::Hugo, None)));
        assert_eq!(s.dir, cwd.path().join("public"));
        f.generator = Some(Generator::None);
        std::fs::create_dir(cwd.path().join("_site")).expect("mkdir");
        let s = resolve(&f, &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.generator, None);
        assert!(s.scan.content.is_empty());
        std::fs::write(cwd.path().join("sitepurge.toml"), "generator = \"zola\"\n").expect("write");
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.generator, Some((Generator::Zola, None)));
    }

    #[test]
    fn cloudfront_settings_are_read_from_their_table_and_checked() {
        let cwd = tmp();
        std::fs::create_dir(cwd.path().join("_site")).expect("mkdir");
        let write = |text: &str| {
            std::fs::write(cwd.path().join("sitepurge.toml"), text).expect("write");
        };
        write("provider = \"cloudfront\"\n[cloudfront]\ndistribution_id = \"E2QWRUHAPOMQZL\"\n");
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.provider, ProviderName::CloudFront);
        assert_eq!(
            s.cloudfront,
            CloudFrontSettings {
                distribution_id: Some("E2QWRUHAPOMQZL".into()),
                endpoint: "https://cloudfront.amazonaws.com".into(),
                endpoint_from: "cloudfront.endpoint_url",
                batch_size: 1000,
                wait: None,
            }
        );
        assert_eq!(s.policy.concurrency, 2);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
        // The endpoint: the setting, else the AWS SDKs' variables, the specific one first.
        let mut c = ctx(cwd.path());
        c.env
            .insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:1".into());
        c.env.insert(
            "AWS_ENDPOINT_URL_CLOUDFRONT".into(),
            "http://127.0.0.1:2".into(),
        );
        let s = resolve(&flags(), &c, true).expect("resolve");
        assert_eq!(s.cloudfront.endpoint, "http://127.0.0.1:2");
        assert_eq!(s.cloudfront.endpoint_from, "AWS_ENDPOINT_URL_CLOUDFRONT");
        c.env.remove("AWS_ENDPOINT_URL_CLOUDFRONT");
        let s = resolve(&flags(), &c, true).expect("resolve");
        assert_eq!(s.cloudfront.endpoint_from, "AWS_ENDPOINT_URL");
        write(
            "provider = \"cloudfront\"\n[cloudfront]\nwait = true\nwait_every = \"1s\"\nbatch_size = 3000\nconcurrency = 1\n",
        );
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(
            s.cloudfront.wait,
            Some((Duration::from_secs(1), Duration::from_secs(1800)))
        );
        assert_eq!(s.cloudfront.batch_size, 3000);
        assert_eq!(s.policy.concurrency, 1);
        for (text, key) in [
            ("batch_size = 3001", "cloudfront.batch_size"),
            (
                "distribution_id = \"d111.cloudfront.net\"",
                "cloudfront.distribution_id",
            ),
            ("wait = true\nwait_every = \"0s\"", "cloudfront.wait_every"),
            ("distributionid = \"E1\"", "distributionid"),
        ] {
            write(&format!("[cloudfront]\n{text}\n"));
            let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err(text);
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
        // A table for a provider not in use is said, not silently ignored.
        write("[cloudfront]\ndistribution_id = \"E1\"\n");
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("provider = \"cloudfront\"")),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn akamai_settings_are_read_from_their_table_and_checked() {
        let cwd = tmp();
        std::fs::create_dir(cwd.path().join("_site")).expect("mkdir");
        let write = |text: &str| {
            std::fs::write(cwd.path().join("sitepurge.toml"), text).expect("write");
        };
        write("provider = \"akamai\"\n");
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.provider, ProviderName::Akamai);
        assert_eq!(
            s.akamai,
            AkamaiSettings {
                edgerc: None,
                section: "default".into(),
                network: akamai::Network::Production,
                action: akamai::Action::Invalidate,
                cp_codes: Vec::new(),
                batch_size: 500,
                api_base: None,
            }
        );
        write(
            "provider = \"akamai\"\n[akamai]\nedgerc = \"creds/edgerc\"\nedgerc_section = \"ccu\"\nnetwork = \"staging\"\naction = \"delete\"\ncp_codes = [12345, 678]\nconcurrency = 1\n",
        );
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.akamai.edgerc, Some(cwd.path().join("creds/edgerc")));
        assert_eq!(s.akamai.section, "ccu");
        assert_eq!(s.akamai.network, akamai::Network::Staging);
        assert_eq!(s.akamai.action, akamai::Action::Delete);
        assert_eq!(s.akamai.cp_codes, [12345, 678]);
        assert_eq!(s.policy.concurrency, 1);
        for (text, expected) in [
            ("network = \"prod\"", "expected `production` or `staging`"),
            ("action = \"purge\"", "expected `invalidate` or `delete`"),
            ("batch_size = 0", "akamai.batch_size"),
            ("cp_codes = [\"abc\"]", "line 3, column 13: invalid type"),
        ] {
            write(&format!("provider = \"akamai\"\n[akamai]\n{text}\n"));
            let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn cloudflare_defaults() {
        let c = cf();
        assert_eq!(c.api_base, "https://api.cloudflare.com/client/v4");
        assert_eq!(c.batch_size, BatchSize::Auto);
        assert_eq!(c.everything, Everything::Hosts);
        assert_eq!(c.zone, None);
    }

    #[test]
    fn cloudflare_settings_are_validated() {
        for bad in [
            BatchSizeValue::Count(501),
            BatchSizeValue::Count(0),
            BatchSizeValue::Text("many".into()),
        ] {
            let bad_batch = FileConfig {
                batch_size: Some(bad),
                ..Default::default()
            };
            let err = resolve_cloudflare(&Common::default(), &bad_batch, Path::new("/"), &env(&[]))
                .expect_err("batch");
            assert!(err.to_string().contains("batch_size"));
        }
        for (value, expected) in [
            (BatchSizeValue::Text(" Auto ".into()), BatchSize::Auto),
            (BatchSizeValue::Count(30), BatchSize::Fixed(30)),
            (BatchSizeValue::Count(500), BatchSize::Fixed(500)),
        ] {
            let file = FileConfig {
                batch_size: Some(value),
                ..Default::default()
            };
            let c = resolve_cloudflare(&Common::default(), &file, Path::new("/"), &env(&[]))
                .expect("batch");
            assert_eq!(c.batch_size, expected);
        }
        let bad_delay = FileConfig {
            retry_delay: Some("soon".into()),
            ..Default::default()
        };
        assert!(resolve_policy(&Common::default(), &bad_delay).is_err());
        let http = env(&[("CLOUDFLARE_API_BASE_URL", "http://proxy.example/client/v4")]);
        let c = resolve_cloudflare(
            &Common::default(),
            &FileConfig::default(),
            Path::new("/"),
            &http,
        )
        .expect("checked only when used");
        assert_eq!(c.api_base, "http://proxy.example/client/v4");
        let ok = FileConfig {
            retry_delay: Some("10ms".into()),
            zone: Some("example.com".into()),
            ..Default::default()
        };
        let c = resolve_cloudflare(&Common::default(), &ok, Path::new("/"), &env(&[])).expect("ok");
        let policy = resolve_policy(&Common::default(), &ok).expect("ok");
        assert_eq!(policy.first_delay, Duration::from_millis(10));
        assert_eq!(
            resolve_policy(&Common::default(), &FileConfig::default()).expect("defaults"),
            Policy::default()
        );
        assert_eq!(c.zone, Some(ZoneRef::Name("example.com".into())));
    }

    fn flags() -> Common {
        Common {
            base_urls: vec!["https://example.com/".into()],
            ..Default::default()
        }
    }

    #[test]
    fn defaults_find_the_output_folder_and_state() {
        let cwd = tmp();
        std::fs::create_dir(cwd.path().join("public")).expect("mkdir");
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.dir, cwd.path().join("public"));
        assert_eq!(s.state, cwd.path().join(".sitepurge/state.json"));
        assert_eq!(s.threshold, Threshold::Percent(50.0));
        assert_eq!(s.first_run, FirstRun::Everything);
        assert!(s.config_file.is_none());
    }

    #[test]
    fn missing_output_folder_says_what_it_looked_for() {
        let cwd = tmp();
        let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err("no dir");
        assert!(err.to_string().contains("_site") && err.to_string().contains("public"));
        assert!(err.hint().unwrap_or_default().contains("dir ="));
    }

    #[test]
    fn compaction_has_per_provider_defaults_and_says_when_it_has_no_effect() {
        let resolved = |text: &str, provider| {
            let file = parse_file(text, Path::new("sitepurge.toml")).expect("parse");
            let mut notes = Vec::new();
            resolve_compaction(&file, provider, &mut notes).map(|c| (c, notes))
        };
        let (c, notes) = resolved("compact = true", ProviderName::Cloudflare).expect("ok");
        let c = c.expect("on");
        assert_eq!(
            (
                c.max_paths,
                c.max_wildcards,
                c.min_changed,
                c.covers_folder,
                c.above_threshold
            ),
            (100, 100, 3, true, true)
        );
        assert_eq!(c.max_collateral, Threshold::Percent(10.0));
        assert!(notes.is_empty());
        let (c, _) = resolved(
            "compact = true\nmax_paths = 40\nmax_collateral = 25",
            ProviderName::CloudFront,
        )
        .expect("ok");
        let c = c.expect("on");
        assert_eq!((c.max_paths, c.max_wildcards, c.min_changed), (40, 15, 3));
        assert_eq!(c.max_collateral, Threshold::Count(25));
        // Off: no compaction, except bunny.net's wildcards without collateral.
        assert_eq!(resolved("", ProviderName::Cloudflare).expect("ok").0, None);
        let (c, _) = resolved("", ProviderName::Bunny).expect("ok");
        let c = c.expect("bunny's rule");
        assert_eq!(
            (
                c.min_changed,
                c.max_collateral,
                c.above_threshold,
                c.covers_folder
            ),
            (10, Threshold::Count(0), false, false)
        );
        let (c, _) = resolved("[bunny]\nwildcard_from = 0", ProviderName::Bunny).expect("ok");
        assert_eq!(c, None);
        // No wildcard purge: a note, and nothing else.
        for provider in [
            ProviderName::HttpPurge,
            ProviderName::Akamai,
            ProviderName::Fastly,
        ] {
            let (c, notes) = resolved("compact = true", provider).expect("ok");
            assert_eq!(c, None);
            assert!(notes[0].contains("no wildcard purge"), "{notes:?}");
        }
        let (_, notes) = resolved("max_paths = 5", ProviderName::Cloudflare).expect("ok");
        assert!(notes[0].contains("without compact = true"), "{notes:?}");
        for bad in [
            "compact = true\nmax_paths = 0",
            "compact = true\nmax_collateral = \"lots\"",
        ] {
            assert!(resolved(bad, ProviderName::Cloudflare).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let cwd = tmp();
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "dir = \"out\"\nthreshold = 10\nbase_urls = [\"https://file.example/\"]\nclean_urls = true\n",
        )
        .expect("write");
        let s = resolve(&Common::default(), &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.dir, cwd.path().join("out"));
        assert_eq!(s.threshold, Threshold::Count(10));
        assert_eq!(s.rules.base_urls[0].as_str(), "https://file.example/");
        assert!(s.rules.clean_urls);
        let mut f = flags();
        f.threshold = Some("5%".into());
        f.dir = Some("other".into());
        let s = resolve(&f, &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.dir, cwd.path().join("other"));
        assert_eq!(s.threshold, Threshold::Percent(5.0));
        assert_eq!(s.rules.base_urls[0].as_str(), "https://example.com/");
    }

    #[test]
    fn unknown_key_names_the_key_and_the_file() {
        let cwd = tmp();
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "dir = \"x\"\nbase_url = \"https://a/\"\n",
        )
        .expect("write");
        let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err("unknown");
        let text = err.to_string();
        assert!(
            text.contains("base_url") && text.contains("sitepurge.toml"),
            "{text}"
        );
        assert_eq!(err.exit(), crate::error::Exit::Usage);
    }

    #[test]
    fn named_config_must_exist() {
        let cwd = tmp();
        let mut f = flags();
        f.config = Some("nope.toml".into());
        let err = resolve(&f, &ctx(cwd.path()), true).expect_err("missing");
        assert!(err.to_string().contains("nope.toml"));
    }

    #[test]
    fn paths_in_a_named_config_are_relative_to_it() {
        let cwd = tmp();
        std::fs::create_dir(cwd.path().join("conf")).expect("mkdir");
        std::fs::write(
            cwd.path().join("conf/site.toml"),
            "dir = \"../_site\"\nstate = \"state.json\"\n",
        )
        .expect("write");
        let mut f = flags();
        f.config = Some("conf/site.toml".into());
        let s = resolve(&f, &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(normalize(&s.dir), cwd.path().join("_site"));
        assert_eq!(s.state, cwd.path().join("conf/state.json"));
    }

    #[test]
    fn with_a_named_config_the_defaults_stay_in_the_current_folder() {
        let cwd = tmp();
        std::fs::create_dir_all(cwd.path().join("public")).expect("mkdir");
        std::fs::create_dir_all(cwd.path().join("etc")).expect("mkdir");
        std::fs::write(
            cwd.path().join("etc/sitepurge.toml"),
            "base_urls = \"https://example.com/\"\n",
        )
        .expect("write");
        let f = Common {
            config: Some("etc/sitepurge.toml".into()),
            ..Default::default()
        };
        let s = resolve(&f, &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.dir, cwd.path().join("public"));
        assert_eq!(s.state, cwd.path().join(".sitepurge/state.json"));
        assert_eq!(
            s.rules.base_urls[0].as_str(),
            "https://example.com/",
            "a single string is a list of one"
        );
    }

    #[test]
    fn an_empty_base_url_flag_does_not_hide_the_files() {
        let cwd = tmp();
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "dir = \"x\"\nbase_urls = [\"https://example.com/\"]\n",
        )
        .expect("write");
        let f = Common {
            base_urls: vec![String::new()],
            ..Default::default()
        };
        let s = resolve(&f, &ctx(cwd.path()), true).expect("resolve");
        assert_eq!(s.rules.base_urls.len(), 1);
    }

    #[test]
    fn base_urls_are_required_and_validated() {
        let cwd = tmp();
        let mut f = Common {
            dir: Some("_site".into()),
            ..Default::default()
        };
        let err = resolve(&f, &ctx(cwd.path()), true).expect_err("none");
        assert!(err.hint().unwrap_or_default().contains("--base-url"));
        assert!(resolve(&f, &ctx(cwd.path()), false).is_ok());
        f.base_urls = vec!["example.com".into()];
        let err = resolve(&f, &ctx(cwd.path()), true).expect_err("bad");
        assert!(err.to_string().contains("example.com"), "{err}");
    }

    #[test]
    fn state_inside_the_output_folder_is_refused() {
        let cwd = tmp();
        let mut f = flags();
        f.dir = Some("_site".into());
        f.state = Some("_site/.state.json".into());
        let err = resolve(&f, &ctx(cwd.path()), true).expect_err("inside");
        assert!(matches!(err, Error::StateInsideSite { .. }));
        f.state = Some("./_site/../_site/x/state.json".into());
        assert!(resolve(&f, &ctx(cwd.path()), true).is_err());
    }

    #[test]
    fn only_patterns_ending_in_a_double_star_skip_whole_folders() {
        let cwd = tmp();
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "dir = \"x\"\nignore = [\"drafts/**\", \"drafts/?\", \"img/[!l]*\", \"**/node_modules/**\"]\n",
        )
        .expect("write");
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        let dirs = &s.scan.ignore_dirs;
        assert!(dirs.is_match("drafts") && dirs.is_match("a/node_modules"));
        assert!(!dirs.is_match("img") && !dirs.is_match("drafts2"));
        assert!(s.scan.ignore.is_match("img/x.png") && !s.scan.ignore.is_match("img/logo.png"));
    }

    #[test]
    fn a_preset_adds_its_ignore_globs_to_the_users() {
        let cwd = tmp();
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "generator = \"sphinx\"\ndir = \"x\"\nignore = [\"drafts/**\"]\n",
        )
        .expect("write");
        let s = resolve(&flags(), &ctx(cwd.path()), true).expect("resolve");
        let dirs = &s.scan.ignore_dirs;
        assert!(dirs.is_match(".doctrees") && dirs.is_match("drafts"));
        assert!(s.scan.ignore.is_match(".doctrees/environment.pickle"));
        assert!(!s.scan.ignore.is_match("index.html"));
    }

    #[test]
    fn config_errors_give_the_position_but_never_quote_the_line() {
        let cwd = tmp();
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "dir = \"x\"\n[http_purge]\nheaders = { \"Fastly-Key\" = \"SUPERSECRET123\", \"X\" = 5 }\n",
        )
        .expect("write");
        let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err("bad header");
        let text = err.to_string();
        assert!(!text.contains("SUPERSECRET123"), "{text}");
        assert!(
            text.contains("sitepurge.toml") && text.contains("line 3"),
            "{text}"
        );
    }

    #[test]
    fn durations_longer_than_a_day_are_refused() {
        let long = FileConfig {
            retry_delay: Some("500000000000y".into()),
            ..Default::default()
        };
        let err = resolve_policy(&Common::default(), &long).expect_err("long");
        assert!(err.to_string().contains("retry_delay"));
    }

    #[test]
    fn a_bad_value_from_the_environment_names_the_variable() {
        let cwd = tmp();
        let mut c = ctx(cwd.path());
        c.env.insert("SITEPURGE_THRESHOLD".into(), "lots".into());
        let f = Common {
            dir: Some("x".into()),
            base_urls: vec!["https://example.com/".into()],
            ..Default::default()
        };
        let err = resolve(&f, &c, true).expect_err("bad threshold");
        assert!(err.to_string().contains("SITEPURGE_THRESHOLD"), "{err}");
    }

    #[test]
    fn bad_patterns_name_the_setting() {
        let cwd = tmp();
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "dir = \"x\"\nignore_content = [\"(unclosed\"]\n",
        )
        .expect("write");
        let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err("regex");
        assert!(
            err.to_string().contains("ignore_content") && err.to_string().contains("(unclosed")
        );
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "dir = \"x\"\nignore = [\"a[\"]\n",
        )
        .expect("write");
        let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err("glob");
        assert!(err.to_string().contains("ignore"));
    }

    #[test]
    fn config_errors_name_what_is_expected_never_an_internal_type() {
        let cases = [
            (
                "threshold = true",
                "expected a number of URLs (200) or a share",
            ),
            ("base_urls = 5", "expected a string or a list of strings"),
            ("site_config = 4", "expected a string or a list of strings"),
            (
                "[http_purge]\nheaders = { \"X\" = 5 }",
                "expected a header value: text, or { env = \"VARIABLE\" }",
            ),
            ("http_purge = 5", "expected a table: [http_purge]"),
            (
                "[http_purge]\neverything = 5",
                "expected a table: everything = { method",
            ),
            (
                "provider = \"nonesuch\"",
                "expected one of `cloudflare`, `http-purge`, `cloudfront`, `akamai`, `fastly`, `bunny`",
            ),
            ("fastly = 5", "expected a table: [fastly]"),
            (
                "batch_size = true",
                "expected a number of URLs per request (30) or \"auto\"",
            ),
            ("akamai = 5", "expected a table: [akamai]"),
            ("cloudfront = 5", "expected a table: [cloudfront]"),
        ];
        for (text, expected) in cases {
            let cwd = tmp();
            std::fs::write(cwd.path().join("sitepurge.toml"), format!("{text}\n")).expect("write");
            let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err(text);
            let message = err.to_string();
            assert!(message.contains(expected), "{text}: {message}");
            for internal in [
                "enum",
                "struct",
                "ThresholdValue",
                "OneOrMany",
                "HeaderSpec",
                "HttpPurgeFile",
                "EverythingFile",
                "FastlyFile",
                "BatchSizeValue",
                "FileConfig",
                "CloudFrontFile",
                "AkamaiFile",
            ] {
                assert!(!message.contains(internal), "{text}: {message}");
            }
        }
    }

    #[test]
    fn zero_durations_and_a_cap_below_the_first_delay_are_refused() {
        for (key, value) in [
            ("timeout", "0s"),
            ("retry_delay", "0ms"),
            ("max_retry_delay", "0s"),
            ("settle", "0s"),
        ] {
            let cwd = tmp();
            std::fs::create_dir(cwd.path().join("_site")).expect("mkdir");
            std::fs::write(
                cwd.path().join("sitepurge.toml"),
                format!("{key} = \"{value}\"\n"),
            )
            .expect("write");
            let err = match key {
                "settle" => {
                    let args = crate::cli::WatchArgs {
                        common: flags(),
                        settle: None,
                        max_wait: None,
                        retry_every: None,
                        poll: false,
                    };
                    resolve_watch(&args, &ctx(cwd.path()))
                        .map(|_| ())
                        .expect_err(key)
                }
                _ => resolve(&flags(), &ctx(cwd.path()), true)
                    .map(|_| ())
                    .expect_err(key),
            };
            assert_eq!(
                err.to_string(),
                format!("invalid setting `{key}`: \"{value}\" is no time at all")
            );
        }
        let cwd = tmp();
        std::fs::create_dir(cwd.path().join("_site")).expect("mkdir");
        std::fs::write(
            cwd.path().join("sitepurge.toml"),
            "retry_delay = \"10s\"\nmax_retry_delay = \"2s\"\n",
        )
        .expect("write");
        let err = resolve(&flags(), &ctx(cwd.path()), true).expect_err("cap");
        assert!(
            err.to_string().contains("shorter than retry_delay"),
            "{err}"
        );
    }
}
