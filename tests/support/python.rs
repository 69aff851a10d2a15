//! Stand-ins written in Python, run with the interpreter of `.test-tools/` (tests/run-all.sh
//! installs moto[server] and edgegrid-python there): `moto_cloudfront.py` (moto's CloudFront,
//! signature checks on) and `edgegrid_server.py` (Akamai Fast Purge, each request's signature
//! checked with edgegrid-python). Each prints one JSON line when ready, then answers one JSON
//! line per command on stdin; closing stdin stops it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

/// The Python of `.test-tools/` (build.rs says where it found it).
pub fn python() -> PathBuf {
    PathBuf::from(env!("SITEPURGE_TEST_PYTHON"))
}

/// A running stand-in.
pub struct Script {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// What it printed when ready.
    pub ready: Value,
}

impl Script {
    /// Starts `tests/support/{name}` and waits for its first line.
    pub fn start(name: &str) -> Script {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support")
            .join(name);
        let mut child = Command::new(python())
            .arg(&script)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", python().display()));
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the ready line");
        let ready = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{name} did not start ({e}): {line:?}"));
        Script {
            child,
            stdin,
            stdout,
            ready,
        }
    }

    /// Sends one command and reads its answer.
    pub fn ask(&mut self, command: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("running");
        writeln!(stdin, "{command}").expect("send command");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{command}: {e}: {line:?}"))
    }

    /// A string the stand-in printed when ready.
    pub fn get(&self, key: &str) -> String {
        self.ready[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.ready))
            .to_string()
    }

    /// The requests received since the last call: `{method, path, headers, body}`.
    pub fn requests(&mut self) -> Vec<Value> {
        self.ask("requests")
            .as_array()
            .cloned()
            .expect("a list of requests")
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
