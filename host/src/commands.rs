//! Runs each subcommand; the only place that writes to the terminal.

use std::process::ExitCode;

use anyhow::{bail, Context};

use profcmp_core::estimator::{EstimatorSet, ModelInfo};

use crate::cli::{Cli, Command, PluginsCommand, TargetArgs, TraceCommand};
use crate::run::{self, Stages};
use crate::{load, lock, methods};
use profcmp_core::layout::{read_json, ResultsDir, RunRecord};

/// Everything went fine.
pub const EXIT_OK: u8 = 0;
/// An error stopped the command.
pub const EXIT_FAILURE: u8 = 1;
/// The command finished, but some methods failed (their errors are in the report).
pub const EXIT_PARTIAL: u8 = 3;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugins { command } => plugins(command),
        Command::Run(args) => stages(&args, Stages::All),
        Command::Profile(args) => stages(&args, Stages::Profile),
        Command::Validate(args) => stages(&args, Stages::Validate),
        Command::Optimize(args) => stages(&args, Stages::Optimize),
        Command::PluginWorker { path } => Ok(crate::isolate::worker(&path)),
        Command::PluginManifest { path } => Ok(load::manifest_worker(&path)),
        Command::Simulate(args) => crate::simulate::simulate(&args),
        Command::Trace {
            command: TraceCommand::Sin(args),
        } => crate::simulate::trace_sin(&args),
        Command::Compare { results } => match compare(&results)? {
            0 => Ok(ExitCode::from(EXIT_OK)),
            _ => Ok(ExitCode::from(EXIT_PARTIAL)),
        },
        Command::K8s { command } => {
            crate::k8s::command(command)?;
            Ok(ExitCode::from(EXIT_OK))
        }
        Command::Bench(args) => crate::bench::run(args),
        Command::Serve(args) => {
            crate::serve::serve(&args)?;
            Ok(ExitCode::from(EXIT_OK))
        }
        Command::Loadgen(args) => {
            crate::endpoint::loadgen(&args)?;
            Ok(ExitCode::from(EXIT_OK))
        }
        Command::Estimate {
            target,
            tp,
            prefill,
            decode: _,
            batch,
            isl,
            json,
        } => estimate(&target, tp, prefill, batch.unwrap_or(1), isl, json),
    }
}

fn stages(args: &crate::cli::RunArgs, stages: Stages) -> anyhow::Result<ExitCode> {
    let outcome = run::run(args, stages)?;
    if outcome.failed > 0 {
        eprintln!("{} method run(s) failed; the others' results are kept", outcome.failed);
    }
    if !outcome.warnings.is_empty() {
        eprintln!(
            "{} warning(s), kept in {}",
            outcome.warnings.len(),
            ResultsDir::new(&args.results).run_json().display()
        );
    }
    if outcome.failed > 0 || !outcome.warnings.is_empty() {
        return Ok(ExitCode::from(EXIT_PARTIAL));
    }
    Ok(ExitCode::from(EXIT_OK))
}

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
    let realities = reality_dirs(results);
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

/// `reality-<k>/` subdirectories (a `--realities` run), in k order.
fn reality_dirs(results: &std::path::Path) -> Vec<(u32, std::path::PathBuf)> {
    let mut dirs: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(results)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let k = entry
                .file_name()
                .to_string_lossy()
                .strip_prefix("reality-")?
                .parse()
                .ok()?;
            entry.path().is_dir().then(|| (k, entry.path()))
        })
        .collect();
    dirs.sort();
    dirs
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

fn estimator_set(target: &TargetArgs) -> anyhow::Result<EstimatorSet> {
    let model = ModelInfo::resolve(&target.model)?;
    Ok(EstimatorSet::new(
        model,
        &target.system,
        &target.backend,
        target.aic_systems_root.clone(),
    )?)
}

fn estimate(target: &TargetArgs, tp: u32, prefill: bool, batch: u32, isl: u32, json: bool) -> anyhow::Result<ExitCode> {
    let set = estimator_set(target)?;
    let estimator = set.get(tp)?;
    let (phase, batch, latency_ms) = if prefill {
        ("prefill", 1, estimator.prefill_ms(1, isl)?)
    } else {
        ("decode_step", batch, estimator.decode_step_ms(batch, isl)?)
    };
    if json {
        let out = serde_json::json!({
            "latency_ms": latency_ms,
            "model": target.model,
            "system": target.system,
            "backend": target.backend,
            "version": estimator.version(),
            "tp": tp,
            "phase": phase,
            "batch": batch,
            "isl": isl,
            "kv_capacity_tokens": estimator.kv_capacity_tokens(),
        });
        println!("{out}");
    } else {
        println!("{latency_ms:.3} ms");
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn plugins(command: PluginsCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginsCommand::List { path } => {
            let dirs = load::search_path(&path.plugin_dirs);
            let candidates = load::discover(&dirs);
            println!(
                "{:<22} {:<9} {:<13} {:<6} {:<40} status",
                "name", "version", "role", "api", "path"
            );
            for c in &candidates {
                let status = match c.status() {
                    Ok(_) => "ok".to_string(),
                    Err(e) => e,
                };
                match &c.manifest {
                    Ok(m) => println!(
                        "{:<22} {:<9} {:<13} {:<6} {:<40} {status}",
                        m.name,
                        m.version,
                        format!("{:?}", m.role).to_lowercase(),
                        m.api_version,
                        c.path.display()
                    ),
                    Err(_) => println!(
                        "{:<22} {:<9} {:<13} {:<6} {:<40} {status}",
                        "-",
                        "-",
                        "-",
                        "-",
                        c.path.display()
                    ),
                }
            }
            if candidates.is_empty() {
                println!(
                    "no plugins found in {}: run `cargo build --workspace` (cargo test does not build cdylibs) or pass --plugin-dir",
                    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                );
            }
            Ok(ExitCode::from(EXIT_OK))
        }
        PluginsCommand::Check { path } => {
            let manifest = check(&path)?;
            println!(
                "ok: {} {} ({:?}), built against plugin-api {}",
                manifest.name, manifest.version, manifest.role, manifest.api_version
            );
            Ok(ExitCode::from(EXIT_OK))
        }
        PluginsCommand::Install { path } => {
            let manifest = check(&path)?;
            let dir = load::install_dir();
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let target = dir.join(format!(
                "lib{}-{}.{}",
                manifest.name,
                manifest.version,
                std::env::consts::DLL_EXTENSION
            ));
            let tmp = target.with_extension("partial");
            std::fs::copy(&path, &tmp)
                .with_context(|| format!("cannot copy {} to {}", path.display(), tmp.display()))?;
            std::fs::rename(&tmp, &target)?;
            println!(
                "installed {} {} as {}",
                manifest.name,
                manifest.version,
                target.display()
            );
            Ok(ExitCode::from(EXIT_OK))
        }
        PluginsCommand::Resolve { methods } => {
            print!("{}", lock::render(&methods::resolve(&methods)?));
            Ok(ExitCode::from(EXIT_OK))
        }
    }
}

/// Reads the manifest, checks the API version, then does the full ABI load.
fn check(path: &std::path::Path) -> anyhow::Result<profcmp_plugin_api::Manifest> {
    // `plugins check` runs the plugin's code in this process on purpose: it is the full load a
    // plugin author wants to see fail here rather than in a run.
    let candidate = load::Candidate {
        path: path.to_path_buf(),
        manifest: load::read_manifest_in_process(path),
    };
    let manifest = match candidate.status() {
        Ok(m) => m.clone(),
        Err(e) => bail!("{e}"),
    };
    let resolved = load::Resolved {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        path: path.to_path_buf(),
        sha256: load::sha256_file(path).map_err(anyhow::Error::msg)?,
        api_version: manifest.api_version.clone(),
        options: serde_json::Value::Null,
    };
    load::load(&resolved).map_err(anyhow::Error::msg)?;
    Ok(manifest)
}
