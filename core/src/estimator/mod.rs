//! The AI Configurator (AIC) estimator: prefill and decode-step latency of a dense model on a GPU system.
//!
//! Latencies come from NVIDIA's measured per-operation perf database, composed by the
//! `aisimulate-core` engine exactly as aiconfigurator-core 0.12.0 does: [`Estimator::prefill_ms`]
//! equals AIC's `predict_prefill_latency(batch, isl, 0)` and [`Estimator::decode_step_ms`] its
//! `predict_decode_latency(batch, context, 2)`. The engine spec is built from the model's
//! Hugging Face config (see `spec.rs`); the database is read from the systems directory (by
//! default the subset shipped in `core/data/aic`, see its NOTICE.md).
//!
//! # KV capacity
//! A worker of `tp` GPUs has `M = mem_capacity * tp` bytes. AIC's per-GPU reserve `other_mem`
//! (3.5 GiB in the system yamls: CUDA context, activations, NCCL buffers) is kept aside along
//! with the bf16 weights `W`. Then, as each engine sizes its cache by default:
//! - trtllm (`free_gpu_memory_fraction` = 0.9 of the free memory): `KV = 0.9 * (M - W - R)`;
//! - vllm / sglang (`gpu_memory_utilization` = 0.9 of the total): `KV = 0.9 * M - W - R`;
//!
//! with `R = other_mem * tp`. A model "does not fit" when `KV` cannot hold [`MIN_KV_TOKENS`].
//!
//! # Loading
//! [`Estimator::load`] takes milliseconds; the first queries on a (systems root, system,
//! backend, version) parse its parquet tables (about 1.5 s in a debug build). The parsed tables
//! are shared by every estimator on that database, and the first engine built on it is kept
//! for the life of the process so that they stay parsed.

mod model;
mod spec;
mod system;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use aisimulate_core::perfmodel::engine::Engine;

pub use model::ModelInfo;
pub use system::{default_systems_root, list_systems, DEFAULT_DATA_ROOT};

/// Backends the perf database knows.
pub const BACKENDS: [&str; 3] = ["trtllm", "vllm", "sglang"];
/// Fraction of GPU memory an engine lets its KV cache use (see the module docs).
pub const KV_MEMORY_FRACTION: f64 = 0.9;
/// The smallest KV cache (in tokens) a worker must hold to count as fitting.
pub const MIN_KV_TOKENS: u64 = 2048;
/// Concurrent sequences per worker unless the KV cache is smaller: vLLM's classic
/// `max_num_seqs` default, also a common `max_batch_size` for trtllm and sglang deployments.
pub const DEFAULT_MAX_NUM_SEQS: u32 = 256;

/// Why an estimator cannot be built or queried.
#[derive(Debug, thiserror::Error)]
pub enum EstimatorError {
    #[error("unknown model {id}; known models: {} (or give a path to a config.json)", known.join(", "))]
    UnknownModel { id: String, known: Vec<String> },
    #[error("unknown system {system}; known systems: {}", known.join(", "))]
    UnknownSystem { system: String, known: Vec<String> },
    #[error("unknown backend {backend}; valid backends: {}", BACKENDS.join(", "))]
    UnknownBackend { backend: String },
    #[error(
        "tp {tp} must divide the {num_kv_heads} kv heads and the attention heads; valid tp: {}",
        join(valid)
    )]
    BadTp {
        tp: u32,
        num_kv_heads: u32,
        valid: Vec<u32>,
    },
    #[error("{model} does not fit on {system} at tp {tp}: it needs {need_gb:.1} GB, the worker has {have_gb:.1} GB; use a larger tp")]
    DoesNotFit {
        model: String,
        system: String,
        tp: u32,
        need_gb: f64,
        have_gb: f64,
    },
    #[error(
        "the perf database at {} has no {backend} {version} data for {system}; the shipped subset covers trtllm only, \
         pass --aic-systems-root with a full aiconfigurator-core 0.12.0 systems directory", root.display()
    )]
    MissingData {
        system: String,
        backend: String,
        version: String,
        root: PathBuf,
    },
    #[error("invalid query: {0}")]
    BadQuery(String),
    #[error("perf database: {0}")]
    Database(String),
    #[error("model config: {0}")]
    Config(String),
}

/// One model on one system with one backend at one tensor-parallel size.
pub struct Estimator {
    engine: Arc<Engine>,
    system: String,
    backend: String,
    version: String,
    tp: u32,
    kv_capacity_tokens: u64,
    max_batch: u32,
}

impl Estimator {
    /// Builds the estimator; the perf database of (systems root, system, backend, version) is
    /// loaded once per process and shared by every estimator on it.
    pub fn load(
        model: &ModelInfo,
        system: &str,
        backend: &str,
        tp: u32,
        systems_root: Option<&Path>,
    ) -> Result<Estimator, EstimatorError> {
        check_backend(backend)?;
        if tp == 0 || !model.valid_tps().contains(&tp) {
            return Err(EstimatorError::BadTp {
                tp,
                num_kv_heads: model.num_kv_heads,
                valid: model.valid_tps(),
            });
        }
        let target = Target::resolve(system, backend, systems_root)?;
        let kv_capacity_tokens = kv_capacity(model, &target.facts, backend, tp)?;
        let lanes = lane_order(backend, &target.version, target.facts.sm_version);
        let spec = spec::engine_spec(model, system, backend, &target.version, tp, &lanes)?;
        let engine = build_engine(&spec, &target)?;
        Ok(Estimator {
            engine,
            system: system.to_string(),
            backend: backend.to_string(),
            version: target.version,
            tp,
            kv_capacity_tokens,
            max_batch: kv_capacity_tokens.min(u64::from(DEFAULT_MAX_NUM_SEQS)).max(1) as u32,
        })
    }

    /// Latency of one prefill of `batch` requests of `isl` tokens each, no cached prefix (ms).
    pub fn prefill_ms(&self, batch: u32, isl: u32) -> Result<f64, EstimatorError> {
        check_shape(batch, isl)?;
        self.engine.predict_prefill_latency(batch, isl, 0).map_err(database)
    }

    /// Latency of one decode step of `batch` requests whose context holds `context` tokens (ms).
    pub fn decode_step_ms(&self, batch: u32, context: u32) -> Result<f64, EstimatorError> {
        check_shape(batch, context.saturating_add(1))?;
        self.engine.predict_decode_latency(batch, context, 2).map_err(database)
    }

    /// KV-cache tokens one worker holds (see the module docs for the memory reserve).
    pub fn kv_capacity_tokens(&self) -> u64 {
        self.kv_capacity_tokens
    }

    /// Most sequences a worker runs at once: `min(DEFAULT_MAX_NUM_SEQS, kv_capacity_tokens)`.
    pub fn max_batch(&self) -> u32 {
        self.max_batch
    }

    pub fn tp(&self) -> u32 {
        self.tp
    }

    pub fn system(&self) -> &str {
        &self.system
    }

    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The backend version of the perf data used (the `current` slot of `query_versions.yaml`).
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// The estimators of one (model, system, backend), one per TP, loaded on first use.
pub struct EstimatorSet {
    model: ModelInfo,
    system: String,
    backend: String,
    systems_root: Option<PathBuf>,
    loaded: Mutex<BTreeMap<u32, Arc<Estimator>>>,
}

impl EstimatorSet {
    /// Checks the system, backend and data now; estimators load on [`EstimatorSet::get`].
    pub fn new(
        model: ModelInfo,
        system: &str,
        backend: &str,
        systems_root: Option<PathBuf>,
    ) -> Result<Self, EstimatorError> {
        check_backend(backend)?;
        Target::resolve(system, backend, systems_root.as_deref())?;
        Ok(EstimatorSet {
            model,
            system: system.to_string(),
            backend: backend.to_string(),
            systems_root,
            loaded: Mutex::new(BTreeMap::new()),
        })
    }

    /// The estimator at `tp`, loading it the first time.
    pub fn get(&self, tp: u32) -> Result<Arc<Estimator>, EstimatorError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(estimator) = loaded.get(&tp) {
            return Ok(Arc::clone(estimator));
        }
        let estimator = Arc::new(Estimator::load(
            &self.model,
            &self.system,
            &self.backend,
            tp,
            self.systems_root.as_deref(),
        )?);
        loaded.insert(tp, Arc::clone(&estimator));
        Ok(estimator)
    }

    pub fn model(&self) -> &ModelInfo {
        &self.model
    }

    pub fn system(&self) -> &str {
        &self.system
    }

    pub fn backend(&self) -> &str {
        &self.backend
    }
}

/// A system, backend and perf-data version found in a systems directory.
struct Target {
    root: PathBuf,
    facts: system::SystemFacts,
    version: String,
}

impl Target {
    fn resolve(system: &str, backend: &str, systems_root: Option<&Path>) -> Result<Target, EstimatorError> {
        let root = system::resolve_systems_root(systems_root)?;
        let facts = system::SystemFacts::load(&root, system)?;
        let version = system::current_version(&root, system, backend)?;
        if !facts.has_data(backend, &version) {
            return Err(EstimatorError::MissingData {
                system: system.to_string(),
                backend: backend.to_string(),
                version,
                root,
            });
        }
        Ok(Target { root, facts, version })
    }
}

/// SHA-256 of the perf-database files an estimator for `system` reads: the system's YAML,
/// `query_versions.yaml` and every file under its data directory, so results measured with another
/// database are not reused. Reads the whole directory (a few MB for the shipped subset).
pub fn perf_db_digest(system: &str, systems_root: Option<&Path>) -> Result<String, EstimatorError> {
    use sha2::{Digest, Sha256};
    let root = system::resolve_systems_root(systems_root)?;
    let facts = system::SystemFacts::load(&root, system)?;
    let mut files = vec![root.join(format!("{system}.yaml")), root.join("query_versions.yaml")];
    let mut dirs = vec![facts.data_root.clone()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let relative = file.strip_prefix(&root).unwrap_or(&file);
        hash.update(relative.to_string_lossy().as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn check_backend(backend: &str) -> Result<(), EstimatorError> {
    if BACKENDS.contains(&backend) {
        Ok(())
    } else {
        Err(EstimatorError::UnknownBackend {
            backend: backend.to_string(),
        })
    }
}

fn check_shape(batch: u32, tokens: u32) -> Result<(), EstimatorError> {
    if batch == 0 || tokens == 0 {
        return Err(EstimatorError::BadQuery(format!(
            "batch ({batch}) and sequence length ({tokens}) must be positive"
        )));
    }
    if u64::from(batch) * u64::from(tokens) > u64::from(u32::MAX) {
        return Err(EstimatorError::BadQuery(format!(
            "batch {batch} x {tokens} tokens is too large"
        )));
    }
    Ok(())
}

/// KV tokens a worker holds, or `DoesNotFit` (see the module docs).
fn kv_capacity(model: &ModelInfo, facts: &system::SystemFacts, backend: &str, tp: u32) -> Result<u64, EstimatorError> {
    let f = KV_MEMORY_FRACTION;
    let have = facts.mem_capacity as f64 * f64::from(tp);
    let non_kv = model.weight_bytes() as f64 + facts.other_mem as f64 * f64::from(tp);
    let per_token = model.kv_bytes_per_token() as f64;
    let min_kv = MIN_KV_TOKENS as f64 * per_token;
    let (budget, need) = if backend == "trtllm" {
        ((have - non_kv) * f, non_kv + min_kv / f)
    } else {
        (have * f - non_kv, (non_kv + min_kv) / f)
    };
    if need > have {
        return Err(EstimatorError::DoesNotFit {
            model: model.id.clone(),
            system: facts.name.clone(),
            tp,
            need_gb: need / 1e9,
            have_gb: have / 1e9,
        });
    }
    Ok((budget / per_token).floor() as u64)
}

/// Attention kernel lanes to try first: the framework default of AIC's packaged
/// `attention_lane_defaults.yaml` (sglang only), then `default`; aisimulate falls back to any
/// other lane of the table after these. trtllm resolves to `["default"]`, as in AIC 0.12. AIC
/// also density-ranks the other lanes of the table; on h200_sxm and h100_sxm this shorter order
/// gives the same latencies for vllm and sglang (see `full_database_reference_points`).
fn lane_order(backend: &str, version: &str, sm_version: u32) -> Vec<String> {
    let head = match (backend, version, sm_version) {
        ("sglang", "0.5.14", 90) => Some("fa3"),
        ("sglang", "0.5.14", 100 | 103) => Some("triton"),
        ("sglang", "0.5.14", 120) => Some("flashinfer"),
        _ => None,
    };
    head.into_iter().chain(["default"]).map(String::from).collect()
}

/// Builds the engine. aisimulate shares parsed perf tables between engines of one database
/// identity only while one of them lives, so the first engine of each identity is kept here.
fn build_engine(
    spec: &aisimulate_core::perfmodel::engine::spec::EngineSpec,
    target: &Target,
) -> Result<Arc<Engine>, EstimatorError> {
    type Key = (PathBuf, String, String, String);
    static ANCHORS: OnceLock<Mutex<HashMap<Key, Arc<Engine>>>> = OnceLock::new();
    let bytes = spec.to_bincode().map_err(database)?;
    let engine = Arc::new(Engine::from_spec_bytes(&bytes, &target.root).map_err(database)?);
    let key = (
        target.root.clone(),
        spec.engine.system_name.clone(),
        format!("{:?}", spec.engine.backend),
        target.version.clone(),
    );
    let anchors = ANCHORS.get_or_init(Default::default);
    let mut anchors = anchors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    anchors.entry(key).or_insert_with(|| Arc::clone(&engine));
    Ok(engine)
}

fn database(e: aisimulate_core::perfmodel::AicError) -> EstimatorError {
    EstimatorError::Database(e.to_string())
}

fn join(values: &[u32]) -> String {
    values.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}
