//! Log-spaced 1D tables for the per-channel curves of the inverse tone map's fast path (input
//! decoding, PQ, HLG, Method A's 2.4 gammas). All tables live in one `f32` array (one upload for
//! a GPU), each described by a small `#[repr(C)]` header, so a CUDA kernel reads exactly what
//! the CPU reads.

use super::fastmath::clamp_to;

/// A table whose samples are spaced evenly inside each octave (2^seg_bits per octave) from
/// 2^min_exp up to 2^(min_exp + octaves): relative resolution is the same at 1e-9 as at 1, which
/// is what power laws, PQ and HLG need. The segment comes from the `f32` bit pattern (exponent
/// and top mantissa bits), so reading costs no logarithm; within a segment `x` is linear in the
/// mantissa, so the interpolation is linear in `x`.
///
/// Inputs are clamped to the range first (NaN and negatives read as 2^min_exp): each table is
/// built with a bottom that its curve cannot tell from 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C)]
pub struct LogLut {
    /// Index of the first sample in the shared table array.
    pub offset: u32,
    pub min_exp: i32,
    pub octaves: u32,
    pub seg_bits: u32,
    /// 2^min_exp.
    pub x_min: f32,
    /// 2^(min_exp + octaves).
    pub x_max: f32,
}

impl LogLut {
    /// Samples `f` at every segment boundary and appends the samples (plus one repeat of the
    /// last, so x = x_max needs no special case) to `tables`.
    pub fn build(
        tables: &mut Vec<f32>,
        min_exp: i32,
        octaves: u32,
        seg_bits: u32,
        f: impl Fn(f64) -> f64,
    ) -> Self {
        debug_assert!(min_exp > -120 && min_exp + (octaves as i32) < 120 && seg_bits <= 16);
        let offset = tables.len() as u32;
        let per_octave = 1u32 << seg_bits;
        let n = octaves * per_octave;
        for i in 0..=n {
            let octave = (i / per_octave) as i32;
            let step = (i % per_octave) as f64 / per_octave as f64;
            let x = 2f64.powi(min_exp + octave) * (1.0 + step);
            tables.push(f(x) as f32);
        }
        let last = tables[tables.len() - 1];
        tables.push(last);
        LogLut {
            offset,
            min_exp,
            octaves,
            seg_bits,
            x_min: 2f32.powi(min_exp),
            x_max: 2f32.powi(min_exp + octaves as i32),
        }
    }

    /// Number of `f32` samples this table occupies in the shared array.
    pub fn len(&self) -> usize {
        ((self.octaves << self.seg_bits) + 2) as usize
    }

    /// Never true: a table always holds at least two samples.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads the table at `N` inputs; `BITS` must equal `seg_bits` (a constant, so the index
    /// arithmetic vectorises).
    #[inline(always)]
    pub fn eval_lanes<const N: usize, const BITS: u32>(
        &self,
        tables: &[f32],
        x: &[f32; N],
    ) -> [f32; N] {
        self.read::<N, BITS>(tables, x)
    }

    /// Reads the table at one input.
    #[inline(always)]
    pub fn eval<const BITS: u32>(&self, tables: &[f32], x: f32) -> f32 {
        self.read::<1, BITS>(tables, &[x])[0]
    }

    /// The segment index of `x_min` (what the `f32` bits of an input shifted right by
    /// `23 − BITS` are offset by) and the highest index read: every index is clamped to it, so
    /// `index` and `index + 1` are inside the table even for a header that does not match its
    /// samples.
    #[inline(always)]
    pub(super) fn index_bounds<const BITS: u32>(&self) -> (u32, u32) {
        debug_assert_eq!(self.seg_bits, BITS, "table read with the wrong resolution");
        (
            ((127 + self.min_exp) as u32) << BITS,
            (self.len() - 2) as u32,
        )
    }

    /// The table at `N` inputs, one lane at a time: clamp, segment index and fraction from the
    /// bits, `lo + (hi − lo)·frac`. `lanes::Avx2` performs the same operations eight lanes at
    /// a time, and the CUDA kernel per thread.
    #[inline(always)]
    pub(super) fn read<const N: usize, const BITS: u32>(
        &self,
        tables: &[f32],
        x: &[f32; N],
    ) -> [f32; N] {
        let (first, last) = self.index_bounds::<BITS>();
        let table = &tables[self.offset as usize..self.offset as usize + self.len()];
        let mut out = [0.0f32; N];
        for k in 0..N {
            let bits = clamp_to(x[k], self.x_min, self.x_max).to_bits();
            // A value in [x_min, x_max] is a positive normal float whose biased exponent is at
            // least 127 + min_exp, so the segment index lands in 0..=octaves·2^BITS.
            let i = ((bits >> (23 - BITS)).wrapping_sub(first)).min(last) as usize;
            // The bits below the segment index, moved to the top of a mantissa under exponent
            // 0, read as 1.frac exactly: no int→float conversion, no division.
            let frac = f32::from_bits(0x3f80_0000 | ((bits << BITS) & 0x007f_ffff)) - 1.0;
            let lo = table[i];
            let hi = table[i + 1];
            out[k] = lo + (hi - lo) * frac;
        }
        out
    }
}

/// `(tables[i], tables[i + 1])` packed little-end-first in a `u64`, for every `i` but the last:
/// what the AVX2 read gathers, one element per lane instead of two.
pub fn sample_pairs(tables: &[f32]) -> Vec<u64> {
    tables
        .windows(2)
        .map(|w| w[0].to_bits() as u64 | ((w[1].to_bits() as u64) << 32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lut_tracks_power_laws_to_stated_relative_error() {
        let mut t = Vec::new();
        // 64 segments per octave: linear interpolation of x^p errs by at most about
        // |p(p−1)|/8·(1/64)² relative: 1.03e-4 for p = 2.4, 7.4e-6 for p = 1/2.4.
        let pow24 = LogLut::build(&mut t, -32, 32, 6, |x| x.powf(2.4));
        let root24 = LogLut::build(&mut t, -32, 32, 6, |x| x.powf(1.0 / 2.4));
        assert_eq!(t.len(), pow24.len() + root24.len());
        let mut x = 1e-9f64;
        while x <= 1.0 {
            let want = x.powf(2.4);
            let got = pow24.eval::<6>(&t, x as f32) as f64;
            assert!(
                (got - want).abs() <= 1.05e-4 * want,
                "x^2.4 at {x}: {got} vs {want}"
            );
            let want = x.powf(1.0 / 2.4);
            let got = root24.eval::<6>(&t, x as f32) as f64;
            assert!(
                (got - want).abs() <= 1e-5 * want,
                "x^(1/2.4) at {x}: {got} vs {want}"
            );
            x *= 1.0137;
        }
        // Exact at samples; clamped above and below; NaN reads as the bottom of the range.
        assert_eq!(pow24.eval::<6>(&t, 1.0), 1.0);
        assert_eq!(pow24.eval::<6>(&t, 0.5), 0.5f64.powf(2.4) as f32);
        assert_eq!(pow24.eval::<6>(&t, 7.0), 1.0);
        let bottom = root24.eval::<6>(&t, root24.x_min);
        assert!((bottom as f64 - 2f64.powf(-32.0 / 2.4)).abs() < 1e-9);
        for x in [0.0, -3.0, f32::NAN, f32::NEG_INFINITY] {
            assert_eq!(root24.eval::<6>(&t, x), bottom, "{x}");
        }
        assert_eq!(root24.eval::<6>(&t, f32::INFINITY), 1.0);
    }

    #[test]
    fn lanes_read_the_same_as_one_at_a_time_and_tables_share_an_array() {
        let mut t = vec![9.0; 3];
        let line = LogLut::build(&mut t, -10, 11, 4, |x| 2.0 + x);
        assert_eq!(line.offset, 3);
        assert_eq!(t.len(), 3 + line.len());
        let xs = [0.001, 0.3, 1.0, 1.5, 2.0, 0.0, f32::NAN, 1e-6];
        let lanes = line.eval_lanes::<8, 4>(&t, &xs);
        for (x, v) in xs.iter().zip(lanes) {
            assert_eq!(v.to_bits(), line.eval::<4>(&t, *x).to_bits(), "{x}");
        }
        // A straight line is reproduced up to rounding, across octaves.
        for x in [0.001, 0.3, 1.0, 1.5, 2.0] {
            assert!((line.eval::<4>(&t, x) - (2.0 + x)).abs() < 1e-6, "{x}");
        }
    }
}
