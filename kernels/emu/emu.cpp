// The emulation runtime: launches a kernel's blocks one after another, each block's threads as
// real OS threads, with barriers for __syncthreads and per-warp exchanges for the shuffles.
// A thread that returns early drops out of every later barrier, as on the GPU.
#include "emu.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace emu {

thread_local ThreadState tl;

namespace {

// A reusable barrier whose party count shrinks when a thread leaves (returns from the kernel).
class Barrier {
public:
    void reset(unsigned parties) {
        std::lock_guard<std::mutex> lock(mutex_);
        expected_ = parties;
        arrived_ = 0;
    }
    // The last arriver runs `on_release` (under the lock) before anyone continues.
    void arrive_and_wait(const std::function<void()>& on_release = {}) {
        std::unique_lock<std::mutex> lock(mutex_);
        std::uint64_t generation = generation_;
        if (++arrived_ >= expected_) {
            if (on_release) on_release();
            release();
        } else {
            released_.wait(lock, [&] { return generation_ != generation; });
        }
    }
    // `under_lock` runs before the count shrinks, ordered with every other arrival.
    void leave(const std::function<void()>& under_lock = {}) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (under_lock) under_lock();
        if (expected_ > 0) expected_--;
        if (expected_ > 0 && arrived_ >= expected_) release();
    }

private:
    void release() {
        arrived_ = 0;
        generation_++;
        released_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable released_;
    unsigned expected_ = 0;
    unsigned arrived_ = 0;
    std::uint64_t generation_ = 0;
};

struct Warp {
    Barrier barrier;
    std::uint64_t slots[32] = {};
    // Fragments of an emulated mma.sync, one row per lane.
    unsigned mma_a[32][4] = {};
    unsigned mma_b[32][2] = {};
    // Written by a lane as it leaves, read by lanes still exchanging: atomic.
    std::atomic<bool> live[32] = {};
    unsigned lanes = 0;  // lanes that exist (the last warp of a block may be partial)
};

struct Block {
    Barrier sync;
    std::vector<Warp> warps;
    unsigned threads = 0;

    void reset() {
        sync.reset(threads);
        for (unsigned w = 0; w < warps.size(); ++w) {
            Warp& warp = warps[w];
            warp.lanes = std::min(32u, threads - 32 * w);
            warp.barrier.reset(warp.lanes);
            for (unsigned l = 0; l < 32; ++l) warp.live[l].store(l < warp.lanes);
        }
    }
};

Block* current_block = nullptr;  // set for the duration of a launch (launches are serialised)

Warp& my_warp() { return current_block->warps[tl.linear_thread / 32]; }

}  // namespace

void syncthreads() { current_block->sync.arrive_and_wait(); }

std::uint64_t warp_shuffle(std::uint64_t value, ShuffleMode mode, int arg, int width) {
    Warp& warp = my_warp();
    int lane = (int)(tl.linear_thread % 32);
    if (width <= 0 || width > 32) width = 32;
    int segment = lane - lane % width;
    int source = lane;
    switch (mode) {
        case ShuffleMode::Index: source = segment + ((arg % width) + width) % width; break;
        case ShuffleMode::Up: source = lane - arg; break;
        case ShuffleMode::Down: source = lane + arg; break;
        case ShuffleMode::Xor: source = lane ^ arg; break;
    }
    warp.slots[lane] = value;
    warp.barrier.arrive_and_wait();
    std::uint64_t result = value;
    if (source >= segment && source < segment + width && source < (int)warp.lanes &&
        warp.live[source].load()) {
        result = warp.slots[source];
    }
    // Nobody may overwrite a slot before every lane has read it.
    warp.barrier.arrive_and_wait();
    return result;
}

unsigned warp_ballot(int predicate) {
    Warp& warp = my_warp();
    unsigned lane = tl.linear_thread % 32;
    warp.slots[lane] = predicate ? 1 : 0;
    warp.barrier.arrive_and_wait();
    unsigned bits = 0;
    for (unsigned l = 0; l < warp.lanes; ++l) {
        if (warp.live[l].load() && warp.slots[l]) bits |= 1u << l;
    }
    warp.barrier.arrive_and_wait();
    return bits;
}

// Fragment layouts of mma.m16n8k16 with .f16 A/B and .f32 C/D (PTX ISA, "Matrix Fragments for
// mma.m16n8k16"): groupID = lane >> 2, t = lane % 4.
//   A (16×16, row): register r holds row groupID + 8·(r & 1), columns 2t + 8·(r >> 1) + {0, 1}
//                   (low half first).
//   B (16×8, col):  register r holds rows (k) 2t + 8·r + {0, 1}, column groupID.
//   C/D (16×8):     element i holds row groupID + 8·(i >> 1), column 2t + (i & 1).
void mma_m16n8k16_f16_f32(const unsigned a[4], const unsigned b[2], const float c[4], float d[4]) {
    Warp& warp = my_warp();
    unsigned lane = tl.linear_thread % 32;
    for (int r = 0; r < 4; ++r) warp.mma_a[lane][r] = a[r];
    for (int r = 0; r < 2; ++r) warp.mma_b[lane][r] = b[r];
    float acc[4] = {c[0], c[1], c[2], c[3]};
    warp.barrier.arrive_and_wait();
    auto half_of = [](unsigned reg, int hi) {
        return f16_bits_to_f32((unsigned short)(hi ? reg >> 16 : reg & 0xffffu));
    };
    auto a_at = [&](int row, int k) {
        int src_lane = (row % 8) * 4 + (k % 8) / 2;
        int reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
        return half_of(warp.mma_a[src_lane][reg], k & 1);
    };
    auto b_at = [&](int k, int col) {
        int src_lane = col * 4 + (k % 8) / 2;
        return half_of(warp.mma_b[src_lane][k >= 8 ? 1 : 0], k & 1);
    };
    int group = (int)lane >> 2, t = (int)lane & 3;
    for (int i = 0; i < 4; ++i) {
        int row = group + 8 * (i >> 1), col = 2 * t + (i & 1);
        float sum = acc[i];
        for (int k = 0; k < 16; ++k) sum += a_at(row, k) * b_at(k, col);
        acc[i] = sum;
    }
    // Nobody may overwrite the fragments before every lane has read them.
    warp.barrier.arrive_and_wait();
    for (int i = 0; i < 4; ++i) d[i] = acc[i];
}

// IEEE 754 binary32 → binary16, round to nearest, ties to even (what cvt.rn.f16.f32 does).
unsigned short f32_to_f16_bits(float f) {
    std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    std::uint32_t sign = (x >> 16) & 0x8000u;
    std::uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {  // inf stays inf; NaN stays a quiet NaN
        return (unsigned short)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x0200u | ((ax >> 13) & 0x3ffu) : 0u));
    }
    if (ax >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);  // >= 65520 rounds to inf
    if (ax < 0x38800000u) {
        // Below 2^-14: a subnormal half counts units of 2^-24. Scaling by 2^24 is exact, and
        // nearbyint rounds ties to even in the default rounding mode.
        float units = nearbyintf(std::bit_cast<float>(ax) * 16777216.0f);
        return (unsigned short)(sign | (std::uint32_t)units);
    }
    // Rebias the exponent (127 → 15) and round the 13 dropped mantissa bits to nearest even; a
    // carry out of the mantissa correctly bumps the exponent.
    std::uint32_t rebased = ax - (112u << 23);
    std::uint32_t rounded = rebased + 0x0fffu + ((rebased >> 13) & 1u);
    return (unsigned short)(sign | (rounded >> 13));
}

float f16_bits_to_f32(unsigned short h) {
    std::uint32_t sign = (std::uint32_t)(h & 0x8000u) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1fu;
    std::uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0) {  // zero or subnormal: mantissa · 2^-24, exact in f32
        float magnitude = (float)mantissa * (1.0f / 16777216.0f);
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
    return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

}  // namespace emu

using emu::Barrier;
using emu::Block;
using emu::Warp;

// ---- the C interface the Rust crate calls -------------------------------------------------

struct EmuKernel {
    const char* name;
    void (*entry)(const void* params);
    const std::size_t* params_size;
};

extern "C" const EmuKernel pr_emu_kernels[];
extern "C" const std::size_t pr_emu_kernel_count;

namespace {
std::mutex launch_mutex;  // one launch at a time: __shared__ statics and current_block
}

extern "C" std::size_t pr_emu_count() { return pr_emu_kernel_count; }
extern "C" const char* pr_emu_name(std::size_t i) { return pr_emu_kernels[i].name; }
extern "C" std::size_t pr_emu_params_size(std::size_t i) { return *pr_emu_kernels[i].params_size; }

// 0: done. 1: a worker thread could not be started.
extern "C" int pr_emu_launch(std::size_t kernel, const unsigned grid[3], const unsigned block[3],
                             const void* params) {
    std::lock_guard<std::mutex> serial(launch_mutex);
    const EmuKernel& k = pr_emu_kernels[kernel];
    dim3 grid_dim{grid[0], grid[1], grid[2]};
    dim3 block_dim{block[0], block[1], block[2]};
    unsigned threads = block[0] * block[1] * block[2];
    unsigned long long blocks = (unsigned long long)grid[0] * grid[1] * grid[2];

    Block state;
    state.threads = threads;
    state.warps = std::vector<Warp>((threads + 31) / 32);
    state.reset();
    emu::current_block = &state;
    Barrier block_done;
    block_done.reset(threads);

    // Workers wait at a gate until every one of them exists: a block cannot run with threads
    // missing, so if the OS refuses one, nobody runs and the launch reports it.
    std::mutex gate_mutex;
    std::condition_variable gate;
    enum class Gate { Closed, Run, Abandon } gate_state = Gate::Closed;

    auto worker = [&](unsigned t) {
        {
            std::unique_lock<std::mutex> lock(gate_mutex);
            gate.wait(lock, [&] { return gate_state != Gate::Closed; });
            if (gate_state == Gate::Abandon) return;
        }
        emu::tl.block_dim = block_dim;
        emu::tl.grid_dim = grid_dim;
        emu::tl.linear_thread = t;
        emu::tl.thread_idx = dim3{t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
        for (unsigned long long b = 0; b < blocks; ++b) {
            emu::tl.block_idx = dim3{(unsigned)(b % grid[0]), (unsigned)((b / grid[0]) % grid[1]),
                                     (unsigned)(b / ((unsigned long long)grid[0] * grid[1]))};
            k.entry(params);
            // This thread is done with the block: the block's later barriers must not wait
            // for it.
            Warp& warp = state.warps[t / 32];
            warp.barrier.leave([&] { warp.live[t % 32].store(false); });
            state.sync.leave();
            block_done.arrive_and_wait([&] { state.reset(); });
        }
    };

    std::vector<std::thread> pool;
    int status = 0;
    try {
        pool.reserve(threads);
        for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker, t);
    } catch (const std::exception&) {
        status = 1;
    }
    {
        std::lock_guard<std::mutex> lock(gate_mutex);
        gate_state = status == 0 ? Gate::Run : Gate::Abandon;
    }
    gate.notify_all();
    if (status == 0) worker(0);
    for (auto& th : pool) th.join();
    emu::current_block = nullptr;
    return status;
}
