//! `tk8s deploy`, `restart` and `status` against a recording double of the Kubernetes API: a
//! small HTTP server that records every request and answers in the API's documented shapes
//! (objects, lists, discovery, `Status` errors; server-side apply as PATCH with
//! `application/apply-patch+yaml`). It pins what the real API server cannot show: the exact
//! requests kube-rs sends for us, their order and parameters, and the log lines of a failing pod
//! (the cluster tests' fake node runs no containers). Behaviour is proven against a real API
//! server in `cluster.rs`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tk8s_deploy::{Cluster, DeployError, DeployOptions, plan::PART_OF};
use tk8s_render::DeployConfig;

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

#[derive(Default)]
struct Api {
    requests: Vec<Request>,
    /// Objects by their path.
    objects: BTreeMap<String, Value>,
    /// API groups the "cluster" does not serve (CRDs not installed).
    missing_groups: Vec<String>,
    /// Deployments never become ready; pods listed for them.
    stuck_pods: Vec<Value>,
    /// The replay gate's Job fails, with this report in its log.
    gate_fails: Option<String>,
}

type Shared = Arc<Mutex<Api>>;

/// The kinds the double's discovery lists in every version it serves.
const SERVED_KINDS: &[&str] = &[
    "Namespace",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Service",
    "Pod",
    "Deployment",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
    "Job",
    "Role",
    "RoleBinding",
    "ScaledObject",
    "ServiceMonitor",
    "PrometheusRule",
    "VerticalPodAutoscaler",
];

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

/// `/apis/<group>/...` → the group (`""` for the core API).
fn group_of(path: &str) -> &str {
    path.strip_prefix("/apis/").and_then(|p| p.split('/').next()).unwrap_or("")
}

fn matches_selector(o: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        o["metadata"]["labels"][k] == json!(v)
    })
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        kv.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/"))
    })
}

async fn handle(State(api): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut api = api.lock().unwrap();
    api.requests.push(Request {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: body_json.clone(),
    });
    if api.missing_groups.iter().any(|g| g == group_of(&path)) {
        return status(404, "NotFound", "the server could not find the requested resource");
    }
    // Discovery: every kind in every version of a served group (a double of a current cluster).
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if method == Method::GET && (path == "/api/v1" || (segments.len() == 3 && segments[0] == "apis")) {
        let resources: Vec<Value> = SERVED_KINDS
            .iter()
            .map(|k| json!({ "name": format!("{}s", k.to_lowercase()), "singularName": "", "namespaced": true, "kind": k, "verbs": ["get", "list", "patch"] }))
            .collect();
        let group_version = path.trim_start_matches("/apis/").trim_start_matches("/api/");
        return axum::Json(json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources }))
            .into_response();
    }
    if path.ends_with("/log") && path.contains("replay-gate") {
        let log = api.gate_fails.clone().unwrap_or_else(|| {
            "{\"replayed\":4,\"failed\":0,\"undecodable\":0,\"from_namespace\":4,\"from_files\":0,\"failures\":[]}".into()
        });
        return (StatusCode::OK, format!("{{\"level\":\"INFO\",\"message\":\"replaying\"}}\n{log}\n")).into_response();
    }
    if path.ends_with("/log") {
        return (StatusCode::OK, "loading tk8s.toml\nerror: TK8S_MAX_CONCURRENT_ACTIVITIES=\"lots\": expected a whole number\n")
            .into_response();
    }
    match method {
        Method::PATCH if content_type == "application/apply-patch+yaml" => {
            let dry_run = query_param(&query, "dryRun").is_some();
            let mut stored = body_json.clone();
            let generation = api.objects.get(&path).and_then(|o| o["metadata"]["generation"].as_i64()).unwrap_or(0) + 1;
            stored["metadata"]["uid"] = json!(format!("uid-{}", path.len()));
            stored["metadata"]["generation"] = json!(generation);
            if stored["kind"] == "Deployment" {
                let n = stored["spec"]["replicas"].as_i64().unwrap_or(1);
                stored["status"] = if api.stuck_pods.is_empty() {
                    json!({ "observedGeneration": generation, "replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n })
                } else {
                    json!({ "observedGeneration": generation, "replicas": n, "updatedReplicas": n, "readyReplicas": 0, "availableReplicas": 0 })
                };
            }
            if stored["kind"] == "Job" && !dry_run {
                // The Job controller's verdict, at once; and the pod it ran, for its log.
                stored["status"] = if api.gate_fails.is_some() {
                    json!({ "failed": 1, "conditions": [{ "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded" }] })
                } else {
                    json!({ "succeeded": 1 })
                };
                let name = stored["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": format!("{name}-abcde"), "namespace": "greeting", "labels": { "job-name": name } } });
                api.objects.insert(format!("/api/v1/namespaces/greeting/pods/{name}-abcde"), pod);
            }
            if !dry_run {
                api.objects.insert(path, stored.clone());
            }
            (StatusCode::OK, axum::Json(stored)).into_response()
        }
        Method::PATCH => match api.objects.get_mut(&path) {
            Some(o) => {
                o["spec"]["template"]["metadata"]["annotations"] = body_json["spec"]["template"]["metadata"]["annotations"].clone();
                (StatusCode::OK, axum::Json(o.clone())).into_response()
            }
            None => status(404, "NotFound", "not found"),
        },
        Method::DELETE => match api.objects.remove(&path) {
            Some(_) => (StatusCode::OK, axum::Json(json!({ "kind": "Status", "apiVersion": "v1", "status": "Success" }))).into_response(),
            None => status(404, "NotFound", "not found"),
        },
        Method::GET if path.ends_with("/pods") && query_param(&query, "labelSelector").is_some_and(|s| s.starts_with("job-name=")) => {
            let selector = query_param(&query, "labelSelector").unwrap_or_default();
            let items: Vec<Value> =
                api.objects.values().filter(|o| o["kind"] == "Pod" && matches_selector(o, &selector)).cloned().collect();
            (StatusCode::OK, axum::Json(json!({ "kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items }))).into_response()
        }
        Method::GET if path.ends_with("/pods") => {
            let items = api.stuck_pods.clone();
            (StatusCode::OK, axum::Json(json!({ "kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items }))).into_response()
        }
        Method::GET => {
            if let Some(o) = api.objects.get(&path) {
                return (StatusCode::OK, axum::Json(o.clone())).into_response();
            }
            // A collection: the objects directly below this path.
            let selector = query_param(&query, "labelSelector").unwrap_or_default();
            let items: Vec<Value> = api
                .objects
                .iter()
                .filter(|(p, o)| p.rsplit_once('/').map(|(dir, _)| dir) == Some(path.as_str()) && matches_selector(o, &selector))
                // As the API server lists them: the list has apiVersion and kind, its items not.
                .map(|(_, o)| {
                    let mut item = o.clone();
                    item.as_object_mut().map(|m| (m.remove("apiVersion"), m.remove("kind")));
                    item
                })
                .collect();
            // /api/v1/namespaces/NS/PLURAL and /apis/GROUP/VERSION/namespaces/NS/PLURAL (and the
            // cluster-scoped forms) are collections; one more segment names an object.
            let segments = path.split('/').count();
            let is_collection = path.starts_with("/apis/") != segments.is_multiple_of(2);
            if items.is_empty() && !is_collection {
                return status(404, "NotFound", "not found");
            }
            (StatusCode::OK, axum::Json(json!({ "kind": "List", "apiVersion": "v1", "metadata": {}, "items": items }))).into_response()
        }
        _ => status(405, "MethodNotAllowed", "not supported by the test double"),
    }
}

async fn serve(api: Shared) -> Cluster {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(handle).with_state(api);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    Cluster::from_config(config).unwrap()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn greeting(edit: impl Fn(String) -> String) -> DeployConfig {
    let path = root().join("examples/greeting/deploy.toml");
    DeployConfig::parse(&path, &edit(std::fs::read_to_string(&path).unwrap())).unwrap()
}

fn with_namespace() -> Shared {
    let api = Shared::default();
    api.lock().unwrap().objects.insert(
        "/api/v1/namespaces/greeting".into(),
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "greeting" } }),
    );
    api
}

fn patches(api: &Shared) -> Vec<Request> {
    api.lock().unwrap().requests.iter().filter(|r| r.method == "PATCH").cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_applies_everything_in_order_with_server_side_apply_and_waits_for_the_rollout() {
    let api = with_namespace();
    let cluster = serve(api.clone()).await;
    let options = DeployOptions {
        environment: Some("prod".into()),
        image: Some("registry.example.com/greeting:1.2.3".into()),
        wait: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    let report = tk8s_deploy::deploy(&cluster, &greeting(|t| t), &options).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.namespace_created);

    let applies = patches(&api);
    for r in &applies {
        assert_eq!(r.content_type, "application/apply-patch+yaml", "{}", r.path);
        assert!(r.query.contains("fieldManager=tk8s") && r.query.contains("force=true"), "{} {}", r.path, r.query);
    }
    let kinds: Vec<&str> = applies.iter().map(|r| r.body["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "ConfigMap", "the ApplySet parent is recorded before any member");
    assert_eq!(applies[0].body["metadata"]["name"], "greeting-applyset");
    let members = &applies[1..];
    let ranks: Vec<u8> = members.iter().map(|r| tk8s_deploy::plan::rank(r.body["kind"].as_str().unwrap())).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "dependency order: {kinds:?}");
    let id = applies[0].body["metadata"]["labels"]["applyset.kubernetes.io/id"].clone();
    assert!(members.iter().all(|r| r.body["metadata"]["labels"][PART_OF] == id), "every member carries the ApplySet label");
    assert_eq!(members.len(), tk8s_render::objects(&greeting(|t| t)).len());

    // The image override and the environment reached the objects.
    let worker = members.iter().find(|r| r.path.ends_with("/deployments/greeting-worker")).unwrap();
    assert_eq!(worker.body["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example.com/greeting:1.2.3");
    let hpa = members.iter().find(|r| r.body["kind"] == "HorizontalPodAutoscaler").unwrap();
    assert_eq!(hpa.body["spec"]["maxReplicas"], 20, "prod's bounds");

    // Then the rollout was read, Deployment by Deployment, until done.
    let names: Vec<&str> = report.rollouts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["greeting-worker", "greeting-scaler", "greeting-orchestrator"]);
    assert!(report.rollouts.iter().all(|p| p.state == tk8s_deploy::rollout::State::Done));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_deploy_creates_the_namespace_and_refuses_to_apply_without_the_secrets() {
    let api = Shared::default();
    let cluster = serve(api.clone()).await;
    let config = greeting(|t| {
        t.replace("auth = \"none\"", "auth = \"mtls\"\ntls_secret = \"greeting-temporal-tls\"")
            .replace("# [encryption]\n# key_secret", "[encryption]\nkey_secret")
    });
    let err = tk8s_deploy::deploy(&cluster, &config, &DeployOptions::default()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DeployError::MissingSecrets { .. }), "{text}");
    assert!(text.contains("greeting-temporal-tls (used by Job/greeting-replay-gate, Deployment/greeting-worker"), "{text}");
    assert!(text.contains("kubectl -n greeting create secret generic greeting-temporal-tls --from-file=tls.crt"), "{text}");
    assert!(text.contains("greeting-codec-keys"), "{text}");
    let applied: Vec<String> = patches(&api).iter().map(|r| r.path.clone()).collect();
    assert_eq!(applied, ["/api/v1/namespaces/greeting"], "only the namespace, so the Secrets can be created in it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_only_members_the_config_no_longer_produces() {
    let api = with_namespace();
    let cluster = serve(api.clone()).await;
    let config = greeting(|t| t);
    // A first deploy records the ApplySet; then a member from an older config and a stranger appear.
    tk8s_deploy::deploy(&cluster, &config, &DeployOptions::default()).await.unwrap();
    let id = {
        let a = api.lock().unwrap();
        a.objects["/api/v1/namespaces/greeting/configmaps/greeting-applyset"]["metadata"]["labels"]["applyset.kubernetes.io/id"].clone()
    };
    {
        let mut a = api.lock().unwrap();
        a.objects.insert(
            "/api/v1/namespaces/greeting/services/greeting-old".into(),
            json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "greeting-old", "namespace": "greeting", "labels": { PART_OF: id } } }),
        );
        a.objects.insert(
            "/api/v1/namespaces/greeting/services/someone-elses".into(),
            json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "someone-elses", "namespace": "greeting", "labels": {} } }),
        );
        a.requests.clear();
    }
    let report = tk8s_deploy::deploy(&cluster, &config, &DeployOptions { prune: true, ..Default::default() }).await.unwrap();
    assert_eq!(report.pruned, ["Service/greeting-old"]);
    let a = api.lock().unwrap();
    // (Besides the replay gate's previous Job, which every deploy replaces.)
    let deletes: Vec<&str> = a
        .requests
        .iter()
        .filter(|r| r.method == "DELETE" && !r.path.ends_with("/jobs/greeting-replay-gate"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(deletes, ["/api/v1/namespaces/greeting/services/greeting-old"]);
    assert!(a.objects.contains_key("/api/v1/namespaces/greeting/services/someone-elses"), "an unlabelled object is never pruned");
    let lists: Vec<&Request> = a.requests.iter().filter(|r| r.method == "GET" && r.query.contains("labelSelector")).collect();
    assert!(lists.iter().any(|r| r.path == "/api/v1/namespaces/greeting/services"), "members are listed by label");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_whose_crd_is_not_installed_is_named_with_its_provider() {
    let api = with_namespace();
    api.lock().unwrap().missing_groups.push("monitoring.coreos.com".into());
    let cluster = serve(api.clone()).await;
    let err = tk8s_deploy::deploy(&cluster, &greeting(|t| t), &DeployOptions::default()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("does not serve ServiceMonitor (monitoring.coreos.com/v1)") && text.contains("the Prometheus Operator"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_asks_the_server_and_changes_nothing() {
    let api = with_namespace();
    let cluster = serve(api.clone()).await;
    let config = greeting(|t| t);
    tk8s_deploy::deploy(&cluster, &config, &DeployOptions::default()).await.unwrap();
    let before = api.lock().unwrap().objects.clone();
    api.lock().unwrap().requests.clear();
    let options =
        DeployOptions { dry_run: true, image: Some("registry.example.com/greeting:9.9.9".into()), prune: true, ..Default::default() };
    let report = tk8s_deploy::deploy(&cluster, &config, &options).await.unwrap();
    for r in patches(&api) {
        assert!(r.query.contains("dryRun=All"), "{} {}", r.path, r.query);
    }
    assert!(api.lock().unwrap().requests.iter().all(|r| r.method != "DELETE"));
    assert_eq!(api.lock().unwrap().objects, before, "nothing stored");
    let (name, diff) = report.diffs.iter().find(|(n, _)| n == "Deployment/greeting-worker").expect("the worker changes");
    assert!(
        diff.contains("-        image: registry.example.com/greeting:0.1.0")
            && diff.contains("+        image: registry.example.com/greeting:9.9.9"),
        "{name}\n{diff}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_into_a_new_namespace_shows_everything_as_new_and_creates_nothing() {
    let api = Shared::default();
    let cluster = serve(api.clone()).await;
    let report = tk8s_deploy::deploy(&cluster, &greeting(|t| t), &DeployOptions { dry_run: true, ..Default::default() }).await.unwrap();
    assert!(report.namespace_created, "reported as to be created");
    assert!(patches(&api).is_empty(), "nothing sent to be stored, not even the namespace");
    assert_eq!(report.diffs.len(), tk8s_render::objects(&greeting(|t| t)).len());
    assert!(report.diffs.iter().all(|(_, d)| d.lines().skip(2).all(|l| !l.starts_with('-'))), "all additions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_pod_fails_the_wait_with_its_reason_and_last_log_lines() {
    let api = with_namespace();
    api.lock().unwrap().stuck_pods.push(
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "greeting-worker-7c9-x2", "namespace": "greeting" },
        "status": { "containerStatuses": [{ "name": "worker", "restartCount": 3, "image": "i", "imageID": "", "ready": false,
            "state": { "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 40s" } },
            "lastState": { "terminated": { "exitCode": 78 } } }] } }),
    );
    let cluster = serve(api.clone()).await;
    let options = DeployOptions { wait: Some(Duration::from_secs(30)), ..Default::default() };
    let err = tk8s_deploy::deploy(&cluster, &greeting(|t| t), &options).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("greeting-worker-7c9-x2") && text.contains("CrashLoopBackOff") && text.contains("last exit code 78"), "{text}");
    assert!(text.contains("expected a whole number"), "the container's last log lines: {text}");
    let a = api.lock().unwrap();
    let log = a.requests.iter().find(|r| r.path.ends_with("/log") && !r.path.contains("replay-gate")).expect("the log was read");
    assert!(log.query.contains("previous=true") && log.query.contains("tailLines=20"), "{}", log.query);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_sends_kubectls_patch_and_waits() {
    let api = with_namespace();
    let cluster = serve(api.clone()).await;
    let config = greeting(|t| t);
    tk8s_deploy::deploy(&cluster, &config, &DeployOptions::default()).await.unwrap();
    api.lock().unwrap().requests.clear();
    let done = tk8s_deploy::restart(&cluster, &config, Some("worker"), Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!(done.len(), 1);
    let p = patches(&api);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].path, "/apis/apps/v1/namespaces/greeting/deployments/greeting-worker");
    assert_eq!(p[0].content_type, "application/strategic-merge-patch+json");
    let at = p[0].body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].as_str().unwrap();
    assert!(at.starts_with("20") && at.ends_with('Z'), "{at}");
    let err = tk8s_deploy::restart(&cluster, &config, Some("wroker"), None).await.unwrap_err();
    assert!(err.to_string().contains("roles: worker, scaler, orchestrator"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_gate_runs_first_and_a_failing_one_stops_the_rollout() {
    let api = with_namespace();
    let cluster = serve(api.clone()).await;
    let config = greeting(|t| t);
    // Passing: the Job is applied before any Deployment, its verdict read, then the rest.
    let report = tk8s_deploy::deploy(&cluster, &config, &DeployOptions::default()).await.unwrap();
    assert!(report.replay_gate.as_deref().is_some_and(|v| v.starts_with("replayed 4 histories")), "{:?}", report.replay_gate);
    let kinds: Vec<String> = patches(&api).iter().map(|r| r.body["kind"].as_str().unwrap().to_string()).collect();
    let job = kinds.iter().position(|k| k == "Job").expect("the gate was applied");
    assert!(kinds.iter().position(|k| k == "Deployment").unwrap() > job, "{kinds:?}");

    // Failing: the earlier run is replaced, the verdict shown, and no Deployment applied.
    api.lock().unwrap().gate_fails = Some(
        "{\"replayed\":3,\"failed\":1,\"undecodable\":0,\"from_namespace\":4,\"from_files\":0,\"failures\":[{\"workflow_type\":\"GreetingWorkflow\",\"workflow_id\":\"greeting-once-7\",\"run_id\":\"r7\",\"kind\":\"nondeterminism\",\"message\":\"[TMPRL1100] Nondeterminism error\"}]}".into(),
    );
    api.lock().unwrap().requests.clear();
    let err = tk8s_deploy::deploy(
        &cluster,
        &config,
        &DeployOptions { image: Some("registry.example.com/greeting:0.2.0".into()), ..Default::default() },
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.exit_code(), 1);
    assert!(text.contains("replay gate (greeting-replay-gate) failed (BackoffLimitExceeded)"), "{text}");
    assert!(text.contains("FAILED GreetingWorkflow greeting-once-7 (run r7): nondeterminism"), "{text}");
    assert!(text.contains("--skip-replay-gate"), "{text}");
    {
        let a = api.lock().unwrap();
        assert!(
            a.requests.iter().any(|r| r.method == "DELETE" && r.path.ends_with("/jobs/greeting-replay-gate")),
            "the previous run is replaced"
        );
        let applied: Vec<&str> = a.requests.iter().filter(|r| r.method == "PATCH").filter_map(|r| r.body["kind"].as_str()).collect();
        assert!(!applied.contains(&"Deployment"), "nothing that rolls the worker: {applied:?}");
        let worker = &a.objects["/apis/apps/v1/namespaces/greeting/deployments/greeting-worker"];
        assert_eq!(
            worker["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example.com/greeting:0.1.0",
            "still the old image"
        );
    }

    // Skipped on request: no Job, the rollout proceeds.
    api.lock().unwrap().requests.clear();
    let options = DeployOptions { image: Some("registry.example.com/greeting:0.2.0".into()), skip_replay_gate: true, ..Default::default() };
    let report = tk8s_deploy::deploy(&cluster, &config, &options).await.unwrap();
    assert!(report.replay_gate.is_none());
    let a = api.lock().unwrap();
    assert!(a.requests.iter().filter(|r| r.method == "PATCH").all(|r| r.body["kind"] != "Job"));
    let worker = &a.objects["/apis/apps/v1/namespaces/greeting/deployments/greeting-worker"];
    assert_eq!(worker["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example.com/greeting:0.2.0");
}
