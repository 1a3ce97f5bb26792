//! OFX 1.5 CUDA render: what a plugin declares, and the host side's extension point.
//!
//! The harness reads `OfxImageEffectPropCudaRenderSupported` / `…CudaStreamSupported` from the
//! plugin descriptor and reports them. It does not yet render on a GPU: `CudaMode::Off` is the
//! only mode, and render inArgs carry `OfxImageEffectPropCudaEnabled = 0` for plugins that
//! declared support. To add the device path, implement `CudaMode::Device` as follows: allocate
//! clip images in device memory (`kOfxImagePropData` becomes a device pointer), set
//! `OfxImageEffectPropCudaEnabled = 1` in the inArgs of Render and Begin/EndSequenceRender, add
//! `OfxImageEffectPropCudaStream` (a `cudaStream_t`) when both sides support streams, and
//! synchronise that stream before reading the output back — see `Instance::render_frame`, where
//! `cuda::render_in_args` is called and where input/output buffers are allocated.

use crate::props::PropertySet;

/// OFX 1.5 property names (not in the OFX 1.4 headers `ofx_sys` binds).
pub const PROP_CUDA_RENDER_SUPPORTED: &str = "OfxImageEffectPropCudaRenderSupported";
pub const PROP_CUDA_STREAM_SUPPORTED: &str = "OfxImageEffectPropCudaStreamSupported";
pub const PROP_CUDA_ENABLED: &str = "OfxImageEffectPropCudaEnabled";
pub const PROP_CUDA_STREAM: &str = "OfxImageEffectPropCudaStream";

/// Whether the host offers CUDA render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CudaMode {
    /// CPU images only (the host says "false" to both CUDA properties).
    #[default]
    Off,
}

/// What a plugin declared about CUDA render ("false", "true" or "needed" for each).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CudaSupport {
    pub render: String,
    pub stream: String,
}

impl CudaSupport {
    pub(crate) fn read(props: &PropertySet) -> CudaSupport {
        CudaSupport {
            render: props
                .get_string(PROP_CUDA_RENDER_SUPPORTED, 0)
                .unwrap_or_else(|| "false".into()),
            stream: props
                .get_string(PROP_CUDA_STREAM_SUPPORTED, 0)
                .unwrap_or_else(|| "false".into()),
        }
    }
    /// True when the plugin can render with CUDA at all.
    pub fn supported(&self) -> bool {
        self.render == "true" || self.render == "needed"
    }
    /// True when the plugin cannot render without CUDA.
    pub fn required(&self) -> bool {
        self.render == "needed"
    }
}

pub(crate) fn define_host_cuda_props(host: &PropertySet, mode: CudaMode) {
    let v = match mode {
        CudaMode::Off => "false",
    };
    host.define_str(PROP_CUDA_RENDER_SUPPORTED, &[v]);
    host.define_str(PROP_CUDA_STREAM_SUPPORTED, &[v]);
}

/// Descriptor defaults: a plugin that never sets them does not support CUDA.
pub(crate) fn define_descriptor_cuda_props(desc: &PropertySet) {
    desc.define_str(PROP_CUDA_RENDER_SUPPORTED, &["false"]);
    desc.define_str(PROP_CUDA_STREAM_SUPPORTED, &["false"]);
}

/// Adds the CUDA inArgs of Render / Begin/EndSequenceRender for a plugin that declared support.
pub(crate) fn render_in_args(in_args: &PropertySet, mode: CudaMode, plugin: &CudaSupport) {
    if plugin.supported() {
        let enabled = match mode {
            CudaMode::Off => 0,
        };
        in_args.define_int(PROP_CUDA_ENABLED, &[enabled]);
    }
}
