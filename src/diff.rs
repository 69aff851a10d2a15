//! Pure comparison of two sets of hashes into added, modified and removed paths.

use serde::Serialize;

use crate::scan::Hashes;

/// How a path changed since the last recorded state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Modified,
    Removed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Modified => "modified",
            Change::Removed => "removed",
        }
    }
}

/// Paths that changed, each list sorted. All three kinds are purged: a removed page's cached copy
/// would live on, and a new URL may have a cached 404.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSet {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    pub fn len(&self) -> usize {
        self.added.len() + self.modified.len() + self.removed.len()
    }

    /// Every changed path with its kind, sorted by path.
    pub fn paths(&self) -> Vec<(&str, Change)> {
        let mut all: Vec<(&str, Change)> = self
            .added
            .iter()
            .map(|p| (p.as_str(), Change::Added))
            .chain(self.modified.iter().map(|p| (p.as_str(), Change::Modified)))
            .chain(self.removed.iter().map(|p| (p.as_str(), Change::Removed)))
            .collect();
        all.sort();
        all
    }
}

/// Compares the recorded hashes with the current ones.
pub fn diff(old: &Hashes, new: &Hashes) -> ChangeSet {
    let mut set = ChangeSet::default();
    for (path, hash) in new {
        match old.get(path) {
            None => set.added.push(path.clone()),
            Some(previous) if previous != hash => set.modified.push(path.clone()),
            Some(_) => {}
        }
    }
    set.removed = old
        .keys()
        .filter(|p| !new.contains_key(*p))
        .cloned()
        .collect();
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(pairs: &[(&str, &str)]) -> Hashes {
        pairs
            .iter()
            .map(|(p, h)| (p.to_string(), h.to_string()))
            .collect()
    }

    #[test]
    fn identical_sets_have_no_changes() {
        let a = hashes(&[("a.html", "1"), ("b.html", "2")]);
        let set = diff(&a, &a.clone());
        assert!(set.is_empty());
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn finds_added_modified_and_removed_sorted() {
        let old = hashes(&[("z.html", "1"), ("b.html", "2"), ("gone/index.html", "3")]);
        let new = hashes(&[
            ("z.html", "9"),
            ("b.html", "2"),
            ("new.html", "4"),
            ("a.css", "5"),
        ]);
        let set = diff(&old, &new);
        assert_eq!(set.added, ["a.css", "new.html"]);
        assert_eq!(set.modified, ["z.html"]);
        assert_eq!(set.removed, ["gone/index.html"]);
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn everything_is_added_against_an_empty_state() {
        let new = hashes(&[("b", "1"), ("a", "2")]);
        let set = diff(&Hashes::new(), &new);
        assert_eq!(set.added, ["a", "b"]);
        assert!(set.modified.is_empty() && set.removed.is_empty());
    }

    #[test]
    fn paths_lists_every_change_with_its_kind() {
        let old = hashes(&[("b", "1"), ("c", "1")]);
        let new = hashes(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            diff(&old, &new).paths(),
            [
                ("a", Change::Added),
                ("b", Change::Modified),
                ("c", Change::Removed)
            ]
        );
    }
}
