//! The region-outage recovery end to end, against the in-process simulated Azure: the
//! acceptance run through the real binary, the drafted support request (snapshots), bad input
//! refused before any write (an unsupported target region, missing permissions), faults and
//! the target region failing too, and SIGKILL at every step boundary and inside reapply/submit
//! followed by resume, and the check of Microsoft's side (alerts and recommendations recreated
//! for the new connectors, or a warning), and `lifeboat run` connecting and opening the store once.

mod acceptance;
mod api_versions;
mod bad_input;
mod before_any_write;
mod builtin;
pub(crate) mod common;
mod crash;
mod draft;
mod faults;
mod lossless;
mod lro_shapes;
mod microsoft_side;
mod no_backup;
mod once;
mod property;
mod rg;
