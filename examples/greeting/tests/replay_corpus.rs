//! The replay gate in CI: the committed histories in `examples/greeting/replay` must replay with
//! this build of the greeting workflow, with no Temporal server at all.

use std::process::Command;

#[test]
fn the_committed_corpus_replays_with_this_build() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("replay");
    let out = Command::new(env!("CARGO_BIN_EXE_greeting"))
        .args(["replay", "--output", "json", "--from"])
        .arg(&corpus)
        .env_clear()
        .env("HOME", "/nonexistent")
        // Nothing listens here: files only, as in CI.
        .env("TEMPORAL_ADDRESS", "127.0.0.1:1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "the greeting workflow no longer replays its committed histories:\n{text}");
    let report: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert!(report["replayed"].as_u64() >= Some(3), "{text}");
    assert_eq!(report["from_namespace"], 0);
}
