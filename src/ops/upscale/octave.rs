//! Adaptive detail: how much of the network's detail to trust, block by block, measured on the
//! plate itself one octave (one network factor) down.
//!
//! An upscaling network cannot tell from a plate alone whether a soft area is a defocused
//! background (add nothing) or fine texture lost to the camera (add detail), so it invents
//! texture in both. But the plate is its own ground truth one step down: box-downscaled by the
//! network's factor and upscaled by the network, it should give the plate back. Per
//! [`BLOCK`]×[`BLOCK`] block of the network's input, the least-squares scale of the network's
//! residual r (its output minus the Lanczos-3 upscale of that smaller plate) against the true
//! residual e (the plate minus the same Lanczos upscale), Σ r·e / Σ r², clamped to
//! [[`FLOOR`], 1], says how much of its detail is right there. The map, bilinear between block
//! centres, scales the detail of the real render.
//!
//! Everything is a function of absolute pixel coordinates (the blocks lie on a grid anchored
//! at the origin, and each block's scale reads the whole block), so tiles and windows give the
//! same pixels as a full-frame render. Study and figures: `training/octave_scale.py`,
//! BENCHMARKS.md (Upscale, Adaptive detail).

use super::resample::{self, Filter};
use super::{downscaled_frame, NetInput, Network, UpscaleParams};
use crate::image::Rect;
use crate::nn::ensemble::ensemble_tile_count;
use crate::nn::{self, cpu, NetDevice, Planar, Report};
use crate::ops::{Abort, OpError};
use rayon::prelude::*;

/// Block side, in pixels of the network's input (the plate in Resize mode). Blocks of 8, 16 and
/// 32 gave the same figures to 0.01 dB on the held-out images; 16 is a map local enough to
/// follow a focus edge and still sums 768 values per scale.
pub const BLOCK: i32 = 16;

/// The smallest scale a block gets. The octave-down check also distrusts detail where a codec
/// smeared the plate (the network's deblocking has no counterpart one octave down), so a floor
/// keeps part of it there: 0.5 kept most of the gain on soft plates and most of the gain on
/// compressed ones (BENCHMARKS.md, Upscale).
pub const FLOOR: f32 = 0.5;

/// The part of a render's progress the measurement reports: its network runs on 1 / s² of the
/// pixels the render's own network runs on (s: the factor), so 1 / (1 + s²) of the work.
pub fn progress_share(net: &Network) -> f64 {
    let s = net.scale() as f64;
    1.0 / (1.0 + s * s)
}

/// The per-block scales over a range of blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct OctaveMap {
    /// Block indices (block (i, j) covers network-input pixels [i·B, (i+1)·B) × [j·B, (j+1)·B)).
    pub blocks: Rect,
    pub scale: Vec<f32>,
    /// The network's factor: output pixel x lies at network-input coordinate (x + ½) / factor.
    factor: f64,
}

/// The geometry of one measurement: which blocks a detail region needs, and where they lie.
struct Plan {
    /// Network-input pixels per box of the network's input (1 in Resize, the factor in Enhance).
    block_in: i32,
    /// The network's input frame, and the frame one octave down.
    input_frame: Rect,
    octave_frame: Rect,
    blocks: Rect,
    /// The network-input pixels the blocks cover (inside the input frame).
    measured: Rect,
}

/// Whether Adaptive detail applies to these parameters and this network: a network that makes
/// the whole factor in one pass (a ×2 model applied twice for ×4 is left as it is).
pub fn applies(params: &UpscaleParams, net: &Network) -> bool {
    params.adaptive && params.uses_network() && net.passes == 1
}

/// Block index of a network-input coordinate's lower bilinear neighbour.
fn lower_block(u: f64) -> i32 {
    (u / BLOCK as f64 - 0.5).floor() as i32
}

fn plan(params: &UpscaleParams, net: &Network, frame: Rect, ext: Rect) -> Plan {
    let s = net.scale() as i32;
    let block_in = match params.mode {
        super::Mode::Resize => 1,
        super::Mode::Enhance => s,
    };
    let input_frame = downscaled_frame(frame, block_in);
    let octave_frame = downscaled_frame(frame, block_in * s);
    let f = s as f64;
    let u = |o: i32| (o as f64 + 0.5) / f;
    // Blocks that hold input pixels, and the bilinear neighbours of the region's outputs.
    let (lo, hi) = (
        |v: i32| v.div_euclid(BLOCK),
        |v: i32| (v - 1).div_euclid(BLOCK) + 1,
    );
    let inside = Rect::new(
        lo(input_frame.x1),
        lo(input_frame.y1),
        hi(input_frame.x2),
        hi(input_frame.y2),
    );
    let blocks = Rect::new(
        lower_block(u(ext.x1)),
        lower_block(u(ext.y1)),
        lower_block(u(ext.x2 - 1)) + 2,
        lower_block(u(ext.y2 - 1)) + 2,
    )
    .intersect(&inside);
    let measured = Rect::new(
        blocks.x1 * BLOCK,
        blocks.y1 * BLOCK,
        blocks.x2 * BLOCK,
        blocks.y2 * BLOCK,
    )
    .intersect(&input_frame);
    Plan {
        block_in,
        input_frame,
        octave_frame,
        blocks,
        measured,
    }
}

/// Plate pixels the measurement for the detail region `ext` reads.
pub fn region_of_interest(params: &UpscaleParams, net: &Network, frame: Rect, ext: Rect) -> Rect {
    let p = plan(params, net, frame, ext);
    if p.measured.is_empty() {
        return Rect::new(0, 0, 0, 0);
    }
    let up = |r: Rect, k: i32| Rect::new(r.x1 * k, r.y1 * k, r.x2 * k, r.y2 * k);
    let net_reads = net.input_region(p.octave_frame, p.measured);
    let f = net.scale() as f64;
    let lanczos_reads = resample::footprint(Filter::Lanczos3, f, p.octave_frame, p.measured);
    let octave = super::union(net_reads, lanczos_reads);
    let s = net.scale() as i32;
    super::union(up(octave, s * p.block_in), up(p.measured, p.block_in)).intersect(&frame)
}

/// Measures the map for the detail region `ext` (output pixels) from `plate` (in `encoding`,
/// covering [`region_of_interest`]). `progress` gets the fraction of the network's tiles done
/// after each row of them.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    params: &UpscaleParams,
    net: &Network,
    plate: &Planar,
    frame: Rect,
    ext: Rect,
    device: NetDevice<'_>,
    abort: &dyn Abort,
    progress: &dyn Fn(f64),
) -> Result<(OctaveMap, Report), OpError> {
    let p = plan(params, net, frame, ext);
    let mut map = OctaveMap {
        blocks: p.blocks,
        scale: vec![1.0; p.blocks.pixel_count()],
        factor: net.scale() as f64,
    };
    if p.measured.is_empty() {
        return Ok((map, Report::default()));
    }
    let source = |block: i32| NetInput {
        plate,
        frame,
        from: params.encoding,
        to: net.encoding(),
        block,
    };
    let s = net.scale() as i32;
    let (input, octave) = (source(p.block_in), source(s * p.block_in));
    let n = params.orientations;
    let total = ensemble_tile_count(&net.model, p.octave_frame, p.measured, device.tile(), n);
    let mut done = 0usize;
    let (out, report) = nn::run_ensemble(
        &net.model,
        &octave,
        p.octave_frame,
        p.measured,
        n,
        device,
        abort,
        &mut |tiles| {
            done += tiles;
            progress(done as f64 / total.max(1) as f64);
        },
    )?;
    let fp = resample::footprint(Filter::Lanczos3, s as f64, p.octave_frame, p.measured);
    let lanczos = resample::resample(
        Filter::Lanczos3,
        s as f64,
        &cpu::tile_input(&net.model, &octave, p.octave_frame, fp),
        p.octave_frame,
        p.measured,
    );
    let truth = cpu::tile_input(&net.model, &input, p.input_frame, p.measured);
    let bw = p.blocks.width() as usize;
    map.scale.par_iter_mut().enumerate().for_each(|(i, k)| {
        let (bx, by) = (p.blocks.x1 + (i % bw) as i32, p.blocks.y1 + (i / bw) as i32);
        let cell = Rect::new(bx * BLOCK, by * BLOCK, (bx + 1) * BLOCK, (by + 1) * BLOCK)
            .intersect(&p.input_frame);
        let (mut re, mut rr) = (0.0f64, 0.0f64);
        for y in cell.y1..cell.y2 {
            for x in cell.x1..cell.x2 {
                let (n, l, t) = (out.pixel(x, y), lanczos.pixel(x, y), truth.pixel(x, y));
                for c in 0..3 {
                    let r = (n[c] - l[c]) as f64;
                    re += r * (t[c] - l[c]) as f64;
                    rr += r * r;
                }
            }
        }
        // Mean-square terms as the study has them: a block where the network adds nothing
        // measurable gets the floor, and the flat-area gate decides there anyway. A block
        // holding a NaN or an infinity measures nothing: it keeps the detail as it is, so a
        // bad pixel does not spread over its block.
        let n = (cell.pixel_count() * 3) as f64;
        let scale = (re / n) / (rr / n + 1e-12);
        *k = if scale.is_finite() {
            scale.clamp(FLOOR as f64, 1.0) as f32
        } else {
            1.0
        };
    });
    Ok((map, report))
}

impl OctaveMap {
    /// A map of `scale` (row by row) over `blocks`, for a network of `factor`.
    pub fn new(blocks: Rect, scale: Vec<f32>, factor: f64) -> OctaveMap {
        assert_eq!(scale.len(), blocks.pixel_count());
        OctaveMap {
            blocks,
            scale,
            factor,
        }
    }

    /// The scale at a network-input coordinate: bilinear between block centres, the edge
    /// blocks' values beyond them.
    fn weights(&self, u: f64, lo: i32, hi: i32) -> (usize, usize, f32) {
        let b = u / BLOCK as f64 - 0.5;
        let j = b.floor() as i32;
        let t = (b - j as f64) as f32;
        let at = |j: i32| (j.clamp(lo, hi - 1) - lo) as usize;
        (at(j), at(j + 1), t)
    }

    /// Multiplies the detail `d` (3 channels, output pixels) by the map.
    pub fn apply(&self, d: &mut Planar) {
        let r = d.rect;
        if r.is_empty() || self.blocks.is_empty() {
            return;
        }
        let u = |o: i32| (o as f64 + 0.5) / self.factor;
        let cols: Vec<(usize, usize, f32)> = (r.x1..r.x2)
            .map(|x| self.weights(u(x), self.blocks.x1, self.blocks.x2))
            .collect();
        let bw = self.blocks.width() as usize;
        let w = r.width() as usize;
        d.data
            .par_chunks_mut(w * 3)
            .enumerate()
            .for_each(|(i, row)| {
                let (j0, j1, ty) = self.weights(u(r.y1 + i as i32), self.blocks.y1, self.blocks.y2);
                let (top, bottom) = (&self.scale[j0 * bw..][..bw], &self.scale[j1 * bw..][..bw]);
                for (px, &(i0, i1, tx)) in row.chunks_exact_mut(3).zip(&cols) {
                    let a = top[i0] + tx * (top[i1] - top[i0]);
                    let b = bottom[i0] + tx * (bottom[i1] - bottom[i0]);
                    let k = a + ty * (b - a);
                    for v in px.iter_mut() {
                        *v *= k;
                    }
                }
            });
    }
}
