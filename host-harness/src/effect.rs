//! Host objects behind image-effect, clip and image handles, and the suites that act on them
//! (image effect, message, progress, timeline). Pixels reach plugins here: `clipGetImage`
//! converts the caller's input into the clip's preferred depth/components/layout, clipped to the
//! region the plugin asked for, and counts every fetch and release.

use crate::findings::{FindingKind, Findings};
use crate::host::HostCore;
use crate::image::{BitDepth, Components, HostImage, ImageLayout, Premult, Rect, RowLayout};
use crate::params::ParamSet;
use crate::props::*;
use ofx_sys::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub(crate) const MAGIC_EFFECT: u64 = 0x4f46_5845_4646_4543; // "OFXEFFEC"
pub(crate) const MAGIC_CLIP: u64 = 0x4f46_5843_4c49_5053; // "OFXCLIPS"
const MAGIC_IMAGE_MEMORY: u64 = 0x4f46_5849_4d45_4d30; // "OFXIMEM0"

/// Where a clip's frames come from.
#[derive(Clone)]
pub enum ClipInput {
    /// The same image at every time.
    Still(Arc<HostImage>),
    /// One image per frame number; other frames are unavailable.
    Frames(Arc<BTreeMap<i64, Arc<HostImage>>>),
    /// Frames produced on demand (e.g. read from files), cached by the host while rendering.
    Loader(Arc<dyn Fn(i64) -> Result<Arc<HostImage>, String> + Send + Sync>),
}

impl std::fmt::Debug for ClipInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClipInput::Still(i) => write!(f, "Still({:?})", i.layout()),
            ClipInput::Frames(m) => write!(f, "Frames({} frames)", m.len()),
            ClipInput::Loader(_) => write!(f, "Loader"),
        }
    }
}

impl ClipInput {
    pub fn still(img: HostImage) -> ClipInput {
        ClipInput::Still(Arc::new(img))
    }
    pub(crate) fn image_at(&self, frame: i64) -> Result<Arc<HostImage>, String> {
        match self {
            ClipInput::Still(i) => Ok(i.clone()),
            ClipInput::Frames(m) => m
                .get(&frame)
                .cloned()
                .ok_or_else(|| format!("no input image for frame {frame}")),
            ClipInput::Loader(f) => f(frame),
        }
    }
}

/// A message a plugin posted through the message suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `OfxMessageError`, `OfxMessageWarning`, `OfxMessageMessage`, `OfxMessageLog`, …
    pub kind: String,
    pub id: String,
    pub text: String,
    /// Posted with `setPersistentMessage` (and not cleared since).
    pub persistent: bool,
}

/// Per-instance render state the suites read.
#[derive(Default)]
pub(crate) struct FrameState {
    pub scale: (f64, f64),
    pub pixel_aspect: f64,
    pub inputs: HashMap<String, ClipInput>,
    /// Memory layout of fetched input images; None keeps each source image's own layout.
    pub input_rows: Option<RowLayout>,
    /// The output image of the render in progress: (data pointer, layout).
    pub output: Option<(usize, ImageLayout)>,
    /// Clip formats chosen in getClipPreferences: depth, components, premult.
    pub clip_formats: HashMap<String, (BitDepth, Components, Premult)>,
    /// The same in words, with who chose each format and the unmapped one, for messages.
    pub clip_summary: String,
    /// The effect's region of definition for the current frame (canonical).
    pub rod: Option<OfxRectD>,
    pub frame_range: (f64, f64),
    /// Injected host faults for the render in progress (and conformance probes).
    pub faults: crate::instance::Faults,
    /// Images produced by a Loader, by (clip, frame).
    pub cache: HashMap<(String, i64), Arc<HostImage>>,
    /// Input files that could not be read during the frame in progress: the frame fails with
    /// them (a farm must never get a silent black plate).
    pub source_errors: Vec<String>,
    /// What the plugin answered to kOfxImageEffectActionGetFramesNeeded for the frame in
    /// progress, per input clip: frame ranges (inclusive). Empty for plugins without temporal
    /// access (they read only the frame rendering).
    pub frames_needed: HashMap<String, Vec<(f64, f64)>>,
}

impl FrameState {
    /// Whether `frame` of `clip` lies in what the plugin declared it needs (true when it
    /// declared nothing for that clip).
    pub fn frame_declared(&self, clip: &str, frame: f64) -> bool {
        match self.frames_needed.get(clip) {
            Some(ranges) => ranges
                .iter()
                .any(|&(a, b)| frame >= a.min(b) - 1e-9 && frame <= a.max(b) + 1e-9),
            None => true,
        }
    }
}

/// Source images kept per instance: frames within this distance of the frame rendering (for
/// clips with temporal access; others keep only that frame)...
const CACHE_RADIUS: i64 = 8;
/// ...at most this many...
const CACHE_FRAMES: usize = 17;
/// ...and at most this many bytes (about seven 4K float RGBA frames).
const CACHE_BYTES: usize = 1 << 30;

/// The object behind an `OfxImageEffectHandle` (descriptor or instance).
#[repr(C)]
pub(crate) struct EffectObj {
    magic: u64,
    pub what: String,
    pub props: Box<PropertySet>,
    pub params: Box<ParamSet>,
    // Boxed: the plugin holds pointers to clips, so they must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    pub clips: Mutex<Vec<Box<ClipObj>>>,
    pub core: Arc<HostCore>,
    pub findings: Arc<Findings>,
    pub is_instance: bool,
    pub now: Arc<AtomicU64>,
    pub state: RwLock<FrameState>,
    pub abort: Arc<AtomicBool>,
    pub messages: Mutex<Vec<Message>>,
    pub fetched: AtomicUsize,
    pub released: AtomicUsize,
    pub progress: Mutex<Vec<(String, f64)>>,
    /// The device side of the CUDA render in progress; `None` for host-memory renders.
    pub cuda_frame: Mutex<Option<crate::cuda::CudaFrame>>,
}

// SAFETY: every mutable part of EffectObj is behind a lock or atomic; the raw pointers reachable
// from it (output image data in FrameState) are only dereferenced by the plugin, which the
// render thread-safety contract governs.
unsafe impl Send for EffectObj {}
unsafe impl Sync for EffectObj {}

/// The object behind an `OfxImageClipHandle`.
#[repr(C)]
pub(crate) struct ClipObj {
    magic: u64,
    pub name: String,
    pub props: Box<PropertySet>,
    effect: *const EffectObj,
}

// SAFETY: `effect` points at the boxed EffectObj that owns this clip and outlives it.
unsafe impl Send for ClipObj {}
unsafe impl Sync for ClipObj {}

impl ClipObj {
    pub fn is_output(&self) -> bool {
        self.name == name(kOfxImageEffectOutputClipName)
    }
    pub fn handle(&self) -> OfxImageClipHandle {
        self as *const ClipObj as OfxImageClipHandle
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EffectObj {
    pub(crate) fn new(
        what: &str,
        core: Arc<HostCore>,
        findings: Arc<Findings>,
        now: Arc<AtomicU64>,
        instance_params: Option<Box<ParamSet>>,
    ) -> Box<EffectObj> {
        let props = PropertySet::new(what, Some(findings.clone()));
        let is_instance = instance_params.is_some();
        let params =
            instance_params.unwrap_or_else(|| ParamSet::new(what, findings.clone(), now.clone()));
        Box::new(EffectObj {
            magic: MAGIC_EFFECT,
            what: what.to_string(),
            props,
            params,
            clips: Mutex::new(Vec::new()),
            core,
            findings,
            is_instance,
            now,
            state: RwLock::new(FrameState {
                scale: (1.0, 1.0),
                pixel_aspect: 1.0,
                frame_range: (0.0, 0.0),
                ..Default::default()
            }),
            abort: Arc::new(AtomicBool::new(false)),
            messages: Mutex::new(Vec::new()),
            fetched: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            progress: Mutex::new(Vec::new()),
            cuda_frame: Mutex::new(None),
        })
    }
    pub fn handle(&self) -> OfxImageEffectHandle {
        self as *const EffectObj as OfxImageEffectHandle
    }
    pub fn state(&self) -> std::sync::RwLockReadGuard<'_, FrameState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, FrameState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
    /// Adds a clip; the returned pointer stays valid while `self` lives (boxes are never removed).
    pub fn add_clip(&self, clip_name: &str, props: Box<PropertySet>) -> *const ClipObj {
        let c = Box::new(ClipObj {
            magic: MAGIC_CLIP,
            name: clip_name.to_string(),
            props,
            effect: self as *const EffectObj,
        });
        let p: *const ClipObj = &*c;
        lock(&self.clips).push(c);
        p
    }
    pub fn clip_names(&self) -> Vec<String> {
        lock(&self.clips).iter().map(|c| c.name.clone()).collect()
    }
    pub fn with_clip<R>(&self, clip_name: &str, f: impl FnOnce(&ClipObj) -> R) -> Option<R> {
        lock(&self.clips)
            .iter()
            .find(|c| c.name == clip_name)
            .map(|c| f(c))
    }
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.messages).clone()
    }
    /// The caller's image for an input clip at `frame`. Images from a `Loader` (files) are
    /// cached, so clip preferences, RoD and fetches of one frame read its file once.
    pub fn source_image(&self, clip: &str, frame: i64) -> Result<Arc<HostImage>, String> {
        let input = {
            let st = self.state();
            if let Some(img) = st.cache.get(&(clip.to_string(), frame)) {
                return Ok(img.clone());
            }
            st.inputs
                .get(clip)
                .cloned()
                .ok_or_else(|| format!("clip '{clip}' is not connected"))?
        };
        // Loaded without holding the lock: reading a file can take a while.
        let img = match input.image_at(frame) {
            Ok(img) => img,
            Err(e) => {
                if matches!(input, ClipInput::Loader(_)) {
                    let mut st = self.state_mut();
                    let text = format!("clip '{clip}' frame {frame}: {e}");
                    if !st.source_errors.contains(&text) {
                        st.source_errors.push(text);
                    }
                }
                return Err(e);
            }
        };
        if matches!(input, ClipInput::Loader(_)) {
            let mut st = self.state_mut();
            // Keep the frames a temporal effect looks at (a few around the one rendering),
            // bounded in count and bytes: a chain of 4K float frames must not pile up.
            // A clip without temporal access only ever reads the frame rendering.
            let temporal = self
                .with_clip(clip, |c| {
                    c.props
                        .get_int(name(kOfxImageEffectPropTemporalClipAccess), 0)
                        .unwrap_or(1)
                        != 0
                })
                .unwrap_or(true);
            let radius = if temporal { CACHE_RADIUS } else { 0 };
            let now = self.time().round() as i64;
            // Frames the plugin declared it needs (GetFramesNeeded) stay; without a
            // declaration, those within the radius.
            let declared = !st.frames_needed.is_empty();
            let keep = |st: &FrameState, c: &str, f: i64| {
                if declared {
                    st.frames_needed.contains_key(c) && st.frame_declared(c, f as f64) || f == now
                } else {
                    (f - now).abs() <= radius
                }
            };
            let stale: Vec<(String, i64)> = st
                .cache
                .keys()
                .filter(|(c, f)| !keep(&st, c, *f))
                .cloned()
                .collect();
            for k in stale {
                st.cache.remove(&k);
            }
            let mut bytes: usize = st.cache.values().map(|i| i.raw_storage().len()).sum();
            while !st.cache.is_empty()
                && (st.cache.len() >= CACHE_FRAMES || bytes + img.raw_storage().len() > CACHE_BYTES)
            {
                let far = st
                    .cache
                    .keys()
                    .max_by_key(|(c, f)| ((f - now).abs(), c.clone()))
                    .cloned();
                if let Some(k) = far {
                    if let Some(old) = st.cache.remove(&k) {
                        bytes -= old.raw_storage().len();
                    }
                }
            }
            st.cache.insert((clip.to_string(), frame), img.clone());
        }
        Ok(img)
    }
    pub fn time(&self) -> f64 {
        f64::from_bits(self.now.load(Ordering::Relaxed))
    }
    pub fn set_time(&self, t: f64) {
        self.now.store(t.to_bits(), Ordering::Relaxed);
    }
}

/// Default properties of a clip descriptor.
pub(crate) fn define_clip_descriptor_props(p: &PropertySet, clip_name: &str) {
    p.define_str(name(kOfxPropType), &[name(kOfxTypeClip)]);
    p.define_str(name(kOfxPropName), &[clip_name]);
    p.define_str(name(kOfxPropLabel), &[clip_name]);
    p.define_str(name(kOfxPropShortLabel), &[clip_name]);
    p.define_str(name(kOfxPropLongLabel), &[clip_name]);
    p.define_list(
        name(kOfxImageEffectPropSupportedComponents),
        PropValue::Str(vec![]),
    );
    p.define_int(name(kOfxImageEffectPropTemporalClipAccess), &[0]);
    p.define_int(name(kOfxImageClipPropOptional), &[0]);
    p.define_str(
        name(kOfxImageClipPropFieldExtraction),
        &[name(kOfxImageFieldDoubled)],
    );
    p.define_int(name(kOfxImageClipPropIsMask), &[0]);
    p.define_int(name(kOfxImageEffectPropSupportsTiles), &[1]);
}

/// Instance-only clip properties, set before createInstance and updated per render.
pub(crate) fn define_clip_instance_props(p: &PropertySet, connected: bool) {
    p.define_str(
        name(kOfxImageEffectPropPixelDepth),
        &[name(kOfxBitDepthFloat)],
    );
    p.define_str(
        name(kOfxImageEffectPropComponents),
        &[name(kOfxImageComponentRGBA)],
    );
    p.define_str(
        name(kOfxImageClipPropUnmappedPixelDepth),
        &[name(kOfxBitDepthFloat)],
    );
    p.define_str(
        name(kOfxImageClipPropUnmappedComponents),
        &[name(kOfxImageComponentRGBA)],
    );
    p.define_str(
        name(kOfxImageEffectPropPreMultiplication),
        &[name(kOfxImagePreMultiplied)],
    );
    p.define_double(name(kOfxImagePropPixelAspectRatio), &[1.0]);
    p.define_double(name(kOfxImageEffectPropFrameRate), &[24.0]);
    p.define_double(name(kOfxImageEffectPropFrameRange), &[0.0, 0.0]);
    p.define_str(
        name(kOfxImageClipPropFieldOrder),
        &[name(kOfxImageFieldNone)],
    );
    p.define_int(name(kOfxImageClipPropConnected), &[connected as i32]);
    p.define_double(name(kOfxImageEffectPropUnmappedFrameRange), &[0.0, 0.0]);
    p.define_double(name(kOfxImageEffectPropUnmappedFrameRate), &[24.0]);
    p.define_int(name(kOfxImageClipPropContinuousSamples), &[0]);
}

// ---------- render context (per thread) ----------

/// What a render call on this thread may fetch: the regions of interest of its render window.
#[derive(Clone)]
pub(crate) struct RenderContext {
    pub effect: usize,
    pub rois: Arc<HashMap<String, Rect>>,
    pub threads: usize,
}

thread_local! {
    static RENDER_CONTEXT: RefCell<Option<RenderContext>> = const { RefCell::new(None) };
}

pub(crate) fn current_render_context() -> Option<RenderContext> {
    RENDER_CONTEXT.with(|c| c.borrow().clone())
}
pub(crate) fn set_render_context(ctx: Option<RenderContext>) {
    RENDER_CONTEXT.with(|c| *c.borrow_mut() = ctx);
}

// ---------- coordinates ----------

/// Canonical → pixel coordinates at a render scale and pixel aspect ratio, rounded outward.
pub fn canonical_to_pixels(r: &OfxRectD, scale: (f64, f64), par: f64) -> Rect {
    let sx = scale.0 / par;
    let sy = scale.1;
    let clamp = |v: f64| v.clamp(i32::MIN as f64 / 2.0, i32::MAX as f64 / 2.0) as i32;
    Rect::new(
        clamp((r.x1 * sx).floor()),
        clamp((r.y1 * sy).floor()),
        clamp((r.x2 * sx).ceil()),
        clamp((r.y2 * sy).ceil()),
    )
}

/// Pixel → canonical coordinates.
pub fn pixels_to_canonical(r: &Rect, scale: (f64, f64), par: f64) -> OfxRectD {
    let sx = scale.0 / par;
    let sy = scale.1;
    OfxRectD {
        x1: r.x1 as f64 / sx,
        y1: r.y1 as f64 / sy,
        x2: r.x2 as f64 / sx,
        y2: r.y2 as f64 / sy,
    }
}

// ---------- live images ----------

struct LiveImage {
    effect: usize,
    props: Box<PropertySet>,
    _pixels: Option<Arc<HostImage>>,
    what: String,
}

static LIVE_IMAGES: Mutex<BTreeMap<usize, LiveImage>> = Mutex::new(BTreeMap::new());
static IMAGE_SERIAL: AtomicUsize = AtomicUsize::new(0);

/// Releases every image `effect` still holds and returns what they were, for findings.
pub(crate) fn reclaim_images(effect: &EffectObj) -> Vec<String> {
    let key = effect as *const EffectObj as usize;
    let mut live = lock(&LIVE_IMAGES);
    let stale: Vec<usize> = live
        .iter()
        .filter(|(_, v)| v.effect == key)
        .map(|(k, _)| *k)
        .collect();
    stale
        .into_iter()
        .filter_map(|k| live.remove(&k).map(|v| v.what))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn make_image_props(
    effect: &EffectObj,
    clip: &str,
    time: f64,
    data: *mut u8,
    layout: &ImageLayout,
    rod: Rect,
    scale: (f64, f64),
    par: f64,
) -> Box<PropertySet> {
    let p = PropertySet::new_strict(
        &format!("image of clip '{clip}'"),
        Some(effect.findings.clone()),
    );
    let b = layout.bounds;
    let faults = effect.state().faults.clone();
    p.define_str(name(kOfxPropType), &[name(kOfxTypeImage)]);
    p.define_str(
        name(kOfxImageEffectPropPixelDepth),
        &[faults
            .image_pixel_depth
            .as_deref()
            .unwrap_or(layout.depth.ofx_name())],
    );
    p.define_str(
        name(kOfxImageEffectPropComponents),
        &[layout.components.ofx_name()],
    );
    p.define_str(
        name(kOfxImageEffectPropPreMultiplication),
        &[layout.premult.ofx_name()],
    );
    p.define_double(name(kOfxImageEffectPropRenderScale), &[scale.0, scale.1]);
    p.define_double(name(kOfxImagePropPixelAspectRatio), &[par]);
    p.define_ptr(name(kOfxImagePropData), &[data as usize]);
    p.define_int(name(kOfxImagePropBounds), &[b.x1, b.y1, b.x2, b.y2]);
    p.define_int(
        name(kOfxImagePropRegionOfDefinition),
        &[rod.x1, rod.y1, rod.x2, rod.y2],
    );
    p.define_int(name(kOfxImagePropRowBytes), &[layout.row_bytes as i32]);
    p.define_str(name(kOfxImagePropField), &[name(kOfxImageFieldNone)]);
    let serial = IMAGE_SERIAL.fetch_add(1, Ordering::Relaxed);
    p.define_str(
        name(kOfxImagePropUniqueIdentifier),
        &[&format!("{clip}@{time}#{serial}")],
    );
    if let Some(dropped) = &faults.drop_image_property {
        p.remove(dropped);
    }
    p
}

fn register_image(
    effect: &EffectObj,
    props: Box<PropertySet>,
    pixels: Option<Arc<HostImage>>,
    what: String,
) -> OfxPropertySetHandle {
    let h = props.handle();
    effect.fetched.fetch_add(1, Ordering::Relaxed);
    lock(&LIVE_IMAGES).insert(
        h as usize,
        LiveImage {
            effect: effect as *const EffectObj as usize,
            props,
            _pixels: pixels,
            what,
        },
    );
    h
}

/// The source image of `clip` at `time`, as the plugin will see it.
fn fetch_source(
    effect: &EffectObj,
    clip: &ClipObj,
    time: f64,
    region: Option<&OfxRectD>,
) -> Result<OfxPropertySetHandle, OfxStatus> {
    let frame = time.round() as i64;
    let (input, scale, par, rows, format, null_inputs) = {
        let st = effect.state();
        (
            st.inputs.get(&clip.name).cloned(),
            st.scale,
            st.pixel_aspect,
            st.input_rows,
            st.clip_formats.get(&clip.name).copied(),
            st.faults.null_source_images,
        )
    };
    if null_inputs {
        return Err(STAT_FAILED);
    }
    let Some(input) = input else {
        // Not connected: the spec's answer is failure, with no image.
        return Err(STAT_FAILED);
    };
    drop(input);
    let declared = effect.state().frame_declared(&clip.name, time);
    if !declared {
        effect.findings.push(
            FindingKind::UndeclaredFrame,
            format!(
                "clip '{}': fetched frame {time} at frame {}, outside the frames \
                 kOfxImageEffectActionGetFramesNeeded declared; a host may not have it",
                clip.name,
                effect.time()
            ),
        );
    }
    let src = match effect.source_image(&clip.name, frame) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("clip '{}' frame {frame}: {e}", clip.name);
            return Err(STAT_FAILED);
        }
    };
    let (depth, comps, premult) = format.unwrap_or((src.depth(), src.components(), src.premult()));
    let wanted = match region {
        Some(r) => canonical_to_pixels(r, scale, par),
        None => {
            let ctx = current_render_context();
            match ctx.and_then(|c| c.rois.get(&clip.name).copied()) {
                Some(r) => r,
                None => src.bounds(),
            }
        }
    };
    let rect = wanted.intersect(&src.bounds());
    let reuse =
        rect == src.bounds() && src.depth() == depth && src.components() == comps && rows.is_none();
    let img: Arc<HostImage> = if reuse {
        src.clone()
    } else {
        let r = if rect.is_empty() {
            Rect::new(wanted.x1, wanted.y1, wanted.x1, wanted.y1)
        } else {
            rect
        };
        let mut out = HostImage::with_rows(r, depth, comps, rows.unwrap_or_default());
        let threads = current_render_context().map(|c| c.threads).unwrap_or(1);
        src.copy_pixels_into_threaded(&mut out, threads);
        Arc::new(out)
    };
    let mut layout = *img.layout();
    layout.premult = premult;
    // In a CUDA render the plugin gets a device copy, laid out exactly as the host copy.
    let data = match lock(&effect.cuda_frame).as_mut() {
        None => img.data_ptr() as *mut u8,
        Some(cuda) => match cuda.upload(&clip.name, &img, false) {
            Ok(address) => address as usize as *mut u8,
            Err(e) => {
                log::warn!(
                    "clip '{}' frame {frame}: upload to the GPU failed: {e}",
                    clip.name
                );
                return Err(STAT_ERR_MEMORY);
            }
        },
    };
    let props = make_image_props(
        effect,
        &clip.name,
        time,
        data,
        &layout,
        src.bounds(),
        scale,
        par,
    );
    Ok(register_image(
        effect,
        props,
        Some(img),
        format!("clip '{}' at time {time}", clip.name),
    ))
}

fn fetch_output(
    effect: &EffectObj,
    clip: &ClipObj,
    time: f64,
) -> Result<OfxPropertySetHandle, OfxStatus> {
    let (out, scale, par, premult) = {
        let st = effect.state();
        (
            st.output,
            st.scale,
            st.pixel_aspect,
            st.clip_formats
                .get(&clip.name)
                .map(|f| f.2)
                .unwrap_or_default(),
        )
    };
    let Some((ptr, mut layout)) = out else {
        // Output images exist only during a render.
        return Err(STAT_FAILED);
    };
    if effect.state().faults.null_output_image {
        return Err(STAT_FAILED);
    }
    layout.premult = premult;
    let props = make_image_props(
        effect,
        &clip.name,
        time,
        ptr as *mut u8,
        &layout,
        layout.bounds,
        scale,
        par,
    );
    Ok(register_image(
        effect,
        props,
        None,
        format!("output at time {time}"),
    ))
}

// ---------- handle resolution ----------

/// # Safety
/// `h` must be NULL or a handle this host gave out.
pub(crate) unsafe fn effect_from<'a>(h: *const c_void) -> Option<&'a EffectObj> {
    if h.is_null() || !(h as usize).is_multiple_of(std::mem::align_of::<EffectObj>()) {
        return None;
    }
    let p = h as *const EffectObj;
    // SAFETY: non-null and aligned; host objects all start with a u64 magic.
    if unsafe { (*p).magic } != MAGIC_EFFECT {
        return None;
    }
    // SAFETY: the magic identifies a live EffectObj.
    Some(unsafe { &*p })
}

/// # Safety
/// As `effect_from`.
unsafe fn clip_from<'a>(h: OfxImageClipHandle) -> Option<&'a ClipObj> {
    if h.is_null() || !(h as usize).is_multiple_of(std::mem::align_of::<ClipObj>()) {
        return None;
    }
    let p = h as *const ClipObj;
    // SAFETY: as effect_from.
    if unsafe { (*p).magic } != MAGIC_CLIP {
        return None;
    }
    // SAFETY: the magic identifies a live ClipObj.
    Some(unsafe { &*p })
}

// ---------- image effect suite ----------

unsafe extern "C" fn get_property_set(
    e: OfxImageEffectHandle,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(e) = (unsafe { effect_from(e as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if out.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: out pointer from the plugin.
        unsafe { *out = e.props.handle() };
        STAT_OK
    })
}

unsafe extern "C" fn get_param_set(
    e: OfxImageEffectHandle,
    out: *mut OfxParamSetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(e) = (unsafe { effect_from(e as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if out.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: out pointer from the plugin.
        unsafe { *out = e.params.handle() };
        STAT_OK
    })
}

unsafe extern "C" fn clip_define(
    e: OfxImageEffectHandle,
    n: *const c_char,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(e) = (unsafe { effect_from(e as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        // SAFETY: NUL-terminated per the API.
        let Some(n) = (unsafe { cstr_arg(n) }) else {
            return STAT_ERR_VALUE;
        };
        if e.is_instance {
            e.findings.push(
                FindingKind::BadHandle,
                format!("clipDefine('{n}') called on an instance"),
            );
            return STAT_ERR_BAD_HANDLE;
        }
        if e.with_clip(n, |_| ()).is_some() {
            return STAT_ERR_EXISTS;
        }
        let props = PropertySet::new(&format!("clip '{n}' descriptor"), Some(e.findings.clone()));
        define_clip_descriptor_props(&props, n);
        let ph = props.handle();
        e.add_clip(n, props);
        if !out.is_null() {
            // SAFETY: out pointer from the plugin.
            unsafe { *out = ph };
        }
        STAT_OK
    })
}

unsafe extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    n: *const c_char,
    clip: *mut OfxImageClipHandle,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(e) = (unsafe { effect_from(e as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        // SAFETY: NUL-terminated per the API.
        let Some(n) = (unsafe { cstr_arg(n) }) else {
            return STAT_ERR_UNKNOWN;
        };
        match e.with_clip(n, |c| (c.handle(), c.props.handle())) {
            Some((ch, ph)) => {
                if !clip.is_null() {
                    // SAFETY: out pointer from the plugin.
                    unsafe { *clip = ch };
                }
                if !out.is_null() {
                    // SAFETY: out pointer from the plugin.
                    unsafe { *out = ph };
                }
                STAT_OK
            }
            None => STAT_ERR_UNKNOWN,
        }
    })
}

unsafe extern "C" fn clip_get_property_set(
    c: OfxImageClipHandle,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(c) = (unsafe { clip_from(c) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if out.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: out pointer from the plugin.
        unsafe { *out = c.props.handle() };
        STAT_OK
    })
}

unsafe extern "C" fn clip_get_image(
    c: OfxImageClipHandle,
    time: f64,
    region: *const OfxRectD,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(c) = (unsafe { clip_from(c) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if out.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: a clip's effect owns it and outlives it.
        let e = unsafe { &*c.effect };
        // SAFETY: region is NULL or points at a rectangle, per the API.
        let region = unsafe { region.as_ref() };
        let r = if c.is_output() {
            fetch_output(e, c, time)
        } else {
            fetch_source(e, c, time, region)
        };
        match r {
            Ok(h) => {
                // SAFETY: out pointer from the plugin.
                unsafe { *out = h };
                STAT_OK
            }
            Err(st) => {
                // SAFETY: out pointer from the plugin; NULL tells it there is no image.
                unsafe { *out = std::ptr::null_mut() };
                st
            }
        }
    })
}

unsafe extern "C" fn clip_release_image(h: OfxPropertySetHandle) -> OfxStatus {
    guard(|| {
        let removed = lock(&LIVE_IMAGES).remove(&(h as usize));
        match removed {
            Some(img) => {
                // SAFETY: the image was registered by a live effect, which unregisters its images
                // (reclaim_images) before it is destroyed.
                if let Some(e) = unsafe { effect_from(img.effect as *const c_void) } {
                    e.released.fetch_add(1, Ordering::Relaxed);
                }
                drop(img.props);
                STAT_OK
            }
            None => {
                log::warn!("clipReleaseImage on a handle that is not a live image");
                BAD_RELEASES.fetch_add(1, Ordering::Relaxed);
                if let Some(ctx) = current_render_context() {
                    // SAFETY: the render context names the effect rendering on this thread.
                    if let Some(e) = unsafe { effect_from(ctx.effect as *const c_void) } {
                        e.findings.push(
                            FindingKind::BadImageRelease,
                            "clipReleaseImage on a handle that is not a live image (released twice?)".into(),
                        );
                    }
                }
                STAT_ERR_BAD_HANDLE
            }
        }
    })
}

/// Releases of handles that were not live images (double releases, garbage), process-wide.
pub(crate) static BAD_RELEASES: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn clip_get_rod(
    c: OfxImageClipHandle,
    time: f64,
    out: *mut OfxRectD,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(c) = (unsafe { clip_from(c) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if out.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: a clip's effect owns it and outlives it.
        let e = unsafe { &*c.effect };
        let frame = time.round() as i64;
        let (scale, par, rod) = {
            let st = e.state();
            (st.scale, st.pixel_aspect, st.rod)
        };
        let to_canonical = |img: Arc<HostImage>| pixels_to_canonical(&img.bounds(), scale, par);
        let rod = if c.is_output() {
            rod.or_else(|| {
                let names: Vec<String> = e.state().inputs.keys().cloned().collect();
                names
                    .iter()
                    .find_map(|n| e.source_image(n, frame).ok())
                    .map(to_canonical)
            })
        } else {
            e.source_image(&c.name, frame).ok().map(to_canonical)
        };
        match rod {
            Some(r) => {
                // SAFETY: out pointer from the plugin.
                unsafe { *out = r };
                STAT_OK
            }
            None => STAT_FAILED,
        }
    })
}

unsafe extern "C" fn abort_fn(e: OfxImageEffectHandle) -> c_int {
    // SAFETY: checked handle.
    match unsafe { effect_from(e as *const c_void) } {
        Some(e) => e.abort.load(Ordering::Relaxed) as c_int,
        None => 0,
    }
}

#[repr(C)]
struct ImageMemory {
    magic: u64,
    buf: Vec<u64>,
    locks: std::sync::atomic::AtomicI32,
}

unsafe fn image_memory_from<'a>(h: OfxImageMemoryHandle) -> Option<&'a ImageMemory> {
    if h.is_null() || !(h as usize).is_multiple_of(std::mem::align_of::<ImageMemory>()) {
        return None;
    }
    let p = h as *const ImageMemory;
    // SAFETY: as effect_from.
    if unsafe { (*p).magic } != MAGIC_IMAGE_MEMORY {
        return None;
    }
    // SAFETY: magic identifies a live ImageMemory.
    Some(unsafe { &*p })
}

unsafe extern "C" fn image_memory_alloc(
    _e: OfxImageEffectHandle,
    n: usize,
    out: *mut OfxImageMemoryHandle,
) -> OfxStatus {
    guard(|| {
        if out.is_null() {
            return STAT_ERR_VALUE;
        }
        let mut buf = Vec::new();
        if buf.try_reserve_exact(n.div_ceil(8)).is_err() {
            return STAT_ERR_MEMORY;
        }
        buf.resize(n.div_ceil(8), 0u64);
        let m = Box::new(ImageMemory {
            magic: MAGIC_IMAGE_MEMORY,
            buf,
            locks: std::sync::atomic::AtomicI32::new(0),
        });
        // SAFETY: out pointer from the plugin; freed by imageMemoryFree.
        unsafe { *out = Box::into_raw(m) as OfxImageMemoryHandle };
        STAT_OK
    })
}

unsafe extern "C" fn image_memory_free(h: OfxImageMemoryHandle) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        if unsafe { image_memory_from(h) }.is_none() {
            return STAT_ERR_BAD_HANDLE;
        }
        // SAFETY: the magic says it came from image_memory_alloc's Box::into_raw.
        let mut m = unsafe { Box::from_raw(h as *mut ImageMemory) };
        m.magic = 0;
        STAT_OK
    })
}

unsafe extern "C" fn image_memory_lock(
    h: OfxImageMemoryHandle,
    out: *mut *mut c_void,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(m) = (unsafe { image_memory_from(h) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if out.is_null() {
            return STAT_ERR_VALUE;
        }
        m.locks.fetch_add(1, Ordering::Relaxed);
        // SAFETY: out pointer from the plugin; the buffer never moves while the box lives.
        unsafe { *out = m.buf.as_ptr() as *mut c_void };
        STAT_OK
    })
}

unsafe extern "C" fn image_memory_unlock(h: OfxImageMemoryHandle) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(m) = (unsafe { image_memory_from(h) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        m.locks.fetch_sub(1, Ordering::Relaxed);
        STAT_OK
    })
}

pub static IMAGE_EFFECT_SUITE: OfxImageEffectSuiteV1 = OfxImageEffectSuiteV1 {
    getPropertySet: Some(get_property_set),
    getParamSet: Some(get_param_set),
    clipDefine: Some(clip_define),
    clipGetHandle: Some(clip_get_handle),
    clipGetPropertySet: Some(clip_get_property_set),
    clipGetImage: Some(clip_get_image),
    clipReleaseImage: Some(clip_release_image),
    clipGetRegionOfDefinition: Some(clip_get_rod),
    abort: Some(abort_fn),
    imageMemoryAlloc: Some(image_memory_alloc),
    imageMemoryFree: Some(image_memory_free),
    imageMemoryLock: Some(image_memory_lock),
    imageMemoryUnlock: Some(image_memory_unlock),
};

// ---------- message suite ----------

/// Messages posted with a handle that is not an effect (NULL is allowed by the spec).
pub(crate) static HOST_MESSAGES: Mutex<Vec<Message>> = Mutex::new(Vec::new());

#[no_mangle]
pub(crate) unsafe extern "C" fn harness_message(
    handle: *mut c_void,
    kind: *const c_char,
    id: *const c_char,
    text: *const c_char,
    persistent: c_int,
) -> OfxStatus {
    guard(|| {
        // SAFETY: NUL-terminated strings per the API (text is variadic.c's buffer).
        let (k, i, t) = unsafe { (cstr_arg(kind), cstr_arg(id), cstr_arg(text)) };
        let m = Message {
            kind: k.unwrap_or("").to_string(),
            id: i.unwrap_or("").to_string(),
            text: t.unwrap_or("").to_string(),
            persistent: persistent != 0,
        };
        log::info!("plugin message [{}] {}", m.kind, m.text);
        let question = m.kind == name(kOfxMessageQuestion);
        // SAFETY: checked handle.
        match unsafe { effect_from(handle) } {
            Some(e) => lock(&e.messages).push(m),
            None => lock(&HOST_MESSAGES).push(m),
        }
        // A headless host has no one to ask: questions are answered "no" (the safe choice).
        if question {
            STAT_REPLY_NO
        } else {
            STAT_OK
        }
    })
}

unsafe extern "C" fn clear_persistent_message(handle: *mut c_void) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        match unsafe { effect_from(handle) } {
            Some(e) => {
                for m in lock(&e.messages).iter_mut() {
                    m.persistent = false;
                }
                STAT_OK
            }
            None => STAT_ERR_BAD_HANDLE,
        }
    })
}

extern "C" {
    fn harness_message_v(
        handle: *mut c_void,
        kind: *const c_char,
        id: *const c_char,
        format: *const c_char,
        ...
    ) -> OfxStatus;
    fn harness_set_persistent_message(
        handle: *mut c_void,
        kind: *const c_char,
        id: *const c_char,
        format: *const c_char,
        ...
    ) -> OfxStatus;
}

pub static MESSAGE_SUITE_V1: OfxMessageSuiteV1 = OfxMessageSuiteV1 {
    message: Some(harness_message_v),
};
pub static MESSAGE_SUITE_V2: OfxMessageSuiteV2 = OfxMessageSuiteV2 {
    message: Some(harness_message_v),
    setPersistentMessage: Some(harness_set_persistent_message),
    clearPersistentMessage: Some(clear_persistent_message),
};

// ---------- progress suite ----------

fn progress_event(handle: *mut c_void, label: String, value: f64) -> OfxStatus {
    // SAFETY: checked handle.
    match unsafe { effect_from(handle) } {
        Some(e) => {
            lock(&e.progress).push((label, value));
            if e.abort.load(Ordering::Relaxed) {
                STAT_REPLY_NO
            } else {
                STAT_OK
            }
        }
        None => STAT_ERR_BAD_HANDLE,
    }
}

unsafe extern "C" fn progress_start_v1(h: *mut c_void, label: *const c_char) -> OfxStatus {
    // SAFETY: NUL-terminated per the API.
    let l = unsafe { cstr_arg(label) }.unwrap_or("").to_string();
    guard(|| progress_event(h, l, 0.0))
}
unsafe extern "C" fn progress_start_v2(
    h: *mut c_void,
    label: *const c_char,
    _id: *const c_char,
) -> OfxStatus {
    // SAFETY: NUL-terminated per the API.
    let l = unsafe { cstr_arg(label) }.unwrap_or("").to_string();
    guard(|| progress_event(h, l, 0.0))
}
unsafe extern "C" fn progress_update(h: *mut c_void, v: f64) -> OfxStatus {
    guard(|| progress_event(h, String::new(), v))
}
unsafe extern "C" fn progress_end(h: *mut c_void) -> OfxStatus {
    guard(|| progress_event(h, "end".into(), 1.0))
}

pub static PROGRESS_SUITE_V1: OfxProgressSuiteV1 = OfxProgressSuiteV1 {
    progressStart: Some(progress_start_v1),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};
pub static PROGRESS_SUITE_V2: OfxProgressSuiteV2 = OfxProgressSuiteV2 {
    progressStart: Some(progress_start_v2),
    progressUpdate: Some(progress_update),
    progressEnd: Some(progress_end),
};

// ---------- timeline suite ----------

unsafe extern "C" fn timeline_get_time(h: *mut c_void, t: *mut f64) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(e) = (unsafe { effect_from(h) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if t.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: out pointer from the plugin.
        unsafe { *t = e.time() };
        STAT_OK
    })
}
unsafe extern "C" fn timeline_goto(h: *mut c_void, t: f64) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(e) = (unsafe { effect_from(h) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        e.set_time(t);
        STAT_OK
    })
}
unsafe extern "C" fn timeline_bounds(h: *mut c_void, a: *mut f64, b: *mut f64) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(e) = (unsafe { effect_from(h) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if a.is_null() || b.is_null() {
            return STAT_ERR_VALUE;
        }
        let r = e.state().frame_range;
        // SAFETY: out pointers from the plugin.
        unsafe {
            *a = r.0;
            *b = r.1;
        }
        STAT_OK
    })
}

pub static TIMELINE_SUITE: OfxTimeLineSuiteV1 = OfxTimeLineSuiteV1 {
    getTime: Some(timeline_get_time),
    gotoTime: Some(timeline_goto),
    getTimeBounds: Some(timeline_bounds),
};
