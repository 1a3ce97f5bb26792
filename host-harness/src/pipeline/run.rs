//! Running a pipeline over a frame range: frames resolved against the source, existing output
//! refused or verified (`--resume`), jobs of contiguous frames rendered in parallel, every
//! write atomic, the first failure stopping the run with its frame and node.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::image::HostImage;
use crate::io::{self, ExrHeader, FrameList, FramePattern, ImageFormat, Progress, WriteOptions};
use crate::Host;

use super::chain::{Chain, NodeFailure};
use super::report::Collector;
use super::source::{self, FrameSource};
use super::spec::{InputKind, MissingFrames, Pipeline, SpecError};

/// EXR attribute holding the pipeline fingerprint (`Pipeline::fingerprint`).
pub const ATTR_PIPELINE: &str = "platerestore:pipeline";
/// EXR attribute holding the source frame number a plate was rendered from.
pub const ATTR_SOURCE_FRAME: &str = "platerestore:sourceFrame";

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Frames to render; `None`: the pipeline's `frames`, else every frame of the source.
    pub frames: Option<FrameList>,
    /// Skip frames already written by this same pipeline (verified by decoding them).
    pub resume: bool,
    /// Replace existing output frames.
    pub overwrite: bool,
    /// Chains rendering contiguous parts of the range at once (each with its own instances).
    pub jobs: usize,
    /// Offer OFX CUDA render to nodes whose device allows it.
    pub cuda_available: bool,
    /// Write a QC report (crops, measurements, HTML) into this folder.
    pub report: Option<PathBuf>,
    pub progress: io::ProgressMode,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            frames: None,
            resume: false,
            overwrite: false,
            jobs: 1,
            cuda_available: false,
            report: None,
            progress: io::ProgressMode::Auto,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub rendered: Vec<i64>,
    /// Frames `--resume` found finished and kept.
    pub skipped: Vec<i64>,
    pub seconds: f64,
    pub output: String,
    pub report: Option<PathBuf>,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("input: {0}")]
    Input(String),
    #[error("output: {0}")]
    Output(String),
    #[error("{}", frame_message(*.frame, .failure))]
    Frame { frame: i64, failure: NodeFailure },
    #[error("frame {frame}: {source}")]
    Write {
        frame: i64,
        source: Box<io::IoError>,
    },
    #[error("report: {0}")]
    Report(String),
}

fn frame_message(frame: i64, f: &NodeFailure) -> String {
    if f.node == usize::MAX {
        format!("frame {frame}: the input could not be read: {}", f.message)
    } else {
        format!(
            "frame {frame} failed in node {} '{}' ({}): {}",
            f.node + 1,
            f.label,
            f.plugin,
            f.message
        )
    }
}

/// Frames to render, from the options, the pipeline and the source.
fn resolve_frames(
    pipeline: &Pipeline,
    opts: &RunOptions,
    src: &dyn FrameSource,
) -> Result<Vec<i64>, RunError> {
    let requested = opts
        .frames
        .clone()
        .or_else(|| pipeline.input.frames.clone());
    let available = src.frames();
    let frames = match (requested, &available) {
        (Some(r), _) => r.frames().to_vec(),
        (None, Some(a)) => a.clone(),
        (None, None) => vec![1],
    };
    if frames.is_empty() {
        return Err(RunError::Input("no frames to render".into()));
    }
    if let Some(a) = &available {
        let sequence_policy = matches!(pipeline.input.kind, InputKind::Images(_))
            && pipeline.input.missing != MissingFrames::Error;
        if !sequence_policy {
            let missing: Vec<i64> = frames
                .iter()
                .copied()
                .filter(|f| a.binary_search(f).is_err())
                .collect();
            if let Some(first) = missing.first() {
                let (lo, hi) = (
                    a.first().copied().unwrap_or(0),
                    a.last().copied().unwrap_or(0),
                );
                return Err(RunError::Input(format!(
                    "{} of the frames asked for are not in {} (first: {first}; it holds {} frame(s), {lo}-{hi}){}",
                    missing.len(),
                    src.describe(),
                    a.len(),
                    if matches!(pipeline.input.kind, InputKind::Images(_)) {
                        "; set `missing = \"black\"` or \"hold\" in [input] to render through holes"
                    } else {
                        ""
                    }
                )));
            }
        }
    }
    Ok(frames)
}

/// Whether `path` is a finished frame of this pipeline: it decodes completely and (EXR) names
/// this pipeline's fingerprint and frame.
pub fn verify_frame(path: &Path, pipeline: &Pipeline, frame: i64) -> Result<(), String> {
    if matches!(ImageFormat::from_path(path), Ok(ImageFormat::Exr)) {
        let h = io::read_exr_header(path).map_err(|e| e.to_string())?;
        let get = |k: &str| h.text.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        match get(ATTR_PIPELINE) {
            Some(f) if f == pipeline.fingerprint => {}
            Some(f) => {
                return Err(format!(
                    "written by another pipeline or other settings (fingerprint {f}, this run {})",
                    pipeline.fingerprint
                ))
            }
            None => return Err("not written by an ofxrun pipeline".into()),
        }
        if get(ATTR_SOURCE_FRAME) != Some(frame.to_string().as_str()) {
            return Err("holds another source frame".into());
        }
    }
    io::read_image(path).map(|_| ()).map_err(|e| e.to_string())
}

fn header_for(pipeline: &Pipeline, src: &dyn FrameSource, frame: i64) -> ExrHeader {
    let nodes: Vec<String> = pipeline
        .nodes
        .iter()
        .map(|n| format!("{} ({})", n.label, n.plugin))
        .collect();
    let file = std::fs::canonicalize(&pipeline.file).unwrap_or_else(|_| pipeline.file.clone());
    ExrHeader {
        chromaticities: pipeline.output.primaries.map(|p| p.chromaticities()),
        frames_per_second: src.rate(),
        text: vec![
            (
                "comments".into(),
                format!(
                    "Rendered by PlateRestore ofxrun {} pipeline '{}': {}",
                    env!("CARGO_PKG_VERSION"),
                    pipeline.name,
                    nodes.join(" > ")
                ),
            ),
            (ATTR_PIPELINE.into(), pipeline.fingerprint.clone()),
            ("platerestore:pipelineName".into(), pipeline.name.clone()),
            (
                "platerestore:pipelineFile".into(),
                file.display().to_string(),
            ),
            ("platerestore:nodes".into(), nodes.join(" > ")),
            ("platerestore:source".into(), src.describe()),
            (ATTR_SOURCE_FRAME.into(), frame.to_string()),
            (
                "platerestore:version".into(),
                env!("CARGO_PKG_VERSION").into(),
            ),
        ],
    }
}

/// Runs `pipeline`. `host` carries the thread count and CUDA configuration.
pub fn run(host: &Host, pipeline: &Pipeline, opts: &RunOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let first_source = source::open(&pipeline.input).map_err(RunError::Input)?;
    let frames = resolve_frames(pipeline, opts, first_source.as_ref())?;
    let out_pattern =
        FramePattern::parse(&pipeline.output.path).map_err(|e| RunError::Output(e.to_string()))?;
    if frames.len() > 1 && !out_pattern.is_sequence() {
        return Err(RunError::Output(format!(
            "{} frames to render but output '{}' names one file: add #### or %04d for the frame number",
            frames.len(),
            pipeline.output.path
        )));
    }
    // Every node checked (plugins, parameters, devices) before anything is written.
    let first_chain = Chain::build(host, pipeline, first_source.clone(), opts.cuda_available)?;

    // Existing output: refused, replaced, or verified and kept.
    let mut todo = Vec::new();
    let mut skipped = Vec::new();
    let mut replace = std::collections::BTreeSet::new();
    for &f in &frames {
        let path = out_pattern.path_for(f);
        if path.symlink_metadata().is_err() {
            todo.push(f);
        } else if opts.resume {
            match verify_frame(&path, pipeline, f) {
                Ok(()) => skipped.push(f),
                Err(why) => {
                    log::warn!(
                        "{}: rendering frame {f} again: the existing file is {why}",
                        path.display()
                    );
                    replace.insert(f);
                    todo.push(f);
                }
            }
        } else if opts.overwrite {
            replace.insert(f);
            todo.push(f);
        } else {
            return Err(RunError::Output(format!(
                "{} already exists (frame {f}): pass --resume to keep the frames already finished, \
                 --overwrite to replace them, or choose another output",
                path.display()
            )));
        }
    }

    let collector = opts
        .report
        .as_ref()
        .map(|_| Mutex::new(Collector::new(&todo)));
    let progress = Mutex::new(Progress::new(todo.len(), opts.progress));
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<RunError>> = Mutex::new(None);
    let jobs = opts.jobs.clamp(1, todo.len().max(1));
    let per_job = todo.len().div_ceil(jobs).max(1);
    let parts: Vec<Vec<i64>> = todo.chunks(per_job).map(|c| c.to_vec()).collect();
    let (range_first, range_last) = (
        *frames.iter().min().unwrap_or(&1),
        *frames.iter().max().unwrap_or(&1),
    );

    let render_part = |chain: &Chain, src: &dyn FrameSource, part: &[i64]| {
        if let Err(f) = chain.begin(range_first, range_last) {
            let frame = part.first().copied().unwrap_or(range_first);
            *lock(&failure) = Some(RunError::Frame { frame, failure: f });
            stop.store(true, Ordering::SeqCst);
            return;
        }
        for &frame in part {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let result = chain
                .render(frame)
                .map_err(|failure| RunError::Frame { frame, failure })
                .and_then(|img| {
                    let path = out_pattern.path_for(frame);
                    let w = WriteOptions {
                        overwrite: replace.contains(&frame),
                        depth: pipeline.output.depth,
                        exr_compression: pipeline.output.compression,
                        exr_header: header_for(pipeline, src, frame),
                        ..WriteOptions::default()
                    };
                    io::write_image(&path, &img, &w).map_err(|source| RunError::Write {
                        frame,
                        source: Box::new(source),
                    })?;
                    Ok(img)
                });
            match result {
                Ok(img) => {
                    if let Some(c) = &collector {
                        measure(c, chain, frame, &img);
                    }
                    lock(&progress).frame_done(frame);
                }
                Err(e) => {
                    let mut f = lock(&failure);
                    if f.is_none() {
                        *f = Some(e);
                    }
                    stop.store(true, Ordering::SeqCst);
                    break;
                }
            }
        }
        chain.end(range_first, range_last);
    };

    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (i, part) in parts.iter().enumerate().skip(1) {
            let render_part = &render_part;
            let failure = &failure;
            let stop = &stop;
            handles.push(scope.spawn(move || {
                let built = source::open(&pipeline.input)
                    .map_err(RunError::Input)
                    .and_then(|src| {
                        Chain::build(host, pipeline, src.clone(), opts.cuda_available)
                            .map(|c| (c, src))
                            .map_err(RunError::from)
                    });
                match built {
                    Ok((chain, src)) => render_part(&chain, src.as_ref(), part),
                    Err(e) => {
                        log::debug!("job {i} could not start");
                        let mut f = lock(failure);
                        if f.is_none() {
                            *f = Some(e);
                        }
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            }));
        }
        if let Some(part) = parts.first() {
            render_part(&first_chain, first_source.as_ref(), part);
        }
        for h in handles {
            let _ = h.join();
        }
    });
    lock(&progress).finish();
    for (label, m) in first_chain.messages() {
        let important =
            m.kind.ends_with("Error") || m.kind.ends_with("Warning") || m.kind.ends_with("Fatal");
        if important {
            log::warn!(
                "node '{label}' says [{}] {}",
                m.kind.trim_start_matches("OfxMessage"),
                m.text
            );
        }
    }
    if let Some(e) = lock(&failure).take() {
        return Err(e);
    }
    let seconds = started.elapsed().as_secs_f64();
    let report = match (&opts.report, collector) {
        (Some(dir), Some(c)) => {
            let c = c.into_inner().unwrap_or_else(|e| e.into_inner());
            Some(
                c.write(dir, pipeline, first_source.as_ref(), &skipped, seconds)
                    .map_err(RunError::Report)?,
            )
        }
        _ => None,
    };
    Ok(RunSummary {
        rendered: todo,
        skipped,
        seconds,
        output: pipeline.output.path.clone(),
        report,
    })
}

fn measure(c: &Mutex<Collector>, chain: &Chain, frame: i64, after: &Arc<HostImage>) {
    match chain.source_frame(frame) {
        Ok(before) => {
            let m = super::report::FrameMeasures::of(frame, &before, after);
            lock(c).add(m, &before, after);
        }
        Err(e) => log::warn!("report: frame {frame}: cannot re-read the source: {e}"),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
