//! Files only the node's user may read: the data directory (0700), the key and the operator
//! token (0600), written atomically so a crash leaves the old file or the new one, never half.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the data directory: its database, key and token are the node's alone.
const DIR_MODE: u32 = 0o700;
/// Mode of the key and token files.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` if needed and makes it 0700 (a directory left readable by others is tightened,
/// and said so).
pub fn secure_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    tighten(dir, DIR_MODE)
}

/// Writes `contents` to `path` (mode 0600) through a temporary file, fsynced and renamed into
/// place, the directory fsynced after.
pub fn write(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    // A leftover from a crash mid-write: it never became the file, so it goes.
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Reads a secret file, first making it 0600 if others could read it.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    tighten(path, FILE_MODE)?;
    fs::read(path)
}

/// Removes the permission bits outside `mode` (group and other), logging when it had to.
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(current & mode))?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{current:o}"),
            now = format!("{:o}", current & mode),
            "made a node secret private to its user"
        );
    }
    Ok(())
}
