//! Dynamo's `config_with_planner.yaml`: written as Dynamo's profiler writes it, and read back.
//!
//! The file holds two YAML documents:
//! 1. ConfigMap `planner-profile-data` whose `data` has `prefill_raw_data.json` and
//!    `decode_raw_data.json` as JSON strings (the planner's interpolation data);
//! 2. a DynamoGraphDeployment (`nvidia.com/v1alpha1`) with the services Frontend, Planner and
//!    one prefill and one decode worker whose GPU limits equal their TP.
//!
//! Keys are written in sorted order, as PyYAML writes them in Dynamo's real files
//! (`tests/fixtures/dynamo-2026-01/*/config_with_planner.yaml`).

use profcmp_plugin_api::{DecodeProfile, PlannerProfile, PrefillProfile, ServingBackend};
use serde_json::{json, Value};

pub use crate::spec::DynamoVersion;

/// Name of the ConfigMap holding the planner's profile data.
pub const PROFILE_CONFIG_MAP: &str = "planner-profile-data";
/// Key of the prefill interpolation data in the ConfigMap.
pub const PREFILL_KEY: &str = "prefill_raw_data.json";
/// Key of the decode interpolation data in the ConfigMap.
pub const DECODE_KEY: &str = "decode_raw_data.json";

/// What the DynamoGraphDeployment of a method's recommendation contains.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphSpec {
    /// Graph name (also the planner's namespace), e.g. `trtllm-disagg`.
    pub name: String,
    /// Hugging Face model id.
    pub model: String,
    /// Serving framework.
    pub backend: ServingBackend,
    /// Container image of every service.
    pub image: String,
    /// SLA TTFT target given to the planner, ms.
    pub ttft_ms: f64,
    /// SLA ITL target given to the planner, ms.
    pub itl_ms: f64,
    /// Most GPUs the planner may use.
    pub max_gpu_budget: u32,
    /// Tensor-parallel size (= GPUs) of a prefill worker.
    pub prefill_tp: u32,
    /// Tensor-parallel size (= GPUs) of a decode worker.
    pub decode_tp: u32,
}

impl GraphSpec {
    /// A graph named `<backend>-disagg` on Dynamo 0.7.0's runtime image for the backend.
    pub fn new(
        model: &str,
        backend: ServingBackend,
        ttft_ms: f64,
        itl_ms: f64,
        prefill_tp: u32,
        decode_tp: u32,
    ) -> Self {
        let runtime = match backend {
            // Unknown is only read from a newer host's request, never built by this host.
            ServingBackend::Trtllm | ServingBackend::Unknown => "tensorrtllm-runtime",
            ServingBackend::Vllm => "vllm-runtime",
            ServingBackend::Sglang => "sglang-runtime",
        };
        GraphSpec {
            name: format!("{}-disagg", backend.as_str()),
            model: model.to_string(),
            backend,
            image: format!("nvcr.io/nvidia/ai-dynamo/{runtime}:0.7.0"),
            ttft_ms,
            itl_ms,
            max_gpu_budget: 8,
            prefill_tp,
            decode_tp,
        }
    }
}

/// What `config_with_planner.yaml` says: the profile data, the TPs and the planner's targets.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannerData {
    /// The planner's interpolation data.
    pub profile: PlannerProfile,
    /// Prefill TP (the prefill worker's GPU limit, else `--prefill-engine-num-gpu`).
    pub prefill_tp: u32,
    /// Decode TP (the decode worker's GPU limit, else `--decode-engine-num-gpu`).
    pub decode_tp: u32,
    /// `--ttft` of the planner, ms.
    pub ttft_ms: Option<f64>,
    /// `--itl` of the planner, ms.
    pub itl_ms: Option<f64>,
    /// `--max-gpu-budget` of the planner.
    pub max_gpu_budget: Option<u32>,
    /// `--backend` of the planner.
    pub backend: Option<String>,
    /// `--adjustment-interval` of the planner, s.
    pub adjustment_interval_s: Option<f64>,
    /// `--load-predictor` of the planner.
    pub load_predictor: Option<String>,
    /// `--load-prediction-window-size` of the planner.
    pub window_size: Option<usize>,
    /// `--min-endpoint` of the planner.
    pub min_endpoint: Option<u32>,
    /// Inconsistencies found while reading (e.g. GPU limit vs planner argument), for the report.
    pub notes: Vec<String>,
}

/// Why a `config_with_planner.yaml` cannot be written or read. Reading one is checking a method's
/// output (or a file given to profcmp): every variant is bad input, to be fixed in that file.
#[derive(Debug, thiserror::Error)]
pub enum DynamoConfigError {
    /// The profile data cannot be serialized (not finite numbers, for instance).
    #[error("config_with_planner.yaml: {0}")]
    Write(String),
    /// The text is not YAML.
    #[error("config_with_planner.yaml: not valid YAML: {0}")]
    Yaml(String),
    /// A document or field the planner needs is absent.
    #[error("config_with_planner.yaml: {0} (write it as Dynamo's profiler does: a ConfigMap with the profile data and the DynamoGraphDeployment)")]
    Missing(&'static str),
    /// A profile blob of the ConfigMap is absent or not the planner's JSON.
    #[error("config_with_planner.yaml: {key}{message}")]
    Blob {
        /// The ConfigMap key.
        key: &'static str,
        /// What is wrong with it (with its leading separator).
        message: String,
    },
    /// Neither the worker's GPU limit nor the planner's argument gives a role's TP.
    #[error("config_with_planner.yaml: no {role} worker GPU limit and no --{role}-engine-num-gpu; give the {role} worker a GPU limit or the planner that argument")]
    NoTp {
        /// `prefill` or `decode`.
        role: &'static str,
    },
}

/// Writes `config_with_planner.yaml` for `spec` with `profile` as the planner's data.
pub fn write_config_with_planner(spec: &GraphSpec, profile: &PlannerProfile) -> Result<String, DynamoConfigError> {
    let write = |e: &dyn std::fmt::Display| DynamoConfigError::Write(e.to_string());
    let prefill = serde_json::to_string(&profile.prefill).map_err(|e| write(&e))?;
    let decode = serde_json::to_string(&profile.decode).map_err(|e| write(&e))?;
    let config_map = json!({
        "apiVersion": "v1",
        "data": { DECODE_KEY: decode, PREFILL_KEY: prefill },
        "kind": "ConfigMap",
        "metadata": { "name": PROFILE_CONFIG_MAP },
    });
    let (prefill_name, decode_name) = worker_names(spec.backend);
    let mut services = serde_json::Map::new();
    services.insert("Frontend".into(), frontend(spec));
    services.insert("Planner".into(), planner(spec));
    services.insert(decode_name.into(), worker(spec, "decode", spec.decode_tp));
    services.insert(prefill_name.into(), worker(spec, "prefill", spec.prefill_tp));
    let graph = json!({
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "metadata": { "name": spec.name },
        "spec": { "services": services },
    });
    serde_saphyr::to_string_multiple(&[config_map, graph]).map_err(|e| write(&e))
}

/// Reads the profile data, the TPs and the planner's targets from `config_with_planner.yaml`.
pub fn read_profile_data(yaml: &str) -> Result<PlannerData, DynamoConfigError> {
    use DynamoConfigError::Missing;
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| DynamoConfigError::Yaml(e.to_string()))?;
    let config_map = docs
        .iter()
        .find(|d| kind(d) == "ConfigMap" && d["data"].get(PREFILL_KEY).is_some())
        .ok_or(Missing("no ConfigMap with prefill_raw_data.json"))?;
    let prefill: PrefillProfile = blob(&config_map["data"], PREFILL_KEY)?;
    let decode: DecodeProfile = blob(&config_map["data"], DECODE_KEY)?;
    let graph = docs
        .iter()
        .find(|d| kind(d) == "DynamoGraphDeployment")
        .ok_or(Missing("no DynamoGraphDeployment"))?;
    let services = graph["spec"]["services"]
        .as_object()
        .ok_or(Missing("the DynamoGraphDeployment has no spec.services"))?;
    let args = services
        .values()
        .find(|s| s["componentType"] == "planner")
        .map(planner_args)
        .unwrap_or_default();
    let arg = |name: &str| args.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let arg_f64 = |name: &str| arg(name).and_then(|v| v.parse::<f64>().ok());
    let arg_u32 = |name: &str| arg(name).and_then(|v| v.parse::<u32>().ok());
    let mut notes = Vec::new();
    let mut tp = |role: &'static str| -> Result<u32, DynamoConfigError> {
        let limit = services.values().find(|s| is_worker(s, role)).and_then(gpu_limit);
        let from_arg = arg_u32(&format!("{role}-engine-num-gpu"));
        match (limit, from_arg) {
            (Some(l), Some(a)) if l != a => {
                notes.push(format!(
                    "config_with_planner.yaml: {role} worker GPU limit {l} differs from --{role}-engine-num-gpu={a}; using {l}"
                ));
                Ok(l)
            }
            (Some(v), _) | (None, Some(v)) => Ok(v),
            (None, None) => Err(DynamoConfigError::NoTp { role }),
        }
    };
    let prefill_tp = tp("prefill")?;
    let decode_tp = tp("decode")?;
    Ok(PlannerData {
        profile: PlannerProfile::new(prefill, decode),
        prefill_tp,
        decode_tp,
        ttft_ms: arg_f64("ttft"),
        itl_ms: arg_f64("itl"),
        max_gpu_budget: arg_u32("max-gpu-budget"),
        backend: arg("backend"),
        adjustment_interval_s: arg_f64("adjustment-interval"),
        load_predictor: arg("load-predictor"),
        window_size: arg("load-prediction-window-size").and_then(|v| v.parse().ok()),
        min_endpoint: arg_u32("min-endpoint"),
        notes,
    })
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

fn blob<T: for<'de> serde::Deserialize<'de>>(data: &Value, key: &'static str) -> Result<T, DynamoConfigError> {
    let text = data[key].as_str().ok_or_else(|| DynamoConfigError::Blob {
        key,
        message: " is missing or not a string".into(),
    })?;
    serde_json::from_str(text).map_err(|e| DynamoConfigError::Blob {
        key,
        message: format!(": {e}"),
    })
}

/// A worker of `role` (`prefill`/`decode`): by `subComponentType`, else by its service name.
fn is_worker(service: &Value, role: &str) -> bool {
    match service["subComponentType"].as_str() {
        Some(sub) => sub == role,
        None => {
            service["componentType"] == "worker"
                && service["extraPodSpec"]["mainContainer"]["args"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(role)))
        }
    }
}

fn gpu_limit(service: &Value) -> Option<u32> {
    match &service["resources"]["limits"]["gpu"] {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|v| u32::try_from(v).ok()),
        _ => None,
    }
}

/// The planner's `--key=value` (or `--key value`) arguments, keys without the dashes.
fn planner_args(service: &Value) -> Vec<(String, String)> {
    let list: Vec<&str> = service["extraPodSpec"]["mainContainer"]["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut i = 0;
    while i < list.len() {
        if let Some(flag) = list[i].strip_prefix("--") {
            if let Some((k, v)) = flag.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            } else if let Some(next) = list.get(i + 1).filter(|n| !n.starts_with("--")) {
                out.push((flag.to_string(), next.to_string()));
                i += 1;
            }
        }
        i += 1;
    }
    out
}

fn worker_names(backend: ServingBackend) -> (&'static str, &'static str) {
    match backend {
        ServingBackend::Trtllm | ServingBackend::Unknown => ("TRTLLMPrefillWorker", "TRTLLMDecodeWorker"),
        ServingBackend::Vllm => ("VllmPrefillWorker", "VllmDecodeWorker"),
        ServingBackend::Sglang => ("prefill", "decode"),
    }
}

fn frontend(spec: &GraphSpec) -> Value {
    json!({
        "componentType": "frontend",
        "extraPodSpec": { "mainContainer": {
            "args": null, "command": null, "image": spec.image, "workingDir": null } },
        "replicas": 1,
        "resources": null,
        "subComponentType": null,
    })
}

fn planner(spec: &GraphSpec) -> Value {
    let args = [
        format!("--backend={}", spec.backend.as_str()),
        format!("--itl={}", spec.itl_ms),
        format!("--ttft={}", spec.ttft_ms),
        "--adjustment-interval=180".to_string(),
        "--environment=kubernetes".to_string(),
        "--load-prediction-window-size=50".to_string(),
        "--load-predictor=arima".to_string(),
        format!("--max-gpu-budget={}", spec.max_gpu_budget),
        "--min-endpoint=1".to_string(),
        "--prometheus-port=0".to_string(),
        format!("--namespace={}", spec.name),
        format!("--prefill-engine-num-gpu={}", spec.prefill_tp),
        format!("--decode-engine-num-gpu={}", spec.decode_tp),
        "--profile-results-dir=/workspace/profiling_results".to_string(),
    ];
    json!({
        "componentType": "planner",
        "extraPodSpec": {
            "mainContainer": {
                "args": args,
                "command": ["python3", "-m", "planner_sla"],
                "image": spec.image,
                "volumeMounts": [{
                    "mountPath": "/workspace/profiling_results",
                    "name": PROFILE_CONFIG_MAP,
                    "readOnly": true,
                }],
                "workingDir": "/workspace/components/src/dynamo/planner",
            },
            "volumes": [{ "configMap": { "name": PROFILE_CONFIG_MAP }, "name": PROFILE_CONFIG_MAP }],
        },
        "replicas": 1,
    })
}

fn worker(spec: &GraphSpec, role: &str, tp: u32) -> Value {
    let model = spec.model.as_str();
    let (module, args): (&str, Vec<String>) = match spec.backend {
        ServingBackend::Trtllm | ServingBackend::Unknown => (
            "dynamo.trtllm",
            vec![
                "--model-path".into(),
                model.into(),
                "--served-model-name".into(),
                model.into(),
                "--extra-engine-args".into(),
                format!("./examples/backends/trtllm/engine_configs/qwen3/{role}.yaml"),
                "--disaggregation-mode".into(),
                role.into(),
                "--override-engine-args".into(),
                format!("{{\"tensor_parallel_size\": {tp}}}"),
            ],
        ),
        ServingBackend::Vllm => {
            let mut args = vec![
                "--model".into(),
                model.into(),
                "--tensor-parallel-size".into(),
                tp.to_string(),
            ];
            if role == "prefill" {
                args.push("--is-prefill-worker".into());
            }
            ("dynamo.vllm", args)
        }
        ServingBackend::Sglang => (
            "dynamo.sglang",
            vec![
                "--model-path".into(),
                model.into(),
                "--served-model-name".into(),
                model.into(),
                "--tp".into(),
                tp.to_string(),
                "--disaggregation-mode".into(),
                role.into(),
            ],
        ),
    };
    let gpus = tp.to_string();
    json!({
        "componentType": "worker",
        "envFromSecret": "hf-token-secret",
        "extraPodSpec": { "mainContainer": {
            "args": args,
            "command": ["python3", "-m", module],
            "image": spec.image,
            "workingDir": "/workspace/",
        } },
        "replicas": 1,
        "resources": { "limits": { "gpu": gpus }, "requests": { "gpu": gpus } },
        "subComponentType": role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(method: &str) -> String {
        let path = format!(
            "{}/../tests/fixtures/dynamo-2026-01/{method}/config_with_planner.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    fn profile() -> PlannerProfile {
        PlannerProfile::new(
            PrefillProfile::new(vec![100.0, 2621.0], vec![46.3, 286.2], vec![2159.6, 9159.2]),
            DecodeProfile::new(
                vec![0.04, 0.5],
                vec![350.0, 350.0],
                vec![20.1, 21.3],
                vec![49.4, 605.4],
                8224,
            ),
        )
    }

    #[test]
    fn round_trips_profile_data_and_tps() {
        for backend in [ServingBackend::Trtllm, ServingBackend::Vllm, ServingBackend::Sglang] {
            let spec = GraphSpec::new("Qwen/Qwen3-32B", backend, 500.0, 50.0, 2, 4);
            let yaml = write_config_with_planner(&spec, &profile()).unwrap();
            let back = read_profile_data(&yaml).unwrap();
            assert_eq!(back.profile, profile());
            assert_eq!((back.prefill_tp, back.decode_tp), (2, 4));
            assert_eq!(
                (back.ttft_ms, back.itl_ms, back.max_gpu_budget),
                (Some(500.0), Some(50.0), Some(8))
            );
            assert_eq!(back.backend.as_deref(), Some(backend.as_str()));
            assert!(back.notes.is_empty());
        }
    }

    #[test]
    fn writes_dynamo_shape() {
        let spec = GraphSpec::new("Qwen/Qwen3-32B", ServingBackend::Trtllm, 500.0, 50.0, 1, 2);
        let yaml = write_config_with_planner(&spec, &profile()).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["metadata"]["name"], "planner-profile-data");
        assert_eq!(docs[1]["apiVersion"], "nvidia.com/v1alpha1");
        let services = &docs[1]["spec"]["services"];
        assert_eq!(services["TRTLLMDecodeWorker"]["resources"]["limits"]["gpu"], "2");
        assert_eq!(services["TRTLLMPrefillWorker"]["subComponentType"], "prefill");
        let args = services["Planner"]["extraPodSpec"]["mainContainer"]["args"]
            .as_array()
            .unwrap();
        for want in [
            "--backend=trtllm",
            "--itl=50",
            "--ttft=500",
            "--adjustment-interval=180",
            "--max-gpu-budget=8",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} missing");
        }
        assert!(services["Frontend"].is_object());
    }

    #[test]
    fn reads_online_all_fixture() {
        let data = read_profile_data(&fixture("online_all")).unwrap();
        assert_eq!((data.prefill_tp, data.decode_tp), (1, 1));
        assert_eq!(data.profile.prefill.prefill_isl.len(), 17);
        assert_eq!(data.profile.decode.max_kv_tokens, 8224);
        assert_eq!(data.profile.decode.z_itl.len(), 7);
        assert_eq!((data.ttft_ms, data.itl_ms), (Some(500.0), Some(50.0)));
    }

    #[test]
    fn reads_aic_all_fixture_with_tp2_decode() {
        let data = read_profile_data(&fixture("aic_all")).unwrap();
        assert_eq!((data.prefill_tp, data.decode_tp), (1, 2));
        assert_eq!(data.profile.decode.max_kv_tokens, 502272);
        assert_eq!(data.profile.decode.x_kv_usage.len(), 36);
        assert!((data.profile.prefill.prefill_ttft[0] - 19.855).abs() < 1e-9);
    }

    #[test]
    fn reports_what_is_wrong() {
        assert!(read_profile_data("a: [")
            .unwrap_err()
            .to_string()
            .starts_with("config_with_planner.yaml: not valid YAML"));
        let err = read_profile_data("kind: Service\n").unwrap_err();
        assert!(err.to_string().contains("no ConfigMap"), "{err}");
        // Without a GPU limit or the planner's argument, the role whose TP is unknown is named.
        let no_decode_tp = fixture("online_all").replace("decode-engine-num-gpu", "decode-engine-gpus");
        let no_decode_tp = no_decode_tp.replace("gpu: '1'", "cpu: '1'");
        assert!(matches!(
            read_profile_data(&no_decode_tp),
            Err(DynamoConfigError::NoTp { role: "decode" })
        ));
        // GPU limits of 2 against --prefill/decode-engine-num-gpu=1: the limits win, with a note each.
        let yaml = fixture("online_all").replace("'1'", "'2'");
        let data = read_profile_data(&yaml).unwrap();
        assert_eq!(data.prefill_tp, 2);
        assert_eq!(data.notes.len(), 2);
    }
}
