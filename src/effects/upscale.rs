//! Upscale: neural ×2/×4 super-resolution, or Lanczos 3 / bicubic, to float output.
//!
//! Version policy: identifier `org.platerestore.Upscale`, major 1. Bump the major only when
//! saved projects would render differently; parameters and choice options are append-only.
//! History:
//! - 1.0: first release (Resize and Enhance-in-place modes, shipped ×2 network, Colour lock).
//! - 1.1: Neural ×4 runs its own shipped ×4 network in one pass (it applied the ×2 network
//!   twice): saved Neural ×4 renders change, before any project depended on them.
//! - 1.2: Adaptive detail for Neural ×2 and ×4 (off by default, so saved projects render as
//!   before).
//! - 1.3: Self-ensemble (the network's mean over flips and transpositions; off by default).

use super::common::{self, Describe, OUTPUT, SOURCE};
use crate::color::Encoding;
use crate::ops::upscale::{self, Method, Mode, Network, UpscaleParams, MAX_FACTOR};
use ofx::{
    BitDepth, Context, Error, ImageComponents, ImageEffect, InstanceChangedArgs, IsIdentityArgs,
    OutArgs, ParamSet, Plugin, RectD, RegionOfDefinitionArgs, RegionsOfInterestArgs, RenderArgs,
    Result,
};
use std::ffi::CStr;

pub const IDENTIFIER: &CStr = c"org.platerestore.Upscale";

/// The shipped ×2 network (in the bundle's `Contents/Resources/models`): `upscale-x2` trained on
/// with MSE and mostly clean pairs, then with the per-patch PSNR loss, then around a Lanczos-3
/// skip (`training/reproduce.sh upscale-x2-v4`). The bench scripts read this line
/// (`scripts/shipped-model.sh`).
pub const SHIPPED_X2: &str = "upscale-x2-v4";
/// The shipped ×4 network: one pass at the plate's own resolution, trained on ×4 pairs, then
/// trained on like ×2 (`training/reproduce.sh upscale-x4-v4`).
pub const SHIPPED_X4: &str = "upscale-x4-v4";

pub mod param {
    use std::ffi::CStr;
    pub const METHOD: &CStr = c"method";
    pub const MODE: &CStr = c"mode";
    pub const FACTOR: &CStr = c"factor";
    pub const DETAIL: &CStr = c"detail";
    pub const COLOUR_LOCK: &CStr = c"colourLock";
    pub const INPUT_ENCODING: &CStr = c"inputEncoding";
    pub const MODEL_FILE: &CStr = c"modelFile";
    pub const MODEL_INFO: &CStr = c"modelInfo";
    pub const DEVICE: &CStr = c"device";
    pub const ADAPTIVE: &CStr = c"adaptiveDetail";
    pub const ENSEMBLE: &CStr = c"selfEnsemble";
    pub const GROUP_MODEL: &CStr = c"modelGroup";
}

pub struct Upscale;

impl Plugin for Upscale {
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
                label: "Upscale",
                description: "Neural ×2/×4 upscaling to float output that restores detail without the ringing, halos, sharpened blocks or colour shifts of naive upscalers; Lanczos 3 and bicubic for comparison. Resize mode makes the image larger (Nuke, Natron); Enhance in place restores detail in a plate the host has already resized (Resolve's timeline).",
                tiles: true,
                multi_resolution: true,
                temporal: false,
            },
        )
        // No OFX CUDA render: the network's GPU path runs on a stream of its own (the upload of
        // an 8-bit-sized plate is small beside the network's compute).
    }

    fn describe_in_context(&self, effect: &ImageEffect, _context: Context) -> Result<()> {
        let comps = [ImageComponents::Rgba, ImageComponents::Rgb];
        common::define_filter_clips(effect, &comps, true)?;
        define_params(&effect.params()?)
    }

    fn clip_preferences(&self, effect: &ImageEffect, out: &OutArgs) -> Result<()> {
        // Float output: the upscale's detail and the HDR steps after it need the headroom.
        out.set_clip_depth(OUTPUT, BitDepth::Float)?;
        out.set_clip_components(OUTPUT, effect.clip(SOURCE)?.components()?)
    }

    fn region_of_definition(
        &self,
        effect: &ImageEffect,
        args: &RegionOfDefinitionArgs,
        out: &OutArgs,
    ) -> Result<()> {
        let p = read_params(&effect.params()?, args.time)?;
        if p.mode == Mode::Enhance {
            return Err(Error::reply_default());
        }
        let rod = effect.clip(SOURCE)?.region_of_definition(args.time)?;
        let s = p.scale();
        out.set_region_of_definition(RectD {
            x1: rod.x1 * s,
            y1: rod.y1 * s,
            x2: rod.x2 * s,
            y2: rod.y2 * s,
        })
    }

    fn regions_of_interest(
        &self,
        effect: &ImageEffect,
        args: &RegionsOfInterestArgs,
        out: &OutArgs,
    ) -> Result<()> {
        let ps = effect.params()?;
        let p = read_params(&ps, args.time)?;
        let clip = effect.clip(SOURCE)?;
        let to_px = common::PixelMapping::new(args.render_scale, clip.pixel_aspect());
        let frame = to_px.pixels(&clip.region_of_definition(args.time)?);
        let window = to_px.pixels(&args.region);
        let net = if p.uses_network() {
            network(effect, &ps, &p, args.time).ok()
        } else {
            None
        };
        let roi = p.region_of_interest(net.as_ref(), frame, window);
        out.set_region_of_interest(SOURCE, to_px.canonical(roi))
    }

    fn is_identity(
        &self,
        effect: &ImageEffect,
        args: &IsIdentityArgs,
        out: &OutArgs,
    ) -> Result<bool> {
        if read_params(&effect.params()?, args.time)?.is_identity() {
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
        let dst = common::output_view(&images.output, &images.output_info)?;
        let (Some(src_img), Some(src_info)) = (&images.source, &images.source_info) else {
            log::warn!(
                "Upscale: no source image at frame {}; rendering black",
                args.time
            );
            return common::fill_black(&dst, images.window);
        };
        let src = common::source_view(src_img, src_info)?;
        params.premultiplied = common::is_premultiplied(src_info);
        let clip = effect.clip(SOURCE)?;
        let to_px = common::PixelMapping::new(args.render_scale, clip.pixel_aspect());
        let frame = to_px.pixels(&clip.region_of_definition(args.time)?);
        let net = if params.uses_network() {
            Some(network(effect, &ps, &params, args.time)?)
        } else {
            None
        };
        common::render_neural(
            effect,
            &ps,
            param::DEVICE,
            args.time,
            "Upscale",
            net.is_some(),
            |device, abort, progress| {
                upscale::render(
                    &params,
                    net.as_ref(),
                    &src,
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
        if args.is_param(param::MODEL_FILE) || args.is_param(param::METHOD) {
            let ps = effect.params()?;
            let p = read_params(&ps, args.time)?;
            let info = match network(effect, &ps, &p, args.time) {
                Ok(n) => describe_network(&n),
                Err(e) => format!("{e}"),
            };
            return ps.set_string(param::MODEL_INFO, &info);
        }
        Ok(())
    }
}

/// The network for the chosen method: the user's model file when it is set and usable, else
/// the shipped model (after telling the user, once, why their file was not used).
fn network(effect: &ImageEffect, ps: &ParamSet, p: &UpscaleParams, time: f64) -> Result<Network> {
    let scale = p.method.neural_scale().unwrap_or(2);
    let path = ps.get_string(param::MODEL_FILE, time)?;
    let mut network = None;
    let shipped = if scale == 4 { SHIPPED_X4 } else { SHIPPED_X2 };
    common::choose_model(effect, "Upscale", &path, shipped, |m| {
        network = Some(Network::for_scale(m, scale)?);
        Ok(())
    })?;
    network.ok_or_else(|| Error::failed("Upscale: no network"))
}

fn describe_network(n: &Network) -> String {
    let s = &n.model.spec;
    format!(
        "{}: ×{} {} (trained in {:?}), {} channels × {} convolutions, receptive field {} px{}",
        s.name,
        s.scale,
        if n.passes > 1 {
            format!("applied {} times", n.passes)
        } else {
            "network".to_string()
        },
        s.encoding,
        s.channels,
        s.conv_count(),
        s.receptive_field,
        if s.license.is_empty() {
            String::new()
        } else {
            format!(", licence {}", s.license)
        }
    )
}

fn define_params(ps: &ParamSet) -> Result<()> {
    let d = UpscaleParams::default();
    ps.choice(param::METHOD, "Method")
        .options(&common::labels(&Method::ALL, Method::label))
        .default(common::index_of(&Method::ALL, &d.method))
        .hint("Neural ×2 / ×4: a network restores detail a resize cannot (each factor has its own shipped network, trained on plates downscaled by that factor; a user's ×2 model file is applied twice for ×4). Lanczos 3: the sharp classical resize (a = 3). Bicubic (Catmull-Rom): Keys' cubic, B = 0, C = 0.5, what most applications call bicubic. Bicubic (Mitchell): B = C = 1/3, softer with the least ringing. The classical methods are exact and fast: compare with them.")
        .define()?;
    ps.choice(param::MODE, "Mode")
        .options(&common::labels(&Mode::ALL, Mode::label))
        .default(common::index_of(&Mode::ALL, &d.mode))
        .hint("Resize: the output is the input enlarged by the factor (Nuke, Natron and other multi-resolution hosts). Enhance in place: for hosts that hand the effect frames already scaled to the timeline (Resolve's Edit and Color pages): the plate is box-downscaled by the network's factor, the network restores it to the same size, and only the detail it adds replaces the host's resize. Classical methods leave the plate unchanged in this mode.")
        .define()?;
    ps.double(param::FACTOR, "Scale factor")
        .default(d.factor)
        .range(1.0, MAX_FACTOR)
        .display_range(1.0, 4.0)
        .increment(0.25)
        .digits(3)
        .hint("Enlargement for Lanczos 3 and the bicubics (any factor from 1 to 8; 1920 × 2 = 3840). The neural methods use their own ×2 or ×4.")
        .define()?;
    ps.double(param::DETAIL, "Detail")
        .default(d.detail as f64)
        .range(0.0, 1.0)
        .display_range(0.0, 1.0)
        .hint("How much of the network's result to use: 0 = the Lanczos 3 resize (in Enhance mode: the plate as the host resized it), 1 = the network's full detail. In between blends the two.")
        .define()?;
    ps.boolean(param::COLOUR_LOCK, "Colour lock")
        .default(d.colour_lock)
        .hint("Keeps the network from shifting colour or level: the local average (over about 33 output pixels) of what it adds is removed, so flat colours, pure white and black, and large-area colour stay exactly those of the Lanczos resize; only detail is added. Turn off to let the network also correct broad colour (e.g. compression smearing of chroma).")
        .define()?;
    ps.choice(param::INPUT_ENCODING, "Input encoding")
        .options(&common::labels(&Encoding::ALL, Encoding::label))
        .default(common::index_of(&Encoding::ALL, &d.encoding))
        .hint("How the plate's values are encoded. The network runs in the encoding it was trained in (sRGB for the shipped one) and the result is converted back, so the output keeps the plate's encoding. Scene-linear values above 1 are passed through the extended curve.")
        .define()?;
    ps.group(param::GROUP_MODEL, "Network")
        .open(false)
        .define()?;
    ps.string(param::MODEL_FILE, "Model file")
        .mode(ofx::param::StringMode::FilePath)
        .parent(param::GROUP_MODEL)
        .hint("Optional: a PlateRestore .safetensors model of your own (see docs/model-format.md), used instead of the shipped network. A file that cannot be used is reported once and the shipped network renders instead.")
        .define()?;
    ps.string(param::MODEL_INFO, "Network in use")
        .mode(ofx::param::StringMode::Label)
        .parent(param::GROUP_MODEL)
        .evaluate_on_change(false)
        .hint("The network the neural methods run: its name, factor, size and receptive field. Read-only.")
        .define()?;
    // Last: parameters are append-only, so saved projects keep their indices.
    common::define_device_param(ps, param::DEVICE)?;
    ps.boolean(param::ADAPTIVE, "Adaptive detail")
        .default(d.adaptive)
        .hint("Neural ×2 and ×4. Checks the network against the plate itself: the plate is made smaller by the network's factor, the network upscales it back, and in each 16 × 16 block where the detail it adds does not match the plate's own, the detail it adds at full size is reduced (to half at most). Helps soft and defocused plates, where a network otherwise invents texture, and steadies detail on moving plates; on sharp or compressed plates it keeps a little less detail. Costs about a quarter more time at ×2, little at ×4.")
        .define()?;
    common::define_ensemble_param(
        ps,
        param::ENSEMBLE,
        param::GROUP_MODEL,
        "Neural ×2 and ×4 (Adaptive detail's check included). See BENCHMARKS.md for what each setting gains.",
    )?;
    Ok(())
}

/// Reads the parameters at `time` (premultiplication is set by the caller from the image).
pub fn read_params(ps: &ParamSet, time: f64) -> Result<UpscaleParams> {
    let method = Method::ALL[ps.get_choice(param::METHOD, time, Method::ALL.len())?];
    let mode = Mode::ALL[ps.get_choice(param::MODE, time, Mode::ALL.len())?];
    let enc = Encoding::ALL[ps.get_choice(param::INPUT_ENCODING, time, Encoding::ALL.len())?];
    let p = UpscaleParams {
        method,
        mode,
        factor: ps.get_double(param::FACTOR, time)?,
        detail: ps.get_double(param::DETAIL, time)? as f32,
        colour_lock: ps.get_bool(param::COLOUR_LOCK, time)?,
        adaptive: ps.get_bool(param::ADAPTIVE, time)?,
        orientations: common::read_ensemble(ps, param::ENSEMBLE, time)?,
        encoding: enc,
        premultiplied: false,
    };
    p.validate().map_err(common::op_error)?;
    Ok(p)
}
