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
    /// MkDocs: its output folder (`site`); no noise rules measured yet.
    Mkdocs,
    /// No preset: no default folder beyond `_site`/`public`, no noise rules.
    None,
}

/// One noise rule: what it removes and why, for the README and `-vv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseRule {
    pub pattern: &'static str,
    pub why: &'static str,
}

/// Where a generator writes the build's own time and nothing else (jekyll-feed's feed-level
/// `<updated>`): the instant read there is the build's, so it is blanked wherever the build
/// spells it (pages of undated documents, JSON-LD, sitemaps), while every other date stays
/// content. `pattern`'s first capture group is the instant (RFC 3339 or RFC 2822).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildStamp {
    /// The file's path in the output folder.
    pub file: &'static str,
    pub pattern: &'static str,
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
        pattern: r"<updated>[^<]*</updated>",
        why: "jekyll-feed writes the build time (site.time) into feed.xml's <updated> on every build",
    },
    NoiseRule {
        pattern: r"<lastmod>[^<]*</lastmod>",
        why: "jekyll-sitemap writes source files' modification times into <lastmod>: they change on every fresh checkout",
    },
    NoiseRule {
        pattern: GENERATOR_META,
        why: "jekyll-seo-tag prints the Jekyll version into every page: an upgrade is not a content change",
    },
    NoiseRule {
        pattern: r#"<generator uri="https://jekyllrb.com/" version="[^"]*">Jekyll</generator>"#,
        why: "jekyll-feed prints the Jekyll version into feed.xml",
    },
    NoiseRule {
        pattern: r#""sources":\s*\[[^\]]*\]"#,
        why: "Sass source maps (assets/main.css.map) name their sources by paths relative to the checkout, which differ between machines",
    },
];

const HUGO: &[NoiseRule] = &[
    NoiseRule {
        pattern: GENERATOR_META,
        why: "{{ hugo.Generator }} prints the Hugo version into every page: an upgrade is not a content change",
    },
    NoiseRule {
        pattern: r"<lastmod>[^<]*</lastmod>",
        why: "with lastmod taken from file times (frontmatter lastmod = [':fileModTime']) or git (enableGitInfo on a shallow CI clone), sitemap.xml's <lastmod> changes on every checkout",
    },
    NoiseRule {
        pattern: r"<lastBuildDate>[^<]*</lastBuildDate>",
        why: "RSS <lastBuildDate> follows the newest page's lastmod: the same file times",
    },
];

const ZOLA: &[NoiseRule] = &[NoiseRule {
    pattern: GENERATOR_META,
    why: "themes print the Zola version into every page: an upgrade is not a content change",
}];

const ELEVENTY: &[NoiseRule] = &[NoiseRule {
    pattern: GENERATOR_META,
    why: "{{ eleventy.generator }} prints the Eleventy version into every page (measured with 3.1.8: \
          <meta name=\"generator\" content=\"Eleventy v3.1.8\">)",
}];

const ASTRO: &[NoiseRule] = &[NoiseRule {
    pattern: GENERATOR_META,
    why: "{Astro.generator} prints the Astro version into every page (measured with 5.18.2: \
          <meta name=\"generator\" content=\"Astro v5.18.2\">)",
}];

const DOCUSAURUS: &[NoiseRule] = &[NoiseRule {
    pattern: GENERATOR_META,
    why: "Docusaurus prints its version into every page (measured with 3.10.2: \
          <meta name=\"generator\" content=\"Docusaurus v3.10.2\">)",
}];

impl Generator {
    pub fn name(self) -> &'static str {
        match self {
            Generator::Hugo => "hugo",
            Generator::Jekyll => "jekyll",
            Generator::Zola => "zola",
            Generator::Eleventy => "eleventy",
            Generator::Astro => "astro",
            Generator::Docusaurus => "docusaurus",
            Generator::Mkdocs => "mkdocs",
            Generator::None => "none",
        }
    }

    /// The folder the generator writes by default, relative to the site source.
    pub fn output_dir(self) -> Option<&'static str> {
        match self {
            Generator::Hugo | Generator::Zola => Some("public"),
            Generator::Jekyll | Generator::Eleventy => Some("_site"),
            Generator::Astro => Some("dist"),
            Generator::Docusaurus => Some("build"),
            Generator::Mkdocs => Some("site"),
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
            Generator::Mkdocs => &[],
            Generator::None => &[],
        }
    }

    /// Where the generator writes the build's own time (see [`BuildStamp`]).
    pub fn build_stamps(self) -> &'static [BuildStamp] {
        match self {
            Generator::Hugo
            | Generator::Jekyll
            | Generator::Zola
            | Generator::Eleventy
            | Generator::Astro
            | Generator::Docusaurus
            | Generator::Mkdocs
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
            Generator::Mkdocs | Generator::None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_noise_rule_is_a_valid_regex_with_a_reason() {
        for g in [
            Generator::Hugo,
            Generator::Jekyll,
            Generator::Zola,
            Generator::Eleventy,
            Generator::Astro,
            Generator::Docusaurus,
        ] {
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

    #[test]
    fn node_presets_blank_the_version_tag_but_keep_per_page_dates() {
        let page = r#"<head><meta name="generator" content="Astro v5.18.2"></head><time>2024-06-15</time>"#;
        let sitemap = "<url><loc>https://example.com/a/</loc><lastmod>2024-06-15</lastmod></url>";
        let feed = "<feed><updated>2024-06-15T00:00:00Z</updated></feed>";
        for g in [Generator::Eleventy, Generator::Astro, Generator::Docusaurus] {
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
    fn astro_and_docusaurus_fingerprinted_assets_are_immutable_their_pages_not() {
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
        ];
        for (g, path, expected) in cases {
            assert_eq!(immutable(*g, path), *expected, "{g:?} {path}");
        }
    }

    #[test]
    fn jekyll_rules_blank_the_feed_time_but_not_the_content() {
        let feed = r#"<feed><generator uri="https://jekyllrb.com/" version="4.3.1">Jekyll</generator><updated>2026-11-29T07:35:06+00:00</updated><title>Blog</title></feed>"#;
        let mut text = feed.as_bytes().to_vec();
        for rule in Generator::Jekyll.noise() {
            let re = regex::bytes::Regex::new(rule.pattern).expect("regex");
            text = re.replace_all(&text, &b""[..]).into_owned();
        }
        assert_eq!(
            String::from_utf8(text).expect("utf8"),
            "<feed><title>Blog</title></feed>"
        );
    }
}
