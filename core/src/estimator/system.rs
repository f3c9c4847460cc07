//! The AIC systems directory: where it is, which systems it has, their GPU facts and versions.

use std::path::{Path, PathBuf};

use super::EstimatorError;

/// Root of the data shipped with profcmp (AIC NOTICE, model configs, perf-database subset).
pub const DEFAULT_DATA_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/aic");

/// The systems directory used when none is given: `DEFAULT_DATA_ROOT/systems`.
pub fn default_systems_root() -> PathBuf {
    Path::new(DEFAULT_DATA_ROOT).join("systems")
}

/// Finds the systems directory (the one holding `<system>.yaml` and `data/`) under `given`:
/// `given` itself, `given/systems` or `given/aiconfigurator_core/systems`, so the root of an
/// extracted aiconfigurator-core wheel works as well as its `systems/` folder.
pub fn resolve_systems_root(given: Option<&Path>) -> Result<PathBuf, EstimatorError> {
    let Some(given) = given else {
        return Ok(default_systems_root());
    };
    let candidates = [
        given.to_path_buf(),
        given.join("systems"),
        given.join("aiconfigurator_core").join("systems"),
    ];
    candidates
        .into_iter()
        .find(|dir| dir.join("query_versions.yaml").is_file() || !list_systems(dir).is_empty())
        .ok_or_else(|| {
            EstimatorError::Database(format!(
                "{} is not an aic systems directory (expected <system>.yaml files, query_versions.yaml and data/)",
                given.display()
            ))
        })
}

/// Names of the systems described in `root` (every `<name>.yaml` with a `data_dir:` key), sorted.
pub fn list_systems(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let path = e.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".yaml")?
                .to_string();
            let text = std::fs::read_to_string(&path).ok()?;
            text.lines()
                .any(|l| l.starts_with("data_dir:"))
                .then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// The few facts of `<system>.yaml` the estimator needs.
#[derive(Debug, Clone)]
pub struct SystemFacts {
    pub name: String,
    /// `root.join(data_dir)`.
    pub data_root: PathBuf,
    /// Bytes of HBM per GPU.
    pub mem_capacity: u64,
    /// Bytes per GPU that AIC keeps out of the KV budget (CUDA context, activations, ...).
    pub other_mem: u64,
    pub sm_version: u32,
}

impl SystemFacts {
    /// Reads `root/<system>.yaml`; an unknown system lists the known ones.
    pub fn load(root: &Path, system: &str) -> Result<SystemFacts, EstimatorError> {
        let path = root.join(format!("{system}.yaml"));
        let known = list_systems(root);
        if system.contains(['/', '\\']) || !known.iter().any(|k| k == system) {
            return Err(EstimatorError::UnknownSystem {
                system: system.to_string(),
                known,
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            EstimatorError::Database(format!("cannot read {}: {e}", path.display()))
        })?;
        let value = |key: &str| scalar(&text, key);
        let number = |key: &str| -> Result<u64, EstimatorError> {
            value(key)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| v as u64)
                .ok_or_else(|| {
                    EstimatorError::Database(format!("{} lacks a numeric {key}", path.display()))
                })
        };
        let data_dir = value("data_dir").ok_or_else(|| {
            EstimatorError::Database(format!("{} lacks data_dir", path.display()))
        })?;
        Ok(SystemFacts {
            name: system.to_string(),
            data_root: root.join(data_dir),
            mem_capacity: number("mem_capacity")?,
            other_mem: number("other_mem").unwrap_or(DEFAULT_OTHER_MEM),
            sm_version: number("sm_version").unwrap_or(0) as u32,
        })
    }

    /// True when the perf data has `backend`/`version` tables (family-first or legacy layout).
    pub fn has_data(&self, backend: &str, version: &str) -> bool {
        self.data_root.join(backend).join(version).is_dir()
            || ["gemm", "attention"].iter().any(|family| {
                self.data_root
                    .join(family)
                    .join(backend)
                    .join(version)
                    .is_dir()
            })
    }
}

/// The `current` version of `backend` on `system` in `root/query_versions.yaml` (system
/// overrides first, then defaults), as aiconfigurator resolves an omitted version.
pub fn current_version(root: &Path, system: &str, backend: &str) -> Result<String, EstimatorError> {
    let path = root.join("query_versions.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| EstimatorError::Database(format!("cannot read {}: {e}", path.display())))?;
    let mut section = "";
    let mut override_system = "";
    let mut found_default = None;
    let mut found_override = None;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let line = line.trim();
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        match indent {
            0 => section = key,
            2 if section == "overrides" => override_system = key,
            2 if section == "defaults" && key == backend => found_default = current_of(rest),
            4 if section == "overrides" && override_system == system && key == backend => {
                found_override = current_of(rest)
            }
            _ => {}
        }
    }
    found_override.or(found_default).ok_or_else(|| {
        EstimatorError::Database(format!(
            "{} names no current {backend} version for {system}",
            path.display()
        ))
    })
}

/// Per-GPU reserve when a system yaml has no `misc.other_mem` (AIC's value, 3.5 GiB).
const DEFAULT_OTHER_MEM: u64 = 3_758_096_384;

/// The first `key: value` line anywhere in `text` (comments and quotes stripped).
fn scalar<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let value = line.strip_prefix(key)?.strip_prefix(':')?.trim();
        let value = value.trim_matches(['\'', '"']);
        (!value.is_empty()).then_some(value)
    })
}

/// `current` of a flow mapping like `{current: "1.3.0rc20", previous: null}`.
fn current_of(mapping: &str) -> Option<String> {
    let inner = mapping.trim().strip_prefix('{')?.strip_suffix('}')?;
    inner.split(',').find_map(|pair| {
        let (k, v) = pair.split_once(':')?;
        let v = v.trim().trim_matches(['\'', '"']);
        (k.trim() == "current" && !v.is_empty() && v != "null").then(|| v.to_string())
    })
}
