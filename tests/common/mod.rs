//! Shared set-up for the integration tests: the plugin binary cargo built for this test run,
//! assembled into a real bundle once per test process, and loaded through the headless host.

#![allow(dead_code)]

use ofx_harness::{Host, HostConfig, HostImage, Instance, RenderOptions, RowLayout};
use platerestore::image::{Components, ImageBuf, PixelDepth, Rect};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The plugin binary cargo built for this test run. `cargo test` compiles the crate's cdylib
/// into `target/<profile>/deps/` next to the test executables (only `cargo build` copies it up
/// to `target/<profile>/`, where it could be stale), so that is where it is taken from.
pub fn plugin_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("tests run from target/<profile>/deps");
    let lib = deps.join(platerestore_bundle::lib_file_name());
    assert!(
        lib.exists(),
        "{} was not built by this cargo test run",
        lib.display()
    );
    lib
}

/// The bundle, assembled from the freshly built library into a per-process folder.
pub fn bundle() -> &'static Path {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let out = plugin_library()
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join(format!("test-bundles/{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        platerestore_bundle::assemble(&plugin_library(), &out).expect("bundle assembles")
    })
}

pub fn host() -> Host {
    Host::new(HostConfig::default())
}

pub fn plugin(identifier: &str) -> ofx_harness::Plugin {
    host()
        .plugin(&format!("{}:{identifier}", bundle().display()))
        .expect("plugin loads from the bundle")
}

pub fn harness_depth(d: PixelDepth) -> ofx_harness::BitDepth {
    match d {
        PixelDepth::U8 => ofx_harness::BitDepth::Byte,
        PixelDepth::U16 => ofx_harness::BitDepth::Short,
        PixelDepth::F16 => ofx_harness::BitDepth::Half,
        PixelDepth::F32 => ofx_harness::BitDepth::Float,
    }
}

pub fn harness_components(c: Components) -> ofx_harness::Components {
    match c {
        Components::Rgba => ofx_harness::Components::Rgba,
        Components::Rgb => ofx_harness::Components::Rgb,
        Components::Alpha => ofx_harness::Components::Alpha,
    }
}

pub fn harness_rect(r: Rect) -> ofx_harness::Rect {
    ofx_harness::Rect::new(r.x1, r.y1, r.x2, r.y2)
}

/// A plate-like test pattern: ramps, saturated patches, near-white highlights, partial alpha.
pub fn test_pattern(x: i32, y: i32) -> [f32; 4] {
    let u = ((x * 37 + y * 11).rem_euclid(97)) as f32 / 96.0;
    let v = ((x * 5 + y * 29).rem_euclid(53)) as f32 / 52.0;
    let w = ((x ^ y).rem_euclid(31)) as f32 / 30.0;
    let a = if (x + y) % 7 == 0 {
        0.0
    } else {
        0.25 + 0.75 * w
    };
    [u, v, (u + w) * 0.5, a]
}

/// The same pixels as a harness image (what the host feeds) and an ImageBuf (what the op reads).
pub fn pattern_pair(bounds: Rect, depth: PixelDepth, comps: Components) -> (HostImage, ImageBuf) {
    let buf = ImageBuf::new(bounds, depth, comps, 0, false);
    buf.fill_with(test_pattern);
    let host = HostImage::from_rgba_f32(
        harness_rect(bounds),
        harness_depth(depth),
        harness_components(comps),
        &buf.to_rgba_f32(),
    )
    .expect("pattern image");
    (host, buf)
}

/// A row layout a host may hand the plugin: `padding_bytes` past each row's pixels, rows
/// stored top-down or bottom-up.
pub fn rows(padding_bytes: usize, bottom_up: bool) -> RowLayout {
    RowLayout {
        padding_bytes,
        bottom_up,
    }
}

/// How a host may split a render: tile size (`None`: the whole window in one call) and worker
/// threads.
pub type Split = (Option<(i32, i32)>, Option<usize>);

/// A split and the row layout of both the input and the output image.
pub type Layout = (Option<(i32, i32)>, Option<usize>, RowLayout);

/// Every split (tile size, threads) under every row layout.
pub fn layouts(rows: &[RowLayout], splits: &[Split]) -> Vec<Layout> {
    rows.iter()
        .flat_map(|&r| {
            splits
                .iter()
                .map(move |&(tile, threads)| (tile, threads, r))
        })
        .collect()
}

/// Renders frame `time` of `fx` under every layout, with canaries around the rows of every
/// image, and hands each output image and a label naming its layout to `check`. A layout that
/// leaves any host finding (a canary overwritten, a write outside the window) fails the test.
pub fn render_layouts(
    fx: &mut Instance,
    time: f64,
    layouts: &[Layout],
    mut check: impl FnMut(&HostImage, &str),
) {
    for &(tile, threads, rows) in layouts {
        let label = format!("tile {tile:?} threads {threads:?} {rows:?}");
        let opts = RenderOptions {
            tile,
            threads,
            input_rows: Some(rows),
            output_rows: rows,
            canary: true,
            ..Default::default()
        };
        let out = fx
            .render_frame(time, &opts)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(out.findings.is_empty(), "{label}: {:?}", out.findings);
        check(&out.image, &label);
    }
}
