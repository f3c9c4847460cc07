//! The Kubernetes backend against a mock API server: the exact calls of deploy, wait, teardown,
//! cleanup, ConfigMaps, logs and Dynamo's profiler, and the error paths.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use profcmp_plugin_api::{DeployRequest, Probe, ServingBackend};
use serde_json::{json, Value};

use super::backend::{runtime, K8sBackend, K8sSettings};
use super::cluster::{Cluster, Kind};
use super::graph::{LABEL_METHOD, LABEL_RUN};
use super::measure::Loadgen;
use super::mock::{self, core, dynamo, dynamo_at, graph, list, serve, Call, NS};
use super::K8sError;
use crate::aiperf::RequestRecord;
use crate::backend::Backend;

const GRAPH: DeployRequest = DeployRequest::Graph {
    prefill_workers: 1,
    prefill_tp: 1,
    decode_workers: 1,
    decode_tp: 2,
};

struct NoLoad;

impl Loadgen for NoLoad {
    fn run(&self, _: &str, _: &str, _: &Probe) -> Result<(Vec<RequestRecord>, f64), crate::endpoint::EndpointError> {
        Err(crate::endpoint::EndpointError::Config("no load in these tests".into()))
    }
}

fn settings(run_id: &str) -> K8sSettings {
    let mut settings = K8sSettings::new(run_id, "aic_all", "Qwen/Qwen3-32B", ServingBackend::Trtllm);
    settings.poll = Duration::from_millis(1);
    settings
}

/// The mock server of a backend test: its runtime (apart from the backend's, so it outlives the
/// backend's teardown on drop) and its task.
struct Server(tokio::runtime::Runtime, tokio::task::JoinHandle<()>);

/// A backend on a mock cluster serving `calls`.
fn backend(settings: K8sSettings, calls: Vec<Call>) -> (K8sBackend, Server) {
    backend_cancelled_by(settings, calls, Arc::new(AtomicBool::new(false)))
}

/// A backend whose Ctrl-C flag is `cancelled`.
fn backend_cancelled_by(settings: K8sSettings, calls: Vec<Call>, cancelled: Arc<AtomicBool>) -> (K8sBackend, Server) {
    let server_runtime = runtime().unwrap();
    let (client, server) = serve(&server_runtime, calls);
    let cluster = Cluster::new(client, NS, "http://mock");
    let limits: super::backend::WorkerLimits = Arc::new(|tp| Ok((10_000 * u64::from(tp), 64)));
    let backend = K8sBackend::new(
        runtime().unwrap(),
        cluster,
        settings,
        limits,
        Arc::new(NoLoad),
        cancelled,
    );
    (backend, Server(server_runtime, server))
}

/// Runs an async cluster call against a mock serving `calls`, then checks the script finished.
fn on_cluster<T>(calls: Vec<Call>, f: impl AsyncFnOnce(&Cluster) -> T) -> T {
    let runtime = runtime().unwrap();
    let (client, server) = serve(&runtime, calls);
    let mut cluster = Cluster::new(client, NS, "http://mock");
    cluster.poll = Duration::from_millis(1);
    let out = runtime.block_on(f(&cluster));
    drop(cluster);
    runtime.block_on(server).unwrap();
    out
}

/// Drops the backend (which tears down what is live) and checks the script was played out.
fn finish(backend: K8sBackend, server: Server) {
    drop(backend);
    server
        .0
        .block_on(server.1)
        .expect("the mock server saw the scripted calls");
}

/// The calls of an apply of a graph named `name` whose labels and GPU limits are right.
fn apply_graph(name: &str) -> Call {
    let owned = name.to_string();
    Call::new("PATCH", dynamo("dynamographdeployments", name))
        .query("fieldManager=profcmp")
        .query("force=true")
        .body(move |body| {
            assert_eq!(body["metadata"]["name"], owned.as_str());
            assert_eq!(body["metadata"]["labels"][LABEL_RUN], "r1");
            assert_eq!(body["metadata"]["labels"][LABEL_METHOD], "aic_all");
            let services = body["spec"]["services"].as_object().unwrap();
            let gpus = |role: &str| {
                let service = services.values().find(|s| s["subComponentType"] == role).unwrap();
                service["resources"]["limits"]["gpu"].clone()
            };
            assert_eq!((gpus("prefill"), gpus("decode")), (json!("1"), json!("2")));
        })
        .reply(200, graph(name, false))
}

fn delete(plural: &str, name: &str) -> Call {
    Call::new("DELETE", dynamo(plural, name))
        .body(|body| assert_eq!(body["propagationPolicy"], "Foreground"))
        .reply(
            200,
            json!({ "kind": "Status", "apiVersion": "v1", "status": "Success" }),
        )
}

fn gone(path: String) -> Call {
    Call::new("GET", path).fail(404, "NotFound", "not found")
}

fn ready(name: &str) -> Call {
    Call::new("GET", dynamo("dynamographdeployments", name)).reply(200, graph(name, true))
}

fn not_ready(name: &str) -> Call {
    Call::new("GET", dynamo("dynamographdeployments", name)).reply(200, graph(name, false))
}

#[test]
fn deploy_applies_waits_until_ready_and_teardown_waits_until_gone() {
    let mut settings = settings("r1");
    settings.name_prefix = "pc-a".into();
    let (mut backend, server) = backend(
        settings,
        vec![
            apply_graph("pc-a-1"),
            not_ready("pc-a-1"),
            ready("pc-a-1"),
            delete("dynamographdeployments", "pc-a-1"),
            not_ready("pc-a-1"),
            gone(dynamo("dynamographdeployments", "pc-a-1")),
        ],
    );
    let deployment = backend.deploy(&GRAPH).unwrap();
    assert_eq!(deployment.id, "pc-a-1");
    assert_eq!((deployment.kv_capacity_tokens, deployment.max_batch), (20_000, 64));
    backend.teardown(&deployment).unwrap();
    assert!(matches!(
        backend.teardown(&deployment),
        Err(crate::backend::BackendError::UnknownDeployment(_))
    ));
    finish(backend, server);
}

#[test]
fn deploy_timeout_reports_pods_and_events_then_tears_down() {
    let mut settings = settings("r1");
    settings.name_prefix = "pc-b".into();
    settings.ready_timeout = Duration::ZERO;
    let pods = list(
        "Pod",
        vec![
            json!({ "metadata": { "name": "pc-b-1-trtllmdecodeworker-0" }, "status": { "phase": "Pending",
                "conditions": [{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                 "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu." }] } }),
            json!({ "metadata": { "name": "other-pod" }, "status": { "phase": "Running" } }),
        ],
    );
    let events = list(
        "Event",
        vec![json!({ "metadata": { "name": "e1" }, "reason": "FailedScheduling",
            "involvedObject": { "kind": "Pod", "name": "pc-b-1-trtllmdecodeworker-0" },
            "message": "0/2 nodes are available" })],
    );
    let (mut backend, server) = backend(
        settings,
        vec![
            apply_graph("pc-b-1"),
            not_ready("pc-b-1"),
            Call::new("GET", core("pods", "")).reply(200, pods),
            Call::new("GET", core("events", "")).reply(200, events),
            delete("dynamographdeployments", "pc-b-1"),
            gone(dynamo("dynamographdeployments", "pc-b-1")),
        ],
    );
    let err = backend.deploy(&GRAPH).unwrap_err().to_string();
    assert!(err.contains("not done after 0 s"), "{err}");
    assert!(
        err.contains("pod pc-b-1-trtllmdecodeworker-0: Pending (Unschedulable: 0/2 nodes"),
        "{err}"
    );
    assert!(!err.contains("other-pod"), "{err}");
    assert!(
        err.contains("event FailedScheduling pod/pc-b-1-trtllmdecodeworker-0"),
        "{err}"
    );
    assert!(err.ends_with("; torn down"), "{err}");
    finish(backend, server);
}

#[test]
fn dropping_the_backend_tears_down_what_is_live() {
    let mut settings = settings("r1");
    settings.name_prefix = "pc-c".into();
    let (mut backend, server) = backend(
        settings,
        vec![
            apply_graph("pc-c-1"),
            ready("pc-c-1"),
            delete("dynamographdeployments", "pc-c-1"),
            gone(dynamo("dynamographdeployments", "pc-c-1")),
        ],
    );
    backend.deploy(&GRAPH).unwrap();
    finish(backend, server);
}

#[test]
fn ctrl_c_while_waiting_for_ready_tears_down() {
    let mut settings = settings("r1");
    settings.name_prefix = "pc-f".into();
    let cancelled = Arc::new(AtomicBool::new(false));
    let press = cancelled.clone();
    let (mut backend, server) = backend_cancelled_by(
        settings,
        vec![
            Call::new("PATCH", dynamo("dynamographdeployments", "pc-f-1"))
                .body(move |_| press.store(true, std::sync::atomic::Ordering::SeqCst))
                .reply(200, graph("pc-f-1", false)),
            not_ready("pc-f-1"),
            delete("dynamographdeployments", "pc-f-1"),
            gone(dynamo("dynamographdeployments", "pc-f-1")),
        ],
        cancelled,
    );
    let err = backend.deploy(&GRAPH).unwrap_err().to_string();
    assert!(err.ends_with("cancelled; torn down"), "{err}");
    assert!(
        backend.deploy(&GRAPH).unwrap_err().to_string().contains("cancelled"),
        "no call once cancelled"
    );
    finish(backend, server);
}

#[test]
fn a_planned_graph_is_its_config_map_and_graph_and_both_go() {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/dynamo-2026-01/aic_all/config_with_planner.yaml"
    ))
    .unwrap();
    let mut settings = settings("r1");
    settings.name_prefix = "pc-d".into();
    settings.planned = Some(yaml);
    let (mut backend, server) = backend(
        settings,
        vec![
            Call::new("PATCH", core("configmaps", "pc-d-1-profile"))
                .query("fieldManager=profcmp")
                .body(|b| {
                    assert_eq!(b["metadata"]["labels"][LABEL_RUN], "r1");
                    assert!(b["data"]["prefill_raw_data.json"].is_string());
                })
                .reply(
                    200,
                    json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "pc-d-1-profile" } }),
                ),
            Call::new("PATCH", dynamo("dynamographdeployments", "pc-d-1"))
                .body(|b| assert_eq!(b["spec"]["services"]["Planner"]["componentType"], "planner"))
                .reply(200, graph("pc-d-1", false)),
            ready("pc-d-1"),
            delete("dynamographdeployments", "pc-d-1"),
            Call::new("DELETE", core("configmaps", "pc-d-1-profile"))
                .reply(200, json!({ "kind": "Status", "status": "Success" })),
            gone(dynamo("dynamographdeployments", "pc-d-1")),
            gone(core("configmaps", "pc-d-1-profile")),
        ],
    );
    let deployment = backend.deploy(&GRAPH).unwrap();
    backend.teardown(&deployment).unwrap();
    finish(backend, server);
}

#[test]
fn a_refused_apply_is_one_clear_line_and_nothing_is_left() {
    let mut settings = settings("r1");
    settings.name_prefix = "pc-e".into();
    let (mut backend, server) = backend(
        settings,
        vec![
            Call::new("PATCH", dynamo("dynamographdeployments", "pc-e-1")).fail(
                403,
                "Forbidden",
                "dynamographdeployments.nvidia.com \"pc-e-1\" is forbidden: User \"u\" cannot patch resource",
            ),
            delete("dynamographdeployments", "pc-e-1"),
            gone(dynamo("dynamographdeployments", "pc-e-1")),
        ],
    );
    let err = backend.deploy(&GRAPH).unwrap_err().to_string();
    assert!(
        err.contains("no permission to patch dynamographdeployments in namespace ns: ask for a Role"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    finish(backend, server);
}

#[test]
fn cleanup_deletes_everything_with_the_run_label_and_waits() {
    let selector = "labelSelector=profcmp.dev%2Frun-id%3Dr9";
    let named = |kind: &str, name: &str| json!({ "metadata": { "name": name }, "kind": kind });
    let calls = vec![
        Call::new("GET", "/apis/nvidia.com").reply(200, mock::group(&["v1alpha1"], "v1alpha1")),
        Call::new(
            "GET",
            dynamo("dynamographdeploymentrequests", "")
                .trim_end_matches('/')
                .to_string(),
        )
        .query(selector)
        .reply(200, list("DynamoGraphDeploymentRequest", vec![])),
        Call::new(
            "GET",
            dynamo("dynamographdeployments", "").trim_end_matches('/').to_string(),
        )
        .query(selector)
        .reply(
            200,
            list(
                "DynamoGraphDeployment",
                vec![named("DynamoGraphDeployment", "pc-r9-1-1")],
            ),
        ),
        delete("dynamographdeployments", "pc-r9-1-1"),
        gone(dynamo("dynamographdeployments", "pc-r9-1-1")),
        Call::new("GET", core("configmaps", ""))
            .query(selector)
            .reply(200, list("ConfigMap", vec![named("ConfigMap", "pc-r9-1-1-profile")])),
        Call::new("DELETE", core("configmaps", "pc-r9-1-1-profile")).reply(200, json!({ "kind": "Status" })),
        gone(core("configmaps", "pc-r9-1-1-profile")),
    ];
    let removed = on_cluster(calls, async |c| c.cleanup("r9", Some(Duration::from_secs(5))).await).unwrap();
    assert_eq!(
        removed,
        ["dynamographdeployments/pc-r9-1-1", "configmaps/pc-r9-1-1-profile"]
    );
}

#[test]
fn cleanup_skips_crds_that_are_not_installed() {
    let calls = vec![
        Call::new("GET", "/apis/nvidia.com").fail(404, "NotFound", "the server could not find the requested resource"),
        Call::new("GET", core("configmaps", "")).reply(200, list("ConfigMap", vec![])),
    ];
    let removed = on_cluster(calls, async |c| c.cleanup("r9", Some(Duration::from_secs(5))).await).unwrap();
    assert!(removed.is_empty());
}

#[test]
fn cleanup_lists_in_the_version_the_cluster_serves() {
    let selector = "labelSelector=profcmp.dev%2Frun-id%3Dr9";
    let beta = |plural: &str| dynamo_at("v1beta1", plural, "").trim_end_matches('/').to_string();
    let calls = vec![
        Call::new("GET", "/apis/nvidia.com").reply(200, mock::group(&["v1beta1"], "v1beta1")),
        Call::new("GET", beta("dynamographdeploymentrequests"))
            .query(selector)
            .reply(200, list("DynamoGraphDeploymentRequest", vec![])),
        Call::new("GET", beta("dynamographdeployments")).query(selector).reply(
            200,
            list(
                "DynamoGraphDeployment",
                vec![json!({ "metadata": { "name": "pc-r9-1-1" } })],
            ),
        ),
        Call::new("DELETE", dynamo_at("v1beta1", "dynamographdeployments", "pc-r9-1-1"))
            .reply(200, json!({ "kind": "Status", "status": "Success" })),
        Call::new("GET", core("configmaps", ""))
            .query(selector)
            .reply(200, list("ConfigMap", vec![])),
    ];
    let removed = on_cluster(calls, async |c| c.cleanup("r9", None).await).unwrap();
    assert_eq!(removed, ["dynamographdeployments/pc-r9-1-1"]);
}

#[test]
fn preflight_names_a_missing_operator_namespace_or_permission() {
    let missing_crd = vec![
        mock::namespace(),
        Call::new("GET", "/apis/nvidia.com").fail(404, "NotFound", "the server could not find the requested resource"),
    ];
    let err = on_cluster(missing_crd, async |c| c.preflight(&[Kind::Graph]).await).unwrap_err();
    assert!(matches!(err, K8sError::MissingCrd { .. }), "{err}");
    assert!(err.to_string().contains("install NVIDIA Dynamo's operator"), "{err}");

    let no_ns =
        vec![Call::new("GET", format!("/api/v1/namespaces/{NS}")).fail(404, "NotFound", "namespaces \"ns\" not found")];
    let err = on_cluster(no_ns, async |c| c.preflight(&[Kind::Graph]).await).unwrap_err();
    assert_eq!(
        err.to_string(),
        "namespace ns does not exist: create it (`kubectl create namespace ns`) or pass --namespace"
    );

    let only_graphs = vec![
        Call::new("GET", format!("/api/v1/namespaces/{NS}")).fail(403, "Forbidden", "cannot get namespaces"),
        Call::new("GET", "/apis/nvidia.com").reply(200, mock::group(&["v1alpha1"], "v1alpha1")),
        Call::new("GET", "/apis/nvidia.com/v1alpha1").reply(
            200,
            json!({ "kind": "APIResourceList", "groupVersion": "nvidia.com/v1alpha1",
                    "resources": [{ "name": "dynamographdeployments", "namespaced": true, "kind": "DynamoGraphDeployment", "verbs": [], "singularName": "" }] }),
        ),
    ];
    let err = on_cluster(only_graphs, async |c| c.preflight(&[Kind::Request]).await).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the cluster has no DynamoGraphDeploymentRequest resource"),
        "{err}"
    );

    let forbidden = vec![
        mock::namespace(),
        Call::new("GET", "/apis/nvidia.com").fail(403, "Forbidden", "forbidden"),
    ];
    let err = on_cluster(forbidden, async |c| c.preflight(&[Kind::Graph]).await).unwrap_err();
    assert!(matches!(err, K8sError::Forbidden { .. }), "{err}");

    let unknown = vec![
        mock::namespace(),
        Call::new("GET", "/apis/nvidia.com").reply(200, mock::group(&["v2"], "v2")),
    ];
    let err = on_cluster(unknown, async |c| c.preflight(&[Kind::Graph]).await).unwrap_err();
    assert!(
        err.to_string()
            .contains("serves nvidia.com versions v2 and profcmp speaks v1beta1 and v1alpha1"),
        "{err}"
    );
}

#[test]
fn preflight_speaks_the_preferred_version_it_knows() {
    for (served, preferred, spoken) in [
        (&["v1alpha1"][..], "v1alpha1", "v1alpha1"),
        (&["v1alpha1", "v1beta1"][..], "v1beta1", "v1beta1"),
        (&["v1beta1"][..], "v1beta1", "v1beta1"),
    ] {
        let calls = mock::preflight_serving(served, preferred);
        let version = on_cluster(calls, async |c| {
            c.preflight(&[Kind::Graph]).await.unwrap();
            c.dynamo_version()
        });
        assert_eq!(version, spoken, "{served:?}");
    }
    // A cluster that prefers a version profcmp does not speak gets one it does.
    let calls = vec![
        mock::namespace(),
        Call::new("GET", "/apis/nvidia.com").reply(200, mock::group(&["v1alpha1", "v1"], "v1")),
        Call::new("GET", "/apis/nvidia.com/v1alpha1").reply(200, mock::dynamo_resources_at("v1alpha1")),
    ];
    let version = on_cluster(calls, async |c| {
        c.preflight(&[Kind::Graph]).await.unwrap();
        c.dynamo_version()
    });
    assert_eq!(version, "v1alpha1");
}

/// A backend whose cluster went through preflight (serving `served`, preferring `preferred`)
/// before the calls of the test.
fn backend_after_preflight(
    settings: K8sSettings,
    served: &[&str],
    preferred: &str,
    calls: Vec<Call>,
) -> (K8sBackend, Server) {
    let server_runtime = runtime().unwrap();
    let mut script = mock::preflight_serving(served, preferred);
    script.extend(calls);
    let (client, server) = serve(&server_runtime, script);
    let cluster = Cluster::new(client, NS, "http://mock");
    let backend_runtime = runtime().unwrap();
    backend_runtime.block_on(cluster.preflight(&[Kind::Graph])).unwrap();
    let limits: super::backend::WorkerLimits = Arc::new(|tp| Ok((10_000 * u64::from(tp), 64)));
    let backend = K8sBackend::new(
        backend_runtime,
        cluster,
        settings,
        limits,
        Arc::new(NoLoad),
        Arc::new(AtomicBool::new(false)),
    );
    (backend, Server(server_runtime, server))
}

#[test]
fn on_the_newest_dynamo_graphs_go_as_v1beta1_and_on_07_as_v1alpha1() {
    let beta = |name: &str| dynamo_at("v1beta1", "dynamographdeployments", name);
    let mut settings = settings("r1");
    settings.name_prefix = "pc-v".into();
    let ready_beta = || {
        let mut g = graph("pc-v-1", true);
        g["apiVersion"] = json!("nvidia.com/v1beta1");
        g
    };
    let (mut backend, server) = backend_after_preflight(
        settings.clone(),
        &["v1alpha1", "v1beta1"],
        "v1beta1",
        vec![
            Call::new("PATCH", beta("pc-v-1"))
                .query("fieldManager=profcmp")
                .body(|b| {
                    assert_eq!(b["apiVersion"], "nvidia.com/v1beta1");
                    assert!(b["spec"].get("services").is_none(), "{b}");
                    let components = b["spec"]["components"].as_array().unwrap();
                    let decode = components.iter().find(|c| c["type"] == "decode").unwrap();
                    let main = &decode["podTemplate"]["spec"]["containers"][0];
                    assert_eq!(main["resources"]["limits"]["nvidia.com/gpu"], "2");
                    assert_eq!(b["metadata"]["labels"][LABEL_RUN], "r1");
                })
                .reply(200, ready_beta()),
            Call::new("GET", beta("pc-v-1")).reply(200, ready_beta()),
            Call::new("DELETE", beta("pc-v-1")).reply(200, json!({ "kind": "Status", "status": "Success" })),
            gone(beta("pc-v-1")),
        ],
    );
    let deployment = backend.deploy(&GRAPH).unwrap();
    backend.teardown(&deployment).unwrap();
    finish(backend, server);

    // The same request on a cluster that serves only v1alpha1 (Dynamo 0.7).
    let (mut backend, server) = backend_after_preflight(
        settings,
        &["v1alpha1"],
        "v1alpha1",
        vec![
            apply_graph("pc-v-1"),
            ready("pc-v-1"),
            delete("dynamographdeployments", "pc-v-1"),
            gone(dynamo("dynamographdeployments", "pc-v-1")),
        ],
    );
    let deployment = backend.deploy(&GRAPH).unwrap();
    backend.teardown(&deployment).unwrap();
    finish(backend, server);
}

#[test]
fn a_name_over_a_limit_is_refused_before_any_call() {
    let mut settings = settings("r1");
    settings.name_prefix = "a-name-long-enough-to-break-groves-limit".into();
    // No call at all: the mock fails on any.
    let (mut backend, server) = backend(settings, vec![]);
    let err = backend.deploy(&GRAPH).unwrap_err().to_string();
    assert!(err.contains("Grove allows 45 (graph name + component name)"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    finish(backend, server);
}

#[test]
fn apply_without_the_crd_says_to_install_the_operator() {
    let calls = vec![Call::new("PATCH", dynamo("dynamographdeployments", "g")).fail(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )];
    let object =
        json!({ "apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment", "metadata": { "name": "g" } });
    let err = on_cluster(calls, async |c| c.apply(&object).await).unwrap_err();
    assert!(matches!(err, K8sError::MissingCrd { .. }), "{err}");
}

#[test]
fn reads_a_config_map_and_reports_a_missing_one() {
    let calls = vec![
        Call::new("GET", core("configmaps", "dgdr-output-x")).reply(
            200,
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "dgdr-output-x" },
                    "data": { "config_with_planner.yaml": "a: 1\n" } }),
        ),
        gone(core("configmaps", "dgdr-output-y")),
    ];
    let (found, missing) = on_cluster(calls, async |c| {
        (c.config_map("dgdr-output-x").await, c.config_map("dgdr-output-y").await)
    });
    assert_eq!(found.unwrap()["config_with_planner.yaml"], "a: 1\n");
    assert_eq!(
        missing.unwrap_err().to_string(),
        "configmaps dgdr-output-y not found in namespace ns"
    );
}

#[test]
fn streams_a_pod_log_line_by_line() {
    let calls = vec![Call::new("GET", core("pods", "p/log"))
        .query("follow=true")
        .query("container=profiler")
        .text("line one\nline two\n")];
    let mut out = Vec::new();
    let n = on_cluster(calls, async |c| c.stream_logs("p", Some("profiler"), &mut out).await).unwrap();
    assert_eq!(n, 2);
    assert_eq!(String::from_utf8(out).unwrap(), "line one\nline two\n");
}

#[test]
fn an_unreachable_server_says_where_and_what_to_check() {
    let runtime = runtime().unwrap();
    let _guard = runtime.enter();
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let cluster = Cluster::new(client, NS, "http://127.0.0.1:9");
    let err = runtime
        .block_on(cluster.preflight(&[Kind::Graph]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot reach the Kubernetes API server at http://127.0.0.1:9"),
        "{err}"
    );
    assert!(err.contains("kubectl cluster-info"), "{err}");
}

/// The DGDR of NVIDIA's AIC comparison, as the API server returns it at a state.
fn request_at(state: &str) -> Value {
    let mut request = super::dgdr::read_request(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/dynamo-2026-01/configs/aic_profiling_dgdr.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    request["status"] = json!({ "state": state });
    request
}

#[test]
fn dgdr_applies_streams_the_job_log_reads_the_output_and_deletes_the_request() {
    let output = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/dynamo-2026-01/aic_all/config_with_planner.yaml"
    ))
    .unwrap();
    let name = "qwen3-32b-aic";
    let request_path = dynamo("dynamographdeploymentrequests", name);
    let job_pod = json!({ "metadata": { "name": "profile-qwen3-32b-aic-abcde" },
        "spec": { "containers": [{ "name": "profiler" }, { "name": "output-copier" }] },
        "status": { "phase": "Running" } });
    let mut calls = mock::preflight();
    calls.extend([
        Call::new("PATCH", request_path.clone())
            .query("fieldManager=profcmp")
            .body(|b| {
                assert_eq!(b["metadata"]["labels"][LABEL_RUN], "r2");
                assert_eq!(b["metadata"]["labels"][LABEL_METHOD], "dynamo_aic");
                assert_eq!(b["spec"]["model"], "Qwen/Qwen3-32B");
            })
            .reply(200, request_at("Pending")),
        Call::new("GET", request_path.clone()).reply(200, request_at("Profiling")),
        Call::new("GET", core("pods", ""))
            .query("labelSelector=job-name%3Dprofile-qwen3-32b-aic")
            .reply(200, list("Pod", vec![])),
        Call::new("GET", request_path.clone()).reply(200, request_at("Profiling")),
        Call::new("GET", core("pods", "")).reply(200, list("Pod", vec![job_pod])),
        Call::new("GET", core("pods", "profile-qwen3-32b-aic-abcde/log"))
            .query("container=profiler")
            .text("profiling...\nselected prefill TP1, decode TP2\n"),
        Call::new("GET", request_path.clone()).reply(200, request_at("Ready")),
        Call::new("GET", core("configmaps", "dgdr-output-qwen3-32b-aic")).reply(
            200,
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "dgdr-output-qwen3-32b-aic" },
                    "data": { "config_with_planner.yaml": output } }),
        ),
        Call::new("GET", "/apis/batch/v1/namespaces/ns/jobs/profile-qwen3-32b-aic").reply(
            200,
            json!({ "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": "profile-qwen3-32b-aic" },
                    "status": { "startTime": "2026-01-15T10:00:00Z", "completionTime": "2026-01-15T10:00:31Z" } }),
        ),
        delete("dynamographdeploymentrequests", name),
        gone(request_path),
    ]);
    let results =
        crate::layout::ResultsDir::new(std::env::temp_dir().join(format!("profcmp-dgdr-{}", std::process::id())));
    let settings = super::dgdr::DgdrSettings {
        method: "dynamo_aic".into(),
        run_id: "r2".into(),
        timeout: Duration::from_secs(10),
        delete_timeout: Duration::from_secs(10),
    };
    let request = request_at("");
    let outcome = on_cluster(calls, async |c| {
        super::dgdr::run(c, &request, &settings, &results, &|| false).await
    })
    .unwrap();
    assert_eq!((outcome.state.as_str(), outcome.log_lines), ("Ready", 2));
    let log = std::fs::read_to_string(results.method("dynamo_aic").join("profile_sla.log")).unwrap();
    assert!(log.contains("selected prefill TP1"), "{log}");
    assert_eq!(
        std::fs::read_to_string(results.config_with_planner("dynamo_aic")).unwrap(),
        output
    );
    let record: crate::layout::ProfileRecord = crate::layout::read_json(&results.profile_json("dynamo_aic")).unwrap();
    let result = record.result.unwrap();
    assert_eq!((result.prefill.tp, result.decode.tp), (1, 2));
    assert_eq!(record.ledger.duration_s, 31.0);
    assert_eq!((record.ledger.deployments, record.ledger.gpu_hours), (0, 0.0));
    assert!(result.notes[0].contains("no deployments"), "{:?}", result.notes);
    let _ = std::fs::remove_dir_all(&results.root);
}

#[test]
fn a_failed_dgdr_is_an_error_with_its_message_and_is_deleted() {
    let name = "qwen3-32b-aic";
    let request_path = dynamo("dynamographdeploymentrequests", name);
    let mut failed = request_at("Failed");
    failed["status"]["conditions"] =
        json!([{ "type": "Ready", "status": "False", "message": "profiling job failed: OOM" }]);
    let mut calls = mock::preflight();
    calls.extend([
        Call::new("PATCH", request_path.clone()).reply(200, request_at("Pending")),
        Call::new("GET", request_path.clone()).reply(200, failed),
        delete("dynamographdeploymentrequests", name),
        gone(request_path),
    ]);
    let results =
        crate::layout::ResultsDir::new(std::env::temp_dir().join(format!("profcmp-dgdr-f-{}", std::process::id())));
    let settings = super::dgdr::DgdrSettings {
        method: "dynamo_aic".into(),
        run_id: "r2".into(),
        timeout: Duration::from_secs(10),
        delete_timeout: Duration::from_secs(10),
    };
    let request = request_at("");
    let err = on_cluster(calls, async |c| {
        super::dgdr::run(c, &request, &settings, &results, &|| false).await
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "dynamographdeploymentrequest qwen3-32b-aic failed: profiling job failed: OOM"
    );
    let _ = std::fs::remove_dir_all(&results.root);
}
