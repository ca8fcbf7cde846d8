//! lifeboat: a disaster-recovery orchestrator for Microsoft Defender for Cloud DevOps security
//! connectors. See `ARCHITECTURE.md` for the bird's-eye view and the invariants of each module.

pub mod audit;
pub mod azure;
pub mod backup;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod digest;
pub mod drill;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod journal;
#[cfg(test)]
mod layers;
pub mod notify;
pub mod queries;
pub mod redact;
pub mod runbook;
pub mod runstore;
pub mod sim;
pub mod steps;
pub mod text;
