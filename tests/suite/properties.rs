//! A seeded, randomized end-to-end test of sitepurge's core promise: a change is never lost (the
//! state only advances for files whose URLs were all purged, so a failed purge stays pending
//! until a later run purges it).
//!
//! Each scenario builds a temp site (`_site/` with 15 files, some `index.html` in folders, some
//! with a space or a non-ASCII letter in the name) and a `sitepurge.toml` pointing at the local
//! stand-in for the Cloudflare API (`batch_size = 3`, `retries = 1`, concurrency 1 or 2 by seed,
//! threshold 100% so the plan is always "these URLs"), records a baseline, then takes 12 random
//! steps: add, modify and remove random files (and rewrite some with the same bytes, which is no
//! change); sometimes make the fake fail every purge (`fail_all`), or script its answers batch by
//! batch (answered, failing once then retried, failing for good) so that only some batches fail;
//! then `sitepurge run`. After the steps the fake is healthy again and a last run must purge
//! whatever is still pending.
//!
//! The test keeps its own model, from the files it wrote and the purge requests the fake recorded
//! (URLs are worked out here from the file names, never with sitepurge's code): per output path,
//! the step of its last content change; per URL, the steps at which a request naming it was
//! answered with success. The property, after the last run: every URL of every path that changed
//! at all (a superset of those that differ from the baseline) had a successful purge at or after
//! the step of that path's last change (a step's run comes after its edits). Each run is also
//! checked against the state file it started from: it exits 0 or 1, and 0 exactly when every
//! pending URL was purged; it asks for the URLs of the files that differ from the state and no
//! others; it moves the state forward for exactly the files whose URLs were all purged; the fake
//! sees no request that breaks its rules. At the end `sitepurge plan --json` must say "nothing".
//!
//! What the steps do to the site and the fake is fixed by the seed; with `concurrency = 2`,
//! which request meets which scripted answer depends on arrival order, which is why every check
//! works from what the fake actually recorded. A failure message names the seed and every step.
//!
//! The main test writes new content on every write and never removes a file the state does not
//! record ([`Mode::FreshContent`]): a file never goes back to the content the state file holds
//! for it. When it does ([`Mode::Reverts`]), the purge that failed must still be made: the state
//! lists such paths as `pending` (this once was a bug; two tests below keep it fixed).
#![cfg(unix)]

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;
use support::cloudflare::{Behaviour, FakeCloudflare, RecordedRequest, TOKEN, ZONE_ID};
use support::expect::sha;
use support::site::{Folder, Out, Site, sitepurge_in};

const BASE: &str = "https://example.com/";
const SEEDS: [u64; 8] = [
    0x5eed_0001,
    0x5eed_0002,
    0x0dd_ba11,
    0xc0ff_ee00,
    0xdead_beef,
    0x1234_5678,
    0x0bad_f00d,
    0x7e57_ab1e,
];
const STEPS: usize = 12;
const BATCH_SIZE: usize = 3;

/// The site at baseline.
pub(crate) const INITIAL: [&str; 15] = [
    "index.html",
    "about.html",
    "404.html",
    "feed.xml",
    "blog/index.html",
    "blog/first-post/index.html",
    "blog/second post/index.html",
    "blog/café/index.html",
    "docs/index.html",
    "docs/api.html",
    "docs/naïve guide.html",
    "css/site.css",
    "js/app.js",
    "img/logo.png",
    "files/menu du café.pdf",
];

/// Paths a step may add (as may any path of [`INITIAL`] once removed).
pub(crate) const EXTRA: [&str; 8] = [
    "news/index.html",
    "news/über uns/index.html",
    "blog/third-post/index.html",
    "docs/faq.html",
    "img/photo 1.jpg",
    "résumé.html",
    "日本/index.html",
    "robots.txt",
];

/// The files [`Mode::Reverts`] edits: some at baseline, one added later.
const HOT: [&str; 4] = [
    "index.html",
    "blog/café/index.html",
    "docs/naïve guide.html",
    "news/über uns/index.html",
];

// ------------------------------------------------------------------------------------------
// A small seeded PRNG (xorshift64*, seeded through splitmix64)
// ------------------------------------------------------------------------------------------

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(crate) fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

// ------------------------------------------------------------------------------------------
// URLs, worked out here from the file names
// ------------------------------------------------------------------------------------------

/// Percent-encodes a path as a browser sends it, for the names this test uses: ASCII letters,
/// digits and `-._~/` kept; space and every byte of a non-ASCII letter as upper-case `%XX`.
fn encode(path: &str) -> String {
    let mut out = String::new();
    for &b in path.as_bytes() {
        assert!(
            b.is_ascii_alphanumeric() || b" -._~/".contains(&b) || !b.is_ascii(),
            "{path:?}: this test's encoder knows letters, digits, -._~/, space and non-ASCII"
        );
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            write!(out, "%{b:02X}").expect("write to a String");
        }
    }
    out
}

/// The URLs of an output path: `a/index.html` is both `a/` and `a/index.html`.
pub(crate) fn urls_of(path: &str) -> Vec<String> {
    let encoded = encode(path);
    match encoded.strip_suffix("index.html") {
        Some(dir) if dir.is_empty() || dir.ends_with('/') => {
            vec![format!("{BASE}{dir}"), format!("{BASE}{encoded}")]
        }
        _ => vec![format!("{BASE}{encoded}")],
    }
}

/// The URLs named by a purge request's `files`.
fn files_of(r: &RecordedRequest) -> Vec<String> {
    let Some(files) = r
        .json()
        .and_then(|b| b.get("files"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    files
        .iter()
        .filter_map(|f| f.as_str().or_else(|| f.get("url").and_then(Value::as_str)))
        .map(str::to_string)
        .collect()
}

/// Whether the fake answered the request with success (so the cache dropped its URLs).
fn succeeded(r: &RecordedRequest) -> bool {
    r.status == Some(200)
        && r.response
            .as_ref()
            .and_then(|b| b.get("success"))
            .and_then(Value::as_bool)
            == Some(true)
}

// ------------------------------------------------------------------------------------------
// The scenario
// ------------------------------------------------------------------------------------------

/// How steps may change files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Every write is new content, and a file is removed only while the state records it: the
    /// content never goes back to what the state file holds for it.
    FreshContent,
    /// Writes pick among three versions (the baseline's among them) and any file may be removed:
    /// a file may go back to the content the state holds while a purge of it is pending.
    Reverts,
}

/// What one `sitepurge run` did, as the fake saw it.
struct RunRecord {
    out: Out,
    requests: Vec<RecordedRequest>,
}

struct Scenario {
    seed: u64,
    mode: Mode,
    rng: Rng,
    cf: FakeCloudflare,
    site: Site,
    /// What `_site` holds now: path -> bytes.
    files: BTreeMap<String, Vec<u8>>,
    /// Path -> step of its last content change (added, modified or removed).
    last_change: BTreeMap<String, usize>,
    /// URL -> steps at which a request naming it was answered with success.
    purged_at: BTreeMap<String, BTreeSet<usize>>,
    /// For fresh content: a counter that makes every write unique.
    writes: u64,
    trace: Vec<String>,
}

impl Scenario {
    fn new(seed: u64, mode: Mode) -> Scenario {
        let mut rng = Rng::new(seed);
        let concurrency = 1 + rng.below(2);
        let site = Site::new();
        site.put(
            "sitepurge.toml",
            format!(
                "base_urls = [\"{BASE}\"]\n\
                 zone = \"{ZONE_ID}\"\n\
                 generator = \"none\"\n\
                 retry_delay = \"1ms\"\n\
                 max_retry_delay = \"5ms\"\n\
                 retries = 1\n\
                 batch_size = {BATCH_SIZE}\n\
                 concurrency = {concurrency}\n\
                 threshold = \"100%\"\n"
            ),
        );
        let mut s = Scenario {
            seed,
            mode,
            rng,
            cf: FakeCloudflare::start(),
            site,
            files: BTreeMap::new(),
            last_change: BTreeMap::new(),
            purged_at: BTreeMap::new(),
            writes: 0,
            trace: vec![format!(
                "seed {seed:#x}, {mode:?}, concurrency {concurrency}"
            )],
        };
        for path in INITIAL {
            let body = s.content(path, 0);
            s.site.page(path, &body);
            s.files.insert(path.to_string(), body);
        }
        let out = Out::of(sitepurge_in(s.site.root()).args(["baseline", "-q"]));
        s.check(out.code == 0, || format!("baseline failed: {out:?}"));
        s
    }

    /// Panics with the seed, every step so far and `message`.
    fn fail(&self, message: &str) -> ! {
        panic!(
            "{message}\n--- seed {:#x} ({:?}), steps so far:\n{}",
            self.seed,
            self.mode,
            self.trace.join("\n")
        )
    }

    fn check(&self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.fail(&message());
        }
    }

    /// Version `n` of a file's content (binary for images and PDFs).
    fn content(&self, path: &str, n: u64) -> Vec<u8> {
        if path.ends_with(".png") || path.ends_with(".jpg") || path.ends_with(".pdf") {
            let mut bytes = vec![0x89, b'B', b'I', b'N', 0, 0xff];
            bytes.extend_from_slice(&n.to_le_bytes());
            bytes.extend_from_slice(path.as_bytes());
            bytes
        } else {
            format!("<p>{path}</p>\n<p>version {n}</p>\n").into_bytes()
        }
    }

    /// The content of the next write to `path`.
    fn next_content(&mut self, path: &str) -> Vec<u8> {
        match self.mode {
            Mode::FreshContent => {
                self.writes += 1;
                let n = self.writes;
                self.content(path, n)
            }
            Mode::Reverts => {
                let n = self.rng.below(3) as u64;
                self.content(path, n)
            }
        }
    }

    /// Current hashes: what a scan of `_site` finds (no `ignore_content` rules are in force).
    fn hashes(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|(p, b)| (p.clone(), sha(b)))
            .collect()
    }

    fn state(&self) -> BTreeMap<String, String> {
        self.site.state_files()
    }

    /// Writes `body` to `path` (None: removes it).
    fn set_file(&mut self, path: &str, body: Option<Vec<u8>>) {
        let before = self.files.get(path).cloned();
        let what = match (&before, &body) {
            (None, None) => return,
            (Some(_), None) => "remove",
            (None, Some(_)) => "add",
            (Some(old), Some(new)) if old == new => "rewrite unchanged",
            (Some(_), Some(_)) => "modify",
        };
        match &body {
            Some(b) => {
                self.site.page(path, b);
                self.files.insert(path.to_string(), b.clone());
            }
            None => {
                self.site.remove(path);
                self.files.remove(path);
            }
        }
        self.trace.push(format!("  {what} {path:?}"));
    }

    /// Writes (or with None removes) one file as step `step`, noting the change.
    fn apply(&mut self, step: usize, path: &str, body: Option<Vec<u8>>) {
        if self.files.get(path) != body.as_ref() {
            self.last_change.insert(path.to_string(), step);
        }
        self.set_file(path, body);
    }

    /// Random edits for one step (a build and deploy), noting the paths whose content differs
    /// at its end: a file changed and changed back within one step did not change.
    fn edit(&mut self, step: usize) {
        let before = self.files.clone();
        match self.mode {
            Mode::FreshContent => self.edit_fresh(),
            Mode::Reverts => self.edit_hot(),
        }
        for path in before.keys().chain(self.files.keys()) {
            if before.get(path) != self.files.get(path) {
                self.last_change.insert(path.clone(), step);
            }
        }
    }

    /// Adds, modifies, removes or rewrites unchanged any of the site's files, with new content.
    fn edit_fresh(&mut self) {
        let state = self.state();
        for _ in 0..self.rng.below(6) {
            let present: Vec<String> = self.files.keys().cloned().collect();
            let absent: Vec<String> = INITIAL
                .iter()
                .chain(EXTRA.iter())
                .map(|p| p.to_string())
                .filter(|p| !self.files.contains_key(p))
                .collect();
            let roll = self.rng.below(100);
            if roll < 20 && !absent.is_empty() {
                let path = self.rng.pick(&absent);
                let body = self.next_content(&path);
                self.set_file(&path, Some(body));
            } else if roll < 40 && present.len() > 1 {
                let path = self.rng.pick(&present);
                // A file the state does not record (an addition not yet purged) is not removed:
                // that would bring it back to what the state says (see Mode::Reverts).
                if state.contains_key(&path) {
                    self.set_file(&path, None);
                }
            } else if roll < 50 {
                let path = self.rng.pick(&present);
                let same = self.files[&path].clone();
                self.set_file(&path, Some(same));
            } else {
                let path = self.rng.pick(&present);
                let body = self.next_content(&path);
                self.set_file(&path, Some(body));
            }
        }
    }

    /// Writes one of three versions to, or removes, files of a small hot set, so that a file
    /// often goes back to an earlier content (or absence) while its purge is pending.
    fn edit_hot(&mut self) {
        for _ in 0..1 + self.rng.below(2) {
            let path = self.rng.pick(&HOT).to_string();
            let body = if self.files.contains_key(&path) && self.rng.below(100) < 30 {
                None
            } else {
                Some(self.next_content(&path))
            };
            self.set_file(&path, body);
        }
    }

    /// URLs a run would purge now: those of the files that differ from the state.
    fn pending(&self) -> BTreeSet<String> {
        let (state, now, listed) = (self.state(), self.hashes(), self.state_pending());
        state
            .keys()
            .chain(now.keys())
            .chain(listed.iter())
            .filter(|p| state.get(*p) != now.get(*p) || listed.contains(*p))
            .flat_map(|p| urls_of(p))
            .collect()
    }

    /// The paths the state lists as pending (a purge of them failed).
    fn state_pending(&self) -> BTreeSet<String> {
        self.site.state_pending()
    }

    /// A failing answer to one purge request (all retried by sitepurge), and its name.
    fn fault(&mut self) -> (Behaviour, &'static str) {
        match self.rng.below(16) {
            0..=4 => (Behaviour::status(500), "500"),
            5..=6 => (Behaviour::status(503), "503"),
            7 => (Behaviour::status(408), "408"),
            8..=9 => (Behaviour::SuccessFalse, "200 success:false"),
            10..=11 => (Behaviour::rate_limited("0"), "429"),
            12..=13 => (
                Behaviour::Raw {
                    code: 502,
                    content_type: "text/html".into(),
                    body: "<html><body>502 Bad Gateway</body></html>".into(),
                },
                "502 html",
            ),
            _ => (Behaviour::Drop, "dropped connection"),
        }
    }

    /// Sets up the fake for one step's run: healthy; every purge failing; or, per batch to
    /// send, a scripted plan: answered normally, failing once (the retry goes through), or
    /// failing twice (for good, with `retries = 1`), so that only some batches fail.
    fn faults(&mut self) {
        let batches = self.pending().len().div_ceil(BATCH_SIZE);
        let roll = self.rng.below(100);
        if roll < 20 {
            let code = self.rng.pick(&[500, 502, 503]);
            self.cf.fail_all(Some(code));
            self.trace.push(format!("  fake: every purge fails {code}"));
        } else if roll < 65 && batches > 0 {
            let mut script: Vec<(Behaviour, &str)> = Vec::new();
            for _ in 0..batches {
                match self.rng.below(3) {
                    0 => script.push((Behaviour::Delay(Duration::ZERO), "ok")),
                    1 => {
                        let f = self.fault();
                        script.push(f);
                    }
                    _ => {
                        let (f, g) = (self.fault(), self.fault());
                        script.extend([f, g]);
                    }
                }
            }
            while script.last().is_some_and(|(_, name)| *name == "ok") {
                script.pop();
            }
            if script.is_empty() {
                return;
            }
            let names: Vec<&str> = script.iter().map(|(_, name)| *name).collect();
            self.trace
                .push(format!("  fake: next purges answered {}", names.join(", ")));
            self.cf.script(script.into_iter().map(|(b, _)| b));
        }
    }

    /// `sitepurge run` as step `step`, checked against the state it started from.
    fn run(&mut self, step: usize) -> RunRecord {
        let state_before = self.state();
        let pending_before = self.state_pending();
        let now = self.hashes();
        let pending = self.pending();
        let first = self.cf.requests().len();
        let out = Out::of(
            sitepurge_in(self.site.root())
                .env("CLOUDFLARE_API_BASE_URL", self.cf.base_url())
                .env("CLOUDFLARE_API_TOKEN", TOKEN)
                .arg("run"),
        );
        let requests: Vec<RecordedRequest> = self.cf.requests().split_off(first);
        let mut ok_urls = BTreeSet::new();
        let mut sent = BTreeSet::new();
        let mut answers = Vec::new();
        for r in &requests {
            self.check(r.purge_zone() == Some(ZONE_ID), || {
                format!("step {step}: not a purge of the zone: {r:?}")
            });
            let files = files_of(r);
            self.check(!files.is_empty() && files.len() <= BATCH_SIZE, || {
                format!("step {step}: a purge of {} files: {r:?}", files.len())
            });
            let ok = succeeded(r);
            answers.push(match r.status {
                Some(s) if ok => format!("{s} ok"),
                Some(s) => format!("{s} failed"),
                None => "no answer".to_string(),
            });
            for url in files {
                if ok {
                    self.purged_at.entry(url.clone()).or_default().insert(step);
                    ok_urls.insert(url.clone());
                }
                sent.insert(url);
            }
        }
        self.trace.push(format!(
            "  run {step}: exit {}, {} pending URL(s), {} request(s) [{}]",
            out.code,
            pending.len(),
            requests.len(),
            answers.join(", ")
        ));
        self.check(out.code == 0 || out.code == 1, || {
            format!(
                "step {step}: exit code {} (0 or 1 expected): {out:?}",
                out.code
            )
        });
        let violations = self.cf.violations();
        self.check(violations.is_empty(), || {
            format!("step {step}: the fake saw rule breaks: {violations:#?}")
        });
        // Two dropped connections in a row make sitepurge stop sending (the service looks
        // unreachable); otherwise it asks for every pending URL.
        let gave_up = requests.iter().any(|r| r.status.is_none());
        let missing: Vec<&String> = pending.difference(&sent).collect();
        self.check(gave_up || missing.is_empty(), || {
            format!("step {step}: pending URLs never asked for: {missing:?}")
        });
        let stray: Vec<&String> = sent.difference(&pending).collect();
        self.check(stray.is_empty(), || {
            format!("step {step}: purged URLs neither changed nor pending: {stray:?}")
        });
        let all_purged = pending.is_subset(&ok_urls);
        self.check((out.code == 0) == all_purged, || {
            format!(
                "step {step}: exit {} but {} of the {} pending URLs purged: {out:?}",
                out.code,
                pending.intersection(&ok_urls).count(),
                pending.len()
            )
        });
        // The state moves forward for exactly the files whose URLs were all purged.
        let state_after = self.state();
        let paths: BTreeSet<&String> = state_before
            .keys()
            .chain(now.keys())
            .chain(state_after.keys())
            .chain(pending_before.iter())
            .collect();
        for path in paths {
            let (before, current, after) =
                (state_before.get(path), now.get(path), state_after.get(path));
            let changed = before != current || pending_before.contains(path);
            let expected = if changed && urls_of(path).iter().all(|u| ok_urls.contains(u)) {
                current
            } else {
                before
            };
            self.check(after == expected, || {
                format!(
                    "step {step}: state for {path:?} is {after:?}, expected {expected:?} \
                     (before {before:?}, on disk {current:?})"
                )
            });
        }
        RunRecord { out, requests }
    }

    /// Changes whose URLs were never purged after them: `(path, step of its last change, URL)`.
    fn lost_changes(&self) -> Vec<(String, usize, String)> {
        let mut lost = Vec::new();
        for (path, &changed) in &self.last_change {
            for url in urls_of(path) {
                let purged_after = self
                    .purged_at
                    .get(&url)
                    .is_some_and(|steps| steps.iter().any(|&s| s >= changed));
                if !purged_after {
                    lost.push((path.clone(), changed, url));
                }
            }
        }
        lost
    }

    /// The random steps, then healthy runs until the fake's queue is used up, then a healthy run
    /// that must purge whatever is pending.
    fn play(&mut self, steps: usize) {
        for step in 1..=steps {
            self.trace.push(format!("step {step}:"));
            self.edit(step);
            self.faults();
            self.run(step);
            self.cf.fail_all(None);
        }
        let mut step = steps;
        // A scripted answer left over (a dropped connection makes sitepurge stop sending) would
        // meet the next run's first requests: use them up first.
        while self.cf.pending_script() > 0 {
            step += 1;
            self.trace.push(format!(
                "step {step}: healthy, {} scripted answer(s) left",
                self.cf.pending_script()
            ));
            if self.run(step).requests.is_empty() {
                break;
            }
        }
        step += 1;
        self.trace.push(format!("step {step}: healthy"));
        let last = self.run(step);
        self.check(last.out.code == 0, || {
            format!("the last run, on a healthy fake, failed: {:?}", last.out)
        });
    }

    /// `sitepurge plan --json` must find nothing left to purge.
    fn assert_nothing_planned(&self) {
        let out = Out::of(sitepurge_in(self.site.root()).args(["plan", "--json"]));
        self.check(out.code == 0, || format!("plan failed: {out:?}"));
        let decision = out.json()["decision"].clone();
        self.check(decision == "nothing", || {
            format!("after the last run, plan says {decision}: {}", out.stdout)
        });
    }

    fn assert_no_change_lost(&self) {
        let lost = self.lost_changes();
        self.check(lost.is_empty(), || {
            let lines: Vec<String> = lost
                .iter()
                .map(|(path, step, url)| {
                    let purged = self.purged_at.get(url).cloned().unwrap_or_default();
                    format!(
                        "  {url} ({path:?}, last changed at step {step}; purged at steps {purged:?})"
                    )
                })
                .collect();
            format!(
                "changes never purged after they were made:\n{}",
                lines.join("\n")
            )
        });
    }
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[test]
fn random_edits_and_purge_failures_never_lose_a_change() {
    for seed in SEEDS {
        let mut s = Scenario::new(seed, Mode::FreshContent);
        s.play(STEPS);
        s.assert_no_change_lost();
        s.assert_nothing_planned();
    }
}

/// The oracle is not vacuous: a change that no run purged is reported lost, with its URLs, and
/// a healthy run clears it.
#[test]
fn the_oracle_reports_a_change_no_run_purged() {
    let mut s = Scenario::new(SEEDS[0], Mode::FreshContent);
    s.trace.push("step 1:".into());
    s.apply(
        1,
        "about.html",
        Some(b"<p>about, never purged</p>".to_vec()),
    );
    let lost: Vec<String> = s
        .lost_changes()
        .into_iter()
        .map(|(_, _, url)| url)
        .collect();
    assert_eq!(lost, urls_of("about.html"));
    s.run(1);
    assert!(s.lost_changes().is_empty(), "{:?}", s.lost_changes());
}

/// The oracle's own URL model, written out by hand.
#[test]
fn the_oracle_maps_paths_to_the_urls_browsers_request() {
    assert_eq!(
        urls_of("index.html"),
        [BASE, "https://example.com/index.html"]
    );
    assert_eq!(
        urls_of("blog/café/index.html"),
        [
            "https://example.com/blog/caf%C3%A9/",
            "https://example.com/blog/caf%C3%A9/index.html"
        ]
    );
    assert_eq!(
        urls_of("docs/naïve guide.html"),
        ["https://example.com/docs/na%C3%AFve%20guide.html"]
    );
    assert_eq!(
        urls_of("css/site.css"),
        ["https://example.com/css/site.css"]
    );
}

/// The random test with content that may go back to what the state file records while a purge
/// of it is pending: sitepurge then sees no change and drops the pending purge. Fails on seed
/// 0x5eed0001: `index.html` removed at step 11 (every purge fails), restored at step 12 with
/// the content the state records; its two URLs are never purged again.
#[test]
fn random_edits_with_reverts_never_lose_a_change() {
    for seed in SEEDS {
        let mut s = Scenario::new(seed, Mode::Reverts);
        s.play(STEPS);
        s.assert_no_change_lost();
        s.assert_nothing_planned();
    }
}

/// The smallest case of a file going back. Step 1, every purge failing: `index.html` is removed,
/// `news/über uns/index.html` added, `about.html` modified; sitepurge exits 1 and keeps the
/// state. Step 2, healthy: each file goes back to what the state records (the home page is
/// restored, the new page removed, `about.html` reverted). The cache may have taken the step-1
/// versions (a 404 for `/`, the new page, the new `about.html`) meanwhile, so the five URLs whose
/// purge failed must still be purged, although no file differs from the state.
#[test]
fn a_pending_purge_survives_a_file_going_back_to_its_recorded_content() {
    let mut s = Scenario::new(SEEDS[0], Mode::Reverts);
    let home = s.files["index.html"].clone();
    let about = s.files["about.html"].clone();
    let new_page = "news/über uns/index.html";

    s.trace.push("step 1:".into());
    s.apply(1, "index.html", None);
    s.apply(1, new_page, Some(b"<p>news</p>".to_vec()));
    s.apply(1, "about.html", Some(b"<p>about, edited</p>".to_vec()));
    s.cf.fail_all(Some(500));
    s.trace.push("  fake: every purge fails 500".into());
    let failed = s.run(1);
    assert_eq!(failed.out.code, 1, "{:?}", failed.out);
    s.cf.fail_all(None);

    s.trace.push("step 2:".into());
    s.apply(2, "index.html", Some(home));
    s.apply(2, new_page, None);
    s.apply(2, "about.html", Some(about));
    s.run(2);
    s.assert_no_change_lost();
}
