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
    let predicted = idle.predicted.unwrap().ttft_ms.unwrap();
    assert!(close(predicted, 231.6, 0.1), "{predicted}");
    assert!(close(idle.ttft_p50_ms.unwrap().mean, 1553.6, 0.1));
    let ttft_error = idle.error_pct.ttft_p50.unwrap().mean;
    assert!(close(ttft_error, (predicted - 1553.613) / 1553.613 * 100.0, 1e-3) && close(ttft_error, -85.1, 0.2));
    for level in &online.levels {
        let itl = level.error_pct.itl_p50.unwrap().mean;
        assert!(itl.abs() < 10.0, "ITL error at {}: {itl}", level.level);
        assert_eq!(level.goodput.unwrap().mean, 0.0);
    }
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
    assert!(close(aic.levels[0].predicted.unwrap().ttft_ms.unwrap(), 197.2, 0.1));
    assert_eq!(c.recommendations.most_accurate.as_deref(), Some("online_all"));
    assert_eq!(c.recommendations.cheapest, None);
    assert!(c.oracle.is_none());

    let text = summary::render(&c);
    assert!(text.contains("online_all  idle"), "{text}");
    assert!(text.contains("-85.1"), "{text}");
    assert!(text.contains("aic_all     not recorded"), "{text}");
    assert!(text.contains("oracle: none"), "{text}");
    assert!(text.contains("- most accurate predictions: online_all (mean |error| 45.5 % over p50 TTFT and ITL; the only method measured)"), "{text}");

    let out = temp_dir("fixture");
    let written = write_reports(&c, &out).unwrap();
    assert_eq!(written.len(), 10);
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
    PlannerProfile {
        prefill: PrefillProfile {
            prefill_isl: vec![1000.0, 3000.0],
            prefill_ttft: vec![100.0, 300.0],
            prefill_thpt_per_gpu: vec![10000.0, 10000.0],
        },
        // One context row at 2048 + 256/2 = 2176; kv usage = concurrency x 0.1.
        decode: DecodeProfile {
            x_kv_usage: vec![0.1, 0.9],
            y_context_length: vec![2176.0, 2176.0],
            z_itl: vec![10.0, 50.0],
            z_thpt_per_gpu: vec![100.0, 800.0],
            max_kv_tokens: 21760,
        },
    }
}

fn record(
    name: &str,
    ledger: Ledger,
    own: Option<CostReport>,
    explicit: Vec<LoadPrediction>,
    error: Option<&str>,
) -> ProfileRecord {
    let sla = Sla {
        isl: 2048,
        osl: 256,
        ttft_ms: 500.0,
        itl_ms: 50.0,
    };
    let worker = WorkerConfig { tp: 1, gpus: 1 };
    let result = ProfileResult {
        prefill: worker,
        decode: worker,
        predicted: Prediction {
            ttft_ms: 204.8,
            itl_ms: 10.0,
            prefill_thpt_per_gpu: 1.0,
            decode_thpt_per_gpu: 1.0,
        },
        profile_data: profile_data(),
        load_predictions: explicit,
        notes: Vec::new(),
    };
    ProfileRecord {
        schema_version: 1,
        manifest: Manifest {
            name: name.into(),
            version: "0.1.0".into(),
            description: "test".into(),
            role: Role::Experimental,
            api_version: "0.1.0".into(),
        },
        request: ProfileRequest {
            schema_version: 1,
            model: "Qwen/Qwen3-32B".into(),
            system: "h200_sxm".into(),
            backend: ServingBackend::Trtllm,
            sla,
            search: SearchSpace {
                prefill_tp: vec![1, 2],
                decode_tp: vec![1, 2],
                gpu_budget: 8,
            },
            seed: 1,
            options: json!({}),
        },
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
    };
    let own = |duration_s, gpu_hours, deployments, estimate_calls| CostReport {
        duration_s,
        gpu_hours,
        deployments,
        estimate_calls,
        details: json!(null),
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

    let explicit = vec![LoadPrediction {
        concurrency: 1,
        ttft_ms: 100.0,
        itl_ms: 20.0,
    }];
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

    // alpha: prediction 204.8 ms TTFT everywhere; ITL 10 + 50 x (kv - 0.1) with kv = 0.1 x concurrency.
    let alpha = by_name("alpha");
    assert_eq!(alpha.status, MethodStatus::Ok);
    let idle = &alpha.levels[0];
    assert_eq!(
        (idle.concurrency, idle.concurrency_source),
        (1, ConcurrencySource::ValidationJson)
    );
    assert!(close(idle.error_pct.ttft_p50.unwrap().mean, -20.0, 1e-9));
    assert!(close(idle.error_pct.ttft_p99.unwrap().mean, -60.0, 1e-9));
    assert!(close(idle.error_pct.itl_p50.unwrap().mean, 0.0, 1e-9));
    assert!(close(idle.error_pct.itl_p99.unwrap().mean, -20.0, 1e-9));
    assert!(idle.error_pct.ttft_p50.unwrap().ci95.is_none());
    let medium = &alpha.levels[1];
    assert!(close(medium.predicted.unwrap().itl_ms.unwrap(), 25.0, 1e-9));
    assert!(close(medium.error_pct.ttft_p50.unwrap().mean, 0.0, 1e-9));
    assert!(close(medium.error_pct.itl_p50.unwrap().mean, 25.0, 1e-9));
    assert!(close(medium.sla_hit_rate.unwrap().mean, 0.5, 1e-12));
    let saturation = &alpha.levels[2];
    assert_eq!((saturation.concurrency, saturation.seeds), (8, 0));
    assert!(saturation.ttft_p50_ms.is_none() && saturation.error_pct.itl_p50.is_none());
    assert!(close(alpha.levels[3].predicted.unwrap().itl_ms.unwrap(), 50.0, 1e-9));
    assert!(alpha.notes.iter().any(|n| n == "validation/saturation/: not measured"));
    assert!(close(
        alpha.mean_abs_error_pct.unwrap(),
        (20.0 + 0.0 + 0.0 + 25.0) / 4.0,
        1e-9
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
    let half = 12.706 * (2.0f64.powi(2) / 2.0).sqrt() / 2.0f64.sqrt();
    let ci = regret.ci95.unwrap();
    assert!(
        close(ci[0], 19.0 - half, 1e-6) && close(ci[1], 19.0 + half, 1e-6),
        "{ci:?}"
    );
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

    // Goodput intervals overlap ([6.8, 9.4] and [0.1, 12.9]): not distinguishable.
    let v = c.verdicts.iter().find(|v| v.metric == "goodput").unwrap();
    assert_eq!(
        (v.a.as_str(), v.b.as_str(), v.verdict.as_str()),
        ("alpha", "beta", "not distinguishable")
    );

    let r = &c.recommendations;
    assert_eq!(r.cheapest.as_deref(), Some("beta"));
    assert_eq!(r.most_accurate.as_deref(), Some("beta"));
    assert_eq!(r.best_goodput.as_deref(), Some("alpha"));
    assert_eq!(r.pareto_front, ["beta", "alpha"]);
    assert_eq!(r.best_tradeoff.as_deref(), Some("beta"));

    let text = summary::render(&c);
    for line in [
        "== Cost (host-metered; the method's own report beside it) ==",
        "MISMATCH: deployments: metered 0, reported 1",
        "gamma   FAILED",
        "error: estimator crashed",
        "alpha   idle        1            204.8         256.0                -20.0",
        "delta: no predictions, not measured",
        "oracle: best 1x1 at 10.000 req/s",
        "- cheapest to run: beta (0.000 GPU-hours, 30.0 s)",
        "- best goodput / lowest regret: alpha (regret 19.0 [",
        "- best trade-off of GPU-hours and regret: beta (Pareto front, cheapest first: beta, alpha)",
        "goodput  alpha  beta  not distinguishable",
        "== Warnings (2) ==",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }

    let out = root.join("comparison");
    let written = write_reports(&c, &out).unwrap();
    assert!(written.iter().any(|p| p.ends_with("comparison_results.json")));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison_results.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
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
