//! End-to-end tests: build fixture plugins, run the `profcmp` binary, check what it does.

mod accuracy;
mod compat;
mod endpoint;
mod estimate;
mod k8s;
mod methods;
mod optimize;
mod plugins;
mod reliability;
mod run;
mod util;
