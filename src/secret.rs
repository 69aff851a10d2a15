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
}
