//! A minimal in-process property suite for unit tests of this crate: property sets are
//! `Box<FakeProps>` handles holding typed values, so decoding of host data (images, action
//! arguments) can be tested against hostile inputs without a real host.

use crate::sys;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};

#[derive(Clone, Debug)]
pub enum V {
    I(Vec<c_int>),
    D(Vec<f64>),
    S(Vec<CString>),
    P(Vec<*mut c_void>),
}

#[derive(Default)]
pub struct FakeProps {
    pub values: HashMap<String, V>,
}

impl FakeProps {
    pub fn set(&mut self, name: &CStr, v: V) -> &mut Self {
        self.values.insert(name.to_string_lossy().into_owned(), v);
        self
    }
    pub fn handle(&mut self) -> sys::OfxPropertySetHandle {
        self as *mut FakeProps as sys::OfxPropertySetHandle
    }
}

unsafe fn props<'a>(h: sys::OfxPropertySetHandle) -> &'a mut FakeProps {
    // SAFETY: tests only pass handles made by FakeProps::handle, alive for the call.
    unsafe { &mut *(h as *mut FakeProps) }
}

unsafe fn key(name: *const c_char) -> String {
    // SAFETY: callers pass NUL-terminated names.
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

const OK: c_int = 0;
const UNKNOWN: c_int = 3;
const BAD_INDEX: c_int = 10;

macro_rules! getter {
    ($fname:ident, $variant:ident, $t:ty, |$x:ident| $conv:expr) => {
        unsafe extern "C" fn $fname(
            h: sys::OfxPropertySetHandle,
            name: *const c_char,
            index: c_int,
            out: *mut $t,
        ) -> c_int {
            // SAFETY: test-only handles and names.
            let p = unsafe { props(h) };
            match p.values.get(&unsafe { key(name) }) {
                Some(V::$variant(v)) => match v.get(index as usize) {
                    Some($x) => {
                        // SAFETY: out is a valid pointer from the caller.
                        unsafe { *out = $conv };
                        OK
                    }
                    None => BAD_INDEX,
                },
                _ => UNKNOWN,
            }
        }
    };
}

getter!(get_int, I, c_int, |x| *x);
getter!(get_double, D, f64, |x| *x);
getter!(get_pointer, P, *mut c_void, |x| *x);
getter!(get_string, S, *const c_char, |x| x.as_ptr());

macro_rules! setter {
    ($fname:ident, $variant:ident, $t:ty, |$x:ident| $conv:expr) => {
        unsafe extern "C" fn $fname(
            h: sys::OfxPropertySetHandle,
            name: *const c_char,
            index: c_int,
            $x: $t,
        ) -> c_int {
            // SAFETY: test-only handles and names.
            let p = unsafe { props(h) };
            let k = unsafe { key(name) };
            let entry = p.values.entry(k).or_insert(V::$variant(Vec::new()));
            if let V::$variant(v) = entry {
                let i = index as usize;
                if v.len() <= i {
                    v.resize(i + 1, Default::default());
                }
                v[i] = $conv;
                OK
            } else {
                UNKNOWN
            }
        }
    };
}

setter!(set_int, I, c_int, |x| x);
setter!(set_double, D, f64, |x| x);
// SAFETY (inside the macro): the value is a NUL-terminated string from the caller.
setter!(set_string, S, *const c_char, |x| unsafe {
    CStr::from_ptr(x)
}
.to_owned());

unsafe extern "C" fn set_pointer(
    h: sys::OfxPropertySetHandle,
    name: *const c_char,
    index: c_int,
    x: *mut c_void,
) -> c_int {
    // SAFETY: test-only handles and names.
    let p = unsafe { props(h) };
    let k = unsafe { key(name) };
    let entry = p.values.entry(k).or_insert(V::P(Vec::new()));
    if let V::P(v) = entry {
        let i = index as usize;
        if v.len() <= i {
            v.resize(i + 1, std::ptr::null_mut());
        }
        v[i] = x;
        OK
    } else {
        UNKNOWN
    }
}

unsafe extern "C" fn get_dimension(
    h: sys::OfxPropertySetHandle,
    name: *const c_char,
    count: *mut c_int,
) -> c_int {
    // SAFETY: test-only handles and names.
    let p = unsafe { props(h) };
    let n = match p.values.get(&unsafe { key(name) }) {
        Some(V::I(v)) => v.len(),
        Some(V::D(v)) => v.len(),
        Some(V::S(v)) => v.len(),
        Some(V::P(v)) => v.len(),
        None => return UNKNOWN,
    };
    // SAFETY: valid out pointer.
    unsafe { *count = n as c_int };
    OK
}

/// A property suite over `FakeProps` handles (the N-variants and reset are not needed here).
pub static SUITE: sys::OfxPropertySuiteV1 = sys::OfxPropertySuiteV1 {
    propSetPointer: Some(set_pointer),
    propSetString: Some(set_string),
    propSetDouble: Some(set_double),
    propSetInt: Some(set_int),
    propSetPointerN: None,
    propSetStringN: None,
    propSetDoubleN: None,
    propSetIntN: None,
    propGetPointer: Some(get_pointer),
    propGetString: Some(get_string),
    propGetDouble: Some(get_double),
    propGetInt: Some(get_int),
    propGetPointerN: None,
    propGetStringN: None,
    propGetDoubleN: None,
    propGetIntN: None,
    propReset: None,
    propGetDimension: Some(get_dimension),
};
