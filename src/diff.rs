//! Pure comparison of two sets of hashes into added, modified and removed paths.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::scan::{Hashes, Noisy, trace_slot};

/// How a path changed since the last recorded state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSet {
    pub added: PathList,
    pub modified: PathList,
    pub removed: PathList,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    pub fn len(&self) -> usize {
        self.added.len() + self.modified.len() + self.removed.len()
    }

    /// Every changed path with its kind, sorted by path (and kind): the three sorted lists
    /// merged as they are walked, so no list of a million pairs is built on a first run.
    pub fn paths(&self) -> ChangedPaths<'_> {
        ChangedPaths(self)
    }
}

/// [`ChangeSet::paths`]: iterate it (`for`, or `into_iter()` for adapters) as often as needed.
#[derive(Clone, Copy)]
pub struct ChangedPaths<'a>(&'a ChangeSet);

impl<'a> IntoIterator for ChangedPaths<'a> {
    type Item = (&'a str, Change);
    type IntoIter = ChangedPathsIter<'a>;

    fn into_iter(self) -> ChangedPathsIter<'a> {
        let set = self.0;
        ChangedPathsIter {
            lists: [
                (set.added.iter().peekable(), Change::Added),
                (set.modified.iter().peekable(), Change::Modified),
                (set.removed.iter().peekable(), Change::Removed),
            ],
        }
    }
}

/// The iterator of [`ChangedPaths`].
pub struct ChangedPathsIter<'a> {
    lists: [(std::iter::Peekable<PathIter<'a>>, Change); 3],
}

impl<'a> Iterator for ChangedPathsIter<'a> {
    type Item = (&'a str, Change);

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, &'a str, Change)> = None;
        for (i, (list, change)) in self.lists.iter_mut().enumerate() {
            if let Some(&path) = list.peek()
                && best.is_none_or(|(_, p, c)| (path, *change) < (p, c))
            {
                best = Some((i, path, *change));
            }
        }
        let (i, path, change) = best?;
        self.lists[i].0.next();
        Some((path, change))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.lists.iter().map(|(l, _)| l.len()).sum();
        (n, Some(n))
    }
}

impl ExactSizeIterator for ChangedPathsIter<'_> {}

/// A list of paths in one buffer: a first run lists every file of the site as added, and a
/// million `String`s would take 72 MB where this takes 41 (each path's bytes and an end offset).
/// Used like a `Vec<String>` (push, iter, len, sort); serialized as a JSON array of strings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PathList {
    text: String,
    /// `ends[i]` is where path `i` ends in `text`; it starts where path `i - 1` ends.
    ends: Vec<usize>,
}

impl PathList {
    pub fn new() -> Self {
        PathList::default()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Adds a path, as `Vec<String>::push` does.
    pub fn push(&mut self, path: String) {
        self.push_str(&path);
    }

    /// Adds a path without needing a `String` of it.
    pub fn push_str(&mut self, path: &str) {
        self.text.push_str(path);
        self.ends.push(self.text.len());
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> PathIter<'_> {
        PathIter {
            list: self,
            front: 0,
            back: self.len(),
        }
    }

    /// Sorts the paths by their bytes, as `Vec<String>::sort` does.
    pub fn sort(&mut self) {
        if self.is_sorted() {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| self.get(a).cmp(&self.get(b)));
        let mut sorted = PathList::new();
        sorted.text.reserve(self.text.len());
        sorted.ends.reserve(self.len());
        for i in order {
            sorted.push_str(self.get(i).unwrap_or_default());
        }
        *self = sorted;
    }

    /// Whether `path` is in the list, which must be sorted (binary search).
    pub fn contains_sorted(&self, path: &str) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).map(|p| p.cmp(path)) {
                Some(Ordering::Less) => lo = mid + 1,
                Some(Ordering::Greater) => hi = mid,
                Some(Ordering::Equal) => return true,
                None => return false,
            }
        }
        false
    }

    fn is_sorted(&self) -> bool {
        (1..self.len()).all(|i| self.get(i - 1) <= self.get(i))
    }
}
/// The paths of a [`PathList`], in order.
pub struct PathIter<'a> {
    list: &'a PathList,
    front: usize,
    back: usize,
}

impl<'a> Iterator for PathIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        self.list.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for PathIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        self.list.get(self.back)
    }
}

impl ExactSizeIterator for PathIter<'_> {}

impl<'a> IntoIterator for &'a PathList {
    type Item = &'a str;
    type IntoIter = PathIter<'a>;

    fn into_iter(self) -> PathIter<'a> {
        self.iter()
    }
}

impl<S: AsRef<str>> FromIterator<S> for PathList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut list = PathList::new();
        list.extend(iter);
        list
    }
}

impl<S: AsRef<str>> Extend<S> for PathList {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for path in iter {
            self.push_str(path.as_ref());
        }
    }
}

impl<const N: usize> From<[&str; N]> for PathList {
    fn from(paths: [&str; N]) -> Self {
        paths.into_iter().collect()
    }
}

impl fmt::Debug for PathList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for PathList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut list = PathList::new();
        for path in Vec::<String>::deserialize(deserializer)? {
            list.push(path);
        }
        Ok(list)
    }
}

impl<const N: usize> PartialEq<[&str; N]> for PathList {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

impl PartialEq<[&str]> for PathList {
    fn eq(&self, other: &[&str]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

impl PartialEq<Vec<&str>> for PathList {
    fn eq(&self, other: &Vec<&str>) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

/// Compares the recorded hashes with the current ones: one pass over both, which are sorted.
pub fn diff(old: &Hashes, new: &Hashes) -> ChangeSet {
    let mut set = ChangeSet::default();
    let mut old = old.iter().peekable();
    let mut new = new.iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((o, _)), Some((n, _))) => o.cmp(n),
        };
        match order {
            Ordering::Less => {
                if let Some((path, _)) = old.next() {
                    set.removed.push_str(path);
                }
            }
            Ordering::Greater => {
                if let Some((path, _)) = new.next() {
                    set.added.push_str(path);
                }
            }
            Ordering::Equal => {
                if let (Some((path, before)), Some((_, now))) = (old.next(), new.next())
                    && before != now
                {
                    set.modified.push_str(path);
                }
            }
        }
    }
    set
}

/// How many files changed by build noise alone, for each kind of content rule (in `kinds`
/// order): their hash after the rules did not change (they are not in `changes`), but what that
/// kind blanked did, compared with the trace the state recorded (`noise_before`). Files the
/// state has no trace for are not counted.
pub fn noise_only(
    noise_before: &Hashes,
    noise: &std::collections::BTreeMap<String, Noisy>,
    kinds: &[String],
    changes: &ChangeSet,
) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = kinds.iter().map(|k| (k.clone(), 0)).collect();
    // (No set of the changed paths: on a first run that is every file of the site.)
    let changed = |path: &str| {
        [&changes.added, &changes.modified, &changes.removed]
            .iter()
            .any(|list| list.contains_sorted(path))
    };
    for (path, noisy) in noise {
        let Some(before) = noise_before.get(path) else {
            continue;
        };
        if changed(path) {
            continue;
        }
        for (i, (_, n)) in counts.iter_mut().enumerate() {
            let slot = trace_slot(i);
            if before.as_bytes()[slot.clone()] != noisy.trace.as_bytes()[slot] {
                *n += 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scan::ContentHash;

    #[test]
    fn a_sorted_list_is_searched_for_a_path() {
        let mut list = PathList::new();
        for p in ["a.html", "b/index.html", "c.css", "é.html"] {
            list.push_str(p);
        }
        for p in ["a.html", "b/index.html", "c.css", "é.html"] {
            assert!(list.contains_sorted(p), "{p}");
        }
        for p in ["", "a", "b", "d.html", "z"] {
            assert!(!list.contains_sorted(p), "{p}");
        }
        assert!(!PathList::new().contains_sorted("a"));
    }

    #[test]
    fn noise_only_counts_files_by_the_kind_of_noise_that_changed() {
        // Two kinds: slot 0 (bytes 0-1) and slot 1 (bytes 2-3) of each trace.
        let trace = |k0: u8, k1: u8| {
            let mut t = [0u8; 32];
            t[0] = k0;
            t[2] = k1;
            ContentHash::new(t)
        };
        let noisy = |t: ContentHash| Noisy {
            trace: t,
            kinds: 0b11,
        };
        let before: Hashes = [
            ("a.html", trace(1, 1)),
            ("b.html", trace(1, 1)),
            ("c.html", trace(1, 1)),
            ("d.html", trace(1, 1)),
        ]
        .into_iter()
        .map(|(p, t)| (p.to_string(), t))
        .collect();
        let noise = std::collections::BTreeMap::from([
            ("a.html".to_string(), noisy(trace(2, 1))), // the first kind's noise changed
            ("b.html".to_string(), noisy(trace(1, 1))), // the same noise: no change at all
            ("c.html".to_string(), noisy(trace(2, 2))), // both kinds changed
            ("d.html".to_string(), noisy(trace(2, 2))), // changed for real (in `changes`)
            ("e.html".to_string(), noisy(trace(2, 2))), // new: the state has no trace
        ]);
        let changes = diff(
            &hashes(&[("d.html", 1)]),
            &hashes(&[("d.html", 2), ("e.html", 3)]),
        );
        let kinds = ["generator tag".to_string(), "build time".to_string()];
        assert_eq!(
            noise_only(&before, &noise, &kinds, &changes),
            [
                ("generator tag".to_string(), 2),
                ("build time".to_string(), 1)
            ]
        );
    }

    fn hashes(pairs: &[(&str, u8)]) -> Hashes {
        pairs
            .iter()
            .map(|(p, h)| (p.to_string(), ContentHash::new([*h; 32])))
            .collect()
    }

    #[test]
    fn identical_sets_have_no_changes() {
        let a = hashes(&[("a.html", 1), ("b.html", 2)]);
        let set = diff(&a, &a.clone());
        assert!(set.is_empty());
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn finds_added_modified_and_removed_sorted() {
        let old = hashes(&[("z.html", 1), ("b.html", 2), ("gone/index.html", 3)]);
        let new = hashes(&[("z.html", 9), ("b.html", 2), ("new.html", 4), ("a.css", 5)]);
        let set = diff(&old, &new);
        assert_eq!(set.added, ["a.css", "new.html"]);
        assert_eq!(set.modified, ["z.html"]);
        assert_eq!(set.removed, ["gone/index.html"]);
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn everything_is_added_against_an_empty_state() {
        let new = hashes(&[("b", 1), ("a", 2)]);
        let set = diff(&Hashes::new(), &new);
        assert_eq!(set.added, ["a", "b"]);
        assert!(set.modified.is_empty() && set.removed.is_empty());
    }

    #[test]
    fn paths_lists_every_change_with_its_kind() {
        let old = hashes(&[("b", 1), ("c", 1)]);
        let new = hashes(&[("a", 1), ("b", 2)]);
        assert_eq!(
            diff(&old, &new).paths().into_iter().collect::<Vec<_>>(),
            [
                ("a", Change::Added),
                ("b", Change::Modified),
                ("c", Change::Removed)
            ]
        );
    }

    #[test]
    fn paths_merges_the_lists_in_path_order_whatever_their_lengths() {
        let set = ChangeSet {
            added: ["a", "d/x", "e"].into(),
            modified: ["b", "d-x"].into(),
            removed: ["c"].into(),
        };
        assert_eq!(
            set.paths().into_iter().collect::<Vec<_>>(),
            [
                ("a", Change::Added),
                ("b", Change::Modified),
                ("c", Change::Removed),
                ("d-x", Change::Modified),
                ("d/x", Change::Added),
                ("e", Change::Added),
            ]
        );
        assert_eq!(ChangeSet::default().paths().into_iter().count(), 0);
    }

    #[test]
    fn diff_walks_paths_in_byte_order_across_folders() {
        let old = hashes(&[("a/b", 1), ("a-b", 1), ("a.html", 1)]);
        let new = hashes(&[("a/b", 2), ("a-b", 1), ("a", 1)]);
        let set = diff(&old, &new);
        assert_eq!(set.added, ["a"]);
        assert_eq!(set.modified, ["a/b"]);
        assert_eq!(set.removed, ["a.html"]);
    }

    #[test]
    fn a_path_list_sorts_serializes_and_compares_like_a_vec_of_strings() {
        let mut list: PathList = ["b", "é", "a/b", "a-b", ""].into();
        assert_eq!(list.len(), 5);
        assert_eq!(list.get(1), Some("é"));
        assert_eq!(list.get(5), None);
        let mut vec: Vec<String> = list.iter().map(str::to_string).collect();
        list.sort();
        vec.sort();
        assert_eq!(list, vec.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(list.iter().next_back(), Some("é"));
        assert_eq!(
            serde_json::to_string(&list).expect("json"),
            serde_json::to_string(&vec).expect("json")
        );
        assert_eq!(format!("{list:?}"), format!("{vec:?}"));
        let mut more = list.clone();
        more.push(String::from("z"));
        assert_ne!(more, list);
        assert!(PathList::new().is_empty());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn hashes_of(entries: Vec<(String, u8)>) -> Hashes {
            entries
                .into_iter()
                .map(|(p, h)| (p, ContentHash::new([h; 32])))
                .collect()
        }

        fn entries() -> impl Strategy<Value = Vec<(String, u8)>> {
            proptest::collection::vec(("[a-c]{1,2}(/[a-c]{1,2}){0,2}", 0u8..3), 0..30)
        }

        proptest! {
            #[test]
            fn a_state_compared_with_itself_has_no_change(e in entries()) {
                let h = hashes_of(e);
                prop_assert!(diff(&h, &h).is_empty());
            }

            /// Every path of either side is listed once at most, in the right list, sorted.
            #[test]
            fn every_difference_is_listed_once_where_it_belongs(a in entries(), b in entries()) {
                let (old, new) = (hashes_of(a), hashes_of(b));
                let c = diff(&old, &new);
                for p in c.added.iter() {
                    prop_assert!(!old.contains_key(p) && new.contains_key(p));
                }
                for p in c.removed.iter() {
                    prop_assert!(old.contains_key(p) && !new.contains_key(p));
                }
                for p in c.modified.iter() {
                    prop_assert!(old.get(p).is_some() && old.get(p) != new.get(p));
                }
                let listed = c.len();
                let expected = old
                    .iter()
                    .filter(|(p, h)| new.get(p) != Some(*h))
                    .count()
                    + new.iter().filter(|(p, _)| !old.contains_key(p)).count();
                prop_assert_eq!(listed, expected);
            }
        }
    }
}
