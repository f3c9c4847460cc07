//! Runs each subcommand; the only place that writes to the terminal.

use std::process::ExitCode;

use anyhow::{bail, Context};

use profcmp_core::estimator::{EstimatorSet, ModelInfo};

use crate::args::TargetArgs;
use crate::cli::{Cli, Command, PluginsCommand, TraceCommand};
use crate::output::Console;
use crate::run::{self, Stages};
use crate::{load, lock, methods};
use profcmp_core::layout::ResultsDir;

/// Everything went fine.
pub const EXIT_OK: u8 = 0;
/// An error stopped the command.
pub const EXIT_FAILURE: u8 = 1;
/// The command finished, but some methods failed (their errors are in the report).
pub const EXIT_PARTIAL: u8 = 3;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let verbose = cli.verbose > 0;
    let stages = |args: &crate::args::RunArgs, which| stages(args, which, verbose);
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
        Command::Compare { results } => match crate::compare::compare(&results)? {
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

fn stages(args: &crate::args::RunArgs, stages: Stages, verbose: bool) -> anyhow::Result<ExitCode> {
    let console = Console::new(!args.no_progress, verbose);
    let outcome = run::run(args, stages, &console)?;
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

fn estimator_set(target: &TargetArgs) -> anyhow::Result<EstimatorSet> {
    let model = ModelInfo::resolve(&target.model)?;
    Ok(EstimatorSet::new(
        model,
        &target.system,
        target.framework()?.as_str(),
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
            "backend": target.framework()?.as_str(),
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
