// The emulation runtime: launches a kernel's blocks one after another, each block's threads as
// fibers (user-space contexts with their own stacks) on the launching thread, with barriers for
// __syncthreads and per-warp exchanges for the shuffles. A thread runs until it waits at a
// barrier, then the next one runs; the order alternates between forward and backward at each
// round, so a missing barrier between a producer and a consumer shows whichever way round they
// are. A thread that returns early drops out of every later barrier, as on the GPU.
//
// Fibers, not OS threads: a barrier of a 256-thread block woke 255 sleeping OS threads through
// one mutex (milliseconds per barrier on two cores); a fiber switch is a few dozen instructions.
#include "emu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace emu {

thread_local ThreadState tl;

namespace {

// ---- fibers -----------------------------------------------------------------------------

#if defined(__x86_64__)
// Saves the callee-saved registers, MXCSR and the x87 control word on the current stack,
// stores the stack pointer in *save, switches to the stack `load` and restores the same from
// it (System V AMD64: everything else is caller-saved, so a call boundary is a full switch).
extern "C" void pr_emu_switch(void** save, void* load);
asm(R"(
    .text
    .p2align 4
    .globl pr_emu_switch
    .hidden pr_emu_switch
    .type pr_emu_switch,@function
pr_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size pr_emu_switch, .-pr_emu_switch
)");
#endif

struct Fiber {
#if defined(__x86_64__)
    void* sp = nullptr;
#else
    ucontext_t context;
#endif
    ThreadState state;
    bool done = false;
};

// One launch's fibers; lives on the launching thread's stack.
struct Scheduler {
    std::vector<Fiber> fibers;
    const std::function<void(unsigned)>* body = nullptr;
    Fiber* current = nullptr;
#if defined(__x86_64__)
    void* sp = nullptr;
#else
    ucontext_t context;
#endif
};

thread_local Scheduler* scheduler = nullptr;

// The running fiber gives way; it continues when the scheduler comes round to it again.
void yield_fiber() {
    Scheduler* s = scheduler;
    Fiber* f = s->current;
    f->state = tl;
#if defined(__x86_64__)
    pr_emu_switch(&f->sp, s->sp);
#else
    swapcontext(&f->context, &s->context);
#endif
}

[[noreturn]] void fiber_main() {
    Scheduler* s = scheduler;
    Fiber* f = s->current;
    (*s->body)((unsigned)(f - s->fibers.data()));
    f->done = true;
    yield_fiber();
    __builtin_unreachable();
}

#if !defined(__x86_64__)
void fiber_main_c() { fiber_main(); }
#endif

// Runs into fiber `f` until it yields or ends.
void resume(Scheduler& s, Fiber& f) {
    s.current = &f;
    tl = f.state;
#if defined(__x86_64__)
    pr_emu_switch(&s.sp, f.sp);
#else
    swapcontext(&s.context, &f.context);
#endif
}

// A reusable barrier whose party count shrinks when a thread leaves (returns from the kernel).
// All of a launch's threads are fibers of one OS thread: no locks, waiting is yielding.
class Barrier {
public:
    void reset(unsigned parties) {
        expected_ = parties;
        arrived_ = 0;
    }
    // The last arriver runs `on_release` before anyone continues.
    void arrive_and_wait(const std::function<void()>& on_release = {}) {
        std::uint64_t generation = generation_;
        if (++arrived_ >= expected_) {
            if (on_release) on_release();
            release();
        } else {
            while (generation_ == generation) yield_fiber();
        }
    }
    // `before` runs before the count shrinks.
    void leave(const std::function<void()>& before = {}) {
        if (before) before();
        if (expected_ > 0) expected_--;
        if (expected_ > 0 && arrived_ >= expected_) release();
    }

private:
    void release() {
        arrived_ = 0;
        generation_++;
    }
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
    // Cleared by a lane as it leaves; read by lanes still exchanging.
    bool live[32] = {};
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
            for (unsigned l = 0; l < 32; ++l) warp.live[l] = l < warp.lanes;
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
        warp.live[source]) {
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
        if (warp.live[l] && warp.slots[l]) bits |= 1u << l;
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

// Stack of each emulated thread; kernels keep a few small arrays in locals. The lowest page of
// each is a guard: an overflow faults instead of corrupting the next thread's stack.
constexpr std::size_t kStackBytes = 128 * 1024;

// 0: done. 1: the fibers' stacks could not be mapped.
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

    // Thread t of the block, through every block of the grid in turn.
    std::function<void(unsigned)> body = [&](unsigned t) {
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
            warp.barrier.leave([&] { warp.live[t % 32] = false; });
            state.sync.leave();
            block_done.arrive_and_wait([&] { state.reset(); });
        }
    };

    std::size_t page = (std::size_t)sysconf(_SC_PAGESIZE);
    std::size_t bytes = kStackBytes * threads;
    void* map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (map == MAP_FAILED) {
        emu::current_block = nullptr;
        return 1;
    }
    auto* stacks = static_cast<unsigned char*>(map);
    emu::Scheduler s;
    s.fibers.resize(threads);
    s.body = &body;
    for (unsigned t = 0; t < threads; ++t) {
        unsigned char* base = stacks + kStackBytes * t;
        mprotect(base, page, PROT_NONE);
        emu::Fiber& f = s.fibers[t];
#if defined(__x86_64__)
        // A frame pr_emu_switch can return into: MXCSR and x87 control word (this thread's),
        // six callee-saved registers, then fiber_main as the return address, which starts with
        // the stack aligned as after a call.
        auto* top = reinterpret_cast<std::uint64_t*>(base + kStackBytes);
        *--top = 0;  // fiber_main's own return address: it never returns
        *--top = reinterpret_cast<std::uint64_t>(&emu::fiber_main);
        for (int r = 0; r < 6; ++r) *--top = 0;
        std::uint32_t mxcsr;
        std::uint16_t fpucw;
        asm volatile("stmxcsr %0" : "=m"(mxcsr));
        asm volatile("fnstcw %0" : "=m"(fpucw));
        *--top = (std::uint64_t)mxcsr | ((std::uint64_t)fpucw << 32);
        f.sp = top;
#else
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = base + page;
        f.context.uc_stack.ss_size = kStackBytes - page;
        f.context.uc_link = nullptr;
        makecontext(&f.context, emu::fiber_main_c, 0);
#endif
    }
    emu::Scheduler* outer = emu::scheduler;
    emu::scheduler = &s;
    emu::ThreadState saved = emu::tl;
    // Round-robin until every thread has run every block, alternating direction per round.
    for (bool forward = true;; forward = !forward) {
        bool any = false;
        for (unsigned i = 0; i < threads; ++i) {
            emu::Fiber& f = s.fibers[forward ? i : threads - 1 - i];
            if (f.done) continue;
            any = true;
            emu::resume(s, f);
        }
        if (!any) break;
    }
    emu::tl = saved;
    emu::scheduler = outer;
    munmap(map, bytes);
    emu::current_block = nullptr;
    return 0;
}
