//! `lifeboat audit`.

use super::Globals;
use crate::error::Exit;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Export a run's audit record
    Export,
}

pub async fn execute(_c: AuditCommand, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("audit export"))
}
