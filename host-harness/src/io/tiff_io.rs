//! TIFF: 8/16-bit integer and 32-bit float (half is read too), grey/RGB with or without alpha.
//! Integer code values are copied exactly; alpha association comes from the ExtraSamples tag.

use std::fs::File;
use std::io::{BufReader, Seek, Write};
use std::path::Path;

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::encoder::{colortype, compression::DeflateLevel, Compression, TiffEncoder};
use tiff::tags::{ExtraSamples, Tag};
use tiff::ColorType;

use crate::image::{BitDepth, Components, HostImage, Premult};

use super::error::IoError;
use super::format::ImageFormat;
use super::png_io::{copy_expanding_grey, file_order_bytes};
use super::{file_row_to_y, MAX_DECODE_BYTES};

const FORMAT: ImageFormat = ImageFormat::Tiff;

fn decode_err(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::Decode {
        path: path.to_path_buf(),
        format: FORMAT,
        reason: e.to_string(),
    }
}

fn unsupported(path: &Path, what: String) -> IoError {
    IoError::UnsupportedContent {
        path: path.to_path_buf(),
        format: FORMAT,
        what,
        fix: "save it as 8/16-bit integer or 32-bit float grey/RGB/RGBA (chunky, not planar)"
            .into(),
    }
}

pub(crate) fn read(path: &Path, file: File) -> Result<HostImage, IoError> {
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut limits = Limits::default();
    limits.decoding_buffer_size = MAX_DECODE_BYTES;
    let mut dec = Decoder::new(BufReader::new(file))
        .map_err(|e| decode_err(path, e))?
        .with_limits(limits);
    let (w, h) = dec.dimensions().map_err(|e| decode_err(path, e))?;
    let color = dec.colortype().map_err(|e| decode_err(path, e))?;
    let (file_channels, components) = match color {
        ColorType::Gray(_) => (1, Components::Rgb),
        ColorType::GrayA(_) => (2, Components::Rgba),
        ColorType::RGB(_) => (3, Components::Rgb),
        ColorType::RGBA(_) => (4, Components::Rgba),
        other => return Err(unsupported(path, format!("{other:?} pixels"))),
    };
    // LZW and Deflate strips expand at most a few thousand to one.
    super::check_declared_size(
        path,
        FORMAT,
        (w as u64, h as u64),
        file_channels as u64 * color.bit_depth().div_ceil(8) as u64,
        file_len,
        4096,
    )?;
    let premult = if file_channels == 2 || file_channels == 4 {
        // ExtraSamples 1 = associated (premultiplied) alpha; 0/2 or absent = straight.
        let assoc = dec
            .find_tag(Tag::ExtraSamples)
            .ok()
            .flatten()
            .and_then(|v| v.into_u16_vec().ok())
            .and_then(|v| v.first().copied());
        if assoc == Some(1) {
            Premult::PreMultiplied
        } else {
            Premult::UnPreMultiplied
        }
    } else {
        Premult::Opaque
    };
    let data = dec.read_image().map_err(|e| decode_err(path, e))?;
    let bounds = super::bounds_for_size(path, FORMAT, w as u64, h as u64)?;
    let (wu, hu) = (w as usize, h as usize);
    let samples = wu * hu * file_channels;
    let (depth, bytes): (BitDepth, Vec<u8>) = match data {
        DecodingResult::U8(v) if v.len() == samples => (BitDepth::Byte, v),
        DecodingResult::U16(v) if v.len() == samples => (
            BitDepth::Short,
            v.iter().flat_map(|s| s.to_ne_bytes()).collect(),
        ),
        DecodingResult::F16(v) if v.len() == samples => (
            BitDepth::Half,
            v.iter().flat_map(|s| s.to_bits().to_ne_bytes()).collect(),
        ),
        DecodingResult::F32(v) if v.len() == samples => (
            BitDepth::Float,
            v.iter().flat_map(|s| s.to_ne_bytes()).collect(),
        ),
        DecodingResult::U8(_)
        | DecodingResult::U16(_)
        | DecodingResult::F16(_)
        | DecodingResult::F32(_) => {
            return Err(unsupported(
                path,
                "a planar, sub-sampled or sub-byte sample layout".into(),
            ))
        }
        _ => return Err(unsupported(path, format!("{color:?} samples of this type"))),
    };
    let mut img = HostImage::new(bounds, depth, components);
    img.set_premult(premult);
    let bpc = depth.bytes();
    let line = wu * file_channels * bpc;
    for r in 0..hu {
        let dst = img.row_bytes_mut(file_row_to_y(bounds, r));
        copy_wide(&bytes[r * line..(r + 1) * line], dst, file_channels, bpc);
    }
    Ok(img)
}

/// As `copy_expanding_grey` for native samples, but also for 4-byte (float) samples.
fn copy_wide(src: &[u8], dst: &mut [u8], file_channels: usize, bpc: usize) {
    if bpc <= 2 {
        copy_expanding_grey(src, dst, file_channels, bpc, false);
        return;
    }
    let map: &[usize] = match file_channels {
        1 => &[0, 0, 0],
        2 => &[0, 0, 0, 1],
        3 => &[0, 1, 2],
        _ => &[0, 1, 2, 3],
    };
    for (s, d) in src
        .chunks_exact(file_channels * bpc)
        .zip(dst.chunks_exact_mut(map.len() * bpc))
    {
        for (i, &c) in map.iter().enumerate() {
            d[i * bpc..(i + 1) * bpc].copy_from_slice(&s[c * bpc..(c + 1) * bpc]);
        }
    }
}

/// Encodes `img` (already at a TIFF depth) into `out`, deflate-compressed. Alpha-only images
/// are written as grey; RGBA marks its alpha associated or not from the image's premult state.
pub(crate) fn write<W: Write + Seek>(path: &Path, img: &HostImage, out: W) -> Result<(), IoError> {
    let enc_err = |e: tiff::TiffError| IoError::Encode {
        path: path.to_path_buf(),
        format: FORMAT,
        reason: e.to_string(),
    };
    let b = img.bounds();
    let (w, h) = (b.width() as u32, b.height() as u32);
    let mut enc = TiffEncoder::new(out)
        .map_err(enc_err)?
        .with_compression(Compression::Deflate(DeflateLevel::Fast));
    let raw = file_order_bytes(img, b, false);
    let alpha = if img.premult() == Premult::PreMultiplied {
        ExtraSamples::AssociatedAlpha
    } else {
        ExtraSamples::UnassociatedAlpha
    };
    let u16s = || -> Vec<u16> {
        raw.chunks_exact(2)
            .map(|s| u16::from_ne_bytes([s[0], s[1]]))
            .collect()
    };
    let f32s = || -> Vec<f32> {
        raw.chunks_exact(4)
            .map(|s| f32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
            .collect()
    };

    // RGBA is written as RGB plus one ExtraSamples entry: the standard way to say what the
    // fourth sample is (readers otherwise have to guess).
    macro_rules! rgba {
        ($ct:ty, $data:expr) => {{
            let mut image = enc.new_image::<$ct>(w, h).map_err(enc_err)?;
            image.extra_samples(&[alpha]).map_err(enc_err)?;
            image.write_data($data).map_err(enc_err)
        }};
    }
    match (img.components(), img.depth()) {
        (Components::Rgba, BitDepth::Byte) => rgba!(colortype::RGB8, &raw),
        (Components::Rgba, BitDepth::Short) => rgba!(colortype::RGB16, &u16s()),
        (Components::Rgba, BitDepth::Float) => rgba!(colortype::RGB32Float, &f32s()),
        (Components::Rgb, BitDepth::Byte) => enc
            .write_image::<colortype::RGB8>(w, h, &raw)
            .map_err(enc_err),
        (Components::Rgb, BitDepth::Short) => enc
            .write_image::<colortype::RGB16>(w, h, &u16s())
            .map_err(enc_err),
        (Components::Rgb, BitDepth::Float) => enc
            .write_image::<colortype::RGB32Float>(w, h, &f32s())
            .map_err(enc_err),
        (Components::Alpha, BitDepth::Byte) => enc
            .write_image::<colortype::Gray8>(w, h, &raw)
            .map_err(enc_err),
        (Components::Alpha, BitDepth::Short) => enc
            .write_image::<colortype::Gray16>(w, h, &u16s())
            .map_err(enc_err),
        (Components::Alpha, BitDepth::Float) => enc
            .write_image::<colortype::Gray32Float>(w, h, &f32s())
            .map_err(enc_err),
        (_, BitDepth::Half) => Err(IoError::DepthNotSupported {
            path: path.to_path_buf(),
            format: FORMAT,
            depth: BitDepth::Half,
            supported: "8-bit, 16-bit, 32-bit float".into(),
        }),
    }
}
