//! Reading a model file: safetensors parsed with the `safetensors` crate (which checks the
//! header's offsets against the buffer), then every tensor checked against the architecture
//! the metadata declares — names, shapes, dtypes, finiteness — before a weight is used.
//! The file is read once into memory; tensors are converted from their bytes straight into the
//! engine's packed f32 layout (no second copy of the raw weights).

use super::spec::{ModelSpec, METADATA_KEY};
use super::NnError;
use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// Largest model file accepted: far above any real-time restoration network (the shipped ones
/// are a few hundred KB), far below what would hurt a host to read.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// One tensor, converted to f32, in PyTorch's element order.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A file's validated content: its spec and its tensors by name, as f32.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub spec: ModelSpec,
    pub tensors: HashMap<String, RawTensor>,
    /// Hash of the file's bytes: the key of the process-wide weight cache.
    pub content_hash: u64,
}

/// Reads and validates a model file from disk.
pub fn read_file(path: &Path) -> Result<ModelFile, NnError> {
    let meta = std::fs::metadata(path).map_err(|e| NnError::Io {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(NnError::TooLarge {
            bytes: meta.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| NnError::Io {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    parse(&bytes)
}

/// Parses and validates a model file held in memory. Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Result<ModelFile, NnError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(NnError::TooLarge {
            bytes: bytes.len() as u64,
            limit: MAX_FILE_BYTES,
        });
    }
    // The header length is the first 8 bytes; the crate bounds it by the buffer (and by its
    // own 100 MB cap) before reading, so a lying length cannot make it allocate.
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| NnError::Container(format!("{e}")))?;
    let text = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or_else(|| {
            NnError::Metadata(format!(
                "no `{METADATA_KEY}` entry in the file's metadata: this is not a PlateRestore model (see docs/model-format.md)"
            ))
        })?;
    let spec = ModelSpec::from_json(text)?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| NnError::Container(format!("{e}")))?;

    let expected = spec.expected_tensors();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in &names {
        if !expected.iter().any(|(n, _)| n == name) {
            return Err(NnError::Tensor {
                name: name.clone(),
                problem: format!(
                    "is not part of a {} v{} network with these settings",
                    spec.architecture, spec.architecture_version
                ),
            });
        }
    }
    let mut tensors = HashMap::with_capacity(expected.len());
    for (name, shape) in expected {
        let view = st.tensor(&name).map_err(|_| NnError::Tensor {
            name: name.clone(),
            problem: "is missing".into(),
        })?;
        if view.shape() != shape.as_slice() {
            return Err(NnError::Tensor {
                name,
                problem: format!("has shape {:?}, expected {:?}", view.shape(), shape),
            });
        }
        let values = to_f32(view.dtype(), view.data()).ok_or_else(|| NnError::Tensor {
            name: name.clone(),
            problem: format!("has dtype {:?}; supported: F32, F16, BF16", view.dtype()),
        })?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(NnError::Tensor {
                name,
                problem: format!("has a non-finite value ({}) at element {i}", values[i]),
            });
        }
        tensors.insert(name, RawTensor { shape, values });
    }
    Ok(ModelFile {
        spec,
        tensors,
        content_hash: content_hash(bytes),
    })
}

/// Little-endian element bytes → f32; `None` for a dtype the engine does not take.
/// The crate has already checked that the byte count matches shape × element size.
fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F32 => Some(
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(
            data.chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        Dtype::BF16 => Some(
            data.chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        _ => None,
    }
}

/// FNV-1a over the bytes: stable across runs and machines (the cache key and the id logs show).
pub fn content_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
