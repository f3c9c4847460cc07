//! profcmp's domain: estimator, simulated cluster, workloads, AIPerf artifacts, stages and reports.

pub mod estimator;
