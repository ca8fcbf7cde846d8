//! `lifeboat sim`.

use super::Globals;
use crate::error::Exit;

#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Run the simulated Azure on 127.0.0.1
    Serve,
}

pub async fn execute(_c: SimCommand, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("sim serve"))
}
