//! CPU neural engine speed: a shipped model (or any file given) at 960×540 → 1920×1080 and
//! 1920×1080 → 3840×2160, median seconds per frame, GFLOP/s achieved and the share of this
//! CPU's FMA peak. `scripts/bench-nn.sh` runs this beside ONNX Runtime and PyTorch on the same
//! model, sizes and threads, so the three are compared in one run on one machine.
//!
//! `cargo bench --bench nn -- [MODEL.safetensors] [--runs N] [--sizes 960x540,1920x1080]
//! [--tile N] [--kernels portable|avx2|avx512] [--cuda]`. Without a model file (none given and no shipped one), a network of the shipped
//! ×2 architecture with random weights is timed: speed does not depend on weight values.

use platerestore::image::Rect;
use platerestore::nn::cpu::{self, Kernels, RunOptions};
use platerestore::nn::file::{ModelFile, RawTensor};
use platerestore::nn::{Model, ModelSpec, Planar};
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
    let default = &format!(
        "{}/bundle/models/{}.safetensors",
        env!("CARGO_MANIFEST_DIR"),
        platerestore::effects::upscale::SHIPPED_X2
    );
    let given = std::env::args()
        .skip(1)
        .find(|a| a.ends_with(".safetensors"));
    let model = match given {
        None if !std::path::Path::new(default).exists() => {
            println!("# no model file ({default} absent): random weights, shipped x2 architecture");
            synthetic_x2()
        }
        _ => {
            let path = given.unwrap_or_else(|| default.to_string());
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| Model::from_bytes(&b).map_err(|e| e.to_string()))
            {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("nn bench: cannot load {path}: {e}");
                    std::process::exit(2);
                }
            }
        }
    };
    let runs: usize = arg("--runs").and_then(|v| v.parse().ok()).unwrap_or(3);
    let sizes = arg("--sizes").unwrap_or_else(|| "960x540,1920x1080".into());
    let threads = rayon::current_num_threads();
    let (ghz, peak) = fma_peak_gflops(threads);
    // `--kernels portable|avx2|avx512`: a slower set than this CPU's best (e.g. to time the
    // AVX2 kernels on an AVX-512 machine).
    let kernels = match arg("--kernels").as_deref() {
        None => Kernels::detect(),
        Some(name) => {
            let found = Kernels::available().into_iter().find(|k| {
                format!("{k:?}")
                    .to_lowercase()
                    .starts_with(&name.to_lowercase())
            });
            found.unwrap_or_else(|| {
                eprintln!(
                    "nn bench: --kernels {name}: this CPU has {:?}",
                    Kernels::available()
                );
                std::process::exit(2);
            })
        }
    };
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
    let tflops = 2.0 * macs * w * h / median / 1e12;
    let peak = match tensor_peak_tflops(&engine) {
        Some(p) => format!(
            "tensor_peak_tflops={p:.0} peak_pct={:.1}",
            100.0 * tflops / p
        ),
        None => "tensor_peak_tflops=unknown".to_string(),
    };
    println!(
        "engine=cuda gpu=\"{}\" path={:?} size={}x{} out={}x{} seconds={median:.4} fps={:.1} tflops={tflops:.2} {peak}",
        engine.description(),
        engine.nn_conv_path(),
        frame.width(),
        frame.height(),
        of.width(),
        of.height(),
        1.0 / median,
    );
}

/// Nominal dense tensor-core peak (fp16 inputs, f32 accumulation) at the GPU's reported
/// clock: SMs × clock × FLOPs per SM per clock, the last from NVIDIA's published peaks divided
/// by SM count and boost clock — A100 312 TFLOP/s over 108 SMs at 1.41 GHz: 2048; H100 SXM
/// 989 over 132 at 1.83 GHz: 4096; B200: 8192; GeForce GA102/AD102/GB202 (RTX 3090 71,
/// RTX 4090 165, RTX 5090 209 TFLOP/s with f32 accumulation): 512; their workstation and
/// data-centre boards: up to 1024. None for other GPUs. On Hopper and Blackwell the warp-level
/// `mma.sync` this engine issues cannot reach the figure (it needs wgmma / tcgen05).
fn tensor_peak_tflops(engine: &platerestore::device::CudaEngine) -> Option<f64> {
    use cudarc::driver::sys::CUdevice_attribute as A;
    let ctx = engine.context();
    let sms = ctx
        .attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .ok()? as f64;
    let khz = ctx.attribute(A::CU_DEVICE_ATTRIBUTE_CLOCK_RATE).ok()? as f64;
    let geforce = engine.description().contains("GeForce");
    let per_clock = match engine.compute_capability() {
        (8, 0) => 2048.0,
        (8, 6) | (8, 9) | (12, 0) if geforce => 512.0,
        (8, 6) | (8, 7) | (8, 9) | (12, 0) => 1024.0,
        (9, 0) => 4096.0,
        (10, 0) => 8192.0,
        _ => return None,
    };
    Some(sms * khz * 1e3 * per_clock / 1e12)
}

/// A plain-conv ×2 network of the shipped model's shape (training/train.py defaults: 32
/// channels, 6 body convolutions, PReLU, bilinear skip) with deterministic random weights.
fn synthetic_x2() -> Model {
    let metadata = r#"{"format":"platerestore.model","format_version":1,"architecture":"plain-conv","architecture_version":1,"name":"synthetic-x2","task":"upscale","scale":2,"frames":1,"in_channels":3,"out_channels":3,"channels":32,"body_convs":6,"activation":"prelu","skip":"bilinear","encoding":"srgb","receptive_field":17,"license":"Apache-2.0"}"#;
    let spec = match ModelSpec::from_json(metadata) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nn bench: synthetic model metadata: {e}");
            std::process::exit(2);
        }
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let tensors = spec
        .expected_tensors()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let k = if shape.len() == 4 {
                (3.0 / (shape[1] * 9) as f32).sqrt()
            } else {
                0.1
            };
            let values = (0..n).map(|_| k * uniform()).collect();
            (name, RawTensor { shape, values })
        })
        .collect();
    Model::from_file(&ModelFile {
        spec,
        tensors,
        content_hash: 0x5e17_be4c,
    })
}
