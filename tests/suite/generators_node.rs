//! sitepurge after the Node.js static site generators: the Eleventy, Astro, Docusaurus, VitePress
//! and Hexo sites in `tests/fixtures/{eleventy,astro,docusaurus,vitepress,hexo}-site/` are copied
//! to a temp folder, built with the
//! real generator (npm packages pinned by `tests/fixtures/node/package-lock.json`, installed by
//! `tests/run-all.sh` into `.test-tools/node/`), recorded with `sitepurge baseline`, edited the
//! way an author would, rebuilt, and purged with `sitepurge run` against the local stand-in for
//! the Cloudflare API, with the preset detected from the site's config file.
//!
//! The expected purge is computed here from the two builds' bytes: every file that appeared,
//! vanished or differs once this file's copy of the preset's noise patterns is removed, less
//! the fingerprinted files that appeared or vanished (skipped, by this file's own reading of
//! the generator's asset names), mapped to URLs by `support::expect::urls_of`. Never with
//! sitepurge's own code.
//!
//! A copy of a site gets its own `node_modules/` of symbolic links to the installed packages'
//! folders, so each build writes its caches (Astro's data store, webpack's cache) into the
//! site, as in a real checkout, and none is shared between sites built in parallel.
//!
//! Docusaurus builds take 30-40 s from cold, 6-10 s with webpack's cache warm. Its scenarios
//! share one site built once at a fixed path, restored before each scenario, one scenario at a
//! time: webpack's module ids depend on the folder a site is built in (measured below), so a
//! copy in another folder would differ from the baseline by more than the scenario's edit.
//!
//! VitePress builds take 5-20 s. Vue names each component's scoped styles by a hash of its path
//! relative to the site, and the theme's components are in the linked packages, outside it: so
//! every VitePress site here is built at the same depth below [`scratch`], where that path is
//! the same (in a real checkout `node_modules/` is inside the site, and measured so, the folder
//! made no difference).
//!
//! Hexo builds take about a second: each scenario builds its own copy, as Eleventy's do. The
//! Hexo site's `sitepurge.toml` blanks the landscape theme's post ids with `ignore_content`, as
//! the README tells its users to (see [`LANDSCAPE_POST_ID`]).
#![cfg(unix)]

use crate::support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use regex::Regex;
use serde_json::{Value, json};
use support::cloudflare::{FakeCloudflare, TOKEN, ZONE_ID};
use support::expect::{BASE, urls_of_all};
use support::purged::{assert_purged, changed_ignoring};
use support::site::{
    Folder, Out, STATE, Snapshot, changed, copy_tree, remove_vars, sitepurge_in, snapshot,
};

/// The generators' version tag as blanked by the five presets (copied here on purpose, not
/// read from src/): all five write it in exactly this form.
const VERSION_TAG: &[&str] = &[r#"<meta name="generator" content="[^"]*"\s*/?>"#];

/// Hexo's landscape theme prints each post's database id (`data-id="cmx589inr0003lt7d63ueh296"`,
/// a cuid: a time, a counter, a random part) into its share link. Without a `db.json` from the
/// last build (a fresh checkout, `hexo clean`), every post gets a new one: measured, a fresh
/// copy changed every page that shows a post, and nothing else. Not build-wide (one id per
/// post), so no preset rule: the Hexo site's `sitepurge.toml` blanks it with `ignore_content`,
/// as the README tells a landscape user to.
const LANDSCAPE_POST_ID: &str = r#"data-id="c[0-9a-z]{24}""#;
const HEXO_NOISE: &[&str] = &[VERSION_TAG[0], LANDSCAPE_POST_ID];

/// The day every Hexo build of these tests happens on, 2025-01-15 12:00 UTC, after the
/// fixture's last post: hexo-generator-sitemap dates its home, tag and category entries by the
/// build day, and the landscape theme's footer prints the build year, which two builds on both
/// sides of midnight would not share.
const HEXO_BUILD_DAY: u64 = 1_736_942_400;

// ------------------------------------------------------------------------------------------
// Generators
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gen {
    Eleventy,
    Astro,
    Docusaurus,
    Vitepress,
    Hexo,
}

/// Where tests/run-all.sh installs the npm packages.
fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-tools/node/node_modules")
}

impl Gen {
    fn name(self) -> &'static str {
        match self {
            Gen::Eleventy => "eleventy",
            Gen::Astro => "astro",
            Gen::Docusaurus => "docusaurus",
            Gen::Vitepress => "vitepress",
            Gen::Hexo => "hexo",
        }
    }

    /// The site's source in the repository.
    fn fixture(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{}-site", self.name()))
    }

    /// The output folder, relative to the source.
    fn output(self) -> &'static str {
        match self {
            Gen::Eleventy => "_site",
            Gen::Astro => "dist",
            Gen::Docusaurus => "build",
            Gen::Vitepress => ".vitepress/dist",
            Gen::Hexo => "public",
        }
    }

    /// The config file the preset is detected from.
    fn config_file(self) -> &'static str {
        match self {
            Gen::Eleventy => "eleventy.config.js",
            Gen::Astro => "astro.config.mjs",
            Gen::Docusaurus => "docusaurus.config.js",
            Gen::Vitepress => ".vitepress/config.mjs",
            // Its _config.yml has Jekyll's name: package.json tells.
            Gen::Hexo => "package.json",
        }
    }

    fn noise(self) -> &'static [&'static str] {
        match self {
            Gen::Hexo => HEXO_NOISE,
            Gen::Eleventy | Gen::Astro | Gen::Docusaurus | Gen::Vitepress => VERSION_TAG,
        }
    }

    /// Whether the generator names this output file by its content's hash: Astro bundles into
    /// `_astro/<name>.<hash>.<ext>`; Docusaurus's webpack into `assets/js/<chunk>.<8 hex>.js`
    /// and `assets/css/styles.<8 hex>.css`; VitePress's Vite into `assets/` (and
    /// `assets/chunks/`) as `<name>.<8 base64url>.<ext>`, a page's as `.js` and `.lean.js`.
    fn fingerprinted(self, path: &str) -> bool {
        match self {
            Gen::Eleventy | Gen::Hexo => false,
            Gen::Astro => path.starts_with("_astro/"),
            Gen::Docusaurus => {
                Regex::new(r"^assets/(js/[^/]+\.[0-9a-f]{8}\.js(\.LICENSE\.txt)?|css/styles\.[0-9a-f]{8}\.css)$")
                    .expect("regex")
                    .is_match(path)
            }
            Gen::Vitepress => Regex::new(
                r"^assets/(chunks/)?[^/]+\.[0-9A-Za-z_-]{8}(\.lean)?\.(js|css|woff2)$",
            )
            .expect("regex")
            .is_match(path),
        }
    }

    /// The source of the page with a space and an accent in its name, and its output.
    fn accented(self) -> (&'static str, &'static str) {
        match self {
            Gen::Eleventy => ("posts/café crème.md", "posts/café crème/index.html"),
            Gen::Astro => (
                "src/pages/posts/café crème.md",
                "posts/café crème/index.html",
            ),
            Gen::Docusaurus => ("docs/café crème.md", "docs/café crème/index.html"),
            Gen::Vitepress => ("guide/café crème.md", "guide/café crème.html"),
            Gen::Hexo => (
                "source/_posts/café crème.md",
                "2024/06/15/café crème/index.html",
            ),
        }
    }

    /// A page to delete, and its output.
    fn doomed(self) -> (&'static str, &'static str) {
        match self {
            Gen::Eleventy => ("posts/post-2.md", "posts/post-2/index.html"),
            Gen::Astro => ("src/pages/posts/post-2.md", "posts/post-2/index.html"),
            Gen::Docusaurus => ("docs/retries.md", "docs/retries/index.html"),
            Gen::Vitepress => ("guide/retries.md", "guide/retries.html"),
            Gen::Hexo => ("source/_posts/post-2.md", "2024/04/10/post-2/index.html"),
        }
    }

    /// A new page's source file and text, and its output.
    fn new_page(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Gen::Eleventy => (
                "posts/post-5.md",
                "---\ntitle: \"Fresh from the oven\"\ndate: 2024-07-01\n---\n\nA new post.\n",
                "posts/post-5/index.html",
            ),
            Gen::Astro => (
                "src/pages/posts/post-5.md",
                "---\nlayout: ../../layouts/Post.astro\ntitle: \"Fresh from the oven\"\n\
                 date: \"2024-07-01\"\n---\n\nA new post.\n",
                "posts/post-5/index.html",
            ),
            Gen::Docusaurus => (
                "docs/fresh.md",
                "---\nsidebar_position: 4\n---\n\n# Fresh from the oven\n\nA new page.\n",
                "docs/fresh/index.html",
            ),
            Gen::Vitepress => (
                "guide/fresh.md",
                "# Fresh from the oven\n\nA new page.\n",
                "guide/fresh.html",
            ),
            Gen::Hexo => (
                "source/_posts/post-5.md",
                "---\ntitle: Fresh from the oven\ndate: 2024-07-01 09:00:00\ntags: [purging]\n\
                 categories: [notes]\n---\n\nA new post.\n",
                "2024/07/01/post-5/index.html",
            ),
        }
    }

    /// The site's own stylesheet (source).
    fn stylesheet(self) -> &'static str {
        match self {
            Gen::Eleventy => "css/site.css",
            Gen::Astro => "src/styles/site.css",
            Gen::Docusaurus => "src/css/custom.css",
            Gen::Vitepress => ".vitepress/theme/custom.css",
            Gen::Hexo => "source/css/custom.css",
        }
    }

    /// An edit of what every page is laid out with: (file, from, to).
    fn layout_edit(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Gen::Eleventy => (
                "_includes/base.njk",
                "<footer>Written by hand.</footer>",
                "<footer>Written by hand, purged by sitepurge.</footer>",
            ),
            Gen::Astro => (
                "src/layouts/Base.astro",
                "<footer><Counter /></footer>",
                "<footer><Counter /> Written by hand.</footer>",
            ),
            // The classic theme's footer comes from themeConfig.
            Gen::Docusaurus => (
                "docusaurus.config.js",
                "    navbar: {",
                "    footer: { copyright: \"Written by hand.\" },\n    navbar: {",
            ),
            // The theme's layout, below every page.
            Gen::Vitepress => (
                ".vitepress/theme/Layout.vue",
                "Written by hand.",
                "Written by hand, purged by sitepurge.",
            ),
            // What scripts/inject.js adds to the landscape theme's every page.
            Gen::Hexo => (
                "scripts/inject.js",
                "Written by hand.",
                "Written by hand, purged by sitepurge.",
            ),
        }
    }

    /// Builds the site in `src` as a user would (`eleventy`, `astro build`, `docusaurus
    /// build`, `vitepress build`), in place, with the command installed by tests/run-all.sh.
    fn build(self, src: &Path) {
        let args: &[&str] = match self {
            Gen::Eleventy => &["--quiet"],
            Gen::Astro | Gen::Docusaurus | Gen::Vitepress => &["build"],
            Gen::Hexo => &["generate"],
        };
        let program = node_modules().join(".bin").join(self.name());
        let mut cmd = Process::new(&program);
        cmd.args(args).current_dir(src);
        remove_vars(
            &mut cmd,
            &[
                "ELEVENTY_",
                "ASTRO_",
                "DOCUSAURUS_",
                "VITEPRESS_",
                "HEXO_",
                "NODE_",
            ],
        );
        // Astro would send usage data to its servers; the only network here is the registry.
        cmd.env("ASTRO_TELEMETRY_DISABLED", "1");
        if self == Gen::Hexo {
            // Hexo's sitemap carries the build day: pinned, as MkDocs' is, so a test run across
            // midnight cannot fail (see the file).
            let pin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node/pin-day.cjs");
            cmd.env("NODE_OPTIONS", format!("--require {}", pin.display()))
                .env("SITEPURGE_TEST_CLOCK", HEXO_BUILD_DAY.to_string());
        }
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "`{} {}` failed in {} ({}); is it installed? tests/run-all.sh --install-only\n\
             stdout:\n{}\nstderr:\n{}",
            self.name(),
            args.join(" "),
            src.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

// ------------------------------------------------------------------------------------------
// Sites
// ------------------------------------------------------------------------------------------

/// `sitepurge.toml` for preset scenarios: no `generator` key, so it is detected; for Hexo with
/// the landscape theme's post ids blanked, as the README says.
fn preset_config(g: Gen) -> String {
    let mut config =
        format!("base_urls = [\"{BASE}\"]\nzone = \"{ZONE_ID}\"\nthreshold = \"100%\"\n");
    if g == Gen::Hexo {
        config.push_str(&format!("ignore_content = ['{LANDSCAPE_POST_ID}']\n"));
    }
    config
}

/// A site's source and output, and sitepurge's cwd.
struct Site {
    root: PathBuf,
    generator: Gen,
    /// Holds a site of its own; removed on drop.
    _tmp: Option<tempfile::TempDir>,
    /// Holds the shared Docusaurus site for this scenario.
    _shared: Option<MutexGuard<'static, Option<Shared>>>,
}

impl Folder for Site {
    fn root(&self) -> &Path {
        &self.root
    }
}

impl Site {
    /// A copy of the fixture (fresh modification times) at `below` in a new temp folder.
    fn copy(g: Gen, below: &str, mtime: Option<SystemTime>) -> Site {
        let tmp = temp_folder(g);
        let root = tmp.path().join(below);
        lay_out(g, &root, mtime);
        Site {
            root,
            generator: g,
            _tmp: Some(tmp),
            _shared: None,
        }
    }

    /// A site built and recorded (`sitepurge baseline`), the preset detected: for Eleventy and
    /// Hexo a new copy (they build in a second); for Astro a copy of one recorded site (its
    /// builds do not depend on the folder, see `astro_fresh_copy_in_a_deeper_folder_*`), and
    /// for VitePress too, at the same depth (see the module's doc); for Docusaurus the shared
    /// site, restored as it was recorded.
    fn recorded(g: Gen) -> Site {
        match g {
            Gen::Eleventy | Gen::Hexo => {
                let site = Site::copy(g, "", None);
                site.build();
                site.check_preset();
                site.baseline();
                site
            }
            Gen::Astro | Gen::Vitepress => {
                static ASTRO: Mutex<bool> = Mutex::new(false);
                static VITEPRESS: Mutex<bool> = Mutex::new(false);
                let recorded = scratch(g).join("recorded");
                let lock = if g == Gen::Astro { &ASTRO } else { &VITEPRESS };
                let mut done = lock.lock().unwrap_or_else(PoisonError::into_inner);
                if !*done {
                    fresh_scratch(g);
                    let site = Site {
                        root: recorded.clone(),
                        generator: g,
                        _tmp: None,
                        _shared: None,
                    };
                    lay_out(g, site.root(), None);
                    site.build();
                    site.check_preset();
                    site.baseline();
                    *done = true;
                }
                drop(done);
                let tmp = temp_folder(g);
                copy_tree(&recorded, tmp.path(), None);
                Site {
                    root: tmp.path().to_path_buf(),
                    generator: g,
                    _tmp: Some(tmp),
                    _shared: None,
                }
            }
            Gen::Docusaurus => Shared::site(),
        }
    }

    fn build(&self) {
        self.generator.build(self.root());
    }

    /// The output folder, which must not be empty.
    fn snapshot(&self) -> Snapshot {
        let dir = self.path(self.generator.output());
        let files = snapshot(&dir);
        assert!(!files.is_empty(), "{} is empty", dir.display());
        files
    }

    /// The binary in this folder, isolated from the test's environment; with `api`, talking
    /// to it with the good token.
    fn exec(&self, api: Option<&FakeCloudflare>, args: &[&str]) -> Out {
        let mut cmd = sitepurge_in(self.root());
        match api {
            Some(cf) => cmd
                .env("CLOUDFLARE_API_BASE_URL", cf.base_url())
                .env("CLOUDFLARE_API_TOKEN", TOKEN),
            // Nothing may be sent; were it, it would go nowhere.
            None => cmd.env("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:9/client/v4"),
        };
        Out::of(cmd.args(args))
    }

    /// `sitepurge plan` names the detected preset and its output folder.
    fn check_preset(&self) {
        let out = self.exec(None, &["plan", "--json"]);
        assert_eq!(out.code, 0, "plan failed: {out:?}");
        let plan = out.json();
        let g = self.generator;
        assert_eq!(
            plan["generator"],
            json!({"name": g.name(), "detected_from": g.config_file()}),
            "{plan:#}"
        );
        assert_eq!(plan["dir"], g.output());
    }

    fn baseline(&self) {
        let out = self.exec(None, &["baseline", "-q"]);
        assert_eq!(out.code, 0, "baseline failed: {out:?}");
        assert!(self.path(STATE).is_file(), "baseline wrote no state");
    }

    /// `sitepurge run --json` against `cf`; must exit 0.
    fn run(&self, cf: &FakeCloudflare) -> Value {
        let out = self.exec(Some(cf), &["run", "--json"]);
        assert_eq!(out.code, 0, "run failed: {out:?}");
        out.json()
    }

    /// Edits a source file: `from` must be in it.
    fn replace(&self, rel: &str, from: &str, to: &str) {
        let text = fs::read_to_string(self.path(rel)).expect("read source");
        assert!(text.contains(from), "{from:?} not in {rel}");
        fs::write(self.path(rel), text.replacen(from, to, 1)).expect("write source");
    }

    fn append(&self, rel: &str, more: &str) {
        let mut text = fs::read_to_string(self.path(rel)).expect("read source");
        text.push_str(more);
        fs::write(self.path(rel), text).expect("write source");
    }
}

/// The fixture's source at `root` (files dated `mtime`, else now), its `node_modules/`, and
/// `sitepurge.toml`.
fn lay_out(g: Gen, root: &Path, mtime: Option<SystemTime>) {
    copy_tree(&g.fixture(), root, mtime);
    link_node_modules(root);
    fs::write(root.join("sitepurge.toml"), preset_config(g)).expect("write config");
}

/// `root/node_modules/`: a link to each package the sites depend on (the dependencies of
/// tests/fixtures/node/package.json, a scope as a whole) and to `.bin`, so packages resolve as
/// in a real checkout while the tools' caches (`node_modules/.astro`, `node_modules/.cache`)
/// are the site's own. (A link to each of the 900 installed folders took 1.2 s per site here.)
fn link_node_modules(root: &Path) {
    let installed = node_modules();
    assert!(
        installed.join(".bin").is_dir(),
        "{} is missing: run tests/run-all.sh --install-only",
        installed.display()
    );
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node/package.json");
    let manifest: Value =
        serde_json::from_slice(&fs::read(manifest).expect("read package.json")).expect("JSON");
    let mut names: BTreeSet<String> = manifest["dependencies"]
        .as_object()
        .expect("dependencies")
        .keys()
        .map(|name| name.split('/').next().expect("name").to_string())
        .collect();
    names.insert(".bin".into());
    let local = root.join("node_modules");
    fs::create_dir_all(&local).expect("mkdir node_modules");
    for name in names {
        std::os::unix::fs::symlink(installed.join(&name), local.join(&name)).expect("link");
    }
}

/// Copies a tree file by file, links as links. `mtime`: set every copied file's modification
/// The folder for the sites a test run keeps for all its scenarios: below cargo's temp folder
/// for tests, so none is left in /tmp.
fn scratch(g: Gen) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("generators_node-{}", g.name()))
}

/// A new temp folder for a site, removed on drop: for VitePress in [`scratch`], beside the
/// recorded site, so at the same depth (see the module's doc).
fn temp_folder(g: Gen) -> tempfile::TempDir {
    match g {
        Gen::Vitepress => {
            let folder = scratch(g);
            fs::create_dir_all(&folder).expect("mkdir scratch");
            tempfile::tempdir_in(folder).expect("tempdir")
        }
        Gen::Eleventy | Gen::Astro | Gen::Docusaurus | Gen::Hexo => {
            tempfile::tempdir().expect("tempdir")
        }
    }
}

/// Empties [`scratch`], which holds the previous run's sites.
fn fresh_scratch(g: Gen) -> PathBuf {
    let folder = scratch(g);
    if folder.exists() {
        fs::remove_dir_all(&folder).expect("remove the last run's sites");
    }
    folder
}

/// The Docusaurus site the scenarios share: built and recorded once, at a fixed path, then
/// restored from a copy before each scenario.
struct Shared {
    folder: PathBuf,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

impl Shared {
    /// `site/`: where every scenario builds.
    fn site_dir(&self) -> PathBuf {
        self.folder.join("site")
    }

    /// `recorded/`: the site as built and recorded.
    fn recorded_dir(&self) -> PathBuf {
        self.folder.join("recorded")
    }

    /// The shared site, restored as recorded; held by this scenario until it is dropped.
    fn site() -> Site {
        // A scenario that failed held the lock: the next one restores the site all the same.
        let mut guard = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            let shared = Shared {
                folder: fresh_scratch(Gen::Docusaurus),
            };
            let site = Site {
                root: shared.site_dir(),
                generator: Gen::Docusaurus,
                _tmp: None,
                _shared: None,
            };
            lay_out(Gen::Docusaurus, site.root(), None);
            site.build();
            site.check_preset();
            site.baseline();
            copy_tree(&shared.site_dir(), &shared.recorded_dir(), None);
            *guard = Some(shared);
        }
        let shared = guard.as_ref().expect("set above");
        let root = shared.site_dir();
        fs::remove_dir_all(&root).expect("remove the last scenario's site");
        copy_tree(&shared.recorded_dir(), &root, None);
        Site {
            root,
            generator: Gen::Docusaurus,
            _tmp: None,
            _shared: Some(guard),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------

/// What a rebuild changed, and what sitepurge did about it.
struct Outcome {
    before: Snapshot,
    after: Snapshot,
    /// Paths whose bytes differ, noise aside, or that appeared or vanished.
    content: BTreeSet<String>,
    /// Of those, the fingerprinted files that appeared or vanished: not purged.
    skipped: BTreeSet<String>,
    /// The URLs purged.
    urls: BTreeSet<String>,
}

impl Outcome {
    fn added(&self, path: &str) -> bool {
        !self.before.contains_key(path) && self.after.contains_key(path)
    }

    fn removed(&self, path: &str) -> bool {
        self.before.contains_key(path) && !self.after.contains_key(path)
    }

    fn modified(&self, path: &str) -> bool {
        self.content.contains(path) && !self.added(path) && !self.removed(path)
    }

    /// The HTML pages of the new build.
    fn pages(&self) -> BTreeSet<String> {
        let pages = self.after.keys().filter(|p| p.ends_with(".html"));
        pages.cloned().collect()
    }
}

/// Runs sitepurge on `site` (recorded when its output was `before`) and checks it against the
/// bytes: the report's changes, the skipped fingerprinted files, and the exact purge.
fn purge_and_check(site: &Site, before: Snapshot) -> Outcome {
    let g = site.generator;
    let after = site.snapshot();
    let content = changed_ignoring(&before, &after, g.noise());
    let (mut added, mut modified, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for path in &content {
        match (before.contains_key(path), after.contains_key(path)) {
            (false, _) => added.push(path.clone()),
            (true, true) => modified.push(path.clone()),
            (true, false) => removed.push(path.clone()),
        }
    }
    let skipped: BTreeSet<String> = added
        .iter()
        .chain(&removed)
        .filter(|p| g.fingerprinted(p))
        .cloned()
        .collect();
    let purged: BTreeSet<String> = content.difference(&skipped).cloned().collect();
    let urls = urls_of_all(&purged);

    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_eq!(
        report["generator"],
        json!({"name": g.name(), "detected_from": g.config_file()}),
        "{report:#}"
    );
    assert_eq!(
        report["changes"],
        json!({"added": added, "modified": modified, "removed": removed}),
        "{report:#}"
    );
    let reported_skips: BTreeSet<String> = report["skipped"]
        .as_array()
        .expect("skipped array")
        .iter()
        .map(|s| s["path"].as_str().expect("path").to_string())
        .collect();
    assert_eq!(reported_skips, skipped, "{report:#}");
    if urls.is_empty() && !skipped.is_empty() {
        assert_eq!(report["reason"], "only-immutable", "{report:#}");
    }
    assert_purged(&cf, &report, &urls);
    Outcome {
        before,
        after,
        content,
        skipped,
        urls,
    }
}

/// Records the built site, applies `edit` to its source, rebuilds in place and checks the purge.
fn scenario(g: Gen, edit: impl FnOnce(&Site)) -> Outcome {
    let site = Site::recorded(g);
    let before = site.snapshot();
    edit(&site);
    site.build();
    purge_and_check(&site, before)
}

/// A rebuild with no change: the same bytes, nothing purged.
fn rebuild_without_change(g: Gen) -> Outcome {
    let o = scenario(g, |_| {});
    assert_eq!(
        changed(&o.before, &o.after),
        BTreeSet::new(),
        "reproducible"
    );
    assert!(o.urls.is_empty());
    o
}

/// A fresh copy of the source with other modification times, built in another folder at the
/// same depth, with the first build's state: the same bytes, nothing purged.
fn fresh_copy(g: Gen) {
    let first = Site::recorded(g);
    let before = first.snapshot();
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let fresh = Site::copy(g, "", Some(yesterday));
    fresh.build();
    copy_state(&first, &fresh);
    let o = purge_and_check(&fresh, before);
    assert_eq!(changed(&o.before, &o.after), BTreeSet::new());
    assert!(o.urls.is_empty());
}

fn copy_state(from: &Site, to: &Site) {
    fs::create_dir_all(to.path(".sitepurge")).expect("mkdir");
    fs::copy(from.path(STATE), to.path(STATE)).expect("copy state");
}

/// A paragraph added to the page with a space and an accent in its name.
fn edit_one_page(g: Gen) -> Outcome {
    let (source, page) = g.accented();
    let o = scenario(g, |s| {
        s.replace(
            source,
            "would miss the cached copy.",
            "would miss the cached copy.\n\nAn added paragraph.",
        )
    });
    assert!(o.modified(page), "{:#?}", o.content);
    let text = String::from_utf8_lossy(&o.after[page]);
    assert!(text.contains("An added paragraph."));
    let url = match g {
        Gen::Docusaurus => "https://example.com/docs/caf%C3%A9%20cr%C3%A8me/",
        Gen::Eleventy | Gen::Astro => "https://example.com/posts/caf%C3%A9%20cr%C3%A8me/",
        Gen::Vitepress => "https://example.com/guide/caf%C3%A9%20cr%C3%A8me.html",
        Gen::Hexo => "https://example.com/2024/06/15/caf%C3%A9%20cr%C3%A8me/",
    };
    assert!(o.urls.contains(url), "{:#?}", o.urls);
    o
}

fn add_a_page(g: Gen) -> Outcome {
    let (source, text, page) = g.new_page();
    let o = scenario(g, |s| s.put(source, text));
    assert!(o.added(page), "{:#?}", o.content);
    o
}

fn delete_a_page(g: Gen, clean: bool) -> Outcome {
    let (source, page) = g.doomed();
    let o = scenario(g, |s| {
        fs::remove_file(s.path(source)).expect("rm page");
        if clean {
            fs::remove_dir_all(s.path(g.output())).expect("rm output");
        }
    });
    let doomed_url = format!("{BASE}{}", page.trim_end_matches("index.html"));
    if o.after.contains_key(page) {
        assert!(!o.content.contains(page), "a stale page is not a change");
        assert!(!o.urls.contains(&doomed_url));
    } else {
        assert!(o.removed(page), "{:#?}", o.content);
        assert!(o.urls.contains(&doomed_url), "{:#?}", o.urls);
    }
    o
}

fn change_the_css(g: Gen) -> Outcome {
    scenario(g, |s| s.append(g.stylesheet(), "a { color: #0645ad; }\n"))
}

fn change_the_layout(g: Gen) -> Outcome {
    let (file, from, to) = g.layout_edit();
    let o = scenario(g, |s| s.replace(file, from, to));
    // Every page is laid out with it.
    for page in o.pages() {
        assert!(o.modified(&page), "{page} not changed: {:#?}", o.content);
    }
    o
}

// ------------------------------------------------------------------------------------------
// Eleventy
// ------------------------------------------------------------------------------------------

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_rebuild_with_no_change_purges_nothing() {
    rebuild_without_change(Gen::Eleventy);
}

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_fresh_copy_purges_nothing() {
    fresh_copy(Gen::Eleventy);
}

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_edit_one_page() {
    let o = edit_one_page(Gen::Eleventy);
    // The feed carries the post's content; the home page and the sitemap only its title and
    // date.
    assert_eq!(
        o.content,
        BTreeSet::from(["feed.xml".into(), "posts/café crème/index.html".into()])
    );
}

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_add_a_page() {
    let o = add_a_page(Gen::Eleventy);
    assert_eq!(
        o.content,
        BTreeSet::from([
            "feed.xml".into(),
            "index.html".into(),
            "posts/post-5/index.html".into(),
            "sitemap.xml".into()
        ])
    );
}

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_delete_a_page_from_a_clean_build() {
    let o = delete_a_page(Gen::Eleventy, true);
    assert_eq!(
        o.content,
        BTreeSet::from([
            "feed.xml".into(),
            "index.html".into(),
            "posts/post-2/index.html".into(),
            "sitemap.xml".into()
        ])
    );
}

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_delete_a_page_keeps_its_stale_output() {
    // Eleventy never deletes from _site: the page stays as it was, and is not a change.
    let o = delete_a_page(Gen::Eleventy, false);
    assert!(o.after.contains_key("posts/post-2/index.html"));
    assert_eq!(
        o.content,
        BTreeSet::from(["feed.xml".into(), "index.html".into(), "sitemap.xml".into()])
    );
}

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_change_the_css() {
    // Copied as-is, under its own name: only it changes.
    let o = change_the_css(Gen::Eleventy);
    assert_eq!(o.content, BTreeSet::from(["css/site.css".into()]));
    assert!(o.skipped.is_empty());
}

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_change_the_layout() {
    let o = change_the_layout(Gen::Eleventy);
    assert_eq!(o.content, o.pages(), "every page and nothing else");
}

/// A sitemap that dates every page by `page.date`: Eleventy dates a template without a `date`
/// by its file's creation time, so a fresh checkout changes those `<lastmod>`s. They are the
/// pages' own dates (each page has its own), not build noise: sitemap.xml is purged.
#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_sitemap_dating_undated_pages_by_file_creation_is_purged_on_a_fresh_copy() {
    let every_page_dated = |s: &Site| {
        s.replace(
            "sitemap.njk",
            "{%- if page.data.tags and \"post\" in page.data.tags %}\n    \
             <lastmod>{{ page.date | isoDate }}</lastmod>\n    {%- endif %}",
            "<lastmod>{{ page.date.toISOString() }}</lastmod>",
        )
    };
    let first = Site::copy(Gen::Eleventy, "", None);
    every_page_dated(&first);
    first.build();
    first.baseline();
    let before = first.snapshot();
    // Creation times have millisecond precision: make sure the copy's are later.
    std::thread::sleep(Duration::from_millis(20));
    let fresh = Site::copy(Gen::Eleventy, "", None);
    every_page_dated(&fresh);
    fresh.build();
    copy_state(&first, &fresh);
    let o = purge_and_check(&fresh, before);
    assert_eq!(o.content, BTreeSet::from(["sitemap.xml".into()]));
    // Only the undated pages' dates moved (and, sorted by date, maybe their order); the posts
    // keep their front-matter dates.
    let lastmods = |s: &Snapshot| {
        let re = Regex::new(r"<loc>([^<]*)</loc>\s*<lastmod>([^<]*)</lastmod>").expect("regex");
        let text = String::from_utf8_lossy(&s["sitemap.xml"]).into_owned();
        re.captures_iter(&text)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (old, new) = (lastmods(&o.before), lastmods(&o.after));
    assert_eq!(old.len(), 8, "{old:#?}");
    let moved: BTreeSet<&str> = old
        .iter()
        .filter(|(loc, date)| new.get(*loc) != Some(*date))
        .map(|(loc, _)| loc.as_str())
        .collect();
    assert_eq!(
        moved,
        BTreeSet::from([
            "https://example.com/",
            "https://example.com/about/",
            "https://example.com/feed.xml"
        ])
    );
}

// ------------------------------------------------------------------------------------------
// Astro
// ------------------------------------------------------------------------------------------

#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_rebuild_with_no_change_purges_nothing() {
    rebuild_without_change(Gen::Astro);
}

#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_fresh_copy_purges_nothing() {
    fresh_copy(Gen::Astro);
}

#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_fresh_copy_in_a_deeper_folder_purges_nothing() {
    // Vite's bundles do not depend on where the site is built.
    let first = Site::recorded(Gen::Astro);
    let before = first.snapshot();
    let fresh = Site::copy(Gen::Astro, "checkouts/ci/site", None);
    fresh.build();
    copy_state(&first, &fresh);
    let o = purge_and_check(&fresh, before);
    assert_eq!(changed(&o.before, &o.after), BTreeSet::new());
}

#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_edit_one_page() {
    let o = edit_one_page(Gen::Astro);
    assert_eq!(
        o.content,
        BTreeSet::from(["posts/café crème/index.html".into()])
    );
}

#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_add_a_page() {
    let o = add_a_page(Gen::Astro);
    assert_eq!(
        o.content,
        BTreeSet::from(["index.html".into(), "posts/post-5/index.html".into()])
    );
}

#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_delete_a_page() {
    // `astro build` empties dist/ first: the page is gone.
    let o = delete_a_page(Gen::Astro, false);
    assert_eq!(
        o.content,
        BTreeSet::from(["index.html".into(), "posts/post-2/index.html".into()])
    );
}

/// The stylesheet is bundled under a new name: the new file and the old one are skipped, the
/// pages that link it are purged.
#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_change_the_css() {
    let o = change_the_css(Gen::Astro);
    let css = |s: &Snapshot| -> Vec<String> {
        s.keys()
            .filter(|p| p.starts_with("_astro/") && p.ends_with(".css"))
            .cloned()
            .collect()
    };
    let (old, new) = (css(&o.before), css(&o.after));
    assert_eq!((old.len(), new.len()), (1, 1), "{old:?} {new:?}");
    assert_ne!(old, new, "a new name for new content");
    assert_eq!(o.skipped, BTreeSet::from([old[0].clone(), new[0].clone()]));
    let mut expected = o.pages();
    expected.extend(o.skipped.iter().cloned());
    assert_eq!(o.content, expected, "every page links the stylesheet");
    assert!(
        !o.urls.iter().any(|u| u.contains("/_astro/")),
        "{:#?}",
        o.urls
    );
}

#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_change_the_layout() {
    let o = change_the_layout(Gen::Astro);
    assert_eq!(o.content, o.pages(), "every page and nothing else");
}

/// A script edit: a new fingerprinted bundle, and every page that loads it.
#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_change_a_bundled_script() {
    let o = scenario(Gen::Astro, |s| {
        s.replace("src/scripts/visits.js", "n += 1;", "n += 2;")
    });
    assert_eq!(o.skipped.len(), 2, "{:#?}", o.content);
    assert!(o.skipped.iter().all(|p| p.ends_with(".js")));
    let mut expected = o.pages();
    expected.extend(o.skipped.iter().cloned());
    assert_eq!(o.content, expected);
}

#[test]
fn astro_base_url_is_not_read_from_javascript() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let site = Site {
        root: tmp.path().to_path_buf(),
        generator: Gen::Astro,
        _tmp: Some(tmp),
        _shared: None,
    };
    site.put(
        "astro.config.mjs",
        "export default { site: \"https://example.com\" };\n",
    );
    site.put("dist/index.html", "<h1>Home</h1>");
    let out = site.exec(None, &["plan"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "no base URL is set, so files cannot be turned into URLs (astro.config.mjs sets it \
             as site in JavaScript, which sitepurge does not run)"
        ),
        "{out:?}"
    );
}

// ------------------------------------------------------------------------------------------
// Docusaurus
// ------------------------------------------------------------------------------------------

#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_rebuild_with_no_change_purges_nothing() {
    rebuild_without_change(Gen::Docusaurus);
}

/// A fresh checkout where the last one was (as a CI runner's workspace): the source with other
/// modification times, no output, no cache, the state kept.
#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_fresh_checkout_in_the_same_folder_purges_nothing() {
    let site = Site::recorded(Gen::Docusaurus);
    let before = site.snapshot();
    let state = fs::read(site.path(STATE)).expect("state");
    fs::remove_dir_all(site.root()).expect("rm site");
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    lay_out(Gen::Docusaurus, site.root(), Some(yesterday));
    site.put(STATE, state);
    site.build();
    let o = purge_and_check(&site, before);
    assert_eq!(changed(&o.before, &o.after), BTreeSet::new());
}

/// webpack's module ids depend on the folder the site is built in (measured: two sites at the
/// same depth, /tmp/d1 and /tmp/d3, differ by two module ids in main.js; at other depths most
/// chunks differ), so main.js gets another name and every page that loads it changes. Not
/// noise: a cached page would load a script the deploy removed. The new bundles are skipped.
#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_fresh_copy_in_another_folder_purges_the_pages_not_the_new_bundles() {
    let site = Site::recorded(Gen::Docusaurus);
    let before = site.snapshot();
    let state = fs::read(site.path(STATE)).expect("state");
    // Free the shared site for the other scenarios while this one builds elsewhere.
    drop(site);
    let fresh = Site::copy(Gen::Docusaurus, "", None);
    fresh.build();
    fresh.put(STATE, state);
    let o = purge_and_check(&fresh, before);
    let main = |s: &Snapshot| -> Vec<String> {
        let re = Regex::new(r"^assets/js/main\.[0-9a-f]{8}\.js$").expect("regex");
        s.keys().filter(|p| re.is_match(p)).cloned().collect()
    };
    let (old, new) = (main(&o.before), main(&o.after));
    assert_eq!((old.len(), new.len()), (1, 1));
    assert_ne!(old, new, "main.js depends on the folder");
    assert!(o.skipped.contains(&old[0]) && o.skipped.contains(&new[0]));
    for page in o.pages() {
        assert!(o.modified(&page), "{page} loads main.js: {:#?}", o.content);
    }
    assert!(
        !o.urls
            .iter()
            .any(|u| u.starts_with("https://example.com/assets/")),
        "{:#?}",
        o.urls
    );
}

#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_edit_one_page() {
    let o = edit_one_page(Gen::Docusaurus);
    // The page's content is also in its own chunk, which gets a new name.
    assert!(!o.skipped.is_empty(), "{:#?}", o.content);
    assert!(
        !o.urls
            .iter()
            .any(|u| u.starts_with("https://example.com/assets/")),
        "{:#?}",
        o.urls
    );
}

#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_add_a_page() {
    let o = add_a_page(Gen::Docusaurus);
    assert!(o.modified("sitemap.xml"), "{:#?}", o.content);
    // The sidebar of every doc lists it.
    for doc in ["docs/intro/index.html", "docs/retries/index.html"] {
        assert!(o.modified(doc), "{doc}: {:#?}", o.content);
    }
}

#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_delete_a_page() {
    // `docusaurus build` empties build/ first: the page is gone.
    let o = delete_a_page(Gen::Docusaurus, false);
    assert!(o.modified("sitemap.xml"), "{:#?}", o.content);
    assert!(o.modified("docs/intro/index.html"), "the sidebar lists it");
}

#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_change_the_css() {
    let o = change_the_css(Gen::Docusaurus);
    let css = |s: &Snapshot| -> Vec<String> {
        s.keys()
            .filter(|p| p.starts_with("assets/css/"))
            .cloned()
            .collect()
    };
    let (old, new) = (css(&o.before), css(&o.after));
    assert_eq!((old.len(), new.len()), (1, 1), "{old:?} {new:?}");
    assert_ne!(old, new, "a new name for new content");
    assert!(o.skipped.contains(&old[0]) && o.skipped.contains(&new[0]));
    // Every page links the stylesheet.
    for page in o.pages() {
        assert!(o.modified(&page), "{page}: {:#?}", o.content);
    }
    assert!(
        !o.urls
            .iter()
            .any(|u| u.starts_with("https://example.com/assets/")),
        "{:#?}",
        o.urls
    );
}

#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_change_the_layout() {
    change_the_layout(Gen::Docusaurus);
}

// ------------------------------------------------------------------------------------------
// VitePress
// ------------------------------------------------------------------------------------------

/// The fingerprinted files of a build whose name starts with `prefix` (`assets/chunks/theme.`).
fn bundles(s: &Snapshot, prefix: &str) -> Vec<String> {
    s.keys()
        .filter(|p| p.starts_with(prefix) && Gen::Vitepress.fingerprinted(p))
        .cloned()
        .collect()
}

/// Checks a VitePress rebuild: the bundles named by `renamed` (prefixes) got new names (or
/// appeared, or vanished) and were skipped, nothing else was; every page changed, and `also`;
/// nothing below `assets/` was purged.
fn assert_vitepress(o: &Outcome, renamed: &[&str], also: &[&str]) {
    let mut expected_skips = BTreeSet::new();
    for prefix in renamed {
        let (old, new) = (bundles(&o.before, prefix), bundles(&o.after, prefix));
        assert_ne!(old, new, "{prefix} not renamed: {:#?}", o.content);
        expected_skips.extend(old.into_iter().chain(new));
    }
    assert_eq!(o.skipped, expected_skips);
    let mut expected = o.pages();
    expected.extend(also.iter().map(|p| p.to_string()));
    expected.extend(expected_skips);
    assert_eq!(o.content, expected);
    assert!(
        !o.urls.iter().any(|u| u.contains("/assets/")),
        "{:#?}",
        o.urls
    );
}

/// What the theme bundle (the layout, the scripts it imports) and the local search box import
/// gets a new name, and the app that imports them: every page loads them.
const THEME_BUNDLES: &[&str] = &[
    "assets/app.",
    "assets/chunks/theme.",
    "assets/chunks/VPLocalSearchBox.",
];

/// ... and a page's own text is in its chunks and in the local search index, which the search
/// box imports.
const PAGE_BUNDLES: &[&str] = &[
    "assets/app.",
    "assets/chunks/theme.",
    "assets/chunks/VPLocalSearchBox.",
    "assets/chunks/@localSearchIndexroot.",
];

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_rebuild_with_no_change_purges_nothing() {
    rebuild_without_change(Gen::Vitepress);
}

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_fresh_copy_purges_nothing() {
    fresh_copy(Gen::Vitepress);
}

/// Vue names a component's scoped styles (`data-v-bcdfdcea`) by a hash of its path relative to
/// the site. Here the theme's components are in the linked packages outside the site, so a copy
/// one folder deeper gives them other names, and the theme chunk, the app, the search box and
/// the stylesheet get new names: every page loads them, so every page changes and is purged,
/// the bundles are skipped. (With `node_modules/` inside the site, as in a checkout, the path
/// is the same wherever the checkout is: measured with 1.6.4, a copy three folders deeper
/// built byte for byte the same.)
#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_copy_with_another_path_to_the_theme_purges_the_pages_not_the_new_bundles() {
    let first = Site::recorded(Gen::Vitepress);
    let before = first.snapshot();
    let fresh = Site::copy(Gen::Vitepress, "checkouts/ci/site", None);
    fresh.build();
    copy_state(&first, &fresh);
    let o = purge_and_check(&fresh, before);
    assert_vitepress(&o, &[THEME_BUNDLES, &["assets/style."]].concat(), &[]);
}

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_edit_one_page() {
    // Every page inlines the hash of every page's chunk (window.__VP_HASH_MAP__, also written
    // to hashmap.json), and loads the renamed app: every page changes.
    let o = edit_one_page(Gen::Vitepress);
    let page = ["assets/guide_café crème.md."];
    assert_vitepress(&o, &[PAGE_BUNDLES, &page].concat(), &["hashmap.json"]);
}

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_add_a_page() {
    let o = add_a_page(Gen::Vitepress);
    let page = ["assets/guide_fresh.md."];
    let also = ["hashmap.json", "sitemap.xml"];
    assert_vitepress(&o, &[PAGE_BUNDLES, &page].concat(), &also);
}

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_delete_a_page() {
    // `vitepress build` empties its output folder first: the page is gone.
    let o = delete_a_page(Gen::Vitepress, false);
    let page = ["assets/guide_retries.md."];
    let also = ["guide/retries.html", "hashmap.json", "sitemap.xml"];
    assert_vitepress(&o, &[PAGE_BUNDLES, &page].concat(), &also);
}

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_change_the_css() {
    // Bundled with the theme's styles under a new name, which every page links.
    let o = change_the_css(Gen::Vitepress);
    assert_vitepress(&o, &["assets/style."], &[]);
}

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_change_the_layout() {
    let o = change_the_layout(Gen::Vitepress);
    assert_vitepress(&o, THEME_BUNDLES, &[]);
}

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_change_a_bundled_script() {
    let o = scenario(Gen::Vitepress, |s| {
        s.replace(".vitepress/theme/visits.js", "n += 1;", "n += 2;")
    });
    assert_vitepress(&o, THEME_BUNDLES, &[]);
}

#[test]
fn vitepress_base_url_is_not_read_from_javascript() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let site = Site {
        root: tmp.path().to_path_buf(),
        generator: Gen::Vitepress,
        _tmp: Some(tmp),
        _shared: None,
    };
    site.put(
        ".vitepress/config.mjs",
        "export default { sitemap: { hostname: \"https://example.com\" } };\n",
    );
    site.put(".vitepress/dist/index.html", "<h1>Home</h1>");
    let out = site.exec(None, &["plan", "--json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(
            "no base URL is set, so files cannot be turned into URLs (.vitepress/config.mjs sets \
             it as sitemap.hostname and base in JavaScript, which sitepurge does not run)"
        ),
        "{out:?}"
    );
    // With base_urls, the preset is detected from the config and its output folder used.
    site.put("sitepurge.toml", preset_config(Gen::Vitepress));
    let out = site.exec(None, &["plan", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let plan = out.json();
    assert_eq!(
        plan["generator"],
        json!({"name": "vitepress", "detected_from": ".vitepress/config.mjs"}),
        "{plan:#}"
    );
    assert_eq!(plan["dir"], ".vitepress/dist");
}

// ------------------------------------------------------------------------------------------
// Hexo
// ------------------------------------------------------------------------------------------

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_rebuild_with_no_change_purges_nothing() {
    let o = rebuild_without_change(Gen::Hexo);
    // Both builds happened on the pinned day (see HEXO_BUILD_DAY), not today.
    let sitemap = String::from_utf8_lossy(&o.after["sitemap.xml"]);
    assert!(
        sitemap.contains("<lastmod>2025-01-15</lastmod>"),
        "{sitemap}"
    );
}

/// hexo-generator-sitemap lists the tags in the order a fresh build (no `db.json`) stored them,
/// which follows the order the posts were read in: a fresh copy may list them in another
/// order. Checks that a change of sitemap.xml is no more than that.
fn sitemap_reordered_at_most(o: &Outcome) {
    let mut content = o.content.clone();
    if content.remove("sitemap.xml") {
        let lines = |s: &Snapshot| {
            let mut lines: Vec<String> = String::from_utf8_lossy(&s["sitemap.xml"])
                .lines()
                .map(str::to_string)
                .collect();
            lines.sort();
            lines
        };
        assert_eq!(lines(&o.before), lines(&o.after), "more than the order");
    }
    assert_eq!(content, BTreeSet::new());
}

/// No `db.json` in a fresh copy: the landscape ids are new (blanked by the site's
/// `ignore_content`), and with `updated_option: date` the posts' dates are their own.
#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_fresh_copy_purges_nothing_but_a_reordered_sitemap() {
    let first = Site::recorded(Gen::Hexo);
    let before = first.snapshot();
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let fresh = Site::copy(Gen::Hexo, "", Some(yesterday));
    fresh.build();
    copy_state(&first, &fresh);
    sitemap_reordered_at_most(&purge_and_check(&fresh, before));
}

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_fresh_copy_in_a_deeper_folder_purges_nothing_but_a_reordered_sitemap() {
    let first = Site::recorded(Gen::Hexo);
    let before = first.snapshot();
    let fresh = Site::copy(Gen::Hexo, "checkouts/ci/site", None);
    fresh.build();
    copy_state(&first, &fresh);
    sitemap_reordered_at_most(&purge_and_check(&fresh, before));
}

/// Without the `ignore_content` for the landscape theme's post ids, a fresh copy purges every
/// page that shows a post: their share links carry new ids.
#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_fresh_copy_without_blanking_the_landscape_ids_purges_every_page_with_a_post() {
    let without = |s: &Site| s.put("sitepurge.toml", preset_config(Gen::Eleventy));
    let first = Site::copy(Gen::Hexo, "", None);
    without(&first);
    first.build();
    first.baseline();
    let before = first.snapshot();
    let fresh = Site::copy(Gen::Hexo, "", None);
    without(&fresh);
    fresh.build();
    copy_state(&first, &fresh);
    let after = fresh.snapshot();
    let raw = changed_ignoring(&before, &after, VERSION_TAG);
    let mut pages = raw.clone();
    pages.remove("sitemap.xml"); // maybe reordered, see sitemap_reordered_at_most
    assert_eq!(
        pages,
        BTreeSet::from([
            "2024/03/01/post-1/index.html".into(),
            "2024/04/10/post-2/index.html".into(),
            "2024/05/20/post-3/index.html".into(),
            "2024/06/01/post-4/index.html".into(),
            "2024/06/15/café crème/index.html".into(),
            "about/index.html".into(),
            "index.html".into(),
        ])
    );
    let cf = FakeCloudflare::start();
    let report = fresh.run(&cf);
    assert_purged(&cf, &report, &urls_of_all(&raw));
}

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_edit_one_page() {
    // The home page and the feed carry the post's text; the archives, tags and categories only
    // its title and date.
    let o = edit_one_page(Gen::Hexo);
    assert_eq!(
        o.content,
        BTreeSet::from([
            "2024/06/15/café crème/index.html".into(),
            "atom.xml".into(),
            "index.html".into()
        ])
    );
}

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_add_a_page() {
    // The landscape sidebar lists the recent posts, the tags, categories and archive months
    // (with their counts) on every page.
    let o = add_a_page(Gen::Hexo);
    let mut expected = o.pages();
    expected.extend(["atom.xml".into(), "sitemap.xml".into()]);
    assert_eq!(o.content, expected);
    assert!(o.added("archives/2024/07/index.html"));
}

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_delete_a_page() {
    // `hexo generate` deletes what it no longer generates: the post, and its month's archive.
    let o = delete_a_page(Gen::Hexo, false);
    assert!(o.removed("archives/2024/04/index.html"), "{:#?}", o.content);
    let mut expected = o.pages();
    expected.extend([
        "2024/04/10/post-2/index.html".into(),
        "archives/2024/04/index.html".into(),
        "atom.xml".into(),
        "sitemap.xml".into(),
    ]);
    assert_eq!(o.content, expected);
}

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_change_the_css() {
    // Copied as-is, under its own name: only it changes.
    let o = change_the_css(Gen::Hexo);
    assert_eq!(o.content, BTreeSet::from(["css/custom.css".into()]));
}

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_change_the_layout() {
    let o = change_the_layout(Gen::Hexo);
    assert_eq!(o.content, o.pages(), "every page and nothing else");
}

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_change_a_script() {
    // Copied as-is, under its own name: only it changes.
    let o = scenario(Gen::Hexo, |s| {
        s.replace("source/js/visits.js", "n += 1;", "n += 2;")
    });
    assert_eq!(o.content, BTreeSet::from(["js/visits.js".into()]));
}

/// Hexo's default `updated_option: mtime` dates a post without `updated` by its file's
/// modification time: a fresh checkout moves every post's `article:modified_time`, its feed
/// `<updated>` and its sitemap `<lastmod>`. Each is the post's own date, not build noise: the
/// posts, the feed and the sitemap are purged. (`updated_option: date`, as the fixture has it,
/// dates them by `date`.)
#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_posts_dated_by_file_time_are_purged_on_a_fresh_copy() {
    let dated_by_mtime = |s: &Site| {
        s.replace(
            "_config.yml",
            "updated_option: date",
            "updated_option: mtime",
        )
    };
    let first = Site::copy(Gen::Hexo, "", None);
    dated_by_mtime(&first);
    first.build();
    first.baseline();
    let before = first.snapshot();
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let fresh = Site::copy(Gen::Hexo, "", Some(yesterday));
    dated_by_mtime(&fresh);
    fresh.build();
    copy_state(&first, &fresh);
    let o = purge_and_check(&fresh, before);
    assert_eq!(
        o.content,
        BTreeSet::from([
            "2024/03/01/post-1/index.html".into(),
            "2024/04/10/post-2/index.html".into(),
            "2024/05/20/post-3/index.html".into(),
            "2024/06/01/post-4/index.html".into(),
            "2024/06/15/café crème/index.html".into(),
            "about/index.html".into(),
            "atom.xml".into(),
            "sitemap.xml".into(),
        ])
    );
}

/// The base URL comes from `url` in `_config.yml`, the preset from `package.json`.
#[test]
fn hexo_base_url_is_read_from_its_config() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let site = Site {
        root: tmp.path().to_path_buf(),
        generator: Gen::Hexo,
        _tmp: Some(tmp),
        _shared: None,
    };
    site.put(
        "_config.yml",
        "title: Blog\nurl: https://blog.example.com/notes\nroot: /notes/\n",
    );
    site.put(
        "package.json",
        r#"{"name": "blog", "hexo": {"version": "7.3.0"}, "dependencies": {"hexo": "^7.3.0"}}"#,
    );
    site.put("public/index.html", "<h1>Home</h1>");
    let out = site.exec(None, &["plan", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let plan = out.json();
    assert_eq!(
        plan["generator"],
        json!({"name": "hexo", "detected_from": "package.json"}),
        "{plan:#}"
    );
    assert_eq!(plan["dir"], "public");
    let urls: Vec<&str> = plan["urls"]
        .as_array()
        .expect("urls")
        .iter()
        .map(|u| u["url"].as_str().expect("url"))
        .collect();
    assert!(
        urls.contains(&"https://blog.example.com/notes/"),
        "{plan:#}"
    );
}

/// The presets' principle on real builds: each rule blanks one and the same text in every file
/// (`sitepurge explain` on each text file of the recorded build).
fn each_rule_blanks_one_value_per_build(g: Gen) {
    let site = Site::recorded(g);
    let mut found = support::noise::blanked_by_rule(
        &site.path(g.output()),
        &["html", "xml", "txt", "json"],
        |path| site.exec(None, &["explain", path, "--json"]),
    );
    if g == Gen::Hexo {
        // The site's own `ignore_content`, not a preset rule: one id per post (and page).
        let ids = found.remove("ignore_content").expect("the landscape ids");
        assert_eq!(ids.len(), 6, "5 posts and the about page: {ids:#?}");
    }
    support::noise::assert_one_value_per_rule(&found, &["generator tag"]);
}

#[cfg_attr(
    missing_eleventy,
    ignore = "needs node and Eleventy: tests/run-all.sh installs it"
)]
#[test]
fn eleventy_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(Gen::Eleventy);
}

#[cfg_attr(
    missing_astro,
    ignore = "needs node and Astro: tests/run-all.sh installs it"
)]
#[test]
fn astro_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(Gen::Astro);
}

#[cfg_attr(
    missing_docusaurus,
    ignore = "needs node and Docusaurus: tests/run-all.sh installs it"
)]
#[test]
fn docusaurus_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(Gen::Docusaurus);
}

#[cfg_attr(
    missing_vitepress,
    ignore = "needs node and VitePress: tests/run-all.sh installs it"
)]
#[test]
fn vitepress_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(Gen::Vitepress);
}

#[cfg_attr(
    missing_hexo,
    ignore = "needs node and Hexo: tests/run-all.sh installs it"
)]
#[test]
fn hexo_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(Gen::Hexo);
}
