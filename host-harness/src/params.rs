//! Parameters: descriptors defined by the plugin, instance values (a static value plus optional
//! per-frame overrides, no interpolation), and the parameter suite. The suite's variadic entry
//! points live in `src/c/variadic.c` and call the `harness_param_*` functions here.

use crate::findings::{FindingKind, Findings};
use crate::props::*;
use ofx_sys::*;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The OFX parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    Integer,
    Double,
    Boolean,
    Choice,
    StrChoice,
    Rgba,
    Rgb,
    Double2D,
    Integer2D,
    Double3D,
    Integer3D,
    String,
    Custom,
    Bytes,
    Group,
    Page,
    PushButton,
    Parametric,
}

/// How a parameter's values travel through the variadic suite calls (matches variadic.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Int = 0,
    Double = 1,
    String = 2,
    None = 3,
}

impl ParamType {
    const ALL: [(ParamType, &'static [u8]); 18] = [
        (ParamType::Integer, kOfxParamTypeInteger),
        (ParamType::Double, kOfxParamTypeDouble),
        (ParamType::Boolean, kOfxParamTypeBoolean),
        (ParamType::Choice, kOfxParamTypeChoice),
        (ParamType::StrChoice, b"OfxParamTypeStrChoice\0"),
        (ParamType::Rgba, kOfxParamTypeRGBA),
        (ParamType::Rgb, kOfxParamTypeRGB),
        (ParamType::Double2D, kOfxParamTypeDouble2D),
        (ParamType::Integer2D, kOfxParamTypeInteger2D),
        (ParamType::Double3D, kOfxParamTypeDouble3D),
        (ParamType::Integer3D, kOfxParamTypeInteger3D),
        (ParamType::String, kOfxParamTypeString),
        (ParamType::Custom, kOfxParamTypeCustom),
        (ParamType::Bytes, b"OfxParamTypeBytes\0"),
        (ParamType::Group, kOfxParamTypeGroup),
        (ParamType::Page, kOfxParamTypePage),
        (ParamType::PushButton, kOfxParamTypePushButton),
        (ParamType::Parametric, kOfxParamTypeParametric),
    ];
    pub fn from_ofx_name(s: &str) -> Option<ParamType> {
        Self::ALL
            .iter()
            .find(|(_, n)| name(n) == s)
            .map(|(t, _)| *t)
    }
    pub fn ofx_name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map(|(_, n)| name(n))
            .unwrap_or("")
    }
    /// (kind, number of values).
    pub fn shape(self) -> (ValueKind, usize) {
        use ParamType::*;
        match self {
            Integer | Boolean | Choice => (ValueKind::Int, 1),
            Integer2D => (ValueKind::Int, 2),
            Integer3D => (ValueKind::Int, 3),
            Double => (ValueKind::Double, 1),
            Double2D => (ValueKind::Double, 2),
            Double3D | Rgb => (ValueKind::Double, 3),
            Rgba => (ValueKind::Double, 4),
            String | Custom | StrChoice => (ValueKind::String, 1),
            Bytes | Group | Page | PushButton | Parametric => (ValueKind::None, 0),
        }
    }
    pub fn is_numeric(self) -> bool {
        matches!(self.shape().0, ValueKind::Int | ValueKind::Double)
            && !matches!(self, ParamType::Boolean | ParamType::Choice)
    }
}

/// A parameter value as the caller sets or reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Ints(Vec<i32>),
    Doubles(Vec<f64>),
    Text(String),
    None,
}

impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Doubles(vec![v])
    }
}
impl From<i32> for ParamValue {
    fn from(v: i32) -> Self {
        ParamValue::Ints(vec![v])
    }
}
impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Ints(vec![v as i32])
    }
}
impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Text(v.to_string())
    }
}
impl From<String> for ParamValue {
    fn from(v: String) -> Self {
        ParamValue::Text(v)
    }
}
impl<const N: usize> From<[f64; N]> for ParamValue {
    fn from(v: [f64; N]) -> Self {
        ParamValue::Doubles(v.to_vec())
    }
}
impl<const N: usize> From<[i32; N]> for ParamValue {
    fn from(v: [i32; N]) -> Self {
        ParamValue::Ints(v.to_vec())
    }
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Ints(v) => {
                let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                write!(f, "{}", s.join(","))
            }
            ParamValue::Doubles(v) => {
                let s: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
                write!(f, "{}", s.join(","))
            }
            ParamValue::Text(s) => write!(f, "{s:?}"),
            ParamValue::None => write!(f, "-"),
        }
    }
}

/// Stored form: fixed arrays plus a CString so `char*` handed out stay valid until the next set.
#[derive(Debug, Clone, PartialEq)]
enum Stored {
    Ints([i32; 4]),
    Doubles([f64; 4]),
    Text(CString),
    None,
}

impl Stored {
    fn from_value(kind: ValueKind, n: usize, v: &ParamValue) -> Result<Stored, String> {
        match (kind, v) {
            (ValueKind::Int, ParamValue::Ints(x)) if x.len() == n => {
                let mut a = [0; 4];
                a[..n].copy_from_slice(x);
                Ok(Stored::Ints(a))
            }
            (ValueKind::Int, ParamValue::Doubles(x)) if x.len() == n => {
                let mut a = [0; 4];
                for (d, s) in a.iter_mut().zip(x) {
                    *d = s.round() as i32;
                }
                Ok(Stored::Ints(a))
            }
            (ValueKind::Double, ParamValue::Doubles(x)) if x.len() == n => {
                let mut a = [0.0; 4];
                a[..n].copy_from_slice(x);
                Ok(Stored::Doubles(a))
            }
            (ValueKind::Double, ParamValue::Ints(x)) if x.len() == n => {
                let mut a = [0.0; 4];
                for (d, s) in a.iter_mut().zip(x) {
                    *d = *s as f64;
                }
                Ok(Stored::Doubles(a))
            }
            (ValueKind::String, ParamValue::Text(s)) => Ok(Stored::Text(cstring(s))),
            (ValueKind::None, _) => Ok(Stored::None),
            _ => Err(format!("expected {n} {kind:?} value(s), got {v}")),
        }
    }
    fn to_value(&self, n: usize) -> ParamValue {
        match self {
            Stored::Ints(a) => ParamValue::Ints(a[..n].to_vec()),
            Stored::Doubles(a) => ParamValue::Doubles(a[..n].to_vec()),
            Stored::Text(s) => ParamValue::Text(s.to_string_lossy().into_owned()),
            Stored::None => ParamValue::None,
        }
    }
}

#[derive(Debug)]
struct ParamState {
    value: Stored,
    /// Keyframes (key = frame number). With none, every time reads `value`; with some, the
    /// keys define the curve and `value` is not used (see `Param::stored_at`).
    per_frame: BTreeMap<i64, Stored>,
}

pub(crate) const MAGIC_PARAM: u64 = 0x4f46_5850_4152_414d; // "OFXPARAM"
pub(crate) const MAGIC_PARAMSET: u64 = 0x4f46_5850_5345_5453; // "OFXPSETS"

/// One parameter (descriptor or instance).
#[repr(C)]
pub struct Param {
    magic: u64,
    pub name: String,
    pub kind: ParamType,
    pub(crate) props: Box<PropertySet>,
    state: Mutex<ParamState>,
    /// The instance's current time (f64 bits), what paramGetValue without a time reads at.
    now: Arc<AtomicU64>,
}

impl Param {
    fn lock(&self) -> MutexGuard<'_, ParamState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn handle(&self) -> OfxParamHandle {
        self as *const Param as OfxParamHandle
    }
    /// Whether values between keyframes are interpolated (numbers of an animating parameter)
    /// or held from the previous key (booleans, choices, strings, non-animating parameters).
    fn interpolates(&self) -> bool {
        use ParamType::*;
        matches!(
            self.kind,
            Integer | Double | Rgba | Rgb | Double2D | Integer2D | Double3D | Integer3D
        ) && self
            .props
            .get_int(name(kOfxParamPropAnimates), 0)
            .unwrap_or(1)
            != 0
    }
    /// The value at `time`, as hosts evaluate an animation curve: no keys → the static value;
    /// on a key → that key; before the first or after the last key → that key (held); between
    /// two keys → linear interpolation for numbers (integers rounded to nearest), else the
    /// earlier key.
    fn stored_at(&self, time: f64) -> Stored {
        let interpolates = self.interpolates();
        let st = self.lock();
        evaluate(&st, time, interpolates)
    }
    /// Like `stored_at`, but a stored value is lent, not copied: a string's pointer handed to
    /// the plugin must stay valid in the parameter after the call.
    fn with_stored_at<R>(&self, time: f64, f: impl FnOnce(&Stored) -> R) -> R {
        let interpolates = self.interpolates();
        let st = self.lock();
        match evaluate_ref(&st, time, interpolates) {
            Ok(stored) => f(stored),
            Err(interpolated) => f(&interpolated),
        }
    }
    /// The value at `time` (a per-frame override if there is one, else the static value).
    pub fn value_at(&self, time: f64) -> ParamValue {
        self.stored_at(time).to_value(self.kind.shape().1)
    }
    /// The static value.
    pub fn value(&self) -> ParamValue {
        self.lock().value.to_value(self.kind.shape().1)
    }
    pub fn props(&self) -> &PropertySet {
        &self.props
    }
}

/// A plugin's parameter set (per descriptor or instance).
#[repr(C)]
pub struct ParamSet {
    magic: u64,
    pub(crate) props: Box<PropertySet>,
    // Boxed: the plugin holds pointers to parameters, so they must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    params: Mutex<Vec<Box<Param>>>,
    now: Arc<AtomicU64>,
    findings: Arc<Findings>,
}

impl ParamSet {
    pub(crate) fn new(what: &str, findings: Arc<Findings>, now: Arc<AtomicU64>) -> Box<ParamSet> {
        let props = PropertySet::new(&format!("{what} parameter set"), Some(findings.clone()));
        Box::new(ParamSet {
            magic: MAGIC_PARAMSET,
            props,
            params: Mutex::new(Vec::new()),
            now,
            findings,
        })
    }
    pub fn handle(&self) -> OfxParamSetHandle {
        self as *const ParamSet as OfxParamSetHandle
    }
    #[allow(clippy::vec_box)]
    fn lock(&self) -> MutexGuard<'_, Vec<Box<Param>>> {
        self.params.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Defines a parameter with the host's default properties for its type.
    pub(crate) fn define(&self, kind: ParamType, param_name: &str) -> Result<&Param, OfxStatus> {
        let mut params = self.lock();
        if params.iter().any(|p| p.name == param_name) {
            return Err(STAT_ERR_EXISTS);
        }
        let props = PropertySet::new(
            &format!("parameter '{param_name}' descriptor"),
            Some(self.findings.clone()),
        );
        default_param_props(&props, kind, param_name);
        let (vk, n) = kind.shape();
        let p = Box::new(Param {
            magic: MAGIC_PARAM,
            name: param_name.to_string(),
            kind,
            props,
            state: Mutex::new(ParamState {
                value: Stored::from_value(vk, n, &zero_value(vk, n)).unwrap_or(Stored::None),
                per_frame: BTreeMap::new(),
            }),
            now: self.now.clone(),
        });
        let ptr: *const Param = &*p;
        params.push(p);
        // SAFETY: the Box is owned by `params` for the set's lifetime and never removed, so the
        // heap Param outlives the returned borrow of self.
        Ok(unsafe { &*ptr })
    }

    /// Copies descriptors into a fresh instance set, each parameter starting at its default.
    pub(crate) fn instantiate(&self, what: &str, now: Arc<AtomicU64>) -> Box<ParamSet> {
        let set = ParamSet::new(what, self.findings.clone(), now.clone());
        self.props.clone_into(&set.props);
        let mut out = Vec::new();
        for d in self.lock().iter() {
            let props = PropertySet::new(
                &format!("parameter '{}'", d.name),
                Some(self.findings.clone()),
            );
            d.props.clone_into(&props);
            let (vk, n) = d.kind.shape();
            let default = default_value(&props, vk, n);
            let value = Stored::from_value(vk, n, &default)
                .or_else(|_| Stored::from_value(vk, n, &zero_value(vk, n)))
                .unwrap_or(Stored::None);
            out.push(Box::new(Param {
                magic: MAGIC_PARAM,
                name: d.name.clone(),
                kind: d.kind,
                props,
                state: Mutex::new(ParamState {
                    value,
                    per_frame: BTreeMap::new(),
                }),
                now: now.clone(),
            }));
        }
        *set.lock() = out;
        set
    }

    /// Runs `f` on the named parameter.
    pub fn with_param<R>(&self, param_name: &str, f: impl FnOnce(&Param) -> R) -> Option<R> {
        self.lock()
            .iter()
            .find(|p| p.name == param_name)
            .map(|p| f(p))
    }
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|p| p.name.clone()).collect()
    }
    /// Describes every parameter, in definition order.
    pub fn infos(&self) -> Vec<ParamInfo> {
        self.lock().iter().map(|p| ParamInfo::of(p)).collect()
    }

    /// Sets the static value (what every frame without an override sees).
    pub fn set_value(&self, param_name: &str, v: &ParamValue) -> Result<(), String> {
        self.with_param(param_name, |p| {
            let (vk, n) = p.kind.shape();
            let v = &clamp_to_range(p, v)?;
            let s = Stored::from_value(vk, n, v)?;
            p.lock().value = s;
            Ok(())
        })
        .unwrap_or_else(|| Err(format!("no parameter named '{param_name}'")))
    }
    /// Sets a keyframe at `frame` (numbers interpolate linearly between keys, other types
    /// hold; once a parameter has keys they, not the static value, define it).
    pub fn set_value_at_frame(
        &self,
        param_name: &str,
        frame: i64,
        v: &ParamValue,
    ) -> Result<(), String> {
        self.with_param(param_name, |p| {
            let (vk, n) = p.kind.shape();
            let v = &clamp_to_range(p, v)?;
            let s = Stored::from_value(vk, n, v)?;
            p.lock().per_frame.insert(frame, s);
            Ok(())
        })
        .unwrap_or_else(|| Err(format!("no parameter named '{param_name}'")))
    }
}

/// A value set from outside (command line, tests) as hosts treat it: numbers outside the
/// parameter's declared range are clamped to it, with a warning naming both; a choice index
/// past the last option is refused.
fn clamp_to_range(p: &Param, v: &ParamValue) -> Result<ParamValue, String> {
    let info = ParamInfo::of(p);
    if !info.options.is_empty() {
        if let ParamValue::Ints(i) = v {
            if let Some(&bad) = i
                .iter()
                .find(|&&i| i < 0 || i as usize >= info.options.len())
            {
                return Err(format!(
                    "'{}' is a choice of {} options (0 to {}): {bad} is not one of them",
                    p.name,
                    info.options.len(),
                    info.options.len() - 1
                ));
            }
        }
        return Ok(v.clone());
    }
    let clamp = |d: usize, x: f64| -> f64 {
        let lo = info.min.get(d).copied().unwrap_or(f64::NEG_INFINITY);
        let hi = info.max.get(d).copied().unwrap_or(f64::INFINITY);
        if lo <= hi && (x < lo || x > hi) {
            let c = x.clamp(lo, hi);
            log::warn!(
                "parameter '{}': {x} is outside its range {lo} to {hi}; clamped to {c}, as hosts do",
                p.name
            );
            c
        } else {
            x
        }
    };
    Ok(match v {
        ParamValue::Doubles(xs) => {
            ParamValue::Doubles(xs.iter().enumerate().map(|(d, &x)| clamp(d, x)).collect())
        }
        ParamValue::Ints(xs) => ParamValue::Ints(
            xs.iter()
                .enumerate()
                .map(|(d, &x)| clamp(d, x as f64) as i32)
                .collect(),
        ),
        other => other.clone(),
    })
}

fn zero_value(kind: ValueKind, n: usize) -> ParamValue {
    match kind {
        ValueKind::Int => ParamValue::Ints(vec![0; n]),
        ValueKind::Double => ParamValue::Doubles(vec![0.0; n]),
        ValueKind::String => ParamValue::Text(String::new()),
        ValueKind::None => ParamValue::None,
    }
}

fn default_value(props: &PropertySet, kind: ValueKind, n: usize) -> ParamValue {
    let key = name(kOfxParamPropDefault);
    match kind {
        ValueKind::Int => {
            let mut v = props.get_ints(key);
            v.resize(n, 0);
            ParamValue::Ints(v)
        }
        ValueKind::Double => {
            let mut v = props.get_doubles(key);
            v.resize(n, 0.0);
            ParamValue::Doubles(v)
        }
        ValueKind::String => ParamValue::Text(props.get_string(key, 0).unwrap_or_default()),
        ValueKind::None => ParamValue::None,
    }
}

/// The properties a host defines on every new parameter descriptor of this type.
fn default_param_props(p: &PropertySet, kind: ParamType, param_name: &str) {
    p.define_str(name(kOfxPropType), &[name(kOfxTypeParameter)]);
    p.define_str(name(kOfxParamPropType), &[kind.ofx_name()]);
    p.define_str(name(kOfxPropName), &[param_name]);
    p.define_str(name(kOfxPropLabel), &[param_name]);
    p.define_str(name(kOfxPropShortLabel), &[param_name]);
    p.define_str(name(kOfxPropLongLabel), &[param_name]);
    p.define_str(name(kOfxParamPropHint), &[""]);
    p.define_str(name(kOfxParamPropScriptName), &[param_name]);
    p.define_str(name(kOfxParamPropParent), &[""]);
    p.define_int(name(kOfxParamPropSecret), &[0]);
    p.define_int(name(kOfxParamPropEnabled), &[1]);
    p.define_int(name(kOfxParamPropCanUndo), &[1]);
    p.define_int(name(kOfxParamPropEvaluateOnChange), &[1]);
    p.define_int(name(kOfxParamPropPersistent), &[1]);
    p.define_int(name(kOfxParamPropPluginMayWrite), &[0]);
    p.define_str(
        name(kOfxParamPropCacheInvalidation),
        &[name(kOfxParamInvalidateValueChange)],
    );
    p.define_ptr(name(kOfxParamPropDataPtr), &[0]);
    p.define_list(name(kOfxPropIcon), PropValue::strings(&["", ""]));
    let (vk, n) = kind.shape();
    if vk != ValueKind::None {
        p.define_int(name(kOfxParamPropAnimates), &[1]);
        p.define_int(name(kOfxParamPropIsAnimating), &[0]);
        p.define_int(name(kOfxParamPropIsAutoKeying), &[0]);
    }
    match vk {
        ValueKind::Int => {
            p.define_int(name(kOfxParamPropDefault), &vec![0; n]);
            if kind.is_numeric() {
                p.define_int(name(kOfxParamPropMin), &vec![i32::MIN; n]);
                p.define_int(name(kOfxParamPropMax), &vec![i32::MAX; n]);
                p.define_int(name(kOfxParamPropDisplayMin), &vec![i32::MIN; n]);
                p.define_int(name(kOfxParamPropDisplayMax), &vec![i32::MAX; n]);
            }
        }
        ValueKind::Double => {
            p.define_double(name(kOfxParamPropDefault), &vec![0.0; n]);
            p.define_double(name(kOfxParamPropMin), &vec![-f64::MAX; n]);
            p.define_double(name(kOfxParamPropMax), &vec![f64::MAX; n]);
            p.define_double(name(kOfxParamPropDisplayMin), &vec![-f64::MAX; n]);
            p.define_double(name(kOfxParamPropDisplayMax), &vec![f64::MAX; n]);
            p.define_double(name(kOfxParamPropIncrement), &[1.0]);
            p.define_int(name(kOfxParamPropDigits), &[2]);
            p.define_str(
                name(kOfxParamPropDoubleType),
                &[name(kOfxParamDoubleTypePlain)],
            );
            p.define_str(
                name(kOfxParamPropDefaultCoordinateSystem),
                &[name(kOfxParamCoordinatesCanonical)],
            );
        }
        ValueKind::String => {
            p.define_str(name(kOfxParamPropDefault), &[""]);
            if kind == ParamType::String {
                p.define_str(
                    name(kOfxParamPropStringMode),
                    &[name(kOfxParamStringIsSingleLine)],
                );
                p.define_int(name(kOfxParamPropStringFilePathExists), &[1]);
            }
        }
        ValueKind::None => {}
    }
    match kind {
        ParamType::Choice | ParamType::StrChoice => {
            p.define_list(name(kOfxParamPropChoiceOption), PropValue::Str(vec![]));
        }
        ParamType::Group => p.define_int(name(kOfxParamPropGroupOpen), &[1]),
        ParamType::Page => p.define_list(name(kOfxParamPropPageChild), PropValue::Str(vec![])),
        _ => {}
    }
}

/// What `describe` reports about one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub kind: ParamType,
    pub label: String,
    pub hint: String,
    pub parent: String,
    pub default: ParamValue,
    /// Per dimension (numeric types only).
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    pub display_min: Vec<f64>,
    pub display_max: Vec<f64>,
    /// Choice options, in index order.
    pub options: Vec<String>,
    pub secret: bool,
    pub animates: bool,
}

impl ParamInfo {
    fn of(p: &Param) -> ParamInfo {
        let pr = &p.props;
        let (vk, n) = p.kind.shape();
        let numeric = p.kind.is_numeric();
        let nums = |k: &'static [u8]| {
            if numeric {
                pr.get_doubles(name(k))
            } else {
                vec![]
            }
        };
        ParamInfo {
            name: p.name.clone(),
            kind: p.kind,
            label: pr.get_string(name(kOfxPropLabel), 0).unwrap_or_default(),
            hint: pr
                .get_string(name(kOfxParamPropHint), 0)
                .unwrap_or_default(),
            parent: pr
                .get_string(name(kOfxParamPropParent), 0)
                .unwrap_or_default(),
            default: default_value(pr, vk, n),
            min: nums(kOfxParamPropMin),
            max: nums(kOfxParamPropMax),
            display_min: nums(kOfxParamPropDisplayMin),
            display_max: nums(kOfxParamPropDisplayMax),
            options: pr.get_strings(name(kOfxParamPropChoiceOption)),
            secret: pr.get_int(name(kOfxParamPropSecret), 0).unwrap_or(0) != 0,
            animates: pr.get_int(name(kOfxParamPropAnimates), 0).unwrap_or(0) != 0,
        }
    }

    /// Parses command-line text into a value of this parameter's type: numbers, `a,b,c`
    /// tuples, `true/false/on/off/yes/no` for booleans, an option label or index for choices.
    pub fn parse_value(&self, text: &str) -> Result<ParamValue, String> {
        let (vk, n) = self.kind.shape();
        let t = text.trim();
        if self.kind == ParamType::Boolean {
            return match t.to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "yes" => Ok(ParamValue::Ints(vec![1])),
                "0" | "false" | "off" | "no" => Ok(ParamValue::Ints(vec![0])),
                _ => Err(format!(
                    "'{}' is a boolean: use true or false, not '{t}'",
                    self.name
                )),
            };
        }
        if self.kind == ParamType::Choice {
            if let Some(i) = self.options.iter().position(|o| o.eq_ignore_ascii_case(t)) {
                return Ok(ParamValue::Ints(vec![i as i32]));
            }
            return match t.parse::<i32>() {
                Ok(i) if i >= 0 && (i as usize) < self.options.len().max(1) => {
                    Ok(ParamValue::Ints(vec![i]))
                }
                _ => Err(format!(
                    "'{}' is a choice: use one of {:?} or its index 0..{}",
                    self.name,
                    self.options,
                    self.options.len().saturating_sub(1)
                )),
            };
        }
        match vk {
            ValueKind::Int | ValueKind::Double => {
                let parts: Vec<&str> = t.split(',').map(str::trim).collect();
                if parts.len() != n {
                    return Err(format!(
                        "'{}' ({}) takes {n} comma-separated number(s), got '{t}'",
                        self.name,
                        self.kind.ofx_name()
                    ));
                }
                if vk == ValueKind::Int {
                    let v: Result<Vec<i32>, _> = parts.iter().map(|s| s.parse::<i32>()).collect();
                    v.map(ParamValue::Ints)
                        .map_err(|_| format!("'{}' takes integers, got '{t}'", self.name))
                } else {
                    let v: Result<Vec<f64>, _> = parts.iter().map(|s| s.parse::<f64>()).collect();
                    v.map(ParamValue::Doubles)
                        .map_err(|_| format!("'{}' takes numbers, got '{t}'", self.name))
                }
            }
            ValueKind::String => Ok(ParamValue::Text(text.to_string())),
            ValueKind::None => Err(format!(
                "'{}' ({}) holds no value",
                self.name,
                self.kind.ofx_name()
            )),
        }
    }
}

// ---------- the suite ----------

/// # Safety
/// `h` must be NULL or a handle this host gave out.
unsafe fn param_from<'a>(h: *const c_void) -> Option<&'a Param> {
    if h.is_null() || !(h as usize).is_multiple_of(std::mem::align_of::<Param>()) {
        return None;
    }
    let p = h as *const Param;
    // SAFETY: non-null, aligned; every host object starts with a u64 magic (caller contract).
    if unsafe { (*p).magic } != MAGIC_PARAM {
        return None;
    }
    // SAFETY: the magic identifies a live Param.
    Some(unsafe { &*p })
}

/// # Safety
/// As `param_from`.
unsafe fn paramset_from<'a>(h: OfxParamSetHandle) -> Option<&'a ParamSet> {
    if h.is_null() || !(h as usize).is_multiple_of(std::mem::align_of::<ParamSet>()) {
        return None;
    }
    let p = h as *const ParamSet;
    // SAFETY: as param_from.
    if unsafe { (*p).magic } != MAGIC_PARAMSET {
        return None;
    }
    // SAFETY: the magic identifies a live ParamSet.
    Some(unsafe { &*p })
}

/// A keyframe: its frame and value.
type Key<'a> = Option<(i64, &'a Stored)>;

/// The keys either side of `time`: (before-or-at, after-or-at), by frame.
fn neighbours(keys: &BTreeMap<i64, Stored>, time: f64) -> (Key<'_>, Key<'_>) {
    let lo = keys
        .range(..=time.floor() as i64)
        .next_back()
        .map(|(k, v)| (*k, v));
    let hi = keys
        .range(time.ceil() as i64..)
        .next()
        .map(|(k, v)| (*k, v));
    (lo, hi)
}

fn evaluate(st: &ParamState, time: f64, interpolates: bool) -> Stored {
    match evaluate_ref(st, time, interpolates) {
        Ok(s) => s.clone(),
        Err(s) => s,
    }
}

/// The value at `time`: `Ok` a stored value (the static one or a key), `Err` an interpolated
/// one computed here.
fn evaluate_ref(st: &ParamState, time: f64, interpolates: bool) -> Result<&Stored, Stored> {
    match neighbours(&st.per_frame, time) {
        (None, None) => Ok(&st.value),
        (Some((_, a)), None) | (None, Some((_, a))) => Ok(a),
        (Some((t0, a)), Some((t1, b))) => {
            if t0 == t1 || !interpolates {
                return Ok(a);
            }
            let f = (time - t0 as f64) / (t1 - t0) as f64;
            Err(match (a, b) {
                (Stored::Doubles(x), Stored::Doubles(y)) => {
                    Stored::Doubles(std::array::from_fn(|i| x[i] + f * (y[i] - x[i])))
                }
                (Stored::Ints(x), Stored::Ints(y)) => Stored::Ints(std::array::from_fn(|i| {
                    (x[i] as f64 + f * (y[i] as f64 - x[i] as f64)).round() as i32
                })),
                _ => a.clone(),
            })
        }
    }
}

/// d(value)/d(time) at `time` for a double parameter: the slope of the key segment holding
/// `time` (zero without keys, outside the keys, or for held values).
fn derivative(p: &Param, time: f64) -> [f64; 4] {
    let interpolates = p.interpolates();
    let st = p.lock();
    let mut d = [0.0; 4];
    if !interpolates {
        return d;
    }
    // The segment strictly around `time`; on a key, the one that starts there (right slope).
    let lo = st.per_frame.range(..=time.floor() as i64).next_back();
    let hi = st
        .per_frame
        .range((
            std::ops::Bound::Excluded(time.floor() as i64),
            std::ops::Bound::Unbounded,
        ))
        .next();
    if let (Some((t0, Stored::Doubles(x))), Some((t1, Stored::Doubles(y)))) = (lo, hi) {
        for i in 0..4 {
            d[i] = (y[i] - x[i]) / (*t1 - *t0) as f64;
        }
    }
    d
}

/// ∫ value dt over [t1, t2] for a double parameter, exact for the piecewise-linear curve
/// (trapezoids between the curve's breakpoints; held values are constant pieces).
fn integral(p: &Param, t1: f64, t2: f64) -> [f64; 4] {
    let (lo, hi, sign) = if t2 >= t1 {
        (t1, t2, 1.0)
    } else {
        (t2, t1, -1.0)
    };
    let interpolates = p.interpolates();
    let st = p.lock();
    let at = |t: f64| match evaluate(&st, t, interpolates) {
        Stored::Doubles(a) => a,
        _ => [0.0; 4],
    };
    let mut cuts = vec![lo];
    cuts.extend(
        st.per_frame
            .keys()
            .map(|&k| k as f64)
            .filter(|&k| k > lo && k < hi),
    );
    cuts.push(hi);
    let mut acc = [0.0; 4];
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if interpolates {
            let (fa, fb) = (at(a), at(b));
            for i in 0..4 {
                acc[i] += 0.5 * (fa[i] + fb[i]) * (b - a);
            }
        } else {
            // Held: constant from a key to the next, evaluated inside the piece.
            let f = at(a);
            for i in 0..4 {
                acc[i] += f[i] * (b - a);
            }
        }
    }
    acc.map(|v| sign * v)
}

fn now_of(p: &Param) -> f64 {
    f64::from_bits(p.now.load(Ordering::Relaxed))
}

#[no_mangle]
pub(crate) unsafe extern "C" fn harness_param_shape(param: *mut c_void, kind: *mut c_int) -> c_int {
    std::panic::catch_unwind(|| {
        // SAFETY: the pointer came from the plugin's variadic call; checked by param_from.
        match unsafe { param_from(param) } {
            Some(p) => {
                let (vk, n) = p.kind.shape();
                if !kind.is_null() {
                    // SAFETY: kind points at a local int in variadic.c.
                    unsafe { *kind = vk as c_int };
                }
                n as c_int
            }
            None => -1,
        }
    })
    .unwrap_or(-1)
}

#[no_mangle]
pub(crate) unsafe extern "C" fn harness_param_get(
    param: *mut c_void,
    at_time: c_int,
    time: f64,
    outs: *mut *mut c_void,
    n: c_int,
) -> OfxStatus {
    guard(|| {
        // SAFETY: as harness_param_shape.
        let Some(p) = (unsafe { param_from(param) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        let t = if at_time != 0 { time } else { now_of(p) };
        let n = n.clamp(0, 4) as usize;
        // SAFETY: outs is variadic.c's array of n pointers.
        let outs = unsafe { std::slice::from_raw_parts(outs, n) };
        if outs.iter().any(|o| o.is_null()) {
            return STAT_ERR_VALUE;
        }
        p.with_stored_at(t, |s| match s {
            Stored::Ints(a) => {
                for (i, o) in outs.iter().enumerate() {
                    // SAFETY: the plugin passed int* for an int-valued parameter.
                    unsafe { *(*o as *mut c_int) = a[i] };
                }
                STAT_OK
            }
            Stored::Doubles(a) => {
                for (i, o) in outs.iter().enumerate() {
                    // SAFETY: the plugin passed double* for a double-valued parameter.
                    unsafe { *(*o as *mut f64) = a[i] };
                }
                STAT_OK
            }
            Stored::Text(c) => {
                if let Some(o) = outs.first() {
                    // SAFETY: char** for string parameters; the CString stays in the parameter
                    // until its next set, as the spec allows.
                    unsafe { *(*o as *mut *const c_char) = c.as_ptr() };
                }
                STAT_OK
            }
            Stored::None => STAT_ERR_UNSUPPORTED,
        })
    })
}

#[no_mangle]
pub(crate) unsafe extern "C" fn harness_param_set(
    param: *mut c_void,
    at_time: c_int,
    time: f64,
    ints: *const c_int,
    doubles: *const f64,
    strings: *const *const c_char,
    n: c_int,
) -> OfxStatus {
    guard(|| {
        // SAFETY: as harness_param_shape.
        let Some(p) = (unsafe { param_from(param) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        let n = n.clamp(0, 4) as usize;
        let (vk, _) = p.kind.shape();
        let stored = match vk {
            ValueKind::Int => {
                let mut a = [0; 4];
                // SAFETY: variadic.c passes arrays of 4.
                a[..n].copy_from_slice(unsafe { std::slice::from_raw_parts(ints, n) });
                Stored::Ints(a)
            }
            ValueKind::Double => {
                let mut a = [0.0; 4];
                // SAFETY: as above.
                a[..n].copy_from_slice(unsafe { std::slice::from_raw_parts(doubles, n) });
                Stored::Doubles(a)
            }
            ValueKind::String => {
                // SAFETY: as above; element 0 is the plugin's string or NULL.
                let s = unsafe { *strings };
                // SAFETY: a NUL-terminated string per the API; copied at once.
                Stored::Text(unsafe { cstr_arg(s) }.map(cstring).unwrap_or_default())
            }
            ValueKind::None => return STAT_ERR_UNSUPPORTED,
        };
        let mut st = p.lock();
        if at_time != 0 {
            st.per_frame.insert(time.round() as i64, stored);
        } else {
            st.value = stored;
        }
        STAT_OK
    })
}

#[no_mangle]
pub(crate) unsafe extern "C" fn harness_param_derivative(
    param: *mut c_void,
    time: f64,
    outs: *mut f64,
    n: c_int,
) -> OfxStatus {
    guard(|| {
        // SAFETY: as harness_param_shape.
        let Some(p) = (unsafe { param_from(param) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        let d = derivative(p, time);
        for (i, v) in d.iter().enumerate().take(n.clamp(0, 4) as usize) {
            // SAFETY: variadic.c passes an array of 4 doubles.
            unsafe { *outs.add(i) = *v };
        }
        STAT_OK
    })
}

#[no_mangle]
pub(crate) unsafe extern "C" fn harness_param_integral(
    param: *mut c_void,
    t1: f64,
    t2: f64,
    outs: *mut f64,
    n: c_int,
) -> OfxStatus {
    guard(|| {
        // SAFETY: as harness_param_shape.
        let Some(p) = (unsafe { param_from(param) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        let n = n.clamp(0, 4) as usize;
        let acc = integral(p, t1, t2);
        for (i, v) in acc.iter().enumerate().take(n) {
            // SAFETY: variadic.c passes an array of 4 doubles.
            unsafe { *outs.add(i) = *v };
        }
        STAT_OK
    })
}

unsafe extern "C" fn param_define(
    set: OfxParamSetHandle,
    ptype: *const c_char,
    pname: *const c_char,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(s) = (unsafe { paramset_from(set) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        // SAFETY: NUL-terminated per the API.
        let (Some(t), Some(n)) = (unsafe { cstr_arg(ptype) }, unsafe { cstr_arg(pname) }) else {
            return STAT_ERR_VALUE;
        };
        let Some(kind) = ParamType::from_ofx_name(t) else {
            s.findings.push(
                FindingKind::Portability,
                format!("parameter '{n}' has unknown type '{t}'"),
            );
            return STAT_ERR_UNKNOWN;
        };
        match s.define(kind, n) {
            Ok(p) => {
                if !props.is_null() {
                    // SAFETY: props is the plugin's out pointer.
                    unsafe { *props = p.props.handle() };
                }
                STAT_OK
            }
            Err(st) => st,
        }
    })
}

unsafe extern "C" fn param_get_handle(
    set: OfxParamSetHandle,
    pname: *const c_char,
    param: *mut OfxParamHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(s) = (unsafe { paramset_from(set) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        // SAFETY: NUL-terminated per the API.
        let Some(n) = (unsafe { cstr_arg(pname) }) else {
            return STAT_ERR_UNKNOWN;
        };
        let found = s.with_param(n, |p| (p.handle(), p.props.handle()));
        match found {
            Some((h, ph)) => {
                if !param.is_null() {
                    // SAFETY: out pointer from the plugin.
                    unsafe { *param = h };
                }
                if !props.is_null() {
                    // SAFETY: out pointer from the plugin.
                    unsafe { *props = ph };
                }
                STAT_OK
            }
            None => STAT_ERR_UNKNOWN,
        }
    })
}

unsafe extern "C" fn param_set_get_props(
    set: OfxParamSetHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(s) = (unsafe { paramset_from(set) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if props.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: out pointer from the plugin.
        unsafe { *props = s.props.handle() };
        STAT_OK
    })
}

unsafe extern "C" fn param_get_props(
    param: OfxParamHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(p) = (unsafe { param_from(param as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if props.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: out pointer from the plugin.
        unsafe { *props = p.props.handle() };
        STAT_OK
    })
}

unsafe extern "C" fn param_get_num_keys(param: OfxParamHandle, n: *mut c_uint) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(p) = (unsafe { param_from(param as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if n.is_null() {
            return STAT_ERR_VALUE;
        }
        // SAFETY: out pointer from the plugin.
        unsafe { *n = p.lock().per_frame.len() as c_uint };
        STAT_OK
    })
}

unsafe extern "C" fn param_get_key_time(
    param: OfxParamHandle,
    nth: c_uint,
    time: *mut f64,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(p) = (unsafe { param_from(param as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        let k = p.lock().per_frame.keys().nth(nth as usize).copied();
        match k {
            Some(f) if !time.is_null() => {
                // SAFETY: out pointer from the plugin.
                unsafe { *time = f as f64 };
                STAT_OK
            }
            Some(_) => STAT_ERR_VALUE,
            None => STAT_ERR_BAD_INDEX,
        }
    })
}

unsafe extern "C" fn param_get_key_index(
    param: OfxParamHandle,
    time: f64,
    direction: c_int,
    index: *mut c_int,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(p) = (unsafe { param_from(param as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        let keys: Vec<i64> = p.lock().per_frame.keys().copied().collect();
        let found = match direction {
            0 => keys.iter().position(|&k| (k as f64 - time).abs() < 1e-9),
            d if d < 0 => keys.iter().rposition(|&k| (k as f64) < time),
            _ => keys.iter().position(|&k| (k as f64) > time),
        };
        match found {
            Some(i) if !index.is_null() => {
                // SAFETY: out pointer from the plugin.
                unsafe { *index = i as c_int };
                STAT_OK
            }
            _ => STAT_FAILED,
        }
    })
}

unsafe extern "C" fn param_delete_key(param: OfxParamHandle, time: f64) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(p) = (unsafe { param_from(param as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        match p.lock().per_frame.remove(&(time.round() as i64)) {
            Some(_) => STAT_OK,
            None => STAT_ERR_BAD_INDEX,
        }
    })
}

unsafe extern "C" fn param_delete_all_keys(param: OfxParamHandle) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        let Some(p) = (unsafe { param_from(param as *const c_void) }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        p.lock().per_frame.clear();
        STAT_OK
    })
}

unsafe extern "C" fn param_copy(
    to: OfxParamHandle,
    from: OfxParamHandle,
    _offset: f64,
    _range: *const OfxRangeD,
) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handles.
        let (Some(t), Some(f)) = (unsafe { param_from(to as *const c_void) }, unsafe {
            param_from(from as *const c_void)
        }) else {
            return STAT_ERR_BAD_HANDLE;
        };
        if t.kind != f.kind {
            return STAT_ERR_VALUE;
        }
        if std::ptr::eq(t, f) {
            return STAT_OK;
        }
        let (value, per_frame) = {
            let s = f.lock();
            (s.value.clone(), s.per_frame.clone())
        };
        let mut d = t.lock();
        d.value = value;
        d.per_frame = per_frame;
        STAT_OK
    })
}

unsafe extern "C" fn param_edit(set: OfxParamSetHandle, _name: *const c_char) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        match unsafe { paramset_from(set) } {
            Some(_) => STAT_OK,
            None => STAT_ERR_BAD_HANDLE,
        }
    })
}

unsafe extern "C" fn param_edit_end(set: OfxParamSetHandle) -> OfxStatus {
    guard(|| {
        // SAFETY: checked handle.
        match unsafe { paramset_from(set) } {
            Some(_) => STAT_OK,
            None => STAT_ERR_BAD_HANDLE,
        }
    })
}

extern "C" {
    fn harness_paramGetValue(param: OfxParamHandle, ...) -> OfxStatus;
    fn harness_paramGetValueAtTime(param: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
    fn harness_paramGetDerivative(param: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
    fn harness_paramGetIntegral(param: OfxParamHandle, t1: OfxTime, t2: OfxTime, ...) -> OfxStatus;
    fn harness_paramSetValue(param: OfxParamHandle, ...) -> OfxStatus;
    fn harness_paramSetValueAtTime(param: OfxParamHandle, time: OfxTime, ...) -> OfxStatus;
}

/// The parameter suite handed to plugins (`OfxParameterSuite` v1).
pub static PARAMETER_SUITE: OfxParameterSuiteV1 = OfxParameterSuiteV1 {
    paramDefine: Some(param_define),
    paramGetHandle: Some(param_get_handle),
    paramSetGetPropertySet: Some(param_set_get_props),
    paramGetPropertySet: Some(param_get_props),
    paramGetValue: Some(harness_paramGetValue),
    paramGetValueAtTime: Some(harness_paramGetValueAtTime),
    paramGetDerivative: Some(harness_paramGetDerivative),
    paramGetIntegral: Some(harness_paramGetIntegral),
    paramSetValue: Some(harness_paramSetValue),
    paramSetValueAtTime: Some(harness_paramSetValueAtTime),
    paramGetNumKeys: Some(param_get_num_keys),
    paramGetKeyTime: Some(param_get_key_time),
    paramGetKeyIndex: Some(param_get_key_index),
    paramDeleteKey: Some(param_delete_key),
    paramDeleteAllKeys: Some(param_delete_all_keys),
    paramCopy: Some(param_copy),
    paramEditBegin: Some(param_edit),
    paramEditEnd: Some(param_edit_end),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn set_with(kind: ParamType, keys: &[(i64, ParamValue)]) -> Box<ParamSet> {
        let set = ParamSet::new("test", Arc::new(Findings::default()), Arc::default());
        set.define(kind, "p").unwrap();
        for (f, v) in keys {
            set.set_value_at_frame("p", *f, v).unwrap();
        }
        set
    }
    fn at(set: &ParamSet, t: f64) -> ParamValue {
        set.with_param("p", |p| p.value_at(t)).unwrap()
    }

    #[test]
    fn double_curves_integrate_and_differentiate_exactly() {
        // Keys (0, 0), (4, 8), (6, 2): slopes 2 then -3; held at 2 after frame 6.
        let d = |v: f64| ParamValue::Doubles(vec![v]);
        let set = set_with(ParamType::Double, &[(0, d(0.0)), (4, d(8.0)), (6, d(2.0))]);
        assert_eq!(at(&set, 1.5), d(3.0));
        assert_eq!(at(&set, 5.0), d(5.0));
        assert_eq!(at(&set, -3.0), d(0.0));
        assert_eq!(at(&set, 10.0), d(2.0));
        set.with_param("p", |p| {
            assert_eq!(derivative(p, 1.0)[0], 2.0);
            assert_eq!(derivative(p, 4.5)[0], -3.0);
            assert_eq!(derivative(p, 8.0)[0], 0.0);
            // Triangle 0..4 (area 16) + trapezoid 4..6 (10) + held 6..8 (4) = 30.
            assert!((integral(p, 0.0, 8.0)[0] - 30.0).abs() < 1e-12);
            assert!((integral(p, 8.0, 0.0)[0] + 30.0).abs() < 1e-12);
            // Part of a segment: ∫_1^3 2t dt = 8.
            assert!((integral(p, 1.0, 3.0)[0] - 8.0).abs() < 1e-12);
        });
    }

    #[test]
    fn integers_round_and_choices_hold_the_previous_key() {
        let i = |v: i32| ParamValue::Ints(vec![v]);
        let set = set_with(ParamType::Integer, &[(0, i(0)), (3, i(10))]);
        assert_eq!(at(&set, 1.0), i(3)); // 3.33 → 3
        assert_eq!(at(&set, 2.0), i(7)); // 6.67 → 7
        let set = set_with(ParamType::Boolean, &[(0, i(1)), (4, i(0))]);
        assert_eq!(at(&set, 3.9), i(1));
        assert_eq!(at(&set, 4.0), i(0));
        let set = set_with(ParamType::Choice, &[(0, i(0)), (10, i(1))]);
        assert_eq!(at(&set, 9.0), i(0));
        set.with_param("p", |p| assert_eq!(derivative(p, 5.0), [0.0; 4]));
    }
}
