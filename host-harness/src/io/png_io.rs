//! PNG: 8 and 16 bit, grey/RGB with or without alpha. Code values are copied, never sent
//! through float, so a PNG round trip is bit exact. PNG alpha is straight (unpremultiplied).

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use crate::image::{BitDepth, Components, HostImage, Premult, Rect};

use super::error::IoError;
use super::format::ImageFormat;
use super::{file_row_to_y, MAX_DECODE_BYTES};

const FORMAT: ImageFormat = ImageFormat::Png;

fn decode_err(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::Decode {
        path: path.to_path_buf(),
        format: FORMAT,
        reason: e.to_string(),
    }
}

/// DEFLATE cannot expand data by more than about 1032:1 (RFC 1951: a 258-byte match in
/// ~2 bits), plus PNG's filter bytes.
const MAX_RATIO: u64 = 1100;

pub(crate) fn read(path: &Path, file: File) -> Result<HostImage, IoError> {
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut decoder = png::Decoder::new_with_limits(
        BufReader::new(file),
        png::Limits {
            bytes: MAX_DECODE_BYTES,
        },
    );
    // Palettes, sub-byte grey and tRNS become plain 8-bit channels; 16 bit stays 16 bit.
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| decode_err(path, e))?;
    let (color, bits) = reader.output_color_type();
    {
        let info = reader.info();
        let bpp = (color.samples() * if bits == png::BitDepth::Sixteen { 2 } else { 1 }) as u64;
        super::check_declared_size(
            path,
            FORMAT,
            (info.width as u64, info.height as u64),
            bpp,
            file_len,
            MAX_RATIO,
        )?;
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| decode_err(path, "image too large"))?;
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| decode_err(path, e))?;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let line = frame.line_size;

    let (file_channels, components, premult) = match color {
        png::ColorType::Grayscale => (1, Components::Rgb, Premult::Opaque),
        png::ColorType::GrayscaleAlpha => (2, Components::Rgba, Premult::UnPreMultiplied),
        png::ColorType::Rgb => (3, Components::Rgb, Premult::Opaque),
        png::ColorType::Rgba => (4, Components::Rgba, Premult::UnPreMultiplied),
        png::ColorType::Indexed => {
            return Err(decode_err(path, "palette was not expanded"));
        }
    };
    let depth = match bits {
        png::BitDepth::Eight => BitDepth::Byte,
        png::BitDepth::Sixteen => BitDepth::Short,
        other => {
            return Err(decode_err(
                path,
                format!("{other:?}-bit samples were not expanded"),
            ))
        }
    };
    let bounds = super::bounds_for_size(path, FORMAT, w as u64, h as u64)?;
    let mut img = HostImage::new(bounds, depth, components);
    img.set_premult(premult);
    let bpc = depth.bytes();
    for r in 0..h {
        let src = &buf[r * line..r * line + w * file_channels * bpc];
        let dst = img.row_bytes_mut(file_row_to_y(bounds, r));
        copy_expanding_grey(src, dst, file_channels, bpc, true);
    }
    Ok(img)
}

/// Copies one row of big-endian (`from_be`) or native samples into native-endian host samples,
/// turning grey into RGB and grey+alpha into RGBA by repeating the grey sample.
pub(crate) fn copy_expanding_grey(
    src: &[u8],
    dst: &mut [u8],
    file_channels: usize,
    bpc: usize,
    from_be: bool,
) {
    let sample = |s: &[u8], d: &mut [u8]| {
        if bpc == 2 {
            let v = if from_be {
                u16::from_be_bytes([s[0], s[1]])
            } else {
                u16::from_ne_bytes([s[0], s[1]])
            };
            d.copy_from_slice(&v.to_ne_bytes());
        } else {
            d.copy_from_slice(s);
        }
    };
    // Which file channel feeds each host channel.
    let map: &[usize] = match file_channels {
        1 => &[0, 0, 0],
        2 => &[0, 0, 0, 1],
        3 => &[0, 1, 2],
        _ => &[0, 1, 2, 3],
    };
    let (sp, dp) = (file_channels * bpc, map.len() * bpc);
    for (s, d) in src.chunks_exact(sp).zip(dst.chunks_exact_mut(dp)) {
        for (i, &c) in map.iter().enumerate() {
            sample(&s[c * bpc..(c + 1) * bpc], &mut d[i * bpc..(i + 1) * bpc]);
        }
    }
}

/// Encodes `img` (already at a PNG depth) into `out`. Alpha-only images are written as grey.
pub(crate) fn write<W: Write>(path: &Path, img: &HostImage, out: W) -> Result<(), IoError> {
    let b = img.bounds();
    let enc_err = |e: png::EncodingError| IoError::Encode {
        path: path.to_path_buf(),
        format: FORMAT,
        reason: e.to_string(),
    };
    let mut enc = png::Encoder::new(out, b.width() as u32, b.height() as u32);
    enc.set_color(match img.components() {
        Components::Rgba => png::ColorType::Rgba,
        Components::Rgb => png::ColorType::Rgb,
        Components::Alpha => png::ColorType::Grayscale,
    });
    enc.set_depth(match img.depth() {
        BitDepth::Byte => png::BitDepth::Eight,
        _ => png::BitDepth::Sixteen,
    });
    // Plates are large and noisy: the fast deflate mode costs little size and much less time.
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().map_err(enc_err)?;
    let data = file_order_bytes(img, b, true);
    writer.write_image_data(&data).map_err(enc_err)?;
    writer.finish().map_err(enc_err)
}

/// The image's rows top (`y2 - 1`) first, 16-bit samples big-endian when `to_be`.
pub(crate) fn file_order_bytes(img: &HostImage, b: Rect, to_be: bool) -> Vec<u8> {
    let mut data = Vec::with_capacity(img.layout().packed_row_bytes() * b.height() as usize);
    for r in 0..b.height() as usize {
        let row = img.row(file_row_to_y(b, r));
        if img.depth() == BitDepth::Short && to_be {
            for s in row.chunks_exact(2) {
                data.extend_from_slice(&u16::from_ne_bytes([s[0], s[1]]).to_be_bytes());
            }
        } else {
            data.extend_from_slice(row);
        }
    }
    data
}
