//! The command line: every subcommand and flag, with help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Compare profiling methods for LLM serving: cost, predictive accuracy, optimization accuracy.
#[derive(Parser, Debug)]
#[command(name = "profcmp", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List, check and install method plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// List every plugin on the search path: name, version, role, api version, path, status.
    List {
        #[command(flatten)]
        path: PluginPathArgs,
    },
    /// Check that a file is a loadable profcmp plugin (manifest and ABI).
    Check {
        /// The plugin `.so`.
        path: PathBuf,
    },
    /// Check a plugin, then copy it into the install directory under a versioned name.
    Install {
        /// The plugin `.so`.
        path: PathBuf,
    },
    /// Resolve a method set and print it as a methods.lock (which code a run would use).
    Resolve {
        #[command(flatten)]
        methods: MethodArgs,
    },
}

/// Which methods to run.
#[derive(Args, Debug, Clone, Default)]
pub struct MethodArgs {
    #[command(flatten)]
    pub path: PluginPathArgs,
    /// A method to run, `name` or `name@version-requirement` (repeatable; default: every
    /// installed method at its highest version).
    #[arg(long = "method", value_name = "NAME[@REQ]")]
    pub methods: Vec<String>,
    /// A methods.toml: `[methods]` table of `name = "req"` or `name = { version = "req",
    /// options = {...} }`.
    #[arg(long = "methods-file", value_name = "FILE")]
    pub methods_file: Option<PathBuf>,
    /// Refuse to run unless the resolved set equals this methods.lock.
    #[arg(long, value_name = "LOCK")]
    pub locked: Option<PathBuf>,
}

/// Where to look for plugins.
#[derive(Args, Debug, Clone, Default)]
pub struct PluginPathArgs {
    /// A directory to search for plugins (repeatable; searched before PROFCMP_PLUGIN_PATH, the
    /// directory of this executable and the install directory).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
}
