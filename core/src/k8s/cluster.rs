//! The Kubernetes API calls profcmp makes, async over a [`kube::Client`]: apply, wait until
//! Ready, delete and wait until gone, clean up by label, read ConfigMaps, stream logs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroup;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch, PatchParams,
};
use kube::config::KubeConfigOptions;
use kube::{Client, Config};
use serde_json::Value;

use super::graph::LABEL_RUN;
use super::v1beta1::{graph_to_v1beta1, V1ALPHA1, V1BETA1};
use super::{names, K8sError};

/// Field manager of profcmp's server-side applies.
pub const FIELD_MANAGER: &str = "profcmp";

/// The kinds of objects profcmp creates (and so cleans up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A DynamoGraphDeploymentRequest (Dynamo's profiler).
    Request,
    /// A DynamoGraphDeployment.
    Graph,
    /// A ConfigMap (the planner's profile data).
    ConfigMap,
}

impl Kind {
    /// Every kind, in cleanup order (requests first: they own profiling jobs and graphs).
    pub const ALL: [Kind; 3] = [Kind::Request, Kind::Graph, Kind::ConfigMap];

    /// The kind of an object by its `kind` field.
    pub fn of(object: &Value) -> Option<Kind> {
        match object["kind"].as_str()? {
            "DynamoGraphDeploymentRequest" => Some(Kind::Request),
            "DynamoGraphDeployment" => Some(Kind::Graph),
            "ConfigMap" => Some(Kind::ConfigMap),
            _ => None,
        }
    }

    /// The plural resource name, as in URLs and RBAC rules.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Request => "dynamographdeploymentrequests",
            Kind::Graph => "dynamographdeployments",
            Kind::ConfigMap => "configmaps",
        }
    }

    /// The resource at `version` of the nvidia.com group (`v1alpha1`, `v1beta1`).
    fn resource(self, version: &str) -> ApiResource {
        let gvk = match self {
            Kind::Request => GroupVersionKind::gvk("nvidia.com", version, "DynamoGraphDeploymentRequest"),
            Kind::Graph => GroupVersionKind::gvk("nvidia.com", version, "DynamoGraphDeployment"),
            Kind::ConfigMap => GroupVersionKind::gvk("", "v1", "ConfigMap"),
        };
        ApiResource::from_gvk_with_plural(&gvk, self.plural())
    }

    fn is_crd(self) -> bool {
        self != Kind::ConfigMap
    }
}

/// A namespace of one cluster, with the settings of the polling loops.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    /// The namespace every call works in.
    pub namespace: String,
    /// The API server's URL (for messages).
    pub url: String,
    /// Time between two polls while waiting.
    pub poll: Duration,
    /// The nvidia.com version profcmp speaks to this cluster (`v1alpha1` until
    /// [`Cluster::preflight`] discovers the served ones), shared by the clones.
    dynamo_version: Arc<Mutex<String>>,
}

impl Cluster {
    /// Connects with the usual kubeconfig (KUBECONFIG, ~/.kube/config, else in-cluster), the
    /// given context or the current one, and the given namespace or the context's.
    pub async fn connect(context: Option<&str>, namespace: Option<&str>) -> Result<Cluster, K8sError> {
        let config = match context {
            None => Config::infer().await.map_err(|e| kubeconfig_error(e.to_string()))?,
            Some(context) => {
                let options = KubeConfigOptions {
                    context: Some(context.to_string()),
                    ..Default::default()
                };
                Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| match kubeconfig_error(e.to_string()) {
                        K8sError::Api(_) => K8sError::Api(format!(
                            "kubeconfig: cannot use context {context} ({e}): see `kubectl config get-contexts`"
                        )),
                        other => other,
                    })?
            }
        };
        let url = config.cluster_url.to_string();
        let namespace = namespace.map_or_else(|| config.default_namespace.clone(), str::to_string);
        let client = Client::try_from(config).map_err(|e| K8sError::Unreachable {
            url: url.clone(),
            cause: e.to_string(),
        })?;
        Ok(Cluster::new(client, &namespace, &url))
    }

    /// A cluster over any client (tests give a mock service).
    pub fn new(client: Client, namespace: &str, url: &str) -> Cluster {
        Cluster {
            client,
            namespace: namespace.to_string(),
            url: url.trim_end_matches('/').to_string(),
            poll: Duration::from_secs(5),
            dynamo_version: Arc::new(Mutex::new("v1alpha1".to_string())),
        }
    }

    /// A handle on the same cluster that speaks nvidia.com `version` (e.g. a request's calls
    /// in the version its file is written in: v1beta1 requests have another status).
    pub fn speaking(&self, version: &str) -> Cluster {
        Cluster {
            dynamo_version: Arc::new(Mutex::new(version.to_string())),
            ..self.clone()
        }
    }

    /// The nvidia.com version this cluster is spoken to in (`v1alpha1` or `v1beta1`).
    pub fn dynamo_version(&self) -> String {
        self.dynamo_version.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Checks, before creating anything, that the API server answers, that the namespace exists
    /// and that Dynamo's CRDs for `kinds` are installed.
    pub async fn preflight(&self, kinds: &[Kind]) -> Result<(), K8sError> {
        let namespaces: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")),
        );
        match namespaces.get_opt(&self.namespace).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(K8sError::NoNamespace(self.namespace.clone())),
            // Many users may not read namespaces; the first real call will tell.
            Err(kube::Error::Api(status)) if status.code == 403 => {}
            Err(e) => return Err(self.error(e, "get", "namespaces", &self.namespace)),
        }
        let crds: Vec<Kind> = kinds.iter().copied().filter(|k| k.is_crd()).collect();
        if crds.is_empty() {
            return Ok(());
        }
        let version = self.discover_version(crds[0]).await?;
        let list = match self
            .client
            .list_api_group_resources(&format!("nvidia.com/{version}"))
            .await
        {
            Ok(list) => list,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(K8sError::MissingCrd {
                    kind: kind_name(crds[0]).into(),
                })
            }
            Err(e) => return Err(self.error(e, "get", &format!("apis/nvidia.com/{version}"), "")),
        };
        for kind in crds {
            if !list.resources.iter().any(|r| r.name == kind.plural()) {
                return Err(K8sError::MissingCrd {
                    kind: kind_name(kind).into(),
                });
            }
        }
        *self.dynamo_version.lock().unwrap_or_else(|p| p.into_inner()) = version;
        Ok(())
    }

    /// The nvidia.com version to speak, from the group's discovery document: the cluster's
    /// preferred version when profcmp speaks it (the newest Dynamo prefers v1beta1, its storage
    /// version; 0.7 serves only v1alpha1), else the newest served one it speaks.
    async fn discover_version(&self, kind: Kind) -> Result<String, K8sError> {
        let request = http::Request::get("/apis/nvidia.com")
            .body(Vec::new())
            .map_err(|e| K8sError::Api(format!("discovery request: {e}")))?;
        let group: APIGroup = match self.client.request(request).await {
            Ok(group) => group,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(K8sError::MissingCrd {
                    kind: kind_name(kind).into(),
                })
            }
            Err(e) => return Err(self.error(e, "get", "apis/nvidia.com", "")),
        };
        let spoken = ["v1beta1", "v1alpha1"];
        let served: Vec<&str> = group.versions.iter().map(|v| v.version.as_str()).collect();
        let preferred = group.preferred_version.as_ref().map(|v| v.version.as_str());
        let chosen = preferred
            .filter(|p| spoken.contains(p) && served.contains(p))
            .or_else(|| spoken.into_iter().find(|v| served.contains(v)));
        chosen.map(str::to_string).ok_or_else(|| {
            K8sError::Api(format!(
                "the cluster serves nvidia.com versions {} and profcmp speaks v1beta1 and v1alpha1: use a Dynamo operator that serves one of them",
                served.join(", ")
            ))
        })
    }

    /// Server-side applies an object (field manager `profcmp`, forced); returns it as stored.
    /// Names are checked first ([`names::check_object`]); a graph is converted to the version
    /// the cluster is spoken to in; a request is applied in the version its file is written in.
    pub async fn apply(&self, object: &Value) -> Result<Value, K8sError> {
        let kind = Kind::of(object).ok_or_else(|| K8sError::Api(format!("cannot apply kind {}", object["kind"])))?;
        names::check_object(object)?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let version = self.dynamo_version();
        let object_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let (object, api) = match kind {
            Kind::Graph if version == "v1beta1" => (graph_to_v1beta1(object)?, self.api(kind)),
            Kind::Graph if object_version == V1BETA1 => {
                return Err(K8sError::Api(format!(
                    "dynamographdeployment {name} is written in {V1BETA1}, which this cluster does not serve ({V1ALPHA1} only): write it in {V1ALPHA1}"
                )))
            }
            Kind::Request => {
                let in_file = object_version.strip_prefix("nvidia.com/").unwrap_or("v1alpha1");
                (object.clone(), self.api_at(kind, in_file))
            }
            _ => (object.clone(), self.api(kind)),
        };
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api
            .patch(name, &params, &Patch::Apply(&object))
            .await
            .map_err(|e| self.error_of(kind, e, "patch", name))?;
        Ok(serde_json::to_value(applied).unwrap_or(Value::Null))
    }

    /// An object, or None when it does not exist.
    pub async fn get(&self, kind: Kind, name: &str) -> Result<Option<Value>, K8sError> {
        let found = self
            .api(kind)
            .get_opt(name)
            .await
            .map_err(|e| self.error_of(kind, e, "get", name))?;
        Ok(found.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
    }

    /// Waits until a graph is Ready; after `timeout` returns [`K8sError::Timeout`] with its
    /// pods' states and recent events. `cancelled` is checked at every poll.
    pub async fn wait_ready(
        &self,
        name: &str,
        timeout: Duration,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<Value, K8sError> {
        let started = Instant::now();
        loop {
            if let Some(graph) = self.get(Kind::Graph, name).await? {
                if is_ready(&graph) {
                    return Ok(graph);
                }
            }
            if cancelled() {
                return Err(K8sError::Cancelled);
            }
            if started.elapsed() >= timeout {
                return Err(K8sError::Timeout {
                    what: format!("dynamographdeployment {name}: Ready"),
                    seconds: timeout.as_secs(),
                    details: self.diagnose(name).await,
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// The state of the pods whose names start with `name-` and their last events, one per line.
    pub async fn diagnose(&self, name: &str) -> String {
        let prefix = format!("{name}-");
        let mut out = String::new();
        let pods = self.list_values("", "v1", "Pod", "pods", &ListParams::default()).await;
        for pod in pods
            .iter()
            .filter(|p| p["metadata"]["name"].as_str().is_some_and(|n| n.starts_with(&prefix)))
        {
            out.push_str(&format!(
                "\n  pod {}: {}",
                pod["metadata"]["name"].as_str().unwrap_or("?"),
                pod_state(pod)
            ));
        }
        let events = self
            .list_values("", "v1", "Event", "events", &ListParams::default())
            .await;
        let related: Vec<&Value> = events
            .iter()
            .filter(|e| {
                let object = e["involvedObject"]["name"].as_str().unwrap_or_default();
                object == name || object.starts_with(&prefix)
            })
            .collect();
        for event in related.iter().rev().take(8).rev() {
            out.push_str(&format!(
                "\n  event {} {}/{}: {}",
                event["reason"].as_str().unwrap_or("?"),
                event["involvedObject"]["kind"].as_str().unwrap_or("?").to_lowercase(),
                event["involvedObject"]["name"].as_str().unwrap_or("?"),
                event["message"].as_str().unwrap_or("").trim()
            ));
        }
        if out.is_empty() {
            out.push_str("\n  no pods and no events yet (is the Dynamo operator running?)");
        }
        out
    }

    /// Deletes an object (foreground: it stays until its pods are gone); absent is fine.
    pub async fn delete(&self, kind: Kind, name: &str) -> Result<(), K8sError> {
        match self.api(kind).delete(name, &DeleteParams::foreground()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(self.error_of(kind, e, "delete", name)),
        }
    }

    /// Waits until an object is gone.
    pub async fn wait_gone(&self, kind: Kind, name: &str, timeout: Duration) -> Result<(), K8sError> {
        let started = Instant::now();
        while self.get(kind, name).await?.is_some() {
            if started.elapsed() >= timeout {
                return Err(K8sError::Timeout {
                    what: format!("deleting {} {name}", kind.plural()),
                    seconds: timeout.as_secs(),
                    details: String::new(),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
        Ok(())
    }

    /// Deletes and waits until gone.
    pub async fn remove(&self, kind: Kind, name: &str, timeout: Duration) -> Result<(), K8sError> {
        self.delete(kind, name).await?;
        self.wait_gone(kind, name, timeout).await
    }

    /// Names of the objects of `kind` carrying the run-id label `run_id`.
    pub async fn labelled(&self, kind: Kind, run_id: &str) -> Result<Vec<String>, K8sError> {
        let params = ListParams::default().labels(&format!("{LABEL_RUN}={run_id}"));
        let list = self
            .api(kind)
            .list(&params)
            .await
            .map_err(|e| self.error_of(kind, e, "list", ""))?;
        Ok(list.items.into_iter().filter_map(|o| o.metadata.name).collect())
    }

    /// Deletes everything of a run (by its run-id label) and, given a timeout, waits until it is
    /// gone; returns `kind/name` of what it removed. CRDs that are not installed are skipped.
    pub async fn cleanup(&self, run_id: &str, wait: Option<Duration>) -> Result<Vec<String>, K8sError> {
        // Lists in a version the cluster serves (v1alpha1 may be gone); no group, no CRDs.
        let dynamo = match self.discover_version(Kind::Graph).await {
            Ok(version) => Some(self.speaking(&version)),
            Err(K8sError::MissingCrd { .. }) => None,
            Err(e) => return Err(e),
        };
        let mut removed = Vec::new();
        for kind in Kind::ALL {
            let cluster = match (kind.is_crd(), &dynamo) {
                (false, _) => self,
                (true, Some(dynamo)) => dynamo,
                (true, None) => continue,
            };
            let names = match cluster.labelled(kind, run_id).await {
                Ok(names) => names,
                Err(K8sError::MissingCrd { .. }) => continue,
                Err(e) => return Err(e),
            };
            for name in &names {
                cluster.delete(kind, name).await?;
            }
            for name in names {
                if let Some(timeout) = wait {
                    cluster.wait_gone(kind, &name, timeout).await?;
                }
                removed.push(format!("{}/{name}", kind.plural()));
            }
        }
        Ok(removed)
    }

    /// The `data` of a ConfigMap.
    pub async fn config_map(&self, name: &str) -> Result<BTreeMap<String, String>, K8sError> {
        let map = self
            .get(Kind::ConfigMap, name)
            .await?
            .ok_or_else(|| K8sError::NotFound {
                resource: "configmaps".into(),
                name: name.into(),
                namespace: self.namespace.clone(),
            })?;
        Ok(serde_json::from_value(map["data"].clone()).unwrap_or_default())
    }

    /// Pods matching a label selector, as JSON.
    pub async fn pods(&self, selector: &str) -> Result<Vec<Value>, K8sError> {
        let api: Api<DynamicObject> = self.api_for("", "v1", "Pod", "pods");
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| self.error(e, "list", "pods", ""))?;
        Ok(list
            .items
            .iter()
            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
            .collect())
    }

    /// A namespaced object of any kind, or None.
    pub async fn get_any(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        name: &str,
    ) -> Result<Option<Value>, K8sError> {
        let api = self.api_for(group, version, kind, plural);
        let found = api
            .get_opt(name)
            .await
            .map_err(|e| self.error(e, "get", plural, name))?;
        Ok(found.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
    }

    /// Follows a pod's log until it ends, appending each line to `out`; returns the line count.
    pub async fn stream_logs(
        &self,
        pod: &str,
        container: Option<&str>,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, K8sError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let params = LogParams {
            follow: true,
            container: container.map(str::to_string),
            ..Default::default()
        };
        let stream = pods
            .log_stream(pod, &params)
            .await
            .map_err(|e| self.error(e, "get", "pods/log", pod))?;
        let mut lines = stream.lines();
        let mut n = 0;
        while let Some(line) = lines
            .try_next()
            .await
            .map_err(|e| K8sError::Api(format!("log of pod {pod}: {e}")))?
        {
            writeln!(out, "{line}").map_err(|e| K8sError::Api(format!("writing the log of pod {pod}: {e}")))?;
            n += 1;
        }
        Ok(n)
    }

    /// The client, for port-forwards.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn api(&self, kind: Kind) -> Api<DynamicObject> {
        self.api_at(kind, &self.dynamo_version())
    }

    fn api_at(&self, kind: Kind, version: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &kind.resource(version))
    }

    fn api_for(&self, group: &str, version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    /// Lists objects for diagnostics; an error gives an empty list.
    async fn list_values(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        params: &ListParams,
    ) -> Vec<Value> {
        match self.api_for(group, version, kind, plural).list(params).await {
            Ok(list) => list
                .items
                .iter()
                .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn error_of(&self, kind: Kind, error: kube::Error, verb: &str, name: &str) -> K8sError {
        match &error {
            kube::Error::Api(status)
                if status.code == 404 && kind.is_crd() && !status.message.contains('"') && verb != "delete" =>
            {
                // "the server could not find the requested resource": no such resource type.
                K8sError::MissingCrd {
                    kind: kind_name(kind).into(),
                }
            }
            _ => self.error(error, verb, kind.plural(), name),
        }
    }

    /// One clear error for a failed call.
    fn error(&self, error: kube::Error, verb: &str, resource: &str, name: &str) -> K8sError {
        let status = match error {
            kube::Error::Api(status) => status,
            kube::Error::SerdeError(e) => return K8sError::Api(format!("unexpected answer from {}: {e}", self.url)),
            other => {
                return K8sError::Unreachable {
                    url: self.url.clone(),
                    cause: root_cause(&other),
                }
            }
        };
        let namespace = self.namespace.clone();
        match status.code {
            401 => K8sError::Api(format!(
                "the API server at {} refused the kubeconfig's credentials (401): log in again or pick another --context",
                self.url
            )),
            403 => K8sError::Forbidden {
                verb: verb.into(),
                resource: resource.into(),
                namespace,
            },
            404 if status.message.starts_with("namespaces ") => K8sError::NoNamespace(namespace),
            404 => K8sError::NotFound {
                resource: resource.into(),
                name: name.into(),
                namespace,
            },
            code => K8sError::Api(format!("{verb} {resource} {name}: {} ({code})", status.message)),
        }
    }
}

/// True when a graph reports Ready: a `Ready` condition that is `True`, or `state: successful`.
pub fn is_ready(graph: &Value) -> bool {
    let status = &graph["status"];
    let condition = status["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    condition
        || status["state"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("successful") || s.eq_ignore_ascii_case("ready"))
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Request => "DynamoGraphDeploymentRequest",
        Kind::Graph => "DynamoGraphDeployment",
        Kind::ConfigMap => "ConfigMap",
    }
}

/// `Phase (reason: message)` of a pod, from its conditions and container states.
fn pod_state(pod: &Value) -> String {
    let status = &pod["status"];
    let phase = status["phase"].as_str().unwrap_or("Unknown");
    let mut reasons = Vec::new();
    for condition in status["conditions"].as_array().into_iter().flatten() {
        if condition["status"] == "False" && condition["reason"].is_string() {
            reasons.push(format!(
                "{}: {}",
                condition["reason"].as_str().unwrap_or_default(),
                condition["message"].as_str().unwrap_or_default()
            ));
        }
    }
    for container in status["containerStatuses"].as_array().into_iter().flatten() {
        let waiting = &container["state"]["waiting"];
        if let Some(reason) = waiting["reason"].as_str() {
            reasons.push(format!(
                "{} {reason}: {}",
                container["name"].as_str().unwrap_or("?"),
                waiting["message"].as_str().unwrap_or_default()
            ));
        }
    }
    if reasons.is_empty() {
        phase.to_string()
    } else {
        format!("{phase} ({})", reasons.join("; "))
    }
}

fn kubeconfig_error(message: String) -> K8sError {
    let home = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".kube/config"));
    let looked = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(paths) if !std::env::split_paths(&paths).any(|p| p.exists()) => {
            Some(format!("KUBECONFIG={} does not exist", paths.to_string_lossy()))
        }
        None if !home.as_ref().is_some_and(|h| h.exists()) => {
            Some("no KUBECONFIG, no ~/.kube/config, not inside a cluster".to_string())
        }
        _ => None,
    };
    match looked {
        Some(looked) => K8sError::NoKubeconfig(looked),
        None => K8sError::Api(format!(
            "kubeconfig: {message}: fix it or pick a context with --context"
        )),
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)").
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
