//! `profcmp serve`, `profcmp loadgen` and `--backend endpoint`, all on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::util::*;

/// A `profcmp serve` child process, stopped on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `profcmp serve ARGS --port 0` and waits for the line with its address.
    fn start(args: &[&str], home: &Path) -> Server {
        let mut child = Command::new(profcmp_bin())
            .arg("serve")
            .args(args)
            .args(["--port", "0"])
            .env("PROFCMP_HOME", home)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("profcmp serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in `{line}`"))
            .to_string();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("profile_export_aiperf.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn loadgen_against_serve_writes_aiperf_artifacts() {
    let home = temp_dir("endpoint-loadgen");
    let server = Server::start(&["--prefill", "1:1", "--decode", "1:1", "--speedup", "20"], &home);
    let out = home.join("out");
    let args = [
        "loadgen",
        "--url",
        &server.url,
        "--concurrency",
        "2",
        "--requests",
        "6",
        "--warmup",
        "2",
        "--isl",
        "256",
        "--osl",
        "8",
        "--ttft",
        "50",
        "--itl",
        "5",
        "--out",
    ];
    let mut all: Vec<&str> = args.to_vec();
    all.push(out.to_str().unwrap());
    let run = profcmp(&all, &home);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("requests 6 (0 errors)"),
        "{}",
        text(&run)
    );
    let summary = summary(&out);
    assert_eq!(summary["request_count"]["avg"], 6.0);
    assert_eq!(summary["output_sequence_length"]["p50"], 8.0);
    assert!(summary["goodput"]["avg"].as_f64().is_some());
    let records = std::fs::read_to_string(out.join("profile_export.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 6);
}

#[test]
fn loadgen_says_what_is_missing() {
    let home = temp_dir("endpoint-missing");
    let out = home.join("out");
    let out = out.to_str().unwrap();
    let run = profcmp(
        &[
            "loadgen",
            "--url",
            "http://127.0.0.1:9",
            "--loadgen",
            "aiperf",
            "--aiperf",
            "/nonexistent/aiperf",
            "--out",
            out,
        ],
        &home,
    );
    assert!(!run.status.success());
    assert!(text(&run).contains("pip install aiperf==0.13.0"), "{}", text(&run));
    let run = profcmp(
        &[
            "loadgen",
            "--url",
            "http://127.0.0.1:9",
            "--requests",
            "1",
            "--out",
            out,
        ],
        &home,
    );
    assert!(text(&run).contains("requests 0 (1 errors)"), "{}", text(&run));
    let run = profcmp(&["validate", "--backend", "endpoint", "--results", out], &home);
    assert!(text(&run).contains("--url is required"), "{}", text(&run));
}

#[test]
fn validate_and_optimize_on_an_endpoint() {
    let home = temp_dir("endpoint-stages");
    let plugins = plugin_dir("endpoint-stages", &["minimal"]);
    let results = home.join("results");
    let (plugins, results_arg) = (plugins.to_str().unwrap(), results.to_str().unwrap());
    let shape = [
        "--isl",
        "256",
        "--osl",
        "8",
        "--prefill-tp",
        "1,2",
        "--decode-tp",
        "1",
        "--no-progress",
    ];
    let mut profile = vec![
        "profile",
        "--plugin-dir",
        plugins,
        "--method",
        "minimal",
        "--results",
        results_arg,
    ];
    profile.extend(shape);
    let run = profcmp(&profile, &home);
    assert!(run.status.success(), "{}", text(&run));
    let chosen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("minimal/profile.json")).unwrap()).unwrap();
    let (p, d) = (&chosen["result"]["prefill"]["tp"], &chosen["result"]["decode"]["tp"]);
    let (prefill, decode) = (format!("1:{p}"), format!("1:{d}"));
    let server = Server::start(&["--prefill", &prefill, "--decode", &decode, "--speedup", "20"], &home);

    let endpoint = ["--backend", "endpoint", "--url", &server.url, "--results", results_arg];
    let mut validate = vec!["validate", "--requests", "3", "--max-batch", "2"];
    validate.extend(endpoint);
    validate.extend(shape);
    let run = profcmp(&validate, &home);
    assert!(run.status.success(), "{}", text(&run));
    for level in ["idle", "medium", "saturation", "overload"] {
        let dir = results.join("minimal/validation").join(level);
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("validation.json")).unwrap()).unwrap();
        // --requests 3, but at least twice the level's concurrency.
        let expected = 3.max(2 * record["concurrency"].as_u64().unwrap());
        assert_eq!(record["requests"], expected, "{level}");
        let summary = summary(&dir);
        assert_eq!(summary["request_count"]["avg"], expected as f64, "{level}");
        assert_eq!(summary["input_config"]["loadgen"], "profcmp", "{level}");
    }

    let mut optimize = vec![
        "optimize",
        "--trace-duration",
        "3",
        "--min-rate",
        "1",
        "--max-rate",
        "2",
        "--period",
        "3",
    ];
    optimize.extend(endpoint);
    optimize.extend(shape);
    let run = profcmp(&optimize, &home);
    assert!(run.status.success(), "{}", text(&run));
    let summary = summary(&results.join("minimal/optimization"));
    assert!(
        summary["input_config"]["planner"]
            .as_str()
            .unwrap()
            .starts_with("not applied"),
        "{summary}"
    );
    assert!(summary["request_count"]["avg"].as_f64().unwrap() >= 1.0);

    // A server running another graph is refused, with what it serves.
    drop(server);
    let other = Server::start(&["--prefill", "1:4", "--decode", "1:4", "--speedup", "20"], &home);
    let mut validate = vec![
        "validate",
        "--backend",
        "endpoint",
        "--url",
        &other.url,
        "--results",
        results_arg,
    ];
    validate.extend(["--requests", "4", "--max-batch", "2"]);
    validate.extend(shape);
    let run = profcmp(&validate, &home);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(
        text(&run).contains("serves 1 prefill (tp 4) + 1 decode (tp 4) workers"),
        "{}",
        text(&run)
    );
}
