//! Where an op runs: the CPU (the reference) or a CUDA GPU. Picks the device (parameter or
//! `PLATERESTORE_DEVICE`), probes CUDA lazily at first use, and turns every CUDA failure into a
//! typed error the op answers by running on the CPU, logged once.

#[cfg(test)]
mod build_support;
pub mod cuda;
pub mod grain;
pub mod itm;
pub mod kernels;
pub mod nn;
pub mod params;

pub use cuda::{run_cuda_on_host_stream, CudaEngine, DeviceImage, HostRender};

use crate::image::{ImageView, ImageViewMut, Rect};
use crate::ops::OpError;
use cudarc::driver::DeviceRepr;
use kernels::Kernel;
use params::PrImage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The environment variable that overrides the device choice: `auto`, `cpu` or `cuda`.
pub const DEVICE_ENV: &str = "PLATERESTORE_DEVICE";

/// What the user (an effect parameter, a harness flag or the environment) asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevicePreference {
    /// A CUDA GPU when one works, else the CPU.
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// The GPU; still falls back to the CPU (with a log line) when CUDA cannot run.
    Cuda,
}

impl DevicePreference {
    /// Parses `auto`, `cpu` or `cuda` (any case, surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<Self, DeviceError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DevicePreference::Auto),
            "cpu" => Ok(DevicePreference::Cpu),
            "cuda" | "gpu" => Ok(DevicePreference::Cuda),
            _ => Err(DeviceError::BadPreference(text.to_string())),
        }
    }

    /// The preference in `PLATERESTORE_DEVICE`, if set. An unreadable value is reported and
    /// ignored rather than failing a render.
    pub fn from_env() -> Option<Self> {
        let value = std::env::var(DEVICE_ENV).ok()?;
        match Self::parse(&value) {
            Ok(p) => Some(p),
            Err(e) => {
                log::warn!("{e}; ignoring {DEVICE_ENV}");
                None
            }
        }
    }

    /// The environment wins over a parameter, so a farm can force the CPU on every node.
    pub fn resolve(param: DevicePreference, env: Option<DevicePreference>) -> DevicePreference {
        env.unwrap_or(param)
    }
}

/// Why CUDA could not be used. Ops turn any of these into a CPU run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device `{0}`: use auto, cpu or cuda")]
    BadPreference(String),
    #[error("no NVIDIA driver (libcuda) on this machine")]
    NoDriver,
    #[error("the NVIDIA driver reports no CUDA device")]
    NoDevice,
    #[error("GPU {0} is older than Turing (compute capability 7.5 is the minimum)")]
    UnsupportedGpu(String),
    #[error("out of GPU memory")]
    OutOfMemory,
    #[error("CUDA driver error: {0}")]
    Driver(String),
    #[error("kernel {0} is not built into this binary and runtime NVRTC is unavailable")]
    NoKernelImage(&'static str),
    #[error("runtime kernel compile failed: {0}")]
    Nvrtc(String),
    #[error("kernel {kernel} takes {expected}, not the params given")]
    ParamsMismatch {
        kernel: &'static str,
        expected: &'static str,
    },
    #[error("the host's CUDA stream is not in its device's primary context")]
    HostContextNotPrimary,
    #[error("image too large for one launch: {0}")]
    TooLarge(String),
    #[error("settings the GPU path cannot take: {0}")]
    Settings(String),
    #[error("the render was aborted by the host")]
    Aborted,
    #[error("bad device image: {0}")]
    Image(#[from] crate::image::ImageError),
}

impl From<cudarc::driver::DriverError> for DeviceError {
    fn from(e: cudarc::driver::DriverError) -> Self {
        use cudarc::driver::sys::CUresult;
        match e.0 {
            CUresult::CUDA_ERROR_OUT_OF_MEMORY => DeviceError::OutOfMemory,
            CUresult::CUDA_ERROR_NO_DEVICE => DeviceError::NoDevice,
            other => DeviceError::Driver(format!("{other:?}")),
        }
    }
}

/// The device an op runs on.
#[derive(Clone)]
pub enum Device {
    Cpu,
    Cuda(Arc<cuda::CudaEngine>),
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Device({})", self.name())
    }
}

impl Device {
    /// The CPU, always available.
    pub fn cpu() -> Device {
        Device::Cpu
    }

    /// `Auto`, or whatever `PLATERESTORE_DEVICE` says. Probes CUDA on first call only.
    pub fn auto() -> Device {
        Device::select(DevicePreference::Auto)
    }

    /// The device for a preference (the environment overriding it). CUDA is probed once per
    /// process, at the first call that wants it: never at load or describe time.
    pub fn select(param: DevicePreference) -> Device {
        match DevicePreference::resolve(param, DevicePreference::from_env()) {
            DevicePreference::Cpu => Device::Cpu,
            DevicePreference::Auto | DevicePreference::Cuda => match cuda::CudaEngine::shared(0) {
                Ok(engine) => Device::Cuda(engine),
                Err(e) => {
                    note_cpu_fallback(&e);
                    Device::Cpu
                }
            },
        }
    }

    pub fn is_cuda(&self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// "CPU" or the GPU's name and compute capability, for logs and the harness.
    pub fn name(&self) -> String {
        match self {
            Device::Cpu => "CPU".to_string(),
            Device::Cuda(e) => e.description(),
        }
    }
}

static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// Records that work went to the CPU because CUDA failed: one warning per process (a render
/// farm log with one line per frame helps nobody), later ones at debug level.
pub fn note_cpu_fallback(error: &DeviceError) {
    if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
        log::warn!("CUDA unavailable, rendering on the CPU: {error}");
    } else {
        log::debug!("CUDA unavailable, rendering on the CPU: {error}");
    }
}

/// Runs a per-pixel op on `device`: its CUDA kernel when the device is a GPU, else `cpu()`.
/// Any CUDA failure (out of memory included) is logged once and answered with `cpu()`; the
/// destination is only written after the GPU work succeeded, so the CPU run starts clean.
pub fn run_per_pixel<P: DeviceRepr + Copy + 'static>(
    device: &Device,
    kernel: Kernel,
    src: &ImageView<'_>,
    dst: &ImageViewMut<'_>,
    window: Rect,
    make_params: impl FnOnce(PrImage, PrImage) -> P,
    cpu: impl FnOnce() -> Result<(), OpError>,
) -> Result<(), OpError> {
    if let Device::Cuda(engine) = device {
        match engine.run_per_pixel(kernel, src, dst, window, make_params) {
            Ok(()) => return Ok(()),
            Err(e) => note_cpu_fallback(&e),
        }
    }
    cpu()
}

#[cfg(test)]
mod nn_tests;
#[cfg(test)]
mod tests;
