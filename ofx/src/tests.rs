//! Hostile-host tests: image and action decoding against broken property sets, and the guard.

use crate::action::{InstanceChangedArgs, RenderArgs};
use crate::clip::{BitDepth, ImageComponents, ImageInfo, Premultiplication};
use crate::props::PropSet;
use crate::status::{Error, Status};
use crate::testing::{FakeProps, SUITE, V};
use crate::{guard, name};
use std::ffi::{c_void, CString};

fn s(v: &str) -> V {
    V::S(vec![CString::new(v).unwrap()])
}

fn float_rgba_image(data: *mut c_void) -> FakeProps {
    let mut p = FakeProps::default();
    p.set(name!(kOfxImagePropData), V::P(vec![data]))
        .set(name!(kOfxImagePropBounds), V::I(vec![-7, 13, 9, 20]))
        .set(name!(kOfxImagePropRowBytes), V::I(vec![-(16 * 16)]))
        .set(name!(kOfxImageEffectPropPixelDepth), s("OfxBitDepthFloat"))
        .set(
            name!(kOfxImageEffectPropComponents),
            s("OfxImageComponentRGBA"),
        )
        .set(
            name!(kOfxImageEffectPropPreMultiplication),
            s("OfxImageAlphaUnPremultiplied"),
        )
        .set(name!(kOfxImageEffectPropRenderScale), V::D(vec![0.5, 0.5]));
    p
}

fn decode(p: &mut FakeProps) -> Result<ImageInfo, Error> {
    ImageInfo::decode(&PropSet::new(p.handle(), &SUITE))
}

#[test]
fn a_valid_image_decodes_with_origin_and_negative_row_bytes() {
    let mut buf = [0u8; 16];
    let mut p = float_rgba_image(buf.as_mut_ptr() as *mut c_void);
    let info = decode(&mut p).unwrap();
    assert_eq!(
        (
            info.bounds.x1,
            info.bounds.y1,
            info.bounds.x2,
            info.bounds.y2
        ),
        (-7, 13, 9, 20)
    );
    assert_eq!(info.row_bytes, -256);
    assert_eq!(info.depth, BitDepth::Float);
    assert_eq!(info.components, ImageComponents::Rgba);
    assert_eq!(info.premultiplication, Premultiplication::Unpremultiplied);
    assert_eq!(info.render_scale, [0.5, 0.5]);
    assert_eq!(
        info.pixel_aspect, 1.0,
        "absent pixel aspect defaults to square"
    );
}

#[test]
fn unsupported_depth_and_components_are_errunsupported_with_a_fix() {
    let mut buf = [0u8; 16];
    let mut p = float_rgba_image(buf.as_mut_ptr() as *mut c_void);
    p.set(name!(kOfxImageEffectPropPixelDepth), s("OfxBitDepthNone"));
    let e = decode(&mut p).unwrap_err();
    assert_eq!(e.status, Status::ErrUnsupported);
    assert!(
        e.message.contains("byte, short, half or float"),
        "{}",
        e.message
    );

    let mut p = float_rgba_image(buf.as_mut_ptr() as *mut c_void);
    p.set(
        name!(kOfxImageEffectPropComponents),
        s("OfxImageComponentYUVA"),
    );
    let e = decode(&mut p).unwrap_err();
    assert_eq!(e.status, Status::ErrUnsupported);
    assert!(e.message.contains("RGBA, RGB or Alpha"), "{}", e.message);
}

#[test]
fn null_data_inverted_bounds_and_short_rows_are_rejected() {
    let mut p = float_rgba_image(std::ptr::null_mut());
    assert_eq!(decode(&mut p).unwrap_err().status, Status::ErrValue);

    let mut buf = [0u8; 16];
    let mut p = float_rgba_image(buf.as_mut_ptr() as *mut c_void);
    p.set(name!(kOfxImagePropBounds), V::I(vec![10, 0, 0, 10]));
    assert_eq!(decode(&mut p).unwrap_err().status, Status::ErrValue);

    let mut p = float_rgba_image(buf.as_mut_ptr() as *mut c_void);
    p.set(name!(kOfxImagePropRowBytes), V::I(vec![100])); // 16 px × 16 B = 256 needed
    let e = decode(&mut p).unwrap_err();
    assert_eq!(e.status, Status::ErrValue);
    assert!(e.message.contains("shorter"), "{}", e.message);

    // An empty image with no data is legal (nothing to read).
    let mut p = float_rgba_image(std::ptr::null_mut());
    p.set(name!(kOfxImagePropBounds), V::I(vec![0, 0, 0, 0]));
    assert!(decode(&mut p).is_ok());
}

#[test]
fn a_missing_property_is_an_error_naming_it() {
    let mut buf = [0u8; 16];
    let mut p = float_rgba_image(buf.as_mut_ptr() as *mut c_void);
    p.values.remove("OfxImagePropRowBytes");
    let e = decode(&mut p).unwrap_err();
    assert_eq!(e.status, Status::ErrUnknown);
    assert!(e.message.contains("OfxImagePropRowBytes"), "{}", e.message);
}

#[test]
fn render_args_decode_optional_properties_as_defaults() {
    let mut p = FakeProps::default();
    p.set(name!(kOfxPropTime), V::D(vec![12.0])).set(
        name!(kOfxImageEffectPropRenderWindow),
        V::I(vec![0, 0, 0, 0]),
    );
    let args = RenderArgs::decode(&PropSet::new(p.handle(), &SUITE)).unwrap();
    assert_eq!(args.time, 12.0);
    assert_eq!(args.render_scale, [1.0, 1.0]);
    assert!(args.cuda.is_none());

    // OFX 1.5 CUDA render: enabled with a stream pointer.
    let mut stream = 0u64;
    p.set(crate::cuda::PROP_CUDA_ENABLED, V::I(vec![1]))
        .set(
            crate::cuda::PROP_CUDA_STREAM,
            V::P(vec![&mut stream as *mut u64 as *mut c_void]),
        )
        .set(
            name!(kOfxImageEffectPropRenderScale),
            V::D(vec![0.0, f64::NAN]),
        );
    let args = RenderArgs::decode(&PropSet::new(p.handle(), &SUITE)).unwrap();
    assert_eq!(
        args.cuda.unwrap().stream,
        &mut stream as *mut u64 as *mut c_void
    );
    assert_eq!(
        args.render_scale,
        [1.0, 1.0],
        "nonsense scales fall back to 1"
    );

    let mut missing = FakeProps::default();
    missing.set(name!(kOfxPropTime), V::D(vec![1.0]));
    let e = RenderArgs::decode(&PropSet::new(missing.handle(), &SUITE)).unwrap_err();
    assert!(
        e.message.contains("OfxImageEffectPropRenderWindow"),
        "{}",
        e.message
    );
}

#[test]
fn instance_changed_accepts_names_the_plugin_never_declared() {
    let mut p = FakeProps::default();
    p.set(name!(kOfxPropType), s("OfxTypeParameter"))
        .set(name!(kOfxPropName), s("ResolveUseAlphaForTrackCompositing"))
        .set(name!(kOfxPropChangeReason), s("OfxChangeUserEdited"));
    let a = InstanceChangedArgs::decode(&PropSet::new(p.handle(), &SUITE)).unwrap();
    assert!(!a.is_param(c"analyze"));
    assert!(a.user_edited());
}

#[test]
fn a_null_property_set_is_a_bad_handle_not_a_crash() {
    let p = PropSet::new(std::ptr::null_mut(), &SUITE);
    assert_eq!(
        p.get_int(name!(kOfxPropTime), 0).unwrap_err().status,
        Status::ErrBadHandle
    );
    assert!(p.get_int_opt(name!(kOfxPropTime), 0).is_none());
}

#[test]
fn the_guard_maps_panics_errors_and_replies() {
    assert_eq!(guard("test", None, || Ok(Status::Ok)), 0);
    assert_eq!(guard("test", None, || Err(Error::reply_default())), 14);
    assert_eq!(
        guard("test", None, || Err(Error::new(
            Status::ErrMemory,
            "out of memory"
        ))),
        8
    );
    let code = guard("test", None, || -> crate::Result<Status> { panic!("boom") });
    assert_eq!(code, Status::Failed.code());
}
