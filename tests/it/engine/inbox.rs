//! Issue 15, item 3: one person drives a run, a lead approves from another process (another
//! machine in real life) through the run's inbox, each with their own simulated Azure
//! principal. The real binary, the real client-secret credential, the simulator's Entra ID
//! token endpoint.

use crate::azure::principal::{alice, as_principal, bob, RUNBOOK, TENANT};
use crate::support::cli::{output, run_dir, text};
use crate::support::sim::{quiet, start};
use lifeboat::engine::inbox::{self, Inbox as _, LocalInbox, Request, Verb};
use lifeboat::engine::Actor;
use lifeboat::sim::model::{Principal, PrincipalKind};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn events(state: &Path, run: &str) -> Vec<Value> {
    let journal = run_dir(state, run).join("journal.jsonl");
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

fn of_kind(events: &[Value], kind: &str) -> Vec<Value> {
    events.iter().filter(|e| e["payload"]["event"] == kind).map(|e| e["payload"].clone()).collect()
}

/// Waits (a liveness bound, not a timing assertion) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(180), "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The driving process, killed when dropped unless it was taken to be waited for.
struct Driver(Option<std::process::Child>);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lead_approves_from_another_process_with_their_own_azure_identity() {
    let sim = start(quiet()).await;
    let (alice, bob) = (alice(&sim), bob(&sim));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_path_buf();
    let rb = state.join("lead.yaml");
    std::fs::write(&rb, RUNBOOK).unwrap();
    let cmd = |p: &Principal, args: &[&str]| {
        let mut c = as_principal(&sim, p);
        // The same OS user on the same host for both: only the Azure identity tells them apart.
        c.env("USER", "responder").args(["--state-dir", state.to_str().unwrap()]).args(args);
        c
    };

    // Alice drives: the run reaches the two four-eyes gates and keeps waiting for people.
    let mut driver = cmd(&alice, &["run", rb.to_str().unwrap(), "--run-id", "lead"]);
    driver.args(["--wait-for-people", "10m"]);
    driver.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    // Killed if the test fails before the run ends (it would wait for people for 10 minutes).
    let mut driver = Driver(Some(driver.spawn().expect("the driver starts")));
    until("both gates to await approval", || {
        of_kind(&events(&state, "lead"), "step_awaiting_approval").len() == 2
    })
    .await;
    let asked = of_kind(&events(&state, "lead"), "step_awaiting_approval");
    assert!(asked.iter().all(|e| e["four_eyes"] == true), "{asked:?}");
    let journaled = || events(&state, "lead").len();

    // An unknown branch label: bad input at once, nothing queued, nothing journaled.
    let before = journaled();
    let out = output(cmd(&bob, &["approve", "lead", "go[nope]", "--comment", "x"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("step go has no branch [nope] (its branches: go[ado-weu], go[gitlab-weu])"),
        "{t}"
    );
    let inbox = LocalInbox::for_run(&run_dir(&state, "lead"));
    assert!(inbox.list().unwrap().is_empty(), "nothing was queued");

    // A token without the expected claims: exit 5, nothing queued or journaled.
    let mallory = Principal {
        kind: PrincipalKind::User,
        client_id: "00000000-0000-4000-a000-00000000ffff".into(),
        secret: "mallory-sim-secret".into(),
        object_id: String::new(),
        upn: Some("mallory@contoso.onmicrosoft.com".into()),
        display_name: None,
        omit_claims: vec!["oid".into()],
    };
    sim.cloud().principals.push(mallory.clone());
    let out = output(cmd(&mallory, &["approve", "lead", "go[ado-weu]"])).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("no `oid` (object id) claim"), "{}", text(&out));
    assert!(inbox.list().unwrap().is_empty(), "nothing was queued");

    // A file dropped into the inbox by hand that is not a request, and a well-formed request
    // naming an unknown label: the driver refuses both (a warning in `status`), journals
    // nothing from them, and goes on.
    std::fs::create_dir_all(inbox.dir()).unwrap();
    std::fs::write(inbox.dir().join("20260101T000000Z-byhand.json"), b"{\"approve\": ").unwrap();
    let crafted =
        Request::new(Verb::Approve, "go[atlantis]", false, None, Actor::os("eve", "h"), now());
    inbox.put(&crafted).unwrap();
    until("the driver to refuse both files", || inbox.refused().unwrap().len() == 2).await;
    let refused = inbox.refused().unwrap();
    assert!(refused.iter().any(|r| r.reason.contains("is not valid JSON")), "{refused:?}");
    assert!(
        refused.iter().any(|r| r.reason.contains("step go has no branch [atlantis]")),
        "{refused:?}"
    );
    assert_eq!(journaled(), before, "nothing journaled from bad requests");
    let mut status = cmd(&bob, &["status", "lead"]);
    status.env_remove("AZURE_CLIENT_SECRET");
    let st = text(&output(status).await);
    let warnings = st.split("\nWarnings\n").nth(1).unwrap_or_default();
    assert!(
        warnings
            .contains("inbox: refused: inbox file 20260101T000000Z-byhand.json is not valid JSON"),
        "{st}"
    );
    assert!(
        warnings.contains(&format!("inbox: refused inbox request {} (approve go[atlantis] by eve@h): step go has no branch [atlantis]", crafted.id)),
        "{st}"
    );

    // Bob approves one gate from his own process: queued, recorded by Alice's driver.
    let out = output(cmd(
        &bob,
        &["approve", "lead", "go[ado-weu]", "--comment", "lead approves", "--wait", "3m"],
    ))
    .await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("queued request") && t.contains("in its inbox"), "{t}");
    assert!(t.contains("approve go[ado-weu] of run lead: recorded at seq "), "{t}");

    // Alice approves the other herself: the driver refuses it (four eyes) and tells her why.
    let out = output(cmd(&alice, &["approve", "lead", "go[gitlab-weu]", "--wait", "3m"])).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("was refused by the process driving the run"), "{t}");
    assert!(t.contains("needs a second person (four eyes)"), "{t}");
    assert!(t.contains("a self-approval is refused"), "{t}");
    assert!(
        t.contains(&format!("Azure object {}", alice.object_id))
            && t.contains("the same Azure object id"),
        "{t}"
    );
    assert_eq!(of_kind(&events(&state, "lead"), "approved").len(), 1, "nothing journaled");

    // Bob approves the second one too; the run ends.
    let out = output(cmd(
        &bob,
        &["approve", "lead", "go[gitlab-weu]", "--comment", "ok", "--wait", "3m"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let child = driver.0.take().expect("the driver");
    let done =
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    assert!(text(&done).contains("run lead succeeded"), "{}", text(&done));

    // The journal names both identities: Alice started, Bob approved, through the inbox.
    let all = events(&state, "lead");
    let header = &all[0]["payload"]["started_by"];
    assert_eq!(header["azure_principal"], alice.object_id.as_str());
    assert_eq!(header["azure_principal_name"], "alice@contoso.onmicrosoft.com");
    assert_eq!(header["azure_tenant"], TENANT);
    assert_eq!(header["user"], "responder");
    let approvals = of_kind(&all, "approved");
    assert_eq!(approvals.len(), 2);
    for a in &approvals {
        assert_eq!(a["by"]["azure_principal"], bob.object_id.as_str());
        assert_eq!(a["by"]["azure_principal_name"], "bob@contoso.onmicrosoft.com");
        assert_eq!(a["by"]["azure_tenant"], TENANT);
        assert_eq!(a["by"]["user"], "responder");
        assert!(a["by"]["request"].as_str().is_some_and(inbox::valid_id), "{a}");
    }
    assert!(inbox.list().unwrap().is_empty());

    // The audit export shows both, with the OS user next to each.
    let mut md = cmd(&bob, &["audit", "export", "lead", "--format", "md"]);
    md.env_remove("AZURE_CLIENT_SECRET");
    let md = text(&output(md).await);
    // (Markdown writes the UPNs as code spans and escapes the parentheses.)
    let started = md.lines().find(|l| l.starts_with("| Started by |")).unwrap_or_default();
    assert!(started.contains("`alice@contoso.onmicrosoft.com` \\(Azure object"), "{md}");
    assert!(started.contains(&alice.object_id) && started.contains(TENANT), "{md}");
    assert!(started.contains("claimed by token\\) as OS user `responder@"), "{md}");
    let section = md.split("## Approvals").nth(1).and_then(|s| s.split("## Azure calls").next());
    let approvals: Vec<&str> =
        section.unwrap_or_default().lines().filter(|l| l.contains("| approved |")).collect();
    assert_eq!(approvals.len(), 2, "{md}");
    for a in approvals {
        assert!(a.contains("`bob@contoso.onmicrosoft.com` \\(Azure object"), "{a}");
        assert!(a.contains(&bob.object_id) && a.contains("as OS user `responder@"), "{a}");
    }
    assert!(md.contains("through inbox request"), "{md}");
    let mut html = cmd(&bob, &["audit", "export", "lead", "--format", "html"]);
    html.env_remove("AZURE_CLIENT_SECRET");
    let html = text(&output(html).await);
    assert!(
        html.contains("alice@contoso.onmicrosoft.com") && html.contains(&bob.object_id),
        "{html}"
    );
    assert!(html.contains(TENANT), "tenant shown");
    let mut csv = cmd(&bob, &["audit", "export", "lead", "--format", "csv"]);
    csv.env_remove("AZURE_CLIENT_SECRET");
    let csv = text(&output(csv).await);
    assert!(csv.lines().next().unwrap().contains("azure_tenant_id,inbox_request"), "{csv}");
}

#[tokio::test]
async fn without_a_driver_the_queued_request_is_taken_by_the_command_itself() {
    // A run paused at a gate, its lock free: `approve` applies directly (no inbox), and a
    // request left in the inbox earlier is taken by the next process that holds the lock.
    crate::engine::common::enable_test_steps();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let rb = state.join("g.yaml");
    std::fs::write(
        &rb,
        "apiVersion: lifeboat/v1\nmetadata: {name: g}\nsteps:\n  - id: a\n    uses: gate.approval\n  - id: b\n    uses: gate.approval\n    needs: [a]\n",
    )
    .unwrap();
    let lb = |args: &[&str]| {
        let mut c = crate::engine::common::lifeboat(state);
        c.args(args);
        c
    };
    let out = output(lb(&["run", rb.to_str().unwrap(), "--run-id", "q"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let run = run_dir(state, "q");
    let inbox = LocalInbox::for_run(&run);
    let queued = Request::new(
        Verb::Approve,
        "a",
        false,
        Some("queued".into()),
        Actor::os("lead", "elsewhere"),
        now(),
    );
    inbox.put(&queued).unwrap();
    let out = output(lb(&["status", "q"])).await;
    let pending = text(&out).split("\nPending requests").nth(1).unwrap_or_default().to_string();
    assert!(pending.contains("\n  approve a by lead@elsewhere (queued "), "{}", text(&out));
    // `resume` takes the inbox first: `a` is approved by the request's actor, then `b` waits.
    let out = output(lb(&["resume", "q"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let ev = events(state, "q");
    let approved = of_kind(&ev, "approved");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["by"]["user"], "lead");
    assert_eq!(approved[0]["by"]["request"], queued.id.as_str());
    assert_eq!(inbox.state(&queued.file_name()).unwrap(), inbox::RequestState::Done);
    // With the lock free, `approve` journals directly, exit 0.
    let out = output(lb(&["approve", "q", "b", "--comment", "direct"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let approved = of_kind(&events(state, "q"), "approved");
    assert_eq!(approved.len(), 2);
    assert!(approved[1]["by"].get("request").is_none());
}

#[tokio::test]
async fn a_four_eyes_gate_refuses_the_person_who_started_the_run() {
    // Without Azure the OS identity decides (user@host): the starter's own approval is refused
    // naming both, exit 2, nothing journaled; another user's goes through.
    crate::engine::common::enable_test_steps();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let rb = state.join("four.yaml");
    std::fs::write(
        &rb,
        "apiVersion: lifeboat/v1\nmetadata: {name: four}\nsteps:\n  - id: ship\n    uses: gate.approval\n    with: {prompt: ship it?, four_eyes: true}\n",
    )
    .unwrap();
    let as_user = |user: &str, args: &[&str]| {
        let mut c = crate::engine::common::lifeboat(state);
        c.env("USER", user).args(args);
        c
    };
    let out = output(as_user("ana", &["run", rb.to_str().unwrap(), "--run-id", "f"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let before = events(state, "f").len();
    let out = output(as_user("ana", &["approve", "f", "ship", "--comment", "mine"])).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("ship needs a second person (four eyes)"), "{t}");
    assert!(
        t.contains("run f was started by ana@") && t.contains("this approval is by ana@"),
        "{t}"
    );
    assert!(t.contains("the same OS user on the same host"), "{t}");
    assert!(t.contains("another person approves it: lifeboat approve f ship"), "{t}");
    assert_eq!(events(state, "f").len(), before, "nothing journaled");
    let out = output(as_user("ben", &["approve", "f", "ship", "--comment", "second pair"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let approved = of_kind(&events(state, "f"), "approved");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["by"]["user"], "ben");
}

fn now() -> time::OffsetDateTime {
    use lifeboat::clock::Clock as _;
    lifeboat::clock::SystemClock.now()
}
