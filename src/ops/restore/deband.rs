//! Debanding in the manner of f3kdb (flash3kyuu_deband): a pixel in a smooth area is replaced
//! by the mean of samples taken at a random angle on rings around it, but only where every
//! sample lies within a threshold of it — so gradients lose their 8-bit steps while edges and
//! texture (where some sample differs by more) are left alone.
//!
//! Single pass, every comparison against the input: a pixel depends on its own neighbourhood
//! only, never on the tiling. Distance and angle come from a counter hash of (seed, frame, x,
//! y, ring), so the result is deterministic and the residual steps become fine noise.

use crate::image::Rect;
use crate::nn::Planar;
use crate::ops::grain::field::pcg_hash;
use rayon::prelude::*;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DebandParams {
    /// Outer ring radius in pixels.
    pub radius: f32,
    /// Largest difference (any channel, 0..1 code values) a sample may have from the pixel.
    pub threshold: f32,
    /// Rings of samples between radius/rings and radius.
    pub rings: u32,
    /// Triangular dither of ± `dither` (code values) on debanded pixels; 0 = none.
    pub dither: f32,
    pub seed: u32,
}

impl Default for DebandParams {
    fn default() -> Self {
        DebandParams {
            radius: 16.0,
            threshold: 2.0 / 255.0,
            rings: 2,
            dither: 0.0,
            seed: 0,
        }
    }
}

impl DebandParams {
    /// Pixels of context needed on each side.
    pub fn margin(&self) -> i32 {
        self.radius.ceil() as i32 + 1
    }
}

/// Unit-interval value from a hash.
fn unit(h: u32) -> f32 {
    (h >> 8) as f32 / (1u32 << 24) as f32
}

/// Number of sample directions: a ring sample's angle is one of these, chosen by the top bits
/// of its hash. At the largest radius (64 px) neighbouring directions are 1.6 px apart on the
/// ring, at the default 16 px 0.4 px, so the rounded offsets cover the ring as a continuous
/// angle would (and no sine or cosine is evaluated per pixel).
const DIRECTIONS: usize = 256;

/// Rows per parallel task, and columns per strip within it.
const BAND_ROWS: usize = 16;
const STRIP: usize = 128;

fn directions() -> &'static [[f32; 2]; DIRECTIONS] {
    static TABLE: OnceLock<[[f32; 2]; DIRECTIONS]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| {
            let a = (i as f64 + 0.5) * std::f64::consts::TAU / DIRECTIONS as f64;
            [a.cos() as f32, a.sin() as f32]
        })
    })
}

/// Nearest integer, halves away from zero (|v| < 2²³), without branches or a library call
/// (baseline x86-64 has no rounding instruction; `f32::round` cost a tenth of the stage, and
/// a branch on the fraction is mispredicted half the time here).
fn round_i32(v: f32) -> i32 {
    (v + 0.5f32.copysign(v)) as i32
}

/// Debands `src` (3 or more channels, the first three colour; pixels of `frame`, covering
/// `window` + margin ∩ frame) into the pixels of `window` (3 channels). `frame_number` varies
/// the dither per frame.
pub fn deband(
    p: &DebandParams,
    src: &Planar,
    frame: Rect,
    window: Rect,
    frame_number: i64,
) -> Planar {
    let mut out = Planar::zeros(window, 3);
    let w = window.width() as usize;
    if w == 0 {
        return out;
    }
    if p.rings == 0 || p.radius <= 0.0 {
        out.data
            .par_chunks_mut(w * 3)
            .enumerate()
            .for_each(|(r, row)| {
                let y = window.y1 + r as i32;
                for (i, px) in row.chunks_mut(3).enumerate() {
                    px.copy_from_slice(&src.pixel(window.x1 + i as i32, y)[..3]);
                }
            });
        return out;
    }
    let key = pcg_hash(p.seed ^ pcg_hash(frame_number as u32 ^ 0x5bd1_e995));
    let dirs = directions();
    let ring_width = p.radius / p.rings as f32;
    let (ch, stride) = (src.channels, src.rect.width() as usize * src.channels);
    let data = &src.data[..];
    // Offset of (x, y), clamped to the frame, in `data`.
    let at = |x: i32, y: i32| {
        let x = x.clamp(frame.x1, frame.x2 - 1);
        let y = y.clamp(frame.y1, frame.y2 - 1);
        (y - src.rect.y1) as usize * stride + (x - src.rect.x1) as usize * ch
    };
    // One pixel's result.
    let debanded = |x: i32, y: i32| -> [f32; 3] {
        let c = at(x, y);
        let v = [data[c], data[c + 1], data[c + 2]];
        let site = pcg_hash(key ^ pcg_hash((y as u32).wrapping_mul(0x9e37_79b9) ^ x as u32));
        let mut acc = [0.0f32; 3];
        let mut n = 0u32;
        for k in 1..=p.rings {
            // Ring k at a random distance within its share of the radius, at a random angle:
            // the mean of many such samples varies smoothly across a band instead of copying
            // the band's own value.
            let h = pcg_hash(site.wrapping_add(k));
            let u = 1.0 - unit(pcg_hash(h ^ 0x2545_f491));
            let radius = (ring_width * (k as f32 - 1.0 + u)).max(1.0);
            let [cos, sin] = dirs[(h >> 24) as usize];
            let (dx, dy) = (round_i32(radius * cos), round_i32(radius * sin));
            // Four samples a quarter turn apart; all must lie within the threshold (tested
            // without branches: the outcome is random in a banded area).
            let mut smooth = true;
            let mut sum = [0.0f32; 3];
            for j in [
                at(x + dx, y + dy),
                at(x - dx, y - dy),
                at(x - dy, y + dx),
                at(x + dy, y - dx),
            ] {
                for c in 0..3 {
                    let s = data[j + c];
                    smooth &= (s - v[c]).abs() <= p.threshold;
                    sum[c] += s;
                }
            }
            if smooth {
                for c in 0..3 {
                    acc[c] += sum[c];
                }
                n += 4;
            }
        }
        if n == 0 {
            return v;
        }
        let d = if p.dither > 0.0 {
            let h = pcg_hash(site ^ 0x68e3_1da4);
            p.dither * (unit(h) - unit(pcg_hash(h)))
        } else {
            0.0
        };
        acc.map(|a| a / n as f32 + d)
    };
    // Bands of rows, each walked in strips of columns: the samples of a strip (its rows ± the
    // radius) stay in the core's cache, where whole rows did not (the stage was bound by the
    // latency of its gathers).
    out.data
        .par_chunks_mut(w * 3 * BAND_ROWS)
        .enumerate()
        .for_each(|(b, band)| {
            let y0 = window.y1 + (b * BAND_ROWS) as i32;
            let rows = band.len() / (w * 3);
            for x0 in (0..w).step_by(STRIP) {
                let x1 = (x0 + STRIP).min(w);
                for r in 0..rows {
                    let y = y0 + r as i32;
                    let row = &mut band[(r * w + x0) * 3..(r * w + x1) * 3];
                    for (i, px) in row.chunks_exact_mut(3).enumerate() {
                        px.copy_from_slice(&debanded(window.x1 + (x0 + i) as i32, y));
                    }
                }
            }
        });
    out
}
