//! The AIC estimator as the simulated cluster's source of step times.

use std::sync::Arc;

use crate::estimator::{Estimator, EstimatorSet};

use super::{StepTimes, StepTimesSource};

impl StepTimes for Estimator {
    fn prefill_ms(&self, batch: u32, isl: u32) -> Result<f64, String> {
        Estimator::prefill_ms(self, batch, isl).map_err(|e| e.to_string())
    }

    fn decode_step_ms(&self, batch: u32, context: u32) -> Result<f64, String> {
        Estimator::decode_step_ms(self, batch, context).map_err(|e| e.to_string())
    }

    fn kv_capacity_tokens(&self) -> u64 {
        Estimator::kv_capacity_tokens(self)
    }

    fn max_batch(&self) -> u32 {
        Estimator::max_batch(self)
    }
}

impl StepTimesSource for EstimatorSet {
    fn step_times(&self, tp: u32) -> Result<Arc<dyn StepTimes>, String> {
        let estimator: Arc<dyn StepTimes> = self.get(tp).map_err(|e| e.to_string())?;
        Ok(estimator)
    }
}

/// One estimator set shared by many clusters (e.g. one per planner job and thread).
impl StepTimesSource for Arc<EstimatorSet> {
    fn step_times(&self, tp: u32) -> Result<Arc<dyn StepTimes>, String> {
        self.as_ref().step_times(tp)
    }
}
