//! The deploy config parser and the renderer behind it: arbitrary text is refused with an error
//! naming the file, or renders (every object, every output file) without a panic.

#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|text: &[u8]| {
    let Ok(text) = std::str::from_utf8(text) else { return };
    match tk8s_render::DeployConfig::parse(Path::new("deploy.toml"), text) {
        Ok(config) => {
            let _ = tk8s_render::files(&config);
        }
        Err(e) => assert!(e.to_string().contains("deploy.toml"), "{e}"),
    }
});
