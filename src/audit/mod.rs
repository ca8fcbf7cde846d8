//! Exports of a run's journal for auditors, and verification of its hash chain. Read-only over
//! journals.
