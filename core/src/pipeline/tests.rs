//! The pipeline's own logic on the simulated cluster: what run.json records, cancellation, and
//! the typed errors of a stage that has nothing to work on.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::*;
use crate::stage::{Quiet, Traced};

fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("profcmp-pipeline-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn spec() -> RunSpec {
    let mut spec = RunSpec::defaults();
    spec.search.gpu_budget = 8;
    spec
}

/// No method loads: `failed` of them, each with a warning.
fn none_loaded(failed: usize) -> impl Fn(&RunSpec) -> Result<MethodSet, BoxError> {
    move |_| {
        Ok(MethodSet {
            methods: Vec::new(),
            lock_text: String::new(),
            outcome: Outcome {
                failed,
                warnings: (0..failed).map(|k| format!("m{k} not run: no such plugin")).collect(),
            },
        })
    }
}

fn inputs<'a>(results: &Path, loader: &'a MethodLoader<'a>) -> RunInputs<'a> {
    RunInputs {
        spec: spec(),
        results: results.to_path_buf(),
        cluster: ClusterChoice::Sim {
            reality: Reality::named("nominal").unwrap(),
        },
        aic_systems_root: None,
        methods: loader,
    }
}

fn run_json(results: &Path) -> RunRecord {
    read_json(&ResultsDir::new(results).run_json()).unwrap()
}

#[test]
fn the_methods_that_did_not_load_are_counted_and_recorded_per_stage() {
    let results = dir("record");
    for failed in [1, 3] {
        let loader = none_loaded(failed);
        let outcome = run(inputs(&results, &loader), Stages::Profile, &Quiet).unwrap();
        assert_eq!(outcome.failed, failed);
        let record = run_json(&results);
        assert_eq!(record.cluster, "sim");
        // A rerun of the stage replaces its own warnings.
        assert_eq!(record.warnings["profile"].len(), failed, "{:?}", record.warnings);
    }
    let _ = std::fs::remove_dir_all(&results);
}

#[test]
fn a_cancelled_run_stops_after_the_stage_with_its_record_written() {
    let results = dir("cancel");
    let loader = none_loaded(2);
    let observer = Traced::new(Arc::new(AtomicBool::new(true)));
    let error = run(inputs(&results, &loader), Stages::All, &observer).unwrap_err();
    assert!(matches!(error, PipelineError::Cancelled), "{error}");
    let record = run_json(&results);
    assert_eq!(record.warnings["profile"].len(), 2);
    // Validate never ran: it has no warnings entry.
    assert!(!record.warnings.contains_key("validate"), "{:?}", record.warnings);
    let _ = std::fs::remove_dir_all(&results);
}

#[test]
fn validate_without_a_successful_profile_says_to_profile_first() {
    let results = dir("noprofile");
    let loader = none_loaded(1);
    run(inputs(&results, &loader), Stages::Profile, &Quiet).unwrap();
    let error = run(inputs(&results, &loader), Stages::Validate, &Quiet).unwrap_err();
    assert!(matches!(error, PipelineError::NoProfile { .. }), "{error}");
    assert!(error.to_string().contains("run `profcmp profile` first"), "{error}");
    let _ = std::fs::remove_dir_all(&results);
}

#[test]
fn a_loader_error_stops_the_run_with_its_message() {
    let results = dir("loader");
    let loader = |_: &RunSpec| -> Result<MethodSet, BoxError> { Err("no installed plugin is named `x`".into()) };
    let error = run(inputs(&results, &loader), Stages::Profile, &Quiet).unwrap_err();
    assert!(matches!(error, PipelineError::Methods(_)));
    assert_eq!(error.to_string(), "no installed plugin is named `x`");
    let _ = std::fs::remove_dir_all(&results);
}
