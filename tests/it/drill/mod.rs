//! Integration tests of `lifeboat drill`, through the real binary: the default simulated drill
//! end to end (summary, report.json against the shipped schema, report.html and JUnit through the
//! same validators as `tests/report`), every scenario, a failed target, bad flags, the history,
//! and the live drill against the simulator standing in for Azure (no write to production, the
//! cleanup after an interruption). One binary for the area.

mod live;
mod microsoft_side;
mod simulated;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// True when running in CI (`CI` set to anything but empty, `0` or `false`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// An external validator (`var`, else `fallback` on PATH); skipped with a note outside CI.
pub fn validator(var: &str, fallback: Option<&str>) -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    if let Some(name) = fallback {
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                if dir.join(name).is_file() {
                    return Some(dir.join(name));
                }
            }
        }
    }
    assert!(!in_ci(), "{var} is unset in CI (run `.ci/validators.sh install`)");
    eprintln!("note: {var} is unset: skipping this external validation");
    None
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, with a clean environment for the options it reads.
pub fn lifeboat(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    for v in [
        "LIFEBOAT_ARM_ENDPOINT",
        "LIFEBOAT_AUTH",
        "LIFEBOAT_BACKUP_STORE",
        "LIFEBOAT_DRILL_FAILPOINT",
    ] {
        c.env_remove(v);
    }
    c.arg("--state-dir").arg(state);
    c
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}
