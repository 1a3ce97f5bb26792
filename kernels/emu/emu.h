// CPU emulation of the CUDA dialect PlateRestore's kernels are written in. Included before a
// kernel source: maps the CUDA qualifiers away, gives every emulated thread its own
// threadIdx/blockIdx, and implements __syncthreads and the warp intrinsics with real barriers.
// Blocks run one at a time (so a function-static array is a correct __shared__), their threads
// as fibers of the launching thread (emu.cpp).
#pragma once

#define PLATERESTORE_EMU 1

#include <math.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <atomic>

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};
using uint3 = dim3;

namespace emu {

struct ThreadState {
    dim3 thread_idx;
    dim3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
    unsigned linear_thread = 0;  // threadIdx flattened x-fastest, as CUDA numbers lanes
};

extern thread_local ThreadState tl;

void syncthreads();
// Warp exchange: every live lane of this thread's warp publishes `value`, then reads lane
// `source(lane)`'s; a source outside the warp segment or past the block returns `value`.
enum class ShuffleMode { Index, Up, Down, Xor };
std::uint64_t warp_shuffle(std::uint64_t value, ShuffleMode mode, int arg, int width);
unsigned warp_ballot(int predicate);
// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 as a warp-collective: every lane of the
// warp passes its A (4 registers of 2 halves), B (2 registers) and C (4 floats) fragments in the
// PTX ISA's per-lane layout and receives its D fragment, computed in f32 over k = 0..15.
void mma_m16n8k16_f16_f32(const unsigned a[4], const unsigned b[2], const float c[4], float d[4]);

unsigned short f32_to_f16_bits(float f);
float f16_bits_to_f32(unsigned short h);

inline float bit_cast_f32(unsigned v) { return std::bit_cast<float>(v); }
inline unsigned bit_cast_u32(float v) { return std::bit_cast<unsigned>(v); }

template <typename T>
std::uint64_t to_slot(T v) {
    static_assert(sizeof(T) <= 8);
    std::uint64_t s = 0;
    __builtin_memcpy(&s, &v, sizeof(T));
    return s;
}
template <typename T>
T from_slot(std::uint64_t s) {
    T v;
    __builtin_memcpy(&v, &s, sizeof(T));
    return v;
}

}  // namespace emu

#define threadIdx (emu::tl.thread_idx)
#define blockIdx (emu::tl.block_idx)
#define blockDim (emu::tl.block_dim)
#define gridDim (emu::tl.grid_dim)
#define warpSize 32

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
// One block runs at a time and launches are serialised, so a static is exactly one block's.
#define __shared__ static

inline void __syncthreads() { emu::syncthreads(); }

template <typename T>
T __shfl_sync(unsigned, T v, int src_lane, int width = 32) {
    return emu::from_slot<T>(emu::warp_shuffle(emu::to_slot(v), emu::ShuffleMode::Index, src_lane, width));
}
template <typename T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
    return emu::from_slot<T>(emu::warp_shuffle(emu::to_slot(v), emu::ShuffleMode::Up, (int)delta, width));
}
template <typename T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
    return emu::from_slot<T>(emu::warp_shuffle(emu::to_slot(v), emu::ShuffleMode::Down, (int)delta, width));
}
template <typename T>
T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32) {
    return emu::from_slot<T>(emu::warp_shuffle(emu::to_slot(v), emu::ShuffleMode::Xor, lane_mask, width));
}
inline unsigned __ballot_sync(unsigned, int predicate) { return emu::warp_ballot(predicate); }
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned, int predicate) {
    return emu::warp_ballot(!predicate) == 0;
}
inline void __syncwarp(unsigned = 0xffffffffu) { (void)emu::warp_ballot(0); }
inline float __uint_as_float(unsigned v) { return emu::bit_cast_f32(v); }
inline unsigned __float_as_uint(float v) { return emu::bit_cast_u32(v); }
inline float __int_as_float(int v) { return std::bit_cast<float>(v); }
inline int __float_as_int(float v) { return std::bit_cast<int>(v); }

// Atomics: real atomic read-modify-writes on host memory (a launch's threads are fibers of one
// OS thread, but the host code around a launch is not).
template <typename T>
T atomicAdd(T* address, T value) { return std::atomic_ref<T>(*address).fetch_add(value); }
template <typename T>
T atomicSub(T* address, T value) { return std::atomic_ref<T>(*address).fetch_sub(value); }
template <typename T>
T atomicExch(T* address, T value) { return std::atomic_ref<T>(*address).exchange(value); }
template <typename T>
T atomicCAS(T* address, T expected, T desired) {
    std::atomic_ref<T>(*address).compare_exchange_strong(expected, desired);
    return expected;  // the value found, as CUDA returns
}
template <typename T>
T atomicMax(T* address, T value) {
    std::atomic_ref<T> a(*address);
    T old = a.load();
    while (old < value && !a.compare_exchange_weak(old, value)) {
    }
    return old;
}
template <typename T>
T atomicMin(T* address, T value) {
    std::atomic_ref<T> a(*address);
    T old = a.load();
    while (old > value && !a.compare_exchange_weak(old, value)) {
    }
    return old;
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// CUDA's overloaded min/max and a few device intrinsics. The fast-math ones (__expf, __logf,
// __powf, rsqrtf) are less precise on the GPU than these libm versions: a kernel that uses them
// needs a tolerance in its test, stated beside it.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
template <typename T>
T __ldg(const T* p) { return *p; }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
