//! Builds `PlateRestore.ofx.bundle` from the compiled plugin and installs it where OFX hosts look.
//!
//! `platerestore-bundle build [--debug] [--out DIR]` compiles the plugin (release by default),
//! asks the binary itself which plugins it registers, and lays out
//! `PlateRestore.ofx.bundle/Contents/{Linux-x86-64/PlateRestore.ofx, Resources/<id>.png, Info.plist}`.
//! `platerestore-bundle install [--dir DIR] [--force]` copies the built bundle into `DIR`
//! (default `/usr/OFX/Plugins`), replacing an existing one only with `--force`, atomically.

use platerestore_bundle::{
    assemble, install, lib_file_name, target_dir, workspace_root, BundleError, BUNDLE_NAME,
};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn build(debug: bool, out: Option<PathBuf>) -> Result<PathBuf, BundleError> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--lib", "-p", "platerestore"]);
    if !debug {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|source| BundleError::Io {
        what: "running cargo in",
        path: root.clone(),
        source,
    })?;
    if !status.success() {
        return Err(BundleError::Cargo(status.to_string()));
    }
    let profile = if debug { "debug" } else { "release" };
    let lib = target_dir(&root).join(profile).join(lib_file_name());

    let out_dir = out.unwrap_or_else(|| root.join("dist"));
    assemble(&lib, &out_dir)
}

const USAGE: &str = "usage:
  platerestore-bundle build [--debug] [--out DIR]
      compile the plugin (release unless --debug) and assemble DIR/PlateRestore.ofx.bundle
      (DIR defaults to dist/ in the workspace)
  platerestore-bundle install [--dir DIR] [--from BUNDLE] [--force]
      copy the built bundle into DIR (default /usr/OFX/Plugins, where Resolve, Nuke and
      Natron look on Linux); an existing PlateRestore bundle is replaced only with --force";

fn run(args: &[String]) -> Result<(), BundleError> {
    let mut it = args.iter();
    let cmd = it.next().map(String::as_str);
    let mut debug = false;
    let mut force = false;
    let mut out = None;
    let mut dir = None;
    let mut from = None;
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .map(PathBuf::from)
                .ok_or_else(|| BundleError::Usage(format!("{flag} needs a value\n{USAGE}")))
        };
        match a.as_str() {
            "--debug" => debug = true,
            "--force" => force = true,
            "--out" => out = Some(value("--out")?),
            "--dir" => dir = Some(value("--dir")?),
            "--from" => from = Some(value("--from")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => {
                return Err(BundleError::Usage(format!(
                    "unknown option {other}\n{USAGE}"
                )))
            }
        }
    }
    match cmd {
        Some("build") => build(debug, out).map(|_| ()),
        Some("install") => {
            let built = from.unwrap_or_else(|| {
                workspace_root()
                    .join("dist")
                    .join(format!("{BUNDLE_NAME}.ofx.bundle"))
            });
            let dir = dir.unwrap_or_else(|| PathBuf::from("/usr/OFX/Plugins"));
            install(&built, &dir, force).map(|_| ())
        }
        Some("-h") | Some("--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(BundleError::Usage(USAGE.into())),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("platerestore-bundle: {e}");
            ExitCode::FAILURE
        }
    }
}
