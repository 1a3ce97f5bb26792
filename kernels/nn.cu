// Neural-network layers for the plain-conv networks (docs/model-format.md): 3×3 convolutions
// with a fused bias + activation epilogue on fp16 activations with f32 accumulation, the input
// conversion, and pixel shuffle + global skip. Region maths (tiles, halos, zero padding at the
// frame edge) follow src/nn/cpu.rs, the reference these kernels are tested against.
//
// Two convolution paths:
// - nn_conv3x3_mma_f16: tensor cores, `mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32`
//   (sm_80+; per-lane fragments as in the PTX ISA's "Matrix Fragments for mma.m16n8k16 with
//   floating point type", §9.7.14.5.8 of the current manual). One warp computes 16 consecutive
//   pixels of a row (the M dimension) × up to 64 output channels (8 n-tiles of 8); K runs over
//   tap × input channel in steps of 16. The GPU build assembles it from compute_80 PTX only for
//   sm_80+ cubins; below that (sm_75 cubin, the compute_75 PTX) the body is compiled out and
//   the host picks SIMT.
// - nn_conv3x3_simt_f16: one thread per pixel, 8 output channels at a time, fp32 FMAs.
#include "common.cuh"

PR_FN float nn_h2f(unsigned short h) { return pr_f16_bits_to_f32(h); }
PR_FN unsigned short nn_f2h(float f) { return pr_f32_to_f16_bits(f); }

PR_FN float nn_activate(float v, int activation, float slope, float alpha) {
    switch (activation) {
        case NN_ACT_RELU: return v > 0.0f ? v : 0.0f;
        case NN_ACT_LEAKY: return v >= 0.0f ? v : slope * v;
        case NN_ACT_PRELU: return v >= 0.0f ? v : alpha * v;
        case NN_ACT_SILU: return v / (1.0f + expf(-v));
        default: return v;
    }
}

PR_FN long long nn_index(PrRect r, int x, int y, int stride) {
    return ((long long)(y - r.y1) * (r.x2 - r.x1) + (x - r.x1)) * stride;
}

// Bias, activation and the frame's zero padding for output channel `co` of pixel (x, y).
PR_FN float nn_epilogue(const NnConvParams& p, float acc, int co, int x, int y) {
    if (!pr_rect_contains(p.frame, x, y)) return 0.0f;
    const float* bias = (const float*)p.bias;
    float alpha = p.activation == NN_ACT_PRELU ? ((const float*)p.alpha)[co] : 0.0f;
    return nn_activate(acc + bias[co], p.activation, p.leaky_slope, alpha);
}

PR_FN void nn_store2(const NnConvParams& p, int x, int y, int co, float v0, float v1) {
    long long i = nn_index(p.dst_rect, x, y, p.dst_stride) + co;
    if (p.dst_f32) {
        float* d = (float*)p.dst;
        d[i] = v0;
        d[i + 1] = v1;
    } else {
        unsigned int packed = (unsigned int)nn_f2h(v0) | ((unsigned int)nn_f2h(v1) << 16);
        *(unsigned int*)((unsigned short*)p.dst + i) = packed;
    }
}

// d = A·B + c for one m16n8k16 tile, A 16×16 row-major fp16 (a[4]), B 16×8 col-major fp16
// (b[2]), c/d 16×8 f32, in the per-lane fragment layout of the PTX ISA.
PR_FN void nn_mma(float d[4], const unsigned int a[4], const unsigned int b[2]) {
#ifdef PLATERESTORE_EMU
    emu::mma_m16n8k16_f16_f32(a, b, d, d);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    // Compiled out below sm_80: the host never launches the tensor-core kernel there.
    (void)a;
    (void)b;
    d[0] = d[1] = d[2] = d[3] = 0.0f;
#endif
}

// Block: 4 warps side by side along the row, each 16 pixels; grid (⌈w/64⌉, h, ⌈co/64⌉).
extern "C" __global__ void nn_conv3x3_mma_f16(const NnConvParams p) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2;  // groupID: A/C row, B column
    const int t = lane & 3;   // thread in group: A/C column pair, B row pair
    const int x0 = p.dst_rect.x1 + (blockIdx.x * 4 + warp) * 16;
    const int y = p.dst_rect.y1 + blockIdx.y;
    if (x0 >= p.dst_rect.x2) return;  // the whole warp leaves together
    const int co_base = blockIdx.z * NN_CO_PER_BLOCK;
    const int n_tiles = min(NN_CO_PER_BLOCK, p.dst_stride - co_base) / 8;
    // The two pixels this lane's A rows hold; past the row end they read the last pixel.
    const int xa = min(x0 + g, p.dst_rect.x2 - 1);
    const int xb = min(x0 + g + 8, p.dst_rect.x2 - 1);
    const unsigned short* src = (const unsigned short*)p.src;
    const unsigned short* w = (const unsigned short*)p.weights;
    const int cs = p.src_stride;

    float acc[8][4];
#pragma unroll
    for (int n = 0; n < 8; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;

    for (int tap = 0; tap < 9; ++tap) {
        const int ky = tap / 3, kx = tap % 3;
        const unsigned short* sa = src + nn_index(p.src_rect, xa + kx - 1, y + ky - 1, cs);
        const unsigned short* sb = src + nn_index(p.src_rect, xb + kx - 1, y + ky - 1, cs);
        for (int kc = 0; kc < cs; kc += 16) {
            unsigned int a[4];
            a[0] = *(const unsigned int*)(sa + kc + 2 * t);
            a[1] = *(const unsigned int*)(sb + kc + 2 * t);
            a[2] = *(const unsigned int*)(sa + kc + 8 + 2 * t);
            a[3] = *(const unsigned int*)(sb + kc + 8 + 2 * t);
#pragma unroll
            for (int n = 0; n < 8; ++n) {
                if (n < n_tiles) {
                    const int co = co_base + n * 8 + g;
                    const unsigned short* wb = w + ((long long)co * 9 + tap) * cs + kc;
                    unsigned int b[2];
                    b[0] = *(const unsigned int*)(wb + 2 * t);
                    b[1] = *(const unsigned int*)(wb + 8 + 2 * t);
                    nn_mma(acc[n], a, b);
                }
            }
        }
    }
#pragma unroll
    for (int n = 0; n < 8; ++n) {
        if (n < n_tiles) {
            const int co = co_base + n * 8 + 2 * t;
            if (x0 + g < p.dst_rect.x2) {
                nn_store2(p, x0 + g, y, co, nn_epilogue(p, acc[n][0], co, x0 + g, y),
                          nn_epilogue(p, acc[n][1], co + 1, x0 + g, y));
            }
            if (x0 + g + 8 < p.dst_rect.x2) {
                nn_store2(p, x0 + g + 8, y, co, nn_epilogue(p, acc[n][2], co, x0 + g + 8, y),
                          nn_epilogue(p, acc[n][3], co + 1, x0 + g + 8, y));
            }
        }
    }
}

// One thread per pixel (block 128 along the row), 8 output channels per pass.
extern "C" __global__ void nn_conv3x3_simt_f16(const NnConvParams p) {
    const int x = p.dst_rect.x1 + blockIdx.x * blockDim.x + threadIdx.x;
    const int y = p.dst_rect.y1 + blockIdx.y;
    if (x >= p.dst_rect.x2) return;
    const unsigned short* src = (const unsigned short*)p.src;
    const unsigned short* w = (const unsigned short*)p.weights;
    const int cs = p.src_stride;
    const int co_end = min(p.dst_stride, (int)(blockIdx.z + 1) * NN_CO_PER_BLOCK);
    for (int co0 = blockIdx.z * NN_CO_PER_BLOCK; co0 < co_end; co0 += 8) {
        float acc[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[j] = 0.0f;
        for (int tap = 0; tap < 9; ++tap) {
            const int ky = tap / 3, kx = tap % 3;
            const unsigned short* s = src + nn_index(p.src_rect, x + kx - 1, y + ky - 1, cs);
            for (int ci = 0; ci < p.cin; ++ci) {
                const float v = nn_h2f(s[ci]);
#pragma unroll
                for (int j = 0; j < 8; ++j) {
                    const float wv = nn_h2f(w[((long long)(co0 + j) * 9 + tap) * cs + ci]);
                    acc[j] = __fmaf_rn(v, wv, acc[j]);
                }
            }
        }
#pragma unroll
        for (int j = 0; j < 8; j += 2) {
            nn_store2(p, x, y, co0 + j, nn_epilogue(p, acc[j], co0 + j, x, y),
                      nn_epilogue(p, acc[j + 1], co0 + j + 1, x, y));
        }
    }
}

// One thread per pixel of the input rectangle (pixel rows of 128).
extern "C" __global__ void nn_input_f16(const NnInputParams p) {
    const int x = p.rect.x1 + blockIdx.x * blockDim.x + threadIdx.x;
    const int y = p.rect.y1 + blockIdx.y;
    if (x >= p.rect.x2) return;
    const float* s = (const float*)p.src + nn_index(p.rect, x, y, p.cin);
    unsigned short* d = (unsigned short*)p.dst + nn_index(p.rect, x, y, p.stride);
    for (int c = 0; c < p.stride; ++c) d[c] = c < p.cin ? nn_f2h(s[c]) : 0;
}

// PyTorch's bilinear source index along one axis (align_corners = false), as cpu.rs.
PR_FN void nn_bilinear_axis(int d, float inv_scale, int n, int* i0, int* i1, float* w0,
                            float* w1) {
    float src = ((float)d + 0.5f) * inv_scale - 0.5f;
    src = src > 0.0f ? src : 0.0f;
    int a = min((int)src, n - 1);
    float l1 = src - (float)a;
    *i0 = a;
    *i1 = a < n - 1 ? a + 1 : a;
    *w0 = 1.0f - l1;
    *w1 = l1;
}

// One thread per output pixel (rows of 128): pixel shuffle of the tail + skip of the input.
extern "C" __global__ void nn_assemble_f32(const NnAssembleParams p) {
    const int x = p.out_rect.x1 + blockIdx.x * blockDim.x + threadIdx.x;
    const int y = p.out_rect.y1 + blockIdx.y;
    if (x >= p.out_rect.x2) return;
    const int s = p.scale;
    const int xr = x - p.frame.x1 * s, yr = y - p.frame.y1 * s;
    const int fw = p.frame.x2 - p.frame.x1, fh = p.frame.y2 - p.frame.y1;
    const float* tail = (const float*)p.tail +
                        nn_index(p.core, p.frame.x1 + xr / s, p.frame.y1 + yr / s, p.tail_stride);
    const float* in = (const float*)p.input;
    float* out = (float*)p.out + nn_index(p.out_rect, x, y, 3);
    const float inv = 1.0f / (float)s;
    for (int c = 0; c < 3; ++c) {
        const int ch = c * s * s + (yr % s) * s + xr % s;
#define NN_AT(xx, yy) in[nn_index(p.input_rect, p.frame.x1 + (xx), p.frame.y1 + (yy), p.cin) + p.centre + c]
        float skip = 0.0f;
        if (p.skip == NN_SKIP_IDENTITY) {
            // Scale 1: the pixel itself; unshuffled (s = u): the same sub-pixel of its block.
            skip = in[nn_index(p.input_rect, p.frame.x1 + xr / s, p.frame.y1 + yr / s, p.cin) +
                      p.centre + ch];
        } else if (p.skip == NN_SKIP_NEAREST) {
            skip = NN_AT(min(xr / s, fw - 1), min(yr / s, fh - 1));
        } else if (p.skip == NN_SKIP_BILINEAR) {
            int x0, x1, y0, y1;
            float wx0, wx1, wy0, wy1;
            nn_bilinear_axis(xr, inv, fw, &x0, &x1, &wx0, &wx1);
            nn_bilinear_axis(yr, inv, fh, &y0, &y1, &wy0, &wy1);
            skip = wy0 * (wx0 * NN_AT(x0, y0) + wx1 * NN_AT(x1, y0)) +
                   wy1 * (wx0 * NN_AT(x0, y1) + wx1 * NN_AT(x1, y1));
        } else if (p.skip == NN_SKIP_LANCZOS3) {
            // Rows first, then the column of row sums, as cpu.rs (same order, same f32 sums).
            const float* wx = p.lanczos[xr % s];
            const float* wy = p.lanczos[yr % s];
            const int lx = xr / s, ly = yr / s;
            for (int j = 0; j < 7; ++j) {
                const int yy = min(max(ly + j - 3, 0), fh - 1);
                float r = 0.0f;
                for (int k = 0; k < 7; ++k) r += wx[k] * NN_AT(min(max(lx + k - 3, 0), fw - 1), yy);
                skip += wy[j] * r;
            }
        }
#undef NN_AT
        out[c] = tail[ch] + skip;
    }
}
