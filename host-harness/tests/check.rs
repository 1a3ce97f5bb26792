//! The conformance check over the C fixtures: a conformant plugin passes every step; each
//! broken one is reported with the right finding, and the check itself keeps running.

mod common;

use common::{bundle, Fixture};
use ofx_harness::*;
use std::time::Duration;

fn run(f: Fixture, probes: check::Probes) -> CheckReport {
    let host = Host::new(HostConfig {
        threads: 2,
        ..Default::default()
    });
    let opts = CheckOptions {
        params: vec![("gain".into(), "1.5".into())],
        probes,
        timeout: Duration::from_secs(5),
        size: (96, 64),
        ..Default::default()
    };
    check_plugin(&host, &bundle(f).display().to_string(), &opts)
}

const ALL: check::Probes = check::Probes {
    null_inputs: true,
    abort: true,
};

#[test]
fn conformant_fixture_passes_every_step() {
    let r = run(Fixture::Gain, ALL);
    assert!(
        r.passed(false),
        "steps {:?}\nfindings {:?}",
        r.steps,
        r.findings
    );
    assert_eq!(r.steps.len(), 10, "{:?}", r.steps);
    // The CUDA declaration is reported as information.
    assert!(r
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Capability && f.message.contains("CUDA")));
}

#[test]
fn each_broken_fixture_is_reported_with_its_finding() {
    let cases = [
        (
            Fixture::WritesOutside,
            FindingKind::WriteOutsideRenderWindow,
        ),
        (Fixture::GarbageStatus, FindingKind::InvalidStatus),
        (Fixture::LeakImage, FindingKind::ImageNotReleased),
        (Fixture::BadDefault, FindingKind::DefaultOutOfRange),
        (Fixture::FailDescribe, FindingKind::Load),
        (Fixture::NoGetPlugin, FindingKind::Load),
    ];
    for (fixture, kind) in cases {
        let r = run(fixture, ALL);
        assert!(
            r.findings.iter().any(|f| f.kind == kind),
            "{fixture:?}: expected {kind:?} in {:?}",
            r.findings
        );
        assert!(!r.passed(true), "{fixture:?} must not pass a strict check");
    }
}

#[test]
fn a_plugin_that_hangs_on_null_images_is_reported_not_waited_for() {
    let t = std::time::Instant::now();
    let host = Host::new(HostConfig {
        threads: 1,
        ..Default::default()
    });
    let opts = CheckOptions {
        params: vec![("gain".into(), "2".into())],
        probes: check::Probes {
            null_inputs: true,
            abort: false,
        },
        timeout: Duration::from_millis(1500),
        size: (32, 32),
        ..Default::default()
    };
    let r = check_plugin(
        &host,
        &bundle(Fixture::HangOnNull).display().to_string(),
        &opts,
    );
    assert!(
        r.findings.iter().any(|f| f.kind == FindingKind::Hang),
        "{:?}",
        r.findings
    );
    assert!(t.elapsed() < Duration::from_secs(30));
}
