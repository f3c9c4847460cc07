//! A structural-schema validator for tests: checks an object against a CustomResourceDefinition
//! version's `openAPIV3Schema` the way the API server does before it stores it.
//!
//! What it checks: types, `required`, `enum`, `pattern` (Go RE2 syntax, read with the `regex`
//! crate), min/max length, items, properties and value, `int32`/`int64` ranges, list-map keys
//! unique, `x-kubernetes-int-or-string`, `anyOf`; unknown fields fail where neither
//! `x-kubernetes-preserve-unknown-fields` nor `additionalProperties` allows them (server-side
//! apply with strict field validation refuses them, the default pruning would drop them
//! silently). A `null` of a field that is not `nullable` counts as absent, as the API server
//! prunes it. The root `metadata` is checked as ObjectMeta's few fields profcmp writes.
//!
//! What it does not: CEL rules (`x-kubernetes-validations`), formats other than integer
//! ranges, admission webhooks. A JSON-schema crate was not used: OpenAPI v3 with Kubernetes'
//! extensions is not plain JSON Schema (unknown fields, nullable, int-or-string), and the
//! ecosystem notes list none.

use std::path::Path;

use serde_json::Value;

/// One served version of a CRD.
pub struct Version {
    /// `v1alpha1`, `v1beta1`.
    pub name: String,
    /// Its `openAPIV3Schema`.
    pub schema: Value,
    /// Whether the server marks it deprecated.
    pub deprecated: bool,
}

/// The CRD file `dir/file` under `tests/fixtures/dynamo-crds`.
pub fn crd(dir: &str, file: &str) -> Vec<Version> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/dynamo-crds")
        .join(dir)
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let crd: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .expect("spec.versions");
    versions
        .iter()
        .filter(|v| v["served"] == true)
        .map(|v| Version {
            name: v["name"].as_str().unwrap().to_string(),
            schema: v.pointer("/schema/openAPIV3Schema").cloned().expect("openAPIV3Schema"),
            deprecated: v["deprecated"] == true,
        })
        .collect()
}

/// The graph CRD of a snapshot (`v0.7.0`, `2026-01`, `newest`).
pub fn graphs(dir: &str) -> Vec<Version> {
    crd(dir, "nvidia.com_dynamographdeployments.yaml")
}

/// The request CRD of a snapshot.
pub fn requests(dir: &str) -> Vec<Version> {
    crd(dir, "nvidia.com_dynamographdeploymentrequests.yaml")
}

/// The schema of `version` in `versions`.
pub fn of<'a>(versions: &'a [Version], version: &str) -> &'a Value {
    &versions
        .iter()
        .find(|v| v.name == version)
        .expect("served version")
        .schema
}

/// Every violation of `schema` by `object`, one line each (`.spec.x: ...`).
pub fn validate(schema: &Value, object: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, object, "", &mut errors);
    errors
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let mut fail = |what: String| errors.push(format!("{}: {what}", if path.is_empty() { "." } else { path }));
    if value.is_null() {
        if schema["nullable"] != true {
            fail("null where the schema allows no null".into());
        }
        return;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            fail(format!("{value} is neither an integer nor a string"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            fail(format!("{value} is not one of {}", Value::Array(allowed.clone())));
        }
    }
    if let Some(branches) = schema["anyOf"].as_array() {
        if !branches.iter().any(|b| validate(b, value).is_empty()) {
            fail(format!("{value} matches none of anyOf"));
        }
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(map) = value.as_object() else {
                return fail(format!("{value} is not an object"));
            };
            let properties = schema["properties"].as_object();
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
            let embedded = schema["x-kubernetes-embedded-resource"] == true;
            for (key, item) in map {
                let at = format!("{path}.{key}");
                if path.is_empty() && key == "metadata" {
                    check_metadata(item, &at, errors);
                } else if let Some(field) = properties.and_then(|p| p.get(key)) {
                    if !(item.is_null() && field["nullable"] != true) {
                        check(field, item, &at, errors);
                    }
                } else if schema["additionalProperties"].is_object() {
                    check(&schema["additionalProperties"], item, &at, errors);
                } else if !(preserve
                    || schema["additionalProperties"] == true
                    || (embedded && ["apiVersion", "kind", "metadata"].contains(&key.as_str())))
                {
                    errors.push(format!("{at}: unknown field"));
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap_or_default();
                if map.get(key).is_none_or(Value::is_null) {
                    errors.push(format!("{path}.{key}: required"));
                }
            }
            if let Some(max) = schema["maxProperties"].as_u64() {
                if map.len() as u64 > max {
                    errors.push(format!("{path}: more than {max} properties"));
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                return fail(format!("{value} is not an array"));
            };
            if let Some(max) = schema["maxItems"].as_u64() {
                if items.len() as u64 > max {
                    fail(format!("more than {max} items"));
                }
            }
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{path}[{i}]"), errors);
            }
            if let Some(keys) = schema["x-kubernetes-list-map-keys"].as_array() {
                let ids: Vec<Vec<&Value>> = items
                    .iter()
                    .map(|i| keys.iter().map(|k| &i[k.as_str().unwrap_or("")]).collect())
                    .collect();
                for (i, id) in ids.iter().enumerate() {
                    if ids[..i].contains(id) {
                        errors.push(format!("{path}[{i}]: duplicate list-map key {id:?}"));
                    }
                }
            }
        }
        Some("string") => {
            let Some(text) = value.as_str() else {
                return fail(format!("{value} is not a string"));
            };
            let length = text.chars().count() as u64;
            if schema["maxLength"].as_u64().is_some_and(|max| length > max) {
                fail(format!("{text:?} is longer than {}", schema["maxLength"]));
            }
            if schema["minLength"].as_u64().is_some_and(|min| length < min) {
                fail(format!("{text:?} is shorter than {}", schema["minLength"]));
            }
            if let Some(pattern) = schema["pattern"].as_str() {
                let regex = regex::Regex::new(pattern).expect("a CRD pattern regex::Regex reads");
                if !regex.is_match(text) {
                    fail(format!("{text:?} does not match {pattern}"));
                }
            }
        }
        Some("integer") => {
            let Some(n) = value.as_i64() else {
                return fail(format!("{value} is not an integer"));
            };
            let int32 = schema["format"] == "int32" && i32::try_from(n).is_err();
            let below = schema["minimum"].as_i64().is_some_and(|min| n < min);
            let above = schema["maximum"].as_i64().is_some_and(|max| n > max);
            if int32 || below || above {
                fail(format!("{n} is out of range"));
            }
        }
        Some("number") if !value.is_number() => fail(format!("{value} is not a number")),
        Some("boolean") if !value.is_boolean() => fail(format!("{value} is not a boolean")),
        _ => {}
    }
}

/// The root ObjectMeta: the fields profcmp writes or a stored object carries; labels and
/// annotations are string maps.
fn check_metadata(metadata: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(map) = metadata.as_object() else {
        return errors.push(format!("{path}: not an object"));
    };
    for (key, value) in map {
        match key.as_str() {
            "labels" | "annotations" => {
                let strings = value.as_object().is_some_and(|m| m.values().all(Value::is_string));
                if !strings {
                    errors.push(format!("{path}.{key}: not a map of strings"));
                }
            }
            "name" | "namespace" | "generateName" | "uid" | "resourceVersion" | "creationTimestamp" => {
                if !value.is_string() {
                    errors.push(format!("{path}.{key}: not a string"));
                }
            }
            "generation" | "finalizers" | "ownerReferences" | "managedFields" => {}
            other => errors.push(format!("{path}.{other}: unknown field")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The validator itself: each kind of violation is found in a graph that is otherwise
    /// accepted by the newest v1alpha1 and the 0.7.0 schema.
    #[test]
    fn finds_each_kind_of_violation_and_accepts_the_fixed_object() {
        let good = json!({
            "apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
            "metadata": { "name": "g", "labels": { "a": "b" } },
            "spec": { "services": { "Frontend": { "componentType": "frontend", "replicas": 1,
                "extraPodSpec": { "mainContainer": { "image": "i", "args": ["--x"] } } } } }
        });
        for dir in ["v0.7.0", "newest"] {
            let versions = graphs(dir);
            let schema = of(&versions, "v1alpha1");
            assert_eq!(validate(schema, &good), Vec::<String>::new(), "{dir}");
            let broken = |pointer: &str, value: Value| {
                let mut object = good.clone();
                *object.pointer_mut(pointer).unwrap() = value;
                validate(schema, &object)
            };
            let mut extra = good.clone();
            extra["spec"]["services"]["Frontend"]["replica"] = json!(1);
            assert_eq!(
                validate(schema, &extra),
                [".spec.services.Frontend.replica: unknown field"]
            );
            assert_eq!(
                broken("/spec/services/Frontend/replicas", json!("1")),
                [".spec.services.Frontend.replicas: \"1\" is not an integer"]
            );
            assert_eq!(
                broken("/spec/services/Frontend/extraPodSpec/mainContainer/args", json!([1])),
                [".spec.services.Frontend.extraPodSpec.mainContainer.args[0]: 1 is not a string"]
            );
            // A container without its required name, inside the pod spec.
            let missing = broken(
                "/spec/services/Frontend/extraPodSpec",
                json!({ "containers": [{ "image": "x" }] }),
            );
            assert_eq!(
                missing,
                [".spec.services.Frontend.extraPodSpec.containers[0].name: required"]
            );
            // A null the schema does not allow is dropped, as the API server prunes it.
            assert!(broken("/spec/services/Frontend/replicas", Value::Null).is_empty());
        }
        let versions = graphs("newest");
        let beta = json!({ "apiVersion": "nvidia.com/v1beta1", "kind": "DynamoGraphDeployment",
            "metadata": { "name": "g" }, "spec": { "components": [{ "name": "f", "type": "router" }] } });
        assert_eq!(
            validate(of(&versions, "v1beta1"), &beta),
            [".spec.components[0].type: \"router\" is not one of [\"frontend\",\"worker\",\"prefill\",\"decode\",\"planner\",\"epp\"]"]
        );
        let bad_name = json!({ "apiVersion": "nvidia.com/v1beta1", "kind": "DynamoGraphDeployment",
            "metadata": { "name": "g" }, "spec": { "components": [{ "name": "-f" }, { "name": "-f" }] } });
        let errors = validate(of(&versions, "v1beta1"), &bad_name);
        assert!(errors.iter().any(|e| e.contains("does not match")), "{errors:?}");
        assert!(
            errors.iter().any(|e| e.contains("duplicate list-map key")),
            "{errors:?}"
        );
    }

    #[test]
    fn the_newest_crds_serve_v1beta1_and_deprecate_v1alpha1() {
        for versions in [graphs("newest"), requests("newest")] {
            let names: Vec<(&str, bool)> = versions.iter().map(|v| (v.name.as_str(), v.deprecated)).collect();
            assert_eq!(names, [("v1alpha1", true), ("v1beta1", false)]);
        }
        let old: Vec<String> = graphs("v0.7.0").into_iter().map(|v| v.name).collect();
        assert_eq!(old, ["v1alpha1"]);
    }

    /// Every graph profcmp can apply, in v1alpha1 form, named after what it is.
    fn generated_graphs() -> Vec<(String, Value)> {
        use crate::k8s::graph::{self, DynamoVersion, SweepSpec};
        use profcmp_plugin_api::{DeployRequest, ServingBackend};
        let labels = graph::labels("r1", "aic_all");
        let mut out = Vec::new();
        let backends = [ServingBackend::Trtllm, ServingBackend::Vllm, ServingBackend::Sglang];
        for conventions in [DynamoVersion::V0_7, DynamoVersion::V1_6] {
            for backend in backends {
                let template = graph::template(backend, conventions, None).unwrap();
                let spec = SweepSpec {
                    name: "pc-19ab-1-1",
                    model: "Qwen/Qwen3-32B",
                    backend,
                    dynamo_version: conventions,
                    isl: 2048,
                    labels: &labels,
                };
                for tp in [1, 2, 4, 8] {
                    let requests = [
                        DeployRequest::PrefillOnly { tp },
                        DeployRequest::DecodeOnly { tp },
                        DeployRequest::Graph {
                            prefill_workers: 1,
                            prefill_tp: tp,
                            decode_workers: 2,
                            decode_tp: tp,
                        },
                    ];
                    for request in requests {
                        let graph = graph::graph_from_template(&template, &spec, &request).unwrap();
                        out.push((format!("sweep {conventions:?} {backend:?} {request:?}"), graph));
                    }
                }
            }
        }
        // Validate and optimize deploy methods' files; NVIDIA's real ones, and the oracle's
        // written by profcmp for each framework.
        let request = |p, d| DeployRequest::Graph {
            prefill_workers: 1,
            prefill_tp: p,
            decode_workers: 1,
            decode_tp: d,
        };
        for (method, p, d) in [("aic_all", 1, 2), ("online_all", 1, 1)] {
            let path = format!(
                "{}/../tests/fixtures/dynamo-2026-01/{method}/config_with_planner.yaml",
                env!("CARGO_MANIFEST_DIR")
            );
            let yaml = std::fs::read_to_string(path).unwrap();
            let (_, graph) = graph::planned_objects(&yaml, "pc-19ab-2-1", &request(p, d), &labels).unwrap();
            out.push((format!("planned {method}"), graph));
        }
        let profile: profcmp_plugin_api::PlannerProfile = serde_json::from_value(json!({
            "prefill": { "prefill_isl": [2048.0], "prefill_ttft": [200.0], "prefill_thpt_per_gpu": [10000.0] },
            "decode": { "x_kv_usage": [0.1], "y_context_length": [2176.0], "z_itl": [20.0], "z_thpt_per_gpu": [50.0], "max_kv_tokens": 100000 },
        })).unwrap();
        for backend in backends {
            for (p, d) in [(1, 1), (2, 4), (8, 8)] {
                let spec = crate::dynamo::GraphSpec::new("Qwen/Qwen3-32B", backend, 500.0, 50.0, p, d);
                let yaml = crate::dynamo::write_config_with_planner(&spec, &profile).unwrap();
                let (_, graph) = graph::planned_objects(&yaml, "pc-19ab-3-1", &request(p, d), &labels).unwrap();
                out.push((format!("oracle {backend:?} {p}x{d}"), graph));
            }
        }
        out
    }

    /// Every generated graph is accepted by each Dynamo snapshot's v1alpha1 schema and, converted,
    /// by the newest v1beta1 schema.
    #[test]
    fn every_generated_graph_fits_every_crd_version() {
        let graphs_by_snapshot: Vec<(&str, Vec<Version>)> = ["v0.7.0", "2026-01", "newest"]
            .into_iter()
            .map(|d| (d, graphs(d)))
            .collect();
        let generated = generated_graphs();
        assert!(generated.len() > 70, "{}", generated.len());
        for (what, graph) in &generated {
            for (dir, versions) in &graphs_by_snapshot {
                let errors = validate(of(versions, "v1alpha1"), graph);
                assert!(errors.is_empty(), "{what} against {dir} v1alpha1: {errors:#?}");
            }
            let beta = crate::k8s::v1beta1::graph_to_v1beta1(graph).unwrap();
            let errors = validate(of(&graphs_by_snapshot[2].1, "v1beta1"), &beta);
            assert!(errors.is_empty(), "{what} against newest v1beta1: {errors:#?}");
            assert_eq!(crate::k8s::graph::gpus(&beta), crate::k8s::graph::gpus(graph), "{what}");
        }
    }

    /// The reference DGDRs, as profcmp applies them, fit every snapshot's v1alpha1 request
    /// schema (the newest serves it, deprecated).
    #[test]
    fn the_requests_as_applied_fit_every_crd_version() {
        for file in ["aic_profiling_dgdr.yaml", "online_profiling_dgdr.yaml"] {
            let path = format!(
                "{}/../tests/fixtures/dynamo-2026-01/configs/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            let request = crate::k8s::dgdr::read_request(&std::fs::read_to_string(path).unwrap()).unwrap();
            let applied = crate::k8s::dgdr::object_to_apply(&request, "r1", "dynamo_aic");
            for dir in ["v0.7.0", "release-branch-0ffa3a5c", "2026-01", "newest"] {
                let versions = requests(dir);
                let errors = validate(of(&versions, "v1alpha1"), &applied);
                assert!(errors.is_empty(), "{file} against {dir}: {errors:#?}");
            }
            // A field the request CRD does not know is refused (it would be by the server).
            let mut typo = applied.clone();
            typo["spec"]["autoAplly"] = json!(true);
            assert_eq!(
                validate(of(&requests("newest"), "v1alpha1"), &typo),
                [".spec.autoAplly: unknown field"]
            );
        }
    }
}
