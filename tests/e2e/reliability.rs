//! The fault matrix (docs/reliability.md): fixture plugins that hang, flood their output, return
//! 50 MB, ask for 10^9 requests, exit in a host call, leak deployments, claim `../escape`,
//! segfault. Each fails alone with its reason; nothing is written outside the results directory;
//! every deployment is torn down and charged. Also Ctrl-C, run.json and the run's real SLA.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// A small profile stage: two TPs.
const SMALL: &[&str] = &[
    "--no-progress",
    "--prefill-tp",
    "1,2",
    "--decode-tp",
    "1,2",
    "--gpu-budget",
    "4",
];

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

const FAULTS: [&str; 8] = [
    "fault_hang",
    "fault_noisy",
    "fault_huge_result",
    "fault_big_probe",
    "fault_exit",
    "fault_leak",
    "fault_escape",
    "fault_segfault",
];

#[test]
fn every_fault_fails_alone_with_its_reason_and_everything_is_torn_down() {
    let home = temp_dir("faults");
    let plugins = plugin_dir("faults", &[&["minimal"][..], &FAULTS].concat());
    let results = home.join("results");
    let profile = |methods: &[&str], timeout: &str| {
        let mut args = vec![
            "profile",
            "--results",
            results.to_str().unwrap(),
            "--plugin-dir",
            plugins.to_str().unwrap(),
        ];
        args.extend_from_slice(SMALL);
        args.extend(["--method-timeout", timeout]);
        for method in methods {
            args.extend(["--method", method]);
        }
        profcmp(&args, &home)
    };
    // The hang alone, with a short timeout (the others may take a while on a busy machine).
    let started = Instant::now();
    let out = profile(&["fault_hang"], "2");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the hang is cut by --method-timeout"
    );
    let out = profile(
        &[
            "minimal",
            "fault_noisy",
            "fault_huge_result",
            "fault_big_probe",
            "fault_exit",
            "fault_leak",
            "../escape",
            "fault_segfault",
        ],
        "300",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));

    // The good method and the faults that still answer validly.
    for ok in ["minimal", "fault_noisy", "fault_leak"] {
        let record = read_json(&results.join(ok).join("profile.json"));
        assert!(record["result"].is_object(), "{ok}: {record}");
    }
    // Each faulty one, with its reason.
    for (method, reason) in [
        ("fault_hang", "timed out: still running after 2 s of wall-clock time"),
        ("fault_huge_result", "over the limit of 16777216 bytes"),
        (
            "fault_big_probe",
            "a probe of 1000000000 requests + 0 warm-up is over the limit of 100000",
        ),
        ("fault_exit", "exited without an answer (exit status: 7)"),
        ("fault_segfault", "exited without an answer (signal: 11"),
    ] {
        let record = read_json(&results.join(method).join("profile.json"));
        let error = record["error"].as_str().unwrap_or_else(|| panic!("{method}: {record}"));
        assert!(error.contains(reason), "{method}: expected `{reason}` in `{error}`");
    }
    // The ledger: every deployment torn down (by the host when the method did not) and charged.
    for method in [
        "minimal",
        "fault_noisy",
        "fault_huge_result",
        "fault_big_probe",
        "fault_exit",
        "fault_leak",
    ] {
        let ledger = &read_json(&results.join(method).join("profile.json"))["ledger"];
        assert_eq!(ledger["teardown_failures"], 0, "{method}: {ledger}");
        let deployments = ledger["deployments"].as_u64().unwrap();
        assert_eq!(
            deployments > 0,
            ledger["gpu_hours"].as_f64().unwrap() > 0.0,
            "{method}: {ledger}"
        );
    }
    let leak = &read_json(&results.join("fault_leak/profile.json"))["ledger"];
    assert_eq!(
        (leak["deployments"].as_u64(), leak["leaked_deployments"].as_u64()),
        (Some(2), Some(2))
    );
    for method in ["fault_big_probe", "fault_exit"] {
        let ledger = &read_json(&results.join(method).join("profile.json"))["ledger"];
        assert_eq!(
            ledger["leaked_deployments"], 1,
            "{method}: the host tore it down: {ledger}"
        );
    }
    // Output lands in the log, bounded.
    let noisy = std::fs::read_to_string(results.join("fault_noisy/profile_sla.log")).unwrap();
    assert!(noisy.contains("[stdout] nnnn") && noisy.contains("[stderr] nnnn"));
    assert!(noisy.len() <= 4 << 20, "{} bytes", noisy.len());
    assert!(noisy.contains("log limit of 4194304 bytes reached"));
    let segfault = std::fs::read_to_string(results.join("fault_segfault/profile_sla.log")).unwrap();
    assert!(segfault.contains("about to segfault"), "{segfault}");

    // Nothing outside the results directory; `../escape` was refused by name.
    assert_eq!(
        entries(&home),
        BTreeSet::from(["plugins".to_string(), "results".to_string()])
    );
    let mut expected: BTreeSet<String> = ["minimal", "run.json"].iter().map(|s| s.to_string()).collect();
    expected.extend(FAULTS.iter().filter(|f| **f != "fault_escape").map(|s| s.to_string()));
    assert_eq!(entries(&results), expected);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("method name `../escape` is invalid"), "{stderr}");

    // `plugins list` shows it with the reason, its manifest read in a child process.
    let list = profcmp(&["plugins", "list", "--plugin-dir", plugins.to_str().unwrap()], &home);
    let listed = String::from_utf8_lossy(&list.stdout);
    let escape = listed
        .lines()
        .find(|l| l.contains("libfault_escape.so"))
        .unwrap_or_default();
    assert!(escape.contains("method name `../escape` is invalid"), "{listed}");

    // The comparison carries the left-out method and the failures; compare exits 3 too.
    let compare = profcmp(&["compare", "--results", results.to_str().unwrap()], &home);
    assert_eq!(compare.status.code(), Some(3), "{}", text(&compare));
    let comparison = read_json(&results.join("comparison/comparison_results.json"));
    let warnings = comparison["warnings"].to_string();
    assert!(
        warnings.contains("profile: left out") && warnings.contains("../escape"),
        "{warnings}"
    );
    let failed: BTreeSet<String> = (comparison["methods"].as_array().unwrap().iter())
        .filter(|m| m["status"] == "failed")
        .map(|m| m["method"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = [
        "fault_hang",
        "fault_huge_result",
        "fault_big_probe",
        "fault_exit",
        "fault_segfault",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(failed, expected);
    let summary = std::fs::read_to_string(results.join("comparison/summary.txt")).unwrap();
    assert!(
        summary.contains("== Warnings") && summary.contains("../escape"),
        "{summary}"
    );
}

/// Whether a `__plugin-worker` of a plugin under `dir` is running.
fn worker_running(dir: &Path) -> bool {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("__plugin-worker") && c.contains(&needle)
            })
            .unwrap_or(false)
    })
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGINT to a process group, as a terminal's Ctrl-C does to its foreground group.
fn ctrl_c(group: u32) {
    let status = Command::new("kill")
        .args(["-INT", "--", &format!("-{group}")])
        .status()
        .unwrap();
    assert!(status.success());
}

fn spawn_profile(home: &Path, plugins: &Path, method: &str) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let results = home.join("results");
    let mut args = vec![
        "profile",
        "--results",
        results.to_str().unwrap(),
        "--plugin-dir",
        plugins.to_str().unwrap(),
    ];
    args.extend_from_slice(SMALL);
    args.extend(["--method", method, "--method-timeout", "120"]);
    Command::new(profcmp_bin())
        .args(&args)
        .env("PROFCMP_HOME", home)
        .env_remove("PROFCMP_PLUGIN_PATH")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

#[test]
fn the_first_ctrl_c_asks_the_method_to_cancel_and_the_second_kills_it() {
    let home = temp_dir("ctrl-c");
    let plugins = plugin_dir("ctrl-c", &["cancel_aware", "fault_hang"]);

    // First Ctrl-C: the worker (its own process group) is not signalled; `cancelled()` turns true.
    let child = spawn_profile(&home, &plugins, "cancel_aware");
    wait_for("the worker", || worker_running(&plugins));
    ctrl_c(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cancelled: what was written is kept"), "{stderr}");
    let record = read_json(&home.join("results/cancel_aware/profile.json"));
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("saw the cancellation and stopped"),
        "the method saw cancelled() and returned: {record}"
    );

    // Second Ctrl-C: the host exits at once and the worker's group goes with it.
    let mut child = spawn_profile(&home, &plugins, "fault_hang");
    wait_for("the worker", || worker_running(&plugins));
    ctrl_c(child.id());
    std::thread::sleep(Duration::from_millis(300));
    assert!(worker_running(&plugins), "the first Ctrl-C does not kill a method");
    ctrl_c(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    wait_for("the worker to be gone", || !worker_running(&plugins));
}

#[test]
fn the_report_states_the_runs_own_sla_and_settings() {
    let home = temp_dir("run-json");
    let plugins = plugin_dir("run-json", &["minimal"]);
    let results = home.join("results");
    let out = profcmp(
        &[
            "run",
            "--results",
            results.to_str().unwrap(),
            "--plugin-dir",
            plugins.to_str().unwrap(),
            "--method",
            "minimal",
            "--no-progress",
            "--ttft",
            "300",
            "--itl",
            "30",
            "--prefill-tp",
            "1,2",
            "--decode-tp",
            "1",
            "--gpu-budget",
            "3",
            "--requests",
            "10",
            "--max-batch",
            "4",
            "--trace-duration",
            "60",
            "--min-rate",
            "0.5",
            "--max-rate",
            "1",
            "--period",
            "30",
        ],
        &home,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = read_json(&results.join("run.json"));
    assert_eq!(run["spec"]["sla"]["ttft_ms"], 300.0);
    assert_eq!(run["spec"]["search"]["gpu_budget"], 3);
    let comparison = read_json(&results.join("comparison/comparison_results.json"));
    assert_eq!(comparison["sla"]["ttft_ms"], 300.0);
    assert_eq!(comparison["sla"]["itl_ms"], 30.0);
    assert_eq!(comparison["run"]["spec"]["trace"]["duration_s"], 60.0);
    let summary = std::fs::read_to_string(results.join("comparison/summary.txt")).unwrap();
    assert!(summary.contains("TTFT <= 300 ms, ITL <= 30 ms"), "{summary}");
    assert!(summary.contains("GPU budget 3"), "{summary}");
    // An unreadable profile.json leaves that method out of the next stage, with a warning and exit 3.
    std::fs::create_dir_all(results.join("broken")).unwrap();
    std::fs::write(results.join("broken/profile.json"), "{ not json").unwrap();
    let validate = profcmp(
        &[
            "validate",
            "--results",
            results.to_str().unwrap(),
            "--no-progress",
            "--requests",
            "10",
            "--max-batch",
            "4",
        ],
        &home,
    );
    assert_eq!(validate.status.code(), Some(3), "{}", text(&validate));
    let warnings = read_json(&results.join("run.json"))["warnings"]["validate"].to_string();
    assert!(
        warnings.contains("broken left out: unreadable profile.json"),
        "{warnings}"
    );
    // The README's minimal plugin stays within the budget: prefill TP2 + decode TP1 = 3.
    let profile = read_json(&results.join("minimal/profile.json"));
    let (p, d) = (
        &profile["result"]["prefill"]["gpus"],
        &profile["result"]["decode"]["gpus"],
    );
    assert!(p.as_u64().unwrap() + d.as_u64().unwrap() <= 3, "{profile}");
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn editing_a_reality_file_reruns_and_a_comment_or_repeat_does_not() {
    let home = temp_dir("cache-keys");
    let plugins = plugin_dir("cache-keys", &["fixture_v1_0"]);
    let results = home.join("results");
    let reality = home.join("cluster.toml");
    let nominal = std::fs::read_to_string(workspace().join("core/data/reality/nominal.toml")).unwrap();
    std::fs::write(&reality, &nominal).unwrap();
    let stage = |stage: &str, extra: &[&str]| {
        let mut args = vec![
            stage,
            "--results",
            results.to_str().unwrap(),
            "--plugin-dir",
            plugins.to_str().unwrap(),
            "--method",
            "fixture",
            "--reality",
            reality.to_str().unwrap(),
            "--requests",
            "10",
            "--max-batch",
            "2",
        ];
        args.extend_from_slice(SMALL);
        args.extend_from_slice(extra);
        let out = profcmp(&args, &home);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    let profile = results.join("fixture/profile.json");
    let idle = results.join("fixture/validation/idle/validation.json");
    stage("profile", &[]);
    stage("validate", &[]);
    let (first, first_idle) = (read_json(&profile), mtime(&idle));

    // A comment is not a value: nothing reruns.
    std::fs::write(&reality, format!("# a note\n{nominal}")).unwrap();
    stage("profile", &[]);
    stage("validate", &[]);
    assert_eq!(read_json(&profile), first);
    assert_eq!(mtime(&idle), first_idle);

    // --repeat 2 adds seed 1 and leaves seed 0 as it was.
    stage("validate", &["--repeat", "2"]);
    assert_eq!(mtime(&idle), first_idle, "seed 0 is not rerun");
    assert!(results.join("fixture/validation/idle/seed-1/validation.json").exists());

    // Another deployment start-up time: the profile reruns, its metered duration grows by it.
    std::fs::write(&reality, nominal.replace("deployment_s = 240", "deployment_s = 300")).unwrap();
    stage("profile", &[]);
    let second = read_json(&profile);
    assert_ne!(second["input_hash"], first["input_hash"]);
    let grew = second["ledger"]["duration_s"].as_f64().unwrap() - first["ledger"]["duration_s"].as_f64().unwrap();
    assert!((grew - 60.0).abs() < 1e-6, "one deployment, 60 s more start-up: {grew}");
    stage("validate", &[]);
    assert_ne!(mtime(&idle), first_idle, "the validation reruns on the new cluster");
}
