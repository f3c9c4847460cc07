//! Builds the Kubernetes objects of a deployment: the sweep graphs Dynamo's profiler deploys
//! (made from a base graph as its `convert_config` makes them, per framework and Dynamo version),
//! or a method's `config_with_planner.yaml` as is, renamed and labelled.
//!
//! Graphs are built in `nvidia.com/v1alpha1` form (`spec.services`), the form of every base graph
//! and of the `config_with_planner.yaml` files methods write; [`super::v1beta1`] converts them
//! when the cluster prefers v1beta1. JSON is edited with non-inserting access (`get`,
//! `pointer_mut`), so nothing the file did not have (e.g. `null`) is added.
//!
//! The sweep conversion follows Dynamo's profiler (sources in `/ARCHITECTURE.md`, "Kubernetes
//! sweep graphs"): Dynamo 0.7.0 `benchmarks/profiler/utils/config_modifiers/*.py` @ `23660bc5c`,
//! the newest `components/src/dynamo/profiler/` @ `2a6da14c8` (Dynamo 1.6 conventions).

use std::collections::BTreeMap;
use std::path::Path;

use profcmp_plugin_api::{DeployRequest, ServingBackend};
use serde_json::{json, Map, Value};

use super::{names, ManifestError};
use crate::dynamo::PROFILE_CONFIG_MAP;
pub use crate::spec::DynamoVersion;

/// Label carrying the run id on every object profcmp creates.
pub const LABEL_RUN: &str = "profcmp.dev/run-id";
/// Label carrying the method (or stage subject) an object was created for.
pub const LABEL_METHOD: &str = "profcmp.dev/method";
/// `app.kubernetes.io/managed-by`, set to `profcmp`.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Max tokens per batch Dynamo 0.7's profiler gives a prefill-only engine
/// (`set_prefill_config`, utils/config_modifiers/*.py @ 23660bc5c).
pub const PREFILL_MAX_TOKENS_07: u32 = 32768;

/// The shipped base graphs: per Dynamo version, one per serving framework.
const TEMPLATES_07: [&str; 3] = [
    include_str!("../../data/k8s/0.7/trtllm.yaml"),
    include_str!("../../data/k8s/0.7/vllm.yaml"),
    include_str!("../../data/k8s/0.7/sglang.yaml"),
];
const TEMPLATES_NEWEST: [&str; 3] = [
    include_str!("../../data/k8s/1.6/trtllm.yaml"),
    include_str!("../../data/k8s/1.6/vllm.yaml"),
    include_str!("../../data/k8s/1.6/sglang.yaml"),
];

/// What a sweep graph is made for.
#[derive(Clone, Debug)]
pub struct SweepSpec<'a> {
    /// Graph name (a DNS-1123 label).
    pub name: &'a str,
    /// Hugging Face model id.
    pub model: &'a str,
    /// Serving framework.
    pub backend: ServingBackend,
    /// Whose profiler's conversion to follow (0.7, or 1.6: the newest conventions).
    pub dynamo_version: DynamoVersion,
    /// SLA input length: the newest profiler's prefill engines take at most this many tokens
    /// per batch (aiconfigurator `enumerate_profiling_configs`).
    pub isl: u32,
    /// Labels of every object.
    pub labels: &'a BTreeMap<String, String>,
}

/// The labels of every object of one run and subject.
pub fn labels(run_id: &str, method: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_RUN.to_string(), label_value(run_id)),
        (LABEL_METHOD.to_string(), label_value(method)),
        (LABEL_MANAGED_BY.to_string(), "profcmp".to_string()),
    ])
}

/// The base graph for `backend`: `dir/<backend>.yaml` when a template directory is given and
/// has that file, else the one shipped for the Dynamo version.
pub fn template(
    backend: ServingBackend,
    conventions: DynamoVersion,
    dir: Option<&Path>,
) -> Result<String, ManifestError> {
    if let Some(path) = dir.map(|d| d.join(format!("{}.yaml", backend.as_str()))) {
        if path.exists() {
            return std::fs::read_to_string(&path).map_err(|e| {
                ManifestError::BaseGraph(format!(
                    "{}: {e}; check --templates (a directory of <backend>.yaml)",
                    path.display()
                ))
            });
        }
    }
    let shipped = match conventions {
        DynamoVersion::V0_7 => TEMPLATES_07,
        DynamoVersion::V1_6 => TEMPLATES_NEWEST,
    };
    let index = match backend {
        ServingBackend::Trtllm => 0,
        ServingBackend::Vllm => 1,
        ServingBackend::Sglang => 2,
        ServingBackend::Unknown => {
            return Err(ManifestError::BaseGraph(
                "unknown serving backend (from a newer profcmp?): use trtllm, vllm or sglang".into(),
            ))
        }
    };
    Ok(shipped[index].to_string())
}

/// The DynamoGraphDeployment for `request`, made from a base (disaggregated) graph.
///
/// A prefill-only or decode-only request is converted as Dynamo's profiler converts the graph
/// for its sweeps ([`convert_for_sweep`]). A graph request keeps both workers and sets their
/// replicas. Both set the model, the TP and the GPUs as the profiler does, the name and labels.
pub fn graph_from_template(template: &str, spec: &SweepSpec, request: &DeployRequest) -> Result<Value, ManifestError> {
    graph_from_template_text(template, spec, request).map_err(ManifestError::BaseGraph)
}

fn graph_from_template_text(template: &str, spec: &SweepSpec, request: &DeployRequest) -> Result<Value, String> {
    let mut graph: Value = serde_saphyr::from_str(template).map_err(|e| format!("base graph: not valid YAML: {e}"))?;
    if graph.get("kind").and_then(Value::as_str) != Some("DynamoGraphDeployment") {
        return Err("base graph: kind is not DynamoGraphDeployment".into());
    }
    if graph.pointer("/spec/services").and_then(Value::as_object).is_none() {
        return Err(
            "base graph: no spec.services (base graphs are written in nvidia.com/v1alpha1 form; profcmp converts them)"
                .into(),
        );
    }
    match *request {
        DeployRequest::PrefillOnly { tp } => convert_for_sweep_text(&mut graph, spec, Role::Prefill, tp)?,
        DeployRequest::DecodeOnly { tp } => convert_for_sweep_text(&mut graph, spec, Role::Decode, tp)?,
        DeployRequest::Graph {
            prefill_workers,
            prefill_tp,
            decode_workers,
            decode_tp,
        } => {
            for (role, replicas, tp) in [
                (Role::Prefill, prefill_workers, prefill_tp),
                (Role::Decode, decode_workers, decode_tp),
            ] {
                let key = worker_key(&graph, spec.backend, role)?;
                let service = service_mut(&mut graph, &key)?;
                service.insert("replicas".into(), json!(replicas));
                let mut args = args_of(service);
                set_model(&mut args, spec.backend, spec.model);
                set_tp(&mut args, spec, tp);
                set_args(service, args);
                set_gpus(service, spec.dynamo_version, tp);
            }
        }
    }
    set_metadata(&mut graph, spec.name, spec.labels);
    names::check_object(&graph).map_err(|e| e.to_string())?;
    Ok(graph)
}

/// The role of a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Prefill worker.
    Prefill,
    /// Decode worker.
    Decode,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Prefill => "prefill",
            Role::Decode => "decode",
        }
    }
}

/// Converts a disaggregated graph into the prefill-only or decode-only engine Dynamo's profiler
/// deploys for a sweep at TP `tp`:
/// - the planner is removed (0.7: the service keyed `Planner`; newest: `componentType: planner`),
///   the frontend kept as is;
/// - prefill: the prefill worker's spec moves under the decode worker's key (the decode spec
///   is dropped); decode: the prefill worker is removed. The one worker left gets
///   `subComponentType: decode` and 1 replica;
/// - framework flags: TRT-LLM engine overrides (KV block reuse off for prefill, on for decode;
///   prefill also overlap scheduler on; the cache transceiver removed; `--disaggregation-mode`
///   and `--disaggregation-strategy` removed); vLLM prefix caching off for prefill, on for
///   decode (0.7: `--is-prefill-worker` removed; newest: the prefill's `--disaggregation-mode`
///   removed); SGLang radix cache off for prefill, on for decode, the disaggregation flags
///   removed;
/// - the TP as the profiler sets it, and a prefill engine limited to batch 1 (max tokens 32768
///   on 0.7, the SLA's ISL on the newest);
/// - GPUs = TP (0.7: requests set, limits if present; newest: limits set, requests if present).
pub fn convert_for_sweep(graph: &mut Value, spec: &SweepSpec, role: Role, tp: u32) -> Result<(), ManifestError> {
    convert_for_sweep_text(graph, spec, role, tp).map_err(ManifestError::BaseGraph)
}

fn convert_for_sweep_text(graph: &mut Value, spec: &SweepSpec, role: Role, tp: u32) -> Result<(), String> {
    let prefill_key = worker_key(graph, spec.backend, Role::Prefill)?;
    let decode_key = worker_key(graph, spec.backend, Role::Decode)?;
    let services = graph
        .pointer_mut("/spec/services")
        .and_then(Value::as_object_mut)
        .ok_or("base graph: no spec.services")?;
    match spec.dynamo_version {
        DynamoVersion::V0_7 => {
            services.remove("Planner");
        }
        DynamoVersion::V1_6 => services.retain(|_, s| component_type(s) != Some("planner")),
    }
    let prefill = services.remove(&prefill_key);
    if role == Role::Prefill {
        let prefill = prefill.ok_or_else(|| format!("base graph: no service {prefill_key}"))?;
        services.insert(decode_key.clone(), prefill);
    }
    let service = service_mut(graph, &decode_key)?;
    service.insert("subComponentType".into(), json!("decode"));
    service.insert("replicas".into(), json!(1));
    let mut args = args_of(service);
    set_model(&mut args, spec.backend, spec.model);
    match spec.backend {
        // Unknown never gets here: `template` refuses it before any graph is made.
        ServingBackend::Trtllm | ServingBackend::Unknown => {
            remove_flag(&mut args, "--disaggregation-mode", true);
            remove_flag(&mut args, "--disaggregation-strategy", true);
            let mut overrides = vec![
                ("kv_cache_config.enable_block_reuse", json!(role == Role::Decode)),
                ("cache_transceiver_config", Value::Null),
            ];
            if role == Role::Prefill {
                overrides.insert(1, ("disable_overlap_scheduler", json!(false)));
            }
            trtllm_overrides(&mut args, spec.dynamo_version, &overrides);
        }
        ServingBackend::Vllm => match (role, spec.dynamo_version) {
            (Role::Prefill, DynamoVersion::V0_7) => {
                if !remove_flag(&mut args, "--is-prefill-worker", false) {
                    return Err(format!(
                        "base graph: the vLLM prefill worker {prefill_key} has no --is-prefill-worker, which Dynamo 0.7's profiler requires"
                    ));
                }
                prefix_caching(&mut args, false);
            }
            (Role::Prefill, DynamoVersion::V1_6) => {
                remove_flag(&mut args, "--disaggregation-mode", true);
                remove_flag(&mut args, "--is-prefill-worker", false);
                prefix_caching(&mut args, false);
            }
            (Role::Decode, _) => prefix_caching(&mut args, true),
        },
        ServingBackend::Sglang => {
            for flag in [
                "--disaggregation-mode",
                "--disaggregation-transfer-backend",
                "--disaggregation-bootstrap-port",
            ] {
                remove_flag(&mut args, flag, true);
            }
            remove_flag(&mut args, "--disable-radix-cache", false);
            if role == Role::Prefill {
                args.push("--disable-radix-cache".into());
            }
        }
    }
    set_tp(&mut args, spec, tp);
    if role == Role::Prefill {
        let max_tokens = match spec.dynamo_version {
            DynamoVersion::V0_7 => PREFILL_MAX_TOKENS_07,
            DynamoVersion::V1_6 => spec.isl,
        };
        prefill_limits(&mut args, spec, 1, max_tokens);
    }
    set_args(service, args);
    set_gpus(service, spec.dynamo_version, tp);
    Ok(())
}

/// The key of the worker of `role`: by `subComponentType`, else by Dynamo's default worker
/// names (`WORKER_COMPONENT_NAMES`, components/src/dynamo/planner/defaults.py).
fn worker_key(graph: &Value, backend: ServingBackend, role: Role) -> Result<String, String> {
    let services = graph
        .pointer("/spec/services")
        .and_then(Value::as_object)
        .ok_or("base graph: no spec.services")?;
    if let Some((key, _)) = services.iter().find(|(_, s)| sub_type(s) == Some(role.as_str())) {
        return Ok(key.clone());
    }
    let defaults: &[&str] = match (backend, role) {
        (ServingBackend::Trtllm | ServingBackend::Unknown, Role::Prefill) => &["TRTLLMPrefillWorker", "prefill"],
        (ServingBackend::Trtllm | ServingBackend::Unknown, Role::Decode) => &["TRTLLMDecodeWorker", "decode"],
        (ServingBackend::Vllm, Role::Prefill) => &["VllmPrefillWorker"],
        (ServingBackend::Vllm, Role::Decode) => &["VllmDecodeWorker"],
        (ServingBackend::Sglang, Role::Prefill) => &["prefill"],
        (ServingBackend::Sglang, Role::Decode) => &["decode"],
    };
    defaults
        .iter()
        .find(|name| services.contains_key(**name))
        .map(|name| name.to_string())
        .ok_or_else(|| {
            format!(
                "base graph: no {} worker (a service with subComponentType: {}, or named {})",
                role.as_str(),
                role.as_str(),
                defaults.join(" or ")
            )
        })
}

fn service_mut<'a>(graph: &'a mut Value, key: &str) -> Result<&'a mut Map<String, Value>, String> {
    graph
        .pointer_mut("/spec/services")
        .and_then(|s| s.get_mut(key))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| format!("base graph: service {key} is not an object"))
}

/// The main container's args (empty when absent).
fn args_of(service: &Map<String, Value>) -> Vec<String> {
    let args = service
        .get("extraPodSpec")
        .and_then(|p| p.pointer("/mainContainer/args"))
        .and_then(Value::as_array);
    args.into_iter()
        .flatten()
        .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
        .collect()
}

fn set_args(service: &mut Map<String, Value>, args: Vec<String>) {
    let container = object_at(service, &["extraPodSpec", "mainContainer"]);
    container.insert("args".into(), json!(args));
}

/// The object at `path` under `map`, created (as an empty object) where missing or not an
/// object: only for paths profcmp writes.
fn object_at<'a>(map: &'a mut Map<String, Value>, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut current = map;
    for key in path {
        let slot = current.entry(key.to_string()).or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        current = slot.as_object_mut().expect("just made an object");
    }
    current
}

/// GPUs = TP. Dynamo 0.7 sets `requests.gpu` and `limits.gpu` if limits exist
/// (`setup_worker_service_resources`); the newest sets limits and requests if they exist.
fn set_gpus(service: &mut Map<String, Value>, conventions: DynamoVersion, tp: u32) {
    let has = |service: &Map<String, Value>, side: &str| {
        service
            .get("resources")
            .and_then(|r| r.get(side))
            .is_some_and(Value::is_object)
    };
    let (set_requests, set_limits) = match conventions {
        DynamoVersion::V0_7 => (true, has(service, "limits")),
        DynamoVersion::V1_6 => (has(service, "requests"), true),
    };
    for (side, set) in [("requests", set_requests), ("limits", set_limits)] {
        if set {
            object_at(service, &["resources", side]).insert("gpu".into(), json!(tp.to_string()));
        }
    }
}

fn component_type(service: &Value) -> Option<&str> {
    service.get("componentType").and_then(Value::as_str)
}

fn sub_type(service: &Value) -> Option<&str> {
    service.get("subComponentType").and_then(Value::as_str)
}

/// A method's `config_with_planner.yaml` ready to apply: its ConfigMap and graph renamed after
/// `name` (the planner's volume and `--namespace` follow), labelled, otherwise as written. Fails
/// when its TPs are not the ones `request` asks for, or when a name breaks a limit.
pub fn planned_objects(
    yaml: &str,
    name: &str,
    request: &DeployRequest,
    labels: &BTreeMap<String, String>,
) -> Result<(Value, Value), ManifestError> {
    planned_objects_text(yaml, name, request, labels).map_err(ManifestError::PlannedGraph)
}

fn planned_objects_text(
    yaml: &str,
    name: &str,
    request: &DeployRequest,
    labels: &BTreeMap<String, String>,
) -> Result<(Value, Value), String> {
    let data = crate::dynamo::read_profile_data(yaml).map_err(|e| e.to_string())?;
    if let DeployRequest::Graph {
        prefill_tp, decode_tp, ..
    } = *request
    {
        if (data.prefill_tp, data.decode_tp) != (prefill_tp, decode_tp) {
            return Err(format!(
                "config_with_planner.yaml has prefill TP {} / decode TP {}, the stage asked for {prefill_tp} / {decode_tp}",
                data.prefill_tp, data.decode_tp
            ));
        }
    }
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|e| format!("config_with_planner.yaml: not valid YAML: {e}"))?;
    let of_kind = |kind: &str| {
        docs.iter()
            .find(|d| d.get("kind").and_then(Value::as_str) == Some(kind))
            .cloned()
    };
    let mut config_map = of_kind("ConfigMap").ok_or("config_with_planner.yaml: no ConfigMap")?;
    let mut graph = of_kind("DynamoGraphDeployment").ok_or("config_with_planner.yaml: no DynamoGraphDeployment")?;
    let name_of = |object: &Value| {
        object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let old_map = name_of(&config_map).unwrap_or_else(|| PROFILE_CONFIG_MAP.to_string());
    let old_namespace = format!("--namespace={}", name_of(&graph).unwrap_or_default());
    let map_name = format!("{name}-profile");
    set_metadata(&mut config_map, &map_name, labels);
    set_metadata(&mut graph, name, labels);
    let services = graph.pointer_mut("/spec/services").and_then(Value::as_object_mut);
    for pod in services
        .into_iter()
        .flat_map(|s| s.values_mut())
        .filter_map(|s| s.get_mut("extraPodSpec"))
    {
        let volumes = pod.get_mut("volumes").and_then(Value::as_array_mut);
        for source in volumes.into_iter().flatten().filter_map(|v| v.get_mut("configMap")) {
            if let Some(map) = source.get_mut("name").filter(|n| n.as_str() == Some(old_map.as_str())) {
                *map = json!(map_name);
            }
        }
        let args = pod.pointer_mut("/mainContainer/args").and_then(Value::as_array_mut);
        for arg in args.into_iter().flatten() {
            if arg.as_str() == Some(old_namespace.as_str()) {
                *arg = json!(format!("--namespace={name}"));
            }
        }
    }
    names::check_object(&config_map).map_err(|e| e.to_string())?;
    names::check_object(&graph).map_err(|e| e.to_string())?;
    Ok((config_map, graph))
}

/// The services of a graph in either API version: (name, role, replicas, GPUs per replica).
/// v1alpha1: `spec.services` (`subComponentType`, `resources.limits.gpu`); v1beta1:
/// `spec.components` (`type`, the main container's `nvidia.com/gpu` limit).
fn services(graph: &Value) -> Vec<(String, Option<String>, u32, u32)> {
    let count = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as u32,
        _ => 0,
    };
    let replicas = |s: &Value| s.get("replicas").and_then(Value::as_u64).unwrap_or(1) as u32;
    let mut out = Vec::new();
    if let Some(map) = graph.pointer("/spec/services").and_then(Value::as_object) {
        for (name, s) in map {
            let gpus = count(s.pointer("/resources/limits/gpu"));
            out.push((name.clone(), sub_type(s).map(str::to_string), replicas(s), gpus));
        }
    }
    for c in graph
        .pointer("/spec/components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let containers = c.pointer("/podTemplate/spec/containers").and_then(Value::as_array);
        let main = containers
            .into_iter()
            .flatten()
            .find(|c| c.get("name").and_then(Value::as_str) == Some("main"));
        let gpus = count(main.and_then(|m| m.pointer("/resources/limits/nvidia.com~1gpu")));
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let role = c.get("type").and_then(Value::as_str).map(str::to_string);
        out.push((name, role, replicas(c), gpus));
    }
    out
}

/// GPUs a graph holds: the sum over services of replicas x GPU limit.
pub fn gpus(graph: &Value) -> u32 {
    services(graph)
        .iter()
        .map(|(_, _, replicas, gpus)| replicas * gpus)
        .sum()
}

/// Replicas of the worker of `role` (`prefill`/`decode`) in a graph.
pub fn replicas(graph: &Value, role_name: &str) -> Option<u32> {
    services(graph)
        .into_iter()
        .find(|(_, role, _, _)| role.as_deref() == Some(role_name))
        .map(|(_, _, replicas, _)| replicas)
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`, others turned into `-`.
pub fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

/// Sets the name and merges the labels; drops `metadata.namespace` (the cluster's is used).
pub fn set_metadata(object: &mut Value, name: &str, labels: &BTreeMap<String, String>) {
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = object_at(root, &["metadata"]);
    metadata.insert("name".into(), json!(name));
    metadata.remove("namespace");
    let merged = object_at(metadata, &["labels"]);
    for (k, v) in labels {
        merged.insert(k.clone(), json!(v));
    }
}

fn set_model(args: &mut Vec<String>, backend: ServingBackend, model: &str) {
    let flags: &[&str] = match backend {
        ServingBackend::Vllm => &["--model"],
        ServingBackend::Trtllm | ServingBackend::Sglang | ServingBackend::Unknown => {
            &["--model-path", "--served-model-name"]
        }
    };
    for flag in flags {
        set_flag(args, flag, model);
    }
}

/// Sets the TP as Dynamo's profiler does: TRT-LLM through engine overrides; vLLM
/// `--tensor-parallel-size` (the newest drops the `-tp` alias); SGLang `--tp` (the newest drops
/// `--tp-size` and the expert/data-parallel flags of a dense TP config).
fn set_tp(args: &mut Vec<String>, spec: &SweepSpec, tp: u32) {
    let newest = spec.dynamo_version == DynamoVersion::V1_6;
    match spec.backend {
        ServingBackend::Trtllm | ServingBackend::Unknown => {
            trtllm_overrides(args, spec.dynamo_version, &[("tensor_parallel_size", json!(tp))])
        }
        ServingBackend::Vllm => {
            if newest {
                remove_flag(args, "-tp", true);
            }
            set_flag(args, "--tensor-parallel-size", &tp.to_string());
        }
        ServingBackend::Sglang => {
            if newest {
                for flag in ["--tp-size", "--ep-size", "--ep", "--dp-size", "--dp"] {
                    remove_flag(args, flag, true);
                }
                remove_flag(args, "--enable-dp-attention", false);
            }
            set_flag(args, "--tp", &tp.to_string());
        }
    }
}

/// A prefill engine's batch limits (`set_prefill_config`): TRT-LLM `max_batch_size` and
/// `max_num_tokens` overrides; vLLM `--max-num-seqs`, `--max-num-batched-tokens`; SGLang
/// `--max-running-requests`, `--chunked-prefill-size`.
fn prefill_limits(args: &mut Vec<String>, spec: &SweepSpec, batch: u32, tokens: u32) {
    match spec.backend {
        ServingBackend::Trtllm | ServingBackend::Unknown => trtllm_overrides(
            args,
            spec.dynamo_version,
            &[("max_batch_size", json!(batch)), ("max_num_tokens", json!(tokens))],
        ),
        ServingBackend::Vllm => {
            set_flag(args, "--max-num-seqs", &batch.to_string());
            set_flag(args, "--max-num-batched-tokens", &tokens.to_string());
        }
        ServingBackend::Sglang => {
            set_flag(args, "--max-running-requests", &batch.to_string());
            set_flag(args, "--chunked-prefill-size", &tokens.to_string());
        }
    }
}

/// Engine overrides for `dynamo.trtllm` (dotted keys, `null` removes a section). Dynamo 0.7
/// merges them into the `--override-engine-args` JSON, which it re-appends last. The newest
/// writes one `--trtllm.<key> <value>` flag each (`None` as `none`), unless the args already
/// carry `--override-engine-args`, which it then merges into instead (dynamo.trtllm refuses
/// both; Dynamo `8db5ad2b8`).
fn trtllm_overrides(args: &mut Vec<String>, conventions: DynamoVersion, overrides: &[(&str, Value)]) {
    let flag = "--override-engine-args";
    let has_json = args.iter().any(|a| a == flag);
    if conventions == DynamoVersion::V1_6 && !has_json {
        for (key, value) in overrides {
            let text = match value {
                Value::Null => "none".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            set_flag(args, &format!("--trtllm.{key}"), &text);
        }
        return;
    }
    let mut merged = flag_value(args, flag)
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    for (key, value) in overrides {
        let mut at = &mut merged;
        let parts: Vec<&str> = key.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let map = at.as_object_mut().expect("objects all the way down");
            let slot = map.entry(part.to_string()).or_insert_with(|| json!({}));
            if !slot.is_object() {
                *slot = json!({});
            }
            at = slot;
        }
        let map = at.as_object_mut().expect("objects all the way down");
        map.insert(parts[parts.len() - 1].to_string(), value.clone());
    }
    remove_flag(args, flag, true);
    args.extend([flag.to_string(), merged.to_string()]);
}

/// vLLM prefix caching on (decode) or off (prefill), as `--enable-prefix-caching` /
/// `--no-enable-prefix-caching`.
fn prefix_caching(args: &mut Vec<String>, on: bool) {
    remove_flag(args, "--enable-prefix-caching", false);
    remove_flag(args, "--no-enable-prefix-caching", false);
    args.push(
        if on {
            "--enable-prefix-caching"
        } else {
            "--no-enable-prefix-caching"
        }
        .to_string(),
    );
}

fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

/// Replaces the value after `flag`, or appends `flag value`.
fn set_flag(args: &mut Vec<String>, flag: &str, value: &str) {
    match args.iter().position(|a| a == flag) {
        Some(i) if i + 1 < args.len() => args[i + 1] = value.to_string(),
        Some(_) => args.push(value.to_string()),
        None => args.extend([flag.to_string(), value.to_string()]),
    }
}

/// Removes every occurrence of `flag` (with its value); true when there was one.
fn remove_flag(args: &mut Vec<String>, flag: &str, with_value: bool) -> bool {
    let mut found = false;
    while let Some(i) = args.iter().position(|a| a == flag) {
        let end = if with_value { (i + 2).min(args.len()) } else { i + 1 };
        args.drain(i..end);
        found = true;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "Qwen/Qwen3-8B";

    fn graph_of(conventions: DynamoVersion, backend: ServingBackend, request: &DeployRequest) -> Value {
        let template = template(backend, conventions, None).unwrap();
        let labels = labels("r1", "aic_all");
        let spec = SweepSpec {
            name: "pc-x-1",
            model: MODEL,
            backend,
            dynamo_version: conventions,
            isl: 2048,
            labels: &labels,
        };
        graph_from_template(&template, &spec, request).unwrap()
    }

    fn args(graph: &Value, service: &str) -> Vec<String> {
        serde_json::from_value(graph["spec"]["services"][service]["extraPodSpec"]["mainContainer"]["args"].clone())
            .unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Whether a JSON null occurs anywhere in `value`.
    fn has_null(value: &Value) -> bool {
        match value {
            Value::Null => true,
            Value::Array(items) => items.iter().any(has_null),
            Value::Object(map) => map.values().any(has_null),
            _ => false,
        }
    }

    /// The engine overrides of TRT-LLM args: the `--override-engine-args` JSON, or the
    /// `--trtllm.<key> <value>` flags as (key, value) text.
    fn trtllm_json(args: &[String]) -> Value {
        serde_json::from_str(flag_value(args, "--override-engine-args").expect("override JSON")).unwrap()
    }

    /// What Dynamo's profiler deploys for a sweep, per version, framework, role and TP
    /// (profiler-configs notes §1 and §3): the services left, the worker's key and role, its
    /// args and GPUs.
    #[test]
    fn sweep_graphs_are_what_dynamos_profiler_deploys() {
        use DynamoVersion::{V0_7 as V07, V1_6 as Newest};
        use ServingBackend::{Sglang, Trtllm, Vllm};
        for tp in [1u32, 2, 4, 8] {
            let n = tp.to_string();
            let m = MODEL;
            for (conventions, backend, prefill, worker, template_of, expected_args) in [
                (
                    V07,
                    Vllm,
                    true,
                    "VllmDecodeWorker",
                    "VllmPrefillWorker",
                    strings(&[
                        "--model",
                        m,
                        "--no-enable-prefix-caching",
                        "--tensor-parallel-size",
                        &n,
                        "--max-num-seqs",
                        "1",
                        "--max-num-batched-tokens",
                        "32768",
                    ]),
                ),
                (
                    V07,
                    Vllm,
                    false,
                    "VllmDecodeWorker",
                    "VllmDecodeWorker",
                    strings(&[
                        "--model",
                        m,
                        "--is-decode-worker",
                        "--enable-prefix-caching",
                        "--tensor-parallel-size",
                        &n,
                    ]),
                ),
                (
                    Newest,
                    Vllm,
                    true,
                    "VllmDecodeWorker",
                    "VllmPrefillWorker",
                    strings(&[
                        "--model",
                        m,
                        "--kv-transfer-config",
                        r#"{"kv_connector":"NixlConnector","kv_role":"kv_both"}"#,
                        "--no-enable-prefix-caching",
                        "--tensor-parallel-size",
                        &n,
                        "--max-num-seqs",
                        "1",
                        "--max-num-batched-tokens",
                        "2048",
                    ]),
                ),
                (
                    Newest,
                    Vllm,
                    false,
                    "VllmDecodeWorker",
                    "VllmDecodeWorker",
                    strings(&[
                        "--model",
                        m,
                        "--disaggregation-mode",
                        "decode",
                        "--enable-prefix-caching",
                        "--tensor-parallel-size",
                        &n,
                    ]),
                ),
                (
                    V07,
                    Sglang,
                    true,
                    "decode",
                    "prefill",
                    strings(&[
                        "--model-path",
                        m,
                        "--served-model-name",
                        m,
                        "--page-size",
                        "16",
                        "--tp",
                        &n,
                        "--trust-remote-code",
                        "--skip-tokenizer-init",
                        "--disable-radix-cache",
                        "--max-running-requests",
                        "1",
                        "--chunked-prefill-size",
                        "32768",
                    ]),
                ),
                (
                    Newest,
                    Sglang,
                    false,
                    "decode",
                    "decode",
                    strings(&[
                        "--model-path",
                        m,
                        "--served-model-name",
                        m,
                        "--page-size",
                        "16",
                        "--tp",
                        &n,
                        "--trust-remote-code",
                        "--skip-tokenizer-init",
                    ]),
                ),
                (
                    Newest,
                    Sglang,
                    true,
                    "decode",
                    "prefill",
                    strings(&[
                        "--model-path",
                        m,
                        "--served-model-name",
                        m,
                        "--page-size",
                        "16",
                        "--tp",
                        &n,
                        "--trust-remote-code",
                        "--skip-tokenizer-init",
                        "--disable-radix-cache",
                        "--max-running-requests",
                        "1",
                        "--chunked-prefill-size",
                        "2048",
                    ]),
                ),
                (
                    Newest,
                    Trtllm,
                    true,
                    "decode",
                    "prefill",
                    strings(&[
                        "--model-path",
                        m,
                        "--served-model-name",
                        m,
                        "--extra-engine-args",
                        "./examples/backends/trtllm/engine_configs/qwen3/prefill.yaml",
                        "--trtllm.kv_cache_config.enable_block_reuse",
                        "false",
                        "--trtllm.disable_overlap_scheduler",
                        "false",
                        "--trtllm.cache_transceiver_config",
                        "none",
                        "--trtllm.tensor_parallel_size",
                        &n,
                        "--trtllm.max_batch_size",
                        "1",
                        "--trtllm.max_num_tokens",
                        "2048",
                    ]),
                ),
                (
                    Newest,
                    Trtllm,
                    false,
                    "decode",
                    "decode",
                    strings(&[
                        "--model-path",
                        m,
                        "--served-model-name",
                        m,
                        "--extra-engine-args",
                        "./examples/backends/trtllm/engine_configs/qwen3/decode.yaml",
                        "--trtllm.kv_cache_config.enable_block_reuse",
                        "true",
                        "--trtllm.cache_transceiver_config",
                        "none",
                        "--trtllm.tensor_parallel_size",
                        &n,
                    ]),
                ),
            ] {
                let request = if prefill {
                    DeployRequest::PrefillOnly { tp }
                } else {
                    DeployRequest::DecodeOnly { tp }
                };
                let case = format!("{conventions:?} {backend:?} prefill={prefill} TP{tp}");
                let graph = graph_of(conventions, backend, &request);
                let keys: Vec<&String> = graph["spec"]["services"].as_object().unwrap().keys().collect();
                assert_eq!(keys, ["Frontend", worker], "{case}");
                let service = &graph["spec"]["services"][worker];
                assert_eq!(args(&graph, worker), expected_args, "{case}");
                assert_eq!(
                    (&service["subComponentType"], &service["replicas"]),
                    (&json!("decode"), &json!(1)),
                    "{case}"
                );
                let resources = match conventions {
                    V07 => json!({ "limits": { "gpu": n }, "requests": { "gpu": n } }),
                    Newest => json!({ "limits": { "gpu": n } }),
                };
                assert_eq!(service["resources"], resources, "{case}");
                // Everything else is the template's worker of that role, unchanged.
                let base: Value = serde_saphyr::from_str(&template(backend, conventions, None).unwrap()).unwrap();
                let source = &base["spec"]["services"][template_of];
                for field in ["componentType", "envFromSecret"] {
                    assert_eq!(service[field], source[field], "{case} {field}");
                }
                let (main, source_main) = (
                    &service["extraPodSpec"]["mainContainer"],
                    &source["extraPodSpec"]["mainContainer"],
                );
                for field in ["image", "command", "workingDir"] {
                    assert_eq!(main[field], source_main[field], "{case} {field}");
                }
                assert_eq!(gpus(&graph), tp, "{case}");
                assert!(!has_null(&graph), "{case}: no null in what is applied");
            }
            // Dynamo 0.7's TRT-LLM overrides travel as one JSON argument.
            let prefill = graph_of(V07, Trtllm, &DeployRequest::PrefillOnly { tp });
            let a = args(&prefill, "TRTLLMDecodeWorker");
            assert_eq!(
                &a[..6],
                strings(&[
                    "--model-path",
                    m,
                    "--served-model-name",
                    m,
                    "--extra-engine-args",
                    "./examples/backends/trtllm/engine_configs/qwen3/prefill.yaml"
                ])
            );
            assert_eq!(a[6], "--override-engine-args");
            assert_eq!(a.len(), 8, "{a:?}: --disaggregation-mode removed");
            assert_eq!(
                trtllm_json(&a),
                json!({ "kv_cache_config": { "enable_block_reuse": false },
                "disable_overlap_scheduler": false, "cache_transceiver_config": null,
                "tensor_parallel_size": tp, "max_batch_size": 1, "max_num_tokens": 32768 })
            );
            let decode = graph_of(V07, Trtllm, &DeployRequest::DecodeOnly { tp });
            let a = args(&decode, "TRTLLMDecodeWorker");
            assert!(a[5].ends_with("decode.yaml") && a.len() == 8, "{a:?}");
            assert_eq!(
                trtllm_json(&a),
                json!({ "kv_cache_config": { "enable_block_reuse": true },
                "cache_transceiver_config": null, "tensor_parallel_size": tp })
            );
            assert_eq!(decode["spec"]["services"].as_object().unwrap().len(), 2);
        }
    }

    #[test]
    fn the_newest_trtllm_merges_into_an_existing_override_json() {
        let mut base: Value =
            serde_saphyr::from_str(&template(ServingBackend::Trtllm, DynamoVersion::V1_6, None).unwrap()).unwrap();
        let args_at = base
            .pointer_mut("/spec/services/decode/extraPodSpec/mainContainer/args")
            .unwrap();
        args_at
            .as_array_mut()
            .unwrap()
            .extend([json!("--override-engine-args"), json!(r#"{"max_seq_len": 4096}"#)]);
        let labels = labels("r1", "m");
        let spec = SweepSpec {
            name: "g",
            model: MODEL,
            backend: ServingBackend::Trtllm,
            dynamo_version: DynamoVersion::V1_6,
            isl: 2048,
            labels: &labels,
        };
        let text = serde_json::to_string(&base).unwrap();
        let graph = graph_from_template(&text, &spec, &DeployRequest::DecodeOnly { tp: 4 }).unwrap();
        let a = args(&graph, "decode");
        assert!(!a.iter().any(|x| x.starts_with("--trtllm.")), "{a:?}");
        assert_eq!(
            trtllm_json(&a),
            json!({ "max_seq_len": 4096, "kv_cache_config": { "enable_block_reuse": true },
            "cache_transceiver_config": null, "tensor_parallel_size": 4 })
        );
    }

    #[test]
    fn dynamo_07_needs_the_vllm_prefill_flag_and_drops_a_planner() {
        let labels = labels("r1", "m");
        let spec = SweepSpec {
            name: "g",
            model: MODEL,
            backend: ServingBackend::Vllm,
            dynamo_version: DynamoVersion::V0_7,
            isl: 2048,
            labels: &labels,
        };
        let text = template(ServingBackend::Vllm, DynamoVersion::V0_7, None)
            .unwrap()
            .replace("          - --is-prefill-worker\n", "");
        let err = graph_from_template(&text, &spec, &DeployRequest::PrefillOnly { tp: 1 }).unwrap_err();
        assert!(err.to_string().contains("has no --is-prefill-worker"), "{err}");
        // A base graph with a planner (keyed Planner, as in config_with_planner.yaml) loses it.
        let yaml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/dynamo-2026-01/aic_all/config_with_planner.yaml"
        ))
        .unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
        let text = serde_json::to_string(&docs[1]).unwrap();
        for conventions in [DynamoVersion::V0_7, DynamoVersion::V1_6] {
            let spec = SweepSpec {
                backend: ServingBackend::Trtllm,
                dynamo_version: conventions,
                ..spec.clone()
            };
            let graph = graph_from_template(&text, &spec, &DeployRequest::DecodeOnly { tp: 2 }).unwrap();
            let keys: Vec<&String> = graph["spec"]["services"].as_object().unwrap().keys().collect();
            assert_eq!(keys, ["Frontend", "TRTLLMDecodeWorker"], "{conventions:?}");
        }
    }

    #[test]
    fn a_graph_request_keeps_both_workers_with_their_replicas_and_tp() {
        let request = DeployRequest::Graph {
            prefill_workers: 2,
            prefill_tp: 2,
            decode_workers: 1,
            decode_tp: 4,
        };
        let graph = graph_of(DynamoVersion::V0_7, ServingBackend::Trtllm, &request);
        assert_eq!(graph["metadata"]["name"], "pc-x-1");
        assert_eq!(graph["metadata"]["labels"][LABEL_RUN], "r1");
        assert_eq!(graph["metadata"]["labels"][LABEL_METHOD], "aic_all");
        let prefill = &graph["spec"]["services"]["TRTLLMPrefillWorker"];
        assert_eq!(
            (&prefill["resources"]["limits"]["gpu"], &prefill["replicas"]),
            (&json!("2"), &json!(2))
        );
        let a = args(&graph, "TRTLLMPrefillWorker");
        assert_eq!(flag_value(&a, "--disaggregation-mode"), Some("prefill"));
        assert_eq!(trtllm_json(&a), json!({ "tensor_parallel_size": 2 }));
        assert_eq!(gpus(&graph), 2 * 2 + 4);
        let newest = graph_of(DynamoVersion::V1_6, ServingBackend::Trtllm, &request);
        assert_eq!(
            flag_value(&args(&newest, "decode"), "--trtllm.tensor_parallel_size"),
            Some("4")
        );
        let vllm = graph_of(DynamoVersion::V1_6, ServingBackend::Vllm, &request);
        assert_eq!(
            flag_value(&args(&vllm, "VllmDecodeWorker"), "--tensor-parallel-size"),
            Some("4")
        );
        assert_eq!(replicas(&vllm, "prefill"), Some(2));
    }

    #[test]
    fn names_that_break_a_limit_are_refused_before_anything_is_applied() {
        let labels = labels("r1", "m");
        let long = "g".repeat(30);
        let spec = SweepSpec {
            name: &long,
            model: MODEL,
            backend: ServingBackend::Trtllm,
            dynamo_version: DynamoVersion::V0_7,
            isl: 2048,
            labels: &labels,
        };
        let text = template(ServingBackend::Trtllm, DynamoVersion::V0_7, None).unwrap();
        let err = graph_from_template(&text, &spec, &DeployRequest::DecodeOnly { tp: 1 }).unwrap_err();
        assert!(err.to_string().contains("Grove allows 45"), "{err}");
        // The same name fits the newest graph, whose worker is named `decode`.
        let spec = SweepSpec {
            dynamo_version: DynamoVersion::V1_6,
            ..spec
        };
        let text = template(ServingBackend::Trtllm, DynamoVersion::V1_6, None).unwrap();
        assert!(graph_from_template(&text, &spec, &DeployRequest::DecodeOnly { tp: 1 }).is_ok());
    }

    fn fixture(method: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../tests/fixtures/dynamo-2026-01/{method}/config_with_planner.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn planned_objects_keep_the_file_but_rename_and_label() {
        let yaml = fixture("aic_all");
        let request = DeployRequest::Graph {
            prefill_workers: 1,
            prefill_tp: 1,
            decode_workers: 1,
            decode_tp: 2,
        };
        let (map, graph) = planned_objects(&yaml, "pc-x-2", &request, &labels("r1", "aic_all")).unwrap();
        assert_eq!(map["metadata"]["name"], "pc-x-2-profile");
        assert_eq!(map["metadata"]["labels"][LABEL_RUN], "r1");
        // The graph is the file's, with only the name, labels, the planner's volume and
        // --namespace changed: nothing (no null) is added.
        let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
        let mut expected = docs[1].clone();
        expected["metadata"] = json!({ "name": "pc-x-2", "labels": labels("r1", "aic_all") });
        let planner = expected.pointer_mut("/spec/services/Planner/extraPodSpec").unwrap();
        planner["volumes"][0]["configMap"]["name"] = json!("pc-x-2-profile");
        let planner_args = planner
            .pointer_mut("/mainContainer/args")
            .unwrap()
            .as_array_mut()
            .unwrap();
        let at = planner_args
            .iter()
            .position(|a| a == "--namespace=trtllm-disagg")
            .unwrap();
        planner_args[at] = json!("--namespace=pc-x-2");
        assert_eq!(graph, expected);
        let wrong = DeployRequest::Graph {
            prefill_workers: 1,
            prefill_tp: 4,
            decode_workers: 1,
            decode_tp: 2,
        };
        let err = planned_objects(&yaml, "pc-x-2", &wrong, &labels("r1", "m")).unwrap_err();
        assert!(err.to_string().contains("prefill TP 1"), "{err}");
        assert!(matches!(err, ManifestError::PlannedGraph(_)), "{err}");
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("aic_all"), "aic_all");
        assert_eq!(label_value("oracle 1x2"), "oracle-1x2");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
    }
}
