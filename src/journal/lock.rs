//! The exclusive lock of one run, so two processes never drive the same run.
//!
//! An OS advisory lock (`fd-lock`, flock on Unix) on `<run-dir>/lock`, held for as long as the
//! [`RunLock`] lives; the OS releases it when the process dies, even by SIGKILL, so a crash never
//! leaves a stale lock. The holder writes who it is (host, pid, since) into the file so a second
//! process can name it in its error.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const LOCK_FILE: &str = "lock";

/// Who holds a run's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub host: String,
    pub pid: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since =
            self.since.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        write!(f, "pid {} on host {} since {since}", self.pid, self.host)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("run {run} is locked by {}", holder.as_ref().map(|h| h.to_string()).unwrap_or_else(|| "another process".into()))]
    Held { run: String, holder: Option<LockHolder> },
    #[error("cannot lock {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock of one run. Dropping it closes the file, which releases the lock.
#[derive(Debug)]
pub struct RunLock {
    // The guard is forgotten on purpose: the flock lives as long as this open file description,
    // so closing the file (on drop, or when the process dies) releases it.
    _lock: Box<fd_lock::RwLock<File>>,
    /// The descriptor `_lock` owns, for the explicit unlock on drop.
    fd: std::os::fd::RawFd,
}

impl RunLock {
    /// Takes the lock of the run in `run_dir` without waiting; `Held` names the holder.
    pub fn acquire(
        run_dir: &Path,
        run_id: &str,
        now: OffsetDateTime,
    ) -> Result<RunLock, LockError> {
        let path = run_dir.join(LOCK_FILE);
        let io = |source| LockError::Io { path: path.clone(), source };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let mut lock = Box::new(fd_lock::RwLock::new(file));
        match lock.try_write() {
            Ok(mut guard) => {
                let holder = LockHolder { host: host_name(), pid: std::process::id(), since: now };
                let text = serde_json::to_string(&holder).unwrap_or_default();
                let f: &mut File = &mut guard;
                f.set_len(0).map_err(io)?;
                f.seek(SeekFrom::Start(0)).map_err(io)?;
                f.write_all(text.as_bytes()).map_err(io)?;
                std::mem::forget(guard);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // The holder writes its info right after locking: give it a moment to appear.
                // Until it does, the file may still name an earlier holder that died without
                // clearing it (killed): info naming a process of this host that no longer runs
                // is stale, so wait for the live holder's (up to a second).
                let mut holder = read_holder(&path);
                for _ in 0..100 {
                    if holder.as_ref().is_some_and(|h| !is_stale(h)) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    holder = read_holder(&path);
                }
                return Err(LockError::Held { run: run_id.to_string(), holder });
            }
            Err(e) => return Err(io(e)),
        }
        Ok(RunLock { _lock: lock, fd })
    }
}

impl Drop for RunLock {
    /// Releases the lock explicitly before the file closes. Closing alone is not enough: a
    /// process forked by another thread of this process (a test harness, a `--notify` helper)
    /// briefly holds a copy of every descriptor until it execs, and a flock lives as long as any
    /// copy of its open file description does, so the next `acquire` in this process could find
    /// the run "held" by itself.
    fn drop(&mut self) {
        // SAFETY: `self.fd` is the descriptor `_lock` owns, still open here (fields drop after
        // this body); LOCK_UN on it has no other effect.
        unsafe {
            libc::flock(self.fd, libc::LOCK_UN);
        }
    }
}

/// Whether `h` names a process of this host that no longer runs (a holder killed before it could
/// release its lock leaves its info behind; the next holder overwrites it right after locking).
fn is_stale(h: &LockHolder) -> bool {
    if h.host != host_name() {
        return false;
    }
    let Ok(pid) = libc::pid_t::try_from(h.pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Reads the holder info of a lock file, if any (it is advisory: the holder may have just died).
pub fn read_holder(path: &Path) -> Option<LockHolder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// This machine's host name, for lock holders and journal headers.
pub fn host_name() -> String {
    hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_of_a_dead_holder_of_this_host_is_stale() {
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let h = |host: String, pid: u32| LockHolder { host, pid, since: now };
        assert!(is_stale(&h(host_name(), dead)));
        assert!(!is_stale(&h(host_name(), std::process::id())));
        assert!(!is_stale(&h("elsewhere".into(), dead)), "another host's process is not checked");
    }

    #[test]
    fn second_lock_names_the_holder_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let t = OffsetDateTime::UNIX_EPOCH;
        let first = RunLock::acquire(dir.path(), "r1", t).unwrap();
        let err = RunLock::acquire(dir.path(), "r1", t).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        drop(first);
        RunLock::acquire(dir.path(), "r1", t).unwrap();
    }

    #[test]
    fn drop_releases_even_while_a_forked_child_holds_a_copy_of_the_descriptor() {
        // What made a concurrent test flaky: another thread forks (to spawn a process), the
        // child holds copies of our descriptors until it execs, and closing ours alone did not
        // release the flock. The child here never execs: it sleeps, then exits.
        let dir = tempfile::tempdir().unwrap();
        let t = OffsetDateTime::UNIX_EPOCH;
        let first = RunLock::acquire(dir.path(), "r1", t).unwrap();
        // SAFETY: the child calls only async-signal-safe functions (usleep, _exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            unsafe {
                libc::usleep(2_000_000);
                libc::_exit(0);
            }
        }
        drop(first);
        let again = RunLock::acquire(dir.path(), "r1", t);
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        again.expect("the lock is free once its holder dropped it");
    }
}
