//! File format round trips: what is written is what is read back, bit for bit where the format
//! stores the depth exactly, and files are oriented the way other readers expect (top row
//! first = the image's highest y).

use std::path::{Path, PathBuf};

use half::f16;
use ofx_harness::image::{BitDepth, Components, HostImage, Premult, Rect, RowLayout};
use ofx_harness::io::{
    read_image, read_image_with_info, write_image, ExrCompression, ImageFormat, IoError,
    WriteOptions,
};

/// A scratch folder, removed when the test ends (passed or failed), so green runs leave no
/// folders behind in the temp directory.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!(
        "ofx-harness-io-roundtrip-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn overwrite() -> WriteOptions {
    WriteOptions {
        overwrite: true,
        ..WriteOptions::default()
    }
}

/// An image whose stored bytes are `f(sample index)`, so every byte position is distinct-ish.
fn image_from_bytes(
    bounds: Rect,
    depth: BitDepth,
    comps: Components,
    f: impl Fn(usize) -> Vec<u8>,
) -> HostImage {
    let n = bounds.pixel_count() * comps.count();
    let bytes: Vec<u8> = (0..n).flat_map(f).collect();
    HostImage::from_packed_bytes(bounds, depth, comps, &bytes).unwrap()
}

fn u8_image(bounds: Rect, comps: Components) -> HostImage {
    // 0 and 255 included; a prime stride visits every code value.
    image_from_bytes(bounds, BitDepth::Byte, comps, |i| {
        vec![(i * 37 % 256) as u8]
    })
}

fn u16_image(bounds: Rect, comps: Components) -> HostImage {
    image_from_bytes(bounds, BitDepth::Short, comps, |i| {
        let v = match i % 5 {
            0 => 0u16,
            1 => 65535,
            _ => (i as u32 * 40503 % 65536) as u16,
        };
        v.to_ne_bytes().to_vec()
    })
}

fn assert_same(a: &HostImage, b: &HostImage, what: &str) {
    assert_eq!(a.bounds(), b.bounds(), "{what}: bounds");
    assert_eq!(a.depth(), b.depth(), "{what}: depth");
    assert_eq!(a.components(), b.components(), "{what}: components");
    assert!(a.same_pixels(b), "{what}: pixels differ");
}

const ODD: Rect = Rect::new(0, 0, 17, 5);

#[test]
fn png_8_and_16_bit_round_trip_exactly() {
    let dir = scratch("png");
    for comps in [Components::Rgba, Components::Rgb] {
        for img in [u8_image(ODD, comps), u16_image(ODD, comps)] {
            let p = dir.join(format!("{comps:?}-{:?}.png", img.depth()));
            write_image(&p, &img, &WriteOptions::default()).unwrap();
            let back = read_image(&p).unwrap();
            assert_same(&img, &back, &p.display().to_string());
        }
    }
}

#[test]
fn png_alpha_marks_straight_and_rgb_opaque() {
    let dir = scratch("png-premult");
    let p = dir.join("a.png");
    write_image(&p, &u8_image(ODD, Components::Rgba), &overwrite()).unwrap();
    assert_eq!(read_image(&p).unwrap().premult(), Premult::UnPreMultiplied);
    write_image(&p, &u8_image(ODD, Components::Rgb), &overwrite()).unwrap();
    assert_eq!(read_image(&p).unwrap().premult(), Premult::Opaque);
}

#[test]
fn files_are_written_top_row_first() {
    // Decode with the codec crates directly (not through our reader) and compare with the
    // image's top row, y = y2 - 1. A bottom-up, padded, offset image must give the same file.
    let dir = scratch("orientation");
    let img = u8_image(Rect::new(0, 0, 6, 4), Components::Rgb);
    let odd_layout = img.relaid(
        (-3, 9),
        RowLayout {
            padding_bytes: 5,
            bottom_up: true,
        },
    );
    let top = img.row(3).to_vec();
    let bottom = img.row(0).to_vec();
    for (name, im) in [("packed", &img), ("relaid", &odd_layout)] {
        let p = dir.join(format!("{name}.png"));
        write_image(&p, im, &WriteOptions::default()).unwrap();
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&p).unwrap()));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        assert_eq!(&buf[..18], &top[..], "{name}: first file row");
        assert_eq!(&buf[54..72], &bottom[..], "{name}: last file row");

        let t = dir.join(format!("{name}.tif"));
        write_image(&t, im, &WriteOptions::default()).unwrap();
        let mut dec = tiff::decoder::Decoder::new(std::fs::File::open(&t).unwrap()).unwrap();
        match dec.read_image().unwrap() {
            tiff::decoder::DecodingResult::U8(v) => assert_eq!(&v[..18], &top[..]),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn png_writes_alpha_only_as_grey_and_reads_grey_as_rgb() {
    let dir = scratch("png-grey");
    let matte = u8_image(ODD, Components::Alpha);
    let p = dir.join("matte.png");
    write_image(&p, &matte, &WriteOptions::default()).unwrap();
    let back = read_image(&p).unwrap();
    assert_eq!(back.components(), Components::Rgb);
    for y in ODD.y1..ODD.y2 {
        let m = matte.row(y);
        let b = back.row(y);
        for x in 0..17 {
            assert_eq!(&b[3 * x..3 * x + 3], &[m[x]; 3], "({x},{y})");
        }
    }
}

#[test]
fn float_images_default_to_16_bit_png_rounded_to_nearest() {
    let dir = scratch("png-float");
    let b = Rect::from_size(4, 1);
    let px = [
        [0.0, 0.5, 1.0, 1.0],
        [1.0 / 65535.0, 0.49999 / 65535.0, 2.0, 1.0],
        [-1.0, 0.25, 0.75, 1.0],
        [0.1, 0.2, 0.3, 1.0],
    ];
    let img = HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgb, &px).unwrap();
    let p = dir.join("f.png");
    write_image(&p, &img, &WriteOptions::default()).unwrap();
    let back = read_image(&p).unwrap();
    assert_eq!(back.depth(), BitDepth::Short);
    let codes: Vec<u16> = back
        .row(0)
        .chunks_exact(2)
        .map(|s| u16::from_ne_bytes([s[0], s[1]]))
        .collect();
    let want = |v: f64| (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
    let expected: Vec<u16> = px
        .iter()
        .flat_map(|p| [want(p[0] as f64), want(p[1] as f64), want(p[2] as f64)])
        .collect();
    assert_eq!(codes, expected);
}

#[test]
fn tiff_8_and_16_bit_round_trip_exactly() {
    let dir = scratch("tiff");
    for comps in [Components::Rgba, Components::Rgb] {
        for img in [u8_image(ODD, comps), u16_image(ODD, comps)] {
            for ext in ["tif", "tiff"] {
                let p = dir.join(format!("{comps:?}-{:?}.{ext}", img.depth()));
                write_image(&p, &img, &WriteOptions::default()).unwrap();
                let back = read_image(&p).unwrap();
                assert_same(&img, &back, &p.display().to_string());
            }
        }
    }
}

#[test]
fn tiff_float_round_trips_bit_exactly_including_hdr_and_negative_values() {
    let dir = scratch("tiff-float");
    let specials = [
        0.0f32,
        -0.0,
        1.0,
        -0.5,
        1.0e4,
        6.1e-5,
        1.0e-40,
        0.1,
        65504.0,
        f32::INFINITY,
        f32::from_bits(0x7FC0_0001), // NaN with a payload
    ];
    for comps in [Components::Rgba, Components::Rgb] {
        let img = image_from_bytes(ODD, BitDepth::Float, comps, |i| {
            specials[i % specials.len()].to_ne_bytes().to_vec()
        });
        let p = dir.join(format!("{comps:?}.tif"));
        write_image(&p, &img, &WriteOptions::default()).unwrap();
        let back = read_image(&p).unwrap();
        assert_same(&img, &back, "tiff float");
    }
}

#[test]
fn tiff_records_alpha_association() {
    let dir = scratch("tiff-premult");
    for premult in [Premult::PreMultiplied, Premult::UnPreMultiplied] {
        let mut img = u16_image(ODD, Components::Rgba);
        img.set_premult(premult);
        let p = dir.join(format!("{premult:?}.tif"));
        write_image(&p, &img, &WriteOptions::default()).unwrap();
        assert_eq!(read_image(&p).unwrap().premult(), premult);
    }
}

/// Every finite half from a wide spread of bit patterns (normals, subnormals, ±, up to 65504).
fn half_image(bounds: Rect, comps: Components) -> HostImage {
    image_from_bytes(bounds, BitDepth::Half, comps, |i| {
        let mut bits = ((i as u32).wrapping_mul(2654435761) >> 16) as u16;
        if f16::from_bits(bits).is_nan() || f16::from_bits(bits).is_infinite() {
            bits &= 0x3FFF; // fold into the finite range
        }
        bits.to_ne_bytes().to_vec()
    })
}

/// Spread-out float bit patterns plus ±infinity and a NaN: a compositor expects even those
/// back unchanged from a float file.
fn float_image(bounds: Rect, comps: Components) -> HostImage {
    image_from_bytes(bounds, BitDepth::Float, comps, |i| {
        let bits = match i % 11 {
            3 => f32::INFINITY.to_bits(),
            7 => f32::NEG_INFINITY.to_bits(),
            9 => 0x7FC0_0001, // a quiet NaN with a payload
            _ => (i as u32).wrapping_mul(2654435761) & 0xBFFF_FFFF,
        };
        f32::from_bits(bits).to_ne_bytes().to_vec()
    })
}

#[test]
fn exr_half_and_float_round_trip_bit_exactly() {
    let dir = scratch("exr");
    for comps in [Components::Rgba, Components::Rgb, Components::Alpha] {
        for img in [half_image(ODD, comps), float_image(ODD, comps)] {
            for compression in [
                ExrCompression::Zip,
                ExrCompression::Piz,
                ExrCompression::Rle,
                ExrCompression::None,
            ] {
                let p = dir.join(format!("{comps:?}-{:?}-{compression:?}.exr", img.depth()));
                let opts = WriteOptions {
                    exr_compression: compression,
                    ..WriteOptions::default()
                };
                write_image(&p, &img, &opts).unwrap();
                let back = read_image(&p).unwrap();
                assert_same(&img, &back, &p.display().to_string());
            }
        }
    }
}

#[test]
fn exr_half_on_request_is_exact_for_values_half_can_hold() {
    let dir = scratch("exr-half");
    // Float pixels that happen to be halves (0.5, 1/1024, 2048, -3.25) survive a half file.
    let b = Rect::from_size(3, 2);
    let vals = [0.5f32, 1.0 / 1024.0, 2048.0, -3.25, 0.0, 65504.0];
    let px: Vec<[f32; 4]> = (0..6)
        .map(|i| [vals[i], vals[(i + 1) % 6], vals[(i + 2) % 6], 1.0])
        .collect();
    let img = HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgba, &px).unwrap();
    let p = dir.join("h.exr");
    let opts = WriteOptions {
        depth: Some(BitDepth::Half),
        ..WriteOptions::default()
    };
    write_image(&p, &img, &opts).unwrap();
    let back = read_image(&p).unwrap();
    assert_eq!(back.depth(), BitDepth::Half);
    assert_eq!(back.to_rgba_f32(), px);
}

#[test]
fn exr_keeps_the_data_window_origin_and_display_window() {
    let dir = scratch("exr-window");
    let bounds = Rect::new(-7, 13, 10, 18);
    let img = float_image(bounds, Components::Rgba);
    // Explicit display window (a 20x30 format): the data window hangs off its left edge.
    let p = dir.join("win.exr");
    let opts = WriteOptions {
        display_window: Some(Rect::from_size(20, 30)),
        ..WriteOptions::default()
    };
    write_image(&p, &img, &opts).unwrap();
    let (back, info) = read_image_with_info(&p).unwrap();
    assert_same(&img, &back, "data window");
    assert_eq!(info.format, ImageFormat::Exr);
    assert_eq!(info.display_window, Rect::from_size(20, 30));

    // What another EXR reader sees: y down from the display window's top. OFX rows 13..18
    // of a 30-row frame are EXR rows 12..16; x stays -7.
    let raw = exr::prelude::read_first_flat_layer_from_file(&p).unwrap();
    let layer = &raw.layer_data;
    assert_eq!(layer.attributes.layer_position.0, -7);
    assert_eq!(layer.attributes.layer_position.1, 30 - 18);
    assert_eq!(layer.size.0, 17);
    assert_eq!(raw.attributes.display_window.size.1, 30);
    // First stored row is the image's top row (y = 17); compare the red channel.
    let red = layer
        .channel_data
        .list
        .iter()
        .find(|c| c.name.to_string() == "R")
        .unwrap();
    // Compared as bits: the test image holds NaNs.
    let first: Vec<u32> = red
        .sample_data
        .values_as_f32()
        .take(17)
        .map(f32::to_bits)
        .collect();
    let top: Vec<u32> = (-7..10).map(|x| img.pixel(x, 17)[0].to_bits()).collect();
    assert_eq!(first, top);

    // Without a display window the offset still round-trips.
    let q = dir.join("nowin.exr");
    write_image(&q, &img, &WriteOptions::default()).unwrap();
    assert_same(&img, &read_image(&q).unwrap(), "default window");
}

#[test]
fn integer_images_go_to_float_exr_with_every_code_value_exact() {
    let dir = scratch("exr-int");
    let img = u8_image(ODD, Components::Rgb);
    let p = dir.join("u8.exr");
    write_image(&p, &img, &WriteOptions::default()).unwrap();
    let back = read_image(&p).unwrap();
    assert_eq!(back.depth(), BitDepth::Float);
    // The file holds exactly the host's float reading of the 8-bit image, and that reading
    // quantises back to the original code values.
    assert_eq!(back.to_rgba_f32(), img.to_rgba_f32());
    for y in 0..5 {
        let codes = img.row(y);
        let mut row = vec![[0.0f32; 4]; 17];
        back.read_row(y, 0, &mut row);
        for x in 0..17 {
            for c in 0..3 {
                assert_eq!((row[x][c] * 255.0).round() as u8, codes[3 * x + c]);
            }
        }
    }
}

fn encode_jpeg(path: &Path, data: &[u8], w: u16, h: u16, ct: jpeg_encoder::ColorType) {
    let mut enc = jpeg_encoder::Encoder::new_file(path, 100).unwrap();
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    enc.encode(data, w, h, ct).unwrap();
}

#[test]
fn jpeg_decodes_within_compression_tolerance() {
    let dir = scratch("jpeg");
    let (w, h) = (17usize, 5usize);
    // A smooth colour ramp: quality-100 4:4:4 JPEG keeps it within a few code values.
    let mut rgb = Vec::new();
    for r in 0..h {
        for x in 0..w {
            rgb.extend([
                (40 + x * 10) as u8,
                (60 + r * 30) as u8,
                (200 - x * 5) as u8,
            ]);
        }
    }
    for ext in ["jpg", "JPEG"] {
        let p = dir.join(format!("ramp.{ext}"));
        encode_jpeg(&p, &rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb);
        let img = read_image(&p).unwrap();
        assert_eq!(img.bounds(), Rect::from_size(17, 5));
        assert_eq!(img.depth(), BitDepth::Byte);
        assert_eq!(img.components(), Components::Rgb);
        let mut worst = 0i32;
        for r in 0..h {
            // File row r is image row y = 4 - r.
            let row = img.row((h - 1 - r) as i32);
            for i in 0..w * 3 {
                worst = worst.max((row[i] as i32 - rgb[r * w * 3 + i] as i32).abs());
            }
        }
        assert!(worst <= 4, "max error {worst} code values");
    }
}

#[test]
fn grey_jpeg_reads_as_grey_rgb_and_cmyk_is_refused_with_a_fix() {
    let dir = scratch("jpeg-grey");
    let grey: Vec<u8> = (0..17 * 5).map(|i| (i * 3) as u8).collect();
    let p = dir.join("grey.jpg");
    encode_jpeg(&p, &grey, 17, 5, jpeg_encoder::ColorType::Luma);
    let img = read_image(&p).unwrap();
    assert_eq!(img.components(), Components::Rgb);
    for px in img.to_packed_bytes().chunks_exact(3) {
        assert!(px[0] == px[1] && px[1] == px[2]);
    }

    let cmyk = vec![30u8; 8 * 8 * 4];
    let c = dir.join("print.jpg");
    encode_jpeg(&c, &cmyk, 8, 8, jpeg_encoder::ColorType::Cmyk);
    let e = read_image(&c).unwrap_err();
    assert!(matches!(e, IoError::UnsupportedContent { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("print.jpg") && msg.contains("CMYK") && msg.contains("convert"));
}

#[test]
fn jpeg_is_read_only() {
    let dir = scratch("jpeg-write");
    let p = dir.join("out.jpg");
    let e = write_image(
        &p,
        &u8_image(ODD, Components::Rgb),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, IoError::ReadOnlyFormat { .. }));
    assert!(e.to_string().contains(".exr"));
    assert!(!p.exists());
}

#[test]
fn unsupported_depths_are_refused_before_anything_is_written() {
    let dir = scratch("depth");
    let img = u8_image(ODD, Components::Rgb);
    for (name, depth) in [("a.png", BitDepth::Half), ("a.png", BitDepth::Float)] {
        let p = dir.join(name);
        let opts = WriteOptions {
            depth: Some(depth),
            ..WriteOptions::default()
        };
        let e = write_image(&p, &img, &opts).unwrap_err();
        assert!(matches!(e, IoError::DepthNotSupported { .. }), "{e}");
        assert!(e.to_string().contains("a.png") && e.to_string().contains("16-bit"));
        assert!(!p.exists());
    }
    for depth in [BitDepth::Byte, BitDepth::Short] {
        let p = dir.join("a.exr");
        let opts = WriteOptions {
            depth: Some(depth),
            ..WriteOptions::default()
        };
        assert!(matches!(
            write_image(&p, &img, &opts),
            Err(IoError::DepthNotSupported { .. })
        ));
    }
    let p = dir.join("h.tif");
    let opts = WriteOptions {
        depth: Some(BitDepth::Half),
        ..WriteOptions::default()
    };
    assert!(write_image(&p, &img, &opts).is_err());
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "no stray files"
    );
}

#[test]
fn explicit_depth_conversion_between_integer_depths_is_exact() {
    let dir = scratch("convert");
    let img = u8_image(ODD, Components::Rgba);
    let p = dir.join("up.png");
    let opts = WriteOptions {
        depth: Some(BitDepth::Short),
        ..WriteOptions::default()
    };
    write_image(&p, &img, &opts).unwrap();
    let back = read_image(&p).unwrap();
    assert_eq!(back.depth(), BitDepth::Short);
    // 8 → 16 bit is c × 257 (255 × 257 = 65535).
    let up: Vec<u16> = back
        .to_packed_bytes()
        .chunks_exact(2)
        .map(|s| u16::from_ne_bytes([s[0], s[1]]))
        .collect();
    let want: Vec<u16> = img
        .to_packed_bytes()
        .iter()
        .map(|&c| c as u16 * 257)
        .collect();
    assert_eq!(up, want);
}

#[test]
fn unknown_extensions_missing_files_and_garbage_give_errors_naming_the_file() {
    let dir = scratch("errors");
    let e = read_image(dir.join("plate.cin")).unwrap_err();
    assert!(matches!(e, IoError::UnsupportedExtension { .. }));
    assert!(e
        .to_string()
        .contains(".exr, .png, .tif, .tiff, .jpg, .jpeg, .dpx"));
    let e = write_image(
        dir.join("plate.bmp"),
        &u8_image(ODD, Components::Rgb),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, IoError::UnsupportedExtension { .. }));

    for ext in ["exr", "png", "tif", "jpg"] {
        let missing = dir.join(format!("missing.{ext}"));
        let e = read_image(&missing).unwrap_err();
        assert!(matches!(e, IoError::Open { .. }), "{ext}: {e}");
        assert!(e.to_string().contains("missing."), "{e}");

        let junk = dir.join(format!("junk.{ext}"));
        std::fs::write(&junk, b"this is not an image at all, just text\n").unwrap();
        let e = read_image(&junk).unwrap_err();
        assert!(matches!(e, IoError::Decode { .. }), "{ext}: {e}");
        assert!(e.to_string().contains("junk."), "{e}");
    }
}

#[test]
fn truncated_files_are_errors_not_panics() {
    let dir = scratch("truncated");
    let img = u16_image(Rect::from_size(40, 30), Components::Rgba);
    let halfimg = half_image(Rect::from_size(40, 30), Components::Rgba);
    for ext in ["png", "tif", "exr"] {
        let p = dir.join(format!("full.{ext}"));
        let src = if ext == "exr" { &halfimg } else { &img };
        write_image(&p, src, &WriteOptions::default()).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        for cut in [8, bytes.len() / 3, bytes.len() - 5] {
            let t = dir.join(format!("cut{cut}.{ext}"));
            std::fs::write(&t, &bytes[..cut]).unwrap();
            assert!(
                read_image(&t).is_err(),
                "{ext} cut at {cut} read as an image"
            );
        }
    }
}

#[test]
fn exr_without_colour_channels_lists_what_it_has() {
    let dir = scratch("exr-channels");
    let p = dir.join("depth.exr");
    use exr::prelude::*;
    let z = AnyChannel::new("Z", FlatSamples::F32(vec![1.0; 6]));
    let image = Image::from_channels((3, 2), AnyChannels::sort(SmallVec::from_vec(vec![z])));
    image.write().to_file(&p).unwrap();
    let e = read_image(&p).unwrap_err();
    assert!(matches!(e, IoError::UnsupportedContent { .. }), "{e}");
    assert!(e.to_string().contains("[Z]"), "{e}");
}

#[test]
fn exr_layer_prefixed_and_luminance_channels_are_read() {
    use exr::prelude::*;
    let dir = scratch("exr-names");
    let p = dir.join("beauty.exr");
    let chans = ["beauty.B", "beauty.G", "beauty.R"]
        .iter()
        .enumerate()
        .map(|(i, n)| AnyChannel::new(*n, FlatSamples::F16(vec![f16::from_f32(i as f32); 6])))
        .collect::<SmallVec<_>>();
    Image::from_channels((3, 2), AnyChannels::sort(chans))
        .write()
        .to_file(&p)
        .unwrap();
    let img = read_image(&p).unwrap();
    assert_eq!(img.depth(), BitDepth::Half);
    assert_eq!(img.pixel(1, 1), [2.0, 1.0, 0.0, 1.0]);

    let y = dir.join("luma.exr");
    let chans = SmallVec::from_vec(vec![AnyChannel::new("Y", FlatSamples::F32(vec![0.25; 6]))]);
    Image::from_channels((3, 2), AnyChannels::sort(chans))
        .write()
        .to_file(&y)
        .unwrap();
    let img = read_image(&y).unwrap();
    assert_eq!(img.components(), Components::Rgb);
    assert_eq!(img.pixel(2, 0), [0.25, 0.25, 0.25, 1.0]);
}

#[test]
fn exr_luminance_chroma_is_refused_rather_than_read_as_grey() {
    use exr::prelude::*;
    let dir = scratch("exr-yc");
    let p = dir.join("yc.exr");
    let chans = ["BY", "RY", "Y"]
        .iter()
        .map(|n| AnyChannel::new(*n, FlatSamples::F16(vec![f16::from_f32(0.5); 6])))
        .collect::<SmallVec<_>>();
    Image::from_channels((3, 2), AnyChannels::sort(chans))
        .write()
        .to_file(&p)
        .unwrap();
    let e = read_image(&p).unwrap_err();
    assert!(matches!(e, IoError::UnsupportedContent { .. }), "{e}");
    assert!(e.to_string().contains("chroma"), "{e}");
}

#[test]
fn corrupted_files_give_errors_or_images_never_a_crash() {
    // Deterministic byte corruption of valid files (a poor man's fuzzer): every read must
    // return, and anything it returns must be a well-formed image.
    let dir = scratch("corrupt");
    let img = u16_image(Rect::from_size(24, 16), Components::Rgba);
    let halfimg = half_image(Rect::from_size(24, 16), Components::Rgba);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for ext in ["png", "tif", "exr"] {
        let p = dir.join(format!("ok.{ext}"));
        write_image(&p, if ext == "exr" { &halfimg } else { &img }, &overwrite()).unwrap();
        let good = std::fs::read(&p).unwrap();
        let mut errors = 0;
        for round in 0..40 {
            let mut bad = good.clone();
            for _ in 0..1 + round % 4 {
                let at = next() as usize % bad.len();
                bad[at] ^= 1 << (next() % 8);
            }
            let q = dir.join(format!("bad{round}.{ext}"));
            std::fs::write(&q, &bad).unwrap();
            match read_image(&q) {
                Ok(read) => {
                    let b = read.bounds();
                    assert_eq!(
                        read.to_packed_bytes().len(),
                        b.pixel_count() * read.components().count() * read.depth().bytes()
                    );
                }
                Err(e) => {
                    errors += 1;
                    assert!(e.to_string().contains(&format!("bad{round}.{ext}")), "{e}");
                }
            }
        }
        // Checksums (PNG CRC, zlib Adler) or structure checks catch most flips.
        assert!(errors > 0, "{ext}: no corruption was ever detected");
    }
}

#[test]
fn scratch_folders_are_removed_when_the_test_ends() {
    let path = {
        let dir = scratch("guard");
        std::fs::write(dir.join("x.png"), b"x").unwrap();
        dir.to_path_buf()
    };
    assert!(!path.exists(), "{} left behind", path.display());
}
