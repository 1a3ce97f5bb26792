//! Parameters: builders used in describeInContext, and typed reads/writes on instances.
//!
//! Choice policy: hosts save a choice as its index (Resolve, Nuke), so options are never
//! reordered or removed once shipped; new options are appended at the end.
//!
//! Resolve clamps double params that lack both a range and a display range to (-1, 1), and
//! defaults int ranges to (0, 0), so every builder here always sets both.

use crate::host::Host;
use crate::props::PropSet;
use crate::status::{Error, Result};
use crate::{name, sys};
use std::ffi::{c_char, c_int, CStr, CString};

/// `kOfxParamPropDoubleType`: how a host shows and scales a double.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoubleType {
    Plain,
    Scale,
    Angle,
    /// A size in canonical X units: hosts scale it with the project (and proxies).
    X,
}

impl DoubleType {
    fn name(self) -> &'static CStr {
        match self {
            DoubleType::Plain => name!(kOfxParamDoubleTypePlain),
            DoubleType::Scale => name!(kOfxParamDoubleTypeScale),
            DoubleType::Angle => name!(kOfxParamDoubleTypeAngle),
            DoubleType::X => name!(kOfxParamDoubleTypeX),
        }
    }
}

/// A value read from or written to any parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Double(f64),
    Int(i32),
    Bool(bool),
    Choice(i32),
    Rgb([f64; 3]),
    Rgba([f64; 4]),
    String(String),
}

/// A parameter set handle (descriptor or instance) with the host's suites.
#[derive(Clone, Copy)]
pub struct ParamSet {
    handle: sys::OfxParamSetHandle,
    host: Host,
}

// SAFETY: an opaque host handle; OFX allows reading parameter values from render threads.
unsafe impl Send for ParamSet {}
unsafe impl Sync for ParamSet {}

/// Properties every parameter kind shares.
#[derive(Clone)]
struct Common {
    name: &'static CStr,
    label: String,
    hint: String,
    parent: Option<&'static CStr>,
    animates: Option<bool>,
    enabled: bool,
    secret: bool,
    evaluate_on_change: bool,
}

impl Common {
    fn new(name: &'static CStr, label: &str) -> Self {
        Common {
            name,
            label: label.to_string(),
            hint: String::new(),
            parent: None,
            animates: None,
            enabled: true,
            secret: false,
            evaluate_on_change: true,
        }
    }
    fn apply(&self, p: &PropSet) -> Result<()> {
        p.set_string(name!(kOfxPropLabel), 0, &self.label)?;
        if !self.hint.is_empty() {
            p.set_string(name!(kOfxParamPropHint), 0, &self.hint)?;
        }
        // The script name is the id: stable across versions so saved scripts keep working.
        let _ = p.set_str(name!(kOfxParamPropScriptName), 0, self.name);
        if let Some(parent) = self.parent {
            p.set_str(name!(kOfxParamPropParent), 0, parent)?;
        }
        if let Some(a) = self.animates {
            p.set_bool(name!(kOfxParamPropAnimates), 0, a)?;
        }
        if !self.enabled {
            p.set_bool(name!(kOfxParamPropEnabled), 0, false)?;
        }
        if self.secret {
            p.set_bool(name!(kOfxParamPropSecret), 0, true)?;
        }
        if !self.evaluate_on_change {
            // Optional in some hosts (Resolve ignores it): never fail a describe over it.
            let _ = p.set_bool(name!(kOfxParamPropEvaluateOnChange), 0, false);
        }
        Ok(())
    }
}

macro_rules! common_setters {
    () => {
        /// The tooltip: what the control does, in a colourist's words.
        pub fn hint(mut self, hint: &str) -> Self {
            self.common.hint = hint.to_string();
            self
        }
        /// The group this parameter sits in.
        pub fn parent(mut self, group: &'static CStr) -> Self {
            self.common.parent = Some(group);
            self
        }
        pub fn animates(mut self, animates: bool) -> Self {
            self.common.animates = Some(animates);
            self
        }
        pub fn enabled(mut self, enabled: bool) -> Self {
            self.common.enabled = enabled;
            self
        }
        pub fn secret(mut self, secret: bool) -> Self {
            self.common.secret = secret;
            self
        }
        /// `false` for parameters that never change pixels (buttons, read-outs).
        pub fn evaluate_on_change(mut self, evaluate: bool) -> Self {
            self.common.evaluate_on_change = evaluate;
            self
        }
    };
}

pub struct DoubleBuilder {
    set: ParamSet,
    common: Common,
    dims: usize,
    default: [f64; 4],
    range: (f64, f64),
    display: (f64, f64),
    increment: Option<f64>,
    digits: Option<i32>,
    double_type: DoubleType,
}

impl DoubleBuilder {
    common_setters!();
    pub fn default(mut self, v: f64) -> Self {
        self.default = [v; 4];
        self
    }
    /// Hard limits; the host never hands a value outside them.
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.range = (min, max);
        self
    }
    /// The slider's span (values outside it can still be typed, within the range).
    pub fn display_range(mut self, min: f64, max: f64) -> Self {
        self.display = (min, max);
        self
    }
    pub fn increment(mut self, step: f64) -> Self {
        self.increment = Some(step);
        self
    }
    pub fn digits(mut self, digits: i32) -> Self {
        self.digits = Some(digits);
        self
    }
    pub fn double_type(mut self, t: DoubleType) -> Self {
        self.double_type = t;
        self
    }
    pub fn define(self) -> Result<()> {
        let ty = match self.dims {
            1 => name!(kOfxParamTypeDouble),
            2 => name!(kOfxParamTypeDouble2D),
            _ => name!(kOfxParamTypeDouble3D),
        };
        let p = self.set.define(ty, self.common.name)?;
        self.common.apply(&p)?;
        let n = self.dims;
        p.set_doubles(name!(kOfxParamPropDefault), &self.default[..n])?;
        p.set_doubles(name!(kOfxParamPropMin), &vec![self.range.0; n])?;
        p.set_doubles(name!(kOfxParamPropMax), &vec![self.range.1; n])?;
        p.set_doubles(name!(kOfxParamPropDisplayMin), &vec![self.display.0; n])?;
        p.set_doubles(name!(kOfxParamPropDisplayMax), &vec![self.display.1; n])?;
        if let Some(i) = self.increment {
            p.set_double(name!(kOfxParamPropIncrement), 0, i)?;
        }
        if let Some(d) = self.digits {
            p.set_int(name!(kOfxParamPropDigits), 0, d)?;
        }
        p.set_str(name!(kOfxParamPropDoubleType), 0, self.double_type.name())?;
        Ok(())
    }
}

pub struct IntBuilder {
    set: ParamSet,
    common: Common,
    default: i32,
    range: (i32, i32),
    display: (i32, i32),
}

impl IntBuilder {
    common_setters!();
    pub fn default(mut self, v: i32) -> Self {
        self.default = v;
        self
    }
    pub fn range(mut self, min: i32, max: i32) -> Self {
        self.range = (min, max);
        self
    }
    pub fn display_range(mut self, min: i32, max: i32) -> Self {
        self.display = (min, max);
        self
    }
    pub fn define(self) -> Result<()> {
        let p = self
            .set
            .define(name!(kOfxParamTypeInteger), self.common.name)?;
        self.common.apply(&p)?;
        p.set_int(name!(kOfxParamPropDefault), 0, self.default)?;
        p.set_int(name!(kOfxParamPropMin), 0, self.range.0)?;
        p.set_int(name!(kOfxParamPropMax), 0, self.range.1)?;
        p.set_int(name!(kOfxParamPropDisplayMin), 0, self.display.0)?;
        p.set_int(name!(kOfxParamPropDisplayMax), 0, self.display.1)?;
        Ok(())
    }
}

pub struct BoolBuilder {
    set: ParamSet,
    common: Common,
    default: bool,
}

impl BoolBuilder {
    common_setters!();
    pub fn default(mut self, v: bool) -> Self {
        self.default = v;
        self
    }
    pub fn define(self) -> Result<()> {
        let p = self
            .set
            .define(name!(kOfxParamTypeBoolean), self.common.name)?;
        self.common.apply(&p)?;
        p.set_bool(name!(kOfxParamPropDefault), 0, self.default)
    }
}

pub struct ChoiceBuilder {
    set: ParamSet,
    common: Common,
    options: Vec<&'static str>,
    default: i32,
}

impl ChoiceBuilder {
    common_setters!();
    /// The options in saved-index order (append only, never reorder: see the module docs).
    pub fn options(mut self, options: &[&'static str]) -> Self {
        self.options = options.to_vec();
        self
    }
    pub fn default(mut self, index: i32) -> Self {
        self.default = index;
        self
    }
    pub fn define(self) -> Result<()> {
        if self.default < 0 || self.default as usize >= self.options.len().max(1) {
            return Err(Error::value(format!(
                "choice {} default {} has no option",
                self.common.name.to_string_lossy(),
                self.default
            )));
        }
        let p = self
            .set
            .define(name!(kOfxParamTypeChoice), self.common.name)?;
        self.common.apply(&p)?;
        for (i, o) in self.options.iter().enumerate() {
            p.set_string(name!(kOfxParamPropChoiceOption), i as i32, o)?;
        }
        p.set_int(name!(kOfxParamPropDefault), 0, self.default)
    }
}

pub struct ColourBuilder {
    set: ParamSet,
    common: Common,
    alpha: bool,
    default: [f64; 4],
}

impl ColourBuilder {
    common_setters!();
    pub fn default(mut self, rgba: [f64; 4]) -> Self {
        self.default = rgba;
        self
    }
    pub fn define(self) -> Result<()> {
        let (ty, n) = if self.alpha {
            (name!(kOfxParamTypeRGBA), 4)
        } else {
            (name!(kOfxParamTypeRGB), 3)
        };
        let p = self.set.define(ty, self.common.name)?;
        self.common.apply(&p)?;
        p.set_doubles(name!(kOfxParamPropDefault), &self.default[..n])
    }
}

/// String parameter flavours (`kOfxParamPropStringMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMode {
    SingleLine,
    MultiLine,
    FilePath,
    /// A read-only text a plugin writes (e.g. what an analysis measured).
    Label,
}

pub struct StringBuilder {
    set: ParamSet,
    common: Common,
    mode: StringMode,
    default: String,
}

impl StringBuilder {
    common_setters!();
    pub fn mode(mut self, mode: StringMode) -> Self {
        self.mode = mode;
        self
    }
    pub fn default(mut self, v: &str) -> Self {
        self.default = v.to_string();
        self
    }
    pub fn define(self) -> Result<()> {
        let p = self
            .set
            .define(name!(kOfxParamTypeString), self.common.name)?;
        self.common.apply(&p)?;
        let mode = match self.mode {
            StringMode::SingleLine => name!(kOfxParamStringIsSingleLine),
            StringMode::MultiLine => name!(kOfxParamStringIsMultiLine),
            StringMode::FilePath => name!(kOfxParamStringIsFilePath),
            StringMode::Label => name!(kOfxParamStringIsLabel),
        };
        p.set_str(name!(kOfxParamPropStringMode), 0, mode)?;
        p.set_string(name!(kOfxParamPropDefault), 0, &self.default)
    }
}

pub struct ButtonBuilder {
    set: ParamSet,
    common: Common,
}

impl ButtonBuilder {
    common_setters!();
    pub fn define(self) -> Result<()> {
        let p = self
            .set
            .define(name!(kOfxParamTypePushButton), self.common.name)?;
        self.common.apply(&p)
    }
}

pub struct GroupBuilder {
    set: ParamSet,
    common: Common,
    open: bool,
}

impl GroupBuilder {
    common_setters!();
    pub fn open(mut self, open: bool) -> Self {
        self.open = open;
        self
    }
    pub fn define(self) -> Result<()> {
        let p = self
            .set
            .define(name!(kOfxParamTypeGroup), self.common.name)?;
        self.common.apply(&p)?;
        p.set_bool(name!(kOfxParamPropGroupOpen), 0, self.open)
    }
}

impl ParamSet {
    pub fn new(handle: sys::OfxParamSetHandle, host: Host) -> Self {
        ParamSet { handle, host }
    }

    fn define(&self, ty: &CStr, param: &CStr) -> Result<PropSet> {
        let f =
            self.host.parameter.paramDefine.ok_or_else(|| {
                Error::missing_host_feature("the parameter suite lacks paramDefine")
            })?;
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: valid set handle and NUL-terminated names; p outlives the call.
        Error::check(
            unsafe { f(self.handle, ty.as_ptr(), param.as_ptr(), &mut p) },
            || format!("defining parameter {}", param.to_string_lossy()),
        )?;
        Ok(PropSet::new(p, self.host.property))
    }

    pub fn double(&self, name: &'static CStr, label: &str) -> DoubleBuilder {
        self.double_nd(name, label, 1)
    }
    /// A 2D or 3D double (e.g. a position, per-channel values).
    pub fn double_nd(&self, name: &'static CStr, label: &str, dims: usize) -> DoubleBuilder {
        DoubleBuilder {
            set: *self,
            common: Common::new(name, label),
            dims: dims.clamp(1, 3),
            default: [0.0; 4],
            range: (-f64::MAX, f64::MAX),
            display: (0.0, 1.0),
            increment: None,
            digits: None,
            double_type: DoubleType::Plain,
        }
    }
    pub fn int(&self, name: &'static CStr, label: &str) -> IntBuilder {
        IntBuilder {
            set: *self,
            common: Common::new(name, label),
            default: 0,
            range: (i32::MIN, i32::MAX),
            display: (0, 100),
        }
    }
    pub fn boolean(&self, name: &'static CStr, label: &str) -> BoolBuilder {
        BoolBuilder {
            set: *self,
            common: Common::new(name, label),
            default: false,
        }
    }
    pub fn choice(&self, name: &'static CStr, label: &str) -> ChoiceBuilder {
        ChoiceBuilder {
            set: *self,
            common: Common::new(name, label),
            options: Vec::new(),
            default: 0,
        }
    }
    pub fn rgb(&self, name: &'static CStr, label: &str) -> ColourBuilder {
        ColourBuilder {
            set: *self,
            common: Common::new(name, label),
            alpha: false,
            default: [1.0; 4],
        }
    }
    pub fn rgba(&self, name: &'static CStr, label: &str) -> ColourBuilder {
        ColourBuilder {
            set: *self,
            common: Common::new(name, label),
            alpha: true,
            default: [1.0; 4],
        }
    }
    pub fn string(&self, name: &'static CStr, label: &str) -> StringBuilder {
        StringBuilder {
            set: *self,
            common: Common::new(name, label),
            mode: StringMode::SingleLine,
            default: String::new(),
        }
    }
    pub fn push_button(&self, name: &'static CStr, label: &str) -> ButtonBuilder {
        ButtonBuilder {
            set: *self,
            common: Common::new(name, label),
        }
    }
    pub fn group(&self, name: &'static CStr, label: &str) -> GroupBuilder {
        GroupBuilder {
            set: *self,
            common: Common::new(name, label),
            open: true,
        }
    }
    /// A page listing its children in order (hosts with pages, e.g. Nuke tabs).
    pub fn page(&self, name: &'static CStr, label: &str, children: &[&'static CStr]) -> Result<()> {
        let p = self.define(name!(kOfxParamTypePage), name)?;
        p.set_string(name!(kOfxPropLabel), 0, label)?;
        p.set_strings(name!(kOfxParamPropPageChild), children)
    }

    fn handle(&self, param: &CStr) -> Result<(sys::OfxParamHandle, PropSet)> {
        let f = self.host.parameter.paramGetHandle.ok_or_else(|| {
            Error::missing_host_feature("the parameter suite lacks paramGetHandle")
        })?;
        let mut h: sys::OfxParamHandle = std::ptr::null_mut();
        let mut p: sys::OfxPropertySetHandle = std::ptr::null_mut();
        // SAFETY: valid set handle and name; outputs outlive the call.
        Error::check(
            unsafe { f(self.handle, param.as_ptr(), &mut h, &mut p) },
            || format!("no parameter named {}", param.to_string_lossy()),
        )?;
        if h.is_null() {
            return Err(Error::new(
                crate::Status::ErrBadHandle,
                format!("null handle for parameter {}", param.to_string_lossy()),
            ));
        }
        Ok((h, PropSet::new(p, self.host.property)))
    }

    fn get_fn(
        &self,
    ) -> Result<unsafe extern "C" fn(sys::OfxParamHandle, sys::OfxTime, ...) -> sys::OfxStatus>
    {
        self.host.parameter.paramGetValueAtTime.ok_or_else(|| {
            Error::missing_host_feature("the parameter suite lacks paramGetValueAtTime")
        })
    }

    /// A double's value at `time`.
    pub fn get_double(&self, param: &CStr, time: f64) -> Result<f64> {
        let (h, _) = self.handle(param)?;
        let f = self.get_fn()?;
        let mut v = 0.0f64;
        // SAFETY: a 1D double takes one `double*` (ofxParam.h).
        Error::check(unsafe { f(h, time, &mut v as *mut f64) }, || {
            format!("reading {}", param.to_string_lossy())
        })?;
        Ok(v)
    }
    /// An N-dimensional double (2D/3D) or a colour (3 = RGB, 4 = RGBA) at `time`.
    pub fn get_doubles<const N: usize>(&self, param: &CStr, time: f64) -> Result<[f64; N]> {
        let (h, _) = self.handle(param)?;
        let f = self.get_fn()?;
        let mut v = [0.0f64; 4];
        let [a, b, c, d] = &mut v;
        // SAFETY: N `double*` arguments for an N-component param; extra trailing variadic
        // arguments are ignored by a conforming host (C varargs).
        let code = unsafe {
            f(
                h,
                time,
                a as *mut f64,
                b as *mut f64,
                c as *mut f64,
                d as *mut f64,
            )
        };
        Error::check(code, || format!("reading {}", param.to_string_lossy()))?;
        let mut out = [0.0; N];
        out.copy_from_slice(&v[..N]);
        Ok(out)
    }
    /// An int, boolean or choice value at `time` (all are `int*` in OFX).
    pub fn get_int(&self, param: &CStr, time: f64) -> Result<i32> {
        let (h, _) = self.handle(param)?;
        let f = self.get_fn()?;
        let mut v: c_int = 0;
        // SAFETY: int, boolean and choice params take one `int*`.
        Error::check(unsafe { f(h, time, &mut v as *mut c_int) }, || {
            format!("reading {}", param.to_string_lossy())
        })?;
        Ok(v)
    }
    pub fn get_bool(&self, param: &CStr, time: f64) -> Result<bool> {
        Ok(self.get_int(param, time)? != 0)
    }
    /// A choice index, checked against the option count so a stale saved index cannot index
    /// past an enum's variants.
    pub fn get_choice(&self, param: &CStr, time: f64, option_count: usize) -> Result<usize> {
        let v = self.get_int(param, time)?;
        if v < 0 || v as usize >= option_count {
            return Err(Error::value(format!(
                "{} has option {} but only {} exist: reset the parameter",
                param.to_string_lossy(),
                v,
                option_count
            )));
        }
        Ok(v as usize)
    }
    pub fn get_string(&self, param: &CStr, time: f64) -> Result<String> {
        let (h, _) = self.handle(param)?;
        let f = self.get_fn()?;
        let mut v: *const c_char = std::ptr::null();
        // SAFETY: string params take one `char**`; the host keeps the string valid until its
        // next call on this param, and we copy it at once.
        Error::check(unsafe { f(h, time, &mut v as *mut *const c_char) }, || {
            format!("reading {}", param.to_string_lossy())
        })?;
        if v.is_null() {
            return Ok(String::new());
        }
        // SAFETY: NUL-terminated host string, valid until the next call.
        Ok(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }

    fn set_fn(&self) -> Result<unsafe extern "C" fn(sys::OfxParamHandle, ...) -> sys::OfxStatus> {
        self.host
            .parameter
            .paramSetValue
            .ok_or_else(|| Error::missing_host_feature("the parameter suite lacks paramSetValue"))
    }
    pub fn set_double(&self, param: &CStr, v: f64) -> Result<()> {
        let (h, _) = self.handle(param)?;
        let f = self.set_fn()?;
        // SAFETY: a 1D double takes one `double` by value.
        Error::check(unsafe { f(h, v) }, || {
            format!("setting {}", param.to_string_lossy())
        })
    }
    pub fn set_doubles(&self, param: &CStr, v: &[f64]) -> Result<()> {
        let (h, _) = self.handle(param)?;
        let f = self.set_fn()?;
        let g = |i: usize| v.get(i).copied().unwrap_or(0.0);
        // SAFETY: N doubles by value; extra trailing variadics are ignored by the host.
        Error::check(unsafe { f(h, g(0), g(1), g(2), g(3)) }, || {
            format!("setting {}", param.to_string_lossy())
        })
    }
    pub fn set_int(&self, param: &CStr, v: i32) -> Result<()> {
        let (h, _) = self.handle(param)?;
        let f = self.set_fn()?;
        // SAFETY: int/bool/choice take one `int` by value.
        Error::check(unsafe { f(h, v as c_int) }, || {
            format!("setting {}", param.to_string_lossy())
        })
    }
    pub fn set_string(&self, param: &CStr, v: &str) -> Result<()> {
        let (h, _) = self.handle(param)?;
        let f = self.set_fn()?;
        let s = CString::new(v.replace('\0', " ")).map_err(|_| Error::value("string with NUL"))?;
        // SAFETY: string params take one `char*`; the host copies it.
        Error::check(unsafe { f(h, s.as_ptr()) }, || {
            format!("setting {}", param.to_string_lossy())
        })
    }
    /// A parameter's property set (e.g. to change `enabled` or `secret` at instance time).
    pub fn props(&self, param: &CStr) -> Result<PropSet> {
        Ok(self.handle(param)?.1)
    }
}

/// A choice param bound to a Rust enum with a stable order, so effects read enums, not ints.
pub trait ChoiceParam: Sized + Copy + 'static {
    /// Variants in saved-index order.
    const ALL: &'static [Self];
    /// The label shown for each variant, same order.
    const LABELS: &'static [&'static str];
    fn read(params: &ParamSet, name: &CStr, time: f64) -> Result<Self> {
        let i = params.get_choice(name, time, Self::ALL.len())?;
        Ok(Self::ALL[i])
    }
}
