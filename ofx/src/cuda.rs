//! OFX 1.5 CUDA render (ofxGPURender.h). These names are not in `ofx_sys` (OFX 1.4 headers).
//! Resolve uses them: when a render's inArgs say CUDA is enabled, every image's
//! `kOfxImagePropData` is a device pointer and work goes on the host's stream.

use crate::props::PropSet;
use std::ffi::{c_void, CStr};

/// Plugin descriptor, string "false" / "true" / "needed".
pub const PROP_CUDA_RENDER_SUPPORTED: &CStr = c"OfxImageEffectPropCudaRenderSupported";
/// Plugin descriptor, string "false" / "true" / "needed".
pub const PROP_CUDA_STREAM_SUPPORTED: &CStr = c"OfxImageEffectPropCudaStreamSupported";
/// Render / sequence-render inArgs, int: 1 means image data are CUDA device pointers.
pub const PROP_CUDA_ENABLED: &CStr = c"OfxImageEffectPropCudaEnabled";
/// Render / sequence-render inArgs, pointer to the host's `cudaStream_t` (only when both sides
/// support streams).
pub const PROP_CUDA_STREAM: &CStr = c"OfxImageEffectPropCudaStream";

/// What a host said about CUDA for one render. Borrowed for that render only: never cache it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CudaRender {
    /// The host's `cudaStream_t`, or null when the host gave none (then all work must be
    /// finished before render returns).
    pub stream: *mut c_void,
}

// SAFETY: a stream handle is an opaque token; CUDA allows using it from any host thread.
unsafe impl Send for CudaRender {}
unsafe impl Sync for CudaRender {}

impl CudaRender {
    /// Reads the CUDA properties of a render's inArgs; `None` when CUDA is off or absent
    /// (hosts without OFX 1.5 simply lack the property).
    pub fn from_in_args(in_args: &PropSet) -> Option<CudaRender> {
        if in_args.is_null() || in_args.get_int_opt(PROP_CUDA_ENABLED, 0).unwrap_or(0) == 0 {
            return None;
        }
        let stream = in_args
            .get_pointer_opt(PROP_CUDA_STREAM, 0)
            .unwrap_or(std::ptr::null_mut());
        Some(CudaRender { stream })
    }
}
