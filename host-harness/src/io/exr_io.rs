//! OpenEXR: half and 32-bit float, RGBA/RGB/Y/A channels, any data window. Samples are copied
//! bit for bit (half stays half). EXR's y axis points down and OFX's up: rows are flipped about
//! the display window, so a data window offset survives a read → write round trip.

use std::io::{Seek, Write};
use std::path::Path;

use exr::meta::attribute::{AttributeValue, Chromaticities, Text};
use exr::prelude::{
    AnyChannel, AnyChannels, Encoding, FlatSamples, Image, ImageAttributes, IntegerBounds, Layer,
    LayerAttributes, ReadChannels, ReadLayers, SmallVec, Vec2, WritableImage,
};

use crate::image::{BitDepth, Components, HostImage, Premult, Rect};

use super::error::IoError;
use super::format::ImageFormat;

const FORMAT: ImageFormat = ImageFormat::Exr;

/// How EXR pixel blocks are compressed on write. All but DWAA/DWAB are lossless.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ExrCompression {
    None,
    Rle,
    /// zlib over 16 scan lines: the most widely read choice.
    #[default]
    Zip,
    /// Wavelet: smaller on grainy plates, slower.
    Piz,
    /// DreamWorks lossy DCT over 32 scan lines, at this level (OpenEXR's default is 45; higher
    /// is smaller and lossier). Alpha and other non-colour channels stay lossless.
    Dwaa(f32),
    /// DWAA over 256 scan lines: smaller files, coarser random access.
    Dwab(f32),
}

/// Text attributes the EXR standard defines (written in their own header fields).
const STANDARD_TEXT: &[&str] = &["comments", "owner", "software"];

/// OpenEXR's default DWA compression level.
pub const DWA_DEFAULT_LEVEL: f32 = 45.0;

/// Header attributes written beside the pixels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExrHeader {
    /// The `chromaticities` attribute, CIE xy of red, green, blue and white:
    /// `[rx, ry, gx, gy, bx, by, wx, wy]`.
    pub chromaticities: Option<[f32; 8]>,
    /// `framesPerSecond` as a rational (numerator, denominator).
    pub frames_per_second: Option<(i32, u32)>,
    /// Text attributes (name, value), e.g. `comments` or `platerestore:source`.
    pub text: Vec<(String, String)>,
}

impl ExrCompression {
    fn to_exr(self) -> exr::compression::Compression {
        use exr::compression::Compression as C;
        match self {
            ExrCompression::None => C::Uncompressed,
            ExrCompression::Rle => C::RLE,
            ExrCompression::Zip => C::ZIP16,
            ExrCompression::Piz => C::PIZ,
            ExrCompression::Dwaa(level) => C::DWAA(Some(level)),
            ExrCompression::Dwab(level) => C::DWAB(Some(level)),
        }
    }
}

impl std::str::FromStr for ExrCompression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "uncompressed" => Ok(ExrCompression::None),
            "rle" => Ok(ExrCompression::Rle),
            "zip" => Ok(ExrCompression::Zip),
            "piz" => Ok(ExrCompression::Piz),
            "dwaa" => Ok(ExrCompression::Dwaa(DWA_DEFAULT_LEVEL)),
            "dwab" => Ok(ExrCompression::Dwab(DWA_DEFAULT_LEVEL)),
            _ => Err(format!(
                "unknown EXR compression '{s}': use none, rle, zip, piz, dwaa or dwab"
            )),
        }
    }
}

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
        fix: "write R,G,B(,A), Y or A channels (full resolution, not deep) into the first part"
            .into(),
    }
}

/// Reads the first valid layer; returns the image and its display window in OFX coordinates
/// (lower-left at the origin).
pub(crate) fn read(path: &Path) -> Result<(HostImage, Rect), IoError> {
    // The headers first: a declared size is checked before any pixel memory is allocated.
    // PIZ/ZIP/DWA expand at most a few thousand to one.
    if let Ok(meta) = exr::meta::MetaData::read_from_file(path, false) {
        let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(u64::MAX);
        for h in &meta.headers {
            let (w, hh) = (h.layer_size.0 as u64, h.layer_size.1 as u64);
            let bpp = 4 * h.channels.list.len().max(1) as u64;
            super::check_declared_size(path, ImageFormat::Exr, (w, hh), bpp, file_len, 4096)?;
        }
    }
    let image = exr::prelude::read()
        .no_deep_data()
        .largest_resolution_level()
        .all_channels()
        .first_valid_layer()
        .all_attributes()
        .from_file(path)
        .map_err(|e| match e {
            exr::error::Error::Io(source) if source.kind() == std::io::ErrorKind::NotFound => {
                IoError::Open {
                    path: path.to_path_buf(),
                    source,
                }
            }
            e => decode_err(path, e),
        })?;
    let display = image.attributes.display_window;
    let layer = &image.layer_data;
    let (w, h) = (layer.size.0, layer.size.1);
    let channels = &layer.channel_data.list;
    let names: Vec<String> = channels.iter().map(|c| c.name.to_string()).collect();

    // Host channel (R, G, B, A order) → index into `channels`.
    let find = |name: &str| names.iter().position(|n| n == name);
    let mut picked: Option<(Components, Vec<usize>)> = None;
    let prefixes = std::iter::once(String::new()).chain(
        names
            .iter()
            .filter_map(|n| n.rfind('.').map(|i| n[..=i].to_string())),
    );
    for prefix in prefixes {
        let get = |c: &str| find(&format!("{prefix}{c}"));
        if get("RY").is_some() || get("BY").is_some() {
            // Luminance/chroma images: reading Y alone would silently drop the colour.
            return Err(unsupported(
                path,
                "luminance/chroma (Y, RY, BY) channels".into(),
            ));
        }
        picked = match (get("R"), get("G"), get("B"), get("A"), get("Y")) {
            (Some(r), Some(g), Some(b), Some(a), _) => Some((Components::Rgba, vec![r, g, b, a])),
            (Some(r), Some(g), Some(b), None, _) => Some((Components::Rgb, vec![r, g, b])),
            (None, None, None, Some(a), Some(y)) => Some((Components::Rgba, vec![y, y, y, a])),
            (None, None, None, None, Some(y)) => Some((Components::Rgb, vec![y, y, y])),
            (None, None, None, Some(a), None) => Some((Components::Alpha, vec![a])),
            _ => None,
        };
        if picked.is_some() {
            break;
        }
    }
    let (components, indices) =
        picked.ok_or_else(|| unsupported(path, format!("the channels [{}]", names.join(", "))))?;
    for &i in &indices {
        if channels[i].sampling != Vec2(1, 1) {
            return Err(unsupported(
                path,
                format!("sub-sampled channel '{}'", names[i]),
            ));
        }
    }
    let all_half = indices
        .iter()
        .all(|&i| matches!(channels[i].sample_data, FlatSamples::F16(_)));
    let depth = if all_half {
        BitDepth::Half
    } else {
        BitDepth::Float
    };

    // OFX y = (display top row) - EXR y, with the display window's top row at OFX y = height-1.
    let disp_w = display.size.0 as i64;
    let disp_h = display.size.1 as i64;
    let x1 = layer.attributes.layer_position.0 as i64 - display.position.0 as i64;
    let top_exr = layer.attributes.layer_position.1 as i64 - display.position.1 as i64;
    let y2 = disp_h - top_exr;
    let bounds = super::checked_rect(path, FORMAT, x1, y2 - h as i64, w as u64, h as u64)?;
    let display_rect = super::checked_rect(path, FORMAT, 0, 0, disp_w as u64, disp_h as u64)?;

    let mut img = HostImage::new(bounds, depth, components);
    img.set_premult(match components {
        Components::Rgb => Premult::Opaque,
        // EXR colour is premultiplied by its alpha by definition.
        _ => Premult::PreMultiplied,
    });
    let bpc = depth.bytes();
    let nc = indices.len();
    for r in 0..h {
        let row = img.row_bytes_mut(super::file_row_to_y(bounds, r));
        for (slot, &ci) in indices.iter().enumerate() {
            let samples = &channels[ci].sample_data;
            for x in 0..w {
                let at = (x * nc + slot) * bpc;
                let dst = &mut row[at..at + bpc];
                let idx = r * w + x;
                match (depth, samples) {
                    (BitDepth::Half, FlatSamples::F16(v)) => {
                        dst.copy_from_slice(&v[idx].to_bits().to_ne_bytes())
                    }
                    (_, FlatSamples::F16(v)) => dst.copy_from_slice(&v[idx].to_f32().to_ne_bytes()),
                    (_, FlatSamples::F32(v)) => dst.copy_from_slice(&v[idx].to_ne_bytes()),
                    // Integer channels (ids, counts) keep their value as a float.
                    (_, FlatSamples::U32(v)) => dst.copy_from_slice(&(v[idx] as f32).to_ne_bytes()),
                }
            }
        }
    }
    Ok((img, display_rect))
}

/// Encodes `img` (already Half or Float) with `display` (OFX coordinates) as the display window.
pub(crate) fn write<W: Write + Seek>(
    path: &Path,
    img: &HostImage,
    display: Rect,
    compression: ExrCompression,
    header: &ExrHeader,
    out: W,
) -> Result<(), IoError> {
    let b = img.bounds();
    let (w, h) = (b.width() as usize, b.height() as usize);
    let depth = img.depth();
    let names: &[&str] = match img.components() {
        Components::Rgba => &["R", "G", "B", "A"],
        Components::Rgb => &["R", "G", "B"],
        Components::Alpha => &["A"],
    };
    let nc = names.len();
    let bpc = depth.bytes();
    let mut planes: Vec<Vec<u8>> = vec![Vec::with_capacity(w * h * bpc); nc];
    for r in 0..h {
        let row = img.row(super::file_row_to_y(b, r));
        for px in row.chunks_exact(nc * bpc) {
            for (c, plane) in planes.iter_mut().enumerate() {
                plane.extend_from_slice(&px[c * bpc..(c + 1) * bpc]);
            }
        }
    }
    let list: SmallVec<[AnyChannel<FlatSamples>; 4]> = names
        .iter()
        .zip(planes)
        .map(|(name, plane)| {
            let samples = match depth {
                BitDepth::Half => FlatSamples::F16(
                    plane
                        .chunks_exact(2)
                        .map(|s| half::f16::from_bits(u16::from_ne_bytes([s[0], s[1]])))
                        .collect(),
                ),
                _ => FlatSamples::F32(
                    plane
                        .chunks_exact(4)
                        .map(|s| f32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
                        .collect(),
                ),
            };
            AnyChannel::new(*name, samples)
        })
        .collect();

    let too_large = || IoError::TooLarge {
        path: path.to_path_buf(),
        format: FORMAT,
        width: w as i64,
        height: h as i64,
    };
    let pos_x = i32::try_from(b.x1 as i64 - display.x1 as i64).map_err(|_| too_large())?;
    let pos_y = i32::try_from(display.y2 as i64 - b.y2 as i64).map_err(|_| too_large())?;
    let text = |v: &str| Text::from_bytes_unchecked(v.as_bytes().into());
    let standard = |key: &str| {
        header
            .text
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, v)| text(v))
    };
    // Standard attributes have their own fields; the rest go in as custom text.
    let attributes = LayerAttributes {
        layer_position: Vec2(pos_x, pos_y),
        comments: standard("comments"),
        owner: standard("owner"),
        software_name: standard("software"),
        frames_per_second: header.frames_per_second,
        ..LayerAttributes::default()
    };
    let encoding = Encoding {
        compression: compression.to_exr(),
        blocks: exr::image::Blocks::ScanLines,
        line_order: exr::meta::attribute::LineOrder::Increasing,
    };
    let layer = Layer::new((w, h), attributes, encoding, AnyChannels::sort(list));
    let display_window = IntegerBounds::new(
        Vec2(0, 0),
        Vec2(
            display.width().max(1) as usize,
            display.height().max(1) as usize,
        ),
    );
    let mut image_attributes = ImageAttributes::new(display_window);
    if let Some(c) = header.chromaticities {
        image_attributes.chromaticities = Some(Chromaticities {
            red: Vec2(c[0], c[1]),
            green: Vec2(c[2], c[3]),
            blue: Vec2(c[4], c[5]),
            white: Vec2(c[6], c[7]),
        });
    }
    for (name, value) in &header.text {
        if STANDARD_TEXT.contains(&name.as_str()) {
            continue;
        }
        // EXR strings are bytes; UTF-8 is what readers expect.
        image_attributes.other.insert(
            Text::from_bytes_unchecked(name.as_bytes().into()),
            AttributeValue::Text(Text::from_bytes_unchecked(value.as_bytes().into())),
        );
    }
    Image::new(image_attributes, layer)
        .write()
        .to_buffered(out)
        .map_err(|e| IoError::Encode {
            path: path.to_path_buf(),
            format: FORMAT,
            reason: e.to_string(),
        })
}

/// The header of an EXR file without its pixels: text attributes (name → value) and the
/// chromaticities, for checks such as `ofxrun pipeline --resume`.
pub fn read_header(path: &Path) -> Result<ExrHeader, IoError> {
    let meta = exr::meta::MetaData::read_from_file(path, false).map_err(|e| decode_err(path, e))?;
    let mut out = ExrHeader::default();
    let Some(h) = meta.headers.first() else {
        return Ok(out);
    };
    let attrs = h
        .shared_attributes
        .other
        .iter()
        .chain(h.own_attributes.other.iter());
    for (name, value) in attrs {
        let name = String::from_utf8_lossy(name.bytes()).into_owned();
        if let AttributeValue::Text(t) = value {
            out.text
                .push((name, String::from_utf8_lossy(t.bytes()).into_owned()));
        }
    }
    let la = &h.own_attributes;
    out.frames_per_second = la.frames_per_second;
    for (name, v) in [
        ("comments", &la.comments),
        ("owner", &la.owner),
        ("software", &la.software_name),
    ] {
        if let Some(t) = v {
            out.text
                .push((name.into(), String::from_utf8_lossy(t.bytes()).into_owned()));
        }
    }
    out.text.sort();
    if let Some(c) = &h.shared_attributes.chromaticities {
        out.chromaticities = Some([
            c.red.0, c.red.1, c.green.0, c.green.1, c.blue.0, c.blue.1, c.white.0, c.white.1,
        ]);
    }
    Ok(out)
}
