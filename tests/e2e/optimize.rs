//! The optimize stage's verdict with the real method plugins: under `nominal` (timing = the
//! estimator) AI Configurator's profile is the cluster's, so AIC-ALL and Online-ALL must get the
//! same graph and the same regrets.

use crate::util::*;

#[test]
fn under_nominal_aic_all_and_online_all_choose_alike_and_regret_alike() {
    let home = temp_dir("optimize-nominal");
    let results = home.join("results");
    let args = [
        "run",
        "--results",
        results.to_str().unwrap(),
        "--no-progress",
        "--reality",
        "nominal",
        "--method",
        "aic_all",
        "--method",
        "online_all",
        "--prefill-tp",
        "1,2",
        "--decode-tp",
        "1,2",
        "--requests",
        "20",
        "--max-batch",
        "4",
        "--trace-duration",
        "600",
        "--min-rate",
        "2",
        "--max-rate",
        "10",
        "--adjustment-interval",
        "60",
    ];
    let out = profcmp(&args, &home);
    assert!(out.status.success(), "{}", text(&out));
    let comparison: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("comparison/comparison_results.json")).unwrap())
            .unwrap();
    let method = |name: &str| {
        comparison["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["method"] == name)
            .unwrap_or_else(|| panic!("{name} in {comparison}"))
            .clone()
    };
    let (aic, online) = (method("aic_all"), method("online_all"));
    assert_eq!(
        (&aic["prefill_tp"], &aic["decode_tp"]),
        (&online["prefill_tp"], &online["decode_tp"]),
        "the same graph"
    );
    for measure in ["regret_pct", "cost_regret_pct"] {
        let regret = |m: &serde_json::Value| {
            m["optimization"][measure]["mean"]
                .as_f64()
                .unwrap_or_else(|| panic!("{measure} of {m}"))
        };
        let (a, o) = (regret(&aic), regret(&online));
        assert!((a - o).abs() <= 2.0, "{measure}: aic_all {a:.2} vs online_all {o:.2}");
    }
}
