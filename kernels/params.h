/* Kernel parameter structs, shared by the CUDA kernels, the CPU emulation and Rust (build.rs runs
 * bindgen over this file), so the three layouts are identical by construction.
 *
 * Convention: every kernel takes exactly ONE of these structs, by value. Device pointers are
 * `unsigned long long`, row pitches are signed bytes (bottom-up images are negative), rectangles
 * are half-open pixel bounds with any origin. Plain C only: no headers, no fixed-width typedefs,
 * so NVRTC, the C++ emulation and libclang all read it the same way. */
#ifndef PLATERESTORE_PARAMS_H
#define PLATERESTORE_PARAMS_H

/* Storage type of one channel (`image::PixelDepth`). */
#define PR_DEPTH_U8 0
#define PR_DEPTH_U16 1
#define PR_DEPTH_F16 2
#define PR_DEPTH_F32 3

/* Channels stored per pixel (`image::Components`). */
#define PR_COMPONENTS_RGBA 0
#define PR_COMPONENTS_RGB 1
#define PR_COMPONENTS_ALPHA 2

/* A half-open pixel rectangle: x1 <= x < x2, y1 <= y < y2 (OfxRectI). */
typedef struct PrRect {
    int x1;
    int y1;
    int x2;
    int y2;
} PrRect;

/* One image in device memory, in any of the OFX layouts (`image::ImageLayout`). */
typedef struct PrImage {
    unsigned long long data; /* device address of pixel (bounds.x1, bounds.y1) */
    long long row_bytes;     /* bytes from row y to row y + 1; negative when bottom-up */
    PrRect bounds;
    int depth;      /* PR_DEPTH_* */
    int components; /* PR_COMPONENTS_* */
} PrImage;

/* A packed RGBA f32 working buffer covering `rect`: pixel (x, y) is float4 number
 * (y - rect.y1) * width + (x - rect.x1). */
typedef struct PrWorkBuffer {
    unsigned long long data;
    PrRect rect;
} PrWorkBuffer;

/* unpack_rgba_f32: every pixel of dst.rect read from src (transparent black outside src.bounds,
 * RGB gets alpha 1, Alpha gets colour 0), as `ImageView::read_row` does. */
typedef struct UnpackParams {
    PrImage src;
    PrWorkBuffer dst;
} UnpackParams;

/* pack_rgba_f32: every pixel of src.rect inside dst.bounds written to dst (integer depths clamp
 * and round like `image::quantize`, half rounds to nearest even), as `write_row` does. */
typedef struct PackParams {
    PrWorkBuffer src;
    PrImage dst;
} PackParams;

/* copy_image: every pixel of `window` read from src (read_row's rules) and written to dst
 * (write_row's rules): a depth/component conversion in one pass, and the pass-through path. */
typedef struct CopyParams {
    PrImage src;
    PrImage dst;
    PrRect window;
} CopyParams;

/* Inverse tone map (src/ops/itm.rs, `ItmConstants` / `LogLut`): the same constants, field for
 * field and in the same order, copied by src/device/itm.rs (a device test compares the bytes).
 * Codes follow the Rust enums' saved indices. */
#define PR_ITM_INPUT_SRGB 0
#define PR_ITM_INPUT_BT1886 1
#define PR_ITM_INPUT_LINEAR 2
#define PR_ITM_METHOD_BT2446A 0
#define PR_ITM_METHOD_BT2446C 1
#define PR_ITM_METHOD_DISPLAY_REFERRED 2
#define PR_ITM_OUTPUT_PQ 0
#define PR_ITM_OUTPUT_HLG 1
#define PR_ITM_OUTPUT_SCENE_LINEAR 2

/* ITU-R BT.2446-1 section 6 (Method C) tone-curve constants the kernel's closed form uses; a
 * device test checks them against `ops::itm::method_c`. */
#define PR_ITM_C_K1 0.83802
#define PR_ITM_C_K2 15.09968
#define PR_ITM_C_K3 0.74204
#define PR_ITM_C_K4 78.99439
#define PR_ITM_C_Y_SDR_IP 58.5

/* A log-spaced table inside the shared table array (`ops::itm::LogLut`): samples
 * offset .. offset + (octaves << seg_bits) + 2, spaced 2^seg_bits per octave from x_min. */
typedef struct PrLogLut {
    unsigned int offset;
    int min_exp;
    unsigned int octaves;
    unsigned int seg_bits;
    float x_min; /* 2^min_exp */
    float x_max; /* 2^(min_exp + octaves) */
} PrLogLut;

typedef struct PrItmConstants {
    unsigned int input_encoding;  /* PR_ITM_INPUT_* */
    unsigned int method;          /* PR_ITM_METHOD_* */
    unsigned int output_transfer; /* PR_ITM_OUTPUT_* */
    unsigned int premultiplied;
    unsigned int apply_highlight;
    unsigned int apply_saturation;
    unsigned int apply_mix;
    float input_to_bt2020[9];
    float bt2020_to_output[9]; /* output scale (1/10000, 1/peak, scene-linear) folded in */
    float bt2020_luma[3];
    float method_luma[3];
    float output_luma[3];
    float reference_white_nits;
    float log2_peak_over_reference;
    float inv_log2_peak_over_reference;
    float inv_reference_white_nits;
    float c_sdr_percent;
    float c_linear_gain;
    float c_peak_scale;
    float highlight_log2_gain;
    float saturation;
    float mix;
    float unexpanded_nits;
    float hlg_ootf_exponent;
    PrLogLut decode;
    float decode_toe_slope;
    PrLogLut gamma_encode;
    PrLogLut gamma_decode;
    PrLogLut encode;
} PrItmConstants;

/* itm_rgba: every pixel of `window` read from src, tone mapped, written to dst (one pass). */
typedef struct ItmKernelParams {
    PrImage src;
    PrImage dst;
    PrRect window;
    unsigned long long tables; /* device address of the f32 table array */
    unsigned int table_len;    /* floats in it */
    unsigned int pad_;
    PrItmConstants c;
} ItmKernelParams;

/* Film grain (src/ops/grain): the render's prepared plan (`field::FieldPlan`, `ResponseTable`)
 * copied by src/device/grain.rs. Every table lives in one f32 array; the fields below hold
 * offsets into it (in floats). */
#define PR_GRAIN_MAX_OCTAVES 2
#define PR_GRAIN_RESPONSE_STEPS 4095
#define PR_GRAIN_COUNT_BITS 10
#define PR_GRAIN_COUNT_LEVELS 1024 /* 1 << PR_GRAIN_COUNT_BITS */

/* One axis of one octave (`field::AxisTaps`): output coordinate origin + n reads lattice sites
 * first[n] .. first[n] + taps with weights[n * taps ..], normalised with sums[n]. `first` is
 * stored as f32 holding an exact integer (|first| < 2^24, checked on the host). With
 * `stride` n > 0 (render scale exactly 1/n, checked on the host) every coordinate has entry
 * 0's weights and sum and first[0] + n * stride: one copy of the weights, read warp-uniform. */
typedef struct PrGrainAxis {
    int origin;
    unsigned int taps;
    unsigned int first;
    unsigned int weights;
    unsigned int sums;
    unsigned int stride;
} PrGrainAxis;

/* One grain octave (`field::OctavePlan`). */
typedef struct PrGrainOctave {
    unsigned int key;    /* stream key (seed, frame key, octave) */
    unsigned int counts; /* offset of the 1024 grain counts (`ImpulseTable::counts`) */
    float inv_std;
    float mean_over_std;
    PrGrainAxis x;
    PrGrainAxis y;
} PrGrainOctave;

/* grain_rgba: every pixel of `window` read from src, grained, written to dst (one pass). */
typedef struct GrainKernelParams {
    PrImage src;
    PrImage dst;
    PrRect window;
    unsigned long long tables; /* device address of the f32 table array */
    unsigned int table_len;    /* floats in it */
    unsigned int octave_count; /* 1, or 2 with roughness */
    PrGrainOctave octaves[PR_GRAIN_MAX_OCTAVES];
    unsigned int response;      /* offset of the PR_GRAIN_RESPONSE_STEPS + 1 response values */
    unsigned int linear;        /* scene-linear plate: grain in L* / 100, else on code values */
    unsigned int premultiplied; /* grain un-premultiplied colour */
    unsigned int grain_only;    /* write grain (+ centre) instead of the graded plate */
    float centre;               /* grain-only outputs: 0 or 0.5 */
    float gain[3];              /* amount x channel amount */
    float mix_a;                /* colour mix: g'_c = mix_a * g_c + mix_b * (g0 + g1 + g2) */
    float mix_b;
    float lstar_break;          /* linear value where L* leaves its line for the cube root */
    float lstar_slope;          /* the line's slope, over 100 */
    float lstar_inv_slope;      /* its inverse */
    float inv_1_16;             /* 1 / 1.16 rounded to f32 */
} GrainKernelParams;


/* ---- neural networks (nn.cu) ----------------------------------------------------------------
 * Activations are channel-interleaved (pixel-major) buffers over a rectangle: pixel (x, y),
 * channel c at element ((y - rect.y1) * width + (x - rect.x1)) * stride + c. Hidden activations
 * are fp16 (stored as 16-bit integers) with `stride` a multiple of 16; padded channels are 0. */

#define NN_ACT_NONE 0
#define NN_ACT_RELU 1
#define NN_ACT_LEAKY 2
#define NN_ACT_PRELU 3
#define NN_ACT_SILU 4

/* Output channels one block computes (grid.z covers the rest). */
#define NN_CO_PER_BLOCK 64

/* nn_conv3x3_{mma,simt}_f16: dst = act(conv3x3(src) + bias) over dst_rect, zero padding at the
 * frame edge (dst pixels outside `frame` are written as 0). src_rect is dst_rect grown by 1. */
typedef struct NnConvParams {
    unsigned long long src;     /* fp16, src_stride channels per pixel */
    unsigned long long dst;     /* fp16, or f32 when dst_f32 (the tail), dst_stride per pixel */
    unsigned long long weights; /* fp16 [co < dst_stride][tap 0..9][ci < src_stride] */
    unsigned long long bias;    /* f32 [dst_stride] */
    unsigned long long alpha;   /* f32 [dst_stride] PReLU slopes (NN_ACT_PRELU only) */
    PrRect src_rect;
    PrRect dst_rect;
    PrRect frame;
    int src_stride; /* multiple of 16 */
    int dst_stride; /* multiple of 16 */
    int cin;        /* real input channels */
    int activation; /* NN_ACT_* */
    float leaky_slope;
    int dst_f32;
} NnConvParams;

/* nn_input_f16: the f32 network input (cin channels per pixel, zeros outside the frame) over
 * rect → fp16 with `stride` channels per pixel (padding zeroed). */
typedef struct NnInputParams {
    unsigned long long src; /* f32 [pixel][cin] */
    unsigned long long dst; /* fp16 [pixel][stride] */
    PrRect rect;
    int cin;
    int stride;
} NnInputParams;

/* nn_assemble_f32: out (3 f32 per pixel over out_rect) = pixel_shuffle(tail) + skip(input),
 * as src/nn/cpu.rs `assemble`. */
typedef struct NnAssembleParams {
    unsigned long long tail;  /* f32 [core pixel][tail_stride] */
    unsigned long long input; /* f32 [input_rect pixel][cin] */
    unsigned long long out;   /* f32 [out_rect pixel][3] */
    PrRect core;
    PrRect input_rect;
    PrRect out_rect;
    PrRect frame;
    int tail_stride;
    int cin;
    int scale;
    int centre; /* first channel of the centre frame in the input */
    int skip;   /* NN_SKIP_* */
    /* NN_SKIP_LANCZOS3: weights [phase][input offset -3..3], src/nn/cpu.rs lanczos3_phases */
    float lanczos[4][7];
} NnAssembleParams;

#define NN_SKIP_NONE 0
#define NN_SKIP_IDENTITY 1
#define NN_SKIP_NEAREST 2
#define NN_SKIP_BILINEAR 3
#define NN_SKIP_LANCZOS3 4

#endif
