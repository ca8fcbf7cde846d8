//! Integration tests of the simulated Azure: conformance against the official examples,
//! ownership and long-running operations, the support desk, throttling, bad inputs, and the
//! large tenant. Every test runs a real server on 127.0.0.1 and talks HTTP to it.

mod authz;
mod common;
mod conformance;
mod flows;
mod groups;
mod inputs;
mod lossless;
mod lro_shapes;
mod robustness;
mod scale;
mod versions;
