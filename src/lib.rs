//! PlateRestore: OFX effects that make fragile 8-bit SDR plates fit for a film pipeline.
//!
//! The crate is both the OFX binary (cdylib; its entry points live in `entry`) and a library
//! (rlib) of the ops, colour maths and image views that tests, benches and the harness call
//! directly.

pub mod color;
pub mod device;
pub mod effects;
pub mod image;
pub mod ops;
