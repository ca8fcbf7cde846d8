//! Throttling under load and the large tenant.
