//! File-system helpers shared by every writer of whole files (drill reports, the drill history,
//! support requests). A leaf: it imports nothing from the crate.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` so that a reader (a pipeline's artifact upload, a browser, a later
/// lifeboat) sees the old file or the whole new one, never half of it, and the new one survives
/// a crash once this returns: a temporary sibling with a name unique to this process and call
/// (created, never reused), written, fsync'd, renamed over `path`, then the directory fsync'd so
/// the rename is durable. The directory must exist. Errors name the file and the step that
/// failed; the temporary file is removed on failure.
///
/// The directory's fsync is best effort, as everywhere in lifeboat: some file systems refuse to
/// fsync a directory, and by then the file is complete under its final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp_sibling(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        with_path(e, "rename into place", path)
    })?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let _ = File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

/// `bytes` in a new temporary sibling of `path` (a name unique to this process and call,
/// created, never reused), fsync'd; removed again on failure. The first half of
/// [`write_atomic`] and [`write_new`], which differ only in how the file takes its name.
fn write_temp_sibling(path: &Path, bytes: &[u8]) -> io::Result<std::path::PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name =
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(|e| with_path(e, "write", &tmp));
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes a new file at `path`, never replacing one: the bytes go to a temporary sibling
/// (created, never reused), fsync'd, then hard-linked to `path`, which fails with
/// `AlreadyExists` if `path` exists; then the temporary name is removed and the directory
/// fsync'd. A reader sees no file or the whole file; once this returns it survives a crash.
/// The directory must exist.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp_sibling(path, bytes)?;
    let linked = std::fs::hard_link(&tmp, path).map_err(|e| with_path(e, "create", path));
    let _ = std::fs::remove_file(&tmp);
    linked?;
    sync_dir_of(path);
    Ok(())
}

/// Moves the file `from` into the directory `to_dir` (created if missing) under its own name,
/// then fsyncs both directories (best effort), so the move survives a crash.
pub fn move_into(from: &Path, to_dir: &Path) -> io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(to_dir).map_err(|e| with_path(e, "create", to_dir))?;
    let name = from.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{} has no name", from.display()))
    })?;
    let to = to_dir.join(name);
    std::fs::rename(from, &to).map_err(|e| with_path(e, "move", from))?;
    sync_dir_of(&to);
    sync_dir_of(from);
    Ok(to)
}

/// fsyncs the directory holding `path` (best effort).
fn sync_dir_of(path: &Path) {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let _ = File::open(dir).and_then(|d| d.sync_all());
}

/// `io::Error` of the same kind, saying what was done to which file.
pub fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        write_atomic(&path, b"one").expect("first write");
        write_atomic(&path, b"two").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("report.json")]);
    }

    #[test]
    fn write_new_never_replaces_a_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.json");
        write_new(&path, b"one").expect("first write");
        let e = write_new(&path, b"two").expect_err("exists");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), b"one");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r.json")]);
        let moved = move_into(&path, &dir.path().join("done")).expect("move");
        assert_eq!(std::fs::read(moved).expect("read"), b"one");
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("absent").join("x.md");
        let e = write_atomic(&path, b"x").expect_err("no directory");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("x.md.tmp-"), "{e}");
        assert!(!dir.path().join("absent").exists());
    }
}
