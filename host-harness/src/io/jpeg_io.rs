//! JPEG input (the usual delivery format of generated plates): 8-bit grey/RGB become 8-bit RGB;
//! 12/16-bit lossless grey becomes 16-bit RGB scaled to the full 16-bit range.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use jpeg_decoder::{Decoder, PixelFormat};

use crate::image::{BitDepth, Components, HostImage, Premult};

use super::error::IoError;
use super::file_row_to_y;
use super::format::ImageFormat;
use super::png_io::copy_expanding_grey;

const FORMAT: ImageFormat = ImageFormat::Jpeg;

fn decode_err(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::Decode {
        path: path.to_path_buf(),
        format: FORMAT,
        reason: e.to_string(),
    }
}

pub(crate) fn read(path: &Path, file: File) -> Result<HostImage, IoError> {
    let mut bytes = Vec::new();
    BufReader::new(file)
        .read_to_end(&mut bytes)
        .map_err(|source| IoError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let mut dec = Decoder::new(&bytes[..]);
    dec.set_max_decoding_buffer_size(super::MAX_DECODE_BYTES);
    dec.read_info().map_err(|e| decode_err(path, e))?;
    if let Some(info) = dec.info() {
        // Baseline JPEG spends at least a few bits per 8×8 block and channel: 2048:1 is a
        // generous bound on what a file can expand to.
        super::check_declared_size(
            path,
            FORMAT,
            (info.width as u64, info.height as u64),
            3,
            bytes.len() as u64,
            2048,
        )?;
    }
    let pixels = dec.decode().map_err(|e| decode_err(path, e))?;
    let info = dec
        .info()
        .ok_or_else(|| decode_err(path, "no frame header"))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let bounds = super::bounds_for_size(path, FORMAT, w as u64, h as u64)?;
    let (file_channels, depth) = match info.pixel_format {
        PixelFormat::L8 => (1, BitDepth::Byte),
        PixelFormat::RGB24 => (3, BitDepth::Byte),
        PixelFormat::L16 => (1, BitDepth::Short),
        PixelFormat::CMYK32 => {
            return Err(IoError::UnsupportedContent {
                path: path.to_path_buf(),
                format: FORMAT,
                what: "CMYK pixels".into(),
                fix: "convert it to RGB (print-oriented JPEGs are CMYK)".into(),
            })
        }
    };
    let bpc = depth.bytes();
    let line = w * file_channels * bpc;
    if pixels.len() < line * h {
        return Err(decode_err(
            path,
            "decoded fewer pixels than the header declares",
        ));
    }
    let mut img = HostImage::new(bounds, depth, Components::Rgb);
    img.set_premult(Premult::Opaque);
    // Lossless JPEG keeps its sample precision (e.g. 12 bit): stretch codes to 0..65535 so
    // 1.0 means white whatever the precision.
    let precision_max = if depth == BitDepth::Short {
        let p = u32::from(frame_precision(&bytes).unwrap_or(16).clamp(9, 16));
        (1u32 << p) - 1
    } else {
        255
    };
    for r in 0..h {
        let dst = img.row_bytes_mut(file_row_to_y(bounds, r));
        copy_expanding_grey(
            &pixels[r * line..(r + 1) * line],
            dst,
            file_channels,
            bpc,
            false,
        );
        if depth == BitDepth::Short && precision_max != 65535 {
            for s in dst.chunks_exact_mut(2) {
                let v = stretch_to_16_bit(u16::from_ne_bytes([s[0], s[1]]), precision_max);
                s.copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
    Ok(img)
}

/// Maps a code value of a `precision_max`-white scale to 0..65535, rounding to nearest.
fn stretch_to_16_bit(v: u16, precision_max: u32) -> u16 {
    let scaled = (u32::from(v) * 65535 + precision_max / 2) / precision_max.max(1);
    scaled.min(65535) as u16
}

/// Sample precision from the frame header (SOFn), which the decoder does not report: walks
/// the marker segments from SOI (ITU-T T.81, B.1.1.3 and B.2.2).
fn frame_precision(jpeg: &[u8]) -> Option<u8> {
    if jpeg.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    loop {
        // Fill bytes (0xFF repeated) may precede a marker.
        while *jpeg.get(i)? == 0xFF && *jpeg.get(i + 1)? == 0xFF {
            i += 1;
        }
        if *jpeg.get(i)? != 0xFF {
            return None;
        }
        let marker = *jpeg.get(i + 1)?;
        let len = usize::from(u16::from_be_bytes([*jpeg.get(i + 2)?, *jpeg.get(i + 3)?]));
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            return jpeg.get(i + 4).copied();
        }
        if marker == 0xDA || len < 2 {
            return None;
        }
        i += 2 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_bit_codes_stretch_to_the_full_16_bit_range() {
        assert_eq!(stretch_to_16_bit(0, 4095), 0);
        assert_eq!(stretch_to_16_bit(4095, 4095), 65535);
        // 2048 × 65535 / 4095 = 32775.99…
        assert_eq!(stretch_to_16_bit(2048, 4095), 32776);
        // Out-of-range codes (a corrupt stream) clamp instead of wrapping.
        assert_eq!(stretch_to_16_bit(5000, 4095), 65535);
    }

    #[test]
    fn frame_precision_is_read_from_the_frame_header() {
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&[128; 8 * 8 * 3], 8, 8, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert_eq!(frame_precision(&jpeg), Some(8));
        // A hand-made lossless (SOF3) header after an APP0 segment: precision 12.
        let mut sof3 = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB];
        sof3.extend([0xFF, 0xC3, 0x00, 0x0B, 12, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        assert_eq!(frame_precision(&sof3), Some(12));
        // Garbage, truncation and a scan before any frame header give no answer.
        assert_eq!(frame_precision(b"not a jpeg"), None);
        assert_eq!(frame_precision(&sof3[..9]), None);
        assert_eq!(frame_precision(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), None);
    }
}
