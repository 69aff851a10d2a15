//! A seeded fault soak of sitepurge's one promise: a change is never lost. Each cycle edits the
//! site at random (adds, modifications, removals, reverts to an earlier version), scripts the
//! Cloudflare stand-in's answers at random (429 with Retry-After, 500 and 503, `success: false`,
//! a connection dropped before the purge, one dropped after the purge was carried out, delays),
//! then runs `sitepurge run`, and sometimes kills it (SIGKILL) or stops it (SIGTERM) at a random
//! moment.
//!
//! The oracle models what the cache may hold, from the edits the test made and the purges the
//! stand-in carried out (its log, never sitepurge's output): a URL may be stale when its file
//! changed after the last purge that named it. After every cycle, whatever happened to the run,
//! every such URL must still be owed by the state: its path is listed `pending`, or its recorded
//! hash differs from the file's content, so that the next run purges it. The state file must
//! always parse, and no run may hang. At the end, with a healthy stand-in, one run leaves nothing
//! stale.
//!
//! `cargo test` runs 200 cycles with a fixed seed: without the write-ahead state, 80 cycles of
//! it found no loss and 200 found 9. A long one:
//! `SOAK_CYCLES=1000 SOAK_SEED=7 cargo test --test suite soak:: -- --nocapture` (the figures it
//! prints are recorded in the README).
#![cfg(unix)]

use crate::properties::{EXTRA, INITIAL, Rng, urls_of};
use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cloudflare::{Behaviour, FakeCloudflare, TOKEN, ZONE_ID};
use support::expect::sha;
use support::site::{Folder, Site, isolated, sitepurge_bin};

/// How long any run may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(30);

/// What the soak saw.
#[derive(Debug, Default)]
struct Tally {
    cycles: usize,
    runs_killed: usize,
    runs_stopped: usize,
    faults: usize,
    lost: Vec<String>,
    invalid_states: Vec<String>,
    hangs: usize,
}

struct Soak {
    rng: Rng,
    cf: FakeCloudflare,
    site: Site,
    /// What `_site` holds now.
    files: BTreeMap<String, Vec<u8>>,
    /// Every version each path has had, to revert to.
    versions: BTreeMap<String, Vec<Vec<u8>>>,
    /// What the site held at the last deploy (just before the last run).
    deployed: BTreeMap<String, Vec<u8>>,
    /// What the paths the last deploy changed held before it: a revert to it is the change a
    /// lost purge hides behind (the state may still record exactly that).
    before_last: BTreeMap<String, Option<Vec<u8>>>,
    /// When each path last changed between two deploys (added, modified, removed, reverted).
    /// Edits undone before the next run are no deploy: nobody could have cached them.
    changed_at: BTreeMap<String, Instant>,
    writes: u64,
    tally: Tally,
    trace: Vec<String>,
}

impl Soak {
    fn new(seed: u64) -> Soak {
        let site = Site::new();
        site.put(
            "sitepurge.toml",
            format!(
                "base_urls = [\"https://example.com/\"]\nzone = \"{ZONE_ID}\"\ngenerator = \"none\"\n\
                 retry_delay = \"5ms\"\nmax_retry_delay = \"20ms\"\nretries = 2\nbatch_size = 4\n\
                 concurrency = 2\nthreshold = \"100%\"\n"
            ),
        );
        let mut soak = Soak {
            rng: Rng::new(seed),
            cf: FakeCloudflare::start(),
            site,
            files: BTreeMap::new(),
            versions: BTreeMap::new(),
            deployed: BTreeMap::new(),
            before_last: BTreeMap::new(),
            changed_at: BTreeMap::new(),
            writes: 0,
            tally: Tally::default(),
            trace: vec![format!("seed {seed:#x}")],
        };
        for path in INITIAL {
            let body = soak.fresh(path);
            soak.write(path, Some(body));
        }
        // The baseline vouches for the cache as it is: nothing is stale yet.
        soak.deployed = soak.files.clone();
        let out = isolated(sitepurge_bin(), soak.site.root())
            .args(["baseline", "-q"])
            .output()
            .expect("baseline");
        assert!(out.status.success(), "baseline: {out:?}");
        soak
    }

    fn fresh(&mut self, path: &str) -> Vec<u8> {
        self.writes += 1;
        format!("<p>{path}</p><p>write {}</p>\n", self.writes).into_bytes()
    }

    fn write(&mut self, path: &str, body: Option<Vec<u8>>) {
        if self.files.get(path) == body.as_ref() {
            return;
        }
        match &body {
            Some(b) => {
                self.site.page(path, b);
                self.versions
                    .entry(path.to_string())
                    .or_default()
                    .push(b.clone());
                self.files.insert(path.to_string(), b.clone());
            }
            None => {
                self.site.remove(path);
                self.files.remove(path);
            }
        }
    }

    /// The site as it is now goes live: what differs from the last deploy has changed now.
    fn deploy(&mut self) {
        let now = Instant::now();
        let paths: BTreeSet<String> = self
            .files
            .keys()
            .chain(self.deployed.keys())
            .cloned()
            .collect();
        self.before_last.clear();
        for path in paths {
            if self.files.get(&path) != self.deployed.get(&path) {
                self.changed_at.insert(path.clone(), now);
                self.before_last
                    .insert(path.clone(), self.deployed.get(&path).cloned());
            }
        }
        self.deployed = self.files.clone();
    }

    /// One to four random edits; often, first, one revert of the last deploy's change.
    fn edit(&mut self) {
        if !self.before_last.is_empty() && self.rng.below(3) == 0 {
            let reverts: Vec<(String, Option<Vec<u8>>)> = self
                .before_last
                .iter()
                .map(|(p, b)| (p.clone(), b.clone()))
                .collect();
            let (path, body) = self.rng.pick(&reverts);
            self.trace.push(format!("  revert {path}"));
            self.write(&path, body);
        }
        let every: Vec<&str> = INITIAL.iter().chain(EXTRA.iter()).copied().collect();
        for _ in 0..=self.rng.below(4) {
            let path = self.rng.pick(&every);
            let choice = self.rng.below(10);
            let body = match (self.files.contains_key(path), choice) {
                // Back to an earlier version (the baseline's among them), or gone.
                (_, 0..=2) if self.versions.contains_key(path) => {
                    let versions = self.versions[path].clone();
                    Some(self.rng.pick(&versions))
                }
                (true, 3 | 4) => None,
                _ => Some(self.fresh(path)),
            };
            self.trace.push(format!(
                "  {} {path}",
                if body.is_some() { "write" } else { "remove" }
            ));
            self.write(path, body);
        }
    }

    /// Scripts the stand-in's next answers at random.
    fn faults(&mut self) {
        let mut script = Vec::new();
        for _ in 0..self.rng.below(6) {
            let behaviour = match self.rng.below(8) {
                0 => Behaviour::rate_limited(if self.rng.below(2) == 0 { "0" } else { "1" }),
                1 => Behaviour::status(500),
                2 => Behaviour::status(503),
                3 => Behaviour::SuccessFalse,
                4 => Behaviour::Drop,
                5 => Behaviour::DropAfterPurge,
                _ => Behaviour::Delay(Duration::from_millis(20 + self.rng.below(200) as u64)),
            };
            script.push(format!("{behaviour:?}"));
            self.cf.push(behaviour);
        }
        self.tally.faults += script.len();
        self.trace.push(format!("  stand-in: {script:?}"));
        let latency = Duration::from_millis(self.rng.below(60) as u64);
        self.cf.set_latency(latency);
    }

    /// `sitepurge run`, left alone, stopped with SIGTERM or killed with SIGKILL at a random
    /// moment; whether it was.
    fn run(&mut self) -> bool {
        let mut child = self
            .sitepurge(&["run", "-q"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sitepurge");
        let (signal, after) = match self.rng.below(10) {
            0 | 1 => (Some("KILL"), self.rng.below(300)),
            2 | 3 => (Some("TERM"), self.rng.below(300)),
            _ => (None, 0),
        };
        if let Some(signal) = signal {
            std::thread::sleep(Duration::from_millis(after as u64));
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status();
            match signal {
                "KILL" => self.tally.runs_killed += 1,
                _ => self.tally.runs_stopped += 1,
            }
        }
        self.trace
            .push(format!("  run, {signal:?} after {after} ms"));
        if wait(&mut child, HANG).is_none() {
            self.tally.hangs += 1;
            let _ = child.kill();
            let _ = child.wait();
        }
        // Whatever the stand-in was still told to answer is not for the next cycle.
        self.cf.clear_script();
        signal.is_some()
    }

    /// The state file, which must always be a valid state.
    fn state(&mut self) -> Option<Value> {
        let bytes = self.site.state_bytes()?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if v["files"].is_object() && v["format"].is_u64() => Some(v),
            other => {
                self.tally
                    .invalid_states
                    .push(format!("cycle {}: {other:?}", self.tally.cycles));
                None
            }
        }
    }

    /// Every URL that may be stale and that the state does not owe.
    fn lost(&mut self) -> Vec<String> {
        let Some(state) = self.state() else {
            return Vec::new();
        };
        let pending: BTreeSet<String> = state["pending"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        self.stale()
            .into_iter()
            .filter(|(path, _)| {
                let recorded = state["files"].get(path).and_then(Value::as_str);
                let now = self.files.get(path).map(sha);
                !pending.contains(path) && recorded == now.as_deref()
            })
            .map(|(path, url)| format!("{url} ({path})"))
            .collect()
    }

    /// Every URL (with its path) whose file changed after the last purge that named it, by the
    /// stand-in's log.
    fn stale(&self) -> Vec<(String, String)> {
        let mut last_purge: BTreeMap<String, Instant> = BTreeMap::new();
        for (at, urls) in self.cf.purge_log() {
            for url in urls {
                let entry = last_purge.entry(url).or_insert(at);
                *entry = (*entry).max(at);
            }
        }
        let mut stale = Vec::new();
        for (path, changed) in &self.changed_at {
            for url in urls_of(path) {
                if last_purge.get(&url).is_none_or(|p| p < changed) {
                    stale.push((path.clone(), url));
                }
            }
        }
        stale
    }

    /// `sitepurge ARGS` in the site, talking to the stand-in.
    fn sitepurge(&self, args: &[&str]) -> Command {
        let mut cmd = isolated(sitepurge_bin(), self.site.root());
        cmd.env("CLOUDFLARE_API_BASE_URL", self.cf.base_url())
            .env("CLOUDFLARE_API_TOKEN", TOKEN)
            .args(args);
        cmd
    }

    fn cycle(&mut self) {
        self.tally.cycles += 1;
        self.trace.push(format!("cycle {}:", self.tally.cycles));
        self.edit();
        let before = (
            self.deployed.clone(),
            self.changed_at.clone(),
            self.before_last.clone(),
        );
        let (state, purges) = (self.site.state_bytes(), self.cf.purge_log().len());
        self.deploy();
        self.faults();
        let stopped = self.run();
        // A run stopped before it recorded or sent anything never learnt of this deploy: if
        // the next one undoes it, no sitepurge can know what the cache may have taken in
        // between (the README says so). The oracle then forgets the deploy too.
        if stopped && self.site.state_bytes() == state && self.cf.purge_log().len() == purges {
            self.trace
                .push("  (stopped before it knew of the deploy)".into());
            (self.deployed, self.changed_at, self.before_last) = before;
        }
        let lost = self.lost();
        if !lost.is_empty() {
            self.tally
                .lost
                .push(format!("cycle {}: {}", self.tally.cycles, lost.join(", ")));
        }
    }

    /// A healthy stand-in and one last run: nothing may be stale afterwards.
    fn settle(&mut self) {
        self.cf.clear_script();
        self.cf.set_latency(Duration::ZERO);
        let out = self.sitepurge(&["run", "-q"]).output().expect("run");
        assert!(out.status.success(), "the last run failed: {out:?}");
        let state = self.state().expect("a state");
        assert_eq!(state.get("pending"), None, "owed after a healthy run");
        let stale = self.stale();
        assert!(
            stale.is_empty(),
            "stale after the last run: {stale:?}\n{}",
            self.trace.join("\n")
        );
    }
}

fn wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn a_fault_soak_loses_no_change_and_never_leaves_an_invalid_state() {
    let cycles = env_number("SOAK_CYCLES", 200);
    let seed = env_number("SOAK_SEED", 0x5eed_50a4);
    let started = Instant::now();
    let mut soak = Soak::new(seed);
    for _ in 0..cycles {
        soak.cycle();
    }
    soak.settle();
    let t = &soak.tally;
    println!(
        "soak seed {seed:#x}: {} cycles, {} runs killed (SIGKILL), {} stopped (SIGTERM), {} faults scripted, {} lost, {} invalid states, {} hangs, {:.0?}",
        t.cycles,
        t.runs_killed,
        t.runs_stopped,
        t.faults,
        t.lost.len(),
        t.invalid_states.len(),
        t.hangs,
        started.elapsed()
    );
    assert!(
        t.lost.is_empty() && t.invalid_states.is_empty() && t.hangs == 0,
        "lost: {:#?}\ninvalid states: {:#?}\nhangs: {}\n{}",
        t.lost,
        t.invalid_states,
        t.hangs,
        soak.trace.join("\n")
    );
    assert!(t.runs_killed > 0 && t.runs_stopped > 0, "{t:?}");
}
