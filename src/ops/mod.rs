//! Backend-agnostic image operations. Each op has a CPU implementation (the reference, the
//! specification) and, where it pays, a CUDA one that must agree with it within a tolerance
//! written beside its test. Ops know nothing of OFX: they take plain parameter structs and views.

pub mod restore;
pub mod upscale;

// The ops that need nothing of the plugin live in `platerestore-core`, a crate of their own so
// that an edit of them rebuilds and tests only that crate; their paths are the same here.
pub use platerestore_core::ops::{grain, itm, pixel, Abort, NeverAbort, OpError};
