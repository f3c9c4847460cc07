//! Kubernetes object names and the length limits Dynamo adds, checked before anything is applied
//! so that a bad name is one clear line, not a deployment that never becomes Ready.
//!
//! - Object names (`metadata.name`) of DynamoGraphDeployments, requests and ConfigMaps are
//!   DNS-1123 subdomains (Kubernetes `IsDNS1123Subdomain`: at most 253 characters of `[a-z0-9-.]`,
//!   starting and ending alphanumeric); profcmp makes them DNS-1123 labels (no dots, at most 63),
//!   which are also valid Service name prefixes.
//! - Grove, which the Dynamo operator renders graphs to, allows at most 45 characters for the
//!   PodCliqueSet name plus a component's name (`MaxCombinedGroveResourceNameLength = 45`,
//!   deploy/operator/internal/consts/consts.go; the DGD webhook checks
//!   `len(graph) + len(lower(service)) <= 45` since Dynamo `a3f1e7ec6`, 2026-02; pods are named
//!   `<pcs>-<i>-<pclq>-<rand>`). profcmp checks it for every Dynamo version: Grove enforces it
//!   whichever operator rendered the graph.
//! - A DynamoGraphDeploymentRequest's profiling Job is `profile-<name>`; a Job's name is also
//!   the value of its pods' `job-name` label, so it must fit a label value: 63 characters
//!   (Dynamo 0.7 `dynamographdeploymentrequest_controller.go`).

use serde_json::Value;

use super::ManifestError;

/// Longest DNS-1123 label (Kubernetes `DNS1123LabelMaxLength`).
pub const LABEL_MAX: usize = 63;
/// Longest graph name + component name Grove accepts.
pub const GROVE_MAX: usize = 45;
/// Prefix of the profiling Job of a DynamoGraphDeploymentRequest.
pub const PROFILE_JOB_PREFIX: &str = "profile-";

/// `text` as a DNS-1123 label: lowercase, characters outside `[a-z0-9-]` turned into `-`, runs
/// of `-` collapsed, at most `max` characters, starting and ending alphanumeric. Empty when
/// nothing alphanumeric is left.
pub fn dns_label(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(max.min(LABEL_MAX));
    out.trim_end_matches('-').to_string()
}

/// Checks a DNS-1123 label; the error names the name, what is wrong and the limit.
pub fn check_label(what: &str, name: &str) -> Result<(), ManifestError> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let valid_ends =
        name.starts_with(|c: char| c.is_ascii_alphanumeric()) && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.is_empty() || !valid_chars || !valid_ends {
        return Err(ManifestError::Name(format!(
            "{what} name {name:?} is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)"
        )));
    }
    if name.len() > LABEL_MAX {
        return Err(ManifestError::Name(format!(
            "{what} name {name} is {} characters; Kubernetes allows {LABEL_MAX}",
            name.len()
        )));
    }
    Ok(())
}

/// Checks an object before it is applied: its name is a DNS-1123 label; a graph's name plus
/// each component's name fits Grove's 45; a request's profiling Job name fits 63.
pub fn check_object(object: &Value) -> Result<(), ManifestError> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("object");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| ManifestError::Name(format!("{kind} has no metadata.name: give it one")))?;
    check_label(kind, name)?;
    match kind {
        "DynamoGraphDeployment" => {
            for component in component_names(object) {
                let total = name.len() + component.len();
                if total > GROVE_MAX {
                    return Err(ManifestError::Name(format!(
                        "DynamoGraphDeployment {name} with component {component} makes {total} characters; \
                         Grove allows {GROVE_MAX} (graph name + component name): shorten the graph or service name"
                    )));
                }
            }
            Ok(())
        }
        "DynamoGraphDeploymentRequest" => {
            let job = format!("{PROFILE_JOB_PREFIX}{name}");
            if job.len() > LABEL_MAX {
                return Err(ManifestError::Name(format!(
                    "DynamoGraphDeploymentRequest {name}: its profiling Job {job} is {} characters; \
                     Kubernetes allows {LABEL_MAX}: rename the request to at most {} characters",
                    job.len(),
                    LABEL_MAX - PROFILE_JOB_PREFIX.len()
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Lowercased component names of a graph in either API version (`spec.services` keys in
/// v1alpha1, `spec.components[].name` in v1beta1).
fn component_names(graph: &Value) -> Vec<String> {
    let services = graph.pointer("/spec/services").and_then(Value::as_object);
    let components = graph.pointer("/spec/components").and_then(Value::as_array);
    let from_map = services.into_iter().flat_map(|s| s.keys().cloned());
    let from_list = components
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string));
    from_map.chain(from_list).map(|n| n.to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dns_labels_are_lowercase_alphanumeric_and_dashes() {
        assert_eq!(dns_label("Run_1.A", 63), "run-1-a");
        assert_eq!(dns_label("--a__b--", 63), "a-b");
        assert_eq!(dns_label(&"x".repeat(80), 63).len(), 63);
        // Cutting must not leave a trailing dash.
        assert_eq!(dns_label("abc-def", 4), "abc");
        assert!(check_label("x", &dns_label("Oracle 1x2 (TP)", 63)).is_ok());
    }

    #[test]
    fn bad_labels_are_refused_with_the_rule() {
        assert!(check_label("DynamoGraphDeployment", "pc-a-1").is_ok());
        let err = check_label("DynamoGraphDeployment", "PC_a").unwrap_err();
        assert!(err.to_string().contains("not a DNS-1123 label"), "{err}");
        assert!(check_label("x", "-a").is_err());
        assert!(check_label("x", "a-").is_err());
        // At the cluster boundary a bad name stays a manifest error (bad input), same text.
        let name_err = check_label("DynamoGraphDeployment", "PC_a").unwrap_err();
        let text = name_err.to_string();
        let k8s: crate::k8s::K8sError = name_err.into();
        assert!(matches!(k8s, crate::k8s::K8sError::Manifest(ManifestError::Name(_))));
        assert_eq!(k8s.to_string(), text);
        let err = check_label("x", &"a".repeat(64)).unwrap_err();
        assert!(err.to_string().contains("64 characters; Kubernetes allows 63"), "{err}");
    }

    #[test]
    fn grove_limit_counts_graph_and_component_names() {
        let graph = |name: &str| {
            json!({ "kind": "DynamoGraphDeployment", "metadata": { "name": name },
                    "spec": { "services": { "Frontend": {}, "TRTLLMPrefillWorker": {} } } })
        };
        // 26 + len("trtllmprefillworker") = 26 + 19 = 45: accepted; one more is refused.
        assert!(check_object(&graph(&"g".repeat(26))).is_ok());
        let err = check_object(&graph(&"g".repeat(27))).unwrap_err();
        assert!(
            err.to_string()
                .contains("component trtllmprefillworker makes 46 characters; Grove allows 45"),
            "{err}"
        );
        let v1beta1 = json!({ "kind": "DynamoGraphDeployment", "metadata": { "name": "g".repeat(40) },
                              "spec": { "components": [{ "name": "decode" }] } });
        assert!(check_object(&v1beta1)
            .unwrap_err()
            .to_string()
            .contains("component decode makes 46"));
    }

    #[test]
    fn a_request_name_must_leave_room_for_its_profiling_job() {
        let request = |name: String| json!({ "kind": "DynamoGraphDeploymentRequest", "metadata": { "name": name } });
        assert!(check_object(&request("r".repeat(55))).is_ok());
        let err = check_object(&request("r".repeat(56))).unwrap_err();
        assert!(
            err.to_string().contains("is 64 characters; Kubernetes allows 63"),
            "{err}"
        );
        assert!(err.to_string().contains("at most 55 characters"), "{err}");
    }
}
