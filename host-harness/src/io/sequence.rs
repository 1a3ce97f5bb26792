//! Image sequences: file patterns with a frame-number placeholder (`plate.####.exr`, where the
//! number of `#` is the zero padding, or printf style `plate.%04d.exr`) and frame lists
//! (`12`, `1-48`, `1-48x2`, `1,3,5-7`) as compositors and render farms write them.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::error::IoError;

/// A path with at most one frame-number placeholder. Without one it names a single file used
/// for every frame (a still).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePattern {
    text: String,
    placeholder: Option<Placeholder>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Placeholder {
    /// Byte range of the placeholder in `text`.
    start: usize,
    end: usize,
    /// Minimum digits (zero padded); 0 or 1 means no padding.
    padding: usize,
}

impl FramePattern {
    /// Parses a pattern. `#` runs give the padding by their length; `%d` / `%0Nd` follow printf.
    /// Two placeholders, or a printf conversion other than `d`, are errors. `%%` is a literal
    /// percent sign.
    pub fn parse(pattern: &str) -> Result<FramePattern, IoError> {
        let bad = |reason: &str| IoError::BadPattern {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        // Placeholders only count in the file name: '#' or '%' in a directory name is literal.
        let name_start = pattern.rfind(['/', '\\']).map_or(0, |i| i + 1);
        let bytes = pattern.as_bytes();
        let mut found: Option<Placeholder> = None;
        let mut text = String::with_capacity(pattern.len());
        text.push_str(&pattern[..name_start]);
        let mut i = name_start;
        while i < bytes.len() {
            let start_in_text = text.len();
            if bytes[i] == b'#' {
                let mut j = i;
                while j < bytes.len() && bytes[j] == b'#' {
                    j += 1;
                }
                if found.is_some() {
                    return Err(bad("it has more than one frame placeholder"));
                }
                text.push_str(&pattern[i..j]);
                found = Some(Placeholder {
                    start: start_in_text,
                    end: text.len(),
                    padding: j - i,
                });
                i = j;
            } else if bytes[i] == b'%' {
                if bytes.get(i + 1) == Some(&b'%') {
                    text.push('%');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                let digits = &pattern[i + 1..j];
                if bytes.get(j) != Some(&b'd') {
                    return Err(bad(
                        "a '%' must start a frame number such as %04d (write %% for a literal %)",
                    ));
                }
                if !digits.is_empty() && !digits.starts_with('0') {
                    return Err(bad("space-padded %Nd is not supported; zero-pad with %0Nd"));
                }
                let padding: usize = if digits.is_empty() {
                    0
                } else {
                    digits
                        .parse()
                        .map_err(|_| bad("the padding width is not a number"))?
                };
                if padding > 32 {
                    return Err(bad("a padding over 32 digits cannot be a frame number"));
                }
                if found.is_some() {
                    return Err(bad("it has more than one frame placeholder"));
                }
                text.push_str(&pattern[i..=j]);
                found = Some(Placeholder {
                    start: start_in_text,
                    end: text.len(),
                    padding,
                });
                i = j + 1;
            } else {
                let ch_len = pattern[i..].chars().next().map_or(1, char::len_utf8);
                text.push_str(&pattern[i..i + ch_len]);
                i += ch_len;
            }
        }
        Ok(FramePattern {
            text,
            placeholder: found,
        })
    }

    /// True when the pattern has a frame placeholder.
    pub fn is_sequence(&self) -> bool {
        self.placeholder.is_some()
    }

    /// Zero padding of the frame number (0 when there is no placeholder or no padding).
    pub fn padding(&self) -> usize {
        self.placeholder.as_ref().map_or(0, |p| p.padding)
    }

    /// The file for `frame` (the pattern itself for a still). Negative frames get a leading
    /// minus inside the padding, as printf does (`-001` for %04d).
    pub fn path_for(&self, frame: i64) -> PathBuf {
        match &self.placeholder {
            None => PathBuf::from(&self.text),
            Some(p) => PathBuf::from(format!(
                "{}{}{}",
                &self.text[..p.start],
                format_frame(frame, p.padding),
                &self.text[p.end..]
            )),
        }
    }

    /// Frames present on disk, ascending: files in the pattern's directory whose name is the
    /// pattern with a frame number written exactly as `path_for` would write it.
    pub fn existing_frames(&self) -> Result<Vec<i64>, IoError> {
        let Some(p) = &self.placeholder else {
            return Ok(if Path::new(&self.text).is_file() {
                vec![0]
            } else {
                vec![]
            });
        };
        let (dir, name_prefix) = split_dir(&self.text[..p.start]);
        let name_suffix = &self.text[p.end..];
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => return Err(IoError::ListDir { dir, source }),
        };
        let mut frames = BTreeSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(number) = name
                .strip_prefix(name_prefix.as_str())
                .and_then(|rest| rest.strip_suffix(name_suffix))
            else {
                continue;
            };
            if let Ok(frame) = number.parse::<i64>() {
                if format_frame(frame, p.padding) == number && entry.path().is_file() {
                    frames.insert(frame);
                }
            }
        }
        Ok(frames.into_iter().collect())
    }

    /// Checks every frame's file exists; the error names the first missing one.
    pub fn check_frames_exist(&self, frames: &[i64]) -> Result<(), IoError> {
        let missing: Vec<i64> = frames
            .iter()
            .copied()
            .filter(|&f| !self.path_for(f).is_file())
            .collect();
        let Some(&first) = missing.first() else {
            return Ok(());
        };
        let available = self
            .existing_frames()
            .map(|f| FrameList::from_frames(f).to_string())
            .unwrap_or_default();
        Err(IoError::MissingFrame {
            pattern: self.text.clone(),
            frame: first,
            path: self.path_for(first),
            missing_count: missing.len(),
            requested: frames.len(),
            missing_list: if missing.len() > 1 {
                FrameList::from_frames(missing).to_string()
            } else {
                String::new()
            },
            available,
        })
    }
}

impl fmt::Display for FramePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The frames to read for an input pattern: the requested ones (each must exist), or, with no
/// request, every frame on disk (at least one). A still yields the requested frames, or
/// frame 0 alone.
pub fn resolve_input_frames(
    pattern: &FramePattern,
    requested: Option<&FrameList>,
) -> Result<Vec<i64>, IoError> {
    let Some(p) = &pattern.placeholder else {
        // A still: one file, whatever the frames.
        let path = PathBuf::from(&pattern.text);
        if !path.is_file() {
            return Err(IoError::Open {
                path,
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        return Ok(requested.map_or(vec![0], |list| list.frames().to_vec()));
    };
    match requested {
        Some(list) => {
            pattern.check_frames_exist(list.frames())?;
            Ok(list.frames().to_vec())
        }
        None => {
            let frames = pattern.existing_frames()?;
            if frames.is_empty() {
                let (dir, _) = split_dir(&pattern.text[..p.start]);
                return Err(IoError::NoFrames {
                    pattern: pattern.text.clone(),
                    dir,
                });
            }
            Ok(frames)
        }
    }
}

fn format_frame(frame: i64, padding: usize) -> String {
    format!("{frame:0padding$}")
}

/// Splits "dir/name-prefix" into the directory (`.` if none) and the file-name prefix.
fn split_dir(before_placeholder: &str) -> (PathBuf, String) {
    match before_placeholder.rfind(['/', '\\']) {
        Some(i) => (
            PathBuf::from(if i == 0 {
                "/"
            } else {
                &before_placeholder[..i]
            }),
            before_placeholder[i + 1..].to_string(),
        ),
        None => (PathBuf::from("."), before_placeholder.to_string()),
    }
}

/// An ordered list of distinct frames, from a spec such as `1-48x2,60,100-102`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameList {
    frames: Vec<i64>,
}

/// Longest list a spec may expand to: a typo like `1-1000000000` must not allocate gigabytes.
const MAX_FRAMES: u64 = 10_000_000;

impl FrameList {
    /// Parses comma-separated items, each `N`, `A-B` (inclusive, A ≤ B) or `A-BxS` (every S-th
    /// frame from A). Frames may be negative (`-5--1`). Repeated frames are kept once, at their
    /// first position.
    pub fn parse(spec: &str) -> Result<FrameList, IoError> {
        let bad = |reason: String| IoError::BadFrameRange {
            spec: spec.to_string(),
            reason,
        };
        let mut frames = Vec::new();
        let mut seen = std::collections::HashSet::new();
        if spec.trim().is_empty() {
            return Err(bad("it is empty".into()));
        }
        for item in spec.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(bad("it has an empty item between commas".into()));
            }
            let (range, step) = match item.split_once(['x', 'X']) {
                Some((r, s)) => {
                    let step: i64 = s
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("step '{s}' in '{item}' is not a number")))?;
                    if step <= 0 {
                        return Err(bad(format!("step in '{item}' must be at least 1")));
                    }
                    (r.trim(), step)
                }
                None => (item, 1),
            };
            let (first, last) = parse_range(range)
                .ok_or_else(|| bad(format!("'{item}' is not a frame or a range A-B")))?;
            if first > last {
                return Err(bad(format!(
                    "'{item}' runs backwards; write {last}-{first}"
                )));
            }
            let count = ((last as i128 - first as i128) / step as i128 + 1) as u64;
            if count + frames.len() as u64 > MAX_FRAMES {
                return Err(bad(format!("it expands to more than {MAX_FRAMES} frames")));
            }
            let mut f = first;
            while f <= last {
                if seen.insert(f) {
                    frames.push(f);
                }
                match f.checked_add(step) {
                    Some(n) => f = n,
                    None => break,
                }
            }
        }
        Ok(FrameList { frames })
    }

    /// `first..=last` every `step` frames (`step` below 1 counts as 1).
    pub fn range(first: i64, last: i64, step: i64) -> FrameList {
        let step = step.max(1);
        let mut frames = Vec::new();
        let mut f = first;
        while f <= last {
            frames.push(f);
            match f.checked_add(step) {
                Some(n) => f = n,
                None => break,
            }
        }
        FrameList { frames }
    }

    /// A list of the given frames (sorted, duplicates removed).
    pub fn from_frames(frames: impl IntoIterator<Item = i64>) -> FrameList {
        let set: BTreeSet<i64> = frames.into_iter().collect();
        FrameList {
            frames: set.into_iter().collect(),
        }
    }

    pub fn frames(&self) -> &[i64] {
        &self.frames
    }
    pub fn len(&self) -> usize {
        self.frames.len()
    }
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// `A-B`, `N`, with optional leading minus signs on either number.
fn parse_range(s: &str) -> Option<(i64, i64)> {
    // The separating '-' is the first one that follows a digit.
    let bytes = s.as_bytes();
    let sep = (1..bytes.len()).find(|&i| bytes[i] == b'-' && bytes[i - 1].is_ascii_digit());
    let num = |t: &str| -> Option<i64> {
        let t = t.trim();
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    match sep {
        None => num(s).map(|n| (n, n)),
        Some(i) => Some((num(&s[..i])?, num(&s[i + 1..])?)),
    }
}

impl fmt::Display for FrameList {
    /// Compact form: consecutive frames as `A-B`, in list order (`1-5,7,9-10`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        let mut first = true;
        while i < self.frames.len() {
            let mut j = i;
            while j + 1 < self.frames.len() && self.frames[j + 1] == self.frames[j] + 1 {
                j += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if j == i {
                write!(f, "{}", self.frames[i])?;
            } else {
                write!(f, "{}-{}", self.frames[i], self.frames[j])?;
            }
            i = j + 1;
        }
        Ok(())
    }
}

impl std::str::FromStr for FrameList {
    type Err = IoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FrameList::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_give_padding_by_count() {
        let p = FramePattern::parse("out/plate.####.exr").unwrap();
        assert!(p.is_sequence());
        assert_eq!(p.padding(), 4);
        assert_eq!(p.path_for(7), PathBuf::from("out/plate.0007.exr"));
        assert_eq!(p.path_for(12345), PathBuf::from("out/plate.12345.exr"));
        assert_eq!(p.path_for(-3), PathBuf::from("out/plate.-003.exr"));
        let one = FramePattern::parse("f#.png").unwrap();
        assert_eq!(one.path_for(7), PathBuf::from("f7.png"));
        assert_eq!(one.path_for(12), PathBuf::from("f12.png"));
    }

    #[test]
    fn printf_patterns_match_printf() {
        let p = FramePattern::parse("a/b_%04d.tif").unwrap();
        assert_eq!(p.padding(), 4);
        assert_eq!(p.path_for(42), PathBuf::from("a/b_0042.tif"));
        // printf("%04d", -1) is "-001".
        assert_eq!(p.path_for(-1), PathBuf::from("a/b_-001.tif"));
        let d = FramePattern::parse("x.%d.png").unwrap();
        assert_eq!(d.path_for(5), PathBuf::from("x.5.png"));
        let pct = FramePattern::parse("100%%_%03d.png").unwrap();
        assert_eq!(pct.path_for(5), PathBuf::from("100%_005.png"));
    }

    #[test]
    fn placeholders_in_directories_are_literal_and_stills_are_allowed() {
        let p = FramePattern::parse("shots/#12/plate.png").unwrap();
        assert!(!p.is_sequence());
        assert_eq!(p.path_for(3), PathBuf::from("shots/#12/plate.png"));
    }

    #[test]
    fn bad_patterns_are_rejected_with_the_fix() {
        for bad in [
            "a.####.####.exr",
            "a.%04d.%04d.exr",
            "a.##.%02d.exr",
            "a.%s.exr",
            "a.%4d.exr",
            "a.%.exr",
        ] {
            let e = FramePattern::parse(bad).unwrap_err();
            assert!(matches!(e, IoError::BadPattern { .. }), "{bad}");
            let msg = e.to_string();
            assert!(msg.contains(bad) && msg.contains("%04d"), "{msg}");
        }
    }

    #[test]
    fn frame_lists_expand_as_written() {
        let f = |s: &str| FrameList::parse(s).unwrap().frames().to_vec();
        assert_eq!(f("12"), vec![12]);
        assert_eq!(f("1-5"), vec![1, 2, 3, 4, 5]);
        assert_eq!(f("1-10x3"), vec![1, 4, 7, 10]);
        assert_eq!(f("1-11x3"), vec![1, 4, 7, 10]);
        assert_eq!(f("1,3,5-7"), vec![1, 3, 5, 6, 7]);
        assert_eq!(f(" 3 , 1 "), vec![3, 1]);
        assert_eq!(f("1-3,2-4"), vec![1, 2, 3, 4]);
        assert_eq!(f("-2-1"), vec![-2, -1, 0, 1]);
        assert_eq!(f("-5--3"), vec![-5, -4, -3]);
        assert_eq!(f("1-48").len(), 48);
        assert_eq!(f("1-48x2").len(), 24);
        assert_eq!(
            FrameList::range(1, 48, 2),
            FrameList::parse("1-48x2").unwrap()
        );
        assert_eq!(FrameList::range(3, 2, 1).len(), 0);
    }

    #[test]
    fn bad_frame_lists_say_what_is_wrong() {
        for (spec, needle) in [
            ("", "empty"),
            ("1,,2", "empty item"),
            ("10-1", "write 1-10"),
            ("1-10x0", "at least 1"),
            ("1-10x-2", "at least 1"),
            ("a-b", "not a frame"),
            ("1-2-3", "not a frame"),
            ("1-10xq", "not a number"),
            ("0-100000000", "more than"),
        ] {
            let e = FrameList::parse(spec).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, IoError::BadFrameRange { .. }), "{spec}");
            assert!(msg.contains(needle), "{spec}: {msg}");
            assert!(msg.contains("1-48x2"), "{msg}");
        }
    }

    #[test]
    fn frame_lists_print_compactly() {
        let l = FrameList::from_frames([7, 1, 2, 3, 9, 10, 3]);
        assert_eq!(l.frames(), &[1, 2, 3, 7, 9, 10]);
        assert_eq!(l.to_string(), "1-3,7,9-10");
        let round: FrameList = l.to_string().parse().unwrap();
        assert_eq!(round, l);
    }
}
