//! Test support shared by integration tests: `mod support;` in a file under `tests/`.
//!
//! - [`cloudflare`]: a local fake of the Cloudflare v4 API (purge, zone lookup, token verify).
//! - [`openapi`]: the OpenAPI subset in `tests/fixtures/cloudflare/` and a validator for it.
//! - [`site`]: a site in a temp folder, and the `sitepurge` binary run in it, isolated.
//! - [`expect`]: expected URLs and hashes, a report's URLs, a clean run of the fake.
#![allow(dead_code)]

pub mod cloudflare;
pub mod expect;
pub mod openapi;
pub mod site;
