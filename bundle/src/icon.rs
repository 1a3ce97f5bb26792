//! Effect icons, drawn here from signed distance fields so the bundle ships no binary art:
//! a rounded tile in the PlateRestore slate-to-amber gradient with one motif per effect.

const SIZE: usize = 256;

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Coverage of an anti-aliased shape from its signed distance (pixels, negative inside).
fn cover(d: f32) -> f32 {
    1.0 - smoothstep(-0.75, 0.75, d)
}

fn rounded_box(x: f32, y: f32, half: f32, radius: f32) -> f32 {
    let qx = x.abs() - half + radius;
    let qy = y.abs() - half + radius;
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    outside + qx.max(qy).min(0.0) - radius
}

fn hash(mut v: u32) -> u32 {
    v ^= v >> 16;
    v = v.wrapping_mul(0x7feb_352d);
    v ^= v >> 15;
    v = v.wrapping_mul(0x846c_a68b);
    v ^ (v >> 16)
}

enum Motif {
    ToneCurve,
    Grain,
    Sharpen,
    Rings,
}

fn motif_for(identifier: &str) -> Motif {
    let leaf = identifier.rsplit('.').next().unwrap_or(identifier);
    match leaf {
        "InverseToneMap" => Motif::ToneCurve,
        "Grain" => Motif::Grain,
        "Upscale" | "Denoise" | "Restore" => Motif::Sharpen,
        _ => Motif::Rings,
    }
}

fn over(dst: &mut [f32; 3], src: [f32; 3], a: f32) {
    for c in 0..3 {
        dst[c] = dst[c] * (1.0 - a) + src[c] * a;
    }
}

/// RGBA8 PNG bytes of the icon for `identifier` (`index` varies the grain seed).
pub fn render_png(identifier: &str, index: usize) -> Vec<u8> {
    let motif = motif_for(identifier);
    let mut rgba = vec![0u8; SIZE * SIZE * 4];
    let c = SIZE as f32 / 2.0;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let px = x as f32 + 0.5 - c;
            let py = y as f32 + 0.5 - c;
            let tile = cover(rounded_box(px, py, 120.0, 36.0));
            // Slate at the top to warm amber at the bottom: SDR plate in, HDR light out.
            let t = y as f32 / SIZE as f32;
            let mut col = [0.13 + 0.55 * t * t, 0.16 + 0.25 * t, 0.24 - 0.1 * t];
            let u = (x as f32 + 0.5) / SIZE as f32; // 0..1 left to right
            let v = 1.0 - (y as f32 + 0.5) / SIZE as f32; // 0..1 bottom to top
            match motif {
                Motif::ToneCurve => {
                    // An S-shaped expansion curve, the shape of inverse tone mapping.
                    let s = (u - 0.16) / 0.68;
                    let curve = 0.18 + 0.68 * s.clamp(0.0, 1.0).powf(2.2);
                    let d = (v - curve).abs() * SIZE as f32 - 7.0;
                    let inside = (0.0..=1.0).contains(&s);
                    if inside {
                        over(&mut col, [1.0, 0.93, 0.7], cover(d));
                    }
                    let sun = ((u - 0.78).powi(2) + (v - 0.8).powi(2)).sqrt() * SIZE as f32 - 20.0;
                    over(&mut col, [1.0, 0.85, 0.4], cover(sun));
                    let glow = (-(sun.max(0.0)) / 18.0).exp() * 0.5;
                    over(&mut col, [1.0, 0.8, 0.45], glow);
                }
                Motif::Grain => {
                    // Grains on a cell grid with hashed jitter and sizes.
                    let cell = 14.0;
                    let (gx, gy) = ((x as f32 / cell).floor(), (y as f32 / cell).floor());
                    let mut a: f32 = 0.0;
                    for oy in -1..=1 {
                        for ox in -1..=1 {
                            let cx = gx + ox as f32;
                            let cy = gy + oy as f32;
                            let h = hash(
                                (cx as i32 as u32).wrapping_mul(73_856_093)
                                    ^ (cy as i32 as u32).wrapping_mul(19_349_663)
                                    ^ index as u32,
                            );
                            let jx = (h & 0xff) as f32 / 255.0;
                            let jy = ((h >> 8) & 0xff) as f32 / 255.0;
                            let r = 2.0 + 4.0 * ((h >> 16) & 0xff) as f32 / 255.0;
                            let dx = x as f32 - (cx + jx) * cell;
                            let dy = y as f32 - (cy + jy) * cell;
                            a = a.max(cover((dx * dx + dy * dy).sqrt() - r));
                        }
                    }
                    over(&mut col, [0.95, 0.9, 0.8], a * 0.85);
                }
                Motif::Sharpen => {
                    // Blocky pixels on the left resolving to a smooth disc on the right.
                    let block = if u < 0.5 { 24.0 } else { 1.0 };
                    let qx = ((x as f32 / block).floor() + 0.5) * block - c;
                    let qy = ((y as f32 / block).floor() + 0.5) * block - c;
                    let d = (qx * qx + qy * qy).sqrt() - 70.0;
                    over(&mut col, [0.9, 0.92, 1.0], cover(d));
                }
                Motif::Rings => {
                    let r = (px * px + py * py).sqrt();
                    let d = ((r / 22.0).fract() - 0.5).abs() * 22.0 - 3.0;
                    over(
                        &mut col,
                        [0.9, 0.9, 0.9],
                        cover(d) * (r < 90.0) as u8 as f32,
                    );
                }
            }
            let i = (y * SIZE + x) * 4;
            for k in 0..3 {
                rgba[i + k] = (col[k].clamp(0.0, 1.0).powf(1.0 / 2.2) * 255.0 + 0.5) as u8;
            }
            rgba[i + 3] = (tile * 255.0 + 0.5) as u8;
        }
    }
    encode(&rgba)
}

fn encode(rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, SIZE as u32, SIZE as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        // Writing PNG to a Vec cannot fail on I/O; an encoder error would be a bug in the
        // sizes above, which are constants.
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(rgba);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_are_rgba_png_of_at_least_128_px_with_transparent_corners() {
        for id in [
            "org.platerestore.InverseToneMap",
            "org.platerestore.Grain",
            "x.Other",
        ] {
            let bytes = render_png(id, 0);
            let dec = png::Decoder::new(std::io::Cursor::new(bytes));
            let mut r = dec.read_info().unwrap();
            let mut buf = vec![0; r.output_buffer_size()];
            let info = r.next_frame(&mut buf).unwrap();
            assert_eq!(info.color_type, png::ColorType::Rgba);
            assert!(info.width >= 128 && info.height >= 128);
            assert_eq!(buf[3], 0, "corner must be transparent (rounded tile)");
            let mid =
                (info.height as usize / 2 * info.width as usize + info.width as usize / 2) * 4;
            assert_eq!(buf[mid + 3], 255, "centre must be opaque");
        }
    }
}
