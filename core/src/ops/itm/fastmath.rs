//! Branch-free `f32` log2 / exp2 / pow for the inverse tone map's fast path. Written with
//! comparisons, selects and bit casts only, so a loop over pixels vectorises (SSE2, AVX2) and the
//! same lines port to CUDA unchanged. No FMA is used: every build gives bit-identical results.

/// Smallest input `log2` takes: inputs below it (0, negatives, NaN) read as it (2^-99.7).
pub const LOG2_FLOOR: f32 = 1e-30;

/// The series below is written around m in [√½, √2).
pub(super) const SQRT2: f32 = std::f32::consts::SQRT_2;

const LN2: f64 = std::f64::consts::LN_2;

/// log2(m) = (2/ln 2)·atanh(z) = (2/ln 2)·(z + z³/3 + z⁵/5 + …), z = (m − 1)/(m + 1); with
/// |z| ≤ 0.1716 the first omitted term (z¹¹) is below 1e-9.
pub(super) const LOG2_SERIES: [f32; 5] = [
    (2.0 / LN2) as f32,
    (2.0 / (3.0 * LN2)) as f32,
    (2.0 / (5.0 * LN2)) as f32,
    (2.0 / (7.0 * LN2)) as f32,
    (2.0 / (9.0 * LN2)) as f32,
];

/// 2^f = Σ (f·ln 2)^k / k!, k = 0..=7, for f in [−½, ½]: the first omitted term is 5e-9.
pub(super) const EXP2_SERIES: [f32; 7] = [
    LN2 as f32,
    (LN2 * LN2 / 2.0) as f32,
    (LN2 * LN2 * LN2 / 6.0) as f32,
    (LN2 * LN2 * LN2 * LN2 / 24.0) as f32,
    (LN2 * LN2 * LN2 * LN2 * LN2 / 120.0) as f32,
    (LN2 * LN2 * LN2 * LN2 * LN2 * LN2 / 720.0) as f32,
    (LN2 * LN2 * LN2 * LN2 * LN2 * LN2 * LN2 / 5040.0) as f32,
];

/// Adding 1.5·2^23 rounds y to the nearest integer n (the ulp there is 1) and leaves n in the
/// low mantissa bits, so exp2 needs no float→int conversion.
pub(super) const EXP2_ROUNDER: f32 = 12_582_912.0;

/// `lo..=hi`, NaN → `lo`. Comparisons, not `f32::max`/`min` (whose NaN rules cost extra
/// instructions), so it compiles to one maxps/minps pair; CUDA: `fminf(fmaxf(x, lo), hi)`.
#[inline(always)]
pub fn clamp_to(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x > lo { x } else { lo };
    if x < hi {
        x
    } else {
        hi
    }
}

/// log2(x), error below 2e-7 plus the rounding of the result; x ≤ 1e-30 or NaN reads as 1e-30.
#[inline(always)]
pub fn log2(x: f32) -> f32 {
    let x = if x > LOG2_FLOOR { x } else { LOG2_FLOOR };
    let bits = x.to_bits();
    let exponent = ((bits >> 23) as i32) - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > SQRT2;
    let m = if big { m * 0.5 } else { m };
    let exponent = exponent + big as i32;
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let [c1, c3, c5, c7, c9] = LOG2_SERIES;
    exponent as f32 + z * (c1 + z2 * (c3 + z2 * (c5 + z2 * (c7 + z2 * c9))))
}

/// 2^y, relative error below 2e-7; y is clamped to −126..=126 (NaN → −126).
#[inline(always)]
pub fn exp2(y: f32) -> f32 {
    const ROUNDER: f32 = EXP2_ROUNDER;
    let y = clamp_to(y, -126.0, 126.0);
    let shifted = y + ROUNDER;
    let n = shifted.to_bits().wrapping_sub(ROUNDER.to_bits()) as i32;
    let f = y - (shifted - ROUNDER);
    let [e1, e2, e3, e4, e5, e6, e7] = EXP2_SERIES;
    let p = 1.0 + f * (e1 + f * (e2 + f * (e3 + f * (e4 + f * (e5 + f * (e6 + f * e7))))));
    p * f32::from_bits(((n + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_and_exp2_are_accurate_over_the_range_used() {
        // log2: within 2e-7 plus the f32 rounding of the result itself (1.2e-7 relative).
        let mut worst_log = 0.0f64;
        let mut x = 1e-30f64;
        while x < 1e30 {
            let got = log2(x as f32) as f64;
            let want = (x as f32 as f64).log2();
            let err = (got - want).abs();
            assert!(
                err < 2e-7 + 1.2e-7 * want.abs(),
                "log2({x}): {got} vs {want}"
            );
            worst_log = worst_log.max(err / (1.0 + want.abs()));
            x *= 1.000_73;
        }
        let mut worst_exp = 0.0f64;
        let mut y = -126.0f64;
        while y <= 126.0 {
            let got = exp2(y as f32) as f64;
            let want = (y as f32 as f64).exp2();
            worst_exp = worst_exp.max((got / want - 1.0).abs());
            y += 0.000_977;
        }
        assert!(worst_exp < 3e-7, "exp2 rel error {worst_exp}");
        // Exact where it matters: 2^0 = 1 (no expansion below a knee), integers are exact.
        assert_eq!(exp2(0.0), 1.0);
        assert_eq!(exp2(-3.0), 0.125);
        assert_eq!(log2(1.0), 0.0);
        assert_eq!(log2(8.0), 3.0);
        eprintln!("log2 err/(1+|log2|) {worst_log:.1e}, exp2 rel {worst_exp:.1e}");
    }

    #[test]
    fn edge_inputs_stay_finite() {
        for x in [0.0, -1.0, f32::NAN, f32::NEG_INFINITY] {
            assert_eq!(log2(x), log2(LOG2_FLOOR), "{x}");
        }
        assert!((log2(LOG2_FLOOR) - (1e-30f64).log2() as f32).abs() < 1e-4);
        assert!(exp2(f32::NAN) > 0.0 && exp2(f32::NAN) < 1e-37);
        assert!(exp2(1000.0).is_finite());
        assert!((exp2(2.4 * log2(0.5)) - 0.5f32.powf(2.4)).abs() < 1e-7);
        assert_eq!(clamp_to(f32::NAN, 0.0, 1.0), 0.0);
        assert_eq!(clamp_to(7.0, 0.0, 1.0), 1.0);
    }
}
