//! The host's error type: every message names what failed and, where there is one, the fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("no OFX plugin found for '{what}' (searched: {searched}); pass a bundle path, or add its folder to OFX_PLUGIN_PATH")]
    NotFound { what: String, searched: String },
    #[error("cannot load {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("{path} is not an OFX binary: it has no {symbol} entry point")]
    MissingSymbol { path: PathBuf, symbol: &'static str },
    #[error("{path} holds no plugin with identifier '{id}'; it has: {available}")]
    PluginNotFound {
        path: PathBuf,
        id: String,
        available: String,
    },
    #[error("plugin {plugin}: {action} returned {status_name} ({status}){detail}")]
    Action {
        plugin: String,
        action: String,
        status: i32,
        status_name: &'static str,
        /// Which side broke what, where the host can tell (empty, or starting with " — ").
        detail: String,
    },
    #[error("plugin {plugin} does not support the {context} context (it supports: {supported})")]
    Context {
        plugin: String,
        context: String,
        supported: String,
    },
    #[error("parameter error: {0}")]
    Param(String),
    #[error("render of frame {frame}: {reason}")]
    Render { frame: f64, reason: String },
    #[error("render of frame {frame} aborted")]
    Aborted { frame: f64 },
    #[error("strict mode: {count} conformance error(s), first: {first}")]
    Strict { count: usize, first: String },
    #[error("CUDA render needs an NVIDIA driver and GPU: {reason}. Render without --cuda (HostConfig::cuda = Off) to hand the plugin host-memory images")]
    CudaUnavailable { reason: String },
    #[error("plugin {plugin}: {reason}")]
    CudaRefused { plugin: String, reason: String },
    #[error("action {action} did not return within {seconds} s (the plugin may be hung; its thread was left running)")]
    Timeout { action: String, seconds: f64 },
}

impl HostError {
    /// A failed action. `null_in_args`: the host passed inArgs = NULL, as the specification
    /// says for this action; a plugin answering kOfxStatErrBadHandle then rejected that NULL
    /// (the OpenFX PropertyTester does so in getClipPreferences), and the message says so.
    pub(crate) fn action(plugin: &str, action: &str, status: i32, null_in_args: bool) -> HostError {
        let detail = if null_in_args && status == crate::props::STAT_ERR_BAD_HANDLE {
            " — the host passed inArgs = NULL, as the OFX specification says for this action \
             (and as the reference HostSupport library does): the plugin rejected a handle it \
             must accept as NULL, which is the plugin's fault"
                .to_string()
        } else {
            String::new()
        };
        HostError::Action {
            plugin: plugin.to_string(),
            action: action.to_string(),
            status,
            status_name: crate::props::status_name(status),
            detail,
        }
    }
}
