//! The CPU runner: evaluates a network over any output region in tiles on a fixed grid, each
//! tile computed from its own input region (the tile plus the receptive-field halo), each layer
//! over a region one pixel smaller than the one below it. Within a tile the layers advance row
//! by row, each hidden layer keeping only the three rows the next one reads, so activations
//! stay in the cache. Zero padding is applied at the frame's edges only, exactly as PyTorch
//! pads the whole image, so every output pixel is the same number whatever the tile size,
//! window or thread count (tests assert bit identity).
//!
//! Convolutions are direct 3×3 on channel-interleaved rows: AVX2+FMA kernels (runtime
//! detection) that keep a 6-pixel × 16-channel block of accumulators in registers, and a
//! portable path with the same operation order using `f32::mul_add` (a fused multiply-add,
//! like the FMA instruction), so both give identical bits. Accumulation is f32: bias first,
//! then taps in (ky, kx) order, input channels innermost.

use super::model::{Conv, Model};
use super::spec::Skip;
use super::unshuffle;
use super::{Planar, TileSource};
use crate::image::Rect;
use crate::ops::upscale::resample::Filter;
use crate::ops::{Abort, OpError};
use rayon::prelude::*;

/// Output tile edge on the fixed grid, in output pixels (a multiple of every scale).
pub const DEFAULT_TILE: usize = 256;

/// Which instruction set the convolutions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// 16-lane registers and 32 of them: twice the pixels per block, half the loads per FMA.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernels {
    /// The fastest set this CPU has.
    pub fn detect() -> Kernels {
        Kernels::available()
            .last()
            .copied()
            .unwrap_or(Kernels::Portable)
    }

    /// Every set this CPU can run, slowest first (tests check they all agree to the bit).
    pub fn available() -> Vec<Kernels> {
        let mut v = vec![Kernels::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            if avx2 {
                v.push(Kernels::Avx2Fma);
            }
            if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Kernels::Avx512);
            }
        }
        v
    }
}

/// How a run is cut up; never changes the result.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Output tile edge in output pixels; rounded up to a multiple of the model's scale.
    pub tile: usize,
    pub kernels: Kernels,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            tile: DEFAULT_TILE,
            kernels: Kernels::detect(),
        }
    }
}

/// The output frame of an input frame: each side × scale.
pub fn output_frame(frame: Rect, scale: usize) -> Rect {
    let s = scale as i32;
    Rect::new(frame.x1 * s, frame.y1 * s, frame.x2 * s, frame.y2 * s)
}

/// The input pixels an output region depends on: its footprint plus the halo, clipped to the
/// frame (what a host should be asked for as the region of interest).
pub fn input_region(model: &Model, frame: Rect, output: Rect) -> Rect {
    let h = model.halo() as i32;
    let fp = footprint(frame, output, model.scale());
    Rect::new(fp.x1 - h, fp.y1 - h, fp.x2 + h, fp.y2 + h).intersect(&frame)
}

/// Input pixels whose outputs cover `output` (no halo).
pub fn footprint(frame: Rect, output: Rect, scale: usize) -> Rect {
    let s = scale as i32;
    let of = output_frame(frame, scale);
    Rect::new(
        frame.x1 + (output.x1 - of.x1).div_euclid(s),
        frame.y1 + (output.y1 - of.y1).div_euclid(s),
        frame.x1 + (output.x2 - of.x1 + s - 1).div_euclid(s),
        frame.y1 + (output.y2 - of.y1 + s - 1).div_euclid(s),
    )
}

/// The tiles of `window` on the grid anchored at the output frame's origin.
pub fn tiles(frame: Rect, scale: usize, window: Rect, tile: usize) -> Vec<Rect> {
    let s = scale.max(1);
    let tile = (tile.max(1).div_ceil(s) * s) as i32;
    let of = output_frame(frame, scale);
    let w = window.intersect(&of);
    let mut out = Vec::new();
    if w.is_empty() {
        return out;
    }
    let ty1 = (w.y1 - of.y1).div_euclid(tile);
    let ty2 = (w.y2 - 1 - of.y1).div_euclid(tile);
    let tx1 = (w.x1 - of.x1).div_euclid(tile);
    let tx2 = (w.x2 - 1 - of.x1).div_euclid(tile);
    for ty in ty1..=ty2 {
        for tx in tx1..=tx2 {
            let r = Rect::new(
                of.x1 + tx * tile,
                of.y1 + ty * tile,
                of.x1 + (tx + 1) * tile,
                of.y1 + (ty + 1) * tile,
            )
            .intersect(&w);
            if !r.is_empty() {
                out.push(r);
            }
        }
    }
    out
}

/// Runs `model` over `window` (output pixels) of the frame whose input pixels `source` gives.
/// `sink` receives each finished tile (3 channels, the model's encoding) on a worker thread.
pub fn run(
    model: &Model,
    source: &dyn TileSource,
    frame: Rect,
    window: Rect,
    options: RunOptions,
    abort: &dyn Abort,
    sink: &(dyn Fn(Planar) + Sync),
) -> Result<(), OpError> {
    unshuffle::lowered(
        model,
        source,
        frame,
        window,
        options.tile,
        sink,
        |source, frame, list, sink| {
            list.par_iter().try_for_each(|&t| {
                if abort.aborted() {
                    return Err(OpError::Aborted);
                }
                sink(run_tile(model, source, frame, t, options.kernels));
                Ok(())
            })
        },
    )
}

/// Convenience for tests and tools: the whole output of a whole input image.
pub fn forward(model: &Model, input: &Planar, options: RunOptions) -> Planar {
    let frame = input.rect;
    let of = output_frame(frame, model.scale());
    let out = std::sync::Mutex::new(Planar::zeros(of, model.spec.out_channels));
    let sink = |t: Planar| out.lock().unwrap_or_else(|e| e.into_inner()).paste(&t);
    // NeverAbort cannot abort, so this cannot fail.
    let _ = run(
        model,
        input,
        frame,
        of,
        options,
        &crate::ops::NeverAbort,
        &sink,
    );
    out.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// One output tile of the stack (its geometry: `nn::unshuffle`): input region with halo →
/// convolutions → pixel shuffle + skip.
fn run_tile(
    model: &Model,
    source: &dyn TileSource,
    frame: Rect,
    out_rect: Rect,
    kernels: Kernels,
) -> Planar {
    let spec = &model.spec;
    let s = spec.net_scale();
    let halo = model.convs.len() as i32;
    let core = footprint(frame, out_rect, s);
    let grow = |r: Rect, d: i32| Rect::new(r.x1 - d, r.y1 - d, r.x2 + d, r.y2 + d);

    let input = tile_input(model, source, frame, grow(core, halo));

    let tail = if model.convs.is_empty() {
        Planar::zeros(core, 3 * s * s)
    } else {
        layers_by_rows(model, &input, core, frame, kernels)
    };
    assemble(model, &input, &tail, frame, out_rect)
}

/// Rows a layer computes at a time before the layer above it takes its turn: its weights stay
/// in the first-level cache for that many rows, while the rings stay small enough for the
/// second-level one. Timed on a 2-core Zen 4 (BENCHMARKS.md, neural engine): 8 and 16 rows
/// equal, 1 and 32 slower on the restorer.
const STEP_ROWS: i32 = 8;

/// The last rows of one hidden layer's output over its region, as a ring (row `y` in slot
/// `y mod (STEP_ROWS + 2)`): what the next convolution reads to make its next `STEP_ROWS`
/// rows. Pixels outside the frame are zero, the next layer's padding.
struct LayerRows {
    rect: Rect,
    channels: usize,
    data: Vec<f32>,
    /// The next row to compute.
    next: i32,
}

impl LayerRows {
    const SLOTS: i32 = STEP_ROWS + 2;

    fn index(&self, x: i32, y: i32) -> usize {
        let w = self.rect.width() as usize;
        (y.rem_euclid(Self::SLOTS) as usize * w + (x - self.rect.x1) as usize) * self.channels
    }
}

/// Where convolution `l` reads its input rows: the tile's input or the previous layer's ring.
fn source_rows<'a>(
    input: &'a Planar,
    hidden: &'a [LayerRows],
    l: usize,
    x: i32,
    y: i32,
) -> (&'a [f32], usize, [usize; 3]) {
    if l == 0 {
        let b = [
            input.index(x, y - 1),
            input.index(x, y),
            input.index(x, y + 1),
        ];
        (&input.data, input.channels, b)
    } else {
        let r = &hidden[l - 1];
        (
            &r.data,
            r.channels,
            [r.index(x, y - 1), r.index(x, y), r.index(x, y + 1)],
        )
    }
}

/// Row `y` of convolution `conv` over the columns `x1..x1 + out.len() / cout_padded`, from its
/// source rows, with the activation (applied here when the kernel did not fuse it).
fn conv_line(
    conv: &Conv,
    (src, cs, bases): (&[f32], usize, [usize; 3]),
    out: &mut [f32],
    kernels: Kernels,
) {
    let n = out.len() / conv.cout_padded;
    if !conv_row(conv, src, cs, bases, n, out, kernels) {
        for px in out.chunks_exact_mut(conv.cout_padded) {
            for (co, v) in px[..conv.cout].iter_mut().enumerate() {
                *v = conv.activation.apply(co, *v);
            }
        }
    }
}

/// Computes hidden layer `l`'s rows up to `y` (those not yet computed), `STEP_ROWS` at a time,
/// each step after the layer below has computed the rows the step reads. A step of layer `l`
/// reads rows `next − 1 ..= end + 1` of the layer below, at most `STEP_ROWS + 2`: all still in
/// its ring, since the layer below only ever runs `STEP_ROWS` rows ahead.
fn advance(
    model: &Model,
    input: &Planar,
    hidden: &mut [LayerRows],
    l: usize,
    y: i32,
    frame: Rect,
    kernels: Kernels,
) {
    let target = y.min(hidden[l].rect.y2 - 1);
    while hidden[l].next <= target {
        let first = hidden[l].next;
        let end = target.min(first + STEP_ROWS - 1);
        if l > 0 {
            advance(model, input, hidden, l - 1, end + 1, frame, kernels);
        }
        let (below, this) = hidden.split_at_mut(l);
        let this = &mut this[0];
        let w = this.rect.width() as usize * this.channels;
        let r = this.rect.intersect(&frame);
        for row in first..=end {
            if r.is_empty() || row < r.y1 || row >= r.y2 {
                let start = this.index(this.rect.x1, row);
                this.data[start..start + w].fill(0.0);
            } else {
                let (a, b) = (
                    this.index(r.x1, row),
                    this.index(r.x2 - 1, row) + this.channels,
                );
                let src = source_rows(input, below, l, r.x1 - 1, row);
                conv_line(&model.convs[l], src, &mut this.data[a..b], kernels);
            }
        }
        this.next = end + 1;
    }
}

/// The last convolution's output over `core` (its pixels outside the frame zero), computed
/// row by row: each hidden layer keeps only the three rows the next one reads, so a tile's
/// activations stay in the cache instead of a whole buffer per layer. Every value is the
/// same number the layer-at-a-time order gives (same kernels, same inputs).
fn layers_by_rows(
    model: &Model,
    input: &Planar,
    core: Rect,
    frame: Rect,
    kernels: Kernels,
) -> Planar {
    let halo = model.convs.len() as i32;
    let grow = |r: Rect, d: i32| Rect::new(r.x1 - d, r.y1 - d, r.x2 + d, r.y2 + d);
    let (last, hidden_convs) = model.convs.split_last().expect("a model has convolutions");
    let mut hidden: Vec<LayerRows> = hidden_convs
        .iter()
        .enumerate()
        .map(|(l, conv)| {
            let rect = grow(core, halo - l as i32 - 1);
            LayerRows {
                rect,
                channels: conv.cout_padded,
                data: vec![
                    0.0;
                    LayerRows::SLOTS as usize * rect.width() as usize * conv.cout_padded
                ],
                next: rect.y1,
            }
        })
        .collect();
    let mut tail = Planar::zeros(core, last.cout_padded);
    let r = core.intersect(&frame);
    if r.is_empty() {
        return tail;
    }
    let l = hidden.len();
    let mut y = r.y1;
    while y < r.y2 {
        let end = (y + STEP_ROWS).min(r.y2);
        if l > 0 {
            advance(model, input, &mut hidden, l - 1, end, frame, kernels);
        }
        for row in y..end {
            let (a, b) = (
                tail.index(r.x1, row),
                tail.index(r.x2 - 1, row) + last.cout_padded,
            );
            let src = source_rows(input, &hidden, l, r.x1 - 1, row);
            conv_line(last, src, &mut tail.data[a..b], kernels);
        }
        y = end;
    }
    tail
}

/// The network input over `rect`: `source`'s pixels inside the frame, zero outside it
/// (PyTorch's padding). Shared by the CPU and GPU runners.
pub fn tile_input(model: &Model, source: &dyn TileSource, frame: Rect, rect: Rect) -> Planar {
    let c = model.spec.net_in_channels();
    let mut input = Planar::zeros(rect, c);
    let inside = rect.intersect(&frame);
    for y in inside.y1..inside.y2 {
        let i = input.index(inside.x1, y);
        let n = inside.width() as usize;
        source.read_row(y, inside.x1, n, &mut input.data[i..i + n * c]);
    }
    input
}

/// `count` output pixels of one row. `bases[ky]` indexes channel 0 of the input pixel up-left
/// of the first output pixel's tap, in row `y - 1 + ky`. Returns whether the activation was
/// applied too (the AVX2 and AVX-512 kernels fuse the ReLU family into their stores);
/// otherwise the caller applies it.
fn conv_row(
    conv: &Conv,
    src: &[f32],
    cs: usize,
    bases: [usize; 3],
    count: usize,
    out: &mut [f32],
    kernels: Kernels,
) -> bool {
    // Every index the kernels touch: the last pixel's rightmost tap in the lowest row.
    let last = bases.iter().max().copied().unwrap_or(0) + (count + 1) * cs + conv.cin;
    assert!(last <= src.len() && out.len() >= count * conv.cout_padded);
    match kernels {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx2Fma` is only chosen after runtime detection of both features; the
        // assert above bounds every source index, and `out` holds `count × cout_padded`.
        Kernels::Avx2Fma => {
            let fuse = avx2::fuses(&conv.activation);
            unsafe { avx2::conv_row(conv, src, cs, bases, count, out, 0, fuse) };
            fuse
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above; `Avx512` is only chosen when AVX-512F, AVX2 and FMA were detected.
        Kernels::Avx512 => {
            let fuse = avx2::fuses(&conv.activation);
            unsafe { avx512::conv_row(conv, src, cs, bases, count, out, fuse) };
            fuse
        }
        Kernels::Portable => {
            portable_row(conv, src, cs, bases, count, out);
            false
        }
    }
}

fn portable_row(
    conv: &Conv,
    src: &[f32],
    cs: usize,
    bases: [usize; 3],
    count: usize,
    out: &mut [f32],
) {
    let cp = conv.cout_padded;
    for i in 0..count {
        let acc = &mut out[i * cp..(i + 1) * cp];
        acc.copy_from_slice(&conv.bias);
        for (ky, base) in bases.iter().enumerate() {
            for kx in 0..3 {
                let tap = ky * 3 + kx;
                let px = base + (i + kx) * cs;
                for ci in 0..conv.cin {
                    let x = src[px + ci];
                    let w =
                        &conv.weights[(tap * conv.cin + ci) * cp..(tap * conv.cin + ci + 1) * cp];
                    for (a, &wv) in acc.iter_mut().zip(w) {
                        *a = x.mul_add(wv, *a);
                    }
                }
            }
        }
    }
}

/// `block::<NP, NV>(a)` of the invoking kernel module for a row's `np` remaining pixels
/// (1 to 12, the register blocks' widths): one monomorphised block per width, so a row's tail
/// runs the same code shape as a full block.
#[cfg(target_arch = "x86_64")]
macro_rules! block_for_pixels {
    ($np:expr, $nv:ident, $a:expr) => {
        match $np {
            12 => block::<12, $nv>($a),
            11 => block::<11, $nv>($a),
            10 => block::<10, $nv>($a),
            9 => block::<9, $nv>($a),
            8 => block::<8, $nv>($a),
            7 => block::<7, $nv>($a),
            6 => block::<6, $nv>($a),
            5 => block::<5, $nv>($a),
            4 => block::<4, $nv>($a),
            3 => block::<3, $nv>($a),
            2 => block::<2, $nv>($a),
            _ => block::<1, $nv>($a),
        }
    };
}

#[cfg(target_arch = "x86_64")]
// Register blocks index accumulators by pixel and vector in lockstep with pointer offsets.
#[allow(clippy::needless_range_loop)]
mod avx2 {
    use super::Conv;
    use crate::nn::ConvActivation;
    use std::arch::x86_64::*;

    /// Pixels per register block: 6 pixels × 2 vectors = 12 accumulators, 2 weight vectors and
    /// one broadcast of the 16 registers; with one vector (8 output channels: a restorer's or
    /// an upscaler's tail), 12 pixels × 1 vector, so the tail keeps 12 FMAs in flight too.
    const PIXELS: usize = 6;
    const PIXELS_ONE: usize = 12;

    /// Whether [`conv_row`] can apply `act` in its stores: the ReLU family (a compare and a
    /// blend, the scalar definition's bits); SiLU stays scalar.
    pub fn fuses(act: &ConvActivation) -> bool {
        !matches!(act, ConvActivation::Silu)
    }

    /// Output channels `first_co..` of a row, with the activation applied when `activate`
    /// (which needs [`fuses`]).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `src` holds every tap of `count` pixels (see `conv_row`).
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn conv_row(
        conv: &Conv,
        src: &[f32],
        cs: usize,
        bases: [usize; 3],
        count: usize,
        out: &mut [f32],
        first_co: usize,
        activate: bool,
    ) {
        debug_assert!(!activate || fuses(&conv.activation));
        let cp = conv.cout_padded;
        let mut co = first_co;
        // Output-channel blocks outermost: one block's weights (9·cin·16 floats) stay in L1
        // while the row streams past.
        while co < cp {
            let nv = if cp - co >= 16 { 2 } else { 1 };
            let mut i = 0;
            while i < count {
                let np = (count - i).min(if nv == 2 { PIXELS } else { PIXELS_ONE });
                let a = Args {
                    conv,
                    src: src.as_ptr(),
                    cs,
                    bases,
                    i,
                    co,
                    out: out.as_mut_ptr().add(i * cp + co),
                    activate,
                };
                if nv == 2 {
                    block_n::<2>(np, &a);
                } else {
                    block_n::<1>(np, &a);
                }
                i += np;
            }
            co += 8 * nv;
        }
    }

    struct Args<'a> {
        conv: &'a Conv,
        src: *const f32,
        cs: usize,
        bases: [usize; 3],
        i: usize,
        co: usize,
        out: *mut f32,
        activate: bool,
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn block_n<const NV: usize>(np: usize, a: &Args<'_>) {
        block_for_pixels!(np, NV, a)
    }

    /// NP pixels × NV·8 output channels; the same operation order for every pixel whatever
    /// NP, so row tails give the same bits as full blocks.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const NP: usize, const NV: usize>(a: &Args<'_>) {
        let conv = a.conv;
        let (cin, cp) = (conv.cin, conv.cout_padded);
        let mut acc = [[_mm256_setzero_ps(); NV]; NP];
        let bias = conv.bias.as_ptr().add(a.co);
        for p in 0..NP {
            for v in 0..NV {
                acc[p][v] = _mm256_loadu_ps(bias.add(8 * v));
            }
        }
        let weights = conv.weights.as_ptr();
        for ky in 0..3 {
            for kx in 0..3 {
                let tap = ky * 3 + kx;
                let s = a.src.add(a.bases[ky] + (a.i + kx) * a.cs);
                let wt = weights.add(tap * cin * cp + a.co);
                for ci in 0..cin {
                    let mut w = [_mm256_setzero_ps(); NV];
                    for v in 0..NV {
                        w[v] = _mm256_loadu_ps(wt.add(ci * cp + 8 * v));
                    }
                    for p in 0..NP {
                        let x = _mm256_broadcast_ss(&*s.add(p * a.cs + ci));
                        for v in 0..NV {
                            acc[p][v] = _mm256_fmadd_ps(x, w[v], acc[p][v]);
                        }
                    }
                }
            }
        }
        if a.activate {
            activate::<NP, NV>(&mut acc, &conv.activation, a.co);
        }
        for p in 0..NP {
            for v in 0..NV {
                _mm256_storeu_ps(a.out.add(p * cp + 8 * v), acc[p][v]);
            }
        }
    }

    /// The ReLU family on the accumulators of output channels `co..`, as
    /// `ConvActivation::apply` defines it: `v` where `v >= 0`, else the slope times `v` (0 for
    /// ReLU). NaN compares false, as in the scalar code.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn activate<const NP: usize, const NV: usize>(
        acc: &mut [[__m256; NV]; NP],
        act: &ConvActivation,
        co: usize,
    ) {
        let zero = _mm256_setzero_ps();
        let mut slope = [zero; NV];
        match act {
            ConvActivation::None => return,
            ConvActivation::Relu => {}
            ConvActivation::Leaky(s) => slope = [_mm256_set1_ps(*s); NV],
            ConvActivation::Prelu(s) => {
                for v in 0..NV {
                    slope[v] = _mm256_loadu_ps(s.as_ptr().add(co + 8 * v));
                }
            }
            ConvActivation::Silu => unreachable!("SiLU is applied by the caller"),
        }
        let relu = matches!(act, ConvActivation::Relu);
        for p in 0..NP {
            for v in 0..NV {
                let x = acc[p][v];
                let keep = _mm256_cmp_ps::<_CMP_GE_OQ>(x, zero);
                let neg = if relu {
                    zero
                } else {
                    _mm256_mul_ps(slope[v], x)
                };
                acc[p][v] = _mm256_blendv_ps(neg, x, keep);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::needless_range_loop)]
mod avx512 {
    use super::Conv;
    use crate::nn::ConvActivation;
    use std::arch::x86_64::*;

    /// 12 pixels × 2 vectors = 24 accumulators, 2 weight vectors and a broadcast of 32 registers.
    const PIXELS: usize = 12;

    /// Every output channel of a row, with the activation applied when `activate` (which needs
    /// `avx2::fuses`).
    ///
    /// # Safety
    /// The CPU has AVX-512F, AVX2 and FMA; `src` holds every tap of `count` pixels.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn conv_row(
        conv: &Conv,
        src: &[f32],
        cs: usize,
        bases: [usize; 3],
        count: usize,
        out: &mut [f32],
        activate: bool,
    ) {
        debug_assert!(!activate || super::avx2::fuses(&conv.activation));
        let cp = conv.cout_padded;
        let mut co = 0;
        while cp - co >= 16 {
            let two = cp - co >= 32;
            let mut i = 0;
            while i < count {
                let np = (count - i).min(PIXELS);
                let a = Args {
                    conv,
                    src: src.as_ptr(),
                    cs,
                    bases,
                    i,
                    co,
                    out: out.as_mut_ptr().add(i * cp + co),
                    activate,
                };
                if two {
                    block_n::<2>(np, &a);
                } else {
                    block_n::<1>(np, &a);
                }
                i += np;
            }
            co += if two { 32 } else { 16 };
        }
        if co < cp {
            // The last 8 channels: the AVX2 kernel, same operation order.
            super::avx2::conv_row(conv, src, cs, bases, count, out, co, activate);
        }
    }

    struct Args<'a> {
        conv: &'a Conv,
        src: *const f32,
        cs: usize,
        bases: [usize; 3],
        i: usize,
        co: usize,
        out: *mut f32,
        activate: bool,
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn block_n<const NV: usize>(np: usize, a: &Args<'_>) {
        block_for_pixels!(np, NV, a)
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn block<const NP: usize, const NV: usize>(a: &Args<'_>) {
        let conv = a.conv;
        let (cin, cp) = (conv.cin, conv.cout_padded);
        let mut acc = [[_mm512_setzero_ps(); NV]; NP];
        let bias = conv.bias.as_ptr().add(a.co);
        for p in 0..NP {
            for v in 0..NV {
                acc[p][v] = _mm512_loadu_ps(bias.add(16 * v));
            }
        }
        let weights = conv.weights.as_ptr();
        for ky in 0..3 {
            for kx in 0..3 {
                let tap = ky * 3 + kx;
                let s = a.src.add(a.bases[ky] + (a.i + kx) * a.cs);
                let wt = weights.add(tap * cin * cp + a.co);
                for ci in 0..cin {
                    let mut w = [_mm512_setzero_ps(); NV];
                    for v in 0..NV {
                        w[v] = _mm512_loadu_ps(wt.add(ci * cp + 16 * v));
                    }
                    for p in 0..NP {
                        let x = _mm512_set1_ps(*s.add(p * a.cs + ci));
                        for v in 0..NV {
                            acc[p][v] = _mm512_fmadd_ps(x, w[v], acc[p][v]);
                        }
                    }
                }
            }
        }
        if a.activate {
            activate::<NP, NV>(&mut acc, &conv.activation, a.co);
        }
        for p in 0..NP {
            for v in 0..NV {
                _mm512_storeu_ps(a.out.add(p * cp + 16 * v), acc[p][v]);
            }
        }
    }

    /// The ReLU family on the accumulators of output channels `co..`, as the AVX2 kernel's
    /// `activate` (and `ConvActivation::apply`): `v` where `v >= 0` (ordered: NaN is not),
    /// else the slope times `v` (0 for ReLU), here with a mask and a masked blend.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn activate<const NP: usize, const NV: usize>(
        acc: &mut [[__m512; NV]; NP],
        act: &ConvActivation,
        co: usize,
    ) {
        let zero = _mm512_setzero_ps();
        let mut slope = [zero; NV];
        match act {
            ConvActivation::None => return,
            ConvActivation::Relu => {}
            ConvActivation::Leaky(s) => slope = [_mm512_set1_ps(*s); NV],
            ConvActivation::Prelu(s) => {
                for v in 0..NV {
                    slope[v] = _mm512_loadu_ps(s.as_ptr().add(co + 16 * v));
                }
            }
            ConvActivation::Silu => unreachable!("SiLU is applied by the caller"),
        }
        let relu = matches!(act, ConvActivation::Relu);
        for p in 0..NP {
            for v in 0..NV {
                let x = acc[p][v];
                let keep = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, zero);
                let neg = if relu {
                    zero
                } else {
                    _mm512_mul_ps(slope[v], x)
                };
                acc[p][v] = _mm512_mask_blend_ps(keep, neg, x);
            }
        }
    }
}

/// Pixel shuffle of the tail's output plus the skip of the centre frame, for `out_rect`
/// (the stack's geometry).
fn assemble(model: &Model, input: &Planar, tail: &Planar, frame: Rect, out_rect: Rect) -> Planar {
    let spec = &model.spec;
    let s = spec.net_scale() as i32;
    // The centre frame's first channel in the stack's input (its u² sub-pixels per channel).
    let centre = 3 * (spec.frames / 2) * spec.unshuffle * spec.unshuffle;
    let of = output_frame(frame, spec.net_scale());
    let (fw, fh) = (frame.width(), frame.height());
    let inv = 1.0 / s as f32;
    // The Lanczos-3 skip: its weights and the row sums of the input rows it reads.
    let lanczos = (spec.skip == Skip::Lanczos3).then(|| {
        let w = lanczos3_phases(s as usize);
        let rows = lanczos3_rows(input, &w, centre, frame, out_rect, s);
        (w, rows)
    });
    let mut out = Planar::zeros(out_rect, 3);
    let mut o = 0;
    for y in out_rect.y1..out_rect.y2 {
        let yr = y - of.y1;
        let (ly, iy) = (yr / s, yr % s);
        let by = bilinear_axis(yr, inv, fh);
        // The Lanczos-3 skip's seven input rows: where each starts in the row sums.
        let vrows: [usize; 7] = match &lanczos {
            Some((_, r)) => {
                std::array::from_fn(|j| r.index(out_rect.x1, (ly + j as i32 - 3).clamp(0, fh - 1)))
            }
            None => [0; 7],
        };
        for x in out_rect.x1..out_rect.x2 {
            let xr = x - of.x1;
            let (lx, ix) = (xr / s, xr % s);
            let t = tail.pixel(frame.x1 + lx, frame.y1 + ly);
            let t_in = input.pixel(frame.x1 + lx, frame.y1 + ly);
            for c in 0..3usize {
                let ch = c * (s * s) as usize + (iy * s + ix) as usize;
                let at = |xx: i32, yy: i32| input.pixel(frame.x1 + xx, frame.y1 + yy)[centre + c];
                let skip = match spec.skip {
                    Skip::None => 0.0,
                    // Scale 1: the pixel itself; unshuffled: the same sub-pixel of the block.
                    Skip::Identity => t_in[centre + ch],
                    Skip::Nearest => at((xr / s).min(fw - 1), (yr / s).min(fh - 1)),
                    Skip::Bilinear => {
                        let bx = bilinear_axis(xr, inv, fw);
                        by.2 * (bx.2 * at(bx.0, by.0) + bx.3 * at(bx.1, by.0))
                            + by.3 * (bx.2 * at(bx.0, by.1) + bx.3 * at(bx.1, by.1))
                    }
                    Skip::Lanczos3 => {
                        // The column of the row sums (see `lanczos3_rows`).
                        let (w, rows) = lanczos.as_ref().expect("made for this skip");
                        let at = 3 * (x - out_rect.x1) as usize + c;
                        let mut v = 0.0;
                        for (&wj, &start) in w[iy as usize].iter().zip(&vrows) {
                            v += wj * rows.data[start + at];
                        }
                        v
                    }
                };
                out.data[o] = t[ch] + skip;
                o += 1;
            }
        }
    }
    out
}

/// The horizontal pass of the Lanczos-3 skip for `out_rect`: for every input row (frame-
/// relative, 0-based) its vertical taps reach and every output column, the row sum
/// Σ_k w_k · x(column tap k), taps in order, zero-weight ones included: exactly the sums the
/// CUDA kernel forms per pixel, computed once per row instead of once per output row. The
/// result's rect is (output column, input row).
fn lanczos3_rows(
    input: &Planar,
    lanczos: &[[f32; 7]; 4],
    centre: usize,
    frame: Rect,
    out_rect: Rect,
    s: i32,
) -> Planar {
    let of = output_frame(frame, s as usize);
    let (fw, fh) = (frame.width(), frame.height());
    let ly = |y: i32| (y - of.y1) / s;
    let (r1, r2) = (
        (ly(out_rect.y1) - 3).max(0),
        (ly(out_rect.y2 - 1) + 4).min(fh),
    );
    let mut rows = Planar::zeros(Rect::new(out_rect.x1, r1, out_rect.x2, r2), 3);
    // Per output column: its phase's weights and the seven taps' offsets within an input row.
    let cols: Vec<(&[f32; 7], [usize; 7])> = (out_rect.x1..out_rect.x2)
        .map(|x| {
            let xr = x - of.x1;
            let lx = xr / s;
            let off = std::array::from_fn(|k| {
                let xx = (lx + k as i32 - 3).clamp(0, fw - 1);
                input.index(frame.x1 + xx, input.rect.y1) + centre
            });
            (&lanczos[(xr % s) as usize], off)
        })
        .collect();
    let row_len = input.rect.width() as usize * input.channels;
    for (yy, out_row) in (r1..r2).zip(rows.data.chunks_exact_mut(cols.len() * 3)) {
        let row = &input.data[input.index(input.rect.x1, frame.y1 + yy)..][..row_len];
        for ((wx, off), o) in cols.iter().zip(out_row.chunks_exact_mut(3)) {
            for (c, v) in o.iter_mut().enumerate() {
                let mut r = 0.0;
                for (&wk, &ok) in wx.iter().zip(off) {
                    r += wk * row[ok + c];
                }
                *v = r;
            }
        }
    }
    rows
}

/// Lanczos-3 weights of each output phase p < `scale` over the input offsets −3..=3 from the
/// output pixel's own input pixel ⌊d / scale⌋: the source coordinate (d + 0.5)/scale − 0.5 is
/// that pixel plus δ_p, and the six taps ⌊δ_p⌋ − 2 ..= ⌊δ_p⌋ + 3 weigh the Lanczos-3 kernel of
/// their distance, normalised to sum 1 in f64 and then rounded to f32 (`training/model.py`
/// `lanczos3_phases` computes the same table). Phases ≥ `scale` are zero.
pub fn lanczos3_phases(scale: usize) -> [[f32; 7]; 4] {
    let mut table = [[0.0f32; 7]; 4];
    for (p, row) in table.iter_mut().enumerate().take(scale.min(4)) {
        let delta = (p as f64 + 0.5) / scale as f64 - 0.5;
        let base = delta.floor() as i32;
        let w: Vec<f64> = (base - 2..=base + 3)
            .map(|k| Filter::Lanczos3.weight(delta - k as f64))
            .collect();
        let sum: f64 = w.iter().sum();
        for (k, v) in (base - 2..=base + 3).zip(w) {
            row[(k + 3) as usize] = (v / sum) as f32;
        }
    }
    table
}

/// PyTorch's bilinear source indices and weights along one axis (align_corners = false):
/// source = max(0, (d + 0.5)/s − 0.5), i0 = ⌊source⌋, i1 = min(i0 + 1, n − 1).
fn bilinear_axis(d: i32, inv_scale: f32, n: i32) -> (i32, i32, f32, f32) {
    let src = ((d as f32 + 0.5) * inv_scale - 0.5).max(0.0);
    let i0 = (src as i32).min(n - 1);
    let l1 = src - i0 as f32;
    let i1 = if i0 < n - 1 { i0 + 1 } else { i0 };
    (i0, i1, 1.0 - l1, l1)
}
