//! Grain: film grain put back after restoration and upscaling — organic texture that masks
//! residual artefacts and breaks banding — deterministic per frame, from stock presets or
//! matched to a reference plate.
//!
//! Version policy: identifier `org.platerestore.Grain`, major 1. Bump the major only when saved
//! projects would render differently; parameters and choice options are append-only.
//! History:
//! - 1.0: first release (shot-noise dye-cloud model, film response, presets, matching).
//! - 1.1: Device parameter appended; OFX CUDA render (same pixels as the CPU, bit for bit).

use super::common::{self, Describe, HostAbort, OUTPUT, SOURCE};
use crate::device::grain::{run_grain_cuda, run_grain_on_host_stream};
use crate::device::HostRender;
use crate::image::Rect;
use crate::ops::grain::{self, AnalyzeOptions, FilmResponse, GrainParams, GrainPreset};
use ofx::{
    Context, Error, ImageComponents, ImageEffect, InstanceChangedArgs, IsIdentityArgs, OutArgs,
    ParamSet, Plugin, RenderArgs, Result,
};
use std::ffi::CStr;

pub const IDENTIFIER: &CStr = c"org.platerestore.Grain";
/// The optional clip grain is matched to.
pub const REFERENCE: &CStr = c"Reference";

pub mod param {
    use std::ffi::CStr;
    pub const PRESET: &CStr = c"preset";
    pub const AMOUNT: &CStr = c"amount";
    pub const RED_AMOUNT: &CStr = c"redAmount";
    pub const GREEN_AMOUNT: &CStr = c"greenAmount";
    pub const BLUE_AMOUNT: &CStr = c"blueAmount";
    pub const SIZE: &CStr = c"size";
    pub const SOFTNESS: &CStr = c"softness";
    pub const ROUGHNESS: &CStr = c"roughness";
    pub const SHADOWS: &CStr = c"shadows";
    pub const MIDS: &CStr = c"mids";
    pub const HIGHLIGHTS: &CStr = c"highlights";
    pub const COLOUR: &CStr = c"colour";
    pub const TEMPORAL: &CStr = c"temporalMode";
    pub const HOLD_FRAMES: &CStr = c"holdFrames";
    pub const SEED: &CStr = c"seed";
    pub const INPUT_ENCODING: &CStr = c"inputEncoding";
    pub const OUTPUT_MODE: &CStr = c"outputMode";
    pub const ANALYZE: &CStr = c"analyze";
    pub const MEASURED: &CStr = c"measured";
    pub const DEVICE: &CStr = c"device";
    pub const GROUP_CHANNELS: &CStr = c"channelsGroup";
    pub const GROUP_RESPONSE: &CStr = c"responseGroup";
    pub const GROUP_TIME: &CStr = c"timeGroup";
    pub const GROUP_MATCH: &CStr = c"matchGroup";
}

pub struct Grain;

impl Plugin for Grain {
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
                label: "Grain",
                description: "Film grain with a film response per channel, stock presets and matching to a reference plate. Deterministic: the same frame always gets the same grain, whatever the tiling, threads or machine.",
                tiles: true,
                multi_resolution: true,
                temporal: false,
            },
        )?;
        common::declare_cuda_render(effect);
        Ok(())
    }

    fn describe_in_context(&self, effect: &ImageEffect, _context: Context) -> Result<()> {
        let comps = [ImageComponents::Rgba, ImageComponents::Rgb];
        common::define_filter_clips(effect, &comps, true)?;
        let reference = effect.define_clip(REFERENCE)?;
        reference.supported_components(&comps)?;
        reference.optional(true)?;
        reference.supports_tiles(false)?;
        reference.label("Reference")?;
        define_params(&effect.params()?)
    }

    fn clip_preferences(&self, effect: &ImageEffect, out: &OutArgs) -> Result<()> {
        // Grain changes every frame unless it is static; hosts must not reuse a cached frame.
        let temporal = ps_temporal(&effect.params()?, 0.0)?;
        out.set_frame_varying(temporal != grain::TemporalMode::Static)?;
        out.set_clip_components(OUTPUT, effect.clip(SOURCE)?.components()?)
    }

    fn is_identity(
        &self,
        effect: &ImageEffect,
        args: &IsIdentityArgs,
        out: &OutArgs,
    ) -> Result<bool> {
        let p = read_params(&effect.params()?, args.time)?;
        if p.is_identity() {
            out.set_identity(SOURCE, args.time)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn render(&self, effect: &ImageEffect, args: &RenderArgs) -> Result<()> {
        let ps = effect.params()?;
        let mut params = read_params(&ps, args.time)?;
        let Some(images) = common::fetch_images(effect, args)? else {
            return Ok(());
        };
        params.render_scale = args.render_scale;
        params.frame = args.time;
        if let Some(cuda) = args.cuda {
            return render_on_host_gpu(&images, &params, cuda);
        }
        let dst = common::output_view(&images.output, &images.output_info)?;
        let (Some(src_img), Some(src_info)) = (&images.source, &images.source_info) else {
            log::warn!(
                "Grain: no source image at frame {}; rendering black",
                args.time
            );
            return common::fill_black(&dst, images.window);
        };
        let src = common::source_view(src_img, src_info)?;
        params.premultiplied = common::is_premultiplied(src_info);
        let preference = common::read_device(&ps, param::DEVICE, args.time)?;
        // Host-memory frames: until a measurement on real hardware says the GPU wins after the
        // frame's upload and download, Auto stays on the CPU; CUDA only when asked for.
        if common::rendered_on_gpu(effect, preference, |engine| {
            run_grain_cuda(engine, &params, &src, &dst, images.window)
        }) {
            return Ok(());
        }
        grain::run_cpu(&params, &src, &dst, images.window, &HostAbort(effect))
            .map_err(common::op_error)
    }

    fn instance_changed(&self, effect: &ImageEffect, args: &InstanceChangedArgs) -> Result<()> {
        let ps = effect.params()?;
        if args.is_param(param::PRESET) && args.user_edited() {
            let i = ps.get_choice(param::PRESET, args.time, GrainPreset::ALL.len())?;
            let encoding = read_params(&ps, args.time)?.input_encoding;
            let preset = GrainParams {
                input_encoding: encoding,
                ..GrainPreset::ALL[i].params()
            };
            return write_params(&ps, &preset);
        }
        if args.is_param(param::ANALYZE) {
            return analyze_reference(effect, &ps, args.time);
        }
        // Anything else (including names hosts invent, e.g. Resolve's): nothing to do.
        Ok(())
    }
}

/// OFX CUDA render (Resolve): images are device pointers, the kernel goes on the host's stream
/// and reads and writes them in place. No CPU fallback: the pixels live on the GPU, so a
/// failure is reported to the host.
fn render_on_host_gpu(
    images: &common::RenderImages,
    params: &GrainParams,
    cuda: ofx::cuda::CudaRender,
) -> Result<()> {
    let dst = common::device_image(&images.output_info);
    let (Some(src_info), Some(_)) = (&images.source_info, &images.source) else {
        return Err(Error::failed(
            "no source image in a CUDA render; connect the Source input",
        ));
    };
    let params = GrainParams {
        premultiplied: common::is_premultiplied(src_info),
        ..params.clone()
    };
    let src = common::device_image(src_info);
    // SAFETY: the stream comes from this render's inArgs and outlives the HostRender, which is
    // dropped before render returns.
    let host = unsafe { HostRender::bind(cuda.stream) }.map_err(common::device_error)?;
    run_grain_on_host_stream(&host, &params, &src, &dst, images.window)
        .map_err(common::device_error)?;
    host.finish().map_err(common::device_error)
}

/// Measures the grain of the Reference clip at `time` and sets the parameters to match it; the
/// measurement is written to the read-only "Measured" text so a user can see what was found.
fn analyze_reference(effect: &ImageEffect, ps: &ParamSet, time: f64) -> Result<()> {
    let clip = effect.clip(REFERENCE)?;
    let image = if clip.connected() {
        clip.get_image(time, None)?
    } else {
        None
    };
    let Some(image) = image else {
        effect.message(
            ofx::MessageKind::Warning,
            "Connect a plate with the grain you want to the Reference input, then press Analyze.",
        );
        return Ok(());
    };
    let info = image.info()?;
    if info.render_scale != [1.0, 1.0] {
        log::info!(
            "Grain analysis on a proxy reference (scale {:?})",
            info.render_scale
        );
    }
    let view = common::source_view(&image, &info)?;
    let current = read_params(ps, time)?;
    let options = AnalyzeOptions {
        input_encoding: current.input_encoding,
        premultiplied: common::is_premultiplied(&info),
        assumed_softness: current.softness,
        ..AnalyzeOptions::default()
    };
    let bounds = Rect::new(
        info.bounds.x1,
        info.bounds.y1,
        info.bounds.x2,
        info.bounds.y2,
    );
    match grain::analyze(&view, bounds, &options) {
        Ok(m) => {
            let matched = GrainParams {
                temporal: current.temporal,
                hold_frames: current.hold_frames,
                seed: current.seed,
                output: current.output,
                ..m.params.clone()
            };
            write_params(ps, &matched)?;
            ps.set_string(param::MEASURED, &m.to_string())
        }
        Err(e) => {
            let text = format!("Grain analysis: {e}");
            ps.set_string(param::MEASURED, &text)?;
            effect.message(ofx::MessageKind::Warning, &text);
            Ok(())
        }
    }
}

fn define_params(ps: &ParamSet) -> Result<()> {
    let d = GrainParams::default();
    let default_preset = GrainPreset::ALL
        .iter()
        .position(|p| p.params() == d)
        .unwrap_or(0) as i32;
    ps.choice(param::PRESET, "Preset")
        .options(&common::labels(&GrainPreset::ALL, GrainPreset::label))
        .default(default_preset)
        .evaluate_on_change(false)
        .hint("Loads a starting point into the controls below: colour negative grain as it lands on a 4K scan of 35mm, 16mm or 8mm stock at several speeds, or 'Deband dither', the least grain that hides 8-bit banding. Adjust freely afterwards.")
        .define()?;
    ps.double(param::AMOUNT, "Amount")
        .default(d.amount as f64)
        .range(0.0, 0.5)
        .display_range(0.0, 0.05)
        .increment(0.001)
        .digits(4)
        .hint("Grain strength: its RMS as a fraction of full scale at mid grey (0.004 ≈ one 8-bit code value, 0.02 is clearly visible grain).")
        .define()?;
    ps.group(param::GROUP_CHANNELS, "Channels")
        .open(false)
        .define()?;
    for (id, label, v, what) in [
        (param::RED_AMOUNT, "Red amount", d.channel_amount[0], "red"),
        (
            param::GREEN_AMOUNT,
            "Green amount",
            d.channel_amount[1],
            "green",
        ),
        (
            param::BLUE_AMOUNT,
            "Blue amount",
            d.channel_amount[2],
            "blue",
        ),
    ] {
        ps.double(id, label)
            .default(v as f64)
            .range(0.0, 4.0)
            .display_range(0.0, 2.0)
            .parent(param::GROUP_CHANNELS)
            .hint(&format!("Multiplies the grain in the {what} channel (film's blue layer is usually the grainiest)."))
            .define()?;
    }
    ps.double(param::COLOUR, "Colour")
        .default(d.colour as f64)
        .range(0.0, 1.0)
        .display_range(0.0, 1.0)
        .parent(param::GROUP_CHANNELS)
        .hint("0 = monochrome grain (the same grain in every channel), 1 = fully independent grain per channel like colour negative dye layers.")
        .define()?;
    ps.double(param::SIZE, "Size")
        .default(d.size_px as f64)
        .range(0.5, 32.0)
        .display_range(0.5, 8.0)
        .increment(0.1)
        .hint("Grain diameter in pixels at full resolution. Proxy renders scale it with the render, so they look like the full render, smaller.")
        .define()?;
    ps.double(param::SOFTNESS, "Softness")
        .default(d.softness as f64)
        .range(0.0, 1.0)
        .display_range(0.0, 1.0)
        .hint("0 = crisp, distinct specks; 1 = soft, overlapping clouds (a gentler mottle).")
        .define()?;
    ps.double(param::ROUGHNESS, "Roughness")
        .default(d.roughness as f64)
        .range(0.0, 1.0)
        .display_range(0.0, 1.0)
        .hint("Adds a second, finer layer of grain: 0 = one grain size, 1 = half the grain energy in grains of half the size (a busier, more complex texture).")
        .define()?;
    ps.group(param::GROUP_RESPONSE, "Film response")
        .open(false)
        .define()?;
    for (id, label, v, hint) in [
        (param::SHADOWS, "Shadows", d.response.shadows, "Grain strength in the blacks, relative to Amount."),
        (param::MIDS, "Mids", d.response.mids, "Grain strength at mid grey (L* 50, 18% grey), relative to Amount."),
        (param::HIGHLIGHTS, "Highlights", d.response.highlights, "Grain strength in the whites, relative to Amount (film grain usually fades in bright areas)."),
    ] {
        ps.double(id, label)
            .default(v as f64)
            .range(0.0, 4.0)
            .display_range(0.0, 2.0)
            .parent(param::GROUP_RESPONSE)
            .hint(hint)
            .define()?;
    }
    ps.group(param::GROUP_TIME, "Time").open(false).define()?;
    ps.choice(param::TEMPORAL, "Temporal mode")
        .options(&common::labels(&grain::TemporalMode::ALL, grain::TemporalMode::label))
        .default(common::index_of(&grain::TemporalMode::ALL, &d.temporal))
        .parent(param::GROUP_TIME)
        .hint("New every frame like film; Hold frames keeps each pattern for 'Hold' frames (on 2s, on 3s); Static uses one pattern for the whole shot.")
        .define()?;
    ps.int(param::HOLD_FRAMES, "Hold")
        .default(d.hold_frames.max(1) as i32)
        .range(1, 1000)
        .display_range(1, 12)
        .parent(param::GROUP_TIME)
        .hint("Frames each grain pattern is held in 'Hold frames' mode.")
        .define()?;
    ps.int(param::SEED, "Seed")
        .default(d.seed as i32)
        .range(0, i32::MAX)
        .display_range(0, 1000)
        .parent(param::GROUP_TIME)
        .hint("Picks a different, equally random grain pattern. The same seed and frame always give the same grain, on any machine.")
        .define()?;
    ps.choice(param::INPUT_ENCODING, "Input encoding")
        .options(&common::labels(&grain::InputEncoding::ALL, grain::InputEncoding::label))
        .default(common::index_of(&grain::InputEncoding::ALL, &d.input_encoding))
        .hint("How the plate is encoded. sRGB and BT.1886 plates get grain on their code values (what you see); scene-linear plates get it in a perceptual (L*) domain, so shadows are not swamped and highlights keep their grain.")
        .define()?;
    ps.choice(param::OUTPUT_MODE, "Output")
        .options(&common::labels(&grain::GrainOutput::ALL, grain::GrainOutput::label))
        .default(common::index_of(&grain::GrainOutput::ALL, &d.output))
        .hint("Graded plate: the plate with grain. Grain only: just the grain, as a pass to comp over a plate (centred on 0 for float comps, on 0.5 to view it or store it in 8/16-bit files).")
        .define()?;
    ps.group(param::GROUP_MATCH, "Match to reference")
        .open(false)
        .define()?;
    ps.push_button(param::ANALYZE, "Analyze")
        .parent(param::GROUP_MATCH)
        .evaluate_on_change(false)
        .hint("Measures the grain in flat areas (sky, walls) of the Reference input at the current frame and sets Amount, Size, Colour, the channel amounts and the film response to match it. The measurement appears under 'Measured'.")
        .define()?;
    ps.string(param::MEASURED, "Measured")
        .mode(ofx::param::StringMode::MultiLine)
        .parent(param::GROUP_MATCH)
        .evaluate_on_change(false)
        .hint("What the last Analyze measured: flat areas used, grain RMS against brightness per channel, grain size and channel correlation. Read-only information.")
        .define()?;
    // Last: parameters are append-only, so saved projects keep their indices.
    common::define_device_param(ps, param::DEVICE)?;
    Ok(())
}

fn ps_temporal(ps: &ParamSet, time: f64) -> Result<grain::TemporalMode> {
    let i = ps.get_choice(param::TEMPORAL, time, grain::TemporalMode::ALL.len())?;
    Ok(grain::TemporalMode::ALL[i])
}

/// Reads the parameters at `time` (render scale and frame are set by the caller).
pub fn read_params(ps: &ParamSet, time: f64) -> Result<GrainParams> {
    let f = |id: &CStr| -> Result<f32> { Ok(ps.get_double(id, time)? as f32) };
    let enc = ps.get_choice(param::INPUT_ENCODING, time, grain::InputEncoding::ALL.len())?;
    let out = ps.get_choice(param::OUTPUT_MODE, time, grain::GrainOutput::ALL.len())?;
    let p = GrainParams {
        amount: f(param::AMOUNT)?,
        channel_amount: [
            f(param::RED_AMOUNT)?,
            f(param::GREEN_AMOUNT)?,
            f(param::BLUE_AMOUNT)?,
        ],
        size_px: f(param::SIZE)?,
        softness: f(param::SOFTNESS)?,
        roughness: f(param::ROUGHNESS)?,
        response: FilmResponse {
            shadows: f(param::SHADOWS)?,
            mids: f(param::MIDS)?,
            highlights: f(param::HIGHLIGHTS)?,
        },
        colour: f(param::COLOUR)?,
        temporal: ps_temporal(ps, time)?,
        hold_frames: ps.get_int(param::HOLD_FRAMES, time)?.max(1) as u32,
        seed: ps.get_int(param::SEED, time)?.max(0) as u32,
        input_encoding: grain::InputEncoding::ALL[enc],
        output: grain::GrainOutput::ALL[out],
        frame: time,
        ..GrainParams::default()
    };
    p.validate().map_err(common::op_error)?;
    Ok(p)
}

/// Writes a full setting into the parameters (presets, analysis).
fn write_params(ps: &ParamSet, p: &GrainParams) -> Result<()> {
    ps.set_double(param::AMOUNT, p.amount as f64)?;
    ps.set_double(param::RED_AMOUNT, p.channel_amount[0] as f64)?;
    ps.set_double(param::GREEN_AMOUNT, p.channel_amount[1] as f64)?;
    ps.set_double(param::BLUE_AMOUNT, p.channel_amount[2] as f64)?;
    ps.set_double(param::SIZE, p.size_px as f64)?;
    ps.set_double(param::SOFTNESS, p.softness as f64)?;
    ps.set_double(param::ROUGHNESS, p.roughness as f64)?;
    ps.set_double(param::SHADOWS, p.response.shadows as f64)?;
    ps.set_double(param::MIDS, p.response.mids as f64)?;
    ps.set_double(param::HIGHLIGHTS, p.response.highlights as f64)?;
    ps.set_double(param::COLOUR, p.colour as f64)?;
    ps.set_int(
        param::TEMPORAL,
        common::index_of(&grain::TemporalMode::ALL, &p.temporal),
    )?;
    ps.set_int(param::HOLD_FRAMES, p.hold_frames.max(1) as i32)?;
    ps.set_int(
        param::INPUT_ENCODING,
        common::index_of(&grain::InputEncoding::ALL, &p.input_encoding),
    )?;
    ps.set_int(
        param::OUTPUT_MODE,
        common::index_of(&grain::GrainOutput::ALL, &p.output),
    )
}
