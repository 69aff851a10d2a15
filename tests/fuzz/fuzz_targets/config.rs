//! Any text as sitepurge.toml: parsing never panics, and an error never quotes the file's text,
//! which may hold a secret header value. The corpus seeds carry the marker `S3cr3tV4lu3` in
//! header values; whatever the fuzzer makes of them, the marker must never reach a message.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SECRET: &str = "S3cr3tV4lu3";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("sitepurge.toml");
    if let Err(e) = sitepurge::config::parse_file(text, path) {
        let message = e.to_string();
        assert!(!message.contains(SECRET), "{message}");
    }
});
