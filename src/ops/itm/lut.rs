//! Log-spaced 1D lookup tables for the inverse tone map's fast path. Every table lives in one `f32` array
//! (one upload for a GPU) and is described by a small `#[repr(C)]` header, so the CUDA kernel
//! can evaluate exactly what the CPU evaluates.

/// A table whose samples are spaced evenly inside each octave (2^seg_bits per octave) from
/// 2^min_exp up to 2^(min_exp + octaves): relative resolution is the same at 1e-9 as at 1, which
/// is what power laws, PQ and HLG need. The segment is found from the `f32` bit pattern (exponent
/// and top mantissa bits), so reading it costs no logarithm; within a segment `x` is linear in the
/// mantissa, so the interpolation is linear in `x`.
///
/// Inputs above the range clamp to its top; inputs below 2^min_exp interpolate linearly between
/// `(0, zero_value)` and the first sample (set `zero_value` to the first sample for a constant
/// extension, e.g. for gain curves); NaN and negatives read as `zero_value`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C)]
pub struct LogLut {
    pub offset: u32,
    pub min_exp: i32,
    pub octaves: u32,
    pub seg_bits: u32,
    /// The curve's value at x = 0.
    pub zero_value: f32,
    /// 2^min_exp.
    pub x_min: f32,
    /// 2^(min_exp + octaves).
    pub x_max: f32,
}

impl LogLut {
    /// Samples `f` at every segment boundary. `zero_value: None` extends the first sample
    /// down to 0 as a constant.
    pub fn build(
        tables: &mut Vec<f32>,
        min_exp: i32,
        octaves: u32,
        seg_bits: u32,
        zero_value: Option<f64>,
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
        let first = tables[offset as usize];
        LogLut {
            offset,
            min_exp,
            octaves,
            seg_bits,
            zero_value: zero_value.map_or(first, |z| z as f32),
            x_min: 2f32.powi(min_exp),
            x_max: 2f32.powi(min_exp + octaves as i32),
        }
    }

    #[inline(always)]
    pub fn eval(&self, tables: &[f32], x: f32) -> f32 {
        if x >= self.x_min {
            let x = x.min(self.x_max);
            let shift = 23 - self.seg_bits;
            let base = ((127 + self.min_exp) as u32) << self.seg_bits;
            let bits = x.to_bits();
            // x in [x_min, x_max] is a positive normal float, so its biased exponent is at
            // least 127 + min_exp and the index lands in 0..=octaves·2^seg_bits.
            let i = (bits >> shift) - base;
            let frac = (bits & ((1u32 << shift) - 1)) as f32 * (1.0 / (1u32 << shift) as f32);
            let k = (self.offset + i) as usize;
            let a = tables[k];
            let b = tables[k + 1];
            a + (b - a) * frac
        } else {
            // Below the table, negative or NaN (max turns NaN into 0): the straight line from
            // (0, zero_value) to the first sample.
            let first = tables[self.offset as usize];
            let t = x.max(0.0) / self.x_min;
            self.zero_value + (first - self.zero_value) * t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lut_tracks_power_laws_to_stated_relative_error() {
        let mut t = Vec::new();
        // 64 segments per octave: linear interpolation of x^p errs by at most about
        // |p(p−1)|/8·(1/64)² relative: 1.03e-4 for p = 2.4, 7.4e-6 for p = 1/2.4.
        let pow24 = LogLut::build(&mut t, -32, 32, 6, Some(0.0), |x| x.powf(2.4));
        let root24 = LogLut::build(&mut t, -32, 32, 6, Some(0.0), |x| x.powf(1.0 / 2.4));
        let mut x = 1e-9f64;
        while x <= 1.0 {
            let want = x.powf(2.4);
            let got = pow24.eval(&t, x as f32) as f64;
            assert!(
                (got - want).abs() <= 1.2e-4 * want + 1e-30,
                "x^2.4 at {x}: {got} vs {want}"
            );
            let want = x.powf(1.0 / 2.4);
            let got = root24.eval(&t, x as f32) as f64;
            assert!(
                (got - want).abs() <= 1e-5 * want,
                "x^(1/2.4) at {x}: {got} vs {want}"
            );
            x *= 1.0137;
        }
        // Exact at samples, clamped above, linear to zero below, NaN → zero value.
        assert_eq!(pow24.eval(&t, 1.0), 1.0);
        assert_eq!(pow24.eval(&t, 7.0), 1.0);
        assert_eq!(pow24.eval(&t, 0.0), 0.0);
        assert_eq!(pow24.eval(&t, -3.0), 0.0);
        assert_eq!(pow24.eval(&t, f32::NAN), 0.0);
        let tiny = root24.x_min * 0.5;
        let first = root24.eval(&t, root24.x_min);
        assert!((root24.eval(&t, tiny) - 0.5 * first).abs() < 1e-7);
    }

    #[test]
    fn log_lut_constant_extension_and_second_table() {
        let mut t = vec![9.0; 3]; // a table that is not first must read its own samples
        let gain = LogLut::build(&mut t, -10, 11, 4, None, |x| 2.0 + x);
        assert_eq!(gain.offset, 3);
        assert_eq!(gain.eval(&t, 0.0), gain.eval(&t, gain.x_min));
        assert!((gain.eval(&t, 1.5) - 3.5).abs() < 1e-6);
        assert!((gain.eval(&t, 2.0) - 4.0).abs() < 1e-6);
    }
}
