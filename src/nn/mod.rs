//! The neural engine: model files (safetensors + PlateRestore metadata, docs/model-format.md),
//! their validation, a process-wide weight cache, and the runners that evaluate a network over
//! any region of a frame in tiles with a halo, so a tile's pixels never depend on the tiling.
//!
//! It lives inside the plugin crate (`src/nn/`) rather than a crate of its own because it is
//! an op like the others: it shares `image`, `device` (CUDA engine, module cache) and the op
//! contract, and the effects call it directly.

pub mod cache;
pub mod cpu;
pub mod ensemble;
pub mod file;
pub mod model;
pub mod region;
pub mod spec;
pub mod unshuffle;

pub use cache::{load_model, shipped_model, shipped_models_dir};
pub use ensemble::{run_ensemble, Orientation};
pub use model::{Conv, ConvActivation, Model};
pub use region::{run_region, NetDevice, Report};
pub use spec::{Activation, ModelSpec, Skip, Task, TrainedEncoding};

use crate::image::Rect;

/// Why a model could not be loaded or run. Messages name the file's problem and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NnError {
    #[error("cannot read model file {path}: {error}")]
    Io { path: String, error: String },
    #[error("model file is {bytes} bytes, more than the {limit}-byte limit for a model")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("not a valid safetensors file: {0}")]
    Container(String),
    #[error("model metadata: {0}")]
    Metadata(String),
    #[error("unknown network architecture {found}; this PlateRestore runs: {supported}")]
    UnknownArchitecture { found: String, supported: String },
    #[error("tensor `{name}` {problem}")]
    Tensor { name: String, problem: String },
    #[error("no shipped model named `{0}` in the bundle's models folder")]
    NoShippedModel(String),
}

/// Where a runner reads the network's input: rows of `in_channels` floats per pixel, in the
/// model's trained encoding. Only called for pixels inside the frame.
pub trait TileSource: Sync {
    /// Fills `out` (`width × channels` values) with row `y`, pixels `x1 .. x1 + width`.
    fn read_row(&self, y: i32, x1: i32, width: usize, out: &mut [f32]);
}

/// A channel-interleaved (HWC) f32 buffer covering `rect`: activations, inputs and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Planar {
    pub rect: Rect,
    pub channels: usize,
    pub data: Vec<f32>,
}

impl Planar {
    pub fn zeros(rect: Rect, channels: usize) -> Planar {
        Planar {
            rect,
            channels,
            data: vec![0.0; rect.pixel_count() * channels],
        }
    }

    /// Index of channel 0 of pixel (x, y), which must lie inside `rect`.
    pub fn index(&self, x: i32, y: i32) -> usize {
        ((y - self.rect.y1) as usize * self.rect.width() as usize + (x - self.rect.x1) as usize)
            * self.channels
    }

    pub fn pixel(&self, x: i32, y: i32) -> &[f32] {
        let i = self.index(x, y);
        &self.data[i..i + self.channels]
    }

    /// Copies `src`'s pixels where the two rects overlap (same channel count).
    pub fn paste(&mut self, src: &Planar) {
        debug_assert_eq!(self.channels, src.channels);
        let r = self.rect.intersect(&src.rect);
        if r.is_empty() {
            return;
        }
        let n = r.width() as usize * self.channels;
        for y in r.y1..r.y2 {
            let (a, b) = (self.index(r.x1, y), src.index(r.x1, y));
            self.data[a..a + n].copy_from_slice(&src.data[b..b + n]);
        }
    }

    /// The pixels of `rect` (inside `self.rect`).
    pub fn crop(&self, rect: Rect) -> Planar {
        let mut out = Planar::zeros(rect, self.channels);
        out.paste(self);
        out
    }

    /// From PyTorch's (C, H, W) order, placed at `(x1, y1)`.
    pub fn from_chw(
        values: &[f32],
        channels: usize,
        width: usize,
        height: usize,
        x1: i32,
        y1: i32,
    ) -> Planar {
        let rect = Rect::new(x1, y1, x1 + width as i32, y1 + height as i32);
        let mut p = Planar::zeros(rect, channels);
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    p.data[(y * width + x) * channels + c] = values[(c * height + y) * width + x];
                }
            }
        }
        p
    }
}

/// A `Planar` image as a source (pixels outside its rect read as its nearest edge pixel).
impl TileSource for Planar {
    fn read_row(&self, y: i32, x1: i32, width: usize, out: &mut [f32]) {
        let c = self.channels;
        let yy = y.clamp(self.rect.y1, self.rect.y2 - 1);
        for i in 0..width {
            let xx = (x1 + i as i32).clamp(self.rect.x1, self.rect.x2 - 1);
            out[i * c..(i + 1) * c].copy_from_slice(self.pixel(xx, yy));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
