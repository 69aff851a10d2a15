//! `sitepurge init`: the starter `sitepurge.toml` for a site, written from what was found in its
//! folder. Pure: the caller finds the facts and writes the file.

use std::fmt::Write as _;

use crate::generator::Generator;
use crate::provider::ProviderName;

/// What `init` found out about the site in the current folder.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The generator, and the file it was detected from (None: given with --generator).
    pub generator: Option<(Generator, Option<String>)>,
    /// The output folder, relative to the site's folder, when one is known.
    pub dir: Option<String>,
    /// Base URLs given on the command line.
    pub base_urls: Vec<String>,
    /// The base URL in the generator's config, and the file.
    pub site_base_url: Option<(String, String)>,
    /// Why the generator's config value was not used (localhost, empty...).
    pub base_url_not_used: Option<String>,
    pub provider: ProviderName,
}

impl Found {
    /// Whether `sitepurge plan` will find a base URL with this file.
    pub fn has_base_url(&self) -> bool {
        !self.base_urls.is_empty() || self.site_base_url.is_some()
    }
}

fn toml_string(s: &str) -> String {
    // TOML basic strings escape like JSON strings.
    serde_json::Value::String(s.to_string()).to_string()
}

/// The text of the starter `sitepurge.toml`.
pub fn config_text(found: &Found) -> String {
    let mut t = String::new();
    let mut line = |s: &str| {
        t.push_str(s);
        t.push('\n');
    };
    line("# sitepurge settings for this site. Every key is optional; flags and environment");
    line("# variables override them. Paths are relative to this file's folder.");
    line("# Reference: sitepurge help run, and the README's Settings table.");
    line("");
    match &found.generator {
        Some((g, Some(file))) => {
            line(&format!(
                "# Detected from {file}: sets the output folder and the build noise to ignore."
            ));
            line(&format!("generator = {}", toml_string(g.name())));
        }
        Some((g, None)) => {
            line("# The generator preset: sets the output folder and the build noise to ignore.");
            line(&format!("generator = {}", toml_string(g.name())));
        }
        None => {
            line(
                "# No generator was detected here (hugo, jekyll, zola, eleventy, astro, docusaurus, vitepress, hexo, mkdocs, sphinx, pelican); naming",
            );
            line("# one sets its output folder and the build noise to ignore.");
            line("# generator = \"hugo\"");
        }
    }
    line("");
    line("# The folder the generator writes, as deployed.");
    match &found.dir {
        Some(dir) => line(&format!("dir = {}", toml_string(dir))),
        None => line("# dir = \"public\""),
    }
    line("");
    line("# Every public base URL of the site: apex and www, or a path for a site below one.");
    if !found.base_urls.is_empty() {
        let list: Vec<String> = found.base_urls.iter().map(|u| toml_string(u)).collect();
        line(&format!("base_urls = [{}]", list.join(", ")));
    } else if let Some((url, file)) = &found.site_base_url {
        line(&format!("# While unset, it is read from {file}: {url}"));
        line("# Set it here to add another host name (www), or to override it:");
        line(&format!("# base_urls = [{}]", toml_string(url)));
    } else {
        if let Some(why) = &found.base_url_not_used {
            line(&format!("# ({why})"));
        }
        line("# FILL IN before `sitepurge plan` or `run`:");
        line("# base_urls = [\"https://example.com/\", \"https://www.example.com/\"]");
    }
    line("");
    line("# The hashes of the site as last purged. Keep it between runs (CI: cache it); never");
    line("# inside the output folder, which generators wipe.");
    line("state = \".sitepurge/state.json\"");
    line("");
    line("# Above this many changed URLs, purge everything instead: a number or a share.");
    line("threshold = \"50%\"");
    line("");
    line("# With no state yet: purge \"everything\" (the cache may hold any version), or");
    line("# \"baseline\" to only record the site as it is.");
    line("first_run = \"everything\"");
    line("");
    match found.provider {
        ProviderName::Cloudflare => {
            line("# Cloudflare. Credentials come from the environment, never from this file:");
            line("#   CLOUDFLARE_API_TOKEN   an API token with Zone > Cache Purge on the zone");
            line(
                "#   (or CLOUDFLARE_API_TOKEN_FILE / token_file, or CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY)",
            );
            line("provider = \"cloudflare\"");
            line(
                "# The zone: its 32-hex id (from the zone's Overview page), or its name, looked up",
            );
            line("# with Zone > Zone Read. Default: the registrable domain of the first base URL.");
            line("# zone = \"0123456789abcdef0123456789abcdef\"");
            line("# What \"purge everything\" sends: the site's \"hosts\", or the whole \"zone\".");
            line("everything = \"hosts\"");
        }
        ProviderName::HttpPurge => {
            line("# A cache that takes PURGE requests (Varnish, nginx, Squid). Header values come");
            line("# from the environment with { env = \"NAME\" }, never written here.");
            line("provider = \"http-purge\"");
            line("");
            line("[http_purge]");
            line("# Where purges go (the URL's path and Host header are kept); leave out to send");
            line("# each one to the URL itself.");
            line("endpoint = \"http://127.0.0.1:6081\"");
            line("method = \"PURGE\"");
            line("# headers = { \"X-Purge-Key\" = { env = \"PURGE_KEY\" } }");
        }
        ProviderName::CloudFront => {
            line("# Amazon CloudFront. Credentials come from the environment or a profile, never");
            line(
                "# from this file: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),",
            );
            line("# else AWS_PROFILE in ~/.aws/credentials or ~/.aws/config.");
            line("provider = \"cloudfront\"");
            line("");
            line("[cloudfront]");
            line("# FILL IN before `sitepurge run`: the ID column of the distribution in the");
            line("# CloudFront console.");
            line("# distribution_id = \"E2QWRUHAPOMQZL\"");
            line("# Wait for each invalidation to complete, saying how it goes.");
            line("# wait = true");
        }
        ProviderName::Akamai => {
            line("# Akamai Fast Purge. Credentials come from AKAMAI_HOST, AKAMAI_CLIENT_TOKEN,");
            line("# AKAMAI_CLIENT_SECRET and AKAMAI_ACCESS_TOKEN, else a section of ~/.edgerc");
            line("# (an API client with read-write access to \"CCU APIs\"), never from this file.");
            line("provider = \"akamai\"");
            line("");
            line("[akamai]");
            line("# edgerc_section = \"default\"");
            line("network = \"production\"");
            line(
                "# \"invalidate\" (revalidate with the origin) or \"delete\" (fetch again in full).",
            );
            line("action = \"invalidate\"");
            line("# \"Everything\" purges these CP codes; without them, every URL of the site.");
            line("# cp_codes = [123456]");
        }
        ProviderName::Fastly => {
            line("# Fastly. The API token comes from the environment, never from this file:");
            line("#   FASTLY_API_TOKEN   a token with purge_select (and purge_all for everything)");
            line("provider = \"fastly\"");
            line("");
            line("[fastly]");
            line("# The service's id, from its page in the Fastly control panel (required).");
            line("# service_id = \"...\"");
            line("# Mark URLs stale instead of removing them (Fastly-Soft-Purge: 1).");
            line("soft = false");
        }
        ProviderName::Bunny => {
            line("# bunny.net. The API key comes from the environment, never from this file:");
            line("#   BUNNY_API_KEY   the account's API key");
            line("provider = \"bunny\"");
            line("");
            line("[bunny]");
            line("# The pull zone \"everything\" clears; without it, a wildcard per host.");
            line("# pull_zone_id = 12345");
        }
    }
    t
}

/// The commands to run next, one per line, with what each does.
pub fn next_steps(found: &Found, file: &str) -> Vec<String> {
    let mut steps = Vec::new();
    if !found.has_base_url() {
        steps.push(format!(
            "edit {file}: set base_urls to the site's public address"
        ));
    }
    steps.push(
        "sitepurge baseline     # once, after a deploy: record the site as the cache has it".into(),
    );
    steps.push(
        "sitepurge plan         # after the next build: what would be purged, and why".into(),
    );
    let credentials = match found.provider {
        ProviderName::Cloudflare => "CLOUDFLARE_API_TOKEN=... ",
        ProviderName::HttpPurge => "",
        ProviderName::CloudFront => "AWS_PROFILE=... ",
        ProviderName::Akamai => "",
        ProviderName::Fastly => "FASTLY_API_TOKEN=... ",
        ProviderName::Bunny => "BUNNY_API_KEY=... ",
    };
    steps.push(format!(
        "{credentials}sitepurge run   # after each deploy: purge what changed"
    ));
    steps.truncate(3);
    steps
}

/// The `init` summary: the file written, then the next commands.
pub fn summary(found: &Found, file: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "wrote {file}");
    if let Some((g, Some(from))) = &found.generator {
        let _ = writeln!(s, "  generator {} (from {from})", g.name());
    }
    if let Some(dir) = &found.dir {
        let _ = writeln!(s, "  output folder {dir}");
    }
    if let Some((url, from)) = &found.site_base_url {
        if found.base_urls.is_empty() {
            let _ = writeln!(s, "  base URL {url} from {from}");
        }
    } else if found.base_urls.is_empty() {
        let _ = writeln!(s, "  no base URL found: set base_urls in {file}");
    }
    let _ = writeln!(s, "next:");
    for step in next_steps(found, file) {
        let _ = writeln!(s, "  {step}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;

    fn jekyll() -> Found {
        Found {
            generator: Some((Generator::Jekyll, Some("_config.yml".into()))),
            dir: Some("_site".into()),
            site_base_url: Some((
                "https://blog.example.com/blog/".into(),
                "_config.yml".into(),
            )),
            ..Default::default()
        }
    }

    fn parses(text: &str) -> FileConfig {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn every_starter_file_is_a_valid_config() {
        let cases = [
            jekyll(),
            Found::default(),
            Found {
                base_urls: vec![
                    "https://example.com/".into(),
                    "https://www.example.com/".into(),
                ],
                provider: ProviderName::HttpPurge,
                ..jekyll()
            },
            Found {
                generator: Some((Generator::Hugo, None)),
                base_url_not_used: Some("hugo.toml sets the base URL to \"/\", not used".into()),
                ..Default::default()
            },
        ];
        for found in cases {
            let config = parses(&config_text(&found));
            assert_eq!(config.generator, found.generator.as_ref().map(|(g, _)| *g));
            assert_eq!(config.dir.map(|d| d.display().to_string()), found.dir);
            assert_eq!(config.provider, Some(found.provider));
        }
    }

    #[test]
    fn a_base_url_from_the_site_config_is_left_to_it() {
        let text = config_text(&jekyll());
        let config = parses(&text);
        assert!(config.base_urls.is_none(), "{text}");
        assert!(text.contains("read from _config.yml: https://blog.example.com/blog/"));
    }

    #[test]
    fn given_base_urls_are_written() {
        let found = Found {
            base_urls: vec![
                "https://example.com/".into(),
                "https://www.example.com/".into(),
            ],
            ..jekyll()
        };
        let config = parses(&config_text(&found));
        assert_eq!(
            config.base_urls.map(crate::config::OneOrMany::into_vec),
            Some(vec![
                "https://example.com/".to_string(),
                "https://www.example.com/".to_string()
            ])
        );
    }

    #[test]
    fn next_steps_are_three_and_ask_for_a_base_url_when_none_was_found() {
        let with = next_steps(&jekyll(), "sitepurge.toml");
        assert_eq!(with.len(), 3);
        assert!(with[0].starts_with("sitepurge baseline"));
        assert!(with[2].starts_with("CLOUDFLARE_API_TOKEN=... sitepurge run"));
        let without = next_steps(&Found::default(), "sitepurge.toml");
        assert_eq!(without.len(), 3);
        assert!(without[0].starts_with("edit sitepurge.toml: set base_urls"));
    }

    #[test]
    fn the_file_holds_no_secret_only_variable_names() {
        for provider in [
            ProviderName::Cloudflare,
            ProviderName::HttpPurge,
            ProviderName::CloudFront,
            ProviderName::Akamai,
        ] {
            let text = config_text(&Found {
                provider,
                ..jekyll()
            });
            let config = parses(&text);
            assert!(config.token_file.is_none());
            assert!(!text.contains("token ="), "{text}");
        }
    }
}
