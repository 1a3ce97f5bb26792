//! Finding and loading OFX binaries, and describing the plugins in them. Loading follows the
//! spec's order: `OfxGetNumberOfPlugins`, `OfxGetPlugin`, `setHost`, `kOfxActionLoad`,
//! `kOfxActionDescribe`, `kOfxImageEffectActionDescribeInContext` per context; and on the way
//! out `kOfxActionUnload` for every loaded plugin before the library is closed. Every string the
//! host keeps is copied; no plugin pointer is kept past unload.

use crate::cuda::CudaSupport;
use crate::effect::{ClipObj, EffectObj};
use crate::error::HostError;
use crate::findings::{Finding, FindingKind, Findings};
use crate::host::HostCore;
use crate::params::{ParamInfo, ParamType};
use crate::props::*;
use ofx_sys::*;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

type MainEntry = unsafe extern "C" fn(
    *const c_char,
    *const c_void,
    OfxPropertySetHandle,
    OfxPropertySetHandle,
) -> OfxStatus;

/// One plugin listed by a binary (what `OfxGetPlugin` said, copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    pub index: usize,
    pub api: String,
    pub api_version: i32,
    pub identifier: String,
    pub version_major: u32,
    pub version_minor: u32,
}

pub(crate) struct BinaryInner {
    pub path: PathBuf,
    pub entries: Vec<PluginEntry>,
    raw: Vec<*const OfxPlugin>,
    pub core: Arc<HostCore>,
    // Never closed (never dlclose'd), as hosts do: a plugin may leave threads of its own
    // running after kOfxActionUnload (a rayon pool, a CUDA callback), and unmapping their code
    // under them crashes the process — seen as rare SIGSEGVs in tests that load and drop the
    // same bundle from parallel hosts. The OS keeps one copy; reopening only counts up.
    _lib: std::mem::ManuallyDrop<libloading::Library>,
}

// SAFETY: the raw OfxPlugin pointers point into the loaded library, which is never closed; they are only read (function pointers) under the plugin's own threading rules.
unsafe impl Send for BinaryInner {}
unsafe impl Sync for BinaryInner {}

/// A loaded OFX binary (`.ofx` shared library).
#[derive(Clone)]
pub struct Binary {
    pub(crate) inner: Arc<BinaryInner>,
}

impl std::fmt::Debug for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binary")
            .field("path", &self.inner.path)
            .field("plugins", &self.inner.entries)
            .finish()
    }
}

/// The `.ofx` file inside a bundle directory, or the path itself for a bare `.ofx` file.
pub fn binary_path(path: &Path) -> Result<PathBuf, HostError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if path.is_dir() {
        let arch = path.join("Contents").join("Linux-x86-64");
        let dir_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let stem = dir_name.strip_suffix(".ofx.bundle").unwrap_or(dir_name);
        let exact = arch.join(format!("{stem}.ofx"));
        if exact.is_file() {
            return Ok(exact);
        }
        if let Ok(rd) = std::fs::read_dir(&arch) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "ofx") {
                    return Ok(e.path());
                }
            }
        }
        return Err(HostError::Load {
            path: path.to_path_buf(),
            reason: format!("no Contents/Linux-x86-64/{stem}.ofx inside the bundle"),
        });
    }
    Err(HostError::NotFound {
        what: path.display().to_string(),
        searched: "the path as given".into(),
    })
}

/// Directories searched for plugins: `OFX_PLUGIN_PATH` (colon-separated), then `/usr/OFX/Plugins`.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::env::var_os("OFX_PLUGIN_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    v.push(PathBuf::from("/usr/OFX/Plugins"));
    v
}

/// Every bundle (`*.ofx.bundle`) and bare `.ofx` file under `dir` (recursively, a few levels).
pub fn find_binaries(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let bundle = p.is_dir() && n.ends_with(".ofx.bundle");
            let bare = p.is_file() && n.ends_with(".ofx");
            if bundle || bare {
                out.push(p);
            } else if p.is_dir() && depth > 0 {
                walk(&p, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 3, &mut out);
    out
}

impl Binary {
    /// Loads a bundle directory or a bare `.ofx` file and lists its plugins (no action is sent).
    pub(crate) fn open(core: Arc<HostCore>, path: &Path) -> Result<Binary, HostError> {
        let file = binary_path(path)?;
        // SAFETY: loading a shared library runs its initialisers; that is what loading a
        // plugin means, and the caller asked for this file.
        let lib = unsafe { libloading::Library::new(&file) }.map_err(|e| HostError::Load {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        type Count = unsafe extern "C" fn() -> c_int;
        type Get = unsafe extern "C" fn(c_int) -> *mut OfxPlugin;
        // SAFETY: the OFX ABI fixes these two symbols' signatures.
        let count: libloading::Symbol<Count> = unsafe { lib.get(b"OfxGetNumberOfPlugins\0") }
            .map_err(|_| HostError::MissingSymbol {
                path: file.clone(),
                symbol: "OfxGetNumberOfPlugins",
            })?;
        // SAFETY: as above.
        let get: libloading::Symbol<Get> =
            unsafe { lib.get(b"OfxGetPlugin\0") }.map_err(|_| HostError::MissingSymbol {
                path: file.clone(),
                symbol: "OfxGetPlugin",
            })?;
        // SAFETY: calling the plugin's exported functions per the ABI.
        let n = unsafe { count() }.max(0);
        let mut entries = Vec::new();
        let mut raw = Vec::new();
        for i in 0..n {
            // SAFETY: index within the count the plugin gave.
            let p = unsafe { get(i) };
            if p.is_null() {
                core.findings.push(
                    FindingKind::Load,
                    format!("{}: OfxGetPlugin({i}) returned NULL", file.display()),
                );
                continue;
            }
            // SAFETY: non-null OfxPlugin from the library; its strings are NUL-terminated
            // (copied here, never kept).
            let e = unsafe {
                let pl = &*p;
                let s = |c: *const c_char| {
                    if c.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(c).to_string_lossy().into_owned()
                    }
                };
                PluginEntry {
                    index: i as usize,
                    api: s(pl.pluginApi),
                    api_version: pl.apiVersion,
                    identifier: s(pl.pluginIdentifier),
                    version_major: pl.pluginVersionMajor as c_uint,
                    version_minor: pl.pluginVersionMinor as c_uint,
                }
            };
            entries.push(e);
            raw.push(p as *const OfxPlugin);
        }
        Ok(Binary {
            inner: Arc::new(BinaryInner {
                path: file,
                entries,
                raw,
                core,
                _lib: std::mem::ManuallyDrop::new(lib),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    /// The plugins the binary lists, in its order.
    pub fn plugins(&self) -> &[PluginEntry] {
        &self.inner.entries
    }

    /// Loads and describes one plugin (by identifier; `None` takes the only or first image
    /// effect plugin).
    pub fn plugin(&self, identifier: Option<&str>) -> Result<Plugin, HostError> {
        let pos = match identifier {
            Some(id) => self.inner.entries.iter().position(|e| e.identifier == id),
            None => self
                .inner
                .entries
                .iter()
                .position(|e| e.api == name(kOfxImageEffectPluginApi)),
        };
        let Some(pos) = pos else {
            return Err(HostError::PluginNotFound {
                path: self.inner.path.clone(),
                id: identifier.unwrap_or("<any image effect>").to_string(),
                available: self
                    .inner
                    .entries
                    .iter()
                    .map(|e| e.identifier.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        Plugin::load(self.inner.clone(), pos)
    }
}

/// A plugin that has been loaded and described.
pub(crate) struct PluginInner {
    pub binary: Arc<BinaryInner>,
    pub entry: PluginEntry,
    main: MainEntry,
    pub descriptor: Box<EffectObj>,
    /// (context name, descriptor after describeInContext).
    pub contexts: Vec<(String, Box<EffectObj>)>,
    pub findings: Arc<Findings>,
    /// Load succeeded, so Unload is owed before the library closes.
    loaded: bool,
}

// SAFETY: the plugin's entry point may be called from any thread (the plugin's declared render
// thread-safety is honoured by the render code); all host state is Sync.
unsafe impl Send for PluginInner {}
unsafe impl Sync for PluginInner {}

impl PluginInner {
    /// Sends an action and checks the returned status is one the spec allows for it.
    pub fn action(
        &self,
        action: &'static [u8],
        handle: *const c_void,
        in_args: Option<&PropertySet>,
        out_args: Option<&PropertySet>,
    ) -> OfxStatus {
        let ih = in_args.map(|p| p.handle()).unwrap_or(std::ptr::null_mut());
        let oh = out_args.map(|p| p.handle()).unwrap_or(std::ptr::null_mut());
        // SAFETY: the entry point of a plugin whose library is loaded (held by `binary`),
        // called with host objects that live through the call.
        let st = unsafe { (self.main)(action.as_ptr() as *const c_char, handle, ih, oh) };
        check_status(&self.findings, &self.entry.identifier, name(action), st);
        st
    }
}

/// Statuses an action may return; anything else is reported.
fn check_status(findings: &Findings, plugin: &str, action: &str, st: OfxStatus) {
    let allowed: &[OfxStatus] = match action {
        // The render action's list (ofxImageEffect.h), plus the image-effect statuses a
        // render may meet: an image format it cannot take, and the GPU render failures.
        a if a == name(kOfxImageEffectActionRender) => &[
            STAT_OK,
            STAT_FAILED,
            STAT_ERR_FATAL,
            STAT_ERR_MEMORY,
            STAT_REPLY_DEFAULT,
            STAT_UNLICENSED,
            STAT_ERR_IMAGE_FORMAT,
            STAT_GPU_OUT_OF_MEMORY,
            STAT_GPU_RENDER_FAILED,
        ],
        a if a == name(kOfxImageEffectActionIsIdentity)
            || a == name(kOfxImageEffectActionGetRegionOfDefinition)
            || a == name(kOfxImageEffectActionGetRegionsOfInterest)
            || a == name(kOfxImageEffectActionGetClipPreferences) =>
        {
            &[
                STAT_OK,
                STAT_REPLY_DEFAULT,
                STAT_FAILED,
                STAT_ERR_FATAL,
                STAT_ERR_MEMORY,
            ]
        }
        _ => &[
            STAT_OK,
            STAT_REPLY_DEFAULT,
            STAT_FAILED,
            STAT_ERR_FATAL,
            STAT_ERR_MEMORY,
            STAT_ERR_MISSING_HOST_FEATURE,
            STAT_ERR_UNSUPPORTED,
        ],
    };
    if !allowed.contains(&st) {
        findings.push(
            FindingKind::InvalidStatus,
            format!(
                "{plugin}: {action} returned {st} ({}), which the spec does not allow there",
                status_name(st)
            ),
        );
    }
}

/// The default properties of an effect descriptor before the plugin describes itself.
/// The `*.ofx.bundle` folder a binary at `<bundle>/Contents/<arch>/<name>.ofx` lives in.
pub fn bundle_dir(binary: &Path) -> PathBuf {
    binary
        .ancestors()
        .nth(3)
        .filter(|b| b.extension().is_some_and(|e| e == "bundle"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| binary.to_path_buf())
}

fn define_effect_descriptor_props(p: &PropertySet, file: &Path) {
    p.define_str(name(kOfxPropType), &[name(kOfxTypeImageEffect)]);
    p.define_str(name(kOfxPropLabel), &[""]);
    p.define_str(name(kOfxPropShortLabel), &[""]);
    p.define_str(name(kOfxPropLongLabel), &[""]);
    p.define_int(name(kOfxPropVersion), &[0]);
    p.define_str(name(kOfxPropVersionLabel), &[""]);
    p.define_str(name(kOfxPropPluginDescription), &[""]);
    p.define_str(name(kOfxImageEffectPluginPropGrouping), &[""]);
    p.define_list(
        name(kOfxImageEffectPropSupportedContexts),
        PropValue::Str(vec![]),
    );
    p.define_list(
        name(kOfxImageEffectPropSupportedPixelDepths),
        PropValue::Str(vec![]),
    );
    p.define_int(name(kOfxImageEffectPluginPropSingleInstance), &[0]);
    p.define_str(
        name(kOfxImageEffectPluginRenderThreadSafety),
        &[name(kOfxImageEffectRenderInstanceSafe)],
    );
    p.define_int(name(kOfxImageEffectPluginPropHostFrameThreading), &[0]);
    p.define_ptr(name(kOfxImageEffectPluginPropOverlayInteractV1), &[0]);
    p.define_int(name(kOfxImageEffectPropSupportsMultiResolution), &[1]);
    p.define_int(name(kOfxImageEffectPropSupportsTiles), &[1]);
    p.define_int(name(kOfxImageEffectPropTemporalClipAccess), &[0]);
    p.define_int(name(kOfxImageEffectPluginPropFieldRenderTwiceAlways), &[1]);
    p.define_int(name(kOfxImageEffectPropSupportsMultipleClipDepths), &[0]);
    p.define_int(name(kOfxImageEffectPropSupportsMultipleClipPARs), &[0]);
    p.define_list(
        name(kOfxImageEffectPropClipPreferencesSlaveParam),
        PropValue::Str(vec![]),
    );
    // OFX: "the file path to the plugin's bundle directory" (Nuke and Resolve report the
    // bundle, not the binary inside it); a bare binary outside a bundle reports itself.
    p.define_str(
        name(kOfxPluginPropFilePath),
        &[&bundle_dir(file).display().to_string()],
    );
    p.define_str(name(kOfxImageEffectPropOpenGLRenderSupported), &["false"]);
    crate::cuda::define_descriptor_cuda_props(p);
}

/// A described plugin: its properties, contexts, clips and parameters.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("identifier", &self.inner.entry.identifier)
            .field("contexts", &self.contexts())
            .finish()
    }
}

/// What a plugin declares about itself.
#[derive(Debug, Clone)]
pub struct PluginDescription {
    pub identifier: String,
    pub version: (u32, u32),
    pub api_version: i32,
    pub file: PathBuf,
    pub label: String,
    pub grouping: String,
    pub description: String,
    /// Contexts the plugin lists.
    pub declared_contexts: Vec<String>,
    /// Per described context (filter/general): its clips and parameters.
    pub contexts: Vec<ContextDescription>,
    pub supported_depths: Vec<String>,
    pub render_thread_safety: String,
    pub supports_tiles: bool,
    pub supports_multi_resolution: bool,
    pub temporal_clip_access: bool,
    pub host_frame_threading: bool,
    pub single_instance: bool,
    pub cuda: CudaSupport,
    /// Suites the plugin asked for that the host lacks.
    pub missing_suites: Vec<(String, i32)>,
    /// Findings from load and describe (parameter ranges, labels, statuses, …).
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone)]
pub struct ContextDescription {
    pub context: String,
    pub clips: Vec<ClipInfo>,
    pub params: Vec<ParamInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    pub name: String,
    pub label: String,
    pub optional: bool,
    pub is_mask: bool,
    pub temporal_access: bool,
    pub supports_tiles: bool,
    pub components: Vec<String>,
}

impl ClipInfo {
    pub(crate) fn of(c: &ClipObj) -> ClipInfo {
        let p = &c.props;
        ClipInfo {
            name: c.name.clone(),
            label: p.get_string(name(kOfxPropLabel), 0).unwrap_or_default(),
            optional: p.get_int(name(kOfxImageClipPropOptional), 0).unwrap_or(0) != 0,
            is_mask: p.get_int(name(kOfxImageClipPropIsMask), 0).unwrap_or(0) != 0,
            temporal_access: p
                .get_int(name(kOfxImageEffectPropTemporalClipAccess), 0)
                .unwrap_or(0)
                != 0,
            supports_tiles: p
                .get_int(name(kOfxImageEffectPropSupportsTiles), 0)
                .unwrap_or(1)
                != 0,
            components: p.get_strings(name(kOfxImageEffectPropSupportedComponents)),
        }
    }
}

/// The contexts this host can instantiate.
pub const HOST_CONTEXTS: [&[u8]; 2] = [kOfxImageEffectContextFilter, kOfxImageEffectContextGeneral];

impl Plugin {
    fn load(binary: Arc<BinaryInner>, pos: usize) -> Result<Plugin, HostError> {
        let entry = binary.entries[pos].clone();
        let raw = binary.raw[pos];
        let core = binary.core.clone();
        let findings = Arc::new(Findings::default());
        // Load and Describe get inArgs = NULL (ofxCore.h).
        let fail =
            |action: &str, st: OfxStatus| HostError::action(&entry.identifier, action, st, true);
        // SAFETY: raw points at the plugin's OfxPlugin struct inside the loaded library.
        let (set_host, main) = unsafe { ((*raw).setHost, (*raw).mainEntry) };
        let Some(main) = main else {
            return Err(HostError::Load {
                path: binary.path.clone(),
                reason: format!("plugin {} has no mainEntry", entry.identifier),
            });
        };
        if entry.api != name(kOfxImageEffectPluginApi) {
            return Err(HostError::Load {
                path: binary.path.clone(),
                reason: format!(
                    "plugin {} implements API '{}', not image effects",
                    entry.identifier, entry.api
                ),
            });
        }
        if let Some(sh) = set_host {
            // SAFETY: the OfxHost lives in the HostCore, which the binary (and so the plugin)
            // keeps alive for as long as the library is loaded.
            unsafe { sh(core.ofx_host_ptr()) };
        }
        let now = Arc::new(AtomicU64::new(0f64.to_bits()));
        let descriptor = EffectObj::new(
            &format!("effect descriptor of {}", entry.identifier),
            core.clone(),
            findings.clone(),
            now.clone(),
            None,
        );
        define_effect_descriptor_props(&descriptor.props, &binary.path);
        let mut inner = PluginInner {
            binary: binary.clone(),
            entry: entry.clone(),
            main,
            descriptor,
            contexts: Vec::new(),
            findings: findings.clone(),
            loaded: false,
        };
        let st = inner.action(kOfxActionLoad, std::ptr::null(), None, None);
        if st != STAT_OK && st != STAT_REPLY_DEFAULT {
            // A failed Load is not followed by Unload (`loaded` stays false).
            return Err(fail("kOfxActionLoad", st));
        }
        // From here on, dropping `inner` sends Unload (see Drop for PluginInner).
        inner.loaded = true;
        let handle = inner.descriptor.handle() as *const c_void;
        let st = inner.action(kOfxActionDescribe, handle, None, None);
        if st != STAT_OK && st != STAT_REPLY_DEFAULT {
            return Err(fail("kOfxActionDescribe", st));
        }
        let declared = inner
            .descriptor
            .props
            .get_strings(name(kOfxImageEffectPropSupportedContexts));
        for ctx in HOST_CONTEXTS {
            let ctx = name(ctx);
            if !declared.iter().any(|d| d == ctx) {
                continue;
            }
            let d = EffectObj::new(
                &format!("{} descriptor in {ctx}", entry.identifier),
                core.clone(),
                findings.clone(),
                now.clone(),
                None,
            );
            inner.descriptor.props.clone_into(&d.props);
            let in_args =
                PropertySet::new_strict("describeInContext inArgs", Some(findings.clone()));
            in_args.define_str(name(kOfxImageEffectPropContext), &[ctx]);
            let st = inner.action(
                kOfxImageEffectActionDescribeInContext,
                d.handle() as *const c_void,
                Some(&in_args),
                None,
            );
            if st == STAT_OK || st == STAT_REPLY_DEFAULT {
                check_params(&findings, &entry.identifier, ctx, &d.params.infos());
                inner.contexts.push((ctx.to_string(), d));
            } else {
                findings.push(
                    FindingKind::ActionFailed,
                    format!(
                        "{}: describeInContext({ctx}) returned {}",
                        entry.identifier,
                        status_name(st)
                    ),
                );
            }
        }
        if inner.contexts.is_empty() {
            return Err(HostError::Context {
                plugin: entry.identifier.clone(),
                context: "filter or general".into(),
                supported: declared.join(", "),
            });
        }
        Ok(Plugin {
            inner: Arc::new(inner),
        })
    }

    pub fn identifier(&self) -> &str {
        &self.inner.entry.identifier
    }
    pub fn entry(&self) -> &PluginEntry {
        &self.inner.entry
    }
    /// Contexts that were described successfully and can be instantiated.
    pub fn contexts(&self) -> Vec<String> {
        self.inner.contexts.iter().map(|(c, _)| c.clone()).collect()
    }
    /// Findings so far from this plugin's load, describe and instances' actions.
    pub fn findings(&self) -> Vec<Finding> {
        self.inner.findings.all()
    }

    /// Everything the plugin declares.
    pub fn describe(&self) -> PluginDescription {
        let d = &self.inner.descriptor.props;
        let s = |k: &'static [u8]| d.get_string(name(k), 0).unwrap_or_default();
        let b = |k: &'static [u8], def: i32| d.get_int(name(k), 0).unwrap_or(def) != 0;
        let contexts = self
            .inner
            .contexts
            .iter()
            .map(|(c, e)| ContextDescription {
                context: c.clone(),
                clips: e
                    .clips
                    .lock()
                    .unwrap_or_else(|x| x.into_inner())
                    .iter()
                    .map(|c| ClipInfo::of(c))
                    .collect(),
                params: e.params.infos(),
            })
            .collect();
        let core = &self.inner.binary.core;
        PluginDescription {
            identifier: self.inner.entry.identifier.clone(),
            version: (
                self.inner.entry.version_major,
                self.inner.entry.version_minor,
            ),
            api_version: self.inner.entry.api_version,
            file: self.inner.binary.path.clone(),
            label: s(kOfxPropLabel),
            grouping: s(kOfxImageEffectPluginPropGrouping),
            description: s(kOfxPropPluginDescription),
            declared_contexts: d.get_strings(name(kOfxImageEffectPropSupportedContexts)),
            contexts,
            supported_depths: d.get_strings(name(kOfxImageEffectPropSupportedPixelDepths)),
            render_thread_safety: s(kOfxImageEffectPluginRenderThreadSafety),
            supports_tiles: b(kOfxImageEffectPropSupportsTiles, 1),
            supports_multi_resolution: b(kOfxImageEffectPropSupportsMultiResolution, 1),
            temporal_clip_access: b(kOfxImageEffectPropTemporalClipAccess, 0),
            host_frame_threading: b(kOfxImageEffectPluginPropHostFrameThreading, 0),
            single_instance: b(kOfxImageEffectPluginPropSingleInstance, 0),
            cuda: CudaSupport::read(d),
            missing_suites: core
                .missing_suites
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect(),
            findings: self.inner.findings.all(),
        }
    }

    /// Creates an instance in `context` (`"filter"`, `"general"` or the full OFX name).
    pub fn instance(&self, context: &str) -> Result<crate::instance::Instance, HostError> {
        crate::instance::Instance::create(self.inner.clone(), context)
    }
}

impl Drop for PluginInner {
    fn drop(&mut self) {
        // The spec pairs every successful Load with an Unload before the binary is closed.
        if self.loaded {
            let st = self.action(kOfxActionUnload, std::ptr::null(), None, None);
            if st != STAT_OK && st != STAT_REPLY_DEFAULT {
                log::warn!(
                    "{}: kOfxActionUnload returned {}",
                    self.entry.identifier,
                    status_name(st)
                );
            }
        }
    }
}

/// Reports parameter declarations that break hosts or users.
fn check_params(findings: &Findings, plugin: &str, ctx: &str, params: &[ParamInfo]) {
    for p in params {
        let numeric = p.kind.is_numeric();
        if numeric {
            let defaults: Vec<f64> = match &p.default {
                crate::params::ParamValue::Ints(v) => v.iter().map(|x| *x as f64).collect(),
                crate::params::ParamValue::Doubles(v) => v.clone(),
                _ => vec![],
            };
            for (i, d) in defaults.iter().enumerate() {
                let (lo, hi) = (
                    p.min.get(i).copied().unwrap_or(f64::MIN),
                    p.max.get(i).copied().unwrap_or(f64::MAX),
                );
                if *d < lo || *d > hi {
                    findings.push(
                        FindingKind::DefaultOutOfRange,
                        format!("{plugin} ({ctx}): parameter '{}' default {d} is outside its range [{lo}, {hi}]", p.name),
                    );
                }
                // The host's defaults (the whole int or double range) mean "not set".
                let unset = |v: f64| v <= i32::MIN as f64 || v >= i32::MAX as f64;
                let dlo = p
                    .display_min
                    .get(i)
                    .copied()
                    .filter(|v| !unset(*v))
                    .unwrap_or(lo);
                let dhi = p
                    .display_max
                    .get(i)
                    .copied()
                    .filter(|v| !unset(*v))
                    .unwrap_or(hi);
                if dlo < lo || dhi > hi {
                    findings.push(
                        FindingKind::DefaultOutOfRange,
                        format!("{plugin} ({ctx}): parameter '{}' display range [{dlo}, {dhi}] exceeds its range [{lo}, {hi}]", p.name),
                    );
                }
            }
            if p.kind == ParamType::Double && p.display_max.first().is_some_and(|v| *v >= f64::MAX)
            {
                findings.push(
                    FindingKind::Portability,
                    format!("{plugin} ({ctx}): double parameter '{}' has no display range (Resolve then clamps it to -1..1)", p.name),
                );
            }
        }
        if p.kind == ParamType::Choice {
            if let crate::params::ParamValue::Ints(v) = &p.default {
                if v.first()
                    .is_some_and(|i| *i < 0 || *i as usize >= p.options.len())
                {
                    findings.push(
                        FindingKind::DefaultOutOfRange,
                        format!(
                            "{plugin} ({ctx}): choice '{}' default {} is not one of its {} options",
                            p.name,
                            v[0],
                            p.options.len()
                        ),
                    );
                }
            }
        }
        let has_value = !matches!(p.kind, ParamType::Group | ParamType::Page);
        if has_value && p.hint.is_empty() && !p.secret {
            findings.push(
                FindingKind::Portability,
                format!(
                    "{plugin} ({ctx}): parameter '{}' has no hint (tooltip)",
                    p.name
                ),
            );
        }
    }
}
