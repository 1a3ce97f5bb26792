//! Inverse Tone Map loaded as a real OFX plugin through the headless host renders what the op
//! renders when called directly — for every depth and component set the effect accepts, odd
//! image layouts, tiles and threads — and handles a missing source, mix 0 and empty windows.

mod common;

use ofx_harness::{HostImage, Premult, RenderOptions, RowLayout};
use platerestore::image::{Components, ImageBuf, PixelDepth, Rect};
use platerestore::ops::{itm, NeverAbort};

const ID: &str = "org.platerestore.InverseToneMap";

/// What the op produces for `src` (direct call), as float RGBA.
fn direct(src: &ImageBuf, params: &itm::ItmParams) -> Vec<[f32; 4]> {
    let b = src.bounds();
    let mut dst = ImageBuf::new(b, PixelDepth::F32, Components::Rgba, 0, false);
    itm::run_cpu(params, &src.view(), &dst.view_mut(), b, &NeverAbort).unwrap();
    dst.to_rgba_f32()
}

/// `expected` stored at the output image's depth and components, read back: what a correct
/// plugin writes into that output.
fn as_stored(expected: &[[f32; 4]], out: &HostImage) -> Vec<[f32; 4]> {
    HostImage::from_rgba_f32(out.bounds(), out.depth(), out.components(), expected)
        .unwrap()
        .to_rgba_f32()
}

fn max_diff(a: &[[f32; 4]], b: &[[f32; 4]]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| (0..4).map(move |c| (p[c] - q[c]).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn every_depth_and_component_set_matches_the_op() {
    let plugin = common::plugin(ID);
    let bounds = Rect::new(0, 0, 37, 19); // not a multiple of any band or tile size
    for depth in PixelDepth::ALL {
        for comps in [Components::Rgba, Components::Rgb] {
            let (mut host_img, buf) = common::pattern_pair(bounds, depth, comps);
            host_img.set_premult(Premult::PreMultiplied);
            let params = itm::ItmParams {
                premultiplied: comps == Components::Rgba,
                ..Default::default()
            };
            let want = direct(&buf, &params);
            let mut fx = plugin.instance("filter").unwrap();
            fx.set_input_image("Source", host_img).unwrap();
            let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
            assert!(
                out.findings.is_empty(),
                "{depth:?} {comps:?}: {:?}",
                out.findings
            );
            let got = out.image.to_rgba_f32();
            let d = max_diff(&got, &as_stored(&want, &out.image));
            assert!(d <= 1e-6, "{depth:?} {comps:?}: max difference {d}");
            // HDR needs headroom: the effect asks for a float output.
            assert_eq!(
                out.image.depth(),
                ofx_harness::BitDepth::Float,
                "{depth:?} {comps:?}"
            );
            assert_eq!(
                fx.image_counts().0,
                fx.image_counts().1,
                "every image released"
            );
        }
    }
}

#[test]
fn odd_origins_padded_and_bottom_up_rows_tiles_and_threads_change_nothing() {
    let plugin = common::plugin(ID);
    let bounds = Rect::new(-7, 13, 58, 54);
    let (mut host_img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    host_img.set_premult(Premult::PreMultiplied);
    let params = itm::ItmParams {
        premultiplied: true,
        method: itm::ItmMethod::Bt2446A,
        output_transfer: itm::OutputTransfer::Hlg,
        ..Default::default()
    };
    let want = direct(&buf, &params);
    let mut fx = plugin.instance("filter").unwrap();
    fx.set_input_image("Source", host_img).unwrap();
    fx.set_param("method", 0).unwrap();
    fx.set_param("outputTransfer", 1).unwrap();
    let layouts = common::layouts(
        &[
            common::rows(0, false),
            common::rows(36, false),
            common::rows(12, true),
        ],
        &[
            (None, Some(1)),
            (Some((16, 9)), Some(1)),
            (Some((7, 5)), Some(4)),
        ],
    );
    common::render_layouts(&mut fx, 1.0, &layouts, |image, label| {
        assert_eq!(image.to_rgba_f32(), want, "{label}");
    });
}

/// SMPTE ST 2084 inverse EOTF from its published constants: cd/m² → PQ signal.
fn pq(nits: f64) -> f64 {
    let (m1, m2) = (2610.0 / 16384.0, 2523.0 / 4096.0 * 128.0);
    let (c1, c2, c3) = (
        3424.0 / 4096.0,
        2413.0 / 4096.0 * 32.0,
        2392.0 / 4096.0 * 32.0,
    );
    let y = (nits / 10000.0).powf(m1);
    ((c1 + c2 * y) / (1.0 + c3 * y)).powf(m2)
}

#[test]
fn mix_zero_is_the_plate_in_the_hdr_container_and_a_partial_window_writes_only_inside() {
    let plugin = common::plugin(ID);
    let bounds = ofx_harness::Rect::new(0, 0, 8, 4);
    // sRGB grey 0.5 (linear 0.2140) and white.
    let px: Vec<[f32; 4]> = (0..32)
        .map(|i| {
            if i % 2 == 0 {
                [0.5, 0.5, 0.5, 1.0]
            } else {
                [1.0, 1.0, 1.0, 1.0]
            }
        })
        .collect();
    let grey = HostImage::from_rgba_f32(
        bounds,
        ofx_harness::BitDepth::Float,
        ofx_harness::Components::Rgba,
        &px,
    )
    .unwrap();
    let mut fx = plugin.instance("filter").unwrap();
    fx.set_input_image("Source", grey).unwrap();
    fx.set_param("mix", 0.0).unwrap();
    let zero = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    // Rendered, not passed through: before, mix 0 was an identity and gave sRGB code values.
    assert!(zero.identity.is_none());
    // BT.2408: SDR 100 % ↔ 203 cd/m², no expansion, in PQ (greys are grey in any primaries).
    let srgb = |v: f64| ((v + 0.055) / 1.055).powf(2.4);
    let out = zero.image.to_rgba_f32();
    for (i, want) in [pq(203.0 * srgb(0.5)), pq(203.0)].iter().enumerate() {
        for (c, &got) in out[i][..3].iter().enumerate() {
            let got = got as f64;
            assert!(
                (got - want).abs() < 2e-4,
                "pixel {i} channel {c}: {got} vs {want}"
            );
        }
    }
    // Continuous: a hair of mix moves the output by a hair.
    fx.set_param("mix", 1e-6).unwrap();
    let tiny = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    let diff = tiny
        .image
        .to_rgba_f32()
        .iter()
        .zip(&out)
        .flat_map(|(a, b)| (0..3).map(move |c| (a[c] - b[c]).abs()))
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "mix 0 → 1e-6 jumps by {diff}");

    let (host_img, _) =
        common::pattern_pair(Rect::new(0, 0, 24, 16), PixelDepth::F32, Components::Rgba);
    fx.set_input_image("Source", host_img).unwrap();
    fx.set_param("mix", 1.0).unwrap();
    let window = ofx_harness::Rect::new(3, 2, 17, 11);
    let out = fx
        .render_frame(
            1.0,
            &RenderOptions {
                window: Some(window),
                ..Default::default()
            },
        )
        .unwrap();
    // Canaries around the window are checked by the host; a write outside is a finding.
    assert!(out.findings.is_empty(), "{:?}", out.findings);
}

#[test]
fn a_missing_source_renders_transparent_black_and_the_host_keeps_running() {
    let plugin = common::plugin(ID);
    let mut fx = plugin.instance("filter").unwrap();
    let (host_img, _) =
        common::pattern_pair(Rect::new(0, 0, 8, 8), PixelDepth::F32, Components::Rgba);
    fx.set_input_image("Source", host_img).unwrap();
    let first = fx.render_frame(1.0, &RenderOptions::default());
    assert!(first.is_ok());
    fx.clear_input("Source");
    let out = fx.render_frame(
        1.0,
        &RenderOptions {
            window: Some(ofx_harness::Rect::new(0, 0, 8, 8)),
            ..Default::default()
        },
    );
    let out = out.expect("a missing source is not an error: OFX treats it as black");
    assert!(out.image.to_rgba_f32().iter().all(|p| *p == [0.0; 4]));
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    // The host keeps working: reconnect and render again.
    let (host_img, _) =
        common::pattern_pair(Rect::new(0, 0, 8, 8), PixelDepth::F32, Components::Rgba);
    fx.set_input_image("Source", host_img).unwrap();
    assert!(fx.render_frame(2.0, &RenderOptions::default()).is_ok());
}

#[test]
fn an_invalid_parameter_combination_fails_the_frame_with_a_message_naming_the_fix() {
    let plugin = common::plugin(ID);
    let mut fx = plugin.instance("filter").unwrap();
    let (host_img, _) =
        common::pattern_pair(Rect::new(0, 0, 8, 8), PixelDepth::F32, Components::Rgba);
    fx.set_input_image("Source", host_img).unwrap();
    fx.set_param("peakLuminance", 150.0).unwrap(); // below the 203 cd/m² reference white
    let r = fx.render_frame(1.0, &RenderOptions::default());
    assert!(
        r.is_err(),
        "rendering with peak below reference white must fail"
    );
    let msgs = fx.messages();
    assert!(
        msgs.iter()
            .any(|m| m.kind.contains("Error") && m.text.contains("peak")),
        "the user is told why: {msgs:?}"
    );
    // And the instance still works once the value is fixed.
    fx.set_param("peakLuminance", 1000.0).unwrap();
    assert!(fx.render_frame(1.0, &RenderOptions::default()).is_ok());
}

#[test]
fn an_alpha_only_plate_keeps_its_alpha_exactly() {
    // The effect declares RGBA and RGB; a host that hands Alpha anyway must not crash it, and
    // alpha is never touched by the inverse tone map.
    let plugin = common::plugin(ID);
    let mut fx = plugin.instance("filter").unwrap();
    let (host_img, _) =
        common::pattern_pair(Rect::new(0, 0, 9, 7), PixelDepth::U16, Components::Alpha);
    fx.set_input_image("Source", host_img.clone()).unwrap();
    let out = fx
        .render_frame(
            1.0,
            &RenderOptions {
                depth: Some(ofx_harness::BitDepth::Short),
                ..Default::default()
            },
        )
        .expect("alpha-only input renders");
    let got = out.image.to_rgba_f32();
    let want = host_img.to_rgba_f32();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g[3], w[3]);
    }
}

/// Same value, or both NaN (payloads may differ between devices).
fn same_or_both_nan(a: &[[f32; 4]], b: &[[f32; 4]]) -> Option<(usize, [f32; 4], [f32; 4])> {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .enumerate()
        .find(|(_, (p, q))| (0..4).any(|c| p[c] != q[c] && !(p[c].is_nan() && q[c].is_nan())))
        .map(|(i, (p, q))| (i, *p, *q))
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn cuda_render_through_the_host_equals_the_cpu_render() {
    use ofx_harness::{CudaMode, Host, HostConfig};
    // A host that renders as DaVinci Resolve does: device pointers and its own CUDA stream.
    let host = Host::new(HostConfig {
        cuda: CudaMode::DRIVER,
        ..Default::default()
    });
    if let Err(e) = host.cuda_device() {
        panic!(
            "this test needs an NVIDIA GPU and driver ({e}); run it through scripts/gpu-check.sh"
        );
    }
    let plugin = host
        .plugin(&format!("{}:{ID}", common::bundle().display()))
        .expect("plugin loads from the bundle");
    let bounds = Rect::new(-7, 13, 258, 154);
    let (mut host_img, _) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    host_img.set_premult(Premult::PreMultiplied);
    let mut fx = plugin.instance("filter").unwrap();
    fx.set_input_image("Source", host_img).unwrap();
    let window = ofx_harness::Rect::new(0, 20, 240, 150);
    for (method, transfer) in [(0, 0), (1, 1), (2, 2)] {
        fx.set_param("method", method).unwrap();
        fx.set_param("outputTransfer", transfer).unwrap();
        for rows in [
            RowLayout::default(),
            RowLayout {
                padding_bytes: 48,
                bottom_up: true,
            },
        ] {
            let opts = RenderOptions {
                window: Some(window),
                input_rows: Some(rows),
                output_rows: rows,
                ..Default::default()
            };
            let on_gpu = fx.render_frame(1.0, &opts).unwrap();
            let on_cpu = fx
                .render_frame(
                    1.0,
                    &RenderOptions {
                        cuda: Some(false),
                        ..opts.clone()
                    },
                )
                .unwrap();
            let report = on_gpu.cuda.as_ref().expect("rendered with CUDA");
            assert!(
                report.stream.is_some(),
                "the effect takes the host's stream"
            );
            assert!(on_cpu.cuda.is_none());
            // Canaries around the window live in device memory too.
            assert!(on_gpu.findings.is_empty(), "{:?}", on_gpu.findings);
            // The device tests' tolerance: the kernels repeat the CPU's IEEE operations in the
            // same order without FMA, so pixels are identical, NaN payloads aside.
            let diff = same_or_both_nan(&on_gpu.image.to_rgba_f32(), &on_cpu.image.to_rgba_f32());
            assert_eq!(
                diff, None,
                "method {method} transfer {transfer} rows {rows:?}"
            );
        }
    }
}
