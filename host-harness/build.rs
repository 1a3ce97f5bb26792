//! Compiles the C-variadic forwarders of the parameter and message suites (stable Rust cannot
//! define variadic functions) and records the target triple for the tests' fixture builds.

fn main() {
    println!("cargo:rerun-if-changed=src/c/variadic.c");
    cc::Build::new()
        .file("src/c/variadic.c")
        .warnings(true)
        .compile("harness_variadic");
    if let Ok(target) = std::env::var("TARGET") {
        println!("cargo:rustc-env=HARNESS_BUILD_TARGET={target}");
    }
}
