//! Where grain is added and how strong it is there: the conversion from a plate's code values
//! to the grain domain and back, and the film response curve (grain RMS against lightness),
//! tabulated once per render so the per-pixel cost is one table look-up.

use super::{FilmResponse, InputEncoding};

/// Steps of the response table over grain-domain values 0..1, read nearest-sample: the curve's
/// slope is at most ≈ 3.3 per unit (smoothsteps of L*, and L* of a code value), so the error is
/// below 3.3 / (2 · 4095) ≈ 4e-4 of the response — far under what a grain RMS can show.
pub const RESPONSE_TABLE_STEPS: usize = 4095;

/// CIE 1976 L* break point: below Y = (6/29)^3 the cube root is replaced by a line of slope
/// (29/3)^3 (CIE 15:2004, section 8.2.1).
pub const LSTAR_Y_BREAK: f64 = 216.0 / 24389.0;
pub const LSTAR_SLOPE: f64 = 24389.0 / 27.0;

/// Relative luminance (0..1, white = 1) to CIE L*/100, extended above white by the same cube
/// root and below black by the same line, so it is monotonic over all reals.
pub fn lightness_from_linear(y: f64) -> f64 {
    if y > LSTAR_Y_BREAK {
        (116.0 * y.cbrt() - 16.0) / 100.0
    } else {
        LSTAR_SLOPE * y / 100.0
    }
}

/// IEC 61966-2-1 sRGB EOTF (code value to relative luminance).
pub fn srgb_to_linear(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// BT.1886 EOTF with a zero black level: L = V^2.4 (ITU-R BT.1886 Annex 1, Lb = 0).
pub fn bt1886_to_linear(v: f64) -> f64 {
    v.max(0.0).powf(2.4)
}

/// Lightness (0 black .. 1 diffuse white) of a grain-domain value: the axis the film response
/// curve is drawn against. For display encodings the grain domain is the code value; for
/// scene-linear plates it is already L*/100.
pub fn lightness_of_grain_domain(encoding: InputEncoding, e: f64) -> f64 {
    let l = match encoding {
        InputEncoding::Srgb => lightness_from_linear(srgb_to_linear(e)),
        InputEncoding::Bt1886 => lightness_from_linear(bt1886_to_linear(e)),
        InputEncoding::Linear => e,
    };
    l.clamp(0.0, 1.0)
}

/// Plate value to grain domain. Display-referred code values are used as they are; scene-linear
/// values go to L*/100 (the f32 form of `lightness_from_linear`, kept branch-for-branch so a CUDA
/// kernel can repeat it with `cbrtf`).
#[inline]
pub fn to_grain_domain(encoding: InputEncoding, v: f32) -> f32 {
    match encoding {
        InputEncoding::Srgb | InputEncoding::Bt1886 => v,
        InputEncoding::Linear => {
            if v > LSTAR_Y_BREAK as f32 {
                1.16 * cube_root(v) - 0.16
            } else {
                (LSTAR_SLOPE / 100.0) as f32 * v
            }
        }
    }
}

/// Cube root of a positive, finite f32 to within 2 ulp, from IEEE operations only, so Rust
/// and CUDA (without fused multiply-adds) give the same bits, which their libraries' `cbrtf`
/// do not promise. The first guess divides the bit pattern by three and adds back two thirds
/// of the exponent bias (⅔·127·2²³ ≈ 710 235 477, lowered to 709 921 077 — the constant of
/// Kahan's cube-root notes — to centre the guess's error); two Halley steps
/// y ← y·(y³ + 2x)/(2y³ + x) then take it from ~3 % to f32 precision (the error cubes each
/// step). Only called for x above the L* break point.
#[inline(always)]
pub fn cube_root(x: f32) -> f32 {
    let mut y = f32::from_bits(x.to_bits() / 3 + 709_921_077);
    for _ in 0..2 {
        let y3 = y * y * y;
        y = y * (y3 + 2.0 * x) / (2.0 * y3 + x);
    }
    y
}

/// Inverse of `to_grain_domain`.
#[inline]
pub fn from_grain_domain(encoding: InputEncoding, e: f32) -> f32 {
    match encoding {
        InputEncoding::Srgb | InputEncoding::Bt1886 => e,
        InputEncoding::Linear => {
            // L* = 8 is where the cube root meets the line.
            if e > 0.08 {
                let t = (e + 0.16) * (1.0 / 1.16);
                t * t * t
            } else {
                e * (100.0 / LSTAR_SLOPE) as f32
            }
        }
    }
}

/// Cubic smoothstep on 0..1 (zero slope at both ends, so the response has no kinks).
fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The film response: grain RMS multiplier at lightness `l` (0..1). It passes exactly through
/// `shadows` at black, `mids` at L* 50 (18 % grey) and `highlights` at white, easing between
/// them with smoothsteps, and is linear in the three values (which `analysis` relies on).
pub fn response_at(response: &FilmResponse, l: f64) -> f64 {
    let [ws, wm, wh] = response_basis(l);
    ws * response.shadows as f64 + wm * response.mids as f64 + wh * response.highlights as f64
}

/// Weights of (shadows, mids, highlights) in `response_at` at lightness `l`.
pub fn response_basis(l: f64) -> [f64; 3] {
    let l = l.clamp(0.0, 1.0);
    if l <= 0.5 {
        let t = smoothstep(2.0 * l);
        [1.0 - t, t, 0.0]
    } else {
        let t = smoothstep(2.0 * l - 1.0);
        [0.0, 1.0 - t, t]
    }
}

/// The response curve tabulated over grain-domain values 0..1 (values outside clamp to the
/// ends), one table for all channels (16 KB: stays in L1 beside the pixels).
pub struct ResponseTable {
    /// Fixed size so the clamped index needs no bounds check.
    values: Box<[f32; RESPONSE_TABLE_STEPS + 1]>,
}

impl ResponseTable {
    pub fn new(encoding: InputEncoding, response: &FilmResponse) -> Self {
        let mut values = Box::new([0.0f32; RESPONSE_TABLE_STEPS + 1]);
        for (i, v) in values.iter_mut().enumerate() {
            let e = i as f64 / RESPONSE_TABLE_STEPS as f64;
            *v = response_at(response, lightness_of_grain_domain(encoding, e)) as f32;
        }
        ResponseTable { values }
    }

    /// Response at grain-domain value `e`, nearest sample; NaN reads as black.
    #[inline(always)]
    pub fn at(&self, e: f32) -> f32 {
        // Not `clamp`: NaN.max(0.0) is 0.0, so a NaN pixel still indexes the table (CUDA:
        // fminf(fmaxf(e, 0), 1) behaves the same).
        #[allow(clippy::manual_clamp)]
        let t = e.max(0.0).min(1.0) * RESPONSE_TABLE_STEPS as f32;
        // Round to the nearest index without a checked float→int conversion: adding 2^23
        // leaves round(t) in the low mantissa bits (t ≤ 4095 < 2^12). CUDA: __float_as_uint.
        let index = (t + 8_388_608.0).to_bits() & RESPONSE_TABLE_STEPS as u32;
        self.values[index as usize]
    }

    /// The table (4096 entries), for a device that repeats `at`.
    pub fn values(&self) -> &[f32] {
        &self.values[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lightness_matches_cie_reference_points() {
        // CIE L*: Y = 0.18418 is L* 50; white is 100; the break point Y = 0.008856 is L* 8.
        assert!((lightness_from_linear(0.184187) - 0.5).abs() < 1e-5);
        assert!((lightness_from_linear(1.0) - 1.0).abs() < 1e-12);
        assert!((lightness_from_linear(LSTAR_Y_BREAK) - 0.08).abs() < 1e-9);
        // sRGB code 0.466 is 18 % grey (L* ~ 50): the mids of the response.
        let l = lightness_from_linear(srgb_to_linear(0.4663));
        assert!((l - 0.5).abs() < 1e-3, "{l}");
    }

    #[test]
    fn cube_root_is_accurate_over_the_scene_linear_range() {
        // From the L* break point to 100 000× diffuse white, and a dense sweep of one octave.
        let mut worst = 0.0f64;
        let mut x = 0.008856f32;
        while x < 1.0e5 {
            for k in 0..64 {
                let v = x * (1.0 + k as f32 / 64.0);
                let exact = (v as f64).cbrt();
                worst = worst.max(((cube_root(v) as f64) - exact).abs() / exact);
            }
            x *= 2.0;
        }
        assert!(worst < 2.0 * f32::EPSILON as f64, "relative error {worst}");
    }

    #[test]
    fn linear_grain_domain_round_trips() {
        for &v in &[-0.01f32, 0.0, 0.001, 0.008856, 0.05, 0.18, 1.0, 7.5, 100.0] {
            let e = to_grain_domain(InputEncoding::Linear, v);
            let l = lightness_from_linear(v as f64) as f32;
            assert!((e - l).abs() <= 1e-5 * l.abs().max(1.0), "{v}: {e} vs {l}");
            let back = from_grain_domain(InputEncoding::Linear, e);
            assert!(
                (back - v).abs() <= 1e-5 * v.abs().max(1e-3),
                "{v} -> {e} -> {back}"
            );
        }
    }

    #[test]
    fn response_passes_through_its_three_points() {
        let r = FilmResponse {
            shadows: 0.3,
            mids: 1.2,
            highlights: 0.7,
        };
        // Exact up to the f32 → f64 widening of the settings.
        assert!((response_at(&r, 0.0) - 0.3).abs() < 1e-7);
        assert!((response_at(&r, 0.5) - 1.2).abs() < 1e-7);
        assert!((response_at(&r, 1.0) - 0.7).abs() < 1e-7);
        let t = ResponseTable::new(InputEncoding::Linear, &r);
        for i in 0..=2000 {
            let e = i as f32 / 2000.0;
            let exact = response_at(&r, e as f64) as f32;
            assert!((t.at(e) - exact).abs() < 4e-4, "{e}");
        }
        assert_eq!(t.at(f32::NAN), t.at(0.0));
        assert_eq!(t.at(7.0), t.at(1.0));
    }
}
