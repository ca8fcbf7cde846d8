//! `lifeboat runbooks list | show | export`: the runbooks built into the binary
//! (`runbook::builtin`), to read them and to take a copy to customise.
//!
//! - `list`: name, kind (recovery or example), step count, where it comes from, description.
//! - `show NAME`: the YAML source exactly as built in (or the file's bytes, for a path).
//! - `export NAME DIR`: writes `DIR/NAME.yaml`, creating DIR (and its parents) when missing;
//!   an existing file is replaced only with `--force` (exit 2 otherwise). The copy gives the same
//!   plan as the built-in: `lifeboat run DIR/NAME.yaml` runs the file, which wins over the name.

use super::{Globals, OutputFormat};
use crate::error::{Exit, UserError};
use crate::runbook::builtin::{self, Builtin, Resolved};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum RunbooksCommand {
    /// List the runbooks built into this binary: name, steps, where each comes from
    List,
    /// Print a runbook's YAML source exactly (a built-in runbook's name, or a file)
    Show(ShowArgs),
    /// Write a built-in runbook to DIR/NAME.yaml to customise it (DIR is created if missing)
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A built-in runbook's name (`region-outage`) or the path of a runbook file
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The built-in runbook to export (`lifeboat runbooks list`)
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The directory to write NAME.yaml into; created (with its parents) when missing
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Replace DIR/NAME.yaml if it exists
    #[arg(long)]
    pub force: bool,
}

/// One row of `runbooks list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunbookRow {
    pub name: String,
    /// `recovery` or `example`.
    pub kind: &'static str,
    pub steps: usize,
    /// Where it comes from: `builtin:NAME.yaml` (built into the binary).
    pub source: String,
    /// The file of lifeboat's repository it was built from.
    pub repo_path: &'static str,
    pub sha256: String,
    pub description: &'static str,
}

/// The rows of `runbooks list`, in catalog order.
pub fn list() -> Vec<RunbookRow> {
    builtin::CATALOG
        .iter()
        .map(|b| RunbookRow {
            name: b.name.to_string(),
            kind: if b.example { "example" } else { "recovery" },
            // Every built-in is valid (a unit test of `runbook::builtin` loads each).
            steps: crate::runbook::load_str_for_graph(&b.display_path(), b.source, &[])
                .map_or(0, |rb| rb.steps.len()),
            source: b.display_path().display().to_string(),
            repo_path: b.repo_path,
            sha256: crate::digest::sha256_hex(b.source.as_bytes()),
            description: b.description,
        })
        .collect()
}

pub async fn execute(c: RunbooksCommand, g: &Globals) -> anyhow::Result<Exit> {
    match c {
        RunbooksCommand::List => {
            let rows = list();
            let text = match g.output {
                OutputFormat::Json => serde_json::to_string_pretty(&rows)? + "\n",
                OutputFormat::Table => list_table(&rows),
            };
            emit(text.as_bytes())
        }
        RunbooksCommand::Show(a) => emit(&show(&a.runbook)?),
        RunbooksCommand::Export(a) => {
            let path = export(&a.name, &a.dir, a.force)?;
            emit(
                format!(
                    "wrote {p}\nrun it with `lifeboat run {p}` (a file wins over the built-in name)\n",
                    p = path.display()
                )
                .as_bytes(),
            )
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is no error.
fn emit(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(Exit::Ok),
    }
}

fn list_table(rows: &[RunbookRow]) -> String {
    let mut t = tabled::builder::Builder::default();
    t.push_record(["name", "kind", "steps", "source", "description"]);
    for r in rows {
        t.push_record([
            r.name.clone(),
            r.kind.to_string(),
            r.steps.to_string(),
            format!("built in ({})", r.repo_path),
            r.description.to_string(),
        ]);
    }
    let mut out = t.build().with(tabled::settings::Style::sharp()).to_string();
    out.push('\n');
    out.push_str("run one with `lifeboat run NAME`; copy one to edit with `lifeboat runbooks export NAME DIR`\n");
    out
}

/// The bytes of the runbook `arg` names: a file's exactly as on disk, or a built-in's source.
pub fn show(arg: &Path) -> Result<Vec<u8>, UserError> {
    match builtin::resolve(arg)? {
        Resolved::Builtin(b) => Ok(b.source.as_bytes().to_vec()),
        Resolved::File(p) => std::fs::read(&p).map_err(|e| {
            UserError::usage(format!("cannot read runbook {}", p.display()))
                .with_hint("check the path and its permissions")
                .with_source(e)
        }),
    }
}

fn lookup(name: &str) -> Result<&'static Builtin, UserError> {
    builtin::get(name).ok_or_else(|| {
        UserError::usage(format!("no built-in runbook is named {name}")).with_hint(format!(
            "built-in runbooks: {}; a runbook file needs no export, copy it",
            builtin::names()
        ))
    })
}

/// Writes the built-in runbook `name` to `dir/NAME.yaml` (creating `dir`), refusing to replace
/// an existing file unless `force`. Returns the path written.
pub fn export(name: &str, dir: &Path, force: bool) -> Result<PathBuf, UserError> {
    let b = lookup(name)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        UserError::usage(format!("cannot create directory {}", dir.display()))
            .with_hint("give a directory you can write to")
            .with_source(e)
    })?;
    let path = dir.join(b.file_name());
    let cannot_write = |e: std::io::Error| {
        UserError::failed(format!("cannot write {}", path.display())).with_source(e)
    };
    if force {
        crate::fsutil::write_atomic(&path, b.source.as_bytes()).map_err(cannot_write)?;
        return Ok(path);
    }
    // Create-only, so a file that appears meanwhile is not replaced either.
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(UserError::usage(format!(
                "{} exists; nothing was written",
                path.display()
            ))
            .with_hint(format!(
                "pass --force to replace it: `lifeboat runbooks export {} {} --force`; or \
                     choose another DIR",
                b.name,
                dir.display()
            )));
        }
        Err(e) => return Err(cannot_write(e)),
    };
    file.write_all(b.source.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| {
        // A half-written copy is not left behind to be run later.
        let _ = std::fs::remove_file(&path);
        cannot_write(e)
    })?;
    Ok(path)
}
