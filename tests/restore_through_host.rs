//! Denoise / Restore loaded as a real OFX plugin through the headless host: the pixels are the
//! op's for any tiling, threads, row layout, input depth and method; Deband's Auto follows the
//! source depth; the residual output adds back to the plate; abort stops the render.

mod common;

use ofx_harness::{BitDepth, RenderOptions, RowLayout};
use platerestore::effects::restore::{Network, SHIPPED};
use platerestore::image::{Components, ImageBuf, PixelDepth, Rect};
use platerestore::nn::cpu::RunOptions;
use platerestore::nn::NetDevice;
use platerestore::ops::restore::{self, DebandParams, Method, Output, RestoreParams};
use platerestore::ops::NeverAbort;

const ID: &str = "org.platerestore.Restore";

fn direct(src: &ImageBuf, frame: Rect, params: &RestoreParams) -> Vec<[f32; 4]> {
    direct_with(SHIPPED, src, frame, params)
}

fn direct_with(
    network: &str,
    src: &ImageBuf,
    frame: Rect,
    params: &RestoreParams,
) -> Vec<[f32; 4]> {
    let mut dst = ImageBuf::new(frame, PixelDepth::F32, Components::Rgba, 0, false);
    let model = platerestore::nn::shipped_model(network, None).unwrap();
    restore::render(
        params,
        Some(&model),
        &src.view(),
        frame,
        &dst.view_mut(),
        frame,
        NetDevice::Cpu(RunOptions::default()),
        &NeverAbort,
        &|_| {},
    )
    .unwrap();
    dst.to_rgba_f32()
}

fn same(a: &[[f32; 4]], b: &[[f32; 4]], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: pixel counts");
    let first = a.iter().zip(b).position(|(p, q)| p != q);
    assert!(
        first.is_none(),
        "{what}: first difference at pixel {first:?}"
    );
}

fn instance(mut src: ofx_harness::HostImage) -> ofx_harness::Instance {
    src.set_premult(ofx_harness::Premult::UnPreMultiplied);
    let mut fx = common::plugin(ID).instance("filter").unwrap();
    fx.set_param_text("device", "CPU", None).unwrap();
    fx.set_input_image("Source", src).unwrap();
    fx
}

#[test]
fn renders_what_the_op_renders_for_any_tiling_threads_and_layout() {
    let bounds = Rect::new(-7, 3, 58, 41);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::U8, Components::Rgba);
    // An 8-bit source: Deband's Auto turns it on.
    let params = RestoreParams::default();
    let want = direct(&buf, bounds, &params);
    let mut fx = instance(img);
    let layouts = [
        (None, Some(1), RowLayout::default()),
        (Some((29, 17)), Some(2), RowLayout::default()),
        (Some((64, 5)), Some(3), common::rows(8, true)),
    ];
    common::render_layouts(&mut fx, 1.0, &layouts, |image, label| {
        assert_eq!(image.depth(), BitDepth::Float, "output is float");
        same(&image.to_rgba_f32(), &want, label);
    });
}

#[test]
fn deband_auto_follows_the_source_depth_and_every_method_renders_the_op() {
    let bounds = Rect::new(0, 0, 40, 28);
    for depth in PixelDepth::ALL {
        let (img, buf) = common::pattern_pair(bounds, depth, Components::Rgb);
        for method in Method::ALL {
            let params = RestoreParams {
                method,
                deband: (depth == PixelDepth::U8).then(DebandParams::default),
                ..RestoreParams::default()
            };
            let want = direct(&buf, bounds, &params);
            let mut fx = instance(img.clone());
            fx.set_param_text("method", method.label(), None).unwrap();
            let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
            same(
                &out.image.to_rgba_f32(),
                &want,
                &format!("{depth:?} {method:?}"),
            );
        }
    }
}

#[test]
fn the_network_choice_runs_that_shipped_network_and_a_model_file_overrides_it() {
    let bounds = Rect::new(-2, 5, 37, 30);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let params = RestoreParams::default();
    assert_eq!(
        SHIPPED,
        Network::Standard.file(),
        "the default choice is the default network"
    );
    let standard = direct(&buf, bounds, &params);
    let mut fx = instance(img);
    let mut seen = vec![standard.clone()];
    for network in &Network::ALL[1..] {
        let want = direct_with(network.file(), &buf, bounds, &params);
        assert!(
            !seen.contains(&want),
            "{network:?} differs from the networks before it on this plate"
        );
        seen.push(want.clone());
        fx.set_param_text("network", network.label(), None).unwrap();
        let info = format!("{:?}", fx.param_value("modelInfo", 1.0));
        assert!(info.contains(network.file()), "the info names it: {info}");
        let layouts = [
            (None, Some(1), RowLayout::default()),
            (Some((16, 9)), Some(2), RowLayout::default()),
        ];
        common::render_layouts(&mut fx, 1.0, &layouts, |image, label| {
            same(
                &image.to_rgba_f32(),
                &want,
                &format!("{network:?}, {label}"),
            );
        });
    }
    // A model file wins over the choice: the standard network's own file renders as the default.
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bundle/models")
        .join(format!("{}.safetensors", Network::Standard.file()));
    fx.set_param("modelFile", file.display().to_string())
        .unwrap();
    let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    same(
        &out.image.to_rgba_f32(),
        &standard,
        "model file over the Network choice",
    );
}

#[test]
fn self_ensemble_renders_the_ops_mean_over_orientations() {
    let bounds = Rect::new(3, -4, 30, 19);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let one = direct(&buf, bounds, &RestoreParams::default());
    let mut fx = instance(img);
    for (label, n) in [
        ("2 orientations (2× the time)", 2),
        ("8 orientations (8× the time)", 8),
    ] {
        let params = RestoreParams {
            orientations: n,
            ..RestoreParams::default()
        };
        let want = direct(&buf, bounds, &params);
        assert_ne!(want, one, "{n} orientations change the result");
        fx.set_param_text("selfEnsemble", label, None).unwrap();
        let layouts = [
            (None, Some(1), RowLayout::default()),
            (Some((11, 7)), Some(2), RowLayout::default()),
        ];
        common::render_layouts(&mut fx, 1.0, &layouts, |image, what| {
            same(&image.to_rgba_f32(), &want, &format!("{label}, {what}"));
        });
    }
}

#[test]
fn the_residual_pass_adds_back_to_the_plate_and_strength_zero_is_an_identity() {
    let bounds = Rect::new(0, 0, 32, 24);
    let (img, buf) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let mut fx = instance(img);
    let restored = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    fx.set_param_text("outputMode", Output::Residual.label(), None)
        .unwrap();
    let residual = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    for ((r, d), s) in restored
        .image
        .to_rgba_f32()
        .iter()
        .zip(residual.image.to_rgba_f32())
        .zip(buf.to_rgba_f32())
    {
        assert_eq!(r[3], s[3], "alpha untouched");
        for c in 0..3 {
            assert!((r[c] + d[c] - s[c]).abs() < 1e-6);
        }
    }
    fx.set_param_text("outputMode", Output::Restored.label(), None)
        .unwrap();
    fx.set_param("strength", 0.0).unwrap();
    fx.set_param_text("deband", "Off", None).unwrap();
    let out = fx.render_frame(1.0, &RenderOptions::default()).unwrap();
    assert!(
        out.identity.is_some(),
        "Strength 0 without deband is an identity"
    );
}

#[test]
fn abort_stops_the_render() {
    let bounds = Rect::new(0, 0, 300, 200);
    let (img, _) = common::pattern_pair(bounds, PixelDepth::F32, Components::Rgba);
    let mut fx = instance(img);
    let abort = fx.abort_handle();
    abort.raise();
    let r = fx.render_frame(1.0, &RenderOptions::default());
    abort.clear();
    assert!(r.is_err(), "an aborted render fails the frame");
    assert!(fx.render_frame(1.0, &RenderOptions::default()).is_ok());
}

#[test]
fn a_temporal_radius_reads_the_neighbours_the_host_supplies() {
    use std::sync::{Arc, Mutex};
    let bounds = Rect::new(0, 0, 48, 36);
    // Frame f: the test pattern shifted right by f pixels (a pan), 8-bit.
    let frame_buf = move |f: i64| {
        let (_, base) =
            common::pattern_pair(Rect::new(-20, 0, 48, 36), PixelDepth::U8, Components::Rgba);
        let buf = ImageBuf::new(bounds, PixelDepth::U8, Components::Rgba, 0, false);
        buf.fill_with(|x, y| base.pixel(x - f as i32, y));
        buf
    };
    let to_host = move |b: &ImageBuf| {
        let mut h = ofx_harness::HostImage::from_rgba_f32(
            ofx_harness::Rect::new(bounds.x1, bounds.y1, bounds.x2, bounds.y2),
            BitDepth::Byte,
            ofx_harness::Components::Rgba,
            &b.to_rgba_f32(),
        )
        .unwrap();
        h.set_premult(ofx_harness::Premult::UnPreMultiplied);
        h
    };
    let reads = Arc::new(Mutex::new(Vec::new()));
    let log = reads.clone();
    let mut fx = common::plugin(ID).instance("filter").unwrap();
    fx.set_param_text("device", "CPU", None).unwrap();
    fx.set_param_text("method", Method::Classical.label(), None)
        .unwrap();
    fx.set_param("temporalRadius", 2).unwrap();
    fx.set_input(
        "Source",
        ofx_harness::ClipInput::Loader(Arc::new(move |f| {
            log.lock().unwrap().push(f);
            Ok(Arc::new(to_host(&frame_buf(f))))
        })),
    )
    .unwrap();
    fx.set_frame_range(1.0, 5.0);
    // Frame 2: neighbours 1, 3, 4 (frame 0 is outside the clip, so it is not asked for).
    let needed = fx.frames_needed(2.0).unwrap();
    assert_eq!(needed.get("Source"), Some(&vec![(1.0, 4.0)]));
    let out = fx
        .render_frame(
            2.0,
            &RenderOptions {
                tile: Some((20, 14)),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    let mut r = reads.lock().unwrap().clone();
    r.sort();
    r.dedup();
    assert_eq!(r, vec![1, 2, 3, 4]);
    // The op with the same neighbours gives the same pixels.
    let params = RestoreParams {
        method: Method::Classical,
        temporal_radius: 2,
        frame: 2.0,
        ..RestoreParams::default()
    };
    let (c, ns) = (frame_buf(2), [frame_buf(1), frame_buf(3), frame_buf(4)]);
    let views: Vec<_> = ns.iter().map(|n| n.view()).collect();
    let mut dst = ImageBuf::new(bounds, PixelDepth::F32, Components::Rgba, 0, false);
    restore::render_frames(
        &params,
        None,
        &c.view(),
        &views,
        bounds,
        &dst.view_mut(),
        bounds,
        NetDevice::Cpu(RunOptions::default()),
        &NeverAbort,
        &|_| {},
    )
    .unwrap();
    same(
        &out.image.to_rgba_f32(),
        &dst.to_rgba_f32(),
        "temporal radius 2",
    );
}

/// A source frame the host cannot read fails the render with the reader's own message, even
/// though Restore first meets the missing image in its regions-of-interest action (it asks for
/// the clip's region of definition there) and fails that action for want of it.
#[test]
fn an_unreadable_source_frame_is_reported_as_itself() {
    let mut fx = common::plugin(ID).instance("filter").unwrap();
    fx.set_param_text("device", "CPU", None).unwrap();
    fx.set_input(
        "Source",
        ofx_harness::ClipInput::Loader(std::sync::Arc::new(|f| {
            Err(format!("plate.{f:04}.png: not a readable PNG file"))
        })),
    )
    .unwrap();
    let err = fx
        .render_frame(3.0, &RenderOptions::default())
        .expect_err("nothing to render from")
        .to_string();
    assert!(
        err.contains("could not be read") && err.contains("plate.0003.png: not a readable PNG"),
        "{err}"
    );
}
