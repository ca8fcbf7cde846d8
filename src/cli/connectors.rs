//! `lifeboat connectors`.

use super::Globals;
use crate::error::Exit;

#[derive(Debug, clap::Subcommand)]
pub enum ConnectorsCommand {
    /// List DevOps connectors
    List,
}

pub async fn execute(_c: ConnectorsCommand, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("connectors list"))
}
