//! Runs each plugin in a child `profcmp` process, so a plugin that aborts or segfaults fails
//! alone: the child loads the plugin and forwards every host call over its stdin/stdout.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use profcmp_core::stage::profile::MethodRunner;
use profcmp_plugin_api::sdk::HostServer;
use profcmp_plugin_api::*;
use serde::{Deserialize, Serialize};

use crate::load;

/// Marks protocol lines on the child's stdout; anything else the plugin prints is forwarded as log.
const MARK: &str = "\u{1e}profcmp:";

/// The hidden subcommand the child runs.
pub const WORKER_COMMAND: &str = "__plugin-worker";

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
    last_cost: RefCell<Option<CostReport>>,
}

impl IsolatedPlugin {
    /// Reads the plugin's manifest; the full load (and its ABI checks) happens in the child.
    pub fn new(resolved: &load::Resolved) -> Result<IsolatedPlugin, String> {
        let manifest = load::read_manifest(&resolved.path)?;
        Ok(IsolatedPlugin {
            manifest,
            path: resolved.path.clone(),
            last_cost: RefCell::new(None),
        })
    }
}

fn crashed(message: String) -> PluginError {
    PluginError::new("crashed", message).with_help("the plugin process died; its other results are kept")
}

impl MethodRunner for IsolatedPlugin {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn profile(&self, request: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        let exe = std::env::current_exe().map_err(|e| crashed(format!("cannot find the profcmp executable: {e}")))?;
        let mut child = Command::new(exe)
            .arg(WORKER_COMMAND)
            .arg(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| crashed(format!("cannot start the plugin process: {e}")))?;
        let mut to_child = child.stdin.take().expect("piped stdin");
        let from_child = BufReader::new(child.stdout.take().expect("piped stdout"));
        let send = |to_child: &mut std::process::ChildStdin, text: String| writeln!(to_child, "{text}").is_ok();
        send(
            &mut to_child,
            serde_json::to_string(request).expect("request serializes"),
        );
        let server = HostServer::new(host);
        let mut outcome = None;
        for line in from_child.lines() {
            let Ok(line) = line else { break };
            let Some((printed, message)) = line.split_once(MARK) else {
                if !line.is_empty() {
                    host.log(LogLevel::Info, &line);
                }
                continue;
            };
            if !printed.is_empty() {
                host.log(LogLevel::Info, printed);
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
                    break;
                }
                Err(e) => {
                    outcome = Some(Err(PluginError::new(
                        "garbage",
                        format!("unreadable message from the plugin process: {e}"),
                    )))
                }
            }
        }
        drop(to_child);
        let status = child
            .wait()
            .map_err(|e| crashed(format!("lost the plugin process: {e}")))?;
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
