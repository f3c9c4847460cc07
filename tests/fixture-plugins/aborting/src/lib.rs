//! Test fixture: a method that aborts the process inside `profile` (no unwinding to catch).
use profcmp_plugin_api::*;

#[derive(Default)]
pub struct Aborting;

impl Method for Aborting {
    const NAME: &'static str = "aborting";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "test fixture that aborts";
    const ROLE: Role = Role::Experimental;

    fn profile(&mut self, _: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        host.log(LogLevel::Info, "about to abort");
        println!("a line the plugin prints itself");
        std::process::abort()
    }

    fn cost(&self) -> CostReport {
        CostReport::default()
    }
}

export_method!(Aborting);
