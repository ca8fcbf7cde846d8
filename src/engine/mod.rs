//! The run as a sans-IO state machine: events in, actions out. No HTTP, no clap, no clock of its
//! own (time is an input).
