//! Integration tests of `lifeboat audit`: one real run (built-in and test-only step kinds, driven
//! by the binary through a gate, an attestation, a skip, a retry, a secret and fake Azure calls,
//! signed at every stop), then its exports in every format and `audit verify` against tampering.
//! The run is made once and shared (read-only) by every test of the area.
//!
//! The HTML goes through the Nu HTML Checker when `LIFEBOAT_TEST_VNU_JAR` is set (see
//! `.ci/validators.sh`); without it the check is skipped with a note, except under `CI`.

mod export;
mod hostile;
mod verify;

use crate::support::cli::journal_path;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Values the test plants; none may appear in any export.
pub const SECRET_CODE: &str = "oauth-code-PLANTED-7f3a91";
pub const ENV_TOKEN: &str = "eyJfake-access-token-PLANTED-c0ffee";
pub const ENV_CLIENT_SECRET: &str = "client-secret-PLANTED-91bc";
pub const RUN_ID: &str = "audit-1";

/// `lifeboat` with the test state dir, test step kinds, and planted secrets in the environment.
pub fn lifeboat(state: &Path) -> Command {
    let mut c = crate::support::cli::lifeboat();
    c.env("LIFEBOAT_STATE_DIR", state)
        .env("LIFEBOAT_TEST_STEPS", "1")
        // A fixed OS user, so snapshots need no filter for it.
        .env("USER", "auditor-test")
        .env("AZURE_ACCESS_TOKEN", ENV_TOKEN)
        .env("AZURE_CLIENT_SECRET", ENV_CLIENT_SECRET);
    c
}

pub fn run_ok(c: &mut Command, codes: &[i32]) -> Output {
    let out = c.output().expect("lifeboat runs");
    assert!(
        out.status.code().is_some_and(|c| codes.contains(&c)),
        "{c:?}: exit {:?}, expected {codes:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The finished, signed run every test reads.
pub struct Scenario {
    pub root: PathBuf,
    pub state: PathBuf,
    pub journal: PathBuf,
    pub public_key: PathBuf,
    pub other_public_key: PathBuf,
}

pub fn scenario() -> &'static Scenario {
    static S: OnceLock<Scenario> = OnceLock::new();
    S.get_or_init(make_scenario)
}

fn make_scenario() -> Scenario {
    let root = tempfile::Builder::new().prefix("lifeboat-audit-").tempdir().unwrap().keep();
    let state = root.join("state");
    let fx = root.join("effects.txt");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/scenario.yaml"),
    )
    .unwrap()
    .replace("@FX@", &fx.display().to_string());
    let rb = root.join("scenario.yaml");
    std::fs::write(&rb, text).unwrap();
    let keys = root.join("keys");
    run_ok(lifeboat(&state).args(["audit", "keygen", "--out"]).arg(&keys), &[0]);
    let other = root.join("other-keys");
    run_ok(lifeboat(&state).args(["audit", "keygen", "--out"]).arg(&other), &[0]);
    let key = keys.join("lifeboat-audit.key");
    let code = format!("code={SECRET_CODE}");
    // Pauses at the gate.
    run_ok(
        lifeboat(&state)
            .arg("run")
            .arg(&rb)
            .args(["--set", &code, "--run-id", RUN_ID, "--sign-key"])
            .arg(&key),
        &[3],
    );
    run_ok(
        lifeboat(&state).args([
            "approve",
            RUN_ID,
            "go-ahead",
            "--comment",
            "change CHG-42 approved by the CAB, see \"minutes\"",
        ]),
        &[0],
    );
    // The manual task waits, the one-shot cleanup fails for good.
    run_ok(
        lifeboat(&state).args(["resume", RUN_ID, "--set", &code, "--sign-key"]).arg(&key),
        &[1, 3],
    );
    run_ok(
        lifeboat(&state).args([
            "attest",
            RUN_ID,
            "notify",
            "--evidence",
            "=mailed soc@example.com, ticket INC-7",
        ]),
        &[0],
    );
    run_ok(
        lifeboat(&state).args([
            "skip",
            RUN_ID,
            "cleanup",
            "--reason",
            "the old connector is already gone, nothing to clean",
        ]),
        &[0],
    );
    run_ok(lifeboat(&state).args(["resume", RUN_ID, "--set", &code, "--sign-key"]).arg(&key), &[0]);
    Scenario {
        journal: journal_path(&state, RUN_ID),
        root,
        state,
        public_key: keys.join("lifeboat-audit.pub"),
        other_public_key: other.join("lifeboat-audit.pub"),
    }
}

/// Runs `audit export` of the scenario in `format` and returns the bytes (stdout).
pub fn export(format: &str) -> Vec<u8> {
    let s = scenario();
    run_ok(lifeboat(&s.state).args(["audit", "export", RUN_ID, "--format", format]), &[0]).stdout
}

/// Replaces what changes from run to run (times, hashes, keys, paths, host, seed) with
/// placeholders, so snapshots compare structure and content only.
pub fn stable(text: &str) -> String {
    let s = scenario();
    let journal = std::fs::read_to_string(&s.journal).unwrap();
    let header: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    let host = header.pointer("/payload/started_by/host").and_then(|v| v.as_str()).unwrap();
    let mut t = text.replace(&s.root.display().to_string(), "[tmp]");
    for key in ["\"signature\":\"", "\"public_key\":\"", "\"seed\":"] {
        t = replace_value(&t, key);
    }
    t = replace_runs(&t, |c| c.is_ascii_hexdigit(), 64, "[hash]");
    t = replace_times(&t);
    t = t.replace(&format!("\"host\":\"{host}\""), "\"host\":\"[host]\"");
    for (sep_l, sep_r) in [(",", ","), ("| ", " |"), (" on ", " |"), ("@", "`")] {
        t = t.replace(&format!("{sep_l}{host}{sep_r}"), &format!("{sep_l}[host]{sep_r}"));
    }
    t
}

/// Replaces the value after `key` (a JSON string up to its closing quote, or a number).
fn replace_value(t: &str, key: &str) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let end = if key.ends_with('"') {
            rest.find('"').unwrap_or(rest.len())
        } else {
            rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())
        };
        out.push_str("[redacted]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces every maximal run of exactly `len` characters matching `pred`.
fn replace_runs(t: &str, pred: impl Fn(char) -> bool, len: usize, with: &str) -> String {
    let chars: Vec<char> = t.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if pred(chars[i]) {
            let start = i;
            while i < chars.len() && pred(chars[i]) {
                i += 1;
            }
            if i - start == len {
                out.push_str(with);
            } else {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Replaces RFC 3339 times (`2026-01-01T00:00:00[.frac](Z|±hh:mm)`) and times as people read
/// them (`2026-01-01 00:00:00 ±hh:mm`) with `[time]`.
fn replace_times(t: &str) -> String {
    let b = t.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let digit = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
    let at = |j: usize, c: u8| b.get(j) == Some(&c);
    let mut last = 0;
    while i + 19 <= b.len() {
        let shape = (0..4).all(|k| digit(i + k))
            && at(i + 4, b'-')
            && digit(i + 5)
            && digit(i + 6)
            && at(i + 7, b'-')
            && digit(i + 8)
            && digit(i + 9)
            && (at(i + 10, b'T') || at(i + 10, b' '))
            && digit(i + 11)
            && digit(i + 12)
            && at(i + 13, b':')
            && digit(i + 14)
            && digit(i + 15)
            && at(i + 16, b':')
            && digit(i + 17)
            && digit(i + 18);
        if !shape {
            i += 1;
            continue;
        }
        let mut j = i + 19;
        if at(j, b'.') {
            j += 1;
            while digit(j) {
                j += 1;
            }
        }
        if at(j, b'Z') {
            j += 1;
        } else if (at(j, b'+') || at(j, b'-')) && digit(j + 1) && digit(j + 2) && at(j + 3, b':') {
            j += 6;
        } else if at(j, b' ')
            && (at(j + 1, b'+') || at(j + 1, b'-'))
            && digit(j + 2)
            && digit(j + 3)
            && at(j + 4, b':')
        {
            j += 7;
        }
        out.push_str(&t[last..i]);
        out.push_str("[time]");
        last = j;
        i = j;
    }
    out.push_str(&t[last..]);
    out
}
