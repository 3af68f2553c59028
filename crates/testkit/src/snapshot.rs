//! Committed text snapshots: a test compares output with a file in the repository and fails
//! with a diff summary when they differ; `TK8S_BLESS=1` rewrites the file instead.

use std::path::Path;

/// Compare `actual` with the snapshot at `path` (relative paths are the caller's to resolve).
pub fn assert_snapshot(path: &Path, actual: &str) {
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return;
    }
    if std::env::var_os("TK8S_BLESS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the snapshot directory");
        }
        std::fs::write(path, actual).expect("write the snapshot");
        return;
    }
    let first =
        expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(expected.lines().count().min(actual.lines().count()));
    panic!(
        "{} is stale (first difference at line {}):\n--- expected\n{}\n--- actual\n{}\nrun the test with TK8S_BLESS=1 to accept the new output",
        path.display(),
        first + 1,
        expected.lines().nth(first).unwrap_or("<end>"),
        actual.lines().nth(first).unwrap_or("<end>"),
    );
}
