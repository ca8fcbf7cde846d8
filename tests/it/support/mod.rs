//! Helpers every area of the integration tests shares, written once.
//!
//! - `cli`: the `lifeboat` binary with a clean environment (nothing of the developer's or the CI
//!   agent's Azure or lifeboat settings, no `~/.config/lifeboat/config.toml`), run off the async
//!   runtime, its output as text, where a run's files are.
//! - `sim`: the in-process simulated Azure (start, the quiet configuration the recovery and step
//!   tests use, its control API) and ARM clients connected to it.
//! - `stub`: a programmable ARM stand-in on 127.0.0.1 that records every request.
//! - `faultproxy`: a TCP proxy for HTTP/1.1 that drops (before or after forwarding) and delays a
//!   seeded share of requests, and counts what it did (faults between lifeboat and Azurite).
//! - `validators`: the external validators (Nu HTML Checker, xmllint), skipped with a note
//!   outside CI and required in CI.
//! - `browser`: headless Chromium (DOM dump, screenshot, PNG decoding), skipped loudly outside CI
//!   when absent and required in CI.
//!
//! An area keeps its own helpers where they are its own (a scenario, a world, a harness); it
//! builds them on these.

use std::path::PathBuf;

pub mod browser;
pub mod cli;
pub mod faultproxy;
pub mod sim;
pub mod stub;
pub mod validators;

/// The repository root (tests run with it as working directory, but say it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
