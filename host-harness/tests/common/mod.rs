//! Builds the C fixture plugins (tests/fixtures/gain.c, once per behaviour flag) into bundles
//! under the test target directory, with the C compiler the `cc` crate finds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The fixture behaviours (see the comment at the top of gain.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fixture {
    Gain,
    NoGetPlugin,
    FailDescribe,
    WritesOutside,
    GarbageStatus,
    LeakImage,
    NullCrash,
    HangOnNull,
    BadDefault,
    /// Declares CUDA render and streams; logs the CUDA inArgs and image pointers it receives.
    CudaProbe,
    /// Declares CUDA render without streams; logs like CudaProbe.
    CudaProbeNoStreams,
    /// Declares no CUDA render at all.
    NoCuda,
    /// Declares CUDA render "needed"; logs like CudaProbe.
    CudaNeeded,
    /// An infinite region of definition (a generator's).
    InfiniteRod,
    /// Needs the interact and draw suites at load and describes an overlay interact.
    Interact,
    /// A temporal average over t ± radius, declared in GetFramesNeeded, with a time domain.
    Temporal,
    /// Refuses the NULL inArgs of getClipPreferences (as the OpenFX PropertyTester does).
    StrictArgs,
    /// Output at the Source's unmapped depth; refuses images of different depths (as the
    /// OpenFX Basic example does).
    SameDepths,
}

impl Fixture {
    fn flags(self) -> &'static [&'static str] {
        match self {
            Fixture::Gain => &[],
            Fixture::NoGetPlugin => &["FIXTURE_NO_GETPLUGIN"],
            Fixture::FailDescribe => &["FIXTURE_FAIL_DESCRIBE"],
            Fixture::WritesOutside => &["FIXTURE_WRITES_OUTSIDE"],
            Fixture::GarbageStatus => &["FIXTURE_GARBAGE_STATUS"],
            Fixture::LeakImage => &["FIXTURE_LEAK_IMAGE"],
            Fixture::NullCrash => &["FIXTURE_NULL_CRASH"],
            Fixture::HangOnNull => &["FIXTURE_HANG_ON_NULL"],
            Fixture::BadDefault => &["FIXTURE_BAD_DEFAULT"],
            Fixture::CudaProbe => &["FIXTURE_CUDA_LOG", "FIXTURE_CUDA_STREAMS"],
            Fixture::CudaProbeNoStreams => &["FIXTURE_CUDA_LOG"],
            Fixture::NoCuda => &["FIXTURE_NO_CUDA"],
            Fixture::CudaNeeded => &["FIXTURE_CUDA_NEEDED", "FIXTURE_CUDA_LOG"],
            Fixture::InfiniteRod => &["FIXTURE_INFINITE_ROD"],
            Fixture::Interact => &["FIXTURE_INTERACT"],
            Fixture::Temporal => &["FIXTURE_TEMPORAL"],
            Fixture::StrictArgs => &["FIXTURE_STRICT_ARGS"],
            Fixture::SameDepths => &["FIXTURE_SAME_DEPTHS"],
        }
    }
    pub fn bundle_name(self) -> String {
        format!("{self:?}")
    }
    pub fn identifier(self) -> String {
        format!("org.platerestore.test.{self:?}")
    }
}

static BUILT: Mutex<Vec<(Fixture, PathBuf)>> = Mutex::new(Vec::new());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ofx-fixtures")
}

/// The bundle directory of a fixture, compiled on first use.
pub fn bundle(f: Fixture) -> PathBuf {
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(g, _)| *g == f) {
        return p.clone();
    }
    let name = f.bundle_name();
    let bundle = root().join(format!("{name}.ofx.bundle"));
    let arch = bundle.join("Contents").join("Linux-x86-64");
    std::fs::create_dir_all(&arch).unwrap();
    let out = arch.join(format!("{name}.ofx"));
    compile(f, &out);
    built.push((f, bundle.clone()));
    bundle
}

fn compile(f: Fixture, out: &Path) {
    static TARGET_DIR: OnceLock<PathBuf> = OnceLock::new();
    let obj_dir = TARGET_DIR.get_or_init(|| {
        let d = root().join("obj");
        std::fs::create_dir_all(&d).unwrap();
        d
    });
    let target = env!("HARNESS_BUILD_TARGET");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gain.c");
    let tool = cc::Build::new()
        .target(target)
        .host(target)
        .opt_level(2)
        .out_dir(obj_dir)
        .cargo_metadata(false)
        .get_compiler();
    let mut cmd = tool.to_command();
    cmd.args(["-std=c99", "-D_DEFAULT_SOURCE", "-shared", "-fPIC", "-o"])
        .arg(out.with_extension("tmp"))
        .arg(&src)
        .arg(format!("-I{}", src.parent().unwrap().display()))
        .arg(format!("-DFIXTURE_ID=\"{}\"", f.identifier()));
    for flag in f.flags() {
        cmd.arg(format!("-D{flag}"));
    }
    cmd.arg("-lm");
    let status = cmd.status().expect("run the C compiler");
    assert!(status.success(), "compiling fixture {f:?} failed: {cmd:?}");
    std::fs::rename(out.with_extension("tmp"), out).unwrap();
}

/// A child process's stdout then stderr, for assertions and failure messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
