//! File formats the harness reads and writes, chosen by extension, and the pixel depths each can
//! hold without a conversion.

use std::fmt;
use std::path::Path;

use crate::image::BitDepth;

use super::error::{depth_name, IoError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// OpenEXR: half or 32-bit float, any data window.
    Exr,
    /// PNG: 8 or 16 bit integer.
    Png,
    /// TIFF: 8 or 16 bit integer, or 32-bit float.
    Tiff,
    /// JPEG: read only (8-bit baseline/progressive; 16-bit lossless grey).
    Jpeg,
    /// DPX: read only (RGB/RGBA, 8, 10 or 16 bit).
    Dpx,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 5] = [
        ImageFormat::Exr,
        ImageFormat::Png,
        ImageFormat::Tiff,
        ImageFormat::Jpeg,
        ImageFormat::Dpx,
    ];

    /// Lower-case extensions (without the dot) that select this format.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            ImageFormat::Exr => &["exr"],
            ImageFormat::Png => &["png"],
            ImageFormat::Tiff => &["tif", "tiff"],
            ImageFormat::Jpeg => &["jpg", "jpeg"],
            ImageFormat::Dpx => &["dpx"],
        }
    }

    /// Picks the format from the file extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<ImageFormat, IoError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        ext.and_then(|ext| {
            ImageFormat::ALL
                .into_iter()
                .find(|f| f.extensions().contains(&ext.as_str()))
        })
        .ok_or_else(|| IoError::UnsupportedExtension {
            path: path.to_path_buf(),
            supported: ImageFormat::supported_extensions(),
        })
    }

    /// "`.exr`, `.png`, …" for messages and `--help`.
    pub fn supported_extensions() -> String {
        ImageFormat::ALL
            .iter()
            .flat_map(|f| f.extensions())
            .map(|e| format!(".{e}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn can_write(self) -> bool {
        !matches!(self, ImageFormat::Jpeg | ImageFormat::Dpx)
    }

    /// Depths a file of this format can be written with, best first.
    pub fn writable_depths(self) -> &'static [BitDepth] {
        match self {
            ImageFormat::Exr => &[BitDepth::Float, BitDepth::Half],
            ImageFormat::Png => &[BitDepth::Short, BitDepth::Byte],
            ImageFormat::Tiff => &[BitDepth::Short, BitDepth::Byte, BitDepth::Float],
            ImageFormat::Jpeg | ImageFormat::Dpx => &[],
        }
    }

    /// The depth used when an image of `depth` is written without an explicit request: the
    /// image's own depth if the format holds it exactly, else the closest it can hold
    /// (integer into EXR → float, which holds every 8/16-bit code value; float into PNG →
    /// 16 bit; half into TIFF → 32-bit float, which holds every half exactly).
    pub fn default_depth_for(self, depth: BitDepth) -> Option<BitDepth> {
        if self.writable_depths().contains(&depth) {
            return Some(depth);
        }
        match self {
            ImageFormat::Exr => Some(BitDepth::Float),
            ImageFormat::Png => Some(BitDepth::Short),
            ImageFormat::Tiff => Some(BitDepth::Float),
            ImageFormat::Jpeg | ImageFormat::Dpx => None,
        }
    }

    /// Checks an explicit depth request against the format.
    pub(crate) fn check_depth(self, path: &Path, depth: BitDepth) -> Result<(), IoError> {
        if !self.can_write() {
            return Err(IoError::ReadOnlyFormat {
                path: path.to_path_buf(),
                format: self,
            });
        }
        if self.writable_depths().contains(&depth) {
            Ok(())
        } else {
            Err(IoError::DepthNotSupported {
                path: path.to_path_buf(),
                format: self,
                depth,
                supported: self
                    .writable_depths()
                    .iter()
                    .map(|d| depth_name(*d))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Exr => "OpenEXR",
            ImageFormat::Png => "PNG",
            ImageFormat::Tiff => "TIFF",
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Dpx => "DPX",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_picks_format_case_insensitively() {
        assert_eq!(
            ImageFormat::from_path(Path::new("a/b.0001.EXR")).unwrap(),
            ImageFormat::Exr
        );
        assert_eq!(
            ImageFormat::from_path(Path::new("x.tiff")).unwrap(),
            ImageFormat::Tiff
        );
        assert_eq!(
            ImageFormat::from_path(Path::new("x.Jpeg")).unwrap(),
            ImageFormat::Jpeg
        );
    }

    #[test]
    fn unknown_extension_lists_the_supported_ones() {
        for p in ["plate.cin", "plate", "plate.png.bak"] {
            let e = ImageFormat::from_path(Path::new(p)).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(p), "{msg}");
            for ext in [".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".dpx"] {
                assert!(msg.contains(ext), "{msg} lacks {ext}");
            }
        }
    }

    #[test]
    fn depth_requests_are_checked_per_format() {
        let p = Path::new("o.png");
        assert!(ImageFormat::Png.check_depth(p, BitDepth::Short).is_ok());
        let e = ImageFormat::Png
            .check_depth(p, BitDepth::Half)
            .unwrap_err()
            .to_string();
        assert!(e.contains("half float") && e.contains("16-bit") && e.contains("o.png"));
        assert!(ImageFormat::Exr.check_depth(p, BitDepth::Byte).is_err());
        assert!(matches!(
            ImageFormat::Jpeg.check_depth(p, BitDepth::Byte),
            Err(IoError::ReadOnlyFormat { .. })
        ));
        assert_eq!(
            ImageFormat::Exr.default_depth_for(BitDepth::Byte),
            Some(BitDepth::Float)
        );
        assert_eq!(
            ImageFormat::Tiff.default_depth_for(BitDepth::Half),
            Some(BitDepth::Float)
        );
        assert_eq!(
            ImageFormat::Png.default_depth_for(BitDepth::Byte),
            Some(BitDepth::Byte)
        );
    }
}
