//! `lifeboat completions SHELL` and `lifeboat man`: reference documentation generated from the
//! clap definitions, so it can never drift from the real command line.

use crate::error::Exit;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<Exit> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "lifeboat", &mut std::io::stdout());
    Ok(Exit::Ok)
}

pub fn man(_args: ManArgs) -> anyhow::Result<Exit> {
    let cmd = super::Cli::command();
    clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
    Ok(Exit::Ok)
}
