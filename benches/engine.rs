//! Benchmarks of the engine and the journal (`cargo bench --bench engine`). They print figures
//! and ratios side by side and assert nothing: performance claims come from here, not from tests.
//!
//! 1. Journal append with group commit versus raw `write + fsync` of the same bytes, in the same
//!    directory (goal: within 1.5x of one fsync per batch), and versus one fsync per entry.
//! 2. Replay of a 100,000-entry journal: read, verify the hash chain, rebuild the engine
//!    (goal: under 200 ms), by phase, against the path `runner::load` took before the fast reader
//!    (`journal::read`, an `Entry` with a `serde_json::Value` payload per line, then
//!    `runner::replay`, still the reference for what the fast reader does not vouch for).
//! 3. Watching that journal grow (`watch`): CPU time per entry appended one by one and re-read
//!    by `engine::replay::Watcher` (what `status --watch` and the drill do), against a full
//!    replay per entry (goal: bounded, independent of the journal's length).
//! 4. Scheduling overhead of a 10,000-step graph of no-op steps through the engine
//!    (goal: under 50 µs per step).
//!
//! A name as argument runs one: `cargo bench --bench engine -- replay` (`journal`, `replay`,
//! `watch`, `schedule`).

use lifeboat::catalog::StepClass;
use lifeboat::engine::replay::{self, Refreshed, Watcher};
use lifeboat::engine::{runner, Action, Actor, Engine, Event};
use lifeboat::journal::{self, scan, ChainPos, Writer};
use lifeboat::runbook::{Plan, RetryPolicy, Runbook, Source, Span, StepDef};
use lifeboat::steps::registry;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
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
            label: None,
            when: None,
            retry: RetryPolicy::default(),
            timeout: None,
            expected: None,
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
                builtin: None,
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

/// The 100,000-entry journal of a finished 5,000-step run (started, 18 progress, succeeded per
/// step, plus header and start); returns its run directory and the live engine's state.
fn journal_of(
    dir: &std::path::Path,
    steps: usize,
    entries: usize,
) -> (PathBuf, Engine, Vec<Event>) {
    let p = plan(steps, 100, 8);
    let reg = registry();
    let mut engine = Engine::new(Arc::new(p.clone()), "bench", 1, &|u| reg.class_of(u));
    let events = run_to_end(&mut engine, 18);
    let actor = Actor::os("bench", "bench");
    let run_dir = runner::create_run(dir, &p, "replay", t0(), &actor, 1).unwrap();
    let (mut w, _) = Writer::open(&run_dir.join(journal::JOURNAL_FILE)).unwrap();
    // The header and `RunStarted` are written by `create_run`.
    for chunk in events[1..entries - 1].chunks(4096) {
        let batch: Vec<_> =
            chunk.iter().map(|e| (t0(), "event", serde_json::to_value(e).unwrap())).collect();
        w.append_batch(&batch).unwrap();
    }
    (run_dir, engine, events)
}

fn replay() {
    let dir = tempfile::tempdir_in(".").unwrap_or_else(|_| tempfile::tempdir().expect("temp dir"));
    let reg = registry();
    let (run_dir, engine, events) = journal_of(dir.path(), 5000, 100_002);
    let path = run_dir.join(journal::JOURNAL_FILE);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut best = [Duration::MAX; 5];
    // CPU time of the whole replay, every thread: what a busy machine does not inflate.
    let mut best_cpu = [Duration::MAX; 2];
    let mut n = 0;
    let expected = engine.snapshot();
    assert_eq!(events.len() + 1, 100_002);
    // Before and after in turns, so a busy machine slows both alike.
    for _ in 0..5 {
        // Before (what `runner::load` did until the fast reader): `journal::read` builds every
        // `Entry` with its payload as a `serde_json::Value`, then `runner::replay`.
        let (start, cpu) = (Instant::now(), cpu_time());
        let read = journal::read(&path).unwrap();
        best[0] = best[0].min(start.elapsed());
        n = read.entries.len();
        let r = runner::replay(&path, read.entries, &reg).unwrap();
        best[1] = best[1].min(start.elapsed());
        best_cpu[0] = best_cpu[0].min(cpu_time() - cpu);
        assert_eq!(r.engine.snapshot(), expected, "replay rebuilt a different state");
        drop(r);
        // After, by phase: read, then hash and parse (`journal::scan` with the runner's decoder).
        let start = Instant::now();
        let bytes = journal::read_bytes(&path).unwrap();
        best[2] = best[2].min(start.elapsed());
        let s = scan::scan(&bytes, &ChainPos::start(), &replay::decode).unwrap();
        best[3] = best[3].min(start.elapsed());
        assert_eq!(s.end.next_seq as usize, n);
        drop((s, bytes));
        // After, whole: what `status`, `resume` and the watchers do.
        let (start, cpu) = (Instant::now(), cpu_time());
        let r = runner::load(&run_dir, &reg).unwrap();
        best[4] = best[4].min(start.elapsed());
        best_cpu[1] = best_cpu[1].min(cpu_time() - cpu);
        assert_eq!(r.engine.snapshot(), expected, "replay rebuilt a different state");
    }
    // The same from a heap given back to the system first, as a new process starts: every page
    // is faulted in again.
    let mut fresh = [Duration::MAX; 2];
    for _ in 0..3 {
        tidy_heap();
        let start = Instant::now();
        let read = journal::read(&path).unwrap();
        drop(runner::replay(&path, read.entries, &reg).unwrap());
        fresh[0] = fresh[0].min(start.elapsed());
        tidy_heap();
        let start = Instant::now();
        drop(runner::load(&run_dir, &reg).unwrap());
        fresh[1] = fresh[1].min(start.elapsed());
    }
    let [read_before, before, read_bytes, scanned, after] = best;
    println!("replay of a {n}-entry journal ({:.1} MB), best of 5:", size as f64 / 1e6);
    println!("  before: journal::read (Entry + Value per line) {:>9.2} ms", ms(read_before));
    println!(
        "  before: read + verify + rebuild                {:>9.2} ms  CPU {:>7.2} ms",
        ms(before),
        ms(best_cpu[0])
    );
    println!("  after:  read the bytes                          {:>9.2} ms", ms(read_bytes));
    println!("  after:  read + verify hash chain + parse events {:>9.2} ms", ms(scanned));
    println!(
        "  after:  read + verify + rebuild (runner::load)  {:>9.2} ms  CPU {:>7.2} ms  (goal < 200 ms)",
        ms(after),
        ms(best_cpu[1])
    );
    println!(
        "  ratio before / after: {:.2}x (CPU {:.2}x)",
        ratio(before, after),
        ratio(best_cpu[0], best_cpu[1])
    );
    println!(
        "  from a fresh heap, best of 3: before {:.2} ms, after {:.2} ms, ratio {:.2}x",
        ms(fresh[0]),
        ms(fresh[1]),
        ratio(fresh[0], fresh[1])
    );
}

/// Gives the memory freed so far back to the system (glibc), so the next replay starts from a
/// heap like a new `lifeboat status` process has: nothing to reuse, every page faulted in.
fn tidy_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only rearranges the allocator's free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// CPU time of this process (every thread).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Appends `appended` entries one by one to a `preloaded`-entry journal of a `steps`-step run,
/// refreshing a `Watcher` after each: its CPU and wall time per entry, the CPU time per entry of
/// reading its state after each (`Watcher::engine`), and the run directory.
fn watched(
    dir: &std::path::Path,
    steps: usize,
    preloaded: usize,
    appended: usize,
) -> (Duration, Duration, Duration, PathBuf, Watcher) {
    let reg = registry();
    let (run_dir, _, events) = journal_of(dir, steps, preloaded);
    let path = run_dir.join(journal::JOURNAL_FILE);
    let mut watcher = Watcher::open(&run_dir, &reg).unwrap();
    let (mut w, _) = Writer::open(&path).unwrap();
    let (mut refresh_cpu, mut refresh_wall, mut view_cpu) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    // `events[0]` is `RunStarted`, journaled with the header.
    for e in &events[preloaded - 1..preloaded - 1 + appended] {
        w.append_batch(&[(t0(), "event", serde_json::to_value(e).unwrap())]).unwrap();
        let (cpu, wall) = (cpu_time(), Instant::now());
        let r = watcher.refresh(&reg).unwrap();
        refresh_cpu += cpu_time() - cpu;
        refresh_wall += wall.elapsed();
        assert_eq!(r, Refreshed::Appended(1));
        // What `status --watch` looks at after each change: the state as `load` gives it.
        let cpu = cpu_time();
        let _ = watcher.engine().status();
        view_cpu += cpu_time() - cpu;
    }
    assert_eq!(watcher.entries(), (preloaded + appended) as u64);
    let per = |d: Duration| d / appended as u32;
    (per(refresh_cpu), per(refresh_wall), per(view_cpu), run_dir, watcher)
}

fn watch() {
    let dir = tempfile::tempdir_in(".").unwrap_or_else(|_| tempfile::tempdir().expect("temp dir"));
    let reg = registry();
    let appended = 1000;
    // 5,050 steps make 101,002 entries: 100,000 in the journal, 1,000 appended one by one.
    let (refresh_cpu, refresh_wall, view_cpu, run_dir, mut watcher) =
        watched(dir.path(), 5050, 100_000, appended);
    // The same from a 200-entry journal (60 steps, 1,200 entries at the end): bounded means
    // about the same cost whatever the length.
    let small =
        tempfile::tempdir_in(".").unwrap_or_else(|_| tempfile::tempdir().expect("temp dir"));
    let (small_cpu, small_wall, small_view, _, _) = watched(small.path(), 60, 200, appended);
    // Before: a full replay per change.
    let mut full_cpu = Duration::MAX;
    let mut full_wall = Duration::MAX;
    for _ in 0..3 {
        let (cpu, wall) = (cpu_time(), Instant::now());
        let r = runner::load(&run_dir, &reg).unwrap();
        full_cpu = full_cpu.min(cpu_time() - cpu);
        full_wall = full_wall.min(wall.elapsed());
        assert_eq!(r.engine.snapshot(), watcher.engine().snapshot(), "the watcher drifted");
    }
    println!(
        "watching a 100,000-entry journal: {appended} entries appended one by one, re-read after each:"
    );
    println!(
        "  incremental (Watcher::refresh)   CPU {:>9.1} us/entry  wall {:>9.1} us/entry",
        us(refresh_cpu),
        us(refresh_wall)
    );
    println!(
        "  + the state as load gives it     CPU {:>9.1} us/entry  (Watcher::engine)",
        us(view_cpu)
    );
    println!(
        "  same, on a 200-entry journal     CPU {:>9.1} us/entry  wall {:>9.1} us/entry  (+ state {:.1} us)",
        us(small_cpu),
        us(small_wall),
        us(small_view)
    );
    println!(
        "  full replay per entry (load)     CPU {:>9.1} us/entry  wall {:>9.1} us/entry",
        us(full_cpu),
        us(full_wall)
    );
    println!(
        "  ratio full replay / incremental (CPU, with the state): {:.0}x",
        ratio(full_cpu, refresh_cpu + view_cpu)
    );
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

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
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
    if want("watch") {
        watch();
    }
    if want("schedule") {
        scheduling();
    }
}
