//! profcmp's domain: estimator, simulated cluster, workloads, AIPerf artifacts, stages and reports.
//!
//! core never loads a library and never touches abi_stable types: methods reach it through the
//! plain [`profcmp_plugin_api::HostContext`] trait and the stage runner.

pub mod aiperf;
pub mod backend;
pub mod clock;
pub mod dynamo;
pub mod endpoint;
pub mod estimator;
pub mod fsio;
pub mod k8s;
pub mod layout;
pub mod pipeline;
pub mod predict;
pub mod report;
pub mod serve;
pub mod sim;
pub mod spec;
pub mod stage;
pub mod stats;
pub mod workload;

#[cfg(test)]
mod invariants_tests;
