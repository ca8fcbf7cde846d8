//! The run's inbox and artefacts on Blob (lane remote), on Azurite: requests are create-only
//! blobs under `runs/<run-id>/inbox/`, settled into `done/` or `refused/` (+ `.reason`) in
//! idempotent steps, read through the run store's own client (`BlobStore` as `RunBlobs`).

use super::{azurite, fresh_store};
use lifeboat::engine::inbox::{Inbox, Request, RequestState, Settle, Verb};
use lifeboat::engine::Actor;
use lifeboat::runstore::artefacts::BlobArtefacts;
use lifeboat::runstore::inbox::{BlobInbox, RunBlobs};
use std::sync::Arc;

fn request(step: &str) -> Request {
    let t = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    Request::new(Verb::Approve, step, false, Some("CAB 42".into()), Actor::os("lead", "h3"), t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_on_blob_puts_settles_and_never_hands_out_a_settled_request() {
    let Some(endpoint) = azurite() else { return };
    let store = fresh_store(&endpoint, "team").await;
    let blobs: Arc<dyn RunBlobs> = Arc::new(store.clone());
    let inbox = BlobInbox::new(blobs.clone(), "runs/r1");
    // The engine's Inbox is synchronous: called from a runtime's worker as the driver does.
    let a = request("approve-submission#0");
    let name = inbox.put(&a).expect("put");
    assert!(inbox.location().starts_with(&format!("{}/runs/r1/inbox/", store.store_name())));
    let mut changed = a.clone();
    changed.comment = Some("other".into());
    assert!(inbox.put(&changed).is_err(), "a request blob is never replaced");
    store.put_new("runs/r1/inbox/junk.json", "{oops".into()).await.unwrap();
    let listed = inbox.list().expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed.iter().find(|p| p.name == name).unwrap().request.as_ref().unwrap(), &a);
    assert!(listed.iter().any(|p| p.name == "junk.json" && p.request.is_err()));
    assert_eq!(inbox.state(&name).unwrap(), RequestState::Pending);

    // The copy lands, then the driver dies before the delete: the pending blob stays, its copy
    // says done; the next reader finishes the settling and does not hand it out again.
    let (bytes, _) = store.get(&format!("runs/r1/inbox/{name}")).await.unwrap().unwrap();
    store.put_new(&format!("runs/r1/inbox/done/{name}"), bytes).await.unwrap();
    assert_eq!(inbox.state(&name).unwrap(), RequestState::Done);
    let left: Vec<String> = inbox.list().unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(left, vec!["junk.json".to_string()]);
    assert!(store.get(&format!("runs/r1/inbox/{name}")).await.unwrap().is_none());
    inbox.settle(&name, Settle::Done).expect("settling again is harmless");

    inbox.settle("junk.json", Settle::Refused("is not valid JSON")).unwrap();
    assert_eq!(
        inbox.state("junk.json").unwrap(),
        RequestState::Refused("is not valid JSON".into())
    );
    let refused = inbox.refused().unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].reason, "is not valid JSON");
    assert!(inbox.list().unwrap().is_empty());
    let names = store.list("runs/r1/").await.unwrap();
    assert_eq!(
        names,
        vec![
            format!("runs/r1/inbox/done/{name}"),
            "runs/r1/inbox/refused/junk.json".to_string(),
            "runs/r1/inbox/refused/junk.json.reason".to_string(),
        ]
    );
}

#[tokio::test]
async fn artefacts_are_created_then_replaced_if_match() {
    let Some(endpoint) = azurite() else { return };
    let store = fresh_store(&endpoint, "").await;
    let a = BlobArtefacts::new(Arc::new(store.clone()), "runs/r2");
    let at = lifeboat::engine::artefact::ArtefactStore::store(
        &a,
        "support/ado-weu.md".into(),
        b"draft 1".to_vec(),
    )
    .await
    .expect("store");
    assert_eq!(at, format!("{}/runs/r2/support/ado-weu.md", store.store_name()));
    let (_, etag1) = store.get("runs/r2/support/ado-weu.md").await.unwrap().unwrap();
    let a2 = a.clone();
    tokio::task::spawn_blocking(move || a2.store_blocking("support/ado-weu.md", b"draft 1"))
        .await
        .unwrap()
        .unwrap();
    let (_, same) = store.get("runs/r2/support/ado-weu.md").await.unwrap().unwrap();
    assert_eq!(etag1, same, "identical bytes are not written again");
    let a3 = a.clone();
    tokio::task::spawn_blocking(move || a3.store_blocking("support/ado-weu.md", b"draft 2"))
        .await
        .unwrap()
        .unwrap();
    let (bytes, _) = store.get("runs/r2/support/ado-weu.md").await.unwrap().unwrap();
    assert_eq!(&bytes[..], b"draft 2");
}
