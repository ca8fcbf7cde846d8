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

/// The scenario's journal bytes, as an auditor's copy.
fn journal_bytes() -> Vec<u8> {
    std::fs::read(&scenario().journal).unwrap()
}

/// `audit verify` of `bytes` written to an export file, with extra arguments.
fn verify_with(bytes: &[u8], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, bytes).unwrap();
    lifeboat(&dir.path().join("no-state"))
        .args(["audit", "verify"])
        .arg(&file)
        .args(args)
        .output()
        .unwrap()
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

#[test]
fn defect_14_every_one_byte_edit_of_the_last_line_fails_verify() {
    use lifeboat::audit::verify::{verify_bytes, Options};
    let bytes = journal_bytes();
    let start = bytes[..bytes.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
    let opts = Options::default();
    verify_bytes(Path::new("j"), &bytes, &opts).expect("the journal itself verifies");
    let mut passed = Vec::new();
    let mut tried = 0;
    // Every byte of the last line, its newline included, replaced by each of a few others: the
    // same letter in the other case, a neighbouring digit or letter, a space.
    for at in start..bytes.len() {
        let b = bytes[at];
        let mut subs = vec![b' ', b.wrapping_add(1) & 0x7f, b.wrapping_sub(1) & 0x7f];
        if b.is_ascii_alphabetic() {
            subs.push(b ^ 0x20);
        }
        for s in subs.into_iter().filter(|s| *s != b && s.is_ascii() && b.is_ascii()) {
            let mut edited = bytes.clone();
            edited[at] = s;
            tried += 1;
            if verify_bytes(Path::new("j"), &edited, &opts).is_ok() {
                passed.push(format!("byte {} {:?} -> {:?}", at - start, b as char, s as char));
            }
        }
    }
    assert!(tried > 1000, "{tried}");
    assert!(passed.is_empty(), "{} one-byte edits of the last line pass: {passed:?}", passed.len());
}

#[test]
fn defect_14_a_changed_letter_case_in_the_last_time_is_named() {
    // `T` -> `t` in the last line's time: the same instant, so the entry's content (and hash)
    // is unchanged, but the bytes are not those lifeboat wrote.
    let bytes = journal_bytes();
    let n = lines().len();
    let start = bytes[..bytes.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
    let at = start + lossy(&bytes[start..]).find("\"time\":\"").unwrap() + 18;
    assert_eq!(bytes[at], b'T', "{}", lossy(&bytes[start..]));
    let mut edited = bytes.clone();
    edited[at] = b't';
    let out = verify_with(&edited, &[]);
    failed_at(
        &out,
        n,
        &format!("line {n} was changed: its bytes are not the ones its hash covers"),
    );
    // The same edit in an earlier line is named at that line, not as a broken link after it.
    let mut l = lines();
    l[3] = l[3].replacen("T", "t", 1);
    let joined: String = l.iter().map(|x| format!("{x}\n")).collect();
    failed_at(&verify_with(joined.as_bytes(), &[]), 4, "line 4 was changed");
}

#[test]
fn defect_14_a_final_newline_turned_into_a_space_fails_verify() {
    let mut bytes = journal_bytes();
    let n = lines().len();
    *bytes.last_mut().unwrap() = b' ';
    let out = verify_with(&bytes, &[]);
    failed_at(
        &out,
        n,
        &format!("line {n} is a whole entry without its final newline: the newline was removed or replaced"),
    );
    assert!(lossy(&out.stderr).contains("--allow-torn"), "{}", lossy(&out.stderr));
    // Accepted on request, with the line not counted, and never under --expect-entries.
    let out = verify_with(&bytes, &["--allow-torn"]);
    assert_eq!(out.status.code(), Some(0), "{}", lossy(&out.stderr));
    let text = lossy(&out.stdout);
    assert!(text.contains(&format!("entries: {}  final hash:", n - 1)), "{text}");
    assert!(text.contains(&format!("warning: line {n} is incomplete")), "{text}");
    let out = verify_with(&bytes, &["--allow-torn", "--expect-entries", &n.to_string()]);
    let err = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("the journal has {} entries, but {n} were expected (--expect-entries): 1 entry is missing at the end: line {n} has no final newline", n - 1)),
        "{err}"
    );
}

#[test]
fn defect_14_a_dropped_final_line_fails_with_expect_entries() {
    let mut l = lines();
    let n = l.len();
    l.pop();
    let bytes: String = l.iter().map(|x| format!("{x}\n")).collect();
    // The chain alone cannot tell (this is what the written-down count is for).
    let out = verify_with(bytes.as_bytes(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", lossy(&out.stderr));
    let out = verify_with(bytes.as_bytes(), &["--expect-entries", &n.to_string()]);
    let err = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the journal has {} entries, but {n} were expected (--expect-entries): 1 entry is missing at the end: the last line was removed",
            n - 1
        )),
        "{err}"
    );
    // Both values are printed for the person comparing.
    assert!(lossy(&out.stdout).contains(&format!("entries: {}  final hash: sha256:", n - 1)));
}

#[test]
fn defect_14_expect_hash_mismatch_exits_1_with_both_values() {
    let bytes = journal_bytes();
    let l = lines();
    let n = l.len();
    let final_hash = sha256_hex(l[n - 1].as_bytes());
    // The hash written down before the last line was added.
    let earlier = sha256_hex(l[n - 2].as_bytes());
    let out = verify_with(&bytes, &["--expect-hash", &format!("sha256:{earlier}")]);
    let err = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("the final hash is sha256:{final_hash}, but sha256:{earlier} was expected (--expect-hash): sha256:{earlier} is the hash of line {}: lines {n}..{n} were added after it was written down", n - 1)),
        "{err}"
    );
    // A hash of nothing in this journal.
    let other = sha256_hex(b"another journal");
    let out = verify_with(&bytes, &["--expect-hash", &other, "--expect-entries", "1"]);
    let err = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no line of this journal has the expected hash"), "{err}");
    assert!(err.contains(&format!("the journal has {n} entries, but 1 were expected")), "{err}");
}

#[test]
fn defect_14_matching_expected_values_exit_0() {
    let bytes = journal_bytes();
    let l = lines();
    let n = l.len();
    let final_hash = sha256_hex(l[n - 1].as_bytes());
    let out = verify_with(&bytes, &[]);
    let text = lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // The line a person copies: the full hash, in the form --expect-hash takes.
    assert!(text.contains(&format!("entries: {n}  final hash: sha256:{final_hash}\n")), "{text}");
    for hash in
        [format!("sha256:{final_hash}"), final_hash.to_uppercase(), format!("SHA256:{final_hash}")]
    {
        let out =
            verify_with(&bytes, &["--expect-entries", &n.to_string(), "--expect-hash", &hash]);
        let text = lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{hash}: {text}{}", lossy(&out.stderr));
        assert!(text.contains("expected: both match"), "{text}");
    }
}

#[test]
fn a_malformed_expected_hash_or_count_is_bad_input() {
    let bytes = journal_bytes();
    for args in [
        &["--expect-hash", "sha256:abc"][..],
        &["--expect-hash", &"g".repeat(64)][..],
        &["--expect-entries", "0"][..],
        &["--expect-entries", "many"][..],
    ] {
        let out = verify_with(&bytes, args);
        let err = lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(args[0]), "{args:?}: {err}");
    }
    let out = verify_with(&bytes, &["--expect-hash", "abc"]);
    assert!(lossy(&out.stderr).contains("is not a SHA-256 hash"), "{}", lossy(&out.stderr));
}
