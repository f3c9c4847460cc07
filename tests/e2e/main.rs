//! End-to-end tests: build fixture plugins, run the `profcmp` binary, check what it does.

mod plugins;
mod util;
