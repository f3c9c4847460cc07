//! The Kubernetes side of the CLI: `--cluster k8s` runs, `profcmp k8s cleanup` and
//! `profcmp k8s dgdr`, and the sweep that removes what a run left.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use profcmp_core::backend::Backend;
use profcmp_core::endpoint::LoadSettings;
use profcmp_core::estimator::EstimatorSet;
use profcmp_core::k8s::backend::{runtime, WorkerLimits};
use profcmp_core::k8s::cluster::Kind;
use profcmp_core::k8s::dgdr::{self, DgdrSettings};
use profcmp_core::k8s::measure::Builtin;
use profcmp_core::k8s::{new_run_id, Cluster, K8sBackend, K8sSettings};
use profcmp_core::layout::{OptimizationRecord, ResultsDir};
use profcmp_core::spec::RunSpec;
use profcmp_core::stage::optimize::{run_job, PlannedJob};
use profcmp_core::stage::Observer;
use profcmp_plugin_api::TraceRequest;

/// Where the cluster is: kubeconfig context and namespace.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Kubernetes namespace (default: the context's, else `default`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// kubeconfig context (default: the current one; kubeconfig from KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub context: Option<String>,
}

/// Settings of `--cluster k8s` runs.
#[derive(Args, Debug, Clone, Default)]
pub struct K8sArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Directory of base graphs replacing the shipped ones (`trtllm.yaml`, `vllm.yaml`,
    /// `sglang.yaml`: a disaggregated DynamoGraphDeployment in nvidia.com/v1alpha1 form; see
    /// core/data/k8s/<dynamo version>/). Sweep graphs are converted from them as the
    /// --dynamo-version's profiler converts them.
    #[arg(long, value_name = "DIR")]
    pub k8s_templates: Option<PathBuf>,
    /// Seconds a deployment may take to become Ready before it is reported and torn down.
    #[arg(long, default_value_t = 1800)]
    pub ready_timeout: u64,
}

/// `profcmp k8s ...`.
#[derive(Subcommand, Debug)]
pub enum K8sCommand {
    /// Delete every object a run created (by its run-id label), e.g. after the run was killed.
    Cleanup {
        /// The run id, as printed at the start of the run.
        #[arg(long)]
        run: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Run Dynamo's own profiler (a DynamoGraphDeploymentRequest) as method NAME: its log goes
    /// to results/NAME/profile_sla.log, its output to results/NAME/config_with_planner.yaml and
    /// results/NAME/profile.json; validate, optimize and compare then treat it like a plugin.
    Dgdr {
        /// The DynamoGraphDeploymentRequest YAML.
        #[arg(long)]
        file: PathBuf,
        /// Method id to record the results under.
        #[arg(long)]
        method: String,
        /// Results directory.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Seconds profiling may take.
        #[arg(long, default_value_t = 4 * 3600)]
        timeout: u64,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

/// The run being cleaned up if the process is killed by a second Ctrl-C.
static ACTIVE: Mutex<Option<(ClusterArgs, String)>> = Mutex::new(None);

/// Runs `profcmp k8s ...`.
pub fn command(command: K8sCommand) -> anyhow::Result<()> {
    match command {
        K8sCommand::Cleanup { run, cluster } => {
            let runtime = runtime()?;
            let cluster = runtime.block_on(connect(&cluster))?;
            let removed = runtime.block_on(cluster.cleanup(&run, Some(Duration::from_secs(600))))?;
            for object in &removed {
                println!("deleted {object}");
            }
            println!("nothing of run {run} is left in namespace {}", cluster.namespace);
            Ok(())
        }
        K8sCommand::Dgdr {
            file,
            method,
            results,
            timeout,
            cluster,
        } => dgdr_command(&file, &method, &results, timeout, &cluster),
    }
}

fn dgdr_command(file: &Path, method: &str, results: &Path, timeout: u64, args: &ClusterArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let request = dgdr::read_request(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let console = crate::output::Console::new(false, false);
    let cancelled = console.cancel_flag();
    let runtime = runtime()?;
    let cluster = runtime.block_on(connect(args))?;
    runtime.block_on(cluster.preflight(&[Kind::Request]))?;
    let run_id = new_run_id();
    let _sweep = Sweep::new(args, &run_id);
    eprintln!(
        "k8s: run {run_id} in namespace {} (if killed: `profcmp k8s cleanup --run {run_id}`)",
        cluster.namespace
    );
    let settings = DgdrSettings {
        method: method.to_string(),
        run_id,
        timeout: Duration::from_secs(timeout),
        delete_timeout: Duration::from_secs(600),
    };
    let is_cancelled = move || cancelled.load(std::sync::atomic::Ordering::SeqCst);
    let outcome = runtime.block_on(dgdr::run(
        &cluster,
        &request,
        &settings,
        &ResultsDir::new(results),
        &is_cancelled,
    ))?;
    let l = &outcome.record.ledger;
    let result = outcome.record.result.as_ref().expect("a finished request has a result");
    println!(
        "dgdr {method}: {}, prefill TP{} / decode TP{}; {:.0} s, {} deployments, {:.2} GPU-h (estimated); {} log lines",
        outcome.state, result.prefill.tp, result.decode.tp, l.duration_s, l.deployments, l.gpu_hours, outcome.log_lines
    );
    println!("wrote {}", results.join(method).display());
    Ok(())
}

async fn connect(args: &ClusterArgs) -> anyhow::Result<Cluster> {
    Ok(Cluster::connect(args.context.as_deref(), args.namespace.as_deref()).await?)
}

/// A `--cluster k8s` run: makes one backend per stage subject, labelled with the run id, and
/// removes whatever is left with that label when dropped.
pub struct K8sRun {
    run_id: String,
    args: K8sArgs,
    spec: RunSpec,
    limits: WorkerLimits,
    cancelled: Arc<AtomicBool>,
    _sweep: Option<Sweep>,
}

impl K8sRun {
    /// Checks the cluster once (for a clear error before any stage) and prints the run id.
    pub fn start(
        args: &K8sArgs,
        spec: &RunSpec,
        estimators: Arc<EstimatorSet>,
        cancelled: Arc<AtomicBool>,
    ) -> anyhow::Result<K8sRun> {
        let run_id = new_run_id();
        let limits: WorkerLimits = Arc::new(move |tp| {
            let estimator = estimators.get(tp)?;
            Ok((estimator.kv_capacity_tokens(), estimator.max_batch()))
        });
        let mut run = K8sRun {
            _sweep: None,
            run_id,
            args: args.clone(),
            spec: spec.clone(),
            limits,
            cancelled,
        };
        // Checks the cluster before anything can be created (and before a sweep could warn).
        drop(run.connect("preflight", None)?);
        run._sweep = Some(Sweep::new(&args.cluster, &run.run_id));
        eprintln!(
            "k8s: run {} (if killed: `profcmp k8s cleanup --run {}`)",
            run.run_id, run.run_id
        );
        Ok(run)
    }

    fn connect(&self, subject: &str, planned: Option<String>) -> Result<K8sBackend, profcmp_core::k8s::K8sError> {
        let mut settings = K8sSettings::new(&self.run_id, subject, &self.spec.model, self.spec.backend);
        settings.dynamo_version = self.spec.dynamo_version;
        settings.isl = self.spec.sla.isl;
        settings.templates = self.args.k8s_templates.clone();
        settings.ready_timeout = Duration::from_secs(self.args.ready_timeout);
        settings.planned = planned;
        K8sBackend::connect(
            settings,
            self.args.cluster.context.as_deref(),
            self.args.cluster.namespace.as_deref(),
            self.limits.clone(),
            Arc::new(Builtin(LoadSettings {
                seed: self.spec.seed,
                ..LoadSettings::default()
            })),
            self.cancelled.clone(),
        )
    }

    /// A backend for one subject (method id, `oracle`, ...), deploying `planned` for graphs.
    pub fn backend(&self, subject: &str, planned: Option<String>) -> Result<Box<dyn Backend>, String> {
        Ok(Box::new(self.connect(subject, planned).map_err(|e| e.to_string())?))
    }

    /// A stage backend factory for one subject.
    pub fn factory<'a>(&'a self, subject: &'a str) -> impl Fn(u64) -> Result<Box<dyn Backend>, String> + Sync + 'a {
        move |_seed| self.backend(subject, None)
    }

    /// Capacity B without deploying: the smallest (KV capacity / (ISL + OSL), max batch) among
    /// the methods' decode workers, from the estimator (what a deployment would report).
    pub fn capacity(&self, methods: &[(String, profcmp_plugin_api::ProfileResult)]) -> anyhow::Result<u32> {
        if let Some(b) = self.spec.max_batch {
            return Ok(b);
        }
        let per_request = u64::from(self.spec.sla.isl + self.spec.sla.osl);
        let mut capacity = u32::MAX;
        for (_, result) in methods {
            let (kv, max_batch) = (self.limits)(result.decode.tp).map_err(anyhow::Error::msg)?;
            capacity = capacity.min((kv / per_request).min(u64::from(max_batch)).max(1) as u32);
        }
        Ok(if capacity == u32::MAX { 1 } else { capacity })
    }

    /// Runs planner jobs one after another, each deploying its `config_with_planner.yaml` as is:
    /// a method's own, or for the oracle one written from its measured profile.
    pub fn run_jobs(
        &self,
        results: &ResultsDir,
        jobs: &[PlannedJob],
        trace: &[TraceRequest],
        seed: u64,
        observer: &dyn Observer,
    ) -> Vec<Result<OptimizationRecord, String>> {
        jobs.iter()
            .map(|job| {
                if observer.cancelled() {
                    return Err("cancelled".to_string());
                }
                let planned = self.planned_yaml(results, job)?;
                let mut backend = self.backend(&job.subject, Some(planned))?;
                run_job(&self.spec, job, trace, seed, backend.as_mut(), observer)
            })
            .collect()
    }

    fn planned_yaml(&self, results: &ResultsDir, job: &PlannedJob) -> Result<String, String> {
        if !job.subject.starts_with("oracle ") {
            let path = results.config_with_planner(&job.subject);
            return std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()));
        }
        let mut graph = profcmp_core::dynamo::GraphSpec::new(
            &self.spec.model,
            self.spec.backend,
            self.spec.sla.ttft_ms,
            self.spec.sla.itl_ms,
            job.prefill_tp,
            job.decode_tp,
        );
        graph.max_gpu_budget = self.spec.search.gpu_budget;
        let yaml = profcmp_core::dynamo::write_config_with_planner(&graph, &job.profile).map_err(|e| e.to_string())?;
        let path = job.dir.parent().unwrap_or(&job.dir).join("config_with_planner.yaml");
        profcmp_core::fsio::write_atomic(&path, yaml.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(yaml)
    }
}

/// Deletes everything labelled with a run id when dropped (the end of a run, an error, a panic),
/// and registers the run for [`on_kill`] while it lives.
struct Sweep {
    args: ClusterArgs,
    run_id: String,
}

impl Sweep {
    fn new(args: &ClusterArgs, run_id: &str) -> Sweep {
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some((args.clone(), run_id.to_string()));
        Sweep {
            args: args.clone(),
            run_id: run_id.to_string(),
        }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match sweep(&self.args, &self.run_id, Some(Duration::from_secs(600))) {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => eprintln!("k8s: removed what run {} left: {}", self.run_id, removed.join(", ")),
            Err(e) => eprintln!(
                "warning: k8s: could not check that run {} left nothing ({e}); run `profcmp k8s cleanup --run {}`",
                self.run_id, self.run_id
            ),
        }
    }
}

fn sweep(args: &ClusterArgs, run_id: &str, wait: Option<Duration>) -> anyhow::Result<Vec<String>> {
    let runtime = runtime()?;
    let cluster = runtime.block_on(connect(args))?;
    Ok(runtime.block_on(cluster.cleanup(run_id, wait))?)
}

/// Called on the second Ctrl-C, before the process exits: deletes the active run's objects
/// (without waiting until they are gone) so no GPU deployment outlives the process.
pub fn on_kill() {
    let active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some((args, run_id)) = active {
        eprintln!("k8s: deleting what run {run_id} created");
        match sweep(&args, &run_id, None) {
            Ok(removed) => eprintln!(
                "k8s: deleting {} object(s); check with `profcmp k8s cleanup --run {run_id}`",
                removed.len()
            ),
            Err(e) => eprintln!("k8s: {e}; run `profcmp k8s cleanup --run {run_id}`"),
        }
    }
}
