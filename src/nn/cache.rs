//! Models loaded once per process. A file is parsed and validated the first time it is asked
//! for and shared (`Arc`) by every instance and render after that; a changed file (size or
//! modification time) is read again. Two paths with the same bytes share one copy.

use super::model::Model;
use super::NnError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::SystemTime;

/// Overrides where shipped models are looked for (a folder of `*.safetensors`).
pub const MODELS_ENV: &str = "PLATERESTORE_MODELS";

struct Entry {
    len: u64,
    modified: Option<SystemTime>,
    model: Arc<Model>,
}

#[derive(Default)]
struct Cache {
    by_path: HashMap<PathBuf, Entry>,
    by_content: HashMap<u64, Weak<Model>>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Cache::default()))
}

/// The model in `path`, validated, from the cache when the file has not changed.
pub fn load_model(path: &Path) -> Result<Arc<Model>, NnError> {
    let meta = std::fs::metadata(path).map_err(|e| NnError::Io {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    let (len, modified) = (meta.len(), meta.modified().ok());
    {
        let c = cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = c.by_path.get(path) {
            if e.len == len && e.modified == modified {
                return Ok(e.model.clone());
            }
        }
    }
    // Parse outside the lock: other renders keep using the models they have.
    let file = super::file::read_file(path)?;
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    let model = match c.by_content.get(&file.content_hash).and_then(Weak::upgrade) {
        Some(m) => m,
        None => {
            let m = Arc::new(Model::from_file(&file));
            c.by_content.insert(file.content_hash, Arc::downgrade(&m));
            log::info!(
                "loaded model {} ({}, {:016x}) from {}",
                m.spec.name,
                m.spec.architecture,
                m.content_hash,
                path.display()
            );
            m
        }
    };
    c.by_path.insert(
        path.to_path_buf(),
        Entry {
            len,
            modified,
            model: model.clone(),
        },
    );
    Ok(model)
}

/// The folder shipped models live in: `PLATERESTORE_MODELS`, else
/// `<bundle>/Contents/Resources/models` for the bundle path a host reports
/// (`kOfxPluginPropFilePath`), else the source tree's `bundle/models` (tests, development).
pub fn shipped_models_dir(bundle_path: Option<&Path>) -> PathBuf {
    if let Some(dir) = std::env::var_os(MODELS_ENV) {
        return PathBuf::from(dir);
    }
    // Hosts report the bundle folder; some report the binary inside it: either way, the
    // nearest `*.ofx.bundle` ancestor (or the path itself) holds the models.
    if let Some(p) = bundle_path {
        let bundle = p
            .ancestors()
            .find(|a| a.extension().is_some_and(|e| e == "bundle"))
            .unwrap_or(p);
        let d = bundle.join("Contents").join("Resources").join("models");
        if d.is_dir() {
            return d;
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bundle")
        .join("models")
}

/// A shipped model by name (`upscale-x2` → `upscale-x2.safetensors`).
pub fn shipped_model(name: &str, bundle_path: Option<&Path>) -> Result<Arc<Model>, NnError> {
    let path = shipped_models_dir(bundle_path).join(format!("{name}.safetensors"));
    if !path.exists() {
        return Err(NnError::NoShippedModel(name.to_string()));
    }
    load_model(&path)
}
