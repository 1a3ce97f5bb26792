//! The safe plugin-side layer over `ofx_sys`: one guarded entry point per plugin, actions decoded
//! into typed arguments, typed property access, parameter builders and handles, clips and RAII
//! images. Effects are written against the [`Plugin`] trait and never touch raw OFX pointers.
//!
//! Every string handed to a host here is `'static` (OFX requires identifiers and labels to stay
//! valid until unload), and every `extern "C"` body runs under [`guard`].

pub mod action;
pub mod clip;
pub mod cuda;
pub mod effect;
pub mod host;
pub mod param;
pub mod plugin;
pub mod props;
pub mod status;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use action::*;
pub use clip::{BitDepth, Clip, ClipDescriptor, Image, ImageComponents, Premultiplication};
pub use effect::{Context, ImageEffect, MessageKind, RenderThreadSafety};
pub use param::{ChoiceParam, DoubleType, ParamSet, ParamValue};
pub use plugin::{guard, Plugin, PluginRegistry};
pub use props::PropSet;
pub use status::{Error, Result, Status};

pub use ofx_sys as sys;

use std::ffi::CStr;

/// Turns one of `ofx_sys`'s NUL-terminated byte constants into a `&CStr`. Used through [`name!`]
/// so a malformed constant fails at compile time, not in a host.
pub const fn c(bytes: &'static [u8]) -> &'static CStr {
    match CStr::from_bytes_with_nul(bytes) {
        Ok(s) => s,
        Err(_) => panic!("OFX name constant is not NUL-terminated"),
    }
}

/// `name!(kOfxPropLabel)` → the `&'static CStr` of that `ofx_sys` constant, checked at compile time.
#[macro_export]
macro_rules! name {
    ($id:ident) => {{
        const N: &'static ::std::ffi::CStr = $crate::c($crate::sys::$id);
        N
    }};
}

/// OFX 1.4 rectangles and points, in canonical (`RectD`) or pixel (`RectI`) coordinates.
pub use ofx_sys::{OfxPointD as PointD, OfxRectD as RectD, OfxRectI as RectI};
