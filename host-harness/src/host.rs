//! The host itself: its configuration, its property set, `fetchSuite`, and the suites that need
//! no effect (memory, multi-thread). One `HostCore` is shared by every binary it loads.

use crate::cuda::CudaMode;
use crate::device::{CudaDevice, DeviceError, DriverDevice, EmulatedDevice};
use crate::effect::{
    IMAGE_EFFECT_SUITE, MESSAGE_SUITE_V1, MESSAGE_SUITE_V2, PROGRESS_SUITE_V1, PROGRESS_SUITE_V2,
    TIMELINE_SUITE,
};
use crate::error::HostError;
use crate::findings::Findings;
use crate::params::PARAMETER_SUITE;
use crate::props::*;
use ofx_sys::*;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::ThreadId;

/// What the caller chooses about the host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Threads the host renders with and reports through `multiThreadNumCPUs` (at least 1).
    pub threads: usize,
    /// Strict mode: error-severity findings make renders and checks fail.
    pub strict: bool,
    /// Whether the host offers OFX CUDA render to plugins (off by default); see [`crate::cuda`].
    /// When on, renders use device memory unless `RenderOptions::cuda` says otherwise.
    pub cuda: crate::cuda::CudaMode,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            strict: false,
            cuda: crate::cuda::CudaMode::Off,
        }
    }
}

/// Host state shared by every object a plugin can reach.
pub struct HostCore {
    /// The host property set and the `OfxHost` handed to `setHost` are never freed (a few KB
    /// per host): a library loaded by two hosts keeps whichever pointer `setHost` gave it last,
    /// and the OS shares one copy of the library, so a plugin may reach a host's `OfxHost` and
    /// properties after that host has gone. Leaked, they stay valid for the whole process.
    pub(crate) props: &'static PropertySet,
    pub(crate) ofx_host: &'static OfxHost,
    pub config: HostConfig,
    pub findings: Arc<Findings>,
    /// Suites plugins asked for that this host does not provide (name, version).
    pub(crate) missing_suites: Mutex<BTreeSet<(String, i32)>>,
    /// The CUDA device, opened at the first CUDA render (a failure is remembered too).
    cuda_device: OnceLock<Result<Arc<dyn CudaDevice>, DeviceError>>,
}

// SAFETY: HostCore's raw parts are the OfxHost struct (a pointer to `props`, which lives for the
// whole process, and a function pointer); every mutable field is behind a Mutex.
unsafe impl Send for HostCore {}
unsafe impl Sync for HostCore {}

impl HostCore {
    pub fn new(config: HostConfig) -> Arc<HostCore> {
        let findings = Arc::new(Findings::default());
        let props: &'static PropertySet =
            Box::leak(PropertySet::new_strict("host", Some(findings.clone())));
        define_host_props(props, &config);
        let ofx_host: &'static OfxHost = Box::leak(Box::new(OfxHost {
            host: props.handle(),
            fetchSuite: Some(fetch_suite),
        }));
        Arc::new(HostCore {
            props,
            ofx_host,
            config: HostConfig {
                threads: config.threads.max(1),
                ..config
            },
            findings,
            missing_suites: Mutex::new(BTreeSet::new()),
            cuda_device: OnceLock::new(),
        })
    }

    /// The device CUDA renders use; opens it on first call. Never touches the driver unless
    /// the configuration asks for it, and then only after checking that libcuda loads.
    pub(crate) fn cuda_device(&self) -> Result<Arc<dyn CudaDevice>, HostError> {
        let unavailable = |reason: String| HostError::CudaUnavailable { reason };
        match self.config.cuda {
            CudaMode::Off => Err(unavailable(
                "this host was configured without CUDA render (HostConfig::cuda is Off)".into(),
            )),
            CudaMode::Emulated { .. } => Ok(self
                .cuda_device
                .get_or_init(|| Ok(Arc::new(EmulatedDevice)))
                .clone()
                .map_err(|e| unavailable(e.to_string()))?),
            CudaMode::Driver { .. } => self
                .cuda_device
                .get_or_init(|| {
                    DriverDevice::open(0).map(|d| {
                        log::info!("CUDA render on {}", d.description());
                        Arc::new(d) as Arc<dyn CudaDevice>
                    })
                })
                .clone()
                .map_err(|e| unavailable(e.to_string())),
        }
    }
    pub(crate) fn ofx_host_ptr(&self) -> *mut OfxHost {
        self.ofx_host as *const OfxHost as *mut OfxHost
    }
}

/// Host name plugins see in `kOfxPropName` of the host property set.
pub const HOST_NAME: &str = "org.platerestore.ofxrun";

fn define_host_props(p: &PropertySet, config: &HostConfig) {
    let all_depths = [
        name(kOfxBitDepthByte),
        name(kOfxBitDepthShort),
        name(kOfxBitDepthHalf),
        name(kOfxBitDepthFloat),
    ];
    p.define_str(name(kOfxPropType), &["OfxTypeImageEffectHost"]);
    p.define_str(name(kOfxPropName), &[HOST_NAME]);
    p.define_str(name(kOfxPropLabel), &["ofxrun"]);
    p.define_int(name(kOfxPropVersion), &[0, 1, 0]);
    p.define_str(name(kOfxPropVersionLabel), &[env!("CARGO_PKG_VERSION")]);
    p.define_int(name(kOfxPropAPIVersion), &[1, 4]);
    p.define_int(name(kOfxImageEffectHostPropIsBackground), &[1]);
    p.define_int(name(kOfxImageEffectPropSupportsOverlays), &[0]);
    p.define_int(name(kOfxImageEffectPropSupportsMultiResolution), &[1]);
    p.define_int(name(kOfxImageEffectPropSupportsTiles), &[1]);
    p.define_int(name(kOfxImageEffectPropTemporalClipAccess), &[1]);
    p.define_str(
        name(kOfxImageEffectPropSupportedComponents),
        &[
            name(kOfxImageComponentRGBA),
            name(kOfxImageComponentRGB),
            name(kOfxImageComponentAlpha),
        ],
    );
    p.define_str(
        name(kOfxImageEffectPropSupportedContexts),
        &[
            name(kOfxImageEffectContextFilter),
            name(kOfxImageEffectContextGeneral),
        ],
    );
    p.define_str(name(kOfxImageEffectPropSupportedPixelDepths), &all_depths);
    p.define_int(name(kOfxImageEffectPropSupportsMultipleClipDepths), &[1]);
    p.define_int(name(kOfxImageEffectPropSupportsMultipleClipPARs), &[0]);
    p.define_int(name(kOfxImageEffectPropSetableFrameRate), &[0]);
    p.define_int(name(kOfxImageEffectPropSetableFielding), &[0]);
    p.define_int(name(kOfxImageEffectInstancePropSequentialRender), &[2]);
    p.define_str(
        name(kOfxImageEffectHostPropNativeOrigin),
        &[name(kOfxHostNativeOriginBottomLeft)],
    );
    p.define_int(name(kOfxImageEffectPropRenderQualityDraft), &[0]);
    p.define_str(name(kOfxImageEffectPropOpenGLRenderSupported), &["false"]);
    p.define_int(name(kOfxParamHostPropSupportsCustomInteract), &[0]);
    p.define_int(name(kOfxParamHostPropSupportsStringAnimation), &[0]);
    p.define_int(name(kOfxParamHostPropSupportsChoiceAnimation), &[0]);
    p.define_int(name(kOfxParamHostPropSupportsBooleanAnimation), &[0]);
    p.define_int(name(kOfxParamHostPropSupportsCustomAnimation), &[0]);
    p.define_int(name(kOfxParamHostPropSupportsParametricAnimation), &[0]);
    p.define_int(name(kOfxParamHostPropMaxParameters), &[-1]);
    p.define_int(name(kOfxParamHostPropMaxPages), &[0]);
    p.define_int(name(kOfxParamHostPropPageRowColumnCount), &[0, 0]);
    p.define_ptr(name(kOfxPropHostOSHandle), &[0]);
    crate::cuda::define_host_cuda_props(p, config.cuda);
}

/// Looks a suite up by name and version; NULL (and a note) for ones this host lacks.
unsafe extern "C" fn fetch_suite(
    host: OfxPropertySetHandle,
    suite: *const c_char,
    version: c_int,
) -> *const c_void {
    let r = std::panic::catch_unwind(|| {
        // SAFETY: NUL-terminated per the API.
        let Some(s) = (unsafe { cstr_arg(suite) }) else {
            return std::ptr::null();
        };
        let p: *const c_void = match (s, version) {
            ("OfxPropertySuite", 1) => &PROPERTY_SUITE as *const _ as *const c_void,
            ("OfxParameterSuite", 1) => &PARAMETER_SUITE as *const _ as *const c_void,
            ("OfxImageEffectSuite", 1) => &IMAGE_EFFECT_SUITE as *const _ as *const c_void,
            ("OfxMemorySuite", 1) => &MEMORY_SUITE as *const _ as *const c_void,
            ("OfxMultiThreadSuite", 1) => &MULTI_THREAD_SUITE as *const _ as *const c_void,
            ("OfxMessageSuite", 1) => &MESSAGE_SUITE_V1 as *const _ as *const c_void,
            ("OfxMessageSuite", 2) => &MESSAGE_SUITE_V2 as *const _ as *const c_void,
            ("OfxProgressSuite", 1) => &PROGRESS_SUITE_V1 as *const _ as *const c_void,
            ("OfxProgressSuite", 2) => &PROGRESS_SUITE_V2 as *const _ as *const c_void,
            ("OfxTimeLineSuite", 1) => &TIMELINE_SUITE as *const _ as *const c_void,
            ("OfxInteractSuite", 1) => &INTERACT_SUITE as *const _ as *const c_void,
            ("OfxDrawSuite", 1) => &DRAW_SUITE as *const _ as *const c_void,
            _ => std::ptr::null(),
        };
        if p.is_null() {
            log::debug!("plugin asked for suite {s} v{version}, which this host does not provide");
            // SAFETY: the host handle is the one we gave out (checked by from_handle); its set
            // lives in a HostCore, which is all we need to find the missing-suite log.
            if let Some(set) = unsafe { from_handle(host) } {
                record_missing(set, s, version);
            }
        }
        p
    });
    r.unwrap_or(std::ptr::null())
}

fn record_missing(host_props: &PropertySet, suite: &str, version: i32) {
    // The host property set is only reachable from its HostCore, registered here on creation.
    let cores = CORES.lock().unwrap_or_else(|e| e.into_inner());
    for c in cores.iter().filter_map(|w| w.upgrade()) {
        if std::ptr::eq(c.props, host_props) {
            c.missing_suites
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((suite.to_string(), version));
        }
    }
}

pub(crate) static CORES: Mutex<Vec<std::sync::Weak<HostCore>>> = Mutex::new(Vec::new());

// ---------- interact and draw suites ----------
//
// A headless host draws no overlays and opens no custom-parameter interacts, but plugins that
// describe them (the OpenFX Support library's fetch these suites at load and refuse to load
// without them) must load and render. The host never creates an interact instance or draw
// context, so the calls that need one fail as the spec says they do outside a draw action.

unsafe extern "C" fn interact_swap_buffers(_i: OfxInteractHandle) -> OfxStatus {
    STAT_OK // nothing is ever drawn, so there is nothing to swap
}
unsafe extern "C" fn interact_redraw(_i: OfxInteractHandle) -> OfxStatus {
    STAT_OK // a redraw request of an interact that is never shown is satisfied
}
unsafe extern "C" fn interact_get_property_set(
    _i: OfxInteractHandle,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    if !out.is_null() {
        // SAFETY: the caller passes a place to write a handle.
        unsafe { *out = std::ptr::null_mut() };
    }
    STAT_ERR_BAD_HANDLE // this host has no interact instances
}

pub static INTERACT_SUITE: OfxInteractSuiteV1 = OfxInteractSuiteV1 {
    interactSwapBuffers: Some(interact_swap_buffers),
    interactRedraw: Some(interact_redraw),
    interactGetPropertySet: Some(interact_get_property_set),
};

/// `OfxDrawSuiteV1` (ofxDrawSuite.h, OFX 1.5; not in `ofx_sys` 0.2): six functions in this
/// order. Their argument types are opaque here: none is ever called with a valid context.
#[repr(C)]
pub struct OfxDrawSuiteV1 {
    pub get_colour: unsafe extern "C" fn(*mut c_void, c_int, *mut c_void) -> OfxStatus,
    pub set_colour: unsafe extern "C" fn(*mut c_void, *const c_void) -> OfxStatus,
    pub set_line_width: unsafe extern "C" fn(*mut c_void, f32) -> OfxStatus,
    pub set_line_stipple: unsafe extern "C" fn(*mut c_void, c_int) -> OfxStatus,
    pub draw: unsafe extern "C" fn(*mut c_void, c_int, *const c_void, c_int) -> OfxStatus,
    pub draw_text:
        unsafe extern "C" fn(*mut c_void, *const c_char, *const c_void, c_int) -> OfxStatus,
}

unsafe extern "C" fn draw_get_colour(_c: *mut c_void, _s: c_int, _o: *mut c_void) -> OfxStatus {
    STAT_FAILED
}
unsafe extern "C" fn draw_set_colour(_c: *mut c_void, _o: *const c_void) -> OfxStatus {
    STAT_FAILED
}
unsafe extern "C" fn draw_set_line_width(_c: *mut c_void, _w: f32) -> OfxStatus {
    STAT_FAILED
}
unsafe extern "C" fn draw_set_line_stipple(_c: *mut c_void, _p: c_int) -> OfxStatus {
    STAT_FAILED
}
unsafe extern "C" fn draw_draw(
    _c: *mut c_void,
    _p: c_int,
    _pts: *const c_void,
    _n: c_int,
) -> OfxStatus {
    STAT_FAILED
}
unsafe extern "C" fn draw_text(
    _c: *mut c_void,
    _t: *const c_char,
    _p: *const c_void,
    _a: c_int,
) -> OfxStatus {
    STAT_FAILED
}

/// Every call fails (kOfxStatFailed, "called outside kOfxInteractActionDraw"): no draw action
/// is ever sent.
pub static DRAW_SUITE: OfxDrawSuiteV1 = OfxDrawSuiteV1 {
    get_colour: draw_get_colour,
    set_colour: draw_set_colour,
    set_line_width: draw_set_line_width,
    set_line_stipple: draw_set_line_stipple,
    draw: draw_draw,
    draw_text,
};

pub(crate) fn register_core(core: &Arc<HostCore>) {
    let mut c = CORES.lock().unwrap_or_else(|e| e.into_inner());
    c.retain(|w| w.strong_count() > 0);
    c.push(Arc::downgrade(core));
}

// ---------- memory suite ----------

const ALLOC_ALIGN: usize = 16;
const HEADER: usize = 16;

unsafe extern "C" fn memory_alloc(
    _handle: *mut c_void,
    n: usize,
    out: *mut *mut c_void,
) -> OfxStatus {
    guard(|| {
        if out.is_null() {
            return STAT_ERR_VALUE;
        }
        let Some(total) = n.checked_add(HEADER) else {
            return STAT_ERR_MEMORY;
        };
        let Ok(layout) = std::alloc::Layout::from_size_align(total, ALLOC_ALIGN) else {
            return STAT_ERR_MEMORY;
        };
        // SAFETY: layout has non-zero size (HEADER > 0).
        let base = unsafe { std::alloc::alloc(layout) };
        if base.is_null() {
            return STAT_ERR_MEMORY;
        }
        // SAFETY: base is a fresh allocation of at least HEADER bytes, 16-aligned; the size
        // is kept in front of the block so memoryFree can rebuild the layout.
        unsafe {
            (base as *mut usize).write(total);
            *out = base.add(HEADER) as *mut c_void;
        }
        STAT_OK
    })
}

unsafe extern "C" fn memory_free(data: *mut c_void) -> OfxStatus {
    guard(|| {
        if data.is_null() {
            return STAT_ERR_BAD_HANDLE;
        }
        // SAFETY: data came from memory_alloc (API contract), so the header sits HEADER bytes
        // before it and holds the allocation's size.
        unsafe {
            let base = (data as *mut u8).sub(HEADER);
            let total = (base as *const usize).read();
            let layout = std::alloc::Layout::from_size_align_unchecked(total, ALLOC_ALIGN);
            std::alloc::dealloc(base, layout);
        }
        STAT_OK
    })
}

pub static MEMORY_SUITE: OfxMemorySuiteV1 = OfxMemorySuiteV1 {
    memoryAlloc: Some(memory_alloc),
    memoryFree: Some(memory_free),
};

// ---------- multi-thread suite ----------

thread_local! {
    static THREAD_INDEX: Cell<(u32, bool)> = const { Cell::new((0, false)) };
}

/// Threads `multiThreadNumCPUs` reports; set per render from the host config.
pub(crate) static NUM_CPUS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

unsafe extern "C" fn multi_thread(
    func: OfxThreadFunctionV1,
    n: c_uint,
    arg: *mut c_void,
) -> OfxStatus {
    guard(|| {
        let Some(f) = func else {
            return STAT_ERR_VALUE;
        };
        let n = n.max(1);
        let arg = arg as usize;
        let context = crate::effect::current_render_context();
        if n == 1 {
            // SAFETY: the plugin's own thread function with its own argument.
            unsafe { f(0, 1, arg as *mut c_void) };
            return STAT_OK;
        }
        let result = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let ctx = context.clone();
                    s.spawn(move || {
                        THREAD_INDEX.with(|t| t.set((i, true)));
                        crate::effect::set_render_context(ctx);
                        // SAFETY: as above; the plugin asked for n concurrent calls.
                        unsafe { f(i, n, arg as *mut c_void) };
                    })
                })
                .collect();
            handles.into_iter().all(|h| h.join().is_ok())
        });
        if result {
            STAT_OK
        } else {
            STAT_FAILED
        }
    })
}

unsafe extern "C" fn multi_thread_num_cpus(n: *mut c_uint) -> OfxStatus {
    guard(|| {
        if n.is_null() {
            return STAT_ERR_VALUE;
        }
        let threads = crate::effect::current_render_context()
            .map(|c| c.threads)
            .unwrap_or_else(|| NUM_CPUS.load(std::sync::atomic::Ordering::Relaxed));
        // SAFETY: out pointer from the plugin.
        unsafe { *n = threads.max(1) as c_uint };
        STAT_OK
    })
}

unsafe extern "C" fn multi_thread_index(i: *mut c_uint) -> OfxStatus {
    guard(|| {
        if i.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: out pointer from the plugin.
        unsafe { *i = THREAD_INDEX.with(|t| t.get().0) };
        STAT_OK
    })
}

unsafe extern "C" fn multi_thread_is_spawned() -> c_int {
    THREAD_INDEX.with(|t| t.get().1) as c_int
}

/// OFX mutexes are recursive: the owner may lock again and must unlock as often.
struct RecursiveMutex {
    state: Mutex<(Option<ThreadId>, u32)>,
    freed: Condvar,
}

impl RecursiveMutex {
    fn lock(&self) {
        let me = std::thread::current().id();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match s.0 {
                None => {
                    *s = (Some(me), 1);
                    return;
                }
                Some(o) if o == me => {
                    s.1 += 1;
                    return;
                }
                Some(_) => s = self.freed.wait(s).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }
    fn try_lock(&self) -> bool {
        let me = std::thread::current().id();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.0 {
            None => {
                *s = (Some(me), 1);
                true
            }
            Some(o) if o == me => {
                s.1 += 1;
                true
            }
            Some(_) => false,
        }
    }
    fn unlock(&self) -> bool {
        let me = std::thread::current().id();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 != Some(me) {
            return false;
        }
        s.1 -= 1;
        if s.1 == 0 {
            s.0 = None;
            self.freed.notify_one();
        }
        true
    }
}

unsafe extern "C" fn mutex_create(m: *mut OfxMutexHandle, lock_count: c_int) -> OfxStatus {
    guard(|| {
        if m.is_null() {
            return STAT_ERR_VALUE;
        }
        let mx = Box::new(RecursiveMutex {
            state: Mutex::new(if lock_count > 0 {
                (Some(std::thread::current().id()), lock_count as u32)
            } else {
                (None, 0)
            }),
            freed: Condvar::new(),
        });
        // SAFETY: out pointer from the plugin; the box is released by mutexDestroy.
        unsafe { *m = Box::into_raw(mx) as OfxMutexHandle };
        STAT_OK
    })
}

unsafe extern "C" fn mutex_destroy(m: OfxMutexHandle) -> OfxStatus {
    guard(|| {
        if m.is_null() {
            return STAT_ERR_BAD_HANDLE;
        }
        // SAFETY: m came from mutex_create's Box::into_raw (API contract) and is destroyed once.
        drop(unsafe { Box::from_raw(m as *mut RecursiveMutex) });
        STAT_OK
    })
}

/// # Safety
/// `m` must be NULL or come from mutex_create and not be destroyed yet.
unsafe fn mutex_ref<'a>(m: OfxMutexHandle) -> Option<&'a RecursiveMutex> {
    // SAFETY: per the function's contract.
    (!m.is_null()).then(|| unsafe { &*(m as *const RecursiveMutex) })
}

unsafe extern "C" fn mutex_lock(m: OfxMutexHandle) -> OfxStatus {
    guard(|| {
        // SAFETY: handle from mutex_create per the API.
        match unsafe { mutex_ref(m) } {
            Some(x) => {
                x.lock();
                STAT_OK
            }
            None => STAT_ERR_BAD_HANDLE,
        }
    })
}

unsafe extern "C" fn mutex_unlock(m: OfxMutexHandle) -> OfxStatus {
    guard(|| {
        // SAFETY: handle from mutex_create per the API.
        match unsafe { mutex_ref(m) } {
            Some(x) if x.unlock() => STAT_OK,
            Some(_) => STAT_ERR_VALUE,
            None => STAT_ERR_BAD_HANDLE,
        }
    })
}

unsafe extern "C" fn mutex_try_lock(m: OfxMutexHandle) -> OfxStatus {
    guard(|| {
        // SAFETY: handle from mutex_create per the API.
        match unsafe { mutex_ref(m) } {
            Some(x) if x.try_lock() => STAT_OK,
            Some(_) => STAT_FAILED,
            None => STAT_ERR_BAD_HANDLE,
        }
    })
}

pub static MULTI_THREAD_SUITE: OfxMultiThreadSuiteV1 = OfxMultiThreadSuiteV1 {
    multiThread: Some(multi_thread),
    multiThreadNumCPUs: Some(multi_thread_num_cpus),
    multiThreadIndex: Some(multi_thread_index),
    multiThreadIsSpawnedThread: Some(multi_thread_is_spawned),
    mutexCreate: Some(mutex_create),
    mutexDestroy: Some(mutex_destroy),
    mutexLock: Some(mutex_lock),
    mutexUnLock: Some(mutex_unlock),
    mutexTryLock: Some(mutex_try_lock),
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn multi_thread_runs_every_index_once_on_spawned_threads() {
        static SEEN: AtomicU32 = AtomicU32::new(0);
        static SPAWNED: AtomicU32 = AtomicU32::new(0);
        unsafe extern "C" fn work(i: c_uint, n: c_uint, arg: *mut c_void) {
            assert_eq!(n, 5);
            assert_eq!(arg as usize, 0x1234);
            let mut idx = 99;
            // SAFETY: suite functions with valid out pointers.
            unsafe {
                MULTI_THREAD_SUITE.multiThreadIndex.unwrap()(&mut idx);
                SPAWNED.fetch_add(
                    MULTI_THREAD_SUITE.multiThreadIsSpawnedThread.unwrap()() as u32,
                    Ordering::SeqCst,
                );
            }
            assert_eq!(idx, i);
            SEEN.fetch_or(1 << i, Ordering::SeqCst);
        }
        // SAFETY: a valid thread function and argument.
        let st = unsafe {
            MULTI_THREAD_SUITE.multiThread.unwrap()(Some(work), 5, 0x1234 as *mut c_void)
        };
        assert_eq!(st, STAT_OK);
        assert_eq!(SEEN.load(Ordering::SeqCst), 0b11111);
        assert_eq!(SPAWNED.load(Ordering::SeqCst), 5);
        // SAFETY: no arguments.
        assert_eq!(
            unsafe { MULTI_THREAD_SUITE.multiThreadIsSpawnedThread.unwrap()() },
            0
        );
    }

    #[test]
    fn mutexes_are_recursive_and_exclusive() {
        let s = &MULTI_THREAD_SUITE;
        let mut m: OfxMutexHandle = std::ptr::null_mut();
        // SAFETY: valid out pointer; the handle is used only while alive.
        unsafe {
            assert_eq!(s.mutexCreate.unwrap()(&mut m, 0), STAT_OK);
            assert_eq!(s.mutexLock.unwrap()(m), STAT_OK);
            assert_eq!(
                s.mutexTryLock.unwrap()(m),
                STAT_OK,
                "the owner may lock again"
            );
        }
        let h = m as usize;
        let other = std::thread::spawn(move || {
            // SAFETY: the mutex outlives this thread (joined below before destroy).
            unsafe { MULTI_THREAD_SUITE.mutexTryLock.unwrap()(h as OfxMutexHandle) }
        })
        .join()
        .unwrap();
        assert_eq!(other, STAT_FAILED, "another thread must not get it");
        // SAFETY: as above.
        unsafe {
            assert_eq!(s.mutexUnLock.unwrap()(m), STAT_OK);
            assert_eq!(s.mutexUnLock.unwrap()(m), STAT_OK);
            assert_eq!(
                s.mutexUnLock.unwrap()(m),
                STAT_ERR_VALUE,
                "unlocking an unlocked mutex"
            );
            assert_eq!(s.mutexDestroy.unwrap()(m), STAT_OK);
        }
    }

    #[test]
    fn memory_blocks_are_usable_and_aligned() {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid out pointer; the block is written within its size and freed once.
        unsafe {
            assert_eq!(
                MEMORY_SUITE.memoryAlloc.unwrap()(std::ptr::null_mut(), 1000, &mut p),
                STAT_OK
            );
            assert_eq!(p as usize % 16, 0);
            std::ptr::write_bytes(p as *mut u8, 0xAB, 1000);
            assert_eq!(MEMORY_SUITE.memoryFree.unwrap()(p), STAT_OK);
        }
    }

    #[test]
    fn fetch_suite_knows_the_suites_and_refuses_others() {
        let core = HostCore::new(HostConfig::default());
        let h = core.props.handle();
        for (n, v) in [
            ("OfxPropertySuite", 1),
            ("OfxParameterSuite", 1),
            ("OfxImageEffectSuite", 1),
            ("OfxMemorySuite", 1),
            ("OfxMultiThreadSuite", 1),
            ("OfxMessageSuite", 2),
            ("OfxProgressSuite", 1),
            ("OfxTimeLineSuite", 1),
            ("OfxInteractSuite", 1),
            ("OfxDrawSuite", 1),
        ] {
            let c = std::ffi::CString::new(n).unwrap();
            // SAFETY: host handle from this core, NUL-terminated name.
            assert!(
                !unsafe { fetch_suite(h, c.as_ptr(), v) }.is_null(),
                "{n} v{v}"
            );
        }
        // SAFETY: as above.
        assert!(unsafe { fetch_suite(h, c"OfxOpenGLRenderSuite".as_ptr(), 1) }.is_null());
        assert_eq!(
            core.props.get_string(name(kOfxPropName), 0).as_deref(),
            Some(HOST_NAME)
        );
    }
}
