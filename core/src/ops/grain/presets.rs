//! Stock presets: grain of 35 mm, 16 mm and 8 mm colour negative as it lands on a 4K scan, and
//! the least dither that keeps 8-bit output free of banding. The film figures are derived, not
//! tuned by eye: see `stock_grain` for the chain from published granularity to pixels.

use super::{FilmResponse, GrainOutput, GrainParams, InputEncoding, TemporalMode};

/// A named starting point. Saved-index order of the OFX choice: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrainPreset {
    Film35mmFine,
    Film35mmMedium,
    Film35mmFast,
    Film16mmMedium,
    Film16mmFast,
    Film8mmMedium,
    Film8mmFast,
    DebandDither,
}

/// Camera aperture widths (mm) scanned across 4096 pixels: Super 35 24.89 mm, Super 16
/// 12.52 mm, Super 8 5.79 mm (SMPTE camera aperture dimensions).
const SUPER35_WIDTH_MM: f64 = 24.89;
const SUPER16_WIDTH_MM: f64 = 12.52;
const SUPER8_WIDTH_MM: f64 = 5.79;
const SCAN_WIDTH_PX: f64 = 4096.0;

/// Diffuse RMS granularity is measured through a 48 µm circular aperture at density 1.0, and
/// quoted ×1000 (Kodak data-sheet convention).
const GRANULARITY_APERTURE_UM: f64 = 48.0;

/// Negative density to display code value near mid grey through a print-through chain:
/// negative γ ≈ 0.6 and a print/display system that maps one decade of exposure to ≈ 0.6 of
/// the display code range give ≈ 1 code (full scale) per unit of negative density. A rounded
/// engineering estimate; the response curve shapes the rest of the scale.
const DISPLAY_CODE_PER_DENSITY: f64 = 1.0;

/// A stock's grain on a 4K scan: (RMS in display code values, grain size in pixels).
///
/// `granularity` is the published diffuse RMS granularity (×1000); `cloud_um` the dye-cloud
/// diameter; `gauge_width_mm` the scanned aperture width. Selwyn's law says granularity falls
/// as 1/√(aperture area) when the aperture is much larger than the grain; with a correlation
/// area A_c the variance seen through area a is ≈ σ₀²·A_c/(a + A_c), so a pixel of area p²
/// sees σ_48 · √((A_48 + A_c)/(p² + A_c)) — the pixel-sized aperture no longer averages
/// many clouds once clouds are as large as pixels.
fn stock_grain(granularity: f64, cloud_um: f64, gauge_width_mm: f64) -> (f32, f32) {
    let area = |d: f64| std::f64::consts::PI * d * d / 4.0;
    let pitch_um = gauge_width_mm * 1000.0 / SCAN_WIDTH_PX;
    let a48 = area(GRANULARITY_APERTURE_UM);
    let cloud = area(cloud_um);
    let sigma_density =
        granularity / 1000.0 * ((a48 + cloud) / (pitch_um * pitch_um + cloud)).sqrt();
    (
        (sigma_density * DISPLAY_CODE_PER_DENSITY) as f32,
        (cloud_um / pitch_um) as f32,
    )
}

/// Blue-sensitive layers are the fastest, coarsest emulsions of a colour negative and the
/// green layer the finest: the scanned blue channel is the grainiest, green the least.
const NEGATIVE_CHANNEL_AMOUNT: [f32; 3] = [1.1, 1.0, 1.3];
/// Dye layers grain independently, but scanner and print crosstalk correlate the channels:
/// channel correlation 0.4.
const NEGATIVE_COLOUR: f32 = 0.6;

impl GrainPreset {
    pub const ALL: [GrainPreset; 8] = [
        GrainPreset::Film35mmFine,
        GrainPreset::Film35mmMedium,
        GrainPreset::Film35mmFast,
        GrainPreset::Film16mmMedium,
        GrainPreset::Film16mmFast,
        GrainPreset::Film8mmMedium,
        GrainPreset::Film8mmFast,
        GrainPreset::DebandDither,
    ];

    pub fn label(self) -> &'static str {
        match self {
            GrainPreset::Film35mmFine => "35mm fine (ISO 50)",
            GrainPreset::Film35mmMedium => "35mm medium (ISO 200)",
            GrainPreset::Film35mmFast => "35mm fast (ISO 500)",
            GrainPreset::Film16mmMedium => "16mm medium (ISO 200)",
            GrainPreset::Film16mmFast => "16mm fast (ISO 500)",
            GrainPreset::Film8mmMedium => "8mm medium (ISO 200)",
            GrainPreset::Film8mmFast => "8mm fast (ISO 500)",
            GrainPreset::DebandDither => "Deband dither",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            GrainPreset::DebandDither => {
                "The least grain that keeps 8-bit output free of banding: half a code value RMS, \
                 one pixel, monochrome, flat response"
            }
            _ => "Colour negative grain as it appears on a 4K scan of this gauge and speed",
        }
    }

    /// The preset's settings (sRGB plate, full resolution, frame 0, seed 0).
    pub fn params(self) -> GrainParams {
        // (granularity ×1000, dye-cloud diameter µm, gauge, softness, roughness). Granularity:
        // typical published diffuse RMS granularity of current camera negatives, ≈ 2 at ISO 50,
        // 4 at ISO 200/250, 5 at ISO 500. Cloud diameters grow with speed (larger crystals).
        // Smaller gauges are softer (lens and scanner resolve fewer µm) and rougher (their
        // grain spans more pixels, so its inner structure shows).
        let film =
            |granularity: f64, cloud_um: f64, gauge_mm: f64, softness: f32, roughness: f32| {
                let (amount, size_px) = stock_grain(granularity, cloud_um, gauge_mm);
                GrainParams {
                    amount,
                    channel_amount: NEGATIVE_CHANNEL_AMOUNT,
                    size_px,
                    softness,
                    roughness,
                    response: FilmResponse::default(),
                    colour: NEGATIVE_COLOUR,
                    ..base()
                }
            };
        match self {
            GrainPreset::Film35mmFine => film(2.0, 8.0, SUPER35_WIDTH_MM, 0.3, 0.3),
            GrainPreset::Film35mmMedium => film(4.0, 10.0, SUPER35_WIDTH_MM, 0.35, 0.3),
            GrainPreset::Film35mmFast => film(5.0, 12.0, SUPER35_WIDTH_MM, 0.4, 0.3),
            GrainPreset::Film16mmMedium => film(4.0, 10.0, SUPER16_WIDTH_MM, 0.45, 0.4),
            GrainPreset::Film16mmFast => film(5.0, 12.0, SUPER16_WIDTH_MM, 0.5, 0.4),
            GrainPreset::Film8mmMedium => film(4.0, 10.0, SUPER8_WIDTH_MM, 0.55, 0.5),
            GrainPreset::Film8mmFast => film(5.0, 12.0, SUPER8_WIDTH_MM, 0.6, 0.5),
            // Dither theory (Widrow's quantisation theorem): with Gaussian dither of RMS σ,
            // the mean quantiser output deviates from the input by at most
            // (Δ/π)·exp(−2π²σ²/Δ²) of a step Δ; at σ = Δ/2 that is 0.2 % of a code value, so
            // re-quantisation to 8 bits leaves no visible steps, and less dither starts to let
            // them through (σ = Δ/4 leaves 9 %). Finest grain (1 px, crisp) is the least
            // visible; monochrome avoids chroma speckle; a flat response dithers every level.
            GrainPreset::DebandDither => GrainParams {
                amount: 0.5 / 255.0,
                channel_amount: [1.0; 3],
                size_px: 1.0,
                softness: 0.0,
                roughness: 0.0,
                response: FilmResponse {
                    shadows: 1.0,
                    mids: 1.0,
                    highlights: 1.0,
                },
                colour: 0.0,
                ..base()
            },
        }
    }
}

/// Settings shared by every preset: the non-look fields.
fn base() -> GrainParams {
    GrainParams {
        amount: 0.0,
        channel_amount: [1.0; 3],
        size_px: 1.0,
        softness: 0.0,
        roughness: 0.0,
        response: FilmResponse::default(),
        colour: 0.0,
        temporal: TemporalMode::NewEveryFrame,
        hold_frames: 1,
        seed: 0,
        input_encoding: InputEncoding::Srgb,
        output: GrainOutput::GradedPlate,
        premultiplied: false,
        render_scale: [1.0, 1.0],
        frame: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_ordered_by_gauge() {
        for p in GrainPreset::ALL {
            p.params().validate().unwrap();
        }
        let size = |p: GrainPreset| p.params().size_px;
        // Same stock, smaller gauge: grain spans more pixels (by the gauge width ratio).
        let r = size(GrainPreset::Film16mmFast) / size(GrainPreset::Film35mmFast);
        assert!((r as f64 - SUPER35_WIDTH_MM / SUPER16_WIDTH_MM).abs() < 1e-4);
        assert!(size(GrainPreset::Film8mmFast) > size(GrainPreset::Film16mmFast));
        // Faster stock is grainier at the same gauge.
        let amt = |p: GrainPreset| p.params().amount;
        assert!(amt(GrainPreset::Film35mmFine) < amt(GrainPreset::Film35mmMedium));
        assert!(amt(GrainPreset::Film35mmMedium) < amt(GrainPreset::Film35mmFast));
    }

    #[test]
    fn selwyn_scaling_holds_for_large_apertures() {
        // With a tiny cloud, the pixel granularity is σ_48 · (48 µm / pixel diameter-equivalent).
        let (amount, _) = stock_grain(4.0, 1e-3, SUPER35_WIDTH_MM);
        let pitch = SUPER35_WIDTH_MM * 1000.0 / SCAN_WIDTH_PX;
        let selwyn = 0.004 * (std::f64::consts::PI * 24.0 * 24.0).sqrt() / pitch;
        assert!((amount as f64 - selwyn).abs() < 1e-6 * selwyn.max(1.0));
    }
}
