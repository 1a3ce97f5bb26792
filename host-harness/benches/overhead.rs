//! The harness's own cost per 4K frame: everything but the plugin's pixel work and file I/O.
//!
//! The C fixture's "Fetch only" mode fetches and releases its source and output images and
//! touches no pixel, so a frame in that mode is pure host work (clip preferences, region of
//! definition, identity, regions of interest, image handles, output allocation). "Process" adds
//! the plugin's gain loop over 3840x2160 float RGBA (133 MB read + written), for scale.

#[path = "../tests/common/mod.rs"]
mod common;

use ofx_harness::*;
use platerestore_benchkit::{bench_group, bench_main, Harness, Throughput};

const W: i32 = 3840;
const H: i32 = 2160;

fn instance(mode: &str, input: HostImage) -> (Plugin, Instance) {
    let host = Host::new(HostConfig {
        threads: 1,
        ..Default::default()
    });
    let plugin = host
        .load(common::bundle(common::Fixture::Gain))
        .unwrap()
        .plugin(None)
        .unwrap();
    let mut inst = plugin.instance("filter").unwrap();
    inst.set_input_image("Source", input).unwrap();
    inst.set_param("gain", 1.5).unwrap();
    inst.set_param_text("mode", mode, None).unwrap();
    (plugin, inst)
}

fn frame(depth: BitDepth) -> HostImage {
    HostImage::new(Rect::from_size(W, H), depth, Components::Rgba)
}

fn bench(c: &mut Harness) {
    let mut g = c.group("harness_4k_frame");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((W as u64) * (H as u64) * 16));
    let no_canary = RenderOptions {
        threads: Some(1),
        canary: false,
        ..Default::default()
    };

    let (_p, mut fetch_only) = instance("Fetch only", frame(BitDepth::Float));
    g.bench_function("host_overhead_fetch_only_float", |b| {
        b.iter(|| fetch_only.render_frame(1.0, &no_canary).unwrap())
    });

    // The host converts an 8-bit plate to the float the plugin is offered: host work too.
    let (_p2, mut converting) = instance("Fetch only", frame(BitDepth::Byte));
    let to_float = RenderOptions {
        depth: Some(BitDepth::Float),
        ..no_canary.clone()
    };
    g.bench_function("host_overhead_fetch_only_byte_to_float", |b| {
        b.iter(|| converting.render_frame(1.0, &to_float).unwrap())
    });

    let to_float_2 = RenderOptions {
        threads: Some(2),
        ..to_float.clone()
    };
    g.bench_function("host_overhead_fetch_only_byte_to_float_2_threads", |b| {
        b.iter(|| converting.render_frame(1.0, &to_float_2).unwrap())
    });

    // Canaries around a window 32 px inside the frame (what `check` and strict renders do).
    let canary = RenderOptions {
        window: Some(Rect::new(32, 32, W - 32, H - 32)),
        canary: true,
        ..no_canary.clone()
    };
    g.bench_function("host_overhead_fetch_only_with_canaries", |b| {
        b.iter(|| fetch_only.render_frame(1.0, &canary).unwrap())
    });

    let (_p3, mut process) = instance("Process", frame(BitDepth::Float));
    g.bench_function("plugin_gain_process_float", |b| {
        b.iter(|| process.render_frame(1.0, &no_canary).unwrap())
    });
    let out = process.render_frame(1.0, &no_canary).unwrap();
    eprintln!(
        "one Process frame: total {:.1} ms, inside the plugin's render {:.1} ms, host {:.1} ms",
        out.total_seconds * 1e3,
        out.plugin_seconds * 1e3,
        (out.total_seconds - out.plugin_seconds) * 1e3
    );
    g.finish();
}

bench_group!(benches, bench);
bench_main!(benches);
