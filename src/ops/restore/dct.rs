//! The classical fast mode: shift-averaged 8×8 DCT shrinkage (the idea of ffmpeg's `spp` and
//! `dctdnoiz`). Each of four block grids (offsets 0 and 4 in x and y, anchored at the frame's
//! origin, where JPEG and video codecs put their blocks) is transformed, its AC coefficients
//! below the threshold zeroed, transformed back; a pixel is the mean of its four blocks. Blocks
//! depend only on their position, so tiles never change a pixel.

use crate::image::Rect;
use crate::nn::Planar;
use rayon::prelude::*;

const N: usize = 8;

/// Orthonormal DCT-II basis: `C[k][n] = a_k cos(π (2n + 1) k / 16)`, `a_0 = √(1/8)`, else `√(2/8)`.
fn basis() -> [[f32; N]; N] {
    let mut c = [[0.0f32; N]; N];
    for (k, row) in c.iter_mut().enumerate() {
        let a = if k == 0 {
            (1.0f64 / 8.0).sqrt()
        } else {
            (2.0f64 / 8.0).sqrt()
        };
        for (n, v) in row.iter_mut().enumerate() {
            *v = (a * (std::f64::consts::PI * (2 * n + 1) as f64 * k as f64 / 16.0).cos()) as f32;
        }
    }
    c
}

/// One block: forward DCT, hard threshold of the AC coefficients, inverse DCT (in place).
fn shrink(block: &mut [[f32; N]; N], c: &[[f32; N]; N], threshold: f32) {
    let mut t = [[0.0f32; N]; N];
    // Rows then columns: T = C · B · Cᵀ.
    for y in 0..N {
        for k in 0..N {
            t[y][k] = (0..N).map(|n| c[k][n] * block[y][n]).sum();
        }
    }
    let mut f = [[0.0f32; N]; N];
    for k in 0..N {
        for l in 0..N {
            f[k][l] = (0..N).map(|y| c[k][y] * t[y][l]).sum();
        }
    }
    for (k, row) in f.iter_mut().enumerate() {
        for (l, v) in row.iter_mut().enumerate() {
            if (k, l) != (0, 0) && v.abs() < threshold {
                *v = 0.0;
            }
        }
    }
    // Inverse: B = Cᵀ · F · C.
    for y in 0..N {
        for l in 0..N {
            t[y][l] = (0..N).map(|k| c[k][y] * f[k][l]).sum();
        }
    }
    for y in 0..N {
        for x in 0..N {
            block[y][x] = (0..N).map(|l| t[y][l] * c[l][x]).sum();
        }
    }
}

/// Pixels of context the filter reads around a window.
pub const MARGIN: i32 = N as i32;

/// Filters `src` (3 channels, covering `window` + [`MARGIN`] ∩ `frame`) into `window`;
/// `threshold` is in code values (0..1) on orthonormal coefficients.
pub fn filter(src: &Planar, frame: Rect, window: Rect, threshold: f32) -> Planar {
    let c = basis();
    let mut out = Planar::zeros(window, 3);
    let w = window.width() as usize;
    if w == 0 {
        return out;
    }
    let n = N as i32;
    let at = |x: i32, y: i32| {
        src.pixel(
            x.clamp(frame.x1, frame.x2 - 1),
            y.clamp(frame.y1, frame.y2 - 1),
        )
    };
    // One band of output rows per 8-row block row of the finest grid.
    let first = frame.y1 + (window.y1 - frame.y1).div_euclid(4) * 4;
    let bands: Vec<i32> = (first..window.y2).step_by(4).collect();
    let parts: Vec<(i32, Vec<f32>)> = bands
        .par_iter()
        .map(|&by| {
            // Rows by..by+4 of the output, as the mean over the 4 grids of their blocks.
            let y1 = by.max(window.y1);
            let y2 = (by + 4).min(window.y2);
            let mut acc = vec![0.0f32; (y2 - y1).max(0) as usize * w * 3];
            for (sx, sy) in [(0, 0), (4, 0), (0, 4), (4, 4)] {
                // The block of this grid holding rows by..by+4.
                let oy = frame.y1 + sy + (by - frame.y1 - sy).div_euclid(n) * n;
                let ox0 = frame.x1 + sx + (window.x1 - frame.x1 - sx).div_euclid(n) * n;
                let mut ox = ox0;
                while ox < window.x2 {
                    for ch in 0..3 {
                        let mut b = [[0.0f32; N]; N];
                        for (j, row) in b.iter_mut().enumerate() {
                            for (i, v) in row.iter_mut().enumerate() {
                                *v = at(ox + i as i32, oy + j as i32)[ch];
                            }
                        }
                        shrink(&mut b, &c, threshold);
                        for y in y1..y2 {
                            for x in ox.max(window.x1)..(ox + n).min(window.x2) {
                                let v = b[(y - oy) as usize][(x - ox) as usize];
                                acc[((y - y1) as usize * w + (x - window.x1) as usize) * 3 + ch] +=
                                    v;
                            }
                        }
                    }
                    ox += n;
                }
            }
            acc.iter_mut().for_each(|v| *v *= 0.25);
            (y1, acc)
        })
        .collect();
    for (y1, rows) in parts {
        if rows.is_empty() {
            continue;
        }
        let i = out.index(window.x1, y1);
        out.data[i..i + rows.len()].copy_from_slice(&rows);
    }
    out
}
