//! What a model file says the network is: the `platerestore` metadata of docs/model-format.md,
//! parsed from JSON into typed values and checked (ranges, consistency) before any tensor is read.

use super::NnError;
use serde_json::{Map, Value};

/// The metadata format this reader understands (docs/model-format.md).
pub const FORMAT: &str = "platerestore.model";
pub const FORMAT_VERSION: u64 = 1;
/// The metadata key in the safetensors `__metadata__` map.
pub const METADATA_KEY: &str = "platerestore";

/// Architectures this engine runs, with the versions it knows.
pub const ARCHITECTURES: &[(&str, u64)] = &[("plain-conv", 1)];

/// Limits that keep a hostile or mistaken file from asking for absurd work or memory.
pub const MAX_CHANNELS: usize = 256;
pub const MAX_BODY_CONVS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Upscale,
    Restore,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// One learned slope per channel (tensor `*.alpha`).
    Prelu,
    Relu,
    LeakyRelu(f32),
    Silu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// PyTorch `interpolate(mode="bilinear", align_corners=False)` of the centre frame.
    Bilinear,
    /// Separable Lanczos-3 (`docs/model-format.md`): a zero residual is a Lanczos resize.
    Lanczos3,
    /// PyTorch `interpolate(mode="nearest")`.
    Nearest,
    /// The centre frame itself (scale 1).
    Identity,
    None,
}

/// The colour encoding a network was trained in (its input and output code values, 0..1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainedEncoding {
    Srgb,
    Bt1886,
    Linear,
}

/// A validated description of one network.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub architecture: String,
    pub architecture_version: u64,
    pub task: Task,
    pub scale: usize,
    pub frames: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub channels: usize,
    pub body_convs: usize,
    pub activation: Activation,
    pub skip: Skip,
    pub encoding: TrainedEncoding,
    pub receptive_field: usize,
    /// The stack runs at 1/u resolution: pixel unshuffle (space-to-depth) by u in front of the
    /// head, pixel shuffle by u after the tail, identity skip (1 = off; restoration only).
    pub unshuffle: usize,
    pub license: String,
    /// The free-form training summary, kept as JSON text for display.
    pub training: String,
}

impl ModelSpec {
    /// 3×3 convolutions in the stack (head + body + tail).
    pub fn conv_count(&self) -> usize {
        self.body_convs + 2
    }

    /// Pixels of input context needed on each side of an input pixel's footprint: one per 3×3
    /// convolution (the skip's footprint, at most one pixel, lies inside it). Unshuffled, one
    /// u×u block per convolution plus the rest of the pixel's own block: u·convs + u − 1.
    pub fn halo(&self) -> usize {
        let u = self.unshuffle;
        u * self.conv_count() + u - 1
    }

    /// Channels the head convolution reads: the plate's channels × u² when unshuffled.
    pub fn net_in_channels(&self) -> usize {
        self.in_channels * self.unshuffle * self.unshuffle
    }

    /// The pixel-shuffle factor after the tail: scale × u. The stack's own frame is the input
    /// frame divided by u (rounded up), so its output frame is the input frame × scale, padded.
    pub fn net_scale(&self) -> usize {
        self.scale * self.unshuffle
    }

    /// Multiply-adds per input pixel (per u×u block ÷ u² when unshuffled).
    pub fn macs_per_input_pixel(&self) -> usize {
        let c = self.channels;
        let s = self.net_scale();
        9 * (self.net_in_channels() * c + self.body_convs * c * c + c * self.out_channels * s * s)
            / (self.unshuffle * self.unshuffle)
    }

    /// Parses and checks the JSON text of the `platerestore` metadata entry.
    pub fn from_json(text: &str) -> Result<ModelSpec, NnError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| NnError::Metadata(format!("the metadata is not valid JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| NnError::Metadata("the metadata must be a JSON object".into()))?;
        let format = string(obj, "format")?;
        if format != FORMAT {
            return Err(NnError::Metadata(format!(
                "`format` is \"{format}\", expected \"{FORMAT}\""
            )));
        }
        let version = uint(obj, "format_version")?;
        if version != FORMAT_VERSION {
            return Err(NnError::Metadata(format!(
                "format version {version} is not supported (this PlateRestore reads version {FORMAT_VERSION}); update PlateRestore"
            )));
        }
        let architecture = string(obj, "architecture")?.to_string();
        let architecture_version = uint(obj, "architecture_version")?;
        if !ARCHITECTURES
            .iter()
            .any(|(a, v)| *a == architecture && *v == architecture_version)
        {
            let known: Vec<String> = ARCHITECTURES
                .iter()
                .map(|(a, v)| format!("{a} v{v}"))
                .collect();
            return Err(NnError::UnknownArchitecture {
                found: format!("{architecture} v{architecture_version}"),
                supported: known.join(", "),
            });
        }
        let task = match string(obj, "task")? {
            "upscale" => Task::Upscale,
            "restore" => Task::Restore,
            other => return Err(bad("task", other, "\"upscale\" or \"restore\"")),
        };
        let scale = uint(obj, "scale")? as usize;
        match (task, scale) {
            (Task::Upscale, 2 | 4) | (Task::Restore, 1) => {}
            _ => {
                return Err(NnError::Metadata(format!(
                    "`scale` {scale} does not fit task {task:?} (upscale: 2 or 4, restore: 1)"
                )))
            }
        }
        let frames = match obj.get("frames") {
            None => 1,
            Some(_) => uint(obj, "frames")? as usize,
        };
        if !matches!(frames, 1 | 3 | 5) {
            return Err(bad("frames", &frames.to_string(), "1, 3 or 5"));
        }
        let in_channels = uint(obj, "in_channels")? as usize;
        if in_channels != 3 * frames {
            return Err(NnError::Metadata(format!(
                "`in_channels` is {in_channels}, but {frames} RGB frame(s) make {}",
                3 * frames
            )));
        }
        let out_channels = uint(obj, "out_channels")? as usize;
        if out_channels != 3 {
            return Err(bad("out_channels", &out_channels.to_string(), "3 (RGB)"));
        }
        let channels = uint(obj, "channels")? as usize;
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(bad(
                "channels",
                &channels.to_string(),
                &format!("1..={MAX_CHANNELS}"),
            ));
        }
        let body_convs = uint(obj, "body_convs")? as usize;
        if body_convs > MAX_BODY_CONVS {
            return Err(bad(
                "body_convs",
                &body_convs.to_string(),
                &format!("0..={MAX_BODY_CONVS}"),
            ));
        }
        let activation = match string(obj, "activation")? {
            "prelu" => Activation::Prelu,
            "relu" => Activation::Relu,
            "silu" => Activation::Silu,
            "leaky_relu" => {
                let slope = obj
                    .get("leaky_slope")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| missing("leaky_slope", "a number"))?;
                if !slope.is_finite() || slope.abs() > 1.0 {
                    return Err(bad("leaky_slope", &slope.to_string(), "-1..=1"));
                }
                Activation::LeakyRelu(slope as f32)
            }
            other => {
                return Err(bad(
                    "activation",
                    other,
                    "\"prelu\", \"relu\", \"leaky_relu\" or \"silu\"",
                ))
            }
        };
        let skip = match string(obj, "skip")? {
            "bilinear" => Skip::Bilinear,
            "lanczos3" => Skip::Lanczos3,
            "nearest" => Skip::Nearest,
            "identity" => Skip::Identity,
            "none" => Skip::None,
            other => {
                return Err(bad(
                    "skip",
                    other,
                    "\"bilinear\", \"lanczos3\", \"nearest\", \"identity\" or \"none\"",
                ))
            }
        };
        if skip == Skip::Identity && scale != 1 {
            return Err(NnError::Metadata(
                "`skip` \"identity\" needs scale 1; use \"bilinear\" or \"nearest\"".into(),
            ));
        }
        if skip == Skip::Lanczos3 && body_convs == 0 {
            // The skip reads 3 input pixels each side; the tile's halo is one per convolution.
            return Err(NnError::Metadata(
                "`skip` \"lanczos3\" needs at least one body convolution".into(),
            ));
        }
        let encoding = match string(obj, "encoding")? {
            "srgb" => TrainedEncoding::Srgb,
            "bt1886" => TrainedEncoding::Bt1886,
            "linear" => TrainedEncoding::Linear,
            other => return Err(bad("encoding", other, "\"srgb\", \"bt1886\" or \"linear\"")),
        };
        let unshuffle = match obj.get("unshuffle") {
            None => 1,
            Some(_) => uint(obj, "unshuffle")? as usize,
        };
        if !matches!(unshuffle, 1 | 2 | 4 | 8) {
            return Err(bad("unshuffle", &unshuffle.to_string(), "1, 2, 4 or 8"));
        }
        if unshuffle > 1 && (task != Task::Restore || !matches!(skip, Skip::Identity | Skip::None))
        {
            return Err(NnError::Metadata(format!(
                "`unshuffle` {unshuffle} needs task \"restore\" with skip \"identity\" or \"none\""
            )));
        }
        let receptive_field = uint(obj, "receptive_field")? as usize;
        let expected_rf = unshuffle * (2 * (body_convs + 2) + 1);
        if receptive_field != expected_rf {
            let blocks = if unshuffle > 1 {
                format!(" on {unshuffle}×{unshuffle} blocks")
            } else {
                String::new()
            };
            return Err(NnError::Metadata(format!(
                "`receptive_field` is {receptive_field}, but {} 3×3 convolutions{blocks} see {expected_rf} pixels",
                body_convs + 2
            )));
        }
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("unnamed")
            .to_string();
        let license = obj
            .get("license")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let training = obj
            .get("training")
            .map(Value::to_string)
            .unwrap_or_default();
        Ok(ModelSpec {
            name,
            architecture,
            architecture_version,
            task,
            scale,
            frames,
            in_channels,
            out_channels,
            channels,
            body_convs,
            activation,
            skip,
            encoding,
            receptive_field,
            unshuffle,
            license,
            training,
        })
    }

    /// The tensors the architecture needs, with their shapes, in file naming.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let c = self.channels;
        let s = self.net_scale();
        let tail_out = self.out_channels * s * s;
        let mut t = Vec::with_capacity(3 * self.conv_count());
        let mut layer = |prefix: String, cin: usize, cout: usize, act: bool| {
            t.push((format!("{prefix}.weight"), vec![cout, cin, 3, 3]));
            t.push((format!("{prefix}.bias"), vec![cout]));
            if act && self.activation == Activation::Prelu {
                t.push((format!("{prefix}.alpha"), vec![cout]));
            }
        };
        layer("head".into(), self.net_in_channels(), c, true);
        for i in 0..self.body_convs {
            layer(format!("body.{i}"), c, c, true);
        }
        layer("tail".into(), c, tail_out, false);
        t
    }
}

fn missing(key: &str, what: &str) -> NnError {
    NnError::Metadata(format!("`{key}` is missing or not {what}"))
}

fn bad(key: &str, value: &str, expected: &str) -> NnError {
    NnError::Metadata(format!("`{key}` is {value}; expected {expected}"))
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, NnError> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| missing(key, "a string"))
}

fn uint(obj: &Map<String, Value>, key: &str) -> Result<u64, NnError> {
    obj.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| missing(key, "a non-negative integer"))
}
