//! Forward-pass timing of simulated workers: estimator step times tabulated on a grid, scaled by
//! the reality profile, with seeded jitter, behind aisimulate's `TimingModel`.
//!
//! The estimator is queried once per grid point when a (role, TP) is first deployed; the replay
//! then interpolates bilinearly in (batch, tokens), which keeps a 45k-request trace fast.

use std::sync::{Arc, Mutex};

use aisimulate_core::TimingModel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Step latencies of one worker at one TP: the AIC estimator, or a stand-in in tests.
pub trait StepTimes: Send + Sync {
    /// One prefill pass of `batch` prompts of `isl` tokens, ms.
    fn prefill_ms(&self, batch: u32, isl: u32) -> Result<f64, String>;
    /// One decode step of `batch` sequences at context `context`, ms.
    fn decode_step_ms(&self, batch: u32, context: u32) -> Result<f64, String>;
    /// KV-cache tokens the worker holds.
    fn kv_capacity_tokens(&self) -> u64;
    /// Most sequences the worker batches.
    fn max_batch(&self) -> u32;
}

/// Batch sizes of the grids (cut at the worker's max batch; linear beyond).
const BATCHES: [u32; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
/// Prompt lengths of the prefill grid (linear beyond the last).
const PREFILL_TOKENS: [u32; 12] = [1, 32, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
/// Context lengths of the decode grid (linear beyond the last).
const DECODE_CONTEXTS: [u32; 10] = [16, 128, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
/// Largest prefill pass (batch x tokens) asked of the estimator; larger ones scale linearly in batch.
const MAX_PREFILL_PASS_TOKENS: u64 = 65536;

/// A latency table over (batch, tokens) with bilinear interpolation.
#[derive(Clone, Debug)]
pub struct StepTable {
    batches: Vec<f64>,
    tokens: Vec<f64>,
    /// Row-major: `ms[batch_idx * tokens.len() + token_idx]`.
    ms: Vec<f64>,
}

impl StepTable {
    /// Evaluates `f` on every grid point.
    pub fn build(
        batches: &[u32],
        tokens: &[u32],
        mut f: impl FnMut(u32, u32) -> Result<f64, String>,
    ) -> Result<StepTable, String> {
        let mut ms = Vec::with_capacity(batches.len() * tokens.len());
        for &batch in batches {
            for &n_tokens in tokens {
                let value = f(batch, n_tokens)?;
                if !value.is_finite() || value < 0.0 {
                    return Err(format!("step time {value} ms at batch {batch}, {n_tokens} tokens"));
                }
                ms.push(value);
            }
        }
        Ok(StepTable {
            batches: batches.iter().map(|&b| f64::from(b)).collect(),
            tokens: tokens.iter().map(|&t| f64::from(t)).collect(),
            ms,
        })
    }

    /// Latency at (batch, tokens), ms: bilinear inside the grid, clamped below its first
    /// point and linear beyond its last (never below zero).
    pub fn at(&self, batch: f64, tokens: f64) -> f64 {
        let (b0, wb) = bracket(&self.batches, batch);
        let (t0, wt) = bracket(&self.tokens, tokens);
        let n = self.tokens.len();
        let cell = |bi: usize, ti: usize| self.ms[bi * n + ti];
        let row = |bi: usize| cell(bi, t0) + (cell(bi, t0 + 1) - cell(bi, t0)) * wt;
        (row(b0) + (row(b0 + 1) - row(b0)) * wb).max(0.0)
    }
}

/// The index of the segment holding `x` and the weight of its right end; the weight exceeds 1
/// past the last point (linear extrapolation) and is 0 before the first (clamping).
fn bracket(axis: &[f64], x: f64) -> (usize, f64) {
    let last = axis.len() - 2;
    let i = axis.partition_point(|&a| a <= x).saturating_sub(1).min(last);
    let w = (x - axis[i]) / (axis[i + 1] - axis[i]);
    (i, w.max(0.0))
}

/// Tabulated step times of one worker at one TP.
#[derive(Clone, Debug)]
pub struct WorkerTables {
    /// Prefill pass latency over (batch, prompt tokens).
    pub prefill: StepTable,
    /// Decode step latency over (batch, context).
    pub decode: StepTable,
    /// KV-cache tokens of the worker.
    pub kv_capacity_tokens: u64,
    /// Most sequences the worker batches.
    pub max_batch: u32,
}

impl WorkerTables {
    /// Queries `times` on the grids.
    pub fn build(times: &dyn StepTimes) -> Result<WorkerTables, String> {
        let max_batch = times.max_batch().max(1);
        let mut batches: Vec<u32> = BATCHES.iter().copied().filter(|&b| b < max_batch).collect();
        batches.push(max_batch);
        if batches.len() == 1 {
            batches.push(max_batch + 1);
        }
        let prefill = StepTable::build(&batches, &PREFILL_TOKENS, |batch, isl| {
            let fits = |b: u32| u64::from(b) * u64::from(isl) <= MAX_PREFILL_PASS_TOKENS;
            if fits(batch) {
                return times.prefill_ms(batch, isl);
            }
            let asked = batches.iter().copied().filter(|&b| fits(b)).max().unwrap_or(1);
            Ok(times.prefill_ms(asked, isl)? * f64::from(batch) / f64::from(asked))
        })?;
        let decode = StepTable::build(&batches, &DECODE_CONTEXTS, |batch, ctx| {
            times.decode_step_ms(batch, ctx)
        })?;
        Ok(WorkerTables {
            prefill,
            decode,
            kv_capacity_tokens: times.kv_capacity_tokens(),
            max_batch,
        })
    }
}

/// How one simulated worker turns a forward pass into time.
#[derive(Clone, Debug)]
pub struct PassCosts {
    /// Multiplies the prefill table (0: the prompt's KV is assumed present).
    pub prefill_factor: f64,
    /// Multiplies the decode table.
    pub decode_factor: f64,
    /// Time the worker spends sending one prompt token's KV after prefill, ms (0: no sending).
    pub send_ms_per_token: f64,
    /// Sigma of the mean-one lognormal jitter of each pass.
    pub jitter_sigma: f64,
    /// Seed of the jitter stream.
    pub seed: u64,
}

/// aisimulate timing model of one worker role: tables x reality factors x jitter, plus the busy
/// time of sending KV.
pub struct PassTiming {
    tables: Arc<WorkerTables>,
    costs: PassCosts,
    rng: Mutex<ChaCha8Rng>,
}

impl PassTiming {
    /// A timing model over `tables`.
    pub fn new(tables: Arc<WorkerTables>, costs: PassCosts) -> PassTiming {
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(costs.seed));
        PassTiming { tables, costs, rng }
    }

    /// The calibrated prefill latency before jitter and sending, ms.
    pub fn prefill_compute_ms(&self, batch: usize, new_tokens: usize) -> f64 {
        self.costs.prefill_factor * self.tables.prefill.at(batch as f64, new_tokens as f64)
    }

    /// The calibrated decode step latency before jitter, ms.
    pub fn decode_step_ms(&self, batch: usize, context: usize) -> f64 {
        self.costs.decode_factor * self.tables.decode.at(batch as f64, context as f64)
    }

    fn jitter(&self) -> f64 {
        let sigma = self.costs.jitter_sigma;
        if sigma == 0.0 {
            return 1.0;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (sigma * z - sigma * sigma / 2.0).exp()
    }
}

impl TimingModel for PassTiming {
    fn prefill_batch_validation_can_fail(&self) -> bool {
        false
    }

    fn prefill_prediction_can_fail(&self) -> bool {
        false
    }

    fn predict_prefill_ms(&self, batch_size: usize, mean_isl: usize, mean_prefix: usize) -> anyhow::Result<f64> {
        let new_tokens = mean_isl.saturating_sub(mean_prefix);
        if batch_size == 0 || new_tokens == 0 {
            return Ok(0.0);
        }
        let compute = self.prefill_compute_ms(batch_size, new_tokens);
        let compute = if compute > 0.0 { compute * self.jitter() } else { 0.0 };
        let send = self.costs.send_ms_per_token * (batch_size * new_tokens) as f64;
        Ok(compute + send)
    }

    fn predict_decode_ms(
        &self,
        batch_size: usize,
        _active_kv_tokens: usize,
        mean_context_length: usize,
        _total_kv_tokens: usize,
    ) -> anyhow::Result<f64> {
        if batch_size == 0 {
            return Ok(0.0);
        }
        Ok(self.decode_step_ms(batch_size, mean_context_length) * self.jitter())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stand-in for the estimator with simple closed forms (ms).
    pub(crate) struct LinearStepTimes {
        pub kv_capacity_tokens: u64,
        pub max_batch: u32,
    }

    impl StepTimes for LinearStepTimes {
        fn prefill_ms(&self, batch: u32, isl: u32) -> Result<f64, String> {
            Ok(5.0 + 0.09 * f64::from(batch) * f64::from(isl))
        }
        fn decode_step_ms(&self, batch: u32, context: u32) -> Result<f64, String> {
            Ok(15.0 + 0.05 * f64::from(batch) + 0.00002 * f64::from(batch) * f64::from(context))
        }
        fn kv_capacity_tokens(&self) -> u64 {
            self.kv_capacity_tokens
        }
        fn max_batch(&self) -> u32 {
            self.max_batch
        }
    }

    #[test]
    fn table_interpolates_and_extrapolates_linear_functions_exactly() {
        let table = StepTable::build(&[1, 2, 4], &[10, 20, 40], |b, t| Ok(f64::from(b) * 3.0 + f64::from(t))).unwrap();
        for (b, t) in [(1.0, 10.0), (3.0, 15.0), (4.0, 40.0), (8.0, 100.0), (1.5, 33.0)] {
            assert!((table.at(b, t) - (3.0 * b + t)).abs() < 1e-9, "{b} {t}");
        }
        // Clamped below the grid.
        assert!((table.at(1.0, 1.0) - 13.0).abs() < 1e-9);
    }

    #[test]
    fn tables_scale_oversized_prefills_linearly_in_batch() {
        let times = LinearStepTimes {
            kv_capacity_tokens: 100_000,
            max_batch: 256,
        };
        let tables = WorkerTables::build(&times).unwrap();
        let exact = times.prefill_ms(4, 2048).unwrap();
        assert!((tables.prefill.at(4.0, 2048.0) - exact).abs() < 1e-9);
        let big = tables.prefill.at(256.0, 65536.0);
        assert!((big - 256.0 * times.prefill_ms(1, 65536).unwrap()).abs() < 1e-6);
    }

    #[test]
    fn jitter_is_seeded_and_mean_one() {
        let times = LinearStepTimes {
            kv_capacity_tokens: 100_000,
            max_batch: 64,
        };
        let tables = Arc::new(WorkerTables::build(&times).unwrap());
        let costs = PassCosts {
            prefill_factor: 1.0,
            decode_factor: 2.0,
            send_ms_per_token: 0.0,
            jitter_sigma: 0.1,
            seed: 7,
        };
        let draw = |costs: &PassCosts| {
            let timing = PassTiming::new(Arc::clone(&tables), costs.clone());
            (0..4000)
                .map(|_| timing.predict_decode_ms(1, 0, 16, 0).unwrap())
                .collect::<Vec<_>>()
        };
        let a = draw(&costs);
        assert_eq!(a, draw(&costs));
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        let nominal = 2.0 * times.decode_step_ms(1, 16).unwrap();
        assert!((mean / nominal - 1.0).abs() < 0.01, "{mean} vs {nominal}");
    }
}
