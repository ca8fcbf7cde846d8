//! Runbooks: YAML in, a validated [`Plan`] out. No IO beyond reading the file.
//!
//! Owned by the runbook work item: `load` (parse with serde-saphyr, validate with file, line,
//! column and a hint for every error), `template` (handlebars over params and upstream outputs),
//! `graph` (petgraph DAG, topological order, DOT and Mermaid export).

pub mod model;
pub mod template;
pub mod yaml;

pub use model::*;
