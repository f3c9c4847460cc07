//! End-to-end tests: build fixture plugins, run the `profcmp` binary, check what it does.

mod estimate;
mod k8s;
mod plugins;
mod util;
