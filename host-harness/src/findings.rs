//! Conformance findings: what the host noticed a plugin doing wrong (or oddly), recorded as
//! structured data so tests can assert on them and `ofxrun check` can report them.

use std::sync::Mutex;

/// How bad a finding is. `Error` fails a strict run; `Warning` is a portability risk (works
/// here, breaks in some host); `Info` is worth knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// What was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// The plugin wrote pixels outside its render window (canary values changed).
    WriteOutsideRenderWindow,
    /// An action returned a status the spec does not allow for it.
    InvalidStatus,
    /// An action failed.
    ActionFailed,
    /// A parameter's default lies outside its range, or its display range outside its range.
    DefaultOutOfRange,
    /// Images fetched with clipGetImage and never released.
    ImageNotReleased,
    /// clipReleaseImage on a handle that is not a live image.
    BadImageRelease,
    /// Output differs between full-frame, tiled and multi-threaded renders.
    NonDeterministic,
    /// A panic reached the host boundary (caught there).
    Panic,
    /// An action did not return within the time limit.
    Hang,
    /// The process running the plugin died (a signal such as SIGSEGV): only detectable when
    /// the plugin runs in a child process (`ofxrun check` probes).
    Crash,
    /// Set of a property the host does not define.
    UnknownProperty,
    /// A property read or written as the wrong type.
    PropertyTypeMismatch,
    /// A problem loading the binary or describing the plugin.
    Load,
    /// A temporal plugin fetched a source frame outside what GetFramesNeeded declared.
    UndeclaredFrame,
    /// A handle the host never gave out.
    BadHandle,
    /// Something a real host would not like (missing labels, hints, display ranges, …).
    Portability,
    /// The plugin declared something the harness reports (CUDA support, tiles, …).
    Capability,
    /// A render the host refused over CUDA: device memory for a plugin that does not declare
    /// OFX CUDA render, or host memory for one that declares it "needed".
    CudaRender,
}

impl FindingKind {
    pub fn severity(self) -> Severity {
        use FindingKind::*;
        match self {
            WriteOutsideRenderWindow
            | InvalidStatus
            | ImageNotReleased
            | BadImageRelease
            | NonDeterministic
            | Panic
            | Hang
            | Crash
            | Load
            | BadHandle
            | ActionFailed
            | CudaRender => Severity::Error,
            DefaultOutOfRange | PropertyTypeMismatch | Portability | UnknownProperty
            | UndeclaredFrame => Severity::Warning,
            Capability => Severity::Info,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{sev}: [{:?}] {}", self.kind, self.message)
    }
}

/// A thread-safe, append-only log of findings shared by a host's objects.
#[derive(Debug, Default)]
pub struct Findings {
    items: Mutex<Vec<Finding>>,
}

impl Findings {
    pub fn push(&self, kind: FindingKind, message: String) {
        self.push_with(kind, kind.severity(), message);
    }
    pub fn push_with(&self, kind: FindingKind, severity: Severity, message: String) {
        log::debug!("finding {kind:?}: {message}");
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        // The same problem repeated every frame or tile says nothing new.
        if items.iter().any(|f| f.kind == kind && f.message == message) {
            return;
        }
        items.push(Finding {
            kind,
            severity,
            message,
        });
    }
    /// Everything found so far.
    pub fn all(&self) -> Vec<Finding> {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Everything found so far, emptying the log.
    pub fn take(&self) -> Vec<Finding> {
        std::mem::take(&mut *self.items.lock().unwrap_or_else(|e| e.into_inner()))
    }
    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
