//! The ledger rules: what the state records after a command, so that no change is ever lost.
//! Pure: the pipeline hands in the previous state, the scan, the changes and what the purge
//! confirmed, and gets back what to save (or nothing to save).
//!
//! The rules:
//! - a file advances to its new hash only when every one of its URLs was purged;
//! - a file whose purge failed keeps its old entry and is listed as pending, so the next run
//!   purges it again even if it went back to the recorded content meanwhile (the cache may hold
//!   the version in between);
//! - a pending path is dropped only when its URLs were purged;
//! - a completed purge of everything records the whole scan, with nothing pending.

use std::collections::BTreeSet;

use crate::diff::ChangeSet;
use crate::manifest::Manifest;
use crate::scan::Hashes;
use crate::urls::UrlRules;

/// What the recorded hashes were purged under: base URLs, URL options, content-rules
/// fingerprint. A change of any of them makes the next plan purge everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    pub base_urls: Vec<String>,
    pub url_options: Vec<String>,
    pub content_rules: String,
}

impl InForce {
    /// What `manifest` was recorded under.
    pub fn of(manifest: &Manifest) -> InForce {
        InForce {
            base_urls: manifest.base_urls.clone(),
            url_options: manifest.url_options.clone(),
            content_rules: manifest.content_rules.clone(),
        }
    }
}

/// What to save as the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub files: Hashes,
    pub in_force: InForce,
    pub pending: BTreeSet<String>,
}

impl Record {
    /// Whether saving this would write what `previous` already says.
    pub fn same_as(&self, previous: &Manifest) -> bool {
        previous.files == self.files
            && InForce::of(previous) == self.in_force
            && previous.pending == self.pending
    }
}

/// What the purge did, as far as the ledger is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Purge<'a> {
    /// Nothing was to be purged: no request was sent.
    NotNeeded,
    /// The changed files' URLs, one request per batch; `purged` holds those confirmed.
    Urls { purged: &'a BTreeSet<String> },
    /// Everything. `one_by_one`: done URL by URL (the provider has no request that clears a
    /// site), so `purged` says which went; `all_ok`: every request succeeded.
    Everything {
        all_ok: bool,
        one_by_one: bool,
        purged: &'a BTreeSet<String>,
    },
}

/// The inputs of the ledger for one run.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The state the run compared against (None: first run).
    pub previous: Option<&'a Manifest>,
    /// The previous state's hashes, less the paths now ignored.
    pub old: &'a Hashes,
    /// The site as scanned now.
    pub scanned: &'a Hashes,
    /// What changed, pending paths included.
    pub changes: &'a ChangeSet,
    pub rules: &'a UrlRules,
    /// What this run's settings are.
    pub now_in_force: &'a InForce,
}

/// What the state records just before a purge is sent (write-ahead): the previous state as
/// it is, owing every changed path as well as what it already owed. None on a first run (with
/// no state, the next run is a first run again, which purges everything) or when nothing new
/// is owed.
pub fn before_purge(previous: Option<&Manifest>, changes: &ChangeSet) -> Option<Record> {
    let m = previous?;
    let mut pending = m.pending.clone();
    pending.extend(changes.paths().into_iter().map(|(p, _)| p.to_string()));
    (pending != m.pending).then(|| Record {
        files: m.files.clone(),
        in_force: InForce::of(m),
        pending,
    })
}

/// What the state should record after `purge`; None leaves the state file as it is.
pub fn after(inputs: Inputs<'_>, purge: Purge<'_>) -> Option<Record> {
    let Inputs {
        previous,
        old,
        scanned,
        changes,
        rules,
        now_in_force,
    } = inputs;
    let whole_scan = || Record {
        files: scanned.clone(),
        in_force: now_in_force.clone(),
        pending: BTreeSet::new(),
    };
    match purge {
        Purge::NotNeeded => match previous {
            // A first run that records without purging (`first_run = "baseline"`).
            None => Some(whole_scan()),
            // Nothing changed; only fill in the base URLs a bare `baseline` did not know.
            Some(m) if m.base_urls.is_empty() => Some(Record {
                files: m.files.clone(),
                in_force: now_in_force.clone(),
                pending: m.pending.clone(),
            }),
            Some(_) => None,
        },
        Purge::Everything { all_ok: true, .. } => Some(whole_scan()),
        // Everything failed: the old state (rules and base URLs too) stays in force, and every
        // changed path is pending.
        Purge::Everything {
            all_ok: false,
            one_by_one: false,
            ..
        } => previous.map(|m| Record {
            files: m.files.clone(),
            in_force: InForce::of(m),
            pending: m
                .pending
                .iter()
                .cloned()
                .chain(changes.paths().into_iter().map(|(p, _)| p.to_string()))
                .collect(),
        }),
        // Partly done, URL by URL: files whose URLs all went advance; the rest are pending.
        Purge::Urls { purged }
        | Purge::Everything {
            one_by_one: true,
            purged,
            ..
        } => previous.map(|m| Record {
            files: advance(old, scanned, changes, rules, purged),
            in_force: adopted(m, now_in_force),
            pending: still_pending(changes, rules, purged),
        }),
    }
}

/// What a state stays recorded under after a purge of some URLs: its own settings, except
/// that a state recorded without base URLs (a bare `baseline`, which vouched for the whole
/// cache) takes the base URLs and URL options of the run, so that a later change of them is
/// seen and purges everything.
fn adopted(previous: &Manifest, now: &InForce) -> InForce {
    if previous.base_urls.is_empty() {
        InForce {
            base_urls: now.base_urls.clone(),
            url_options: now.url_options.clone(),
            content_rules: previous.content_rules.clone(),
        }
    } else {
        InForce::of(previous)
    }
}

/// Adds the paths the previous state left pending to `changes`, as the change they are now
/// (modified, added or removed), unless they are already listed or now ignored.
pub fn add_pending(
    changes: &mut ChangeSet,
    pending: &BTreeSet<String>,
    old: &Hashes,
    new: &Hashes,
    ignore: &globset::GlobSet,
) {
    let listed: BTreeSet<String> = changes
        .paths()
        .into_iter()
        .map(|(p, _)| p.to_string())
        .collect();
    for path in pending {
        if listed.contains(path) || ignore.is_match(path) {
            continue;
        }
        match (new.contains_key(path), old.contains_key(path)) {
            (true, true) => changes.modified.push(path.clone()),
            (true, false) => changes.added.push(path.clone()),
            (false, _) => changes.removed.push(path.clone()),
        }
    }
    changes.added.sort();
    changes.modified.sort();
    changes.removed.sort();
}

/// Changed paths not all of whose URLs were purged.
pub fn still_pending(
    changes: &ChangeSet,
    rules: &UrlRules,
    purged: &BTreeSet<String>,
) -> BTreeSet<String> {
    changes
        .paths()
        .into_iter()
        .filter(|(path, _)| !rules.urls_for(path).iter().all(|u| purged.contains(u)))
        .map(|(path, _)| path.to_string())
        .collect()
}

/// The hashes to record after a purge: the old state, moved forward for every changed file
/// whose URLs were all purged. A file whose purge failed keeps its old entry (an added file stays
/// absent, a removed one present), so the next run purges exactly what is still pending.
pub fn advance(
    old: &Hashes,
    new: &Hashes,
    changes: &ChangeSet,
    rules: &UrlRules,
    purged: &BTreeSet<String>,
) -> Hashes {
    let mut next = old.clone();
    for (path, _) in changes.paths() {
        if !rules.urls_for(path).iter().all(|u| purged.contains(u)) {
            continue;
        }
        match new.get(path) {
            Some(hash) => next.insert(path.to_string(), hash.clone()),
            None => next.remove(path),
        };
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff;
    use crate::scan::ContentHash;
    use crate::urls::BaseUrl;

    /// A one-character label stands for the hash of that byte repeated.
    fn hashes(entries: &[(&str, &str)]) -> Hashes {
        entries
            .iter()
            .map(|(p, h)| (p.to_string(), ContentHash::new([h.as_bytes()[0]; 32])))
            .collect()
    }

    fn rules() -> UrlRules {
        UrlRules {
            base_urls: vec![BaseUrl::parse("https://example.com/").expect("base")],
            ..Default::default()
        }
    }

    fn in_force(base: &str) -> InForce {
        InForce {
            base_urls: vec![base.into()],
            url_options: vec![],
            content_rules: "rules".into(),
        }
    }

    fn manifest(files: Hashes, pending: &[&str]) -> Manifest {
        let mut m = Manifest::new(
            std::time::UNIX_EPOCH,
            vec!["https://example.com/".into()],
            vec![],
            "rules".into(),
            files,
        );
        m.pending = pending.iter().map(|p| p.to_string()).collect();
        m
    }

    fn set(urls: &[&str]) -> BTreeSet<String> {
        urls.iter().map(|u| u.to_string()).collect()
    }

    /// A run from `previous` to `scanned`, with pending paths added as the pipeline does.
    struct Case {
        previous: Manifest,
        scanned: Hashes,
        changes: ChangeSet,
        now: InForce,
        rules: UrlRules,
    }

    impl Case {
        fn new(previous: Manifest, scanned: Hashes) -> Case {
            let mut changes = diff::diff(&previous.files, &scanned);
            add_pending(
                &mut changes,
                &previous.pending,
                &previous.files,
                &scanned,
                &globset::GlobSet::empty(),
            );
            Case {
                previous,
                scanned,
                changes,
                now: in_force("https://example.com/"),
                rules: rules(),
            }
        }

        fn after(&self, purge: Purge<'_>) -> Option<Record> {
            after(
                Inputs {
                    previous: Some(&self.previous),
                    old: &self.previous.files,
                    scanned: &self.scanned,
                    changes: &self.changes,
                    rules: &self.rules,
                    now_in_force: &self.now,
                },
                purge,
            )
        }
    }

    #[test]
    fn advances_only_files_whose_urls_were_all_purged() {
        let case = Case::new(
            manifest(hashes(&[("a.html", "1"), ("b/index.html", "1")]), &[]),
            hashes(&[("a.html", "2"), ("b/index.html", "2")]),
        );
        // b/index.html has two URLs; only one went.
        let purged = set(&["https://example.com/a.html", "https://example.com/b/"]);
        let record = case.after(Purge::Urls { purged: &purged }).expect("record");
        assert_eq!(
            record.files,
            hashes(&[("a.html", "2"), ("b/index.html", "1")])
        );
        assert_eq!(record.pending, set(&["b/index.html"]));
    }

    #[test]
    fn an_added_file_whose_purge_failed_stays_absent_and_a_removed_one_present() {
        let case = Case::new(
            manifest(hashes(&[("gone.html", "1")]), &[]),
            hashes(&[("new.html", "1")]),
        );
        let record = case
            .after(Purge::Urls {
                purged: &BTreeSet::new(),
            })
            .expect("record");
        assert_eq!(record.files, hashes(&[("gone.html", "1")]));
        assert_eq!(record.pending, set(&["gone.html", "new.html"]));
    }

    #[test]
    fn pending_survives_a_revert_to_the_recorded_content() {
        // about.html was A, changed to B, the purge failed: pending, old hash A kept. Then it
        // went back to A: no diff, but the cache may hold B, so it is still purged.
        let case = Case::new(
            manifest(hashes(&[("about.html", "A")]), &["about.html"]),
            hashes(&[("about.html", "A")]),
        );
        assert_eq!(case.changes.modified, ["about.html"]);
        let failed = case
            .after(Purge::Urls {
                purged: &BTreeSet::new(),
            })
            .expect("record");
        assert_eq!(failed.pending, set(&["about.html"]));
    }

    #[test]
    fn pending_is_dropped_only_when_purged() {
        let case = Case::new(
            manifest(hashes(&[("a.html", "1"), ("b.html", "1")]), &["a.html"]),
            hashes(&[("a.html", "1"), ("b.html", "2")]),
        );
        // b.html went, a.html (pending) did not: a.html stays pending.
        let purged = set(&["https://example.com/b.html"]);
        let record = case.after(Purge::Urls { purged: &purged }).expect("record");
        assert_eq!(record.pending, set(&["a.html"]));
        // Both went: nothing pending.
        let purged = set(&["https://example.com/a.html", "https://example.com/b.html"]);
        let record = case.after(Purge::Urls { purged: &purged }).expect("record");
        assert!(record.pending.is_empty());
        assert_eq!(record.files, hashes(&[("a.html", "1"), ("b.html", "2")]));
    }

    #[test]
    fn a_completed_purge_of_everything_records_the_scan_and_clears_pending() {
        let mut case = Case::new(
            manifest(hashes(&[("a.html", "1")]), &["old.html"]),
            hashes(&[("a.html", "2"), ("c.html", "1")]),
        );
        case.now = in_force("https://www.example.com/");
        let record = case
            .after(Purge::Everything {
                all_ok: true,
                one_by_one: false,
                purged: &BTreeSet::new(),
            })
            .expect("record");
        assert_eq!(record.files, case.scanned);
        assert!(record.pending.is_empty());
        assert_eq!(
            record.in_force, case.now,
            "the new settings are now in force"
        );
    }

    #[test]
    fn a_failed_purge_of_everything_keeps_the_old_state_in_force_and_everything_pending() {
        let mut case = Case::new(
            manifest(hashes(&[("a.html", "1")]), &["old.html"]),
            hashes(&[("a.html", "2"), ("c.html", "1")]),
        );
        case.now = in_force("https://www.example.com/");
        let record = case
            .after(Purge::Everything {
                all_ok: false,
                one_by_one: false,
                purged: &BTreeSet::new(),
            })
            .expect("record");
        assert_eq!(record.files, case.previous.files);
        assert_eq!(record.in_force, InForce::of(&case.previous));
        assert_eq!(record.pending, set(&["a.html", "c.html", "old.html"]));
    }

    #[test]
    fn everything_done_url_by_url_advances_what_went() {
        let case = Case::new(
            manifest(hashes(&[("a.html", "1"), ("b.html", "1")]), &[]),
            hashes(&[("a.html", "2"), ("b.html", "2")]),
        );
        let purged = set(&["https://example.com/a.html"]);
        let record = case
            .after(Purge::Everything {
                all_ok: false,
                one_by_one: true,
                purged: &purged,
            })
            .expect("record");
        assert_eq!(record.files, hashes(&[("a.html", "2"), ("b.html", "1")]));
        assert_eq!(record.pending, set(&["b.html"]));
    }

    #[test]
    fn nothing_to_purge_leaves_the_state_alone_unless_it_lacks_base_urls() {
        let case = Case::new(
            manifest(hashes(&[("a.html", "1")]), &[]),
            hashes(&[("a.html", "1")]),
        );
        assert_eq!(case.after(Purge::NotNeeded), None);
        let mut bare = manifest(hashes(&[("a.html", "1")]), &[]);
        bare.base_urls.clear();
        let case = Case::new(bare, hashes(&[("a.html", "1")]));
        let record = case.after(Purge::NotNeeded).expect("record");
        assert_eq!(record.in_force, case.now);
        assert_eq!(record.files, case.previous.files);
    }

    #[test]
    fn a_first_run_records_the_scan_only_when_nothing_was_to_purge() {
        let scanned = hashes(&[("a.html", "1")]);
        let changes = diff::diff(&Hashes::new(), &scanned);
        let now = in_force("https://example.com/");
        let rules = rules();
        let inputs = Inputs {
            previous: None,
            old: &Hashes::new(),
            scanned: &scanned,
            changes: &changes,
            rules: &rules,
            now_in_force: &now,
        };
        assert_eq!(
            after(inputs, Purge::NotNeeded).expect("record").files,
            scanned
        );
        let failed = Purge::Everything {
            all_ok: false,
            one_by_one: false,
            purged: &BTreeSet::new(),
        };
        assert_eq!(
            after(inputs, failed),
            None,
            "a failed first run records nothing"
        );
        assert_eq!(
            after(
                inputs,
                Purge::Urls {
                    purged: &BTreeSet::new()
                }
            ),
            None
        );
    }

    #[test]
    fn a_state_without_base_urls_takes_those_of_the_first_run_that_purges() {
        let mut bare = manifest(hashes(&[("a.html", "1")]), &[]);
        bare.base_urls.clear();
        let case = Case::new(bare, hashes(&[("a.html", "2")]));
        let purged = set(&["https://example.com/a.html"]);
        let record = case.after(Purge::Urls { purged: &purged }).expect("record");
        assert_eq!(record.in_force.base_urls, case.now.base_urls);
        assert_eq!(record.in_force.url_options, case.now.url_options);
        // A state that has them keeps its own (a change of them plans everything instead).
        let case = Case::new(
            manifest(hashes(&[("a.html", "1")]), &[]),
            hashes(&[("a.html", "2")]),
        );
        let record = case.after(Purge::Urls { purged: &purged }).expect("record");
        assert_eq!(record.in_force, InForce::of(&case.previous));
    }

    #[test]
    fn before_a_purge_the_state_owes_every_changed_path_and_keeps_the_old_hashes() {
        let m = manifest(hashes(&[("a.html", "1"), ("b.html", "1")]), &["old.html"]);
        let changes = diff::diff(&m.files, &hashes(&[("a.html", "2"), ("c.html", "1")]));
        let ahead = before_purge(Some(&m), &changes).expect("write-ahead");
        assert_eq!(ahead.files, m.files, "the old hashes, as they are");
        assert_eq!(ahead.in_force, InForce::of(&m));
        assert_eq!(
            ahead.pending,
            set(&["a.html", "b.html", "c.html", "old.html"])
        );
        // Nothing new owed (only what was pending already): nothing to write.
        let again = manifest(hashes(&[("a.html", "1")]), &["a.html"]);
        let mut owed = ChangeSet::default();
        owed.modified.push("a.html".into());
        assert_eq!(before_purge(Some(&again), &owed), None);
        assert_eq!(before_purge(None, &changes), None);
    }

    #[test]
    fn an_identical_record_is_not_saved_again() {
        let m = manifest(hashes(&[("a.html", "1")]), &["a.html"]);
        let record = Record {
            files: m.files.clone(),
            in_force: InForce::of(&m),
            pending: m.pending.clone(),
        };
        assert!(record.same_as(&m));
        let changed = Record {
            pending: BTreeSet::new(),
            ..record
        };
        assert!(!changed.same_as(&m));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const PATHS: [&str; 6] = [
            "index.html",
            "a.html",
            "b/index.html",
            "c.css",
            "d e.html",
            "f.png",
        ];

        /// A state: some paths with hash 0..3, some pending.
        fn state() -> impl Strategy<Value = (Hashes, BTreeSet<String>)> {
            (
                proptest::collection::vec(proptest::option::of(0u8..3), PATHS.len()),
                proptest::collection::vec(any::<bool>(), PATHS.len()),
            )
                .prop_map(|(versions, pending)| {
                    let files = PATHS
                        .iter()
                        .zip(versions)
                        .filter_map(|(p, v)| v.map(|v| (p.to_string(), ContentHash::new([v; 32]))))
                        .collect();
                    let pending = PATHS
                        .iter()
                        .zip(pending)
                        .filter(|(_, owed)| *owed)
                        .map(|(p, _)| p.to_string())
                        .collect();
                    (files, pending)
                })
        }

        proptest! {
            /// Whatever the previous state, the scan and the URLs confirmed, no path that was
            /// owed or changed stops being owed unless every one of its URLs was purged, and
            /// the recorded hash of a path is either its old one or its new one.
            #[test]
            fn a_path_is_never_dropped_without_a_purge(
                (old_files, old_pending) in state(),
                (scanned, _) in state(),
                confirmed in proptest::collection::vec(any::<bool>(), 0..40),
            ) {
                let mut previous = manifest(old_files.clone(), &[]);
                previous.pending = old_pending.clone();
                let mut changes = diff::diff(&old_files, &scanned);
                add_pending(&mut changes, &old_pending, &old_files, &scanned, &globset::GlobSet::empty());
                let rules = rules();
                let all: Vec<String> = PATHS.iter().flat_map(|p| rules.urls_for(p)).collect();
                let purged: BTreeSet<String> = all
                    .iter()
                    .zip(confirmed.iter().chain(std::iter::repeat(&false)))
                    .filter(|(_, ok)| **ok)
                    .map(|(u, _)| u.clone())
                    .collect();
                let now = in_force("https://example.com/");
                let inputs = Inputs {
                    previous: Some(&previous),
                    old: &old_files,
                    scanned: &scanned,
                    changes: &changes,
                    rules: &rules,
                    now_in_force: &now,
                };
                let record = after(inputs, Purge::Urls { purged: &purged }).expect("a record");
                let owed: BTreeSet<String> = changes.paths().into_iter().map(|(p, _)| p.to_string()).collect();
                prop_assert!(old_pending.is_subset(&owed));
                for path in &owed {
                    let done = rules.urls_for(path).iter().all(|u| purged.contains(u));
                    prop_assert_eq!(record.pending.contains(path), !done, "{}", path);
                    let recorded = record.files.get(path);
                    let expected = if done { scanned.get(path) } else { old_files.get(path) };
                    prop_assert_eq!(recorded, expected, "{}", path);
                }
                // Paths nobody touched keep their entry.
                for (path, hash) in &old_files {
                    if !owed.contains(path) {
                        prop_assert_eq!(record.files.get(path), Some(hash));
                    }
                }
                let ahead = before_purge(Some(&previous), &changes);
                let ahead_pending = ahead.map_or(old_pending.clone(), |r| r.pending);
                prop_assert_eq!(ahead_pending, owed);
            }
        }
    }
}
