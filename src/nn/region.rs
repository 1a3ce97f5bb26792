//! Running a network over a region on the chosen device: the one driver every neural effect
//! uses. The region is cut into rows of the engine's tiles so the caller can report progress
//! from its own thread between rows; a GPU failure falls back to the CPU for the rest.

use super::cpu::{self, Kernels, RunOptions};
use super::{Model, Planar, TileSource};
use crate::device::{CudaEngine, DeviceError};
use crate::image::Rect;
use crate::ops::{Abort, OpError};
use std::sync::Mutex;

/// Where a network runs.
#[derive(Clone, Copy)]
pub enum NetDevice<'a> {
    Cpu(RunOptions),
    /// A GPU (own stream, frames uploaded); tile edge in output pixels.
    Cuda(&'a CudaEngine, usize),
}

impl NetDevice<'_> {
    pub fn tile(&self) -> usize {
        match self {
            NetDevice::Cpu(o) => o.tile,
            NetDevice::Cuda(_, t) => *t,
        }
    }
}

/// What a run did, for the effect to tell the user.
#[derive(Debug, Default)]
pub struct Report {
    /// The network ran on the GPU.
    pub gpu: bool,
    /// The GPU was asked for and failed; the CPU finished the render.
    pub gpu_error: Option<DeviceError>,
}

impl Report {
    pub fn merge(&mut self, other: Report) {
        self.gpu |= other.gpu;
        if other.gpu_error.is_some() {
            self.gpu_error = other.gpu_error;
        }
    }
}

/// Tiles a run of `model` over `region` of `frame` computes (for progress totals).
pub fn tile_count(model: &Model, frame: Rect, region: Rect, tile: usize) -> usize {
    super::unshuffle::tiles(model, frame, region, tile).len()
}

/// `model`'s output over `region` (output pixels) for the frame whose input pixels `source`
/// gives. `after_row(tiles)` is called on the calling thread after each row of tiles.
#[allow(clippy::too_many_arguments)]
pub fn run_region(
    model: &Model,
    source: &dyn TileSource,
    frame: Rect,
    region: Rect,
    device: NetDevice<'_>,
    abort: &dyn Abort,
    after_row: &mut dyn FnMut(usize),
) -> Result<(Planar, Report), OpError> {
    let c = model.spec.out_channels;
    let out = Mutex::new(Planar::zeros(region, c));
    let sink = |t: Planar| out.lock().unwrap_or_else(|e| e.into_inner()).paste(&t);
    let tile = device.tile();
    let mut report = Report::default();
    for band in tile_rows(model, frame, region, tile) {
        let cpu_run = |kernels| {
            let options = RunOptions { tile, kernels };
            cpu::run(model, source, frame, band, options, abort, &sink)
        };
        match device {
            NetDevice::Cpu(o) => cpu_run(o.kernels)?,
            NetDevice::Cuda(engine, t) => {
                match engine.run_nn(model, source, frame, band, t, abort, &sink) {
                    Ok(()) => report.gpu = true,
                    Err(DeviceError::Aborted) => return Err(OpError::Aborted),
                    Err(e) => {
                        report.gpu_error = Some(e);
                        cpu_run(Kernels::detect())?;
                    }
                }
            }
        }
        after_row(tile_count(model, frame, band, tile));
    }
    Ok((out.into_inner().unwrap_or_else(|e| e.into_inner()), report))
}

/// `region` cut into bands one tile high, on the engine's tile grid (anchored at the output
/// frame's origin; tiles are whole multiples of the stack's shuffle factor).
fn tile_rows(model: &Model, frame: Rect, region: Rect, tile: usize) -> Vec<Rect> {
    let s = model.spec.net_scale();
    let t = (tile.max(1).div_ceil(s) * s) as i32;
    let of = cpu::output_frame(frame, model.scale());
    let mut bands = Vec::new();
    let mut y = region.y1;
    while y < region.y2 {
        let next = (of.y1 + ((y - of.y1).div_euclid(t) + 1) * t).min(region.y2);
        bands.push(Rect::new(region.x1, y, region.x2, next));
        y = next;
    }
    bands
}
