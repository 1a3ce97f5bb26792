// Kernels that exercise the emulation itself — shared memory, __syncthreads, warp shuffles and
// ballots, threads that leave early — with results a test can predict exactly.
#include "common.cuh"

typedef struct SelftestParams {
    unsigned long long out; /* int array */
    int n;                  /* live elements; threads at or past n leave early where noted */
    int pad_;
} SelftestParams;

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
