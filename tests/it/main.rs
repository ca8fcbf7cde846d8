//! The integration tests: one binary (`cargo test --test it`), one module per area.
//!
//! Each area was once a test binary of its own; it keeps its module name, so a test's path says
//! where it lives (`recovery::rg::...`, `sim::flows::...`) and `cargo test --test it recovery::`
//! runs one area. One binary links the crate once instead of twelve times. What the areas share
//! (the `lifeboat` binary with a clean environment, the simulator and clients on it, the
//! 127.0.0.1 stub server, the external validators) is in `support`, written once.
//!
//! To add a test: put it in the module of its area (a new file is a `mod` line in that area's
//! `mod.rs`); a new area is a directory here and a `mod` line below. Nothing goes directly under
//! `tests/` (`Cargo.toml` has `autotests = false`: it would not be built; `layout` fails on it,
//! and on a file without its `mod` line). Fixtures stay in `tests/fixtures/`; insta snapshots sit
//! in a `snapshots/` directory next to the module that asserts them, named
//! `it__<area>__<module>__<name>.snap`.

mod support;

mod audit;
mod azure;
mod backup;
mod backup_sim;
mod builtin;
mod devops_steps;
mod docs;
mod drill;
mod engine;
mod guided;
mod layout;
mod recovery;
mod report;
mod runbook;
mod runstore;
mod sim;
