//! Fault fixture `escape` (see ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "../escape";
const FAULT: &str = "escape";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
