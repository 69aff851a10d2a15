//! [`Hashes`], every file of a site with the SHA-256 of its content, in a form that holds a
//! million-file site in about 70 MB (its state beside it in 40 more), and [`ContentHash`], one
//! such SHA-256.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;
use std::iter::Peekable;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The SHA-256 of a file's content after the content rules: 32 raw bytes in memory (a hex
/// `String` would take 88 with its header, for the same information), lower-case hex in the
/// state file and on screen.
///
/// Not `Copy`, although it could be: callers clone it where they mean to keep a copy.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    pub const fn new(bytes: [u8; 32]) -> Self {
        ContentHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads 64 hex digits, in either case; anything else is `None`.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(ContentHash(bytes))
    }

    /// The hash in lower-case hex, written into `buf` (no allocation: a state file holds a
    /// million of them).
    pub fn encode_hex<'b>(&self, buf: &'b mut [u8; 64]) -> &'b str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (pair, byte) in buf.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        // Only ASCII digits were written.
        std::str::from_utf8(buf).unwrap_or_default()
    }
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encode_hex(&mut [0; 64]))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for ContentHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContentHash::from_hex(s).ok_or_else(|| format!("{s:?} is not a SHA-256 hex digest"))
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.encode_hex(&mut [0; 64]))
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(HashOf(None))
    }
}

/// Reads one hash; `Some(path)` names the file it belongs to in errors.
struct HashOf<'p>(Option<&'p str>);

impl<'de> Visitor<'de> for HashOf<'_> {
    type Value = ContentHash;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "the SHA-256 hex digest of {path:?}"),
            None => f.write_str("a SHA-256 hex digest"),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ContentHash, E> {
        ContentHash::from_hex(v).ok_or_else(|| match self.0 {
            Some(path) => E::custom(format!(
                "the hash recorded for {path:?} is not a SHA-256 hex digest"
            )),
            None => E::invalid_value(de::Unexpected::Str(v), &self),
        })
    }
}

impl<'de> DeserializeSeed<'de> for HashOf<'_> {
    type Value = ContentHash;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ContentHash, D::Error> {
        deserializer.deserialize_str(self)
    }
}

/// Every file of a site (its path relative to the output folder, `/`-separated) with the hash of
/// its content, sorted by path. Used like a `BTreeMap<String, ContentHash>`.
///
/// Why this shape: a run holds two of these at once (the scan and the recorded state), for up
/// to a million files, within a 200 MB budget. A `BTreeMap<String, String>` costs about 180
/// bytes a file (two heap strings, one of them 64 hex digits, plus the tree's nodes): 360 MB
/// for the pair. Here the paths sit sorted, back to back, in one buffer with an end offset each,
/// and the hashes are raw 32-byte arrays in a parallel vector: a 33-byte path costs 73 bytes,
/// lookups are a binary search, and iteration walks the buffer in order, so comparing two sets
/// is one merge pass. The state is read beside the scan and keeps the paths they have in
/// common as indexes into the scan's buffer (40 bytes a file, so long paths are paid for once).
/// The table is shared between clones (`Arc`), so the copies the pipeline makes (the state less
/// ignored paths, the snapshot to record) cost nothing until changed. Inserts and removals go to
/// a small ordered overlay instead of shifting the table; it is folded in once it grows past an
/// eighth of the table.
#[derive(Clone, Default)]
pub struct Hashes {
    table: Arc<Table>,
    /// Changes since `table` was built: `Some` adds or replaces a path, `None` removes it.
    edits: BTreeMap<Box<str>, Option<ContentHash>>,
    len: usize,
}

/// Sorted paths with their hashes. A path is kept in the table's own text, or, for a table
/// built beside another (the state loaded beside the scan), as an index into that table's text:
/// the state of a site shares nearly all its paths with the scan, which then costs the state only
/// 8 bytes a path.
#[derive(Default)]
struct Table {
    /// Own paths back to back.
    text: String,
    /// `ends[k]` is where own path `k` ends in `text`; it starts where own path `k - 1` ends.
    ends: Vec<usize>,
    /// For a table that shares paths: entry `i` as an index into `ends`, or, with [`BESIDE`] set,
    /// into the other table. `None`: entry `i` is own path `i`.
    shared: Option<Shared>,
    hashes: Vec<ContentHash>,
}

struct Shared {
    /// Holds only own paths (no `shared` of its own), so an index into it is one of its paths.
    beside: Arc<Table>,
    entries: Vec<u64>,
}

/// The bit of a [`Shared`] entry that says it is an index into the other table.
const BESIDE: u64 = 1 << 63;

impl Table {
    fn len(&self) -> usize {
        self.hashes.len()
    }

    fn own(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.text[start..self.ends[k]]
    }

    fn path(&self, i: usize) -> &str {
        match &self.shared {
            None => self.own(i),
            Some(shared) => {
                let entry = shared.entries[i];
                // Indexes fit in 63 bits: a table cannot hold 2^63 entries.
                let index = (entry & !BESIDE) as usize;
                if entry & BESIDE == 0 {
                    self.own(index)
                } else {
                    shared.beside.own(index)
                }
            }
        }
    }

    fn find(&self, path: &str) -> Result<usize, usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.path(mid).cmp(path) {
                Ordering::Less => low = mid + 1,
                Ordering::Greater => high = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(low)
    }

    /// An empty table that may share the paths of `beside` (when it holds only own paths).
    fn beside(beside: Option<Arc<Table>>) -> Table {
        Table {
            shared: beside
                .filter(|b| b.shared.is_none() && b.len() > 0)
                .map(|beside| Shared {
                    beside,
                    entries: Vec::new(),
                }),
            ..Table::default()
        }
    }

    fn push(&mut self, path: &str, hash: ContentHash) {
        if let Some(shared) = &mut self.shared {
            shared.entries.push(self.ends.len() as u64);
        }
        self.text.push_str(path);
        self.ends.push(self.text.len());
        self.hashes.push(hash);
    }

    /// Adds path `j` of the table this one is beside; gives the hash back if it is beside none.
    fn push_beside(&mut self, j: usize, hash: ContentHash) -> Result<(), ContentHash> {
        let Some(shared) = &mut self.shared else {
            return Err(hash);
        };
        shared.entries.push(j as u64 | BESIDE);
        self.hashes.push(hash);
        Ok(())
    }

    /// Adds entry `i` of `from`, which is beside the same table as this one, if any.
    fn push_from(&mut self, from: &Table, i: usize) {
        let hash = from.hashes[i].clone();
        let result = match from.shared.as_ref().map(|s| s.entries[i]) {
            Some(entry) if entry & BESIDE != 0 => {
                self.push_beside((entry & !BESIDE) as usize, hash)
            }
            _ => Err(hash),
        };
        if let Err(hash) = result {
            self.push(from.path(i), hash);
        }
    }

    fn finish(&mut self) {
        // Beside a table it shares nothing with, a table is plain.
        if self
            .shared
            .as_ref()
            .is_some_and(|s| s.entries.iter().all(|e| e & BESIDE == 0))
        {
            self.shared = None;
        }
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.hashes.shrink_to_fit();
        if let Some(shared) = &mut self.shared {
            shared.entries.shrink_to_fit();
        }
    }
}

/// Below this many edits the overlay is never folded in.
const FOLD_MIN: usize = 4096;

impl Hashes {
    pub fn new() -> Self {
        Hashes::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, path: &str) -> Option<&ContentHash> {
        match self.edits.get(path) {
            Some(edit) => edit.as_ref(),
            None => self.in_table(path),
        }
    }

    fn in_table(&self, path: &str) -> Option<&ContentHash> {
        let i = self.table.find(path).ok()?;
        self.table.hashes.get(i)
    }

    pub fn contains_key(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Records `hash` for `path`; returns the hash it had.
    pub fn insert(&mut self, path: String, hash: ContentHash) -> Option<ContentHash> {
        let before = self.get(&path).cloned();
        if self.in_table(&path) == Some(&hash) {
            self.edits.remove(path.as_str());
        } else {
            self.edits.insert(path.into_boxed_str(), Some(hash));
        }
        if before.is_none() {
            self.len += 1;
        }
        self.fold_if_large();
        before
    }

    /// Forgets `path`; returns the hash it had.
    pub fn remove(&mut self, path: &str) -> Option<ContentHash> {
        let before = self.get(path).cloned()?;
        if self.in_table(path).is_some() {
            self.edits.insert(path.into(), None);
        } else {
            self.edits.remove(path);
        }
        self.len -= 1;
        self.fold_if_large();
        Some(before)
    }

    /// A copy without the paths `drop` picks. It shares this one's table, so it costs only the
    /// paths dropped.
    pub fn without(&self, drop: impl Fn(&str) -> bool) -> Hashes {
        let mut kept = self.clone();
        for path in self.keys().filter(|p| drop(p)) {
            kept.remove(path);
        }
        kept
    }

    /// Every path with its hash, sorted by path.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            table: &self.table,
            next: 0,
            edits: self.edits.iter().peekable(),
            left: self.len,
        }
    }

    /// Every path, sorted.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        Keys(self.iter())
    }

    fn fold_if_large(&mut self) {
        if self.edits.len() > FOLD_MIN.max(self.table.len() / 8) {
            let beside = self.table.shared.as_ref().map(|s| s.beside.clone());
            let mut builder = HashesBuilder::beside(beside);
            for (path, hash) in self.iter() {
                builder.push(path, hash.clone());
            }
            *self = builder.finish();
        }
    }

    /// Runs `read` so that the [`Hashes`] it deserializes on this thread keep the paths they
    /// have in common with these as references to them, not copies (see [`Table`]).
    pub fn share_paths_while<T>(&self, read: impl FnOnce() -> T) -> T {
        /// Puts the previous value back however `read` ends.
        struct Restore(Option<Arc<Table>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                SHARE_WITH.set(self.0.take());
            }
        }
        let _restore = Restore(SHARE_WITH.replace(Some(self.table.clone())));
        read()
    }
}

/// Iterator over [`Hashes`]: the table and the overlay merged, in path order.
pub struct Iter<'a> {
    table: &'a Table,
    next: usize,
    edits: Peekable<btree_map::Iter<'a, Box<str>, Option<ContentHash>>>,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a ContentHash);

    fn next(&mut self) -> Option<Self::Item> {
        let table = self.table;
        loop {
            let base = (self.next < table.len()).then(|| table.path(self.next));
            let edit: Option<&'a str> = self.edits.peek().map(|&(path, _)| &**path);
            let take_base = match (base, edit) {
                (None, None) => return None,
                (Some(b), Some(e)) => b < e,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if take_base {
                let i = self.next;
                self.next += 1;
                self.left = self.left.saturating_sub(1);
                return base.zip(table.hashes.get(i));
            }
            // An edit replaces or removes the table's entry for the same path.
            if base.is_some() && base == edit {
                self.next += 1;
            }
            if let Some((path, Some(hash))) = self.edits.next() {
                self.left = self.left.saturating_sub(1);
                return Some((path, hash));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

struct Keys<'a>(Iter<'a>);

impl<'a> Iterator for Keys<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.0.next().map(|(path, _)| path)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Keys<'_> {}

impl<'a> IntoIterator for &'a Hashes {
    type Item = (&'a str, &'a ContentHash);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl PartialEq for Hashes {
    fn eq(&self, other: &Self) -> bool {
        if Arc::ptr_eq(&self.table, &other.table) && self.edits == other.edits {
            return true;
        }
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Hashes {}

impl fmt::Debug for Hashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::ops::Index<&str> for Hashes {
    type Output = ContentHash;

    /// Like a map's index: the hash of a path known to be there.
    fn index(&self, path: &str) -> &ContentHash {
        match self.get(path) {
            Some(hash) => hash,
            None => panic!("no hash for {path:?}"),
        }
    }
}

/// Later pairs win over earlier ones for the same path, as in a map.
impl<S: AsRef<str>> FromIterator<(S, ContentHash)> for Hashes {
    fn from_iter<I: IntoIterator<Item = (S, ContentHash)>>(iter: I) -> Self {
        let mut builder = HashesBuilder::default();
        for (path, hash) in iter {
            builder.push(path.as_ref(), hash);
        }
        builder.finish()
    }
}

impl<S: AsRef<str>> Extend<(S, ContentHash)> for Hashes {
    fn extend<I: IntoIterator<Item = (S, ContentHash)>>(&mut self, iter: I) {
        for (path, hash) in iter {
            self.insert(path.as_ref().to_string(), hash);
        }
    }
}

/// Builds [`Hashes`] from pairs pushed one at a time, without a heap string per path. Pairs
/// pushed in path order (as the scan walks and as the state file lists them) are used as they
/// are; otherwise they are sorted once at the end.
pub struct HashesBuilder {
    table: Table,
    /// Every path so far came after the one before it.
    sorted: bool,
    /// How far the paths pushed in order have come through the table this one is beside.
    cursor: usize,
}

impl Default for HashesBuilder {
    fn default() -> Self {
        HashesBuilder::new()
    }
}

impl HashesBuilder {
    pub fn new() -> Self {
        HashesBuilder::beside(None)
    }

    /// A builder that shares the paths it has in common with `beside`.
    fn beside(beside: Option<Arc<Table>>) -> Self {
        HashesBuilder {
            table: Table::beside(beside),
            sorted: true,
            cursor: 0,
        }
    }

    pub fn push(&mut self, path: &str, hash: ContentHash) {
        let n = self.table.len();
        if n > 0 && self.table.path(n - 1) >= path {
            self.sorted = false;
        }
        let result = match self.find_beside(path) {
            Some(j) => self.table.push_beside(j, hash),
            None => Err(hash),
        };
        if let Err(hash) = result {
            self.table.push(path, hash);
        }
    }

    /// Where `path` is in the table this one is built beside. Paths pushed in order (as the
    /// state lists them) move a cursor forward through it; others are looked up.
    fn find_beside(&mut self, path: &str) -> Option<usize> {
        let beside = &self.table.shared.as_ref()?.beside;
        if self.cursor > 0 && beside.own(self.cursor - 1) >= path {
            return beside.find(path).ok();
        }
        while self.cursor < beside.len() && beside.own(self.cursor) < path {
            self.cursor += 1;
        }
        (self.cursor < beside.len() && beside.own(self.cursor) == path).then(|| {
            self.cursor += 1;
            self.cursor - 1
        })
    }

    pub fn finish(self) -> Hashes {
        let mut table = self.table;
        if !self.sorted && table.len() > 1 {
            // Stable, so that of two equal paths the one pushed last comes last, and wins.
            let mut order: Vec<usize> = (0..table.len()).collect();
            order.sort_by(|&a, &b| table.path(a).cmp(table.path(b)));
            let mut sorted = Table::beside(table.shared.as_ref().map(|s| s.beside.clone()));
            for (k, &i) in order.iter().enumerate() {
                if order
                    .get(k + 1)
                    .is_some_and(|&j| table.path(j) == table.path(i))
                {
                    continue;
                }
                sorted.push_from(&table, i);
            }
            table = sorted;
        }
        table.finish();
        Hashes {
            len: table.len(),
            table: Arc::new(table),
            edits: BTreeMap::new(),
        }
    }
}

thread_local! {
    /// The table whose paths deserialized [`Hashes`] share: see [`Hashes::share_paths_while`].
    /// A thread-local, because serde gives a field's `Deserialize` no way to receive it through
    /// the derived `Deserialize` of the manifest around it.
    static SHARE_WITH: std::cell::RefCell<Option<Arc<Table>>> = const { std::cell::RefCell::new(None) };
}

impl Serialize for Hashes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len))?;
        for (path, hash) in self {
            map.serialize_entry(path, hash)?;
        }
        map.end()
    }
}

/// Read straight into the compact form: one path buffer reused for every key, no map in
/// between, and a hash that is not one names its file.
impl<'de> Deserialize<'de> for Hashes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HashesVisitor)
    }
}

struct HashesVisitor;

impl<'de> Visitor<'de> for HashesVisitor {
    type Value = Hashes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of paths and their SHA-256 hex digests")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hashes, A::Error> {
        let mut builder = HashesBuilder::beside(SHARE_WITH.with_borrow(Clone::clone));
        let mut path = String::new();
        while map.next_key_seed(PathInto(&mut path))?.is_some() {
            let hash = map.next_value_seed(HashOf(Some(&path)))?;
            builder.push(&path, hash);
        }
        Ok(builder.finish())
    }
}

/// Reads a map key into a reused buffer.
struct PathInto<'b>(&'b mut String);

impl<'de> DeserializeSeed<'de> for PathInto<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PathInto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file path")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> ContentHash {
        ContentHash::new([n; 32])
    }

    fn pairs(hashes: &Hashes) -> Vec<(String, u8)> {
        hashes
            .iter()
            .map(|(p, h)| (p.to_string(), h.as_bytes()[0]))
            .collect()
    }

    fn owned(list: &[(&str, u8)]) -> Vec<(String, u8)> {
        list.iter().map(|(p, n)| (p.to_string(), *n)).collect()
    }

    #[test]
    fn hex_round_trips_and_rejects_what_is_not_a_digest() {
        let text = "00ff10abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123";
        let hash = ContentHash::from_hex(text).expect("hex");
        assert_eq!(hash.to_string(), text);
        assert_eq!(
            ContentHash::from_hex(&text.to_uppercase()).expect("upper"),
            hash
        );
        assert_eq!(ContentHash::from_hex("zz"), None);
        assert_eq!(ContentHash::from_hex(&"g".repeat(64)), None);
        assert_eq!(ContentHash::from_hex(&"a".repeat(63)), None);
        assert_eq!(ContentHash::from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn pairs_collected_in_any_order_iterate_sorted_and_the_last_duplicate_wins() {
        let hashes: Hashes = [
            ("b", h(1)),
            ("a", h(2)),
            ("c/d", h(3)),
            ("b", h(4)),
            ("c-d", h(5)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            pairs(&hashes),
            owned(&[("a", 2), ("b", 4), ("c-d", 5), ("c/d", 3)])
        );
        assert_eq!(hashes.len(), 4);
        assert_eq!(hashes.keys().collect::<Vec<_>>(), ["a", "b", "c-d", "c/d"]);
    }

    #[test]
    fn lookups_find_every_path_and_only_those() {
        let hashes: Hashes = (0..1000u32)
            .map(|i| (format!("p/{i:04}.html"), h((i % 200) as u8)))
            .collect();
        for i in 0..1000u32 {
            assert_eq!(
                hashes.get(&format!("p/{i:04}.html")),
                Some(&h((i % 200) as u8))
            );
        }
        assert!(!hashes.contains_key("p/1000.html"));
        assert!(!hashes.contains_key(""));
        assert!(!hashes.contains_key("p/0000.htm"));
        assert_eq!(hashes["p/0007.html"], h(7));
    }

    #[test]
    fn inserts_and_removals_behave_like_a_map() {
        let mut hashes: Hashes = [("a", h(1)), ("c", h(3))].into_iter().collect();
        assert_eq!(hashes.insert("b".into(), h(2)), None);
        assert_eq!(hashes.insert("c".into(), h(9)), Some(h(3)));
        assert_eq!(hashes.remove("a"), Some(h(1)));
        assert_eq!(hashes.remove("a"), None);
        assert_eq!(hashes.remove("zz"), None);
        assert_eq!(hashes.insert("a".into(), h(1)), None);
        assert_eq!(hashes.remove("b"), Some(h(2)));
        assert_eq!(pairs(&hashes), owned(&[("a", 1), ("c", 9)]));
        assert_eq!(hashes.len(), 2);
        let same: Hashes = [("c", h(9)), ("a", h(1))].into_iter().collect();
        assert_eq!(hashes, same);
        assert_eq!(format!("{hashes:?}"), format!("{same:?}"));
    }

    #[test]
    fn a_clone_is_independent_of_the_original() {
        let original: Hashes = [("a", h(1)), ("b", h(2))].into_iter().collect();
        let mut copy = original.clone();
        copy.insert("a".into(), h(7));
        copy.remove("b");
        copy.insert("c".into(), h(3));
        assert_eq!(pairs(&original), owned(&[("a", 1), ("b", 2)]));
        assert_eq!(pairs(&copy), owned(&[("a", 7), ("c", 3)]));
        assert_ne!(original, copy);
    }

    #[test]
    fn many_edits_are_folded_into_the_table_without_changing_the_contents() {
        let mut hashes: Hashes = (0..100u32).map(|i| (format!("{i:05}"), h(1))).collect();
        let mut model: BTreeMap<String, u8> = (0..100u32).map(|i| (format!("{i:05}"), 1)).collect();
        for i in 0..3 * FOLD_MIN as u32 {
            let path = format!("{:05}", (i * 7919) % 20_000);
            if i % 3 == 0 {
                assert_eq!(
                    hashes.remove(&path).map(|h| h.as_bytes()[0]),
                    model.remove(&path)
                );
            } else {
                let n = (i % 250) as u8;
                let before = hashes.insert(path.clone(), h(n));
                assert_eq!(before.map(|h| h.as_bytes()[0]), model.insert(path, n));
            }
            assert_eq!(hashes.len(), model.len());
        }
        assert!(hashes.edits.len() <= FOLD_MIN, "{}", hashes.edits.len());
        let expected: Vec<(String, u8)> = model.into_iter().collect();
        assert_eq!(pairs(&hashes), expected);
        assert_eq!(hashes.iter().len(), expected.len());
    }

    #[test]
    fn without_drops_what_it_is_told_and_shares_the_rest() {
        let hashes: Hashes = [("a.html", h(1)), ("a.map", h(2)), ("b.html", h(3))]
            .into_iter()
            .collect();
        let kept = hashes.without(|p| p.ends_with(".map"));
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["a.html", "b.html"]);
        assert!(Arc::ptr_eq(&kept.table, &hashes.table));
        assert_eq!(hashes.without(|_| false), hashes);
    }

    #[test]
    fn equal_contents_compare_equal_whatever_their_history() {
        let mut a: Hashes = [("x", h(1)), ("y", h(2))].into_iter().collect();
        a.insert("y".into(), h(3));
        a.insert("y".into(), h(2));
        let b: Hashes = [("y", h(2)), ("x", h(1))].into_iter().collect();
        assert_eq!(a, b);
        assert!(
            a.edits.is_empty(),
            "setting a path back to its hash leaves no edit"
        );
        assert_eq!(Hashes::new(), Hashes::default());
        assert!(Hashes::new().is_empty());
    }

    #[test]
    fn serializes_as_a_sorted_object_of_hex_digests_and_back() {
        let mut hashes: Hashes = [("b", h(0xbb)), ("a", h(0xaa))].into_iter().collect();
        hashes.insert("ab".into(), h(0x01));
        let json = serde_json::to_string(&hashes).expect("json");
        assert_eq!(
            json,
            format!(
                r#"{{"a":"{}","ab":"{}","b":"{}"}}"#,
                "aa".repeat(32),
                "01".repeat(32),
                "bb".repeat(32)
            )
        );
        let back: Hashes = serde_json::from_str(&json).expect("back");
        assert_eq!(back, hashes);
        let err = serde_json::from_str::<Hashes>(r#"{"x.html": "zz"}"#).expect_err("bad");
        assert!(err.to_string().contains("\"x.html\""), "{err}");
        let err = serde_json::from_str::<Hashes>(r#"{"x.html": 5}"#).expect_err("bad");
        assert!(err.to_string().contains("\"x.html\""), "{err}");
    }

    #[test]
    fn a_state_read_beside_the_scan_shares_its_paths_and_reads_the_same() {
        let scan: Hashes = (0..100u32).map(|i| (format!("p/{i:03}"), h(1))).collect();
        // Most of the scan's paths, two it lacks, and two out of order at the end.
        let mut listed: Vec<String> = (0..90u32).map(|i| format!("p/{i:03}")).collect();
        listed.extend(["a-gone", "q/gone", "p/095", "p/050"].map(String::from));
        let body: Vec<String> = listed
            .iter()
            .enumerate()
            .map(|(n, p)| format!("\"{p}\": \"{}\"", format!("{:02x}", n % 200).repeat(32)))
            .collect();
        let json = format!("{{{}}}", body.join(", "));
        let state: Hashes = scan
            .share_paths_while(|| serde_json::from_str(&json))
            .expect("json");
        let alone: Hashes = serde_json::from_str(&json).expect("json");
        assert!(alone.table.shared.is_none(), "sharing ends with the read");
        assert_eq!(state, alone);
        assert_eq!(pairs(&state), pairs(&alone));
        assert_eq!(state.len(), 93);
        for path in alone.keys() {
            assert_eq!(state.get(path), alone.get(path), "{path}");
        }
        let shared = state.table.shared.as_ref().expect("shares");
        assert!(Arc::ptr_eq(&shared.beside, &scan.table));
        assert_eq!(
            state.table.ends.len(),
            2,
            "only the paths the scan lacks are copied"
        );

        let mut edited = state.clone();
        let mut model: BTreeMap<String, u8> = pairs(&state).into_iter().collect();
        for i in 0..2 * FOLD_MIN as u32 {
            let path = format!("p/{:03}", i % 300);
            if i % 2 == 0 {
                edited.remove(&path);
                model.remove(&path);
            } else {
                edited.insert(path.clone(), h(9));
                model.insert(path, 9);
            }
        }
        assert_eq!(pairs(&edited), model.into_iter().collect::<Vec<_>>());
        assert_eq!(pairs(&state), pairs(&alone), "the original is untouched");
    }

    #[test]
    fn nothing_is_shared_with_an_empty_scan() {
        let json = format!(r#"{{"a": "{}"}}"#, "00".repeat(32));
        let state: Hashes = Hashes::new()
            .share_paths_while(|| serde_json::from_str(&json))
            .expect("json");
        assert!(state.table.shared.is_none());
        assert_eq!(state.keys().collect::<Vec<_>>(), ["a"]);
    }
}
