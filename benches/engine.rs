//! Benchmarks of the engine and the journal (`cargo bench --bench engine`). They print figures
//! and ratios side by side and assert nothing: performance claims come from here, not from tests.
//!
//! 1. Journal append with group commit versus raw `write + fsync` of the same bytes, in the same
//!    directory (goal: within 1.5x of one fsync per batch), and versus one fsync per entry.
//! 2. Replay of a 100,000-entry journal: read, verify the hash chain, rebuild the engine
//!    (goal: under 200 ms).
//! 3. Scheduling overhead of a 10,000-step graph of no-op steps through the engine
//!    (goal: under 50 µs per step).

use lifeboat::catalog::StepClass;
use lifeboat::engine::{runner, Action, Actor, Engine, Event};
use lifeboat::journal::{self, Writer};
use lifeboat::runbook::{Plan, RetryPolicy, Runbook, Source, Span, StepDef};
use lifeboat::steps::registry;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-01-01 00:00:00 UTC)
}

/// `n` no-op steps in layers of `width`: each step needs one step of the previous layer.
fn plan(n: usize, width: usize, concurrency: usize) -> Plan {
    let steps = (0..n)
        .map(|i| StepDef {
            id: format!("s{i}"),
            uses: "wait.duration".into(),
            needs: if i >= width { vec![format!("s{}", i - width)] } else { vec![] },
            with: Default::default(),
            for_each: None,
            when: None,
            retry: RetryPolicy::default(),
            timeout: None,
            description: None,
            span: Span::default(),
        })
        .collect();
    Plan {
        runbook: Runbook {
            source: Source {
                path: "bench.yaml".into(),
                sha256: "0".repeat(64),
                text: String::new(),
            },
            name: "bench".into(),
            description: None,
            concurrency,
            params: vec![],
            steps,
        },
        params: Default::default(),
        order: (0..n).collect(),
    }
}

/// Runs every step of a plan to success through the engine; returns the events it took.
fn run_to_end(engine: &mut Engine, progress_per_step: u64) -> Vec<Event> {
    let mut log = vec![Event::RunStarted];
    let mut queue: Vec<Action> = engine.handle(&Event::RunStarted, t0()).unwrap_or_default();
    while let Some(a) = queue.pop() {
        if let Action::StartStep(s) = a {
            let mut evs = vec![Event::StepStarted {
                step: s.step.clone(),
                branch: s.branch,
                attempt: s.attempt,
            }];
            for p in 0..progress_per_step {
                evs.push(Event::StepProgress {
                    step: s.step.clone(),
                    branch: s.branch,
                    attempt: s.attempt,
                    done: p + 1,
                    total: progress_per_step,
                    message: "copying".into(),
                });
            }
            evs.push(Event::StepSucceeded {
                step: s.step.clone(),
                branch: s.branch,
                attempt: s.attempt,
                outputs: Default::default(),
            });
            for e in evs {
                queue.extend(engine.handle(&e, t0()).unwrap_or_default());
                log.push(e);
            }
        }
    }
    log
}

fn group_commit() {
    let dir = tempfile::tempdir_in(".").unwrap_or_else(|_| tempfile::tempdir().expect("temp dir"));
    let batches = 200;
    let per_batch = 16;
    let payload = json!({ "event": "step_succeeded", "step": "reapply-settings", "branch": 3, "attempt": 1,
                          "outputs": { "written": 12, "unchanged": 300 } });
    // lifeboat's writer: one write + one fsync per batch, hashing included.
    let path = dir.path().join("journal.jsonl");
    let mut w = Writer::create(&path, t0(), json!({ "run_id": "bench" })).unwrap();
    let batch: Vec<_> = (0..per_batch).map(|_| (t0(), "event", payload.clone())).collect();
    let start = Instant::now();
    for _ in 0..batches {
        w.append_batch(&batch).unwrap();
    }
    let ours = start.elapsed();
    // The same bytes, raw: write + fsync per batch.
    let bytes = std::fs::read(&path).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').skip(1).collect();
    let chunks: Vec<Vec<u8>> = lines.chunks(per_batch).map(|c| c.concat()).collect();
    let raw_path = dir.path().join("raw.jsonl");
    let mut raw = std::fs::File::create(&raw_path).unwrap();
    let start = Instant::now();
    for c in &chunks {
        raw.write_all(c).unwrap();
        raw.sync_data().unwrap();
    }
    let raw_time = start.elapsed();
    // Without group commit: one fsync per entry.
    let path1 = dir.path().join("single.jsonl");
    let mut w1 = Writer::create(&path1, t0(), json!({ "run_id": "bench" })).unwrap();
    let start = Instant::now();
    for _ in 0..batches * per_batch / 4 {
        w1.append_batch(&[(t0(), "event", payload.clone())]).unwrap();
    }
    let single = start.elapsed() * 4;
    let entries = (batches * per_batch) as f64;
    println!("journal append, {batches} batches of {per_batch} entries ({} bytes):", bytes.len());
    println!(
        "  lifeboat group commit     {:>9.2} ms  {:>9.0} entries/s",
        ms(ours),
        entries / ours.as_secs_f64()
    );
    println!(
        "  raw write+fsync per batch {:>9.2} ms  {:>9.0} entries/s",
        ms(raw_time),
        entries / raw_time.as_secs_f64()
    );
    println!(
        "  one fsync per entry (est) {:>9.2} ms  {:>9.0} entries/s",
        ms(single),
        entries / single.as_secs_f64()
    );
    println!(
        "  ratio group commit / raw: {:.2}x (goal <= 1.5x); per-entry fsync / group commit: {:.1}x",
        ratio(ours, raw_time),
        ratio(single, ours)
    );
}

fn replay() {
    let dir = tempfile::tempdir_in(".").unwrap_or_else(|_| tempfile::tempdir().expect("temp dir"));
    // 5,000 steps x (started, 18 progress, succeeded) = 100,000 events, plus header and start.
    let p = plan(5000, 100, 8);
    let reg = registry();
    let mut engine = Engine::new(Arc::new(p.clone()), "bench", 1, &|u| reg.class_of(u));
    let events = run_to_end(&mut engine, 18);
    let actor = Actor {
        user: "bench".into(),
        host: "bench".into(),
        azure_principal: None,
        azure_principal_name: None,
    };
    let run_dir = runner::create_run(dir.path(), &p, "replay", t0(), &actor, 1).unwrap();
    let (mut w, _) = Writer::open(&run_dir.join(journal::JOURNAL_FILE)).unwrap();
    for chunk in events[1..].chunks(4096) {
        let batch: Vec<_> =
            chunk.iter().map(|e| (t0(), "event", serde_json::to_value(e).unwrap())).collect();
        w.append_batch(&batch).unwrap();
    }
    let path = run_dir.join(journal::JOURNAL_FILE);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut best_read = Duration::MAX;
    let mut best_total = Duration::MAX;
    let mut n = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let read = journal::read(&path).unwrap();
        best_read = best_read.min(start.elapsed());
        n = read.entries.len();
        let start = Instant::now();
        let r = runner::load(&run_dir, &reg).unwrap();
        best_total = best_total.min(start.elapsed());
        assert_eq!(r.engine.snapshot(), engine.snapshot(), "replay rebuilt a different state");
    }
    println!("replay of a {n}-entry journal ({:.1} MB), best of 5:", size as f64 / 1e6);
    println!("  read + verify hash chain  {:>9.2} ms", ms(best_read));
    println!("  read + verify + rebuild   {:>9.2} ms  (goal < 200 ms)", ms(best_total));
}

fn scheduling() {
    let n = 10_000;
    let p = Arc::new(plan(n, 100, 8));
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let mut engine = Engine::new(p.clone(), "bench", 1, &|_| StepClass::Idempotent);
        let start = Instant::now();
        let events = run_to_end(&mut engine, 0);
        best = best.min(start.elapsed());
        assert_eq!(events.len(), 1 + 2 * n);
    }
    println!("scheduling a {n}-step graph of no-op steps through the engine, best of 5:");
    println!(
        "  total {:>9.2} ms   per step {:>7.2} us  (goal < 50 us)",
        ms(best),
        best.as_secs_f64() * 1e6 / n as f64
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-12)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects one benchmark.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if want("journal") {
        group_commit();
    }
    if want("replay") {
        replay();
    }
    if want("schedule") {
        scheduling();
    }
}
