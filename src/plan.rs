//! Pure decision: given what changed, purge nothing, these URLs, or everything, and say why.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::diff::{Change, ChangeSet};
use crate::urls::UrlRules;

/// Above this many changed URLs the plan becomes "purge everything".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// An absolute number of URLs.
    Count(u64),
    /// A share (0–100) of all the site's URLs.
    Percent(f64),
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::Percent(50.0)
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("{s:?} is neither a number of URLs (like 200) nor a share (like 50%)");
        if let Some(pct) = s.strip_suffix('%') {
            let pct: f64 = pct.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&pct) {
                return Err(format!("{s:?} is not between 0% and 100%"));
            }
            Ok(Threshold::Percent(pct))
        } else {
            s.parse().map(Threshold::Count).map_err(|_| bad())
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Count(n) => write!(f, "{n}"),
            Threshold::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Threshold {
    /// The largest number of URLs purged one by one, for a site of `site_urls` URLs.
    pub fn limit(self, site_urls: usize) -> usize {
        match self {
            Threshold::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Threshold::Percent(p) => ((site_urls as f64) * p / 100.0).floor() as usize,
        }
    }
}

/// What to do on a first run (no state file yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirstRun {
    /// Purge everything: the cache may hold any version of any page.
    #[default]
    Everything,
    /// Only record the state; purge nothing.
    Baseline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Nothing,
    Urls,
    Everything,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    NoChanges,
    Changes,
    FirstRun,
    FirstRunBaseline,
    /// A first run on a site with no file: nothing can be stale yet.
    FirstRunEmpty,
    Threshold,
    ContentRulesChanged,
    BaseUrlsChanged,
    /// `sitepurge baseline`: the state was recorded as it is.
    Baseline,
    /// The only changes are fingerprinted files added or removed: no one has their new URLs
    /// cached, and nothing links to the old ones any more.
    OnlyImmutable,
    /// More changed URLs than the threshold, but folder wildcards and exact URLs cover them
    /// within `max_paths`, purging few enough unchanged URLs (`compact = true`).
    Compacted,
}

/// One folder wildcard of a compacted plan: a purge of everything below a folder, standing
/// for the changed URLs there, and purging its unchanged ones too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wildcard {
    /// `https://example.com/blog/*`.
    pub url: String,
    /// Changed URLs it covers.
    pub changed: usize,
    /// URLs of the site it covers that did not change: purged needlessly.
    pub unchanged: usize,
    /// Whether it covers the folder's own URL (`https://example.com/blog/`) too.
    pub includes_folder: bool,
}

impl Wildcard {
    /// The folder, ending in `/`.
    pub fn folder(&self) -> &str {
        self.url.strip_suffix('*').unwrap_or(&self.url)
    }

    /// Whether purging this wildcard purges `url`.
    pub fn covers(&self, url: &str) -> bool {
        let folder = self.folder();
        url.starts_with(folder) && (self.includes_folder || url != folder)
    }

    /// The `host/path/` prefix providers take for it: no scheme, and the folder's final `/`,
    /// since a Cloudflare prefix matches as a string (`example.com/blog` would also purge
    /// `example.com/blog-archive.html`, which the collateral does not count).
    pub fn scope(&self) -> String {
        let folder = self.folder();
        folder
            .split_once("://")
            .map_or(folder, |(_, rest)| rest)
            .to_string()
    }
}

/// Files whose URL changes whenever their content does (a content hash in the name: Vite's
/// `index.3f9a1c2b.js`, Hugo's fingerprinted `main.min.<64 hex>.css`): adding or removing one
/// needs no purge, since no cache holds the new URL yet and the pages that used the old one
/// are purged themselves. A modified one (same name, new bytes) is still purged.
#[derive(Debug, Clone, Default)]
pub struct Immutable {
    /// `immutable` globs from the settings.
    pub globs: globset::GlobSet,
    /// Whether a name with a segment of at least 8 hexadecimal digits counts.
    pub hashed_names: bool,
}

impl Immutable {
    pub fn matches(&self, path: &str) -> bool {
        self.globs.is_match(path) || (self.hashed_names && has_hash_segment(path))
    }
}

/// Whether the file name has a `.`, `-` or `_` separated segment of 8 or more hexadecimal
/// digits with both a digit and a letter among them: a word (`deadbeef`) or a date (`20240518`,
/// whose page may have a 404 cached) does not count.
fn has_hash_segment(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    stem.split(['.', '-', '_']).any(|part| {
        part.len() >= 8
            && part.bytes().all(|b| b.is_ascii_hexdigit())
            && part.bytes().any(|b| b.is_ascii_digit())
            && part.bytes().any(|b| b.is_ascii_alphabetic())
    })
}

/// One URL to purge and the file it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeUrl {
    pub url: String,
    pub path: String,
    pub change: Change,
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub changes: &'a ChangeSet,
    pub rules: &'a UrlRules,
    /// URLs of the whole site (current files and removed ones), for a `N%` threshold.
    pub site_urls: usize,
    pub threshold: Threshold,
    /// No state file existed.
    pub first_run: bool,
    pub first_run_mode: FirstRun,
    /// The state's hashes were computed under other `ignore_content` rules.
    pub content_rules_changed: bool,
    /// The state was recorded for other base URLs.
    pub base_urls_changed: bool,
    /// Which URLs to list: a million-file first run has millions, which only a report that
    /// prints them, or a purge of them, needs.
    pub listing: Listing,
    /// Fingerprinted files, whose addition or removal needs no purge.
    pub immutable: &'a Immutable,
    /// List the URLs above the threshold too: compaction may still purge them.
    pub list_above_threshold: bool,
}

/// Which URLs a plan lists in [`Plan::urls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Every URL of every changed file (for `--json`, `-v` and `run`).
    All,
    /// Only when they are to be purged one by one (the decision is "these URLs").
    WhenPurgingThem,
    /// None (`baseline`).
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub decision: Decision,
    pub reason: Reason,
    /// The URLs of every changed file, sorted (listed even when everything is purged), as far
    /// as [`Inputs::listing`] asked for them.
    pub urls: Vec<PurgeUrl>,
    /// How many URLs the changed files have, listed or not.
    pub url_count: usize,
    /// Fingerprinted files added or removed: not purged, not counted.
    pub skipped: Vec<(String, Change)>,
    /// The threshold as a number of URLs for this site.
    pub limit: usize,
    pub site_urls: usize,
    /// With `compact = true` (or bunny.net's `wildcard_from`): folder wildcards that stand for
    /// some of [`Plan::urls`]; the URLs no wildcard covers are purged one by one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wildcards: Vec<Wildcard>,
}

impl Plan {
    /// One sentence saying why, for people.
    pub fn explain(&self) -> String {
        self.explain_reason(self.reason)
    }

    /// The sentence for `reason`, with this plan's figures.
    pub fn explain_reason(&self, reason: Reason) -> String {
        let n = self.url_count;
        match reason {
            Reason::NoChanges => "no file changed since the last run".into(),
            Reason::Changes => format!(
                "{n} URL{} of changed files, within the threshold of {} of the site's {} URLs",
                plural(n),
                self.limit,
                self.site_urls
            ),
            Reason::FirstRun => "first run: no state yet, so any page may be stale in the cache (use `--first-run baseline` or `sitepurge baseline` to only record)".into(),
            Reason::FirstRunBaseline => "first run with --first-run baseline: recording the state only".into(),
            Reason::FirstRunEmpty => "first run, and the output folder holds no file: nothing can be stale yet".into(),
            Reason::OnlyImmutable => format!("only fingerprinted files were added or removed ({}): no cache holds their new URLs, and the pages using the old ones changed too", self.skipped.len()),
            Reason::Compacted => {
                let w = self.wildcards.len();
                let covered: usize = self.wildcards.iter().map(|w| w.changed).sum();
                let unchanged: usize = self.wildcards.iter().map(|w| w.unchanged).sum();
                format!(
                    "{n} changed URLs is more than the threshold of {} of the site's {} URLs, but {w} folder wildcard{} (standing for {covered} of them) and {} exact URL{} cover them, purging {unchanged} unchanged URL{} too, within max_paths and max_collateral",
                    self.limit,
                    self.site_urls,
                    plural(w),
                    n.saturating_sub(covered),
                    plural(n.saturating_sub(covered)),
                    plural(unchanged)
                )
            }
            Reason::Threshold => format!(
                "{n} changed URLs is more than the threshold of {} of the site's {} URLs",
                self.limit, self.site_urls
            ),
                        Reason::ContentRulesChanged => "the ignore_content rules (the generator preset's included) changed since the state was recorded, so its hashes no longer compare: if you changed none, was the preset detected differently (run from the site's folder, or set `generator`)? Run `sitepurge baseline` to re-record instead".into(),
            Reason::Baseline => "recorded the current state as the starting point; nothing purged".into(),
                        Reason::BaseUrlsChanged => "the base URLs or URL options (clean_urls, index_without_slash, lowercase_escapes) changed since the state was recorded, so the new URLs were never purged (run `sitepurge baseline` to re-record instead)".into(),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Decides what to purge.
pub fn plan(inputs: Inputs<'_>) -> Plan {
    let skip =
        |path: &str, change: Change| change != Change::Modified && inputs.immutable.matches(path);
    let purged_paths = || {
        inputs
            .changes
            .paths()
            .into_iter()
            .filter(|(path, change)| !skip(path, *change))
    };
    let skipped: Vec<(String, Change)> = inputs
        .changes
        .paths()
        .into_iter()
        .filter(|(path, change)| skip(path, *change))
        .map(|(path, change)| (path.to_string(), change))
        .collect();
    let list = || {
        let mut urls: Vec<PurgeUrl> = purged_paths()
            .flat_map(|(path, change)| {
                inputs
                    .rules
                    .urls_for(path)
                    .into_iter()
                    .map(move |url| PurgeUrl {
                        url,
                        path: path.to_string(),
                        change,
                    })
            })
            .collect();
        urls.sort_by(|a, b| a.url.cmp(&b.url));
        urls.dedup_by(|a, b| a.url == b.url);
        urls
    };
    // Without clean_urls and index_without_slash two files never share a URL, so counting is
    // exact without listing; with them, only the list (deduplicated) tells.
    let shared_urls_possible = inputs.rules.clean_urls || inputs.rules.index_without_slash;
    let mut urls = if inputs.listing == Listing::All || shared_urls_possible {
        Some(list())
    } else {
        None
    };
    let url_count = urls.as_ref().map_or_else(
        || {
            purged_paths()
                .map(|(path, _)| inputs.rules.count_for(path))
                .sum()
        },
        Vec::len,
    );
    let limit = inputs.threshold.limit(inputs.site_urls);
    let (decision, reason) = if inputs.first_run {
        match inputs.first_run_mode {
            FirstRun::Baseline => (Decision::Nothing, Reason::FirstRunBaseline),
            FirstRun::Everything if inputs.changes.is_empty() => {
                (Decision::Nothing, Reason::FirstRunEmpty)
            }
            FirstRun::Everything => (Decision::Everything, Reason::FirstRun),
        }
    } else if inputs.content_rules_changed {
        (Decision::Everything, Reason::ContentRulesChanged)
    } else if inputs.base_urls_changed {
        (Decision::Everything, Reason::BaseUrlsChanged)
    } else if inputs.changes.is_empty() {
        (Decision::Nothing, Reason::NoChanges)
    } else if skipped.len() == inputs.changes.len() {
        (Decision::Nothing, Reason::OnlyImmutable)
    } else if url_count > limit {
        (Decision::Everything, Reason::Threshold)
    } else {
        (Decision::Urls, Reason::Changes)
    };
    if inputs.listing == Listing::Nothing {
        urls = None;
    } else if urls.is_none()
        && (decision == Decision::Urls
            || (reason == Reason::Threshold && inputs.list_above_threshold))
    {
        urls = Some(list());
    }
    Plan {
        decision,
        reason,
        urls: urls.unwrap_or_default(),
        url_count,
        skipped,
        limit,
        site_urls: inputs.site_urls,
        wildcards: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::urls::BaseUrl;

    fn rules() -> UrlRules {
        UrlRules {
            base_urls: vec![BaseUrl::parse("https://example.com/").expect("base")],
            ..Default::default()
        }
    }

    fn changes(modified: &[&str]) -> ChangeSet {
        ChangeSet {
            modified: modified.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn inputs<'a>(c: &'a ChangeSet, r: &'a UrlRules, site_urls: usize) -> Inputs<'a> {
        Inputs {
            changes: c,
            rules: r,
            site_urls,
            threshold: Threshold::default(),
            first_run: false,
            first_run_mode: FirstRun::Everything,
            content_rules_changed: false,
            base_urls_changed: false,
            listing: Listing::All,
            immutable: &HASHED,
            list_above_threshold: false,
        }
    }

    static HASHED: Immutable = Immutable {
        globs: globset::GlobSet::empty(),
        hashed_names: true,
    };

    #[test]
    fn parses_thresholds() {
        assert_eq!("200".parse(), Ok(Threshold::Count(200)));
        assert_eq!("50%".parse(), Ok(Threshold::Percent(50.0)));
        assert_eq!(" 12.5% ".parse(), Ok(Threshold::Percent(12.5)));
        assert!("150%".parse::<Threshold>().is_err());
        assert!("-1".parse::<Threshold>().is_err());
        assert!("lots".parse::<Threshold>().is_err());
    }

    #[test]
    fn percent_threshold_scales_with_the_site() {
        assert_eq!(Threshold::Percent(50.0).limit(10), 5);
        assert_eq!(Threshold::Percent(50.0).limit(7), 3);
        assert_eq!(Threshold::Count(30).limit(1_000_000), 30);
    }

    #[test]
    fn nothing_changed_plans_nothing() {
        let (c, r) = (ChangeSet::default(), rules());
        let p = plan(inputs(&c, &r, 100));
        assert_eq!(
            (p.decision, p.reason),
            (Decision::Nothing, Reason::NoChanges)
        );
        assert!(p.urls.is_empty());
    }

    #[test]
    fn changes_within_the_threshold_plan_their_urls() {
        let (c, r) = (changes(&["about/index.html", "a.css"]), rules());
        let p = plan(inputs(&c, &r, 100));
        assert_eq!((p.decision, p.reason), (Decision::Urls, Reason::Changes));
        let urls: Vec<&str> = p.urls.iter().map(|u| u.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://example.com/a.css",
                "https://example.com/about/",
                "https://example.com/about/index.html"
            ]
        );
        assert_eq!(p.urls[1].path, "about/index.html");
        assert_eq!(p.urls[1].change, Change::Modified);
    }

    #[test]
    fn crossing_the_threshold_plans_everything() {
        let (c, r) = (changes(&["a/index.html", "b/index.html", "c.css"]), rules());
        // 5 URLs changed; 50% of 9 is 4.
        let p = plan(inputs(&c, &r, 9));
        assert_eq!(
            (p.decision, p.reason),
            (Decision::Everything, Reason::Threshold)
        );
        // Exactly at the limit is still a URL purge.
        let p = plan(inputs(&c, &r, 10));
        assert_eq!(p.decision, Decision::Urls);
        let mut i = inputs(&c, &r, 1000);
        i.threshold = Threshold::Count(4);
        assert_eq!(plan(i).decision, Decision::Everything);
    }

    #[test]
    fn first_run_purges_everything_unless_told_to_baseline() {
        let (c, r) = (changes(&["a.css"]), rules());
        let mut i = inputs(&c, &r, 10);
        i.first_run = true;
        assert_eq!(plan(i).reason, Reason::FirstRun);
        assert_eq!(plan(i).decision, Decision::Everything);
        i.first_run_mode = FirstRun::Baseline;
        assert_eq!(plan(i).decision, Decision::Nothing);
        assert_eq!(plan(i).reason, Reason::FirstRunBaseline);
    }

    #[test]
    fn a_first_run_on_an_empty_site_says_so_not_that_nothing_changed() {
        let (c, r) = (ChangeSet::default(), rules());
        let mut i = inputs(&c, &r, 0);
        i.first_run = true;
        let p = plan(i);
        assert_eq!(
            (p.decision, p.reason),
            (Decision::Nothing, Reason::FirstRunEmpty)
        );
        assert!(
            !p.explain().contains("since the last run"),
            "{}",
            p.explain()
        );
        assert!(p.explain().contains("holds no file"), "{}", p.explain());
    }

    #[test]
    fn changed_content_rules_plan_everything_even_without_changes() {
        let (c, r) = (ChangeSet::default(), rules());
        let mut i = inputs(&c, &r, 10);
        i.content_rules_changed = true;
        let p = plan(i);
        assert_eq!(
            (p.decision, p.reason),
            (Decision::Everything, Reason::ContentRulesChanged)
        );
        assert!(p.explain().contains("sitepurge baseline"));
    }

    #[test]
    fn changed_base_urls_plan_everything() {
        let (c, r) = (changes(&["a.css"]), rules());
        let mut i = inputs(&c, &r, 10);
        i.base_urls_changed = true;
        assert_eq!(plan(i).reason, Reason::BaseUrlsChanged);
    }

    #[test]
    fn urls_are_listed_only_as_asked_and_counted_always() {
        let (c, r) = (changes(&["a.css", "b/index.html"]), rules());
        let mut i = inputs(&c, &r, 100);
        let all = plan(i);
        assert_eq!((all.urls.len(), all.url_count), (3, 3));
        i.listing = Listing::Nothing;
        let none = plan(i);
        assert_eq!(
            (none.urls.len(), none.url_count, none.decision),
            (0, 3, Decision::Urls)
        );
        i.listing = Listing::WhenPurgingThem;
        assert_eq!(plan(i).urls, all.urls, "these URLs are purged: listed");
        i.first_run = true;
        let first = plan(i);
        assert_eq!(
            (first.decision, first.urls.len(), first.url_count),
            (Decision::Everything, 0, 3)
        );
        assert_eq!(first.explain(), all.explain_reason(Reason::FirstRun));
    }

    #[test]
    fn hash_named_files_are_recognised_and_words_are_not() {
        for (path, hashed) in [
            ("assets/index.3f9a1c2b.js", true),
            (
                "css/main.min.2c1d9a0f7e6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c.css",
                true,
            ),
            ("assets/js/main.8f3a2b1c.js", true),
            ("assets/chunk-5e4d3c2b.js", true),
            ("img/logo_1a2b3c4d5e.png", true),
            ("about.html", false),
            ("css/site.css", false),
            ("js/facade.js", false),
            ("img/deadbeefcafe.png", false),
            ("docs/20240101/index.html", false),
            ("news/20240518.html", false),
            ("3f9a1c2b/index.html", false),
        ] {
            assert_eq!(has_hash_segment(path), hashed, "{path}");
        }
    }

    #[test]
    fn fingerprinted_files_added_or_removed_are_skipped_modified_ones_purged() {
        let c = ChangeSet {
            added: ["assets/app.3f9a1c2b.js", "news.html"].into(),
            removed: ["assets/app.0a1b2c3d.js"].into(),
            modified: ["assets/vendor.99aa88bb.js"].into(),
        };
        let r = rules();
        let p = plan(inputs(&c, &r, 100));
        let urls: Vec<&str> = p.urls.iter().map(|u| u.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://example.com/assets/vendor.99aa88bb.js",
                "https://example.com/news.html"
            ]
        );
        assert_eq!(p.url_count, 2);
        assert_eq!(
            p.skipped,
            [
                ("assets/app.0a1b2c3d.js".to_string(), Change::Removed),
                ("assets/app.3f9a1c2b.js".to_string(), Change::Added)
            ]
        );
        // Only those: nothing to purge, and it says why.
        let only = ChangeSet {
            added: ["assets/app.3f9a1c2b.js"].into(),
            ..Default::default()
        };
        let p = plan(inputs(&only, &r, 100));
        assert_eq!(
            (p.decision, p.reason),
            (Decision::Nothing, Reason::OnlyImmutable)
        );
        // Turned off: purged like any file.
        let off = Immutable::default();
        let mut i = inputs(&only, &r, 100);
        i.immutable = &off;
        assert_eq!(plan(i).decision, Decision::Urls);
    }
}
