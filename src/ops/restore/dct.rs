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

type Block = [[f32; N]; N];

/// `a · b` for 8×8 matrices, written as row updates (`out[i] += a[i][k] · b[k]`) so that each
/// update is one 8-lane vector operation; the products are summed in a fixed order (no fused
/// multiply-add), so every instruction set gives the same bits.
#[inline(always)]
fn mul(a: &Block, b: &Block) -> Block {
    let mut out = [[0.0f32; N]; N];
    for (o, ar) in out.iter_mut().zip(a) {
        for (&s, br) in ar.iter().zip(b) {
            for (v, &bv) in o.iter_mut().zip(br) {
                *v += s * bv;
            }
        }
    }
    out
}

/// One block: forward DCT, hard threshold of the AC coefficients, inverse DCT.
/// `c` is the basis, `ct` its transpose.
#[inline(always)]
fn shrink(block: &Block, c: &Block, ct: &Block, threshold: f32) -> Block {
    // F = C · B · Cᵀ.
    let mut f = mul(&mul(c, block), ct);
    let dc = f[0][0];
    for v in f.iter_mut().flatten() {
        if v.abs() < threshold {
            *v = 0.0;
        }
    }
    f[0][0] = dc;
    // B = Cᵀ · F · C.
    mul(&mul(ct, &f), c)
}

/// Pixels of context the filter reads around a window.
pub const MARGIN: i32 = N as i32;

/// Filters `src` (3 channels, covering `window` + [`MARGIN`] ∩ `frame`) into `window`;
/// `threshold` is in code values (0..1) on orthonormal coefficients.
pub fn filter(src: &Planar, frame: Rect, window: Rect, threshold: f32) -> Planar {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { filter_avx2(src, frame, window, threshold) };
    }
    filter_with(src, frame, window, threshold)
}

/// [`filter_with`] compiled for AVX2 (8-lane rows); same operations, same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn filter_avx2(src: &Planar, frame: Rect, window: Rect, threshold: f32) -> Planar {
    filter_with(src, frame, window, threshold)
}

/// Output rows per parallel band: a multiple of 8, so the grids at row offset 0 transform each
/// of their blocks once and those at offset 4 one extra block row per band.
const BAND: i32 = 32;

#[inline(always)]
fn filter_with(src: &Planar, frame: Rect, window: Rect, threshold: f32) -> Planar {
    let c = basis();
    let mut ct = c;
    for (k, row) in c.iter().enumerate() {
        for (n, &v) in row.iter().enumerate() {
            ct[n][k] = v;
        }
    }
    let mut out = Planar::zeros(window, 3);
    let w = window.width() as usize;
    if w == 0 || window.height() <= 0 {
        return out;
    }
    let n = N as i32;
    let (ch, stride) = (src.channels, src.rect.width() as usize * src.channels);
    let at = |x: i32, y: i32| {
        let x = x.clamp(frame.x1, frame.x2 - 1);
        let y = y.clamp(frame.y1, frame.y2 - 1);
        (y - src.rect.y1) as usize * stride + (x - src.rect.x1) as usize * ch
    };
    // Bands of output rows aligned to the frame's 8-row block grid.
    let first = frame.y1 + (window.y1 - frame.y1).div_euclid(n) * n;
    let bands: Vec<i32> = (first..window.y2).step_by(BAND as usize).collect();
    let rows_of = |by: i32| (by.max(window.y1), (by + BAND).min(window.y2));
    let mut chunks = Vec::with_capacity(bands.len());
    let mut rest = &mut out.data[..];
    for &by in &bands {
        let (y1, y2) = rows_of(by);
        let (head, tail) = rest.split_at_mut((y2 - y1) as usize * w * 3);
        chunks.push((by, head));
        rest = tail;
    }
    chunks.into_par_iter().for_each(|(by, acc)| {
        let (y1, y2) = rows_of(by);
        for (sx, sy) in [(0, 0), (4, 0), (0, 4), (4, 4)] {
            // The blocks of this grid that hold rows y1..y2.
            let mut oy = frame.y1 + sy + (y1 - frame.y1 - sy).div_euclid(n) * n;
            while oy < y2 {
                let mut ox = frame.x1 + sx + (window.x1 - frame.x1 - sx).div_euclid(n) * n;
                while ox < window.x2 {
                    let mut planes = [[[0.0f32; N]; N]; 3];
                    for j in 0..N {
                        for i in 0..N {
                            let o = at(ox + i as i32, oy + j as i32);
                            for (p, plane) in planes.iter_mut().enumerate() {
                                plane[j][i] = src.data[o + p];
                            }
                        }
                    }
                    let (ry1, ry2) = (oy.max(y1), (oy + n).min(y2));
                    let (rx1, rx2) = (ox.max(window.x1), (ox + n).min(window.x2));
                    for (p, plane) in planes.iter().enumerate() {
                        let b = shrink(plane, &c, &ct, threshold);
                        for y in ry1..ry2 {
                            let row = &b[(y - oy) as usize];
                            let base = (y - y1) as usize * w * 3;
                            for x in rx1..rx2 {
                                acc[base + (x - window.x1) as usize * 3 + p] +=
                                    row[(x - ox) as usize];
                            }
                        }
                    }
                    ox += n;
                }
                oy += n;
            }
        }
        acc.iter_mut().for_each(|v| *v *= 0.25);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plate of 4 channels (the filter reads the first three) with blocks, edges and noise.
    fn plate(frame: Rect) -> Planar {
        let mut p = Planar::zeros(frame, 4);
        let mut h = 0x1234_5678u32;
        for v in p.data.iter_mut() {
            h = h.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
            *v = (h >> 8) as f32 / (1 << 24) as f32 * 0.1;
        }
        for y in frame.y1..frame.y2 {
            for x in frame.x1..frame.x2 {
                let i = p.index(x, y);
                p.data[i] += if (x / 5 + y / 7) % 2 == 0 { 0.3 } else { 0.5 };
                p.data[i + 1] += 0.2 + 0.002 * x as f32;
            }
        }
        p
    }

    /// The definition, pixel by pixel in f64: for each of the four grids, the block holding
    /// the pixel (edge-replicated), its orthonormal DCT by the sums of the definition, AC
    /// coefficients below the threshold zeroed, the inverse at the pixel; the mean of four.
    fn reference(src: &Planar, frame: Rect, x: i32, y: i32, ch: usize, threshold: f64) -> f64 {
        let cos = |k: usize, n: usize| {
            let a = if k == 0 { (1.0f64 / 8.0).sqrt() } else { 0.5 };
            a * (std::f64::consts::PI * (2 * n + 1) as f64 * k as f64 / 16.0).cos()
        };
        let mut sum = 0.0;
        for (sx, sy) in [(0, 0), (4, 0), (0, 4), (4, 4)] {
            let ox = frame.x1 + sx + (x - frame.x1 - sx).div_euclid(8) * 8;
            let oy = frame.y1 + sy + (y - frame.y1 - sy).div_euclid(8) * 8;
            let b = |i: usize, j: usize| {
                let px = (ox + i as i32).clamp(frame.x1, frame.x2 - 1);
                let py = (oy + j as i32).clamp(frame.y1, frame.y2 - 1);
                src.pixel(px, py)[ch] as f64
            };
            let (i0, j0) = ((x - ox) as usize, (y - oy) as usize);
            for k in 0..8 {
                for l in 0..8 {
                    let mut f = 0.0;
                    for j in 0..8 {
                        for i in 0..8 {
                            f += cos(k, j) * cos(l, i) * b(i, j);
                        }
                    }
                    if (k, l) != (0, 0) && f.abs() < threshold {
                        continue;
                    }
                    sum += f * cos(k, j0) * cos(l, i0);
                }
            }
        }
        sum / 4.0
    }

    #[test]
    fn matches_the_definition_on_an_odd_frame_and_window() {
        // Origin and sizes not multiples of 8 or of the band height.
        let frame = Rect::new(-3, 5, 38, 79);
        let src = plate(frame);
        let window = Rect::new(1, 6, 37, 78);
        let t = 0.05f32;
        let out = filter(&src, frame, window, t);
        let mut worst = 0.0f64;
        for y in window.y1..window.y2 {
            for x in window.x1..window.x2 {
                for ch in 0..3 {
                    let e = (out.pixel(x, y)[ch] as f64
                        - reference(&src, frame, x, y, ch, t as f64))
                    .abs();
                    worst = worst.max(e);
                }
            }
        }
        // f32 arithmetic on values below 1; a coefficient within rounding of the threshold
        // could flip, which this plate's noise makes unlikely (and would show as > 1e-3).
        assert!(
            worst < 2e-5,
            "largest difference from the definition {worst}"
        );
        // The filter did something: it is not the identity.
        let moved = (window.y1..window.y2)
            .flat_map(|y| (window.x1..window.x2).map(move |x| (x, y)))
            .filter(|&(x, y)| (out.pixel(x, y)[0] - src.pixel(x, y)[0]).abs() > 1e-3)
            .count();
        assert!(moved > window.pixel_count() / 4, "{moved} pixels changed");
    }

    #[test]
    fn windows_and_instruction_sets_give_the_same_bits() {
        let frame = Rect::new(0, 0, 70, 90);
        let src = plate(frame);
        let whole = filter(&src, frame, frame, 0.04);
        let portable = filter_with(&src, frame, frame, 0.04);
        assert_eq!(whole.data, portable.data, "AVX2 and portable differ");
        for window in [Rect::new(3, 1, 40, 37), Rect::new(33, 36, 70, 90)] {
            let part = filter(&src, frame, window, 0.04);
            for y in window.y1..window.y2 {
                for x in window.x1..window.x2 {
                    assert_eq!(part.pixel(x, y), whole.pixel(x, y), "at {x},{y}");
                }
            }
        }
    }
}
