//! Actions decoded into typed arguments, and typed writers for their outArgs.

use crate::cuda::CudaRender;
use crate::props::PropSet;
use crate::status::Result;
use crate::{name, RectD, RectI};
use std::ffi::{CStr, CString};

/// Every action a plugin may receive, with its decoded name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Load,
    Unload,
    Describe,
    DescribeInContext,
    CreateInstance,
    DestroyInstance,
    GetRegionOfDefinition,
    GetRegionsOfInterest,
    GetClipPreferences,
    IsIdentity,
    Render,
    BeginSequenceRender,
    EndSequenceRender,
    InstanceChanged,
    BeginInstanceChanged,
    EndInstanceChanged,
    GetTimeDomain,
    GetFramesNeeded,
    PurgeCaches,
    SyncPrivateData,
    BeginInstanceEdit,
    EndInstanceEdit,
    /// Anything else (interact actions, dialogs, host extensions): answered ReplyDefault.
    Other,
}

impl ActionKind {
    pub fn parse(action: &CStr) -> ActionKind {
        let table: [(&CStr, ActionKind); 22] = [
            (name!(kOfxActionLoad), ActionKind::Load),
            (name!(kOfxActionUnload), ActionKind::Unload),
            (name!(kOfxActionDescribe), ActionKind::Describe),
            (
                name!(kOfxImageEffectActionDescribeInContext),
                ActionKind::DescribeInContext,
            ),
            (name!(kOfxActionCreateInstance), ActionKind::CreateInstance),
            (
                name!(kOfxActionDestroyInstance),
                ActionKind::DestroyInstance,
            ),
            (
                name!(kOfxImageEffectActionGetRegionOfDefinition),
                ActionKind::GetRegionOfDefinition,
            ),
            (
                name!(kOfxImageEffectActionGetRegionsOfInterest),
                ActionKind::GetRegionsOfInterest,
            ),
            (
                name!(kOfxImageEffectActionGetClipPreferences),
                ActionKind::GetClipPreferences,
            ),
            (
                name!(kOfxImageEffectActionIsIdentity),
                ActionKind::IsIdentity,
            ),
            (name!(kOfxImageEffectActionRender), ActionKind::Render),
            (
                name!(kOfxImageEffectActionBeginSequenceRender),
                ActionKind::BeginSequenceRender,
            ),
            (
                name!(kOfxImageEffectActionEndSequenceRender),
                ActionKind::EndSequenceRender,
            ),
            (
                name!(kOfxActionInstanceChanged),
                ActionKind::InstanceChanged,
            ),
            (
                name!(kOfxActionBeginInstanceChanged),
                ActionKind::BeginInstanceChanged,
            ),
            (
                name!(kOfxActionEndInstanceChanged),
                ActionKind::EndInstanceChanged,
            ),
            (
                name!(kOfxImageEffectActionGetTimeDomain),
                ActionKind::GetTimeDomain,
            ),
            (
                name!(kOfxImageEffectActionGetFramesNeeded),
                ActionKind::GetFramesNeeded,
            ),
            (name!(kOfxActionPurgeCaches), ActionKind::PurgeCaches),
            (
                name!(kOfxActionSyncPrivateData),
                ActionKind::SyncPrivateData,
            ),
            (
                name!(kOfxActionBeginInstanceEdit),
                ActionKind::BeginInstanceEdit,
            ),
            (
                name!(kOfxActionEndInstanceEdit),
                ActionKind::EndInstanceEdit,
            ),
        ];
        table
            .iter()
            .find(|(n, _)| *n == action)
            .map(|(_, k)| *k)
            .unwrap_or(ActionKind::Other)
    }
}

fn render_scale(p: &PropSet) -> [f64; 2] {
    let s = |i| {
        p.get_double_opt(name!(kOfxImageEffectPropRenderScale), i)
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(1.0)
    };
    [s(0), s(1)]
}

fn rect_i(p: &PropSet, n: &CStr) -> Result<RectI> {
    let v = p.get_ints::<4>(n)?;
    Ok(RectI {
        x1: v[0],
        y1: v[1],
        x2: v[2],
        y2: v[3],
    })
}

fn rect_d(p: &PropSet, n: &CStr) -> Result<RectD> {
    let v = p.get_doubles::<4>(n)?;
    Ok(RectD {
        x1: v[0],
        y1: v[1],
        x2: v[2],
        y2: v[3],
    })
}

/// kOfxImageEffectActionRender inArgs.
#[derive(Debug, Clone, Copy)]
pub struct RenderArgs {
    pub time: f64,
    /// Pixels to fill, at render scale.
    pub render_window: RectI,
    pub render_scale: [f64; 2],
    pub sequential: bool,
    pub interactive: bool,
    pub cuda: Option<CudaRender>,
}

impl RenderArgs {
    pub fn decode(p: &PropSet) -> Result<RenderArgs> {
        Ok(RenderArgs {
            time: p.get_double(name!(kOfxPropTime), 0)?,
            render_window: rect_i(p, name!(kOfxImageEffectPropRenderWindow))?,
            render_scale: render_scale(p),
            sequential: p
                .get_int_opt(name!(kOfxImageEffectPropSequentialRenderStatus), 0)
                .unwrap_or(0)
                != 0,
            interactive: p
                .get_int_opt(name!(kOfxImageEffectPropInteractiveRenderStatus), 0)
                .unwrap_or(0)
                != 0,
            cuda: CudaRender::from_in_args(p),
        })
    }
}

/// kOfxImageEffectActionIsIdentity inArgs.
#[derive(Debug, Clone, Copy)]
pub struct IsIdentityArgs {
    pub time: f64,
    pub render_window: RectI,
    pub render_scale: [f64; 2],
}

impl IsIdentityArgs {
    pub fn decode(p: &PropSet) -> Result<IsIdentityArgs> {
        Ok(IsIdentityArgs {
            time: p.get_double(name!(kOfxPropTime), 0)?,
            render_window: rect_i(p, name!(kOfxImageEffectPropRenderWindow))?,
            render_scale: render_scale(p),
        })
    }
}

/// kOfxImageEffectActionGetRegionOfDefinition inArgs.
#[derive(Debug, Clone, Copy)]
pub struct RegionOfDefinitionArgs {
    pub time: f64,
    pub render_scale: [f64; 2],
}

impl RegionOfDefinitionArgs {
    pub fn decode(p: &PropSet) -> Result<RegionOfDefinitionArgs> {
        Ok(RegionOfDefinitionArgs {
            time: p.get_double(name!(kOfxPropTime), 0)?,
            render_scale: render_scale(p),
        })
    }
}

/// kOfxImageEffectActionGetRegionsOfInterest inArgs.
#[derive(Debug, Clone, Copy)]
pub struct RegionsOfInterestArgs {
    pub time: f64,
    pub render_scale: [f64; 2],
    /// The region to be rendered, canonical coordinates.
    pub region: RectD,
}

impl RegionsOfInterestArgs {
    pub fn decode(p: &PropSet) -> Result<RegionsOfInterestArgs> {
        Ok(RegionsOfInterestArgs {
            time: p.get_double(name!(kOfxPropTime), 0)?,
            render_scale: render_scale(p),
            region: rect_d(p, name!(kOfxImageEffectPropRegionOfInterest))?,
        })
    }
}

/// Begin/EndSequenceRender inArgs.
#[derive(Debug, Clone, Copy)]
pub struct SequenceArgs {
    pub frame_range: [f64; 2],
    pub frame_step: f64,
    pub interactive: bool,
    pub render_scale: [f64; 2],
    pub cuda: Option<CudaRender>,
}

impl SequenceArgs {
    pub fn decode(p: &PropSet) -> Result<SequenceArgs> {
        Ok(SequenceArgs {
            frame_range: [
                p.get_double_opt(name!(kOfxImageEffectPropFrameRange), 0)
                    .unwrap_or(0.0),
                p.get_double_opt(name!(kOfxImageEffectPropFrameRange), 1)
                    .unwrap_or(0.0),
            ],
            frame_step: p
                .get_double_opt(name!(kOfxImageEffectPropFrameStep), 0)
                .unwrap_or(1.0),
            interactive: p.get_int_opt(name!(kOfxPropIsInteractive), 0).unwrap_or(0) != 0,
            render_scale: render_scale(p),
            cuda: CudaRender::from_in_args(p),
        })
    }
}

/// kOfxActionInstanceChanged inArgs. Hosts send names the plugin never declared (Resolve's
/// `ResolveUseAlphaForTrackCompositing`): effects must ignore unknown names.
#[derive(Debug, Clone)]
pub struct InstanceChangedArgs {
    /// `OfxTypeParameter` or `OfxTypeClip`.
    pub kind: String,
    pub name: String,
    /// `OfxChangeUserEdited`, `OfxChangePluginEdited` or `OfxChangeTime`.
    pub reason: String,
    pub time: f64,
    pub render_scale: [f64; 2],
}

impl InstanceChangedArgs {
    pub fn decode(p: &PropSet) -> Result<InstanceChangedArgs> {
        Ok(InstanceChangedArgs {
            kind: p.get_string_opt(name!(kOfxPropType), 0).unwrap_or_default(),
            name: p.get_string(name!(kOfxPropName), 0)?,
            reason: p
                .get_string_opt(name!(kOfxPropChangeReason), 0)
                .unwrap_or_default(),
            time: p.get_double_opt(name!(kOfxPropTime), 0).unwrap_or(0.0),
            render_scale: render_scale(p),
        })
    }
    pub fn is_param(&self, param: &CStr) -> bool {
        self.kind == "OfxTypeParameter" && param.to_str() == Ok(self.name.as_str())
    }
    pub fn user_edited(&self) -> bool {
        self.reason == "OfxChangeUserEdited"
    }
}

/// Typed writers for an action's outArgs.
#[derive(Clone, Copy)]
pub struct OutArgs(pub PropSet);

impl OutArgs {
    pub fn set_region_of_definition(&self, r: RectD) -> Result<()> {
        self.0.set_doubles(
            name!(kOfxImageEffectPropRegionOfDefinition),
            &[r.x1, r.y1, r.x2, r.y2],
        )
    }
    /// The region of `clip` needed to render the requested region (canonical coordinates).
    pub fn set_region_of_interest(&self, clip: &CStr, r: RectD) -> Result<()> {
        let prop = suffixed("OfxImageClipPropRoI_", clip);
        self.0.set_doubles(&prop, &[r.x1, r.y1, r.x2, r.y2])
    }
    /// isIdentity: render `clip` at `time` instead of the effect.
    pub fn set_identity(&self, clip: &CStr, time: f64) -> Result<()> {
        self.0.set_str(name!(kOfxPropName), 0, clip)?;
        let _ = self.0.set_double(name!(kOfxPropTime), 0, time);
        Ok(())
    }
    pub fn set_clip_depth(&self, clip: &CStr, depth: crate::BitDepth) -> Result<()> {
        self.0
            .set_str(&suffixed("OfxImageClipPropDepth_", clip), 0, depth.name())
    }
    pub fn set_clip_components(&self, clip: &CStr, comps: crate::ImageComponents) -> Result<()> {
        self.0.set_str(
            &suffixed("OfxImageClipPropComponents_", clip),
            0,
            comps.name(),
        )
    }
    pub fn set_output_premultiplication(&self, p: crate::Premultiplication) -> Result<()> {
        self.0
            .set_str(name!(kOfxImageEffectPropPreMultiplication), 0, p.name())
    }
    /// The output changes from frame to frame even when inputs do not (e.g. grain).
    pub fn set_frame_varying(&self, varying: bool) -> Result<()> {
        self.0
            .set_bool(name!(kOfxImageEffectFrameVarying), 0, varying)
    }
    /// GetFramesNeeded: the frames of `clip` needed, as inclusive (first, last) ranges.
    pub fn set_frames_needed(&self, clip: &CStr, ranges: &[[f64; 2]]) -> Result<()> {
        let flat: Vec<f64> = ranges.iter().flatten().copied().collect();
        self.0
            .set_doubles(&suffixed("OfxImageClipPropFrameRange_", clip), &flat)
    }
    pub fn set_frame_range(&self, range: [f64; 2]) -> Result<()> {
        self.0
            .set_doubles(name!(kOfxImageEffectPropFrameRange), &range)
    }
}

fn suffixed(prefix: &str, clip: &CStr) -> CString {
    let mut s = prefix.as_bytes().to_vec();
    s.extend_from_slice(clip.to_bytes());
    // A CStr has no interior NUL and the prefix is ASCII, so this cannot fail; fall back to
    // the bare prefix rather than panic inside a host.
    CString::new(s).unwrap_or_else(|_| CString::from(c"OfxImageClipProp"))
}
