//! The built bundle has the OFX layout, exports the OFX entry points, and describes exactly the
//! effects that work, with parameters a host can show (labels, hints, sane ranges).

mod common;

use ofx_harness::{ParamType, ParamValue};
use platerestore::ops::itm;

#[test]
fn bundle_has_the_ofx_layout_and_one_icon_per_registered_effect() {
    let b = common::bundle();
    assert!(b.ends_with("PlateRestore.ofx.bundle"));
    let bin = b.join("Contents/Linux-x86-64/PlateRestore.ofx");
    assert!(bin.is_file(), "{} missing", bin.display());
    assert!(b.join("Contents/Info.plist").is_file());
    let plist = std::fs::read_to_string(b.join("Contents/Info.plist")).unwrap();
    assert!(plist.contains("<string>PlateRestore.ofx</string>"));
    let host = common::host();
    let binary = host.load(b).expect("bundle loads");
    let ids: Vec<_> = binary
        .plugins()
        .iter()
        .map(|p| p.identifier.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "org.platerestore.InverseToneMap",
            "org.platerestore.Grain",
            "org.platerestore.Upscale",
            "org.platerestore.Restore"
        ],
        "only working effects are registered"
    );
    for p in binary.plugins() {
        assert_eq!(p.api, "OfxImageEffectPluginAPI");
        assert_eq!(p.api_version, 1);
        let icon = b.join(format!("Contents/Resources/{}.png", p.identifier));
        let bytes = std::fs::read(&icon).unwrap_or_else(|_| panic!("{} missing", icon.display()));
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
}

#[test]
fn the_binary_exports_the_two_ofx_entry_points() {
    // dlopen the library itself, as every host does.
    let lib = common::plugin_library();
    // SAFETY: loading our own plugin; its initialisers only set up statics.
    let l = unsafe { libloading::Library::new(&lib) }.unwrap();
    // SAFETY: the OFX signatures from ofxCore.h.
    unsafe {
        let n: libloading::Symbol<unsafe extern "C" fn() -> i32> =
            l.get(b"OfxGetNumberOfPlugins\0").unwrap();
        let get: libloading::Symbol<unsafe extern "C" fn(i32) -> *mut ofx_sys::OfxPlugin> =
            l.get(b"OfxGetPlugin\0").unwrap();
        assert_eq!(n(), 4);
        assert!(!get(0).is_null());
        assert!(
            get(4).is_null(),
            "out-of-range index must give NULL, not crash"
        );
        assert!(get(-1).is_null());
    }
}

#[test]
fn inverse_tone_map_describes_itself_fully() {
    let plugin = common::plugin("org.platerestore.InverseToneMap");
    let d = plugin.describe();
    assert_eq!(d.label, "Inverse Tone Map");
    assert_eq!(d.grouping, "PlateRestore");
    assert_eq!(d.version, (1, 1));
    for ctx in [
        "OfxImageEffectContextFilter",
        "OfxImageEffectContextGeneral",
    ] {
        assert!(
            d.declared_contexts.iter().any(|c| c == ctx),
            "{ctx} missing"
        );
    }
    assert_eq!(d.render_thread_safety, "OfxImageEffectRenderFullySafe");
    assert!(d.supports_tiles && d.supports_multi_resolution);
    for depth in [
        "OfxBitDepthByte",
        "OfxBitDepthShort",
        "OfxBitDepthHalf",
        "OfxBitDepthFloat",
    ] {
        assert!(
            d.supported_depths.iter().any(|s| s == depth),
            "{depth} missing"
        );
    }
    assert!(!d.contexts.is_empty());
    for ctx in &d.contexts {
        let names: Vec<_> = ctx.clips.iter().map(|c| c.name.as_str()).collect();
        assert!(
            names.contains(&"Source") && names.contains(&"Output"),
            "{names:?}"
        );
        for p in &ctx.params {
            assert!(!p.label.is_empty(), "{} has no label", p.name);
            if matches!(p.kind, ParamType::Group | ParamType::Page) {
                continue;
            }
            assert!(
                p.hint.len() > 30,
                "{} needs a hint a colourist understands",
                p.name
            );
            if p.kind == ParamType::Double {
                // Resolve clamps doubles without range and display range to (-1, 1).
                assert!(
                    p.min[0] < p.max[0] && p.display_min[0] < p.display_max[0],
                    "{}",
                    p.name
                );
                let ParamValue::Doubles(ref v) = p.default else {
                    panic!("{} default is not a double", p.name)
                };
                let v = v[0];
                assert!(
                    v >= p.min[0] && v <= p.max[0],
                    "{} default {v} outside range",
                    p.name
                );
            }
        }
        let options = |name: &str| {
            ctx.params
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .options
                .clone()
        };
        let labels = |all: Vec<&'static str>| all.into_iter().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            options("method"),
            labels(itm::ItmMethod::ALL.iter().map(|m| m.label()).collect())
        );
        assert_eq!(
            options("outputTransfer"),
            labels(itm::OutputTransfer::ALL.iter().map(|m| m.label()).collect())
        );
        let peak = ctx
            .params
            .iter()
            .find(|p| p.name == "peakLuminance")
            .unwrap();
        assert_eq!(peak.default, ParamValue::Doubles(vec![1000.0]));
        let white = ctx
            .params
            .iter()
            .find(|p| p.name == "referenceWhite")
            .unwrap();
        assert_eq!(
            white.default,
            ParamValue::Doubles(vec![203.0]),
            "BT.2408 reference white"
        );
    }
    assert!(plugin.findings().is_empty(), "{:?}", plugin.findings());
}
