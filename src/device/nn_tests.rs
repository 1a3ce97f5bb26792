//! The GPU neural engine's launch sequence (`device::nn::run_tile_on`) executed through the CPU
//! emulation of kernels/nn.cu — tensor-core (emulated mma.sync) and SIMT paths — against the
//! CPU engine, plus tiling invariance; `cuda_` twins run the same on a real GPU.

use super::kernels::Kernel;
use super::nn::{pack, run_tile_on, upload_weights, ConvPath, NnBackend, NN_BLOCK};
use super::DeviceError;
use crate::image::Rect;
use crate::nn::cpu::{self, RunOptions};
use crate::nn::tests::{model_bytes, random_image, Arch};
use crate::nn::{Model, Planar};
use cudarc::driver::DeviceRepr;

/// Host memory standing in for device memory; launches run on the kernel emulation.
#[derive(Default)]
struct EmuBackend {
    buffers: Vec<Vec<u64>>,
    weights: usize,
}

impl EmuBackend {
    fn buffer(&mut self, bytes: usize) -> &mut Vec<u64> {
        self.buffers.push(vec![0u64; bytes.div_ceil(8).max(1)]);
        self.buffers.last_mut().unwrap()
    }
}

impl NnBackend for EmuBackend {
    fn upload(&mut self, bytes: &[u8]) -> Result<u64, DeviceError> {
        let b = self.buffer(bytes.len());
        // SAFETY: the buffer holds at least bytes.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), b.as_mut_ptr() as *mut u8, bytes.len())
        };
        Ok(b.as_ptr() as u64)
    }
    fn alloc(&mut self, bytes: usize) -> Result<u64, DeviceError> {
        Ok(self.buffer(bytes).as_ptr() as u64)
    }
    fn download(&mut self, addr: u64, out: &mut [u8]) -> Result<(), DeviceError> {
        let b = self
            .buffers
            .iter()
            .find(|b| b.as_ptr() as u64 == addr)
            .expect("known buffer");
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
    fn release_tile_buffers(&mut self) {
        self.buffers.truncate(self.weights);
    }
}

/// The whole output of `input` through the emulated GPU sequence, in tiles of `tile`.
fn emulated_forward(model: &Model, input: &Planar, path: ConvPath, tile: usize) -> Planar {
    let packed = pack(model);
    let mut b = EmuBackend::default();
    let on_device = upload_weights(&mut b, &packed).unwrap();
    b.weights = b.buffers.len();
    let frame = input.rect;
    let of = cpu::output_frame(frame, model.scale());
    let mut out = Planar::zeros(of, 3);
    for t in cpu::tiles(frame, model.scale(), of, tile) {
        let p = run_tile_on(&mut b, model, &packed, &on_device, input, frame, t, path).unwrap();
        for y in t.y1..t.y2 {
            for x in t.x1..t.x2 {
                let i = out.index(x, y);
                out.data[i..i + 3].copy_from_slice(p.pixel(x, y));
            }
        }
    }
    out
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

#[test]
fn emulated_gpu_tiles_give_the_same_bits_as_one_tile() {
    let model = Model::from_bytes(&model_bytes(Arch::X2, 4)).unwrap();
    let input = random_image(Rect::new(0, 0, 23, 17), 3, 5);
    for path in [ConvPath::TensorCores, ConvPath::Simt] {
        let whole = emulated_forward(&model, &input, path, 1 << 20);
        for tile in [6, 16] {
            let tiled = emulated_forward(&model, &input, path, tile);
            assert!(
                tiled
                    .data
                    .iter()
                    .zip(&whole.data)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{path:?}, tile {tile}"
            );
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU (scripts/gpu-check.sh)"]
fn cuda_nn_agrees_with_the_cpu_engine_and_tiles_do_not_change_bits() {
    let engine = super::cuda::CudaEngine::shared(0).expect("a CUDA GPU");
    eprintln!("{}: {:?}", engine.description(), engine.nn_conv_path());
    for (i, (arch, w, h)) in cases().into_iter().enumerate() {
        let model = Model::from_bytes(&model_bytes(arch, 60 + i as u64)).unwrap();
        let input = random_image(Rect::new(-3, 2, w - 3, h + 2), 3, 9 + i as u64);
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
        assert!(tiled
            .data
            .iter()
            .zip(&whole.data)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
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
