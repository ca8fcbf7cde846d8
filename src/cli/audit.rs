//! `lifeboat audit export | verify | keygen`: a thin layer over `crate::audit`.

use super::Globals;
use crate::audit::{self, render, sign, verify};
use crate::error::{Exit, UserError};
use crate::journal;
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Export a run's audit record (or every run of a period with --all)
    Export(ExportArgs),
    /// Recompute a journal's hash chain (a run, or an exported JSONL) and check its signatures
    Verify(VerifyArgs),
    /// Write an Ed25519 key pair for `run/resume --sign-key` and `audit verify --public-key`
    Keygen(KeygenArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The journal itself, byte for byte (verifiable with `audit verify`)
    Jsonl,
    /// One row per journal entry (RFC 4180, CRLF, spreadsheet-safe)
    Csv,
    /// One self-contained page with a timeline, to attach to a ticket or print
    Html,
    /// Markdown summary and event table
    Md,
    /// JUnit XML: one test case per step instance
    Junit,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Html => "html",
            Format::Md => "md",
            Format::Junit => "junit.xml",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A run id, a run directory, or a journal file
    #[arg(value_name = "RUN_ID", required_unless_present = "all", conflicts_with = "all")]
    pub run: Option<String>,
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write here instead of stdout (with --all: the directory to write into)
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Export every run started in [--since, --until), one file per run plus `index.csv`
    #[arg(long, requires_all = ["since", "output_file"])]
    pub all: bool,
    /// Start of the period: `YYYY-MM-DD` (UTC) or RFC 3339
    #[arg(long, value_name = "DATE", value_parser = parse_since, requires = "all")]
    pub since: Option<OffsetDateTime>,
    /// End of the period, exclusive; a plain date includes that whole day [default: no end]
    #[arg(long, value_name = "DATE", value_parser = parse_until, requires = "all")]
    pub until: Option<OffsetDateTime>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A run id, a run directory, a journal file or an exported JSONL
    #[arg(value_name = "RUN_ID|PATH")]
    pub target: String,
    /// Require the journal to end with a valid signature by this Ed25519 public key (PEM)
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Fail (exit 1) unless the journal has exactly N entries: the count written down elsewhere
    /// (the incident ticket, an earlier `audit verify`)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub expect_entries: Option<u64>,
    /// Fail (exit 1) unless the final hash is HASH: `sha256:<64 hex>` as `audit verify` prints
    /// it, or the 64 hex digits alone as the exports show it
    #[arg(long, value_name = "HASH", value_parser = parse_hash)]
    pub expect_hash: Option<String>,
    /// Accept a last line without its newline (a write torn by a crash) and verify the lines
    /// before it; without this flag such a line is an error
    #[arg(long)]
    pub allow_torn: bool,
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Directory for `lifeboat-audit.key` (private, mode 0600) and `lifeboat-audit.pub`
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn parse_date(s: &str, end_of_day: bool) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).map_err(|_| {
        format!("`{s}` is not a date (use YYYY-MM-DD or RFC 3339, e.g. 2026-03-01T00:00:00Z)")
    })?;
    let t = d.midnight().assume_utc();
    if !end_of_day {
        return Ok(t);
    }
    // The end of the last day a date can name is past what `time` represents: a bound that far
    // out means "no bound", so it saturates instead of overflowing.
    Ok(t.checked_add(time::Duration::DAY)
        .unwrap_or(OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX)))
}

fn parse_hash(s: &str) -> Result<String, String> {
    verify::parse_expected_hash(s)
}

fn parse_since(s: &str) -> Result<OffsetDateTime, String> {
    parse_date(s, false)
}

fn parse_until(s: &str) -> Result<OffsetDateTime, String> {
    parse_date(s, true)
}

pub async fn execute(c: AuditCommand, g: &Globals) -> anyhow::Result<Exit> {
    match c {
        AuditCommand::Export(a) => {
            let remote = match &a.run {
                Some(run) if !a.all => fetch_remote(run, g).await?,
                _ => None,
            };
            export(a, g, remote)
        }
        AuditCommand::Verify(a) => {
            let remote = fetch_remote(&a.target, g).await?;
            verify_cmd(a, g, remote)
        }
        AuditCommand::Keygen(a) => {
            let (private, public, fp) = sign::keygen(&a.out)?;
            println!("private key: {} (keep it secret; pass it to --sign-key)", private.display());
            println!(
                "public key:  {} (give it to auditors: audit verify --public-key)",
                public.display()
            );
            println!("fingerprint: {fp}");
            Ok(Exit::Ok)
        }
    }
}

/// One run's export in memory. The JSONL export is the verified prefix of the journal's bytes.
fn render_one(path: &Path, format: Format) -> anyhow::Result<Vec<u8>> {
    let read = journal::read(path).map_err(|e| {
        UserError::failed(e.to_string())
            .with_hint("`lifeboat audit verify` names what was changed; nothing is exported from a broken journal")
    })?;
    if format == Format::Jsonl {
        let bytes = std::fs::read(path).map_err(|e| {
            UserError::failed(format!("cannot read {}", path.display())).with_source(e)
        })?;
        return Ok(bytes[..read.valid_len as usize].to_vec());
    }
    let record = audit::AuditRecord::from_entries(path, read.entries, read.last_line_hash);
    Ok(match format {
        Format::Csv => render::to_csv(&record).into_bytes(),
        Format::Md => render::to_markdown(&record).into_bytes(),
        Format::Junit => render::to_junit(&record).into_bytes(),
        Format::Html => render::to_html(&record)
            .map_err(|e| UserError::failed(e.to_string()).with_source(e))?
            .into_bytes(),
        Format::Jsonl => unreachable!("handled above"),
    })
}

/// Writes through a temporary file and a rename, so a reader never sees half an export.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("lifeboat-tmp");
    std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| {
        UserError::failed(format!("cannot write {}", path.display())).with_source(e)
    })?;
    Ok(())
}

/// With an az:// run store, a run id (not a file or directory here) is downloaded into its local
/// working copy as it is, and verified or exported exactly as a local journal; the source is
/// said on stderr. `None`: the target is local.
async fn fetch_remote(target: &str, g: &Globals) -> anyhow::Result<Option<std::path::PathBuf>> {
    let p = std::path::Path::new(target);
    if p.exists() || !g.run_store_url()?.is_some_and(|u| u.is_remote()) {
        return Ok(None);
    }
    let home = g.run_home().await?;
    let Some(store) = &home.remote else { return Ok(None) };
    let dir = crate::runstore::remote::download_raw(store, &home.root, target).await?;
    eprintln!("source: {}/{}", store.store_name(), crate::runstore::remote::journal_blob(target));
    Ok(Some(dir.join(crate::journal::JOURNAL_FILE)))
}

fn export(a: ExportArgs, g: &Globals, remote: Option<std::path::PathBuf>) -> anyhow::Result<Exit> {
    if a.all {
        return export_all(a, g);
    }
    let Some(run) = a.run else {
        return Err(UserError::usage("no run given")
            .with_hint("pass RUN_ID, or --all --since DATE")
            .into());
    };
    let path = match remote {
        Some(p) => p,
        None => audit::locate(&g.state_dir()?, &run)?,
    };
    let bytes = render_one(&path, a.format)?;
    match a.output_file {
        Some(out) => {
            write_file(&out, &bytes)?;
            eprintln!("wrote {}", out.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes)?;
            stdout.flush()?;
        }
    }
    Ok(Exit::Ok)
}

fn export_all(a: ExportArgs, g: &Globals) -> anyhow::Result<Exit> {
    let (Some(since), Some(dir)) = (a.since, a.output_file) else {
        return Err(UserError::usage("--all needs --since DATE and -o DIR").into());
    };
    if let Some(until) = a.until {
        if until <= since {
            return Err(UserError::usage("--until is not after --since")
                .with_hint("the period is [--since, --until)")
                .into());
        }
    }
    if dir.is_file() {
        return Err(UserError::usage(format!("{} is a file", dir.display()))
            .with_hint("with --all, -o names a directory")
            .into());
    }
    std::fs::create_dir_all(&dir).map_err(|e| {
        UserError::failed(format!("cannot create {}", dir.display())).with_source(e)
    })?;
    let runs = crate::engine::runner::runs_dir(&g.state_dir()?);
    let mut ids: Vec<String> = std::fs::read_dir(&runs)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    let mut index = vec![[
        "run_id",
        "runbook",
        "started",
        "status",
        "entries",
        "final_hash",
        "file",
        "problem",
    ]
    .map(String::from)
    .to_vec()];
    let (mut exported, mut problems) = (0usize, 0usize);
    for id in ids {
        let path = runs.join(&id).join(journal::JOURNAL_FILE);
        if !path.is_file() {
            continue;
        }
        let read = match journal::read(&path) {
            Ok(r) => r,
            Err(e) => {
                problems += 1;
                index.push(vec![
                    id,
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    e.to_string(),
                ]);
                continue;
            }
        };
        let started = read.entries[0].time;
        if started < since || a.until.is_some_and(|u| started >= u) {
            continue;
        }
        let record = audit::AuditRecord::from_entries(&path, read.entries, read.last_line_hash);
        let file = format!("{id}.{}", a.format.extension());
        let mut row = vec![
            id.clone(),
            record.runbook_name.clone(),
            started.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            record.status.clone(),
            record.entries.to_string(),
            record.final_hash.clone(),
            file.clone(),
            String::new(),
        ];
        match render_one(&path, a.format).and_then(|b| write_file(&dir.join(&file), &b)) {
            Ok(()) => exported += 1,
            Err(e) => {
                problems += 1;
                row[6].clear();
                row[7] = crate::error::render(&e);
            }
        }
        index.push(row);
    }
    let mut csv = String::new();
    for r in &index {
        csv.push_str(&r.iter().map(|c| render::csv_cell(c)).collect::<Vec<_>>().join(","));
        csv.push_str("\r\n");
    }
    write_file(&dir.join("index.csv"), csv.as_bytes())?;
    println!("exported {exported} run(s) to {} (index.csv lists them)", dir.display());
    if problems > 0 {
        eprintln!(
            "error: {problems} run(s) could not be exported: see the `problem` column of index.csv"
        );
        return Ok(Exit::Failed);
    }
    Ok(Exit::Ok)
}

fn verify_cmd(
    a: VerifyArgs,
    g: &Globals,
    remote: Option<std::path::PathBuf>,
) -> anyhow::Result<Exit> {
    let key = a.public_key.as_deref().map(sign::load_verifying_key).transpose()?;
    let state_dir = g.state_dir().unwrap_or_default();
    let path = match remote {
        Some(p) => p,
        None => audit::locate(&state_dir, &a.target)?,
    };
    let opts = verify::Options {
        key: key.as_ref(),
        allow_torn: a.allow_torn,
        // More entries than memory could hold can never match.
        expect_entries: a.expect_entries.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        expect_hash: a.expect_hash,
    };
    // What a person compares with the copy kept elsewhere, and passes back with --expect-*.
    let totals = |entries: usize, hash: &str| {
        format!("entries: {entries}  final hash: {}{hash}", verify::HASH_PREFIX)
    };
    match verify::verify_file(&path, &opts) {
        Ok(v) => {
            println!(
                "{}: intact: {} entries; every line's hash, link and sequence number recomputed",
                path.display(),
                v.entries
            );
            println!("{}", totals(v.entries, &v.final_hash));
            match (v.entries_expected, v.hash_expected) {
                (true, true) => println!("expected: both match (--expect-entries, --expect-hash)"),
                (true, false) => println!("expected: the entry count matches (--expect-entries)"),
                (false, true) => println!("expected: the final hash matches (--expect-hash)"),
                (false, false) => {}
            }
            match (v.signatures.last(), v.key_given) {
                (None, _) => println!(
                    "signature: none (the chain proves no line was changed, removed or reordered, but not that none was appended or that the last one was not removed: compare the entries and final hash above with a copy kept elsewhere (--expect-entries, --expect-hash), or sign runs with --sign-key)"
                ),
                (Some(s), true) => println!(
                    "signature: valid, by the given key {} (line {}, covers every line)",
                    s.key_fingerprint, s.line
                ),
                (Some(s), false) => println!(
                    "signature: consistent, by key {} (line {}); not authenticated: pass --public-key to check who signed",
                    s.key_fingerprint, s.line
                ),
            }
            if let Some(first) = v.unsigned_tail {
                println!(
                    "warning: lines {first}..{} come after the last signature and are not covered by it",
                    v.entries
                );
            }
            if let Some(line) = v.torn_line {
                println!("warning: line {line} is incomplete (no newline: a torn write) and is not part of the record (--allow-torn)");
            }
            Ok(Exit::Ok)
        }
        Err(verify::VerifyError::Broken(b)) => {
            eprintln!("error: {b}");
            eprintln!("  the journal is not the one lifeboat wrote: do not rely on it; compare with a copy kept elsewhere");
            Ok(Exit::Failed)
        }
        Err(verify::VerifyError::Mismatch(m)) => {
            println!("{}", totals(m.entries, &m.final_hash));
            for p in &m.problems {
                eprintln!("error: {}: {p}", m.path.display());
            }
            eprintln!("  the chain is intact, but this is not the journal whose values were written down: do not rely on it");
            Ok(Exit::Failed)
        }
        Err(verify::VerifyError::Journal(e)) => Err(UserError::failed(e.to_string()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defect_01_the_last_representable_day_is_an_until_bound_not_a_panic() {
        let t = parse_until("9999-12-31").unwrap();
        assert!(t > parse_since("9999-12-31").unwrap());
        assert!(parse_until("2026-12-06").unwrap() == parse_since("2026-12-07").unwrap());
    }
}
