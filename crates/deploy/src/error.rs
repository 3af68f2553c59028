//! The one error type of `tk8s-deploy`, each variant with the exit code the CLI maps it to.

use crate::secrets::NeededSecret;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The deploy config is wrong (file:line), or names an environment it does not have. Exit 78.
    #[error(transparent)]
    Render(#[from] tk8s_render::RenderError),
    /// A flag's value is wrong. Exit 64.
    #[error("{0}")]
    Usage(String),
    /// No usable kubeconfig or in-cluster configuration. Exit 78.
    #[error(
        "cannot configure a Kubernetes client: {0}\n  hint: set KUBECONFIG or ~/.kube/config (and --context), or run inside a pod with a service account"
    )]
    Kubeconfig(String),
    /// The API server refused or failed a request. Exit 69 when it cannot be reached, else 1.
    #[error("{action}: {source}{}", hint_for(source))]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// Secrets the objects mount or reference are missing. Exit 1: nothing was applied.
    #[error("{}", missing_secrets(namespace, secrets))]
    MissingSecrets { namespace: String, secrets: Vec<NeededSecret> },
    /// A CRD kind the render uses is not served by the cluster. Exit 1.
    #[error(
        "the cluster does not serve {kind} ({api_version}), which {name} needs\n  hint: install {provider} first, or turn the feature off in the deploy config"
    )]
    CrdMissing { kind: String, api_version: String, name: String, provider: &'static str },
    /// The cluster does not serve built-in kinds the render uses. Exit 1: nothing was applied.
    #[error("{}", too_old(server, missing))]
    ClusterTooOld { server: String, missing: Vec<crate::plan::Unserved> },
    /// The replay gate refused the new image: nothing that rolls the worker was applied. Exit 1.
    #[error(
        "the replay gate ({job}) failed ({reason}): the new image cannot replay the histories of running workflows; nothing that would roll the worker was applied\n{verdict}\n  hint: fix the workflow code (guard the change with patched(), or give it a new workflow type); --skip-replay-gate rolls out anyway, and the listed workflows would then fail"
    )]
    ReplayGate { job: String, reason: String, verdict: String },
    /// A rollout failed or did not finish in time. Exit 1.
    #[error("{0}")]
    Rollout(String),
}

impl DeployError {
    pub fn exit_code(&self) -> u8 {
        match self {
            DeployError::Render(e) => e.exit_code(),
            DeployError::Usage(_) => 64,
            DeployError::Kubeconfig(_) => 78,
            DeployError::Api { source, .. } if unreachable(source) => 69,
            _ => 1,
        }
    }

    pub(crate) fn api(action: impl Into<String>, source: kube::Error) -> DeployError {
        DeployError::Api { action: action.into(), source }
    }
}

fn unreachable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_))
}

fn hint_for(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 401 => "\n  hint: the credentials in the kubeconfig were refused; log in again".into(),
        kube::Error::Api(s) if s.code == 403 => {
            "\n  hint: the account lacks permission; tk8s deploy needs get, list, patch, create and delete on the app's kinds in its namespace".into()
        }
        e if unreachable(e) => "\n  hint: the API server is unreachable; check the kubeconfig's server and --context".into(),
        _ => String::new(),
    }
}

fn missing_secrets(namespace: &str, secrets: &[NeededSecret]) -> String {
    let mut text = format!("{} Secret(s) the manifests need are missing in namespace {namespace}; nothing was applied", secrets.len());
    for s in secrets {
        text.push_str(&format!("\n  {} (used by {})\n    hint: {}", s.name, s.used_by.join(", "), s.create_command(namespace)));
    }
    text
}

fn too_old(server: &str, missing: &[crate::plan::Unserved]) -> String {
    let mut text = format!("the cluster (Kubernetes {server}) is too old for these objects; nothing was applied");
    let mut needed: Option<&str> = None;
    for m in missing {
        let since = m.since.map(|v| format!("served from Kubernetes {v}")).unwrap_or_else(|| "not served by this cluster".into());
        text.push_str(&format!("\n  {} needs {} {} ({since})", m.name, m.api_version, m.kind));
        if let Some(v) = m.since {
            let newer = |a: &str, b: &str| {
                a.split('.').map(|n| n.parse::<u32>().unwrap_or(0)).cmp(b.split('.').map(|n| n.parse::<u32>().unwrap_or(0))).is_gt()
            };
            needed = Some(match needed {
                Some(n) if !newer(v, n) => n,
                _ => v,
            });
        }
    }
    match needed {
        Some(v) => text.push_str(&format!("\n  hint: upgrade the cluster to Kubernetes {v} or later (tk8s renders current API versions)")),
        None => text.push_str("\n  hint: upgrade the cluster"),
    }
    text
}

/// Who provides a CRD kind.
pub(crate) fn provider(kind: &str) -> &'static str {
    match kind {
        "ScaledObject" => "KEDA",
        "ServiceMonitor" | "PrometheusRule" => "the Prometheus Operator",
        "VerticalPodAutoscaler" => "the Vertical Pod Autoscaler",
        "WorkerDeployment" | "Connection" | "WorkerResourceTemplate" => "the temporal-worker-controller",
        "SecretProviderClass" => "the Secrets Store CSI driver",
        _ => "the operator that owns this kind",
    }
}
