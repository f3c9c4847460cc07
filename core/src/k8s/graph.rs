//! Builds the Kubernetes objects of a deployment: a DynamoGraphDeployment from a base template,
//! or a method's `config_with_planner.yaml` as is, renamed and labelled.

use std::collections::BTreeMap;
use std::path::Path;

use profcmp_plugin_api::{DeployRequest, ServingBackend};
use serde_json::{json, Value};

use crate::dynamo::PROFILE_CONFIG_MAP;

/// Label carrying the run id on every object profcmp creates.
pub const LABEL_RUN: &str = "profcmp.dev/run-id";
/// Label carrying the method (or stage subject) an object was created for.
pub const LABEL_METHOD: &str = "profcmp.dev/method";
/// `app.kubernetes.io/managed-by`, set to `profcmp`.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// The shipped base graphs, one per serving framework.
const TRTLLM: &str = include_str!("../../data/k8s/trtllm.yaml");
const VLLM: &str = include_str!("../../data/k8s/vllm.yaml");
const SGLANG: &str = include_str!("../../data/k8s/sglang.yaml");

/// The labels of every object of one run and subject.
pub fn labels(run_id: &str, method: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_RUN.to_string(), label_value(run_id)),
        (LABEL_METHOD.to_string(), label_value(method)),
        (LABEL_MANAGED_BY.to_string(), "profcmp".to_string()),
    ])
}

/// The base graph for `backend`: `dir/<backend>.yaml` when a template directory is given and
/// has that file, else the shipped one.
pub fn template(backend: ServingBackend, dir: Option<&Path>) -> Result<String, String> {
    if let Some(path) = dir.map(|d| d.join(format!("{}.yaml", backend.as_str()))) {
        if path.exists() {
            return std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()));
        }
    }
    Ok(match backend {
        ServingBackend::Trtllm => TRTLLM,
        ServingBackend::Vllm => VLLM,
        ServingBackend::Sglang => SGLANG,
    }
    .to_string())
}

/// The DynamoGraphDeployment for `request`, made from a base graph: named `name`, labelled,
/// the model set, and each worker's replicas, TP and GPU limits (= TP) set. A prefill-only or
/// decode-only request keeps the frontend and that role's worker, in aggregated mode.
pub fn graph_from_template(
    template: &str,
    name: &str,
    model: &str,
    backend: ServingBackend,
    request: &DeployRequest,
    labels: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let mut graph: Value = serde_saphyr::from_str(template).map_err(|e| format!("base graph: not valid YAML: {e}"))?;
    if graph["kind"] != "DynamoGraphDeployment" {
        return Err("base graph: kind is not DynamoGraphDeployment".into());
    }
    let (keep, workers): (&[&str], Vec<(&str, u32, u32)>) = match *request {
        DeployRequest::PrefillOnly { tp } => (&["prefill"], vec![("prefill", 1, tp)]),
        DeployRequest::DecodeOnly { tp } => (&["decode"], vec![("decode", 1, tp)]),
        DeployRequest::Graph {
            prefill_workers,
            prefill_tp,
            decode_workers,
            decode_tp,
        } => (
            &["prefill", "decode"],
            vec![
                ("prefill", prefill_workers, prefill_tp),
                ("decode", decode_workers, decode_tp),
            ],
        ),
    };
    let aggregated = keep.len() == 1;
    let services = graph["spec"]["services"]
        .as_object_mut()
        .ok_or("base graph: no spec.services")?;
    services.retain(|_, s| role(s).is_none_or(|r| keep.contains(&r)));
    for (wanted, replicas, tp) in workers {
        let service = services
            .values_mut()
            .find(|s| role(s) == Some(wanted))
            .ok_or_else(|| format!("base graph: no worker with subComponentType: {wanted}"))?;
        service["replicas"] = json!(replicas);
        service["resources"] = json!({ "limits": { "gpu": tp.to_string() }, "requests": { "gpu": tp.to_string() } });
        let args = service["extraPodSpec"]["mainContainer"]["args"].take();
        let mut args: Vec<String> = serde_json::from_value(args).unwrap_or_default();
        set_model(&mut args, backend, model);
        set_tp(&mut args, backend, tp);
        if aggregated {
            remove_flag(&mut args, "--disaggregation-mode", true);
            remove_flag(&mut args, "--is-prefill-worker", false);
        }
        service["extraPodSpec"]["mainContainer"]["args"] = json!(args);
    }
    set_metadata(&mut graph, name, labels);
    Ok(graph)
}

/// A method's `config_with_planner.yaml` ready to apply: its ConfigMap and graph renamed after
/// `name` (the planner's volume and `--namespace` follow), labelled, otherwise as written. Fails
/// when its TPs are not the ones `request` asks for.
pub fn planned_objects(
    yaml: &str,
    name: &str,
    request: &DeployRequest,
    labels: &BTreeMap<String, String>,
) -> Result<(Value, Value), String> {
    let data = crate::dynamo::read_profile_data(yaml)?;
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
    let mut config_map = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .cloned()
        .ok_or("config_with_planner.yaml: no ConfigMap")?;
    let mut graph = docs
        .iter()
        .find(|d| d["kind"] == "DynamoGraphDeployment")
        .cloned()
        .ok_or("config_with_planner.yaml: no DynamoGraphDeployment")?;
    let old_map = config_map["metadata"]["name"]
        .as_str()
        .unwrap_or(PROFILE_CONFIG_MAP)
        .to_string();
    let old_graph = graph["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let map_name = format!("{name}-profile");
    set_metadata(&mut config_map, &map_name, labels);
    set_metadata(&mut graph, name, labels);
    if let Some(services) = graph["spec"]["services"].as_object_mut() {
        for service in services.values_mut() {
            let pod = &mut service["extraPodSpec"];
            for volume in pod["volumes"].as_array_mut().into_iter().flatten() {
                if volume["configMap"]["name"] == old_map.as_str() {
                    volume["configMap"]["name"] = json!(map_name);
                }
            }
            for arg in pod["mainContainer"]["args"].as_array_mut().into_iter().flatten() {
                if arg.as_str() == Some(&format!("--namespace={old_graph}")) {
                    *arg = json!(format!("--namespace={name}"));
                }
            }
        }
    }
    Ok((config_map, graph))
}

/// GPUs a graph holds: the sum over services of replicas x GPU limit.
pub fn gpus(graph: &Value) -> u32 {
    let Some(services) = graph["spec"]["services"].as_object() else {
        return 0;
    };
    services
        .values()
        .map(|s| {
            let limit = match &s["resources"]["limits"]["gpu"] {
                Value::String(v) => v.trim().parse().unwrap_or(0),
                Value::Number(n) => n.as_u64().unwrap_or(0) as u32,
                _ => 0,
            };
            limit * s["replicas"].as_u64().unwrap_or(1) as u32
        })
        .sum()
}

/// Replicas of the worker of `role` (`prefill`/`decode`) in a graph.
pub fn replicas(graph: &Value, role_name: &str) -> Option<u32> {
    let services = graph["spec"]["services"].as_object()?;
    let service = services.values().find(|s| role(s) == Some(role_name))?;
    Some(service["replicas"].as_u64().unwrap_or(1) as u32)
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

fn role(service: &Value) -> Option<&str> {
    service["subComponentType"].as_str()
}

fn set_metadata(object: &mut Value, name: &str, labels: &BTreeMap<String, String>) {
    let metadata = &mut object["metadata"];
    metadata["name"] = json!(name);
    if let Some(ns) = metadata.as_object_mut() {
        ns.remove("namespace");
    }
    let mut merged: BTreeMap<String, String> = serde_json::from_value(metadata["labels"].take()).unwrap_or_default();
    merged.extend(labels.clone());
    metadata["labels"] = json!(merged);
}

fn set_model(args: &mut Vec<String>, backend: ServingBackend, model: &str) {
    let flags: &[&str] = match backend {
        ServingBackend::Vllm => &["--model"],
        ServingBackend::Trtllm | ServingBackend::Sglang => &["--model-path", "--served-model-name"],
    };
    for flag in flags {
        set_flag(args, flag, model);
    }
}

/// Sets the TP as Dynamo's profiler does: TRT-LLM through `--override-engine-args` (JSON,
/// merged), vLLM `--tensor-parallel-size`, SGLang `--tp`.
fn set_tp(args: &mut Vec<String>, backend: ServingBackend, tp: u32) {
    match backend {
        ServingBackend::Trtllm => {
            let flag = "--override-engine-args";
            let mut overrides: serde_json::Map<String, Value> = flag_value(args, flag)
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or_default();
            overrides.insert("tensor_parallel_size".into(), json!(tp));
            set_flag(args, flag, &Value::Object(overrides).to_string());
        }
        ServingBackend::Vllm => set_flag(args, "--tensor-parallel-size", &tp.to_string()),
        ServingBackend::Sglang => set_flag(args, "--tp", &tp.to_string()),
    }
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

fn remove_flag(args: &mut Vec<String>, flag: &str, with_value: bool) {
    if let Some(i) = args.iter().position(|a| a == flag) {
        let end = if with_value { (i + 2).min(args.len()) } else { i + 1 };
        args.drain(i..end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(backend: ServingBackend, request: &DeployRequest) -> Value {
        let template = template(backend, None).unwrap();
        graph_from_template(
            &template,
            "pc-x-1",
            "Qwen/Qwen3-8B",
            backend,
            request,
            &labels("r1", "aic_all"),
        )
        .unwrap()
    }

    fn args(graph: &Value, service: &str) -> Vec<String> {
        serde_json::from_value(graph["spec"]["services"][service]["extraPodSpec"]["mainContainer"]["args"].clone())
            .unwrap()
    }

    #[test]
    fn sets_tp_gpus_model_and_labels_like_dynamo() {
        let request = DeployRequest::Graph {
            prefill_workers: 2,
            prefill_tp: 2,
            decode_workers: 1,
            decode_tp: 4,
        };
        let graph = graph_of(ServingBackend::Trtllm, &request);
        assert_eq!(graph["metadata"]["name"], "pc-x-1");
        assert_eq!(graph["metadata"]["labels"][LABEL_RUN], "r1");
        assert_eq!(graph["metadata"]["labels"][LABEL_METHOD], "aic_all");
        let prefill = &graph["spec"]["services"]["TRTLLMPrefillWorker"];
        assert_eq!(prefill["resources"]["limits"]["gpu"], "2");
        assert_eq!(prefill["replicas"], 2);
        let a = args(&graph, "TRTLLMPrefillWorker");
        assert_eq!(
            flag_value(&a, "--override-engine-args"),
            Some(r#"{"tensor_parallel_size":2}"#)
        );
        assert_eq!(flag_value(&a, "--model-path"), Some("Qwen/Qwen3-8B"));
        assert_eq!(flag_value(&a, "--disaggregation-mode"), Some("prefill"));
        assert_eq!(gpus(&graph), 2 * 2 + 4);

        let vllm = graph_of(ServingBackend::Vllm, &request);
        assert_eq!(
            flag_value(&args(&vllm, "VllmDecodeWorker"), "--tensor-parallel-size"),
            Some("4")
        );
        let sglang = graph_of(ServingBackend::Sglang, &request);
        assert_eq!(flag_value(&args(&sglang, "prefill"), "--tp"), Some("2"));
    }

    #[test]
    fn single_role_deployments_are_aggregated() {
        let graph = graph_of(ServingBackend::Vllm, &DeployRequest::PrefillOnly { tp: 8 });
        let services = graph["spec"]["services"].as_object().unwrap();
        assert_eq!(services.keys().collect::<Vec<_>>(), ["Frontend", "VllmPrefillWorker"]);
        assert!(!args(&graph, "VllmPrefillWorker").contains(&"--is-prefill-worker".to_string()));
        let graph = graph_of(ServingBackend::Trtllm, &DeployRequest::DecodeOnly { tp: 1 });
        assert_eq!(
            flag_value(&args(&graph, "TRTLLMDecodeWorker"), "--disaggregation-mode"),
            None
        );
        assert_eq!(gpus(&graph), 1);
    }

    #[test]
    fn planned_objects_keep_the_file_but_rename_and_label() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/dynamo-2026-01/aic_all/config_with_planner.yaml"
        );
        let yaml = std::fs::read_to_string(path).unwrap();
        let request = DeployRequest::Graph {
            prefill_workers: 1,
            prefill_tp: 1,
            decode_workers: 1,
            decode_tp: 2,
        };
        let (map, graph) = planned_objects(&yaml, "pc-x-2", &request, &labels("r1", "aic_all")).unwrap();
        assert_eq!(map["metadata"]["name"], "pc-x-2-profile");
        assert_eq!(map["metadata"]["labels"][LABEL_RUN], "r1");
        assert_eq!(graph["metadata"]["name"], "pc-x-2");
        let planner = &graph["spec"]["services"]["Planner"]["extraPodSpec"];
        assert_eq!(planner["volumes"][0]["configMap"]["name"], "pc-x-2-profile");
        let planner_args = planner["mainContainer"]["args"].as_array().unwrap();
        assert!(planner_args.iter().any(|a| a == "--namespace=pc-x-2"));
        assert!(planner_args.iter().any(|a| a == "--load-predictor=arima"), "kept as is");
        let wrong = DeployRequest::Graph {
            prefill_workers: 1,
            prefill_tp: 4,
            decode_workers: 1,
            decode_tp: 2,
        };
        let err = planned_objects(&yaml, "pc-x-2", &wrong, &labels("r1", "m")).unwrap_err();
        assert!(err.contains("prefill TP 1"), "{err}");
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("aic_all"), "aic_all");
        assert_eq!(label_value("oracle 1x2"), "oracle-1x2");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
    }
}
