//! The pod template every role shares: hardened security contexts, probes on the host's own
//! admin port and paths, resources, spread, Secret and CSI volumes; and the Deployment around it.

use super::*;

/// An HTTP GET probe on the container port named `port`.
pub(crate) fn http_probe(port: &str, path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction { path: Some(path.into()), port: IntOrString::String(port.into()), ..Default::default() }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

pub(crate) fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

pub(crate) fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource { secret_name: Some(secret.into()), default_mode: Some(0o440), ..Default::default() }),
        ..Default::default()
    }
}

/// Pod annotations: Prometheus' annotation-based discovery, and whether the image's registry
/// needs credentials (`tk8s lint` reads it: TK013).
pub(crate) fn pod_annotations(c: &DeployConfig, port: i32) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([
        ("prometheus.io/scrape".to_string(), "true".to_string()),
        ("prometheus.io/port".to_string(), port.to_string()),
        ("prometheus.io/path".to_string(), "/metrics".to_string()),
    ]);
    if c.app.private_registry {
        a.insert(PRIVATE_REGISTRY.to_string(), "true".to_string());
    }
    a
}

/// Pod template annotation: the image comes from a registry that needs credentials.
pub const PRIVATE_REGISTRY: &str = "tk8s.io/private-registry";

/// The pull secrets every pod names (never the credentials).
pub(crate) fn image_pull_secrets(c: &DeployConfig) -> Option<Vec<LocalObjectReference>> {
    (!c.app.image_pull_secrets.is_empty())
        .then(|| c.app.image_pull_secrets.iter().map(|n| LocalObjectReference { name: n.clone() }).collect())
}

/// The deploy config's reasoned checkov skips, as `checkov.io/skip<n>` annotations.
pub(crate) fn skip_annotations(c: &DeployConfig) -> BTreeMap<String, String> {
    c.skip_checks.iter().enumerate().map(|(i, s)| (format!("checkov.io/skip{}", i + 1), format!("{}={}", s.id, s.reason))).collect()
}

/// The codec keys, from a Secret or through the Secrets Store CSI driver.
pub(crate) fn codec_keys_volume(c: &DeployConfig) -> Option<Volume> {
    let e = c.encryption.as_ref()?;
    Some(match &e.secret_provider {
        Some(_) => Volume {
            name: "codec-keys".into(),
            csi: Some(CSIVolumeSource {
                driver: "secrets-store.csi.k8s.io".into(),
                read_only: Some(true),
                volume_attributes: Some(BTreeMap::from([("secretProviderClass".to_string(), e.key_secret.clone())])),
                ..Default::default()
            }),
            ..Default::default()
        },
        None => secret_volume("codec-keys", &e.key_secret),
    })
}

/// Every container: no privilege escalation, read-only root, non-root, no capabilities, seccomp.
pub(crate) fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// Every pod: the distroless image's non-root user, seccomp RuntimeDefault.
pub(crate) fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65532),
        run_as_group: Some(65532),
        fs_group: Some(65532),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

pub(crate) fn resource_requirements(r: &Resources) -> ResourceRequirements {
    let mut limits = BTreeMap::from([("memory".to_string(), quantity(&r.memory_limit))]);
    if let Some(cpu) = &r.cpu_limit {
        limits.insert("cpu".into(), quantity(cpu));
    }
    ResourceRequirements {
        requests: Some(BTreeMap::from([("cpu".into(), quantity(&r.cpu_request)), ("memory".into(), quantity(&r.memory_request))])),
        limits: Some(limits),
        ..Default::default()
    }
}

/// Spread a component's pods across zones and nodes.
pub(crate) fn spread_constraints(c: &DeployConfig, component: &str) -> Vec<TopologySpreadConstraint> {
    ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        .iter()
        .map(|key| TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.to_string(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(LabelSelector { match_labels: Some(selector_labels(c, component)), ..Default::default() }),
            ..Default::default()
        })
        .collect()
}

/// The admin port, and the scaler's gRPC port on the scaler.
fn container_ports(role: Role) -> Vec<ContainerPort> {
    let port = |name: &str, container_port: i32| ContainerPort {
        name: Some(name.into()),
        container_port,
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    let mut ports = vec![port("admin", admin_port())];
    if role == Role::Scaler {
        ports.push(port(Role::Scaler.name(), scaler_port()));
    }
    ports
}

pub(crate) fn deployment(c: &DeployConfig, config: &RoleConfig, role: Role) -> Deployment {
    if is_sdk_worker(c, role) {
        return super::sdk::deployment(c);
    }
    let component = role.name();
    let name = format!("{}-{component}", c.app.name);
    let managed = controller_managed(c, role);
    let env: Vec<EnvVar> =
        role_env(c, config, role).into_iter().map(|(k, v)| EnvVar { name: k, value: Some(v), ..Default::default() }).collect();
    let (mut volumes, mut mounts) = (Vec::new(), Vec::new());
    let mut mount = |volume: Volume, path: &str| {
        mounts.push(VolumeMount { name: volume.name.clone(), mount_path: path.into(), read_only: Some(true), ..Default::default() });
        volumes.push(volume);
    };
    match (c.temporal.auth, &c.temporal.tls_secret, &c.temporal.api_key_secret) {
        _ if managed => {} // the controller mounts or injects the credentials itself
        (Auth::Mtls, Some(secret), _) => mount(secret_volume("temporal-tls", secret), TLS_DIR),
        (Auth::ApiKey, _, Some(secret)) => mount(secret_volume("temporal-api-key", secret), API_KEY_DIR),
        _ => {}
    }
    if let Some(v) = codec_keys_volume(c) {
        mount(v, CODEC_KEYS_DIR);
    }
    let image = format!("{}:{}", c.app.image, c.app.tag);
    let security = container_security();
    let env_from = vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource { name: format!("{}-config", c.app.name), ..Default::default() }),
        ..Default::default()
    }];
    let resources = resource_requirements(&config.resources);
    let container = Container {
        name: component.into(),
        image: Some(image.clone()),
        image_pull_policy: Some("Always".into()),
        args: Some(vec![role.name().into()]),
        env_from: Some(env_from.clone()),
        env: Some(env.clone()),
        ports: Some(container_ports(role)),
        startup_probe: Some(http_probe("admin", "/startupz", 2, 60)),
        readiness_probe: Some(http_probe("admin", "/readyz", 5, 2)),
        liveness_probe: Some(http_probe("admin", "/livez", 10, 3)),
        resources: Some(resources.clone()),
        security_context: Some(security.clone()),
        volume_mounts: (!mounts.is_empty()).then(|| mounts.clone()),
        ..Default::default()
    };
    // Waits for Temporal with the app's own check (no curl in a distroless image).
    let wait = Container {
        name: "wait-for-temporal".into(),
        image: Some(image),
        image_pull_policy: Some("Always".into()),
        args: Some(vec![Role::Check.name().into()]),
        env_from: Some(env_from),
        env: Some(vec![EnvVar { name: S::TEMPORAL_CONNECT_TIMEOUT.env.into(), value: Some("120s".into()), ..Default::default() }]),
        resources: Some(resources),
        security_context: Some(security),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Default::default()
    };
    let spread = config.spread.then(|| spread_constraints(c, component));
    let grace_s = config.shutdown_grace.duration().as_secs() as i64 + hard_deadline_s() + KILL_MARGIN_S;
    let mut annotations = pod_annotations(c, admin_port());
    // An autoscaled worker leaves `replicas` to the HPA or KEDA.
    let replicas = match &config.autoscaling {
        Some(a) if a.mode != Autoscaler::None => None,
        _ => Some(config.replicas),
    };
    let mut metadata = meta(c, name.clone(), component);
    let skips = skip_annotations(c);
    if managed {
        // The controller copies the template's annotations onto each Deployment it creates.
        annotations.extend(skips);
    } else if !skips.is_empty() {
        metadata.annotations = Some(skips);
    }
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas,
            revision_history_limit: Some(5),
            progress_deadline_seconds: progress_deadline_seconds(c),
            selector: LabelSelector { match_labels: Some(selector_labels(c, component)), ..Default::default() },
            strategy: Some(rolling_update(config.max_surge, if role == Role::Orchestrator { 0 } else { config.max_unavailable })),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(c, component)), annotations: Some(annotations), ..Default::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(name.clone()),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(grace_s),
                    security_context: Some(pod_security()),
                    // A controller-managed worker gets its connection only in the main container, and
                    // the controller promotes a build only once its pollers are up.
                    init_containers: (!managed).then(|| vec![wait]),
                    containers: vec![container],
                    topology_spread_constraints: spread,
                    image_pull_secrets: image_pull_secrets(c),
                    readiness_gates: (!config.readiness_gates.is_empty())
                        .then(|| config.readiness_gates.iter().map(|t| PodReadinessGate { condition_type: t.clone() }).collect()),
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Secrets Store CSI: the codec keys come from an external store (CRD, kept as JSON).
pub(crate) fn secret_provider_class(c: &DeployConfig) -> Option<Object> {
    let e = c.encryption.as_ref()?;
    let p = e.secret_provider.as_ref()?;
    Some(Object {
        file: "secretproviderclass-codec-keys.yaml".into(),
        value: json!({
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": { "name": e.key_secret, "namespace": c.app.namespace, "labels": labels(c, "encryption") },
            "spec": { "provider": p.provider.name(), "parameters": p.parameters },
        }),
    })
}
