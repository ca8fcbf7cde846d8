//! The simulated Azure: an HTTP server on 127.0.0.1 that implements the same API contract as
//! ARM for security connectors, DevOps resources, Resource Graph and Support. Never imported by
//! `engine`, `steps` or `azure`: they only ever see a URL.
//!
//! Entry point: [`start`] with a [`SimConfig`] returns a [`RunningSim`] (its URL, direct access
//! to the state for tests, and a clean [`RunningSim::shutdown`] that persists `--state FILE`).
//! Layout: `model` (the cloud's data), `tenant` (small / large / files), `server` (HTTP plumbing:
//! throttling, faults, request log, errors, routing), `arm` (connectors and DevOps), `graph`
//! (Resource Graph), `support` (the support desk), `control` (the `/_sim/` test API), and the
//! sans-IO `kql`, `throttle` and `faults` they use.

mod arm;
mod control;
pub mod faults;
mod graph;
pub mod kql;
pub mod model;
mod server;
mod support;
pub mod tenant;
pub mod throttle;

pub use server::{
    start, LogEntry, RunningSim, Shared, SimClock, SimConfig, SimError, TenantSource,
};
