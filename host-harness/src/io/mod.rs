//! Image files and sequences for `ofxrun`: EXR, PNG, TIFF, JPEG and DPX in and out of `HostImage`,
//! frame patterns and ranges, safe (atomic, no-clobber) writes, progress reporting and the
//! built-in default plate.
//!
//! Orientation: files store the top row first; OFX images have y pointing up. The first row of
//! a file therefore lands in row `bounds.y2 - 1`, and a file read and written back is unchanged.
//! Integer files (8/16 bit) map to `Byte`/`Short` by copying code values, never through float;
//! EXR maps to `Half`/`Float` bit for bit.
//!
//! A sequence render, as `ofxrun` drives it:
//!
//! ```no_run
//! use ofx_harness::io::*;
//! # fn main() -> Result<(), IoError> {
//! let input = FramePattern::parse("plates/shot010.####.png")?;
//! let output = FramePattern::parse("out/shot010.%04d.exr")?;
//! let frames = resolve_input_frames(&input, Some(&FrameList::parse("1-48")?))?;
//! let options = WriteOptions { overwrite: false, ..WriteOptions::default() };
//! let mut progress = Progress::new(frames.len(), ProgressMode::Auto);
//! for &frame in &frames {
//!     let (plate, info) = read_image_with_info(input.path_for(frame))?;
//!     let rendered = plate; // … the effect chain runs here …
//!     let options = WriteOptions { display_window: Some(info.display_window), ..options.clone() };
//!     write_image(output.path_for(frame), &rendered, &options)?;
//!     progress.frame_done(frame);
//! }
//! progress.finish();
//! # Ok(())
//! # }
//! ```

mod default_input;
mod dpx_io;
mod error;
mod exr_io;
mod format;
mod jpeg_io;
mod png_io;
mod progress;
mod safe_write;
mod sequence;
mod tiff_io;

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::image::{BitDepth, HostImage, Rect};

pub use default_input::{
    default_input, default_input_frame, default_input_sequence, DEFAULT_INPUT_SIZE,
};
pub use error::IoError;
pub use exr_io::{read_header as read_exr_header, ExrCompression, ExrHeader, DWA_DEFAULT_LEVEL};
pub use format::ImageFormat;
pub use progress::{format_duration, Progress, ProgressMode};
pub use safe_write::{write_atomically, TEMP_PREFIX};
pub use sequence::{resolve_input_frames, FrameList, FramePattern};

/// Decoders refuse images whose pixels would need more memory than this (a corrupt header must
/// not exhaust the machine; 4 GiB still holds a 16K 16-bit RGBA frame).
pub(crate) const MAX_DECODE_BYTES: usize = u32::MAX as usize;

/// Environment variable that sets the largest image (width × height) a decoder accepts.
pub const MAX_PIXELS_ENV: &str = "OFXRUN_MAX_PIXELS";

/// Default for [`MAX_PIXELS_ENV`]: 2³⁰ pixels (a 32K × 32K frame; 16K × 16K is 2²⁸).
pub const DEFAULT_MAX_PIXELS: u64 = 1 << 30;

/// The largest image a decoder accepts, in pixels.
pub fn max_pixels() -> u64 {
    std::env::var(MAX_PIXELS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&v| v > 0)
        .unwrap_or(DEFAULT_MAX_PIXELS)
}

/// Checks a header's declared size before anything is allocated for it: against
/// [`max_pixels`], against [`MAX_DECODE_BYTES`] for `bytes_per_pixel`, and against what the
/// file can hold: a file of `file_len` bytes whose codec compresses at most `max_ratio`:1 cannot
/// decode to more than `file_len × max_ratio` bytes (a lying header is caught here).
pub(crate) fn check_declared_size(
    path: &Path,
    format: ImageFormat,
    (w, h): (u64, u64),
    bytes_per_pixel: u64,
    file_len: u64,
    max_ratio: u64,
) -> Result<(), IoError> {
    let refuse = |reason: String| IoError::DeclaredTooLarge {
        path: path.to_path_buf(),
        format,
        width: w,
        height: h,
        reason,
    };
    let pixels = w.saturating_mul(h);
    let limit = max_pixels();
    if pixels > limit {
        return Err(refuse(format!("more than the limit of {limit}")));
    }
    let bytes = pixels.saturating_mul(bytes_per_pixel);
    if bytes > MAX_DECODE_BYTES as u64 {
        return Err(refuse(format!(
            "{bytes} bytes decoded, more than the {MAX_DECODE_BYTES}-byte decode limit"
        )));
    }
    let can_hold = file_len.saturating_mul(max_ratio);
    if bytes > can_hold {
        return Err(refuse(format!(
            "{bytes} bytes of pixels, more than a {file_len}-byte {format} file can hold \
             ({max_ratio}:1 at most); the file is truncated or its header is wrong"
        )));
    }
    Ok(())
}

/// What a file said about itself beyond its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFileInfo {
    pub format: ImageFormat,
    /// The frame the pixels belong to, in OFX coordinates: EXR's display window (which the
    /// data window may differ from), else the image size at the origin. Pass it back in
    /// `WriteOptions::display_window` to keep an EXR's windows on write.
    pub display_window: Rect,
}

/// How `write_image` writes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteOptions {
    /// Replace an existing file (atomically); without it an existing file is an error.
    pub overwrite: bool,
    /// Depth stored in the file; `None` keeps the image's depth where the format holds it, else
    /// picks `ImageFormat::default_depth_for`. Converting float to integer clamps to 0..1.
    pub depth: Option<BitDepth>,
    /// EXR display window in OFX coordinates; `None` uses the image bounds when they start at
    /// the origin, else `(0, 0)–(x2, y2)`. Other formats store no origin.
    pub display_window: Option<Rect>,
    pub exr_compression: ExrCompression,
    /// EXR header attributes (chromaticities, frame rate, text); other formats ignore them.
    pub exr_header: ExrHeader,
}

/// Reads an image file; the format comes from the extension.
pub fn read_image(path: impl AsRef<Path>) -> Result<HostImage, IoError> {
    read_image_with_info(path).map(|(img, _)| img)
}

/// Reads an image file and what it says about its frame.
pub fn read_image_with_info(path: impl AsRef<Path>) -> Result<(HostImage, ImageFileInfo), IoError> {
    let path = path.as_ref();
    let format = ImageFormat::from_path(path)?;
    let open = || {
        File::open(path).map_err(|source| IoError::Open {
            path: path.to_path_buf(),
            source,
        })
    };
    let (img, display_window) = guard_codec(path, format, false, || match format {
        ImageFormat::Exr => {
            // The EXR reader opens the file itself; open it first for a clear error.
            drop(open()?);
            exr_io::read(path)
        }
        ImageFormat::Png => png_io::read(path, open()?).map(with_size_window),
        ImageFormat::Tiff => tiff_io::read(path, open()?).map(with_size_window),
        ImageFormat::Jpeg => jpeg_io::read(path, open()?).map(with_size_window),
        ImageFormat::Dpx => dpx_io::read(path, open()?).map(with_size_window),
    })?;
    Ok((
        img,
        ImageFileInfo {
            format,
            display_window,
        },
    ))
}

fn with_size_window(img: HostImage) -> (HostImage, Rect) {
    let b = img.bounds();
    (img, Rect::from_size(b.width(), b.height()))
}

/// Writes `img` to `path` (format from the extension) atomically: the directory is created,
/// an existing file is refused unless `options.overwrite`, and a failed write leaves any
/// previous file untouched.
///
/// Pixels are stored as given: PNG and straight-alpha TIFF expect unpremultiplied colour, EXR
/// premultiplied, so convert a `Premult::PreMultiplied` image before writing it as PNG (TIFF
/// records the image's premult state in its ExtraSamples tag instead).
pub fn write_image(
    path: impl AsRef<Path>,
    img: &HostImage,
    options: &WriteOptions,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let format = ImageFormat::from_path(path)?;
    let depth = match options.depth {
        Some(d) => d,
        None => format
            .default_depth_for(img.depth())
            .ok_or_else(|| IoError::ReadOnlyFormat {
                path: path.to_path_buf(),
                format,
            })?,
    };
    format.check_depth(path, depth)?;
    let b = img.bounds();
    if b.is_empty() {
        return Err(IoError::EmptyImage {
            path: path.to_path_buf(),
            width: b.width(),
            height: b.height(),
        });
    }
    // Before any encoding work: a farm re-run skips finished frames cheaply.
    if !options.overwrite && path.symlink_metadata().is_ok() {
        return Err(IoError::OutputExists {
            path: path.to_path_buf(),
        });
    }
    let converted;
    let img = if depth == img.depth() {
        img
    } else {
        converted = img.converted(depth, img.components());
        &converted
    };
    let display = options.display_window.unwrap_or(if b.x1 == 0 && b.y1 == 0 {
        b
    } else {
        Rect::new(0, 0, b.x2.max(1), b.y2.max(1))
    });
    write_atomically(path, options.overwrite, |out| {
        guard_codec(path, format, true, || match format {
            ImageFormat::Exr => exr_io::write(
                path,
                img,
                display,
                options.exr_compression,
                &options.exr_header,
                out,
            ),
            ImageFormat::Png => png_io::write(path, img, out),
            ImageFormat::Tiff => tiff_io::write(path, img, out),
            ImageFormat::Jpeg | ImageFormat::Dpx => Err(IoError::ReadOnlyFormat {
                path: path.to_path_buf(),
                format,
            }),
        })
    })
}

/// Runs third-party codec code so that a panic on a malformed file becomes an error naming the
/// file instead of taking down a batch render.
fn guard_codec<T>(
    path: &Path,
    format: ImageFormat,
    writing: bool,
    f: impl FnOnce() -> Result<T, IoError>,
) -> Result<T, IoError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        let reason = format!("the {format} codec failed internally: {reason}");
        let path = path.to_path_buf();
        Err(if writing {
            IoError::Encode {
                path,
                format,
                reason,
            }
        } else {
            IoError::Decode {
                path,
                format,
                reason,
            }
        })
    })
}

/// The OFX row (y) that holds row `r` of a file stored top row first.
pub(crate) fn file_row_to_y(bounds: Rect, r: usize) -> i32 {
    bounds.y2 - 1 - r as i32
}

/// `w × h` at the origin, refusing sizes an OFX rectangle cannot express.
pub(crate) fn bounds_for_size(
    path: &Path,
    format: ImageFormat,
    w: u64,
    h: u64,
) -> Result<Rect, IoError> {
    checked_rect(path, format, 0, 0, w, h)
}

pub(crate) fn checked_rect(
    path: &Path,
    format: ImageFormat,
    x1: i64,
    y1: i64,
    w: u64,
    h: u64,
) -> Result<Rect, IoError> {
    let fits = |v: i64| i32::try_from(v).is_ok();
    let (x2, y2) = (x1 + w as i64, y1 + h as i64);
    if w > i32::MAX as u64 || h > i32::MAX as u64 || ![x1, y1, x2, y2].into_iter().all(fits) {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            format,
            width: w as i64,
            height: h as i64,
        });
    }
    Ok(Rect::new(x1 as i32, y1 as i32, x2 as i32, y2 as i32))
}
