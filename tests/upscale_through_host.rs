//! Upscale loaded as a real OFX plugin through the headless host: the region of definition
//! grows by the factor, regions of interest map back with the network's margin, and the pixels
//! are the op's for any tiling, thread count, row layout, input depth, render scale and mode; a
//! bad model file is reported and the shipped network renders instead; abort stops the render.

mod common;

use ofx_harness::{BitDepth, RenderOptions, RowLayout};
use platerestore::effects::upscale::{SHIPPED_X2, SHIPPED_X4};
use platerestore::image::{Components, ImageBuf, PixelDepth, Rect};
use platerestore::nn::cpu::RunOptions;
use platerestore::ops::upscale::{self, Method, Mode, NetDevice, Network, UpscaleParams};
use platerestore::ops::NeverAbort;

const ID: &str = "org.platerestore.Upscale";

/// The shipped network the effect uses for `params.method`: its own model per factor.
fn network(params: &UpscaleParams) -> Network {
    let scale = params.method.neural_scale().unwrap_or(2);
    let name = if scale == 4 { SHIPPED_X4 } else { SHIPPED_X2 };
    let model = platerestore::nn::shipped_model(name, None).unwrap();
    Network::for_scale(model, scale).unwrap()
}

fn direct(src: &ImageBuf, frame: Rect, params: &UpscaleParams) -> (Rect, Vec<[f32; 4]>) {
    let of = params.output_frame(frame);
    let mut dst = ImageBuf::new(of, PixelDepth::F32, Components::Rgba, 0, false);
    let net = network(params);
    upscale::render(
        params,
        Some(&net),
        &src.view(),
        frame,
        &dst.view_mut(),
        of,
        NetDevice::Cpu(RunOptions::default()),
        &NeverAbort,
        &|_| {},
    )
    .unwrap();
    (of, dst.to_rgba_f32())
}

/// Where two renders differ: the first differing pixel and the largest difference.
fn same(a: &[[f32; 4]], b: &[[f32; 4]], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: pixel counts");
    let first = a.iter().zip(b).position(|(p, q)| p != q);
    let max = a
        .iter()
        .zip(b)
        .flat_map(|(p, q)| (0..4).map(move |c| (p[c] - q[c]).abs()))
        .fold(0.0f32, f32::max);
    assert!(
        first.is_none(),
        "{what}: first difference at pixel {first:?}, largest {max}"
    );
}

/// An instance on a straight-alpha source.
fn instance(mut src: ofx_harness::HostImage) -> ofx_harness::Instance {
    src.set_premult(ofx_harness::Premult::UnPreMultiplied);
    instance_as_is(src)
}

fn instance_as_is(src: ofx_harness::HostImage) -> ofx_harness::Instance {
    let mut fx = common::plugin(ID).instance("filter").unwrap();
    fx.set_param_text("device", "CPU", None).unwrap();
    fx.set_input_image("Source", src).unwrap();
    fx
}

#[test]
fn resize_renders_what_the_op_renders_for_any_tiling_threads_and_layout() {
    let bounds = Rect::new(-6, 4, 41, 33);
    let (mut img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    img.set_premult(ofx_harness::Premult::PreMultiplied);
    // Adaptive detail reads the plate furthest around a window (its blocks one octave down).
    for adaptive in [false, true] {
        let params = UpscaleParams {
            premultiplied: true,
            adaptive,
            ..UpscaleParams::default()
        };
        let (of, want) = direct(&buf, bounds, &params);
        let mut fx = instance_as_is(img.clone());
        fx.set_param("adaptiveDetail", adaptive).unwrap();
        let full = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
        assert_eq!(common::harness_rect(of), full.rod, "RoD is the input's × 2");
        assert_eq!(full.image.depth(), BitDepth::Float, "output is float");
        same(&full.image.to_rgba_f32(), &want, "plugin vs op");
        let layouts = [
            (Some((37, 23)), Some(2), RowLayout::default()),
            (Some((8, 64)), Some(3), common::rows(12, true)),
        ];
        common::render_layouts(&mut fx, 1.0, &layouts, |image, label| {
            same(
                &image.to_rgba_f32(),
                &want,
                &format!("adaptive {adaptive} {label}"),
            );
        });
    }
}

#[test]
fn every_input_depth_and_enhance_mode_render_the_op() {
    let bounds = Rect::new(0, 0, 30, 22);
    for depth in PixelDepth::ALL {
        let (img, buf) = common::pattern_pair(bounds, depth, Components::Rgb);
        for mode in [Mode::Resize, Mode::Enhance] {
            let params = UpscaleParams {
                mode,
                ..UpscaleParams::default()
            };
            let (of, want) = direct(&buf, bounds, &params);
            let mut fx = instance(img.clone());
            fx.set_param_text("mode", Mode::label(mode), None).unwrap();
            let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
            assert_eq!(common::harness_rect(of), out.rod, "{depth:?} {mode:?}");
            same(
                &out.image.to_rgba_f32(),
                &want,
                &format!("{depth:?} {mode:?}"),
            );
        }
    }
}

#[test]
fn a_proxy_render_upscales_the_proxy() {
    // At render scale 0.5 the host hands a half-size plate; the output is that × 2, the op's
    // result on the proxy pixels (cheaper, and close to a downscaled full render).
    let bounds = Rect::new(0, 0, 24, 16);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let (of, want) = direct(&buf, bounds, &UpscaleParams::default());
    let mut fx = instance(img);
    let out = fx
        .render_frame(
            1.0,
            &RenderOptions {
                render_scale: (0.5, 0.5),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(common::harness_rect(of), out.rod);
    same(&out.image.to_rgba_f32(), &want, "proxy");
}

#[test]
fn classical_methods_and_identities() {
    let bounds = Rect::new(0, 0, 20, 14);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let mut fx = instance(img);
    fx.set_param_text("method", Method::Mitchell.label(), None)
        .unwrap();
    fx.set_param("factor", 3.0).unwrap();
    let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    let params = UpscaleParams {
        method: Method::Mitchell,
        factor: 3.0,
        ..UpscaleParams::default()
    };
    let of = params.output_frame(bounds);
    assert_eq!(of, Rect::new(0, 0, 60, 42));
    let mut dst = ImageBuf::new(of, PixelDepth::F32, Components::Rgba, 0, false);
    upscale::render(
        &params,
        None,
        &buf.view(),
        bounds,
        &dst.view_mut(),
        of,
        NetDevice::Cpu(RunOptions::default()),
        &NeverAbort,
        &|_| {},
    )
    .unwrap();
    same(&out.image.to_rgba_f32(), &dst.to_rgba_f32(), "Mitchell ×3");
    // A classical method in Enhance mode changes nothing: the host gets an identity.
    fx.set_param_text("mode", Mode::Enhance.label(), None)
        .unwrap();
    let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    assert!(out.identity.is_some(), "Enhance + classical is an identity");
}

#[test]
fn neural_x4_is_the_shipped_x4_network_in_one_pass() {
    // Neural ×4 runs the ×4 network once (not the ×2 network twice): RoD × 4, the op's pixels
    // with that model for tiles and threads, and the info text names it.
    let bounds = Rect::new(-3, 2, 21, 17);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let params = UpscaleParams {
        method: Method::NeuralX4,
        ..UpscaleParams::default()
    };
    let net = network(&params);
    assert_eq!((net.passes, net.model.scale()), (1, 4));
    let (of, want) = direct(&buf, bounds, &params);
    assert_eq!((of.width(), of.height()), (4 * 24, 4 * 15));
    let mut fx = instance(img);
    fx.set_param_text("method", Method::NeuralX4.label(), None)
        .unwrap();
    let info = fx.param_value("modelInfo", 1.0);
    assert!(
        format!("{info:?}").contains(SHIPPED_X4),
        "the info text names the ×4 network: {info:?}"
    );
    for opts in [
        RenderOptions::default(),
        RenderOptions {
            tile: Some((29, 40)),
            threads: Some(2),
            ..Default::default()
        },
    ] {
        let out = fx.render_frame(1.0, &opts).unwrap();
        assert_eq!(common::harness_rect(of), out.rod, "RoD is the input's × 4");
        same(&out.image.to_rgba_f32(), &want, "plugin vs op, Neural ×4");
    }
    // Not the ×2 network applied twice.
    let twice = Network::for_scale(
        platerestore::nn::shipped_model(SHIPPED_X2, None).unwrap(),
        4,
    )
    .unwrap();
    assert_eq!(twice.passes, 2);
    let mut other = ImageBuf::new(of, PixelDepth::F32, Components::Rgba, 0, false);
    upscale::render(
        &params,
        Some(&twice),
        &buf.view(),
        bounds,
        &other.view_mut(),
        of,
        NetDevice::Cpu(RunOptions::default()),
        &NeverAbort,
        &|_| {},
    )
    .unwrap();
    assert_ne!(other.to_rgba_f32(), want);
}

#[test]
fn self_ensemble_renders_the_ops_mean_over_orientations() {
    let bounds = Rect::new(-2, 1, 19, 14);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let (_, one) = direct(&buf, bounds, &UpscaleParams::default());
    let mut fx = instance(img);
    for (label, n, adaptive) in [
        ("4 orientations (4× the time)", 4, false),
        ("2 orientations (2× the time)", 2, true),
    ] {
        let params = UpscaleParams {
            orientations: n,
            adaptive,
            ..UpscaleParams::default()
        };
        let (_, want) = direct(&buf, bounds, &params);
        assert_ne!(want, one, "{n} orientations change the result");
        fx.set_param_text("selfEnsemble", label, None).unwrap();
        fx.set_param("adaptiveDetail", adaptive).unwrap();
        let layouts = [
            (None, Some(1), RowLayout::default()),
            (Some((13, 22)), Some(2), RowLayout::default()),
        ];
        common::render_layouts(&mut fx, 1.0, &layouts, |image, what| {
            same(&image.to_rgba_f32(), &want, &format!("{label}, {what}"));
        });
    }
}

#[test]
fn a_bad_model_file_is_reported_and_the_shipped_network_renders() {
    let bounds = Rect::new(0, 0, 16, 12);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let (_, want) = direct(&buf, bounds, &UpscaleParams::default());
    let dir = std::env::temp_dir().join(format!("upscale-bad-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("not-a-model.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}").unwrap();
    let mut fx = instance(img);
    fx.set_param("modelFile", bad.display().to_string())
        .unwrap();
    let info = fx.param_value("modelInfo", 1.0);
    let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    same(
        &out.image.to_rgba_f32(),
        &want,
        "the shipped network renders",
    );
    let msgs = fx.messages();
    assert!(
        msgs.iter()
            .any(|m| m.text.contains("not-a-model.safetensors") && m.text.contains("shipped")),
        "{msgs:?}"
    );
    assert!(
        format!("{info:?}").contains(SHIPPED_X2),
        "the info text names the network in use: {info:?}"
    );
}

#[test]
fn abort_stops_the_render_and_progress_is_reported() {
    let bounds = Rect::new(0, 0, 300, 200);
    let (img, _) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let mut fx = instance(img);
    let ok = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    let reports = fx.progress_reports();
    assert!(
        reports.iter().any(|(_, f)| *f > 0.0 && *f < 1.0),
        "progress between 0 and 1 is reported: {reports:?}"
    );
    assert!(ok.findings.is_empty(), "{:?}", ok.findings);
    // With Adaptive detail at ×2, the measurement's network reports the first fifth of the bar and
    // the render's own network the rest; a tall plate gives both several rows of tiles.
    let (tall, _) =
        common::pattern_pair(Rect::new(0, 0, 64, 700), PixelDepth::F32, Components::Rgba);
    let mut adaptive = instance(tall);
    adaptive.set_param("adaptiveDetail", true).unwrap();
    adaptive
        .render_frame(1.0, &RenderOptions::default())
        .unwrap();
    let fractions: Vec<f64> = adaptive
        .progress_reports()
        .iter()
        .map(|(_, f)| *f)
        .collect();
    assert!(
        fractions.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {fractions:?}"
    );
    let (measurement, own) = (
        fractions
            .iter()
            .filter(|&&f| f > 0.0 && f <= 0.2 + 1e-9)
            .count(),
        fractions
            .iter()
            .filter(|&&f| f > 0.2 + 1e-9 && f < 1.0)
            .count(),
    );
    assert!(measurement >= 2 && own >= 2, "{fractions:?}");
    let abort = fx.abort_handle();
    abort.raise();
    let r = fx.render_frame(2.0, &RenderOptions::default());
    abort.clear();
    assert!(r.is_err(), "an aborted render fails the frame");
}
