//! The one error type of image I/O. Every message names the file (and frame, for sequences) and
//! says what to do about it, because these messages are what a user of `ofxrun` reads.

use std::path::PathBuf;

use crate::image::BitDepth;

use super::format::ImageFormat;

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error(
        "{}: unsupported file extension; use one of {supported} (the format is chosen by extension)",
        path.display()
    )]
    UnsupportedExtension { path: PathBuf, supported: String },

    #[error("{}: cannot open for reading: {source}; check the path and its permissions", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: not a readable {format} file ({reason}); re-export it or check it is not truncated", path.display())]
    Decode {
        path: PathBuf,
        format: ImageFormat,
        reason: String,
    },

    #[error("{}: the {format} file holds {what}, which the harness does not read; {fix}", path.display())]
    UnsupportedContent {
        path: PathBuf,
        format: ImageFormat,
        what: String,
        fix: String,
    },

    #[error(
        "{}: {format} cannot store {} pixels; ask for one of {supported}, or write .exr for float data",
        path.display(), depth_name(*depth)
    )]
    DepthNotSupported {
        path: PathBuf,
        format: ImageFormat,
        depth: BitDepth,
        supported: String,
    },

    #[error("{}: {format} is read-only here; write .exr, .png or .tif instead", path.display())]
    ReadOnlyFormat { path: PathBuf, format: ImageFormat },

    #[error("{}: the image is empty ({width}x{height}); nothing to write", path.display())]
    EmptyImage {
        path: PathBuf,
        width: i32,
        height: i32,
    },

    #[error("{}: the {format} header declares {width}x{height} pixels, {reason}; refused before allocating (the limit is set by {}, in pixels)", path.display(), super::MAX_PIXELS_ENV)]
    DeclaredTooLarge {
        path: PathBuf,
        format: ImageFormat,
        width: u64,
        height: u64,
        reason: String,
    },

    #[error("{}: {width}x{height} is too large for {format}", path.display())]
    TooLarge {
        path: PathBuf,
        format: ImageFormat,
        width: i64,
        height: i64,
    },

    #[error("{}: encoding {format} failed: {reason}", path.display())]
    Encode {
        path: PathBuf,
        format: ImageFormat,
        reason: String,
    },

    #[error("{}: already exists; pass --overwrite to replace it", path.display())]
    OutputExists { path: PathBuf },

    #[error("{}: cannot create the output directory: {source}; check permissions or choose another output path", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: writing failed: {source}; the previous file, if any, was left untouched (check free disk space and permissions)", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("bad frame pattern '{pattern}': {reason}; use '#' per digit (plate.####.exr) or printf style (plate.%04d.exr)")]
    BadPattern { pattern: String, reason: String },

    #[error("bad frame range '{spec}': {reason}; write frames as 12, 1-48, 1-48x2 or a list such as 1,3,5-7")]
    BadFrameRange { spec: String, reason: String },

    #[error(
        "frame {frame} of '{pattern}' is missing: {} does not exist ({missing_count} of {requested} requested frames missing{}); render or copy the missing frames, or ask only for frames that exist{}",
        path.display(),
        if missing_list.is_empty() { String::new() } else { format!(": {missing_list}") },
        if available.is_empty() { String::new() } else { format!(" (on disk: {available})") }
    )]
    MissingFrame {
        pattern: String,
        frame: i64,
        path: PathBuf,
        missing_count: usize,
        requested: usize,
        missing_list: String,
        available: String,
    },

    #[error("no frames of '{pattern}' found in {}; check the directory and the pattern's padding (#### means four digits)", dir.display())]
    NoFrames { pattern: String, dir: PathBuf },

    #[error("{}: cannot list the directory: {source}", dir.display())]
    ListDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How a depth is called in messages a user reads (and what `--depth` accepts).
pub(crate) fn depth_name(depth: BitDepth) -> &'static str {
    match depth {
        BitDepth::Byte => "8-bit",
        BitDepth::Short => "16-bit",
        BitDepth::Half => "half float",
        BitDepth::Float => "32-bit float",
    }
}
