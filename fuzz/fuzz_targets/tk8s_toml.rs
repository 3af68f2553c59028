//! `tk8s.toml` as the loader reads it: arbitrary text is a valid configuration or a
//! configuration error naming the file; never a panic, never a secret in the message.

#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use tk8s_config::{AppDefaults, Config};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let d = base.join(format!("tk8s-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("fuzz dir");
        d
    })
}

fuzz_target!(|text: &[u8]| {
    let Ok(text) = std::str::from_utf8(text) else { return };
    let file = dir().join("tk8s.toml");
    std::fs::write(&file, text).expect("write input");
    let env: BTreeMap<String, String> = [("TK8S_CONFIG".to_string(), file.display().to_string())].into();
    let app = AppDefaults { name: "fuzz".into(), task_queue: "fuzz".into(), workflow_input: String::new() };
    match Config::load(&tk8s_config::Inputs { env: &env, flags: &Default::default(), app: &app, cwd: dir() }) {
        Ok(config) => {
            let _ = config.show();
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("tk8s.toml") || message.contains("problem"), "{message}");
        }
    }
});
