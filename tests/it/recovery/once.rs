//! Issue 14: `lifeboat run` builds its services once. The rehearsal before the run and the run
//! share one Azure connection (one credential: the simulator's request log sees one caller, and
//! the `az` the credential runs is asked for a token once) and one backup store (opened once).

use crate::recovery::common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const RUN: &str = "once";

/// An `az` of our own on PATH for `--auth cli`: each call counts itself in `counter` and hands
/// out a token of its own (a JWT naming a principal, as Entra ID's do, whose signature part is
/// `token-N-...`), so two credentials would be two callers.
fn fake_az(dir: &Path, counter: &Path) {
    use base64::Engine as _;
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let claims = r#"{"oid":"00000000-0000-4000-b000-0000000000aa","tid":"11111111-2222-4333-8444-555555555555","upn":"az@contoso.onmicrosoft.com"}"#;
    let jwt = format!("{}.{}", b64(r#"{"typ":"JWT","alg":"none"}"#), b64(claims));
    let az = dir.join("az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\nn=$(( $(cat '{c}' 2>/dev/null || echo 0) + 1 ))\necho \"$n\" > '{c}'\nprintf '{{\"accessToken\":\"{jwt}.token-%s-of-the-fake-az\",\"expires_on\":4102444800,\"tokenType\":\"Bearer\"}}' \"$n\"\n",
            c = counter.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A recovery world (backup taken, westeurope failed, codes written) and the run's arguments.
async fn recovery_world() -> (lifeboat::sim::RunningSim, World, Vec<String>) {
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    write_codes(&sim, &world);
    let args = run_args(&world, &World::runbook(), RUN);
    (sim, world, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifeboat_run_connects_to_azure_once() {
    let (sim, world, args) = recovery_world().await;
    let bin = tempfile::tempdir().unwrap();
    let counter = bin.path().join("tokens-asked");
    fake_az(bin.path(), &counter);
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    // `World::cmd` with `--auth cli` instead of `--auth none`.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    cmd.args(["--state-dir", world.state().to_str().unwrap()])
        .args(["--backup-store", world.store().to_str().unwrap()])
        .args(["--arm-endpoint", sim.url(), "--auth", "cli"])
        .args(&args)
        .env("PATH", path)
        .env_remove("LIFEBOAT_BACKUP_IDENTITY")
        .env_remove("LIFEBOAT_FAILPOINT")
        .env_remove("LIFEBOAT_TEST_STEPS")
        .env_remove("LIFEBOAT_API_VERSIONS");
    let out = run(cmd).await;
    let t = text(&out);
    // The rehearsal ran (discovery, backup) and so did the run, up to the submission gate.
    assert_eq!(out.status.code(), Some(3), "paused at the submission gate: {t}");
    assert!(t.contains("approve-submission"), "{t}");

    let calls: Vec<_> = sim.requests().into_iter().filter(|r| r.caller != "anonymous").collect();
    assert!(
        calls.iter().any(|r| r.path.to_ascii_lowercase().contains("microsoft.resourcegraph")),
        "the rehearsal's discovery is in the log"
    );
    assert!(
        calls.iter().any(|r| r.method == "PUT" && r.path.ends_with("-northeurope")),
        "the run's connector creation is in the log"
    );
    let callers: BTreeSet<&str> = calls.iter().map(|r| r.caller.as_str()).collect();
    assert_eq!(callers.len(), 1, "one credential for the whole command: {callers:?}");
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().trim(),
        "1",
        "the credential asked `az` for a token once"
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifeboat_run_opens_the_backup_store_once() {
    use lifeboat::backup::store::times_opened;
    let (sim, world, args) = recovery_world().await;
    let store = world.store().to_str().unwrap().to_string();
    let before = times_opened(&store);
    // In this process, so the store's open count is ours to read.
    let mut argv: Vec<String> = ["lifeboat", "--state-dir", world.state().to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.extend(["--backup-store".into(), store.clone()]);
    argv.extend(["--arm-endpoint".into(), sim.url().to_string(), "--auth".into(), "none".into()]);
    argv.extend(args);
    let cli = <lifeboat::cli::Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let exit = lifeboat::cli::dispatch(cli).await.unwrap();
    assert_eq!(exit, lifeboat::error::Exit::Paused, "paused at the submission gate");
    assert!(world.run_dir(RUN).join("support").join("ado-weu.md").is_file(), "the run ran");
    assert_eq!(times_opened(&store) - before, 1, "one store for the rehearsal and the run");
    sim.shutdown().await.unwrap();
}
