//! The replay gate against a real dev server and real builds: v1 runs workflows (some completed,
//! some left open on a long timer); replaying them with v2 (an activity inserted before an
//! existing one) fails and names exactly those workflows; v3 (the same change behind
//! `patched()`) and v1 pass. Histories from the server, from saved files, and both. Encrypted
//! histories decode with the key ring; without the key the failure names the key, not
//! non-determinism. A few thousand histories replay in bounded memory.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tk8s_testkit::{COMPLETED, DevServer, Host, wait_until};

const KEY_1: &str = "k1=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_2: &str = "k2=HxgdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_replay-family"))
}

fn env(server: &DevServer, version: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env = tk8s_testkit::app_env(&server.address());
    env.insert("REPLAY_FAMILY_VERSION".into(), version.into());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// `replay-family replay ARGS` as build `version`: exit code and the JSON report.
fn replay(server: &DevServer, version: &str, args: &[&str], extra: &[(&str, &str)]) -> (i32, Value, String) {
    let out = Command::new(binary())
        .arg("replay")
        .args(["--output", "json"])
        .args(args)
        .env_clear()
        .envs(env(server, version, extra))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

fn failed_ids(report: &Value) -> BTreeSet<String> {
    report["failures"].as_array().into_iter().flatten().map(|f| f["workflow_id"].as_str().unwrap_or_default().to_string()).collect()
}

/// Run v1's worker and start `short` completed and `long` open workflows with `prefix`.
fn run_v1(server: &DevServer, prefix: &str, short: usize, long: usize, extra: &[(&str, &str)]) -> BTreeSet<String> {
    let worker = Host::spawn(binary(), &["worker"], &env(server, "1", extra));
    assert!(worker.wait_ready(Duration::from_secs(30)), "{}", worker.proc.output());
    let start = |input: &str, n: usize, wait: &str| {
        if n == 0 {
            return;
        }
        let mut o = Host::spawn(
            binary(),
            &["orchestrator"],
            &env(
                server,
                "1",
                &[
                    extra,
                    &[
                        ("TK8S_ORCHESTRATOR_COUNT", &n.to_string()),
                        ("TK8S_WORKFLOW_INPUT", input),
                        ("TK8S_WORKFLOW_ID_PREFIX", &format!("{prefix}-{input}")),
                        ("TK8S_ORCHESTRATOR_WAIT", wait),
                    ],
                ]
                .concat(),
            ),
        );
        assert_eq!(o.proc.wait_exit(Duration::from_secs(60)).and_then(|s| s.code()), Some(0), "{}", o.proc.output());
    };
    start("short", short, "true");
    start("long", long, "false");
    let ids: BTreeSet<String> =
        (1..=short).map(|n| format!("{prefix}-short-once-{n}")).chain((1..=long).map(|n| format!("{prefix}-long-once-{n}"))).collect();
    // The long ones have run their activity and sit on the timer: open, with history to replay.
    for n in 1..=long {
        let id = format!("{prefix}-long-once-{n}");
        assert!(
            wait_until(Duration::from_secs(30), || server.history_event_types(&id).iter().any(|e| e.contains("TIMER_STARTED"))),
            "{id}: {:?}",
            server.history_event_types(&id)
        );
    }
    let statuses = server.statuses(&format!("WorkflowId STARTS_WITH '{prefix}-'"));
    assert_eq!(statuses.values().filter(|s| *s == COMPLETED).count(), short, "{statuses:?}");
    drop(worker);
    ids
}

#[test]
fn an_incompatible_build_is_refused_and_names_every_affected_workflow() {
    let server = DevServer::start();
    let ids = run_v1(&server, "gate", 3, 2, &[]);
    // From the server.
    let (code, report, text) = replay(&server, "1", &[], &[]);
    assert_eq!((code, report["replayed"].as_u64()), (0, Some(5)), "v1 replays its own histories:\n{text}");
    let (code, report, text) = replay(&server, "2", &[], &[]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(failed_ids(&report), ids, "exactly the affected workflows:\n{text}");
    assert!(
        report["failures"].as_array().unwrap().iter().all(|f| f["kind"] == "nondeterminism" && f["workflow_type"] == "OrderWorkflow"),
        "{text}"
    );
    let (code, _, text) = replay(&server, "3", &[], &[]);
    assert_eq!(code, 0, "v3 guards the change with patched():\n{text}");
    // What a user sees on a terminal.
    let out = Command::new(binary()).arg("replay").env_clear().envs(env(&server, "2", &[])).output().unwrap();
    let human = String::from_utf8_lossy(&out.stdout);
    eprintln!("gate: v2's verdict as printed:\n{human}");
    assert!(human.contains("FAILED OrderWorkflow gate-long-once-1") && human.contains("nondeterminism"), "{human}");

    // Saved, then from files only (no server needed: CI's corpus), then both.
    let corpus = tempfile::tempdir().unwrap();
    let save = corpus.path().to_str().unwrap();
    assert_eq!(replay(&server, "1", &["--save", save], &[]).0, 0);
    let files = std::fs::read_dir(corpus.path().join("OrderWorkflow")).unwrap().count();
    assert_eq!(files, 5);
    let offline = [("TEMPORAL_ADDRESS", "127.0.0.1:1")];
    let (code, report, text) = replay(&server, "2", &["--from", save], &offline);
    assert_eq!((code, failed_ids(&report)), (1, ids.clone()), "{text}");
    assert_eq!(report["from_namespace"], 0, "files only");
    let (code, report, text) = replay(&server, "3", &["--from", save], &offline);
    assert_eq!((code, report["replayed"].as_u64()), (0, Some(5)), "{text}");
    let (code, report, text) = replay(&server, "1", &["--from", save, "--server"], &[]);
    assert_eq!((code, report["replayed"].as_u64(), report["from_files"].as_u64()), (0, Some(10), Some(5)), "{text}");
    // Temporal unreachable: a distinct exit code.
    let (code, _, text) = replay(&server, "1", &[], &[("TEMPORAL_ADDRESS", "127.0.0.1:1"), ("TK8S_CONNECT_TIMEOUT", "1s")]);
    assert_eq!(code, 69, "{text}");
}

#[test]
fn encrypted_histories_replay_with_the_key_ring_and_a_missing_key_is_named() {
    let server = DevServer::start();
    run_v1(&server, "enc", 2, 1, &[("TK8S_CODEC_KEYS", KEY_1)]);
    let (code, report, text) = replay(&server, "1", &[], &[("TK8S_CODEC_KEYS", KEY_1)]);
    assert_eq!((code, report["replayed"].as_u64()), (0, Some(3)), "{text}");
    let (code, report, text) = replay(&server, "1", &[], &[("TK8S_CODEC_KEYS", KEY_2)]);
    assert_eq!(code, 65, "undecodable, not non-deterministic:\n{text}");
    let failure = &report["failures"][0];
    assert_eq!(failure["kind"], "undecodable", "{text}");
    assert!(
        failure["message"].as_str().unwrap().contains("under key k1") && failure["message"].as_str().unwrap().contains("TK8S_CODEC_KEYS"),
        "{text}"
    );
    assert!(!text.contains("AAECAwQF"), "no key material printed");
    let (code, report, text) = replay(&server, "1", &[], &[]);
    assert_eq!(code, 65, "{text}");
    assert!(report["failures"][0]["message"].as_str().unwrap().contains("no keys are configured"), "{text}");
}

#[test]
fn thousands_of_histories_replay_in_bounded_memory() {
    let server = DevServer::start();
    run_v1(&server, "mem", 1, 0, &[]);
    let corpus = tempfile::tempdir().unwrap();
    assert_eq!(replay(&server, "1", &["--save", corpus.path().to_str().unwrap()], &[]).0, 0);
    let one = std::fs::read_dir(corpus.path().join("OrderWorkflow")).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(&one).unwrap();
    let measure = |n: usize| {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..n {
            std::fs::write(dir.path().join(format!("h{i:05}.json")), &text).unwrap();
        }
        let (code, report, out) = replay(&server, "1", &["--from", dir.path().to_str().unwrap()], &[("TEMPORAL_ADDRESS", "127.0.0.1:1")]);
        assert_eq!((code, report["replayed"].as_u64()), (0, Some(n as u64)), "{out}");
        let (rss, secs, events) =
            (report["peak_rss_bytes"].as_u64().unwrap(), report["seconds"].as_f64().unwrap(), report["events"].as_u64().unwrap());
        eprintln!(
            "gate: {n} histories: peak RSS {:.1} MiB, {:.0} histories/s, {:.0} events/s",
            rss as f64 / 1048576.0,
            n as f64 / secs,
            events as f64 / secs
        );
        rss
    };
    let (few, many) = (measure(250), measure(2500));
    assert!(many < few * 3 / 2, "10x the histories took {many} bytes against {few}: memory grows with the count");
}
