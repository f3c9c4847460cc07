//! Tests of the simulated cluster: behaviour on stand-in timings, determinism, and the
//! calibration of `dynamo-2026-01` against the real January 2026 validation run.

use std::path::{Path, PathBuf};

use super::timing::tests::LinearStepTimes;
use super::*;
use crate::backend::LoadPredictor;
use crate::estimator::{EstimatorSet, ModelInfo};
use crate::workload::{sinusoidal, SinusoidSpec};
use profcmp_plugin_api::{DecodeProfile, PlannerProfile, PrefillProfile, Sla};

struct Fake;

impl StepTimesSource for Fake {
    fn step_times(&self, tp: u32) -> Result<Arc<dyn StepTimes>, String> {
        if tp > 8 || !tp.is_power_of_two() {
            return Err(format!("tp {tp} must divide the 8 kv heads"));
        }
        Ok(Arc::new(LinearStepTimes {
            kv_capacity_tokens: 200_000 * u64::from(tp),
            max_batch: 256,
        }))
    }
}

fn fake_cluster(reality: &str) -> SimCluster {
    let reality = Reality::named(reality).unwrap();
    SimCluster::new(Box::new(Fake), 262_144, ServingBackend::Trtllm, reality, 1)
}

fn qwen(reality: &str, seed: u64) -> SimCluster {
    let reality = Reality::named(reality).unwrap();
    SimCluster::aic(
        "Qwen/Qwen3-32B",
        "h200_sxm",
        ServingBackend::Trtllm,
        reality,
        seed,
        None,
    )
    .unwrap()
}

fn graph(p: u32, ptp: u32, d: u32, dtp: u32) -> DeployRequest {
    DeployRequest::Graph {
        prefill_workers: p,
        prefill_tp: ptp,
        decode_workers: d,
        decode_tp: dtp,
    }
}

fn closed(concurrency: u32, requests: u32, warmup: u32) -> Probe {
    Probe::Concurrency {
        concurrency,
        requests,
        isl: 2048,
        osl: 256,
        warmup,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("profcmp-sim-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The real Online-ALL validation levels: (name, concurrency).
const LEVELS: [(&str, u32); 4] = [("idle", 1), ("medium", 4), ("saturation", 7), ("overload", 8)];

#[test]
fn dynamo_2026_01_reproduces_the_real_validation_run() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dynamo-2026-01/online_all/validation");
    let mut sim = qwen("dynamo-2026-01", 2026);
    let deployment = sim.deploy(&graph(1, 1, 1, 1)).unwrap();
    let mut table =
        String::from("level       conc | TTFT p50 real    sim    err | ITL p50 real   sim    err | req/s real   sim\n");
    let mut failures = Vec::new();
    for (level, concurrency) in LEVELS {
        let real = crate::aiperf::Summary::read_dir(&fixtures.join(level)).unwrap();
        let run = sim.measure(&deployment, &closed(concurrency, 100, 0), None).unwrap();
        let get = |s: &Summary, name| s.p50(name).unwrap();
        let (ttft_real, ttft_sim) = (
            get(&real, "time_to_first_token"),
            get(&run.summary, "time_to_first_token"),
        );
        let (itl_real, itl_sim) = (
            get(&real, "inter_token_latency"),
            get(&run.summary, "inter_token_latency"),
        );
        let rps = |s: &Summary| s.value("request_throughput").unwrap();
        let err = |sim: f64, real: f64| (sim - real) / real * 100.0;
        table.push_str(&format!(
            "{level:<11} {concurrency:>4} | {ttft_real:>12.1} {ttft_sim:>7.1} {:>+5.1}% | {itl_real:>11.2} {itl_sim:>6.2} {:>+5.1}% | {:>9.3} {:>6.3}\n",
            err(ttft_sim, ttft_real),
            err(itl_sim, itl_real),
            rps(&real),
            rps(&run.summary),
        ));
        if err(ttft_sim, ttft_real).abs() > 5.0 || err(itl_sim, itl_real).abs() > 5.0 {
            failures.push(level);
        }
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "outside tolerance (TTFT and ITL p50 within 5%) at {failures:?}:\n{table}"
    );
}

/// TTFT p50, ITL p50 and throughput (concurrency / mean latency) of 1P TP1 + 1D `decode_tp`
/// under dynamo-2026-01 at the real run's levels.
fn dynamo_levels(decode_tp: u32) -> Vec<(f64, f64, f64)> {
    let mut sim = qwen("dynamo-2026-01", 2026);
    let deployment = sim.deploy(&graph(1, 1, 1, decode_tp)).unwrap();
    LEVELS
        .iter()
        .map(|&(_, concurrency)| {
            let run = sim.measure(&deployment, &closed(concurrency, 100, 0), None).unwrap();
            let latencies: Vec<f64> = run.records.iter().filter_map(|r| r.latency_ms).collect();
            let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;
            (
                run.summary.p50("time_to_first_token").unwrap(),
                run.summary.p50("inter_token_latency").unwrap(),
                f64::from(concurrency) * 1e3 / mean,
            )
        })
        .collect()
}

/// What dynamo-2026-01 predicts for graphs it was not fitted on (written down in
/// core/data/reality/dynamo-2026-01.toml). A wider decode worker does not touch the bottleneck,
/// the prefill worker's serial TCP-class KV send (one link whatever the TPs): the throughput
/// ceiling stays TP1's and so does the idle TTFT (but for a shorter first decode step); ITL
/// follows AIC's TP ratio times the TP extra factor; and because requests now come back from
/// decode sooner, the graph saturates at a lower concurrency and TTFT at c = 7 and 8 is worse
/// than TP1's, as the closed-loop bound c x S - OSL x ITL says.
#[test]
fn dynamo_2026_01_predicts_wider_decode_workers() {
    let reality = Reality::named("dynamo-2026-01").unwrap();
    let estimators = EstimatorSet::new(
        ModelInfo::resolve("Qwen/Qwen3-32B").unwrap(),
        "h200_sxm",
        "trtllm",
        None,
    )
    .unwrap();
    let step = |tp: u32| estimators.get(tp).unwrap().decode_step_ms(1, 2176).unwrap();
    let tp1 = dynamo_levels(1);
    // Seconds of serial prefill work per request: TP1's throughput ceiling at c = 8.
    let serial_s = 1.0 / tp1[3].2;
    let mut table = String::from("decode TP  level       TTFT p50   ITL p50   req/s\n");
    for decode_tp in [2, 4] {
        let wide = dynamo_levels(decode_tp);
        for (i, ((ttft, itl, rps), (ttft1, itl1, _))) in wide.iter().zip(&tp1).enumerate() {
            let (level, concurrency) = LEVELS[i];
            table.push_str(&format!(
                "{decode_tp:<10} {level:<11} {ttft:>8.1} {itl:>9.2} {rps:>7.3}\n"
            ));
            let expected_itl =
                itl1 * step(decode_tp) * reality.decode_factor_at(decode_tp) / (step(1) * reality.decode_factor_at(1));
            // At idle the batch is 1 on both; under load fewer requests decode at once on the
            // wider worker (more of them wait at the prefill worker), so its ITL is lower still.
            if concurrency == 1 {
                assert!(
                    (itl / expected_itl - 1.0).abs() < 0.05,
                    "TP{decode_tp} idle ITL {itl} vs {expected_itl}"
                );
            } else {
                assert!(
                    itl / expected_itl < 1.03,
                    "TP{decode_tp} {level} ITL {itl} vs {expected_itl}"
                );
            }
            if concurrency == 1 {
                assert!(
                    (ttft / ttft1 - 1.0).abs() < 0.03,
                    "TP{decode_tp} idle TTFT {ttft} vs {ttft1}"
                );
            }
            if concurrency >= 7 {
                assert!(
                    (rps * serial_s - 1.0).abs() < 0.05,
                    "TP{decode_tp} {level}: {rps} req/s"
                );
                let bound = f64::from(concurrency) * serial_s * 1e3 - 256.0 * itl;
                assert!(
                    (ttft / bound - 1.0).abs() < 0.10,
                    "TP{decode_tp} {level}: TTFT {ttft} vs bound {bound}"
                );
                assert!(ttft > ttft1, "TP{decode_tp} {level}: {ttft} vs TP1 {ttft1}");
            }
        }
    }
    println!("{table}");
}

#[test]
fn same_inputs_and_seed_give_byte_identical_artifacts() {
    let write = |name: &str, seed: u64| {
        let mut sim = qwen("dynamo-2026-01", seed);
        let deployment = sim.deploy(&graph(1, 1, 1, 2)).unwrap();
        let slo = Slo {
            ttft_ms: 2000.0,
            itl_ms: 50.0,
        };
        let run = sim.measure(&deployment, &closed(4, 40, 4), Some(slo)).unwrap();
        let dir = temp_dir(name);
        run.summary.write_dir(&dir, &run.records).unwrap();
        let files = [
            crate::aiperf::SUMMARY_JSON,
            crate::aiperf::SUMMARY_CSV,
            crate::aiperf::RECORDS_JSONL,
        ];
        let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        bytes
    };
    assert_eq!(write("a", 5), write("b", 5));
    assert_ne!(write("c", 5)[2], write("d", 6)[2], "the seed drives the jitter");
}

#[test]
fn deploy_reports_capacity_and_rejects_bad_configs() {
    let mut sim = qwen("nominal", 1);
    let deployment = sim.deploy(&graph(1, 1, 1, 2)).unwrap();
    assert_eq!(deployment.id, "sim-1");
    assert!(
        deployment.kv_capacity_tokens > 100_000 && deployment.max_batch >= 1,
        "{deployment:?}"
    );
    let error = sim
        .deploy(&DeployRequest::DecodeOnly { tp: 3 })
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("decode-only engine at tp 3") && error.contains("kv heads"),
        "{error}"
    );
    let error = sim.deploy(&graph(0, 1, 1, 1)).unwrap_err().to_string();
    assert!(error.contains("at least one prefill"), "{error}");
    let mut llama = SimCluster::aic(
        "meta-llama/Meta-Llama-3.1-70B",
        "h100_sxm",
        ServingBackend::Trtllm,
        Reality::named("nominal").unwrap(),
        1,
        None,
    )
    .unwrap();
    let error = llama
        .deploy(&DeployRequest::PrefillOnly { tp: 1 })
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not fit"), "{error}");
}

#[test]
fn clock_advances_by_startup_and_benchmark_duration() {
    let mut sim = fake_cluster("nominal");
    let startup = sim.reality().deployment_startup_s;
    let deployment = sim.deploy(&graph(1, 1, 1, 1)).unwrap();
    assert_eq!(sim.now_s(), startup);
    let run = sim.measure(&deployment, &closed(2, 10, 0), None).unwrap();
    let duration = run.summary.value("benchmark_duration").unwrap();
    assert!(
        (sim.now_s() - startup - duration).abs() < 0.1,
        "{} vs {duration}",
        sim.now_s()
    );
    assert!(sim.cpu_seconds() > 0.0);
    sim.teardown(&deployment).unwrap();
    let error = sim.measure(&deployment, &closed(1, 1, 0), None).unwrap_err();
    assert!(matches!(error, BackendError::UnknownDeployment(_)));
    assert!(sim.teardown(&deployment).is_err());
}

#[test]
fn single_engines_measure_their_own_phase() {
    let mut sim = fake_cluster("nominal");
    let times = LinearStepTimes {
        kv_capacity_tokens: 200_000,
        max_batch: 256,
    };
    let overhead = sim.reality().frontend_overhead_ms;
    let prefill = sim.deploy(&DeployRequest::PrefillOnly { tp: 1 }).unwrap();
    let run = sim.measure(&prefill, &closed(1, 20, 0), None).unwrap();
    let expected = times.prefill_ms(1, 2048).unwrap() + overhead;
    let ttft = run.summary.p50("time_to_first_token").unwrap();
    assert!(
        (ttft / expected - 1.0).abs() < 0.05,
        "prefill-only TTFT {ttft} vs {expected}"
    );
    assert!(run.records.iter().all(|r| r.output_tokens == 1));
    let decode = sim.deploy(&DeployRequest::DecodeOnly { tp: 1 }).unwrap();
    let run = sim.measure(&decode, &closed(1, 20, 0), None).unwrap();
    let step = times.decode_step_ms(1, 2048 + 128).unwrap();
    let itl = run.summary.p50("inter_token_latency").unwrap();
    assert!((itl / step - 1.0).abs() < 0.05, "decode-only ITL {itl} vs {step}");
    let ttft = run.summary.p50("time_to_first_token").unwrap();
    assert!(
        ttft < 3.0 * step + overhead,
        "decode-only TTFT {ttft}: the prompt's KV is present"
    );
}

#[test]
fn warmup_requests_are_not_recorded() {
    let mut sim = fake_cluster("nominal");
    let deployment = sim.deploy(&graph(1, 1, 1, 1)).unwrap();
    let run = sim.measure(&deployment, &closed(2, 6, 4), None).unwrap();
    assert_eq!(run.records.len(), 6);
    assert_eq!(run.summary.value("request_count"), Some(6.0));
    assert!(run.records.iter().all(|r| r.start_ms >= 0.0) && run.records.iter().any(|r| r.start_ms == 0.0));
}

fn planner_spec(budget: u32) -> PlannerSpec {
    // Profile of the fake timings: 2048 tokens in ~190 ms per GPU; decode ~15 ms per step.
    PlannerSpec {
        profile: PlannerProfile::new(
            PrefillProfile::new(vec![1024.0, 4096.0], vec![97.0, 374.0], vec![10500.0, 10900.0]),
            DecodeProfile::new(
                vec![0.01, 0.5],
                vec![2176.0, 2176.0],
                vec![15.0, 30.0],
                vec![66.0, 2000.0],
                200_000,
            ),
        ),
        prefill_tp: 1,
        decode_tp: 1,
        sla: Sla::new(2048, 256, 500.0, 50.0),
        gpu_budget: budget,
        adjustment_interval_s: 60.0,
        predictor: LoadPredictor::Constant,
        window_size: 50,
        min_endpoint: 1,
        headroom: 1.0,
        version: crate::spec::DynamoVersion::V1_6,
    }
}

#[test]
fn planner_scales_the_graph_with_the_load() {
    let mut sim = fake_cluster("nominal");
    let deployment = sim.deploy(&graph(1, 1, 1, 1)).unwrap();
    let trace = sinusoidal(&SinusoidSpec::single(600, 1.0, 20.0, 600.0, 2048, 256, 3)).unwrap();
    let run = sim
        .measure_planned(
            &deployment,
            &trace,
            &planner_spec(8),
            Some(Slo {
                ttft_ms: 500.0,
                itl_ms: 50.0,
            }),
        )
        .unwrap();
    assert_eq!(run.records.len(), trace.len());
    assert_eq!(run.replicas[0], (0.0, 1, 1));
    let peak = run.replicas.iter().map(|r| r.1 + r.2).max().unwrap();
    assert!(peak > 2 && peak <= 8, "{:?}", run.replicas);
    assert!(run.avg_gpus > 2.0 && run.avg_gpus < 8.0, "avg gpus {}", run.avg_gpus);
    assert!(run.replicas.windows(2).all(|w| w[1].0 - w[0].0 >= 59.9));
    // A profile that overstates prefill throughput 10x keeps one prefill worker: TTFT suffers.
    let mut wrong = planner_spec(8);
    wrong.profile.prefill.prefill_thpt_per_gpu = vec![105_000.0, 109_000.0];
    let deployment = sim.deploy(&graph(1, 1, 1, 1)).unwrap();
    let slo = Some(Slo {
        ttft_ms: 500.0,
        itl_ms: 50.0,
    });
    let bad = sim.measure_planned(&deployment, &trace, &wrong, slo).unwrap();
    assert!(bad.replicas.iter().all(|r| r.1 == 1), "{:?}", bad.replicas);
    let goodput = |run: &Run| run.summary.value("goodput").unwrap();
    assert!(goodput(&bad) < goodput(&run), "{} vs {}", goodput(&bad), goodput(&run));
}

#[test]
fn planner_needs_a_graph_and_matching_tps() {
    let mut sim = fake_cluster("nominal");
    let trace = sinusoidal(&SinusoidSpec::single(10, 1.0, 2.0, 10.0, 128, 8, 3)).unwrap();
    let single = sim.deploy(&DeployRequest::DecodeOnly { tp: 1 }).unwrap();
    let error = sim
        .measure_planned(&single, &trace, &planner_spec(8), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("scales a graph"), "{error}");
    let other = sim.deploy(&graph(1, 1, 1, 2)).unwrap();
    let error = sim
        .measure_planned(&other, &trace, &planner_spec(8), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("differ from the deployment"), "{error}");
}

/// The optimize stage on the stand-in cluster with a planner fed `profile`: a slow wave of
/// 4-24 req/s over 1200 s, 60 s intervals, 16 GPUs.
fn optimize_with(profile: PlannerProfile, name: &str) -> crate::layout::OptimizationRecord {
    use crate::stage::optimize::{run_job, MethodPlannerArgs, PlannedJob};
    let mut spec = crate::spec::RunSpec::defaults();
    spec.search.gpu_budget = 16;
    spec.trace.second_class = None;
    spec.planner.adjustment_interval_s = Some(60.0);
    spec.planner.predictor = Some(LoadPredictor::Constant);
    let trace = sinusoidal(&SinusoidSpec::single(1200, 4.0, 24.0, 1200.0, 2048, 256, 5)).unwrap();
    let job = PlannedJob {
        subject: name.into(),
        prefill_tp: 1,
        decode_tp: 1,
        profile,
        args: MethodPlannerArgs::default(),
        dir: temp_dir(&format!("optimize-{name}")),
    };
    let mut sim = fake_cluster("nominal");
    run_job(&spec, &job, &trace, 1, &mut sim, &crate::stage::Quiet).unwrap()
}

fn scaled(mut profile: PlannerProfile, factor: f64) -> PlannerProfile {
    profile
        .prefill
        .prefill_thpt_per_gpu
        .iter_mut()
        .for_each(|v| *v *= factor);
    profile.decode.z_thpt_per_gpu.iter_mut().for_each(|v| *v *= factor);
    profile
}

/// The stand-in cluster's TP1 profile as the oracle measures it (Dynamo's sweeps).
fn measured_truth() -> PlannerProfile {
    let mut spec = crate::spec::RunSpec::defaults();
    (spec.search.prefill_tp, spec.search.decode_tp) = (vec![1], vec![1]);
    let results = crate::layout::ResultsDir::new(temp_dir("oracle-truth"));
    let factory = |_seed: u64| Ok(Box::new(fake_cluster("nominal")) as Box<dyn Backend>);
    let no_estimates = |_: &profcmp_plugin_api::EstimateQuery| {
        Err(profcmp_plugin_api::PluginError::new(
            "host",
            "no estimator on the stand-in cluster",
        ))
    };
    let measured =
        crate::stage::optimize::measured_profiles(&spec, &results, &factory, &no_estimates, &crate::stage::Quiet)
            .unwrap();
    PlannerProfile::new(measured.prefill[&1].clone(), measured.decode[&1].clone())
}

#[test]
fn the_optimize_verdict_follows_the_profile_the_planner_reads() {
    let truth = measured_truth();
    let right = optimize_with(truth.clone(), "right");
    let boastful = optimize_with(scaled(truth.clone(), 2.0), "boastful");
    let timid = optimize_with(scaled(truth, 0.5), "timid");
    // Overstating throughput 2x: the planner under-provisions and goodput drops measurably.
    assert!(
        boastful.goodput < 0.9 * right.goodput && boastful.avg_gpus < right.avg_gpus,
        "boastful {} req/s on {} GPUs vs right {} on {}",
        boastful.goodput,
        boastful.avg_gpus,
        right.goodput,
        right.avg_gpus
    );
    // Understating it 2x: the planner buys more GPUs. (It also buys goodput: Dynamo's planner
    // provisions throughput to the predicted demand, utilisation near 1, so headroom from a
    // timid profile shortens queues; docs/planner.md.)
    assert!(
        timid.avg_gpus > 1.3 * right.avg_gpus,
        "timid {} req/s on {} GPUs vs right {} on {}",
        timid.goodput,
        timid.avg_gpus,
        right.goodput,
        right.avg_gpus
    );
    // The warm start follows the profile too, and the cold start is recorded apart.
    let (rp, rd) = right.initial_replicas.unwrap();
    let (tp, td) = timid.initial_replicas.unwrap();
    assert!(
        tp + td > rp + rd,
        "{:?} vs {:?}",
        timid.initial_replicas,
        right.initial_replicas
    );
    let cold = right.cold_start.unwrap();
    assert!(cold.window_s == 180.0 && cold.replicas[0] == (0.0, 1, 1), "{cold:?}");
    assert_eq!(right.planner.unwrap().sources["adjustment_interval_s"], "flag");
}

/// TTFT p50 of one lone request at a time on `request` under `reality`.
fn lone_ttft(reality: Reality, request: DeployRequest) -> f64 {
    let mut sim = SimCluster::new(Box::new(Fake), 262_144, ServingBackend::Trtllm, reality, 1);
    let deployment = sim.deploy(&request).unwrap();
    let run = sim.measure(&deployment, &closed(1, 5, 1), None).unwrap();
    run.summary.p50("time_to_first_token").unwrap()
}

fn quiet(name: &str) -> Reality {
    Reality {
        jitter_sigma: 0.0,
        ..Reality::named(name).unwrap()
    }
}

#[test]
fn tp_factors_slow_only_their_tp() {
    let base = quiet("nominal");
    let slow_tp4 = Reality {
        prefill_tp_factors: [1.0, 1.5, 1.5],
        ..base.clone()
    };
    let prefill_ms = LinearStepTimes {
        kv_capacity_tokens: 0,
        max_batch: 1,
    }
    .prefill_ms(1, 2048)
    .unwrap();
    let at = |r: &Reality, tp| lone_ttft(r.clone(), DeployRequest::PrefillOnly { tp });
    assert!((at(&slow_tp4, 1) - at(&base, 1)).abs() < 1e-6, "TP1 untouched");
    let added = at(&slow_tp4, 4) - at(&base, 4);
    assert!(
        (added - 0.5 * prefill_ms).abs() < 0.5,
        "TP4 prefill 1.5x: +{added} ms of {prefill_ms}"
    );
}

#[test]
fn kv_send_time_follows_the_narrower_sides_links() {
    // A slow path (1 GB/s per link) makes the send dominate: 2048 x 256 KiB = 537 ms on one link.
    let slow = Reality {
        kv_bandwidth_gb_s: 1.0,
        kv_max_links: 8,
        ..quiet("nominal")
    };
    let one_link_ms = 2048.0 * 262_144.0 / 1e9 * 1e3;
    let ttft = |p, d| lone_ttft(slow.clone(), graph(1, p, 1, d));
    let (narrow, wide_prefill, both) = (ttft(1, 1), ttft(4, 1), ttft(4, 4));
    // Prefill TP4 alone: faster prefill, the send unchanged (the TP1 decode rank receives it all).
    assert!(narrow - wide_prefill < 0.5 * one_link_ms, "{narrow} vs {wide_prefill}");
    // Both at TP4: four links, three quarters of the send saved.
    let saved = wide_prefill - both;
    assert!(
        (saved / (0.75 * one_link_ms) - 1.0).abs() < 0.05,
        "saved {saved} ms of {one_link_ms}"
    );
    let single_path = Reality {
        kv_max_links: 1,
        ..slow.clone()
    };
    let ttft_single = lone_ttft(single_path, graph(1, 4, 1, 4));
    assert!(
        (ttft_single - wide_prefill).abs() < 0.05 * one_link_ms,
        "one path: no gain"
    );
}

#[test]
fn frontend_time_grows_with_the_prompt() {
    let base = quiet("nominal");
    let tokenizing = Reality {
        frontend_per_input_token_us: 10.0,
        ..base.clone()
    };
    let request = DeployRequest::PrefillOnly { tp: 1 };
    let added = lone_ttft(tokenizing, request) - lone_ttft(base, request);
    assert!(
        (added - 20.48).abs() < 1e-6,
        "10 us x 2048 tokens = 20.48 ms, got {added}"
    );
}

#[test]
fn copying_the_oracles_best_with_its_measured_profile_scores_zero_regret() {
    use crate::stage::optimize::{measured_profiles, oracle_candidates, run_job, MethodPlannerArgs, PlannedJob};
    let mut spec = crate::spec::RunSpec::defaults();
    (spec.search.prefill_tp, spec.search.decode_tp, spec.search.gpu_budget) = (vec![1, 2], vec![1, 2], 12);
    spec.trace.second_class = None;
    spec.planner.adjustment_interval_s = Some(60.0);
    let results = crate::layout::ResultsDir::new(temp_dir("zero-regret"));
    let factory = |_seed: u64| Ok(Box::new(fake_cluster("nominal")) as Box<dyn Backend>);
    let no_estimates = |_: &profcmp_plugin_api::EstimateQuery| {
        Err(profcmp_plugin_api::PluginError::new(
            "host",
            "no estimator on the stand-in cluster",
        ))
    };
    let measured = measured_profiles(&spec, &results, &factory, &no_estimates, &crate::stage::Quiet).unwrap();
    let trace = sinusoidal(&SinusoidSpec::single(600, 2.0, 12.0, 600.0, 2048, 256, 9)).unwrap();
    let job = |subject: String, (p, d): (u32, u32), dir: PathBuf| PlannedJob {
        subject,
        prefill_tp: p,
        decode_tp: d,
        profile: PlannerProfile::new(measured.prefill[&p].clone(), measured.decode[&d].clone()),
        args: MethodPlannerArgs::default(),
        dir,
    };
    let run =
        |j: PlannedJob| run_job(&spec, &j, &trace, 1, &mut fake_cluster("nominal"), &crate::stage::Quiet).unwrap();
    let oracle: Vec<((u32, u32), crate::layout::OptimizationRecord)> = oracle_candidates(&spec)
        .into_iter()
        .map(|c| {
            (
                c,
                run(job(format!("oracle {}x{}", c.0, c.1), c, results.oracle(c.0, c.1))),
            )
        })
        .collect();
    let best_by = |measure: fn(&crate::layout::OptimizationRecord) -> f64| {
        oracle
            .iter()
            .max_by(|a, b| measure(&a.1).total_cmp(&measure(&b.1)))
            .unwrap()
            .0
    };
    let by_goodput = best_by(|r| r.goodput);
    let by_cost = best_by(|r| r.goodput_per_gpu);
    run(job(
        "copy_goodput".into(),
        by_goodput,
        results.optimization("copy_goodput"),
    ));
    run(job("copy_cost".into(), by_cost, results.optimization("copy_cost")));
    // A graph the oracle ranks lower must show regret: the comparison tells them apart.
    let worst = oracle
        .iter()
        .min_by(|a, b| a.1.goodput_per_gpu.total_cmp(&b.1.goodput_per_gpu))
        .unwrap()
        .0;
    run(job("copy_worst".into(), worst, results.optimization("copy_worst")));
    let comparison = crate::stage::compare::compare(&results, &Default::default());
    let method = |name: &str| {
        comparison
            .methods
            .iter()
            .find(|m| m.method == name)
            .unwrap()
            .optimization
            .clone()
    };
    let mean = |s: Option<crate::report::Sample>| s.expect("a regret").mean;
    assert!(mean(method("copy_goodput").regret_pct).abs() < 1e-9);
    assert!(mean(method("copy_cost").cost_regret_pct).abs() < 1e-9);
    let worst = method("copy_worst").cost_regret_pct;
    assert!(mean(worst) > 5.0, "{worst:?}");
}

#[test]
fn identical_planner_jobs_replay_once_and_share_the_result() {
    use crate::stage::optimize::{run_jobs, MethodPlannerArgs, PlannedJob};
    let mut spec = crate::spec::RunSpec::defaults();
    spec.search.gpu_budget = 8;
    spec.trace.second_class = None;
    spec.planner.adjustment_interval_s = Some(60.0);
    let trace = sinusoidal(&SinusoidSpec::single(120, 1.0, 3.0, 120.0, 2048, 256, 4)).unwrap();
    let job = |name: &str, profile: PlannerProfile| PlannedJob {
        subject: name.into(),
        prefill_tp: 1,
        decode_tp: 1,
        profile,
        args: MethodPlannerArgs::default(),
        dir: temp_dir(&format!("dedup-{name}")),
    };
    let truth = planner_spec(8).profile;
    let jobs = [
        job("a", truth.clone()),
        job("b", truth.clone()),
        job("c", scaled(truth, 2.0)),
    ];
    let made = std::sync::atomic::AtomicUsize::new(0);
    let factory = |_seed: u64| {
        made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Box::new(fake_cluster("nominal")) as Box<dyn Backend>)
    };
    let out = run_jobs(&spec, &jobs, &trace, 1, 2, &factory, &crate::stage::Quiet);
    // Two distinct inputs, two replays; b gets a's record and files.
    assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 2);
    let (a, b) = (out[0].as_ref().unwrap(), out[1].as_ref().unwrap());
    assert_eq!(a, b);
    let read = |dir: &Path| std::fs::read(dir.join("optimization.json")).unwrap();
    assert_eq!(read(&jobs[0].dir), read(&jobs[1].dir));
    assert!(jobs[1].dir.join(crate::aiperf::SUMMARY_JSON).exists());
    assert_ne!(out[2].as_ref().unwrap().input_hash, a.input_hash);

    // The shortcuts change nothing: each job run alone, one at a time on its own cluster (the
    // unshared path), gives the same record and the same artifacts, byte for byte.
    for (i, shared) in out.iter().enumerate() {
        let alone = PlannedJob {
            dir: temp_dir(&format!("dedup-alone-{i}")),
            ..jobs[i].clone()
        };
        let mut cluster = fake_cluster("nominal");
        let record = crate::stage::optimize::run_job(&spec, &alone, &trace, 1, &mut cluster, &crate::stage::Quiet);
        assert_eq!(&record.unwrap(), shared.as_ref().unwrap(), "job {i}");
        for file in [
            "optimization.json",
            crate::aiperf::SUMMARY_JSON,
            crate::aiperf::RECORDS_JSONL,
        ] {
            let read = |dir: &Path| std::fs::read(dir.join(file)).unwrap();
            assert!(read(&alone.dir) == read(&jobs[i].dir), "job {i}: {file} differs");
        }
    }

    // A rerun whose profile was read back from disk (as the oracle's are) is recognised as
    // unchanged: no cluster is made.
    let reread: PlannerProfile = serde_json::from_str(&serde_json::to_string(&jobs[2].profile).unwrap()).unwrap();
    let rerun = PlannedJob {
        profile: reread,
        ..jobs[2].clone()
    };
    made.store(0, std::sync::atomic::Ordering::SeqCst);
    let again = run_jobs(&spec, &[rerun], &trace, 1, 2, &factory, &crate::stage::Quiet);
    assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(again[0].as_ref().unwrap(), out[2].as_ref().unwrap());
}
