// Pixel-format conversions every effect needs around its own kernels: any OFX layout to a packed
// RGBA f32 working buffer and back. Bit-exact with image::read_row / write_row.
#include "common.cuh"

extern "C" __global__ void unpack_rgba_f32(const UnpackParams p) {
    int x, y;
    if (!pr_thread_pixel(p.dst.rect, &x, &y)) return;
    *pr_work_pixel(p.dst, x, y) = pr_load_pixel(p.src, x, y);
}

extern "C" __global__ void pack_rgba_f32(const PackParams p) {
    int x, y;
    if (!pr_thread_pixel(p.src.rect, &x, &y)) return;
    pr_store_pixel(p.dst, x, y, *pr_work_pixel(p.src, x, y));
}

extern "C" __global__ void copy_image(const CopyParams p) {
    int x, y;
    if (!pr_thread_pixel(p.window, &x, &y)) return;
    pr_store_pixel(p.dst, x, y, pr_load_pixel(p.src, x, y));
}
