//! Pure mapping from an output path to the public URLs a CDN caches it under. Cache keys match
//! exactly, so every spelling a reader's browser may request is listed: `/a/`, `/a/index.html` and,
//! on request, `/a`.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use url::Url;

/// Bytes a browser percent-encodes in a URL path (the WHATWG path percent-encode set), plus `%`
/// and `\` because a literal one in a file name must not read as an escape or a separator.
/// Non-ASCII bytes are always encoded (UTF-8, upper-case hex).
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A validated base URL: absolute http(s), lower-case host, path ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    prefix: String,
    host: String,
    /// `host[:port]`, as a `Host` header carries it.
    authority: String,
}

impl BaseUrl {
    /// Parses a base URL, explaining what is wrong with a bad one.
    pub fn parse(raw: &str) -> Result<BaseUrl, String> {
        let text = &crate::secret::redact(raw);
        let mut url = Url::parse(raw.trim()).map_err(|e| {
            format!("{text:?} is not an absolute URL ({e}); write it like https://example.com/")
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "{text:?} is not an http(s) URL; write it like https://example.com/"
            ));
        }
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => return Err(format!("{text:?} has no host name")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{text:?} has a query or fragment; a base URL is a scheme, host and optional path"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{text:?} carries a user name or password; leave credentials out of base URLs"
            ));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        Ok(BaseUrl {
            prefix: url.to_string(),
            host,
            authority,
        })
    }

    /// The base URL as used for joining: always ends in `/`.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// The host name (lower case, without port), for host-wide purges.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `host[:port]`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.prefix.split_once("://").map_or("https", |(s, _)| s)
    }
}

/// How output paths become URLs.
#[derive(Debug, Clone, Default)]
pub struct UrlRules {
    pub base_urls: Vec<BaseUrl>,
    /// `a/index.html` is also served as `/a` (no trailing slash).
    pub index_without_slash: bool,
    /// `x.html` is also served as `/x`.
    pub clean_urls: bool,
    /// Also purge each percent-encoded URL with lower-case hex (`%c3%a9`), for sites whose links
    /// are written that way (Hugo's `relURL`) behind caches that key on the raw URL (Varnish).
    pub lowercase_escapes: bool,
}

/// The URL spellings of one path, relative to a base URL, already percent-encoded.
fn spellings(path: &str, rules: &UrlRules) -> Vec<String> {
    let mut out = browser_spellings(path, rules);
    if rules.lowercase_escapes {
        let lower: Vec<String> = out
            .iter()
            .filter(|u| u.contains('%'))
            .map(|u| lowercase_escapes(u))
            .collect();
        out.extend(lower);
    }
    out
}

/// `%C3%A9` -> `%c3%a9`: the spelling of links written by tools that encode in lower case.
fn lowercase_escapes(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut chars = url.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

fn browser_spellings(path: &str, rules: &UrlRules) -> Vec<String> {
    let encoded = encode_path(path);
    if path == "index.html" || path.ends_with("/index.html") {
        let dir = &encoded[..encoded.len() - "index.html".len()];
        let mut out = vec![dir.to_string(), encoded.clone()];
        let bare = dir.trim_end_matches('/');
        if rules.index_without_slash && !bare.is_empty() {
            out.push(bare.to_string());
        }
        return out;
    }
    if rules.clean_urls
        && let Some(stem) = encoded.strip_suffix(".html")
        && !stem.is_empty()
        && !stem.ends_with('/')
    {
        return vec![encoded.clone(), stem.to_string()];
    }
    vec![encoded]
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| utf8_percent_encode(segment, PATH_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

impl UrlRules {
    /// Every URL under which `path` (relative to the output folder) is cached, for every base URL.
    pub fn urls_for(&self, path: &str) -> Vec<String> {
        let rel = spellings(path, self);
        let mut out = Vec::with_capacity((rel.len() + 1) * self.base_urls.len());
        for base in &self.base_urls {
            out.extend(rel.iter().map(|r| format!("{}{r}", base.as_str())));
            out.extend(self.bare_root(path, base).map(str::to_string));
        }
        out
    }

    /// Below a path prefix, the site root without its slash is a key of its own
    /// (`https://example.com/docs`), with `index_without_slash`.
    fn bare_root<'a>(&self, path: &str, base: &'a BaseUrl) -> Option<&'a str> {
        let bare = base.as_str().trim_end_matches('/');
        (self.index_without_slash && path == "index.html" && bare.matches('/').count() > 2)
            .then_some(bare)
    }

    /// How many URLs [`urls_for`](Self::urls_for) gives, without joining them to every base.
    pub fn count_for(&self, path: &str) -> usize {
        let roots = self
            .base_urls
            .iter()
            .filter(|b| self.bare_root(path, b).is_some())
            .count();
        spellings(path, self).len() * self.base_urls.len() + roots
    }

    /// What "everything of this site" covers, in purge terms: host names of base URLs at a host's
    /// root, and `host/path` prefixes of base URLs below a path (so other apps on the same host
    /// keep their cache).
    pub fn scopes(&self) -> (Vec<String>, Vec<String>) {
        self.scopes_by(BaseUrl::host)
    }

    /// [`scopes`](Self::scopes) naming each host by `name` (e.g. with its port).
    pub fn scopes_by(&self, name: impl Fn(&BaseUrl) -> &str) -> (Vec<String>, Vec<String>) {
        let mut hosts: Vec<String> = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        for b in &self.base_urls {
            let after_scheme = b.as_str().split_once("://").map_or(b.as_str(), |(_, r)| r);
            let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
            if path == "/" {
                if !hosts.iter().any(|h| h == name(b)) {
                    hosts.push(name(b).to_string());
                }
            } else {
                let prefix = format!("{}{}", name(b), path.trim_end_matches('/'));
                if !prefixes.contains(&prefix) {
                    prefixes.push(prefix);
                }
            }
        }
        // A host purged whole already covers its prefixes.
        prefixes.retain(|p| {
            !hosts
                .iter()
                .any(|h| p.split('/').next() == Some(h.as_str()))
        });
        (hosts, prefixes)
    }

    /// The names of the URL options turned on, sorted (recorded in the state).
    pub fn options(&self) -> Vec<String> {
        let mut on = Vec::new();
        if self.clean_urls {
            on.push("clean_urls".to_string());
        }
        if self.index_without_slash {
            on.push("index_without_slash".to_string());
        }
        if self.lowercase_escapes {
            on.push("lowercase_escapes".to_string());
        }
        on
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(bases: &[&str], index_without_slash: bool, clean_urls: bool) -> UrlRules {
        UrlRules {
            base_urls: bases
                .iter()
                .map(|b| BaseUrl::parse(b).expect("base"))
                .collect(),
            index_without_slash,
            clean_urls,
            lowercase_escapes: false,
        }
    }

    #[test]
    fn maps_paths_to_the_exact_cache_keys() {
        let one = &["https://example.com"];
        // (base URLs, index_without_slash, clean_urls, path, expected URLs)
        type Case<'a> = (&'a [&'a str], bool, bool, &'a str, &'a [&'a str]);
        let table: &[Case] = &[
            // root index
            (
                one,
                false,
                false,
                "index.html",
                &["https://example.com/", "https://example.com/index.html"],
            ),
            // nested index
            (
                one,
                false,
                false,
                "a/b/index.html",
                &[
                    "https://example.com/a/b/",
                    "https://example.com/a/b/index.html",
                ],
            ),
            // nested index without slash
            (
                one,
                true,
                false,
                "a/b/index.html",
                &[
                    "https://example.com/a/b/",
                    "https://example.com/a/b/index.html",
                    "https://example.com/a/b",
                ],
            ),
            // the bare host is the same key as the root
            (
                one,
                true,
                false,
                "index.html",
                &["https://example.com/", "https://example.com/index.html"],
            ),
            // plain file
            (one, false, false, "x.html", &["https://example.com/x.html"]),
            // clean URLs
            (
                one,
                false,
                true,
                "x.html",
                &["https://example.com/x.html", "https://example.com/x"],
            ),
            (
                one,
                false,
                true,
                "css/site.css",
                &["https://example.com/css/site.css"],
            ),
            // base path is kept
            (
                &["https://example.com/docs/"],
                false,
                false,
                "a/index.html",
                &[
                    "https://example.com/docs/a/",
                    "https://example.com/docs/a/index.html",
                ],
            ),
            (
                &["https://example.com/docs"],
                true,
                false,
                "index.html",
                &[
                    "https://example.com/docs/",
                    "https://example.com/docs/index.html",
                    "https://example.com/docs",
                ],
            ),
            // two hosts
            (
                &["https://example.com/", "https://www.example.com/"],
                false,
                false,
                "p.css",
                &["https://example.com/p.css", "https://www.example.com/p.css"],
            ),
            // space and non-ASCII
            (
                one,
                false,
                false,
                "my post/café.html",
                &["https://example.com/my%20post/caf%C3%A9.html"],
            ),
            // %, # and ? are encoded
            (
                one,
                false,
                false,
                "100%.html",
                &["https://example.com/100%25.html"],
            ),
            (
                one,
                false,
                false,
                "c#/notes.txt",
                &["https://example.com/c%23/notes.txt"],
            ),
            (
                one,
                false,
                false,
                "why?.html",
                &["https://example.com/why%3F.html"],
            ),
            // + and & stay as a browser sends them
            (
                one,
                false,
                false,
                "c++ & rust.html",
                &["https://example.com/c++%20&%20rust.html"],
            ),
            // case of the path is kept, host is lower-cased
            (
                &["HTTPS://Example.COM"],
                false,
                false,
                "Docs/README.TXT",
                &["https://example.com/Docs/README.TXT"],
            ),
            // port is kept
            (
                &["http://localhost:8080/"],
                false,
                false,
                "a.js",
                &["http://localhost:8080/a.js"],
            ),
        ];
        for (bases, iws, clean, path, expected) in table {
            let got = rules(bases, *iws, *clean).urls_for(path);
            assert_eq!(&got, expected, "{path} with {bases:?}");
            assert_eq!(rules(bases, *iws, *clean).count_for(path), expected.len());
        }
    }

    #[test]
    fn lowercase_escapes_add_the_lower_case_spelling_of_encoded_urls() {
        let mut r = rules(&["https://example.com/"], false, false);
        r.lowercase_escapes = true;
        assert_eq!(
            r.urls_for("café/index.html"),
            [
                "https://example.com/caf%C3%A9/",
                "https://example.com/caf%C3%A9/index.html",
                "https://example.com/caf%c3%a9/",
                "https://example.com/caf%c3%a9/index.html"
            ]
        );
        assert_eq!(r.urls_for("a.css"), ["https://example.com/a.css"]);
        assert_eq!(r.count_for("café/index.html"), 4);
    }

    #[test]
    fn non_ascii_hosts_become_punycode() {
        let r = rules(&["https://bücher.example/"], false, false);
        assert_eq!(r.urls_for("a.css"), ["https://xn--bcher-kva.example/a.css"]);
        assert_eq!(r.scopes().0, ["xn--bcher-kva.example"]);
    }

    #[test]
    fn rejects_base_urls_that_are_not_absolute_http() {
        for bad in [
            "example.com",
            "/docs/",
            "ftp://example.com/",
            "https://example.com/?a=1",
            "https://u:p@example.com/",
            "https://example.com/#x",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn everything_means_hosts_at_the_root_and_prefixes_below_a_path() {
        let r = rules(
            &[
                "https://example.com/",
                "https://www.example.com/",
                "https://docs.example.org/v2/",
                "https://example.com/blog/",
            ],
            false,
            false,
        );
        assert_eq!(
            r.scopes(),
            (
                vec!["example.com".to_string(), "www.example.com".to_string()],
                vec!["docs.example.org/v2".to_string()]
            )
        );
    }

    #[test]
    fn scopes_can_name_hosts_with_their_port() {
        let r = rules(
            &["http://example.test:8080/", "https://example.com/docs/"],
            false,
            false,
        );
        assert_eq!(
            r.scopes_by(BaseUrl::authority),
            (
                vec!["example.test:8080".to_string()],
                vec!["example.com/docs".to_string()]
            )
        );
        assert_eq!(r.base_urls[0].scheme(), "http");
    }

    #[test]
    fn a_base_url_with_a_password_is_refused_without_showing_it() {
        let err = BaseUrl::parse("https://u:hunter2@example.com/").expect_err("refused");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn hosts_are_deduplicated_in_order() {
        let r = rules(
            &[
                "https://www.example.com/",
                "https://example.com/",
                "https://example.com/docs/",
            ],
            false,
            false,
        );
        assert_eq!(r.scopes().0, ["www.example.com", "example.com"]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A site path: segments of letters, digits, space, accents and the characters that
        /// need or escape encoding (`%`, `#`, `?`, `+`, `&`, `|`).
        fn path() -> impl Strategy<Value = String> {
            let segment = "[a-zA-Z0-9 é%#?+&|._-]{1,8}";
            proptest::collection::vec(segment, 1..4).prop_map(|segs| segs.join("/"))
        }

        fn rules() -> UrlRules {
            UrlRules {
                base_urls: vec![
                    BaseUrl::parse("https://example.com/").expect("base"),
                    BaseUrl::parse("https://example.com/docs/").expect("base"),
                ],
                ..Default::default()
            }
        }

        proptest! {
            /// Two different files never share a URL (with the default options; `clean_urls`
            /// and `index_without_slash` map `x.html` and `x/index.html` onto a file `x` on
            /// purpose).
            #[test]
            fn different_paths_never_share_a_url(a in path(), b in path()) {
                prop_assume!(a != b);
                let rules = rules();
                let (ua, ub) = (rules.urls_for(&a), rules.urls_for(&b));
                for u in &ua {
                    prop_assert!(!ub.contains(u), "{a:?} and {b:?} both give {u}");
                }
            }

            /// Every URL is absolute under a base URL, with nothing a browser would encode.
            #[test]
            fn urls_are_absolute_and_encoded(p in path()) {
                for u in rules().urls_for(&p) {
                    prop_assert!(u.starts_with("https://example.com/"), "{u}");
                    let rest = &u["https://example.com/".len()..];
                    prop_assert!(
                        !rest.chars().any(|c| c == ' ' || c == '#' || c == '?' || !c.is_ascii()),
                        "{u}"
                    );
                    prop_assert_eq!(rules().count_for(&p), rules().urls_for(&p).len());
                }
            }
        }
    }
}
