//! Helpers for profcmp method plugins, so every method chooses, measures and checks the same way.
//!
//! This crate is not part of the plugin boundary: plugins link it statically, and it may change
//! (even incompatibly, with a new version) without touching `profcmp-plugin-api`'s ABI or JSON
//! payloads, so a plugin built against an older kit still loads in a newer host.
//!
//! - [`candidate_tps`]: Dynamo's candidates (powers of two that the estimator accepts).
//! - [`select_prefill`], [`select_decode`], [`rank_prefill`], [`rank_decode`]: Dynamo's selection rule.
//! - [`concurrency_sweep`]: the decode concurrencies Dynamo measures at one TP.
//! - [`validate_profile`]: the check every method runs on its planner profile data.
//! - [`parse_options`]: strict JSON options (unknown keys are an error listing the valid ones).
//! - [`grid`]: the planner's interpolation grids and their assembly into a [`PlannerProfile`].
//! - [`probe`]: rows and profile data measured or estimated through the host.
//! - [`session`]: a host wrapper that counts cost and tears down every deployment it made.
//! - [`search`]: online measurement that keeps only the incumbent deployment of each phase alive.
//! - [`gp`] and [`bo`]: a small Gaussian process, expected improvement and the Bayesian search.
//! - `testing` (cargo feature `testing`): a scripted in-process host (`FakeHost`) for method
//!   unit tests.

#![warn(missing_docs)]

pub mod bo;
pub mod gp;
pub mod grid;
pub mod probe;
pub mod search;
pub mod session;
#[cfg(feature = "testing")]
pub mod testing;

use std::cmp::Ordering;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use profcmp_plugin_api::{
    EstimateQuery, HostContext, LogLevel, PlannerProfile, PluginError, Prediction, ProfileRequest, ProfileResult, Sla,
    WorkerConfig,
};

/// Most concurrencies Dynamo's decode sweep measures at one TP.
pub const DECODE_SWEEP_POINTS: usize = 6;

/// The powers of two among `tps`, sorted and without duplicates.
pub fn power_of_two_tps(tps: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = tps.iter().copied().filter(|t| t.is_power_of_two()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A TP the model can run with, and the estimator's KV capacity of one worker at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Tensor-parallel size.
    pub tp: u32,
    /// Estimated KV capacity of one worker, tokens.
    pub kv_capacity_tokens: u64,
}

/// Dynamo's candidates: the powers of two in `tps` that the model supports. The host's
/// estimator refuses a TP that does not divide the KV heads, so an estimate error means
/// "not a candidate" (logged at debug level). Errors if nothing is left.
pub fn candidate_tps(host: &dyn HostContext, tps: &[u32]) -> Result<Vec<Candidate>, PluginError> {
    let mut out = Vec::new();
    for tp in power_of_two_tps(tps) {
        match host.estimate(&EstimateQuery::KvCapacity { tp }) {
            Ok(est) => out.push(Candidate {
                tp,
                kv_capacity_tokens: est.kv_capacity_tokens,
            }),
            Err(err) if err.code == "cancelled" => return Err(err),
            Err(err) => host.log(LogLevel::Debug, &format!("tp {tp} is not a candidate: {}", err.message)),
        }
    }
    if out.is_empty() {
        return Err(
            PluginError::new("no_candidates", format!("no candidate tp among {tps:?}"))
                .with_help("give powers of two that divide the model's KV heads"),
        );
    }
    Ok(out)
}

/// Largest number of requests of `isl + osl` tokens that fit in `kv_tokens` (Dynamo's rule).
pub fn max_concurrency(kv_tokens: u64, isl: u32, osl: u32) -> u64 {
    kv_tokens / (u64::from(isl) + u64::from(osl)).max(1)
}

/// Dynamo's decode concurrencies: `1..=max` when `max < points`, else `points` values from 1 to
/// `max` (`1 + floor(i * (max - 1) / (points - 1))`). Empty when not even one request fits.
pub fn concurrency_sweep(max_concurrency: u64, points: usize) -> Vec<u32> {
    let max = max_concurrency.min(u64::from(u32::MAX)) as u32;
    if max == 0 || points == 0 {
        return Vec::new();
    }
    if (max as usize) < points || points == 1 {
        return if points == 1 { vec![max] } else { (1..=max).collect() };
    }
    let step = f64::from(max - 1) / (points - 1) as f64;
    let mut out: Vec<u32> = (0..points).map(|i| 1 + (i as f64 * step) as u32).collect();
    out.dedup();
    out
}

/// One prefill measurement or estimate at the SLA ISL.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefillRow {
    /// Tensor-parallel size (= GPUs).
    pub tp: u32,
    /// Time to first token, ms.
    pub ttft_ms: f64,
    /// Prefill tokens/s per GPU: `isl / ttft_s / tp`.
    pub thpt_per_gpu: f64,
}

impl PrefillRow {
    /// A row from a TTFT at `isl`.
    pub fn new(tp: u32, isl: u32, ttft_ms: f64) -> Self {
        PrefillRow {
            tp,
            ttft_ms,
            thpt_per_gpu: f64::from(isl) * 1000.0 / ttft_ms / f64::from(tp),
        }
    }
}

/// One decode measurement or estimate at the SLA ISL/OSL and one concurrency.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecodeRow {
    /// Tensor-parallel size (= GPUs).
    pub tp: u32,
    /// Requests in flight.
    pub concurrency: u32,
    /// Inter-token latency, ms.
    pub itl_ms: f64,
    /// Output tokens/s per GPU.
    pub thpt_per_gpu: f64,
}

/// Dynamo's preference between two rows: rows meeting the SLA first, by highest throughput per
/// GPU; then rows missing it, by lowest latency; ties go to fewer GPUs, then lower concurrency.
fn rule_order(a: (f64, f64, u32, u32), b: (f64, f64, u32, u32), sla: f64) -> Ordering {
    let (qa, qb) = (a.0 <= sla, b.0 <= sla);
    let tie = a.2.cmp(&b.2).then(a.3.cmp(&b.3));
    match (qa, qb) {
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (true, true) => b.1.total_cmp(&a.1).then(tie),
        (false, false) => a.0.total_cmp(&b.0).then(tie),
    }
}

fn prefill_key(r: &PrefillRow) -> (f64, f64, u32, u32) {
    (r.ttft_ms, r.thpt_per_gpu, r.tp, 0)
}

fn decode_key(r: &DecodeRow) -> (f64, f64, u32, u32) {
    (r.itl_ms, r.thpt_per_gpu, r.tp, r.concurrency)
}

/// Dynamo's prefill choice: among rows with `ttft <= sla_ttft_ms` the highest throughput per GPU
/// (ties: fewer GPUs); if none qualifies, the lowest TTFT. None only for no rows.
pub fn select_prefill(rows: &[PrefillRow], sla_ttft_ms: f64) -> Option<PrefillRow> {
    rows.iter()
        .copied()
        .min_by(|a, b| rule_order(prefill_key(a), prefill_key(b), sla_ttft_ms))
}

/// Dynamo's decode choice over every (TP, concurrency) row, with ITL against `sla_itl_ms`.
pub fn select_decode(rows: &[DecodeRow], sla_itl_ms: f64) -> Option<DecodeRow> {
    rows.iter()
        .copied()
        .min_by(|a, b| rule_order(decode_key(a), decode_key(b), sla_itl_ms))
}

/// TPs ordered by the selection rule (the first is what [`select_prefill`] picks).
pub fn rank_prefill(rows: &[PrefillRow], sla_ttft_ms: f64) -> Vec<u32> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| rule_order(prefill_key(a), prefill_key(b), sla_ttft_ms));
    unique_tps(rows.iter().map(|r| r.tp))
}

/// TPs ordered by their best row under the selection rule (the first is [`select_decode`]'s TP).
pub fn rank_decode(rows: &[DecodeRow], sla_itl_ms: f64) -> Vec<u32> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| rule_order(decode_key(a), decode_key(b), sla_itl_ms));
    unique_tps(rows.iter().map(|r| r.tp))
}

fn unique_tps(tps: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for tp in tps {
        if !out.contains(&tp) {
            out.push(tp);
        }
    }
    out
}

/// One line per phase saying what was chosen and why, for `ProfileResult::notes`.
pub fn explain_choice(
    sla: &Sla,
    prefill_rows: &[PrefillRow],
    decode_rows: &[DecodeRow],
    prefill: &PrefillRow,
    decode: &DecodeRow,
    source: &str,
) -> Vec<String> {
    let ok_p = prefill_rows.iter().filter(|r| r.ttft_ms <= sla.ttft_ms).count();
    let ok_d = decode_rows.iter().filter(|r| r.itl_ms <= sla.itl_ms).count();
    let tps_p = unique_tps(prefill_rows.iter().map(|r| r.tp));
    let tps_d = unique_tps(decode_rows.iter().map(|r| r.tp));
    let p = if ok_p > 0 {
        format!(
            "prefill TP{}: {source} TTFT {:.1} ms <= {} ms at ISL {}, highest throughput {:.0} tok/s/GPU of {ok_p} qualifying TP(s) among {tps_p:?}",
            prefill.tp, prefill.ttft_ms, sla.ttft_ms, sla.isl, prefill.thpt_per_gpu
        )
    } else {
        format!(
            "prefill TP{}: no TP among {tps_p:?} met TTFT <= {} ms; lowest {source} TTFT {:.1} ms",
            prefill.tp, sla.ttft_ms, prefill.ttft_ms
        )
    };
    let d = if ok_d > 0 {
        format!(
            "decode TP{} at concurrency {}: {source} ITL {:.2} ms <= {} ms, highest throughput {:.0} tok/s/GPU of {ok_d} qualifying (TP, concurrency) rows among TPs {tps_d:?}",
            decode.tp, decode.concurrency, decode.itl_ms, sla.itl_ms, decode.thpt_per_gpu
        )
    } else {
        format!(
            "decode TP{} at concurrency {}: no row among TPs {tps_d:?} met ITL <= {} ms; lowest {source} ITL {:.2} ms",
            decode.tp, decode.concurrency, sla.itl_ms, decode.itl_ms
        )
    };
    vec![p, d]
}

/// The result for a chosen pair of rows; checks the profile data first.
pub fn make_result(
    prefill: &PrefillRow,
    decode: &DecodeRow,
    profile_data: PlannerProfile,
    notes: Vec<String>,
) -> Result<ProfileResult, PluginError> {
    validate_profile(&profile_data)?;
    let predicted = Prediction::new(
        prefill.ttft_ms,
        decode.itl_ms,
        prefill.thpt_per_gpu,
        decode.thpt_per_gpu,
    );
    Ok(ProfileResult::new(
        WorkerConfig::new(prefill.tp, prefill.tp),
        WorkerConfig::new(decode.tp, decode.tp),
        predicted,
        profile_data,
    )
    .with_notes(notes))
}

/// Checks planner profile data: non-empty equal-length arrays, strictly increasing prefill ISL,
/// KV usage in [0, 1], every other value positive and finite, `max_kv_tokens > 0`.
pub fn validate_profile(profile: &PlannerProfile) -> Result<(), PluginError> {
    let bad = |m: String| Err(PluginError::new("invalid_profile", m));
    let p = &profile.prefill;
    let n = p.prefill_isl.len();
    if n == 0 || p.prefill_ttft.len() != n || p.prefill_thpt_per_gpu.len() != n {
        return bad(format!(
            "prefill data needs equal, non-empty arrays (isl {}, ttft {}, thpt {})",
            n,
            p.prefill_ttft.len(),
            p.prefill_thpt_per_gpu.len()
        ));
    }
    if p.prefill_isl.windows(2).any(|w| w[0] >= w[1]) {
        return bad("prefill ISLs must be strictly increasing".into());
    }
    let positive = |name: &str, xs: &[f64]| match xs.iter().position(|x| !(x.is_finite() && *x > 0.0)) {
        Some(i) => Err(PluginError::new(
            "invalid_profile",
            format!("{name}[{i}] = {} is not positive and finite", xs[i]),
        )),
        None => Ok(()),
    };
    positive("prefill_isl", &p.prefill_isl)?;
    positive("prefill_ttft", &p.prefill_ttft)?;
    positive("prefill_thpt_per_gpu", &p.prefill_thpt_per_gpu)?;
    let d = &profile.decode;
    let n = d.x_kv_usage.len();
    if n == 0 || d.y_context_length.len() != n || d.z_itl.len() != n || d.z_thpt_per_gpu.len() != n {
        return bad("decode data needs equal, non-empty arrays".into());
    }
    if let Some(i) = d.x_kv_usage.iter().position(|x| !(0.0..=1.0).contains(x)) {
        return bad(format!("x_kv_usage[{i}] = {} is outside [0, 1]", d.x_kv_usage[i]));
    }
    positive("y_context_length", &d.y_context_length)?;
    positive("z_itl", &d.z_itl)?;
    positive("z_thpt_per_gpu", &d.z_thpt_per_gpu)?;
    if d.max_kv_tokens == 0 {
        return bad("max_kv_tokens is 0".into());
    }
    Ok(())
}

/// Checks the parts of a request every method relies on.
pub fn check_request(request: &ProfileRequest) -> Result<(), PluginError> {
    let sla = &request.sla;
    let bad = |m: &str| Err(PluginError::new("invalid_request", m.to_string()));
    if sla.isl == 0 || sla.osl < 2 {
        return bad("the SLA needs isl >= 1 and osl >= 2 (ITL needs two output tokens)");
    }
    if !(sla.ttft_ms.is_finite() && sla.ttft_ms > 0.0 && sla.itl_ms.is_finite() && sla.itl_ms > 0.0) {
        return bad("the SLA latencies must be positive and finite");
    }
    if request.search.prefill_tp.is_empty() || request.search.decode_tp.is_empty() {
        return bad("the search space needs at least one prefill and one decode TP");
    }
    Ok(())
}

/// Parses method options strictly: `null` gives the defaults, unknown keys are an error whose
/// help lists every valid option with its default. `T` should also carry
/// `#[serde(default, deny_unknown_fields)]`.
pub fn parse_options<T>(value: &serde_json::Value) -> Result<T, PluginError>
where
    T: DeserializeOwned + Serialize + Default,
{
    let defaults = serde_json::to_value(T::default()).unwrap_or(serde_json::Value::Null);
    let listing = match &defaults {
        serde_json::Value::Object(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_string(),
    };
    let bad =
        |m: String| PluginError::new("invalid_options", m).with_help(format!("valid options (defaults): {listing}"));
    match value {
        serde_json::Value::Null => return Ok(T::default()),
        serde_json::Value::Object(map) => {
            if let serde_json::Value::Object(known) = &defaults {
                let unknown: Vec<&str> = map
                    .keys()
                    .filter(|k| !known.contains_key(*k))
                    .map(String::as_str)
                    .collect();
                if !unknown.is_empty() {
                    return Err(bad(format!("unknown option(s): {}", unknown.join(", "))));
                }
            }
        }
        other => return Err(bad(format!("options must be a JSON object, not {other}"))),
    }
    serde_json::from_value(value.clone()).map_err(|e| bad(format!("invalid options: {e}")))
}

/// An error if the host asked to stop.
pub fn check_cancelled(host: &dyn HostContext) -> Result<(), PluginError> {
    if host.cancelled() {
        Err(PluginError::new("cancelled", "cancelled by the user"))
    } else {
        Ok(())
    }
}

/// Ordering of floats that treats NaN as smallest (for argmax loops).
pub(crate) fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.total_cmp(&b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use profcmp_plugin_api::{DecodeProfile, PrefillProfile};

    fn p(tp: u32, ttft: f64, thpt: f64) -> PrefillRow {
        PrefillRow {
            tp,
            ttft_ms: ttft,
            thpt_per_gpu: thpt,
        }
    }

    fn d(tp: u32, c: u32, itl: f64, thpt: f64) -> DecodeRow {
        DecodeRow {
            tp,
            concurrency: c,
            itl_ms: itl,
            thpt_per_gpu: thpt,
        }
    }

    #[test]
    fn prefill_rule_picks_best_qualifying_throughput() {
        let rows = [
            p(1, 230.0, 8900.0),
            p(2, 130.0, 7800.0),
            p(4, 80.0, 6400.0),
            p(8, 50.0, 5100.0),
        ];
        assert_eq!(select_prefill(&rows, 500.0).unwrap().tp, 1);
        // TP1 misses the SLA: the best qualifying one wins even though TP1 has more throughput.
        assert_eq!(select_prefill(&rows, 200.0).unwrap().tp, 2);
        assert_eq!(rank_prefill(&rows, 200.0), vec![2, 4, 8, 1]);
    }

    #[test]
    fn prefill_rule_falls_back_to_lowest_ttft() {
        let rows = [
            p(1, 230.0, 8900.0),
            p(2, 130.0, 7800.0),
            p(4, 80.0, 6400.0),
            p(8, 90.0, 2800.0),
        ];
        assert_eq!(select_prefill(&rows, 10.0).unwrap().tp, 4);
        assert_eq!(rank_prefill(&rows, 10.0), vec![4, 8, 2, 1]);
        assert!(select_prefill(&[], 10.0).is_none());
    }

    #[test]
    fn ties_go_to_fewer_gpus() {
        let rows = [p(4, 100.0, 5000.0), p(2, 120.0, 5000.0), p(8, 60.0, 4000.0)];
        assert_eq!(select_prefill(&rows, 500.0).unwrap().tp, 2);
        let rows = [p(4, 50.0, 5000.0), p(2, 50.0, 5000.0)];
        assert_eq!(select_prefill(&rows, 10.0).unwrap().tp, 2);
        let rows = [d(2, 64, 30.0, 3000.0), d(1, 40, 40.0, 3000.0), d(1, 20, 35.0, 3000.0)];
        assert_eq!(select_decode(&rows, 50.0).unwrap(), d(1, 20, 35.0, 3000.0));
    }

    #[test]
    fn decode_rule_runs_over_every_tp_and_concurrency() {
        let rows = [
            d(1, 1, 18.0, 55.0),
            d(1, 60, 45.0, 1300.0),
            d(1, 76, 52.0, 1460.0),
            d(2, 1, 11.0, 45.0),
            d(2, 100, 40.0, 1250.0),
            d(2, 200, 49.0, 2040.0),
        ];
        assert_eq!(select_decode(&rows, 50.0).unwrap(), d(2, 200, 49.0, 2040.0));
        assert_eq!(select_decode(&rows, 46.0).unwrap(), d(1, 60, 45.0, 1300.0));
        assert_eq!(rank_decode(&rows, 46.0), vec![1, 2]);
        // None qualifies: the lowest ITL.
        assert_eq!(select_decode(&rows, 5.0).unwrap(), d(2, 1, 11.0, 45.0));
    }

    #[test]
    fn concurrency_sweep_matches_dynamo() {
        // Dynamo's decode sweep for 502272 KV tokens at ISL 100 + OSL 500.
        assert_eq!(max_concurrency(502_272, 100, 500), 837);
        assert_eq!(concurrency_sweep(837, 6), vec![1, 168, 335, 502, 669, 837]);
        assert_eq!(concurrency_sweep(4, 6), vec![1, 2, 3, 4]);
        assert_eq!(concurrency_sweep(6, 6), vec![1, 2, 3, 4, 5, 6]);
        assert!(concurrency_sweep(0, 6).is_empty());
        assert_eq!(concurrency_sweep(9, 1), vec![9]);
    }

    #[test]
    fn power_of_two_candidates() {
        assert_eq!(power_of_two_tps(&[8, 3, 1, 2, 4, 2, 6]), vec![1, 2, 4, 8]);
    }

    fn good_profile() -> PlannerProfile {
        PlannerProfile::new(
            PrefillProfile::new(vec![100.0, 2000.0], vec![20.0, 200.0], vec![5000.0, 10000.0]),
            DecodeProfile::new(
                vec![0.0, 0.5, 1.0],
                vec![350.0, 350.0, 350.0],
                vec![10.0, 20.0, 30.0],
                vec![50.0, 500.0, 900.0],
                1000,
            ),
        )
    }

    #[test]
    fn profile_validity() {
        assert!(validate_profile(&good_profile()).is_ok());
        let mut p = good_profile();
        p.prefill.prefill_isl = vec![2000.0, 100.0];
        assert!(validate_profile(&p).unwrap_err().message.contains("increasing"));
        let mut p = good_profile();
        p.decode.x_kv_usage[2] = 1.2;
        assert!(validate_profile(&p).unwrap_err().message.contains("outside"));
        let mut p = good_profile();
        p.decode.z_itl[1] = f64::NAN;
        assert!(validate_profile(&p).is_err());
        let mut p = good_profile();
        p.prefill.prefill_ttft[0] = -1.0;
        assert!(validate_profile(&p).is_err());
        let mut p = good_profile();
        p.decode.z_thpt_per_gpu.pop();
        assert!(validate_profile(&p).is_err());
        let mut p = good_profile();
        p.decode.max_kv_tokens = 0;
        assert!(validate_profile(&p).is_err());
        assert!(validate_profile(&PlannerProfile::default()).is_err());
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Opts {
        top_k: u32,
        name: Option<String>,
    }

    #[test]
    fn options_are_strict() {
        let o: Opts = parse_options(&serde_json::Value::Null).unwrap();
        assert_eq!(o, Opts::default());
        let o: Opts = parse_options(&serde_json::json!({"top_k": 3})).unwrap();
        assert_eq!(o.top_k, 3);
        let err = parse_options::<Opts>(&serde_json::json!({"top_k": 3, "topk": 1})).unwrap_err();
        assert_eq!(err.code, "invalid_options");
        assert!(err.message.contains("topk"), "{}", err.message);
        let help = err.help.unwrap();
        assert!(help.contains("top_k = 0") && help.contains("name = null"), "{help}");
        assert!(parse_options::<Opts>(&serde_json::json!({"top_k": "x"})).is_err());
        assert!(parse_options::<Opts>(&serde_json::json!([1])).is_err());
    }
}
