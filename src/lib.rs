//! PlateRestore: OFX effects that make fragile 8-bit SDR plates fit for a film pipeline.
//!
//! The crate is both the OFX binary (cdylib: `OfxGetNumberOfPlugins` / `OfxGetPlugin` below) and
//! a library (rlib) of the ops, colour maths and image views that tests, benches and tools call
//! directly. Only effects that really work are registered.

pub mod device;
pub mod effects;
pub mod logging;
pub mod nn;
pub mod ops;

// Image views and colour maths live in `platerestore-core` (see `ops`); same paths here.
pub use platerestore_core::{color, image};

/// The effects this binary registers, in a fixed order (hosts cache describe results).
pub fn plugins() -> Vec<Box<dyn ofx::Plugin>> {
    logging::init();
    effects::all()
}

ofx::export_plugins!(crate::plugins);
