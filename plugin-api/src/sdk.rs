//! The safe side of the boundary: typed host context, the `Method` trait and the FFI shims.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RResult, RStr, RString};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::abi::{HostCall, HostCall_TO, HostRef};
use crate::error::PluginError;
use crate::types::*;

/// What a method can ask of the host. Plugins get the FFI implementation; tests can pass a fake.
pub trait HostContext {
    /// AI Configurator-style latency or KV capacity; free, but counted.
    fn estimate(&self, query: &EstimateQuery) -> Result<Estimate, PluginError>;
    /// Deploys a config; its GPU time is metered by the host from now until teardown.
    fn deploy(&self, request: &DeployRequest) -> Result<Deployment, PluginError>;
    /// Loads a deployment and returns AIPerf-like statistics.
    fn measure(&self, deployment: &Deployment, probe: &Probe) -> Result<Measurement, PluginError>;
    /// Tears a deployment down; the metered GPU time stops.
    fn teardown(&self, deployment: &Deployment) -> Result<(), PluginError>;
    /// Forwards a log line to the host's log.
    fn log(&self, level: LogLevel, message: &str);
    /// Reports progress of the method's own work.
    fn progress(&self, done: u64, total: u64, message: &str);
    /// True once the user has asked to stop; a method should tear down and return.
    fn cancelled(&self) -> bool;
}

/// A profiling method, written as plain Rust. Export it with [`export_method!`](crate::export_method).
pub trait Method: Default {
    /// Method id (the folder name of the plugin, e.g. `aic_all`).
    const NAME: &'static str;
    /// The method's semver version (usually `env!("CARGO_PKG_VERSION")`).
    const VERSION: &'static str;
    /// One line saying what the method does.
    const DESCRIPTION: &'static str;
    /// Baseline or experimental.
    const ROLE: Role;

    /// Chooses a config and predicts its behaviour.
    fn profile(&mut self, request: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError>;

    /// The method's own account of what its last `profile` call spent (also after an error).
    fn cost(&self) -> CostReport;
}

/// The manifest of a method type, stamped with this plugin-api's version.
pub fn manifest_of<M: Method>() -> Manifest {
    Manifest::new(M::NAME, M::VERSION, M::DESCRIPTION, M::ROLE)
}

static LAST_COST: Mutex<Option<CostReport>> = Mutex::new(None);

/// FFI shim behind `MethodMod::profile`: decodes, runs the method with panics caught, encodes.
#[doc(hidden)]
pub fn run_profile<M: Method>(request: RStr<'_>, host: HostRef<'_>) -> RResult<RString, RString> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let request: ProfileRequest = serde_json::from_str(request.as_str())
            .map_err(|e| PluginError::new("invalid_request", format!("cannot read the request: {e}")))?;
        let host = FfiHost { raw: &host };
        let mut method = M::default();
        let result = method.profile(&request, &host);
        *LAST_COST.lock().unwrap_or_else(|p| p.into_inner()) = Some(method.cost());
        let result = result?;
        serde_json::to_string(&result)
            .map_err(|e| PluginError::new("garbage", format!("cannot encode the result: {e}")))
    }));
    match outcome {
        Ok(Ok(json)) => ROk(json.into()),
        Ok(Err(err)) => RErr(err.to_wire().into()),
        Err(panic) => RErr(panic_error(panic).to_wire().into()),
    }
}

/// FFI shim behind `MethodMod::report_cost`.
#[doc(hidden)]
pub fn run_report_cost() -> RString {
    let cost = LAST_COST.lock().map(|c| c.clone()).unwrap_or(None).unwrap_or_default();
    serde_json::to_string(&cost).unwrap_or_else(|_| "{}".into()).into()
}

/// FFI shim behind `MethodMod::manifest`.
#[doc(hidden)]
pub fn run_manifest<M: Method>(api_version: &str) -> RString {
    let mut manifest = manifest_of::<M>();
    manifest.api_version = api_version.to_string();
    serde_json::to_string(&manifest).expect("manifest serializes").into()
}

/// Turns a caught panic payload into an error.
pub fn panic_error(panic: Box<dyn std::any::Any + Send>) -> PluginError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    PluginError::new("panic", format!("panicked: {message}"))
}

/// The plugin's view of the host: typed calls encoded as JSON over the frozen callback.
struct FfiHost<'a, 'b> {
    raw: &'a HostRef<'b>,
}

impl FfiHost<'_, '_> {
    fn call<T: DeserializeOwned>(&self, method: &str, payload: impl Serialize) -> Result<T, PluginError> {
        let payload = serde_json::to_string(&payload).expect("host payload serializes");
        match self.raw.call(method.into(), payload.as_str().into()) {
            ROk(answer) => serde_json::from_str(answer.as_str())
                .map_err(|e| PluginError::new("host", format!("cannot read the host's answer to {method}: {e}"))),
            RErr(err) => Err(PluginError::from_wire(err.as_str())),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct MeasureCall {
    deployment: Deployment,
    probe: Probe,
}

#[derive(Serialize, Deserialize)]
struct LogCall {
    level: LogLevel,
    message: String,
}

#[derive(Serialize, Deserialize)]
struct ProgressCall {
    done: u64,
    total: u64,
    message: String,
}

impl HostContext for FfiHost<'_, '_> {
    fn estimate(&self, query: &EstimateQuery) -> Result<Estimate, PluginError> {
        self.call("estimate", query)
    }
    fn deploy(&self, request: &DeployRequest) -> Result<Deployment, PluginError> {
        self.call("deploy", request)
    }
    fn measure(&self, deployment: &Deployment, probe: &Probe) -> Result<Measurement, PluginError> {
        self.call(
            "measure",
            MeasureCall {
                deployment: deployment.clone(),
                probe: probe.clone(),
            },
        )
    }
    fn teardown(&self, deployment: &Deployment) -> Result<(), PluginError> {
        self.call("teardown", deployment)
    }
    fn log(&self, level: LogLevel, message: &str) {
        let _: Result<(), _> = self.call(
            "log",
            LogCall {
                level,
                message: message.to_string(),
            },
        );
    }
    fn progress(&self, done: u64, total: u64, message: &str) {
        let _: Result<(), _> = self.call(
            "progress",
            ProgressCall {
                done,
                total,
                message: message.to_string(),
            },
        );
    }
    fn cancelled(&self) -> bool {
        self.call("cancelled", ()).unwrap_or(false)
    }
}

/// The host's side of the callback: decodes a call and runs it on a typed `HostContext`,
/// with panics caught so none crosses back into the plugin.
pub struct HostServer<'a> {
    ctx: &'a dyn HostContext,
}

impl<'a> HostServer<'a> {
    /// Serves calls on `ctx`.
    pub fn new(ctx: &'a dyn HostContext) -> Self {
        HostServer { ctx }
    }

    /// The FFI object to pass to `MethodMod::profile`.
    pub fn as_host_ref(&self) -> HostRef<'_> {
        HostCall_TO::from_ptr(self, TD_Opaque)
    }

    /// Runs one call given as method name and JSON payload; a panic in the host becomes a
    /// `panic` error of this call.
    pub fn dispatch(&self, method: &str, payload: &str) -> Result<String, PluginError> {
        catch_unwind(AssertUnwindSafe(|| self.dispatch_unguarded(method, payload)))
            .unwrap_or_else(|panic| Err(panic_error(panic)))
    }

    fn dispatch_unguarded(&self, method: &str, payload: &str) -> Result<String, PluginError> {
        fn arg<T: DeserializeOwned>(method: &str, payload: &str) -> Result<T, PluginError> {
            serde_json::from_str(payload).map_err(|e| {
                let error = PluginError::new("invalid_call", format!("bad payload for {method}: {e}"));
                // A kind added to a non-exhaustive enum after this host was built.
                if e.to_string().starts_with("unknown variant") {
                    error.with_help("the plugin was built against a newer plugin-api: upgrade profcmp")
                } else {
                    error
                }
            })
        }
        fn answer(value: impl Serialize) -> Result<String, PluginError> {
            Ok(serde_json::to_string(&value).expect("host answer serializes"))
        }
        let ctx = self.ctx;
        match method {
            "estimate" => answer(ctx.estimate(&arg(method, payload)?)?),
            "deploy" => answer(ctx.deploy(&arg(method, payload)?)?),
            "measure" => {
                let call: MeasureCall = arg(method, payload)?;
                answer(ctx.measure(&call.deployment, &call.probe)?)
            }
            "teardown" => answer(ctx.teardown(&arg(method, payload)?)?),
            "log" => {
                let call: LogCall = arg(method, payload)?;
                ctx.log(call.level, &call.message);
                answer(())
            }
            "progress" => {
                let call: ProgressCall = arg(method, payload)?;
                ctx.progress(call.done, call.total, &call.message);
                answer(())
            }
            "cancelled" => answer(ctx.cancelled()),
            other => Err(PluginError::new("invalid_call", format!("unknown host call `{other}`"))),
        }
    }
}

impl HostCall for HostServer<'_> {
    fn call(&self, method: RStr<'_>, payload: RStr<'_>) -> RResult<RString, RString> {
        match self.dispatch(method.as_str(), payload.as_str()) {
            Ok(answer) => ROk(answer.into()),
            Err(err) => RErr(err.to_wire().into()),
        }
    }
}

/// Exports a [`Method`] type as a profcmp plugin: the manifest C symbol and the abi_stable root
/// module. Use it once, at the crate root of a `cdylib`: `profcmp_plugin_api::export_method!(MyMethod);`
#[macro_export]
macro_rules! export_method {
    ($ty:ty) => {
        $crate::export_method!(@api $crate::API_VERSION, $ty);
    };
    // Hidden arm: records another plugin-api version in the manifest. Only the loader's tests
    // use it, to build a plugin that claims to be from an incompatible API.
    (@api $api:expr, $ty:ty) => {
        #[doc(hidden)]
        #[no_mangle]
        pub extern "C" fn profcmp_plugin_manifest_v1() -> *const ::std::os::raw::c_char {
            static MANIFEST: ::std::sync::OnceLock<::std::ffi::CString> = ::std::sync::OnceLock::new();
            MANIFEST
                .get_or_init(|| {
                    // No panic in an extern "C" fn: a NUL (impossible in JSON text) is dropped.
                    let json = $crate::sdk::run_manifest::<$ty>($api).as_str().replace('\0', "");
                    ::std::ffi::CString::new(json).unwrap_or_default()
                })
                .as_ptr()
        }

        extern "C" fn __profcmp_manifest() -> $crate::abi_stable::std_types::RString {
            $crate::sdk::run_manifest::<$ty>($api)
        }
        extern "C" fn __profcmp_profile(
            request: $crate::abi_stable::std_types::RStr<'_>,
            host: $crate::abi::HostRef<'_>,
        ) -> $crate::abi_stable::std_types::RResult<
            $crate::abi_stable::std_types::RString,
            $crate::abi_stable::std_types::RString,
        > {
            $crate::sdk::run_profile::<$ty>(request, host)
        }
        extern "C" fn __profcmp_report_cost() -> $crate::abi_stable::std_types::RString {
            $crate::sdk::run_report_cost()
        }
        fn __profcmp_root_module() -> $crate::abi::MethodModRef {
            $crate::abi_stable::prefix_type::PrefixTypeTrait::leak_into_prefix($crate::abi::MethodMod {
                manifest: __profcmp_manifest,
                profile: __profcmp_profile,
                report_cost: __profcmp_report_cost,
            })
        }

        // What `#[abi_stable::export_root_module]` expands to, written with `$crate` paths so
        // plugin authors need no direct abi_stable dependency. The symbol name is abi_stable's
        // mangled `ROOT_MODULE_LOADER_NAME` (checked by a test in plugin-api).
        #[doc(hidden)]
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::abi_stable::library::LibHeader = {
            extern "C" fn erased_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(__profcmp_root_module)
            }
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::abi::MethodModRef>(
                    erased_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
