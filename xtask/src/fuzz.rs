//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/`, one after the other.

use crate::{Result, root, run};
use std::process::{Command, Stdio};

const FUZZ_TARGETS: &[&str] = &["codec_decode", "codec_server_body", "tk8s_toml", "deploy_config"];

/// Run each fuzz target for a while; report executions and crashes (the crash inputs stay in
/// `fuzz/artifacts/<target>/`, to be turned into regression tests).
pub fn fuzz(args: &[String]) -> Result {
    let mut seconds = 60u64;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().and_then(|s| s.parse().ok()).ok_or("--seconds takes a number")?,
            t if FUZZ_TARGETS.contains(&t) => targets.push(t),
            other => return Err(format!("unknown fuzz target or flag {other:?}; targets: {}", FUZZ_TARGETS.join(", "))),
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.to_vec();
    }
    let have_fuzz =
        Command::new("cargo").args(["fuzz", "--version"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if !have_fuzz {
        eprintln!("xtask: installing cargo-fuzz (crates registry)");
        run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    let fuzz_dir = root().join("fuzz");
    let mut rows = Vec::new();
    for target in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let out = Command::new("cargo")
            .current_dir(&fuzz_dir)
            .env_remove("CARGO_TARGET_DIR")
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .arg(fuzz_dir.join("seeds").join(target))
            .args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1", "-rss_limit_mb=4096"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr).to_string();
        let stat = |name: &str| log.lines().find_map(|l| l.strip_prefix(name)?.trim().trim_start_matches(':').trim().parse::<u64>().ok());
        let execs = stat("stat::number_of_executed_units").unwrap_or(0);
        let crashed = !out.status.success();
        let artifacts: Vec<String> = std::fs::read_dir(fuzz_dir.join("artifacts").join(target))
            .map(|d| d.flatten().map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        println!("{target}: {execs} executions in {seconds} s, {}", if crashed { "CRASH (see below)" } else { "no crash" });
        if crashed {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            println!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        rows.push(format!(
            "{{\"target\": \"{target}\", \"seconds\": {seconds}, \"executions\": {execs}, \"crashed\": {crashed}, \"artifacts\": {}}}",
            artifacts.len()
        ));
    }
    let dir = root().join("bench/results");
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("fuzz.json"), format!("{{\n  \"fuzz\": [\n    {}\n  ]\n}}\n", rows.join(",\n    ")))
        .map_err(|e| format!("write fuzz.json: {e}"))?;
    Ok(())
}
