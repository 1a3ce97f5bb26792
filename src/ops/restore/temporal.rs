//! Temporal fusion (Temporal radius > 0): the neighbouring frames, aligned to the frame being
//! restored, are averaged into it where they agree with it, before the spatial restoration.
//!
//! Compression damage differs from frame to frame (each frame is quantised against its own
//! prediction), while the picture moves, so an aligned average keeps the picture and cancels
//! part of the damage. Alignment is integer block matching on a fixed grid; where a
//! neighbour still disagrees (motion the block vector does not describe, occlusions, cuts)
//! its weight falls to zero, so moving content does not ghost.
//!
//! Every value is a function of a pixel's neighbourhood on grids anchored at the frame origin:
//! a tile renders the same pixels as the full frame. The sums run in a fixed order.

use crate::image::Rect;
use crate::nn::Planar;
use rayon::prelude::*;

/// Block edge of the motion grid, in pixels.
pub const BLOCK: i32 = 16;
/// Largest displacement searched, in pixels each way (a 6 px/frame pan at radius 1, 3 at 2).
pub const SEARCH: i32 = 6;
/// Context around a block that its match compares.
const PAD: i32 = 4;
/// Agreement scale, in code values: a neighbour whose 3×3 mean difference from the centre
/// is this large gets weight e⁻¹; twice it, e⁻⁴. About the size of the coding error of
/// CRF 30-class H.264, small against real picture differences.
const AGREE: f32 = 4.0 / 255.0;

/// Input pixels around a fused pixel that fusion reads: its block's match area (block,
/// pad, the 3×3 agreement window) plus the search range in the neighbours.
pub const MARGIN: i32 = BLOCK + PAD + SEARCH + 2;

/// Luma-like sum used for matching (weights 1:2:1, no encoding assumed).
fn luma(p: &[f32]) -> f32 {
    0.25 * p[0] + 0.5 * p[1] + 0.25 * p[2]
}

/// Pixel (x, y) clamped to the frame; the planar must cover it (it covers `frame` ∩ its rect,
/// and callers give rects grown by [`MARGIN`]).
fn at(p: &Planar, frame: Rect, x: i32, y: i32) -> &[f32] {
    let x = x
        .clamp(frame.x1, frame.x2 - 1)
        .clamp(p.rect.x1, p.rect.x2 - 1);
    let y = y
        .clamp(frame.y1, frame.y2 - 1)
        .clamp(p.rect.y1, p.rect.y2 - 1);
    p.pixel(x, y)
}

/// The displacement of the block at (`bx`, `by`) (grid indices) from `centre` into
/// `neighbour`: the integer vector with the least sum of absolute luma differences over the
/// block and its pad (every second pixel each way), zero preferred on ties.
fn block_vector(centre: &Planar, neighbour: &Planar, frame: Rect, bx: i32, by: i32) -> (i32, i32) {
    let x0 = frame.x1 + bx * BLOCK;
    let y0 = frame.y1 + by * BLOCK;
    let area = Rect::new(x0 - PAD, y0 - PAD, x0 + BLOCK + PAD, y0 + BLOCK + PAD).intersect(&frame);
    let mut samples = Vec::new();
    for y in (area.y1..area.y2).step_by(2) {
        for x in (area.x1..area.x2).step_by(2) {
            samples.push((x, y, luma(centre.pixel(x, y))));
        }
    }
    let sad = |dx: i32, dy: i32| -> f32 {
        samples
            .iter()
            .map(|&(x, y, l)| (l - luma(at(neighbour, frame, x + dx, y + dy))).abs())
            .sum()
    };
    let mut best = (0, 0);
    let mut best_sad = sad(0, 0);
    for dy in -SEARCH..=SEARCH {
        for dx in -SEARCH..=SEARCH {
            if (dx, dy) == (0, 0) {
                continue;
            }
            let s = sad(dx, dy);
            if s < best_sad {
                best_sad = s;
                best = (dx, dy);
            }
        }
    }
    best
}

/// The fused colour (3 channels) over `rect`: the centre frame plus each aligned neighbour
/// weighted by its agreement. `centre` and every neighbour must cover `rect` grown by
/// [`MARGIN`] (within the frame); they hold the plates' colour in code values.
pub fn fuse(centre: &Planar, neighbours: &[Planar], frame: Rect, rect: Rect) -> Planar {
    let mut out = Planar::zeros(rect, 3);
    if rect.is_empty() {
        return out;
    }
    // Blocks touching rect grown by the 3×3 window: their vectors, per neighbour.
    let g = Rect::new(rect.x1 - 1, rect.y1 - 1, rect.x2 + 1, rect.y2 + 1).intersect(&frame);
    let bx0 = (g.x1 - frame.x1).div_euclid(BLOCK);
    let by0 = (g.y1 - frame.y1).div_euclid(BLOCK);
    let bx1 = (g.x2 - 1 - frame.x1).div_euclid(BLOCK);
    let by1 = (g.y2 - 1 - frame.y1).div_euclid(BLOCK);
    let bw = (bx1 - bx0 + 1) as usize;
    let blocks: Vec<(i32, i32)> = (by0..=by1)
        .flat_map(|by| (bx0..=bx1).map(move |bx| (bx, by)))
        .collect();
    let vectors: Vec<Vec<(i32, i32)>> = neighbours
        .iter()
        .map(|n| {
            blocks
                .par_iter()
                .map(|&(bx, by)| block_vector(centre, n, frame, bx, by))
                .collect()
        })
        .collect();
    let vector_at = |k: usize, x: i32, y: i32| {
        let bx = (x - frame.x1).div_euclid(BLOCK) - bx0;
        let by = (y - frame.y1).div_euclid(BLOCK) - by0;
        vectors[k][by as usize * bw + bx as usize]
    };
    let w = rect.width() as usize;
    out.data
        .par_chunks_mut(w * 3)
        .enumerate()
        .for_each(|(r, row)| {
            let y = rect.y1 + r as i32;
            for (i, o) in row.chunks_mut(3).enumerate() {
                let x = rect.x1 + i as i32;
                let c = centre.pixel(x, y);
                let mut sum = [c[0], c[1], c[2]];
                let mut wsum = 1.0f32;
                for (k, n) in neighbours.iter().enumerate() {
                    let (dx, dy) = vector_at(k, x, y);
                    // Mean difference over the 3×3 window (in the frame), per channel.
                    let mut d = [0.0f32; 3];
                    let mut cnt = 0.0f32;
                    for yy in (y - 1).max(frame.y1)..(y + 2).min(frame.y2) {
                        for xx in (x - 1).max(frame.x1)..(x + 2).min(frame.x2) {
                            let (a, b) = (centre.pixel(xx, yy), at(n, frame, xx + dx, yy + dy));
                            for ch in 0..3 {
                                d[ch] += a[ch] - b[ch];
                            }
                            cnt += 1.0;
                        }
                    }
                    let dmax = d.iter().fold(0.0f32, |m, v| m.max(v.abs())) / cnt;
                    let q = dmax / AGREE;
                    let wt = (-q * q).exp();
                    let b = at(n, frame, x + dx, y + dy);
                    for ch in 0..3 {
                        sum[ch] += wt * b[ch];
                    }
                    wsum += wt;
                }
                for ch in 0..3 {
                    o[ch] = sum[ch] / wsum;
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured frame shifted by (sx, sy): value at (x, y) = texture(x − sx, y − sy).
    fn textured(rect: Rect, sx: i32, sy: i32, noise_seed: u32, noise: f32) -> Planar {
        let mut p = Planar::zeros(rect, 3);
        let mut s = noise_seed.wrapping_mul(2654435761).wrapping_add(1);
        for y in rect.y1..rect.y2 {
            for x in rect.x1..rect.x2 {
                let (u, v) = ((x - sx) as f32, (y - sy) as f32);
                let base = 0.5
                    + 0.2 * (u * 0.37).sin() * (v * 0.23).cos()
                    + 0.1 * (u * 0.11 + v * 0.05).sin();
                let i = p.index(x, y);
                for c in 0..3 {
                    s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                    let n = ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2.0 * noise;
                    p.data[i + c] = base + 0.05 * c as f32 + n;
                }
            }
        }
        p
    }

    fn rms(a: &Planar, b: &Planar, rect: Rect) -> f32 {
        let mut s = 0.0f64;
        let mut n = 0.0f64;
        for y in rect.y1..rect.y2 {
            for x in rect.x1..rect.x2 {
                for c in 0..3 {
                    let d = (a.pixel(x, y)[c] - b.pixel(x, y)[c]) as f64;
                    s += d * d;
                    n += 1.0;
                }
            }
        }
        (s / n).sqrt() as f32
    }

    #[test]
    fn a_pan_is_aligned_and_independent_noise_averages_down() {
        let frame = Rect::new(0, 0, 96, 64);
        let clean = textured(frame, 0, 0, 0, 0.0);
        // Pan 2 px right and 1 down per frame; independent noise ±4 codes per frame.
        let amp = 4.0 / 255.0;
        let centre = textured(frame, 0, 0, 1, amp);
        let ns = vec![
            textured(frame, -2, -1, 2, amp),
            textured(frame, 2, 1, 3, amp),
        ];
        let inner = Rect::new(8, 8, 88, 56);
        let fused = fuse(&centre, &ns, frame, inner);
        let before = rms(&centre, &clean, inner);
        let after = rms(&fused, &clean, inner);
        // Three independent, equally weighted samples: RMS ÷ √3 when every weight is 1;
        // the agreement weights (3×3 mean noise ≈ 0.8 codes against a 4-code scale) are
        // near 1, so well over a third of the noise power must go.
        assert!(after < 0.7 * before, "noise RMS {before} → {after}");
    }

    #[test]
    fn content_that_does_not_match_is_not_blended_in() {
        let frame = Rect::new(0, 0, 64, 64);
        let centre = textured(frame, 0, 0, 1, 0.0);
        // A neighbour with a different picture (a cut): flat grey.
        let mut other = Planar::zeros(frame, 3);
        other.data.iter_mut().for_each(|v| *v = 0.9);
        let fused = fuse(&centre, &[other], frame, frame);
        let err = rms(&fused, &centre, frame);
        assert!(err < 1.0 / 255.0, "ghosting: {} codes", err * 255.0);
    }

    #[test]
    fn tiles_fuse_the_same_pixels_as_the_whole_frame() {
        let frame = Rect::new(-5, 3, 83, 70);
        let amp = 3.0 / 255.0;
        let centre = textured(frame, 0, 0, 1, amp);
        let ns = vec![
            textured(frame, 3, -2, 2, amp),
            textured(frame, -1, 4, 3, amp),
        ];
        let whole = fuse(&centre, &ns, frame, frame);
        for tile in [
            Rect::new(-5, 3, 20, 30),
            Rect::new(31, 17, 50, 44),
            Rect::new(60, 50, 83, 70),
        ] {
            // Each tile gets only its grown region, as a host's region of interest would give.
            let roi = Rect::new(
                tile.x1 - MARGIN,
                tile.y1 - MARGIN,
                tile.x2 + MARGIN,
                tile.y2 + MARGIN,
            )
            .intersect(&frame);
            let crop = |p: &Planar| {
                let mut c = Planar::zeros(roi, 3);
                for y in roi.y1..roi.y2 {
                    for x in roi.x1..roi.x2 {
                        let (i, j) = (c.index(x, y), p.index(x, y));
                        c.data[i..i + 3].copy_from_slice(&p.data[j..j + 3]);
                    }
                }
                c
            };
            let t = fuse(
                &crop(&centre),
                &ns.iter().map(crop).collect::<Vec<_>>(),
                frame,
                tile,
            );
            for y in tile.y1..tile.y2 {
                for x in tile.x1..tile.x2 {
                    assert_eq!(t.pixel(x, y), whole.pixel(x, y), "({x}, {y}) in {tile:?}");
                }
            }
        }
    }
}
