//! The neural engine on a CUDA GPU: the same tiles, regions and zero padding as the CPU runner
//! (`nn::cpu`), with activations in fp16 and f32 accumulation (kernels/nn.cu). The launch
//! sequence of a tile is written once over [`NnBackend`], so tests run exactly this sequence
//! through the CPU emulation of the kernels, and a GPU runs it on our stream.

use super::cuda::CudaEngine;
use super::kernels::{Kernel, KernelModule, TENSOR_CUBIN_MIN_SM};
use super::params::{
    NnAssembleParams, NnConvParams, NnInputParams, NN_ACT_LEAKY, NN_ACT_NONE, NN_ACT_PRELU,
    NN_ACT_RELU, NN_ACT_SILU, NN_CO_PER_BLOCK, NN_SKIP_BILINEAR, NN_SKIP_IDENTITY, NN_SKIP_NEAREST,
    NN_SKIP_NONE,
};
use super::DeviceError;
use crate::image::Rect;
use crate::nn::cpu::{self, footprint};
use crate::nn::{ConvActivation, Model, Planar, Skip, TileSource};
use crate::ops::Abort;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg};
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Threads per block of every nn kernel (4 warps).
pub const NN_BLOCK: u32 = 128;

/// Channel strides are padded to the tensor-core K step.
pub fn padded16(c: usize) -> usize {
    c.div_ceil(16) * 16
}

/// Which convolution kernel a tile uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    /// mma.sync tensor cores (sm_80+ cubins).
    TensorCores,
    /// Plain FMAs (sm_75, or PTX / runtime-compiled modules built for compute_75).
    Simt,
}

/// The convolution kernel a module image can run: only cubins assembled from compute_80 PTX
/// contain the tensor-core instructions.
pub fn conv_path_for(image: super::cuda::ModuleImage) -> ConvPath {
    match image {
        super::cuda::ModuleImage::Cubin { sm, .. } if sm >= TENSOR_CUBIN_MIN_SM => {
            ConvPath::TensorCores
        }
        _ => ConvPath::Simt,
    }
}

/// One convolution's weights as the kernels read them.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedConv {
    /// fp16 bits `[co < dst_stride][tap][ci < src_stride]`, zero padded.
    pub weights: Vec<u16>,
    pub bias: Vec<f32>,
    pub alpha: Vec<f32>,
    pub cin: usize,
    pub src_stride: usize,
    pub dst_stride: usize,
    pub activation: u32,
    pub leaky_slope: f32,
}

/// The model's convolutions in kernel layout (rounded to fp16 once, here).
pub fn pack(model: &Model) -> Vec<PackedConv> {
    model
        .convs
        .iter()
        .map(|c| {
            let (ss, ds) = (padded16(c.cin), padded16(c.cout));
            let mut weights = vec![0u16; ds * 9 * ss];
            for co in 0..c.cout {
                for tap in 0..9 {
                    for ci in 0..c.cin {
                        weights[(co * 9 + tap) * ss + ci] =
                            half::f16::from_f32(c.weight(tap, ci, co)).to_bits();
                    }
                }
            }
            let mut bias = vec![0.0; ds];
            bias[..c.cout].copy_from_slice(&c.bias[..c.cout]);
            let mut alpha = vec![0.0; ds];
            let (activation, leaky_slope) = match &c.activation {
                ConvActivation::None => (NN_ACT_NONE, 0.0),
                ConvActivation::Relu => (NN_ACT_RELU, 0.0),
                ConvActivation::Leaky(s) => (NN_ACT_LEAKY, *s),
                ConvActivation::Prelu(a) => {
                    alpha[..c.cout].copy_from_slice(&a[..c.cout]);
                    (NN_ACT_PRELU, 0.0)
                }
                ConvActivation::Silu => (NN_ACT_SILU, 0.0),
            };
            PackedConv {
                weights,
                bias,
                alpha,
                cin: c.cin,
                src_stride: ss,
                dst_stride: ds,
                activation,
                leaky_slope,
            }
        })
        .collect()
}

/// Device addresses of one packed convolution.
#[derive(Debug, Clone, Copy)]
pub struct ConvOnDevice {
    pub weights: u64,
    pub bias: u64,
    pub alpha: u64,
}

/// What the tile sequence needs of a device: memory and launches. Buffers live until
/// `release_tile_buffers`.
pub trait NnBackend {
    /// Uploads bytes into a new buffer; returns its device address.
    fn upload(&mut self, bytes: &[u8]) -> Result<u64, DeviceError>;
    /// A new buffer of `bytes` (contents undefined).
    fn alloc(&mut self, bytes: usize) -> Result<u64, DeviceError>;
    /// Copies `out.len()` bytes from a buffer's start (waits for earlier launches).
    fn download(&mut self, addr: u64, out: &mut [u8]) -> Result<(), DeviceError>;
    fn launch<P: DeviceRepr + Copy + 'static>(
        &mut self,
        kernel: Kernel,
        grid: (u32, u32, u32),
        params: &P,
    ) -> Result<(), DeviceError>;
    /// Frees the buffers of the tile just finished (weights stay).
    fn release_tile_buffers(&mut self);
}

fn bytes_of<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: T is plain old data (f32/u16 here); the slice covers exactly its elements.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

/// Uploads a model's packed weights through `backend` (weights are not tile buffers).
pub fn upload_weights<B: NnBackend>(
    backend: &mut B,
    packed: &[PackedConv],
) -> Result<Vec<ConvOnDevice>, DeviceError> {
    packed
        .iter()
        .map(|p| {
            Ok(ConvOnDevice {
                weights: backend.upload(bytes_of(&p.weights))?,
                bias: backend.upload(bytes_of(&p.bias))?,
                alpha: backend.upload(bytes_of(&p.alpha))?,
            })
        })
        .collect()
}

fn grow(r: Rect, d: i32) -> Rect {
    Rect::new(r.x1 - d, r.y1 - d, r.x2 + d, r.y2 + d)
}

fn skip_code(skip: Skip) -> i32 {
    (match skip {
        Skip::None => NN_SKIP_NONE,
        Skip::Identity => NN_SKIP_IDENTITY,
        Skip::Nearest => NN_SKIP_NEAREST,
        Skip::Bilinear => NN_SKIP_BILINEAR,
    }) as i32
}

/// One output tile on `backend`: the input region (tile footprint + halo, zero outside the
/// frame) → fp16 → each convolution → pixel shuffle + skip, downloaded as 3-channel f32.
#[allow(clippy::too_many_arguments)]
pub fn run_tile_on<B: NnBackend>(
    backend: &mut B,
    model: &Model,
    packed: &[PackedConv],
    weights: &[ConvOnDevice],
    source: &dyn TileSource,
    frame: Rect,
    out_rect: Rect,
    path: ConvPath,
) -> Result<Planar, DeviceError> {
    let spec = &model.spec;
    let halo = model.convs.len() as i32;
    let core = footprint(frame, out_rect, spec.scale);
    let input_rect = grow(core, halo);
    let mut input = Planar::zeros(input_rect, spec.in_channels);
    let inside = input_rect.intersect(&frame);
    for y in inside.y1..inside.y2 {
        let i = input.index(inside.x1, y);
        let n = inside.width() as usize;
        source.read_row(
            y,
            inside.x1,
            n,
            &mut input.data[i..i + n * spec.in_channels],
        );
    }
    let rows = |r: Rect| (r.width() as u32, r.height() as u32);
    let input_f32 = backend.upload(bytes_of(&input.data))?;
    let stride0 = packed.first().map_or(16, |p| p.src_stride);
    let mut act = backend.alloc(input_rect.pixel_count() * stride0 * 2)?;
    let (w, h) = rows(input_rect);
    backend.launch(
        Kernel::NnInputF16,
        (w.div_ceil(NN_BLOCK), h, 1),
        &NnInputParams {
            src: input_f32,
            dst: act,
            rect: input_rect.into(),
            cin: spec.in_channels as i32,
            stride: stride0 as i32,
        },
    )?;
    let mut act_rect = input_rect;
    let last = packed.len() - 1;
    for (l, (p, d)) in packed.iter().zip(weights).enumerate() {
        let rect = grow(core, halo - l as i32 - 1);
        let elem = if l == last { 4 } else { 2 };
        let dst = backend.alloc(rect.pixel_count() * p.dst_stride * elem)?;
        let params = NnConvParams {
            src: act,
            dst,
            weights: d.weights,
            bias: d.bias,
            alpha: d.alpha,
            src_rect: act_rect.into(),
            dst_rect: rect.into(),
            frame: frame.into(),
            src_stride: p.src_stride as i32,
            dst_stride: p.dst_stride as i32,
            cin: p.cin as i32,
            activation: p.activation as i32,
            leaky_slope: p.leaky_slope,
            dst_f32: (l == last) as i32,
        };
        let (w, h) = rows(rect);
        let z = (p.dst_stride as u32).div_ceil(NN_CO_PER_BLOCK);
        match path {
            ConvPath::TensorCores => {
                backend.launch(Kernel::NnConv3x3MmaF16, (w.div_ceil(64), h, z), &params)?
            }
            ConvPath::Simt => backend.launch(
                Kernel::NnConv3x3SimtF16,
                (w.div_ceil(NN_BLOCK), h, z),
                &params,
            )?,
        }
        act = dst;
        act_rect = rect;
    }
    let out = backend.alloc(out_rect.pixel_count() * 3 * 4)?;
    let (w, h) = rows(out_rect);
    backend.launch(
        Kernel::NnAssembleF32,
        (w.div_ceil(NN_BLOCK), h, 1),
        &NnAssembleParams {
            tail: act,
            input: input_f32,
            out,
            core: core.into(),
            input_rect: input_rect.into(),
            out_rect: out_rect.into(),
            frame: frame.into(),
            tail_stride: packed[last].dst_stride as i32,
            cin: spec.in_channels as i32,
            scale: spec.scale as i32,
            centre: (3 * (spec.frames / 2)) as i32,
            skip: skip_code(spec.skip),
        },
    )?;
    let mut result = Planar::zeros(out_rect, 3);
    let mut raw = vec![0u8; result.data.len() * 4];
    backend.download(out, &mut raw)?;
    for (v, b) in result.data.iter_mut().zip(raw.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    backend.release_tile_buffers();
    Ok(result)
}

/// A model's weights resident on one GPU, uploaded once (keyed by the file's content hash).
pub struct ResidentWeights {
    packed: Vec<PackedConv>,
    on_device: Vec<ConvOnDevice>,
    _buffers: Vec<CudaSlice<u8>>,
}

/// Resident weights by (engine, model content hash).
type WeightCache = HashMap<(usize, u64), Arc<ResidentWeights>>;

/// Our stream and the buffers of the tile in flight.
struct CudaBackend<'a> {
    engine: &'a CudaEngine,
    stream: Arc<CudaStream>,
    buffers: Vec<CudaSlice<u8>>,
}

impl NnBackend for CudaBackend<'_> {
    fn upload(&mut self, bytes: &[u8]) -> Result<u64, DeviceError> {
        let slice = self.stream.clone_htod(bytes)?;
        let addr = slice.device_ptr(&self.stream).0;
        self.buffers.push(slice);
        Ok(addr)
    }

    fn alloc(&mut self, bytes: usize) -> Result<u64, DeviceError> {
        let slice = self.stream.alloc_zeros::<u8>(bytes.max(1))?;
        let addr = slice.device_ptr(&self.stream).0;
        self.buffers.push(slice);
        Ok(addr)
    }

    fn download(&mut self, addr: u64, out: &mut [u8]) -> Result<(), DeviceError> {
        let slice = self
            .buffers
            .iter()
            .find(|b| b.device_ptr(&self.stream).0 == addr)
            .ok_or_else(|| DeviceError::Driver("download from an unknown buffer".into()))?;
        self.stream.memcpy_dtoh(&slice.slice(0..out.len()), out)?;
        self.stream.synchronize()?;
        Ok(())
    }

    fn launch<P: DeviceRepr + Copy + 'static>(
        &mut self,
        kernel: Kernel,
        grid: (u32, u32, u32),
        params: &P,
    ) -> Result<(), DeviceError> {
        if TypeId::of::<P>() != kernel.params_type() {
            return Err(DeviceError::ParamsMismatch {
                kernel: kernel.name(),
                expected: kernel.params_type_name(),
            });
        }
        if grid.0 == 0 || grid.1 == 0 {
            return Ok(());
        }
        if grid.1 > 65535 || grid.2 > 65535 {
            return Err(DeviceError::TooLarge(format!("nn launch grid {grid:?}")));
        }
        let function = self.engine.function(kernel)?;
        let cfg = LaunchConfig {
            grid_dim: grid,
            block_dim: (NN_BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = self.stream.launch_builder(&function);
        launch.arg(params);
        // SAFETY: the params type is the kernel's (checked above); every address inside was
        // allocated by this backend for the sizes the tile sequence computed.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }

    fn release_tile_buffers(&mut self) {
        self.buffers.clear();
    }
}

impl CudaEngine {
    /// Whether the nn module loaded on this GPU has the tensor-core path (a cubin assembled
    /// from compute_80 PTX); PTX and runtime-compiled modules are compute_75 (SIMT only).
    pub fn nn_conv_path(&self) -> ConvPath {
        conv_path_for(super::cuda::choose_module_image(
            KernelModule::Nn,
            self.compute_capability(),
        ))
    }

    fn resident_weights(&self, model: &Model) -> Result<Arc<ResidentWeights>, DeviceError> {
        static CACHE: Mutex<Option<WeightCache>> = Mutex::new(None);
        let key = (self as *const CudaEngine as usize, model.content_hash);
        let mut guard = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some(w) = map.get(&key) {
            return Ok(w.clone());
        }
        let packed = pack(model);
        let mut b = CudaBackend {
            engine: self,
            stream: self.context().default_stream(),
            buffers: Vec::new(),
        };
        let on_device = upload_weights(&mut b, &packed)?;
        b.stream.synchronize()?;
        let w = Arc::new(ResidentWeights {
            packed,
            on_device,
            _buffers: std::mem::take(&mut b.buffers),
        });
        map.insert(key, w.clone());
        Ok(w)
    }

    /// Runs `model` over `window` like [`cpu::run`], on this GPU, tile after tile on a stream
    /// of our own; GPU memory is bounded by one tile's activations.
    #[allow(clippy::too_many_arguments)]
    pub fn run_nn(
        &self,
        model: &Model,
        source: &dyn TileSource,
        frame: Rect,
        window: Rect,
        tile: usize,
        abort: &dyn Abort,
        sink: &(dyn Fn(Planar) + Sync),
    ) -> Result<(), DeviceError> {
        let weights = self.resident_weights(model)?;
        let path = self.nn_conv_path();
        let mut backend = CudaBackend {
            engine: self,
            stream: self.context().new_stream()?,
            buffers: Vec::new(),
        };
        for t in cpu::tiles(frame, model.scale(), window, tile) {
            if abort.aborted() {
                return Err(DeviceError::Aborted);
            }
            let out = run_tile_on(
                &mut backend,
                model,
                &weights.packed,
                &weights.on_device,
                source,
                frame,
                t,
                path,
            )?;
            sink(out);
        }
        Ok(())
    }
}
