//! Tests of the compare stage and its reports: the real 2026-01 NVIDIA run and a synthetic
//! results directory whose numbers are computed by hand.

use std::path::{Path, PathBuf};

use profcmp_plugin_api::{
    CostReport, DecodeProfile, LoadPrediction, Manifest, PlannerProfile, Prediction, PrefillProfile, ProfileRequest,
    ProfileResult, Role, SearchSpace, ServingBackend, Sla, WorkerConfig,
};
use serde_json::json;

use super::*;
use crate::layout::{write_json, Ledger};
use crate::report::{summary, write_reports, ConcurrencySource, MethodStatus};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("profcmp-compare-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes a test's directory unless PROFCMP_KEEP_TEST_OUTPUT is set (to look at the plots).
fn cleanup(dir: &Path) {
    if std::env::var_os("PROFCMP_KEEP_TEST_OUTPUT").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn fixture() -> ResultsDir {
    ResultsDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/dynamo-2026-01"))
}

#[test]
fn compares_the_real_2026_01_run() {
    let c = compare(&fixture(), &CompareOptions::default());
    let names: Vec<&str> = c.methods.iter().map(|m| m.method.as_str()).collect();
    assert_eq!(names, ["aic_all", "online_all"]);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("configs") && w.contains("not a method")),
        "{:?}",
        c.warnings
    );

    let online = &c.methods[1];
    assert_eq!(online.status, MethodStatus::Ok);
    assert_eq!(online.profile_source.as_deref(), Some("config_with_planner.yaml"));
    assert_eq!((online.prefill_tp, online.decode_tp), (Some(1), Some(1)));
    assert!(!online.cost.recorded && online.cost.gpu_hours.is_none());
    let idle = &online.levels[0];
    assert_eq!(
        (idle.concurrency, idle.concurrency_source),
        (1, ConcurrencySource::AiperfInputConfig)
    );
    // The closed-loop model at c=1: the profile's prefill (231.6 ms at ISL 2048) plus the first
    // decode step, no wait.
    let p = idle.predicted.unwrap();
    let predicted = p.ttft_ms.unwrap();
    assert!(close(predicted, 231.6 + p.itl_ms.unwrap(), 0.1), "{p:?}");
    assert_eq!(p.queue_ms, Some(0.0));
    assert!(close(idle.ttft_p50_ms.unwrap().mean, 1553.6, 0.1));
    let ttft_error = idle.error_pct.ttft_p50.unwrap().mean;
    assert!(close(ttft_error, (predicted - 1553.613) / 1553.613 * 100.0, 1e-3));
    for level in &online.levels {
        let itl = level.error_pct.itl_p50.unwrap().mean;
        assert!(itl.abs() < 10.0, "ITL error at {}: {itl}", level.level);
        assert_eq!(level.goodput.unwrap().mean, 0.0);
        // The profile never saw the 1.1 s serial KV send, so it predicts no wait at c <= 8 and
        // the measured queueing at saturation and overload is all error.
        assert_eq!(level.predicted.unwrap().queue_ms, Some(0.0), "{}", level.level);
    }
    assert!(online.levels[3].error_pct.ttft_p50.unwrap().mean < ttft_error - 5.0);
    assert_eq!(
        online.levels.iter().map(|l| l.concurrency).collect::<Vec<_>>(),
        [1, 4, 7, 8]
    );
    assert_eq!(online.optimization.seeds, 0);
    assert!(online.optimization.goodput.is_none() && online.optimization.regret_pct.is_none());
    assert!(online.notes.iter().any(|n| n == "optimization/: not measured"));

    let aic = &c.methods[0];
    assert_eq!((aic.prefill_tp, aic.decode_tp), (Some(1), Some(2)));
    assert!(aic.notes.iter().any(|n| n == "validation/: not measured"));
    assert!(aic
        .levels
        .iter()
        .all(|l| l.seeds == 0 && l.ttft_p50_ms.is_none() && l.error_pct.ttft_p50.is_none()));
    assert_eq!(aic.levels[2].concurrency_source, ConcurrencySource::OtherMethod);
    let p = aic.levels[0].predicted.unwrap();
    assert!(close(p.ttft_ms.unwrap() - p.itl_ms.unwrap(), 197.2, 0.1), "{p:?}");
    assert_eq!(c.recommendations.most_accurate.as_deref(), Some("online_all"));
    assert_eq!(c.recommendations.cheapest, None);
    assert!(c.oracle.is_none());

    let text = summary::render(&c);
    assert!(text.contains("online_all  idle"), "{text}");
    assert!(
        text.contains(&format!("{ttft_error:+.1}")) || text.contains(&format!("{ttft_error:.1}")),
        "{text}"
    );
    assert!(text.contains("aic_all     not recorded"), "{text}");
    assert!(text.contains("oracle: none"), "{text}");
    let mean = online.mean_abs_error_pct.unwrap();
    let line = format!("- most accurate predictions: online_all (mean |error| {mean:.1} % over p50 TTFT and ITL; the only method measured)");
    assert!(text.contains(&line), "{text}");

    let out = temp_dir("fixture");
    let written = write_reports(&c, &out).unwrap();
    assert_eq!(written.len(), 11);
    assert!(written.iter().any(|p| p.ends_with(crate::report::html::FILE_NAME)));
    check_plots(&out);
    cleanup(&out);
}

fn check_plots(dir: &Path) {
    for stem in crate::report::plot::PLOTS {
        let png = std::fs::read(dir.join(format!("{stem}.png"))).unwrap();
        assert!(png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "{stem}.png");
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{stem}.svg");
    }
}

fn profile_data() -> PlannerProfile {
    PlannerProfile::new(
        PrefillProfile::new(vec![1000.0, 3000.0], vec![100.0, 300.0], vec![10000.0, 10000.0]),
        // One context row at 2048 + 256/2 = 2176; kv usage = concurrency x 0.1.
        DecodeProfile::new(
            vec![0.1, 0.9],
            vec![2176.0, 2176.0],
            vec![10.0, 50.0],
            vec![100.0, 800.0],
            21760,
        ),
    )
}

fn record(
    name: &str,
    ledger: Ledger,
    own: Option<CostReport>,
    explicit: Vec<LoadPrediction>,
    error: Option<&str>,
) -> ProfileRecord {
    let sla = Sla::new(2048, 256, 500.0, 50.0);
    let worker = WorkerConfig::new(1, 1);
    let result = ProfileResult::new(worker, worker, Prediction::new(204.8, 10.0, 1.0, 1.0), profile_data())
        .with_load_predictions(explicit);
    ProfileRecord {
        schema_version: 1,
        manifest: Manifest::new(name, "0.1.0", "test", Role::Experimental).with_api_version("0.1.0"),
        request: ProfileRequest::new(
            "Qwen/Qwen3-32B",
            "h200_sxm",
            ServingBackend::Trtllm,
            sla,
            SearchSpace::new(vec![1, 2], vec![1, 2], 8),
        )
        .with_seed(1)
        .with_options(json!({})),
        input_hash: "h".into(),
        result: error.is_none().then_some(result),
        error: error.map(str::to_string),
        ledger,
        method_cost: own,
    }
}

/// An AIPerf summary in the older layout, with the concurrency in input_config.
fn summary_json(dir: &Path, ttft: (f64, f64), itl: (f64, f64), goodput: f64, good: f64, concurrency: u32) {
    let text = json!({
        "time_to_first_token": {"unit": "ms", "avg": ttft.0, "p50": ttft.0, "p99": ttft.1},
        "inter_token_latency": {"unit": "ms", "avg": itl.0, "p50": itl.0, "p99": itl.1},
        "goodput": {"unit": "requests/sec", "avg": goodput},
        "good_request_count": {"unit": "requests", "avg": good},
        "request_count": {"unit": "requests", "avg": 100.0},
        "error_request_count": null,
        "input_config": {"loadgen": {"concurrency": concurrency, "request_count": 100}},
    });
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(SUMMARY_JSON), text.to_string()).unwrap();
}

fn validation_json(dir: &Path, level: &str, concurrency: u32) {
    let r = ValidationRecord {
        level: level.into(),
        concurrency,
        requests: 100,
        seed: 1,
        input_hash: "h".into(),
    };
    write_json(&dir.join("validation.json"), &r).unwrap();
}

fn optimization_json(dir: &Path, goodput: f64, avg_gpus: f64, hit: f64) {
    let r = OptimizationRecord {
        prefill_tp: 1,
        decode_tp: 1,
        avg_gpus,
        goodput,
        goodput_per_gpu: goodput / avg_gpus,
        sla_hit_rate: hit,
        replicas: vec![(0.0, 1, 1)],
        seed: 1,
        input_hash: "h".into(),
        planner: None,
        initial_replicas: None,
        cold_start: None,
    };
    write_json(&dir.join("optimization.json"), &r).unwrap();
}

/// alpha: metered, one seed per level, two optimization seeds; beta: cheap, explicit idle
/// prediction, three idle seeds (the first in the level dir itself, as the validate stage writes it), a corrupt validation.json, a cost mismatch; gamma: failed;
/// delta: corrupt profile.json; oracle: 1x1 (goodput 10, optimization.json) and 1x2 (9, summary only).
fn synthetic(root: &Path) -> ResultsDir {
    let results = ResultsDir::new(root);
    let ledger = |duration_s, gpu_hours, deployments, estimate_calls| Ledger {
        duration_s,
        cpu_s: 5.0,
        gpu_hours,
        deployments,
        estimate_calls,
        leaked_deployments: 0,
        ..Ledger::default()
    };
    let own = |duration_s, gpu_hours, deployments, estimate_calls| {
        CostReport::new(duration_s, gpu_hours, deployments, estimate_calls).with_details(json!(null))
    };
    let alpha = record(
        "alpha",
        ledger(1800.0, 2.0, 10, 0),
        Some(own(1800.0, 2.0, 10, 0)),
        vec![],
        None,
    );
    write_json(&results.profile_json("alpha"), &alpha).unwrap();
    let idle = results.validation("alpha", "idle");
    summary_json(&idle, (256.0, 512.0), (10.0, 12.5), 1.0, 100.0, 1);
    validation_json(&idle, "idle", 1);
    let medium = results.validation("alpha", "medium");
    summary_json(&medium, (204.8, 409.6), (20.0, 25.0), 2.0, 50.0, 4);
    validation_json(&medium, "medium", 4);
    for (k, goodput) in [(1, 8.0), (2, 8.2)] {
        let dir = results.optimization("alpha").join(format!("seed-{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        optimization_json(&dir, goodput, 4.0, 0.8);
    }

    let explicit = vec![LoadPrediction::new(1, 100.0, 20.0)];
    let beta = record(
        "beta",
        ledger(30.0, 0.0, 0, 100),
        Some(own(30.0, 0.0, 1, 100)),
        explicit,
        None,
    );
    write_json(&results.profile_json("beta"), &beta).unwrap();
    for (k, ttft) in [(0, 90.0), (1, 100.0), (2, 110.0)] {
        let idle = results.validation("beta", "idle");
        let dir = if k == 0 { idle } else { idle.join(format!("seed-{k}")) };
        summary_json(&dir, (ttft, 2.0 * ttft), (20.0, 20.0), 1.0, 100.0, 1);
        validation_json(&dir, "idle", 1);
    }
    let medium = results.validation("beta", "medium");
    summary_json(&medium, (204.8, 204.8), (25.0, 25.0), 2.0, 100.0, 4);
    std::fs::write(
        medium.join("validation.json"),
        "{\"level\": \"medium\", \"concurrency\": ",
    )
    .unwrap();
    for (k, goodput) in [(0, 6.0), (1, 7.0)] {
        let opt = results.optimization("beta");
        let dir = if k == 0 { opt } else { opt.join(format!("seed-{k}")) };
        std::fs::create_dir_all(&dir).unwrap();
        optimization_json(&dir, goodput, 2.0, 0.6);
    }

    let gamma = record(
        "gamma",
        ledger(60.0, 0.5, 2, 0),
        None,
        vec![],
        Some("estimator crashed"),
    );
    write_json(&results.profile_json("gamma"), &gamma).unwrap();

    std::fs::create_dir_all(results.method("delta")).unwrap();
    std::fs::write(results.profile_json("delta"), "{ not json").unwrap();

    let one = results.oracle(1, 1);
    std::fs::create_dir_all(&one).unwrap();
    optimization_json(&one, 10.0, 4.0, 0.9);
    summary_json(&results.oracle(1, 2), (100.0, 200.0), (10.0, 20.0), 9.0, 90.0, 0);
    results
}

fn synthetic_options() -> CompareOptions {
    CompareOptions {
        default_concurrency: [1, 4, 8, 9],
        ..CompareOptions::default()
    }
}

#[test]
fn compares_a_synthetic_results_dir_by_hand() {
    let root = temp_dir("synthetic");
    let c = compare(&synthetic(&root), &synthetic_options());
    let by_name = |n: &str| c.methods.iter().find(|m| m.method == n).unwrap();

    // Warnings: one per corrupt file, each naming it.
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings.iter().any(|w| w.contains("delta/profile.json")));
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("beta/validation/medium/validation.json")));

    // alpha, by the closed-loop model: prefill T = 204.8 ms (TTFT at ISL 2048), served one at a
    // time in 2048 / 10000 s = 204.8 ms; ITL(n) = 5 + 5 n within kv usage 0.1-0.9 (0.1 per
    // sequence), 10 ms below; a request spends 256 ITL in decode.
    let alpha = by_name("alpha");
    assert_eq!(alpha.status, MethodStatus::Ok);
    let idle = &alpha.levels[0];
    assert_eq!(
        (idle.concurrency, idle.concurrency_source),
        (1, ConcurrencySource::ValidationJson)
    );
    // c = 1: batch 2560 / 2764.8 < 1, ITL 10, TTFT 204.8 + 10 against 256 and 512 measured.
    let p = idle.predicted.unwrap();
    assert!(close(p.decode_batch.unwrap(), 2560.0 / 2764.8, 1e-9) && close(p.itl_ms.unwrap(), 10.0, 1e-9));
    let idle_ttft = (214.8 - 256.0) / 256.0 * 100.0;
    assert!(close(idle.error_pct.ttft_p50.unwrap().mean, idle_ttft, 1e-9));
    assert!(close(
        idle.error_pct.ttft_p99.unwrap().mean,
        (214.8 - 512.0) / 512.0 * 100.0,
        1e-9
    ));
    assert!(close(idle.error_pct.itl_p50.unwrap().mean, 0.0, 1e-9));
    assert!(close(idle.error_pct.itl_p99.unwrap().mean, -20.0, 1e-9));
    assert!(idle.error_pct.ttft_p50.unwrap().ci95.is_none());
    // c = 4, no wait: n (204.8 + 1280 + 1280 n) = 4 x 1280 (1 + n), the root of
    // 1280 n^2 - 3635.2 n - 5120 = 0.
    let n = (3635.2 + (3635.2f64.powi(2) + 4.0 * 1280.0 * 5120.0).sqrt()) / 2560.0;
    let medium = &alpha.levels[1];
    let p = medium.predicted.unwrap();
    assert!(
        close(p.decode_batch.unwrap(), n, 1e-6) && p.queue_ms == Some(0.0),
        "{p:?}"
    );
    let (itl, ttft) = (5.0 + 5.0 * n, 204.8 + 5.0 + 5.0 * n);
    assert!(close(p.itl_ms.unwrap(), itl, 1e-6) && close(p.ttft_ms.unwrap(), ttft, 1e-6));
    let medium_ttft = (ttft - 204.8) / 204.8 * 100.0;
    let medium_itl = (itl - 20.0) / 20.0 * 100.0;
    assert!(close(medium.error_pct.ttft_p50.unwrap().mean, medium_ttft, 1e-6));
    assert!(close(medium.error_pct.itl_p50.unwrap().mean, medium_itl, 1e-6));
    assert!(close(medium.sla_hit_rate.unwrap().mean, 0.5, 1e-12));
    let saturation = &alpha.levels[2];
    assert_eq!((saturation.concurrency, saturation.seeds), (8, 0));
    assert!(saturation.ttft_p50_ms.is_none() && saturation.error_pct.itl_p50.is_none());
    // c = 9: still below N* (the prefill worker could take 1 / 204.8 ms), Little's law holds.
    let p = alpha.levels[3].predicted.unwrap();
    let (batch, itl) = (p.decode_batch.unwrap(), p.itl_ms.unwrap());
    assert!(close(itl, 5.0 + 5.0 * batch, 1e-6) && close(batch * (204.8 + 256.0 * itl), 9.0 * 256.0 * itl, 1e-3));
    assert!(alpha.notes.iter().any(|n| n == "validation/saturation/: not measured"));
    assert!(close(
        alpha.mean_abs_error_pct.unwrap(),
        (idle_ttft.abs() + 0.0 + medium_ttft.abs() + medium_itl.abs()) / 4.0,
        1e-6
    ));
    assert_eq!(alpha.cost.mismatch, Some(false));
    assert_eq!(alpha.cost.gpu_hours, Some(2.0));

    // Regret against the oracle's best (1x1, goodput 10): alpha seeds 8 and 8.2 -> 20 % and 18 %.
    let oracle = c.oracle.as_ref().unwrap();
    assert_eq!((oracle.best.as_deref(), oracle.best_goodput), (Some("1x1"), Some(10.0)));
    assert_eq!(oracle.candidates.len(), 2);
    assert_eq!(oracle.candidates[1].optimization.goodput.unwrap().mean, 9.0);
    assert_eq!(oracle.candidates[1].optimization.decode_tp, Some(2));
    assert_eq!(oracle.candidates[0].optimization.regret_pct.unwrap().mean, 0.0);
    assert!(close(
        oracle.candidates[1].optimization.regret_pct.unwrap().mean,
        10.0,
        1e-9
    ));
    let regret = alpha.optimization.regret_pct.unwrap();
    assert!(close(regret.mean, 19.0, 1e-9));
    // Two seeds: the bootstrap interval is their [min, max] (regret never above 100 %).
    let ci = regret.ci95.unwrap();
    assert!(close(ci[0], 18.0, 1e-9) && close(ci[1], 20.0, 1e-9), "{ci:?}");
    // Cost-aware regret: the oracle's best per GPU is 1x1 (10 req/s on 4 GPUs = 2.5; 1x2 has no
    // GPU count); alpha's 2.0 and 2.05 per GPU are 20 % and 18 % short of it.
    assert_eq!(
        (oracle.best_per_gpu.as_deref(), oracle.best_goodput_per_gpu),
        (Some("1x1"), Some(2.5))
    );
    assert!(close(alpha.optimization.cost_regret_pct.unwrap().mean, 19.0, 1e-9));
    assert!(oracle.candidates[1].optimization.cost_regret_pct.is_none());
    assert_eq!(oracle.candidates[0].optimization.cost_regret_pct.unwrap().mean, 0.0);
    assert!(close(alpha.optimization.goodput_per_gpu.unwrap().mean, 2.025, 1e-9));

    // beta: explicit idle prediction (100 ms, 20 ms) against 3 seeds of 90/100/110 ms.
    let beta = by_name("beta");
    let idle = &beta.levels[0];
    assert_eq!(idle.seeds, 3);
    assert_eq!(
        idle.predicted.unwrap().source,
        crate::predict::PredictionSource::Explicit
    );
    let errors = [(100.0 - 90.0) / 90.0 * 100.0, 0.0, (100.0 - 110.0) / 110.0 * 100.0];
    let e = idle.error_pct.ttft_p50.unwrap();
    assert!(close(e.mean, errors.iter().sum::<f64>() / 3.0, 1e-9));
    assert!(e.ci95.is_some());
    assert_eq!(beta.levels[1].concurrency_source, ConcurrencySource::AiperfInputConfig);
    assert!(close(beta.optimization.regret_pct.unwrap().mean, 35.0, 1e-9));
    // beta serves 3 and 3.5 req/s per GPU, more than the oracle's best: negative cost-aware regret.
    assert!(close(beta.optimization.cost_regret_pct.unwrap().mean, -30.0, 1e-9));
    assert_eq!(beta.cost.mismatch, Some(true));
    assert!(beta.cost.mismatches[0].contains("deployments: metered 0, reported 1"));

    // gamma failed with its error; delta has no profile data.
    let gamma = by_name("gamma");
    assert_eq!(
        (gamma.status, gamma.error.as_deref()),
        (MethodStatus::Failed, Some("estimator crashed"))
    );
    assert_eq!(gamma.cost.gpu_hours, Some(0.5));
    assert_eq!(by_name("delta").status, MethodStatus::NoProfile);
    assert!(by_name("delta").levels.iter().all(|l| l.predicted.is_none()));

    // alpha ran seeds 1 and 2, beta seeds 0 and 1: one seed in common, so no paired verdict,
    // but beta's difference to the best goodput (alpha) on seed 1 is 7 - 8.
    assert!(
        c.verdicts.iter().all(|v| !v.metric.starts_with("goodput")),
        "{:?}",
        c.verdicts
    );
    let vs = beta.optimization.goodput_vs_best.as_ref().unwrap();
    assert_eq!((vs.best.as_str(), vs.difference.seeds), ("alpha", 1));
    assert_eq!(
        (vs.difference.mean_difference, vs.difference.verdict.as_deref()),
        (-1.0, None)
    );
    assert!(alpha.optimization.goodput_vs_best.is_none());
    let vs = alpha.optimization.goodput_per_gpu_vs_best.as_ref().unwrap();
    assert_eq!((vs.best.as_str(), vs.difference.mean_difference), ("beta", 2.0 - 3.5));
    assert_eq!(
        alpha.optimization.per_seed.iter().map(|s| s.seed).collect::<Vec<_>>(),
        [1, 2]
    );

    let r = &c.recommendations;
    assert_eq!(r.cheapest.as_deref(), Some("beta"));
    assert_eq!(r.most_accurate.as_deref(), Some("beta"));
    assert_eq!(r.best_goodput.as_deref(), Some("alpha"));
    assert_eq!(r.best_configuration.as_deref(), Some("beta"));
    // On cost-aware regret beta (0 GPU-h, -30 %) dominates alpha (2 GPU-h, 19 %).
    assert_eq!(r.pareto_regret.as_deref(), Some("cost_aware"));
    assert_eq!(r.pareto_front, ["beta"]);
    assert_eq!(r.best_tradeoff.as_deref(), Some("beta"));

    let text = summary::render(&c);
    for line in [
        "== Cost (host-metered; the method's own report beside it) ==",
        "MISMATCH: deployments: metered 0, reported 1",
        "gamma   FAILED",
        "error: estimator crashed",
        "alpha   idle        1            214.8         256.0                -16.1",
        "delta: no predictions, not measured",
        "oracle: best on goodput 1x1 at 10.000 req/s; best on goodput/GPU 1x1 at 2.500 req/s/GPU",
        "- cheapest to run: beta (0.000 GPU-hours, 30.0 s)",
        "- best configuration (lowest cost-aware regret: goodput per GPU against the oracle's best on that measure): beta (cost-aware regret -30.0 [",
        "- highest goodput (lowest goodput regret): alpha (goodput regret 19.0 [",
        "- best trade-off of GPU-hours and cost-aware regret: beta (Pareto front, cheapest first: beta)",
        "beta    goodput      alpha  1      -1.000",
        "== Warnings (2) ==",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }

    let out = root.join("comparison");
    let written = write_reports(&c, &out).unwrap();
    assert!(written.iter().any(|p| p.ends_with("comparison_results.json")));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison_results.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 2);
    assert!(json["methods"][0]["levels"][2]["ttft_p50_ms"].is_null());
    check_plots(&out);
    cleanup(&root);
}

#[test]
fn restricts_to_the_requested_methods_and_survives_a_missing_dir() {
    let root = temp_dir("restrict");
    let results = synthetic(&root);
    let options = CompareOptions {
        methods: Some(vec!["beta".into()]),
        ..synthetic_options()
    };
    let c = compare(&results, &options);
    assert_eq!(c.methods.len(), 1);
    assert_eq!(c.recommendations.pareto_front, ["beta"]);
    let missing = compare(&ResultsDir::new(root.join("nowhere")), &options);
    assert!(missing.methods.is_empty());
    assert!(missing.warnings[0].contains("nowhere"), "{:?}", missing.warnings);
    cleanup(&root);
}

/// One seed of a planner-in-the-loop run under `dir` (seed 0 in `dir` itself, k in `seed-<k>/`,
/// as the run stage writes them): optimization.json and an AIPerf summary with request counts.
fn optimization_seed(dir: &Path, seed: u32, goodput: f64, avg_gpus: f64, good: f64, requests: f64) {
    let dir = if seed == 0 {
        dir.to_path_buf()
    } else {
        dir.join(format!("seed-{seed}"))
    };
    std::fs::create_dir_all(&dir).unwrap();
    optimization_json(&dir, goodput, avg_gpus, good / requests);
    let summary = json!({
        "goodput": {"unit": "requests/sec", "avg": goodput},
        "good_request_count": {"unit": "requests", "avg": good},
        "request_count": {"unit": "requests", "avg": requests},
    });
    std::fs::write(dir.join(SUMMARY_JSON), summary.to_string()).unwrap();
}

const SEED_GOODPUTS: [f64; 3] = [10.0, 10.5, 9.5];

#[test]
fn cost_aware_regret_counts_the_gpus_a_config_costs() {
    let root = temp_dir("cost-aware");
    let results = ResultsDir::new(&root);
    // Oracle: 1x1 serves the trace on 4 GPUs, 2x2 serves it equally well on 8.
    for (seed, g) in SEED_GOODPUTS.iter().enumerate() {
        optimization_seed(&results.oracle(1, 1), seed as u32, *g, 4.0, 900.0, 1000.0);
        optimization_seed(&results.oracle(2, 2), seed as u32, *g, 8.0, 900.0, 1000.0);
        // "lean" picked the oracle's best; "double" gets the same goodput with twice the GPUs.
        optimization_seed(&results.optimization("lean"), seed as u32, *g, 4.0, 900.0, 1000.0);
        optimization_seed(&results.optimization("double"), seed as u32, *g, 8.0, 900.0, 1000.0);
    }
    let c = compare(&results, &CompareOptions::default());
    let by_name = |n: &str| &c.methods.iter().find(|m| m.method == n).unwrap().optimization;
    let (lean, double) = (by_name("lean"), by_name("double"));
    for o in [lean, double] {
        assert!(close(o.regret_pct.unwrap().mean, 0.0, 1e-9), "{o:?}");
    }
    assert!(close(lean.cost_regret_pct.unwrap().mean, 0.0, 1e-9));
    assert!(close(double.cost_regret_pct.unwrap().mean, 50.0, 1e-9));
    // Per seed, against the oracle's best on the same seed (the same trace): exactly 50 % and 0 %,
    // although the seeds' goodputs differ by 10 %.
    for seed in &double.per_seed {
        assert!(close(seed.cost_regret_pct.unwrap(), 50.0, 1e-9) && close(seed.regret_pct.unwrap(), 0.0, 1e-9));
    }
    assert_eq!(double.cost_regret_pct.unwrap().ci95, Some([50.0, 50.0]));

    // The oracle records both measures per candidate and names both bests.
    let oracle = c.oracle.as_ref().unwrap();
    assert_eq!(
        (oracle.best_per_gpu.as_deref(), oracle.best_goodput_per_gpu),
        (Some("1x1"), Some(2.5))
    );
    let big = &oracle.candidates.iter().find(|k| k.name == "2x2").unwrap().optimization;
    assert!(close(big.goodput_per_gpu.unwrap().mean, 1.25, 1e-9));
    assert!(close(big.regret_pct.unwrap().mean, 0.0, 1e-9) && close(big.cost_regret_pct.unwrap().mean, 50.0, 1e-9));

    // Paired: same goodput on every seed (not distinguishable, p = 1), half the goodput per GPU
    // on every seed (distinguishable).
    let verdict = |metric: &str| c.verdicts.iter().find(|v| v.metric == metric).unwrap();
    assert_eq!(verdict("goodput").verdict, "not distinguishable");
    assert_eq!(verdict("goodput").difference.p_value, Some(1.0));
    assert_eq!(verdict("goodput_per_gpu").verdict, "distinguishable");
    assert_eq!(c.recommendations.best_configuration.as_deref(), Some("lean"));
    let text = summary::render(&c);
    assert!(
        text.contains("- best configuration (lowest cost-aware regret: goodput per GPU against the oracle's best on that measure): lean (cost-aware regret 0.0 ["),
        "{text}"
    );

    // Metamorphic: give "double" the lean GPU count and its cost-aware regret drops to ~0 while
    // its goodput regret does not move.
    for (seed, g) in SEED_GOODPUTS.iter().enumerate() {
        optimization_seed(&results.optimization("double"), seed as u32, *g, 4.0, 900.0, 1000.0);
    }
    let again = compare(&results, &CompareOptions::default());
    let double2 = &again
        .methods
        .iter()
        .find(|m| m.method == "double")
        .unwrap()
        .optimization;
    assert!(close(double2.cost_regret_pct.unwrap().mean, 0.0, 1e-9));
    assert_eq!(double2.regret_pct, double.regret_pct);
    let out = root.join("comparison");
    write_reports(&c, &out).unwrap();
    check_plots(&out);
    cleanup(&root);
}

#[test]
fn a_consistent_small_difference_is_distinguishable_paired_and_not_when_unpaired() {
    let root = temp_dir("paired");
    let results = ResultsDir::new(&root);
    let base = [10.0, 14.0, 8.0, 12.0, 11.0];
    let edge = [0.30, 0.35, 0.28, 0.33, 0.31];
    let write = |name: &str, values: &[f64]| {
        for (seed, g) in values.iter().enumerate() {
            optimization_seed(&results.optimization(name), seed as u32, *g, 2.0, 500.0, 1000.0);
        }
    };
    write("steady", &base);
    let better: Vec<f64> = base.iter().zip(edge).map(|(g, d)| g + d).collect();
    write("better", &better);
    let c = compare(&results, &CompareOptions::default());
    let goodput = |c: &Comparison, n: &str| {
        c.methods
            .iter()
            .find(|m| m.method == n)
            .unwrap()
            .optimization
            .goodput
            .unwrap()
    };
    let (a, b) = (goodput(&c, "better"), goodput(&c, "steady"));
    assert_eq!(a.overlaps(&b), Some(true), "{a:?} {b:?}");
    let v = c.verdicts.iter().find(|v| v.metric == "goodput").unwrap();
    assert_eq!(
        (v.a.as_str(), v.b.as_str(), v.verdict.as_str()),
        ("better", "steady", "distinguishable")
    );
    assert!(close(v.difference.mean_difference, 0.314, 1e-9) && v.difference.seeds == 5);
    assert!(
        summary::render(&c).contains("- highest goodput (lowest goodput regret): better (goodput 11.314 ["),
        "{}",
        summary::render(&c)
    );
    let steady = &c.methods.iter().find(|m| m.method == "steady").unwrap().optimization;
    let vs = steady.goodput_vs_best.as_ref().unwrap();
    assert_eq!(
        (vs.best.as_str(), vs.difference.verdict.as_deref()),
        ("better", Some("distinguishable"))
    );

    // Metamorphic: the same values on other seeds (rotated) leave each method's own summary as it
    // was, but break the pairing: the verdict must turn to "not distinguishable".
    let mut rotated = better.clone();
    rotated.rotate_left(1);
    write("better", &rotated);
    let again = compare(&results, &CompareOptions::default());
    assert_eq!(goodput(&again, "better"), a);
    let v = again.verdicts.iter().find(|v| v.metric == "goodput").unwrap();
    assert_eq!(v.verdict, "not distinguishable", "{v:?}");
    let text = summary::render(&again);
    assert!(
        text.contains("req/s; no oracle; not distinguishable (paired t-test) from steady)"),
        "{text}"
    );
    cleanup(&root);
}

#[test]
fn three_seeds_never_report_negative_goodput_or_sla_hit_bounds() {
    let root = temp_dir("k3");
    let results = ResultsDir::new(&root);
    // Issue 15's case: goodput 0, 0, 0.2 req/s and SLA hit 0 %, 0 %, 4 % over three seeds.
    let goodputs = [0.0, 0.0, 0.2];
    let good = [0.0, 0.0, 40.0];
    assert!(
        crate::stats::t_interval(&goodputs).unwrap()[0] < 0.0,
        "a t-interval would go below 0"
    );
    for seed in 0..3 {
        optimization_seed(
            &results.optimization("m"),
            seed as u32,
            goodputs[seed],
            2.0,
            good[seed],
            1000.0,
        );
        let idle = results.validation("m", "idle");
        let dir = if seed == 0 {
            idle
        } else {
            idle.join(format!("seed-{seed}"))
        };
        summary_json(
            &dir,
            (900.0, 2000.0),
            (20.0, 30.0),
            goodputs[seed],
            good[seed] / 10.0,
            1,
        );
        optimization_seed(&results.oracle(1, 1), seed as u32, 1.0, 2.0, 800.0, 1000.0);
    }
    let c = compare(&results, &CompareOptions::default());
    let m = &c.methods[0];
    let o = &m.optimization;
    let idle = &m.levels[0];
    let in_range = |s: Option<Sample>, hi: f64, what: &str| {
        let s = s.unwrap_or_else(|| panic!("{what}: no sample"));
        let [a, b] = s.ci95.unwrap_or_else(|| panic!("{what}: no interval"));
        assert!(0.0 <= a && a <= s.mean && s.mean <= b && b <= hi, "{what}: {s:?}");
    };
    in_range(o.goodput, f64::INFINITY, "optimization goodput");
    in_range(o.goodput_per_gpu, f64::INFINITY, "goodput per GPU");
    in_range(o.avg_gpus, f64::INFINITY, "GPUs");
    in_range(o.sla_hit_rate, 1.0, "optimization SLA hit");
    in_range(idle.goodput, f64::INFINITY, "idle goodput");
    in_range(idle.sla_hit_rate, 1.0, "idle SLA hit");
    // Regret against an oracle at 1 req/s: 100, 100, 80 %; its interval must not pass 100 %.
    let regret = o.regret_pct.unwrap();
    assert!(
        close(regret.mean, 280.0 / 3.0, 1e-9) && regret.ci95.unwrap()[1] <= 100.0,
        "{regret:?}"
    );
    assert_eq!(
        o.sla_hit_rate.unwrap().ci95_method,
        Some(crate::report::IntervalMethod::Wilson)
    );
    assert!(
        summary::render(&c).contains("0.067 [0.000, 0.200]"),
        "{}",
        summary::render(&c)
    );
    cleanup(&root);
}

#[test]
fn the_planner_that_ran_and_the_cold_start_cost_are_reported() {
    let root = temp_dir("cold-start");
    let results = ResultsDir::new(&root);
    for (seed, (hit, misses, settle)) in [(0.5, 50, Some(200.0)), (0.7, 30, None)].into_iter().enumerate() {
        let dir = results.optimization("m");
        let dir = if seed == 0 {
            dir
        } else {
            dir.join(format!("seed-{seed}"))
        };
        std::fs::create_dir_all(&dir).unwrap();
        let record = OptimizationRecord {
            prefill_tp: 1,
            decode_tp: 2,
            avg_gpus: 4.0,
            goodput: 2.0,
            goodput_per_gpu: 0.5,
            sla_hit_rate: 0.9,
            replicas: vec![(0.0, 2, 1)],
            seed: seed as u64,
            input_hash: "h".into(),
            planner: Some(crate::layout::PlannerRan {
                dynamo_version: "1.6".into(),
                adjustment_interval_s: 180.0,
                predictor: "constant".into(),
                window_size: 50,
                gpu_budget: 8,
                min_endpoint: 1,
                headroom: 1.0,
                sources: Default::default(),
            }),
            initial_replicas: Some((2, 1)),
            cold_start: Some(crate::layout::ColdStart {
                window_s: 540.0,
                sla_hit_rate: hit,
                sla_misses: misses,
                settle_s: settle,
                replicas: vec![(0.0, 1, 1), (190.0, 2, 1)],
            }),
        };
        write_json(&dir.join("optimization.json"), &record).unwrap();
    }
    let c = compare(&results, &CompareOptions::default());
    let o = &c.methods[0].optimization;
    assert_eq!(o.planner.as_ref().map(|p| p.dynamo_version.as_str()), Some("1.6"));
    assert!(close(o.cold_start_sla_hit_rate.unwrap().mean, 0.6, 1e-12));
    assert_eq!(o.cold_start_sla_hit_rate.unwrap().ci95, Some([0.5, 0.7]));
    // One seed settled (200 s), the other did not: the sample has one value and the count says so.
    assert_eq!(
        (o.cold_start_settle_s.unwrap().mean, o.cold_start_settle_s.unwrap().n),
        (200.0, 1)
    );
    assert_eq!(o.cold_start_unsettled, 1);
    assert_eq!(o.per_seed[1].cold_start_sla_misses, Some(30));
    let text = summary::render(&c);
    assert!(
        text.contains("m       Dynamo 1.6, constant, 180 s, budget 8  2P + 1D     60.0 [50.0, 70.0]     40          200 (1 seeds not settled)"),
        "{text}"
    );
    cleanup(&root);
}
