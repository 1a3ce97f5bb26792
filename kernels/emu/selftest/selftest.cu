// Kernels that exercise the emulation itself — shared memory, __syncthreads, warp shuffles and
// ballots, threads that leave early — with results a test can predict exactly.
#include "common.cuh"

typedef struct SelftestParams {
    unsigned long long out; /* int array */
    int n;                  /* live elements; threads at or past n leave early where noted */
    int pad_;
} SelftestParams;

// Races on purpose: each thread reads its neighbours' shared-memory slots (t + 1 and t − 1,
// its own at the ends) with no barrier after the writes. Correct code would read
// block·1000 + that index; the emulator must let both races show, whichever neighbour is the
// writer. out[2i] = the slot of t + 1, out[2i + 1] = the slot of t − 1.
extern "C" __global__ void selftest_missing_barrier(const SelftestParams p) {
    __shared__ int tile[1024];
    int t = (int)threadIdx.x, n = (int)blockDim.x;
    int i = (int)(blockIdx.x * blockDim.x) + t;
    tile[t] = (int)blockIdx.x * 1000 + t;
    ((int*)p.out)[2 * i] = tile[t + 1 < n ? t + 1 : t];
    ((int*)p.out)[2 * i + 1] = tile[t > 0 ? t - 1 : t];
}

// out[i] = the index the mirror thread of the same block wrote to shared memory.
extern "C" __global__ void selftest_block_reverse(const SelftestParams p) {
    __shared__ int tile[1024];
    int t = (int)threadIdx.x;
    int i = (int)(blockIdx.x * blockDim.x) + t;
    tile[t] = i;
    __syncthreads();
    if (i < p.n) ((int*)p.out)[i] = tile[blockDim.x - 1 - t];
}

// Three ints per thread: warp sum by xor-butterfly, ballot of odd indices, next lane's index.
extern "C" __global__ void selftest_warp_ops(const SelftestParams p) {
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    int sum = i;
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    unsigned odd = __ballot_sync(0xffffffffu, i & 1);
    int next = __shfl_down_sync(0xffffffffu, i, 1);
    int* out = (int*)p.out;
    out[3 * i] = sum;
    out[3 * i + 1] = (int)odd;
    out[3 * i + 2] = next;
}

// Threads t >= n leave before two barriers; the rest must neither deadlock nor see stale data.
extern "C" __global__ void selftest_early_exit(const SelftestParams p) {
    __shared__ int tile[1024];
    int t = (int)threadIdx.x;
    if (t >= p.n) return;
    tile[t] = t * 10 + (int)blockIdx.x;
    __syncthreads();
    int neighbour = tile[(t + 1) % p.n];
    __syncthreads();
    tile[t] = neighbour;
    __syncthreads();
    ((int*)p.out)[blockIdx.x * p.n + t] = tile[t];
}

// A histogram of i % 8 over n items, built in shared memory with atomics and merged into global
// memory with atomics (out[0..8] ints), plus a float sum in out[8] (as float bits).
extern "C" __global__ void selftest_atomics(const SelftestParams p) {
    __shared__ int bins[8];
    int t = (int)threadIdx.x;
    if (t < 8) bins[t] = 0;
    __syncthreads();
    int i = (int)(blockIdx.x * blockDim.x) + t;
    if (i < p.n) {
        atomicAdd(&bins[i % 8], 1);
        atomicAdd((float*)p.out + 8, 0.5f);
    }
    __syncthreads();
    if (t < 8) atomicAdd((int*)p.out + t, bins[t]);
}

typedef struct SelftestMmaParams {
    unsigned long long a; /* 16×16 fp16 bits, row-major */
    unsigned long long b; /* 16×8 fp16 bits, row-major (k rows, n columns) */
    unsigned long long c; /* 16×8 f32, row-major */
    unsigned long long d; /* 16×8 f32 out */
} SelftestMmaParams;

// One warp: loads A, B, C into mma.m16n8k16 fragments by the PTX ISA's layout, multiplies, and
// stores D back by the same layout, so the result is the matrix A·B + C.
extern "C" __global__ void selftest_mma_m16n8k16(const SelftestMmaParams p) {
    const unsigned short* A = (const unsigned short*)p.a;
    const unsigned short* B = (const unsigned short*)p.b;
    const float* C = (const float*)p.c;
    float* D = (float*)p.d;
    int lane = (int)threadIdx.x, g = lane >> 2, t = lane & 3;
    unsigned a[4], b[2];
    for (int r = 0; r < 4; ++r) {
        int row = g + 8 * (r & 1), col = 2 * t + 8 * (r >> 1);
        a[r] = (unsigned)A[row * 16 + col] | ((unsigned)A[row * 16 + col + 1] << 16);
    }
    for (int r = 0; r < 2; ++r) {
        int k = 2 * t + 8 * r;
        b[r] = (unsigned)B[k * 8 + g] | ((unsigned)B[(k + 1) * 8 + g] << 16);
    }
    float acc[4];
    for (int i = 0; i < 4; ++i) acc[i] = C[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)];
    emu::mma_m16n8k16_f16_f32(a, b, acc, acc);
    for (int i = 0; i < 4; ++i) D[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = acc[i];
}
