// Helpers every kernel shares: pixel addressing for any OFX layout, channel loads and stores for
// the four depths, and half conversions. Written once for CUDA and for the CPU emulation
// (PLATERESTORE_EMU), so the arithmetic — and therefore every output bit — is the same on both.
#pragma once
#include "params.h"

#ifdef PLATERESTORE_EMU
#define PR_FN inline
#else
#define PR_FN __device__ __forceinline__
#endif

struct PrPixel {
    float r, g, b, a;
};

// Half conversions. CUDA: one PTX cvt each on a 16-bit integer, so no NVIDIA header is needed and
// runtime NVRTC on a user's machine works. CPU: the same IEEE round-to-nearest-even in integers.
#ifdef PLATERESTORE_EMU
PR_FN unsigned short pr_f32_to_f16_bits(float f) { return emu::f32_to_f16_bits(f); }
PR_FN float pr_f16_bits_to_f32(unsigned short h) { return emu::f16_bits_to_f32(h); }
#else
PR_FN unsigned short pr_f32_to_f16_bits(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
PR_FN float pr_f16_bits_to_f32(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
#endif

PR_FN int pr_rect_contains(PrRect r, int x, int y) {
    return x >= r.x1 && x < r.x2 && y >= r.y1 && y < r.y2;
}

PR_FN int pr_channel_bytes(int depth) {
    return depth == PR_DEPTH_U8 ? 1 : (depth == PR_DEPTH_F32 ? 4 : 2);
}

PR_FN int pr_channel_count(int components) {
    return components == PR_COMPONENTS_RGBA ? 4 : (components == PR_COMPONENTS_RGB ? 3 : 1);
}

// Address of pixel (x, y), which the caller has checked lies inside img.bounds.
PR_FN unsigned char* pr_pixel_address(const PrImage& img, int x, int y) {
    long long offset = (long long)(y - img.bounds.y1) * img.row_bytes +
                       (long long)(x - img.bounds.x1) * pr_channel_bytes(img.depth) *
                           pr_channel_count(img.components);
    return (unsigned char*)(img.data + (unsigned long long)offset);
}

// Hosts may pad rows by any byte count, so 16- and 32-bit channels are not always aligned: fall
// back to byte accesses then (the GPU faults on misaligned loads). Little-endian on both sides.
PR_FN unsigned int pr_load_bits(const unsigned char* p, int bytes) {
    if (bytes == 1) return p[0];
    if (bytes == 2) {
        if (((unsigned long long)p & 1) == 0) return *(const unsigned short*)p;
        return (unsigned int)p[0] | ((unsigned int)p[1] << 8);
    }
    if (((unsigned long long)p & 3) == 0) return *(const unsigned int*)p;
    return (unsigned int)p[0] | ((unsigned int)p[1] << 8) | ((unsigned int)p[2] << 16) |
           ((unsigned int)p[3] << 24);
}

PR_FN void pr_store_bits(unsigned char* p, int bytes, unsigned int v) {
    if (bytes == 1) {
        p[0] = (unsigned char)v;
    } else if (bytes == 2) {
        if (((unsigned long long)p & 1) == 0) {
            *(unsigned short*)p = (unsigned short)v;
        } else {
            p[0] = (unsigned char)v;
            p[1] = (unsigned char)(v >> 8);
        }
    } else if (((unsigned long long)p & 3) == 0) {
        *(unsigned int*)p = v;
    } else {
        p[0] = (unsigned char)v;
        p[1] = (unsigned char)(v >> 8);
        p[2] = (unsigned char)(v >> 16);
        p[3] = (unsigned char)(v >> 24);
    }
}

PR_FN float pr_bits_as_float(unsigned int v) {
#ifdef PLATERESTORE_EMU
    return emu::bit_cast_f32(v);
#else
    return __uint_as_float(v);
#endif
}

PR_FN unsigned int pr_float_as_bits(float v) {
#ifdef PLATERESTORE_EMU
    return emu::bit_cast_u32(v);
#else
    return __float_as_uint(v);
#endif
}

// Same constants and operation order as image::decode: 1/255 and 1/65535 are rounded to f32
// first, then one multiply (kernels are built with --fmad=false, so nothing is fused).
PR_FN float pr_decode_channel(unsigned int bits, int depth) {
    switch (depth) {
        case PR_DEPTH_U8: return (float)bits * (1.0f / 255.0f);
        case PR_DEPTH_U16: return (float)bits * (1.0f / 65535.0f);
        case PR_DEPTH_F16: return pr_f16_bits_to_f32((unsigned short)bits);
        default: return pr_bits_as_float(bits);
    }
}

// image::quantize: NaN -> 0, clamp to 0..1, then floor(v * max + 0.5).
PR_FN float pr_quantize(float v, float max_code) {
    v = (v != v) ? 0.0f : (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
    return floorf(v * max_code + 0.5f);
}

PR_FN unsigned int pr_encode_channel(float v, int depth) {
    switch (depth) {
        case PR_DEPTH_U8: return (unsigned int)pr_quantize(v, 255.0f);
        case PR_DEPTH_U16: return (unsigned int)pr_quantize(v, 65535.0f);
        case PR_DEPTH_F16: return pr_f32_to_f16_bits(v);
        default: return pr_float_as_bits(v);
    }
}

// Pixel (x, y) of img as RGBA f32, with ImageView::read_row's rules: transparent black outside
// the bounds, alpha 1 for RGB, colour 0 for Alpha-only.
PR_FN PrPixel pr_load_pixel(const PrImage& img, int x, int y) {
    PrPixel px = {0.0f, 0.0f, 0.0f, 0.0f};
    if (!pr_rect_contains(img.bounds, x, y)) return px;
    const unsigned char* p = pr_pixel_address(img, x, y);
    int cb = pr_channel_bytes(img.depth);
    if (img.components == PR_COMPONENTS_ALPHA) {
        px.a = pr_decode_channel(pr_load_bits(p, cb), img.depth);
        return px;
    }
    px.r = pr_decode_channel(pr_load_bits(p, cb), img.depth);
    px.g = pr_decode_channel(pr_load_bits(p + cb, cb), img.depth);
    px.b = pr_decode_channel(pr_load_bits(p + 2 * cb, cb), img.depth);
    px.a = img.components == PR_COMPONENTS_RGBA
               ? pr_decode_channel(pr_load_bits(p + 3 * cb, cb), img.depth)
               : 1.0f;
    return px;
}

// Writes px at (x, y) if it lies inside img.bounds (ImageViewMut::write_row drops the rest).
PR_FN void pr_store_pixel(const PrImage& img, int x, int y, PrPixel px) {
    if (!pr_rect_contains(img.bounds, x, y)) return;
    unsigned char* p = pr_pixel_address(img, x, y);
    int cb = pr_channel_bytes(img.depth);
    if (img.components == PR_COMPONENTS_ALPHA) {
        pr_store_bits(p, cb, pr_encode_channel(px.a, img.depth));
        return;
    }
    pr_store_bits(p, cb, pr_encode_channel(px.r, img.depth));
    pr_store_bits(p + cb, cb, pr_encode_channel(px.g, img.depth));
    pr_store_bits(p + 2 * cb, cb, pr_encode_channel(px.b, img.depth));
    if (img.components == PR_COMPONENTS_RGBA) {
        pr_store_bits(p + 3 * cb, cb, pr_encode_channel(px.a, img.depth));
    }
}

PR_FN PrPixel* pr_work_pixel(const PrWorkBuffer& buf, int x, int y) {
    long long width = buf.rect.x2 - buf.rect.x1;
    long long index = (long long)(y - buf.rect.y1) * width + (x - buf.rect.x1);
    return (PrPixel*)buf.data + index;
}

// The pixel this thread owns in a 2D launch over `rect`; false for the threads of the last
// blocks that fall outside it (sizes are rarely multiples of the block size).
PR_FN int pr_thread_pixel(PrRect rect, int* x, int* y) {
    *x = rect.x1 + (int)(blockIdx.x * blockDim.x + threadIdx.x);
    *y = rect.y1 + (int)(blockIdx.y * blockDim.y + threadIdx.y);
    return *x < rect.x2 && *y < rect.y2;
}
