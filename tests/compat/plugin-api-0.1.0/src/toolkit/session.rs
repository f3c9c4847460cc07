//! A host wrapper that keeps the method's own cost account and tears down what it deployed.
//!
//! [`Session`] implements [`HostContext`] itself, so every toolkit helper can take it as a plain
//! host. It counts deployments and estimator calls, adds up measurement time, and charges each
//! measurement's duration to the GPUs of every deployment alive during it. Deployments still
//! alive at [`Session::close`] (or when the session is dropped, e.g. after an error or a panic)
//! are torn down. [`run_session`] wraps a method body with both.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use crate::{
    CostReport, DeployRequest, Deployment, Estimate, EstimateQuery, HostContext, LogLevel, Measurement, PluginError,
    Probe,
};

/// The counting, tearing-down host wrapper.
pub struct Session<'h> {
    host: &'h dyn HostContext,
    live: RefCell<Vec<Deployment>>,
    deployments: Cell<u32>,
    teardowns: Cell<u32>,
    estimate_calls: Cell<u64>,
    measurements: Cell<u32>,
    measured_s: Cell<f64>,
    gpu_s: Cell<f64>,
    started: Instant,
}

impl<'h> Session<'h> {
    /// Wraps a host.
    pub fn new(host: &'h dyn HostContext) -> Self {
        Session {
            host,
            live: RefCell::new(Vec::new()),
            deployments: Cell::new(0),
            teardowns: Cell::new(0),
            estimate_calls: Cell::new(0),
            measurements: Cell::new(0),
            measured_s: Cell::new(0.0),
            gpu_s: Cell::new(0.0),
            started: Instant::now(),
        }
    }

    /// Deployments made so far.
    pub fn deployment_count(&self) -> u32 {
        self.deployments.get()
    }

    /// Deployments alive now.
    pub fn live_count(&self) -> usize {
        self.live.borrow().len()
    }

    /// An error if the host asked to stop.
    pub fn check_cancelled(&self) -> Result<(), PluginError> {
        super::check_cancelled(self)
    }

    /// Logs at info level.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    /// Tears down every live deployment (newest first); returns the first error after trying all.
    pub fn close(&self) -> Result<(), PluginError> {
        let live: Vec<Deployment> = self.live.borrow_mut().drain(..).rev().collect();
        let mut first = None;
        for dep in live {
            match self.host.teardown(&dep) {
                Ok(()) => self.teardowns.set(self.teardowns.get() + 1),
                Err(err) => {
                    self.host.log(
                        LogLevel::Error,
                        &format!("teardown of {} failed: {}", dep.id, err.message),
                    );
                    first.get_or_insert(err);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The method's own account so far. Duration and GPU time count measurement time only
    /// (deployment start-up is invisible to the method; the host meters it).
    pub fn cost(&self) -> CostReport {
        CostReport {
            duration_s: self.measured_s.get(),
            gpu_hours: self.gpu_s.get() / 3600.0,
            deployments: self.deployments.get(),
            estimate_calls: self.estimate_calls.get(),
            details: serde_json::json!({
                "measurements": self.measurements.get(),
                "teardowns": self.teardowns.get(),
                "method_cpu_wall_s": self.started.elapsed().as_secs_f64(),
                "accounting": "duration_s and gpu_hours count measurement time only, charged to every deployment alive during it",
            }),
        }
    }
}

impl HostContext for Session<'_> {
    fn estimate(&self, query: &EstimateQuery) -> Result<Estimate, PluginError> {
        self.estimate_calls.set(self.estimate_calls.get() + 1);
        self.host.estimate(query)
    }

    fn deploy(&self, request: &DeployRequest) -> Result<Deployment, PluginError> {
        let dep = self.host.deploy(request)?;
        self.deployments.set(self.deployments.get() + 1);
        self.live.borrow_mut().push(dep.clone());
        Ok(dep)
    }

    fn measure(&self, deployment: &Deployment, probe: &Probe) -> Result<Measurement, PluginError> {
        let m = self.host.measure(deployment, probe)?;
        let seconds = if m.duration_s.is_finite() {
            m.duration_s.max(0.0)
        } else {
            0.0
        };
        let gpus: u32 = self.live.borrow().iter().map(|d| d.request.gpus()).sum();
        self.measurements.set(self.measurements.get() + 1);
        self.measured_s.set(self.measured_s.get() + seconds);
        self.gpu_s.set(self.gpu_s.get() + seconds * f64::from(gpus));
        Ok(m)
    }

    fn teardown(&self, deployment: &Deployment) -> Result<(), PluginError> {
        self.host.teardown(deployment)?;
        self.teardowns.set(self.teardowns.get() + 1);
        self.live.borrow_mut().retain(|d| d.id != deployment.id);
        Ok(())
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.host.log(level, message)
    }

    fn progress(&self, done: u64, total: u64, message: &str) {
        self.host.progress(done, total, message)
    }

    fn cancelled(&self) -> bool {
        self.host.cancelled()
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Runs a method body in a session: closes it (tearing down leftovers) whatever happens and
/// returns the result with the cost account. A teardown failure turns success into an error.
pub fn run_session<T>(
    host: &dyn HostContext,
    body: impl FnOnce(&Session) -> Result<T, PluginError>,
) -> (Result<T, PluginError>, CostReport) {
    let session = Session::new(host);
    let result = body(&session);
    let closed = session.close();
    let cost = session.cost();
    (result.and_then(|r| closed.map(|()| r)), cost)
}
