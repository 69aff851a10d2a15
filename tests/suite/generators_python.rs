//! sitepurge after the real Python generators from PyPI: MkDocs with the Material theme, Sphinx
//! and Pelican with their default themes. The sites in
//! `tests/fixtures/{mkdocs,sphinx,pelican}-site/` are copied to a temp folder, built with the
//! pinned releases that `tests/run-all.sh` installs into `.test-tools/` (Pelican into
//! `.test-tools/pelican/`), recorded with `sitepurge baseline` (the preset detected from
//! `mkdocs.yml`, `conf.py` or `pelicanconf.py`, the base URL read from `site_url`,
//! `html_baseurl` or publishconf.py's `SITEURL`), edited the way an author would, rebuilt in
//! place, and purged with `sitepurge run` against the local stand-in for the Cloudflare API.
//!
//! The expected URLs are computed here from the two builds' bytes: every file that appeared,
//! vanished or changed once the preset's noise (copied below, not read from src/) is removed,
//! mapped to its URLs by `support::expect::urls_of`; never with sitepurge's own code.
//!
//! Without the generators, `cargo test` skips these tests and says what to install (build.rs);
//! with CI set, they fail instead.
#![cfg(unix)]

use crate::support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, SystemTime};

use regex::bytes::Regex;
use serde_json::{Value, json};
use support::cloudflare::{FakeCloudflare, TOKEN, ZONE_ID};
use support::expect::urls_of_all;
use support::purged::assert_purged;
use support::site::{
    Folder, Out, STATE, Snapshot, changed, copy_tree, remove_vars, sitepurge_in, snapshot,
};

/// How to install what is missing.
const INSTALL: &str = "tests/run-all.sh --install-only installs them into .test-tools/ \
     (pip install mkdocs==1.6.1 mkdocs-material==9.8.1 sphinx==9.0.4; pelican==4.12.0 in \
     .test-tools/pelican/)";

/// MkDocs' noise as blanked by its preset (copied here on purpose, not read from src/): the
/// version tag in every page's head.
const MKDOCS_NOISE: &[&str] = &[r#"<meta name="generator" content="[^"]*"\s*/?>"#];

/// Sphinx's noise as blanked by its preset: the versions of Sphinx (as Alabaster and as the
/// basic layout word it) and of Alabaster in every page's footer.
const SPHINX_NOISE: &[&str] = &[
    r#"<a href="https://www\.sphinx-doc\.org/">Sphinx [0-9][0-9.]*</a>"#,
    r#"<a href="https://www\.sphinx-doc\.org/">Sphinx</a> [0-9]+(\.[0-9]+)*"#,
    r#"<a href="https://alabaster\.readthedocs\.io">Alabaster [0-9][0-9.]*</a>"#,
];

/// Pelican's noise as blanked by its preset: the build's time in a feed with no entries (Atom,
/// RSS). Its pages name no version.
const PELICAN_NOISE: &[&str] = &[
    r"<updated>[^<]*</updated></feed>",
    r"<lastBuildDate>[^<]*</lastBuildDate></channel>",
];

/// The files the noise rules apply to (sitepurge's default text extensions).
const TEXT_EXTENSIONS: &[&str] = &["html", "xml", "txt", "json"];

/// MkDocs' build day, fixed: 2024-06-01 12:00 UTC. MkDocs dates sitemap.xml (and the gzip
/// header of sitemap.xml.gz) by the day it builds, unless `SOURCE_DATE_EPOCH` says otherwise;
/// fixed, a test cannot fail for building on both sides of midnight.
const BUILD_DAY: u64 = 1_717_243_200;

// ------------------------------------------------------------------------------------------
// Generators
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gen {
    Mkdocs,
    Sphinx,
    Pelican,
}

impl Gen {
    fn name(self) -> &'static str {
        match self {
            Gen::Mkdocs => "mkdocs",
            Gen::Sphinx => "sphinx",
            Gen::Pelican => "pelican",
        }
    }

    fn fixture(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{}-site", self.name()))
    }

    /// The output folder, relative to the source.
    fn output(self) -> &'static str {
        match self {
            Gen::Mkdocs => "site",
            Gen::Sphinx => "_build/html",
            Gen::Pelican => "output",
        }
    }

    /// The file the generator is detected from.
    fn config_file(self) -> &'static str {
        match self {
            Gen::Mkdocs => "mkdocs.yml",
            Gen::Sphinx => "conf.py",
            Gen::Pelican => "pelicanconf.py",
        }
    }

    /// The file the base URL is read from: Pelican's public `SITEURL` is in publishconf.py,
    /// pelicanconf.py's is pelican-quickstart's empty development one.
    fn base_url_file(self) -> &'static str {
        match self {
            Gen::Pelican => "publishconf.py",
            _ => self.config_file(),
        }
    }

    fn noise(self) -> &'static [&'static str] {
        match self {
            Gen::Mkdocs => MKDOCS_NOISE,
            Gen::Sphinx => SPHINX_NOISE,
            Gen::Pelican => PELICAN_NOISE,
        }
    }

    /// Output files that are no part of the site: `sphinx-build -b html` keeps its pickled
    /// build cache in the output folder's `.doctrees/`, which the preset ignores.
    fn is_build_cache(self, path: &str) -> bool {
        self == Gen::Sphinx && path.starts_with(".doctrees/")
    }

    /// A page's source file, by its name without extension (`guide/purging`).
    fn source(self, page: &str) -> String {
        match self {
            Gen::Mkdocs => format!("docs/{page}.md"),
            Gen::Sphinx => format!("{page}.rst"),
            Gen::Pelican => format!("content/{page}.rst"),
        }
    }

    /// Where a page lands in the output folder.
    fn page(self, page: &str) -> String {
        match (self, page) {
            (Gen::Mkdocs, "index") => "index.html".into(),
            (Gen::Mkdocs, _) => format!("{page}/index.html"),
            (Gen::Sphinx, _) => format!("{page}.html"),
            // Pelican writes an article at its slug, whatever its folder.
            (Gen::Pelican, _) => {
                let name = page.rsplit('/').next().unwrap_or(page);
                format!("{}.html", name.replace(' ', "-"))
            }
        }
    }

    /// The site's own stylesheet, in the source and in the output.
    fn stylesheet(self) -> (&'static str, &'static str) {
        match self {
            Gen::Mkdocs => ("docs/stylesheets/extra.css", "stylesheets/extra.css"),
            Gen::Sphinx => ("_static/extra.css", "_static/extra.css"),
            Gen::Pelican => ("content/css/extra.css", "css/extra.css"),
        }
    }

    /// Builds the site in `src` as its docs say (`mkdocs build`, `sphinx-build -b html . OUT`,
    /// Pelican's `make publish`: `pelican content -s publishconf.py`, which empties `output`
    /// first). Pelican fails on a warning, so a broken link in the fixture cannot pass.
    fn build(self, src: &Path, env: &[(&str, String)]) {
        let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-tools");
        let (program, args): (PathBuf, Vec<&str>) = match self {
            Gen::Mkdocs => (tools.join("bin/mkdocs"), vec!["build", "--quiet"]),
            Gen::Sphinx => (
                tools.join("bin/sphinx-build"),
                vec!["--quiet", "--builder", "html", ".", self.output()],
            ),
            Gen::Pelican => (
                tools.join("pelican/bin/pelican"),
                vec![
                    "content",
                    "--settings",
                    "publishconf.py",
                    "--quiet",
                    "--fatal",
                    "warnings",
                ],
            ),
        };
        let mut cmd = Process::new(&program);
        cmd.args(&args).current_dir(src);
        remove_vars(
            &mut cmd,
            &["SOURCE_DATE_EPOCH", "SPHINX", "MKDOCS", "PYTHON"],
        );
        // Material's notice about its end of life, printed on every build.
        cmd.env("NO_MKDOCS_2_WARNING", "1");
        if self == Gen::Mkdocs {
            cmd.env("SOURCE_DATE_EPOCH", BUILD_DAY.to_string());
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let output = match cmd.output() {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "{} is not installed, and these tests need the real generator: {INSTALL}",
                program.display()
            ),
            Err(e) => panic!("cannot run {}: {e}", program.display()),
        };
        assert!(
            output.status.success(),
            "`{} {}` failed in {} ({})\nstdout:\n{}\nstderr:\n{}",
            program.display(),
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

/// `sitepurge.toml` with neither `generator` nor `base_urls`: both come from the generator's
/// config file.
fn config() -> String {
    format!("zone = \"{ZONE_ID}\"\nthreshold = \"100%\"\n")
}

/// A copy of a fixture's source in its own temp folder (also sitepurge's cwd).
struct Site {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    generator: Gen,
}

impl Folder for Site {
    fn root(&self) -> &Path {
        &self.root
    }
}

impl Site {
    /// Copies the fixture to `below` in a new temp folder; `mtime`: the copied files' time.
    fn copy(g: Gen, below: &str, mtime: Option<SystemTime>) -> Site {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join(below);
        copy_tree(&g.fixture(), &root, mtime);
        let site = Site {
            _tmp: tmp,
            root,
            generator: g,
        };
        site.put("sitepurge.toml", config());
        site
    }

    fn build(&self) {
        self.generator.build(self.root(), &[]);
    }

    fn snapshot(&self) -> Snapshot {
        let dir = self.path(self.generator.output());
        let files = snapshot(&dir);
        assert!(!files.is_empty(), "{} is empty", dir.display());
        files
    }

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

    /// `sitepurge plan --json`, checking the preset and the base URL were read from the
    /// generator's config file.
    fn plan(&self) -> Value {
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
        assert_eq!(
            plan["base_urls"],
            json!(["https://example.com/"]),
            "{plan:#}"
        );
        assert_eq!(plan["base_urls_from"], g.base_url_file(), "{plan:#}");
        plan
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

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Edits a source file: `from` must be in it.
    fn replace(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{from:?} not in {rel}");
        self.put(rel, text.replacen(from, to, 1));
    }
}

/// The site's files that appeared, vanished or differ once every match of the generator's
/// noise is removed from text files; its build cache aside.
fn content_changes(g: Gen, before: &Snapshot, after: &Snapshot) -> BTreeSet<String> {
    let rules: Vec<Regex> = g
        .noise()
        .iter()
        .map(|p| Regex::new(p).expect("regex"))
        .collect();
    let content = |path: &str, bytes: &[u8]| {
        let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
        let mut bytes = bytes.to_vec();
        if TEXT_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) {
            for rule in &rules {
                bytes = rule.replace_all(&bytes, &b""[..]).into_owned();
            }
        }
        bytes
    };
    let paths: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    paths
        .into_iter()
        .filter(|p| !g.is_build_cache(p))
        .filter(|p| match (before.get(*p), after.get(*p)) {
            (Some(a), Some(b)) => content(p, a) != content(p, b),
            _ => true,
        })
        .cloned()
        .collect()
}

/// The report's `changes` for a set of changed paths, split by the two builds.
fn changes_of(before: &Snapshot, after: &Snapshot, paths: &BTreeSet<String>) -> Value {
    let pick = |f: &dyn Fn(&String) -> bool| paths.iter().filter(|p| f(p)).collect::<Vec<_>>();
    json!({
        "added": pick(&|p| !before.contains_key(p)),
        "modified": pick(&|p| before.contains_key(p) && after.contains_key(p)),
        "removed": pick(&|p| !after.contains_key(p)),
    })
}

// ------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------

/// What one scenario changed.
struct Outcome {
    before: Snapshot,
    after: Snapshot,
    /// Paths whose bytes differ.
    raw: BTreeSet<String>,
    /// Paths whose bytes differ once the noise is removed: what must be purged.
    content: BTreeSet<String>,
}

/// Builds the fixture, records it, lets `edit` change the source, rebuilds (with `env`), runs
/// sitepurge: it must purge exactly the URLs of the content changes, and report them as its
/// `changes`.
///
/// Sphinx rebuilds from an empty `_build` (`make clean html`, or CI's fresh checkout): in place,
/// `sphinx-build` rewrites only the pages whose source changed, so other pages keep a stale
/// navigation (a new page missing from it) and stale `?v=` checksums of a changed stylesheet
/// (measured with 9.0.4), and the pages of deleted sources stay. sitepurge purges what the
/// output says, stale or not. MkDocs empties its output folder itself.
fn scenario(g: Gen, env: &[(&str, String)], edit: impl FnOnce(&Site)) -> Outcome {
    let site = Site::copy(g, "", None);
    site.build();
    site.plan();
    site.baseline();
    let before = site.snapshot();
    edit(&site);
    if g == Gen::Sphinx {
        fs::remove_dir_all(site.path("_build")).expect("make clean");
    }
    g.build(site.root(), env);
    let after = site.snapshot();
    let content = content_changes(g, &before, &after);
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_eq!(report["generator"]["name"], g.name());
    assert_eq!(
        report["changes"],
        changes_of(&before, &after, &content),
        "{report:#}"
    );
    assert_purged(&cf, &report, &urls_of_all(&content));
    Outcome {
        raw: changed(&before, &after),
        before,
        after,
        content,
    }
}

/// The HTML pages of a build.
fn pages(s: &Snapshot) -> BTreeSet<String> {
    s.keys().filter(|p| p.ends_with(".html")).cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn rebuild_with_no_change_purges_nothing(g: Gen) {
    let o = scenario(g, &[], |_| {});
    // Measured: both generators write the same pages again; Sphinx's pickled environment, in
    // the build cache, records the build's times.
    match g {
        Gen::Mkdocs | Gen::Pelican => assert_eq!(o.raw, BTreeSet::new()),
        Gen::Sphinx => assert_eq!(o.raw, set(&[".doctrees/environment.pickle"])),
    }
    assert_eq!(o.content, BTreeSet::new());
}

/// `sphinx-build` again in the same output folder, with nothing changed: it writes no page.
#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_incremental_rebuild_with_no_change_purges_nothing() {
    let site = Site::copy(Gen::Sphinx, "", None);
    site.build();
    site.plan();
    site.baseline();
    let before = site.snapshot();
    site.build();
    assert_eq!(changed(&before, &site.snapshot()), BTreeSet::new());
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_purged(&cf, &report, &BTreeSet::new());
}

/// The first build's state, then a build of a fresh copy of the source in a deeper folder with
/// files a day older: nothing to purge.
fn fresh_copy_purges_nothing(g: Gen) {
    let first = Site::copy(g, "", None);
    first.build();
    first.plan();
    first.baseline();
    let before = first.snapshot();
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    let fresh = Site::copy(g, "checkouts/ci/site", Some(yesterday));
    fresh.build();
    fs::create_dir_all(fresh.path(".sitepurge")).expect("mkdir");
    fs::copy(first.path(STATE), fresh.path(STATE)).expect("copy state");
    let after = fresh.snapshot();
    let raw = changed(&before, &after);
    match g {
        Gen::Mkdocs | Gen::Pelican => assert_eq!(raw, BTreeSet::new()),
        // Sphinx's pickled doctrees hold the source's absolute paths: all of them differ, and
        // no page does.
        Gen::Sphinx => {
            assert!(!raw.is_empty(), "the doctrees name the source folder");
            assert!(raw.iter().all(|p| g.is_build_cache(p)), "{raw:#?}");
            assert!(after.contains_key(".doctrees/environment.pickle"));
        }
    }
    assert_eq!(content_changes(g, &before, &after), BTreeSet::new());
    let cf = FakeCloudflare::start();
    let report = fresh.run(&cf);
    assert_eq!(
        report["changes"],
        json!({"added": [], "modified": [], "removed": []}),
        "{report:#}"
    );
    assert_purged(&cf, &report, &BTreeSet::new());
}

/// A sentence added to one page: that page, the search index, and (Sphinx) the page's copied
/// source; no other page. Pelican has no search index: the article, and every list that shows
/// it in full (the home page, where it is the newest, its category, author and tags, and the
/// feeds), not the archives (titles) nor the other articles.
fn edit_one_page(g: Gen) {
    let o = scenario(g, &[], |s| {
        s.replace(
            &g.source("guide/purging"),
            "A purge tells every edge",
            "A purge, sent once, tells every edge",
        );
    });
    let expected = match g {
        Gen::Mkdocs => set(&["guide/purging/index.html", "search/search_index.json"]),
        Gen::Sphinx => set(&[
            "guide/purging.html",
            "_sources/guide/purging.rst.txt",
            "searchindex.js",
        ]),
        Gen::Pelican => set(&[
            "purging.html",
            "index.html",
            "category/guide.html",
            "author/sitepurge.html",
            "tag/cache.html",
            "tag/cdn.html",
            "feeds/all.atom.xml",
            "feeds/guide.atom.xml",
        ]),
    };
    assert_eq!(o.content, expected);
    // The build cache changed too, and is not purged.
    if g == Gen::Sphinx {
        assert!(
            o.raw.contains(".doctrees/guide/purging.doctree"),
            "{:#?}",
            o.raw
        );
    }
}

/// A new page in the navigation: it is added, and every page's navigation lists it (Pelican's
/// theme lists its pages, not its articles, in the menu).
fn add_a_page(g: Gen) {
    let o = scenario(g, &[], |s| match g {
        Gen::Mkdocs => {
            s.put(
                "docs/guide/faq.md",
                "# FAQ\n\nDoes a purge cost anything? No.\n",
            );
            s.replace(
                "mkdocs.yml",
                "      - Purging: guide/purging.md\n",
                "      - Purging: guide/purging.md\n      - FAQ: guide/faq.md\n",
            );
        }
        Gen::Sphinx => {
            s.put(
                "guide/faq.rst",
                "FAQ\n===\n\nDoes a purge cost anything? No.\n",
            );
            s.replace(
                "index.rst",
                "   guide/purging\n",
                "   guide/purging\n   guide/faq\n",
            );
        }
        Gen::Pelican => s.put(
            "content/pages/faq.rst",
            "FAQ\n###\n\nDoes a purge cost anything? No.\n",
        ),
    });
    let page = match g {
        Gen::Pelican => "pages/faq.html".to_string(),
        _ => g.page("guide/faq"),
    };
    assert!(
        !o.before.contains_key(&page) && o.after.contains_key(&page),
        "{page}"
    );
    // Every page shows the navigation, which now lists the FAQ.
    let nav_pages: BTreeSet<String> = pages(&o.before)
        .into_iter()
        .filter(|p| !matches!(p.as_str(), "404.html" | "search.html" | "genindex.html"))
        .collect();
    assert!(nav_pages.is_subset(&o.content), "{:#?}", o.content);
    assert!(o.content.contains(&page));
}

/// A page taken out of the navigation and deleted.
fn delete_a_page(g: Gen) {
    let o = scenario(g, &[], |s| {
        fs::remove_file(s.path(&g.source("café crème"))).expect("rm");
        match g {
            Gen::Mkdocs => s.replace("mkdocs.yml", "  - Café crème: café crème.md\n", ""),
            Gen::Sphinx => s.replace("index.rst", "   café crème\n", ""),
            Gen::Pelican => {}
        }
    });
    let page = g.page("café crème");
    assert!(o.before.contains_key(&page) && !o.after.contains_key(&page));
    assert!(o.content.contains(&page));
    assert!(
        o.content.contains(&g.page("index")),
        "the home page's navigation"
    );
    if g == Gen::Sphinx {
        assert!(o.content.contains("_sources/café crème.rst.txt"));
    }
    // The post was the only one in its category: the category's page and feed go, and every
    // page's menu, which lists the categories, changes.
    if g == Gen::Pelican {
        assert!(o.content.contains("category/notes.html"));
        assert!(o.content.contains("feeds/notes.atom.xml"));
        assert!(pages(&o.after).is_subset(&o.content), "{:#?}", o.content);
    }
}

/// The site's stylesheet edited. MkDocs links it as is, Pelican's theme not at all (a static
/// file): that file alone. Sphinx links it as
/// `extra.css?v=<checksum of its bytes>`: every page links the new address, so every page
/// changed (the old pages would keep the cached old stylesheet).
fn change_the_stylesheet(g: Gen) {
    let (source, output) = g.stylesheet();
    let o = scenario(g, &[], |s| {
        let css = s.read(source);
        s.put(source, format!("{css}h2 {{ margin-top: 2em; }}\n"));
    });
    match g {
        Gen::Mkdocs | Gen::Pelican => assert_eq!(o.content, set(&[output])),
        Gen::Sphinx => {
            let mut expected = pages(&o.after);
            expected.insert(output.to_string());
            assert_eq!(o.content, expected);
            let home = String::from_utf8_lossy(&o.after["index.html"]).into_owned();
            assert!(home.contains("_static/extra.css?v="), "{home}");
        }
    }
}

/// The theme's settings changed: every page.
fn change_the_theme(g: Gen) {
    let o = scenario(g, &[], |s| match g {
        Gen::Mkdocs => s.replace(
            "mkdocs.yml",
            "  name: material\n",
            "  name: material\n  palette:\n    primary: teal\n",
        ),
        Gen::Sphinx => s.put(
            "conf.py",
            format!(
                "{}html_theme_options = {{\"description\": \"Notes on purging caches\"}}\n",
                s.read("conf.py")
            ),
        ),
        // A link in the theme's menu.
        Gen::Pelican => s.put(
            "pelicanconf.py",
            format!(
                "{}MENUITEMS = [(\"Docs\", \"https://docs.example.com/\")]\n",
                s.read("pelicanconf.py")
            ),
        ),
    });
    let pages = pages(&o.after);
    assert!(pages.is_subset(&o.content), "{:#?}", o.content);
    match g {
        Gen::Mkdocs | Gen::Pelican => assert_eq!(o.content, pages),
        // .buildinfo records a hash of the configuration.
        Gen::Sphinx => assert!(o.content.contains(".buildinfo")),
    }
}

/// Each page rewritten as the next release of the generator writes it (the version in the
/// generator tag or the footer): nothing to purge. pip has one pinned version, so the upgrade
/// is the text rewritten.
fn upgrade_purges_nothing(g: Gen, setup: impl Fn(&Site), bumps: &[(&str, &str)]) {
    let site = Site::copy(g, "", None);
    setup(&site);
    site.build();
    site.plan();
    site.baseline();
    let before = site.snapshot();
    let mut bumped = 0;
    for path in pages(&before) {
        let rel = format!("{}/{path}", g.output());
        let text = site.read(&rel);
        if bumps.iter().all(|(from, _)| text.contains(from)) {
            let upgraded = bumps
                .iter()
                .fold(text, |text, (from, to)| text.replace(from, to));
            site.put(&rel, upgraded);
            bumped += 1;
        }
    }
    assert_eq!(bumped, pages(&before).len(), "every page names the version");
    let after = site.snapshot();
    assert_eq!(changed(&before, &after), pages(&before));
    assert_eq!(content_changes(g, &before, &after), BTreeSet::new());
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_purged(&cf, &report, &BTreeSet::new());
}

// ------------------------------------------------------------------------------------------
// MkDocs + Material
// ------------------------------------------------------------------------------------------

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_rebuild_with_no_change_purges_nothing() {
    rebuild_with_no_change_purges_nothing(Gen::Mkdocs);
}

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_fresh_copy_in_another_folder_purges_nothing() {
    fresh_copy_purges_nothing(Gen::Mkdocs);
}

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_edit_purges_the_page_and_the_search_index() {
    edit_one_page(Gen::Mkdocs);
}

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_new_page_purges_every_page_that_lists_it() {
    add_a_page(Gen::Mkdocs);
}

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_deleted_page_is_purged() {
    delete_a_page(Gen::Mkdocs);
}

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_stylesheet_edit_purges_the_stylesheet_alone() {
    change_the_stylesheet(Gen::Mkdocs);
}

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_theme_palette_change_purges_every_page() {
    change_the_theme(Gen::Mkdocs);
}

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_version_bump_purges_nothing() {
    upgrade_purges_nothing(
        Gen::Mkdocs,
        |_| {},
        &[(
            "mkdocs-1.6.1, mkdocs-material-9.8.1",
            "mkdocs-1.6.2, mkdocs-material-9.8.2",
        )],
    );
}

/// MkDocs' only build time is the build day: a build on the next day purges the two sitemaps,
/// whose `<lastmod>` and gzip header carry it, and nothing else; no rule blanks a date.
#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_build_on_a_new_day_purges_the_sitemaps_alone() {
    let next_day = (BUILD_DAY + 86_400).to_string();
    let o = scenario(Gen::Mkdocs, &[("SOURCE_DATE_EPOCH", next_day)], |_| {});
    assert_eq!(o.content, set(&["sitemap.xml", "sitemap.xml.gz"]));
    let sitemap = String::from_utf8_lossy(&o.after["sitemap.xml"]).into_owned();
    assert!(
        sitemap.contains("<lastmod>2024-06-02</lastmod>"),
        "{sitemap}"
    );
    // The gzip header's MTIME (bytes 4..8, little-endian): the day's midnight, UTC.
    let mtime = |s: &Snapshot| {
        let gz = &s["sitemap.xml.gz"];
        u32::from_le_bytes([gz[4], gz[5], gz[6], gz[7]])
    };
    assert_eq!(mtime(&o.before), 1_717_200_000);
    assert_eq!(mtime(&o.after), 1_717_200_000 + 86_400);
}

// ------------------------------------------------------------------------------------------
// Sphinx
// ------------------------------------------------------------------------------------------

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_rebuild_with_no_change_purges_nothing() {
    rebuild_with_no_change_purges_nothing(Gen::Sphinx);
}

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_fresh_copy_in_another_folder_purges_nothing() {
    fresh_copy_purges_nothing(Gen::Sphinx);
}

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_edit_purges_the_page_its_source_and_the_search_index() {
    edit_one_page(Gen::Sphinx);
}

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_new_page_purges_every_page_that_lists_it() {
    add_a_page(Gen::Sphinx);
}

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_deleted_page_is_purged() {
    delete_a_page(Gen::Sphinx);
}

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_stylesheet_edit_purges_every_page_linking_its_new_checksum() {
    change_the_stylesheet(Gen::Sphinx);
}

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_theme_option_change_purges_every_page() {
    change_the_theme(Gen::Sphinx);
}

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_version_bump_purges_nothing() {
    upgrade_purges_nothing(
        Gen::Sphinx,
        |_| {},
        &[
            ("Sphinx 9.0.4</a>", "Sphinx 9.1.0</a>"),
            ("Alabaster 1.0.0</a>", "Alabaster 1.0.1</a>"),
        ],
    );
}

/// Sphinx's other themes (classic, nature, ...) keep the basic layout's footer, which words
/// the version after the link: "Created using <a ...>Sphinx</a> 9.0.4.".
#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_version_bump_in_the_basic_layout_footer_purges_nothing() {
    upgrade_purges_nothing(
        Gen::Sphinx,
        |s| {
            s.replace(
                "conf.py",
                "html_theme = \"alabaster\"",
                "html_theme = \"classic\"",
            )
        },
        &[("Sphinx</a> 9.0.4.", "Sphinx</a> 9.1.0.")],
    );
}

/// With `html_last_updated_fmt` set, every page's footer (the basic layout's: Alabaster shows
/// none) says the build day ("Last updated on 2024-06-01."): no rule blanks that date, so a build on a new day purges every page, and
/// `SOURCE_DATE_EPOCH` (which Sphinx honours) pinned to the source's commit time avoids it.
#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_last_updated_day_is_content_and_source_date_epoch_pins_it() {
    let site = Site::copy(Gen::Sphinx, "", None);
    let conf = site
        .read("conf.py")
        .replace("html_theme = \"alabaster\"", "html_theme = \"classic\"");
    site.put(
        "conf.py",
        format!("{conf}html_last_updated_fmt = \"%Y-%m-%d\"\n"),
    );
    let clean_build = |day: u64| {
        let _ = fs::remove_dir_all(site.path("_build"));
        let epoch = (BUILD_DAY + day * 86_400).to_string();
        Gen::Sphinx.build(site.root(), &[("SOURCE_DATE_EPOCH", epoch)]);
    };
    clean_build(0);
    site.plan();
    site.baseline();
    let before = site.snapshot();
    let home = String::from_utf8_lossy(&before["index.html"]).into_owned();
    assert!(home.contains("Last updated on 2024-06-01."), "{home}");

    // The same pinned day, from scratch: nothing.
    clean_build(0);
    assert_eq!(
        content_changes(Gen::Sphinx, &before, &site.snapshot()),
        BTreeSet::new()
    );
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_purged(&cf, &report, &BTreeSet::new());

    // The next day: every page says so.
    clean_build(1);
    let after = site.snapshot();
    let content = content_changes(Gen::Sphinx, &before, &after);
    assert_eq!(content, pages(&after));
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_purged(&cf, &report, &urls_of_all(&content));
}

// ------------------------------------------------------------------------------------------
// Pelican
// ------------------------------------------------------------------------------------------

#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_rebuild_with_no_change_purges_nothing() {
    rebuild_with_no_change_purges_nothing(Gen::Pelican);
}

#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_fresh_copy_in_another_folder_purges_nothing() {
    fresh_copy_purges_nothing(Gen::Pelican);
}

#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_edit_purges_the_post_and_the_lists_that_show_it() {
    edit_one_page(Gen::Pelican);
}

#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_new_page_purges_every_page_that_lists_it() {
    add_a_page(Gen::Pelican);
}

#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_deleted_post_is_purged_with_its_category() {
    delete_a_page(Gen::Pelican);
}

#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_stylesheet_edit_purges_the_stylesheet_alone() {
    change_the_stylesheet(Gen::Pelican);
}

#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_menu_change_purges_every_page() {
    change_the_theme(Gen::Pelican);
}

/// Pelican's upgrade, measured (4.11.0 to 4.12.0 on this fixture): one file differed, the
/// theme's `main.css` (a dark mode, a real change), and no page nor feed. Its pages name no
/// version: the generator tag says `Pelican`, the footer "Proudly powered by Pelican". pip has
/// one pinned version, so this checks that no page or feed spells the installed one.
#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_pages_and_feeds_name_no_version() {
    let site = Site::copy(Gen::Pelican, "", None);
    site.build();
    let build = site.snapshot();
    let home = String::from_utf8_lossy(&build["index.html"]).into_owned();
    assert!(
        home.contains(r#"<meta name="generator" content="Pelican" />"#),
        "{home}"
    );
    let mut text_files = 0;
    for (path, bytes) in &build {
        if path.ends_with(".html") || path.ends_with(".xml") {
            text_files += 1;
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains("4.12.0"), "{path} names the version");
        }
    }
    assert!(text_files > 10, "{text_files}");
}

/// Pelican's one build time: a feed with no entries (a site of pages alone, feeds on as
/// publishconf.py sets them) is dated by the moment it is written (Atom to the microsecond,
/// RSS to the second). A rebuild changes the feeds' bytes, and purges nothing.
#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_site_of_pages_alone_rebuilds_its_empty_feeds_and_purges_nothing() {
    let site = pages_alone();
    let started = jiff::Timestamp::now();
    site.build();
    let ended = jiff::Timestamp::now();
    site.plan();
    site.baseline();
    let before = site.snapshot();
    // The feeds' time is the build's.
    let atom = String::from_utf8_lossy(&before["feeds/all.atom.xml"]).into_owned();
    let updated = Regex::new(r"<updated>([^<]*)</updated></feed>")
        .expect("regex")
        .captures(atom.as_bytes())
        .map(|c| String::from_utf8_lossy(&c[1]).into_owned())
        .unwrap_or_else(|| panic!("an empty feed: {atom}"));
    let updated: jiff::Timestamp = updated.parse().expect("an RFC 3339 time");
    let slack = jiff::SignedDuration::from_secs(1);
    assert!(
        started - slack <= updated && updated <= ended + slack,
        "{updated} is not the build's time ({started} to {ended})"
    );
    let rss = String::from_utf8_lossy(&before["feeds/all.rss.xml"]).into_owned();
    assert!(rss.contains("</lastBuildDate></channel>"), "{rss}");

    site.build();
    let after = site.snapshot();
    // The Atom feeds' time has microseconds; RSS's has seconds, so a rebuild within the same
    // second may leave it alone.
    let raw = changed(&before, &after);
    assert!(raw.contains("feeds/all.atom.xml"), "{raw:#?}");
    assert!(
        raw.is_subset(&set(&["feeds/all.atom.xml", "feeds/all.rss.xml"])),
        "{raw:#?}"
    );
    assert_eq!(
        content_changes(Gen::Pelican, &before, &after),
        BTreeSet::new()
    );
    let cf = FakeCloudflare::start();
    let report = site.run(&cf);
    assert_purged(&cf, &report, &BTreeSet::new());
}

/// The fixture without its posts: a site of pages alone, with an RSS feed beside the Atom one.
fn pages_alone() -> Site {
    let site = Site::copy(Gen::Pelican, "", None);
    fs::remove_dir_all(site.path("content/guide")).expect("rm");
    fs::remove_file(site.path("content/café crème.rst")).expect("rm");
    site.put(
        "publishconf.py",
        format!(
            "{}FEED_ALL_RSS = \"feeds/all.rss.xml\"\n",
            site.read("publishconf.py")
        ),
    );
    site
}

/// `DEFAULT_DATE = "fs"` dates a post without a `:date:` by its file's modification time, and
/// gives every post without a `:modified:` that time as its modified date, which the theme
/// shows ("Updated"): each post's own date, content. A fresh checkout gives the files new
/// times, so those posts and every list and feed that dates them are purged; a post with both
/// dates of its own is not.
#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_dates_from_file_times_are_content() {
    let day = |n: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(BUILD_DAY + n * 86_400);
    let checkout = |below: &str, n: u64| {
        let site = Site::copy(Gen::Pelican, below, Some(day(n)));
        site.put(
            "pelicanconf.py",
            format!("{}DEFAULT_DATE = \"fs\"\n", site.read("pelicanconf.py")),
        );
        site.put(
            "content/guide/undated.rst",
            "Undated\n#######\n\n:category: Guide\n\nA post without a date.\n",
        );
        fs::File::options()
            .write(true)
            .open(site.path("content/guide/undated.rst"))
            .and_then(|f| f.set_modified(day(n)))
            .expect("set the file's time");
        site.build();
        site
    };
    let first = checkout("", 0);
    first.plan();
    first.baseline();
    let before = first.snapshot();
    let undated = String::from_utf8_lossy(&before["undated.html"]).into_owned();
    assert!(
        undated.contains(r#"<abbr class="published" title="2024-06-01T12:00:00+00:00">"#),
        "{undated}"
    );
    let purging = String::from_utf8_lossy(&before["purging.html"]).into_owned();
    assert!(
        purging.contains(r#"<abbr class="modified" title="2024-06-01T12:00:00+00:00">"#),
        "{purging}"
    );

    let fresh = checkout("checkouts/ci/site", 1);
    fs::create_dir_all(fresh.path(".sitepurge")).expect("mkdir");
    fs::copy(first.path(STATE), fresh.path(STATE)).expect("copy state");
    let after = fresh.snapshot();
    let content = content_changes(Gen::Pelican, &before, &after);
    for post in ["undated.html", "purging.html", "feeds/all.atom.xml"] {
        assert!(content.contains(post), "{post}: {content:#?}");
    }
    // Configure has a :date: and a :modified:.
    assert!(!content.contains("configure.html"), "{content:#?}");
    let cf = FakeCloudflare::start();
    let report = fresh.run(&cf);
    assert_purged(&cf, &report, &urls_of_all(&content));
}

/// The presets' principle on real builds/// The presets' principle on real builds: each rule blanks one and the same text in every file
/// (`sitepurge explain` on each text file).
fn each_rule_blanks_one_value_per_build(g: Gen, rules: &[&str]) {
    let site = Site::copy(g, "", None);
    site.build();
    let found = support::noise::blanked_by_rule(
        &site.path(g.output()),
        &["html", "xml", "txt", "json"],
        |path| site.exec(None, &["explain", path, "--json"]),
    );
    support::noise::assert_one_value_per_rule(&found, rules);
}

#[cfg_attr(
    missing_mkdocs,
    ignore = "needs mkdocs and mkdocs-material: tests/run-all.sh installs them (pip install mkdocs==1.6.1 mkdocs-material==9.8.1)"
)]
#[test]
fn mkdocs_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(Gen::Mkdocs, &["generator tag"]);
}

#[cfg_attr(
    missing_sphinx,
    ignore = "needs sphinx-build: tests/run-all.sh installs it (pip install sphinx==9.0.4)"
)]
#[test]
fn sphinx_rules_blank_only_build_wide_values() {
    each_rule_blanks_one_value_per_build(Gen::Sphinx, &["generator tag", "theme version"]);
}

/// Pelican's rule does not fire on a blog (its feeds have entries)...
#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_rules_blank_nothing_in_a_blog() {
    each_rule_blanks_one_value_per_build(Gen::Pelican, &[]);
}

/// ... and on a site of pages alone it blanks each empty feed's time and nothing else: the
/// feeds are written a few microseconds apart, so the texts differ, each the build's time.
#[cfg_attr(
    missing_pelican,
    ignore = "needs pelican: tests/run-all.sh installs it into .test-tools/pelican/ (pip install pelican==4.12.0)"
)]
#[test]
fn pelican_rule_blanks_only_the_build_time_of_empty_feeds() {
    let site = pages_alone();
    site.build();
    let found = support::noise::blanked_by_rule(
        &site.path(Gen::Pelican.output()),
        &["html", "xml", "txt", "json"],
        |path| site.exec(None, &["explain", path, "--json"]),
    );
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        ["empty feed time"],
        "{found:#?}"
    );
    let texts = &found["empty feed time"];
    assert_eq!(texts.len(), 2, "one per feed: {texts:#?}");
    let atom =
        Regex::new(r"^<updated>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+\+00:00</updated></feed>$")
            .expect("regex");
    let rss = Regex::new(r"^<lastBuildDate>[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} \+0000</lastBuildDate></channel>$")
        .expect("regex");
    for text in texts {
        assert!(
            atom.is_match(text.as_bytes()) || rss.is_match(text.as_bytes()),
            "{text}"
        );
    }
}
