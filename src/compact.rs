//! Pure: covers the changed URLs with exact URLs and folder wildcards, within a provider's
//! limits, purging as few unchanged URLs as it can.
//!
//! The state knows every URL of the site, so the cost of a wildcard is exact: the site's URLs
//! below the folder that did not change (its collateral). The search is greedy over the
//! folder tree, in two steps:
//!
//! 1. Free wildcards: the outermost folders whose every URL changed (no collateral), those
//!    saving the most items first (only `max_wildcards` can make the order matter), so a
//!    whole section becomes one wildcard.
//! 2. While there are more items than `max_paths`: the wildcard that alone brings the count
//!    within `max_paths` with the least collateral, else the one with the least collateral per
//!    item saved. A wildcard over folders already chosen replaces them.
//!
//! Greedy is not always the least collateral a search of every combination would find, but it
//! is exact when one folder's wildcard suffices, and each step is one pass over the folders
//! (each keeps what the wildcards chosen inside it cover), so it stays fast on large sites.

use std::collections::BTreeSet;

use crate::plan::{Decision, Plan, Reason, Threshold, Wildcard};

/// The default `max_paths` of Cloudflare: the prefixes one purge request takes by its 2025
/// limits (the Free plan sends 5 such requests a minute).
pub const CLOUDFLARE_MAX_PATHS: usize = 100;
/// The default `max_paths` of CloudFront: 1,000 invalidation paths a month are free (a
/// wildcard counts as one), so 100 a deploy keeps ten deploys a month free.
pub const CLOUDFRONT_MAX_PATHS: usize = 100;
/// CloudFront keeps at most 15 wildcard paths in progress per distribution.
pub const CLOUDFRONT_MAX_WILDCARDS: usize = 15;
/// The default `max_paths` of bunny.net: about 20 seconds of exact purges at its rate.
pub const BUNNY_MAX_PATHS: usize = 100;
/// The fewest changed URLs a Cloudflare or CloudFront wildcard stands for: one page's folder
/// holds two URLs (`dir/` and `dir/index.html`), which stay exact purges.
pub const MIN_CHANGED: usize = 3;
/// The default `max_collateral`: a tenth of the site's URLs.
pub const MAX_COLLATERAL: Threshold = Threshold::Percent(10.0);

/// How a plan may use wildcards, resolved from the settings and the provider.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compaction {
    pub max_paths: usize,
    pub max_wildcards: usize,
    pub min_changed: usize,
    pub covers_folder: bool,
    pub max_collateral: Threshold,
    /// `compact = true`: above the threshold, a cover within the limits replaces "everything".
    pub above_threshold: bool,
}

impl Compaction {
    pub fn limits(&self, site_urls: usize) -> Limits {
        Limits {
            max_paths: self.max_paths,
            max_wildcards: self.max_wildcards,
            min_changed: self.min_changed,
            covers_folder: self.covers_folder,
            max_collateral: self.max_collateral.limit(site_urls),
        }
    }
}

/// Compacts `plan` in place: a plan of URLs gets the wildcards of its cover (when one fits;
/// else its URLs stay exact), and a plan of everything for the threshold becomes a plan of
/// URLs (reason `compacted`) when `above_threshold` and a cover fits with at most as many items
/// as the threshold allows URLs (a wildcard counting as one). `site` gives every URL of
/// the site (asked only when needed); `bases` are the base URLs.
pub fn compact_plan(
    plan: &mut Plan,
    compaction: &Compaction,
    site: impl FnOnce() -> BTreeSet<String>,
    bases: &[String],
) {
    let over = plan.decision == Decision::Everything && plan.reason == Reason::Threshold;
    if plan.urls.is_empty()
        || !(plan.decision == Decision::Urls || (over && compaction.above_threshold))
    {
        return;
    }
    let changed: BTreeSet<String> = plan.urls.iter().map(|u| u.url.clone()).collect();
    let mut limits = compaction.limits(plan.site_urls);
    if over {
        limits.max_paths = limits.max_paths.min(plan.limit);
    }
    let Some(cover) = cover(&changed, &site(), bases, &limits) else {
        return;
    };
    if over {
        plan.decision = Decision::Urls;
        plan.reason = Reason::Compacted;
    }
    plan.wildcards = cover.wildcards;
}

/// What a provider's wildcards can do, and what the user allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most items (exact URLs plus wildcards) in the cover.
    pub max_paths: usize,
    /// The most wildcards in the cover.
    pub max_wildcards: usize,
    /// The fewest changed URLs one wildcard must stand for.
    pub min_changed: usize,
    /// Whether `folder/*` also purges the folder's own URL `folder/`.
    pub covers_folder: bool,
    /// The most unchanged URLs the wildcards may purge in all.
    pub max_collateral: usize,
}

/// The changed URLs, as exact URLs and wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    /// Changed URLs no wildcard covers, sorted.
    pub exact: Vec<String>,
    /// Sorted by folder.
    pub wildcards: Vec<Wildcard>,
}

impl Cover {
    /// Exact URLs plus wildcards.
    pub fn items(&self) -> usize {
        self.exact.len() + self.wildcards.len()
    }

    /// Unchanged URLs the wildcards purge too.
    pub fn collateral(&self) -> usize {
        self.wildcards.iter().map(|w| w.unchanged).sum()
    }
}

/// A folder that could be a wildcard, what it would cover, and what the wildcards chosen so
/// far inside it cover.
#[derive(Debug, Default)]
struct Candidate {
    folder: String,
    changed: usize,
    unchanged: usize,
    /// Candidates whose folder holds this one, nearest first.
    ancestors: Vec<usize>,
    chosen: bool,
    /// Inside a chosen wildcard: no longer a choice.
    inside: bool,
    /// Of the wildcards chosen inside it: how many, and their changed and unchanged URLs.
    inner: usize,
    inner_changed: usize,
    inner_unchanged: usize,
}

/// What choosing a candidate changes.
#[derive(Debug, Clone, Copy)]
struct Delta {
    /// Items (negative: saved).
    items: isize,
    collateral: usize,
    wildcards: isize,
}

impl Candidate {
    /// None when chosen, or inside a chosen wildcard.
    fn delta(&self) -> Option<Delta> {
        if self.chosen || self.inside {
            return None;
        }
        let exact_left = (self.changed - self.inner_changed) as isize;
        Some(Delta {
            items: 1 - self.inner as isize - exact_left,
            collateral: self.unchanged - self.inner_unchanged,
            wildcards: 1 - self.inner as isize,
        })
    }
}

/// The choice so far: candidates sorted by folder, so a folder's sub-folders follow it.
struct Search {
    candidates: Vec<Candidate>,
    items: usize,
    collateral: usize,
    wildcards: usize,
}

impl Search {
    /// Chooses candidate `c`: the wildcards inside it are replaced, and its ancestors learn it.
    fn choose(&mut self, c: usize) {
        let Some(d) = self.candidates[c].delta() else {
            return;
        };
        let folder = self.candidates[c].folder.clone();
        for inner in &mut self.candidates[c + 1..] {
            if !inner.folder.starts_with(&folder) {
                break;
            }
            inner.chosen = false;
            inner.inside = true;
        }
        let me = &self.candidates[c];
        let (add_changed, add_unchanged) = (
            me.changed - me.inner_changed,
            me.unchanged - me.inner_unchanged,
        );
        let replaced = me.inner;
        for a in self.candidates[c].ancestors.clone() {
            let a = &mut self.candidates[a];
            a.inner_changed += add_changed;
            a.inner_unchanged += add_unchanged;
            a.inner = a.inner + 1 - replaced;
        }
        self.candidates[c].chosen = true;
        self.items = self.items.saturating_add_signed(d.items);
        self.collateral += d.collateral;
        self.wildcards = self.wildcards.saturating_add_signed(d.wildcards);
    }
}

/// Every folder of `url` strictly below one of `bases` (each ending in `/`): purging a base
/// itself is purging everything, which the plan already weighs.
fn folders_of(url: &str, bases: &[String]) -> Vec<String> {
    if url.contains(['?', '#']) {
        return Vec::new();
    }
    let Some(base) = bases
        .iter()
        .filter(|b| url.starts_with(b.as_str()))
        .max_by_key(|b| b.len())
    else {
        return Vec::new();
    };
    url.match_indices('/')
        .map(|(i, _)| i)
        .filter(|i| *i >= base.len())
        .map(|i| url[..=i].to_string())
        .collect()
}

/// The URLs of `set` a wildcard on `folder` covers.
fn below<'a>(
    set: &'a BTreeSet<String>,
    folder: &'a str,
    covers_folder: bool,
) -> impl Iterator<Item = &'a String> + 'a {
    set.range(folder.to_string()..)
        .take_while(move |u| u.starts_with(folder))
        .filter(move |u| covers_folder || u.as_str() != folder)
}

/// The cover of `changed` (URLs to purge) by exact URLs and wildcards on folders below
/// `bases`, given every URL of the site in `site`; None when none fits the limits.
pub fn cover(
    changed: &BTreeSet<String>,
    site: &BTreeSet<String>,
    bases: &[String],
    limits: &Limits,
) -> Option<Cover> {
    let folders: BTreeSet<String> = changed.iter().flat_map(|u| folders_of(u, bases)).collect();
    let candidates: Vec<Candidate> = folders
        .into_iter()
        .filter_map(|folder| {
            let changed_n = below(changed, &folder, limits.covers_folder).count();
            let all = below(site, &folder, limits.covers_folder)
                .filter(|u| !changed.contains(*u))
                .count();
            (changed_n >= limits.min_changed.max(1)).then_some(Candidate {
                folder,
                changed: changed_n,
                unchanged: all,
                ..Candidate::default()
            })
        })
        .collect();
    let mut candidates = candidates;
    let index: std::collections::BTreeMap<String, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.folder.clone(), i))
        .collect();
    for cand in &mut candidates {
        // `https://h/a/b/` -> `https://h/a/`, `https://h/`: the candidates among them.
        let mut folder = cand.folder.trim_end_matches('/');
        while let Some(cut) = folder.rfind('/') {
            folder = &folder[..cut];
            if let Some(a) = index.get(&format!("{folder}/")) {
                cand.ancestors.push(*a);
            }
        }
    }

    let mut search = Search {
        candidates,
        items: changed.len(),
        collateral: 0,
        wildcards: 0,
    };
    let fits = |search: &Search, d: &Delta| {
        (search.wildcards as isize + d.wildcards)
            .max(0)
            .unsigned_abs()
            <= limits.max_wildcards
            && search.collateral + d.collateral <= limits.max_collateral
    };

    // 1. Free wildcards: the outermost folders whose every URL changed, the ones saving the
    //    most first (they are disjoint, so only max_wildcards can make the order matter).
    let mut free: Vec<usize> = (0..search.candidates.len())
        .filter(|c| {
            let cand = &search.candidates[*c];
            cand.unchanged == 0
                && cand.changed >= 2
                && cand
                    .ancestors
                    .iter()
                    .all(|a| search.candidates[*a].unchanged > 0)
        })
        .collect();
    free.sort_by_key(|c| (std::cmp::Reverse(search.candidates[*c].changed), *c));
    for c in free {
        if search.wildcards < limits.max_wildcards {
            search.choose(c);
        }
    }

    // 2. Wildcards with collateral, while over max_paths.
    while search.items > limits.max_paths {
        let over = search.items - limits.max_paths;
        // In one pass: the least collateral among the wildcards that are enough alone, and the
        // least collateral per item saved (a/s < b/t  <=>  a*t < b*s) among all.
        let mut enough: Option<(usize, Delta)> = None;
        let mut ratio: Option<(usize, Delta)> = None;
        for (c, cand) in search.candidates.iter().enumerate() {
            let Some(d) = cand.delta().filter(|d| d.items < 0 && fits(&search, d)) else {
                continue;
            };
            if d.items.unsigned_abs() >= over
                && enough.is_none_or(|(_, e)| (d.collateral, d.items) < (e.collateral, e.items))
            {
                enough = Some((c, d));
            }
            let better = ratio.is_none_or(|(_, r)| {
                let (s, t) = (d.items.unsigned_abs(), r.items.unsigned_abs());
                (d.collateral * t)
                    .cmp(&(r.collateral * s))
                    .then(d.items.cmp(&r.items))
                    .is_lt()
            });
            if better {
                ratio = Some((c, d));
            }
        }
        let best = enough.or(ratio);
        let (c, _) = best?;
        search.choose(c);
    }

    let wildcards: Vec<Wildcard> = search
        .candidates
        .iter()
        .filter(|c| c.chosen)
        .map(|c| Wildcard {
            url: format!("{}*", c.folder),
            changed: c.changed,
            unchanged: c.unchanged,
            includes_folder: limits.covers_folder,
        })
        .collect();
    let exact: Vec<String> = changed
        .iter()
        .filter(|u| !wildcards.iter().any(|w| w.covers(u)))
        .cloned()
        .collect();
    let cover = Cover { exact, wildcards };
    debug_assert_eq!(cover.items(), search.items);
    debug_assert_eq!(cover.collateral(), search.collateral);
    (cover.items() <= limits.max_paths).then_some(cover)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://example.com/";

    fn set(urls: &[&str]) -> BTreeSet<String> {
        urls.iter().map(|u| format!("{BASE}{u}")).collect()
    }

    fn limits(max_paths: usize, max_collateral: usize) -> Limits {
        Limits {
            max_paths,
            max_wildcards: 100,
            min_changed: 1,
            covers_folder: true,
            max_collateral,
        }
    }

    /// A generated site: `home`, `about/`, and for each section `s`, `s/` and `s/p0..pN`.
    fn site(sections: &[(&str, usize)]) -> BTreeSet<String> {
        let mut urls = set(&["", "about/"]);
        for (s, n) in sections {
            urls.insert(format!("{BASE}{s}/"));
            for i in 0..*n {
                urls.insert(format!("{BASE}{s}/p{i:02}/"));
            }
        }
        urls
    }

    fn section(s: &str, range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("{BASE}{s}/p{i:02}/")).collect()
    }

    fn shown(cover: &Cover) -> Vec<String> {
        cover
            .wildcards
            .iter()
            .map(|w| {
                format!(
                    "{} ({} changed, {} unchanged)",
                    w.url.trim_start_matches(BASE),
                    w.changed,
                    w.unchanged
                )
            })
            .collect()
    }

    fn bases() -> Vec<String> {
        vec![BASE.to_string()]
    }

    #[test]
    fn a_whole_section_changed_is_one_wildcard() {
        let site = site(&[("blog", 40), ("docs", 30)]);
        let mut changed: BTreeSet<String> = section("blog", 0..40).into_iter().collect();
        changed.insert(format!("{BASE}blog/"));
        changed.insert(format!("{BASE}about/"));
        let c = cover(&changed, &site, &bases(), &limits(100, 0)).expect("fits");
        assert_eq!(shown(&c), ["blog/* (41 changed, 0 unchanged)"]);
        assert_eq!(c.exact, [format!("{BASE}about/")]);
        assert_eq!((c.items(), c.collateral()), (2, 0));
    }

    #[test]
    fn scattered_changes_stay_exact_urls() {
        let site = site(&[("blog", 40), ("docs", 30)]);
        let mut changed: BTreeSet<String> = BTreeSet::new();
        changed.extend(section("blog", 3..4));
        changed.extend(section("blog", 17..18));
        changed.extend(section("docs", 5..6));
        let c = cover(&changed, &site, &bases(), &limits(100, 1000)).expect("fits");
        assert!(c.wildcards.is_empty(), "{c:?}");
        assert_eq!(c.exact.len(), 3);
    }

    #[test]
    fn a_section_with_a_few_unchanged_files_is_a_wildcard_only_when_needed_and_allowed() {
        let site = site(&[("blog", 40), ("docs", 30)]);
        // 37 of blog's 41 URLs changed, and one page of docs.
        let mut changed: BTreeSet<String> = section("blog", 0..36).into_iter().collect();
        changed.insert(format!("{BASE}blog/"));
        changed.extend(section("docs", 0..1));
        // Within max_paths: every URL exact, no collateral.
        let c = cover(&changed, &site, &bases(), &limits(100, 10)).expect("fits");
        assert!(c.wildcards.is_empty());
        assert_eq!(c.items(), 38);
        // Over max_paths: blog/* with its 4 unchanged pages, allowed by the limit.
        let c = cover(&changed, &site, &bases(), &limits(10, 10)).expect("fits");
        assert_eq!(shown(&c), ["blog/* (37 changed, 4 unchanged)"]);
        assert_eq!(c.exact, [format!("{BASE}docs/p00/")]);
        assert_eq!(c.collateral(), 4);
        // The collateral limit forbids it: no cover.
        assert_eq!(cover(&changed, &site, &bases(), &limits(10, 3)), None);
    }

    #[test]
    fn limits_force_the_cheapest_wildcards() {
        // Three sections, each half changed: max_paths 12 needs two wildcards; the cheapest
        // are the two sections with the fewest unchanged pages.
        let site = site(&[("a", 10), ("b", 20), ("c", 12)]);
        let mut changed: BTreeSet<String> = BTreeSet::new();
        changed.extend(section("a", 0..8)); // 3 unchanged (a/ and p08, p09)
        changed.extend(section("b", 0..10)); // 11 unchanged
        changed.extend(section("c", 0..9)); // 4 unchanged
        let c = cover(&changed, &site, &bases(), &limits(12, 100)).expect("fits");
        assert_eq!(
            shown(&c),
            [
                "a/* (8 changed, 3 unchanged)",
                "c/* (9 changed, 4 unchanged)"
            ]
        );
        assert_eq!(c.items(), 12);
        // One wildcard suffices for max_paths 19: the one with least collateral that does.
        let c = cover(&changed, &site, &bases(), &limits(19, 100)).expect("fits");
        assert_eq!(shown(&c), ["c/* (9 changed, 4 unchanged)"]);
        // Or the whole site's root, which is never a wildcard (that is "everything").
        assert_eq!(cover(&changed, &site, &bases(), &limits(2, 1000)), None);
    }

    #[test]
    fn an_outer_wildcard_replaces_the_inner_ones_it_holds() {
        let mut site = set(&["docs/", "docs/x.html"]);
        let mut changed = BTreeSet::new();
        for sub in ["a", "b"] {
            for i in 0..5 {
                let u = format!("{BASE}docs/{sub}/{i}.html");
                site.insert(u.clone());
                changed.insert(u);
            }
        }
        // a/ and b/ are free; docs/ costs docs/ and docs/x.html. With 2 items: docs/*.
        let c = cover(&changed, &site, &bases(), &limits(2, 5)).expect("fits");
        assert_eq!(
            shown(&c),
            [
                "docs/a/* (5 changed, 0 unchanged)",
                "docs/b/* (5 changed, 0 unchanged)"
            ]
        );
        let c = cover(&changed, &site, &bases(), &limits(1, 5)).expect("fits");
        assert_eq!(shown(&c), ["docs/* (10 changed, 2 unchanged)"]);
        assert!(c.exact.is_empty());
    }

    #[test]
    fn max_wildcards_is_kept() {
        let site = site(&[("a", 5), ("b", 5), ("c", 5)]);
        let changed: BTreeSet<String> = ["a", "b", "c"]
            .iter()
            .flat_map(|s| section(s, 0..5).into_iter().chain([format!("{BASE}{s}/")]))
            .collect();
        let mut l = limits(100, 0);
        l.max_wildcards = 2;
        let c = cover(&changed, &site, &bases(), &l).expect("fits");
        assert_eq!(c.wildcards.len(), 2);
        assert_eq!(c.exact.len(), 6);
    }

    #[test]
    fn without_the_folder_url_a_wildcard_leaves_the_folder_page_exact_and_needs_the_minimum() {
        // bunny.net's rule: every URL below posts/ changed, and at least min_changed of them.
        let site = set(&[
            "",
            "index.html",
            "posts/",
            "posts/a.html",
            "posts/b.html",
            "posts/c/",
            "posts/c/index.html",
            "img/x.png",
            "img/y.png",
        ]);
        let changed = set(&[
            "posts/",
            "posts/a.html",
            "posts/b.html",
            "posts/c/",
            "posts/c/index.html",
            "img/x.png",
        ]);
        let l = Limits {
            max_paths: usize::MAX,
            max_wildcards: usize::MAX,
            min_changed: 3,
            covers_folder: false,
            max_collateral: 0,
        };
        let c = cover(&changed, &site, &bases(), &l).expect("fits");
        assert_eq!(shown(&c), ["posts/* (4 changed, 0 unchanged)"]);
        assert_eq!(
            c.exact,
            [format!("{BASE}img/x.png"), format!("{BASE}posts/")]
        );
        assert!(!c.wildcards[0].covers(&format!("{BASE}posts/")));
        assert!(c.wildcards[0].covers(&format!("{BASE}posts/c/")));
        // Below the minimum: every URL on its own.
        let c = cover(
            &changed,
            &site,
            &bases(),
            &Limits {
                min_changed: 5,
                ..l
            },
        )
        .expect("fits");
        assert!(c.wildcards.is_empty());
    }

    fn plan_of(
        changed: &BTreeSet<String>,
        decision: Decision,
        reason: Reason,
        limit: usize,
    ) -> Plan {
        Plan {
            decision,
            reason,
            urls: changed
                .iter()
                .map(|u| crate::plan::PurgeUrl {
                    url: u.clone(),
                    path: u.trim_start_matches(BASE).to_string(),
                    change: crate::diff::Change::Modified,
                })
                .collect(),
            url_count: changed.len(),
            skipped: vec![],
            limit,
            site_urls: 100,
            wildcards: vec![],
        }
    }

    #[test]
    fn over_the_threshold_a_cover_within_the_limits_replaces_everything() {
        let site = site(&[("blog", 40), ("docs", 50)]);
        // 38 of blog's 41 URLs and about/: 39 changed URLs, over a threshold of 10.
        let mut changed: BTreeSet<String> = section("blog", 0..37).into_iter().collect();
        changed.insert(format!("{BASE}blog/"));
        changed.insert(format!("{BASE}about/"));
        let on = Compaction {
            max_paths: 100,
            max_wildcards: 100,
            min_changed: 1,
            covers_folder: true,
            max_collateral: Threshold::Count(3),
            above_threshold: true,
        };
        let mut plan = plan_of(&changed, Decision::Everything, Reason::Threshold, 10);
        compact_plan(&mut plan, &on, || site.clone(), &bases());
        assert_eq!(
            (plan.decision, plan.reason),
            (Decision::Urls, Reason::Compacted)
        );
        assert_eq!(plan.wildcards.len(), 1);
        assert_eq!(
            (plan.wildcards[0].changed, plan.wildcards[0].unchanged),
            (38, 3)
        );
        assert!(
            plan.explain()
                .contains("1 folder wildcard (standing for 38 of them) and 1 exact URL"),
            "{}",
            plan.explain()
        );
        // More collateral than allowed: everything, as without compaction.
        let strict = Compaction {
            max_collateral: Threshold::Count(2),
            ..on
        };
        let mut plan = plan_of(&changed, Decision::Everything, Reason::Threshold, 10);
        compact_plan(&mut plan, &strict, || site.clone(), &bases());
        assert_eq!(
            (plan.decision, plan.reason),
            (Decision::Everything, Reason::Threshold)
        );
        assert!(plan.wildcards.is_empty());
        // The threshold caps the items: one wildcard and one exact URL are 2, over a threshold of 1.
        let mut plan = plan_of(&changed, Decision::Everything, Reason::Threshold, 1);
        compact_plan(&mut plan, &on, || site.clone(), &bases());
        assert_eq!(plan.decision, Decision::Everything);
        // bunny.net's rule never replaces everything.
        let bunny = Compaction {
            above_threshold: false,
            max_collateral: Threshold::Count(100),
            ..on
        };
        let mut plan = plan_of(&changed, Decision::Everything, Reason::Threshold, 10);
        compact_plan(&mut plan, &bunny, || site.clone(), &bases());
        assert_eq!(plan.decision, Decision::Everything);
        // Below the threshold, a plan that cannot be compacted within the limits stays exact.
        let tight = Compaction {
            max_paths: 5,
            ..strict
        };
        let mut plan = plan_of(&changed, Decision::Urls, Reason::Changes, 1000);
        compact_plan(&mut plan, &tight, || site.clone(), &bases());
        assert_eq!(
            (plan.decision, plan.reason, plan.wildcards.len()),
            (Decision::Urls, Reason::Changes, 0)
        );
        let mut plan = plan_of(&changed, Decision::Urls, Reason::Changes, 1000);
        compact_plan(
            &mut plan,
            &Compaction { max_paths: 5, ..on },
            || site.clone(),
            &bases(),
        );
        assert_eq!(plan.wildcards.len(), 1);
    }

    #[test]
    fn a_large_site_is_covered_within_the_limits_in_reasonable_time() {
        // 3,000 sections of 2 sub-sections of 10 pages; in each the first 8 changed: 48,000
        // changed URLs of 60,000, and 9,000 folders to weigh, in at most 5,000 items.
        let mut site = BTreeSet::new();
        let mut changed = BTreeSet::new();
        for s in 0..3000 {
            for t in 0..2 {
                for p in 0..10 {
                    let u = format!("{BASE}s{s:04}/t{t}/p{p}.html");
                    if p < 8 {
                        changed.insert(u.clone());
                    }
                    site.insert(u);
                }
            }
        }
        let started = std::time::Instant::now();
        let l = Limits {
            max_wildcards: usize::MAX,
            ..limits(5000, usize::MAX)
        };
        let c = cover(&changed, &site, &bases(), &l).expect("fits");
        let took = started.elapsed();
        assert!(c.items() <= 5000, "{} items", c.items());
        // A section (16 changed, 4 unchanged) saves 15 items at 4 collateral, a sub-section 7
        // at 2: sections go first, and 2,867 of them leave 4,995 items.
        assert_eq!(c.wildcards.len(), 2867);
        assert!(
            c.wildcards
                .iter()
                .all(|w| w.changed == 16 && w.unchanged == 4)
        );
        assert_eq!(c.collateral(), 2867 * 4);
        assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    }

    #[test]
    fn only_folders_below_a_base_url_are_wildcards() {
        let base = vec![format!("{BASE}docs/")];
        let site = set(&["docs/a.html", "docs/b.html", "docs/g/1.html"]);
        let changed = site.clone();
        let c = cover(&changed, &site, &base, &limits(1, 0));
        assert_eq!(c, None, "docs/ itself is the whole site");
        let c = cover(&changed, &site, &base, &limits(3, 0)).expect("fits");
        assert!(c.wildcards.is_empty(), "g/ holds one URL: no saving");
        assert_eq!(
            folders_of(&format!("{BASE}a/b.html"), &base),
            Vec::<String>::new()
        );
    }
}
