//! Grain loaded as a real OFX plugin through the headless host: renders what the op renders
//! (any depth, layout, tiling, thread count, proxy scale), changes per frame as its temporal
//! mode says, loads presets, and matches grain measured on a Reference input.

mod common;

use ofx_harness::{ParamValue, RenderOptions};
use platerestore::image::{Components, ImageBuf, PixelDepth, Rect};
use platerestore::ops::grain::{self, GrainParams, GrainPreset};
use platerestore::ops::NeverAbort;

const ID: &str = "org.platerestore.Grain";

fn direct(src: &ImageBuf, params: &GrainParams, window: Rect) -> Vec<[f32; 4]> {
    let mut dst = ImageBuf::new(window, PixelDepth::F32, Components::Rgba, 0, false);
    grain::run_cpu(params, &src.view(), &dst.view_mut(), window, &NeverAbort).unwrap();
    dst.to_rgba_f32()
}

/// The plugin binary and this test binary compile the op separately; results must still be
/// identical, bit for bit (a farm mixes machines and builds of the same version).
const CROSS_BINARY_TOLERANCE: f32 = 0.0;

fn max_diff(a: &[[f32; 4]], b: &[[f32; 4]]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| (0..4).map(move |c| (p[c] - q[c]).abs()))
        .fold(0.0, f32::max)
}

fn flat_grey(bounds: Rect, level: f32) -> (ofx_harness::HostImage, ImageBuf) {
    let buf = ImageBuf::from_fn(bounds, |_, _| [level, level, level, 1.0]);
    let host = ofx_harness::HostImage::from_rgba_f32(
        common::harness_rect(bounds),
        ofx_harness::BitDepth::Float,
        ofx_harness::Components::Rgba,
        &buf.to_rgba_f32(),
    )
    .unwrap();
    (host, buf)
}

#[test]
fn renders_what_the_op_renders_for_any_layout_tiling_and_threads() {
    let plugin = common::plugin(ID);
    let bounds = Rect::new(-5, 9, 60, 50);
    let (mut host_img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    host_img.set_premult(ofx_harness::Premult::PreMultiplied);
    let params = GrainParams {
        premultiplied: true,
        frame: 3.0,
        ..GrainParams::default()
    };
    let want = direct(&buf, &params, bounds);
    let mut fx = plugin.instance("filter").unwrap();
    fx.set_input_image("Source", host_img).unwrap();
    let reference = fx
        .render_frame(3.0, &RenderOptions::default())
        .unwrap()
        .image
        .to_rgba_f32();
    let d = max_diff(&reference, &want);
    assert!(
        d <= CROSS_BINARY_TOLERANCE,
        "plugin vs op: max difference {d}"
    );
    let layouts = common::layouts(
        &[common::rows(0, false), common::rows(20, true)],
        &[
            (None, Some(1)),
            (Some((13, 7)), Some(4)),
            (Some((64, 3)), Some(2)),
        ],
    );
    common::render_layouts(&mut fx, 3.0, &layouts, |image, label| {
        assert_eq!(image.to_rgba_f32(), reference, "{label}");
    });
}

#[test]
fn a_proxy_render_is_the_op_at_that_render_scale() {
    let plugin = common::plugin(ID);
    let bounds = Rect::new(0, 0, 40, 24); // a half-scale proxy of an 80×48 frame
    let (host_img, buf) = flat_grey(bounds, 0.45);
    let params = GrainParams {
        render_scale: [0.5, 0.5],
        frame: 1.0,
        ..GrainParams::default()
    };
    let want = direct(&buf, &params, bounds);
    let mut fx = plugin.instance("filter").unwrap();
    fx.set_input_image("Source", host_img).unwrap();
    let out = fx
        .render_frame(
            1.0,
            &RenderOptions {
                render_scale: (0.5, 0.5),
                ..Default::default()
            },
        )
        .unwrap();
    let d = max_diff(&out.image.to_rgba_f32(), &want);
    assert!(d <= CROSS_BINARY_TOLERANCE, "proxy: max difference {d}");
}

#[test]
fn grain_changes_every_frame_unless_static_and_amount_zero_is_an_identity() {
    let plugin = common::plugin(ID);
    let (host_img, _) = flat_grey(Rect::new(0, 0, 32, 32), 0.5);
    let mut fx = plugin.instance("filter").unwrap();
    fx.set_input_image("Source", host_img).unwrap();
    let f1 = fx
        .render_frame(1.0, &RenderOptions::default())
        .unwrap()
        .image
        .to_rgba_f32();
    let f2 = fx
        .render_frame(2.0, &RenderOptions::default())
        .unwrap()
        .image
        .to_rgba_f32();
    assert_ne!(f1, f2, "new grain every frame by default");
    let f1_again = fx
        .render_frame(1.0, &RenderOptions::default())
        .unwrap()
        .image
        .to_rgba_f32();
    assert_eq!(f1, f1_again, "the same frame always gets the same grain");

    let static_index = grain::TemporalMode::ALL
        .iter()
        .position(|m| *m == grain::TemporalMode::Static)
        .unwrap() as i32;
    fx.set_param("temporalMode", static_index).unwrap();
    let s1 = fx
        .render_frame(1.0, &RenderOptions::default())
        .unwrap()
        .image
        .to_rgba_f32();
    let s9 = fx
        .render_frame(9.0, &RenderOptions::default())
        .unwrap()
        .image
        .to_rgba_f32();
    assert_eq!(s1, s9, "static grain is the same on every frame");

    fx.set_param("amount", 0.0).unwrap();
    let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    assert_eq!(
        out.identity.as_ref().map(|(c, _)| c.as_str()),
        Some("Source")
    );
}

#[test]
fn choosing_a_preset_loads_its_values() {
    let plugin = common::plugin(ID);
    let mut fx = plugin.instance("filter").unwrap();
    let deband = GrainPreset::ALL
        .iter()
        .position(|p| *p == GrainPreset::DebandDither)
        .unwrap() as i32;
    fx.set_param("preset", deband).unwrap();
    let want = GrainPreset::DebandDither.params();
    let amount = fx.param_value("amount", 1.0);
    assert_eq!(amount, Some(ParamValue::Doubles(vec![want.amount as f64])));
    let size = fx.param_value("size", 1.0);
    assert_eq!(size, Some(ParamValue::Doubles(vec![want.size_px as f64])));
}

#[test]
fn analyze_matches_the_grain_of_a_reference_plate() {
    // A reference with known grain: a flat grey field grained by the op itself.
    let known = GrainParams {
        amount: 0.03,
        channel_amount: [1.0, 1.0, 1.0],
        size_px: 2.0,
        colour: 1.0,
        frame: 1.0,
        ..GrainParams::default()
    };
    let bounds = Rect::new(0, 0, 256, 256);
    let (_, plate) = flat_grey(bounds, 0.5);
    let grained = direct(&plate, &known, bounds);
    let reference = ofx_harness::HostImage::from_rgba_f32(
        common::harness_rect(bounds),
        ofx_harness::BitDepth::Float,
        ofx_harness::Components::Rgba,
        &grained,
    )
    .unwrap();
    let plugin = common::plugin(ID);
    let mut fx = plugin.instance("general").unwrap();
    let (src, _) = flat_grey(bounds, 0.5);
    fx.set_input_image("Source", src).unwrap();
    fx.set_input_image("Reference", reference).unwrap();
    fx.set_param("amount", 0.001).unwrap();
    fx.set_param("analyze", ParamValue::None).unwrap();
    let value = |id: &str| match fx.param_value(id, 1.0) {
        Some(ParamValue::Doubles(v)) => v[0],
        other => panic!("{id}: {other:?}"),
    };
    // The grain a channel gets at this grey is amount × channel amount × response: compare that.
    for (c, id) in ["redAmount", "greenAmount", "blueAmount"]
        .iter()
        .enumerate()
    {
        let matched = value("amount") * value(id);
        let want = (known.amount * known.channel_amount[c]) as f64;
        let rel = (matched - want).abs() / want;
        assert!(
            rel < 0.10,
            "{id}: matched {matched} vs {want} (error {:.1}%)",
            rel * 100.0
        );
    }
    let size = value("size");
    assert!(
        (size - 2.0).abs() / 2.0 < 0.10,
        "matched size {size} vs 2.0"
    );
    let Some(ParamValue::Text(measured)) = fx.param_value("measured", 1.0) else {
        panic!("measured text missing");
    };
    assert!(measured.contains("Grain analysis"), "{measured}");
}

#[test]
fn declares_cuda_render_and_a_device_choice_that_never_changes_the_pixels() {
    let plugin = common::plugin(ID);
    let d = plugin.describe();
    assert_eq!(d.cuda.render, "true");
    assert_eq!(d.cuda.stream, "true");
    assert_eq!(d.version, (1, 1));
    for ctx in &d.contexts {
        // Appended last, so the saved indices of every older parameter stay as they were.
        let last = ctx.params.last().unwrap();
        assert_eq!(last.name, "device");
        assert_eq!(last.options, ["Auto", "CPU", "CUDA GPU"]);
    }

    let bounds = Rect::new(-3, 4, 45, 31);
    let (mut host_img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    host_img.set_premult(ofx_harness::Premult::PreMultiplied);
    let params = GrainParams {
        premultiplied: true,
        frame: 5.0,
        ..GrainParams::default()
    };
    let want = direct(&buf, &params, bounds);
    let mut fx = plugin.instance("filter").unwrap();
    fx.set_input_image("Source", host_img).unwrap();
    // CUDA GPU: the GPU where one works (bit-identical to the CPU), else the CPU with one notice.
    fx.set_param("device", 2).unwrap();
    for frame_opts in [
        RenderOptions::default(),
        RenderOptions {
            tile: Some((16, 9)),
            threads: Some(2),
            ..Default::default()
        },
    ] {
        let out = fx.render_frame(5.0, &frame_opts).unwrap();
        assert!(out.findings.is_empty(), "{:?}", out.findings);
        // Not assert_eq: a failure would print every pixel.
        assert!(out.image.to_rgba_f32() == want, "{frame_opts:?}");
    }
    let gpu_works =
        platerestore::device::Device::select(platerestore::device::DevicePreference::Cuda)
            .is_cuda();
    let notices = fx
        .messages()
        .iter()
        .filter(|m| m.persistent && m.text.contains("CPU"))
        .count();
    if std::env::var_os(platerestore::device::DEVICE_ENV).is_none() {
        assert_eq!(notices, usize::from(!gpu_works), "{:?}", fx.messages());
    }
}
