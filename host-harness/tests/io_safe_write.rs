//! Output safety: directories are created, existing files are never clobbered without
//! `overwrite`, and a write that fails part way (error or panic) leaves the previous file
//! byte-identical and no temporary file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use ofx_harness::image::{BitDepth, Components, HostImage, Rect};
use ofx_harness::io::{
    default_input, read_image, write_atomically, write_image, IoError, WriteOptions, TEMP_PREFIX,
};

/// A scratch folder, removed when the test ends (passed or failed), so green runs leave no
/// folders behind in the temp directory.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir =
        std::env::temp_dir().join(format!("ofx-harness-io-safe-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect()
}

fn small(value: f32) -> HostImage {
    let b = Rect::from_size(5, 3);
    HostImage::from_rgba_f32(
        b,
        BitDepth::Byte,
        Components::Rgb,
        &vec![[value, value, value, 1.0]; 15],
    )
    .unwrap()
}

#[test]
fn output_directories_are_created() {
    let dir = scratch("mkdir");
    let p = dir.join("a/b/c/out.exr");
    write_image(&p, &small(0.5), &WriteOptions::default()).unwrap();
    assert!(p.is_file());
    assert!(read_image(&p).is_ok());
}

#[test]
fn an_existing_output_is_kept_without_overwrite() {
    let dir = scratch("no-overwrite");
    let p = dir.join("out.png");
    write_image(&p, &small(0.25), &WriteOptions::default()).unwrap();
    let before = std::fs::read(&p).unwrap();

    let e = write_image(&p, &small(0.75), &WriteOptions::default()).unwrap_err();
    assert!(matches!(e, IoError::OutputExists { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("out.png") && msg.contains("--overwrite"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert!(temp_files(&dir).is_empty());

    let opts = WriteOptions {
        overwrite: true,
        ..WriteOptions::default()
    };
    write_image(&p, &small(0.75), &opts).unwrap();
    assert!(read_image(&p).unwrap().same_pixels(&small(0.75)));
}

#[test]
fn a_write_failing_midway_leaves_the_old_file_untouched() {
    let dir = scratch("fail-midway");
    let p = dir.join("frame.0001.exr");
    write_image(&p, &default_input(), &WriteOptions::default()).unwrap();
    let before = std::fs::read(&p).unwrap();

    for overwrite in [true, false] {
        let e = write_atomically(&p, overwrite, |out| {
            out.write_all(&[0xAB; 100_000]).unwrap();
            Err(IoError::Encode {
                path: p.clone(),
                format: ofx_harness::io::ImageFormat::Exr,
                reason: "disk full (simulated)".into(),
            })
        })
        .unwrap_err();
        if overwrite {
            assert!(matches!(e, IoError::Encode { .. }), "{e}");
        } else {
            // Without overwrite the existing file is refused before any work.
            assert!(matches!(e, IoError::OutputExists { .. }), "{e}");
        }
        assert_eq!(std::fs::read(&p).unwrap(), before);
        assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
    }
}

#[test]
fn a_failed_first_write_leaves_no_file_at_all() {
    let dir = scratch("fail-new");
    let p = dir.join("new.png");
    let r = write_atomically(&p, false, |out| {
        out.write_all(b"\x89PNG partial").unwrap();
        Err(IoError::Encode {
            path: p.clone(),
            format: ofx_harness::io::ImageFormat::Png,
            reason: "simulated".into(),
        })
    });
    assert!(r.is_err());
    assert!(!p.exists());
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn a_panicking_encoder_leaves_the_old_file_and_no_temporary() {
    let dir = scratch("panic");
    let p = dir.join("out.tif");
    write_image(&p, &small(0.5), &WriteOptions::default()).unwrap();
    let before = std::fs::read(&p).unwrap();
    let r = std::panic::catch_unwind(|| {
        let _ = write_atomically(&p, true, |out| {
            out.write_all(&[1; 5000]).unwrap();
            panic!("encoder bug (simulated)");
        });
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn a_file_appearing_during_the_write_is_not_clobbered() {
    // Two farm nodes rendering the same frame: the one that finishes second must not replace
    // the first one's file when overwrite is off.
    let dir = scratch("race");
    let p = dir.join("frame.0007.png");
    let e = write_atomically(&p, false, |out| {
        std::fs::write(&p, b"the other node's frame").unwrap();
        out.write_all(b"ours").unwrap();
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(e, IoError::OutputExists { .. }), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"the other node's frame");
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn a_successful_write_replaces_atomically_and_leaves_nothing_else() {
    let dir = scratch("replace");
    let p = dir.join("x.bin");
    std::fs::write(&p, b"old").unwrap();
    write_atomically(&p, true, |out| {
        out.write_all(b"new content").unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"new content");
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn an_output_path_that_is_a_directory_fails_cleanly() {
    let dir = scratch("dir-target");
    let p = dir.join("taken.png");
    std::fs::create_dir(&p).unwrap();
    let opts = WriteOptions {
        overwrite: true,
        ..WriteOptions::default()
    };
    let e = write_image(&p, &small(0.5), &opts).unwrap_err();
    assert!(matches!(e, IoError::Write { .. }), "{e}");
    assert!(e.to_string().contains("taken.png"));
    assert!(p.is_dir());
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn an_encoder_error_inside_write_image_keeps_the_previous_frame() {
    let dir = scratch("encoder-error");
    let p = dir.join("plate.exr");
    write_image(&p, &small(0.5), &WriteOptions::default()).unwrap();
    let before = std::fs::read(&p).unwrap();
    // A display window so far away that the data window offset does not fit an EXR header:
    // the failure happens inside the encoder, after the temporary file was opened.
    let opts = WriteOptions {
        overwrite: true,
        display_window: Some(Rect::new(i32::MIN, 0, i32::MIN + 10, 10)),
        ..WriteOptions::default()
    };
    let e = write_image(&p, &small(0.9), &opts).unwrap_err();
    assert!(matches!(e, IoError::TooLarge { .. }), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert!(temp_files(&dir).is_empty());
}

#[test]
fn a_long_output_name_still_gets_a_valid_temporary_name() {
    let dir = scratch("long-name");
    // 250 bytes: legal on its own, too long once a temporary prefix is added in full.
    let name = format!("{}.png", "a".repeat(246));
    let p = dir.join(&name);
    write_image(&p, &small(0.5), &WriteOptions::default()).unwrap();
    assert!(read_image(&p).unwrap().same_pixels(&small(0.5)));
    assert!(temp_files(&dir).is_empty());
}
