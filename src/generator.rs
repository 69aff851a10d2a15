//! Generator presets: the output folder each static site generator writes, and the build noise it
//! is known to put into unchanged pages (timestamps, version tags), blanked before hashing so a
//! rebuild with no change purges nothing. Which generator a site uses is read from its config
//! files by [`crate::site_config`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Generator {
    Hugo,
    Jekyll,
    Zola,
    Eleventy,
    /// Astro (5.x measured): output in `dist`, fingerprinted assets in `dist/_astro/`.
    Astro,
    /// Docusaurus (3.x measured): output in `build`, fingerprinted assets in `build/assets/`.
    Docusaurus,
    /// VitePress (1.6.4 measured): output in `.vitepress/dist` below the docs root (the folder
    /// holding `.vitepress/`), Vite's fingerprinted bundles in its `assets/`.
    Vitepress,
    /// Hexo (7.3.0 measured, with the landscape theme): output in `public`, nothing
    /// fingerprinted. A post without `updated` is dated by its file's modification time unless
    /// `updated_option: date`: that date is the post's own (its `article:modified_time`, its feed
    /// and sitemap entries), so a fresh checkout purges them; no rule blanks it.
    Hexo,
    /// MkDocs, measured with the Material theme (mkdocs 1.6.1, mkdocs-material 9.8.1). Its only
    /// build time is the build DAY, in sitemap.xml's `<lastmod>` (the same for every page) and
    /// in sitemap.xml.gz's gzip header (that day's midnight, UTC): no rule blanks it, since a
    /// date position may be a page's own date under a plugin. A build on a new day purges those
    /// two files, and nothing else; `SOURCE_DATE_EPOCH` (which MkDocs honours) set to the last
    /// commit's time (`git log -1 --format=%ct`) makes that day the commit's.
    Mkdocs,
    /// Sphinx (measured with 9.0.4 and its default theme, Alabaster 1.0.0): `sphinx-build -b html
    /// . _build/html` or `make html`. Detected from `conf.py` beside the site; a source in
    /// `source/` (`sphinx-quickstart --sep`) builds to `build/html`: set `dir` then. With
    /// `html_last_updated_fmt` set, every page says the build day: no rule blanks it, so a
    /// build on a new day purges every page unless `SOURCE_DATE_EPOCH` (which Sphinx honours)
    /// pins it to the last commit's time.
    Sphinx,
    /// Pelican (measured with 4.12.0 and its default theme, notmyidea): `pelican content -s
    /// publishconf.py` (`make publish`) writes `output`. Its pages name no version (the
    /// generator tag says only `Pelican`) and its feeds date themselves by their newest
    /// article, so a rebuild, a fresh checkout and the upgrade from 4.11.0 left every page and
    /// feed as it was. The one build time is in a feed with no entries (a site of pages
    /// alone): blanked. Dates from file times (`DEFAULT_DATE = "fs"`: an article's date when it
    /// has none, its modified date when it has none) are each article's own, content: a fresh
    /// checkout gives them new values, and purges those articles and the lists showing them.
    Pelican,
    /// No preset: no default folder beyond `_site`/`public`, no noise rules.
    None,
}

/// One noise rule: a pattern whose every match is the same for the whole build, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseRule {
    /// What it blanks, in a few words: the precision report (`plan -v`) counts by it.
    pub name: &'static str,
    pub pattern: &'static str,
    pub why: &'static str,
}

/// How a [`BuildStamp`] carries its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampKind {
    /// The first match's first capture group is the build's own time.
    BuildTime,
    /// Each match names a file (capture `loc`) and a time (capture `time`); when the time is
    /// that output file's own modification time, it is a file time, not content.
    FileTime,
}

/// Where a generator writes a build-wide time and nothing else (jekyll-feed's feed-level
/// `<updated>` is `site.time`): the instant read there is blanked wherever the build spells it
/// (pages of undated documents, JSON-LD, sitemaps), while every other date stays content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildStamp {
    pub name: &'static str,
    /// The file's path in the output folder.
    pub file: &'static str,
    pub pattern: &'static str,
    pub kind: StampKind,
    pub why: &'static str,
}

/// `<meta name="generator" content="...">` in every serialization a minifier writes: attribute
/// values quoted with `"` or `'` or not at all (`hugo --minify` writes `name=generator`), either
/// attribute first, `>` or `/>`. Measured: `hugo --gc --minify` on a real docs site wrote
/// `<meta name=generator content="Hugo 0.111.3">`, which the quoted-only rule missed, so a
/// Hugo upgrade purged every page.
const GENERATOR_META: &str = r#"(?i)<meta\s+(?:name\s*=\s*(?:"generator"|'generator'|generator)\s+content\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+)|content\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+)\s+name\s*=\s*(?:"generator"|'generator'|generator))\s*/?>"#;

const JEKYLL: &[NoiseRule] = &[
    NoiseRule {
        name: "generator tag",
        pattern: GENERATOR_META,
        why: "jekyll-seo-tag prints the Jekyll version into every page: an upgrade is not a content change",
    },
    NoiseRule {
        name: "feed generator tag",
        pattern: r#"<generator uri="https://jekyllrb.com/" version="[^"]*">Jekyll</generator>"#,
        why: "jekyll-feed prints the Jekyll version into feed.xml",
    },
    NoiseRule {
        name: "source map paths",
        pattern: r#""sources":\s*\[[^\]]*\]"#,
        why: "Sass source maps (assets/main.css.map) name their sources by paths relative to the checkout, which differ between machines",
    },
];

const JEKYLL_STAMPS: &[BuildStamp] = &[
    BuildStamp {
        name: "build time",
        file: "feed.xml",
        pattern: r"<updated>([^<]*)</updated>",
        kind: StampKind::BuildTime,
        why: "jekyll-feed writes the build's start (site.time) into the feed's first <updated>; Jekyll dates documents that have no date by it, and jekyll-seo-tag prints it into their article:published_time and JSON-LD datePublished/dateModified, jekyll-sitemap into their <lastmod>. Measured on a real docs site: 184 of 476 URLs changed on a rebuild with no change",
    },
    BuildStamp {
        name: "file time",
        file: "sitemap.xml",
        pattern: r"<loc>(?P<loc>[^<]*)</loc>\s*<lastmod>(?P<time>[^<]*)</lastmod>",
        kind: StampKind::FileTime,
        why: "jekyll-sitemap dates static files (PDFs, plain HTML) by their modification time, which Jekyll keeps when it copies them: a fresh checkout gives them new times and the same bytes",
    },
];

const HUGO: &[NoiseRule] = &[NoiseRule {
    name: "generator tag",
    pattern: GENERATOR_META,
    why: "{{ hugo.Generator }} prints the Hugo version into every page: an upgrade is not a content change",
}];

const ZOLA: &[NoiseRule] = &[NoiseRule {
    name: "generator tag",
    pattern: GENERATOR_META,
    why: "themes print the Zola version into every page: an upgrade is not a content change",
}];

const MKDOCS: &[NoiseRule] = &[NoiseRule {
    name: "generator tag",
    pattern: GENERATOR_META,
    why: "MkDocs prints its and the theme's version into every page (<meta name=\"generator\" content=\"mkdocs-1.6.1, mkdocs-material-9.8.1\">): an upgrade is not a content change",
}];

const SPHINX: &[NoiseRule] = &[
    NoiseRule {
        name: "generator tag",
        pattern: r#"<a href="https://www\.sphinx-doc\.org/">Sphinx(?: [0-9]+(?:\.[0-9A-Za-z+-]+)*</a>|</a> [0-9]+(?:\.[0-9A-Za-z+-]+)*)"#,
        why: "the footer of every page names the Sphinx version: `Powered by <a href=\"https://www.sphinx-doc.org/\">Sphinx 9.0.4</a>` (Alabaster), `Created using <a ...>Sphinx</a> 9.0.4.` (the basic layout): an upgrade is not a content change",
    },
    NoiseRule {
        name: "theme version",
        pattern: r#"<a href="https://alabaster\.readthedocs\.io">Alabaster [0-9]+(?:\.[0-9A-Za-z+-]+)*</a>"#,
        why: "Alabaster, Sphinx's default theme, names its version beside it: `<a href=\"https://alabaster.readthedocs.io\">Alabaster 1.0.0</a>`",
    },
];

const PELICAN: &[NoiseRule] = &[NoiseRule {
    name: "empty feed time",
    pattern: r"<updated>[^<]*</updated></feed>|<lastBuildDate>[^<]*</lastBuildDate></channel>",
    why: "a feed with no entries (a site of pages alone, with Pelican's default FEED_ALL_ATOM) is dated by the build's own time, to the microsecond: <updated>2026-12-01T21:29:24.343361+00:00</updated></feed> (Atom), <lastBuildDate>Tue, 01 Dec 2026 21:29:24 +0000</lastBuildDate></channel> (RSS). A feed with entries is dated by its newest one, before the first <entry> or <item>, which is content",
}];

const ASTRO: &[NoiseRule] = &[NoiseRule {
    name: "generator tag",
    pattern: GENERATOR_META,
    why: "{Astro.generator} prints the Astro version into every page (measured with 5.18.2: \
          <meta name=\"generator\" content=\"Astro v5.18.2\">)",
}];

const DOCUSAURUS: &[NoiseRule] = &[NoiseRule {
    name: "generator tag",
    pattern: GENERATOR_META,
    why: "Docusaurus prints its version into every page (measured with 3.10.2: \
          <meta name=\"generator\" content=\"Docusaurus v3.10.2\">)",
}];

const VITEPRESS: &[NoiseRule] = &[NoiseRule {
    name: "generator tag",
    pattern: GENERATOR_META,
    why: "VitePress prints its version into every page (measured with 1.6.4: \
          <meta name=\"generator\" content=\"VitePress v1.6.4\">); a build with 1.6.3 differed \
          from 1.6.4's in that tag alone",
}];

const HEXO: &[NoiseRule] = &[NoiseRule {
    name: "generator tag",
    pattern: GENERATOR_META,
    why: "Hexo prints its version into every page (meta_generator, on by default; measured with \
          7.3.0: <meta name=\"generator\" content=\"Hexo 7.3.0\">); a build with 7.2.0 differed \
          from 7.3.0's in that tag alone, once the landscape theme's post ids are set aside",
}];

const ELEVENTY: &[NoiseRule] = &[NoiseRule {
    name: "generator tag",
    pattern: GENERATOR_META,
    why: "{{ eleventy.generator }} prints the Eleventy version into every page",
}];

/// Material for MkDocs' fingerprinted assets (measured 9.8.1: `bundle.a5f9d56c.min.js`,
/// `workers/search.a7633da7.min.js`, `main.57a0d79d.min.css`, `palette.fb2fffe2.min.css`,
/// each with a `.map`). The default hash-like name rule catches these names, but not a hash
/// that happens to be all digits (one release in 40), nor with `immutable_hashed_names = false`.
const MKDOCS_IMMUTABLE: &[&str] = &[
    "assets/javascripts/bundle.*.min.js",
    "assets/javascripts/bundle.*.min.js.map",
    "assets/javascripts/workers/search.*.min.js",
    "assets/javascripts/workers/search.*.min.js.map",
    "assets/stylesheets/main.*.min.css",
    "assets/stylesheets/main.*.min.css.map",
    "assets/stylesheets/palette.*.min.css",
    "assets/stylesheets/palette.*.min.css.map",
];

/// What Vite writes for a VitePress build: `assets/<name>.<hash>.<ext>`, the hash 8 characters
/// of base64url, which the hexadecimal name rule misses (measured with 1.6.4:
/// `assets/app.9jICMBQK.js`, `assets/chunks/theme.DeVKhVl2.js`, `assets/style.BIhLbGHd.css`,
/// `assets/guide_intro.md.C38-oigK.lean.js`, `assets/inter-italic-latin.C2AdPX0b.woff2`).
/// Not all of `assets/`: files from `public/assets/` land there under their own names.
/// `hashmap.json` and `vp-icons.css` keep their names, so they are purged when they change.
const VITEPRESS_IMMUTABLE: &[&str] = &[
    "assets/**/*.[0-9A-Za-z_-][0-9A-Za-z_-][0-9A-Za-z_-][0-9A-Za-z_-][0-9A-Za-z_-][0-9A-Za-z_-][0-9A-Za-z_-][0-9A-Za-z_-].*",
];

impl Generator {
    /// Every preset, for tests and the README's table.
    pub const ALL: &'static [Generator] = &[
        Generator::Hugo,
        Generator::Jekyll,
        Generator::Zola,
        Generator::Eleventy,
        Generator::Astro,
        Generator::Docusaurus,
        Generator::Vitepress,
        Generator::Hexo,
        Generator::Mkdocs,
        Generator::Sphinx,
        Generator::Pelican,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Generator::Hugo => "hugo",
            Generator::Jekyll => "jekyll",
            Generator::Zola => "zola",
            Generator::Eleventy => "eleventy",
            Generator::Astro => "astro",
            Generator::Docusaurus => "docusaurus",
            Generator::Vitepress => "vitepress",
            Generator::Hexo => "hexo",
            Generator::Mkdocs => "mkdocs",
            Generator::Sphinx => "sphinx",
            Generator::Pelican => "pelican",
            Generator::None => "none",
        }
    }

    /// The folder the generator writes by default, relative to the site source.
    pub fn output_dir(self) -> Option<&'static str> {
        match self {
            Generator::Hugo | Generator::Zola | Generator::Hexo => Some("public"),
            Generator::Jekyll | Generator::Eleventy => Some("_site"),
            Generator::Astro => Some("dist"),
            Generator::Docusaurus => Some("build"),
            Generator::Vitepress => Some(".vitepress/dist"),
            Generator::Mkdocs => Some("site"),
            Generator::Sphinx => Some("_build/html"),
            Generator::Pelican => Some("output"),
            Generator::None => None,
        }
    }

    /// File extensions, beyond the configured text ones, that this preset's rules apply to.
    pub fn extra_text_extensions(self) -> &'static [&'static str] {
        match self {
            Generator::Jekyll => &["map"],
            _ => &[],
        }
    }

    /// Globs of the files this generator names by their content's hash (fingerprinted assets):
    /// a new or removed one needs no purge, since changed content gets a new URL. They add to the
    /// `immutable` setting and to the default hash-like name rule.
    pub fn immutable(self) -> &'static [&'static str] {
        match self {
            Generator::Hugo => &[],
            Generator::Jekyll => &[],
            Generator::Zola => &[],
            Generator::Eleventy => &[],
            // Astro writes every asset it bundles (CSS, scripts, optimised images) to `_astro/`
            // as `<name>.<hash>.<ext>`, the hash 8 characters of base64url (measured:
            // `_astro/café crème.CRw_X55h.css`, `_astro/Counter.astro_astro_type_script_index_0_lang.DOo530bE.js`),
            // which the hexadecimal name rule does not catch.
            Generator::Astro => &["_astro/**"],
            // webpack names Docusaurus's bundles `assets/js/<chunk>.<8 hex>.js` (with a
            // `.LICENSE.txt` beside some) and its stylesheet `assets/css/styles.<8 hex>.css`
            // (measured: `assets/js/main.93b2222a.js`, `assets/js/runtime~main.4319d063.js`,
            // `assets/css/styles.4fb017a8.css`). The default name rule wants a letter in the
            // hash, so it misses the 1 in 44 hashes that are all digits; these globs do not.
            // Only the two folders webpack writes: files from `static/assets/` keep their names.
            Generator::Docusaurus => &[
                "assets/js/*.[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].js",
                "assets/js/*.[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].js.LICENSE.txt",
                "assets/css/styles.[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].css",
            ],
            Generator::Vitepress => VITEPRESS_IMMUTABLE,
            // Hexo names no file by its content; the landscape theme's jquery-3.6.4.min.js is
            // named by its version, which the hash-like name rule does not take for a hash.
            Generator::Hexo => &[],
            Generator::Mkdocs => MKDOCS_IMMUTABLE,
            Generator::Sphinx => &[],
            // Pelican's themes link their files by name (`theme/css/main.css`).
            Generator::Pelican => &[],
            Generator::None => &[],
        }
    }

    /// Globs of files the generator writes into its output folder that are no part of the
    /// site: they add to the `ignore` setting.
    pub fn ignore(self) -> &'static [&'static str] {
        match self {
            // `sphinx-build -b html SRC OUT` keeps its pickled build cache in OUT/.doctrees
            // (`make html` puts it beside, in _build/doctrees). Measured: the same source built
            // in another folder changed all 7 files there (they hold absolute source paths),
            // and no page.
            Generator::Sphinx => &[".doctrees/**"],
            _ => &[],
        }
    }

    /// Where the generator writes the build's own time (see [`BuildStamp`]).
    pub fn build_stamps(self) -> &'static [BuildStamp] {
        match self {
            Generator::Jekyll => JEKYLL_STAMPS,
            Generator::Hugo
            | Generator::Zola
            | Generator::Eleventy
            | Generator::Astro
            | Generator::Docusaurus
            | Generator::Vitepress
            | Generator::Hexo
            | Generator::Mkdocs
            | Generator::Sphinx
            | Generator::Pelican
            | Generator::None => &[],
        }
    }

    /// The build noise this generator is known to produce.
    pub fn noise(self) -> &'static [NoiseRule] {
        match self {
            Generator::Hugo => HUGO,
            Generator::Jekyll => JEKYLL,
            Generator::Zola => ZOLA,
            Generator::Eleventy => ELEVENTY,
            Generator::Astro => ASTRO,
            Generator::Docusaurus => DOCUSAURUS,
            Generator::Vitepress => VITEPRESS,
            Generator::Hexo => HEXO,
            Generator::Mkdocs => MKDOCS,
            Generator::Sphinx => SPHINX,
            Generator::Pelican => PELICAN,
            Generator::None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_noise_rule_is_a_valid_regex_with_a_reason() {
        for g in Generator::ALL {
            for rule in g.noise() {
                assert!(
                    regex::bytes::Regex::new(rule.pattern).is_ok(),
                    "{}",
                    rule.pattern
                );
                assert!(!rule.why.is_empty());
            }
        }
        assert!(Generator::None.noise().is_empty());
    }

    #[test]
    fn the_generator_tag_is_blanked_however_a_minifier_writes_it() {
        let re = regex::bytes::Regex::new(GENERATOR_META).expect("regex");
        for tag in [
            r#"<meta name="generator" content="Hugo 0.111.3">"#,
            r#"<meta name=generator content="Hugo 0.111.3">"#,
            r#"<meta name='generator' content='Jekyll v4.3.1' />"#,
            r#"<meta content="Eleventy v2.0.1" name="generator">"#,
            r#"<meta content="Zola" name=generator/>"#,
            r#"<meta name=generator content=Hugo>"#,
            r#"<META NAME="Generator" CONTENT="Hugo 0.120.0">"#,
        ] {
            let page = format!("<head>{tag}<title>T</title></head>");
            let blanked = re.replace_all(page.as_bytes(), &b""[..]);
            assert_eq!(&blanked[..], b"<head><title>T</title></head>", "{tag}");
        }
        // Per-page metadata is content.
        for tag in [
            r#"<meta name=description content="A page about purging">"#,
            r#"<meta name="generator-notes" content="x">"#,
            r#"<meta property="og:title" content="generator">"#,
        ] {
            assert!(!re.is_match(tag.as_bytes()), "{tag}");
        }
    }

    fn blank(g: Generator, text: &str) -> String {
        let mut text = text.as_bytes().to_vec();
        for rule in g.noise() {
            let re = regex::bytes::Regex::new(rule.pattern).expect("regex");
            text = re.replace_all(&text, &b""[..]).into_owned();
        }
        String::from_utf8(text).expect("utf8")
    }

    #[test]
    fn sphinx_rules_blank_the_versions_in_the_footer_but_not_its_links() {
        // Alabaster 1.0.0's footer, as Sphinx 9.0.4 wrote it.
        let alabaster = "Powered by <a href=\"https://www.sphinx-doc.org/\">Sphinx 9.0.4</a>\n      &amp; <a href=\"https://alabaster.readthedocs.io\">Alabaster 1.0.0</a>";
        assert_eq!(
            blank(Generator::Sphinx, alabaster),
            "Powered by \n      &amp; "
        );
        // The basic layout's (classic, nature, ...), and a pre-release.
        let basic = "Created using <a href=\"https://www.sphinx-doc.org/\">Sphinx</a> 9.1.0rc2.";
        assert_eq!(blank(Generator::Sphinx, basic), "Created using .");
        // A page that links to Sphinx, or names a version in its text, keeps it.
        for text in [
            "<a href=\"https://www.sphinx-doc.org/\">Sphinx</a> is a generator",
            "<a href=\"https://www.sphinx-doc.org/\">Sphinx docs</a>",
            "<p>Sphinx 9.0.4 fixed it.</p>",
        ] {
            assert_eq!(blank(Generator::Sphinx, text), text);
        }
    }

    #[test]
    fn pelican_rule_blanks_the_time_of_an_empty_feed_and_no_article_date() {
        // Pelican 4.12.0's feeds of a site without articles, as written.
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>x</title><link href=\"https://example.com/\" rel=\"alternate\"/><link href=\"https://example.com/feeds/all.atom.xml\" rel=\"self\"/><id>https://example.com/</id><updated>2026-12-01T21:29:24.343361+00:00</updated></feed>";
        assert_eq!(
            blank(Generator::Pelican, atom),
            atom.replace(
                "<updated>2026-12-01T21:29:24.343361+00:00</updated></feed>",
                ""
            )
        );
        let rss = "<rss version=\"2.0\"><channel><title>x</title><link>https://example.com/</link><description/><atom:link href=\"https://example.com/feeds/all.rss.xml\" rel=\"self\"/><lastBuildDate>Tue, 01 Dec 2026 21:29:24 +0000</lastBuildDate></channel></rss>";
        assert_eq!(
            blank(Generator::Pelican, rss),
            "<rss version=\"2.0\"><channel><title>x</title><link>https://example.com/</link><description/><atom:link href=\"https://example.com/feeds/all.rss.xml\" rel=\"self\"/></rss>"
        );
        // A feed with entries is dated by its newest entry: content, as is every entry's date.
        for feed in [
            "<feed><id>https://example.com/</id><updated>2024-05-10T00:00:00+00:00</updated><entry><title>Purging</title><published>2024-05-02T10:00:00+00:00</published><updated>2024-05-02T10:00:00+00:00</updated></entry></feed>",
            "<channel><title>x</title><lastBuildDate>Fri, 10 May 2024 00:00:00 +0000</lastBuildDate><item><title>Purging</title><pubDate>Thu, 02 May 2024 10:00:00 +0000</pubDate></item></channel>",
            // With SITESUBTITLE, an empty Atom feed ends with it: not caught (README).
            "<feed><id>https://example.com/</id><updated>2026-12-01T21:29:24.343361+00:00</updated><subtitle>Notes</subtitle></feed>",
            // Pages name no version.
            "<meta name=\"generator\" content=\"Pelican\" />",
        ] {
            assert_eq!(blank(Generator::Pelican, feed), feed);
        }
    }

    #[test]
    fn mkdocs_rules_blank_the_generator_tag_and_material_assets_are_immutable() {
        let head = "<meta name=\"generator\" content=\"mkdocs-1.6.1, mkdocs-material-9.8.1\"><title>T</title>";
        assert_eq!(blank(Generator::Mkdocs, head), "<title>T</title>");
        let mut globs = globset::GlobSetBuilder::new();
        for g in Generator::Mkdocs.immutable() {
            globs.add(globset::Glob::new(g).expect("glob"));
        }
        let globs = globs.build().expect("globset");
        // An all-digit hash, which the default hash-like name rule does not take for one.
        for path in [
            "assets/javascripts/bundle.12345678.min.js",
            "assets/javascripts/workers/search.a7633da7.min.js.map",
            "assets/stylesheets/main.57a0d79d.min.css",
            "assets/stylesheets/palette.fb2fffe2.min.css.map",
        ] {
            assert!(globs.is_match(path), "{path}");
        }
        for path in [
            "assets/stylesheets/extra.css",
            "assets/javascripts/lunr/tinyseg.js",
        ] {
            assert!(!globs.is_match(path), "{path}");
        }
    }

    #[test]
    fn jekyll_rules_blank_the_version_and_leave_every_date_to_the_stamps() {
        let feed = r#"<feed><generator uri="https://jekyllrb.com/" version="4.3.1">Jekyll</generator><updated>2026-11-29T07:35:06+00:00</updated><title>Blog</title></feed>"#;
        let mut text = feed.as_bytes().to_vec();
        for rule in Generator::Jekyll.noise() {
            let re = regex::bytes::Regex::new(rule.pattern).expect("regex");
            text = re.replace_all(&text, &b""[..]).into_owned();
        }
        assert_eq!(
            String::from_utf8(text).expect("utf8"),
            "<feed><updated>2026-11-29T07:35:06+00:00</updated><title>Blog</title></feed>"
        );
        let stamp = Generator::Jekyll.build_stamps()[0];
        let re = regex::bytes::Regex::new(stamp.pattern).expect("regex");
        let caps = re
            .captures(feed.as_bytes())
            .expect("the feed-level <updated>");
        assert_eq!(&caps[1], b"2026-11-29T07:35:06+00:00");
    }

    #[test]
    fn every_stamp_is_a_valid_regex_with_the_captures_its_kind_needs() {
        for g in Generator::ALL {
            for stamp in g.build_stamps() {
                let re = regex::bytes::Regex::new(stamp.pattern).expect("regex");
                let names: Vec<_> = re.capture_names().flatten().collect();
                match stamp.kind {
                    StampKind::BuildTime => assert!(re.captures_len() >= 2, "{}", stamp.pattern),
                    StampKind::FileTime => assert_eq!(names, ["loc", "time"], "{}", stamp.pattern),
                }
                assert!(!stamp.why.is_empty() && !stamp.name.is_empty());
            }
        }
    }

    #[test]
    fn node_presets_blank_the_version_tag_but_keep_per_page_dates() {
        let page = r#"<head><meta name="generator" content="Astro v5.18.2"></head><time>2024-06-15</time>"#;
        let sitemap = "<url><loc>https://example.com/a/</loc><lastmod>2024-06-15</lastmod></url>";
        let feed = "<feed><updated>2024-06-15T00:00:00Z</updated></feed>";
        for g in [
            Generator::Eleventy,
            Generator::Astro,
            Generator::Docusaurus,
            Generator::Vitepress,
            Generator::Hexo,
        ] {
            let blank = |text: &str| {
                let mut bytes = text.as_bytes().to_vec();
                for rule in g.noise() {
                    let re = regex::bytes::Regex::new(rule.pattern).expect("regex");
                    bytes = re.replace_all(&bytes, &b""[..]).into_owned();
                }
                String::from_utf8(bytes).expect("utf8")
            };
            assert_eq!(blank(page), "<head></head><time>2024-06-15</time>", "{g:?}");
            assert_eq!(blank(sitemap), sitemap, "{g:?}: a page's date is content");
            assert_eq!(blank(feed), feed, "{g:?}: a feed's newest date is content");
        }
    }

    fn immutable(g: Generator, path: &str) -> bool {
        let mut set = globset::GlobSetBuilder::new();
        for glob in g.immutable() {
            set.add(globset::Glob::new(glob).expect("glob"));
        }
        set.build().expect("globset").is_match(path)
    }

    #[test]
    fn node_fingerprinted_assets_are_immutable_their_pages_not() {
        type Case<'a> = (Generator, &'a str, bool);
        let cases: &[Case] = &[
            (Generator::Astro, "_astro/café crème.CRw_X55h.css", true),
            (
                Generator::Astro,
                "_astro/Counter.astro_astro_type_script_index_0_lang.DOo530bE.js",
                true,
            ),
            (Generator::Astro, "index.html", false),
            (Generator::Astro, "img/logo.png", false),
            (Generator::Docusaurus, "assets/js/main.93b2222a.js", true),
            (
                Generator::Docusaurus,
                "assets/js/runtime~main.4319d063.js",
                true,
            ),
            (
                Generator::Docusaurus,
                "assets/js/0034c2c2.12345678.js",
                true,
            ),
            (
                Generator::Docusaurus,
                "assets/js/826.50ffb3f3.js.LICENSE.txt",
                true,
            ),
            (
                Generator::Docusaurus,
                "assets/css/styles.4fb017a8.css",
                true,
            ),
            (Generator::Docusaurus, "assets/css/custom.css", false),
            (Generator::Docusaurus, "assets/js/analytics.js", false),
            (Generator::Docusaurus, "docs/intro/index.html", false),
            // VitePress 1.6.4's names: base64url hashes, `-` and `_` among them.
            (Generator::Vitepress, "assets/app.9jICMBQK.js", true),
            (
                Generator::Vitepress,
                "assets/chunks/theme.DeVKhVl2.js",
                true,
            ),
            (
                Generator::Vitepress,
                "assets/chunks/@localSearchIndexroot.eywFHSWd.js",
                true,
            ),
            (Generator::Vitepress, "assets/style.BIhLbGHd.css", true),
            (
                Generator::Vitepress,
                "assets/guide_café crème.md.B4dvwjpV.lean.js",
                true,
            ),
            (
                Generator::Vitepress,
                "assets/guide_intro.md.C38-oigK.js",
                true,
            ),
            (
                Generator::Vitepress,
                "assets/inter-italic-cyrillic.By2_1cv3.woff2",
                true,
            ),
            (
                Generator::Vitepress,
                "assets/chunks/metadata.12345678.js",
                true,
            ),
            (Generator::Vitepress, "hashmap.json", false),
            (Generator::Vitepress, "vp-icons.css", false),
            (Generator::Vitepress, "guide/intro.html", false),
            (Generator::Vitepress, "img/logo.png", false),
            // From public/assets/, under its own name.
            (Generator::Vitepress, "assets/logo.png", false),
            (Generator::Vitepress, "assets/brand/favicon.svg", false),
            (Generator::Vitepress, "app.9jICMBQK.js", false),
        ];
        for (g, path, expected) in cases {
            assert_eq!(immutable(*g, path), *expected, "{g:?} {path}");
        }
    }
}
