//! Following a journal as it grows (`engine::replay::Watcher`, what `status --watch` and the
//! drill use): only appended entries are read, the state is always the one a full replay gives,
//! a line still being written waits, a journal cut short or rewritten is replayed from the start,
//! and a tampered or refused new entry is the error a full replay reports. Also the fast replay
//! of `runner::load` against the reference path (`journal::read` + `runner::replay`).

use crate::engine::common::*;
use lifeboat::engine::replay::{Refreshed, Watcher};
use lifeboat::engine::{runner, Event, Status};
use lifeboat::journal::{self, Writer};
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// A run of six steps, two at a time (so starts wait for slots), with progress: its directory
/// (header and `RunStarted` journaled) and every later event the run would journal.
fn setup(state: &Path) -> (PathBuf, Vec<(Event, OffsetDateTime)>) {
    let steps: String = (0..6)
        .map(|i| {
            format!("  - id: s{i}\n    uses: test.idempotent\n    with: {{ effect_file: x }}\n")
        })
        .collect();
    let plan = plan("watched", 2, &format!("steps:\n{steps}"));
    let run_dir = runner::create_run(state, &plan, "w", t0(), &actor(), 7).unwrap();
    let mut h = Harness::new(plan);
    loop {
        let started = h.start_all();
        if started.is_empty() {
            break;
        }
        for s in started {
            h.now += std::time::Duration::from_secs(1);
            h.ev(Event::StepProgress {
                step: s.step.clone(),
                branch: s.branch,
                attempt: s.attempt,
                done: 1,
                total: 2,
                message: "half".into(),
            });
            h.succeed(&s.step, s.branch);
        }
    }
    assert_eq!(h.engine.status(), Status::Succeeded);
    (run_dir, h.log[1..].to_vec())
}

fn journal_of(run_dir: &Path) -> PathBuf {
    run_dir.join(journal::JOURNAL_FILE)
}

fn append(run_dir: &Path, events: &[(Event, OffsetDateTime)]) {
    let (mut w, _) = Writer::open(&journal_of(run_dir)).unwrap();
    let batch: Vec<_> =
        events.iter().map(|(e, t)| (*t, "event", serde_json::to_value(e).unwrap())).collect();
    w.append_batch(&batch).unwrap();
}

/// The watcher holds exactly what a full replay (`runner::load`) gives now.
fn assert_in_step(w: &mut Watcher, run_dir: &Path) {
    let full = runner::load(run_dir, &registry()).unwrap();
    assert_eq!(w.engine().snapshot(), full.engine.snapshot());
    assert_eq!(w.engine().status(), full.engine.status());
    assert_eq!(w.entries(), full.entries.len() as u64);
}

#[test]
fn a_watcher_reads_only_the_appended_entries_and_keeps_the_state_a_full_replay_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, events) = setup(dir.path());
    let reg = registry();
    let mut w = Watcher::open(&run_dir, &reg).unwrap();
    assert_eq!(w.entries(), 2);
    assert_eq!(w.run_id(), "w");
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Unchanged);
    // Batches of 1, 2 and 3 entries, re-read after each.
    let (mut i, mut k) = (0, 1);
    while i < events.len() {
        let batch = &events[i..(i + k).min(events.len())];
        append(&run_dir, batch);
        assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Appended(batch.len()));
        assert_in_step(&mut w, &run_dir);
        assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Unchanged);
        i += k;
        k = k % 3 + 1;
    }
    assert_eq!(w.engine().status(), Status::Succeeded);
    // Only what was appended is read: an earlier line damaged in place goes unseen by the
    // watcher once the journal grows past it (any full reader, `load` or `resume`, refuses it).
    let path = journal_of(&run_dir);
    let text = std::fs::read_to_string(&path).unwrap();
    let damaged = text.replacen(r#""message":"half""#, r#""message":"HALF""#, 1);
    assert_ne!(damaged, text);
    std::fs::write(&path, damaged).unwrap();
    // Appended by hand after the damage, chained to the last line (which is intact).
    let last_hash = journal::sha256_hex(text.lines().last().unwrap().as_bytes());
    let line = line_after(w.entries(), &last_hash, &Event::TimerFired);
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&line).unwrap();
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Appended(1));
    assert!(runner::load(&run_dir, &reg).unwrap_err().to_string().contains("journal is corrupt"));
}

/// The journal line `seq` for `event`, chained to `prev`, as the writer lays it out.
fn line_after(seq: u64, prev: &str, event: &Event) -> Vec<u8> {
    let payload = serde_json::to_string(event).unwrap();
    let unhashed = format!(
        r#"{{"seq":{seq},"time":"2026-01-01T00:00:00Z","kind":"event","payload":{payload},"prev":"{prev}"}}"#
    );
    let hash = journal::sha256_hex(unhashed.as_bytes());
    format!("{},\"hash\":\"{hash}\"}}\n", &unhashed[..unhashed.len() - 1]).into_bytes()
}

#[test]
fn a_line_still_being_written_is_read_once_it_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, events) = setup(dir.path());
    let reg = registry();
    let path = journal_of(&run_dir);
    append(&run_dir, &events[..3]);
    let mut w = Watcher::open(&run_dir, &reg).unwrap();
    // The next line, as the writer writes it, arrives in two parts.
    let before = std::fs::read(&path).unwrap();
    append(&run_dir, &events[3..4]);
    let after = std::fs::read(&path).unwrap();
    let line = &after[before.len()..];
    std::fs::write(&path, &before).unwrap();
    let half = line.len() / 2;
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&line[..half]).unwrap();
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Unchanged);
    assert_eq!(w.entries(), 5);
    assert_in_step(&mut w, &run_dir);
    f.write_all(&line[half..]).unwrap();
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Appended(1));
    assert_eq!(w.entries(), 6);
    assert_in_step(&mut w, &run_dir);
    // A torn line cut off by the next writer (the journal shrinks back to whole lines) is no
    // reason to replay: the lines read are all still there.
    f.write_all(&line[..half]).unwrap();
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Unchanged);
    append(&run_dir, &events[4..5]);
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Appended(1));
    assert_in_step(&mut w, &run_dir);
}

#[test]
fn a_journal_cut_short_replaced_or_rewritten_is_replayed_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, events) = setup(dir.path());
    let reg = registry();
    let path = journal_of(&run_dir);
    append(&run_dir, &events[..6]);
    let six = std::fs::read(&path).unwrap();
    append(&run_dir, &events[6..9]);
    let mut w = Watcher::open(&run_dir, &reg).unwrap();
    assert_eq!(w.entries(), 11);
    // Cut short (an older copy put back in place).
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(six.len() as u64).unwrap();
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Replayed);
    assert_eq!(w.entries(), 8);
    assert_in_step(&mut w, &run_dir);
    // Then it grows again, read incrementally.
    append(&run_dir, &events[6..7]);
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Appended(1));
    assert_in_step(&mut w, &run_dir);
    // Replaced by another file (a new inode), longer than what was read.
    let whole = std::fs::read(&path).unwrap();
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, &whole).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    append(&run_dir, &events[7..8]);
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Replayed);
    assert_in_step(&mut w, &run_dir);
    // Rewritten in place without growing.
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, &whole).unwrap();
    filetime_bump(&path);
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Replayed);
    assert_in_step(&mut w, &run_dir);
    // Rewritten in place from another history (the same events an hour later), longer: the
    // last line read is not there any more.
    std::fs::write(&path, &six).unwrap();
    let later: Vec<_> =
        events[6..9].iter().map(|(e, t)| (e.clone(), *t + time::Duration::hours(1))).collect();
    append(&run_dir, &later);
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Replayed);
    assert_in_step(&mut w, &run_dir);
}

/// Moves a file's modification time forward (a rewrite within the file system's time
/// resolution would otherwise look untouched).
fn filetime_bump(path: &Path) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let t =
        std::fs::metadata(path).unwrap().modified().unwrap() + std::time::Duration::from_secs(5);
    f.set_modified(t).unwrap();
}

#[test]
fn a_tampered_or_refused_new_entry_is_the_error_a_full_replay_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, events) = setup(dir.path());
    let reg = registry();
    let path = journal_of(&run_dir);
    append(&run_dir, &events[..2]);
    let mut w = Watcher::open(&run_dir, &reg).unwrap();
    // A new line whose content no longer matches its hash.
    let before = std::fs::read(&path).unwrap();
    append(&run_dir, &events[2..3]);
    let mut after = std::fs::read(&path).unwrap();
    let new_line = String::from_utf8(after[before.len()..].to_vec()).unwrap();
    let tampered = new_line.replacen(r#""attempt":1"#, r#""attempt":7"#, 1);
    assert_ne!(tampered, new_line);
    after.truncate(before.len());
    after.extend_from_slice(tampered.as_bytes());
    std::fs::write(&path, &after).unwrap();
    let err = w.refresh(&reg).unwrap_err().to_string();
    assert!(
        err.contains("journal.jsonl:5: journal is corrupt: entry hash does not match"),
        "{err}"
    );
    assert_eq!(err, runner::load(&run_dir, &reg).unwrap_err().to_string());
    // Still refused on the next look, and recovered once the journal is whole again.
    assert_eq!(w.refresh(&reg).unwrap_err().to_string(), err);
    std::fs::write(&path, &before).unwrap();
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Replayed);
    assert_in_step(&mut w, &run_dir);
    // A correctly chained entry that the engine refuses: the replay error naming its line.
    let last = String::from_utf8(before.clone()).unwrap();
    let last_hash = journal::sha256_hex(last.lines().last().unwrap().as_bytes());
    let bogus = Event::StepStarted { step: "nope".into(), branch: None, attempt: 1 };
    let line = line_after(w.entries(), &last_hash, &bogus);
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&line).unwrap();
    let err = w.refresh(&reg).unwrap_err().to_string();
    assert!(err.contains("journal.jsonl:5: journal entry cannot be replayed"), "{err}");
    assert_eq!(err, runner::load(&run_dir, &reg).unwrap_err().to_string());
}

/// Re-chains raw journal lines: each line's `prev` becomes the hash of the line before, and its
/// `hash` the hash of its bytes without the `hash` field (as `journal::parse` checks them).
fn rechain_lines(lines: &mut [String]) {
    let mut prev = "0".repeat(64);
    for line in lines.iter_mut() {
        let at = line.rfind(r#","prev":""#).unwrap();
        let unhashed = format!(r#"{},"prev":"{prev}"}}"#, &line[..at]);
        let hash = journal::sha256_hex(unhashed.as_bytes());
        *line = format!("{},\"hash\":\"{hash}\"}}", &unhashed[..unhashed.len() - 1]);
        prev = journal::sha256_hex(line.as_bytes());
    }
}

#[test]
fn a_journal_the_fast_reader_does_not_vouch_for_is_replayed_by_the_reference_path() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, events) = setup(dir.path());
    let reg = registry();
    let path = journal_of(&run_dir);
    append(&run_dir, &events[..5]);
    // Valid JSON with a correct chain, but not laid out as this build writes lines: a space in
    // the shell, an escape in a kind.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2] = lines[2].replacen(r#"{"seq":2"#, r#"{"seq": 2"#, 1);
    lines[3] = lines[3].replacen(r#""kind":"event""#, r#""kind":"ev\u0065nt""#, 1);
    rechain_lines(&mut lines);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let read = journal::read(&path).unwrap();
    let reference = runner::replay(&path, read.entries.clone(), &reg).unwrap();
    let loaded = runner::load(&run_dir, &reg).unwrap();
    assert_eq!(loaded.engine.snapshot(), reference.engine.snapshot());
    assert_eq!(*loaded.entries, read.entries[..]);
    // The watcher starts from the reference reader's place and continues incrementally.
    let mut w = Watcher::open(&run_dir, &reg).unwrap();
    assert_eq!(w.entries(), 7);
    append(&run_dir, &events[5..7]);
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Appended(2));
    assert_in_step(&mut w, &run_dir);
}

#[test]
fn load_gives_the_entries_of_the_reference_reader_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, events) = setup(dir.path());
    let reg = registry();
    append(&run_dir, &events);
    let read = journal::read(&journal_of(&run_dir)).unwrap();
    let loaded = runner::load(&run_dir, &reg).unwrap();
    assert_eq!(loaded.entries.len(), read.entries.len());
    let times = (read.entries[0].time, read.entries[read.entries.len() - 1].time);
    assert_eq!(loaded.entries.times(), Some(times));
    assert_eq!(*loaded.entries, read.entries[..]);
    let reference = runner::replay(&journal_of(&run_dir), read.entries, &reg).unwrap();
    assert_eq!(loaded.engine.snapshot(), reference.engine.snapshot());
    assert_eq!(loaded.header, reference.header);
    assert_eq!(loaded.run_id, reference.run_id);
}

#[test]
fn a_watcher_shows_what_a_replay_shows_even_where_forgetting_the_dispatched_starts_fails_a_step() {
    // One slot. `c` waits for approval, so `b` is handed the slot (dispatched, not yet
    // started); once `c` is approved, `a` is ready but has no slot. A replay forgets the
    // dispatched starts and hands out the slot again by priority: `a` first, whose inputs do
    // not render, so it fails. The watcher's engine, which keeps taking events and never
    // forgets, must show that too.
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let body = "steps:
  - id: c
    uses: gate.approval
  - id: a
    uses: test.idempotent
    needs: [c]
    with: { effect_file: \"{{ steps.c.outputs.nope }}\" }
  - id: b
    uses: test.idempotent
    with: { effect_file: x }
";
    let p = plan("settle", 1, body);
    let run_dir = runner::create_run(dir.path(), &p, "s", t0(), &actor(), 7).unwrap();
    let mut h = Harness::new(p);
    h.start_all();
    h.ev(Event::StepAwaitingApproval {
        step: "c".into(),
        branch: None,
        attempt: 1,
        prompt: "go?".into(),
        four_eyes: false,
    });
    h.ev(Event::Approved { step: "c".into(), branch: None, by: actor(), comment: None });
    // The situation this test is about.
    assert_eq!(h.phase("a", None), lifeboat::engine::Phase::Ready);
    assert!(!h.engine.forgetting_changes_nothing_visible());
    let mut settled = h.engine.clone();
    settled.forget_dispatched();
    let failed = settled.snapshot().into_iter().find(|v| v.step == "a").unwrap();
    assert_eq!(failed.instance.unwrap().state.phase(), lifeboat::engine::Phase::Failed);
    let mut w = Watcher::open(&run_dir, &reg).unwrap();
    append(&run_dir, &h.log[1..]);
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Appended(h.log.len() - 1));
    assert_in_step(&mut w, &run_dir);
    let a = w.engine().snapshot().into_iter().find(|v| v.step == "a").unwrap();
    assert_eq!(a.instance.unwrap().state.phase(), lifeboat::engine::Phase::Failed);
    // Once `b` has started, nothing is handed out again: the engine is seen as it is.
    let n = h.log.len();
    h.start_all();
    assert!(h.engine.forgetting_changes_nothing_visible());
    append(&run_dir, &h.log[n..]);
    assert_eq!(w.refresh(&reg).unwrap(), Refreshed::Appended(1));
    assert_in_step(&mut w, &run_dir);
}
