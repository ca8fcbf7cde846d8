//! `lifeboat run`, `resume`, `status`, `approve`, `attest`, `skip`, `runs`.

use super::Globals;
use crate::error::Exit;

#[derive(Debug, clap::Args)]
pub struct RunArgs {}
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {}
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {}
#[derive(Debug, clap::Args)]
pub struct AttestArgs {}
#[derive(Debug, clap::Args)]
pub struct SkipArgs {}
#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// List runs
    List,
}

pub async fn execute_run(_a: RunArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("run"))
}
pub async fn execute_resume(_a: ResumeArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("resume"))
}
pub async fn execute_status(_a: StatusArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("status"))
}
pub async fn execute_approve(_a: ApproveArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("approve"))
}
pub async fn execute_attest(_a: AttestArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("attest"))
}
pub async fn execute_skip(_a: SkipArgs, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("skip"))
}
pub async fn execute_runs(_c: RunsCommand, _g: &Globals) -> anyhow::Result<Exit> {
    Err(super::not_built("runs"))
}
