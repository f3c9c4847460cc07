//! Fault fixture `huge_result` (see ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "fault_huge_result";
const FAULT: &str = "huge_result";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
