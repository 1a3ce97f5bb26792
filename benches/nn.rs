//! CPU neural engine speed: a shipped model (or any file given) at 960×540 → 1920×1080 and
//! 1920×1080 → 3840×2160, median seconds per frame, GFLOP/s achieved and the share of this
//! CPU's FMA peak. `scripts/bench-nn.sh` runs this beside ONNX Runtime and PyTorch on the same
//! model, sizes and threads, so the three are compared in one run on one machine.
//!
//! `cargo bench --bench nn -- [MODEL.safetensors] [--runs N] [--sizes 960x540,1920x1080]`

use platerestore::image::Rect;
use platerestore::nn::cpu::{self, Kernels, RunOptions};
use platerestore::nn::{Model, Planar};
use platerestore::ops::NeverAbort;
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == name)
        .and_then(|i| a.get(i + 1).cloned())
}

/// The FMA peak in GFLOP/s: cores × GHz × 2 FMA pipes × 8 f32 lanes × 2 FLOPs (AVX2; Zen 4
/// and most Intel cores since Haswell issue two 256-bit FMAs per cycle).
fn fma_peak_gflops(threads: usize) -> (f64, f64) {
    let mhz = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(3000.0);
    let ghz = mhz / 1000.0;
    (ghz, threads as f64 * ghz * 2.0 * 8.0 * 2.0)
}

fn main() {
    let default = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bundle/models/upscale-x2-v1.safetensors"
    );
    let path = std::env::args()
        .skip(1)
        .find(|a| a.ends_with(".safetensors"))
        .unwrap_or_else(|| default.to_string());
    let model = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| Model::from_bytes(&b).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            eprintln!("nn bench: cannot load {path}: {e}");
            std::process::exit(2);
        }
    };
    let runs: usize = arg("--runs").and_then(|v| v.parse().ok()).unwrap_or(3);
    let sizes = arg("--sizes").unwrap_or_else(|| "960x540,1920x1080".into());
    let threads = rayon::current_num_threads();
    let (ghz, peak) = fma_peak_gflops(threads);
    let kernels = Kernels::detect();
    // `--cuda`: also time the GPU engine (frames in host memory: upload, layers, download).
    let cuda = std::env::args().any(|a| a == "--cuda");
    let tile: usize = arg("--tile")
        .and_then(|v| v.parse().ok())
        .unwrap_or(cpu::DEFAULT_TILE);
    let macs = model.spec.macs_per_input_pixel() as f64;
    println!(
        "# model {} ({} ch, {} body convs, x{}), {:.1} kMAC per input pixel; {threads} threads, {kernels:?}, tile {tile}, {ghz:.2} GHz, FMA peak {peak:.0} GFLOP/s",
        model.spec.name,
        model.spec.channels,
        model.spec.body_convs,
        model.scale(),
        macs / 1e3
    );
    for size in sizes.split(',') {
        let Some((w, h)) = size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse::<i32>().ok()?, h.parse::<i32>().ok()?)))
        else {
            eprintln!("nn bench: bad size {size}");
            std::process::exit(2);
        };
        let frame = Rect::new(0, 0, w, h);
        let mut input = Planar::zeros(frame, model.spec.in_channels);
        for (i, v) in input.data.iter_mut().enumerate() {
            // A plate-like mix of gradients and texture.
            let p = (i / model.spec.in_channels) as i32;
            let (x, y) = (p % w, p / w);
            *v = 0.5 + 0.4 * ((x as f32 * 0.05).sin() * (y as f32 * 0.031).cos());
        }
        let of = cpu::output_frame(frame, model.scale());
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let sink = |t: Planar| {
                std::hint::black_box(t);
            };
            cpu::run(
                &model,
                &input,
                frame,
                of,
                RunOptions { kernels, tile },
                &NeverAbort,
                &sink,
            )
            .expect("never aborts");
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let median = times[times.len() / 2];
        if cuda {
            gpu_rows(&model, &input, frame, of, runs, macs);
        }
        let gflops = 2.0 * macs * (w as f64 * h as f64) / median / 1e9;
        println!(
            "engine=platerestore size={w}x{h} out={}x{} seconds={median:.3} gflops={gflops:.1} peak_pct={:.0}",
            of.width(),
            of.height(),
            100.0 * gflops / peak
        );
    }
}

/// GPU rows: seconds per frame, frames per second and TFLOP/s of useful work (halo excluded),
/// frames in host memory (tile upload and download included), 1024-pixel output tiles.
fn gpu_rows(model: &Model, input: &Planar, frame: Rect, of: Rect, runs: usize, macs: f64) {
    use platerestore::device::{Device, DevicePreference};
    let Device::Cuda(engine) = Device::select(DevicePreference::Cuda) else {
        println!("engine=cuda skipped: no usable NVIDIA GPU");
        return;
    };
    let sink = |t: Planar| {
        std::hint::black_box(t);
    };
    let run = || engine.run_nn(model, input, frame, of, 1024, &NeverAbort, &sink);
    if let Err(e) = run() {
        println!("engine=cuda failed: {e}");
        return;
    }
    let mut times = Vec::new();
    for _ in 0..runs.max(5) {
        let t = Instant::now();
        let _ = run();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    let (w, h) = (frame.width() as f64, frame.height() as f64);
    println!(
        "engine=cuda gpu=\"{}\" path={:?} size={}x{} out={}x{} seconds={median:.4} fps={:.1} tflops={:.2}",
        engine.description(),
        engine.nn_conv_path(),
        frame.width(),
        frame.height(),
        of.width(),
        of.height(),
        1.0 / median,
        2.0 * macs * w * h / median / 1e12
    );
}
