//! Fault fixture `hang` (see ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "fault_hang";
const FAULT: &str = "hang";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
