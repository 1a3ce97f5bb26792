//! `check`: a conformance run of one plugin. It describes the plugin, renders a synthetic frame
//! full-frame, inside a smaller window, tiled, on several threads and with padded bottom-up
//! rows, demands identical bytes from all of them, and probes NULL source images and abort
//! under a time limit. Everything found is a structured `Finding`.
//!
//! A crash in a plugin's C code kills the process that loaded it; run the probes in a child
//! process to survive that (`ofxrun check` does, see `CheckOptions::probes`).

use crate::findings::{Finding, FindingKind, Severity};
use crate::image::{BitDepth, Components, HostImage, Rect, RowLayout};
use crate::instance::{Instance, RenderOptions, RenderOutput};
use crate::{Host, HostError, PluginDescription};
use std::sync::mpsc;
use std::time::Duration;

/// Which risky probes to run in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probes {
    /// Render with every source clip returning no image.
    pub null_inputs: bool,
    /// Render with the abort flag raised.
    pub abort: bool,
}

/// What `check_plugin` does.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Context to instantiate (`filter`, `general`); `None`: filter if offered, else the first.
    pub context: Option<String>,
    /// Size of the synthetic input frame.
    pub size: (i32, i32),
    /// Parameter values (name, text) applied before rendering.
    pub params: Vec<(String, String)>,
    /// The input image; `None`: a synthetic float RGBA frame.
    pub input: Option<HostImage>,
    /// Longest a single probe render may take before it counts as a hang.
    pub timeout: Duration,
    pub probes: Probes,
    /// Threads for the concurrent renders.
    pub threads: usize,
    /// Run the comparison renders (off to run only the probes, e.g. in a child process).
    pub renders: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            context: None,
            size: (160, 120),
            params: Vec::new(),
            input: None,
            timeout: Duration::from_secs(20),
            probes: Probes {
                null_inputs: true,
                abort: true,
            },
            threads: 4,
            renders: true,
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub plugin: String,
    pub description: Option<PluginDescription>,
    /// Each step and whether it went through ("render tiled 37x29: ok").
    pub steps: Vec<(String, Result<(), String>)>,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }
    /// Passed: no error findings and no failed step (strict: no warnings either).
    pub fn passed(&self, strict: bool) -> bool {
        self.errors() == 0
            && self.steps.iter().all(|(_, r)| r.is_ok())
            && (!strict || self.warnings() == 0)
    }
    fn finding(&mut self, kind: FindingKind, message: String) {
        if !self
            .findings
            .iter()
            .any(|f| f.kind == kind && f.message == message)
        {
            self.findings.push(Finding {
                kind,
                severity: kind.severity(),
                message,
            });
        }
    }
}

/// A synthetic frame: smooth ramps plus a fine checker, so position, colour and alpha errors
/// all show.
pub fn synthetic_frame(width: i32, height: i32) -> HostImage {
    let b = Rect::from_size(width, height);
    let mut px = Vec::with_capacity(b.pixel_count());
    for y in 0..height {
        for x in 0..width {
            let u = x as f32 / width.max(1) as f32;
            let v = y as f32 / height.max(1) as f32;
            let checker = if (x / 4 + y / 4) % 2 == 0 { 0.1 } else { 0.0 };
            px.push([
                u * 0.9 + checker,
                v * 0.9,
                (1.0 - u) * 0.8 + checker,
                0.5 + 0.5 * u,
            ]);
        }
    }
    // The length matches the bounds by construction, so this cannot fail.
    HostImage::from_rgba_f32(b, BitDepth::Float, Components::Rgba, &px)
        .unwrap_or_else(|_| HostImage::new(b, BitDepth::Float, Components::Rgba))
}

/// Runs every check on the plugin `spec` (see `Host::plugin`) and reports.
pub fn check_plugin(host: &Host, spec: &str, opts: &CheckOptions) -> CheckReport {
    let mut report = CheckReport {
        plugin: spec.to_string(),
        description: None,
        steps: Vec::new(),
        findings: Vec::new(),
    };
    let plugin = match host.plugin(spec) {
        Ok(p) => p,
        Err(e) => {
            report
                .steps
                .push(("load and describe".into(), Err(e.to_string())));
            report.finding(FindingKind::Load, e.to_string());
            report.findings.extend(host.findings());
            return report;
        }
    };
    report.plugin = plugin.identifier().to_string();
    report.steps.push(("load and describe".into(), Ok(())));
    let desc = plugin.describe();
    if desc.cuda.supported() {
        report.finding(
            FindingKind::Capability,
            format!(
                "declares CUDA render '{}' (streams '{}'); the check renders host-memory images (`ofxrun render --cuda` renders with CUDA)",
                desc.cuda.render, desc.cuda.stream
            ),
        );
    }
    report.description = Some(desc);
    let contexts = plugin.contexts();
    let ctx = opts.context.clone().unwrap_or_else(|| {
        if contexts.iter().any(|c| c.ends_with("Filter")) {
            "filter".into()
        } else {
            contexts[0].clone()
        }
    });
    let mut inst = match plugin.instance(&ctx) {
        Ok(i) => i,
        Err(e) => {
            report
                .steps
                .push((format!("create instance ({ctx})"), Err(e.to_string())));
            report.findings.extend(plugin.findings());
            return report;
        }
    };
    report
        .steps
        .push((format!("create instance ({ctx})"), Ok(())));
    let input = opts
        .input
        .clone()
        .unwrap_or_else(|| synthetic_frame(opts.size.0, opts.size.1));
    for clip in inst.input_clips() {
        if let Err(e) = inst.set_input_image(&clip, input.clone()) {
            report
                .steps
                .push((format!("connect clip '{clip}'"), Err(e.to_string())));
        }
    }
    for (k, v) in &opts.params {
        if let Err(e) = inst.set_param_text(k, v, None) {
            report
                .steps
                .push((format!("set {k}={v}"), Err(e.to_string())));
        }
    }

    if !opts.renders {
        return probe(report, inst, plugin, opts);
    }
    let base = RenderOptions {
        threads: Some(1),
        output_rows: RowLayout {
            padding_bytes: 16,
            bottom_up: false,
        },
        ..Default::default()
    };
    let frame = 1.0;
    let reference = match step(
        &mut report,
        "render full frame, one thread",
        inst.render_frame(frame, &base),
    ) {
        Some(r) => r,
        None => {
            report.findings.extend(plugin.findings());
            return report;
        }
    };
    let full = reference.window;
    let inset = Rect::new(
        full.x1 + full.width() / 5,
        full.y1 + full.height() / 4,
        full.x2 - full.width() / 7,
        full.y2 - full.height() / 6,
    );
    let variants: Vec<(String, RenderOptions)> = vec![
        (
            "render inside a smaller window".into(),
            RenderOptions {
                window: Some(inset),
                ..base.clone()
            },
        ),
        (
            "render tiled 37x29, one thread".into(),
            RenderOptions {
                tile: Some((37, 29)),
                ..base.clone()
            },
        ),
        (
            format!("render tiled 64x48 on {} threads", opts.threads),
            RenderOptions {
                tile: Some((64, 48)),
                threads: Some(opts.threads),
                ..base.clone()
            },
        ),
        (
            format!("render full frame with {} suite threads", opts.threads * 2),
            RenderOptions {
                threads: Some(opts.threads * 2),
                ..base.clone()
            },
        ),
        (
            "render with padded, bottom-up rows".into(),
            RenderOptions {
                input_rows: Some(RowLayout {
                    padding_bytes: 24,
                    bottom_up: true,
                }),
                output_rows: RowLayout {
                    padding_bytes: 40,
                    bottom_up: true,
                },
                ..base.clone()
            },
        ),
    ];
    for (label, o) in variants {
        if let Some(out) = step(&mut report, &label, inst.render_frame(frame, &o)) {
            compare(&mut report, &label, &reference, &out);
        }
    }
    probe(report, inst, plugin, opts)
}

/// The NULL-image and abort probes, each under the time limit.
fn probe(
    mut report: CheckReport,
    mut inst: Instance,
    plugin: crate::Plugin,
    opts: &CheckOptions,
) -> CheckReport {
    let frame = 1.0;

    if opts.probes.null_inputs {
        let (back, r) = with_timeout(inst, opts.timeout, move |i| {
            i.render_frame(
                frame,
                &RenderOptions {
                    threads: Some(1),
                    faults: crate::Faults {
                        null_source_images: true,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
        });
        match back {
            Some(i) => {
                inst = i;
                // Failing is a fine answer to missing images; what matters is returning.
                report
                    .steps
                    .push(("probe: NULL source images".into(), Ok(())));
                if let Some(Err(e)) = r {
                    log::info!("NULL-image probe: {e}");
                }
            }
            None => {
                report.finding(
                    FindingKind::Hang,
                    format!(
                        "render did not return within {:?} when source clips gave no image",
                        opts.timeout
                    ),
                );
                report
                    .steps
                    .push(("probe: NULL source images".into(), Err("hung".into())));
                report.findings.extend(plugin.findings());
                return report;
            }
        }
    }
    if opts.probes.abort {
        let abort = inst.abort_handle();
        abort.raise();
        inst.set_dispatch_when_aborted(true);
        let (back, r) = with_timeout(inst, opts.timeout, move |i| {
            i.render_frame(
                frame,
                &RenderOptions {
                    threads: Some(1),
                    ..Default::default()
                },
            )
        });
        match back {
            Some(i) => {
                inst = i;
                inst.set_dispatch_when_aborted(false);
                abort.clear();
                report.steps.push(("probe: abort raised".into(), Ok(())));
                if let Some(Ok(_)) = r {
                    log::info!("abort probe: the plugin completed the frame despite abort");
                }
            }
            None => {
                report.finding(
                    FindingKind::Hang,
                    format!(
                        "render did not return within {:?} with abort raised",
                        opts.timeout
                    ),
                );
                report
                    .steps
                    .push(("probe: abort raised".into(), Err("hung".into())));
                report.findings.extend(plugin.findings());
                return report;
            }
        }
    }
    drop(inst);
    for f in plugin.findings() {
        report.finding(f.kind, f.message);
    }
    report
}

fn step(
    report: &mut CheckReport,
    label: &str,
    r: Result<RenderOutput, HostError>,
) -> Option<RenderOutput> {
    match r {
        Ok(o) => {
            report.steps.push((label.to_string(), Ok(())));
            Some(o)
        }
        Err(e) => {
            report.steps.push((label.to_string(), Err(e.to_string())));
            report.finding(FindingKind::ActionFailed, format!("{label}: {e}"));
            None
        }
    }
}

/// Demands identical pixels where the two renders overlap.
fn compare(report: &mut CheckReport, label: &str, reference: &RenderOutput, other: &RenderOutput) {
    let r = reference.image.bounds().intersect(&other.image.bounds());
    let mut a = HostImage::new(r, reference.image.depth(), reference.image.components());
    let mut b = HostImage::new(r, other.image.depth(), other.image.components());
    reference.image.copy_pixels_into(&mut a);
    other.image.copy_pixels_into(&mut b);
    if a.to_packed_bytes() != b.to_packed_bytes() {
        let mut first = None;
        'rows: for y in r.y1..r.y2 {
            for x in r.x1..r.x2 {
                let (p, q) = (a.pixel(x, y), b.pixel(x, y));
                if p.iter().zip(&q).any(|(u, v)| u.to_bits() != v.to_bits()) {
                    first = Some((x, y, p, q));
                    break 'rows;
                }
            }
        }
        let at = first
            .map(|(x, y, p, q)| format!(" first at ({x}, {y}): {p:?} vs {q:?}"))
            .unwrap_or_default();
        report.finding(
            FindingKind::NonDeterministic,
            format!(
                "{label}: differs from the full-frame single-thread render (max |diff| {}){at}",
                a.max_abs_diff(&b)
            ),
        );
    }
}

/// Runs `f` on its own thread; on time-out the thread (and the instance) are left behind.
fn with_timeout<R: Send + 'static>(
    inst: Instance,
    timeout: Duration,
    f: impl FnOnce(&mut Instance) -> R + Send + 'static,
) -> (Option<Instance>, Option<R>) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut inst = inst;
        let r = f(&mut inst);
        let _ = tx.send((inst, r));
    });
    match rx.recv_timeout(timeout) {
        Ok((i, r)) => (Some(i), Some(r)),
        Err(_) => (None, None),
    }
}
