//! Any site path, with any URL options: the mapping never panics, every URL is absolute under
//! a base URL and percent-encoded (ASCII, no raw space, `#` or `?`), the count agrees, and with
//! the default options two different paths never share a URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sitepurge::urls::{BaseUrl, UrlRules};

/// A path as the scan gives them (no file name holds a NUL).
fn is_site_path(p: &str) -> bool {
    !p.contains('\0') && sitepurge::manifest::is_site_path(p)
}

fuzz_target!(|input: (String, String, u8)| {
    let (a, b, options) = input;
    if !is_site_path(&a) || !is_site_path(&b) {
        return;
    }
    let base = BaseUrl::parse("https://example.com/docs/").expect("base");
    let rules = UrlRules {
        base_urls: vec![base],
        index_without_slash: options & 1 != 0,
        clean_urls: options & 2 != 0,
        lowercase_escapes: options & 4 != 0,
    };
    let urls = rules.urls_for(&a);
    assert_eq!(urls.len(), rules.count_for(&a));
    for u in &urls {
        // `/docs` itself too: the site's root without its slash (index_without_slash).
        let rest = u.strip_prefix("https://example.com/docs").expect("under the base URL");
        assert!(rest.is_empty() || rest.starts_with('/'), "{a:?} gave {u}");
        assert!(
            !rest.chars().any(|c| c == ' ' || c == '#' || c == '?' || !c.is_ascii()),
            "{a:?} gave {u}"
        );
    }
    if options & 3 == 0 && a != b {
        let other = rules.urls_for(&b);
        for u in &urls {
            assert!(!other.contains(u), "{a:?} and {b:?} both give {u}");
        }
    }
});
