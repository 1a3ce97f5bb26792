//! `ofxrun pipeline`: a chain of OFX effects run as one reproducible job, from the file a video
//! generator delivers (or an image sequence) to EXR plates, on one machine or a farm.
//!
//! - [`spec`]: the pipeline file (TOML, schema 1), parsed strictly: errors name the line.
//! - [`source`]: frames from the built-in plate, image sequences, or video through `ffmpeg`.
//! - [`chain`]: effect instances joined in memory, each node pulling from the one before.
//! - [`run`]: frame ranges, `--resume`, jobs, atomic writes, EXR metadata.
//! - [`report`]: the QC page (crops, blockiness, banding, noise, flicker).
//! - [`openjd`]: Open Job Description templates for farms.

pub mod chain;
pub mod openjd;
pub mod report;
pub mod run;
pub mod source;
pub mod spec;

pub use chain::{Chain, NodeFailure};
pub use run::{run, verify_frame, RunError, RunOptions, RunSummary};
pub use spec::{Overrides, Pipeline, SpecError};
