use super::*;
use crate::color::ictcp::{delta_e_itp, ictcp_from_bt2020_nits};
use crate::color::transfer::{pq_eotf, pq_inverse_eotf};
use crate::image::{Components, ImageBuf, PixelDepth};
use crate::ops::NeverAbort;
use rayon::prelude::*;

fn params(method: ItmMethod, out: OutputTransfer) -> ItmParams {
    ItmParams {
        method,
        output_transfer: out,
        ..ItmParams::default()
    }
}

fn prepared(p: &ItmParams) -> ItmPrepared {
    ItmPrepared::new(p).unwrap()
}

fn every_method() -> impl Iterator<Item = ItmMethod> {
    ItmMethod::ALL.iter().copied()
}

// ----- published values -----------------------------------------------------------------------

#[test]
fn unexpanded_sdr_white_lands_on_bt2408_reference_white_in_pq_and_hlg() {
    // mix = 0 is the BT.2408 display-light mapping: SDR 100 % → 203 cd/m², which BT.2408
    // places at PQ 0.5806 (58 %) and, on a 1000 cd/m² display, at HLG 75 %.
    for method in every_method() {
        let pq = ItmParams {
            mix: 0.0,
            ..params(method, OutputTransfer::Pq)
        };
        let hlg = ItmParams {
            mix: 0.0,
            ..params(method, OutputTransfer::Hlg)
        };
        for (p, want, tol) in [(pq, 0.5806, 1e-4), (hlg, 0.75, 1e-3)] {
            let r = itm_pixel_reference(&p, [1.0; 3]);
            let f = prepared(&p).apply_rgb([1.0; 3]);
            for c in 0..3 {
                assert!(
                    (r[c] - want).abs() < tol,
                    "{method:?} {:?}: {}",
                    p.output_transfer,
                    r[c]
                );
                assert!(
                    (f[c] as f64 - want).abs() < tol,
                    "fast {:?}: {}",
                    p.output_transfer,
                    f[c]
                );
            }
        }
    }
}

#[test]
fn method_a_takes_sdr_white_to_the_1000_nit_peak() {
    // BT.2446 Method A with c = 1.2528 above Y'' = 70: Y' = 1 → 255^1.2466 = 1000 (the
    // mistaken 1.2328 gives ≈ 895).
    assert!(
        (method_a::luma_hdr(1.0) - 1000.0).abs() < 0.5,
        "{}",
        method_a::luma_hdr(1.0)
    );
    let p = params(ItmMethod::Bt2446A, OutputTransfer::Pq);
    let light = itm_display_light_reference(&p, [1.0; 3]);
    for v in light {
        assert!((v - 1000.0).abs() < 0.5, "{light:?}");
    }
    let code = itm_pixel_reference(&p, [1.0; 3]);
    assert!((code[0] - 0.7518).abs() < 1e-4, "{code:?}");
    assert!((prepared(&p).apply_rgb([1.0; 3])[1] - 0.7518).abs() < 1e-4);
    // The two polynomial branches meet at Y'' = 70 (to the precision the constants are given).
    let below = method_a::luma_hdr(70.0 / 255.0);
    let e_high = method_a::HIGH[0] * 4900.0 + method_a::HIGH[1] * 70.0 + method_a::HIGH[2];
    assert!((below / 70f64.powf(e_high) - 1.0).abs() < 1e-4);
    // On another display SDR white still reaches the peak (the rest: the next test).
    let p2 = ItmParams {
        peak_nits: 4000.0,
        ..p
    };
    assert!((itm_display_light_reference(&p2, [1.0; 3])[0] - 4000.0).abs() < 2.0);
}

/// BT.2446-1 §4 for a neutral BT.1886 code `p` (R = G = B, so Cb = Cr = 0), written here from
/// the Recommendation and not from the code's helpers: light on its 1000 cd/m² display.
fn bt2446a_grey_nits(p: f64) -> f64 {
    let ypp = 255.0 * p;
    let e = if ypp <= 70.0 {
        1.8712e-5 * ypp * ypp - 2.7334e-3 * ypp + 1.3141
    } else {
        2.8305e-6 * ypp * ypp - 7.4622e-4 * ypp + 1.2528
    };
    1000.0 * (ypp.powf(e).clamp(0.0, 1000.0) / 1000.0).powf(2.4)
}

#[test]
fn method_a_keeps_diffuse_light_and_moves_only_highlights_with_the_peak() {
    // #13 item 2: another peak used to multiply all light by peak/1000 (SDR mid-grey 4× brighter
    // at 4000 cd/m²). Now light up to reference white is the Recommendation's at every peak,
    // SDR white reaches the peak, the curve rises monotonically and has no kink at reference
    // white (its log-log slope is continuous), and a 1000 cd/m² peak is BT.2446 exactly.
    for reference in [203.0f32, 100.0] {
        for peak in [400.0f32, 600.0, 1000.0, 2000.0, 4000.0, 10000.0] {
            let p = ItmParams {
                method: ItmMethod::Bt2446A,
                input_encoding: InputEncoding::Bt1886,
                output_transfer: OutputTransfer::Pq,
                reference_white_nits: reference,
                peak_nits: peak,
                ..ItmParams::default()
            };
            let (reference, peak) = (reference as f64, peak as f64);
            let light = |code: f64| itm_display_light_reference(&p, [code; 3])[1];
            let n = 2000;
            let mut last = -1.0;
            for i in 0..=n {
                let code = i as f64 / n as f64;
                let (got, standard) = (light(code), bt2446a_grey_nits(code));
                assert!(got >= last, "{peak}: falls at code {code}");
                last = got;
                if standard <= reference || peak == 1000.0 {
                    assert!(
                        (got - standard).abs() <= 1e-9 * standard.max(1.0),
                        "ref {reference} peak {peak} code {code}: {got} vs BT.2446 {standard}"
                    );
                } else {
                    assert!(got > reference && got <= peak * (1.0 + 1e-12), "{got}");
                }
            }
            if peak != 1000.0 {
                assert!(
                    (light(1.0) / peak - 1.0).abs() < 1e-9,
                    "SDR white at {peak}"
                );
            }
            // Mid-grey (18 % SDR light, code 0.18^(1/2.4)) stays where BT.2446 puts it.
            let grey = 0.18f64.powf(1.0 / 2.4);
            assert!((light(grey) / bt2446a_grey_nits(grey) - 1.0).abs() < 1e-9);
            // No kink at reference white: d ln L / d ln L_1000 just above it is 1, as below.
            let mut lo = 0.0;
            let mut hi = 1.0;
            for _ in 0..80 {
                let mid = 0.5 * (lo + hi);
                if bt2446a_grey_nits(mid) < reference {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let (c0, c1) = (hi, hi + 1e-4);
            let slope =
                (light(c1) / light(c0)).ln() / (bt2446a_grey_nits(c1) / bt2446a_grey_nits(c0)).ln();
            assert!(
                (slope - 1.0).abs() < 0.01,
                "ref {reference} peak {peak}: log-log slope {slope} above reference white"
            );
        }
    }
}

#[test]
fn method_c_inverse_round_trips_through_the_forward_curve() {
    use method_c::*;
    // The forward curve of BT.2446 Method C maps 1000 cd/m² to 118.39 %.
    assert!((forward(HDR_PEAK) - 118.3868).abs() < 1e-3);
    assert!((inverse(Y_SDR_IP) - 69.807).abs() < 1e-3);
    let gap_top = forward(Y_HDR_IP);
    assert!(gap_top > Y_SDR_IP && gap_top < Y_SDR_IP + 0.05, "{gap_top}");
    for i in 0..=4000 {
        let y_sdr = 120.0 * i as f64 / 4000.0;
        if y_sdr >= Y_SDR_IP && y_sdr < gap_top {
            continue; // no HDR value maps into the gap the rounded constants leave
        }
        let back = forward(inverse(y_sdr));
        assert!((back - y_sdr).abs() < 1e-9, "{y_sdr} → {back}");
    }
}

/// The Report's inverse of Method C, written here from BT.2446-1 §6 alone (not from the op's
/// functions): SDR luminance in percent of SDR white → cd/m².
fn bt2446c_report_inverse(y_sdr_percent: f64) -> f64 {
    let (k1, k2, k3, k4) = (0.83802, 15.09968, 0.74204, 78.99439);
    let y_hdr_ip = 58.5 / k1;
    if y_sdr_percent <= 58.5 {
        y_sdr_percent / k1
    } else {
        (y_hdr_ip * (((y_sdr_percent - k4) / k2).exp() + k3)).max(y_hdr_ip)
    }
}

#[test]
fn method_c_is_the_reports_inverse_at_every_peak() {
    // BT.1886 codes → display light: BT.2446-1 §6 places HDR reference white (203 cd/m²) at
    // SDR 90.7 % (code ≈ 0.96) and SDR 100 % at ≈ 332 cd/m². Before, SDR white was read as
    // 118.39 % and scaled by peak/1000: codes 0.5/0.7/0.96/1.0 gave 26.8/60/508/1000 cd/m².
    let published = [(0.5, 22.6), (0.7, 50.7), (0.96, 203.0), (1.0, 332.0)];
    for peak in [400.0f32, 1000.0, 4000.0] {
        let p = ItmParams {
            input_encoding: InputEncoding::Bt1886,
            peak_nits: peak,
            ..params(ItmMethod::Bt2446C, OutputTransfer::SceneLinear)
        };
        for (code, nits) in published {
            let out = itm_display_light_reference(&p, [code; 3]);
            // Neutral in, neutral out: the crosstalk matrix keeps greys grey.
            let want = bt2446c_report_inverse(100.0 * f64::powf(code, 2.4));
            for v in out {
                assert!(
                    (v - want).abs() < 1e-6 * want,
                    "peak {peak} code {code}: {out:?} vs {want}"
                );
                assert!(
                    (v - nits).abs() < 0.01 * nits + 0.5,
                    "peak {peak} code {code}: {v} vs published ≈{nits}"
                );
            }
        }
    }
    // A colour cube against the formula applied to the crosstalked luminance.
    let p = ItmParams {
        input_encoding: InputEncoding::Linear,
        ..params(ItmMethod::Bt2446C, OutputTransfer::SceneLinear)
    };
    let a = 0.05;
    let luma = [0.2627, 0.6780, 0.0593];
    let m709_to_2020 = [
        [0.6274, 0.3293, 0.0433],
        [0.0691, 0.9195, 0.0114],
        [0.0164, 0.0880, 0.8956],
    ];
    for r in 0..=4 {
        for g in 0..=4 {
            for b in 0..=4 {
                let rgb = [r as f64 / 4.0, g as f64 / 4.0, b as f64 / 4.0];
                let s: Vec<f64> = (0..3)
                    .map(|i| (0..3).map(|j| m709_to_2020[i][j] * rgb[j]).sum())
                    .collect();
                let sum: f64 = s.iter().sum();
                let c: Vec<f64> = s.iter().map(|v| (1.0 - 3.0 * a) * v + a * sum).collect();
                let y: f64 = (0..3).map(|i| luma[i] * c[i]).sum();
                if y <= 0.0 {
                    continue;
                }
                let y_out: f64 = {
                    let out = itm_display_light_reference(&p, rgb);
                    (0..3).map(|i| luma[i] * out[i]).sum()
                };
                // Luminance after undoing the crosstalk: (1−3α)·Y·k + α·ΣY·k with k the gain;
                // the gain scales everything, so the output luminance is k·(luma·s).
                let k = bt2446c_report_inverse(100.0 * y) / y;
                let want: f64 = k * (0..3).map(|i| luma[i] * s[i]).sum::<f64>();
                assert!(
                    (y_out - want).abs() < 2e-3 * want.max(1.0),
                    "{rgb:?}: {y_out} vs {want}"
                );
            }
        }
    }
}

#[test]
fn display_referred_keeps_bt2408_below_the_knee_and_reaches_the_peak() {
    let p = ItmParams {
        input_encoding: InputEncoding::Linear,
        ..params(ItmMethod::DisplayReferred, OutputTransfer::SceneLinear)
    };
    for y in [0.0, 0.01, 0.18, 0.3, 0.5] {
        let l = itm_display_light_reference(&p, [y; 3]);
        assert!((l[0] - 203.0 * y).abs() < 1e-9, "{y}: {l:?}");
    }
    assert!((itm_display_light_reference(&p, [1.0; 3])[0] - 1000.0).abs() < 1e-9);
    // Scene-linear: reference white is 1.0 (or what the user sets).
    let out = itm_pixel_reference(&p, [0.5; 3]);
    assert!((out[0] - 0.5).abs() < 1e-9);
    let q = ItmParams {
        linear_reference_white: 0.18 / 0.2,
        ..p
    };
    assert!((itm_pixel_reference(&q, [0.5; 3])[0] - 0.45).abs() < 1e-7); // 0.9 is inexact in f32
                                                                         // C1 at the knee: one-sided slopes agree.
    let h = 1e-6;
    let k = DISPLAY_REFERRED_KNEE;
    let left =
        (display_referred_nits(k, 203.0, 1000.0) - display_referred_nits(k - h, 203.0, 1000.0)) / h;
    let right =
        (display_referred_nits(k + h, 203.0, 1000.0) - display_referred_nits(k, 203.0, 1000.0)) / h;
    assert!((left - right).abs() < 1e-3 * left, "{left} vs {right}");
}

#[test]
fn bt1886_and_srgb_inputs_decode_per_their_standards() {
    // With mix = 0 the output is reference white × decoded light: read the decoding back.
    for (enc, code, linear) in [
        (InputEncoding::Srgb, 0.5, 0.214_041),
        (InputEncoding::Bt1886, 0.5, 0.189_465),
        (InputEncoding::Linear, 0.5, 0.5),
    ] {
        let p = ItmParams {
            input_encoding: enc,
            mix: 0.0,
            ..params(ItmMethod::DisplayReferred, OutputTransfer::SceneLinear)
        };
        let got = itm_pixel_reference(&p, [code; 3])[0];
        assert!((got - linear).abs() < 1e-6, "{enc:?}: {got}");
        let fast = prepared(&p).apply_rgb([code as f32; 3])[0];
        assert!((fast as f64 - linear).abs() < 1e-6, "{enc:?} fast: {fast}");
    }
}

#[test]
fn output_primaries_keep_neutrals_neutral_and_convert_colour() {
    for prim in OutputPrimaries::ALL.iter().copied() {
        for transfer in OutputTransfer::ALL.iter().copied() {
            let p = ItmParams {
                output_primaries: prim,
                ..params(ItmMethod::DisplayReferred, transfer)
            };
            let o = itm_pixel_reference(&p, [0.8; 3]);
            assert!(
                (o[0] - o[1]).abs() < 1e-9 && (o[1] - o[2]).abs() < 1e-9,
                "{prim:?} {transfer:?} {o:?}"
            );
        }
    }
    // Pure Rec.709 red in Rec.709 linear output comes back as pure red (no other channel).
    let p = ItmParams {
        output_primaries: OutputPrimaries::Rec709,
        input_encoding: InputEncoding::Linear,
        mix: 0.0,
        ..params(ItmMethod::DisplayReferred, OutputTransfer::SceneLinear)
    };
    let o = itm_pixel_reference(&p, [1.0, 0.0, 0.0]);
    assert!(
        (o[0] - 1.0).abs() < 1e-9 && o[1].abs() < 1e-9 && o[2].abs() < 1e-9,
        "{o:?}"
    );
}

// ----- controls ------------------------------------------------------------------------------

#[test]
fn highlight_boost_keeps_reference_white_and_peak_and_stays_monotonic() {
    let (r, peak) = (203.0, 1000.0);
    for boost in [-1.0, -0.5, 0.5, 1.0] {
        assert_eq!(highlight_nits(r, r, peak, boost), r);
        assert!((highlight_nits(peak, r, peak, boost) - peak).abs() < 1e-9);
        let mut last = 0.0;
        for i in 1..=2000 {
            let y = peak * 1.2 * i as f64 / 2000.0;
            let h = highlight_nits(y, r, peak, boost);
            assert!(h >= last, "boost {boost} not monotonic at {y}");
            last = h;
        }
        // Slope at reference white is 1 from above (C1 with the identity below).
        let d = (highlight_nits(r * (1.0 + 1e-7), r, peak, boost) - r) / (r * 1e-7);
        assert!((d - 1.0).abs() < 1e-4, "{boost}: {d}");
    }
    // Positive boost brightens a highlight, negative darkens it.
    assert!(highlight_nits(500.0, r, peak, 0.5) > 500.0);
    assert!(highlight_nits(500.0, r, peak, -0.5) < 500.0);
    // Through the op: SDR white (at the peak) does not move, a highlight does.
    let base = params(ItmMethod::DisplayReferred, OutputTransfer::SceneLinear);
    let boosted = ItmParams {
        highlight_boost: 0.8,
        ..base
    };
    let hi = [0.9; 3];
    assert!(itm_pixel_reference(&boosted, hi)[0] > itm_pixel_reference(&base, hi)[0] * 1.01);
    assert!(
        (itm_pixel_reference(&boosted, [1.0; 3])[0] - itm_pixel_reference(&base, [1.0; 3])[0])
            .abs()
            < 1e-9
    );
}

#[test]
fn saturation_zero_is_monochrome_and_two_increases_chroma_at_equal_luminance() {
    let base = params(ItmMethod::DisplayReferred, OutputTransfer::SceneLinear);
    let colour = [0.8, 0.4, 0.2];
    let luma = gamut::luminance_weights(&gamut::REC2020);
    let orig = itm_display_light_reference(&base, colour);
    let grey = itm_display_light_reference(
        &ItmParams {
            saturation: 0.0,
            ..base
        },
        colour,
    );
    let vivid = itm_display_light_reference(
        &ItmParams {
            saturation: 2.0,
            ..base
        },
        colour,
    );
    assert!((grey[0] - grey[1]).abs() < 1e-9 && (grey[1] - grey[2]).abs() < 1e-9);
    for v in [grey, vivid] {
        assert!((dot(luma, v) - dot(luma, orig)).abs() < 1e-9);
    }
    let y = dot(luma, orig);
    assert!(((vivid[0] - y) - 2.0 * (orig[0] - y)).abs() < 1e-9);
}

#[test]
fn neutral_controls_leave_the_method_untouched() {
    // The neutral values must switch their steps off entirely (not just nearly).
    let p = ItmParams::default();
    assert_eq!((p.highlight_boost, p.saturation, p.mix), (0.0, 1.0, 1.0));
    let c = *prepared(&p).constants();
    assert_eq!(
        (c.apply_highlight, c.apply_saturation, c.apply_mix),
        (0, 0, 0)
    );
    for method in every_method() {
        let p = params(method, OutputTransfer::SceneLinear);
        let s = gamut::mat_vec(
            &p.input_to_bt2020(),
            [0.9, 0.5, 0.1].map(transfer::srgb_eotf),
        );
        let want = ItmReference::new(&p).expand(s);
        let got = itm_display_light_reference(&p, [0.9, 0.5, 0.1]);
        assert_eq!(got, want, "{method:?}");
    }
}

#[test]
fn mix_blends_linear_light_with_the_unexpanded_plate() {
    let full = params(ItmMethod::Bt2446A, OutputTransfer::SceneLinear);
    let none = ItmParams { mix: 0.0, ..full };
    let half = ItmParams { mix: 0.5, ..full };
    let rgb = [0.7, 0.6, 0.3];
    let (a, b, m) = (
        itm_display_light_reference(&full, rgb),
        itm_display_light_reference(&none, rgb),
        itm_display_light_reference(&half, rgb),
    );
    for c in 0..3 {
        assert!((m[c] - 0.5 * (a[c] + b[c])).abs() < 1e-9);
    }
}

// ----- fast path against the reference --------------------------------------------------------

/// Compares outputs as signals: PQ/HLG directly; scene-linear as PQ of the absolute light
/// (sign kept), so every output is judged on the same perceptual scale.
fn signal_error(p: &ItmParams, fast: [f32; 3], reference: [f64; 3]) -> f64 {
    let to_signal = |v: f64| match p.output_transfer {
        OutputTransfer::SceneLinear => {
            let nits = v * p.reference_white_nits as f64 / p.linear_reference_white as f64;
            pq_inverse_eotf(nits.abs()).copysign(nits)
        }
        _ => v,
    };
    (0..3)
        .map(|c| (to_signal(fast[c] as f64) - to_signal(reference[c])).abs())
        .fold(0.0, f64::max)
}

/// Every option, a 17³ cube plus a fine neutral ramp and near-black values.
fn sweep_inputs() -> Vec<[f64; 3]> {
    let n = 16;
    let mut v = Vec::new();
    for r in 0..=n {
        for g in 0..=n {
            for b in 0..=n {
                v.push([r, g, b].map(|i| i as f64 / n as f64));
            }
        }
    }
    for i in 0..=1024 {
        let x = i as f64 / 1024.0;
        v.push([x; 3]);
        v.push([x, x * 0.5, x * 0.1]);
    }
    for e in 1..=12 {
        v.push([10f64.powi(-e); 3]);
    }
    // Out of the SDR range (float plates): clamped, NaN read as 0.
    v.push([1.5, 0.5, -0.2]);
    v.push([f64::NAN, 0.3, 2.0]);
    v.push([1e9, -1e9, f64::INFINITY]);
    v
}

/// Every combination of method, output transfer, input encoding and output primaries, at three
/// peaks, with the given control settings `(highlight_boost, saturation, mix)`.
fn every_option(primaries: &[OutputPrimaries], controls: &[(f32, f32, f32)]) -> Vec<ItmParams> {
    let mut all = Vec::new();
    for method in every_method() {
        for transfer in OutputTransfer::ALL.iter().copied() {
            for enc in InputEncoding::ALL.iter().copied() {
                for prim in primaries.iter().copied() {
                    for peak in [600.0, 1000.0, 4000.0] {
                        for &(boost, sat, mix) in controls {
                            all.push(ItmParams {
                                method,
                                output_transfer: transfer,
                                input_encoding: enc,
                                output_primaries: prim,
                                highlight_boost: boost,
                                saturation: sat,
                                mix,
                                peak_nits: peak,
                                ..ItmParams::default()
                            });
                        }
                    }
                }
            }
        }
    }
    all
}

#[test]
fn fast_path_matches_the_reference_within_1e4_signal() {
    // Bound: 1e-4 in PQ/HLG signal per channel, under half a 12-bit code step (1.2e-4): the
    // tables cannot move a 12-bit quantised output by more than one code. Checked in Rec.2020
    // with the controls set one at a time. Wider-to-narrower output primaries and saturation
    // above 1 can cancel a channel to near black (0.01 cd/m² left of a 500 cd/m² colour), where
    // a 1e-5 relative error of the tables becomes a visible-looking signal difference in that
    // channel alone; there the ΔE_ITP test below is the criterion.
    let controls = [
        (0.0, 1.0, 1.0),
        (0.7, 1.0, 1.0),
        (-0.6, 1.0, 1.0),
        (0.0, 0.3, 1.0),
        (0.0, 1.0, 0.6),
    ];
    let inputs = sweep_inputs();
    let inputs_f32: Vec<[f32; 3]> = inputs.iter().map(|c| c.map(|v| v as f32)).collect();
    let options = every_option(&[OutputPrimaries::Rec2020], &controls);
    // Millions of f64 reference evaluations: one option set per rayon task.
    let worst = options
        .par_iter()
        .map(|p| {
            let fast = prepared(p).apply_rgbs(&inputs_f32);
            let reference = ItmReference::new(p);
            let mut worst = 0.0f64;
            for (rgb, &f) in inputs.iter().zip(&fast) {
                let r = reference.pixel(*rgb);
                let e = signal_error(p, f, r);
                assert!(e <= 1e-4, "{p:?} {rgb:?}: fast {f:?} ref {r:?} err {e}");
                worst = worst.max(e);
            }
            worst
        })
        .reduce(|| 0.0, f64::max);
    let cases = options.len() * inputs.len();
    eprintln!("fast vs reference: {cases} cases, worst signal error {worst:.2e}");
}

/// Output values back to linear BT.2020 display light in cd/m², to compare in ICtCp (the
/// matrices worked out once per parameter set).
struct OutputToBt2020Nits {
    params: ItmParams,
    output_luma: [f64; 3],
    to_bt2020: gamut::Mat3,
}

impl OutputToBt2020Nits {
    fn new(p: &ItmParams) -> Self {
        OutputToBt2020Nits {
            params: *p,
            output_luma: gamut::luminance_weights(p.output_primaries.space()),
            to_bt2020: gamut::rgb_to_rgb_matrix(p.output_primaries.space(), &gamut::REC2020),
        }
    }

    fn nits(&self, out: [f64; 3]) -> [f64; 3] {
        let p = &self.params;
        let light = match p.output_transfer {
            OutputTransfer::Pq => out.map(pq_eotf),
            OutputTransfer::Hlg => transfer::hlg_ootf(
                out.map(transfer::hlg_inverse_oetf),
                p.peak_nits as f64,
                self.output_luma,
            ),
            OutputTransfer::SceneLinear => {
                out.map(|v| v * p.reference_white_nits as f64 / p.linear_reference_white as f64)
            }
        };
        gamut::mat_vec(&self.to_bt2020, light)
    }
}

#[test]
fn fast_path_is_within_a_tenth_of_a_jnd_in_delta_e_itp() {
    // The same comparison in perceptual units (BT.2124; 1 ≈ one just-noticeable difference),
    // for every output gamut and with the controls combined as a grader would set them.
    let controls = [
        (0.0, 1.0, 1.0),
        (0.7, 1.4, 0.6),
        (-0.6, 0.3, 0.8),
        (1.0, 2.0, 0.3),
    ];
    let inputs = sweep_inputs();
    let inputs_f32: Vec<[f32; 3]> = inputs.iter().map(|c| c.map(|v| v as f32)).collect();
    let worst = every_option(OutputPrimaries::ALL, &controls)
        .par_iter()
        .map(|p| {
            let fast = prepared(p).apply_rgbs(&inputs_f32);
            let reference = ItmReference::new(p);
            let to_nits = OutputToBt2020Nits::new(p);
            let mut worst = 0.0f64;
            for (rgb, f) in inputs.iter().zip(fast) {
                let r = to_nits.nits(reference.pixel(*rgb));
                let f = to_nits.nits(f.map(f64::from));
                let de = delta_e_itp(ictcp_from_bt2020_nits(r), ictcp_from_bt2020_nits(f));
                assert!(de < 0.1, "{p:?} {rgb:?}: ΔE_ITP {de}");
                worst = worst.max(de);
            }
            worst
        })
        .reduce(|| 0.0, f64::max);
    eprintln!("worst ΔE_ITP {worst:.3}");
}

#[test]
fn every_method_is_monotonic_along_the_neutral_axis() {
    for method in every_method() {
        for transfer in OutputTransfer::ALL.iter().copied() {
            for enc in InputEncoding::ALL.iter().copied() {
                for boost in [0.0, 1.0, -1.0] {
                    let p = ItmParams {
                        method,
                        output_transfer: transfer,
                        input_encoding: enc,
                        highlight_boost: boost,
                        ..ItmParams::default()
                    };
                    let ramp: Vec<[f32; 3]> = (0..=4096).map(|i| [i as f32 / 4096.0; 3]).collect();
                    let fast = prepared(&p).apply_rgbs(&ramp);
                    let reference = ItmReference::new(&p);
                    let (mut last_r, mut last_f) = (f64::MIN, f32::MIN);
                    for (i, f) in fast.iter().enumerate() {
                        let x = i as f64 / 4096.0;
                        let r = reference.pixel([x; 3])[1];
                        let f = f[1];
                        assert!(r >= last_r, "{p:?}: reference falls at {x}: {r} < {last_r}");
                        // The fast path is within ~1.4e-5 of this monotonic reference (see
                        // the sweep test), so where the curve is flat (highlight boost 1 makes
                        // it level at the peak) its own noise may show; it must never step
                        // back by more than that scale.
                        let slack = 2e-5 * last_f.abs().max(1.0);
                        assert!(
                            f >= last_f - slack,
                            "{p:?}: fast falls at {x}: {f} < {last_f}"
                        );
                        last_r = r;
                        last_f = f.max(last_f);
                    }
                    assert!(
                        last_r > itm_pixel_reference(&p, [0.0; 3])[1],
                        "{p:?} is flat"
                    );
                }
            }
        }
    }
}

// ----- parameters ----------------------------------------------------------------------------

#[test]
fn validation_names_the_fix() {
    let bad = ItmParams {
        peak_nits: 150.0,
        ..ItmParams::default()
    };
    match ItmPrepared::new(&bad) {
        Err(OpError::InvalidParam(m)) => {
            assert!(
                m.contains("below the reference white") && m.contains("raise the peak"),
                "{m}"
            )
        }
        other => panic!("expected InvalidParam, got {other:?}"),
    }
    for bad in [
        ItmParams {
            saturation: f32::NAN,
            ..ItmParams::default()
        },
        ItmParams {
            mix: 1.5,
            ..ItmParams::default()
        },
        ItmParams {
            highlight_boost: -2.0,
            ..ItmParams::default()
        },
        ItmParams {
            peak_nits: 20_000.0,
            ..ItmParams::default()
        },
        ItmParams {
            reference_white_nits: 0.0,
            ..ItmParams::default()
        },
        ItmParams {
            linear_reference_white: 0.0,
            ..ItmParams::default()
        },
    ] {
        assert!(
            matches!(bad.validate(), Err(OpError::InvalidParam(_))),
            "{bad:?}"
        );
    }
    assert_eq!(ItmParams::default().validate(), Ok(()));
    // peak == reference white is allowed: nothing to expand, the highlight step switches off.
    let flat = ItmParams {
        peak_nits: 203.0,
        highlight_boost: 1.0,
        ..ItmParams::default()
    };
    assert_eq!(prepared(&flat).constants().apply_highlight, 0);
}

#[test]
fn choice_enums_have_stable_indices() {
    assert_eq!(
        InputEncoding::ALL,
        &[
            InputEncoding::Srgb,
            InputEncoding::Bt1886,
            InputEncoding::Linear
        ]
    );
    assert_eq!(
        ItmMethod::ALL,
        &[
            ItmMethod::Bt2446A,
            ItmMethod::Bt2446C,
            ItmMethod::DisplayReferred
        ]
    );
    assert_eq!(
        OutputTransfer::ALL,
        &[
            OutputTransfer::Pq,
            OutputTransfer::Hlg,
            OutputTransfer::SceneLinear
        ]
    );
    assert_eq!(
        OutputPrimaries::ALL,
        &[
            OutputPrimaries::Rec2020,
            OutputPrimaries::P3D65,
            OutputPrimaries::Rec709,
            OutputPrimaries::AcesCg
        ]
    );
    assert_eq!(InputPrimaries::ALL, &[InputPrimaries::Rec709]);
    for (i, m) in ItmMethod::ALL.iter().enumerate() {
        assert_eq!(*m as u32, i as u32);
        assert_eq!(ItmMethod::from_index(i as u32), Some(*m));
    }
    for (i, m) in OutputPrimaries::ALL.iter().enumerate() {
        assert_eq!(*m as u32, i as u32);
    }
    assert_eq!(OutputTransfer::from_index(3), None);
    assert!(OutputPrimaries::ALL.iter().all(|p| !p.label().is_empty()));
}

// ----- images ----------------------------------------------------------------------------------

fn test_frame(bounds: Rect) -> ImageBuf {
    ImageBuf::from_fn(bounds, |x, y| {
        let a = ((x * 7 + y * 3).rem_euclid(11)) as f32 / 10.0;
        [
            ((x * 13 + y).rem_euclid(17)) as f32 / 16.0,
            ((x + y * 5).rem_euclid(19)) as f32 / 18.0,
            ((x * 3 + y * 11).rem_euclid(23)) as f32 / 22.0,
            a,
        ]
    })
}

#[test]
fn alpha_passes_and_premultiplied_colour_is_processed_unpremultiplied() {
    let b = Rect::new(-3, 2, 29, 19);
    let src = test_frame(b);
    for premultiplied in [false, true] {
        let p = ItmParams {
            premultiplied,
            method: ItmMethod::Bt2446A,
            ..ItmParams::default()
        };
        let fast = prepared(&p);
        let mut dst = ImageBuf::from_fn(b, |_, _| [0.0; 4]);
        run_cpu(&p, &src.view(), &dst.view_mut(), b, &NeverAbort).unwrap();
        for y in b.y1..b.y2 {
            for x in b.x1..b.x2 {
                let s = src.pixel(x, y);
                let d = dst.pixel(x, y);
                assert_eq!(d[3], s[3], "alpha changed at ({x},{y})");
                let want = if !premultiplied {
                    itm_pixel_reference(&p, [s[0], s[1], s[2]].map(f64::from))
                } else if s[3] == 0.0 {
                    [0.0; 3]
                } else {
                    let a = s[3] as f64;
                    itm_pixel_reference(&p, [s[0], s[1], s[2]].map(|v| v as f64 / a)).map(|v| v * a)
                };
                for c in 0..3 {
                    assert!(
                        (d[c] as f64 - want[c]).abs() < 1e-4,
                        "premult={premultiplied} ({x},{y}) c{c}: {} vs {}",
                        d[c],
                        want[c]
                    );
                }
                assert_eq!(&d[..3], &fast.apply_pixel(s)[..3]);
            }
        }
    }
}

#[test]
fn every_depth_and_component_set_through_the_views_honouring_the_window() {
    let b = Rect::new(-5, -4, 21, 14);
    let window = Rect::new(-2, 0, 15, 9);
    let p = ItmParams {
        output_transfer: OutputTransfer::Hlg,
        ..ItmParams::default()
    };
    let fast = prepared(&p);
    let src_f = test_frame(b);
    for depth in PixelDepth::ALL {
        for comps in Components::ALL {
            let src = ImageBuf::new(b, depth, comps, 8, true);
            src.fill_with(|x, y| src_f.pixel(x, y));
            let mut dst = ImageBuf::new(b, depth, comps, 0, false);
            let sentinel = [0.25, 0.5, 0.75, 0.125];
            dst.fill_with(|_, _| sentinel);
            let before = dst.to_rgba_f32();
            run_cpu(&p, &src.view(), &dst.view_mut(), window, &NeverAbort).unwrap();
            let tol = match depth {
                PixelDepth::U8 => 0.5 / 255.0 + 1e-6,
                PixelDepth::U16 => 0.5 / 65535.0 + 1e-6,
                PixelDepth::F16 => 1e-3,
                PixelDepth::F32 => 0.0,
            };
            for y in b.y1..b.y2 {
                for x in b.x1..b.x2 {
                    let got = dst.pixel(x, y);
                    let inside = x >= window.x1 && x < window.x2 && y >= window.y1 && y < window.y2;
                    if !inside {
                        let i = ((y - b.y1) * b.width() + (x - b.x1)) as usize;
                        assert_eq!(
                            got, before[i],
                            "{depth:?} {comps:?} ({x},{y}) outside the window changed"
                        );
                        continue;
                    }
                    let want = fast.apply_pixel(src.pixel(x, y));
                    let want = match comps {
                        Components::Rgba => want,
                        Components::Rgb => [want[0], want[1], want[2], 1.0],
                        Components::Alpha => [0.0, 0.0, 0.0, src.pixel(x, y)[3]],
                    };
                    for c in 0..4 {
                        assert!(
                            (got[c] - want[c]).abs() <= tol,
                            "{depth:?} {comps:?} ({x},{y}) c{c}: {} vs {}",
                            got[c],
                            want[c]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn result_does_not_depend_on_how_the_frame_is_split() {
    let b = Rect::new(0, 0, 40, 70);
    let src = test_frame(b);
    let p = ItmParams {
        premultiplied: true,
        highlight_boost: 0.4,
        ..ItmParams::default()
    };
    let mut whole = ImageBuf::from_fn(b, |_, _| [0.0; 4]);
    run_cpu(&p, &src.view(), &whole.view_mut(), b, &NeverAbort).unwrap();
    let mut tiled = ImageBuf::from_fn(b, |_, _| [0.0; 4]);
    for (x1, x2) in [(0, 13), (13, 40)] {
        for (y1, y2) in [(0, 33), (33, 70)] {
            run_cpu(
                &p,
                &src.view(),
                &tiled.view_mut(),
                Rect::new(x1, y1, x2, y2),
                &NeverAbort,
            )
            .unwrap();
        }
    }
    assert!(whole.to_rgba_f32() == tiled.to_rgba_f32());
}

#[test]
fn invalid_params_and_abort_are_reported() {
    let b = Rect::new(0, 0, 8, 64);
    let src = test_frame(b);
    let mut dst = src.clone();
    let bad = ItmParams {
        peak_nits: 100.0,
        ..ItmParams::default()
    };
    assert!(matches!(
        run_cpu(&bad, &src.view(), &dst.view_mut(), b, &NeverAbort),
        Err(OpError::InvalidParam(_))
    ));
    assert_eq!(
        run_cpu(
            &ItmParams::default(),
            &src.view(),
            &dst.view_mut(),
            b,
            &|| true
        ),
        Err(OpError::Aborted)
    );
}

#[test]
fn every_code_path_gives_bit_identical_pixels() {
    // The portable row loop (8 lanes), the single-pixel path, and on x86-64 the AVX2 build
    // (groups of 64 pixels) must agree to the bit, or a farm mixing CPUs (or a host tiling
    // differently) would flicker. 1003 pixels end both loops with a padded partial vector
    // (1003 = 15·64 + 43 = 125·8 + 3), and a single pixel is a vector of padding but one.
    let row: Vec<[f32; 4]> = (0..1003)
        .map(|i| {
            let f = i as f32 / 1002.0;
            let odd = match i % 97 {
                0 => f32::NAN,
                1 => -0.5,
                2 => 1.7,
                3 => 1e-9,
                4 => f32::INFINITY,
                _ => f,
            };
            [
                odd,
                (f * 7.3).fract(),
                (f * 3.1 + 0.2).fract(),
                (f * 5.7).fract(),
            ]
        })
        .collect();
    let controls = [(0.0, 1.0, 1.0), (0.3, 1.2, 0.9), (-0.5, 0.0, 0.0)];
    for input_encoding in InputEncoding::ALL.iter().copied() {
        for method in every_method() {
            for transfer in OutputTransfer::ALL.iter().copied() {
                for (i, &(highlight_boost, saturation, mix)) in controls.iter().enumerate() {
                    let p = ItmParams {
                        input_encoding,
                        method,
                        output_transfer: transfer,
                        premultiplied: i % 2 == 1,
                        highlight_boost,
                        saturation,
                        mix,
                        ..ItmParams::default()
                    };
                    let fast = prepared(&p);
                    let mut portable = vec![[0.0; 4]; row.len()];
                    fast.apply_row_portable(&row, &mut portable);
                    for (px, got) in row.iter().zip(&portable) {
                        let one = fast.apply_pixel(*px);
                        assert_eq!(got.map(f32::to_bits), one.map(f32::to_bits), "{p:?} {px:?}");
                        if !p.premultiplied {
                            let rgb = fast.apply_rgb([px[0], px[1], px[2]]);
                            assert_eq!(rgb.map(f32::to_bits), [0, 1, 2].map(|c| got[c].to_bits()));
                        }
                    }
                    #[cfg(target_arch = "x86_64")]
                    if cpu_has_avx2() {
                        let mut avx2 = vec![[0.0; 4]; row.len()];
                        // SAFETY: AVX2 support was just detected.
                        unsafe { fast.apply_row_avx2(&row, &mut avx2) };
                        for (i, (a, b)) in avx2.iter().zip(&portable).enumerate() {
                            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "{p:?} at {i}");
                        }
                    }
                }
            }
        }
    }
}
