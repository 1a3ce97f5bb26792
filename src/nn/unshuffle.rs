//! The geometry a network's convolution stack runs in. For most networks that is the input
//! frame itself. An unshuffled network (`unshuffle` u > 1, docs/model-format.md) runs on the
//! frame's u×u blocks: pixel unshuffle (PyTorch's `pixel_unshuffle`, channel
//! `ch·u² + i·u + j` ← pixel (u·x + j, u·y + i) of channel `ch`) in front of the head and pixel
//! shuffle by u after the tail. The block grid is anchored at the frame's origin, so a block
//! never depends on the window or the tiling; a frame whose sides are not multiples of u has
//! its last blocks completed by repeating the edge pixel, and the output is cropped back.
//!
//! Both runners (CPU `cpu::run`, GPU `device::nn::run_tiles_on`) call [`lowered`] once and
//! work in the stack's frame from there on, with `spec.net_scale()` as their shuffle factor.

use super::{Model, Planar, TileSource};
use crate::image::Rect;

/// The frame the stack runs on: the input frame, or its u×u blocks with the origin at (0, 0).
pub fn net_frame(model: &Model, frame: Rect) -> Rect {
    let u = model.spec.unshuffle as i32;
    if u == 1 {
        return frame;
    }
    Rect::new(
        0,
        0,
        (frame.width() + u - 1) / u,
        (frame.height() + u - 1) / u,
    )
}

/// `window` (output pixels) in the stack's output coordinates.
pub fn net_window(model: &Model, frame: Rect, window: Rect) -> Rect {
    if model.spec.unshuffle == 1 {
        return window;
    }
    shift(window.intersect(&frame), -frame.x1, -frame.y1)
}

/// The tiles a run of `model` over `window` computes, in the stack's output coordinates.
pub fn tiles(model: &Model, frame: Rect, window: Rect, tile: usize) -> Vec<Rect> {
    super::cpu::tiles(
        net_frame(model, frame),
        model.spec.net_scale(),
        net_window(model, frame, window),
        tile,
    )
}

/// Calls `run(source, frame, tiles, sink)` in the stack's geometry, with the tiles of `window`
/// (edge `tile`): for an unshuffled model the source reads u×u blocks and each finished tile
/// goes back to frame coordinates, cropped to the frame, before it reaches `sink`.
pub fn lowered<R>(
    model: &Model,
    source: &dyn TileSource,
    frame: Rect,
    window: Rect,
    tile: usize,
    sink: &(dyn Fn(Planar) + Sync),
    run: impl FnOnce(&dyn TileSource, Rect, Vec<Rect>, &(dyn Fn(Planar) + Sync)) -> R,
) -> R {
    let list = tiles(model, frame, window, tile);
    let u = model.spec.unshuffle;
    if u == 1 {
        return run(source, frame, list, sink);
    }
    let blocks = Blocks {
        source,
        frame,
        u: u as i32,
        channels: model.spec.in_channels,
    };
    let back = |t: Planar| {
        let placed = Planar {
            rect: shift(t.rect, frame.x1, frame.y1),
            ..t
        };
        let r = placed.rect.intersect(&frame);
        if r == placed.rect {
            sink(placed);
        } else if !r.is_empty() {
            sink(placed.crop(r));
        }
    };
    run(&blocks, net_frame(model, frame), list, &back)
}

fn shift(r: Rect, dx: i32, dy: i32) -> Rect {
    Rect::new(r.x1 + dx, r.y1 + dy, r.x2 + dx, r.y2 + dy)
}

/// The u×u blocks of `source`'s frame as pixels of `channels`·u² values.
struct Blocks<'a> {
    source: &'a dyn TileSource,
    frame: Rect,
    u: i32,
    channels: usize,
}

impl TileSource for Blocks<'_> {
    fn read_row(&self, y: i32, x1: i32, width: usize, out: &mut [f32]) {
        let (u, c, f) = (self.u, self.channels, self.frame);
        let uu = (u * u) as usize;
        // The frame's pixels under these blocks (the last block may reach past the frame).
        let xs = f.x1 + u * x1;
        let n = ((f.x1 + u * (x1 + width as i32)).min(f.x2) - xs) as usize;
        let mut row = vec![0.0f32; n * c];
        for i in 0..u {
            let fy = (f.y1 + u * y + i).min(f.y2 - 1);
            self.source.read_row(fy, xs, n, &mut row);
            for k in 0..width {
                let px = &mut out[k * c * uu..(k + 1) * c * uu];
                for j in 0..u {
                    let sx = ((u * k as i32 + j) as usize).min(n - 1);
                    let at = (i * u + j) as usize;
                    for ch in 0..c {
                        px[ch * uu + at] = row[sx * c + ch];
                    }
                }
            }
        }
    }
}
