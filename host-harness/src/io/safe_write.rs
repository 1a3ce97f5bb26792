//! Writing an output file so that a crash, a full disk or an encoder error never leaves a
//! half-written frame where a good one was: write a temporary file in the same directory, fsync
//! it, then rename it over the target (atomic on one file system).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::IoError;

/// Distinguishes temporary names of concurrent writers within one process (the process id
/// distinguishes processes, e.g. farm nodes sharing a directory).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The prefix of every temporary file, so leftovers of a killed process are easy to recognise.
pub const TEMP_PREFIX: &str = ".ofxrun-tmp-";

/// Removes the temporary file unless the write was committed, on every exit path (errors and
/// panics alike).
struct TempGuard {
    path: PathBuf,
    committed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the file may never have been created, or already be gone.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates `path`'s parent directories.
pub fn ensure_parent_dir(path: &Path) -> Result<(), IoError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            fs::create_dir_all(dir).map_err(|source| IoError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Writes `path` through `write_body`, atomically: the target either keeps its old content or
/// gets the complete new content. Missing directories are created. Without `overwrite` an
/// existing target is an error (checked before any work, and again at the final link so two
/// writers racing for one name cannot both win).
pub fn write_atomically<F>(path: &Path, overwrite: bool, write_body: F) -> Result<(), IoError>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<(), IoError>,
{
    if !overwrite && path.symlink_metadata().is_ok() {
        return Err(IoError::OutputExists {
            path: path.to_path_buf(),
        });
    }
    ensure_parent_dir(path)?;
    let wr = |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    };

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The target's name (shortened: file names are limited to 255 bytes and the prefix
    // needs room) keeps leftovers of a killed process recognisable.
    let file_name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(120).collect())
        .unwrap_or_default();
    let temp_path = dir.join(format!(
        "{TEMP_PREFIX}{}-{}-{file_name}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut guard = TempGuard {
        path: temp_path.clone(),
        committed: false,
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp_path)
        .map_err(wr)?;
    let mut writer = BufWriter::new(file);
    write_body(&mut writer)?;
    writer.flush().map_err(wr)?;
    let file = writer.into_inner().map_err(|e| wr(e.into_error()))?;
    file.sync_all().map_err(wr)?;
    drop(file);

    if overwrite {
        fs::rename(&temp_path, path).map_err(wr)?;
    } else {
        // A hard link fails if the target appeared meanwhile, which a rename would clobber.
        match fs::hard_link(&temp_path, path) {
            Ok(()) => {
                // The target is in place; the temporary name is just a second link to it.
                let _ = fs::remove_file(&temp_path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(IoError::OutputExists {
                    path: path.to_path_buf(),
                });
            }
            // File systems without hard links: fall back to check-then-rename.
            Err(_) => {
                if path.symlink_metadata().is_ok() {
                    return Err(IoError::OutputExists {
                        path: path.to_path_buf(),
                    });
                }
                fs::rename(&temp_path, path).map_err(wr)?;
            }
        }
    }
    guard.committed = true;
    sync_dir(&dir);
    Ok(())
}

/// Makes the rename itself durable. Best effort: not every platform can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
