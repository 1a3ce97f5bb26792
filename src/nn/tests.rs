//! Engine tests: model-file validation against hostile input (and a mutation fuzz loop), the
//! CPU runner against an independent f64 reference written from PyTorch's definitions, and
//! tiling / instruction-set invariance to the bit.

use super::cpu::{self, Kernels, RunOptions};
use super::file::parse;
use super::spec::METADATA_KEY;
use super::*;
use crate::image::Rect;
use safetensors::{Dtype, View};
use std::borrow::Cow;
use std::collections::HashMap;

/// A deterministic stream of numbers (xorshift64*), for weights and pixels.
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub(crate) fn symmetric(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Arch {
    pub scale: usize,
    pub channels: usize,
    pub body: usize,
    pub activation: &'static str,
    pub skip: &'static str,
    pub frames: usize,
    pub unshuffle: usize,
}

impl Arch {
    pub(crate) const X2: Arch = Arch {
        scale: 2,
        channels: 16,
        body: 3,
        activation: "prelu",
        skip: "bilinear",
        frames: 1,
        unshuffle: 1,
    };

    /// A restoration network on 2×2 blocks (FFDNet-style pixel unshuffle).
    pub(crate) const RESTORE_U2: Arch = Arch {
        scale: 1,
        channels: 16,
        body: 2,
        activation: "leaky_relu",
        skip: "identity",
        frames: 1,
        unshuffle: 2,
    };

    pub(crate) fn metadata(&self) -> String {
        let task = if self.scale == 1 {
            "restore"
        } else {
            "upscale"
        };
        let slope = if self.activation == "leaky_relu" {
            ",\"leaky_slope\":0.1"
        } else {
            ""
        };
        let unshuffle = if self.unshuffle > 1 {
            format!(",\"unshuffle\":{}", self.unshuffle)
        } else {
            String::new()
        };
        format!(
            "{{\"format\":\"platerestore.model\",\"format_version\":1,\"architecture\":\"plain-conv\",\"architecture_version\":1,\"name\":\"test\",\"task\":\"{task}\",\"scale\":{},\"frames\":{},\"in_channels\":{},\"out_channels\":3,\"channels\":{},\"body_convs\":{},\"activation\":\"{}\"{slope},\"skip\":\"{}\"{unshuffle},\"encoding\":\"srgb\",\"receptive_field\":{},\"license\":\"Apache-2.0\"}}",
            self.scale,
            self.frames,
            3 * self.frames,
            self.channels,
            self.body,
            self.activation,
            self.skip,
            self.unshuffle * (2 * (self.body + 2) + 1)
        )
    }
}

pub(crate) struct F32Tensor {
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}
impl View for &F32Tensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// A valid model file with random weights (scaled so activations stay O(1)).
pub(crate) fn model_bytes(arch: Arch, seed: u64) -> Vec<u8> {
    model_bytes_with_metadata(arch, seed, &arch.metadata())
}

/// `arch`'s tensors under any metadata text (for files whose header lies).
pub(crate) fn model_bytes_with_metadata(arch: Arch, seed: u64, metadata: &str) -> Vec<u8> {
    let spec = ModelSpec::from_json(&arch.metadata()).expect("test metadata is valid");
    let mut rng = Rng::new(seed);
    let tensors: Vec<(String, F32Tensor)> = spec
        .expected_tensors()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let fan_in = if shape.len() == 4 { shape[1] * 9 } else { 1 };
            let k = if name.ends_with("alpha") {
                0.25
            } else {
                (1.0 / fan_in as f32).sqrt()
            };
            let bytes = (0..n)
                .flat_map(|_| (rng.symmetric() * k).to_le_bytes())
                .collect();
            (name, F32Tensor { shape, bytes })
        })
        .collect();
    let meta = HashMap::from([(METADATA_KEY.to_string(), metadata.to_string())]);
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.clone(), t)), Some(meta))
        .expect("serialising a test model")
}

pub(crate) fn random_image(rect: Rect, channels: usize, seed: u64) -> Planar {
    let mut rng = Rng::new(seed);
    let mut p = Planar::zeros(rect, channels);
    for v in &mut p.data {
        *v = 0.5 + 0.5 * rng.symmetric();
    }
    p
}

/// PyTorch's forward written independently in f64 on (C, H, W) arrays: zero-padded 3×3 convs,
/// PReLU/ReLU/LeakyReLU/SiLU, pixel_shuffle, and interpolate(bilinear/nearest); unshuffled
/// networks as training/model.py runs them: F.pad(replicate) to multiples of u, pixel_unshuffle,
/// the stack, pixel_shuffle, crop, plus the input.
fn reference_forward(file: &file::ModelFile, input: &Planar) -> Vec<f64> {
    let spec = &file.spec;
    let (w, h) = (input.rect.width() as usize, input.rect.height() as usize);
    let cin0 = spec.in_channels;
    let mut input_chw: Vec<f64> = vec![0.0; cin0 * h * w];
    for c in 0..cin0 {
        for y in 0..h {
            for xx in 0..w {
                input_chw[(c * h + y) * w + xx] = input.data[(y * w + xx) * cin0 + c] as f64;
            }
        }
    }
    let u = spec.unshuffle;
    let (outer_w, outer_h) = (w, h);
    let (w, h) = (w.div_ceil(u), h.div_ceil(u));
    let mut x: Vec<f64> = vec![0.0; cin0 * u * u * h * w];
    for c in 0..cin0 {
        for i in 0..u {
            for j in 0..u {
                for y in 0..h {
                    for xx in 0..w {
                        let (sy, sx) =
                            ((u * y + i).min(outer_h - 1), (u * xx + j).min(outer_w - 1));
                        x[(((c * u + i) * u + j) * h + y) * w + xx] =
                            input_chw[(c * outer_h + sy) * outer_w + sx];
                    }
                }
            }
        }
    }
    let mut names = vec!["head".to_string()];
    names.extend((0..spec.body_convs).map(|i| format!("body.{i}")));
    names.push("tail".into());
    let mut cin = cin0 * u * u;
    for (l, name) in names.iter().enumerate() {
        let wt = &file.tensors[&format!("{name}.weight")];
        let b = &file.tensors[&format!("{name}.bias")];
        let cout = wt.shape[0];
        let mut y = vec![0.0f64; cout * h * w];
        for co in 0..cout {
            for py in 0..h {
                for px in 0..w {
                    let mut acc = b.values[co] as f64;
                    for ci in 0..cin {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (sy, sx) =
                                    (py as i64 + ky as i64 - 1, px as i64 + kx as i64 - 1);
                                if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                                    continue;
                                }
                                acc += wt.values[((co * cin + ci) * 3 + ky) * 3 + kx] as f64
                                    * x[(ci * h + sy as usize) * w + sx as usize];
                            }
                        }
                    }
                    let last = l == names.len() - 1;
                    let v = if last {
                        acc
                    } else {
                        match spec.activation {
                            Activation::Prelu => {
                                let a = file.tensors[&format!("{name}.alpha")].values[co] as f64;
                                if acc >= 0.0 {
                                    acc
                                } else {
                                    a * acc
                                }
                            }
                            Activation::Relu => acc.max(0.0),
                            Activation::LeakyRelu(a) => {
                                if acc >= 0.0 {
                                    acc
                                } else {
                                    a as f64 * acc
                                }
                            }
                            Activation::Silu => acc / (1.0 + (-acc).exp()),
                        }
                    };
                    y[(co * h + py) * w + px] = v;
                }
            }
        }
        x = y;
        cin = cout;
    }
    let s = spec.scale * u;
    let (ow, oh) = (outer_w * spec.scale, outer_h * spec.scale);
    let centre = 3 * (spec.frames / 2);
    let (h, w) = (outer_h, outer_w);
    let src = |c: usize, yy: usize, xx: usize| input_chw[((centre + c) * h + yy) * w + xx];
    let (lw, lh) = (w.div_ceil(u), h.div_ceil(u));
    let mut out = vec![0.0f64; 3 * oh * ow];
    for c in 0..3 {
        for oy in 0..oh {
            for ox in 0..ow {
                // pixel_shuffle: output (c, oy, ox) ← input channel c·s² + (oy % s)·s + ox % s.
                let ch = c * s * s + (oy % s) * s + ox % s;
                let v = x[(ch * lh + oy / s) * lw + ox / s];
                let skip = match spec.skip {
                    Skip::None => 0.0,
                    Skip::Identity => src(c, oy, ox),
                    Skip::Nearest => src(c, (oy / s).min(h - 1), (ox / s).min(w - 1)),
                    Skip::Bilinear => {
                        let axis = |d: usize, n: usize| {
                            let r = ((d as f64 + 0.5) / s as f64 - 0.5).max(0.0);
                            let i0 = (r.floor() as usize).min(n - 1);
                            let i1 = (i0 + 1).min(n - 1);
                            (i0, i1, r - i0 as f64)
                        };
                        let (y0, y1, fy) = axis(oy, h);
                        let (x0, x1, fx) = axis(ox, w);
                        (1.0 - fy) * ((1.0 - fx) * src(c, y0, x0) + fx * src(c, y0, x1))
                            + fy * ((1.0 - fx) * src(c, y1, x0) + fx * src(c, y1, x1))
                    }
                    Skip::Lanczos3 => {
                        // Lanczos (a = 3): L(t) = sinc(t)·sinc(t/3), sinc(t) = sin(πt)/(πt),
                        // at the six input pixels around r = (d + 0.5)/s − 0.5, normalised to
                        // sum 1, edge pixels repeated.
                        let sinc = |t: f64| {
                            if t == 0.0 {
                                1.0
                            } else {
                                (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t)
                            }
                        };
                        let axis = |d: usize, n: usize| {
                            let r = (d as f64 + 0.5) / s as f64 - 0.5;
                            let taps: Vec<(usize, f64)> = (r.floor() as i64 - 2
                                ..=r.floor() as i64 + 3)
                                .map(|i| {
                                    let t = r - i as f64;
                                    (i.clamp(0, n as i64 - 1) as usize, sinc(t) * sinc(t / 3.0))
                                })
                                .collect();
                            let sum: f64 = taps.iter().map(|t| t.1).sum();
                            taps.into_iter()
                                .map(|(i, v)| (i, v / sum))
                                .collect::<Vec<_>>()
                        };
                        let mut v = 0.0;
                        for (yy, wy) in axis(oy, h) {
                            for (xx, wx) in axis(ox, w) {
                                v += wy * wx * src(c, yy, xx);
                            }
                        }
                        v
                    }
                };
                out[(c * oh + oy) * ow + ox] = v + skip;
            }
        }
    }
    out
}

fn max_error_vs_reference(arch: Arch, w: i32, h: i32, seed: u64) -> f64 {
    let bytes = model_bytes(arch, seed);
    let file = parse(&bytes).expect("valid");
    let model = Model::from_file(&file);
    let input = random_image(Rect::new(3, -2, 3 + w, -2 + h), 3 * arch.frames, seed + 1);
    let expect = reference_forward(&file, &input);
    let got = cpu::forward(&model, &input, RunOptions::default());
    let (ow, oh) = (got.rect.width() as usize, got.rect.height() as usize);
    let mut worst = 0.0f64;
    for c in 0..3 {
        for y in 0..oh {
            for x in 0..ow {
                let g = got.data[(y * ow + x) * 3 + c] as f64;
                worst = worst.max((g - expect[(c * oh + y) * ow + x]).abs());
            }
        }
    }
    worst
}

// f32 accumulation over ≤ 9·C products of O(1) values, through a handful of layers: each layer
// adds relative rounding of order √(9C)·2⁻²⁴ ≈ 1e-6; 1e-4 absolute leaves a wide margin while
// any indexing mistake (a wrong tap, channel or shuffle order) gives errors of order 0.1.
const REFERENCE_TOLERANCE: f64 = 1e-4;

#[test]
fn cpu_engine_matches_independent_reference_for_every_option() {
    let cases = [
        Arch::X2,
        Arch {
            scale: 4,
            ..Arch::X2
        },
        Arch {
            scale: 1,
            skip: "identity",
            ..Arch::X2
        },
        Arch {
            activation: "relu",
            skip: "nearest",
            ..Arch::X2
        },
        Arch {
            skip: "lanczos3",
            ..Arch::X2
        },
        Arch {
            scale: 4,
            skip: "lanczos3",
            body: 1,
            ..Arch::X2
        },
        Arch {
            activation: "leaky_relu",
            skip: "none",
            ..Arch::X2
        },
        Arch {
            activation: "silu",
            channels: 9,
            body: 0,
            ..Arch::X2
        },
        Arch {
            scale: 1,
            skip: "identity",
            frames: 3,
            channels: 24,
            ..Arch::X2
        },
        // 13×9 is no multiple of 2 or 4: the last blocks repeat the edge pixels.
        Arch::RESTORE_U2,
        Arch {
            unshuffle: 4,
            frames: 3,
            skip: "none",
            activation: "prelu",
            ..Arch::RESTORE_U2
        },
        // 8×8 blocks (a codec's block grid): 13×9 is one full block and a partial one.
        Arch {
            unshuffle: 8,
            channels: 12,
            ..Arch::RESTORE_U2
        },
    ];
    for (i, arch) in cases.iter().enumerate() {
        let err = max_error_vs_reference(*arch, 13, 9, 40 + i as u64);
        assert!(
            err < REFERENCE_TOLERANCE,
            "case {i} ({} x{} {} {} u{}): max error {err}",
            arch.activation,
            arch.scale,
            arch.skip,
            arch.frames,
            arch.unshuffle
        );
    }
}

#[test]
fn one_pixel_and_one_row_frames_work() {
    let lanczos = Arch {
        skip: "lanczos3",
        ..Arch::X2
    };
    for arch in [Arch::X2, lanczos, Arch::RESTORE_U2] {
        for (w, h) in [(1, 1), (1, 7), (9, 1)] {
            let err = max_error_vs_reference(arch, w, h, 7);
            assert!(
                err < REFERENCE_TOLERANCE,
                "u{} {w}x{h}: {err}",
                arch.unshuffle
            );
        }
    }
}

#[test]
fn tiled_equals_untiled_to_the_bit_on_every_kernel_set() {
    // 16 channels: whole vectors on every set; 40 (→ tail 48 at ×4): 32 + 8 on AVX-512.
    for arch in [
        Arch::X2,
        Arch {
            channels: 40,
            scale: 4,
            body: 1,
            ..Arch::X2
        },
        // The Lanczos-3 skip's row sums are computed per tile: they must not depend on it.
        Arch {
            skip: "lanczos3",
            ..Arch::X2
        },
        // Blocks anchored at the frame's odd origin (-5, 11), 75×53: partial last blocks.
        Arch::RESTORE_U2,
    ] {
        tiled_equals_untiled(arch);
    }
}

fn tiled_equals_untiled(arch: Arch) {
    let model = Model::from_bytes(&model_bytes(arch, 3)).expect("valid");
    let input = random_image(Rect::new(-5, 11, 70, 64), 3, 9);
    let whole = cpu::forward(
        &model,
        &input,
        RunOptions {
            tile: 1 << 20,
            kernels: Kernels::Portable,
        },
    );
    let sets = Kernels::available();
    assert!(!sets.is_empty());
    for kernels in sets {
        for tile in [1, 2, 7, 16, 33, 256] {
            let tiled = cpu::forward(&model, &input, RunOptions { tile, kernels });
            assert_eq!(tiled.rect, whole.rect);
            let diff = tiled
                .data
                .iter()
                .zip(&whole.data)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(
                diff, None,
                "{kernels:?}, tile {tile}: first differing value"
            );
        }
    }
}

#[test]
fn a_window_gives_the_same_pixels_as_the_full_frame() {
    let x4 = Arch {
        scale: 4,
        ..Arch::X2
    };
    a_window_matches_the_full_frame(x4, Rect::new(0, 0, 31, 23), Rect::new(37, 5, 101, 90));
    // Odd window corners and an odd frame origin: blocks stay on the frame's grid.
    a_window_matches_the_full_frame(
        Arch::RESTORE_U2,
        Rect::new(-3, 1, 40, 30),
        Rect::new(5, 6, 27, 40),
    );
}

fn a_window_matches_the_full_frame(arch: Arch, frame: Rect, window: Rect) {
    let model = Model::from_bytes(&model_bytes(arch, 5)).expect("valid");
    let input = random_image(frame, 3, 2);
    let whole = cpu::forward(&model, &input, RunOptions::default());
    let window = window.intersect(&whole.rect);
    let got = std::sync::Mutex::new(Vec::new());
    cpu::run(
        &model,
        &input,
        input.rect,
        window,
        RunOptions {
            tile: 24,
            ..RunOptions::default()
        },
        &crate::ops::NeverAbort,
        &|t: Planar| got.lock().unwrap().push(t),
    )
    .expect("no abort");
    let tiles = got.into_inner().unwrap();
    let covered: usize = tiles.iter().map(|t| t.rect.pixel_count()).sum();
    assert_eq!(
        covered,
        window.pixel_count(),
        "tiles cover the window exactly once"
    );
    for t in &tiles {
        assert!(window.contains(&t.rect));
        for y in t.rect.y1..t.rect.y2 {
            for x in t.rect.x1..t.rect.x2 {
                assert_eq!(t.pixel(x, y), whole.pixel(x, y), "pixel ({x}, {y})");
            }
        }
    }
}

#[test]
fn abort_stops_between_tiles() {
    let model = Model::from_bytes(&model_bytes(Arch::X2, 5)).expect("valid");
    let input = random_image(Rect::new(0, 0, 64, 64), 3, 2);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let r = cpu::run(
        &model,
        &input,
        input.rect,
        cpu::output_frame(input.rect, 2),
        RunOptions {
            tile: 16,
            ..RunOptions::default()
        },
        &|| true,
        &|_t: Planar| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        },
    );
    assert_eq!(r, Err(crate::ops::OpError::Aborted));
    assert_eq!(
        calls.into_inner(),
        0,
        "no tile is computed once the host aborted"
    );
}

#[test]
fn input_region_is_the_footprint_plus_the_halo_clipped_to_the_frame() {
    let model = Model::from_bytes(&model_bytes(Arch::X2, 1)).expect("valid");
    let frame = Rect::new(0, 0, 100, 50);
    // Output (40..61, 10..20) at ×2 → input 20..31 × 5..10, ± 5 convolutions.
    assert_eq!(
        cpu::input_region(&model, frame, Rect::new(40, 10, 61, 20)),
        Rect::new(15, 0, 36, 15)
    );
}

/// The halo of an unshuffled network (u·convs + u − 1) is enough: changing every input pixel
/// outside the input region leaves the window's output bit-identical, while a change just
/// inside its edge reaches the window (so the region is not needlessly large either).
#[test]
fn an_unshuffled_networks_input_region_holds_everything_its_window_reads() {
    let model = Model::from_bytes(&model_bytes(Arch::RESTORE_U2, 4)).expect("valid");
    let frame = Rect::new(1, -2, 61, 47);
    let window = Rect::new(24, 17, 33, 26);
    let region = cpu::input_region(&model, frame, window);
    // 2 body + head + tail = 4 convolutions on 2×2 blocks: 2·4 + 1 = 9 pixels each side.
    assert_eq!(region, Rect::new(15, 8, 42, 35));
    let input = random_image(frame, 3, 8);
    let run = |img: &Planar| {
        let got = std::sync::Mutex::new(Vec::new());
        cpu::run(
            &model,
            img,
            frame,
            window,
            RunOptions::default(),
            &crate::ops::NeverAbort,
            &|t: Planar| got.lock().unwrap().push(t),
        )
        .expect("no abort");
        let mut tiles = got.into_inner().unwrap();
        tiles.sort_by_key(|t| (t.rect.y1, t.rect.x1));
        tiles
    };
    let base = run(&input);
    let mut outside = input.clone();
    for y in frame.y1..frame.y2 {
        for x in frame.x1..frame.x2 {
            if !region.contains(&Rect::new(x, y, x + 1, y + 1)) {
                let i = outside.index(x, y);
                outside.data[i] += 0.37;
            }
        }
    }
    assert_eq!(
        run(&outside),
        base,
        "pixels outside the input region changed the window"
    );
    let mut inside = input.clone();
    let i = inside.index(region.x1, region.y1 + 10);
    inside.data[i] += 0.37;
    assert_ne!(
        run(&inside),
        base,
        "the region's left edge does not reach the window"
    );
}

// ---- model files -------------------------------------------------------------------------

fn metadata_with(edit: impl Fn(&mut serde_json::Map<String, serde_json::Value>)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&Arch::X2.metadata()).unwrap();
    edit(v.as_object_mut().unwrap());
    v.to_string()
}

fn expect_err(bytes: &[u8], needle: &str) {
    match parse(bytes) {
        Ok(_) => panic!("accepted a bad file (expected an error mentioning `{needle}`)"),
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains(needle),
                "error `{m}` does not mention `{needle}`"
            );
        }
    }
}

/// A file with a hand-written safetensors header and `data` after it.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn metadata_problems_name_the_key() {
    for key in [
        "format",
        "task",
        "scale",
        "channels",
        "body_convs",
        "activation",
        "skip",
        "encoding",
        "receptive_field",
    ] {
        let m = metadata_with(|o| {
            o.remove(key);
        });
        let e = ModelSpec::from_json(&m).expect_err(key).to_string();
        assert!(e.contains(key), "{e}");
    }
    let m = metadata_with(|o| {
        o.insert("architecture".into(), "swinir".into());
    });
    let e = ModelSpec::from_json(&m).unwrap_err().to_string();
    assert!(e.contains("swinir") && e.contains("plain-conv v1"), "{e}");
    let m = metadata_with(|o| {
        o.insert("receptive_field".into(), 3.into());
    });
    assert!(ModelSpec::from_json(&m)
        .unwrap_err()
        .to_string()
        .contains("receptive_field"));
    let m = metadata_with(|o| {
        o.insert("channels".into(), 100000.into());
    });
    assert!(ModelSpec::from_json(&m)
        .unwrap_err()
        .to_string()
        .contains("channels"));
    let m = metadata_with(|o| {
        o.insert("format_version".into(), 2.into());
    });
    assert!(ModelSpec::from_json(&m)
        .unwrap_err()
        .to_string()
        .contains("version 2"));
    let m = metadata_with(|o| {
        o.insert("scale".into(), 3.into());
    });
    assert!(ModelSpec::from_json(&m)
        .unwrap_err()
        .to_string()
        .contains("scale"));
    // The Lanczos-3 skip reads 3 pixels each side, more than a body-less stack's halo of 2.
    let m = metadata_with(|o| {
        o.insert("skip".into(), "lanczos3".into());
        o.insert("body_convs".into(), 0.into());
        o.insert("receptive_field".into(), 5.into());
    });
    let e = ModelSpec::from_json(&m).unwrap_err().to_string();
    assert!(
        e.contains("lanczos3") && e.contains("body convolution"),
        "{e}"
    );
    // Unshuffle: 1, 2 or 4, restoration with the identity skip only, and it widens the field.
    let u2: serde_json::Value = serde_json::from_str(&Arch::RESTORE_U2.metadata()).unwrap();
    let with = |key: &str, v: serde_json::Value| {
        let mut o = u2.clone();
        o.as_object_mut().unwrap().insert(key.into(), v);
        ModelSpec::from_json(&o.to_string())
    };
    assert_eq!(with("name", "u2".into()).unwrap().unshuffle, 2);
    assert_eq!(with("name", "u2".into()).unwrap().halo(), 2 * 4 + 1);
    assert!(with("unshuffle", 3.into())
        .unwrap_err()
        .to_string()
        .contains("`unshuffle` is 3"));
    assert!(with("skip", "bilinear".into())
        .unwrap_err()
        .to_string()
        .contains("unshuffle"));
    let e = with("receptive_field", 9.into()).unwrap_err().to_string();
    assert!(e.contains("2×2 blocks see 18 pixels"), "{e}");
    let m = metadata_with(|o| {
        o.insert("unshuffle".into(), 2.into());
    });
    let e = ModelSpec::from_json(&m).unwrap_err().to_string();
    assert!(e.contains("needs task \"restore\""), "{e}");
}

#[test]
fn a_valid_file_loads_and_reports_its_shape() {
    let m = Model::from_bytes(&model_bytes(Arch::X2, 1)).expect("valid");
    assert_eq!(m.convs.len(), 5);
    assert_eq!(m.convs[0].cin, 3);
    assert_eq!(m.convs[4].cout, 12);
    assert_eq!(m.convs[4].cout_padded, 16);
    assert_eq!(
        m.spec.macs_per_input_pixel(),
        9 * (3 * 16 + 3 * 256 + 16 * 12)
    );
}

#[test]
fn hostile_files_get_clear_errors() {
    let good = model_bytes(Arch::X2, 1);
    // Truncated anywhere: in the length, the header, the data.
    for cut in [0, 4, 8, 20, good.len() / 2, good.len() - 1] {
        assert!(parse(&good[..cut]).is_err(), "truncated at {cut}");
    }
    // A header length far past the end.
    let mut lying = good.clone();
    lying[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    expect_err(&lying, "safetensors");
    // Not a PlateRestore model: no metadata entry.
    expect_err(
        &raw_file(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
        "not a PlateRestore model",
    );
    let meta = Arch::X2.metadata().replace('"', "\\\"");
    // Offsets past the end of the data.
    expect_err(
        &raw_file(
            &format!(
                r#"{{"__metadata__":{{"platerestore":"{meta}"}},"head.bias":{{"dtype":"F32","shape":[16],"data_offsets":[0,64000]}}}}"#
            ),
            &[0; 64],
        ),
        "safetensors",
    );
    // Shape whose size overflows, and a shape that disagrees with the byte range.
    expect_err(
        &raw_file(
            &format!(
                r#"{{"__metadata__":{{"platerestore":"{meta}"}},"head.bias":{{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,64]}}}}"#
            ),
            &[0; 64],
        ),
        "safetensors",
    );
    // Duplicate tensor names.
    expect_err(
        &raw_file(
            &format!(
                r#"{{"__metadata__":{{"platerestore":"{meta}"}},"head.bias":{{"dtype":"F32","shape":[16],"data_offsets":[0,64]}},"head.bias":{{"dtype":"F32","shape":[16],"data_offsets":[64,128]}}}}"#
            ),
            &[0; 128],
        ),
        "",
    );
    // Deeply nested JSON in the header and in the metadata.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(&raw_file(&deep, &[])).is_err());
    let deep_meta = format!(
        r#"{{"__metadata__":{{"platerestore":"{}{}"}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    expect_err(&raw_file(&deep_meta, &[]), "JSON");
    // A valid container whose tensors (8 channels) do not fit the declared architecture (16).
    let other = model_bytes_with_metadata(
        Arch {
            channels: 8,
            ..Arch::X2
        },
        1,
        &Arch::X2.metadata(),
    );
    expect_err(&other, "has shape");
}

#[test]
fn tensors_are_checked_against_the_architecture() {
    let arch = Arch::X2;
    let spec = ModelSpec::from_json(&arch.metadata()).unwrap();
    let build = |tensors: Vec<(String, Vec<usize>, Dtype, Vec<u8>)>| {
        struct T(Vec<usize>, Dtype, Vec<u8>);
        impl View for &T {
            fn dtype(&self) -> Dtype {
                self.1
            }
            fn shape(&self) -> &[usize] {
                &self.0
            }
            fn data(&self) -> Cow<'_, [u8]> {
                Cow::Borrowed(&self.2)
            }
            fn data_len(&self) -> usize {
                self.2.len()
            }
        }
        let ts: Vec<(String, T)> = tensors
            .into_iter()
            .map(|(n, s, d, b)| (n, T(s, d, b)))
            .collect();
        let meta = HashMap::from([(METADATA_KEY.to_string(), arch.metadata())]);
        safetensors::serialize(ts.iter().map(|(n, t)| (n.clone(), t)), Some(meta)).unwrap()
    };
    let all = || -> Vec<(String, Vec<usize>, Dtype, Vec<u8>)> {
        spec.expected_tensors()
            .into_iter()
            .map(|(n, s)| {
                let len = s.iter().product::<usize>() * 4;
                (n, s, Dtype::F32, vec![0u8; len])
            })
            .collect()
    };
    assert!(parse(&build(all())).is_ok());
    // Missing.
    let mut t = all();
    t.retain(|(n, ..)| n != "body.1.weight");
    expect_err(&build(t), "`body.1.weight` is missing");
    // Extra.
    let mut t = all();
    t.push(("body.9.weight".into(), vec![1], Dtype::F32, vec![0; 4]));
    expect_err(&build(t), "body.9.weight");
    // Wrong shape.
    let mut t = all();
    t[1] = (t[1].0.clone(), vec![4, 4], Dtype::F32, vec![0; 64]);
    expect_err(&build(t), "shape");
    // Unsupported dtype.
    let mut t = all();
    t[1].2 = Dtype::I32;
    expect_err(&build(t), "dtype");
    // NaN and infinity.
    for bad in [f32::NAN, f32::INFINITY] {
        let mut t = all();
        t[0].3[8..12].copy_from_slice(&bad.to_le_bytes());
        expect_err(&build(t), "non-finite");
    }
    // Half and bfloat16 weights load and convert exactly.
    let mut t = all();
    for e in t.iter_mut() {
        let n = e.3.len() / 4;
        e.2 = if e.0.contains("body") {
            Dtype::BF16
        } else {
            Dtype::F16
        };
        e.3 = (0..n)
            .flat_map(|i| {
                let v = (i % 7) as f32 * 0.25;
                if e.0.contains("body") {
                    half::bf16::from_f32(v).to_le_bytes()
                } else {
                    half::f16::from_f32(v).to_le_bytes()
                }
            })
            .collect();
    }
    let f = parse(&build(t)).expect("f16/bf16 file");
    assert_eq!(f.tensors["head.bias"].values[..4], [0.0, 0.25, 0.5, 0.75]);
    assert_eq!(f.tensors["body.0.bias"].values[6..8], [1.5, 0.0]);
}

/// Mutation fuzzing run in CI: random byte flips, truncations, insertions and header edits of
/// valid files. Every result must be Ok or a clean error — no panic, no abort, no huge
/// allocation (a file can only claim as much as it holds).
#[test]
fn fuzzed_model_files_never_panic() {
    let seeds = [
        model_bytes(Arch::X2, 1),
        model_bytes(
            Arch {
                scale: 4,
                activation: "silu",
                ..Arch::X2
            },
            2,
        ),
        model_bytes(Arch::RESTORE_U2, 3),
    ];
    let mut rng = Rng::new(2024);
    let mut accepted = 0;
    let iterations = 3000;
    for i in 0..iterations {
        let mut b = seeds[i % seeds.len()].clone();
        let edits = 1 + rng.next_u64() % 4;
        for _ in 0..edits {
            let header_len =
                8 + u64::from_le_bytes(b[..8].try_into().unwrap()).min(b.len() as u64) as usize;
            let r = rng.next_u64();
            let pos = if r.is_multiple_of(3) {
                (rng.next_u64() as usize) % b.len().max(1)
            } else {
                // Most edits inside the header, where the parsing is.
                (rng.next_u64() as usize) % header_len.min(b.len()).max(1)
            };
            match r % 7 {
                0 => b[pos] ^= 1 << (rng.next_u64() % 8),
                1 => b[pos] = rng.next_u64() as u8,
                2 => b.truncate(pos),
                3 => b.insert(pos, b"{}[]\",:0-e9"[rng.next_u64() as usize % 11]),
                4 => {
                    let v = rng.next_u64() % 5;
                    let digit = b"0123456789"[(rng.next_u64() % 10) as usize];
                    for k in 0..v as usize {
                        if pos + k < b.len() && b[pos + k].is_ascii_digit() {
                            b[pos + k] = digit;
                        }
                    }
                }
                5 => {
                    if b.len() >= 8 {
                        let n = rng.next_u64() % (b.len() as u64 * 2);
                        b[..8].copy_from_slice(&n.to_le_bytes());
                    }
                }
                _ => {
                    if pos < b.len() {
                        b.remove(pos);
                    }
                }
            }
            if b.len() < 8 {
                break;
            }
        }
        let result = std::panic::catch_unwind(|| parse(&b).map(|f| Model::from_file(&f)));
        match result {
            Err(_) => panic!("iteration {i}: parse panicked"),
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(_)) => {}
        }
    }
    // Byte flips in weight data keep a file valid; most header edits do not.
    assert!(
        accepted > 0 && accepted < iterations,
        "accepted {accepted} of {iterations}"
    );
}

// ---- agreement with PyTorch ----------------------------------------------------------------

/// PyTorch computes the same network with its own kernels (oneDNN; other summation orders,
/// possibly Winograd): differences of a few 1e-6 per layer are expected. 1e-4 is 1/40 of one
/// 8-bit code value, and any real mismatch (a tap, channel or shuffle order) is ≥ 1e-2.
const PYTORCH_TOLERANCE: f32 = 1e-4;

/// Max |engine − PyTorch| over a test vector written by training/model.py (`write_vector`).
fn vector_error(model_path: &std::path::Path, vector_path: &std::path::Path) -> f32 {
    let model = Model::from_bytes(&std::fs::read(model_path).expect("model file"))
        .unwrap_or_else(|e| panic!("{}: {e}", model_path.display()));
    let bytes = std::fs::read(vector_path).expect("vector file");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("vector is safetensors");
    let tensor = |name: &str| {
        let t = st.tensor(name).expect(name);
        assert_eq!(t.dtype(), Dtype::F32);
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (t.shape().to_vec(), v)
    };
    let (ishape, input) = tensor("input");
    let (oshape, output) = tensor("output");
    let (c, h, w) = (ishape[1], ishape[2], ishape[3]);
    let planar = Planar::from_chw(&input, c, w, h, 0, 0);
    let got = cpu::forward(&model, &planar, RunOptions::default());
    let (oh, ow) = (oshape[2], oshape[3]);
    assert_eq!(
        (got.rect.width() as usize, got.rect.height() as usize),
        (ow, oh)
    );
    let expect = Planar::from_chw(&output, 3, ow, oh, 0, 0);
    got.data
        .iter()
        .zip(&expect.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Every shipped model comes with PyTorch's output on a real image crop, and agrees with it.
#[test]
fn shipped_models_agree_with_pytorch() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let models: Vec<_> = std::fs::read_dir(root.join("bundle/models"))
        .expect("bundle/models")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    assert!(!models.is_empty(), "no shipped model in bundle/models");
    for m in models {
        let stem = m.file_stem().unwrap().to_string_lossy().into_owned();
        let vector = root
            .join("tests/data/nn")
            .join(format!("{stem}.vector.safetensors"));
        assert!(
            vector.exists(),
            "{stem} has no PyTorch test vector at {}",
            vector.display()
        );
        let err = vector_error(&m, &vector);
        eprintln!("{stem}: max |engine − PyTorch| = {err:e}");
        assert!(
            err < PYTORCH_TOLERANCE,
            "{stem}: max |engine − PyTorch| = {err}"
        );
    }
}

/// CI's training smoke test (training/smoke.py, run by scripts/test.sh) exports a freshly
/// trained file and its vector into `PLATERESTORE_SMOKE_DIR`; the engine must load it and agree.
/// `PLATERESTORE_REQUIRE_SMOKE=1` (CI) makes a missing directory a failure.
#[test]
fn freshly_trained_smoke_model_loads_and_agrees_with_pytorch() {
    let Some(dir) = std::env::var_os("PLATERESTORE_SMOKE_DIR") else {
        assert!(
            std::env::var("PLATERESTORE_REQUIRE_SMOKE").as_deref() != Ok("1"),
            "PLATERESTORE_REQUIRE_SMOKE=1 but PLATERESTORE_SMOKE_DIR is not set"
        );
        eprintln!("PLATERESTORE_SMOKE_DIR not set: run scripts/test.sh to train the smoke model");
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    // The ×2 upscaler and the restorer on 2×2 blocks (PyTorch's pixel_unshuffle and padding).
    for stem in ["smoke", "smoke-u2"] {
        let err = vector_error(
            &dir.join(format!("{stem}.safetensors")),
            &dir.join(format!("{stem}.vector.safetensors")),
        );
        eprintln!("{stem} model: max |engine − PyTorch| = {err:e}");
        assert!(
            err < PYTORCH_TOLERANCE,
            "{stem} model: max |engine − PyTorch| = {err}"
        );
    }
}

/// `p` with every pixel moved by `to` (written out per case, independently of `Orientation`).
fn moved(p: &Planar, rect: Rect, to: impl Fn(i32, i32) -> (i32, i32)) -> Planar {
    let mut out = Planar::zeros(rect, p.channels);
    for y in p.rect.y1..p.rect.y2 {
        for x in p.rect.x1..p.rect.x2 {
            let (u, v) = to(x, y);
            let i = out.index(u, v);
            out.data[i..i + p.channels].copy_from_slice(p.pixel(x, y));
        }
    }
    out
}

fn ensemble(model: &Model, input: &Planar, region: Rect, n: usize, tile: usize) -> Planar {
    let options = RunOptions {
        tile,
        ..RunOptions::default()
    };
    run_ensemble(
        model,
        input,
        input.rect,
        region,
        n,
        NetDevice::Cpu(options),
        &crate::ops::NeverAbort,
        &mut |_| {},
    )
    .expect("runs")
    .0
}

#[test]
fn an_ensemble_is_the_mean_of_runs_on_flipped_frames() {
    for arch in [Arch::X2, Arch::RESTORE_U2] {
        let model = Model::from_bytes(&model_bytes(arch, 7)).expect("valid");
        let frame = Rect::new(-4, 3, 29, 24);
        let input = random_image(frame, 3, 4);
        let of = cpu::output_frame(frame, arch.scale);
        let plain = ensemble(&model, &input, of, 1, 256);
        assert_eq!(plain, cpu::forward(&model, &input, RunOptions::default()));
        // Two orientations: the plate and its mirror image x -> -1 - x, whose output is
        // mirrored back (output pixels mirror the same way at any scale).
        let mirror = |x: i32, y: i32| (-1 - x, y);
        let flipped_frame = Rect::new(-frame.x2, frame.y1, -frame.x1, frame.y2);
        let m = cpu::forward(
            &model,
            &moved(&input, flipped_frame, mirror),
            RunOptions::default(),
        );
        let back = moved(&m, of, mirror);
        let two = ensemble(&model, &input, of, 2, 256);
        for (i, v) in two.data.iter().enumerate() {
            let want = (plain.data[i] + back.data[i]) * 0.5;
            assert_eq!(v.to_bits(), want.to_bits(), "{arch:?}: value {i}");
        }
        // Windows and tiles: the same bits as the whole frame, for every count.
        let window = Rect::new(of.x1 + 5, of.y1 + 3, of.x2 - 2, of.y1 + 17);
        for n in [4, 8] {
            let whole = ensemble(&model, &input, of, n, 256);
            assert_eq!(ensemble(&model, &input, window, n, 7), whole.crop(window));
        }
    }
}

#[test]
fn the_full_ensemble_turns_with_the_plate_and_one_pass_does_not() {
    // The 8 orientations are a group: running the ensemble on a turned plate gives the turned
    // result (up to the order of the sum), which a single pass of a network does not.
    let model = Model::from_bytes(&model_bytes(Arch::X2, 11)).expect("valid");
    let frame = Rect::new(2, -3, 27, 16);
    let input = random_image(frame, 3, 6);
    let of = cpu::output_frame(frame, 2);
    type Turn = fn(i32, i32) -> (i32, i32);
    let turns: [(&str, Turn); 3] = [
        ("transpose", |x, y| (y, x)),
        ("quarter turn", |x, y| (-1 - y, x)),
        ("upside down", |x, y| (x, -1 - y)),
    ];
    for (name, turn) in turns {
        let bounds = |r: Rect| {
            let (a, b) = (turn(r.x1, r.y1), turn(r.x2 - 1, r.y2 - 1));
            Rect::new(
                a.0.min(b.0),
                a.1.min(b.1),
                a.0.max(b.0) + 1,
                a.1.max(b.1) + 1,
            )
        };
        let turned = moved(&input, bounds(frame), turn);
        for (n, equivariant) in [(1, false), (8, true)] {
            let want = moved(&ensemble(&model, &input, of, n, 256), bounds(of), turn);
            let got = ensemble(&model, &turned, bounds(of), n, 256);
            let err = got
                .data
                .iter()
                .zip(&want.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            if equivariant {
                assert!(err < 1e-5, "{name}: the ensemble moved by {err:e}");
            } else {
                assert!(
                    err > 1e-3,
                    "{name}: one pass is already symmetric ({err:e})?"
                );
            }
        }
    }
}

#[test]
fn an_ensemble_count_other_than_1_2_4_8_is_refused() {
    let model = Model::from_bytes(&model_bytes(Arch::X2, 7)).expect("valid");
    let input = random_image(Rect::new(0, 0, 8, 8), 3, 4);
    for n in [0, 3, 16] {
        let r = run_ensemble(
            &model,
            &input,
            input.rect,
            Rect::new(0, 0, 16, 16),
            n,
            NetDevice::Cpu(RunOptions::default()),
            &crate::ops::NeverAbort,
            &mut |_| {},
        );
        assert!(
            matches!(r, Err(crate::ops::OpError::InvalidParam(_))),
            "{n}"
        );
    }
}
