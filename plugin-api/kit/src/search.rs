//! Online measurement that keeps only each phase's incumbent deployment alive.
//!
//! [`Search`] deploys one TP at a time, measures it at the SLA shape, re-applies the selection
//! rule to everything measured so far, and tears down every deployment of that phase that is not
//! the incumbent. At the end, [`Search::profile_data`] runs the interpolation sweeps on the two
//! incumbents it kept, so a method that searched with N deployments also gets its planner data
//! with N deployments (no redeploying), at the price of keeping at most two engines per phase
//! alive during the search.

use super::grid;
use super::probe::{self, Correction, OnFailure};
use super::session::Session;
use super::{select_decode, select_prefill, DecodeRow, PrefillRow};
use profcmp_plugin_api::{DeployRequest, Deployment, HostContext, PlannerProfile, PluginError, Sla};

/// How the interpolation data of the chosen TPs is obtained.
pub enum Fill<'a> {
    /// Measured on the kept deployments; failed points are left out.
    Measured,
    /// Measured on the kept deployments; failed points come from the corrected estimator.
    MeasuredOrEstimated(&'a Correction),
    /// Only the corrected estimator (no further measurement).
    Estimated(&'a Correction),
}

/// The state of an online search.
pub struct Search<'s, 'h> {
    session: &'s Session<'h>,
    sla: Sla,
    /// Every prefill row measured.
    pub prefill_rows: Vec<PrefillRow>,
    /// Every decode row measured.
    pub decode_rows: Vec<DecodeRow>,
    /// Prefill TPs deployed, in order.
    pub prefill_tried: Vec<u32>,
    /// Decode TPs deployed, in order, with the KV capacity each deployment reported.
    pub decode_tried: Vec<(u32, u64)>,
    /// Largest batch a decode deployment reported.
    pub max_batch: Option<u32>,
    prefill_live: Vec<Deployment>,
    decode_live: Vec<Deployment>,
}

impl<'s, 'h> Search<'s, 'h> {
    /// A search measuring through `session` at the `sla` shape.
    pub fn new(session: &'s Session<'h>, sla: Sla) -> Self {
        Search {
            session,
            sla,
            prefill_rows: Vec::new(),
            decode_rows: Vec::new(),
            prefill_tried: Vec::new(),
            decode_tried: Vec::new(),
            max_batch: None,
            prefill_live: Vec::new(),
            decode_live: Vec::new(),
        }
    }

    /// The SLA being searched for.
    pub fn sla(&self) -> &Sla {
        &self.sla
    }

    /// The session measurements go through.
    pub fn session(&self) -> &'s Session<'h> {
        self.session
    }

    /// Deployments made by this search.
    pub fn deployments(&self) -> u32 {
        (self.prefill_tried.len() + self.decode_tried.len()) as u32
    }

    /// The prefill row the selection rule picks among the measured ones.
    pub fn prefill_incumbent(&self) -> Option<PrefillRow> {
        select_prefill(&self.prefill_rows, self.sla.ttft_ms)
    }

    /// The decode row the selection rule picks among the measured ones.
    pub fn decode_incumbent(&self) -> Option<DecodeRow> {
        select_decode(&self.decode_rows, self.sla.itl_ms)
    }

    /// Decode rows measured on one TP.
    pub fn decode_rows_of(&self, tp: u32) -> Vec<DecodeRow> {
        self.decode_rows.iter().copied().filter(|r| r.tp == tp).collect()
    }

    /// Deploys a prefill engine at `tp`, measures TTFT at the SLA ISL, keeps it only if it is the
    /// new incumbent.
    pub fn try_prefill(&mut self, tp: u32) -> Result<PrefillRow, PluginError> {
        let s = self.session;
        s.check_cancelled()?;
        s.info(&format!("deploying prefill TP{tp}"));
        let dep = s.deploy(&DeployRequest::PrefillOnly { tp })?;
        self.prefill_tried.push(tp);
        self.prefill_live.push(dep.clone());
        let row = probe::measured_prefill_row(s, &dep, &self.sla)?;
        s.info(&format!(
            "prefill TP{tp}: TTFT {:.1} ms, {:.0} tok/s/GPU",
            row.ttft_ms, row.thpt_per_gpu
        ));
        self.prefill_rows.push(row);
        let keep = self.prefill_incumbent().map(|r| r.tp);
        retire(s, &mut self.prefill_live, keep)?;
        Ok(row)
    }

    /// Deploys a decode engine at `tp`, measures the concurrency sweep at the SLA shape, keeps
    /// it only if it holds the new incumbent row.
    pub fn try_decode(&mut self, tp: u32) -> Result<Vec<DecodeRow>, PluginError> {
        let s = self.session;
        s.check_cancelled()?;
        s.info(&format!("deploying decode TP{tp}"));
        let dep = s.deploy(&DeployRequest::DecodeOnly { tp })?;
        self.decode_tried.push((tp, dep.kv_capacity_tokens));
        self.max_batch = Some(self.max_batch.unwrap_or(0).max(dep.max_batch));
        self.decode_live.push(dep.clone());
        let rows = probe::measured_decode_rows(s, &dep, &self.sla)?;
        if let Some(best) = super::select_decode(&rows, self.sla.itl_ms) {
            s.info(&format!(
                "decode TP{tp}: best concurrency {} at ITL {:.2} ms, {:.0} tok/s/GPU",
                best.concurrency, best.itl_ms, best.thpt_per_gpu
            ));
        }
        self.decode_rows.extend(rows.iter().copied());
        let keep = self.decode_incumbent().map(|r| r.tp);
        retire(s, &mut self.decode_live, keep)?;
        Ok(rows)
    }

    /// Planner data for the incumbents, from the kept deployments (reused, not redeployed), which
    /// are torn down afterwards. The rows measured at the SLA shape are merged in.
    pub fn profile_data(&mut self, max_context: Option<u32>, fill: Fill) -> Result<PlannerProfile, PluginError> {
        let s = self.session;
        let (p, d) = match (self.prefill_incumbent(), self.decode_incumbent()) {
            (Some(p), Some(d)) => (p, d),
            _ => return Err(PluginError::new("no_choice", "nothing measured to choose from")),
        };
        let missing = || PluginError::new("internal", "the incumbent's deployment is no longer alive");
        let pdep = self
            .prefill_live
            .iter()
            .find(|d| probe::gpus_of(d) == p.tp)
            .cloned()
            .ok_or_else(missing)?;
        let ddep = self
            .decode_live
            .iter()
            .find(|x| probe::gpus_of(x) == d.tp)
            .cloned()
            .ok_or_else(missing)?;
        let pctx = grid::max_context(max_context, &self.sla, pdep.kv_capacity_tokens);
        let dctx = grid::max_context(max_context, &self.sla, ddep.kv_capacity_tokens);
        let (mut prefill, mut decode) = match fill {
            Fill::Estimated(c) => probe::estimated_profile(s, p.tp, pctx, d.tp, dctx, ddep.kv_capacity_tokens, c)?,
            Fill::Measured | Fill::MeasuredOrEstimated(_) => {
                let on_failure = match fill {
                    Fill::MeasuredOrEstimated(c) => OnFailure::Estimate(c),
                    _ => OnFailure::Skip,
                };
                s.info(&format!(
                    "interpolation sweeps on the kept prefill TP{} and decode TP{}",
                    p.tp, d.tp
                ));
                let prefill = probe::measured_prefill_profile(s, &pdep, pctx, &on_failure)?;
                let decode = probe::measured_decode_profile(s, &ddep, dctx, &on_failure)?;
                (prefill, decode)
            }
        };
        grid::merge_prefill_row(&mut prefill, self.sla.isl, &p);
        grid::merge_decode_rows(&mut decode, &self.sla, &self.decode_rows_of(d.tp));
        for dep in self.prefill_live.drain(..).chain(self.decode_live.drain(..)) {
            s.teardown(&dep)?;
        }
        Ok(PlannerProfile::new(prefill, decode))
    }
}

/// Tears down the live deployments whose TP is not `keep`.
fn retire(host: &dyn HostContext, live: &mut Vec<Deployment>, keep: Option<u32>) -> Result<(), PluginError> {
    let (kept, gone): (Vec<_>, Vec<_>) = live.drain(..).partition(|d| Some(probe::gpus_of(d)) == keep);
    *live = kept;
    for dep in gone {
        host.teardown(&dep)?;
    }
    Ok(())
}
