//! `lifeboat plan` and `lifeboat graph`.

use super::Globals;
use crate::error::Exit;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {}

pub async fn execute_plan(_a: PlanArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("plan"))
}

pub async fn execute_graph(_a: GraphArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("graph"))
}
