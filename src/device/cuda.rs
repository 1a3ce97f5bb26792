//! The CUDA side of a device: one engine per GPU (its primary context, a module cache keyed by
//! `KernelModule`, our own stream and reusable buffers) and the borrowed-stream path for hosts
//! that render with CUDA themselves (OFX CUDA render: the host's stream and device pointers).

use super::kernels::{Kernel, KernelModule, NVRTC_OPTIONS, PTX_VIRTUAL_ARCH};
use super::params::PrImage;
use super::DeviceError;
use crate::image::{ImageLayout, ImageView, ImageViewMut, Rect};
use cudarc::driver::{
    sys, CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, DeviceRepr,
    LaunchConfig, PushKernelArg,
};
use std::any::TypeId;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

/// Threads per block for per-pixel kernels: a warp wide so rows are read coalesced, 8 rows tall.
pub const PIXEL_BLOCK: (u32, u32) = (32, 8);

/// The oldest GPU the kernels are built for (Turing).
pub const MIN_COMPUTE_CAPABILITY: (i32, i32) = (7, 5);

/// Buffers kept between frames; a render needs two, a neighbour of a concurrent render two more.
const POOLED_BUFFERS: usize = 4;

/// Whether a CUDA driver library can be loaded. Calls nothing inside it: cudarc panics on the
/// first driver call when libcuda is missing, so this must come first.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the driver library by its usual names.
    unsafe { sys::is_culib_present() }
}

/// Runs a cudarc call that may panic (a driver lacking a symbol the bindings expect) and turns
/// the panic into an error: nothing may unwind into a host.
pub(crate) fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, DeviceError>,
) -> Result<T, DeviceError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(DeviceError::Driver(format!(
            "{what} failed inside the driver bindings"
        )))
    })
}

/// The module image a device loads for a kernel module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleImage {
    /// Native code for SM `sm` (10·major + minor).
    Cubin { sm: u32, image: &'static [u8] },
    /// PTX the driver compiles (JIT) for the device.
    Ptx(&'static str),
    /// Nothing was precompiled: compile this source with runtime NVRTC.
    Source(&'static str),
}

/// The best cubin for compute capability `cc`: same major, highest minor not above the
/// device's (a cubin runs on later minors of its major, never across majors).
pub fn choose_cubin(
    cubins: &[(u32, &'static [u8])],
    cc: (i32, i32),
) -> Option<(u32, &'static [u8])> {
    let (major, minor) = (cc.0 as u32, cc.1 as u32);
    cubins
        .iter()
        .filter(|(sm, _)| sm / 10 == major && sm % 10 <= minor)
        .max_by_key(|(sm, _)| *sm)
        .copied()
}

/// Cubin when one fits, else the PTX (JIT, also for GPUs newer than every cubin), else source.
pub fn choose_module_image(module: KernelModule, cc: (i32, i32)) -> ModuleImage {
    if let Some((sm, image)) = choose_cubin(module.cubins(), cc) {
        return ModuleImage::Cubin { sm, image };
    }
    match module.ptx() {
        Some(ptx) => ModuleImage::Ptx(ptx),
        None => ModuleImage::Source(module.source()),
    }
}

/// One GPU: its primary context, loaded modules and what our own renders reuse.
pub struct CudaEngine {
    ctx: Arc<CudaContext>,
    compute_capability: (i32, i32),
    name: String,
    modules: Mutex<HashMap<KernelModule, Arc<CudaModule>>>,
    own: Mutex<OwnRender>,
    tables: Mutex<TableCache>,
}

/// Read-only f32 tables kernels look values up in (e.g. the inverse tone map's curves), kept in
/// device memory while their content is in use so a render does not upload them again. They are
/// ours, not the host's: uploaded on our own stream, and an entry is only freed after the last
/// launch that read it (an event recorded on that launch's stream) has finished.
struct TableCache {
    upload: Arc<CudaStream>,
    entries: Vec<TableEntry>,
}

struct TableEntry {
    host: Vec<f32>,
    device: CudaSlice<f32>,
    last_read: Option<cudarc::driver::CudaEvent>,
}

/// Distinct table sets kept on the GPU (a few parameter changes back and forth stay uploaded).
const CACHED_TABLE_SETS: usize = 4;

/// Our stream and the device buffers renders of host-memory images reuse frame after frame.
struct OwnRender {
    stream: Arc<CudaStream>,
    pool: Vec<CudaSlice<u8>>,
}

type EngineSlot = Result<Arc<CudaEngine>, DeviceError>;

fn engines() -> &'static Mutex<HashMap<usize, EngineSlot>> {
    static ENGINES: OnceLock<Mutex<HashMap<usize, EngineSlot>>> = OnceLock::new();
    ENGINES.get_or_init(|| Mutex::new(HashMap::new()))
}

impl CudaEngine {
    /// The engine of GPU `ordinal`, probed on first request and kept for the process (a failed
    /// probe is remembered too, so a machine without CUDA pays for it once).
    pub fn shared(ordinal: usize) -> Result<Arc<CudaEngine>, DeviceError> {
        let mut map = engines().lock().unwrap_or_else(|p| p.into_inner());
        map.entry(ordinal)
            .or_insert_with(|| Self::probe(ordinal).map(Arc::new))
            .clone()
    }

    fn probe(ordinal: usize) -> Result<CudaEngine, DeviceError> {
        if !driver_present() {
            return Err(DeviceError::NoDriver);
        }
        guarded("CUDA start-up", || {
            if CudaContext::device_count()? as usize <= ordinal {
                return Err(DeviceError::NoDevice);
            }
            let ctx = CudaContext::new(ordinal)?;
            let compute_capability = ctx.compute_capability()?;
            let name = ctx.name()?;
            if compute_capability < MIN_COMPUTE_CAPABILITY {
                return Err(DeviceError::UnsupportedGpu(name));
            }
            // All our work on one context goes through our stream or the host's, each ordered
            // by itself; cudarc's per-buffer events would only add driver calls.
            // SAFETY: no buffer of this context is used on two streams without explicit order.
            unsafe { ctx.disable_event_tracking() };
            let stream = ctx.new_stream()?;
            let upload = ctx.new_stream()?;
            Ok(CudaEngine {
                ctx,
                compute_capability,
                name,
                modules: Mutex::new(HashMap::new()),
                own: Mutex::new(OwnRender {
                    stream,
                    pool: Vec::new(),
                }),
                tables: Mutex::new(TableCache {
                    upload,
                    entries: Vec::new(),
                }),
            })
        })
    }

    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    pub fn compute_capability(&self) -> (i32, i32) {
        self.compute_capability
    }

    /// e.g. "NVIDIA GeForce RTX 4090 (sm_89)".
    pub fn description(&self) -> String {
        format!(
            "{} (sm_{}{})",
            self.name, self.compute_capability.0, self.compute_capability.1
        )
    }

    /// The kernel's function, loading its module into this context on first use.
    pub fn function(&self, kernel: Kernel) -> Result<CudaFunction, DeviceError> {
        let module = self.module(kernel.module())?;
        guarded("cuModuleGetFunction", || {
            Ok(module.load_function(kernel.name())?)
        })
    }

    fn module(&self, which: KernelModule) -> Result<Arc<CudaModule>, DeviceError> {
        let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = modules.get(&which) {
            return Ok(m.clone());
        }
        let ptx = match choose_module_image(which, self.compute_capability) {
            ModuleImage::Cubin { image, .. } => cudarc::nvrtc::Ptx::from_binary(image.to_vec()),
            ModuleImage::Ptx(text) => cudarc::nvrtc::Ptx::from_src(text),
            ModuleImage::Source(source) => compile_at_runtime(which, source)?,
        };
        let module = guarded("cuModuleLoadData", || Ok(self.ctx.load_module(ptx)?))?;
        modules.insert(which, module.clone());
        Ok(module)
    }

    /// Enqueues `kernel` over every pixel of `rect` (one thread per pixel, PIXEL_BLOCK blocks)
    /// on `stream`. Does not wait.
    pub fn launch_over_rect<P: DeviceRepr + Copy + 'static>(
        &self,
        stream: &CudaStream,
        kernel: Kernel,
        rect: Rect,
        params: &P,
    ) -> Result<(), DeviceError> {
        if TypeId::of::<P>() != kernel.params_type() {
            return Err(DeviceError::ParamsMismatch {
                kernel: kernel.name(),
                expected: kernel.params_type_name(),
            });
        }
        if rect.is_empty() {
            return Ok(());
        }
        let grid = pixel_grid(rect)?;
        let function = self.function(kernel)?;
        let cfg = LaunchConfig {
            grid_dim: (grid.0, grid.1, 1),
            block_dim: (PIXEL_BLOCK.0, PIXEL_BLOCK.1, 1),
            shared_mem_bytes: 0,
        };
        guarded("cuLaunchKernel", || {
            let mut launch = stream.launch_builder(&function);
            launch.arg(params);
            // SAFETY: the params type is the one the kernel was declared with (checked above);
            // the addresses inside are the caller's contract (valid device memory for `rect`).
            unsafe { launch.launch(cfg) }?;
            Ok(())
        })
    }

    /// Runs `launch(device address of tables)` with `tables` resident on the GPU (uploaded
    /// once per distinct content), then records on `stream` that the launch read them.
    pub fn with_tables<T>(
        &self,
        tables: &[f32],
        stream: &CudaStream,
        launch: impl FnOnce(u64) -> Result<T, DeviceError>,
    ) -> Result<T, DeviceError> {
        let mut guard = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let cache = &mut *guard;
        let index = match cache.entries.iter().position(|e| e.host == tables) {
            Some(i) => i,
            None => {
                if cache.entries.len() >= CACHED_TABLE_SETS {
                    // Oldest first; wait only for the launches that read it.
                    let old = cache.entries.remove(0);
                    if let Some(event) = &old.last_read {
                        event.synchronize()?;
                    }
                }
                let upload = cache.upload.clone();
                let device = upload.clone_htod(tables)?;
                upload.synchronize()?;
                cache.entries.push(TableEntry {
                    host: tables.to_vec(),
                    device,
                    last_read: None,
                });
                cache.entries.len() - 1
            }
        };
        // The address only; nothing to order (the upload has finished, event tracking is off).
        let ptr = cache.entries[index].device.device_ptr(&cache.upload).0;
        let out = launch(ptr)?;
        let event = self.ctx.new_event(None)?;
        event.record(stream)?;
        cache.entries[index].last_read = Some(event);
        Ok(out)
    }

    /// Runs a per-pixel kernel for images in host memory: uploads the part of `src` the window
    /// needs (packed), launches `make_params(src_on_gpu, dst_on_gpu)` over the window, and
    /// writes the window back into `dst`. Buffers are reused across frames.
    pub fn run_per_pixel<P: DeviceRepr + Copy + 'static>(
        &self,
        kernel: Kernel,
        src: &ImageView<'_>,
        dst: &ImageViewMut<'_>,
        window: Rect,
        make_params: impl FnOnce(PrImage, PrImage) -> P,
    ) -> Result<(), DeviceError> {
        self.run_per_pixel_with_tables(kernel, src, dst, window, &[], |s, d, _| make_params(s, d))
    }

    /// `run_per_pixel` for kernels that also read a table array (`tables` non-empty): its
    /// device address is the third argument of `make_params`.
    pub fn run_per_pixel_with_tables<P: DeviceRepr + Copy + 'static>(
        &self,
        kernel: Kernel,
        src: &ImageView<'_>,
        dst: &ImageViewMut<'_>,
        window: Rect,
        tables: &[f32],
        make_params: impl FnOnce(PrImage, PrImage, u64) -> P,
    ) -> Result<(), DeviceError> {
        let win = window.intersect(&dst.bounds());
        if win.is_empty() {
            return Ok(());
        }
        let src_region = win.intersect(&src.bounds());
        let src_layout =
            ImageLayout::packed(src_region, src.layout().depth, src.layout().components);
        let dst_layout = ImageLayout::packed(win, dst.layout().depth, dst.layout().components);
        let staging_src = gather_rows(src, src_region);
        let dst_bytes = layout_bytes(&dst_layout);

        let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
        let stream = own.stream.clone();
        let result = guarded("a CUDA render", || {
            let mut src_buf = take_buffer(&mut own.pool, &stream, staging_src.len())?;
            let dst_buf = take_buffer(&mut own.pool, &stream, dst_bytes)?;
            let run = (|| {
                if !staging_src.is_empty() {
                    stream
                        .memcpy_htod(&staging_src, &mut src_buf.slice_mut(0..staging_src.len()))?;
                }
                let (src_ptr, _s) = src_buf.device_ptr(&stream);
                let (dst_ptr, _d) = dst_buf.device_ptr(&stream);
                let src_image = PrImage::new(src_ptr, &src_layout);
                let dst_image = PrImage::new(dst_ptr, &dst_layout);
                if tables.is_empty() {
                    let params = make_params(src_image, dst_image, 0);
                    self.launch_over_rect(&stream, kernel, win, &params)?;
                } else {
                    self.with_tables(tables, &stream, |tables_ptr| {
                        let params = make_params(src_image, dst_image, tables_ptr);
                        self.launch_over_rect(&stream, kernel, win, &params)
                    })?;
                }
                let mut out = vec![0u8; dst_bytes];
                stream.memcpy_dtoh(&dst_buf.slice(0..dst_bytes), &mut out)?;
                stream.synchronize()?;
                Ok::<_, DeviceError>(out)
            })();
            put_buffer(&mut own.pool, src_buf);
            put_buffer(&mut own.pool, dst_buf);
            run
        })?;
        drop(own);
        scatter_rows(&result, dst, win);
        Ok(())
    }
}

/// Blocks needed to give every pixel of `rect` a thread.
pub fn pixel_grid(rect: Rect) -> Result<(u32, u32), DeviceError> {
    let gx = (rect.width() as u32).div_ceil(PIXEL_BLOCK.0);
    let gy = (rect.height() as u32).div_ceil(PIXEL_BLOCK.1);
    if gy > 65535 {
        return Err(DeviceError::TooLarge(format!("{} rows", rect.height())));
    }
    Ok((gx, gy))
}

fn layout_bytes(layout: &ImageLayout) -> usize {
    layout.bounds.pixel_count() * layout.pixel_bytes()
}

fn take_buffer(
    pool: &mut Vec<CudaSlice<u8>>,
    stream: &Arc<CudaStream>,
    bytes: usize,
) -> Result<CudaSlice<u8>, DeviceError> {
    let bytes = bytes.max(256);
    if let Some(i) = pool
        .iter()
        .enumerate()
        .filter(|(_, b)| b.len() >= bytes)
        .min_by_key(|(_, b)| b.len())
        .map(|(i, _)| i)
    {
        return Ok(pool.swap_remove(i));
    }
    // SAFETY: u8 has no invalid bit patterns; every byte read back was first written (uploaded
    // source rows, or every pixel of the window by the kernel).
    Ok(unsafe { stream.alloc::<u8>(bytes) }?)
}

fn put_buffer(pool: &mut Vec<CudaSlice<u8>>, buf: CudaSlice<u8>) {
    pool.push(buf);
    if pool.len() > POOLED_BUFFERS {
        // Keep the big ones: they serve every smaller frame too.
        pool.sort_by_key(|b| std::cmp::Reverse(b.len()));
        pool.truncate(POOLED_BUFFERS);
    }
}

/// The bytes of `region` (inside the view's bounds) packed row after row, top row first.
fn gather_rows(view: &ImageView<'_>, region: Rect) -> Vec<u8> {
    let layout = view.layout();
    let row = region.width() as usize * layout.pixel_bytes();
    let mut out = Vec::with_capacity(row * region.height() as usize);
    for y in region.y1..region.y2 {
        let offset = (y - layout.bounds.y1) as isize * layout.row_bytes
            + ((region.x1 - layout.bounds.x1) as usize * layout.pixel_bytes()) as isize;
        // SAFETY: region lies inside the view's bounds, which ImageView::from_raw's contract
        // covers, so `row` bytes from pixel (region.x1, y) are readable.
        out.extend_from_slice(unsafe {
            std::slice::from_raw_parts(view.data_ptr().offset(offset), row)
        });
    }
    out
}

/// Writes packed rows of `region` back into the view (inverse of gather_rows).
fn scatter_rows(packed: &[u8], view: &ImageViewMut<'_>, region: Rect) {
    let layout = view.layout();
    let row = region.width() as usize * layout.pixel_bytes();
    for (i, y) in (region.y1..region.y2).enumerate() {
        let offset = (y - layout.bounds.y1) as isize * layout.row_bytes
            + ((region.x1 - layout.bounds.x1) as usize * layout.pixel_bytes()) as isize;
        // SAFETY: region lies inside the view's bounds (from_raw's contract); the view is the
        // only writer during the op.
        unsafe {
            std::ptr::copy_nonoverlapping(
                packed[i * row..].as_ptr(),
                view.data_ptr().offset(offset),
                row,
            )
        };
    }
}

/// Compiles a module from its embedded source with the user's NVRTC (only when the build had
/// none), for the lowest architecture so the PTX JITs anywhere the driver allows.
fn compile_at_runtime(
    module: KernelModule,
    source: &str,
) -> Result<cudarc::nvrtc::Ptx, DeviceError> {
    // SAFETY: only tries to dlopen libnvrtc; cudarc would panic on first use without it.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(DeviceError::NoKernelImage(module.file_name()));
    }
    let opts = cudarc::nvrtc::CompileOptions {
        arch: Some(PTX_VIRTUAL_ARCH),
        options: NVRTC_OPTIONS.iter().map(|o| o.to_string()).collect(),
        name: Some(module.file_name().to_string()),
        ..Default::default()
    };
    guarded("runtime NVRTC", || {
        cudarc::nvrtc::compile_ptx_with_opts(source, opts)
            .map_err(|e| DeviceError::Nvrtc(format!("{e:?}")))
    })
}

// ---- OFX CUDA render: the host's stream and device pointers ----------------------------------

/// An image in device memory the host owns (OFX CUDA render: `kOfxImagePropData` is a device
/// pointer to pixel (bounds.x1, bounds.y1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceImage {
    pub ptr: u64,
    pub layout: ImageLayout,
}

impl DeviceImage {
    /// Rejects what a host should never hand over: inverted bounds, rows too short, null data.
    pub fn check(&self) -> Result<(), DeviceError> {
        self.layout.validate()?;
        if self.ptr == 0 && !self.layout.bounds.is_empty() {
            return Err(crate::image::ImageError::NullData.into());
        }
        Ok(())
    }

    pub fn as_params(&self) -> PrImage {
        PrImage::new(self.ptr, &self.layout)
    }
}

/// What one render borrows from a host doing OFX CUDA render: its stream (or none), wrapped
/// for this render only. Never stored beyond the render, never synchronised device-wide.
pub struct HostRender {
    engine: Arc<CudaEngine>,
    stream: Arc<CudaStream>,
    /// The host gave no stream: work goes on the context's default stream and must be finished
    /// before the render returns (`finish` waits for that stream only).
    must_finish: bool,
}

impl HostRender {
    /// Binds to the host's `cudaStream_t` (the pointer value behind `OfxImageEffectPropCudaStream`)
    /// or, when `raw_stream` is null, to the host's current context's default stream.
    ///
    /// # Safety
    /// `raw_stream` must be null or a live CUDA stream the host handed over for this render,
    /// and stay valid until the HostRender is dropped.
    pub unsafe fn bind(raw_stream: *mut std::ffi::c_void) -> Result<HostRender, DeviceError> {
        if !driver_present() {
            return Err(DeviceError::NoDriver);
        }
        let cu_stream = raw_stream as sys::CUstream;
        let host_ctx = guarded("finding the host's CUDA context", || {
            let mut ctx: sys::CUcontext = std::ptr::null_mut();
            // SAFETY: a valid stream (caller's contract) or the current context's.
            unsafe {
                if cu_stream.is_null() {
                    sys::cuCtxGetCurrent(&mut ctx).result()?;
                } else {
                    sys::cuStreamGetCtx(cu_stream, &mut ctx).result()?;
                }
            }
            Ok(ctx)
        })?;
        if host_ctx.is_null() {
            return Err(DeviceError::Driver(
                "the host has no current CUDA context".into(),
            ));
        }
        let device = guarded("cuCtxGetDevice", || {
            let mut device: sys::CUdevice = 0;
            // SAFETY: push/pop leaves the thread's current context as it was.
            unsafe {
                sys::cuCtxPushCurrent_v2(host_ctx).result()?;
                let got = sys::cuCtxGetDevice(&mut device).result();
                let mut popped: sys::CUcontext = std::ptr::null_mut();
                sys::cuCtxPopCurrent_v2(&mut popped).result()?;
                got?;
            }
            Ok(device)
        })?;
        // CUdevice is the device ordinal for the driver API.
        let engine = CudaEngine::shared(device as usize)?;
        if engine.ctx.cu_ctx() != host_ctx {
            // Runtime-API hosts use the primary context; a private one would need our modules
            // loaded into it per render.
            return Err(DeviceError::HostContextNotPrimary);
        }
        // SAFETY: the stream belongs to engine.ctx (checked), and lives for this render (the
        // caller's contract); the wrapper does not destroy it on drop.
        let stream = unsafe { engine.ctx.wrap_borrowed_stream(cu_stream) };
        Ok(HostRender {
            engine,
            stream,
            must_finish: cu_stream.is_null(),
        })
    }

    pub fn engine(&self) -> &Arc<CudaEngine> {
        &self.engine
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Ends the render: with a host stream, returns at once (the host orders what follows);
    /// without one, waits for the default stream, as OFX requires.
    pub fn finish(self) -> Result<(), DeviceError> {
        if self.must_finish {
            guarded("cuStreamSynchronize", || Ok(self.stream.synchronize()?))?;
        }
        Ok(())
    }
}

/// Enqueues a per-pixel kernel on the host's stream, reading and writing the host's device
/// images directly: no copies, no waiting. `make_params(src, dst)` builds the kernel argument.
pub fn run_cuda_on_host_stream<P: DeviceRepr + Copy + 'static>(
    host: &HostRender,
    kernel: Kernel,
    src: &DeviceImage,
    dst: &DeviceImage,
    window: Rect,
    make_params: impl FnOnce(PrImage, PrImage) -> P,
) -> Result<(), DeviceError> {
    src.check()?;
    dst.check()?;
    let win = window.intersect(&dst.layout.bounds);
    let params = make_params(src.as_params(), dst.as_params());
    host.engine
        .launch_over_rect(&host.stream, kernel, win, &params)
}
