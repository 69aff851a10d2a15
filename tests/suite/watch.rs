//! End-to-end tests of `sitepurge watch`: the real binary, real file events (inotify) and the
//! local stand-in for the Cloudflare API (`tests/support/cloudflare.rs`).
//!
//! Each test builds a small site in its own temp folder, records a baseline, starts
//! `sitepurge watch --json` there (no `SITEPURGE_*`/`CLOUDFLARE_*` variable inherited, the API
//! base pointing at its own fake), changes the output folder the way editors, generators and
//! deploys do, then checks the exact URLs the fake was asked to purge (written out by hand), that
//! the fake saw no rule break, the cycle lines printed, and the state file.
//!
//! Waits poll the fake or the output for up to [`PATIENCE`]; the watcher is always killed at the
//! end of a test, failed or not ([`Guard`]'s `Drop`).
//!
//! The last tests go beyond the basic list: a stop during a purge, `--poll` (also seeing a
//! rollback to an older file time), release symlinks, and an inotify queue overflow.
#![cfg(unix)]

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use sitepurge::purge::STOP_GRACE;
use support::cloudflare::{FakeCloudflare, RecordedRequest, TOKEN, ZONE_ID};
use support::expect::{assert_clean, set, sha};
use support::site::{Folder, STATE, Site, isolated, sitepurge_bin, write_files};

/// Quiet period the watcher is started with.
const SETTLE: Duration = Duration::from_millis(300);
/// How long any awaited thing may take before the test fails: generous, since a run that
/// hashes this file's 160 MiB of big files took over 10 s (debug build) on a 2-core machine
/// with four other busy processes. Bounds that are the point of a test are asserted apart.
const PATIENCE: Duration = Duration::from_secs(30);
/// Flags every watcher here is started with.
const WATCH: [&str; 8] = [
    "watch",
    "--settle",
    "300ms",
    "--max-wait",
    "5s",
    "--retry-every",
    "1s",
    "--json",
];

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

// What these tests do with a `Site` (tests/support/site.rs): a temp folder used as the cwd,
// holding `sitepurge.toml` and (usually) the output folder.
/// What this suite does with a test site (an extension trait: every suite adds its own).
trait WatchSite {
    fn with_pages(pages: &[(&str, &str)], extra: &[&str]) -> Site;
    fn without_output(extra: &[&str]) -> Site;
    fn cmd(&self, cf: &FakeCloudflare, args: &[&str]) -> Command;
    fn exec(&self, cf: &FakeCloudflare, args: &[&str]) -> Out;
    fn baseline(&self, cf: &FakeCloudflare);
    fn watch(&self, cf: &FakeCloudflare, extra: &[&str]) -> Watcher;
    fn spawn(&self, cf: &FakeCloudflare, args: &[&str]) -> Watcher;
}

impl WatchSite for Site {
    /// A site with `_site` holding these pages, and a config for the fake (`extra` lines added).
    fn with_pages(pages: &[(&str, &str)], extra: &[&str]) -> Site {
        let site = Site::without_output(extra);
        fs::create_dir(site.path("_site")).expect("mkdir _site");
        for (rel, body) in pages {
            site.page(rel, body);
        }
        site
    }

    /// A site with a config but no output folder.
    fn without_output(extra: &[&str]) -> Site {
        let site = Site::bare();
        let mut config = format!(
            "base_urls = [\"https://example.com/\"]\nzone = \"{ZONE_ID}\"\nretry_delay = \"10ms\"\n"
        );
        for line in extra {
            config.push_str(line);
            config.push('\n');
        }
        site.put("sitepurge.toml", config);
        site
    }

    /// The binary in this folder, isolated from the test's environment, talking to `cf`.
    fn cmd(&self, cf: &FakeCloudflare, args: &[&str]) -> Command {
        let mut cmd = isolated(sitepurge_bin(), self.root());
        cmd.env("CLOUDFLARE_API_BASE_URL", cf.base_url())
            .env("CLOUDFLARE_API_TOKEN", TOKEN)
            .args(args);
        cmd
    }

    /// Runs a command to its end (killed after [`PATIENCE`]).
    fn exec(&self, cf: &FakeCloudflare, args: &[&str]) -> Out {
        let child = self
            .cmd(cf, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sitepurge");
        let mut guard = Guard(child);
        let mut stdout = guard.0.stdout.take().expect("stdout");
        let mut stderr = guard.0.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let status = wait_exit(&mut guard.0, PATIENCE)
            .unwrap_or_else(|| panic!("sitepurge {args:?} still running after {PATIENCE:?}"));
        Out {
            status,
            stdout: out.join().expect("stdout reader"),
            stderr: err.join().expect("stderr reader"),
        }
    }

    /// Records the current site as the state, silently.
    fn baseline(&self, cf: &FakeCloudflare) {
        let out = self.exec(cf, &["baseline", "-q"]);
        assert!(out.status.success(), "baseline failed: {out:?}");
        assert!(self.path(STATE).exists(), "baseline wrote no state");
    }

    /// Starts `sitepurge watch` with the fast timings ([`WATCH`]) and `extra` arguments.
    fn watch(&self, cf: &FakeCloudflare, extra: &[&str]) -> Watcher {
        let mut args: Vec<&str> = WATCH.to_vec();
        args.extend_from_slice(extra);
        self.spawn(cf, &args)
    }

    /// Starts the binary with `args` in the background, collecting what it prints.
    fn spawn(&self, cf: &FakeCloudflare, args: &[&str]) -> Watcher {
        let child = self
            .cmd(cf, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sitepurge");
        let mut guard = Guard(child);
        let stdout = guard.0.stdout.take().expect("stdout");
        let stderr = guard.0.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(String::new()));
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().expect("lines").push(line);
                }
            });
        }
        {
            let err = err.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let mut e = err.lock().expect("stderr");
                    e.push_str(&line);
                    e.push('\n');
                }
            });
        }
        Watcher {
            child: guard,
            lines,
            err,
        }
    }
}

/// What one finished run of the binary did.
#[derive(Debug)]
struct Out {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Kills and reaps the child when dropped, so no test leaves a process behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Waits up to `limit` for the child to exit.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `sitepurge watch`, its stdout lines and its stderr so far.
struct Watcher {
    child: Guard,
    lines: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<String>>,
}

impl Watcher {
    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    fn stdout(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    fn stderr(&self) -> String {
        self.err.lock().expect("stderr").clone()
    }

    /// Every cycle line so far, parsed (each must be one JSON object).
    fn cycles(&self) -> Vec<Value> {
        self.stdout()
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l:?}"))
            })
            .collect()
    }

    /// What the watcher printed, for failure messages.
    fn dump(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout().join("\n"),
            self.stderr()
        )
    }

    /// Waits until at least `n` cycle lines were printed; returns them all.
    fn wait_cycles(&self, n: usize) -> Vec<Value> {
        let ok = eventually(|| self.stdout().len() >= n);
        assert!(
            ok,
            "no {n} cycle lines within {PATIENCE:?}\n{}",
            self.dump()
        );
        self.cycles()
    }

    /// Waits for the first cycle, which compares the site with the baseline: nothing to do.
    /// After it, the watches are in place.
    fn wait_ready(&self) {
        let first = &self.wait_cycles(1)[0];
        assert_eq!(first["decision"], "nothing", "{}", self.dump());
        assert_eq!(first["files_changed"], 0, "{}", self.dump());
        assert_eq!(first["ok"], true, "{}", self.dump());
    }

    fn running(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(&mut self) -> ExitStatus {
        signal(self.pid(), "TERM");
        wait_exit(&mut self.child.0, PATIENCE)
            .unwrap_or_else(|| panic!("still running {PATIENCE:?} after SIGTERM\n{}", self.dump()))
    }
}

/// Sends a signal (`STOP`, `CONT`, `TERM`) to a process.
fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{name} {pid} failed");
}

/// Writes `body` to `path` and gives it the modification time `mtime`.
fn rewrite(path: &Path, body: &str, mtime: SystemTime) {
    fs::write(path, body).expect("write");
    fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(mtime)
        .expect("set mtime");
}

/// Polls `done` every 20 ms for up to [`PATIENCE`].
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > PATIENCE {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks that `same` stays true for `period` (a bounded look for something that must not
/// happen).
fn stays(period: Duration, mut same: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < period {
        if !same() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    same()
}

/// The URLs of a `{"files": [...]}` purge body.
fn files_of(r: &RecordedRequest) -> BTreeSet<String> {
    let body = r.json().expect("JSON body");
    body["files"]
        .as_array()
        .unwrap_or_else(|| panic!("not a files purge: {body}"))
        .iter()
        .map(|f| {
            f.as_str()
                .or_else(|| f["url"].as_str())
                .expect("a URL")
                .to_string()
        })
        .collect()
}

/// A small blog: 5 files.
const BLOG: [(&str, &str); 5] = [
    ("index.html", "<h1>Home</h1>"),
    ("about/index.html", "<h1>About</h1>"),
    ("posts/first/index.html", "<h1>First</h1>"),
    ("css/site.css", "body { margin: 0 }"),
    ("robots.txt", "User-agent: *\n"),
];

/// The blog with `changes` applied (`None` removes the page).
fn blog_with<'a>(changes: &[(&'a str, Option<&'a str>)]) -> Vec<(&'a str, &'a str)> {
    let mut pages: BTreeMap<&str, &str> = BLOG.iter().copied().collect();
    for (rel, body) in changes {
        match body {
            Some(b) => pages.insert(rel, b),
            None => pages.remove(rel),
        };
    }
    pages.into_iter().collect()
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[test]
fn two_edits_make_one_purge_of_exactly_their_urls_after_the_settle() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let w = site.watch(&cf, &[]);
    w.wait_ready();

    site.page("about/index.html", "<h1>About (edited)</h1>");
    // Taken before the last write, so the check below is a sound lower bound.
    let last_write = Instant::now();
    site.page("css/site.css", "body { margin: 1em }");

    assert!(
        eventually(|| !cf.purge_requests().is_empty()),
        "no purge\n{}",
        w.dump()
    );
    let cycles = w.wait_cycles(2);
    // No second request or cycle comes later for the same burst.
    assert!(
        stays(SETTLE * 3, || cf.purge_requests().len() == 1
            && w.stdout().len() == 2),
        "more than one purge or cycle: {:#?}\n{}",
        cf.purge_requests(),
        w.dump()
    );
    let requests = cf.purge_requests();
    let expected = set([
        "https://example.com/about/",
        "https://example.com/about/index.html",
        "https://example.com/css/site.css",
    ]);
    assert_eq!(files_of(&requests[0]), expected);
    assert_eq!(cf.purged_files(), expected);
    assert!(
        requests[0].received >= last_write + SETTLE,
        "purged {:?} after the last write, before the settle of {SETTLE:?}",
        requests[0].received - last_write
    );
    let c = &cycles[1];
    assert_eq!(
        (
            &c["files_changed"],
            &c["modified"],
            &c["added"],
            &c["removed"]
        ),
        (&2.into(), &2.into(), &0.into(), &0.into()),
        "{c}"
    );
    assert_eq!(
        (&c["decision"], &c["urls_purged"], &c["requests"], &c["ok"]),
        (&"urls".into(), &3.into(), &1.into(), &true.into()),
        "{c}"
    );
    assert_eq!(
        site.state_files()["about/index.html"],
        sha("<h1>About (edited)</h1>")
    );
    assert_eq!(
        site.state_files()["css/site.css"],
        sha("body { margin: 1em }")
    );
    assert_clean(&cf);
}

#[test]
fn a_deleted_and_rewritten_output_folder_purges_only_the_changed_page() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let w = site.watch(&cf, &[]);
    w.wait_ready();

    // How zola builds: wipe the output folder, then write every file again.
    fs::remove_dir_all(site.path("_site")).expect("rm -rf _site");
    write_files(
        &site.path("_site"),
        &blog_with(&[("posts/first/index.html", Some("<h1>First, fixed</h1>"))]),
    );

    assert!(
        eventually(|| !cf.purge_requests().is_empty()),
        "no purge\n{}",
        w.dump()
    );
    assert!(
        stays(SETTLE * 3, || cf.purge_requests().len() == 1),
        "{:#?}\n{}",
        cf.purge_requests(),
        w.dump()
    );
    let expected = set([
        "https://example.com/posts/first/",
        "https://example.com/posts/first/index.html",
    ]);
    assert_eq!(files_of(&cf.purge_requests()[0]), expected);
    assert_eq!(cf.purged_files(), expected);
    assert!(cf.purged_hosts().is_empty(), "{:?}", cf.purged_hosts());
    let last = w.cycles().last().cloned().expect("a cycle");
    assert_eq!(last["modified"], 1, "{}", w.dump());
    assert_eq!(last["ok"], true, "{}", w.dump());
    assert!(w.stderr().is_empty(), "{}", w.dump());

    // The new folder is watched too: a later edit in it is seen.
    site.page("robots.txt", "User-agent: *\nDisallow: /drafts/\n");
    assert!(
        eventually(|| cf.purge_requests().len() == 2),
        "an edit in the rewritten folder was not seen\n{}",
        w.dump()
    );
    assert_eq!(
        files_of(&cf.purge_requests()[1]),
        set(["https://example.com/robots.txt"])
    );
    assert_clean(&cf);
}

#[test]
fn a_new_folder_renamed_into_place_purges_exactly_what_differs() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let w = site.watch(&cf, &[]);
    w.wait_ready();

    // A deploy: build beside the live folder, then swap it in.
    write_files(
        &site.path("site.new"),
        &blog_with(&[
            ("index.html", Some("<h1>Home, new</h1>")),
            ("posts/second/index.html", Some("<h1>Second</h1>")),
            ("robots.txt", None),
        ]),
    );
    // Building beside the output folder is not a change of it.
    assert!(
        stays(SETTLE * 2, || cf.purge_requests().is_empty()
            && w.stdout().len() == 1),
        "a cycle for a folder next to the output folder\n{}",
        w.dump()
    );
    fs::remove_dir_all(site.path("_site")).expect("rm -rf _site");
    fs::rename(site.path("site.new"), site.path("_site")).expect("mv site.new _site");

    let expected = set([
        "https://example.com/",
        "https://example.com/index.html",
        "https://example.com/posts/second/",
        "https://example.com/posts/second/index.html",
        "https://example.com/robots.txt",
    ]);
    assert!(
        eventually(|| cf.purged_files() == expected),
        "purged {:?}\n{}",
        cf.purged_files(),
        w.dump()
    );
    assert!(
        stays(SETTLE * 3, || cf.purge_requests().len() == 1),
        "{:#?}",
        cf.purge_requests()
    );
    assert_eq!(files_of(&cf.purge_requests()[0]), expected);
    let last = w.cycles().last().cloned().expect("a cycle");
    assert_eq!(
        (&last["added"], &last["modified"], &last["removed"]),
        (&1.into(), &1.into(), &1.into()),
        "{}",
        w.dump()
    );

    // The renamed folder is watched too.
    site.page("css/site.css", "body { margin: 2px }");
    assert!(
        eventually(|| cf.purge_requests().len() == 2),
        "an edit in the renamed folder was not seen\n{}",
        w.dump()
    );
    assert_eq!(
        files_of(&cf.purge_requests()[1]),
        set(["https://example.com/css/site.css"])
    );
    assert_clean(&cf);
}

#[test]
fn a_failed_purge_is_retried_on_the_timer_without_a_new_event() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &["retries = 0"]);
    site.baseline(&cf);
    let mut w = site.watch(&cf, &[]);
    w.wait_ready();
    let before = site.state_files();

    cf.fail_all(Some(503));
    site.page("about/index.html", "<h1>About, v2</h1>");
    assert!(
        eventually(|| w.cycles().iter().any(|c| c["ok"] == false)),
        "no failed cycle\n{}",
        w.dump()
    );
    assert!(w.running(), "the watcher exited\n{}", w.dump());
    let failed = w
        .cycles()
        .into_iter()
        .find(|c| c["ok"] == false)
        .expect("failed cycle");
    assert_eq!(failed["urls_pending"], 2, "{failed}");
    assert_eq!(failed["urls_purged"], 0, "{failed}");
    // The reason is on stderr (read by its own thread: it may lag behind stdout).
    assert!(
        eventually(|| w
            .stderr()
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains("(2 URLs)") && l.contains("HTTP 503"))),
        "{}",
        w.dump()
    );
    assert!(cf.purged_files().is_empty());
    // The file's old hash stays, so its URLs stay pending.
    assert_eq!(site.state_files(), before);
    assert_eq!(before["about/index.html"], sha("<h1>About</h1>"));

    cf.fail_all(None);
    let healed = Instant::now();
    let expected = set([
        "https://example.com/about/",
        "https://example.com/about/index.html",
    ]);
    assert!(
        eventually(|| cf.purged_files() == expected),
        "purged {:?}\n{}",
        cf.purged_files(),
        w.dump()
    );
    // Within the retry timer (1s), with some slack for a loaded machine.
    assert!(
        healed.elapsed() < Duration::from_secs(5),
        "{:?}",
        healed.elapsed()
    );
    assert!(
        eventually(|| w.cycles().last().is_some_and(|c| c["ok"] == true)),
        "{}",
        w.dump()
    );
    let last = w.cycles().last().cloned().expect("cycle");
    assert_eq!(last["urls_purged"], 2, "{last}");
    assert_eq!(last["urls_pending"], 0, "{last}");
    assert_eq!(
        site.state_files()["about/index.html"],
        sha("<h1>About, v2</h1>")
    );
    // Once nothing is pending, the timer stops.
    let requests = cf.purge_requests().len();
    assert!(
        stays(Duration::from_millis(1500), || cf.purge_requests().len()
            == requests),
        "retries with nothing pending: {:#?}",
        cf.purge_requests()
    );
    assert!(w.running(), "{}", w.dump());
    assert_clean(&cf);
}

#[test]
fn sigterm_exits_0_and_leaves_a_valid_state_with_the_purged_change() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let mut w = site.watch(&cf, &[]);
    w.wait_ready();

    site.page("index.html", "<h1>Home, v2</h1>");
    let cycles = w.wait_cycles(2);
    assert_eq!(cycles[1]["urls_purged"], 2, "{}", w.dump());
    assert_eq!(
        cf.purged_files(),
        set(["https://example.com/", "https://example.com/index.html"])
    );

    let status = w.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", w.dump());
    let state = site.state();
    assert_eq!(state["format"], 1, "{state}");
    let files = site.state_files();
    let expected: BTreeMap<String, String> =
        blog_with(&[("index.html", Some("<h1>Home, v2</h1>"))])
            .into_iter()
            .map(|(p, b)| (p.to_string(), sha(b)))
            .collect();
    assert_eq!(files, expected);
    assert!(
        !site.path(".sitepurge/state.json.lock").exists(),
        "the lock file is left behind"
    );
    // No temporary file is left beside the state.
    let names: Vec<String> = fs::read_dir(site.path(".sitepurge"))
        .expect("state folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.json"]);
    assert_clean(&cf);
}

#[test]
fn a_run_while_watching_is_refused_with_the_watchers_pid() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let mut w = site.watch(&cf, &[]);
    w.wait_ready();
    let state = fs::read(site.path(STATE)).expect("state");

    let started = Instant::now();
    let out = site.exec(&cf, &["run"]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "refused only after {:?}",
        started.elapsed()
    );
    assert!(
        out.stderr.contains(&format!("(pid {})", w.pid())),
        "the lock message does not name the watcher's pid {}: {:?}",
        w.pid(),
        out.stderr
    );
    assert!(out.stderr.contains("another sitepurge"), "{:?}", out.stderr);
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(cf.purge_requests().is_empty(), "{:#?}", cf.purge_requests());
    assert_eq!(fs::read(site.path(STATE)).expect("state"), state);
    assert!(w.running(), "{}", w.dump());
    assert_eq!(w.stdout().len(), 1, "{}", w.dump());
    assert_clean(&cf);
}

#[test]
fn a_missing_output_folder_is_waited_for_then_purged_in_full() {
    let cf = FakeCloudflare::start();
    let site = Site::without_output(&[]);
    let w = site.watch(&cf, &["_site"]);
    assert!(
        eventually(|| w.stderr().contains("waiting for")),
        "no waiting note\n{}",
        w.dump()
    );
    assert!(
        w.stderr().contains("note: waiting for _site to appear"),
        "{}",
        w.dump()
    );

    write_files(&site.path("_site"), &BLOG);
    assert!(
        eventually(|| !cf.purge_requests().is_empty()),
        "no purge\n{}",
        w.dump()
    );
    let cycles = w.wait_cycles(1);
    assert!(
        stays(SETTLE * 3, || cf.purge_requests().len() == 1),
        "{:#?}",
        cf.purge_requests()
    );
    // A first run: the cache may hold any version of any page, so the site's host is purged.
    assert_eq!(cf.purged_hosts(), set(["example.com"]));
    assert!(cf.purged_files().is_empty(), "{:?}", cf.purged_files());
    assert_eq!(cf.purged_everything(), 0);
    let c = &cycles[0];
    assert_eq!(
        (&c["decision"], &c["reason"], &c["ok"]),
        (&"everything".into(), &"first-run".into(), &true.into()),
        "{c}"
    );
    assert_eq!(c["added"], 5, "{c}");
    assert_eq!(w.stderr().matches("waiting for").count(), 1, "{}", w.dump());
    let expected: BTreeMap<String, String> =
        BLOG.iter().map(|(p, b)| (p.to_string(), sha(b))).collect();
    assert_eq!(site.state_files(), expected);
    assert_clean(&cf);
}

#[test]
fn nothing_is_printed_while_idle() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let w = site.watch(&cf, &[]);
    w.wait_ready();
    assert!(
        stays(Duration::from_secs(2), || w.stdout().len() == 1),
        "a cycle without a change\n{}",
        w.dump()
    );

    // A cycle's own reading and state writing are not changes either.
    site.page("robots.txt", "User-agent: *\nDisallow:\n");
    w.wait_cycles(2);
    assert!(
        stays(Duration::from_secs(2), || w.stdout().len() == 2),
        "a cycle after the purge without a change\n{}",
        w.dump()
    );
    assert_eq!(cf.purge_requests().len(), 1);
    assert_eq!(cf.purged_files(), set(["https://example.com/robots.txt"]));
    assert!(w.stderr().is_empty(), "{}", w.dump());
    assert_clean(&cf);
}

#[test]
fn sigterm_during_a_purge_lets_the_request_in_flight_finish_and_records_it() {
    let cf = FakeCloudflare::start();
    // One URL per request, one request at a time, each taking a while.
    let site = Site::with_pages(&BLOG, &["batch_size = 1", "concurrency = 1"]);
    site.baseline(&cf);
    let mut w = site.watch(&cf, &[]);
    w.wait_ready();
    // Shorter than the grace a request in flight gets after a stop, long enough to be cut off.
    cf.set_latency(Duration::from_millis(500));
    assert!(Duration::from_millis(500) < STOP_GRACE);

    site.page("css/site.css", "body { margin: 3px }");
    site.page("robots.txt", "User-agent: *\nDisallow: /x/\n");
    assert!(
        eventually(|| !cf.purge_requests().is_empty()),
        "no purge\n{}",
        w.dump()
    );
    let status = w.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", w.dump());

    // The request in flight was answered; the next one was never sent.
    let requests = cf.purge_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].status, Some(200), "{:?}", requests[0]);
    let first = files_of(&requests[0]);
    assert_eq!(cf.purged_files(), first);
    let (done, pending, content) = if first == set(["https://example.com/css/site.css"]) {
        ("css/site.css", "robots.txt", "body { margin: 3px }")
    } else {
        assert_eq!(first, set(["https://example.com/robots.txt"]));
        (
            "robots.txt",
            "css/site.css",
            "User-agent: *\nDisallow: /x/\n",
        )
    };
    // The state records the purged file, and keeps the other pending for the next run.
    let files = site.state_files();
    assert_eq!(files[done], sha(content));
    let old = BLOG.iter().find(|(p, _)| *p == pending).expect("page").1;
    assert_eq!(files[pending], sha(old));
    assert!(!site.path(".sitepurge/state.json.lock").exists());
    assert_clean(&cf);
}

#[test]
fn a_second_sigterm_exits_at_once_and_a_later_run_purges_what_was_cut_off() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let mut w = site.watch(&cf, &[]);
    w.wait_ready();
    let before = fs::read(site.path(STATE)).expect("state");
    // The request in flight gets no answer: after the first signal the watcher would wait out
    // the grace period; the second must end it before that.
    cf.set_latency(Duration::from_secs(8));

    site.page("index.html", "<h1>Home, cut off</h1>");
    assert!(
        eventually(|| !cf.purge_requests().is_empty()),
        "no purge\n{}",
        w.dump()
    );
    let first = Instant::now();
    signal(w.pid(), "TERM");
    std::thread::sleep(Duration::from_millis(150));
    assert!(w.running(), "the first signal alone ended it\n{}", w.dump());
    let status = w.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", w.dump());
    // Ended by the second signal, not by the first one's grace period running out.
    assert!(
        first.elapsed() < STOP_GRACE,
        "exited {:?} after the first signal, as if the second had not been seen",
        first.elapsed()
    );
    // The purge was cut off: the state is the one written ahead of it, the old hashes owing
    // the changed page.
    let old: Value = serde_json::from_slice(&before).expect("json");
    assert_eq!(site.state()["files"], old["files"]);
    assert_eq!(site.state()["pending"], serde_json::json!(["index.html"]));

    // Whatever the watcher left behind, the next run gets the lock and purges the change.
    cf.set_latency(Duration::ZERO);
    let out = site.exec(&cf, &["run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let home = set(["https://example.com/", "https://example.com/index.html"]);
    assert_eq!(files_of(cf.purge_requests().last().expect("a purge")), home);
    assert_eq!(
        site.state_files()["index.html"],
        sha("<h1>Home, cut off</h1>")
    );
    assert_clean(&cf);
}

/// Adds `count` files of 2 MB: a scan long enough to be interrupted (a few seconds for the
/// debug build the tests run).
fn add_big_files(site: &Site, count: usize) -> Vec<String> {
    let mut paths = Vec::new();
    for i in 0..count {
        let path = format!("media/clip-{i:03}.bin");
        let mut body = vec![b'.'; 2 << 20];
        body[..8].copy_from_slice(&(i as u64).to_le_bytes());
        site.page(&path, body);
        paths.push(path);
    }
    paths
}

/// Sends SIGTERM and returns how long the process took to exit after it, and its status.
fn stop_timed(p: &mut Watcher) -> (Duration, ExitStatus) {
    let sent = Instant::now();
    signal(p.pid(), "TERM");
    let status = wait_exit(&mut p.child.0, PATIENCE)
        .unwrap_or_else(|| panic!("still running {PATIENCE:?} after SIGTERM\n{}", p.dump()));
    (sent.elapsed(), status)
}

#[test]
fn a_sigterm_during_the_scan_stops_run_within_a_second_and_sends_nothing() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let before = fs::read(site.path(STATE)).expect("state");
    let big = add_big_files(&site, 80);
    let mut run = site.spawn(&cf, &["run"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        run.running(),
        "the scan was over before the signal\n{}",
        run.dump()
    );
    let (took, status) = stop_timed(&mut run);
    assert!(
        took < Duration::from_secs(1),
        "stopped {took:?} after the signal"
    );
    // Nothing was purged or recorded: the changes are still owed (exit 1).
    assert_eq!(status.code(), Some(1), "{}", run.dump());
    assert!(
        run.stderr().contains(
            "error: stopped by a signal before anything was purged; nothing was recorded"
        ),
        "{}",
        run.dump()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(cf.purge_requests().is_empty(), "{:#?}", cf.purge_requests());
    assert_eq!(fs::read(site.path(STATE)).expect("state"), before);
    assert!(!site.path(".sitepurge/state.json.lock").exists());

    // The next run finds the same changes and purges them.
    let out = site.exec(&cf, &["run", "-q", "--threshold", "100%"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let purged: BTreeSet<String> = cf.purge_requests().iter().flat_map(files_of).collect();
    let expected: BTreeSet<String> = big
        .iter()
        .map(|p| format!("https://example.com/{p}"))
        .collect();
    assert_eq!(purged, expected);
}

#[test]
fn a_sigterm_during_the_purge_sends_no_request_after_it_and_records_what_went() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &["batch_size = 1", "concurrency = 1"]);
    site.baseline(&cf);
    for (rel, body) in BLOG {
        site.page(rel, format!("{body}<p>v2</p>"));
    }
    cf.set_latency(Duration::from_millis(300));
    let mut run = site.spawn(&cf, &["run", "--threshold", "100%"]);
    assert!(
        eventually(|| cf.purge_requests().len() >= 2),
        "no purge under way\n{}",
        run.dump()
    );
    let sent = Instant::now();
    signal(run.pid(), "TERM");
    let at_signal = cf.purge_requests().len();
    let status = wait_exit(&mut run.child.0, PATIENCE).expect("exit");
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "stopped {took:?} after the signal"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "URLs are still pending\n{}",
        run.dump()
    );
    std::thread::sleep(Duration::from_millis(300));
    let requests = cf.purge_requests();
    // 8 URLs, one per request: the run was cut short, and nothing was sent after the signal
    // (the request being answered then may have been read a moment later).
    assert!(requests.len() < 8, "{requests:#?}");
    assert!(
        requests.len() <= at_signal + 1,
        "{} then {}",
        at_signal,
        requests.len()
    );
    for r in &requests {
        assert!(
            r.received <= sent + Duration::from_millis(50),
            "request {} came {:?} after the signal",
            r.seq,
            r.received - sent
        );
    }
    // The state advanced for the files whose URLs were all answered, and owes the rest.
    let answered: BTreeSet<String> = requests
        .iter()
        .filter(|r| r.status == Some(200))
        .flat_map(files_of)
        .collect();
    let state = site.state();
    let pending: BTreeSet<String> = state["pending"]
        .as_array()
        .expect("pending paths")
        .iter()
        .map(|p| p.as_str().expect("path").to_string())
        .collect();
    for (rel, body) in BLOG {
        let urls = if rel == "index.html" {
            set(["https://example.com/", "https://example.com/index.html"])
        } else if let Some(dir) = rel.strip_suffix("index.html") {
            set([
                format!("https://example.com/{dir}").as_str(),
                format!("https://example.com/{rel}").as_str(),
            ])
        } else {
            set([format!("https://example.com/{rel}").as_str()])
        };
        let done = urls.is_subset(&answered);
        let recorded = &site.state_files()[rel];
        let new = sha(format!("{body}<p>v2</p>"));
        assert_eq!(*recorded == new, done, "{rel}: recorded {recorded}");
        assert_eq!(pending.contains(rel), !done, "{rel} pending: {pending:?}");
    }
}

#[test]
fn a_sigterm_during_the_first_scan_stops_watch_at_once_with_exit_0() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let before = fs::read(site.path(STATE)).expect("state");
    add_big_files(&site, 80);
    let mut w = site.watch(&cf, &[]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(w.running(), "the watcher ended on its own\n{}", w.dump());
    assert!(
        w.stdout().is_empty(),
        "the first cycle was over\n{}",
        w.dump()
    );
    let (took, status) = stop_timed(&mut w);
    assert!(
        took < Duration::from_secs(1),
        "stopped {took:?} after the signal"
    );
    assert_eq!(status.code(), Some(0), "{}", w.dump());
    std::thread::sleep(Duration::from_millis(300));
    assert!(cf.purge_requests().is_empty(), "{:#?}", cf.purge_requests());
    assert_eq!(fs::read(site.path(STATE)).expect("state"), before);
}

#[test]
fn polling_sees_an_edit() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let w = site.watch(&cf, &["--poll"]);
    w.wait_ready();
    assert!(
        eventually(|| w
            .stderr()
            .contains("note: --poll was given: polling the folder every 500ms")),
        "{}",
        w.dump()
    );
    // A later mtime, as any write a second or more after the last one has.
    rewrite(
        &site.path("_site/robots.txt"),
        "User-agent: *\nDisallow: /poll/\n",
        SystemTime::now() + Duration::from_secs(5),
    );
    let expected = set(["https://example.com/robots.txt"]);
    assert!(
        eventually(|| cf.purged_files() == expected),
        "{:?}\n{}",
        cf.purged_files(),
        w.dump()
    );
    assert_eq!(cf.purge_requests().len(), 1);
    assert_clean(&cf);
}

#[test]
fn polling_sees_a_rollback_to_an_older_release() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let w = site.watch(&cf, &["--poll"]);
    w.wait_ready();
    // A rollback deploy restores the older release's content and its older mtime.
    rewrite(
        &site.path("_site/robots.txt"),
        "User-agent: *\nDisallow: /old/\n",
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000),
    );
    let expected = set(["https://example.com/robots.txt"]);
    assert!(
        eventually(|| cf.purged_files() == expected),
        "the rolled-back file was never purged: {:?}\n{}",
        cf.purged_files(),
        w.dump()
    );
    assert_clean(&cf);
}

#[test]
fn after_an_event_queue_overflow_a_replaced_folder_is_still_watched() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let w = site.watch(&cf, &[]);
    w.wait_ready();

    // While the watcher cannot read (as when it falls behind on a busy machine), more events
    // than the kernel queues for it (fs.inotify.max_queued_events) come, then the folder is
    // replaced: those events are lost, and the watcher is told only "overflow".
    signal(w.pid(), "STOP");
    let queue: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    // Each write queues at least OPEN, MODIFY and CLOSE_WRITE.
    for i in 0..queue / 2 + 100 {
        fs::write(
            site.path("_site/robots.txt"),
            format!("User-agent: *\n#{}\n", i % 2),
        )
        .expect("write");
    }
    site.page("robots.txt", BLOG[4].1);
    fs::remove_dir_all(site.path("_site")).expect("rm -rf _site");
    write_files(
        &site.path("_site"),
        &blog_with(&[("index.html", Some("<h1>Home, rebuilt</h1>"))]),
    );
    signal(w.pid(), "CONT");

    let home = set(["https://example.com/", "https://example.com/index.html"]);
    assert!(
        eventually(|| cf.purged_files() == home),
        "{:?}\n{}",
        cf.purged_files(),
        w.dump()
    );
    // An edit in the new folder must still be seen.
    site.page("css/site.css", "body { margin: 4px }");
    assert!(
        eventually(|| cf
            .purged_files()
            .contains("https://example.com/css/site.css")),
        "an edit in the replaced folder was never seen: {:?}\n{}",
        cf.purged_files(),
        w.dump()
    );
    assert_clean(&cf);
}

#[test]
fn a_release_symlink_swapped_into_place_purges_what_differs_and_is_followed() {
    let cf = FakeCloudflare::start();
    let site = Site::without_output(&[]);
    // Capistrano-style deploys: `_site -> releases/N`, switched with `ln -sfn` (a new link
    // renamed over the old one).
    write_files(&site.path("releases/1"), &BLOG);
    std::os::unix::fs::symlink("releases/1", site.path("_site")).expect("symlink");
    site.baseline(&cf);
    let w = site.watch(&cf, &[]);
    w.wait_ready();

    write_files(
        &site.path("releases/2"),
        &blog_with(&[("robots.txt", Some("User-agent: *\nDisallow: /2/\n"))]),
    );
    std::os::unix::fs::symlink("releases/2", site.path("_site.tmp")).expect("symlink");
    fs::rename(site.path("_site.tmp"), site.path("_site")).expect("ln -sfn");
    let robots = set(["https://example.com/robots.txt"]);
    assert!(
        eventually(|| cf.purged_files() == robots),
        "{:?}\n{}",
        cf.purged_files(),
        w.dump()
    );

    // The new release is watched, through the link.
    fs::write(site.path("releases/2/index.html"), "<p>2</p>").expect("write");
    assert!(
        eventually(|| cf.purge_requests().len() == 2),
        "an edit in the new release was not seen: {:?}\n{}",
        cf.purged_files(),
        w.dump()
    );
    assert_eq!(
        files_of(&cf.purge_requests()[1]),
        set(["https://example.com/", "https://example.com/index.html"])
    );
    assert_clean(&cf);
}

#[test]
fn a_run_killed_mid_purge_still_owes_the_change_even_after_a_revert() {
    let cf = FakeCloudflare::start();
    let site = Site::with_pages(&BLOG, &[]);
    site.baseline(&cf);
    let about = set([
        "https://example.com/about/",
        "https://example.com/about/index.html",
    ]);
    // about: A -> B, and the run is killed (-9) while its purge request is out.
    site.page("about/index.html", "<h1>About B</h1>");
    cf.set_latency(Duration::from_secs(5));
    let mut run = site.spawn(&cf, &["run"]);
    assert!(
        eventually(|| !cf.purge_requests().is_empty()),
        "no purge\n{}",
        run.dump()
    );
    signal(run.pid(), "KILL");
    wait_exit(&mut run.child.0, PATIENCE).expect("killed");
    // Written ahead: the state owes about/index.html and still records A.
    let state = site.state();
    assert_eq!(
        state["pending"],
        serde_json::json!(["about/index.html"]),
        "{state:#}"
    );
    assert_eq!(
        site.state_files()["about/index.html"],
        sha("<h1>About</h1>")
    );

    // Back to A: no file differs from the state, but the cache may hold B.
    site.page("about/index.html", "<h1>About</h1>");
    cf.set_latency(Duration::ZERO);
    let before = cf.purge_requests().len();
    let out = site.exec(&cf, &["run", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let sent: BTreeSet<String> = cf.purge_requests()[before..]
        .iter()
        .flat_map(files_of)
        .collect();
    assert_eq!(sent, about);
    assert_eq!(site.state().get("pending"), None, "nothing owed any more");
}
