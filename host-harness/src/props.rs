//! OFX property sets and the property suite. Every handle the host gives a plugin (host,
//! descriptors, instances, clips, images, action arguments) is backed by a `PropertySet`; strings
//! are copied in and out, and returned `char*` stay valid until that property is next set.

use crate::findings::{FindingKind, Findings};
use ofx_sys::*;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Arc, Mutex, MutexGuard};

/// Turns an `ofx_sys` name constant (`&[u8; N]` ending in NUL) into a `&str`.
pub fn name(bytes: &'static [u8]) -> &'static str {
    let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    // The constants are ASCII identifiers from the OFX headers; an invalid one reads as "".
    std::str::from_utf8(trimmed).unwrap_or("")
}

pub const STAT_OK: OfxStatus = eOfxStatus_OK;
pub const STAT_FAILED: OfxStatus = eOfxStatus_Failed;
pub const STAT_ERR_FATAL: OfxStatus = eOfxStatus_ErrFatal;
pub const STAT_ERR_UNKNOWN: OfxStatus = eOfxStatus_ErrUnknown;
pub const STAT_ERR_MISSING_HOST_FEATURE: OfxStatus = eOfxStatus_ErrMissingHostFeature;
pub const STAT_ERR_UNSUPPORTED: OfxStatus = eOfxStatus_ErrUnsupported;
pub const STAT_ERR_EXISTS: OfxStatus = 6;
pub const STAT_ERR_FORMAT: OfxStatus = 7;
pub const STAT_ERR_MEMORY: OfxStatus = eOfxStatus_ErrMemory;
pub const STAT_ERR_BAD_HANDLE: OfxStatus = eOfxStatus_ErrBadHandle;
pub const STAT_ERR_BAD_INDEX: OfxStatus = eOfxStatus_ErrBadIndex;
pub const STAT_ERR_VALUE: OfxStatus = eOfxStatus_ErrValue;
pub const STAT_REPLY_YES: OfxStatus = 12;
pub const STAT_REPLY_NO: OfxStatus = 13;
pub const STAT_REPLY_DEFAULT: OfxStatus = eOfxStatus_ReplyDefault;
/// ofxCore.h: the plugin is not licensed for this action.
pub const STAT_UNLICENSED: OfxStatus = 15;
/// ofxImageEffect.h: "incorrect image formats", the first of the image-effect statuses
/// (1000–1999, returned by the image effect suite and image effect plugins).
pub const STAT_ERR_IMAGE_FORMAT: OfxStatus = 1000;
/// ofxGPURender.h: GPU memory ran out / a GPU render failed (formerly the GL names).
pub const STAT_GPU_OUT_OF_MEMORY: OfxStatus = 1001;
pub const STAT_GPU_RENDER_FAILED: OfxStatus = 1002;

/// Human name of a status code, for findings and error messages.
pub fn status_name(status: OfxStatus) -> &'static str {
    match status {
        0 => "kOfxStatOK",
        1 => "kOfxStatFailed",
        2 => "kOfxStatErrFatal",
        3 => "kOfxStatErrUnknown",
        4 => "kOfxStatErrMissingHostFeature",
        5 => "kOfxStatErrUnsupported",
        6 => "kOfxStatErrExists",
        7 => "kOfxStatErrFormat",
        8 => "kOfxStatErrMemory",
        9 => "kOfxStatErrBadHandle",
        10 => "kOfxStatErrBadIndex",
        11 => "kOfxStatErrValue",
        12 => "kOfxStatReplyYes",
        13 => "kOfxStatReplyNo",
        14 => "kOfxStatReplyDefault",
        15 => "kOfxStatUnlicensed",
        1000 => "kOfxStatErrImageFormat",
        1001 => "kOfxStatGPUOutOfMemory",
        1002 => "kOfxStatGPURenderFailed",
        _ => "not an OFX status",
    }
}

/// The values of one property.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    Int(Vec<i32>),
    Double(Vec<f64>),
    Str(Vec<CString>),
    Pointer(Vec<usize>),
}

impl PropValue {
    pub fn len(&self) -> usize {
        match self {
            PropValue::Int(v) => v.len(),
            PropValue::Double(v) => v.len(),
            PropValue::Str(v) => v.len(),
            PropValue::Pointer(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn type_name(&self) -> &'static str {
        match self {
            PropValue::Int(_) => "int",
            PropValue::Double(_) => "double",
            PropValue::Str(_) => "string",
            PropValue::Pointer(_) => "pointer",
        }
    }
    pub fn strings(values: &[&str]) -> PropValue {
        PropValue::Str(values.iter().map(|s| cstring(s)).collect())
    }
}

/// A CString from Rust text; interior NULs (never present in OFX names) are dropped.
pub fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

#[derive(Debug, Clone)]
struct Prop {
    value: PropValue,
    default: PropValue,
    /// Some(n): exactly n values (indexes >= n are bad); None: the plugin may grow it.
    fixed_dims: Option<usize>,
}

/// Magic tag at the start of every host object, so a stale or foreign handle is refused with
/// `kOfxStatErrBadHandle` instead of being dereferenced as the wrong type.
pub const MAGIC_PROPS: u64 = 0x4f46_5850_524f_5053; // "OFXPROPS"

/// A set of named properties behind an OFX property set handle.
#[repr(C)]
pub struct PropertySet {
    magic: u64,
    /// What this set describes, for findings ("effect descriptor", "render inArgs", …).
    pub what: String,
    /// When true, setting a property the host did not define fails with kOfxStatErrUnknown.
    strict: bool,
    props: Mutex<BTreeMap<String, Prop>>,
    findings: Option<Arc<Findings>>,
}

impl Drop for PropertySet {
    fn drop(&mut self) {
        // A handle kept past the set's life then fails the magic check (kOfxStatErrBadHandle)
        // instead of reading a set that looks alive. Volatile: the store must not be elided
        // as dead just before the memory is freed.
        // SAFETY: `self.magic` is a valid, aligned u64 owned by this set.
        unsafe { std::ptr::write_volatile(&mut self.magic, 0) };
    }
}

impl std::fmt::Debug for PropertySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PropertySet")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl PropertySet {
    /// A set the plugin may add properties to (descriptors, outArgs of describe-like actions).
    pub fn new(what: &str, findings: Option<Arc<Findings>>) -> Box<PropertySet> {
        Box::new(PropertySet {
            magic: MAGIC_PROPS,
            what: what.to_string(),
            strict: false,
            props: Mutex::new(BTreeMap::new()),
            findings,
        })
    }
    /// A set whose names the host fixes (host, images, action arguments).
    pub fn new_strict(what: &str, findings: Option<Arc<Findings>>) -> Box<PropertySet> {
        let mut p = PropertySet::new(what, findings);
        p.strict = true;
        p
    }

    pub fn handle(&self) -> OfxPropertySetHandle {
        self as *const PropertySet as OfxPropertySetHandle
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Prop>> {
        // A panic while holding this lock would leave the map intact (no partial updates are
        // made while locked), so a poisoned lock is still safe to use.
        self.props.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Defines (or redefines) a property with a fixed number of values.
    pub fn define(&self, key: &str, value: PropValue) {
        let n = value.len();
        self.lock().insert(
            key.to_string(),
            Prop {
                default: value.clone(),
                value,
                fixed_dims: Some(n),
            },
        );
    }
    /// Defines a property whose number of values the plugin chooses (lists such as contexts).
    pub fn define_list(&self, key: &str, value: PropValue) {
        self.lock().insert(
            key.to_string(),
            Prop {
                default: value.clone(),
                value,
                fixed_dims: None,
            },
        );
    }
    pub fn define_int(&self, key: &str, v: &[i32]) {
        self.define(key, PropValue::Int(v.to_vec()));
    }
    pub fn define_double(&self, key: &str, v: &[f64]) {
        self.define(key, PropValue::Double(v.to_vec()));
    }
    pub fn define_str(&self, key: &str, v: &[&str]) {
        self.define(key, PropValue::strings(v));
    }
    pub fn define_ptr(&self, key: &str, v: &[usize]) {
        self.define(key, PropValue::Pointer(v.to_vec()));
    }
    /// Removes a property (fault injection: a host that lacks it).
    pub fn remove(&self, key: &str) {
        self.props
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Replaces the values of an existing or new property, keeping its dimension rule.
    pub fn set(&self, key: &str, value: PropValue) {
        let mut map = self.lock();
        match map.get_mut(key) {
            Some(p) => {
                if p.fixed_dims.is_some() {
                    p.fixed_dims = Some(value.len());
                }
                p.value = value;
            }
            None => {
                map.insert(
                    key.to_string(),
                    Prop {
                        default: value.clone(),
                        value,
                        fixed_dims: None,
                    },
                );
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<PropValue> {
        self.lock().get(key).map(|p| p.value.clone())
    }
    pub fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
    pub fn get_int(&self, key: &str, index: usize) -> Option<i32> {
        match self.lock().get(key)?.value {
            PropValue::Int(ref v) => v.get(index).copied(),
            PropValue::Double(ref v) => v.get(index).map(|d| *d as i32),
            _ => None,
        }
    }
    pub fn get_double(&self, key: &str, index: usize) -> Option<f64> {
        match self.lock().get(key)?.value {
            PropValue::Double(ref v) => v.get(index).copied(),
            PropValue::Int(ref v) => v.get(index).map(|i| *i as f64),
            _ => None,
        }
    }
    pub fn get_string(&self, key: &str, index: usize) -> Option<String> {
        match self.lock().get(key)?.value {
            PropValue::Str(ref v) => v.get(index).map(|s| s.to_string_lossy().into_owned()),
            _ => None,
        }
    }
    pub fn get_strings(&self, key: &str) -> Vec<String> {
        match self.lock().get(key).map(|p| &p.value) {
            Some(PropValue::Str(v)) => v.iter().map(|s| s.to_string_lossy().into_owned()).collect(),
            _ => Vec::new(),
        }
    }
    pub fn get_ints(&self, key: &str) -> Vec<i32> {
        match self.lock().get(key).map(|p| &p.value) {
            Some(PropValue::Int(v)) => v.clone(),
            Some(PropValue::Double(v)) => v.iter().map(|d| *d as i32).collect(),
            _ => Vec::new(),
        }
    }
    pub fn get_doubles(&self, key: &str) -> Vec<f64> {
        match self.lock().get(key).map(|p| &p.value) {
            Some(PropValue::Double(v)) => v.clone(),
            Some(PropValue::Int(v)) => v.iter().map(|i| *i as f64).collect(),
            _ => Vec::new(),
        }
    }
    pub fn get_pointer(&self, key: &str, index: usize) -> Option<usize> {
        match self.lock().get(key)?.value {
            PropValue::Pointer(ref v) => v.get(index).copied(),
            _ => None,
        }
    }

    /// A copy of every property (values become the copy's defaults), e.g. descriptor → instance.
    pub fn clone_into(&self, other: &PropertySet) {
        let src = self.lock().clone();
        let mut dst = other.lock();
        for (k, mut p) in src {
            p.default = p.value.clone();
            dst.insert(k, p);
        }
    }

    fn note(&self, kind: FindingKind, msg: String) {
        if let Some(f) = &self.findings {
            f.push(kind, msg);
        }
    }

    // --- the suite's logic, with Rust types ---

    fn set_value(&self, key: &str, index: usize, v: PropValue) -> OfxStatus {
        let mut map = self.lock();
        let strict = self.strict;
        let prop = match map.get_mut(key) {
            Some(p) => p,
            None if strict => {
                drop(map);
                self.note(
                    FindingKind::UnknownProperty,
                    format!("set of unknown property '{key}' on the {}", self.what),
                );
                return STAT_ERR_UNKNOWN;
            }
            None => {
                let empty = match v {
                    PropValue::Int(_) => PropValue::Int(vec![]),
                    PropValue::Double(_) => PropValue::Double(vec![]),
                    PropValue::Str(_) => PropValue::Str(vec![]),
                    PropValue::Pointer(_) => PropValue::Pointer(vec![]),
                };
                map.entry(key.to_string()).or_insert(Prop {
                    value: empty.clone(),
                    default: empty,
                    fixed_dims: None,
                })
            }
        };
        if let Some(n) = prop.fixed_dims {
            if index >= n {
                return STAT_ERR_BAD_INDEX;
            }
        }
        macro_rules! put {
            ($vec:expr, $x:expr, $zero:expr) => {{
                if index >= $vec.len() {
                    $vec.resize(index + 1, $zero);
                }
                $vec[index] = $x;
                STAT_OK
            }};
        }
        match (&mut prop.value, v) {
            (PropValue::Int(vec), PropValue::Int(mut x)) => put!(vec, x.remove(0), 0),
            (PropValue::Double(vec), PropValue::Double(mut x)) => put!(vec, x.remove(0), 0.0),
            // Hosts commonly accept an int written to a double property; keep it lenient.
            (PropValue::Double(vec), PropValue::Int(x)) => put!(vec, x[0] as f64, 0.0),
            (PropValue::Str(vec), PropValue::Str(mut x)) => {
                put!(vec, x.remove(0), CString::default())
            }
            (PropValue::Pointer(vec), PropValue::Pointer(x)) => put!(vec, x[0], 0),
            (have, got) => {
                let msg = format!(
                    "property '{key}' on the {} is {}, set as {}",
                    self.what,
                    have.type_name(),
                    got.type_name()
                );
                drop(map);
                self.note(FindingKind::PropertyTypeMismatch, msg);
                STAT_ERR_VALUE
            }
        }
    }

    fn with_prop<R>(&self, key: &str, f: impl FnOnce(&Prop) -> R) -> Result<R, OfxStatus> {
        let map = self.lock();
        match map.get(key) {
            Some(p) => Ok(f(p)),
            None => Err(STAT_ERR_UNKNOWN),
        }
    }
}

/// Resolves a handle to its set, refusing NULL and foreign pointers.
///
/// # Safety
/// `h` must be NULL or a pointer the plugin received from this host (any host object); the
/// magic check then tells property sets from other objects.
pub unsafe fn from_handle<'a>(h: OfxPropertySetHandle) -> Option<&'a PropertySet> {
    if h.is_null() || !(h as usize).is_multiple_of(std::mem::align_of::<PropertySet>()) {
        return None;
    }
    let p = h as *const PropertySet;
    // SAFETY: non-null and aligned; the caller guarantees it points at a host object, all of
    // which start with a u64 magic field.
    if unsafe { (*p).magic } != MAGIC_PROPS {
        return None;
    }
    // SAFETY: the magic says it is a live PropertySet.
    Some(unsafe { &*p })
}

/// # Safety
/// `s` must be NULL or a NUL-terminated string.
pub unsafe fn cstr_arg<'a>(s: *const c_char) -> Option<&'a str> {
    if s.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated per the OFX API contract the caller relies on.
    unsafe { CStr::from_ptr(s) }.to_str().ok()
}

/// Runs a suite body, turning a panic into `kOfxStatErrFatal` so none crosses the C ABI.
pub fn guard(f: impl FnOnce() -> OfxStatus) -> OfxStatus {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(STAT_ERR_FATAL)
}

macro_rules! resolve {
    ($h:expr, $key:expr) => {{
        // SAFETY: handles come from the plugin, which only has ones this host gave it;
        // from_handle checks NULL, alignment and the magic before use.
        let set = match unsafe { from_handle($h) } {
            Some(s) => s,
            None => return STAT_ERR_BAD_HANDLE,
        };
        // SAFETY: property names are NUL-terminated C strings per the OFX API.
        let key = match unsafe { cstr_arg($key) } {
            Some(k) => k,
            None => return STAT_ERR_UNKNOWN,
        };
        (set, key)
    }};
}

unsafe extern "C" fn prop_set_pointer(
    h: OfxPropertySetHandle,
    k: *const c_char,
    i: c_int,
    v: *mut c_void,
) -> OfxStatus {
    guard(|| {
        let (s, k) = resolve!(h, k);
        if i < 0 {
            return STAT_ERR_BAD_INDEX;
        }
        s.set_value(k, i as usize, PropValue::Pointer(vec![v as usize]))
    })
}
unsafe extern "C" fn prop_set_string(
    h: OfxPropertySetHandle,
    k: *const c_char,
    i: c_int,
    v: *const c_char,
) -> OfxStatus {
    guard(|| {
        let (s, k) = resolve!(h, k);
        if i < 0 {
            return STAT_ERR_BAD_INDEX;
        }
        if v.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: non-null, NUL-terminated per the API; copied at once.
        let val = unsafe { CStr::from_ptr(v) }.to_owned();
        s.set_value(k, i as usize, PropValue::Str(vec![val]))
    })
}
unsafe extern "C" fn prop_set_double(
    h: OfxPropertySetHandle,
    k: *const c_char,
    i: c_int,
    v: f64,
) -> OfxStatus {
    guard(|| {
        let (s, k) = resolve!(h, k);
        if i < 0 {
            return STAT_ERR_BAD_INDEX;
        }
        s.set_value(k, i as usize, PropValue::Double(vec![v]))
    })
}
unsafe extern "C" fn prop_set_int(
    h: OfxPropertySetHandle,
    k: *const c_char,
    i: c_int,
    v: c_int,
) -> OfxStatus {
    guard(|| {
        let (s, k) = resolve!(h, k);
        if i < 0 {
            return STAT_ERR_BAD_INDEX;
        }
        s.set_value(k, i as usize, PropValue::Int(vec![v]))
    })
}

macro_rules! set_n {
    ($fname:ident, $t:ty, $conv:expr) => {
        unsafe extern "C" fn $fname(
            h: OfxPropertySetHandle,
            k: *const c_char,
            n: c_int,
            v: *const $t,
        ) -> OfxStatus {
            guard(|| {
                let (s, k) = resolve!(h, k);
                if n < 0 || (v.is_null() && n > 0) {
                    return STAT_ERR_VALUE;
                }
                for i in 0..n as usize {
                    // SAFETY: the plugin passes an array of n values.
                    let x = unsafe { *v.add(i) };
                    #[allow(clippy::redundant_closure_call)]
                    let st = s.set_value(k, i, ($conv)(x));
                    if st != STAT_OK {
                        return st;
                    }
                }
                STAT_OK
            })
        }
    };
}
set_n!(prop_set_pointer_n, *mut c_void, |x: *mut c_void| {
    PropValue::Pointer(vec![x as usize])
});
set_n!(prop_set_double_n, f64, |x: f64| PropValue::Double(vec![x]));
set_n!(prop_set_int_n, c_int, |x: c_int| PropValue::Int(vec![x]));
set_n!(prop_set_string_n, *const c_char, |x: *const c_char| {
    if x.is_null() {
        PropValue::Str(vec![CString::default()])
    } else {
        // SAFETY: each element is a NUL-terminated string per the API; copied at once.
        PropValue::Str(vec![unsafe { CStr::from_ptr(x) }.to_owned()])
    }
});

/// Reads value `i`; `Err` carries the status.
fn read_one<T>(
    s: &PropertySet,
    k: &str,
    i: c_int,
    f: impl Fn(&PropValue, usize) -> Option<Result<T, ()>>,
) -> Result<T, OfxStatus> {
    if i < 0 {
        return Err(STAT_ERR_BAD_INDEX);
    }
    let r = s.with_prop(k, |p| f(&p.value, i as usize))?;
    match r {
        Some(Ok(v)) => Ok(v),
        Some(Err(())) => Err(STAT_ERR_VALUE),
        None => Err(STAT_ERR_BAD_INDEX),
    }
}

fn int_at(v: &PropValue, i: usize) -> Option<Result<c_int, ()>> {
    match v {
        PropValue::Int(x) => x.get(i).map(|v| Ok(*v)),
        _ => Some(Err(())),
    }
}
fn double_at(v: &PropValue, i: usize) -> Option<Result<f64, ()>> {
    match v {
        PropValue::Double(x) => x.get(i).map(|v| Ok(*v)),
        // Reading an int property as double is a type error in OFX; hosts refuse it.
        _ => Some(Err(())),
    }
}
fn ptr_at(v: &PropValue, i: usize) -> Option<Result<*mut c_void, ()>> {
    match v {
        PropValue::Pointer(x) => x.get(i).map(|v| Ok(*v as *mut c_void)),
        _ => Some(Err(())),
    }
}
fn str_at(v: &PropValue, i: usize) -> Option<Result<*const c_char, ()>> {
    match v {
        // The CString's heap buffer lives in the set until the property is set again.
        PropValue::Str(x) => x.get(i).map(|v| Ok(v.as_ptr())),
        _ => Some(Err(())),
    }
}

macro_rules! get_one {
    ($fname:ident, $t:ty, $at:ident) => {
        unsafe extern "C" fn $fname(
            h: OfxPropertySetHandle,
            k: *const c_char,
            i: c_int,
            out: *mut $t,
        ) -> OfxStatus {
            guard(|| {
                let (s, k) = resolve!(h, k);
                if out.is_null() {
                    return STAT_ERR_VALUE;
                }
                match read_one(s, k, i, $at) {
                    Ok(v) => {
                        // SAFETY: out is non-null and points at one value per the API.
                        unsafe { *out = v };
                        STAT_OK
                    }
                    Err(st) => {
                        if st == STAT_ERR_VALUE {
                            s.note(
                                FindingKind::PropertyTypeMismatch,
                                format!("property '{k}' on the {} read as the wrong type", s.what),
                            );
                        }
                        st
                    }
                }
            })
        }
    };
}
get_one!(prop_get_pointer, *mut c_void, ptr_at);
get_one!(prop_get_string, *const c_char, str_at);
get_one!(prop_get_double, f64, double_at);
get_one!(prop_get_int, c_int, int_at);

macro_rules! get_n {
    ($fname:ident, $t:ty, $at:ident) => {
        unsafe extern "C" fn $fname(
            h: OfxPropertySetHandle,
            k: *const c_char,
            n: c_int,
            out: *mut $t,
        ) -> OfxStatus {
            guard(|| {
                let (s, k) = resolve!(h, k);
                if n < 0 || (out.is_null() && n > 0) {
                    return STAT_ERR_VALUE;
                }
                for i in 0..n {
                    match read_one(s, k, i, $at) {
                        // SAFETY: out points at an array of n values per the API.
                        Ok(v) => unsafe { *out.add(i as usize) = v },
                        Err(st) => return st,
                    }
                }
                STAT_OK
            })
        }
    };
}
get_n!(prop_get_pointer_n, *mut c_void, ptr_at);
get_n!(prop_get_string_n, *const c_char, str_at);
get_n!(prop_get_double_n, f64, double_at);
get_n!(prop_get_int_n, c_int, int_at);

unsafe extern "C" fn prop_reset(h: OfxPropertySetHandle, k: *const c_char) -> OfxStatus {
    guard(|| {
        let (s, k) = resolve!(h, k);
        let mut map = s.lock();
        match map.get_mut(k) {
            Some(p) => {
                p.value = p.default.clone();
                STAT_OK
            }
            None => STAT_ERR_UNKNOWN,
        }
    })
}

unsafe extern "C" fn prop_get_dimension(
    h: OfxPropertySetHandle,
    k: *const c_char,
    count: *mut c_int,
) -> OfxStatus {
    guard(|| {
        let (s, k) = resolve!(h, k);
        if count.is_null() {
            return STAT_ERR_VALUE;
        }
        match s.with_prop(k, |p| p.value.len()) {
            Ok(n) => {
                // SAFETY: count is non-null per the check above.
                unsafe { *count = n as c_int };
                STAT_OK
            }
            Err(st) => st,
        }
    })
}

/// The property suite handed to plugins (`OfxPropertySuite` v1).
pub static PROPERTY_SUITE: OfxPropertySuiteV1 = OfxPropertySuiteV1 {
    propSetPointer: Some(prop_set_pointer),
    propSetString: Some(prop_set_string),
    propSetDouble: Some(prop_set_double),
    propSetInt: Some(prop_set_int),
    propSetPointerN: Some(prop_set_pointer_n),
    propSetStringN: Some(prop_set_string_n),
    propSetDoubleN: Some(prop_set_double_n),
    propSetIntN: Some(prop_set_int_n),
    propGetPointer: Some(prop_get_pointer),
    propGetString: Some(prop_get_string),
    propGetDouble: Some(prop_get_double),
    propGetInt: Some(prop_get_int),
    propGetPointerN: Some(prop_get_pointer_n),
    propGetStringN: Some(prop_get_string_n),
    propGetDoubleN: Some(prop_get_double_n),
    propGetIntN: Some(prop_get_int_n),
    propReset: Some(prop_reset),
    propGetDimension: Some(prop_get_dimension),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn suite() -> &'static OfxPropertySuiteV1 {
        &PROPERTY_SUITE
    }

    #[test]
    fn unknown_properties_and_bad_indexes_get_their_statuses() {
        let set = PropertySet::new_strict("test", None);
        set.define_int("A", &[1, 2]);
        let h = set.handle();
        let mut v = 0;
        // SAFETY: valid handle and NUL-terminated names.
        unsafe {
            assert_eq!(
                suite().propGetInt.unwrap()(h, c"A".as_ptr(), 1, &mut v),
                STAT_OK
            );
            assert_eq!(v, 2);
            assert_eq!(
                suite().propGetInt.unwrap()(h, c"A".as_ptr(), 2, &mut v),
                STAT_ERR_BAD_INDEX
            );
            assert_eq!(
                suite().propGetInt.unwrap()(h, c"B".as_ptr(), 0, &mut v),
                STAT_ERR_UNKNOWN
            );
            assert_eq!(
                suite().propSetInt.unwrap()(h, c"B".as_ptr(), 0, 3),
                STAT_ERR_UNKNOWN
            );
            assert_eq!(
                suite().propSetInt.unwrap()(h, c"A".as_ptr(), 2, 3),
                STAT_ERR_BAD_INDEX
            );
            let mut d = 0.0;
            assert_eq!(
                suite().propGetDouble.unwrap()(h, c"A".as_ptr(), 0, &mut d),
                STAT_ERR_VALUE
            );
            assert_eq!(
                suite().propGetInt.unwrap()(std::ptr::null_mut(), c"A".as_ptr(), 0, &mut v),
                STAT_ERR_BAD_HANDLE
            );
        }
    }

    #[test]
    fn strings_are_copied_and_lists_grow_and_reset() {
        let set = PropertySet::new("test", None);
        set.define_list("L", PropValue::strings(&["x"]));
        let h = set.handle();
        let owned = CString::new("OfxImageEffectContextFilter").unwrap();
        // SAFETY: valid handle; strings NUL-terminated; out pointers valid.
        unsafe {
            assert_eq!(
                suite().propSetString.unwrap()(h, c"L".as_ptr(), 1, owned.as_ptr()),
                STAT_OK
            );
            drop(owned);
            let mut n = 0;
            assert_eq!(
                suite().propGetDimension.unwrap()(h, c"L".as_ptr(), &mut n),
                STAT_OK
            );
            assert_eq!(n, 2);
            let mut p: *const c_char = std::ptr::null();
            assert_eq!(
                suite().propGetString.unwrap()(h, c"L".as_ptr(), 1, &mut p),
                STAT_OK
            );
            assert_eq!(
                CStr::from_ptr(p).to_str().unwrap(),
                "OfxImageEffectContextFilter"
            );
            assert_eq!(suite().propReset.unwrap()(h, c"L".as_ptr()), STAT_OK);
            assert_eq!(
                suite().propGetDimension.unwrap()(h, c"L".as_ptr(), &mut n),
                STAT_OK
            );
            assert_eq!(n, 1);
            // A plugin-owned set accepts new properties.
            assert_eq!(
                suite().propSetDouble.unwrap()(h, c"New".as_ptr(), 0, 2.5),
                STAT_OK
            );
        }
        assert_eq!(set.get_double("New", 0), Some(2.5));
    }
}
