//! Colour maths shared by the effects: transfer functions (sRGB, BT.1886, PQ, HLG), gamut
//! matrices built from each standard's primaries, and ICtCp / ΔE_ITP for quality checks.
//! Everything here is exact `f64`; ops build their fast tables from these functions.

pub mod encoding;
pub mod gamut;
pub mod ictcp;
pub mod transfer;

pub use encoding::Encoding;
