//! What a command reads from its surroundings: the current folder, the clock and the
//! environment. Passed in, never read from globals, so tests control all three.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// What the pipeline reads from its surroundings, passed in so tests control it.
#[derive(Debug, Clone)]
pub struct Context {
    pub cwd: PathBuf,
    pub now: SystemTime,
    /// The environment (`CLOUDFLARE_*`, and variables named by `[http_purge]` headers).
    pub env: BTreeMap<String, String>,
}
