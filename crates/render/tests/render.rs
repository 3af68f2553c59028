//! `tk8s render` proven by the validators the ecosystem trusts (kubernetes-validate --strict for
//! Kubernetes 1.30 and 1.35, `kubectl kustomize`), the committed greeting assets kept current,
//! and `tk8s lint` catching each Temporal-specific mistake.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tk8s_render::{DeployConfig, files, lint, objects, objects_for, parse_documents};

mod common;
use common::{controller_api_key, controller_mtls, controller_outputs, find_value, greeting, root};

/// Variants that exercise the other auth modes, encryption from a Secret and from the Secrets
/// Store CSI driver, a VPA, and KEDA.
fn variants() -> Vec<(&'static str, DeployConfig)> {
    let base = root().join("examples/greeting/deploy.toml");
    let text = std::fs::read_to_string(&base).unwrap();
    let mtls = text.replace("auth = \"none\"", "auth = \"mtls\"\ntls_secret = \"greeting-temporal-tls\"\nserver_name = \"temporal.example.com\"")
        .replace("# [encryption]\n# key_secret = \"greeting-codec-keys\"", "[encryption]\nkey_secret = \"greeting-codec-keys\"\n[encryption.secret_provider]\nprovider = \"azure\"\nparameters = { keyvaultName = \"greeting-kv\", tenantId = \"00000000-0000-0000-0000-000000000000\" }")
        .replace("spread = true", "spread = true\nvpa = \"Off\"\nreadiness_gates = [\"target-health.elbv2.k8s.aws/greeting\"]");
    let api_key = text
        .replace("auth = \"none\"", "auth = \"api-key\"\napi_key_secret = \"greeting-temporal-api-key\"")
        .replace("# [encryption]\n# key_secret", "[encryption]\nkey_secret")
        .replace("mode = \"hpa\"", "mode = \"keda\"");
    let keda_backlog = text.replace("mode = \"hpa\"", "mode = \"keda\"").replace("# signal = \"backlog\"", "signal = \"backlog\"");
    vec![
        ("greeting", greeting()),
        ("keda+backlog", DeployConfig::parse(&base, &keda_backlog).unwrap()),
        ("mtls+encryption", DeployConfig::parse(&base, &mtls).unwrap()),
        ("api-key+keda", DeployConfig::parse(&base, &api_key).unwrap()),
        ("controller+mtls", controller_mtls()),
        ("controller+api-key", controller_api_key()),
        ("sdk-python", common::sdk_python()),
        ("sdk-typescript", common::sdk_typescript()),
    ]
}

#[test]
fn controller_mode_hands_the_worker_to_the_temporal_worker_controller() {
    for config in [controller_mtls(), controller_api_key()] {
        let objs = objects(&config);
        assert!(
            objs.iter().all(|o| !(o.value["kind"] == "Deployment" && o.value["metadata"]["name"] == "greeting-worker")),
            "no plain worker Deployment"
        );
        assert!(
            objs.iter().all(|o| o.value["kind"] != "HorizontalPodAutoscaler" && o.value["kind"] != "VerticalPodAutoscaler"),
            "per-build only"
        );
        let wd = find_value(&objs, "WorkerDeployment").expect("a WorkerDeployment");
        let conn = find_value(&objs, "Connection").expect("a Connection");
        assert_eq!(wd["apiVersion"], "temporal.io/v1alpha1");
        assert_eq!(wd["spec"]["workerOptions"]["connectionRef"]["name"], conn["metadata"]["name"]);
        assert_eq!(wd["spec"]["workerOptions"]["temporalNamespace"], config.temporal.namespace);
        assert_eq!(conn["spec"]["hostPort"], config.temporal.address);
        let pod = &wd["spec"]["template"]["spec"];
        // The controller supplies the connection: nothing of ours may collide with what it adds.
        assert!(pod["initContainers"].is_null(), "init containers get none of the controller's env");
        assert!(pod["volumes"].as_array().into_iter().flatten().all(|v| v["name"] != "temporal-tls" && v["name"] != "temporal-api-key"));
        let env: Vec<&str> = pod["containers"][0]["env"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
        for injected in ["TEMPORAL_DEPLOYMENT_NAME", "TEMPORAL_WORKER_BUILD_ID", "TEMPORAL_API_KEY", "TK8S_API_KEY_FILE"] {
            assert!(!env.contains(&injected), "{injected} in {env:?}");
        }
        // The orchestrator is not versioned and keeps its own credentials.
        let orchestrator =
            objs.iter().find(|o| o.value["metadata"]["name"] == "greeting-orchestrator" && o.value["kind"] == "Deployment").unwrap();
        assert!(!orchestrator.value["spec"]["template"]["spec"]["initContainers"].is_null());
        let o_env = orchestrator.value.pointer("/spec/template/spec/containers/0/env").unwrap().to_string();
        assert_eq!(config.temporal.auth == tk8s_render::Auth::ApiKey, o_env.contains("TK8S_API_KEY_FILE"), "{o_env}");
    }
    // Traces: the collector is configured for both roles and let through the NetworkPolicy.
    let traced = objects(&controller_mtls());
    assert_eq!(find_value(&traced, "ConfigMap").unwrap()["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://otel-collector.monitoring:4317");
    let egress = &find_value(&traced, "NetworkPolicy").unwrap()["spec"]["egress"];
    assert!(egress.as_array().unwrap().iter().any(|r| r["ports"][0]["port"] == 4317), "{egress:#}");
    let progressive = find_value(&objects(&controller_mtls()), "WorkerDeployment").unwrap().clone();
    assert_eq!(
        progressive["spec"]["rollout"],
        json!({
            "strategy": "Progressive",
            "steps": [{ "rampPercentage": 10, "pauseDuration": "300s" }, { "rampPercentage": 50, "pauseDuration": "600s" }],
            "gate": { "workflowType": "GreetingSmokeTest" },
        })
    );
    assert!(progressive["spec"]["replicas"].is_null(), "the per-build HPA owns replicas");
    let conn = find_value(&objects(&controller_mtls()), "Connection").unwrap().clone();
    assert_eq!(conn["spec"]["mutualTLSSecretRef"]["name"], "greeting-temporal-tls");
    assert_eq!(conn["spec"]["tls"]["serverName"], "temporal.example.com");
    let api_objs = objects(&controller_api_key());
    let api = find_value(&api_objs, "WorkerDeployment").unwrap();
    assert_eq!(api["spec"]["rollout"], json!({ "strategy": "AllAtOnce" }));
    assert_eq!(api["spec"]["replicas"], 2);
    assert_eq!(
        find_value(&api_objs, "Connection").unwrap()["spec"]["apiKeySecretRef"],
        json!({ "name": "greeting-temporal-api-key", "key": "api-key" })
    );
}

#[test]
fn committed_greeting_assets_are_current() {
    let dir = root().join("deploy/greeting");
    let wanted: BTreeMap<String, String> = files(&greeting()).into_iter().collect();
    if std::env::var_os("TK8S_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        tk8s_render::write_all(&greeting(), &dir, false).unwrap();
    }
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|_| panic!("{} missing: run `TK8S_BLESS=1 cargo test -p tk8s-render`", d.display()))
            .flatten()
        {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(&dir).unwrap().display().to_string();
                found.insert(rel, std::fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    // The render's own list of what it wrote: exactly the files.
    let listed: Vec<String> =
        found.remove(tk8s_render::MARKER).unwrap_or_default().lines().filter(|l| !l.starts_with('#')).map(String::from).collect();
    assert_eq!(listed, wanted.keys().cloned().collect::<Vec<_>>(), "{} lists other files", tk8s_render::MARKER);
    let stale: Vec<&String> =
        wanted.keys().filter(|k| found.get(*k) != wanted.get(*k)).chain(found.keys().filter(|k| !wanted.contains_key(*k))).collect();
    assert!(stale.is_empty(), "deploy/greeting is stale ({stale:?}); run `TK8S_BLESS=1 cargo test -p tk8s-render committed`");
}

fn kubernetes_validate() -> PathBuf {
    let p = root().join(".venv/bin/kubernetes-validate");
    assert!(p.is_file(), "kubernetes-validate is not installed: run `cargo xtask tools`");
    p
}

#[test]
fn every_rendered_object_passes_kubernetes_validate_strict_on_1_30_and_1_35() {
    for (name, config) in variants() {
        let dir = tempfile::tempdir().unwrap();
        let objs = objects(&config);
        let mut paths = Vec::new();
        for o in &objs {
            let api = o.value["apiVersion"].as_str().unwrap_or("");
            if ["keda.sh/", "monitoring.coreos.com/", "secrets-store.csi.x-k8s.io/", "autoscaling.k8s.io/", "temporal.io/"]
                .iter()
                .any(|g| api.starts_with(g))
            {
                continue; // CRDs: kubernetes-validate has no schema for them (see below for the controller's)
            }
            let p = dir.path().join(&o.file);
            std::fs::write(&p, tk8s_render::to_yaml(&o.value)).unwrap();
            paths.push(p);
        }
        // What the temporal-worker-controller's objects carry that Kubernetes' schemas know.
        for (file, value) in controller_outputs(&objs) {
            if value["apiVersion"].as_str().is_some_and(|a| a.starts_with("autoscaling.k8s.io/")) {
                continue;
            }
            let p = dir.path().join(file);
            std::fs::write(&p, tk8s_render::to_yaml(&value)).unwrap();
            paths.push(p);
        }
        for version in ["1.30.0", "1.35.0"] {
            let out = Command::new(kubernetes_validate()).args(["--strict", "-k", version]).args(&paths).output().unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "{name} on {version}:\n{text}");
            assert_eq!(text.matches(" passed for resource ").count(), paths.len(), "{name} on {version}:\n{text}");
        }
        assert!(lint(&objs.iter().map(|o| o.value.clone()).collect::<Vec<_>>()).is_empty(), "{name}: our own render has lint findings");
    }
}

/// Objects keyed by kind/name, with container env lists sorted by name (kustomize may reorder).
fn normalise(objects: Vec<Value>) -> BTreeMap<String, Value> {
    objects
        .into_iter()
        .map(|mut o| {
            for path in ["/spec/template/spec/containers", "/spec/template/spec/initContainers"] {
                if let Some(Value::Array(cs)) = o.pointer_mut(path) {
                    for c in cs {
                        if let Some(Value::Array(env)) = c.get_mut("env") {
                            env.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
                        }
                    }
                }
            }
            (format!("{}/{}", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or("")), o)
        })
        .collect()
}

/// Rendered folders to check: the committed greeting assets, and the controller variants
/// rendered to temporary folders (kept alive by the returned guards).
fn rendered_dirs() -> Vec<(&'static str, DeployConfig, PathBuf, Option<tempfile::TempDir>)> {
    let mut out = vec![("greeting", greeting(), root().join("deploy/greeting"), None)];
    for (name, config) in [
        ("controller+mtls", controller_mtls()),
        ("controller+api-key", controller_api_key()),
        ("sdk-python", common::sdk_python()),
        ("sdk-typescript", common::sdk_typescript()),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        tk8s_render::write_all(&config, tmp.path(), false).unwrap();
        out.push((name, config, tmp.path().to_path_buf(), Some(tmp)));
    }
    out
}

#[test]
fn each_kustomize_overlay_builds_exactly_the_environment_render() {
    for (name, config, dir, _guard) in rendered_dirs() {
        println!("{name}");
        kustomize_overlays_match(&config, &dir.join("kustomize"));
    }
}

fn kustomize_overlays_match(config: &DeployConfig, dir: &Path) {
    let base = Command::new("kubectl").arg("kustomize").arg(dir.join("base")).output().expect("kubectl is needed (kubectl kustomize)");
    assert!(base.status.success(), "{}", String::from_utf8_lossy(&base.stderr));
    let want = |env| normalise(objects_for(config, env).unwrap().into_iter().map(|o| o.value).collect());
    assert_eq!(normalise(parse_documents(&String::from_utf8_lossy(&base.stdout)).unwrap()), want(None));
    assert!(!config.environments.is_empty());
    for env in config.environments.keys() {
        let out = Command::new("kubectl").arg("kustomize").arg(dir.join("overlays").join(env)).output().unwrap();
        assert!(out.status.success(), "{env}: {}", String::from_utf8_lossy(&out.stderr));
        let built = normalise(parse_documents(&String::from_utf8_lossy(&out.stdout)).unwrap());
        let expected = want(Some(env));
        for (key, object) in &expected {
            assert_eq!(built.get(key), Some(object), "overlay {env}: {key} differs");
        }
        assert_eq!(built.len(), expected.len(), "overlay {env}");
        assert_eq!(built != want(None), expected != want(None), "overlay {env} changes nothing, or too much");
    }
}

fn rendered() -> Vec<Value> {
    objects(&greeting()).into_iter().map(|o| o.value).collect()
}

fn codec_server_render() -> Vec<Value> {
    objects(&controller_api_key()).into_iter().map(|o| o.value).collect()
}

fn keda_backlog_render() -> Vec<Value> {
    let (_, config) = variants().into_iter().find(|(n, _)| *n == "keda+backlog").unwrap();
    objects(&config).into_iter().map(|o| o.value).collect()
}

fn python_render() -> Vec<Value> {
    objects(&common::sdk_python()).into_iter().map(|o| o.value).collect()
}

fn rendered_with_controller() -> Vec<Value> {
    objects(&controller_mtls()).into_iter().map(|o| o.value).collect()
}

/// A rule, the render it starts from, and the mistake made in it.
type LintCase = (&'static str, fn() -> Vec<Value>, Box<dyn Fn(&mut Vec<Value>)>);

fn mutate(base: fn() -> Vec<Value>, f: impl Fn(&mut Vec<Value>)) -> Vec<&'static str> {
    let mut objs = base();
    f(&mut objs);
    lint(&objs).into_iter().map(|f| f.rule).collect()
}

fn wd(objs: &mut [Value]) -> &mut Value {
    find(objs, "WorkerDeployment", "greeting-worker")
}

fn find<'a>(objs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    objs.iter_mut().find(|o| o["kind"] == kind && o["metadata"]["name"] == name).unwrap_or_else(|| panic!("{kind}/{name}"))
}

fn worker(objs: &mut [Value]) -> &mut Value {
    find(objs, "Deployment", "greeting-worker")
}

fn container(o: &mut Value) -> &mut Value {
    o.pointer_mut("/spec/template/spec/containers/0").unwrap()
}

#[test]
fn lint_catches_each_temporal_specific_mistake() {
    assert!(lint(&rendered()).is_empty());
    let cases: Vec<LintCase> = vec![
        (
            "TK001",
            rendered,
            Box::new(|o| {
                worker(o)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(10);
            }),
        ),
        (
            "TK002",
            rendered,
            Box::new(|o| {
                container(worker(o))["readinessProbe"] = json!({"exec": {"command": ["ls", "/"]}});
            }),
        ),
        (
            "TK002",
            rendered,
            Box::new(|o| {
                container(worker(o))["livenessProbe"]["httpGet"]["path"] = json!("/healthz");
            }),
        ),
        (
            "TK002",
            rendered,
            Box::new(|o| {
                container(worker(o))["readinessProbe"]["httpGet"]["port"] = json!(8080);
            }),
        ),
        (
            "TK003",
            rendered,
            Box::new(|o| {
                find(o, "HorizontalPodAutoscaler", "greeting-worker")["spec"]["scaleTargetRef"]["name"] = json!("greeting-orchestrator");
            }),
        ),
        (
            "TK004",
            rendered,
            Box::new(|o| {
                find(o, "PodDisruptionBudget", "greeting-worker")["spec"]["maxUnavailable"] = json!(0);
            }),
        ),
        (
            "TK004",
            rendered,
            Box::new(|o| {
                let pdb = find(o, "PodDisruptionBudget", "greeting-worker");
                pdb["spec"].as_object_mut().unwrap().remove("maxUnavailable");
                pdb["spec"]["minAvailable"] = json!("100%");
            }),
        ),
        (
            "TK005",
            rendered,
            Box::new(|o| {
                container(worker(o))["env"].as_array_mut().unwrap().push(json!({"name": "TEMPORAL_API_KEY", "value": "k-123"}));
            }),
        ),
        (
            "TK005",
            rendered,
            Box::new(|o| {
                o.push(
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "greeting-codec-keys"}, "data": {"k1.key": "AAAA"}}),
                );
            }),
        ),
        (
            "TK006",
            rendered,
            Box::new(|o| {
                container(worker(o))["resources"]["limits"] = json!({});
            }),
        ),
        (
            "TK007",
            rendered,
            Box::new(|o| {
                find(o, "Deployment", "greeting-orchestrator")["spec"]["replicas"] = json!(3);
            }),
        ),
        (
            "TK008",
            rendered,
            Box::new(|o| {
                let env = container(worker(o))["env"].as_array_mut().unwrap();
                env.push(json!({"name": "TK8S_API_KEY_FILE", "value": "/etc/temporal/api-key/api-key"}));
                env.push(json!({"name": "TEMPORAL_TLS", "value": "false"}));
            }),
        ),
        (
            "TK009",
            rendered_with_controller,
            Box::new(|o| {
                o.push(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "greeting-worker"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "greeting-worker"}, "maxReplicas": 5}}));
            }),
        ),
        (
            "TK009",
            rendered_with_controller,
            Box::new(|o| {
                o.push(
                    json!({"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler", "metadata": {"name": "greeting-worker"},
                "spec": {"targetRef": {"apiVersion": "temporal.io/v1alpha1", "kind": "WorkerDeployment", "name": "greeting-worker"}}}),
                );
            }),
        ),
        (
            "TK010",
            rendered_with_controller,
            Box::new(|o| {
                let pod = &mut wd(o)["spec"]["template"]["spec"];
                pod["volumes"] = json!([{"name": "temporal-tls", "secret": {"secretName": "greeting-temporal-tls"}}]);
            }),
        ),
        (
            "TK010",
            rendered_with_controller,
            Box::new(|o| {
                container(wd(o))["volumeMounts"] = json!([{"name": "client-cert", "mountPath": "/etc/temporal/tls"}]);
            }),
        ),
        (
            "TK010",
            rendered_with_controller,
            Box::new(|o| {
                container(wd(o))["env"].as_array_mut().unwrap().push(json!({"name": "TEMPORAL_WORKER_BUILD_ID", "value": "v1"}));
            }),
        ),
        (
            "TK011",
            keda_backlog_render,
            Box::new(|o| {
                find(o, "ScaledObject", "greeting-worker")["spec"]["minReplicaCount"] = json!(0);
            }),
        ),
        (
            "TK012",
            rendered,
            Box::new(|o| {
                let env = container(find(o, "Deployment", "greeting-scaler"))["env"].as_array_mut().unwrap();
                let window = env.iter_mut().find(|e| e["name"] == "TK8S_SCALER_SCALE_DOWN_WINDOW").unwrap();
                window["value"] = json!("5s");
            }),
        ),
        (
            "TK013",
            rendered_with_controller,
            Box::new(|o| {
                wd(o)["spec"]["template"]["spec"].as_object_mut().unwrap().remove("imagePullSecrets");
            }),
        ),
        (
            "TK015",
            python_render,
            Box::new(|o| {
                worker(o)["spec"]["template"]["metadata"]["annotations"].as_object_mut().unwrap().remove("tk8s.io/graceful-shutdown");
            }),
        ),
        (
            "TK016",
            python_render,
            Box::new(|o| {
                container(worker(o))["readinessProbe"] = json!({"exec": {"command": ["ls", "/"]}});
            }),
        ),
        (
            "TK017",
            python_render,
            Box::new(|o| {
                let c = container(worker(o)).as_object_mut().unwrap();
                c.remove("readinessProbe");
                c.remove("startupProbe");
            }),
        ),
        (
            "TK018",
            rendered,
            Box::new(|o| {
                o.retain(|v| v["kind"] != "Job");
            }),
        ),
        (
            "TK014",
            rendered,
            Box::new(|o| {
                container(worker(o))["command"] = json!(["/bin/sh", "-c", "exec /usr/local/bin/greeting worker"]);
            }),
        ),
        (
            "TK002",
            codec_server_render,
            Box::new(|o| {
                container(find(o, "Deployment", "greeting-codec-server"))["livenessProbe"]["httpGet"]["port"] = json!(9090);
            }),
        ),
    ];
    assert!(lint(&rendered_with_controller()).is_empty(), "{:?}", lint(&rendered_with_controller()));
    assert!(lint(&python_render()).is_empty(), "{:?}", lint(&python_render()));
    assert!(lint(&keda_backlog_render()).is_empty(), "{:?}", lint(&keda_backlog_render()));
    for (rule, base, f) in &cases {
        let rules = mutate(*base, f);
        assert_eq!(rules, vec![*rule], "expected exactly {rule}");
    }
    let covered: std::collections::BTreeSet<_> = cases.iter().map(|(r, _, _)| *r).collect();
    assert_eq!(covered.len(), tk8s_render::RULES.len(), "every rule has a bad-config case");
}

/// The greeting deploy config with its worker under the controller, `extra` in that table.
fn controller_with(extra: &str) -> String {
    let good = std::fs::read_to_string(root().join("examples/greeting/deploy.toml")).unwrap();
    good.replace("# [worker.controller]", &format!("[worker.controller]\n{extra}"))
}

#[test]
fn the_codec_server_is_authenticated_isolated_and_runs_from_the_tk8s_image() {
    let objs = objects(&controller_api_key());
    let find = |kind: &str, name: &str| objs.iter().map(|o| &o.value).find(|v| v["kind"] == kind && v["metadata"]["name"] == name).cloned();
    let d = find("Deployment", "greeting-codec-server").expect("codec server Deployment");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["image"],
        format!("registry.example.com/tk8s:{}", env!("CARGO_PKG_VERSION")),
        "the tk8s image, beside the app's, with the toolkit's version"
    );
    assert!(c["command"].is_null(), "the image's ENTRYPOINT is tk8s (the image contract)");
    assert_eq!(c["args"], json!(["codec-server"]));
    let env: BTreeMap<&str, &str> =
        c["env"].as_array().unwrap().iter().map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap())).collect();
    assert_eq!(env["TK8S_CODEC_SERVER_ALLOWED_ORIGINS"], "https://temporal.example.com");
    assert_eq!(env["TK8S_CODEC_SERVER_JWT_AUDIENCE"], "temporal-ui");
    assert_eq!(env["TK8S_CODEC_SERVER_TOKENS_FILE"], "/etc/tk8s/codec-tokens/tokens");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["ports"][0]["containerPort"], 8888);
    let volumes: Vec<&str> =
        d["spec"]["template"]["spec"]["volumes"].as_array().unwrap().iter().map(|v| v["secret"]["secretName"].as_str().unwrap()).collect();
    assert_eq!(volumes, ["greeting-codec-keys", "greeting-codec-tokens"]);
    assert_eq!(find("Service", "greeting-codec-server").unwrap()["spec"]["ports"][0]["port"], 8888);
    let np = find("NetworkPolicy", "greeting-codec-server").unwrap();
    let from: Vec<&str> = np["spec"]["ingress"][0]["from"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["ingress-nginx", "monitoring"]);
    assert_eq!(np["spec"]["egress"][1]["ports"][0]["port"], 443, "JWKS over https");
    // The roles' policy no longer covers the codec server's pods.
    let roles = find("NetworkPolicy", "greeting").unwrap();
    assert_eq!(roles["spec"]["podSelector"]["matchExpressions"][0]["values"], json!(["worker", "orchestrator", "replay-gate"]));
    assert!(lint(&objs.iter().map(|o| o.value.clone()).collect::<Vec<_>>()).is_empty());
}

#[test]
fn the_init_template_parses_renders_and_lints_clean_with_its_options_on() {
    let path = Path::new("tk8s-deploy.toml");
    let template = tk8s_render::init_template("orders", None);
    let plain = DeployConfig::parse(path, &template).expect("tk8s init's file parses");
    assert_eq!(plain.app.name, "orders");
    assert!(!template.contains("greeting"), "the template names only the app");
    let kinds: Vec<String> = objects(&plain).iter().map(|o| o.value["kind"].as_str().unwrap().to_string()).collect();
    for operator_only in ["ServiceMonitor", "PrometheusRule", "ScaledObject", "HorizontalPodAutoscaler"] {
        assert!(!kinds.iter().any(|k| k == operator_only), "{operator_only} by default: {kinds:?}");
    }
    // Its commented-out options, switched on together.
    let all = common::uncomment(&common::uncomment(&template, "encryption"), "codec_server")
        .replace("# [worker.controller]", "[worker.controller]")
        .replace("# otlp_endpoint = ", "otlp_endpoint = ")
        .replace("# image_pull_secrets = ", "image_pull_secrets = ")
        .replace("# private_registry = ", "private_registry = ");
    let full = DeployConfig::parse(path, &all).unwrap_or_else(|e| panic!("{e}\n{all}"));
    for config in [plain, full] {
        let objs: Vec<Value> = objects(&config).into_iter().map(|o| o.value).collect();
        assert!(lint(&objs).is_empty(), "{:?}", lint(&objs));
    }
}

#[test]
fn deploy_config_errors_name_the_file_and_line() {
    let path = Path::new("deploy.toml");
    let good = std::fs::read_to_string(root().join("examples/greeting/deploy.toml")).unwrap();
    let cases = [
        (good.replace("\nreplicas = 2", "\nreplica = 2"), "deploy.toml:", "unknown field `replica`"),
        (good.replace("auth = \"none\"", "auth = \"kerberos\""), "deploy.toml:", "kerberos"),
        (good.replace("auth = \"none\"", "auth = \"mtls\""), "deploy.toml", "needs temporal.tls_secret"),
        (good.replace("shutdown_grace = \"20s\"", "shutdown_grace = \"soon\""), "deploy.toml", "worker.shutdown_grace"),
        (good.replace("TK8S_MAX_CONCURRENT_ACTIVITIES", "TK8S_MAX_ACTIVITIES"), "deploy.toml", "not a known setting"),
        (good.replace("name = \"greeting\"", "name = \"Greeting_App\""), "deploy.toml", "DNS label"),
        (
            good.replace("# [worker.controller]\n# rollout = \"progressive\"", "[worker.controller]\nrollout = \"progressive\""),
            "deploy.toml",
            "needs steps",
        ),
        (
            good.replace("# [worker.controller]", "[worker.controller]").replace("# steps = ", "steps = "),
            "deploy.toml",
            "only apply to rollout = \"progressive\"",
        ),
        (
            controller_with(
                "rollout = \"progressive\"\nsteps = [{ ramp_percentage = 50, pause = \"1m\" }, { ramp_percentage = 20, pause = \"1m\" }]",
            ),
            "deploy.toml",
            "steps[1].ramp_percentage = 20",
        ),
        (
            controller_with("rollout = \"progressive\"\nsteps = [{ ramp_percentage = 10, pause = \"10s\" }]"),
            "deploy.toml",
            "at least \"30s\"",
        ),
        (controller_with("rollout = \"gradual\""), "deploy.toml:", "gradual"),
        (controller_with("delete_delay = \"tomorrow\""), "deploy.toml", "worker.controller.delete_delay"),
        (controller_with("").replace("mode = \"hpa\"", "mode = \"keda\""), "deploy.toml", "WorkerResourceTemplate"),
        (controller_with("").replace("temporal-frontend.temporal.svc.cluster.local:7233", "[::1]:7233"), "deploy.toml", "plain host:port"),
        (
            good.replace("[orchestrator.resources]", "[orchestrator.controller]\n\n[orchestrator.resources]"),
            "deploy.toml",
            "only the worker",
        ),
        (good.replace("# otlp_endpoint = \"http://", "otlp_endpoint = \"grpc://"), "deploy.toml", "monitoring.otlp_endpoint"),
        (common::uncomment(&good, "codec_server"), "deploy.toml", "codec_server needs [encryption]"),
        (
            common::uncomment(&good, "codec_server")
                .replace("jwks_url", "# jwks_url")
                .replace("jwt_audience", "# jwt_audience")
                .replace("tokens_secret", "# tokens_secret"),
            "deploy.toml",
            "anyone who reaches it can decrypt",
        ),
        (common::uncomment(&good, "codec_server").replace("jwt_audience", "# jwt_audience"), "deploy.toml", "go together"),
        (
            common::uncomment(&good, "codec_server").replace("https://idp.example.com", "http://idp.example.com"),
            "deploy.toml",
            "jwks_url must be an https:// URL",
        ),
    ];
    for (text, place, what) in cases {
        let e = DeployConfig::parse(path, &text).expect_err(what).to_string();
        assert!(e.contains(place) && e.contains(what), "{e}");
    }
    let e = DeployConfig::parse(path, &good.replace("\nreplicas = 2", "\nreplica = 2")).unwrap_err().to_string();
    let line = good.lines().position(|l| l.starts_with("replicas = 2")).unwrap() + 1;
    assert!(e.contains(&format!("\n- deploy.toml:{line}: worker.replica ")), "{e}");
    // A cross-field mistake names the line of the key, the key, and how to fix it; exit 78.
    let err = DeployConfig::parse(path, &good.replace("auth = \"none\"", "auth = \"mtls\"")).unwrap_err();
    let line = good.lines().position(|l| l.starts_with("auth = ")).unwrap() + 1;
    let e = err.to_string();
    assert!(e.contains(&format!("- deploy.toml:{line}: temporal.auth = \"mtls\" needs temporal.tls_secret")), "{e}");
    assert!(e.contains("hint: add tls_secret"), "{e}");
    assert_eq!(err.exit_code(), 78);
    // A value serde refuses names its key too.
    let e = DeployConfig::parse(path, &controller_with("delete_delay = \"tomorrow\"")).unwrap_err().to_string();
    assert!(e.contains("worker.controller.delete_delay is not valid: \"tomorrow\" is not a duration"), "{e}");
}

#[test]
fn keda_scaled_object_passes_kedas_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keda");
    assert!(dir.join("node_modules/@kubernetes-models/keda").is_dir(), "@kubernetes-models/keda is not installed: run `cargo xtask tools`");
    let run = |file: &Path| Command::new("node").current_dir(&dir).arg("validate.mjs").arg(file).output().expect("node");
    // The scaler's `external` trigger (signal tk8s) and KEDA's own `temporal` trigger (backlog).
    for (variant, trigger) in [("api-key+keda", "external"), ("keda+backlog", "temporal")] {
        let (_, config) = variants().into_iter().find(|(n, _)| *n == variant).unwrap();
        let scaled: Vec<_> = objects(&config).into_iter().filter(|o| o.value["kind"] == "ScaledObject").collect();
        assert_eq!(scaled.len(), 1);
        assert_eq!(scaled[0].value["spec"]["triggers"][0]["type"], trigger, "{variant}");
        assert!(objects(&config).iter().all(|o| o.value["kind"] != "HorizontalPodAutoscaler"), "KEDA replaces the HPA");
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("scaledobject.json");
        std::fs::write(&good, scaled[0].value.to_string()).unwrap();
        let mut broken = scaled[0].value.clone();
        broken["spec"]["minReplicaCount"] = serde_json::json!("two");
        let bad = tmp.path().join("broken.json");
        std::fs::write(&bad, broken.to_string()).unwrap();
        let ok = run(&good);
        assert!(ok.status.success(), "{variant}: {}{}", String::from_utf8_lossy(&ok.stdout), String::from_utf8_lossy(&ok.stderr));
        assert!(!run(&bad).status.success(), "the schema check must reject a broken object");
    }
}

fn helm() -> PathBuf {
    let p = root().join(".tools/bin/helm");
    assert!(p.is_file(), "helm is not installed: run `cargo xtask tools`");
    p
}

#[test]
fn helm_lint_passes_and_helm_template_equals_the_render_for_every_values_file() {
    for (name, config, dir, _guard) in rendered_dirs() {
        println!("{name}");
        helm_chart_matches(&config, &dir.join("helm/greeting"));
    }
}

fn helm_chart_matches(config: &DeployConfig, chart: &Path) {
    let mut runs: Vec<(Option<&str>, Option<PathBuf>)> = vec![(None, None)];
    for env in config.environments.keys() {
        runs.push((Some(env.as_str()), Some(chart.join(format!("values-{env}.yaml")))));
    }
    for (env, values) in runs {
        let mut lint = Command::new(helm());
        lint.args(["lint", "--strict"]).arg(chart);
        if let Some(v) = &values {
            lint.arg("-f").arg(v);
        }
        let out = lint.output().unwrap();
        assert!(
            out.status.success(),
            "helm lint {env:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut template = Command::new(helm());
        template.args(["template", "greeting"]).arg(chart).args(["--namespace", &config.app.namespace, "--kube-version", "1.35.0"]);
        if let Some(v) = &values {
            template.arg("-f").arg(v);
        }
        let out = template.output().unwrap();
        assert!(out.status.success(), "helm template {env:?}: {}", String::from_utf8_lossy(&out.stderr));
        let mut documents = parse_documents(&String::from_utf8_lossy(&out.stdout)).unwrap();
        // The chart runs the replay gate as a hook: the one thing it adds to the render.
        for o in documents.iter_mut().filter(|o| o["kind"] == "Job") {
            let annotations = o["metadata"]["annotations"].as_object_mut().expect("the gate's hook annotations");
            assert_eq!(annotations.remove("helm.sh/hook"), Some(json!("pre-install,pre-upgrade")));
            assert_eq!(annotations.remove("helm.sh/hook-delete-policy"), Some(json!("before-hook-creation,hook-succeeded")));
            if annotations.is_empty() {
                o["metadata"].as_object_mut().unwrap().remove("annotations");
            }
        }
        let built = normalise(documents);
        let expected = normalise(objects_for(config, env).unwrap().into_iter().map(|o| o.value).collect());
        assert_eq!(built.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "{env:?}");
        for (key, object) in &expected {
            assert_eq!(built.get(key), Some(object), "helm template {env:?}: {key} differs from tk8s render");
        }
    }
    // The schema rejects a typo in values.
    let bad = tempfile::tempdir().unwrap();
    let typo = bad.path().join("typo.yaml");
    std::fs::write(&typo, "worker:\n  replica: 3\n").unwrap();
    let out = Command::new(helm()).args(["lint"]).arg(chart).arg("-f").arg(&typo).output().unwrap();
    assert!(!out.status.success(), "values.schema.json should reject worker.replica");
}

/// Every env var every rendered container gets (its own `env` and the ConfigMaps it reads) is a
/// setting the binary knows, and the container's whole env passes the binary's own validation
/// (`Config::load`, as at start-up). The only problems allowed are files and directories that
/// do not exist on this machine because the pod mounts them. Renaming a setting in tk8s-config
/// without the renderer following it fails here.
#[test]
fn every_rendered_env_var_is_a_known_setting_with_a_value_the_binary_accepts() {
    use tk8s_config::spec::{Kind, SETTINGS};
    let mut checked = 0;
    for (name, config) in variants() {
        for env_name in [None, Some("dev"), Some("prod")] {
            let objs: Vec<Value> = objects_for(&config, env_name).unwrap().into_iter().map(|o| o.value).collect();
            let config_maps: BTreeMap<String, Value> = objs
                .iter()
                .filter(|o| o["kind"] == "ConfigMap")
                .map(|o| (o["metadata"]["name"].as_str().unwrap().to_string(), o["data"].clone()))
                .collect();
            for o in objs.iter().filter(|o| o["kind"] == "Deployment" || o["kind"] == "WorkerDeployment") {
                let pod = &o["spec"]["template"]["spec"];
                for c in pod["containers"].as_array().into_iter().chain(pod["initContainers"].as_array()).flatten() {
                    // Containers that run a tk8s binary (a role as their argument); an SDK
                    // worker's env is Temporal's and its own.
                    if c["args"][0].as_str().and_then(tk8s_config::Role::from_name).is_none() {
                        assert!(o["spec"]["template"]["metadata"]["annotations"]["tk8s.io/sdk"].is_string(), "{name}: {c}");
                        continue;
                    }
                    let mut env = BTreeMap::new();
                    for from in c["envFrom"].as_array().into_iter().flatten() {
                        let cm = &config_maps[from["configMapRef"]["name"].as_str().unwrap()];
                        for (k, v) in cm.as_object().unwrap() {
                            env.insert(k.clone(), v.as_str().unwrap().to_string());
                        }
                    }
                    for e in c["env"].as_array().into_iter().flatten() {
                        env.insert(e["name"].as_str().unwrap().to_string(), e["value"].as_str().unwrap_or_default().to_string());
                    }
                    let at = format!("{name}/{}/{}", o["metadata"]["name"].as_str().unwrap(), c["name"].as_str().unwrap());
                    for var in env.keys() {
                        assert!(SETTINGS.iter().any(|s| s.env == var), "{at}: {var} is not a setting tk8s-config knows");
                    }
                    let mut mounts: Vec<&str> =
                        c["volumeMounts"].as_array().into_iter().flatten().map(|m| m["mountPath"].as_str().unwrap()).collect();
                    if o["kind"] == "WorkerDeployment" {
                        // The temporal-worker-controller mounts the Connection's mTLS Secret here.
                        mounts.push("/etc/temporal/tls");
                    }
                    let app =
                        tk8s_config::AppDefaults { name: "greeting".into(), task_queue: "greeting".into(), workflow_input: String::new() };
                    let inputs = tk8s_config::Inputs { env: &env, flags: &Default::default(), app: &app, cwd: Path::new("/") };
                    if let Err(tk8s_config::ConfigError::Invalid(problems)) = tk8s_config::Config::load(&inputs) {
                        for p in &problems {
                            let setting = p.key.as_deref().and_then(tk8s_config::spec::by_key);
                            let mounted = setting.is_some_and(|s| {
                                matches!(s.kind, Kind::File | Kind::Dir)
                                    && env.get(s.env).is_some_and(|v| mounts.iter().any(|m| v.starts_with(m)))
                            });
                            assert!(mounted, "{at}: the binary would refuse this env: {p}");
                        }
                    }
                    checked += env.len();
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} env vars checked");
}

#[test]
fn settings_the_binary_would_refuse_are_refused_with_its_own_words() {
    let path = Path::new("deploy.toml");
    let good = std::fs::read_to_string(root().join("examples/greeting/deploy.toml")).unwrap();
    let cases = [
        (
            good.replace("TK8S_MAX_CONCURRENT_ACTIVITIES = \"100\"", "TK8S_MAX_CONCURRENT_ACTIVITIES = \"lots\""),
            "worker.settings.TK8S_MAX_CONCURRENT_ACTIVITIES = \"lots\" is not valid: expected a whole number from 1 to 10000",
        ),
        (
            good.replace("TK8S_ORCHESTRATOR_INTERVAL = \"30s\"", "TK8S_ORCHESTRATOR_INTERVAL = \"30\""),
            "orchestrator.settings.TK8S_ORCHESTRATOR_INTERVAL = \"30\" is not valid: expected a duration",
        ),
        (
            // A combination, not a value: the binary's cross-field rule.
            good.replace("TK8S_MAX_CONCURRENT_ACTIVITIES = \"100\"", "TEMPORAL_DEPLOYMENT_NAME = \"greeting\""),
            "worker.settings.TEMPORAL_DEPLOYMENT_NAME is set alone",
        ),
        (good.replace("TK8S_MAX_CONCURRENT_ACTIVITIES", "TK8S_MAX_CONCURENT_ACTIVITIES"), "did you mean TK8S_MAX_CONCURRENT_ACTIVITIES?"),
    ];
    for (text, wanted) in cases {
        let err = DeployConfig::parse(path, &text).expect_err(wanted);
        assert!(err.to_string().contains(wanted), "{err}");
        assert_eq!(err.exit_code(), 78);
    }
}

#[test]
fn a_deploy_config_that_disagrees_with_the_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in for an app binary: it answers `config defaults --output json` as tk8s-host does.
    let binary = dir.path().join("orders");
    let report = tk8s_config::AppReport {
        name: "greeting".into(),
        toolkit_version: "0.1.0".into(),
        task_queue: "orders".into(),
        workflow_input: "{}".into(),
        settings: Default::default(),
    };
    std::fs::write(&binary, format!("#!/bin/sh\ncat <<'JSON'\n{}\nJSON\n", report.to_json())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let good = std::fs::read_to_string(root().join("examples/greeting/deploy.toml")).unwrap();
    let with_binary = good.replace("tag = \"0.1.0\"", "tag = \"0.1.0\"\nbinary = \"orders\"");
    // No task queue in the deploy config: the code's is rendered, not the app's name.
    let config_path = dir.path().join("deploy.toml");
    std::fs::write(&config_path, &with_binary).unwrap();
    let config = DeployConfig::load(&config_path).unwrap();
    assert_eq!(config.task_queue(), "orders");
    let cm = objects(&config).into_iter().find(|o| o.value["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm.value["data"]["TK8S_TASK_QUEUE"], "orders");
    // A task queue that disagrees with the code is refused, naming the line.
    std::fs::write(&config_path, with_binary.replace("# task_queue = \"greeting\"", "task_queue = \"greeting\"")).unwrap();
    let e = DeployConfig::load(&config_path).unwrap_err().to_string();
    assert!(e.contains("app.task_queue = \"greeting\", but the code's task queue is \"orders\""), "{e}");
    assert!(e.contains("deploy.toml:"), "{e}");
    // A missing binary is an error, not a silent skip.
    std::fs::write(&config_path, good.replace("tag = \"0.1.0\"", "tag = \"0.1.0\"\nbinary = \"missing\"")).unwrap();
    let e = DeployConfig::load(&config_path).unwrap_err().to_string();
    assert!(e.contains("app.binary = ") && e.contains("does not exist") && e.contains("cargo build --release"), "{e}");
}

#[test]
fn a_render_owns_its_directory_and_lint_finds_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    let with_hpa = greeting();
    tk8s_render::write_all(&with_hpa, &out, false).unwrap();
    assert!(out.join("plain/hpa-worker.yaml").is_file());
    // Autoscaling off: the HPA, the scaler and the adapter rule go with it.
    let mut without = greeting();
    without.worker.autoscaling = None;
    let written = tk8s_render::write_all(&without, &out, false).unwrap();
    for gone in ["plain/hpa-worker.yaml", "kustomize/base/hpa-worker.yaml", "plain/deployment-scaler.yaml", "prometheus/adapter-rules.yaml"]
    {
        assert!(!out.join(gone).exists(), "{gone} is stale");
        assert!(written.removed.iter().any(|r| r == gone), "{gone} not reported: {:?}", written.removed);
    }
    let on_disk = walk(&out).len();
    assert_eq!(on_disk, files(&without).len() + 1, "exactly the render's files and its list");
    // lint on the render root lints its objects (not 0), and on an empty directory fails.
    let report = tk8s_render::lint_paths(std::slice::from_ref(&out)).unwrap();
    assert_eq!(report.objects, objects(&without).len(), "{report:?}");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = tk8s_render::lint_paths(std::slice::from_ref(&empty)).unwrap_err();
    assert_eq!(e.exit_code(), 66, "{e}");
    // A directory the render did not write is refused, unless forced.
    std::fs::write(empty.join("mine.txt"), "x").unwrap();
    let e = tk8s_render::write_all(&without, &empty, false).unwrap_err();
    assert!(e.to_string().contains("--force"), "{e}");
    tk8s_render::write_all(&without, &empty, true).unwrap();
    assert!(empty.join("mine.txt").is_file(), "forcing keeps what the render did not write");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn an_sdk_worker_gets_the_companion_and_temporals_own_variables() {
    let objs: Vec<Value> = objects(&common::sdk_python()).into_iter().map(|o| o.value).collect();
    let d = objs.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "greeting-worker").unwrap();
    let pod = &d["spec"]["template"]["spec"];
    let companion = &pod["initContainers"][0];
    assert_eq!((companion["name"].as_str(), companion["restartPolicy"].as_str()), (Some("companion"), Some("Always")), "a native sidecar");
    assert_eq!(companion["args"], json!(["companion"]));
    assert_eq!(companion["image"], format!("registry.example.com/tk8s:{}", env!("CARGO_PKG_VERSION")));
    let worker = &pod["containers"][0];
    assert_eq!(worker["image"], "registry.example.com/greeting-py:1.4.2");
    assert_eq!(worker["command"], json!(["python", "-m", "greeting.worker"]));
    assert!(worker["args"].is_null(), "no role argument: it is not a tk8s binary");
    let env: BTreeMap<&str, &Value> = worker["env"].as_array().unwrap().iter().map(|e| (e["name"].as_str().unwrap(), e)).collect();
    assert_eq!(env["TEMPORAL_ADDRESS"]["value"], "temporal-frontend.temporal.svc.cluster.local:7233");
    assert_eq!(env["TEMPORAL_TASK_QUEUE"]["value"], "greeting");
    assert_eq!(env["TEMPORAL_TLS"]["value"], "true");
    assert_eq!(env["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"], json!({ "name": "greeting-temporal-api-key", "key": "api-key" }));
    assert_eq!(env["CODEC_KEYS_DIR"]["value"], "/etc/tk8s/codec-keys");
    assert_eq!(env["MAX_CONCURRENT_ACTIVITIES"]["value"], "100", "its own [worker.env]");
    assert!(env.keys().all(|k| !k.starts_with("TK8S_")), "no host settings for a Python worker: {env:?}");
    for (probe, path) in [("startupProbe", "/startupz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/worker/livez")] {
        assert_eq!(
            (worker[probe]["httpGet"]["path"].as_str(), worker[probe]["httpGet"]["port"].as_i64()),
            (Some(path), Some(9090)),
            "{probe}"
        );
    }
    assert_eq!(pod["terminationGracePeriodSeconds"], 35, "the declared 30s graceful shutdown plus the margin");
    let companion_env: Vec<&str> = companion["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(companion_env, ["TK8S_API_KEY_FILE", "TK8S_COMPANION_WORKER_METRICS"]);
    assert!(objs.iter().all(|o| o["metadata"]["name"] != "greeting-scaler"), "no scaler: KEDA's backlog trigger");
    let so = objs.iter().find(|o| o["kind"] == "ScaledObject").unwrap();
    assert_eq!(so["spec"]["triggers"][0]["type"], "temporal");
    // A signal the SDK worker cannot have is refused with the alternative.
    let base = root().join("examples/greeting/deploy.toml");
    let text = std::fs::read_to_string(&base)
        .unwrap()
        .replace("spread = true", "spread = true\nsdk = \"go\"")
        .replace("# signal = \"backlog\"", "signal = \"tk8s\"");
    let text = text.replace("[worker.settings]                          # any TK8S_* setting from the configuration reference\nTK8S_MAX_CONCURRENT_ACTIVITIES = \"100\"", "");
    let e = DeployConfig::parse(&base, &text).unwrap_err().to_string();
    assert!(e.contains("not available for a go worker yet") && e.contains("signal = \"backlog\""), "{e}");
}
