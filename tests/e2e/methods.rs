//! Each shipped method, loaded as a plugin, profiles on the simulated cluster (Qwen3-32B, H200).

use crate::util::*;

/// Profiles one method and returns its profile.json.
fn profile(method: &str) -> serde_json::Value {
    let home = temp_dir(&format!("method-{method}"));
    let results = home.join("results");
    let out = profcmp(
        &[
            "profile",
            "--no-progress",
            "--method",
            method,
            "--results",
            results.to_str().unwrap(),
        ],
        &home,
    );
    assert!(out.status.success(), "{}", text(&out));
    let text = std::fs::read_to_string(results.join(method).join("profile.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn deployments(record: &serde_json::Value) -> u64 {
    record["ledger"]["deployments"].as_u64().unwrap()
}

fn chosen(record: &serde_json::Value) -> (u64, u64) {
    let result = &record["result"];
    (
        result["prefill"]["tp"].as_u64().unwrap(),
        result["decode"]["tp"].as_u64().unwrap(),
    )
}

#[test]
fn aic_all_deploys_nothing() {
    let record = profile("aic_all");
    assert_eq!(deployments(&record), 0);
    assert_eq!(record["ledger"]["gpu_hours"], 0.0);
    assert!(record["ledger"]["estimate_calls"].as_u64().unwrap() > 10);
}

#[test]
fn online_all_deploys_every_candidate_like_dynamo() {
    let record = profile("online_all");
    assert_eq!(deployments(&record), 10, "4 prefill + 4 decode + 2 interpolation");
    assert_eq!(record["ledger"]["leaked_deployments"], 0);
    assert!(record["ledger"]["gpu_hours"].as_f64().unwrap() > 1.0);
}

#[test]
fn cheaper_methods_stay_within_their_budgets_and_agree_with_online_all() {
    let online = chosen(&profile("online_all"));
    for (method, max_deployments) in [("stack_rank", 4), ("bayesian", 4), ("stack_rank_bayesian", 4)] {
        let record = profile(method);
        assert!(
            deployments(&record) <= max_deployments,
            "{method}: {}",
            record["ledger"]
        );
        assert_eq!(record["ledger"]["leaked_deployments"], 0, "{method}");
        assert_eq!(
            chosen(&record),
            online,
            "{method} picks what online_all picks on the nominal cluster"
        );
    }
}
