//! Issue 15, item 1: the runbooks built into the binary. A runbook argument resolves to an
//! existing file first, else to a built-in name (with or without `.yaml`), else exit 2 naming
//! the built-ins; `lifeboat runbooks list | show | export`. Every command here runs in an empty
//! directory, as a responder with only the binary would. (The recovery run by name, resumed from
//! another directory, is `recovery::builtin`.)

mod commands;
mod resolve;

use std::path::Path;
use std::process::Output;

/// `lifeboat ARGS` in `cwd` with a clean environment.
pub fn lifeboat_in(cwd: &Path, args: &[&str]) -> Output {
    crate::support::cli::lifeboat().current_dir(cwd).args(args).output().expect("lifeboat runs")
}

/// stdout of a command that must succeed.
pub fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::cli::text(out));
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

/// stderr of a command that must exit 2.
pub fn usage(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", crate::support::cli::text(out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub const REGIONS: [&str; 4] =
    ["--set", "failed_region=westeurope", "--set", "target_region=northeurope"];
