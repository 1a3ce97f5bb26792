//! Film grain: a deterministic, resolution-independent grain a colourist can dial in from stock
//! presets or match to a reference plate. CPU reference implementation; the per-pixel maths is
//! written step by step so a CUDA kernel can repeat it exactly (see `field`).
//!
//! # The model
//!
//! Film grain is the random placement of silver-halide crystals that develop into opaque grains
//! (black-and-white) or diffuse dye clouds (colour). Newson, Delon & Galerne (IPOL 2017.192)
//! render it as a Boolean model: grain discs at a Poisson density chosen so that local coverage
//! equals the grey level, each output pixel being the coverage averaged under a Gaussian
//! filter. That is exact but needs a Monte Carlo loop of many samples per pixel — far beyond
//! the budget of a per-pixel effect that must stay within a few times a frame copy.
//!
//! We keep what a viewer sees from that model and drop what costs: each colour field is
//! **shot noise** — Poisson-distributed grains on the full-resolution pixel lattice, each
//! spread into a dye cloud — minus its mean (Campbell's theorem gives the mean and variance in
//! closed form). Shot noise is the Boolean model linearised in coverage: same Poisson germs,
//! same clumping, the same skewed, non-Gaussian look when grains are sparse and the same drift
//! towards a smooth Gaussian mottle when they overlap. Differences, on purpose:
//! - the cloud is a separable cubic B-spline (a near-isotropic Gaussian stand-in with compact
//!   support) whose integral over a pixel is a closed-form polynomial, so every pixel is the
//!   exact area average of the clouds — no aliasing, and a proxy pixel is exactly the mean of the
//!   full-resolution pixels it covers;
//! - grain positions are quantised to the full-resolution pixel centres: below the cloud's
//!   spread (σ ≥ 0.35 px, the scanner's own spot) sub-pixel positions are not visible;
//! - the grain *amplitude* is not left to the coverage statistics (which fix σ ∝ √(u(1−u))):
//!   the field is normalised to unit variance and scaled by an explicit film response curve,
//!   because that curve is what colourists grade (shadows / mids / highlights).
//!
//! Controls map onto it as follows. **Size** is the grain diameter D in full-resolution pixels:
//! grains per pixel = 2 / D² and cloud std = D·(0.25 + 0.25·softness). **Softness** widens the
//! clouds at fixed density, so crisp grain reads as distinct specks and soft grain as overlapping
//! mottle. **Roughness** is multi-scale: a second octave of half-size grain carrying up to half
//! of the variance. **Colour** mixes three independent fields so that the channels' grain
//! correlates by `1 − colour` (0: monochrome, 1: independent dye layers).
//!
//! # The domain
//!
//! Grain is added where equal steps look equally strong. Display-referred plates (sRGB,
//! BT.1886) are graded in their code values, which are close to perceptually uniform, so
//! grain goes on the code values directly — it is what the colourist sees and what other
//! finishing tools do. Scene-linear plates are not perceptual (the same RMS would swamp the
//! shadows and vanish in the highlights), so they are converted to CIE L*/100 — extended above
//! diffuse white by the same cube-root law — grain is added there, and converted back. The
//! film response's intensity axis is L* in every case (mids = L* 50 = 18 % grey), so a response
//! setting means the same on an sRGB, BT.1886 or linear plate. In the grain domain the grain has
//! exactly zero mean, so the plate's average level does not move there.
//!
//! # Determinism and resolution independence
//!
//! The grain of a lattice site is a pure function of (seed, frame key, octave, colour field,
//! site x, site y) through a u32 PCG hash: no state, no RNG streams, nothing that depends on
//! tiles, threads or render order. Sites live at full resolution; an output pixel at render
//! scale s averages the clouds over its footprint `[X/s, (X+1)/s)` in full-resolution pixels,
//! so a proxy render is the full-resolution grain seen smaller. (Pixel aspect is not
//! compensated: grain is round in pixels.)

pub mod domain;
pub mod field;
mod presets;

pub mod analysis;

#[cfg(test)]
mod tests;

pub use analysis::{analyze, AmplitudeSample, AnalyzeOptions, GrainMatch};
pub use domain::response_at;
pub use presets::GrainPreset;

use super::pixel::may_write_in_place;
use super::{Abort, OpError};
use crate::image::{ImageView, ImageViewMut, Rect};
use domain::ResponseTable;
use field::{FieldPlan, TileScratch};
use rayon::prelude::*;

/// How the plate's code values relate to light; decides the domain grain is added in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputEncoding {
    /// IEC 61966-2-1 sRGB: grain on the code values.
    Srgb,
    /// BT.1886 / gamma 2.4 video: grain on the code values.
    Bt1886,
    /// Scene-linear (Nuke, ACEScg, EXR): grain in CIE L*/100.
    Linear,
}

impl InputEncoding {
    /// Saved-index order of the OFX choice: append only.
    pub const ALL: [InputEncoding; 3] = [
        InputEncoding::Srgb,
        InputEncoding::Bt1886,
        InputEncoding::Linear,
    ];
    pub fn label(self) -> &'static str {
        match self {
            InputEncoding::Srgb => "sRGB",
            InputEncoding::Bt1886 => "BT.1886 (gamma 2.4)",
            InputEncoding::Linear => "Scene linear",
        }
    }
}

/// How the grain changes over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemporalMode {
    /// A new grain pattern every frame, as film.
    NewEveryFrame,
    /// The same pattern for `hold_frames` frames (frames 0..N−1, N..2N−1, …).
    HoldFrames,
    /// One pattern for the whole shot (a texture, e.g. for stills or testing).
    Static,
}

impl TemporalMode {
    /// Saved-index order of the OFX choice: append only.
    pub const ALL: [TemporalMode; 3] = [
        TemporalMode::NewEveryFrame,
        TemporalMode::HoldFrames,
        TemporalMode::Static,
    ];
    pub fn label(self) -> &'static str {
        match self {
            TemporalMode::NewEveryFrame => "New every frame",
            TemporalMode::HoldFrames => "Hold frames",
            TemporalMode::Static => "Static",
        }
    }
}

/// What the op writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrainOutput {
    /// The plate with grain.
    GradedPlate,
    /// Only the grain (graded plate − plate, in the plate's encoding), centred on 0.
    GrainOnlyCentredZero,
    /// Only the grain, centred on 0.5 (for viewing or 8/16-bit files).
    GrainOnlyCentredHalf,
}

impl GrainOutput {
    /// Saved-index order of the OFX choice: append only.
    pub const ALL: [GrainOutput; 3] = [
        GrainOutput::GradedPlate,
        GrainOutput::GrainOnlyCentredZero,
        GrainOutput::GrainOnlyCentredHalf,
    ];
    pub fn label(self) -> &'static str {
        match self {
            GrainOutput::GradedPlate => "Graded plate",
            GrainOutput::GrainOnlyCentredZero => "Grain only (centred on 0)",
            GrainOutput::GrainOnlyCentredHalf => "Grain only (centred on 0.5)",
        }
    }
    fn centre(self) -> Option<f32> {
        match self {
            GrainOutput::GradedPlate => None,
            GrainOutput::GrainOnlyCentredZero => Some(0.0),
            GrainOutput::GrainOnlyCentredHalf => Some(0.5),
        }
    }
}

/// Grain RMS multipliers at black, at mid grey (L* 50) and at white; smooth in between.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilmResponse {
    pub shadows: f32,
    pub mids: f32,
    pub highlights: f32,
}

impl Default for FilmResponse {
    fn default() -> Self {
        FilmResponse {
            shadows: 0.9,
            mids: 1.0,
            highlights: 0.55,
        }
    }
}

/// A grain setting. Plain data: the OFX effect fills it from its parameters each render.
#[derive(Debug, Clone, PartialEq)]
pub struct GrainParams {
    /// Grain RMS at response 1, as a fraction of full scale in the grain domain (code values
    /// for sRGB/BT.1886, L*/100 for linear). 0.004 ≈ one 8-bit code value.
    pub amount: f32,
    /// Per-channel multipliers of `amount` (R, G, B).
    pub channel_amount: [f32; 3],
    /// Grain diameter in pixels at full resolution (render scale 1). 0.5 ..= 32.
    pub size_px: f32,
    /// 0 crisp specks .. 1 soft overlapping clouds.
    pub softness: f32,
    /// 0 single-scale .. 1 half the variance in grain of half the size.
    pub roughness: f32,
    pub response: FilmResponse,
    /// 0 monochrome (channels share one grain) .. 1 independent grain per channel.
    pub colour: f32,
    pub temporal: TemporalMode,
    /// Frames each pattern is held in `TemporalMode::HoldFrames` (≥ 1).
    pub hold_frames: u32,
    pub seed: u32,
    pub input_encoding: InputEncoding,
    pub output: GrainOutput,
    /// Source colour is premultiplied by alpha: grain is added to un-premultiplied colour.
    pub premultiplied: bool,
    /// Host render scale (x, y); 1 = full resolution, 0.5 = half-resolution proxy.
    pub render_scale: [f64; 2],
    /// Host frame number (rounded to the nearest integer for the grain pattern).
    pub frame: f64,
}

impl Default for GrainParams {
    /// The 35 mm medium-speed preset on an sRGB plate, full resolution, frame 0.
    fn default() -> Self {
        GrainPreset::Film35mmMedium.params()
    }
}

impl GrainParams {
    /// Rejects settings the model cannot honour, with a message that names the fix.
    pub fn validate(&self) -> Result<(), OpError> {
        let bad = |what: &str| Err(OpError::InvalidParam(what.to_string()));
        let finite_non_negative = |v: f32| v.is_finite() && v >= 0.0;
        if !finite_non_negative(self.amount) {
            return bad("grain amount must be a finite value ≥ 0");
        }
        if !self.channel_amount.iter().all(|&v| finite_non_negative(v)) {
            return bad("per-channel grain amounts must be finite values ≥ 0");
        }
        if !(self.size_px.is_finite() && (0.5..=32.0).contains(&self.size_px)) {
            return bad("grain size must be between 0.5 and 32 pixels");
        }
        for (v, name) in [
            (self.softness, "softness"),
            (self.roughness, "roughness"),
            (self.colour, "colour"),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(OpError::InvalidParam(format!(
                    "grain {name} must be between 0 and 1"
                )));
            }
        }
        let r = &self.response;
        if ![r.shadows, r.mids, r.highlights]
            .iter()
            .all(|&v| finite_non_negative(v))
        {
            return bad("film response values must be finite values ≥ 0");
        }
        if !self
            .render_scale
            .iter()
            .all(|&s| s.is_finite() && s > 1e-3 && s <= 16.0)
        {
            return bad("render scale must be between 0.001 and 16");
        }
        Ok(())
    }

    /// True when the op would return its source unchanged (graded plate, no grain): the OFX
    /// effect's isIdentity.
    pub fn is_identity(&self) -> bool {
        self.output == GrainOutput::GradedPlate
            && (self.amount == 0.0 || self.channel_amount.iter().all(|&v| v == 0.0))
    }
}

/// Output rows per parallel task. Each task regenerates the lattice rows its clouds reach
/// beyond its band (a few rows), so taller bands waste less; 64 keeps 34 tasks on a 4K frame.
const BAND_ROWS: i32 = 64;
/// Columns processed together inside a band: keeps the x-filtered lattice rows in L2 cache.
const CHUNK_COLUMNS: i32 = 256;

/// Adds grain to `src` and writes `window` of `dst` (both in pixels at `params.render_scale`).
///
/// Alpha is copied untouched. Output depends only on (source pixels, params, frame, seed): not
/// on the window, tiling, thread count or order of calls.
pub fn run_cpu(
    params: &GrainParams,
    src: &ImageView<'_>,
    dst: &ImageViewMut<'_>,
    window: Rect,
    abort: &dyn Abort,
) -> Result<(), OpError> {
    run_with(params, src, dst, window, abort, true)
}

/// `run_cpu`, optionally without the wide-vector code path (tests compare the two bit for bit).
fn run_with(
    params: &GrainParams,
    src: &ImageView<'_>,
    dst: &ImageViewMut<'_>,
    window: Rect,
    abort: &dyn Abort,
    allow_wide_vectors: bool,
) -> Result<(), OpError> {
    params.validate()?;
    let win = window.intersect(&dst.bounds());
    if win.is_empty() {
        return Ok(());
    }
    let plan = RenderPlan::new(params, win, may_write_in_place(src, dst));
    let bands: Vec<i32> = (win.y1..win.y2).step_by(BAND_ROWS as usize).collect();
    bands.par_iter().try_for_each(|&y0| {
        if abort.aborted() {
            return Err(OpError::Aborted);
        }
        WORKER_SCRATCH.with_borrow_mut(|(scratch, rows)| {
            let y1 = (y0 + BAND_ROWS).min(win.y2);
            let mut x = win.x1;
            while x < win.x2 {
                let x2 = (x + CHUNK_COLUMNS).min(win.x2);
                #[cfg(target_arch = "x86_64")]
                if allow_wide_vectors && std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked just above), the only requirement of
                    // a `target_feature(enable = "avx2")` function.
                    unsafe { plan.render_chunk_avx2(src, dst, scratch, rows, x, x2, y0, y1) };
                    x = x2;
                    continue;
                }
                let _ = allow_wide_vectors;
                plan.render_chunk(src, dst, scratch, rows, x, x2, y0, y1);
                x = x2;
            }
        });
        Ok(())
    })
}

thread_local! {
    /// Each worker thread's buffers, kept between bands and renders (≈ 1 MB at most): fresh
    /// allocations per band cost more in page faults than the grain itself on small bands.
    /// Nothing inside a band calls back into rayon, so the borrow is never re-entered.
    static WORKER_SCRATCH: std::cell::RefCell<(TileScratch, RowBuffers)> =
        std::cell::RefCell::new((TileScratch::default(), RowBuffers::default()));
}

/// Source and destination rows for images that are not RGBA `f32` in memory (those are read
/// and written in place).
#[derive(Default)]
struct RowBuffers {
    src: Vec<[f32; 4]>,
    dst: Vec<[f32; 4]>,
}

/// A render's precomputed state: grain field plan, response table and channel gains.
struct RenderPlan<'p> {
    params: &'p GrainParams,
    field: FieldPlan,
    response: ResponseTable,
    /// amount · channel amount.
    gain: [f32; 3],
    /// The destination may be written in place (its memory is not the source's).
    dst_in_place: bool,
}

impl<'p> RenderPlan<'p> {
    fn new(params: &'p GrainParams, window: Rect, dst_in_place: bool) -> Self {
        RenderPlan {
            dst_in_place,
            params,
            field: FieldPlan::new(params, window),
            response: ResponseTable::new(params.input_encoding, &params.response),
            gain: params.channel_amount.map(|c| params.amount * c),
        }
    }

    /// `render_chunk` compiled for AVX2: the same operations in the same order (no FMA: Rust
    /// never fuses a multiply and an add on its own), so bit-identical results on 8 lanes.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn render_chunk_avx2(
        &self,
        src: &ImageView<'_>,
        dst: &ImageViewMut<'_>,
        scratch: &mut TileScratch,
        rows: &mut RowBuffers,
        x1: i32,
        x2: i32,
        y1: i32,
        y2: i32,
    ) {
        self.render_chunk(src, dst, scratch, rows, x1, x2, y1, y2)
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn render_chunk(
        &self,
        src: &ImageView<'_>,
        dst: &ImageViewMut<'_>,
        scratch: &mut TileScratch,
        rows: &mut RowBuffers,
        x1: i32,
        x2: i32,
        y1: i32,
        y2: i32,
    ) {
        let chunk = self.field.prepare_chunk(scratch, x1, x2, y1, y2);
        let n = (x2 - x1) as usize;
        rows.src.resize(n, [0.0; 4]);
        rows.dst.resize(n, [0.0; 4]);
        let p = self.params;
        let linear = p.input_encoding == InputEncoding::Linear;
        for y in y1..y2 {
            self.field.row_fields(scratch, &chunk, y);
            self.field.mix_rows(&mut scratch.row_fields);
            // RGBA f32 rows are read and written where they are; others through buffers.
            let s: &[[f32; 4]] = match src.rgba_f32_row(y, x1, n) {
                Some(s) => s,
                None => {
                    src.read_row(y, x1, &mut rows.src);
                    &rows.src
                }
            };
            let in_place = if self.dst_in_place {
                // SAFETY: this band's rows belong to this thread alone, the slice is dropped
                // before the next row, and the destination's memory is not the source's
                // (`dst_in_place`).
                unsafe { dst.rgba_f32_row_mut(y, x1, n) }
            } else {
                None
            };
            let buffered = in_place.is_none();
            let d: &mut [[f32; 4]] = in_place.unwrap_or(&mut rows.dst);
            // Specialised per mode so the common case (display plate, straight alpha, graded
            // output) runs without per-pixel branches on settings.
            let centre = p.output.centre();
            match (linear, p.premultiplied) {
                (false, false) => self.apply_row::<false, false>(s, d, scratch, centre),
                (false, true) => self.apply_row::<false, true>(s, d, scratch, centre),
                (true, false) => self.apply_row::<true, false>(s, d, scratch, centre),
                (true, true) => self.apply_row::<true, true>(s, d, scratch, centre),
            }
            if buffered {
                dst.write_row(y, x1, &rows.dst);
            }
        }
    }

    /// Grain on a row, `src` into `dst`: un-premultiply, per channel go to the grain domain,
    /// add gain(value) · grain, come back, re-premultiply. Alpha is copied.
    #[inline(always)]
    fn apply_row<const LINEAR: bool, const PREMULT: bool>(
        &self,
        src: &[[f32; 4]],
        dst: &mut [[f32; 4]],
        scratch: &TileScratch,
        centre: Option<f32>,
    ) {
        let enc = if LINEAR {
            InputEncoding::Linear
        } else {
            InputEncoding::Srgb // display encodings share the identity grain domain
        };
        let [g0, g1, g2] = &scratch.row_fields;
        if !PREMULT && centre.is_none() {
            // The common case (straight alpha, graded plate): no branch per pixel. Same
            // expressions as below, so the same bits.
            for (((s, d), &g0), (&g1, &g2)) in src
                .iter()
                .zip(dst.iter_mut())
                .zip(g0.iter())
                .zip(g1.iter().zip(g2.iter()))
            {
                let g = [g0, g1, g2];
                let mut out = *s;
                for c in 0..3 {
                    let e = domain::to_grain_domain(enc, s[c]);
                    let grained = e + self.response.at(e) * self.gain[c] * g[c];
                    out[c] = domain::from_grain_domain(enc, grained);
                }
                *d = out;
            }
            return;
        }
        for (n, (px, d)) in src.iter().zip(dst.iter_mut()).enumerate() {
            let g = [g0[n], g1[n], g2[n]];
            let alpha = px[3];
            *d = *px;
            if PREMULT && alpha <= 0.0 {
                // Fully transparent premultiplied colour has no colour to grain.
                if centre.is_some() {
                    *d = [0.0, 0.0, 0.0, alpha];
                }
                continue;
            }
            for c in 0..3 {
                let v = if PREMULT { px[c] / alpha } else { px[c] };
                let e = domain::to_grain_domain(enc, v);
                let grained = e + self.response.at(e) * self.gain[c] * g[c];
                let mut o = domain::from_grain_domain(enc, grained);
                if let Some(centre) = centre {
                    // For display encodings this is exactly the grain; for linear, the linear
                    // difference a compositor adds back.
                    o = o - v + centre;
                }
                d[c] = if PREMULT { o * alpha } else { o };
            }
        }
    }
}
