//! A credential that can be used but never shown: `Debug` prints a placeholder and there is no
//! `Display`, so a secret cannot reach output, logs or error messages by accident.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `text` with any user name and password of a URL in it blanked, for messages.
pub fn redact(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    // Up to the last '@' anywhere: a password may hold an unencoded '/', '?' or '#', and
    // blanking a path by mistake costs nothing.
    let rest = &text[scheme_end + 3..];
    match rest.rfind('@') {
        Some(at) => format!("{}://***@{}", &text[..scheme_end], &rest[at + 1..]),
        None => text.to_string(),
    }
}

/// Whether `url` goes to this machine only (a loopback address or `localhost`): the one place
/// where a secret may travel over plain http, since it never leaves the machine.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("abc123-very-secret");
        let shown = format!("{s:?} {:?}", Some(&s));
        assert!(!shown.contains("abc123"), "{shown}");
        assert_eq!(s.expose(), "abc123-very-secret");
    }

    #[test]
    fn passwords_in_urls_never_reach_messages() {
        assert_eq!(
            redact("https://u:hunter2@example.com/x"),
            "https://***@example.com/x"
        );
        assert_eq!(
            redact("https://deploy:hunter#2@example.com/"),
            "https://***@example.com/"
        );
        assert_eq!(redact("no url"), "no url");
    }
}
