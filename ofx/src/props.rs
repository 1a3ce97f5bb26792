//! Typed access to OFX property sets. A property an older host lacks reads as `None` through
//! the `_opt` getters instead of failing the action.

use crate::status::{Error, Result, Status};
use crate::sys;
use std::ffi::{c_char, c_void, CStr, CString};

/// A property set handle and the suite to read it with.
#[derive(Clone, Copy)]
pub struct PropSet {
    handle: sys::OfxPropertySetHandle,
    suite: &'static sys::OfxPropertySuiteV1,
}

// SAFETY: property sets are host objects addressed through the thread-safe property suite;
// OFX allows property access from render threads.
unsafe impl Send for PropSet {}
unsafe impl Sync for PropSet {}

macro_rules! suite_fn {
    ($self:ident, $f:ident) => {
        $self.suite.$f.ok_or_else(|| {
            Error::missing_host_feature(concat!("the host's property suite lacks ", stringify!($f)))
        })?
    };
}

fn describe(name: &CStr) -> String {
    name.to_string_lossy().into_owned()
}

impl PropSet {
    pub fn new(handle: sys::OfxPropertySetHandle, suite: &'static sys::OfxPropertySuiteV1) -> Self {
        PropSet { handle, suite }
    }
    pub fn handle(&self) -> sys::OfxPropertySetHandle {
        self.handle
    }
    pub fn is_null(&self) -> bool {
        self.handle.is_null()
    }

    fn check(&self, code: i32, name: &CStr, what: &str) -> Result<()> {
        Error::check(code, || format!("{what} property {}", describe(name)))
    }

    fn non_null(&self, name: &CStr) -> Result<()> {
        if self.handle.is_null() {
            Err(Error::new(
                Status::ErrBadHandle,
                format!("property {} asked of a null property set", describe(name)),
            ))
        } else {
            Ok(())
        }
    }

    pub fn get_int(&self, name: &CStr, index: i32) -> Result<i32> {
        self.non_null(name)?;
        let f = suite_fn!(self, propGetInt);
        let mut v = 0;
        // SAFETY: valid handle and NUL-terminated name; v outlives the call.
        let code = unsafe { f(self.handle, name.as_ptr(), index, &mut v) };
        self.check(code, name, "reading")?;
        Ok(v)
    }
    pub fn get_double(&self, name: &CStr, index: i32) -> Result<f64> {
        self.non_null(name)?;
        let f = suite_fn!(self, propGetDouble);
        let mut v = 0.0;
        // SAFETY: as get_int.
        let code = unsafe { f(self.handle, name.as_ptr(), index, &mut v) };
        self.check(code, name, "reading")?;
        Ok(v)
    }
    pub fn get_pointer(&self, name: &CStr, index: i32) -> Result<*mut c_void> {
        self.non_null(name)?;
        let f = suite_fn!(self, propGetPointer);
        let mut v: *mut c_void = std::ptr::null_mut();
        // SAFETY: as get_int.
        let code = unsafe { f(self.handle, name.as_ptr(), index, &mut v) };
        self.check(code, name, "reading")?;
        Ok(v)
    }
    /// Reads a string property, copied (the host's pointer is only valid until the next call).
    pub fn get_string(&self, name: &CStr, index: i32) -> Result<String> {
        self.non_null(name)?;
        let f = suite_fn!(self, propGetString);
        let mut v: *const c_char = std::ptr::null();
        // SAFETY: as get_int.
        let code = unsafe { f(self.handle, name.as_ptr(), index, &mut v) };
        self.check(code, name, "reading")?;
        if v.is_null() {
            return Ok(String::new());
        }
        // SAFETY: the host returned a NUL-terminated string valid until its next call.
        Ok(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }
    pub fn dimension(&self, name: &CStr) -> Result<i32> {
        self.non_null(name)?;
        let f = suite_fn!(self, propGetDimension);
        let mut n = 0;
        // SAFETY: as get_int.
        let code = unsafe { f(self.handle, name.as_ptr(), &mut n) };
        self.check(code, name, "sizing")?;
        Ok(n)
    }
    pub fn get_doubles<const N: usize>(&self, name: &CStr) -> Result<[f64; N]> {
        let mut out = [0.0; N];
        for (i, v) in out.iter_mut().enumerate() {
            *v = self.get_double(name, i as i32)?;
        }
        Ok(out)
    }
    pub fn get_ints<const N: usize>(&self, name: &CStr) -> Result<[i32; N]> {
        let mut out = [0; N];
        for (i, v) in out.iter_mut().enumerate() {
            *v = self.get_int(name, i as i32)?;
        }
        Ok(out)
    }

    /// `Ok(v)` → `Some(v)`, anything else (unknown property, older host) → `None`.
    pub fn get_int_opt(&self, name: &CStr, index: i32) -> Option<i32> {
        self.get_int(name, index).ok()
    }
    pub fn get_double_opt(&self, name: &CStr, index: i32) -> Option<f64> {
        self.get_double(name, index).ok()
    }
    pub fn get_string_opt(&self, name: &CStr, index: i32) -> Option<String> {
        self.get_string(name, index).ok()
    }
    pub fn get_pointer_opt(&self, name: &CStr, index: i32) -> Option<*mut c_void> {
        self.get_pointer(name, index).ok()
    }

    pub fn set_int(&self, name: &CStr, index: i32, v: i32) -> Result<()> {
        self.non_null(name)?;
        let f = suite_fn!(self, propSetInt);
        // SAFETY: valid handle and NUL-terminated name.
        let code = unsafe { f(self.handle, name.as_ptr(), index, v) };
        self.check(code, name, "setting")
    }
    pub fn set_bool(&self, name: &CStr, index: i32, v: bool) -> Result<()> {
        self.set_int(name, index, v as i32)
    }
    pub fn set_double(&self, name: &CStr, index: i32, v: f64) -> Result<()> {
        self.non_null(name)?;
        let f = suite_fn!(self, propSetDouble);
        // SAFETY: as set_int.
        let code = unsafe { f(self.handle, name.as_ptr(), index, v) };
        self.check(code, name, "setting")
    }
    pub fn set_doubles(&self, name: &CStr, values: &[f64]) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            self.set_double(name, i as i32, *v)?;
        }
        Ok(())
    }
    pub fn set_ints(&self, name: &CStr, values: &[i32]) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            self.set_int(name, i as i32, *v)?;
        }
        Ok(())
    }
    // The pointer is stored by the host as an opaque value (e.g. instance data), never read here.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn set_pointer(&self, name: &CStr, index: i32, v: *mut c_void) -> Result<()> {
        self.non_null(name)?;
        let f = suite_fn!(self, propSetPointer);
        // SAFETY: as set_int.
        let code = unsafe { f(self.handle, name.as_ptr(), index, v) };
        self.check(code, name, "setting")
    }
    /// Sets a string the host copies (OFX: property string values are copied by the host).
    pub fn set_str(&self, name: &CStr, index: i32, v: &CStr) -> Result<()> {
        self.non_null(name)?;
        let f = suite_fn!(self, propSetString);
        // SAFETY: as set_int; the host copies the value before returning.
        let code = unsafe { f(self.handle, name.as_ptr(), index, v.as_ptr()) };
        self.check(code, name, "setting")
    }
    /// Sets a string from Rust text; interior NULs are replaced so bad text never fails a describe.
    pub fn set_string(&self, name: &CStr, index: i32, v: &str) -> Result<()> {
        let s = CString::new(v.replace('\0', " ")).map_err(|_| Error::value("string with NUL"))?;
        self.set_str(name, index, &s)
    }
    pub fn set_strings(&self, name: &CStr, values: &[&CStr]) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            self.set_str(name, i as i32, v)?;
        }
        Ok(())
    }
}
