//! Transfer functions between code values and light: sRGB, BT.1886, PQ (absolute cd/m²) and HLG
//! with its system-gamma OOTF. Exact `f64` forms: the oracle that every LUT, polynomial or CUDA
//! version is tested against. Negative light and code values are treated as 0.

/// sRGB EOTF, IEC 61966-2-1:1999 piecewise curve: code value 0..1 → relative linear light 0..1.
pub fn srgb_eotf(code: f64) -> f64 {
    let v = code.max(0.0);
    // IEC 61966-2-1 §5.2: the linear segment ends at V = 0.04045 (= 12.92 × 0.0031308).
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Inverse of [`srgb_eotf`]: relative linear light → sRGB code value.
pub fn srgb_inverse_eotf(linear: f64) -> f64 {
    let l = linear.max(0.0);
    if l <= 0.003_130_8 {
        12.92 * l
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

/// ITU-R BT.1886 EOTF with a zero black level (Lb = 0), i.e. a pure 2.4 power, normalised to
/// the display's white: code value 0..1 → relative linear light 0..1.
pub fn bt1886_eotf(code: f64) -> f64 {
    code.max(0.0).powf(2.4)
}

/// Inverse of [`bt1886_eotf`].
pub fn bt1886_inverse_eotf(linear: f64) -> f64 {
    linear.max(0.0).powf(1.0 / 2.4)
}

/// SMPTE ST 2084 (PQ) constants, as exact rationals from the standard (also ITU-R BT.2100 Table 4).
pub mod pq {
    pub const M1: f64 = 2610.0 / 16384.0;
    pub const M2: f64 = 2523.0 / 4096.0 * 128.0;
    pub const C1: f64 = 3424.0 / 4096.0;
    pub const C2: f64 = 2413.0 / 4096.0 * 32.0;
    pub const C3: f64 = 2392.0 / 4096.0 * 32.0;
    /// Luminance of PQ code value 1.0, cd/m².
    pub const PEAK_NITS: f64 = 10_000.0;
}

/// PQ inverse EOTF (ST 2084): absolute luminance in cd/m² → code value 0..1. Light above
/// 10 000 cd/m² is clipped to code 1.
pub fn pq_inverse_eotf(nits: f64) -> f64 {
    let y = (nits / pq::PEAK_NITS).clamp(0.0, 1.0);
    let ym = y.powf(pq::M1);
    ((pq::C1 + pq::C2 * ym) / (1.0 + pq::C3 * ym)).powf(pq::M2)
}

/// PQ EOTF (ST 2084): code value 0..1 → absolute luminance in cd/m².
pub fn pq_eotf(code: f64) -> f64 {
    let e = code.clamp(0.0, 1.0).powf(1.0 / pq::M2);
    let num = (e - pq::C1).max(0.0);
    pq::PEAK_NITS * (num / (pq::C2 - pq::C3 * e)).powf(1.0 / pq::M1)
}

/// HLG constants, ITU-R BT.2100 Table 5 (b = 1 − 4a, c = 0.5 − a·ln(4a)).
pub mod hlg {
    pub const A: f64 = 0.178_832_77;
    pub const B: f64 = 1.0 - 4.0 * A;
    // c is not a const fn expression in stable Rust (ln); this is 0.5 − a·ln(4a) to 1e-10,
    // checked by a test against the formula.
    pub const C: f64 = 0.559_910_729_5;
}

/// HLG OETF (BT.2100): normalised scene-linear light E 0..1 → signal E' 0..1.
pub fn hlg_oetf(scene: f64) -> f64 {
    let e = scene.max(0.0);
    if e <= 1.0 / 12.0 {
        (3.0 * e).sqrt()
    } else {
        hlg::A * (12.0 * e - hlg::B).ln() + hlg::C
    }
}

/// Inverse HLG OETF (BT.2100): signal E' → normalised scene-linear light E.
pub fn hlg_inverse_oetf(signal: f64) -> f64 {
    let v = signal.max(0.0);
    if v <= 0.5 {
        v * v / 3.0
    } else {
        (((v - hlg::C) / hlg::A).exp() + hlg::B) / 12.0
    }
}

/// HLG system gamma for a display of peak luminance `peak_nits` (BT.2100 Note 5e / BT.2390):
/// γ = 1.2 + 0.42·log10(Lw / 1000).
pub fn hlg_system_gamma(peak_nits: f64) -> f64 {
    1.2 + 0.42 * (peak_nits / 1000.0).log10()
}

/// HLG OOTF (BT.2100, black level Lb = 0): normalised scene-linear RGB → display light in cd/m².
/// F_D = Lw · Y_S^(γ−1) · E, with Y_S the scene luminance under `luma` (the RGB→Y weights of the
/// primaries in use; BT.2020's are 0.2627, 0.6780, 0.0593).
pub fn hlg_ootf(scene: [f64; 3], peak_nits: f64, luma: [f64; 3]) -> [f64; 3] {
    let gamma = hlg_system_gamma(peak_nits);
    let e = scene.map(|c| c.max(0.0));
    let ys = luma[0] * e[0] + luma[1] * e[1] + luma[2] * e[2];
    if ys <= 0.0 {
        return [0.0; 3];
    }
    let gain = peak_nits * ys.powf(gamma - 1.0);
    e.map(|c| c * gain)
}

/// Inverse HLG OOTF (BT.2100, Lb = 0): display light in cd/m² → normalised scene-linear RGB.
/// E = (F_D / Lw) · (Y_D / Lw)^((1 − γ) / γ).
pub fn hlg_inverse_ootf(display: [f64; 3], peak_nits: f64, luma: [f64; 3]) -> [f64; 3] {
    let gamma = hlg_system_gamma(peak_nits);
    let f = display.map(|c| c.max(0.0));
    let yd = luma[0] * f[0] + luma[1] * f[1] + luma[2] * f[2];
    if yd <= 0.0 {
        return [0.0; 3];
    }
    let gain = (yd / peak_nits).powf((1.0 - gamma) / gamma) / peak_nits;
    f.map(|c| c * gain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BT2020_LUMA: [f64; 3] = [0.2627, 0.6780, 0.0593];

    #[test]
    fn pq_matches_published_code_values() {
        // BT.2408 / ST 2084 tables: 100 → 0.5081, 203 → 0.5806, 1000 → 0.7518, 10000 → 1.
        // The tables print four digits (203 cd/m² is 0.58069, quoted as 0.5806), so agreement
        // is checked to 1e-4.
        for (nits, code) in [
            (100.0, 0.5081),
            (203.0, 0.5806),
            (1000.0, 0.7518),
            (10_000.0, 1.0),
        ] {
            let got = pq_inverse_eotf(nits);
            assert!((got - code).abs() < 1e-4, "{nits} cd/m²: {got} vs {code}");
        }
        assert!(pq_inverse_eotf(0.0) < 1e-6);
    }

    #[test]
    fn pq_round_trips() {
        for i in 0..=2000 {
            let nits = 10_000.0 * (i as f64 / 2000.0).powi(4);
            let back = pq_eotf(pq_inverse_eotf(nits));
            assert!(
                (back - nits).abs() <= 1e-9 * nits.max(1.0),
                "{nits} → {back}"
            );
        }
    }

    #[test]
    fn hlg_constants_and_oetf_points() {
        assert!((hlg::C - (0.5 - hlg::A * (4.0 * hlg::A).ln())).abs() < 1e-10);
        assert!((hlg::B - 0.284_668_92).abs() < 1e-8);
        // BT.2100: E = 1/12 → E' = 0.5 (both segments meet there), E = 1 → E' = 1.
        assert!((hlg_oetf(1.0 / 12.0) - 0.5).abs() < 1e-12);
        assert!((hlg_oetf(1.0) - 1.0).abs() < 1e-8);
        let just_above = hlg::A * (12.0 * (1.0 / 12.0 + 1e-9) - hlg::B).ln() + hlg::C;
        assert!(
            (just_above - 0.5).abs() < 1e-7,
            "log segment continuous at 1/12"
        );
    }

    #[test]
    fn hlg_oetf_round_trips() {
        for i in 0..=4000 {
            let e = i as f64 / 4000.0;
            let back = hlg_inverse_oetf(hlg_oetf(e));
            assert!((back - e).abs() < 1e-12, "{e} → {back}");
        }
    }

    #[test]
    fn hlg_reference_white_is_75_percent_on_a_1000_nit_display() {
        // BT.2408: HDR reference white, 203 cd/m², sits at HLG 75 % on a 1000 cd/m² display.
        let scene = hlg_inverse_ootf([203.0; 3], 1000.0, BT2020_LUMA);
        let signal = hlg_oetf(scene[0]);
        assert!((signal - 0.75).abs() < 1e-3, "{signal}");
        // And the OOTF takes 75 % back to 203 cd/m² (BT.2408 quotes 203 for 75 %).
        let back = hlg_ootf([hlg_inverse_oetf(0.75); 3], 1000.0, BT2020_LUMA);
        assert!((back[0] - 203.0).abs() < 0.5, "{}", back[0]);
    }

    #[test]
    fn hlg_system_gamma_and_ootf_round_trip() {
        assert!((hlg_system_gamma(1000.0) - 1.2).abs() < 1e-12);
        // BT.2100 Note 5e: 2000 cd/m² → γ ≈ 1.326.
        assert!((hlg_system_gamma(2000.0) - 1.3264).abs() < 1e-4);
        for lw in [400.0, 1000.0, 2000.0, 4000.0] {
            for rgb in [[0.1, 0.5, 0.9], [1.0, 1.0, 1.0], [0.0, 0.02, 0.3]] {
                let d = hlg_ootf(rgb, lw, BT2020_LUMA);
                let s = hlg_inverse_ootf(d, lw, BT2020_LUMA);
                for c in 0..3 {
                    assert!((s[c] - rgb[c]).abs() < 1e-12, "{lw} {rgb:?} → {s:?}");
                }
            }
            // Scene white reaches the display peak.
            assert!((hlg_ootf([1.0; 3], lw, BT2020_LUMA)[1] - lw).abs() < 1e-9);
        }
    }

    #[test]
    fn srgb_known_values_and_round_trip() {
        // IEC 61966-2-1: the segments meet at 0.04045 ↔ 0.0031308; mid code 0.5 ↔ 0.21404.
        assert!((srgb_eotf(0.04045) - 0.003_130_8).abs() < 1e-7);
        assert!((srgb_eotf(0.5) - 0.214_041).abs() < 1e-6);
        assert!((srgb_eotf(1.0) - 1.0).abs() < 1e-12);
        assert_eq!(srgb_eotf(0.0), 0.0);
        assert!((srgb_inverse_eotf(0.18) - 0.461_356).abs() < 1e-6);
        for i in 0..=1000 {
            let v = i as f64 / 1000.0;
            assert!((srgb_inverse_eotf(srgb_eotf(v)) - v).abs() < 1e-12);
        }
    }

    #[test]
    fn bt1886_known_values() {
        assert!((bt1886_eotf(0.5) - 0.189_464_6).abs() < 1e-6); // 0.5^2.4
        assert_eq!(bt1886_eotf(0.0), 0.0);
        assert_eq!(bt1886_eotf(1.0), 1.0);
        assert!((bt1886_inverse_eotf(0.18) - 0.489_437).abs() < 1e-6); // 0.18^(1/2.4)
        assert_eq!(bt1886_eotf(-0.5), 0.0);
    }
}
