//! The drill: rehearsing the recovery of a lost connector and measuring it.
//!
//! - [`simulated`]: the default drill, a whole region outage against the embedded simulator.
//! - [`live`]: `--live`, seed 000's rehearsal with a second connector next to production.
//! - [`cleanup`]: the live drill's write guard and cleanup ledger (`--cleanup RUN_ID`).
//! - [`scenario`]: what each `--scenario` changes (faults, throttling, interruptions, tampering).
//! - [`report`]: the [`report::DrillReport`] data model (schema `lifeboat/drill-report/v1`,
//!   documented in `docs/drill-report.md`) and its renderings (JSON, HTML, JUnit XML, summary);
//!   it runs nothing and reads no clock: every time in a report is an input.
//! - [`history`]: the per-state-dir drill history.
//! - [`shared`]: a drill's run on an `az://` run store (`--run-store`).

pub mod cleanup;
pub mod history;
pub mod live;
pub mod report;
pub mod scenario;
pub mod shared;
pub mod simulated;
