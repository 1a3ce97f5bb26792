//! OFX 1.5 CUDA render (ofxGPURender.h): what a plugin declares, what the host offers, and the
//! properties that tell a plugin its images live in device memory.
//!
//! With `HostConfig::cuda` on, the host says "true" to `OfxImageEffectPropCudaRenderSupported`
//! (and to `…CudaStreamSupported` when it offers streams). A CUDA render uploads each fetched
//! input into device memory (same row bytes and row order as in host memory), hands device
//! pointers as `kOfxImagePropData` for every image, sets `OfxImageEffectPropCudaEnabled = 1` and,
//! when both sides support streams, `OfxImageEffectPropCudaStream` (a fresh stream per action)
//! in the inArgs of Render and Begin/EndSequenceRender; then it synchronises its stream and
//! reads the output back. Device memory comes from [`crate::device`].

use crate::device::{DeviceBuffer, DeviceError, DeviceStream};
use crate::image::{HostImage, Rect};
use crate::props::PropertySet;

/// OFX 1.5 property names (not in the OFX 1.4 headers `ofx_sys` binds).
pub const PROP_CUDA_RENDER_SUPPORTED: &str = "OfxImageEffectPropCudaRenderSupported";
pub const PROP_CUDA_STREAM_SUPPORTED: &str = "OfxImageEffectPropCudaStreamSupported";
pub const PROP_CUDA_ENABLED: &str = "OfxImageEffectPropCudaEnabled";
pub const PROP_CUDA_STREAM: &str = "OfxImageEffectPropCudaStream";

/// Whether the host offers CUDA render, and on what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CudaMode {
    /// CPU images only (the host says "false" to both CUDA properties).
    #[default]
    Off,
    /// OFX CUDA render on NVIDIA GPU 0 through the driver, as DaVinci Resolve does it. The
    /// driver is opened at the first CUDA render; without one, that render fails with
    /// [`crate::HostError::CudaUnavailable`].
    Driver {
        /// Offer a stream (`OfxImageEffectPropCudaStream`) to plugins that support streams.
        streams: bool,
    },
    /// The same protocol with device memory emulated in host memory ([`crate::device::EmulatedDevice`]):
    /// checks which pointers and properties reach a plugin on machines without a GPU. Only for
    /// plugins that do not launch real kernels (test fixtures).
    Emulated { streams: bool },
}

impl CudaMode {
    /// CUDA render with streams on the real driver: what `ofxrun --cuda` asks for.
    pub const DRIVER: CudaMode = CudaMode::Driver { streams: true };

    pub fn is_on(self) -> bool {
        self != CudaMode::Off
    }
    /// Whether the host offers plugins a stream.
    pub fn streams(self) -> bool {
        match self {
            CudaMode::Off => false,
            CudaMode::Driver { streams } | CudaMode::Emulated { streams } => streams,
        }
    }
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
    /// True when the plugin can take the host's stream.
    pub fn streams(&self) -> bool {
        self.stream == "true" || self.stream == "needed"
    }
}

pub(crate) fn define_host_cuda_props(host: &PropertySet, mode: CudaMode) {
    let yes_no = |b: bool| if b { "true" } else { "false" };
    host.define_str(PROP_CUDA_RENDER_SUPPORTED, &[yes_no(mode.is_on())]);
    host.define_str(PROP_CUDA_STREAM_SUPPORTED, &[yes_no(mode.streams())]);
}

/// Descriptor defaults: a plugin that never sets them does not support CUDA.
pub(crate) fn define_descriptor_cuda_props(desc: &PropertySet) {
    desc.define_str(PROP_CUDA_RENDER_SUPPORTED, &["false"]);
    desc.define_str(PROP_CUDA_STREAM_SUPPORTED, &["false"]);
}

/// How one action runs with respect to CUDA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CudaArgs {
    /// Host-memory images.
    Off,
    /// Device pointers, with this stream handed over (`None`: no stream property).
    On { stream: Option<usize> },
}

/// Adds the CUDA inArgs of Render / Begin/EndSequenceRender. A plugin that declared CUDA support
/// hears `CudaEnabled = 0` for host-memory renders; one that did not hears nothing.
pub(crate) fn render_in_args(in_args: &PropertySet, cuda: CudaArgs, plugin: &CudaSupport) {
    match cuda {
        CudaArgs::Off if plugin.supported() => in_args.define_int(PROP_CUDA_ENABLED, &[0]),
        CudaArgs::Off => {}
        CudaArgs::On { stream } => {
            in_args.define_int(PROP_CUDA_ENABLED, &[1]);
            if let Some(s) = stream {
                in_args.define_ptr(PROP_CUDA_STREAM, &[s]);
            }
        }
    }
}

/// An image the host handed a plugin in device memory during a CUDA render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceImage {
    /// The clip it belongs to (`Output` for the output).
    pub clip: String,
    /// `kOfxImagePropData`: the device address of pixel `(bounds.x1, bounds.y1)`.
    pub data: u64,
    pub bounds: Rect,
    /// `kOfxImagePropRowBytes`, as in host memory (negative for bottom-up rows).
    pub row_bytes: isize,
}

/// What a CUDA render did, for tests and reports.
#[derive(Debug, Clone, PartialEq)]
pub struct CudaRenderReport {
    /// The device (or its emulation) that held the images.
    pub device: String,
    /// The `cudaStream_t` given as `OfxImageEffectPropCudaStream`; `None` when the host or the
    /// plugin does not do streams (then the plugin finishes its work before returning).
    pub stream: Option<usize>,
    /// Every image handed over, output first, in the order the plugin fetched them.
    pub images: Vec<DeviceImage>,
    /// Bytes copied host → device (input images, and the output with its canaries).
    pub uploaded_bytes: usize,
    /// Bytes copied device → host (the output).
    pub downloaded_bytes: usize,
}

/// The device side of one render action: its stream, every buffer uploaded for it (kept until
/// the stream is synchronised, since the plugin's queued work may still read them after it
/// releases an image), and what was handed out.
pub(crate) struct CudaFrame {
    pub stream: Box<dyn DeviceStream>,
    /// Whether the stream is handed to the plugin.
    pub offer_stream: bool,
    pub device: String,
    output: Option<Box<dyn DeviceBuffer>>,
    inputs: Vec<Box<dyn DeviceBuffer>>,
    images: Vec<DeviceImage>,
    uploaded_bytes: usize,
}

impl CudaFrame {
    pub fn new(stream: Box<dyn DeviceStream>, offer_stream: bool, device: String) -> CudaFrame {
        CudaFrame {
            stream,
            offer_stream,
            device,
            output: None,
            inputs: Vec::new(),
            images: Vec::new(),
            uploaded_bytes: 0,
        }
    }

    /// The inArgs this frame's actions carry.
    pub fn args(&self) -> CudaArgs {
        CudaArgs::On {
            stream: self.offer_stream.then_some(self.stream.handle() as usize),
        }
    }

    /// Uploads an image's whole storage (padding and row order included, so its row bytes stay
    /// true in device memory) and returns the device address of its data pointer.
    pub fn upload(
        &mut self,
        clip: &str,
        img: &HostImage,
        is_output: bool,
    ) -> Result<u64, DeviceError> {
        let bytes = img.raw_storage();
        let buffer = self.stream.upload(bytes)?;
        let data = buffer.address() + img.data_offset() as u64;
        self.uploaded_bytes += bytes.len();
        self.images.push(DeviceImage {
            clip: clip.to_string(),
            data,
            bounds: img.bounds(),
            row_bytes: img.row_bytes(),
        });
        if is_output {
            self.output = Some(buffer);
        } else {
            self.inputs.push(buffer);
        }
        Ok(data)
    }

    /// Waits for the stream, reads the output back into `output` (the image it was uploaded
    /// from) and frees the device memory.
    pub fn finish(self, output: &mut HostImage) -> Result<CudaRenderReport, DeviceError> {
        self.stream.synchronize()?;
        let mut downloaded_bytes = 0;
        if let Some(buf) = &self.output {
            let storage = output.raw_storage_mut();
            buf.download(storage)?;
            downloaded_bytes = buf.len();
        }
        Ok(CudaRenderReport {
            device: self.device,
            stream: self.offer_stream.then_some(self.stream.handle() as usize),
            images: self.images,
            uploaded_bytes: self.uploaded_bytes,
            downloaded_bytes,
        })
    }
}
