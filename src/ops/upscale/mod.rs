//! Upscale: ×2/×4 neural super-resolution on the engine in `nn`, or a classical Lanczos 3 /
//! bicubic resize, to float output — without the colour shifts, halos and sharpened blocks of
//! naive upscalers.
//!
//! How one render works (every step is a pure function of output coordinates and input pixels,
//! so tiles, windows and thread counts never change a pixel):
//! 1. the source pixels the window needs are read, un-premultiplied, in the plate's encoding;
//! 2. the **base**: the classical resize of them (Resize mode) or the plate itself (Enhance);
//! 3. the **network** runs in the encoding it was trained in (×4 with a ×2 model = two passes);
//!    Enhance mode first box-downscales the plate by the model's factor (the "area" downscale
//!    the model was trained on), so the network restores detail at the plate's own size;
//! 4. the **detail** D = network − base; with *Colour lock* its local mean (a box of
//!    ±[`LOCK_RADIUS`] output pixels) is removed, so the output's low-pass is the base's: no
//!    tint, no level shift, flat areas exactly the base's value;
//! 5. output = base + Detail × D; alpha is always the classical resize (never hallucinated),
//!    and colour is premultiplied again when the plate was.

pub mod octave;
pub mod resample;

#[cfg(test)]
mod tests;

use super::{Abort, OpError};
use crate::color::Encoding;
use crate::image::{ImageView, ImageViewMut, Rect};
use crate::nn::cpu;
use crate::nn::ensemble::{ensemble_tile_count, ORIENTATION_COUNTS};
use crate::nn::{self, Model, Planar, Task, TileSource, TrainedEncoding};
pub use crate::nn::{NetDevice, Report};
use rayon::prelude::*;
pub use resample::Filter;
use std::sync::Arc;

/// Half-width, in output pixels, of the box whose mean Colour lock takes from the detail.
/// Wider than an 8×8 JPEG block at ×2 (16 px), so deblocking survives the lock while tints
/// and level shifts (which are smooth) do not.
pub const LOCK_RADIUS: i32 = 16;

/// Flat-area gate: where the plate's local range (max − min over ±[`GATE_RADIUS`] pixels, any
/// channel, in sRGB code values) is below `GATE_FLAT`, the network adds nothing; above
/// `GATE_DETAIL` it adds all its detail; linear in between. A network cannot find detail in a
/// flat area, so whatever it adds there is an artefact: its faint 2×2 pixel-shuffle pattern,
/// or a halo spreading from a nearby edge. 8-bit smooth gradients (one code value per step)
/// are above the gate.
pub const GATE_FLAT: f32 = 0.25 / 255.0;
pub const GATE_DETAIL: f32 = 1.0 / 255.0;
pub const GATE_RADIUS: i32 = 2;

/// Largest classical factor.
pub const MAX_FACTOR: f64 = 8.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    NeuralX2,
    NeuralX4,
    Lanczos3,
    CatmullRom,
    Mitchell,
}

impl Method {
    /// Saved-index order of the OFX choice: append only.
    pub const ALL: [Method; 5] = [
        Method::NeuralX2,
        Method::NeuralX4,
        Method::Lanczos3,
        Method::CatmullRom,
        Method::Mitchell,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Method::NeuralX2 => "Neural ×2",
            Method::NeuralX4 => "Neural ×4",
            Method::Lanczos3 => "Lanczos 3",
            Method::CatmullRom => "Bicubic (Catmull-Rom)",
            Method::Mitchell => "Bicubic (Mitchell)",
        }
    }

    /// The network's overall factor, for the neural methods.
    pub fn neural_scale(self) -> Option<usize> {
        match self {
            Method::NeuralX2 => Some(2),
            Method::NeuralX4 => Some(4),
            _ => None,
        }
    }

    /// The classical filter: the method itself, or Lanczos 3 as the neural methods' base.
    pub fn filter(self) -> Filter {
        match self {
            Method::CatmullRom => Filter::CatmullRom,
            Method::Mitchell => Filter::Mitchell,
            _ => Filter::Lanczos3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The output is the input × factor (multi-resolution hosts: Nuke, Natron, ofxrun).
    Resize,
    /// The host already resized the plate (Resolve's timeline): restore detail at its size.
    Enhance,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Resize, Mode::Enhance];
    pub fn label(self) -> &'static str {
        match self {
            Mode::Resize => "Resize",
            Mode::Enhance => "Enhance in place",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpscaleParams {
    pub method: Method,
    pub mode: Mode,
    /// Classical methods' factor (the neural ones use theirs).
    pub factor: f64,
    /// 0 = the base (classical resize, or the plate in Enhance mode), 1 = the network.
    pub detail: f32,
    pub colour_lock: bool,
    /// Scale the detail block by block by how well the network predicts the plate from a
    /// half-size copy ([`octave`]; Neural ×2 only).
    pub adaptive: bool,
    /// Neural methods: the network's mean over this many flips and transpositions of the
    /// frame (1, 2, 4 or 8; [`crate::nn::ensemble`]), Adaptive detail's measurement included.
    pub orientations: usize,
    pub encoding: Encoding,
    pub premultiplied: bool,
}

impl Default for UpscaleParams {
    fn default() -> Self {
        UpscaleParams {
            method: Method::NeuralX2,
            mode: Mode::Resize,
            factor: 2.0,
            detail: 1.0,
            colour_lock: true,
            adaptive: false,
            orientations: 1,
            encoding: Encoding::Srgb,
            premultiplied: false,
        }
    }
}

impl UpscaleParams {
    pub fn validate(&self) -> Result<(), OpError> {
        if !(1.0..=MAX_FACTOR).contains(&self.factor) {
            return Err(OpError::InvalidParam(format!(
                "Scale factor {} is outside 1 to {MAX_FACTOR}",
                self.factor
            )));
        }
        if !(0.0..=1.0).contains(&self.detail) {
            return Err(OpError::InvalidParam(format!(
                "Detail {} is outside 0 to 1",
                self.detail
            )));
        }
        if !ORIENTATION_COUNTS.contains(&self.orientations) {
            return Err(OpError::InvalidParam(format!(
                "{} orientations: the ensemble averages 1, 2, 4 or 8",
                self.orientations
            )));
        }
        Ok(())
    }

    /// Output size ÷ input size.
    pub fn scale(&self) -> f64 {
        match (self.mode, self.method.neural_scale()) {
            (Mode::Enhance, _) => 1.0,
            (Mode::Resize, Some(s)) => s as f64,
            (Mode::Resize, None) => self.factor,
        }
    }

    /// Whether a network runs at all (Detail 0 is exactly the classical result).
    pub fn uses_network(&self) -> bool {
        self.method.neural_scale().is_some() && self.detail > 0.0
    }

    /// The output equals the input: Enhance without a network, or a classical ×1.
    pub fn is_identity(&self) -> bool {
        match self.mode {
            Mode::Enhance => !self.uses_network(),
            Mode::Resize => self.method.neural_scale().is_none() && self.factor == 1.0,
        }
    }

    /// The output frame (pixels) of an input frame: each edge scaled about the origin, rounded
    /// outwards.
    pub fn output_frame(&self, input: Rect) -> Rect {
        scale_rect(input, self.scale())
    }

    /// The detail's extent: the window grown by the lock radius (when the lock is on), inside
    /// the output frame.
    fn detail_region(&self, out_frame: Rect, window: Rect) -> Rect {
        if self.uses_network() && self.colour_lock {
            grow(window, LOCK_RADIUS).intersect(&out_frame)
        } else {
            window.intersect(&out_frame)
        }
    }

    /// Input pixels a render of `window` reads (the region of interest to ask a host for).
    pub fn region_of_interest(&self, net: Option<&Network>, frame: Rect, window: Rect) -> Rect {
        let out_frame = self.output_frame(frame);
        let ext = self.detail_region(out_frame, window);
        if ext.is_empty() {
            return Rect::new(0, 0, 0, 0);
        }
        let base = match self.mode {
            Mode::Resize => resample::footprint(self.method.filter(), self.scale(), frame, ext),
            Mode::Enhance => ext,
        };
        let base = if self.uses_network() {
            union(
                base,
                grow(gate_footprint(self.scale(), ext), GATE_RADIUS).intersect(&frame),
            )
        } else {
            base
        };
        let Some(net) = net.filter(|_| self.uses_network()) else {
            return base;
        };
        let region = match self.mode {
            Mode::Resize => net.input_region(frame, ext),
            Mode::Enhance => {
                let s = net.scale() as i32;
                let small = net.input_region(downscaled_frame(frame, s), ext);
                Rect::new(small.x1 * s, small.y1 * s, small.x2 * s, small.y2 * s).intersect(&frame)
            }
        };
        let region = if octave::applies(self, net) {
            union(region, octave::region_of_interest(self, net, frame, ext))
        } else {
            region
        };
        union(base, region)
    }
}

/// A network ready for the effect: a model and how many times it is applied (×4 from a ×2
/// model is two passes; the second pass sees the first's clean output, which the model's
/// training on clean pairs covers).
#[derive(Debug, Clone)]
pub struct Network {
    pub model: Arc<Model>,
    pub passes: u32,
}

impl Network {
    /// A network giving `scale` from `model`, or why the model cannot.
    pub fn for_scale(model: Arc<Model>, scale: usize) -> Result<Network, String> {
        let spec = &model.spec;
        if spec.task != Task::Upscale {
            return Err(format!(
                "model `{}` is a {:?} model, not an upscaling one",
                spec.name, spec.task
            ));
        }
        if spec.frames != 1 || spec.in_channels != 3 || spec.out_channels != 3 {
            return Err(format!(
                "model `{}` takes {} frame(s) of {} channels; Upscale needs one RGB frame",
                spec.name, spec.frames, spec.in_channels
            ));
        }
        let mut passes = 0;
        let mut s = 1;
        while s < scale && spec.scale > 1 {
            s *= spec.scale;
            passes += 1;
        }
        if s != scale {
            return Err(format!(
                "model `{}` upscales ×{}, which cannot make ×{scale}",
                spec.name, spec.scale
            ));
        }
        Ok(Network { model, passes })
    }

    pub fn scale(&self) -> usize {
        self.model.scale().pow(self.passes)
    }

    fn frames(&self, frame: Rect) -> Vec<Rect> {
        let mut f = vec![frame];
        for _ in 0..self.passes {
            let last = f[f.len() - 1];
            f.push(cpu::output_frame(last, self.model.scale()));
        }
        f
    }

    /// Input pixels of `frame` that the outputs `window` depend on.
    pub fn input_region(&self, frame: Rect, window: Rect) -> Rect {
        let frames = self.frames(frame);
        let mut r = window;
        for p in (0..self.passes as usize).rev() {
            r = cpu::input_region(&self.model, frames[p], r);
        }
        r
    }

    fn encoding(&self) -> Encoding {
        model_encoding(&self.model)
    }
}

/// The encoding a model was trained in, in the effects' vocabulary.
pub(crate) fn model_encoding(model: &Model) -> Encoding {
    match model.spec.encoding {
        TrainedEncoding::Srgb => Encoding::Srgb,
        TrainedEncoding::Bt1886 => Encoding::Bt1886,
        TrainedEncoding::Linear => Encoding::Linear,
    }
}

/// Renders `window` (output pixels) of the upscale of `src`, whose frame (region of definition
/// in pixels) is `frame`. `net` must be given when `params.uses_network()`. `progress` gets the
/// fraction done after each row of network tiles, on the calling thread.
#[allow(clippy::too_many_arguments)]
pub fn render(
    params: &UpscaleParams,
    net: Option<&Network>,
    src: &ImageView<'_>,
    frame: Rect,
    dst: &ImageViewMut<'_>,
    window: Rect,
    device: NetDevice<'_>,
    abort: &dyn Abort,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Report, OpError> {
    params.validate()?;
    let out_frame = params.output_frame(frame);
    let inside = window.intersect(&out_frame);
    let mut report = Report::default();
    fill_outside(dst, window, inside);
    if inside.is_empty() {
        return Ok(report);
    }
    let net = if params.uses_network() {
        Some(net.ok_or(OpError::InvalidParam(
            "no network is loaded for a neural method".into(),
        ))?)
    } else {
        None
    };
    let roi = params.region_of_interest(net, frame, inside);
    let plate = read_plate(src, roi, params.premultiplied);
    if abort.aborted() {
        return Err(OpError::Aborted);
    }
    let ext = params.detail_region(out_frame, inside);
    let base = match params.mode {
        Mode::Resize => {
            resample::resample(params.method.filter(), params.scale(), &plate, frame, ext)
        }
        Mode::Enhance => crop(&plate, ext),
    };
    // The detail over `inside` (over `ext` without Colour lock), in the plate's encoding.
    let detail = match net {
        Some(net) => {
            // Adaptive detail's measurement first (its share of the progress bar), then the
            // render's own network.
            let (map, share) = if octave::applies(params, net) {
                let share = octave::progress_share(net);
                let part = |f: f64| progress(share * f);
                let (map, r) =
                    octave::measure(params, net, &plate, frame, ext, device, abort, &part)?;
                report.merge(r);
                (Some(map), share)
            } else {
                (None, 0.0)
            };
            let rest = |f: f64| progress(share + (1.0 - share) * f);
            let (mut d, r) = run_network(params, net, &plate, frame, ext, device, abort, &rest)?;
            report.merge(r);
            subtract_base(&mut d, &base, params.encoding, net.encoding());
            if let Some(map) = map {
                map.apply(&mut d);
            }
            gate(&mut d, &plate, frame, params.scale(), params.encoding);
            Some(d)
        }
        None => None,
    };
    // Output = base + Detail × detail, written straight to the host's image; with Colour lock
    // the locked detail goes to the output band by band, never held for the whole window.
    let write = |y: i32, detail: Option<&[f32]>| {
        dst.write_row(y, inside.x1, &output_row(params, &base, inside, y, detail));
    };
    match &detail {
        Some(d) if params.colour_lock => {
            let w = inside.width() as usize;
            let bands = (inside.height() as usize).div_ceil(LOCK_BAND);
            (0..bands).into_par_iter().for_each(|b| {
                let y0 = inside.y1 + (b * LOCK_BAND) as i32;
                let rows = (inside.y2 - y0).min(LOCK_BAND as i32) as usize;
                let mut band = vec![0.0f32; rows * w * 3];
                lock_band(d, out_frame, inside, y0, &mut band);
                for (r, row) in band.chunks_exact(w * 3).enumerate() {
                    write(y0 + r as i32, Some(row));
                }
            });
        }
        Some(d) => (inside.y1..inside.y2).into_par_iter().for_each(|y| {
            let i = d.index(inside.x1, y);
            write(y, Some(&d.data[i..i + inside.width() as usize * 3]));
        }),
        None => (inside.y1..inside.y2)
            .into_par_iter()
            .for_each(|y| write(y, None)),
    }
    Ok(report)
}

/// Output row `y` of `window`: the base plus Detail × `detail` (the row's RGB detail values),
/// alpha clamped in Resize mode, premultiplied again when the plate was.
fn output_row(
    params: &UpscaleParams,
    base: &Planar,
    window: Rect,
    y: i32,
    detail: Option<&[f32]>,
) -> Vec<[f32; 4]> {
    let (k, clamp_alpha) = (params.detail, params.mode == Mode::Resize);
    let b = &base.data[base.index(window.x1, y)..][..window.width() as usize * 4];
    b.chunks_exact(4)
        .enumerate()
        .map(|(i, b)| {
            let mut v = [b[0], b[1], b[2], b[3]];
            if let Some(d) = detail {
                for c in 0..3 {
                    v[c] += k * d[i * 3 + c];
                }
            }
            output_pixel(v, params.premultiplied, clamp_alpha)
        })
        .collect()
}

/// The plate over `rect` as RGBA f32, colour un-premultiplied.
pub(crate) fn read_plate(src: &ImageView<'_>, rect: Rect, premultiplied: bool) -> Planar {
    let mut p = Planar::zeros(rect, 4);
    let w = rect.width().max(0) as usize;
    p.data
        .par_chunks_mut(4 * w.max(1))
        .enumerate()
        .for_each(|(r, row)| {
            let mut px = vec![[0.0f32; 4]; w];
            src.read_row(rect.y1 + r as i32, rect.x1, &mut px);
            for (o, v) in row.chunks_mut(4).zip(&px) {
                let mut v = *v;
                if premultiplied {
                    let a = v[3];
                    for c in v.iter_mut().take(3) {
                        *c = if a > 0.0 { *c / a } else { 0.0 };
                    }
                }
                o.copy_from_slice(&v);
            }
        });
    p
}

/// Pixels of `window` outside `inside` (the part of the window in the frame) become
/// transparent black.
pub(crate) fn fill_outside(dst: &ImageViewMut<'_>, window: Rect, inside: Rect) {
    let black = vec![[0.0f32; 4]; window.width().max(0) as usize];
    for y in window.y1..window.y2 {
        if inside.is_empty() || y < inside.y1 || y >= inside.y2 {
            dst.write_row(y, window.x1, &black);
        } else {
            dst.write_row(y, window.x1, &black[..(inside.x1 - window.x1) as usize]);
            dst.write_row(y, inside.x2, &black[..(window.x2 - inside.x2) as usize]);
        }
    }
}

/// `p` restricted to `rect` (inside `p.rect`).
pub(crate) fn crop(p: &Planar, rect: Rect) -> Planar {
    let c = p.channels;
    let mut out = Planar::zeros(rect, c);
    let n = rect.width() as usize * c;
    for y in rect.y1..rect.y2 {
        let (a, b) = (out.index(rect.x1, y), p.index(rect.x1, y));
        out.data[a..a + n].copy_from_slice(&p.data[b..b + n]);
    }
    out
}

/// The network's input: the plate's colour in the model's encoding, at the plate's size
/// (Resize) or box-downscaled by the network's factor (Enhance).
pub(crate) struct NetInput<'a> {
    pub plate: &'a Planar,
    pub frame: Rect,
    pub from: Encoding,
    pub to: Encoding,
    /// Enhance: the box size (the network's overall factor); 1 in Resize mode.
    pub block: i32,
}

impl TileSource for NetInput<'_> {
    fn read_row(&self, y: i32, x1: i32, width: usize, out: &mut [f32]) {
        let b = self.block;
        for i in 0..width {
            let x = x1 + i as i32;
            let mut acc = [0.0f32; 3];
            let mut n = 0.0f32;
            // The block's pixels inside the frame (frame edges not divisible by the factor give
            // partial blocks); in Resize mode the block is the pixel itself.
            for yy in (y * b).max(self.frame.y1)..((y + 1) * b).min(self.frame.y2) {
                for xx in (x * b).max(self.frame.x1)..((x + 1) * b).min(self.frame.x2) {
                    let p = self.plate.pixel(xx, yy);
                    for c in 0..3 {
                        acc[c] += self.from.convert(self.to, p[c]);
                    }
                    n += 1.0;
                }
            }
            for c in 0..3 {
                out[i * 3 + c] = if n > 0.0 { acc[c] / n } else { 0.0 };
            }
        }
    }
}

/// The frame of a plate box-downscaled by `s` (partial blocks at the far edges count).
fn downscaled_frame(frame: Rect, s: i32) -> Rect {
    Rect::new(
        frame.x1.div_euclid(s),
        frame.y1.div_euclid(s),
        (frame.x2 + s - 1).div_euclid(s),
        (frame.y2 + s - 1).div_euclid(s),
    )
}

/// Runs every pass of the network so that its output covers `ext`, on the chosen device
/// (falling back to the CPU when the GPU fails).
#[allow(clippy::too_many_arguments)]
fn run_network(
    params: &UpscaleParams,
    net: &Network,
    plate: &Planar,
    frame: Rect,
    ext: Rect,
    device: NetDevice<'_>,
    abort: &dyn Abort,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<(Planar, Report), OpError> {
    let s = net.scale() as i32;
    let (first_frame, block) = match params.mode {
        Mode::Resize => (frame, 1),
        Mode::Enhance => (downscaled_frame(frame, s), s),
    };
    let input = NetInput {
        plate,
        frame,
        from: params.encoding,
        to: net.encoding(),
        block,
    };
    let frames = net.frames(first_frame);
    // Each pass's output region: the next pass's input region, the last one `ext`.
    let mut regions = vec![ext];
    for p in (1..net.passes as usize).rev() {
        let next = regions[0];
        regions.insert(0, cpu::input_region(&net.model, frames[p], next));
    }
    let tile = device.tile();
    let n = params.orientations;
    let total: usize = regions
        .iter()
        .zip(&frames)
        .map(|(r, f)| ensemble_tile_count(&net.model, *f, *r, tile, n))
        .sum();
    let mut done = 0usize;
    let mut report = Report::default();
    let mut previous: Option<Planar> = None;
    for (p, &region) in regions.iter().enumerate() {
        let source: &dyn TileSource = match &previous {
            Some(prev) => prev,
            None => &input,
        };
        let mut after_row = |tiles: usize| {
            done += tiles;
            progress(done as f64 / total.max(1) as f64);
        };
        let (out, r) = nn::run_ensemble(
            &net.model,
            source,
            frames[p],
            region,
            n,
            device,
            abort,
            &mut after_row,
        )?;
        report.merge(r);
        previous = Some(out);
    }
    let result = previous.unwrap_or_else(|| Planar::zeros(ext, 3));
    // The last pass already covers exactly `ext`.
    debug_assert_eq!(result.rect, ext);
    Ok((result, report))
}

/// Network output (model encoding) minus the base (plate encoding), in the plate's encoding,
/// in place.
fn subtract_base(net: &mut Planar, base: &Planar, plate: Encoding, model: Encoding) {
    net.data
        .par_chunks_mut(3)
        .zip(base.data.par_chunks(4))
        .for_each(|(n, b)| {
            for c in 0..3 {
                n[c] = model.convert(plate, n[c]) - b[c];
            }
        });
}

/// The input pixel nearest to each output pixel's centre, over an output region.
fn gate_footprint(scale: f64, r: Rect) -> Rect {
    let c = |o: i32| resample::source_coordinate(o, scale).round() as i32;
    Rect::new(c(r.x1), c(r.y1), c(r.x2 - 1) + 1, c(r.y2 - 1) + 1)
}

/// Scales the detail by the flat-area gate (see [`GATE_FLAT`]). The gate is a function of the
/// input pixel nearest each output pixel's centre, so it is computed once per input pixel (the
/// window's min and max separably, rows then columns: the same extremes, exactly) and looked up.
fn gate(d: &mut Planar, plate: &Planar, frame: Rect, scale: f64, encoding: Encoding) {
    let r = d.rect;
    if r.is_empty() {
        return;
    }
    let nearest = |o: i32, lo: i32, hi: i32| {
        (resample::source_coordinate(o, scale).round() as i32).clamp(lo, hi - 1)
    };
    let cxs: Vec<i32> = (r.x1..r.x2)
        .map(|x| nearest(x, frame.x1, frame.x2))
        .collect();
    let cys: Vec<i32> = (r.y1..r.y2)
        .map(|y| nearest(y, frame.y1, frame.y2))
        .collect();
    // The input pixels the window's outputs are nearest to (source coordinates grow with the
    // output's).
    let m = Rect::new(
        cxs[0],
        cys[0],
        cxs[cxs.len() - 1] + 1,
        cys[cys.len() - 1] + 1,
    );
    let map = gate_map(plate, frame, m, encoding);
    let mw = m.width() as usize;
    let w = r.width() as usize;
    d.data
        .par_chunks_mut(w * 3)
        .zip(cys.par_iter())
        .for_each(|(row, &cy)| {
            let gates = &map[(cy - m.y1) as usize * mw..][..mw];
            for (px, &cx) in row.chunks_exact_mut(3).zip(&cxs) {
                let g = gates[(cx - m.x1) as usize];
                if g < 1.0 {
                    for v in px.iter_mut() {
                        *v *= g;
                    }
                }
            }
        });
}

/// The gate of each input pixel of `m`: from the largest range (max − min, in sRGB code values)
/// of any channel over the pixel's ±[`GATE_RADIUS`] square clipped to the frame.
fn gate_map(plate: &Planar, frame: Rect, m: Rect, encoding: Encoding) -> Vec<f32> {
    const BAND: usize = 32;
    let mw = m.width() as usize;
    let mut map = vec![0.0f32; m.pixel_count()];
    // Columns of the plate each output column's square spans.
    let span = |x: i32| {
        (
            (x - GATE_RADIUS).max(frame.x1),
            (x + GATE_RADIUS + 1).min(frame.x2),
        )
    };
    map.par_chunks_mut(mw * BAND)
        .enumerate()
        .for_each(|(b, gates)| {
            let y0 = m.y1 + (b * BAND) as i32;
            let y1 = y0 + (gates.len() / mw) as i32;
            // Rows the band's squares span, each reduced across its columns: (min, max) × 3.
            let (ry1, ry2) = (
                (y0 - GATE_RADIUS).max(frame.y1),
                (y1 + GATE_RADIUS).min(frame.y2),
            );
            let mut rows = vec![[(0.0f32, 0.0f32); 3]; (ry2 - ry1) as usize * mw];
            for y in ry1..ry2 {
                let out = &mut rows[(y - ry1) as usize * mw..][..mw];
                for (i, o) in out.iter_mut().enumerate() {
                    let (x1, x2) = span(m.x1 + i as i32);
                    for (c, e) in o.iter_mut().enumerate() {
                        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
                        for x in x1..x2 {
                            let v = plate.pixel(x, y)[c];
                            lo = lo.min(v);
                            hi = hi.max(v);
                        }
                        *e = (lo, hi);
                    }
                }
            }
            for y in y0..y1 {
                let (sy1, sy2) = (
                    (y - GATE_RADIUS).max(frame.y1),
                    (y + GATE_RADIUS + 1).min(frame.y2),
                );
                for (i, g) in gates[(y - y0) as usize * mw..][..mw].iter_mut().enumerate() {
                    let mut range = 0.0f32;
                    for c in 0..3 {
                        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
                        for extremes in rows[(sy1 - ry1) as usize * mw..(sy2 - ry1) as usize * mw]
                            .iter()
                            .skip(i)
                            .step_by(mw)
                        {
                            let (l, h) = extremes[c];
                            lo = lo.min(l);
                            hi = hi.max(h);
                        }
                        let (lo, hi) = (
                            encoding.convert(Encoding::Srgb, lo),
                            encoding.convert(Encoding::Srgb, hi),
                        );
                        range = range.max(hi - lo);
                    }
                    *g = ((range - GATE_FLAT) / (GATE_DETAIL - GATE_FLAT)).clamp(0.0, 1.0);
                }
            }
        });
    map
}

/// Fixed-point unit of the lock's sums (2⁻²⁸ ≈ 4·10⁻⁹, far below a float detail's own
/// rounding at the levels it is added to), and the detail magnitude the sums hold: a box of
/// 33 × 33 values of at most 2¹⁶ · 2²⁸ sums to < 2⁵⁵, inside an i64. Half-float plates end at
/// 65504, so no real detail is clipped.
const LOCK_ONE: f64 = (1u64 << 28) as f64;
const LOCK_LIMIT: f32 = 65536.0;

/// A detail value in the lock's fixed point (NaN counts as 0).
fn fixed(v: f32) -> i64 {
    let x = v.clamp(-LOCK_LIMIT, LOCK_LIMIT) as f64 * LOCK_ONE;
    (x + 0.5f64.copysign(x)) as i64
}

/// Rows of the lock's bands: each band slides its own sums down its rows.
const LOCK_BAND: usize = 64;

/// The detail over `window` with its local mean removed: a box of ±LOCK_RADIUS pixels clipped
/// to the frame (what [`render`] writes band by band, here as one image).
#[cfg(test)]
fn locked(d: &Planar, frame: Rect, window: Rect) -> Planar {
    let mut out = Planar::zeros(window, 3);
    let w = window.width() as usize;
    if w == 0 {
        return out;
    }
    out.data
        .par_chunks_mut(w * 3 * LOCK_BAND)
        .enumerate()
        .for_each(|(b, band)| {
            lock_band(d, frame, window, window.y1 + (b * LOCK_BAND) as i32, band)
        });
    out
}

/// Rows `y0..` of the locked detail over `window` into `band` (whole rows of the window, RGB).
/// The sums are exact (fixed point), so they are kept as running sums, slid row by row and
/// pixel by pixel, yet never depend on where a window, band or thread started; a constant
/// detail gives exactly zero.
fn lock_band(d: &Planar, frame: Rect, window: Rect, y0: i32, band: &mut [f32]) {
    let r = LOCK_RADIUS;
    let w = window.width() as usize;
    if w == 0 {
        return;
    }
    let cols = d.rect;
    let cw = cols.width() as usize;
    // Adds (sign 1) or removes (−1) row `y` of the detail to the column sums.
    let add_row = |v: &mut [i64], y: i32, sign: i64| {
        let row = &d.data[d.index(cols.x1, y)..][..cw * 3];
        for (s, &x) in v.iter_mut().zip(row) {
            *s += sign * fixed(x);
        }
    };
    let span = |c: i32, lo: i32, hi: i32| ((c - r).max(lo), (c + r + 1).min(hi));
    // Column sums over the rows [top, bottom) of the current output row's box.
    let mut v = vec![0i64; cw * 3];
    let (mut top, mut bottom) = span(y0, frame.y1, frame.y2);
    for y in top..bottom {
        add_row(&mut v, y, 1);
    }
    for (k, row) in band.chunks_exact_mut(w * 3).enumerate() {
        let y = y0 + k as i32;
        let (t, bo) = span(y, frame.y1, frame.y2);
        while top < t {
            add_row(&mut v, top, -1);
            top += 1;
        }
        while bottom < bo {
            add_row(&mut v, bottom, 1);
            bottom += 1;
        }
        let rows = (bottom - top) as i64;
        // Box sums over the columns [left, right).
        let col = |x: i32| (x - cols.x1) as usize * 3;
        let (mut left, mut right) = span(window.x1, frame.x1, frame.x2);
        let mut h = [0i64; 3];
        for x in left..right {
            for c in 0..3 {
                h[c] += v[col(x) + c];
            }
        }
        let own = &d.data[d.index(window.x1, y)..][..w * 3];
        for (i, (o, own)) in row.chunks_exact_mut(3).zip(own.chunks_exact(3)).enumerate() {
            let x = window.x1 + i as i32;
            let (l, ri) = span(x, frame.x1, frame.x2);
            while left < l {
                for c in 0..3 {
                    h[c] -= v[col(left) + c];
                }
                left += 1;
            }
            while right < ri {
                for c in 0..3 {
                    h[c] += v[col(right) + c];
                }
                right += 1;
            }
            let n = rows * (right - left) as i64;
            for c in 0..3 {
                // own − mean = (n · own − Σ) / n, exactly 0 for a constant detail.
                o[c] = ((n * fixed(own[c]) - h[c]) as f64 / (n as f64 * LOCK_ONE)) as f32;
            }
        }
    }
}

/// One output pixel from an un-premultiplied RGBA result: alpha clamped to 0..1 when
/// `clamp_alpha` (a resampled alpha: Lanczos lobes), colour premultiplied when the plate was.
fn output_pixel(v: [f32; 4], premultiplied: bool, clamp_alpha: bool) -> [f32; 4] {
    let a = if clamp_alpha {
        v[3].clamp(0.0, 1.0)
    } else {
        v[3]
    };
    let k = if premultiplied { a } else { 1.0 };
    [v[0] * k, v[1] * k, v[2] * k, a]
}

pub(crate) fn grow(r: Rect, d: i32) -> Rect {
    Rect::new(r.x1 - d, r.y1 - d, r.x2 + d, r.y2 + d)
}

pub(crate) fn union(a: Rect, b: Rect) -> Rect {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    Rect::new(
        a.x1.min(b.x1),
        a.y1.min(b.y1),
        a.x2.max(b.x2),
        a.y2.max(b.y2),
    )
}

/// `r` scaled about the origin by `s`, rounded outwards (exact for integer factors).
pub fn scale_rect(r: Rect, s: f64) -> Rect {
    let lo = |v: i32| (v as f64 * s + 1e-9).floor() as i32;
    let hi = |v: i32| (v as f64 * s - 1e-9).ceil() as i32;
    Rect::new(lo(r.x1), lo(r.y1), hi(r.x2), hi(r.y2))
}
