// Film grain, one fused pass: read any OFX layout, add the grain of src/ops/grain, write any
// layout. A step-for-step port of `FieldPlan::fields_at` (hash, Poisson counts, B-spline
// footprint weights — tabulated on the host, as the CPU does) and of the per-pixel apply in
// `RenderPlan::apply_row`, with the same f32 operations in the same order (no FMA: built with
// --fmad=false), so every output bit equals the CPU's. The model is documented in
// src/ops/grain/mod.rs.
#include "common.cuh"

// field::pcg_hash: PCG-RXS-M-XS 32 (Jarzynski & Olano, JCGT 9(3) 2020). Unsigned arithmetic
// wraps exactly as Rust's wrapping ops do.
PR_FN unsigned int pr_pcg_hash(unsigned int v) {
    unsigned int state = v * 747796405u + 2891336453u;
    unsigned int word = ((state >> ((state >> 28) + 4u)) ^ state) * 277803737u;
    return (word >> 22) ^ word;
}

// domain::cube_root: bit-pattern first guess, two Halley steps, IEEE operations only.
PR_FN float pr_cube_root(float x) {
    float y = pr_bits_as_float(pr_float_as_bits(x) / 3u + 709921077u);
    for (int i = 0; i < 2; ++i) {
        float y3 = y * y * y;
        y = y * (y3 + 2.0f * x) / (2.0f * y3 + x);
    }
    return y;
}

// domain::to_grain_domain for scene-linear plates (display plates use their code values).
PR_FN float pr_to_lightness(const GrainKernelParams& p, float v) {
    return v > p.lstar_break ? 1.16f * pr_cube_root(v) - 0.16f : p.lstar_slope * v;
}

// domain::from_grain_domain for scene-linear plates.
PR_FN float pr_from_lightness(const GrainKernelParams& p, float e) {
    if (e > 0.08f) {
        float t = (e + 0.16f) * p.inv_1_16;
        return t * t * t;
    }
    return e * p.lstar_inv_slope;
}

// ResponseTable::at: clamp (NaN reads as 0), nearest sample through the 2^23 rounding trick.
PR_FN float pr_response(const float* t, float e) {
    float s = fminf(fmaxf(e, 0.0f), 1.0f) * (float)PR_GRAIN_RESPONSE_STEPS;
    unsigned int index = pr_float_as_bits(s + 8388608.0f) & (unsigned int)PR_GRAIN_RESPONSE_STEPS;
    return t[index];
}

// Lattice site, weights and weight sum of output coordinate `coord` along one axis.
PR_FN void pr_axis_taps(const PrGrainAxis& a, const float* t, int coord, int* site,
                        const float** weights, float* weight_sum) {
    unsigned int n = (unsigned int)(coord - a.origin);
    if (a.stride != 0) {
        *site = (int)t[a.first] + (int)(n * a.stride);
        n = 0;
    } else {
        *site = (int)t[a.first + n];
    }
    *weights = t + a.weights + n * a.taps;
    *weight_sum = t[a.sums + n];
}

// One lattice row of one octave x-filtered for the three fields: c_f = sum over tx ascending of
// wx[tx] * count_f(site (ix + tx, row)), as `FieldPlan::fields_at`'s inner loop.
PR_FN void pr_x_filter(const PrGrainOctave& oc, const float* counts, int ix, const float* wx,
                       int row, float* c) {
    unsigned int row_key = pr_pcg_hash(oc.key + (unsigned int)row);
    float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f;
    for (unsigned int tx = 0; tx < oc.x.taps; ++tx) {
        unsigned int h = pr_pcg_hash(row_key + (unsigned int)(ix + (int)tx));
        float w = wx[tx];
        c0 += w * counts[h & (PR_GRAIN_COUNT_LEVELS - 1)];
        c1 += w * counts[(h >> PR_GRAIN_COUNT_BITS) & (PR_GRAIN_COUNT_LEVELS - 1)];
        c2 += w * counts[(h >> (2 * PR_GRAIN_COUNT_BITS)) & (PR_GRAIN_COUNT_LEVELS - 1)];
    }
    c[0] = c0;
    c[1] = c1;
    c[2] = c2;
}

// FieldPlan::fields_at for one pixel, the three colour fields at once: each site is hashed
// once and its three counts go to three accumulators, so every field sees the same additions in
// the same order as the CPU's one-field-at-a-time loop. Unmixed fields in g.
PR_FN void pr_grain_fields_direct(const GrainKernelParams& p, const float* t,
                                  const float* block_counts, int x, int y, float* g) {
    // A constant trip count, so the octaves unroll and the params are never indexed at run time.
    for (unsigned int o = 0; o < PR_GRAIN_MAX_OCTAVES; ++o) {
        if (o >= p.octave_count) break;
        const PrGrainOctave& oc = p.octaves[o];
        int ix, iy;
        const float *wx, *wy;
        float weight_sum, unused;
        pr_axis_taps(oc.x, t, x, &ix, &wx, &weight_sum);
        pr_axis_taps(oc.y, t, y, &iy, &wy, &unused);
        const float* counts = block_counts + o * PR_GRAIN_COUNT_LEVELS;
        for (unsigned int ty = 0; ty < oc.y.taps; ++ty) {
            float c[3];
            pr_x_filter(oc, counts, ix, wx, iy + (int)ty, c);
            float wyv = wy[ty];
            for (int f = 0; f < 3; ++f) {
                g[f] += wyv * (oc.inv_std * c[f] - oc.mean_over_std * weight_sum);
            }
        }
    }
}

// Lattice rows and output columns a block's x-filtered values are kept for (18 KB of shared
// memory with the 3 fields): enough for grain up to about 8 px at full resolution and 4 px at
// half; coarser grain (or a wider block) takes the direct path.
#define PR_GRAIN_TILE_ROWS 48
#define PR_GRAIN_TILE_COLUMNS 32

// The lattice rows output rows y0..=y_last of one octave reach: base .. base + rows. `first`
// never decreases with the coordinate, so the two ends bound every pixel's rows.
PR_FN void pr_block_rows(const PrGrainAxis& ay, const float* t, int y0, int y_last, int* base,
                         unsigned int* rows) {
    int hi;
    const float* w;
    float s;
    pr_axis_taps(ay, t, y0, base, &w, &s);
    pr_axis_taps(ay, t, y_last, &hi, &w, &s);
    *rows = (unsigned int)(hi - *base) + ay.taps;
}

// The same sums as pr_grain_fields_direct, shared by the block: its threads first x-filter every
// lattice row the block's pixels reach (once per row and column instead of once per pixel and
// row), then each pixel sums its rows. Each value is computed by the same operations as in the
// direct path, so the result is bit-identical. Returns 0, having done nothing, when the block's
// rows do not fit; the decision depends only on the block, so every thread takes it alike and
// the barriers stay uniform. Every thread of the block must call it.
PR_FN int pr_grain_fields_tiled(const GrainKernelParams& p, const float* t,
                                const float* block_counts, float* x_filtered, int x, int y,
                                int inside, float* g) {
    unsigned int columns = blockDim.x;
    if (columns > PR_GRAIN_TILE_COLUMNS) return 0;
    int x0 = p.window.x1 + (int)(blockIdx.x * blockDim.x);
    int y0 = p.window.y1 + (int)(blockIdx.y * blockDim.y);
    int y_last = y0 + (int)blockDim.y - 1;
    if (y_last >= p.window.y2) y_last = p.window.y2 - 1;
    int base;
    unsigned int rows;
    for (unsigned int o = 0; o < PR_GRAIN_MAX_OCTAVES; ++o) {
        if (o >= p.octave_count) break;
        pr_block_rows(p.octaves[o].y, t, y0, y_last, &base, &rows);
        if (rows > PR_GRAIN_TILE_ROWS) return 0;
    }
    unsigned int thread = threadIdx.y * blockDim.x + threadIdx.x;
    unsigned int threads = blockDim.x * blockDim.y;
    for (unsigned int o = 0; o < PR_GRAIN_MAX_OCTAVES; ++o) {
        if (o >= p.octave_count) break;
        const PrGrainOctave& oc = p.octaves[o];
        const float* counts = block_counts + o * PR_GRAIN_COUNT_LEVELS;
        pr_block_rows(oc.y, t, y0, y_last, &base, &rows);
        // The previous octave's rows must all have been read before they are overwritten.
        if (o > 0) __syncthreads();
        for (unsigned int k = thread; k < rows * columns; k += threads) {
            unsigned int r = k / columns;
            unsigned int col = k - r * columns;
            int xc = x0 + (int)col;
            if (xc >= p.window.x2) continue;
            int ix;
            const float* wx;
            float weight_sum;
            pr_axis_taps(oc.x, t, xc, &ix, &wx, &weight_sum);
            float c[3];
            pr_x_filter(oc, counts, ix, wx, base + (int)r, c);
            for (int f = 0; f < 3; ++f) {
                x_filtered[(f * PR_GRAIN_TILE_ROWS + r) * PR_GRAIN_TILE_COLUMNS + col] =
                    oc.inv_std * c[f] - oc.mean_over_std * weight_sum;
            }
        }
        __syncthreads();
        if (inside) {
            int iy;
            const float* wy;
            float unused;
            pr_axis_taps(oc.y, t, y, &iy, &wy, &unused);
            unsigned int col = (unsigned int)(x - x0);
            for (unsigned int ty = 0; ty < oc.y.taps; ++ty) {
                unsigned int r = (unsigned int)(iy + (int)ty - base);
                float wyv = wy[ty];
                for (int f = 0; f < 3; ++f) {
                    g[f] += wyv * x_filtered[(f * PR_GRAIN_TILE_ROWS + r) * PR_GRAIN_TILE_COLUMNS +
                                             col];
                }
            }
        }
    }
    return 1;
}

extern "C" __global__ void grain_rgba(const GrainKernelParams p) {
    const float* t = (const float*)p.tables;
    // The grain counts are read at random (three per lattice site): from shared memory that
    // costs a few bank conflicts, from the cache one transaction per distinct line.
    __shared__ float counts[PR_GRAIN_MAX_OCTAVES * PR_GRAIN_COUNT_LEVELS];
    __shared__ float x_filtered[3 * PR_GRAIN_TILE_ROWS * PR_GRAIN_TILE_COLUMNS];
    unsigned int threads = blockDim.x * blockDim.y;
    for (unsigned int i = threadIdx.y * blockDim.x + threadIdx.x;
         i < p.octave_count * PR_GRAIN_COUNT_LEVELS; i += threads) {
        unsigned int level = i % PR_GRAIN_COUNT_LEVELS;
        counts[i] = t[(i < PR_GRAIN_COUNT_LEVELS ? p.octaves[0].counts : p.octaves[1].counts) + level];
    }
    __syncthreads();
    int x, y;
    int inside = pr_thread_pixel(p.window, &x, &y);
    float g[3] = {0.0f, 0.0f, 0.0f};
    // Threads outside the window stay until the block's shared work is done.
    if (!pr_grain_fields_tiled(p, t, counts, x_filtered, x, y, inside, g)) {
        if (inside) pr_grain_fields_direct(p, t, counts, x, y, g);
    }
    if (!inside) return;
    // FieldPlan::mix.
    float s = g[0] + g[1] + g[2];
    for (int c = 0; c < 3; ++c) g[c] = p.mix_a * g[c] + p.mix_b * s;
    PrPixel px = pr_load_pixel(p.src, x, y);
    float alpha = px.a;
    if (p.premultiplied != 0 && alpha <= 0.0f) {
        // Fully transparent premultiplied colour has no colour to grain (and no grain to show).
        if (p.grain_only != 0) {
            px.r = 0.0f;
            px.g = 0.0f;
            px.b = 0.0f;
        }
        pr_store_pixel(p.dst, x, y, px);
        return;
    }
    const float* response = t + p.response;
    float rgb[3] = {px.r, px.g, px.b};
    for (int c = 0; c < 3; ++c) {
        float v = p.premultiplied != 0 ? rgb[c] / alpha : rgb[c];
        float e = p.linear != 0 ? pr_to_lightness(p, v) : v;
        float grained = e + pr_response(response, e) * p.gain[c] * g[c];
        float o = p.linear != 0 ? pr_from_lightness(p, grained) : grained;
        // Grain only: for display plates exactly the grain, for linear ones the linear
        // difference a compositor adds back.
        if (p.grain_only != 0) o = o - v + p.centre;
        rgb[c] = p.premultiplied != 0 ? o * alpha : o;
    }
    px.r = rgb[0];
    px.g = rgb[1];
    px.b = rgb[2];
    pr_store_pixel(p.dst, x, y, px);
}
