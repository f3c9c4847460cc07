//! Terminal output: the tracing subscriber (RUST_LOG, -v/-q, --json-events), a progress spinner
//! fed by the stages' events on a terminal, plain lines otherwise; Ctrl-C.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use profcmp_core::stage::{targets, Observer, Traced};
use profcmp_plugin_api::LogLevel;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The spinner while a run shows one: log lines are printed above it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// What stderr shows by verbosity, unless RUST_LOG says otherwise.
fn default_filter(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        // Libraries (kube, hyper, aisimulate) only from -v on: profcmp's errors already say what
        // failed, in one line.
        (true, _) => "profcmp=warn",
        // Results and warnings; a method's warnings and errors.
        (false, 0) => "profcmp=info,profcmp::method=warn,profcmp::step=warn",
        // Every method log line and stage step; libraries (kube, hyper, aisimulate) at info.
        (false, 1) => "info,profcmp=debug",
        (false, 2) => "debug",
        (false, _) => "trace",
    }
}

/// Installs the process's subscriber: lines (or JSON objects with `json`) on stderr, filtered by
/// RUST_LOG when set, else by -v/-q; and the progress spinner's layer.
pub fn init(verbose: u8, quiet: bool, json: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::new(directives),
        // Machines get the stage steps and methods' progress too.
        _ if json && !quiet && verbose == 0 => {
            EnvFilter::new("profcmp=info,profcmp::method=warn,profcmp::progress=trace")
        }
        _ => EnvFilter::new(default_filter(verbose, quiet)),
    };
    let lines = tracing_subscriber::fmt::layer()
        .event_format(Lines { json })
        .with_writer(|| StderrAboveBar)
        .with_filter(filter);
    let progress = Progress.with_filter(filter_fn(|meta| {
        meta.target() == targets::STEP || meta.target() == targets::PROGRESS
    }));
    // Also turns what libraries log through the `log` crate (aisimulate) into events.
    let _ = Registry::default().with(lines).with(progress).try_init();
}

/// One event's fields: the message, and the fields profcmp's own events carry.
#[derive(Default)]
struct Fields {
    message: String,
    method: Option<String>,
    stage: Option<String>,
    subject: Option<String>,
    done: Option<u64>,
    total: Option<u64>,
    other: serde_json::Map<String, serde_json::Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "method" => self.method = Some(value.to_string()),
            "stage" => self.stage = Some(value.to_string()),
            "subject" => self.subject = Some(value.to_string()),
            name => {
                self.other.insert(name.to_string(), value.into());
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = Some(value),
            "total" => self.total = Some(value),
            name => {
                self.other.insert(name.to_string(), value.into());
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

fn fields(event: &Event<'_>) -> Fields {
    let mut fields = Fields::default();
    event.record(&mut fields);
    fields
}

/// The line format: profcmp's results as they are, warnings and errors prefixed, a method's
/// lines under its name, stage steps by stage and subject, libraries with level and target.
struct Lines {
    json: bool,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let meta = event.metadata();
        let f = fields(event);
        if self.json {
            let mut object = serde_json::Map::new();
            object.insert(
                "time".into(),
                profcmp_core::clock::asctime(profcmp_core::clock::now_ms()).into(),
            );
            object.insert("level".into(), meta.level().as_str().into());
            object.insert("target".into(), meta.target().into());
            for (key, value) in [("method", &f.method), ("stage", &f.stage), ("subject", &f.subject)] {
                if let Some(value) = value {
                    object.insert(key.into(), value.clone().into());
                }
            }
            for (key, value) in [("done", f.done), ("total", f.total)] {
                if let Some(value) = value {
                    object.insert(key.into(), value.into());
                }
            }
            object.extend(f.other);
            object.insert("message".into(), f.message.into());
            // The spans the event happened in, outermost first: `stage{name=profile}`, ...
            let spans: Vec<serde_json::Value> = ctx
                .event_scope()
                .into_iter()
                .flat_map(|scope| scope.from_root())
                .map(|span| {
                    let extensions = span.extensions();
                    let fields = extensions.get::<FormattedFields<N>>().map(|f| f.to_string());
                    format!("{}{{{}}}", span.name(), fields.unwrap_or_default()).into()
                })
                .collect();
            if !spans.is_empty() {
                object.insert("spans".into(), spans.into());
            }
            return writeln!(writer, "{}", serde_json::Value::Object(object));
        }
        let level = *meta.level();
        match meta.target() {
            targets::METHOD => {
                let name = match level {
                    Level::ERROR => LogLevel::Error,
                    Level::WARN => LogLevel::Warn,
                    Level::INFO => LogLevel::Info,
                    _ => LogLevel::Debug,
                };
                let method = f.method.as_deref().unwrap_or("?");
                writeln!(writer, "  {method}: {name:?}: {}", f.message)
            }
            targets::STEP => writeln!(
                writer,
                "{} {}: {}",
                f.stage.as_deref().unwrap_or("?"),
                f.subject.as_deref().unwrap_or("?"),
                f.message
            ),
            target if target.starts_with("profcmp") => match level {
                Level::ERROR => writeln!(writer, "error: {}", f.message),
                Level::WARN => writeln!(writer, "warning: {}", f.message),
                _ => writeln!(writer, "{}", f.message),
            },
            target => {
                let mut line = format!("{level} {target}: {}", f.message);
                for (key, value) in &f.other {
                    let _ = write!(line, " {key}={value}");
                }
                writeln!(writer, "{line}")
            }
        }
    }
}

/// stderr, with the spinner (if any) hidden while a line is written.
struct StderrAboveBar;

impl Write for StderrAboveBar {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(bytes))?,
            None => std::io::stderr().write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Shows stage steps and a method's progress on the spinner.
struct Progress;

impl<S: Subscriber> Layer<S> for Progress {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(bar) = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let f = fields(event);
        let message = match (f.stage, f.subject, f.method) {
            (Some(stage), Some(subject), _) => format!("{stage} {subject}: {}", f.message),
            (_, _, Some(method)) => format!(
                "profile {method}: {}/{} {}",
                f.done.unwrap_or(0),
                f.total.unwrap_or(0),
                f.message
            ),
            _ => return,
        };
        bar.set_message(message);
    }
}

/// A run's console: the spinner (on a terminal, unless `--no-progress`) and the first Ctrl-C as
/// a cancellation request; everything it reports goes through tracing.
pub struct Console {
    traced: Traced,
    cancelled: Arc<AtomicBool>,
}

impl Console {
    /// A console with a spinner when stderr is a terminal and `progress` is on. What is shown
    /// is the subscriber's choice ([`init`]); `_verbose` is kept for callers' argument lists.
    pub fn new(progress: bool, _verbose: bool) -> Console {
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
        if progress && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("valid template"));
            bar.enable_steady_tick(Duration::from_millis(120));
            *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
        }
        Console {
            traced: Traced::new(cancelled.clone()),
            cancelled,
        }
    }

    /// The flag the first Ctrl-C sets, for work that polls it outside the stages.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    /// Reports a line (above the spinner).
    pub fn line(&self, text: &str) {
        self.traced.note(text);
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = BAR.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Console {
    fn log(&self, method: &str, level: LogLevel, message: &str) {
        self.traced.log(method, level, message);
    }

    fn progress(&self, method: &str, done: u64, total: u64, message: &str) {
        self.traced.progress(method, done, total, message);
    }

    fn stage_progress(&self, stage: &str, subject: &str, message: &str) {
        self.traced.stage_progress(stage, subject, message);
    }

    fn note(&self, message: &str) {
        self.traced.note(message);
    }

    fn warn(&self, message: &str) {
        self.traced.warn(message);
    }

    fn cancelled(&self) -> bool {
        self.traced.cancelled()
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
