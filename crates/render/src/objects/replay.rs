//! The replay gate: `<app> replay --output json` as a Job from the image about to roll out, with
//! the worker's connection, credentials and codec keys, before the worker is touched. `tk8s
//! deploy` applies it first and waits for its verdict; Helm runs it as a
//! `pre-install,pre-upgrade` hook. It reads the connection from its own env, not the ConfigMap,
//! because a Helm hook runs before the chart's other objects exist.

use super::*;
use crate::deploy::ReplayGate;
use k8s_openapi::api::batch::v1::{Job, JobSpec};

/// The component label of the gate's Job (and the suffix of its name).
pub const REPLAY_GATE: &str = "replay-gate";

pub(crate) fn replay_gate(c: &DeployConfig) -> Option<Object> {
    let gate: ReplayGate = c.replay_gate()?;
    let name = format!("{}-{REPLAY_GATE}", c.app.name);
    // The connection as the ConfigMap has it (inline: a Helm hook runs before the ConfigMap
    // exists), the codec keys, the gate's own settings; none of the worker's slot or poller
    // settings, which mean nothing to a replay.
    let mut env = config_map(c).data.unwrap_or_default();
    if c.encryption.is_some() {
        env.insert(S::CODEC_KEYS_DIR.env.into(), CODEC_KEYS_DIR.into());
    }
    env.extend(gate.settings.clone());
    if c.temporal.auth == Auth::ApiKey {
        // Also under the temporal-worker-controller, which injects the key into its own pods only.
        env.insert(S::TEMPORAL_API_KEY_FILE.env.into(), format!("{API_KEY_DIR}/api-key"));
    }
    let (mut volumes, mut mounts) = (Vec::new(), Vec::new());
    let mut mount = |volume: Volume, path: &str| {
        mounts.push(VolumeMount { name: volume.name.clone(), mount_path: path.into(), read_only: Some(true), ..Default::default() });
        volumes.push(volume);
    };
    match (c.temporal.auth, &c.temporal.tls_secret, &c.temporal.api_key_secret) {
        (Auth::Mtls, Some(secret), _) => mount(secret_volume("temporal-tls", secret), TLS_DIR),
        (Auth::ApiKey, _, Some(secret)) => mount(secret_volume("temporal-api-key", secret), API_KEY_DIR),
        _ => {}
    }
    if let Some(v) = codec_keys_volume(c) {
        mount(v, CODEC_KEYS_DIR);
    }
    let container = Container {
        name: Role::Replay.name().into(),
        image: Some(format!("{}:{}", c.app.image, c.app.tag)),
        image_pull_policy: Some("Always".into()),
        args: Some(vec![Role::Replay.name().into(), "--output".into(), "json".into()]),
        env: Some(env.into_iter().map(|(k, v)| EnvVar { name: k, value: Some(v), ..Default::default() }).collect()),
        resources: Some(resource_requirements(&c.worker.resources)),
        security_context: Some(container_security()),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Default::default()
    };
    let mut annotations = BTreeMap::new();
    if c.app.private_registry {
        annotations.insert(PRIVATE_REGISTRY.to_string(), "true".to_string());
    }
    let mut metadata = meta(c, name, REPLAY_GATE);
    let skips = skip_annotations(c);
    if !skips.is_empty() {
        metadata.annotations = Some(skips);
    }
    let job = Job {
        metadata,
        spec: Some(JobSpec {
            // One attempt: a replay that fails says so; retrying would say it again.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(gate.deadline.duration().as_secs() as i64),
            ttl_seconds_after_finished: Some(86_400),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(c, REPLAY_GATE)),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    security_context: Some(pod_security()),
                    containers: vec![container],
                    image_pull_secrets: image_pull_secrets(c),
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    Some(obj(&format!("job-{REPLAY_GATE}.yaml"), &job))
}
