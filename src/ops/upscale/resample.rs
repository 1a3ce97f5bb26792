//! Classical separable resampling: Lanczos 3 and two bicubics, for any factor ≥ 1, with the
//! frame's edge pixels extended. An output pixel depends only on its coordinates and the input,
//! never on the window it is rendered in, so tiles and full frames agree bit for bit.

use super::Planar;
use crate::image::Rect;
use rayon::prelude::*;

/// The interpolation kernel of a classical resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// Lanczos, a = 3: sinc(x)·sinc(x/3) on |x| < 3 (the usual "Lanczos" of ffmpeg, OIIO, Nuke).
    Lanczos3,
    /// Keys' cubic convolution, a = −0.5 (Mitchell–Netravali B = 0, C = 0.5): interpolating
    /// and sharp; most applications' "bicubic".
    CatmullRom,
    /// Mitchell–Netravali B = C = 1/3: softer, with the least ringing of the cubics.
    Mitchell,
}

impl Filter {
    /// Half-width of the kernel in input pixels.
    pub fn support(self) -> i32 {
        match self {
            Filter::Lanczos3 => 3,
            Filter::CatmullRom | Filter::Mitchell => 2,
        }
    }

    /// The kernel at distance `x` (input pixels).
    pub fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Lanczos3 => {
                if x < 1e-12 {
                    1.0
                } else if x < 3.0 {
                    let px = std::f64::consts::PI * x;
                    3.0 * px.sin() * (px / 3.0).sin() / (px * px)
                } else {
                    0.0
                }
            }
            Filter::CatmullRom => mitchell_netravali(x, 0.0, 0.5),
            Filter::Mitchell => mitchell_netravali(x, 1.0 / 3.0, 1.0 / 3.0),
        }
    }
}

/// Mitchell & Netravali, "Reconstruction filters in computer graphics" (SIGGRAPH 1988), eq. 8.
fn mitchell_netravali(x: f64, b: f64, c: f64) -> f64 {
    let (x2, x3) = (x * x, x * x * x);
    let v = if x < 1.0 {
        (12.0 - 9.0 * b - 6.0 * c) * x3 + (-18.0 + 12.0 * b + 6.0 * c) * x2 + (6.0 - 2.0 * b)
    } else if x < 2.0 {
        (-b - 6.0 * c) * x3
            + (6.0 * b + 30.0 * c) * x2
            + (-12.0 * b - 48.0 * c) * x
            + (8.0 * b + 24.0 * c)
    } else {
        0.0
    };
    v / 6.0
}

/// The input taps of one output coordinate: indices (already clamped to the frame) and
/// normalised weights, plus the reference tap the sum is taken relative to.
#[derive(Debug, Clone)]
pub struct Taps {
    pub index: Vec<i32>,
    pub weight: Vec<f32>,
    pub reference: i32,
}

/// Input coordinate of output pixel `o` at `factor`: pixel centres scale about the origin, as
/// canonical coordinates do, so any frame origin maps consistently.
pub fn source_coordinate(o: i32, factor: f64) -> f64 {
    (o as f64 + 0.5) / factor - 0.5
}

pub fn taps(filter: Filter, factor: f64, o: i32, lo: i32, hi: i32) -> Taps {
    let u = source_coordinate(o, factor);
    let base = u.floor() as i32;
    let s = filter.support();
    let mut index = Vec::with_capacity(2 * s as usize);
    let mut w = Vec::with_capacity(2 * s as usize);
    for i in base - s + 1..=base + s {
        index.push(i.clamp(lo, hi - 1));
        w.push(filter.weight(u - i as f64));
    }
    let sum: f64 = w.iter().sum();
    Taps {
        index,
        weight: w.iter().map(|v| (v / sum) as f32).collect(),
        reference: (u.round() as i32).clamp(lo, hi - 1),
    }
}

/// Input pixels (inside `frame`) that the outputs in `window` read.
pub fn footprint(filter: Filter, factor: f64, frame: Rect, window: Rect) -> Rect {
    if window.is_empty() || frame.is_empty() {
        return Rect::new(0, 0, 0, 0);
    }
    let s = filter.support();
    let lo = |o: i32| source_coordinate(o, factor).floor() as i32 - s + 1;
    let hi = |o: i32| source_coordinate(o, factor).floor() as i32 + s + 1;
    Rect::new(
        lo(window.x1),
        lo(window.y1),
        hi(window.x2 - 1),
        hi(window.y2 - 1),
    )
    .intersect(&frame)
}

/// Resamples `src` (pixels of `frame`, any channel count; it must cover
/// [`footprint`]`(window)`) into the output pixels `window`.
pub fn resample(filter: Filter, factor: f64, src: &Planar, frame: Rect, window: Rect) -> Planar {
    let c = src.channels;
    let mut out = Planar::zeros(window, c);
    if window.is_empty() {
        return out;
    }
    let xt: Vec<Taps> = (window.x1..window.x2)
        .map(|o| taps(filter, factor, o, frame.x1, frame.x2))
        .collect();
    let fp = footprint(filter, factor, frame, window);
    debug_assert!(src.rect.contains(&fp));
    // Horizontal pass: every input row of the footprint, at the window's output columns.
    let w = window.width() as usize;
    let mut h = Planar::zeros(Rect::new(window.x1, fp.y1, window.x2, fp.y2), c);
    // Tap offsets within a source row, in values (pixel index × channels).
    let xs: Vec<(usize, Vec<usize>)> = xt
        .iter()
        .map(|t| {
            let off = |x: i32| (x - src.rect.x1) as usize * c;
            (off(t.reference), t.index.iter().map(|&x| off(x)).collect())
        })
        .collect();
    h.data
        .par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(r, row)| {
            let y = fp.y1 + r as i32;
            let base = src.index(src.rect.x1, y);
            let line = &src.data[base..base + src.rect.width() as usize * c];
            match c {
                4 => horizontal::<4>(line, &xt, &xs, row),
                3 => horizontal::<3>(line, &xt, &xs, row),
                _ => {
                    for ((t, (rf, offs)), out) in xt.iter().zip(&xs).zip(row.chunks_mut(c)) {
                        for (ch, o) in out.iter_mut().enumerate() {
                            let r0 = line[rf + ch];
                            let mut acc = 0.0f32;
                            for (&off, &wt) in offs.iter().zip(&t.weight) {
                                acc += wt * (line[off + ch] - r0);
                            }
                            *o = r0 + acc;
                        }
                    }
                }
            }
        });
    // Vertical pass.
    out.data
        .par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(r, row)| {
            let t = taps(filter, factor, window.y1 + r as i32, frame.y1, frame.y2);
            let line = |y: i32| {
                let b = h.index(window.x1, y);
                &h.data[b..b + w * c]
            };
            // Tap by tap over the whole row (so the loop over pixels vectorises), each pixel
            // summing its taps in the same order as a per-pixel loop would: the same bits.
            let rf = line(t.reference);
            let mut acc = vec![0.0f32; row.len()];
            for (&y, &wt) in t.index.iter().zip(&t.weight) {
                for ((a, &l), &base) in acc.iter_mut().zip(line(y)).zip(rf) {
                    *a += wt * (l - base);
                }
            }
            for ((o, &a), &base) in row.iter_mut().zip(&acc).zip(rf) {
                *o = base + a;
            }
        });
    out
}

/// One row of the horizontal pass for `C` channels: the channels of a pixel as one array, so
/// they are computed side by side; each channel sums its taps in the order of the general
/// loop in [`resample`], so the bits are the same.
fn horizontal<const C: usize>(
    line: &[f32],
    xt: &[Taps],
    xs: &[(usize, Vec<usize>)],
    row: &mut [f32],
) {
    let px = |o: usize| -> [f32; C] { line[o..o + C].try_into().unwrap() };
    for ((t, (rf, offs)), out) in xt.iter().zip(xs).zip(row.chunks_exact_mut(C)) {
        let r0 = px(*rf);
        let mut acc = [0.0f32; C];
        for (&off, &wt) in offs.iter().zip(&t.weight) {
            let v = px(off);
            for ch in 0..C {
                acc[ch] += wt * (v[ch] - r0[ch]);
            }
        }
        for ch in 0..C {
            out[ch] = r0[ch] + acc[ch];
        }
    }
}
