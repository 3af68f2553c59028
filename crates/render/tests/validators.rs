//! The committed deploy assets pass the tools operators already trust: checkov (zero failed
//! checks; skips only with a written reason), hadolint, `docker-compose config`, and promtool
//! (`check rules`, `test rules`, `check config`).

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::{controller_outputs, root};

fn tool(venv: &str, name: &str) -> PathBuf {
    let p = root().join(venv).join("bin").join(name);
    assert!(p.is_file(), "{name} is not installed: run `cargo xtask tools`");
    p
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.current_dir(root()).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn checkov_finds_no_failed_checks_in_manifests_or_dockerfile() {
    let checkov = tool(".venv-checkov", "checkov");
    let manifests =
        run(Command::new(&checkov).args(["--skip-download", "--compact", "--framework", "kubernetes", "-d", "deploy/greeting/plain"]));
    assert!(manifests.contains("Failed checks: 0"), "{manifests}");
    let skips: usize = std::fs::read_to_string(root().join("examples/greeting/deploy.toml")).unwrap().matches("[[skip_checks]]").count();
    let deployments = std::fs::read_dir(root().join("deploy/greeting/plain"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name().to_string_lossy().to_string();
            name.starts_with("deployment-") || name.starts_with("job-")
        })
        .count();
    assert!(deployments >= 4, "worker, orchestrator, scaler and the replay gate");
    assert!(
        manifests.contains(&format!("Skipped checks: {}", skips * deployments)),
        "only the reasoned skips, on each of the {deployments} workloads:\n{manifests}"
    );
    // The chart, with helm on PATH (without it checkov silently scans nothing).
    let path = format!("{}:{}", root().join(".tools/bin").display(), std::env::var("PATH").unwrap_or_default());
    let chart = run(Command::new(&checkov).env("PATH", path).args([
        "--skip-download",
        "--compact",
        "--framework",
        "helm",
        "-d",
        "deploy/greeting/helm",
    ]));
    assert!(chart.contains("Failed checks: 0") && chart.contains("Passed checks: "), "{chart}");
    assert!(!chart.contains("Passed checks: 0,"), "checkov scanned nothing in the chart:\n{chart}");
    // Under the temporal-worker-controller: the worker's pod template (as a PodTemplate, which
    // checkov scans like a Deployment's) and everything else rendered.
    for config in [common::controller_mtls(), common::controller_api_key(), common::sdk_python(), common::sdk_typescript()] {
        // Not a dot-directory: checkov skips hidden paths.
        let dir = tempfile::Builder::new().prefix("tk8s-checkov-").tempdir().unwrap();
        for o in tk8s_render::objects(&config) {
            std::fs::write(dir.path().join(&o.file), tk8s_render::to_yaml(&o.value)).unwrap();
        }
        let outputs = controller_outputs(&tk8s_render::objects(&config));
        assert_eq!(outputs.iter().any(|(_, v)| v["kind"] == "PodTemplate"), config.worker.controller.is_some());
        for (file, value) in &outputs {
            std::fs::write(dir.path().join(file), tk8s_render::to_yaml(value)).unwrap();
        }
        let workloads =
            tk8s_render::objects(&config).iter().filter(|o| matches!(o.value["kind"].as_str(), Some("Deployment" | "Job"))).count()
                + outputs.iter().filter(|(_, v)| v["kind"] == "PodTemplate").count();
        let out = run(Command::new(&checkov).args(["--skip-download", "--framework", "kubernetes", "-o", "json", "-d"]).arg(dir.path()));
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        // One report per framework found (a list), or the report itself.
        let report = match parsed {
            serde_json::Value::Array(list) => list.into_iter().find(|r| r["check_type"] == "kubernetes").expect("a kubernetes report"),
            report => report,
        };
        assert_eq!(report["summary"]["failed"], 0, "{:#}", report["results"]["failed_checks"]);
        // The reasoned skips, one per workload; an SDK worker with an API key adds its own (the key
        // as an env var, which is all Temporal's envconfig reads).
        let sdk_api_key = usize::from(config.worker.sdk != tk8s_render::Sdk::Tk8s && config.temporal.auth == tk8s_render::Auth::ApiKey);
        assert_eq!(report["summary"]["skipped"], skips * workloads + sdk_api_key, "only the reasoned skips");
        let scanned =
            if config.worker.controller.is_some() { "PodTemplate.greeting.greeting-worker" } else { "Deployment.greeting.greeting-worker" };
        let on_worker = report["results"]["passed_checks"].as_array().unwrap().iter().filter(|c| c["resource"] == scanned).count();
        assert!(on_worker > 20, "checkov barely scanned the worker ({on_worker} checks on {scanned})");
    }
    let docker =
        run(Command::new(&checkov).args(["--skip-download", "--compact", "--framework", "dockerfile", "-f", "deploy/docker/Dockerfile"]));
    assert!(docker.contains("Failed checks: 0") && docker.contains("Skipped checks: 0"), "{docker}");
}

#[test]
fn hadolint_and_compose_accept_the_container_assets() {
    let hadolint = run(Command::new(tool(".venv", "hadolint")).args(["--failure-threshold", "info", "deploy/docker/Dockerfile"]));
    assert!(hadolint.trim().is_empty(), "hadolint findings:\n{hadolint}");
    run(Command::new(tool(".venv", "docker-compose")).args(["-f", "deploy/docker/compose.yaml", "config", "-q"]));
    let compose =
        run(Command::new(tool(".venv", "docker-compose")).args(["-f", "deploy/docker/compose.yaml", "config", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&compose).unwrap();
    for service in ["worker", "orchestrator", "temporal", "postgres", "prometheus"] {
        assert!(!v["services"][service]["healthcheck"].is_null(), "{service} has no healthcheck");
    }
    assert_eq!(v["services"]["worker"]["depends_on"]["temporal"]["condition"], "service_healthy");
}

#[test]
fn promtool_accepts_and_unit_tests_the_alert_rules() {
    let check = run(Command::new("promtool").args(["check", "rules", "deploy/greeting/prometheus/rules.yaml"]));
    assert!(check.contains("SUCCESS: 5 rules found"), "{check}");
    run(Command::new("promtool").args(["test", "rules", "crates/render/tests/alerts.test.yaml"]));
    run(Command::new("promtool").args(["check", "config", "deploy/docker/prometheus.yml"]));
}

#[test]
fn every_dashboard_expression_is_valid_promql() {
    let config = tk8s_render::DeployConfig::load(&root().join("examples/greeting/deploy.toml")).unwrap();
    let panels = tk8s_render::dashboard_panels(&config);
    assert!(panels.len() >= 6);
    // promtool parses the expressions when they are recording rules.
    let rules: Vec<serde_json::Value> = panels
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| serde_json::json!({ "record": format!("tk8s:dashboard_panel_{i}"), "expr": expr }))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-rules.yaml");
    std::fs::write(&file, tk8s_render::to_yaml(&serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] }))).unwrap();
    let out = run(Command::new("promtool").arg("check").arg("rules").arg(&file));
    assert!(out.contains(&format!("SUCCESS: {} rules found", panels.len())), "{out}");
    let rendered = std::fs::read_to_string(root().join("deploy/greeting/plain/configmap-dashboard.yaml")).unwrap();
    let cm: serde_json::Value = tk8s_render::parse_documents(&rendered).unwrap().remove(0);
    let dashboard: serde_json::Value = serde_json::from_str(cm["data"]["greeting.json"].as_str().unwrap()).unwrap();
    assert_eq!(dashboard["panels"].as_array().unwrap().len(), panels.len());
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
}
