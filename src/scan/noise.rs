//! Build noise: what is blanked from a text file before it is hashed, so that a rebuild with no
//! change hashes the same. One principle: blank what is the same for the whole build (a
//! generator's version tag, the build's own time), never what differs from page to page (a
//! page's date, a sitemap's `<lastmod>` from git), which is content.
//!
//! Two kinds of rules:
//! - [`Rule`]: a regular expression whose every match is removed (the preset's version tags,
//!   the user's `ignore_content`).
//! - [`Stamp`]: a place that carries only a build-wide time (jekyll-feed's feed-level
//!   `<updated>` is `site.time`). The instant read there is [`Learned`] before the scan hashes
//!   anything, and then blanked wherever the build spells it, in any of the spellings
//!   [`TIMESTAMP`] recognises and in any time zone; every other date stays content.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use regex::bytes::{Captures, Regex};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
pub use crate::generator::StampKind;

/// A rule that removes every match of its pattern.
#[derive(Debug, Clone)]
pub struct Rule {
    /// What it blanks, in a few words (the preset's name for it, or `ignore_content`): the
    /// precision report counts files by it.
    pub name: String,
    pub pattern: Regex,
}

/// A place in one output file that carries a build-wide time.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub name: String,
    /// The file's path in the output folder.
    pub file: String,
    pub pattern: Regex,
    pub kind: StampKind,
}

/// Build noise to blank out before hashing.
#[derive(Debug, Clone, Default)]
pub struct ContentRules {
    pub rules: Vec<Rule>,
    pub stamps: Vec<Stamp>,
    /// File extensions (lower case, no dot) that count as text.
    pub extensions: Vec<String>,
}

/// The spellings of an instant that are recognised: RFC 3339 / ISO 8601 with seconds and a
/// zone (`2026-11-29T07:35:06+00:00`, `…Z`, `2026-11-29 07:35:06 +0000` as Jekyll's `{{ date }}`
/// prints it, fractions of a second allowed) and RFC 2822 (`Sun, 29 Nov 2026 07:35:06 +0000`,
/// as RSS writes it). A date without a time is never blanked: many pages share a day.
const TIMESTAMP: &str = r"(?x)
    (?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[T\x20](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:[.,][0-9]{1,9})?
        \x20?(?P<zone>Z|UTC|[+-][0-9]{2}:?[0-9]{2})
  | (?P<rfc>(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),\x20[0-9]{1,2}\x20(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)
        \x20[0-9]{4}\x20[0-9]{2}:[0-9]{2}:[0-9]{2}\x20(?:[+-][0-9]{4}|GMT|UTC|UT|Z))";

static TIMESTAMP_RE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, checked by a unit test.
    Regex::new(TIMESTAMP).unwrap_or_else(|_| Regex::new("$^").unwrap_or_else(|_| unreachable!()))
});

/// The instant a recognised spelling names, in seconds since the epoch (fractions dropped).
fn instant_of(caps: &Captures<'_>) -> Option<i64> {
    if let Some(rfc) = caps.name("rfc") {
        return jiff::fmt::rfc2822::DateTimeParser::new()
            .parse_timestamp(rfc.as_bytes())
            .ok()
            .map(|t| t.as_second());
    }
    let date = std::str::from_utf8(caps.name("date")?.as_bytes()).ok()?;
    let time = std::str::from_utf8(caps.name("time")?.as_bytes()).ok()?;
    let zone = std::str::from_utf8(caps.name("zone")?.as_bytes()).ok()?;
    let zone = match zone {
        "Z" | "UTC" => "+00:00".to_string(),
        z if z.len() == 5 => format!("{}:{}", &z[..3], &z[3..]),
        z => z.to_string(),
    };
    format!("{date}T{time}{zone}")
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

/// The first recognised instant in `text`.
pub fn first_instant(text: &[u8]) -> Option<i64> {
    TIMESTAMP_RE
        .captures_iter(text)
        .find_map(|c| instant_of(&c))
}

/// The instants learned from the stamps of one build, each with the stamp it came from.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learned {
    pub instants: BTreeMap<i64, usize>,
    /// The days the instants can be spelled in, in any time zone (`2026-11-29`, ` Nov 2026`):
    /// a text with none of them holds none of the instants, and is not searched further.
    #[serde(skip)]
    days: Option<Regex>,
}

impl PartialEq for Learned {
    fn eq(&self, other: &Self) -> bool {
        self.instants == other.instants
    }
}

impl Eq for Learned {}

impl Learned {
    /// The instants, each with the stamp it came from.
    pub fn new(instants: BTreeMap<i64, usize>) -> Learned {
        let mut literals = BTreeSet::new();
        for t in instants.keys() {
            // A zone moves the day by at most 14 hours either way.
            for shift in [-86_400, 0, 86_400] {
                let Ok(ts) = jiff::Timestamp::from_second(t + shift) else {
                    continue;
                };
                literals.insert(ts.strftime("%Y-%m-%d").to_string());
                literals.insert(ts.strftime(" %b %Y").to_string());
            }
        }
        let pattern = literals
            .iter()
            .map(|l| regex::escape(l))
            .collect::<Vec<_>>()
            .join("|");
        let days = (!literals.is_empty())
            .then(|| Regex::new(&pattern).ok())
            .flatten();
        Learned { instants, days }
    }

    /// Whether `text` may spell one of the instants (false: it surely does not).
    fn may_hold(&self, text: &[u8]) -> bool {
        self.days.as_ref().is_none_or(|d| d.is_match(text))
    }

    /// The learned instants as `(RFC 3339 UTC, stamp name, file)`, for `-v` and `explain`.
    pub fn describe(&self, rules: &ContentRules) -> Vec<String> {
        self.instants
            .iter()
            .filter_map(|(t, i)| {
                let stamp = rules.stamps.get(*i)?;
                let when = jiff::Timestamp::from_second(*t).ok()?;
                Some(format!("{} {when}, read in {}", stamp.name, stamp.file))
            })
            .collect()
    }
}

/// One match blanked in a file: the rule's name, where, what, and a little context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blanked {
    pub rule: String,
    pub at: usize,
    pub text: String,
    pub before: String,
    pub after: String,
}

/// How a text file came out of the rules.
#[derive(Debug)]
pub struct Applied<'t> {
    pub text: Cow<'t, [u8]>,
    /// Bit `i` set: the `i`th of [`ContentRules::kinds`] blanked something.
    pub kinds: u64,
    /// What each kind blanked, in two bytes a kind ([`trace_slot`]): two builds whose traces
    /// differ in a kind's slot differ by that kind's noise.
    pub trace: [u8; 32],
}

/// The two bytes of a trace that kind `i` writes (kinds past the 16th share the last).
pub fn trace_slot(i: usize) -> std::ops::Range<usize> {
    let at = 2 * i.min(15);
    at..at + 2
}

impl ContentRules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.stamps.is_empty()
    }

    pub fn applies_to(&self, rel: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        match name.rsplit_once('.') {
            Some((_, ext)) => self.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)),
            None => false,
        }
    }

    /// The names the precision report counts by: each rule's and each stamp's, once, in order
    /// (at most 64; later ones share the last).
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = Vec::new();
        for name in self
            .rules
            .iter()
            .map(|r| &r.name)
            .chain(self.stamps.iter().map(|s| &s.name))
        {
            if !kinds.contains(name) {
                kinds.push(name.clone());
            }
        }
        kinds
    }

    /// Every rule's and stamp's name, in order, repeats included.
    fn names(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .map(|r| r.name.as_str())
            .chain(self.stamps.iter().map(|s| s.name.as_str()))
    }

    /// `name`'s place in [`ContentRules::kinds`], and how many kinds there are, found without
    /// building the list (this runs for every text file).
    fn kind_of(&self, name: &str) -> (usize, usize) {
        let (mut place, mut count) = (0, 0);
        for (i, n) in self.names().enumerate() {
            if self.names().take(i).any(|earlier| earlier == n) {
                continue;
            }
            if n == name {
                place = count;
            }
            count += 1;
        }
        (place, count)
    }

    /// A fingerprint of the rules: state written under other rules holds hashes that don't compare.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for r in &self.rules {
            hasher.update(b"pattern\0");
            hasher.update(r.pattern.as_str().as_bytes());
            hasher.update(b"\0");
        }
        for s in &self.stamps {
            hasher.update(match s.kind {
                StampKind::BuildTime => &b"build-time\0"[..],
                StampKind::FileTime => &b"file-time\0"[..],
            });
            hasher.update(s.file.as_bytes());
            hasher.update(b"\0");
            hasher.update(s.pattern.as_str().as_bytes());
            hasher.update(b"\0");
        }
        if !self.is_empty() {
            let mut exts: Vec<String> = self.extensions.iter().map(|e| e.to_lowercase()).collect();
            exts.sort();
            exts.dedup();
            for e in exts {
                hasher.update(b"ext\0");
                hasher.update(e.as_bytes());
                hasher.update(b"\0");
            }
        }
        super::hex(&hasher.finalize())
    }

    /// Reads the build-wide times from the stamps' files under `root`. A stamp whose file is
    /// missing, or holds no recognisable time, teaches nothing.
    pub fn learn(&self, root: &Path) -> Result<Learned> {
        let mut learned = Learned::default();
        for (i, stamp) in self.stamps.iter().enumerate() {
            let path = root.join(&stamp.file);
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::SiteRead { path, source }),
            };
            match stamp.kind {
                StampKind::BuildTime => {
                    let found = stamp
                        .pattern
                        .captures(&text)
                        .and_then(|c| c.get(1))
                        .and_then(|m| first_instant(m.as_bytes()));
                    if let Some(t) = found {
                        learned.instants.entry(t).or_insert(i);
                    }
                }
                StampKind::FileTime => {
                    for caps in stamp.pattern.captures_iter(&text) {
                        let (Some(loc), Some(time)) = (caps.name("loc"), caps.name("time")) else {
                            continue;
                        };
                        let Some(t) = first_instant(time.as_bytes()) else {
                            continue;
                        };
                        if file_time(root, loc.as_bytes()) == Some(t) {
                            learned.instants.entry(t).or_insert(i);
                        }
                    }
                }
            }
        }
        Ok(Learned::new(learned.instants))
    }

    /// Blanks the rules' matches, then the learned instants, calling `seen` on each blank (with
    /// the text as the earlier rules left it, as the hash sees it).
    pub fn apply<'t>(
        &self,
        text: &'t [u8],
        learned: &Learned,
        mut seen: Option<&mut dyn FnMut(Blanked)>,
    ) -> Applied<'t> {
        let mut mask = 0u64;
        // One hasher a kind, made at the first blank: most files have none.
        let mut traces: Vec<Sha256> = Vec::new();
        let mut trace = |name: &str, blanked: &[u8]| {
            let (i, count) = self.kind_of(name);
            mask |= 1 << i.min(63);
            if traces.is_empty() {
                traces.resize_with(count, Sha256::new);
            }
            if let Some(h) = traces.get_mut(i) {
                h.update(blanked);
                h.update(b"\0");
            }
        };
        let mut text = Cow::Borrowed(text);
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let context = |text: &[u8], start: usize, end: usize| {
            (
                lossy(&text[start.saturating_sub(24)..start]),
                lossy(&text[end..(end + 24).min(text.len())]),
            )
        };
        for rule in &self.rules {
            if !rule.pattern.is_match(&text) {
                continue;
            }
            for m in rule.pattern.find_iter(&text) {
                trace(&rule.name, m.as_bytes());
                if let Some(seen) = seen.as_mut() {
                    let (before, after) = context(&text, m.start(), m.end());
                    seen(Blanked {
                        rule: rule.name.clone(),
                        at: m.start(),
                        text: lossy(m.as_bytes()),
                        before,
                        after,
                    });
                }
            }
            text = Cow::Owned(rule.pattern.replace_all(&text, &b""[..]).into_owned());
        }
        if !learned.instants.is_empty() && learned.may_hold(&text) {
            let mut out: Option<Vec<u8>> = None;
            let mut last = 0;
            for caps in TIMESTAMP_RE.captures_iter(&text) {
                let Some(whole) = caps.get(0) else { continue };
                let Some(stamp) = instant_of(&caps).and_then(|t| learned.instants.get(&t)) else {
                    continue;
                };
                let name = self.stamps.get(*stamp).map_or("", |s| s.name.as_str());
                trace(name, whole.as_bytes());
                if let Some(seen) = seen.as_mut() {
                    let (before, after) = context(&text, whole.start(), whole.end());
                    seen(Blanked {
                        rule: name.to_string(),
                        at: whole.start(),
                        text: lossy(whole.as_bytes()),
                        before,
                        after,
                    });
                }
                let buf = out.get_or_insert_with(Vec::new);
                buf.extend_from_slice(&text[last..whole.start()]);
                last = whole.end();
            }
            if let Some(mut buf) = out {
                buf.extend_from_slice(&text[last..]);
                text = Cow::Owned(buf);
            }
        }
        let mut sum = [0u8; 32];
        for (i, h) in traces.into_iter().enumerate() {
            let digest = h.finalize();
            for (slot, byte) in trace_slot(i).zip(digest.iter()) {
                sum[slot] ^= byte;
            }
        }
        Applied {
            text,
            kinds: mask,
            trace: sum,
        }
    }
}

/// The modification time, in whole seconds, of the output file `loc` names: an absolute URL
/// (its path, percent-decoded, tried without its leading segments too, for a site under a
/// path) or a path.
fn file_time(root: &Path, loc: &[u8]) -> Option<i64> {
    let loc = std::str::from_utf8(loc).ok()?;
    let path = match url::Url::parse(loc) {
        Ok(u) => u.path().to_string(),
        Err(_) => loc.to_string(),
    };
    let path = percent_encoding::percent_decode_str(&path)
        .decode_utf8()
        .ok()?
        .into_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.contains(&"..") {
        return None;
    }
    (0..segments.len()).find_map(|skip| {
        let meta = std::fs::metadata(root.join(segments[skip..].join("/"))).ok()?;
        if !meta.is_file() {
            return None;
        }
        let since = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH);
        i64::try_from(since.ok()?.as_secs()).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn rule(name: &str, pattern: &str) -> Rule {
        Rule {
            name: name.into(),
            pattern: Regex::new(pattern).expect("regex"),
        }
    }

    fn feed_stamp() -> Stamp {
        Stamp {
            name: "build time".into(),
            file: "feed.xml".into(),
            pattern: Regex::new(r"<updated>([^<]*)</updated>").expect("regex"),
            kind: StampKind::BuildTime,
        }
    }

    fn rules() -> ContentRules {
        ContentRules {
            rules: vec![rule("generator tag", r#"<meta name="generator"[^>]*>"#)],
            stamps: vec![feed_stamp()],
            extensions: vec!["html".into(), "xml".into()],
        }
    }

    fn blank(rules: &ContentRules, learned: &Learned, text: &str) -> (String, u64) {
        let applied = rules.apply(text.as_bytes(), learned, None);
        (
            String::from_utf8(applied.text.into_owned()).expect("utf8"),
            applied.kinds,
        )
    }

    #[test]
    fn the_timestamp_pattern_compiles() {
        assert!(Regex::new(TIMESTAMP).is_ok());
    }

    #[test]
    fn every_common_spelling_of_one_instant_is_the_same_instant() {
        let t = 1_795_937_706; // 2026-11-29T07:35:06Z
        for spelling in [
            "2026-11-29T07:35:06+00:00",
            "2026-11-29T07:35:06Z",
            "2026-11-29T07:35:06.123456Z",
            "2026-11-29 07:35:06 +0000",
            "2026-11-29T08:35:06+01:00",
            "2026-11-29T02:35:06-0500",
            "Sun, 29 Nov 2026 07:35:06 +0000",
            "Sun, 29 Nov 2026 07:35:06 GMT",
        ] {
            assert_eq!(first_instant(spelling.as_bytes()), Some(t), "{spelling}");
        }
        for not_an_instant in [
            "2026-11-29",
            "Nov 29, 2026",
            "2026-11-29T07:35",
            "2026-11-29T07:35:06",
            "Mon, 29 Nov 2026 07:35:06 +0000", // not a Monday
        ] {
            assert_eq!(
                first_instant(not_an_instant.as_bytes()),
                None,
                "{not_an_instant}"
            );
        }
    }

    #[test]
    fn the_learned_build_time_is_blanked_everywhere_and_other_dates_stay() {
        let site = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            site.path().join("feed.xml"),
            "<feed><updated>2026-11-29T07:35:06+00:00</updated>\
             <entry><updated>2024-06-15T00:00:00+00:00</updated></entry></feed>",
        )
        .expect("write");
        let rules = rules();
        let learned = rules.learn(site.path()).expect("learn");
        assert_eq!(learned.instants, BTreeMap::from([(1_795_937_706, 0)]));

        let page = r#"<meta name="generator" content="Jekyll v4.3.1"><meta property="article:published_time" content="2026-11-29T07:35:06+00:00">{"datePublished":"2026-11-29T07:35:06+00:00","dateModified":"2024-06-15T00:00:00+00:00"}<time>Sun, 29 Nov 2026 07:35:06 +0000</time>"#;
        let (text, kinds) = blank(&rules, &learned, page);
        assert_eq!(
            text,
            r#"<meta property="article:published_time" content="">{"datePublished":"","dateModified":"2024-06-15T00:00:00+00:00"}<time></time>"#
        );
        assert_eq!(kinds, 0b11, "both kinds blanked something");
        // A second later is another instant: content.
        let (text, kinds) = blank(&rules, &learned, "<p>2026-11-29T07:35:07Z</p>");
        assert_eq!((text.as_str(), kinds), ("<p>2026-11-29T07:35:07Z</p>", 0));
    }

    #[test]
    fn an_instant_is_found_whatever_day_its_zone_puts_it_on() {
        // 23:30 UTC on the 29th is the 30th in Europe and still the 29th in America: the
        // quick check for the instant's days must let both through.
        let t = 1_795_995_000; // 2026-11-29T23:30:00Z
        let learned = Learned::new(BTreeMap::from([(t, 0)]));
        let rules = rules();
        for spelling in [
            "2026-11-29T23:30:00Z",
            "2026-11-30T01:30:00+02:00",
            "2026-11-29T18:30:00-05:00",
            "Mon, 30 Nov 2026 01:30:00 +0200",
        ] {
            let (text, kinds) = blank(&rules, &learned, &format!("<p>{spelling}</p>"));
            assert_eq!((text.as_str(), kinds), ("<p></p>", 0b10), "{spelling}");
        }
        let (text, _) = blank(&rules, &learned, "<p>2026-11-28T23:30:00Z</p>");
        assert_eq!(text, "<p>2026-11-28T23:30:00Z</p>", "another instant stays");
    }

    #[test]
    fn without_the_stamps_file_nothing_is_learned_and_dates_stay() {
        let site = tempfile::tempdir().expect("tempdir");
        let rules = rules();
        let learned = rules.learn(site.path()).expect("learn");
        assert!(learned.instants.is_empty());
        let (text, _) = blank(&rules, &learned, "<p>2026-11-29T07:35:06Z</p>");
        assert_eq!(text, "<p>2026-11-29T07:35:06Z</p>");
    }

    #[test]
    fn a_sitemap_time_that_is_the_files_own_modification_time_is_learned() {
        let site = tempfile::tempdir().expect("tempdir");
        let dir = site.path().join("assets/files");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let pdf = dir.join("menu du café.pdf");
        std::fs::write(&pdf, "%PDF").expect("write");
        let mtime = UNIX_EPOCH + Duration::from_secs(1_795_937_706) + Duration::from_millis(700);
        std::fs::File::options()
            .write(true)
            .open(&pdf)
            .and_then(|f| f.set_modified(mtime))
            .expect("touch");
        std::fs::write(
            site.path().join("sitemap.xml"),
            "<urlset>\
             <url><loc>https://example.com/blog/assets/files/menu%20du%20caf%C3%A9.pdf</loc><lastmod>2026-11-29T08:35:06+01:00</lastmod></url>\
             <url><loc>https://example.com/about/</loc><lastmod>2026-10-01T10:00:00+00:00</lastmod></url>\
             </urlset>",
        )
        .expect("write");
        let rules = ContentRules {
            rules: vec![],
            stamps: vec![Stamp {
                name: "file time".into(),
                file: "sitemap.xml".into(),
                pattern: Regex::new(
                    r"<loc>(?P<loc>[^<]*)</loc>\s*<lastmod>(?P<time>[^<]*)</lastmod>",
                )
                .expect("regex"),
                kind: StampKind::FileTime,
            }],
            extensions: vec!["xml".into()],
        };
        let learned = rules.learn(site.path()).expect("learn");
        assert_eq!(learned.instants, BTreeMap::from([(1_795_937_706, 0)]));
        let sitemap = std::fs::read(site.path().join("sitemap.xml")).expect("read");
        let text = rules.apply(&sitemap, &learned, None).text.into_owned();
        let text = String::from_utf8(text).expect("utf8");
        assert!(text.contains("<lastmod></lastmod>"), "{text}");
        assert!(
            text.contains("<lastmod>2026-10-01T10:00:00+00:00</lastmod>"),
            "{text}"
        );
    }

    #[test]
    fn explain_sees_every_blank_with_its_rule_and_context() {
        let site = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            site.path().join("feed.xml"),
            "<updated>2026-11-29T07:35:06Z</updated>",
        )
        .expect("write");
        let rules = rules();
        let learned = rules.learn(site.path()).expect("learn");
        let mut seen = Vec::new();
        let mut on = |b: Blanked| seen.push(b);
        rules.apply(
            br#"<head><meta name="generator" content="x"><time>2026-11-29T07:35:06Z</time>"#,
            &learned,
            Some(&mut on),
        );
        assert_eq!(
            seen,
            vec![
                Blanked {
                    rule: "generator tag".into(),
                    at: 6,
                    text: r#"<meta name="generator" content="x">"#.into(),
                    before: "<head>".into(),
                    after: "<time>2026-11-29T07:35:0".into(),
                },
                Blanked {
                    rule: "build time".into(),
                    at: 12,
                    text: "2026-11-29T07:35:06Z".into(),
                    before: "<head><time>".into(),
                    after: "</time>".into(),
                },
            ]
        );
    }
}
