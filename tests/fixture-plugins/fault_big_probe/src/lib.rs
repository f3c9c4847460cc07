//! Fault fixture `big_probe` (see ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "fault_big_probe";
const FAULT: &str = "big_probe";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
