//! Inverse tone map speed on a 4K RGBA f32 frame against the cost of merely copying that frame
//! (a raw memcpy; the row drivers with an identity op: `map_rows` through a row buffer, and
//! `map_rows_into`, which the ITM uses, in place), measured in the same run: the ratio is what
//! matters on a shared machine. Also the cost of preparing the tables per render.

use platerestore::image::{ImageBuf, Rect};
use platerestore::ops::itm::{self, ItmMethod, ItmParams, ItmPrepared, OutputTransfer};
use platerestore::ops::pixel::{map_rows, map_rows_into};
use platerestore::ops::NeverAbort;
use platerestore_benchkit::{bench_group, black_box, BenchId, Harness, Throughput};
use std::time::{Duration, Instant};

const WIDTH: i32 = 3840;
const HEIGHT: i32 = 2160;

fn frame() -> ImageBuf {
    // A plate-like mix of gradients and colour so every branch of the curves is exercised.
    ImageBuf::from_fn(Rect::new(0, 0, WIDTH, HEIGHT), |x, y| {
        let u = x as f32 / WIDTH as f32;
        let v = y as f32 / HEIGHT as f32;
        [u, v, (u * 7.0 + v * 3.0).fract(), 1.0]
    })
}

fn variants() -> Vec<(&'static str, ItmParams)> {
    let d = ItmParams::default();
    vec![
        ("default_pq", d),
        (
            "hlg",
            ItmParams {
                output_transfer: OutputTransfer::Hlg,
                ..d
            },
        ),
        (
            "scene_linear",
            ItmParams {
                output_transfer: OutputTransfer::SceneLinear,
                ..d
            },
        ),
        (
            "method_a_pq",
            ItmParams {
                method: ItmMethod::Bt2446A,
                ..d
            },
        ),
        (
            "method_c_pq",
            ItmParams {
                method: ItmMethod::Bt2446C,
                ..d
            },
        ),
        (
            "all_controls_pq",
            ItmParams {
                highlight_boost: 0.5,
                saturation: 1.2,
                mix: 0.8,
                premultiplied: true,
                ..d
            },
        ),
    ]
}

fn copy_raw(src: &[f32], dst: &mut [f32]) {
    dst.copy_from_slice(src);
    // Keep the copy observable so it is not optimised away.
    black_box(&mut *dst);
}

fn copy_map_rows(src: &ImageBuf, dst: &mut ImageBuf) {
    let b = src.bounds();
    map_rows(&src.view(), &dst.view_mut(), b, &NeverAbort, |_, _, _| {}).unwrap();
}

fn copy_map_rows_into(src: &ImageBuf, dst: &mut ImageBuf) {
    let b = src.bounds();
    map_rows_into(
        &src.view(),
        &dst.view_mut(),
        b,
        &NeverAbort,
        |_, _, s, d| d.copy_from_slice(s),
    )
    .unwrap();
}

fn run_itm(p: &ItmParams, src: &ImageBuf, dst: &mut ImageBuf) {
    let b = src.bounds();
    itm::run_cpu(p, &src.view(), &dst.view_mut(), b, &NeverAbort).unwrap();
}

fn bench_4k(c: &mut Harness) {
    let src = frame();
    let mut dst = frame();
    let bytes = (WIDTH as u64) * (HEIGHT as u64) * 16;
    let raw_src = vec![0.5f32; (WIDTH * HEIGHT * 4) as usize];
    let mut raw_dst = vec![0.0f32; raw_src.len()];

    let mut g = c.group("itm_4k_rgba_f32");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("copy_memcpy", |b| {
        b.iter(|| copy_raw(black_box(&raw_src), &mut raw_dst))
    });
    g.bench_function("copy_map_rows_identity", |b| {
        b.iter(|| copy_map_rows(black_box(&src), &mut dst))
    });
    g.bench_function("copy_map_rows_into_identity", |b| {
        b.iter(|| copy_map_rows_into(black_box(&src), &mut dst))
    });
    for (name, p) in variants() {
        g.bench_with_input(BenchId::new("itm", name), &p, |b, p| {
            b.iter(|| run_itm(p, black_box(&src), &mut dst))
        });
    }
    g.finish();

    let mut g = c.group("itm_prepare");
    g.sample_size(200);
    g.bench_function("default", |b| {
        b.iter(|| ItmPrepared::new(black_box(&ItmParams::default())).unwrap())
    });
    g.finish();
}

/// CPU time used so far by every thread of this process, in ns (Linux: the per-thread
/// scheduler statistics). Unlike wall time it does not grow when other processes share the
/// cores, so the CPU-time ratio is the steadier figure on a busy machine.
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Wall time and CPU time of one call.
fn measure(f: impl FnOnce()) -> (Duration, Option<Duration>) {
    let cpu0 = process_cpu_ns();
    let t = Instant::now();
    f();
    let wall = t.elapsed();
    let cpu = match (cpu0, process_cpu_ns()) {
        (Some(a), Some(b)) => Some(Duration::from_nanos(b.saturating_sub(a))),
        _ => None,
    };
    (wall, cpu)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[derive(Default)]
struct Samples {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Samples {
    fn push(&mut self, (wall, cpu): (Duration, Option<Duration>)) {
        self.wall.push(wall);
        if let Some(c) = cpu {
            self.cpu.push(c);
        }
    }
    fn medians(self) -> (f64, Option<f64>) {
        let cpu = (!self.cpu.is_empty()).then(|| median(self.cpu).as_secs_f64() * 1e3);
        (median(self.wall).as_secs_f64() * 1e3, cpu)
    }
}

/// The ratio report: every candidate and the two copies are timed in turn, round after round,
/// so background load on a shared machine hits them alike.
fn ratios() {
    let src = frame();
    let mut dst = frame();
    let raw_src = vec![0.5f32; (WIDTH * HEIGHT * 4) as usize];
    let mut raw_dst = vec![0.0f32; raw_src.len()];
    // ITM_BENCH_ONLY=<name> restricts the report to one variant (for profiling).
    let only = std::env::var("ITM_BENCH_ONLY").ok();
    let vars: Vec<_> = variants()
        .into_iter()
        .filter(|(n, _)| only.as_deref().is_none_or(|o| o == *n))
        .collect();
    let rounds = 9;
    let mut raw = Samples::default();
    let mut rows = Samples::default();
    let mut rows_into = Samples::default();
    let mut itm: Vec<Samples> = vars.iter().map(|_| Samples::default()).collect();
    for _ in 0..rounds {
        raw.push(measure(|| copy_raw(black_box(&raw_src), &mut raw_dst)));
        rows.push(measure(|| copy_map_rows(black_box(&src), &mut dst)));
        rows_into.push(measure(|| copy_map_rows_into(black_box(&src), &mut dst)));
        for (s, (_, p)) in itm.iter_mut().zip(&vars) {
            s.push(measure(|| run_itm(p, black_box(&src), &mut dst)));
        }
    }
    let (raw_wall, raw_cpu) = raw.medians();
    let (rows_wall, rows_cpu) = rows.medians();
    let (into_wall, into_cpu) = rows_into.medians();
    let fmt_cpu = |c: Option<f64>| c.map_or("   n/a".to_string(), |c| format!("{c:6.1}"));
    println!(
        "\nITM 4K RGBA f32, median of {rounds} interleaved rounds (wall ms | CPU ms, all threads):"
    );
    println!(
        "  copy (memcpy)                {raw_wall:7.1} | {}",
        fmt_cpu(raw_cpu)
    );
    println!(
        "  copy (map_rows identity)     {rows_wall:7.1} | {}",
        fmt_cpu(rows_cpu)
    );
    println!(
        "  copy (map_rows_into ident.)  {into_wall:7.1} | {}",
        fmt_cpu(into_cpu)
    );
    for ((name, _), s) in vars.iter().zip(itm) {
        let (wall, cpu) = s.medians();
        let cpu_ratio = match (cpu, into_cpu) {
            (Some(c), Some(r)) => format!("{:.2}x", c / r),
            _ => "n/a".into(),
        };
        println!(
            "  itm {name:<22}   {wall:7.1} | {}   wall {:.2}x memcpy, {:.2}x map_rows_into copy; CPU {cpu_ratio} map_rows_into copy",
            fmt_cpu(cpu),
            wall / raw_wall,
            wall / into_wall,
        );
    }
}

bench_group!(benches, bench_4k);

fn main() {
    // `-- --ratios-only` skips the individual timings (quick look while tuning).
    if !std::env::args().any(|a| a == "--ratios-only") {
        benches();
    }
    ratios();
}
