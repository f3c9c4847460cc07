//! A mock API server for the kube client: scripted calls, checked in order.
//!
//! kube-rs's own pattern (tower-test's `mock::pair`): the client sends into a mock service, a
//! task here takes each request, checks its method, path, query and body against the next
//! expected [`Call`], and answers like the API server. A missing call fails after a timeout; an
//! extra one fails when the script is done.

use std::pin::pin;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Namespace of every mock cluster.
pub const NS: &str = "ns";

/// A body check.
type BodyCheck = Box<dyn Fn(&Value) + Send + Sync>;

/// One expected request and the answer to it.
pub struct Call {
    method: &'static str,
    path: String,
    query: Vec<String>,
    body: Option<BodyCheck>,
    status: u16,
    reply: Vec<u8>,
}

impl Call {
    /// Expects `method` on `path` (without query); answers 200 `{}` unless told otherwise.
    pub fn new(method: &'static str, path: impl Into<String>) -> Call {
        Call {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            status: 200,
            reply: b"{}".to_vec(),
        }
    }

    /// The query string must contain `part`.
    pub fn query(mut self, part: &str) -> Call {
        self.query.push(part.to_string());
        self
    }

    /// The JSON body must pass `check`.
    pub fn body(mut self, check: impl Fn(&Value) + Send + Sync + 'static) -> Call {
        self.body = Some(Box::new(check));
        self
    }

    /// Answers `status` with a JSON body.
    pub fn reply(mut self, status: u16, body: Value) -> Call {
        self.status = status;
        self.reply = serde_json::to_vec(&body).unwrap();
        self
    }

    /// Answers 200 with a plain-text body (logs).
    pub fn text(mut self, body: &str) -> Call {
        self.reply = body.as_bytes().to_vec();
        self
    }

    /// Answers with a Kubernetes `Status` error.
    pub fn fail(self, code: u16, reason: &str, message: &str) -> Call {
        self.reply(
            code,
            json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": message, "reason": reason, "code": code }),
        )
    }
}

/// Path of a namespaced Dynamo object (`plural` under nvidia.com/v1alpha1).
pub fn dynamo(plural: &str, name: &str) -> String {
    dynamo_at("v1alpha1", plural, name)
}

/// Path of a namespaced Dynamo object under nvidia.com/`version`.
pub fn dynamo_at(version: &str, plural: &str, name: &str) -> String {
    format!("/apis/nvidia.com/{version}/namespaces/{NS}/{plural}/{name}")
}

/// The discovery document of the nvidia.com group (`GET /apis/nvidia.com`).
pub fn group(served: &[&str], preferred: &str) -> Value {
    let version = |v: &str| json!({ "groupVersion": format!("nvidia.com/{v}"), "version": v });
    json!({ "kind": "APIGroup", "apiVersion": "v1", "name": "nvidia.com",
            "versions": served.iter().map(|v| version(v)).collect::<Vec<_>>(),
            "preferredVersion": version(preferred) })
}

/// Path of a namespaced core object.
pub fn core(plural: &str, name: &str) -> String {
    let base = format!("/api/v1/namespaces/{NS}/{plural}");
    if name.is_empty() {
        base
    } else {
        format!("{base}/{name}")
    }
}

/// A client on a mock service inside `runtime`, and the task that serves `calls` in order.
pub fn serve(runtime: &Runtime, calls: Vec<Call>) -> (Client, JoinHandle<()>) {
    let _guard = runtime.enter();
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let task = runtime.spawn(async move {
        let mut handle = pin!(handle);
        for (i, call) in calls.into_iter().enumerate() {
            let next = tokio::time::timeout(Duration::from_secs(5), handle.next_request()).await;
            let Ok(Some((request, send))) = next else {
                panic!("call {i} never came: {} {}", call.method, call.path);
            };
            let uri = request.uri().clone();
            assert_eq!(
                (request.method().as_str(), uri.path()),
                (call.method, call.path.as_str()),
                "call {i}: got {} {uri}",
                request.method()
            );
            let query = uri.query().unwrap_or_default();
            for part in &call.query {
                assert!(query.contains(part.as_str()), "call {i} {uri}: query lacks {part}");
            }
            if let Some(check) = &call.body {
                let bytes = request.into_body().collect_bytes().await.unwrap();
                let body: Value = serde_json::from_slice(&bytes).expect("JSON body");
                check(&body);
            }
            let response = Response::builder()
                .status(call.status)
                .body(Body::from(call.reply))
                .unwrap();
            send.send_response(response);
        }
        if let Ok(Some((request, _))) = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await {
            panic!(
                "unexpected call after the script: {} {}",
                request.method(),
                request.uri()
            );
        }
    });
    (client, task)
}

/// The discovery document of nvidia.com/`version` with Dynamo's two CRDs.
pub fn dynamo_resources_at(version: &str) -> Value {
    json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("nvidia.com/{version}"),
        "resources": [
            { "name": "dynamographdeployments", "singularName": "dynamographdeployment", "namespaced": true,
              "kind": "DynamoGraphDeployment", "verbs": ["create", "delete", "get", "list", "patch", "watch"] },
            { "name": "dynamographdeploymentrequests", "singularName": "dynamographdeploymentrequest",
              "namespaced": true, "kind": "DynamoGraphDeploymentRequest",
              "verbs": ["create", "delete", "get", "list", "patch", "watch"] },
        ]
    })
}

/// The preflight calls of a healthy Dynamo 0.7 cluster (v1alpha1 only): the namespace, the
/// group's versions, then Dynamo's resources.
pub fn preflight() -> Vec<Call> {
    preflight_serving(&["v1alpha1"], "v1alpha1")
}

/// The preflight calls of a cluster serving `served` nvidia.com versions, preferring
/// `preferred` (the newest Dynamo: both, v1beta1 preferred).
pub fn preflight_serving(served: &[&str], preferred: &str) -> Vec<Call> {
    vec![
        namespace(),
        Call::new("GET", "/apis/nvidia.com").reply(200, group(served, preferred)),
        Call::new("GET", format!("/apis/nvidia.com/{preferred}")).reply(200, dynamo_resources_at(preferred)),
    ]
}

/// The namespace `ns`, found.
pub fn namespace() -> Call {
    Call::new("GET", format!("/api/v1/namespaces/{NS}")).reply(
        200,
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NS } }),
    )
}

/// A DynamoGraphDeployment as the API server returns it, with a status.
pub fn graph(name: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
        "metadata": { "name": name, "namespace": NS },
        "spec": { "services": {} },
        "status": { "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }] },
    })
}

/// An empty list of `kind`.
pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {}, "items": items })
}
