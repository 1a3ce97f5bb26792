//! Grain speed on a 4K RGBA f32 frame, beside a plain copy of the same frame in the same run
//! (the in-place row driver with an identity op: two threads, no row buffers, as the grain
//! itself works on float frames): the copy is the memory-bound floor, and the ratio is the
//! figure to compare across machines (absolute times move with the machine's load).
//!
//! After the harness's own report, `ratio` runs copy and each grain setting alternately and
//! prints median wall time and the process CPU time of each relative to the copy: on a shared
//! machine, alternating keeps both under the same load, and CPU time ignores time spent
//! waiting for a core.

use platerestore::image::{ImageBuf, Rect};
use platerestore::ops::grain::{run_cpu, GrainParams, GrainPreset, InputEncoding};
use platerestore::ops::NeverAbort;
use platerestore_benchkit::{bench_group, black_box, Harness, Throughput};

mod common;
use common::{copy, median};

const W: i32 = 3840;
const H: i32 = 2160;

fn plate() -> ImageBuf {
    // A smooth gradient with some colour: every response-table entry is visited.
    ImageBuf::from_fn(Rect::new(0, 0, W, H), |x, y| {
        let u = x as f32 / W as f32;
        let v = y as f32 / H as f32;
        [u, 0.5 * (u + v), v, 1.0]
    })
}

fn bench(c: &mut Harness) {
    let src = plate();
    let mut dst = src.clone();
    let win = src.bounds();
    let mut g = c.group("grain_4k_rgba_f32");
    g.sample_size(10);
    // One read and one write of the frame.
    g.throughput(Throughput::Bytes(2 * W as u64 * H as u64 * 16));
    g.bench_function("copy", |b| b.iter(|| copy(&src, &mut dst)));
    for (name, p) in cases() {
        g.bench_function(name, |b| {
            b.iter(|| run_cpu(&p, &src.view(), &dst.view_mut(), win, &NeverAbort).unwrap())
        });
    }
    let proxy = GrainParams {
        render_scale: [0.5, 0.5],
        ..GrainPreset::Film35mmMedium.params()
    };
    let half = Rect::new(0, 0, W / 2, H / 2);
    g.throughput(Throughput::Bytes(2 * (W / 2) as u64 * (H / 2) as u64 * 16));
    g.bench_function("35mm_medium_half_res_proxy", |b| {
        b.iter(|| run_cpu(&proxy, &src.view(), &dst.view_mut(), half, &NeverAbort).unwrap())
    });
    g.finish();
}

fn cases() -> Vec<(&'static str, GrainParams)> {
    vec![
        ("35mm_medium", GrainPreset::Film35mmMedium.params()),
        (
            "35mm_medium_no_roughness",
            GrainParams {
                roughness: 0.0,
                ..GrainPreset::Film35mmMedium.params()
            },
        ),
        ("8mm_fast", GrainPreset::Film8mmFast.params()),
        ("deband_dither", GrainPreset::DebandDither.params()),
        (
            "35mm_medium_linear",
            GrainParams {
                input_encoding: InputEncoding::Linear,
                ..GrainPreset::Film35mmMedium.params()
            },
        ),
    ]
}

/// Process CPU time (user + system, all threads) in seconds, from /proc (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn ratio() {
    let src = plate();
    let mut dst = src.clone();
    let win = src.bounds();
    let reps = 9;
    let time = |f: &mut dyn FnMut()| {
        let (c0, t0) = (cpu_seconds(), std::time::Instant::now());
        f();
        (t0.elapsed().as_secs_f64(), cpu_seconds() - c0)
    };
    // A single-threaded memcpy of the frame's floats, the plainest copy there is.
    let raw_src = vec![0.5f32; (W * H * 4) as usize];
    let mut raw_dst = vec![0.0f32; raw_src.len()];
    println!("\nratio to a plain copy (alternating runs, {reps} each; wall: median, cpu: mean)");
    println!(
        "{:<28} {:>10} {:>8} {:>10} {:>8} {:>9}",
        "case", "wall ms", "ratio", "cpu ms", "ratio", "x memcpy"
    );
    // GRAIN_BENCH_ONLY=<case> restricts the report to one case (for profiling).
    let only = std::env::var("GRAIN_BENCH_ONLY").ok();
    for (name, p) in cases() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let (mut cw, mut cc, mut gw, mut gc, mut mw) = (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..reps {
            let (w, c) = time(&mut || copy(&src, &mut dst));
            cw.push(w);
            cc.push(c);
            let (w, c) =
                time(&mut || run_cpu(&p, &src.view(), &dst.view_mut(), win, &NeverAbort).unwrap());
            gw.push(w);
            gc.push(c);
            let t = std::time::Instant::now();
            raw_dst.copy_from_slice(black_box(&raw_src));
            black_box(&mut raw_dst);
            mw.push(t.elapsed().as_secs_f64());
        }
        // CPU time is read in 10 ms ticks: use the mean over all runs, not a median of ticks.
        let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        let (cw, cc, gw, gc, mw) = (median(cw), mean(cc), median(gw), mean(gc), median(mw));
        println!(
            "{name:<28} {:>10.1} {:>8.2} {:>10.1} {:>8.2} {:>9.2}   (copy {:.1} ms wall, {:.1} ms cpu; memcpy {:.1} ms)",
            gw * 1e3,
            gw / cw,
            gc * 1e3,
            if cc > 0.0 { gc / cc } else { f64::NAN },
            gw / mw,
            cw * 1e3,
            cc * 1e3,
            mw * 1e3
        );
    }
}

bench_group!(benches, bench);

fn main() {
    benches();
    if !std::env::args().any(|a| a == "--list") {
        ratio();
    }
}
