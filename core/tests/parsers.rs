//! Property tests of the parsers of untrusted input (docs/reliability.md): mooncake traces, AIPerf
//! artifacts, reality profiles, config_with_planner.yaml and plugin payloads. Arbitrary text and
//! random edits of valid files give `Ok` or an error, never a panic; valid inputs round-trip.
//! (methods.toml and methods.lock are read by the host binary: host/src/methods.rs has theirs.)
//! The same parsers have cargo-fuzz targets in fuzz/ (run by hand, see README).

use std::sync::Arc;

use profcmp_core::aiperf::Summary;
use profcmp_core::dynamo::{read_profile_data, write_config_with_planner, GraphSpec};
use profcmp_core::sim::{Reality, SimCluster, StepTimes, StepTimesSource};
use profcmp_core::stage::profile::{check_result, MeteredHost};
use profcmp_core::stage::Quiet;
use profcmp_core::workload::{parse_mooncake, to_mooncake};
use profcmp_plugin_api::sdk::HostServer;
use profcmp_plugin_api::*;
use proptest::prelude::*;

const NOMINAL: &str = include_str!("../data/reality/nominal.toml");
const SUMMARY: &str = include_str!("../../tests/fixtures/aiperf-0.13/synthetic-chat/profile_export_aiperf.json");
const RECORDS: &str = include_str!("../../tests/fixtures/aiperf-0.13/synthetic-chat/profile_export.jsonl");
const TRACE: &str = include_str!("../../tests/fixtures/aiperf-0.13/mooncake-trace/input-mooncake-small.jsonl");

/// `base` with random byte edits (replace, insert, delete), cut at char boundaries.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8).prop_map(move |edits| {
        let mut bytes = base.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Arbitrary text, and text made of the characters these formats use.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just('{'),
                Just('}'),
                Just('['),
                Just(']'),
                Just('"'),
                Just(':'),
                Just(','),
                Just('\n'),
                Just('='),
                Just('-'),
                Just('1'),
                Just('e'),
                Just(' '),
                Just('a')
            ],
            0..200
        )
        .prop_map(|c| c.into_iter().collect()),
    ]
}

fn profile() -> PlannerProfile {
    PlannerProfile::new(
        PrefillProfile::new(vec![128.0, 2048.0], vec![20.0, 200.0], vec![6400.0, 10240.0]),
        DecodeProfile::new(
            vec![0.1, 0.5],
            vec![2176.0, 2176.0],
            vec![20.0, 25.0],
            vec![50.0, 400.0],
            100_000,
        ),
    )
}

fn config_yaml() -> &'static str {
    static YAML: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    YAML.get_or_init(|| {
        let graph = GraphSpec::new("Qwen/Qwen3-32B", ServingBackend::Trtllm, 500.0, 50.0, 1, 2);
        write_config_with_planner(&graph, &profile()).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mooncake_never_panics(text in prop_oneof![text(), mutated(TRACE)]) {
        let _ = parse_mooncake(&text, "input");
    }

    #[test]
    fn mooncake_round_trips(requests in proptest::collection::vec((0u32..1_000_000, 1u32..100_000, 1u32..10_000), 1..50)) {
        let mut at = 0.0;
        let requests: Vec<TraceRequest> = requests
            .into_iter()
            .map(|(gap, input_length, output_length)| {
                at += f64::from(gap);
                TraceRequest::new(at, input_length, output_length)
            })
            .collect();
        prop_assert_eq!(parse_mooncake(&to_mooncake(&requests, 512), "t").unwrap(), requests);
    }

    #[test]
    fn aiperf_summary_never_panics(text in prop_oneof![text(), mutated(SUMMARY)]) {
        if let Ok(summary) = Summary::from_json(&text) {
            let _ = summary.measurement();
            let _ = summary.to_csv();
        }
    }

    #[test]
    fn aiperf_records_never_panic(text in prop_oneof![text(), mutated(RECORDS)]) {
        let path = std::env::temp_dir().join(format!("profcmp-proptest-records-{}.jsonl", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let _ = profcmp_core::endpoint::read_records(&path);
    }

    #[test]
    fn reality_never_panics(text in prop_oneof![text(), mutated(NOMINAL)]) {
        let _ = Reality::parse(&text, "input");
    }

    #[test]
    fn config_with_planner_never_panics(text in prop_oneof![text(), mutated(config_yaml())]) {
        let _ = read_profile_data(&text);
    }

    #[test]
    fn a_profile_result_from_a_plugin_is_checked_without_a_panic(text in mutated(RESULT)) {
        if let Ok(result) = serde_json::from_str::<ProfileResult>(&text) {
            let request = profcmp_core::spec::RunSpec::defaults().profile_request(serde_json::Value::Null);
            let _ = check_result(&request, &result);
        }
    }
}

const RESULT: &str = r#"{"prefill":{"tp":1,"gpus":1},"decode":{"tp":2,"gpus":2},"predicted":{"ttft_ms":200.0,"itl_ms":20.0,"prefill_thpt_per_gpu":10000.0,"decode_thpt_per_gpu":500.0},"profile_data":{"prefill":{"prefill_isl":[100.0,2048.0],"prefill_ttft":[20.0,200.0],"prefill_thpt_per_gpu":[5000.0,10000.0]},"decode":{"x_kv_usage":[0.1,0.5],"y_context_length":[2176.0,2176.0],"z_itl":[20.0,25.0],"z_thpt_per_gpu":[50.0,400.0],"max_kv_tokens":100000}},"load_predictions":[],"notes":[]}"#;

/// Constant step times: the payload test is about decoding and limits, not timing.
struct Flat;
impl StepTimes for Flat {
    fn prefill_ms(&self, batch: u32, isl: u32) -> Result<f64, String> {
        Ok(1.0 + 1e-4 * f64::from(batch) * f64::from(isl))
    }
    fn decode_step_ms(&self, _: u32, _: u32) -> Result<f64, String> {
        Ok(1.0)
    }
    fn kv_capacity_tokens(&self) -> u64 {
        1_000_000
    }
    fn max_batch(&self) -> u32 {
        64
    }
}
impl StepTimesSource for Flat {
    fn step_times(&self, tp: u32) -> Result<Arc<dyn StepTimes>, String> {
        match tp {
            1 | 2 | 4 | 8 => Ok(Arc::new(Flat)),
            _ => Err(format!("tp {tp} is not a candidate")),
        }
    }
}

const CALLS: [(&str, &str); 6] = [
    ("estimate", r#"{"kind":"prefill","tp":1,"batch":1,"isl":128}"#),
    (
        "deploy",
        r#"{"kind":"graph","prefill_workers":1,"prefill_tp":1,"decode_workers":1,"decode_tp":2}"#,
    ),
    (
        "measure",
        r#"{"deployment":{"id":"sim-1","request":{"kind":"prefill_only","tp":1},"kv_capacity_tokens":1000,"max_batch":8},"probe":{"kind":"concurrency","concurrency":2,"requests":8,"isl":64,"osl":2,"warmup":1}}"#,
    ),
    (
        "teardown",
        r#"{"id":"sim-1","request":{"kind":"prefill_only","tp":1},"kv_capacity_tokens":1000,"max_batch":8}"#,
    ),
    ("log", r#"{"level":"info","message":"hello"}"#),
    ("progress", r#"{"done":1,"total":2,"message":"half"}"#),
];

fn call() -> impl Strategy<Value = (String, String)> {
    (
        0..CALLS.len() + 1,
        any::<bool>(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        any::<String>(),
    )
        .prop_map(|(i, mutate, edits, noise)| {
            let Some((method, payload)) = CALLS.get(i) else {
                return (noise.clone(), noise);
            };
            let mut bytes = payload.as_bytes().to_vec();
            if mutate {
                for (at, byte) in edits {
                    let at = at % bytes.len();
                    bytes[at] = byte;
                }
            }
            (method.to_string(), String::from_utf8_lossy(&bytes).into_owned())
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// What a plugin sends the host, decoded and served by the metered host: an answer or an
    /// error, never a panic, whatever the bytes.
    #[test]
    fn host_calls_from_a_plugin_never_panic(calls in proptest::collection::vec(call(), 1..12)) {
        let reality = Reality::named("nominal").unwrap();
        let mut cluster = SimCluster::new(Box::new(Flat), 1000, ServingBackend::Trtllm, reality, 1);
        let estimates = |_: &EstimateQuery| Ok(Estimate::new(Some(1.0), 1000));
        let host = MeteredHost::new("m", &mut cluster, &estimates, &Quiet);
        let server = HostServer::new(&host);
        for (method, payload) in &calls {
            if let Err(e) = server.dispatch(method, payload) {
                prop_assert_ne!(e.code.as_str(), "panic", "{} {}: {}", method, payload, e);
            }
        }
        let _ = host.finish();
    }
}
