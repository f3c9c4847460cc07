//! `profcmp estimate` against the real aiconfigurator 0.12.0's numbers.

use crate::util::*;

#[test]
fn estimate_prints_the_reference_latency_as_json() {
    let home = temp_dir("estimate");
    // (args, aiconfigurator 0.12.0's value from tests/fixtures/aic-0.12-reference)
    let cases: [(&[&str], f64); 2] = [
        (&["--tp", "2", "--prefill", "--isl", "2048"], 110.4),
        (
            &["--tp", "1", "--decode", "--batch", "1", "--isl", "2048"],
            18.666088243552064,
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["estimate", "--json"];
        all.extend_from_slice(args);
        let out = profcmp(&all, &home);
        assert!(out.status.success(), "{}", text(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let latency = json["latency_ms"].as_f64().unwrap();
        assert!(
            (latency - expected).abs() / expected < 1e-3,
            "{args:?}: {latency} vs {expected}"
        );
    }
}

#[test]
fn estimate_names_the_bad_input_and_what_is_valid() {
    let home = temp_dir("estimate-bad");
    let cases: [(&[&str], &str); 3] = [
        (&["--tp", "3", "--prefill", "--isl", "2048"], "valid tp: 1, 2, 4, 8"),
        (
            &["--system", "a100", "--tp", "1", "--prefill", "--isl", "2048"],
            "known systems:",
        ),
        (
            &[
                "--model",
                "meta-llama/Meta-Llama-3.1-70B",
                "--system",
                "h100_sxm",
                "--tp",
                "1",
                "--prefill",
                "--isl",
                "8",
            ],
            "does not fit",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["estimate"];
        all.extend_from_slice(args);
        let out = profcmp(&all, &home);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out)
        );
    }
}
