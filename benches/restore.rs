//! Denoise / Restore's fast paths on a 1920×1080 8-bit-like RGBA f32 frame, beside a plain copy
//! of the same frame in the same run: the classical mode (DCT shrinkage), the deband stage alone
//! (Strength 0) and the two together (the ≤ 0.5 s target of the classical mode is for this one).
//! The neural method is `benches/nn.rs`' subject.
//!
//! After the harness's own report, `ratio` runs the copy and each case alternately and prints
//! median wall time and ratios (alternating keeps both under the same load on a shared machine).
//! `RESTORE_BENCH_ONLY=<case>` restricts that report to one case (for profiling).

use platerestore::color::Encoding;
use platerestore::image::{ImageBuf, Rect};
use platerestore::nn::cpu::RunOptions;
use platerestore::nn::NetDevice;
use platerestore::ops::restore::{self, DebandParams, Method, RestoreParams};
use platerestore::ops::NeverAbort;
use platerestore_benchkit::{bench_group, Harness, Throughput};
use std::time::Instant;

mod common;
use common::{copy, median};

const W: i32 = 1920;
const H: i32 = 1080;

/// A plate with what the stages branch on: a slow gradient quantised to 8 bits (banding, where
/// deband samples pass its threshold), a textured half (where they fail) and 8×8 blocks of
/// slightly different level (the classical mode's work).
fn plate() -> ImageBuf {
    ImageBuf::from_fn(Rect::new(0, 0, W, H), |x, y| {
        let u = x as f32 / W as f32;
        let v = y as f32 / H as f32;
        let block = ((x / 8 * 7 + y / 8 * 13) % 5) as f32 / 255.0;
        let texture = if x > W / 2 {
            let h = (x as u32).wrapping_mul(0x9e37_79b9) ^ (y as u32).wrapping_mul(0x85eb_ca6b);
            (h >> 24) as f32 / 255.0 * 0.1
        } else {
            0.0
        };
        let q = |c: f32| ((c + block + texture).clamp(0.0, 1.0) * 255.0).round() / 255.0;
        [
            q(0.2 + 0.5 * u),
            q(0.3 + 0.3 * v),
            q(0.6 - 0.4 * u * v),
            1.0,
        ]
    })
}

fn cases() -> Vec<(&'static str, RestoreParams)> {
    let classical = RestoreParams {
        method: Method::Classical,
        encoding: Encoding::Srgb,
        ..RestoreParams::default()
    };
    vec![
        (
            "classical",
            RestoreParams {
                deband: None,
                ..classical.clone()
            },
        ),
        ("classical_deband", classical.clone()),
        (
            "deband_only",
            RestoreParams {
                strength: 0.0,
                deband: Some(DebandParams::default()),
                ..classical
            },
        ),
    ]
}

fn run(p: &RestoreParams, src: &ImageBuf, dst: &mut ImageBuf) {
    let frame = src.bounds();
    restore::render(
        p,
        None,
        &src.view(),
        frame,
        &dst.view_mut(),
        frame,
        NetDevice::Cpu(RunOptions::default()),
        &NeverAbort,
        &|_| {},
    )
    .unwrap();
}

fn bench(c: &mut Harness) {
    let src = plate();
    let mut dst = src.clone();
    let mut g = c.group("restore_1080p_rgba_f32");
    g.sample_size(10);
    g.throughput(Throughput::Elements(W as u64 * H as u64));
    g.bench_function("copy", |b| b.iter(|| copy(&src, &mut dst)));
    for (name, p) in cases() {
        g.bench_function(name, |b| b.iter(|| run(&p, &src, &mut dst)));
    }
    g.finish();
}

fn ratio() {
    let src = plate();
    let mut dst = src.clone();
    let reps = 9;
    let only = std::env::var("RESTORE_BENCH_ONLY").ok();
    println!("\nratio to a plain copy (alternating runs, {reps} each, median wall time)");
    println!(
        "{:<20} {:>10} {:>10} {:>8}",
        "case", "ms", "copy ms", "ratio"
    );
    for (name, p) in cases() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let (mut cw, mut rw) = (vec![], vec![]);
        for _ in 0..reps {
            let t = Instant::now();
            copy(&src, &mut dst);
            cw.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            run(&p, &src, &mut dst);
            rw.push(t.elapsed().as_secs_f64());
        }
        let (cw, rw) = (median(cw), median(rw));
        println!(
            "{name:<20} {:>10.1} {:>10.2} {:>8.1}",
            rw * 1e3,
            cw * 1e3,
            rw / cw
        );
    }
}

bench_group!(benches, bench);

fn main() {
    let only = std::env::var("RESTORE_BENCH_ONLY").is_ok();
    if !only {
        benches();
    }
    if !std::env::args().any(|a| a == "--list") {
        ratio();
    }
}
