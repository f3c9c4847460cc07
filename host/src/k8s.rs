//! The Kubernetes flags of `--cluster k8s` runs (the run itself is `profcmp_core::k8s::run`),
//! `profcmp k8s cleanup` and `profcmp k8s dgdr`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use profcmp_core::k8s::backend::runtime;
use profcmp_core::k8s::cluster::Kind;
use profcmp_core::k8s::dgdr::{self, DgdrSettings};
use profcmp_core::k8s::run::Sweep;
use profcmp_core::k8s::{new_run_id, Cluster};
use profcmp_core::layout::ResultsDir;

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
    /// `core/data/k8s/<dynamo version>/`). Sweep graphs are converted from them as the
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
    let _sweep = Sweep::guard(args.context.clone(), args.namespace.clone(), &run_id);
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
