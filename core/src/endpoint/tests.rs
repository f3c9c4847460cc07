//! Tests of the load generator against loopback servers: `profcmp serve` (timing matches the
//! simulated cluster) and a stub that misbehaves (each failure is a record with its reason).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use profcmp_plugin_api::{Probe, ServingBackend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::aiperf::Summary;
use crate::backend::Backend;
use crate::serve::{self, ServeConfig};
use crate::sim::{Reality, SimCluster, StepTimes, StepTimesSource};

/// Closed-form step times (ms): prefill 5 + 0.09 x batch x ISL, decode 15 + small growth.
struct Linear;

impl StepTimes for Linear {
    fn prefill_ms(&self, batch: u32, isl: u32) -> Result<f64, String> {
        Ok(5.0 + 0.09 * f64::from(batch) * f64::from(isl))
    }
    fn decode_step_ms(&self, batch: u32, context: u32) -> Result<f64, String> {
        Ok(15.0 + 0.05 * f64::from(batch) + 0.00002 * f64::from(batch) * f64::from(context))
    }
    fn kv_capacity_tokens(&self) -> u64 {
        200_000
    }
    fn max_batch(&self) -> u32 {
        64
    }
}

impl StepTimesSource for Linear {
    fn step_times(&self, _tp: u32) -> Result<Arc<dyn StepTimes>, String> {
        Ok(Arc::new(Linear))
    }
}

fn cluster() -> SimCluster {
    let reality = Reality {
        jitter_sigma: 0.0,
        ..Reality::named("nominal").unwrap()
    };
    SimCluster::new(Box::new(Linear), 262_144, ServingBackend::Trtllm, reality, 5)
}

fn serve(speedup: f64) -> serve::ServerHandle {
    let config = ServeConfig {
        graph: ServedGraph::new((1, 1), (1, 1)),
        model: "test-model".into(),
        speedup,
        addr: "127.0.0.1:0".parse().unwrap(),
        max_context_tokens: 40_960,
    };
    serve::spawn(|| Ok(cluster()), config).unwrap()
}

fn closed(concurrency: u32, requests: u32, isl: u32, osl: u32, warmup: u32) -> Probe {
    Probe::Concurrency {
        concurrency,
        requests,
        isl,
        osl,
        warmup,
    }
}

fn backend(url: &str, api: Api) -> EndpointBackend {
    EndpointBackend::new(EndpointConfig {
        target: Target::new(url, "test-model", api).unwrap(),
        loadgen: Loadgen::Builtin,
        load: LoadSettings::default(),
        graph: None,
        max_batch: None,
        aiperf_dir: std::env::temp_dir(),
    })
    .unwrap()
}

/// The stated tolerance: a p50 of the load generator (converted to virtual ms) is within 5% of
/// the simulator's own measurement of the same probe, plus `real_ms` of real time (loopback,
/// tokio's 1 ms timer, closed-loop re-send), which `speedup` turns into virtual ms.
fn check_close(
    metric: &str,
    measured: &Summary,
    speedup: f64,
    simulated: &Summary,
    real_ms: f64,
) -> Result<(), String> {
    let got = measured.p50(metric).unwrap() * speedup;
    let want = simulated.p50(metric).unwrap();
    let tolerance = 0.05 * want + real_ms * speedup;
    eprintln!(
        "{metric} p50: load generator {got:.3} ms, simulator {want:.3} ms ({:+.2}%)",
        (got - want) / want * 100.0
    );
    if (got - want).abs() <= tolerance {
        Ok(())
    } else {
        Err(format!(
            "{metric} p50: load generator {got:.2} ms vs simulator {want:.2} ms (tolerance {tolerance:.1} ms)"
        ))
    }
}

/// Measures `probe` through `profcmp serve` and on the simulator; compares TTFT, ITL, latency.
fn serve_matches_sim(api: Api, probe: &Probe, speedup: f64) -> Result<(), String> {
    let server = serve(speedup);
    let mut endpoint = backend(&server.url(), api);
    let deployment = endpoint.deploy(&ServedGraph::new((1, 1), (1, 1)).request()).unwrap();
    let measured = endpoint.measure(&deployment, probe, None).unwrap();
    assert!(
        measured.records.iter().all(|r| r.error.is_none()),
        "{:?}",
        measured.records
    );
    let Probe::Concurrency { isl, osl, .. } = *probe else {
        unreachable!()
    };
    assert!(measured
        .records
        .iter()
        .all(|r| r.output_tokens == osl && r.input_tokens == isl));

    let mut sim = cluster();
    let sim_deployment = sim.deploy(&ServedGraph::new((1, 1), (1, 1)).request()).unwrap();
    let simulated = sim.measure(&sim_deployment, probe, None).unwrap();
    check_close(
        "time_to_first_token",
        &measured.summary,
        speedup,
        &simulated.summary,
        3.0,
    )?;
    check_close(
        "inter_token_latency",
        &measured.summary,
        speedup,
        &simulated.summary,
        0.5,
    )?;
    check_close("request_latency", &measured.summary, speedup, &simulated.summary, 3.0)
}

/// Runs a timing comparison up to three times: a shared machine can hold a timer back for
/// longer than the tolerance now and then; a systematic error fails all three.
fn within_three_tries(compare: impl Fn() -> Result<(), String>) {
    let mut errors = Vec::new();
    for _ in 0..3 {
        match compare() {
            Ok(()) => return,
            Err(e) => errors.push(e),
        }
    }
    panic!("three tries out of tolerance:\n{}", errors.join("\n"));
}

#[test]
fn load_generator_against_serve_matches_the_simulator() {
    within_three_tries(|| serve_matches_sim(Api::Chat, &closed(1, 4, 512, 16, 1), 1.0));
    within_three_tries(|| serve_matches_sim(Api::Completions, &closed(3, 12, 512, 16, 2), 1.0));
}

#[test]
fn serve_runs_faster_than_real_time_with_a_speedup() {
    within_three_tries(|| serve_matches_sim(Api::Chat, &closed(2, 6, 1024, 32, 0), 10.0));
}

#[test]
fn deploy_checks_the_server_model_and_graph() {
    let server = serve(1.0);
    let mut endpoint = backend(&server.url(), Api::Chat);
    let other = ServedGraph::new((1, 1), (1, 2)).request();
    let error = endpoint.deploy(&other).unwrap_err().to_string();
    assert!(
        error.contains("serves 1 prefill (tp 1) + 1 decode (tp 1) workers"),
        "{error}"
    );
    let prefill = profcmp_plugin_api::DeployRequest::PrefillOnly { tp: 1 };
    assert!(endpoint
        .deploy(&prefill)
        .unwrap_err()
        .to_string()
        .contains("simulated cluster"));

    let mut wrong_model = EndpointBackend::new(EndpointConfig {
        target: Target::new(&server.url(), "other", Api::Chat).unwrap(),
        ..backend_config(&server.url())
    })
    .unwrap();
    let error = wrong_model
        .deploy(&ServedGraph::new((1, 1), (1, 1)).request())
        .unwrap_err()
        .to_string();
    assert!(error.contains("serves test-model, not `other`"), "{error}");

    // Nothing listens on a just-closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nobody = backend(&format!("http://127.0.0.1:{port}"), Api::Chat);
    let error = nobody
        .deploy(&ServedGraph::new((1, 1), (1, 1)).request())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot connect to") && error.contains("is the server running?"),
        "{error}"
    );
}

fn backend_config(url: &str) -> EndpointConfig {
    EndpointConfig {
        target: Target::new(url, "test-model", Api::Chat).unwrap(),
        loadgen: Loadgen::Builtin,
        load: LoadSettings::default(),
        graph: None,
        max_batch: None,
        aiperf_dir: std::env::temp_dir(),
    }
}

#[test]
fn open_loop_replays_a_trace_on_its_timestamps() {
    let server = serve(1.0);
    let target = Target::new(&server.url(), "test-model", Api::Chat).unwrap();
    let requests: Vec<_> = [0.0, 100.0, 250.0, 400.0]
        .iter()
        .map(|&t| profcmp_plugin_api::TraceRequest::new(t, 256, 4))
        .collect();
    let outcome = run_load(&target, &Probe::Trace { requests }, &LoadSettings::default()).unwrap();
    let starts: Vec<f64> = outcome.records.iter().map(|r| r.start_ms).collect();
    for (start, want) in starts.iter().zip([0.0, 100.0, 250.0, 400.0]) {
        assert!((start - want).abs() < 10.0, "sent at {starts:?}");
    }
    assert!(outcome.max_send_lag_ms < 10.0, "{}", outcome.max_send_lag_ms);
    assert!(outcome
        .records
        .iter()
        .all(|r| r.error.is_none() && r.output_tokens == 4));
}

/// How the stub answers one request.
#[derive(Clone, Copy, Debug)]
enum Stub {
    Good,
    MalformedSse,
    ClosesMidStream,
    Status(u16),
    Hangs,
    ErrorEvent,
}

/// A loopback HTTP/1.1 server answering its n-th connection as `script[n % len]`.
async fn stub_server(script: Vec<Stub>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let stub = script[count.fetch_add(1, Ordering::SeqCst) % script.len()];
            tokio::spawn(async move {
                read_request(&mut socket).await;
                let chunk =
                    |text: &str| format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n");
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                let reply = match stub {
                    Stub::Good => format!("{head}{}{}{}data: [DONE]\n\n", chunk("a"), chunk(" b"), chunk(" c")),
                    Stub::MalformedSse => format!("{head}{}data: {{\"choices\": [\n\n", chunk("a")),
                    Stub::ClosesMidStream => format!("{head}{}{}", chunk("a"), chunk(" b")),
                    Stub::ErrorEvent => format!(
                        "{head}{}data: {{\"error\":{{\"message\":\"engine died\"}}}}\n\n",
                        chunk("a")
                    ),
                    Stub::Status(code) => {
                        let body = r#"{"error":{"message":"slow down"}}"#;
                        format!(
                            "HTTP/1.1 {code} Oops\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    Stub::Hangs => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                };
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = socket.read(&mut chunk).await else { return };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return;
            }
        }
    }
}

#[test]
fn each_failure_is_a_record_with_its_reason_and_the_run_goes_on() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let script = vec![
        Stub::Good,
        Stub::MalformedSse,
        Stub::ClosesMidStream,
        Stub::Status(429),
        Stub::Status(500),
        Stub::Hangs,
        Stub::ErrorEvent,
        Stub::Good,
    ];
    let url = runtime.block_on(stub_server(script));
    let target = Target::new(&url, "m", Api::Chat).unwrap();
    let settings = LoadSettings {
        timeout: Duration::from_millis(500),
        seed: 1,
    };
    let probe = closed(1, 8, 16, 3, 0);
    let outcome = runtime
        .block_on(async { super::loadgen::run(&http_client(), &target, &probe, &settings).await })
        .unwrap();
    let reasons: Vec<String> = outcome
        .records
        .iter()
        .map(|r| r.error.clone().unwrap_or_default())
        .collect();
    let expect = [
        "",
        "malformed SSE data",
        "stream closed before `data: [DONE]` after 2 tokens",
        "http 429 Too Many Requests: {\"error\":{\"message\":\"slow down\"}}",
        "http 500 Internal Server Error",
        "timeout after 0.5 s",
        "server error in the stream: engine died",
        "",
    ];
    for (reason, want) in reasons.iter().zip(expect) {
        assert!(
            if want.is_empty() {
                reason.is_empty()
            } else {
                reason.starts_with(want)
            },
            "expected `{want}`, got `{reason}`\nall: {reasons:#?}"
        );
    }
    let good = &outcome.records[0];
    assert_eq!((good.output_tokens, good.input_tokens), (3, 16));
    assert!(good.ttft_ms.unwrap() <= good.latency_ms.unwrap());
    let summary = Summary::from_records(&outcome.records, None, outcome.duration_s);
    assert_eq!(summary.value("request_count"), Some(2.0));
    assert_eq!(summary.value("error_request_count"), Some(6.0));
}

/// POSTs `body` to `path` of a loopback server; returns the status code and the response text.
fn post(server: &serve::ServerHandle, path: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(server.addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).unwrap();
    // A server may answer (and close) before reading all of an oversize body.
    let _ = socket.write_all(body);
    let mut response = Vec::new();
    let _ = socket.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

#[test]
fn serve_refuses_what_vllm_refuses_with_400_and_a_message() {
    let server = serve(1000.0);
    let request = |max_tokens: serde_json::Value, words: usize| {
        let prompt = vec!["word"; words].join(" ");
        serde_json::json!({"model": "test-model", "prompt": prompt, "max_tokens": max_tokens}).to_string()
    };
    // A valid request, then the same with one field changed.
    let (ok, text) = post(&server, "/v1/completions", request(4.into(), 10).as_bytes());
    assert_eq!(ok, 200, "{text}");
    for (max_tokens, words, expected) in [
        (
            serde_json::json!(0),
            10,
            "max_tokens must be an integer of at least 1, got 0",
        ),
        (
            serde_json::json!(-5),
            10,
            "max_tokens must be an integer of at least 1, got -5",
        ),
        (serde_json::json!(2.5), 10, "got 2.5"),
        (serde_json::json!("4"), 10, "got \\\"4\\\""),
        (
            serde_json::json!(100_000_000),
            10,
            "context window is 40960 tokens, but the request needs 100000010",
        ),
        (
            serde_json::json!(4),
            40_957,
            "needs 40961 (40957 in the prompt, 4 to generate)",
        ),
    ] {
        let (code, text) = post(
            &server,
            "/v1/completions",
            request(max_tokens.clone(), words).as_bytes(),
        );
        assert_eq!(code, 400, "max_tokens {max_tokens}, {words} words: {text}");
        assert!(text.contains(expected), "expected `{expected}` in {text}");
    }
    // Exactly the window fits.
    let (code, text) = post(&server, "/v1/completions", request(4.into(), 40_956).as_bytes());
    assert_eq!(code, 200, "{}", &text[..200.min(text.len())]);
    // A body over the limit.
    let big = vec![b' '; serve::MAX_BODY_BYTES + 1];
    let (code, text) = post(&server, "/v1/completions", &big);
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("at most 8388608 bytes"), "{text}");
}
