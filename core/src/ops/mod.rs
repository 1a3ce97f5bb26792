//! The ops that need only image views and colour maths: the row drivers ([`pixel`]), the
//! inverse tone map ([`itm`]) and film grain ([`grain`]), with the error and abort types every
//! op shares. Each op has a CPU implementation (the reference, the specification) and, where
//! it pays, a CUDA one (in the plugin crate) that must agree with it within a tolerance
//! written beside its test.

pub mod grain;
pub mod itm;
pub mod pixel;

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
