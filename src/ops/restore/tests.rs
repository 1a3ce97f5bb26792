use super::*;
use crate::image::{Components, ImageBuf, PixelDepth};
use crate::nn::cpu::{Kernels, RunOptions};
use crate::nn::tests::{model_bytes, Arch, Rng};
use crate::ops::NeverAbort;
use std::sync::Arc;

fn small_model(seed: u64) -> Arc<Model> {
    let arch = Arch {
        scale: 1,
        channels: 8,
        body: 2,
        skip: "identity",
        ..Arch::X2
    };
    Arc::new(Model::from_bytes(&model_bytes(arch, seed)).unwrap())
}

/// A restorer on 2×2 blocks, as the shipped one runs (its halo is whole blocks).
fn small_unshuffled_model(seed: u64) -> Arc<Model> {
    let arch = Arch {
        channels: 8,
        ..Arch::RESTORE_U2
    };
    Arc::new(Model::from_bytes(&model_bytes(arch, seed)).unwrap())
}

fn render_to(
    p: &RestoreParams,
    model: Option<&Model>,
    src: &ImageBuf,
    frame: Rect,
    window: Rect,
    tile: usize,
) -> ImageBuf {
    let mut dst = ImageBuf::new(window, PixelDepth::F32, Components::Rgba, 0, false);
    let options = RunOptions {
        tile,
        kernels: Kernels::detect(),
    };
    render(
        p,
        model,
        &src.view(),
        frame,
        &dst.view_mut(),
        window,
        NetDevice::Cpu(options),
        &NeverAbort,
        &|_| {},
    )
    .unwrap();
    dst
}

fn pixels(img: &ImageBuf, r: Rect) -> Vec<[f32; 4]> {
    let mut out = Vec::new();
    for y in r.y1..r.y2 {
        for x in r.x1..r.x2 {
            out.push(img.pixel(x, y));
        }
    }
    out
}

fn textured(frame: Rect, seed: u64) -> ImageBuf {
    let mut rng = Rng::new(seed);
    let noise: Vec<f32> = (0..frame.pixel_count() * 3)
        .map(|_| rng.symmetric())
        .collect();
    let w = frame.width();
    ImageBuf::from_fn(frame, move |x, y| {
        let i = ((y - frame.y1) * w + (x - frame.x1)) as usize * 3;
        let e = if (x / 6 + y / 9) % 2 == 0 { 0.2 } else { 0.0 };
        [
            0.3 + e + 0.1 * noise[i],
            0.4 + 0.2 * (x as f32 * 0.1).sin() + 0.05 * noise[i + 1],
            0.5 - e + 0.1 * noise[i + 2],
            0.25 + 0.5 * ((x + y) % 3) as f32 / 2.0,
        ]
    })
}

fn psnr(a: &[[f32; 4]], b: &[[f32; 4]]) -> f64 {
    let mse: f64 = a
        .iter()
        .zip(b)
        .flat_map(|(p, q)| (0..3).map(move |c| ((p[c] - q[c]) as f64).powi(2)))
        .sum::<f64>()
        / (a.len() * 3) as f64;
    10.0 * (1.0 / mse.max(1e-20)).log10()
}

#[test]
fn tiles_windows_and_cropped_sources_give_the_full_frame_bit_for_bit() {
    let frame = Rect::new(-3, 5, 61, 47);
    let src = textured(frame, 1);
    for model in [small_model(3), small_unshuffled_model(3)] {
        tiles_and_windows_agree(&model, &src, frame);
    }
    // Odd sides: a flipped frame puts the partial 2×2 blocks at the other edge, so the
    // ensemble's block grids differ; the halo's spare u − 1 pixels still cover them.
    let odd = Rect::new(-3, 5, 60, 46);
    tiles_and_windows_agree(&small_unshuffled_model(4), &textured(odd, 2), odd);
}

fn tiles_and_windows_agree(model: &Model, src: &ImageBuf, frame: Rect) {
    let runs = [
        (Method::Neural, 1),
        (Method::Neural, 4),
        (Method::Classical, 1),
    ];
    for (method, orientations) in runs {
        for output in Output::ALL {
            let p = RestoreParams {
                method,
                orientations,
                strength: 0.8,
                detail: 0.5,
                deband: Some(DebandParams {
                    radius: 6.0,
                    threshold: 0.05,
                    dither: 0.002,
                    ..DebandParams::default()
                }),
                output,
                premultiplied: true,
                frame: 4.0,
                ..RestoreParams::default()
            };
            let full = render_to(&p, Some(model), src, frame, frame, 256);
            for (w, tile) in [
                (Rect::new(2, 9, 33, 30), 16),
                (Rect::new(60, 46, 61, 47), 5),
                (Rect::new(-3, 20, 61, 21), 64),
            ] {
                let roi = p.region_of_interest(Some(model), frame, w);
                let cropped = ImageBuf::from_fn(roi, |x, y| src.pixel(x, y));
                let part = render_to(&p, Some(model), &cropped, frame, w, tile);
                assert_eq!(
                    pixels(&part, w),
                    pixels(&full, w),
                    "u{} {method:?} ×{orientations} {output:?} {w:?}",
                    model.spec.unshuffle
                );
            }
        }
    }
}

#[test]
fn strength_zero_is_the_plate_and_the_residual_adds_back_to_it() {
    let frame = Rect::new(0, 0, 40, 30);
    let src = textured(frame, 2);
    let model = small_model(4);
    let plate = RestoreParams {
        strength: 0.0,
        deband: None,
        ..RestoreParams::default()
    };
    assert!(plate.is_identity());
    let out = render_to(&plate, Some(&model), &src, frame, frame, 256);
    assert_eq!(out.to_rgba_f32(), src.to_rgba_f32());
    for method in Method::ALL {
        let p = RestoreParams {
            method,
            ..RestoreParams::default()
        };
        let restored = render_to(&p, Some(&model), &src, frame, frame, 256).to_rgba_f32();
        let residual = render_to(
            &RestoreParams {
                output: Output::Residual,
                ..p.clone()
            },
            Some(&model),
            &src,
            frame,
            frame,
            256,
        )
        .to_rgba_f32();
        for ((r, d), s) in restored.iter().zip(&residual).zip(src.to_rgba_f32()) {
            assert_eq!(r[3], s[3], "alpha untouched");
            for c in 0..3 {
                assert!(
                    (r[c] + d[c] - s[c]).abs() < 1e-6,
                    "restored + residual = plate"
                );
            }
        }
    }
}

#[test]
fn strength_and_detail_follow_their_formulas() {
    // Against the network's own output R (Strength 1, Detail 0) and the plate I, computed
    // here: Strength s gives S = I + s·(R − I); Detail d adds d·fine(I − S), fine(x) = x minus
    // its 3×3 mean clipped to the frame. Straight alpha, so colour is what the stages made.
    let frame = Rect::new(-2, 3, 30, 27);
    let src = textured(frame, 5);
    let model = small_model(6);
    for method in Method::ALL {
        let at = |strength: f32, detail: f32| {
            let p = RestoreParams {
                method,
                strength,
                detail,
                deband: None,
                ..RestoreParams::default()
            };
            render_to(&p, Some(&model), &src, frame, frame, 16)
        };
        let (r, plate) = (at(1.0, 0.0), &src);
        let w = frame.width();
        let idx = |x: i32, y: i32| ((y - frame.y1) * w + (x - frame.x1)) as usize;
        let (r, i) = (r.to_rgba_f32(), plate.to_rgba_f32());
        for s in [0.4f32, 1.7] {
            let got = at(s, 0.0).to_rgba_f32();
            let strong: Vec<[f32; 3]> = match method {
                Method::Neural => i
                    .iter()
                    .zip(&r)
                    .map(|(i, r)| std::array::from_fn(|c| i[c] + s * (r[c] - i[c])))
                    .collect(),
                // The classical mode's threshold itself scales with Strength, so its S is
                // taken as rendered; Detail is checked on top of it below.
                Method::Classical => got.iter().map(|g| [g[0], g[1], g[2]]).collect(),
            };
            for (g, want) in got.iter().zip(&strong) {
                for c in 0..3 {
                    assert!((g[c] - want[c]).abs() < 1e-6, "{method:?} strength {s}");
                }
            }
            let d = 0.6;
            let got = at(s, d).to_rgba_f32();
            for y in frame.y1..frame.y2 {
                for x in frame.x1..frame.x2 {
                    for c in 0..3 {
                        let removed = |x: i32, y: i32| i[idx(x, y)][c] - strong[idx(x, y)][c];
                        let (mut sum, mut n) = (0.0, 0.0);
                        for yy in (y - 1).max(frame.y1)..(y + 2).min(frame.y2) {
                            for xx in (x - 1).max(frame.x1)..(x + 2).min(frame.x2) {
                                sum += removed(xx, yy);
                                n += 1.0;
                            }
                        }
                        let want = strong[idx(x, y)][c] + d * (removed(x, y) - sum / n);
                        let g = got[idx(x, y)][c];
                        assert!(
                            (g - want).abs() < 1e-5,
                            "{method:?} strength {s} detail {d} at {x},{y}: {g} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

/// A banding metric: along the rows of a smooth horizontal ramp, the largest step between
/// neighbours and the share of neighbours that are equal (flat runs = bands).
fn banding(img: &ImageBuf, rows: std::ops::Range<i32>, x1: i32, x2: i32) -> (f32, f64) {
    let (mut step, mut flat, mut n) = (0.0f32, 0usize, 0usize);
    for y in rows {
        for x in x1..x2 - 1 {
            let (a, b) = (img.pixel(x, y)[1], img.pixel(x + 1, y)[1]);
            step = step.max((a - b).abs());
            flat += ((a - b).abs() < 0.01 / 255.0) as usize;
            n += 1;
        }
    }
    (step, flat as f64 / n as f64)
}

#[test]
fn deband_removes_steps_from_gradients_and_keeps_edges() {
    // A slow ramp quantised to steps of 3 codes (what 8-bit compression leaves in skies), with
    // a hard edge of 0.3 at x = 128.
    let frame = Rect::new(0, 0, 256, 48);
    let q = 3.0 / 255.0;
    let ramp = |x: i32| 0.2 + 0.15 * x as f32 / 256.0;
    let src = ImageBuf::from_fn(frame, |x, _| {
        let v = (ramp(x) / q).round() * q + if x >= 128 { 0.3 } else { 0.0 };
        [v, v, v, 1.0]
    });
    let rms_vs_ramp = |img: &ImageBuf| {
        let mut e = 0.0f64;
        let mut n = 0;
        for y in 8..40 {
            for x in 20..108 {
                e += ((img.pixel(x, y)[1] - ramp(x)) as f64).powi(2);
                n += 1;
            }
        }
        (e / n as f64).sqrt() * 255.0
    };
    let p = RestoreParams {
        strength: 0.0,
        deband: Some(DebandParams {
            threshold: 4.0 / 255.0,
            ..DebandParams::default()
        }),
        ..RestoreParams::default()
    };
    let out = render_to(&p, None, &src, frame, frame, 256);
    let before = banding(&src, 8..40, 20, 108);
    let after = banding(&out, 8..40, 20, 108);
    let (e0, e1) = (rms_vs_ramp(&src), rms_vs_ramp(&out));
    eprintln!(
        "banding (largest step in codes, flat share, RMS codes from the true ramp): before {:.2} {:.3} {e0:.3}, after {:.2} {:.3} {e1:.3}",
        before.0 * 255.0,
        before.1,
        after.0 * 255.0,
        after.1
    );
    assert!(before.0 > 2.9 / 255.0 && before.1 > 0.85);
    assert!(after.0 < 2.0 / 255.0, "steps remain: {}", after.0 * 255.0);
    // The mean of 8 samples of a 3-code staircase moves in steps of 3/8 code while the ramp
    // rises 0.15 code per pixel, so neighbours still tie often; at most half as often as before.
    assert!(after.1 < 0.5 * before.1, "flat runs remain: {}", after.1);
    assert!(e1 < 0.7 * e0, "error from the true ramp {e0} -> {e1}");
    // The edge stays exactly where it was and as high.
    for y in 0..48 {
        let (a, b) = (out.pixel(127, y)[0], out.pixel(128, y)[0]);
        assert!(b - a > 0.29, "edge blurred at row {y}: {a} {b}");
    }
    // Textured areas (every sample differs by more than the threshold) are untouched.
    let tex = textured(Rect::new(0, 0, 40, 40), 7);
    let out = render_to(
        &p,
        None,
        &tex,
        Rect::new(0, 0, 40, 40),
        Rect::new(0, 0, 40, 40),
        256,
    );
    let changed = tex
        .to_rgba_f32()
        .iter()
        .zip(out.to_rgba_f32())
        .filter(|(a, b)| **a != *b)
        .count();
    assert!(changed < 40 * 40 / 20, "{changed} textured pixels changed");
}

#[test]
fn classical_mode_removes_blocking_and_noise() {
    // A smooth plate with JPEG-like damage: a constant offset per 8×8 block (±3 codes) and
    // noise (σ ≈ 1.5 codes).
    let frame = Rect::new(0, 0, 96, 64);
    let clean = ImageBuf::from_fn(frame, |x, y| {
        let v = 0.3 + 0.3 * (x as f32 / 40.0).sin() * (y as f32 / 30.0).cos();
        [v, v * 0.8 + 0.1, 0.5, 1.0]
    });
    let mut rng = Rng::new(5);
    let offsets: Vec<f32> = (0..12 * 8)
        .map(|_| (rng.unit() - 0.5) * 6.0 / 255.0)
        .collect();
    let noise: Vec<f32> = (0..frame.pixel_count() * 3)
        .map(|_| (rng.unit() + rng.unit() - 1.0) * 3.6 / 255.0)
        .collect();
    let damaged = ImageBuf::from_fn(frame, |x, y| {
        let c = clean.pixel(x, y);
        let o = offsets[(y / 8 * 12 + x / 8) as usize];
        let i = (y * 96 + x) as usize * 3;
        [
            c[0] + o + noise[i],
            c[1] + o + noise[i + 1],
            c[2] + o + noise[i + 2],
            1.0,
        ]
    });
    let p = RestoreParams {
        method: Method::Classical,
        deband: None,
        ..RestoreParams::default()
    };
    let out = render_to(&p, None, &damaged, frame, frame, 256);
    let before = psnr(&damaged.to_rgba_f32(), &clean.to_rgba_f32());
    let after = psnr(&out.to_rgba_f32(), &clean.to_rgba_f32());
    // Blockiness: the mean jump of the error across block boundaries, in codes.
    let blockiness = |img: &ImageBuf| {
        let (mut edge, mut n) = (0.0f64, 0);
        for y in 0..64 {
            for x in (8..96).step_by(8) {
                let d = ((img.pixel(x, y)[0] - clean.pixel(x, y)[0])
                    - (img.pixel(x - 1, y)[0] - clean.pixel(x - 1, y)[0]))
                    .abs() as f64;
                edge += d;
                n += 1;
            }
        }
        edge / n as f64 * 255.0
    };
    let (b0, b1) = (blockiness(&damaged), blockiness(&out));
    eprintln!("classical: {before:.2} dB -> {after:.2} dB, blockiness {b0:.2} -> {b1:.2}");
    assert!(after > before + 0.5, "{before} -> {after}");
    assert!(b1 < 0.7 * b0, "blockiness {b0} -> {b1}");
}

#[test]
fn wrong_models_are_refused_with_a_reason() {
    let x2 = Model::from_bytes(&model_bytes(Arch::X2, 1)).unwrap();
    let e = check_model(&x2).unwrap_err();
    assert!(e.contains("not a restoration"), "{e}");
    let frame = Rect::new(0, 0, 8, 8);
    let src = textured(frame, 1);
    let mut dst = ImageBuf::new(frame, PixelDepth::F32, Components::Rgba, 0, false);
    let r = render(
        &RestoreParams {
            method: Method::Neural,
            ..RestoreParams::default()
        },
        Some(&x2),
        &src.view(),
        frame,
        &dst.view_mut(),
        frame,
        NetDevice::Cpu(RunOptions::default()),
        &NeverAbort,
        &|_| {},
    );
    assert!(matches!(r, Err(OpError::InvalidParam(_))));
}

fn render_frames_to(
    p: &RestoreParams,
    model: Option<&Model>,
    src: &ImageBuf,
    neighbours: &[ImageBuf],
    frame: Rect,
    window: Rect,
) -> ImageBuf {
    let mut dst = ImageBuf::new(window, PixelDepth::F32, Components::Rgba, 0, false);
    let views: Vec<_> = neighbours.iter().map(|n| n.view()).collect();
    render_frames(
        p,
        model,
        &src.view(),
        &views,
        frame,
        &dst.view_mut(),
        window,
        NetDevice::Cpu(RunOptions {
            tile: 32,
            kernels: Kernels::detect(),
        }),
        &NeverAbort,
        &|_| {},
    )
    .unwrap();
    dst
}

/// A smooth textured picture panned by (sx, sy) with independent noise of ± `amp`.
fn panned(frame: Rect, sx: i32, sy: i32, seed: u64, amp: f32) -> ImageBuf {
    let mut rng = Rng::new(seed);
    let noise: Vec<f32> = (0..frame.pixel_count() * 3)
        .map(|_| (rng.unit() - 0.5) * 2.0 * amp)
        .collect();
    let w = frame.width();
    ImageBuf::from_fn(frame, move |x, y| {
        let i = ((y - frame.y1) * w + (x - frame.x1)) as usize * 3;
        let (u, v) = ((x - sx) as f32, (y - sy) as f32);
        let b = 0.5 + 0.2 * (u * 0.37).sin() * (v * 0.23).cos();
        [
            b + noise[i],
            b + 0.05 + noise[i + 1],
            b - 0.05 + noise[i + 2],
            1.0,
        ]
    })
}

#[test]
fn a_temporal_radius_fuses_aligned_neighbours_tile_invariantly() {
    let frame = Rect::new(0, 0, 80, 56);
    let amp = 6.0 / 255.0;
    let clean = panned(frame, 0, 0, 0, 0.0);
    let centre = panned(frame, 0, 0, 1, amp);
    let ns = [panned(frame, -2, -1, 2, amp), panned(frame, 2, 1, 3, amp)];
    let p = RestoreParams {
        method: Method::Classical,
        deband: None,
        temporal_radius: 1,
        ..RestoreParams::default()
    };
    let inner = Rect::new(8, 8, 72, 48);
    let single = render_frames_to(&p, None, &centre, &[], frame, frame);
    let fused = render_frames_to(&p, None, &centre, &ns, frame, frame);
    let (ps, pf) = (
        psnr(&pixels(&single, inner), &pixels(&clean, inner)),
        psnr(&pixels(&fused, inner), &pixels(&clean, inner)),
    );
    // Three frames of independent noise: up to 10·log10(3) = 4.8 dB more before the DCT
    // filter, which removes part of the noise either way (measured: +1.7 dB).
    assert!(pf > ps + 1.0, "single {ps:.2} dB, fused {pf:.2} dB");
    // Tiles of the fused render, from sources cropped to the region of interest.
    for w in [Rect::new(3, 5, 40, 29), Rect::new(70, 50, 80, 56)] {
        let roi = p.region_of_interest(None, frame, w);
        let crop = |i: &ImageBuf| ImageBuf::from_fn(roi, |x, y| i.pixel(x, y));
        let part = render_frames_to(
            &p,
            None,
            &crop(&centre),
            &[crop(&ns[0]), crop(&ns[1])],
            frame,
            w,
        );
        assert_eq!(pixels(&part, w), pixels(&fused, w), "{w:?}");
    }
    // Strength 0 is still the plate, neighbours or not.
    let zero = RestoreParams {
        strength: 0.0,
        ..p.clone()
    };
    let z = render_frames_to(&zero, None, &centre, &ns, frame, frame);
    assert_eq!(pixels(&z, frame), pixels(&centre, frame));
}
