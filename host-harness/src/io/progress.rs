//! Progress of a sequence render on stderr: frames done / total, frames per second and the time
//! left. One line redrawn in place on a terminal; plain lines (one per frame) in logs, where a
//! carriage-return animation would be unreadable; nothing in quiet mode.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A live line on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// One line redrawn in place.
    Live,
    /// One line per frame.
    Lines,
    /// Nothing.
    Quiet,
}

pub struct Progress {
    total: usize,
    done: usize,
    started: Instant,
    live: bool,
    quiet: bool,
    last_drawn: Option<Instant>,
    out: Box<dyn Write + Send>,
}

/// A terminal is redrawn at most this often; more is flicker, not information.
const LIVE_REDRAW: Duration = Duration::from_millis(100);

impl Progress {
    /// A reporter for `total` frames writing to stderr.
    pub fn new(total: usize, mode: ProgressMode) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let live = match mode {
            ProgressMode::Auto => tty,
            ProgressMode::Live => true,
            ProgressMode::Lines | ProgressMode::Quiet => false,
        };
        Progress::build(total, live, mode, Box::new(std::io::stderr()))
    }

    /// A reporter writing to any sink (tests, log files). `Auto` means plain lines here: the
    /// sink is not known to be a terminal.
    pub fn with_writer(total: usize, mode: ProgressMode, out: Box<dyn Write + Send>) -> Progress {
        Progress::build(total, mode == ProgressMode::Live, mode, out)
    }

    fn build(total: usize, live: bool, mode: ProgressMode, out: Box<dyn Write + Send>) -> Progress {
        Progress {
            total,
            done: 0,
            started: Instant::now(),
            live,
            quiet: mode == ProgressMode::Quiet,
            last_drawn: None,
            out,
        }
    }

    pub fn done(&self) -> usize {
        self.done
    }
    pub fn total(&self) -> usize {
        self.total
    }

    /// Records one finished frame and reports it.
    pub fn frame_done(&mut self, frame: i64) {
        self.done += 1;
        let now = Instant::now();
        let elapsed = now.duration_since(self.started);
        if self.quiet {
            return;
        }
        let line = status_line(Some(frame), self.done, self.total, elapsed);
        // Output errors (a closed pipe) must never stop a render: ignore them.
        if self.live {
            let last = self.done >= self.total;
            let due = self
                .last_drawn
                .is_none_or(|t| now.duration_since(t) >= LIVE_REDRAW);
            if due || last {
                // \r + "erase line" keeps one line however long the previous one was.
                let _ = write!(self.out, "\r\x1b[2K{line}");
                let _ = self.out.flush();
                self.last_drawn = Some(now);
            }
        } else {
            let _ = writeln!(self.out, "{line}");
        }
    }

    /// Ends the live line (so later output starts on a fresh line) and prints a summary.
    pub fn finish(&mut self) {
        if self.quiet {
            return;
        }
        let elapsed = self.started.elapsed();
        if self.live {
            let _ = writeln!(self.out);
        }
        let _ = writeln!(
            self.out,
            "{} of {} frames in {} ({})",
            self.done,
            self.total,
            format_duration(elapsed),
            fps_text(self.done, elapsed)
        );
        let _ = self.out.flush();
    }
}

fn fps_text(done: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if done == 0 || secs <= 0.0 {
        return "-- fps".into();
    }
    let fps = done as f64 / secs;
    if fps >= 10.0 {
        format!("{fps:.0} fps")
    } else if fps >= 0.1 {
        format!("{fps:.2} fps")
    } else {
        format!("{:.1} s/frame", secs / done as f64)
    }
}

/// `frame 12: 12/48 (25%), 3.20 fps, ETA 0:11`. The ETA assumes the remaining frames take
/// the average time of those done so far.
pub(crate) fn status_line(
    frame: Option<i64>,
    done: usize,
    total: usize,
    elapsed: Duration,
) -> String {
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    let eta = if done == 0 {
        "--".to_string()
    } else {
        let left = total.saturating_sub(done) as f64 * elapsed.as_secs_f64() / done as f64;
        format_duration(Duration::from_secs_f64(left))
    };
    let head = match frame {
        Some(f) => format!("frame {f}: "),
        None => String::new(),
    };
    format!(
        "{head}{done}/{total} ({pct}%), {}, ETA {eta}",
        fps_text(done, elapsed)
    )
}

/// `m:ss` below an hour, `h:mm:ss` above, rounded to the nearest second.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn status_reports_rate_and_time_left() {
        // 12 of 48 frames in 4 s: 3 fps, 36 frames left at 1/3 s each = 12 s.
        let s = status_line(Some(12), 12, 48, Duration::from_secs(4));
        assert_eq!(s, "frame 12: 12/48 (25%), 3.00 fps, ETA 0:12");
        let s = status_line(None, 1, 100, Duration::from_secs(90));
        assert!(s.ends_with("ETA 2:28:30"), "{s}");
        assert!(s.contains("90.0 s/frame"), "{s}");
        assert!(status_line(None, 0, 5, Duration::ZERO).contains("ETA --"));
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(format_duration(Duration::from_millis(400)), "0:00");
        assert_eq!(format_duration(Duration::from_secs(61)), "1:01");
        assert_eq!(format_duration(Duration::from_secs(3600 + 62)), "1:01:02");
    }

    #[test]
    fn plain_mode_writes_one_line_per_frame() {
        let sink = Sink::default();
        let mut p = Progress::with_writer(3, ProgressMode::Lines, Box::new(sink.clone()));
        for f in 1..=3 {
            p.frame_done(f);
        }
        p.finish();
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("frame 1: 1/3 (33%)"));
        assert!(lines[2].starts_with("frame 3: 3/3 (100%)"));
        assert!(lines[3].starts_with("3 of 3 frames in"));
        assert!(!text.contains('\r'));
    }

    #[test]
    fn live_mode_redraws_one_line_and_always_shows_the_last_frame() {
        let sink = Sink::default();
        let mut p = Progress::with_writer(50, ProgressMode::Live, Box::new(sink.clone()));
        for f in 0..50 {
            p.frame_done(f);
        }
        let text = sink.text();
        // Frames arrive faster than the redraw interval: far fewer draws than frames, but the
        // final state is always drawn.
        assert!(text.matches('\r').count() < 50, "{text:?}");
        assert!(text.matches('\r').count() >= 2, "{text:?}");
        let last_draw = text.rsplit('\r').next().unwrap();
        assert!(
            last_draw.starts_with("\x1b[2Kframe 49: 50/50 (100%)"),
            "{last_draw:?}"
        );
        assert!(!text.contains('\n'));
        p.finish();
        let text = sink.text();
        assert!(text.contains("ETA 0:00\n50 of 50 frames in"), "{text:?}");
    }

    #[test]
    fn quiet_mode_prints_nothing() {
        let sink = Sink::default();
        let mut p = Progress::with_writer(2, ProgressMode::Quiet, Box::new(sink.clone()));
        p.frame_done(1);
        p.finish();
        assert_eq!(p.done(), 1);
        assert_eq!(sink.text(), "");
    }
}
