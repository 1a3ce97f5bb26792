//! The vector types the inverse tone map's row loop runs on. The pipeline
//! (`ItmPrepared::process`) is written once against [`Lanes`]; every implementation performs,
//! lane by lane, exactly the IEEE operation each method names (no FMA, no reassociation), so
//! every width and instruction set gives the same bits, and so does the CUDA kernel, which
//! performs the same operations per pixel.
//!
//! - [`Wide<N>`]: `N` plain `f32`s, one loop per operation. `Wide<8>` is the portable row
//!   loop, which the compiler vectorises with whatever the build targets.
//! - [`Avx2`] (x86-64): eight lanes in one AVX2 register, the whole pipeline held in registers
//!   (no per-step arrays in memory), table reads as hardware gathers.

// Lane loops index several arrays in lockstep; `0..N` says so more plainly than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::fastmath as fm;
use super::lut::LogLut;
use std::ops::{Add, Div, Mul, Sub};

/// What the pipeline needs of a vector of `f32` lanes. Comparisons and selects follow Rust's
/// `if a > b { t } else { e }`: a NaN compares false.
pub(super) trait Lanes:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    /// Pixels per vector.
    const N: usize;
    fn splat(v: f32) -> Self;
    /// `if self > lo { self } else { lo }` per lane (NaN → `lo`).
    fn max_or(self, lo: Self) -> Self;
    /// `if self < hi { self } else { hi }` per lane (NaN → `hi`).
    fn min_or(self, hi: Self) -> Self;
    /// `if a > b { t } else { e }` per lane.
    fn if_gt(a: Self, b: Self, t: Self, e: Self) -> Self;
    /// `if a >= b { t } else { e }` per lane.
    fn if_ge(a: Self, b: Self, t: Self, e: Self) -> Self;
    /// `if a < b { t } else { e }` per lane.
    fn if_lt(a: Self, b: Self, t: Self, e: Self) -> Self;
    /// `if a <= b { t } else { e }` per lane.
    fn if_le(a: Self, b: Self, t: Self, e: Self) -> Self;
    /// [`fm::log2`] per lane.
    fn log2(self) -> Self;
    /// [`fm::exp2`] per lane.
    fn exp2(self) -> Self;
    /// [`LogLut::read`] per lane; `BITS` must equal the table's `seg_bits`.
    fn read<const BITS: u32>(self, lut: &LogLut, tables: &[f32], pairs: &[u64]) -> Self;
    /// The first `N` pixels of `px` as R, G, B, A vectors.
    fn load(px: &[[f32; 4]]) -> [Self; 4];
    /// R, G, B, A vectors into the first `N` pixels of `px`.
    fn store(rgba: [Self; 4], px: &mut [[f32; 4]]);

    /// `lo..=hi` as [`fm::clamp_to`].
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> Self {
        self.max_or(Self::splat(lo)).min_or(Self::splat(hi))
    }

    /// `self^p` as `exp2(p · log2(self))` (self ≤ 1e-30 reads as 1e-30).
    #[inline(always)]
    fn pow(self, p: f32) -> Self {
        (Self::splat(p) * self.log2()).exp2()
    }
}

/// `w · v` with the products added left to right.
#[inline(always)]
pub(super) fn dot<V: Lanes>(w: [f32; 3], v: &[V; 3]) -> V {
    V::splat(w[0]) * v[0] + V::splat(w[1]) * v[1] + V::splat(w[2]) * v[2]
}

/// `m · v` for a row-major 3×3 `m`, each row as [`dot`].
#[inline(always)]
pub(super) fn mat3<V: Lanes>(m: &[f32; 9], v: &[V; 3]) -> [V; 3] {
    [
        dot([m[0], m[1], m[2]], v),
        dot([m[3], m[4], m[5]], v),
        dot([m[6], m[7], m[8]], v),
    ]
}

/// `N` lanes as a plain array; every operation is a loop over the lanes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Wide<const N: usize>(pub [f32; N]);

impl<const N: usize> Wide<N> {
    #[inline(always)]
    fn zip(self, b: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let mut out = [0.0; N];
        for k in 0..N {
            out[k] = f(self.0[k], b.0[k]);
        }
        Wide(out)
    }

    #[inline(always)]
    fn select(a: Self, b: Self, t: Self, e: Self, test: impl Fn(f32, f32) -> bool) -> Self {
        let mut out = [0.0; N];
        for k in 0..N {
            out[k] = if test(a.0[k], b.0[k]) { t.0[k] } else { e.0[k] };
        }
        Wide(out)
    }
}

macro_rules! wide_op {
    ($trait:ident, $method:ident, $op:tt) => {
        impl<const N: usize> $trait for Wide<N> {
            type Output = Self;
            #[inline(always)]
            fn $method(self, b: Self) -> Self {
                self.zip(b, |x, y| x $op y)
            }
        }
    };
}
wide_op!(Add, add, +);
wide_op!(Sub, sub, -);
wide_op!(Mul, mul, *);
wide_op!(Div, div, /);

impl<const N: usize> Lanes for Wide<N> {
    const N: usize = N;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        Wide([v; N])
    }
    #[inline(always)]
    fn max_or(self, lo: Self) -> Self {
        self.zip(lo, |x, lo| if x > lo { x } else { lo })
    }
    #[inline(always)]
    fn min_or(self, hi: Self) -> Self {
        self.zip(hi, |x, hi| if x < hi { x } else { hi })
    }
    #[inline(always)]
    fn if_gt(a: Self, b: Self, t: Self, e: Self) -> Self {
        Self::select(a, b, t, e, |a, b| a > b)
    }
    #[inline(always)]
    fn if_ge(a: Self, b: Self, t: Self, e: Self) -> Self {
        Self::select(a, b, t, e, |a, b| a >= b)
    }
    #[inline(always)]
    fn if_lt(a: Self, b: Self, t: Self, e: Self) -> Self {
        Self::select(a, b, t, e, |a, b| a < b)
    }
    #[inline(always)]
    fn if_le(a: Self, b: Self, t: Self, e: Self) -> Self {
        Self::select(a, b, t, e, |a, b| a <= b)
    }
    #[inline(always)]
    fn log2(self) -> Self {
        Wide(self.0.map(fm::log2))
    }
    #[inline(always)]
    fn exp2(self) -> Self {
        Wide(self.0.map(fm::exp2))
    }
    #[inline(always)]
    fn read<const BITS: u32>(self, lut: &LogLut, tables: &[f32], _pairs: &[u64]) -> Self {
        Wide(lut.read::<N, BITS>(tables, &self.0))
    }
    #[inline(always)]
    fn load(px: &[[f32; 4]]) -> [Self; 4] {
        let mut out = [Wide([0.0; N]); 4];
        for (k, p) in px[..N].iter().enumerate() {
            for ch in 0..4 {
                out[ch].0[k] = p[ch];
            }
        }
        out
    }
    #[inline(always)]
    fn store(rgba: [Self; 4], px: &mut [[f32; 4]]) {
        for (k, p) in px[..N].iter_mut().enumerate() {
            *p = [rgba[0].0[k], rgba[1].0[k], rgba[2].0[k], rgba[3].0[k]];
        }
    }
}

/// `K` vectors side by side, every operation applied to each in turn: the `K` dependency
/// chains are independent, so the CPU overlaps them (a table gather or a division of one waits
/// while the others compute). Same per-lane operations as `V`, so the same bits.
#[derive(Clone, Copy)]
pub(super) struct Group<V, const K: usize>(pub [V; K]);

// The methods below are loops written out, never closures: a closure is compiled as a function
// of its own, without the AVX2 target feature of the row loop, and `V`'s operations could not be
// inlined into it.

macro_rules! group_op {
    ($trait:ident, $method:ident) => {
        impl<V: Lanes, const K: usize> $trait for Group<V, K> {
            type Output = Self;
            #[inline(always)]
            fn $method(self, b: Self) -> Self {
                let mut out = self.0;
                for k in 0..K {
                    out[k] = V::$method(self.0[k], b.0[k]);
                }
                Group(out)
            }
        }
    };
}
group_op!(Add, add);
group_op!(Sub, sub);
group_op!(Mul, mul);
group_op!(Div, div);

macro_rules! group_methods {
    (binary: $($binary:ident),*; select: $($select:ident),*; unary: $($unary:ident),*) => {
        $(
            #[inline(always)]
            fn $binary(self, b: Self) -> Self {
                let mut out = self.0;
                for k in 0..K {
                    out[k] = V::$binary(self.0[k], b.0[k]);
                }
                Group(out)
            }
        )*
        $(
            #[inline(always)]
            fn $select(a: Self, b: Self, t: Self, e: Self) -> Self {
                let mut out = e.0;
                for k in 0..K {
                    out[k] = V::$select(a.0[k], b.0[k], t.0[k], e.0[k]);
                }
                Group(out)
            }
        )*
        $(
            #[inline(always)]
            fn $unary(self) -> Self {
                let mut out = self.0;
                for v in out.iter_mut() {
                    *v = V::$unary(*v);
                }
                Group(out)
            }
        )*
    };
}

impl<V: Lanes, const K: usize> Lanes for Group<V, K> {
    const N: usize = V::N * K;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        Group([V::splat(v); K])
    }
    group_methods!(
        binary: max_or, min_or;
        select: if_gt, if_ge, if_lt, if_le;
        unary: log2, exp2
    );
    #[inline(always)]
    fn read<const BITS: u32>(self, lut: &LogLut, tables: &[f32], pairs: &[u64]) -> Self {
        let mut out = self.0;
        for v in out.iter_mut() {
            *v = v.read::<BITS>(lut, tables, pairs);
        }
        Group(out)
    }
    #[inline(always)]
    fn load(px: &[[f32; 4]]) -> [Self; 4] {
        let mut out = [Group([V::splat(0.0); K]); 4];
        for k in 0..K {
            let [r, g, b, a] = V::load(&px[k * V::N..]);
            out[0].0[k] = r;
            out[1].0[k] = g;
            out[2].0[k] = b;
            out[3].0[k] = a;
        }
        out
    }
    #[inline(always)]
    fn store(rgba: [Self; 4], px: &mut [[f32; 4]]) {
        for k in 0..K {
            let v = [rgba[0].0[k], rgba[1].0[k], rgba[2].0[k], rgba[3].0[k]];
            V::store(v, &mut px[k * V::N..]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx2::Avx2;

/// Eight lanes in an AVX2 register.
///
/// Soundness: the methods are safe functions that execute AVX2 instructions, so an `Avx2`
/// value may only come into existence on a CPU that has AVX2. The type is private to the ITM
/// module and values are made (by `splat` or `load`) only inside
/// `ItmPrepared::apply_row_avx2`, which runs after `is_x86_feature_detected!("avx2")`; every
/// method is `#[inline(always)]`, so it is compiled into that AVX2-enabled function. Each
/// `unsafe` block below relies on this and on nothing else unless it says so.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{fm, Lanes, LogLut};
    use std::arch::x86_64::*;
    use std::ops::{Add, Div, Mul, Sub};

    #[derive(Clone, Copy)]
    pub struct Avx2(__m256);

    macro_rules! avx2_op {
        ($trait:ident, $method:ident, $intrinsic:ident) => {
            impl $trait for Avx2 {
                type Output = Self;
                #[inline(always)]
                fn $method(self, b: Self) -> Self {
                    // SAFETY: AVX2 is present (the type's soundness note).
                    Avx2(unsafe { $intrinsic(self.0, b.0) })
                }
            }
        };
    }
    avx2_op!(Add, add, _mm256_add_ps);
    avx2_op!(Sub, sub, _mm256_sub_ps);
    avx2_op!(Mul, mul, _mm256_mul_ps);
    avx2_op!(Div, div, _mm256_div_ps);

    /// `if a <op> b { t } else { e }` with an ordered, quiet comparison (NaN → `e`).
    #[inline(always)]
    fn select<const PREDICATE: i32>(a: Avx2, b: Avx2, t: Avx2, e: Avx2) -> Avx2 {
        // SAFETY: AVX2 is present (the type's soundness note).
        unsafe {
            let mask = _mm256_cmp_ps::<PREDICATE>(a.0, b.0);
            Avx2(_mm256_blendv_ps(e.0, t.0, mask))
        }
    }

    impl Lanes for Avx2 {
        const N: usize = 8;

        #[inline(always)]
        fn splat(v: f32) -> Self {
            // SAFETY: AVX2 is present (the type's soundness note).
            Avx2(unsafe { _mm256_set1_ps(v) })
        }
        #[inline(always)]
        fn max_or(self, lo: Self) -> Self {
            // maxps returns its second operand unless the first is greater (NaN included):
            // exactly `if x > lo { x } else { lo }`.
            // SAFETY: AVX2 is present (the type's soundness note).
            Avx2(unsafe { _mm256_max_ps(self.0, lo.0) })
        }
        #[inline(always)]
        fn min_or(self, hi: Self) -> Self {
            // SAFETY: AVX2 is present; minps is `if x < hi { x } else { hi }`.
            Avx2(unsafe { _mm256_min_ps(self.0, hi.0) })
        }
        #[inline(always)]
        fn if_gt(a: Self, b: Self, t: Self, e: Self) -> Self {
            select::<_CMP_GT_OQ>(a, b, t, e)
        }
        #[inline(always)]
        fn if_ge(a: Self, b: Self, t: Self, e: Self) -> Self {
            select::<_CMP_GE_OQ>(a, b, t, e)
        }
        #[inline(always)]
        fn if_lt(a: Self, b: Self, t: Self, e: Self) -> Self {
            select::<_CMP_LT_OQ>(a, b, t, e)
        }
        #[inline(always)]
        fn if_le(a: Self, b: Self, t: Self, e: Self) -> Self {
            select::<_CMP_LE_OQ>(a, b, t, e)
        }

        /// [`fm::log2`], operation for operation.
        #[inline(always)]
        fn log2(self) -> Self {
            let x = self.max_or(Self::splat(fm::LOG2_FLOOR));
            // SAFETY: AVX2 is present (the type's soundness note).
            let (exponent, m) = unsafe {
                let bits = _mm256_castps_si256(x.0);
                // x > 0, so the sign bit is clear and the shift leaves the biased exponent.
                let exponent =
                    _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(127));
                let m = _mm256_or_si256(
                    _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
                    _mm256_set1_epi32(0x3f80_0000),
                );
                (exponent, Avx2(_mm256_castsi256_ps(m)))
            };
            let sqrt2 = Self::splat(fm::SQRT2);
            let m_half = m * Self::splat(0.5);
            let m2 = Self::if_gt(m, sqrt2, m_half, m);
            // SAFETY: AVX2 is present. The comparison mask is −1 where m > √2, so subtracting
            // it adds the `big as i32` of the scalar code; the exponent (−127..=128) converts
            // to f32 exactly.
            let exponent = unsafe {
                let big = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(m.0, sqrt2.0));
                Avx2(_mm256_cvtepi32_ps(_mm256_sub_epi32(exponent, big)))
            };
            let one = Self::splat(1.0);
            let z = (m2 - one) / (m2 + one);
            let z2 = z * z;
            let [c1, c3, c5, c7, c9] = fm::LOG2_SERIES;
            let [c1, c3, c5, c7, c9] = [
                Self::splat(c1),
                Self::splat(c3),
                Self::splat(c5),
                Self::splat(c7),
                Self::splat(c9),
            ];
            exponent + z * (c1 + z2 * (c3 + z2 * (c5 + z2 * (c7 + z2 * c9))))
        }

        /// [`fm::exp2`], operation for operation.
        #[inline(always)]
        fn exp2(self) -> Self {
            let y = self.clamp(-126.0, 126.0);
            let rounder = Self::splat(fm::EXP2_ROUNDER);
            let shifted = y + rounder;
            let f = y - (shifted - rounder);
            let [e1, e2, e3, e4, e5, e6, e7] = fm::EXP2_SERIES;
            let [e1, e2, e3, e4, e5, e6, e7] = [
                Self::splat(e1),
                Self::splat(e2),
                Self::splat(e3),
                Self::splat(e4),
                Self::splat(e5),
                Self::splat(e6),
                Self::splat(e7),
            ];
            let p = Self::splat(1.0)
                + f * (e1 + f * (e2 + f * (e3 + f * (e4 + f * (e5 + f * (e6 + f * e7))))));
            // SAFETY: AVX2 is present. n = round(y) sits in the low mantissa bits of
            // `shifted`; n + 127 is 1..=253, a valid biased exponent.
            let scale = unsafe {
                let n = _mm256_sub_epi32(
                    _mm256_castps_si256(shifted.0),
                    _mm256_set1_epi32(fm::EXP2_ROUNDER.to_bits() as i32),
                );
                let biased = _mm256_add_epi32(n, _mm256_set1_epi32(127));
                Avx2(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased)))
            };
            p * scale
        }

        /// [`LogLut::read`] with both neighbours fetched by one 64-bit gather from `pairs`
        /// ([`super::super::lut::sample_pairs`] of `tables`): half the gathered elements of two
        /// 32-bit gathers. Same clamp, index, fraction and `lo + (hi − lo)·frac` as the scalar
        /// read.
        #[inline(always)]
        fn read<const BITS: u32>(self, lut: &LogLut, _tables: &[f32], pairs: &[u64]) -> Self {
            let (first, last) = lut.index_bounds::<BITS>();
            // Panics (before any unsafe read) if `pairs` is shorter than the table needs.
            let pairs = &pairs[lut.offset as usize..lut.offset as usize + lut.len() - 1];
            let v = self
                .max_or(Self::splat(lut.x_min))
                .min_or(Self::splat(lut.x_max));
            // SAFETY: AVX2 is present. Every index is clamped to `last` ≤ table.len() − 2 =
            // pairs.len() − 1, so each 64-bit gather (scale 8) stays inside `pairs`; indices
            // are far below 2^31, so as i32 they stay positive.
            unsafe {
                let bits = _mm256_castps_si256(v.0);
                let index = _mm256_min_epu32(
                    _mm256_sub_epi32(
                        _mm256_srl_epi32(bits, _mm_cvtsi32_si128(23 - BITS as i32)),
                        _mm256_set1_epi32(first as i32),
                    ),
                    _mm256_set1_epi32(last as i32),
                );
                let mantissa = _mm256_or_si256(
                    _mm256_and_si256(
                        _mm256_sll_epi32(bits, _mm_cvtsi32_si128(BITS as i32)),
                        _mm256_set1_epi32(0x007f_ffff),
                    ),
                    _mm256_set1_epi32(0x3f80_0000),
                );
                let frac = _mm256_sub_ps(_mm256_castsi256_ps(mantissa), _mm256_set1_ps(1.0));
                let base = pairs.as_ptr() as *const i64;
                // Lanes 0..4 and 4..8: [lo0 hi0 lo1 hi1 | lo2 hi2 lo3 hi3] and the like.
                let p0 = _mm256_castsi256_ps(_mm256_i32gather_epi64::<8>(
                    base,
                    _mm256_castsi256_si128(index),
                ));
                let p1 = _mm256_castsi256_ps(_mm256_i32gather_epi64::<8>(
                    base,
                    _mm256_extracti128_si256::<1>(index),
                ));
                // Even / odd floats: [lo0 lo1 lo4 lo5 | lo2 lo3 lo6 lo7], then the 64-bit
                // quarters back in lane order (0, 2, 1, 3).
                let lo = _mm256_shuffle_ps::<0x88>(p0, p1);
                let hi = _mm256_shuffle_ps::<0xDD>(p0, p1);
                let lo = _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(lo)));
                let hi = _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(hi)));
                Avx2(_mm256_add_ps(
                    lo,
                    _mm256_mul_ps(_mm256_sub_ps(hi, lo), frac),
                ))
            }
        }

        /// Eight RGBA pixels (four registers of two pixels) transposed to four registers of
        /// one channel each.
        #[inline(always)]
        fn load(px: &[[f32; 4]]) -> [Self; 4] {
            let px = &px[..8];
            // SAFETY: AVX2 is present; `px` holds 8 pixels = 32 floats, read as four
            // unaligned 8-float loads.
            unsafe {
                let p = px.as_ptr() as *const f32;
                let v0 = _mm256_loadu_ps(p);
                let v1 = _mm256_loadu_ps(p.add(8));
                let v2 = _mm256_loadu_ps(p.add(16));
                let v3 = _mm256_loadu_ps(p.add(24));
                // Pixel k in the low half, pixel k + 4 in the high half.
                let a = _mm256_permute2f128_ps::<0x20>(v0, v2); // p0 | p4
                let b = _mm256_permute2f128_ps::<0x31>(v0, v2); // p1 | p5
                let c = _mm256_permute2f128_ps::<0x20>(v1, v3); // p2 | p6
                let d = _mm256_permute2f128_ps::<0x31>(v1, v3); // p3 | p7
                let t0 = _mm256_unpacklo_ps(a, b); // r0 r1 g0 g1 | r4 r5 g4 g5
                let t1 = _mm256_unpacklo_ps(c, d); // r2 r3 g2 g3 | r6 r7 g6 g7
                let t2 = _mm256_unpackhi_ps(a, b); // b0 b1 a0 a1 | b4 b5 a4 a5
                let t3 = _mm256_unpackhi_ps(c, d); // b2 b3 a2 a3 | b6 b7 a6 a7
                [
                    Avx2(_mm256_shuffle_ps::<0x44>(t0, t1)),
                    Avx2(_mm256_shuffle_ps::<0xEE>(t0, t1)),
                    Avx2(_mm256_shuffle_ps::<0x44>(t2, t3)),
                    Avx2(_mm256_shuffle_ps::<0xEE>(t2, t3)),
                ]
            }
        }

        /// The inverse of [`Self::load`].
        #[inline(always)]
        fn store(rgba: [Self; 4], px: &mut [[f32; 4]]) {
            let px = &mut px[..8];
            let [Avx2(r), Avx2(g), Avx2(b), Avx2(a)] = rgba;
            // SAFETY: AVX2 is present; `px` holds 8 pixels = 32 floats, written as four
            // unaligned 8-float stores.
            unsafe {
                let t0 = _mm256_unpacklo_ps(r, g); // r0 g0 r1 g1 | r4 g4 r5 g5
                let t1 = _mm256_unpacklo_ps(b, a); // b0 a0 b1 a1 | b4 a4 b5 a5
                let t2 = _mm256_unpackhi_ps(r, g); // r2 g2 r3 g3 | r6 g6 r7 g7
                let t3 = _mm256_unpackhi_ps(b, a); // b2 a2 b3 a3 | b6 a6 b7 a7
                let p04 = _mm256_shuffle_ps::<0x44>(t0, t1);
                let p15 = _mm256_shuffle_ps::<0xEE>(t0, t1);
                let p26 = _mm256_shuffle_ps::<0x44>(t2, t3);
                let p37 = _mm256_shuffle_ps::<0xEE>(t2, t3);
                let p = px.as_mut_ptr() as *mut f32;
                _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(p04, p15));
                _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x20>(p26, p37));
                _mm256_storeu_ps(p.add(16), _mm256_permute2f128_ps::<0x31>(p04, p15));
                _mm256_storeu_ps(p.add(24), _mm256_permute2f128_ps::<0x31>(p26, p37));
            }
        }
    }
}
