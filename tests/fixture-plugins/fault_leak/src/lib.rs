//! Fault fixture `leak` (see ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "fault_leak";
const FAULT: &str = "leak";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
