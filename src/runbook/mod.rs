//! Runbooks: YAML in, a validated [`Plan`] out. No IO beyond reading the file (or the
//! runbooks built into the binary).
//!
//! - [`load`] / [`load_str`]: parse with serde-saphyr into a position-carrying tree ([`yaml`]),
//!   validate everything, and report every problem as `path:line:col: message (hint)`.
//! - [`builtin`]: the runbooks embedded in the binary, and how a runbook argument resolves
//!   (an existing file wins, else a built-in name).
//! - [`template`]: handlebars (strict) over params, upstream outputs, `item` and `run`.
//! - [`graph`]: petgraph DAG, deterministic topological order, DOT and Mermaid export.
//! - [`limits`]: the bounds on durations, poll intervals and template nesting.

pub mod builtin;
pub mod diag;
pub mod graph;
pub mod limits;
mod load;
pub mod model;
pub mod template;
pub mod yaml;

pub use diag::{Diagnostic, LoadError};
pub use load::{
    load, load_for_graph, load_str, load_str_for_graph, parse_param_value, parse_set,
    read_resolved, valid_param_name, valid_step_id, DEFAULT_CONCURRENCY,
};
pub use model::*;
