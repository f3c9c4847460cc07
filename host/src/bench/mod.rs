//! `profcmp bench`: plugin size and load time, every method over many scenarios, and the timed
//! default run. Each bench prints a markdown report and can write it to a file.
//!
//! `scenarios` holds the methods bench's table and how a scenario becomes a run; `runner` runs
//! and measures each bench; `report` writes the markdown from what ran; `proc` reads CPU time,
//! memory and the machine. A new bench: a `BenchCommand` variant here, a function in `runner`
//! and one in `report`.

mod proc;
mod report;
mod runner;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::methods::MethodArgs;

/// `profcmp bench ...`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Release size of a minimal plugin and of the method plugins; time to read a manifest and to
    /// load a plugin (median and p95). Builds tests/fixture-plugins in release first.
    Plugins {
        /// Timed manifest reads per plugin.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
        /// Distinct copies of each plugin fully loaded (abi_stable never unloads a library).
        #[arg(long, default_value_t = 50)]
        copies: usize,
        /// Measure this minimal plugin instead of building tests/fixture-plugins.
        #[arg(long, value_name = "SO")]
        minimal: Option<PathBuf>,
        #[command(flatten)]
        methods: MethodArgs,
        /// Also write the markdown report here.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Every installed method over the scenarios x seeds (profile, optimize, compare): deployments,
    /// GPU-hours, regret.
    Methods {
        /// Seeds per scenario.
        #[arg(long, default_value_t = 5)]
        seeds: u32,
        /// Length of the optimize stage's trace (one sinusoid period), s.
        #[arg(long, default_value_t = 300.0)]
        trace_duration: f64,
        /// Peak rate of the trace as a fraction of the estimated capacity of the best graph.
        #[arg(long, default_value_t = 0.8)]
        load: f64,
        /// Highest peak rate, req/s (bounds the simulation's cost on small models).
        #[arg(long, default_value_t = 60.0)]
        max_rate: f64,
        /// Shorten the trace (to 60 s at least) so it asks for about this many output tokens.
        #[arg(long, default_value_t = 600_000.0)]
        max_tokens: f64,
        /// Candidate TPs, prefill and decode alike (TP 8 never fits a graph in 8 GPUs).
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        tp: Vec<u32>,
        /// (scenario, seed) runs at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Only the first N scenarios (quick checks).
        #[arg(long)]
        scenarios: Option<usize>,
        #[command(flatten)]
        methods: MethodArgs,
        /// Also write the markdown report here.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write every run's numbers as JSON here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Run nothing: render the report of a JSON file an earlier run wrote.
        #[arg(long, value_name = "FILE", conflicts_with = "json")]
        from_json: Option<PathBuf>,
    },
    /// `profcmp run` on the defaults, timed per stage with peak memory; then how the time grows
    /// with the trace length and the number of candidates.
    Run {
        /// Trace lengths of the scaling runs, s.
        #[arg(long, value_delimiter = ',', default_value = "300,900,1800,3600")]
        trace_durations: Vec<f64>,
        /// Candidate TP sets of the scaling runs (`1-2` is {1,2}).
        #[arg(long, value_delimiter = ',', default_value = "1-2,1-2-4,1-2-4-8")]
        tp_sets: Vec<String>,
        /// Only the default run.
        #[arg(long)]
        no_scaling: bool,
        #[command(flatten)]
        methods: MethodArgs,
        /// Also write the markdown report here.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Runs one bench; prints its report and writes it to `--output`.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let (report, output) = match args.command {
        BenchCommand::Plugins {
            iterations,
            copies,
            minimal,
            methods,
            output,
        } => (
            report::plugins(&runner::plugins(iterations.max(1), copies.max(1), minimal, &methods)?),
            output,
        ),
        BenchCommand::Methods {
            from_json: Some(path),
            output,
            ..
        } => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let doc: runner::MethodsBench =
                serde_json::from_str(&text).with_context(|| format!("{}: not a methods bench JSON", path.display()))?;
            (report::methods(&doc), output)
        }
        BenchCommand::Methods {
            seeds,
            trace_duration,
            load,
            max_rate,
            max_tokens,
            tp,
            jobs,
            scenarios,
            methods,
            output,
            json,
            from_json: None,
        } => {
            let load = scenarios::Load {
                trace_duration_s: trace_duration,
                fraction: load,
                max_rate,
                max_tokens,
            };
            let doc = runner::methods(seeds.max(1), load, &tp, jobs, scenarios, &methods)?;
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&doc).expect("bench results serialize") + "\n";
                std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            (report::methods(&doc), output)
        }
        BenchCommand::Run {
            trace_durations,
            tp_sets,
            no_scaling,
            methods,
            output,
        } => (
            report::run(&runner::run(&trace_durations, &tp_sets, no_scaling, &methods)?),
            output,
        ),
    };
    print!("{report}");
    if let Some(path) = output {
        std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("profcmp-bench-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
