//! The Blob primitives others build on, against Azurite: create-only puts, compare-and-swap,
//! ranged reads, listings, append blobs with an append position under a lease, lease break,
//! and the errors a person gets (missing container: exit 2 with the fix).

use super::{azurite, fresh_store, open};
use bytes::Bytes;
use lifeboat::error::Exit;
use lifeboat::runstore::StoreError;
use std::collections::HashMap;

#[tokio::test]
async fn create_only_cas_ranges_and_listing() {
    let Some(endpoint) = azurite() else { return };
    let s = fresh_store(&endpoint, "team/a").await;
    s.check_container().await.expect("container exists");
    let etag = s.put_new("runs/r1/inbox/x.json", Bytes::from_static(b"one")).await.unwrap();
    let again = s.put_new("runs/r1/inbox/x.json", Bytes::from_static(b"two")).await.unwrap_err();
    assert!(matches!(again, StoreError::AlreadyExists { .. }), "{again}");
    let (body, got) = s.get("runs/r1/inbox/x.json").await.unwrap().expect("exists");
    assert_eq!((&body[..], got.as_str()), (&b"one"[..], etag.as_str()));
    let e2 =
        s.put_if_match("runs/r1/inbox/x.json", Bytes::from_static(b"three"), &etag).await.unwrap();
    let stale = s
        .put_if_match("runs/r1/inbox/x.json", Bytes::from_static(b"four"), &etag)
        .await
        .unwrap_err();
    assert!(matches!(stale, StoreError::ConditionNotMet { .. }), "{stale}");
    assert_eq!(&s.get_range("runs/r1/inbox/x.json", 2).await.unwrap().unwrap()[..], b"ree");
    assert_eq!(s.get_range("runs/r1/inbox/x.json", 5).await.unwrap().unwrap().len(), 0);
    assert!(s.get("runs/r1/none").await.unwrap().is_none());
    s.put_new("runs/r2/journal.jsonl", Bytes::from_static(b"{}")).await.unwrap();
    assert_eq!(
        s.list("runs/").await.unwrap(),
        vec!["runs/r1/inbox/x.json".to_string(), "runs/r2/journal.jsonl".to_string()]
    );
    let stale_delete = s.delete("runs/r1/inbox/x.json", Some(&etag)).await.unwrap_err();
    assert!(matches!(stale_delete, StoreError::ConditionNotMet { .. }), "{stale_delete}");
    s.delete("runs/r1/inbox/x.json", Some(&e2)).await.unwrap();
    assert_eq!(s.list("runs/r1/").await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn append_blob_with_position_and_lease() {
    let Some(endpoint) = azurite() else { return };
    let s = fresh_store(&endpoint, "").await;
    let name = "runs/r/journal.jsonl";
    s.create_append(name, HashMap::new()).await.unwrap();
    assert!(matches!(
        s.create_append(name, HashMap::new()).await.unwrap_err(),
        StoreError::AlreadyExists { .. }
    ));
    let lease = s.acquire_lease(name, 15, "00000000-0000-0000-0000-00000000000a").await.unwrap();
    let held = s.acquire_lease(name, 15, "00000000-0000-0000-0000-00000000000b").await.unwrap_err();
    assert!(matches!(held, StoreError::LeaseHeld { .. }), "{held}");
    assert_eq!(held.exit(), Exit::Locked);
    let md: HashMap<String, String> = [("holder".to_string(), "host-a".to_string())].into();
    s.set_metadata(name, &md, Some(&lease)).await.unwrap();
    assert_eq!(s.append(name, Bytes::from_static(b"line1\n"), 0, Some(&lease)).await.unwrap(), 6);
    let wrong_pos = s.append(name, Bytes::from_static(b"x\n"), 0, Some(&lease)).await.unwrap_err();
    assert!(matches!(wrong_pos, StoreError::AppendPosition { .. }), "{wrong_pos}");
    let no_lease = s.append(name, Bytes::from_static(b"x\n"), 6, None).await.unwrap_err();
    assert!(matches!(no_lease, StoreError::LeaseLost { .. }), "{no_lease}");
    s.renew_lease(name, &lease).await.unwrap();
    let p = s.properties(name).await.unwrap().unwrap();
    assert_eq!(
        (p.length, p.leased, p.metadata.get("holder").map(String::as_str)),
        (6, true, Some("host-a"))
    );
    // Another driver breaks the lease and takes it: the first one's append is fenced.
    s.break_lease(name).await.unwrap();
    let b = s.acquire_lease(name, 15, "00000000-0000-0000-0000-00000000000b").await.unwrap();
    let fenced = s.append(name, Bytes::from_static(b"late\n"), 6, Some(&lease)).await.unwrap_err();
    assert!(matches!(fenced, StoreError::LeaseLost { .. }), "{fenced}");
    assert_eq!(fenced.exit(), Exit::Locked);
    assert_eq!(s.append(name, Bytes::from_static(b"b\n"), 6, Some(&b)).await.unwrap(), 8);
    s.release_lease(name, &b).await.unwrap();
    assert_eq!(&s.get(name).await.unwrap().unwrap().0[..], b"line1\nb\n");
}

#[tokio::test]
async fn missing_container_is_bad_input_with_the_fix() {
    let Some(endpoint) = azurite() else { return };
    let s = open(&endpoint, &super::fresh_container(), "p");
    let e = s.check_container().await.unwrap_err();
    assert!(matches!(e, StoreError::ContainerNotFound { .. }), "{e}");
    assert_eq!(e.exit(), Exit::Usage);
    assert!(e.hint().unwrap().contains("az storage container create"), "{:?}", e.hint());
    assert!(!e.to_string().contains("sig="));
}

#[test]
fn blocking_runs_from_sync_code_inside_a_runtime() {
    let Some(endpoint) = azurite() else { return };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let s = fresh_store(&endpoint, "").await;
        let r = s.blocking(|s| async move { s.put_new("a", Bytes::from_static(b"x")).await });
        assert!(r.is_ok(), "{r:?}");
        assert!(s.round_trips() >= 2);
    });
}

#[tokio::test]
async fn a_batch_whose_answer_was_lost_is_not_appended_twice() {
    let Some(endpoint) = azurite() else { return };
    let s = fresh_store(&endpoint, "").await;
    let name = "runs/r/journal.jsonl";
    s.create_append(name, HashMap::new()).await.unwrap();
    let lease = s.acquire_lease(name, 15, "00000000-0000-0000-0000-00000000000c").await.unwrap();
    use lifeboat::runstore::remote::append_exactly_once;
    append_exactly_once(&s, name, Bytes::from_static(b"one\n"), 0, &lease).await.unwrap();
    // The same batch again at the same position (its first answer lost): it landed, once.
    append_exactly_once(&s, name, Bytes::from_static(b"one\n"), 0, &lease).await.unwrap();
    assert_eq!(&s.get(name).await.unwrap().unwrap().0[..], b"one\n");
    // Another batch at a position already taken: refused, fenced, nothing written.
    let e =
        append_exactly_once(&s, name, Bytes::from_static(b"two\n"), 0, &lease).await.unwrap_err();
    assert!(e.fenced, "{e:?}");
    assert!(e.message.contains("changed under this driver"), "{}", e.message);
    append_exactly_once(&s, name, Bytes::from_static(b"two\n"), 4, &lease).await.unwrap();
    assert_eq!(&s.get(name).await.unwrap().unwrap().0[..], b"one\ntwo\n");
}
