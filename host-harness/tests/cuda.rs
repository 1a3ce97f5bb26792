//! OFX CUDA render as the host offers it, checked without a GPU: the C fixture logs the CUDA
//! inArgs and image pointers it receives while the host's device memory is emulated in host
//! memory, so the pointers, the stream property, uploads, downloads and canaries around the
//! window are all exercised exactly as on a GPU. Also: what plugins declare, refusals, and the
//! clear error (and a host that keeps working) when CUDA is asked for without a driver.

mod common;

use common::{bundle, Fixture};
use ofx_harness::device::driver_present;
use ofx_harness::*;

fn host(cuda: CudaMode) -> Host {
    Host::new(HostConfig {
        threads: 1,
        cuda,
        ..Default::default()
    })
}

const EMULATED: CudaMode = CudaMode::Emulated { streams: true };

fn instance(host: &Host, f: Fixture) -> Instance {
    host.load(bundle(f))
        .unwrap()
        .plugin(None)
        .unwrap()
        .instance("filter")
        .unwrap()
}

/// A float RGBA plate whose every pixel and channel differs, with an odd origin.
fn plate() -> HostImage {
    let bounds = Rect::new(-3, 5, 37, 31);
    let px: Vec<[f32; 4]> = (bounds.y1..bounds.y2)
        .flat_map(|y| {
            (bounds.x1..bounds.x2).map(move |x| {
                [
                    (x + 3) as f32 / 40.0,
                    (y - 5) as f32 / 26.0,
                    ((x * 7 + y * 3).rem_euclid(17)) as f32 / 17.0,
                    0.25 + (x - y).rem_euclid(4) as f32 / 8.0,
                ]
            })
        })
        .collect();
    HostImage::from_rgba_f32(bounds, BitDepth::Float, Components::Rgba, &px).unwrap()
}

/// The fixture's CUDA log lines, parsed: (action, cuda enabled, stream, src, dst), where
/// pointers are `None` when the fixture said "none" (stream absent) and 0 for NULL.
#[derive(Debug, PartialEq)]
struct CudaLog {
    action: String,
    enabled: i32,
    stream: Option<u64>,
    src: u64,
    dst: u64,
}

fn cuda_logs(inst: &Instance) -> Vec<CudaLog> {
    inst.messages()
        .into_iter()
        .filter(|m| m.id == "cuda")
        .map(|m| {
            let mut parts = m.text.split(' ');
            let action = parts.next().unwrap().to_string();
            let mut field = |key: &str| {
                let kv = parts.next().unwrap();
                kv.strip_prefix(key)
                    .and_then(|v| v.strip_prefix('='))
                    .unwrap_or_else(|| panic!("'{key}=' expected in '{}'", m.text))
                    .to_string()
            };
            let enabled = field("cuda").parse().unwrap();
            let stream = field("stream");
            let stream = (stream != "none").then(|| u64::from_str_radix(&stream, 16).unwrap());
            let src = u64::from_str_radix(&field("src"), 16).unwrap();
            let dst = u64::from_str_radix(&field("dst"), 16).unwrap();
            CudaLog {
                action,
                enabled,
                stream,
                src,
                dst,
            }
        })
        .collect()
}

#[test]
fn declared_cuda_support_is_read_and_reported() {
    let h = host(CudaMode::Off);
    let cases = [
        (Fixture::CudaProbe, "true", "true", true, false),
        (Fixture::CudaProbeNoStreams, "true", "false", true, false),
        (Fixture::NoCuda, "false", "false", false, false),
        (Fixture::CudaNeeded, "needed", "false", true, true),
    ];
    for (f, render, stream, supported, required) in cases {
        let plugin = h.load(bundle(f)).unwrap().plugin(None).unwrap();
        let d = plugin.describe();
        assert_eq!(
            (d.cuda.render.as_str(), d.cuda.stream.as_str()),
            (render, stream),
            "{f:?}"
        );
        assert_eq!(d.cuda.supported(), supported, "{f:?}");
        assert_eq!(d.cuda.required(), required, "{f:?}");
        let inst = plugin.instance("filter").unwrap();
        assert_eq!(inst.cuda_support(), &d.cuda, "{f:?}");
    }
}

#[test]
fn cuda_is_off_by_default_and_modes_say_what_they_offer() {
    for (mode, render, stream) in [
        (CudaMode::Off, false, false),
        (CudaMode::DRIVER, true, true),
        (CudaMode::Driver { streams: false }, true, false),
        (CudaMode::Emulated { streams: true }, true, true),
    ] {
        assert_eq!((mode.is_on(), mode.streams()), (render, stream), "{mode:?}");
    }
    assert_eq!(HostConfig::default().cuda, CudaMode::Off);
    assert_eq!(RenderOptions::default().cuda, None);
}

#[test]
fn emulated_cuda_render_hands_device_pointers_and_the_stream_to_the_plugin() {
    let h = host(EMULATED);
    let mut inst = instance(&h, Fixture::CudaProbe);
    let src = plate();
    let src_host_ptr = src.data_ptr() as u64;
    inst.set_input_image("Source", src.clone()).unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let window = Rect::new(2, 8, 30, 27);
    // Padded bottom-up rows both ways: the layouts must stay true in device memory.
    let rows = RowLayout {
        padding_bytes: 24,
        bottom_up: true,
    };
    let opts = RenderOptions {
        window: Some(window),
        input_rows: Some(rows),
        output_rows: rows,
        ..Default::default()
    };
    inst.begin_sequence(1.0, 1.0, 1.0, (1.0, 1.0)).unwrap();
    let out = inst.render_frame(1.0, &opts).unwrap();
    inst.end_sequence(1.0, 1.0, 1.0, (1.0, 1.0)).unwrap();
    assert!(out.findings.is_empty(), "{:?}", out.findings);

    // Pixels: the fixture's gain, computed here independently.
    for y in window.y1..window.y2 {
        for x in window.x1..window.x2 {
            let want = src.pixel(x, y).map(|v| v * 2.0);
            assert_eq!(out.image.pixel(x, y), want, "({x}, {y})");
        }
    }

    let report = out.cuda.as_ref().expect("a CUDA render reports itself");
    let stream = report.stream.expect("both sides support streams") as u64;
    assert_ne!(stream, 0);
    let image = |clip: &str| {
        report
            .images
            .iter()
            .find(|i| i.clip == clip)
            .unwrap_or_else(|| panic!("no {clip} device image in {report:?}"))
    };
    let (src_dev, dst_dev) = (image("Source"), image("Output"));
    assert!(src_dev.row_bytes < 0 && dst_dev.row_bytes < 0, "{report:?}");
    assert_eq!(
        src_dev.row_bytes,
        -(src_dev.bounds.width() as isize * 16 + 24)
    );
    assert!(dst_dev.bounds.contains(&window));
    assert_ne!(
        src_dev.data, src_host_ptr,
        "the source was copied to the device"
    );
    assert!(report.uploaded_bytes > 0 && report.downloaded_bytes > 0);

    let logs = cuda_logs(&inst);
    let actions: Vec<&str> = logs.iter().map(|l| l.action.as_str()).collect();
    assert_eq!(actions, ["begin", "render", "end"]);
    assert_eq!(
        logs[1],
        CudaLog {
            action: "render".into(),
            enabled: 1,
            stream: Some(stream),
            src: src_dev.data,
            dst: dst_dev.data,
        }
    );
    for l in [&logs[0], &logs[2]] {
        assert_eq!(l.enabled, 1, "{l:?}");
        assert!(l.stream.is_some_and(|s| s != 0), "{l:?}");
    }
}

#[test]
fn emulated_cuda_render_equals_the_host_memory_render_for_every_depth_tiled_and_threaded() {
    let h = Host::new(HostConfig {
        threads: 3,
        cuda: EMULATED,
        ..Default::default()
    });
    let mut inst = instance(&h, Fixture::CudaProbe);
    inst.set_param("gain", 0.75).unwrap();
    inst.set_param("invert", true).unwrap();
    for depth in [
        BitDepth::Byte,
        BitDepth::Short,
        BitDepth::Half,
        BitDepth::Float,
    ] {
        inst.set_input_image("Source", plate().converted(depth, Components::Rgba))
            .unwrap();
        let opts = RenderOptions {
            tile: Some((11, 7)),
            threads: Some(3),
            ..Default::default()
        };
        let on_device = inst.render_frame(1.0, &opts).unwrap();
        let on_host = inst
            .render_frame(
                1.0,
                &RenderOptions {
                    cuda: Some(false),
                    ..opts.clone()
                },
            )
            .unwrap();
        assert!(on_device.findings.is_empty(), "{:?}", on_device.findings);
        assert!(on_device.render_calls > 1, "tiled");
        assert!(on_host.cuda.is_none());
        assert_eq!(on_device.image.depth(), depth);
        assert_eq!(
            on_device.image.to_packed_bytes(),
            on_host.image.to_packed_bytes(),
            "{depth:?}"
        );
    }
    // Host-memory renders of a CUDA-capable plugin say so: CudaEnabled = 0, no stream.
    let logs = cuda_logs(&inst);
    assert!(logs.iter().any(|l| l.enabled == 0 && l.stream.is_none()));
    assert!(logs.iter().any(|l| l.enabled == 1 && l.stream.is_some()));
}

#[test]
fn no_stream_property_unless_both_sides_support_streams() {
    for (mode, fixture) in [
        (CudaMode::Emulated { streams: false }, Fixture::CudaProbe),
        (
            CudaMode::Emulated { streams: true },
            Fixture::CudaProbeNoStreams,
        ),
    ] {
        let h = host(mode);
        let mut inst = instance(&h, fixture);
        inst.set_input_image("Source", plate()).unwrap();
        inst.set_param("gain", 2.0).unwrap();
        inst.begin_sequence(1.0, 1.0, 1.0, (1.0, 1.0)).unwrap();
        let out = inst.render_frame(1.0, &RenderOptions::default()).unwrap();
        inst.end_sequence(1.0, 1.0, 1.0, (1.0, 1.0)).unwrap();
        assert_eq!(
            out.cuda.as_ref().unwrap().stream,
            None,
            "{mode:?} {fixture:?}"
        );
        let logs = cuda_logs(&inst);
        assert_eq!(logs.len(), 3, "{logs:?}");
        for l in &logs {
            assert_eq!(
                (l.enabled, l.stream),
                (1, None),
                "{mode:?} {fixture:?}: {l:?}"
            );
        }
        assert_eq!(out.image.pixel(0, 5), plate().pixel(0, 5).map(|v| v * 2.0));
    }
}

#[test]
fn every_action_gets_its_own_stream_so_a_cached_one_shows() {
    let h = host(EMULATED);
    let mut inst = instance(&h, Fixture::CudaProbe);
    inst.set_input_image("Source", plate()).unwrap();
    inst.set_param("gain", 2.0).unwrap();
    inst.begin_sequence(1.0, 2.0, 1.0, (1.0, 1.0)).unwrap();
    inst.render_frame(1.0, &RenderOptions::default()).unwrap();
    inst.render_frame(2.0, &RenderOptions::default()).unwrap();
    inst.end_sequence(1.0, 2.0, 1.0, (1.0, 1.0)).unwrap();
    let mut streams: Vec<u64> = cuda_logs(&inst).iter().map(|l| l.stream.unwrap()).collect();
    assert_eq!(streams.len(), 4);
    streams.sort();
    streams.dedup();
    assert_eq!(
        streams.len(),
        4,
        "begin, two renders and end each had their own stream"
    );
}

#[test]
fn canaries_around_the_window_are_checked_in_device_memory() {
    let h = host(EMULATED);
    let mut inst = instance(&h, Fixture::WritesOutside);
    inst.set_input_image("Source", plate()).unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let opts = RenderOptions {
        window: Some(Rect::new(4, 9, 20, 22)),
        output_rows: RowLayout {
            padding_bytes: 16,
            bottom_up: false,
        },
        ..Default::default()
    };
    let out = inst.render_frame(1.0, &opts).unwrap();
    assert!(out.cuda.is_some());
    assert!(
        out.findings
            .iter()
            .any(|f| f.kind == FindingKind::WriteOutsideRenderWindow),
        "{:?}",
        out.findings
    );
    // The same plugin inside its window in device memory leaves the canaries alone.
    let mut ok = instance(&h, Fixture::CudaProbe);
    ok.set_input_image("Source", plate()).unwrap();
    ok.set_param("gain", 2.0).unwrap();
    let out = ok.render_frame(1.0, &opts).unwrap();
    assert!(out.findings.is_empty(), "{:?}", out.findings);
}

#[test]
fn a_cuda_render_of_a_plugin_without_cuda_is_refused_with_a_finding() {
    let h = host(EMULATED);
    let mut inst = instance(&h, Fixture::NoCuda);
    inst.set_input_image("Source", plate()).unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let e = inst
        .render_frame(1.0, &RenderOptions::default())
        .unwrap_err();
    assert!(matches!(e, HostError::CudaRefused { .. }), "{e}");
    assert!(
        e.to_string().contains("does not declare OFX CUDA render"),
        "{e}"
    );
    assert!(inst
        .findings()
        .iter()
        .any(|f| f.kind == FindingKind::CudaRender && f.severity == Severity::Error));
    // The host and the instance carry on: a host-memory render works.
    let out = inst
        .render_frame(
            1.0,
            &RenderOptions {
                cuda: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.image.pixel(3, 7), plate().pixel(3, 7).map(|v| v * 2.0));
}

#[test]
fn a_plugin_that_needs_cuda_is_refused_host_memory() {
    let h = host(CudaMode::Off);
    let mut inst = instance(&h, Fixture::CudaNeeded);
    inst.set_input_image("Source", plate()).unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let e = inst
        .render_frame(1.0, &RenderOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("'needed'"), "{e}");
    assert!(inst
        .findings()
        .iter()
        .any(|f| f.kind == FindingKind::CudaRender));
    assert!(cuda_logs(&inst).is_empty(), "no render action was sent");
    // On a CUDA host it renders.
    let h = host(EMULATED);
    let mut inst = instance(&h, Fixture::CudaNeeded);
    inst.set_input_image("Source", plate()).unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let out = inst.render_frame(1.0, &RenderOptions::default()).unwrap();
    assert_eq!(cuda_logs(&inst)[0].enabled, 1);
    assert_eq!(out.image.pixel(3, 7), plate().pixel(3, 7).map(|v| v * 2.0));
}

#[test]
fn asking_for_cuda_on_a_host_without_it_fails_clearly_and_the_host_keeps_rendering() {
    let h = host(CudaMode::Off);
    let mut inst = instance(&h, Fixture::CudaProbe);
    inst.set_input_image("Source", plate()).unwrap();
    inst.set_param("gain", 2.0).unwrap();
    let e = inst
        .render_frame(
            1.0,
            &RenderOptions {
                cuda: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, HostError::CudaUnavailable { .. }), "{e}");
    assert!(e.to_string().contains("configured without CUDA"), "{e}");
    let out = inst.render_frame(1.0, &RenderOptions::default()).unwrap();
    assert!(out.cuda.is_none());
    assert_eq!(out.image.pixel(3, 7), plate().pixel(3, 7).map(|v| v * 2.0));
}

#[test]
fn the_driver_mode_without_an_nvidia_driver_is_a_clear_error_and_the_host_keeps_running() {
    let h = host(CudaMode::DRIVER);
    let mut inst = instance(&h, Fixture::CudaProbe);
    inst.set_input_image("Source", plate()).unwrap();
    inst.set_param("gain", 2.0).unwrap();
    if driver_present() {
        // A GPU machine: the device opens (the pixels of a real CUDA render are checked by the
        // plugin crate's GPU tests; this fixture's CPU loop cannot run on device pointers).
        let device = h
            .cuda_device()
            .expect("a driver is present, so the GPU opens");
        assert!(!device.description().is_empty());
        return;
    }
    let e = h.cuda_device().err().expect("no driver");
    assert!(
        e.to_string().contains("CUDA render needs an NVIDIA driver"),
        "{e}"
    );
    let e = inst
        .render_frame(1.0, &RenderOptions::default())
        .unwrap_err();
    assert!(matches!(e, HostError::CudaUnavailable { .. }), "{e}");
    assert!(e.to_string().contains("without --cuda"), "{e}");
    assert!(cuda_logs(&inst).is_empty(), "nothing reached the plugin");
    let e = inst.begin_sequence(1.0, 2.0, 1.0, (1.0, 1.0)).unwrap_err();
    assert!(matches!(e, HostError::CudaUnavailable { .. }), "{e}");
    // Asked again, the same answer (the failed probe is remembered, nothing panics)…
    assert!(h.cuda_device().is_err());
    // …and host-memory renders still work on the same host and instance.
    let out = inst
        .render_frame(
            1.0,
            &RenderOptions {
                cuda: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(out.image.pixel(3, 7), plate().pixel(3, 7).map(|v| v * 2.0));
    assert_eq!(cuda_logs(&inst)[0].enabled, 0);
}
