//! Issue 17 acceptance, the driver on an `az://` run store (Azurite):
//! - a driver SIGKILLed mid-run; a second process with ANOTHER state directory resumes once the
//!   lease expired and ends like an uninterrupted run; the chain verifies; nothing lost (the
//!   killed driver's local journal is a prefix of the record) or duplicated;
//! - fencing: a driver SIGSTOPped while another takes the run over is refused on its next
//!   append after SIGCONT (exit 4, the message), and wrote nothing after the takeover;
//! - bad input: missing container, no credential, a lease held by a live driver (exit 4), a
//!   malformed remote journal (exit 2 naming the line): nothing written.

use super::{azurite, World};
use lifeboat::journal;
use lifeboat::runstore::remote::journal_blob;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

/// Sequential steps slow enough to stop a driver between them.
fn runbook(steps: usize, sleep_ms: u64) -> String {
    let mut s = String::from(
        "apiVersion: lifeboat/v1\nmetadata:\n  name: remote\nparams:\n  fx: { type: string }\nsteps:\n",
    );
    for i in 1..=steps {
        let needs = if i > 1 { format!(", needs: [s{:02}]", i - 1) } else { String::new() };
        s.push_str(&format!(
            "  - {{ id: s{i:02}, uses: test.idempotent{needs}, with: {{ effect_file: \"{{{{ params.fx }}}}\", sleep_ms: {sleep_ms}, label: s{i:02} }} }}\n"
        ));
    }
    s
}

impl World {
    /// Waits until the record holds at least `lines` entries (the driver is mid-run).
    async fn wait_for_lines(&self, run_id: &str, lines: usize, child: &mut Child) {
        let start = Instant::now();
        loop {
            let n = self.journal(run_id).await.iter().filter(|b| **b == b'\n').count();
            if n >= lines {
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the driver ended ({status}) before the journal had {lines} lines");
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the journal never reached {lines} lines"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn text(o: &Output) -> String {
    crate::support::cli::text(o)
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we spawned.
    let r = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(r, 0, "kill({sig})");
}

/// The step states of a `status --output json`, by step id.
fn step_states(status: &Value) -> Vec<(String, String)> {
    let steps = status.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut v: Vec<(String, String)> = steps
        .iter()
        .map(|s| {
            (
                s.get("id")
                    .or_else(|| s.get("step"))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                s.get("state").and_then(Value::as_str).unwrap_or("?").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Every entry's kind and event type, and the number of `step_succeeded` per step.
fn events(bytes: &[u8]) -> Vec<Value> {
    let out =
        journal::parse(Path::new("blob"), bytes).expect("the record parses and its chain verifies");
    assert!(out.torn_line.is_none());
    journal::verify_chain(&out.entries).expect("chain");
    out.entries.iter().map(|e| e.payload.clone()).collect()
}

fn succeeded_per_step(bytes: &[u8]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for p in events(bytes) {
        if p.get("event").and_then(Value::as_str) == Some("step_succeeded") {
            *m.entry(p["step"].as_str().unwrap_or("?").to_string()).or_insert(0) += 1;
        }
    }
    m
}

fn local_journal(world: &World, state: &str, run_id: &str) -> Vec<u8> {
    let root = lifeboat::runstore::remote::cache_root(&world.state(state), &world.store);
    std::fs::read(root.join("runs").join(run_id).join(journal::JOURNAL_FILE)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_run_then_resume_elsewhere_after_the_lease_expired() {
    let Some(endpoint) = azurite() else { return };
    let w = World::new(endpoint, &runbook(8, 300)).await;
    // The reference: the same runbook, uninterrupted, on the same store.
    let out = w.run("ref", "reference").env("LIFEBOAT_RUN_STORE_STATS", "1").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // Group commit: one request per journal batch on a clean connection.
    let stats = text(&out)
        .lines()
        .filter(|l| l.contains("journal batches appended"))
        .find_map(|l| l.strip_prefix("run store: ").map(str::to_string))
        .unwrap_or_else(|| panic!("no stats line: {}", text(&out)));
    let n: Vec<u64> = stats.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert_eq!(n.len(), 2, "{stats}");
    assert!(n[0] >= 8, "{stats}");
    assert_eq!(n[0], n[1], "round trips per batch: {stats}");
    let reference = step_states(&w.status("ref", "reference"));
    assert_eq!(reference.len(), 8);
    assert!(reference.iter().all(|(_, s)| s == "succeeded"), "{reference:?}");

    let mut a = w.run("a", "r1").stdout(std::process::Stdio::null()).spawn().unwrap();
    // Header, started, then 2 lines per step: killed around step 3.
    w.wait_for_lines("r1", 7, &mut a).await;
    signal(&a, libc::SIGKILL);
    let _ = a.wait();
    let at_kill = w.journal("r1").await;
    let a_local = local_journal(&w, "a", "r1");
    assert!(!a_local.is_empty());
    assert!(
        at_kill.starts_with(&a_local),
        "the killed driver's local copy is a prefix of the record"
    );

    // Another machine: another state directory, same store. The lease of the killed driver is
    // still held: resume waits for it to expire, then finishes.
    let mut b = w.cmd("b");
    b.args(["resume", "r1"]).env("LIFEBOAT_RUN_STORE_LEASE_WAIT", "90s");
    let out = b.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("is leased by"),
        "resume says whose lease it waits for: {}",
        text(&out)
    );

    // Same final state as the uninterrupted run, seen from a third place.
    let after = step_states(&w.status("c", "r1"));
    assert_eq!(after, reference);
    let record = w.journal("r1").await;
    assert!(record.starts_with(&at_kill), "nothing the killed driver recorded was lost");
    for (step, n) in succeeded_per_step(&record) {
        assert_eq!(n, 1, "step {step} succeeded {n} times in the record");
    }
    assert_eq!(succeeded_per_step(&record).len(), 8);
    // The chain verifies, read from the blob directly.
    let out = w.cmd("d").args(["audit", "verify", "r1"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("intact"), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("source: {}/runs/r1/journal.jsonl", w.url)),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_driver_is_fenced_after_a_takeover() {
    let Some(endpoint) = azurite() else { return };
    let w = World::new(endpoint, &runbook(6, 1500)).await;
    let mut a = w
        .run("a", "f1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let a_pid = a.id();
    w.wait_for_lines("f1", 4, &mut a).await; // header, started, s01 started
    signal(&a, libc::SIGSTOP);
    let before_takeover = w.journal("f1").await;

    let mut b = w.cmd("b");
    b.args(["resume", "f1", "--take-over"]);
    let out = b.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("took over run f1: broke the lease of"), "{}", text(&out));
    let after_b = w.journal("f1").await;

    signal(&a, libc::SIGCONT);
    let out = a.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "the fenced driver exits 4: {}", text(&out));
    assert!(text(&out).contains("this driver lost the run's lease"), "{}", text(&out));
    assert!(text(&out).contains("nothing more was written"), "{}", text(&out));

    // The record is B's after the takeover: A added nothing, and its local copy stops before it.
    let record = w.journal("f1").await;
    assert_eq!(record, after_b, "the fenced driver appended nothing");
    // A's local copy is what the service acknowledged to A: at least what the blob held when A
    // was stopped (an append A had sent just before SIGSTOP may land after that read; A learns of
    // it on SIGCONT), and a prefix of the record (blob first, then the local copy).
    let a_local = local_journal(&w, "a", "f1");
    assert!(a_local.starts_with(&before_takeover), "A lost an acknowledged batch");
    assert!(record.starts_with(&a_local), "A's copy holds what the record does not");
    let evs = events(&record);
    let resumed = evs
        .iter()
        .rposition(|p| p.get("event").and_then(Value::as_str) == Some("resumed"))
        .expect("B journaled resumed");
    let taken_from = evs[resumed]["took_over_from"].as_str().unwrap_or_default();
    assert!(
        taken_from.contains(&format!("pid {a_pid}")),
        "B's resumed event names the driver it took the run over from: {taken_from:?}"
    );
    let a_entries = events(&a_local).len();
    assert_eq!(resumed, a_entries, "B's resume directly follows A's last acknowledged entry");
    assert!(step_states(&w.status("c", "f1")).iter().all(|(_, s)| s == "succeeded"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_on_the_run_store() {
    let Some(endpoint) = azurite() else { return };
    let w = World::new(endpoint, &runbook(4, 1000)).await;
    // A container that does not exist: exit 2, named, with how to create it.
    let mut c = w.cmd("x");
    c.args(["runs", "list"]).env("LIFEBOAT_RUN_STORE", "az://no-such-container-here/p");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("`no-such-container-here` does not exist"), "{}", text(&out));
    assert!(text(&out).contains("az storage container create"), "{}", text(&out));
    // A bad container name: exit 2 before any request.
    let mut c = w.cmd("x");
    c.args(["runs", "list", "--run-store", "az://Bad_Name"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("lowercase"), "{}", text(&out));
    // No credential: exit 2 naming the variables; nothing created.
    let mut c = crate::support::cli::lifeboat();
    c.env("LIFEBOAT_STATE_DIR", w.state("y")).env("LIFEBOAT_TEST_STEPS", "1");
    c.arg("run").arg(w.tmp.path().join("rb.yaml")).args([
        "--set",
        "fx=/dev/null",
        "--run-id",
        "nocred",
        "--run-store",
        &w.url,
    ]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("AZURE_STORAGE_ACCOUNT_NAME"), "{}", text(&out));
    assert_eq!(w.store.list("").await.unwrap(), Vec::<String>::new(), "nothing written");

    // A lease held by a live driver: exit 4 naming it, suggesting --take-over; nothing written.
    let mut a = w
        .run("a", "held")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    w.wait_for_lines("held", 3, &mut a).await;
    let listing = w.store.list("").await.unwrap();
    let mut b = w.cmd("b");
    b.args(["resume", "held"]).env("LIFEBOAT_RUN_STORE_LEASE_WAIT", "2s");
    let out = b.output().unwrap();
    let before = w.journal("held").await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("is driven by"), "{}", text(&out));
    assert!(text(&out).contains("--take-over"), "{}", text(&out));
    assert_eq!(w.store.list("").await.unwrap(), listing);
    let out = a.wait_with_output().unwrap();
    assert!(out.status.success(), "the live driver was not disturbed: {}", text(&out));
    assert!(w.journal("held").await.starts_with(&before));

    // A malformed remote journal: exit 2 naming the blob and the line; nothing written, no lease.
    let good = w.journal("held").await;
    let mut lines: Vec<&[u8]> = good.split(|b| *b == b'\n').collect();
    lines[1] = b"{\"seq\": 1, \"not\": \"an entry\"}";
    let bad = lines.join(&b'\n');
    w.store.put_new(&journal_blob("bad"), bad.clone().into()).await.unwrap();
    let listing = w.store.list("").await.unwrap();
    for args in [&["resume", "bad"][..], &["status", "bad"][..]] {
        let out = w.cmd("c").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("runs/bad/journal.jsonl:2:"), "{args:?}: {}", text(&out));
    }
    assert_eq!(w.store.list("").await.unwrap(), listing);
    assert_eq!(w.journal("bad").await, bad);
    assert!(!w.store.properties(&journal_blob("bad")).await.unwrap().unwrap().leased);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_watch_follows_a_remote_run_from_another_machine() {
    let Some(endpoint) = azurite() else { return };
    let w = World::new(endpoint, &runbook(4, 400)).await;
    let mut a = w.run("a", "w1").stdout(std::process::Stdio::null()).spawn().unwrap();
    w.wait_for_lines("w1", 3, &mut a).await;
    let out = w.cmd("c").args(["status", "w1", "--watch", "--interval", "100ms"]).output().unwrap();
    assert!(a.wait().unwrap().success());
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    for s in ["s01", "s02", "s03", "s04"] {
        assert!(t.contains(&format!("{s} succeeded")), "{s}: {t}");
    }
    assert!(t.contains("run w1: succeeded"), "{t}");
    // The watcher's copy is the record, byte for byte.
    assert_eq!(local_journal(&w, "c", "w1"), w.journal("w1").await);
}

/// `--sign-key` on a run store: the signature entry is part of the record on Blob (the batch
/// goes through the same lease-fenced append), so `audit verify` of the blob, on another
/// machine, authenticates the whole run with the public key.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_run_is_signed_on_the_run_store() {
    let Some(endpoint) = azurite() else { return };
    let w = World::new(endpoint, &runbook(2, 0)).await;
    let keys = w.state("keys");
    let out = w.cmd("a").args(["audit", "keygen", "--out"]).arg(&keys).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out =
        w.run("a", "sg").arg("--sign-key").arg(keys.join("lifeboat-audit.key")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let record = w.journal("sg").await;
    let last = record.split(|b| *b == b'\n').rfind(|l| !l.is_empty()).unwrap();
    let last: Value = serde_json::from_slice(last).unwrap();
    assert_eq!(last["kind"], "signature", "the record on Blob ends with the signature");
    let out = w
        .cmd("b")
        .args(["audit", "verify", "sg", "--public-key"])
        .arg(keys.join("lifeboat-audit.pub"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("signature: valid, by the given key"), "{}", text(&out));
}
