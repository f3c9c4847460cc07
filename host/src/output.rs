//! Terminal output of long runs: progress bars on a terminal, plain lines otherwise; Ctrl-C.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use profcmp_core::stage::Observer;
use profcmp_plugin_api::LogLevel;

/// Shows stage and method progress and turns the first Ctrl-C into a cancellation request.
pub struct Console {
    bar: Option<ProgressBar>,
    cancelled: Arc<AtomicBool>,
    verbose: bool,
}

impl Console {
    /// A console with a spinner when stderr is a terminal and `progress` is on.
    pub fn new(progress: bool, verbose: bool) -> Console {
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = cancelled.clone();
        // A second Ctrl-C kills the process; files already written are complete (atomic writes).
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                crate::isolate::kill_workers();
                sweep_k8s_run();
                std::process::exit(130);
            }
            eprintln!("\ncancelling: asking the running method to stop, then tearing down (Ctrl-C again to kill)");
        });
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("valid template"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Console {
            bar,
            cancelled,
            verbose,
        }
    }

    /// The flag the first Ctrl-C sets, for work that polls it outside the stages.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    /// Prints a line above the spinner.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Console {
    fn log(&self, method: &str, level: LogLevel, message: &str) {
        if self.verbose || matches!(level, LogLevel::Warn | LogLevel::Error) {
            self.line(&format!("  {method}: {level:?}: {message}"));
        }
    }

    fn progress(&self, method: &str, done: u64, total: u64, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("profile {method}: {done}/{total} {message}"));
        }
    }

    fn stage_progress(&self, stage: &str, subject: &str, message: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{stage} {subject}: {message}")),
            None if self.verbose => eprintln!("{stage} {subject}: {message}"),
            None => {}
        }
    }

    fn note(&self, message: &str) {
        self.line(message);
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// On the second Ctrl-C: starts deleting what the active Kubernetes run created, so no GPU
/// deployment outlives the process.
fn sweep_k8s_run() {
    if let Some((run_id, removed)) = profcmp_core::k8s::run::sweep_active() {
        eprintln!("k8s: deleting what run {run_id} created");
        match removed {
            Ok(n) => eprintln!("k8s: deleting {n} object(s); check with `profcmp k8s cleanup --run {run_id}`"),
            Err(e) => eprintln!("k8s: {e}; run `profcmp k8s cleanup --run {run_id}`"),
        }
    }
}
