//! The journal reader: arbitrary bytes as a run's `journal.jsonl`, through everything that reads
//! a journal without writing it: `journal::parse` (chain, sequence, format version),
//! `audit verify` (`audit::verify::verify_bytes`), the audit record and its CSV, Markdown and
//! JUnit exports, and replay (`engine::runner::replay`) followed by what `status` and
//! `runs list` show (snapshot, status, blockers, the status table).
//!
//! Every input is read twice: as given, and *re-chained*: each line that is a JSON object keeps
//! its `time`, `kind` and `payload` and gets the `seq`, `prev` and `hash` a writer would have
//! written. Mutations of a real journal break its hash chain at once; re-chaining is what a
//! forger who rewrites a journal does (the chain is not a MAC), and lets the fuzzer reach
//! replay with crafted headers and events.
//!
//! Invariant: no panic. A crafted journal is an error naming the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::audit::{render, verify, AuditRecord};
use lifeboat::engine::kind::Registry;
use lifeboat::engine::runner;
use lifeboat::journal::{self, Entry};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::OnceLock;
use time::OffsetDateTime;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(lifeboat::steps::registry)
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("state/runs/fuzz/journal.jsonl");
    read_all_ways(path, data);
    let rechained = rechain(data);
    if rechained != data {
        read_all_ways(path, &rechained);
    }
});

fn read_all_ways(path: &Path, bytes: &[u8]) {
    // Strict (an auditor's closed record) and tolerant of a torn last line (a crashed run).
    for allow_torn in [false, true] {
        let options = verify::Options { allow_torn, ..verify::Options::default() };
        if let Err(e) = verify::verify_bytes(path, bytes, &options) {
            let _ = e.to_string();
        }
    }
    let read = match journal::parse(path, bytes) {
        Ok(read) => read,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = journal::verify_chain(&read.entries);
    let record = AuditRecord::from_entries(path, read.entries.clone(), read.last_line_hash.clone());
    let _ = render::to_csv(&record);
    let _ = render::to_markdown(&record);
    let _ = render::to_junit(&record);
    match runner::replay(path, read.entries, registry()) {
        Ok(r) => {
            let snapshot = r.engine.snapshot();
            let status = r.engine.status();
            let _ = r.engine.blockers();
            let _ = r.engine.rearmable();
            let _ = r.engine.next_timer();
            let _ =
                serde_json::to_string(&serde_json::json!({"status": status, "steps": snapshot}));
            let now = r.entries.last().map_or(OffsetDateTime::UNIX_EPOCH, |e| e.time);
            let _ = lifeboat::cli::run::status_table(&snapshot, now);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// The entry as the writer hashes it (`journal::Unhashed`: every field but `hash`, in order).
#[derive(Serialize)]
struct Unhashed<'a> {
    seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    sim_time: Option<OffsetDateTime>,
    kind: &'a str,
    payload: &'a Value,
    prev: &'a str,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Rewrites `seq`, `prev` and `hash` of every line that is a JSON object, as `journal::Writer`
/// would have written them; other lines, and a last line without its newline, stay as they are.
fn rechain(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 256);
    let mut prev = "0".repeat(64);
    let mut seq = 0u64;
    let mut rest = data;
    while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        let start = out.len();
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(mut m)) => {
                let time = m
                    .get("time")
                    .and_then(Value::as_str)
                    .and_then(|t| {
                        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                // A simulated run's engine time (journal format 1.2), when the input has one.
                let sim_time = m.get("sim_time").and_then(Value::as_str).and_then(|t| {
                    OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
                });
                let kind = match m.remove("kind") {
                    Some(Value::String(k)) => k,
                    _ => "event".to_string(),
                };
                let payload = m.remove("payload").unwrap_or(Value::Null);
                let unhashed =
                    Unhashed { seq, time, sim_time, kind: &kind, payload: &payload, prev: &prev };
                let hash = sha256_hex(&serde_json::to_vec(&unhashed).unwrap_or_default());
                let entry = Entry { seq, time, sim_time, kind, payload, prev: prev.clone(), hash };
                if serde_json::to_writer(&mut out, &entry).is_err() {
                    out.truncate(start);
                    out.extend_from_slice(line);
                }
            }
            _ => out.extend_from_slice(line),
        }
        prev = sha256_hex(&out[start..]);
        seq += 1;
        out.push(b'\n');
    }
    out.extend_from_slice(rest);
    out
}
