//! Any bytes as the state file: loading never panics; a state that loads names only paths
//! inside the site, and saves and loads back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sitepurge::manifest;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("sitepurge-fuzz-state-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("state.json");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(Some(state)) = manifest::load(&path) else {
        return;
    };
    for (p, _) in state.files.iter() {
        assert!(manifest::is_site_path(p), "{p:?} loaded");
    }
    for p in &state.pending {
        assert!(manifest::is_site_path(p), "pending {p:?} loaded");
    }
    let again = dir.join("again.json");
    manifest::save(&again, &state).expect("save");
    let back = manifest::load(&again).expect("load").expect("a state");
    assert_eq!(back, state);
});
