//! Inverse tone mapping: an SDR plate (sRGB, BT.1886 or linear, Rec.709) expanded to HDR display
//! light and written as PQ, HLG or scene-linear in Rec.2020, P3-D65, Rec.709 or ACEScg. The exact
//! `f64` [`itm_pixel_reference`] is the specification; [`ItmPrepared`] is the fast `f32` form
//! (log-spaced tables for per-channel curves, closed forms on branch-free log2/exp2 for
//! per-pixel gains) that the CPU render — and, ported step for step, the CUDA kernel — runs.
//!
//! # The per-pixel pipeline, in order
//!
//! Alpha never changes. With `premultiplied`, colour is divided by alpha first and multiplied
//! back last; alpha ≤ 0 (or NaN) gives colour 0.
//!
//! 1. **Clamp** each channel to `0..=1` (NaN → 0). The methods are defined on an SDR signal;
//!    super-whites and negative float values have no meaning to them.
//! 2. **Decode** the input encoding to relative linear SDR light `0..=1` (1 = SDR white):
//!    sRGB (IEC 61966-2-1 piecewise), BT.1886 (pure 2.4 power, zero black) or none.
//!    Fast path: table `decode` (128 samples/octave from 2^-5 for sRGB, 2^-16 for BT.1886) and
//!    below it the straight line `x·decode_toe_slope`, so sRGB's linear toe stays exact and 0
//!    stays 0; linear input is only clamped (no table read).
//! 3. **To BT.2020**: `s = input_to_bt2020 · lin` (for Rec.709 input the BT.2087 matrix, computed
//!    from the primaries). All expansion happens in linear BT.2020.
//! 4. **Expand** to display light `hdr` in cd/m² (linear BT.2020), by `method`:
//!    - *BT.2446 Method A* (ITU-R BT.2446-1 §4, inverse): `p = s^(1/2.4)` (BT.1886 signal);
//!      `Y' = 0.2627p_R + 0.6780p_G + 0.0593p_B`; `Y'' = 255Y'`; `E = aY''² + bY'' + c` with
//!      `(a, b, c) = (1.8712e-5, −2.7334e-3, 1.3141)` for `Y'' ≤ 70`, else
//!      `(2.8305e-6, −7.4622e-4, 1.2528)`; `Y'_HDR = Y''^E`; `Sc = 1.075·Y'_HDR/Y'` (1 at `Y' = 0`);
//!      `Cb = Sc(p_B − Y')/1.8814`, `Cr = Sc(p_R − Y')/1.4746`; `R' = Y'_HDR + 1.4746Cr`,
//!      `G' = Y'_HDR − 0.16455Cb − 0.57135Cr`, `B' = Y'_HDR + 1.8814Cb`, each clamped to
//!      `0..=1000`; `L = 1000·(x/1000)^2.4`, the light the Recommendation defines for its
//!      1000 cd/m² display (SDR white → 1000). On a display of another peak, light up to
//!      reference white is kept and the highlights `reference..1000` are remapped in log light
//!      onto `reference..peak`, C1 at reference white, SDR white → peak (`method_a::PeakMap`;
//!      exactly `L` at a 1000 cd/m² peak). Fast path: table `gamma_encode` (x^(1/2.4); 0 below 2^-32),
//!      `Y'_HDR/1000 = exp2(E·log2(Y''))/1000`, `Sc = 1.075·(Y'_HDR/1000)/Y'` (0 at Y' ≤ 1e-30),
//!      then `q = Y'_HDR/1000 + Sc·(p − Y')` per channel (algebraically the Cb/Cr rebuild:
//!      G' − Y' = −(0.2627(R' − Y') + 0.0593(B' − Y'))/0.6780), clamp `0..=1`, table
//!      `gamma_decode` (`q → PeakMap(1000·q^2.4)`; 0 below 2^-20).
//!    - *BT.2446 Method C, inverted* (the Report's own inverse, ITU-R BT.2446-1 §6): the
//!      crosstalk matrix `X(α = 0.05)` (rows `1−2α, α, α`) is applied, luminance
//!      `Y = BT.2020 luma · (X·s)` is read as the SDR luminance in percent, `Y_SDR = 100·Y`
//!      (SDR white = 100 %), inverted through the Method C curve (`Y_HDR = Y_SDR/k1` below
//!      `Y_SDR,ip = 58.5`, else `Y_HDR,ip·(exp((Y_SDR − k4)/k2) + k3)`, never below `Y_HDR,ip`
//!      there — the published constants leave a 0.04 % gap between the two branches), the
//!      crosstalked colour is scaled by `Y_HDR/Y` and `X` is undone. BT.1886 code 0.96 (90.7 %)
//!      lands on 203 cd/m², SDR white on ≈ 332 cd/m², whatever the peak: the curve defines
//!      absolute light for its 1000 cd/m² display, and the peak only bounds it. Because the
//!      luminance change is a scalar, this equals `s·G(w'·s)` with `w' = (1 − 3α)·luma + α`;
//!      fast path: `method_luma = w'`, `Y_SDR = c_sdr_percent·Y`, `G = c_linear_gain` on the
//!      linear part, else `max(Y_HDR,ip·(exp2((Y_SDR − k4)·log2(e)/k2) + k3), Y_HDR,ip)/Y`
//!      (times `c_peak_scale`, which is 1).
//!    - *Display-referred (BT.2408)*: with `Y = BT.2020 luma · s`, the SDR→HDR display-light
//!      mapping of BT.2408 (`L = reference_white·Y`, SDR 100 % ↔ reference white) is kept up to
//!      the knee `Y = 0.5` ([`DISPLAY_REFERRED_KNEE`]); above it highlights are lifted smoothly to
//!      the peak: `L = reference_white·Y·exp(ln(peak/reference_white)·((Y − 0.5)/0.5)²)`, so SDR
//!      white reaches the peak, the slope is continuous at the knee (C1) and `L` rises
//!      monotonically. Colour is scaled by `L/Y` (hue and chromaticity kept). Fast path:
//!      `G = reference_white·exp2(log2_peak_over_reference·t²)`, `t = clamp(2(Y − 0.5), 0, 1)`
//!      (exactly `reference_white` below the knee, as exp2(0) = 1).
//! 5. **Highlights** (`highlight_boost = k`, `−1..=1`, 0 = off): with `Y = luma·hdr` and
//!    `u = ln(Y/ref)/ln(peak/ref)` for `ref < Y < peak`, `Y` becomes
//!    `ref·(peak/ref)^(u + k·u²(1 − u))` and colour is scaled by the same ratio. Reference white
//!    and peak stay put, the slope at reference white is unchanged (C1), and the curve stays
//!    monotonic for `k ∈ [−3, 1]`; `k > 0` brightens the highlights between reference white and
//!    peak (up to +15 % of their log range at u = 2/3), `k < 0` holds them nearer reference
//!    white. Fast path: `u = clamp(log2(Y/ref)·inv_log2_peak_over_reference, 0, 1)`, colour
//!    scaled by `exp2(highlight_log2_gain·u²(1 − u))` (exactly 1 outside reference..peak).
//! 6. **Saturation** (`saturation = s`, `0..=2`, 1 = off): `hdr = Y + s·(hdr − Y)` with `Y` the
//!    BT.2020 luminance: chroma scaled at constant luminance in linear light; 0 = monochrome.
//! 7. **Mix** (`0..=1`, 1 = full effect): `hdr = mix·hdr + (1 − mix)·reference_white·s`, a blend
//!    in linear display light with the plate placed in HDR *without* expansion (the BT.2408
//!    display-light mapping: SDR 100 % → reference white), so mix 0 is a plain SDR-in-HDR
//!    conversion in the same output container.
//! 8. **To the output primaries**: `o = bt2020_to_output · hdr` (ACEScg: XYZ via Bradford
//!    adaptation from D65 to the ACES white, so D65 white stays RGB 1, 1, 1).
//! 9. **Encode**: PQ: `o` clamped to `0..=10000` cd/m², ST 2084 inverse EOTF (table `encode`
//!    over `o/10000`, 2^-40..1, 32 samples/octave). HLG: `o` clamped at 0, inverse OOTF for a
//!    display of peak `Lw = peak` (γ = 1.2 + 0.42·log10(Lw/1000), luminance `Y_D` with the
//!    output primaries' weights, `E = o·(Y_D/Lw)^((1−γ)/γ)/Lw`, fast path: with `o` already
//!    divided by Lw, `E = o·exp2(hlg_ootf_exponent·log2(Y_D))`), `E` clamped to 1, HLG OETF
//!    (table `encode` over E). The fast path folds each output's scale (1/10000, 1/Lw, or the
//!    scene-linear scale) into `bt2020_to_output`.
//!    Scene-linear: `o·linear_reference_white/reference_white`, unclamped (negatives from the
//!    gamut conversion kept, as scene-linear pipelines expect).
//!
//! # Fast path
//!
//! Tables: [`LogLut`] headers in [`ItmConstants`], samples in [`ItmPrepared::tables`]; a value
//! is clamped to the table's range, its `f32` bits give the segment (exponent and top `seg_bits`
//! mantissa bits) and the fraction, and the two neighbouring samples are interpolated linearly
//! (`lo + (hi − lo)·frac`). log2/exp2 are the series in `fastmath` (no FMA, no libm). The
//! pipeline is written once over the vector types of `lanes`: on x86-64 with AVX2 a row runs 64
//! pixels at a time as eight AVX2 vectors held in registers (independent chains the CPU
//! overlaps; hardware gathers for the tables), elsewhere as plain 8-lane arrays; both give
//! bit-identical pixels. F32 RGBA images are read and written in place, with no row buffer.
//!
//! Accuracy (tests): over dense sweeps of the input cube and every option, the fast path stays
//! within 1e-4 of the reference in PQ/HLG signal (below half a 12-bit code step; scene-linear is
//! compared as PQ of its absolute light; measured worst 7e-5, for Method A into HLG at inputs
//! of 1e-10, where HLG's square root magnifies light of 1e-12 cd/m²), and within ΔE_ITP 0.1 with
//! the controls combined and every output gamut (measured worst ≈ 0.02).

mod fastmath;
mod lanes;
mod lut;

use fastmath as fm;
#[cfg(target_arch = "x86_64")]
use lanes::Avx2;
use lanes::{Group, Lanes, Wide};
pub use lut::LogLut;

use super::pixel::map_rows_into;
use super::{Abort, OpError};
use crate::color::gamut::{self, Mat3, RgbSpace};
use crate::color::transfer;
use crate::image::{ImageView, ImageViewMut, Rect};

/// How the incoming SDR plate is encoded. Stable order: the OFX choice saves the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum InputEncoding {
    /// IEC 61966-2-1 piecewise sRGB (web, most generative-model output).
    #[default]
    Srgb = 0,
    /// BT.1886 display, pure 2.4 power with zero black (broadcast / Resolve Rec.709 gamma 2.4).
    Bt1886 = 1,
    /// Already linear light, 1.0 = SDR white (values are clamped to 0..1).
    Linear = 2,
}

/// Primaries of the incoming plate. Only Rec.709 today; append new ones at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum InputPrimaries {
    #[default]
    Rec709 = 0,
}

/// The expansion curve. Stable order: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum ItmMethod {
    /// ITU-R BT.2446 Method A, inverse (broadcast up-conversion, bright mid-tones).
    Bt2446A = 0,
    /// ITU-R BT.2446 Method C tone curve inverted, crosstalk matrix undone.
    Bt2446C = 1,
    /// BT.2408 display-light mapping (SDR white ↔ reference white) with smooth highlight expansion.
    #[default]
    DisplayReferred = 2,
}

/// Output signal. Stable order: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum OutputTransfer {
    /// SMPTE ST 2084, absolute cd/m².
    #[default]
    Pq = 0,
    /// BT.2100 HLG, with the system gamma of a display at the chosen peak.
    Hlg = 1,
    /// Linear, reference white = `linear_reference_white` (1.0 by default).
    SceneLinear = 2,
}

/// Output primaries. Stable order: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum OutputPrimaries {
    #[default]
    Rec2020 = 0,
    P3D65 = 1,
    Rec709 = 2,
    /// ACES AP1, ACES white; reached through Bradford adaptation from D65.
    AcesCg = 3,
}

macro_rules! choice_enum {
    ($t:ty, [$($v:ident => $label:expr),+ $(,)?]) => {
        impl $t {
            /// Every option in saved-index order (the OFX choice lists them in this order).
            pub const ALL: &'static [$t] = &[$(<$t>::$v),+];
            /// The option's label as a user sees it in a choice menu.
            pub fn label(self) -> &'static str {
                match self { $(<$t>::$v => $label),+ }
            }
            /// The option saved at `index`, if there is one.
            pub fn from_index(index: u32) -> Option<$t> {
                Self::ALL.get(index as usize).copied()
            }
        }
    };
}

choice_enum!(InputEncoding, [Srgb => "sRGB", Bt1886 => "BT.1886 (gamma 2.4)", Linear => "Linear"]);
choice_enum!(InputPrimaries, [Rec709 => "Rec.709"]);
choice_enum!(ItmMethod, [
    Bt2446A => "BT.2446 Method A",
    Bt2446C => "BT.2446 Method C",
    DisplayReferred => "Display-referred (BT.2408)",
]);
choice_enum!(OutputTransfer, [Pq => "PQ (ST 2084)", Hlg => "HLG (BT.2100)", SceneLinear => "Scene-linear"]);
choice_enum!(OutputPrimaries, [
    Rec2020 => "Rec.2020",
    P3D65 => "P3-D65",
    Rec709 => "Rec.709",
    AcesCg => "ACEScg (AP1)",
]);

impl InputPrimaries {
    pub fn space(self) -> &'static RgbSpace {
        match self {
            InputPrimaries::Rec709 => &gamut::REC709,
        }
    }
}

impl OutputPrimaries {
    pub fn space(self) -> &'static RgbSpace {
        match self {
            OutputPrimaries::Rec2020 => &gamut::REC2020,
            OutputPrimaries::P3D65 => &gamut::P3_D65,
            OutputPrimaries::Rec709 => &gamut::REC709,
            OutputPrimaries::AcesCg => &gamut::ACES_AP1,
        }
    }
}

/// Where the display-referred method starts lifting highlights, in relative linear SDR light
/// (0.5 ≈ 75 % of a BT.1886 signal, 73.5 % sRGB): diffuse SDR content below it keeps the
/// BT.2408 mapping exactly, the top of the SDR range is expanded towards the peak.
pub const DISPLAY_REFERRED_KNEE: f64 = 0.5;

/// BT.2446 Method C tone-curve constants (ITU-R BT.2446-1 §6).
pub mod method_c {
    pub const K1: f64 = 0.83802;
    pub const K2: f64 = 15.09968;
    pub const K3: f64 = 0.74204;
    pub const K4: f64 = 78.99439;
    /// SDR luminance (%) at the inflection point.
    pub const Y_SDR_IP: f64 = 58.5;
    /// HDR luminance (cd/m²) at the inflection point, Y_SDR,ip / k1.
    pub const Y_HDR_IP: f64 = Y_SDR_IP / K1;
    /// Crosstalk matrix strength α.
    pub const ALPHA: f64 = 0.05;
    /// Nominal HDR peak the constants were derived for, cd/m².
    pub const HDR_PEAK: f64 = 1000.0;

    /// The forward (HDR → SDR) curve: luminance in cd/m² → SDR luminance in percent.
    pub fn forward(y_hdr: f64) -> f64 {
        if y_hdr < Y_HDR_IP {
            K1 * y_hdr
        } else {
            K2 * (y_hdr / Y_HDR_IP - K3).ln() + K4
        }
    }

    /// The curve inverted: SDR % → cd/m². In the 0.04 % gap the published constants leave
    /// between the branches (58.5 ..≈ 58.535 %) it holds Y_HDR,ip, so it never decreases.
    pub fn inverse(y_sdr: f64) -> f64 {
        if y_sdr <= Y_SDR_IP {
            y_sdr / K1
        } else {
            (Y_HDR_IP * (((y_sdr - K4) / K2).exp() + K3)).max(Y_HDR_IP)
        }
    }

    /// SDR white in the curve's units: 100 % (BT.2446-1 §6 reads SDR luminance in percent of
    /// SDR white; its forward curve gives 203 cd/m² → 90.7 %, 1000 cd/m² → 118.39 %).
    pub const SDR_WHITE_PERCENT: f64 = 100.0;
}

/// BT.2446 Method A luma weights (BT.2020) and its Y'' breakpoint / polynomial (BT.2446-1 §4).
mod method_a {
    pub const LUMA: [f64; 3] = [0.2627, 0.6780, 0.0593];
    pub const LOW: [f64; 3] = [1.8712e-5, -2.7334e-3, 1.3141];
    pub const HIGH: [f64; 3] = [2.8305e-6, -7.4622e-4, 1.2528];

    /// Y' (0..1) → Y'_HDR (0..1000).
    pub fn luma_hdr(y: f64) -> f64 {
        let ypp = 255.0 * y.max(0.0);
        let [a, b, c] = if ypp <= 70.0 { LOW } else { HIGH };
        let e = a * ypp * ypp + b * ypp + c;
        ypp.powf(e)
    }

    /// Sc = 1.075·Y'_HDR / Y' (1 at Y' = 0, where there is no chroma to scale).
    pub fn chroma_scale(y: f64) -> f64 {
        if y > 0.0 {
            1.075 * luma_hdr(y) / y
        } else {
            1.0
        }
    }

    /// The display the Recommendation defines Method A for, cd/m²: its output signal is light
    /// normalised to this peak (SDR white → 1000).
    pub const DISPLAY_PEAK: f64 = 1000.0;

    /// Method A's light on a display of another peak. BT.2446-1 §4 gives absolute light only for
    /// a 1000 cd/m² display, and multiplying all of it by peak/1000 (what "normalised to the
    /// peak" would suggest) moves diffuse levels: SDR mid-grey 4× brighter at 4000 cd/m². A
    /// grader expects what BT.2408 describes for HDR grades: diffuse light (up to the HDR
    /// reference white) where it is, only the highlights reaching for the display's peak. So
    /// light up to `reference` is kept, and the highlight range `reference..1000` is remapped
    /// in log light onto `reference..peak`: with `u = ln(L/ref)/ln(white/ref)` (white: SDR
    /// white's light, 999.9 cd/m² with the published constants),
    /// `L' = ref·(peak/ref)^v(u)`, `v(u) = expm1(a·u)/expm1(a)`. `v(0) = 0`, `v(1) = 1` (SDR
    /// white reaches the peak), `v` is monotonic for every `a`, and `a` solves
    /// `a/expm1(a) = ln(white/ref)/ln(peak/ref)` so the log-log slope at reference white is 1:
    /// the curve continues through reference white without a kink (C1). At a 1000 cd/m² peak
    /// `a = 0`, `v(u) = u`: the Recommendation's light exactly. Peaks above 1000 stretch the
    /// highlights (`a > 0`), peaks below compress them (`a < 0`).
    #[derive(Debug, Clone, Copy)]
    pub struct PeakMap {
        reference: f64,
        peak: f64,
        /// ln(white / reference): the Recommendation's highlight range in log light, up to the
        /// light SDR white gets on its 1000 cd/m² display.
        span_display: f64,
        /// ln(peak / reference): the target display's.
        span_peak: f64,
        a: f64,
    }

    impl PeakMap {
        pub fn new(reference: f64, peak: f64) -> PeakMap {
            // The top of the range is where SDR white lands (the published constants give
            // 999.9 cd/m², not exactly 1000), so that SDR white reaches the peak exactly.
            let white = DISPLAY_PEAK * (luma_hdr(1.0).min(DISPLAY_PEAK) / DISPLAY_PEAK).powf(2.4);
            let span_display = (white / reference).ln();
            let span_peak = (peak / reference).ln();
            let mut a = 0.0;
            if span_display > 0.0 && span_peak > 0.0 && span_display != span_peak {
                // a/expm1(a) falls monotonically from +inf (a -> -inf) through 1 (a = 0) to
                // 0 (a -> +inf): bisect for the slope ratio.
                let ratio = span_display / span_peak;
                let slope = |a: f64| if a == 0.0 { 1.0 } else { a / a.exp_m1() };
                let (mut lo, mut hi) = (-700.0f64, 700.0f64);
                for _ in 0..200 {
                    let mid = 0.5 * (lo + hi);
                    if slope(mid) > ratio {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                a = 0.5 * (lo + hi);
            }
            PeakMap {
                reference,
                peak,
                span_display,
                span_peak,
                a,
            }
        }

        /// Light `l` (cd/m²) that Method A gives on its 1000 cd/m² display → light on this one.
        pub fn nits(&self, l: f64) -> f64 {
            if self.peak == DISPLAY_PEAK || l <= self.reference || self.span_display <= 0.0 {
                return l;
            }
            if self.span_peak <= 0.0 {
                // No headroom above reference white: highlights stop there.
                return self.reference;
            }
            // u > 1 only for a saturated channel a little above white's light (Method A's
            // chroma rebuild can reach 1000 cd/m², u ≤ 1.0001): the curve simply continues, at
            // most 0.3 % past the peak. Clamping there would put a kink right above white,
            // which the fast path's tables cannot follow.
            let u = (l / self.reference).ln() / self.span_display;
            let v = if self.a.abs() < 1e-12 {
                u
            } else {
                (self.a * u).exp_m1() / self.a.exp_m1()
            };
            self.reference * (self.span_peak * v).exp()
        }
    }
}

/// Everything the inverse tone map needs; no OFX types. `Default` is the recommended setting:
/// sRGB Rec.709 in, display-referred expansion, PQ Rec.2020 out, 1000 cd/m² peak, 203 cd/m²
/// reference white (BT.2408), controls neutral, full mix, straight (un-premultiplied) alpha.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItmParams {
    pub input_encoding: InputEncoding,
    pub input_primaries: InputPrimaries,
    pub method: ItmMethod,
    pub output_transfer: OutputTransfer,
    pub output_primaries: OutputPrimaries,
    /// Display peak luminance, cd/m² (`reference_white_nits..=10000`); SDR white is taken there.
    pub peak_nits: f32,
    /// Where SDR 100 % sits without expansion, cd/m² (BT.2408: 203); also what scene-linear
    /// output divides by.
    pub reference_white_nits: f32,
    /// Scene-linear output only: the value reference white is written as (> 0; default 1.0).
    pub linear_reference_white: f32,
    /// −1..=1, 0 = the method untouched. Reshapes luminance between reference white and peak
    /// in log space, both ends fixed, slope at reference white kept: > 0 brighter highlights.
    pub highlight_boost: f32,
    /// 0..=2, 1 = the method untouched. Chroma scale at constant luminance in linear light.
    pub saturation: f32,
    /// 0..=1, 1 = full effect; 0 = the plate placed in HDR without expansion.
    pub mix: f32,
    /// The images hold premultiplied colour: un-premultiply before, premultiply after.
    pub premultiplied: bool,
}

impl Default for ItmParams {
    fn default() -> Self {
        ItmParams {
            input_encoding: InputEncoding::Srgb,
            input_primaries: InputPrimaries::Rec709,
            method: ItmMethod::DisplayReferred,
            output_transfer: OutputTransfer::Pq,
            output_primaries: OutputPrimaries::Rec2020,
            peak_nits: 1000.0,
            reference_white_nits: 203.0,
            linear_reference_white: 1.0,
            highlight_boost: 0.0,
            saturation: 1.0,
            mix: 1.0,
            premultiplied: false,
        }
    }
}

fn in_range(name: &str, v: f32, lo: f32, hi: f32, fix: &str) -> Result<(), OpError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(OpError::InvalidParam(format!(
            "{name} is {v}; {fix} (allowed {lo}..={hi})"
        )))
    }
}

impl ItmParams {
    /// Checks ranges and their relations; the message names the fix.
    pub fn validate(&self) -> Result<(), OpError> {
        in_range(
            "reference white",
            self.reference_white_nits,
            1.0,
            10_000.0,
            "set it to the HDR level SDR white should sit at, 203 cd/m² per BT.2408",
        )?;
        in_range(
            "peak luminance",
            self.peak_nits,
            1.0,
            10_000.0,
            "set it to the mastering display's peak, e.g. 1000 cd/m²",
        )?;
        if self.peak_nits < self.reference_white_nits {
            return Err(OpError::InvalidParam(format!(
                "peak luminance {} cd/m² is below the reference white {} cd/m²: raise the peak or \
                 lower the reference white",
                self.peak_nits, self.reference_white_nits
            )));
        }
        in_range(
            "linear reference white",
            self.linear_reference_white,
            1e-6,
            1e6,
            "set the scene-linear value for reference white to a positive number, e.g. 1.0",
        )?;
        in_range(
            "highlight boost",
            self.highlight_boost,
            -1.0,
            1.0,
            "use 0 for the method's own highlights",
        )?;
        in_range(
            "saturation",
            self.saturation,
            0.0,
            2.0,
            "use 1 for the method's own colour",
        )?;
        in_range("mix", self.mix, 0.0, 1.0, "use 1 for the full effect")?;
        Ok(())
    }

    fn input_to_bt2020(&self) -> Mat3 {
        gamut::rgb_to_rgb_matrix(self.input_primaries.space(), &gamut::REC2020)
    }

    fn bt2020_to_output(&self) -> Mat3 {
        gamut::rgb_to_rgb_matrix(&gamut::REC2020, self.output_primaries.space())
    }

    /// `highlight_boost` and `peak > reference white` both needed for the reshaping to exist.
    fn highlight_active(&self) -> bool {
        self.highlight_boost != 0.0 && self.peak_nits > self.reference_white_nits
    }
}

// ---------------------------------------------------------------------------------------------
// The reference (f64, plain powf/ln/exp): the specification every fast path is tested against.
// ---------------------------------------------------------------------------------------------

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Step 1: clamp to 0..=1, NaN → 0 (`clamp` would keep the NaN).
fn clamp_signal(v: f64) -> f64 {
    if v > 0.0 {
        v.min(1.0)
    } else {
        0.0
    }
}

/// Step 2: the input encoding → relative linear light.
fn decode_input(enc: InputEncoding, v: f64) -> f64 {
    match enc {
        InputEncoding::Srgb => transfer::srgb_eotf(v),
        InputEncoding::Bt1886 => transfer::bt1886_eotf(v),
        InputEncoding::Linear => v,
    }
}

/// The display-referred luminance curve, relative SDR light → cd/m².
fn display_referred_nits(y: f64, reference: f64, peak: f64) -> f64 {
    let linear = reference * y;
    if y <= DISPLAY_REFERRED_KNEE {
        return linear;
    }
    let t = (y - DISPLAY_REFERRED_KNEE) / (1.0 - DISPLAY_REFERRED_KNEE);
    linear * ((peak / reference).ln() * t * t).exp()
}

/// Step 5's luminance curve, cd/m² → cd/m².
fn highlight_nits(y: f64, reference: f64, peak: f64, boost: f64) -> f64 {
    if y <= reference || y >= peak {
        return y;
    }
    let range = (peak / reference).ln();
    let u = (y / reference).ln() / range;
    reference * (range * (u + boost * u * u * (1.0 - u))).exp()
}

/// The reference with everything that depends only on the parameters worked out once: the
/// primaries' matrices, the luma weights, Method C's crosstalk inverse and Method A's
/// [`method_a::PeakMap`] (a 200-step bisection). Per colour it performs exactly the arithmetic
/// of [`itm_pixel_reference`], which builds one for a single colour; tests that sweep many
/// colours build one per parameter set.
#[derive(Debug, Clone, Copy)]
pub struct ItmReference {
    params: ItmParams,
    peak: f64,
    reference: f64,
    input_to_bt2020: Mat3,
    bt2020_to_output: Mat3,
    /// BT.2020 luma weights (steps 4–6 work in BT.2020 light).
    luma: [f64; 3],
    /// The output primaries' luma weights (HLG's inverse OOTF).
    output_luma: [f64; 3],
    crosstalk: Mat3,
    crosstalk_inverse: Mat3,
    peak_map: method_a::PeakMap,
}

impl ItmReference {
    pub fn new(params: &ItmParams) -> ItmReference {
        let peak = params.peak_nits as f64;
        let reference = params.reference_white_nits as f64;
        let a = method_c::ALPHA;
        let crosstalk = [
            [1.0 - 2.0 * a, a, a],
            [a, 1.0 - 2.0 * a, a],
            [a, a, 1.0 - 2.0 * a],
        ];
        ItmReference {
            params: *params,
            peak,
            reference,
            input_to_bt2020: params.input_to_bt2020(),
            bt2020_to_output: params.bt2020_to_output(),
            luma: gamut::luminance_weights(&gamut::REC2020),
            output_luma: gamut::luminance_weights(params.output_primaries.space()),
            crosstalk,
            crosstalk_inverse: gamut::mat_inverse(&crosstalk),
            peak_map: method_a::PeakMap::new(reference, peak),
        }
    }

    /// Step 4: BT.2020 linear SDR light → BT.2020 display light in cd/m².
    fn expand(&self, s: [f64; 3]) -> [f64; 3] {
        match self.params.method {
            ItmMethod::Bt2446A => {
                let p = s.map(transfer::bt1886_inverse_eotf);
                let y = dot(method_a::LUMA, p);
                let y_hdr = method_a::luma_hdr(y);
                let sc = method_a::chroma_scale(y);
                let cb = sc * (p[2] - y) / 1.8814;
                let cr = sc * (p[0] - y) / 1.4746;
                let rgb = [
                    y_hdr + 1.4746 * cr,
                    y_hdr - 0.16455 * cb - 0.57135 * cr,
                    y_hdr + 1.8814 * cb,
                ];
                rgb.map(|v| {
                    self.peak_map
                        .nits(1000.0 * (v.clamp(0.0, 1000.0) / 1000.0).powf(2.4))
                })
            }
            ItmMethod::Bt2446C => {
                let c = gamut::mat_vec(&self.crosstalk, s);
                let y = dot(self.luma, c);
                if y <= 0.0 {
                    return [0.0; 3];
                }
                let y_hdr = method_c::inverse(y * method_c::SDR_WHITE_PERCENT);
                let scale = y_hdr / y;
                gamut::mat_vec(&self.crosstalk_inverse, c.map(|v| v * scale))
            }
            ItmMethod::DisplayReferred => {
                let y = dot(self.luma, s);
                if y <= 0.0 {
                    return [0.0; 3];
                }
                let l = display_referred_nits(y, self.reference, self.peak);
                s.map(|v| v * l / y)
            }
        }
    }

    /// [`itm_display_light_reference`].
    pub fn display_light(&self, rgb: [f64; 3]) -> [f64; 3] {
        let params = &self.params;
        let (luma, reference) = (self.luma, self.reference);
        let lin = rgb.map(|v| decode_input(params.input_encoding, clamp_signal(v)));
        let s = gamut::mat_vec(&self.input_to_bt2020, lin);
        let mut hdr = self.expand(s);
        if params.highlight_active() {
            let y = dot(luma, hdr);
            if y > 0.0 {
                let k = highlight_nits(y, reference, self.peak, params.highlight_boost as f64) / y;
                hdr = hdr.map(|v| v * k);
            }
        }
        if params.saturation != 1.0 {
            let y = dot(luma, hdr);
            let sat = params.saturation as f64;
            hdr = hdr.map(|v| y + sat * (v - y));
        }
        if params.mix != 1.0 {
            let mix = params.mix as f64;
            for (h, sdr) in hdr.iter_mut().zip(s) {
                *h = mix * *h + (1.0 - mix) * reference * sdr;
            }
        }
        hdr
    }

    /// [`itm_pixel_reference`].
    pub fn pixel(&self, rgb: [f64; 3]) -> [f64; 3] {
        let params = &self.params;
        let out = gamut::mat_vec(&self.bt2020_to_output, self.display_light(rgb));
        match params.output_transfer {
            OutputTransfer::Pq => out.map(transfer::pq_inverse_eotf),
            OutputTransfer::Hlg => {
                let scene = transfer::hlg_inverse_ootf(out, self.peak, self.output_luma);
                scene.map(|e| transfer::hlg_oetf(e.min(1.0)))
            }
            OutputTransfer::SceneLinear => {
                let scale =
                    params.linear_reference_white as f64 / params.reference_white_nits as f64;
                out.map(|v| v * scale)
            }
        }
    }
}

/// BT.2020 display light in cd/m² after steps 1–7, before the output primaries and encoding.
pub fn itm_display_light_reference(params: &ItmParams, rgb: [f64; 3]) -> [f64; 3] {
    ItmReference::new(params).display_light(rgb)
}

/// The exact inverse tone map of one un-premultiplied colour: input code values → output code
/// values (PQ/HLG signal, or scene-linear). `params` should have passed [`ItmParams::validate`];
/// other values give unspecified numbers, never a panic.
pub fn itm_pixel_reference(params: &ItmParams, rgb: [f64; 3]) -> [f64; 3] {
    ItmReference::new(params).pixel(rgb)
}

// ---------------------------------------------------------------------------------------------
// The prepared (fast) form.
// ---------------------------------------------------------------------------------------------

/// The plain constants of a prepared inverse tone map, in the order the pipeline uses them;
/// `#[repr(C)]` so a GPU kernel can take it as one argument (all fields 4 bytes). Matrices are
/// row-major. Fields that the chosen method/output do not use are zero.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C)]
pub struct ItmConstants {
    /// `InputEncoding as u32`.
    pub input_encoding: u32,
    /// `ItmMethod as u32`.
    pub method: u32,
    /// `OutputTransfer as u32`.
    pub output_transfer: u32,
    /// 1: un-premultiply / premultiply around the colour work.
    pub premultiplied: u32,
    /// 1: step 5 runs.
    pub apply_highlight: u32,
    /// 1: step 6 runs.
    pub apply_saturation: u32,
    /// 1: step 7 runs.
    pub apply_mix: u32,
    pub input_to_bt2020: [f32; 9],
    /// BT.2020 → output primaries, with the output's scale folded in: × 1/10000 for PQ (light
    /// as PQ's normalised luminance), × 1/peak for HLG (light relative to Lw), ×
    /// `linear_reference_white / reference_white` for scene-linear (the final values).
    pub bt2020_to_output: [f32; 9],
    /// BT.2020 RGB → Y (display-referred gain, steps 5, 6).
    pub bt2020_luma: [f32; 3],
    /// Step 4's luminance weights: Method A's Y' weights, Method C's crosstalked weights
    /// `(1 − 3α)·luma + α`, or BT.2020 luma (display-referred).
    pub method_luma: [f32; 3],
    /// Output primaries RGB → Y (HLG inverse OOTF).
    pub output_luma: [f32; 3],
    /// Display-referred gain below the knee, cd/m² per unit of SDR light.
    pub reference_white_nits: f32,
    /// log2(peak / reference white): the display-referred expansion and the highlight range.
    pub log2_peak_over_reference: f32,
    /// 1 / log2(peak / reference white) (0 when they are equal).
    pub inv_log2_peak_over_reference: f32,
    pub inv_reference_white_nits: f32,
    /// Method C: SDR percent per unit of crosstalked luminance (≈ 118.39).
    pub c_sdr_percent: f32,
    /// Method C: cd/m² per unit of SDR light on the linear part of the curve.
    pub c_linear_gain: f32,
    /// Method C: peak / 1000.
    pub c_peak_scale: f32,
    /// Step 5: highlight_boost · log2(peak / reference white).
    pub highlight_log2_gain: f32,
    pub saturation: f32,
    pub mix: f32,
    /// `(1 − mix)·reference_white`: cd/m² per unit of un-expanded SDR light in step 7.
    pub unexpanded_nits: f32,
    /// HLG inverse OOTF exponent (1 − γ)/γ.
    pub hlg_ootf_exponent: f32,
    /// Step 2: input code value → relative linear light (sRGB / BT.1886 / identity).
    pub decode: LogLut,
    /// Step 2 below `decode.x_min`: linear light = code value × this slope.
    pub decode_toe_slope: f32,
    /// Method A: linear → BT.1886 signal, x^(1/2.4).
    pub gamma_encode: LogLut,
    /// Method A: normalised HDR signal → cd/m², peak·q^2.4.
    pub gamma_decode: LogLut,
    /// Step 9: PQ (cd/m² / 10000 → code value) or the HLG OETF (E → E').
    pub encode: LogLut,
}

/// An inverse tone map ready to run: the parameters validated and reduced to [`ItmConstants`].
/// Building one takes a fraction of a millisecond (the `itm` bench measures it), so a render
/// builds it per call.
#[derive(Debug, Clone)]
pub struct ItmPrepared {
    params: ItmParams,
    constants: ItmConstants,
    /// The samples of every [`LogLut`] in `constants`, one array.
    tables: Vec<f32>,
    /// Neighbouring samples of `tables` packed in pairs, for the AVX2 reads.
    pairs: Vec<u64>,
    /// The CPU runs the AVX2 build of the row loop (same results, faster).
    avx2: bool,
}

fn f32x3(v: [f64; 3]) -> [f32; 3] {
    v.map(|x| x as f32)
}

/// `[f(a[0]), f(a[1]), f(a[2])]` written out, without a closure: a closure would be compiled
/// as a function of its own, without the AVX2 target feature of the row loop it sits in, and
/// the vector operations in it could not be inlined.
macro_rules! per_channel {
    ($a:expr, |$v:ident| $body:expr) => {{
        let a = $a;
        [
            {
                let $v = a[0];
                $body
            },
            {
                let $v = a[1];
                $body
            },
            {
                let $v = a[2];
                $body
            },
        ]
    }};
}

impl ItmPrepared {
    /// The parameters this was prepared from.
    pub fn params(&self) -> &ItmParams {
        &self.params
    }

    /// The per-frame constants, as a GPU kernel takes them.
    pub fn constants(&self) -> &ItmConstants {
        &self.constants
    }

    /// Every table's samples, one array (the `LogLut` headers in [`Self::constants`] index it).
    pub fn tables(&self) -> &[f32] {
        &self.tables
    }

    /// Validates `params` and derives the constants.
    pub fn new(params: &ItmParams) -> Result<Self, OpError> {
        params.validate()?;
        let peak = params.peak_nits as f64;
        let reference = params.reference_white_nits as f64;
        let luma = gamut::luminance_weights(&gamut::REC2020);
        let log2_range = (peak / reference).log2();
        let gamma = transfer::hlg_system_gamma(peak);
        let method_luma = match params.method {
            ItmMethod::Bt2446A => method_a::LUMA,
            ItmMethod::Bt2446C => luma.map(|w| (1.0 - 3.0 * method_c::ALPHA) * w + method_c::ALPHA),
            ItmMethod::DisplayReferred => luma,
        };
        // Table resolutions: see `bits`. Bottoms: 2^-32 for x^(1/2.4) (1e-4 signal, nothing
        // after Method A's curve), 2^-20 for q^2.4 (1e-14 of peak), 2^-40 of 10000 cd/m² for
        // PQ (PQ 1.4e-5 there against 7e-7 at 0).
        let mut tables = Vec::with_capacity(8192);
        let enc = params.input_encoding;
        // The decode table only spans where its curve is not a straight line through 0 (below
        // it the toe line takes over, exactly): sRGB is linear below 0.04045 > 2^-5; BT.1886's
        // 2.4 power is below 3e-12 under 2^-16. Linear input is just clamped (its one-octave
        // identity table exists for completeness and is not read). Small tables stay in L1.
        let (decode_min_exp, decode_octaves) = match enc {
            InputEncoding::Srgb => (-5, 5),
            InputEncoding::Bt1886 => (-16, 16),
            InputEncoding::Linear => (-1, 1),
        };
        let decode = LogLut::build(
            &mut tables,
            decode_min_exp,
            decode_octaves,
            bits::DECODE,
            |v| decode_input(enc, v),
        );
        let (mut gamma_encode, mut gamma_decode) = (LogLut::default(), LogLut::default());
        if params.method == ItmMethod::Bt2446A {
            gamma_encode = LogLut::build(
                &mut tables,
                -32,
                32,
                bits::GAMMA_ENCODE,
                transfer::bt1886_inverse_eotf,
            );
            let display = method_a::PeakMap::new(reference, peak);
            gamma_decode = LogLut::build(&mut tables, -20, 20, bits::GAMMA_DECODE, |q| {
                display.nits(1000.0 * q.powf(2.4))
            });
        }
        let encode = match params.output_transfer {
            OutputTransfer::Pq => LogLut::build(&mut tables, -40, 40, bits::ENCODE, |x| {
                transfer::pq_inverse_eotf(x * transfer::pq::PEAK_NITS)
            }),
            OutputTransfer::Hlg => {
                LogLut::build(&mut tables, -40, 40, bits::ENCODE, transfer::hlg_oetf)
            }
            OutputTransfer::SceneLinear => LogLut::default(),
        };
        let constants = ItmConstants {
            input_encoding: params.input_encoding as u32,
            method: params.method as u32,
            output_transfer: params.output_transfer as u32,
            premultiplied: params.premultiplied as u32,
            apply_highlight: params.highlight_active() as u32,
            apply_saturation: (params.saturation != 1.0) as u32,
            apply_mix: (params.mix != 1.0) as u32,
            input_to_bt2020: gamut::mat_to_f32(&params.input_to_bt2020()),
            bt2020_to_output: gamut::mat_to_f32(&params.bt2020_to_output().map(|row| {
                row.map(|v| {
                    v * match params.output_transfer {
                        OutputTransfer::Pq => 1.0 / transfer::pq::PEAK_NITS,
                        OutputTransfer::Hlg => 1.0 / peak,
                        OutputTransfer::SceneLinear => {
                            params.linear_reference_white as f64 / reference
                        }
                    }
                })
            })),
            bt2020_luma: f32x3(luma),
            method_luma: f32x3(method_luma),
            output_luma: f32x3(gamut::luminance_weights(params.output_primaries.space())),
            reference_white_nits: params.reference_white_nits,
            log2_peak_over_reference: log2_range as f32,
            inv_log2_peak_over_reference: if log2_range > 0.0 {
                (1.0 / log2_range) as f32
            } else {
                0.0
            },
            inv_reference_white_nits: (1.0 / reference) as f32,
            c_sdr_percent: method_c::SDR_WHITE_PERCENT as f32,
            c_linear_gain: (method_c::SDR_WHITE_PERCENT / method_c::K1) as f32,
            c_peak_scale: 1.0,
            highlight_log2_gain: (params.highlight_boost as f64 * log2_range) as f32,
            saturation: params.saturation,
            mix: params.mix,
            unexpanded_nits: ((1.0 - params.mix as f64) * reference) as f32,
            hlg_ootf_exponent: ((1.0 - gamma) / gamma) as f32,
            decode,
            decode_toe_slope: (decode_input(enc, decode.x_min as f64) / decode.x_min as f64) as f32,
            gamma_encode,
            gamma_decode,
            encode,
        };
        Ok(ItmPrepared {
            params: *params,
            constants,
            pairs: lut::sample_pairs(&tables),
            tables,
            avx2: cpu_has_avx2(),
        })
    }

    /// Steps 1–9 on one vector of colours (`V::N` pixels, structure of arrays). Every step does
    /// the same IEEE operations lane by lane whatever `V` is (see [`lanes`]), so the result
    /// does not depend on the vector width or the instruction set. `METHOD` and `TRANSFER` are
    /// the enums' `u32` values, so each combination is compiled without per-pixel branches;
    /// the switches in the constants are uniform over a frame.
    #[inline(always)]
    fn process<V: Lanes, const METHOD: u32, const TRANSFER: u32>(&self, rgb: [V; 3]) -> [V; 3] {
        let c = &self.constants;
        let t = &self.tables[..];
        let pairs = &self.pairs[..];
        let zero = V::splat(0.0);
        // 1, 2. clamp and decode. Below the table the curve continues as a straight line to 0
        // (exact for sRGB's linear toe); ≤ 0 or NaN → 0. Linear input has no table: the toe
        // line (slope 1) covers 0..1, the same values as reading it.
        let lin = if c.input_encoding == InputEncoding::Linear as u32 {
            per_channel!(rgb, |x| x.clamp(0.0, 1.0))
        } else {
            per_channel!(rgb, |x| {
                let table = x.read::<{ bits::DECODE }>(&c.decode, t, pairs);
                let toe = V::if_gt(x, zero, x * V::splat(c.decode_toe_slope), zero);
                // Written so that NaN takes the toe branch (and so becomes 0).
                V::if_ge(x, V::splat(c.decode.x_min), table, toe)
            })
        };
        // 3. to BT.2020.
        let s = lanes::mat3(&c.input_to_bt2020, &lin);
        // 4. expand to display light, cd/m².
        let mut hdr = if METHOD == ItmMethod::Bt2446A as u32 {
            // Below the tables' bottoms the true values are < 1e-4 (signal) and < 4e-15·peak
            // (light): 0 there, so black stays exactly black (HLG's square root would show
            // anything else).
            let p = per_channel!(s, |v| {
                let root = v.read::<{ bits::GAMMA_ENCODE }>(&c.gamma_encode, t, pairs);
                V::if_lt(v, V::splat(c.gamma_encode.x_min), zero, root)
            });
            let y = lanes::dot(c.method_luma, &p);
            let y_pp = V::splat(255.0) * y;
            let low = (V::splat(1.8712e-5) * y_pp - V::splat(2.7334e-3)) * y_pp + V::splat(1.3141);
            let high = (V::splat(2.8305e-6) * y_pp - V::splat(7.4622e-4)) * y_pp + V::splat(1.2528);
            let e = V::if_le(y_pp, V::splat(70.0), low, high);
            // Normalised to 0..1 (the Recommendation's 0..1000 / 1000).
            let y_hdr = (e * y_pp.log2()).exp2() * V::splat(1e-3);
            let sc = V::if_gt(
                y,
                V::splat(fm::LOG2_FLOOR),
                V::splat(1.075) * y_hdr / y,
                zero,
            );
            per_channel!(p, |pc| {
                let q = (y_hdr + sc * (pc - y)).clamp(0.0, 1.0);
                let light = q.read::<{ bits::GAMMA_DECODE }>(&c.gamma_decode, t, pairs);
                V::if_lt(q, V::splat(c.gamma_decode.x_min), zero, light)
            })
        } else {
            let y = lanes::dot(c.method_luma, &s);
            let gain = if METHOD == ItmMethod::Bt2446C as u32 {
                let y_sdr = y * V::splat(c.c_sdr_percent);
                let ip = V::splat(method_c::Y_HDR_IP as f32);
                let slope = std::f32::consts::LOG2_E / method_c::K2 as f32;
                let curve = ip
                    * (((y_sdr - V::splat(method_c::K4 as f32)) * V::splat(slope)).exp2()
                        + V::splat(method_c::K3 as f32));
                let curve = curve.max_or(ip);
                V::if_le(
                    y_sdr,
                    V::splat(method_c::Y_SDR_IP as f32),
                    V::splat(c.c_linear_gain),
                    curve / y * V::splat(c.c_peak_scale),
                )
            } else {
                // Display-referred: exp2 of 0 is exactly 1 below the knee.
                let k = ((y - V::splat(0.5)) * V::splat(2.0)).clamp(0.0, 1.0);
                V::splat(c.reference_white_nits)
                    * (V::splat(c.log2_peak_over_reference) * k * k).exp2()
            };
            per_channel!(s, |v| v * gain)
        };
        // 5, 6. highlights and saturation.
        if c.apply_highlight != 0 || c.apply_saturation != 0 {
            let mut y = lanes::dot(c.bt2020_luma, &hdr);
            if c.apply_highlight != 0 {
                // u = position between reference white (0) and peak (1) in log light; the
                // new/old luminance ratio is 2^(boost·log2(peak/ref)·u²(1 − u)).
                let u = ((y * V::splat(c.inv_reference_white_nits)).log2()
                    * V::splat(c.inv_log2_peak_over_reference))
                .clamp(0.0, 1.0);
                let gain = (V::splat(c.highlight_log2_gain) * u * u * (V::splat(1.0) - u)).exp2();
                hdr = per_channel!(hdr, |v| v * gain);
                y = y * gain;
            }
            if c.apply_saturation != 0 {
                let sat = V::splat(c.saturation);
                hdr = per_channel!(hdr, |v| y + sat * (v - y));
            }
        }
        // 7. mix with the un-expanded plate.
        if c.apply_mix != 0 {
            let (mix, unexpanded) = (V::splat(c.mix), V::splat(c.unexpanded_nits));
            hdr = [
                mix * hdr[0] + unexpanded * s[0],
                mix * hdr[1] + unexpanded * s[1],
                mix * hdr[2] + unexpanded * s[2],
            ];
        }
        // 8. output primaries.
        let o = lanes::mat3(&c.bt2020_to_output, &hdr);
        // 9. encode (`o` is already divided by 10000 cd/m² for PQ, by the peak for HLG, and
        // in scene-linear units for scene-linear: the scale is folded into the matrix).
        if TRANSFER == OutputTransfer::Pq as u32 {
            per_channel!(o, |v| v.read::<{ bits::ENCODE }>(&c.encode, t, pairs))
        } else if TRANSFER == OutputTransfer::Hlg as u32 {
            let f = per_channel!(o, |v| v.max_or(zero));
            // Inverse OOTF gain (Y_D/Lw)^((1−γ)/γ) on light already divided by Lw; where
            // Y_D = 0 every f is 0 too.
            let gain = lanes::dot(c.output_luma, &f).pow(c.hlg_ootf_exponent);
            per_channel!(f, |v| {
                (v * gain)
                    .min_or(V::splat(1.0))
                    .read::<{ bits::ENCODE }>(&c.encode, t, pairs)
            })
        } else {
            o
        }
    }

    /// `V::N` RGBA pixels from `src` into `dst` through [`Self::process`]; alpha is stored as
    /// read. `PREMULTIPLIED`: colour is divided by alpha before and multiplied after (alpha ≤ 0
    /// or NaN gives factor 0, so that colour comes out 0).
    #[inline(always)]
    fn pixels<V: Lanes, const METHOD: u32, const TRANSFER: u32, const PREMULTIPLIED: bool>(
        &self,
        src: &[[f32; 4]],
        dst: &mut [[f32; 4]],
    ) {
        let [r, g, b, a] = V::load(src);
        let [r, g, b] = if PREMULTIPLIED {
            let zero = V::splat(0.0);
            let before = V::if_gt(a, zero, V::splat(1.0) / a, zero);
            let after = V::if_gt(a, zero, a, zero);
            let out = self.process::<V, METHOD, TRANSFER>([r * before, g * before, b * before]);
            per_channel!(out, |v| v * after)
        } else {
            self.process::<V, METHOD, TRANSFER>([r, g, b])
        };
        V::store([r, g, b, a], dst);
    }

    /// A row, `src` into `dst` (equal lengths), `V::N` pixels at a time: one inlined copy of
    /// the pipeline per alpha mode, at one width (each copy is thousands of lines for LLVM to
    /// optimise; a copy for each of three widths made the ITM most of the crate's compile
    /// time). The last pixels of a row are padded with zeros to a whole vector in a buffer:
    /// lanes never interact, so the padding cannot change the bits they get. Inlined so that
    /// each build of [`Self::apply_row`] gets its own machine code.
    #[inline(always)]
    fn row<V: Lanes, const METHOD: u32, const TRANSFER: u32>(
        &self,
        src: &[[f32; 4]],
        dst: &mut [[f32; 4]],
    ) {
        const { assert!(V::N <= MAX_LANES) };
        debug_assert_eq!(src.len(), dst.len());
        let premultiplied = self.constants.premultiplied != 0;
        let mut staged = [[0.0f32; 4]; MAX_LANES];
        let mut result = [[0.0f32; 4]; MAX_LANES];
        for (s, d) in src.chunks(V::N).zip(dst.chunks_mut(V::N)) {
            let whole = s.len() == V::N;
            if !whole {
                staged[..s.len()].copy_from_slice(s);
                staged[s.len()..V::N].fill([0.0; 4]);
            }
            // One call site per mode, reading and writing the row or the buffer.
            let (from, to): (&[[f32; 4]], &mut [[f32; 4]]) = if whole {
                (s, &mut *d)
            } else {
                (&staged[..V::N], &mut result[..V::N])
            };
            if premultiplied {
                self.pixels::<V, METHOD, TRANSFER, true>(from, to);
            } else {
                self.pixels::<V, METHOD, TRANSFER, false>(from, to);
            }
            if !whole {
                d.copy_from_slice(&result[..d.len()]);
            }
        }
    }

    /// Dispatches a row to the variant compiled for this method and output transfer, and on
    /// x86-64 CPUs with AVX2 to the build on [`Avx2`] vectors (8-wide registers, hardware
    /// gathers for table reads). Both perform the same IEEE operations in the same order (FMA
    /// is not enabled, and Rust never fuses on its own), so their results are bit-identical:
    /// the CPU model a farm node has cannot change a frame.
    fn apply_row(&self, src: &[[f32; 4]], dst: &mut [[f32; 4]]) {
        if self.avx2 {
            #[cfg(target_arch = "x86_64")]
            {
                // SAFETY: `avx2` is only set when the running CPU reported AVX2 support.
                unsafe { self.apply_row_avx2(src, dst) };
                return;
            }
        }
        self.apply_row_portable(src, dst);
    }

    /// The portable build of the row loop, for this method and output transfer.
    fn apply_row_portable(&self, src: &[[f32; 4]], dst: &mut [[f32; 4]]) {
        dispatch_rows!(self, src, dst, portable_a, portable_c, portable_d)
    }

    /// The row loop compiled for AVX2, on groups of [`Avx2`] vectors.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn apply_row_avx2(&self, src: &[[f32; 4]], dst: &mut [[f32; 4]]) {
        // SAFETY: the caller guarantees AVX2, which is all the AVX2 builds need.
        unsafe { dispatch_rows!(self, src, dst, avx2_a, avx2_c, avx2_d) }
    }

    /// One RGBA pixel, exactly as a render computes it: alpha kept, premultiplication honoured.
    pub fn apply_pixel(&self, px: [f32; 4]) -> [f32; 4] {
        let mut out = [[0.0; 4]];
        self.apply_row(&[px], &mut out);
        out[0]
    }

    /// Steps 1–9 for one un-premultiplied colour (input code values → output values), with
    /// the same arithmetic as a render: the colour is a pixel of alpha 1, which premultiplied
    /// or not is divided and multiplied by exactly 1.
    pub fn apply_rgb(&self, rgb: [f32; 3]) -> [f32; 3] {
        let [r, g, b, _] = self.apply_pixel([rgb[0], rgb[1], rgb[2], 1.0]);
        [r, g, b]
    }

    /// [`Self::apply_rgb`] for many colours at once, at the speed of a row.
    pub fn apply_rgbs(&self, rgb: &[[f32; 3]]) -> Vec<[f32; 3]> {
        let src: Vec<[f32; 4]> = rgb.iter().map(|c| [c[0], c[1], c[2], 1.0]).collect();
        let mut dst = vec![[0.0; 4]; src.len()];
        self.apply_row(&src, &mut dst);
        dst.into_iter().map(|[r, g, b, _]| [r, g, b]).collect()
    }

    /// Runs over `window` (clipped to the destination), reading `src` and writing `dst`.
    pub fn run_cpu(
        &self,
        src: &ImageView<'_>,
        dst: &ImageViewMut<'_>,
        window: Rect,
        abort: &dyn Abort,
    ) -> Result<(), OpError> {
        map_rows_into(src, dst, window, abort, |_, _, s, d| self.apply_row(s, d))
    }
}

/// Calls the build of the row loop for the prepared method (one module per method) and output
/// transfer (a const parameter), so each of the nine combinations is a loop of its own.
macro_rules! dispatch_rows {
    ($self:ident, $src:ident, $dst:ident, $a:ident, $c:ident, $d:ident) => {{
        const A: u32 = ItmMethod::Bt2446A as u32;
        const C: u32 = ItmMethod::Bt2446C as u32;
        const PQ: u32 = OutputTransfer::Pq as u32;
        const HLG: u32 = OutputTransfer::Hlg as u32;
        const LIN: u32 = OutputTransfer::SceneLinear as u32;
        match ($self.constants.method, $self.constants.output_transfer) {
            (A, PQ) => $a::row::<PQ>($self, $src, $dst),
            (A, HLG) => $a::row::<HLG>($self, $src, $dst),
            (A, _) => $a::row::<LIN>($self, $src, $dst),
            (C, PQ) => $c::row::<PQ>($self, $src, $dst),
            (C, HLG) => $c::row::<HLG>($self, $src, $dst),
            (C, _) => $c::row::<LIN>($self, $src, $dst),
            (_, PQ) => $d::row::<PQ>($self, $src, $dst),
            (_, HLG) => $d::row::<HLG>($self, $src, $dst),
            (_, _) => $d::row::<LIN>($self, $src, $dst),
        }
    }};
}
use dispatch_rows;

/// The builds of the row loop, one module per method and instruction set. Each variant is a
/// function of its own, never inlined into the dispatcher (all nine inlined into one made a
/// single function of 60–86 k lines of LLVM IR, and LLVM's passes are super-linear in a
/// function's size); and rustc compiles each module as a codegen unit of its own, so the
/// builds are optimised in parallel and an edit of the pipeline recompiles them side by side.
macro_rules! row_builds {
    ($module:ident, $method:ident, portable) => {
        mod $module {
            use super::*;
            #[inline(never)]
            pub(super) fn row<const TRANSFER: u32>(
                p: &ItmPrepared,
                src: &[[f32; 4]],
                dst: &mut [[f32; 4]],
            ) {
                p.row::<Wide<PORTABLE_LANES>, { ItmMethod::$method as u32 }, TRANSFER>(src, dst)
            }
        }
    };
    ($module:ident, $method:ident, avx2) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            use super::*;
            #[inline(never)]
            #[target_feature(enable = "avx2")]
            pub(super) unsafe fn row<const TRANSFER: u32>(
                p: &ItmPrepared,
                src: &[[f32; 4]],
                dst: &mut [[f32; 4]],
            ) {
                p.row::<Group<Avx2, AVX2_GROUP>, { ItmMethod::$method as u32 }, TRANSFER>(src, dst)
            }
        }
    };
}
row_builds!(portable_a, Bt2446A, portable);
row_builds!(portable_c, Bt2446C, portable);
row_builds!(portable_d, DisplayReferred, portable);
row_builds!(avx2_a, Bt2446A, avx2);
row_builds!(avx2_c, Bt2446C, avx2);
row_builds!(avx2_d, DisplayReferred, avx2);

fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Samples per octave (as a power of two) of each table, chosen from the error budget the
/// tests check (linear interpolation of x^p errs by about |p(p − 1)|/8 · 4^-bits relative).
/// Tables are read with these as constants so the index arithmetic vectorises.
mod bits {
    pub const DECODE: u32 = 7;
    pub const GAMMA_ENCODE: u32 = 6;
    pub const GAMMA_DECODE: u32 = 7;
    pub const ENCODE: u32 = 5;
}

/// Pixels per vector in the portable row loop: eight `f32`s, which the compiler turns into a
/// few SIMD registers on any target.
const PORTABLE_LANES: usize = 8;

/// AVX2 vectors processed side by side.
const AVX2_GROUP: usize = 8;

/// The widest vector a row loop may use, in pixels (the padded tail's buffer).
const MAX_LANES: usize = 64;

/// The CPU render: validates, prepares, and runs over `window`.
pub fn run_cpu(
    params: &ItmParams,
    src: &ImageView<'_>,
    dst: &ImageViewMut<'_>,
    window: Rect,
    abort: &dyn Abort,
) -> Result<(), OpError> {
    ItmPrepared::new(params)?.run_cpu(src, dst, window, abort)
}

#[cfg(test)]
mod tests;
