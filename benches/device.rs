//! Per-pixel throughput, CPU against CUDA: the CPU reference path, a CUDA render of host-memory
//! images (upload + kernel + download, what hosts without CUDA render get), the kernel alone on
//! device-resident images (what OFX CUDA render gets), and a device-to-device copy of the same
//! bytes — the memory-bandwidth ceiling a memory-bound per-pixel kernel should approach.
//! Film grain has its own group (4K UHD, compute-bound: a hash per lattice site per tap).
//! CUDA rows are skipped, with a note, on machines without a GPU. Streams are synchronised
//! before the clock is read.

use platerestore::device::cuda::CudaEngine;
use platerestore::device::kernels::Kernel;
use platerestore::device::params::{CopyParams, PrImage};
use platerestore::image::{Components, ImageBuf, ImageLayout, PixelDepth, Rect};
use platerestore::ops::{pixel::map_rows, NeverAbort};
use platerestore_benchkit::{bench_group, bench_main, Harness, Throughput};

const FRAME: Rect = Rect::new(0, 0, 1920, 1080);

/// The GPU, or a note saying why the CUDA rows are skipped.
fn gpu_or_note() -> Option<std::sync::Arc<CudaEngine>> {
    match CudaEngine::shared(0) {
        Ok(e) => {
            eprintln!("GPU: {}", e.description());
            Some(e)
        }
        Err(e) => {
            eprintln!("CUDA rows skipped: {e}");
            None
        }
    }
}

fn per_pixel(c: &mut Harness) {
    let src = ImageBuf::from_fn(FRAME, |x, y| {
        [x as f32 / 1920.0, y as f32 / 1080.0, 0.5, 1.0]
    });
    let mut dst = ImageBuf::new(FRAME, PixelDepth::F16, Components::Rgba, 0, false);
    let bytes = FRAME.pixel_count() as u64 * (16 + 8); // read RGBA f32, write RGBA half
    let mut group = c.group("copy_1080p_rgba_f32_to_f16");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(20);
    group.bench_function("cpu", |b| {
        b.iter(|| {
            map_rows(
                &src.view(),
                &dst.view_mut(),
                FRAME,
                &NeverAbort,
                |_, _, _| {},
            )
            .unwrap()
        })
    });

    let Some(engine) = gpu_or_note() else {
        group.finish();
        return;
    };
    let copy = |s: PrImage, d: PrImage| CopyParams {
        src: s,
        dst: d,
        window: FRAME.into(),
    };
    group.bench_function("cuda_host_images", |b| {
        b.iter(|| {
            engine
                .run_per_pixel(Kernel::CopyImage, &src.view(), &dst.view_mut(), FRAME, copy)
                .unwrap()
        })
    });

    use cudarc::driver::DevicePtr;
    let stream = engine.context().new_stream().unwrap();
    let src_dev = stream.alloc_zeros::<u8>(FRAME.pixel_count() * 16).unwrap();
    let dst_dev = stream.alloc_zeros::<u8>(FRAME.pixel_count() * 8).unwrap();
    let (sp, _a) = src_dev.device_ptr(&stream);
    let (dp, _b) = dst_dev.device_ptr(&stream);
    let params = CopyParams {
        src: PrImage::new(
            sp,
            &ImageLayout::packed(FRAME, PixelDepth::F32, Components::Rgba),
        ),
        dst: PrImage::new(
            dp,
            &ImageLayout::packed(FRAME, PixelDepth::F16, Components::Rgba),
        ),
        window: FRAME.into(),
    };
    group.bench_function("cuda_device_resident", |b| {
        b.iter(|| {
            engine
                .launch_over_rect(&stream, Kernel::CopyImage, FRAME, &params)
                .unwrap();
            stream.synchronize().unwrap();
        })
    });
    let mut copy_dst = stream.alloc_zeros::<u8>(FRAME.pixel_count() * 12).unwrap();
    group.bench_function("cuda_dtod_memcpy_same_bytes", |b| {
        // 12 bytes read + 12 written per pixel = the 24 bytes the kernel moves.
        let from = src_dev.slice(0..FRAME.pixel_count() * 12);
        b.iter(|| {
            stream.memcpy_dtod(&from, &mut copy_dst).unwrap();
            stream.synchronize().unwrap();
        })
    });
    group.finish();
}

/// The inverse tone map (default settings: sRGB in, display-referred, PQ Rec.2020 out) on a
/// 1080p RGBA f32 frame: CPU fast path, CUDA with host images, and CUDA on device-resident
/// images, whose time should approach the device-to-device copy of the same 32 bytes/pixel.
fn inverse_tone_map(c: &mut Harness) {
    use platerestore::device::itm::{itm_kernel_params, run_itm_cuda};
    use platerestore::ops::itm::{ItmParams, ItmPrepared};
    let src = ImageBuf::from_fn(FRAME, |x, y| {
        [x as f32 / 1920.0, y as f32 / 1080.0, 0.5, 1.0]
    });
    let mut dst = ImageBuf::new(FRAME, PixelDepth::F32, Components::Rgba, 0, false);
    let prepared = ItmPrepared::new(&ItmParams::default()).unwrap();
    let mut group = c.group("itm_1080p_rgba_f32");
    group.throughput(Throughput::Bytes(FRAME.pixel_count() as u64 * 32));
    group.sample_size(20);
    group.bench_function("cpu", |b| {
        b.iter(|| {
            prepared
                .run_cpu(&src.view(), &dst.view_mut(), FRAME, &NeverAbort)
                .unwrap()
        })
    });
    let Some(engine) = gpu_or_note() else {
        group.finish();
        return;
    };
    group.bench_function("cuda_host_images", |b| {
        b.iter(|| run_itm_cuda(&engine, &prepared, &src.view(), &dst.view_mut(), FRAME).unwrap())
    });
    use cudarc::driver::DevicePtr;
    let stream = engine.context().new_stream().unwrap();
    let src_dev = stream.alloc_zeros::<u8>(FRAME.pixel_count() * 16).unwrap();
    let dst_dev = stream.alloc_zeros::<u8>(FRAME.pixel_count() * 16).unwrap();
    let layout = ImageLayout::packed(FRAME, PixelDepth::F32, Components::Rgba);
    let (sp, _a) = src_dev.device_ptr(&stream);
    let (dp, _b) = dst_dev.device_ptr(&stream);
    group.bench_function("cuda_device_resident", |b| {
        b.iter(|| {
            engine
                .with_tables(prepared.tables(), &stream, |tables| {
                    let params = itm_kernel_params(
                        &prepared,
                        PrImage::new(sp, &layout),
                        PrImage::new(dp, &layout),
                        FRAME,
                        tables,
                    );
                    engine.launch_over_rect(&stream, Kernel::ItmRgba, FRAME, &params)
                })
                .unwrap();
            stream.synchronize().unwrap();
        })
    });
    let mut copy_dst = stream.alloc_zeros::<u8>(FRAME.pixel_count() * 16).unwrap();
    group.bench_function("cuda_dtod_memcpy_same_bytes", |b| {
        b.iter(|| {
            stream.memcpy_dtod(&src_dev, &mut copy_dst).unwrap();
            stream.synchronize().unwrap();
        })
    });
    group.finish();
}

/// Film grain on a 4K UHD RGBA f32 frame (the target: under 1 ms per frame on device-resident
/// images on an H100). Rows: the CPU reference; CUDA with host images (upload + kernel +
/// download); a full OFX CUDA render call on device-resident images (plan and tables built,
/// kernel enqueued on the host's stream); and the kernel alone with the plan prepared once, for
/// the default 35 mm preset and for two-octave (roughness 1) coarser grain, whose cost grows
/// with the square of the cloud's taps.
fn grain(c: &mut Harness) {
    use platerestore::device::grain::{run_grain_cuda, run_grain_on_host_stream, GrainDevicePlan};
    use platerestore::device::{DeviceImage, HostRender};
    use platerestore::ops::grain::{run_cpu, GrainParams};
    const UHD: Rect = Rect::new(0, 0, 3840, 2160);
    let src = ImageBuf::from_fn(UHD, |x, y| [x as f32 / 3840.0, y as f32 / 2160.0, 0.5, 1.0]);
    let mut dst = ImageBuf::new(UHD, PixelDepth::F32, Components::Rgba, 0, false);
    let default = GrainParams::default();
    let coarse = GrainParams {
        size_px: 4.0,
        roughness: 1.0,
        ..GrainParams::default()
    };
    let mut group = c.group("grain_uhd_rgba_f32");
    group.throughput(Throughput::Bytes(UHD.pixel_count() as u64 * 32));
    group.sample_size(10);
    group.bench_function("cpu", |b| {
        b.iter(|| run_cpu(&default, &src.view(), &dst.view_mut(), UHD, &NeverAbort).unwrap())
    });
    // Host-side work of a GPU render: building the plan and its tables, and reusing them for
    // the next frame (part of the `cuda_device_resident_render` and `cuda_host_images` rows,
    // not of the `cuda_kernel_*` ones).
    group.bench_function("gpu_plan_on_the_cpu", |b| {
        b.iter(|| GrainDevicePlan::new(&default, UHD).unwrap())
    });
    // What a shot's renders pay: the tables are reused, only the frame changes.
    let mut frame = 0.0;
    group.bench_function("gpu_plan_next_frame", |b| {
        b.iter(|| {
            frame += 1.0;
            let p = GrainParams {
                frame,
                ..default.clone()
            };
            GrainDevicePlan::for_render(&p, UHD).unwrap()
        })
    });
    let Some(engine) = gpu_or_note() else {
        group.finish();
        return;
    };
    group.bench_function("cuda_host_images", |b| {
        b.iter(|| run_grain_cuda(&engine, &default, &src.view(), &dst.view_mut(), UHD).unwrap())
    });
    use cudarc::driver::DevicePtr;
    let stream = engine.context().new_stream().unwrap();
    let src_dev = stream.alloc_zeros::<u8>(UHD.pixel_count() * 16).unwrap();
    let dst_dev = stream.alloc_zeros::<u8>(UHD.pixel_count() * 16).unwrap();
    let layout = ImageLayout::packed(UHD, PixelDepth::F32, Components::Rgba);
    let (sp, _a) = src_dev.device_ptr(&stream);
    let (dp, _b) = dst_dev.device_ptr(&stream);
    let (s, d) = (
        DeviceImage { ptr: sp, layout },
        DeviceImage { ptr: dp, layout },
    );
    // SAFETY: our own live stream of the primary context, kept until the end of the bench.
    let host = unsafe { HostRender::bind(stream.cu_stream() as *mut std::ffi::c_void) }.unwrap();
    group.bench_function("cuda_device_resident_render", |b| {
        b.iter(|| {
            run_grain_on_host_stream(&host, &default, &s, &d, UHD).unwrap();
            stream.synchronize().unwrap();
        })
    });
    for (name, params) in [
        ("cuda_kernel_35mm_medium", &default),
        ("cuda_kernel_coarse_two_octaves", &coarse),
    ] {
        let plan = GrainDevicePlan::new(params, UHD).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                engine
                    .with_tables(&plan.tables, &stream, |tables| {
                        let p = plan.kernel_params(s.as_params(), d.as_params(), tables);
                        engine.launch_over_rect(&stream, Kernel::GrainRgba, UHD, &p)
                    })
                    .unwrap();
                stream.synchronize().unwrap();
            })
        });
    }
    group.finish();
}

bench_group!(benches, per_pixel, inverse_tone_map, grain);
bench_main!(benches);
