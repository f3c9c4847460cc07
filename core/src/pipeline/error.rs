//! Why a run stopped. A method that fails is not one of these: it is counted in the
//! [`super::Outcome`] and the run goes on.

use std::path::PathBuf;

/// Any error of the modules a run calls, kept with its causes.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors that stop a run; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The user asked to stop (Ctrl-C); completed work is on disk.
    #[error("cancelled: what was written is kept; rerun the same command to continue where it stopped")]
    Cancelled,
    /// The model, GPU system, perf database, reality or trace the spec names cannot be used (the
    /// message names the setting and what is valid).
    #[error(transparent)]
    Setup(BoxError),
    /// The backend cannot be opened or cannot make a deployment (the message says why, e.g.
    /// the Kubernetes preflight).
    #[error(transparent)]
    Backend(BoxError),
    /// The methods cannot be resolved or loaded (the message names the method or file).
    #[error(transparent)]
    Methods(BoxError),
    /// A stage cannot go on (e.g. no GPU budget serves the trace).
    #[error("{0}")]
    Stage(String),
    /// The results directory cannot be listed.
    #[error("cannot read {}: run `profcmp profile` first", path.display())]
    NoResults {
        /// The results directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No method has a successful profile to validate or optimize.
    #[error("no successful profile in {}: run `profcmp profile` first", path.display())]
    NoProfile {
        /// The results directory.
        path: PathBuf,
    },
    /// A directory of the results cannot be created.
    #[error("cannot create {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A result file cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl PipelineError {
    pub(crate) fn setup(error: impl Into<BoxError>) -> PipelineError {
        PipelineError::Setup(error.into())
    }
}
