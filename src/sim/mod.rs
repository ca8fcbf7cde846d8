//! The simulated Azure: an HTTP server on 127.0.0.1 that implements the same API contract as
//! ARM for security connectors, DevOps resources, Resource Graph and Support. Never imported by
//! `engine`, `steps` or `azure`: they only ever see a URL.
//!
//! Entry point: [`start`] with a [`SimConfig`] returns a [`RunningSim`] (its URL, direct access
//! to the state for tests, and a clean [`RunningSim::shutdown`] that persists `--state FILE`).
//! Layout: `model` (the cloud's data), `tenant` (small / large / files), `server` (HTTP plumbing:
//! throttling, faults, request log, errors, routing), `arm` (connectors and DevOps), `groups`
//! (resource groups, and what a group's state and region do to its resources), `graph`
//! (Resource Graph), `support` (the support desk), `control` (the `/_sim/` test API), `authz`
//! (role assignments, the permissions API, `AuthorizationFailed` on writes), `entra` (the Entra
//! ID token endpoint and its principals), `locations` (where a DevOps connector may be
//! created), `storage` (storage accounts: where a run or backup store lives), and the
//! sans-IO `kql`, `throttle` and `faults` they use. For API change: `versions` (served
//! api-versions per family and ARM's refusals), `schema` (what ARM ignores on a write, what
//! each api-version introduced), `lro` (the shapes of a long-running answer), `reject` (stored
//! values Azure refuses) and `drift` (unknown fields and enum values at every level).

mod arm;
pub mod authz;
mod control;
pub mod drift;
pub mod entra;
pub mod faults;
mod graph;
pub mod groups;
pub mod kql;
pub mod locations;
pub mod lro;
pub mod model;
pub mod reject;
pub mod schema;
mod server;
pub mod storage;
mod support;
pub mod tenant;
pub mod throttle;
pub mod versions;

pub use lro::LroShape;
pub use server::{
    start, LogEntry, RunningSim, Shared, SimClock, SimConfig, SimError, TenantSource,
    DEFAULT_RECREATION_DELAY,
};
