//! The simulated Azure: an HTTP server on 127.0.0.1 that implements the same API contract as
//! ARM for security connectors, DevOps resources, Resource Graph and Support. Never imported by
//! `engine`, `steps` or `azure`: they only ever see a URL.

pub mod faults;
pub mod kql;
pub mod throttle;
