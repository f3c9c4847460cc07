//! `profcmp compare` (also the end of `profcmp run`): the reports of a results directory, the
//! summary printed.

use anyhow::Context;
use profcmp_core::layout::{read_json, ResultsDir, RunRecord};

/// Compares a results directory and writes its reports; prints the summary. Returns how many
/// warnings the stages recorded in run.json (dropped methods, partial oracle, failed writes).
pub fn compare(results: &std::path::Path) -> anyhow::Result<usize> {
    let dir = ResultsDir::new(results);
    if !results.is_dir() {
        anyhow::bail!(
            "{} is not a directory: run `profcmp run` first or pass --results DIR",
            results.display()
        );
    }
    // `reality-<k>/` subdirectories: a `--realities` run.
    let realities = profcmp_core::layout::numbered_subdirs(results, "reality-");
    if !realities.is_empty() {
        return compare_ensemble(results, &realities);
    }
    let (comparison, stage_warnings) = compare_dir(&dir);
    for warning in &comparison.warnings {
        eprintln!("warning: {warning}");
    }
    let written = profcmp_core::report::write_reports(&comparison, &dir.comparison())
        .with_context(|| format!("cannot write reports into {}", dir.comparison().display()))?;
    print!("{}", profcmp_core::report::summary::render(&comparison));
    eprintln!("wrote {} files in {}", written.len(), dir.comparison().display());
    Ok(stage_warnings)
}

/// One results directory compared with the SLA its run.json records, the stages' warnings added
/// to the report's; returns it and how many warnings the stages recorded.
fn compare_dir(dir: &ResultsDir) -> (profcmp_core::report::Comparison, usize) {
    let (options, run, unreadable) = run_settings(dir);
    let mut comparison = profcmp_core::stage::compare::compare(dir, &options);
    comparison.warnings.extend(unreadable);
    let mut stage_warnings = 0;
    if let Some(run) = &run {
        // What the stages warned about travels with the report.
        let lines = (run.warnings.iter()).flat_map(|(stage, w)| w.iter().map(move |w| format!("{stage}: {w}")));
        let before = comparison.warnings.len();
        comparison.warnings.extend(lines);
        stage_warnings = comparison.warnings.len() - before;
    }
    comparison.run = run.map(|r| profcmp_core::report::RunSettings::of(&r));
    (comparison, stage_warnings)
}

/// The compare options from `results/run.json` when the stages wrote one (the run's own SLA),
/// else the defaults (results made elsewhere, e.g. NVIDIA's run); and a warning if it is unreadable.
fn run_settings(
    dir: &ResultsDir,
) -> (
    profcmp_core::stage::compare::CompareOptions,
    Option<RunRecord>,
    Option<String>,
) {
    let mut options = profcmp_core::stage::compare::CompareOptions::default();
    let path = dir.run_json();
    if !path.exists() {
        return (options, None, None);
    }
    match read_json::<RunRecord>(&path) {
        Ok(run) => {
            options.sla = run.spec.sla;
            (options, Some(run), None)
        }
        Err(e) => (options, None, Some(format!("{e}; compared with the default SLA"))),
    }
}

/// Compares each reality's results, then the methods' errors and regrets over the realities.
fn compare_ensemble(results: &std::path::Path, realities: &[(u32, std::path::PathBuf)]) -> anyhow::Result<usize> {
    let mut per_reality = Vec::new();
    let mut stage_warnings = 0;
    for (k, path) in realities {
        let dir = ResultsDir::new(path);
        let (comparison, warned) = compare_dir(&dir);
        stage_warnings += warned;
        for warning in &comparison.warnings {
            eprintln!("warning: reality-{k}: {warning}");
        }
        profcmp_core::report::write_reports(&comparison, &dir.comparison())
            .with_context(|| format!("cannot write reports into {}", dir.comparison().display()))?;
        per_reality.push((format!("reality-{k}"), comparison));
    }
    let ensemble = profcmp_core::report::ensemble::ensemble(&results.display().to_string(), &per_reality);
    let out = ResultsDir::new(results).comparison();
    let written = profcmp_core::report::ensemble::write(&ensemble, &out)
        .with_context(|| format!("cannot write reports into {}", out.display()))?;
    print!("{}", profcmp_core::report::ensemble::render(&ensemble));
    eprintln!("wrote {} files in {}", written.len(), out.display());
    Ok(stage_warnings)
}
