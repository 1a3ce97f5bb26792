//! The grain field: a zero-mean, unit-variance random texture per colour field, built from
//! Poisson-distributed grains on the full-resolution pixel lattice, each spread by a separable
//! cubic B-spline "dye cloud" and averaged over the output pixel's footprint.
//!
//! Written so a CUDA kernel can repeat it operation for operation (the recipe is on
//! `FieldPlan::fields_at`): tables are built once per render in f64 and stored as f32.

use super::{GrainParams, TemporalMode};

// ---------------------------------------------------------------------------------------------
// Counter-based random numbers
// ---------------------------------------------------------------------------------------------

/// The PCG-RXS-M-XS 32-bit permutation used as a hash (Jarzynski & Olano, "Hash Functions for
/// GPU Rendering", JCGT 9(3), 2020: the best speed/quality trade-off of the u32 hashes they
/// measured). A bijection on u32; identical in Rust (wrapping ops) and CUDA (unsigned ops).
#[inline(always)]
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// The frame counter the grain is keyed on: the frame itself, the frame divided by the hold
/// length, or 0 for static grain. Frames are rounded to the nearest integer (hosts pass fields
/// and motion-blur samples as fractional frames; they share the frame's grain).
pub fn grain_frame_key(params: &GrainParams) -> u32 {
    let frame = if params.frame.is_finite() {
        (params.frame + 0.5).floor() as i64
    } else {
        0
    };
    let key = match params.temporal {
        TemporalMode::NewEveryFrame => frame,
        TemporalMode::HoldFrames => frame.div_euclid(params.hold_frames.max(1) as i64),
        TemporalMode::Static => 0,
    };
    key as u32 // wrapping on purpose: only distinctness over nearby frames matters
}

/// Base key of one random stream: (seed, frame key, stream id) mixed by chained hashing.
/// Stream id = octave (0 = grain size, 1 = half size); the three colour fields share a stream
/// and use different bits of each site's hash.
pub fn stream_key(seed: u32, frame_key: u32, stream: u32) -> u32 {
    pcg_hash(seed ^ pcg_hash(frame_key ^ pcg_hash(stream.wrapping_add(0x9e37_79b9))))
}

/// The hash of lattice site (i, j) in a stream: `pcg(pcg(key + j) + i)`, the nested form
/// Jarzynski & Olano recommend for multi-dimensional input. The inner hash is per row.
#[inline(always)]
pub fn site_hash(row_key: u32, i: i32) -> u32 {
    pcg_hash(row_key.wrapping_add(i as u32))
}

#[inline(always)]
pub fn row_key(stream_key: u32, j: i32) -> u32 {
    pcg_hash(stream_key.wrapping_add(j as u32))
}

// ---------------------------------------------------------------------------------------------
// Poisson grain counts
// ---------------------------------------------------------------------------------------------

/// Bits of the site hash each colour field draws its grain count from: fields 0, 1, 2 use bits
/// 0..10, 10..20, 20..30 of one hash, so a site costs one hash for all three fields.
pub const COUNT_BITS: u32 = 10;
pub const COUNT_LEVELS: usize = 1 << COUNT_BITS;

/// Most grains one lattice site can hold (where the Poisson tail is cut).
pub const MAX_GRAINS_PER_SITE: usize = 32;

/// The grain count of a site as a function of its 10-bit uniform draw u:
/// count(u) = #{k : round(1024·P(N ≤ k)) ≤ u} for N ~ Poisson(grains per site) — inverse-CDF
/// sampling on a 1/1024 grid. The site's normalised impulse is (count − mean)/std with the mean
/// and std of the 1024 equally likely entries (exactly mean 0, variance 1); the filters apply
/// it as `inv_std · Σ w·count − mean_over_std · Σ w`, so empty sites cost nothing to sparse
/// grain.
#[derive(Clone, Debug)]
pub struct ImpulseTable {
    /// Grain count per level, as f32 (a fixed-size array: a masked index needs no check).
    pub counts: Box<[f32; COUNT_LEVELS]>,
    pub inv_std: f32,
    pub mean_over_std: f32,
    /// Share of levels holding at least one grain.
    pub occupied_share: f64,
}

impl ImpulseTable {
    pub fn new(mean_grains: f64) -> Self {
        let m = mean_grains.max(1e-9);
        let mut thresholds = [COUNT_LEVELS as u64; MAX_GRAINS_PER_SITE];
        let (mut p, mut cdf) = ((-m).exp(), 0.0f64);
        for (k, t) in thresholds.iter_mut().enumerate() {
            cdf += p;
            p *= m / (k + 1) as f64;
            *t = ((cdf * COUNT_LEVELS as f64).round() as u64).min(COUNT_LEVELS as u64);
        }
        let mut counts = Box::new([0.0f32; COUNT_LEVELS]);
        for (u, c) in counts.iter_mut().enumerate() {
            *c = thresholds.iter().filter(|&&t| t <= u as u64).count() as f32;
        }
        let n = COUNT_LEVELS as f64;
        let mean = counts.iter().map(|&c| c as f64).sum::<f64>() / n;
        let var = counts
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        // A density so low that no level holds a grain would give a constant: no grain at all.
        let inv_std = if var > 0.0 { 1.0 / var.sqrt() } else { 0.0 };
        ImpulseTable {
            occupied_share: counts.iter().filter(|&&c| c > 0.0).count() as f64 / n,
            counts,
            inv_std: inv_std as f32,
            mean_over_std: (mean * inv_std) as f32,
        }
    }

    /// Grain count of colour field `field` (0..3) at a site with hash `h`.
    #[inline(always)]
    pub fn count(&self, h: u32, field: usize) -> f32 {
        self.counts[((h >> (COUNT_BITS * field as u32)) as usize) & (COUNT_LEVELS - 1)]
    }

    /// The normalised x-filtered impulse sum from its two parts (see the type's docs).
    #[inline(always)]
    pub fn normalise(&self, weighted_counts: f32, weight_sum: f32) -> f32 {
        self.inv_std * weighted_counts - self.mean_over_std * weight_sum
    }
}

/// Below this share of occupied sites, x-filtering scatters each grain instead of gathering
/// every site (same sums in the same order). A scattered tap is a scalar add, a gathered one
/// an eighth of a vector add, so scattering pays below roughly 1/16 occupancy.
const SPARSE_OCCUPANCY: f64 = 0.06;

// ---------------------------------------------------------------------------------------------
// Dye-cloud profile and per-axis taps
// ---------------------------------------------------------------------------------------------

/// Integral of the centred cubic B-spline (support −2..2, unit mass) from −2 to `t`: the
/// cumulative profile of one dye cloud along an axis, in units of the cloud scale.
pub fn bspline_cdf(t: f64) -> f64 {
    fn left_half(t: f64) -> f64 {
        // t in [-2, 0]: integrate (2 + t)^3 / 6 on [-2, -1], (4 - 6t^2 - 3t^3) / 6 on [-1, 0].
        if t < -1.0 {
            (2.0 + t).powi(4) / 24.0
        } else {
            1.0 / 24.0 + (4.0 * t - 2.0 * t.powi(3) - 0.75 * t.powi(4) + 2.75) / 6.0
        }
    }
    if t <= -2.0 {
        0.0
    } else if t >= 2.0 {
        1.0
    } else if t <= 0.0 {
        left_half(t)
    } else {
        1.0 - left_half(-t)
    }
}

/// Standard deviation of the cubic B-spline with unit scale (its variance is 1/3).
const BSPLINE_STD: f64 = 0.577_350_269_189_625_8;

/// Sharpest a dye cloud may be, in full-resolution pixels (std): the spot a film scanner's
/// optics never resolve below. It also keeps the smallest grains from showing the lattice.
pub const MIN_CLOUD_STD_PX: f64 = 0.35;

/// Dye-cloud standard deviation (full-resolution px) for a grain of diameter `size_px`:
/// a quarter of the diameter when crisp (the ±2σ core spans the grain), half of it when soft.
pub fn cloud_std_px(size_px: f64, softness: f64) -> f64 {
    (size_px * (0.25 + 0.25 * softness.clamp(0.0, 1.0))).max(MIN_CLOUD_STD_PX)
}

/// Taps of one octave along one axis, for a run of output coordinates.
///
/// Output coordinate X (at render scale s) sees full-resolution lattice sites
/// `first[X] .. first[X] + taps`, with weights `w(X, i) = s · (C(b − c_i) − C(a − c_i))`:
/// the average of the cloud profile over the pixel's footprint `[a, b) = [X/s, (X+1)/s)` in
/// full-resolution pixels, where `c_i = i + 0.5` is site i's centre and `C(u) = B(u / scale)`
/// the cloud's cumulative profile. So a proxy pixel is exactly the mean of the full-resolution
/// pixels it covers, and a full-resolution pixel is the cloud integrated over its own area.
#[derive(Clone, Debug)]
pub struct AxisTaps {
    /// Output coordinate of entry 0.
    pub origin: i32,
    pub taps: usize,
    pub first: Vec<i32>,
    /// `weights[n * taps + t]` for output coordinate `origin + n`.
    pub weights: Vec<f32>,
    /// Σ_t weights, summed in ascending t in f32, per output coordinate.
    pub sums: Vec<f32>,
    /// `Some(n)` when the scale is exactly 1/n: every coordinate then uses the same weights
    /// and `first` grows by n per coordinate (full resolution and 1/2, 1/3, 1/4 proxies).
    pub stride: Option<usize>,
}

impl AxisTaps {
    pub fn new(origin: i32, count: usize, scale: f64, cloud_scale: f64, extra: f64) -> Self {
        let support = 2.0 * cloud_scale;
        // Sites with centres strictly inside (a − support, b + support): at most this many.
        // A pure function of (scale, cloud), never of the window, so sums never change shape.
        let taps = ((1.0 / scale) + 2.0 * support).ceil() as usize + 1;
        // A scale of exactly 1/n (as a host writes 0.5 or 1.0/3.0): footprints are computed as
        // the integers n·x, so every coordinate gets bit-identical weights.
        let stride = {
            let n = (1.0 / scale).round();
            ((1.0..=64.0).contains(&n) && 1.0 / n == scale).then_some(n as usize)
        };
        let footprint = |x: f64| match stride {
            Some(n) => x * n as f64,
            None => x / scale,
        };
        let mut first = Vec::with_capacity(count);
        let mut weights = Vec::with_capacity(count * taps);
        for n in 0..count {
            let x = (origin + n as i32) as f64;
            let a = footprint(x);
            let b = footprint(x + 1.0);
            // First site whose centre i + 0.5 lies strictly above a − support.
            let i0 = (a - support - 0.5).floor() as i32 + 1;
            first.push(i0);
            for t in 0..taps {
                let c = (i0 + t as i32) as f64 + 0.5;
                let w = scale
                    * (bspline_cdf((b - c) / cloud_scale) - bspline_cdf((a - c) / cloud_scale));
                weights.push((w * extra) as f32);
            }
        }
        let sums = weights
            .chunks_exact(taps)
            .map(|w| w.iter().fold(0.0f32, |acc, &v| acc + v))
            .collect();
        AxisTaps {
            origin,
            taps,
            first,
            weights,
            sums,
            stride,
        }
    }

    #[inline(always)]
    pub fn at(&self, coord: i32) -> (i32, &[f32]) {
        let n = (coord - self.origin) as usize;
        (
            self.first[n],
            &self.weights[n * self.taps..(n + 1) * self.taps],
        )
    }

    #[inline(always)]
    pub fn sum_at(&self, coord: i32) -> f32 {
        self.sums[(coord - self.origin) as usize]
    }
}

/// Full-resolution weights of a cloud (scale 1, phase 0), trimmed of zero taps: the discrete
/// filter one full-resolution axis applies. Used for normalisation and the autocorrelation.
pub fn full_res_weights(cloud_scale: f64) -> Vec<f64> {
    let support = 2.0 * cloud_scale;
    let i0 = (-support - 0.5).floor() as i32;
    let n = (2.0 * support).ceil() as i32 + 3;
    (i0..i0 + n)
        .map(|i| {
            let c = i as f64 + 0.5;
            bspline_cdf((1.0 - c) / cloud_scale) - bspline_cdf((0.0 - c) / cloud_scale)
        })
        .filter(|w| *w != 0.0)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The grain octaves of a render
// ---------------------------------------------------------------------------------------------

/// Grains per grain area (diameter²): how many clouds overlap on average. About 2 keeps the
/// texture clumpy (visibly non-Gaussian, as sparse grain is) at low softness while soft grain
/// overlaps enough to read as a smooth mottle.
pub const GRAINS_PER_GRAIN_AREA: f64 = 2.0;
/// Densest octave allowed (grains per full-resolution pixel); beyond it the grains are far
/// below a pixel and more of them changes nothing visible.
pub const MAX_GRAINS_PER_PIXEL: f64 = 8.0;

/// The statistical description of one octave, independent of the render window.
#[derive(Clone, Debug)]
pub struct OctaveModel {
    /// Grain diameter (full-resolution px).
    pub size_px: f64,
    /// B-spline scale of the cloud (std / 0.577).
    pub cloud_scale: f64,
    pub grains_per_pixel: f64,
    /// Share of the field's variance this octave carries (the octave weights² sum to 1).
    pub weight: f64,
    /// 1 / Σw² of the full-resolution axis weights: makes the octave unit-variance at scale 1.
    pub axis_norm: f64,
}

/// Octaves of a grain setting: the grain itself and, with roughness, grain of half the size
/// carrying up to half of the variance (roughness 1: equal energy in both).
pub fn octave_models(size_px: f64, softness: f64, roughness: f64) -> Vec<OctaveModel> {
    let r = roughness.clamp(0.0, 1.0);
    let fine_share = 0.5 * r * r;
    let mut out = Vec::with_capacity(2);
    for (size, share) in [(size_px, 1.0 - fine_share), (0.5 * size_px, fine_share)] {
        if share <= 0.0 {
            continue;
        }
        let cloud_scale = cloud_std_px(size, softness) / BSPLINE_STD;
        let w = full_res_weights(cloud_scale);
        let sum_sq: f64 = w.iter().map(|v| v * v).sum();
        out.push(OctaveModel {
            size_px: size,
            cloud_scale,
            grains_per_pixel: (GRAINS_PER_GRAIN_AREA / (size * size)).min(MAX_GRAINS_PER_PIXEL),
            weight: share.sqrt(),
            axis_norm: 1.0 / sum_sq,
        });
    }
    out
}

/// Normalised autocorrelation of the grain field along one axis at integer lags 0..=max_lag
/// (full resolution): Σ_o weight_o² · (w_o ⋆ w_o)(lag) / Σ w_o². The 2-D autocorrelation is the
/// product of the x and y profiles (the clouds are separable).
pub fn axis_autocorrelation(octaves: &[OctaveModel], max_lag: usize) -> Vec<f64> {
    let mut out = vec![0.0; max_lag + 1];
    for o in octaves {
        let w = full_res_weights(o.cloud_scale);
        for (lag, r) in out.iter_mut().enumerate() {
            let s: f64 = (0..w.len().saturating_sub(lag))
                .map(|t| w[t] * w[t + lag])
                .sum();
            *r += o.weight * o.weight * s * o.axis_norm;
        }
    }
    out
}

/// One octave prepared for a render window: key, impulse table and taps.
pub struct OctavePlan {
    pub key: u32,
    pub impulses: ImpulseTable,
    pub x: AxisTaps,
    /// y weights carry the octave weight and the unit-variance normalisation.
    pub y: AxisTaps,
}

/// How the three colour fields mix into the three channels' grain: g'_c = a·g_c + b·Σg.
/// With a = √(1−ρ) and b solving 2ab + 3b² = ρ, each channel keeps unit variance and any two
/// channels correlate by ρ (1 = monochrome grain, 0 = independent colour grain).
pub fn colour_mix(correlation: f64) -> (f32, f32) {
    let rho = correlation.clamp(0.0, 1.0);
    let a = (1.0 - rho).sqrt();
    let b = (-2.0 * a + (4.0 * a * a + 12.0 * rho).sqrt()) / 6.0;
    (a as f32, b as f32)
}

/// Everything the per-pixel grain needs for one render window.
pub struct FieldPlan {
    pub octaves: Vec<OctavePlan>,
    pub mix: (f32, f32),
}

impl FieldPlan {
    /// `window` is in output pixels at `render_scale` (x, y).
    pub fn new(params: &GrainParams, window: crate::image::Rect) -> Self {
        let frame_key = grain_frame_key(params);
        let models = octave_models(
            params.size_px as f64,
            params.softness as f64,
            params.roughness as f64,
        );
        let octaves = models
            .iter()
            .enumerate()
            .map(|(o, m)| OctavePlan {
                key: stream_key(params.seed, frame_key, o as u32),
                impulses: ImpulseTable::new(m.grains_per_pixel),
                x: AxisTaps::new(
                    window.x1,
                    window.width() as usize,
                    params.render_scale[0],
                    m.cloud_scale,
                    1.0,
                ),
                y: AxisTaps::new(
                    window.y1,
                    window.height() as usize,
                    params.render_scale[1],
                    m.cloud_scale,
                    m.weight * m.axis_norm,
                ),
            })
            .collect();
        FieldPlan {
            octaves,
            mix: colour_mix(1.0 - params.colour as f64),
        }
    }

    /// The reference, one pixel at a time: the order the tiled renderer follows and a CUDA
    /// kernel must follow. Returns the three *unmixed* fields. For output pixel (x, y):
    ///
    /// 1. `frame_key = grain_frame_key(params)`; per octave o (0: the grain, 1: half-size grain,
    ///    present when roughness > 0) `key_o = stream_key(seed, frame_key, o)`.
    /// 2. Per octave, the axis taps: x sites `first_x + tx`, tx < Tx, weights `wx[tx]`; y sites
    ///    `first_y + ty` with weights `wy[ty]` that already carry the octave weight and the
    ///    unit-variance normalisation (see `AxisTaps` and `FieldPlan::new`).
    /// 3. For field f in 0..3: `g_f = 0`; for each octave, for ty ascending:
    ///    `rk = pcg(key_o + j)` (j = first_y + ty, wrapping u32), `c = 0`; for tx ascending:
    ///    `u = pcg(rk + i)` (i = first_x + tx), `c += wx[tx] * counts_o[(u >> 10 f) & 1023]`;
    ///    then `h = inv_std_o * c - mean_over_std_o * Σwx` and `g_f += wy[ty] * h`.
    /// 4. `mix`: s = g0 + g1 + g2; g'_c = a·g_c + b·s.
    ///
    /// Every multiply and add is a separate IEEE f32 operation (CUDA: build with
    /// `-fmad=false` or use `__fmul_rn` / `__fadd_rn`), so CPU and GPU agree bit for bit.
    pub fn fields_at(&self, x: i32, y: i32) -> [f32; 3] {
        let mut g = [0.0f32; 3];
        for o in &self.octaves {
            let (ix, wx) = o.x.at(x);
            let (iy, wy) = o.y.at(y);
            for (f, gf) in g.iter_mut().enumerate() {
                for (ty, &wyv) in wy.iter().enumerate() {
                    let rk = row_key(o.key, iy + ty as i32);
                    let mut c = 0.0f32;
                    for (tx, &wxv) in wx.iter().enumerate() {
                        c += wxv * o.impulses.count(site_hash(rk, ix + tx as i32), f);
                    }
                    let h = o.impulses.normalise(c, o.x.sum_at(x));
                    *gf += wyv * h;
                }
            }
        }
        g
    }

    /// Mixes three fields into the three channels' unit-variance grain.
    #[inline(always)]
    pub fn mix(&self, g: [f32; 3]) -> [f32; 3] {
        let (a, b) = self.mix;
        let s = g[0] + g[1] + g[2];
        [a * g[0] + b * s, a * g[1] + b * s, a * g[2] + b * s]
    }

    /// `mix` over rows of fields, in place (same arithmetic, laid out to vectorise).
    #[inline(always)]
    pub fn mix_rows(&self, rows: &mut [Vec<f32>; 3]) {
        let (a, b) = self.mix;
        let [r0, r1, r2] = rows;
        for ((g0, g1), g2) in r0.iter_mut().zip(r1.iter_mut()).zip(r2.iter_mut()) {
            let s = *g0 + *g1 + *g2;
            *g0 = a * *g0 + b * s;
            *g1 = a * *g1 + b * s;
            *g2 = a * *g2 + b * s;
        }
    }
}

/// Reusable buffers of one worker.
#[derive(Default)]
pub struct TileScratch {
    hashes: Vec<u32>,
    impulses: Vec<f32>,
    /// Per octave, per field: x-filtered rows, `rows × width`.
    filtered: Vec<[Vec<f32>; 3]>,
    /// Per field: grain of the current output row.
    pub row_fields: [Vec<f32>; 3],
}

impl FieldPlan {
    /// Fills `scratch.row_fields` for output row `y`, columns `x1..x2`, after `prepare_chunk`
    /// has filtered the lattice rows that row needs. Same arithmetic order as `fields_at`.
    #[inline(always)]
    pub fn row_fields(&self, scratch: &mut TileScratch, rows: &ChunkRows, y: i32) {
        let width = (rows.x2 - rows.x1) as usize;
        // The lattice rows each octave's y taps read, and their weights.
        let mut taps: [(&[f32], usize); 2] = [(&[], 0); 2];
        for (o, plan) in self.octaves.iter().enumerate() {
            let (iy, wy) = plan.y.at(y);
            taps[o] = (wy, (iy - rows.j_lo[o]) as usize);
        }
        let taps = &taps[..self.octaves.len()];
        for f in 0..3 {
            let out = &mut scratch.row_fields[f];
            out.resize(width, 0.0);
            let filtered = &scratch.filtered;
            // Blocks of LANES pixels accumulate in registers over every tap of every octave,
            // in the order of `fields_at`; the tail does the same one pixel at a time.
            let blocks = width / LANES;
            for blk in 0..blocks {
                let x = blk * LANES;
                let mut acc = [0.0f32; LANES];
                for (o, &(wy, r0)) in taps.iter().enumerate() {
                    let rows_f = &filtered[o][f];
                    for (ty, &wyv) in wy.iter().enumerate() {
                        let at = (r0 + ty) * width + x;
                        let src = &rows_f[at..at + LANES];
                        for k in 0..LANES {
                            acc[k] += wyv * src[k];
                        }
                    }
                }
                out[x..x + LANES].copy_from_slice(&acc);
            }
            for x in blocks * LANES..width {
                let mut acc = 0.0f32;
                for (o, &(wy, r0)) in taps.iter().enumerate() {
                    for (ty, &wyv) in wy.iter().enumerate() {
                        acc += wyv * filtered[o][f][(r0 + ty) * width + x];
                    }
                }
                out[x] = acc;
            }
        }
    }

    /// Generates and x-filters every lattice row that output rows `y1..y2`, columns `x1..x2`
    /// need, for every octave and field.
    #[inline(always)]
    pub fn prepare_chunk(
        &self,
        scratch: &mut TileScratch,
        x1: i32,
        x2: i32,
        y1: i32,
        y2: i32,
    ) -> ChunkRows {
        let width = (x2 - x1) as usize;
        scratch
            .filtered
            .resize_with(self.octaves.len(), Default::default);
        let mut j_lo = [0i32; 2];
        for (o, plan) in self.octaves.iter().enumerate() {
            // Lattice rows and columns in reach of this chunk (`first` grows with the coordinate).
            let jl = plan.y.at(y1).0;
            let jh = plan.y.at(y2 - 1).0 + plan.y.taps as i32;
            let il = plan.x.at(x1).0;
            let ih = plan.x.at(x2 - 1).0 + plan.x.taps as i32;
            j_lo[o] = jl;
            let n_rows = (jh - jl) as usize;
            let n_sites = (ih - il) as usize;
            scratch.hashes.resize(n_sites, 0);
            scratch.impulses.resize(n_sites, 0.0);
            for f in 0..3 {
                // Every element is overwritten below: resize only, no clearing pass.
                scratch.filtered[o][f].resize(n_rows * width, 0.0);
            }
            for r in 0..n_rows {
                let rk = row_key(plan.key, jl + r as i32);
                for (n, h) in scratch.hashes.iter_mut().enumerate() {
                    *h = site_hash(rk, il + n as i32);
                }
                let sparse =
                    plan.x.stride.is_some() && plan.impulses.occupied_share < SPARSE_OCCUPANCY;
                for f in 0..3 {
                    // `count(h, f)` with the shift hoisted: a plain table gather per site.
                    let shift = COUNT_BITS * f as u32;
                    let table: &[f32; COUNT_LEVELS] = &plan.impulses.counts;
                    for (v, &h) in scratch.impulses.iter_mut().zip(&scratch.hashes) {
                        *v = table[(h >> shift) as usize & (COUNT_LEVELS - 1)];
                    }
                    let out = &mut scratch.filtered[o][f][r * width..(r + 1) * width];
                    if sparse {
                        scatter_row(&plan.x, x1, il, &scratch.impulses, out);
                    } else {
                        filter_row(&plan.x, x1, il, &scratch.impulses, out);
                    }
                    let imp = &plan.impulses;
                    match plan.x.stride {
                        Some(_) => {
                            let sum = plan.x.sum_at(x1);
                            for c in out.iter_mut() {
                                *c = imp.normalise(*c, sum);
                            }
                        }
                        None => {
                            for (n, c) in out.iter_mut().enumerate() {
                                *c = imp.normalise(*c, plan.x.sum_at(x1 + n as i32));
                            }
                        }
                    }
                }
            }
        }
        ChunkRows { x1, x2, j_lo }
    }
}

/// Which lattice rows a prepared chunk holds.
pub struct ChunkRows {
    x1: i32,
    x2: i32,
    j_lo: [i32; 2],
}

/// out[n] = Σ_t w(x1+n, t) · impulses[first(x1+n) + t − i_lo], t ascending (as `fields_at`).
#[inline(always)]
fn filter_row(taps: &AxisTaps, x1: i32, i_lo: i32, impulses: &[f32], out: &mut [f32]) {
    if let Some(stride) = taps.stride {
        // Full resolution or a 1/n proxy: one set of weights, sites advancing by `stride` per
        // pixel. Blocks of LANES pixels accumulate in registers; each pixel sums its taps in
        // ascending order, as everywhere else.
        let (i0, w) = taps.at(x1);
        let start = (i0 - i_lo) as usize;
        let blocks = out.len() / LANES;
        if stride == 1 {
            for blk in 0..blocks {
                let x = blk * LANES;
                let mut acc = [0.0f32; LANES];
                for (t, &wt) in w.iter().enumerate() {
                    let src = &impulses[start + x + t..start + x + t + LANES];
                    for k in 0..LANES {
                        acc[k] += wt * src[k];
                    }
                }
                out[x..x + LANES].copy_from_slice(&acc);
            }
        } else {
            for blk in 0..blocks {
                let x = blk * LANES;
                let mut acc = [0.0f32; LANES];
                for (t, &wt) in w.iter().enumerate() {
                    let base = start + x * stride + t;
                    let src = &impulses[base..base + (LANES - 1) * stride + 1];
                    for k in 0..LANES {
                        acc[k] += wt * src[k * stride];
                    }
                }
                out[x..x + LANES].copy_from_slice(&acc);
            }
        }
        for (x, o) in out.iter_mut().enumerate().skip(blocks * LANES) {
            let mut s = 0.0f32;
            for (&wt, &v) in w.iter().zip(&impulses[start + x * stride..]) {
                s += wt * v;
            }
            *o = s;
        }
    } else {
        for (n, acc) in out.iter_mut().enumerate() {
            let (i0, w) = taps.at(x1 + n as i32);
            let start = (i0 - i_lo) as usize;
            let mut s = 0.0f32;
            for (&wt, &v) in w.iter().zip(&impulses[start..start + w.len()]) {
                s += wt * v;
            }
            *acc = s;
        }
    }
}

/// `filter_row` for sparse counts on strided taps: each occupied site adds its weighted count
/// to the pixels it reaches, sites ascending, so every pixel receives the same terms in the
/// same order as the gather (the skipped terms are exact zeros).
#[inline(always)]
fn scatter_row(taps: &AxisTaps, x1: i32, i_lo: i32, counts: &[f32], out: &mut [f32]) {
    let stride = taps.stride.unwrap_or(1) as i64;
    let (i0, w) = taps.at(x1);
    let t = w.len() as i64;
    let first0 = (i0 - i_lo) as i64; // first site of pixel 0, relative to counts[0]
    out.fill(0.0);
    let width = out.len() as i64;
    for (n, &k) in counts.iter().enumerate() {
        if k == 0.0 {
            continue;
        }
        // Pixels x with first0 + stride·x <= n < first0 + stride·x + t.
        let n = n as i64;
        let (lo, hi) = if stride == 1 {
            (n - first0 - t + 1, n - first0)
        } else {
            let d = n - first0 - t; // x > d / stride
            (d.div_euclid(stride) + 1, (n - first0).div_euclid(stride))
        };
        for x in lo.max(0)..=hi.min(width - 1) {
            let tap = n - first0 - stride * x;
            out[x as usize] += w[tap as usize] * k;
        }
    }
}

/// Pixels accumulated together in registers by the filters (two SSE / one AVX register).
const LANES: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bspline_cdf_is_a_continuous_unit_mass_profile() {
        assert_eq!(bspline_cdf(-2.0), 0.0);
        assert_eq!(bspline_cdf(2.0), 1.0);
        assert!((bspline_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((bspline_cdf(-1.0) - 1.0 / 24.0).abs() < 1e-15);
        // Derivative is the B-spline: 2/3 at 0, 1/6 at ±1.
        let d = |t: f64| (bspline_cdf(t + 1e-6) - bspline_cdf(t - 1e-6)) / 2e-6;
        assert!((d(0.0) - 2.0 / 3.0).abs() < 1e-6);
        assert!((d(1.0) - 1.0 / 6.0).abs() < 1e-6);
        assert!((d(-1.5) - 0.5f64.powi(3) / 6.0).abs() < 1e-6);
    }

    #[test]
    fn impulses_are_standardised_poisson_counts() {
        for m in [0.002, 0.05, 0.5, 2.0, 8.0] {
            let t = ImpulseTable::new(m);
            let n = COUNT_LEVELS as f64;
            let imp = |c: f32| t.normalise(c, 1.0) as f64;
            let mean = t.counts.iter().map(|&c| imp(c)).sum::<f64>() / n;
            let var = t.counts.iter().map(|&c| imp(c).powi(2)).sum::<f64>() / n;
            assert!(mean.abs() < 1e-5, "m={m}: mean {mean}");
            assert!((var - 1.0).abs() < 1e-5, "m={m}: var {var}");
            // Counts follow Poisson: the share of empty sites is e^-m to the table's 1/1024.
            let empty = 1.0 - t.occupied_share;
            assert!(
                (empty - (-m).exp()).abs() <= 0.5 / n + 1e-12,
                "m={m}: P(0) {empty}"
            );
        }
        // Fields read disjoint bits: changing field 1's bits leaves fields 0 and 2 alone.
        let t = ImpulseTable::new(1.0);
        let h = 0x2345_6789u32;
        let h2 = h ^ (0x3ff << COUNT_BITS);
        assert_eq!(t.count(h, 0), t.count(h2, 0));
        assert_eq!(t.count(h, 2), t.count(h2, 2));
        assert_ne!(t.count(h, 1), t.count(h2, 1));
    }

    #[test]
    fn scatter_equals_gather_bit_for_bit() {
        let counts: Vec<f32> = (0..300u32)
            .map(|i| {
                if pcg_hash(i).is_multiple_of(7) {
                    (1 + pcg_hash(i) % 3) as f32
                } else {
                    0.0
                }
            })
            .collect();
        for (scale, cloud) in [(1.0, 5.9), (0.5, 2.0), (0.25, 1.1)] {
            let taps = AxisTaps::new(3, 40, scale, cloud, 1.0);
            let i_lo = taps.first[0] - 2;
            let (mut a, mut b) = (vec![9.0f32; 40], vec![7.0f32; 40]);
            filter_row(&taps, 3, i_lo, &counts, &mut a);
            scatter_row(&taps, 3, i_lo, &counts, &mut b);
            assert!(a.iter().any(|&v| v != 0.0));
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "scale {scale}"
            );
        }
    }

    #[test]
    fn taps_hold_every_site_the_footprint_reaches() {
        // Brute force over a wide range of sites: nothing outside the taps has weight, and the
        // taps hold the full mass of the cloud averaged over the footprint.
        for (scale, cloud) in [
            (1.0, 0.61),
            (1.0, 5.9),
            (0.37, 1.3),
            (0.5, 0.61),
            (2.0, 2.0),
        ] {
            let taps = AxisTaps::new(-7, 40, scale, cloud, 1.0);
            for x in -7..33 {
                let (i0, w) = taps.at(x);
                let a = x as f64 / scale;
                let b = (x + 1) as f64 / scale;
                for i in i0 - 40..i0 + w.len() as i32 + 40 {
                    let c = i as f64 + 0.5;
                    let exact =
                        scale * (bspline_cdf((b - c) / cloud) - bspline_cdf((a - c) / cloud));
                    let inside = i >= i0 && i < i0 + w.len() as i32;
                    if inside {
                        assert_eq!(w[(i - i0) as usize], exact as f32);
                    } else {
                        assert_eq!(exact, 0.0, "scale {scale} cloud {cloud} x {x} site {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn colour_mix_gives_unit_variance_and_the_asked_correlation() {
        for rho in [0.0, 0.3, 0.75, 1.0] {
            let (a, b) = colour_mix(rho);
            let (a, b) = (a as f64, b as f64);
            let var = a * a + 2.0 * a * b + 3.0 * b * b;
            let cov = 2.0 * a * b + 3.0 * b * b;
            assert!(
                (var - 1.0).abs() < 1e-6 && (cov - rho).abs() < 1e-6,
                "{rho}"
            );
        }
    }

    #[test]
    fn hash_is_the_published_pcg_permutation() {
        // Values from an independent evaluation of the published definition (Python integers
        // masked to 32 bits); they pin the exact bits a CUDA port must reproduce.
        assert_eq!(pcg_hash(0), 129_708_002);
        assert_eq!(pcg_hash(1), 2_831_084_092);
        assert_eq!(pcg_hash(2), 2_055_130_248);
        assert_eq!(pcg_hash(0xdead_beef), 1_730_779_506);
        // A bijection: no collisions over a range.
        let mut v: Vec<u32> = (0..1u32 << 16).map(pcg_hash).collect();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 1 << 16);
    }
}
