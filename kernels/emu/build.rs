//! Compiles every kernels/*.cu (and the shim's own self-test kernels) as C++20 for the CPU, one
//! translation unit per file, plus a generated registry of entry points with their params sizes.

#[path = "../../src/device/build_support.rs"]
mod build_support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn kernel_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .collect();
    v.sort();
    v
}

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    let kernels = here.join("..");
    let selftest = here.join("selftest");
    for p in [&kernels, &selftest] {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rerun-if-changed={}", here.join("emu.cpp").display());
    println!("cargo:rerun-if-changed={}", here.join("emu.h").display());

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++20")
        .opt_level(2)
        .define("PLATERESTORE_EMU", "1")
        // The GPU build uses --fmad=false; the CPU must not fuse either, or bits differ.
        .flag("-ffp-contract=off")
        // Kernels read pixels through casted pointers, as CUDA code does.
        .flag("-fno-strict-aliasing")
        .flag_if_supported("-Wno-unused-parameter")
        // `#pragma unroll` is for nvcc/NVRTC.
        .flag_if_supported("-Wno-unknown-pragmas")
        .include(&kernels)
        .include(&here)
        .file(here.join("emu.cpp"));

    let mut registry =
        String::from("#include \"emu.h\"\n#include \"params.h\"\n#include <cstddef>\n");
    let mut table = String::new();
    let mut count = 0usize;
    for file in kernel_files(&kernels)
        .into_iter()
        .chain(kernel_files(&selftest))
    {
        let stem = file
            .file_stem()
            .expect("a .cu file")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&file).expect("read kernel");
        let entries = build_support::entry_points(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut unit = format!(
            "// Generated: {stem}.cu compiled for the CPU.\n#include \"emu.h\"\n#include \"{}\"\n",
            file.display()
        );
        for e in &entries {
            let _ = writeln!(
                unit,
                "extern \"C\" void pr_emu_entry_{n}(const void* p) {{ {n}(*static_cast<const {t}*>(p)); }}\n\
                 extern \"C\" const std::size_t pr_emu_size_{n} = sizeof({t});",
                n = e.name,
                t = e.params_type
            );
            let _ = writeln!(
                registry,
                "extern \"C\" void pr_emu_entry_{n}(const void*);\nextern \"C\" const std::size_t pr_emu_size_{n};",
                n = e.name
            );
            let _ = writeln!(
                table,
                "    {{\"{n}\", &pr_emu_entry_{n}, &pr_emu_size_{n}}},",
                n = e.name
            );
            count += 1;
        }
        let unit_path = out.join(format!("emu_{stem}.cpp"));
        std::fs::write(&unit_path, unit).expect("write unit");
        build.file(unit_path);
    }
    // Sizes come from each unit's own sizeof (selftest params are not in params.h).
    let _ = writeln!(
        registry,
        "struct EmuKernel {{ const char* name; void (*entry)(const void*); const std::size_t* params_size; }};\n\
         extern \"C\" const EmuKernel pr_emu_kernels[] = {{\n{table}}};\n\
         extern \"C\" const std::size_t pr_emu_kernel_count = {count};"
    );
    let registry_path = out.join("emu_registry.cpp");
    std::fs::write(&registry_path, registry).expect("write registry");
    build.file(registry_path);
    build.compile("platerestore_emu");
}
