//! Denoise / Restore: compression artefacts (blocking, ringing, mosquito noise), noise and
//! banding removed from an 8-bit plate before anything else amplifies them.
//!
//! One render, every step a pure function of a pixel's neighbourhood (tiles never matter):
//! 1. the plate's colour (un-premultiplied, in its encoding) around the window is read; with
//!    a **temporal radius**, the neighbouring frames, aligned, are averaged in where they
//!    agree ([`temporal`]) to make the restorer's input (Strength and Detail still refer to
//!    the plate itself);
//! 2. the **restored** plate R: the network (in the encoding it was trained in), or the
//!    classical fast mode (shift-averaged 8×8 DCT shrinkage, [`dct`]);
//! 3. **Strength** s: S = I + s·(R − I) (0 = the plate, 1 = the model, up to 2);
//! 4. **Detail** d puts back the finest part of what was removed: S + d·fine(I − S), with
//!    fine(x) = x − 3×3 box mean of x (grain-like texture returns, blocks and ringing do not);
//! 5. **Deband** ([`deband`]) smooths what is left of 8-bit steps in gradients;
//! 6. the output: the result, or the removed residual (plate − result) as a pass.
//!
//! Alpha is never touched.

pub mod dct;
pub mod deband;
pub mod temporal;

#[cfg(test)]
mod tests;

use super::upscale::{crop, fill_outside, grow, model_encoding, read_plate, union, NetInput};
use super::{Abort, OpError};
use crate::color::Encoding;
use crate::image::{ImageView, ImageViewMut, Rect};
use crate::nn::ensemble::{ensemble_tile_count, ORIENTATION_COUNTS};
use crate::nn::{self, cpu, Model, NetDevice, Planar, Report, Task};
pub use deband::DebandParams;
use rayon::prelude::*;

/// Largest Strength.
pub const MAX_STRENGTH: f32 = 2.0;

/// The classical mode's DCT threshold at Strength 1, in code values: about 2.7 σ of the
/// coding error of JPEG quality 30–50 (3 codes RMS).
pub const CLASSICAL_THRESHOLD: f32 = 8.0 / 255.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Neural,
    /// Fast classical DCT shrinkage (about 10× faster, much weaker).
    Classical,
}

impl Method {
    pub const ALL: [Method; 2] = [Method::Neural, Method::Classical];
    pub fn label(self) -> &'static str {
        match self {
            Method::Neural => "Neural",
            Method::Classical => "Classical (fast)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Restored,
    /// plate − restored, centred on 0 (float comps: add it back to undo).
    Residual,
    /// plate − restored + 0.5, to view or store in 8/16-bit files.
    ResidualMidGrey,
}

impl Output {
    pub const ALL: [Output; 3] = [Output::Restored, Output::Residual, Output::ResidualMidGrey];
    pub fn label(self) -> &'static str {
        match self {
            Output::Restored => "Restored plate",
            Output::Residual => "Removed (residual, centred on 0)",
            Output::ResidualMidGrey => "Removed (residual, centred on 0.5)",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RestoreParams {
    pub method: Method,
    pub strength: f32,
    pub detail: f32,
    /// `None`: no debanding.
    pub deband: Option<DebandParams>,
    pub output: Output,
    pub encoding: Encoding,
    pub premultiplied: bool,
    /// Frame number (dither varies per frame).
    pub frame: f64,
    /// Neighbouring frames each side fused in before restoration (0 to [`MAX_RADIUS`]).
    pub temporal_radius: u32,
    /// Neural method: the network's mean over this many flips and transpositions of the
    /// frame (1, 2, 4 or 8; [`crate::nn::ensemble`]).
    pub orientations: usize,
}

/// Largest temporal radius.
pub const MAX_RADIUS: u32 = 2;

impl Default for RestoreParams {
    fn default() -> Self {
        RestoreParams {
            // The shipped network beats the classical mode on every validation condition
            // (restore-v3: BENCHMARKS.md, Denoise / Restore).
            method: Method::Neural,
            strength: 1.0,
            detail: 0.0,
            deband: Some(DebandParams::default()),
            output: Output::Restored,
            encoding: Encoding::Srgb,
            premultiplied: false,
            frame: 0.0,
            temporal_radius: 0,
            orientations: 1,
        }
    }
}

impl RestoreParams {
    pub fn validate(&self) -> Result<(), OpError> {
        if !(0.0..=MAX_STRENGTH).contains(&self.strength) {
            return Err(OpError::InvalidParam(format!(
                "Strength {} is outside 0 to {MAX_STRENGTH}",
                self.strength
            )));
        }
        if !(0.0..=1.0).contains(&self.detail) {
            return Err(OpError::InvalidParam(format!(
                "Detail {} is outside 0 to 1",
                self.detail
            )));
        }
        if self.temporal_radius > MAX_RADIUS {
            return Err(OpError::InvalidParam(format!(
                "Temporal radius {} is outside 0 to {MAX_RADIUS}",
                self.temporal_radius
            )));
        }
        if !ORIENTATION_COUNTS.contains(&self.orientations) {
            return Err(OpError::InvalidParam(format!(
                "{} orientations: the ensemble averages 1, 2, 4 or 8",
                self.orientations
            )));
        }
        if let Some(d) = &self.deband {
            if !(0.0..=64.0).contains(&d.radius) || !(0.0..=1.0).contains(&d.threshold) {
                return Err(OpError::InvalidParam(format!(
                    "Deband radius {} (0 to 64 px) or threshold {} out of range",
                    d.radius, d.threshold
                )));
            }
        }
        Ok(())
    }

    /// The output is the plate: nothing restored, nothing debanded, the plate itself shown.
    pub fn is_identity(&self) -> bool {
        self.strength == 0.0 && self.deband.is_none() && self.output == Output::Restored
    }

    fn uses_model(&self) -> bool {
        self.method == Method::Neural && self.strength > 0.0
    }

    /// Context around the window the steps after restoration need.
    fn post_margin(&self) -> i32 {
        self.deband.map(|d| d.margin()).unwrap_or(0) + 1
    }

    /// Input pixels a render of `window` reads (the region of interest to ask a host for).
    pub fn region_of_interest(&self, model: Option<&Model>, frame: Rect, window: Rect) -> Rect {
        let ext = grow(window, self.post_margin()).intersect(&frame);
        let restore = match (self.method, model) {
            _ if self.strength == 0.0 => ext,
            (Method::Neural, Some(m)) => cpu::input_region(m, frame, ext),
            (Method::Neural, None) => ext,
            (Method::Classical, _) => grow(ext, dct::MARGIN).intersect(&frame),
        };
        let spatial = union(ext, restore);
        if self.temporal_radius > 0 && self.strength > 0.0 {
            grow(spatial, temporal::MARGIN).intersect(&frame)
        } else {
            spatial
        }
    }
}

/// Checks a model can restore: scale 1, one RGB frame in and out.
pub fn check_model(model: &Model) -> Result<(), String> {
    let s = &model.spec;
    if s.task != Task::Restore || s.scale != 1 {
        return Err(format!(
            "model `{}` is a ×{} {:?} model, not a restoration (×1) one",
            s.name, s.scale, s.task
        ));
    }
    if s.frames != 1 || s.in_channels != 3 || s.out_channels != 3 {
        return Err(format!(
            "model `{}` takes {} frame(s) of {} channels; this Restore runs single-frame RGB models",
            s.name, s.frames, s.in_channels
        ));
    }
    Ok(())
}

/// Renders `window` of the restored `src` (frame = its region of definition in pixels).
/// `model` must be given for the neural method. `progress` gets the fraction done after each
/// row of network tiles, on the calling thread.
#[allow(clippy::too_many_arguments)]
pub fn render(
    params: &RestoreParams,
    model: Option<&Model>,
    src: &ImageView<'_>,
    frame: Rect,
    dst: &ImageViewMut<'_>,
    window: Rect,
    device: NetDevice<'_>,
    abort: &dyn Abort,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Report, OpError> {
    let p = RestoreParams {
        temporal_radius: 0,
        ..params.clone()
    };
    render_frames(
        &p,
        model,
        src,
        &[],
        frame,
        dst,
        window,
        device,
        abort,
        progress,
    )
}

/// [`render`] with the neighbouring frames (any order; up to 2 × radius of them, fewer at a
/// clip's ends) fused into the restorer's input. They must cover the same region of
/// interest as `src`; pixels they lack read as transparent black and are not blended in.
#[allow(clippy::too_many_arguments)]
pub fn render_frames(
    params: &RestoreParams,
    model: Option<&Model>,
    src: &ImageView<'_>,
    neighbours: &[ImageView<'_>],
    frame: Rect,
    dst: &ImageViewMut<'_>,
    window: Rect,
    device: NetDevice<'_>,
    abort: &dyn Abort,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Report, OpError> {
    params.validate()?;
    let inside = window.intersect(&frame);
    fill_outside(dst, window, inside);
    let mut report = Report::default();
    if inside.is_empty() {
        return Ok(report);
    }
    let model = if params.uses_model() {
        let m = model.ok_or(OpError::InvalidParam(
            "no network is loaded for the neural method".into(),
        ))?;
        check_model(m).map_err(OpError::InvalidParam)?;
        Some(m)
    } else {
        None
    };
    let spatial = RestoreParams {
        temporal_radius: 0,
        ..params.clone()
    };
    let roi_spatial = spatial.region_of_interest(model, frame, inside);
    let fuse = params.temporal_radius > 0 && params.strength > 0.0 && !neighbours.is_empty();
    let roi = if fuse {
        grow(roi_spatial, temporal::MARGIN).intersect(&frame)
    } else {
        roi_spatial
    };
    let plate = read_plate(src, roi, params.premultiplied);
    if abort.aborted() {
        return Err(OpError::Aborted);
    }
    let ext = grow(inside, params.post_margin()).intersect(&frame);
    // Every step reads the first three channels of what it is given, so the RGBA plate is
    // used as it is; only fusing neighbours makes a copy (buffers of a whole frame each cost
    // a pass and their page faults).
    // 1b. The restorer's input: the plate, or the plate with its neighbours fused in.
    let fused = fuse.then(|| {
        let ns: Vec<Planar> = neighbours
            .iter()
            .map(|n| channels3(&read_plate(n, roi, params.premultiplied), roi))
            .collect();
        let f = temporal::fuse(&channels3(&plate, roi), &ns, frame, roi_spatial);
        let mut fp = crop(&plate, roi_spatial);
        fp.data
            .par_chunks_mut(4)
            .zip(f.data.par_chunks(3))
            .for_each(|(o, v)| o[..3].copy_from_slice(v));
        fp
    });
    if abort.aborted() {
        return Err(OpError::Aborted);
    }
    let net_plate = fused.as_ref().unwrap_or(&plate);
    // 2. The restored plate over `ext` (none at Strength 0: the plate is the result).
    let mut restored = if params.strength == 0.0 {
        None
    } else if let Some(m) = model {
        let me = model_encoding(m);
        let input = NetInput {
            plate: net_plate,
            frame,
            from: params.encoding,
            to: me,
            block: 1,
        };
        let n = params.orientations;
        let total = ensemble_tile_count(m, frame, ext, device.tile(), n).max(1);
        let mut done = 0usize;
        let mut after_row = |tiles: usize| {
            done += tiles;
            progress(done as f64 / total as f64);
        };
        let (mut r, rep) =
            nn::run_ensemble(m, &input, frame, ext, n, device, abort, &mut after_row)?;
        report = rep;
        r.data
            .par_iter_mut()
            .for_each(|v| *v = me.convert(params.encoding, *v));
        Some(r)
    } else {
        Some(dct::filter(
            net_plate,
            frame,
            ext,
            CLASSICAL_THRESHOLD * params.strength.max(0.0),
        ))
    };
    if abort.aborted() {
        return Err(OpError::Aborted);
    }
    // 3. Strength, in place: S = I + s·(R − I).
    let s = params.strength;
    if let Some(r) = restored.as_mut().filter(|_| s != 1.0) {
        let w = ext.width() as usize;
        r.data
            .par_chunks_mut(w * 3)
            .enumerate()
            .for_each(|(row, o)| {
                let y = ext.y1 + row as i32;
                for (i, o) in o.chunks_exact_mut(3).enumerate() {
                    let p = plate.pixel(ext.x1 + i as i32, y);
                    for c in 0..3 {
                        o[c] = p[c] + s * (o[c] - p[c]);
                    }
                }
            });
    }
    let strong = restored.as_ref().unwrap_or(&plate);
    // 4. Detail over `ext` shrunk by the detail box.
    let detailed_rect = grow(inside, params.post_margin() - 1).intersect(&frame);
    let with_detail = (params.detail > 0.0)
        .then(|| add_fine_detail(&plate, strong, frame, detailed_rect, params.detail));
    let detailed = with_detail.as_ref().unwrap_or(strong);
    // 5. Deband.
    let debanded = params
        .deband
        .as_ref()
        .map(|d| deband::deband(d, detailed, frame, inside, params.frame.round() as i64));
    let result = debanded.as_ref().unwrap_or(detailed);
    // 6. Output, with the plate's alpha. A residual pass is a difference, not a colour:
    // never premultiply it.
    let premultiply = params.premultiplied && params.output == Output::Restored;
    let w = inside.width() as usize;
    (inside.y1..inside.y2).into_par_iter().for_each(|y| {
        let mut row = vec![[0.0f32; 4]; w];
        for (i, px) in row.iter_mut().enumerate() {
            let x = inside.x1 + i as i32;
            let (p, r) = (plate.pixel(x, y), result.pixel(x, y));
            let a = p[3];
            let k = if premultiply { a } else { 1.0 };
            let colour = |c: usize| match params.output {
                Output::Restored => r[c],
                Output::Residual => p[c] - r[c],
                Output::ResidualMidGrey => p[c] - r[c] + 0.5,
            };
            *px = [colour(0) * k, colour(1) * k, colour(2) * k, a];
        }
        dst.write_row(y, inside.x1, &row);
    });
    Ok(report)
}

/// The colour channels of an RGBA planar.
fn channels3(p: &Planar, rect: Rect) -> Planar {
    let mut out = Planar::zeros(rect, 3);
    out.data
        .par_chunks_mut(3)
        .zip(p.data.par_chunks(4))
        .for_each(|(o, v)| o.copy_from_slice(&v[..3]));
    out
}

/// `strong + k · fine(plate − strong)` over `rect`, with fine(x) = x − its 3×3 mean (clipped to
/// the frame, summed in a fixed order).
fn add_fine_detail(plate: &Planar, strong: &Planar, frame: Rect, rect: Rect, k: f32) -> Planar {
    let mut out = Planar::zeros(rect, 3);
    let w = rect.width() as usize;
    out.data
        .par_chunks_mut(w * 3)
        .enumerate()
        .for_each(|(r, row)| {
            let y = rect.y1 + r as i32;
            for (i, o) in row.chunks_mut(3).enumerate() {
                let x = rect.x1 + i as i32;
                let mut mean = [0.0f32; 3];
                let mut n = 0.0f32;
                for yy in (y - 1).max(frame.y1)..(y + 2).min(frame.y2) {
                    for xx in (x - 1).max(frame.x1)..(x + 2).min(frame.x2) {
                        let (p, s) = (plate.pixel(xx, yy), strong.pixel(xx, yy));
                        for c in 0..3 {
                            mean[c] += p[c] - s[c];
                        }
                        n += 1.0;
                    }
                }
                let (p, s) = (plate.pixel(x, y), strong.pixel(x, y));
                for c in 0..3 {
                    let removed = p[c] - s[c];
                    o[c] = s[c] + k * (removed - mean[c] / n);
                }
            }
        });
    out
}
