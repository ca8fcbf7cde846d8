//! `audit verify`: an intact signed run, and each kind of tampering named at the right line.

use super::*;
use lifeboat::journal::sha256_hex;
use serde_json::{json, Value};

fn lines() -> Vec<String> {
    std::fs::read_to_string(&scenario().journal).unwrap().lines().map(String::from).collect()
}

/// Writes `lines` (each followed by a newline) as an exported JSONL and verifies it.
fn verify_lines(lines: &[String], key: Option<&Path>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let mut c = lifeboat(&dir.path().join("no-state"));
    c.args(["audit", "verify"]).arg(&file);
    if let Some(k) = key {
        c.arg("--public-key").arg(k);
    }
    c.output().unwrap()
}

fn failed_at(out: &Output, line: usize, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("export.jsonl:{line}: {what}")),
        "expected line {line}: {what}\n{err}"
    );
}

#[test]
fn an_intact_signed_run_verifies_with_the_public_key_alone() {
    let s = scenario();
    let out = run_ok(lifeboat(&s.state).args(["audit", "verify", RUN_ID]), &[0]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("intact: {} entries", lines().len())), "{text}");
    assert!(text.contains("not authenticated: pass --public-key"), "{text}");
    // An auditor with only the export and the public key.
    let out = verify_lines(&lines(), Some(&s.public_key));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("signature: valid, by the given key SHA256:"), "{text}");
    // Three stops, three signatures, the last one is the last line.
    let sigs: Vec<usize> = lines()
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("\"kind\":\"signature\""))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(sigs.len(), 3);
    assert_eq!(*sigs.last().unwrap(), lines().len());
}

#[test]
fn another_key_is_refused() {
    let s = scenario();
    let out = verify_lines(&lines(), Some(&s.other_public_key));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not by the given public key"), "{err}");
}

#[test]
fn a_changed_byte_is_named() {
    let mut l = lines();
    let n = l.iter().position(|x| x.contains("CHG-42")).unwrap();
    l[n] = l[n].replace("CHG-42", "CHG-43");
    failed_at(&verify_lines(&l, None), n + 1, &format!("line {} was changed", n + 1));
}

#[test]
fn a_changed_and_rehashed_line_breaks_the_next_link() {
    // The forger recomputes the changed line's own hash; the next line's `prev` still differs.
    let mut l = lines();
    let n = l.iter().position(|x| x.contains("CHG-42")).unwrap();
    l[n] = rehash(&l[n].replace("CHG-42", "CHG-43"));
    failed_at(
        &verify_lines(&l, None),
        n + 2,
        &format!("line {} does not chain to line {}", n + 2, n + 1),
    );
}

#[test]
fn a_removed_line_is_named() {
    let mut l = lines();
    l.remove(4);
    failed_at(&verify_lines(&l, None), 5, "a line was removed: entry 4 is missing before line 5");
}

#[test]
fn two_swapped_lines_are_named() {
    let mut l = lines();
    l.swap(5, 6);
    failed_at(
        &verify_lines(&l, None),
        6,
        "lines were reordered: line 6 holds entry 6 where entry 5 was expected, and entry 5 is at line 7",
    );
}

/// The entry with its `hash` recomputed as lifeboat does (every field but `hash`, in order).
fn rehash(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    let unhashed = json!({
        "seq": v["seq"], "time": v["time"], "kind": v["kind"], "payload": v["payload"], "prev": v["prev"],
    });
    let hash = sha256_hex(&serde_json::to_vec(&unhashed).unwrap());
    let mut full = unhashed;
    full["hash"] = json!(hash);
    serde_json::to_string(&full).unwrap()
}

#[test]
fn an_appended_forged_line_is_caught_by_the_signature() {
    let s = scenario();
    let mut l = lines();
    let last: Value = serde_json::from_str(l.last().unwrap()).unwrap();
    let forged = rehash(
        &json!({
            "seq": l.len(), "time": last["time"], "kind": "event",
            "payload": {"event": "approved", "step": "go-ahead", "branch": null,
                        "by": {"user": "mallory", "host": "laptop"}, "comment": "backdated"},
            "prev": sha256_hex(l.last().unwrap().as_bytes()), "hash": "",
        })
        .to_string(),
    );
    l.push(forged);
    // The chain alone cannot tell: the forged line links correctly.
    let bytes: String = l.iter().map(|x| format!("{x}\n")).collect();
    lifeboat::journal::parse(Path::new("forged"), bytes.as_bytes()).expect("a chain-valid forgery");
    let n = l.len();
    let out = verify_lines(&l, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("warning: lines {n}..{n} come after the last signature")),
        "{text}"
    );
    failed_at(
        &verify_lines(&l, Some(&s.public_key)),
        n,
        &format!("line {n} (entry {}) comes after the last signature (line {})", n - 1, n - 1),
    );
}

#[test]
fn a_forged_signature_is_refused() {
    let mut l = lines();
    let n = l.len() - 1;
    let mut sig: Value = serde_json::from_str(&l[n]).unwrap();
    let s = sig["payload"]["signature"].as_str().unwrap().to_string();
    let flipped = match s.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &s[1..]),
    };
    sig["payload"]["signature"] = json!(flipped);
    l[n] = rehash(&sig.to_string());
    failed_at(&verify_lines(&l, None), n + 1, "the signature does not match the journal it signs");
}

#[test]
fn an_unsigned_journal_fails_with_a_key_and_says_what_it_cannot_prove_without() {
    let s = scenario();
    let l: Vec<String> =
        lines().into_iter().take_while(|x| !x.contains("\"kind\":\"signature\"")).collect();
    let out = verify_lines(&l, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("signature: none") && text.contains("not that none was appended"),
        "{text}"
    );
    failed_at(&verify_lines(&l, Some(&s.public_key)), 1, "the journal has no signature");
}
