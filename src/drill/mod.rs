//! The drill's outputs: the [`report::DrillReport`] data model (schema `lifeboat/drill-report/v1`,
//! documented in `docs/drill-report.md`), its renderings (JSON, HTML, JUnit XML, terminal summary)
//! and the per-state-dir drill [`history`].
//!
//! The orchestration that runs a drill (simulator, outage, runbook, verification) builds a
//! `DrillReport` and hands it to these functions; nothing here runs a drill, calls Azure or reads
//! the clock: every time in a report is an input.

pub mod history;
pub mod report;
