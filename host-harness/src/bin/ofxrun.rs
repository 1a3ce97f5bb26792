//! `ofxrun`: run OFX plugins without a host application — list and describe plugins, render
//! image sequences through them, and check them for conformance.

use clap::{Args, Parser, Subcommand};
use ofx_harness::io::{self, FrameList, FramePattern, Progress, ProgressMode, WriteOptions};
use ofx_harness::*;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "ofxrun",
    version,
    about = "A headless OFX host: list, describe, render through and check OFX image-effect plugins",
    long_about = "A headless OFX host: list, describe, render through and check OFX image-effect plugins.\n\n\
PLUGIN is a plugin identifier (searched in OFX_PLUGIN_PATH, then /usr/OFX/Plugins), a bundle \
directory (NAME.ofx.bundle) or .ofx file, or BUNDLE:identifier for a binary holding several plugins."
)]
struct Cli {
    /// More output: -v prints plugin messages and per-frame timings, -vv debug logging.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the plugins in a bundle, a folder of bundles, or (no argument) the search path.
    List {
        /// A bundle, an .ofx file or a folder to search; default: OFX_PLUGIN_PATH and /usr/OFX/Plugins.
        path: Option<PathBuf>,
    },
    /// Describe a plugin: contexts, flags, clips and parameters (types, defaults, ranges, hints).
    Describe {
        /// Plugin identifier, BUNDLE, or BUNDLE:identifier.
        plugin: String,
    },
    /// Render frames through a plugin and write them to image files.
    Render(RenderArgs),
    /// Check a plugin for conformance and print a report (exit code 1 when it fails).
    Check(CheckArgs),
    /// Run a pipeline file: an input, a chain of OFX effects and an output (see
    /// docs/pipelines.md for the schema; pipelines/genai-plate.toml is the shipped preset).
    Pipeline(PipelineArgs),
    /// Write an Open Job Description job template that renders a pipeline in chunks on a
    /// render farm (each task runs `ofxrun pipeline … --frames CHUNK --resume`).
    Openjd(OpenjdArgs),
    /// Write the built-in plate as a short compressed 8-bit H.264 clip (blocks, banding and a
    /// soft upscale, like generated footage), for trying pipelines. Needs ffmpeg.
    SampleClip {
        /// The clip to write (.mp4, .mov or .mkv).
        #[arg(default_value = "out/sample-clip.mp4")]
        output: PathBuf,
        /// Frames (24 fps).
        #[arg(long, default_value_t = 12)]
        frames: i64,
        /// Size, WxH: the 960x540 plate is scaled to it.
        #[arg(long, default_value = "1920x1080")]
        size: String,
        /// H.264 constant rate factor: higher is more compressed (30 shows blocks and banding).
        #[arg(long, default_value_t = 30)]
        crf: u32,
        /// Replace an existing file.
        #[arg(long)]
        overwrite: bool,
    },
    /// Internal: one conformance probe, run in a child process by `check` so a crash is survivable.
    #[command(hide = true)]
    Probe {
        plugin: String,
        #[arg(long)]
        kind: String,
        #[arg(long = "param")]
        params: Vec<String>,
        #[arg(long)]
        timeout: f64,
    },
}

#[derive(Args)]
struct RenderArgs {
    /// Plugin identifier, BUNDLE, or BUNDLE:identifier.
    plugin: String,
    /// Input image or sequence (`plate.####.png`, `plate.%04d.exr`); EXR, PNG, TIFF, JPEG or DPX.
    /// Default: a built-in synthetic 8-bit plate.
    #[arg(short, long)]
    input: Option<String>,
    /// Output image or sequence (EXR, PNG or TIFF). Default: out/<plugin>.####.exr.
    #[arg(short, long)]
    output: Option<String>,
    /// Frames to render, e.g. `1-48`, `1-100x2`, `1,5,9-12`. Default: every frame of the input
    /// sequence (frame 1 for a still or the built-in plate).
    #[arg(short, long)]
    frames: Option<String>,
    /// Parameter value, repeatable: `name=value` for every frame, `name@frame=value` for a
    /// keyframe (numbers interpolate linearly between keyframes and hold outside them;
    /// booleans, choices and text hold the previous keyframe; once a parameter has
    /// keyframes they define it at every frame, as in a compositor's curve editor).
    /// Values: numbers, `a,b,c` tuples, true/false, a choice label or index, text.
    #[arg(short, long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Another input clip, repeatable: `CLIP=PATTERN` (the -i input goes to Source).
    #[arg(long = "clip", value_name = "CLIP=PATTERN")]
    clips: Vec<String>,
    /// Render in tiles of N×N (or WxH) pixels when the plugin supports tiles.
    #[arg(long, value_name = "N|WxH")]
    tile: Option<String>,
    /// Render threads (tiles run concurrently only for fully thread-safe plugins; the plugin's
    /// own multi-thread suite calls get this many CPUs). Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Pixel depth the host offers the plugin: byte, short, half or float. Default: the input's.
    #[arg(long)]
    depth: Option<BitDepth>,
    /// Depth written to the output files (byte/short for PNG/TIFF, half/float for EXR).
    /// Default: the render's depth where the format holds it.
    #[arg(long)]
    out_depth: Option<BitDepth>,
    /// Render scale, e.g. 0.5 (the input is taken to be at this scale already).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Context to instantiate: filter or general. Default: filter if the plugin has it.
    #[arg(long)]
    context: Option<String>,
    /// Replace existing output files (never done without this flag).
    #[arg(long)]
    overwrite: bool,
    /// Fail (exit code 1) on any conformance error found while rendering.
    #[arg(long)]
    strict: bool,
    /// Render with OFX CUDA render, as DaVinci Resolve does: images in GPU memory (same row
    /// layout as on the CPU), OfxImageEffectPropCudaEnabled = 1 and the host's CUDA stream
    /// when the plugin supports streams. Needs an NVIDIA driver and GPU; refused for plugins
    /// that do not declare CUDA render.
    #[arg(long)]
    cuda: bool,
    /// Frames of the input sequence that do not exist: `error` stops before rendering (the
    /// default; an unreadable file always fails its frame), `black` renders them from a
    /// transparent black plate of the sequence's size, `hold` from the nearest earlier frame.
    #[arg(long, value_enum, default_value_t = Missing::Error)]
    missing: Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Missing {
    Error,
    Black,
    Hold,
}

#[derive(Args)]
struct PipelineArgs {
    /// The pipeline file (TOML).
    file: PathBuf,
    /// Input instead of the file's [input] path: a video (MP4/MOV/MKV…, decoded by ffmpeg), an
    /// image sequence (`plate.####.png`), a still, or `builtin`.
    #[arg(short, long)]
    input: Option<String>,
    /// Output sequence instead of the file's [output] path.
    #[arg(short, long)]
    output: Option<String>,
    /// Frames to render, e.g. `1-240`, `1-100x2`, `1,5,9-12`. Default: the file's `frames`,
    /// else every frame of the input.
    #[arg(short, long)]
    frames: Option<String>,
    /// Change a node's parameter, repeatable: `LABEL.PARAM=VALUE` (LABEL: the node's label or
    /// its position from 1).
    #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
    set: Vec<String>,
    /// Keep output frames this pipeline already finished (each is decoded and its EXR
    /// fingerprint checked) and render the rest.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Replace existing output frames (never done without this flag or --resume).
    #[arg(long)]
    overwrite: bool,
    /// Frames rendered at once, each job a chain of its own over a contiguous part of the
    /// range; the threads are shared among them.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Threads in all. Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Write a QC report here: before/after crops, per-frame blockiness, banding, noise and
    /// flicker, as index.html (self-contained) and measures.csv.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Progress on stderr: auto (a live line on a terminal, lines otherwise), live, lines, quiet.
    #[arg(long, default_value = "auto")]
    progress: String,
    /// OFX CUDA render for nodes whose device is auto or cuda: auto (when a GPU is usable),
    /// off, on (an error without a GPU).
    #[arg(long, default_value = "auto")]
    cuda: String,
    /// Check the pipeline (file, plugins, parameters, input, output) and render nothing.
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct OpenjdArgs {
    /// The pipeline file (TOML).
    file: PathBuf,
    /// Frames the job renders. Default: the file's `frames`, else every frame of the input.
    #[arg(short, long)]
    frames: Option<String>,
    /// Frames per task.
    #[arg(long, default_value_t = 10)]
    chunk: usize,
    /// Input instead of the file's (written as an absolute path).
    #[arg(short, long)]
    input: Option<String>,
    /// Output sequence instead of the file's (written as an absolute path).
    #[arg(short, long)]
    output: Option<String>,
    /// Parameter changes passed to every task: `LABEL.PARAM=VALUE`, repeatable.
    #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
    set: Vec<String>,
    /// The job bundle folder to write (template.json, parameter_values.json,
    /// openjd-params.json). Default: out/<pipeline name>.openjd.
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Replace an existing job bundle's files.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// Plugin identifier, BUNDLE, or BUNDLE:identifier.
    plugin: String,
    /// Parameter value used for the check renders, repeatable: `name=value`.
    #[arg(short, long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Size of the synthetic test frame, WxH.
    #[arg(long, default_value = "160x120")]
    size: String,
    /// Seconds a probe render may take before it counts as a hang.
    #[arg(long, default_value_t = 20.0)]
    timeout: f64,
    /// Threads for the concurrent renders.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Run the NULL-image and abort probes in this process (a crash then ends the check).
    #[arg(long)]
    no_isolate: bool,
    /// Warnings fail the check too.
    #[arg(long)]
    strict: bool,
}

/// Errors the CLI reports: what failed and how to fix it.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Io(#[from] io::IoError),
    #[error("{0}")]
    Usage(String),
    /// What failed, where the context (e.g. the frame) is said around it.
    #[error("{0}")]
    Failed(String),
    #[error("frame {frame}: {source}")]
    Frame { frame: i64, source: Box<CliError> },
    #[error(transparent)]
    Pipeline(#[from] pipeline::RunError),
    #[error(transparent)]
    Spec(#[from] pipeline::SpecError),
}

struct StderrLogger(log::LevelFilter);

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.0
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!(
                "ofxrun: {}: {}",
                r.level().as_str().to_lowercase(),
                r.args()
            );
        }
    }
    fn flush(&self) {}
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger(level)));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
    let verbose = cli.verbose;
    let r = match cli.command {
        Command::List { path } => list(path),
        Command::Describe { plugin } => describe(&plugin),
        Command::Render(a) => render(a, verbose),
        Command::Check(a) => check(a),
        Command::Pipeline(a) => run_pipeline(a),
        Command::Openjd(a) => openjd(a),
        Command::SampleClip {
            output,
            frames,
            size,
            crf,
            overwrite,
        } => sample_clip(&output, frames, &size, crf, overwrite),
        Command::Probe {
            plugin,
            kind,
            params,
            timeout,
        } => probe(&plugin, &kind, &params, timeout),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ofxrun: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list(path: Option<PathBuf>) -> Result<ExitCode, CliError> {
    let host = Host::new(HostConfig::default());
    let bins = host.discover(path.as_deref());
    if bins.is_empty() {
        let where_ = path.map(|p| p.display().to_string()).unwrap_or_else(|| {
            plugin::search_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        });
        println!("no OFX bundles found in {where_} (set OFX_PLUGIN_PATH or pass a folder)");
        return Ok(ExitCode::SUCCESS);
    }
    for b in bins {
        match host.load(&b) {
            Ok(bin) => {
                println!("{}", b.display());
                for e in bin.plugins() {
                    println!(
                        "  {}  v{}.{}  ({} v{})",
                        e.identifier, e.version_major, e.version_minor, e.api, e.api_version
                    );
                }
            }
            Err(e) => println!("{}\n  cannot load: {e}", b.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(spec: &str) -> Result<ExitCode, CliError> {
    let host = Host::new(HostConfig::default());
    let plugin = host.plugin(spec)?;
    let d = plugin.describe();
    println!(
        "{}  v{}.{}  \"{}\"",
        d.identifier, d.version.0, d.version.1, d.label
    );
    println!("  file:            {}", d.file.display());
    if !d.grouping.is_empty() {
        println!("  group:           {}", d.grouping);
    }
    if !d.description.is_empty() {
        println!("  description:     {}", d.description);
    }
    println!("  contexts:        {}", d.declared_contexts.join(", "));
    println!("  pixel depths:    {}", d.supported_depths.join(", "));
    println!("  thread safety:   {}", d.render_thread_safety);
    println!(
        "  tiles: {}  multi-resolution: {}  temporal access: {}  host frame threading: {}",
        d.supports_tiles,
        d.supports_multi_resolution,
        d.temporal_clip_access,
        d.host_frame_threading
    );
    println!(
        "  CUDA render:     {} (streams: {})",
        d.cuda.render, d.cuda.stream
    );
    if !d.missing_suites.is_empty() {
        let s: Vec<String> = d
            .missing_suites
            .iter()
            .map(|(n, v)| format!("{n} v{v}"))
            .collect();
        println!(
            "  suites asked for but not provided by ofxrun: {}",
            s.join(", ")
        );
    }
    for c in &d.contexts {
        println!("\n  [{}]", c.context);
        println!("  clips:");
        for clip in &c.clips {
            let mut flags = Vec::new();
            if clip.optional {
                flags.push("optional");
            }
            if clip.is_mask {
                flags.push("mask");
            }
            if clip.temporal_access {
                flags.push("temporal");
            }
            println!(
                "    {:<12} {} {}",
                clip.name,
                clip.components.join("/"),
                flags.join(" ")
            );
        }
        println!("  parameters:");
        for p in &c.params {
            let mut line = format!(
                "    {:<20} {:<10} default {}",
                p.name,
                p.kind.ofx_name().trim_start_matches("OfxParamType"),
                p.default
            );
            if !p.min.is_empty() && p.min.iter().any(|v| v.abs() < i32::MAX as f64) {
                line += &format!("  range [{}, {}]", fmt_list(&p.min), fmt_list(&p.max));
            }
            if !p.display_min.is_empty() && p.display_min.iter().any(|v| v.abs() < i32::MAX as f64)
            {
                line += &format!(
                    "  display [{}, {}]",
                    fmt_list(&p.display_min),
                    fmt_list(&p.display_max)
                );
            }
            if !p.options.is_empty() {
                line += &format!("  options {:?}", p.options);
            }
            if p.secret {
                line += "  (secret)";
            }
            println!("{line}");
            if p.label != p.name {
                println!("      label: {}", p.label);
            }
            if !p.hint.is_empty() {
                println!("      hint:  {}", p.hint);
            }
        }
    }
    if !d.findings.is_empty() {
        println!("\n  findings:");
        for f in &d.findings {
            println!("    {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fmt_list(v: &[f64]) -> String {
    // Plugins often declare "no limit" as ±DBL_MAX or INT_MAX: print those as exponents,
    // not as 309 digits.
    v.iter()
        .map(|&x| {
            if x.abs() >= 1e15 {
                format!("{x:e}")
            } else {
                format!("{x}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_tile(s: &str) -> Result<(i32, i32), CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--tile '{s}': use N (square tiles) or WxH, e.g. 256 or 512x128"
        ))
    };
    let (w, h) = match s.split_once(['x', 'X']) {
        Some((w, h)) => (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?),
        None => {
            let n = s.parse().map_err(|_| bad())?;
            (n, n)
        }
    };
    if w < 1 || h < 1 {
        return Err(bad());
    }
    Ok((w, h))
}

/// `name=value` or `name@frame=value`.
fn parse_param(s: &str) -> Result<(String, Option<i64>, String), CliError> {
    let (k, v) = s.split_once('=').ok_or_else(|| {
        CliError::Usage(format!(
            "--param '{s}': write NAME=VALUE or NAME@FRAME=VALUE"
        ))
    })?;
    match k.split_once('@') {
        Some((n, f)) => {
            let frame = f.parse().map_err(|_| {
                CliError::Usage(format!("--param '{s}': '{f}' is not a frame number"))
            })?;
            Ok((n.to_string(), Some(frame), v.to_string()))
        }
        None => Ok((k.to_string(), None, v.to_string())),
    }
}

fn loader(pattern: FramePattern) -> ClipInput {
    ClipInput::Loader(Arc::new(move |frame| {
        let path = pattern.path_for(frame);
        io::read_image(&path)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }))
}

fn short_name(id: &str) -> String {
    id.rsplit('.').next().unwrap_or(id).to_string()
}

fn render(a: RenderArgs, verbose: u8) -> Result<ExitCode, CliError> {
    let threads = a
        .threads
        .unwrap_or_else(|| HostConfig::default().threads)
        .max(1);
    let host = Host::new(HostConfig {
        threads,
        strict: a.strict,
        cuda: if a.cuda {
            CudaMode::DRIVER
        } else {
            CudaMode::Off
        },
    });
    if a.cuda {
        // Fail before reading any input when there is no GPU to render on.
        let device = host.cuda_device()?;
        log::info!("CUDA render on {}", device.description());
    }
    let plugin = host.plugin(&a.plugin)?;
    let contexts = plugin.contexts();
    let ctx = a.context.clone().unwrap_or_else(|| {
        if contexts.iter().any(|c| c.ends_with("Filter")) {
            "filter".into()
        } else {
            contexts[0].clone()
        }
    });
    let mut inst = plugin.instance(&ctx)?;
    let inputs = inst.input_clips();
    let main_clip = if inputs.iter().any(|c| c == "Source") {
        Some("Source".to_string())
    } else {
        inputs.first().cloned()
    };

    let requested = a.frames.as_deref().map(FrameList::parse).transpose()?;
    let frames_given = requested.is_some();
    let frames: Vec<i64> = match (&a.input, &main_clip) {
        (Some(i), _) => {
            let pattern = FramePattern::parse(i)?;
            match (a.missing, &requested) {
                (Missing::Black | Missing::Hold, Some(list)) if pattern.is_sequence() => {
                    if pattern.existing_frames()?.is_empty() {
                        // Nothing to take a size or a frame from: the usual error.
                        io::resolve_input_frames(&pattern, requested.as_ref())?;
                    }
                    if let Some(c) = &main_clip {
                        // The pipeline's sequence source: holes become black or held frames.
                        let policy = match a.missing {
                            Missing::Hold => pipeline::spec::MissingFrames::Hold,
                            _ => pipeline::spec::MissingFrames::Black,
                        };
                        let src = pipeline::source::images(i, policy).map_err(CliError::Usage)?;
                        inst.set_input(c, ClipInput::Loader(Arc::new(move |f| src.frame(f))))?;
                    }
                    list.frames().to_vec()
                }
                _ => {
                    let frames = io::resolve_input_frames(&pattern, requested.as_ref())?;
                    if let Some(c) = &main_clip {
                        inst.set_input(c, loader(pattern))?;
                    }
                    frames
                }
            }
        }
        (None, Some(c)) => {
            inst.set_input(
                c,
                ClipInput::Loader(Arc::new(|f| Ok(Arc::new(io::default_input_frame(f))))),
            )?;
            requested
                .map(|r| r.frames().to_vec())
                .unwrap_or_else(|| vec![1])
        }
        (None, None) => requested
            .map(|r| r.frames().to_vec())
            .unwrap_or_else(|| vec![1]),
    };
    for c in &a.clips {
        let (name, pat) = c
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--clip '{c}': write CLIP=PATTERN")))?;
        inst.set_input(name, loader(FramePattern::parse(pat)?))?;
    }
    if frames.is_empty() {
        return Err(CliError::Usage("no frames to render".into()));
    }
    for p in &a.params {
        let (n, f, v) = parse_param(p)?;
        inst.set_param_text(&n, &v, f)?;
    }
    let out_text = a
        .output
        .clone()
        .unwrap_or_else(|| format!("out/{}.####.exr", short_name(plugin.identifier())));
    let out_pattern = FramePattern::parse(&out_text)?;
    if frames.len() > 1 && !out_pattern.is_sequence() {
        return Err(CliError::Usage(format!(
            "{} frames to render but output '{out_text}' names one file: add #### or %04d for the frame number",
            frames.len()
        )));
    }
    if !a.overwrite {
        if let Some(f) = frames.iter().find(|f| out_pattern.path_for(**f).exists()) {
            return Err(CliError::Usage(format!(
                "{} already exists (frame {f}): pass --overwrite to replace it, or choose another -o",
                out_pattern.path_for(*f).display()
            )));
        }
    }
    let tile = a.tile.as_deref().map(parse_tile).transpose()?;
    let opts = RenderOptions {
        render_scale: (a.scale, a.scale),
        tile,
        threads: Some(threads),
        depth: a.depth,
        canary: a.strict,
        ..Default::default()
    };
    let (first, last) = (
        frames[0] as f64,
        *frames.last().unwrap_or(&frames[0]) as f64,
    );
    inst.set_frame_range(first, last);
    let mut frames = frames;
    if !frames_given {
        // Without -f, the effect's own time domain (general context) bounds the frames:
        // a temporal effect that needs neighbours may render fewer than the input has.
        let (d0, d1) = inst.time_domain()?;
        let before = frames.len();
        frames.retain(|&f| f as f64 >= d0 && f as f64 <= d1);
        if frames.is_empty() {
            return Err(CliError::Usage(format!(
                "the effect's time domain is frames {d0}..{d1}, which holds none of the \
                 {before} input frame(s) ({first}..{last})"
            )));
        }
        if frames.len() != before {
            eprintln!(
                "the effect's time domain is frames {d0}..{d1}: rendering {} of {before} frames",
                frames.len()
            );
        }
    }
    let (first, last) = (
        frames[0] as f64,
        *frames.last().unwrap_or(&frames[0]) as f64,
    );
    inst.begin_sequence(first, last, 1.0, opts.render_scale)?;
    let mut progress = Progress::new(frames.len(), ProgressMode::Auto);
    let started = Instant::now();
    let mut all_findings: Vec<Finding> = Vec::new();
    let write = WriteOptions {
        overwrite: a.overwrite,
        depth: a.out_depth,
        ..Default::default()
    };
    for &frame in &frames {
        let r = inst
            .render_frame(frame as f64, &opts)
            .map_err(CliError::from)
            .and_then(|out| {
                let path = out_pattern.path_for(frame);
                io::write_image(&path, &out.image, &write)?;
                Ok((out, path))
            });
        match r {
            Ok((out, path)) => {
                if verbose > 0 {
                    log::info!(
                        "frame {frame}: {} ({}x{}, {} render call(s), plugin {:.1} ms, total {:.1} ms)",
                        path.display(),
                        out.window.width(),
                        out.window.height(),
                        out.render_calls,
                        out.plugin_seconds * 1e3,
                        out.total_seconds * 1e3
                    );
                }
                all_findings.extend(out.findings);
            }
            Err(e) => {
                let _ = inst.end_sequence(first, last, 1.0, opts.render_scale);
                progress.finish();
                print_messages(&inst, verbose);
                // The host's render errors name the frame themselves; say it once.
                let source = match e {
                    CliError::Host(HostError::Render { reason, .. }) => CliError::Failed(reason),
                    e => e,
                };
                return Err(CliError::Frame {
                    frame,
                    source: Box::new(source),
                });
            }
        }
        progress.frame_done(frame);
    }
    inst.end_sequence(first, last, 1.0, opts.render_scale)?;
    progress.finish();
    print_messages(&inst, verbose);
    for f in all_findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
    {
        eprintln!("ofxrun: {f}");
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "ofxrun: rendered {} frame(s) through {} in {:.2} s ({:.2} fps) -> {}",
        frames.len(),
        plugin.identifier(),
        secs,
        frames.len() as f64 / secs.max(1e-9),
        out_text
    );
    Ok(ExitCode::SUCCESS)
}

fn print_messages(inst: &Instance, verbose: u8) {
    for m in inst.messages() {
        let important =
            m.kind.ends_with("Error") || m.kind.ends_with("Warning") || m.kind.ends_with("Fatal");
        if important || verbose > 0 {
            eprintln!(
                "ofxrun: plugin says [{}] {}",
                m.kind.trim_start_matches("OfxMessage"),
                m.text
            );
        }
    }
}

fn parse_size(s: &str) -> Result<(i32, i32), CliError> {
    let bad = || CliError::Usage(format!("--size '{s}': write WxH, e.g. 160x120"));
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (i32, i32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if w < 1 || h < 1 {
        return Err(bad());
    }
    Ok((w, h))
}

fn check_options(params: &[String], timeout: f64) -> Result<CheckOptions, CliError> {
    let mut ps = Vec::new();
    for p in params {
        let (n, _, v) = parse_param(p)?;
        ps.push((n, v));
    }
    Ok(CheckOptions {
        params: ps,
        timeout: Duration::from_secs_f64(timeout.max(0.1)),
        ..Default::default()
    })
}

fn check(a: CheckArgs) -> Result<ExitCode, CliError> {
    let host = Host::new(HostConfig {
        threads: a.threads.max(1),
        ..Default::default()
    });
    let mut opts = check_options(&a.params, a.timeout)?;
    opts.size = parse_size(&a.size)?;
    opts.threads = a.threads.max(1);
    if !a.no_isolate {
        opts.probes = check::Probes {
            null_inputs: false,
            abort: false,
        };
    }
    let mut report = check_plugin(&host, &a.plugin, &opts);
    let loaded = report.steps.first().is_some_and(|(_, r)| r.is_ok());
    if !a.no_isolate && loaded {
        for kind in ["null", "abort"] {
            let (label, outcome) = isolated_probe(&a, kind);
            if let Err((k, msg)) = &outcome {
                report.findings.push(Finding {
                    kind: *k,
                    severity: k.severity(),
                    message: msg.clone(),
                });
            }
            report.steps.push((label, outcome.map_err(|(_, m)| m)));
        }
    }
    println!("check of {}", report.plugin);
    for (label, r) in &report.steps {
        match r {
            Ok(()) => println!("  ok    {label}"),
            Err(e) => println!("  FAIL  {label}: {e}"),
        }
    }
    if report.findings.is_empty() {
        println!("  no findings");
    }
    for f in &report.findings {
        println!("  {f}");
    }
    let passed = report.passed(a.strict);
    println!(
        "{}: {} error(s), {} warning(s)",
        if passed { "PASSED" } else { "FAILED" },
        report.errors(),
        report.warnings()
    );
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs one probe in a child `ofxrun probe` and classifies how it ended.
fn isolated_probe(a: &CheckArgs, kind: &str) -> (String, Result<(), (FindingKind, String)>) {
    let label = format!(
        "probe (child process): {}",
        if kind == "null" {
            "NULL source images"
        } else {
            "abort raised"
        }
    );
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return (
                label,
                Err((
                    FindingKind::Load,
                    format!("cannot find the ofxrun executable to isolate probes: {e}"),
                )),
            )
        }
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("probe")
        .arg(&a.plugin)
        .arg("--kind")
        .arg(kind)
        .arg("--timeout")
        .arg(a.timeout.to_string());
    for p in &a.params {
        cmd.arg("--param").arg(p);
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return (
                label,
                Err((
                    FindingKind::Load,
                    format!("cannot start the probe process: {e}"),
                )),
            )
        }
    };
    // The child enforces the timeout itself; this outer limit covers a child that cannot.
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout + 30.0);
    let what = if kind == "null" {
        "source clips gave no image"
    } else {
        "abort was raised"
    };
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                use std::os::unix::process::ExitStatusExt;
                return match (st.code(), st.signal()) {
                    (Some(0), _) => (label, Ok(())),
                    (Some(3), _) => (
                        label,
                        Err((
                            FindingKind::Hang,
                            format!("render did not return within {} s when {what}", a.timeout),
                        )),
                    ),
                    (_, Some(sig)) => (
                        label,
                        Err((
                            FindingKind::Crash,
                            format!("the plugin crashed (signal {sig}) when {what}"),
                        )),
                    ),
                    (code, _) => (
                        label,
                        Err((
                            FindingKind::ActionFailed,
                            format!("probe process failed (exit code {code:?}) when {what}"),
                        )),
                    ),
                };
            }
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return (
                    label,
                    Err((
                        FindingKind::Hang,
                        format!("probe process did not finish when {what}"),
                    )),
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return (
                    label,
                    Err((
                        FindingKind::ActionFailed,
                        format!("waiting for the probe process: {e}"),
                    )),
                )
            }
        }
    }
}

/// Child side of `check`: exit 0 when the probe returned, 3 on a hang (a crash kills us).
fn probe(spec: &str, kind: &str, params: &[String], timeout: f64) -> Result<ExitCode, CliError> {
    let host = Host::new(HostConfig {
        threads: 1,
        ..Default::default()
    });
    let mut opts = check_options(params, timeout)?;
    opts.renders = false;
    opts.probes = check::Probes {
        null_inputs: kind == "null",
        abort: kind == "abort",
    };
    let report = check_plugin(&host, spec, &opts);
    if report.findings.iter().any(|f| f.kind == FindingKind::Hang) {
        // Leave at once: the hung render thread must not keep the process alive.
        std::process::exit(3);
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_mode(s: &str) -> Result<ProgressMode, CliError> {
    Ok(match s {
        "auto" => ProgressMode::Auto,
        "live" => ProgressMode::Live,
        "lines" => ProgressMode::Lines,
        "quiet" => ProgressMode::Quiet,
        _ => {
            return Err(CliError::Usage(format!(
                "--progress '{s}': use auto, live, lines or quiet"
            )))
        }
    })
}

fn run_pipeline(a: PipelineArgs) -> Result<ExitCode, CliError> {
    let overrides = pipeline::Overrides {
        input: a.input.clone(),
        output: a.output.clone(),
        set: a.set.clone(),
    };
    let pl = pipeline::Pipeline::load(&a.file, &overrides)?;
    let frames = a.frames.as_deref().map(FrameList::parse).transpose()?;
    let threads = a
        .threads
        .unwrap_or_else(|| HostConfig::default().threads)
        .max(1);
    let jobs = a.jobs.max(1);
    let (cuda_mode, probe) = match a.cuda.as_str() {
        "off" => (CudaMode::Off, false),
        "auto" => (CudaMode::DRIVER, true),
        "on" => (CudaMode::DRIVER, true),
        other => {
            return Err(CliError::Usage(format!(
                "--cuda '{other}': use auto, off or on"
            )))
        }
    };
    let config = |cuda| HostConfig {
        threads: (threads / jobs).max(1),
        strict: false,
        cuda,
    };
    let mut host = Host::new(config(cuda_mode));
    let cuda_available = probe
        && match host.cuda_device() {
            Ok(d) => {
                log::info!("CUDA render available on {}", d.description());
                true
            }
            Err(e) if a.cuda == "on" => return Err(CliError::Host(e)),
            Err(e) => {
                log::info!("no CUDA render: {e}");
                false
            }
        };
    if !cuda_available {
        // A host that offers no CUDA at all: plugins then never ask for device memory.
        host = Host::new(config(CudaMode::Off));
    }
    let opts = pipeline::RunOptions {
        frames,
        resume: a.resume,
        overwrite: a.overwrite,
        jobs,
        cuda_available,
        report: a.report.clone(),
        progress: progress_mode(&a.progress)?,
    };
    if a.check {
        let src = pipeline::source::open(&pl.input).map_err(pipeline::RunError::Input)?;
        pipeline::Chain::build(&host, &pl, src.clone(), cuda_available)?;
        println!(
            "{}: ok — {} node(s): {}; input {}; output {}",
            a.file.display(),
            pl.nodes.len(),
            pl.nodes
                .iter()
                .map(|n| format!("{} ({})", n.label, n.plugin))
                .collect::<Vec<_>>()
                .join(" > "),
            src.describe(),
            pl.output.path
        );
        return Ok(ExitCode::SUCCESS);
    }
    let s = pipeline::run(&host, &pl, &opts)?;
    let fps = s.rendered.len() as f64 / s.seconds.max(1e-9);
    eprintln!(
        "ofxrun: pipeline '{}': rendered {} frame(s){} in {:.2} s ({fps:.2} fps) -> {}",
        pl.name,
        s.rendered.len(),
        if s.skipped.is_empty() {
            String::new()
        } else {
            format!(", kept {} finished", s.skipped.len())
        },
        s.seconds,
        s.output
    );
    if let Some(r) = &s.report {
        eprintln!("ofxrun: report: {}", r.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn openjd(a: OpenjdArgs) -> Result<ExitCode, CliError> {
    let overrides = pipeline::Overrides {
        input: a.input.clone(),
        output: a.output.clone(),
        set: a.set.clone(),
    };
    let pl = pipeline::Pipeline::load(&a.file, &overrides)?;
    // The frames, resolved here as a run would, so every task has frames to render.
    let src = pipeline::source::open(&pl.input).map_err(pipeline::RunError::Input)?;
    let frames: Vec<i64> = match a.frames.as_deref().map(FrameList::parse).transpose()? {
        Some(f) => f.frames().to_vec(),
        None => match (&pl.input.frames, src.frames()) {
            (Some(f), _) => f.frames().to_vec(),
            (None, Some(f)) => f,
            (None, None) => vec![1],
        },
    };
    if a.chunk == 0 {
        return Err(CliError::Usage("--chunk must be at least 1".into()));
    }
    let input = match &pl.input.kind {
        pipeline::spec::InputKind::Builtin => "builtin".to_string(),
        pipeline::spec::InputKind::Images(p) => pipeline::openjd::absolute(p),
        pipeline::spec::InputKind::Video(p) => pipeline::openjd::absolute(&p.display().to_string()),
    };
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Usage(format!("cannot find this ofxrun's path: {e}")))?;
    let job = pipeline::openjd::JobSpec {
        ofxrun: std::fs::canonicalize(&exe).unwrap_or(exe),
        pipeline: std::fs::canonicalize(&a.file).unwrap_or_else(|_| a.file.clone()),
        name: pl.name.clone(),
        input,
        output: pipeline::openjd::absolute(&pl.output.path),
        set: a.set.clone(),
        plugin_path: std::env::var("OFX_PLUGIN_PATH").unwrap_or_default(),
        frames,
        chunk: a.chunk,
    };
    let tasks = pipeline::openjd::chunks(&job.frames, job.chunk).len();
    let dir = a
        .bundle
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("out/{}.openjd", pl.name)));
    for (name, value) in pipeline::openjd::bundle_files(&job) {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
        io::write_atomically(&path, a.overwrite, |mut out| {
            std::io::Write::write_all(&mut out, format!("{text}\n").as_bytes()).map_err(|e| {
                io::IoError::Write {
                    path: path.clone(),
                    source: e,
                }
            })
        })?;
    }
    let d = dir.display();
    eprintln!(
        "ofxrun: wrote the job bundle {d}/ ({tasks} task(s) of up to {} frames, frames {}).\n\
         Run it here:      scripts/openjd.sh run {d}/template.json --step Render -p file://{d}/openjd-params.json\n\
         Submit to a farm: deadline bundle submit {d}   (see docs/pipelines.md)",
        a.chunk,
        pipeline::openjd::frames_text(&job.frames),
    );
    Ok(ExitCode::SUCCESS)
}

fn sample_clip(
    output: &std::path::Path,
    frames: i64,
    size: &str,
    crf: u32,
    overwrite: bool,
) -> Result<ExitCode, CliError> {
    let (w, h) = parse_size(size)?;
    if w % 2 != 0 || h % 2 != 0 {
        return Err(CliError::Usage(format!(
            "--size {size}: 4:2:0 video needs an even width and height"
        )));
    }
    if frames < 1 {
        return Err(CliError::Usage("--frames must be at least 1".into()));
    }
    if output.exists() && !overwrite {
        return Err(CliError::Usage(format!(
            "{} already exists: pass --overwrite to replace it",
            output.display()
        )));
    }
    pipeline::source::write_sample_clip(output, frames, (w, h), crf).map_err(CliError::Usage)?;
    eprintln!(
        "ofxrun: wrote {} ({frames} frames, {w}x{h}, H.264 CRF {crf}, BT.709 limited range)",
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
