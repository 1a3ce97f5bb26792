//! The image-effect handle: a plugin descriptor during describe, an instance afterwards.
//! Gives access to its properties, parameters, clips, the abort flag and user messages.

use crate::clip::{Clip, ClipDescriptor};
use crate::host::Host;
use crate::param::ParamSet;
use crate::props::PropSet;
use crate::status::{Error, Result};
use crate::{name, sys};
use std::ffi::{c_void, CStr, CString};

/// OFX image-effect contexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Filter,
    General,
    Generator,
    Transition,
    Paint,
    Retimer,
}

impl Context {
    pub fn name(self) -> &'static CStr {
        match self {
            Context::Filter => name!(kOfxImageEffectContextFilter),
            Context::General => name!(kOfxImageEffectContextGeneral),
            Context::Generator => name!(kOfxImageEffectContextGenerator),
            Context::Transition => name!(kOfxImageEffectContextTransition),
            Context::Paint => name!(kOfxImageEffectContextPaint),
            Context::Retimer => name!(kOfxImageEffectContextRetimer),
        }
    }
    pub fn from_name(s: &str) -> Option<Context> {
        [
            Context::Filter,
            Context::General,
            Context::Generator,
            Context::Transition,
            Context::Paint,
            Context::Retimer,
        ]
        .into_iter()
        .find(|c| c.name().to_str() == Ok(s))
    }
}

/// `kOfxImageEffectPluginRenderThreadSafety`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderThreadSafety {
    Unsafe,
    InstanceSafe,
    FullySafe,
}

impl RenderThreadSafety {
    pub fn name(self) -> &'static CStr {
        match self {
            RenderThreadSafety::Unsafe => name!(kOfxImageEffectRenderUnsafe),
            RenderThreadSafety::InstanceSafe => name!(kOfxImageEffectRenderInstanceSafe),
            RenderThreadSafety::FullySafe => name!(kOfxImageEffectRenderFullySafe),
        }
    }
}

/// Message types of the message suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Error,
    Warning,
    Message,
    Log,
}

impl MessageKind {
    fn name(self) -> &'static CStr {
        match self {
            MessageKind::Error => name!(kOfxMessageError),
            MessageKind::Warning => name!(kOfxMessageWarning),
            MessageKind::Message => name!(kOfxMessageMessage),
            MessageKind::Log => name!(kOfxMessageLog),
        }
    }
}

/// A borrowed `OfxImageEffectHandle` with the host's suites.
#[derive(Clone, Copy)]
pub struct ImageEffect {
    handle: sys::OfxImageEffectHandle,
    host: Host,
}

// SAFETY: an effect handle is an opaque host token usable from render threads (OFX allows
// suite calls on an instance from the threads it renders on).
unsafe impl Send for ImageEffect {}
unsafe impl Sync for ImageEffect {}

impl ImageEffect {
    /// # Safety
    /// `handle` must be the image-effect handle a host passed to the current action.
    pub unsafe fn from_raw(handle: *const c_void, host: Host) -> Result<Self> {
        if handle.is_null() {
            return Err(Error::new(
                crate::Status::ErrBadHandle,
                "the host passed a null effect handle",
            ));
        }
        Ok(ImageEffect {
            handle: handle as sys::OfxImageEffectHandle,
            host,
        })
    }
    pub fn raw(&self) -> sys::OfxImageEffectHandle {
        self.handle
    }
    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn props(&self) -> Result<PropSet> {
        let f = self.host.image_effect.getPropertySet.ok_or_else(|| {
            Error::missing_host_feature("the image effect suite lacks getPropertySet")
        })?;
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: valid handle; p outlives the call.
        Error::check(unsafe { f(self.handle, &mut p) }, || {
            "getting the effect's properties".into()
        })?;
        Ok(PropSet::new(p, self.host.property))
    }

    pub fn params(&self) -> Result<ParamSet> {
        let f = self.host.image_effect.getParamSet.ok_or_else(|| {
            Error::missing_host_feature("the image effect suite lacks getParamSet")
        })?;
        let mut p: sys::OfxParamSetHandle = std::ptr::null_mut();
        // SAFETY: valid handle; p outlives the call.
        Error::check(unsafe { f(self.handle, &mut p) }, || {
            "getting the parameter set".into()
        })?;
        Ok(ParamSet::new(p, self.host))
    }

    /// Defines a clip during describeInContext.
    pub fn define_clip(&self, clip_name: &'static CStr) -> Result<ClipDescriptor> {
        let f = self.host.image_effect.clipDefine.ok_or_else(|| {
            Error::missing_host_feature("the image effect suite lacks clipDefine")
        })?;
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: valid handle, static name; p outlives the call.
        Error::check(
            unsafe { f(self.handle, clip_name.as_ptr(), &mut p) },
            || format!("defining clip {}", clip_name.to_string_lossy()),
        )?;
        Ok(ClipDescriptor::new(PropSet::new(p, self.host.property)))
    }

    /// An instance's clip by name.
    pub fn clip(&self, clip_name: &CStr) -> Result<Clip> {
        let f = self.host.image_effect.clipGetHandle.ok_or_else(|| {
            Error::missing_host_feature("the image effect suite lacks clipGetHandle")
        })?;
        let mut c: sys::OfxImageClipHandle = std::ptr::null_mut();
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: valid handle and name; outputs outlive the call.
        Error::check(
            unsafe { f(self.handle, clip_name.as_ptr(), &mut c, &mut p) },
            || format!("getting clip {}", clip_name.to_string_lossy()),
        )?;
        if c.is_null() {
            return Err(Error::new(
                crate::Status::ErrBadHandle,
                format!(
                    "the host returned a null handle for clip {}",
                    clip_name.to_string_lossy()
                ),
            ));
        }
        Ok(Clip::new(c, PropSet::new(p, self.host.property), self.host))
    }

    /// True when the host asks the render in progress to stop.
    pub fn aborted(&self) -> bool {
        match self.host.image_effect.abort {
            // SAFETY: valid instance handle; abort may be called from render threads.
            Some(f) => unsafe { f(self.handle) != 0 },
            None => false,
        }
    }

    /// Shows a message to the user through the message suite (v2 if present, else v1); a host
    /// without one gets it in the log only. `%` is escaped: the text is never a format string.
    pub fn message(&self, kind: MessageKind, text: &str) {
        log::log!(
            match kind {
                MessageKind::Error => log::Level::Error,
                MessageKind::Warning => log::Level::Warn,
                _ => log::Level::Info,
            },
            "{text}"
        );
        let Ok(msg) = CString::new(text.replace('\0', " ")) else {
            return;
        };
        let fmt = c"%s";
        let h = self.handle as *mut c_void;
        if let Some(f) = self.host.message_v2.and_then(|s| s.message) {
            // SAFETY: "%s" with one C-string argument is a well-formed variadic call.
            unsafe {
                f(
                    h,
                    kind.name().as_ptr(),
                    std::ptr::null(),
                    fmt.as_ptr(),
                    msg.as_ptr(),
                )
            };
        } else if let Some(f) = self.host.message_v1.and_then(|s| s.message) {
            // SAFETY: as above.
            unsafe {
                f(
                    h,
                    kind.name().as_ptr(),
                    std::ptr::null(),
                    fmt.as_ptr(),
                    msg.as_ptr(),
                )
            };
        }
    }

    /// Sets (or with `None` clears) the persistent message shown on the node (message suite v2).
    pub fn persistent_message(&self, message: Option<(MessageKind, &str)>) {
        let Some(suite) = self.host.message_v2 else {
            return;
        };
        let h = self.handle as *mut c_void;
        match message {
            Some((kind, text)) => {
                let Ok(msg) = CString::new(text.replace('\0', " ")) else {
                    return;
                };
                if let Some(f) = suite.setPersistentMessage {
                    // SAFETY: "%s" with one C-string argument.
                    unsafe {
                        f(
                            h,
                            kind.name().as_ptr(),
                            std::ptr::null(),
                            c"%s".as_ptr(),
                            msg.as_ptr(),
                        )
                    };
                }
            }
            None => {
                if let Some(f) = suite.clearPersistentMessage {
                    // SAFETY: valid instance handle.
                    unsafe { f(h) };
                }
            }
        }
    }

    /// Starts a progress bar in hosts that show one (progress suite v1); harmless elsewhere.
    pub fn progress_start(&self, label: &str) {
        let Some(f) = self.host.progress.and_then(|s| s.progressStart) else {
            return;
        };
        if let Ok(l) = CString::new(label.replace('\0', " ")) {
            // SAFETY: valid instance handle and NUL-terminated label, copied by the host.
            unsafe { f(self.handle as *mut c_void, l.as_ptr()) };
        }
    }

    /// Reports progress in 0..1. Returns `false` when the user asked to cancel.
    pub fn progress_update(&self, fraction: f64) -> bool {
        match self.host.progress.and_then(|s| s.progressUpdate) {
            // SAFETY: valid instance handle.
            Some(f) => unsafe { f(self.handle as *mut c_void, fraction.clamp(0.0, 1.0)) == 0 },
            None => true,
        }
    }

    pub fn progress_end(&self) {
        if let Some(f) = self.host.progress.and_then(|s| s.progressEnd) {
            // SAFETY: valid instance handle.
            unsafe { f(self.handle as *mut c_void) };
        }
    }
}
