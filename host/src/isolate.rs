//! Runs each plugin in a child `profcmp` process, so a plugin that aborts or segfaults fails
//! alone: the child loads the plugin and forwards every host call over its stdin/stdout.
//!
//! The child leads its own process group; what it prints on stdout and stderr lands in the
//! method's log (within `limits::MAX_LOG_BYTES`); a message over `limits::MAX_MESSAGE_BYTES` or a
//! run over the wall-clock timeout kills the group and fails the method.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use profcmp_core::stage::profile::MethodRunner;
use profcmp_plugin_api::sdk::HostServer;
use profcmp_plugin_api::*;
use serde::{Deserialize, Serialize};

use crate::load;

/// Marks protocol lines on the child's stdout; anything else the plugin prints is forwarded as log.
const MARK: &str = "\u{1e}profcmp:";

/// The hidden subcommand the child runs.
pub const WORKER_COMMAND: &str = "__plugin-worker";

// One message per line, serialized: the size of the in-memory enum does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize)]
enum ToParent {
    Call {
        method: String,
        payload: String,
    },
    Done {
        result: Result<ProfileResult, PluginError>,
        cost: Option<CostReport>,
    },
}

#[derive(Serialize, Deserialize)]
struct Answer(Result<String, PluginError>);

/// A plugin that runs in a child process.
pub struct IsolatedPlugin {
    manifest: Manifest,
    path: PathBuf,
    timeout: Duration,
    last_cost: RefCell<Option<CostReport>>,
}

impl IsolatedPlugin {
    /// Reads the plugin's manifest (in a child process); the full load (and its ABI checks)
    /// happens in the worker. `timeout` is the wall-clock time the worker may take.
    pub fn new(resolved: &load::Resolved, timeout: Duration) -> Result<IsolatedPlugin, String> {
        let manifest = load::read_manifest(&resolved.path)?;
        load::check_name(&manifest.name).map_err(|e| format!("{}: {e}", resolved.path.display()))?;
        Ok(IsolatedPlugin {
            manifest,
            path: resolved.path.clone(),
            timeout,
            last_cost: RefCell::new(None),
        })
    }
}

fn crashed(message: String) -> PluginError {
    PluginError::new("crashed", message).with_help("the plugin process died; its other results are kept")
}

/// Process ids of the live workers (each leads its own process group), for the second Ctrl-C.
static WORKERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every live worker's process group (the second Ctrl-C, before the host exits).
pub fn kill_workers() {
    for pid in WORKERS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        kill_group(*pid);
    }
}

fn kill_group(pid: u32) {
    // Safety: kill(2) on our own child's process group; a stale id fails with ESRCH.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// What the reader threads see on the worker's pipes.
enum Event {
    Stdout(Line),
    Stderr(Line),
    StdoutClosed,
    StderrClosed,
}

/// One line, cut at a limit.
struct Line {
    text: String,
    cut: bool,
}

/// Reads lines of at most `max` bytes (the rest of a longer line is consumed and dropped).
fn read_line(reader: &mut impl BufRead, max: usize) -> Option<Line> {
    let mut buf = Vec::new();
    let mut cut = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => &[],
        };
        if available.is_empty() {
            return (!buf.is_empty() || cut).then(|| Line {
                text: String::from_utf8_lossy(&buf).into_owned(),
                cut,
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        cut |= chunk.len() > room;
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        if done.is_some() {
            return Some(Line {
                text: String::from_utf8_lossy(&buf).into_owned(),
                cut,
            });
        }
    }
}

fn spawn_reader(pipe: impl std::io::Read + Send + 'static, tx: Sender<Event>, stdout: bool) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        while let Some(line) = read_line(&mut reader, limits::MAX_MESSAGE_BYTES) {
            let event = if stdout {
                Event::Stdout(line)
            } else {
                Event::Stderr(line)
            };
            if tx.send(event).is_err() {
                return;
            }
        }
        let _ = tx.send(if stdout {
            Event::StdoutClosed
        } else {
            Event::StderrClosed
        });
    });
}

/// After the worker's stdout closes, how long its stderr may take to drain.
const STDERR_GRACE: Duration = Duration::from_secs(2);

impl MethodRunner for IsolatedPlugin {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn profile(&self, request: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        let exe = std::env::current_exe().map_err(|e| crashed(format!("cannot find the profcmp executable: {e}")))?;
        // Its own process group: Ctrl-C on the terminal reaches the host only, which asks the
        // method to cancel (first) or kills the group (second).
        let mut child = Command::new(exe)
            .arg(WORKER_COMMAND)
            .arg(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| crashed(format!("cannot start the plugin process: {e}")))?;
        let pid = child.id();
        WORKERS.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
        let mut to_child = child.stdin.take().expect("piped stdin");
        let (tx, rx) = channel();
        spawn_reader(child.stdout.take().expect("piped stdout"), tx.clone(), true);
        spawn_reader(child.stderr.take().expect("piped stderr"), tx, false);
        let send = |to_child: &mut std::process::ChildStdin, text: String| writeln!(to_child, "{text}").is_ok();
        send(
            &mut to_child,
            serde_json::to_string(request).expect("request serializes"),
        );
        let server = HostServer::new(host);
        let far = Duration::from_secs(100 * 365 * 24 * 3600);
        let deadline = Instant::now() + self.timeout.min(far);
        let mut stdout_open = true;
        let mut drain_until = None;
        let mut outcome = None;
        loop {
            // Checked on every event too: a method that prints or calls the host without end
            // must not outlive its timeout.
            let now = Instant::now();
            if drain_until.is_some_and(|until| now >= until) {
                break;
            }
            if now >= deadline {
                if outcome.is_none() {
                    let message = format!(
                        "timed out: still running after {} s of wall-clock time; its process was killed",
                        self.timeout.as_secs_f64()
                    );
                    let help = "raise --method-timeout if the method needs longer";
                    outcome = Some(Err(PluginError::new("timeout", message).with_help(help)));
                }
                break;
            }
            let until = drain_until.unwrap_or(deadline).min(deadline);
            let event = match rx.recv_timeout(until.saturating_duration_since(now)) {
                Ok(event) => event,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => continue,
            };
            match event {
                Event::Stderr(line) => host.log(LogLevel::Info, &format!("[stderr] {}", line.text)),
                Event::StderrClosed if !stdout_open => break,
                Event::StderrClosed => {}
                Event::StdoutClosed => {
                    stdout_open = false;
                    drain_until = Some(Instant::now() + STDERR_GRACE);
                }
                Event::Stdout(line) => {
                    let Some((printed, message)) = line.text.split_once(MARK) else {
                        if !line.text.is_empty() {
                            host.log(LogLevel::Info, &format!("[stdout] {}", line.text));
                        }
                        continue;
                    };
                    if !printed.is_empty() {
                        host.log(LogLevel::Info, &format!("[stdout] {printed}"));
                    }
                    if line.cut {
                        outcome = Some(Err(PluginError::new(
                            "limit",
                            format!(
                                "a message from the plugin is over the limit of {} bytes; its process was killed",
                                limits::MAX_MESSAGE_BYTES
                            ),
                        )));
                        break;
                    }
                    match serde_json::from_str::<ToParent>(message) {
                        Ok(ToParent::Call { method, payload }) => {
                            let answer = Answer(server.dispatch(&method, &payload));
                            if !send(
                                &mut to_child,
                                serde_json::to_string(&answer).expect("answer serializes"),
                            ) {
                                break;
                            }
                        }
                        Ok(ToParent::Done { result, cost }) => {
                            *self.last_cost.borrow_mut() = cost;
                            outcome = Some(result);
                            // Keep what it still prints on stderr, briefly.
                            drain_until = Some(Instant::now() + STDERR_GRACE);
                        }
                        Err(e) => {
                            outcome = Some(Err(PluginError::new(
                                "garbage",
                                format!("unreadable message from the plugin process: {e}"),
                            )));
                            break;
                        }
                    }
                }
            }
        }
        drop(to_child);
        // Whatever it left running (a hang, a forked helper) goes with its group.
        kill_group(pid);
        let status = child.wait();
        WORKERS.lock().unwrap_or_else(|p| p.into_inner()).retain(|&p| p != pid);
        let status = status.map_err(|e| crashed(format!("lost the plugin process: {e}")))?;
        outcome.unwrap_or_else(|| {
            Err(crashed(format!(
                "the plugin process exited without an answer ({status})"
            )))
        })
    }

    fn report_cost(&self) -> Option<CostReport> {
        self.last_cost.borrow().clone()
    }
}

/// The child's side: loads the plugin, runs `profile` with host calls forwarded to the parent.
pub fn worker(path: &Path) -> std::process::ExitCode {
    die_with_parent();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let reply = |message: ToParent| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "\n{MARK}{}",
            serde_json::to_string(&message).expect("message serializes")
        );
        let _ = out.flush();
    };
    #[allow(clippy::result_large_err)] // once per worker process
    let mut run = || -> Result<(ProfileResult, Option<CostReport>), (PluginError, Option<CostReport>)> {
        let request: ProfileRequest = lines
            .next()
            .and_then(|l| l.ok())
            .and_then(|l| serde_json::from_str(&l).ok())
            .ok_or_else(|| (PluginError::new("invalid_request", "no request from the parent"), None))?;
        let resolved = load::Resolved {
            name: String::new(),
            version: String::new(),
            path: path.to_path_buf(),
            sha256: String::new(),
            api_version: String::new(),
            options: serde_json::Value::Null,
        };
        let plugin = load::load(&resolved).map_err(|e| (PluginError::new("load", e), None))?;
        let host = PipeHost {
            lines: RefCell::new(&mut lines),
            reply: &reply,
        };
        let result = plugin.profile(&request, &host);
        let cost = plugin.report_cost();
        result.map(|r| (r, cost.clone())).map_err(|e| (e, cost))
    };
    let (result, cost) = match run() {
        Ok((r, cost)) => (Ok(r), cost),
        Err((e, cost)) => (Err(e), cost),
    };
    reply(ToParent::Done { result, cost });
    std::process::ExitCode::SUCCESS
}

/// The child's host context: each call is a line to the parent and a line back.
struct PipeHost<'a, L: Iterator<Item = std::io::Result<String>>> {
    lines: RefCell<&'a mut L>,
    reply: &'a dyn Fn(ToParent),
}

impl<L: Iterator<Item = std::io::Result<String>>> PipeHost<'_, L> {
    fn call<T: serde::de::DeserializeOwned>(&self, method: &str, payload: impl Serialize) -> Result<T, PluginError> {
        let payload = serde_json::to_string(&payload).expect("payload serializes");
        (self.reply)(ToParent::Call {
            method: method.to_string(),
            payload,
        });
        let line = self.lines.borrow_mut().next().and_then(|l| l.ok());
        let Some(line) = line else {
            return Err(PluginError::new("host", "the parent process went away"));
        };
        let Answer(answer) = serde_json::from_str(&line).map_err(|e| PluginError::new("host", e.to_string()))?;
        serde_json::from_str(&answer?).map_err(|e| PluginError::new("host", format!("bad answer to {method}: {e}")))
    }
}

#[derive(Serialize)]
struct MeasureCall<'a> {
    deployment: &'a Deployment,
    probe: &'a Probe,
}

impl<L: Iterator<Item = std::io::Result<String>>> HostContext for PipeHost<'_, L> {
    fn estimate(&self, query: &EstimateQuery) -> Result<Estimate, PluginError> {
        self.call("estimate", query)
    }
    fn deploy(&self, request: &DeployRequest) -> Result<Deployment, PluginError> {
        self.call("deploy", request)
    }
    fn measure(&self, deployment: &Deployment, probe: &Probe) -> Result<Measurement, PluginError> {
        self.call("measure", MeasureCall { deployment, probe })
    }
    fn teardown(&self, deployment: &Deployment) -> Result<(), PluginError> {
        self.call("teardown", deployment)
    }
    fn log(&self, level: LogLevel, message: &str) {
        let _: Result<(), _> = self.call("log", serde_json::json!({ "level": level, "message": message }));
    }
    fn progress(&self, done: u64, total: u64, message: &str) {
        let _: Result<(), _> = self.call(
            "progress",
            serde_json::json!({ "done": done, "total": total, "message": message }),
        );
    }
    fn cancelled(&self) -> bool {
        self.call("cancelled", ()).unwrap_or(false)
    }
}

/// The worker leads its own process group, so a killed host would not take it along: ask the
/// kernel to (Linux; elsewhere it ends when it next talks to the gone parent).
pub fn die_with_parent() {
    #[cfg(target_os = "linux")]
    // Safety: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
}
