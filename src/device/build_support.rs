//! Text handling for the kernel build, shared by `build.rs` (through `#[path]`) and the library's
//! tests: PTX ISA version read/rewrite, `ptxas -v` spill parsing, entry-point discovery and
//! include flattening. Pure functions on strings, so the build's decisions are unit-tested.

// build.rs uses some of these, the device tests all of them.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;

/// The PTX ISA a `.version X.Y` line declares.
pub fn ptx_isa_version(ptx: &str) -> Option<(u32, u32)> {
    let line = ptx
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(".version"))?;
    let (major, minor) = line.trim_start_matches(".version").trim().split_once('.')?;
    Some((major.trim().parse().ok()?, minor.trim().parse().ok()?))
}

/// PTX ISA that introduced `.pragma "used_bytes_mask"`, a load-width hint NVRTC 12.4+ emits.
pub const USED_BYTES_MASK_ISA: (u32, u32) = (8, 3);

/// The PTX with its `.version` line replaced by `version`; None when there is no such line.
/// Below ISA 8.3, `used_bytes_mask` pragmas are dropped: they only tell the assembler which
/// bytes of a load are used (an optimisation hint), and older ISAs reject them. Sound only when
/// the kernels use nothing else newer than `version`, which ptxas checks when the build
/// assembles the rewritten PTX.
pub fn with_ptx_isa_version(ptx: &str, version: (u32, u32)) -> Option<String> {
    ptx_isa_version(ptx)?;
    let mut out = String::with_capacity(ptx.len());
    let mut done = false;
    for line in ptx.split_inclusive('\n') {
        if version < USED_BYTES_MASK_ISA
            && line.trim_start().starts_with(".pragma \"used_bytes_mask")
        {
            continue;
        }
        if !done && line.trim_start().starts_with(".version") {
            out.push_str(&format!(".version {}.{}\n", version.0, version.1));
            done = true;
        } else {
            out.push_str(line);
        }
    }
    Some(out)
}

/// One kernel's spill figures from `ptxas -v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpillReport {
    pub function: String,
    pub arch: String,
    pub spill_store_bytes: u64,
    pub spill_load_bytes: u64,
}

/// Every function `ptxas -v` reported on, with its spill stores and loads. The log names the
/// function and arch on a "Compiling entry function 'f' for 'sm_XX'" or "Function properties
/// for f" line, then gives "N bytes stack frame, S bytes spill stores, L bytes spill loads".
pub fn ptxas_spills(log: &str) -> Vec<SpillReport> {
    let mut reports = Vec::new();
    let mut function = String::new();
    let mut arch = String::new();
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let mut parts = rest.split('\'');
            function = parts.next().unwrap_or_default().to_string();
            arch = parts.nth(1).unwrap_or_default().to_string();
        } else if let Some(rest) = line.split("Function properties for ").nth(1) {
            function = rest.trim().to_string();
        } else if line.contains("bytes spill stores") {
            let bytes_before = |what: &str| -> u64 {
                line.split(',')
                    .find(|part| part.contains(what))
                    .and_then(|part| part.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            };
            reports.push(SpillReport {
                function: function.clone(),
                arch: arch.clone(),
                spill_store_bytes: bytes_before("spill stores"),
                spill_load_bytes: bytes_before("spill loads"),
            });
        }
    }
    reports
}

/// The reports that actually spill.
pub fn spilling(reports: &[SpillReport]) -> Vec<&SpillReport> {
    reports
        .iter()
        .filter(|r| r.spill_store_bytes > 0 || r.spill_load_bytes > 0)
        .collect()
}

/// A kernel entry point: `extern "C" __global__ void NAME(const PARAMS p)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    pub name: String,
    pub params_type: String,
}

/// Entry points declared in a kernel source, in order. Every kernel takes one params struct by
/// value (kernels/params.h); a `__global__` that breaks the convention is an error.
pub fn entry_points(source: &str) -> Result<Vec<EntryPoint>, String> {
    let mut found = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("extern \"C\" __global__ void ") else {
            if line.contains("__global__") && !line.starts_with("//") {
                return Err(format!(
                    "line {}: kernels must be declared as `extern \"C\" __global__ void name(const Params p)`",
                    i + 1
                ));
            }
            continue;
        };
        let (name, args) = rest
            .split_once('(')
            .ok_or_else(|| format!("line {}: no parameter list", i + 1))?;
        let args = args.split(')').next().unwrap_or_default();
        let words: Vec<&str> = args.split_whitespace().collect();
        let params_type = match words.as_slice() {
            ["const", ty, _name] => ty.to_string(),
            _ => {
                return Err(format!(
                    "line {}: kernel `{}` must take exactly one `const Params p` argument",
                    i + 1,
                    name.trim()
                ))
            }
        };
        found.push(EntryPoint {
            name: name.trim().to_string(),
            params_type,
        });
    }
    Ok(found)
}

/// `unpack_rgba_f32` → `UnpackRgbaF32`, for generated enum variants.
pub fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The source with every `#include "local.h"` replaced by that file's text (once per file), so
/// runtime NVRTC can compile one self-contained string with no include paths.
/// `#line` directives keep compiler messages pointing at the real file and line.
pub fn flatten_includes(source: &str, name: &str, dir: &Path) -> Result<String, String> {
    let mut seen = HashSet::new();
    let mut out = format!("#line 1 \"{name}\"\n");
    flatten_into(source, name, dir, &mut seen, &mut out)?;
    Ok(out)
}

fn flatten_into(
    source: &str,
    file: &str,
    dir: &Path,
    seen: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), String> {
    for (i, line) in source.lines().enumerate() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("#include \"") {
            let name = rest.split('"').next().unwrap_or_default().to_string();
            if seen.insert(name.clone()) {
                let text = std::fs::read_to_string(dir.join(&name))
                    .map_err(|e| format!("cannot read included {name}: {e}"))?;
                out.push_str(&format!("#line 1 \"{name}\"\n"));
                flatten_into(&text, &name, dir, seen, out)?;
                out.push_str(&format!("#line {} \"{file}\"\n", i + 2));
            }
        } else if t == "#pragma once" {
            // Already handled by `seen`; NVRTC warns about it in a main file.
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(())
}
