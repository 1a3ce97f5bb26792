//! A headless OFX host.

pub mod image;
