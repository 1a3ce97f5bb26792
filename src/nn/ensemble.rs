//! Self-ensemble: a network run on flipped and transposed copies of the frame, each result
//! mapped back and the results averaged. A network trained on flipped and rotated patches (as
//! every shipped one is) makes errors that partly differ between orientations, so their mean
//! is closer to the truth: the "geometric self-ensemble" of Timofte, Rothe & Van Gool ("Seven
//! ways to improve example-based single image super resolution", CVPR 2016) and Lim et al.
//! (EDSR, CVPRW 2017). It costs one run of the network per orientation.
//!
//! Each orientation is a symmetry of the pixel grid about the frame's origin (x ↦ −1 − x,
//! x ↔ y), so a transformed frame is again a frame of whole pixels, output pixels map the same
//! way as input pixels (output pixel X of a ×s network covers input pixel ⌊X / s⌋, and
//! −1 − X covers −1 − ⌊X / s⌋), and every pass is tiled exactly as a plain run is: a window's
//! pixels do not depend on the tiling, and the mean is summed in one fixed order.

use super::region::{run_region, tile_count, NetDevice, Report};
use super::{Model, Planar, TileSource};
use crate::image::Rect;
use crate::ops::{Abort, OpError};
use rayon::prelude::*;

/// One of the 8 symmetries of the square pixel grid: transpose (x ↔ y) first, then mirror
/// x ↦ −1 − x and/or y ↦ −1 − y.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orientation {
    pub transpose: bool,
    pub flip_x: bool,
    pub flip_y: bool,
}

/// How many orientations a run may average.
pub const ORIENTATION_COUNTS: [usize; 4] = [1, 2, 4, 8];

impl Orientation {
    pub const IDENTITY: Orientation = Orientation {
        transpose: false,
        flip_x: false,
        flip_y: false,
    };

    /// The first `n` of the 8 in a fixed order: the identity; the mirror image; the two
    /// flips (a half turn being both); then the same four transposed.
    pub fn first(n: usize) -> Vec<Orientation> {
        (0..8usize.min(n))
            .map(|i| Orientation {
                transpose: i >= 4,
                flip_x: i & 1 == 1,
                flip_y: i & 2 == 2,
            })
            .collect()
    }

    /// Where pixel (x, y) goes.
    pub fn point(self, x: i32, y: i32) -> (i32, i32) {
        let (x, y) = if self.transpose { (y, x) } else { (x, y) };
        (
            if self.flip_x { -1 - x } else { x },
            if self.flip_y { -1 - y } else { y },
        )
    }

    /// Where the pixel that goes to (u, v) comes from.
    pub fn back(self, u: i32, v: i32) -> (i32, i32) {
        let u = if self.flip_x { -1 - u } else { u };
        let v = if self.flip_y { -1 - v } else { v };
        if self.transpose {
            (v, u)
        } else {
            (u, v)
        }
    }

    /// Where a rectangle of pixels goes.
    pub fn rect(self, r: Rect) -> Rect {
        let r = if self.transpose {
            Rect::new(r.y1, r.x1, r.y2, r.x2)
        } else {
            r
        };
        let (x1, x2) = if self.flip_x {
            (-r.x2, -r.x1)
        } else {
            (r.x1, r.x2)
        };
        let (y1, y2) = if self.flip_y {
            (-r.y2, -r.y1)
        } else {
            (r.y1, r.y2)
        };
        Rect::new(x1, y1, x2, y2)
    }
}

/// `inner` seen in orientation `o`: pixel (u, v) reads `inner`'s pixel `o.back(u, v)`.
struct Oriented<'a> {
    inner: &'a dyn TileSource,
    o: Orientation,
    channels: usize,
}

impl TileSource for Oriented<'_> {
    fn read_row(&self, y: i32, x1: i32, width: usize, out: &mut [f32]) {
        let c = self.channels;
        if !self.o.transpose {
            // A row stays a row: read it at once, mirrored back if need be.
            let (start, row) = self.o.back(x1 + width as i32 - 1, y);
            let x = if self.o.flip_x { start } else { x1 };
            self.inner.read_row(row, x, width, out);
            if self.o.flip_x {
                let px = &mut out[..width * c];
                for i in 0..width / 2 {
                    for k in 0..c {
                        px.swap(i * c + k, (width - 1 - i) * c + k);
                    }
                }
            }
            return;
        }
        for (i, px) in out[..width * c].chunks_exact_mut(c).enumerate() {
            let (x, y) = self.o.back(x1 + i as i32, y);
            self.inner.read_row(y, x, 1, px);
        }
    }
}

/// Tiles an ensemble of `n` orientations computes (for progress totals).
pub fn ensemble_tile_count(
    model: &Model,
    frame: Rect,
    region: Rect,
    tile: usize,
    n: usize,
) -> usize {
    Orientation::first(n)
        .into_iter()
        .map(|o| tile_count(model, o.rect(frame), o.rect(region), tile))
        .sum()
}

/// `model`'s output over `region`, the mean of its runs on the first `n` orientations of the
/// frame (`n` = 1 is exactly [`run_region`]). `after_row` counts tiles across all of them.
#[allow(clippy::too_many_arguments)]
pub fn run_ensemble(
    model: &Model,
    source: &dyn TileSource,
    frame: Rect,
    region: Rect,
    n: usize,
    device: NetDevice<'_>,
    abort: &dyn Abort,
    after_row: &mut dyn FnMut(usize),
) -> Result<(Planar, Report), OpError> {
    if !ORIENTATION_COUNTS.contains(&n) {
        return Err(OpError::InvalidParam(format!(
            "{n} orientations: the ensemble averages 1, 2, 4 or 8"
        )));
    }
    if n == 1 {
        return run_region(model, source, frame, region, device, abort, after_row);
    }
    let c = model.spec.out_channels;
    let mut sum = Planar::zeros(region, c);
    let mut report = Report::default();
    let w = region.width() as usize;
    for o in Orientation::first(n) {
        let src = Oriented {
            inner: source,
            o,
            channels: model.spec.in_channels,
        };
        let (r, rep) = run_region(
            model,
            &src,
            o.rect(frame),
            o.rect(region),
            device,
            abort,
            after_row,
        )?;
        report.merge(rep);
        sum.data
            .par_chunks_mut(w * c)
            .enumerate()
            .for_each(|(row, out)| {
                let y = region.y1 + row as i32;
                for (i, px) in out.chunks_exact_mut(c).enumerate() {
                    let (u, v) = o.point(region.x1 + i as i32, y);
                    for (a, b) in px.iter_mut().zip(r.pixel(u, v)) {
                        *a += b;
                    }
                }
            });
    }
    let k = 1.0 / n as f32;
    sum.data.par_iter_mut().for_each(|v| *v *= k);
    Ok((sum, report))
}
