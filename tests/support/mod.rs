//! Test support shared by the suites in `tests/suite/`, one test binary (`tests/suite/main.rs`).
//!
//! - [`cloudflare`]: a local fake of the Cloudflare v4 API (purge, zone lookup, token verify).
//! - [`bunny`]: a stand-in for the bunny.net purge API, checked against `tests/fixtures/bunny/`.
//! - [`fake_api`]: a loopback server for the small API stand-ins below.
//! - [`fastly`]: a stand-in for the Fastly purge API, checked against `tests/fixtures/fastly/`.
//! - [`openapi`]: the OpenAPI subset in `tests/fixtures/cloudflare/` and a validator for it.
//! - [`site`]: a site in a temp folder, and the `sitepurge` binary run in it, isolated.
//! - [`expect`]: expected URLs and hashes, a report's URLs, a clean run of the fake.
//! - [`purged`]: what a rebuild should purge, from the two builds' bytes, and the check of it.
//! - [`origin`]: a static origin server on loopback, for the tests against a real cache.
//! - [`noise`]: what a preset's rules blank in a real build, through `sitepurge explain`.
//! - [`python`]: the stand-ins written in Python (moto's CloudFront, an EdgeGrid-checking
//!   Fast Purge), run with the interpreter of `.test-tools/`.
//! - [`stub`]: a loopback peer that answers every request with one status (a cache, a proxy).
//! - [`cache`]: browser requests to a real cache, its server process, its recipe, sitepurge
//!   run against it.
#![allow(dead_code)]

#[cfg(unix)]
pub mod cache;
pub mod bunny;
pub mod cloudflare;
pub mod expect;
pub mod noise;
pub mod fake_api;
pub mod fastly;
pub mod openapi;
pub mod origin;
pub mod purged;
pub mod python;
pub mod site;
pub mod stub;
