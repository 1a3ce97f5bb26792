//! Assembling and installing `PlateRestore.ofx.bundle` (the OFX packaging layout:
//! `NAME.ofx.bundle/Contents/<arch>/NAME.ofx`, `Contents/Resources/<pluginIdentifier>.png`,
//! `Contents/Info.plist`). The `platerestore-bundle` binary drives this after compiling.

pub mod icon;

use std::ffi::{c_char, c_int, CStr};
use std::fs;
use std::path::{Path, PathBuf};

pub const BUNDLE_NAME: &str = "PlateRestore";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}")]
    Usage(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building the plugin failed (cargo exited with {0}); see the compiler output above")]
    Cargo(String),
    #[error("the plugin library {path} could not be loaded: {detail}")]
    Load { path: PathBuf, detail: String },
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
}

fn io<T>(what: &'static str, path: &Path, r: std::io::Result<T>) -> Result<T, BundleError> {
    r.map_err(|source| BundleError::Io {
        what,
        path: path.to_path_buf(),
        source,
    })
}

pub fn workspace_root() -> PathBuf {
    // bundle/ sits directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The OFX architecture folder for this platform (OFX programming guide, "Packaging").
pub fn arch_dir() -> &'static str {
    if cfg!(target_os = "windows") {
        "Win64"
    } else if cfg!(target_os = "macos") {
        "MacOS"
    } else if cfg!(target_arch = "aarch64") {
        "Linux-arm64"
    } else {
        "Linux-x86-64"
    }
}

pub fn lib_file_name() -> &'static str {
    if cfg!(target_os = "windows") {
        "platerestore.dll"
    } else if cfg!(target_os = "macos") {
        "libplaterestore.dylib"
    } else {
        "libplaterestore.so"
    }
}

/// Plugin identifiers and versions, asked of the built binary so the bundle can never list
/// an effect the binary does not register.
pub fn plugin_identifiers(lib: &Path) -> Result<Vec<(String, u32, u32)>, BundleError> {
    let err = |detail: String| BundleError::Load {
        path: lib.to_path_buf(),
        detail,
    };
    // SAFETY: loading our own freshly built plugin; its initialisers only set up statics.
    let library = unsafe { libloading::Library::new(lib) }.map_err(|e| err(e.to_string()))?;
    // SAFETY: the symbols have the OFX signatures (ofxCore.h), exported by ofx::export_plugins!.
    let (count, get) = unsafe {
        let count: libloading::Symbol<unsafe extern "C" fn() -> c_int> = library
            .get(b"OfxGetNumberOfPlugins\0")
            .map_err(|e| err(e.to_string()))?;
        let get: libloading::Symbol<unsafe extern "C" fn(c_int) -> *mut ofx_sys::OfxPlugin> =
            library
                .get(b"OfxGetPlugin\0")
                .map_err(|e| err(e.to_string()))?;
        (count, get)
    };
    let mut out = Vec::new();
    // SAFETY: plain calls into the plugin's registry; returned structs are valid while loaded.
    unsafe {
        for i in 0..count() {
            let p = get(i);
            if p.is_null() || (*p).pluginIdentifier.is_null() {
                return Err(err(format!("plugin {i} has no identifier")));
            }
            let id = CStr::from_ptr((*p).pluginIdentifier as *const c_char)
                .to_string_lossy()
                .into_owned();
            out.push((id, (*p).pluginVersionMajor, (*p).pluginVersionMinor));
        }
    }
    Ok(out)
}

/// Lays out `out_dir/PlateRestore.ofx.bundle` around the compiled plugin library `lib`.
/// The bundle is built under a temporary name and renamed into place when complete.
/// The shipped networks and their model cards, from this crate's `models/` folder.
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn copy_models(to: &Path) -> Result<(), BundleError> {
    io("creating", to, fs::create_dir_all(to))?;
    let from = models_dir();
    let entries = io("listing", &from, fs::read_dir(&from))?;
    for entry in entries {
        let path = io("listing", &from, entry.map(|e| e.path()))?;
        let shipped = path
            .extension()
            .is_some_and(|e| e == "safetensors" || e == "md");
        if shipped {
            if let Some(name) = path.file_name() {
                io("copying the model", &path, fs::copy(&path, to.join(name)))?;
            }
        }
    }
    Ok(())
}

pub fn assemble(lib: &Path, out_dir: &Path) -> Result<PathBuf, BundleError> {
    let plugins = plugin_identifiers(lib)?;
    let bundle = out_dir.join(format!("{BUNDLE_NAME}.ofx.bundle"));
    let staging = out_dir.join(format!(".{BUNDLE_NAME}.ofx.bundle.partial"));
    if staging.exists() {
        io("removing stale", &staging, fs::remove_dir_all(&staging))?;
    }
    let bin_dir = staging.join("Contents").join(arch_dir());
    let res_dir = staging.join("Contents").join("Resources");
    io("creating", &bin_dir, fs::create_dir_all(&bin_dir))?;
    io("creating", &res_dir, fs::create_dir_all(&res_dir))?;
    let binary = bin_dir.join(format!("{BUNDLE_NAME}.ofx"));
    io("copying the plugin to", &binary, fs::copy(lib, &binary))?;
    for (i, (id, _, _)) in plugins.iter().enumerate() {
        let png = res_dir.join(format!("{id}.png"));
        io(
            "writing icon",
            &png,
            fs::write(&png, icon::render_png(id, i)),
        )?;
    }
    copy_models(&res_dir.join("models"))?;
    let plist = staging.join("Contents").join("Info.plist");
    io(
        "writing",
        &plist,
        fs::write(&plist, info_plist(env!("CARGO_PKG_VERSION"))),
    )?;
    // Replace a previous build in out_dir only once the new one is complete.
    if bundle.exists() {
        io(
            "removing the previous build",
            &bundle,
            fs::remove_dir_all(&bundle),
        )?;
    }
    io("finishing", &bundle, fs::rename(&staging, &bundle))?;
    eprintln!("built {}", bundle.display());
    for (id, major, minor) in &plugins {
        eprintln!("  {id} v{major}.{minor}");
    }
    Ok(bundle)
}

pub fn info_plist(version: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleDevelopmentRegion</key>
	<string>English</string>
	<key>CFBundleExecutable</key>
	<string>{BUNDLE_NAME}.ofx</string>
	<key>CFBundleIdentifier</key>
	<string>org.platerestore.bundle</string>
	<key>CFBundleInfoDictionaryVersion</key>
	<string>6.0</string>
	<key>CFBundleName</key>
	<string>{BUNDLE_NAME}</string>
	<key>CFBundlePackageType</key>
	<string>BNDL</string>
	<key>CFBundleShortVersionString</key>
	<string>{version}</string>
	<key>CFBundleVersion</key>
	<string>{version}</string>
</dict>
</plist>
"#
    )
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), BundleError> {
    io("creating", to, fs::create_dir_all(to))?;
    for entry in io("reading", from, fs::read_dir(from))? {
        let entry = io("reading", from, entry)?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if io("inspecting", &src, entry.file_type())?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            io("copying to", &dst, fs::copy(&src, &dst))?;
        }
    }
    Ok(())
}

/// Copies the bundle `built` into `dir`, replacing an existing PlateRestore bundle only when
/// `force` is set.
pub fn install(built: &Path, dir: &Path, force: bool) -> Result<PathBuf, BundleError> {
    if !built.is_dir() {
        return Err(BundleError::Usage(format!(
            "{} does not exist: run `platerestore-bundle build` first",
            built.display()
        )));
    }
    let dest = dir.join(format!("{BUNDLE_NAME}.ofx.bundle"));
    if dest.exists() && !force {
        return Err(BundleError::Exists(dest));
    }
    io("creating", dir, fs::create_dir_all(dir))?;
    // Copy beside the destination, then swap in with renames: a host scanning the folder
    // never sees a half-copied bundle, and a failed copy leaves the old one in place.
    let staging = dir.join(format!(".{BUNDLE_NAME}.ofx.bundle.partial"));
    let old = dir.join(format!(".{BUNDLE_NAME}.ofx.bundle.old"));
    for stale in [&staging, &old] {
        if stale.exists() {
            io("removing stale", stale, fs::remove_dir_all(stale))?;
        }
    }
    if let Err(e) = copy_dir(built, &staging) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if dest.exists() {
        io("moving aside", &dest, fs::rename(&dest, &old))?;
    }
    if let Err(e) = fs::rename(&staging, &dest) {
        if old.exists() {
            let _ = fs::rename(&old, &dest);
        }
        return Err(BundleError::Io {
            what: "installing",
            path: dest,
            source: e,
        });
    }
    if old.exists() {
        io(
            "removing the replaced bundle",
            &old,
            fs::remove_dir_all(&old),
        )?;
    }
    eprintln!("installed {}", dest.display());
    Ok(dest)
}
