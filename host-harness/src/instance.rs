//! Effect instances and rendering: clip preferences, region of definition, identity, regions of
//! interest, tiled and concurrent render calls, canaries around the render window, and the
//! accounting of fetched images — one `render_frame` call per output frame.

use crate::cuda::{CudaArgs, CudaFrame, CudaRenderReport, CudaSupport};
use crate::device::CudaDevice;
use crate::effect::*;
use crate::error::HostError;
use crate::findings::{Finding, FindingKind};
use crate::image::{BitDepth, Components, HostImage, Premult, Rect, RowLayout};
use crate::params::{ParamInfo, ParamValue};
use crate::plugin::{ClipInfo, PluginInner};
use crate::props::*;
use ofx_sys::*;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How to render one frame. `Default` renders the whole region of definition at scale 1, in one
/// call, with canaries on.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    /// Render scale (x, y); input images are taken to be at this scale already.
    pub render_scale: (f64, f64),
    /// Pixel aspect ratio of the clips.
    pub pixel_aspect: f64,
    /// Render window in pixels; `None` renders the whole region of definition.
    pub window: Option<Rect>,
    /// Tile size in pixels (used only when the plugin supports tiles).
    pub tile: Option<(i32, i32)>,
    /// Render threads; `None` uses the host configuration. Tiles render concurrently only when
    /// the plugin is fully thread-safe.
    pub threads: Option<usize>,
    /// Pixel depth the host offers the plugin (clip preference default); `None`: the input's.
    pub depth: Option<BitDepth>,
    /// Output components the host would like; `None`: the input's.
    pub components: Option<Components>,
    /// Memory layout of input images handed to the plugin; `None` keeps each image's own.
    pub input_rows: Option<RowLayout>,
    /// Memory layout of the output image.
    pub output_rows: RowLayout,
    /// Fill the output around the render window (and row padding) with canary values and
    /// report any the plugin overwrites.
    pub canary: bool,
    /// Deliberate host misbehaviour, to test that a plugin survives it.
    pub faults: Faults,
    /// OFX CUDA render for this frame: `None` follows `HostConfig::cuda`; `Some(true)` asks
    /// for device memory (an error if the host has no CUDA or the plugin does not declare
    /// it); `Some(false)` hands host memory even on a CUDA host.
    pub cuda: Option<bool>,
}

/// Ways a (buggy or unusual) host can misbehave, injected on purpose so a plugin's handling of
/// them can be tested. All off by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Every source clip returns no image (Resolve can do this for connected clips).
    pub null_source_images: bool,
    /// The output clip returns no image during render.
    pub null_output_image: bool,
    /// Send this render window to the plugin as is — even an empty or inverted one — instead
    /// of the (non-empty) window the host computed.
    pub render_window: Option<Rect>,
    /// Report this pixel depth string on every image (e.g. `OfxBitDepthNone`).
    pub image_pixel_depth: Option<String>,
    /// Leave this property out of every image's property set (e.g. `OfxImagePropRowBytes`).
    pub drop_image_property: Option<String>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            render_scale: (1.0, 1.0),
            pixel_aspect: 1.0,
            window: None,
            tile: None,
            threads: None,
            depth: None,
            components: None,
            input_rows: None,
            output_rows: RowLayout::default(),
            canary: true,
            faults: Faults::default(),
            cuda: None,
        }
    }
}

/// The result of one frame.
#[derive(Debug)]
pub struct RenderOutput {
    /// The rendered pixels; bounds = the render window.
    pub image: HostImage,
    pub frame: f64,
    /// Region of definition in pixels at the render scale.
    pub rod: Rect,
    pub window: Rect,
    /// Set when the plugin said it is an identity: (clip, time) it passed through.
    pub identity: Option<(String, f64)>,
    /// Render action calls made (tiles).
    pub render_calls: usize,
    /// Whether render calls ran on several threads at once.
    pub concurrent: bool,
    /// Wall-clock seconds spent inside the plugin's render calls.
    pub plugin_seconds: f64,
    /// Wall-clock seconds for the whole frame.
    pub total_seconds: f64,
    /// Findings raised while rendering this frame.
    pub findings: Vec<Finding>,
    /// Set for a CUDA render: the device, the stream and the device images handed over.
    pub cuda: Option<CudaRenderReport>,
}

/// Raises and clears the host's abort flag from any thread while a render runs.
#[derive(Debug, Clone)]
pub struct AbortHandle(Arc<AtomicBool>);

impl AbortHandle {
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn clear(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Largest side (pixels) of a region of definition rendered as is; beyond it, or when it is
/// infinite, the project extent is rendered.
pub const MAX_ROD_SIDE: i32 = 1 << 16;

/// A live effect instance.
pub struct Instance {
    plugin: Arc<PluginInner>,
    effect: Box<EffectObj>,
    context: String,
    in_sequence: bool,
    cuda: CudaSupport,
    /// Conformance probe: send render calls even with abort raised, to see the plugin react.
    dispatch_when_aborted: bool,
}

const CLIP_PREF_DEPTH: &str = "OfxImageClipPropDepth_";
const CLIP_PREF_COMPONENTS: &str = "OfxImageClipPropComponents_";
const CLIP_PREF_PAR: &str = "OfxImageClipPropPAR_";
const CLIP_ROI: &str = "OfxImageClipPropRoI_";
/// Per-clip frame ranges in GetFramesNeeded's outArgs (ofxImageEffect.h).
const CLIP_FRAME_RANGE: &str = "OfxImageClipPropFrameRange_";

fn full_context_name(ctx: &str) -> String {
    match ctx.to_ascii_lowercase().as_str() {
        "filter" => name(kOfxImageEffectContextFilter).to_string(),
        "general" => name(kOfxImageEffectContextGeneral).to_string(),
        _ => ctx.to_string(),
    }
}

fn rect_d(r: &OfxRectD) -> [f64; 4] {
    [r.x1, r.y1, r.x2, r.y2]
}

/// A rectangle from a 4-value property, falling back to `default` for missing values (the
/// host defines these with 4 values, so this only guards against the impossible).
fn rect_from(v: &[f64], default: OfxRectD) -> OfxRectD {
    let at = |i: usize, d: f64| v.get(i).copied().unwrap_or(d);
    OfxRectD {
        x1: at(0, default.x1),
        y1: at(1, default.y1),
        x2: at(2, default.x2),
        y2: at(3, default.y2),
    }
}

fn union_d(a: Option<OfxRectD>, b: OfxRectD) -> OfxRectD {
    match a {
        None => b,
        Some(a) => OfxRectD {
            x1: a.x1.min(b.x1),
            y1: a.y1.min(b.y1),
            x2: a.x2.max(b.x2),
            y2: a.y2.max(b.y2),
        },
    }
}

impl Instance {
    pub(crate) fn create(plugin: Arc<PluginInner>, context: &str) -> Result<Instance, HostError> {
        let ctx = full_context_name(context);
        let Some((_, desc)) = plugin.contexts.iter().find(|(c, _)| *c == ctx) else {
            return Err(HostError::Context {
                plugin: plugin.entry.identifier.clone(),
                context: ctx,
                supported: plugin
                    .contexts
                    .iter()
                    .map(|(c, _)| c.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let core = plugin.binary.core.clone();
        let now = Arc::new(AtomicU64::new(0f64.to_bits()));
        let what = format!("instance of {}", plugin.entry.identifier);
        let params = desc.params.instantiate(&what, now.clone());
        let effect = EffectObj::new(&what, core, plugin.findings.clone(), now, Some(params));
        desc.props.clone_into(&effect.props);
        let p = &effect.props;
        p.define_str(name(kOfxImageEffectPropContext), &[&ctx]);
        p.define_ptr(name(kOfxPropInstanceData), &[0]);
        p.define_double(name(kOfxImageEffectPropProjectSize), &[1920.0, 1080.0]);
        p.define_double(name(kOfxImageEffectPropProjectOffset), &[0.0, 0.0]);
        p.define_double(name(kOfxImageEffectPropProjectExtent), &[1920.0, 1080.0]);
        p.define_double(name(kOfxImageEffectPropProjectPixelAspectRatio), &[1.0]);
        p.define_double(name(kOfxImageEffectInstancePropEffectDuration), &[1.0]);
        p.define_int(name(kOfxImageEffectInstancePropSequentialRender), &[0]);
        p.define_double(name(kOfxImageEffectPropFrameRate), &[24.0]);
        p.define_int(name(kOfxPropIsInteractive), &[0]);
        for c in desc.clips.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let cp = PropertySet::new(&format!("clip '{}'", c.name), Some(plugin.findings.clone()));
            c.props.clone_into(&cp);
            define_clip_instance_props(&cp, c.is_output());
            effect.add_clip(&c.name, cp);
        }
        let cuda = CudaSupport::read(&plugin.descriptor.props);
        let st = plugin.action(
            kOfxActionCreateInstance,
            effect.handle() as *const c_void,
            None,
            None,
        );
        if st != STAT_OK && st != STAT_REPLY_DEFAULT {
            let _ = reclaim_images(&effect);
            return Err(HostError::action(
                &plugin.entry.identifier,
                "kOfxActionCreateInstance",
                st,
                true,
            ));
        }
        Ok(Instance {
            plugin,
            effect,
            context: ctx,
            in_sequence: false,
            cuda,
            dispatch_when_aborted: false,
        })
    }

    pub fn context(&self) -> &str {
        &self.context
    }
    pub fn plugin_identifier(&self) -> &str {
        &self.plugin.entry.identifier
    }
    /// Clips of this instance (name, optional, components, …).
    pub fn clips(&self) -> Vec<ClipInfo> {
        self.effect
            .clips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|c| ClipInfo::of(c))
            .collect()
    }
    /// A clip's kOfxImageEffectPropFrameRange as the plugin would read it.
    pub fn clip_frame_range(&self, clip: &str) -> Option<(f64, f64)> {
        self.effect
            .clips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.name == clip)
            .and_then(
                |c| match c.props.get_doubles(name(kOfxImageEffectPropFrameRange))[..] {
                    [a, b] => Some((a, b)),
                    _ => None,
                },
            )
    }
    /// The input clip names (every clip but Output).
    pub fn input_clips(&self) -> Vec<String> {
        self.effect
            .clip_names()
            .into_iter()
            .filter(|n| n != name(kOfxImageEffectOutputClipName))
            .collect()
    }
    pub fn params(&self) -> Vec<ParamInfo> {
        self.effect.params.infos()
    }
    /// The value a parameter has at `frame`.
    pub fn param_value(&self, param: &str, frame: f64) -> Option<ParamValue> {
        self.effect.params.with_param(param, |p| p.value_at(frame))
    }
    /// Messages the plugin posted to this instance.
    pub fn messages(&self) -> Vec<Message> {
        self.effect.messages()
    }
    /// Progress reports (label, fraction) the plugin made.
    pub fn progress_reports(&self) -> Vec<(String, f64)> {
        self.effect
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// Findings so far (plugin-wide: load, describe and every instance), without clearing them.
    pub fn findings(&self) -> Vec<Finding> {
        self.plugin.findings.all()
    }
    /// (images fetched, images released) over the instance's life.
    pub fn image_counts(&self) -> (usize, usize) {
        (
            self.effect.fetched.load(Ordering::Relaxed),
            self.effect.released.load(Ordering::Relaxed),
        )
    }
    /// A handle that raises the abort flag `abort()` reports to the plugin.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle(self.effect.abort.clone())
    }
    /// What the plugin declared about CUDA render.
    pub fn cuda_support(&self) -> &CudaSupport {
        &self.cuda
    }

    /// Connects an input clip.
    pub fn set_input(&mut self, clip: &str, input: ClipInput) -> Result<(), HostError> {
        if clip == name(kOfxImageEffectOutputClipName)
            || self.effect.with_clip(clip, |_| ()).is_none()
        {
            return Err(HostError::Param(format!(
                "'{clip}' is not an input clip of {}; its inputs are: {}",
                self.plugin.entry.identifier,
                self.input_clips().join(", ")
            )));
        }
        // The project size follows the first image; a Loader is not read just for that.
        let first = match &input {
            ClipInput::Still(i) => Some(i.clone()),
            ClipInput::Frames(m) => m.values().next().cloned(),
            ClipInput::Loader(_) => None,
        };
        if let Some(img) = first {
            let b = img.bounds();
            let size = [b.width() as f64, b.height() as f64];
            self.effect.props.set(
                name(kOfxImageEffectPropProjectSize),
                PropValue::Double(size.to_vec()),
            );
            self.effect.props.set(
                name(kOfxImageEffectPropProjectExtent),
                PropValue::Double(size.to_vec()),
            );
        }
        self.effect.with_clip(clip, |c| {
            c.props
                .set(name(kOfxImageClipPropConnected), PropValue::Int(vec![1]))
        });
        let mut st = self.effect.state_mut();
        st.cache.retain(|(c, _), _| c != clip);
        st.inputs.insert(clip.to_string(), input);
        Ok(())
    }
    /// Connects an input clip to one image, used at every frame.
    pub fn set_input_image(&mut self, clip: &str, image: HostImage) -> Result<(), HostError> {
        self.set_input(clip, ClipInput::still(image))
    }
    /// Disconnects an input clip.
    pub fn clear_input(&mut self, clip: &str) {
        self.effect.with_clip(clip, |c| {
            c.props
                .set(name(kOfxImageClipPropConnected), PropValue::Int(vec![0]))
        });
        self.effect.state_mut().inputs.remove(clip);
    }

    /// Sets the project size and extent (pixels at scale 1) the plugin is told; `set_input`
    /// takes it from the first still image, a host running a chain sets it per node.
    pub fn set_project_size(&mut self, width: f64, height: f64) {
        for p in [
            name(kOfxImageEffectPropProjectSize),
            name(kOfxImageEffectPropProjectExtent),
        ] {
            self.effect
                .props
                .set(p, PropValue::Double(vec![width, height]));
        }
    }

    /// Sets the frame range the timeline suite and clips report.
    pub fn set_frame_range(&mut self, first: f64, last: f64) {
        self.effect.state_mut().frame_range = (first, last);
        let dur = [last - first + 1.0];
        self.effect.props.set(
            name(kOfxImageEffectInstancePropEffectDuration),
            PropValue::Double(dur.to_vec()),
        );
        for c in self
            .effect
            .clips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            c.props.set(
                name(kOfxImageEffectPropFrameRange),
                PropValue::Double(vec![first, last]),
            );
            c.props.set(
                name(kOfxImageEffectPropUnmappedFrameRange),
                PropValue::Double(vec![first, last]),
            );
        }
    }

    /// Sets a parameter's value at every frame, then tells the plugin (instanceChanged).
    pub fn set_param(
        &mut self,
        param: &str,
        value: impl Into<ParamValue>,
    ) -> Result<(), HostError> {
        self.effect
            .params
            .set_value(param, &value.into())
            .map_err(|e| self.param_error(param, e))?;
        self.instance_changed(param);
        Ok(())
    }
    /// Sets a keyframe: numbers interpolate linearly between keys and hold before the first
    /// and after the last; booleans, choices and strings hold the previous key.
    pub fn set_param_at(
        &mut self,
        param: &str,
        frame: i64,
        value: impl Into<ParamValue>,
    ) -> Result<(), HostError> {
        self.effect
            .params
            .set_value_at_frame(param, frame, &value.into())
            .map_err(|e| self.param_error(param, e))?;
        self.instance_changed(param);
        Ok(())
    }
    /// Sets a parameter from text (`2.5`, `1,0.5`, `true`, a choice label or index).
    pub fn set_param_text(
        &mut self,
        param: &str,
        text: &str,
        frame: Option<i64>,
    ) -> Result<(), HostError> {
        let info = self
            .params()
            .into_iter()
            .find(|p| p.name == param)
            .ok_or_else(|| self.param_error(param, "no such parameter".into()))?;
        let v = info.parse_value(text).map_err(HostError::Param)?;
        match frame {
            Some(f) => self.set_param_at(param, f, v),
            None => self.set_param(param, v),
        }
    }
    fn param_error(&self, param: &str, e: String) -> HostError {
        HostError::Param(format!(
            "{} parameter '{param}': {e} (its parameters: {})",
            self.plugin.entry.identifier,
            self.effect.params.names().join(", ")
        ))
    }

    fn instance_changed(&self, param: &str) {
        let f = Some(self.plugin.findings.clone());
        let h = self.effect.handle() as *const c_void;
        let reason = name(kOfxChangeUserEdited);
        let begin = PropertySet::new_strict("beginInstanceChanged inArgs", f.clone());
        begin.define_str(name(kOfxPropChangeReason), &[reason]);
        let args = PropertySet::new_strict("instanceChanged inArgs", f);
        args.define_str(name(kOfxPropType), &[name(kOfxTypeParameter)]);
        args.define_str(name(kOfxPropName), &[param]);
        args.define_str(name(kOfxPropChangeReason), &[reason]);
        args.define_double(name(kOfxPropTime), &[self.effect.time()]);
        args.define_double(name(kOfxImageEffectPropRenderScale), &[1.0, 1.0]);
        self.plugin
            .action(kOfxActionBeginInstanceChanged, h, Some(&begin), None);
        self.plugin
            .action(kOfxActionInstanceChanged, h, Some(&args), None);
        self.plugin
            .action(kOfxActionEndInstanceChanged, h, Some(&begin), None);
    }

    /// A stream for a Begin/EndSequenceRender action when the host renders with CUDA and the
    /// plugin declared it; `None` sends host-memory inArgs.
    fn sequence_stream(&self) -> Result<Option<CudaFrame>, HostError> {
        let core = &self.plugin.binary.core;
        if !core.config.cuda.is_on() || !self.cuda.supported() {
            return Ok(None);
        }
        let device = core.cuda_device()?;
        let stream = device
            .new_stream()
            .map_err(|e| HostError::CudaUnavailable {
                reason: e.to_string(),
            })?;
        let offer = core.config.cuda.streams() && self.cuda.streams();
        Ok(Some(CudaFrame::new(stream, offer, device.description())))
    }

    /// Sends a sequence action with CUDA inArgs as the host configuration says, then waits for
    /// the stream it handed over (the plugin may have queued work on it).
    fn sequence_action(
        &self,
        action: &'static [u8],
        (first, last, step, scale): (f64, f64, f64, (f64, f64)),
    ) -> Result<OfxStatus, HostError> {
        let cuda = self.sequence_stream()?;
        let args = cuda.as_ref().map_or(CudaArgs::Off, CudaFrame::args);
        let a = self.sequence_args(first, last, step, scale, args);
        let st = self.plugin.action(
            action,
            self.effect.handle() as *const c_void,
            Some(&a),
            None,
        );
        if let Some(cuda) = cuda {
            cuda.stream
                .synchronize()
                .map_err(|e| HostError::CudaUnavailable {
                    reason: format!("synchronising after {}: {e}", name(action)),
                })?;
        }
        Ok(st)
    }

    fn sequence_args(
        &self,
        first: f64,
        last: f64,
        step: f64,
        scale: (f64, f64),
        cuda: CudaArgs,
    ) -> Box<PropertySet> {
        let a =
            PropertySet::new_strict("sequence render inArgs", Some(self.plugin.findings.clone()));
        a.define_double(name(kOfxImageEffectPropFrameRange), &[first, last]);
        a.define_double(name(kOfxImageEffectPropFrameStep), &[step]);
        a.define_int(name(kOfxPropIsInteractive), &[0]);
        a.define_double(name(kOfxImageEffectPropRenderScale), &[scale.0, scale.1]);
        a.define_int(name(kOfxImageEffectPropSequentialRenderStatus), &[1]);
        a.define_int(name(kOfxImageEffectPropInteractiveRenderStatus), &[0]);
        crate::cuda::render_in_args(&a, cuda, &self.cuda);
        a
    }

    /// Sends beginSequenceRender; frames rendered until `end_sequence` are marked sequential.
    pub fn begin_sequence(
        &mut self,
        first: f64,
        last: f64,
        step: f64,
        scale: (f64, f64),
    ) -> Result<(), HostError> {
        let st = self.sequence_action(
            kOfxImageEffectActionBeginSequenceRender,
            (first, last, step, scale),
        )?;
        if st != STAT_OK && st != STAT_REPLY_DEFAULT {
            return Err(self.action_error("kOfxImageEffectActionBeginSequenceRender", st));
        }
        self.in_sequence = true;
        Ok(())
    }
    /// Sends endSequenceRender.
    pub fn end_sequence(
        &mut self,
        first: f64,
        last: f64,
        step: f64,
        scale: (f64, f64),
    ) -> Result<(), HostError> {
        if !self.in_sequence {
            return Ok(());
        }
        self.in_sequence = false;
        let st = self.sequence_action(
            kOfxImageEffectActionEndSequenceRender,
            (first, last, step, scale),
        )?;
        if st != STAT_OK && st != STAT_REPLY_DEFAULT {
            return Err(self.action_error("kOfxImageEffectActionEndSequenceRender", st));
        }
        Ok(())
    }

    /// A failed action that was given an inArgs property set.
    fn action_error(&self, action: &str, st: OfxStatus) -> HostError {
        HostError::action(&self.plugin.entry.identifier, action, st, false)
    }

    /// A failed action the host called with inArgs = NULL, as the specification says.
    fn action_error_null_args(&self, action: &str, st: OfxStatus) -> HostError {
        HostError::action(&self.plugin.entry.identifier, action, st, true)
    }

    fn supported_depths(&self) -> Vec<BitDepth> {
        self.effect
            .props
            .get_strings(name(kOfxImageEffectPropSupportedPixelDepths))
            .iter()
            .filter_map(|s| BitDepth::from_ofx_name(s))
            .collect()
    }

    /// Runs getClipPreferences with the host's defaults and applies what the plugin chose.
    fn clip_preferences(&self, opts: &RenderOptions, frame: i64) -> Result<(), HostError> {
        let findings = &self.plugin.findings;
        let depths = self.supported_depths();
        let pick_depth = |want: BitDepth| -> BitDepth {
            if depths.is_empty() || depths.contains(&want) {
                want
            } else if depths.contains(&BitDepth::Float) {
                BitDepth::Float
            } else {
                *depths.last().unwrap_or(&BitDepth::Float)
            }
        };
        let inputs = self.effect.state().inputs.clone();
        let clips: Vec<(String, Vec<String>, bool)> = self
            .effect
            .clips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.props
                        .get_strings(name(kOfxImageEffectPropSupportedComponents)),
                    c.is_output(),
                )
            })
            .collect();
        let pick_comps = |want: Components, supported: &[String]| -> Components {
            let sup: Vec<Components> = supported
                .iter()
                .filter_map(|s| Components::from_ofx_name(s))
                .collect();
            if sup.is_empty() || sup.contains(&want) {
                want
            } else if sup.contains(&Components::Rgba) {
                Components::Rgba
            } else {
                sup[0]
            }
        };
        // The first connected input sets the defaults for the output.
        let mut first_input: Option<(BitDepth, Components, Premult)> = None;
        let out = PropertySet::new_strict("getClipPreferences outArgs", Some(findings.clone()));
        let mut unmapped: HashMap<String, (BitDepth, Components)> = HashMap::new();
        for (n, sup, is_out) in &clips {
            if *is_out {
                continue;
            }
            let src = self.effect.source_image(n, frame).ok();
            let (d0, c0, p0) = src
                .map(|s| (s.depth(), s.components(), s.premult()))
                .unwrap_or((BitDepth::Float, Components::Rgba, Premult::PreMultiplied));
            unmapped.insert(n.clone(), (d0, c0));
            let d = pick_depth(opts.depth.unwrap_or(d0));
            let c = pick_comps(c0, sup);
            if first_input.is_none() && inputs.contains_key(n) {
                first_input = Some((d, c, p0));
            }
            out.define_str(&format!("{CLIP_PREF_DEPTH}{n}"), &[d.ofx_name()]);
            out.define_str(&format!("{CLIP_PREF_COMPONENTS}{n}"), &[c.ofx_name()]);
            out.define_double(&format!("{CLIP_PREF_PAR}{n}"), &[opts.pixel_aspect]);
        }
        let (d_in, c_in, p_in) = first_input.unwrap_or((
            pick_depth(opts.depth.unwrap_or(BitDepth::Float)),
            Components::Rgba,
            Premult::PreMultiplied,
        ));
        for (n, sup, is_out) in &clips {
            if !*is_out {
                continue;
            }
            let c = pick_comps(opts.components.unwrap_or(c_in), sup);
            unmapped.insert(n.clone(), (d_in, c));
            out.define_str(&format!("{CLIP_PREF_DEPTH}{n}"), &[d_in.ofx_name()]);
            out.define_str(&format!("{CLIP_PREF_COMPONENTS}{n}"), &[c.ofx_name()]);
            out.define_double(&format!("{CLIP_PREF_PAR}{n}"), &[opts.pixel_aspect]);
        }
        out.define_str(
            name(kOfxImageEffectPropPreMultiplication),
            &[p_in.ofx_name()],
        );
        out.define_str(
            name(kOfxImageClipPropFieldOrder),
            &[name(kOfxImageFieldNone)],
        );
        out.define_double(name(kOfxImageEffectPropFrameRate), &[24.0]);
        out.define_int(name(kOfxImageClipPropContinuousSamples), &[0]);
        out.define_int(name(kOfxImageEffectFrameVarying), &[0]);
        // The unmapped format is what a plugin reads *during* this action to choose its
        // preferences (the OpenFX Basic example sets its Output depth from it), so the clips
        // carry this frame's before the call, not the previous render's.
        for (n, (ud, uc)) in &unmapped {
            self.effect.with_clip(n, |clip| {
                clip.props.set(
                    name(kOfxImageClipPropUnmappedPixelDepth),
                    PropValue::strings(&[ud.ofx_name()]),
                );
                clip.props.set(
                    name(kOfxImageClipPropUnmappedComponents),
                    PropValue::strings(&[uc.ofx_name()]),
                );
            });
        }
        let asked = |n: &str, out: &PropertySet| {
            (
                out.get_string(&format!("{CLIP_PREF_DEPTH}{n}"), 0),
                out.get_string(&format!("{CLIP_PREF_COMPONENTS}{n}"), 0),
            )
        };
        let defaults: HashMap<String, _> = clips
            .iter()
            .map(|(n, _, _)| (n.clone(), asked(n, &out)))
            .collect();
        let st = self.plugin.action(
            kOfxImageEffectActionGetClipPreferences,
            self.effect.handle() as *const c_void,
            None,
            Some(&out),
        );
        if st != STAT_OK && st != STAT_REPLY_DEFAULT {
            return Err(self.action_error_null_args("kOfxImageEffectActionGetClipPreferences", st));
        }
        let out_premult = out
            .get_string(name(kOfxImageEffectPropPreMultiplication), 0)
            .and_then(|s| Premult::from_ofx_name(&s))
            .unwrap_or(p_in);
        let mut formats = HashMap::new();
        let mut summary = Vec::new();
        for (n, sup, is_out) in &clips {
            let ds = out
                .get_string(&format!("{CLIP_PREF_DEPTH}{n}"), 0)
                .unwrap_or_default();
            let cs = out
                .get_string(&format!("{CLIP_PREF_COMPONENTS}{n}"), 0)
                .unwrap_or_default();
            let d = match BitDepth::from_ofx_name(&ds) {
                Some(d) if depths.is_empty() || depths.contains(&d) => d,
                _ => {
                    findings.push(FindingKind::InvalidStatus, format!("getClipPreferences set clip '{n}' to depth '{ds}', which the plugin does not list as supported"));
                    d_in
                }
            };
            let c = match Components::from_ofx_name(&cs) {
                Some(c) if sup.is_empty() || sup.contains(&cs) => c,
                Some(c) => {
                    findings.push(FindingKind::InvalidStatus, format!("getClipPreferences set clip '{n}' to '{cs}', which the clip does not list as supported"));
                    c
                }
                None => c_in,
            };
            let premult = if *is_out {
                out_premult
            } else {
                self.effect
                    .source_image(n, frame)
                    .ok()
                    .map(|s| s.premult())
                    .unwrap_or(Premult::PreMultiplied)
            };
            let (ud, uc) = unmapped.get(n).copied().unwrap_or((d, c));
            self.effect.with_clip(n, |clip| {
                let p = &clip.props;
                p.set(
                    name(kOfxImageEffectPropPixelDepth),
                    PropValue::strings(&[d.ofx_name()]),
                );
                p.set(
                    name(kOfxImageEffectPropComponents),
                    PropValue::strings(&[c.ofx_name()]),
                );
                p.set(
                    name(kOfxImageClipPropUnmappedPixelDepth),
                    PropValue::strings(&[ud.ofx_name()]),
                );
                p.set(
                    name(kOfxImageClipPropUnmappedComponents),
                    PropValue::strings(&[uc.ofx_name()]),
                );
                p.set(
                    name(kOfxImageEffectPropPreMultiplication),
                    PropValue::strings(&[premult.ofx_name()]),
                );
                p.set(
                    name(kOfxImagePropPixelAspectRatio),
                    PropValue::Double(vec![opts.pixel_aspect]),
                );
            });
            formats.insert(n.clone(), (d, c, premult));
            let chosen = if defaults.get(n) == Some(&asked(n, &out)) {
                "the host's default"
            } else {
                "asked by getClipPreferences"
            };
            let low = |x: &dyn std::fmt::Debug| format!("{x:?}").to_lowercase();
            let unmapped = if *is_out {
                String::new()
            } else {
                format!("; unmapped {} {}", low(&ud), low(&uc))
            };
            summary.push(format!(
                "{} {} {} ({chosen}{unmapped})",
                n.to_lowercase(),
                low(&d),
                low(&c)
            ));
        }
        let mut st = self.effect.state_mut();
        st.clip_formats = formats;
        st.clip_summary = summary.join(", ");
        Ok(())
    }

    fn region_of_definition(&self, frame: f64, scale: (f64, f64)) -> Result<OfxRectD, HostError> {
        let f = Some(self.plugin.findings.clone());
        let default = {
            let (names, sc, par) = {
                let st = self.effect.state();
                (
                    st.inputs.keys().cloned().collect::<Vec<_>>(),
                    st.scale,
                    st.pixel_aspect,
                )
            };
            let mut acc: Option<OfxRectD> = None;
            for img in names
                .iter()
                .filter_map(|n| self.effect.source_image(n, frame.round() as i64).ok())
            {
                acc = Some(union_d(acc, pixels_to_canonical(&img.bounds(), sc, par)));
            }
            acc.unwrap_or_else(|| {
                let size = self
                    .effect
                    .props
                    .get_doubles(name(kOfxImageEffectPropProjectSize));
                OfxRectD {
                    x1: 0.0,
                    y1: 0.0,
                    x2: size.first().copied().unwrap_or(1920.0),
                    y2: size.get(1).copied().unwrap_or(1080.0),
                }
            })
        };
        let in_args = PropertySet::new_strict("getRegionOfDefinition inArgs", f.clone());
        in_args.define_double(name(kOfxPropTime), &[frame]);
        in_args.define_double(name(kOfxImageEffectPropRenderScale), &[scale.0, scale.1]);
        let out = PropertySet::new_strict("getRegionOfDefinition outArgs", f);
        out.define_double(
            name(kOfxImageEffectPropRegionOfDefinition),
            &rect_d(&default),
        );
        let st = self.plugin.action(
            kOfxImageEffectActionGetRegionOfDefinition,
            self.effect.handle() as *const c_void,
            Some(&in_args),
            Some(&out),
        );
        match st {
            STAT_OK => {
                let v = out.get_doubles(name(kOfxImageEffectPropRegionOfDefinition));
                Ok(rect_from(&v, default))
            }
            STAT_REPLY_DEFAULT => Ok(default),
            _ => Err(self.action_error("kOfxImageEffectActionGetRegionOfDefinition", st)),
        }
    }

    fn regions_of_interest(
        &self,
        frame: f64,
        scale: (f64, f64),
        par: f64,
        window: &Rect,
    ) -> Result<Arc<HashMap<String, Rect>>, HostError> {
        let f = Some(self.plugin.findings.clone());
        let region = pixels_to_canonical(window, scale, par);
        let in_args = PropertySet::new_strict("getRegionsOfInterest inArgs", f.clone());
        in_args.define_double(name(kOfxPropTime), &[frame]);
        in_args.define_double(name(kOfxImageEffectPropRenderScale), &[scale.0, scale.1]);
        in_args.define_double(name(kOfxImageEffectPropRegionOfInterest), &rect_d(&region));
        let out = PropertySet::new_strict("getRegionsOfInterest outArgs", f);
        let inputs = self.input_clips();
        for n in &inputs {
            out.define_double(&format!("{CLIP_ROI}{n}"), &rect_d(&region));
        }
        let st = self.plugin.action(
            kOfxImageEffectActionGetRegionsOfInterest,
            self.effect.handle() as *const c_void,
            Some(&in_args),
            Some(&out),
        );
        let mut rois = HashMap::new();
        for n in &inputs {
            let r = match st {
                STAT_OK => rect_from(&out.get_doubles(&format!("{CLIP_ROI}{n}")), region),
                STAT_REPLY_DEFAULT => region,
                _ => return Err(self.action_error("kOfxImageEffectActionGetRegionsOfInterest", st)),
            };
            rois.insert(n.clone(), canonical_to_pixels(&r, scale, par));
        }
        Ok(Arc::new(rois))
    }

    /// kOfxImageEffectActionGetFramesNeeded, for plugins with temporal clip access: the source
    /// frames each input clip must supply to render `frame` (default: that frame alone).
    /// Ranges are pairs (first, last) as the plugin wrote them; more than one pair is allowed.
    /// Plugins without temporal access are not asked (they may only read `frame`), and the
    /// answer is empty.
    pub fn frames_needed(&self, frame: f64) -> Result<HashMap<String, Vec<(f64, f64)>>, HostError> {
        let mut needed = HashMap::new();
        let temporal = self
            .effect
            .props
            .get_int(name(kOfxImageEffectPropTemporalClipAccess), 0)
            .unwrap_or(0)
            != 0;
        if !temporal {
            return Ok(needed);
        }
        let f = Some(self.plugin.findings.clone());
        let in_args = PropertySet::new_strict("getFramesNeeded inArgs", f.clone());
        in_args.define_double(name(kOfxPropTime), &[frame]);
        let out = PropertySet::new_strict("getFramesNeeded outArgs", f);
        let inputs = self.input_clips();
        for n in &inputs {
            out.define_list(
                &format!("{CLIP_FRAME_RANGE}{n}"),
                PropValue::Double(vec![frame, frame]),
            );
        }
        let st = self.plugin.action(
            kOfxImageEffectActionGetFramesNeeded,
            self.effect.handle() as *const c_void,
            Some(&in_args),
            Some(&out),
        );
        for n in &inputs {
            let v = match st {
                STAT_OK => out.get_doubles(&format!("{CLIP_FRAME_RANGE}{n}")),
                STAT_REPLY_DEFAULT => vec![frame, frame],
                _ => return Err(self.action_error("kOfxImageEffectActionGetFramesNeeded", st)),
            };
            if v.len() % 2 != 0 || v.iter().any(|x| !x.is_finite()) {
                self.plugin.findings.push(
                    FindingKind::InvalidStatus,
                    format!(
                        "GetFramesNeeded set {CLIP_FRAME_RANGE}{n} to {v:?}: it must hold \
                         (first, last) pairs of finite frames"
                    ),
                );
                needed.insert(n.clone(), vec![(frame, frame)]);
                continue;
            }
            needed.insert(n.clone(), v.chunks(2).map(|p| (p[0], p[1])).collect());
        }
        Ok(needed)
    }

    /// kOfxImageEffectActionGetTimeDomain (asked in the general context only, as the spec
    /// says): the frames the effect can render. The default is the union of the input clips'
    /// frame ranges, i.e. the range `set_frame_range` gave. The answer is also set as the
    /// output clip's frame range.
    pub fn time_domain(&self) -> Result<(f64, f64), HostError> {
        let default = self.effect.state().frame_range;
        if self.context != name(kOfxImageEffectContextGeneral) {
            return Ok(default);
        }
        let f = Some(self.plugin.findings.clone());
        let out = PropertySet::new_strict("getTimeDomain outArgs", f);
        out.define_double(name(kOfxImageEffectPropFrameRange), &[default.0, default.1]);
        let st = self.plugin.action(
            kOfxImageEffectActionGetTimeDomain,
            self.effect.handle() as *const c_void,
            None,
            Some(&out),
        );
        let range = match st {
            STAT_OK => {
                let v = out.get_doubles(name(kOfxImageEffectPropFrameRange));
                match v[..] {
                    [a, b] if a.is_finite() && b.is_finite() && a <= b => (a, b),
                    _ => {
                        self.plugin.findings.push(
                            FindingKind::InvalidStatus,
                            format!("GetTimeDomain answered {v:?}: not a (first, last) range"),
                        );
                        default
                    }
                }
            }
            STAT_REPLY_DEFAULT => default,
            _ => return Err(self.action_error_null_args("kOfxImageEffectActionGetTimeDomain", st)),
        };
        if let Some(c) = self
            .effect
            .clips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.is_output())
        {
            c.props.set(
                name(kOfxImageEffectPropFrameRange),
                PropValue::Double(vec![range.0, range.1]),
            );
        }
        Ok(range)
    }

    fn is_identity(&self, frame: f64, scale: (f64, f64), window: &Rect) -> Option<(String, f64)> {
        let f = Some(self.plugin.findings.clone());
        let in_args = PropertySet::new_strict("isIdentity inArgs", f.clone());
        in_args.define_double(name(kOfxPropTime), &[frame]);
        in_args.define_str(
            name(kOfxImageEffectPropFieldToRender),
            &[name(kOfxImageFieldNone)],
        );
        in_args.define_int(
            name(kOfxImageEffectPropRenderWindow),
            &[window.x1, window.y1, window.x2, window.y2],
        );
        in_args.define_double(name(kOfxImageEffectPropRenderScale), &[scale.0, scale.1]);
        let out = PropertySet::new_strict("isIdentity outArgs", f);
        out.define_str(name(kOfxPropName), &[""]);
        out.define_double(name(kOfxPropTime), &[frame]);
        let st = self.plugin.action(
            kOfxImageEffectActionIsIdentity,
            self.effect.handle() as *const c_void,
            Some(&in_args),
            Some(&out),
        );
        if st != STAT_OK {
            return None;
        }
        let clip = out.get_string(name(kOfxPropName), 0).unwrap_or_default();
        let time = out.get_double(name(kOfxPropTime), 0).unwrap_or(frame);
        Some((clip, time))
    }

    fn render_args(
        &self,
        frame: f64,
        scale: (f64, f64),
        window: &Rect,
        cuda: CudaArgs,
    ) -> Box<PropertySet> {
        let a = PropertySet::new_strict("render inArgs", Some(self.plugin.findings.clone()));
        a.define_double(name(kOfxPropTime), &[frame]);
        a.define_str(
            name(kOfxImageEffectPropFieldToRender),
            &[name(kOfxImageFieldNone)],
        );
        a.define_int(
            name(kOfxImageEffectPropRenderWindow),
            &[window.x1, window.y1, window.x2, window.y2],
        );
        a.define_double(name(kOfxImageEffectPropRenderScale), &[scale.0, scale.1]);
        a.define_int(
            name(kOfxImageEffectPropSequentialRenderStatus),
            &[self.in_sequence as i32],
        );
        a.define_int(name(kOfxImageEffectPropInteractiveRenderStatus), &[0]);
        a.define_int(name(kOfxImageEffectPropRenderQualityDraft), &[0]);
        crate::cuda::render_in_args(&a, cuda, &self.cuda);
        a
    }

    /// Decides whether this frame renders with CUDA, before any action is sent: the device to
    /// use, or `None` for host memory. Refuses (with a finding) device memory for a plugin
    /// that did not declare CUDA render, and host memory for one that needs CUDA.
    fn cuda_device_for(
        &self,
        frame: f64,
        opts: &RenderOptions,
    ) -> Result<Option<Arc<dyn CudaDevice>>, HostError> {
        let core = &self.plugin.binary.core;
        let want = opts.cuda.unwrap_or(core.config.cuda.is_on());
        let refuse = |reason: String| {
            self.plugin
                .findings
                .push(FindingKind::CudaRender, format!("frame {frame}: {reason}"));
            Err(HostError::CudaRefused {
                plugin: self.plugin.entry.identifier.clone(),
                reason,
            })
        };
        if want && !self.cuda.supported() {
            return refuse(format!(
                "it does not declare OFX CUDA render ({} is '{}'), so it cannot be given device memory; render it without --cuda",
                crate::cuda::PROP_CUDA_RENDER_SUPPORTED, self.cuda.render
            ));
        }
        if !want && self.cuda.required() {
            return refuse(format!(
                "it declares OFX CUDA render 'needed' ({}), so it cannot render host-memory images; render it with --cuda",
                crate::cuda::PROP_CUDA_RENDER_SUPPORTED
            ));
        }
        if !want {
            return Ok(None);
        }
        core.cuda_device().map(Some)
    }

    /// Renders one frame.
    ///
    /// When an input file could not be read, that is the error, whichever action then
    /// failed for want of the image (a plugin asking for a clip's region of definition fails
    /// its own action without knowing why).
    pub fn render_frame(
        &mut self,
        frame: f64,
        opts: &RenderOptions,
    ) -> Result<RenderOutput, HostError> {
        self.render_frame_inner(frame, opts).map_err(|e| match e {
            HostError::Aborted { .. } => e,
            e => self.check_sources(frame).err().unwrap_or(e),
        })
    }

    fn render_frame_inner(
        &mut self,
        frame: f64,
        opts: &RenderOptions,
    ) -> Result<RenderOutput, HostError> {
        let t0 = Instant::now();
        let before = self.plugin.findings.len();
        let cuda_device = self.cuda_device_for(frame, opts)?;
        self.effect.set_time(frame);
        {
            let mut st = self.effect.state_mut();
            st.scale = opts.render_scale;
            st.pixel_aspect = opts.pixel_aspect;
            st.input_rows = opts.input_rows;
            st.faults = opts.faults.clone();
            st.output = None;
            st.rod = None;
            st.source_errors.clear();
        }
        let iframe = frame.round() as i64;
        self.clip_preferences(opts, iframe)?;
        let needed = self.frames_needed(frame)?;
        self.effect.state_mut().frames_needed = needed;
        let rod_c = self.region_of_definition(frame, opts.render_scale)?;
        self.effect.state_mut().rod = Some(rod_c);
        let rod = self.clip_to_project(
            canonical_to_pixels(&rod_c, opts.render_scale, opts.pixel_aspect),
            &rod_c,
            opts,
        );
        let window = match (opts.faults.render_window, opts.window) {
            (Some(w), _) => w,
            (None, Some(w)) if !rod.is_empty() => w.intersect(&rod),
            (None, Some(w)) => w,
            (None, None) => rod,
        };
        if window.is_empty() && opts.faults.render_window.is_none() {
            return Err(HostError::Render {
                frame,
                reason: format!(
                    "the render window is empty (region of definition {rod:?}, requested {:?})",
                    opts.window
                ),
            });
        }
        let out_name = name(kOfxImageEffectOutputClipName);
        let (out_depth, out_comps, out_premult) = self
            .effect
            .state()
            .clip_formats
            .get(out_name)
            .copied()
            .unwrap_or((BitDepth::Float, Components::Rgba, Premult::PreMultiplied));

        if let Some((clip, time)) = self.is_identity(frame, opts.render_scale, &window) {
            let input = self.effect.state().inputs.get(&clip).cloned();
            let Some(input) = input else {
                self.plugin.findings.push(
                    FindingKind::InvalidStatus,
                    format!("isIdentity named clip '{clip}', which is not a connected input"),
                );
                return Err(HostError::Render {
                    frame,
                    reason: format!("plugin said identity of clip '{clip}', which has no input"),
                });
            };
            drop(input);
            let src = self
                .effect
                .source_image(&clip, time.round() as i64)
                .map_err(|reason| HostError::Render { frame, reason })?;
            self.check_sources(frame)?;
            let mut image = HostImage::with_rows(window, out_depth, out_comps, opts.output_rows);
            image.set_premult(out_premult);
            src.copy_pixels_into(&mut image);
            let findings = self.new_findings(before);
            self.strict_check(&findings)?;
            return Ok(RenderOutput {
                image,
                frame,
                rod,
                window,
                identity: Some((clip, time)),
                render_calls: 0,
                concurrent: false,
                plugin_seconds: 0.0,
                total_seconds: t0.elapsed().as_secs_f64(),
                findings,
                cuda: None,
            });
        }

        // The output image: the window plus a canary margin (inside the RoD), so writes just
        // outside the window land in memory the host checks rather than beyond the buffer.
        let margin = 16;
        let bounds = if opts.canary {
            Rect::new(
                window.x1 - margin,
                window.y1 - margin,
                window.x2 + margin,
                window.y2 + margin,
            )
            .intersect(&rod)
            .union(&window)
        } else {
            window
        };
        let mut output = HostImage::with_rows(bounds, out_depth, out_comps, opts.output_rows);
        output.set_premult(out_premult);
        let use_canary = opts.canary && (bounds != window || opts.output_rows.padding_bytes > 0);
        if use_canary {
            fill_canary(&mut output);
        }
        // A CUDA render hands the plugin a device copy of the output, canaries and all.
        let cuda_args = match &cuda_device {
            None => {
                self.effect.state_mut().output =
                    Some((output.data_ptr_mut() as usize, *output.layout()));
                CudaArgs::Off
            }
            Some(device) => {
                let device_error = |e: crate::device::DeviceError| HostError::Render {
                    frame,
                    reason: format!("CUDA on {}: {e}", device.description()),
                };
                let stream = device.new_stream().map_err(device_error)?;
                let core = &self.plugin.binary.core;
                let offer = core.config.cuda.streams() && self.cuda.streams();
                let mut cuda = CudaFrame::new(stream, offer, device.description());
                let data = cuda.upload(out_name, &output, true).map_err(device_error)?;
                let args = cuda.args();
                self.effect.state_mut().output = Some((data as usize, *output.layout()));
                *lock_opt(&self.effect.cuda_frame) = Some(cuda);
                args
            }
        };

        // Tiles and threads.
        let desc = &self.plugin.descriptor.props;
        let supports_tiles = self
            .effect
            .props
            .get_int(name(kOfxImageEffectPropSupportsTiles), 0)
            .unwrap_or(1)
            != 0;
        let safety = desc
            .get_string(name(kOfxImageEffectPluginRenderThreadSafety), 0)
            .unwrap_or_default();
        let host_frame_threading = desc
            .get_int(name(kOfxImageEffectPluginPropHostFrameThreading), 0)
            .unwrap_or(0)
            != 0;
        let threads = opts
            .threads
            .unwrap_or(self.plugin.binary.core.config.threads)
            .max(1);
        let tiles: Vec<Rect> = match opts.tile {
            _ if opts.faults.render_window.is_some() => vec![window],
            Some((tw, th)) if supports_tiles => split_tiles(&window, tw.max(1), th.max(1)),
            Some(_) => {
                self.plugin.findings.push(
                    FindingKind::Capability,
                    format!(
                        "{} does not support tiles: rendered the whole window in one call",
                        self.plugin.entry.identifier
                    ),
                );
                vec![window]
            }
            None if supports_tiles && host_frame_threading && threads > 1 => {
                let rows = (window.height() + threads as i32 - 1) / threads as i32;
                split_tiles(&window, window.width(), rows.max(1))
            }
            None => vec![window],
        };
        let fully_safe = safety == name(kOfxImageEffectRenderFullySafe);
        let concurrent = fully_safe && threads > 1 && tiles.len() > 1;
        if threads > 1 && tiles.len() > 1 && !fully_safe {
            self.plugin.findings.push(
                FindingKind::Capability,
                format!(
                    "{} render thread safety is '{safety}': tiles rendered one at a time",
                    self.plugin.entry.identifier
                ),
            );
        }

        let abort = self.effect.abort.clone();
        let failure: Mutex<Option<OfxStatus>> = Mutex::new(None);
        let next = AtomicUsize::new(0);
        let calls = AtomicUsize::new(0);
        let roi_error: Mutex<Option<HostError>> = Mutex::new(None);
        let t_render = Instant::now();
        let worker = || loop {
            if (abort.load(Ordering::SeqCst) && !self.dispatch_when_aborted)
                || lock_opt(&failure).is_some()
                || lock_opt(&roi_error).is_some()
            {
                break;
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(tile) = tiles.get(i) else { break };
            let rois =
                match self.regions_of_interest(frame, opts.render_scale, opts.pixel_aspect, tile) {
                    Ok(r) => r,
                    Err(e) => {
                        *roi_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                        break;
                    }
                };
            set_render_context(Some(RenderContext {
                effect: &*self.effect as *const EffectObj as usize,
                rois,
                threads,
            }));
            let args = self.render_args(frame, opts.render_scale, tile, cuda_args);
            let st = self.plugin.action(
                kOfxImageEffectActionRender,
                self.effect.handle() as *const c_void,
                Some(&args),
                None,
            );
            set_render_context(None);
            calls.fetch_add(1, Ordering::SeqCst);
            if st != STAT_OK && st != STAT_REPLY_DEFAULT {
                *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
            }
        };
        if concurrent {
            std::thread::scope(|s| {
                for _ in 0..threads.min(tiles.len()) {
                    s.spawn(worker);
                }
            });
        } else {
            worker();
        }
        self.effect.state_mut().output = None;
        // The plugin may have queued work on our stream without waiting: synchronise, then read
        // the output back (into the host image the canary check and the result use).
        let cuda_frame = lock_opt(&self.effect.cuda_frame).take();
        let cuda_report = match cuda_frame {
            None => None,
            Some(cuda) => {
                let device = cuda.device.clone();
                Some(cuda.finish(&mut output).map_err(|e| HostError::Render {
                    frame,
                    reason: format!("CUDA on {device} after the render: {e}"),
                })?)
            }
        };
        let plugin_seconds = t_render.elapsed().as_secs_f64();

        let leaked = reclaim_images(&self.effect);
        if !leaked.is_empty() {
            self.plugin.findings.push(
                FindingKind::ImageNotReleased,
                format!("{} image(s) fetched during the render of frame {frame} were never released (e.g. {})", leaked.len(), leaked[0]),
            );
        }
        if use_canary {
            if let Some(msg) = check_canary(&output, &window) {
                self.plugin.findings.push(
                    FindingKind::WriteOutsideRenderWindow,
                    format!("frame {frame}, window {window:?}: {msg}"),
                );
            }
        }
        if let Some(e) = roi_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        // A plugin that stops early because of abort may well return kOfxStatFailed: the
        // caller asked for the abort, so that is what it hears about.
        if abort.load(Ordering::SeqCst) {
            return Err(HostError::Aborted { frame });
        }
        if let Some(st) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            let last = self
                .effect
                .messages()
                .into_iter()
                .rev()
                .find(|m| m.kind == name(kOfxMessageError))
                .map(|m| format!(": {}", m.text))
                .unwrap_or_default();
            // A plugin refusing its images: say what it was given and who chose it, so the
            // reader can tell whether the host broke a preference or the plugin assumed one
            // it never asked for (the OpenFX Basic example takes its Output depth from the
            // Source's unmapped depth and expects the Source to arrive at that depth too).
            let given = if st == STAT_ERR_IMAGE_FORMAT {
                format!(
                    " (the plugin refused the images it was given: {}; the host delivers \
                     each clip as getClipPreferences settled it, so a plugin that needs \
                     matching clips must ask for them there)",
                    self.effect.state().clip_summary
                )
            } else {
                String::new()
            };
            return Err(HostError::Render {
                frame,
                reason: format!(
                    "{} render returned {} ({st}){given}{last}",
                    self.plugin.entry.identifier,
                    status_name(st)
                ),
            });
        }
        self.check_sources(frame)?;
        let image = if bounds == window {
            output
        } else {
            let mut cropped = HostImage::with_rows(window, out_depth, out_comps, opts.output_rows);
            cropped.set_premult(out_premult);
            output.copy_pixels_into(&mut cropped);
            cropped
        };
        let findings = self.new_findings(before);
        self.strict_check(&findings)?;
        Ok(RenderOutput {
            image,
            frame,
            rod,
            window,
            identity: None,
            render_calls: calls.load(Ordering::SeqCst),
            concurrent,
            plugin_seconds,
            total_seconds: t0.elapsed().as_secs_f64(),
            findings,
            cuda: cuda_report,
        })
    }

    /// A region of definition that is infinite (generators: OFX's kOfxFlagInfiniteMin/Max or
    /// non-finite values) or larger than [`MAX_ROD_SIDE`] on a side is clipped to the project
    /// extent, as hosts do: nothing could render or hold it.
    fn clip_to_project(&self, rod: Rect, rod_c: &OfxRectD, opts: &RenderOptions) -> Rect {
        let finite = [rod_c.x1, rod_c.y1, rod_c.x2, rod_c.y2]
            .iter()
            .all(|v| v.is_finite() && v.abs() < i32::MAX as f64 / 4.0);
        if finite && rod.width() <= MAX_ROD_SIDE && rod.height() <= MAX_ROD_SIDE {
            return rod;
        }
        let size = self
            .effect
            .props
            .get_doubles(name(kOfxImageEffectPropProjectSize));
        let project = OfxRectD {
            x1: 0.0,
            y1: 0.0,
            x2: size.first().copied().unwrap_or(1920.0),
            y2: size.get(1).copied().unwrap_or(1080.0),
        };
        let p = canonical_to_pixels(&project, opts.render_scale, opts.pixel_aspect);
        let clipped = rod.intersect(&p);
        log::info!(
            "{}: region of definition {rod_c:?} is infinite or too large; rendering the project extent {p:?}",
            self.plugin.entry.identifier
        );
        if clipped.is_empty() {
            p
        } else {
            clipped
        }
    }

    /// Fails the frame when an input file could not be read while rendering it.
    fn check_sources(&self, frame: f64) -> Result<(), HostError> {
        let errors = std::mem::take(&mut self.effect.state_mut().source_errors);
        if errors.is_empty() {
            return Ok(());
        }
        Err(HostError::Render {
            frame,
            reason: format!(
                "an input could not be read, so the frame was not rendered: {}",
                errors.join("; ")
            ),
        })
    }

    fn new_findings(&self, before: usize) -> Vec<Finding> {
        self.plugin
            .findings
            .all()
            .into_iter()
            .skip(before)
            .collect()
    }

    fn strict_check(&self, findings: &[Finding]) -> Result<(), HostError> {
        if !self.plugin.binary.core.config.strict {
            return Ok(());
        }
        let errors: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.severity == crate::findings::Severity::Error)
            .collect();
        match errors.first() {
            Some(first) => Err(HostError::Strict {
                count: errors.len(),
                first: first.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Check hook: dispatch render calls even with abort raised.
    pub(crate) fn set_dispatch_when_aborted(&mut self, on: bool) {
        self.dispatch_when_aborted = on;
    }
}

fn lock_opt<T>(m: &Mutex<Option<T>>) -> std::sync::MutexGuard<'_, Option<T>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.in_sequence {
            let (a, b) = self.effect.state().frame_range;
            let _ = self.end_sequence(a, b, 1.0, (1.0, 1.0));
        }
        let st = self.plugin.action(
            kOfxActionDestroyInstance,
            self.effect.handle() as *const c_void,
            None,
            None,
        );
        if st != STAT_OK && st != STAT_REPLY_DEFAULT {
            log::warn!(
                "{}: kOfxActionDestroyInstance returned {}",
                self.plugin.entry.identifier,
                status_name(st)
            );
        }
        let _ = reclaim_images(&self.effect);
    }
}

/// Splits a window into tiles, bottom row first, left to right.
pub fn split_tiles(window: &Rect, tw: i32, th: i32) -> Vec<Rect> {
    let mut v = Vec::new();
    let mut y = window.y1;
    while y < window.y2 {
        let mut x = window.x1;
        let y2 = (y + th).min(window.y2);
        while x < window.x2 {
            let x2 = (x + tw).min(window.x2);
            v.push(Rect::new(x, y, x2, y2));
            x = x2;
        }
        y = y2;
    }
    v
}

/// The canary byte pattern for one channel of a depth: NaNs for float depths (a plugin never
/// writes those by accident), an unlikely code value for integer depths.
fn canary_channel(depth: BitDepth) -> &'static [u8] {
    match depth {
        BitDepth::Byte => &[0xA7],
        BitDepth::Short => &[0xA7, 0x5C],
        BitDepth::Half => &[0x5C, 0x7E], // 0x7E5C: a quiet NaN
        BitDepth::Float => &[0x5C, 0xA7, 0xC3, 0x7F], // 0x7FC3A75C: a quiet NaN
    }
}

/// One row (pixels and padding) of canary bytes, phase 0 at the row's first pixel.
fn canary_row(img: &HostImage) -> Vec<u8> {
    let pat = canary_channel(img.depth());
    (0..img.row_bytes().unsigned_abs())
        .map(|i| pat[i % pat.len()])
        .collect()
}

fn fill_canary(img: &mut HostImage) {
    let row = canary_row(img);
    let b = img.bounds();
    for y in b.y1..b.y2 {
        img.row_with_padding_mut(y).copy_from_slice(&row);
    }
}

/// Describes canary bytes the plugin changed outside `window`, or None if all are intact.
/// Rows compare as whole slices (memcmp speed); only a damaged stretch is walked per pixel.
fn check_canary(img: &HostImage, window: &Rect) -> Option<String> {
    let pattern = canary_row(img);
    let pb = img.layout().pixel_bytes();
    let packed = img.layout().packed_row_bytes();
    let b = img.bounds();
    let mut changed_px = 0usize;
    let mut changed_pad = 0usize;
    let mut bbox = Rect::default();
    let mut scan = |row: &[u8], y: i32, x_from: i32, x_to: i32| {
        let (s, e) = ((x_from - b.x1) as usize * pb, (x_to - b.x1) as usize * pb);
        if row[s..e] == pattern[s..e] {
            return;
        }
        for x in x_from..x_to {
            let o = (x - b.x1) as usize * pb;
            if row[o..o + pb] != pattern[o..o + pb] {
                changed_px += 1;
                bbox = bbox.union(&Rect::new(x, y, x + 1, y + 1));
            }
        }
    };
    for y in b.y1..b.y2 {
        let row = img.row_with_padding(y);
        if y < window.y1 || y >= window.y2 {
            scan(row, y, b.x1, b.x2);
        } else {
            scan(row, y, b.x1, window.x1.max(b.x1));
            scan(row, y, window.x2.min(b.x2), b.x2);
        }
        if row[packed..] != pattern[packed..] {
            changed_pad += row[packed..]
                .iter()
                .zip(&pattern[packed..])
                .filter(|(a, b)| a != b)
                .count();
        }
    }
    if changed_px == 0 && changed_pad == 0 {
        return None;
    }
    Some(format!(
        "{changed_px} pixel(s) written outside the render window (within {bbox:?}), {changed_pad} row-padding byte(s) changed"
    ))
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("plugin", &self.plugin.entry.identifier)
            .field("context", &self.context)
            .finish()
    }
}
