//! Sinusoidal load, equivalent to Dynamo's `sin_synth`: Poisson request counts per second at a
//! sinusoidal rate, two ISL/OSL pairs mixed by a sinusoidal ratio, seeded.

use profcmp_plugin_api::TraceRequest;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::WorkloadError;

/// The shape of a sinusoidal trace.
///
/// Per second `t` (0-based): `rate(t) = (min+max)/2 + (max-min)/2 * sin(2 pi t / period - pi/2)`,
/// so the rate starts at its minimum and peaks at half a period. The number of requests in the
/// second is Poisson(rate(t)); they are spread evenly in the second. Each request is the first
/// ISL/OSL pair with probability `ratio(t)`, the same sinusoid between `ratio_min` and
/// `ratio_max` over `ratio_period_s`, else the second pair.
#[derive(Clone, Debug, PartialEq)]
pub struct SinusoidSpec {
    /// Trace length, s.
    pub duration_s: u32,
    /// Lowest request rate, req/s.
    pub rate_min: f64,
    /// Highest request rate, req/s.
    pub rate_max: f64,
    /// Period of the rate, s.
    pub rate_period_s: f64,
    /// First (ISL, OSL) pair.
    pub pair1: (u32, u32),
    /// Second (ISL, OSL) pair.
    pub pair2: (u32, u32),
    /// Lowest share of the first pair, in [0, 1].
    pub ratio_min: f64,
    /// Highest share of the first pair, in [0, 1].
    pub ratio_max: f64,
    /// Period of the share, s.
    pub ratio_period_s: f64,
    /// Seed.
    pub seed: u64,
}

impl SinusoidSpec {
    /// One ISL/OSL pair at a rate between `rate_min` and `rate_max` with period `rate_period_s`.
    pub fn single(
        duration_s: u32,
        rate_min: f64,
        rate_max: f64,
        rate_period_s: f64,
        isl: u32,
        osl: u32,
        seed: u64,
    ) -> Self {
        SinusoidSpec {
            duration_s,
            rate_min,
            rate_max,
            rate_period_s,
            pair1: (isl, osl),
            pair2: (isl, osl),
            ratio_min: 1.0,
            ratio_max: 1.0,
            ratio_period_s: rate_period_s,
            seed,
        }
    }

    fn check(&self) -> Result<(), WorkloadError> {
        let bad = |field: &str, valid: &str| {
            Err(WorkloadError::Spec {
                field: field.into(),
                valid: valid.into(),
            })
        };
        if self.duration_s == 0 {
            return bad("duration_s", "at least 1 s");
        }
        if !(self.rate_min >= 0.0 && self.rate_min <= self.rate_max && self.rate_max.is_finite()) {
            return bad("rate_min/rate_max", "0 <= rate_min <= rate_max, finite");
        }
        if !(self.rate_period_s > 0.0 && self.ratio_period_s > 0.0) {
            return bad("rate_period_s/ratio_period_s", "> 0 s");
        }
        if !(0.0..=1.0).contains(&self.ratio_min) || !(self.ratio_min..=1.0).contains(&self.ratio_max) {
            return bad("ratio_min/ratio_max", "0 <= ratio_min <= ratio_max <= 1");
        }
        if [self.pair1.0, self.pair1.1, self.pair2.0, self.pair2.1].contains(&0) {
            return bad("pair1/pair2", "ISL and OSL >= 1");
        }
        Ok(())
    }
}

/// The trace's requests, in time order.
pub fn sinusoidal(spec: &SinusoidSpec) -> Result<Vec<TraceRequest>, WorkloadError> {
    spec.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let wave = |t: f64, lo: f64, hi: f64, period: f64| {
        (lo + hi) / 2.0 + (hi - lo) / 2.0 * (std::f64::consts::TAU * t / period - std::f64::consts::FRAC_PI_2).sin()
    };
    let mut requests = Vec::new();
    for second in 0..spec.duration_s {
        let t = f64::from(second);
        let rate = wave(t, spec.rate_min, spec.rate_max, spec.rate_period_s);
        let n = poisson(&mut rng, rate);
        for i in 0..n {
            let timestamp_ms = t * 1000.0 + (f64::from(i) * 1000.0 / f64::from(n)).floor();
            // sin_synth draws the class from the ratio at the request's own time.
            let ratio = wave(timestamp_ms / 1e3, spec.ratio_min, spec.ratio_max, spec.ratio_period_s);
            let (isl, osl) = if rng.random::<f64>() < ratio {
                spec.pair1
            } else {
                spec.pair2
            };
            requests.push(TraceRequest::new(timestamp_ms, isl, osl));
        }
    }
    Ok(requests)
}

/// A Poisson draw by inversion of the CDF (exact; fine for the rates of serving traces).
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    // Split large means so exp(-mean) stays representable: a sum of Poissons is Poisson.
    if mean > 500.0 {
        return poisson(rng, mean / 2.0) + poisson(rng, mean / 2.0);
    }
    let u: f64 = rng.random();
    let (mut k, mut p) = (0u32, (-mean).exp());
    let mut cdf = p;
    while u > cdf && p > 0.0 {
        k += 1;
        p *= mean / f64::from(k);
        cdf += p;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_follows_the_sinusoid_and_is_seeded() {
        let spec = SinusoidSpec::single(1800, 5.0, 45.0, 1800.0, 2048, 256, 42);
        let trace = sinusoidal(&spec).unwrap();
        assert_eq!(trace, sinusoidal(&spec).unwrap());
        let total = trace.len() as f64;
        assert!((total / 1800.0 - 25.0).abs() < 0.5, "mean rate {}", total / 1800.0);
        let count = |from: f64, to: f64| {
            trace
                .iter()
                .filter(|r| r.timestamp_ms >= from && r.timestamp_ms < to)
                .count()
        };
        // Low at the start, high at half a period.
        assert!(count(0.0, 60_000.0) < 400);
        assert!(count(870_000.0, 930_000.0) > 2500);
        assert!(trace.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
        let other = sinusoidal(&SinusoidSpec { seed: 43, ..spec }).unwrap();
        assert_ne!(trace, other);
    }

    #[test]
    fn two_pairs_mix_by_the_ratio() {
        let spec = SinusoidSpec {
            pair2: (512, 64),
            ratio_min: 0.25,
            ratio_max: 0.25,
            ..SinusoidSpec::single(600, 10.0, 10.0, 600.0, 2048, 256, 1)
        };
        let trace = sinusoidal(&spec).unwrap();
        let share = trace.iter().filter(|r| r.input_length == 2048).count() as f64 / trace.len() as f64;
        assert!((share - 0.25).abs() < 0.03, "{share}");
    }

    #[test]
    fn the_seeds_trace_has_sin_synths_statistics() {
        // sin_synth --time-duration 1800 --request-rate-min 5 --request-rate-max 45 --isl1 2048
        // --osl1 256, every other argument at its default (docs/workload.md).
        let spec = SinusoidSpec {
            pair2: (5000, 100),
            ratio_min: 0.2,
            ratio_max: 0.8,
            ratio_period_s: 10.0,
            ..SinusoidSpec::single(1800, 5.0, 45.0, 10.0, 2048, 256, 7)
        };
        let trace = sinusoidal(&spec).unwrap();
        let mean_rate = trace.len() as f64 / 1800.0;
        assert!((mean_rate - 25.0).abs() < 0.5, "{mean_rate}");
        // Phase of the 10 s period: seconds 0-1 are the trough (rate ~5-9), 4-6 the crest (~40-45).
        let in_phase = |phases: &[u32]| {
            trace
                .iter()
                .filter(|r| phases.contains(&((r.timestamp_ms / 1000.0) as u32 % 10)))
                .collect::<Vec<_>>()
        };
        let (trough, crest) = (in_phase(&[0]), in_phase(&[5]));
        assert!(
            (trough.len() as f64 / 180.0 - 5.0).abs() < 1.0,
            "trough {}",
            trough.len()
        );
        assert!((crest.len() as f64 / 180.0 - 45.0).abs() < 2.0, "crest {}", crest.len());
        // The share of class 1 follows the ratio wave: ~0.2 at the trough, ~0.8 at the crest.
        let share =
            |rs: &[&TraceRequest]| rs.iter().filter(|r| r.input_length == 2048).count() as f64 / rs.len() as f64;
        assert!(
            (share(&in_phase(&[5])) - 0.8).abs() < 0.05,
            "{}",
            share(&in_phase(&[5]))
        );
        assert!(
            (share(&in_phase(&[0, 9])) - 0.22).abs() < 0.08,
            "{}",
            share(&in_phase(&[0, 9]))
        );
        let overall = share(&trace.iter().collect::<Vec<_>>());
        // Weighted by rate, the busy half (share > 0.5) dominates.
        assert!(overall > 0.55 && overall < 0.75, "{overall}");
        // Timestamps are whole milliseconds.
        assert!(trace.iter().all(|r| r.timestamp_ms.fract() == 0.0));
    }

    #[test]
    fn bad_specs_name_the_field() {
        let spec = SinusoidSpec {
            rate_min: 50.0,
            ..SinusoidSpec::single(10, 5.0, 45.0, 10.0, 1, 1, 1)
        };
        assert!(sinusoidal(&spec).unwrap_err().to_string().contains("rate_min"));
    }
}
