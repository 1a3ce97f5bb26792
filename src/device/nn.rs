//! The neural engine on a CUDA GPU: the same tiles, regions and zero padding as the CPU runner
//! (`nn::cpu`), with activations in fp16 and f32 accumulation (kernels/nn.cu). The launch
//! sequence of a tile is written once over [`NnBackend`], so tests run exactly this sequence
//! through the CPU emulation of the kernels, and a GPU runs it on our stream.

use super::cuda::CudaEngine;
use super::kernels::{Kernel, KernelModule, TENSOR_CUBIN_MIN_SM};
use super::params::{
    NnAssembleParams, NnConvParams, NnInputParams, NN_ACT_LEAKY, NN_ACT_NONE, NN_ACT_PRELU,
    NN_ACT_RELU, NN_ACT_SILU, NN_CO_PER_BLOCK, NN_SKIP_BILINEAR, NN_SKIP_IDENTITY,
    NN_SKIP_LANCZOS3, NN_SKIP_NEAREST, NN_SKIP_NONE,
};
use super::DeviceError;
use crate::image::Rect;
use crate::nn::cpu::{self, footprint};
use crate::nn::{ConvActivation, Model, Planar, Skip, TileSource};
use crate::ops::Abort;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg};
use std::any::TypeId;
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

/// What the tile sequence needs of a device: memory and launches. Every buffer lives until the
/// backend is dropped; a render allocates its buffers once and reuses them for every tile.
pub trait NnBackend {
    /// A new buffer of `bytes` (contents undefined: the sequence writes before it reads).
    fn alloc(&mut self, bytes: usize) -> Result<u64, DeviceError>;
    /// Copies `bytes` to the start of the buffer at `addr` (ordered after earlier launches).
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), DeviceError>;
    /// Copies `out.len()` bytes from the start of the buffer at `addr` (waits for earlier
    /// launches).
    fn download(&mut self, addr: u64, out: &mut [u8]) -> Result<(), DeviceError>;
    fn launch<P: DeviceRepr + Copy + 'static>(
        &mut self,
        kernel: Kernel,
        grid: (u32, u32, u32),
        params: &P,
    ) -> Result<(), DeviceError>;

    /// A new buffer holding `bytes`.
    fn upload(&mut self, bytes: &[u8]) -> Result<u64, DeviceError> {
        let addr = self.alloc(bytes.len())?;
        self.write(addr, bytes)?;
        Ok(addr)
    }
}

fn bytes_of<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: T is plain old data (f32/u16 here); the slice covers exactly its elements.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

/// Uploads a model's packed weights through `backend`.
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
        Skip::Lanczos3 => NN_SKIP_LANCZOS3,
    }) as i32
}

/// The regions of one output tile, as `cpu::run_tile` computes them: the footprint (`core`),
/// the input region (core + halo, one pixel per convolution) and each convolution's output
/// region, shrinking by one pixel per layer down to the core.
#[derive(Debug, Clone, PartialEq)]
pub struct TilePlan {
    pub out_rect: Rect,
    pub core: Rect,
    pub input_rect: Rect,
    pub layer_rects: Vec<Rect>,
}

/// Bytes each of a render's buffers must hold: the f32 input, the two activation buffers the
/// layers alternate between (the fp16 input is in `act[0]`, layer `l` writes `act[(l + 1) % 2]`,
/// the tail in f32) and the 3-channel f32 output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TileBytes {
    pub input: usize,
    pub act: [usize; 2],
    pub out: usize,
}

impl TileBytes {
    /// The larger of each buffer's needs.
    pub fn max(self, o: TileBytes) -> TileBytes {
        TileBytes {
            input: self.input.max(o.input),
            act: [self.act[0].max(o.act[0]), self.act[1].max(o.act[1])],
            out: self.out.max(o.out),
        }
    }
}

impl TilePlan {
    pub fn new(model: &Model, frame: Rect, out_rect: Rect) -> TilePlan {
        let halo = model.convs.len() as i32;
        let core = footprint(frame, out_rect, model.spec.net_scale());
        TilePlan {
            out_rect,
            core,
            input_rect: grow(core, halo),
            layer_rects: (0..halo).map(|l| grow(core, halo - l - 1)).collect(),
        }
    }

    /// What this tile needs of each render buffer.
    pub fn bytes(&self, model: &Model, packed: &[PackedConv]) -> TileBytes {
        let mut act = [0usize; 2];
        act[0] = self.input_rect.pixel_count() * packed.first().map_or(16, |p| p.src_stride) * 2;
        let last = packed.len().saturating_sub(1);
        for (l, (p, r)) in packed.iter().zip(&self.layer_rects).enumerate() {
            let elem = if l == last { 4 } else { 2 };
            let b = &mut act[(l + 1) % 2];
            *b = (*b).max(r.pixel_count() * p.dst_stride * elem);
        }
        TileBytes {
            input: self.input_rect.pixel_count() * model.spec.net_in_channels() * 4,
            act,
            out: self.out_rect.pixel_count() * 3 * 4,
        }
    }
}

/// A render's buffers (device addresses) and what they hold.
#[derive(Debug, Clone, Copy)]
pub struct TileBuffers {
    pub input: u64,
    pub act: [u64; 2],
    pub out: u64,
    pub capacity: TileBytes,
}

impl TileBuffers {
    /// Buffers for every tile in `plans`, allocated once.
    pub fn alloc<B: NnBackend>(
        backend: &mut B,
        model: &Model,
        packed: &[PackedConv],
        plans: &[TilePlan],
    ) -> Result<TileBuffers, DeviceError> {
        let need = plans
            .iter()
            .fold(TileBytes::default(), |m, p| m.max(p.bytes(model, packed)));
        Ok(TileBuffers {
            input: backend.alloc(need.input)?,
            act: [backend.alloc(need.act[0])?, backend.alloc(need.act[1])?],
            out: backend.alloc(need.out)?,
            capacity: need,
        })
    }
}

/// One output tile on `backend`: the input region (tile footprint + halo, zero outside the
/// frame) → fp16 → each convolution → pixel shuffle + skip, downloaded as 3-channel f32.
#[allow(clippy::too_many_arguments)]
pub fn run_tile_on<B: NnBackend>(
    backend: &mut B,
    model: &Model,
    packed: &[PackedConv],
    weights: &[ConvOnDevice],
    buffers: &TileBuffers,
    source: &dyn TileSource,
    frame: Rect,
    plan: &TilePlan,
    path: ConvPath,
) -> Result<Planar, DeviceError> {
    let spec = &model.spec;
    let need = plan.bytes(model, packed);
    if need.max(buffers.capacity) != buffers.capacity || packed.is_empty() {
        return Err(DeviceError::Settings(format!(
            "tile {:?} needs {need:?}, the render's buffers hold {:?}",
            plan.out_rect, buffers.capacity
        )));
    }
    let (core, input_rect) = (plan.core, plan.input_rect);
    let input = cpu::tile_input(model, source, frame, input_rect);
    let rows = |r: Rect| (r.width() as u32, r.height() as u32);
    backend.write(buffers.input, bytes_of(&input.data))?;
    let stride0 = packed[0].src_stride;
    let (w, h) = rows(input_rect);
    backend.launch(
        Kernel::NnInputF16,
        (w.div_ceil(NN_BLOCK), h, 1),
        &NnInputParams {
            src: buffers.input,
            dst: buffers.act[0],
            rect: input_rect.into(),
            cin: spec.net_in_channels() as i32,
            stride: stride0 as i32,
        },
    )?;
    let mut act_rect = input_rect;
    let last = packed.len() - 1;
    for (l, ((p, d), &rect)) in packed
        .iter()
        .zip(weights)
        .zip(&plan.layer_rects)
        .enumerate()
    {
        let params = NnConvParams {
            src: buffers.act[l % 2],
            dst: buffers.act[(l + 1) % 2],
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
        act_rect = rect;
    }
    let out_rect = plan.out_rect;
    let (w, h) = rows(out_rect);
    backend.launch(
        Kernel::NnAssembleF32,
        (w.div_ceil(NN_BLOCK), h, 1),
        &NnAssembleParams {
            tail: buffers.act[(last + 1) % 2],
            input: buffers.input,
            out: buffers.out,
            core: core.into(),
            input_rect: input_rect.into(),
            out_rect: out_rect.into(),
            frame: frame.into(),
            tail_stride: packed[last].dst_stride as i32,
            cin: spec.net_in_channels() as i32,
            scale: spec.net_scale() as i32,
            centre: (3 * (spec.frames / 2) * spec.unshuffle * spec.unshuffle) as i32,
            skip: skip_code(spec.skip),
            lanczos: cpu::lanczos3_phases(spec.net_scale()),
        },
    )?;
    let mut result = Planar::zeros(out_rect, 3);
    let mut raw = vec![0u8; result.data.len() * 4];
    backend.download(buffers.out, &mut raw)?;
    for (v, b) in result.data.iter_mut().zip(raw.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Ok(result)
}

/// The tiles of `window` (the CPU runner's grid, `cpu::tiles`, in the stack's geometry:
/// `nn::unshuffle`) on `backend`, one after another
/// through buffers allocated once for the largest, each handed to `sink` when downloaded;
/// `abort` is asked before every tile. Both the GPU (`run_nn`) and the emulated tests run this.
#[allow(clippy::too_many_arguments)]
pub fn run_tiles_on<B: NnBackend>(
    backend: &mut B,
    model: &Model,
    packed: &[PackedConv],
    weights: &[ConvOnDevice],
    source: &dyn TileSource,
    frame: Rect,
    window: Rect,
    tile: usize,
    path: ConvPath,
    abort: &dyn Abort,
    sink: &(dyn Fn(Planar) + Sync),
) -> Result<(), DeviceError> {
    crate::nn::unshuffle::lowered(
        model,
        source,
        frame,
        window,
        tile,
        sink,
        |source, frame, list, sink| {
            let plans: Vec<TilePlan> = list
                .into_iter()
                .map(|t| TilePlan::new(model, frame, t))
                .collect();
            if plans.is_empty() {
                return Ok(());
            }
            let buffers = TileBuffers::alloc(backend, model, packed, &plans)?;
            for plan in &plans {
                if abort.aborted() {
                    return Err(DeviceError::Aborted);
                }
                sink(run_tile_on(
                    backend, model, packed, weights, &buffers, source, frame, plan, path,
                )?);
            }
            Ok(())
        },
    )
}

/// A model's weights resident on one GPU, uploaded once (keyed by the file's content hash).
pub struct ResidentWeights {
    packed: Vec<PackedConv>,
    on_device: Vec<ConvOnDevice>,
    _buffers: Vec<CudaSlice<u8>>,
}

/// Models kept resident per process; the oldest goes first (renders still using it keep it
/// alive through their `Arc` until they have finished).
const RESIDENT_MODELS: usize = 8;

/// Largest output tile edge a GPU render uses: bounds its memory (×2 with 32 channels: about 70 MB
/// of buffers) whatever tile the caller asks for. Tiles never change the result.
pub const MAX_GPU_TILE: usize = 1024;

/// A stream of ours and the buffers allocated on it.
struct CudaBackend<'a> {
    engine: &'a CudaEngine,
    stream: Arc<CudaStream>,
    buffers: Vec<CudaSlice<u8>>,
}

impl CudaBackend<'_> {
    fn buffer(&mut self, addr: u64) -> Result<&mut CudaSlice<u8>, DeviceError> {
        let stream = &self.stream;
        self.buffers
            .iter_mut()
            .find(|b| b.device_ptr(stream).0 == addr)
            .ok_or_else(|| DeviceError::Driver("copy to or from an unknown buffer".into()))
    }
}

impl NnBackend for CudaBackend<'_> {
    fn alloc(&mut self, bytes: usize) -> Result<u64, DeviceError> {
        // SAFETY: u8 has no invalid bit patterns, and the tile sequence writes every byte it
        // reads back (each kernel covers its whole output region and channel stride).
        let slice = unsafe { self.stream.alloc::<u8>(bytes.max(1)) }?;
        let addr = slice.device_ptr(&self.stream).0;
        self.buffers.push(slice);
        Ok(addr)
    }

    fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), DeviceError> {
        let stream = self.stream.clone();
        let buf = self.buffer(addr)?;
        if bytes.len() > buf.len() {
            return Err(DeviceError::Driver("upload larger than its buffer".into()));
        }
        stream.memcpy_htod(bytes, &mut buf.slice_mut(0..bytes.len()))?;
        Ok(())
    }

    fn download(&mut self, addr: u64, out: &mut [u8]) -> Result<(), DeviceError> {
        let stream = self.stream.clone();
        let buf = self.buffer(addr)?;
        if out.len() > buf.len() {
            return Err(DeviceError::Driver(
                "download larger than its buffer".into(),
            ));
        }
        stream.memcpy_dtoh(&buf.slice(0..out.len()), out)?;
        stream.synchronize()?;
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
        // allocated by this backend (or is a resident weight buffer) for the sizes the tile
        // sequence computed and checked against the buffers' capacity.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }
}

type WeightCache = Vec<((usize, u64), Arc<ResidentWeights>)>;

impl CudaEngine {
    /// Whether the nn module loaded on this GPU has the tensor-core path (a cubin assembled
    /// from compute_80 PTX); PTX and runtime-compiled modules are compute_75 (SIMT only).
    pub fn nn_conv_path(&self) -> ConvPath {
        conv_path_for(super::cuda::choose_module_image(
            KernelModule::Nn,
            self.compute_capability(),
        ))
    }

    /// The model's weights on this GPU, uploaded on first use and kept (by the file's content
    /// hash, never compared value by value) for later renders.
    fn resident_weights(&self, model: &Model) -> Result<Arc<ResidentWeights>, DeviceError> {
        static CACHE: Mutex<WeightCache> = Mutex::new(Vec::new());
        let key = (self as *const CudaEngine as usize, model.content_hash);
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, w)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(w.clone());
        }
        let packed = pack(model);
        let mut b = CudaBackend {
            engine: self,
            stream: self.context().new_stream()?,
            buffers: Vec::new(),
        };
        let on_device = upload_weights(&mut b, &packed)?;
        // Renders read the weights on their own streams: the upload must be complete.
        b.stream.synchronize()?;
        let w = Arc::new(ResidentWeights {
            packed,
            on_device,
            _buffers: std::mem::take(&mut b.buffers),
        });
        if cache.len() >= RESIDENT_MODELS {
            cache.remove(0);
        }
        cache.push((key, w.clone()));
        Ok(w)
    }

    /// Runs `model` over `window` like [`cpu::run`] (same tile grid, so a GPU render and a CPU
    /// render of any window fit together), on this GPU, tile after tile on a stream of our own
    /// with buffers allocated once per render; `tile` is capped at [`MAX_GPU_TILE`] so GPU
    /// memory stays bounded. Any CUDA failure (a panic in the driver bindings included) comes
    /// back as a `DeviceError`, after which the caller renders on the CPU; `sink` may already
    /// have received some tiles, which the CPU render overwrites with equal-enough pixels.
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
        super::cuda::guarded("a CUDA neural render", || {
            let weights = self.resident_weights(model)?;
            let mut backend = CudaBackend {
                engine: self,
                stream: self.context().new_stream()?,
                buffers: Vec::new(),
            };
            let result = run_tiles_on(
                &mut backend,
                model,
                &weights.packed,
                &weights.on_device,
                source,
                frame,
                window,
                tile.clamp(1, MAX_GPU_TILE),
                self.nn_conv_path(),
                abort,
                sink,
            );
            // After an error kernels may still be queued: let them finish before the buffers
            // (and possibly the last reference to evicted weights) are freed.
            if result.is_err() {
                let _ = backend.stream.synchronize();
            }
            result
        })
    }
}
