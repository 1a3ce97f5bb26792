//! `ofx_harness`: a headless OFX host. It loads OFX bundles (ours or anyone's), describes their
//! plugins, creates instances, sets parameters and renders frames from in-memory images, while
//! checking the plugin against the spec (writes outside the render window, invalid statuses,
//! leaked images, non-determinism across tiles and threads) and reporting findings.
//!
//! ```no_run
//! use ofx_harness::{Host, HostConfig, HostImage, BitDepth, Components, Rect, RenderOptions};
//!
//! let host = Host::new(HostConfig::default());
//! // A bundle directory, a bare .ofx file, or a plugin identifier found on OFX_PLUGIN_PATH.
//! let plugin = host.plugin("target/PlateRestore.ofx.bundle:org.platerestore.Grain")?;
//! let mut fx = plugin.instance("filter")?;
//! let plate = HostImage::new(Rect::new(0, 0, 1920, 1080), BitDepth::Float, Components::Rgba);
//! fx.set_input_image("Source", plate)?;
//! fx.set_param("amount", 0.5)?;
//! let out = fx.render_frame(1.0, &RenderOptions { tile: Some((256, 256)), threads: Some(4), ..Default::default() })?;
//! assert!(out.findings.is_empty(), "{:?}", out.findings);
//! let bytes = out.image.to_packed_bytes();
//! # let _ = bytes;
//! # Ok::<(), ofx_harness::HostError>(())
//! ```
//!
//! Crashes inside a plugin's C code (segfaults) cannot be caught in-process; `ofxrun check`
//! runs its risky probes in a child process for that reason. Panics in the host's own suite
//! functions are caught at the C boundary and become `kOfxStatErrFatal`.

pub mod check;
pub mod cuda;
pub mod device;
mod effect;
pub mod error;
pub mod findings;
pub mod host;
pub mod image;
mod instance;
pub mod io;
pub mod params;
pub mod pipeline;
pub mod plugin;
pub mod props;

pub use check::{check_plugin, CheckOptions, CheckReport};
pub use cuda::{CudaMode, CudaSupport};
pub use effect::{canonical_to_pixels, pixels_to_canonical, ClipInput, Message};
pub use error::HostError;
pub use findings::{Finding, FindingKind, Severity};
pub use host::HostConfig;
pub use image::{
    BitDepth, Components, HostImage, HostPixels, ImageLayout, Premult, Rect, RowLayout,
};
pub use instance::{split_tiles, AbortHandle, Faults, Instance, RenderOptions, RenderOutput};
pub use params::{ParamInfo, ParamType, ParamValue};
pub use plugin::{Binary, ClipInfo, ContextDescription, Plugin, PluginDescription, PluginEntry};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A host: load binaries and plugins through it. Cheap to clone; every plugin it loads shares
/// its configuration.
#[derive(Clone)]
pub struct Host {
    core: Arc<host::HostCore>,
}

impl Host {
    pub fn new(config: HostConfig) -> Host {
        let core = host::HostCore::new(config);
        host::register_core(&core);
        Host { core }
    }
    pub fn config(&self) -> &HostConfig {
        &self.core.config
    }
    /// The device CUDA renders use (`HostConfig::cuda`), opened on first call: an error when
    /// the configuration is Off or no NVIDIA driver/GPU is usable. The host keeps working
    /// either way; only CUDA renders need it.
    pub fn cuda_device(&self) -> Result<Arc<dyn device::CudaDevice>, HostError> {
        self.core.cuda_device()
    }
    /// Host-level findings (e.g. a binary whose OfxGetPlugin returned NULL).
    pub fn findings(&self) -> Vec<Finding> {
        self.core.findings.all()
    }

    /// Loads a bundle directory or a bare `.ofx` file.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Binary, HostError> {
        Binary::open(self.core.clone(), path.as_ref())
    }

    /// Every binary under the search path (`OFX_PLUGIN_PATH`, then `/usr/OFX/Plugins`), or under
    /// `dir` if given.
    pub fn discover(&self, dir: Option<&Path>) -> Vec<PathBuf> {
        match dir {
            Some(d) if d.is_file() || d.to_string_lossy().ends_with(".ofx.bundle") => {
                vec![d.to_path_buf()]
            }
            Some(d) => plugin::find_binaries(d),
            None => plugin::search_dirs()
                .iter()
                .flat_map(|d| plugin::find_binaries(d))
                .collect(),
        }
    }

    /// Resolves `BUNDLE[:identifier]` or a bare identifier (searched) and describes the plugin.
    pub fn plugin(&self, spec: &str) -> Result<Plugin, HostError> {
        let (path, id) = split_spec(spec);
        if let Some(path) = path {
            return self.load(path)?.plugin(id);
        }
        let Some(id) = id else {
            return Err(HostError::NotFound {
                what: spec.to_string(),
                searched: "nothing".into(),
            });
        };
        let dirs = plugin::search_dirs();
        for bin in dirs.iter().flat_map(|d| plugin::find_binaries(d)) {
            let Ok(b) = self.load(&bin) else { continue };
            if b.plugins().iter().any(|e| e.identifier == id) {
                return b.plugin(Some(id));
            }
        }
        Err(HostError::NotFound {
            what: id.to_string(),
            searched: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        })
    }
}

/// Splits `BUNDLE[:identifier]`: a part that names an existing path is the binary.
fn split_spec(spec: &str) -> (Option<PathBuf>, Option<&str>) {
    if Path::new(spec).exists() {
        return (Some(PathBuf::from(spec)), None);
    }
    if let Some((p, id)) = spec.rsplit_once(':') {
        if Path::new(p).exists() {
            return (Some(PathBuf::from(p)), Some(id).filter(|s| !s.is_empty()));
        }
    }
    (None, Some(spec))
}
