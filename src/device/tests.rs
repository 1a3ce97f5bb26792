//! Device tests. Kernels run through the CPU emulation (kernels/emu) and are compared with the
//! CPU reference (image.rs read_row / write_row, ops::pixel::map_rows). Tolerance for the
//! conversions: none — integer and f32 results must be bit-identical, half must be IEEE
//! round-to-nearest-even (bit-identical to the `half` crate); NaN only has to stay NaN, since a
//! GPU's cvt canonicalises NaN payloads.

use super::build_support::*;
use super::cuda::{self, choose_cubin, driver_present, pixel_grid, PIXEL_BLOCK};
use super::kernels::*;
use super::params::*;
use super::*;
use crate::image::{Components, ImageBuf, PixelDepth, Rect};
use crate::ops::{pixel::map_rows, NeverAbort};

// ---- helpers ---------------------------------------------------------------------------------

fn emu_over_rect<P: Copy + 'static>(kernel: Kernel, rect: Rect, params: &P) {
    assert_eq!(std::any::TypeId::of::<P>(), kernel.params_type());
    let (gx, gy) = pixel_grid(rect).unwrap();
    // SAFETY: every test below puts addresses of live host buffers covering the kernel's
    // reads and writes in `params`, and keeps them alive and untouched during the launch.
    unsafe { platerestore_emu::launch(kernel.name(), (gx, gy), PIXEL_BLOCK, params) }.unwrap();
}

/// SplitMix64: a fixed, seedable hash so every run tests the same values.
fn hash(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Values that stress every conversion: out-of-range, exact rounding ties of 8-bit, 16-bit and
/// half codes, half overflow/subnormal edges, infinities, NaN, negative zero.
fn test_value(x: i32, y: i32, c: usize) -> f32 {
    let h = hash(((x as u64 & 0xffff) << 32) ^ ((y as u64 & 0xffff) << 8) ^ c as u64);
    let k = (h >> 8) as u32;
    match h % 8 {
        0 | 1 => -0.25 + 1.5 * ((k % 1_000_000) as f32 / 1_000_000.0),
        2 => ((k % 255) as f32 + 0.5) / 255.0,
        3 => ((k % 65535) as f32 + 0.5) / 65535.0,
        4 => {
            // Midpoint between two adjacent finite halves: the round-to-even case.
            let code = (k % 0x7bff) as u16;
            let lo = half::f16::from_bits(code).to_f32() as f64;
            let hi = half::f16::from_bits(code + 1).to_f32() as f64;
            (0.5 * (lo + hi)) as f32
        }
        5 => [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            65504.0,
            65520.0,
            65519.99,
            5.960_464_5e-8,
            2.980_232_2e-8,
            1.0e-8,
            -3.0,
            1.0,
        ][(k % 12) as usize],
        _ => f32::from_bits(k.wrapping_mul(2_654_435_761)) % 1000.0,
    }
}

fn test_pixel(x: i32, y: i32) -> [f32; 4] {
    [0, 1, 2, 3].map(|c| test_value(x, y, c))
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Every pixel of `got` equals `want` bit for bit (NaN matching any NaN).
fn assert_same_pixels(got: &ImageBuf, want: &ImageBuf, case: &dyn std::fmt::Debug) {
    let (ga, gb) = (got.to_rgba_f32(), want.to_rgba_f32());
    for (p, (a, b)) in ga.iter().zip(&gb).enumerate() {
        for c in 0..4 {
            assert!(
                same(a[c], b[c]),
                "{case:?}: pixel {p} c{c}: {} vs {}",
                a[c],
                b[c]
            );
        }
    }
}

/// Every depth × components, each with one of four memory layouts: packed, odd padding (so
/// 16/32-bit channels are misaligned on later rows), bottom-up with padding, bottom-up packed.
fn formats() -> Vec<(PixelDepth, Components, usize, bool)> {
    let layouts = [(0, false), (13, false), (6, true), (0, true)];
    let mut v = Vec::new();
    for (i, depth) in PixelDepth::ALL.into_iter().enumerate() {
        for (j, comps) in Components::ALL.into_iter().enumerate() {
            for (k, (pad, flip)) in layouts.into_iter().enumerate() {
                // All four layouts for RGBA f32 and u8; a rotating one elsewhere keeps it quick.
                if (i * 3 + j + k) % 2 == 0 || comps == Components::Rgba {
                    v.push((depth, comps, pad, flip));
                }
            }
        }
    }
    v
}

/// Every byte of every row, padding included, in memory order of y.
fn raw_rows(buf: &mut ImageBuf) -> Vec<u8> {
    let layout = *buf.layout();
    let stride = layout.row_bytes.unsigned_abs();
    let base = buf.as_mut_ptr();
    let mut out = Vec::new();
    for y in 0..layout.bounds.height() as isize {
        // SAFETY: ImageBuf allocates |row_bytes| bytes for every row of its bounds.
        out.extend_from_slice(unsafe {
            std::slice::from_raw_parts(base.offset(y * layout.row_bytes), stride)
        });
    }
    out
}

// Source bounds with an odd origin and sizes that are not multiples of the 32×8 block; the
// window pokes out of them on every side, where reads must give transparent black.
const SRC_BOUNDS: Rect = Rect::new(-7, 13, 30, 24);
const WINDOW: Rect = Rect::new(-9, 11, 33, 26);

// ---- conversions through the emulation -------------------------------------------------------

#[test]
fn unpack_matches_read_row_bit_for_bit() {
    for (depth, comps, pad, flip) in formats() {
        let mut src = ImageBuf::new(SRC_BOUNDS, depth, comps, pad, flip);
        src.fill_with(test_pixel);
        let mut work = vec![[7.0f32; 4]; WINDOW.pixel_count()];
        let params = UnpackParams {
            src: PrImage::new(src.as_mut_ptr() as u64, src.layout()),
            dst: PrWorkBuffer::new(work.as_mut_ptr() as u64, WINDOW),
        };
        emu_over_rect(Kernel::UnpackRgbaF32, WINDOW, &params);
        let mut want = vec![[0.0f32; 4]; WINDOW.width() as usize];
        for (i, y) in (WINDOW.y1..WINDOW.y2).enumerate() {
            src.view().read_row(y, WINDOW.x1, &mut want);
            let got = &work[i * want.len()..(i + 1) * want.len()];
            for (x, (g, w)) in got.iter().zip(&want).enumerate() {
                for c in 0..4 {
                    assert!(
                        same(g[c], w[c]),
                        "{depth:?} {comps:?} pad {pad} flip {flip}: ({}, {y}) channel {c}: {} vs {}",
                        WINDOW.x1 + x as i32,
                        g[c],
                        w[c]
                    );
                }
            }
        }
    }
}

#[test]
fn pack_matches_write_row_bit_for_bit_and_touches_nothing_else() {
    // The work buffer covers a window that overlaps the destination's edges.
    let dst_bounds = Rect::new(-5, 12, 31, 25);
    let work: Vec<[f32; 4]> = (WINDOW.y1..WINDOW.y2)
        .flat_map(|y| (WINDOW.x1..WINDOW.x2).map(move |x| test_pixel(x, y)))
        .collect();
    for (depth, comps, pad, flip) in formats() {
        let background = |x: i32, y: i32| [x as f32 / 64.0, y as f32 / 64.0, 0.25, 0.5];
        let mut on_emu = ImageBuf::new(dst_bounds, depth, comps, pad, flip);
        on_emu.fill_with(background);
        let mut on_cpu = on_emu.clone();
        let params = PackParams {
            src: PrWorkBuffer::new(work.as_ptr() as u64, WINDOW),
            dst: PrImage::new(on_emu.as_mut_ptr() as u64, on_emu.layout()),
        };
        emu_over_rect(Kernel::PackRgbaF32, WINDOW, &params);
        let w = WINDOW.width() as usize;
        {
            let view = on_cpu.view_mut();
            for (i, y) in (WINDOW.y1..WINDOW.y2).enumerate() {
                view.write_row(y, WINDOW.x1, &work[i * w..(i + 1) * w]);
            }
        }
        let (a, b) = (raw_rows(&mut on_emu), raw_rows(&mut on_cpu));
        if depth == PixelDepth::F16 || depth == PixelDepth::F32 {
            // Compare as channels so NaN payloads may differ (only NaN-ness is specified).
            assert_same_pixels(&on_emu, &on_cpu, &(depth, comps));
            let nan_free = work.iter().all(|p| p.iter().all(|v| !v.is_nan()));
            assert!(!nan_free, "the test values must include NaN");
        } else {
            assert_eq!(a, b, "{depth:?} {comps:?} pad {pad} flip {flip}");
        }
    }
}

#[test]
fn half_packing_is_round_to_nearest_even_across_the_whole_range() {
    // 2^18 f32 bit patterns spread over the whole 32-bit space, plus every midpoint between
    // adjacent finite halves (the ties).
    let mut values: Vec<f32> = (0..1u64 << 18)
        .map(|i| f32::from_bits((i * 16411) as u32))
        .filter(|v| !v.is_nan())
        .collect();
    for code in 0..0x7bffu16 {
        let lo = half::f16::from_bits(code).to_f32() as f64;
        let hi = half::f16::from_bits(code + 1).to_f32() as f64;
        values.push((0.5 * (lo + hi)) as f32);
        values.push(-(0.5 * (lo + hi)) as f32);
    }
    values.resize(values.len().div_ceil(4 * 256) * 4 * 256, 1.0);
    let pixels = values.len() / 4;
    let rect = Rect::new(0, 0, 256, (pixels / 256) as i32);
    let mut dst = ImageBuf::new(rect, PixelDepth::F16, Components::Rgba, 0, false);
    let params = PackParams {
        src: PrWorkBuffer::new(values.as_ptr() as u64, rect),
        dst: PrImage::new(dst.as_mut_ptr() as u64, dst.layout()),
    };
    emu_over_rect(Kernel::PackRgbaF32, rect, &params);
    let raw = raw_rows(&mut dst);
    for (i, v) in values.iter().enumerate() {
        let got = u16::from_ne_bytes([raw[2 * i], raw[2 * i + 1]]);
        let want = half::f16::from_f32(*v).to_bits();
        assert_eq!(got, want, "{v:e} ({:#010x})", v.to_bits());
    }
}

#[test]
fn half_unpacking_is_exact_for_every_code() {
    let rect = Rect::new(3, -2, 3 + 128, -2 + 128); // 16384 RGBA pixels = all 65536 codes
    let mut src = ImageBuf::new(rect, PixelDepth::F16, Components::Rgba, 0, true);
    let codes: Vec<u16> = (0..=u16::MAX).collect();
    {
        let layout = *src.layout();
        let base = src.as_mut_ptr();
        for row in 0..128isize {
            let bytes: Vec<u8> = codes[(row as usize) * 512..(row as usize + 1) * 512]
                .iter()
                .flat_map(|c| c.to_ne_bytes())
                .collect();
            // SAFETY: one row of 128 RGBA half pixels is 1024 bytes, inside the allocation.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    base.offset(row * layout.row_bytes),
                    1024,
                )
            };
        }
    }
    let mut work = vec![[0.0f32; 4]; rect.pixel_count()];
    let params = UnpackParams {
        src: PrImage::new(src.as_mut_ptr() as u64, src.layout()),
        dst: PrWorkBuffer::new(work.as_mut_ptr() as u64, rect),
    };
    emu_over_rect(Kernel::UnpackRgbaF32, rect, &params);
    for (i, code) in codes.iter().enumerate() {
        let got = work[i / 4][i % 4];
        let want = half::f16::from_bits(*code).to_f32();
        assert!(same(got, want), "half {code:#06x}: {got} vs {want}");
    }
}

#[test]
fn copy_image_matches_map_rows_between_every_pair_of_formats() {
    let formats = formats();
    let dst_bounds = Rect::new(-4, 10, 28, 27);
    for (i, &(sd, sc, sp, sf)) in formats.iter().enumerate() {
        // Each source format against three destination formats, cycling through all of them.
        for step in [1, 7, 13] {
            let (dd, dc, dp, df) = formats[(i + step) % formats.len()];
            let mut src = ImageBuf::new(SRC_BOUNDS, sd, sc, sp, sf);
            src.fill_with(test_pixel);
            let mut on_emu = ImageBuf::new(dst_bounds, dd, dc, dp, df);
            on_emu.fill_with(|x, y| [0.1, x as f32 / 50.0, y as f32 / 50.0, 0.9]);
            let mut on_cpu = on_emu.clone();
            let params = CopyParams {
                src: PrImage::new(src.as_mut_ptr() as u64, src.layout()),
                dst: PrImage::new(on_emu.as_mut_ptr() as u64, on_emu.layout()),
                window: WINDOW.into(),
            };
            emu_over_rect(Kernel::CopyImage, WINDOW, &params);
            map_rows(
                &src.view(),
                &on_cpu.view_mut(),
                WINDOW,
                &NeverAbort,
                |_, _, _| {},
            )
            .unwrap();
            assert_same_pixels(&on_emu, &on_cpu, &(sd, sc, dd, dc));
            if !dd.is_float() {
                assert_eq!(raw_rows(&mut on_emu), raw_rows(&mut on_cpu));
            }
        }
    }
}

// ---- the kernel table, the build's checks, the emulation registry ----------------------------

#[test]
fn every_kernel_file_and_entry_point_is_in_the_table() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cu"))
        .collect();
    files.sort();
    let mut table: Vec<String> = KernelModule::ALL
        .iter()
        .map(|m| m.file_name().to_string())
        .collect();
    table.sort();
    assert_eq!(files, table);
    let mut count = 0;
    for module in KernelModule::ALL {
        let source = std::fs::read_to_string(dir.join(module.file_name())).unwrap();
        let entries = entry_points(&source).unwrap();
        assert!(
            !entries.is_empty(),
            "{} declares no kernel",
            module.file_name()
        );
        let names: Vec<&str> = module.kernels().iter().map(|k| k.name()).collect();
        for e in &entries {
            assert!(
                names.contains(&e.name.as_str()),
                "{} missing from the table",
                e.name
            );
            let k = Kernel::ALL.iter().find(|k| k.name() == e.name).unwrap();
            assert_eq!(k.module(), *module);
            assert_eq!(k.params_type_name(), e.params_type);
            // The embedded source for runtime NVRTC must define it too, with no local include
            // left for NVRTC to miss.
            assert!(module.source().contains(&format!("void {}(", e.name)));
            assert!(!module.source().contains("#include \""));
        }
        count += entries.len();
    }
    assert_eq!(count, Kernel::ALL.len());
}

#[test]
fn emulation_runs_every_kernel_with_the_same_params_layout() {
    let emu = platerestore_emu::kernels();
    for k in Kernel::ALL {
        let found = emu.iter().find(|(name, _)| *name == k.name());
        // The C++ sizeof of the struct the kernel source declares equals bindgen's Rust size.
        assert_eq!(found.map(|f| f.1), Some(k.params_size()), "{}", k.name());
    }
}

#[test]
fn kernels_are_precompiled_when_the_build_requires_it() {
    if option_env!("PLATERESTORE_REQUIRE_KERNELS") == Some("1") {
        // black_box: the constants are the build's output, which is what is under test.
        assert!(std::hint::black_box(KERNELS_PRECOMPILED));
        assert!(std::hint::black_box(BUILD_NVRTC_VERSION).is_some());
    }
    for module in KernelModule::ALL {
        assert!(!module.source().is_empty());
        if KERNELS_PRECOMPILED {
            let sms: Vec<u32> = module.cubins().iter().map(|c| c.0).collect();
            assert_eq!(
                sms,
                [75, 80, 86, 89, 90, 100, 120],
                "{}",
                module.file_name()
            );
            for (sm, cubin) in module.cubins() {
                assert_eq!(
                    &cubin[..4],
                    b"\x7fELF",
                    "sm_{sm} cubin of {}",
                    module.file_name()
                );
            }
        }
    }
}

#[test]
fn embedded_ptx_loads_on_cuda_12_0_drivers() {
    for module in KernelModule::ALL {
        let Some(ptx) = module.ptx() else {
            assert!(!std::hint::black_box(KERNELS_PRECOMPILED));
            continue;
        };
        let version = ptx_isa_version(ptx).unwrap();
        assert!(
            version <= (8, 0),
            "{} declares PTX ISA {version:?}",
            module.file_name()
        );
        assert_eq!(PTX_ISA_MAX, (8, 0));
        assert!(
            ptx.lines().any(|l| l.trim() == ".target sm_75"),
            "{}",
            module.file_name()
        );
        for k in module.kernels() {
            assert!(
                ptx.contains(&format!(".entry {}(", k.name())),
                "{}",
                k.name()
            );
        }
    }
}

#[test]
fn ptx_version_rewrite_changes_only_the_version_line() {
    let ptx = "//\n// Generated\n.version 8.8\n.target sm_75\n.address_size 64\n.visible .entry k()\n{\n\tret;\n}\n";
    assert_eq!(ptx_isa_version(ptx), Some((8, 8)));
    let lowered = with_ptx_isa_version(ptx, (8, 0)).unwrap();
    assert_eq!(ptx_isa_version(&lowered), Some((8, 0)));
    assert_eq!(lowered.replace(".version 8.0", ".version 8.8"), ptx);
    assert_eq!(with_ptx_isa_version("no version here", (8, 0)), None);
    // Load-width hints newer than ISA 8.0 go; the load they annotate stays.
    let hinted = ptx.replace(
        "\tret;",
        "\t.pragma \"used_bytes_mask 15\";\n\tld.param.u32 %r1, [p];\n\tret;",
    );
    let lowered = with_ptx_isa_version(&hinted, (8, 0)).unwrap();
    assert!(!lowered.contains("used_bytes_mask") && lowered.contains("ld.param.u32 %r1, [p];"));
    assert!(with_ptx_isa_version(&hinted, (8, 3))
        .unwrap()
        .contains("used_bytes_mask 15"));
}

#[test]
fn spill_check_finds_exactly_the_spilling_kernels() {
    let log = "\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'itm_rgba' for 'sm_86'
ptxas info    : Function properties for itm_rgba
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 30 registers, used 0 barriers, 400 bytes cmem[0]
ptxas info    : Compiling entry function 'denoise_tile' for 'sm_86'
ptxas info    : Function properties for denoise_tile
    48 bytes stack frame, 40 bytes spill stores, 36 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 400 bytes cmem[0]
";
    let reports = ptxas_spills(log);
    assert_eq!(reports.len(), 2);
    let spills = spilling(&reports);
    assert_eq!(spills.len(), 1);
    assert_eq!(spills[0].function, "denoise_tile");
    assert_eq!(spills[0].arch, "sm_86");
    assert_eq!(
        (spills[0].spill_store_bytes, spills[0].spill_load_bytes),
        (40, 36)
    );
    assert!(spilling(&ptxas_spills(
        &log.replace("40 bytes spill stores, 36", "0 bytes spill stores, 0")
    ))
    .is_empty());
}

#[test]
fn kernels_not_following_the_one_params_struct_convention_are_rejected() {
    assert_eq!(
        entry_points("extern \"C\" __global__ void itm_rgba(const ItmParams p) {\n").unwrap(),
        vec![EntryPoint {
            name: "itm_rgba".into(),
            params_type: "ItmParams".into()
        }]
    );
    assert!(entry_points("extern \"C\" __global__ void k(float* a, int n) {").is_err());
    assert!(entry_points("__global__ void k(const P p) {").is_err());
    assert_eq!(camel_case("unpack_rgba_f32"), "UnpackRgbaF32");
}

#[test]
fn cubin_choice_follows_binary_compatibility() {
    static FAKE: [u8; 1] = [0];
    let cubins: Vec<(u32, &'static [u8])> = [75, 80, 86, 89, 90, 100, 120]
        .iter()
        .map(|&sm| (sm, &FAKE[..]))
        .collect();
    let pick = |cc| choose_cubin(&cubins, cc).map(|c| c.0);
    assert_eq!(pick((7, 5)), Some(75));
    assert_eq!(pick((8, 0)), Some(80));
    assert_eq!(pick((8, 7)), Some(86)); // Orin runs the sm_86 cubin
    assert_eq!(pick((8, 9)), Some(89));
    assert_eq!(pick((9, 0)), Some(90));
    assert_eq!(pick((10, 3)), Some(100));
    assert_eq!(pick((12, 1)), Some(120));
    assert_eq!(pick((7, 0)), None); // Volta: too old for any cubin (and the PTX)
    assert_eq!(pick((11, 0)), None); // a major we ship no cubin for: JIT the PTX
}

// ---- device selection without a driver ---------------------------------------------------------

#[test]
fn preferences_parse_and_the_environment_wins() {
    assert_eq!(DevicePreference::parse("auto"), Ok(DevicePreference::Auto));
    assert_eq!(DevicePreference::parse(" CPU "), Ok(DevicePreference::Cpu));
    assert_eq!(DevicePreference::parse("Cuda"), Ok(DevicePreference::Cuda));
    assert_eq!(DevicePreference::parse(""), Ok(DevicePreference::Auto));
    assert!(matches!(
        DevicePreference::parse("metal"),
        Err(DeviceError::BadPreference(_))
    ));
    use DevicePreference::*;
    assert_eq!(DevicePreference::resolve(Cuda, Some(Cpu)), Cpu);
    assert_eq!(DevicePreference::resolve(Cpu, Some(Auto)), Auto);
    assert_eq!(DevicePreference::resolve(Cuda, None), Cuda);
}

#[test]
fn without_a_driver_every_path_ends_on_the_cpu_without_panicking() {
    if driver_present() {
        // A GPU machine: selection must still not panic, and Cpu must stay Cpu.
        let _ = Device::auto();
        assert!(
            !Device::select(DevicePreference::Cpu).is_cuda() || std::env::var(DEVICE_ENV).is_ok()
        );
        return;
    }
    assert!(!Device::auto().is_cuda());
    assert!(!Device::select(DevicePreference::Cuda).is_cuda());
    assert_eq!(Device::auto().name(), "CPU");
    assert_eq!(
        cuda::CudaEngine::shared(0).err(),
        Some(DeviceError::NoDriver)
    );
    // SAFETY: null is allowed; nothing is dereferenced when the driver is absent.
    assert_eq!(
        unsafe { cuda::HostRender::bind(std::ptr::null_mut()) }.err(),
        Some(DeviceError::NoDriver)
    );
}

#[test]
fn device_images_from_a_host_are_checked_before_any_launch() {
    use crate::image::{ImageError, ImageLayout};
    let good = ImageLayout::packed(Rect::new(0, 0, 4, 4), PixelDepth::F32, Components::Rgba);
    assert_eq!(
        DeviceImage {
            ptr: 0x1000,
            layout: good
        }
        .check(),
        Ok(())
    );
    assert_eq!(
        DeviceImage {
            ptr: 0,
            layout: good
        }
        .check(),
        Err(DeviceError::Image(ImageError::NullData))
    );
    let short = ImageLayout {
        row_bytes: -40,
        ..good
    };
    assert!(matches!(
        DeviceImage {
            ptr: 0x1000,
            layout: short
        }
        .check(),
        Err(DeviceError::Image(ImageError::RowBytesTooSmall { .. }))
    ));
}

#[test]
fn launch_geometry_covers_awkward_sizes_exactly_once() {
    for (w, h) in [(1, 1), (31, 7), (32, 8), (33, 9), (1920, 1081)] {
        let rect = Rect::new(-3, 5, -3 + w, 5 + h);
        let (gx, gy) = pixel_grid(rect).unwrap();
        assert!(gx * PIXEL_BLOCK.0 >= w as u32 && (gx - 1) * PIXEL_BLOCK.0 < w as u32);
        assert!(gy * PIXEL_BLOCK.1 >= h as u32 && (gy - 1) * PIXEL_BLOCK.1 < h as u32);
    }
}

#[test]
fn params_structs_have_the_c_layout_the_kernels_read() {
    use std::mem::{offset_of, size_of};
    // Hand-derived from params.h with the x86-64/CUDA C rules (8-byte aligned u64 fields).
    assert_eq!(
        (offset_of!(PrImage, data), offset_of!(PrImage, row_bytes)),
        (0, 8)
    );
    assert_eq!(offset_of!(PrImage, bounds), 16);
    assert_eq!(
        (offset_of!(PrImage, depth), offset_of!(PrImage, components)),
        (32, 36)
    );
    assert_eq!(size_of::<PrImage>(), 40);
    assert_eq!(
        (offset_of!(PrWorkBuffer, rect), size_of::<PrWorkBuffer>()),
        (8, 24)
    );
    assert_eq!(
        (offset_of!(CopyParams, dst), offset_of!(CopyParams, window)),
        (40, 80)
    );
    assert_eq!(size_of::<CopyParams>(), 96);
}

#[test]
fn run_per_pixel_on_the_cpu_device_runs_the_cpu_reference() {
    let src = ImageBuf::from_fn(SRC_BOUNDS, test_pixel);
    let mut dst = ImageBuf::new(SRC_BOUNDS, PixelDepth::U8, Components::Rgba, 3, true);
    let mut ran_cpu = false;
    run_per_pixel(
        &Device::cpu(),
        Kernel::CopyImage,
        &src.view(),
        &dst.view_mut(),
        WINDOW,
        |s, d| CopyParams {
            src: s,
            dst: d,
            window: WINDOW.into(),
        },
        || {
            ran_cpu = true;
            Ok(())
        },
    )
    .unwrap();
    assert!(ran_cpu);
}

// ---- on a real GPU (scripts/gpu-check.sh runs these with --ignored) ---------------------------

fn gpu() -> std::sync::Arc<cuda::CudaEngine> {
    match cuda::CudaEngine::shared(0) {
        Ok(e) => e,
        Err(e) => panic!(
            "this test needs an NVIDIA GPU and driver ({e}); run it through scripts/gpu-check.sh"
        ),
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn cuda_copy_image_matches_the_cpu_reference_for_every_format_pair() {
    let engine = gpu();
    let formats = formats();
    let dst_bounds = Rect::new(-4, 10, 28, 27);
    for &(sd, sc, sp, sf) in &formats {
        for &(dd, dc, dp, df) in &formats {
            let src = ImageBuf::new(SRC_BOUNDS, sd, sc, sp, sf);
            src.fill_with(test_pixel);
            let mut on_gpu = ImageBuf::new(dst_bounds, dd, dc, dp, df);
            on_gpu.fill_with(|x, y| [0.1, x as f32 / 50.0, y as f32 / 50.0, 0.9]);
            let mut on_cpu = on_gpu.clone();
            engine
                .run_per_pixel(
                    Kernel::CopyImage,
                    &src.view(),
                    &on_gpu.view_mut(),
                    WINDOW,
                    |s, d| CopyParams {
                        src: s,
                        dst: d,
                        window: WINDOW.intersect(&dst_bounds).into(),
                    },
                )
                .unwrap();
            map_rows(
                &src.view(),
                &on_cpu.view_mut(),
                WINDOW,
                &NeverAbort,
                |_, _, _| {},
            )
            .unwrap();
            assert_same_pixels(&on_gpu, &on_cpu, &(sd, sc, dd, dc));
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn cuda_host_stream_render_reads_and_writes_device_pointers_in_place() {
    use cudarc::driver::DevicePtr;
    let engine = gpu();
    let ctx = engine.context().clone();
    // Play the host: our own stream and device images, bottom-up destination with padding.
    let host_stream = ctx.new_stream().unwrap();
    let bounds = Rect::new(-3, 7, 61, 40);
    let src = ImageBuf::from_fn(bounds, test_pixel);
    let src_bytes = raw_rows(&mut src.clone()); // packed top-down: memory order = row order
    let src_layout = *src.layout();
    let dst_layout = crate::image::ImageLayout {
        row_bytes: -((bounds.width() as isize) * 8 + 16),
        ..crate::image::ImageLayout::packed(bounds, PixelDepth::F16, Components::Rgba)
    };
    let dst_len = dst_layout.row_bytes.unsigned_abs() * bounds.height() as usize;
    let src_dev = host_stream.clone_htod(&src_bytes).unwrap();
    let dst_dev = host_stream.alloc_zeros::<u8>(dst_len).unwrap();
    let (src_ptr, _a) = src_dev.device_ptr(&host_stream);
    let (dst_base, _b) = dst_dev.device_ptr(&host_stream);
    // Bottom-up: pixel (x1, y1) is on the last row in memory.
    let dst_ptr = dst_base + (dst_len - dst_layout.row_bytes.unsigned_abs()) as u64;
    // SAFETY: a live stream of the primary context, alive until after the render.
    let host =
        unsafe { HostRender::bind(host_stream.cu_stream() as *mut std::ffi::c_void) }.unwrap();
    let s = DeviceImage {
        ptr: src_ptr,
        layout: src_layout,
    };
    let d = DeviceImage {
        ptr: dst_ptr,
        layout: dst_layout,
    };
    run_cuda_on_host_stream(&host, Kernel::CopyImage, &s, &d, bounds, |s, d| {
        CopyParams {
            src: s,
            dst: d,
            window: bounds.into(),
        }
    })
    .unwrap();
    host.finish().unwrap();
    let out = host_stream.clone_dtoh(&dst_dev).unwrap();
    let stride = dst_layout.row_bytes.unsigned_abs();
    for (i, y) in (bounds.y1..bounds.y2).enumerate() {
        let row = &out[dst_len - (i + 1) * stride..][..bounds.width() as usize * 8];
        for (j, px) in row.chunks_exact(8).enumerate() {
            let want = test_pixel(bounds.x1 + j as i32, y);
            for c in 0..4 {
                let got =
                    half::f16::from_bits(u16::from_ne_bytes([px[2 * c], px[2 * c + 1]])).to_f32();
                assert!(
                    same(got, half::f16::from_f32(want[c]).to_f32()),
                    "({}, {y}) c{c}",
                    bounds.x1 + j as i32
                );
            }
        }
    }
}

// ---- inverse tone map --------------------------------------------------------------------------

fn itm_cases() -> Vec<crate::ops::itm::ItmParams> {
    use crate::ops::itm::*;
    let mut cases = Vec::new();
    let mut i = 0;
    for &method in ItmMethod::ALL {
        for &output_transfer in OutputTransfer::ALL {
            for &output_primaries in OutputPrimaries::ALL {
                i += 1;
                // Every third case with all controls active, another third with half of them.
                let (boost, sat, mix, premultiplied) = match i % 3 {
                    0 => (0.6, 1.4, 0.7, true),
                    1 => (-0.5, 0.0, 1.0, false),
                    _ => (0.0, 1.0, 1.0, false),
                };
                cases.push(ItmParams {
                    input_encoding: InputEncoding::ALL[i % InputEncoding::ALL.len()],
                    method,
                    output_transfer,
                    output_primaries,
                    peak_nits: [1000.0, 4000.0, 600.0][i % 3],
                    reference_white_nits: 203.0,
                    linear_reference_white: [1.0, 0.18][i % 2],
                    highlight_boost: boost,
                    saturation: sat,
                    mix,
                    premultiplied,
                    ..ItmParams::default()
                });
            }
        }
    }
    cases
}

/// An SDR-like plate: mostly in-range code values (with the rounding ties and specials of
/// test_value mixed in), alpha spread over 0..1 including 0 and NaN now and then.
fn itm_test_pixel(x: i32, y: i32) -> [f32; 4] {
    let [r, g, b, a] = test_pixel(x, y);
    let squash = |v: f32| if v.is_finite() { v.abs().fract() } else { v };
    [
        squash(r),
        squash(g),
        squash(b),
        if (x + y) % 7 == 0 { a } else { squash(a) },
    ]
}

#[test]
fn itm_kernel_matches_the_cpu_fast_path_bit_for_bit() {
    use crate::ops::itm::ItmPrepared;
    let formats = formats();
    let dst_bounds = Rect::new(-4, 10, 28, 27);
    for (i, params) in itm_cases().iter().enumerate() {
        let prepared = ItmPrepared::new(params).unwrap();
        let (sd, sc, sp, sf) = formats[(5 * i) % formats.len()];
        // Float outputs for PQ/HLG/linear signals as a colourist would use, and now and then an
        // integer one, where quantisation must agree too.
        let (dd, dc, dp, df) = formats[(7 * i + 3) % formats.len()];
        let mut src = ImageBuf::new(SRC_BOUNDS, sd, sc, sp, sf);
        src.fill_with(itm_test_pixel);
        let mut on_emu = ImageBuf::new(dst_bounds, dd, dc, dp, df);
        on_emu.fill_with(|x, y| [0.1, x as f32 / 50.0, y as f32 / 50.0, 0.9]);
        let mut on_cpu = on_emu.clone();
        let kernel_params = super::itm::itm_kernel_params(
            &prepared,
            PrImage::new(src.as_mut_ptr() as u64, src.layout()),
            PrImage::new(on_emu.as_mut_ptr() as u64, on_emu.layout()),
            WINDOW.intersect(&dst_bounds),
            prepared.tables().as_ptr() as u64,
        );
        emu_over_rect(
            Kernel::ItmRgba,
            WINDOW.intersect(&dst_bounds),
            &kernel_params,
        );
        prepared
            .run_cpu(&src.view(), &on_cpu.view_mut(), WINDOW, &NeverAbort)
            .unwrap();
        assert_same_pixels(&on_emu, &on_cpu, &(params, sd, sc, dd, dc));
        if !dd.is_float() {
            assert_eq!(raw_rows(&mut on_emu), raw_rows(&mut on_cpu));
        }
    }
}

/// Colours where the fast path changes branch or table segment: a dense grey ramp (the
/// display-referred knee, Method A's Y'' = 70 breakpoint, Method C's inflection, reference white
/// and peak for the highlight control), then random colours with the inputs that take special
/// branches mixed in (the decode tables' bottoms and neighbours, super-whites, negatives,
/// subnormals, ±0, infinities, NaN). Alpha is 1 on the ramp, else random with 0, NaN and
/// negatives now and then.
fn itm_sweep_pixel(n: usize) -> [f32; 4] {
    const RAMP: usize = 4096;
    if n < RAMP {
        let v = n as f32 / (RAMP - 1) as f32;
        return [v, v, v, 1.0];
    }
    let specials = [
        0.0,
        -0.0,
        1.0,
        1.000_000_1,
        0.999_999_94,
        3.0,
        -1e-3,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e-40,
        1e-30,
        0.040_45,
        0.031_25,
        0.031_249_998,
        1.525_878_9e-5,
        1.525_878_8e-5,
        0.5,
    ];
    let h = hash(n as u64 ^ 0x17a5_0000_0000);
    let channel = |c: u64| {
        let k = hash(h ^ c);
        if k.is_multiple_of(16) {
            specials[(k >> 8) as usize % specials.len()]
        } else {
            (k >> 40) as f32 / (1u64 << 24) as f32
        }
    };
    let k = hash(h ^ 3);
    let alpha = match k % 32 {
        0 => 0.0,
        1 => f32::NAN,
        2 => -0.5,
        _ => (k >> 40) as f32 / (1u64 << 24) as f32,
    };
    [channel(0), channel(1), channel(2), alpha]
}

/// The dense sweep's image: a row width that is not a multiple of the CPU's 32-lane chunks, so
/// its single-pixel tail loop is compared too.
fn itm_sweep_image() -> ImageBuf {
    let bounds = Rect::new(3, -2, 3 + 67, -2 + 96);
    let width = bounds.width() as usize;
    ImageBuf::from_fn(bounds, |x, y| {
        itm_sweep_pixel((y - bounds.y1) as usize * width + (x - bounds.x1) as usize)
    })
}

/// `itm_cases`, plus the edges of the highlight control's range at the largest peak, and peak =
/// reference white (no expansion room: log2(peak/ref) = 0, the highlight step off).
fn itm_sweep_cases() -> Vec<crate::ops::itm::ItmParams> {
    use crate::ops::itm::*;
    let mut cases = itm_cases();
    for &method in ItmMethod::ALL {
        for (i, &output_transfer) in OutputTransfer::ALL.iter().enumerate() {
            cases.push(ItmParams {
                method,
                output_transfer,
                input_encoding: InputEncoding::ALL[i],
                peak_nits: 10_000.0,
                highlight_boost: [1.0, -1.0, 1.0][i],
                ..ItmParams::default()
            });
            cases.push(ItmParams {
                method,
                output_transfer,
                input_encoding: InputEncoding::ALL[(i + 1) % 3],
                peak_nits: 203.0,
                highlight_boost: 0.5,
                ..ItmParams::default()
            });
        }
    }
    cases
}

#[test]
fn itm_kernel_matches_the_cpu_fast_path_on_a_dense_sweep() {
    use crate::ops::itm::ItmPrepared;
    let mut src = itm_sweep_image();
    let bounds = src.layout().bounds;
    for params in &itm_sweep_cases() {
        let prepared = ItmPrepared::new(params).unwrap();
        let mut on_emu = ImageBuf::new(bounds, PixelDepth::F32, Components::Rgba, 0, false);
        let mut on_cpu = on_emu.clone();
        let kernel_params = super::itm::itm_kernel_params(
            &prepared,
            PrImage::new(src.as_mut_ptr() as u64, src.layout()),
            PrImage::new(on_emu.as_mut_ptr() as u64, on_emu.layout()),
            bounds,
            prepared.tables().as_ptr() as u64,
        );
        emu_over_rect(Kernel::ItmRgba, bounds, &kernel_params);
        prepared
            .run_cpu(&src.view(), &on_cpu.view_mut(), bounds, &NeverAbort)
            .unwrap();
        // Same f32 operations in the same order, no FMA: bit-identical.
        assert_same_pixels(&on_emu, &on_cpu, params);
    }
}

#[test]
fn itm_constants_reach_the_kernel_field_for_field() {
    use crate::ops::itm::{ItmConstants, ItmPrepared};
    // Same size: a field added on the CPU side without the kernel knowing fails here.
    assert_eq!(
        std::mem::size_of::<ItmConstants>(),
        std::mem::size_of::<PrItmConstants>()
    );
    for params in itm_cases() {
        let prepared = ItmPrepared::new(&params).unwrap();
        let converted = PrItmConstants::from(prepared.constants());
        // Both are padding-free #[repr(C)] structs of 4-byte fields: equal field order and
        // values means equal bytes.
        let bytes = |p: *const u8| {
            // SAFETY: reads size_of::<ItmConstants>() bytes of a live, padding-free struct.
            unsafe { std::slice::from_raw_parts(p, std::mem::size_of::<ItmConstants>()) }.to_vec()
        };
        assert_eq!(
            bytes(prepared.constants() as *const ItmConstants as *const u8),
            bytes(&converted as *const PrItmConstants as *const u8)
        );
    }
    // Input, method and transfer codes agree with the Rust enums' saved indices.
    use crate::ops::itm::{method_c, InputEncoding, ItmMethod, OutputTransfer};
    assert_eq!(InputEncoding::Srgb as u32, PR_ITM_INPUT_SRGB);
    assert_eq!(InputEncoding::Bt1886 as u32, PR_ITM_INPUT_BT1886);
    assert_eq!(InputEncoding::Linear as u32, PR_ITM_INPUT_LINEAR);
    assert_eq!(ItmMethod::Bt2446A as u32, PR_ITM_METHOD_BT2446A);
    assert_eq!(ItmMethod::Bt2446C as u32, PR_ITM_METHOD_BT2446C);
    assert_eq!(
        ItmMethod::DisplayReferred as u32,
        PR_ITM_METHOD_DISPLAY_REFERRED
    );
    assert_eq!(OutputTransfer::Pq as u32, PR_ITM_OUTPUT_PQ);
    assert_eq!(OutputTransfer::Hlg as u32, PR_ITM_OUTPUT_HLG);
    assert_eq!(
        OutputTransfer::SceneLinear as u32,
        PR_ITM_OUTPUT_SCENE_LINEAR
    );
    // The Method C constants the kernel's closed form is written with are the CPU's, exactly.
    assert_eq!(
        [
            PR_ITM_C_K1,
            PR_ITM_C_K2,
            PR_ITM_C_K3,
            PR_ITM_C_K4,
            PR_ITM_C_Y_SDR_IP
        ],
        [
            method_c::K1,
            method_c::K2,
            method_c::K3,
            method_c::K4,
            method_c::Y_SDR_IP
        ]
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn cuda_itm_matches_the_cpu_fast_path_for_every_option() {
    use crate::ops::itm::ItmPrepared;
    let engine = gpu();
    let formats = formats();
    for (i, params) in itm_cases().iter().enumerate() {
        let prepared = ItmPrepared::new(params).unwrap();
        let (sd, sc, sp, sf) = formats[(5 * i) % formats.len()];
        let (dd, dc, dp, df) = formats[(7 * i + 3) % formats.len()];
        let src = ImageBuf::new(SRC_BOUNDS, sd, sc, sp, sf);
        src.fill_with(itm_test_pixel);
        let dst_bounds = Rect::new(-4, 10, 28, 27);
        let mut on_gpu = ImageBuf::new(dst_bounds, dd, dc, dp, df);
        let mut on_cpu = on_gpu.clone();
        super::itm::run_itm_cuda(&engine, &prepared, &src.view(), &on_gpu.view_mut(), WINDOW)
            .unwrap();
        prepared
            .run_cpu(&src.view(), &on_cpu.view_mut(), WINDOW, &NeverAbort)
            .unwrap();
        // Same IEEE operations in the same order, no FMA: bit-identical, NaN payloads aside.
        assert_same_pixels(&on_gpu, &on_cpu, &(params,));
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn cuda_itm_matches_the_cpu_fast_path_on_a_dense_sweep() {
    use crate::ops::itm::ItmPrepared;
    let engine = gpu();
    let src = itm_sweep_image();
    let bounds = src.layout().bounds;
    for params in &itm_sweep_cases() {
        let prepared = ItmPrepared::new(params).unwrap();
        let mut on_gpu = ImageBuf::new(bounds, PixelDepth::F32, Components::Rgba, 0, false);
        let mut on_cpu = on_gpu.clone();
        super::itm::run_itm_cuda(&engine, &prepared, &src.view(), &on_gpu.view_mut(), bounds)
            .unwrap();
        prepared
            .run_cpu(&src.view(), &on_cpu.view_mut(), bounds, &NeverAbort)
            .unwrap();
        // IEEE division and denormals are the NVRTC defaults and --fmad=false forbids fusing,
        // so the GPU must agree bit for bit (NaN payloads aside).
        assert_same_pixels(&on_gpu, &on_cpu, params);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn cuda_itm_on_the_host_stream_matches_the_cpu() {
    use crate::ops::itm::{ItmParams, ItmPrepared};
    use cudarc::driver::DevicePtr;
    let engine = gpu();
    let host_stream = engine.context().new_stream().unwrap();
    let bounds = Rect::new(0, 0, 1920, 1080);
    let src = ImageBuf::from_fn(bounds, itm_test_pixel);
    let prepared = ItmPrepared::new(&ItmParams::default()).unwrap();
    let mut on_cpu = ImageBuf::new(bounds, PixelDepth::F32, Components::Rgba, 0, false);
    prepared
        .run_cpu(&src.view(), &on_cpu.view_mut(), bounds, &NeverAbort)
        .unwrap();
    let src_dev = host_stream.clone_htod(&raw_rows(&mut src.clone())).unwrap();
    let dst_dev = host_stream
        .alloc_zeros::<u8>(bounds.pixel_count() * 16)
        .unwrap();
    let s = DeviceImage {
        ptr: src_dev.device_ptr(&host_stream).0,
        layout: *src.layout(),
    };
    let d = DeviceImage {
        ptr: dst_dev.device_ptr(&host_stream).0,
        layout: *on_cpu.layout(),
    };
    // SAFETY: a live stream of the primary context, alive until after the render.
    let host =
        unsafe { HostRender::bind(host_stream.cu_stream() as *mut std::ffi::c_void) }.unwrap();
    super::itm::run_itm_on_host_stream(&host, &prepared, &s, &d, bounds).unwrap();
    host.finish().unwrap();
    let out = host_stream.clone_dtoh(&dst_dev).unwrap();
    assert_eq!(out, raw_rows(&mut on_cpu));
}

// ---- film grain --------------------------------------------------------------------------------

/// Grain settings covering every branch of the kernel: presets (one and two octaves), sizes from
/// the smallest to clouds wider than the test image, all colour/mono mixes, the three encodings
/// and outputs, straight and premultiplied alpha, render scales 1, 1/2, 1/3 (the strided taps)
/// and non-reciprocal ones (per-coordinate taps), several frames, seeds and temporal modes.
fn grain_cases() -> Vec<crate::ops::grain::GrainParams> {
    use crate::ops::grain::*;
    let scales = [
        [1.0, 1.0],
        [0.5, 0.5],
        [1.0 / 3.0, 1.0 / 3.0],
        [0.37, 0.8],
        [1.0, 0.5],
    ];
    let mut cases = Vec::new();
    for (i, preset) in GrainPreset::ALL.into_iter().enumerate() {
        for k in 0..3 {
            let n = 3 * i + k;
            let base = preset.params();
            cases.push(GrainParams {
                // Strong grain, so every bit of the field shows in 8-bit outputs too.
                amount: [0.05, 0.2, base.amount][k],
                channel_amount: [[1.0, 0.8, 1.6], [0.0, 1.0, 2.5], base.channel_amount][k],
                size_px: [base.size_px, 0.5, 7.3][k],
                softness: [base.softness, 1.0, 0.3][k],
                roughness: [base.roughness, 0.0, 0.8][k],
                colour: [0.0, 1.0, 0.4][n % 3],
                temporal: TemporalMode::ALL[n % 3],
                hold_frames: 1 + (n % 4) as u32,
                seed: [0, 1, 0xdead_beef, 77][n % 4],
                frame: [0.0, 7.4, -3.0, 1001.0][(n / 2) % 4],
                input_encoding: InputEncoding::ALL[n % 3],
                output: GrainOutput::ALL[(n / 3) % 3],
                premultiplied: n % 2 == 1,
                render_scale: scales[n % scales.len()],
                ..base
            });
        }
    }
    // Clouds far wider than a block's shared rows: the kernel's direct (untiled) path.
    cases.push(GrainParams {
        amount: 0.1,
        size_px: 24.0,
        softness: 1.0,
        roughness: 0.5,
        colour: 0.7,
        frame: 3.0,
        ..GrainParams::default()
    });
    cases
}

/// A plate for grain: mostly in-range code values (scene-linear cases also see values above 1
/// through the ×4), the specials of test_value now and then, alpha including 0 and NaN.
fn grain_test_pixel(x: i32, y: i32) -> [f32; 4] {
    let [r, g, b, a] = itm_test_pixel(x, y);
    let hdr = |v: f32| if (x ^ y) & 4 == 0 { v * 4.0 } else { v };
    [hdr(r), g, b, if (x + 2 * y) % 11 == 0 { 0.0 } else { a }]
}

#[test]
fn grain_kernel_matches_the_cpu_reference_bit_for_bit() {
    use crate::ops::grain::{run_cpu, GrainOutput};
    let formats = formats();
    let dst_bounds = Rect::new(-4, 10, 28, 27);
    let window = WINDOW.intersect(&dst_bounds);
    let mut changed_pixels = 0usize;
    for (i, params) in grain_cases().iter().enumerate() {
        let (sd, sc, sp, sf) = formats[(5 * i) % formats.len()];
        let (dd, dc, dp, df) = formats[(7 * i + 3) % formats.len()];
        let (sc, dc) = if params.premultiplied {
            (Components::Rgba, Components::Rgba)
        } else {
            (sc, dc)
        };
        let mut src = ImageBuf::new(SRC_BOUNDS, sd, sc, sp, sf);
        src.fill_with(grain_test_pixel);
        let mut on_emu = ImageBuf::new(dst_bounds, dd, dc, dp, df);
        on_emu.fill_with(|x, y| [0.1, x as f32 / 50.0, y as f32 / 50.0, 0.9]);
        let mut on_cpu = on_emu.clone();
        let plan = super::grain::GrainDevicePlan::new(params, window).unwrap();
        let kernel_params = plan.kernel_params(
            PrImage::new(src.as_mut_ptr() as u64, src.layout()),
            PrImage::new(on_emu.as_mut_ptr() as u64, on_emu.layout()),
            plan.tables.as_ptr() as u64,
        );
        emu_over_rect(Kernel::GrainRgba, window, &kernel_params);
        run_cpu(params, &src.view(), &on_cpu.view_mut(), WINDOW, &NeverAbort).unwrap();
        assert_same_pixels(&on_emu, &on_cpu, &(i, params, sd, sc, dd, dc));
        if !dd.is_float() {
            assert_eq!(raw_rows(&mut on_emu), raw_rows(&mut on_cpu), "case {i}");
        }
        // The comparison must be about grain: graded outputs differ from the plate somewhere.
        if params.output == GrainOutput::GradedPlate {
            for y in window.y1..window.y2 {
                for x in window.x1..window.x2 {
                    let (a, b) = (on_emu.pixel(x, y), src.pixel(x, y));
                    changed_pixels += (a[..3] != b[..3]) as usize;
                }
            }
        }
    }
    assert!(
        changed_pixels > 100,
        "only {changed_pixels} pixels got grain"
    );
}

#[test]
fn grain_is_the_same_whatever_the_window_the_gpu_is_given() {
    // Tiles: two half windows on the GPU path give the whole-window CPU result.
    use crate::ops::grain::{run_cpu, GrainParams};
    let params = GrainParams {
        amount: 0.1,
        render_scale: [0.5, 0.5],
        roughness: 0.6,
        ..GrainParams::default()
    };
    let bounds = Rect::new(-5, 3, 27, 21);
    let mut src = ImageBuf::from_fn(bounds, grain_test_pixel);
    let mut tiled = ImageBuf::new(bounds, PixelDepth::F32, Components::Rgba, 0, false);
    let mut whole = tiled.clone();
    for tile in [Rect::new(-5, 3, 27, 11), Rect::new(-5, 11, 27, 21)] {
        let plan = super::grain::GrainDevicePlan::new(&params, tile).unwrap();
        let p = plan.kernel_params(
            PrImage::new(src.as_mut_ptr() as u64, src.layout()),
            PrImage::new(tiled.as_mut_ptr() as u64, tiled.layout()),
            plan.tables.as_ptr() as u64,
        );
        emu_over_rect(Kernel::GrainRgba, tile, &p);
    }
    run_cpu(&params, &src.view(), &whole.view_mut(), bounds, &NeverAbort).unwrap();
    assert_same_pixels(&tiled, &whole, &"tiles");
}

#[test]
fn grain_plans_reused_between_renders_equal_fresh_ones() {
    // Frames, seeds, amounts and modes change between renders of a shot; the cached tables
    // must then give exactly the plan a fresh build gives, and a change the tables depend on
    // (every other case) must rebuild them.
    use super::grain::GrainDevicePlan;
    let window = Rect::new(-3, 5, 40, 30);
    for params in grain_cases() {
        for (frame, seed) in [(0.0, 0), (1.0, 0), (17.6, 9), (-4.0, 0xffff_ffff)] {
            let p = crate::ops::grain::GrainParams {
                frame,
                seed,
                ..params.clone()
            };
            let fresh = GrainDevicePlan::new(&p, window).unwrap();
            let reused = GrainDevicePlan::for_render(&p, window).unwrap();
            let bits = |t: &[f32]| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fresh.tables), bits(&reused.tables));
            let none = PrImage::default();
            assert_eq!(
                fresh.kernel_params(none, none, 0),
                reused.kernel_params(none, none, 0),
                "{p:?}"
            );
        }
    }
}

#[test]
fn grain_plans_keep_one_copy_of_strided_taps() {
    // Scales 1 and 1/2 share one set of weights per axis (a few hundred floats besides the
    // 4096 response values and 1024 counts per octave); 0.37 needs a set per coordinate.
    use crate::ops::grain::GrainParams;
    let window = Rect::new(-100, 7, 3740, 2167);
    let floats = |scale: f64| {
        let params = GrainParams {
            render_scale: [scale, scale],
            ..GrainParams::default()
        };
        super::grain::GrainDevicePlan::new(&params, window)
            .unwrap()
            .tables
            .len()
    };
    assert!(floats(1.0) < 4096 + 2 * 1024 + 200, "{}", floats(1.0));
    assert!(floats(0.5) < 4096 + 2 * 1024 + 200, "{}", floats(0.5));
    assert!(floats(0.37) > 3840 * 2, "{}", floats(0.37));
}

#[test]
fn grain_plans_refuse_what_the_kernel_cannot_hold() {
    use crate::ops::grain::GrainParams;
    let bad = GrainParams {
        size_px: 100.0,
        ..GrainParams::default()
    };
    assert!(matches!(
        super::grain::GrainDevicePlan::new(&bad, Rect::new(0, 0, 8, 8)),
        Err(DeviceError::Settings(_))
    ));
    // Lattice sites beyond 2^24 are not exact in the f32 tables: refused (the CPU takes it).
    let far = Rect::new(1 << 24, 0, (1 << 24) + 8, 8);
    assert!(matches!(
        super::grain::GrainDevicePlan::new(&GrainParams::default(), far),
        Err(DeviceError::TooLarge(_))
    ));
    let near = Rect::new((1 << 24) - 100, 0, (1 << 24) - 92, 8);
    assert!(super::grain::GrainDevicePlan::new(&GrainParams::default(), near).is_ok());
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn cuda_grain_matches_the_cpu_reference_for_every_option() {
    use crate::ops::grain::run_cpu;
    let engine = gpu();
    let formats = formats();
    let dst_bounds = Rect::new(-4, 10, 28, 27);
    for (i, params) in grain_cases().iter().enumerate() {
        let (sd, sc, sp, sf) = formats[(5 * i) % formats.len()];
        let (dd, dc, dp, df) = formats[(7 * i + 3) % formats.len()];
        let (sc, dc) = if params.premultiplied {
            (Components::Rgba, Components::Rgba)
        } else {
            (sc, dc)
        };
        let src = ImageBuf::new(SRC_BOUNDS, sd, sc, sp, sf);
        src.fill_with(grain_test_pixel);
        let mut on_gpu = ImageBuf::new(dst_bounds, dd, dc, dp, df);
        on_gpu.fill_with(|x, y| [0.1, x as f32 / 50.0, y as f32 / 50.0, 0.9]);
        let mut on_cpu = on_gpu.clone();
        super::grain::run_grain_cuda(&engine, params, &src.view(), &on_gpu.view_mut(), WINDOW)
            .unwrap();
        run_cpu(params, &src.view(), &on_cpu.view_mut(), WINDOW, &NeverAbort).unwrap();
        // Same IEEE operations in the same order, no FMA: bit-identical, NaN payloads aside.
        assert_same_pixels(&on_gpu, &on_cpu, &(i, params));
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn cuda_grain_on_the_host_stream_matches_the_cpu() {
    use crate::ops::grain::{run_cpu, GrainParams, InputEncoding};
    use cudarc::driver::DevicePtr;
    let engine = gpu();
    let host_stream = engine.context().new_stream().unwrap();
    let bounds = Rect::new(0, 0, 1920, 1080);
    let src = ImageBuf::from_fn(bounds, grain_test_pixel);
    for params in [
        GrainParams::default(),
        GrainParams {
            roughness: 0.7,
            colour: 0.3,
            input_encoding: InputEncoding::Linear,
            render_scale: [0.5, 0.5],
            frame: 12.0,
            ..GrainParams::default()
        },
    ] {
        let mut on_cpu = ImageBuf::new(bounds, PixelDepth::F32, Components::Rgba, 0, false);
        run_cpu(
            &params,
            &src.view(),
            &on_cpu.view_mut(),
            bounds,
            &NeverAbort,
        )
        .unwrap();
        let src_dev = host_stream.clone_htod(&raw_rows(&mut src.clone())).unwrap();
        let dst_dev = host_stream
            .alloc_zeros::<u8>(bounds.pixel_count() * 16)
            .unwrap();
        let s = DeviceImage {
            ptr: src_dev.device_ptr(&host_stream).0,
            layout: *src.layout(),
        };
        let d = DeviceImage {
            ptr: dst_dev.device_ptr(&host_stream).0,
            layout: *on_cpu.layout(),
        };
        // SAFETY: a live stream of the primary context, alive until after the render.
        let host =
            unsafe { HostRender::bind(host_stream.cu_stream() as *mut std::ffi::c_void) }.unwrap();
        super::grain::run_grain_on_host_stream(&host, &params, &s, &d, bounds).unwrap();
        host.finish().unwrap();
        let out = host_stream.clone_dtoh(&dst_dev).unwrap();
        assert!(out == raw_rows(&mut on_cpu), "{params:?}");
    }
}
