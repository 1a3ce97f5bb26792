//! The pipeline file: a versioned TOML schema, parsed strictly. Every error names the file,
//! the line and the fix, and all of them are found before a frame renders.
//!
//! ```toml
//! pipeline = 1                         # schema version (required)
//! name = "genai-plate"
//! description = "Restore, upscale and regrain an 8-bit generated clip"
//!
//! [input]
//! path = "shot010.mp4"                 # video, image sequence (####, %04d), still, or "builtin"
//! frames = "1-48"                      # optional; --frames overrides
//! first_frame = 1                      # video only: the number of the first decoded frame
//! colour = "auto"                      # video only: auto (the file's tags), bt709, bt601, bt2020
//! range = "auto"                       # video only: auto, limited, full
//! missing = "error"                    # sequences: error, black, hold
//!
//! [[node]]
//! plugin = "org.platerestore.Restore"  # identifier (searched), bundle, or BUNDLE:identifier
//! label = "restore"                    # optional; names the node in messages and --set
//! device = "auto"                      # auto, cpu, cuda (OFX CUDA render)
//! [node.params]
//! method = "Classical (fast)"          # choice label or index, number, bool, text, [a, b]
//!
//! [output]
//! path = "out/shot010.####.exr"
//! depth = "half"                       # half, float (EXR); byte, short (PNG/TIFF)
//! compression = "piz"                  # none, rle, zip, piz, dwaa, dwab
//! primaries = "rec709"                 # the chromaticities attribute; "none" writes none
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::image::BitDepth;
use crate::io::{ExrCompression, FrameList};

/// The schema version this host reads.
pub const SCHEMA_VERSION: i64 = 1;

/// A mistake in a pipeline file (or a command-line override of it), found before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based; 0 when the mistake is not on a line of the file (a command-line override).
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)
        }
    }
}

impl std::error::Error for SpecError {}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    /// The built-in synthetic 8-bit plate.
    Builtin,
    /// An image file or a numbered sequence of them.
    Images(String),
    /// A video file, decoded by the `ffmpeg` program.
    Video(PathBuf),
}

/// YUV → RGB matrix for video input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoMatrix {
    /// What the file's tags say; untagged: BT.709 from 720 lines up, else BT.601.
    Auto,
    Bt709,
    Bt601,
    Bt2020,
}

/// Quantisation range of video input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoRange {
    /// The file's tag; untagged: limited (what nearly every camera and generator writes).
    Auto,
    Limited,
    Full,
}

/// What to do with frames a sequence lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingFrames {
    Error,
    Black,
    Hold,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub kind: InputKind,
    pub line: usize,
    pub frames: Option<FrameList>,
    pub first_frame: i64,
    pub matrix: VideoMatrix,
    pub range: VideoRange,
    pub missing: MissingFrames,
}

/// Device a node renders on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeDevice {
    /// OFX CUDA render when the host has a GPU and the plugin declares it, else host memory.
    Auto,
    /// Host memory.
    Cpu,
    /// OFX CUDA render; an error when there is no GPU or the plugin cannot.
    Cuda,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    /// The value as `ofxrun --param` text (choice label, number, `a,b`, true/false).
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    pub plugin: String,
    pub label: String,
    pub line: usize,
    pub context: Option<String>,
    pub device: NodeDevice,
    pub params: Vec<ParamSpec>,
}

/// Colour primaries recorded in the EXR `chromaticities` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primaries {
    Rec709,
    Rec2020,
    P3D65,
    Aces,
    AcesCg,
}

impl Primaries {
    /// CIE 1931 xy of red, green, blue, white: ITU-R BT.709-6 Table 1 item 1.3–1.4, BT.2020-2
    /// Table 3, SMPTE EG 432-1 (P3-D65), SMPTE ST 2065-1 (ACES AP0) and S-2014-004 (AP1).
    pub fn chromaticities(self) -> [f32; 8] {
        const D65: [f32; 2] = [0.3127, 0.3290];
        const ACES_WHITE: [f32; 2] = [0.32168, 0.33767];
        let (rgb, w) = match self {
            Primaries::Rec709 => ([0.640, 0.330, 0.300, 0.600, 0.150, 0.060], D65),
            Primaries::Rec2020 => ([0.708, 0.292, 0.170, 0.797, 0.131, 0.046], D65),
            Primaries::P3D65 => ([0.680, 0.320, 0.265, 0.690, 0.150, 0.060], D65),
            Primaries::Aces => ([0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.0770], ACES_WHITE),
            Primaries::AcesCg => ([0.713, 0.293, 0.165, 0.830, 0.128, 0.044], ACES_WHITE),
        };
        [rgb[0], rgb[1], rgb[2], rgb[3], rgb[4], rgb[5], w[0], w[1]]
    }
    pub fn name(self) -> &'static str {
        match self {
            Primaries::Rec709 => "rec709",
            Primaries::Rec2020 => "rec2020",
            Primaries::P3D65 => "p3-d65",
            Primaries::Aces => "aces",
            Primaries::AcesCg => "acescg",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    pub path: String,
    pub line: usize,
    /// `None`: the format's default for the render's depth.
    pub depth: Option<BitDepth>,
    pub compression: ExrCompression,
    pub primaries: Option<Primaries>,
}

/// A parsed, checked pipeline file. Plugins and parameters are checked against the plugins
/// themselves when the chain is built (`Chain::build`), still before any frame renders.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub file: PathBuf,
    pub name: String,
    pub description: String,
    pub input: InputSpec,
    pub nodes: Vec<NodeSpec>,
    pub output: OutputSpec,
    /// FNV-1a of the file text and every override: frames written by another pipeline (or
    /// other settings) are never taken for finished ones by `--resume`.
    pub fingerprint: String,
}

/// Command-line changes to a pipeline file, applied as if written in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub input: Option<String>,
    pub output: Option<String>,
    /// `LABEL.PARAM=VALUE` (LABEL is a node's label, or its 1-based position).
    pub set: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    pipeline: Spanned<i64>,
    name: Option<String>,
    description: Option<String>,
    input: Spanned<RawInput>,
    #[serde(default)]
    node: Vec<Spanned<RawNode>>,
    output: Spanned<RawOutput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    path: Spanned<String>,
    frames: Option<Spanned<String>>,
    first_frame: Option<Spanned<i64>>,
    colour: Option<Spanned<String>>,
    range: Option<Spanned<String>>,
    missing: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    plugin: Spanned<String>,
    label: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    device: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    path: Spanned<String>,
    depth: Option<Spanned<String>>,
    compression: Option<Spanned<String>>,
    dwa_level: Option<Spanned<f64>>,
    primaries: Option<Spanned<String>>,
}

/// Extensions read as video (decoded through ffmpeg).
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "mov", "mkv", "m4v", "webm", "avi", "mxf", "mts", "m2ts", "ts", "y4m",
];

/// Whether `path` names a video file (by extension).
pub fn is_video_path(path: &str) -> bool {
    Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// FNV-1a, 64 bit: stable across builds and platforms (unlike `std`'s hasher).
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `ofxrun --param` text for a TOML value, or why it cannot be one.
fn value_text(v: &toml::Value) -> Result<String, String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => {
            // Full precision, and a form the parameter parser reads back exactly.
            format!("{f:?}")
        }
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(a) => {
            let parts: Result<Vec<String>, String> = a
                .iter()
                .map(|x| match x {
                    toml::Value::Integer(_) | toml::Value::Float(_) => value_text(x),
                    _ => Err("an array value holds numbers only, e.g. [0.5, 0.5]".into()),
                })
                .collect();
            parts?.join(",")
        }
        toml::Value::Datetime(_) => return Err("a date is not a parameter value".into()),
        toml::Value::Table(_) => {
            return Err(
                "a table is not a parameter value (keyframes are not part of schema 1; \
                 write one value, or render frame ranges with separate pipelines)"
                    .into(),
            )
        }
    })
}

impl Pipeline {
    /// Reads and checks a pipeline file, then applies `overrides`.
    pub fn load(file: &Path, overrides: &Overrides) -> Result<Pipeline, SpecError> {
        let text = std::fs::read_to_string(file).map_err(|e| SpecError {
            file: file.to_path_buf(),
            line: 0,
            message: format!("cannot read the pipeline file: {e}"),
        })?;
        Pipeline::parse(&text, file, overrides)
    }

    /// Parses pipeline text; `file` names it in messages.
    pub fn parse(text: &str, file: &Path, overrides: &Overrides) -> Result<Pipeline, SpecError> {
        let err = |line: usize, message: String| SpecError {
            file: file.to_path_buf(),
            line,
            message,
        };
        let at = |s: std::ops::Range<usize>| line_of(text, s.start);
        let raw: RawPipeline = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            let mut msg = e.message().trim().to_string();
            if msg.contains("unknown field") {
                msg += " (see `ofxrun pipeline --help` or docs/pipelines.md for the schema)";
            }
            if msg.contains("missing field") {
                msg += " (every pipeline needs `pipeline = 1`, an [input] with a path and an \
                        [output] with a path)";
            }
            err(line, msg)
        })?;
        if *raw.pipeline.get_ref() != SCHEMA_VERSION {
            return Err(err(
                at(raw.pipeline.span()),
                format!(
                    "schema version {} is not one this ofxrun reads: write `pipeline = {SCHEMA_VERSION}`",
                    raw.pipeline.get_ref()
                ),
            ));
        }

        // Input.
        let input_line = at(raw.input.span());
        let ri = raw.input.into_inner();
        let (path, path_line) = match &overrides.input {
            Some(p) => (p.clone(), 0),
            None => (ri.path.get_ref().clone(), at(ri.path.span())),
        };
        let kind = if path == "builtin" {
            InputKind::Builtin
        } else if is_video_path(&path) {
            InputKind::Video(PathBuf::from(&path))
        } else {
            crate::io::FramePattern::parse(&path)
                .map_err(|e| err(path_line, format!("input path: {e}")))?;
            InputKind::Images(path.clone())
        };
        let frames = ri
            .frames
            .map(|f| {
                FrameList::parse(f.get_ref()).map_err(|e| err(at(f.span()), format!("frames: {e}")))
            })
            .transpose()?;
        let pick = |v: &Option<Spanned<String>>,
                    key: &str,
                    options: &[&str]|
         -> Result<Option<usize>, SpecError> {
            let Some(v) = v else { return Ok(None) };
            let s = v.get_ref().to_ascii_lowercase();
            options
                .iter()
                .position(|o| *o == s)
                .map(Some)
                .ok_or_else(|| {
                    err(
                        at(v.span()),
                        format!(
                            "{key} = \"{}\" is not one of: {}",
                            v.get_ref(),
                            options.join(", ")
                        ),
                    )
                })
        };
        let matrix = match pick(&ri.colour, "colour", &["auto", "bt709", "bt601", "bt2020"])? {
            None | Some(0) => VideoMatrix::Auto,
            Some(1) => VideoMatrix::Bt709,
            Some(2) => VideoMatrix::Bt601,
            _ => VideoMatrix::Bt2020,
        };
        let range = match pick(&ri.range, "range", &["auto", "limited", "full"])? {
            None | Some(0) => VideoRange::Auto,
            Some(1) => VideoRange::Limited,
            _ => VideoRange::Full,
        };
        let missing = match pick(&ri.missing, "missing", &["error", "black", "hold"])? {
            None | Some(0) => MissingFrames::Error,
            Some(1) => MissingFrames::Black,
            _ => MissingFrames::Hold,
        };
        let first_frame = ri.first_frame.as_ref().map(|f| *f.get_ref()).unwrap_or(1);
        let video_only = [
            ri.first_frame.as_ref().map(|f| f.span()),
            ri.colour.as_ref().map(|f| f.span()),
            ri.range.as_ref().map(|f| f.span()),
        ];
        if !matches!(kind, InputKind::Video(_)) {
            if let Some(s) = video_only.into_iter().flatten().next() {
                return Err(err(
                    at(s),
                    "first_frame, colour and range apply to video input only; remove them \
                     for an image sequence"
                        .into(),
                ));
            }
        }
        let input = InputSpec {
            kind,
            line: input_line,
            frames,
            first_frame,
            matrix,
            range,
            missing,
        };

        // Nodes.
        let mut nodes = Vec::new();
        for (i, n) in raw.node.into_iter().enumerate() {
            let node_line = at(n.span());
            let n = n.into_inner();
            let plugin = n.plugin.get_ref().trim().to_string();
            if plugin.is_empty() {
                return Err(err(at(n.plugin.span()), "plugin is empty: write a plugin identifier such as \"org.platerestore.Grain\", a bundle path, or BUNDLE:identifier".into()));
            }
            let label = match &n.label {
                Some(l) => l.get_ref().clone(),
                None => plugin.rsplit('.').next().unwrap_or(&plugin).to_lowercase(),
            };
            let device = match pick(&n.device, "device", &["auto", "cpu", "cuda"])? {
                None | Some(0) => NodeDevice::Auto,
                Some(1) => NodeDevice::Cpu,
                _ => NodeDevice::Cuda,
            };
            let context = match &n.context {
                Some(c) => {
                    let s = c.get_ref().to_ascii_lowercase();
                    if s != "filter" && s != "general" {
                        return Err(err(
                            at(c.span()),
                            format!("context = \"{}\": use filter or general", c.get_ref()),
                        ));
                    }
                    Some(s)
                }
                None => None,
            };
            let mut params = Vec::new();
            for (name, v) in &n.params {
                let value = value_text(v.get_ref())
                    .map_err(|m| err(at(v.span()), format!("parameter '{name}': {m}")))?;
                params.push(ParamSpec {
                    name: name.clone(),
                    value,
                    line: at(v.span()),
                });
            }
            let _ = i;
            nodes.push(NodeSpec {
                plugin,
                label,
                line: node_line,
                context,
                device,
                params,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in &nodes {
            if !seen.insert(n.label.clone()) {
                return Err(err(
                    n.line,
                    format!(
                        "two nodes are labelled '{}': give each a distinct `label`",
                        n.label
                    ),
                ));
            }
        }

        // Command-line parameter overrides.
        for s in &overrides.set {
            let bad = |m: String| err(0, format!("--set '{s}': {m}"));
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| bad("write NODE.PARAM=VALUE".into()))?;
            let (node, param) = k
                .split_once('.')
                .ok_or_else(|| bad("write NODE.PARAM=VALUE".into()))?;
            let idx = nodes
                .iter()
                .position(|n| n.label == node)
                .or_else(|| {
                    node.parse::<usize>()
                        .ok()
                        .filter(|&i| i >= 1 && i <= nodes.len())
                        .map(|i| i - 1)
                })
                .ok_or_else(|| {
                    bad(format!(
                        "no node '{node}'; the nodes are: {}",
                        nodes
                            .iter()
                            .map(|n| n.label.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            let ps = &mut nodes[idx].params;
            ps.retain(|p| p.name != param);
            ps.push(ParamSpec {
                name: param.to_string(),
                value: v.to_string(),
                line: 0,
            });
        }

        // Output.
        let ro = raw.output.into_inner();
        let (out_path, out_line) = match &overrides.output {
            Some(p) => (p.clone(), 0),
            None => (ro.path.get_ref().clone(), at(ro.path.span())),
        };
        let out_pattern = crate::io::FramePattern::parse(&out_path)
            .map_err(|e| err(out_line, format!("output path: {e}")))?;
        let format = crate::io::ImageFormat::from_path(&out_pattern.path_for(1))
            .map_err(|e| err(out_line, format!("output path: {e}")))?;
        let is_exr = format == crate::io::ImageFormat::Exr;
        let depth = match &ro.depth {
            Some(d) => {
                let bd: BitDepth = d.get_ref().parse().map_err(|_| {
                    err(
                        at(d.span()),
                        format!(
                            "depth = \"{}\": use half or float (EXR), byte or short (PNG/TIFF)",
                            d.get_ref()
                        ),
                    )
                })?;
                if bd.is_float() != is_exr {
                    return Err(err(
                        at(d.span()),
                        format!(
                            "depth = \"{}\" cannot be stored in a {format} file: use {}",
                            d.get_ref(),
                            if is_exr {
                                "half or float"
                            } else {
                                "byte or short"
                            }
                        ),
                    ));
                }
                Some(bd)
            }
            None => None,
        };
        let mut compression = match &ro.compression {
            Some(c) => c
                .get_ref()
                .parse::<ExrCompression>()
                .map_err(|m| err(at(c.span()), m))?,
            None => ExrCompression::default(),
        };
        if let Some(l) = &ro.dwa_level {
            let level = *l.get_ref() as f32;
            if !(level.is_finite() && level > 0.0) {
                return Err(err(
                    at(l.span()),
                    "dwa_level must be a positive number (OpenEXR's default is 45)".into(),
                ));
            }
            compression = match compression {
                ExrCompression::Dwaa(_) => ExrCompression::Dwaa(level),
                ExrCompression::Dwab(_) => ExrCompression::Dwab(level),
                _ => {
                    return Err(err(
                        at(l.span()),
                        "dwa_level applies to compression = \"dwaa\" or \"dwab\" only".into(),
                    ))
                }
            };
        }
        if !is_exr {
            if let Some(c) = ro.compression.as_ref().or(ro.primaries.as_ref()) {
                return Err(err(
                    at(c.span()),
                    format!("compression and primaries are EXR attributes; the output is {format}"),
                ));
            }
        }
        let primaries = match pick(
            &ro.primaries,
            "primaries",
            &["rec709", "rec2020", "p3-d65", "aces", "acescg", "none"],
        )? {
            None => is_exr.then_some(Primaries::Rec709),
            Some(0) => Some(Primaries::Rec709),
            Some(1) => Some(Primaries::Rec2020),
            Some(2) => Some(Primaries::P3D65),
            Some(3) => Some(Primaries::Aces),
            Some(4) => Some(Primaries::AcesCg),
            _ => None,
        };
        let output = OutputSpec {
            path: out_path,
            line: out_line,
            depth,
            compression,
            primaries,
        };

        let mut parts: Vec<&[u8]> = vec![text.as_bytes()];
        let (i, o) = (
            overrides.input.as_deref().unwrap_or(""),
            overrides.output.as_deref().unwrap_or(""),
        );
        parts.push(i.as_bytes());
        parts.push(o.as_bytes());
        for s in &overrides.set {
            parts.push(s.as_bytes());
        }
        let fingerprint = format!("{:016x}", fnv1a(&parts));
        Ok(Pipeline {
            file: file.to_path_buf(),
            name: raw.name.unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "pipeline".into())
            }),
            description: raw.description.unwrap_or_default(),
            input,
            nodes,
            output,
            fingerprint,
        })
    }
}
