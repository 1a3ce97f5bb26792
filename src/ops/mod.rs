//! Backend-agnostic image operations. Each op has a CPU implementation (the reference, the
//! specification) and, where it pays, a CUDA one that must agree with it within a tolerance
//! written beside its test. Ops know nothing of OFX: they take plain parameter structs and views.

pub mod grain;
pub mod itm;
pub mod pixel;
pub mod restore;
pub mod upscale;

use crate::image::ImageError;

/// Why an op did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("the render was aborted by the host")]
    Aborted,
    #[error("bad image: {0}")]
    Image(#[from] ImageError),
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    #[error("{0} is not implemented on this backend")]
    Unsupported(&'static str),
}

/// Asked between bands of rows: `true` means the host wants the render to stop.
pub trait Abort: Sync {
    fn aborted(&self) -> bool;
}

/// Never aborts; for tests, benches and batch tools.
pub struct NeverAbort;

impl Abort for NeverAbort {
    fn aborted(&self) -> bool {
        false
    }
}

impl<F: Fn() -> bool + Sync> Abort for F {
    fn aborted(&self) -> bool {
        self()
    }
}
