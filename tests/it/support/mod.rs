//! Helpers every area of the integration tests shares, written once.
//!
//! - `stub`: a programmable ARM stand-in on 127.0.0.1 that records every request.

pub mod stub;
