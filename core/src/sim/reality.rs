//! Reality profiles: how a simulated cluster departs from the estimator (TOML data files).
//!
//! A profile holds calibration factors on the estimator's step times, deployment and worker
//! startup times, the KV-transfer path, a frontend overhead and seeded jitter. Two ship with
//! profcmp (`core/data/reality/`): `nominal` (the estimator as is) and `dynamo-2026-01`
//! (calibrated on NVIDIA's January 2026 Online-ALL validation run). Each file documents what its
//! numbers stand for.

use std::path::{Path, PathBuf};

/// Names of the embedded profiles.
pub const REALITY_NAMES: [&str; 2] = ["nominal", "dynamo-2026-01"];

const NOMINAL: &str = include_str!("../../data/reality/nominal.toml");
const DYNAMO_2026_01: &str = include_str!("../../data/reality/dynamo-2026-01.toml");

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
    /// Multiplies the estimator's prefill pass latency.
    pub prefill_factor: f64,
    /// Multiplies the estimator's decode step latency.
    pub decode_factor: f64,
    /// Seconds from a deploy request until the whole graph serves.
    pub deployment_startup_s: f64,
    /// Seconds from a planner's scale-up until a new worker serves.
    pub worker_startup_s: f64,
    /// Bandwidth of the KV path from a prefill worker, decimal GB/s. The sending worker is
    /// busy for `kv bytes / bandwidth` per request (the link is serial per prefill worker).
    pub kv_bandwidth_gb_s: f64,
    /// Fixed delay of every KV handoff after the bytes are sent, ms (parallel across requests).
    pub kv_latency_ms: f64,
    /// Frontend time added to every request's TTFT and latency, ms.
    pub frontend_overhead_ms: f64,
    /// Sigma of the mean-one lognormal factor applied to every forward pass.
    pub jitter_sigma: f64,
}

/// Every numeric field: (dotted name, what is valid, whether zero is allowed).
const FIELDS: [(&str, &str, bool); 8] = [
    ("calibration.prefill", "a number > 0", false),
    ("calibration.decode", "a number > 0", false),
    ("startup.deployment_s", "a number of seconds >= 0", true),
    ("startup.worker_s", "a number of seconds >= 0", true),
    ("kv_transfer.bandwidth_gb_s", "a number of GB/s > 0", false),
    ("kv_transfer.latency_ms", "a number of ms >= 0", true),
    ("frontend.overhead_ms", "a number of ms >= 0", true),
    ("jitter.sigma", "a number in [0, 1]", true),
];

impl Reality {
    /// An embedded profile by name (see [`REALITY_NAMES`]).
    pub fn named(name: &str) -> Result<Reality, RealityError> {
        let text = match name {
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
        for (slot, (field, valid, zero_ok)) in values.iter_mut().zip(FIELDS) {
            *slot = number(&table, origin, field, valid, zero_ok)?;
        }
        let [prefill_factor, decode_factor, deployment_startup_s, worker_startup_s, kv_bandwidth_gb_s, kv_latency_ms, frontend_overhead_ms, jitter_sigma] =
            values;
        if jitter_sigma > 1.0 {
            return Err(RealityError::Invalid {
                origin: origin.to_string(),
                field: "jitter.sigma".into(),
                value: jitter_sigma.to_string(),
                valid: "a number in [0, 1]",
            });
        }
        Ok(Reality {
            name,
            description,
            prefill_factor,
            decode_factor,
            deployment_startup_s,
            worker_startup_s,
            kv_bandwidth_gb_s,
            kv_latency_ms,
            frontend_overhead_ms,
            jitter_sigma,
        })
    }

    /// Milliseconds a prefill worker spends sending `tokens` tokens of KV of `bytes_per_token`.
    pub fn kv_send_ms(&self, tokens: f64, bytes_per_token: f64) -> f64 {
        tokens * bytes_per_token / (self.kv_bandwidth_gb_s * 1e9) * 1e3
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
) -> Result<f64, RealityError> {
    let (section, key) = field.split_once('.').unwrap_or(("", field));
    let value = table
        .get(section)
        .and_then(|s| s.as_table())
        .and_then(|s| s.get(key))
        .ok_or_else(|| missing(origin, field, valid))?;
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
        assert!(error.contains("nominal, dynamo-2026-01"), "{error}");
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
    fn from_file_reports_the_path() {
        let error = Reality::from_file(Path::new("/nonexistent/r.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/r.toml"), "{error}");
    }
}
