//! The host's suites, fetched once when the host calls `setHost`. Suites are valid while the
//! binary is loaded (ofxCore.h), so they live in a process-wide slot.

use crate::props::PropSet;
use crate::status::{Error, Result};
use crate::{name, sys};
use std::ffi::{c_void, CStr};
use std::sync::RwLock;

/// Raw suite pointers. The required ones are non-null by construction (see [`Host::fetch`]).
#[derive(Clone, Copy)]
pub struct Host {
    pub handle: sys::OfxPropertySetHandle,
    pub property: &'static sys::OfxPropertySuiteV1,
    pub image_effect: &'static sys::OfxImageEffectSuiteV1,
    pub parameter: &'static sys::OfxParameterSuiteV1,
    pub memory: Option<&'static sys::OfxMemorySuiteV1>,
    pub multi_thread: Option<&'static sys::OfxMultiThreadSuiteV1>,
    pub message_v1: Option<&'static sys::OfxMessageSuiteV1>,
    pub message_v2: Option<&'static sys::OfxMessageSuiteV2>,
    pub progress: Option<&'static sys::OfxProgressSuiteV1>,
}

// SAFETY: the suites are tables of function pointers the host guarantees valid and callable
// from any thread for the binary's lifetime; the host property handle is likewise global.
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

static HOST: RwLock<Option<Host>> = RwLock::new(None);

impl Host {
    /// Fetches every suite from a host's `OfxHost`. Missing required suites are an
    /// `ErrMissingHostFeature`; optional ones are `None`.
    ///
    /// # Safety
    /// `host` must be the pointer a host passed to `setHost`, valid while the binary is loaded.
    pub unsafe fn fetch(host: *mut sys::OfxHost) -> Result<Host> {
        if host.is_null() {
            return Err(Error::missing_host_feature("the host passed no OfxHost"));
        }
        // SAFETY: non-null, and valid per the caller's contract.
        let h = unsafe { &*host };
        let fetch = h
            .fetchSuite
            .ok_or_else(|| Error::missing_host_feature("the host has no fetchSuite"))?;
        let get = |suite: &CStr, version: i32| -> *const c_void {
            // SAFETY: fetchSuite is the host's function, called as ofxCore.h specifies.
            unsafe { fetch(h.host, suite.as_ptr(), version) }
        };
        fn req<T>(p: *const c_void, what: &str) -> Result<&'static T> {
            // SAFETY: a non-null suite pointer is valid for the binary's life (ofxCore.h).
            unsafe { (p as *const T).as_ref() }.ok_or_else(|| {
                Error::missing_host_feature(format!("the host does not provide the {what} suite"))
            })
        }
        fn opt<T>(p: *const c_void) -> Option<&'static T> {
            // SAFETY: as above.
            unsafe { (p as *const T).as_ref() }
        }
        Ok(Host {
            handle: h.host,
            property: req(get(name!(kOfxPropertySuite), 1), "property")?,
            image_effect: req(get(name!(kOfxImageEffectSuite), 1), "image effect")?,
            parameter: req(get(name!(kOfxParameterSuite), 1), "parameter")?,
            memory: opt(get(name!(kOfxMemorySuite), 1)),
            multi_thread: opt(get(name!(kOfxMultiThreadSuite), 1)),
            message_v1: opt(get(name!(kOfxMessageSuite), 1)),
            message_v2: opt(get(name!(kOfxMessageSuite), 2)),
            progress: opt(get(name!(kOfxProgressSuite), 1)),
        })
    }

    /// Installs the host for every later call. A host may call setHost once per plugin of the
    /// binary; the last one wins (they are the same host).
    pub fn install(host: Host) {
        match HOST.write() {
            Ok(mut g) => *g = Some(host),
            Err(poisoned) => *poisoned.into_inner() = Some(host),
        }
    }

    /// Forgets the host (after the last unload), so nothing calls a host that is gone.
    pub fn uninstall() {
        match HOST.write() {
            Ok(mut g) => *g = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }

    /// The installed host; an action arriving before setHost is a host bug we report, not crash on.
    pub fn get() -> Result<Host> {
        let g = match HOST.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        (*g).ok_or_else(|| Error::new(crate::Status::ErrFatal, "the host never called setHost"))
    }

    /// The host's own property set (name, version, capabilities).
    pub fn properties(&self) -> PropSet {
        PropSet::new(self.handle, self.property)
    }

    /// The host's name (`kOfxPropName`, e.g. "DaVinciResolve", "uk.co.thefoundry.nuke").
    pub fn name(&self) -> Option<String> {
        self.properties().get_string_opt(name!(kOfxPropName), 0)
    }
}
