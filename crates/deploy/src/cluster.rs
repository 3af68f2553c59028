//! The requests `tk8s deploy`, `restart` and `status` make, on kube-rs. Every object is handled
//! as a `DynamicObject` whose API resource comes from its apiVersion and kind (no discovery
//! round trips; the kinds the render produces pluralise regularly).

use crate::DeployError;
use crate::plan::{FIELD_MANAGER, ObjectRef};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::Value;

/// A connected client and the namespace the app lives in.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
}

impl Cluster {
    /// From the kubeconfig (`KUBECONFIG`, `~/.kube/config`; `context` picks one) or, inside a
    /// pod, the service account, as kube-rs reads them.
    pub async fn connect(context: Option<&str>) -> Result<Cluster, DeployError> {
        let config = match context {
            Some(c) => {
                let options = kube::config::KubeConfigOptions { context: Some(c.to_string()), ..Default::default() };
                Config::from_kubeconfig(&options).await.map_err(|e| DeployError::Kubeconfig(format!("context {c:?}: {e}")))?
            }
            None => Config::infer().await.map_err(|e| DeployError::Kubeconfig(e.to_string()))?,
        };
        Self::from_config(config)
    }

    pub fn from_config(config: Config) -> Result<Cluster, DeployError> {
        Ok(Cluster { client: Client::try_from(config).map_err(|e| DeployError::Kubeconfig(e.to_string()))? })
    }

    fn api(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Api<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        match namespace {
            Some(ns) if kind != "Namespace" => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        }
    }

    fn api_of(&self, r: &ObjectRef) -> Api<DynamicObject> {
        self.api(&r.api_version, &r.kind, r.namespace.as_deref())
    }

    /// The kinds the cluster serves in an API version, or `None` when it serves no such version.
    pub async fn served_kinds(&self, api_version: &str) -> Result<Option<Vec<String>>, DeployError> {
        let list = if api_version.contains('/') {
            self.client.list_api_group_resources(api_version).await
        } else {
            self.client.list_core_api_resources(api_version).await
        };
        match list {
            Ok(list) => Ok(Some(list.resources.into_iter().filter(|r| !r.name.contains('/')).map(|r| r.kind).collect())),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(DeployError::api(format!("asking the API server whether it serves {api_version}"), e)),
        }
    }

    /// The API server's version (`v1.20.2`), when it says.
    pub async fn server_version(&self) -> Option<String> {
        self.client.apiserver_version().await.ok().map(|v| v.git_version)
    }

    /// The live object, or `None` when it does not exist.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, DeployError> {
        let live = self.api_of(r).get_opt(&r.name).await.map_err(|e| DeployError::api(format!("reading {r}"), e))?;
        Ok(live.map(to_value))
    }

    /// Server-side apply with field manager `tk8s`, taking ownership of conflicting fields (the
    /// config is the source of truth); `dry_run` asks the server what it would store.
    pub async fn apply(&self, object: &Value, dry_run: bool) -> Result<Value, kube::Error> {
        let r = ObjectRef::of(object);
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        self.api_of(&r).patch(&r.name, &params, &Patch::Apply(object)).await.map(to_value)
    }

    /// Members of an ApplySet of one group-kind, listed by label.
    pub async fn list_labelled(&self, api_version: &str, kind: &str, namespace: &str, selector: &str) -> Result<Vec<Value>, kube::Error> {
        let list = self.api(api_version, kind, Some(namespace)).list(&ListParams::default().labels(selector)).await?;
        Ok(list.items.into_iter().map(|o| with_type(to_value(o), api_version, kind)).collect())
    }

    pub async fn delete(&self, r: &ObjectRef) -> Result<(), DeployError> {
        match self.api_of(r).delete(&r.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(DeployError::api(format!("pruning {r}"), e)),
        }
    }

    /// A strategic merge patch (what `kubectl rollout restart` sends).
    pub async fn merge_patch(&self, r: &ObjectRef, patch: &Value) -> Result<(), DeployError> {
        self.api_of(r)
            .patch(&r.name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map(|_| ())
            .map_err(|e| DeployError::api(format!("patching {r}"), e))
    }

    /// Pods matching a Deployment's selector.
    pub async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<Value>, DeployError> {
        let api = self.api("v1", "Pod", Some(namespace));
        let list = api.list(&ListParams::default().labels(selector)).await.map_err(|e| DeployError::api("listing pods", e))?;
        Ok(list.items.into_iter().map(|o| with_type(to_value(o), "v1", "Pod")).collect())
    }

    /// The last lines a container wrote (its previous run's when it has restarted).
    pub async fn last_log_lines(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> String {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = LogParams { container: Some(container.into()), tail_lines: Some(20), previous, ..Default::default() };
        match api.logs(pod, &params).await {
            Ok(text) => text,
            Err(e) => format!("(its log cannot be read: {e})"),
        }
    }

    /// A pod's own answer on a path of a port, through the API server's pod proxy.
    pub async fn pod_proxy_get(&self, namespace: &str, pod: &str, port: i32, path: &str) -> Result<String, kube::Error> {
        let uri = format!("/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path}");
        let request = http::Request::get(uri).body(Vec::new()).map_err(kube::Error::HttpError)?;
        self.client.request_text(request).await
    }
}

/// A list's items carry no `apiVersion` and `kind` (the list has them): put them back, so that an
/// item identifies itself like a fetched object does.
fn with_type(mut item: Value, api_version: &str, kind: &str) -> Value {
    if let Some(o) = item.as_object_mut() {
        o.entry("apiVersion").or_insert_with(|| Value::from(api_version));
        o.entry("kind").or_insert_with(|| Value::from(kind));
    }
    item
}

fn to_value(o: DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}
