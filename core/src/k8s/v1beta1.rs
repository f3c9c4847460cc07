//! `nvidia.com/v1alpha1` DynamoGraphDeployments converted to `nvidia.com/v1beta1`, the version
//! the newest Dynamo stores (v1alpha1 is served but deprecated there; Dynamo `b396d4900`,
//! 2026-08). profcmp builds graphs in v1alpha1 form and converts them when the cluster prefers
//! v1beta1, so it keeps working when v1alpha1 goes.
//!
//! The mapping, per service (key K) to component, from the two versions' schemas in the newest
//! CRD (`deploy/operator/config/crd/bases/nvidia.com_dynamographdeployments.yaml` @ 2a6da14c8):
//! - `spec.services.K` -> an entry of `spec.components` with `name: K`;
//! - `componentType` frontend / planner / epp -> `type` the same; `worker` ->
//!   `subComponentType` (prefill / decode) when set, else `worker`;
//! - `replicas`, `globalDynamoNamespace`, `modelRef`, `multinode`, `runtimeVersionOverride` ->
//!   the same fields;
//! - `extraPodSpec` (a PodSpec plus `mainContainer`) -> `podTemplate.spec`, `mainContainer` ->
//!   the first container, named `main`;
//! - `envFromSecret: S` -> the main container's `envFrom: [{secretRef: {name: S}}]`; `envs` ->
//!   its `env`;
//! - `resources.{limits,requests}.{gpu,cpu,memory}` -> the main container's resources
//!   (`gpu` as `nvidia.com/gpu`, the key the newest profiler reads);
//! - `dynamoNamespace` and `serviceName` are dropped (deprecated: the graph's name is used);
//! - top level: `backendFramework`, `annotations`, `labels` kept, `envs` -> `env`.
//!
//! A `null` counts as absent, as the API server prunes it. Anything else cannot be converted
//! faithfully here and is an error that says so, rather than
//! a silently different deployment.

use serde_json::{json, Map, Value};

use super::ManifestError;

/// The group's versions profcmp speaks, newest first.
pub const V1BETA1: &str = "nvidia.com/v1beta1";
/// The version every Dynamo release so far serves.
pub const V1ALPHA1: &str = "nvidia.com/v1alpha1";

/// The v1beta1 form of a v1alpha1 graph (a v1beta1 graph is returned as is).
pub fn graph_to_v1beta1(graph: &Value) -> Result<Value, ManifestError> {
    graph_to_v1beta1_text(graph).map_err(ManifestError::Conversion)
}

fn graph_to_v1beta1_text(graph: &Value) -> Result<Value, String> {
    let api = graph.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api == V1BETA1 {
        return Ok(graph.clone());
    }
    let name = graph.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
    let fail = |what: String| format!("cannot convert DynamoGraphDeployment {name} to {V1BETA1}: {what}");
    if api != V1ALPHA1 {
        return Err(fail(format!("its apiVersion is {api:?}")));
    }
    let spec = graph
        .get("spec")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("no spec".into()))?;
    let mut out_spec = Map::new();
    for (key, value) in spec.iter().filter(|(_, v)| !v.is_null()) {
        match key.as_str() {
            "services" => {
                let services = value
                    .as_object()
                    .ok_or_else(|| fail("spec.services is not a map".into()))?;
                let mut components = Vec::new();
                for (service, body) in services {
                    components.push(component(service, body).map_err(|e| fail(format!("service {service}: {e}")))?);
                }
                out_spec.insert("components".into(), Value::Array(components));
            }
            "envs" => {
                out_spec.insert("env".into(), value.clone());
            }
            "backendFramework" | "annotations" | "labels" | "priorityClassName" => {
                out_spec.insert(key.clone(), value.clone());
            }
            other => return Err(fail(format!("spec.{other} has no v1beta1 mapping here"))),
        }
    }
    let mut out = graph.as_object().cloned().unwrap_or_default();
    out.insert("apiVersion".into(), json!(V1BETA1));
    out.insert("spec".into(), Value::Object(out_spec));
    Ok(Value::Object(out))
}

fn component(name: &str, service: &Value) -> Result<Value, String> {
    let service = service.as_object().ok_or("not an object")?;
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    let mut pod = Map::new();
    let mut main = Map::new();
    main.insert("name".into(), json!("main"));
    let mut containers = Vec::new();
    // A null is absent: the API server prunes it (not `nullable` in the schema).
    for (key, value) in service.iter().filter(|(_, v)| !v.is_null()) {
        match key.as_str() {
            "componentType" => {
                let kind = value.as_str().ok_or("componentType is not a string")?;
                let sub = service.get("subComponentType").and_then(Value::as_str);
                let kind = match (kind, sub) {
                    ("frontend" | "planner" | "epp", _) => kind,
                    ("worker", Some(role @ ("prefill" | "decode"))) => role,
                    ("worker", _) => "worker",
                    (other, _) => return Err(format!("componentType {other:?} has no v1beta1 type")),
                };
                out.insert("type".into(), json!(kind));
            }
            "subComponentType" | "dynamoNamespace" | "serviceName" => {}
            "replicas" | "globalDynamoNamespace" | "modelRef" | "multinode" | "runtimeVersionOverride" => {
                out.insert(key.clone(), value.clone());
            }
            "envFromSecret" => {
                let secret = value.as_str().ok_or("envFromSecret is not a string")?;
                push(&mut main, "envFrom", json!({ "secretRef": { "name": secret } }));
            }
            "envs" => {
                for env in value.as_array().into_iter().flatten() {
                    push(&mut main, "env", env.clone());
                }
            }
            "resources" => main_resources(&mut main, value)?,
            "extraPodSpec" => {
                let spec = value.as_object().ok_or("extraPodSpec is not an object")?;
                for (field, v) in spec.iter().filter(|(_, v)| !v.is_null()) {
                    match field.as_str() {
                        "mainContainer" => {
                            let container = v.as_object().ok_or("mainContainer is not an object")?;
                            for (k, v) in container.iter().filter(|(_, v)| !v.is_null()) {
                                match (k.as_str(), main.get_mut(k)) {
                                    ("name", _) => {}
                                    (_, Some(Value::Array(existing))) => {
                                        existing.extend(v.as_array().cloned().unwrap_or_default())
                                    }
                                    _ => {
                                        main.insert(k.clone(), v.clone());
                                    }
                                }
                            }
                        }
                        "containers" => containers.extend(v.as_array().cloned().unwrap_or_default()),
                        _ => {
                            pod.insert(field.clone(), v.clone());
                        }
                    }
                }
            }
            other => return Err(format!("{other} has no v1beta1 mapping here")),
        }
    }
    containers.insert(0, Value::Object(main));
    pod.insert("containers".into(), Value::Array(containers));
    out.insert("podTemplate".into(), json!({ "spec": pod }));
    Ok(Value::Object(out))
}

/// v1alpha1 `resources` onto the main container (`gpu` -> `nvidia.com/gpu`).
fn main_resources(main: &mut Map<String, Value>, resources: &Value) -> Result<(), String> {
    for (side, values) in resources.as_object().ok_or("resources is not an object")? {
        if side != "limits" && side != "requests" {
            return Err(format!("resources.{side} has no v1beta1 mapping here"));
        }
        for (key, value) in values.as_object().into_iter().flatten() {
            let key = match key.as_str() {
                "gpu" => "nvidia.com/gpu",
                "cpu" | "memory" => key.as_str(),
                other => return Err(format!("resources.{side}.{other} has no v1beta1 mapping here")),
            };
            let resources = main.entry("resources").or_insert_with(|| json!({}));
            let slot = resources
                .as_object_mut()
                .ok_or("mainContainer.resources is not an object")?
                .entry(side.clone())
                .or_insert_with(|| json!({}));
            slot.as_object_mut()
                .ok_or("mainContainer resources are not objects")?
                .insert(key.to_string(), value.clone());
        }
    }
    Ok(())
}

fn push(map: &mut Map<String, Value>, key: &str, item: Value) {
    let list = map.entry(key.to_string()).or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_become_components_with_a_main_container() {
        let graph = json!({
            "apiVersion": V1ALPHA1, "kind": "DynamoGraphDeployment", "metadata": { "name": "g" },
            "spec": { "services": {
                "Frontend": { "componentType": "frontend", "replicas": 1,
                              "extraPodSpec": { "mainContainer": { "image": "img" } } },
                "decode": { "componentType": "worker", "subComponentType": "decode", "replicas": 2,
                            "envFromSecret": "hf", "dynamoNamespace": "g",
                            "resources": { "limits": { "gpu": "4" }, "requests": { "gpu": "4" } },
                            "extraPodSpec": { "volumes": [{ "name": "v" }],
                                              "mainContainer": { "image": "img", "args": ["--tp", "4"] } } },
            } }
        });
        let out = graph_to_v1beta1(&graph).unwrap();
        assert_eq!(out["apiVersion"], V1BETA1);
        let components = out["spec"]["components"].as_array().unwrap();
        assert_eq!(components.len(), 2);
        let decode = components.iter().find(|c| c["name"] == "decode").unwrap();
        assert_eq!(decode["type"], "decode");
        assert_eq!(decode["replicas"], 2);
        let main = &decode["podTemplate"]["spec"]["containers"][0];
        assert_eq!(main["name"], "main");
        assert_eq!(main["args"], json!(["--tp", "4"]));
        assert_eq!(main["resources"]["limits"]["nvidia.com/gpu"], "4");
        assert_eq!(main["envFrom"][0]["secretRef"]["name"], "hf");
        assert_eq!(decode["podTemplate"]["spec"]["volumes"][0]["name"], "v");
        assert!(decode.get("dynamoNamespace").is_none());
        assert_eq!(crate::k8s::graph::gpus(&out), crate::k8s::graph::gpus(&graph));
        assert_eq!(crate::k8s::graph::replicas(&out, "decode"), Some(2));
    }

    #[test]
    fn what_cannot_be_mapped_is_an_error_not_a_silent_drop() {
        let graph = json!({ "apiVersion": V1ALPHA1, "kind": "DynamoGraphDeployment", "metadata": { "name": "g" },
            "spec": { "services": { "w": { "componentType": "worker", "ingress": { "enabled": true } } } } });
        let err = graph_to_v1beta1(&graph).unwrap_err();
        assert!(
            err.to_string().contains("service w: ingress has no v1beta1 mapping"),
            "{err}"
        );
        let pvcs = json!({ "apiVersion": V1ALPHA1, "kind": "DynamoGraphDeployment", "metadata": { "name": "g" },
            "spec": { "pvcs": [], "services": {} } });
        assert!(graph_to_v1beta1(&pvcs).unwrap_err().to_string().contains("spec.pvcs"));
    }
}
