//! The order of actions the host sends over a plugin's life, as the C fixture logs them
//! (its own test binary: the log is named by a process-wide environment variable).

mod common;

use common::{bundle, Fixture};
use ofx_harness::*;

#[test]
fn actions_follow_the_spec_order_and_unload_comes_last() {
    let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixture-actions.log");
    let _ = std::fs::remove_file(&log);
    std::env::set_var("HARNESS_FIXTURE_ACTION_LOG", &log);
    {
        let host = Host::new(HostConfig {
            threads: 1,
            ..Default::default()
        });
        let plugin = host
            .load(bundle(Fixture::Gain))
            .unwrap()
            .plugin(None)
            .unwrap();
        let mut inst = plugin.instance("filter").unwrap();
        inst.set_input_image(
            "Source",
            HostImage::new(Rect::from_size(8, 8), BitDepth::Float, Components::Rgba),
        )
        .unwrap();
        inst.set_param("gain", 2.0).unwrap();
        inst.begin_sequence(1.0, 1.0, 1.0, (1.0, 1.0)).unwrap();
        inst.render_frame(1.0, &RenderOptions::default()).unwrap();
        inst.end_sequence(1.0, 1.0, 1.0, (1.0, 1.0)).unwrap();
        // Dropping the instance destroys it; dropping the last plugin handle unloads it.
    }
    std::env::remove_var("HARNESS_FIXTURE_ACTION_LOG");
    let text = std::fs::read_to_string(&log).unwrap();
    let got: Vec<&str> = text.lines().collect();
    let want = [
        "OfxActionLoad",
        "OfxActionDescribe",
        "OfxImageEffectActionDescribeInContext",
        "OfxImageEffectActionDescribeInContext",
        "OfxActionCreateInstance",
        "OfxActionBeginInstanceChanged",
        "OfxActionInstanceChanged",
        "OfxActionEndInstanceChanged",
        "OfxImageEffectActionBeginSequenceRender",
        "OfxImageEffectActionGetClipPreferences",
        // The fixture declares temporal clip access (it can read other frames), so the host
        // asks which frames it needs before it fetches any.
        "OfxImageEffectActionGetFramesNeeded",
        "OfxImageEffectActionGetRegionOfDefinition",
        "OfxImageEffectActionIsIdentity",
        "OfxImageEffectActionGetRegionsOfInterest",
        "OfxImageEffectActionRender",
        "OfxImageEffectActionEndSequenceRender",
        "OfxActionDestroyInstance",
        "OfxActionUnload",
    ];
    assert_eq!(got, want);
}
