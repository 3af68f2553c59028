//! `tk8s codec-server` as Kubernetes objects: a hardened Deployment (the `tk8s` image, which ships
//! the `tk8s` binary) with the app's codec keys,
//! its Service (for an ingress: browsers call the codec server, not the UI's backend), a
//! PodDisruptionBudget, and a NetworkPolicy that admits only the listed namespaces and lets it
//! reach DNS and, for a JWKS, https. Port and probe paths come from `tk8s-config`'s settings table.

use crate::deploy::DeployConfig;
use crate::objects::{
    CODEC_KEYS_DIR, Object, codec_keys_volume, container_security, dns_egress, http_probe, image_pull_secrets, labels, meta, ns, obj,
    pod_annotations, pod_security, port, progress_deadline_seconds, resource_requirements, secret_volume, selector_labels, service,
    skip_annotations, spread_constraints,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar, PodSpec, PodTemplateSpec, ServiceAccount, VolumeMount};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicySpec};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tk8s_config::spec as S;

pub const COMPONENT: &str = tk8s_config::Role::CodecServer.name();
const TOKENS_DIR: &str = "/etc/tk8s/codec-tokens";

/// The codec server's port, from the settings table the binary reads.
pub fn codec_server_port() -> i32 {
    S::CODEC_SERVER_PORT.default_int().and_then(|p| i32::try_from(p).ok()).unwrap_or(8888)
}

fn deployment(c: &DeployConfig) -> Option<Deployment> {
    let cs = c.codec_server.as_ref()?;
    let name = format!("{}-{COMPONENT}", c.app.name);
    let port = codec_server_port();
    let mut env = vec![
        (S::LOG_FORMAT.env, "json".to_string()),
        (S::CODEC_KEYS_DIR.env, CODEC_KEYS_DIR.to_string()),
        (S::CODEC_SERVER_PORT.env, port.to_string()),
        (S::CODEC_SERVER_ALLOWED_ORIGINS.env, cs.allowed_origins.join(",")),
    ];
    for (var, value) in [
        (S::CODEC_SERVER_JWKS_URL.env, &cs.jwks_url),
        (S::CODEC_SERVER_JWT_AUDIENCE.env, &cs.jwt_audience),
        (S::CODEC_SERVER_JWT_ISSUER.env, &cs.jwt_issuer),
    ] {
        if let Some(v) = value {
            env.push((var, v.clone()));
        }
    }
    let mut volumes: Vec<_> = codec_keys_volume(c).map(|v| (v, CODEC_KEYS_DIR)).into_iter().collect();
    if let Some(secret) = &cs.tokens_secret {
        env.push((S::CODEC_SERVER_TOKENS_FILE.env, format!("{TOKENS_DIR}/tokens")));
        volumes.push((secret_volume("codec-tokens", secret), TOKENS_DIR));
    }
    let mounts: Vec<VolumeMount> = volumes
        .iter()
        .map(|(v, path)| VolumeMount { name: v.name.clone(), mount_path: path.to_string(), read_only: Some(true), ..Default::default() })
        .collect();
    let volumes: Vec<_> = volumes.into_iter().map(|(v, _)| v).collect();
    let container = Container {
        name: COMPONENT.into(),
        image: Some(c.tk8s_image_ref()),
        image_pull_policy: Some("Always".into()),
        args: Some(vec![COMPONENT.into()]),
        env: Some(env.into_iter().map(|(k, v)| EnvVar { name: k.into(), value: Some(v), ..Default::default() }).collect()),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        readiness_probe: Some(http_probe("http", "/readyz", 5, 2)),
        liveness_probe: Some(http_probe("http", "/livez", 10, 3)),
        resources: Some(resource_requirements(&cs.resources)),
        security_context: Some(container_security()),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let mut metadata = meta(c, name.clone(), COMPONENT);
    let skips = skip_annotations(c);
    metadata.annotations = (!skips.is_empty()).then_some(skips);
    let annotations = pod_annotations(c, port);
    Some(Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(cs.replicas),
            revision_history_limit: Some(5),
            progress_deadline_seconds: progress_deadline_seconds(c),
            selector: LabelSelector { match_labels: Some(selector_labels(c, COMPONENT)), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(c, COMPONENT)), annotations: Some(annotations), ..Default::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(name),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(10),
                    security_context: Some(pod_security()),
                    containers: vec![container],
                    image_pull_secrets: image_pull_secrets(c),
                    topology_spread_constraints: Some(spread_constraints(c, COMPONENT)),
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn network_policy(c: &DeployConfig) -> Option<NetworkPolicy> {
    let cs = c.codec_server.as_ref()?;
    let from: Vec<_> = cs.ingress_namespaces.iter().chain(std::iter::once(&c.monitoring.namespace)).map(|n| ns(n)).collect();
    let mut egress = vec![dns_egress()];
    if cs.jwks_url.is_some() {
        egress.push(NetworkPolicyEgressRule { to: None, ports: Some(vec![port(443, "TCP")]) });
    }
    Some(NetworkPolicy {
        metadata: meta(c, format!("{}-{COMPONENT}", c.app.name), COMPONENT),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector { match_labels: Some(selector_labels(c, COMPONENT)), ..Default::default() }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule { from: Some(from), ports: Some(vec![port(codec_server_port(), "TCP")]) }]),
            egress: Some(egress),
        }),
    })
}

/// The codec server's objects, if the deploy config asks for one.
pub fn objects(c: &DeployConfig) -> Vec<Object> {
    let Some(d) = deployment(c) else { return Vec::new() };
    let name = format!("{}-{COMPONENT}", c.app.name);
    let service = service(c, name.clone(), COMPONENT, "http", codec_server_port());
    let pdb = PodDisruptionBudget {
        metadata: meta(c, name.clone(), COMPONENT),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector { match_labels: Some(selector_labels(c, COMPONENT)), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let account = ServiceAccount { metadata: meta(c, name, COMPONENT), automount_service_account_token: Some(false), ..Default::default() };
    let mut out = vec![
        obj("serviceaccount-codec-server.yaml", &account),
        obj("deployment-codec-server.yaml", &d),
        obj("service-codec-server.yaml", &service),
        obj("pdb-codec-server.yaml", &pdb),
    ];
    out.extend(network_policy(c).map(|n| obj("networkpolicy-codec-server.yaml", &n)));
    out
}
