//! Integration tests of the engine, the journal, the runner and the run commands.
//!
//! - `machine`: the sans-IO engine driven with plain data (retries, timeouts, fan-out, gates,
//!   concurrency, the transition table's coverage, replay).
//! - `journal`: torn lines, corruption, format versions, locks, secrets.
//! - `durable`: the library driver with a manual clock (a 3-day wait across a restart, guarded
//!   re-entry, secrets in outputs).
//! - `crash`: SIGKILL of the real binary at 100 points, then resume; concurrent resumes.
//! - `defects`: issue 11: crafted (re-chained) journals and huge durations are errors naming
//!   their line, never panics, and one unreadable run never hides the others.
//! - `redaction`: secrets inside strings (prompts, errors, step ids, fan-out lists) and
//!   commands on fanned-out steps, through the real binary.
//! - `inbox`: issue 15: approvals from another process through the run's inbox, with the
//!   Azure identity of each person (the simulator's token endpoint) and four-eyes gates.
//! - `status`: what `lifeboat status` shows a person (branch labels, "Needs you now",
//!   connectors, local times) and its JSON schema; labels as command input.
//! - `watch`: following a growing journal (`engine::replay::Watcher`: appended entries only,
//!   lines still being written, truncation and rewrites, tampering) and the fast replay of
//!   `runner::load` against the reference path.

mod common;
mod crash;
mod defects;
mod durable;
mod inbox;
mod journal;
mod machine;
mod redaction;
mod status;
mod watch;
