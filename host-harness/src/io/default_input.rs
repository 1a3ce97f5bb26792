//! The built-in test plate `ofxrun` renders when given no input: a 960x540, 8-bit RGBA frame
//! made the way generated SDR footage tends to look — a sky gradient that bands once rounded
//! to 8 bit, colour patches (skin tones, saturated primaries, neutrals), a sun close to
//! clipping and fine ground texture with a little temporal noise. Built by code, deterministic.

use crate::image::{BitDepth, Components, HostImage, Premult, Rect};

/// Width and height of the default plate.
pub const DEFAULT_INPUT_SIZE: (i32, i32) = (960, 540);

/// Rows (from the top) that are sky; the ground starts below.
const HORIZON: i32 = 330;

/// The default plate at frame 1.
pub fn default_input() -> HostImage {
    default_input_frame(1)
}

/// The default plate at `frame`: the sun drifts right half a pixel per frame, the ground pans
/// one pixel per frame and its grain changes, so a sequence of these looks like a slow pan.
/// Patches and sky do not move, so per-frame differences stay small and local.
pub fn default_input_frame(frame: i64) -> HostImage {
    let (w, h) = DEFAULT_INPUT_SIZE;
    let bounds = Rect::from_size(w, h);
    let mut img = HostImage::new(bounds, BitDepth::Byte, Components::Rgba);
    img.set_premult(Premult::Opaque);
    // Motion repeats every 240 frames so any frame number gives a sensible picture.
    let phase = frame.rem_euclid(240);
    for row_from_top in 0..h {
        let y = h - 1 - row_from_top;
        let row = img.row_bytes_mut(y);
        for x in 0..w {
            let rgb = plate_rgb(x, row_from_top, phase, frame);
            let px = &mut row[x as usize * 4..x as usize * 4 + 4];
            for c in 0..3 {
                px[c] = to_code(rgb[c]);
            }
            px[3] = 255;
        }
    }
    img
}

/// The default plate for each of `frames`, made as it is iterated (a frame is ~2 MB).
pub fn default_input_sequence(frames: &[i64]) -> impl Iterator<Item = (i64, HostImage)> + '_ {
    frames.iter().map(|&f| (f, default_input_frame(f)))
}

/// 8-bit code value by plain rounding, no dither: the rounding is what makes the sky band.
fn to_code(v: f64) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5).floor() as u8
}

/// Display-referred (sRGB-encoded) colour of one pixel; `v` counts rows from the top. Only
/// +, −, ×, ÷ and √ are used (all correctly rounded in IEEE 754) so every platform produces
/// the same bytes.
fn plate_rgb(x: i32, v: i32, phase: i64, frame: i64) -> [f64; 3] {
    let (xf, vf) = (x as f64, v as f64);
    let mut rgb = if v < HORIZON {
        sky(xf, vf)
    } else {
        ground(x, v, phase, frame)
    };
    if let Some(patch) = patch_at(x, v) {
        rgb = patch;
    }
    // The sun: a clipped core with a glow that stays just below clipping around it.
    let (sun_x, sun_v, core) = (760.0 + 0.5 * phase as f64, 90.0, 26.0);
    let (dx, dv) = (xf - sun_x, vf - sun_v);
    let d2 = dx * dx + dv * dv;
    if v < HORIZON {
        let glow = if d2 <= core * core {
            1.0
        } else {
            // Lorentzian falloff: bright shoulder then a long soft tail into the sky.
            0.985 / (1.0 + (d2 - core * core) / (40.0 * 40.0))
        };
        for c in &mut rgb {
            *c += (1.0 - *c) * glow;
        }
    }
    rgb
}

/// A shallow vertical gradient, deep blue overhead to pale at the horizon, slightly lighter to
/// the right: about 36 blue code values over 330 rows, so each 8-bit level is a ~9-row band.
fn sky(x: f64, v: f64) -> [f64; 3] {
    let t = v / HORIZON as f64;
    let side = 0.012 * (x / DEFAULT_INPUT_SIZE.0 as f64 - 0.5);
    let top = [0.30, 0.47, 0.72];
    let horizon = [0.60, 0.72, 0.86];
    let mut out = [0.0; 3];
    for c in 0..3 {
        out[c] = top[c] + (horizon[c] - top[c]) * t + side;
    }
    out
}

/// Earth and foliage with fine texture that pans with the frame, a patch of fine stripes
/// (detail a denoiser must keep) and ±1 code value of per-frame grain.
fn ground(x: i32, v: i32, phase: i64, frame: i64) -> [f64; 3] {
    let depth = (v - HORIZON) as f64 / (DEFAULT_INPUT_SIZE.1 - HORIZON) as f64;
    let base = [
        0.36 - 0.12 * depth,
        0.33 - 0.10 * depth,
        0.22 - 0.08 * depth,
    ];
    let tx = x as i64 + phase; // the pan
    let texture = (hash3(tx, v as i64, 0) as f64 / u32::MAX as f64 - 0.5) * 0.10;
    // Coarser clumps, 4x4 cells, for structure above the per-pixel noise.
    let clumps = (hash3(tx.div_euclid(4), (v / 4) as i64, 1) as f64 / u32::MAX as f64 - 0.5) * 0.06;
    let grain = (hash3(x as i64, v as i64, 2 + frame) % 3) as f64 - 1.0;
    let mut rgb = [0.0; 3];
    for c in 0..3 {
        rgb[c] = base[c] + texture + clumps + grain / 255.0;
    }
    // Fine detail: 1-px and 2-px stripes and a checkerboard in a strip under the horizon.
    if (345..395).contains(&v) && (40..240).contains(&x) {
        let on = match x {
            40..=99 => x % 2 == 0,
            100..=159 => (x / 2) % 2 == 0,
            _ => (x + v) % 2 == 0,
        };
        let level = if on { 0.80 } else { 0.18 };
        rgb = [level, level, level];
    }
    rgb
}

/// Patches along the bottom: ColorChecker dark and light skin, a darker and a lighter skin
/// tone, saturated primaries and secondaries, and neutrals. 60x60 px with 8 px gaps.
fn patch_at(x: i32, v: i32) -> Option<[f64; 3]> {
    const PATCHES: [[u8; 3]; 12] = [
        // ColorChecker "dark skin" and "light skin", sRGB (X-Rite published values).
        [115, 82, 68],
        [194, 150, 130],
        [141, 94, 70],
        [224, 188, 166],
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [0, 255, 255],
        [255, 0, 255],
        [255, 255, 0],
        // 18% grey in sRGB (0.18 linear encodes to ~0.461), and a near-white.
        [118, 118, 118],
        [243, 243, 242],
    ];
    let (x0, v0, size, gap) = (68, 450, 60, 8);
    if !(v0..v0 + size).contains(&v) || x < x0 {
        return None;
    }
    let i = ((x - x0) / (size + gap)) as usize;
    if i >= PATCHES.len() || (x - x0) % (size + gap) >= size {
        return None;
    }
    Some(PATCHES[i].map(|c| c as f64 / 255.0))
}

/// A 32-bit integer hash of three integers (splitmix64 finaliser), for deterministic texture.
fn hash3(a: i64, b: i64, c: i64) -> u32 {
    let mut z = (a as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        .wrapping_add((c as u64).wrapping_mul(0x1656_67B1_9E37_79F9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(img: &HostImage, x: i32, row_from_top: i32, c: usize) -> u8 {
        let y = img.bounds().y2 - 1 - row_from_top;
        img.row(y)[x as usize * 4 + c]
    }

    #[test]
    fn is_an_opaque_8_bit_rgba_plate_of_the_stated_size() {
        let img = default_input();
        assert_eq!(img.bounds(), Rect::from_size(960, 540));
        assert_eq!(img.depth(), BitDepth::Byte);
        assert_eq!(img.components(), Components::Rgba);
        assert!(img.to_packed_bytes().chunks_exact(4).all(|p| p[3] == 255));
    }

    #[test]
    fn is_deterministic() {
        assert!(default_input().same_pixels(&default_input()));
        assert!(default_input_frame(7).same_pixels(&default_input_frame(7)));
    }

    #[test]
    fn sky_bands_when_quantised() {
        let img = default_input();
        // A column away from the sun, from the top of the frame down to the horizon.
        for c in 0..3 {
            let col: Vec<u8> = (0..HORIZON).map(|v| code(&img, 100, v, c)).collect();
            // Brightens monotonically toward the horizon…
            assert!(col.windows(2).all(|p| p[1] >= p[0]), "channel {c}: {col:?}");
            // …in steps of one code value (no gaps: it is a smooth gradient, rounded)…
            assert!(col.windows(2).all(|p| p[1] - p[0] <= 1), "channel {c}");
            let mut levels = col.clone();
            levels.dedup();
            // …so few levels over many rows: wide flat bands.
            let mean_band = HORIZON as f64 / levels.len() as f64;
            assert!(mean_band >= 4.0, "channel {c}: {} levels", levels.len());
            if c == 2 {
                // Blue spans 0.72 → 0.86: 0.14 × 255 ≈ 36 code values over 330 rows.
                assert!((34..=39).contains(&levels.len()), "{}", levels.len());
            }
        }
    }

    #[test]
    fn has_a_region_at_and_just_below_clipping() {
        let img = default_input();
        let px = img.to_packed_bytes();
        let clipped = px
            .chunks_exact(4)
            .filter(|p| p[..3] == [255, 255, 255])
            .count();
        let near = px
            .chunks_exact(4)
            .filter(|p| p[..3].iter().all(|&c| (240..255).contains(&c)))
            .count();
        // The sun core is ~π·26² ≈ 2100 px; its shoulder adds a ring just below clipping.
        assert!((1800..2600).contains(&clipped), "{clipped}");
        assert!(near > 1000, "{near}");
    }

    #[test]
    fn has_skin_tones_primaries_and_fine_detail() {
        let img = default_input();
        let at = |x, v| [0, 1, 2].map(|c| code(&img, x, v, c));
        assert_eq!(at(68 + 30, 480), [115, 82, 68]);
        assert_eq!(at(68 + 68 + 30, 480), [194, 150, 130]);
        assert_eq!(at(68 + 4 * 68 + 30, 480), [255, 0, 0]);
        assert_eq!(at(68 + 6 * 68 + 30, 480), [0, 0, 255]);
        // 1-px stripes: neighbours differ by the full stripe contrast.
        let a = code(&img, 50, 360, 1) as i32;
        let b = code(&img, 51, 360, 1) as i32;
        assert!((a - b).abs() > 150, "{a} {b}");
    }

    #[test]
    fn frames_differ_slightly() {
        let a = default_input_frame(1).to_packed_bytes();
        let b = default_input_frame(2).to_packed_bytes();
        let changed = a.iter().zip(&b).filter(|(p, q)| p != q).count();
        let mean_abs: f64 = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (*p as f64 - *q as f64).abs())
            .sum::<f64>()
            / a.len() as f64;
        assert!(changed > 1000, "{changed}");
        assert!(mean_abs < 8.0, "{mean_abs}");
        // Sky and patches hold still.
        let img1 = default_input_frame(1);
        let img2 = default_input_frame(2);
        assert_eq!(code(&img1, 100, 200, 2), code(&img2, 100, 200, 2));
        assert_eq!(code(&img1, 98, 480, 0), code(&img2, 98, 480, 0));
    }

    #[test]
    fn bytes_are_pinned() {
        // FNV-1a of the frame-1 bytes: the plate is an input to golden tests on every
        // platform, so any change to it must be deliberate.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in default_input().to_packed_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
        }
        assert_eq!(h, 4_301_523_972_170_809_159);
    }
}
