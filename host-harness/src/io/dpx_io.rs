//! DPX input (SMPTE 268M), the scanned-film and DI interchange format: the first image element,
//! RGB or RGBA, 8, 10 (packing 1, "filled to 32-bit words, method A") or 16 bits per sample,
//! big- or little-endian, uncompressed, top-to-bottom orientation. 8-bit becomes 8-bit RGBA;
//! 10- and 16-bit become 16-bit RGBA (10-bit codes scaled to the full 16-bit range, rounded).
//! Code values are copied as stored: a log (printing density) file stays log.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::image::{BitDepth, Components, HostImage, Premult};

use super::error::IoError;
use super::file_row_to_y;
use super::format::ImageFormat;

const FORMAT: ImageFormat = ImageFormat::Dpx;

/// "SDPX" read big-endian.
const MAGIC: u32 = 0x5344_5058;

fn decode_err(path: &Path, reason: impl Into<String>) -> IoError {
    IoError::Decode {
        path: path.to_path_buf(),
        format: FORMAT,
        reason: reason.into(),
    }
}

fn unsupported(path: &Path, what: String) -> IoError {
    IoError::UnsupportedContent {
        path: path.to_path_buf(),
        format: FORMAT,
        what,
        fix: "write RGB or RGBA DPX, 8/10/16-bit, uncompressed, 10-bit with packing 1 (filled, \
              method A), top-to-bottom — or convert the plate to EXR or TIFF"
            .into(),
    }
}

pub(crate) fn read(path: &Path, file: File) -> Result<HostImage, IoError> {
    let mut bytes = Vec::new();
    file.take(u32::MAX as u64)
        .read_to_end(&mut bytes)
        .map_err(|source| IoError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() < 1664 {
        return Err(decode_err(
            path,
            format!("{} bytes is shorter than a DPX header (1664)", bytes.len()),
        ));
    }
    let be = match u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) {
        MAGIC => true,
        m if m.swap_bytes() == MAGIC => false,
        _ => {
            return Err(decode_err(
                path,
                "no SDPX/XPDS magic number: not a DPX file",
            ))
        }
    };
    let u16_at = |o: usize| {
        let b = [bytes[o], bytes[o + 1]];
        if be {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let u32_at = |o: usize| {
        let b = [bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]];
        if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let orientation = u16_at(768);
    let (w, h) = (u32_at(772) as u64, u32_at(776) as u64);
    let descriptor = bytes[800];
    let bits = bytes[803];
    let packing = u16_at(804);
    let encoding = u16_at(806);
    let mut offset = u32_at(808) as usize;
    if offset == 0 || offset == u32::MAX as usize {
        offset = u32_at(4) as usize; // the file header's image offset
    }
    if orientation != 0 {
        return Err(unsupported(path, format!("orientation {orientation}")));
    }
    if encoding != 0 {
        return Err(unsupported(path, "run-length encoded pixels".into()));
    }
    let channels = match descriptor {
        50 => 3,
        51 => 4,
        d => {
            return Err(unsupported(
                path,
                format!("image descriptor {d} (not RGB/RGBA)"),
            ))
        }
    };
    if bits == 10 && packing != 1 {
        return Err(unsupported(path, format!("10-bit packing {packing}")));
    }
    // Bytes per row as stored.
    let samples = w.saturating_mul(channels);
    let row_bytes = match bits {
        8 => samples,
        10 => samples.div_ceil(3).saturating_mul(4),
        16 => samples.saturating_mul(2),
        b => return Err(unsupported(path, format!("{b} bits per sample"))),
    };
    // Uncompressed: the pixels must be in the file.
    super::check_declared_size(
        path,
        FORMAT,
        (w, h),
        if bits == 8 { 4 } else { 8 },
        bytes.len().saturating_sub(offset) as u64,
        4,
    )?;
    let need = row_bytes.saturating_mul(h) as usize;
    if offset > bytes.len() || bytes.len() - offset < need {
        return Err(decode_err(
            path,
            format!(
                "the header declares {w}x{h} pixels ({need} bytes from offset {offset}) but the file has {} bytes: truncated",
                bytes.len()
            ),
        ));
    }
    let bounds = super::bounds_for_size(path, FORMAT, w, h)?;
    let depth = if bits == 8 {
        BitDepth::Byte
    } else {
        BitDepth::Short
    };
    let mut img = HostImage::new(bounds, depth, Components::Rgba);
    img.set_premult(if channels == 4 {
        Premult::UnPreMultiplied
    } else {
        Premult::Opaque
    });
    let (w, h, c) = (w as usize, h as usize, channels as usize);
    let mut row_samples = vec![0u16; w * c];
    for r in 0..h {
        let src = &bytes[offset + r * row_bytes as usize..offset + (r + 1) * row_bytes as usize];
        match bits {
            8 => row_samples
                .iter_mut()
                .zip(src)
                .for_each(|(d, &s)| *d = s as u16),
            10 => {
                // Method A: three samples per 32-bit word in bits 31–22, 21–12, 11–2.
                for (i, d) in row_samples.iter_mut().enumerate() {
                    let o = (i / 3) * 4;
                    let word = u32_at_slice(&src[o..o + 4], be);
                    let v = (word >> (22 - 10 * (i % 3) as u32)) & 0x3ff;
                    *d = ((v * 65535 + 511) / 1023) as u16;
                }
            }
            _ => {
                for (i, d) in row_samples.iter_mut().enumerate() {
                    let b = [src[2 * i], src[2 * i + 1]];
                    *d = if be {
                        u16::from_be_bytes(b)
                    } else {
                        u16::from_le_bytes(b)
                    };
                }
            }
        }
        let y = file_row_to_y(bounds, r);
        let dst = img.row_bytes_mut(y);
        for x in 0..w {
            for ch in 0..4 {
                let v = if ch < c {
                    row_samples[x * c + ch]
                } else if depth == BitDepth::Byte {
                    255
                } else {
                    u16::MAX
                };
                if depth == BitDepth::Byte {
                    dst[x * 4 + ch] = v as u8;
                } else {
                    dst[(x * 4 + ch) * 2..(x * 4 + ch) * 2 + 2].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
    }
    Ok(img)
}

fn u32_at_slice(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DPX file written here from SMPTE 268M's layout (not by the reader's code).
    fn dpx(be: bool, w: u32, h: u32, bits: u8, descriptor: u8, samples: &[u16]) -> Vec<u8> {
        let mut f = vec![0u8; 2048];
        let put32 = |f: &mut Vec<u8>, o: usize, v: u32| {
            let b = if be { v.to_be_bytes() } else { v.to_le_bytes() };
            f[o..o + 4].copy_from_slice(&b);
        };
        let put16 = |f: &mut Vec<u8>, o: usize, v: u16| {
            let b = if be { v.to_be_bytes() } else { v.to_le_bytes() };
            f[o..o + 2].copy_from_slice(&b);
        };
        put32(&mut f, 0, MAGIC);
        put32(&mut f, 4, 2048);
        f[8..12].copy_from_slice(b"V2.0");
        put16(&mut f, 768, 0);
        put16(&mut f, 770, 1);
        put32(&mut f, 772, w);
        put32(&mut f, 776, h);
        f[800] = descriptor;
        f[803] = bits;
        put16(&mut f, 804, if bits == 10 { 1 } else { 0 });
        put32(&mut f, 808, 2048);
        match bits {
            8 => f.extend(samples.iter().map(|&s| s as u8)),
            16 => {
                for &s in samples {
                    f.extend(if be { s.to_be_bytes() } else { s.to_le_bytes() });
                }
            }
            _ => {
                let c = if descriptor == 50 { 3 } else { 4 };
                for row in samples.chunks(w as usize * c) {
                    for t in row.chunks(3) {
                        let mut word = 0u32;
                        for (k, &s) in t.iter().enumerate() {
                            word |= (s as u32 & 0x3ff) << (22 - 10 * k);
                        }
                        f.extend(if be {
                            word.to_be_bytes()
                        } else {
                            word.to_le_bytes()
                        });
                    }
                }
            }
        }
        f
    }

    fn read_bytes(name: &str, bytes: &[u8]) -> Result<HostImage, IoError> {
        let dir = std::env::temp_dir().join(format!("ofx-dpx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let r = read(&p, File::open(&p).unwrap());
        let _ = std::fs::remove_file(&p);
        r
    }

    #[test]
    fn ten_bit_rgb_in_both_byte_orders_scales_to_16_bit_and_keeps_orientation() {
        // 2x2: top row (0, 512, 1023), (100, 200, 300); bottom row (1, 2, 3), (1023, 0, 511).
        let s = [0, 512, 1023, 100, 200, 300, 1, 2, 3, 1023, 0, 511];
        for be in [true, false] {
            let img = read_bytes("a.dpx", &dpx(be, 2, 2, 10, 50, &s)).unwrap();
            assert_eq!(img.depth(), BitDepth::Short);
            let scale = |v: u16| ((v as f64 * 65535.0 / 1023.0).round() as f32) / 65535.0;
            // OFX rows go up: the file's first row is y = 1.
            let top_left = img.pixel(0, 1);
            assert_eq!(
                top_left,
                [scale(0), scale(512), scale(1023), 1.0],
                "be {be}"
            );
            assert_eq!(img.pixel(1, 0), [scale(1023), scale(0), scale(511), 1.0]);
        }
    }

    #[test]
    fn eight_and_sixteen_bit_rgba_are_copied_exactly() {
        let s8 = [10u16, 20, 30, 40, 250, 251, 252, 253];
        let img = read_bytes("b.dpx", &dpx(true, 2, 1, 8, 51, &s8)).unwrap();
        assert_eq!(img.depth(), BitDepth::Byte);
        assert_eq!(img.row(0), &[10, 20, 30, 40, 250, 251, 252, 253]);
        let s16 = [1u16, 65535, 300, 40000, 5, 6, 7, 8];
        let img = read_bytes("c.dpx", &dpx(false, 2, 1, 16, 51, &s16)).unwrap();
        let got: Vec<u16> = img
            .row(0)
            .chunks(2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(got, s16);
    }

    #[test]
    fn truncated_lying_and_unsupported_files_are_refused() {
        let s = [0u16; 12];
        let mut f = dpx(true, 2, 2, 10, 50, &s);
        f.truncate(f.len() - 4);
        let e = read_bytes("t.dpx", &f).unwrap_err().to_string();
        assert!(e.contains("truncated") || e.contains("can hold"), "{e}");
        // A header declaring 100000x100000 in a small file: refused before allocating.
        let mut f = dpx(true, 2, 2, 10, 50, &s);
        f[772..776].copy_from_slice(&100_000u32.to_be_bytes());
        f[776..780].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(matches!(
            read_bytes("l.dpx", &f),
            Err(IoError::DeclaredTooLarge { .. })
        ));
        let f = dpx(true, 2, 2, 10, 6, &s[..4]);
        let e = read_bytes("y.dpx", &f).unwrap_err().to_string();
        assert!(e.contains("descriptor 6"), "{e}");
        assert!(read_bytes("n.dpx", b"not a dpx file at all").is_err());
    }
}
