//! Conformance checks (filled in below).
pub struct CheckOptions;
pub struct CheckReport;
pub fn check_plugin() {}
