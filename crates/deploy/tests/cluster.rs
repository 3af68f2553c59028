//! `tk8s deploy`, `restart` and `status` against a real Kubernetes 1.20.2 API server, controller
//! manager and scheduler (testkit's `cluster`), with the fake node standing in for a kubelet: it
//! runs no containers, but reports pods as the image tag asks (ready, never ready, crashing; a
//! Job's pod succeeding, or failing for a `fails` tag). One control plane for the whole binary,
//! one namespace per scenario; scenarios run in order and each reports its time.
//!
//! Rendered objects meet 1.20 through `adapt_1_20` (two API versions renamed, listed and tested
//! there); one scenario sends them unadapted and expects the discovery check's refusal.

use serde_json::{Value, json};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tk8s_deploy::plan::{ObjectRef, PART_OF};
use tk8s_deploy::{Cluster, DeployError, DeployOptions, Report};
use tk8s_render::DeployConfig;
use tk8s_testkit::cluster::node::{self, FakeNode};
use tk8s_testkit::cluster::{ControlPlane, adapt_1_20, build, crds};

type Outcome = Result<(), String>;
type Scenario = for<'a> fn(&'a Cluster) -> Pin<Box<dyn Future<Output = Outcome> + 'a>>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("{} ({}:{})", format!($($msg)+), file!(), line!()));
        }
    };
}

const WAIT: Duration = Duration::from_secs(90);

/// The greeting example's deploy config in namespace `ns`, edited by `edit`. Images need not
/// exist: the fake node pulls nothing.
fn config(ns: &str, edit: impl FnOnce(&mut toml::Table)) -> DeployConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/greeting/deploy.toml");
    let mut doc: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let app = doc["app"].as_table_mut().unwrap();
    app.insert("namespace".into(), ns.into());
    app.insert("image".into(), "127.0.0.1:5000/greeting".into());
    doc["monitoring"].as_table_mut().unwrap().insert("prometheus_operator".into(), false.into());
    edit(&mut doc);
    DeployConfig::parse(&path, &toml::to_string(&doc).unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

fn table<'a>(doc: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    doc.entry(key).or_insert_with(|| toml::Table::new().into()).as_table_mut().unwrap()
}

/// Render, adapt for 1.20, deploy.
async fn deploy(cluster: &Cluster, config: &DeployConfig, options: &DeployOptions) -> Result<Report, DeployError> {
    let (c, objects) = tk8s_deploy::render(config, options)?;
    tk8s_deploy::deploy_objects(cluster, &c, adapt_1_20::adapt(&objects), options).await
}

fn waiting() -> DeployOptions {
    DeployOptions { wait: Some(WAIT), prune: true, ..Default::default() }
}

fn r(api_version: &str, kind: &str, ns: &str, name: &str) -> ObjectRef {
    ObjectRef { api_version: api_version.into(), kind: kind.into(), namespace: Some(ns.into()), name: name.into() }
}

async fn get(cluster: &Cluster, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    cluster.get(&r(api_version, kind, ns, name)).await.ok().flatten()
}

async fn list(cluster: &Cluster, api_version: &str, kind: &str, ns: &str, selector: &str) -> Vec<Value> {
    cluster.list_labelled(api_version, kind, ns, selector).await.unwrap_or_default()
}

fn names(items: &[Value]) -> Vec<String> {
    items.iter().map(|o| o["metadata"]["name"].as_str().unwrap_or_default().to_string()).collect()
}

fn images_of(pods: &[Value]) -> Vec<String> {
    pods.iter().filter_map(|p| p.pointer("/spec/containers/0/image").and_then(Value::as_str).map(String::from)).collect()
}

// ---------------------------------------------------------------- scenarios (namespace "app")

/// A first deploy into a new namespace: everything applied, the gate Job run, every Deployment
/// rolled out by the real controllers; the server defaulted what the render left out.
async fn first_deploy(cluster: &Cluster) -> Outcome {
    let report = deploy(cluster, &config("app", |_| {}), &waiting()).await.map_err(|e| e.to_string())?;
    ensure!(report.namespace_created, "the namespace was not reported created: {report:?}");
    ensure!(report.replay_gate.is_some(), "the replay gate did not run: {report:?}");
    ensure!(
        !report.rollouts.is_empty() && report.rollouts.iter().all(|p| p.state == tk8s_deploy::rollout::State::Done),
        "{:?}",
        report.rollouts
    );
    let deployments = list(cluster, "apps/v1", "Deployment", "app", "app.kubernetes.io/name=greeting").await;
    ensure!(deployments.len() == report.rollouts.len(), "deployments {:?} vs rollouts {:?}", names(&deployments), report.rollouts);
    // Every replica ready. The worker's HPA raises it from the Deployment's default of 1 to its
    // minimum of 2 on its own schedule (every 15 s), so this converges rather than holds at once.
    let all_ready = |ds: &[Value]| {
        ds.iter().all(|d| {
            let want = d["spec"]["replicas"].as_i64().unwrap_or(0);
            want > 0 && d["status"]["readyReplicas"].as_i64() == Some(want) && d["status"]["replicas"].as_i64() == Some(want)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut deployments = deployments;
    while !all_ready(&deployments) {
        let shown: Vec<String> = deployments
            .iter()
            .map(|d| format!("{} {}/{}", d["metadata"]["name"], d["status"]["readyReplicas"], d["spec"]["replicas"]))
            .collect();
        ensure!(Instant::now() < deadline, "not every replica ready after 60 s: {shown:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        deployments = list(cluster, "apps/v1", "Deployment", "app", "app.kubernetes.io/name=greeting").await;
    }
    let hpa = get(cluster, "autoscaling/v2beta2", "HorizontalPodAutoscaler", "app", "greeting-worker").await;
    ensure!(hpa.is_some(), "no HPA stored");
    let service = get(cluster, "v1", "Service", "app", "greeting-worker-metrics").await.ok_or("no worker metrics Service")?;
    // Defaulted by the server: the type, and (a headless Service for scraping) clusterIPs.
    ensure!(service["spec"]["type"] == json!("ClusterIP") && service["spec"]["clusterIPs"] == json!(["None"]), "not defaulted: {service}");
    let parent = get(cluster, "v1", "ConfigMap", "app", "greeting-applyset").await.ok_or("no ApplySet parent")?;
    let id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"].as_str().ok_or("the parent has no id")?.to_string();
    let members = list(cluster, "v1", "ConfigMap", "app", &format!("{PART_OF}={id}")).await;
    ensure!(
        names(&members).contains(&"greeting-config".to_string()) || !members.is_empty(),
        "no labelled ConfigMap members: {:?}",
        names(&members)
    );
    let job = get(cluster, "batch/v1", "Job", "app", "greeting-replay-gate").await.ok_or("no replay gate Job")?;
    ensure!(job["status"]["succeeded"] == json!(1), "the gate Job did not succeed: {}", job["status"]);
    Ok(())
}

/// A second deploy with a new tag: the gate runs against it, the Deployments roll, the old
/// ReplicaSets are scaled to zero and no pod of the old image is left.
async fn new_tag_rolls(cluster: &Cluster) -> Outcome {
    let c = config("app", |_| {});
    let options = DeployOptions { image: Some("127.0.0.1:5000/greeting:0.2.0".into()), ..waiting() };
    let report = deploy(cluster, &c, &options).await.map_err(|e| e.to_string())?;
    ensure!(report.replay_gate.is_some(), "the gate did not run again");
    let worker = get(cluster, "apps/v1", "Deployment", "app", "greeting-worker").await.ok_or("no worker")?;
    ensure!(
        worker.pointer("/spec/template/spec/containers/0/image") == Some(&json!("127.0.0.1:5000/greeting:0.2.0")),
        "{}",
        worker["spec"]["template"]
    );
    // The old pods are deleted once the rollout is done; the fake node finalises them within a
    // beat, so terminating ones are not counted.
    let pods: Vec<Value> = list(cluster, "v1", "Pod", "app", "app.kubernetes.io/component=worker")
        .await
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    ensure!(!pods.is_empty() && images_of(&pods).iter().all(|i| i.ends_with(":0.2.0")), "pods: {:?}", images_of(&pods));
    let sets = list(cluster, "apps/v1", "ReplicaSet", "app", "app.kubernetes.io/component=worker").await;
    let old: Vec<&Value> = sets
        .iter()
        .filter(|s| s.pointer("/spec/template/spec/containers/0/image") != Some(&json!("127.0.0.1:5000/greeting:0.2.0")))
        .collect();
    ensure!(!old.is_empty() && old.iter().all(|s| s["spec"]["replicas"] == json!(0)), "old ReplicaSets: {old:?}");
    let job = get(cluster, "batch/v1", "Job", "app", "greeting-replay-gate").await.ok_or("no gate Job")?;
    ensure!(
        job.pointer("/spec/template/spec/containers/0/image") == Some(&json!("127.0.0.1:5000/greeting:0.2.0")),
        "the gate ran the old image"
    );
    Ok(())
}

/// `--dry-run` with nothing changed shows no diff; with a changed setting, the worker's diff and
/// nothing stored.
async fn dry_run(cluster: &Cluster) -> Outcome {
    let options = DeployOptions { image: Some("127.0.0.1:5000/greeting:0.2.0".into()), dry_run: true, ..waiting() };
    let unchanged = deploy(cluster, &config("app", |_| {}), &options).await.map_err(|e| e.to_string())?;
    // Kubernetes 1.20 quirk: a dry-run apply of an HPA in autoscaling/v2beta2 returns each metric
    // twice (a real apply stores one: the object is kept as autoscaling/v1 with the metrics in an
    // annotation, and the dry-run path adds them again). Anything else is a real diff.
    let duplicated_metric = |name: &str, diff: &str| {
        name.starts_with("HorizontalPodAutoscaler/")
            && !diff.lines().any(|l| l.starts_with('-') && !l.starts_with("---"))
            && diff.lines().any(|l| l.starts_with("+        name: tk8s_desired_worker_replicas"))
    };
    let unexpected: Vec<&(String, String)> = unchanged.diffs.iter().filter(|(n, d)| !duplicated_metric(n, d)).collect();
    ensure!(
        unexpected.is_empty(),
        "diffs with nothing changed:\n{}",
        unexpected.iter().map(|(n, d)| format!("{n}\n{d}")).collect::<String>()
    );
    let changed = config("app", |doc| {
        table(table(doc, "worker"), "settings").insert(tk8s_config::spec::WORKER_MAX_CONCURRENT_ACTIVITIES.env.into(), "50".into());
    });
    let report = deploy(cluster, &changed, &options).await.map_err(|e| e.to_string())?;
    let diffed: Vec<&String> = report.diffs.iter().map(|(n, _)| n).collect();
    // Worker settings are in the worker's env: its Deployment shows the change.
    ensure!(
        report.diffs.iter().any(|(n, d)| n == "Deployment/greeting-worker"
            && d.contains("-          value: '100'")
            && d.contains("+          value: '50'")),
        "diffs: {diffed:?}\n{:?}",
        report.diffs
    );
    let live = get(cluster, "apps/v1", "Deployment", "app", "greeting-worker").await.ok_or("no worker")?;
    let env = live.pointer("/spec/template/spec/containers/0/env").cloned().unwrap_or_default();
    ensure!(env.to_string().contains(r#""value":"100""#), "a dry run changed the worker: {env}");
    ensure!(report.replay_gate.is_none(), "a dry run ran the gate");
    Ok(())
}

/// Another manager changes replicas: where the config sets them (the orchestrator) the next
/// deploy takes them back (force); where an autoscaler owns them (the worker) they are left alone.
async fn other_manager(cluster: &Cluster) -> Outcome {
    let scale = |name: &str, replicas: i64| {
        let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::namespaced(cluster.client.clone(), "app");
        let name = name.to_string();
        async move {
            let params = kube::api::PatchParams { field_manager: Some("kubectl".into()), ..Default::default() };
            api.patch_scale(&name, &params, &kube::api::Patch::Merge(json!({ "spec": { "replicas": replicas } })))
                .await
                .map_err(|e| e.to_string())
        }
    };
    scale("greeting-orchestrator", 3).await?;
    scale("greeting-worker", 4).await?;
    let options = DeployOptions { image: Some("127.0.0.1:5000/greeting:0.2.0".into()), ..waiting() };
    deploy(cluster, &config("app", |_| {}), &options).await.map_err(|e| e.to_string())?;
    let replicas = |d: Option<Value>| d.and_then(|d| d["spec"]["replicas"].as_i64());
    let orchestrator = replicas(get(cluster, "apps/v1", "Deployment", "app", "greeting-orchestrator").await);
    let worker = replicas(get(cluster, "apps/v1", "Deployment", "app", "greeting-worker").await);
    ensure!(orchestrator == Some(1), "the orchestrator's replicas were not taken back: {orchestrator:?}");
    ensure!(worker == Some(4), "the autoscaled worker's replicas were overwritten: {worker:?}");
    Ok(())
}

/// `tk8s restart --role worker` rolls the worker's pods onto a new ReplicaSet.
async fn restart(cluster: &Cluster) -> Outcome {
    let c = config("app", |doc| {
        table(doc, "app").insert("tag".into(), "0.2.0".into());
    });
    let progress = tk8s_deploy::restart(cluster, &c, Some("worker"), Some(WAIT)).await.map_err(|e| e.to_string())?;
    ensure!(progress.len() == 1 && progress[0].state == tk8s_deploy::rollout::State::Done, "{progress:?}");
    let worker = get(cluster, "apps/v1", "Deployment", "app", "greeting-worker").await.ok_or("no worker")?;
    ensure!(worker.pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt").is_some(), "no restart annotation");
    // A new ReplicaSet carries the restart annotation, and holds every replica.
    let restarted_at = worker.pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt").cloned();
    let sets = list(cluster, "apps/v1", "ReplicaSet", "app", "app.kubernetes.io/component=worker").await;
    let new_set = sets
        .iter()
        .find(|s| s.pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt").cloned() == restarted_at)
        .ok_or("no ReplicaSet of the restarted template")?;
    ensure!(new_set["spec"]["replicas"] == worker["spec"]["replicas"], "the restarted ReplicaSet: {}", new_set["spec"]);
    Ok(())
}

/// `tk8s status`: every role, its image, replicas ready, its pods listed; the pods' own
/// `/readyz` cannot be read through the proxy (no kubelet), and status says why.
async fn status(cluster: &Cluster) -> Outcome {
    let c = config("app", |doc| {
        table(doc, "app").insert("tag".into(), "0.2.0".into());
    });
    let roles = tk8s_deploy::status(cluster, &c, None).await.map_err(|e| e.to_string())?;
    ensure!(roles.len() >= 2, "{roles:?}");
    for role in &roles {
        let p = role.progress.as_ref().ok_or(format!("{} not deployed", role.deployment))?;
        ensure!(p.state == tk8s_deploy::rollout::State::Done && p.ready == p.desired, "{role:?}");
        ensure!(!role.pods.is_empty() && role.pods.iter().all(|(_, why)| !why.is_empty()), "{role:?}");
    }
    let worker = roles.iter().find(|r| r.deployment == "greeting-worker").ok_or("no worker role")?;
    ensure!(worker.image == "127.0.0.1:5000/greeting:0.2.0", "{}", worker.image);
    Ok(())
}

/// A replay gate that refuses the new image stops the deploy: the worker keeps the old image.
async fn gate_refuses(cluster: &Cluster) -> Outcome {
    let options = DeployOptions { image: Some("127.0.0.1:5000/greeting:0.3.0-fails-replay".into()), ..waiting() };
    match deploy(cluster, &config("app", |_| {}), &options).await {
        Err(DeployError::ReplayGate { job, .. }) => ensure!(job == "greeting-replay-gate", "{job}"),
        other => return Err(format!("expected the gate's refusal, got {other:?}")),
    }
    let worker = get(cluster, "apps/v1", "Deployment", "app", "greeting-worker").await.ok_or("no worker")?;
    let image = worker.pointer("/spec/template/spec/containers/0/image").cloned();
    ensure!(image == Some(json!("127.0.0.1:5000/greeting:0.2.0")), "the worker was rolled past a failed gate: {image:?}");
    Ok(())
}

/// A role removed from the config is pruned through the ApplySet; an object without the
/// ApplySet label is left alone.
async fn prune(cluster: &Cluster) -> Outcome {
    let by_hand = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "made-by-hand", "namespace": "app" }, "data": { "a": "b" } });
    cluster.apply(&by_hand, false).await.map_err(|e| e.to_string())?;
    let c = config("app", |doc| {
        doc.remove("orchestrator");
    });
    let options = DeployOptions { image: Some("127.0.0.1:5000/greeting:0.2.0".into()), ..waiting() };
    let report = deploy(cluster, &c, &options).await.map_err(|e| e.to_string())?;
    ensure!(report.pruned.iter().any(|p| p.contains("Deployment") && p.contains("greeting-orchestrator")), "pruned: {:?}", report.pruned);
    ensure!(get(cluster, "apps/v1", "Deployment", "app", "greeting-orchestrator").await.is_none(), "the orchestrator is still there");
    ensure!(get(cluster, "v1", "ServiceAccount", "app", "greeting-orchestrator").await.is_none(), "its ServiceAccount is still there");
    ensure!(get(cluster, "v1", "ConfigMap", "app", "made-by-hand").await.is_some(), "an unlabelled object was deleted");
    ensure!(!report.pruned.iter().any(|p| p.contains("greeting-worker")), "the worker was pruned: {:?}", report.pruned);
    Ok(())
}

// ------------------------------------------------------ scenarios with a namespace of their own

/// A missing Secret stops the deploy before anything but the namespace is created.
async fn missing_secret(cluster: &Cluster) -> Outcome {
    let c = config("secrets", |doc| {
        doc.insert("encryption".into(), toml::toml! { key_secret = "greeting-codec-keys" }.into());
    });
    match deploy(cluster, &c, &waiting()).await {
        Err(DeployError::MissingSecrets { secrets, .. }) => ensure!(secrets.iter().any(|s| s.name == "greeting-codec-keys"), "{secrets:?}"),
        other => return Err(format!("expected MissingSecrets, got {other:?}")),
    }
    ensure!(get(cluster, "v1", "Namespace", "", "secrets").await.is_some(), "the namespace was not created");
    let applied = list(cluster, "v1", "ConfigMap", "secrets", "app.kubernetes.io/managed-by=tk8s").await;
    let deployments = list(cluster, "apps/v1", "Deployment", "secrets", "").await;
    ensure!(applied.is_empty() && deployments.is_empty(), "applied anyway: {:?} {:?}", names(&applied), names(&deployments));
    Ok(())
}

/// A rollout that cannot become ready: the controller's ProgressDeadlineExceeded, with the
/// reason, ends the wait (well before `--wait`).
async fn progress_deadline(cluster: &Cluster) -> Outcome {
    let c = config("stuck", |doc| {
        table(doc, "app").insert("progress_deadline".into(), "10s".into());
        doc.remove("orchestrator");
    });
    let started = Instant::now();
    let options = DeployOptions { image: Some("127.0.0.1:5000/greeting:0.1.0-notready".into()), ..waiting() };
    match deploy(cluster, &c, &options).await {
        Err(DeployError::Rollout(why)) => ensure!(why.contains("progress deadline") && why.contains("greeting-worker"), "{why}"),
        other => return Err(format!("expected a progress deadline failure, got {other:?}")),
    }
    ensure!(started.elapsed() < WAIT, "the wait ran to its end ({:?})", started.elapsed());
    Ok(())
}

/// A pod in CrashLoopBackOff fails the wait at once with the container's reason.
async fn crash_loop(cluster: &Cluster) -> Outcome {
    let c = config("crash", |doc| {
        doc.remove("orchestrator");
    });
    let options = DeployOptions { image: Some("127.0.0.1:5000/greeting:0.1.0-crash".into()), ..waiting() };
    match deploy(cluster, &c, &options).await {
        Err(DeployError::Rollout(why)) => ensure!(why.contains("CrashLoopBackOff") && why.contains("78"), "{why}"),
        other => return Err(format!("expected a crash loop failure, got {other:?}")),
    }
    Ok(())
}

/// The Prometheus Operator's kinds before and after their CRDs are installed: first refused
/// with the operator named and nothing applied, then deployed.
async fn crds_missing_then_installed(cluster: &Cluster) -> Outcome {
    let c = config("monitored", |doc| {
        table(doc, "monitoring").insert("prometheus_operator".into(), true.into());
    });
    match deploy(cluster, &c, &waiting()).await {
        Err(DeployError::CrdMissing { kind, provider, .. }) => {
            ensure!(kind == "ServiceMonitor" || kind == "PrometheusRule", "{kind}");
            ensure!(provider == "the Prometheus Operator", "{provider}");
        }
        other => return Err(format!("expected CrdMissing, got {other:?}")),
    }
    ensure!(get(cluster, "v1", "Namespace", "", "monitored").await.is_none(), "the namespace was created before the check");
    for crd in crds::prometheus_operator() {
        cluster.apply(&crd, false).await.map_err(|e| e.to_string())?;
    }
    // Established: the kinds are served.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.served_kinds("monitoring.coreos.com/v1").await.map_err(|e| e.to_string())?.is_none_or(|k| k.len() < 2) {
        ensure!(Instant::now() < deadline, "the CRDs were not served after 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    deploy(cluster, &c, &waiting()).await.map_err(|e| e.to_string())?;
    let monitors = list(cluster, "monitoring.coreos.com/v1", "ServiceMonitor", "monitored", "app.kubernetes.io/name=greeting").await;
    let rules = list(cluster, "monitoring.coreos.com/v1", "PrometheusRule", "monitored", "app.kubernetes.io/name=greeting").await;
    ensure!(monitors.len() == 1 && rules.len() == 1, "stored: {:?} {:?}", names(&monitors), names(&rules));
    Ok(())
}

/// Unadapted objects on 1.20: refused by discovery before anything is applied, naming the API
/// and the Kubernetes version that serves it.
async fn cluster_too_old(cluster: &Cluster) -> Outcome {
    let (c, objects) = tk8s_deploy::render(&config("old", |_| {}), &waiting()).map_err(|e| e.to_string())?;
    match tk8s_deploy::deploy_objects(cluster, &c, objects, &waiting()).await {
        Err(e @ DeployError::ClusterTooOld { .. }) => {
            let text = e.to_string();
            ensure!(
                text.contains("Kubernetes v1.20.2")
                    && text.contains("autoscaling/v2 HorizontalPodAutoscaler")
                    && text.contains("policy/v1 PodDisruptionBudget"),
                "{text}"
            );
            ensure!(text.contains("upgrade the cluster to Kubernetes 1.23 or later"), "{text}");
        }
        other => return Err(format!("expected ClusterTooOld, got {other:?}")),
    }
    ensure!(get(cluster, "v1", "Namespace", "", "old").await.is_none(), "the namespace was created");
    Ok(())
}

macro_rules! scenarios {
    ($($f:ident),* $(,)?) => { vec![$((stringify!($f), (|c| Box::pin($f(c))) as Scenario)),*] };
}

fn main() -> ExitCode {
    // `cargo test` passes libtest flags; the first other argument filters scenarios by name.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    if let Err(why) = build::built() {
        eprintln!("error: the cluster tests cannot run: {why}");
        return ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(run(filter))
}

async fn run(filter: Option<String>) -> ExitCode {
    let dir = tempfile::tempdir().expect("a state directory");
    let started = Instant::now();
    let plane = match ControlPlane::start(dir.path(), false, &mut |line| eprintln!("{line}")).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: the control plane did not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = plane.client().await.expect("a client");
    let node = match FakeNode::start(client.clone(), node::NAME).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("control plane and fake node up in {:.1?}", started.elapsed());
    let cluster = Cluster { client };
    // The "app" scenarios build on each other in this order.
    let all: Vec<(&str, Scenario)> = scenarios![
        first_deploy,
        new_tag_rolls,
        dry_run,
        other_manager,
        restart,
        status,
        gate_refuses,
        prune,
        missing_secret,
        progress_deadline,
        crash_loop,
        crds_missing_then_installed,
        cluster_too_old,
    ];
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, scenario) in all {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let t = Instant::now();
        let outcome = scenario(&cluster).await;
        match &outcome {
            Ok(()) => println!("test {name} ... ok ({:.1?})", t.elapsed()),
            Err(why) => {
                println!("test {name} ... FAILED ({:.1?})\n{why}", t.elapsed());
                failed.push(name);
            }
        }
    }
    let rss: Vec<String> = plane.rss_kib().iter().map(|(n, kib)| format!("{n} {} MiB", kib / 1024)).collect();
    println!("memory at the end: {}", rss.join(", "));
    drop(node);
    drop(plane);
    println!("\n{ran} scenarios, {} failed, in {:.1?}", failed.len(), started.elapsed());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
