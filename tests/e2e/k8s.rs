//! `profcmp k8s ...` and `--cluster k8s` against a small stub API server on 127.0.0.1, and the
//! one-line errors of a missing kubeconfig, an unreachable cluster, a missing CRD and RBAC.
//!
//! Tests against a real cluster are `#[ignore]`d and run with `PROFCMP_K8S_TEST=1` (see README).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::util::{profcmp_bin, temp_dir, text, workspace};

/// What the stub knows: objects by path, every request seen, and its switches.
#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    requests: Vec<String>,
    /// GETs of a DGDR answer `Profiling` this many times before `Ready`.
    profiling_polls: u32,
    /// Answer 403 to every write.
    forbid_writes: bool,
    /// Serve no nvidia.com group (operator not installed).
    no_dynamo: bool,
}

/// A stub API server: a thread answering HTTP/1.1 on 127.0.0.1 with keep-alive.
struct Stub {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Stub {
    fn start(state: State) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve_connection(stream, &state));
            }
        });
        Stub { port, state }
    }

    /// A kubeconfig pointing at the stub, namespace `ns`.
    fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: stub\n\
             clusters:\n- name: stub\n  cluster:\n    server: http://127.0.0.1:{}\n\
             users:\n- name: stub\n  user:\n    token: stub-token\n\
             contexts:\n- name: stub\n  context:\n    cluster: stub\n    user: stub\n    namespace: ns\n",
            self.port
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    fn insert(&self, path: &str, object: Value) {
        self.state.lock().unwrap().objects.insert(path.to_string(), object);
    }
}

fn serve_connection(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let (status, content_type, reply) = answer(state, &method, &target, &body);
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&reply))
            .is_err()
        {
            return;
        }
    }
}

fn status(code: u16, reason: &str, message: &str) -> (u16, &'static str, Vec<u8>) {
    let body = json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                       "reason": reason, "code": code });
    (code, "application/json", body.to_string().into_bytes())
}

fn ok(body: Value) -> (u16, &'static str, Vec<u8>) {
    (200, "application/json", body.to_string().into_bytes())
}

/// The API server's answer: discovery, namespaces, server-side apply, get, list by label,
/// delete and pod logs, over an in-memory store.
fn answer(state: &Mutex<State>, method: &str, target: &str, body: &[u8]) -> (u16, &'static str, Vec<u8>) {
    let mut state = state.lock().unwrap();
    state.requests.push(format!("{method} {target}"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query.replace("%2F", "/").replace("%3D", "=");
    if path == "/api/v1/namespaces/ns" {
        return ok(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "ns" } }));
    }
    if path == "/apis/nvidia.com/v1alpha1" {
        if state.no_dynamo {
            return status(404, "NotFound", "the server could not find the requested resource");
        }
        let resource = |name: &str, kind: &str| json!({ "name": name, "singularName": "", "namespaced": true, "kind": kind, "verbs": [] });
        return ok(
            json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "nvidia.com/v1alpha1",
            "resources": [resource("dynamographdeployments", "DynamoGraphDeployment"),
                          resource("dynamographdeploymentrequests", "DynamoGraphDeploymentRequest")] }),
        );
    }
    if path.starts_with("/apis/nvidia.com/") && state.no_dynamo {
        return status(404, "NotFound", "the server could not find the requested resource");
    }
    if path.ends_with("/log") {
        return (
            200,
            "text/plain",
            b"profiler: sweeping prefill\nprofiler: done\n".to_vec(),
        );
    }
    match method {
        "PATCH" => {
            if state.forbid_writes {
                return status(403, "Forbidden", "forbidden");
            }
            let mut object: Value = serde_json::from_slice(body).unwrap();
            match object["kind"].as_str() {
                Some("DynamoGraphDeployment") => {
                    object["status"] = json!({ "conditions": [{ "type": "Ready", "status": "True" }] })
                }
                Some("DynamoGraphDeploymentRequest") => object["status"] = json!({ "state": "Pending" }),
                _ => {}
            }
            state.objects.insert(path.to_string(), object.clone());
            ok(object)
        }
        "DELETE" => {
            if state.forbid_writes {
                return status(403, "Forbidden", "forbidden");
            }
            match state.objects.remove(path) {
                Some(_) => ok(json!({ "kind": "Status", "apiVersion": "v1", "status": "Success" })),
                None => status(404, "NotFound", "not found"),
            }
        }
        "GET" => {
            if path.contains("/dynamographdeploymentrequests/") && state.objects.contains_key(path) {
                let done = state.profiling_polls == 0;
                state.profiling_polls = state.profiling_polls.saturating_sub(1);
                let object = state.objects.get_mut(path).unwrap();
                object["status"]["state"] = json!(if done { "Ready" } else { "Profiling" });
                return ok(object.clone());
            }
            if let Some(object) = state.objects.get(path) {
                return ok(object.clone());
            }
            // A list: objects under this collection, filtered by `labelSelector=k=v`.
            let selector = query
                .split('&')
                .find_map(|p| p.strip_prefix("labelSelector="))
                .and_then(|s| s.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()));
            let prefix = format!("{path}/");
            let is_collection = path.ends_with('s') && !path.ends_with("/ns");
            if is_collection {
                let items: Vec<Value> = (state.objects.iter())
                    .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
                    .map(|(_, o)| o.clone())
                    .filter(|o| {
                        selector
                            .as_ref()
                            .is_none_or(|(k, v)| o["metadata"]["labels"][k.as_str()] == v.as_str())
                    })
                    .collect();
                return ok(json!({ "apiVersion": "v1", "kind": "List", "metadata": {}, "items": items }));
            }
            status(404, "NotFound", "not found")
        }
        _ => status(405, "MethodNotAllowed", "method not allowed"),
    }
}

/// Runs profcmp with a kubeconfig and a home of its own.
fn run(args: &[&str], kubeconfig: &Path, home: &Path) -> Output {
    Command::new(profcmp_bin())
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env("PROFCMP_HOME", home)
        .env_remove("PROFCMP_PLUGIN_PATH")
        .output()
        .expect("profcmp runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The DGDR path and the seeded objects of Dynamo's profiler for request `name`.
fn seed_profiler_output(stub: &Stub, name: &str) {
    let output =
        std::fs::read_to_string(workspace().join("tests/fixtures/dynamo-2026-01/aic_all/config_with_planner.yaml"))
            .unwrap();
    stub.insert(
        &format!("/api/v1/namespaces/ns/configmaps/dgdr-output-{name}"),
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": format!("dgdr-output-{name}") },
                "data": { "config_with_planner.yaml": output } }),
    );
    stub.insert(
        &format!("/apis/batch/v1/namespaces/ns/jobs/profile-{name}"),
        json!({ "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": format!("profile-{name}") },
                "status": { "startTime": "2026-01-15T10:00:00Z", "completionTime": "2026-01-15T10:00:42Z" } }),
    );
    stub.insert(
        &format!("/api/v1/namespaces/ns/pods/profile-{name}-x1"),
        json!({ "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": format!("profile-{name}-x1"), "labels": { "job-name": format!("profile-{name}") } },
                "spec": { "containers": [{ "name": "profiler" }] }, "status": { "phase": "Running" } }),
    );
}

#[test]
fn dgdr_records_dynamos_profiler_as_a_method() {
    let dir = temp_dir("k8s-dgdr");
    let stub = Stub::start(State {
        profiling_polls: 1,
        ..State::default()
    });
    seed_profiler_output(&stub, "qwen3-32b-aic");
    let kubeconfig = stub.kubeconfig(&dir);
    let file = workspace().join("tests/fixtures/dynamo-2026-01/configs/aic_profiling_dgdr.yaml");
    let results = dir.join("results");
    let output = run(
        &[
            "k8s",
            "dgdr",
            "--file",
            file.to_str().unwrap(),
            "--method",
            "dynamo_aic",
            "--results",
            results.to_str().unwrap(),
        ],
        &kubeconfig,
        &dir,
    );
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("dgdr dynamo_aic: Ready, prefill TP1 / decode TP2; 42 s, 0 deployments"),
        "{}",
        text(&output)
    );
    let log = std::fs::read_to_string(results.join("dynamo_aic/profile_sla.log")).unwrap();
    assert_eq!(log, "profiler: sweeping prefill\nprofiler: done\n");
    assert!(results.join("dynamo_aic/config_with_planner.yaml").exists());
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("dynamo_aic/profile.json")).unwrap()).unwrap();
    assert_eq!(record["ledger"]["duration_s"], 42.0);
    assert_eq!(record["result"]["decode"]["tp"], 2);
    let requests = stub.requests();
    let path = "/apis/nvidia.com/v1alpha1/namespaces/ns/dynamographdeploymentrequests/qwen3-32b-aic";
    assert!(
        requests.iter().any(|r| r.starts_with(&format!("PATCH {path}?"))),
        "{requests:#?}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with(&format!("DELETE {path}"))),
        "{requests:#?}"
    );
    assert!(
        !stub.state.lock().unwrap().objects.contains_key(path),
        "the request is deleted"
    );
    // The compare stage takes it like a plugin's results.
    let output = run(&["compare", "--results", results.to_str().unwrap()], &kubeconfig, &dir);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("dynamo_aic"),
        "{}",
        text(&output)
    );
}

#[test]
fn cleanup_removes_every_object_of_a_run_and_nothing_else() {
    let dir = temp_dir("k8s-cleanup");
    let stub = Stub::start(State::default());
    let graph = |name: &str, run: &str| {
        json!({ "apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
                "metadata": { "name": name, "labels": { "profcmp.dev/run-id": run } } })
    };
    let graphs = "/apis/nvidia.com/v1alpha1/namespaces/ns/dynamographdeployments";
    stub.insert(&format!("{graphs}/pc-r1-1-1"), graph("pc-r1-1-1", "r1"));
    stub.insert(&format!("{graphs}/pc-r2-1-1"), graph("pc-r2-1-1", "r2"));
    stub.insert(
        "/api/v1/namespaces/ns/configmaps/pc-r1-1-1-profile",
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "pc-r1-1-1-profile", "labels": { "profcmp.dev/run-id": "r1" } } }),
    );
    let output = run(&["k8s", "cleanup", "--run", "r1"], &stub.kubeconfig(&dir), &dir);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("deleted dynamographdeployments/pc-r1-1-1"), "{stdout}");
    assert!(stdout.contains("deleted configmaps/pc-r1-1-1-profile"), "{stdout}");
    let objects: Vec<String> = stub.state.lock().unwrap().objects.keys().cloned().collect();
    assert_eq!(objects, [format!("{graphs}/pc-r2-1-1")]);
}

#[test]
fn a_k8s_run_labels_meters_and_tears_down_even_when_a_method_fails() {
    let dir = temp_dir("k8s-profile");
    let stub = Stub::start(State::default());
    let results = dir.join("results");
    // online_all deploys (the stub makes it Ready at once), then measuring fails: the stub has no
    // frontend Service. Its deployment must still be deleted and metered.
    let output = run(
        &[
            "profile",
            "--cluster",
            "k8s",
            "--namespace",
            "ns",
            "--method",
            "minimal",
            "--method",
            "online_all",
            "--plugin-dir",
            crate::util::fixture_plugins().to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--no-progress",
        ],
        &stub.kubeconfig(&dir),
        &dir,
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(err.contains("k8s: run "), "{err}");
    assert!(err.contains("profile minimal: 0 deployments"), "{err}");
    assert!(
        err.contains("profile online_all: FAILED") && err.contains("measurement failed"),
        "{err}"
    );
    assert!(results.join("minimal/profile.json").exists());
    let requests = stub.requests();
    let graphs = "/apis/nvidia.com/v1alpha1/namespaces/ns/dynamographdeployments/";
    let applied: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with(&format!("PATCH {graphs}")))
        .collect();
    assert_eq!(applied.len(), 1, "{requests:#?}");
    assert!(
        requests.iter().any(|r| r.starts_with(&format!("DELETE {graphs}"))),
        "{requests:#?}"
    );
    assert!(stub.state.lock().unwrap().objects.is_empty(), "nothing is left");
    // The final sweep lists the run's objects by label.
    assert!(
        requests
            .iter()
            .any(|r| r.contains("dynamographdeployments?") && r.contains("labelSelector=profcmp.dev%2Frun-id")),
        "{requests:#?}"
    );
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("online_all/profile.json")).unwrap()).unwrap();
    assert_eq!(record["ledger"]["deployments"], 1, "{record:#}");
    assert!(record["ledger"]["gpu_hours"].as_f64().unwrap() > 0.0, "{record:#}");
}

/// Runs `profcmp k8s cleanup` and returns its one error line.
fn error_line(kubeconfig: &Path, home: &Path) -> String {
    let output = run(&["k8s", "cleanup", "--run", "r1"], kubeconfig, home);
    assert!(!output.status.success(), "{}", text(&output));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn bad_clusters_get_one_clear_line_each() {
    let dir = temp_dir("k8s-errors");
    let err = error_line(&dir.join("no-such-kubeconfig"), &dir);
    assert!(
        err.starts_with("error: no kubeconfig found") && err.contains("set KUBECONFIG"),
        "{err}"
    );

    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = Stub {
        port: closed,
        state: Arc::default(),
    }
    .kubeconfig(&dir);
    let file = workspace().join("tests/fixtures/dynamo-2026-01/configs/aic_profiling_dgdr.yaml");
    let output = run(
        &["k8s", "dgdr", "--file", file.to_str().unwrap(), "--method", "m"],
        &unreachable,
        &dir,
    );
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!(
            "error: cannot reach the Kubernetes API server at http://127.0.0.1:{closed}"
        )),
        "{err}"
    );
    assert!(err.contains("kubectl cluster-info"), "{err}");

    let stub = Stub::start(State {
        no_dynamo: true,
        ..State::default()
    });
    let output = run(
        &["k8s", "dgdr", "--file", file.to_str().unwrap(), "--method", "m"],
        &stub.kubeconfig(&dir),
        &dir,
    );
    let err = stderr(&output);
    assert!(
        err.contains("error: the cluster has no DynamoGraphDeploymentRequest resource"),
        "{err}"
    );
    assert!(err.contains("install NVIDIA Dynamo's operator"), "{err}");

    let stub = Stub::start(State {
        forbid_writes: true,
        ..State::default()
    });
    let output = run(
        &["k8s", "dgdr", "--file", file.to_str().unwrap(), "--method", "m"],
        &stub.kubeconfig(&dir),
        &dir,
    );
    let err = stderr(&output);
    assert!(
        err.contains("error: no permission to patch dynamographdeploymentrequests in namespace ns: ask for a Role"),
        "{err}"
    );
}

/// Args and env of the real-cluster tests: `PROFCMP_K8S_TEST=1`, optionally
/// `PROFCMP_K8S_NAMESPACE` and `PROFCMP_K8S_CONTEXT`; None (skipped) without them.
fn real_cluster() -> Option<Vec<String>> {
    if std::env::var("PROFCMP_K8S_TEST").as_deref() != Ok("1") {
        eprintln!("skipped: set PROFCMP_K8S_TEST=1 and a kubeconfig whose context has Dynamo's operator");
        return None;
    }
    let mut args = Vec::new();
    for (var, flag) in [
        ("PROFCMP_K8S_NAMESPACE", "--namespace"),
        ("PROFCMP_K8S_CONTEXT", "--context"),
    ] {
        if let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            args.extend([flag.to_string(), value]);
        }
    }
    Some(args)
}

#[test]
#[ignore = "needs a Kubernetes cluster with Dynamo: PROFCMP_K8S_TEST=1 cargo test -p profcmp-tests -- --ignored k8s"]
fn real_cluster_cleanup_of_an_unknown_run_is_clean() {
    let Some(cluster) = real_cluster() else { return };
    let output = Command::new(profcmp_bin())
        .args(["k8s", "cleanup", "--run", "profcmp-test-none"])
        .args(&cluster)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("nothing of run profcmp-test-none is left"));
}

/// Dynamo's profiler in AI Configurator mode: about 30 s, no GPU deployment.
#[test]
#[ignore = "needs a Kubernetes cluster with Dynamo: PROFCMP_K8S_TEST=1 cargo test -p profcmp-tests -- --ignored k8s"]
fn real_cluster_runs_dynamos_aic_profiler_as_a_method() {
    let Some(cluster) = real_cluster() else { return };
    let dir = temp_dir("k8s-real-dgdr");
    let file = workspace().join("tests/fixtures/dynamo-2026-01/configs/aic_profiling_dgdr.yaml");
    let results = dir.join("results");
    let output = Command::new(profcmp_bin())
        .args([
            "k8s",
            "dgdr",
            "--file",
            file.to_str().unwrap(),
            "--method",
            "dynamo_aic",
        ])
        .args(["--results", results.to_str().unwrap(), "--timeout", "1800"])
        .args(&cluster)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(results.join("dynamo_aic/config_with_planner.yaml").exists());
    assert!(results.join("dynamo_aic/profile.json").exists());
}
