//! The ready-made hooks in `hooks/`: each one is checked here so none can rot.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `Key=value` lines of a systemd unit, in order.
fn directives(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('[') && l.contains('='))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn value<'a>(d: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    d.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn systemd_unit_runs_watch_hardened_with_the_token_as_a_credential() {
    let unit = read("hooks/systemd/sitepurge-watch.service");
    let d = directives(&unit);
    let exec = value(&d, "ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(exec[0].contains("sitepurge watch --config /etc/sitepurge/sitepurge.toml"));
    assert_eq!(value(&d, "ProtectSystem"), ["strict"]);
    assert_eq!(value(&d, "NoNewPrivileges"), ["yes"]);
    assert_eq!(value(&d, "Restart"), ["on-failure"]);
    // Writable: the state folder, and nothing else.
    assert_eq!(value(&d, "ReadWritePaths"), ["/var/lib/sitepurge"]);
    assert_eq!(value(&d, "StateDirectory"), ["sitepurge"]);
    assert_eq!(
        value(&d, "LoadCredential"),
        ["cloudflare-token:/etc/sitepurge/cloudflare-token"]
    );
    // No secret in the unit: no token in an Environment= line.
    assert!(value(&d, "Environment").iter().all(|e| !e.contains("TOKEN")));
}

#[test]
fn systemd_config_reads_the_credential_and_keeps_state_where_the_unit_allows() {
    let config = read("hooks/systemd/sitepurge.toml");
    let table: toml::Table = toml::from_str(&config).expect("valid TOML");
    // The unit is sitepurge-watch.service and its credential is named cloudflare-token.
    assert_eq!(
        table["token_file"].as_str(),
        Some("/run/credentials/sitepurge-watch.service/cloudflare-token")
    );
    let state = table["state"].as_str().expect("state");
    assert!(state.starts_with("/var/lib/sitepurge/"), "{state}");
    // sitepurge itself accepts the file: it gets as far as looking for the docroot.
    let out = Command::new(assert_cmd::cargo::cargo_bin("sitepurge"))
        .args(["plan", "--config"])
        .arg(repo("hooks/systemd/sitepurge.toml"))
        .env_remove("SITEPURGE_DIR")
        .output()
        .expect("run sitepurge");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("output folder /srv/www/example.com/public does not exist"),
        "{err}"
    );
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let Ok(analyze) = which("systemd-analyze") else {
        panic!("systemd-analyze is missing: apt-get install systemd");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = assert_cmd::cargo::cargo_bin("sitepurge");
    let unit = read("hooks/systemd/sitepurge-watch.service")
        .replace("/usr/local/bin/sitepurge", &bin.display().to_string());
    let path = dir.path().join("sitepurge-watch.service");
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Only complaints about this unit count (the host may have broken units of its own).
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sitepurge-watch.service"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze verify: {text}");
}

fn which(cmd: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(cmd))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
