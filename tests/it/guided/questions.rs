//! What a run needs before it exists: without `--guided`, missing required parameters are named
//! with the command that gives them; with it, stopping during the questions (Ctrl-C, end of
//! input) writes nothing; `--identity-file` on `run` and `resume` reads an encrypted store as
//! on `backup`.

use super::pty::Pty;
use super::responder::{responder, state_dir};
use crate::support;
use expectrl::{ControlCode, Expect};
use std::path::Path;

fn writes(sim: &lifeboat::sim::RunningSim) -> usize {
    sim.requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "PUT" | "PATCH" | "DELETE"))
        .count()
}

fn runs(home: &Path) -> usize {
    std::fs::read_dir(state_dir(home).join("runs")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_run_without_its_required_parameters_names_them_and_the_command() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt.block_on(support::sim::start(support::sim::quiet()));
    let home = tempfile::tempdir().unwrap();
    let out = responder(home.path(), &sim)
        .args(["run", "region-outage", "--set", "submit_ticket=true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("runbook region-outage: 2 required parameters are not set: failed_region (the Azure region that is down (e.g. eastus)); target_region (the region to recover the connectors into: one where DevOps security is available"),
        "{err}"
    );
    assert!(
        err.contains("run `lifeboat run region-outage --set submit_ticket=true --set failed_region=TEXT --set target_region=TEXT`, or add --guided"),
        "{err}"
    );
    assert_eq!(runs(home.path()), 0);
    assert!(sim.requests().is_empty(), "nothing was even read");
    rt.block_on(sim.shutdown()).unwrap();
}

/// Ctrl-C at a question and the end of input at another: exit 2, no run, no write.
#[test]
fn stopping_during_the_questions_writes_nothing() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt.block_on(support::sim::start(support::sim::quiet()));
    rt.block_on(support::sim::region(&sim, "westeurope", "fail"));
    let home = tempfile::tempdir().unwrap();
    let start = || {
        let mut cmd = responder(home.path(), &sim);
        cmd.args(["run", "region-outage", "--guided", "--set", "backup=none"]);
        Pty::spawn(cmd)
    };

    let mut p = start();
    p.expect("? failed_region [1-2 or a region name]: ");
    p.send_line("2");
    p.expect("Enter for 1]: ");
    p.session.send(ControlCode::EndOfText).unwrap();
    let (code, out) = p.finish();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("interrupted before the run was created: nothing was written (start again; the answers so far were --set failed_region=westeurope)"), "{out}");

    let mut p = start();
    p.expect("? failed_region [1-2 or a region name]: ");
    p.send_line("westeurope");
    p.expect("Enter for 1]: ");
    p.send_line("");
    p.expect("[Enabled/disabled]: ");
    p.session.send(ControlCode::EndOfTransmission).unwrap();
    let (code, out) = p.finish();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no answer (end of input) before the run was created: nothing was written (start again; the answers so far were --set failed_region=westeurope --set target_region=uksouth)"), "{out}");

    assert_eq!(runs(home.path()), 0, "no run was created");
    assert_eq!(writes(&sim), 0, "nothing was written");
    rt.block_on(sim.shutdown()).unwrap();
}

/// `run --identity-file` reads an encrypted store; without it the refusal names the flag;
/// `resume --guided` asks for it (a path this time); a `resume --identity-file` that cannot be
/// read is refused before anything is done.
#[test]
fn identity_file_on_run_and_resume() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt.block_on(support::sim::start(support::sim::quiet()));
    let home = tempfile::tempdir().unwrap();
    let identity = age::x25519::Identity::generate();
    let key_file = home.path().join("backup.key");
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(&key_file, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    }
    let run = |args: &[&str]| responder(home.path(), &sim).args(args).output().unwrap();
    let out = run(&["backup", "create", "--recipient", &identity.to_public().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", support::cli::text(&out));
    rt.block_on(support::sim::region(&sim, "westeurope", "fail"));
    let codes = home.path().join("codes.txt");
    std::fs::write(
        &codes,
        format!("ado-weu {}\ngitlab-weu {}\n", sim.mint_code(), sim.mint_code()),
    )
    .unwrap();
    let codes_set = format!("authorization_codes={}", codes.display());
    let base = [
        "run",
        "region-outage",
        "--set",
        "failed_region=westeurope",
        "--set",
        "target_region=northeurope",
        "--set",
        &codes_set,
        "--run-id",
        "enc",
    ];

    let before = writes(&sim);
    let out = run(&base);
    let err = support::cli::text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is encrypted and no identity was given")
            && err.contains("--identity-file FILE"),
        "{err}"
    );
    assert_eq!(writes(&sim), before);
    assert_eq!(runs(home.path()), 0);

    let mut args = base.to_vec();
    args.extend(["--identity-file", key_file.to_str().unwrap()]);
    let out = run(&args);
    let text = support::cli::text(&out);
    // Restored from the backup up to the hand-filed support requests.
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("file-support-request"), "{text}");
    let journal =
        std::fs::read_to_string(state_dir(home.path()).join("runs/enc/journal.jsonl")).unwrap();
    assert!(!journal.contains("AGE-SECRET-KEY"), "the identity is never journaled");
    let header: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert_eq!(
        header["payload"]["backup_identity"],
        serde_json::json!({"given": true, "from": "--identity-file or LIFEBOAT_BACKUP_IDENTITY"})
    );
    assert!(header["payload"].get("guided").is_none());

    // Guided, the resume asks for the identity (hidden) and goes on to the manual tasks.
    let mut cmd = responder(home.path(), &sim);
    cmd.args(["resume", "enc", "--guided"]);
    let mut p = Pty::spawn(cmd);
    p.expect("is encrypted: lifeboat needs its age identity to read it");
    p.expect("? backup identity: ");
    p.send_line(key_file.to_str().unwrap());
    p.expect("the identity opens the store");
    p.expect("file-support-request");
    p.expect("[p]ause and come back later: ");
    p.send_line("p");
    let (code, out) = p.finish();
    assert_eq!(code, 3, "{out}");

    let missing = home.path().join("nope.key");
    let out = run(&["resume", "enc", "--identity-file", missing.to_str().unwrap()]);
    let err = support::cli::text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nope.key") && err.contains("cannot be read"), "{err}");
    rt.block_on(sim.shutdown()).unwrap();
}
