//! Integration tests of `lifeboat drill`, through the real binary: the default simulated drill
//! end to end (summary, report.json against the shipped schema, report.html and JUnit through the
//! same validators as `report`), every scenario, a failed target, bad flags, the history,
//! and the live drill against the simulator standing in for Azure (no write to production, the
//! cleanup after an interruption).

mod from_backup;
mod honest;
mod live;
mod microsoft_side;
mod notify;
mod simulated;

pub use crate::support::cli::text;
pub use crate::support::repo;
pub use crate::support::validators::validator;
use std::path::Path;
use std::process::Command;

/// The binary with a clean environment and a state directory.
pub fn lifeboat(state: &Path) -> Command {
    let mut c = crate::support::cli::lifeboat();
    c.arg("--state-dir").arg(state);
    c
}
