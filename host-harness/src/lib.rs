//! A headless OFX host.

pub mod image;
pub mod io;
