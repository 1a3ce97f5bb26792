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

/// Debands `src` (3 channels; pixels of `frame`, covering `window` + margin ∩ frame) into the
/// pixels of `window`. `frame_number` varies the dither per frame.
pub fn deband(
    p: &DebandParams,
    src: &Planar,
    frame: Rect,
    window: Rect,
    frame_number: i64,
) -> Planar {
    let mut out = Planar::zeros(window, 3);
    let w = window.width() as usize;
    if w == 0 || p.rings == 0 || p.radius <= 0.0 {
        for y in window.y1..window.y2 {
            for x in window.x1..window.x2 {
                let i = out.index(x, y);
                out.data[i..i + 3].copy_from_slice(src.pixel(x, y));
            }
        }
        return out;
    }
    let key = pcg_hash(p.seed ^ pcg_hash(frame_number as u32 ^ 0x5bd1_e995));
    out.data
        .par_chunks_mut(w * 3)
        .enumerate()
        .for_each(|(r, row)| {
            let y = window.y1 + r as i32;
            for (i, px) in row.chunks_mut(3).enumerate() {
                let x = window.x1 + i as i32;
                let v = src.pixel(x, y);
                let site =
                    pcg_hash(key ^ pcg_hash((y as u32).wrapping_mul(0x9e37_79b9) ^ x as u32));
                let mut acc = [0.0f32; 3];
                let mut n = 0u32;
                for k in 1..=p.rings {
                    // Ring k at a random distance within its share of the radius, at a random
                    // angle: the mean of many such samples varies smoothly across a band instead of
                    // copying the band's own value.
                    let h = pcg_hash(site.wrapping_add(k));
                    let u = 1.0 - unit(pcg_hash(h ^ 0x2545_f491));
                    let radius = (p.radius * (k as f32 - 1.0 + u) / p.rings as f32).max(1.0);
                    let a = unit(h) * std::f32::consts::TAU;
                    let (dx, dy) = (
                        (radius * a.cos()).round() as i32,
                        (radius * a.sin()).round() as i32,
                    );
                    let pts = [(dx, dy), (-dx, -dy), (-dy, dx), (dy, -dx)];
                    let samples = pts.map(|(ox, oy)| {
                        src.pixel(
                            (x + ox).clamp(frame.x1, frame.x2 - 1),
                            (y + oy).clamp(frame.y1, frame.y2 - 1),
                        )
                    });
                    let smooth = samples
                        .iter()
                        .all(|s| (0..3).all(|c| (s[c] - v[c]).abs() <= p.threshold));
                    if smooth {
                        for s in samples {
                            for c in 0..3 {
                                acc[c] += s[c];
                            }
                        }
                        n += 4;
                    }
                }
                if n == 0 {
                    px.copy_from_slice(v);
                    continue;
                }
                let d = if p.dither > 0.0 {
                    let h = pcg_hash(site ^ 0x68e3_1da4);
                    p.dither * (unit(h) - unit(pcg_hash(h)))
                } else {
                    0.0
                };
                for c in 0..3 {
                    px[c] = acc[c] / n as f32 + d;
                }
            }
        });
    out
}
