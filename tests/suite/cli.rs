//! End-to-end tests of the real `sitepurge` binary. Each test builds a small site in its own
//! temp folder, runs the binary there with no `SITEPURGE_*`/`CLOUDFLARE_*` variable inherited,
//! and checks what a user sees: exit code, URLs, summary lines, errors and the state file.
//! Expected URLs are written out by hand, never computed with sitepurge's own code.
#![cfg(unix)]

use crate::support;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use support::expect::{BASE, urls};
use support::site::{Folder, Out, STATE, Site, isolated, sitepurge_bin, sitepurge_in};

// What these tests do with a `Site` (tests/support/site.rs): a temp folder used as the cwd,
// holding the output folder `_site` unless made `bare`.
/// What this suite does with a test site (an extension trait: every suite adds its own).
trait CliSite {
    fn abs(&self, rel: &str) -> PathBuf;
    fn cmd(&self, args: &[&str]) -> Command;
    fn json(&self, args: &[&str]) -> Value;
    fn plan(&self, args: &[&str]) -> Value;
    fn baseline(&self);
}

impl CliSite for Site {
    /// The absolute path sitepurge prints for `rel` (it names paths from its real cwd).
    fn abs(&self, rel: &str) -> PathBuf {
        fs::canonicalize(self.root())
            .expect("canonicalize")
            .join(rel)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = sitepurge_in(self.root());
        cmd.args(args);
        cmd
    }

    /// Runs a command that must succeed, with `--json`, and returns its report.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).arg("--json").assert().success();
        serde_json::from_slice(&out.get_output().stdout).expect("one JSON object on stdout")
    }

    /// `sitepurge plan --base-url https://example.com/ ARGS --json`.
    fn plan(&self, args: &[&str]) -> Value {
        let mut all = vec!["plan", "--base-url", BASE];
        all.extend_from_slice(args);
        self.json(&all)
    }

    /// Records the current site as the state, silently.
    fn baseline(&self) {
        self.baseline_with(&mut self.cmd(&["baseline", "-q"]));
    }
}

/// `(url, path, change)` of every URL in a report, sorted.
fn purges(report: &Value) -> Vec<(String, String, String)> {
    let mut all: Vec<_> = report["urls"]
        .as_array()
        .expect("urls array")
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().expect("string field").to_string();
            (s("url"), s("path"), s("change"))
        })
        .collect();
    all.sort();
    all
}

fn decision(report: &Value) -> (&str, &str) {
    (
        report["decision"].as_str().expect("decision"),
        report["reason"].as_str().expect("reason"),
    )
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

/// A small blog: 6 files, 9 URLs under one base URL.
fn blog() -> Site {
    let site = Site::new();
    site.page("index.html", "<h1>Home</h1>");
    site.page("about/index.html", "<h1>About</h1>");
    site.page("posts/first/index.html", "<h1>First</h1>");
    site.page("css/site.css", "body { margin: 0 }");
    site.page("img/logo.png", [0x89, b'P', b'N', b'G', 0, 1, 2, 3]);
    site.page("robots.txt", "User-agent: *\n");
    site
}

#[test]
fn plan_lists_exactly_the_urls_of_added_modified_and_removed_files() {
    let site = blog();
    site.baseline();
    let state = site.state_bytes().expect("state");
    let written_at = site.state()["written_at"].clone();

    site.page("posts/first/index.html", "<h1>First (edited)</h1>");
    site.page("posts/second/index.html", "<h1>Second</h1>");
    site.remove("robots.txt");

    let report = site.plan(&[]);
    assert_eq!(decision(&report), ("urls", "changes"));
    assert_eq!(
        purges(&report),
        [
            (
                "https://example.com/posts/first/",
                "posts/first/index.html",
                "modified"
            ),
            (
                "https://example.com/posts/first/index.html",
                "posts/first/index.html",
                "modified"
            ),
            (
                "https://example.com/posts/second/",
                "posts/second/index.html",
                "added"
            ),
            (
                "https://example.com/posts/second/index.html",
                "posts/second/index.html",
                "added"
            ),
            ("https://example.com/robots.txt", "robots.txt", "removed"),
        ]
        .map(|(u, p, c)| (u.to_string(), p.to_string(), c.to_string()))
    );
    assert_eq!(report["command"], "plan");
    assert_eq!(report["dir"], "_site");
    assert_eq!(report["state"], STATE);
    assert_eq!(report["state_written_at"], written_at);
    assert_eq!(report["first_run"], false);
    assert_eq!(report["files_scanned"], 6);
    assert_eq!(
        report["changes"]["added"],
        serde_json::json!(["posts/second/index.html"])
    );
    assert_eq!(
        report["changes"]["modified"],
        serde_json::json!(["posts/first/index.html"])
    );
    assert_eq!(
        report["changes"]["removed"],
        serde_json::json!(["robots.txt"])
    );
    // 11 URLs (removed file included); 50% of 11 is 5: exactly at the limit is still a URL purge.
    assert_eq!(
        report["threshold"],
        serde_json::json!({"setting": "50%", "limit": 5, "site_urls": 11})
    );
    assert_eq!(report["state_saved"], false);
    assert_eq!(report["warnings"], serde_json::json!([]));

    // `run --dry-run` is the same plan, and neither touches the state.
    let mut dry = site.json(&["run", "--dry-run", "--base-url", BASE]);
    let mut plan = report.clone();
    for r in [&mut dry, &mut plan] {
        r.as_object_mut().expect("object").remove("command");
    }
    assert_eq!(dry, plan);
    assert_eq!(
        site.state_bytes(),
        Some(state),
        "plan must leave the state byte-identical"
    );
    let names: Vec<_> = fs::read_dir(site.path(".sitepurge"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["state.json"], "no temp file left next to the state");
}

#[test]
fn no_change_after_baseline_purges_nothing() {
    let site = blog();
    site.baseline();
    let report = site.plan(&[]);
    assert_eq!(decision(&report), ("nothing", "no-changes"));
    assert_eq!(urls(&report), Vec::<String>::new());
    assert_eq!(
        report["changes"],
        serde_json::json!({"added": [], "modified": [], "removed": []})
    );
    assert_eq!(report["files_scanned"], 6);
}

#[test]
fn baseline_records_every_file_with_its_sha256() {
    let site = Site::new();
    site.page("index.html", "hello");
    site.page("a b/é.txt", "");
    site.cmd(&["baseline", "--base-url", "https://Example.COM"])
        .assert()
        .success();
    let state = site.state();
    assert_eq!(state["format"], 1);
    assert_eq!(
        state["base_urls"],
        serde_json::json!(["https://example.com/"])
    );
    assert_eq!(
        state["files"],
        serde_json::json!({
            // sha256("hello") and sha256("")
            "index.html": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "a b/é.txt": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        })
    );
    let written_at = state["written_at"].as_str().expect("written_at");
    assert!(
        written_at.len() == 20 && written_at.ends_with('Z'),
        "RFC 3339 UTC seconds: {written_at}"
    );
}

#[test]
fn first_run_purges_everything_unless_told_to_baseline() {
    let site = Site::new();
    site.page("index.html", "home");
    site.page("css/site.css", "body{}");

    let report = site.plan(&[]);
    assert_eq!(decision(&report), ("everything", "first-run"));
    assert_eq!(report["first_run"], true);
    assert_eq!(report["state_written_at"], Value::Null);
    // Every URL of the site is listed, all as added.
    assert_eq!(
        urls(&report),
        [
            "https://example.com/",
            "https://example.com/css/site.css",
            "https://example.com/index.html",
        ]
    );
    assert_eq!(
        report["changes"]["added"],
        serde_json::json!(["css/site.css", "index.html"])
    );

    let report = site.plan(&["--first-run", "baseline"]);
    assert_eq!(decision(&report), ("nothing", "first-run-baseline"));
    site.put("sitepurge.toml", "first_run = \"baseline\"\n");
    assert_eq!(decision(&site.plan(&[])), ("nothing", "first-run-baseline"));
    assert_eq!(site.state_bytes(), None, "plan must not write a state");
}

#[test]
fn threshold_switches_to_everything_above_the_limit() {
    let site = blog();
    site.baseline();
    site.page("about/index.html", "<h1>About us</h1>");
    site.page("css/site.css", "body { margin: 1em }");
    let changed = [
        "https://example.com/about/",
        "https://example.com/about/index.html",
        "https://example.com/css/site.css",
    ];

    let report = site.plan(&["--threshold", "2"]);
    assert_eq!(decision(&report), ("everything", "threshold"));
    assert_eq!(
        report["threshold"],
        serde_json::json!({"setting": "2", "limit": 2, "site_urls": 9})
    );
    assert_eq!(urls(&report), changed, "changed URLs are still listed");

    let report = site.plan(&["--threshold", "100%"]);
    assert_eq!(decision(&report), ("urls", "changes"));
    assert_eq!(
        report["threshold"],
        serde_json::json!({"setting": "100%", "limit": 9, "site_urls": 9})
    );
    assert_eq!(urls(&report), changed);

    // Default 50% of 9 URLs is 4.
    assert_eq!(decision(&site.plan(&[])), ("urls", "changes"));
    // From the config file, as a number.
    site.put("sitepurge.toml", "threshold = 2\n");
    assert_eq!(decision(&site.plan(&[])), ("everything", "threshold"));

    site.cmd(&["plan", "--base-url", BASE, "--threshold", "lots"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("threshold").and(predicate::str::contains("lots")));
}

/// A site with a changed home page and new files whose names need percent-encoding.
fn cafe() -> Site {
    let site = Site::new();
    site.page("index.html", "home");
    site.page("about/index.html", "about");
    site.baseline();
    site.page("index.html", "home, with a new post");
    site.page("posts/café au lait/index.html", "coffee");
    site.page("img/café crème.jpg", [0xff, 0xd8, 0xff]);
    site
}

#[test]
fn every_base_url_gets_every_spelling_percent_encoded() {
    let site = cafe();
    let report = site.json(&[
        "plan",
        "--base-url",
        "https://example.com",
        "--base-url",
        "https://www.example.com/",
        "--threshold",
        "100%",
    ]);
    assert_eq!(decision(&report), ("urls", "changes"));
    assert_eq!(
        urls(&report),
        [
            "https://example.com/",
            "https://example.com/img/caf%C3%A9%20cr%C3%A8me.jpg",
            "https://example.com/index.html",
            "https://example.com/posts/caf%C3%A9%20au%20lait/",
            "https://example.com/posts/caf%C3%A9%20au%20lait/index.html",
            "https://www.example.com/",
            "https://www.example.com/img/caf%C3%A9%20cr%C3%A8me.jpg",
            "https://www.example.com/index.html",
            "https://www.example.com/posts/caf%C3%A9%20au%20lait/",
            "https://www.example.com/posts/caf%C3%A9%20au%20lait/index.html",
        ]
    );
    assert_eq!(
        report["changes"]["added"],
        serde_json::json!(["img/café crème.jpg", "posts/café au lait/index.html"])
    );
}

#[test]
fn base_url_with_a_path_prefix_keeps_the_prefix() {
    let site = cafe();
    let report = site.json(&[
        "plan",
        "--base-url",
        "https://example.com/docs/",
        "--threshold",
        "100%",
    ]);
    assert_eq!(
        urls(&report),
        [
            "https://example.com/docs/",
            "https://example.com/docs/img/caf%C3%A9%20cr%C3%A8me.jpg",
            "https://example.com/docs/index.html",
            "https://example.com/docs/posts/caf%C3%A9%20au%20lait/",
            "https://example.com/docs/posts/caf%C3%A9%20au%20lait/index.html",
        ]
    );
}

#[test]
fn base_urls_changed_since_the_state_purge_everything() {
    let site = blog();
    site.cmd(&["baseline", "--base-url", BASE])
        .assert()
        .success();
    assert_eq!(decision(&site.plan(&[])), ("nothing", "no-changes"));
    let report = site.json(&[
        "plan",
        "--base-url",
        BASE,
        "--base-url",
        "https://www.example.com/",
    ]);
    assert_eq!(decision(&report), ("everything", "base-urls-changed"));
}

#[test]
fn ignored_paths_never_produce_urls() {
    let site = Site::new();
    site.put(
        "sitepurge.toml",
        "base_urls = [\"https://example.com/\"]\nignore = [\"*.map\", \"drafts/**\"]\n",
    );
    site.page("index.html", "home");
    site.page("css/app.css", "body{}");
    site.page("css/app.css.map", "{\"version\":3}");
    site.page("drafts/next/index.html", "draft");
    site.baseline();
    let files = site.state()["files"].clone();
    let tracked: Vec<&String> = files.as_object().expect("files").keys().collect();
    assert_eq!(tracked, ["css/app.css", "index.html"]);

    site.page("css/app.css.map", "{\"version\":3,\"x\":1}");
    site.page("js/app.js.map", "{}");
    site.page("drafts/next/index.html", "draft, edited");
    site.page("drafts/later.html", "another draft");
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("nothing", "no-changes"));
    assert_eq!(report["files_scanned"], 2);

    site.page("css/app.css", "body{margin:0}");
    site.remove("drafts/next/index.html");
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("urls", "changes"));
    assert_eq!(urls(&report), ["https://example.com/css/app.css"]);
}

#[test]
fn a_file_ignored_after_the_baseline_is_not_reported_removed() {
    let site = Site::new();
    site.put("sitepurge.toml", "base_urls = [\"https://example.com/\"]\n");
    site.page("index.html", "home");
    site.page("css/app.css.map", "{}");
    site.baseline();
    site.put(
        "sitepurge.toml",
        "base_urls = [\"https://example.com/\"]\nignore = [\"*.map\"]\n",
    );
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("nothing", "no-changes"));
    assert_eq!(report["changes"]["removed"], serde_json::json!([]));
}

#[test]
fn ignore_content_hides_build_noise_and_changing_the_rules_purges_everything() {
    let site = Site::new();
    let config = |rules: &str| {
        format!("base_urls = [\"https://example.com/\"]\nignore_content = [{rules}]\n")
    };
    let page = |stamp: &str, text: &str| {
        format!("<meta name=\"build-time\" content=\"{stamp}\"><p>{text}</p>")
    };
    site.put(
        "sitepurge.toml",
        config(r#"'<meta name="build-time" content="[^"]*">'"#),
    );
    site.page("index.html", page("2025-03-01T10:00:00Z", "Hello"));
    site.page("about/index.html", page("2025-03-01T10:00:00Z", "About"));
    site.page("css/site.css", "body{}");
    site.baseline();

    // Rebuilt: only the timestamps differ.
    site.page("index.html", page("2025-03-02T08:30:00Z", "Hello"));
    site.page("about/index.html", page("2025-03-02T08:30:00Z", "About"));
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("nothing", "no-changes"));

    // A real change still counts.
    site.page("about/index.html", page("2025-03-02T08:30:00Z", "About us"));
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("urls", "changes"));
    assert_eq!(
        urls(&report),
        [
            "https://example.com/about/",
            "https://example.com/about/index.html"
        ]
    );

    // Other rules: the recorded hashes no longer compare.
    site.page("about/index.html", page("2025-03-02T08:30:00Z", "About"));
    site.put(
        "sitepurge.toml",
        config(r#"'<meta name="build-time" content="[^"]*">', '<!-- built in \d+ms -->'"#),
    );
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("everything", "content-rules-changed"));
    assert!(
        report["explanation"]
            .as_str()
            .expect("explanation")
            .contains("sitepurge baseline"),
        "{report}"
    );
    // Recording again under the new rules settles it.
    site.baseline();
    assert_eq!(decision(&site.json(&["plan"])), ("nothing", "no-changes"));
}

#[test]
fn corrupt_state_exits_3_and_is_left_alone() {
    let site = blog();
    site.put(STATE, "{\"format\": 1, \"files\": oops}");
    let before = site.state_bytes();
    for args in [
        &["plan", "--base-url", BASE][..],
        &["run", "--dry-run", "--base-url", BASE][..],
    ] {
        let out = site.cmd(args).assert().code(3).stdout("");
        let err = stderr_of(&out);
        let path = site.abs(STATE);
        assert!(
            err.starts_with(&format!("error: state file {} is corrupt", path.display())),
            "{err}"
        );
        assert!(
            err.contains("hint: delete it to start over") && err.contains("`sitepurge baseline`"),
            "{err}"
        );
    }
    assert_eq!(site.state_bytes(), before, "state must not be rewritten");
}

#[test]
fn truncated_state_exits_3_saying_so() {
    let site = blog();
    site.baseline();
    let full = site.state_bytes().expect("state");
    site.put(STATE, &full[..full.len() / 2]);
    let out = site
        .cmd(&["plan", "--base-url", BASE])
        .assert()
        .code(3)
        .stdout("");
    let err = stderr_of(&out);
    assert!(err.contains("truncated"), "{err}");
    assert!(
        err.contains("hint: delete it to start over") && err.contains("`sitepurge baseline`"),
        "{err}"
    );
    assert_eq!(site.state_bytes().as_deref(), Some(&full[..full.len() / 2]));

    site.put(STATE, "");
    site.cmd(&["plan", "--base-url", BASE])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("empty"));
}

#[test]
fn state_from_a_newer_sitepurge_exits_3_naming_it() {
    let site = blog();
    site.put(
        STATE,
        r#"{"format": 99, "tool": "sitepurge 9.0.0", "files": {}}"#,
    );
    site.cmd(&["plan", "--base-url", BASE])
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("sitepurge 9.0.0")
                .and(predicate::str::contains("hint: upgrade sitepurge")),
        );
}

/// The hint for an unusable state says to run `sitepurge baseline`; that must then work.
#[test]

fn baseline_replaces_a_corrupt_state() {
    let site = blog();
    site.put(STATE, "garbage");
    site.cmd(&["baseline"]).assert().success();
    assert_eq!(decision(&site.plan(&[])), ("nothing", "no-changes"));
}

#[test]
fn missing_output_folder_exits_4_naming_it() {
    let site = Site::new();
    let out = site
        .cmd(&["plan", "build", "--base-url", BASE])
        .assert()
        .code(4)
        .stdout("");
    let err = stderr_of(&out);
    assert!(
        err.starts_with(&format!(
            "error: output folder {} does not exist\nhint: ",
            site.abs("build").display()
        )),
        "{err}"
    );
    // Also when named by the config file, and for baseline, which then writes nothing.
    site.put("sitepurge.toml", "dir = \"dist\"\n");
    site.cmd(&["baseline"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!(
            "{}",
            site.abs("dist").display()
        )));
    assert_eq!(site.state_bytes(), None);
}

#[test]
fn no_output_folder_found_exits_2_with_a_hint() {
    let site = Site::bare();
    let out = site
        .cmd(&["plan", "--base-url", BASE])
        .assert()
        .code(2)
        .stdout("");
    let err = stderr_of(&out);
    assert!(err.contains("neither _site nor public exists"), "{err}");
    assert!(
        err.contains("\nhint: name it on the command line (`sitepurge run public`)"),
        "{err}"
    );

    fs::create_dir(site.path("_site")).expect("mkdir");
    fs::create_dir(site.path("public")).expect("mkdir");
    site.cmd(&["plan", "--base-url", BASE])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("both _site and public exist")
                .and(predicate::str::contains("hint: name it")),
        );
    // `public` alone is found.
    fs::remove_dir(site.path("_site")).expect("rmdir");
    assert_eq!(site.plan(&[])["dir"], "public");
}

#[test]
fn plan_without_base_url_exits_2_naming_the_flag() {
    let site = blog();
    let out = site.cmd(&["plan"]).assert().code(2).stdout("");
    let err = stderr_of(&out);
    assert!(
        err.starts_with("error: invalid setting `base_urls`"),
        "{err}"
    );
    assert!(
        err.contains("\nhint: pass --base-url https://example.com/"),
        "{err}"
    );
    // baseline does not need one.
    site.cmd(&["baseline"]).assert().success();
}

#[test]
fn unknown_config_key_exits_2_naming_the_key_and_the_file() {
    let site = blog();
    site.put(
        "sitepurge.toml",
        "dir = \"_site\"\nbase_url = \"https://example.com/\"\n",
    );
    let out = site.cmd(&["baseline"]).assert().code(2).stdout("");
    let err = stderr_of(&out);
    assert!(err.contains("base_url"), "{err}");
    assert!(
        err.contains(&format!("{}", site.abs("sitepurge.toml").display())),
        "{err}"
    );
    assert_eq!(site.state_bytes(), None);

    site.put("conf/site.toml", "treshold = 10\n");
    site.cmd(&["plan", "--config", "conf/site.toml", "--base-url", BASE])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("treshold").and(predicate::str::contains("conf/site.toml")),
        );
}

#[test]
fn state_inside_the_output_folder_is_refused() {
    let site = blog();
    site.cmd(&["baseline", "--state", "_site/.state.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "hint: generators wipe their output folder",
        ));
    assert!(!site.path("_site/.state.json").exists());
}

/// Runs the binary as user 65534 when the tests run as root, so file permissions apply.
fn unprivileged(site: &Site, args: &[&str]) -> Command {
    // A freshly created folder belongs to the effective user.
    let root = fs::metadata(site.root()).expect("stat").uid() == 0;
    if !root {
        return site.cmd(args);
    }
    if let Err(e) = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
    {
        panic!(
            "running as root, this test needs `setpriv` (util-linux) to drop privileges, \
             so that file permissions apply: {e}"
        );
    }
    // A copy beside the site: the build folder may sit below one that user 65534 cannot
    // enter (a checkout under /root).
    let bin = site.path("sitepurge-as-nobody");
    if !bin.exists() {
        fs::copy(sitepurge_bin(), &bin).expect("copy the binary");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let as_nobody = |args: &[&str]| {
        let mut cmd = Command::from_std(isolated("setpriv", site.root()));
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(args);
        cmd
    };
    let probe = as_nobody(&["--version"]).output().expect("run setpriv");
    assert!(
        probe.status.success(),
        "user 65534 cannot run {} (every folder above it must be world-executable): {}",
        bin.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    as_nobody(args)
}

#[test]
#[cfg_attr(
    missing_setpriv,
    ignore = "needs setpriv to drop privileges when run as root: apt-get install util-linux (or run tests/run-all.sh)"
)]
fn unreadable_file_exits_4_naming_it_and_writes_no_state() {
    let site = blog();
    let chmod = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    };
    // Any user may traverse the folders and create the state: only the locked file stops it.
    chmod(site.root(), 0o777);
    chmod(&site.path("_site"), 0o777);
    let locked = site.path("_site/about/index.html");
    chmod(&locked, 0o000);

    for args in [&["baseline"][..], &["plan", "--base-url", BASE][..]] {
        let out = unprivileged(&site, args).assert().code(4).stdout("");
        let err = stderr_of(&out);
        assert!(
            err.starts_with(&format!(
                "error: cannot read {}: ",
                site.abs("_site/about/index.html").display()
            )),
            "{err}"
        );
        assert!(!site.path(".sitepurge").exists(), "no state may be written");
    }

    // The same user succeeds once the file is readable.
    chmod(&locked, 0o644);
    unprivileged(&site, &["baseline", "-q"]).assert().success();
    assert!(site.state_bytes().is_some());
}

#[test]
fn non_utf8_file_name_is_skipped_with_a_warning() {
    let site = blog();
    // "café.html" in Latin-1.
    fs::write(
        site.path("_site").join(OsStr::from_bytes(b"caf\xe9.html")),
        "x",
    )
    .expect("write");
    // The odd byte escaped, not replaced by U+FFFD: two such names stay told apart.
    let warning = format!(
        "warning: skipped {}: its name is not UTF-8, so it has no URL\n",
        site.abs("_site/caf\\xE9.html").display()
    );
    site.cmd(&["baseline"])
        .assert()
        .success()
        .stderr(warning.clone());
    let report = site.plan(&[]);
    assert_eq!(decision(&report), ("nothing", "no-changes"));
    assert_eq!(report["files_scanned"], 6);
    assert_eq!(report["warnings"].as_array().expect("warnings").len(), 1);
    site.cmd(&["plan", "--base-url", BASE])
        .assert()
        .success()
        .stderr(warning);
    // -q silences warnings too.
    site.cmd(&["plan", "-q", "--base-url", BASE])
        .assert()
        .success()
        .stdout("")
        .stderr("");
}

#[test]
fn quiet_prints_nothing_and_verbose_lists_every_url() {
    let site = Site::new();
    site.page("index.html", "home");
    site.page("css/site.css", "body{}");
    site.page("robots.txt", "");
    site.page("favicon.ico", [0, 0, 1, 0]);
    site.baseline();
    let written_at = site.state()["written_at"].as_str().expect("ts").to_string();
    site.page("css/site.css", "body{margin:0}");
    site.page("about/index.html", "about");

    site.cmd(&["plan", "-q", "--base-url", BASE])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    site.cmd(&["plan", "-v", "--base-url", BASE])
        .assert()
        .success()
        .stderr("")
        .stdout(format!(
            "scanned 5 files in _site (state of {written_at})\n\
             changes: 1 added, 1 modified, 0 removed\n\
             plan: purge 3 URLs: 3 URLs of changed files, within the threshold of 3 of the site's 7 URLs\n\
             \x20 added     https://example.com/about/  <- about/index.html\n\
             \x20 added     https://example.com/about/index.html  <- about/index.html\n\
             \x20 modified  https://example.com/css/site.css  <- css/site.css\n"
        ));
    let out = site
        .cmd(&["plan", "-vv", "--base-url", BASE])
        .assert()
        .success();
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "debug: state file: {}\n",
            site.abs(STATE).display()
        )),
        "{err}"
    );
    site.cmd(&["plan", "-q", "-v", "--base-url", BASE])
        .assert()
        .code(2);
}

#[test]
fn human_summary_says_what_was_scanned_changed_and_planned() {
    let site = Site::new();
    site.page("a.css", "a");

    // First run.
    let out = site
        .cmd(&["plan", "--base-url", BASE])
        .assert()
        .success()
        .stderr("");
    let text = stdout_of(&out);
    assert!(
        text.starts_with(
            "scanned 1 file in _site (no state yet at .sitepurge/state.json)\n\
             changes: 1 added, 0 modified, 0 removed\n\
             plan: purge everything (hosts example.com): first run: "
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");

    site.cmd(&["baseline"])
        .assert()
        .success()
        .stderr("")
        .stdout(
            "scanned 1 file in _site (no state yet at .sitepurge/state.json)\n\
         recorded 1 file in .sitepurge/state.json; nothing purged\n",
        );
    let written_at = site.state()["written_at"].as_str().expect("ts").to_string();

    site.cmd(&["plan", "--base-url", BASE])
        .assert()
        .success()
        .stdout(format!(
            "scanned 1 file in _site (state of {written_at})\n\
         changes: 0 added, 0 modified, 0 removed\n\
         plan: nothing to purge: no file changed since the last run\n"
        ));

    site.page("b.css", "b");
    site.cmd(&["plan", "--base-url", BASE]).assert().success().stdout(format!(
        "scanned 2 files in _site (state of {written_at})\n\
         changes: 1 added, 0 modified, 0 removed\n\
         plan: purge 1 URL: 1 URL of changed files, within the threshold of 1 of the site's 2 URLs\n"
    ));
    site.page("a.css", "a2");
    site.cmd(&["plan", "--base-url", BASE]).assert().success().stdout(format!(
        "scanned 2 files in _site (state of {written_at})\n\
         changes: 1 added, 1 modified, 0 removed\n\
         plan: purge everything (hosts example.com): 2 changed URLs is more than the threshold of 1 of the site's 2 URLs\n"
    ));
    site.cmd(&["plan", "--base-url", BASE, "--threshold", "2"])
        .assert()
        .success()
        .stdout(format!(
            "scanned 2 files in _site (state of {written_at})\n\
             changes: 1 added, 1 modified, 0 removed\n\
             plan: purge 2 URLs: 2 URLs of changed files, within the threshold of 2 of the site's 2 URLs\n"
        ));
}

/// `cargo run -q -- plan --config examples/sitepurge.toml`, from the repository root.
#[test]
fn example_site_plans_the_documented_diff() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let state_path = repo.join("examples/state.json");
    let state = fs::read(&state_path).expect("examples/state.json");
    let recorded: Value = serde_json::from_slice(&state).expect("state JSON");
    let written_at = recorded["written_at"].as_str().expect("written_at");
    let run = |extra: &[&str]| {
        let mut cmd = sitepurge_in(repo);
        cmd.args(["plan", "--config", "examples/sitepurge.toml"])
            .args(extra);
        cmd.assert().success().stderr("")
    };

    let expected = [
        (
            "removed",
            "https://example.com/contact.html",
            "contact.html",
        ),
        ("modified", "https://example.com/feed.xml", "feed.xml"),
        (
            "added",
            "https://example.com/posts/caf%C3%A9%20au%20lait/",
            "posts/café au lait/index.html",
        ),
        (
            "added",
            "https://example.com/posts/caf%C3%A9%20au%20lait/index.html",
            "posts/café au lait/index.html",
        ),
        (
            "modified",
            "https://example.com/posts/hello-world/",
            "posts/hello-world/index.html",
        ),
        (
            "modified",
            "https://example.com/posts/hello-world/index.html",
            "posts/hello-world/index.html",
        ),
        (
            "removed",
            "https://www.example.com/contact.html",
            "contact.html",
        ),
        ("modified", "https://www.example.com/feed.xml", "feed.xml"),
        (
            "added",
            "https://www.example.com/posts/caf%C3%A9%20au%20lait/",
            "posts/café au lait/index.html",
        ),
        (
            "added",
            "https://www.example.com/posts/caf%C3%A9%20au%20lait/index.html",
            "posts/café au lait/index.html",
        ),
        (
            "modified",
            "https://www.example.com/posts/hello-world/",
            "posts/hello-world/index.html",
        ),
        (
            "modified",
            "https://www.example.com/posts/hello-world/index.html",
            "posts/hello-world/index.html",
        ),
    ];
    let summary = format!(
        "scanned 8 files in examples/site (state of {written_at})\n\
         changes: 1 added, 2 modified, 1 removed\n\
         plan: purge 12 URLs: 12 URLs of changed files, within the threshold of 13 of the site's 26 URLs\n"
    );
    run(&[]).stdout(summary.clone());
    let listing: String = expected
        .iter()
        .map(|(change, url, path)| format!("  {change:<8}  {url}  <- {path}\n"))
        .collect();
    run(&["-v"]).stdout(format!("{summary}{listing}"));

    let report: Value =
        serde_json::from_slice(&run(&["--json"]).get_output().stdout).expect("JSON");
    assert_eq!(decision(&report), ("urls", "changes"));
    let listed: Vec<&str> = report["urls"]
        .as_array()
        .expect("urls")
        .iter()
        .map(|u| u["url"].as_str().expect("url"))
        .collect();
    assert_eq!(listed, expected.map(|(_, url, _)| url));
    assert_eq!(report["state"], "examples/state.json");

    assert_eq!(
        fs::read(&state_path).expect("examples/state.json"),
        state,
        "plan must not touch examples/state.json"
    );
}

#[test]
fn watch_without_credentials_refuses_to_start() {
    let site = Site::new();
    site.page("index.html", "home");
    let out = site
        .cmd(&["watch", "--base-url", BASE])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(2);
    let err = stderr_of(&out);
    assert!(err.contains("no Cloudflare credentials are set"), "{err}");
    assert!(err.contains("hint: create an API token"), "{err}");
}

#[test]
fn json_errors_are_an_object_on_stdout_too() {
    let site = Site::new();
    site.page("index.html", "home");
    let out = site.cmd(&["plan", "--json"]).assert().code(2);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON on stdout");
    assert_eq!(report["ok"], false);
    assert_eq!(report["exit_code"], 2);
    assert!(
        report["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no base URL"),
        "{report}"
    );
    assert!(
        report["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("--base-url")
    );
    assert!(stderr_of(&out).starts_with("error: "));
}

#[test]
fn turning_on_a_url_option_purges_everything_once() {
    let site = Site::new();
    site.put("sitepurge.toml", "base_urls = [\"https://example.com/\"]\n");
    site.page("about.html", "about");
    site.page("index.html", "home");
    site.baseline();
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("nothing", "no-changes"));

    // /about was never purged: the next run must cover it.
    site.put(
        "sitepurge.toml",
        "base_urls = [\"https://example.com/\"]\nclean_urls = true\n",
    );
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("everything", "base-urls-changed"));
    assert!(
        report["explanation"]
            .as_str()
            .unwrap_or_default()
            .contains("URL options"),
        "{report}"
    );

    // Recorded with the option: settled.
    site.cmd(&["baseline", "-q"]).assert().success();
    assert_eq!(
        site.state()["url_options"],
        serde_json::json!(["clean_urls"])
    );
    let report = site.json(&["plan"]);
    assert_eq!(decision(&report), ("nothing", "no-changes"));
}

// ---------------------------------------------------------------------------------------------
// First use: init, the base URL from the generator's config, completions, the man page

/// A Jekyll source folder as `jekyll new` leaves it after a build, with its public address set.
fn jekyll_blog(config: &str) -> Site {
    let site = blog();
    site.put("_config.yml", config);
    site
}

const BLOG_CONFIG: &str = "title: Blog\nurl: \"https://blog.example.com\"\nbaseurl: \"/blog\"\n";

#[test]
fn init_in_a_fresh_jekyll_site_then_plan_and_run_need_no_flag() {
    let site = jekyll_blog(BLOG_CONFIG);
    let init = site.cmd(&["init"]).assert().success();
    assert_eq!(
        stdout_of(&init),
        "wrote sitepurge.toml\n\
         \x20 generator jekyll (from _config.yml)\n\
         \x20 output folder _site\n\
         \x20 base URL https://blog.example.com/blog/ from _config.yml\n\
         next:\n\
         \x20 sitepurge baseline     # once, after a deploy: record the site as the cache has it\n\
         \x20 sitepurge plan         # after the next build: what would be purged, and why\n\
         \x20 CLOUDFLARE_API_TOKEN=... sitepurge run   # after each deploy: purge what changed\n"
    );
    let config = fs::read_to_string(site.path("sitepurge.toml")).expect("read");
    assert!(config.contains("generator = \"jekyll\""), "{config}");
    assert!(config.contains("dir = \"_site\""), "{config}");

    // The next commands it printed work as they are.
    site.cmd(&["baseline", "-q"]).assert().success().stdout("");
    site.page("about/index.html", "<h1>About us</h1>");
    let plan = site.cmd(&["plan"]).assert().success();
    assert_eq!(
        stdout_of(&plan),
        format!(
            "scanned 6 files in _site (jekyll preset; state of {})\n\
             base URL https://blog.example.com/blog/ from _config.yml\n\
             changes: 0 added, 1 modified, 0 removed\n\
             plan: purge 2 URLs: 2 URLs of changed files, within the threshold of 4 of the site's 9 URLs\n",
            site.state()["written_at"].as_str().expect("written_at")
        )
    );
    let report = Out::of(&mut site.cmd(&["plan", "--json"])).json();
    assert_eq!(
        report["base_urls"],
        serde_json::json!(["https://blog.example.com/blog/"])
    );
    assert_eq!(report["base_urls_from"], "_config.yml");
    assert_eq!(
        purges(&report),
        [
            (
                "https://blog.example.com/blog/about/",
                "about/index.html",
                "modified"
            ),
            (
                "https://blog.example.com/blog/about/index.html",
                "about/index.html",
                "modified"
            ),
        ]
        .map(|(u, p, c)| (u.to_string(), p.to_string(), c.to_string()))
    );
}

#[test]
fn init_refuses_to_replace_a_config_unless_forced() {
    let site = jekyll_blog(BLOG_CONFIG);
    site.put("sitepurge.toml", "threshold = 10\n");
    let out = site.cmd(&["init"]).assert().code(2).stdout("");
    assert_eq!(
        stderr_of(&out),
        format!(
            "error: {} already exists\nhint: edit it, or pass --force to replace it with a new one\n",
            site.abs("sitepurge.toml").display()
        )
    );
    assert_eq!(
        fs::read_to_string(site.path("sitepurge.toml")).expect("read"),
        "threshold = 10\n"
    );
    site.cmd(&["init", "--force"]).assert().success();
    assert!(
        fs::read_to_string(site.path("sitepurge.toml"))
            .expect("read")
            .contains("generator = \"jekyll\"")
    );
}

#[test]
fn init_without_a_base_url_says_to_set_one_first() {
    let site = jekyll_blog("title: Blog\nurl: \"\"\n");
    let out = Out::of(&mut site.cmd(&["init", "--provider", "http-purge"]));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(
            "  no base URL found: set base_urls in sitepurge.toml\nnext:\n  edit sitepurge.toml: set base_urls to the site's public address\n"
        ),
        "{out:?}"
    );
    let config = fs::read_to_string(site.path("sitepurge.toml")).expect("read");
    assert!(
        config.contains("provider = \"http-purge\"\n\n[http_purge]\n"),
        "{config}"
    );
    // Until then, plan says what is missing and why the site's own value was not used.
    let out = Out::of(&mut site.cmd(&["plan"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.starts_with(
            "error: invalid setting `base_urls`: no base URL is set, so files cannot be turned into URLs (_config.yml sets the base URL to \"\", not used: it is empty)\n"
        ),
        "{out:?}"
    );
}

#[test]
fn a_development_base_url_in_the_site_config_is_not_used() {
    let site = jekyll_blog("url: http://localhost:4000\n");
    let out = Out::of(&mut site.cmd(&["plan"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "(_config.yml sets the base URL to \"http://localhost:4000\", not used: it is a development address (localhost))"
        ),
        "{out:?}"
    );
}

#[test]
fn an_explicit_base_url_wins_over_the_site_config() {
    let site = jekyll_blog(BLOG_CONFIG);
    site.cmd(&["baseline", "-q"]).assert().success();
    site.page("robots.txt", "User-agent: *\nDisallow: /\n");
    for (args, env, expected) in [
        (
            &["plan", "--json", "--base-url", "https://flag.example/"][..],
            None,
            "https://flag.example/robots.txt",
        ),
        (
            &["plan", "--json"][..],
            Some("https://env.example/"),
            "https://env.example/robots.txt",
        ),
    ] {
        let mut cmd = site.cmd(args);
        if let Some(v) = env {
            cmd.env("SITEPURGE_BASE_URL", v);
        }
        let report = Out::of(&mut cmd).json();
        assert_eq!(report["base_urls_from"], Value::Null);
        assert_eq!(report["urls"][0]["url"], expected, "{report:#}");
    }
    site.put(
        "sitepurge.toml",
        "base_urls = [\"https://file.example/\"]\n",
    );
    let report = Out::of(&mut site.cmd(&["plan", "--json"])).json();
    assert_eq!(report["base_urls_from"], Value::Null);
    assert_eq!(report["urls"][0]["url"], "https://file.example/robots.txt");
}

#[test]
fn site_config_names_the_generators_config_files_in_merge_order() {
    let site = jekyll_blog(BLOG_CONFIG);
    site.put("_config.production.yml", "url: https://prod.example.org\n");
    site.put(
        "sitepurge.toml",
        "site_config = [\"_config.yml\", \"_config.production.yml\"]\n",
    );
    let report = Out::of(&mut site.cmd(&["plan", "--json"])).json();
    assert_eq!(
        report["base_urls"],
        serde_json::json!(["https://prod.example.org/blog/"])
    );
    assert_eq!(report["base_urls_from"], "_config.production.yml");
    // A broken one is an error naming it, not a silent fallback.
    site.put("_config.production.yml", "url: [\n");
    let out = Out::of(&mut site.cmd(&["plan"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "error: invalid setting `site_config`: cannot read {}: not valid YAML",
            site.abs("_config.production.yml").display()
        )),
        "{out:?}"
    );
}

#[test]
fn bash_completion_loads_and_completes_subcommands_and_values() {
    let site = Site::bare();
    let script = site.cmd(&["completions", "bash"]).assert().success();
    site.put("sitepurge.bash", stdout_of(&script));
    // What bash does on TAB: the function gets the command, the word and the word before it.
    let complete = |words: &[&str]| {
        let program = format!(
            "set -e; source ./sitepurge.bash; COMP_WORDS=({}); COMP_CWORD={}; \
             _sitepurge sitepurge '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = isolated("bash", site.root())
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .expect("run bash");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("utf8")
    };
    assert_eq!(complete(&["sitepurge", "in"]), "init\n");
    let all = complete(&["sitepurge", ""]);
    for command in [
        "plan",
        "baseline",
        "run",
        "verify",
        "watch",
        "init",
        "completions",
        "man",
    ] {
        assert!(all.lines().any(|l| l == command), "{command} not in {all}");
    }
    assert_eq!(complete(&["sitepurge", "completions", "fi"]), "fish\n");
    assert!(
        complete(&["sitepurge", "plan", "--base"])
            .lines()
            .any(|l| l == "--base-url")
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = Out::of(&mut site.cmd(&["completions", shell]));
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("sitepurge"), "{shell}");
    }
}

#[test]
#[cfg_attr(
    missing_man,
    ignore = "needs man and groff: apt-get install man-db groff-base (or run tests/run-all.sh)"
)]
fn man_page_renders_with_man() {
    let site = Site::bare();
    let page = site.cmd(&["man"]).assert().success();
    site.put("sitepurge.1", stdout_of(&page));
    site.cmd(&["man", "--dir", "man1"]).assert().success();
    for (file, expect) in [
        (
            "sitepurge.1",
            "Purge exactly the CDN URLs that a static site build changed",
        ),
        ("man1/sitepurge-init.1", "Write a commented sitepurge.toml"),
        ("man1/sitepurge-plan.1", "--base-url"),
    ] {
        let out = isolated("man", site.root())
            .args(["-l", file])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("run man");
        let text = String::from_utf8_lossy(&out.stdout);
        let errors = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && errors.is_empty(),
            "{file}: {errors}"
        );
        // man formats for a terminal: bold and underline as overstrikes.
        let mut plain = String::new();
        for c in text.chars() {
            if c == '\u{8}' {
                plain.pop();
            } else {
                plain.push(c);
            }
        }
        assert!(plain.contains(expect), "{file} lacks {expect:?}:\n{plain}");
        assert!(plain.contains("SYNOPSIS"), "{file}:\n{plain}");
    }
}

#[test]
fn a_usage_error_with_json_still_prints_one_error_object() {
    let site = blog();
    let out = Out::of(&mut site.cmd(&["plan", "--bogus", "--json"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.json(),
        serde_json::json!({
            "ok": false,
            "error": "unexpected argument '--bogus' found",
            "hint": "see sitepurge help",
            "exit_code": 2,
        })
    );
    assert!(
        out.stderr
            .starts_with("error: unexpected argument '--bogus' found"),
        "{out:?}"
    );
    // Without --json, clap's text alone; help and version are not errors.
    let out = Out::of(&mut site.cmd(&["plan", "--bogus"]));
    assert_eq!((out.code, out.stdout.as_str()), (2, ""), "{out:?}");
    for args in [
        &["--help"][..],
        &["--version"],
        &["plan", "--help", "--json"],
    ] {
        let out = Out::of(&mut site.cmd(args));
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(!out.stdout.contains("\"ok\""), "{args:?}: {out:?}");
    }
}

#[test]
fn verify_json_for_http_purge_has_the_documented_shape() {
    let site = blog();
    site.put(
        "sitepurge.toml",
        "provider = \"http-purge\"\nbase_urls = [\"https://example.com/\"]\n\n[http_purge]\nendpoint = \"http://127.0.0.1:6081\"\nheaders = { \"X-Purge-Key\" = { env = \"PURGE_KEY\" } }\neverything = { method = \"BAN\" }\n",
    );
    let out = Out::of(
        site.cmd(&["verify", "--json"])
            .env("PURGE_KEY", "s3cret-value"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.json(),
        serde_json::json!({
            "provider": "http-purge",
            "method": "PURGE",
            "target": "endpoint http://127.0.0.1:6081",
            "headers": 1,
            "everything": "BAN",
        })
    );
    assert!(!out.all().contains("s3cret-value"));
}

#[test]
fn only_the_base_urls_given_are_purged_so_www_must_be_given_too() {
    let site = blog();
    site.cmd(&["baseline", "-q"]).assert().success();
    site.page("robots.txt", "User-agent: *\nDisallow: /\n");
    let apex = site.json(&["plan", "--base-url", BASE]);
    assert_eq!(
        purges(&apex),
        [(
            "https://example.com/robots.txt".to_string(),
            "robots.txt".to_string(),
            "modified".to_string()
        )]
    );
    let both = site.json(&[
        "plan",
        "--base-url",
        BASE,
        "--base-url",
        "https://www.example.com/",
    ]);
    let urls: Vec<String> = purges(&both).into_iter().map(|(u, _, _)| u).collect();
    assert_eq!(
        urls,
        [
            "https://example.com/robots.txt",
            "https://www.example.com/robots.txt"
        ]
    );
}

#[test]
fn a_purge_endpoint_that_does_not_take_the_method_fails_at_once_as_a_setup_error() {
    for status in ["501 Not Implemented", "405 Method Not Allowed"] {
        let server = support::stub::Stub::start(status);
        let site = blog();
        site.put(
            "sitepurge.toml",
            format!(
                "provider = \"http-purge\"\nbase_urls = [\"{BASE}\"]\nthreshold = \"100%\"\n\n[http_purge]\nendpoint = \"http://{}\"\nconcurrency = 1\n",
                server.addr
            ),
        );
        site.cmd(&["baseline", "-q"]).assert().success();
        for page in [
            "index.html",
            "about/index.html",
            "css/site.css",
            "robots.txt",
        ] {
            site.page(page, "changed");
        }
        let started = std::time::Instant::now();
        let out = Out::of(&mut site.cmd(&["run"]));
        // Not retried with backoff (a minute with the defaults), and not sent again.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{status}: took {:?}",
            started.elapsed()
        );
        assert_eq!(out.code, 2, "{status}: {out:?}");
        assert_eq!(server.requests(), 1, "{status}: {out:?}");
        let code = &status[..3];
        assert!(
            out.stderr.contains(&format!("HTTP {code}"))
                && out
                    .stderr
                    .contains("hint: the server does not take this method here"),
            "{status}: {out:?}"
        );
        // Everything stays owed.
        assert_eq!(
            site.state()["pending"],
            serde_json::json!([
                "about/index.html",
                "css/site.css",
                "index.html",
                "robots.txt"
            ])
        );
        assert_eq!(
            site.state_files()["robots.txt"],
            support::expect::sha("User-agent: *\n")
        );
    }
}

#[test]
fn http_purge_headers_over_plain_http_to_another_machine_need_an_explicit_yes() {
    let site = blog();
    // .invalid never resolves; and verify sends nothing for http-purge anyway.
    let config = |endpoint: &str, extra: &str| {
        format!(
            "provider = \"http-purge\"\nbase_urls = [\"https://example.com/\"]\n\n[http_purge]\nendpoint = \"{endpoint}\"\nheaders = {{ \"X-Purge-Key\" = {{ env = \"PURGE_KEY\" }} }}\n{extra}"
        )
    };
    site.put(
        "sitepurge.toml",
        config("http://cache.example.invalid:6081", ""),
    );
    let out = Out::of(site.cmd(&["verify"]).env("PURGE_KEY", "s3cret-value"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.starts_with(
            "error: invalid setting `http_purge.allow_plain_http`: [http_purge] headers would be sent over plain http to http://cache.example.invalid:6081, which is not this machine"
        ),
        "{out:?}"
    );
    assert!(out.stderr.contains("hint: use https"), "{out:?}");
    // plan refuses too, before anything could be sent.
    let plan = Out::of(site.cmd(&["plan", "-q"]).env("PURGE_KEY", "s3cret-value"));
    assert_eq!(plan.code, 2, "{plan:?}");

    // Said explicitly: allowed, with a warning every time.
    site.put(
        "sitepurge.toml",
        config(
            "http://cache.example.invalid:6081",
            "allow_plain_http = true\n",
        ),
    );
    let out = Out::of(site.cmd(&["verify"]).env("PURGE_KEY", "s3cret-value"));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(
            "warning: [http_purge] headers are sent over plain http to http://cache.example.invalid:6081 (allow_plain_http = true)"
        ),
        "{out:?}"
    );
    // To this machine, or over https, or with no headers: nothing to say.
    for (endpoint, extra) in [
        ("http://127.0.0.1:6081", ""),
        ("http://localhost:6081", ""),
        ("https://cache.example.invalid", ""),
    ] {
        site.put("sitepurge.toml", config(endpoint, extra));
        let out = Out::of(site.cmd(&["verify"]).env("PURGE_KEY", "s3cret-value"));
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (0, ""),
            "{endpoint}: {out:?}"
        );
    }
    site.put(
        "sitepurge.toml",
        "provider = \"http-purge\"\nbase_urls = [\"http://example.com/\"]\n\n[http_purge]\nendpoint = \"http://cache.example.invalid:6081\"\n",
    );
    let out = Out::of(&mut site.cmd(&["verify"]));
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    // Without an endpoint each purge goes to its URL: plain http base URLs count.
    site.put(
        "sitepurge.toml",
        "provider = \"http-purge\"\nbase_urls = [\"http://example.com/\"]\n\n[http_purge]\nheaders = { \"Fastly-Key\" = { env = \"PURGE_KEY\" } }\n",
    );
    let out = Out::of(site.cmd(&["verify"]).env("PURGE_KEY", "s3cret-value"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("plain http to http://example.com/"),
        "{out:?}"
    );
    assert!(!out.all().contains("s3cret-value"));
}

#[test]
fn a_bare_baseline_takes_the_base_urls_of_the_first_run_so_a_later_change_is_seen() {
    let cache = support::stub::Stub::start("200 OK");
    let site = blog();
    let config = |extra: &str| {
        format!(
            "provider = \"http-purge\"\nthreshold = \"100%\"\n{extra}\n[http_purge]\nendpoint = \"http://{}\"\n",
            cache.addr
        )
    };
    site.put("sitepurge.toml", config(""));
    // As the quick start shows: a baseline with no base URL.
    site.cmd(&["baseline", "-q"]).assert().success();
    assert_eq!(site.state()["base_urls"], serde_json::json!([]));

    site.page("robots.txt", "User-agent: *\nDisallow: /\n");
    let run = site.json(&["run", "--base-url", BASE]);
    assert_eq!(decision(&run), ("urls", "changes"));
    assert_eq!(site.state()["base_urls"], serde_json::json!([BASE]));

    // From now on, another host or another spelling was never purged: everything, once.
    let www = site.json(&[
        "plan",
        "--base-url",
        BASE,
        "--base-url",
        "https://www.example.com/",
    ]);
    assert_eq!(decision(&www), ("everything", "base-urls-changed"));
    site.put("sitepurge.toml", config("clean_urls = true"));
    let clean = site.json(&["plan", "--base-url", BASE]);
    assert_eq!(decision(&clean), ("everything", "base-urls-changed"));
}

#[test]
fn fingerprinted_files_added_or_removed_need_no_purge_modified_ones_do() {
    let cache = support::stub::Stub::start("200 OK");
    let site = blog();
    site.page("assets/app.3f9a1c2b.js", "console.log(1)");
    site.page("assets/vendor.5e4d3c2b.js", "vendor 1");
    site.put(
        "sitepurge.toml",
        format!(
            "provider = \"http-purge\"\nbase_urls = [\"{BASE}\"]\nthreshold = \"100%\"\n\n[http_purge]\nendpoint = \"{}\"\n",
            cache.url()
        ),
    );
    site.cmd(&["baseline", "-q"]).assert().success();

    // A new build: the app bundle gets a new name, the page that loads it changes, and the
    // vendor bundle keeps its name but not its bytes.
    site.remove("assets/app.3f9a1c2b.js");
    site.page("assets/app.9a8b7c6d.js", "console.log(2)");
    site.page(
        "index.html",
        "<h1>Home</h1><script src=/assets/app.9a8b7c6d.js></script>",
    );
    site.page("assets/vendor.5e4d3c2b.js", "vendor 2");
    let plan = site.json(&["plan"]);
    assert_eq!(
        purges(&plan),
        [
            ("https://example.com/", "index.html", "modified"),
            (
                "https://example.com/assets/vendor.5e4d3c2b.js",
                "assets/vendor.5e4d3c2b.js",
                "modified"
            ),
            ("https://example.com/index.html", "index.html", "modified"),
        ]
        .map(|(u, p, c)| (u.to_string(), p.to_string(), c.to_string()))
    );
    assert_eq!(
        plan["skipped"],
        serde_json::json!([
            {"path": "assets/app.3f9a1c2b.js", "change": "removed", "why": "fingerprinted: its URL changes with its content"},
            {"path": "assets/app.9a8b7c6d.js", "change": "added", "why": "fingerprinted: its URL changes with its content"},
        ])
    );
    let verbose = Out::of(&mut site.cmd(&["plan", "-v"]));
    assert!(
        verbose
            .stdout
            .contains("  skipped   assets/app.9a8b7c6d.js (added: fingerprinted: its URL changes with its content)\n"),
        "{verbose:?}"
    );
    // The run records them, so the next run has nothing left.
    site.cmd(&["run", "-q"]).assert().success();
    assert_eq!(cache.requests(), 3, "{:?}", cache.seen());
    let files = site.state_files();
    assert!(files.contains_key("assets/app.9a8b7c6d.js"));
    assert!(!files.contains_key("assets/app.3f9a1c2b.js"));
    assert_eq!(decision(&site.json(&["plan"])), ("nothing", "no-changes"));

    // Only a new bundle: nothing to purge, and why.
    site.page("assets/extra.0f1e2d3c.js", "x");
    assert_eq!(
        decision(&site.json(&["plan"])),
        ("nothing", "only-immutable")
    );
    // Turned off, it is a file like any other.
    let config = fs::read_to_string(site.path("sitepurge.toml")).expect("config");
    site.put(
        "sitepurge.toml",
        config.replace("threshold", "immutable_hashed_names = false\nthreshold"),
    );
    assert_eq!(decision(&site.json(&["plan"])), ("urls", "changes"));
}

#[test]
fn explain_shows_a_file_as_sitepurge_sees_it() {
    let site = blog();
    site.put(
        "sitepurge.toml",
        "base_urls = [\"https://example.com/\"]\nignore_content = ['<footer class=\"built\">[^<]*</footer>']\n",
    );
    site.page(
        "about/index.html",
        "<h1>About</h1><footer class=\"built\">built at 12:00</footer>",
    );
    site.cmd(&["baseline", "-q"]).assert().success();
    // Only the build stamp changed: blanked, so unchanged.
    site.page(
        "about/index.html",
        "<h1>About</h1><footer class=\"built\">built at 13:00</footer>",
    );
    let out = Out::of(&mut site.cmd(&["explain", "about/index.html"]));
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "about/index.html: unchanged");
    assert_eq!(
        lines[2],
        "  blanked by ignore_content at byte 14: ...<h1>About</h1>[<footer class=\"built\">built at 13:00</footer>]..."
    );
    assert_eq!(
        &lines[3..],
        [
            "  https://example.com/about/",
            "  https://example.com/about/index.html"
        ]
    );
    // The content changed too: modified, and the hashes differ.
    site.page(
        "about/index.html",
        "<h1>About us</h1><footer class=\"built\">built at 14:00</footer>",
    );
    let report = site.json(&["explain", "about/index.html"]);
    assert_eq!(report["status"], "modified");
    assert_ne!(report["hash"], report["recorded"]);
    assert_eq!(
        report["blanked"][0]["text"],
        "<footer class=\"built\">built at 14:00</footer>"
    );
    // A new file, a removed one, a path outside the site.
    site.page("news.html", "<p>news</p>");
    assert_eq!(site.json(&["explain", "news.html"])["status"], "added");
    site.remove("robots.txt");
    assert_eq!(site.json(&["explain", "robots.txt"])["status"], "removed");
    let out = Out::of(&mut site.cmd(&["explain", "../etc/passwd"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("is not a path inside the output folder"),
        "{out:?}"
    );
}
