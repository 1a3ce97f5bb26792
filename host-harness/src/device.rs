//! Device memory behind the host's OFX CUDA render mode: a stream per action, images uploaded
//! into device buffers and the output read back. Two implementations of one set of traits: the
//! NVIDIA driver (through `cudarc`, loaded at run time) and an emulation in host memory, which
//! lets tests check every pointer and property a CUDA host hands a plugin on machines with no GPU.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Why device memory could not be had or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("no NVIDIA driver (libcuda) could be loaded on this machine")]
    NoDriver,
    #[error("the NVIDIA driver reports no CUDA device {0}")]
    NoDevice(usize),
    #[error("CUDA driver error: {0}")]
    Driver(String),
}

/// A GPU (or its emulation) the host renders with. One per host, opened at first use.
pub trait CudaDevice: Send + Sync {
    /// What it is, for logs and reports (e.g. "NVIDIA H100 (CUDA device 0)").
    fn description(&self) -> String;
    /// A new stream: the host gives each render and sequence action a fresh one, as hosts that
    /// rebuild their GPU pipeline do, so a plugin that caches the stream is caught.
    fn new_stream(&self) -> Result<Box<dyn DeviceStream>, DeviceError>;
}

/// One stream: what `OfxImageEffectPropCudaStream` names, and the copies the host makes on it.
pub trait DeviceStream: Send + Sync {
    /// The `cudaStream_t` (equal to the driver's `CUstream`) as plugins receive it.
    fn handle(&self) -> *mut c_void;
    /// A new device buffer holding `bytes`; the copy has finished when this returns.
    fn upload(&self, bytes: &[u8]) -> Result<Box<dyn DeviceBuffer>, DeviceError>;
    /// Waits for everything queued on the stream (the plugin's work included).
    fn synchronize(&self) -> Result<(), DeviceError>;
}

/// Device memory the host owns. Freed on drop, which the host does only after synchronising.
pub trait DeviceBuffer: Send + Sync {
    /// The device address of the first byte (what `kOfxImagePropData` is offset from).
    fn address(&self) -> u64;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies the whole buffer into `into` (at least `len()` bytes), waiting for the copy.
    fn download(&self, into: &mut [u8]) -> Result<(), DeviceError>;
}

// ---------- emulation in host memory ----------

/// Device memory emulated in host memory: "device pointers" are addresses of host allocations
/// separate from the host's images, and the stream is an opaque token. For testing the plumbing
/// of CUDA render (which pointers and properties reach a plugin, uploads, downloads, canaries);
/// a plugin that launches real kernels on these pointers would fail, so never use it for one.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmulatedDevice;

impl CudaDevice for EmulatedDevice {
    fn description(&self) -> String {
        "emulated CUDA device (host memory)".into()
    }
    fn new_stream(&self) -> Result<Box<dyn DeviceStream>, DeviceError> {
        let serial = STREAM_SERIAL.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(EmulatedStream {
            handle: EMULATED_STREAM_BASE + serial * 16,
        }))
    }
}

/// Emulated stream handles are opaque, never-reused values in a range no allocator hands out
/// on a 64-bit machine, so a plugin that keeps a stream from an earlier action shows up.
const EMULATED_STREAM_BASE: usize = 0x0000_5354_0000_0000;
static STREAM_SERIAL: AtomicUsize = AtomicUsize::new(1);

struct EmulatedStream {
    handle: usize,
}

impl DeviceStream for EmulatedStream {
    fn handle(&self) -> *mut c_void {
        self.handle as *mut c_void
    }
    fn upload(&self, bytes: &[u8]) -> Result<Box<dyn DeviceBuffer>, DeviceError> {
        let words = bytes.len().div_ceil(8).max(1);
        // Owned through a raw pointer, never through a Box or Vec, because the plugin writes
        // through the address we hand out while we hold it.
        let memory = Box::into_raw(vec![0u64; words].into_boxed_slice()) as *mut u64;
        // SAFETY: `memory` holds words * 8 >= bytes.len() bytes and does not overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), memory.cast::<u8>(), bytes.len()) };
        Ok(Box::new(EmulatedBuffer {
            memory,
            words,
            len: bytes.len(),
        }))
    }
    fn synchronize(&self) -> Result<(), DeviceError> {
        Ok(())
    }
}

struct EmulatedBuffer {
    memory: *mut u64,
    words: usize,
    len: usize,
}

// SAFETY: the buffer is plain memory owned by this object; concurrent access to its bytes is
// the plugin's business, as with real device memory.
unsafe impl Send for EmulatedBuffer {}
unsafe impl Sync for EmulatedBuffer {}

impl DeviceBuffer for EmulatedBuffer {
    fn address(&self) -> u64 {
        self.memory as u64
    }
    fn len(&self) -> usize {
        self.len
    }
    fn download(&self, into: &mut [u8]) -> Result<(), DeviceError> {
        let n = self.len.min(into.len());
        // SAFETY: `memory` holds at least `len` bytes; `into` is a distinct host slice.
        unsafe { std::ptr::copy_nonoverlapping(self.memory.cast::<u8>(), into.as_mut_ptr(), n) };
        Ok(())
    }
}

impl Drop for EmulatedBuffer {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.memory, self.words);
        // SAFETY: `memory` came from Box::into_raw of a boxed slice of `words` u64 and is freed
        // once, here.
        drop(unsafe { Box::from_raw(slice) });
    }
}

// ---------- the NVIDIA driver ----------

/// A real GPU through the driver API: the device's primary context (the one plugins that follow
/// the public samples use), streams of that context, and device buffers allocated on them.
pub struct DriverDevice {
    ctx: Arc<cudarc::driver::CudaContext>,
    name: String,
}

/// Runs cudarc calls that may panic (a driver lacking a symbol the bindings expect) and turns a
/// panic into an error, so nothing unwinds through the host.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, DeviceError>) -> Result<T, DeviceError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(DeviceError::Driver(format!(
            "{what} failed inside the driver bindings"
        )))
    })
}

fn driver_error(e: cudarc::driver::DriverError) -> DeviceError {
    DeviceError::Driver(e.to_string())
}

/// Whether the NVIDIA driver library can be loaded. Calls nothing inside it: cudarc panics at
/// the first driver call when libcuda is missing, so every driver path starts here.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the driver library by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

impl DriverDevice {
    /// Opens GPU `ordinal`'s primary context.
    pub fn open(ordinal: usize) -> Result<DriverDevice, DeviceError> {
        if !driver_present() {
            return Err(DeviceError::NoDriver);
        }
        guarded("CUDA start-up", || {
            let count = cudarc::driver::CudaContext::device_count().map_err(driver_error)?;
            if count <= 0 || count as usize <= ordinal {
                return Err(DeviceError::NoDevice(ordinal));
            }
            let ctx = cudarc::driver::CudaContext::new(ordinal).map_err(driver_error)?;
            let name = ctx.name().map_err(driver_error)?;
            // Each buffer of ours lives on one stream, used in order: cudarc's per-buffer events
            // would only add driver calls.
            // SAFETY: no buffer of this context is used on two streams without explicit order.
            unsafe { ctx.disable_event_tracking() };
            Ok(DriverDevice { ctx, name })
        })
    }
}

impl CudaDevice for DriverDevice {
    fn description(&self) -> String {
        format!("{} (CUDA device {})", self.name, self.ctx.ordinal())
    }
    fn new_stream(&self) -> Result<Box<dyn DeviceStream>, DeviceError> {
        guarded("cuStreamCreate", || {
            let stream = self.ctx.new_stream().map_err(driver_error)?;
            Ok(Box::new(DriverStream { stream }) as Box<dyn DeviceStream>)
        })
    }
}

struct DriverStream {
    stream: Arc<cudarc::driver::CudaStream>,
}

impl DeviceStream for DriverStream {
    fn handle(&self) -> *mut c_void {
        self.stream.cu_stream() as *mut c_void
    }
    fn upload(&self, bytes: &[u8]) -> Result<Box<dyn DeviceBuffer>, DeviceError> {
        use cudarc::driver::DevicePtr;
        guarded("cuMemcpyHtoDAsync", || {
            // From pageable host memory; cudarc waits for the copy before returning.
            let slice = self.stream.clone_htod(bytes).map_err(driver_error)?;
            let (address, _) = slice.device_ptr(&self.stream);
            Ok(Box::new(DriverBuffer {
                slice,
                address,
                stream: self.stream.clone(),
            }) as Box<dyn DeviceBuffer>)
        })
    }
    fn synchronize(&self) -> Result<(), DeviceError> {
        guarded("cuStreamSynchronize", || {
            self.stream.synchronize().map_err(driver_error)
        })
    }
}

struct DriverBuffer {
    slice: cudarc::driver::CudaSlice<u8>,
    address: u64,
    stream: Arc<cudarc::driver::CudaStream>,
}

impl DeviceBuffer for DriverBuffer {
    fn address(&self) -> u64 {
        self.address
    }
    fn len(&self) -> usize {
        self.slice.len()
    }
    fn download(&self, into: &mut [u8]) -> Result<(), DeviceError> {
        let n = self.slice.len();
        let Some(dst) = into.get_mut(..n) else {
            return Err(DeviceError::Driver(format!(
                "download of {n} bytes into {} bytes",
                into.len()
            )));
        };
        guarded("cuMemcpyDtoHAsync", || {
            // Into pageable memory; cudarc waits for the copy before returning.
            self.stream
                .memcpy_dtoh(&self.slice, dst)
                .map_err(driver_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulated_buffers_are_separate_memory_that_round_trips() {
        let stream = EmulatedDevice.new_stream().unwrap();
        let bytes: Vec<u8> = (0..37u8).collect();
        let buf = stream.upload(&bytes).unwrap();
        assert_eq!(buf.len(), 37);
        assert_ne!(buf.address(), bytes.as_ptr() as u64);
        // The plugin writes through the address it was given…
        // SAFETY: the buffer holds 37 bytes at that address.
        unsafe { *(buf.address() as *mut u8).add(5) = 200 };
        let mut back = vec![0u8; 37];
        buf.download(&mut back).unwrap();
        let mut want = bytes.clone();
        want[5] = 200;
        assert_eq!(back, want);
    }

    #[test]
    fn every_emulated_stream_has_its_own_handle() {
        let a = EmulatedDevice.new_stream().unwrap();
        let b = EmulatedDevice.new_stream().unwrap();
        assert!(!a.handle().is_null());
        assert_ne!(a.handle(), b.handle());
    }

    #[test]
    fn opening_the_driver_without_libcuda_is_an_error_not_a_panic() {
        if driver_present() {
            // A machine with a driver opens (or reports no device): neither may panic.
            let _ = DriverDevice::open(0);
        } else {
            assert_eq!(DriverDevice::open(0).err(), Some(DeviceError::NoDriver));
        }
    }
}
