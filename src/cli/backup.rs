//! `lifeboat backup`.

use super::Globals;
use crate::error::Exit;

#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// Take a snapshot
    Create,
}

pub async fn execute(_c: BackupCommand, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("backup create"))
}
