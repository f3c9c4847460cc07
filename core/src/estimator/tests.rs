//! Estimator tests: the AIC 0.12 reference points, model facts and the error cases.

use std::collections::BTreeMap;
use std::time::Instant;

use super::*;

const REFERENCE: &str = include_str!("testdata/aic-0.12-reference/h200_sxm.json");
const FULL_REFERENCE: &str = include_str!("testdata/aic-0.12-reference/full_database.json");

#[derive(serde::Deserialize)]
struct Point {
    system: String,
    model: String,
    backend: String,
    version: Option<String>,
    tp: u32,
    phase: String,
    batch: u32,
    isl: u32,
    latency_ms: f64,
}

#[test]
fn reproduces_aic_0_12_reference_points() {
    let points: Vec<Point> = serde_json::from_str(REFERENCE).expect("fixture parses");
    assert_eq!(points.len(), 320);
    let worst = check_points(&points, None);
    println!("worst relative error over 320 points: {worst:.3e}");
}

/// Asserts every point within 0.1% and returns the worst relative error.
fn check_points(points: &[Point], root: Option<&Path>) -> f64 {
    let mut groups: BTreeMap<(&str, &str, &str, u32), Vec<&Point>> = BTreeMap::new();
    for p in points {
        groups
            .entry((&p.model, &p.system, &p.backend, p.tp))
            .or_default()
            .push(p);
    }
    let mut worst = 0.0_f64;
    for ((model, system, backend, tp), group) in groups {
        let info = ModelInfo::known(model).expect("known model");
        let est = Estimator::load(&info, system, backend, tp, root).expect("estimator loads");
        for p in group {
            if let Some(version) = &p.version {
                assert_eq!(est.version(), version);
            }
            let got = match p.phase.as_str() {
                "prefill" => est.prefill_ms(p.batch, p.isl),
                "decode_step" => est.decode_step_ms(p.batch, p.isl),
                other => panic!("unknown phase {other}"),
            }
            .expect("query answers");
            let rel = (got - p.latency_ms).abs() / p.latency_ms;
            assert!(
                rel < 1e-3,
                "{model} {system} {backend} tp{tp} {} batch {} isl {}: {got} vs {} ({:.4}% off)",
                p.phase,
                p.batch,
                p.isl,
                p.latency_ms,
                rel * 100.0
            );
            worst = worst.max(rel);
        }
    }
    worst
}

#[test]
fn qwen3_32b_facts() {
    let m = ModelInfo::known("Qwen/Qwen3-32B").unwrap();
    assert_eq!(m.kv_bytes_per_token(), 256 * 1024);
    assert!((m.params / 1e9 - 32.76).abs() < 0.05, "{}", m.params);
    assert_eq!(m.weight_bytes(), (m.params * 2.0).round() as u64);
    assert_eq!(m.valid_tps(), vec![1, 2, 4, 8]);
    assert!(m.qk_norm);
    let llama = ModelInfo::known("meta-llama/Llama-3.1-70B").unwrap();
    assert_eq!(llama.id, "meta-llama/Meta-Llama-3.1-70B");
    assert!(
        (llama.params / 1e9 - 70.55).abs() < 0.05,
        "{}",
        llama.params
    );
    assert!(!llama.qk_norm);
    let small = ModelInfo::known("Qwen/Qwen3-0.6B").unwrap();
    assert!(
        (small.params / 1e9 - 0.596).abs() < 0.01,
        "{}",
        small.params
    );
    for id in ModelInfo::known_ids() {
        ModelInfo::known(id).unwrap();
    }
}

#[test]
fn bad_configs_are_rejected() {
    let err = ModelInfo::from_config_json("x", "{").unwrap_err();
    assert!(matches!(err, EstimatorError::Config(_)), "{err}");
    let moe = r#"{"architectures": ["Qwen3MoeForCausalLM"], "num_hidden_layers": 2}"#;
    let err = ModelInfo::from_config_json("moe", moe).unwrap_err();
    assert!(err.to_string().contains("Qwen3ForCausalLM"), "{err}");
    let missing = r#"{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2}"#;
    let err = ModelInfo::from_config_json("m", missing).unwrap_err();
    assert!(err.to_string().contains("hidden_size"), "{err}");
}

#[test]
fn tp_must_divide_kv_heads() {
    let m = ModelInfo::known("Qwen/Qwen3-32B").unwrap();
    for tp in [0, 3, 16] {
        match Estimator::load(&m, "h200_sxm", "trtllm", tp, None) {
            Err(EstimatorError::BadTp { valid, .. }) => assert_eq!(valid, vec![1, 2, 4, 8]),
            Err(other) => panic!("tp {tp}: unexpected {other}"),
            Ok(_) => panic!("tp {tp} accepted"),
        }
    }
    let set = EstimatorSet::new(m, "h200_sxm", "trtllm", None).unwrap();
    let err = set.get(3).err().expect("tp 3 rejected");
    assert!(err.to_string().contains("valid tp: 1, 2, 4, 8"), "{err}");
}

#[test]
fn unknown_model_system_and_backend() {
    match ModelInfo::known("Qwen/Qwen9-1T") {
        Err(EstimatorError::UnknownModel { known, .. }) => assert_eq!(known.len(), 5),
        other => panic!("unexpected {other:?}"),
    }
    let m = ModelInfo::known("Qwen/Qwen3-8B").unwrap();
    match Estimator::load(&m, "tpu_v9", "trtllm", 1, None) {
        Err(EstimatorError::UnknownSystem { known, .. }) => {
            assert_eq!(known, vec!["b200_sxm", "h100_sxm", "h200_sxm"])
        }
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("unknown system accepted"),
    }
    let err = EstimatorSet::new(m.clone(), "h200_sxm", "tgi", None)
        .err()
        .expect("bad backend");
    assert!(
        matches!(err, EstimatorError::UnknownBackend { .. }),
        "{err}"
    );
    let err = EstimatorSet::new(m, "h200_sxm", "vllm", None)
        .err()
        .expect("no vllm data");
    assert!(matches!(err, EstimatorError::MissingData { .. }), "{err}");
    assert!(err.to_string().contains("--aic-systems-root"), "{err}");
}

#[test]
fn llama_70b_fits_h100_only_with_tp() {
    let m = ModelInfo::known("meta-llama/Meta-Llama-3.1-70B").unwrap();
    match Estimator::load(&m, "h100_sxm", "trtllm", 1, None) {
        Err(EstimatorError::DoesNotFit {
            need_gb, have_gb, ..
        }) => assert!(need_gb > have_gb),
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("llama 70b fits one h100?"),
    }
    let est = Estimator::load(&m, "h100_sxm", "trtllm", 4, None).unwrap();
    assert!(
        est.kv_capacity_tokens() > 100_000,
        "{}",
        est.kv_capacity_tokens()
    );
    assert_eq!(est.max_batch(), DEFAULT_MAX_NUM_SEQS);
    assert!(est.prefill_ms(1, 1024).unwrap() > 0.0);
}

#[test]
fn estimators_are_shareable_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Estimator>();
    send_sync::<EstimatorSet>();
}

#[test]
fn kv_capacity_and_queries() {
    let m = ModelInfo::known("Qwen/Qwen3-32B").unwrap();
    let set = EstimatorSet::new(m, "h200_sxm", "trtllm", None).unwrap();
    let one = set.get(1).unwrap();
    let two = set.get(2).unwrap();
    assert!(Arc::ptr_eq(&one, &set.get(1).unwrap()));
    assert_eq!(two.tp(), 2);
    assert!(two.kv_capacity_tokens() > 2 * one.kv_capacity_tokens());
    assert!(matches!(
        one.prefill_ms(0, 128),
        Err(EstimatorError::BadQuery(_))
    ));
    assert!(matches!(
        one.decode_step_ms(1 << 20, 1 << 20),
        Err(EstimatorError::BadQuery(_))
    ));
    let prefill = [193.7, 110.4, 70.7, 48.7];
    for (tp, want) in [1, 2, 4, 8].into_iter().zip(prefill) {
        let got = set.get(tp).unwrap().prefill_ms(1, 2048).unwrap();
        assert!((got - want).abs() < 0.05, "tp {tp}: {got}");
    }
    assert!((one.decode_step_ms(1, 2048).unwrap() - 18.67).abs() < 0.01);
}

#[test]
fn qwen3_0_6b_matches_aic() {
    // aiconfigurator-core 0.12.0, h200_sxm trtllm, batch 1, isl 2048: (tp, prefill, decode step).
    let m = ModelInfo::known("Qwen/Qwen3-0.6B").unwrap();
    for (tp, prefill, decode) in [
        (1, 6.852458482379978, 1.571954320699576),
        (2, 5.541883557736914, 1.5775774421774984),
    ] {
        let est = Estimator::load(&m, "h200_sxm", "trtllm", tp, None).unwrap();
        assert!((est.prefill_ms(1, 2048).unwrap() / prefill - 1.0).abs() < 1e-9);
        assert!((est.decode_step_ms(1, 2048).unwrap() / decode - 1.0).abs() < 1e-9);
    }
}

/// Prints load and query times (run with `--nocapture`); b200_sxm is loaded by no other test.
#[test]
fn timing_report() {
    let m = ModelInfo::known("Qwen/Qwen3-32B").unwrap();
    let set = EstimatorSet::new(m, "b200_sxm", "trtllm", None).unwrap();
    let start = Instant::now();
    let first = set.get(1).unwrap();
    let load = start.elapsed();
    let start = Instant::now();
    first.prefill_ms(1, 128).unwrap();
    first.decode_step_ms(1, 128).unwrap();
    let parse = start.elapsed();
    let start = Instant::now();
    let estimators: Vec<_> = [1, 2, 4, 8]
        .iter()
        .map(|&tp| set.get(tp).unwrap())
        .collect();
    let loads = start.elapsed();
    let isls = [
        128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 5120, 6144, 8192, 10240, 12288,
        14336, 16384,
    ];
    let batches = [1, 2, 4, 8, 16, 32, 64, 128, 256];
    let contexts = [512, 2048, 8192, 16384];
    let start = Instant::now();
    for est in &estimators {
        for isl in isls {
            est.prefill_ms(1, isl).unwrap();
        }
        for b in batches {
            for c in contexts {
                est.decode_step_ms(b, c).unwrap();
            }
        }
    }
    println!(
        "b200_sxm trtllm Qwen3-32B: load tp1 {load:?}; first prefill + decode query (lazy table parse) {parse:?}; \
         tp 2/4/8 loads {loads:?}; 17 prefill + 36 decode queries x 4 tp {:?}",
        start.elapsed()
    );
}

/// vllm, sglang and trtllm on h200_sxm and h100_sxm against the full AIC database (not shipped):
/// `AIC_SYSTEMS_ROOT=<extracted wheel> cargo test -p profcmp-core -- --ignored full_database`.
#[test]
#[ignore = "needs AIC_SYSTEMS_ROOT pointing at aiconfigurator-core 0.12.0's full systems directory"]
fn full_database_reference_points() {
    let root = std::env::var("AIC_SYSTEMS_ROOT").expect("AIC_SYSTEMS_ROOT is set");
    let points: Vec<Point> = serde_json::from_str(FULL_REFERENCE).expect("fixture parses");
    let worst = check_points(&points, Some(Path::new(&root)));
    println!(
        "worst relative error over {} full-database points: {worst:.3e}",
        points.len()
    );
}
