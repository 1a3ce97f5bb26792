//! What every PlateRestore effect shares: turning host images into views, the standard clip
//! set-up, descriptor flags, and the checks that keep a bad host image from reaching an op.

use crate::device::{
    note_cpu_fallback, CudaEngine, Device, DeviceError, DeviceImage, DevicePreference,
};
use crate::image::{Components, ImageLayout, ImageView, ImageViewMut, PixelDepth, Rect};
use crate::nn::ensemble::ORIENTATION_COUNTS;
use crate::ops::{Abort, OpError};
use ofx::clip::ImageInfo;
use ofx::{
    name, BitDepth, Context, Error, ImageComponents, ImageEffect, RenderThreadSafety, Result,
    Status,
};
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub const SOURCE: &CStr = c"Source";
pub const OUTPUT: &CStr = c"Output";
/// Menu group all PlateRestore effects appear under.
pub const GROUPING: &str = "PlateRestore";

pub fn depth_of(d: BitDepth) -> PixelDepth {
    match d {
        BitDepth::Byte => PixelDepth::U8,
        BitDepth::Short => PixelDepth::U16,
        BitDepth::Half => PixelDepth::F16,
        BitDepth::Float => PixelDepth::F32,
    }
}

pub fn components_of(c: ImageComponents) -> Components {
    match c {
        ImageComponents::Rgba => Components::Rgba,
        ImageComponents::Rgb => Components::Rgb,
        ImageComponents::Alpha => Components::Alpha,
    }
}

pub fn layout_of(info: &ImageInfo) -> ImageLayout {
    ImageLayout {
        bounds: Rect::new(
            info.bounds.x1,
            info.bounds.y1,
            info.bounds.x2,
            info.bounds.y2,
        ),
        row_bytes: info.row_bytes,
        depth: depth_of(info.depth),
        components: components_of(info.components),
    }
}

/// A read view of a host image, borrowed for as long as the `ofx::Image` lives.
pub fn source_view<'a>(_img: &'a ofx::Image, info: &ImageInfo) -> Result<ImageView<'a>> {
    // SAFETY: the host guarantees the image memory described by `info` is valid until the
    // image is released, which cannot happen while `img` is borrowed.
    unsafe { ImageView::from_raw(info.data as *const u8, layout_of(info)) }
        .map_err(|e| Error::value(format!("source image: {e}")))
}

/// A write view of the host's output image.
pub fn output_view<'a>(_img: &'a ofx::Image, info: &ImageInfo) -> Result<ImageViewMut<'a>> {
    // SAFETY: as `source_view`; the output image is ours to write during render.
    unsafe { ImageViewMut::from_raw(info.data as *mut u8, layout_of(info)) }
        .map_err(|e| Error::value(format!("output image: {e}")))
}

/// Host abort flag as an op `Abort`.
pub struct HostAbort<'a>(pub &'a ImageEffect);

impl Abort for HostAbort<'_> {
    fn aborted(&self) -> bool {
        self.0.aborted()
    }
}

pub fn op_error(e: OpError) -> Error {
    match e {
        // Abort is a normal outcome: the host asked for it; report failure quietly.
        OpError::Aborted => Error::new(Status::Failed, ""),
        OpError::InvalidParam(m) => Error::value(m),
        OpError::Image(e) => Error::value(e.to_string()),
        OpError::Unsupported(w) => Error::unsupported(format!("{w} is not supported")),
    }
}

/// Descriptor flags shared by PlateRestore's effects.
pub struct Describe<'a> {
    pub label: &'a str,
    pub description: &'a str,
    pub tiles: bool,
    pub multi_resolution: bool,
    pub temporal: bool,
}

pub fn describe_effect(effect: &ImageEffect, d: &Describe<'_>) -> Result<()> {
    let p = effect.props()?;
    p.set_string(name!(kOfxPropLabel), 0, d.label)?;
    p.set_string(name!(kOfxImageEffectPluginPropGrouping), 0, GROUPING)?;
    let _ = p.set_string(name!(kOfxPropPluginDescription), 0, d.description);
    p.set_strings(
        name!(kOfxImageEffectPropSupportedContexts),
        &[Context::Filter.name(), Context::General.name()],
    )?;
    p.set_strings(
        name!(kOfxImageEffectPropSupportedPixelDepths),
        &[
            BitDepth::Byte.name(),
            BitDepth::Short.name(),
            BitDepth::Half.name(),
            BitDepth::Float.name(),
        ],
    )?;
    p.set_bool(name!(kOfxImageEffectPropSupportsTiles), 0, d.tiles)?;
    p.set_bool(
        name!(kOfxImageEffectPropSupportsMultiResolution),
        0,
        d.multi_resolution,
    )?;
    p.set_bool(name!(kOfxImageEffectPropTemporalClipAccess), 0, d.temporal)?;
    // Output may be float while the input is 8-bit (HDR needs the headroom).
    let _ = p.set_bool(
        name!(kOfxImageEffectPropSupportsMultipleClipDepths),
        0,
        true,
    );
    // FullySafe: effects keep no mutable state between calls (parameters live in the host,
    // caches are behind locks), so any number of renders may run at once.
    p.set_str(
        name!(kOfxImageEffectPluginRenderThreadSafety),
        0,
        RenderThreadSafety::FullySafe.name(),
    )?;
    // We thread internally (rayon over row bands), so the host need not slice frames for us.
    p.set_bool(name!(kOfxImageEffectPluginPropHostFrameThreading), 0, false)?;
    Ok(())
}

/// Defines the standard Source (+ Output) clips of a filter/general effect.
pub fn define_filter_clips(
    effect: &ImageEffect,
    comps: &[ImageComponents],
    tiles: bool,
) -> Result<()> {
    for clip in [SOURCE, OUTPUT] {
        let c = effect.define_clip(clip)?;
        c.supported_components(comps)?;
        c.supports_tiles(tiles)?;
    }
    Ok(())
}

/// The render window as a `Rect`, rejecting a degenerate one with a clear status.
pub fn render_window(args: &ofx::RenderArgs) -> Result<Rect> {
    let w = args.render_window;
    if w.x2 < w.x1 || w.y2 < w.y1 {
        return Err(Error::value(format!(
            "the host asked for an inverted render window ({}, {})-({}, {})",
            w.x1, w.y1, w.x2, w.y2
        )));
    }
    Ok(Rect::new(w.x1, w.y1, w.x2, w.y2))
}

/// Fetches the source and output images of a render and checks they can be processed.
/// `Ok(None)` when the window is empty (nothing to do).
pub struct RenderImages {
    pub source: Option<ofx::Image>,
    pub source_info: Option<ImageInfo>,
    pub output: ofx::Image,
    pub output_info: ImageInfo,
    pub window: Rect,
}

pub fn fetch_images(effect: &ImageEffect, args: &ofx::RenderArgs) -> Result<Option<RenderImages>> {
    let window = render_window(args)?;
    if window.is_empty() {
        return Ok(None);
    }
    let out_clip = effect.clip(OUTPUT)?;
    let output = out_clip
        .get_image(args.time, None)?
        .ok_or_else(|| Error::failed("the host gave no output image to render into"))?;
    let output_info = output.info()?;
    let source = effect.clip(SOURCE)?.get_image(args.time, None)?;
    let source_info = match &source {
        Some(s) => Some(s.info()?),
        None => None,
    };
    Ok(Some(RenderImages {
        source,
        source_info,
        output,
        output_info,
        window,
    }))
}

/// Declares OFX 1.5 CUDA render and stream support. Optional: hosts before OFX 1.5 (Nuke)
/// may reject the unknown properties, which must not fail describe.
pub fn declare_cuda_render(effect: &ImageEffect) {
    if let Ok(p) = effect.props() {
        let _ = p.set_str(ofx::cuda::PROP_CUDA_RENDER_SUPPORTED, 0, c"true");
        let _ = p.set_str(ofx::cuda::PROP_CUDA_STREAM_SUPPORTED, 0, c"true");
    }
}

/// The processing-device choice every effect has. Options are saved by index: append only.
pub const DEVICE_OPTIONS: [(&str, DevicePreference); 3] = [
    ("Auto", DevicePreference::Auto),
    ("CPU", DevicePreference::Cpu),
    ("CUDA GPU", DevicePreference::Cuda),
];

pub fn define_device_param(ps: &ofx::ParamSet, id: &'static CStr) -> Result<()> {
    let labels: Vec<&'static str> = DEVICE_OPTIONS.iter().map(|(l, _)| *l).collect();
    ps.choice(id, "Device")
        .options(&labels)
        .default(0)
        .hint("Where the effect computes. Auto picks what is fastest for this effect (a host's own GPU frames always stay on the GPU); CPU forces the reference path; CUDA GPU uses an NVIDIA GPU and falls back to the CPU, with a message, when none is usable. Results agree within a stated tolerance either way. The PLATERESTORE_DEVICE environment variable (auto, cpu, cuda) overrides this for render farms.")
        .evaluate_on_change(false)
        .define()
}

/// Self-ensemble's options, in the order of [`ORIENTATION_COUNTS`]. Saved by index: append only.
const ENSEMBLE_LABELS: [&str; 4] = [
    "Off (one pass)",
    "2 orientations (2× the time)",
    "4 orientations (4× the time)",
    "8 orientations (8× the time)",
];

/// The Self-ensemble choice of a neural effect, in the network group, with the effect's own
/// figures in `hint`.
pub fn define_ensemble_param(
    ps: &ofx::ParamSet,
    id: &'static CStr,
    parent: &'static CStr,
    figures: &str,
) -> Result<()> {
    let hint = format!("Runs the network on flipped and transposed copies of the plate and averages the results, each turned back: the network's errors partly differ between orientations, so their mean is closer to the truth. One run of the network per orientation, so for final renders on a GPU or a farm. {figures}");
    ps.choice(id, "Self-ensemble")
        .options(&ENSEMBLE_LABELS)
        .default(0)
        .parent(parent)
        .hint(&hint)
        .define()
}

/// How many orientations the Self-ensemble choice `id` averages.
pub fn read_ensemble(ps: &ofx::ParamSet, id: &CStr, time: f64) -> Result<usize> {
    Ok(ORIENTATION_COUNTS[ps.get_choice(id, time, ORIENTATION_COUNTS.len())?])
}

pub fn read_device(ps: &ofx::ParamSet, id: &CStr, time: f64) -> Result<DevicePreference> {
    let i = ps.get_choice(id, time, DEVICE_OPTIONS.len())?;
    Ok(DevicePreference::resolve(
        DEVICE_OPTIONS[i].1,
        DevicePreference::from_env(),
    ))
}

/// Shown once per process: writing a message on every render defeats hosts' render caches
/// (seen in Resolve), and one notice is what a user needs.
static GPU_NOTICE_SHOWN: AtomicBool = AtomicBool::new(false);

fn gpu_notice(effect: &ImageEffect, text: &str) {
    if !GPU_NOTICE_SHOWN.swap(true, Ordering::Relaxed) {
        effect.persistent_message(Some((ofx::MessageKind::Warning, text)));
    }
}

/// For host-memory frames: runs `gpu` when the user asked for CUDA and a GPU is usable.
/// `true` when the frame was rendered there; `false` means render on the CPU (after one notice
/// if the GPU was asked for but unusable or failed). Auto stays on the CPU: for per-pixel
/// effects the frame's upload and download cost more than the maths (to be re-measured on a GPU).
pub fn rendered_on_gpu(
    effect: &ImageEffect,
    preference: DevicePreference,
    gpu: impl FnOnce(&Arc<CudaEngine>) -> std::result::Result<(), DeviceError>,
) -> bool {
    if preference != DevicePreference::Cuda {
        return false;
    }
    match Device::select(preference) {
        Device::Cuda(engine) => match gpu(&engine) {
            Ok(()) => true,
            Err(e) => {
                gpu_fallback(effect, &e);
                false
            }
        },
        Device::Cpu => {
            gpu_unavailable(effect);
            false
        }
    }
}

/// Option labels of a choice parameter, from an op enum's saved order.
pub fn labels<T: Copy>(all: &[T], label: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| label(*v)).collect()
}

/// The saved index of `value` in an op enum's order.
pub fn index_of<T: PartialEq>(all: &[T], value: &T) -> i32 {
    all.iter().position(|v| v == value).unwrap_or(0) as i32
}

/// Colour is premultiplied by alpha (only RGBA images can be).
pub fn is_premultiplied(info: &ImageInfo) -> bool {
    info.premultiplication == ofx::Premultiplication::Premultiplied
        && info.components == ImageComponents::Rgba
}

/// Transparent black over `window`: what a missing source renders as.
pub fn fill_black(dst: &ImageViewMut<'_>, window: Rect) -> Result<()> {
    let w = window.intersect(&dst.bounds());
    let row = vec![[0.0f32; 4]; w.width() as usize];
    for y in w.y1..w.y2 {
        dst.write_row(y, w.x1, &row);
    }
    Ok(())
}

/// The user asked for the GPU and it failed: say so once, render on the CPU.
pub fn gpu_fallback(effect: &ImageEffect, error: &DeviceError) {
    note_cpu_fallback(error);
    gpu_notice(
        effect,
        &format!("GPU render failed ({error}); rendering on the CPU instead."),
    );
}

pub fn gpu_unavailable(effect: &ImageEffect) {
    gpu_notice(
        effect,
        "Device is set to CUDA GPU but no usable NVIDIA GPU was found; rendering on the CPU.",
    );
}

pub fn device_error(e: DeviceError) -> Error {
    match e {
        DeviceError::OutOfMemory => Error::new(Status::ErrMemory, format!("GPU render: {e}")),
        e => Error::failed(format!("GPU render: {e}")),
    }
}

/// A host's device image (OFX CUDA render: `kOfxImagePropData` is a device pointer).
pub fn device_image(info: &ImageInfo) -> DeviceImage {
    DeviceImage {
        ptr: info.data as u64,
        layout: layout_of(info),
    }
}

/// Model files already reported as unusable (one message per file, not one per render).
static REPORTED_MODELS: std::sync::Mutex<Option<std::collections::HashSet<String>>> =
    std::sync::Mutex::new(None);

/// The bundle this binary was loaded from (`kOfxPluginPropFilePath`), where shipped models live.
pub fn bundle_path(effect: &ImageEffect) -> Option<std::path::PathBuf> {
    effect
        .props()
        .ok()?
        .get_string_opt(name!(kOfxPluginPropFilePath), 0)
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
}

/// Loads the user's model file `path` when it is set and `accept` takes it; otherwise (after
/// telling the user once per file why theirs was not used) the shipped model `shipped`, which
/// `accept` must take. `effect_label` starts the messages.
pub fn choose_model(
    effect: &ImageEffect,
    effect_label: &str,
    path: &str,
    shipped: &str,
    mut accept: impl FnMut(Arc<crate::nn::Model>) -> std::result::Result<(), String>,
) -> Result<()> {
    let path = path.trim();
    if !path.is_empty() {
        let user = crate::nn::load_model(std::path::Path::new(path))
            .map_err(|e| e.to_string())
            .and_then(&mut accept);
        match user {
            Ok(()) => return Ok(()),
            Err(e) => {
                let text = format!(
                    "{effect_label}: model file {path} cannot be used ({e}); using the shipped model."
                );
                log::warn!("{text}");
                let mut reported = REPORTED_MODELS.lock().unwrap_or_else(|e| e.into_inner());
                if reported
                    .get_or_insert_with(std::collections::HashSet::new)
                    .insert(format!("{effect_label}:{path}"))
                {
                    effect.persistent_message(Some((ofx::MessageKind::Warning, &text)));
                }
            }
        }
    }
    let model = crate::nn::shipped_model(shipped, bundle_path(effect).as_deref()).map_err(|e| {
        Error::failed(format!(
            "{effect_label}: the shipped network is missing or damaged ({e}); reinstall PlateRestore or choose a model file"
        ))
    })?;
    accept(model).map_err(|e| Error::failed(format!("{effect_label}: {e}")))
}

/// The host's abort flag or a cancel from its progress bar.
pub struct CancelOrAbort<'a> {
    pub effect: &'a ImageEffect,
    pub cancelled: &'a AtomicBool,
}

impl crate::ops::Abort for CancelOrAbort<'_> {
    fn aborted(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || self.effect.aborted()
    }
}

/// Canonical ↔ pixel coordinates at a render scale and pixel aspect (OFX: pixel x =
/// canonical x × scale ÷ aspect), rounding regions outwards.
pub struct PixelMapping {
    sx: f64,
    sy: f64,
}

impl PixelMapping {
    pub fn new(render_scale: [f64; 2], pixel_aspect: f64) -> PixelMapping {
        PixelMapping {
            sx: render_scale[0] / pixel_aspect,
            sy: render_scale[1],
        }
    }

    pub fn pixels(&self, r: &ofx::RectD) -> Rect {
        let clamp = |v: f64| v.clamp(-1.0e9, 1.0e9);
        Rect::new(
            clamp((r.x1 * self.sx + 1e-6).floor()) as i32,
            clamp((r.y1 * self.sy + 1e-6).floor()) as i32,
            clamp((r.x2 * self.sx - 1e-6).ceil()) as i32,
            clamp((r.y2 * self.sy - 1e-6).ceil()) as i32,
        )
    }

    pub fn canonical(&self, r: Rect) -> ofx::RectD {
        ofx::RectD {
            x1: r.x1 as f64 / self.sx,
            y1: r.y1 as f64 / self.sy,
            x2: r.x2 as f64 / self.sx,
            y2: r.y2 as f64 / self.sy,
        }
    }
}

/// The part of a neural effect's render around its op: picks the device (a usable GPU for
/// the network when Device is Auto or CUDA GPU and `uses_network`), wires the host's abort
/// flag and progress bar (progress is reported on this, the render, thread), runs `op`, and
/// tells the user once when the GPU failed and the CPU finished.
pub fn render_neural(
    effect: &ImageEffect,
    ps: &ofx::ParamSet,
    device_param: &CStr,
    time: f64,
    progress_label: &str,
    uses_network: bool,
    op: impl FnOnce(
        crate::nn::NetDevice<'_>,
        &dyn crate::ops::Abort,
        &(dyn Fn(f64) + Sync),
    ) -> std::result::Result<crate::nn::Report, OpError>,
) -> Result<()> {
    let preference = read_device(ps, device_param, time)?;
    let device = match preference {
        DevicePreference::Auto | DevicePreference::Cuda if uses_network => {
            Device::select(preference)
        }
        _ => Device::Cpu,
    };
    if uses_network && preference == DevicePreference::Cuda && !device.is_cuda() {
        gpu_unavailable(effect);
    }
    let net_device = match &device {
        Device::Cuda(engine) => {
            crate::nn::NetDevice::Cuda(engine, crate::nn::cpu::DEFAULT_TILE * 2)
        }
        Device::Cpu => crate::nn::NetDevice::Cpu(crate::nn::cpu::RunOptions::default()),
    };
    let cancelled = AtomicBool::new(false);
    let abort = CancelOrAbort {
        effect,
        cancelled: &cancelled,
    };
    let progress = |f: f64| {
        if !effect.progress_update(f) {
            cancelled.store(true, Ordering::Relaxed);
        }
    };
    if uses_network {
        effect.progress_start(progress_label);
    }
    let result = op(net_device, &abort, &progress);
    if uses_network {
        effect.progress_end();
    }
    let report = result.map_err(op_error)?;
    if let Some(e) = &report.gpu_error {
        gpu_fallback(effect, e);
    }
    Ok(())
}
