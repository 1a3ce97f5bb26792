//! The [`Plugin`] trait effects implement, the registry behind `OfxGetPlugin`, and the guard
//! every `extern "C"` body runs in: panics are caught, errors become OFX statuses and a message
//! the user can read, and the host keeps running.

use crate::action::*;
use crate::effect::{Context, ImageEffect, MessageKind};
use crate::host::Host;
use crate::props::PropSet;
use crate::status::{Error, Result, Status};
use crate::{name, sys};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

/// One OFX image effect. Methods default to "let the host do its default", so an effect only
/// implements what it changes. All methods take `&self`: render may run on several threads at
/// once and concurrently with main-thread actions, so per-instance state lives in the host's
/// parameters, not in the plugin.
pub trait Plugin: Send + Sync + 'static {
    /// Reverse-domain identifier, e.g. `org.platerestore.InverseToneMap`.
    fn identifier(&self) -> &'static CStr;
    /// (major, minor). Bumping major tells hosts saved projects may not reproduce.
    fn version(&self) -> (u32, u32);

    fn load(&self) -> Result<()> {
        Ok(())
    }
    fn unload(&self) -> Result<()> {
        Ok(())
    }
    fn describe(&self, effect: &ImageEffect) -> Result<()>;
    fn describe_in_context(&self, effect: &ImageEffect, context: Context) -> Result<()>;
    fn create_instance(&self, _effect: &ImageEffect) -> Result<()> {
        Ok(())
    }
    fn destroy_instance(&self, _effect: &ImageEffect) -> Result<()> {
        Ok(())
    }
    fn region_of_definition(
        &self,
        _effect: &ImageEffect,
        _args: &RegionOfDefinitionArgs,
        _out: &OutArgs,
    ) -> Result<()> {
        Err(Error::reply_default())
    }
    fn regions_of_interest(
        &self,
        _effect: &ImageEffect,
        _args: &RegionsOfInterestArgs,
        _out: &OutArgs,
    ) -> Result<()> {
        Err(Error::reply_default())
    }
    fn clip_preferences(&self, _effect: &ImageEffect, _out: &OutArgs) -> Result<()> {
        Err(Error::reply_default())
    }
    /// `Ok(true)` after writing the identity clip (and time) to `out`; `Ok(false)` to render.
    fn is_identity(
        &self,
        _effect: &ImageEffect,
        _args: &IsIdentityArgs,
        _out: &OutArgs,
    ) -> Result<bool> {
        Ok(false)
    }
    fn render(&self, effect: &ImageEffect, args: &RenderArgs) -> Result<()>;
    fn begin_sequence_render(&self, _effect: &ImageEffect, _args: &SequenceArgs) -> Result<()> {
        Err(Error::reply_default())
    }
    fn end_sequence_render(&self, _effect: &ImageEffect, _args: &SequenceArgs) -> Result<()> {
        Err(Error::reply_default())
    }
    fn instance_changed(&self, _effect: &ImageEffect, _args: &InstanceChangedArgs) -> Result<()> {
        Err(Error::reply_default())
    }
    fn time_domain(&self, _effect: &ImageEffect, _out: &OutArgs) -> Result<()> {
        Err(Error::reply_default())
    }
    /// kOfxImageEffectActionGetFramesNeeded (effects with temporal clip access): the source
    /// frames rendering `time` reads, set with `OutArgs::set_frames_needed`. Default: `time`.
    fn frames_needed(&self, _effect: &ImageEffect, _time: f64, _out: &OutArgs) -> Result<()> {
        Err(Error::reply_default())
    }
    fn purge_caches(&self, _effect: &ImageEffect) -> Result<()> {
        Err(Error::reply_default())
    }
}

/// Runs `f`, turning a panic or an error into an OFX status. Errors with a message are logged
/// and, when `effect` is given (instance actions), shown to the user through the host.
pub fn guard(
    what: &str,
    effect: Option<&ImageEffect>,
    f: impl FnOnce() -> Result<Status>,
) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => status.code(),
        Ok(Err(e)) => {
            if e.status != Status::ReplyDefault && !e.message.is_empty() {
                let text = format!("PlateRestore: {what}: {}", e.message);
                match effect {
                    Some(fx) => fx.message(MessageKind::Error, &text),
                    None => log::error!("{text}"),
                }
            }
            e.status.code()
        }
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            let text = format!(
                "PlateRestore: internal error in {what} ({detail}); the frame was not rendered. Please report this with the log file."
            );
            match effect {
                Some(fx) => fx.message(MessageKind::Error, &text),
                None => log::error!("{text}"),
            }
            Status::Failed.code()
        }
    }
}

struct Entry {
    plugin: Box<dyn Plugin>,
    ofx: sys::OfxPlugin,
}

/// The plugins of this binary, built once on the first `OfxGetNumberOfPlugins`/`OfxGetPlugin`.
pub struct PluginRegistry {
    entries: Vec<Entry>,
}

// SAFETY: entries are immutable after construction; the raw pointers in OfxPlugin point at
// 'static strings and functions.
unsafe impl Send for PluginRegistry {}
unsafe impl Sync for PluginRegistry {}

static REGISTRY: OnceLock<PluginRegistry> = OnceLock::new();

/// The most plugins one binary can register (one `mainEntry` trampoline each).
pub const MAX_PLUGINS: usize = 8;

impl PluginRegistry {
    /// The registry, built by `make` on first use. Plugins beyond [`MAX_PLUGINS`] are dropped
    /// with a log line rather than failing the whole binary.
    pub fn get_or_init(make: impl FnOnce() -> Vec<Box<dyn Plugin>>) -> &'static PluginRegistry {
        REGISTRY.get_or_init(|| {
            let mut plugins = make();
            if plugins.len() > MAX_PLUGINS {
                log::error!("only {MAX_PLUGINS} plugins can be registered; dropping the rest");
                plugins.truncate(MAX_PLUGINS);
            }
            let entries = plugins
                .into_iter()
                .enumerate()
                .map(|(i, plugin)| {
                    let (major, minor) = plugin.version();
                    let ofx = sys::OfxPlugin {
                        pluginApi: name!(kOfxImageEffectPluginApi).as_ptr(),
                        apiVersion: 1,
                        pluginIdentifier: plugin.identifier().as_ptr(),
                        pluginVersionMajor: major,
                        pluginVersionMinor: minor,
                        setHost: Some(set_host),
                        mainEntry: Some(TRAMPOLINES[i]),
                    };
                    Entry { plugin, ofx }
                })
                .collect();
            PluginRegistry { entries }
        })
    }

    pub fn count(&self) -> usize {
        self.entries.len()
    }

    /// The `OfxPlugin*` for `OfxGetPlugin(n)`; null for an index out of range.
    pub fn ofx_plugin(&self, n: c_int) -> *mut sys::OfxPlugin {
        match usize::try_from(n).ok().and_then(|i| self.entries.get(i)) {
            // The host only reads the struct (ofxCore.h); it lives as long as the binary.
            Some(e) => &e.ofx as *const sys::OfxPlugin as *mut sys::OfxPlugin,
            None => std::ptr::null_mut(),
        }
    }

    fn plugin(&self, i: usize) -> Option<&dyn Plugin> {
        self.entries.get(i).map(|e| e.plugin.as_ref())
    }
}

unsafe extern "C" fn set_host(host: *mut sys::OfxHost) {
    let _ = guard("setHost", None, || {
        // SAFETY: the host passes its OfxHost, valid while the binary is loaded.
        let h = unsafe { Host::fetch(host) }?;
        Host::install(h);
        Ok(Status::Ok)
    });
}

macro_rules! trampolines {
    ($($i:literal => $f:ident),* $(,)?) => {
        $(
            unsafe extern "C" fn $f(
                action: *const c_char,
                handle: *const c_void,
                in_args: sys::OfxPropertySetHandle,
                out_args: sys::OfxPropertySetHandle,
            ) -> sys::OfxStatus {
                // SAFETY: forwarded verbatim from the host's call of mainEntry.
                unsafe { dispatch($i, action, handle, in_args, out_args) }
            }
        )*
        const TRAMPOLINES: [unsafe extern "C" fn(
            *const c_char,
            *const c_void,
            sys::OfxPropertySetHandle,
            sys::OfxPropertySetHandle,
        ) -> sys::OfxStatus; MAX_PLUGINS] = [$($f),*];
    };
}

trampolines!(0 => entry0, 1 => entry1, 2 => entry2, 3 => entry3, 4 => entry4, 5 => entry5, 6 => entry6, 7 => entry7);

/// # Safety
/// The arguments must be those a host passed to `mainEntry`.
unsafe fn dispatch(
    index: usize,
    action: *const c_char,
    handle: *const c_void,
    in_args: sys::OfxPropertySetHandle,
    out_args: sys::OfxPropertySetHandle,
) -> sys::OfxStatus {
    if action.is_null() {
        return Status::ErrBadHandle.code();
    }
    // SAFETY: a non-null action is a NUL-terminated string (ofxCore.h).
    let action = unsafe { CStr::from_ptr(action) };
    let kind = ActionKind::parse(action);
    let what = action.to_string_lossy().into_owned();
    let Some(registry) = REGISTRY.get() else {
        return Status::ErrFatal.code();
    };
    let Some(plugin) = registry.plugin(index) else {
        return Status::ErrBadIndex.code();
    };
    let host = match Host::get() {
        Ok(h) => h,
        Err(e) => {
            log::error!("{what}: {}", e.message);
            return e.status.code();
        }
    };
    let in_props = PropSet::new(in_args, host.property);
    let out = OutArgs(PropSet::new(out_args, host.property));
    // SAFETY: for every action but load/unload, `handle` is the effect handle.
    let effect = unsafe { ImageEffect::from_raw(handle, host) }.ok();
    // Messages are shown for instance actions only; describe-time errors go to the log.
    let user_visible = matches!(
        kind,
        ActionKind::Render
            | ActionKind::InstanceChanged
            | ActionKind::BeginSequenceRender
            | ActionKind::CreateInstance
    );
    let shown = if user_visible { effect.as_ref() } else { None };
    guard(&what, shown, || {
        let fx = || {
            effect
                .ok_or_else(|| Error::new(Status::ErrBadHandle, "the host passed no effect handle"))
        };
        let ok = |r: Result<()>| r.map(|_| Status::Ok);
        match kind {
            ActionKind::Load => ok(plugin.load()),
            ActionKind::Unload => ok(plugin.unload()),
            ActionKind::Describe => ok(plugin.describe(&fx()?)),
            ActionKind::DescribeInContext => {
                let ctx_name = in_props.get_string(name!(kOfxImageEffectPropContext), 0)?;
                let ctx = Context::from_name(&ctx_name).ok_or_else(|| {
                    Error::unsupported(format!("context {ctx_name} is not supported"))
                })?;
                ok(plugin.describe_in_context(&fx()?, ctx))
            }
            ActionKind::CreateInstance => ok(plugin.create_instance(&fx()?)),
            ActionKind::DestroyInstance => ok(plugin.destroy_instance(&fx()?)),
            ActionKind::GetRegionOfDefinition => {
                let args = RegionOfDefinitionArgs::decode(&in_props)?;
                ok(plugin.region_of_definition(&fx()?, &args, &out))
            }
            ActionKind::GetRegionsOfInterest => {
                let args = RegionsOfInterestArgs::decode(&in_props)?;
                ok(plugin.regions_of_interest(&fx()?, &args, &out))
            }
            ActionKind::GetClipPreferences => ok(plugin.clip_preferences(&fx()?, &out)),
            ActionKind::IsIdentity => {
                let args = IsIdentityArgs::decode(&in_props)?;
                match plugin.is_identity(&fx()?, &args, &out)? {
                    true => Ok(Status::Ok),
                    false => Ok(Status::ReplyDefault),
                }
            }
            ActionKind::Render => {
                let args = RenderArgs::decode(&in_props)?;
                ok(plugin.render(&fx()?, &args))
            }
            ActionKind::BeginSequenceRender => {
                let args = SequenceArgs::decode(&in_props)?;
                ok(plugin.begin_sequence_render(&fx()?, &args))
            }
            ActionKind::EndSequenceRender => {
                let args = SequenceArgs::decode(&in_props)?;
                ok(plugin.end_sequence_render(&fx()?, &args))
            }
            ActionKind::InstanceChanged => {
                let args = InstanceChangedArgs::decode(&in_props)?;
                ok(plugin.instance_changed(&fx()?, &args))
            }
            ActionKind::GetTimeDomain => ok(plugin.time_domain(&fx()?, &out)),
            ActionKind::GetFramesNeeded => {
                let time = in_props.get_double(name!(kOfxPropTime), 0)?;
                ok(plugin.frames_needed(&fx()?, time, &out))
            }
            ActionKind::PurgeCaches => ok(plugin.purge_caches(&fx()?)),
            _ => Ok(Status::ReplyDefault),
        }
    })
}

/// Defines the two symbols an OFX binary exports, over the given plugin list:
/// `ofx::export_plugins!(|| vec![Box::new(MyEffect) as Box<dyn ofx::Plugin>]);`
#[macro_export]
macro_rules! export_plugins {
    ($make:expr) => {
        /// OFX entry point: how many plugins this binary holds.
        #[no_mangle]
        pub extern "C" fn OfxGetNumberOfPlugins() -> ::std::ffi::c_int {
            match ::std::panic::catch_unwind(|| $crate::PluginRegistry::get_or_init($make).count())
            {
                Ok(n) => n as ::std::ffi::c_int,
                Err(_) => 0,
            }
        }

        /// OFX entry point: the nth plugin's description.
        #[no_mangle]
        pub extern "C" fn OfxGetPlugin(nth: ::std::ffi::c_int) -> *mut $crate::sys::OfxPlugin {
            match ::std::panic::catch_unwind(|| {
                $crate::PluginRegistry::get_or_init($make).ofx_plugin(nth)
            }) {
                Ok(p) => p,
                Err(_) => ::std::ptr::null_mut(),
            }
        }
    };
}
