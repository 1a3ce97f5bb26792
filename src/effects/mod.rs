//! One module per OFX effect: its parameters (ids, labels, hints, ranges, defaults), clip
//! set-up, RoD/RoI/identity, and render → a call into `ops`. No pixel maths here.

pub mod common;
pub mod grain;
pub mod inverse_tone_map;
pub mod restore;
pub mod upscale;

/// Every registered effect. Identifiers are reverse-domain under `org.platerestore.`.
pub fn all() -> Vec<Box<dyn ofx::Plugin>> {
    vec![
        Box::new(inverse_tone_map::InverseToneMap),
        Box::new(grain::Grain),
        Box::new(upscale::Upscale),
        Box::new(restore::Restore),
    ]
}
