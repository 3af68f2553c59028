//! Start-up against a Temporal that is not there: the connect timeout is honoured (no sooner,
//! which a back-off that overshoots used to do: 10 s gave up after 6.2 s), and the failure says
//! why, a name that does not resolve included.

use std::process::Command;
use std::time::{Duration, Instant};

fn worker(address: &str, timeout: &str) -> (Option<i32>, String, Duration) {
    let mut env = tk8s_testkit::app_env(address);
    env.insert(tk8s_config::spec::TEMPORAL_CONNECT_TIMEOUT.env.into(), timeout.into());
    env.insert(tk8s_config::spec::ADMIN_PORT.env.into(), "0".into());
    env.insert(tk8s_config::spec::ADMIN_BIND.env.into(), "127.0.0.1".into());
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_greeting")).arg("worker").env_clear().envs(&env).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text, started.elapsed())
}

#[test]
fn the_connect_timeout_is_waited_out_in_full_then_the_failure_is_explained() {
    let (code, text, took) = worker("127.0.0.1:1", "3s");
    assert_eq!(code, Some(1), "{text}");
    assert!(took >= Duration::from_secs(3), "gave up after {took:?}, before the 3s timeout:\n{text}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(text.contains("nothing accepts connections"), "{text}");
}

#[test]
fn a_host_name_that_does_not_resolve_gets_its_own_hint() {
    let (code, text, _) = worker("no-such-host.invalid:7233", "1s");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("does not resolve") && text.contains("svc.cluster.local"), "{text}");
}
