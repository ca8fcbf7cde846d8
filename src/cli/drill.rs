//! `lifeboat drill`.

use super::Globals;
use crate::error::Exit;

#[derive(Debug, clap::Args)]
pub struct DrillArgs {}

pub async fn execute(_a: DrillArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("drill"))
}
