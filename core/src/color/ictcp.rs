//! ICtCp (ITU-R BT.2100, PQ variant) and the ΔE_ITP colour difference (ITU-R BT.2124), used to
//! state how far a fast path or a GPU kernel may drift from the reference in perceptual units:
//! ΔE_ITP = 1 is about one just-noticeable difference.

use super::transfer::pq_inverse_eotf;

/// ICtCp of linear BT.2020 display light given in absolute cd/m² (BT.2100 Table 7).
pub fn ictcp_from_bt2020_nits(rgb: [f64; 3]) -> [f64; 3] {
    let [r, g, b] = rgb.map(|c| c.max(0.0));
    // BT.2100: LMS from BT.2020 RGB, coefficients in 1/4096ths.
    let l = (1688.0 * r + 2146.0 * g + 262.0 * b) / 4096.0;
    let m = (683.0 * r + 2951.0 * g + 462.0 * b) / 4096.0;
    let s = (99.0 * r + 309.0 * g + 3688.0 * b) / 4096.0;
    let [l, m, s] = [l, m, s].map(pq_inverse_eotf);
    [
        0.5 * l + 0.5 * m,
        (6610.0 * l - 13613.0 * m + 7003.0 * s) / 4096.0,
        (17933.0 * l - 17390.0 * m - 543.0 * s) / 4096.0,
    ]
}

/// ΔE_ITP (BT.2124) between two ICtCp colours: 720·√(ΔI² + ΔT² + ΔP²) with T = 0.5·Ct, P = Cp.
pub fn delta_e_itp(a: [f64; 3], b: [f64; 3]) -> f64 {
    let di = a[0] - b[0];
    let dt = 0.5 * (a[1] - b[1]);
    let dp = a[2] - b[2];
    720.0 * (di * di + dt * dt + dp * dp).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutral_colours_have_no_chroma_and_i_is_pq_of_luminance() {
        for nits in [0.1, 1.0, 100.0, 203.0, 1000.0, 4000.0] {
            let [i, ct, cp] = ictcp_from_bt2020_nits([nits; 3]);
            // LMS rows each sum to 4096/4096, so grey has L = M = S = Y and I = PQ(Y).
            assert!((i - pq_inverse_eotf(nits)).abs() < 1e-12);
            assert!(ct.abs() < 1e-12 && cp.abs() < 1e-12, "{nits}: {ct} {cp}");
        }
    }

    #[test]
    fn delta_e_itp_scale() {
        let a = ictcp_from_bt2020_nits([100.0; 3]);
        assert_eq!(delta_e_itp(a, a), 0.0);
        // A pure intensity step of 1/720 is exactly one ΔE_ITP unit.
        let b = [a[0] + 1.0 / 720.0, a[1], a[2]];
        assert!((delta_e_itp(a, b) - 1.0).abs() < 1e-12);
        // A 1 % luminance change at 100 cd/m² is a few JNDs, far less than a 10 % change.
        let one = delta_e_itp(a, ictcp_from_bt2020_nits([101.0; 3]));
        let ten = delta_e_itp(a, ictcp_from_bt2020_nits([110.0; 3]));
        assert!(one > 0.5 && one < 5.0, "{one}");
        assert!(ten > 5.0 * one, "{ten}");
    }
}
