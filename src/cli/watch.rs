//! `lifeboat status RUN_ID --watch`: a live, read-only view of a run that is driven elsewhere
//! (another terminal, another machine sharing the state directory, a pipeline).
//!
//! It takes no lock: it only reads the journal, and only when the file's length or modification
//! time changed; then an `engine::replay::Watcher` reads and verifies just the entries appended
//! since the last look (a full replay if the journal was rewritten), ignoring a torn last line. On a terminal the table is
//! redrawn in place; otherwise (a pipe, a log, `TERM=dumb`, `NO_COLOR`) one line is printed per
//! change of a step instance. It ends when the run ends, with the run's exit code (0 succeeded,
//! 1 failed or cancelled), or on Ctrl-C with 0. A paused run is not an end: a person may approve
//! it from elsewhere.

use super::{Globals, OutputFormat};
use crate::clock::{Clock, SystemClock};
use crate::engine::kind::Registry;
use crate::engine::replay::Watcher;
use crate::engine::{InstanceView, State, Status};
use crate::error::Exit;
use crate::journal;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// One line of the view: step, state, attempt, duration, progress, waiting for / error.
pub type Row = [String; 6];

/// The rows of a snapshot at `now`.
pub fn rows(views: &[InstanceView], now: OffsetDateTime) -> Vec<Row> {
    views
        .iter()
        .map(|v| match &v.instance {
            None => [
                v.name(),
                "pending".into(),
                "0".into(),
                "-".into(),
                "-".into(),
                "upstream steps".into(),
            ],
            Some(i) => {
                let duration = i
                    .first_started
                    .map(|s| {
                        let secs = (i.finished.unwrap_or(now) - s).whole_seconds().max(0) as u64;
                        humantime::format_duration(Duration::from_secs(secs)).to_string()
                    })
                    .unwrap_or_else(|| "-".into());
                let progress = match &i.progress {
                    Some((done, total, msg)) if !i.state.is_terminal() || done < total => {
                        format!("{done}/{total} {msg}").trim_end().to_string()
                    }
                    Some((done, total, _)) => format!("{done}/{total}"),
                    None => "-".into(),
                };
                let note = match (&i.state, &i.error, &i.waiting_for) {
                    (State::Failed, Some(e), _) => e.clone(),
                    (State::Waiting { until, .. }, _, None) => {
                        format!("until {}", crate::text::local_time(*until))
                    }
                    (_, _, Some(w)) if !i.state.is_terminal() => w.clone(),
                    _ => String::new(),
                };
                [
                    v.name(),
                    i.state.phase().name().to_string(),
                    i.attempt.to_string(),
                    duration,
                    progress,
                    note.trim().to_string(),
                ]
            }
        })
        .collect()
}

/// The exit code of a run that has ended; `None` while it can still progress.
pub fn ended(status: &Status) -> Option<Exit> {
    match status {
        Status::Succeeded => Some(Exit::Ok),
        Status::Failed | Status::Cancelled => Some(Exit::Failed),
        Status::Active { .. } | Status::Paused => None,
    }
}

fn status_text(s: &Status) -> &'static str {
    match s {
        Status::Active { .. } => "active",
        Status::Paused => "paused (waits for a person)",
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::Cancelled => "cancelled",
    }
}

/// What one look at the journal found.
struct Look {
    status: Status,
    views: Vec<InstanceView>,
    /// What `status --output json` shows.
    report: super::status::RunStatus,
}

/// Brings the run's state up to date (the first look replays the journal; later ones read only
/// what was appended).
fn look(dir: &Path, watcher: &mut Option<Watcher>, registry: &Registry) -> Result<Look, String> {
    let w = match watcher {
        Some(w) => {
            w.refresh(registry).map_err(|e| e.to_string())?;
            w
        }
        None => watcher.insert(Watcher::open(dir, registry).map_err(|e| e.to_string())?),
    };
    let header = w.header().clone();
    let run_id = w.run_id().to_string();
    let engine = w.engine();
    let report = super::status::RunStatus::build(&run_id, engine, &header);
    Ok(Look { status: engine.status(), views: engine.snapshot(), report })
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// `remote`: the run is on an az:// run store; each look first fetches what was appended to
/// the journal blob since the local copy's length (one ranged read).
pub async fn watch(
    dir: &Path,
    run_id: &str,
    interval: Duration,
    g: &Globals,
    remote: Option<&crate::runstore::BlobStore>,
) -> anyhow::Result<Exit> {
    let registry = crate::steps::registry();
    let path = dir.join(journal::JOURNAL_FILE);
    let fancy = super::guided::fancy_output() && g.output == OutputFormat::Table;
    let term = console::Term::stdout();
    let mut drawn_lines = 0usize;
    let mut last_stamp = None;
    let mut current: Option<Look> = None;
    let mut watcher: Option<Watcher> = None;
    let mut last_error: Option<String> = None;
    let mut previous: HashMap<String, Row> = HashMap::new();
    let mut previous_status: Option<&'static str> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if let Some(store) = remote {
            if let Err(e) = crate::runstore::remote::pull_new(store, dir, run_id).await {
                let e = e.to_string();
                if last_error.as_ref() != Some(&e) {
                    eprintln!("warning: {e}");
                    last_error = Some(e);
                }
            }
        }
        let s = stamp(&path);
        let changed = s != last_stamp;
        if changed {
            last_stamp = s;
            match look(dir, &mut watcher, &registry) {
                Ok(l) => {
                    current = Some(l);
                    last_error = None;
                }
                Err(e) => {
                    // Keep the last good view; say once what is wrong.
                    if last_error.as_ref() != Some(&e) {
                        eprintln!("warning: {e}");
                        last_error = Some(e);
                    }
                }
            }
        }
        let now = SystemClock.now();
        if let Some(l) = &current {
            let rows = rows(&l.views, now);
            let status = status_text(&l.status);
            if fancy {
                // Durations move every second: redraw each tick, in place.
                let mut table = vec![[
                    "STEP".to_string(),
                    "STATE".into(),
                    "ATTEMPT".into(),
                    "DURATION".into(),
                    "PROGRESS".into(),
                    "WAITING FOR / ERROR".into(),
                ]];
                table.extend(rows.iter().cloned());
                let text = format!(
                    "run {run_id}: {status}   (watching; Ctrl-C to stop)\n{}",
                    super::run::render_rows(&table)
                );
                let _ = term.clear_last_lines(drawn_lines);
                let _ = term.write_str(&text);
                drawn_lines = text.lines().count();
            } else if changed {
                let at = crate::text::local_time(now);
                if g.output == OutputFormat::Json {
                    // One `status --output json` document per line.
                    println!("{}", serde_json::to_string(&l.report)?);
                } else {
                    for r in &rows {
                        // Duration alone changes every second: it is not a change worth a line.
                        let key =
                            |r: &Row| (r[1].clone(), r[2].clone(), r[4].clone(), r[5].clone());
                        if previous.get(&r[0]).map(key) != Some(key(r)) {
                            let mut line = format!("{at} {} {} attempt {}", r[0], r[1], r[2]);
                            if r[4] != "-" {
                                line.push_str(&format!(" progress {}", r[4]));
                            }
                            if !r[5].is_empty() {
                                line.push_str(&format!(": {}", r[5]));
                            }
                            println!("{line}");
                        }
                    }
                    if previous_status != Some(status) {
                        println!("{at} run {run_id}: {status}");
                    }
                }
                previous = rows.into_iter().map(|r| (r[0].clone(), r)).collect();
            }
            previous_status = Some(status);
            if let Some(exit) = ended(&l.status) {
                return Ok(exit);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut ctrl_c => {
                if fancy {
                    println!();
                }
                return Ok(Exit::Ok);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_runs_end_the_watch() {
        assert_eq!(ended(&Status::Succeeded), Some(Exit::Ok));
        assert_eq!(ended(&Status::Failed), Some(Exit::Failed));
        assert_eq!(ended(&Status::Cancelled), Some(Exit::Failed));
        assert_eq!(ended(&Status::Paused), None);
        assert_eq!(ended(&Status::Active { next_timer: None }), None);
    }
}
