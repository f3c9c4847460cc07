//! Builds the aisimulate `EngineSpec` (schema 27) of a dense decoder, as aiconfigurator 0.12 does.
//!
//! The op list mirrors aiconfigurator-core 0.12.0's `LLAMAModel` (`sdk/models/llama.py`), the
//! family that serves Llama, Qwen2 and Qwen3 dense models, as emitted by its `compile_engine`.
//! The op structs are private to aisimulate, so the spec is written as JSON and deserialized.

use serde_json::{json, Value};

use aisimulate_core::perfmodel::engine::spec::EngineSpec;
use aisimulate_core::perfmodel::ENGINE_SPEC_SCHEMA_VERSION;

use super::{EstimatorError, ModelInfo};

/// The compiled-engine spec for `model` on `system` with `backend`/`version`, TP `tp`, bf16
/// weights, activations and KV cache, no pipeline parallelism, no MTP.
pub fn engine_spec(
    model: &ModelInfo,
    system: &str,
    backend: &str,
    version: &str,
    tp: u32,
    lane_order: &[String],
) -> Result<EngineSpec, EstimatorError> {
    let spec = json!({
        "schema_version": ENGINE_SPEC_SCHEMA_VERSION,
        "engine": {
            "schema_version": 1,
            "model_name": model.id,
            "system_name": system,
            "systems_path": null,
            "backend": backend,
            "backend_version": version,
            "kv_block_size": null,
            "tp_size": tp,
            "pp_size": 1,
            "attention_dp_size": 1,
            "moe_tp_size": 1,
            "moe_ep_size": 1,
            "cp_size": 1,
            "weight_dtype": "bfloat16",
            "moe_dtype": "bfloat16",
            "activation_dtype": "bfloat16",
            "kv_cache_dtype": "bfloat16",
            "nextn": 0,
            "enable_shared_layer": true,
            "strict_provenance": false,
            "database_mode": "SILICON",
            "transfer_policy": null,
            "tolerate_dirless_version": false,
            "extra": {}
        },
        "context_ops": phase_ops(model, tp, "context", lane_order),
        "generation_ops": phase_ops(model, tp, "generation", lane_order),
    });
    serde_json::from_value(spec)
        .map_err(|e| EstimatorError::Database(format!("cannot build the engine spec: {e}")))
}

/// One phase's ops (`phase` is `context` or `generation`), in LLAMAModel's order.
fn phase_ops(m: &ModelInfo, tp: u32, phase: &str, lane_order: &[String]) -> Vec<Value> {
    let layers = f64::from(m.num_layers);
    let h = m.hidden_size;
    let q_out = m.num_attention_heads * m.head_dim / tp;
    let kv_heads = m.num_kv_heads.div_ceil(tp);
    let inter = m.intermediate_size / tp;
    let gate_up = 2 * m.intermediate_size / tp;
    let vocab = m.vocab_size / tp;
    let name = |op: &str| format!("{phase}_{op}");
    // AIC's ElementWise(dim_in, dim_out) moves dim_in * 2 + dim_out * 2 bytes per token.
    let add_norm = |n: &str| {
        elementwise(
            &name(n),
            layers,
            f64::from(2 * h) * 2.0 + f64::from(2 * h) * 2.0,
        )
    };
    let attention = if phase == "context" {
        json!({"ContextAttention": {
            "name": "context_attention", "scale_factor": layers,
            "n": m.num_attention_heads / tp, "n_kv": kv_heads, "head_size": m.head_dim,
            "window_size": 0, "kv_cache_dtype": "bfloat16", "fmha_quant_mode": "bfloat16",
            "use_qk_norm": m.qk_norm, "cp_size": 1, "lane_order": lane_order
        }})
    } else {
        // aiconfigurator 0.12's spec (schema 15) carried no decode `use_qk_norm`: keep it off.
        json!({"GenerationAttention": {
            "name": "generation_attention", "scale_factor": layers,
            "n": m.num_attention_heads / tp, "n_kv": kv_heads, "head_size": m.head_dim,
            "window_size": 0, "kv_cache_dtype": "bfloat16", "lane_order": lane_order
        }})
    };
    vec![
        json!({"Embedding": {
            "name": name("embedding"), "scale_factor": 1.0, "vocab_size": vocab,
            "hidden_size": h, "quant_mode": "bfloat16", "seq_split": 1
        }}),
        add_norm("add_norm_1"),
        gemm(
            &name("qkv_gemm"),
            layers,
            q_out + m.head_dim * kv_heads * 2,
            h,
            false,
        ),
        attention,
        gemm(&name("proj_gemm"), layers, h, q_out, true),
        add_norm("add_norm_2"),
        gemm(&name("gate_ffn1_gemm"), layers, gate_up, h, false),
        elementwise(
            &name("act_gate"),
            layers,
            f64::from(gate_up) * 2.0 + f64::from(inter) * 2.0,
        ),
        gemm(&name("ffn2_gemm"), layers, h, inter, true),
        gemm(&name("logits_gemm"), 1.0, vocab, h, false),
        all_reduce(&name("embedding_ar"), 1.0, h, tp),
        all_reduce(&name("ar_1"), layers, h, tp),
        all_reduce(&name("ar_2"), layers, h, tp),
        json!({"P2P": {"name": name("p2p"), "scale_factor": 0.0, "pp_size": 1, "hidden_size": h, "seq_split": 1}}),
    ]
}

fn gemm(name: &str, scale: f64, n: u32, k: u32, low_precision_input: bool) -> Value {
    json!({"Gemm": {
        "name": name, "scale_factor": scale, "n": n, "k": k, "quant_mode": "bfloat16",
        "scale_num_tokens": 1, "low_precision_input": low_precision_input, "seq_split": 1,
        "below_grid_sol": false
    }})
}

fn elementwise(name: &str, scale: f64, bytes_per_token: f64) -> Value {
    json!({"Elementwise": {
        "name": name, "scale_factor": scale, "bytes_per_token": bytes_per_token,
        "scale_num_tokens": 1, "seq_split": 1
    }})
}

fn all_reduce(name: &str, scale: f64, hidden: u32, tp: u32) -> Value {
    json!({"CustomAllReduce": {
        "name": name, "scale_factor": scale, "hidden_size": hidden, "tp_size": tp,
        "quant": "half", "seq_split": 1
    }})
}
