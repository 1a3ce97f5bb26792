//! Runs PlateRestore's CUDA kernels on the CPU: the same `.cu` sources, compiled as C++20 with a
//! small shim (kernels/emu/emu.h) so tests execute every kernel, bit for bit as written, on a
//! machine without a GPU. Test-only: the plugin never links it (it needs libstdc++).

use std::ffi::CStr;

/// A CUDA grid or block size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dim3 {
    pub x: u32,
    pub y: u32,
    pub z: u32,
}

impl From<u32> for Dim3 {
    fn from(x: u32) -> Self {
        Dim3 { x, y: 1, z: 1 }
    }
}
impl From<(u32, u32)> for Dim3 {
    fn from((x, y): (u32, u32)) -> Self {
        Dim3 { x, y, z: 1 }
    }
}
impl From<(u32, u32, u32)> for Dim3 {
    fn from((x, y, z): (u32, u32, u32)) -> Self {
        Dim3 { x, y, z }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmuError {
    #[error("no kernel named `{0}` in kernels/*.cu")]
    UnknownKernel(String),
    #[error("kernel `{kernel}` takes a {expected}-byte params struct, got {got} bytes")]
    ParamsSize {
        kernel: String,
        expected: usize,
        got: usize,
    },
    #[error("bad launch shape: {0}")]
    BadShape(String),
    #[error("the OS refused the memory for the launch's thread stacks")]
    NoStacks,
}

mod ffi {
    extern "C" {
        pub fn pr_emu_count() -> usize;
        pub fn pr_emu_name(i: usize) -> *const std::ffi::c_char;
        pub fn pr_emu_params_size(i: usize) -> usize;
        pub fn pr_emu_launch(
            kernel: usize,
            grid: *const u32,
            block: *const u32,
            params: *const std::ffi::c_void,
        ) -> std::ffi::c_int;
    }
}

/// Every emulated kernel: (entry-point name, params struct size in bytes).
pub fn kernels() -> Vec<(&'static str, usize)> {
    // SAFETY: indices below pr_emu_count() address the static registry, whose names are
    // NUL-terminated string literals that live for the whole program.
    unsafe {
        (0..ffi::pr_emu_count())
            .map(|i| {
                let name = CStr::from_ptr(ffi::pr_emu_name(i)).to_str().unwrap_or("?");
                (name, ffi::pr_emu_params_size(i))
            })
            .collect()
    }
}

/// CUDA allows at most 1024 threads per block.
pub const MAX_BLOCK_THREADS: u32 = 1024;

/// Runs `kernel<<<grid, block>>>(params)` on the CPU and returns when every block is done.
///
/// Launches are serialised process-wide; a block's threads run as fibers with their own stacks
/// and state, so `__syncthreads` and warp intrinsics behave as on the GPU (including threads
/// that return early).
///
/// # Safety
/// The kernel dereferences the addresses inside `params` (device pointers become host
/// pointers here): every one must point at host memory laid out as the kernel expects, valid
/// for the whole launch, and not accessed by anyone else meanwhile.
pub unsafe fn launch<P: Copy>(
    kernel: &str,
    grid: impl Into<Dim3>,
    block: impl Into<Dim3>,
    params: &P,
) -> Result<(), EmuError> {
    let (grid, block) = (grid.into(), block.into());
    let index = kernels()
        .iter()
        .position(|(name, _)| *name == kernel)
        .ok_or_else(|| EmuError::UnknownKernel(kernel.to_string()))?;
    let expected = kernels()[index].1;
    if expected != std::mem::size_of::<P>() {
        return Err(EmuError::ParamsSize {
            kernel: kernel.to_string(),
            expected,
            got: std::mem::size_of::<P>(),
        });
    }
    let threads = block.x as u64 * block.y as u64 * block.z as u64;
    if threads == 0 || threads > MAX_BLOCK_THREADS as u64 || block.z > 64 {
        return Err(EmuError::BadShape(format!("block {block:?}")));
    }
    if grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 {
        return Err(EmuError::BadShape(format!("grid {grid:?}")));
    }
    let g = [grid.x, grid.y, grid.z];
    let b = [block.x, block.y, block.z];
    // SAFETY: index is in range; g and b are 3-element arrays; params points at a value of the
    // size the kernel reads (checked above); the caller guarantees the addresses inside it.
    let rc = unsafe {
        ffi::pr_emu_launch(
            index,
            g.as_ptr(),
            b.as_ptr(),
            params as *const P as *const std::ffi::c_void,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(EmuError::NoStacks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    #[derive(Clone, Copy)]
    struct SelftestParams {
        out: u64,
        n: i32,
        pad: i32,
    }

    fn params(out: &mut [i32], n: i32) -> SelftestParams {
        SelftestParams {
            out: out.as_mut_ptr() as u64,
            n,
            pad: 0,
        }
    }

    #[test]
    fn shared_memory_and_syncthreads_are_per_block() {
        let (blocks, threads) = (3u32, 96u32);
        let n = (blocks * threads) as i32 - 5;
        let mut out = vec![-1i32; (blocks * threads) as usize];
        let p = params(&mut out, n);
        // SAFETY: out holds blocks·threads ints and outlives the launch.
        unsafe { launch("selftest_block_reverse", blocks, threads, &p) }.unwrap();
        for i in 0..(blocks * threads) as i32 {
            let (b, t) = (i / threads as i32, i % threads as i32);
            let want = if i < n {
                b * threads as i32 + (threads as i32 - 1 - t)
            } else {
                -1
            };
            assert_eq!(out[i as usize], want, "element {i}");
        }
    }

    #[test]
    fn warp_shuffles_and_ballots_follow_cuda_semantics() {
        // 80 threads: two full warps and a partial one of 16 lanes.
        let threads = 80u32;
        let mut out = vec![0i32; 3 * 2 * threads as usize];
        let p = params(&mut out, 0);
        // SAFETY: out holds 3 ints per thread of 2 blocks.
        unsafe { launch("selftest_warp_ops", 2, threads, &p) }.unwrap();
        for i in 0..2 * threads as i32 {
            let t = i % threads as i32;
            let warp_first = i - t % 32;
            let lanes = (threads as i32 - (t - t % 32)).min(32);
            // Xor partners past the partial warp's last lane are absent: they return the
            // caller's own value, so only full warps have a closed-form sum.
            if lanes == 32 {
                assert_eq!(
                    out[3 * i as usize],
                    (warp_first..warp_first + 32).sum::<i32>()
                );
                assert_eq!(out[3 * i as usize + 1] as u32, 0xaaaa_aaaa);
            } else {
                assert_eq!(
                    out[3 * i as usize + 1] as u32,
                    0xaaaa & ((1u32 << lanes) - 1)
                );
            }
            let lane = t % 32;
            let want_next = if lane + 1 < lanes { i + 1 } else { i };
            assert_eq!(out[3 * i as usize + 2], want_next, "shfl_down at {i}");
        }
    }

    #[test]
    fn threads_that_return_early_leave_the_barriers() {
        let (blocks, threads, live) = (4u32, 128u32, 70i32);
        let mut out = vec![-1i32; (blocks as i32 * live) as usize];
        let p = params(&mut out, live);
        // SAFETY: out holds blocks·live ints.
        unsafe { launch("selftest_early_exit", blocks, threads, &p) }.unwrap();
        for b in 0..blocks as i32 {
            for t in 0..live {
                assert_eq!(out[(b * live + t) as usize], ((t + 1) % live) * 10 + b);
            }
        }
    }

    #[test]
    fn a_missing_barrier_shows_whichever_thread_writes_first() {
        // Threads run in turn, forwards in one round and backwards in the next: a read of a
        // neighbour's write with no barrier between sees the stale slot in some block whether
        // the writer is the lower or the higher thread, so such a kernel fails its tests here
        // instead of passing by the luck of the order.
        let (blocks, threads) = (4u32, 64u32);
        let mut out = vec![-1i32; 2 * (blocks * threads) as usize];
        let p = params(&mut out, 0);
        // SAFETY: out holds 2 ints per thread of every block.
        unsafe { launch("selftest_missing_barrier", blocks, threads, &p) }.unwrap();
        let n = threads as i32;
        // Per block, the threads that read a slot before the neighbour above / below wrote it.
        let (mut from_above, mut from_below) = (0, 0);
        for b in 0..blocks as i32 {
            let stale = |k: usize, want: &dyn Fn(i32) -> i32| {
                (0..n)
                    .filter(|&t| out[2 * (b * n + t) as usize + k] != b * 1000 + want(t))
                    .count()
            };
            from_above = stale(0, &|t| (t + 1).min(n - 1)).max(from_above);
            from_below = stale(1, &|t| (t - 1).max(0)).max(from_below);
        }
        // In a block run in the writer's wrong order nearly every reader is early.
        let most = threads as usize / 2;
        assert!(
            from_above > most,
            "reads of thread t + 1's write: {from_above} early"
        );
        assert!(
            from_below > most,
            "reads of thread t − 1's write: {from_below} early"
        );
    }

    #[test]
    fn atomics_are_atomic_across_threads_and_blocks() {
        let n = 1000;
        let mut out = vec![0i32; 9];
        let p = params(&mut out, n);
        // SAFETY: out holds 9 ints (8 bins and one float).
        unsafe { launch("selftest_atomics", 5, 256, &p) }.unwrap();
        for (bin, count) in out[..8].iter().enumerate() {
            assert_eq!(
                *count,
                (0..n).filter(|i| i % 8 == bin as i32).count() as i32
            );
        }
        // 1000 additions of 0.5 are exact in f32 in any order.
        assert_eq!(f32::from_bits(out[8] as u32), 500.0);
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    struct MmaParams {
        a: u64,
        b: u64,
        c: u64,
        d: u64,
    }

    /// The emulated tensor-core instruction computes the matrix product A·B + C (A 16×16 and
    /// B 16×8 in f16, C and D 16×8 in f32) from the per-lane fragments of the PTX layout.
    #[test]
    fn emulated_mma_is_a_matrix_multiply_accumulate() {
        // Small integers and halves: exact in f16 and in every f32 partial sum.
        let a: Vec<u16> = (0..256)
            .map(|i| half::f16::from_f32(((i * 7) % 11) as f32 - 5.0).to_bits())
            .collect();
        let b: Vec<u16> = (0..128)
            .map(|i| half::f16::from_f32(((i * 5) % 9) as f32 * 0.5 - 2.0).to_bits())
            .collect();
        let c: Vec<f32> = (0..128).map(|i| (i % 13) as f32 - 6.0).collect();
        let mut d = vec![f32::NAN; 128];
        let p = MmaParams {
            a: a.as_ptr() as u64,
            b: b.as_ptr() as u64,
            c: c.as_ptr() as u64,
            d: d.as_mut_ptr() as u64,
        };
        // SAFETY: the four pointers address arrays of the sizes the kernel reads and writes.
        unsafe { launch("selftest_mma_m16n8k16", 1u32, 32u32, &p) }.unwrap();
        for row in 0..16 {
            for col in 0..8 {
                let mut want = c[row * 8 + col];
                for k in 0..16 {
                    want += half::f16::from_bits(a[row * 16 + k]).to_f32()
                        * half::f16::from_bits(b[k * 8 + col]).to_f32();
                }
                assert_eq!(d[row * 8 + col], want, "D[{row}][{col}]");
            }
        }
    }

    #[test]
    fn wrong_params_and_shapes_are_refused() {
        let p = 0u8;
        // SAFETY: refused before anything runs.
        unsafe {
            assert!(matches!(
                launch("selftest_warp_ops", 1, 32, &p),
                Err(EmuError::ParamsSize { .. })
            ));
            assert!(matches!(
                launch("no_such_kernel", 1, 32, &p),
                Err(EmuError::UnknownKernel(_))
            ));
            let q = SelftestParams {
                out: 0,
                n: 0,
                pad: 0,
            };
            assert!(matches!(
                launch("selftest_warp_ops", 1, 2048, &q),
                Err(EmuError::BadShape(_))
            ));
            assert!(matches!(
                launch("selftest_warp_ops", 0, 32, &q),
                Err(EmuError::BadShape(_))
            ));
        }
    }
}
