//! The generator's own config files (`hugo.toml`, `_config.yml`, `mkdocs.yml`, ...): which
//! generator builds the site, and the public base URL the site was told it lives at. Files are
//! read with real TOML, YAML and JSON parsers, and detection looks at the same parsed keys as the
//! base URL, so a Hugo `[params] base_url` is a Hugo parameter, not Zola's top-level setting.

use std::path::{Path, PathBuf};

use crate::generator::Generator;

/// A generator, and the config file (relative to the site's folder) that told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub generator: Generator,
    pub file: String,
}

/// What the site's config says its public base URL is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteBaseUrl {
    /// A public base URL, and the file it came from.
    Found { url: String, file: String },
    /// A value that is not a public address (empty, localhost, a bare path): never used, but
    /// named so the error can say why.
    Unusable {
        value: String,
        file: String,
        why: &'static str,
    },
    /// The generator's config is JavaScript, which is not run or parsed here: the base URL is
    /// in it (`key`), and only the user can copy it into sitepurge's settings. A narrow match
    /// of `site: "https://..."` would read a commented-out line, a value built from
    /// `process.env`, or a nested object's key as easily as the real setting.
    InCode { file: String, key: &'static str },
    /// The files have no such setting (or the generator keeps it in code: Eleventy).
    Absent,
}

/// A site config file that exists but cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: PathBuf,
    pub message: String,
}

type Parsed<T> = Result<T, Unreadable>;

/// The top-level keys of one config file, each with its value when that is a plain string.
type Keys = Vec<(String, Option<String>)>;

const HUGO_ROOT: [&str; 8] = [
    "hugo.toml",
    "hugo.yaml",
    "hugo.yml",
    "hugo.json",
    // Hugo 0.109 and older: the same file named config.*; config.toml may be Zola's.
    "config.toml",
    "config.yaml",
    "config.yml",
    "config.json",
];
const HUGO_DIR_FILES: [&str; 8] = [
    "hugo.toml",
    "hugo.yaml",
    "hugo.yml",
    "hugo.json",
    "config.toml",
    "config.yaml",
    "config.yml",
    "config.json",
];
const JEKYLL_FILES: [&str; 3] = ["_config.yml", "_config.yaml", "_config.toml"];
/// Hexo's config has Jekyll's name; a Hexo site is told by its `package.json`, which depends on
/// `hexo` (Hexo loads its plugins from there).
const HEXO_FILES: [&str; 3] = ["_config.yml", "_config.yaml", "_config.json"];
const PACKAGE_JSON: &str = "package.json";
const MKDOCS_FILES: [&str; 2] = ["mkdocs.yml", "mkdocs.yaml"];
/// Sphinx's configuration is Python code, which sitepurge does not run: the file tells the
/// generator by its presence, and its base URL only by a plain `html_baseurl = "..."` line.
const SPHINX_FILE: &str = "conf.py";
/// Pelican's configuration is Python code too: `pelicanconf.py` tells the generator, and
/// `publishconf.py` (what `pelican-quickstart` writes for `make publish`: it imports
/// pelicanconf.py and sets the public `SITEURL` over its empty development one) is read after
/// it, so its plain `SITEURL = "..."` line wins, as it does in the production build.
const PELICAN_FILES: [&str; 2] = ["pelicanconf.py", "publishconf.py"];
const ELEVENTY_FILES: [&str; 5] = [
    "eleventy.config.js",
    "eleventy.config.mjs",
    "eleventy.config.cjs",
    ".eleventy.js",
    ".eleventy.cjs",
];
const ASTRO_FILES: [&str; 6] = [
    "astro.config.mjs",
    "astro.config.ts",
    "astro.config.js",
    "astro.config.mts",
    "astro.config.cjs",
    "astro.config.cts",
];
const DOCUSAURUS_FILES: [&str; 6] = [
    "docusaurus.config.js",
    "docusaurus.config.ts",
    "docusaurus.config.mjs",
    "docusaurus.config.mts",
    "docusaurus.config.cjs",
    "docusaurus.config.cts",
];

/// VitePress reads `.vitepress/config.*` below the docs root; its output goes beside, to
/// `.vitepress/dist`.
const VITEPRESS_FILES: [&str; 4] = [
    ".vitepress/config.mjs",
    ".vitepress/config.mts",
    ".vitepress/config.js",
    ".vitepress/config.ts",
];

fn read_keys(path: &Path) -> Parsed<Option<Keys>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Unreadable {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    let fail = |message: String| Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let keys = match ext {
        "toml" => {
            let table: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| fail(format!("not valid TOML: {}", e.message())))?;
            table
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map(str::to_string)))
                .collect()
        }
        "json" => {
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| fail(format!("not valid JSON: {e}")))?;
            match value {
                serde_json::Value::Object(map) => map
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().map(str::to_string)))
                    .collect(),
                _ => return Err(fail("not a JSON object".into())),
            }
        }
        _ => {
            let docs = yaml_rust2::YamlLoader::load_from_str(&text)
                .map_err(|e| fail(format!("not valid YAML: {e}")))?;
            match docs.into_iter().next() {
                // An empty file is an empty config.
                None | Some(yaml_rust2::Yaml::Null) => Vec::new(),
                Some(yaml_rust2::Yaml::Hash(map)) => map
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let key = k.as_str()?.to_string();
                        Some((key, v.as_str().map(str::to_string)))
                    })
                    .collect(),
                Some(_) => return Err(fail("not a YAML mapping of settings".into())),
            }
        }
    };
    Ok(Some(keys))
}

/// Whether `dir/package.json` lists `hexo` among its dependencies (or devDependencies).
fn depends_on_hexo(dir: &Path) -> Parsed<bool> {
    let path = dir.join(PACKAGE_JSON);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(Unreadable {
                path,
                message: e.to_string(),
            });
        }
    };
    let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| Unreadable {
        path: path.clone(),
        message: format!("not valid JSON: {e}"),
    })?;
    Ok(["dependencies", "devDependencies"]
        .iter()
        .any(|section| manifest[section].get("hexo").is_some()))
}

fn has_key(keys: &Keys, key: &str) -> bool {
    keys.iter().any(|(k, _)| k == key)
}

/// The value of `key` (Hugo's keys ignore case), if the file sets it to a string.
fn value(keys: &Keys, key: &str, any_case: bool) -> Option<String> {
    keys.iter()
        .rev()
        .find(|(k, _)| {
            if any_case {
                k.eq_ignore_ascii_case(key)
            } else {
                k == key
            }
        })
        .and_then(|(_, v)| v.clone())
}

fn rel(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Finds the generator whose config file is in `dir`, and the file that told.
pub fn detect(dir: &Path) -> Parsed<Option<Detected>> {
    let found = |generator, file: &str| {
        Ok(Some(Detected {
            generator,
            file: file.to_string(),
        }))
    };
    for name in &HUGO_ROOT[..4] {
        if dir.join(name).is_file() {
            return found(Generator::Hugo, name);
        }
    }
    for env in ["_default", "production"] {
        for name in HUGO_DIR_FILES {
            let file = format!("config/{env}/{name}");
            if dir.join(&file).is_file() {
                return found(Generator::Hugo, &file);
            }
        }
    }
    if HEXO_FILES[..2].iter().any(|n| dir.join(n).is_file()) && depends_on_hexo(dir)? {
        return found(Generator::Hexo, PACKAGE_JSON);
    }
    for name in JEKYLL_FILES {
        if dir.join(name).is_file() {
            return found(Generator::Jekyll, name);
        }
    }
    for name in MKDOCS_FILES {
        if dir.join(name).is_file() {
            return found(Generator::Mkdocs, name);
        }
    }
    for name in ELEVENTY_FILES {
        if dir.join(name).is_file() {
            return found(Generator::Eleventy, name);
        }
    }
    for name in ASTRO_FILES {
        if dir.join(name).is_file() {
            return found(Generator::Astro, name);
        }
    }
    for name in DOCUSAURUS_FILES {
        if dir.join(name).is_file() {
            return found(Generator::Docusaurus, name);
        }
    }
    for name in VITEPRESS_FILES {
        if dir.join(name).is_file() {
            return found(Generator::Vitepress, name);
        }
    }
    if dir.join(PELICAN_FILES[0]).is_file() {
        return found(Generator::Pelican, PELICAN_FILES[0]);
    }
    if dir.join(SPHINX_FILE).is_file() {
        return found(Generator::Sphinx, SPHINX_FILE);
    }
    // Old Hugo and Zola both read config.toml: Zola's has a top-level base_url (required),
    // Hugo's a baseURL (its keys ignore case).
    if let Some(keys) = read_keys(&dir.join("config.toml"))? {
        if has_key(&keys, "base_url") {
            return found(Generator::Zola, "config.toml");
        }
        if keys.iter().any(|(k, _)| k.eq_ignore_ascii_case("baseurl")) {
            return found(Generator::Hugo, "config.toml");
        }
    }
    for name in &HUGO_ROOT[5..] {
        if let Some(keys) = read_keys(&dir.join(name))?
            && keys.iter().any(|(k, _)| k.eq_ignore_ascii_case("baseurl"))
        {
            return found(Generator::Hugo, name);
        }
    }
    Ok(None)
}

/// The config files `generator` reads from `dir`, in the order it merges them (a later file's
/// value wins).
fn default_files(generator: Generator, dir: &Path) -> Vec<PathBuf> {
    let first = |names: &[&str]| {
        names
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .into_iter()
            .collect::<Vec<_>>()
    };
    match generator {
        Generator::Hugo => {
            // `hugo` builds in the production environment: config/_default, then
            // config/production over it, then the root file.
            let mut files = Vec::new();
            for env in ["_default", "production"] {
                files.extend(first(
                    &HUGO_DIR_FILES
                        .iter()
                        .map(|n| format!("config/{env}/{n}"))
                        .collect::<Vec<_>>()
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                ));
            }
            files.extend(first(&HUGO_ROOT));
            files
        }
        Generator::Jekyll => first(&JEKYLL_FILES),
        Generator::Hexo => first(&HEXO_FILES),
        Generator::Zola => first(&["config.toml", "zola.toml"]),
        Generator::Mkdocs => first(&MKDOCS_FILES),
        Generator::Sphinx => first(&[SPHINX_FILE]),
        // Both, the production file last.
        Generator::Pelican => PELICAN_FILES
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect(),
        Generator::Eleventy
        | Generator::Astro
        | Generator::Docusaurus
        | Generator::Vitepress
        | Generator::None => Vec::new(),
    }
}

/// The public base URL that `generator`'s config in `dir` gives (or `files`, when the user
/// named the generator's config files, as `jekyll build --config a.yml,b.yml` takes them).
pub fn base_url(generator: Generator, dir: &Path, files: &[PathBuf]) -> Parsed<SiteBaseUrl> {
    let in_code = |names: &[&str], key| {
        let file = names.iter().find(|n| dir.join(n).is_file());
        Ok(file.map_or(SiteBaseUrl::Absent, |f| SiteBaseUrl::InCode {
            file: f.to_string(),
            key,
        }))
    };
    match generator {
        Generator::Astro => return in_code(&ASTRO_FILES, "site"),
        Generator::Docusaurus => return in_code(&DOCUSAURUS_FILES, "url and baseUrl"),
        // VitePress has no setting for the site's address: `sitemap.hostname` (only with a
        // sitemap) and `base` (the path) are the nearest.
        Generator::Vitepress => return in_code(&VITEPRESS_FILES, "sitemap.hostname and base"),
        _ => {}
    }
    let files = if files.is_empty() {
        default_files(generator, dir)
    } else {
        files.to_vec()
    };
    match generator {
        Generator::Sphinx => return python_base_url(dir, &files, SPHINX_KEY),
        Generator::Pelican => return python_base_url(dir, &files, PELICAN_KEY),
        _ => {}
    }
    // The last file that sets the key wins; Jekyll's url and baseurl may come from two files.
    let mut url: Option<(String, PathBuf)> = None;
    let mut path: Option<String> = None;
    for file in &files {
        let Some(keys) = read_keys(file)? else {
            continue;
        };
        let (key, any_case) = match generator {
            Generator::Hugo => ("baseurl", true),
            Generator::Jekyll | Generator::Hexo => ("url", false),
            Generator::Zola => ("base_url", false),
            Generator::Mkdocs => ("site_url", false),
            Generator::Eleventy
            | Generator::Astro
            | Generator::Docusaurus
            | Generator::Sphinx
            | Generator::Pelican
            | Generator::Vitepress
            | Generator::None => {
                return Ok(SiteBaseUrl::Absent);
            }
        };
        if let Some(v) = value(&keys, key, any_case) {
            url = Some((v, file.clone()));
        }
        if generator == Generator::Jekyll
            && let Some(b) = value(&keys, "baseurl", false)
        {
            path = Some(b);
        }
        if generator == Generator::Hexo
            && let Some(r) = value(&keys, "root", false)
        {
            path = Some(r);
        }
    }
    let Some((url, file)) = url else {
        return Ok(SiteBaseUrl::Absent);
    };
    let file = rel(dir, &file);
    let url = url.trim().to_string();
    // Hexo's `url` holds the site's folder too (`https://example.org/blog`); `root` repeats it
    // (`/blog/`), and counts only beside a bare host.
    if generator == Generator::Hexo
        && url::Url::parse(&url).is_ok_and(|u| !u.path().trim_matches('/').is_empty())
    {
        path = None;
    }
    let mut full = url.clone();
    if let Some(path) = path.map(|p| p.trim().trim_matches('/').to_string())
        && !path.is_empty()
    {
        full = format!("{}/{path}/", full.trim_end_matches('/'));
    }
    match unusable(&url) {
        Some(why) => Ok(SiteBaseUrl::Unusable {
            value: url,
            file,
            why,
        }),
        None => Ok(SiteBaseUrl::Found { url: full, file }),
    }
}

/// A base URL set in a Python config file, and why a value computed in code is not read.
struct PythonKey {
    key: &'static str,
    not_plain: &'static str,
}

const SPHINX_KEY: PythonKey = PythonKey {
    key: "html_baseurl",
    not_plain: "it is not a plain string: sitepurge reads `html_baseurl = \"https://...\"` in conf.py, it does not run Python",
};

const PELICAN_KEY: PythonKey = PythonKey {
    key: "SITEURL",
    not_plain: "it is not a plain string: sitepurge reads `SITEURL = \"https://...\"` in pelicanconf.py and publishconf.py, it does not run Python",
};

/// A base URL from Python config files (Sphinx's `html_baseurl` in `conf.py`, Pelican's
/// `SITEURL`), read without running Python: only a top-level line `KEY = "https://..."` (or
/// with `'`, and an optional `# comment`) counts, the last one (of the last file) winning as in
/// Python. A value computed in code (`os.environ[...]`, an f-string) is named as unusable
/// rather than guessed.
fn python_base_url(dir: &Path, files: &[PathBuf], key: PythonKey) -> Parsed<SiteBaseUrl> {
    let mut found: Option<(Result<String, String>, PathBuf)> = None;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Unreadable {
                    path: file.clone(),
                    message: e.to_string(),
                });
            }
        };
        for line in text.lines() {
            if let Some(value) = assignment_line(line, key.key) {
                found = Some((value, file.clone()));
            }
        }
    }
    let Some((value, file)) = found else {
        return Ok(SiteBaseUrl::Absent);
    };
    let file = rel(dir, &file);
    match value {
        Err(code) => Ok(SiteBaseUrl::Unusable {
            value: code,
            file,
            why: key.not_plain,
        }),
        Ok(url) => {
            let url = url.trim().to_string();
            match unusable(&url) {
                Some(why) => Ok(SiteBaseUrl::Unusable {
                    value: url,
                    file,
                    why,
                }),
                None => Ok(SiteBaseUrl::Found { url, file }),
            }
        }
    }
}

/// A top-level `KEY = ...` line: `Ok` with a plain string literal's text, `Err` with the code
/// when the value is anything else.
fn assignment_line(line: &str, key: &str) -> Option<Result<String, String>> {
    let rest = line.strip_prefix(key)?.trim_start();
    let code = rest.strip_prefix('=')?.trim();
    if code.starts_with('=') {
        return None; // a comparison, `html_baseurl == x`
    }
    let plain = code
        .chars()
        .next()
        .filter(|q| *q == '"' || *q == '\'')
        .and_then(|quote| {
            let body = &code[1..];
            let end = body.find(quote)?;
            let (literal, after) = (&body[..end], body[end + 1..].trim());
            let ends_cleanly = after.is_empty() || after.starts_with('#');
            (ends_cleanly && !literal.contains('\\')).then(|| literal.to_string())
        });
    Some(plain.ok_or_else(|| code.to_string()))
}

/// Why a configured value cannot be the public address of the site, if it cannot.
fn unusable(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("it is empty");
    }
    let Ok(parsed) = url::Url::parse(value) else {
        return Some("it is not an absolute http(s) URL");
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Some("it is not an absolute http(s) URL");
    }
    match parsed.host() {
        None => Some("it has no host name"),
        Some(url::Host::Domain(d)) if d == "localhost" || d.ends_with(".localhost") => {
            Some("it is a development address (localhost)")
        }
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() || ip.is_unspecified() => {
            Some("it is a development address (loopback)")
        }
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() || ip.is_unspecified() => {
            Some("it is a development address (loopback)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, body).expect("write");
        }
        dir
    }

    fn detected(files: &[(&str, &str)]) -> Option<(Generator, String)> {
        let dir = folder(files);
        detect(dir.path())
            .expect("parse")
            .map(|d| (d.generator, d.file))
    }

    #[test]
    fn detects_each_generator_from_its_config_file() {
        // (files in the folder, what should be detected)
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<(Generator, &'a str)>);
        let cases: &[Case] = &[
            (
                &[("hugo.toml", "baseURL = 'x'")],
                Some((Generator::Hugo, "hugo.toml")),
            ),
            (
                &[("hugo.yaml", "title: x")],
                Some((Generator::Hugo, "hugo.yaml")),
            ),
            (
                &[("_config.yml", "title: x")],
                Some((Generator::Jekyll, "_config.yml")),
            ),
            (
                &[("config.toml", "base_url = \"https://x\"")],
                Some((Generator::Zola, "config.toml")),
            ),
            (
                &[("config.toml", "baseURL = \"https://x\"")],
                Some((Generator::Hugo, "config.toml")),
            ),
            (
                &[("config.toml", "baseurl = \"https://x\"")],
                Some((Generator::Hugo, "config.toml")),
            ),
            (
                &[("config.yaml", "baseURL: https://x/")],
                Some((Generator::Hugo, "config.yaml")),
            ),
            (
                &[(".eleventy.js", "module.exports = {}")],
                Some((Generator::Eleventy, ".eleventy.js")),
            ),
            (
                &[("mkdocs.yml", "site_name: x")],
                Some((Generator::Mkdocs, "mkdocs.yml")),
            ),
            (
                &[("conf.py", "project = 'x'\n")],
                Some((Generator::Sphinx, "conf.py")),
            ),
            (
                &[("pelicanconf.py", "SITENAME = 'x'\n")],
                Some((Generator::Pelican, "pelicanconf.py")),
            ),
            // A Pelican site with a Sphinx conf.py for its docs beside it is Pelican's; a
            // publishconf.py alone (it imports pelicanconf.py) tells nothing.
            (
                &[("conf.py", "project = 'x'\n"), ("pelicanconf.py", "")],
                Some((Generator::Pelican, "pelicanconf.py")),
            ),
            (
                &[("publishconf.py", "SITEURL = 'https://x.example'\n")],
                None,
            ),
            (
                &[("astro.config.mjs", "export default {}")],
                Some((Generator::Astro, "astro.config.mjs")),
            ),
            (
                &[("astro.config.ts", "export default {}")],
                Some((Generator::Astro, "astro.config.ts")),
            ),
            (
                &[("docusaurus.config.js", "module.exports = {}")],
                Some((Generator::Docusaurus, "docusaurus.config.js")),
            ),
            (
                &[("docusaurus.config.ts", "export default {}")],
                Some((Generator::Docusaurus, "docusaurus.config.ts")),
            ),
            (
                &[(".vitepress/config.mjs", "export default {}")],
                Some((Generator::Vitepress, ".vitepress/config.mjs")),
            ),
            (
                &[(".vitepress/config.ts", "export default {}")],
                Some((Generator::Vitepress, ".vitepress/config.ts")),
            ),
            (
                &[
                    ("_config.yml", "title: x\nurl: https://x\n"),
                    (
                        "package.json",
                        r#"{"hexo": {"version": "7.3.0"}, "dependencies": {"hexo": "^7.3.0"}}"#,
                    ),
                ],
                Some((Generator::Hexo, "package.json")),
            ),
            (
                &[
                    ("_config.yml", "title: x\n"),
                    ("package.json", r#"{"devDependencies": {"hexo": "7.3.0"}}"#),
                ],
                Some((Generator::Hexo, "package.json")),
            ),
            // A Jekyll site with npm tooling of its own stays Jekyll.
            (
                &[
                    ("_config.yml", "title: x\n"),
                    (
                        "package.json",
                        r#"{"dependencies": {"sass": "1.0.0", "hexo-util": "3.3.0"}}"#,
                    ),
                ],
                Some((Generator::Jekyll, "_config.yml")),
            ),
            // Hexo's package without its config is not a site.
            (
                &[("package.json", r#"{"dependencies": {"hexo": "7.3.0"}}"#)],
                None,
            ),
            // A theme alone is not a site config.
            (&[(".vitepress/theme/index.js", "export default {}")], None),
            (&[("README.md", "hi")], None),
            (&[("config.toml", "title = 'neither'")], None),
            (
                &[("config/_default/hugo.toml", "baseURL = 'x'")],
                Some((Generator::Hugo, "config/_default/hugo.toml")),
            ),
            (
                &[
                    ("config/_default/params.toml", "x = 1"),
                    ("config/_default/config.yaml", ""),
                ],
                Some((Generator::Hugo, "config/_default/config.yaml")),
            ),
        ];
        for (files, expected) in cases {
            let expected = expected.map(|(g, f)| (g, f.to_string()));
            assert_eq!(detected(files), expected, "{files:?}");
        }
    }

    #[test]
    fn a_hugo_config_with_base_url_under_params_is_hugo_not_zola() {
        let config = "baseURL = 'https://docs.example.org/'\n\n[params]\nbase_url = 'https://cdn.example.org/'\n";
        assert_eq!(
            detected(&[("config.toml", config)]),
            Some((Generator::Hugo, "config.toml".into()))
        );
        let dir = folder(&[("config.toml", config)]);
        assert_eq!(
            base_url(Generator::Hugo, dir.path(), &[]).expect("parse"),
            SiteBaseUrl::Found {
                url: "https://docs.example.org/".into(),
                file: "config.toml".into()
            }
        );
        // A key inside a table of Zola's own is not its base_url either.
        let zola = "base_url = 'https://zola.example/'\n[extra]\nbaseURL = 'x'\n";
        assert_eq!(
            detected(&[("config.toml", zola)]),
            Some((Generator::Zola, "config.toml".into()))
        );
    }

    #[test]
    fn reads_the_base_url_of_each_generator() {
        // (generator, files, expected base URL, file it came from)
        type Case<'a> = (Generator, &'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                Generator::Jekyll,
                &[(
                    "_config.yml",
                    "title: Blog\nurl: \"https://blog.example.com\"\nbaseurl: \"/blog\"\n",
                )],
                "https://blog.example.com/blog/",
                "_config.yml",
            ),
            (
                Generator::Jekyll,
                &[("_config.yml", "url: https://example.com/\nbaseurl: \"\"\n")],
                "https://example.com/",
                "_config.yml",
            ),
            (
                Generator::Hexo,
                &[(
                    "_config.yml",
                    "title: Blog\nurl: https://blog.example.com\nroot: /\npermalink: :year/:title/\n",
                )],
                "https://blog.example.com",
                "_config.yml",
            ),
            // The folder in `url`, as Hexo's docs say, and repeated in `root`: once.
            (
                Generator::Hexo,
                &[(
                    "_config.yml",
                    "url: https://example.org/blog\nroot: /blog/\n",
                )],
                "https://example.org/blog",
                "_config.yml",
            ),
            // Only in `root`, as older Hexo sites have it.
            (
                Generator::Hexo,
                &[("_config.yml", "url: https://example.org\nroot: /blog/\n")],
                "https://example.org/blog/",
                "_config.yml",
            ),
            (
                Generator::Hugo,
                &[(
                    "hugo.toml",
                    "baseURL = 'https://gohugo.example/'\ntitle = 'x'\n",
                )],
                "https://gohugo.example/",
                "hugo.toml",
            ),
            (
                Generator::Hugo,
                &[(
                    "hugo.yaml",
                    "baseURL: https://yaml.example/docs/\nparams:\n  baseURL: https://no.example/\n",
                )],
                "https://yaml.example/docs/",
                "hugo.yaml",
            ),
            (
                Generator::Hugo,
                &[("hugo.json", r#"{"baseURL": "https://json.example/"}"#)],
                "https://json.example/",
                "hugo.json",
            ),
            (
                Generator::Hugo,
                &[
                    (
                        "config/_default/hugo.toml",
                        "baseURL = 'http://localhost:1313/'\n",
                    ),
                    (
                        "config/production/hugo.toml",
                        "baseURL = 'https://prod.example/'\n",
                    ),
                ],
                "https://prod.example/",
                "config/production/hugo.toml",
            ),
            (
                Generator::Zola,
                &[(
                    "config.toml",
                    "base_url = \"https://zola.example\"\ntitle = 'x'\n",
                )],
                "https://zola.example",
                "config.toml",
            ),
            (
                Generator::Mkdocs,
                &[(
                    "mkdocs.yml",
                    "site_name: Docs\nsite_url: https://docs.example.org/guide/\nmarkdown_extensions:\n  - pymdownx.emoji:\n      emoji_index: !!python/name:material.extensions.emoji.twemoji\n",
                )],
                "https://docs.example.org/guide/",
                "mkdocs.yml",
            ),
            (
                Generator::Sphinx,
                &[(
                    "conf.py",
                    "import os\nproject = 'x'\nhtml_baseurl = 'http://localhost/'\n# html_baseurl = 'https://old.example/'\nhtml_baseurl = \"https://docs.example.org/en/\"  # the public one\n",
                )],
                "https://docs.example.org/en/",
                "conf.py",
            ),
        ];
        for (generator, files, url, file) in cases {
            let dir = folder(files);
            assert_eq!(
                base_url(*generator, dir.path(), &[]).expect("parse"),
                SiteBaseUrl::Found {
                    url: url.to_string(),
                    file: file.to_string()
                },
                "{files:?}"
            );
        }
    }

    #[test]
    fn the_last_of_several_jekyll_config_files_wins() {
        let dir = folder(&[
            (
                "_config.yml",
                "url: http://localhost:4000\nbaseurl: /blog\n",
            ),
            ("_config.production.yml", "url: https://blog.example.com\n"),
        ]);
        let files = [
            dir.path().join("_config.yml"),
            dir.path().join("_config.production.yml"),
        ];
        assert_eq!(
            base_url(Generator::Jekyll, dir.path(), &files).expect("parse"),
            SiteBaseUrl::Found {
                url: "https://blog.example.com/blog/".into(),
                file: "_config.production.yml".into()
            }
        );
    }

    #[test]
    fn development_and_empty_values_are_not_used() {
        type Case<'a> = (Generator, &'a str, &'a str, &'a str);
        let cases: &[Case] = &[
            (
                Generator::Jekyll,
                "_config.yml",
                "url: \"\"\n",
                "it is empty",
            ),
            (
                Generator::Jekyll,
                "_config.yml",
                "url: http://localhost:4000\n",
                "it is a development address (localhost)",
            ),
            (
                Generator::Hugo,
                "hugo.toml",
                "baseURL = 'http://127.0.0.1:1313/'\n",
                "it is a development address (loopback)",
            ),
            (
                Generator::Hugo,
                "hugo.toml",
                "baseURL = '/'\n",
                "it is not an absolute http(s) URL",
            ),
            (
                Generator::Mkdocs,
                "mkdocs.yml",
                "site_url: http://[::1]:8000/\n",
                "it is a development address (loopback)",
            ),
        ];
        for (generator, name, body, why) in cases {
            let dir = folder(&[(name, body)]);
            match base_url(*generator, dir.path(), &[]).expect("parse") {
                SiteBaseUrl::Unusable { why: got, file, .. } => {
                    assert_eq!((got, file.as_str()), (*why, *name), "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn eleventy_and_configs_without_the_key_give_no_base_url() {
        let dir = folder(&[
            ("conf.py", "project = 'x'\nhtml_baseurl_suffix = '.html'\n"),
            (".eleventy.js", "module.exports = {}"),
            ("_config.yml", "title: x\n"),
        ]);
        for generator in [
            Generator::Eleventy,
            Generator::Jekyll,
            Generator::Hugo,
            Generator::Sphinx,
        ] {
            assert_eq!(
                base_url(generator, dir.path(), &[]).expect("parse"),
                SiteBaseUrl::Absent,
                "{generator:?}"
            );
        }
    }

    #[test]
    fn a_sphinx_base_url_computed_in_python_is_named_not_guessed() {
        let code = "\"https://\" + os.environ[\"HOST\"]";
        for (body, value, why) in [
            (
                format!("import os\nhtml_baseurl = {code}\n"),
                code,
                "it is not a plain string: sitepurge reads `html_baseurl = \"https://...\"` in conf.py, it does not run Python",
            ),
            (
                "html_baseurl = f'https://{host}/'\n".to_string(),
                "f'https://{host}/'",
                "it is not a plain string: sitepurge reads `html_baseurl = \"https://...\"` in conf.py, it does not run Python",
            ),
            ("html_baseurl = ''\n".to_string(), "", "it is empty"),
        ] {
            let dir = folder(&[("conf.py", &body)]);
            assert_eq!(
                base_url(Generator::Sphinx, dir.path(), &[]).expect("read"),
                SiteBaseUrl::Unusable {
                    value: value.to_string(),
                    file: "conf.py".into(),
                    why
                },
                "{body}"
            );
        }
        // Indented (in an `if`) or compared, it is not the top-level setting.
        let dir = folder(&[(
            "conf.py",
            "if on_rtd:\n    html_baseurl = 'https://x.example/'\nassert html_baseurl == 'y'\n",
        )]);
        assert_eq!(
            base_url(Generator::Sphinx, dir.path(), &[]).expect("read"),
            SiteBaseUrl::Absent
        );
    }

    #[test]
    fn pelican_reads_siteurl_from_publishconf_over_pelicanconf() {
        // (files, expected: the base URL and the file it came from, or why it is not used)
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Result<(&'a str, &'a str), &'a str>,
        );
        let quickstart_dev =
            "AUTHOR = 'me'\nSITENAME = 'Blog'\nSITEURL = \"\"\n\nPATH = \"content\"\n";
        let quickstart_publish = "import os\nimport sys\n\nsys.path.append(os.curdir)\nfrom pelicanconf import *\n\n# If your site is available via HTTPS, make sure SITEURL begins with https://\nSITEURL = \"https://blog.example.org\"\nRELATIVE_URLS = False\n";
        let cases: &[Case] = &[
            // pelican-quickstart's pair: the development SITEURL is empty, the published one
            // is in publishconf.py.
            (
                &[
                    ("pelicanconf.py", quickstart_dev),
                    ("publishconf.py", quickstart_publish),
                ],
                Ok(("https://blog.example.org", "publishconf.py")),
            ),
            // One file, single quotes, a comment after the value; commented-out and indented
            // lines are not the setting.
            (
                &[(
                    "pelicanconf.py",
                    "# SITEURL = 'https://old.example'\nSITEURL = 'https://example.com/blog'  # public\nif DEV:\n    SITEURL = 'http://localhost:8000'\nSITEURL_X = 'https://no.example'\n",
                )],
                Ok(("https://example.com/blog", "pelicanconf.py")),
            ),
            // A publishconf.py that does not set SITEURL keeps pelicanconf.py's, which it
            // imports.
            (
                &[
                    ("pelicanconf.py", "SITEURL = \"https://example.net\"\n"),
                    (
                        "publishconf.py",
                        "from pelicanconf import *\nRELATIVE_URLS = False\n",
                    ),
                ],
                Ok(("https://example.net", "pelicanconf.py")),
            ),
            // Without publishconf.py, quickstart's empty development value.
            (&[("pelicanconf.py", quickstart_dev)], Err("it is empty")),
            (
                &[("pelicanconf.py", "SITEURL = f'https://{HOST}'\n")],
                Err(PELICAN_KEY.not_plain),
            ),
            (
                &[
                    ("pelicanconf.py", "SITEURL = ''\n"),
                    (
                        "publishconf.py",
                        "SITEURL = os.environ.get('SITEURL', 'https://example.com')\n",
                    ),
                ],
                Err(PELICAN_KEY.not_plain),
            ),
            (
                &[("pelicanconf.py", "SITEURL = 'http://localhost:8000'\n")],
                Err("it is a development address (localhost)"),
            ),
        ];
        for (files, expected) in cases {
            let dir = folder(files);
            let got = base_url(Generator::Pelican, dir.path(), &[]).expect("read");
            match (got, expected) {
                (SiteBaseUrl::Found { url, file }, Ok((u, f))) => {
                    assert_eq!((url.as_str(), file.as_str()), (*u, *f), "{files:?}")
                }
                (SiteBaseUrl::Unusable { why, .. }, Err(w)) => assert_eq!(why, *w, "{files:?}"),
                (got, _) => panic!("{files:?}: {got:?}"),
            }
        }
        // No SITEURL line at all.
        let dir = folder(&[("pelicanconf.py", "SITENAME = 'x'\n")]);
        assert_eq!(
            base_url(Generator::Pelican, dir.path(), &[]).expect("read"),
            SiteBaseUrl::Absent
        );
        // The value computed in code is named, with the file it is in.
        let dir = folder(&[("pelicanconf.py", "SITEURL = \"https://\" + HOST\n")]);
        assert_eq!(
            base_url(Generator::Pelican, dir.path(), &[]).expect("read"),
            SiteBaseUrl::Unusable {
                value: "\"https://\" + HOST".into(),
                file: "pelicanconf.py".into(),
                why: "it is not a plain string: sitepurge reads `SITEURL = \"https://...\"` in pelicanconf.py and publishconf.py, it does not run Python",
            }
        );
    }

    #[test]
    fn a_broken_config_is_an_error_naming_the_file() {
        let dir = folder(&[("_config.yml", "url: [unclosed\n")]);
        let err = base_url(Generator::Jekyll, dir.path(), &[]).expect_err("broken");
        assert_eq!(err.path, dir.path().join("_config.yml"));
        assert!(err.message.starts_with("not valid YAML"), "{}", err.message);
        let dir = folder(&[("config.toml", "base_url = ")]);
        let err = detect(dir.path()).expect_err("broken");
        assert!(err.message.starts_with("not valid TOML"), "{}", err.message);
        // Beside a _config.yml, package.json tells Hexo from Jekyll: it must be read.
        let dir = folder(&[("_config.yml", "title: x\n"), ("package.json", "{")]);
        let err = detect(dir.path()).expect_err("broken");
        assert_eq!(err.path, dir.path().join("package.json"));
        assert!(err.message.starts_with("not valid JSON"), "{}", err.message);
    }

    #[test]
    fn astro_docusaurus_and_vitepress_keep_the_base_url_in_javascript_which_is_not_read() {
        let dir = folder(&[
            (
                "astro.config.mjs",
                "export default { site: 'https://example.com' }",
            ),
            (
                "docusaurus.config.ts",
                "export default { url: 'https://example.com', baseUrl: '/' }",
            ),
            (
                ".vitepress/config.mts",
                "export default defineConfig({ base: '/docs/', sitemap: { hostname: 'https://example.com' } })",
            ),
        ]);
        assert_eq!(
            base_url(Generator::Vitepress, dir.path(), &[]).expect("parse"),
            SiteBaseUrl::InCode {
                file: ".vitepress/config.mts".into(),
                key: "sitemap.hostname and base"
            }
        );
        assert_eq!(
            base_url(Generator::Astro, dir.path(), &[]).expect("parse"),
            SiteBaseUrl::InCode {
                file: "astro.config.mjs".into(),
                key: "site"
            }
        );
        assert_eq!(
            base_url(Generator::Docusaurus, dir.path(), &[]).expect("parse"),
            SiteBaseUrl::InCode {
                file: "docusaurus.config.ts".into(),
                key: "url and baseUrl"
            }
        );
        // Named without its config file (generator = "astro" in sitepurge.toml): nothing to name.
        let empty = folder(&[]);
        assert_eq!(
            base_url(Generator::Astro, empty.path(), &[]).expect("parse"),
            SiteBaseUrl::Absent
        );
    }
}
