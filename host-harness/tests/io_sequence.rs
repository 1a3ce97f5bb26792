//! Frame patterns against real directories: which frames exist, what a missing frame reports,
//! and a default-plate sequence written and read back frame by frame.

use std::path::{Path, PathBuf};

use ofx_harness::io::{
    default_input_frame, read_image, resolve_input_frames, write_image, FrameList, FramePattern,
    IoError, WriteOptions,
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
    let dir = std::env::temp_dir().join(format!(
        "ofx-harness-io-sequence-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn touch(dir: &Path, name: &str) {
    std::fs::write(dir.join(name), b"x").unwrap();
}

fn pattern(dir: &Path, name: &str) -> FramePattern {
    FramePattern::parse(&format!("{}/{name}", dir.display())).unwrap()
}

#[test]
fn existing_frames_match_the_padding_exactly() {
    let dir = scratch("existing");
    for f in ["0001", "0002", "0004", "0005", "12345", "-003"] {
        touch(&dir, &format!("plate.{f}.png"));
    }
    // Decoys: other padding, other names, other extensions, a directory with a frame name.
    for decoy in [
        "plate.01.png",
        "plate.00007.png",
        "plate.0003.png.bak",
        "plate.0003.exr",
        "other.0003.png",
        "plate.00a3.png",
        "plate..png",
    ] {
        touch(&dir, decoy);
    }
    std::fs::create_dir(dir.join("plate.0006.png")).unwrap();

    let hashes = pattern(&dir, "plate.####.png");
    assert_eq!(
        hashes.existing_frames().unwrap(),
        vec![-3, 1, 2, 4, 5, 12345]
    );
    let printf = pattern(&dir, "plate.%04d.png");
    assert_eq!(
        printf.existing_frames().unwrap(),
        vec![-3, 1, 2, 4, 5, 12345]
    );
    // %d (no padding) only matches unpadded numbers: none here but 12345.
    let bare = pattern(&dir, "plate.%d.png");
    assert_eq!(bare.existing_frames().unwrap(), vec![12345]);
    // Two hashes: "01" is frame 1, and numbers longer than the padding still count.
    let two = pattern(&dir, "plate.##.png");
    assert_eq!(two.existing_frames().unwrap(), vec![1, 12345]);
}

#[test]
fn without_a_frame_request_every_frame_on_disk_is_used() {
    let dir = scratch("resolve-all");
    for f in [10, 11, 12, 20] {
        touch(&dir, &format!("shot_{f:03}.tif"));
    }
    let p = pattern(&dir, "shot_###.tif");
    assert_eq!(
        resolve_input_frames(&p, None).unwrap(),
        vec![10, 11, 12, 20]
    );
}

#[test]
fn a_missing_frame_is_named_with_its_file_and_what_exists() {
    let dir = scratch("missing");
    for f in [1, 2, 4, 5] {
        touch(&dir, &format!("plate.{f:04}.png"));
    }
    let p = pattern(&dir, "plate.####.png");
    let wanted = FrameList::parse("1-5").unwrap();
    let e = resolve_input_frames(&p, Some(&wanted)).unwrap_err();
    match &e {
        IoError::MissingFrame {
            frame,
            path,
            missing_count,
            requested,
            ..
        } => {
            assert_eq!(*frame, 3);
            assert_eq!(path, &dir.join("plate.0003.png"));
            assert_eq!((*missing_count, *requested), (1, 5));
        }
        other => panic!("wrong error {other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("frame 3"), "{msg}");
    assert!(msg.contains("plate.0003.png"), "{msg}");
    assert!(msg.contains("on disk: 1-2,4-5"), "{msg}");

    // Several missing: the first is named and the rest listed compactly.
    let wanted = FrameList::parse("1-9").unwrap();
    let msg = resolve_input_frames(&p, Some(&wanted))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("5 of 9 requested frames missing: 3,6-9"),
        "{msg}"
    );

    // Frames that all exist resolve in the requested order.
    let wanted = FrameList::parse("5,1-2").unwrap();
    assert_eq!(
        resolve_input_frames(&p, Some(&wanted)).unwrap(),
        vec![5, 1, 2]
    );
}

#[test]
fn an_empty_match_says_where_it_looked() {
    let dir = scratch("none");
    touch(&dir, "plate.01.png");
    let p = pattern(&dir, "plate.####.png");
    let e = resolve_input_frames(&p, None).unwrap_err();
    assert!(matches!(e, IoError::NoFrames { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&dir.display().to_string()) && msg.contains("padding"),
        "{msg}"
    );

    // A directory that does not exist is also "no frames", not a crash.
    let gone = FramePattern::parse(&format!("{}/nope/p.####.png", dir.display())).unwrap();
    assert!(matches!(
        resolve_input_frames(&gone, None),
        Err(IoError::NoFrames { .. })
    ));
}

#[test]
fn a_still_is_one_file_for_every_frame() {
    let dir = scratch("still");
    touch(&dir, "bg.png");
    let p = pattern(&dir, "bg.png");
    assert!(!p.is_sequence());
    assert_eq!(resolve_input_frames(&p, None).unwrap(), vec![0]);
    let wanted = FrameList::parse("1-3").unwrap();
    assert_eq!(
        resolve_input_frames(&p, Some(&wanted)).unwrap(),
        vec![1, 2, 3]
    );
    let missing = pattern(&dir, "fg.png");
    let e = resolve_input_frames(&missing, None).unwrap_err();
    assert!(e.to_string().contains("fg.png"), "{e}");
}

#[test]
fn a_default_plate_sequence_writes_and_reads_back_frame_by_frame() {
    let dir = scratch("default-seq");
    let out = FramePattern::parse(&format!("{}/renders/demo.%04d.png", dir.display())).unwrap();
    let frames = FrameList::parse("1-4x3,2").unwrap();
    assert_eq!(frames.frames(), &[1, 4, 2]);
    for &f in frames.frames() {
        write_image(
            out.path_for(f),
            &default_input_frame(f),
            &WriteOptions::default(),
        )
        .unwrap();
    }
    assert_eq!(out.existing_frames().unwrap(), vec![1, 2, 4]);
    for f in [1, 2, 4] {
        let back = read_image(out.path_for(f)).unwrap();
        assert!(back.same_pixels(&default_input_frame(f)), "frame {f}");
    }
    assert!(!read_image(out.path_for(1))
        .unwrap()
        .same_pixels(&default_input_frame(2)));
}
