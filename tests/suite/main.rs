//! The integration tests, one binary: each module is a suite, sharing `support`. Built once,
//! so `cargo test` links the 3,000 lines of support code once instead of once per suite.
//! Tests that need an outside program are skipped with the reason when it is missing (build.rs),
//! unless CI is set.

#[path = "../support/mod.rs"]
mod support;

mod akamai;
mod bunny;
mod cli;
mod cloudflare;
mod cloudfront;
mod fake_cloudflare;
mod fastly;
mod generators;
mod generators_python;
mod generators_node;
mod hooks;
mod nginx;
mod properties;
mod publish;
mod soak;
mod squid;
mod varnish;
mod watch;
