//! `ofxrun` as a user runs it: help, list, describe, render to files (and refusing to
//! overwrite), check with a crashing plugin isolated in a child process.

mod common;

use common::{bundle, text, Fixture};
use ofx_harness::io::{read_image, write_image, WriteOptions};
use ofx_harness::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ofxrun(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ofxrun"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run ofxrun")
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn help_documents_every_render_option() {
    let o = ofxrun(&["render", "--help"], Path::new("."));
    assert!(o.status.success());
    let t = text(&o);
    for opt in [
        "--input",
        "--output",
        "--frames",
        "--param",
        "--tile",
        "--threads",
        "--depth",
        "--overwrite",
        "--verbose",
        "--clip",
        "--scale",
        "--strict",
        "--cuda",
        "--missing",
    ] {
        assert!(t.contains(opt), "render --help lacks {opt}:\n{t}");
    }
    let o = ofxrun(&["--help"], Path::new("."));
    for cmd in ["list", "describe", "render", "check"] {
        assert!(text(&o).contains(cmd));
    }
}

#[test]
fn list_and_describe_show_the_fixture() {
    let dir = scratch("list");
    let b = bundle(Fixture::Gain);
    let o = ofxrun(&["list", b.parent().unwrap().to_str().unwrap()], &dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("org.platerestore.test.Gain  v1.0"),
        "{}",
        text(&o)
    );
    let o = ofxrun(&["describe", b.to_str().unwrap()], &dir);
    assert!(o.status.success());
    let t = text(&o);
    assert!(
        t.contains("gain")
            && t.contains("range [0, 10]")
            && t.contains("Multiplier applied to every channel"),
        "{t}"
    );
    assert!(t.contains("options [\"Process\", \"Fetch only\"]"), "{t}");
}

#[test]
fn render_reads_a_sequence_writes_outputs_and_never_overwrites_silently() {
    let dir = scratch("render");
    let b = Rect::from_size(24, 16);
    for f in 1..=3 {
        let px: Vec<[f32; 4]> = (0..b.pixel_count())
            .map(|i| [(i % 24) as f32 / 48.0, f as f32 / 10.0, 0.25, 1.0])
            .collect();
        let img = HostImage::from_rgba_f32(b, BitDepth::Short, Components::Rgba, &px).unwrap();
        write_image(
            dir.join(format!("in.{f:04}.png")),
            &img,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let plugin = bundle(Fixture::Gain);
    let args = [
        "render",
        plugin.to_str().unwrap(),
        "-i",
        "in.####.png",
        "-o",
        "out/res.####.tif",
        "--frames",
        "2-3",
        "-p",
        "gain@2=2",
        "-p",
        "gain@3=0.5",
        "--tile",
        "8",
        "--threads",
        "3",
    ];
    let o = ofxrun(&args, &dir);
    assert!(o.status.success(), "{}", text(&o));
    for (f, gain) in [(2, 2.0f32), (3, 0.5)] {
        let input = read_image(dir.join(format!("in.{f:04}.png"))).unwrap();
        let out = read_image(dir.join(format!("out/res.{f:04}.tif"))).unwrap();
        assert_eq!(out.bounds(), input.bounds());
        // 16-bit in, 16-bit out: code values scaled by the gain, clamped and rounded.
        let (x, y) = (5, 7);
        let want: Vec<f32> = input
            .pixel(x, y)
            .iter()
            .map(|v| ((v * gain).clamp(0.0, 1.0) * 65535.0 + 0.5).floor() / 65535.0)
            .collect();
        let got = out.pixel(x, y);
        for c in 0..4 {
            assert!(
                (got[c] - want[c]).abs() < 1e-6,
                "frame {f} channel {c}: {got:?} vs {want:?}"
            );
        }
    }
    assert!(!dir.join("out/res.0001.tif").exists());
    // Again: refused, naming the file and the fix, and the file is untouched.
    let before = std::fs::read(dir.join("out/res.0002.tif")).unwrap();
    let o = ofxrun(&args, &dir);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("res.0002.tif already exists") && text(&o).contains("--overwrite"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(dir.join("out/res.0002.tif")).unwrap(), before);
    let mut again = args.to_vec();
    again.push("--overwrite");
    assert!(ofxrun(&again, &dir).status.success());
}

#[test]
fn render_without_input_uses_the_built_in_plate_and_a_default_output() {
    let dir = scratch("default");
    let o = ofxrun(
        &[
            "render",
            bundle(Fixture::Gain).to_str().unwrap(),
            "-p",
            "gain=0.5",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = read_image(dir.join("out/Gain.0001.exr")).unwrap();
    let plate = io::default_input_frame(1);
    assert_eq!(out.bounds().width(), plate.bounds().width());
    let (p, q) = (plate.pixel(100, 100), out.pixel(100, 100));
    assert!((q[0] - p[0] * 0.5).abs() < 2e-3, "{p:?} -> {q:?}");
}

#[test]
fn render_errors_name_the_problem_and_exit_non_zero() {
    let dir = scratch("errors");
    let plugin = bundle(Fixture::Gain);
    let p = plugin.to_str().unwrap();
    let o = ofxrun(&["render", p, "-p", "gain=loud"], &dir);
    assert!(!o.status.success());
    assert!(text(&o).contains("'gain' takes numbers"), "{}", text(&o));
    let o = ofxrun(
        &["render", p, "-i", "missing.####.png", "--frames", "1-2"],
        &dir,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("missing.0001.png"), "{}", text(&o));
    let o = ofxrun(&["render", "org.platerestore.test.NotInstalled"], &dir);
    assert!(!o.status.success());
    assert!(text(&o).contains("OFX_PLUGIN_PATH"), "{}", text(&o));
}

#[test]
fn check_isolates_a_crashing_plugin_and_passes_a_good_one() {
    let dir = scratch("check");
    let good = ofxrun(
        &[
            "check",
            bundle(Fixture::Gain).to_str().unwrap(),
            "-p",
            "gain=2",
            "--size",
            "64x48",
        ],
        &dir,
    );
    assert!(good.status.success(), "{}", text(&good));
    assert!(text(&good).contains("PASSED"));
    let bad = ofxrun(
        &[
            "check",
            bundle(Fixture::NullCrash).to_str().unwrap(),
            "-p",
            "gain=2",
            "--size",
            "64x48",
        ],
        &dir,
    );
    assert!(!bad.status.success());
    let t = text(&bad);
    assert!(t.contains("[Crash] the plugin crashed (signal 11)"), "{t}");
    // The rest of the check still ran and reported.
    assert!(t.contains("ok    render tiled 37x29, one thread"), "{t}");
}

#[test]
fn render_with_cuda_fails_clearly_where_it_cannot_run() {
    let dir = scratch("cuda");
    let plugin = bundle(Fixture::NoCuda);
    let o = ofxrun(
        &[
            "render",
            plugin.to_str().unwrap(),
            "--cuda",
            "-o",
            "out.exr",
        ],
        &dir,
    );
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    if ofx_harness::device::driver_present() {
        // A GPU machine gets as far as the plugin, which declares no CUDA render.
        assert!(t.contains("does not declare OFX CUDA render"), "{t}");
    } else {
        assert!(t.contains("CUDA render needs an NVIDIA driver"), "{t}");
    }
    assert!(!dir.join("out.exr").exists(), "nothing written");
}

/// A PNG whose IHDR declares `w × h` RGB pixels, with a tiny IDAT: what a corrupt or hostile
/// header looks like.
fn lying_png(w: u32, h: u32) -> Vec<u8> {
    fn crc(bytes: &[u8]) -> u32 {
        // CRC-32 (ISO-HDLC), as PNG chunks use.
        let mut c = 0xffff_ffffu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let chunk = |t: &[u8], d: &[u8]| {
        let mut v = (d.len() as u32).to_be_bytes().to_vec();
        let mut td = t.to_vec();
        td.extend_from_slice(d);
        v.extend_from_slice(&td);
        v.extend_from_slice(&crc(&td).to_be_bytes());
        v
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    // zlib stream of a few zero bytes (stored block).
    png.extend(chunk(
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0, 0x04, 0, 0x01,
        ],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[test]
fn unreadable_or_lying_inputs_fail_the_frame_and_write_nothing() {
    let dir = scratch("unreadable");
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    std::fs::write(dir.join("text.png"), b"hello, not an image").unwrap();
    std::fs::write(dir.join("huge.png"), lying_png(100_000, 100_000)).unwrap();
    let plugin = bundle(Fixture::Gain);
    for (file, says) in [
        ("empty.png", "empty.png"),
        ("text.png", "text.png"),
        ("huge.png", "100000x100000"),
    ] {
        let out = format!("out-{file}.exr");
        let o = ofxrun(
            &["render", plugin.to_str().unwrap(), "-i", file, "-o", &out],
            &dir,
        );
        assert!(!o.status.success(), "{file}: must fail: {}", text(&o));
        assert!(text(&o).contains(says), "{file}: {}", text(&o));
        // The frame is named once, by the CLI, not again by the host's error.
        assert!(
            !text(&o).contains("render of frame"),
            "{file}: {}",
            text(&o)
        );
        assert!(!dir.join(&out).exists(), "{file}: no output may be written");
    }
    // The size limit names its variable, and is configurable.
    let o = ofxrun(
        &["render", plugin.to_str().unwrap(), "-i", "huge.png"],
        &dir,
    );
    assert!(text(&o).contains(io::MAX_PIXELS_ENV), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_ofxrun"))
        .args([
            "render",
            plugin.to_str().unwrap(),
            "-i",
            "huge.png",
            "-o",
            "x.exr",
        ])
        .env(io::MAX_PIXELS_ENV, "100")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(text(&o).contains("limit of 100"), "{}", text(&o));
    // EXR headers are checked too (a real 24×16 EXR against a 100-pixel limit).
    let b = Rect::from_size(24, 16);
    let px = vec![[0.5f32; 4]; b.pixel_count()];
    let img = HostImage::from_rgba_f32(b, BitDepth::Half, Components::Rgba, &px).unwrap();
    write_image(dir.join("small.exr"), &img, &WriteOptions::default()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ofxrun"))
        .args([
            "render",
            plugin.to_str().unwrap(),
            "-i",
            "small.exr",
            "-o",
            "y.exr",
        ])
        .env(io::MAX_PIXELS_ENV, "100")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("24x16") && text(&o).contains("limit of 100"),
        "{}",
        text(&o)
    );
}

#[test]
fn missing_sequence_frames_follow_the_missing_policy() {
    let dir = scratch("missing");
    let b = Rect::from_size(8, 6);
    for f in [1, 3] {
        let px = vec![[f as f32 / 4.0, 0.5, 0.25, 1.0]; b.pixel_count()];
        let img = HostImage::from_rgba_f32(b, BitDepth::Short, Components::Rgba, &px).unwrap();
        write_image(
            dir.join(format!("in.{f:04}.png")),
            &img,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let plugin = bundle(Fixture::Gain);
    let p = plugin.to_str().unwrap();
    let base = ["render", p, "-i", "in.####.png", "--frames", "1-3", "-o"];
    // Default: an error naming the frame, nothing rendered.
    let o = ofxrun(&[&base[..], &["err.####.exr"]].concat(), &dir);
    assert!(
        !o.status.success() && text(&o).contains("in.0002.png"),
        "{}",
        text(&o)
    );
    assert!(!dir.join("err.0001.exr").exists());
    // hold: frame 2 is frame 1; black: frame 2 is transparent black of the same size.
    let o = ofxrun(
        &[&base[..], &["hold.####.exr", "--missing", "hold"]].concat(),
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("holding frame 1"), "{}", text(&o));
    let (h1, h2) = (
        read_image(dir.join("hold.0001.exr")).unwrap(),
        read_image(dir.join("hold.0002.exr")).unwrap(),
    );
    assert_eq!(h1.pixel(3, 3), h2.pixel(3, 3));
    let o = ofxrun(
        &[&base[..], &["black.####.exr", "--missing", "black"]].concat(),
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let k = read_image(dir.join("black.0002.exr")).unwrap();
    assert_eq!(k.bounds(), b);
    assert_eq!(k.pixel(3, 3), [0.0; 4]);
}

#[test]
fn out_of_range_parameters_are_clamped_with_a_warning_and_bad_choices_refused() {
    let dir = scratch("ranges");
    let plugin = bundle(Fixture::Gain);
    let p = plugin.to_str().unwrap();
    let o = ofxrun(&["render", p, "-p", "gain=1e30", "-o", "big.exr"], &dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(
            "'gain': 1000000000000000000000000000000 is outside its range 0 to 10; clamped to 10"
        ),
        "{}",
        text(&o)
    );
    let o = ofxrun(&["render", p, "-p", "gain=10", "-o", "ten.exr"], &dir);
    assert!(o.status.success(), "{}", text(&o));
    let (a, b) = (
        read_image(dir.join("big.exr")).unwrap(),
        read_image(dir.join("ten.exr")).unwrap(),
    );
    assert_eq!(
        a.pixel(50, 50),
        b.pixel(50, 50),
        "1e30 renders as the maximum"
    );
    // Integers too; a choice index past the last option is an error naming the options.
    let o = ofxrun(
        &["render", p, "-p", "frame_offset=-99", "-o", "off.exr"],
        &dir,
    );
    assert!(text(&o).contains("clamped to -10"), "{}", text(&o));
    let o = ofxrun(&["render", p, "-p", "mode=7", "-o", "mode.exr"], &dir);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("is a choice"), "{}", text(&o));
}

#[test]
fn an_infinite_region_of_definition_renders_the_project_extent() {
    // The OpenFX Support library's Generator made `ofxrun render` panic ("capacity overflow").
    let dir = scratch("infinite");
    let o = ofxrun(
        &[
            "render",
            bundle(Fixture::InfiniteRod).to_str().unwrap(),
            "-o",
            "inf.exr",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = read_image(dir.join("inf.exr")).unwrap();
    // No input file: the project is the harness's default 1920×1080.
    assert_eq!(out.bounds(), Rect::from_size(1920, 1080));
}

#[test]
fn render_follows_the_time_domain_and_keyframes() {
    let dir = scratch("temporal");
    let b = Rect::from_size(8, 6);
    for f in 1..=6 {
        // f² / 100: a window's mean tells its radius (a linear ramp's would not).
        let px = vec![[(f * f) as f32 / 100.0, 0.5, 0.25, 1.0]; b.pixel_count()];
        let img = HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgba, &px).unwrap();
        write_image(
            dir.join(format!("in.{f:04}.exr")),
            &img,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let plugin = bundle(Fixture::Temporal);
    let p = plugin.to_str().unwrap();
    // General context, no --frames: radius 1 needs a neighbour each side, so the effect's
    // time domain is 2..5 and frames 1 and 6 are not rendered.
    let o = ofxrun(
        &[
            "render",
            p,
            "--context",
            "general",
            "-i",
            "in.####.exr",
            "-o",
            "out.####.exr",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("rendering 4 of 6 frames"), "{}", text(&o));
    assert!(!dir.join("out.0001.exr").exists() && !dir.join("out.0006.exr").exists());
    // Frame 3 = mean of frames 2, 3, 4 = (4 + 9 + 16) / 300.
    let r = read_image(dir.join("out.0003.exr")).unwrap().pixel(2, 2)[0];
    assert!((r - 29.0 / 300.0).abs() < 1e-4, "{r}");
    // Keyframed radius: 0 at frame 2, 3 at frame 5 → 1 at frame 3 and 2 at frame 4 (linear;
    // without interpolation both would read the default, 1).
    let o = ofxrun(
        &[
            "render",
            p,
            "-i",
            "in.####.exr",
            "--frames",
            "3-4",
            "-o",
            "key.####.exr",
            "--param",
            "radius@2=0",
            "--param",
            "radius@5=3",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    let r3 = read_image(dir.join("key.0003.exr")).unwrap().pixel(2, 2)[0];
    let r4 = read_image(dir.join("key.0004.exr")).unwrap().pixel(2, 2)[0];
    assert!(
        (r3 - 29.0 / 300.0).abs() < 1e-4,
        "radius 1 at frame 3: {r3}"
    );
    // Radius 2 at frame 4: (4 + 9 + 16 + 25 + 36) / 500 (radius 1 would give 50 / 300).
    assert!(
        (r4 - 90.0 / 500.0).abs() < 1e-4,
        "radius 2 at frame 4: {r4}"
    );
}
