//! The codec server's OpenAPI description in `docs/` is valid (checked by the real
//! openapi-spec-validator) and names every route the server answers.

use std::path::Path;
use std::process::Command;

#[test]
fn openapi_description_is_valid_and_complete() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spec = root.join("docs/codec-server.openapi.yaml");
    let validator = root.join(".venv/bin/openapi-spec-validator");
    assert!(validator.is_file(), "openapi-spec-validator is not installed: run `cargo xtask tools`");
    let out = Command::new(&validator).arg(&spec).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&spec).unwrap();
    for path in ["/encode:", "/decode:", "/{namespace}/encode:", "/{namespace}/decode:", "/livez:", "/readyz:", "/metrics:"] {
        assert!(text.contains(&format!("  {path}")), "spec lacks {path}");
    }
    for code in ["'400'", "'401'", "'405'", "'413'", "'403'"] {
        assert!(text.contains(code), "spec lacks status {code}");
    }
}
