//! The errors measure the method. AIC-ALL (the estimator only) and Online-ALL (every TP measured
//! on the cluster), loaded as plugins, run through profile, validate (capacity sweep and levels)
//! and compare on the simulated cluster under realities that depart from the estimator by a known
//! amount; each test derives the error the departure must cause and checks the report says it.

use std::path::Path;

use crate::util::*;

/// KV bytes per token of Qwen3-32B in bf16: 64 layers x 8 KV heads x 128 x (K and V) x 2 bytes.
const KV_BYTES_PER_TOKEN: f64 = 262_144.0;
const ISL: u32 = 2048;
const OSL: u32 = 256;

/// `core/data/reality/nominal.toml` with `prefill` and `decode` factors and no jitter.
fn nominal_with(dir: &Path, prefill: f64, decode: f64) -> String {
    let text = std::fs::read_to_string(workspace().join("core/data/reality/nominal.toml")).unwrap();
    let text = text
        .replace("prefill = 1.0\n", &format!("prefill = {prefill:?}\n"))
        .replace("decode = 1.0\n", &format!("decode = {decode:?}\n"))
        .replace("sigma = 0.02", "sigma = 0.0");
    assert!(text.contains(&format!("prefill = {prefill:?}")) && text.contains("sigma = 0.0"));
    let path = dir.join(format!("nominal-{prefill}-{decode}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Profiles, validates and compares both methods on `reality`; returns comparison_results.json.
/// `extra` goes to validate (e.g. `--max-batch 1` for the idle level only).
fn accuracy_run(tag: &str, reality: &str, extra: &[&str]) -> serde_json::Value {
    let home = temp_dir(&format!("accuracy-{tag}"));
    let results = home.join("results");
    let results = results.to_str().unwrap();
    let common = [
        "--no-progress",
        "--results",
        results,
        "--reality",
        reality,
        "--requests",
        "40",
    ];
    let methods = ["--method", "aic_all", "--method", "online_all"];
    let out = profcmp(&[&["profile"][..], &common, &methods].concat(), &home);
    assert!(out.status.success(), "{}", text(&out));
    let out = profcmp(&[&["validate"][..], &common, extra].concat(), &home);
    assert!(out.status.success(), "{}", text(&out));
    let out = profcmp(&["compare", "--results", results], &home);
    assert!(out.status.success(), "{}", text(&out));
    let path = Path::new(results).join("comparison/comparison_results.json");
    let json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&home);
    json
}

fn method<'a>(comparison: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let methods = comparison["methods"].as_array().unwrap();
    methods
        .iter()
        .find(|m| m["method"] == name)
        .unwrap_or_else(|| panic!("{name}: {comparison:#}"))
}

/// Signed p50 errors (TTFT, ITL) of `name` at level index `i`.
fn errors(comparison: &serde_json::Value, name: &str, i: usize) -> (f64, f64) {
    let e = &method(comparison, name)["levels"][i]["error_pct"];
    let mean = |v: &serde_json::Value| v["mean"].as_f64().unwrap_or_else(|| panic!("{name} level {i}: {e:#}"));
    (mean(&e["ttft_p50"]), mean(&e["itl_p50"]))
}

fn tps(comparison: &serde_json::Value, name: &str) -> (u32, u32) {
    let m = method(comparison, name);
    let tp = |k: &str| m[k].as_u64().unwrap() as u32;
    (tp("prefill_tp"), tp("decode_tp"))
}

/// AIC's latency of one prefill pass (`--prefill`) or one decode step at batch 1, ms.
fn estimate(tp: u32, phase: &str, tokens: u32) -> f64 {
    let home = temp_dir("accuracy-estimate");
    let (tp, tokens) = (tp.to_string(), tokens.to_string());
    let mut args = vec!["estimate", "--json", "--tp", &tp, phase, "--isl", &tokens];
    if phase == "--decode" {
        args.extend(["--batch", "1"]);
    }
    let out = profcmp(&args, &home);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["latency_ms"].as_f64().unwrap()
}

#[test]
fn under_nominal_aic_all_and_online_all_agree_at_every_level() {
    let c = accuracy_run("nominal", "nominal", &[]);
    assert_eq!(
        tps(&c, "aic_all"),
        tps(&c, "online_all"),
        "the estimator is the cluster: same choice"
    );
    for i in 0..4 {
        let (a, o) = (errors(&c, "aic_all", i), errors(&c, "online_all", i));
        assert!(
            (a.0 - o.0).abs() <= 3.0,
            "level {i} TTFT p50 error: aic {:.1}% online {:.1}%",
            a.0,
            o.0
        );
        assert!(
            (a.1 - o.1).abs() <= 3.0,
            "level {i} ITL p50 error: aic {:.1}% online {:.1}%",
            a.1,
            o.1
        );
    }
}

#[test]
fn a_slower_prefill_moves_aic_alls_idle_ttft_error_by_the_derived_amount() {
    let home = temp_dir("accuracy-prefill-reality");
    let c = accuracy_run("prefill", &nominal_with(&home, 1.5, 1.0), &["--max-batch", "1"]);
    let (ptp, dtp) = tps(&c, "aic_all");
    // AIC-ALL predicts AIC's prefill plus one decode step (at batch ~1, context ISL + OSL/2).
    let prefill = estimate(ptp, "--prefill", ISL);
    let predicted = prefill + estimate(dtp, "--decode", ISL + OSL / 2);
    // The graph takes 1.5x the prefill, sends the KV over min(ptp, dtp) NVLink-class links of
    // nominal (100 GB/s each, then 1 ms), runs the first decode step (context ISL) and the
    // frontend (3 ms). Only the first term is the injected deviation.
    let links = f64::from(ptp.min(dtp).min(8));
    let send = f64::from(ISL) * KV_BYTES_PER_TOKEN / (links * 100e9) * 1e3;
    let measured = 1.5 * prefill + send + 1.0 + estimate(dtp, "--decode", ISL) + 3.0;
    let expected = (predicted / measured - 1.0) * 100.0;
    assert!(
        (-40.0..-28.0).contains(&expected),
        "derived {expected:.1}%: about -33% and the unseen parts"
    );
    let (aic, _) = errors(&c, "aic_all", 0);
    assert!(
        (aic - expected).abs() <= 3.0,
        "AIC-ALL idle TTFT error {aic:.1}%, derived {expected:.1}%"
    );
    let (online, _) = errors(&c, "online_all", 0);
    assert!(
        online.abs() <= 5.0,
        "Online-ALL measured the slow prefill, yet its idle TTFT error is {online:.1}%"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_slower_decode_moves_aic_alls_idle_itl_error_by_the_derived_amount() {
    let home = temp_dir("accuracy-decode-reality");
    let c = accuracy_run("decode", &nominal_with(&home, 1.0, 1.5), &["--max-batch", "1"]);
    // ITL is the decode step alone: AIC's step against 1.5 times it.
    let expected = (1.0 / 1.5 - 1.0) * 100.0;
    let (_, aic) = errors(&c, "aic_all", 0);
    assert!(
        (aic - expected).abs() <= 3.0,
        "AIC-ALL idle ITL error {aic:.1}%, derived {expected:.1}%"
    );
    let (_, online) = errors(&c, "online_all", 0);
    assert!(
        online.abs() <= 5.0,
        "Online-ALL measured the slow decode, yet its idle ITL error is {online:.1}%"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn online_all_predicts_medium_load_on_the_default_reality() {
    let c = accuracy_run("typical", "typical", &[]);
    let online = method(&c, "online_all");
    let medium = &online["levels"][1];
    assert!(medium["concurrency"].as_u64().unwrap() > 1, "{medium:#}");
    let (ttft, itl) = errors(&c, "online_all", 1);
    assert!(
        ttft.abs() <= 25.0 && itl.abs() <= 25.0,
        "medium p50 errors TTFT {ttft:.1}%, ITL {itl:.1}%: {medium:#}"
    );
}

#[test]
fn a_reality_ensemble_reports_each_methods_errors_over_the_realities() {
    let home = temp_dir("accuracy-ensemble");
    let results = home.join("results");
    let r = results.to_str().unwrap();
    let args = [
        "--no-progress",
        "--results",
        r,
        "--realities",
        "2",
        "--requests",
        "20",
        "--max-batch",
        "2",
    ];
    for stage in ["profile", "validate"] {
        let out = profcmp(&[&[stage][..], &args, &["--method", "aic_all"]].concat(), &home);
        assert!(out.status.success(), "{}", text(&out));
    }
    let toml = |k: u32| {
        let dir = results.join(format!("reality-{k}"));
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".toml"))
            .unwrap_or_else(|| panic!("no reality TOML in {}", dir.display()));
        std::fs::read_to_string(file.path()).unwrap()
    };
    assert_ne!(toml(1), toml(2), "two different draws");
    let out = profcmp(&["compare", "--results", r], &home);
    assert!(out.status.success(), "{}", text(&out));
    let read = |path: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap()
    };
    let ensemble = read(results.join("comparison/ensemble_results.json"));
    assert_eq!(ensemble["realities"], serde_json::json!(["reality-1", "reality-2"]));
    let per: Vec<(f64, f64)> = (1..=2)
        .map(|k| {
            errors(
                &read(results.join(format!("reality-{k}/comparison/comparison_results.json"))),
                "aic_all",
                0,
            )
        })
        .collect();
    let idle = &ensemble["methods"][0]["levels"][0]["ttft_p50"];
    assert_eq!(idle["n"], 2);
    let median = idle["median"].as_f64().unwrap();
    assert!((median - (per[0].0 + per[1].0) / 2.0).abs() < 1e-9, "{idle} vs {per:?}");
    let worst = if per[0].0.abs() >= per[1].0.abs() {
        per[0].0
    } else {
        per[1].0
    };
    assert_eq!(idle["worst"].as_f64().unwrap(), worst);
    assert!(per[0].0 != per[1].0, "the realities differ, so do the errors: {per:?}");
    for file in ["summary.txt", "ensemble_errors.png", "ensemble_errors.svg"] {
        assert!(results.join("comparison").join(file).exists(), "{file}");
    }
    // The same seed draws the same realities: a rerun finds everything done.
    let out = profcmp(&[&["validate", "-v"][..], &args].concat(), &home);
    assert!(
        out.status.success() && text(&out).contains("unchanged, skipped"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&home);
}
