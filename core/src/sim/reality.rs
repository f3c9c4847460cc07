//! Reality profiles: how a simulated cluster departs from the estimator (TOML data files).
//!
//! A profile holds calibration factors on the estimator's step times per phase and per TP,
//! deployment and worker startup times, the KV-transfer path (bandwidth per GPU link, how many
//! links one transfer uses, a fixed handoff delay), a frontend overhead and seeded jitter. Three
//! ship with profcmp (`core/data/reality/`): `typical` (the default: the middle of published
//! ranges for an H100/H200/B200 cluster with a healthy KV path), `nominal` (the estimator as is,
//! for checks) and `dynamo-2026-01` (calibrated on NVIDIA's January 2026 Online-ALL validation
//! run). Each file documents what its numbers stand for and where they come from.

use std::path::{Path, PathBuf};

/// Names of the embedded profiles.
pub const REALITY_NAMES: [&str; 3] = ["typical", "nominal", "dynamo-2026-01"];

/// The reality the run-style commands use unless told otherwise.
pub const DEFAULT_REALITY: &str = "typical";

const TYPICAL: &str = include_str!("../../data/reality/typical.toml");
const NOMINAL: &str = include_str!("../../data/reality/nominal.toml");
const DYNAMO_2026_01: &str = include_str!("../../data/reality/dynamo-2026-01.toml");
/// The ranges reality ensembles draw from by default.
pub const DEFAULT_RANGES: &str = include_str!("../../data/reality/ranges.toml");

/// Why a reality profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RealityError {
    /// No embedded profile of that name.
    #[error("unknown reality profile `{name}`; known profiles: {} (or give a path to a .toml file)", REALITY_NAMES.join(", "))]
    UnknownName {
        /// The name asked for.
        name: String,
    },
    /// The file could not be read.
    #[error("cannot read reality profile {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("reality profile {origin} is not valid TOML: {message}")]
    Parse {
        /// File path or profile name.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// A required parameter is absent.
    #[error("reality profile {origin}: missing `{field}` ({valid})")]
    Missing {
        /// File path or profile name.
        origin: String,
        /// Dotted field name, e.g. `calibration.prefill`.
        field: String,
        /// What a valid value is.
        valid: &'static str,
    },
    /// A parameter has a wrong type or is out of range.
    #[error("reality profile {origin}: `{field}` = {value} is invalid; it must be {valid}")]
    Invalid {
        /// File path or profile name.
        origin: String,
        /// Dotted field name.
        field: String,
        /// The value found.
        value: String,
        /// What a valid value is.
        valid: &'static str,
    },
    /// A parameter profcmp does not know (likely a typo).
    #[error("reality profile {origin}: unknown field `{field}`; known fields: {}", FIELDS.iter().map(|f| f.0).collect::<Vec<_>>().join(", "))]
    UnknownField {
        /// File path or profile name.
        origin: String,
        /// Dotted field name.
        field: String,
    },
}

/// A simulated cluster's departure from the estimator. All times are virtual.
#[derive(Clone, Debug, PartialEq)]
pub struct Reality {
    /// Short name (`nominal`, `dynamo-2026-01`, ...).
    pub name: String,
    /// One line about where the numbers come from.
    pub description: String,
    /// Multiplies the estimator's prefill pass latency at TP1.
    pub prefill_factor: f64,
    /// Multiplies the estimator's decode step latency at TP1.
    pub decode_factor: f64,
    /// Extra prefill factor at TP 2, 4 and 8 over TP1 (see [`Reality::prefill_factor_at`]).
    pub prefill_tp_factors: [f64; 3],
    /// Extra decode factor at TP 2, 4 and 8 over TP1.
    pub decode_tp_factors: [f64; 3],
    /// Seconds from a deploy request until the whole graph serves.
    pub deployment_startup_s: f64,
    /// Seconds from a planner's scale-up until a new worker serves.
    pub worker_startup_s: f64,
    /// Bandwidth of one GPU's KV link (NIC or NVLink port), decimal GB/s. The sending prefill
    /// worker is busy for `kv bytes / (links x bandwidth)` per request (see [`Reality::kv_send_ms`]).
    pub kv_bandwidth_gb_s: f64,
    /// Most GPU links one transfer uses in parallel (1: one path per worker, e.g. a TCP fallback
    /// through the host; 8: one NIC per GPU).
    pub kv_max_links: u32,
    /// Fixed delay of every KV handoff after the bytes are sent, ms (parallel across requests).
    pub kv_latency_ms: f64,
    /// Frontend time added to every request's TTFT and latency, ms.
    pub frontend_overhead_ms: f64,
    /// Frontend time per input token (tokenization), added like the overhead, µs.
    pub frontend_per_input_token_us: f64,
    /// Sigma of the mean-one lognormal factor applied to every forward pass.
    pub jitter_sigma: f64,
}

/// Every numeric field: (dotted name, what is valid, whether zero is allowed, the value when
/// absent; `None` = required). The optional ones came after the first profiles were written;
/// their defaults are "no deviation", so older files keep their meaning.
pub(crate) const FIELDS: [(&str, &str, bool, Option<f64>); 16] = [
    ("calibration.prefill", "a number > 0", false, None),
    ("calibration.decode", "a number > 0", false, None),
    ("calibration.prefill_tp2", "a number > 0", false, Some(1.0)),
    ("calibration.prefill_tp4", "a number > 0", false, Some(1.0)),
    ("calibration.prefill_tp8", "a number > 0", false, Some(1.0)),
    ("calibration.decode_tp2", "a number > 0", false, Some(1.0)),
    ("calibration.decode_tp4", "a number > 0", false, Some(1.0)),
    ("calibration.decode_tp8", "a number > 0", false, Some(1.0)),
    ("startup.deployment_s", "a number of seconds >= 0", true, None),
    ("startup.worker_s", "a number of seconds >= 0", true, None),
    ("kv_transfer.bandwidth_gb_s", "a number of GB/s > 0", false, None),
    ("kv_transfer.max_links", "a whole number >= 1", false, Some(1.0)),
    ("kv_transfer.latency_ms", "a number of ms >= 0", true, None),
    ("frontend.overhead_ms", "a number of ms >= 0", true, None),
    ("frontend.per_input_token_us", "a number of µs >= 0", true, Some(0.0)),
    ("jitter.sigma", "a number in [0, 1]", true, None),
];

impl Reality {
    /// An embedded profile by name (see [`REALITY_NAMES`]).
    pub fn named(name: &str) -> Result<Reality, RealityError> {
        let text = match name {
            "typical" => TYPICAL,
            "nominal" => NOMINAL,
            "dynamo-2026-01" => DYNAMO_2026_01,
            _ => return Err(RealityError::UnknownName { name: name.to_string() }),
        };
        Reality::parse(text, name)
    }

    /// An embedded profile if `name_or_path` is one of [`REALITY_NAMES`], else a TOML file.
    pub fn resolve(name_or_path: &str) -> Result<Reality, RealityError> {
        if REALITY_NAMES.contains(&name_or_path) {
            return Reality::named(name_or_path);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            Reality::from_file(path)
        } else {
            Err(RealityError::UnknownName {
                name: name_or_path.to_string(),
            })
        }
    }

    /// A profile from a TOML file.
    pub fn from_file(path: &Path) -> Result<Reality, RealityError> {
        let text = std::fs::read_to_string(path).map_err(|source| RealityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Reality::parse(&text, &path.display().to_string())
    }

    /// A profile from TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Reality, RealityError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| RealityError::Parse {
            origin: origin.to_string(),
            message: e.message().to_string(),
        })?;
        check_known_fields(&table, origin)?;
        let name = match table.get("name") {
            Some(toml::Value::String(name)) if !name.is_empty() => name.clone(),
            Some(other) => return Err(invalid(origin, "name", other, "a non-empty string")),
            None => return Err(missing(origin, "name", "a non-empty string")),
        };
        let description = match table.get("description") {
            Some(toml::Value::String(text)) => text.clone(),
            Some(other) => return Err(invalid(origin, "description", other, "a string")),
            None => String::new(),
        };
        let mut values = [0.0; FIELDS.len()];
        for (slot, (field, valid, zero_ok, default)) in values.iter_mut().zip(FIELDS) {
            *slot = number(&table, origin, field, valid, zero_ok, default)?;
        }
        Reality::from_values(name, description, values, origin)
    }

    /// A profile from the values of [`FIELDS`], in order; checks what one range cannot.
    pub(crate) fn from_values(
        name: String,
        description: String,
        values: [f64; FIELDS.len()],
        origin: &str,
    ) -> Result<Reality, RealityError> {
        let [prefill_factor, decode_factor, p2, p4, p8, d2, d4, d8, deployment_startup_s, worker_startup_s, kv_bandwidth_gb_s, kv_max_links, kv_latency_ms, frontend_overhead_ms, frontend_per_input_token_us, jitter_sigma] =
            values;
        let bad = |field: &str, value: f64, valid: &'static str| RealityError::Invalid {
            origin: origin.to_string(),
            field: field.into(),
            value: value.to_string(),
            valid,
        };
        if jitter_sigma > 1.0 {
            return Err(bad("jitter.sigma", jitter_sigma, "a number in [0, 1]"));
        }
        if kv_max_links.fract() != 0.0 || kv_max_links > 1024.0 {
            return Err(bad("kv_transfer.max_links", kv_max_links, "a whole number >= 1"));
        }
        Ok(Reality {
            name,
            description,
            prefill_factor,
            decode_factor,
            prefill_tp_factors: [p2, p4, p8],
            decode_tp_factors: [d2, d4, d8],
            deployment_startup_s,
            worker_startup_s,
            kv_bandwidth_gb_s,
            kv_max_links: kv_max_links as u32,
            kv_latency_ms,
            frontend_overhead_ms,
            frontend_per_input_token_us,
            jitter_sigma,
        })
    }

    /// The values of [`FIELDS`], in order (the inverse of [`Reality::from_values`]).
    pub(crate) fn values(&self) -> [f64; FIELDS.len()] {
        let [p2, p4, p8] = self.prefill_tp_factors;
        let [d2, d4, d8] = self.decode_tp_factors;
        [
            self.prefill_factor,
            self.decode_factor,
            p2,
            p4,
            p8,
            d2,
            d4,
            d8,
            self.deployment_startup_s,
            self.worker_startup_s,
            self.kv_bandwidth_gb_s,
            f64::from(self.kv_max_links),
            self.kv_latency_ms,
            self.frontend_overhead_ms,
            self.frontend_per_input_token_us,
            self.jitter_sigma,
        ]
    }

    /// The profile as TOML that [`Reality::parse`] reads back to the same values.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "name = {}\ndescription = {}\n",
            toml::Value::String(self.name.clone()),
            toml::Value::String(self.description.clone())
        );
        let mut section = "";
        for ((field, ..), value) in FIELDS.iter().zip(self.values()) {
            let (s, key) = field.split_once('.').unwrap_or(("", field));
            if s != section {
                out.push_str(&format!("\n[{s}]\n"));
                section = s;
            }
            out.push_str(&format!("{key} = {}\n", toml::Value::Float(value)));
        }
        out
    }

    /// The prefill factor at `tp`: TP1's times the extra factor of `tp`, interpolated linearly
    /// in log2(TP) between 1, 2, 4 and 8 and held above 8.
    pub fn prefill_factor_at(&self, tp: u32) -> f64 {
        self.prefill_factor * tp_extra(&self.prefill_tp_factors, tp)
    }

    /// The decode factor at `tp` (as [`Reality::prefill_factor_at`]).
    pub fn decode_factor_at(&self, tp: u32) -> f64 {
        self.decode_factor * tp_extra(&self.decode_tp_factors, tp)
    }

    /// GPU links one prefill (TP `prefill_tp`) to decode (TP `decode_tp`) transfer uses in
    /// parallel: every GPU holds a slice of the KV heads and moves it over its own link, so the
    /// narrower side's GPUs bound the parallelism (with a wider prefill, each decode rank receives
    /// its slices one after another, TensorRT-LLM's default; with a wider decode, each prefill
    /// rank sends to several decode ranks through its one link), capped by `max_links`.
    pub fn kv_links(&self, prefill_tp: u32, decode_tp: u32) -> u32 {
        prefill_tp.min(decode_tp).clamp(1, self.kv_max_links.max(1))
    }

    /// Milliseconds a prefill worker at `prefill_tp` spends sending `tokens` tokens of KV of
    /// `bytes_per_token` to a decode worker at `decode_tp`.
    pub fn kv_send_ms(&self, tokens: f64, bytes_per_token: f64, prefill_tp: u32, decode_tp: u32) -> f64 {
        let bandwidth = self.kv_bandwidth_gb_s * 1e9 * f64::from(self.kv_links(prefill_tp, decode_tp));
        tokens * bytes_per_token / bandwidth * 1e3
    }

    /// Frontend time of a request of `input_tokens`, ms.
    pub fn frontend_ms(&self, input_tokens: u32) -> f64 {
        self.frontend_overhead_ms + self.frontend_per_input_token_us * f64::from(input_tokens) / 1e3
    }
}

/// The extra factor at `tp` from the factors at 2, 4, 8 (1 at TP1).
fn tp_extra(at_2_4_8: &[f64; 3], tp: u32) -> f64 {
    let points = [1.0, at_2_4_8[0], at_2_4_8[1], at_2_4_8[2]];
    let x = f64::from(tp.max(1)).log2().min(3.0);
    let i = (x.floor() as usize).min(2);
    points[i] + (points[i + 1] - points[i]) * (x - i as f64)
}

/// Ranges of a reality ensemble: every field of a profile as a fixed number or `[low, high]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RealityRanges {
    /// Name given to the drawn profiles (`<name>-<k>`).
    pub name: String,
    /// Where the ranges come from.
    pub description: String,
    /// `(low, high)` per field of `FIELDS`, in order (low = high: fixed).
    pub ranges: Vec<(f64, f64)>,
}

impl RealityRanges {
    /// The shipped ranges (`core/data/reality/ranges.toml`).
    pub fn embedded() -> RealityRanges {
        RealityRanges::parse(DEFAULT_RANGES, "ranges.toml").expect("the shipped ranges parse")
    }

    /// Ranges from a TOML file.
    pub fn from_file(path: &Path) -> Result<RealityRanges, RealityError> {
        let text = std::fs::read_to_string(path).map_err(|source| RealityError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        RealityRanges::parse(&text, &path.display().to_string())
    }

    /// Ranges from TOML text: a reality profile whose numbers may be `[low, high]`.
    pub fn parse(text: &str, origin: &str) -> Result<RealityRanges, RealityError> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| RealityError::Parse {
            origin: origin.to_string(),
            message: e.message().to_string(),
        })?;
        check_known_fields(&table, origin)?;
        let mut ranges = Vec::new();
        for (field, valid, zero_ok, default) in FIELDS {
            let (section, key) = field.split_once('.').unwrap_or(("", field));
            let slot = table
                .get_mut(section)
                .and_then(|s| s.as_table_mut())
                .and_then(|s| s.get_mut(key));
            let range = match slot {
                Some(toml::Value::Array(pair)) => {
                    let bounds: Vec<f64> = pair
                        .iter()
                        .filter_map(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
                        .collect();
                    let ok = pair.len() == 2 && bounds.len() == 2 && bounds[0] <= bounds[1];
                    if !ok {
                        return Err(invalid(
                            origin,
                            field,
                            &toml::Value::Array(pair.clone()),
                            "a number or [low, high] with low <= high",
                        ));
                    }
                    // Each bound must be a valid value on its own.
                    for bound in &bounds {
                        let one = toml::Table::from_iter([(key.to_string(), toml::Value::Float(*bound))]);
                        let wrapped = toml::Table::from_iter([(section.to_string(), toml::Value::Table(one))]);
                        number(&wrapped, origin, field, valid, zero_ok, None)?;
                    }
                    (bounds[0], bounds[1])
                }
                _ => {
                    let x = number(&table, origin, field, valid, zero_ok, default)?;
                    (x, x)
                }
            };
            ranges.push(range);
        }
        let text_of = |key: &str| table.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let name = Some(text_of("name"))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "ensemble".into());
        Ok(RealityRanges {
            name,
            description: text_of("description"),
            ranges,
        })
    }

    /// `k` profiles drawn uniformly within the ranges, the same for the same `seed`. A whole
    /// number field (`kv_transfer.max_links`) is rounded.
    pub fn draw(&self, k: u32, seed: u64) -> Result<Vec<Reality>, RealityError> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5265_616c_6974_7953);
        (1..=k)
            .map(|i| {
                let mut values = [0.0; FIELDS.len()];
                for (slot, ((field, ..), &(low, high))) in values.iter_mut().zip(FIELDS.iter().zip(&self.ranges)) {
                    let u: f64 = rng.random();
                    *slot = low + (high - low) * u;
                    if *field == "kv_transfer.max_links" {
                        *slot = slot.round();
                    }
                }
                let name = format!("{}-{i}", self.name);
                let description = format!("draw {i} of {k} (seed {seed}) from: {}", self.description);
                Reality::from_values(name.clone(), description, values, &name)
            })
            .collect()
    }

    /// The profile at the middle of every range.
    pub fn middle(&self) -> Result<Reality, RealityError> {
        let mut values = [0.0; FIELDS.len()];
        for (slot, ((field, ..), &(low, high))) in values.iter_mut().zip(FIELDS.iter().zip(&self.ranges)) {
            *slot = (low + high) / 2.0;
            if *field == "kv_transfer.max_links" {
                *slot = slot.round();
            }
        }
        Reality::from_values(
            format!("{}-middle", self.name),
            self.description.clone(),
            values,
            &self.name,
        )
    }
}

fn check_known_fields(table: &toml::Table, origin: &str) -> Result<(), RealityError> {
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) => {
                for inner_key in inner.keys() {
                    let field = format!("{key}.{inner_key}");
                    if !FIELDS.iter().any(|f| f.0 == field) {
                        return Err(RealityError::UnknownField {
                            origin: origin.to_string(),
                            field,
                        });
                    }
                }
            }
            _ if key == "name" || key == "description" => {}
            _ => {
                return Err(RealityError::UnknownField {
                    origin: origin.to_string(),
                    field: key.clone(),
                })
            }
        }
    }
    Ok(())
}

fn number(
    table: &toml::Table,
    origin: &str,
    field: &str,
    valid: &'static str,
    zero_ok: bool,
    default: Option<f64>,
) -> Result<f64, RealityError> {
    let (section, key) = field.split_once('.').unwrap_or(("", field));
    let value = table.get(section).and_then(|s| s.as_table()).and_then(|s| s.get(key));
    let value = match (value, default) {
        (Some(value), _) => value,
        (None, Some(default)) => return Ok(default),
        (None, None) => return Err(missing(origin, field, valid)),
    };
    let number = match value {
        toml::Value::Float(x) => *x,
        toml::Value::Integer(i) => *i as f64,
        other => return Err(invalid(origin, field, other, valid)),
    };
    let in_range = number.is_finite() && if zero_ok { number >= 0.0 } else { number > 0.0 };
    if in_range {
        Ok(number)
    } else {
        Err(invalid(origin, field, value, valid))
    }
}

fn missing(origin: &str, field: &str, valid: &'static str) -> RealityError {
    RealityError::Missing {
        origin: origin.to_string(),
        field: field.to_string(),
        valid,
    }
}

fn invalid(origin: &str, field: &str, value: &toml::Value, valid: &'static str) -> RealityError {
    RealityError::Invalid {
        origin: origin.to_string(),
        field: field.to_string(),
        value: value.to_string(),
        valid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_profiles_parse() {
        for name in REALITY_NAMES {
            let reality = Reality::named(name).unwrap();
            assert_eq!(reality.name, name);
        }
        let error = Reality::named("real").unwrap_err().to_string();
        assert!(error.contains("typical, nominal, dynamo-2026-01"), "{error}");
    }

    #[test]
    fn missing_and_negative_parameters_name_the_field() {
        let full = NOMINAL;
        let without = full.replace("decode = ", "# decode = ");
        let error = Reality::parse(&without, "x.toml").unwrap_err().to_string();
        assert!(error.contains("missing `calibration.decode`"), "{error}");
        let negative = full.replace("latency_ms = ", "latency_ms = -1 #");
        let error = Reality::parse(&negative, "x.toml").unwrap_err().to_string();
        assert!(
            error.contains("`kv_transfer.latency_ms` = -1") && error.contains(">= 0"),
            "{error}"
        );
        let zero = full.replace("bandwidth_gb_s = ", "bandwidth_gb_s = 0 #");
        let error = Reality::parse(&zero, "x.toml").unwrap_err().to_string();
        assert!(error.contains("> 0"), "{error}");
        let text = full.replace("sigma = ", "sigma = \"big\" #");
        let error = Reality::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(error.contains("`jitter.sigma`"), "{error}");
    }

    #[test]
    fn unknown_fields_are_errors() {
        let text = format!("{NOMINAL}\n[extra]\nfoo = 1\n");
        let error = Reality::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(error.contains("unknown field `extra.foo`"), "{error}");
    }

    #[test]
    fn resolve_takes_a_name_or_a_file() {
        assert_eq!(Reality::resolve("nominal").unwrap().name, "nominal");
        let path = std::env::temp_dir().join(format!("profcmp-reality-{}.toml", std::process::id()));
        std::fs::write(&path, NOMINAL.replace("name = \"nominal\"", "name = \"mine\"")).unwrap();
        assert_eq!(Reality::resolve(path.to_str().unwrap()).unwrap().name, "mine");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            Reality::resolve("nope"),
            Err(RealityError::UnknownName { .. })
        ));
    }

    #[test]
    fn tp_factors_interpolate_in_log2_tp_and_hold_above_8() {
        let mut r = Reality::named("nominal").unwrap();
        r.prefill_factor = 2.0;
        r.prefill_tp_factors = [1.1, 1.2, 1.6];
        let at = |tp| r.prefill_factor_at(tp) / 2.0;
        assert!((at(1) - 1.0).abs() < 1e-12 && (at(2) - 1.1).abs() < 1e-12);
        assert!((at(4) - 1.2).abs() < 1e-12 && (at(8) - 1.6).abs() < 1e-12);
        assert!((at(16) - 1.6).abs() < 1e-12);
        let three = 1.1 + 0.1 * (3f64.log2() - 1.0);
        assert!((at(3) - three).abs() < 1e-12);
        assert_eq!(r.decode_factor_at(8), r.decode_factor);
    }

    #[test]
    fn kv_transfer_runs_over_the_narrower_sides_links() {
        let r = Reality::named("typical").unwrap();
        let one = r.kv_send_ms(2048.0, 262_144.0, 1, 1);
        assert!((one - 2048.0 * 262_144.0 / 30e9 * 1e3).abs() < 1e-9, "{one}");
        // A wider prefill alone does not help: the TP1 decode rank receives every slice.
        assert_eq!(r.kv_send_ms(2048.0, 262_144.0, 4, 1), one);
        assert_eq!(r.kv_send_ms(2048.0, 262_144.0, 1, 8), one);
        // Both sides at TP4: four links in parallel.
        assert!((r.kv_send_ms(2048.0, 262_144.0, 4, 4) - one / 4.0).abs() < 1e-9);
        // A path through the host does not scale.
        let tcp = Reality::named("dynamo-2026-01").unwrap();
        assert_eq!(tcp.kv_links(8, 8), 1);
    }

    #[test]
    fn profiles_round_trip_through_toml_and_old_files_keep_their_meaning() {
        for name in REALITY_NAMES {
            let r = Reality::named(name).unwrap();
            assert_eq!(Reality::parse(&r.to_toml(), name).unwrap(), r, "{name}");
        }
        let old: String = NOMINAL
            .lines()
            .filter(|l| {
                !["_tp2", "_tp4", "_tp8", "max_links", "per_input_token_us"]
                    .iter()
                    .any(|k| l.contains(k))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let r = Reality::parse(&old, "old.toml").unwrap();
        assert_eq!(
            (r.prefill_tp_factors, r.kv_max_links, r.frontend_per_input_token_us),
            ([1.0; 3], 1, 0.0)
        );
        let text = NOMINAL.replace("max_links = 8", "max_links = 1.5");
        assert!(Reality::parse(&text, "x")
            .unwrap_err()
            .to_string()
            .contains("whole number"));
    }

    #[test]
    fn ensembles_are_seeded_draws_within_the_ranges() {
        let ranges = RealityRanges::embedded();
        let a = ranges.draw(5, 42).unwrap();
        assert_eq!(a, ranges.draw(5, 42).unwrap());
        assert_ne!(a, ranges.draw(5, 43).unwrap());
        assert_eq!(a[0].name, "ensemble-1");
        for r in &a {
            for (value, (low, high)) in r.values().iter().zip(&ranges.ranges) {
                assert!(low <= value && value <= high, "{r:?}");
            }
        }
        assert!(a.windows(2).all(|w| w[0].prefill_factor != w[1].prefill_factor));
        // The default profile is a plausible draw: inside every range.
        let typical = Reality::named("typical").unwrap();
        for ((field, ..), (value, (low, high))) in FIELDS.iter().zip(typical.values().iter().zip(&ranges.ranges)) {
            assert!(
                low <= value && value <= high,
                "typical {field} = {value} outside [{low}, {high}]"
            );
        }
        let middle = ranges.middle().unwrap();
        assert!((middle.prefill_factor - typical.prefill_factor).abs() < 1e-12);
        let bad = DEFAULT_RANGES.replace("prefill = [1.0, 1.3]", "prefill = [1.3, 1.0]");
        assert!(RealityRanges::parse(&bad, "r")
            .unwrap_err()
            .to_string()
            .contains("low <= high"));
        let bad = DEFAULT_RANGES.replace("prefill = [1.0, 1.3]", "prefill = [0.0, 1.3]");
        assert!(RealityRanges::parse(&bad, "r").unwrap_err().to_string().contains("> 0"));
    }

    #[test]
    fn from_file_reports_the_path() {
        let error = Reality::from_file(Path::new("/nonexistent/r.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/r.toml"), "{error}");
    }
}
