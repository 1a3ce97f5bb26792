//! The shipped presets, `pipelines/genai-plate.toml` and `pipelines/genai-plate-hdr.toml`, run
//! through the headless host on a compressed 8-bit H.264 clip (the sample clip `ofxrun
//! sample-clip` writes, small): the effects they name must exist, the plates must be twice the
//! clip's size in half float with the right primaries, and the QC measurements must show the
//! pipeline removed block edges and banding.

mod common;

use ofx_harness::io::{self, read_exr_header, read_image, FrameList};
use ofx_harness::pipeline::{self, Overrides, Pipeline, RunOptions};
use ofx_harness::{BitDepth, Host, HostConfig};
use std::path::{Path, PathBuf};

fn preset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(name)
}

fn scratch() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pipeline-presets");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(file: &Path, input: &Path, out: &str, report: Option<PathBuf>) -> Result<(), String> {
    let o = Overrides {
        input: Some(input.display().to_string()),
        output: Some(out.to_string()),
        set: vec![],
    };
    let pl = Pipeline::load(file, &o).map_err(|e| e.to_string())?;
    let host = Host::new(HostConfig {
        threads: 2,
        ..Default::default()
    });
    let opts = RunOptions {
        frames: Some(FrameList::parse("1-3").unwrap()),
        progress: io::ProgressMode::Quiet,
        report,
        ..Default::default()
    };
    pipeline::run(&host, &pl, &opts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn column(csv: &str, name: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = head.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(i).unwrap().parse().unwrap())
        .collect()
}

/// One test: the presets find plugins through OFX_PLUGIN_PATH, which is process-wide.
#[test]
fn presets_restore_upscale_and_regrain_a_compressed_clip() {
    if std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("PLATERESTORE_REQUIRE_TOOLS").is_none(),
            "ffmpeg is required here (scripts/setup.sh installs it)"
        );
        eprintln!("ffmpeg not installed: preset check skipped");
        return;
    }
    let dir = scratch();
    let clip = dir.join("clip.mp4");
    pipeline::source::write_sample_clip(&clip, 3, (192, 108), 30).unwrap();

    // Without the PlateRestore bundle on the search path, the preset names what is missing
    // (and never skips a node).
    let empty = dir.join("no-plugins");
    std::fs::create_dir_all(&empty).unwrap();
    std::env::set_var("OFX_PLUGIN_PATH", &empty);
    let out = format!("{}/sdr/p.####.exr", dir.display());
    let err = run(&preset("genai-plate.toml"), &clip, &out, None).unwrap_err();
    assert!(
        err.contains("org.platerestore.Restore") && err.contains("cannot be loaded"),
        "{err}"
    );
    assert!(!dir.join("sdr").exists());

    let bundles = common::bundle().parent().unwrap().to_path_buf();
    std::env::set_var("OFX_PLUGIN_PATH", &bundles);
    run(
        &preset("genai-plate.toml"),
        &clip,
        &out,
        Some(dir.join("qc")),
    )
    .unwrap();
    for f in 1..=3 {
        let path = dir.join(format!("sdr/p.{f:04}.exr"));
        let img = read_image(&path).unwrap();
        let b = img.bounds();
        assert_eq!((b.width(), b.height()), (384, 216), "Upscale ×2");
        assert_eq!(img.depth(), BitDepth::Half);
        assert!(img
            .to_rgba_f32()
            .iter()
            .all(|p| p.iter().all(|v| v.is_finite())));
        let h = read_exr_header(&path).unwrap();
        // BT.709 primaries, D65.
        assert_eq!(
            h.chromaticities,
            Some([0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290])
        );
        assert_eq!(h.frames_per_second, Some((24, 1)));
        let nodes = &h
            .text
            .iter()
            .find(|(n, _)| n == "platerestore:nodes")
            .unwrap()
            .1;
        for id in [
            "org.platerestore.Restore",
            "org.platerestore.Upscale",
            "org.platerestore.Grain",
        ] {
            assert!(nodes.contains(id), "{nodes}");
        }
    }
    // What the pipeline is for: fewer block edges, (far) less banding.
    let csv = std::fs::read_to_string(dir.join("qc/measures.csv")).unwrap();
    let (bb, ba) = (
        column(&csv, "blockiness_before"),
        column(&csv, "blockiness_after"),
    );
    let (nb, na) = (
        column(&csv, "banding_before"),
        column(&csv, "banding_after"),
    );
    for i in 0..3 {
        assert!(ba[i] < bb[i], "blockiness {} -> {}\n{csv}", bb[i], ba[i]);
        assert!(na[i] < 0.5 * nb[i], "banding {} -> {}\n{csv}", nb[i], na[i]);
    }

    // The HDR variant: PQ Rec.2020, and really expanded (not the SDR plate relabelled).
    let hdr = format!("{}/hdr/p.####.exr", dir.display());
    run(&preset("genai-plate-hdr.toml"), &clip, &hdr, None).unwrap();
    let path = dir.join("hdr/p.0002.exr");
    let h = read_exr_header(&path).unwrap();
    assert_eq!(
        h.chromaticities,
        Some([0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290])
    );
    let (s, p) = (
        read_image(dir.join("sdr/p.0002.exr")).unwrap(),
        read_image(&path).unwrap(),
    );
    let mean = |img: &ofx_harness::HostImage| {
        let px = img.to_rgba_f32();
        px.iter()
            .map(|p| (p[0] + p[1] + p[2]) as f64 / 3.0)
            .sum::<f64>()
            / px.len() as f64
    };
    // PQ puts SDR reference white (203 cd/m²) near code 0.58 and the plate's mid tones lower
    // than their sRGB codes; the PQ plate stays within 0..1.
    assert!(mean(&p) < mean(&s), "PQ {} vs sRGB {}", mean(&p), mean(&s));
    assert!(p
        .to_rgba_f32()
        .iter()
        .all(|q| q[..3].iter().all(|v| (0.0..=1.0).contains(v))));
}
