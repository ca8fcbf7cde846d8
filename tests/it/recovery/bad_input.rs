//! Bad input is refused with a clear message and exit 2 before any write: no write request in
//! the simulator's log and no run directory. An authorization code Azure refuses fails the
//! connector step (exit 1) with a message naming the connector and how to get a fresh code.

use crate::recovery::common::*;
use lifeboat::backup::Scope;

async fn refused(sets: &[&str], backup_scope: Option<Scope>, expect: &[&str]) {
    let sim = start_sim("").await;
    let world = World::new();
    take_backup_of(&sim, &world.store(), backup_scope.unwrap_or_default()).await;
    fail_region(&sim, "westeurope").await;
    let before = writes(&sim).len();
    let runbook = World::runbook();
    let mut args = vec!["run", runbook.as_str(), "--run-id", "bad"];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    let out = run(world.cmd(&sim, &args)).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    for e in expect {
        assert!(t.contains(e), "expected `{e}` in: {t}");
    }
    assert!(t.starts_with("error: "), "{t}");
    assert_eq!(writes(&sim).len(), before, "no write: {:?}", writes(&sim));
    assert!(!world.run_dir("bad").exists(), "no run directory");
    sim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_failed_region_is_refused_with_a_suggestion() {
    refused(
        &["failed_region=westeurpe", "target_region=northeurope"],
        None,
        &["`westeurpe` is not an Azure region", "did you mean `westeurope`?"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_target_region_is_refused() {
    refused(
        &["failed_region=westeurope", "target_region=mars"],
        None,
        &["target_region `mars` is not an Azure region"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_target_region_must_differ_from_the_failed_one() {
    refused(
        &["failed_region=westeurope", "target_region=West Europe"],
        None,
        &["target_region westeurope is the failed region"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_without_the_failed_connectors_is_refused() {
    let east_only = Scope {
        subscriptions: vec!["00000000-0000-4000-8000-0000000000b2".into()],
        connectors: vec![],
    };
    refused(
        &["failed_region=westeurope", "target_region=northeurope"],
        Some(east_only),
        &["does not contain ado-weu", "gitlab-weu", "--set backup=ID"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parameter_of_the_wrong_type_is_refused() {
    refused(
        &["failed_region=westeurope", "target_region=northeurope", "submit_ticket=maybe"],
        None,
        &["submit_ticket"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_without_devops_connectors_is_refused_with_a_hint() {
    refused(
        &["failed_region=southeastasia", "target_region=northeurope"],
        None,
        &["no DevOps connector found in region southeastasia", "subscriptions"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_authorization_codes_file_is_refused() {
    refused(
        &[
            "failed_region=westeurope",
            "target_region=northeurope",
            "authorization_codes=/nonexistent/codes.txt",
        ],
        None,
        &["cannot read authorization codes file /nonexistent/codes.txt"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submitting_without_a_contact_is_refused() {
    refused(
        &["failed_region=westeurope", "target_region=northeurope", "submit_ticket=true"],
        None,
        &["contact_first_name", "submit_ticket=false"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_authorization_code_fails_the_connector_step_clearly() {
    let sim = start_sim("").await;
    let world = World::new();
    take_backup(&sim, &world.store()).await;
    fail_region(&sim, "westeurope").await;
    std::fs::write(world.codes(), "ado-weu expired-code-123\ngitlab-weu expired-code-456\n")
        .unwrap();
    let runbook = World::runbook();
    let codes = format!("authorization_codes={}", world.codes().display());
    let out = run(world.cmd(
        &sim,
        &[
            "run",
            &runbook,
            "--run-id",
            "expired",
            "--set",
            "failed_region=westeurope",
            "--set",
            "target_region=northeurope",
            "--set",
            &codes,
        ],
    ))
    .await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("connector ado-weu"), "{t}");
    assert!(t.contains("TokenExchangeFailed: the code expired or was already used"), "{t}");
    assert!(
        t.contains("get a fresh code") || t.contains("authorize ado-weu-northeurope again"),
        "{t}"
    );
    let journal = std::fs::read_to_string(world.run_dir("expired").join("journal.jsonl")).unwrap();
    for secret in ["expired-code-123", "expired-code-456"] {
        assert!(!t.contains(secret) && !journal.contains(secret), "the code never leaks");
    }
    sim.shutdown().await.unwrap();
}
