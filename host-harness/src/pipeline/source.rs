//! Where a pipeline's frames come from: the built-in plate, an image sequence, or a video file
//! decoded by the `ffmpeg` program (frames piped as raw RGB, never through temporary files).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::image::{BitDepth, Components, HostImage, Premult, Rect};
use crate::io::{self, FramePattern};

use super::spec::{InputKind, InputSpec, MissingFrames, VideoMatrix, VideoRange};

/// A source of frames, shared by the nodes (and jobs) that read it.
pub trait FrameSource: Send + Sync {
    /// The frame numbered `frame`, or why it cannot be had.
    fn frame(&self, frame: i64) -> Result<Arc<HostImage>, String>;
    /// The frame numbers it holds, in order (`None`: any frame, e.g. the built-in plate).
    fn frames(&self) -> Option<Vec<i64>>;
    /// One line for logs, reports and the EXR metadata.
    fn describe(&self) -> String;
    /// Frame rate (numerator, denominator), when the source has one.
    fn rate(&self) -> Option<(i32, u32)> {
        None
    }
}

/// Opens the source an input spec names.
pub fn open(spec: &InputSpec) -> Result<Arc<dyn FrameSource>, String> {
    Ok(match &spec.kind {
        InputKind::Builtin => Arc::new(Builtin),
        InputKind::Images(p) => images(p, spec.missing)?,
        InputKind::Video(p) => Arc::new(Video::open(p, spec)?),
    })
}

/// An image file or numbered sequence as a source, holes handled by `missing` (also what
/// `ofxrun render --missing black|hold` reads through).
pub fn images(text: &str, missing: MissingFrames) -> Result<Arc<dyn FrameSource>, String> {
    Ok(Arc::new(Images::open(text, missing)?))
}

struct Builtin;

impl FrameSource for Builtin {
    fn frame(&self, frame: i64) -> Result<Arc<HostImage>, String> {
        Ok(Arc::new(io::default_input_frame(frame)))
    }
    fn frames(&self) -> Option<Vec<i64>> {
        None
    }
    fn describe(&self) -> String {
        let (w, h) = io::DEFAULT_INPUT_SIZE;
        format!("built-in synthetic 8-bit plate ({w}x{h})")
    }
}

struct Images {
    pattern: FramePattern,
    text: String,
    existing: Vec<i64>,
    missing: MissingFrames,
}

impl Images {
    fn open(text: &str, missing: MissingFrames) -> Result<Images, String> {
        let pattern = FramePattern::parse(text).map_err(|e| e.to_string())?;
        let existing = if pattern.is_sequence() {
            pattern.existing_frames().map_err(|e| e.to_string())?
        } else if pattern.path_for(1).exists() {
            vec![1]
        } else {
            Vec::new()
        };
        if existing.is_empty() {
            return Err(format!(
                "no input frames: nothing matches {text} (check the path, and the #### or %04d frame digits)"
            ));
        }
        Ok(Images {
            pattern,
            text: text.to_string(),
            existing,
            missing,
        })
    }
}

impl FrameSource for Images {
    fn frame(&self, frame: i64) -> Result<Arc<HostImage>, String> {
        // A still image serves every frame.
        let frame = if self.pattern.is_sequence() { frame } else { 1 };
        let path = self.pattern.path_for(frame);
        if self.existing.binary_search(&frame).is_ok() || path.exists() {
            return io::read_image(&path)
                .map(Arc::new)
                .map_err(|e| e.to_string());
        }
        let nearest = self
            .existing
            .iter()
            .rev()
            .find(|&&f| f < frame)
            .or(self.existing.first())
            .copied()
            .unwrap_or(frame);
        match self.missing {
            MissingFrames::Error => Err(format!(
                "{} is missing (set `missing = \"black\"` or \"hold\" in [input] to render through holes)",
                path.display()
            )),
            MissingFrames::Hold => {
                log::warn!("{} is missing: holding frame {nearest}", path.display());
                io::read_image(self.pattern.path_for(nearest))
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            }
            MissingFrames::Black => {
                log::warn!("{} is missing: rendering a black plate", path.display());
                let img = io::read_image(self.pattern.path_for(nearest)).map_err(|e| e.to_string())?;
                let mut black = HostImage::new(img.bounds(), img.depth(), img.components());
                black.set_premult(img.premult());
                Ok(Arc::new(black))
            }
        }
    }
    fn frames(&self) -> Option<Vec<i64>> {
        if self.pattern.is_sequence() {
            Some(self.existing.clone())
        } else {
            None
        }
    }
    fn describe(&self) -> String {
        self.text.clone()
    }
}

/// What ffprobe says about a video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub width: i32,
    pub height: i32,
    pub pix_fmt: String,
    pub codec: String,
    /// Tags as ffprobe spells them ("bt709", "tv", …); empty when untagged.
    pub color_space: String,
    pub color_range: String,
    pub color_transfer: String,
    pub color_primaries: String,
    /// Frame rate as a fraction, when known.
    pub rate: Option<(i32, u32)>,
    /// Frame count, when the container says (else counted while decoding).
    pub frames: Option<i64>,
}

impl VideoInfo {
    /// Bits per sample of the decoded picture: 8 for yuv420p, 10 for yuv420p10le…
    pub fn bits(&self) -> u32 {
        let f = self.pix_fmt.as_str();
        let tags = [
            ("p16", 16),
            ("p14", 14),
            ("p12", 12),
            ("p10", 10),
            ("p9", 9),
            ("48", 16),
            ("64", 16),
            ("16le", 16),
            ("16be", 16),
            ("12le", 12),
            ("10le", 10),
        ];
        tags.iter()
            .find(|(t, _)| f.contains(t))
            .map(|(_, b)| *b)
            .unwrap_or(8)
    }
}

/// The matrix and range a decode uses, and why (for the log).
pub fn video_colour(info: &VideoInfo, spec: &InputSpec) -> (VideoMatrix, VideoRange, String) {
    let mut why = Vec::new();
    let matrix = match spec.matrix {
        VideoMatrix::Auto => match info.color_space.as_str() {
            "bt709" => VideoMatrix::Bt709,
            "smpte170m" | "bt470bg" | "bt601" => VideoMatrix::Bt601,
            "bt2020nc" | "bt2020c" => VideoMatrix::Bt2020,
            tag => {
                let m = if info.height >= 720 {
                    VideoMatrix::Bt709
                } else {
                    VideoMatrix::Bt601
                };
                why.push(format!(
                    "matrix {} assumed (file tag '{}')",
                    if m == VideoMatrix::Bt709 {
                        "BT.709"
                    } else {
                        "BT.601"
                    },
                    if tag.is_empty() { "none" } else { tag }
                ));
                m
            }
        },
        m => m,
    };
    let range = match spec.range {
        VideoRange::Auto => match info.color_range.as_str() {
            "pc" | "jpeg" => VideoRange::Full,
            "tv" | "mpeg" => VideoRange::Limited,
            tag => {
                why.push(format!(
                    "limited range assumed (file tag '{}')",
                    if tag.is_empty() { "none" } else { tag }
                ));
                VideoRange::Limited
            }
        },
        r => r,
    };
    (matrix, range, why.join(", "))
}

/// Runs ffprobe on the first video stream.
pub fn probe_video(path: &Path) -> Result<VideoInfo, String> {
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    let out = Command::new(ffprobe_program())
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,pix_fmt,codec_name,color_space,color_range,color_transfer,color_primaries,r_frame_rate,nb_frames",
            "-of",
            "json",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| missing_ffmpeg(&ffprobe_program(), e))?;
    if !out.status.success() {
        return Err(format!(
            "ffprobe cannot read {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("ffprobe gave unreadable output for {}: {e}", path.display()))?;
    let s = v["streams"]
        .get(0)
        .ok_or_else(|| format!("{} has no video stream", path.display()))?;
    let text = |k: &str| {
        s[k].as_str()
            .filter(|t| *t != "unknown")
            .unwrap_or("")
            .to_string()
    };
    let rate = text("r_frame_rate").split_once('/').and_then(|(n, d)| {
        let (n, d) = (n.parse::<i32>().ok()?, d.parse::<u32>().ok()?);
        (n > 0 && d > 0).then_some((n, d))
    });
    let info = VideoInfo {
        width: s["width"].as_i64().unwrap_or(0) as i32,
        height: s["height"].as_i64().unwrap_or(0) as i32,
        pix_fmt: text("pix_fmt"),
        codec: text("codec_name"),
        color_space: text("color_space"),
        color_range: text("color_range"),
        color_transfer: text("color_transfer"),
        color_primaries: text("color_primaries"),
        rate,
        frames: text("nb_frames").parse().ok(),
    };
    let mut info = info;
    if info.frames.is_none() {
        info.frames = count_packets(path);
    }
    if info.width < 1 || info.height < 1 {
        return Err(format!("{}: the video stream has no size", path.display()));
    }
    let limit = io::max_pixels();
    if (info.width as u64) * (info.height as u64) > limit {
        return Err(format!(
            "{}: {}x{} is more than the limit of {limit} pixels ({})",
            path.display(),
            info.width,
            info.height,
            io::MAX_PIXELS_ENV
        ));
    }
    Ok(info)
}

/// Frame count of containers that do not record it (Matroska, WebM): packets counted by
/// ffprobe without decoding.
fn count_packets(path: &Path) -> Option<i64> {
    let out = Command::new(ffprobe_program())
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn ffmpeg_program() -> String {
    std::env::var("OFXRUN_FFMPEG").unwrap_or_else(|_| "ffmpeg".into())
}

fn ffprobe_program() -> String {
    std::env::var("OFXRUN_FFPROBE").unwrap_or_else(|_| "ffprobe".into())
}

fn missing_ffmpeg(program: &str, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!(
            "video input needs the '{program}' program, which is not installed: run scripts/setup.sh \
             (or `apt-get install ffmpeg`), or convert the clip to an image sequence"
        )
    } else {
        format!("cannot run '{program}': {e}")
    }
}

/// A decoder streaming forward from some frame, with the last few frames kept: temporal nodes
/// look around the frame they render, and a request behind the window restarts the decode.
struct Decoder {
    child: Option<(Child, ChildStdout)>,
    /// Index (0-based) of the next frame the pipe will deliver.
    next: i64,
    cache: BTreeMap<i64, Arc<HostImage>>,
    /// Frames in the file, once the end has been reached.
    end: Option<i64>,
}

impl Drop for Decoder {
    fn drop(&mut self) {
        if let Some((mut c, _)) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Video {
    path: PathBuf,
    info: VideoInfo,
    matrix: VideoMatrix,
    range: VideoRange,
    first_frame: i64,
    bits16: bool,
    decoder: Mutex<Decoder>,
}

/// Frames kept behind the decode position.
const VIDEO_CACHE: usize = 8;

impl Video {
    fn open(path: &Path, spec: &InputSpec) -> Result<Video, String> {
        let info = probe_video(path)?;
        let (matrix, range, why) = video_colour(&info, spec);
        if !why.is_empty() {
            log::warn!("{}: {why}", path.display());
        }
        if info.color_transfer == "smpte2084" || info.color_transfer == "arib-std-b67" {
            log::warn!(
                "{}: the clip is tagged {} (HDR); it is decoded as code values, no transfer is undone",
                path.display(),
                info.color_transfer
            );
        }
        Ok(Video {
            path: path.to_path_buf(),
            bits16: info.bits() > 8,
            info,
            matrix,
            range,
            first_frame: spec.first_frame,
            decoder: Mutex::new(Decoder {
                child: None,
                next: 0,
                cache: BTreeMap::new(),
                end: None,
            }),
        })
    }

    /// The ffmpeg arguments that decode to full-range RGB through the chosen matrix.
    fn decode_args(&self) -> Vec<String> {
        let m = match self.matrix {
            VideoMatrix::Bt601 => "bt601",
            VideoMatrix::Bt2020 => "bt2020",
            _ => "bt709",
        };
        let r = if self.range == VideoRange::Full {
            "pc"
        } else {
            "tv"
        };
        // accurate_rnd + full_chroma_int: exact rounding and full-precision chroma upsampling.
        let vf = format!(
            "scale=in_color_matrix={m}:in_range={r}:out_range=pc:flags=accurate_rnd+full_chroma_int+bitexact"
        );
        let pix = if self.bits16 { "rgb48le" } else { "rgb24" };
        vec![
            "-v".into(),
            "error".into(),
            "-nostdin".into(),
            "-i".into(),
            self.path.display().to_string(),
            "-map".into(),
            "0:v:0".into(),
            "-vf".into(),
            vf,
            "-fps_mode".into(),
            "passthrough".into(),
            "-f".into(),
            "rawvideo".into(),
            "-pix_fmt".into(),
            pix.into(),
            "pipe:1".into(),
        ]
    }

    fn start(&self, d: &mut Decoder) -> Result<(), String> {
        if let Some((mut c, _)) = d.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut child = Command::new(ffmpeg_program())
            .args(self.decode_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| missing_ffmpeg(&ffmpeg_program(), e))?;
        let out = child.stdout.take().ok_or("ffmpeg gave no output pipe")?;
        d.child = Some((child, out));
        d.next = 0;
        Ok(())
    }

    /// Reads the next frame off the pipe; `None` at the end of the stream.
    fn read_next(&self, d: &mut Decoder) -> Result<Option<HostImage>, String> {
        let (w, h) = (self.info.width as usize, self.info.height as usize);
        let bps = if self.bits16 { 2 } else { 1 };
        let mut buf = vec![0u8; w * h * 3 * bps];
        let Some((child, out)) = d.child.as_mut() else {
            return Ok(None);
        };
        let mut got = 0;
        while got < buf.len() {
            match out.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading frames from ffmpeg: {e}")),
            }
        }
        if got == 0 {
            // End of stream: a decode error shows on stderr and a non-zero exit.
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            let status = child.wait().map_err(|e| e.to_string())?;
            d.child = None;
            if !status.success() {
                return Err(format!(
                    "ffmpeg failed decoding {}: {}",
                    self.path.display(),
                    err.trim()
                ));
            }
            return Ok(None);
        }
        if got < buf.len() {
            return Err(format!(
                "ffmpeg delivered a partial frame ({got} of {} bytes) for {}",
                buf.len(),
                self.path.display()
            ));
        }
        let depth = if self.bits16 {
            BitDepth::Short
        } else {
            BitDepth::Byte
        };
        let mut img = HostImage::new(Rect::from_size(w as i32, h as i32), depth, Components::Rgba);
        img.set_premult(Premult::Opaque);
        let src_row = w * 3 * bps;
        for r in 0..h {
            let y = (h - 1 - r) as i32; // the pipe is top row first; OFX rows go up
            let src = &buf[r * src_row..(r + 1) * src_row];
            let dst = img.row_bytes_mut(y);
            if self.bits16 {
                for (px, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(6)) {
                    for c in 0..3 {
                        let v = u16::from_le_bytes([s[2 * c], s[2 * c + 1]]);
                        px[2 * c..2 * c + 2].copy_from_slice(&v.to_ne_bytes());
                    }
                    px[6..8].copy_from_slice(&u16::MAX.to_ne_bytes());
                }
            } else {
                for (px, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(3)) {
                    px[..3].copy_from_slice(s);
                    px[3] = 255;
                }
            }
        }
        Ok(Some(img))
    }
}

impl FrameSource for Video {
    fn frame(&self, frame: i64) -> Result<Arc<HostImage>, String> {
        let index = frame - self.first_frame;
        if index < 0 {
            return Err(format!(
                "frame {frame} is before the clip's first frame ({}; set first_frame in [input] to renumber)",
                self.first_frame
            ));
        }
        let mut d = self.decoder.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(img) = d.cache.get(&index) {
            return Ok(img.clone());
        }
        if let Some(end) = d.end {
            if index >= end {
                return Err(format!(
                    "frame {frame} is past the end of {} ({end} frames, numbered from {})",
                    self.path.display(),
                    self.first_frame
                ));
            }
        }
        if d.child.is_none() || index < d.next {
            self.start(&mut d)?;
        }
        loop {
            let at = d.next;
            match self.read_next(&mut d)? {
                None => {
                    d.end = Some(at);
                    return Err(format!(
                        "frame {frame} is past the end of {} ({at} frames, numbered from {})",
                        self.path.display(),
                        self.first_frame
                    ));
                }
                Some(img) => {
                    d.next += 1;
                    if at + (VIDEO_CACHE as i64) < index {
                        continue; // skipping towards the frame asked for
                    }
                    let img = Arc::new(img);
                    d.cache.insert(at, img.clone());
                    while d.cache.len() > VIDEO_CACHE {
                        let first = *d.cache.keys().next().unwrap_or(&at);
                        d.cache.remove(&first);
                    }
                    if at == index {
                        return Ok(img);
                    }
                }
            }
        }
    }
    fn frames(&self) -> Option<Vec<i64>> {
        self.info
            .frames
            .map(|n| (self.first_frame..self.first_frame + n).collect())
    }
    fn rate(&self) -> Option<(i32, u32)> {
        self.info.rate
    }
    fn describe(&self) -> String {
        format!(
            "{} ({} {}x{} {}, matrix {:?}, {:?} range)",
            self.path.display(),
            self.info.codec,
            self.info.width,
            self.info.height,
            self.info.pix_fmt,
            self.matrix,
            self.range
        )
    }
}

/// Writes the built-in plate as a compressed 8-bit clip, the way a generator delivers one:
/// frames 1..=`frames` of the 960x540 plate, scaled to `size` with a soft bicubic (generated
/// video is rarely sharp at its delivery size), then H.264 4:2:0 at `crf` (30 leaves blocks,
/// ringing and banding), tagged BT.709 limited range, 24 fps. Needs the `ffmpeg` program.
pub fn write_sample_clip(
    path: &Path,
    frames: i64,
    size: (i32, i32),
    crf: u32,
) -> Result<(), String> {
    use std::io::Write;
    let (w, h) = io::DEFAULT_INPUT_SIZE;
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let tmp = path.with_extension(format!(
        "partial.{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or("mp4")
    ));
    let vf = format!(
        "scale={}:{}:flags=bicubic:out_color_matrix=bt709:out_range=tv,format=yuv420p",
        size.0, size.1
    );
    let mut child = Command::new(ffmpeg_program())
        .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"])
        .args(["-s", &format!("{w}x{h}"), "-r", "24", "-i", "pipe:0"])
        .args(["-vf", &vf, "-c:v", "libx264", "-preset", "medium"])
        .args(["-crf", &crf.to_string(), "-threads", "1"])
        .args(["-colorspace", "bt709", "-color_primaries", "bt709"])
        .args(["-color_trc", "bt709", "-color_range", "tv"])
        .arg(&tmp)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| missing_ffmpeg(&ffmpeg_program(), e))?;
    let mut stdin = child.stdin.take().ok_or("ffmpeg gave no input pipe")?;
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for f in 1..=frames {
        let img = io::default_input_frame(f);
        rgb.clear();
        for r in 0..h {
            for px in img.row(h - 1 - r).chunks_exact(4) {
                rgb.extend_from_slice(&px[..3]);
            }
        }
        if stdin.write_all(&rgb).is_err() {
            break; // ffmpeg stopped: its message follows
        }
    }
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "ffmpeg could not write {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot move the clip into place: {e}"))
}
