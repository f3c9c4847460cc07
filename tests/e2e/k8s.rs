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
    /// Serve nvidia.com v1beta1 too and prefer it, as the newest Dynamo does (else v1alpha1
    /// only, as Dynamo 0.7).
    serve_v1beta1: bool,
    /// Where a port-forward to a frontend pod goes.
    frontend: Option<std::net::SocketAddr>,
    /// Every object applied, as sent.
    applied: Vec<Value>,
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
        let mut headers = BTreeMap::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        if target.contains("/portforward")
            && headers
                .get("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        {
            state.lock().unwrap().requests.push(format!("{method} {target}"));
            let frontend = state.lock().unwrap().frontend.expect("a frontend to forward to");
            port_forward(reader, writer, &headers, &target, frontend);
            return;
        }
        let length = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
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

/// The API server's side of a pod port-forward (WebSocket, `v4.channel.k8s.io`): channel 0
/// carries the port's data, channel 1 its errors; each starts with the port number.
fn port_forward(
    mut reader: BufReader<TcpStream>,
    mut writer: TcpStream,
    headers: &BTreeMap<String, String>,
    target: &str,
    frontend: std::net::SocketAddr,
) {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let key = format!("{}258EAFA5-E914-47DA-95CA-C5AB0DC85B11", headers["sec-websocket-key"]);
    let accept = base64::engine::general_purpose::STANDARD.encode(Sha1::digest(key.as_bytes()));
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {accept}\r\nsec-websocket-protocol: v4.channel.k8s.io\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).unwrap();
    let port: u16 = target.rsplit("ports=").next().unwrap().parse().unwrap();
    for channel in [0u8, 1] {
        let [lo, hi] = port.to_le_bytes();
        write_frame(&mut writer, 2, &[channel, lo, hi]);
    }
    let upstream = TcpStream::connect(frontend).unwrap();
    let mut from_pod = upstream.try_clone().unwrap();
    let mut to_client = writer.try_clone().unwrap();
    let pump = std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match from_pod.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => write_frame(&mut to_client, 2, &[&[0u8][..], &buffer[..n]].concat()),
            }
        }
        write_frame(&mut to_client, 8, &[]);
    });
    let mut to_pod = upstream;
    while let Some((opcode, payload)) = read_frame(&mut reader) {
        match opcode {
            8 => break,
            2 if payload.first() == Some(&0) && payload.len() > 1 && to_pod.write_all(&payload[1..]).is_err() => break,
            _ => {}
        }
    }
    let _ = to_pod.shutdown(std::net::Shutdown::Write);
    let _ = pump.join();
}

/// Writes one unmasked WebSocket frame (server to client).
fn write_frame(out: &mut TcpStream, opcode: u8, payload: &[u8]) {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n < 65536 => {
            frame.push(126);
            frame.extend((n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend((n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    let _ = out.write_all(&frame);
}

/// Reads one (masked, client to server) WebSocket frame: opcode and payload.
fn read_frame(input: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    input.read_exact(&mut head).ok()?;
    let mut len = u64::from(head[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        input.read_exact(&mut b).ok()?;
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        input.read_exact(&mut b).ok()?;
        len = u64::from_be_bytes(b);
    }
    let mut mask = [0u8; 4];
    if head[1] & 0x80 != 0 {
        input.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    input.read_exact(&mut payload).ok()?;
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
    Some((head[0] & 0x0f, payload))
}

/// A tiny OpenAI-compatible frontend: every chat completion streams `max_tokens` one-word chunks
/// and a usage chunk, then closes the connection.
fn fake_frontend() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let tokens = request["max_tokens"].as_u64().unwrap_or(1);
                let mut reply =
                    String::from("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n");
                for _ in 0..tokens {
                    reply.push_str("data: {\"choices\":[{\"delta\":{\"content\":\" w\"}}]}\n\n");
                }
                reply.push_str(&format!(
                    "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\"completion_tokens\":{tokens}}}}}\n\ndata: [DONE]\n\n"
                ));
                let _ = writer.write_all(reply.as_bytes());
            });
        }
    });
    address
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
    // One object answers in every served version: stored under its v1alpha1 path.
    let path = &path.replace("/apis/nvidia.com/v1beta1/", "/apis/nvidia.com/v1alpha1/");
    if path == "/api/v1/namespaces/ns" {
        return ok(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "ns" } }));
    }
    let versions: &[&str] = if state.serve_v1beta1 {
        &["v1beta1", "v1alpha1"]
    } else {
        &["v1alpha1"]
    };
    if path == "/apis/nvidia.com" {
        if state.no_dynamo {
            return status(404, "NotFound", "the server could not find the requested resource");
        }
        let version = |v: &str| json!({ "groupVersion": format!("nvidia.com/{v}"), "version": v });
        return ok(json!({ "kind": "APIGroup", "apiVersion": "v1", "name": "nvidia.com",
            "versions": versions.iter().map(|v| version(v)).collect::<Vec<_>>(), "preferredVersion": version(versions[0]) }));
    }
    if let Some(version) = path.strip_prefix("/apis/nvidia.com/").filter(|v| !v.contains('/')) {
        if state.no_dynamo || !versions.contains(&version) {
            return status(404, "NotFound", "the server could not find the requested resource");
        }
        let resource = |name: &str, kind: &str| json!({ "name": name, "singularName": "", "namespaced": true, "kind": kind, "verbs": [] });
        return ok(
            json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("nvidia.com/{version}"),
            "resources": [resource("dynamographdeployments", "DynamoGraphDeployment"),
                          resource("dynamographdeploymentrequests", "DynamoGraphDeploymentRequest")] }),
        );
    }
    if path.starts_with("/apis/nvidia.com/") && state.no_dynamo {
        return status(404, "NotFound", "the server could not find the requested resource");
    }
    if let Some(service) = path.strip_prefix("/api/v1/namespaces/ns/services/") {
        if service.ends_with("-frontend") && method == "GET" {
            return ok(
                json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": service },
                "spec": { "selector": { "app": "frontend" }, "ports": [{ "port": 8000, "targetPort": 8000 }] } }),
            );
        }
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
            state.applied.push(object.clone());
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

/// A stub API server with one Running frontend pod forwarding to a fake frontend.
fn stub_with_frontend() -> Stub {
    let stub = Stub::start(State {
        frontend: Some(fake_frontend()),
        ..State::default()
    });
    stub.insert(
        "/api/v1/namespaces/ns/pods/frontend-0",
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "frontend-0", "labels": { "app": "frontend" } },
                "status": { "phase": "Running" } }),
    );
    stub
}

/// Args of a small run of the fixture method `minimal` (one TP, short requests) for `stage`.
fn small_run(stage: &str, results: &Path, extra: &[&str]) -> Vec<String> {
    let plugins = crate::util::fixture_plugins().display().to_string();
    let mut args: Vec<String> = [
        stage,
        "--isl",
        "64",
        "--osl",
        "4",
        "--requests",
        "3",
        "--max-batch",
        "2",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(
        [
            "--prefill-tp",
            "1",
            "--decode-tp",
            "1",
            "--method",
            "minimal",
            "--no-progress",
        ]
        .map(String::from),
    );
    args.extend([
        "--plugin-dir".into(),
        plugins,
        "--results".into(),
        results.display().to_string(),
    ]);
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn run_owned(args: &[String], kubeconfig: &Path, home: &Path) -> Output {
    run(&args.iter().map(String::as_str).collect::<Vec<_>>(), kubeconfig, home)
}

#[test]
fn validate_on_k8s_deploys_the_methods_config_and_measures_through_a_port_forward() {
    let dir = temp_dir("k8s-validate");
    let results = dir.join("results");
    let stub = stub_with_frontend();
    let kubeconfig = stub.kubeconfig(&dir);
    let output = run_owned(&small_run("profile", &results, &[]), &kubeconfig, &dir);
    assert!(output.status.success(), "{}", text(&output));
    let output = run_owned(
        &small_run("validate", &results, &["--cluster", "k8s"]),
        &kubeconfig,
        &dir,
    );
    assert!(output.status.success(), "{}", text(&output));
    for level in ["idle", "medium", "saturation", "overload"] {
        let records = std::fs::read_to_string(results.join(format!("minimal/validation/{level}/profile_export.jsonl")))
            .unwrap_or_else(|e| panic!("{level}: {e}\n{}", text(&output)));
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(results.join(format!("minimal/validation/{level}/validation.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            records.lines().count() as u64,
            record["requests"].as_u64().unwrap(),
            "{level}: {records}"
        );
        assert!(!records.contains("\"error\""), "{level}: {records}");
    }
    let requests = stub.requests();
    let forwards = requests
        .iter()
        .filter(|r| r.contains("/pods/frontend-0/portforward?") && r.contains("ports=8000"));
    assert!(forwards.count() >= 4, "{requests:#?}");
    // The method's own config_with_planner.yaml was deployed: its ConfigMap and graph, then both deleted.
    let cm = requests
        .iter()
        .find(|r| r.starts_with("PATCH /api/v1/namespaces/ns/configmaps/pc-"))
        .expect("ConfigMap applied");
    assert!(cm.contains("-profile?"), "{cm}");
    assert!(requests
        .iter()
        .any(|r| r.starts_with("DELETE /apis/nvidia.com/v1alpha1/namespaces/ns/dynamographdeployments/pc-")));
    let left: Vec<String> = stub.state.lock().unwrap().objects.keys().cloned().collect();
    assert_eq!(left, ["/api/v1/namespaces/ns/pods/frontend-0"]);
}

#[test]
fn on_the_newest_dynamo_graphs_are_applied_as_v1beta1() {
    let dir = temp_dir("k8s-v1beta1");
    let results = dir.join("results");
    let stub = stub_with_frontend();
    stub.state.lock().unwrap().serve_v1beta1 = true;
    let kubeconfig = stub.kubeconfig(&dir);
    let output = run_owned(&small_run("profile", &results, &[]), &kubeconfig, &dir);
    assert!(output.status.success(), "{}", text(&output));
    let output = run_owned(
        &small_run("validate", &results, &["--cluster", "k8s"]),
        &kubeconfig,
        &dir,
    );
    assert!(output.status.success(), "{}", text(&output));
    let requests = stub.requests();
    let beta = "/apis/nvidia.com/v1beta1/namespaces/ns/dynamographdeployments/pc-";
    assert!(
        requests.iter().any(|r| r.starts_with(&format!("PATCH {beta}"))),
        "{requests:#?}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with(&format!("DELETE {beta}"))),
        "{requests:#?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("/nvidia.com/v1alpha1/")),
        "{requests:#?}"
    );
    let state = stub.state.lock().unwrap();
    let graph = state
        .applied
        .iter()
        .find(|o| o["kind"] == "DynamoGraphDeployment")
        .unwrap();
    assert_eq!(graph["apiVersion"], "nvidia.com/v1beta1");
    let components = graph["spec"]["components"].as_array().unwrap();
    let types: Vec<&str> = components.iter().filter_map(|c| c["type"].as_str()).collect();
    assert!(
        types.contains(&"planner") && types.contains(&"prefill") && types.contains(&"decode"),
        "{types:?}"
    );
    let left: Vec<&String> = state.objects.keys().collect();
    assert_eq!(left, ["/api/v1/namespaces/ns/pods/frontend-0"]);
}

#[test]
fn optimize_on_k8s_replays_the_trace_against_planned_graphs_and_reads_replicas() {
    let dir = temp_dir("k8s-optimize");
    let results = dir.join("results");
    let stub = stub_with_frontend();
    let kubeconfig = stub.kubeconfig(&dir);
    let output = run_owned(&small_run("profile", &results, &[]), &kubeconfig, &dir);
    assert!(output.status.success(), "{}", text(&output));
    let trace = [
        "--cluster",
        "k8s",
        "--trace-duration",
        "3",
        "--min-rate",
        "1",
        "--max-rate",
        "2",
        "--period",
        "3",
    ];
    let output = run_owned(&small_run("optimize", &results, &trace), &kubeconfig, &dir);
    assert!(output.status.success(), "{}", text(&output));
    for dir in [
        results.join("minimal/optimization"),
        results.join("oracle/1x1/optimization"),
    ] {
        let record: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("optimization.json")).unwrap()).unwrap();
        assert!(
            !record["replicas"].as_array().unwrap().is_empty(),
            "replicas sampled: {record:#}"
        );
        assert_eq!(record["avg_gpus"], 2.0, "{record:#}");
    }
    // The oracle's graph is written from its measured profile and deployed like a method's.
    assert!(results.join("oracle/1x1/config_with_planner.yaml").exists());
    let left: Vec<String> = stub.state.lock().unwrap().objects.keys().cloned().collect();
    assert_eq!(left, ["/api/v1/namespaces/ns/pods/frontend-0"]);
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
