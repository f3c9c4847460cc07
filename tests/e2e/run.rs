//! The stages end to end on the simulated cluster: failure isolation, reruns, compare, simulate.

use std::path::Path;

use crate::util::*;

/// Small settings so a full run takes seconds in a debug build.
const SMALL: &[&str] = &[
    "--no-progress",
    "-v",
    "--prefill-tp",
    "1,2",
    "--decode-tp",
    "1,2",
    "--gpu-budget",
    "4",
    "--requests",
    "10",
    "--max-batch",
    "4",
    "--trace-duration",
    "120",
    "--min-rate",
    "0.5",
    "--max-rate",
    "2",
    "--period",
    "60",
];

fn run(stage: &str, results: &Path, extra: &[&str], home: &Path) -> std::process::Output {
    let mut args = vec![stage, "--results", results.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    profcmp(&args, home)
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_panicking_plugin_fails_alone_and_the_others_are_compared() {
    let home = temp_dir("run-panic");
    let plugins = plugin_dir("run-panic", &["fixture_v1_0", "panicky"]);
    let results = home.join("results");
    let extra = [
        "--plugin-dir",
        plugins.to_str().unwrap(),
        "--method",
        "fixture",
        "--method",
        "panicky",
    ];
    let out = run("run", &results, &extra, &home);
    assert_eq!(out.status.code(), Some(3), "partial success exits 3\n{}", text(&out));

    let panicky = read_json(&results.join("panicky/profile.json"));
    assert!(panicky["result"].is_null());
    assert!(
        panicky["error"]
            .as_str()
            .unwrap()
            .contains("panicked: fixture panics on purpose"),
        "{panicky}"
    );

    let fixture = read_json(&results.join("fixture/profile.json"));
    assert_eq!(fixture["ledger"]["deployments"], 1);
    assert!(
        fixture["ledger"]["gpu_hours"].as_f64().unwrap() > 0.0,
        "GPU time is metered: {fixture}"
    );
    assert!(results.join("fixture/config_with_planner.yaml").exists());
    assert!(results.join("fixture/methods.lock").exists());
    for level in ["idle", "medium", "saturation", "overload"] {
        assert!(
            results
                .join(format!("fixture/validation/{level}/profile_export_aiperf.json"))
                .exists(),
            "{level}"
        );
    }
    assert!(results.join("fixture/optimization/profile_export_aiperf.json").exists());
    assert!(results.join("sinusoidal.jsonl").exists());

    let comparison = read_json(&results.join("comparison/comparison_results.json"));
    let methods = comparison["methods"].as_array().unwrap();
    let status = |name: &str| {
        methods
            .iter()
            .find(|m| m["method"] == name)
            .map(|m| m["status"].clone())
    };
    assert_eq!(status("panicky"), Some("failed".into()), "{comparison}");
    assert_eq!(status("fixture"), Some("ok".into()), "{comparison}");
    let summary = std::fs::read_to_string(results.join("comparison/summary.txt")).unwrap();
    assert!(summary.contains("panicked: fixture panics on purpose"), "{summary}");
    for plot in ["cost", "error_by_level", "regret", "cost_vs_regret"] {
        let png = std::fs::read(results.join(format!("comparison/{plot}.png"))).unwrap();
        assert_eq!(&png[..4], b"\x89PNG", "{plot}.png");
    }
}

#[test]
fn a_plugin_that_aborts_the_process_fails_alone() {
    let home = temp_dir("run-abort");
    let plugins = plugin_dir("run-abort", &["fixture_v1_0", "aborting"]);
    let results = home.join("results");
    let extra = [
        "--plugin-dir",
        plugins.to_str().unwrap(),
        "--method",
        "aborting",
        "--method",
        "fixture",
    ];
    let out = run("profile", &results, &extra, &home);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let aborting = read_json(&results.join("aborting/profile.json"));
    assert!(
        aborting["error"].as_str().unwrap().contains("exited without an answer"),
        "{aborting}"
    );
    let log = std::fs::read_to_string(results.join("aborting/profile_sla.log")).unwrap();
    assert!(
        log.contains("about to abort") && log.contains("a line the plugin prints itself"),
        "{log}"
    );
    assert!(read_json(&results.join("fixture/profile.json"))["result"].is_object());
}

#[test]
fn a_rerun_skips_unchanged_work_and_redoes_what_is_missing() {
    let home = temp_dir("rerun");
    let plugins = plugin_dir("rerun", &["fixture_v1_0"]);
    let results = home.join("results");
    let extra = ["--plugin-dir", plugins.to_str().unwrap(), "--method", "fixture"];
    let first = run("run", &results, &extra, &home);
    assert!(first.status.success(), "{}", text(&first));
    let profile = results.join("fixture/profile.json");
    let before = std::fs::read(&profile).unwrap();

    std::fs::remove_dir_all(results.join("fixture/validation/medium")).unwrap();
    let second = run("run", &results, &extra, &home);
    assert!(second.status.success(), "{}", text(&second));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("profile fixture: unchanged, skipped"),
        "{}",
        text(&second)
    );
    assert!(
        stderr.contains("optimize fixture: unchanged, skipped"),
        "{}",
        text(&second)
    );
    assert_eq!(std::fs::read(&profile).unwrap(), before, "profile.json was rewritten");
    assert!(
        results
            .join("fixture/validation/medium/profile_export_aiperf.json")
            .exists(),
        "missing level redone"
    );

    // A changed input (the seed) is stale: the profile reruns.
    let third = run(
        "profile",
        &results,
        &[extra.as_slice(), &["--seed", "7"]].concat(),
        &home,
    );
    assert!(third.status.success(), "{}", text(&third));
    assert!(
        !String::from_utf8_lossy(&third.stderr).contains("profile fixture: unchanged"),
        "{}",
        text(&third)
    );
}

#[test]
fn repeated_seeds_give_means_and_intervals() {
    let home = temp_dir("repeat");
    let plugins = plugin_dir("repeat", &["fixture_v1_0"]);
    let results = home.join("results");
    let extra = [
        "--plugin-dir",
        plugins.to_str().unwrap(),
        "--method",
        "fixture",
        "--repeat",
        "3",
    ];
    let out = run("run", &results, &extra, &home);
    assert!(out.status.success(), "{}", text(&out));
    for k in [1, 2] {
        assert!(results
            .join(format!("fixture/validation/idle/seed-{k}/profile_export_aiperf.json"))
            .exists());
        assert!(results
            .join(format!("fixture/optimization/seed-{k}/optimization.json"))
            .exists());
    }
    let comparison = read_json(&results.join("comparison/comparison_results.json"));
    let fixture = comparison["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["method"] == "fixture")
        .unwrap()
        .clone();
    let idle = fixture["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == "idle")
        .unwrap()
        .clone();
    assert_eq!(idle["ttft_p50_ms"]["n"], 3, "{idle}");
    let ci = idle["ttft_p50_ms"]["ci95"]
        .as_array()
        .expect("an interval with 3 seeds")
        .clone();
    let mean = idle["ttft_p50_ms"]["mean"].as_f64().unwrap();
    assert!(
        ci[0].as_f64().unwrap() <= mean && mean <= ci[1].as_f64().unwrap(),
        "{idle}"
    );
    // Seeds are kept for pairing, and rates keep their range (schema 2).
    assert_eq!(comparison["schema_version"], 2);
    let opt = &fixture["optimization"];
    let seeds: Vec<u64> = opt["per_seed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [0, 1, 2], "{opt}");
    for (field, hi) in [("goodput", f64::INFINITY), ("sla_hit_rate", 1.0)] {
        let ci = opt[field]["ci95"].as_array().expect("an interval with 3 seeds");
        let (lo, up) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        assert!(0.0 <= lo && lo <= up && up <= hi, "{field}: {opt}");
    }
    assert_eq!(opt["sla_hit_rate"]["ci95_method"], "wilson", "{opt}");
    assert!(
        opt["regret_pct"].is_object() && opt["cost_regret_pct"].is_object(),
        "{opt}"
    );
}

#[test]
fn compare_reads_nvidias_real_run_and_reports_what_is_missing() {
    let home = temp_dir("compare-real");
    let results = home.join("dynamo-2026-01");
    copy_dir(&workspace().join("tests/fixtures/dynamo-2026-01"), &results);
    let out = profcmp(&["compare", "--results", results.to_str().unwrap()], &home);
    assert!(out.status.success(), "{}", text(&out));
    let comparison = read_json(&results.join("comparison/comparison_results.json"));
    let online = comparison["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["method"] == "online_all")
        .unwrap()
        .clone();
    let idle = online["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == "idle")
        .unwrap()
        .clone();
    let error = idle["error_pct"]["ttft_p50"]["mean"].as_f64().unwrap();
    assert!(
        (-90.0..-80.0).contains(&error),
        "TTFT predicted ~232 ms vs 1553.6 ms measured: {idle}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("not measured"),
        "optimization is reported as not measured:\n{stdout}"
    );
    // The page is written beside the JSON and says what NVIDIA's run did not record.
    let page = std::fs::read_to_string(results.join("comparison/report.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..100.min(page.len())]);
    for expected in [
        "aic_all",
        "online_all",
        "not recorded (no results/run.json)",
        "not recorded (no methods.lock)",
    ] {
        assert!(page.contains(expected), "report.html lacks {expected}");
    }
}

#[test]
fn simulate_is_deterministic_and_writes_aiperf_artifacts() {
    let home = temp_dir("simulate");
    let args = |dir: &Path| {
        let dir = dir.to_str().unwrap().to_string();
        let out = profcmp(
            &[
                "simulate",
                "--prefill",
                "1:1",
                "--decode",
                "1:2",
                "--concurrency",
                "4",
                "--requests",
                "30",
                "--seed",
                "3",
                "--artifact-dir",
                &dir,
            ],
            &home,
        );
        assert!(out.status.success(), "{}", text(&out));
    };
    args(&home.join("a"));
    args(&home.join("b"));
    for file in [
        "profile_export_aiperf.json",
        "profile_export_aiperf.csv",
        "profile_export.jsonl",
    ] {
        let a = std::fs::read(home.join("a").join(file)).unwrap();
        assert_eq!(
            a,
            std::fs::read(home.join("b").join(file)).unwrap(),
            "{file} differs between identical runs"
        );
    }
    let summary = read_json(&home.join("a/profile_export_aiperf.json"));
    assert_eq!(summary["request_count"]["avg"], 30.0);
}

#[test]
fn trace_sin_writes_a_replayable_mooncake_trace() {
    let home = temp_dir("trace");
    let trace = home.join("sin.jsonl");
    let out = profcmp(
        &[
            "trace",
            "sin",
            "--duration",
            "30",
            "--min-rate",
            "1",
            "--max-rate",
            "3",
            "--period",
            "30",
            "--output",
            trace.to_str().unwrap(),
        ],
        &home,
    );
    assert!(out.status.success(), "{}", text(&out));
    let lines = std::fs::read_to_string(&trace).unwrap();
    let n = lines.lines().count();
    assert!((20..=120).contains(&n), "about 60 requests expected, got {n}");
    let sim = profcmp(
        &[
            "simulate",
            "--prefill",
            "1:1",
            "--decode",
            "1:1",
            "--trace",
            trace.to_str().unwrap(),
            "--artifact-dir",
            home.join("out").to_str().unwrap(),
        ],
        &home,
    );
    assert!(sim.status.success(), "{}", text(&sim));
    assert_eq!(
        read_json(&home.join("out/profile_export_aiperf.json"))["request_count"]["avg"],
        n as f64
    );

    std::fs::write(
        &trace,
        "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 2}\n{\"timestamp\": \"x\"}\n",
    )
    .unwrap();
    let bad = profcmp(
        &[
            "simulate",
            "--prefill",
            "1:1",
            "--decode",
            "1:1",
            "--trace",
            trace.to_str().unwrap(),
            "--artifact-dir",
            home.join("out2").to_str().unwrap(),
        ],
        &home,
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("line 2"),
        "{}",
        text(&bad)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
