//! Command-line interface. The doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::plan::FirstRun;
use crate::provider::cloudflare::Everything;

const EXAMPLES: &str = "\
Examples:
  Start in the site's source folder: write a commented sitepurge.toml for it:
    sitepurge init

  Show what the next run would purge, without sending anything:
    sitepurge plan _site --base-url https://example.com/

  Record the site as it is now (e.g. right after the first deploy):
    sitepurge baseline public

  Purge what changed after a build, for apex and www:
    hugo && rsync -a --delete public/ server:/srv/www/ && \\
      sitepurge run public --base-url https://example.com/ --base-url https://www.example.com/

  Settings can live in ./sitepurge.toml instead of flags (see the README).

Exit codes: 0 ok, 1 purge failed (URLs still pending), 2 usage, config or credentials
error, 3 state file unusable, 4 output folder unreadable, 5 state locked by another sitepurge.";

/// Purge exactly the CDN URLs that a static site build changed.
///
/// sitepurge hashes every file in the site's output folder, compares the hashes with the state
/// recorded by the previous run, turns the added, modified and removed files into the exact
/// public URLs a CDN caches them under, and purges those: or everything, when more than the
/// threshold changed.
#[derive(Debug, Parser)]
#[command(name = "sitepurge", version, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a run would purge, and why. Touches nothing, sends nothing.
    ///
    /// With --out FILE, also write the plan to FILE for `sitepurge apply FILE` after the deploy
    /// (a CI job that builds, plans, deploys, then purges in another step or job).
    Plan(PlanArgs),
    /// Record the site's current state as the starting point. Purges nothing.
    Baseline(Common),
    /// Scan, compare with the last state, purge what changed, save the new state.
    ///
    /// Credentials come from the environment, never from flags: CLOUDFLARE_API_TOKEN (an API
    /// token with "Cache Purge"), or token_file in the config, or the legacy pair
    /// CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY.
    Run(RunArgs),
    /// Purge exactly what a plan file says, then record it: the second step of a deploy.
    ///
    /// The plan comes from `sitepurge plan --out FILE`, made before the deploy. apply refuses it
    /// (exit 2) when the settings or the state file changed since; with `origin_url` it first
    /// waits until the origin serves the new build; after the purge it fetches a sample of the
    /// purged URLs through the site to prove they are fresh (`check_after_purge`). Re-running a
    /// failed apply job is safe: what was purged is recorded, the rest is still owed.
    ///
    /// sitepurge plan --out plan.json && deploy && sitepurge apply plan.json
    Apply(ApplyArgs),
    /// Check the Cloudflare credentials and zone, and print what was found (never the secret).
    Verify(Common),
    /// Run until stopped, purging as soon as a build or deploy settles.
    ///
    /// Each cycle is `sitepurge run`: the hashes decide what changed, file events only say when
    /// to look. Survives the output folder being deleted and recreated or renamed into place;
    /// retries pending URLs; SIGINT/SIGTERM stop it cleanly (a second one at once).
    Watch(WatchArgs),
    /// Explain one file: whether it changed since the state, which content rules blanked what
    /// (with a little context), and the URLs it maps to. Touches nothing, sends nothing.
    ///
    /// sitepurge explain blog/first-post/index.html
    Explain(ExplainArgs),
    /// Write a commented sitepurge.toml for the site in the current folder.
    ///
    /// Detects the generator from its config file, and fills in its output folder, the base URL
    /// from the generator's config (or a line to fill in), the state file, and the provider
    /// section with the environment variables that hold the credentials (never a secret). It
    /// refuses to replace an existing file unless --force is given, and prints the next commands.
    Init(InitArgs),
    /// Print a shell completion script to stdout.
    ///
    /// bash:  sitepurge completions bash > ~/.local/share/bash-completion/completions/sitepurge
    /// zsh:   sitepurge completions zsh > "${fpath[1]}/_sitepurge"
    /// fish:  sitepurge completions fish > ~/.config/fish/completions/sitepurge.fish
    /// PowerShell: sitepurge completions powershell >> $PROFILE
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, or write one page per command into a folder.
    ///
    /// sitepurge man > sitepurge.1 && man -l sitepurge.1
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The file, as a path inside the output folder (blog/first-post/index.html)
    #[arg(value_name = "PATH")]
    pub path: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing sitepurge.toml
    #[arg(long)]
    pub force: bool,
    /// The generator preset, when it cannot be detected (hugo, jekyll, zola, eleventy, astro,
    /// docusaurus, vitepress, hexo, mkdocs, sphinx, pelican, or none) [default: detected]
    #[arg(long, value_name = "NAME")]
    pub generator: Option<crate::generator::Generator>,
    /// Public base URL of the site (repeat for www) [default: from the generator's config]
    #[arg(long = "base-url", value_name = "URL", value_delimiter = ',')]
    pub base_urls: Vec<String>,
    /// Which cache the file is set up for [default: cloudflare]
    #[arg(long, value_name = "NAME")]
    pub provider: Option<crate::provider::ProviderName>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write sitepurge.1 and a page per command (sitepurge-plan.1, ...) into this folder
    /// instead of printing the main page
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only show the plan (same as `sitepurge plan`): nothing is sent, the state is not touched.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not fetch the purged URLs afterwards to check they are fresh (`check_after_purge`)
    #[arg(long)]
    pub no_check: bool,
    /// Also append a Markdown summary (decision, counts, stale URLs) to FILE, e.g.
    /// "$GITHUB_STEP_SUMMARY" in a GitHub Actions job
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also write the plan to FILE, for `sitepurge apply FILE` after the deploy
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also append a Markdown summary (decision, counts, stale URLs) to FILE, e.g.
    /// "$GITHUB_STEP_SUMMARY" in a GitHub Actions job
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file `sitepurge plan --out` wrote
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    #[command(flatten)]
    pub common: Common,
    /// Do not fetch the purged URLs afterwards to check they are fresh (`check_after_purge`)
    #[arg(long)]
    pub no_check: bool,
    /// Also append a Markdown summary (decision, counts, stale URLs) to FILE, e.g.
    /// "$GITHUB_STEP_SUMMARY" in a GitHub Actions job
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run a cycle once no file event came for this long (500ms, 2s, 1m) [default: 2s]
    #[arg(long, value_name = "DURATION")]
    pub settle: Option<String>,
    /// ...but never later than this after the first event of a burst [default: 60s]
    #[arg(long, value_name = "DURATION")]
    pub max_wait: Option<String>,
    /// While URLs are pending after a failed purge, retry this often [default: 60s]
    #[arg(long, value_name = "DURATION")]
    pub retry_every: Option<String>,
    /// Poll the folder instead of using inotify (for network file systems; chosen
    /// automatically on NFS, SMB, sshfs...)
    #[arg(long)]
    pub poll: bool,
}

/// Flags every command shares. Each one overrides the same setting in the config file.
/// Environment variables stand in for absent flags (an empty variable counts as unset: CI
/// systems often leave them empty); see [`Common::with_env`].
#[derive(Debug, Args, Default, Clone)]
pub struct Common {
    /// The site's output folder [default: the generator preset's folder, else `_site` or
    /// `public`, whichever exists]
    /// [env: SITEPURGE_DIR]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Public base URL of the site. Repeat it for each host (apex and www) or give a path
    /// (https://example.com/docs/) for a site that lives below one [env: SITEPURGE_BASE_URL,
    /// comma-separated] [default: from the generator's config: Jekyll url + baseurl, Hugo
    /// baseURL, Zola base_url, MkDocs site_url, Sphinx html_baseurl, Pelican SITEURL]
    #[arg(long = "base-url", value_name = "URL", value_delimiter = ',')]
    pub base_urls: Vec<String>,

    /// Generator preset: its output folder and its known build noise (hugo, jekyll, zola,
    /// eleventy, astro, docusaurus, vitepress, hexo, mkdocs, sphinx, pelican, or none) [default:
    /// detected from the site's config files in the current folder, else in the folder of the
    /// config file]
    #[arg(long, value_name = "NAME")]
    pub generator: Option<crate::generator::Generator>,

    /// State file recording the last purged state [default: .sitepurge/state.json]
    /// [env: SITEPURGE_STATE]
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Above this many changed URLs, purge everything instead: a number (200) or a share of
    /// the site's URLs (50%) [default: 50%] [env: SITEPURGE_THRESHOLD]
    #[arg(long, value_name = "N|N%")]
    pub threshold: Option<String>,

    /// Config file [default: ./sitepurge.toml when present] [env: SITEPURGE_CONFIG]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// What a run does when there is no state yet [default: everything]
    #[arg(long, value_name = "MODE")]
    pub first_run: Option<FirstRun>,

    /// Which cache to purge: the Cloudflare API, or `PURGE` requests to a cache or CDN that
    /// takes them (Varnish, nginx, Squid, Fastly; see [http_purge] in the README) [default: cloudflare]
    #[arg(long, value_name = "NAME")]
    pub provider: Option<crate::provider::ProviderName>,

    /// Cloudflare zone: its 32-hex id, or its domain name (looked up; needs "Zone Read")
    /// [default: the registrable domain of the first base URL] [env: CLOUDFLARE_ZONE_ID]
    #[arg(long, value_name = "ID|NAME")]
    pub zone: Option<String>,

    /// What "purge everything" sends: the site's host names, or the whole zone [default: hosts]
    #[arg(long, value_name = "WHAT")]
    pub everything: Option<Everything>,

    /// Print one JSON object on stdout instead of the summary (format in the README)
    #[arg(long)]
    pub json: bool,

    /// List every URL with its file and change (-v); add debug detail (-vv)
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print nothing but errors
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl Command {
    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Plan(_) => "plan",
            Command::Baseline(_) => "baseline",
            Command::Run(_) => "run",
            Command::Apply(_) => "apply",
            Command::Verify(_) => "verify",
            Command::Watch(_) => "watch",
            Command::Explain(_) => "explain",
            Command::Init(_) => "init",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }

    /// Where to append a Markdown summary (`--summary`), for the commands that take one.
    pub fn summary(&self) -> Option<&std::path::Path> {
        match self {
            Command::Plan(p) => p.summary.as_deref(),
            Command::Run(r) => r.summary.as_deref(),
            Command::Apply(a) => a.summary.as_deref(),
            _ => None,
        }
    }

    /// The flags shared by the commands that read a site (none for init, completions, man).
    pub fn common(&self) -> Option<&Common> {
        match self {
            Command::Baseline(c) | Command::Verify(c) => Some(c),
            Command::Plan(p) => Some(&p.common),
            Command::Run(r) => Some(&r.common),
            Command::Apply(a) => Some(&a.common),
            Command::Watch(w) => Some(&w.common),
            Command::Explain(e) => Some(&e.common),
            Command::Init(_) | Command::Completions(_) | Command::Man(_) => None,
        }
    }
}

impl Common {
    /// These flags, with each absent one taken from its environment variable when that is set
    /// and not empty.
    pub fn with_env(&self, env: &std::collections::BTreeMap<String, String>) -> Common {
        let var = |name: &str| {
            env.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut flags = self.clone();
        if flags.dir.is_none() {
            flags.dir = var("SITEPURGE_DIR").map(PathBuf::from);
        }
        if flags.base_urls.is_empty() {
            flags.base_urls = var("SITEPURGE_BASE_URL")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
        }
        if flags.state.is_none() {
            flags.state = var("SITEPURGE_STATE").map(PathBuf::from);
        }
        if flags.threshold.is_none() {
            flags.threshold = var("SITEPURGE_THRESHOLD");
        }
        if flags.config.is_none() {
            flags.config = var("SITEPURGE_CONFIG").map(PathBuf::from);
        }
        if flags.zone.is_none() {
            flags.zone = var("CLOUDFLARE_ZONE_ID");
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn environment_fills_absent_flags_and_empty_variables_count_as_unset() {
        let env: std::collections::BTreeMap<String, String> = [
            ("SITEPURGE_STATE", ""),
            ("SITEPURGE_THRESHOLD", "  "),
            (
                "SITEPURGE_BASE_URL",
                "https://a.example/, https://b.example/",
            ),
            ("CLOUDFLARE_ZONE_ID", "example.com"),
            ("SITEPURGE_DIR", "public"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let flags = Common {
            dir: Some("site".into()),
            ..Default::default()
        }
        .with_env(&env);
        assert_eq!(flags.state, None);
        assert_eq!(flags.threshold, None);
        assert_eq!(
            flags.base_urls,
            ["https://a.example/", "https://b.example/"]
        );
        assert_eq!(flags.zone.as_deref(), Some("example.com"));
        assert_eq!(
            flags.dir,
            Some(PathBuf::from("site")),
            "a flag beats the environment"
        );
    }

    #[test]
    fn base_url_is_repeatable() {
        let cli = Cli::try_parse_from([
            "sitepurge",
            "plan",
            "site",
            "--base-url",
            "https://a.example/",
            "--base-url",
            "https://b.example/",
        ])
        .expect("parse");
        let Command::Plan(PlanArgs { common: c, .. }) = cli.command else {
            panic!("not plan")
        };
        assert_eq!(c.base_urls, ["https://a.example/", "https://b.example/"]);
        assert_eq!(c.dir, Some(PathBuf::from("site")));
    }
}
