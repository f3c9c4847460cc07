//! The profile stage: runs each method through a metered host context and records what it chose.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;

use profcmp_plugin_api::{
    CostReport, DeployRequest, Deployment, Estimate, EstimateQuery, HostContext, LogLevel, Manifest, Measurement,
    PluginError, Probe, ProfileRequest, ProfileResult,
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

/// The host context a method runs against: every deployment is metered on the backend's clock.
pub struct MeteredHost<'a> {
    method: String,
    backend: RefCell<&'a mut dyn Backend>,
    estimates: EstimateFn<'a>,
    observer: &'a dyn Observer,
    live: RefCell<BTreeMap<String, (Deployment, f64)>>,
    ledger: RefCell<Ledger>,
    log: RefCell<Vec<String>>,
    started_at: f64,
    started: Instant,
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
            started_at,
            started: Instant::now(),
        }
    }

    /// Tears down whatever the method left up and returns the final ledger and the log lines.
    pub fn finish(self) -> (Ledger, Vec<String>) {
        let leftovers: Vec<Deployment> = self.live.borrow().values().map(|(d, _)| d.clone()).collect();
        for deployment in &leftovers {
            self.ledger.borrow_mut().leaked_deployments += 1;
            let _ = self.teardown(deployment);
        }
        let mut ledger = self.ledger.into_inner();
        ledger.duration_s = self.backend.borrow().now_s() - self.started_at;
        ledger.cpu_s = self.started.elapsed().as_secs_f64();
        (ledger, self.log.into_inner())
    }

    fn record(&self, level: LogLevel, message: &str) {
        let now = self.backend.borrow().now_s() - self.started_at;
        self.log
            .borrow_mut()
            .push(format!("[{now:>9.1}s] {level:?}: {message}"));
    }
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
        let run = self
            .backend
            .borrow_mut()
            .measure(deployment, probe, None)
            .map_err(host_error)?;
        Ok(run.summary.measurement())
    }

    fn teardown(&self, deployment: &Deployment) -> Result<(), PluginError> {
        let Some((deployment, since)) = self.live.borrow_mut().remove(&deployment.id) else {
            return Err(PluginError::new(
                "host",
                format!("deployment {} is not live", deployment.id),
            ));
        };
        self.backend.borrow_mut().teardown(&deployment).map_err(host_error)?;
        let now = self.backend.borrow().now_s();
        self.ledger.borrow_mut().gpu_hours += (now - since) * f64::from(deployment.request.gpus()) / 3600.0;
        self.record(LogLevel::Info, &format!("tore down {}", deployment.id));
        Ok(())
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.record(level, message);
        self.observer.log(&self.method, level, message);
    }

    fn progress(&self, done: u64, total: u64, message: &str) {
        self.observer.progress(&self.method, done, total, message);
    }

    fn cancelled(&self) -> bool {
        self.observer.cancelled()
    }
}

/// Runs one method against a fresh metered context; a failure is recorded, never propagated.
pub fn run_method(
    runner: &dyn MethodRunner,
    request: &ProfileRequest,
    backend: &mut dyn Backend,
    estimates: EstimateFn<'_>,
    observer: &dyn Observer,
) -> (Result<ProfileResult, String>, Ledger, Option<CostReport>, Vec<String>) {
    let host = MeteredHost::new(&runner.manifest().name, backend, estimates, observer);
    let result = runner
        .profile(request, &host)
        .map_err(|e| format!("{} failed: {e}", runner.manifest().name))
        .and_then(|result| check_result(request, &result).map(|()| result));
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
    Ok(Estimate {
        latency_ms: latency,
        kv_capacity_tokens: estimator.kv_capacity_tokens(),
    })
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
    reality: &'a str,
}

/// Profiles every method (skipping those whose inputs are unchanged) and writes profile.json,
/// profile.log, config_with_planner.yaml and methods.lock in each method's directory.
pub fn profile_stage(
    spec: &crate::spec::RunSpec,
    results: &crate::layout::ResultsDir,
    methods: &[MethodEntry<'_>],
    lock_text: &str,
    make_backend: &crate::stage::BackendFactory<'_>,
    estimates: EstimateFn<'_>,
    observer: &dyn Observer,
) -> Vec<crate::layout::ProfileRecord> {
    use crate::layout::{read_json, write_json, ProfileRecord};
    let mut records = Vec::new();
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
            reality: &spec.reality,
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
            Ok(mut backend) => run_method(entry.runner, &request, backend.as_mut(), estimates, observer),
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
            observer.log(&name, LogLevel::Error, &format!("cannot write results: {e}"));
        }
        records.push(record);
    }
    records
}

#[cfg(test)]
mod tests {
    use profcmp_plugin_api::*;

    use super::check_result;
    use crate::spec::RunSpec;

    fn good() -> ProfileResult {
        ProfileResult {
            prefill: WorkerConfig { tp: 1, gpus: 1 },
            decode: WorkerConfig { tp: 2, gpus: 2 },
            predicted: Prediction {
                ttft_ms: 200.0,
                itl_ms: 20.0,
                prefill_thpt_per_gpu: 1e4,
                decode_thpt_per_gpu: 500.0,
            },
            profile_data: PlannerProfile {
                prefill: PrefillProfile {
                    prefill_isl: vec![100.0, 2048.0],
                    prefill_ttft: vec![20.0, 200.0],
                    prefill_thpt_per_gpu: vec![5e3, 1e4],
                },
                decode: DecodeProfile {
                    x_kv_usage: vec![0.1, 0.5],
                    y_context_length: vec![2176.0, 2176.0],
                    z_itl: vec![20.0, 25.0],
                    z_thpt_per_gpu: vec![50.0, 400.0],
                    max_kv_tokens: 100_000,
                },
            },
            load_predictions: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn garbage_results_are_refused_with_the_field_named() {
        let request = RunSpec::defaults().profile_request(serde_json::Value::Null);
        assert!(check_result(&request, &good()).is_ok());
        let cases: Vec<(Box<dyn Fn(&mut ProfileResult)>, &str)> = vec![
            (Box::new(|r| r.predicted.ttft_ms = f64::NAN), "predicted.ttft_ms is NaN"),
            (
                Box::new(|r| r.prefill.tp = 3),
                "prefill TP 3 is outside the search space",
            ),
            (Box::new(|r| r.decode.gpus = 0), "0 GPUs"),
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
}
