//! A worker written with another Temporal SDK (Python, TypeScript, Go, Java, .NET): its own
//! image and command, the connection as Temporal's own environment configuration variables
//! (what every SDK's envconfig loader reads), and `tk8s companion` beside it as a native sidecar
//! (an init container with `restartPolicy: Always`) that answers the pod's probes from the
//! pollers Temporal sees for this pod and relays the worker's metrics. The rest (hardening,
//! resources, spread, PDB, NetworkPolicy, autoscaling on the backlog) is the hosted worker's.

use super::*;
use crate::deploy::Sdk;
use k8s_openapi::api::core::v1::{EnvVarSource, SecretKeySelector};

/// The Secret key an API key is stored under (the same Secret the hosted worker mounts).
const API_KEY_SECRET_KEY: &str = "api-key";
/// Where an SDK worker finds the codec keys (one `<id>.key` file each and an `active` file), and
/// the variable that says so.
pub const CODEC_KEYS_ENV: &str = "CODEC_KEYS_DIR";
/// The variable an SDK worker reads its task queue from: not Temporal's (there is none), ours.
pub const TASK_QUEUE_ENV: &str = "TEMPORAL_TASK_QUEUE";

pub(crate) fn is_sdk_worker(c: &DeployConfig, role: Role) -> bool {
    role == Role::Worker && c.worker.sdk != Sdk::Tk8s
}

/// The SDK worker's environment with plain values: Temporal's envconfig variables, the task
/// queue, the codec key directory, then the worker's own `[worker.env]`. (The API key comes from
/// the Secret, see [`deployment`].)
pub(crate) fn sdk_env(c: &DeployConfig) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        env.insert(k.to_string(), v.to_string());
    };
    put(S::TEMPORAL_ADDRESS.env, &c.temporal.address);
    put(S::TEMPORAL_NAMESPACE.env, &c.temporal.namespace);
    put(TASK_QUEUE_ENV, c.task_queue());
    match c.temporal.auth {
        Auth::None => {}
        Auth::ApiKey => put(S::TEMPORAL_TLS.env, "true"),
        Auth::Mtls => {
            put(S::TEMPORAL_TLS.env, "true");
            put(S::TEMPORAL_TLS_CLIENT_CERT_PATH.env, &format!("{TLS_DIR}/tls.crt"));
            put(S::TEMPORAL_TLS_CLIENT_KEY_PATH.env, &format!("{TLS_DIR}/tls.key"));
        }
    }
    if let Some(name) = &c.temporal.server_name {
        put(S::TEMPORAL_TLS_SERVER_NAME.env, name);
    }
    if c.encryption.is_some() {
        put(CODEC_KEYS_ENV, CODEC_KEYS_DIR);
    }
    env.extend(c.worker.env.clone());
    env
}

/// The variables render sets for an SDK worker (so `[worker.env]` cannot collide with them).
pub fn rendered_sdk_env() -> Vec<&'static str> {
    vec![
        S::TEMPORAL_ADDRESS.env,
        S::TEMPORAL_NAMESPACE.env,
        TASK_QUEUE_ENV,
        S::TEMPORAL_TLS.env,
        S::TEMPORAL_TLS_CLIENT_CERT_PATH.env,
        S::TEMPORAL_TLS_CLIENT_KEY_PATH.env,
        S::TEMPORAL_TLS_SERVER_NAME.env,
        S::TEMPORAL_API_KEY.env,
        CODEC_KEYS_ENV,
    ]
}

/// The companion's own env beside the ConfigMap: its API key file and the worker's metrics.
pub(crate) fn companion_env(c: &DeployConfig) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if c.temporal.auth == Auth::ApiKey {
        env.insert(S::TEMPORAL_API_KEY_FILE.env.to_string(), format!("{API_KEY_DIR}/{API_KEY_SECRET_KEY}"));
    }
    if let Some(port) = c.worker.metrics_port {
        env.insert(S::COMPANION_WORKER_METRICS.env.to_string(), format!("127.0.0.1:{port}"));
    }
    env
}

fn env_vars(env: &BTreeMap<String, String>) -> Vec<EnvVar> {
    env.iter().map(|(k, v)| EnvVar { name: k.clone(), value: Some(v.clone()), ..Default::default() }).collect()
}

/// The worker's Deployment: its container, the companion as a native sidecar, probes on the
/// companion's port.
pub(crate) fn deployment(c: &DeployConfig) -> Deployment {
    let w = &c.worker;
    let role = Role::Worker;
    let name = format!("{}-{role}", c.app.name);
    let mut volumes = Vec::new();
    let (mut worker_mounts, mut companion_mounts) = (Vec::new(), Vec::new());
    let mount =
        |v: &Volume, path: &str| VolumeMount { name: v.name.clone(), mount_path: path.into(), read_only: Some(true), ..Default::default() };
    match (c.temporal.auth, &c.temporal.tls_secret, &c.temporal.api_key_secret) {
        (Auth::Mtls, Some(secret), _) => {
            let v = secret_volume("temporal-tls", secret);
            worker_mounts.push(mount(&v, TLS_DIR));
            companion_mounts.push(mount(&v, TLS_DIR));
            volumes.push(v);
        }
        (Auth::ApiKey, _, Some(secret)) => {
            let v = secret_volume("temporal-api-key", secret);
            companion_mounts.push(mount(&v, API_KEY_DIR));
            volumes.push(v);
        }
        _ => {}
    }
    if let Some(v) = codec_keys_volume(c) {
        worker_mounts.push(mount(&v, CODEC_KEYS_DIR));
        volumes.push(v);
    }
    let mut env = env_vars(&sdk_env(c));
    if let (Auth::ApiKey, Some(secret)) = (c.temporal.auth, &c.temporal.api_key_secret) {
        env.push(EnvVar {
            name: S::TEMPORAL_API_KEY.env.into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector { name: secret.clone(), key: API_KEY_SECRET_KEY.into(), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let admin = IntOrString::Int(admin_port());
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction { path: Some(path.into()), port: admin.clone(), ..Default::default() }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    };
    let worker = Container {
        name: role.name().into(),
        image: Some(w.image.clone().unwrap_or_else(|| format!("{}:{}", c.app.image, c.app.tag))),
        image_pull_policy: Some("Always".into()),
        command: (!w.command.is_empty()).then(|| w.command.clone()),
        args: (!w.args.is_empty()).then(|| w.args.clone()),
        env: Some(env),
        // The companion answers for the worker: ready once a poller of this pod polls.
        startup_probe: Some(probe("/startupz", 2, 90)),
        readiness_probe: Some(probe("/readyz", 5, 2)),
        liveness_probe: Some(probe(WORKER_LIVEZ, 30, 2)),
        resources: Some(resource_requirements(&w.resources)),
        security_context: Some(container_security()),
        volume_mounts: (!worker_mounts.is_empty()).then_some(worker_mounts),
        ..Default::default()
    };
    let companion = Container {
        name: Role::Companion.name().into(),
        image: Some(c.tk8s_image_ref()),
        image_pull_policy: Some("Always".into()),
        args: Some(vec![Role::Companion.name().into()]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource { name: format!("{}-config", c.app.name), ..Default::default() }),
            ..Default::default()
        }]),
        env: Some(env_vars(&companion_env(c))),
        ports: Some(vec![ContainerPort {
            name: Some("admin".into()),
            container_port: admin_port(),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        liveness_probe: Some(http_probe("admin", "/livez", 10, 3)),
        resources: Some(resource_requirements(&Resources {
            cpu_request: "10m".into(),
            cpu_limit: Some("100m".into()),
            memory_request: "16Mi".into(),
            memory_limit: "64Mi".into(),
        })),
        security_context: Some(container_security()),
        volume_mounts: (!companion_mounts.is_empty()).then_some(companion_mounts),
        // A native sidecar: started before the worker, stopped after it.
        restart_policy: Some("Always".into()),
        ..Default::default()
    };
    let drain = w.graceful_shutdown.as_ref().unwrap_or(&w.shutdown_grace).duration().max(w.shutdown_grace.duration());
    let grace_s = drain.as_secs() as i64 + KILL_MARGIN_S;
    let mut annotations = pod_annotations(c, admin_port());
    annotations.insert(SDK_ANNOTATION.into(), w.sdk.name().into());
    if let Some(g) = &w.graceful_shutdown {
        annotations.insert(GRACEFUL_SHUTDOWN_ANNOTATION.into(), g.to_string());
    }
    let replicas = match &w.autoscaling {
        Some(a) if a.mode != Autoscaler::None => None,
        _ => Some(w.replicas),
    };
    let mut skips = skip_annotations(c);
    if c.temporal.auth == Auth::ApiKey {
        skips.insert(format!("checkov.io/skip{}", skips.len() + 1), format!("CKV_K8S_35={API_KEY_ENV_REASON}"));
    }
    let mut metadata = meta(c, name.clone(), role.name());
    if !skips.is_empty() {
        metadata.annotations = Some(skips);
    }
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas,
            revision_history_limit: Some(5),
            progress_deadline_seconds: progress_deadline_seconds(c),
            selector: LabelSelector { match_labels: Some(selector_labels(c, role.name())), ..Default::default() },
            strategy: Some(rolling_update(w.max_surge, w.max_unavailable)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(c, role.name())), annotations: Some(annotations), ..Default::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(name),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(grace_s),
                    security_context: Some(pod_security()),
                    init_containers: Some(vec![companion]),
                    containers: vec![worker],
                    topology_spread_constraints: w.spread.then(|| spread_constraints(c, role.name())),
                    image_pull_secrets: image_pull_secrets(c),
                    readiness_gates: (!w.readiness_gates.is_empty())
                        .then(|| w.readiness_gates.iter().map(|t| PodReadinessGate { condition_type: t.clone() }).collect()),
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The companion's answer to "is the worker process still polling" (see tk8s-companion).
const WORKER_LIVEZ: &str = "/worker/livez";

/// Why an SDK worker's API key is an environment variable, for checkov (CKV_K8S_35).
const API_KEY_ENV_REASON: &str = "Temporal's envconfig, which every SDK reads, takes the API key from TEMPORAL_API_KEY only; it comes from the Secret by reference, never rendered";

/// Pod annotation: the SDK the worker is written with (`tk8s lint` reads it: TK015).
pub const SDK_ANNOTATION: &str = "tk8s.io/sdk";
/// Pod annotation: the graceful shutdown the worker's code sets, as declared in the deploy config.
pub const GRACEFUL_SHUTDOWN_ANNOTATION: &str = "tk8s.io/graceful-shutdown";
