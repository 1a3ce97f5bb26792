//! Builds the CUDA kernels into the library: kernels/params.h → Rust launch structs (bindgen);
//! every kernels/*.cu → PTX (NVRTC, loaded at build time from scripts/cuda-tools.sh's install or
//! PLATERESTORE_NVRTC) → cubins per architecture (ptxas), all embedded through a generated table.
//! Without NVRTC the build still succeeds and embeds only the sources, for runtime NVRTC.

#[path = "src/device/build_support.rs"]
mod build_support;

use build_support::{
    camel_case, entry_points, flatten_includes, ptx_isa_version, ptxas_spills, spilling,
    with_ptx_isa_version, EntryPoint,
};
use std::ffi::{c_char, c_int, c_void, CString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Lowest virtual architecture: Turing. PTX for it JITs on every later GPU.
const VIRTUAL_ARCH: &str = "compute_75";
/// Cubins for Ampere and later are assembled from PTX for this architecture, so kernels can use
/// sm_80 instructions (the neural convolutions' `mma.sync` tensor-core path) behind
/// `__CUDA_ARCH__ >= 800`; the shipped PTX (and sm_75 cubin) stays compute_75.
const TENSOR_VIRTUAL_ARCH: &str = "compute_80";
const TENSOR_MIN_SM: u32 = 80;
/// PTX ISA 8.0 is what CUDA 12.0 drivers accept; NVRTC 12.9 stamps 8.8, which only 12.9+
/// drivers JIT. The kernels use nothing newer (ptxas checks this when it assembles the PTX).
const PTX_ISA: (u32, u32) = (8, 0);
/// Cubins shipped so common GPUs never JIT: Turing, Ampere (A100, GA10x), Ada, Hopper,
/// Blackwell data-centre and consumer. A cubin also runs on later minors of its major.
const CUBIN_ARCHS: [u32; 7] = [75, 80, 86, 89, 90, 100, 120];
/// Options used both here and by runtime NVRTC (src/device/cuda.rs keeps the same list):
/// no fused multiply-add, so float results match the CPU reference bit for bit where they can.
const NVRTC_OPTIONS: [&str; 2] = ["--fmad=false", "--std=c++17"];

struct KernelFile {
    stem: String,
    flat_source: String,
    entries: Vec<EntryPoint>,
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    let kernels_dir = manifest.join("kernels");
    println!("cargo:rerun-if-changed=kernels");
    println!("cargo:rerun-if-changed=src/device/build_support.rs");
    for var in [
        "PLATERESTORE_REQUIRE_KERNELS",
        "PLATERESTORE_NVRTC",
        "PLATERESTORE_PTXAS",
        "PLATERESTORE_CUDA_TOOLS",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let required = std::env::var("PLATERESTORE_REQUIRE_KERNELS").is_ok_and(|v| v == "1");

    generate_params(&kernels_dir, &out);

    let files = read_kernel_files(&kernels_dir);
    let tools = find_tools(&manifest);
    let compiled = match &tools {
        Ok((nvrtc, ptxas)) => match compile_all(&files, nvrtc, ptxas.as_deref(), &out, required) {
            Ok(c) => Some(c),
            Err(e) if required => panic!("kernel build failed: {e}"),
            Err(e) => {
                println!("cargo:warning=CUDA kernels not precompiled ({e}); embedding sources for runtime NVRTC");
                None
            }
        },
        Err(why) if required => {
            panic!("PLATERESTORE_REQUIRE_KERNELS=1 but {why}; run scripts/cuda-tools.sh")
        }
        Err(why) => {
            println!("cargo:warning=CUDA kernels not precompiled: {why}; embedding sources for runtime NVRTC (run scripts/cuda-tools.sh to precompile)");
            None
        }
    };
    write_table(&files, compiled.as_ref(), &out);
}

/// bindgen over params.h: the Rust side of every kernel's one argument.
fn generate_params(kernels_dir: &Path, out: &Path) {
    let header = kernels_dir.join("params.h");
    let bindings = bindgen::builder()
        .header(header.to_string_lossy())
        .whitelist_type("Pr.*|.*Params")
        .whitelist_var("PR_.*|NN_.*")
        .derive_default(true)
        .derive_debug(true)
        .derive_copy(true)
        .derive_partialeq(true)
        // This bindgen's layout tests dereference null (rejected by rustc); the emulation
        // checks sizes against C++ and device tests check offsets.
        .layout_tests(false)
        .rustfmt_bindings(false)
        .generate()
        .expect("bindgen could not read kernels/params.h (is libclang-dev installed?)");
    bindings
        .write_to_file(out.join("params.rs"))
        .expect("write params.rs");
}

fn read_kernel_files(kernels_dir: &Path) -> Vec<KernelFile> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(kernels_dir)
        .expect("kernels/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .expect("a .cu file")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("read kernel source");
            let flat_source = flatten_includes(&text, &format!("{stem}.cu"), kernels_dir)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let entries = entry_points(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            KernelFile {
                stem,
                flat_source,
                entries,
            }
        })
        .collect()
}

/// NVRTC (required to precompile) and ptxas (for cubins, the spill check and the PTX check):
/// the env vars first, then scripts/cuda-tools.sh's project-local install, then the system.
fn find_tools(manifest: &Path) -> Result<(PathBuf, Option<PathBuf>), String> {
    let tools_dir = std::env::var_os("PLATERESTORE_CUDA_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target").join("cuda-tools"));
    let nvrtc = std::env::var_os("PLATERESTORE_NVRTC")
        .map(PathBuf::from)
        .or_else(|| {
            let p = tools_dir.join("nvidia/cuda_nvrtc/lib/libnvrtc.so.12");
            p.exists().then_some(p)
        })
        .or_else(|| {
            let p = PathBuf::from("/usr/local/cuda/lib64/libnvrtc.so.12");
            p.exists().then_some(p)
        })
        .ok_or_else(|| {
            format!(
                "no NVRTC found (PLATERESTORE_NVRTC unset, nothing in {})",
                tools_dir.display()
            )
        })?;
    let ptxas = std::env::var_os("PLATERESTORE_PTXAS")
        .map(PathBuf::from)
        .or_else(|| {
            let p = tools_dir.join("nvidia/cuda_nvcc/bin/ptxas");
            p.exists().then_some(p)
        })
        .or_else(|| {
            let p = PathBuf::from("/usr/local/cuda/bin/ptxas");
            p.exists().then_some(p)
        });
    Ok((nvrtc, ptxas))
}

struct Compiled {
    nvrtc_version: (i32, i32),
    /// Per kernel file: PTX path, then (sm, cubin path).
    ptx: Vec<PathBuf>,
    cubins: Vec<Vec<(u32, PathBuf)>>,
}

fn compile_all(
    files: &[KernelFile],
    nvrtc_path: &Path,
    ptxas: Option<&Path>,
    out: &Path,
    required: bool,
) -> Result<Compiled, String> {
    let nvrtc = Nvrtc::load(nvrtc_path)?;
    let nvrtc_version = nvrtc.version()?;
    let mut ptx_paths = Vec::new();
    let mut tensor_ptx_paths = Vec::new();
    for f in files {
        for (arch, suffix, paths) in [
            (VIRTUAL_ARCH, "", &mut ptx_paths),
            (TENSOR_VIRTUAL_ARCH, ".sm80", &mut tensor_ptx_paths),
        ] {
            let raw = nvrtc
                .compile(&f.flat_source, &format!("{}.cu", f.stem), arch)
                .map_err(|log| format!("{}.cu does not compile for {arch}:\n{log}", f.stem))?;
            let declared = ptx_isa_version(&raw).ok_or("NVRTC wrote PTX without .version")?;
            // Never claim a newer ISA than NVRTC wrote; lower it to what old drivers accept.
            let target = if declared < PTX_ISA {
                declared
            } else {
                PTX_ISA
            };
            let ptx = with_ptx_isa_version(&raw, target).ok_or("PTX without .version")?;
            let path = out.join(format!("{}{suffix}.ptx", f.stem));
            std::fs::write(&path, ptx).map_err(|e| e.to_string())?;
            paths.push(path);
        }
    }
    let Some(ptxas) = ptxas else {
        if required {
            return Err("ptxas not found (needed for cubins and the spill check)".into());
        }
        println!("cargo:warning=ptxas not found: shipping PTX only (unchecked by ptxas, JIT on every GPU)");
        return Ok(Compiled {
            nvrtc_version,
            cubins: vec![Vec::new(); files.len()],
            ptx: ptx_paths,
        });
    };
    // One ptxas per (file, arch), spread over the build machine's cores.
    let jobs: Vec<(usize, u32)> = (0..files.len())
        .flat_map(|i| CUBIN_ARCHS.iter().map(move |&sm| (i, sm)))
        .collect();
    let results: Vec<Result<(usize, u32, PathBuf, String), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(jobs.len().div_ceil(4).max(1))
            .map(|chunk| {
                let ptx_paths = &ptx_paths;
                let tensor_ptx_paths = &tensor_ptx_paths;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&(i, sm)| {
                            let cubin = out.join(format!("{}.sm_{sm}.cubin", files[i].stem));
                            let o = Command::new(ptxas)
                                .arg(format!("-arch=sm_{sm}"))
                                .arg("-v")
                                .arg("-O3")
                                .arg(if sm >= TENSOR_MIN_SM {
                                    &tensor_ptx_paths[i]
                                } else {
                                    &ptx_paths[i]
                                })
                                .arg("-o")
                                .arg(&cubin)
                                .output()
                                .map_err(|e| format!("cannot run {}: {e}", ptxas.display()))?;
                            let log = String::from_utf8_lossy(&o.stderr).into_owned()
                                + &String::from_utf8_lossy(&o.stdout);
                            if !o.status.success() {
                                return Err(format!(
                                    "ptxas rejected {}.ptx for sm_{sm}:\n{log}",
                                    files[i].stem
                                ));
                            }
                            Ok((i, sm, cubin, log))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("ptxas worker panicked"))
            .collect()
    });
    let mut cubins = vec![Vec::new(); files.len()];
    for r in results {
        let (i, sm, path, log) = r?;
        let reports = ptxas_spills(&log);
        let spills = spilling(&reports);
        if !spills.is_empty() {
            let msg = spills
                .iter()
                .map(|r| {
                    format!(
                        "{} ({}): {} bytes spill stores, {} bytes spill loads",
                        r.function, r.arch, r.spill_store_bytes, r.spill_load_bytes
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            if required {
                return Err(format!("register spills in {}.cu: {msg}", files[i].stem));
            }
            println!(
                "cargo:warning=register spills in {}.cu: {msg}",
                files[i].stem
            );
        }
        cubins[i].push((sm, path));
    }
    for c in &mut cubins {
        c.sort_by_key(|(sm, _)| *sm);
    }
    Ok(Compiled {
        nvrtc_version,
        ptx: ptx_paths,
        cubins,
    })
}

fn write_table(files: &[KernelFile], compiled: Option<&Compiled>, out: &Path) {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "// Generated by build.rs from kernels/*.cu; do not edit."
    );
    let _ = writeln!(w, "/// Whether PTX and cubins were built into this binary (else only sources, for runtime NVRTC).");
    let _ = writeln!(
        w,
        "pub const KERNELS_PRECOMPILED: bool = {};",
        compiled.is_some()
    );
    let _ = writeln!(
        w,
        "/// PTX ISA the embedded PTX declares at most (CUDA 12.0 drivers accept 8.0)."
    );
    let _ = writeln!(
        w,
        "pub const PTX_ISA_MAX: (u32, u32) = ({}, {});",
        PTX_ISA.0, PTX_ISA.1
    );
    let _ = writeln!(
        w,
        "/// The virtual architecture of the embedded PTX and of runtime NVRTC."
    );
    let _ = writeln!(w, "pub const PTX_VIRTUAL_ARCH: &str = {VIRTUAL_ARCH:?};");
    let _ = writeln!(
        w,
        "/// Cubins from this SM on were assembled from {TENSOR_VIRTUAL_ARCH} PTX (tensor-core paths present)."
    );
    let _ = writeln!(w, "pub const TENSOR_CUBIN_MIN_SM: u32 = {TENSOR_MIN_SM};");
    let _ = writeln!(
        w,
        "/// NVRTC options of the build, reused by runtime NVRTC so both compile the same code."
    );
    let _ = writeln!(w, "pub const NVRTC_OPTIONS: &[&str] = &{NVRTC_OPTIONS:?};");
    let _ = writeln!(
        w,
        "/// NVRTC (major, minor) that compiled the embedded PTX, if any."
    );
    let _ = writeln!(
        w,
        "pub const BUILD_NVRTC_VERSION: Option<(i32, i32)> = {:?};",
        compiled.map(|c| c.nvrtc_version)
    );

    let _ = writeln!(w, "\n/// One CUDA module per kernels/*.cu file; the device loads each lazily, once per context.");
    let _ = writeln!(
        w,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]"
    );
    let _ = writeln!(w, "pub enum KernelModule {{");
    for f in files {
        let _ = writeln!(w, "    {},", camel_case(&f.stem));
    }
    let _ = writeln!(w, "}}\n\nimpl KernelModule {{");
    let _ = writeln!(
        w,
        "    pub const ALL: &'static [KernelModule] = &[{}];",
        files
            .iter()
            .map(|f| format!("KernelModule::{}", camel_case(&f.stem)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let arm =
        |w: &mut String, name: &str, ret: &str, body: &dyn Fn(usize, &KernelFile) -> String| {
            let _ = writeln!(
                w,
                "    pub const fn {name}(self) -> {ret} {{\n        match self {{"
            );
            for (i, f) in files.iter().enumerate() {
                let _ = writeln!(
                    w,
                    "            KernelModule::{} => {},",
                    camel_case(&f.stem),
                    body(i, f)
                );
            }
            let _ = writeln!(w, "        }}\n    }}");
        };
    let _ = writeln!(w, "    /// The kernel file, e.g. `convert.cu`.");
    arm(w, "file_name", "&'static str", &|_, f| {
        format!("{:?}", format!("{}.cu", f.stem))
    });
    let _ = writeln!(
        w,
        "    /// Self-contained source (local includes inlined) for runtime NVRTC."
    );
    arm(w, "source", "&'static str", &|_, f| {
        format!(
            "include_str!({:?})",
            out.join(format!("{}.flat.cu", f.stem))
                .display()
                .to_string()
        )
    });
    let _ = writeln!(
        w,
        "    /// PTX for PTX_VIRTUAL_ARCH at PTX_ISA_MAX, when precompiled."
    );
    arm(w, "ptx", "Option<&'static str>", &|i, _| match compiled {
        Some(c) => format!("Some(include_str!({:?}))", c.ptx[i].display().to_string()),
        None => "None".into(),
    });
    let _ = writeln!(
        w,
        "    /// (SM version as 10·major + minor, cubin) pairs, ascending."
    );
    arm(
        w,
        "cubins",
        "&'static [(u32, &'static [u8])]",
        &|i, _| match compiled {
            Some(c) => format!(
                "&[{}]",
                c.cubins[i]
                    .iter()
                    .map(|(sm, p)| format!("({sm}, include_bytes!({:?}))", p.display().to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "&[]".into(),
        },
    );
    let _ = writeln!(w, "    /// The kernels this module defines.");
    arm(w, "kernels", "&'static [Kernel]", &|_, f| {
        format!(
            "&[{}]",
            f.entries
                .iter()
                .map(|e| format!("Kernel::{}", camel_case(&e.name)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let _ = writeln!(w, "}}");

    let all: Vec<(&KernelFile, &EntryPoint)> = files
        .iter()
        .flat_map(|f| f.entries.iter().map(move |e| (f, e)))
        .collect();
    let _ = writeln!(
        w,
        "\n/// Every kernel entry point, named after its `extern \"C\"` function."
    );
    let _ = writeln!(
        w,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub enum Kernel {{"
    );
    for (_, e) in &all {
        let _ = writeln!(w, "    {},", camel_case(&e.name));
    }
    let _ = writeln!(w, "}}\n\nimpl Kernel {{");
    let _ = writeln!(
        w,
        "    pub const ALL: &'static [Kernel] = &[{}];",
        all.iter()
            .map(|(_, e)| format!("Kernel::{}", camel_case(&e.name)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let karm = |w: &mut String,
                name: &str,
                ret: &str,
                body: &dyn Fn(&KernelFile, &EntryPoint) -> String| {
        let _ = writeln!(
            w,
            "    pub fn {name}(self) -> {ret} {{\n        match self {{"
        );
        for (f, e) in &all {
            let _ = writeln!(
                w,
                "            Kernel::{} => {},",
                camel_case(&e.name),
                body(f, e)
            );
        }
        let _ = writeln!(w, "        }}\n    }}");
    };
    let _ = writeln!(
        w,
        "    /// The symbol in the module (the `extern \"C\"` name)."
    );
    karm(w, "name", "&'static str", &|_, e| format!("{:?}", e.name));
    let _ = writeln!(w, "    /// The module that defines it.");
    karm(w, "module", "KernelModule", &|f, _| {
        format!("KernelModule::{}", camel_case(&f.stem))
    });
    let _ = writeln!(
        w,
        "    /// Its one by-value argument, a struct from kernels/params.h."
    );
    karm(w, "params_type_name", "&'static str", &|_, e| {
        format!("{:?}", e.params_type)
    });
    karm(w, "params_type", "core::any::TypeId", &|_, e| {
        format!(
            "core::any::TypeId::of::<super::params::{}>()",
            e.params_type
        )
    });
    karm(w, "params_size", "usize", &|_, e| {
        format!("core::mem::size_of::<super::params::{}>()", e.params_type)
    });
    let _ = writeln!(w, "}}");

    let mut types: Vec<&str> = all.iter().map(|(_, e)| e.params_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    for t in types {
        let _ = writeln!(w, "// SAFETY: a #[repr(C)] struct of integers from params.h, passed to the kernel by value.");
        let _ = writeln!(
            w,
            "unsafe impl cudarc::driver::DeviceRepr for super::params::{t} {{}}"
        );
    }

    for f in files {
        std::fs::write(out.join(format!("{}.flat.cu", f.stem)), &f.flat_source)
            .expect("write source");
    }
    std::fs::write(out.join("kernels.rs"), s).expect("write kernels.rs");
}

/// The few NVRTC entry points the build needs, loaded from a path (no CUDA toolkit install).
struct Nvrtc {
    lib: libloading::Library,
}

type NvrtcProgram = *mut c_void;

impl Nvrtc {
    fn load(path: &Path) -> Result<Nvrtc, String> {
        // SAFETY: loading NVRTC runs only its (side-effect free) initialisers.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("cannot load NVRTC from {}: {e}", path.display()))?;
        Ok(Nvrtc { lib })
    }

    fn sym<T: Copy>(&self, name: &[u8]) -> Result<T, String> {
        // SAFETY: every T used below is the documented C signature of that NVRTC symbol.
        unsafe { self.lib.get::<T>(name).map(|s| *s) }
            .map_err(|e| format!("NVRTC lacks {}: {e}", String::from_utf8_lossy(name)))
    }

    fn version(&self) -> Result<(i32, i32), String> {
        let f: unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int =
            self.sym(b"nvrtcVersion\0")?;
        let (mut major, mut minor) = (0, 0);
        // SAFETY: two valid out-pointers.
        let rc = unsafe { f(&mut major, &mut minor) };
        if rc != 0 {
            return Err(format!("nvrtcVersion failed ({rc})"));
        }
        Ok((major, minor))
    }

    /// PTX for virtual architecture `arch`, or the compile log.
    fn compile(&self, source: &str, name: &str, arch: &str) -> Result<String, String> {
        type Create = unsafe extern "C" fn(
            *mut NvrtcProgram,
            *const c_char,
            *const c_char,
            c_int,
            *const *const c_char,
            *const *const c_char,
        ) -> c_int;
        type Compile = unsafe extern "C" fn(NvrtcProgram, c_int, *const *const c_char) -> c_int;
        type Size = unsafe extern "C" fn(NvrtcProgram, *mut usize) -> c_int;
        type Get = unsafe extern "C" fn(NvrtcProgram, *mut c_char) -> c_int;
        type Destroy = unsafe extern "C" fn(*mut NvrtcProgram) -> c_int;
        let create: Create = self.sym(b"nvrtcCreateProgram\0")?;
        let compile: Compile = self.sym(b"nvrtcCompileProgram\0")?;
        let log_size: Size = self.sym(b"nvrtcGetProgramLogSize\0")?;
        let get_log: Get = self.sym(b"nvrtcGetProgramLog\0")?;
        let ptx_size: Size = self.sym(b"nvrtcGetPTXSize\0")?;
        let get_ptx: Get = self.sym(b"nvrtcGetPTX\0")?;
        let destroy: Destroy = self.sym(b"nvrtcDestroyProgram\0")?;

        let src = CString::new(source).map_err(|e| e.to_string())?;
        let cname = CString::new(name).map_err(|e| e.to_string())?;
        let mut options: Vec<CString> =
            vec![CString::new(format!("--gpu-architecture={arch}")).expect("no NUL")];
        options.extend(
            NVRTC_OPTIONS
                .iter()
                .map(|o| CString::new(*o).expect("no NUL")),
        );
        let option_ptrs: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
        let mut prog: NvrtcProgram = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings that outlive the calls; no headers passed; the
        // program is destroyed on every path below.
        unsafe {
            let rc = create(
                &mut prog,
                src.as_ptr(),
                cname.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            );
            if rc != 0 {
                return Err(format!("nvrtcCreateProgram failed ({rc})"));
            }
            let rc = compile(prog, option_ptrs.len() as c_int, option_ptrs.as_ptr());
            let mut n = 0usize;
            log_size(prog, &mut n);
            let mut log = vec![0u8; n.max(1)];
            get_log(prog, log.as_mut_ptr() as *mut c_char);
            let log = String::from_utf8_lossy(&log)
                .trim_end_matches('\0')
                .to_string();
            if rc != 0 {
                destroy(&mut prog);
                return Err(log);
            }
            if !log.trim().is_empty() {
                // Warnings are bugs waiting to happen in kernel code: make them visible.
                for line in log.lines().filter(|l| !l.trim().is_empty()) {
                    println!("cargo:warning={name}: {line}");
                }
            }
            let mut n = 0usize;
            ptx_size(prog, &mut n);
            let mut ptx = vec![0u8; n.max(1)];
            get_ptx(prog, ptx.as_mut_ptr() as *mut c_char);
            destroy(&mut prog);
            Ok(String::from_utf8_lossy(&ptx)
                .trim_end_matches('\0')
                .to_string())
        }
    }
}
