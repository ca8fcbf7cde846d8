//! `lifeboat completions SHELL` and `lifeboat man`: reference documentation generated from the
//! clap definitions, so it can never drift from the real command line.

use crate::error::{Exit, UserError};
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one man page per command into this directory (`lifeboat.1`, `lifeboat-run.1`,
    /// `lifeboat-backup-create.1`, ...) instead of printing the top-level page
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<Exit> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "lifeboat", &mut std::io::stdout());
    Ok(Exit::Ok)
}

pub fn man(args: ManArgs) -> anyhow::Result<Exit> {
    let cmd = super::Cli::command();
    let Some(dir) = args.out else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(Exit::Ok);
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        UserError::usage(format!("cannot create directory {}", dir.display()))
            .with_hint("pass --out a directory you can write to")
            .with_source(e)
    })?;
    // Subcommand pages are named after their full path (`lifeboat-backup-create.1`), as man(1)
    // expects for `man lifeboat-backup-create`.
    clap_mangen::generate_to(cmd, &dir).map_err(|e| {
        UserError::failed(format!("cannot write man pages into {}", dir.display())).with_source(e)
    })?;
    println!("man pages written to {}", dir.display());
    Ok(Exit::Ok)
}
