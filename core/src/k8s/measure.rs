//! Measuring on Kubernetes: a port-forward to a graph's frontend through the API server (no
//! kubectl), and the [`Loadgen`] seam the load generator plugs into.

use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use profcmp_plugin_api::Probe;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::cluster::Cluster;
use super::K8sError;
use crate::aiperf::RequestRecord;
use crate::endpoint::{Api as OpenAiApi, EndpointError, LoadSettings, Target};

/// Runs a load against an OpenAI-compatible frontend and returns what each request saw and the
/// benchmark's duration in seconds. [`Builtin`] is profcmp's load generator; tests give fakes.
pub trait Loadgen: Send + Sync {
    /// Sends `probe`'s requests for `model` to `base_url` (e.g. `http://127.0.0.1:PORT`).
    fn run(&self, base_url: &str, model: &str, probe: &Probe) -> Result<(Vec<RequestRecord>, f64), EndpointError>;
}

/// The built-in load generator (chat completions, streamed), as the endpoint backend uses it.
pub struct Builtin(pub LoadSettings);

impl Loadgen for Builtin {
    fn run(&self, base_url: &str, model: &str, probe: &Probe) -> Result<(Vec<RequestRecord>, f64), EndpointError> {
        let target = Target::new(base_url, model, OpenAiApi::Chat)?;
        let outcome = crate::endpoint::run_load(&target, probe, &self.0)?;
        Ok((outcome.records, outcome.duration_s))
    }
}

/// A live port-forward: a local listener whose connections go to a frontend pod. Stops when
/// dropped.
pub struct Forward {
    /// The local address, on 127.0.0.1.
    pub local: SocketAddr,
    task: JoinHandle<()>,
}

impl Forward {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards a local port to the frontend of graph `name`: its Service `<name>-<frontend
/// service, lowercased>` gives the pod selector and port; a Running pod behind it is used.
pub async fn forward_frontend(cluster: &Cluster, graph: &Value) -> Result<Forward, K8sError> {
    let name = graph["metadata"]["name"].as_str().unwrap_or_default();
    let frontend = graph["spec"]["services"]
        .as_object()
        .and_then(|s| s.iter().find(|(_, v)| v["componentType"] == "frontend"))
        .map(|(k, _)| k.to_lowercase())
        .ok_or_else(|| K8sError::Api(format!("graph {name} has no frontend service")))?;
    let service_name = format!("{name}-{frontend}");
    let service = cluster
        .get_any("", "v1", "Service", "services", &service_name)
        .await?
        .ok_or_else(|| K8sError::NotFound {
            resource: "services".into(),
            name: service_name.clone(),
            namespace: cluster.namespace.clone(),
        })?;
    let (selector, port) = service_target(&service)
        .ok_or_else(|| K8sError::Api(format!("service {service_name} has no selector or port")))?;
    let pods = cluster.pods(&selector).await?;
    let pod = pods
        .iter()
        .find(|p| p["status"]["phase"] == "Running")
        .and_then(|p| p["metadata"]["name"].as_str())
        .ok_or_else(|| K8sError::Api(format!("no Running pod behind service {service_name} ({selector})")))?
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| K8sError::Api(format!("cannot listen on 127.0.0.1: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| K8sError::Api(format!("cannot listen on 127.0.0.1: {e}")))?;
    let pods: Api<Pod> = Api::namespaced(cluster.client().clone(), &cluster.namespace);
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (pods, pod) = (pods.clone(), pod.clone());
            tokio::spawn(async move {
                let Ok(mut forwarder) = pods.portforward(&pod, &[port]).await else {
                    return;
                };
                if let Some(mut upstream) = forwarder.take_stream(port) {
                    let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
                }
                forwarder.abort();
            });
        }
    });
    Ok(Forward { local, task })
}

/// The label selector and the container port of a Service (its first port's targetPort when it
/// is a number, else its port).
pub fn service_target(service: &Value) -> Option<(String, u16)> {
    let selector = service["spec"]["selector"].as_object()?;
    if selector.is_empty() {
        return None;
    }
    let selector = selector
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",");
    let port = &service["spec"]["ports"][0];
    let number = port["targetPort"].as_u64().or_else(|| port["port"].as_u64())?;
    Some((selector, u16::try_from(number).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_selector_and_target_port() {
        let service = json!({ "spec": {
            "selector": { "nvidia.com/selector": "g-frontend", "app": "x" },
            "ports": [{ "port": 8000, "targetPort": 8000 }],
        }});
        assert_eq!(
            service_target(&service),
            Some(("app=x,nvidia.com/selector=g-frontend".to_string(), 8000))
        );
        let named = json!({ "spec": { "selector": { "a": "b" }, "ports": [{ "port": 80, "targetPort": "http" }] } });
        assert_eq!(service_target(&named), Some(("a=b".to_string(), 80)));
        assert_eq!(service_target(&json!({ "spec": {} })), None);
    }
}
