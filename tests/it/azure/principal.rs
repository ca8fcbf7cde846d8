//! The Azure identity of a person, end to end through the real credential: `azure_identity`'s
//! client-secret credential pointed at the simulator's Entra ID token endpoint
//! (`AZURE_AUTHORITY_HOST=http://127.0.0.1:PORT`), the JWT it issues, and lifeboat's reading of
//! its claims (`ArmClient::identify`) into the journaled actor.

use crate::support::cli::{lifeboat, output, text};
use crate::support::sim::{quiet, start};
use lifeboat::azure::{self, AuthMode, CloudName, ConnectOptions};
use lifeboat::sim::model::{Principal, PrincipalKind};
use lifeboat::sim::RunningSim;
use std::collections::HashMap;

/// The built-in `small` tenant's id and principals (`docs/simulator.md`).
pub const TENANT: &str = "11111111-2222-4333-8444-555555555555";

pub fn principal(sim: &RunningSim, client_id_suffix: &str) -> Principal {
    sim.cloud()
        .principals
        .iter()
        .find(|p| p.client_id.ends_with(client_id_suffix))
        .cloned()
        .unwrap_or_else(|| panic!("no principal ...{client_id_suffix}"))
}

pub fn alice(sim: &RunningSim) -> Principal {
    principal(sim, "0001")
}
pub fn bob(sim: &RunningSim) -> Principal {
    principal(sim, "0002")
}

/// The environment of a client-secret credential for `p` against the simulator.
pub fn env_of(sim: &RunningSim, p: &Principal) -> Vec<(String, String)> {
    vec![
        ("AZURE_AUTHORITY_HOST".into(), sim.url().to_string()),
        ("AZURE_TENANT_ID".into(), TENANT.into()),
        ("AZURE_CLIENT_ID".into(), p.client_id.clone()),
        ("AZURE_CLIENT_SECRET".into(), p.secret.clone()),
    ]
}

/// `lifeboat` on the simulator with `--auth client-secret` as `p`.
pub fn as_principal(sim: &RunningSim, p: &Principal) -> std::process::Command {
    let mut c = lifeboat();
    c.args(["--arm-endpoint", sim.url(), "--auth", "client-secret"]);
    c.envs(env_of(sim, p));
    c
}

fn connect(sim: &RunningSim, p: &Principal) -> azure::Connection {
    let env: HashMap<String, String> = env_of(sim, p).into_iter().collect();
    let o = ConnectOptions {
        arm_endpoint: Some(sim.url().to_owned()),
        auth: AuthMode::ClientSecret,
        cloud: CloudName::Public,
    };
    azure::connect(&o, &env).expect("a client-secret credential on the simulator")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_client_secret_credential_gets_a_token_whose_claims_name_the_principal() {
    let sim = start(quiet()).await;
    let alice = alice(&sim);
    let conn = connect(&sim, &alice);
    let p = conn.client.identify().await.expect("a token").expect("a principal");
    assert_eq!(p.object_id.as_deref(), Some(alice.object_id.as_str()));
    assert_eq!(p.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(p.name.as_deref(), Some("alice@contoso.onmicrosoft.com"));
    // The same token is then used for ARM: a call with it succeeds.
    let subs = conn
        .client
        .list_json("/subscriptions", lifeboat::azure::ApiFamily::Subscriptions, None)
        .await
        .expect("ARM answers");
    assert_eq!(subs.len(), 3);
    assert_eq!(conn.credential_used(), Some(lifeboat::azure::CredentialKind::ClientSecret));
    // A service principal is named by its application id.
    let sp = principal(&sim, "0003");
    let p = connect(&sim, &sp).client.identify().await.unwrap().unwrap();
    assert_eq!(p.name.as_deref(), Some(sp.client_id.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_is_entras_invalid_client_and_an_auth_failure() {
    let sim = start(quiet()).await;
    // The endpoint itself: Entra ID's error shape.
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &alice(&sim).client_id)
        .append_pair("client_secret", "not-the-secret")
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", "https://management.azure.com/.default")
        .finish();
    let r = reqwest::Client::new()
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", sim.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], serde_json::json!([7000215]));
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS7000215: "), "{body}");
    // Through lifeboat: exit 5, Entra's code in the message, the secret nowhere.
    let mut bad = alice(&sim);
    bad.secret = "not-the-secret-at-all".into();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = as_principal(&sim, &bad);
    cmd.args(["--state-dir", dir.path().to_str().unwrap(), "connectors", "list"]);
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("AADSTS7000215"), "{}", text(&out));
    assert!(!text(&out).contains("not-the-secret-at-all"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_oid_or_tid_is_refused_before_anything_is_written() {
    let sim = start(quiet()).await;
    let mallory = Principal {
        kind: PrincipalKind::User,
        client_id: "00000000-0000-4000-a000-00000000ffff".into(),
        secret: "mallory-sim-secret".into(),
        object_id: "00000000-0000-4000-b000-00000000ffff".into(),
        upn: Some("mallory@contoso.onmicrosoft.com".into()),
        display_name: None,
        omit_claims: vec!["tid".into()],
    };
    sim.cloud().principals.push(mallory.clone());
    let e = connect(&sim, &mallory).client.identify().await.unwrap_err();
    assert!(e.to_string().contains("no `tid` (tenant id) claim"), "{e}");
    assert_eq!(azure::user_error(e).exit, lifeboat::error::Exit::Auth);
    // `run` as that principal: exit 5, no run created, nothing written to ARM.
    let dir = tempfile::tempdir().unwrap();
    let rb = dir.path().join("rb.yaml");
    std::fs::write(&rb, RUNBOOK).unwrap();
    let before = sim.requests().len();
    let mut cmd = as_principal(&sim, &mallory);
    cmd.args(["--state-dir", dir.path().to_str().unwrap(), "run"]).arg(&rb);
    cmd.args(["--run-id", "m1"]);
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("no `tid` (tenant id) claim"), "{}", text(&out));
    assert!(!dir.path().join("runs/m1").exists(), "no run was created");
    assert_eq!(sim.requests().len(), before, "no ARM request was made");
}

/// A small runbook that calls Azure (discovery) and gates each connector of `westeurope` with a
/// four-eyes approval.
pub const RUNBOOK: &str = r#"apiVersion: lifeboat/v1
metadata:
  name: lead-approves
  concurrency: 4
params:
  region: {type: string, default: westeurope}
steps:
  - id: discover
    uses: resource-graph.query
    with:
      query: devops-connectors
      region: "{{ params.region }}"
  - id: go
    uses: gate.approval
    needs: [discover]
    for_each: "{{ steps.discover.outputs.connectors }}"
    with:
      prompt: "Recover {{ item.name }}?"
      four_eyes: true
"#;
