//! Grain matching: measure the grain of a reference plate from its flat areas and find the
//! `GrainParams` that reproduce it — the "sample grain from an image" of finishing tools.
//!
//! Method: cut the region into blocks; in each, fit and remove a plane (the picture's local
//! level and gradient), leaving grain; keep blocks whose residual looks like grain alone (not
//! much stronger than the quietest blocks of the same lightness, and no smoother than grain
//! usually is — picture structure is smoother than grain); then measure, in the grain domain,
//! RMS against lightness per channel (the response curve), the residual's autocorrelation (the
//! size and roughness, fitted against the model's own autocorrelation) and the channels'
//! correlation (colour vs monochrome). Plane removal also removes a little grain; that bias is
//! computed from the fitted autocorrelation and divided out.

use super::domain::{self, response_basis};
use super::field::{axis_autocorrelation, octave_models};
use super::{FilmResponse, GrainParams, InputEncoding};
use crate::image::{ImageView, Rect};
use crate::ops::OpError;
use std::fmt;

/// How to read the reference and what to assume about what cannot be measured.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeOptions {
    pub input_encoding: InputEncoding,
    pub premultiplied: bool,
    /// Side of the analysis blocks in pixels (≥ 16). Larger blocks measure big grain better,
    /// smaller ones find more flat areas.
    pub block_px: u32,
    /// Softness to assume: second-order statistics fix the cloud spread, which size and
    /// softness share, so one of them must be given.
    pub assumed_softness: f32,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            input_encoding: InputEncoding::Srgb,
            premultiplied: false,
            block_px: 32,
            assumed_softness: 0.35,
        }
    }
}

/// Grain RMS measured over the flat blocks of one lightness band.
#[derive(Debug, Clone, PartialEq)]
pub struct AmplitudeSample {
    /// Band centre (L*/100 of the channel's own level).
    pub lightness: f32,
    /// RMS in the grain domain, or None where no flat block fell in this band for the channel.
    pub rms: [Option<f32>; 3],
    /// Flat blocks measured per channel.
    pub blocks: [u32; 3],
}

/// What was measured, and the settings that reproduce it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrainMatch {
    pub blocks_examined: u32,
    pub flat_blocks: u32,
    /// RMS against lightness (bands of 1/16 with data).
    pub amplitude: Vec<AmplitudeSample>,
    /// Normalised autocorrelation along x/y (averaged) at lags 0, 1, 2, … px, corrected for the
    /// plane removal.
    pub autocorrelation: Vec<f32>,
    /// Lag (px) where the autocorrelation falls to 0.5.
    pub correlation_half_width_px: f32,
    /// Correlation of the grain between channels (R–G, G–B, R–B).
    pub channel_correlation: [f32; 3],
    /// RMS of the response fit's error relative to the measured RMS.
    pub response_fit_error: f32,
    /// Settings that reproduce the measured grain (other fields at their defaults).
    pub params: GrainParams,
}

/// Lightness bands the amplitude is measured in.
const BANDS: usize = 16;
/// A block is flat if its residual variance is within this factor of its band's quietest
/// quartile.
const FLAT_VARIANCE_FACTOR: f64 = 2.0;
/// …and its residual is no smoother than this fraction of the typical block's (structure left
/// over a plane is smoother than grain: its neighbour differences are small for its variance).
const FLAT_ROUGHNESS_FACTOR: f64 = 0.7;

struct Block {
    /// Per channel: lightness, residual variance, neighbour-difference/variance ratio.
    lightness: [f64; 3],
    variance: [f64; 3],
    roughness: [f64; 3],
    /// Plane-removed residuals, per channel, block_px² values.
    residual: [Vec<f32>; 3],
    clipped: bool,
}

/// Measures the grain in `region` of `reference` (at full resolution) and fits `GrainParams`.
pub fn analyze(
    reference: &ImageView<'_>,
    region: Rect,
    options: &AnalyzeOptions,
) -> Result<GrainMatch, OpError> {
    let b = options.block_px.max(16) as i32;
    let region = region.intersect(&reference.bounds());
    if region.width() < b || region.height() < b {
        return Err(OpError::InvalidParam(format!(
            "the grain sample area must be at least {b}×{b} pixels inside the reference image"
        )));
    }
    let blocks = collect_blocks(reference, region, b, options);
    let flat = select_flat(&blocks);
    if flat.len() < 2 {
        return Err(OpError::InvalidParam(
            "no flat areas found to sample grain from: choose a region of sky, wall or other \
             even surface"
                .into(),
        ));
    }

    // Autocorrelation along the axes, each block normalised by its own variance so bright and
    // dark blocks weigh alike; averaged over channels and the two axes.
    let max_lag = ((b / 3) as usize).min(12);
    let mut acf = vec![0.0f64; max_lag + 1];
    let mut acf_weight = 0.0;
    for blk in &flat {
        for c in 0..3 {
            if blk.variance[c] <= 0.0 {
                continue;
            }
            let r = &blk.residual[c];
            for (lag, a) in acf.iter_mut().enumerate() {
                let (mut sx, mut sy, mut nx, mut ny) = (0.0f64, 0.0f64, 0usize, 0usize);
                for y in 0..b as usize {
                    for x in 0..b as usize {
                        let v = r[y * b as usize + x] as f64;
                        if x + lag < b as usize {
                            sx += v * r[y * b as usize + x + lag] as f64;
                            nx += 1;
                        }
                        if y + lag < b as usize {
                            sy += v * r[(y + lag) * b as usize + x] as f64;
                            ny += 1;
                        }
                    }
                }
                *a += 0.5 * (sx / nx as f64 + sy / ny as f64) / blk.variance[c];
            }
            acf_weight += 1.0;
        }
    }
    for a in acf.iter_mut() {
        *a /= acf_weight;
    }

    // Fit size and roughness to the residual autocorrelation, the model's own autocorrelation
    // passed through the same plane removal (first order: a constant offset κ at every lag).
    let softness = options.assumed_softness.clamp(0.0, 1.0) as f64;
    let model_residual_acf = |size: f64, rough: f64| -> (Vec<f64>, f64) {
        let oct = octave_models(size, softness, rough);
        let rho = axis_autocorrelation(&oct, b as usize - 1);
        let kappa = plane_removal_share(&rho, b as usize);
        let resid = rho
            .iter()
            .take(max_lag + 1)
            .map(|r| (r - kappa) / (1.0 - kappa))
            .collect();
        (resid, kappa)
    };
    let fit_error = |size: f64, rough: f64| -> f64 {
        let (m, _) = model_residual_acf(size, rough);
        (1..=max_lag).map(|l| (m[l] - acf[l]).powi(2)).sum()
    };
    let mut best = (f64::INFINITY, 1.0, 0.0);
    for ri in 0..=10 {
        let rough = ri as f64 / 10.0;
        // log-spaced sizes 0.5 .. 32 px
        for si in 0..=72 {
            let size = 0.5 * 2f64.powf(si as f64 / 12.0);
            let e = fit_error(size, rough);
            if e < best.0 {
                best = (e, size, rough);
            }
        }
    }
    let (_, mut size, rough) = best;
    // Refine size by golden-section search within a grid step either side.
    let (mut lo, mut hi) = (size * 2f64.powf(-1.0 / 12.0), size * 2f64.powf(1.0 / 12.0));
    let g = 0.618_033_988_75;
    for _ in 0..30 {
        let a = hi - g * (hi - lo);
        let c = lo + g * (hi - lo);
        if fit_error(a, rough) < fit_error(c, rough) {
            hi = c;
        } else {
            lo = a;
        }
    }
    size = (0.5 * (lo + hi)).clamp(0.5, 32.0);
    let (_, kappa) = model_residual_acf(size, rough);
    let corrected_acf: Vec<f32> = acf
        .iter()
        .map(|r| (r * (1.0 - kappa) + kappa) as f32)
        .collect();
    let half_width = half_width(&corrected_acf);

    // Amplitude per lightness band and channel, with the plane-removal bias divided out.
    // (κ includes the 3/n degrees of freedom a plane takes from white noise.)
    let mut sums = vec![[(0.0f64, 0u32); 3]; BANDS];
    for blk in &flat {
        for (c, (&l, &var)) in blk.lightness.iter().zip(&blk.variance).enumerate() {
            let band = band_of(l);
            sums[band][c].0 += var / (1.0 - kappa);
            sums[band][c].1 += 1;
        }
    }
    let amplitude: Vec<AmplitudeSample> = sums
        .iter()
        .enumerate()
        .filter(|(_, s)| s.iter().any(|(_, k)| *k > 0))
        .map(|(i, s)| AmplitudeSample {
            lightness: ((i as f64 + 0.5) / BANDS as f64) as f32,
            rms: s.map(|(v, k)| (k > 0).then(|| (v / k as f64).sqrt() as f32)),
            blocks: s.map(|(_, k)| k),
        })
        .collect();

    // The response: per channel, least squares of RMS on the (shadows, mids, highlights) basis
    // at each block's own lightness; a light ridge towards the default shape keeps a part of
    // the curve with no samples (e.g. no highlights in the region) at a sensible value.
    let mut per_channel = [[0.0f64; 3]; 3];
    let mut fit_sq_err = 0.0;
    let mut fit_count = 0.0;
    for (c, theta_c) in per_channel.iter_mut().enumerate() {
        let samples: Vec<(f64, f64)> = flat
            .iter()
            .map(|blk| (blk.lightness[c], (blk.variance[c] / (1.0 - kappa)).sqrt()))
            .collect();
        *theta_c = fit_response(&samples);
        for (l, s) in &samples {
            let basis = response_basis(*l);
            let m: f64 = (0..3).map(|k| basis[k] * theta_c[k]).sum();
            if *s > 0.0 {
                fit_sq_err += ((m - s) / s).powi(2);
                fit_count += 1.0;
            }
        }
    }
    // One response shape shared by the channels, per-channel gains on top (rank-1 fit).
    let mut shape = [0.0f64; 3];
    for theta in &per_channel {
        for k in 0..3 {
            shape[k] += theta[k] / 3.0;
        }
    }
    let shape_sq: f64 = shape.iter().map(|v| v * v).sum();
    let gains: Vec<f64> = per_channel
        .iter()
        .map(|t| (0..3).map(|k| t[k] * shape[k]).sum::<f64>() / shape_sq.max(1e-30))
        .collect();
    let mids = if shape[1] > 1e-12 {
        shape[1]
    } else {
        shape.iter().cloned().fold(1e-12, f64::max)
    };
    let response = FilmResponse {
        shadows: (shape[0] / mids).max(0.0) as f32,
        mids: (shape[1] / mids).max(0.0) as f32,
        highlights: (shape[2] / mids).max(0.0) as f32,
    };
    let channel_sigma: Vec<f64> = gains.iter().map(|g| (g * mids).max(0.0)).collect();
    let amount = channel_sigma.iter().cloned().fold(0.0, f64::max);
    let channel_amount = [0, 1, 2].map(|c| {
        if amount > 0.0 {
            (channel_sigma[c] / amount) as f32
        } else {
            1.0
        }
    });

    // Channel correlation of the residuals, pooled over flat blocks.
    let pairs = [(0usize, 1usize), (1, 2), (0, 2)];
    let mut channel_correlation = [0.0f32; 3];
    for (p, &(c0, c1)) in pairs.iter().enumerate() {
        let (mut sxy, mut sxx, mut syy) = (0.0f64, 0.0f64, 0.0f64);
        for blk in &flat {
            for (a, bv) in blk.residual[c0].iter().zip(&blk.residual[c1]) {
                sxy += *a as f64 * *bv as f64;
                sxx += (*a as f64).powi(2);
                syy += (*bv as f64).powi(2);
            }
        }
        channel_correlation[p] = (sxy / (sxx * syy).sqrt().max(1e-30)) as f32;
    }
    let mean_corr = channel_correlation.iter().sum::<f32>() / 3.0;

    let params = GrainParams {
        amount: amount as f32,
        channel_amount,
        size_px: size as f32,
        softness: softness as f32,
        roughness: rough as f32,
        response,
        colour: (1.0 - mean_corr).clamp(0.0, 1.0),
        input_encoding: options.input_encoding,
        premultiplied: options.premultiplied,
        ..GrainParams::default()
    };
    Ok(GrainMatch {
        blocks_examined: blocks.len() as u32,
        flat_blocks: flat.len() as u32,
        amplitude,
        autocorrelation: corrected_acf,
        correlation_half_width_px: half_width,
        channel_correlation,
        response_fit_error: if fit_count > 0.0 {
            (fit_sq_err / fit_count).sqrt() as f32
        } else {
            0.0
        },
        params,
    })
}

fn band_of(l: f64) -> usize {
    ((l * BANDS as f64) as usize).min(BANDS - 1)
}

/// Reads every whole block of the region, converts to the grain domain and removes a plane.
fn collect_blocks(
    reference: &ImageView<'_>,
    region: Rect,
    b: i32,
    options: &AnalyzeOptions,
) -> Vec<Block> {
    let enc = options.input_encoding;
    let bs = b as usize;
    let mut out = Vec::new();
    let mut rows = vec![vec![[0.0f32; 4]; region.width() as usize]; bs];
    let display = enc != InputEncoding::Linear;
    let mut by = region.y1;
    while by + b <= region.y2 {
        for (k, row) in rows.iter_mut().enumerate() {
            reference.read_row(by + k as i32, region.x1, row);
        }
        let mut bx = 0usize;
        while bx + bs <= region.width() as usize {
            let mut residual: [Vec<f32>; 3] = Default::default();
            let mut clipped = false;
            let mut lightness = [0.0; 3];
            let mut variance = [0.0; 3];
            let mut roughness = [0.0; 3];
            for c in 0..3 {
                let mut v = Vec::with_capacity(bs * bs);
                for row in &rows {
                    for px in &row[bx..bx + bs] {
                        let colour = if options.premultiplied && px[3] > 0.0 {
                            px[c] / px[3]
                        } else {
                            px[c]
                        };
                        let e = domain::to_grain_domain(enc, colour);
                        // Clipped or crushed values hold no grain (and lower its RMS).
                        if display && !(0.002..=0.998).contains(&e) || !e.is_finite() {
                            clipped = true;
                        }
                        v.push(e);
                    }
                }
                let (mean, var, rough) = remove_plane(&mut v, bs);
                lightness[c] = domain::lightness_of_grain_domain(enc, mean);
                variance[c] = var;
                roughness[c] = rough;
                residual[c] = v;
            }
            out.push(Block {
                lightness,
                variance,
                roughness,
                residual,
                clipped,
            });
            bx += bs;
        }
        by += b;
    }
    out
}

/// Least-squares plane removal in place; returns (mean, residual variance, neighbour-difference
/// energy / variance).
fn remove_plane(v: &mut [f32], b: usize) -> (f64, f64, f64) {
    let n = (b * b) as f64;
    let c = (b as f64 - 1.0) / 2.0;
    let (mut s, mut sx, mut sy) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..b {
        for x in 0..b {
            let e = v[y * b + x] as f64;
            s += e;
            sx += e * (x as f64 - c);
            sy += e * (y as f64 - c);
        }
    }
    // On a full square grid the centred coordinates are orthogonal to 1 and to each other.
    let sxx = n * (b as f64 * b as f64 - 1.0) / 12.0;
    let mean = s / n;
    let (gx, gy) = (sx / sxx, sy / sxx);
    let mut var = 0.0;
    for y in 0..b {
        for x in 0..b {
            let r = v[y * b + x] as f64 - mean - gx * (x as f64 - c) - gy * (y as f64 - c);
            v[y * b + x] = r as f32;
            var += r * r;
        }
    }
    var /= n;
    let mut diff = 0.0;
    let mut count = 0.0;
    for y in 0..b {
        for x in 0..b {
            if x + 1 < b {
                diff += (v[y * b + x + 1] - v[y * b + x]) as f64
                    * (v[y * b + x + 1] - v[y * b + x]) as f64;
                count += 1.0;
            }
            if y + 1 < b {
                diff += (v[(y + 1) * b + x] - v[y * b + x]) as f64
                    * (v[(y + 1) * b + x] - v[y * b + x]) as f64;
                count += 1.0;
            }
        }
    }
    let rough = if var > 0.0 { diff / count / var } else { 0.0 };
    (mean, var, rough)
}

/// Keeps blocks whose residual looks like grain alone.
fn select_flat(blocks: &[Block]) -> Vec<&Block> {
    let usable: Vec<&Block> = blocks
        .iter()
        .filter(|b| !b.clipped && b.variance.iter().all(|&v| v > 0.0))
        .collect();
    if usable.is_empty() {
        return usable;
    }
    // Quietest quartile of variance per lightness band (by the channels' mean lightness).
    let band = |b: &Block| band_of(b.lightness.iter().sum::<f64>() / 3.0);
    let mut per_band: Vec<Vec<f64>> = vec![Vec::new(); BANDS];
    for b in &usable {
        per_band[band(b)].push(b.variance.iter().sum::<f64>());
    }
    let quartile: Vec<f64> = per_band
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 4).copied().unwrap_or(0.0)
        })
        .collect();
    let mut rough: Vec<f64> = usable
        .iter()
        .map(|b| b.roughness.iter().sum::<f64>())
        .collect();
    rough.sort_by(f64::total_cmp);
    let median_rough = rough[rough.len() / 2];
    usable
        .into_iter()
        .filter(|b| {
            b.variance.iter().sum::<f64>() <= FLAT_VARIANCE_FACTOR * quartile[band(b)]
                && b.roughness.iter().sum::<f64>() >= FLAT_ROUGHNESS_FACTOR * median_rough
        })
        .collect()
}

/// Share of a block's grain variance a least-squares plane absorbs, for a field whose axis
/// autocorrelation is `rho` (2-D autocorrelation = product of the axis profiles): for the mean
/// and each gradient, Σ_p Σ_q φ(p)φ(q)ρ(p − q) with φ the orthonormal basis function; the
/// separable basis makes each a product of 1-D sums.
fn plane_removal_share(rho: &[f64], b: usize) -> f64 {
    let r = |d: usize| rho.get(d).copied().unwrap_or(0.0);
    let c = (b as f64 - 1.0) / 2.0;
    let norm_x: f64 = (0..b).map(|x| (x as f64 - c).powi(2)).sum();
    // 1-D quadratic forms: constant basis (1/√b) and linear basis ((x − c)/√norm_x).
    let (mut q_const, mut q_lin) = (0.0, 0.0);
    for p in 0..b {
        for q in 0..b {
            let rr = r(p.abs_diff(q));
            q_const += rr / b as f64;
            q_lin += rr * (p as f64 - c) * (q as f64 - c) / norm_x;
        }
    }
    // mean: const×const; x-gradient: lin×const; y-gradient: const×lin. Divided by b² pixels.
    (q_const * q_const + 2.0 * q_lin * q_const) / (b * b) as f64
}

/// Lag where a decreasing autocorrelation crosses 0.5, linearly interpolated.
fn half_width(acf: &[f32]) -> f32 {
    for l in 1..acf.len() {
        if acf[l] <= 0.5 {
            let (a, b) = (acf[l - 1], acf[l]);
            return (l - 1) as f32 + (a - 0.5) / (a - b).max(1e-12);
        }
    }
    acf.len() as f32
}

/// Least squares of RMS samples (lightness, rms) on the response basis, with a light ridge
/// towards the default response shape scaled to the data.
fn fit_response(samples: &[(f64, f64)]) -> [f64; 3] {
    let d = FilmResponse::default();
    let prior_shape = [d.shadows as f64, d.mids as f64, d.highlights as f64];
    let (mut sum_s, mut sum_p) = (0.0, 0.0);
    let mut ata = [[0.0f64; 3]; 3];
    let mut atb = [0.0f64; 3];
    for (l, s) in samples {
        let basis = response_basis(*l);
        sum_s += s;
        sum_p += (0..3).map(|k| basis[k] * prior_shape[k]).sum::<f64>();
        for i in 0..3 {
            atb[i] += basis[i] * s;
            for j in 0..3 {
                ata[i][j] += basis[i] * basis[j];
            }
        }
    }
    let scale = if sum_p > 0.0 { sum_s / sum_p } else { 0.0 };
    let ridge = 1e-3 * samples.len().max(1) as f64;
    for i in 0..3 {
        ata[i][i] += ridge;
        atb[i] += ridge * scale * prior_shape[i];
    }
    solve3(ata, atb)
}

/// Solves a symmetric positive-definite 3×3 system (Cramer's rule; the ridge keeps it regular).
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> [f64; 3] {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&a);
    let mut x = [0.0; 3];
    for (k, xk) in x.iter_mut().enumerate() {
        let mut m = a;
        for i in 0..3 {
            m[i][k] = b[i];
        }
        *xk = det(&m) / d;
    }
    x
}

impl fmt::Display for GrainMatch {
    /// A report a user can read or print: what was measured, then the settings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Grain analysis")?;
        writeln!(
            f,
            "  flat blocks used: {} of {}",
            self.flat_blocks, self.blocks_examined
        )?;
        writeln!(f, "  RMS against lightness (L*/100; grain-domain units):")?;
        writeln!(f, "    lightness      red     green      blue   blocks")?;
        for s in &self.amplitude {
            let cell = |v: Option<f32>| v.map_or("      -  ".to_string(), |v| format!("{v:9.5}"));
            writeln!(
                f,
                "    {:9.3} {} {} {}   {:?}",
                s.lightness,
                cell(s.rms[0]),
                cell(s.rms[1]),
                cell(s.rms[2]),
                s.blocks
            )?;
        }
        let acf: Vec<String> = self
            .autocorrelation
            .iter()
            .map(|v| format!("{v:.3}"))
            .collect();
        writeln!(f, "  autocorrelation by lag (px): {}", acf.join(" "))?;
        writeln!(
            f,
            "  correlation half-width: {:.2} px",
            self.correlation_half_width_px
        )?;
        let [rg, gb, rb] = self.channel_correlation;
        writeln!(
            f,
            "  channel correlation: R-G {rg:.3}  G-B {gb:.3}  R-B {rb:.3}"
        )?;
        writeln!(
            f,
            "  response fit error: {:.1} %",
            100.0 * self.response_fit_error
        )?;
        let p = &self.params;
        writeln!(f, "Matched settings")?;
        writeln!(f, "  amount {:.5}", p.amount)?;
        writeln!(
            f,
            "  channel amount R {:.3} G {:.3} B {:.3}",
            p.channel_amount[0], p.channel_amount[1], p.channel_amount[2]
        )?;
        writeln!(
            f,
            "  size {:.2} px (softness {:.2} assumed), roughness {:.2}",
            p.size_px, p.softness, p.roughness
        )?;
        writeln!(
            f,
            "  response shadows {:.3} mids {:.3} highlights {:.3}",
            p.response.shadows, p.response.mids, p.response.highlights
        )?;
        writeln!(f, "  colour {:.3}", p.colour)
    }
}
