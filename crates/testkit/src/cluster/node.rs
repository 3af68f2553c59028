//! The fake node: the harness's stand-in for a kubelet, in the spirit of the kwok project. It
//! runs no containers. It registers a Node, keeps its Lease and Ready condition fresh, reports
//! every pod bound to it as running and ready, and finalises deletions, so that the real
//! controllers (Deployments, ReplicaSets, Jobs) move status as they would on a real cluster.
//!
//! The image's tag chooses a failure mode, so that tests can ask for one:
//! - `notready`: running, never ready (a rollout that cannot finish);
//! - `crash`: waiting in CrashLoopBackOff after restarts;
//! - a pod owned by a Job completes: `Succeeded`, or `Failed` with exit code 1 when the tag
//!   contains `fails` (a replay gate that refuses the image).

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The node the harness registers.
pub const NAME: &str = "fake-node-1";

/// What the fake node makes of a pod, from its images and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Ready,
    NotReady,
    CrashLoop,
    Succeeds,
    Fails,
}

/// The fate of a pod (its JSON), by the rules in the module doc.
pub fn fate(pod: &Value) -> Fate {
    let images: Vec<&str> = pod["spec"]["containers"].as_array().into_iter().flatten().filter_map(|c| c["image"].as_str()).collect();
    let tag_has = |word: &str| images.iter().any(|i| i.rsplit_once(':').is_some_and(|(_, tag)| !tag.contains('/') && tag.contains(word)));
    let job = pod["metadata"]["ownerReferences"].as_array().into_iter().flatten().any(|o| o["kind"] == "Job");
    match (job, tag_has("fails"), tag_has("crash"), tag_has("notready")) {
        (true, true, ..) => Fate::Fails,
        (true, ..) => Fate::Succeeds,
        (false, _, true, _) => Fate::CrashLoop,
        (false, _, _, true) => Fate::NotReady,
        _ => Fate::Ready,
    }
}

/// The status the node reports for a pod of that fate.
pub fn pod_status(pod: &Value, fate: Fate, now: &str) -> Value {
    let ready = fate == Fate::Ready;
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let mut s = json!({
                "name": c["name"], "image": c["image"], "imageID": format!("fake://{}", c["image"].as_str().unwrap_or_default()),
                "containerID": "fake://0", "ready": ready, "started": true, "restartCount": 0,
                "state": { "running": { "startedAt": now } },
            });
            match fate {
                Fate::CrashLoop => {
                    s["started"] = json!(false);
                    s["restartCount"] = json!(3);
                    s["state"] = json!({ "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container (fake node)" } });
                    s["lastState"] = json!({ "terminated": { "exitCode": 78, "reason": "Error", "startedAt": now, "finishedAt": now } });
                }
                Fate::Succeeds | Fate::Fails => {
                    let code = if fate == Fate::Fails { 1 } else { 0 };
                    s["ready"] = json!(false);
                    s["started"] = json!(false);
                    s["state"] = json!({ "terminated": { "exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "startedAt": now, "finishedAt": now } });
                }
                _ => {}
            }
            s
        })
        .collect();
    let phase = match fate {
        Fate::Succeeds => "Succeeded",
        Fate::Fails => "Failed",
        _ => "Running",
    };
    let condition = |kind: &str, ok: bool| json!({ "type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": now });
    json!({ "status": {
        "phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{ "ip": "127.0.0.1" }], "startTime": now,
        "conditions": [condition("PodScheduled", true), condition("Initialized", true), condition("ContainersReady", ready), condition("Ready", ready)],
        "containerStatuses": statuses,
    }})
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn micro_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn node_conditions(now: &str) -> Value {
    let c = |kind: &str, status: &str, reason: &str| json!({ "type": kind, "status": status, "reason": reason, "message": "fake node", "lastHeartbeatTime": now, "lastTransitionTime": now });
    json!([
        c("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        c("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        c("PIDPressure", "False", "KubeletHasSufficientPID"),
        c("Ready", "True", "KubeletReady"),
    ])
}

/// Register the node `name` and report its status.
pub async fn register(client: &kube::Client, name: &str) -> Result<(), String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "tk8s.dev/fake-node": "true" } },
    }))
    .map_err(|e| e.to_string())?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(format!("registering node {name}: {e}")),
    }
    let capacity = json!({ "cpu": "32", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi" });
    let status = json!({ "status": {
        "capacity": capacity, "allocatable": capacity, "conditions": node_conditions(&now()),
        "addresses": [{ "type": "InternalIP", "address": "127.0.0.1" }, { "type": "Hostname", "address": name }],
        "nodeInfo": { "architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2",
                      "containerRuntimeVersion": "fake://0", "kernelVersion": "", "osImage": "tk8s fake node", "machineID": "", "systemUUID": "", "bootID": "" },
    }});
    nodes.patch_status(name, &PatchParams::default(), &Patch::Strategic(status)).await.map_err(|e| format!("node {name} status: {e}"))?;
    Ok(())
}

async fn heartbeat(client: &kube::Client, name: &str) -> Result<(), kube::Error> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": { "name": name, "namespace": "kube-node-lease" },
                        "spec": { "holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_now() } });
    leases.patch(name, &PatchParams::apply("tk8s-fake-node").force(), &Patch::Apply(lease)).await?;
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(json!({ "status": { "conditions": node_conditions(&now()) } })))
        .await?;
    Ok(())
}

/// One pass over the pods bound to the node; `reported` remembers the pods already reported.
async fn reconcile(client: &kube::Client, name: &str, reported: &mut BTreeSet<String>) -> Result<(), kube::Error> {
    let all: Api<Pod> = Api::all(client.clone());
    let pods = all.list(&ListParams::default().fields(&format!("spec.nodeName={name}"))).await?;
    for pod in pods.items {
        let value = serde_json::to_value(&pod).unwrap_or_default();
        let (Some(ns), Some(pod_name), Some(uid)) = (pod.metadata.namespace.clone(), pod.metadata.name.clone(), pod.metadata.uid.clone())
        else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        if pod.metadata.deletion_timestamp.is_some() {
            // The kubelet's last word: the containers are gone.
            let _ = api.delete(&pod_name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
            reported.remove(&uid);
            continue;
        }
        if reported.contains(&uid) {
            continue;
        }
        let status = pod_status(&value, fate(&value), &now());
        api.patch_status(&pod_name, &PatchParams::default(), &Patch::Merge(status)).await?;
        reported.insert(uid);
    }
    Ok(())
}

/// Run the node `name` until `stop` is set: register, then reconcile every 300 ms and renew the
/// Lease every 10 s. Errors are retried (the API server may be restarting); `log` hears of them.
pub async fn run(client: kube::Client, name: &str, stop: Arc<AtomicBool>, log: &(dyn Fn(String) + Sync)) -> Result<(), String> {
    register(&client, name).await?;
    let mut reported = BTreeSet::new();
    let mut last_beat: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if last_beat.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            match heartbeat(&client, name).await {
                Ok(()) => last_beat = Some(Instant::now()),
                Err(e) => log(format!("fake node {name}: heartbeat: {e}")),
            }
        }
        if let Err(e) = reconcile(&client, name, &mut reported).await {
            log(format!("fake node {name}: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

/// A fake node on its own thread and runtime (so that a test's blocking waits cannot starve
/// it), stopped and joined on drop.
pub struct FakeNode {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl FakeNode {
    /// Start the node and wait until the API server lists it as Ready.
    pub async fn start(client: kube::Client, name: &str) -> Result<FakeNode, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, node_name, node_client) = (stop.clone(), name.to_string(), client.clone());
        let thread = std::thread::Builder::new()
            .name("fake-node".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
                runtime.block_on(run(node_client, &node_name, flag, &|line| eprintln!("{line}")))
            })
            .map_err(|e| e.to_string())?;
        let node = FakeNode { stop, thread: Some(thread) };
        wait_ready(&client, name, Duration::from_secs(30)).await?;
        Ok(node)
    }
}

/// Wait until the API server lists the node `name` as Ready.
pub async fn wait_ready(client: &kube::Client, name: &str, timeout: Duration) -> Result<(), String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let node = nodes.get_opt(name).await.ok().flatten();
        if node.and_then(|n| n.status?.conditions).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the fake node {name} was not Ready after {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(image: &str, owner: &str) -> Value {
        json!({ "metadata": { "ownerReferences": [{ "kind": owner }] }, "spec": { "containers": [{ "name": "worker", "image": image }] } })
    }

    #[test]
    fn the_image_tag_and_the_owner_choose_the_fate() {
        assert_eq!(fate(&pod("127.0.0.1:5000/greeting:1.2.3", "ReplicaSet")), Fate::Ready);
        assert_eq!(fate(&pod("greeting:v2-notready", "ReplicaSet")), Fate::NotReady);
        assert_eq!(fate(&pod("greeting:crash", "ReplicaSet")), Fate::CrashLoop);
        assert_eq!(fate(&pod("greeting:v2", "Job")), Fate::Succeeds);
        assert_eq!(fate(&pod("greeting:v2-fails-replay", "Job")), Fate::Fails);
        // A word in the repository is not a tag.
        assert_eq!(fate(&pod("registry:5000/crash/greeting:1", "ReplicaSet")), Fate::Ready);
    }

    #[test]
    fn statuses_read_as_the_kubelet_writes_them() {
        let p = pod("greeting:1", "ReplicaSet");
        let ready = pod_status(&p, Fate::Ready, "2026-01-01T00:00:00Z");
        assert_eq!(ready["status"]["phase"], "Running");
        assert_eq!(
            ready["status"]["conditions"][3],
            json!({ "type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z" })
        );
        let crash = pod_status(&p, Fate::CrashLoop, "t");
        assert_eq!(crash["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "CrashLoopBackOff");
        let failed = pod_status(&p, Fate::Fails, "t");
        assert_eq!(failed["status"]["phase"], "Failed");
        assert_eq!(failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 1);
        assert!(micro_now().ends_with('Z') && micro_now().len() == 27, "{}", micro_now());
    }
}
