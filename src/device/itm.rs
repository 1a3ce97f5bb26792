//! The inverse tone map on CUDA: `ops::itm`'s prepared constants copied into the kernel's
//! params struct (field by field, so a reordering on either side cannot go unnoticed), and the
//! two ways to run kernels/itm.cu — host-memory images, or the host's own stream and device
//! images (OFX CUDA render).

use super::cuda::{CudaEngine, DeviceImage, HostRender};
use super::kernels::Kernel;
use super::params::{ItmKernelParams, PrImage, PrItmConstants, PrLogLut};
use super::DeviceError;
use crate::image::{ImageView, ImageViewMut, Rect};
use crate::ops::itm::{ItmConstants, ItmPrepared, LogLut};

impl From<&LogLut> for PrLogLut {
    fn from(l: &LogLut) -> Self {
        PrLogLut {
            offset: l.offset,
            min_exp: l.min_exp,
            octaves: l.octaves,
            seg_bits: l.seg_bits,
            x_min: l.x_min,
            x_max: l.x_max,
        }
    }
}

impl From<&ItmConstants> for PrItmConstants {
    fn from(c: &ItmConstants) -> Self {
        PrItmConstants {
            input_encoding: c.input_encoding,
            method: c.method,
            output_transfer: c.output_transfer,
            premultiplied: c.premultiplied,
            apply_highlight: c.apply_highlight,
            apply_saturation: c.apply_saturation,
            apply_mix: c.apply_mix,
            input_to_bt2020: c.input_to_bt2020,
            bt2020_to_output: c.bt2020_to_output,
            bt2020_luma: c.bt2020_luma,
            method_luma: c.method_luma,
            output_luma: c.output_luma,
            reference_white_nits: c.reference_white_nits,
            log2_peak_over_reference: c.log2_peak_over_reference,
            inv_log2_peak_over_reference: c.inv_log2_peak_over_reference,
            inv_reference_white_nits: c.inv_reference_white_nits,
            c_sdr_percent: c.c_sdr_percent,
            c_linear_gain: c.c_linear_gain,
            c_peak_scale: c.c_peak_scale,
            highlight_log2_gain: c.highlight_log2_gain,
            saturation: c.saturation,
            mix: c.mix,
            unexpanded_nits: c.unexpanded_nits,
            hlg_ootf_exponent: c.hlg_ootf_exponent,
            decode: (&c.decode).into(),
            decode_toe_slope: c.decode_toe_slope,
            gamma_encode: (&c.gamma_encode).into(),
            gamma_decode: (&c.gamma_decode).into(),
            encode: (&c.encode).into(),
        }
    }
}

/// The kernel argument for one render of `prepared` over `window`; `tables` is the device
/// address of `prepared.tables()`.
pub fn itm_kernel_params(
    prepared: &ItmPrepared,
    src: PrImage,
    dst: PrImage,
    window: Rect,
    tables: u64,
) -> ItmKernelParams {
    ItmKernelParams {
        src,
        dst,
        window: window.into(),
        tables,
        table_len: prepared.tables().len() as u32,
        pad_: 0,
        c: prepared.constants().into(),
    }
}

/// The inverse tone map of host-memory images on the GPU (upload, kernel, download).
pub fn run_itm_cuda(
    engine: &CudaEngine,
    prepared: &ItmPrepared,
    src: &ImageView<'_>,
    dst: &ImageViewMut<'_>,
    window: Rect,
) -> Result<(), DeviceError> {
    let win = window.intersect(&dst.bounds());
    engine.run_per_pixel_with_tables(
        Kernel::ItmRgba,
        src,
        dst,
        win,
        prepared.tables(),
        |s, d, tables| itm_kernel_params(prepared, s, d, win, tables),
    )
}

/// The inverse tone map on the host's stream, reading and writing the host's device images in
/// place. Only the (small, cached) tables are ever uploaded, on our own stream.
pub fn run_itm_on_host_stream(
    host: &HostRender,
    prepared: &ItmPrepared,
    src: &DeviceImage,
    dst: &DeviceImage,
    window: Rect,
) -> Result<(), DeviceError> {
    src.check()?;
    dst.check()?;
    let win = window.intersect(&dst.layout.bounds);
    let engine = host.engine();
    engine.with_tables(prepared.tables(), host.stream(), |tables| {
        let params = itm_kernel_params(prepared, src.as_params(), dst.as_params(), win, tables);
        engine.launch_over_rect(host.stream(), Kernel::ItmRgba, win, &params)
    })
}
