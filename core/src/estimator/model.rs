//! Model facts (layers, heads, sizes, parameter count) read from a Hugging Face `config.json`.

use std::path::Path;

use serde_json::Value;

use super::EstimatorError;

/// The shape of a dense decoder-only model, as the estimator needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Hugging Face id, e.g. `Qwen/Qwen3-32B`.
    pub id: String,
    pub num_layers: u32,
    pub hidden_size: u32,
    pub num_attention_heads: u32,
    pub num_kv_heads: u32,
    pub head_dim: u32,
    pub intermediate_size: u32,
    pub vocab_size: u32,
    /// Total parameter count (embeddings, all layers, norms, LM head unless tied).
    pub params: f64,
    /// Per-head RMSNorm on Q and K (Qwen3); adds a small cost to attention.
    pub qk_norm: bool,
    /// Context window, tokens (`max_position_embeddings`), when the config says.
    pub max_context_tokens: Option<u32>,
}

impl ModelInfo {
    /// A model whose config ships with profcmp (see [`ModelInfo::known_ids`]); a few aliases
    /// (`meta-llama/Llama-3.1-8B`, `meta-llama/Llama-3.1-70B`) are accepted too.
    pub fn known(id: &str) -> Result<ModelInfo, EstimatorError> {
        let canonical = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(id))
            .map(|(_, c)| *c)
            .unwrap_or(id);
        let (id, text) = KNOWN
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(canonical))
            .ok_or_else(|| EstimatorError::UnknownModel {
                id: id.to_string(),
                known: Self::known_ids().iter().map(|s| s.to_string()).collect(),
            })?;
        Self::from_config_json(id, text)
    }

    /// Parses a Hugging Face `config.json` of a dense decoder (Llama, Qwen2, Qwen3; bf16).
    pub fn from_config_json(id: &str, text: &str) -> Result<ModelInfo, EstimatorError> {
        let config: Value = serde_json::from_str(text)
            .map_err(|e| EstimatorError::Config(format!("config.json of {id} is not valid json: {e}")))?;
        let arch = config
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
            .ok_or_else(|| EstimatorError::Config(format!("config.json of {id} has no architectures")))?;
        if !SUPPORTED_ARCHITECTURES.contains(&arch) {
            return Err(EstimatorError::Config(format!(
                "architecture {arch} of {id} is not supported; supported dense decoders: {}",
                SUPPORTED_ARCHITECTURES.join(", ")
            )));
        }
        if config.get("quantization_config").is_some() {
            return Err(EstimatorError::Config(format!(
                "{id} is a quantized checkpoint; only bf16 models are supported"
            )));
        }
        let field = |name: &str| -> Result<Option<u32>, EstimatorError> {
            match config.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .filter(|v| *v > 0)
                    .map(Some)
                    .ok_or_else(|| {
                        EstimatorError::Config(format!("{name} in config.json of {id} must be a positive integer"))
                    }),
            }
        };
        let required = |name: &str| -> Result<u32, EstimatorError> {
            field(name)?.ok_or_else(|| EstimatorError::Config(format!("config.json of {id} lacks {name}")))
        };
        let num_layers = required("num_hidden_layers")?;
        let hidden_size = required("hidden_size")?;
        let num_attention_heads = required("num_attention_heads")?;
        let num_kv_heads = field("num_key_value_heads")?.unwrap_or(num_attention_heads);
        let head_dim = field("head_dim")?.unwrap_or(hidden_size / num_attention_heads);
        let intermediate_size = required("intermediate_size")?;
        let vocab_size = required("vocab_size")?;
        if num_attention_heads % num_kv_heads != 0 || head_dim == 0 {
            return Err(EstimatorError::Config(format!(
                "{id}: {num_attention_heads} attention heads, {num_kv_heads} kv heads and head_dim {head_dim} do not form a valid attention"
            )));
        }
        let tied = config
            .get("tie_word_embeddings")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let qk_norm = arch == "Qwen3ForCausalLM";

        let (h, v, i) = (hidden_size as f64, vocab_size as f64, intermediate_size as f64);
        let q = (num_attention_heads * head_dim) as f64;
        let kv = (num_kv_heads * head_dim) as f64;
        let norms = 2.0 * h + if qk_norm { 2.0 * head_dim as f64 } else { 0.0 };
        let per_layer = h * q + 2.0 * h * kv + q * h + 3.0 * h * i + norms;
        let embeddings = if tied { v * h } else { 2.0 * v * h };
        let params = embeddings + num_layers as f64 * per_layer + h;

        Ok(ModelInfo {
            id: id.to_string(),
            num_layers,
            hidden_size,
            num_attention_heads,
            num_kv_heads,
            head_dim,
            intermediate_size,
            vocab_size,
            params,
            qk_norm,
            max_context_tokens: field("max_position_embeddings")?,
        })
    }

    /// Reads a `config.json` file; `id` names the model in reports and errors.
    pub fn from_config_file(id: &str, path: &Path) -> Result<ModelInfo, EstimatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EstimatorError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_config_json(id, &text)
    }

    /// A known id (or alias), else a path to a `config.json` (the id is then the path).
    pub fn resolve(id_or_path: &str) -> Result<ModelInfo, EstimatorError> {
        match Self::known(id_or_path) {
            Err(EstimatorError::UnknownModel { .. }) if Path::new(id_or_path).is_file() => {
                Self::from_config_file(id_or_path, Path::new(id_or_path))
            }
            other => other,
        }
    }

    /// KV-cache bytes one token takes in the whole model (bf16 K and V, all layers).
    pub fn kv_bytes_per_token(&self) -> u64 {
        u64::from(self.num_layers) * u64::from(self.num_kv_heads) * u64::from(self.head_dim) * 2 * 2
    }

    /// Bytes of all weights in bf16.
    pub fn weight_bytes(&self) -> u64 {
        (self.params * 2.0).round() as u64
    }

    /// The ids [`ModelInfo::known`] accepts (aliases aside).
    pub fn known_ids() -> &'static [&'static str] {
        &KNOWN_IDS
    }

    /// Tensor-parallel sizes this model allows: those dividing both the KV and attention heads.
    #[allow(clippy::manual_is_multiple_of)] // `is_multiple_of` needs Rust 1.87; the MSRV is 1.85
    pub fn valid_tps(&self) -> Vec<u32> {
        (1..=self.num_kv_heads)
            .filter(|tp| self.num_kv_heads % tp == 0 && self.num_attention_heads % tp == 0)
            .collect()
    }
}

/// Architectures built by AIC's dense `LLAMA` model family (bf16 only here).
const SUPPORTED_ARCHITECTURES: [&str; 3] = ["LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"];

const KNOWN_IDS: [&str; 5] = [
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-0.6B",
    "meta-llama/Meta-Llama-3.1-8B",
    "meta-llama/Meta-Llama-3.1-70B",
];

const ALIASES: [(&str, &str); 2] = [
    ("meta-llama/Llama-3.1-8B", "meta-llama/Meta-Llama-3.1-8B"),
    ("meta-llama/Llama-3.1-70B", "meta-llama/Meta-Llama-3.1-70B"),
];

macro_rules! config {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/aic/model_configs/", $file))
    };
}

const KNOWN: [(&str, &str); 5] = [
    (KNOWN_IDS[0], config!("Qwen--Qwen3-32B_config.json")),
    (KNOWN_IDS[1], config!("Qwen--Qwen3-8B_config.json")),
    (KNOWN_IDS[2], config!("Qwen--Qwen3-0.6B_config.json")),
    (KNOWN_IDS[3], config!("meta-llama--Meta-Llama-3.1-8B_config.json")),
    (KNOWN_IDS[4], config!("meta-llama--Meta-Llama-3.1-70B_config.json")),
];
