// Inverse tone map, one fused pass: read any OFX layout, apply the prepared fast path of
// src/ops/itm.rs (`ItmPrepared::process`: log-spaced tables, closed-form gains on the branch-free
// log2/exp2 of src/ops/itm/fastmath.rs), write any layout. A step-for-step port with the same f32
// operations in the same order (no FMA: built with --fmad=false; IEEE division and denormals, the
// NVRTC defaults), so the result equals the CPU's bit for bit. One thread per pixel: the CPU's
// 32-lane row loop does per lane exactly what this does per thread. The pipeline and its sources
// are documented in src/ops/itm.rs.
#include "common.cuh"

// ---- fastmath (src/ops/itm/fastmath.rs), line for line ------------------------------------------

// std::f64::consts::LN_2; the coefficients are formed in double and rounded once to float, as the
// Rust constants are (only products and quotients: constant folding cannot fuse them).
#define PR_ITM_LN2 0.693147180559945309417232121458176568

// log2(m) = (2/ln 2)·atanh(z) = (2/ln 2)·(z + z³/3 + z⁵/5 + …), z = (m − 1)/(m + 1).
constexpr float PR_LOG2_C1 = (float)(2.0 / PR_ITM_LN2);
constexpr float PR_LOG2_C3 = (float)(2.0 / (3.0 * PR_ITM_LN2));
constexpr float PR_LOG2_C5 = (float)(2.0 / (5.0 * PR_ITM_LN2));
constexpr float PR_LOG2_C7 = (float)(2.0 / (7.0 * PR_ITM_LN2));
constexpr float PR_LOG2_C9 = (float)(2.0 / (9.0 * PR_ITM_LN2));
// 2^f = Σ (f·ln 2)^k / k!, k = 0..=7.
constexpr float PR_EXP2_C1 = (float)PR_ITM_LN2;
constexpr float PR_EXP2_C2 = (float)(PR_ITM_LN2 * PR_ITM_LN2 / 2.0);
constexpr float PR_EXP2_C3 = (float)(PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 / 6.0);
constexpr float PR_EXP2_C4 = (float)(PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 / 24.0);
constexpr float PR_EXP2_C5 =
    (float)(PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 / 120.0);
constexpr float PR_EXP2_C6 =
    (float)(PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 / 720.0);
constexpr float PR_EXP2_C7 = (float)(PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 *
                                     PR_ITM_LN2 * PR_ITM_LN2 * PR_ITM_LN2 / 5040.0);
// fastmath::LOG2_FLOOR, std::f32::consts::SQRT_2 and LOG2_E (decimal literals rounded once).
constexpr float PR_LOG2_FLOOR = 1e-30f;
constexpr float PR_SQRT2_F = 1.41421356237309504880168872420969808f;
constexpr float PR_LOG2E_F = 1.44269504088896340735992468100189214f;

// clamp_to: lo..=hi with NaN → lo. Written with the same comparisons as the CPU rather than
// fminf/fmaxf, so NaN and signed zeros pick the same operand on both.
PR_FN float pr_clamp_to(float x, float lo, float hi) {
    x = x > lo ? x : lo;
    return x < hi ? x : hi;
}

PR_FN float pr_fast_log2(float x) {
    x = x > PR_LOG2_FLOOR ? x : PR_LOG2_FLOOR;
    unsigned int bits = pr_float_as_bits(x);
    int exponent = (int)(bits >> 23) - 127;
    float m = pr_bits_as_float((bits & 0x007fffffu) | 0x3f800000u);
    int big = m > PR_SQRT2_F ? 1 : 0;
    m = big ? m * 0.5f : m;
    exponent += big;
    float z = (m - 1.0f) / (m + 1.0f);
    float z2 = z * z;
    return (float)exponent +
           z * (PR_LOG2_C1 +
                z2 * (PR_LOG2_C3 + z2 * (PR_LOG2_C5 + z2 * (PR_LOG2_C7 + z2 * PR_LOG2_C9))));
}

PR_FN float pr_fast_exp2(float y) {
    // Adding 1.5·2^23 rounds y to the nearest integer n and leaves n in the low mantissa bits.
    const float rounder = 12582912.0f;
    y = pr_clamp_to(y, -126.0f, 126.0f);
    float shifted = y + rounder;
    int n = (int)(pr_float_as_bits(shifted) - pr_float_as_bits(rounder));
    float f = y - (shifted - rounder);
    float p =
        1.0f +
        f * (PR_EXP2_C1 +
             f * (PR_EXP2_C2 +
                  f * (PR_EXP2_C3 +
                       f * (PR_EXP2_C4 + f * (PR_EXP2_C5 + f * (PR_EXP2_C6 + f * PR_EXP2_C7))))));
    return p * pr_bits_as_float((unsigned int)(n + 127) << 23);
}

PR_FN float pr_fast_pow(float x, float p) { return pr_fast_exp2(p * pr_fast_log2(x)); }

// ---- tables (src/ops/itm/lut.rs, `LogLut::read`) ------------------------------------------------

// The input is clamped to x_min..=x_max (NaN → x_min); the segment comes from the float's exponent
// and top seg_bits mantissa bits, the fraction from the bits below them read as 1.frac − 1.
PR_FN float pr_lut(const PrLogLut& l, const float* t, float x) {
    unsigned int bits = pr_float_as_bits(pr_clamp_to(x, l.x_min, l.x_max));
    unsigned int first = (unsigned int)(127 + l.min_exp) << l.seg_bits;
    unsigned int last = l.octaves << l.seg_bits;
    unsigned int i = (bits >> (23u - l.seg_bits)) - first;
    i = i < last ? i : last;
    float frac = pr_bits_as_float(0x3f800000u | ((bits << l.seg_bits) & 0x007fffffu)) - 1.0f;
    const float* sample = t + l.offset + i;
    float lo = __ldg(sample);
    float hi = __ldg(sample + 1);
    return lo + (hi - lo) * frac;
}

// ---- the pipeline (`ItmPrepared::process`) ------------------------------------------------------

struct PrRgb {
    float v[3];
};

PR_FN float pr_dot3(const float* w, PrRgb v) {
    return w[0] * v.v[0] + w[1] * v.v[1] + w[2] * v.v[2];
}

PR_FN PrRgb pr_mat3(const float* m, PrRgb v) {
    PrRgb o;
    for (int i = 0; i < 3; ++i) {
        o.v[i] = m[3 * i] * v.v[0] + m[3 * i + 1] * v.v[1] + m[3 * i + 2] * v.v[2];
    }
    return o;
}

// Steps 1–9 on one un-premultiplied colour.
PR_FN PrRgb pr_itm_rgb(const PrItmConstants& c, const float* t, PrRgb rgb) {
    // 1, 2. clamp and decode; below the table the straight toe line to 0 (NaN takes it → 0).
    for (int i = 0; i < 3; ++i) {
        float x = rgb.v[i];
        if (c.input_encoding == PR_ITM_INPUT_LINEAR) {
            rgb.v[i] = pr_clamp_to(x, 0.0f, 1.0f);
        } else {
            float lin = pr_lut(c.decode, t, x);
            float toe = x > 0.0f ? x * c.decode_toe_slope : 0.0f;
            rgb.v[i] = x >= c.decode.x_min ? lin : toe;
        }
    }
    // 3. to BT.2020.
    PrRgb s = pr_mat3(c.input_to_bt2020, rgb);
    // 4. expand to display light, cd/m².
    PrRgb hdr;
    if (c.method == PR_ITM_METHOD_BT2446A) {
        PrRgb p;
        for (int i = 0; i < 3; ++i) {
            float root = pr_lut(c.gamma_encode, t, s.v[i]);
            p.v[i] = s.v[i] < c.gamma_encode.x_min ? 0.0f : root;
        }
        float y = pr_dot3(c.method_luma, p);
        float y_pp = 255.0f * y;
        float e = y_pp <= 70.0f ? (1.8712e-5f * y_pp - 2.7334e-3f) * y_pp + 1.3141f
                                : (2.8305e-6f * y_pp - 7.4622e-4f) * y_pp + 1.2528f;
        float y_hdr = pr_fast_exp2(e * pr_fast_log2(y_pp)) * 1e-3f;
        float sc = y > PR_LOG2_FLOOR ? 1.075f * y_hdr / y : 0.0f;
        for (int i = 0; i < 3; ++i) {
            float q = pr_clamp_to(y_hdr + sc * (p.v[i] - y), 0.0f, 1.0f);
            float light = pr_lut(c.gamma_decode, t, q);
            hdr.v[i] = q < c.gamma_decode.x_min ? 0.0f : light;
        }
    } else {
        float y = pr_dot3(c.method_luma, s);
        float gain;
        if (c.method == PR_ITM_METHOD_BT2446C) {
            // The Rust side rounds each f64 constant of `method_c` to f32 once; so do these.
            const float y_hdr_ip = (float)(PR_ITM_C_Y_SDR_IP / PR_ITM_C_K1);
            const float log2e_over_k2 = PR_LOG2E_F / (float)PR_ITM_C_K2;
            float y_sdr = y * c.c_sdr_percent;
            float curve =
                y_hdr_ip * (pr_fast_exp2((y_sdr - (float)PR_ITM_C_K4) * log2e_over_k2) +
                            (float)PR_ITM_C_K3);
            curve = curve > y_hdr_ip ? curve : y_hdr_ip;
            gain = y_sdr <= (float)PR_ITM_C_Y_SDR_IP ? c.c_linear_gain : curve / y * c.c_peak_scale;
        } else {
            // Display-referred: exp2(0) is exactly 1 below the knee.
            float k = pr_clamp_to((y - 0.5f) * 2.0f, 0.0f, 1.0f);
            gain = c.reference_white_nits * pr_fast_exp2(c.log2_peak_over_reference * k * k);
        }
        for (int i = 0; i < 3; ++i) hdr.v[i] = s.v[i] * gain;
    }
    // 5, 6. highlights and saturation.
    if (c.apply_highlight != 0 || c.apply_saturation != 0) {
        float y = pr_dot3(c.bt2020_luma, hdr);
        if (c.apply_highlight != 0) {
            float u = pr_clamp_to(
                pr_fast_log2(y * c.inv_reference_white_nits) * c.inv_log2_peak_over_reference, 0.0f,
                1.0f);
            float gain = pr_fast_exp2(c.highlight_log2_gain * u * u * (1.0f - u));
            for (int i = 0; i < 3; ++i) hdr.v[i] = hdr.v[i] * gain;
            y = y * gain;
        }
        if (c.apply_saturation != 0) {
            for (int i = 0; i < 3; ++i) hdr.v[i] = y + c.saturation * (hdr.v[i] - y);
        }
    }
    // 7. mix with the un-expanded plate.
    if (c.apply_mix != 0) {
        for (int i = 0; i < 3; ++i) hdr.v[i] = c.mix * hdr.v[i] + c.unexpanded_nits * s.v[i];
    }
    // 8. output primaries (the output's scale is folded into the matrix).
    PrRgb o = pr_mat3(c.bt2020_to_output, hdr);
    // 9. encode.
    if (c.output_transfer == PR_ITM_OUTPUT_PQ) {
        for (int i = 0; i < 3; ++i) o.v[i] = pr_lut(c.encode, t, o.v[i]);
    } else if (c.output_transfer == PR_ITM_OUTPUT_HLG) {
        for (int i = 0; i < 3; ++i) o.v[i] = o.v[i] > 0.0f ? o.v[i] : 0.0f;
        float gain = pr_fast_pow(pr_dot3(c.output_luma, o), c.hlg_ootf_exponent);
        for (int i = 0; i < 3; ++i) {
            float v = o.v[i] * gain;
            o.v[i] = pr_lut(c.encode, t, v < 1.0f ? v : 1.0f);
        }
    }
    return o;
}

extern "C" __global__ void itm_rgba(const ItmKernelParams p) {
    int x, y;
    if (!pr_thread_pixel(p.window, &x, &y)) return;
    const float* t = (const float*)p.tables;
    PrPixel px = pr_load_pixel(p.src, x, y);
    // Premultiplied: divide by alpha before and multiply after; alpha <= 0 or NaN gives factor 0,
    // so that colour comes out 0 (as `ItmPrepared::pixels`, including its NaN·0 cases).
    float before = 1.0f;
    float after = 1.0f;
    int premultiplied = p.c.premultiplied != 0;
    if (premultiplied) {
        before = px.a > 0.0f ? 1.0f / px.a : 0.0f;
        after = px.a > 0.0f ? px.a : 0.0f;
    }
    PrRgb rgb;
    rgb.v[0] = premultiplied ? px.r * before : px.r;
    rgb.v[1] = premultiplied ? px.g * before : px.g;
    rgb.v[2] = premultiplied ? px.b * before : px.b;
    PrRgb o = pr_itm_rgb(p.c, t, rgb);
    px.r = premultiplied ? o.v[0] * after : o.v[0];
    px.g = premultiplied ? o.v[1] * after : o.v[1];
    px.b = premultiplied ? o.v[2] * after : o.v[2];
    pr_store_pixel(p.dst, x, y, px);
}
