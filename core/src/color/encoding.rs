//! The one input-encoding vocabulary of PlateRestore's effects: how a plate's code values relate
//! to light, and conversions between encodings for ops (such as networks) that must work in a
//! fixed one. Saved-index order of every "Input encoding" choice is [`Encoding::ALL`].

use super::transfer::{bt1886_eotf, bt1886_inverse_eotf, srgb_eotf, srgb_inverse_eotf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// IEC 61966-2-1 piecewise sRGB (web, most generative-model output).
    #[default]
    Srgb,
    /// ITU-R BT.1886 display with zero black: a pure 2.4 power (Resolve's Rec.709 gamma 2.4).
    Bt1886,
    /// Linear light, 1.0 = SDR white (Nuke's scene-linear, ACEScg, EXR).
    Linear,
}

impl Encoding {
    /// Saved-index order of the OFX choices: append only.
    pub const ALL: [Encoding; 3] = [Encoding::Srgb, Encoding::Bt1886, Encoding::Linear];

    pub fn label(self) -> &'static str {
        match self {
            Encoding::Srgb => "sRGB",
            Encoding::Bt1886 => "BT.1886 (gamma 2.4)",
            Encoding::Linear => "Scene linear",
        }
    }

    /// Code value → linear light. Odd-symmetric (f(−v) = −f(v)) so that the small negative
    /// values a resampling filter's lobes produce survive a round trip; above 1 the curve is
    /// the standard formula continued (HDR values in a float plate are kept, not clipped).
    pub fn to_linear(self, v: f32) -> f32 {
        let f = |x: f64| match self {
            Encoding::Srgb => srgb_eotf(x),
            Encoding::Bt1886 => bt1886_eotf(x),
            Encoding::Linear => x,
        };
        odd(v, f)
    }

    /// Linear light → code value; the inverse of [`Encoding::to_linear`].
    pub fn from_linear(self, v: f32) -> f32 {
        let f = |x: f64| match self {
            Encoding::Srgb => srgb_inverse_eotf(x),
            Encoding::Bt1886 => bt1886_inverse_eotf(x),
            Encoding::Linear => x,
        };
        odd(v, f)
    }

    /// Re-encodes a code value from `self` to `to` (exactly the identity when they are equal).
    pub fn convert(self, to: Encoding, v: f32) -> f32 {
        if self == to {
            v
        } else {
            to.from_linear(self.to_linear(v))
        }
    }
}

fn odd(v: f32, f: impl Fn(f64) -> f64) -> f32 {
    let x = v as f64;
    if x < 0.0 {
        -f(-x) as f32
    } else {
        f(x) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_hit_published_points() {
        // IEC 61966-2-1: ((0.5 + 0.055) / 1.055)^2.4 = 0.2140411; BT.1886 (γ 2.4): 0.5^2.4 = 0.1894646.
        assert!((Encoding::Srgb.to_linear(0.5) - 0.214_041_14).abs() < 1e-6);
        assert!((Encoding::Bt1886.to_linear(0.5) - 0.189_464_57).abs() < 1e-6);
        for from in Encoding::ALL {
            for to in Encoding::ALL {
                for i in -20..=60 {
                    let v = i as f32 / 40.0;
                    let back = to.convert(from, from.convert(to, v));
                    assert!((back - v).abs() < 2e-6, "{from:?}->{to:?} {v} -> {back}");
                }
            }
            assert_eq!(from.convert(from, 0.123_456), 0.123_456);
        }
        assert_eq!(
            Encoding::Srgb.to_linear(-0.5),
            -Encoding::Srgb.to_linear(0.5)
        );
    }
}
