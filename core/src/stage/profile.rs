//! The profile stage: runs each method through a metered host context and records what it chose.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Instant;

use profcmp_plugin_api::{
    limits, CostReport, DeployRequest, Deployment, Estimate, EstimateQuery, HostContext, LogLevel, Manifest,
    Measurement, PluginError, Probe, ProfileRequest, ProfileResult,
};

use crate::backend::Backend;
use crate::layout::Ledger;
use crate::stage::Observer;

/// A method as the stages see it: a loaded plugin, or a `Method` type run in-process (tests).
pub trait MethodRunner {
    /// The method's manifest.
    fn manifest(&self) -> &Manifest;
    /// Runs the method; panics inside it must already be caught and returned as errors.
    fn profile(&self, request: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError>;
    /// The method's own cost account of its last run.
    fn report_cost(&self) -> Option<CostReport>;
}

/// Runs a `Method` type in-process, with panics caught like the plugin SDK does.
pub struct InProcess<M> {
    manifest: Manifest,
    last_cost: RefCell<Option<CostReport>>,
    _method: std::marker::PhantomData<M>,
}

impl<M: profcmp_plugin_api::Method> Default for InProcess<M> {
    fn default() -> Self {
        InProcess {
            manifest: profcmp_plugin_api::sdk::manifest_of::<M>(),
            last_cost: RefCell::new(None),
            _method: std::marker::PhantomData,
        }
    }
}

impl<M: profcmp_plugin_api::Method> MethodRunner for InProcess<M> {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    fn profile(&self, request: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut method = M::default();
            let result = method.profile(request, host);
            (result, method.cost())
        }));
        match run {
            Ok((result, cost)) => {
                *self.last_cost.borrow_mut() = Some(cost);
                result
            }
            Err(panic) => Err(profcmp_plugin_api::sdk::panic_error(panic)),
        }
    }
    fn report_cost(&self) -> Option<CostReport> {
        self.last_cost.borrow().clone()
    }
}

/// Answers estimator queries (the AI Configurator model); free for methods.
pub type EstimateFn<'a> = &'a dyn Fn(&EstimateQuery) -> Result<Estimate, PluginError>;

/// The host context a method runs against: every deployment is metered on the backend's clock,
/// every call is checked against `profcmp_plugin_api::limits`, and an optional budget of backend
/// time (virtual on the simulated cluster) ends the method's access to the cluster.
pub struct MeteredHost<'a> {
    method: String,
    backend: RefCell<&'a mut dyn Backend>,
    estimates: EstimateFn<'a>,
    observer: &'a dyn Observer,
    live: RefCell<BTreeMap<String, (Deployment, f64)>>,
    ledger: RefCell<Ledger>,
    log: RefCell<Vec<String>>,
    log_bytes: Cell<usize>,
    budget_s: Option<f64>,
    over_budget: Cell<Option<String>>,
    started_at: f64,
    started: Instant,
    /// Wall clock at the start, ms since 1970: log times are this plus the backend's elapsed time.
    started_wall_ms: i64,
}

impl<'a> MeteredHost<'a> {
    /// A context for `method` over a backend; the clock starts now.
    pub fn new(
        method: &str,
        backend: &'a mut dyn Backend,
        estimates: EstimateFn<'a>,
        observer: &'a dyn Observer,
    ) -> Self {
        let started_at = backend.now_s();
        MeteredHost {
            method: method.to_string(),
            backend: RefCell::new(backend),
            estimates,
            observer,
            live: RefCell::new(BTreeMap::new()),
            ledger: RefCell::new(Ledger::default()),
            log: RefCell::new(Vec::new()),
            log_bytes: Cell::new(0),
            budget_s: None,
            over_budget: Cell::new(None),
            started_at,
            started: Instant::now(),
            started_wall_ms: crate::clock::now_ms(),
        }
    }

    /// Refuses deploy and measure calls once the backend's clock has advanced `budget_s` since
    /// the start (virtual time on the simulated cluster, where wall-clock limits say nothing).
    pub fn with_budget(mut self, budget_s: f64) -> Self {
        self.budget_s = Some(budget_s);
        self
    }

    /// Why the method ran out of budget, if it did.
    pub fn timed_out(&self) -> Option<String> {
        let reason = self.over_budget.take();
        self.over_budget.set(reason.clone());
        reason
    }

    /// Tears down whatever the method left up and returns the final ledger and the log lines.
    /// A deployment whose teardown is not confirmed stays charged until now (the end of the
    /// method's run) and is counted in `teardown_failures`.
    pub fn finish(self) -> (Ledger, Vec<String>) {
        let leftovers: Vec<Deployment> = self.live.borrow().values().map(|(d, _)| d.clone()).collect();
        for deployment in &leftovers {
            self.ledger.borrow_mut().leaked_deployments += 1;
            if let Err(e) = self.teardown(deployment) {
                self.record(
                    LogLevel::Error,
                    &format!(
                        "teardown of {} failed: {}; charged to the end of the run",
                        deployment.id, e.message
                    ),
                );
            }
        }
        let now = self.backend.borrow().now_s();
        for (deployment, since) in self.live.borrow().values() {
            let mut ledger = self.ledger.borrow_mut();
            ledger.teardown_failures += 1;
            ledger.gpu_hours += (now - since) * f64::from(deployment.request.gpus()) / 3600.0;
        }
        let mut ledger = self.ledger.into_inner();
        ledger.duration_s = now - self.started_at;
        ledger.cpu_s = self.started.elapsed().as_secs_f64();
        (ledger, self.log.into_inner())
    }

    /// Keeps a log line for profile_sla.log, within `limits::MAX_LOG_BYTES` (one line says when
    /// the rest is dropped); returns whether it was kept. Lines are in the format Dynamo's profiler
    /// logs with (`%(asctime)s - %(name)s - %(levelname)s - %(message)s`), timed on the backend's
    /// clock from the run's start (virtual time on the simulated cluster), logger `profcmp.<method>`.
    fn record(&self, level: LogLevel, message: &str) -> bool {
        let used = self.log_bytes.get();
        if used >= limits::MAX_LOG_BYTES {
            return false;
        }
        let elapsed_s = self.backend.borrow().now_s() - self.started_at;
        let time = crate::clock::asctime(self.started_wall_ms + (elapsed_s * 1e3).round() as i64);
        let prefix = |level: LogLevel| {
            let name = match level {
                LogLevel::Debug => "DEBUG",
                LogLevel::Info | LogLevel::Unknown => "INFO",
                LogLevel::Warn => "WARNING",
                LogLevel::Error => "ERROR",
            };
            format!("{time} - profcmp.{} - {name} - ", self.method)
        };
        let mut line = prefix(level) + &cut(message, limits::MAX_LOG_LINE_BYTES);
        // Room is kept for the line saying the limit was reached, so the log stays within it.
        const LIMIT_LINE_BYTES: usize = 256;
        if used + line.len() + 1 + LIMIT_LINE_BYTES > limits::MAX_LOG_BYTES {
            line = prefix(LogLevel::Warn)
                + &format!(
                    "log limit of {} bytes reached; the rest of this method's log is dropped",
                    limits::MAX_LOG_BYTES
                );
            self.log_bytes.set(limits::MAX_LOG_BYTES);
        } else {
            self.log_bytes.set(used + line.len() + 1);
        }
        self.log.borrow_mut().push(line);
        self.log_bytes.get() < limits::MAX_LOG_BYTES
    }

    /// An error once the budget of backend time is spent (and remembers why).
    fn check_budget(&self) -> Result<(), PluginError> {
        let Some(budget) = self.budget_s else { return Ok(()) };
        let used = self.backend.borrow().now_s() - self.started_at;
        if used <= budget {
            return Ok(());
        }
        let reason = format!(
            "timed out: used {used:.0} s of {} time, over its budget of {budget:.0} s (--method-budget)",
            self.backend.borrow().name()
        );
        self.over_budget.set(Some(reason.clone()));
        Err(PluginError::new("timeout", reason))
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes cut)", &text[..end], text.len() - end).into()
}

fn limit_error(message: String) -> PluginError {
    PluginError::new("limit", message).with_help("see profcmp_plugin_api::limits for what the host accepts")
}

/// Refuses deployments beyond `limits`.
pub fn check_deploy(request: &DeployRequest) -> Result<(), PluginError> {
    let (tps, workers) = match *request {
        DeployRequest::PrefillOnly { tp } | DeployRequest::DecodeOnly { tp } => ([tp, tp], [1, 1]),
        DeployRequest::Graph {
            prefill_workers,
            prefill_tp,
            decode_workers,
            decode_tp,
        } => ([prefill_tp, decode_tp], [prefill_workers, decode_workers]),
    };
    if let Some(tp) = tps.iter().find(|&&tp| tp > limits::MAX_TP) {
        return Err(limit_error(format!("tp {tp} is over the limit of {}", limits::MAX_TP)));
    }
    if let Some(n) = workers.iter().find(|&&n| n > limits::MAX_WORKERS) {
        return Err(limit_error(format!(
            "{n} workers of one role is over the limit of {}",
            limits::MAX_WORKERS
        )));
    }
    Ok(())
}

/// Refuses probes beyond `limits`.
pub fn check_probe(probe: &Probe) -> Result<(), PluginError> {
    let tokens_ok = |isl: u32, osl: u32| isl <= limits::MAX_INPUT_TOKENS && osl <= limits::MAX_OUTPUT_TOKENS;
    match probe {
        Probe::Concurrency {
            concurrency,
            requests,
            isl,
            osl,
            warmup,
        } => {
            let total = u64::from(*requests) + u64::from(*warmup);
            if total > limits::MAX_PROBE_REQUESTS {
                return Err(limit_error(format!(
                    "a probe of {requests} requests + {warmup} warm-up is over the limit of {}",
                    limits::MAX_PROBE_REQUESTS
                )));
            }
            if *concurrency > limits::MAX_PROBE_CONCURRENCY {
                return Err(limit_error(format!(
                    "concurrency {concurrency} is over the limit of {}",
                    limits::MAX_PROBE_CONCURRENCY
                )));
            }
            if !tokens_ok(*isl, *osl) {
                return Err(limit_error(format!(
                    "isl {isl} / osl {osl} is over the limit of {} / {} tokens",
                    limits::MAX_INPUT_TOKENS,
                    limits::MAX_OUTPUT_TOKENS
                )));
            }
        }
        Probe::Trace { requests } => {
            if requests.len() > limits::MAX_TRACE_REQUESTS {
                return Err(limit_error(format!(
                    "a trace of {} requests is over the limit of {}",
                    requests.len(),
                    limits::MAX_TRACE_REQUESTS
                )));
            }
            if let Some((i, r)) = requests
                .iter()
                .enumerate()
                .find(|(_, r)| !tokens_ok(r.input_length, r.output_length))
            {
                return Err(limit_error(format!(
                    "trace request {i}: {} / {} tokens is over the limit of {} / {}",
                    r.input_length,
                    r.output_length,
                    limits::MAX_INPUT_TOKENS,
                    limits::MAX_OUTPUT_TOKENS
                )));
            }
        }
    }
    Ok(())
}

fn host_error(error: impl std::fmt::Display) -> PluginError {
    PluginError::new("host", error.to_string())
}

impl HostContext for MeteredHost<'_> {
    fn estimate(&self, query: &EstimateQuery) -> Result<Estimate, PluginError> {
        self.ledger.borrow_mut().estimate_calls += 1;
        (self.estimates)(query)
    }

    fn deploy(&self, request: &DeployRequest) -> Result<Deployment, PluginError> {
        if self.observer.cancelled() {
            return Err(PluginError::new("cancelled", "the run was cancelled"));
        }
        self.check_budget()?;
        check_deploy(request)?;
        if self.live.borrow().len() >= limits::MAX_LIVE_DEPLOYMENTS {
            return Err(limit_error(format!(
                "{} deployments are live, the limit; tear one down first",
                limits::MAX_LIVE_DEPLOYMENTS
            )));
        }
        // Metering starts at the request, so startup time is paid like on real GPUs.
        let requested_at = self.backend.borrow().now_s();
        let deployment = self.backend.borrow_mut().deploy(request).map_err(host_error)?;
        self.ledger.borrow_mut().deployments += 1;
        self.live
            .borrow_mut()
            .insert(deployment.id.clone(), (deployment.clone(), requested_at));
        self.record(LogLevel::Info, &format!("deployed {} ({:?})", deployment.id, request));
        Ok(deployment)
    }

    fn measure(&self, deployment: &Deployment, probe: &Probe) -> Result<Measurement, PluginError> {
        if !self.live.borrow().contains_key(&deployment.id) {
            return Err(PluginError::new(
                "host",
                format!("deployment {} is not live", deployment.id),
            ));
        }
        self.check_budget()?;
        check_probe(probe)?;
        let run = self
            .backend
            .borrow_mut()
            .measure(deployment, probe, None)
            .map_err(host_error)?;
        let measurement = run.summary.measurement();
        // The same account the SDK's session keeps (measurement time, charged to every live
        // deployment), so a method's own report can be compared like with like.
        let seconds = if measurement.duration_s.is_finite() {
            measurement.duration_s.max(0.0)
        } else {
            0.0
        };
        let gpus: f64 = self
            .live
            .borrow()
            .values()
            .map(|(d, _)| f64::from(d.request.gpus()))
            .sum();
        let mut ledger = self.ledger.borrow_mut();
        ledger.measured_s += seconds;
        ledger.measured_gpu_hours += seconds * gpus / 3600.0;
        Ok(measurement)
    }

    fn teardown(&self, deployment: &Deployment) -> Result<(), PluginError> {
        let Some((deployment, since)) = self.live.borrow().get(&deployment.id).cloned() else {
            return Err(PluginError::new(
                "host",
                format!("deployment {} is not live", deployment.id),
            ));
        };
        // Charged until the backend confirms: a failed teardown stays live (and metered).
        self.backend.borrow_mut().teardown(&deployment).map_err(host_error)?;
        self.live.borrow_mut().remove(&deployment.id);
        let now = self.backend.borrow().now_s();
        self.ledger.borrow_mut().gpu_hours += (now - since) * f64::from(deployment.request.gpus()) / 3600.0;
        self.record(LogLevel::Info, &format!("tore down {}", deployment.id));
        Ok(())
    }

    fn log(&self, level: LogLevel, message: &str) {
        if self.record(level, message) {
            self.observer
                .log(&self.method, level, &cut(message, limits::MAX_LOG_LINE_BYTES));
        }
    }

    fn progress(&self, done: u64, total: u64, message: &str) {
        self.observer.progress(&self.method, done, total, &cut(message, 200));
    }

    fn cancelled(&self) -> bool {
        self.observer.cancelled()
    }
}

/// Runs one method against a fresh metered context; a failure is recorded, never propagated.
/// With `budget_s`, the method may spend that much backend time (see `MeteredHost::with_budget`);
/// past it, the method is reported as timed out whatever it returns.
pub fn run_method(
    runner: &dyn MethodRunner,
    request: &ProfileRequest,
    backend: &mut dyn Backend,
    estimates: EstimateFn<'_>,
    observer: &dyn Observer,
    budget_s: Option<f64>,
) -> (Result<ProfileResult, String>, Ledger, Option<CostReport>, Vec<String>) {
    let name = runner.manifest().name.clone();
    let mut host = MeteredHost::new(&name, backend, estimates, observer);
    if let Some(budget) = budget_s {
        host = host.with_budget(budget);
    }
    let result = runner
        .profile(request, &host)
        .map_err(|e| match e.code.as_str() {
            "timeout" => format!("{name} {e}"),
            _ => format!("{name} failed: {e}"),
        })
        .and_then(|result| check_result(request, &result).map(|()| result));
    let result = match host.timed_out() {
        Some(reason) => Err(format!("{name} {reason}")),
        None => result,
    };
    let (ledger, log) = host.finish();
    (result, ledger, runner.report_cost(), log)
}

/// Refuses garbage: non-finite or non-positive predictions, TPs outside the search space,
/// empty or invalid profile data.
pub fn check_result(request: &ProfileRequest, result: &ProfileResult) -> Result<(), String> {
    let name = "the method's result";
    let search = &request.search;
    if !search.prefill_tp.contains(&result.prefill.tp) {
        return Err(format!(
            "{name}: prefill TP {} is outside the search space {:?}",
            result.prefill.tp, search.prefill_tp
        ));
    }
    if !search.decode_tp.contains(&result.decode.tp) {
        return Err(format!(
            "{name}: decode TP {} is outside the search space {:?}",
            result.decode.tp, search.decode_tp
        ));
    }
    if result.prefill.gpus == 0 || result.decode.gpus == 0 {
        return Err(format!("{name}: a worker with 0 GPUs"));
    }
    // A worker holds exactly its TP's GPUs (Dynamo sets the GPU limit to the TP).
    for (field, worker) in [("prefill", &result.prefill), ("decode", &result.decode)] {
        if worker.gpus != worker.tp {
            return Err(format!(
                "{name}: {field}.gpus is {} but {field}.tp is {}; a worker holds exactly tp GPUs",
                worker.gpus, worker.tp
            ));
        }
    }
    // The recommended graph (one prefill and one decode worker) must fit the budget, or the
    // validate and optimize stages could not deploy it.
    let graph = u64::from(result.prefill.gpus) + u64::from(result.decode.gpus);
    if graph > u64::from(search.gpu_budget) {
        return Err(format!(
            "{name}: prefill.gpus + decode.gpus = {} + {} = {graph} GPUs is over the GPU budget of {} (search.gpu_budget)",
            result.prefill.gpus, result.decode.gpus, search.gpu_budget
        ));
    }
    let p = &result.predicted;
    for (field, value) in [
        ("predicted.ttft_ms", p.ttft_ms),
        ("predicted.itl_ms", p.itl_ms),
        ("predicted.prefill_thpt_per_gpu", p.prefill_thpt_per_gpu),
        ("predicted.decode_thpt_per_gpu", p.decode_thpt_per_gpu),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(format!("{name}: {field} is {value}, expected a positive finite number"));
        }
    }
    let prefill = &result.profile_data.prefill;
    let decode = &result.profile_data.decode;
    let n = prefill.prefill_isl.len();
    if n == 0 || prefill.prefill_ttft.len() != n || prefill.prefill_thpt_per_gpu.len() != n {
        return Err(format!(
            "{name}: prefill profile data is empty or its arrays differ in length"
        ));
    }
    if prefill.prefill_isl.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("{name}: prefill_isl is not increasing"));
    }
    let m = decode.x_kv_usage.len();
    if m == 0
        || [
            decode.y_context_length.len(),
            decode.z_itl.len(),
            decode.z_thpt_per_gpu.len(),
        ]
        .iter()
        .any(|&l| l != m)
    {
        return Err(format!(
            "{name}: decode profile data is empty or its arrays differ in length"
        ));
    }
    if decode.x_kv_usage.iter().any(|x| !(0.0..=1.0).contains(x)) {
        return Err(format!("{name}: x_kv_usage has values outside [0, 1]"));
    }
    let positive = prefill
        .prefill_ttft
        .iter()
        .chain(&prefill.prefill_thpt_per_gpu)
        .chain(&decode.z_itl)
        .chain(&decode.z_thpt_per_gpu);
    if positive.clone().any(|v| !(v.is_finite() && *v > 0.0)) || decode.max_kv_tokens == 0 {
        return Err(format!(
            "{name}: profile data holds zero, negative or non-finite values"
        ));
    }
    Ok(())
}

/// Answers a method's estimator query from the AIC estimator; an invalid TP is an error the
/// method can read as "not a candidate".
pub fn answer_estimate(set: &crate::estimator::EstimatorSet, query: &EstimateQuery) -> Result<Estimate, PluginError> {
    let estimator_error = |e: crate::estimator::EstimatorError| PluginError::new("estimate", e.to_string());
    let (tp, latency) = match *query {
        EstimateQuery::Prefill { tp, batch, isl } => {
            let estimator = set.get(tp).map_err(estimator_error)?;
            (tp, Some(estimator.prefill_ms(batch, isl).map_err(estimator_error)?))
        }
        EstimateQuery::Decode { tp, batch, context } => {
            let estimator = set.get(tp).map_err(estimator_error)?;
            (
                tp,
                Some(estimator.decode_step_ms(batch, context).map_err(estimator_error)?),
            )
        }
        EstimateQuery::KvCapacity { tp } => (tp, None),
    };
    let estimator = set.get(tp).map_err(estimator_error)?;
    Ok(Estimate::new(latency, estimator.kv_capacity_tokens()))
}

/// A method to profile, with what identifies its code and its options.
pub struct MethodEntry<'a> {
    /// The runnable method.
    pub runner: &'a dyn MethodRunner,
    /// Method options from the method set.
    pub options: serde_json::Value,
    /// Identifies the method's code (the plugin's sha256), so a rebuilt plugin reruns.
    pub code_hash: String,
}

#[derive(serde::Serialize)]
struct ProfileInputs<'a> {
    request: &'a ProfileRequest,
    code_hash: &'a str,
    spec: serde_json::Value,
}

/// Profiles every method (skipping those whose inputs are unchanged) and writes profile.json,
/// profile_sla.log, config_with_planner.yaml and methods.lock in each method's directory. Returns the
/// records and a warning per failed write.
pub fn profile_stage(
    spec: &crate::spec::RunSpec,
    results: &crate::layout::ResultsDir,
    methods: &[MethodEntry<'_>],
    lock_text: &str,
    make_backend: &crate::stage::BackendFactory<'_>,
    estimates: EstimateFn<'_>,
    observer: &dyn Observer,
) -> (Vec<crate::layout::ProfileRecord>, Vec<String>) {
    use crate::layout::{read_json, write_json, ProfileRecord};
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    for entry in methods {
        if observer.cancelled() {
            break;
        }
        let manifest = entry.runner.manifest().clone();
        let name = manifest.name.clone();
        let request = spec.profile_request(entry.options.clone());
        let input_hash = crate::spec::input_hash(&ProfileInputs {
            request: &request,
            code_hash: &entry.code_hash,
            spec: spec.profile_key(),
        });
        let path = results.profile_json(&name);
        if let Ok(old) = read_json::<ProfileRecord>(&path) {
            if old.input_hash == input_hash && old.result.is_some() {
                observer.stage_progress("profile", &name, "unchanged, skipped");
                records.push(old);
                continue;
            }
        }
        observer.stage_progress("profile", &name, "running");
        let (result, ledger, method_cost, log) = match make_backend(spec.seed) {
            Ok(mut backend) => run_method(
                entry.runner,
                &request,
                backend.as_mut(),
                estimates,
                observer,
                Some(spec.limits.budget_s),
            ),
            Err(e) => (Err(e), Ledger::default(), None, Vec::new()),
        };
        let record = ProfileRecord {
            schema_version: 1,
            manifest,
            request,
            input_hash,
            error: result.as_ref().err().cloned(),
            result: result.ok(),
            ledger,
            method_cost,
        };
        let write = || -> std::io::Result<()> {
            crate::fsio::write_atomic(&results.profile_log(&name), (log.join("\n") + "\n").as_bytes())?;
            crate::fsio::write_atomic(&results.methods_lock(&name), lock_text.as_bytes())?;
            if let Some(result) = &record.result {
                let mut graph = crate::dynamo::GraphSpec::new(
                    &spec.model,
                    spec.backend,
                    spec.sla.ttft_ms,
                    spec.sla.itl_ms,
                    result.prefill.tp,
                    result.decode.tp,
                );
                graph.max_gpu_budget = spec.search.gpu_budget;
                let yaml = crate::dynamo::write_config_with_planner(&graph, &result.profile_data)
                    .map_err(std::io::Error::other)?;
                crate::fsio::write_atomic(&results.config_with_planner(&name), yaml.as_bytes())?;
            }
            write_json(&path, &record)
        };
        if let Err(e) = write() {
            let warning = format!(
                "{name}: cannot write its results into {}: {e}",
                results.method(&name).display()
            );
            observer.log(&name, LogLevel::Error, &warning);
            warnings.push(warning);
        }
        records.push(record);
    }
    (records, warnings)
}

#[cfg(test)]
mod tests {
    use profcmp_plugin_api::*;

    use super::check_result;
    use crate::spec::RunSpec;

    fn good() -> ProfileResult {
        ProfileResult::new(
            WorkerConfig::new(1, 1),
            WorkerConfig::new(2, 2),
            Prediction::new(200.0, 20.0, 1e4, 500.0),
            PlannerProfile::new(
                PrefillProfile::new(vec![100.0, 2048.0], vec![20.0, 200.0], vec![5e3, 1e4]),
                DecodeProfile::new(
                    vec![0.1, 0.5],
                    vec![2176.0, 2176.0],
                    vec![20.0, 25.0],
                    vec![50.0, 400.0],
                    100_000,
                ),
            ),
        )
    }

    #[test]
    fn garbage_results_are_refused_with_the_field_named() {
        let request = RunSpec::defaults().profile_request(serde_json::Value::Null);
        assert!(check_result(&request, &good()).is_ok());
        type Mutation = Box<dyn Fn(&mut ProfileResult)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|r| r.predicted.ttft_ms = f64::NAN), "predicted.ttft_ms is NaN"),
            (
                Box::new(|r| r.prefill.tp = 3),
                "prefill TP 3 is outside the search space",
            ),
            (Box::new(|r| r.decode.gpus = 0), "0 GPUs"),
            (Box::new(|r| r.decode.gpus = 4), "decode.gpus is 4 but decode.tp is 2"),
            (
                Box::new(|r| {
                    r.prefill = WorkerConfig::new(8, 8);
                }),
                "prefill.gpus + decode.gpus = 8 + 2 = 10 GPUs is over the GPU budget of 8 (search.gpu_budget)",
            ),
            (
                Box::new(|r| r.profile_data.prefill = PrefillProfile::default()),
                "prefill profile data is empty",
            ),
            (
                Box::new(|r| r.profile_data.prefill.prefill_isl.reverse()),
                "not increasing",
            ),
            (
                Box::new(|r| r.profile_data.decode.x_kv_usage[0] = 1.5),
                "outside [0, 1]",
            ),
            (Box::new(|r| r.profile_data.decode.z_itl[1] = -1.0), "non-finite"),
        ];
        for (spoil, expected) in cases {
            let mut result = good();
            spoil(&mut result);
            let error = check_result(&request, &result).unwrap_err();
            assert!(error.contains(expected), "expected `{expected}` in `{error}`");
        }
    }

    mod metered {
        use profcmp_method_kit::session::run_session;
        use profcmp_plugin_api::*;

        use crate::aiperf::Slo;
        use crate::backend::{Backend, BackendError, PlannerSpec, Run};
        use crate::layout::{Ledger, ProfileRecord};
        use crate::sim::{Reality, SimCluster};
        use crate::spec::RunSpec;
        use crate::stage::profile::{run_method, InProcess, MeteredHost};
        use crate::stage::Quiet;

        fn cluster() -> SimCluster {
            SimCluster::aic(
                "Qwen/Qwen3-32B",
                "h200_sxm",
                ServingBackend::Trtllm,
                Reality::named("nominal").unwrap(),
                1,
                None,
            )
            .unwrap()
        }

        fn no_estimates(_: &EstimateQuery) -> Result<Estimate, PluginError> {
            Err(PluginError::new("estimate", "not in this test"))
        }

        fn probe(requests: u32, warmup: u32) -> Probe {
            Probe::Concurrency {
                concurrency: 1,
                requests,
                isl: 256,
                osl: 4,
                warmup,
            }
        }

        /// Deploys a prefill engine, measures twice, tears down, through the SDK's session.
        #[derive(Default)]
        struct Measuring;
        impl Method for Measuring {
            const NAME: &'static str = "measuring";
            const VERSION: &'static str = "0.1.0";
            const DESCRIPTION: &'static str = "test";
            const ROLE: Role = Role::Experimental;
            fn profile(&mut self, _: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
                let (result, cost) = run_session(host, |s| {
                    let d = s.deploy(&DeployRequest::PrefillOnly { tp: 2 })?;
                    s.measure(&d, &probe(20, 0))?;
                    s.measure(&d, &probe(10, 2))?;
                    Ok(())
                });
                COST.with(|c| *c.borrow_mut() = cost);
                result?;
                Err(PluginError::new("done", "measured"))
            }
            fn cost(&self) -> CostReport {
                COST.with(|c| c.borrow().clone())
            }
        }
        thread_local!(static COST: std::cell::RefCell<CostReport> = Default::default());

        fn record(ledger: Ledger, reported: CostReport) -> ProfileRecord {
            ProfileRecord {
                schema_version: 1,
                manifest: profcmp_plugin_api::sdk::manifest_of::<Measuring>(),
                request: RunSpec::defaults().profile_request(serde_json::Value::Null),
                input_hash: String::new(),
                result: None,
                error: None,
                ledger,
                method_cost: Some(reported),
            }
        }

        #[test]
        fn a_session_reporting_measurement_time_matches_the_host_and_an_inflated_report_does_not() {
            let mut backend = cluster();
            let request = RunSpec::defaults().profile_request(serde_json::Value::Null);
            let runner = InProcess::<Measuring>::default();
            let (_, ledger, reported, _) = run_method(&runner, &request, &mut backend, &no_estimates, &Quiet, None);
            let reported = reported.unwrap();
            // The host's whole-clock account includes the deployment's startup; the session's does not.
            assert!(
                ledger.duration_s > reported.duration_s + 1.0,
                "{ledger:?} vs {reported:?}"
            );
            assert!((ledger.measured_s - reported.duration_s).abs() < 1e-6);
            let cost = crate::stage::compare::cost(&record(ledger.clone(), reported.clone()));
            assert_eq!(cost.mismatch, Some(false), "{:?}", cost.mismatches);
            let mut lying = reported;
            lying.duration_s += 60.0;
            lying.gpu_hours += 0.05;
            let cost = crate::stage::compare::cost(&record(ledger.clone(), lying.clone()));
            assert_eq!(cost.mismatch, Some(true), "{ledger:?} {lying:?}");
            assert_eq!(cost.mismatches.len(), 2, "{:?}", cost.mismatches);
        }

        /// A backend whose teardowns fail.
        struct Sticky(SimCluster);
        impl Backend for Sticky {
            fn name(&self) -> &'static str {
                "sticky"
            }
            fn now_s(&self) -> f64 {
                self.0.now_s()
            }
            fn deploy(&mut self, r: &DeployRequest) -> Result<Deployment, BackendError> {
                self.0.deploy(r)
            }
            fn measure(&mut self, d: &Deployment, p: &Probe, slo: Option<Slo>) -> Result<Run, BackendError> {
                self.0.measure(d, p, slo)
            }
            fn measure_planned(
                &mut self,
                d: &Deployment,
                t: &[TraceRequest],
                p: &PlannerSpec,
                slo: Option<Slo>,
            ) -> Result<Run, BackendError> {
                self.0.measure_planned(d, t, p, slo)
            }
            fn teardown(&mut self, _: &Deployment) -> Result<(), BackendError> {
                Err(BackendError::Other("the API server is gone".into()))
            }
        }

        #[test]
        fn a_failed_teardown_stays_charged_until_the_end_and_is_reported() {
            let mut sticky = Sticky(cluster());
            let host = MeteredHost::new("m", &mut sticky, &no_estimates, &Quiet);
            let d = host.deploy(&DeployRequest::PrefillOnly { tp: 4 }).unwrap();
            assert!(host.teardown(&d).is_err());
            host.measure(&d, &probe(50, 0))
                .expect("still live, so still measurable");
            let (ledger, log) = host.finish();
            assert_eq!(ledger.teardown_failures, 1);
            // Charged from the request to the end of the run: the whole clock at 4 GPUs.
            assert!(
                (ledger.gpu_hours - ledger.duration_s * 4.0 / 3600.0).abs() < 1e-9,
                "{ledger:?}"
            );
            assert!(
                log.iter().any(|l| l.contains("charged to the end of the run")),
                "{log:?}"
            );

            let mut sim = cluster();
            let host = MeteredHost::new("m", &mut sim, &no_estimates, &Quiet);
            let d = host.deploy(&DeployRequest::PrefillOnly { tp: 4 }).unwrap();
            host.teardown(&d).unwrap();
            let left_up = host.deploy(&DeployRequest::PrefillOnly { tp: 4 }).unwrap();
            host.measure(&left_up, &probe(50, 0)).unwrap();
            let (ledger, _) = host.finish();
            assert_eq!(ledger.teardown_failures, 0);
            assert_eq!(ledger.leaked_deployments, 1);
        }

        #[test]
        fn probes_and_deployments_beyond_the_limits_are_refused_without_a_panic() {
            let mut sim = cluster();
            let host = MeteredHost::new("m", &mut sim, &no_estimates, &Quiet);
            let d = host.deploy(&DeployRequest::PrefillOnly { tp: 1 }).unwrap();
            for (probe, expected) in [
                (probe(1_000_000_000, 0), "over the limit of 100000"),
                (probe(u32::MAX, u32::MAX), "over the limit of 100000"),
                (probe(limits::MAX_PROBE_REQUESTS as u32, 1), "over the limit"),
            ] {
                let err = host.measure(&d, &probe).unwrap_err();
                assert_eq!(err.code, "limit", "{err}");
                assert!(err.message.contains(expected), "{err}");
            }
            // One under the limit passes the check (the cluster then runs it).
            assert!(super::super::check_probe(&probe(limits::MAX_PROBE_REQUESTS as u32, 0)).is_ok());
            let huge = DeployRequest::Graph {
                prefill_workers: u32::MAX,
                prefill_tp: u32::MAX,
                decode_workers: 1,
                decode_tp: 1,
            };
            assert_eq!(huge.gpus(), u32::MAX);
            assert_eq!(host.deploy(&huge).unwrap_err().code, "limit");
            for _ in 1..limits::MAX_LIVE_DEPLOYMENTS {
                host.deploy(&DeployRequest::PrefillOnly { tp: 1 }).unwrap();
            }
            let err = host.deploy(&DeployRequest::PrefillOnly { tp: 1 }).unwrap_err();
            assert!(err.message.contains("deployments are live"), "{err}");
            let (ledger, _) = host.finish();
            assert_eq!(ledger.leaked_deployments as usize, limits::MAX_LIVE_DEPLOYMENTS);
        }

        #[test]
        fn log_lines_read_as_dynamos_profiler_writes_them_on_the_backend_clock() {
            let mut sim = cluster();
            let host = MeteredHost::new("m", &mut sim, &no_estimates, &Quiet);
            host.log(LogLevel::Info, "start");
            host.deploy(&DeployRequest::DecodeOnly { tp: 1 }).unwrap();
            host.log(LogLevel::Warn, "deployed");
            let (_, log) = host.finish();
            // `%(asctime)s - %(name)s - %(levelname)s - %(message)s`, asctime `YYYY-MM-DD HH:MM:SS,mmm`.
            let parts: Vec<&str> = log[0].splitn(4, " - ").collect();
            assert_eq!(&parts[1..], ["profcmp.m", "INFO", "start"], "{}", log[0]);
            assert!(parts[0].len() == 23 && &parts[0][19..20] == ",", "{}", log[0]);
            let warn = log.iter().find(|l| l.ends_with(" - WARNING - deployed")).unwrap();
            // The deployment's startup passed on the cluster's clock between the two lines.
            assert!(warn[..23] > log[0][..23], "{} then {warn}", log[0]);
        }

        #[test]
        fn the_log_stops_at_its_limit_with_one_line_saying_so() {
            let mut sim = cluster();
            let host = MeteredHost::new("m", &mut sim, &no_estimates, &Quiet);
            let line = "x".repeat(100_000);
            for _ in 0..1000 {
                host.log(LogLevel::Info, &line);
            }
            let (_, log) = host.finish();
            let bytes: usize = log.iter().map(|l| l.len() + 1).sum();
            assert!(bytes <= limits::MAX_LOG_BYTES + 200, "{bytes}");
            assert!(log.iter().all(|l| l.len() < limits::MAX_LOG_LINE_BYTES + 100));
            let last = log.last().unwrap();
            assert!(
                last.contains("log limit of 4194304 bytes reached"),
                "{} lines, last: {}",
                log.len(),
                &last[..100.min(last.len())]
            );
            assert_eq!(log.iter().filter(|l| l.contains("log limit")).count(), 1);
        }

        #[test]
        fn a_method_over_its_budget_of_cluster_time_is_timed_out_and_its_deployment_torn_down() {
            /// Deploys, then measures until refused; leaves the deployment up.
            #[derive(Default)]
            struct Greedy;
            impl Method for Greedy {
                const NAME: &'static str = "greedy";
                const VERSION: &'static str = "0.1.0";
                const DESCRIPTION: &'static str = "test";
                const ROLE: Role = Role::Experimental;
                fn profile(
                    &mut self,
                    _: &ProfileRequest,
                    host: &dyn HostContext,
                ) -> Result<ProfileResult, PluginError> {
                    let d = host.deploy(&DeployRequest::PrefillOnly { tp: 1 })?;
                    loop {
                        if host.measure(&d, &probe(200, 0)).is_err() {
                            return Err(PluginError::new("gave_up", "the host refused"));
                        }
                    }
                }
                fn cost(&self) -> CostReport {
                    CostReport::default()
                }
            }
            let request = RunSpec::defaults().profile_request(serde_json::Value::Null);
            let runner = InProcess::<Greedy>::default();
            let mut sim = cluster();
            let (result, ledger, _, _) = run_method(&runner, &request, &mut sim, &no_estimates, &Quiet, Some(600.0));
            let error = result.unwrap_err();
            assert!(error.starts_with("greedy timed out"), "{error}");
            assert!(error.contains("budget of 600 s"), "{error}");
            assert!(ledger.duration_s > 600.0 && ledger.duration_s < 1200.0, "{ledger:?}");
            assert_eq!(ledger.leaked_deployments, 1);
            assert!(ledger.gpu_hours > 600.0 / 3600.0);
            // A larger budget lets it run longer: the clock moves with the budget.
            let mut sim = cluster();
            let (_, longer, _, _) = run_method(&runner, &request, &mut sim, &no_estimates, &Quiet, Some(1800.0));
            assert!(longer.duration_s > 1800.0 && longer.duration_s > ledger.duration_s);
        }
    }
}
