//! The QC report of a pipeline run: before/after crops and per-frame measurements, written as
//! PNG files and one self-contained HTML page (images inlined), so a supervisor sees what the
//! pipeline did without an EXR viewer.
//!
//! Measurements are taken on luma code values (Y' = 0.2126 R' + 0.7152 G' + 0.0722 B', ITU-R
//! BT.709 weights, on 0–255), on the input's pixel grid: an output that is an integer multiple
//! of the input's size is box-averaged back to it first, so before and after compare alike.
//! - **blockiness**: mean |step| across 8-pixel block boundaries ÷ mean |step| elsewhere
//!   (1.0 = no block edges; compressed plates run 1.2–2);
//! - **banding**: the share of pixels in smooth areas that sit on a flat plateau (both
//!   neighbour steps under 0.05 code): 8-bit gradients are mostly plateaus, dithered or
//!   grained ones are not;
//! - **noise**: σ in codes by Immerkær's estimator (J. Immerkær, "Fast Noise Variance
//!   Estimation", CVIU 64(2), 1996): σ = √(π/2) · Σ|I ∗ N| / (6 (W−2)(H−2)) with
//!   N = [1 −2 1; −2 4 −2; 1 −2 1];
//! - **flicker**: mean |change| of 16×16 block means from the previous frame, in codes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::image::HostImage;

use super::source::FrameSource;
use super::spec::Pipeline;

const BLOCK: usize = 8;
const FLICKER_BLOCK: usize = 16;
/// Side of the crops, in input pixels.
const CROP: usize = 160;

/// A luma plane in 8-bit codes, top row first.
pub struct Plane {
    w: usize,
    h: usize,
    v: Vec<f32>,
}

impl Plane {
    /// Luma of `img` on a `w × h` grid: `img` itself, or box-averaged when it is an integer
    /// multiple of that size.
    pub fn of(img: &HostImage, grid: Option<(usize, usize)>) -> Plane {
        let b = img.bounds();
        let (iw, ih) = (b.width().max(0) as usize, b.height().max(0) as usize);
        let (w, h) = match grid {
            Some((w, h)) if w > 0 && h > 0 && iw % w == 0 && ih % h == 0 && iw / w == ih / h => {
                (w, h)
            }
            _ => (iw, ih),
        };
        let k = iw.checked_div(w).unwrap_or(1).max(1);
        let mut v = vec![0f32; w * h];
        let mut row = vec![[0f32; 4]; iw];
        for r in 0..ih {
            img.read_row(b.y2 - 1 - r as i32, b.x1, &mut row);
            let dst = &mut v[(r / k) * w..(r / k + 1) * w];
            for (x, px) in row.iter().enumerate() {
                let y = 0.2126 * px[0] + 0.7152 * px[1] + 0.0722 * px[2];
                dst[x / k] += y * 255.0;
            }
        }
        let n = (k * k) as f32;
        v.iter_mut().for_each(|x| *x /= n);
        Plane { w, h, v }
    }
    fn at(&self, x: usize, y: usize) -> f32 {
        self.v[y * self.w + x]
    }
}

/// One frame's measurements before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMeasures {
    pub frame: i64,
    pub before: Measures,
    pub after: Measures,
    before_blocks: Vec<f32>,
    after_blocks: Vec<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measures {
    pub blockiness: f64,
    pub banding: f64,
    pub noise: f64,
    /// Filled in once the previous frame is known.
    pub flicker: Option<f64>,
}

/// Blockiness ratio of a plane (see the module notes).
pub fn blockiness(p: &Plane) -> f64 {
    let (mut edge, mut ne, mut inner, mut ni) = (0f64, 0usize, 0f64, 0usize);
    for y in 0..p.h {
        for x in 0..p.w.saturating_sub(1) {
            let d = (p.at(x + 1, y) - p.at(x, y)).abs() as f64;
            if (x + 1) % BLOCK == 0 {
                edge += d;
                ne += 1;
            } else {
                inner += d;
                ni += 1;
            }
        }
    }
    for y in 0..p.h.saturating_sub(1) {
        for x in 0..p.w {
            let d = (p.at(x, y + 1) - p.at(x, y)).abs() as f64;
            if (y + 1) % BLOCK == 0 {
                edge += d;
                ne += 1;
            } else {
                inner += d;
                ni += 1;
            }
        }
    }
    if ne == 0 || ni == 0 || inner == 0.0 {
        return 1.0;
    }
    (edge / ne as f64) / (inner / ni as f64)
}

/// Share of smooth-area pixels on a plateau (see the module notes), in 0..1.
pub fn banding(p: &Plane) -> f64 {
    let (mut smooth, mut flat) = (0usize, 0usize);
    for y in 2..p.h.saturating_sub(2) {
        for x in 2..p.w.saturating_sub(2) {
            // Smooth: the 5×5 neighbourhood spans under 6 codes and is not constant.
            let (mut lo, mut hi) = (f32::MAX, f32::MIN);
            for dy in 0..5 {
                for dx in 0..5 {
                    let v = p.at(x + dx - 2, y + dy - 2);
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            let span = hi - lo;
            if !(0.5..6.0).contains(&span) {
                continue;
            }
            smooth += 1;
            let c = p.at(x, y);
            if (p.at(x + 1, y) - c).abs() < 0.05 && (p.at(x, y + 1) - c).abs() < 0.05 {
                flat += 1;
            }
        }
    }
    if smooth == 0 {
        0.0
    } else {
        flat as f64 / smooth as f64
    }
}

/// Immerkær's noise σ in codes.
pub fn noise_sigma(p: &Plane) -> f64 {
    if p.w < 3 || p.h < 3 {
        return 0.0;
    }
    let mut sum = 0f64;
    for y in 1..p.h - 1 {
        for x in 1..p.w - 1 {
            let v = p.at(x - 1, y - 1) - 2.0 * p.at(x, y - 1) + p.at(x + 1, y - 1)
                - 2.0 * p.at(x - 1, y)
                + 4.0 * p.at(x, y)
                - 2.0 * p.at(x + 1, y)
                + p.at(x - 1, y + 1)
                - 2.0 * p.at(x, y + 1)
                + p.at(x + 1, y + 1);
            sum += v.abs() as f64;
        }
    }
    (std::f64::consts::PI / 2.0).sqrt() * sum / (6.0 * (p.w - 2) as f64 * (p.h - 2) as f64)
}

fn block_means(p: &Plane) -> Vec<f32> {
    let (bw, bh) = (p.w / FLICKER_BLOCK, p.h / FLICKER_BLOCK);
    let mut out = vec![0f32; bw * bh];
    for by in 0..bh {
        for bx in 0..bw {
            let mut s = 0f32;
            for y in 0..FLICKER_BLOCK {
                for x in 0..FLICKER_BLOCK {
                    s += p.at(bx * FLICKER_BLOCK + x, by * FLICKER_BLOCK + y);
                }
            }
            out[by * bw + bx] = s / (FLICKER_BLOCK * FLICKER_BLOCK) as f32;
        }
    }
    out
}

fn mean_abs_diff(a: &[f32], b: &[f32]) -> Option<f64> {
    (a.len() == b.len() && !a.is_empty()).then(|| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() as f64)
            .sum::<f64>()
            / a.len() as f64
    })
}

impl FrameMeasures {
    /// Measures `before` (the source) and `after` (the pipeline's output) on the source grid.
    pub fn of(frame: i64, before: &HostImage, after: &HostImage) -> FrameMeasures {
        let b = Plane::of(before, None);
        let a = Plane::of(after, Some((b.w, b.h)));
        let m = |p: Plane| {
            let blocks = block_means(&p);
            (
                Measures {
                    blockiness: blockiness(&p),
                    banding: banding(&p),
                    noise: noise_sigma(&p),
                    flicker: None,
                },
                blocks,
            )
        };
        let (before, before_blocks) = m(b);
        let (after, after_blocks) = m(a);
        FrameMeasures {
            frame,
            before,
            after,
            before_blocks,
            after_blocks,
        }
    }
}

/// An 8-bit RGB crop, top row first.
struct Crop {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Crop {
    /// `CROP × CROP` source pixels of `img` from `at` (top-left, source pixels, top row first;
    /// all scaled by `k` for an output `k` times the source), drawn `scale` times larger by
    /// pixel repetition.
    fn of(img: &HostImage, at: (usize, usize), k: usize, scale: usize) -> Crop {
        let b = img.bounds();
        let (iw, ih) = (b.width() as usize, b.height() as usize);
        let side_w = (CROP * k).min(iw);
        let side_h = (CROP * k).min(ih);
        let x0 = (at.0 * k).min(iw - side_w);
        let y0 = (at.1 * k).min(ih - side_h);
        let (w, h) = (side_w * scale, side_h * scale);
        let mut rgb = vec![0u8; w * h * 3];
        let mut row = vec![[0f32; 4]; iw];
        for r in 0..side_h {
            img.read_row(b.y2 - 1 - (y0 + r) as i32, b.x1, &mut row);
            for sy in 0..scale {
                let out = &mut rgb[((r * scale + sy) * w) * 3..((r * scale + sy + 1) * w) * 3];
                for x in 0..side_w {
                    let px = row[x0 + x];
                    for sx in 0..scale {
                        for c in 0..3 {
                            out[((x * scale + sx) * 3) + c] =
                                (px[c].clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
                        }
                    }
                }
            }
        }
        Crop { w, h, rgb }
    }

    fn png(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().map_err(|e| e.to_string())?;
            w.write_image_data(&self.rgb).map_err(|e| e.to_string())?;
        }
        Ok(out)
    }
}

/// Gathers measurements and crops while frames render (from any job).
pub struct Collector {
    crop_frames: Vec<i64>,
    frames: Vec<FrameMeasures>,
    crops: Vec<(i64, Crop, Crop)>,
    sizes: Option<((i32, i32), (i32, i32))>,
    crop_at: Option<(usize, usize)>,
}

/// Top-left of the `CROP × CROP` window (on a 6 × 6 grid of candidates) that shows the most
/// of what a restoration removes: block edges and banding (excess blockiness plus banded share;
/// on a tie, the first). A crop of busy texture or an empty sky would show little.
fn busiest_window(img: &HostImage) -> (usize, usize) {
    let p = Plane::of(img, None);
    let (sw, sh) = (CROP.min(p.w), CROP.min(p.h));
    let mut best = (f64::MIN, (p.w - sw) / 2, (p.h - sh) / 2);
    for gy in 0..6 {
        for gx in 0..6 {
            let (x0, y0) = ((p.w - sw) * gx / 5, (p.h - sh) * gy / 5);
            // Block phase is kept: windows start on multiples of 8 source pixels.
            let (x0, y0) = (x0 / BLOCK * BLOCK, y0 / BLOCK * BLOCK);
            let mut v = Vec::with_capacity(sw * sh);
            for y in y0..y0 + sh {
                v.extend_from_slice(&p.v[y * p.w + x0..y * p.w + x0 + sw]);
            }
            let win = Plane { w: sw, h: sh, v };
            let score = (blockiness(&win) - 1.0).max(0.0) + banding(&win);
            if score > best.0 {
                best = (score, x0, y0);
            }
        }
    }
    (best.1, best.2)
}

impl Collector {
    /// Crops are taken at the first, middle and last of `frames`.
    pub fn new(frames: &[i64]) -> Collector {
        let mut crop_frames: Vec<i64> = [0, frames.len() / 2, frames.len().saturating_sub(1)]
            .iter()
            .filter_map(|&i| frames.get(i).copied())
            .collect();
        crop_frames.dedup();
        Collector {
            crop_frames,
            frames: Vec::new(),
            crops: Vec::new(),
            sizes: None,
            crop_at: None,
        }
    }

    pub fn add(&mut self, m: FrameMeasures, before: &HostImage, after: &HostImage) {
        let (bb, ab) = (before.bounds(), after.bounds());
        self.sizes = Some(((bb.width(), bb.height()), (ab.width(), ab.height())));
        if self.crop_frames.contains(&m.frame) {
            let k = (ab.width() / bb.width().max(1)).max(1) as usize;
            // One place for every crop, chosen on the first: where the source has most detail.
            let at = *self.crop_at.get_or_insert_with(|| busiest_window(before));
            self.crops.push((
                m.frame,
                Crop::of(before, at, 1, k),
                Crop::of(after, at, k, 1),
            ));
        }
        self.frames.push(m);
    }

    /// Frame measurements in frame order, flicker filled in between consecutive frames.
    pub fn measures(&self) -> Vec<FrameMeasures> {
        let mut f = self.frames.clone();
        f.sort_by_key(|m| m.frame);
        for i in 1..f.len() {
            if f[i].frame == f[i - 1].frame + 1 {
                f[i].before.flicker = mean_abs_diff(&f[i].before_blocks, &f[i - 1].before_blocks);
                f[i].after.flicker = mean_abs_diff(&f[i].after_blocks, &f[i - 1].after_blocks);
            }
        }
        f
    }

    /// Writes `index.html`, `measures.csv` and the crops into `dir`; returns the page's path.
    pub fn write(
        mut self,
        dir: &Path,
        pipeline: &Pipeline,
        src: &dyn FrameSource,
        skipped: &[i64],
        seconds: f64,
    ) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let measures = self.measures();
        self.crops.sort_by_key(|c| c.0);
        let put = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            crate::io::write_atomically(&path, true, |mut out| {
                std::io::Write::write_all(&mut out, bytes).map_err(|e| crate::io::IoError::Write {
                    path: path.clone(),
                    source: e,
                })
            })
            .map_err(|e| e.to_string())
        };
        let mut csv = String::from(
            "frame,blockiness_before,blockiness_after,banding_before,banding_after,noise_before,noise_after,flicker_before,flicker_after\n",
        );
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
        for m in &measures {
            let _ = writeln!(
                csv,
                "{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{},{}",
                m.frame,
                m.before.blockiness,
                m.after.blockiness,
                m.before.banding,
                m.after.banding,
                m.before.noise,
                m.after.noise,
                opt(m.before.flicker),
                opt(m.after.flicker)
            );
        }
        put("measures.csv", csv.as_bytes())?;

        let mut crops_html = String::new();
        for (frame, before, after) in &self.crops {
            let (b, a) = (before.png()?, after.png()?);
            put(&format!("crop_{frame}_before.png"), &b)?;
            put(&format!("crop_{frame}_after.png"), &a)?;
            let _ = writeln!(
                crops_html,
                "<figure><div class=pair><img alt='frame {frame} before' src='data:image/png;base64,{}'>\
                 <img alt='frame {frame} after' src='data:image/png;base64,{}'></div>\
                 <figcaption>frame {frame}: before (left, pixels repeated to the output's scale) · after (right)</figcaption></figure>",
                base64(&b),
                base64(&a)
            );
        }

        let mean = |f: &dyn Fn(&FrameMeasures) -> Option<f64>| {
            let v: Vec<f64> = measures.iter().filter_map(f).collect();
            if v.is_empty() {
                None
            } else {
                Some(v.iter().sum::<f64>() / v.len() as f64)
            }
        };
        type Pick = Box<dyn Fn(&FrameMeasures, bool) -> Option<f64>>;
        let rows: [(&str, &str, Pick); 4] = [
            (
                "Blockiness",
                "8-px block-edge step ÷ other steps; 1.0 = no block edges",
                Box::new(|m, a| {
                    Some(if a {
                        m.after.blockiness
                    } else {
                        m.before.blockiness
                    })
                }),
            ),
            (
                "Banding",
                "share of smooth-area pixels on flat plateaus",
                Box::new(|m, a| Some(100.0 * if a { m.after.banding } else { m.before.banding })),
            ),
            (
                "Noise σ",
                "Immerkær estimate, 8-bit codes",
                Box::new(|m, a| Some(if a { m.after.noise } else { m.before.noise })),
            ),
            (
                "Flicker",
                "mean change of 16×16 block means from the previous frame, codes",
                Box::new(|m, a| if a { m.after.flicker } else { m.before.flicker }),
            ),
        ];
        let mut summary = String::new();
        for (name, what, f) in &rows {
            let fmt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into());
            let unit = if *name == "Banding" { " %" } else { "" };
            let _ = write!(
                summary,
                "<tr><th>{name}</th><td>{}{unit}</td><td>{}{unit}</td><td class=what>{what}</td></tr>",
                fmt(mean(&|m| f(m, false))),
                fmt(mean(&|m| f(m, true)))
            );
        }
        let mut per_frame = String::new();
        for m in &measures {
            let o = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into());
            let _ = write!(
                per_frame,
                "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.1}</td><td>{:.1}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
                m.frame,
                m.before.blockiness,
                m.after.blockiness,
                100.0 * m.before.banding,
                100.0 * m.after.banding,
                m.before.noise,
                m.after.noise,
                o(m.before.flicker),
                o(m.after.flicker)
            );
        }
        let nodes: Vec<String> = pipeline
            .nodes
            .iter()
            .map(|n| {
                let ps: Vec<String> = n
                    .params
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.value))
                    .collect();
                format!(
                    "<li><b>{}</b> <code>{}</code> {}</li>",
                    esc(&n.label),
                    esc(&n.plugin),
                    esc(&ps.join(", "))
                )
            })
            .collect();
        let sizes = self
            .sizes
            .map(|((bw, bh), (aw, ah))| format!("{bw}×{bh} → {aw}×{ah}"))
            .unwrap_or_default();
        let html = format!(
            "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{name} — PlateRestore QC</title>\n<style>\
             body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}}\
             table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
             th{{background:#eee}}td.what{{text-align:left;color:#666}}.pair{{display:flex;gap:6px}}\
             .pair img{{image-rendering:pixelated;max-width:48vw;border:1px solid #999}}figure{{margin:1em 0}}\
             code{{background:#eee;padding:0 3px}}</style></head><body>\n\
             <h1>{name}</h1><p>{desc}</p>\n<p>Source: <code>{src}</code> ({sizes})<br>Output: <code>{out}</code><br>\
             Frames rendered: {n} in {secs:.1} s{skipped}. Pipeline fingerprint <code>{fp}</code>, ofxrun {ver}.</p>\n\
             <ol>{nodes}</ol>\n<h2>Summary (mean over frames)</h2>\n<table><tr><th></th><th>before</th><th>after</th><th></th></tr>{summary}</table>\n\
             <p class=what>Measured on BT.709 luma code values on the source's pixel grid (outputs an integer multiple \
             of the source's size are box-averaged back to it). Crops show code values as stored, clamped to 0–1.</p>\n\
             <h2>Crops</h2>\n{crops}\n<h2>Per frame</h2>\n<table><tr><th>frame</th><th>blockiness before</th><th>after</th>\
             <th>banding % before</th><th>after</th><th>noise before</th><th>after</th><th>flicker before</th><th>after</th></tr>{per_frame}</table>\n\
             <p>Also in <code>measures.csv</code>.</p></body></html>\n",
            name = esc(&pipeline.name),
            desc = esc(&pipeline.description),
            src = esc(&src.describe()),
            out = esc(&pipeline.output.path),
            n = measures.len(),
            secs = seconds,
            skipped = if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} already finished and kept, not measured)", skipped.len())
            },
            fp = pipeline.fingerprint,
            ver = env!("CARGO_PKG_VERSION"),
            nodes = nodes.join(""),
            crops = crops_html,
        );
        put("index.html", html.as_bytes())?;
        Ok(dir.join("index.html"))
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
        .replace('"', "&quot;")
}

/// Standard base64 (RFC 4648 §4) with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(w: usize, h: usize, mut f: impl FnMut(usize, usize) -> f32) -> Plane {
        let mut v = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                v.push(f(x, y));
            }
        }
        Plane { w, h, v }
    }

    /// A reproducible standard normal (xorshift64* and Box–Muller).
    fn gauss(seed: &mut u64) -> f32 {
        let mut u = || {
            *seed ^= *seed >> 12;
            *seed ^= *seed << 25;
            *seed ^= *seed >> 27;
            ((seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (a, b) = (u(), u());
        ((-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()) as f32
    }

    #[test]
    fn immerkaer_estimates_the_sigma_of_white_noise() {
        for sigma in [1.0f32, 4.0, 10.0] {
            let mut s = 0x1234_5678_9abc_def1u64;
            let p = plane(256, 256, |_, _| 128.0 + sigma * gauss(&mut s));
            let est = noise_sigma(&p);
            assert!(
                (est / sigma as f64 - 1.0).abs() < 0.05,
                "σ {sigma}: estimated {est}"
            );
        }
        // A smooth ramp has no noise: the Laplacian-of-Laplacian mask cancels planes.
        let ramp = plane(64, 64, |x, y| 0.5 * x as f32 + 0.25 * y as f32);
        assert!(noise_sigma(&ramp) < 1e-4);
    }

    #[test]
    fn blockiness_sees_8px_block_edges_and_not_texture() {
        let mut s = 7u64;
        let texture = plane(128, 128, |_, _| 100.0 + 3.0 * gauss(&mut s));
        let b = blockiness(&texture);
        assert!((b - 1.0).abs() < 0.05, "white noise: {b}");
        // Each 8x8 block a flat level plus the same texture: steps at block edges are larger.
        let mut s = 7u64;
        let blocky = plane(128, 128, |x, y| {
            100.0 + 6.0 * (((x / 8) * 7 + (y / 8) * 3) % 5) as f32 + gauss(&mut s)
        });
        assert!(blockiness(&blocky) > 2.0, "blocky: {}", blockiness(&blocky));
    }

    #[test]
    fn banding_counts_plateaus_of_rounded_gradients_not_smooth_ones() {
        // A shallow ramp (0.2 code per pixel): rounded to codes it is mostly plateaus.
        let banded = plane(200, 64, |x, _| (60.0 + 0.2 * x as f32).round());
        let smooth = plane(200, 64, |x, _| 60.0 + 0.2 * x as f32);
        assert!(banding(&banded) > 0.6, "{}", banding(&banded));
        assert!(banding(&smooth) < 0.01, "{}", banding(&smooth));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 §10.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
