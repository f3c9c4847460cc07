//! Fault fixture `exit` (see ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "fault_exit";
const FAULT: &str = "exit";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
