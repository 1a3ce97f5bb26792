//! Denoise / Restore: compression artefacts, noise and banding removed from 8-bit plates
//! before anything else amplifies them.
//!
//! Version policy: identifier `org.platerestore.Restore`, major 1. Bump the major only when
//! saved projects would render differently; parameters and choice options are append-only.
//! History:
//! - 1.0: first release (neural single-frame restoration, classical fast mode, deband,
//!   residual output).
//! - 1.1: Temporal radius (neighbouring frames fused in before restoration; 0 = 1.0's result).
//! - 1.2: Network (which shipped network the neural method runs; its default is 1.1's) and
//!   Self-ensemble (the network's mean over flips and transpositions; off by default).
//! - 1.3: Network option *For JPEG damage, wide* (`restore-v9`), appended.

use super::common::{self, Describe, OUTPUT, SOURCE};
use crate::color::Encoding;
use crate::nn::Model;
use crate::ops::restore::{self, DebandParams, Method, Output, RestoreParams, MAX_STRENGTH};
use ofx::{
    name, BitDepth, Context, Error, ImageComponents, ImageEffect, InstanceChangedArgs,
    IsIdentityArgs, OutArgs, ParamSet, Plugin, RegionsOfInterestArgs, RenderArgs, Result,
};
use std::ffi::CStr;
use std::sync::Arc;

pub const IDENTIFIER: &CStr = c"org.platerestore.Restore";

/// The default shipped restoration network (in the bundle's `Contents/Resources/models`).
pub const SHIPPED: &str = Network::Standard.file();

/// The shipped networks the Network parameter offers. Saved by index: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// `restore-v5`: the default since 1.0's second network.
    Standard,
    /// `restore-v7`: v5 grown four layers deeper and trained on; better on JPEG damage.
    Deeper,
    /// `restore-v9`: v7 made wider (48 features) and trained on JPEG damage only.
    Jpeg,
}

impl Network {
    pub const ALL: [Network; 3] = [Network::Standard, Network::Deeper, Network::Jpeg];
    pub fn label(self) -> &'static str {
        match self {
            Network::Standard => "Standard (restore-v5)",
            Network::Deeper => "Deeper, for JPEG damage (restore-v7)",
            Network::Jpeg => "Wide, for JPEG damage only (restore-v9)",
        }
    }
    /// The model file's name in the bundle, without `.safetensors`.
    pub const fn file(self) -> &'static str {
        match self {
            Network::Standard => "restore-v5",
            Network::Deeper => "restore-v7",
            Network::Jpeg => "restore-v9",
        }
    }
}

pub mod param {
    use std::ffi::CStr;
    pub const METHOD: &CStr = c"method";
    pub const STRENGTH: &CStr = c"strength";
    pub const DETAIL: &CStr = c"detail";
    pub const DEBAND: &CStr = c"deband";
    pub const DEBAND_RADIUS: &CStr = c"debandRadius";
    pub const DEBAND_THRESHOLD: &CStr = c"debandThreshold";
    pub const DEBAND_RINGS: &CStr = c"debandRings";
    pub const DITHER: &CStr = c"dither";
    pub const OUTPUT_MODE: &CStr = c"outputMode";
    pub const INPUT_ENCODING: &CStr = c"inputEncoding";
    pub const NETWORK: &CStr = c"network";
    pub const ENSEMBLE: &CStr = c"selfEnsemble";
    pub const MODEL_FILE: &CStr = c"modelFile";
    pub const MODEL_INFO: &CStr = c"modelInfo";
    pub const DEVICE: &CStr = c"device";
    pub const TEMPORAL_RADIUS: &CStr = c"temporalRadius";
    pub const GROUP_DEBAND: &CStr = c"debandGroup";
    pub const GROUP_MODEL: &CStr = c"modelGroup";
}

/// When the deband stage runs. Saved by index: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebandMode {
    /// On for 8-bit sources (where banding lives), off for deeper ones.
    Auto,
    On,
    Off,
}

impl DebandMode {
    pub const ALL: [DebandMode; 3] = [DebandMode::Auto, DebandMode::On, DebandMode::Off];
    pub fn label(self) -> &'static str {
        match self {
            DebandMode::Auto => "Auto (8-bit sources)",
            DebandMode::On => "On",
            DebandMode::Off => "Off",
        }
    }
}

pub struct Restore;

impl Plugin for Restore {
    fn identifier(&self) -> &'static CStr {
        IDENTIFIER
    }
    fn version(&self) -> (u32, u32) {
        (1, 3)
    }

    fn describe(&self, effect: &ImageEffect) -> Result<()> {
        common::describe_effect(
            effect,
            &Describe {
                label: "Denoise / Restore",
                description: "Removes compression artefacts (blocking, ringing, mosquito noise), noise and banding from 8-bit plates before they are upscaled or graded: a network trained on JPEG and H.264/H.265 damage, or a fast classical DCT filter, then an edge-preserving deband. Outputs the restored plate or what was removed.",
                tiles: true,
                multi_resolution: true,
                temporal: true,
            },
        )
    }

    fn describe_in_context(&self, effect: &ImageEffect, _context: Context) -> Result<()> {
        let comps = [ImageComponents::Rgba, ImageComponents::Rgb];
        for clip in [SOURCE, OUTPUT] {
            let c = effect.define_clip(clip)?;
            c.supported_components(&comps)?;
            c.supports_tiles(true)?;
            if clip == SOURCE {
                // Temporal radius > 0 reads the neighbouring frames.
                c.temporal_access(true)?;
            }
        }
        define_params(&effect.params()?)
    }

    fn clip_preferences(&self, effect: &ImageEffect, out: &OutArgs) -> Result<()> {
        // Float output: requantising a restored, debanded plate to 8 bits would put the steps back.
        out.set_clip_depth(OUTPUT, BitDepth::Float)?;
        out.set_clip_components(OUTPUT, effect.clip(SOURCE)?.components()?)
    }

    fn regions_of_interest(
        &self,
        effect: &ImageEffect,
        args: &RegionsOfInterestArgs,
        out: &OutArgs,
    ) -> Result<()> {
        let ps = effect.params()?;
        let p = read_params(effect, &ps, args.time)?;
        let clip = effect.clip(SOURCE)?;
        let to_px = common::PixelMapping::new(args.render_scale, clip.pixel_aspect());
        let frame = to_px.pixels(&clip.region_of_definition(args.time)?);
        let window = to_px.pixels(&args.region);
        let model = if p.method == Method::Neural {
            model(effect, &ps, args.time).ok()
        } else {
            None
        };
        let roi = p.region_of_interest(model.as_deref(), frame, window);
        out.set_region_of_interest(SOURCE, to_px.canonical(roi))
    }

    fn frames_needed(&self, effect: &ImageEffect, time: f64, out: &OutArgs) -> Result<()> {
        let ps = effect.params()?;
        let p = read_params(effect, &ps, time)?;
        let frames = neighbour_frames(effect, &p, time);
        let lo = frames.iter().fold(time, |a, &b| a.min(b));
        let hi = frames.iter().fold(time, |a, &b| a.max(b));
        out.set_frames_needed(SOURCE, &[[lo, hi]])
    }

    fn is_identity(
        &self,
        effect: &ImageEffect,
        args: &IsIdentityArgs,
        out: &OutArgs,
    ) -> Result<bool> {
        let ps = effect.params()?;
        if read_params(effect, &ps, args.time)?.is_identity() {
            out.set_identity(SOURCE, args.time)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn render(&self, effect: &ImageEffect, args: &RenderArgs) -> Result<()> {
        let ps = effect.params()?;
        let mut params = read_params(effect, &ps, args.time)?;
        let Some(images) = common::fetch_images(effect, args)? else {
            return Ok(());
        };
        let dst = common::output_view(&images.output, &images.output_info)?;
        let (Some(src_img), Some(src_info)) = (&images.source, &images.source_info) else {
            log::warn!(
                "Restore: no source image at frame {}; rendering black",
                args.time
            );
            return common::fill_black(&dst, images.window);
        };
        let src = common::source_view(src_img, src_info)?;
        params.premultiplied = common::is_premultiplied(src_info);
        // Temporal radius: the neighbours the clip has (none past its ends).
        let clip = effect.clip(SOURCE)?;
        let mut others = Vec::new();
        for t in neighbour_frames(effect, &params, args.time) {
            if let Some(img) = clip.get_image(t, None)? {
                let info = img.info()?;
                others.push((img, info));
            }
        }
        let neighbours = others
            .iter()
            .map(|(img, info)| common::source_view(img, info))
            .collect::<Result<Vec<_>>>()?;
        // Render scale: radii are in full-resolution pixels, so a proxy debands the same area.
        if let Some(d) = &mut params.deband {
            d.radius = (d.radius * args.render_scale[0] as f32).max(1.0);
        }
        let to_px = common::PixelMapping::new(args.render_scale, clip.pixel_aspect());
        let frame = to_px.pixels(&clip.region_of_definition(args.time)?);
        let uses_model = params.method == Method::Neural && params.strength > 0.0;
        let model = if uses_model {
            Some(model(effect, &ps, args.time)?)
        } else {
            None
        };
        common::render_neural(
            effect,
            &ps,
            param::DEVICE,
            args.time,
            "Denoise / Restore",
            uses_model,
            |device, abort, progress| {
                restore::render_frames(
                    &params,
                    model.as_deref(),
                    &src,
                    &neighbours,
                    frame,
                    &dst,
                    images.window,
                    device,
                    abort,
                    progress,
                )
            },
        )
    }

    fn instance_changed(&self, effect: &ImageEffect, args: &InstanceChangedArgs) -> Result<()> {
        if args.is_param(param::MODEL_FILE) || args.is_param(param::NETWORK) {
            let ps = effect.params()?;
            let info = match model(effect, &ps, args.time) {
                Ok(m) => {
                    let s = &m.spec;
                    format!(
                        "{}: {} channels × {} convolutions, receptive field {} px, trained in {:?}",
                        s.name,
                        s.channels,
                        s.conv_count(),
                        s.receptive_field,
                        s.encoding
                    )
                }
                Err(e) => format!("{e}"),
            };
            return ps.set_string(param::MODEL_INFO, &info);
        }
        Ok(())
    }
}

fn model(effect: &ImageEffect, ps: &ParamSet, time: f64) -> Result<Arc<Model>> {
    let path = ps.get_string(param::MODEL_FILE, time)?;
    let network = Network::ALL[ps.get_choice(param::NETWORK, time, Network::ALL.len())?];
    let mut chosen = None;
    common::choose_model(effect, "Restore", &path, network.file(), |m| {
        restore::check_model(&m)?;
        chosen = Some(m);
        Ok(())
    })?;
    chosen.ok_or_else(|| Error::failed("Restore: no network"))
}

/// The neighbouring frames a render at `time` fuses: up to the radius each side, within the
/// Source clip's frame range (a clip's first frame has only later neighbours).
fn neighbour_frames(effect: &ImageEffect, p: &RestoreParams, time: f64) -> Vec<f64> {
    if p.temporal_radius == 0 || p.strength == 0.0 {
        return Vec::new();
    }
    let range = effect.clip(SOURCE).ok().and_then(|c| {
        let props = c.props();
        Some((
            props.get_double_opt(name!(kOfxImageEffectPropFrameRange), 0)?,
            props.get_double_opt(name!(kOfxImageEffectPropFrameRange), 1)?,
        ))
    });
    let (first, last) = range.unwrap_or((time, time));
    let mut frames = Vec::new();
    for k in 1..=p.temporal_radius as i32 {
        for t in [time - k as f64, time + k as f64] {
            if t >= first - 1e-6 && t <= last + 1e-6 {
                frames.push(t);
            }
        }
    }
    frames
}

/// Whether the source is 8-bit (the depth it had before the host mapped it, when the host says).
fn source_is_8_bit(effect: &ImageEffect) -> bool {
    let Ok(clip) = effect.clip(SOURCE) else {
        return true;
    };
    clip.props()
        .get_string_opt(name!(kOfxImageClipPropUnmappedPixelDepth), 0)
        .map(|d| d == "OfxBitDepthByte")
        .or_else(|| clip.pixel_depth().ok().map(|d| d == BitDepth::Byte))
        .unwrap_or(true)
}

fn define_params(ps: &ParamSet) -> Result<()> {
    let d = RestoreParams::default();
    let db = DebandParams::default();
    ps.choice(param::METHOD, "Method")
        .options(&common::labels(&Method::ALL, Method::label))
        .default(common::index_of(&Method::ALL, &d.method))
        .hint("Neural (the default): a network trained on JPEG (quality 15–70, 4:2:0), H.264/H.265 (CRF 23–38, P/B frames), double compression, banding and mild noise; blind, no quality setting. The shipped restore-v5 gains +0.90 dB on JPEG quality 30 and +0.27 dB on x264 CRF 30 on the validation images (+0.36 dB with a temporal radius of 2), never worse than the plate on any of them (see its model card); about 2 s per 1080p frame on two CPU cores. Classical (fast): shift-averaged 8×8 DCT shrinkage of blocking, ringing and noise (+0.28 / +0.19 dB, about 0.2 s per 1080p frame, 0.4 s with Deband).")
        .define()?;
    ps.double(param::STRENGTH, "Strength")
        .default(d.strength as f64)
        .range(0.0, MAX_STRENGTH as f64)
        .display_range(0.0, 1.5)
        .hint("0 = the plate unchanged, 1 = the restoration as trained, above 1 pushes further (up to 2) for heavily compressed plates. For the classical mode it scales the DCT threshold (1 = 8 code values).")
        .define()?;
    ps.double(param::DETAIL, "Detail")
        .default(d.detail as f64)
        .range(0.0, 1.0)
        .display_range(0.0, 1.0)
        .hint("Fine texture to keep: 0 = what the restoration gives, 1 = the finest part of what it removed (pixel-scale grain and texture) put back. Blocks and ringing are coarser and stay removed. For plates that may already be clean: 0.25–0.5 changes a clean frame less (worst validation frame 43–45 dB against itself instead of 42) for a little of the gain on compressed ones (JPEG quality 30: +0.85 / +0.73 dB instead of +0.89).")
        .define()?;
    ps.int(param::TEMPORAL_RADIUS, "Temporal radius")
        .default(d.temporal_radius as i32)
        .range(0, restore::MAX_RADIUS as i32)
        .display_range(0, restore::MAX_RADIUS as i32)
        .hint("Neighbouring frames each side averaged in before restoring (0 = this frame only). Each neighbour is aligned to this frame by block matching (up to 6 px of motion per frame) and counts only where it agrees with it, so moving objects do not ghost; compression damage, which differs from frame to frame, partly cancels. Costs one motion search per neighbour.")
        .define()?;
    ps.group(param::GROUP_DEBAND, "Deband")
        .open(false)
        .define()?;
    ps.choice(param::DEBAND, "Deband")
        .options(&common::labels(&DebandMode::ALL, DebandMode::label))
        .default(0)
        .parent(param::GROUP_DEBAND)
        .hint("Smooths the steps of 8-bit banding in skies and gradients without blurring edges or texture (a pixel is averaged with samples around it only where they all lie within the threshold). Auto runs it for 8-bit sources only.")
        .define()?;
    ps.double(param::DEBAND_RADIUS, "Radius")
        .default(db.radius as f64)
        .range(1.0, 64.0)
        .display_range(4.0, 32.0)
        .parent(param::GROUP_DEBAND)
        .hint("How far (full-resolution pixels) samples are taken: wider than the bands you see.")
        .define()?;
    ps.double(param::DEBAND_THRESHOLD, "Threshold")
        .default((db.threshold * 255.0) as f64)
        .range(0.0, 32.0)
        .display_range(0.0, 8.0)
        .parent(param::GROUP_DEBAND)
        .hint("Largest difference, in 8-bit code values, between a pixel and its samples for it to count as a smooth area. A little more than the band steps (1 for plain 8-bit banding, 2–4 after compression); higher flattens fine texture.")
        .define()?;
    ps.int(param::DEBAND_RINGS, "Iterations")
        .default(db.rings as i32)
        .range(1, 8)
        .display_range(1, 4)
        .parent(param::GROUP_DEBAND)
        .hint("Rings of samples between the pixel and the radius; more is smoother and slower.")
        .define()?;
    ps.double(param::DITHER, "Dither")
        .default(0.0)
        .range(0.0, 4.0)
        .display_range(0.0, 2.0)
        .parent(param::GROUP_DEBAND)
        .hint("Triangular dither, ± this many 8-bit code values, on debanded pixels only: keeps gradients smooth when the float output is later written to 8 or 10 bits. Deterministic per frame.")
        .define()?;
    ps.choice(param::OUTPUT_MODE, "Output")
        .options(&common::labels(&Output::ALL, Output::label))
        .default(common::index_of(&Output::ALL, &d.output))
        .hint("Restored plate; or what was removed (plate − restored) as a pass to inspect or add back in a comp: centred on 0 for float comps, on 0.5 to view it or store it in 8/16-bit files.")
        .define()?;
    ps.choice(param::INPUT_ENCODING, "Input encoding")
        .options(&common::labels(&Encoding::ALL, Encoding::label))
        .default(common::index_of(&Encoding::ALL, &d.encoding))
        .hint("How the plate's values are encoded. The network runs in the encoding it was trained in (sRGB for the shipped one) and the result is converted back; thresholds are in the plate's code values.")
        .define()?;
    ps.group(param::GROUP_MODEL, "Network")
        .open(false)
        .define()?;
    ps.choice(param::NETWORK, "Network")
        .options(&common::labels(&Network::ALL, Network::label))
        .default(0)
        .parent(param::GROUP_MODEL)
        .hint("Which shipped network the neural method runs. Standard (restore-v5): the default, best on H.264/H.265 plates. Deeper (restore-v7): +0.1 dB more on JPEG-damaged plates (+1.00 dB on JPEG quality 30 against +0.90), a little less on H.264 (+0.23 dB against +0.27), and it changes clean frames less; 1.6× the time. Wide, for JPEG damage only (restore-v9): trained on JPEG damage alone, the most on JPEG plates (+1.15 dB on quality 30), but it can leave an H.264/H.265 plate slightly worse than it was: use it on stills and JPEG-sourced frames only; 4× the time of Standard (about 3.7 s per 1080p frame on two CPU cores; +1.31 dB with Self-ensemble at 8 orientations). Each has its model card in the bundle.")
        .define()?;
    common::define_ensemble_param(
        ps,
        param::ENSEMBLE,
        param::GROUP_MODEL,
        "See BENCHMARKS.md for what each setting gains.",
    )?;
    ps.string(param::MODEL_FILE, "Model file")
        .mode(ofx::param::StringMode::FilePath)
        .parent(param::GROUP_MODEL)
        .hint("Optional: a PlateRestore .safetensors restoration model (×1, see docs/model-format.md) used instead of the Network chosen above. A file that cannot be used is reported once and the chosen shipped network renders instead.")
        .define()?;
    ps.string(param::MODEL_INFO, "Network in use")
        .mode(ofx::param::StringMode::Label)
        .parent(param::GROUP_MODEL)
        .evaluate_on_change(false)
        .hint("The network the neural method runs. Read-only.")
        .define()?;
    common::define_device_param(ps, param::DEVICE)?;
    Ok(())
}

/// Reads the parameters at `time` (premultiplication is set by the caller from the image).
pub fn read_params(effect: &ImageEffect, ps: &ParamSet, time: f64) -> Result<RestoreParams> {
    let f = |id: &CStr| -> Result<f32> { Ok(ps.get_double(id, time)? as f32) };
    let method = Method::ALL[ps.get_choice(param::METHOD, time, Method::ALL.len())?];
    let deband_mode = DebandMode::ALL[ps.get_choice(param::DEBAND, time, DebandMode::ALL.len())?];
    let deband_on = match deband_mode {
        DebandMode::On => true,
        DebandMode::Off => false,
        DebandMode::Auto => source_is_8_bit(effect),
    };
    let deband = deband_on.then(|| -> Result<DebandParams> {
        Ok(DebandParams {
            radius: f(param::DEBAND_RADIUS)?,
            threshold: f(param::DEBAND_THRESHOLD)? / 255.0,
            rings: ps.get_int(param::DEBAND_RINGS, time)?.clamp(1, 8) as u32,
            dither: f(param::DITHER)? / 255.0,
            seed: 0,
        })
    });
    let p = RestoreParams {
        method,
        strength: f(param::STRENGTH)?,
        detail: f(param::DETAIL)?,
        deband: deband.transpose()?,
        output: Output::ALL[ps.get_choice(param::OUTPUT_MODE, time, Output::ALL.len())?],
        encoding: Encoding::ALL[ps.get_choice(param::INPUT_ENCODING, time, Encoding::ALL.len())?],
        premultiplied: false,
        frame: time,
        temporal_radius: ps
            .get_int(param::TEMPORAL_RADIUS, time)?
            .clamp(0, restore::MAX_RADIUS as i32) as u32,
        orientations: common::read_ensemble(ps, param::ENSEMBLE, time)?,
    };
    p.validate().map_err(common::op_error)?;
    Ok(p)
}
