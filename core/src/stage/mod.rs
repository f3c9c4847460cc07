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
    /// A line the run reports: a stage's result.
    fn note(&self, _message: &str) {}
    /// Something dropped or not written (also kept in run.json).
    fn warn(&self, message: &str) {
        self.note(&format!("warning: {message}"));
    }
    /// True once the user asked to stop.
    fn cancelled(&self) -> bool;
}

/// Makes a fresh backend seeded with the given seed (one per method or job, so each has its own
/// clock and stages can run jobs in parallel).
pub type BackendFactory<'a> = dyn Fn(u64) -> Result<Box<dyn crate::backend::Backend>, String> + Sync + 'a;

/// The targets of the tracing events [`Traced`] emits, for subscribers to filter and show.
pub mod targets {
    /// A stage's results and warnings (INFO, WARN).
    pub const RUN: &str = "profcmp";
    /// A method's own log lines, at the method's level (field `method`).
    pub const METHOD: &str = "profcmp::method";
    /// A stage's step for one subject (INFO; fields `stage`, `subject`).
    pub const STEP: &str = "profcmp::step";
    /// A method's own progress (TRACE; fields `method`, `done`, `total`).
    pub const PROGRESS: &str = "profcmp::progress";
}

/// Reports everything as tracing events (targets in [`targets`]) and cancels when `cancelled`
/// is set (e.g. by Ctrl-C). Core emits; the host's subscriber decides what is shown.
pub struct Traced {
    cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Traced {
    /// An observer that cancels once `cancelled` is set.
    pub fn new(cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Traced {
        Traced { cancelled }
    }
}

impl Observer for Traced {
    fn log(&self, method: &str, level: LogLevel, message: &str) {
        use targets::METHOD;
        match level {
            LogLevel::Error => tracing::error!(target: METHOD, method, "{message}"),
            LogLevel::Warn => tracing::warn!(target: METHOD, method, "{message}"),
            LogLevel::Info => tracing::info!(target: METHOD, method, "{message}"),
            LogLevel::Debug => tracing::debug!(target: METHOD, method, "{message}"),
            // A level this host does not know reads as INFO.
            _ => tracing::info!(target: METHOD, method, "{message}"),
        }
    }

    fn progress(&self, method: &str, done: u64, total: u64, message: &str) {
        tracing::trace!(target: targets::PROGRESS, method, done, total, "{message}");
    }

    fn stage_progress(&self, stage: &str, subject: &str, message: &str) {
        tracing::info!(target: targets::STEP, stage, subject, "{message}");
    }

    fn note(&self, message: &str) {
        tracing::info!(target: targets::RUN, "{message}");
    }

    fn warn(&self, message: &str) {
        tracing::warn!(target: targets::RUN, "{message}");
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::SeqCst)
    }
}

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
