// Inverse tone map, one fused pass: read any OFX layout, apply the prepared (table-driven) inverse
// tone map of src/ops/itm.rs, write any layout. A step-for-step port of `ItmPrepared::apply_pixel`
// with the same f32 operations in the same order (no FMA: built with --fmad=false), so the result
// equals the CPU's bit for bit. The pipeline and its sources are documented in src/ops/itm.rs.
#include "common.cuh"

struct PrRgb {
    float v[3];
};

PR_FN float pr_dot3(const float* a, PrRgb b) {
    return a[0] * b.v[0] + a[1] * b.v[1] + a[2] * b.v[2];
}

PR_FN PrRgb pr_mat3(const float* m, PrRgb v) {
    PrRgb o;
    o.v[0] = m[0] * v.v[0] + m[1] * v.v[1] + m[2] * v.v[2];
    o.v[1] = m[3] * v.v[0] + m[4] * v.v[1] + m[5] * v.v[2];
    o.v[2] = m[6] * v.v[0] + m[7] * v.v[1] + m[8] * v.v[2];
    return o;
}

// f32::clamp: NaN stays NaN (both comparisons are false).
PR_FN float pr_clamp(float v, float lo, float hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

// LogLut::eval: the segment index comes from the float's exponent and top mantissa bits.
PR_FN float pr_lut(const PrLogLut& l, const float* t, float x) {
    if (x >= l.x_min) {
        x = fminf(x, l.x_max);
        unsigned int shift = 23u - l.seg_bits;
        unsigned int base = ((unsigned int)(127 + l.min_exp)) << l.seg_bits;
        unsigned int bits = pr_float_as_bits(x);
        unsigned int i = (bits >> shift) - base;
        float frac = (float)(bits & ((1u << shift) - 1u)) * (1.0f / (float)(1u << shift));
        unsigned int k = l.offset + i;
        float a = t[k];
        float b = t[k + 1];
        return a + (b - a) * frac;
    }
    // Below the table, negative or NaN (fmaxf turns NaN into 0, as f32::max does).
    float first = t[l.offset];
    float u = fmaxf(x, 0.0f) / l.x_min;
    return l.zero_value + (first - l.zero_value) * u;
}

PR_FN PrRgb pr_itm_rgb(const PrItmConstants& c, const float* t, PrRgb rgb) {
    PrRgb lin;
    for (int i = 0; i < 3; ++i) lin.v[i] = pr_lut(c.decode, t, rgb.v[i]);
    PrRgb s = pr_mat3(c.input_to_bt2020, lin);
    PrRgb hdr;
    if (c.method == PR_ITM_METHOD_BT2446A) {
        PrRgb p;
        for (int i = 0; i < 3; ++i) p.v[i] = pr_lut(c.gamma_encode, t, s.v[i]);
        float y = pr_dot3(c.method_luma, p);
        float y_hdr = pr_lut(c.method_luma_lut, t, y);
        float sc = pr_lut(c.method_chroma_lut, t, y);
        for (int i = 0; i < 3; ++i) {
            float q = pr_clamp(y_hdr + sc * (p.v[i] - y), 0.0f, 1.0f);
            hdr.v[i] = pr_lut(c.gamma_decode, t, q);
        }
    } else {
        float gain = pr_lut(c.method_luma_lut, t, pr_dot3(c.method_luma, s));
        for (int i = 0; i < 3; ++i) hdr.v[i] = s.v[i] * gain;
    }
    if (c.apply_highlight != 0 || c.apply_saturation != 0) {
        float y = pr_dot3(c.bt2020_luma, hdr);
        if (c.apply_highlight != 0) {
            float gain = pr_lut(c.highlight_gain, t, y * c.inv_peak_nits);
            for (int i = 0; i < 3; ++i) hdr.v[i] = hdr.v[i] * gain;
            y = y * gain;
        }
        if (c.apply_saturation != 0) {
            for (int i = 0; i < 3; ++i) hdr.v[i] = y + c.saturation * (hdr.v[i] - y);
        }
    }
    if (c.apply_mix != 0) {
        for (int i = 0; i < 3; ++i) hdr.v[i] = c.mix * hdr.v[i] + c.unexpanded_nits * s.v[i];
    }
    PrRgb o = pr_mat3(c.bt2020_to_output, hdr);
    if (c.output_transfer == PR_ITM_OUTPUT_PQ) {
        for (int i = 0; i < 3; ++i) o.v[i] = pr_lut(c.encode, t, o.v[i] * (1.0f / 10000.0f));
    } else if (c.output_transfer == PR_ITM_OUTPUT_HLG) {
        for (int i = 0; i < 3; ++i) o.v[i] = fmaxf(o.v[i], 0.0f);
        float gain = pr_lut(c.hlg_gain, t, pr_dot3(c.output_luma, o) * c.inv_peak_nits);
        for (int i = 0; i < 3; ++i) o.v[i] = pr_lut(c.encode, t, fminf(o.v[i] * gain, 1.0f));
    } else {
        for (int i = 0; i < 3; ++i) o.v[i] = o.v[i] * c.linear_scale;
    }
    return o;
}

extern "C" __global__ void itm_rgba(const ItmKernelParams p) {
    int x, y;
    if (!pr_thread_pixel(p.window, &x, &y)) return;
    const float* t = (const float*)p.tables;
    PrPixel px = pr_load_pixel(p.src, x, y);
    float a = px.a;
    PrRgb rgb;
    if (p.c.premultiplied != 0) {
        if (a > 0.0f) {
            float inv = 1.0f / a;
            rgb.v[0] = px.r * inv;
            rgb.v[1] = px.g * inv;
            rgb.v[2] = px.b * inv;
            PrRgb o = pr_itm_rgb(p.c, t, rgb);
            px.r = o.v[0] * a;
            px.g = o.v[1] * a;
            px.b = o.v[2] * a;
        } else {
            // Nothing visible (or a NaN alpha): premultiplied colour is 0.
            px.r = 0.0f;
            px.g = 0.0f;
            px.b = 0.0f;
        }
    } else {
        rgb.v[0] = px.r;
        rgb.v[1] = px.g;
        rgb.v[2] = px.b;
        PrRgb o = pr_itm_rgb(p.c, t, rgb);
        px.r = o.v[0];
        px.g = o.v[1];
        px.b = o.v[2];
    }
    pr_store_pixel(p.dst, x, y, px);
}
