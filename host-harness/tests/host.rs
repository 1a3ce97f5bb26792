//! The harness driving the C fixture plugin: describe, every depth/component combination, odd
//! memory layouts, tiles and threads, temporal access, regions of interest, identity, abort,
//! parameters per frame, messages — and the deliberately broken fixtures.

mod common;

use common::{bundle, Fixture};
use half::f16;
use ofx_harness::*;

fn host() -> Host {
    Host::new(HostConfig {
        threads: 4,
        ..Default::default()
    })
}

fn gain_instance() -> (Plugin, Instance) {
    let plugin = host()
        .load(bundle(Fixture::Gain))
        .unwrap()
        .plugin(None)
        .unwrap();
    let inst = plugin.instance("filter").unwrap();
    (plugin, inst)
}

/// A deterministic pattern covering the whole code range of every depth (and out-of-range
/// floats, which float depths must carry through).
fn pattern(bounds: Rect, depth: BitDepth, comps: Components) -> HostImage {
    let mut px = Vec::new();
    let mut s: u32 = 12345;
    for _ in 0..bounds.pixel_count() {
        let mut p = [0.0f32; 4];
        for c in p.iter_mut() {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            *c = (s >> 8) as f32 / (1u32 << 24) as f32 * 1.2 - 0.1;
        }
        px.push(p);
    }
    HostImage::from_rgba_f32(bounds, depth, comps, &px).unwrap()
}

/// gain.c's formula applied to stored channel bytes, written independently of the harness's
/// own conversions: out = (invert ? 1 - in : in) * gain, integers rounded half up and clamped.
fn expected_bytes(input: &[u8], depth: BitDepth, gain: f32, invert: bool) -> Vec<u8> {
    let f = |v: f32| if invert { (1.0 - v) * gain } else { v * gain };
    let q = |v: f32, max: f32| {
        let x = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        (x * max + 0.5).floor()
    };
    match depth {
        BitDepth::Byte => input
            .iter()
            .map(|&c| q(f(c as f32 / 255.0), 255.0) as u8)
            .collect(),
        BitDepth::Short => input
            .chunks_exact(2)
            .flat_map(|b| {
                (q(
                    f(u16::from_ne_bytes([b[0], b[1]]) as f32 / 65535.0),
                    65535.0,
                ) as u16)
                    .to_ne_bytes()
            })
            .collect(),
        BitDepth::Half => input
            .chunks_exact(2)
            .flat_map(|b| {
                f16::from_f32(f(f16::from_bits(u16::from_ne_bytes([b[0], b[1]])).to_f32()))
                    .to_bits()
                    .to_ne_bytes()
            })
            .collect(),
        BitDepth::Float => input
            .chunks_exact(4)
            .flat_map(|b| f(f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).to_ne_bytes())
            .collect(),
    }
}

#[test]
fn describe_reports_params_clips_contexts_and_capabilities() {
    let (plugin, _inst) = gain_instance();
    let d = plugin.describe();
    assert_eq!(d.identifier, "org.platerestore.test.Gain");
    assert_eq!(d.label, "Test Gain");
    assert_eq!(
        d.contexts
            .iter()
            .map(|c| c.context.as_str())
            .collect::<Vec<_>>(),
        [
            "OfxImageEffectContextFilter",
            "OfxImageEffectContextGeneral"
        ]
    );
    assert_eq!(d.render_thread_safety, "OfxImageEffectRenderFullySafe");
    assert!(d.supports_tiles && d.temporal_clip_access);
    assert!(
        d.cuda.supported() && !d.cuda.required(),
        "fixture declares CUDA render 'true': {:?}",
        d.cuda
    );
    assert_eq!(d.supported_depths.len(), 4);
    let filter = &d.contexts[0];
    let clips: Vec<&str> = filter.clips.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(clips, ["Source", "Output"]);
    assert_eq!(filter.clips[0].components.len(), 3);
    let gain = filter.params.iter().find(|p| p.name == "gain").unwrap();
    assert_eq!(gain.kind, ParamType::Double);
    assert_eq!(gain.default, ParamValue::Doubles(vec![1.0]));
    assert_eq!(
        (gain.min[0], gain.max[0], gain.display_max[0]),
        (0.0, 10.0, 10.0)
    );
    assert_eq!(gain.hint, "Multiplier applied to every channel");
    let mode = filter.params.iter().find(|p| p.name == "mode").unwrap();
    assert_eq!(mode.kind, ParamType::Choice);
    assert_eq!(mode.options, ["Process", "Fetch only"]);
    let note = filter.params.iter().find(|p| p.name == "note").unwrap();
    assert_eq!(note.default, ParamValue::Text("hello".into()));
    // A well-formed plugin raises no warnings or errors at describe time.
    assert!(
        d.findings.iter().all(|f| f.severity == Severity::Info),
        "{:?}",
        d.findings
    );
}

#[test]
fn every_depth_and_component_combination_matches_the_formula() {
    let (_p, mut inst) = gain_instance();
    inst.set_param("gain", 1.5).unwrap();
    inst.set_param("invert", true).unwrap();
    let bounds = Rect::new(0, 0, 37, 23);
    for depth in BitDepth::ALL {
        for comps in Components::ALL {
            let input = pattern(bounds, depth, comps);
            let want = expected_bytes(&input.to_packed_bytes(), depth, 1.5, true);
            inst.set_input_image("Source", input).unwrap();
            let out = inst
                .render_frame(
                    1.0,
                    &RenderOptions {
                        threads: Some(1),
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!((out.image.depth(), out.image.components()), (depth, comps));
            assert_eq!(out.image.bounds(), bounds);
            assert!(
                out.image.to_packed_bytes() == want,
                "{depth:?} {comps:?} differs from gain.c's formula"
            );
            assert!(
                out.findings.is_empty(),
                "{depth:?} {comps:?}: {:?}",
                out.findings
            );
        }
    }
}

#[test]
fn host_converts_input_to_the_offered_depth() {
    let (_p, mut inst) = gain_instance();
    inst.set_param("gain", 2.0).unwrap();
    let bounds = Rect::new(0, 0, 16, 8);
    let input = pattern(bounds, BitDepth::Byte, Components::Rgba);
    // The host offers float: the plugin sees (and writes) float images.
    let as_float = input.converted(BitDepth::Float, Components::Rgba);
    inst.set_input_image("Source", input).unwrap();
    let out = inst
        .render_frame(
            0.0,
            &RenderOptions {
                depth: Some(BitDepth::Float),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.image.depth(), BitDepth::Float);
    assert_eq!(
        out.image.to_packed_bytes(),
        expected_bytes(&as_float.to_packed_bytes(), BitDepth::Float, 2.0, false)
    );
}

#[test]
fn odd_origins_padded_and_bottom_up_rows_give_the_same_pixels() {
    let (_p, mut inst) = gain_instance();
    inst.set_param("gain", 0.75).unwrap();
    for depth in BitDepth::ALL {
        let packed = pattern(Rect::new(-7, 13, 57, 61), depth, Components::Rgba);
        let want = expected_bytes(&packed.to_packed_bytes(), depth, 0.75, false);
        for (padding_bytes, bottom_up) in [(0, true), (24, false), (40, true)] {
            let rows = RowLayout {
                padding_bytes,
                bottom_up,
            };
            let input = packed.relaid((-7, 13), rows);
            assert_eq!(input.row_bytes() < 0, bottom_up);
            inst.set_input_image("Source", input).unwrap();
            let opts = RenderOptions {
                input_rows: Some(rows),
                output_rows: rows,
                threads: Some(1),
                ..Default::default()
            };
            let out = inst.render_frame(3.0, &opts).unwrap();
            assert_eq!(out.image.bounds(), Rect::new(-7, 13, 57, 61));
            assert_eq!(out.image.row_bytes() < 0, bottom_up);
            assert!(
                out.image.to_packed_bytes() == want,
                "{depth:?} padding {padding_bytes} bottom-up {bottom_up}"
            );
            assert!(out.findings.is_empty(), "{:?}", out.findings);
        }
    }
}

#[test]
fn tiles_and_threads_reproduce_the_full_frame_render() {
    let (_p, mut inst) = gain_instance();
    inst.set_param("gain", 1.25).unwrap();
    let input = pattern(
        Rect::new(3, -5, 304, 198),
        BitDepth::Float,
        Components::Rgba,
    );
    inst.set_input_image("Source", input).unwrap();
    let one = inst
        .render_frame(
            2.0,
            &RenderOptions {
                threads: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(one.render_calls, 1);
    let tiled = inst
        .render_frame(
            2.0,
            &RenderOptions {
                threads: Some(1),
                tile: Some((64, 48)),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(tiled.render_calls, 5 * 5);
    assert!(!tiled.concurrent);
    let threaded = inst
        .render_frame(
            2.0,
            &RenderOptions {
                threads: Some(8),
                tile: Some((50, 30)),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        threaded.concurrent,
        "a fully thread-safe plugin gets concurrent tiles"
    );
    // Many suite threads inside one render call (the fixture splits rows with multiThread).
    let suite_threads = inst
        .render_frame(
            2.0,
            &RenderOptions {
                threads: Some(7),
                ..Default::default()
            },
        )
        .unwrap();
    for other in [&tiled, &threaded, &suite_threads] {
        assert!(one.image.same_pixels(&other.image));
        assert!(other.findings.is_empty(), "{:?}", other.findings);
    }
    // And the result is the formula, not merely self-consistent.
    let src = pattern(
        Rect::new(3, -5, 304, 198),
        BitDepth::Float,
        Components::Rgba,
    );
    assert_eq!(
        one.image.to_packed_bytes(),
        expected_bytes(&src.to_packed_bytes(), BitDepth::Float, 1.25, false)
    );
}

#[test]
fn render_window_is_honoured_and_the_rest_is_not_touched() {
    let (_p, mut inst) = gain_instance();
    inst.set_param("gain", 2.0).unwrap();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 80, 60), BitDepth::Half, Components::Rgb),
    )
    .unwrap();
    let window = Rect::new(10, 20, 50, 41);
    let out = inst
        .render_frame(
            1.0,
            &RenderOptions {
                window: Some(window),
                tile: Some((16, 16)),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.image.bounds(), window);
    assert_eq!(out.rod, Rect::new(0, 0, 80, 60));
    assert!(out.findings.is_empty(), "{:?}", out.findings);
}

#[test]
fn temporal_access_reads_the_requested_frame() {
    let (_p, mut inst) = gain_instance();
    let b = Rect::new(0, 0, 8, 4);
    let frames: std::collections::BTreeMap<i64, std::sync::Arc<HostImage>> = (1..=3)
        .map(|f| {
            let px = vec![[f as f32 / 10.0; 4]; b.pixel_count()];
            (
                f,
                std::sync::Arc::new(
                    HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgba, &px).unwrap(),
                ),
            )
        })
        .collect();
    inst.set_input("Source", ClipInput::Frames(std::sync::Arc::new(frames)))
        .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    inst.set_param("frame_offset", -1).unwrap();
    let out = inst.render_frame(3.0, &RenderOptions::default()).unwrap();
    assert_eq!(out.image.pixel(0, 0), [0.2f32 * 2.0; 4]);
    // Frame 1 - 1 does not exist: the plugin gets no image and fails with a message.
    let err = inst
        .render_frame(1.0, &RenderOptions::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("no source image at frame 0"),
        "{err}"
    );
}

#[test]
fn regions_of_interest_are_supplied_clipped_to_the_source() {
    let (_p, mut inst) = gain_instance();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 64, 48), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    inst.set_param("roi_margin", 5).unwrap();
    inst.render_frame(
        1.0,
        &RenderOptions {
            window: Some(Rect::new(10, 10, 50, 40)),
            ..Default::default()
        },
    )
    .unwrap();
    inst.render_frame(
        1.0,
        &RenderOptions {
            window: Some(Rect::new(0, 0, 20, 20)),
            ..Default::default()
        },
    )
    .unwrap();
    let roi: Vec<String> = inst
        .messages()
        .into_iter()
        .filter(|m| m.id == "roi")
        .map(|m| m.text)
        .collect();
    assert_eq!(roi, ["source bounds 5 5 55 45", "source bounds 0 0 25 25"]);
}

#[test]
fn identity_passes_the_source_through() {
    let (_p, mut inst) = gain_instance();
    let input = pattern(Rect::new(0, 0, 20, 10), BitDepth::Short, Components::Rgba);
    inst.set_input_image("Source", input.clone()).unwrap();
    let out = inst.render_frame(4.0, &RenderOptions::default()).unwrap();
    assert_eq!(out.identity, Some(("Source".to_string(), 4.0)));
    assert_eq!(out.render_calls, 0);
    assert!(out.image.same_pixels(&input));
}

#[test]
fn keyframes_interpolate_linearly_and_hold_outside() {
    let (_p, mut inst) = gain_instance();
    let b = Rect::new(0, 0, 4, 4);
    let px = vec![[0.25f32; 4]; b.pixel_count()];
    inst.set_input_image(
        "Source",
        HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgba, &px).unwrap(),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let gain_at = |inst: &mut Instance, f: f64| {
        inst.render_frame(f, &RenderOptions::default())
            .unwrap()
            .image
            .pixel(1, 1)[0]
            / 0.25
    };
    // No keys: the static value everywhere.
    assert_eq!(gain_at(&mut inst, 7.0), 2.0);
    inst.set_param_at("gain", 2, 1.0).unwrap();
    inst.set_param_at("gain", 6, 3.0).unwrap();
    inst.set_param_text("invert", "off", None).unwrap();
    // Keys define the curve: held before the first and after the last, linear between
    // (1 + (t - 2) * 0.5 on 2..6).
    for (t, want) in [
        (0.0, 1.0),
        (2.0, 1.0),
        (3.0, 1.5),
        (5.0, 2.5),
        (6.0, 3.0),
        (9.0, 3.0),
    ] {
        assert_eq!(gain_at(&mut inst, t), want, "frame {t}");
    }
    assert_eq!(
        inst.param_value("gain", 4.0),
        Some(ParamValue::Doubles(vec![2.0]))
    );
    assert!(inst.set_param_text("mode", "Fetch only", None).is_ok());
    assert!(inst.set_param_text("mode", "Sideways", None).is_err());
    assert!(inst.set_param("no_such", 1.0).is_err());
}

#[test]
fn string_params_reach_the_plugin_and_persistent_messages_are_recorded() {
    let (_p, mut inst) = gain_instance();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 4, 4), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    inst.set_param("note", "grain check").unwrap();
    inst.render_frame(1.0, &RenderOptions::default()).unwrap();
    let m = inst
        .messages()
        .into_iter()
        .find(|m| m.id == "note")
        .unwrap();
    assert!(m.persistent);
    assert_eq!(m.text, "note: grain check");
    assert_eq!(m.kind, "OfxMessageWarning");
}

#[test]
fn abort_stops_the_render() {
    let (_p, mut inst) = gain_instance();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 64, 64), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let abort = inst.abort_handle();
    abort.raise();
    let err = inst
        .render_frame(
            1.0,
            &RenderOptions {
                tile: Some((16, 16)),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, HostError::Aborted { .. }), "{err}");
    abort.clear();
    assert!(inst.render_frame(1.0, &RenderOptions::default()).is_ok());
}

#[test]
fn abort_raised_during_a_render_stops_it_after_the_current_tile() {
    let (_p, mut inst) = gain_instance();
    let abort = inst.abort_handle();
    let b = Rect::new(0, 0, 64, 64);
    let plate = std::sync::Arc::new(pattern(b, BitDepth::Float, Components::Rgba));
    // Frame 2 is first read by the plugin's own fetch inside the first render call (it asks
    // for frame + 1); reading it raises abort, as a user pressing cancel mid-render would.
    let trigger = abort.clone();
    inst.set_input(
        "Source",
        ClipInput::Loader(std::sync::Arc::new(move |f| {
            if f == 2 {
                trigger.raise();
            }
            Ok(plate.clone())
        })),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    inst.set_param("frame_offset", 1).unwrap();
    let opts = RenderOptions {
        tile: Some((16, 16)),
        threads: Some(1),
        ..Default::default()
    };
    let err = inst.render_frame(1.0, &opts).unwrap_err();
    assert!(
        matches!(err, HostError::Aborted { frame } if frame == 1.0),
        "{err}"
    );
    let (fetched, released) = inst.image_counts();
    assert_eq!(
        (fetched, released),
        (2, 2),
        "one of 16 tiles ran, and released its images"
    );
}

#[test]
fn render_scale_and_pixel_aspect_keep_pixel_bounds() {
    let (_p, mut inst) = gain_instance();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 100, 50), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let out = inst
        .render_frame(
            1.0,
            &RenderOptions {
                render_scale: (0.5, 0.5),
                pixel_aspect: 2.0,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.rod, Rect::new(0, 0, 100, 50));
    assert_eq!(
        canonical_to_pixels(
            &pixels_to_canonical(&out.rod, (0.5, 0.5), 2.0),
            (0.5, 0.5),
            2.0
        ),
        out.rod
    );
    assert_eq!(pixels_to_canonical(&out.rod, (0.5, 0.5), 2.0).x2, 400.0);
}

#[test]
fn images_are_fetched_and_released_in_pairs() {
    let (_p, mut inst) = gain_instance();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 32, 32), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    inst.render_frame(
        1.0,
        &RenderOptions {
            tile: Some((8, 8)),
            threads: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let (fetched, released) = inst.image_counts();
    assert_eq!(fetched, 2 * 16, "source + output per tile");
    assert_eq!(fetched, released);
}

// ---------- broken fixtures: reported, and the host keeps running ----------

#[test]
fn binary_without_ofx_get_plugin_is_refused() {
    let err = host().load(bundle(Fixture::NoGetPlugin)).unwrap_err();
    assert!(
        matches!(
            err,
            HostError::MissingSymbol {
                symbol: "OfxGetPlugin",
                ..
            }
        ),
        "{err}"
    );
    // The host still works.
    assert!(gain_instance().0.describe().contexts.len() == 2);
}

#[test]
fn plugin_that_fails_describe_is_reported() {
    let err = host()
        .load(bundle(Fixture::FailDescribe))
        .unwrap()
        .plugin(None)
        .unwrap_err();
    match err {
        HostError::Action {
            action,
            status_name,
            ..
        } => {
            assert_eq!(action, "kOfxActionDescribe");
            assert_eq!(status_name, "kOfxStatFailed");
        }
        e => panic!("unexpected {e}"),
    }
}

#[test]
fn writes_outside_the_render_window_are_caught_by_canaries() {
    let plugin = host()
        .load(bundle(Fixture::WritesOutside))
        .unwrap()
        .plugin(None)
        .unwrap();
    let mut inst = plugin.instance("filter").unwrap();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 64, 64), BitDepth::Byte, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let out = inst
        .render_frame(
            1.0,
            &RenderOptions {
                window: Some(Rect::new(16, 16, 48, 48)),
                ..Default::default()
            },
        )
        .unwrap();
    let f = out
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::WriteOutsideRenderWindow)
        .expect("finding");
    // The margin is 16 px around the 32x32 window inside the 64x64 RoD: 64*64 - 32*32 pixels.
    assert!(f.message.contains("3072 pixel(s)"), "{}", f.message);
    // A conformant plugin rendering the same window raises nothing.
    let (_p, mut good) = gain_instance();
    good.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 64, 64), BitDepth::Byte, Components::Rgba),
    )
    .unwrap();
    good.set_param("gain", 2.0).unwrap();
    let ok = good
        .render_frame(
            1.0,
            &RenderOptions {
                window: Some(Rect::new(16, 16, 48, 48)),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(ok.findings.is_empty(), "{:?}", ok.findings);
}

#[test]
fn strict_mode_turns_conformance_errors_into_failures() {
    let strict = Host::new(HostConfig {
        strict: true,
        threads: 1,
        ..Default::default()
    });
    let plugin = strict
        .load(bundle(Fixture::WritesOutside))
        .unwrap()
        .plugin(None)
        .unwrap();
    let mut inst = plugin.instance("filter").unwrap();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 32, 32), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let err = inst
        .render_frame(
            1.0,
            &RenderOptions {
                window: Some(Rect::new(8, 8, 24, 24)),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, HostError::Strict { .. }), "{err}");
}

#[test]
fn garbage_statuses_are_reported() {
    let plugin = host()
        .load(bundle(Fixture::GarbageStatus))
        .unwrap()
        .plugin(None)
        .unwrap();
    let mut inst = plugin.instance("filter").unwrap();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 8, 8), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    assert!(inst.render_frame(1.0, &RenderOptions::default()).is_err());
    let f = inst.findings();
    assert!(
        f.iter().any(|f| f.kind == FindingKind::InvalidStatus
            && f.message
                .contains("OfxImageEffectActionGetRegionOfDefinition returned 9")),
        "{f:?}"
    );
}

#[test]
fn leaked_images_are_reported_and_reclaimed() {
    let plugin = host()
        .load(bundle(Fixture::LeakImage))
        .unwrap()
        .plugin(None)
        .unwrap();
    let mut inst = plugin.instance("filter").unwrap();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 8, 8), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let out = inst.render_frame(1.0, &RenderOptions::default()).unwrap();
    assert!(out.findings.iter().any(|f| f.kind == FindingKind::ImageNotReleased && f.message.starts_with("1 image(s)")), "{:?}", out.findings);
    let (fetched, released) = inst.image_counts();
    assert_eq!((fetched, released), (2, 1));
}

#[test]
fn defaults_outside_their_range_are_reported() {
    let plugin = host()
        .load(bundle(Fixture::BadDefault))
        .unwrap()
        .plugin(None)
        .unwrap();
    let f = plugin.describe().findings;
    assert!(
        f.iter()
            .any(|f| f.kind == FindingKind::DefaultOutOfRange
                && f.message.contains("'gain' default 20")),
        "{f:?}"
    );
}

#[test]
fn null_source_images_fail_cleanly_in_a_conformant_plugin() {
    let (_p, mut inst) = gain_instance();
    inst.set_param("gain", 2.0).unwrap();
    // No input connected: clipGetImage gives the plugin no image.
    let err = inst
        .render_frame(
            1.0,
            &RenderOptions {
                window: Some(Rect::new(0, 0, 8, 8)),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("kOfxStatFailed"), "{err}");
}

/// Renders a `w`×`h` pattern through a gain instance of `plugin` and checks every pixel is
/// `gain` times the source.
fn assert_renders_gain(plugin: &Plugin, gain: f64, (w, h): (i32, i32), what: &str) {
    let mut inst = plugin.instance("filter").unwrap();
    let img = pattern(Rect::new(0, 0, w, h), BitDepth::Float, Components::Rgba);
    inst.set_input_image("Source", img.clone()).unwrap();
    inst.set_param("gain", gain).unwrap();
    let out = inst.render_frame(1.0, &RenderOptions::default()).unwrap();
    let want: Vec<[f32; 4]> = img
        .to_rgba_f32()
        .iter()
        .map(|p| p.map(|v| v * gain as f32))
        .collect();
    assert_eq!(out.image.to_rgba_f32(), want, "{what}");
}

/// Two hosts load one binary: the OS shares the library, so the second `setHost` replaces the
/// first's pointer inside the plugin. Dropping the second host must leave the first working.
#[test]
fn a_second_host_of_the_same_binary_can_go_while_the_first_renders() {
    let first = host();
    let plugin = first
        .load(bundle(Fixture::Gain))
        .unwrap()
        .plugin(None)
        .unwrap();
    {
        let second = Host::new(HostConfig::default());
        let p2 = second
            .load(bundle(Fixture::Gain))
            .unwrap()
            .plugin(None)
            .unwrap();
        drop(p2);
        drop(second);
    }
    assert_renders_gain(&plugin, 0.5, (32, 16), "after the second host went");
}

/// Hosts created and dropped on several threads at once, each loading and rendering the same
/// binary: no crash, every render right.
#[test]
fn hosts_come_and_go_on_many_threads() {
    let b = bundle(Fixture::Gain);
    std::thread::scope(|s| {
        for t in 0..4 {
            let b = b.clone();
            s.spawn(move || {
                for i in 0..12 {
                    let h = Host::new(HostConfig {
                        threads: 1,
                        ..Default::default()
                    });
                    let p = h.load(&b).unwrap().plugin(None).unwrap();
                    let g = 0.25 * (1 + (t + i) % 3) as f64;
                    assert_renders_gain(&p, g, (16, 8), &format!("thread {t} round {i}"));
                }
            });
        }
    });
}

/// A plugin that needs the interact and draw suites at load (as the OpenFX Support library's
/// do) and describes an overlay loads and renders; before, load failed with
/// kOfxStatErrMissingHostFeature.
#[test]
fn plugins_that_describe_interacts_load_and_render() {
    let plugin = host()
        .load(bundle(Fixture::Interact))
        .unwrap()
        .plugin(None)
        .unwrap();
    assert!(plugin.describe().missing_suites.is_empty());
    assert_renders_gain(&plugin, 2.0, (16, 8), "interact fixture");
}

/// The temporal fixture on a clip whose frame f is a flat plate of value f / 100, frames 1–10.
fn temporal_instance(
    context: &str,
) -> (Plugin, Instance, std::sync::Arc<std::sync::Mutex<Vec<i64>>>) {
    let plugin = host()
        .load(bundle(Fixture::Temporal))
        .unwrap()
        .plugin(None)
        .unwrap();
    let mut inst = plugin.instance(context).unwrap();
    let reads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = reads.clone();
    let b = Rect::new(0, 0, 8, 4);
    inst.set_input(
        "Source",
        ClipInput::Loader(std::sync::Arc::new(move |f| {
            log.lock().unwrap().push(f);
            let v = f as f32 / 100.0;
            Ok(std::sync::Arc::new(
                HostImage::from_rgba_f32(
                    b,
                    BitDepth::Float,
                    Components::Rgba,
                    &vec![[v; 4]; b.pixel_count()],
                )
                .unwrap(),
            ))
        })),
    )
    .unwrap();
    inst.set_frame_range(1.0, 10.0);
    (plugin, inst, reads)
}

#[test]
fn temporal_plugins_read_the_frames_they_declare_and_no_warning_is_raised() {
    let (_p, mut inst, reads) = temporal_instance("filter");
    inst.set_param("radius", 2).unwrap();
    let needed = inst.frames_needed(5.0).unwrap();
    assert_eq!(needed.get("Source"), Some(&vec![(3.0, 7.0)]));
    let out = inst.render_frame(5.0, &RenderOptions::default()).unwrap();
    // Mean of 0.03..0.07 = 0.05: the plugin got each neighbour, not frame 5 five times.
    assert!((out.image.pixel(3, 2)[0] - 0.05).abs() < 1e-6);
    let mut r = reads.lock().unwrap().clone();
    r.sort();
    r.dedup();
    assert_eq!(r, vec![3, 4, 5, 6, 7]);
    assert!(
        !inst
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::UndeclaredFrame),
        "{:?}",
        inst.findings()
    );
}

#[test]
fn fetching_frames_outside_get_frames_needed_is_a_finding() {
    let (_p, mut inst, _) = temporal_instance("filter");
    inst.set_param("declare", false).unwrap();
    let out = inst.render_frame(5.0, &RenderOptions::default()).unwrap();
    // Still served (as hosts do), but reported: frames 4 and 6 were never declared.
    assert!((out.image.pixel(0, 0)[0] - 0.05).abs() < 1e-6);
    let undeclared: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::UndeclaredFrame)
        .collect();
    assert_eq!(undeclared.len(), 2, "{undeclared:?}");
    assert!(undeclared.iter().any(|f| f.message.contains("frame 4")));
}

#[test]
fn the_time_domain_is_asked_in_the_general_context_only() {
    let (_p, mut inst, _) = temporal_instance("general");
    inst.set_param("radius", 2).unwrap();
    // The fixture answers its source range shrunk by the radius: 1..10 → 3..8.
    assert_eq!(inst.time_domain().unwrap(), (3.0, 8.0));
    assert_eq!(inst.clip_frame_range("Output"), Some((3.0, 8.0)));
    assert_eq!(inst.clip_frame_range("Source"), Some((1.0, 10.0)));
    // In the filter context the spec has no time domain action: the clip range stands.
    let (_p2, inst2, _) = temporal_instance("filter");
    assert_eq!(inst2.time_domain().unwrap(), (1.0, 10.0));
}

/// #13 item 13, the OpenFX Basic example in byte and short depths: it takes its Output depth
/// from the Source's unmapped depth and refuses images of different depths with
/// kOfxStatErrImageFormat (1000). The host used to call that "not an OFX status"; now it names
/// the status, says what each clip was given and who chose it, and does not flag a status
/// the image-effect API defines.
#[test]
fn a_plugin_refusing_its_images_hears_what_it_was_given_and_who_chose_it() {
    let plugin = host()
        .load(bundle(Fixture::SameDepths))
        .unwrap()
        .plugin(None)
        .unwrap();
    let mut inst = plugin.instance("filter").unwrap();
    let b = Rect::new(0, 0, 8, 8);
    // A float plate offered in byte: the Source arrives in byte, its unmapped depth is float,
    // so the plugin asks for a float Output and then refuses the pair.
    inst.set_input_image("Source", pattern(b, BitDepth::Float, Components::Rgba))
        .unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let byte = RenderOptions {
        depth: Some(BitDepth::Byte),
        ..Default::default()
    };
    let err = inst.render_frame(1.0, &byte).unwrap_err().to_string();
    for want in [
        "kOfxStatErrImageFormat (1000)",
        "source byte rgba (the host's default; unmapped float rgba)",
        "output float rgba (asked by getClipPreferences",
        "must ask for them there",
    ] {
        assert!(err.contains(want), "{want:?} not in: {err}");
    }
    assert!(
        !inst
            .findings()
            .iter()
            .any(|f| f.kind == FindingKind::InvalidStatus),
        "{:?}",
        inst.findings()
    );
    // The same plugin renders when the plate really is 8-bit: both clips byte, gain applied.
    let plate = pattern(b, BitDepth::Byte, Components::Rgba);
    inst.set_input_image("Source", plate.clone()).unwrap();
    let out = inst.render_frame(1.0, &byte).unwrap().image;
    assert_eq!(out.depth(), BitDepth::Byte);
    let (i, o) = (plate.pixel(3, 2), out.pixel(3, 2));
    for c in 0..4 {
        let want = ((i[c] * 2.0).min(1.0) * 255.0).round() / 255.0;
        assert!(
            (o[c] - want).abs() < 1e-6,
            "channel {c}: {} vs {want}",
            o[c]
        );
    }
}

/// #13 item 13, the OpenFX PropertyTester: it answers kOfxStatErrBadHandle in
/// getClipPreferences because inArgs is NULL, which is what the specification (and the
/// reference HostSupport library) passes there. The host keeps to the specification and says
/// the fault is the plugin's.
#[test]
fn a_plugin_rejecting_a_null_the_spec_prescribes_is_told_it_is_at_fault() {
    let plugin = host()
        .load(bundle(Fixture::StrictArgs))
        .unwrap()
        .plugin(None)
        .unwrap();
    let mut inst = plugin.instance("filter").unwrap();
    inst.set_input_image(
        "Source",
        pattern(Rect::new(0, 0, 8, 8), BitDepth::Float, Components::Rgba),
    )
    .unwrap();
    let err = inst
        .render_frame(1.0, &RenderOptions::default())
        .unwrap_err()
        .to_string();
    for want in [
        "kOfxImageEffectActionGetClipPreferences returned kOfxStatErrBadHandle (9)",
        "the host passed inArgs = NULL, as the OFX specification says",
        "the plugin's fault",
    ] {
        assert!(err.contains(want), "{want:?} not in: {err}");
    }
}
