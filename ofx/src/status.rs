//! OFX status codes and the error type every fallible call in this crate returns.

use std::fmt;

/// The OFX status codes (ofxCore.h). `ReplyDefault` is not an error for the host: it means
/// "do the default thing", which is how an action a plugin does not implement is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    ReplyDefault,
    Failed,
    ErrFatal,
    ErrUnknown,
    ErrMissingHostFeature,
    ErrUnsupported,
    ErrExists,
    ErrFormat,
    ErrMemory,
    ErrBadHandle,
    ErrBadIndex,
    ErrValue,
    ReplyYes,
    ReplyNo,
}

impl Status {
    /// The numeric code a host expects (values from ofxCore.h).
    pub fn code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::ErrFatal => 2,
            Status::ErrUnknown => 3,
            Status::ErrMissingHostFeature => 4,
            Status::ErrUnsupported => 5,
            Status::ErrExists => 6,
            Status::ErrFormat => 7,
            Status::ErrMemory => 8,
            Status::ErrBadHandle => 9,
            Status::ErrBadIndex => 10,
            Status::ErrValue => 11,
            Status::ReplyYes => 12,
            Status::ReplyNo => 13,
            Status::ReplyDefault => 14,
        }
    }

    pub fn from_code(code: i32) -> Status {
        match code {
            0 => Status::Ok,
            2 => Status::ErrFatal,
            3 => Status::ErrUnknown,
            4 => Status::ErrMissingHostFeature,
            5 => Status::ErrUnsupported,
            6 => Status::ErrExists,
            7 => Status::ErrFormat,
            8 => Status::ErrMemory,
            9 => Status::ErrBadHandle,
            10 => Status::ErrBadIndex,
            11 => Status::ErrValue,
            12 => Status::ReplyYes,
            13 => Status::ReplyNo,
            14 => Status::ReplyDefault,
            _ => Status::Failed,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A failed OFX call or a plugin-side failure: the status a host gets, and a message a user
/// can act on (shown through the host's message suite where the action has an instance).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} ({status})")]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
        }
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Error::new(Status::Failed, message)
    }
    pub fn value(message: impl Into<String>) -> Self {
        Error::new(Status::ErrValue, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::new(Status::ErrUnsupported, message)
    }
    pub fn missing_host_feature(message: impl Into<String>) -> Self {
        Error::new(Status::ErrMissingHostFeature, message)
    }
    /// "Do the default": the answer to an action the plugin leaves to the host.
    pub fn reply_default() -> Self {
        Error::new(Status::ReplyDefault, "")
    }
    /// A host call's status as a `Result`.
    pub fn check(code: i32, what: impl FnOnce() -> String) -> Result<()> {
        match Status::from_code(code) {
            Status::Ok => Ok(()),
            s => Err(Error::new(s, what())),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_ofx_core_h() {
        // Values defined in ofxCore.h, as generated into ofx_sys's eOfxStatus.
        use ofx_sys as s;
        assert_eq!(Status::Ok.code(), s::eOfxStatus_OK);
        assert_eq!(Status::ReplyDefault.code(), s::eOfxStatus_ReplyDefault);
        assert_eq!(Status::Failed.code(), s::eOfxStatus_Failed);
        assert_eq!(Status::ErrFatal.code(), s::eOfxStatus_ErrFatal);
        assert_eq!(Status::ErrBadHandle.code(), s::eOfxStatus_ErrBadHandle);
        assert_eq!(Status::ErrBadIndex.code(), s::eOfxStatus_ErrBadIndex);
        assert_eq!(Status::ErrValue.code(), s::eOfxStatus_ErrValue);
        assert_eq!(Status::ErrUnknown.code(), s::eOfxStatus_ErrUnknown);
        assert_eq!(Status::ErrMemory.code(), s::eOfxStatus_ErrMemory);
        assert_eq!(Status::ErrUnsupported.code(), s::eOfxStatus_ErrUnsupported);
        assert_eq!(
            Status::ErrMissingHostFeature.code(),
            s::eOfxStatus_ErrMissingHostFeature
        );
        for code in 0..=14 {
            assert_eq!(Status::from_code(code).code(), code);
        }
        assert_eq!(Status::from_code(99), Status::Failed);
    }
}
