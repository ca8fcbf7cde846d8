//! Issue 15's acceptance: a responder with only the binary, in an empty directory, recovers the
//! two DevOps connectors of a failed region with `lifeboat run region-outage --guided`. Guided
//! mode asks for the failed region (from discovery), the target region (nearest supported
//! first), the backup identity of the encrypted store (hidden) and the ticket's contact; the
//! responder types the OAuth codes, approves the gates, and the run ends with exit 0.
//!
//! The simulated Azure runs in this process with a frozen clock: the test moves it past
//! Microsoft support's release (hours) once the run waits for it, and brings the region back once
//! the run waits for that. The transcript is compared with the one in docs/responder.md (times,
//! durations, numbers and the run ID aside); `LIFEBOAT_WRITE_TRANSCRIPT=1` rewrites the doc's
//! from this run.

use super::pty::Pty;
use crate::support;
use lifeboat::sim::RunningSim;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The runbook as the responder names it: built into the binary.
const RUNBOOK: &str = "region-outage";

/// Where the transcript goes in the doc: the fenced block after this line.
const DOC_MARKER: &str = "<!-- transcript: tests/it/guided/responder.rs -->";

/// The binary as a responder starts it: in `home` (an empty directory, also `HOME`, so the state
/// directory is the default one under it), pointed at the simulator the way docs/simulator.md
/// says (`LIFEBOAT_ARM_ENDPOINT`, `LIFEBOAT_AUTH=none`).
pub(super) fn responder(home: &Path, sim: &RunningSim) -> Command {
    let mut c = support::cli::lifeboat();
    c.current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("XDG_DATA_HOME")
        .env("LIFEBOAT_ARM_ENDPOINT", sim.url())
        .env("LIFEBOAT_AUTH", "none")
        .env("USER", "oncall")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    c
}

pub(super) fn state_dir(home: &Path) -> PathBuf {
    home.join(".local/share/lifeboat")
}

#[test]
fn a_responder_recovers_two_connectors_with_guided_mode_from_an_empty_directory() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt.block_on(support::sim::start(support::sim::quiet()));
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("responder");
    std::fs::create_dir(&home).unwrap();

    // Before the outage: an encrypted backup store, taken with the binary.
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let secret_key = {
        use age::secrecy::ExposeSecret;
        identity.to_string().expose_secret().to_string()
    };
    let out = responder(&home, &sim)
        .args(["backup", "create", "--recipient", &recipient])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", support::cli::text(&out));
    let listed: Vec<PathBuf> =
        std::fs::read_dir(&home).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(listed, [home.join(".local")], "only the state directory was created");

    rt.block_on(support::sim::region(&sim, "westeurope", "fail"));
    let writes = || {
        sim.requests()
            .into_iter()
            .filter(|r| matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE"))
            .count()
    };
    let writes_before = writes();

    let mut cmd = responder(&home, &sim);
    let mut args: Vec<String> = vec!["run".into(), RUNBOOK.into(), "--guided".into()];
    // The waits poll every second instead of every few minutes, so the test does not wait.
    for poll in ["release", "region", "recreation", "authorization"] {
        args.extend(["--set".into(), format!("{poll}_poll_interval=1s")]);
    }
    cmd.args(&args);
    let mut p = Pty::spawn(cmd);

    // The failed region: the regions with DevOps connectors, most first.
    p.expect("Which region is down?");
    p.expect("1) eastus      2 connectors: ado-eus, github-eus");
    p.expect("2) westeurope  2 connectors: ado-weu, gitlab-weu");
    p.expect("? failed_region [1-2 or a region name]: ");
    p.send_line("westeruope");
    p.expect("is not an Azure region (did you mean `westeurope`?");
    // The question again before the next answer: typed earlier, the echo lands before it.
    p.expect("? failed_region [1-2 or a region name]: ");
    p.send_line("2");
    // The target region: supported regions nearest first, without the failed one.
    p.expect("nearest to westeurope first:");
    p.expect("1) uksouth");
    p.expect("? target_region [1-8, or a region name; Enter for 1]: ");
    p.send_line("westeurope");
    p.expect("westeurope is the failed region: choose another");
    p.expect("? target_region [1-8, or a region name; Enter for 1]: ");
    p.send_line("northeurope");
    // The backup identity, hidden; a wrong one is refused before anything else happens.
    p.expect("is encrypted: lifeboat needs its age identity to read it");
    p.expect("? backup identity: ");
    let wrong = {
        use age::secrecy::ExposeSecret;
        age::x25519::Identity::generate().to_string().expose_secret().to_string()
    };
    p.send_line(&wrong);
    p.expect("is not one of the recipients");
    p.expect("? backup identity: ");
    p.send_line(&secret_key);
    p.expect("the identity opens the store");
    // The support requests: filed through the Support API, so the contact is asked.
    p.expect("? File the requests through the Support API");
    p.send_line("y");
    p.expect("? first name: ");
    p.send_line("Ada");
    p.expect("? last name: ");
    p.send_line("Lovelace");
    p.expect("? e-mail: ");
    p.send_line("ada.example.com");
    p.expect("is not an e-mail address");
    p.expect("? e-mail: ");
    p.send_line("ada@example.com");
    p.expect("? preferred contact method (email or phone) [email]: ");
    p.send_line("");
    p.expect("? phone number (optional): ");
    p.send_line("");
    p.expect("? time zone (Windows name, e.g. W. Europe Standard Time) [Pacific Standard Time]: ");
    p.send_line("W. Europe Standard Time");
    p.expect("[usa]: ");
    p.send_line("gbr");
    p.expect("[en-US]: ");
    p.send_line("");
    p.expect(
        "the same answers next time: lifeboat run region-outage --set release_poll_interval=1s",
    );
    p.expect("--set failed_region=westeurope --set target_region=northeurope --set submit_ticket=true --set contact_first_name=Ada");
    assert_eq!(writes(), writes_before, "nothing was written before every answer was in");

    // The run: one OAuth code per connector (hidden), then one approval per support request.
    for _ in 0..2 {
        p.expect("? OAuth authorization code for the new connector");
        p.send_line(&sim.mint_code());
    }
    for _ in 0..2 {
        p.expect("approve-submission");
        p.expect("[a]pprove, [s]kip with reason, [d]etails, [p]ause and come back later: ");
        p.send_line("a");
        p.expect("comment for the audit record (optional): ");
        p.send_line("");
    }
    // Both tickets filed, both branches wait for Microsoft support: hours pass at the desk.
    // (One pattern for both lines: a pattern's every match in the output so far is consumed.)
    p.expect_re(r"(?s)wait-for-release\S*  … waiting: 0 of \d released; ….*wait-for-release\S*  … waiting: 0 of \d released; …");
    sim.advance(Duration::from_secs(3 * 3600) + sim.shared().config.recreation_delay);
    // Restored, verified, promoted; then the run waits for the region to come back (each
    // branch's first read of its old connector retries the region's 503s meanwhile).
    p.expect_re(r"(?s)wait-for-region-recovery\S*  started.*wait-for-region-recovery\S*  started");
    rt.block_on(support::sim::region(&sim, "westeurope", "restore"));
    for _ in 0..2 {
        p.expect("approve-cleanup");
        p.expect("[a]pprove, [s]kip with reason, [d]etails, [p]ause and come back later: ");
        p.send_line("a");
        p.expect("comment for the audit record (optional): ");
        p.send_line("region back, new connectors verified");
    }
    p.expect("succeeded");
    let (code, transcript) = p.finish();
    assert_eq!(code, 0, "{transcript}");

    // What was typed in secret never shows, and the identity is journaled as given only.
    assert!(!transcript.contains(&secret_key), "the identity was echoed:\n{transcript}");
    assert!(!transcript.contains(&wrong), "the identity was echoed:\n{transcript}");
    let runs = state_dir(&home).join("runs");
    let run_id = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .next()
        .expect("one run");
    let journal = std::fs::read_to_string(runs.join(&run_id).join("journal.jsonl")).unwrap();
    assert!(!journal.contains(&secret_key) && !journal.contains("AGE-SECRET-KEY"));
    let header: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    let h = &header["payload"];
    assert_eq!(h["params"]["failed_region"], "westeurope");
    assert_eq!(h["params"]["target_region"], "northeurope");
    assert_eq!(h["params"]["contact_email"], "ada@example.com");
    assert_eq!(h["params"]["contact_country"], "gbr");
    assert_eq!(h["backup_identity"], serde_json::json!({"given": true, "from": "hidden prompt"}));
    assert_eq!(
        h["guided"]["asked"],
        serde_json::json!([
            "failed_region",
            "target_region",
            "submit_ticket",
            "contact_first_name",
            "contact_last_name",
            "contact_email",
            "contact_method",
            "contact_phone",
            "contact_time_zone",
            "contact_country",
            "contact_language"
        ])
    );

    // The cloud: both old connectors gone, a new one each in northeurope, two tickets.
    let cloud = sim.cloud();
    assert_eq!(cloud.tickets.len(), 2);
    let tickets: Vec<&serde_json::Value> = cloud.tickets.values().map(|t| &t.properties).collect();
    assert!(tickets.iter().all(|t| t["contactDetails"]["country"] == "gbr"), "{tickets:?}");
    drop(cloud);

    let shown = for_doc(&args, &transcript, &home);
    check_doc(&shown);
    rt.block_on(sim.shutdown()).unwrap();
}

/// The transcript as the doc shows it: the command after a `$ ` prompt (which also tells the
/// docs' command check that the `lifeboat` lines after it are output), then what the terminal
/// showed, lines without the carriage returns, the test's temporary directory as `~`.
fn for_doc(args: &[String], transcript: &str, home: &Path) -> String {
    let mut out = format!("$ lifeboat {}\n", args.join(" "));
    for line in transcript.replace('\r', "").lines() {
        out.push_str(line.replace(&home.display().to_string(), "~").trim_end());
        out.push('\n');
    }
    out
}

/// The doc's transcript block, if it has one.
fn doc_block(doc: &str) -> Option<(usize, usize)> {
    let at = doc.find(DOC_MARKER)?;
    let open = at + doc[at..].find("```text\n")? + "```text\n".len();
    let close = open + doc[open..].find("\n```")? + 1;
    Some((open, close))
}

/// A transcript line with what changes from run to run replaced: the run ID, hexadecimal IDs
/// (snapshots, ticket names), every number (times, durations, counts, ports), and durations'
/// units.
fn normalize(line: &str, run_id: &str) -> String {
    let line = if run_id.is_empty() { line.to_string() } else { line.replace(run_id, "RUN") };
    let line = hex_ids(&line);
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
            // A duration's unit: `2h`, `13m`, `5s`, `3d`.
            if let Some(u) = chars.peek().copied().filter(|u| "smhd".contains(*u)) {
                let mut ahead = chars.clone();
                ahead.next();
                if !ahead.peek().is_some_and(|n| n.is_ascii_alphanumeric()) {
                    chars.next();
                    let _ = u;
                    if !out.ends_with("T ") {
                        out.push('T');
                    } else {
                        out.pop();
                    }
                    continue;
                }
            }
            out.push('0');
        } else {
            out.push(c);
        }
    }
    out
}

/// Words of 8 or more hexadecimal digits (at least one a digit) as `HEX`.
fn hex_ids(line: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word.len() >= 8
            && word.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            && word.chars().any(|c| c.is_ascii_digit());
        out.push_str(if hex { "HEX" } else { word.as_str() });
        word.clear();
    };
    for c in line.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The run ID of a transcript (`lifeboat run RUN of runbook ...`).
fn run_id_of(transcript: &str) -> String {
    transcript
        .lines()
        .find_map(|l| l.strip_prefix("lifeboat run ").and_then(|r| r.split_whitespace().next()))
        .unwrap_or_default()
        .to_string()
}

/// Lines in a comparable order: branches run side by side, so their lines interleave
/// differently from run to run; compared as a sorted list.
fn comparable(transcript: &str) -> Vec<String> {
    let run_id = run_id_of(transcript);
    let mut lines: Vec<String> = transcript
        .lines()
        .map(|l| normalize(l, &run_id))
        .filter(|l| !l.trim().is_empty())
        // Reminders depend on how long a wait took on this machine, and so does whether a
        // branch's first read of the failed region was still retrying when the region came
        // back (no wait line) or had given up (a wait line).
        .filter(|l| !l.contains("still waiting"))
        .filter(|l| !(l.contains("wait-for-region-recovery") && l.contains("waiting:")))
        .collect();
    lines.sort();
    lines
}

fn check_doc(shown: &str) {
    let path = support::repo().join("docs/responder.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (open, close) = doc_block(&doc).expect("docs/responder.md has the transcript block");
    if std::env::var_os("LIFEBOAT_WRITE_TRANSCRIPT").is_some() {
        let new = format!("{}{}{}", &doc[..open], shown, &doc[close..]);
        std::fs::write(&path, new).unwrap();
        return;
    }
    let (want, got) = (comparable(&doc[open..close]), comparable(shown));
    if want != got {
        let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
        let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
        panic!(
            "the transcript in docs/responder.md no longer matches guided mode's output (rewrite it with LIFEBOAT_WRITE_TRANSCRIPT=1):\nin the doc only: {missing:#?}\nin the output only: {extra:#?}\n--- output ---\n{shown}"
        );
    }
}

#[test]
fn normalizing_keeps_words_and_drops_what_changes_between_runs() {
    let a = normalize("10:15:31  wait-for-release#1  ✓ done (2h 13m, 3 changes): ticket 1234", "");
    let b = normalize("09:01:02  wait-for-release#1  ✓ done (5s, 1 changes): ticket 9", "");
    assert_eq!(a, b);
    assert_eq!(a, "0:0:0  wait-for-release#0  ✓ done (T, 0 changes): ticket 0");
    assert_ne!(normalize("ado-weu", ""), normalize("ado-eus", ""));
    assert_eq!(normalize("run 20260101-101531-abc123 of", "20260101-101531-abc123"), "run RUN of");
    assert_eq!(normalize("snapshot dc1bc33ee7c1 of", ""), "snapshot HEX of");
    assert_eq!(normalize("lifeboat-6cb3dd56e89eabcc8c…", ""), "lifeboat-HEX…");
    assert_eq!(normalize("ado-weu", ""), "ado-weu");
    assert_eq!(run_id_of("x\nlifeboat run r-1 of runbook region-outage: 16 steps\n"), "r-1");
}
