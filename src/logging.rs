//! The plugin's log: a file, never the host's stdout (hosts such as Resolve treat plugin output
//! on stdout as noise, and users can send a file with a bug report).
//! `PLATERESTORE_LOG` = error|warn|info|debug|trace (default warn); `PLATERESTORE_LOG_FILE`
//! overrides the path (default: `platerestore.log` in the system temp directory).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, Once};

struct FileLogger {
    file: Mutex<Option<File>>,
    level: log::LevelFilter,
}

impl log::Log for FileLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }
    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Ok(mut guard) = self.file.lock() else {
            return;
        };
        if let Some(f) = guard.as_mut() {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let _ = writeln!(
                f,
                "{secs} {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }
    fn flush(&self) {
        if let Ok(mut g) = self.file.lock() {
            if let Some(f) = g.as_mut() {
                let _ = f.flush();
            }
        }
    }
}

pub fn log_path() -> PathBuf {
    std::env::var_os("PLATERESTORE_LOG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("platerestore.log"))
}

fn level_from_env() -> log::LevelFilter {
    match std::env::var("PLATERESTORE_LOG").as_deref() {
        Ok("off") => log::LevelFilter::Off,
        Ok("error") => log::LevelFilter::Error,
        Ok("info") => log::LevelFilter::Info,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("trace") => log::LevelFilter::Trace,
        _ => log::LevelFilter::Warn,
    }
}

/// Installs the file logger once per process. If the host process already has a logger for
/// this copy of `log` (tests, the rlib linked into a tool), that one is kept.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let level = level_from_env();
        let file = if level == log::LevelFilter::Off {
            None
        } else {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_path())
                .ok()
        };
        let logger = Box::new(FileLogger {
            file: Mutex::new(file),
            level,
        });
        if log::set_boxed_logger(logger).is_ok() {
            log::set_max_level(level);
        }
    });
}
