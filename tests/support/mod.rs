//! Test support shared by integration tests: `mod support;` in a file under `tests/`.
//!
//! - [`cloudflare`]: a local fake of the Cloudflare v4 API (purge, zone lookup, token verify).
//! - [`openapi`]: the OpenAPI subset in `tests/fixtures/cloudflare/` and a validator for it.
#![allow(dead_code)]

pub mod cloudflare;
pub mod openapi;
