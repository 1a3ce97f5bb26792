//! The GPU neural engine's render loop (`device::nn::run_tiles_on`) executed through the CPU
//! emulation of kernels/nn.cu — tensor-core (emulated mma.sync) and SIMT paths — against the
//! CPU engine, plus tiling and window invariance; `cuda_` twins run the same on a real GPU.

use super::kernels::Kernel;
use super::nn::{pack, run_tiles_on, upload_weights, ConvPath, NnBackend, TilePlan, NN_BLOCK};
use super::DeviceError;
use crate::image::Rect;
use crate::nn::cpu::{self, RunOptions};
use crate::nn::tests::{model_bytes, random_image, Arch};
use crate::nn::{Model, Planar};
use crate::ops::NeverAbort;
use cudarc::driver::DeviceRepr;
use std::sync::Mutex;

/// Host memory standing in for device memory; launches run on the kernel emulation. New
/// buffers are filled with 0xff bytes (NaN as fp16 and as f32), so a kernel reading memory the
/// sequence never wrote — a stale or unwritten pixel, channel or tile — poisons the result.
#[derive(Default)]
struct EmuBackend {
    buffers: Vec<Vec<u64>>,
}

impl EmuBackend {
    fn buffer(&mut self, addr: u64) -> &mut Vec<u64> {
        self.buffers
            .iter_mut()
            .find(|b| b.as_ptr() as u64 == addr)
            .expect("a buffer this backend allocated")
    }
}

impl NnBackend for EmuBackend {
    fn alloc(&mut self, bytes: usize) -> Result<u64, DeviceError> {
        self.buffers.push(vec![u64::MAX; bytes.div_ceil(8).max(1)]);
        Ok(self.buffers.last().unwrap().as_ptr() as u64)
    }
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), DeviceError> {
        let b = self.buffer(addr);
        assert!(b.len() * 8 >= bytes.len());
        // SAFETY: the buffer holds at least bytes.len() bytes (asserted).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), b.as_mut_ptr() as *mut u8, bytes.len())
        };
        Ok(())
    }
    fn download(&mut self, addr: u64, out: &mut [u8]) -> Result<(), DeviceError> {
        let b = self.buffer(addr);
        assert!(b.len() * 8 >= out.len());
        // SAFETY: the buffer holds at least out.len() bytes (asserted).
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr() as *const u8, out.as_mut_ptr(), out.len())
        };
        Ok(())
    }
    fn launch<P: DeviceRepr + Copy + 'static>(
        &mut self,
        kernel: Kernel,
        grid: (u32, u32, u32),
        params: &P,
    ) -> Result<(), DeviceError> {
        assert_eq!(std::any::TypeId::of::<P>(), kernel.params_type());
        // SAFETY: every address in the params was handed out by this backend, for the sizes
        // the tile sequence computed; nothing else touches them during the launch.
        unsafe { platerestore_emu::launch(kernel.name(), grid, NN_BLOCK, params) }
            .map_err(|e| DeviceError::Driver(e.to_string()))
    }
}

/// `window` of the output of `input` through the emulated GPU render loop, in tiles of `tile`.
fn emulated_run(
    model: &Model,
    input: &Planar,
    path: ConvPath,
    window: Rect,
    tile: usize,
) -> Planar {
    let packed = pack(model);
    let mut b = EmuBackend::default();
    let on_device = upload_weights(&mut b, &packed).unwrap();
    let out = Mutex::new(Planar::zeros(window, 3));
    let sink = |t: Planar| {
        let mut o = out.lock().unwrap();
        for y in t.rect.y1..t.rect.y2 {
            for x in t.rect.x1..t.rect.x2 {
                let i = o.index(x, y);
                o.data[i..i + 3].copy_from_slice(t.pixel(x, y));
            }
        }
    };
    run_tiles_on(
        &mut b,
        model,
        &packed,
        &on_device,
        input,
        input.rect,
        window,
        tile,
        path,
        &NeverAbort,
        &sink,
    )
    .unwrap();
    out.into_inner().unwrap()
}

/// The whole output of `input` through the emulated GPU render loop, in tiles of `tile`.
fn emulated_forward(model: &Model, input: &Planar, path: ConvPath, tile: usize) -> Planar {
    let of = cpu::output_frame(input.rect, model.scale());
    emulated_run(model, input, path, of, tile)
}

fn same_bits(a: &Planar, b: &Planar) -> bool {
    a.rect == b.rect
        && a.data
            .iter()
            .zip(&b.data)
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

fn max_diff(a: &Planar, b: &Planar) -> f32 {
    assert_eq!(a.rect, b.rect);
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

// The GPU stores weights and every hidden activation in fp16 (unit roundoff 2⁻¹¹ ≈ 4.9e-4)
// and accumulates in f32 (products of two halves are exact in f32). On these random networks
// with O(1) activations, the rounding of each layer's inputs and outputs compounds to a
// measured 0.9–3.1e-4 over ≤ 5 layers (both paths; the f32 skip is exact). 2e-3 leaves a 6×
// margin; a wrong fragment lane, tap or channel gives errors ≥ 0.1.
const FP16_TOLERANCE: f32 = 2e-3;

fn cases() -> Vec<(Arch, i32, i32)> {
    vec![
        (Arch::X2, 13, 9),
        (
            Arch {
                channels: 32,
                ..Arch::X2
            },
            21,
            6,
        ),
        (
            Arch {
                scale: 4,
                activation: "relu",
                skip: "nearest",
                ..Arch::X2
            },
            7,
            5,
        ),
        (
            Arch {
                scale: 1,
                skip: "identity",
                activation: "silu",
                ..Arch::X2
            },
            9,
            8,
        ),
        (
            Arch {
                channels: 72,
                body: 1,
                activation: "leaky_relu",
                ..Arch::X2
            },
            5,
            4,
        ),
        (Arch::X2, 1, 7),
        // The Lanczos-3 skip reads 3 pixels each side: the whole halo of a 1-body network.
        (
            Arch {
                scale: 4,
                body: 1,
                skip: "lanczos3",
                ..Arch::X2
            },
            8,
            6,
        ),
        // Temporal: three frames stacked on the channel axis, the skip from the centre one.
        (
            Arch {
                frames: 3,
                ..Arch::X2
            },
            6,
            5,
        ),
        // 2×2 blocks with a partial last column and row, 12 input channels.
        (Arch::RESTORE_U2, 9, 7),
        // 8×8 blocks (192 head inputs, 192 tail outputs), two partial blocks across.
        (
            Arch {
                unshuffle: 8,
                channels: 12,
                ..Arch::RESTORE_U2
            },
            17,
            11,
        ),
    ]
}

fn agrees_with_cpu(path: ConvPath) {
    for (i, (arch, w, h)) in cases().into_iter().enumerate() {
        let model = Model::from_bytes(&model_bytes(arch, 60 + i as u64)).unwrap();
        let input = random_image(
            Rect::new(-3, 2, w - 3, h + 2),
            3 * arch.frames,
            9 + i as u64,
        );
        let want = cpu::forward(&model, &input, RunOptions::default());
        let got = emulated_forward(&model, &input, path, 1 << 20);
        let err = max_diff(&got, &want);
        eprintln!("{path:?} case {i}: max |GPU − CPU| = {err:e}");
        assert!(err < FP16_TOLERANCE, "{path:?} case {i} ({w}x{h}): {err}");
    }
}

#[test]
fn emulated_tensor_core_path_agrees_with_the_cpu_engine() {
    agrees_with_cpu(ConvPath::TensorCores);
}

#[test]
fn emulated_simt_path_agrees_with_the_cpu_engine() {
    agrees_with_cpu(ConvPath::Simt);
}

/// In the emulation both paths add every product (exact in f32: two 11-bit significands) to
/// the accumulator in the same order — tap, then input channel — once as an emulated mma
/// row, once as an fmaf; padded channels add +0. So their bits must agree: a difference is an
/// indexing bug in one of them (a real GPU's tensor cores sum in their own order).
#[test]
fn emulated_tensor_core_and_simt_paths_give_the_same_bits() {
    for (i, (arch, w, h)) in cases().into_iter().enumerate().skip(3).take(2) {
        let model = Model::from_bytes(&model_bytes(arch, 60 + i as u64)).unwrap();
        let input = random_image(Rect::new(4, -1, w + 4, h - 1), 3 * arch.frames, i as u64);
        let mma = emulated_forward(&model, &input, ConvPath::TensorCores, 1 << 20);
        let simt = emulated_forward(&model, &input, ConvPath::Simt, 1 << 20);
        assert!(same_bits(&mma, &simt), "case {i}");
    }
}

#[test]
fn emulated_gpu_tiles_give_the_same_bits_as_one_tile() {
    let model = Model::from_bytes(&model_bytes(Arch::X2, 4)).unwrap();
    // 30×22 output pixels: 6-px tiles leave a partial bottom row, 16-px tiles partial ones on
    // both edges (each emulated tile costs a launch sequence, so the frame stays small).
    let input = random_image(Rect::new(0, 0, 15, 11), 3, 5);
    for path in [ConvPath::TensorCores, ConvPath::Simt] {
        let whole = emulated_forward(&model, &input, path, 1 << 20);
        // Tiles of different sizes share one set of buffers (poisoned when allocated): a tile
        // reading what an earlier, larger tile left behind would show here.
        for tile in [6, 16] {
            let tiled = emulated_forward(&model, &input, path, tile);
            assert!(same_bits(&tiled, &whole), "{path:?}, tile {tile}");
        }
    }
}

#[test]
fn emulated_gpu_window_gives_the_frames_pixels() {
    // A window starting on an odd output pixel of a ×2 frame with a non-zero origin: the first
    // and last tiles hold half of an input pixel's outputs.
    let model = Model::from_bytes(&model_bytes(Arch::X2, 8)).unwrap();
    let input = random_image(Rect::new(5, -4, 16, 5), 3, 6);
    let whole = emulated_forward(&model, &input, ConvPath::TensorCores, 1 << 20);
    let window = Rect::new(11, -7, 26, 3);
    let part = emulated_run(&model, &input, ConvPath::TensorCores, window, 8);
    for y in window.y1..window.y2 {
        for x in window.x1..window.x2 {
            let (a, b) = (part.pixel(x, y), whole.pixel(x, y));
            assert!(
                a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "({x}, {y})"
            );
        }
    }
}

#[test]
fn render_buffers_cover_every_tile_and_an_oversized_tile_is_refused() {
    use super::nn::{run_tile_on, TileBuffers};
    let model = Model::from_bytes(&model_bytes(Arch::X2, 2)).unwrap();
    let packed = pack(&model);
    let frame = Rect::new(0, 0, 9, 7);
    let of = cpu::output_frame(frame, 2);
    let plans: Vec<TilePlan> = cpu::tiles(frame, 2, of, 8)
        .into_iter()
        .map(|t| TilePlan::new(&model, frame, t))
        .collect();
    let mut b = EmuBackend::default();
    let buffers = TileBuffers::alloc(&mut b, &model, &packed, &plans[1..]).unwrap();
    for p in &plans[1..] {
        let need = p.bytes(&model, &packed);
        assert_eq!(need.max(buffers.capacity), buffers.capacity);
        // The input region is the core grown by the halo, one pixel per convolution; the last
        // layer (the tail) covers the core exactly.
        assert_eq!(p.layer_rects.len(), model.convs.len());
        assert_eq!(*p.layer_rects.last().unwrap(), p.core);
    }
    // The first tile (a full 8×8 one) fits in buffers sized for the others (also full ones
    // among them); one larger than all of them must be refused, not overrun.
    let big = TilePlan::new(&model, frame, of);
    let on_device = upload_weights(&mut b, &packed).unwrap();
    let input = random_image(frame, 3, 1);
    let r = run_tile_on(
        &mut b,
        &model,
        &packed,
        &on_device,
        &buffers,
        &input,
        frame,
        &big,
        ConvPath::Simt,
    );
    assert!(matches!(r, Err(DeviceError::Settings(_))), "{r:?}");
    assert!(run_tile_on(
        &mut b,
        &model,
        &packed,
        &on_device,
        &buffers,
        &input,
        frame,
        &plans[0],
        ConvPath::Simt,
    )
    .is_ok());
}

#[test]
fn an_abort_stops_the_gpu_render_between_tiles() {
    let model = Model::from_bytes(&model_bytes(Arch::X2, 3)).unwrap();
    let packed = pack(&model);
    let mut b = EmuBackend::default();
    let on_device = upload_weights(&mut b, &packed).unwrap();
    let input = random_image(Rect::new(0, 0, 8, 4), 3, 2);
    let of = cpu::output_frame(input.rect, 2);
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let abort = || asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 1;
    let delivered = std::sync::atomic::AtomicUsize::new(0);
    let sink = |_: Planar| {
        delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let r = run_tiles_on(
        &mut b,
        &model,
        &packed,
        &on_device,
        &input,
        input.rect,
        of,
        8,
        ConvPath::Simt,
        &abort,
        &sink,
    );
    assert!(matches!(r, Err(DeviceError::Aborted)), "{r:?}");
    assert_eq!(delivered.into_inner(), 1);
}

#[test]
#[ignore = "needs an NVIDIA GPU (scripts/gpu-check.sh)"]
fn cuda_nn_agrees_with_the_cpu_engine_and_tiles_do_not_change_bits() {
    let engine = super::cuda::CudaEngine::shared(0).expect("a CUDA GPU");
    eprintln!("{}: {:?}", engine.description(), engine.nn_conv_path());
    for (i, (arch, w, h)) in cases().into_iter().enumerate() {
        let model = Model::from_bytes(&model_bytes(arch, 60 + i as u64)).unwrap();
        let input = random_image(
            Rect::new(-3, 2, w - 3, h + 2),
            3 * arch.frames,
            9 + i as u64,
        );
        let want = cpu::forward(&model, &input, RunOptions::default());
        let run = |tile: usize| {
            let out = std::sync::Mutex::new(Planar::zeros(want.rect, 3));
            engine
                .run_nn(
                    &model,
                    &input,
                    input.rect,
                    want.rect,
                    tile,
                    &crate::ops::NeverAbort,
                    &|t: Planar| {
                        let mut o = out.lock().unwrap();
                        for y in t.rect.y1..t.rect.y2 {
                            for x in t.rect.x1..t.rect.x2 {
                                let k = o.index(x, y);
                                o.data[k..k + 3].copy_from_slice(t.pixel(x, y));
                            }
                        }
                    },
                )
                .unwrap();
            out.into_inner().unwrap()
        };
        let whole = run(1 << 20);
        let err = max_diff(&whole, &want);
        eprintln!("case {i}: max |GPU − CPU| = {err:e}");
        assert!(err < FP16_TOLERANCE, "case {i}: {err}");
        let tiled = run(8);
        assert!(same_bits(&tiled, &whole), "case {i}: tiles changed bits");
    }
}

#[test]
fn tensor_cores_only_where_the_module_was_built_for_them() {
    use super::cuda::{choose_module_image, ModuleImage};
    use super::kernels::{KernelModule, KERNELS_PRECOMPILED};
    use super::nn::conv_path_for;
    let image = |cc| choose_module_image(KernelModule::Nn, cc);
    // PTX and runtime-compiled sources are compute_75: never the mma kernel.
    assert_eq!(conv_path_for(ModuleImage::Ptx("")), ConvPath::Simt);
    assert_eq!(conv_path_for(ModuleImage::Source("")), ConvPath::Simt);
    if KERNELS_PRECOMPILED && !KernelModule::Nn.cubins().is_empty() {
        assert_eq!(conv_path_for(image((7, 5))), ConvPath::Simt);
        for cc in [(8, 0), (8, 6), (8, 9), (9, 0), (12, 0)] {
            assert_eq!(conv_path_for(image(cc)), ConvPath::TensorCores, "{cc:?}");
        }
    }
}
