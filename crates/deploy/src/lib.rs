//! `tk8s deploy`, `tk8s restart` and `tk8s status`: the render applied to a cluster with
//! kube-rs, the way teams otherwise script it around kubectl. The decisions are pure and tested
//! on recorded objects ([`plan`], [`secrets`], [`rollout`]); [`cluster`] makes the requests;
//! this module strings them together and reports progress.

pub mod cluster;
mod error;
pub mod gate;
pub mod plan;
pub mod rollout;
pub mod secrets;

pub use cluster::Cluster;
pub use error::DeployError;

use plan::{GROUP_KINDS, ObjectRef, PART_OF, Plan, is_builtin, split_group_kinds};
use rollout::{Progress, State, evaluate, pod_problem, restart_patch};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tk8s_render::DeployConfig;

/// What `tk8s deploy` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    pub environment: Option<String>,
    /// `REPOSITORY:TAG` replacing the config's image and tag.
    pub image: Option<String>,
    pub dry_run: bool,
    pub prune: bool,
    /// Wait this long for every Deployment to roll out (`None`: do not wait).
    pub wait: Option<Duration>,
    /// Roll out without the replay gate (the CLI warns loudly).
    pub skip_replay_gate: bool,
}

/// The objects for one deploy: the config as the environment sees it, the image override applied.
pub fn render(config: &DeployConfig, options: &DeployOptions) -> Result<(DeployConfig, Vec<Value>), DeployError> {
    let mut c = match &options.environment {
        None => config.clone(),
        Some(name) => {
            let env = config.environments.get(name).ok_or_else(|| {
                let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
                DeployError::Usage(format!("--env {name:?}: the deploy config has no such environment (it has: {})", known.join(", ")))
            })?;
            config.for_environment(env)
        }
    };
    if let Some(image) = &options.image {
        let (repo, tag) = split_image(image)?;
        c.app.image = repo;
        c.app.tag = tag;
    }
    let objects = tk8s_render::objects(&c).into_iter().map(|o| o.value).collect();
    Ok((c, objects))
}

/// `REPOSITORY:TAG` (a registry port is not a tag; a digest is refused: the tag labels objects).
fn split_image(image: &str) -> Result<(String, String), DeployError> {
    let bad = || DeployError::Usage(format!("--image {image:?}: expected REPOSITORY:TAG, e.g. registry.example.com/greeting:1.2.3"));
    if image.contains('@') {
        return Err(bad());
    }
    let (repo, tag) = image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/') && !tag.is_empty()).ok_or_else(bad)?;
    Ok((repo.to_string(), tag.to_string()))
}

/// What a deploy did (or, with `--dry-run`, would do).
#[derive(Debug, Default)]
pub struct Report {
    pub namespace_created: bool,
    pub applied: Vec<String>,
    /// `--dry-run`: each object's change as a unified diff against the live object.
    pub diffs: Vec<(String, String)>,
    pub pruned: Vec<String>,
    pub rollouts: Vec<Progress>,
    /// The replay gate's verdict, when it ran.
    pub replay_gate: Option<String>,
}

/// Render, then [`deploy_objects`].
pub async fn deploy(cluster: &Cluster, config: &DeployConfig, options: &DeployOptions) -> Result<Report, DeployError> {
    let (c, objects) = render(config, options)?;
    deploy_objects(cluster, &c, objects, options).await
}

/// Deploy rendered objects of the config `c` (as [`render`] returns them): check that the cluster
/// serves every kind, check Secrets, apply in order, prune, wait.
pub async fn deploy_objects(
    cluster: &Cluster,
    c: &DeployConfig,
    mut objects: Vec<Value>,
    options: &DeployOptions,
) -> Result<Report, DeployError> {
    if options.skip_replay_gate {
        objects.retain(|o| gate::find(std::slice::from_ref(o)).is_none());
    }
    check_served(cluster, &objects).await?;
    let ns = c.app.namespace.clone();
    let plan = Plan::new(&c.app.name, &ns, objects);
    let mut report = Report::default();

    // The namespace first, so that missing Secrets can be created in it.
    let namespace = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns, "labels": { "app.kubernetes.io/managed-by": "tk8s" } } });
    if cluster.get(&ObjectRef::of(&namespace)).await?.is_none() {
        if !options.dry_run {
            cluster.apply(&namespace, false).await.map_err(|e| DeployError::api(format!("creating namespace {ns}"), e))?;
        }
        report.namespace_created = true;
    }

    let mut missing = Vec::new();
    for s in secrets::needed_secrets(&plan.objects) {
        let r = ObjectRef { api_version: "v1".into(), kind: "Secret".into(), namespace: Some(ns.clone()), name: s.name.clone() };
        if report.namespace_created || cluster.get(&r).await?.is_none() {
            missing.push(s);
        }
    }
    if !missing.is_empty() {
        return Err(DeployError::MissingSecrets { namespace: ns, secrets: missing });
    }

    let parent_ref = ObjectRef::of(&plan.parent);
    let live_parent = if report.namespace_created { None } else { cluster.get(&parent_ref).await? };
    if !options.dry_run {
        let parent = plan.parent_during_apply(live_parent.as_ref());
        cluster.apply(&parent, false).await.map_err(|e| DeployError::api("recording the ApplySet", e))?;
    }

    for o in &plan.objects {
        let r = ObjectRef::of(o);
        if options.dry_run && report.namespace_created {
            // The server cannot dry-run into a namespace that does not exist yet: all of it is new.
            report.diffs.push((r.to_string(), diff(None, o)));
            report.applied.push(r.to_string());
            continue;
        }
        let live = if options.dry_run { cluster.get(&r).await.ok().flatten() } else { None };
        let is_gate = gate::find(std::slice::from_ref(o)).is_some();
        if is_gate && !options.dry_run {
            // A Job's pod template cannot change: the previous run goes first.
            replace_job(cluster, &r).await?;
        }
        match cluster.apply(o, options.dry_run).await {
            Ok(stored) => {
                if options.dry_run {
                    let diff = diff(live.as_ref(), &stored);
                    if !diff.is_empty() {
                        report.diffs.push((r.to_string(), diff));
                    }
                }
                report.applied.push(r.to_string());
            }
            Err(kube::Error::Api(s)) if s.code == 404 && !is_builtin(&r.api_version) => {
                return Err(DeployError::CrdMissing {
                    kind: r.kind.clone(),
                    api_version: r.api_version.clone(),
                    name: r.to_string(),
                    provider: error::provider(&r.kind),
                });
            }
            Err(e) => return Err(DeployError::api(format!("applying {r}"), e)),
        }
        if is_gate && !options.dry_run {
            report.replay_gate = Some(run_gate(cluster, &ns, o).await?);
        }
    }

    if options.prune && !report.namespace_created {
        let mut kinds = plan.group_kinds();
        if let Some(p) = &live_parent {
            kinds.extend(split_group_kinds(p["metadata"]["annotations"][GROUP_KINDS].as_str().unwrap_or_default()));
        }
        let mut members = Vec::new();
        for gk in &kinds {
            let Some((api_version, kind)) = api_version_of(gk, &plan) else { continue };
            match cluster.list_labelled(&api_version, &kind, &ns, &format!("{PART_OF}={}", plan.id)).await {
                Ok(found) => members.extend(found),
                Err(kube::Error::Api(s)) if s.code == 404 => {} // a CRD since removed: nothing of it to prune
                Err(e) => return Err(DeployError::api(format!("listing {gk} to prune"), e)),
            }
        }
        for r in plan::prune_set(&plan, &members) {
            if !options.dry_run {
                cluster.delete(&r).await?;
            }
            report.pruned.push(r.to_string());
        }
        if !options.dry_run {
            cluster.apply(&plan.parent, false).await.map_err(|e| DeployError::api("recording the ApplySet", e))?;
        }
    }

    if let (Some(timeout), false) = (options.wait, options.dry_run) {
        report.rollouts = wait_for_rollouts(cluster, &ns, &deployments(&plan.objects), timeout).await?;
    }
    Ok(report)
}

/// Discovery before anything is applied: a built-in kind the cluster does not serve means a
/// cluster too old for the render; a custom kind means its CRD is not installed.
async fn check_served(cluster: &Cluster, objects: &[Value]) -> Result<(), DeployError> {
    let mut served: std::collections::BTreeMap<String, Option<Vec<String>>> = Default::default();
    let mut too_old = Vec::new();
    for o in objects {
        let r = ObjectRef::of(o);
        if !served.contains_key(&r.api_version) {
            let kinds = cluster.served_kinds(&r.api_version).await?;
            served.insert(r.api_version.clone(), kinds);
        }
        if served[&r.api_version].as_ref().is_some_and(|kinds| kinds.contains(&r.kind)) {
            continue;
        }
        if !is_builtin(&r.api_version) {
            return Err(DeployError::CrdMissing {
                kind: r.kind.clone(),
                api_version: r.api_version.clone(),
                name: r.to_string(),
                provider: error::provider(&r.kind),
            });
        }
        if !too_old.iter().any(|(a, k, _): &(String, String, String)| a == &r.api_version && k == &r.kind) {
            too_old.push((r.api_version.clone(), r.kind.clone(), r.to_string()));
        }
    }
    if too_old.is_empty() {
        return Ok(());
    }
    let server = cluster.server_version().await.unwrap_or_else(|| "of unknown version".into());
    let missing = too_old
        .into_iter()
        .map(|(api_version, kind, name)| plan::Unserved { since: plan::introduced_in(&api_version, &kind), api_version, kind, name })
        .collect();
    Err(DeployError::ClusterTooOld { server, missing })
}

/// Delete the previous run of a Job and wait until it is gone.
async fn replace_job(cluster: &Cluster, r: &ObjectRef) -> Result<(), DeployError> {
    if cluster.get(r).await?.is_none() {
        return Ok(());
    }
    cluster.delete(r).await?;
    let started = Instant::now();
    while cluster.get(r).await?.is_some() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(DeployError::Rollout(format!("{r} from an earlier deploy is still being deleted after 60 s")));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Wait for the replay gate's Job (its own deadline and a minute for scheduling) and read its
/// verdict; a failed gate stops the deploy before anything touches the worker.
async fn run_gate(cluster: &Cluster, namespace: &str, job: &Value) -> Result<String, DeployError> {
    let r = ObjectRef::of(job);
    let deadline = Duration::from_secs(job["spec"]["activeDeadlineSeconds"].as_u64().unwrap_or(600) + 60);
    let line = indicatif::ProgressBar::new_spinner().with_prefix(r.name.clone());
    line.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix:24} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    line.set_message("replaying the running workflows' histories against the new image");
    let started = Instant::now();
    let state = loop {
        let current = cluster.get(&r).await?.map(|j| gate::state(&j)).unwrap_or(gate::JobState::Running);
        if current != gate::JobState::Running {
            break current;
        }
        if started.elapsed() > deadline {
            break gate::JobState::Failed(format!("not finished after {} s", deadline.as_secs()));
        }
        line.tick();
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    line.finish_and_clear();
    let mut log = String::new();
    for pod in cluster.pods(namespace, &format!("job-name={}", r.name)).await? {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
        log = cluster.last_log_lines(namespace, &name, tk8s_config::Role::Replay.name(), false).await;
    }
    let verdict = gate::verdict(&log);
    match state {
        gate::JobState::Succeeded => Ok(verdict.unwrap_or_else(|| "passed".into())),
        gate::JobState::Failed(reason) => Err(DeployError::ReplayGate {
            job: r.name.clone(),
            reason,
            verdict: verdict.unwrap_or_else(|| format!("its last log lines:\n{}", indent(&log))),
        }),
        gate::JobState::Running => unreachable!("the loop ends only on a finished state"),
    }
}

/// The apiVersion for a `Kind.group`: from this plan's objects, else (a kind an earlier deploy
/// applied, which the parent records without a version) the version this tool renders it in.
fn api_version_of(group_kind: &str, plan: &Plan) -> Option<(String, String)> {
    if let Some(o) = plan.objects.iter().find(|o| ObjectRef::of(o).group_kind() == group_kind) {
        let r = ObjectRef::of(o);
        return Some((r.api_version, r.kind));
    }
    let (kind, group) = group_kind.split_once('.').unwrap_or((group_kind, ""));
    let version = match group {
        "" => "v1",
        "apps" | "policy" | "networking.k8s.io" | "monitoring.coreos.com" | "autoscaling.k8s.io" | "secrets-store.csi.x-k8s.io" => "v1",
        "autoscaling" => "v2",
        "batch" => "v1",
        "keda.sh" | "temporal.io" => "v1alpha1",
        _ => return None,
    };
    Some((if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }, kind.to_string()))
}

/// The Deployments among the objects: (name, selector as a label query).
fn deployments(objects: &[Value]) -> Vec<(String, String)> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .map(|o| {
            let labels = o["spec"]["selector"]["matchLabels"].as_object().cloned().unwrap_or_default();
            let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
            (o["metadata"]["name"].as_str().unwrap_or_default().to_string(), selector.join(","))
        })
        .collect()
}

/// Poll every Deployment until each has rolled out, one fails, or the time is up; a progress
/// line per Deployment on a terminal.
pub async fn wait_for_rollouts(
    cluster: &Cluster,
    namespace: &str,
    deployments: &[(String, String)],
    timeout: Duration,
) -> Result<Vec<Progress>, DeployError> {
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:24} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let lines: Vec<indicatif::ProgressBar> = deployments
        .iter()
        .map(|(name, _)| bars.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()).with_prefix(name.clone())))
        .collect();
    let started = Instant::now();
    loop {
        let mut all = Vec::new();
        for ((name, selector), line) in deployments.iter().zip(&lines) {
            let r = ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some(namespace.into()),
                name: name.clone(),
            };
            let Some(d) = cluster.get(&r).await? else {
                return Err(DeployError::Rollout(format!("Deployment {name} is gone from namespace {namespace}")));
            };
            let p = evaluate(&d);
            line.set_message(progress_text(&p));
            line.tick();
            match &p.state {
                State::Failed(reason) => return Err(DeployError::Rollout(format!("Deployment {name} {reason}"))),
                State::Waiting(_) => {
                    for pod in cluster.pods(namespace, selector).await? {
                        if let Some(problem) = pod_problem(&pod) {
                            let logs =
                                cluster.last_log_lines(namespace, &problem.pod, &problem.container, problem.last_exit.is_some()).await;
                            return Err(DeployError::Rollout(format!(
                                "Deployment {name} will not become ready: {problem}\n  its last log lines:\n{}",
                                indent(&logs)
                            )));
                        }
                    }
                }
                State::Done => line.finish_with_message(progress_text(&p)),
            }
            all.push(p);
        }
        if all.iter().all(|p| p.state == State::Done) {
            return Ok(all);
        }
        if started.elapsed() >= timeout {
            let waiting: Vec<String> = all
                .iter()
                .filter_map(|p| match &p.state {
                    State::Waiting(why) => Some(format!("{}: {why}", p.name)),
                    _ => None,
                })
                .collect();
            return Err(DeployError::Rollout(format!(
                "rollout not finished after {} s: {}\n  hint: `tk8s status` shows each pod's own readiness reason; wait longer with --wait",
                timeout.as_secs(),
                waiting.join("; ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(1000).min(timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(50)))).await;
    }
}

pub fn progress_text(p: &Progress) -> String {
    let state = match &p.state {
        State::Done => "rolled out".to_string(),
        State::Waiting(why) => why.clone(),
        State::Failed(why) => format!("failed: {why}"),
    };
    format!("updated {}/{} ready {}/{} available {}/{}  {state}", p.updated, p.desired, p.ready, p.desired, p.available, p.desired)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// The parts of an object worth diffing: no status, no server bookkeeping.
fn comparable(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = o["metadata"].as_object_mut() {
        for k in ["managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"] {
            meta.remove(k);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deployment.kubernetes.io/revision");
            if a.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    o
}

/// A unified diff of the live object against what the server would store; empty when equal.
pub fn diff(live: Option<&Value>, stored: &Value) -> String {
    let new = tk8s_render::to_yaml(&comparable(stored));
    let old = live.map(|l| tk8s_render::to_yaml(&comparable(l))).unwrap_or_default();
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header("live", "tk8s").to_string()
}

/// `tk8s restart`: kubectl's restart patch on each role's Deployment, then the same wait.
pub async fn restart(
    cluster: &Cluster,
    config: &DeployConfig,
    role: Option<&str>,
    wait: Option<Duration>,
) -> Result<Vec<Progress>, DeployError> {
    let (c, objects) = render(config, &DeployOptions::default())?;
    let targets: Vec<(String, String)> =
        deployments(&objects).into_iter().filter(|(name, _)| role.is_none_or(|r| name == &format!("{}-{r}", c.app.name))).collect();
    if targets.is_empty() {
        let roles: Vec<String> =
            deployments(&objects).iter().map(|(n, _)| n.trim_start_matches(&format!("{}-", c.app.name)).to_string()).collect();
        return Err(DeployError::Usage(format!(
            "--role {:?}: the render has no such Deployment (roles: {})",
            role.unwrap_or(""),
            roles.join(", ")
        )));
    }
    let now = time_rfc3339();
    for (name, _) in &targets {
        let r = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(c.app.namespace.clone()),
            name: name.clone(),
        };
        cluster.merge_patch(&r, &restart_patch(&now)).await?;
    }
    match wait {
        Some(t) => wait_for_rollouts(cluster, &c.app.namespace, &targets, t).await,
        None => Ok(Vec::new()),
    }
}

fn time_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    k8s_openapi::jiff::Timestamp::from_second(secs as i64).map(|t| t.to_string()).unwrap_or_default()
}

/// One role as `tk8s status` shows it.
#[derive(Debug)]
pub struct RoleStatus {
    pub deployment: String,
    pub progress: Option<Progress>,
    pub image: String,
    /// Each pod: name, and its own `/readyz` answer (or why it could not be read).
    pub pods: Vec<(String, String)>,
}

/// `tk8s status`: per role, replicas and readiness, the image running, and each pod's own
/// readiness reason through the API server's pod proxy (when the account may use it).
pub async fn status(cluster: &Cluster, config: &DeployConfig, environment: Option<&str>) -> Result<Vec<RoleStatus>, DeployError> {
    let options = DeployOptions { environment: environment.map(String::from), ..Default::default() };
    let (c, objects) = render(config, &options)?;
    let ns = c.app.namespace.clone();
    let mut out = Vec::new();
    for (name, selector) in deployments(&objects) {
        let r = ObjectRef { api_version: "apps/v1".into(), kind: "Deployment".into(), namespace: Some(ns.clone()), name: name.clone() };
        let live = cluster.get(&r).await?;
        let image = live
            .as_ref()
            .and_then(|d| d.pointer("/spec/template/spec/containers/0/image"))
            .and_then(Value::as_str)
            .unwrap_or("(not deployed)")
            .to_string();
        let mut pods = Vec::new();
        if live.is_some() {
            for pod in cluster.pods(&ns, &selector).await? {
                let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let port = pod
                    .pointer("/spec/containers/0/ports")
                    .and_then(Value::as_array)
                    .and_then(|ps| ps.iter().find(|p| p["name"] == "admin" || p["name"] == "http"))
                    .and_then(|p| p["containerPort"].as_i64())
                    .unwrap_or(i64::from(tk8s_render::admin_port())) as i32;
                let readyz = match cluster.pod_proxy_get(&ns, &pod_name, port, "/readyz").await {
                    Ok(body) => body.lines().next().unwrap_or_default().to_string(),
                    Err(kube::Error::Api(s)) if s.code == 403 => "readiness reason not allowed (needs get on pods/proxy)".into(),
                    Err(kube::Error::Api(s)) => format!("{} {}", s.code, s.message.lines().next().unwrap_or_default()),
                    Err(e) => format!("cannot read /readyz: {e}"),
                };
                pods.push((pod_name, readyz));
            }
        }
        out.push(RoleStatus { deployment: name, progress: live.as_ref().map(evaluate), image, pods });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_overrides_are_repository_and_tag() {
        assert_eq!(split_image("registry.example.com:5000/app:1.2").unwrap(), ("registry.example.com:5000/app".into(), "1.2".into()));
        for bad in ["registry.example.com:5000/app", "app", "app@sha256:abc", "app:"] {
            assert!(matches!(split_image(bad), Err(DeployError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn kinds_an_earlier_deploy_applied_are_found_again_for_pruning() {
        let plan = Plan::new("app", "ns", vec![json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "d" } })]);
        let found = |gk: &str| api_version_of(gk, &plan);
        assert_eq!(found("Deployment.apps"), Some(("apps/v1".into(), "Deployment".into())));
        assert_eq!(found("ScaledObject.keda.sh"), Some(("keda.sh/v1alpha1".into(), "ScaledObject".into())));
        assert_eq!(found("HorizontalPodAutoscaler.autoscaling"), Some(("autoscaling/v2".into(), "HorizontalPodAutoscaler".into())));
        assert_eq!(found("Service"), Some(("v1".into(), "Service".into())));
        assert_eq!(found("Widget.example.com"), None, "an unknown group is left alone, not guessed");
    }

    #[test]
    fn a_dry_run_diff_ignores_server_bookkeeping() {
        let live = json!({ "kind": "Service", "metadata": { "name": "s", "uid": "1", "resourceVersion": "9", "managedFields": [] }, "spec": { "ports": [{ "port": 1 }] }, "status": {} });
        let same = json!({ "kind": "Service", "metadata": { "name": "s", "uid": "1", "resourceVersion": "10" }, "spec": { "ports": [{ "port": 1 }] } });
        assert_eq!(diff(Some(&live), &same), "");
        let changed = json!({ "kind": "Service", "metadata": { "name": "s" }, "spec": { "ports": [{ "port": 2 }] } });
        let d = diff(Some(&live), &changed);
        assert!(d.contains("-  - port: 1") && d.contains("+  - port: 2"), "{d}");
        assert!(diff(None, &changed).lines().filter(|l| l.starts_with('+')).count() > 3, "a new object is all additions");
    }
}
