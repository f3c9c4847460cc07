//! The stages: profile, validate, optimize, compare. Stages return data and never print.

use profcmp_plugin_api::LogLevel;

pub mod compare;
pub mod optimize;
pub mod profile;
pub mod validate;

/// Receives what stages and methods report, for the host to show; also carries cancellation.
pub trait Observer: Sync {
    /// A log line from a method.
    fn log(&self, method: &str, level: LogLevel, message: &str);
    /// Progress of a method's own work.
    fn progress(&self, method: &str, done: u64, total: u64, message: &str);
    /// A stage's step for one method (or the oracle).
    fn stage_progress(&self, stage: &str, subject: &str, message: &str);
    /// A line the run reports whatever the verbosity: a stage's result, a warning.
    fn note(&self, _message: &str) {}
    /// True once the user asked to stop.
    fn cancelled(&self) -> bool;
}

/// Makes a fresh backend seeded with the given seed (one per method or job, so each has its own
/// clock and stages can run jobs in parallel).
pub type BackendFactory<'a> = dyn Fn(u64) -> Result<Box<dyn crate::backend::Backend>, String> + Sync + 'a;

/// An observer that shows nothing and never cancels (tests, benchmarks).
pub struct Quiet;

impl Observer for Quiet {
    fn log(&self, _: &str, _: LogLevel, _: &str) {}
    fn progress(&self, _: &str, _: u64, _: u64, _: &str) {}
    fn stage_progress(&self, _: &str, _: &str, _: &str) {}
    fn cancelled(&self) -> bool {
        false
    }
}
