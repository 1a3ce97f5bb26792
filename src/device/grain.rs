//! Film grain on CUDA: the CPU's render plan (`ops::grain::field::FieldPlan` and the response
//! table) flattened into one f32 table array plus the kernel's params struct, and the two ways
//! to run kernels/grain.cu — host-memory images, or the host's own stream and device images.

use super::cuda::{CudaEngine, DeviceImage, HostRender};
use super::kernels::Kernel;
use super::params::{GrainKernelParams, PrGrainAxis, PrGrainOctave, PrImage, PR_GRAIN_MAX_OCTAVES};
use super::DeviceError;
use crate::image::{ImageView, ImageViewMut, Rect};
use crate::ops::grain::domain::{ResponseTable, LSTAR_SLOPE, LSTAR_Y_BREAK};
use crate::ops::grain::field::{colour_mix, grain_frame_key, stream_key, AxisTaps, FieldPlan};
use crate::ops::grain::{GrainOutput, GrainParams, InputEncoding, TemporalMode};
use std::sync::{Arc, Mutex};

/// Largest lattice-site index the tables can hold: sites are stored as f32, exact up to 2^24.
const MAX_EXACT_SITE: i64 = 1 << 24;

/// A grain render prepared for the GPU: the tables (read-only, uploaded once per content) and
/// every constant of the kernel argument except the image and table addresses.
#[derive(Clone)]
pub struct GrainDevicePlan {
    pub tables: Arc<Vec<f32>>,
    params: GrainKernelParams,
}

/// The last plan built, under the settings its tables depend on: frames, seeds, amounts and
/// output modes change only the kernel constants, so a shot's renders build the tables (about
/// a millisecond for a 4K window) once.
type CachedPlan = (GrainParams, Rect, GrainDevicePlan);
static LAST_PLAN: Mutex<Option<CachedPlan>> = Mutex::new(None);

/// `params` with everything the tables do not depend on set to fixed values.
fn table_settings(params: &GrainParams) -> GrainParams {
    GrainParams {
        amount: 0.0,
        channel_amount: [0.0; 3],
        colour: 0.0,
        temporal: TemporalMode::Static,
        hold_frames: 1,
        seed: 0,
        output: GrainOutput::GradedPlate,
        premultiplied: false,
        frame: 0.0,
        ..params.clone()
    }
}

impl GrainDevicePlan {
    /// The plan for `window` (output pixels at `params.render_scale`). The tables hold exactly
    /// the values the CPU renderer computes for the same window, so the kernel reads the CPU's
    /// weights rather than recomputing them.
    pub fn new(params: &GrainParams, window: Rect) -> Result<Self, DeviceError> {
        params
            .validate()
            .map_err(|e| DeviceError::Settings(e.to_string()))?;
        let field = FieldPlan::new(params, window);
        if field.octaves.len() > PR_GRAIN_MAX_OCTAVES as usize {
            return Err(DeviceError::Settings(format!(
                "{} grain octaves; the kernel holds {PR_GRAIN_MAX_OCTAVES}",
                field.octaves.len()
            )));
        }
        let response = ResponseTable::new(params.input_encoding, &params.response);
        let mut tables: Vec<f32> = Vec::new();
        let response_offset = push(&mut tables, response.values())?;
        let mut octaves = [PrGrainOctave::default(); PR_GRAIN_MAX_OCTAVES as usize];
        for (slot, o) in octaves.iter_mut().zip(&field.octaves) {
            *slot = PrGrainOctave {
                key: 0, // set_render_constants
                counts: push(&mut tables, &o.impulses.counts[..])?,
                inv_std: o.impulses.inv_std,
                mean_over_std: o.impulses.mean_over_std,
                x: push_axis(&mut tables, &o.x)?,
                y: push_axis(&mut tables, &o.y)?,
            };
        }
        let table_len = u32::try_from(tables.len())
            .map_err(|_| DeviceError::TooLarge(format!("{} grain table floats", tables.len())))?;
        let mut kernel_params = GrainKernelParams {
            src: PrImage::default(),
            dst: PrImage::default(),
            window: window.into(),
            tables: 0,
            table_len,
            octave_count: field.octaves.len() as u32,
            octaves,
            response: response_offset,
            linear: (params.input_encoding == InputEncoding::Linear) as u32,
            // The f32 constants of domain::to_grain_domain / from_grain_domain, rounded the
            // same way here as there.
            lstar_break: LSTAR_Y_BREAK as f32,
            lstar_slope: (LSTAR_SLOPE / 100.0) as f32,
            lstar_inv_slope: (100.0 / LSTAR_SLOPE) as f32,
            inv_1_16: 1.0f32 / 1.16f32,
            ..GrainKernelParams::default()
        };
        set_render_constants(&mut kernel_params, params);
        Ok(GrainDevicePlan {
            tables: Arc::new(tables),
            params: kernel_params,
        })
    }

    /// `new`, reusing the tables of the previous call when only settings they do not depend on
    /// changed (frame, seed, amounts, colour, output, alpha): the same plan, built faster.
    pub fn for_render(params: &GrainParams, window: Rect) -> Result<Self, DeviceError> {
        params
            .validate()
            .map_err(|e| DeviceError::Settings(e.to_string()))?;
        let settings = table_settings(params);
        let mut last = LAST_PLAN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached_settings, cached_window, plan)) = &*last {
            if *cached_settings == settings && *cached_window == window {
                let mut plan = plan.clone();
                set_render_constants(&mut plan.params, params);
                return Ok(plan);
            }
        }
        let plan = Self::new(params, window)?;
        *last = Some((settings, window, plan.clone()));
        Ok(plan)
    }

    /// The kernel argument for images `src` and `dst`, with the tables at device address
    /// `tables`.
    pub fn kernel_params(&self, src: PrImage, dst: PrImage, tables: u64) -> GrainKernelParams {
        GrainKernelParams {
            src,
            dst,
            tables,
            ..self.params
        }
    }

    /// The window the plan covers.
    pub fn window(&self) -> Rect {
        let w = self.params.window;
        Rect::new(w.x1, w.y1, w.x2, w.y2)
    }
}

/// The kernel constants that do not touch the tables: octave keys (seed, frame), gains, colour
/// mix, alpha and output mode. Same values as `FieldPlan::new` and `RenderPlan::new` compute.
fn set_render_constants(kp: &mut GrainKernelParams, params: &GrainParams) {
    let frame_key = grain_frame_key(params);
    for (o, octave) in kp.octaves.iter_mut().enumerate() {
        octave.key = stream_key(params.seed, frame_key, o as u32);
    }
    let centre = match params.output {
        GrainOutput::GradedPlate => None,
        GrainOutput::GrainOnlyCentredZero => Some(0.0),
        GrainOutput::GrainOnlyCentredHalf => Some(0.5),
    };
    let (mix_a, mix_b) = colour_mix(1.0 - params.colour as f64);
    kp.premultiplied = params.premultiplied as u32;
    kp.grain_only = centre.is_some() as u32;
    kp.centre = centre.unwrap_or(0.0);
    kp.gain = params.channel_amount.map(|c| params.amount * c);
    kp.mix_a = mix_a;
    kp.mix_b = mix_b;
}

/// Appends `values`, returning their offset.
fn push(tables: &mut Vec<f32>, values: &[f32]) -> Result<u32, DeviceError> {
    let offset = u32::try_from(tables.len())
        .map_err(|_| DeviceError::TooLarge("grain tables over 2^32 floats".into()))?;
    tables.extend_from_slice(values);
    Ok(offset)
}

fn push_axis(tables: &mut Vec<f32>, taps: &AxisTaps) -> Result<PrGrainAxis, DeviceError> {
    if taps
        .first
        .iter()
        .any(|&i| (i as i64).abs() >= MAX_EXACT_SITE)
    {
        return Err(DeviceError::TooLarge(
            "grain lattice coordinates beyond 2^24 pixels".into(),
        ));
    }
    if let Some(stride) = uniform_stride(taps) {
        // One copy: coordinate origin + n reads first[0] + n·stride with entry 0's weights,
        // which is what the CPU's strided filter reads too.
        return Ok(PrGrainAxis {
            origin: taps.origin,
            taps: taps.taps as u32,
            first: push(tables, &[taps.first[0] as f32])?,
            weights: push(tables, &taps.weights[..taps.taps])?,
            sums: push(tables, &taps.sums[..1])?,
            stride,
        });
    }
    let first: Vec<f32> = taps.first.iter().map(|&i| i as f32).collect();
    Ok(PrGrainAxis {
        origin: taps.origin,
        taps: taps.taps as u32,
        first: push(tables, &first)?,
        weights: push(tables, &taps.weights)?,
        sums: push(tables, &taps.sums)?,
        stride: 0,
    })
}

/// `Some(n)` when the axis is strided (scale exactly 1/n) and every coordinate really has entry
/// 0's weights and sum with its first site n further on; the kernel then reads one copy.
/// Checked rather than assumed, so a table that ever broke the pattern would still render
/// exactly (per-coordinate tables).
fn uniform_stride(taps: &AxisTaps) -> Option<u32> {
    let stride = taps.stride?;
    let count = taps.first.len();
    if count == 0 || taps.taps == 0 {
        return None;
    }
    let w0 = &taps.weights[..taps.taps];
    let uniform = (0..count).all(|n| {
        let wn = &taps.weights[n * taps.taps..(n + 1) * taps.taps];
        taps.first[n] as i64 == taps.first[0] as i64 + (n * stride) as i64
            && taps.sums[n].to_bits() == taps.sums[0].to_bits()
            && wn.iter().zip(w0).all(|(a, b)| a.to_bits() == b.to_bits())
    });
    uniform.then_some(stride as u32)
}

/// Grain on host-memory images on the GPU (upload, kernel, download). `params` carries the
/// render scale, frame and premultiplication, as for `ops::grain::run_cpu`.
pub fn run_grain_cuda(
    engine: &CudaEngine,
    params: &GrainParams,
    src: &ImageView<'_>,
    dst: &ImageViewMut<'_>,
    window: Rect,
) -> Result<(), DeviceError> {
    let win = window.intersect(&dst.bounds());
    if win.is_empty() {
        return Ok(());
    }
    let plan = GrainDevicePlan::for_render(params, win)?;
    engine.run_per_pixel_with_tables(
        Kernel::GrainRgba,
        src,
        dst,
        win,
        &plan.tables,
        |s, d, tables| plan.kernel_params(s, d, tables),
    )
}

/// Grain on the host's stream, reading and writing the host's device images in place. Only the
/// tables (cached by content, so unchanged between frames of a shot) are uploaded, on our own
/// stream.
pub fn run_grain_on_host_stream(
    host: &HostRender,
    params: &GrainParams,
    src: &DeviceImage,
    dst: &DeviceImage,
    window: Rect,
) -> Result<(), DeviceError> {
    src.check()?;
    dst.check()?;
    let win = window.intersect(&dst.layout.bounds);
    if win.is_empty() {
        return Ok(());
    }
    let plan = GrainDevicePlan::for_render(params, win)?;
    let engine = host.engine();
    engine.with_tables(&plan.tables, host.stream(), |tables| {
        let p = plan.kernel_params(src.as_params(), dst.as_params(), tables);
        engine.launch_over_rect(host.stream(), Kernel::GrainRgba, win, &p)
    })
}
