//! Inverse Tone Map: SDR plates to HDR (PQ, HLG or scene-linear) in a wide gamut, so plates
//! from generative models can sit beside HDR camera photography in a grade.
//!
//! Version policy: identifier `org.platerestore.InverseToneMap`, major 1. Bump the major only
//! when saved projects would render differently; parameters and choice options are append-only.
//! History:
//! - 1.0: first release (BT.2446 A / C / BT.2408 display-referred; PQ, HLG, scene-linear).
//! - 1.1: corrections found by an independent check of the standards, before any project
//!   depended on them (so the major stays): Method C is the Report's own inverse; Mix 0 is the
//!   plate in the HDR container, not a bypass; Method A at a peak other than 1000 cd/m² keeps
//!   diffuse light and remaps only the highlights (it used to scale all light by peak/1000).

use super::common::{self, Describe, HostAbort, OUTPUT};
use crate::device::itm::{run_itm_cuda, run_itm_on_host_stream};
use crate::device::HostRender;
use crate::ops::itm::{self, ItmParams};
use ofx::{
    BitDepth, Context, ImageComponents, ImageEffect, OutArgs, ParamSet, Plugin, RenderArgs, Result,
};
use std::ffi::CStr;

pub const IDENTIFIER: &CStr = c"org.platerestore.InverseToneMap";

pub mod param {
    use std::ffi::CStr;
    pub const INPUT_ENCODING: &CStr = c"inputEncoding";
    pub const METHOD: &CStr = c"method";
    pub const OUTPUT_TRANSFER: &CStr = c"outputTransfer";
    pub const OUTPUT_PRIMARIES: &CStr = c"outputPrimaries";
    pub const PEAK_LUMINANCE: &CStr = c"peakLuminance";
    pub const REFERENCE_WHITE: &CStr = c"referenceWhite";
    pub const LINEAR_WHITE: &CStr = c"linearWhite";
    pub const HIGHLIGHTS: &CStr = c"highlights";
    pub const SATURATION: &CStr = c"saturation";
    pub const MIX: &CStr = c"mix";
    pub const DEVICE: &CStr = c"device";
    pub const GROUP_OUTPUT: &CStr = c"outputGroup";
    pub const GROUP_LOOK: &CStr = c"lookGroup";
}

pub struct InverseToneMap;

impl Plugin for InverseToneMap {
    fn identifier(&self) -> &'static CStr {
        IDENTIFIER
    }
    fn version(&self) -> (u32, u32) {
        (1, 1)
    }

    fn describe(&self, effect: &ImageEffect) -> Result<()> {
        common::describe_effect(
            effect,
            &Describe {
                label: "Inverse Tone Map",
                description: "Expands an SDR plate to HDR (PQ, HLG or scene-linear) in Rec.2020, P3-D65, Rec.709 or ACEScg, using ITU-R BT.2446 Method A or C, or a BT.2408 display-referred mapping.",
                tiles: true,
                multi_resolution: true,
                temporal: false,
            },
        )?;
        common::declare_cuda_render(effect);
        Ok(())
    }

    fn describe_in_context(&self, effect: &ImageEffect, _context: Context) -> Result<()> {
        common::define_filter_clips(effect, &[ImageComponents::Rgba, ImageComponents::Rgb], true)?;
        define_params(&effect.params()?)
    }

    fn clip_preferences(&self, _effect: &ImageEffect, out: &OutArgs) -> Result<()> {
        // HDR needs headroom an 8/16-bit integer output would clip (scene-linear > 1): ask for
        // float. Hosts that cannot mix depths ignore this and we clamp on write.
        out.set_clip_depth(OUTPUT, BitDepth::Float)
    }

    // No is_identity: even at mix 0 the plate is converted into the HDR container (the BT.2408
    // mapping), so the output never jumps from SDR code values to PQ as mix leaves 0.
    fn render(&self, effect: &ImageEffect, args: &RenderArgs) -> Result<()> {
        let ps = effect.params()?;
        let params = read_params(&ps, args.time)?;
        let Some(images) = common::fetch_images(effect, args)? else {
            return Ok(());
        };
        if let Some(cuda) = args.cuda {
            return render_on_host_gpu(&images, &params, cuda);
        }
        let dst = common::output_view(&images.output, &images.output_info)?;
        let (Some(src_img), Some(src_info)) = (&images.source, &images.source_info) else {
            // No source image (unconnected, or a host that hands NULL): transparent black.
            log::warn!(
                "InverseToneMap: no source image at frame {}; rendering black",
                args.time
            );
            return common::fill_black(&dst, images.window);
        };
        let src = common::source_view(src_img, src_info)?;
        let params = ItmParams {
            premultiplied: common::is_premultiplied(src_info),
            ..params
        };
        let prepared = itm::ItmPrepared::new(&params).map_err(common::op_error)?;
        let preference = common::read_device(&ps, param::DEVICE, args.time)?;
        // Per-pixel work on host-memory frames: the upload and download of the frame cost more
        // than the maths, so Auto stays on the CPU; CUDA only when asked for explicitly.
        if common::rendered_on_gpu(effect, preference, |engine| {
            run_itm_cuda(engine, &prepared, &src, &dst, images.window)
        }) {
            return Ok(());
        }
        prepared
            .run_cpu(&src, &dst, images.window, &HostAbort(effect))
            .map_err(common::op_error)
    }
}

/// OFX CUDA render (Resolve): images are device pointers, work goes on the host's stream.
/// There is no CPU fallback here: the pixels live on the GPU, so a failure is reported.
fn render_on_host_gpu(
    images: &common::RenderImages,
    params: &ItmParams,
    cuda: ofx::cuda::CudaRender,
) -> Result<()> {
    let dst = common::device_image(&images.output_info);
    let (Some(src_info), Some(_)) = (&images.source_info, &images.source) else {
        return Err(ofx::Error::failed(
            "no source image in a CUDA render; connect the Source input",
        ));
    };
    let params = ItmParams {
        premultiplied: common::is_premultiplied(src_info),
        ..*params
    };
    let prepared = itm::ItmPrepared::new(&params).map_err(common::op_error)?;
    let src = common::device_image(src_info);
    // SAFETY: the stream comes from this render's inArgs and outlives the HostRender, which is
    // dropped before render returns.
    let host = unsafe { HostRender::bind(cuda.stream) }.map_err(common::device_error)?;
    run_itm_on_host_stream(&host, &prepared, &src, &dst, images.window)
        .map_err(common::device_error)?;
    host.finish().map_err(common::device_error)
}

fn define_params(ps: &ParamSet) -> Result<()> {
    let defaults = ItmParams::default();
    ps.choice(param::INPUT_ENCODING, "Input encoding")
        .options(&common::labels(itm::InputEncoding::ALL, itm::InputEncoding::label))
        .default(common::index_of(itm::InputEncoding::ALL, &defaults.input_encoding))
        .hint("How the incoming plate is encoded. sRGB for most generated and web footage; BT.1886 (gamma 2.4) for broadcast/Rec.709 video graded on a reference monitor; Linear for scene-linear plates (e.g. a Nuke script).")
        .define()?;
    ps.choice(param::METHOD, "Method")
        .options(&common::labels(itm::ItmMethod::ALL, itm::ItmMethod::label))
        .default(common::index_of(itm::ItmMethod::ALL, &defaults.method))
        .hint("The SDR→HDR expansion. BT.2446 Method A: the ITU's luminance-based inverse mapping (bright, faithful hues), defined for a 1000 cd/m² display where SDR white reaches 1000; on another peak, light up to the reference white stays where the Recommendation puts it and only the highlights above it are stretched (or compressed) to the peak, without a kink. BT.2446 Method C: the Report's inverse of its tone curve — BT.1886 code 0.96 lands on 203 cd/m² and SDR white on about 332 cd/m² at any peak (gentle, no highlight stretch). Display-referred (BT.2408): SDR light up to 50 % linear (sRGB code ≈ 0.74) keeps the BT.2408 mapping (SDR 100 % ↔ reference white scale, so 203 cd/m² is reached only by the expanded top), above it highlights lift smoothly until SDR white (code 1.0) reaches the peak. For the plain BT.2408 mapping with no expansion, set Mix to 0.")
        .define()?;
    ps.group(param::GROUP_OUTPUT, "Output")
        .open(true)
        .define()?;
    ps.choice(param::OUTPUT_TRANSFER, "Output transfer")
        .options(&common::labels(itm::OutputTransfer::ALL, itm::OutputTransfer::label))
        .default(common::index_of(itm::OutputTransfer::ALL, &defaults.output_transfer))
        .parent(param::GROUP_OUTPUT)
        .hint("PQ (SMPTE ST 2084) for HDR10/Dolby Vision timelines, HLG (BT.2100) for broadcast HDR, Scene-linear for compositing and ACES workflows (reference white = the 'Linear white' value).")
        .define()?;
    ps.choice(param::OUTPUT_PRIMARIES, "Output primaries")
        .options(&common::labels(itm::OutputPrimaries::ALL, itm::OutputPrimaries::label))
        .default(common::index_of(itm::OutputPrimaries::ALL, &defaults.output_primaries))
        .parent(param::GROUP_OUTPUT)
        .hint("Colour gamut of the output: Rec.2020 for HDR delivery, P3-D65 for cinema/HDR mastering, Rec.709 to stay in the SDR gamut, ACEScg (AP1) for ACES compositing.")
        .define()?;
    ps.double(param::PEAK_LUMINANCE, "Peak luminance")
        .default(1000.0)
        .range(100.0, 10000.0)
        .display_range(400.0, 4000.0)
        .increment(50.0)
        .digits(0)
        .parent(param::GROUP_OUTPUT)
        .hint("Brightest level the expanded highlights reach, in cd/m² (nits). Match your mastering display: 1000 is the common HDR10 grade. Diffuse levels do not move with it (Method A and Display-referred expand only above the reference white; Method C's light is absolute).")
        .define()?;
    ps.double(param::REFERENCE_WHITE, "Reference white")
        .default(203.0)
        .range(48.0, 1000.0)
        .display_range(100.0, 300.0)
        .increment(1.0)
        .digits(0)
        .parent(param::GROUP_OUTPUT)
        .hint("The BT.2408 scale, in cd/m²: SDR 100 % corresponds to this much light (203 is the ITU-R BT.2408 recommendation). Exactly so at Mix 0 and for display-referred diffuse levels (below 50 % linear); Method C ignores it (its curve defines absolute light); for Method A it is where the highlight range starts when the peak is not 1000 cd/m² (light below it is kept).")
        .define()?;
    ps.double(param::LINEAR_WHITE, "Linear white")
        .default(1.0)
        .range(0.01, 100.0)
        .display_range(0.1, 2.0)
        .parent(param::GROUP_OUTPUT)
        .hint("Scene-linear output only: the value reference white is written as (1.0 = reference white; use e.g. 0.18/0.2 if your pipeline puts diffuse white lower).")
        .define()?;
    ps.group(param::GROUP_LOOK, "Look").open(true).define()?;
    ps.double(param::HIGHLIGHTS, "Highlights")
        .default(defaults.highlight_boost as f64)
        .range(-1.0, 1.0)
        .display_range(-1.0, 1.0)
        .parent(param::GROUP_LOOK)
        .hint("Shapes the highlights between reference white and the peak. 0 = the method as specified; positive values brighten highlights sooner, negative values keep them closer to SDR. Reference white and the peak stay where they are.")
        .define()?;
    ps.double(param::SATURATION, "Saturation")
        .default(defaults.saturation as f64)
        .range(0.0, 2.0)
        .display_range(0.0, 2.0)
        .parent(param::GROUP_LOOK)
        .hint("Colourfulness of the HDR result relative to the method (1 = as specified). Expanded highlights can look over- or under-saturated depending on the source.")
        .define()?;
    ps.double(param::MIX, "Mix")
        .default(1.0)
        .range(0.0, 1.0)
        .display_range(0.0, 1.0)
        .hint("Blend between the plate placed in the HDR container without expansion (0) and the full inverse tone map (1). At 0 the plate is converted into the chosen HDR container by the plain BT.2408 mapping (SDR 100 % at the reference white, no expansion) — what many deliveries want — and the result changes continuously with the mix.")
        .define()?;
    common::define_device_param(ps, param::DEVICE)?;
    Ok(())
}

fn choice<T: Copy>(ps: &ParamSet, name: &CStr, time: f64, all: &[T]) -> Result<T> {
    Ok(all[ps.get_choice(name, time, all.len())?])
}

/// Reads the parameters at `time` into the op's request.
pub fn read_params(ps: &ParamSet, time: f64) -> Result<ItmParams> {
    let p = ItmParams {
        input_encoding: choice(ps, param::INPUT_ENCODING, time, itm::InputEncoding::ALL)?,
        method: choice(ps, param::METHOD, time, itm::ItmMethod::ALL)?,
        output_transfer: choice(ps, param::OUTPUT_TRANSFER, time, itm::OutputTransfer::ALL)?,
        output_primaries: choice(ps, param::OUTPUT_PRIMARIES, time, itm::OutputPrimaries::ALL)?,
        peak_nits: ps.get_double(param::PEAK_LUMINANCE, time)? as f32,
        reference_white_nits: ps.get_double(param::REFERENCE_WHITE, time)? as f32,
        linear_reference_white: ps.get_double(param::LINEAR_WHITE, time)? as f32,
        highlight_boost: ps.get_double(param::HIGHLIGHTS, time)? as f32,
        saturation: ps.get_double(param::SATURATION, time)? as f32,
        mix: ps.get_double(param::MIX, time)? as f32,
        ..ItmParams::default()
    };
    p.validate().map_err(common::op_error)?;
    Ok(p)
}
