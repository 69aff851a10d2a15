//! sitepurge after real static site generators: the Hugo and Jekyll sites in
//! `tests/fixtures/{hugo,jekyll}-site/` are copied to a temp folder, built with the real `hugo`
//! or `jekyll`, recorded with `sitepurge baseline`, edited the way an author would, rebuilt in
//! place, and purged with `sitepurge run` against the local stand-in for the Cloudflare API.
//!
//! The expected URLs are computed here from the two builds' bytes (every file that appeared,
//! vanished or changed, mapped to its URLs by `support::expect::urls_of`), never with
//! sitepurge's own code.
//!
//! The generators must be installed (`tests/run-all.sh` installs them). Without one, `cargo test`
//! skips its tests and says what to install (build.rs); with CI set, they fail instead.
#![cfg(unix)]

use crate::support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use regex::bytes::Regex;
use serde_json::{Value, json};
use support::cloudflare::{FakeCloudflare, TOKEN, ZONE_ID};
use support::expect::{BASE, urls_of_all};
use support::purged::assert_purged;
use support::site::{
    Folder, Out, STATE, Snapshot, changed, copy_tree, remove_vars, sitepurge_in, snapshot,
};

/// What to install when a generator is missing (Debian package names).
const HUGO_PACKAGES: &str = "apt-get install hugo";
const JEKYLL_PACKAGES: &str = "apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap \
     ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima";

/// Jekyll's noise that is the same text in every build of a version (written here on purpose,
/// not read from src/): the version tags. Its build-wide times are [`build_wide_values`].
const JEKYLL_NOISE: &[&str] = &[
    r#"<meta name="generator" content="[^"]*"\s*/?>"#,
    r#"<generator uri="https://jekyllrb.com/" version="[^"]*">Jekyll</generator>"#,
];

/// Hugo's noise: the version tag. Every date Hugo writes is a page's own: content.
const HUGO_NOISE: &[&str] = &[r#"<meta name="generator" content="[^"]*"\s*/?>"#];

/// The files the noise rules apply to.
const TEXT_EXTENSIONS: &[&str] = &["html", "xml", "txt", "json"];

// ------------------------------------------------------------------------------------------
// Generators
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gen {
    Hugo,
    Jekyll,
}

impl Gen {
    fn name(self) -> &'static str {
        match self {
            Gen::Hugo => "hugo",
            Gen::Jekyll => "jekyll",
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
            Gen::Hugo => "public",
            Gen::Jekyll => "_site",
        }
    }

    /// The config file the preset is detected from.
    fn config_file(self) -> &'static str {
        match self {
            Gen::Hugo => "hugo.toml",
            Gen::Jekyll => "_config.yml",
        }
    }

    fn noise(self) -> &'static [&'static str] {
        match self {
            Gen::Hugo => HUGO_NOISE,
            Gen::Jekyll => JEKYLL_NOISE,
        }
    }

    /// The source file of a post: `post-NN` or `café crème`.
    fn post(self, src: &Path, name: &str) -> PathBuf {
        match self {
            Gen::Hugo => src.join("content/posts").join(format!("{name}.md")),
            Gen::Jekyll => {
                let suffix = format!("-{name}.md");
                let dir = src.join("_posts");
                let found: Vec<PathBuf> = fs::read_dir(&dir)
                    .expect("read _posts")
                    .map(|e| e.expect("entry").path())
                    .filter(|p| p.to_str().is_some_and(|s| s.ends_with(&suffix)))
                    .collect();
                assert_eq!(found.len(), 1, "one post named *{suffix} in {dir:?}");
                found.into_iter().next().expect("post")
            }
        }
    }

    /// A new post's source file and text, dated after every fixture post.
    fn new_post(self) -> (&'static str, &'static str) {
        match self {
            Gen::Hugo => (
                "content/posts/post-51.md",
                "+++\ntitle = \"Fresh from the oven\"\ndate = 2024-07-01T09:00:00Z\n\
                 tags = [\"cache\"]\ncategories = [\"notes\"]\n+++\n\nA new post.\n",
            ),
            Gen::Jekyll => (
                "_posts/2024-07-01-post-51.md",
                "---\nlayout: post\ntitle: \"Fresh from the oven\"\n\
                 date: 2024-07-01 09:00:00 +0000\ncategories: [notes]\ntags: [cache]\n---\n\n\
                 A new post.\n",
            ),
        }
    }

    /// Where a post's page lands in the output folder.
    fn post_page(self, name: &str) -> String {
        match (self, name) {
            (Gen::Hugo, "café crème") => "posts/café crème/index.html".into(),
            (Gen::Hugo, _) => format!("posts/{name}/index.html"),
            (Gen::Jekyll, "café crème") => "notes/2024/06/15/café crème.html".into(),
            // post-17 is dated 2024-02-21 and filed under "releases" (17 % 3 == 2).
            (Gen::Jekyll, "post-17") => "releases/2024/02/21/post-17.html".into(),
            (Gen::Jekyll, "post-50") => "releases/2024/05/30/post-50.html".into(),
            (Gen::Jekyll, "post-51") => "notes/2024/07/01/post-51.html".into(),
            (Gen::Jekyll, other) => panic!("no known page for {other}"),
        }
    }

    fn stylesheet(self) -> &'static str {
        match self {
            Gen::Hugo => "static/css/site.css",
            Gen::Jekyll => "assets/css/site.css",
        }
    }

    fn pdf(self) -> &'static str {
        match self {
            Gen::Hugo => "static/files/menu du café.pdf",
            Gen::Jekyll => "assets/files/menu du café.pdf",
        }
    }

    /// Builds the site in `src` as a user would (`hugo --quiet`, `jekyll build -q`), in place.
    fn build(self, src: &Path, extra: &[&str]) {
        let (program, args, install): (&str, &[&str], &str) = match self {
            Gen::Hugo => ("hugo", &["--quiet"], HUGO_PACKAGES),
            Gen::Jekyll => ("jekyll", &["build", "-q"], JEKYLL_PACKAGES),
        };
        let mut cmd = Process::new(program);
        cmd.args(args).args(extra).current_dir(src);
        remove_vars(&mut cmd, &["HUGO_", "JEKYLL_"]);
        // Jekyll (Ruby) reads non-ASCII file names as UTF-8 only under a UTF-8 locale; under
        // LANG=C it fails on `café crème.md` with Encoding::UndefinedConversionError.
        cmd.env("LC_ALL", "C.UTF-8");
        // Hugo's cache (a folder per project, $TMPDIR/hugo_cache by default) stays in the site.
        cmd.env("HUGO_CACHEDIR", src.join(".hugo_cache"));
        let output = match cmd.output() {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`{program}` is not installed, and these tests need the real generator: {install}"
            ),
            Err(e) => panic!("cannot run `{program}`: {e}"),
        };
        assert!(
            output.status.success(),
            "`{program} {}` failed in {} ({}); is everything installed? {install}\n\
             stdout:\n{}\nstderr:\n{}",
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

/// `sitepurge.toml` for byte-exact scenarios: no preset, so every changed byte is a change.
fn exact_config(g: Gen) -> String {
    format!(
        "generator = \"none\"\ndir = \"{}\"\nbase_urls = [\"{BASE}\"]\nzone = \"{ZONE_ID}\"\n\
         threshold = \"100%\"\n",
        g.output()
    )
}

/// `sitepurge.toml` for preset scenarios: no `generator` key, so it is detected.
fn preset_config() -> String {
    format!("base_urls = [\"{BASE}\"]\nzone = \"{ZONE_ID}\"\nthreshold = \"100%\"\n")
}

/// A copy of a fixture's source in its own temp folder (also sitepurge's cwd).
struct Site {
    /// Holds the site; removed on drop.
    _tmp: tempfile::TempDir,
    /// The site's source folder: the temp folder itself, or a folder below it.
    root: PathBuf,
    generator: Gen,
    /// When the last build ended.
    built_at: SystemTime,
}

impl Folder for Site {
    fn root(&self) -> &Path {
        &self.root
    }
}

impl Site {
    /// Copies the fixture (fresh modification times) and writes `sitepurge.toml`.
    fn new(g: Gen, config: &str) -> Site {
        Site::copy(g, config, "", None)
    }

    /// Copies the fixture to `below` in a new temp folder; `mtime`: the copied files' time.
    fn copy(g: Gen, config: &str, below: &str, mtime: Option<SystemTime>) -> Site {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join(below);
        copy_tree(&g.fixture(), &root, mtime);
        let site = Site {
            _tmp: tmp,
            root,
            generator: g,
            built_at: UNIX_EPOCH,
        };
        site.put("sitepurge.toml", config);
        site
    }

    fn build(&mut self) {
        self.build_with(&[]);
    }

    fn build_with(&mut self, extra: &[&str]) {
        self.generator.build(self.root(), extra);
        self.built_at = SystemTime::now();
    }

    /// Sleeps until the clock is in a later second than the one the last build ended in, so the
    /// next build's time stamp (jekyll-feed's `<updated>`, second precision) is sure to differ.
    /// Hugo stamps no build time: no need to wait.
    fn wait_for_a_new_second(&self) {
        if self.generator == Gen::Hugo {
            return;
        }
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).expect("clock").as_secs();
        while secs(SystemTime::now()) <= secs(self.built_at) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The output folder, which must not be empty.
    fn snapshot(&self) -> Snapshot {
        let dir = self.path(self.generator.output());
        let files = snapshot(&dir);
        assert!(!files.is_empty(), "{} is empty", dir.display());
        files
    }

    /// The binary in this folder, isolated from the test's environment.
    fn exec(&self, api: Option<&FakeCloudflare>, args: &[&str]) -> Out {
        sitepurge(self.root(), api, args)
    }

    fn baseline(&self) {
        let out = self.exec(None, &["baseline", "-q"]);
        assert_eq!(out.code, 0, "baseline failed: {out:?}");
        assert!(self.path(STATE).is_file(), "baseline wrote no state");
    }

    /// `sitepurge plan --json`.
    fn plan(&self) -> Value {
        let out = self.exec(None, &["plan", "--json"]);
        assert_eq!(out.code, 0, "plan failed: {out:?}");
        out.json()
    }

    /// `sitepurge run --json` against `cf`; must exit 0.
    fn run(&self, cf: &FakeCloudflare) -> Value {
        let out = self.exec(Some(cf), &["run", "--json"]);
        assert_eq!(out.code, 0, "run failed: {out:?}");
        out.json()
    }

    /// Edits a source file: `from` must be in it.
    fn replace(&self, file: &Path, from: &str, to: &str) {
        let text = fs::read_to_string(file).expect("read source");
        assert!(text.contains(from), "{from:?} not in {}", file.display());
        fs::write(file, text.replacen(from, to, 1)).expect("write source");
    }

    fn append(&self, rel: &str, more: &[u8]) {
        let mut bytes = fs::read(self.path(rel)).expect("read source");
        bytes.extend_from_slice(more);
        fs::write(self.path(rel), bytes).expect("write source");
    }
}

/// Runs the binary in `cwd`, isolated from the test's environment; with `api`, talking to it with
/// the good token.
fn sitepurge(cwd: &Path, api: Option<&FakeCloudflare>, args: &[&str]) -> Out {
    let mut cmd = sitepurge_in(cwd);
    if let Some(cf) = api {
        cmd.env("CLOUDFLARE_API_BASE_URL", cf.base_url())
            .env("CLOUDFLARE_API_TOKEN", TOKEN);
    } else {
        // Nothing may be sent; were it, it would go nowhere.
        cmd.env("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:9/client/v4");
    }
    Out::of(cmd.args(args))
}

/// The paths whose content changed, `g`'s build noise aside: its version tags, and the
/// build-wide times each build printed ([`build_wide_values`], read from that build's bytes).
fn content_changed(g: Gen, before: &Snapshot, after: &Snapshot) -> BTreeSet<String> {
    changed_without(
        before,
        after,
        g.noise(),
        &build_wide_values(g, before),
        &build_wide_values(g, after),
    )
}

/// The times a build prints that are the same for the whole build, as that build spelled them:
/// for Jekyll, jekyll-feed's feed-level `<updated>` (`site.time`, also the date of the undated
/// guide) and the sitemap's `<lastmod>` of the PDF (its file's modification time, which Jekyll
/// keeps when it copies it). Hugo prints none.
fn build_wide_values(g: Gen, build: &Snapshot) -> Vec<String> {
    if g != Gen::Jekyll {
        return Vec::new();
    }
    let text = |path: &str| String::from_utf8_lossy(&build[path]).into_owned();
    let feed = text("feed.xml");
    let build_time = feed
        .split_once("<updated>")
        .and_then(|(_, rest)| rest.split_once("</updated>"))
        .map(|(time, _)| time.to_string())
        .expect("feed.xml has its <updated>");
    let sitemap = text("sitemap.xml");
    let pdf_time = sitemap
        .split_once("menu%20du%20caf%C3%A9.pdf</loc>")
        .and_then(|(_, rest)| rest.split_once("<lastmod>"))
        .and_then(|(_, rest)| rest.split_once("</lastmod>"))
        .map(|(time, _)| time.to_string())
        .expect("sitemap.xml dates the PDF");
    vec![build_time, pdf_time]
}

/// Paths that appeared, vanished or differ once every match of `patterns`, and every
/// occurrence of each build's own `values`, are removed from text files.
fn changed_without(
    before: &Snapshot,
    after: &Snapshot,
    patterns: &[&str],
    values_before: &[String],
    values_after: &[String],
) -> BTreeSet<String> {
    let rules: Vec<Regex> = patterns
        .iter()
        .map(|p| Regex::new(p).expect("regex"))
        .collect();
    let blank = |path: &str, bytes: &[u8], values: &[String]| {
        let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
        let mut bytes = bytes.to_vec();
        if TEXT_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) {
            for rule in &rules {
                bytes = rule.replace_all(&bytes, &b""[..]).into_owned();
            }
            let mut text = String::from_utf8(bytes).expect("UTF-8 text");
            for value in values {
                text = text.replace(value.as_str(), "");
            }
            bytes = text.into_bytes();
        }
        bytes
    };
    let paths: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    paths
        .into_iter()
        .filter(|p| match (before.get(*p), after.get(*p)) {
            (Some(a), Some(b)) => blank(p, a, values_before) != blank(p, b, values_after),
            _ => true,
        })
        .cloned()
        .collect()
}

// ------------------------------------------------------------------------------------------
// Byte-exact scenarios (no preset)
// ------------------------------------------------------------------------------------------

/// What a scenario changed, by the bytes.
struct Outcome {
    generator: Gen,
    before: Snapshot,
    after: Snapshot,
    changed: BTreeSet<String>,
    urls: BTreeSet<String>,
}

impl Outcome {
    fn has(&self, path: &str) -> bool {
        self.changed.contains(path)
    }

    fn added(&self, path: &str) -> bool {
        !self.before.contains_key(path) && self.after.contains_key(path)
    }

    fn removed(&self, path: &str) -> bool {
        self.before.contains_key(path) && !self.after.contains_key(path)
    }

    /// The changed paths, build noise aside.
    fn content_changes(&self) -> BTreeSet<String> {
        content_changed(self.generator, &self.before, &self.after)
    }
}

/// Build, baseline, `edit`, rebuild in place (with `rebuild_args`), run: the purge must be exactly
/// the URLs of the files whose bytes changed, appeared or vanished.
fn scenario_with(g: Gen, rebuild_args: &[&str], edit: impl FnOnce(&Site)) -> Outcome {
    let mut site = Site::new(g, &exact_config(g));
    site.build();
    site.baseline();
    let before = site.snapshot();
    edit(&site);
    site.build_with(rebuild_args);
    let after = site.snapshot();
    let changed = changed(&before, &after);
    let urls = urls_of_all(&changed);

    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_eq!(report["generator"], Value::Null, "generator = \"none\"");
    assert_purged(&cf, &report, &urls);
    Outcome {
        generator: g,
        before,
        after,
        changed,
        urls,
    }
}

fn scenario(g: Gen, edit: impl FnOnce(&Site)) -> Outcome {
    scenario_with(g, &[], edit)
}

fn edit_body(g: Gen) {
    let o = scenario(g, |s| {
        let post = g.post(s.root(), "café crème");
        s.replace(
            &post,
            "would miss the cached copy.",
            "would miss the cached copy.\n\nAn added paragraph.",
        );
    });
    assert!(o.has(&g.post_page("café crème")), "{:#?}", o.changed);
    let page_url = match g {
        Gen::Hugo => "https://example.com/posts/caf%C3%A9%20cr%C3%A8me/",
        Gen::Jekyll => "https://example.com/notes/2024/06/15/caf%C3%A9%20cr%C3%A8me.html",
    };
    assert!(o.urls.contains(page_url), "{:#?}", o.urls);
}

fn change_title(g: Gen) {
    let o = scenario(g, |s| {
        let post = g.post(s.root(), "post-17");
        let (from, to) = match g {
            Gen::Hugo => (
                "title = \"Retry budgets, part 2\"",
                "title = \"Retry budgets, revisited\"",
            ),
            Gen::Jekyll => (
                "title: \"Retry budgets, part 2\"",
                "title: \"Retry budgets, revisited\"",
            ),
        };
        s.replace(&post, from, to);
    });
    let page = g.post_page("post-17");
    assert!(o.has(&page), "{:#?}", o.changed);
    let text = String::from_utf8_lossy(&o.after[&page]);
    assert!(text.contains("Retry budgets, revisited"));
    // Its neighbours link to it by title.
    assert!(o.changed.len() > 2, "{:#?}", o.changed);
}

fn add_tag(g: Gen) {
    let o = scenario(g, |s| {
        let post = g.post(s.root(), "post-17");
        let (from, to) = match g {
            Gen::Hugo => ("tags = [", "tags = [\"purging\", "),
            Gen::Jekyll => ("tags: [", "tags: [purging, "),
        };
        s.replace(&post, from, to);
    });
    match g {
        Gen::Hugo => {
            assert!(o.added("tags/purging/index.html"), "{:#?}", o.changed);
            assert!(o.added("tags/purging/index.xml"));
            assert!(o.has("tags/index.html"));
            assert!(o.has(&g.post_page("post-17")), "the page lists its tags");
        }
        Gen::Jekyll => {
            assert!(o.has("tags/index.html"), "{:#?}", o.changed);
            // minima's post layout shows no tags; the post is too old for the feed.
            assert!(!o.has(&g.post_page("post-17")));
        }
    }
}

fn add_post(g: Gen) {
    let o = scenario(g, |s| {
        let (rel, text) = g.new_post();
        s.put(rel, text);
    });
    let page = match g {
        Gen::Hugo => "posts/post-51/index.html".to_string(),
        Gen::Jekyll => g.post_page("post-51"),
    };
    assert!(o.added(&page), "{:#?}", o.changed);
    assert!(o.has("index.html"));
    assert!(o.has("sitemap.xml"));
    // Every list page shifts by one post, down to the last (51 posts: 6 pages of 10).
    let last = match g {
        Gen::Hugo => "page/6/index.html",
        Gen::Jekyll => "page6/index.html",
    };
    assert!(o.has(last), "{:#?}", o.changed);
}

fn edit_css(g: Gen) {
    let o = scenario(g, |s| s.append(g.stylesheet(), b"a { color: #0645ad; }\n"));
    let css = g.stylesheet().trim_start_matches("static/");
    // Jekyll's rebuild also rewrites feed.xml's build time: noise, but a byte change all the same.
    assert_eq!(o.content_changes(), BTreeSet::from([css.to_string()]));
}

fn replace_pdf(g: Gen) {
    let o = scenario(g, |s| s.append(g.pdf(), b"% revised menu\n"));
    let pdf = g.pdf().trim_start_matches("static/");
    assert!(o.has(pdf), "{:#?}", o.changed);
    let url = match g {
        Gen::Hugo => "https://example.com/files/menu%20du%20caf%C3%A9.pdf",
        Gen::Jekyll => "https://example.com/assets/files/menu%20du%20caf%C3%A9.pdf",
    };
    assert!(o.urls.contains(url), "{:#?}", o.urls);
    // Nothing else changes but noise: jekyll-sitemap lists the PDF with its modification time.
    assert_eq!(o.content_changes(), BTreeSet::from([pdf.to_string()]));
}

fn site_title(g: Gen) {
    let o = scenario(g, |s| {
        let (file, from, to) = match g {
            Gen::Hugo => (
                "hugo.toml",
                "title = \"Purge Notes\"",
                "title = \"Purge Journal\"",
            ),
            Gen::Jekyll => ("_config.yml", "title: Purge Notes", "title: Purge Journal"),
        };
        s.replace(&s.path(file), from, to);
    });
    // Every page shows the site's title.
    for (path, bytes) in &o.after {
        if path.ends_with(".html") && String::from_utf8_lossy(bytes).contains("Purge Journal") {
            assert!(o.has(path), "{path} shows the new title but is not purged");
        }
    }
    assert!(o.has("index.html") && o.has(&o.generator.post_page("post-17")));
    for unchanged in [g.stylesheet(), g.pdf()] {
        assert!(!o.has(unchanged.trim_start_matches("static/")));
    }
}

fn no_change(g: Gen) -> Outcome {
    let mut site = Site::new(g, &exact_config(g));
    site.build();
    site.baseline();
    site.wait_for_a_new_second();
    let before = site.snapshot();
    site.build();
    let after = site.snapshot();
    let changed = changed(&before, &after);
    let urls = urls_of_all(&changed);
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_purged(&cf, &report, &urls);
    Outcome {
        generator: g,
        before,
        after,
        changed,
        urls,
    }
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_edit_one_posts_body() {
    edit_body(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_edit_one_posts_body() {
    edit_body(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_change_a_posts_title() {
    change_title(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_change_a_posts_title() {
    change_title(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_add_a_tag_to_a_post() {
    add_tag(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_add_a_tag_to_a_post() {
    add_tag(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_add_a_post() {
    add_post(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_add_a_post() {
    add_post(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_delete_a_post_keeps_its_stale_page() {
    // Plain `hugo` never deletes from public/: the page (and the now surplus last list page)
    // stay as they were, so they are not changes and are not purged.
    let o = scenario(Gen::Hugo, |s| {
        fs::remove_file(Gen::Hugo.post(s.root(), "post-17")).expect("rm post");
    });
    assert!(!o.has("posts/post-17/index.html"));
    assert!(o.after.contains_key("posts/post-17/index.html"));
    assert!(o.after.contains_key("page/6/index.html") && !o.has("page/6/index.html"));
    assert!(o.has("index.html") && o.has("sitemap.xml") && o.has("tags/cdn/index.html"));
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_delete_a_post_with_clean_destination_dir() {
    let o = scenario_with(Gen::Hugo, &["--cleanDestinationDir"], |s| {
        fs::remove_file(Gen::Hugo.post(s.root(), "post-17")).expect("rm post");
    });
    assert!(o.removed("posts/post-17/index.html"), "{:#?}", o.changed);
    assert!(o.urls.contains("https://example.com/posts/post-17/"));
    assert!(o.removed("page/6/index.html"), "50 posts fit in 5 pages");
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_delete_a_post() {
    // Jekyll removes obsolete files from _site itself.
    let o = scenario(Gen::Jekyll, |s| {
        fs::remove_file(Gen::Jekyll.post(s.root(), "post-17")).expect("rm post");
    });
    assert!(
        o.removed(&Gen::Jekyll.post_page("post-17")),
        "{:#?}",
        o.changed
    );
    assert!(o.has("tags/index.html") && o.has("sitemap.xml"));
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_change_the_css() {
    edit_css(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_change_the_css() {
    edit_css(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_replace_the_pdf_with_a_space_and_accent_in_its_name() {
    replace_pdf(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_replace_the_pdf_with_a_space_and_accent_in_its_name() {
    replace_pdf(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_change_the_site_title() {
    site_title(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_change_the_site_title() {
    site_title(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_rebuild_with_no_change_purges_nothing() {
    let o = no_change(Gen::Hugo);
    assert_eq!(o.changed, BTreeSet::new(), "Hugo builds are reproducible");
    assert!(o.urls.is_empty());
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_rebuild_with_no_change_purges_the_build_time_without_a_preset() {
    // Jekyll prints the build time into feed.xml's <updated> and, for the guide that has no
    // date, into its page and its sitemap entry: without the preset, that is a change (the
    // rebuild started in a later second than the first build).
    let o = no_change(Gen::Jekyll);
    let pages = [
        "feed.xml",
        "guides/purging-on-deploy/index.html",
        "sitemap.xml",
    ];
    assert_eq!(o.changed, pages.iter().map(|p| p.to_string()).collect());
    assert_eq!(
        o.urls,
        BTreeSet::from([
            "https://example.com/feed.xml".to_string(),
            "https://example.com/guides/purging-on-deploy/".to_string(),
            "https://example.com/guides/purging-on-deploy/index.html".to_string(),
            "https://example.com/sitemap.xml".to_string(),
        ])
    );
    let feed = |s: &Snapshot| {
        let re = regex::Regex::new(r"<updated>[^<]*</updated>").expect("regex");
        let text = String::from_utf8_lossy(&s["feed.xml"]).into_owned();
        re.find(&text).expect("feed <updated>").as_str().to_string()
    };
    assert_ne!(feed(&o.before), feed(&o.after));
}

// ------------------------------------------------------------------------------------------
// Presets (detected from the site's config file)
// ------------------------------------------------------------------------------------------

/// A site with the preset detected, built and recorded; checks the report names the preset.
fn preset_site(g: Gen) -> Site {
    // Source files a day old, as a checkout made before the build: were they of the build's
    // own second, the PDF's file time would also be the build time, and the precision report
    // would count its sitemap entry under both kinds.
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let mut site = Site::copy(g, &preset_config(), "", Some(yesterday));
    site.build();
    let plan = site.plan();
    assert_eq!(
        plan["generator"],
        json!({"name": g.name(), "detected_from": g.config_file()}),
        "{plan:#}"
    );
    assert_eq!(plan["dir"], g.output());
    site.baseline();
    site
}

fn preset_no_change(g: Gen) {
    let mut site = preset_site(g);
    site.wait_for_a_new_second();
    let before = site.snapshot();
    site.build();
    let after = site.snapshot();
    let raw = changed(&before, &after);
    match g {
        Gen::Hugo => assert_eq!(raw, BTreeSet::new()),
        // The build time, in the feed and in the undated guide (its page and its sitemap entry).
        Gen::Jekyll => assert_eq!(
            raw,
            BTreeSet::from([
                "feed.xml".to_string(),
                "guides/purging-on-deploy/index.html".to_string(),
                "sitemap.xml".to_string()
            ])
        ),
    }
    assert_eq!(content_changed(g, &before, &after), BTreeSet::new());
    // `plan -v` ends with the precision report: what each kind of noise kept from the purge.
    let out = site.exec(None, &["plan", "-v"]);
    assert_eq!(out.code, 0, "{out:?}");
    let precision = match g {
        Gen::Hugo => vec![
            "precision: 0 files changed only by generator tag (not purged)",
            "precision: 0 fingerprinted files added or removed (not purged)",
        ],
        Gen::Jekyll => vec![
            "precision: 0 files changed only by generator tag (not purged)",
            "precision: 0 files changed only by feed generator tag (not purged)",
            "precision: 0 files changed only by source map paths (not purged)",
            "precision: 3 files changed only by build time (not purged)",
            "precision: 0 files changed only by file time (not purged)",
            "precision: 0 fingerprinted files added or removed (not purged)",
        ],
    };
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[lines.len() - precision.len()..],
        precision,
        "{}",
        out.stdout
    );
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_eq!(report["generator"]["name"], g.name());
    assert_eq!(
        report["changes"],
        json!({"added": [], "modified": [], "removed": []})
    );
    assert_purged(&cf, &report, &BTreeSet::new());
}

/// What a fresh copy's build purged.
struct Fresh {
    before: Snapshot,
    after: Snapshot,
    cf: FakeCloudflare,
    report: Value,
}

/// Builds the site and records it; then builds a fresh copy of the source (files a day older,
/// in another folder, `below` it) and runs sitepurge there with the first build's state.
/// `setup` runs on both sources before they are built.
fn preset_fresh_copy(g: Gen, below: &str, setup: impl Fn(&Site)) -> Fresh {
    let mut first = Site::new(g, &preset_config());
    setup(&first);
    first.build();
    first.baseline();
    let before = first.snapshot();
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let mut fresh = Site::copy(g, &preset_config(), below, Some(yesterday));
    setup(&fresh);
    first.wait_for_a_new_second();
    fresh.build();
    fs::create_dir_all(fresh.path(".sitepurge")).expect("mkdir");
    fs::copy(
        first.path(".sitepurge/state.json"),
        fresh.path(".sitepurge/state.json"),
    )
    .expect("copy state");
    let after = fresh.snapshot();
    let cf = FakeCloudflare::start();
    let report = fresh.run(&cf);
    assert_eq!(
        report["generator"],
        json!({"name": g.name(), "detected_from": g.config_file()})
    );
    Fresh {
        before,
        after,
        cf,
        report,
    }
}

fn preset_fresh_copy_purges_nothing(g: Gen) {
    let f = preset_fresh_copy(g, "", |_| {});
    // Hugo dates pages by their front matter: a fresh copy builds the same bytes. Jekyll's
    // differ by build-wide times only: the build time (feed, undated guide) and the PDF's file
    // time in sitemap.xml.
    let expected_raw = match g {
        Gen::Hugo => BTreeSet::new(),
        Gen::Jekyll => BTreeSet::from([
            "feed.xml".to_string(),
            "guides/purging-on-deploy/index.html".to_string(),
            "sitemap.xml".to_string(),
        ]),
    };
    assert_eq!(changed(&f.before, &f.after), expected_raw);
    assert_eq!(content_changed(g, &f.before, &f.after), BTreeSet::new());
    assert_purged(&f.cf, &f.report, &BTreeSet::new());
}

/// With the preset, an edit purges the files whose bytes differ once the preset's noise is
/// removed: here a post's body, while a checkout also touched the PDF (same bytes, new time).
fn preset_edit_body(g: Gen) {
    let mut site = preset_site(g);
    site.wait_for_a_new_second();
    let before = site.snapshot();
    let post = g.post(site.root(), "post-50");
    let end_of_front_matter = match g {
        Gen::Hugo => "+++\n\n",
        Gen::Jekyll => "---\n\n",
    };
    site.replace(
        &post,
        end_of_front_matter,
        &format!("{end_of_front_matter}A first paragraph, added.\n\n"),
    );
    let later = SystemTime::now() + Duration::from_secs(3600);
    for file in [site.path(g.pdf()), post.clone()] {
        fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(later))
            .expect("touch");
    }
    site.build();
    let after = site.snapshot();
    let expected = content_changed(g, &before, &after);
    let raw = changed(&before, &after);

    let page = match g {
        Gen::Hugo => "posts/post-50/index.html".to_string(),
        Gen::Jekyll => g.post_page("post-50"),
    };
    assert!(expected.contains(&page), "{expected:#?}");
    assert!(
        expected.contains("index.html"),
        "the home page shows its summary"
    );
    let feed = match g {
        Gen::Hugo => "index.xml",
        Gen::Jekyll => "feed.xml",
    };
    assert!(expected.contains(feed), "the feed carries its content");
    // sitemap.xml: Hugo's has the same bytes (pages are dated by their front matter); Jekyll's
    // differs by build-wide times alone (the undated guide's build time, the PDF's file time).
    assert!(!expected.contains("sitemap.xml"), "{expected:#?}");
    assert_eq!(raw.contains("sitemap.xml"), g == Gen::Jekyll, "{raw:#?}");

    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_purged(&cf, &report, &urls_of_all(&expected));
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_preset_rebuild_with_no_change_purges_nothing() {
    preset_no_change(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_preset_rebuild_with_no_change_purges_nothing() {
    preset_no_change(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_preset_fresh_copy_purges_nothing() {
    preset_fresh_copy_purges_nothing(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_preset_fresh_copy_purges_nothing() {
    preset_fresh_copy_purges_nothing(Gen::Jekyll);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_preset_edit_purges_content_changes_not_noise() {
    preset_edit_body(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_preset_edit_purges_content_changes_not_noise() {
    preset_edit_body(Gen::Jekyll);
}

/// A post's own last-modified date is content (crawlers read it in sitemap.xml): setting it
/// purges the sitemap along with the pages that show it, even though it is a date.
fn preset_per_page_date_change(g: Gen) {
    let mut site = preset_site(g);
    site.wait_for_a_new_second();
    let before = site.snapshot();
    let post = g.post(site.root(), "post-17");
    match g {
        Gen::Hugo => site.replace(&post, "+++\n\n", "lastmod = 2024-08-01T10:00:00Z\n+++\n\n"),
        Gen::Jekyll => site.replace(
            &post,
            "---\n\n",
            "last_modified_at: 2024-08-01 10:00:00 +0000\n---\n\n",
        ),
    }
    site.build();
    let after = site.snapshot();
    let expected = content_changed(g, &before, &after);
    assert!(expected.contains("sitemap.xml"), "{expected:#?}");
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_purged(&cf, &report, &urls_of_all(&expected));
    assert!(
        report["urls"]
            .as_array()
            .expect("urls")
            .iter()
            .any(|u| u["url"] == format!("{BASE}sitemap.xml")),
        "{report:#}"
    );
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_a_posts_new_lastmod_purges_the_sitemap() {
    preset_per_page_date_change(Gen::Hugo);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_a_posts_new_last_modified_at_purges_the_sitemap() {
    preset_per_page_date_change(Gen::Jekyll);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_preset_fresh_copy_in_a_deeper_folder_purges_nothing() {
    let f = preset_fresh_copy(Gen::Jekyll, "checkouts/ci/site", |_| {});
    let raw = changed(&f.before, &f.after);
    assert!(raw.contains("assets/main.css.map"), "{raw:#?}");
    assert_purged(&f.cf, &f.report, &BTreeSet::new());
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_preset_is_detected_from_the_config_directory() {
    let mut site = Site::new(Gen::Hugo, &preset_config());
    fs::create_dir_all(site.path("config/_default")).expect("mkdir");
    fs::rename(
        site.path("hugo.toml"),
        site.path("config/_default/hugo.toml"),
    )
    .expect("mv");
    site.build();
    assert!(
        site.path("public/index.html").is_file(),
        "hugo read config/_default/"
    );
    let plan = site.plan();
    assert_eq!(plan["generator"]["name"], "hugo", "{plan:#}");
    assert_eq!(
        plan["generator"]["detected_from"],
        "config/_default/hugo.toml"
    );
}

// ------------------------------------------------------------------------------------------
// Example configs
// ------------------------------------------------------------------------------------------

#[test]
fn example_configs_are_accepted() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (name, output) in [
        ("hugo", "public"),
        ("jekyll", "_site"),
        ("zola", "public"),
        ("eleventy", "_site"),
        ("astro", "dist"),
        ("docusaurus", "build"),
        ("vitepress", ".vitepress/dist"),
        ("hexo", "public"),
        ("mkdocs", "site"),
        ("sphinx", "_build/html"),
        ("pelican", "output"),
    ] {
        let config = examples.join(format!("{name}-sitepurge.toml"));
        let config_arg = config.to_str().expect("UTF-8 path");

        // Without the output folder: "missing folder" (4), not a configuration error (2).
        let empty = tempfile::tempdir().expect("tempdir");
        let out = sitepurge(empty.path(), None, &["plan", "--config", config_arg]);
        assert_eq!(out.code, 4, "{name}: {out:?}");
        assert!(out.stderr.contains(output), "{name}: {out:?}");

        // With it: a first-run plan, with the preset set by the file (not detected).
        let cwd = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(cwd.path().join(output)).expect("mkdir");
        fs::write(cwd.path().join(output).join("index.html"), "<h1>Hi</h1>").expect("write");
        // (Named on the command line: by default the folder is found beside the config file.)
        let out = sitepurge(
            cwd.path(),
            None,
            &["plan", output, "--config", config_arg, "--json"],
        );
        assert_eq!(out.code, 0, "{name}: {out:?}");
        let report = out.json();
        assert_eq!(
            report["generator"],
            json!({"name": name, "detected_from": null}),
            "{name}"
        );
        assert_eq!(report["dir"], output, "{name}");
        assert_eq!(report["reason"], "first-run", "{name}");

        // Copied to the site's root as sitepurge.toml, as its comments say.
        fs::copy(&config, cwd.path().join("sitepurge.toml")).expect("copy config");
        let out = sitepurge(cwd.path(), None, &["plan", "--json"]);
        assert_eq!(out.code, 0, "{name}: {out:?}");
        assert_eq!(out.json()["generator"]["name"], name);
        assert_eq!(
            fs::read_dir(cwd.path()).expect("ls").count(),
            2,
            "{name}: plan wrote nothing"
        );
    }
}

/// `hugo --minify` writes `<meta name=generator content="Hugo 0.111.3">`, without quotes around
/// `generator`. A Hugo upgrade changes only that tag on every page: nothing to purge. (Debian
/// has one Hugo version, so the upgrade is the tag rewritten as the next version writes it.)
#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_minified_version_bump_purges_nothing() {
    let mut site = Site::new(Gen::Hugo, &preset_config());
    site.build_with(&["--minify"]);
    let home = fs::read_to_string(site.path("public/index.html")).expect("home page");
    assert!(
        home.contains("<meta name=generator content=\"Hugo "),
        "the minified form this test is about: {home}"
    );
    site.baseline();
    let before = site.snapshot();
    let version = Regex::new(r#"content="Hugo [0-9.]+""#).expect("regex");
    let mut bumped = 0;
    for path in before.keys().filter(|p| p.ends_with(".html")) {
        let file = site.path(&format!("public/{path}"));
        let text = fs::read_to_string(&file).expect("page");
        let upgraded = version
            .replace_all(text.as_bytes(), &b"content=\"Hugo 0.200.1\""[..])
            .into_owned();
        if upgraded != text.as_bytes() {
            fs::write(&file, upgraded).expect("write");
            bumped += 1;
        }
    }
    assert!(bumped > 50, "only {bumped} pages carry the tag");
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_eq!(
        report["changes"],
        json!({"added": [], "modified": [], "removed": []}),
        "{report:#}"
    );
    assert_purged(&cf, &report, &BTreeSet::new());
}

/// The principle of the presets: blank what is the same for the whole build, never what
/// differs from page to page. Every rule of the preset, on every text file of a real build,
/// blanks one and the same text.
fn each_rule_blanks_one_value_per_build(g: Gen, extra: &[&str], rules: &[&str]) {
    // Sources a day old, as a checkout made before the build (see preset_site).
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let mut site = Site::copy(g, &preset_config(), "", Some(yesterday));
    site.build_with(extra);
    // (Jekyll's preset also reads Sass source maps.)
    let found = support::noise::blanked_by_rule(
        &site.path(g.output()),
        &["html", "xml", "txt", "json", "map"],
        |path| site.exec(None, &["explain", path, "--json"]),
    );
    support::noise::assert_one_value_per_rule(&found, rules);
}

#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(Gen::Hugo, &[], &["generator tag"]);
    each_rule_blanks_one_value_per_build(Gen::Hugo, &["--minify"], &["generator tag"]);
}

#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(
        Gen::Jekyll,
        &[],
        &[
            "build time",
            "feed generator tag",
            "file time",
            "generator tag",
            "source map paths",
        ],
    );
}

/// A Jekyll upgrade changes only the version it prints (jekyll-seo-tag's meta tag on every
/// page, jekyll-feed's `<generator>`): nothing to purge. (Debian has one Jekyll version, so the
/// upgrade is the output rewritten as the next version writes it.)
#[cfg_attr(
    missing_jekyll,
    ignore = "needs jekyll and its plugins: apt-get install jekyll ruby-jekyll-feed ruby-jekyll-sitemap ruby-jekyll-seo-tag ruby-jekyll-paginate jekyll-theme-minima (or run tests/run-all.sh)"
)]
#[test]
fn jekyll_version_bump_purges_nothing() {
    let mut site = Site::new(Gen::Jekyll, &preset_config());
    site.build();
    site.baseline();
    let before = site.snapshot();
    let version = Regex::new(r#"Jekyll v[0-9.]+|version="[0-9.]+">Jekyll<"#).expect("regex");
    let mut bumped = 0;
    for path in before.keys() {
        let file = site.path(&format!("_site/{path}"));
        let text = fs::read(&file).expect("read");
        let upgraded = version
            .replace_all(&text, |c: &regex::bytes::Captures<'_>| {
                if c[0].starts_with(b"version") {
                    b"version=\"4.4.9\">Jekyll<".to_vec()
                } else {
                    b"Jekyll v4.4.9".to_vec()
                }
            })
            .into_owned();
        if upgraded != text {
            fs::write(&file, upgraded).expect("write");
            bumped += 1;
        }
    }
    assert!(bumped > 50, "only {bumped} files carry the version");
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_eq!(
        report["changes"],
        json!({"added": [], "modified": [], "removed": []}),
        "{report:#}"
    );
    assert_purged(&cf, &report, &BTreeSet::new());
}

/// `hugo --minify` (the production command of many sites): a rebuild with no change, and a
/// build of a fresh copy of the source (other file times, another folder), plan nothing.
#[cfg_attr(
    missing_hugo,
    ignore = "needs hugo: apt-get install hugo (or run tests/run-all.sh)"
)]
#[test]
fn hugo_minified_rebuild_and_fresh_copy_purge_nothing() {
    let mut site = Site::new(Gen::Hugo, &preset_config());
    site.build_with(&["--minify"]);
    site.baseline();
    let first = site.snapshot();
    site.wait_for_a_new_second();
    site.build_with(&["--minify"]);
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_eq!(
        report["changes"],
        json!({"added": [], "modified": [], "removed": []}),
        "{report:#}"
    );
    assert_purged(&cf, &report, &BTreeSet::new());

    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let mut fresh = Site::copy(Gen::Hugo, &preset_config(), "ci/checkout", Some(yesterday));
    fresh.build_with(&["--minify"]);
    assert_eq!(
        content_changed(Gen::Hugo, &first, &fresh.snapshot()),
        BTreeSet::new()
    );
    fs::create_dir_all(fresh.path(".sitepurge")).expect("mkdir");
    fs::copy(
        site.path(".sitepurge/state.json"),
        fresh.path(".sitepurge/state.json"),
    )
    .expect("copy state");
    let cf = FakeCloudflare::start();
    let report = fresh.run(&cf);
    assert_eq!(
        report["changes"],
        json!({"added": [], "modified": [], "removed": []}),
        "{report:#}"
    );
    assert_purged(&cf, &report, &BTreeSet::new());
}
