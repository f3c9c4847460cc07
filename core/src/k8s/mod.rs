//! The Kubernetes backend: deploys configs as DynamoGraphDeployments on a real cluster with
//! NVIDIA Dynamo's operator, measures them through a port-forward, tears them down.
//!
//! - [`graph`]: the objects (the sweep graphs Dynamo's profiler deploys, per framework and
//!   Dynamo version, or a method's `config_with_planner.yaml`), with the run's labels;
//! - [`names`]: DNS-1123 names and Dynamo's length limits, checked before anything is applied;
//! - [`v1beta1`]: graphs converted to `nvidia.com/v1beta1` for clusters that prefer it;
//! - [`cluster`]: the API calls (apply, wait, delete, cleanup by label, ConfigMaps, logs), async
//!   over a [`kube::Client`];
//! - [`backend`]: [`K8sBackend`], the synchronous [`crate::backend::Backend`] over a tokio runtime
//!   it owns; it deletes whatever it created when dropped;
//! - [`measure`]: the port-forward to the frontend and the [`Loadgen`] seam (the built-in load
//!   generator of [`crate::endpoint`] behind it);
//! - [`dgdr`]: Dynamo's own profiler (a DynamoGraphDeploymentRequest) run as a method.
//!
//! Every object carries the labels [`graph::LABEL_RUN`] and [`graph::LABEL_METHOD`], so
//! [`cluster::Cluster::cleanup`] finds what a killed run left.

pub mod backend;
pub mod cluster;
pub mod dgdr;
pub mod graph;
pub mod measure;
#[cfg(test)]
mod mock;
pub mod names;
pub mod run;
#[cfg(test)]
mod schema;
#[cfg(test)]
mod tests;
pub mod v1beta1;

pub use backend::{K8sBackend, K8sSettings};
pub use cluster::Cluster;
pub use measure::Loadgen;

/// Errors of the Kubernetes backend; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// No kubeconfig and not in a cluster.
    #[error("no kubeconfig found ({0}): set KUBECONFIG or create ~/.kube/config (your cluster's admin or provider gives one)")]
    NoKubeconfig(String),
    /// The kubeconfig is there but the API server does not answer.
    #[error("cannot reach the Kubernetes API server at {url} ({cause}): check that the cluster is up and that --context selects it (`kubectl cluster-info`)")]
    Unreachable {
        /// The API server's URL.
        url: String,
        /// What failed.
        cause: String,
    },
    /// The Dynamo CRDs are not installed.
    #[error("the cluster has no {kind} resource (group nvidia.com): install NVIDIA Dynamo's operator and CRDs (helm charts dynamo-crds and dynamo-platform) first")]
    MissingCrd {
        /// The kind not found.
        kind: String,
    },
    /// RBAC refused a call.
    #[error("no permission to {verb} {resource} in namespace {namespace}: ask for a Role that grants it (check with `kubectl auth can-i {verb} {resource} -n {namespace}`)")]
    Forbidden {
        /// The verb (create, get, delete, list, ...).
        verb: String,
        /// The resource (plural).
        resource: String,
        /// The namespace.
        namespace: String,
    },
    /// The namespace does not exist.
    #[error("namespace {0} does not exist: create it (`kubectl create namespace {0}`) or pass --namespace")]
    NoNamespace(String),
    /// An object is not there.
    #[error("{resource} {name} not found in namespace {namespace}")]
    NotFound {
        /// The resource (plural).
        resource: String,
        /// The object's name.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// Something did not happen in time.
    #[error("{what} not done after {seconds} s{details}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
        /// Pod states and recent events, if any.
        details: String,
    },
    /// The run was cancelled (Ctrl-C).
    #[error("cancelled")]
    Cancelled,
    /// Anything else the API server said.
    #[error("{0}")]
    Api(String),
    /// A manifest profcmp was about to apply is not usable (bad input, nothing reached the cluster).
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Why a manifest profcmp would apply (a base graph, a method's `config_with_planner.yaml`, a
/// DGDR file, an object's name) is not usable: bad input, found before anything reaches the
/// cluster. Each message names the file or object, the rule broken and, where there is one, the
/// fix.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A name breaks a Kubernetes or Grove limit.
    #[error("{0}")]
    Name(String),
    /// A base graph template cannot be read or converted for the request.
    #[error("{0}")]
    BaseGraph(String),
    /// A method's `config_with_planner.yaml` cannot be applied as asked.
    #[error("{0}")]
    PlannedGraph(String),
    /// A DynamoGraphDeploymentRequest file is not one profcmp can submit.
    #[error("{0}")]
    Request(String),
    /// A v1alpha1 graph has a field v1beta1 cannot express.
    #[error("{0}")]
    Conversion(String),
}

/// A short id for one run, used in object names and the run-id label: unix time and pid in hex.
pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs:x}{:04x}", std::process::id() & 0xffff)
}
