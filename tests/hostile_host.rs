//! A host that misbehaves — NULL images, empty or inverted render windows, unsupported pixel
//! depths, missing image properties — gets a clear failure status and a message the user can
//! read from every PlateRestore effect, never a crash, and the instance keeps working.

mod common;

use ofx_harness::{Faults, RenderOptions};
use platerestore::image::{Components, PixelDepth, Rect};

const EFFECTS: [&str; 4] = [
    "org.platerestore.InverseToneMap",
    "org.platerestore.Grain",
    "org.platerestore.Upscale",
    "org.platerestore.Restore",
];

fn instance(id: &str) -> ofx_harness::Instance {
    let mut fx = common::plugin(id).instance("filter").unwrap();
    let (img, _) = common::pattern_pair(Rect::new(0, 0, 16, 12), PixelDepth::F32, Components::Rgba);
    fx.set_input_image("Source", img).unwrap();
    fx
}

fn with(faults: Faults) -> RenderOptions {
    RenderOptions {
        faults,
        ..Default::default()
    }
}

/// The fault fails the frame, an error message reaches the user, and the next normal render
/// of the same instance succeeds.
fn fails_cleanly(id: &str, faults: Faults, message_part: &str) {
    let mut fx = instance(id);
    let r = fx.render_frame(1.0, &with(faults.clone()));
    assert!(r.is_err(), "{id} {faults:?}: the frame must fail");
    let msgs = fx.messages();
    assert!(
        msgs.iter()
            .any(|m| m.kind.contains("Error") && m.text.contains(message_part)),
        "{id} {faults:?}: expected a message containing '{message_part}', got {msgs:?}"
    );
    let again = fx.render_frame(1.0, &RenderOptions::default());
    assert!(
        again.is_ok(),
        "{id}: the instance must keep working: {again:?}"
    );
}

#[test]
fn a_null_output_image_fails_with_a_message() {
    for id in EFFECTS {
        fails_cleanly(
            id,
            Faults {
                null_output_image: true,
                ..Default::default()
            },
            "no output image",
        );
    }
}

#[test]
fn an_unsupported_pixel_depth_fails_with_the_supported_list() {
    for id in EFFECTS {
        fails_cleanly(
            id,
            Faults {
                image_pixel_depth: Some("OfxBitDepthNone".into()),
                ..Default::default()
            },
            "byte, short, half or float",
        );
    }
}

#[test]
fn a_missing_image_property_fails_naming_it() {
    for id in EFFECTS {
        fails_cleanly(
            id,
            Faults {
                drop_image_property: Some("OfxImagePropRowBytes".into()),
                ..Default::default()
            },
            "OfxImagePropRowBytes",
        );
    }
}

#[test]
fn an_inverted_render_window_fails_with_a_message() {
    for id in EFFECTS {
        fails_cleanly(
            id,
            Faults {
                render_window: Some(ofx_harness::Rect::new(9, 9, 2, 2)),
                ..Default::default()
            },
            "inverted render window",
        );
    }
}

#[test]
fn an_empty_render_window_renders_nothing_and_succeeds() {
    for id in EFFECTS {
        let mut fx = instance(id);
        let out = fx
            .render_frame(
                1.0,
                &with(Faults {
                    render_window: Some(ofx_harness::Rect::new(5, 5, 5, 9)),
                    ..Default::default()
                }),
            )
            .unwrap_or_else(|e| panic!("{id}: an empty window is not an error: {e}"));
        assert_eq!(out.render_calls, 1, "{id}: the plugin was really asked");
        assert!(fx.messages().is_empty(), "{id}: {:?}", fx.messages());
    }
}

#[test]
fn null_source_images_render_black_without_error() {
    for id in EFFECTS {
        let mut fx = instance(id);
        let out = fx
            .render_frame(
                1.0,
                &with(Faults {
                    null_source_images: true,
                    ..Default::default()
                }),
            )
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(
            out.image.to_rgba_f32().iter().all(|p| *p == [0.0; 4]),
            "{id}"
        );
        let (fetched, released) = fx.image_counts();
        assert_eq!(fetched, released, "{id}: every image released");
    }
}
