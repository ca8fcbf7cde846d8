//! A run's artefacts beside its journal on Blob storage ([`BlobArtefacts`], the engine's
//! [`ArtefactStore`]): `<prefix>/runs/<run-id>/support/NAME` (drafted support requests) and
//! `reports/NAME` (drill reports).
//!
//! Written create-only (`If-None-Match: *`); an artefact already there with other bytes (the step
//! drafted it again after a crash, a drill report rewritten) is replaced `If-Match` its ETag, so
//! two writers never lose each other's write silently: a conflict is retried on the new ETag a
//! few times, then an error. Identical bytes are left as they are.

use super::inbox::{Created, RunBlobs};
use crate::engine::artefact::{valid_rel, ArtefactStore};
use futures::future::BoxFuture;
use std::sync::Arc;

/// Where the drafted support requests are kept under a run's prefix.
pub const SUPPORT_DIR: &str = "support";
/// Where the drill's reports are kept under a run's prefix.
pub const REPORTS_DIR: &str = "reports";

/// The artefacts of one run on Blob storage.
#[derive(Clone)]
pub struct BlobArtefacts {
    blobs: Arc<dyn RunBlobs>,
    /// `<prefix>/runs/<run-id>`, no trailing `/`.
    run_prefix: String,
}

impl BlobArtefacts {
    pub fn new(blobs: Arc<dyn RunBlobs>, run_prefix: &str) -> BlobArtefacts {
        BlobArtefacts { blobs, run_prefix: run_prefix.trim_end_matches('/').to_string() }
    }

    fn blob(&self, rel: &str) -> String {
        if self.run_prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.run_prefix)
        }
    }

    /// [`ArtefactStore::store`], blocking.
    pub fn store_blocking(&self, rel: &str, bytes: &[u8]) -> Result<String, String> {
        if !valid_rel(rel) {
            return Err(format!("`{rel}` is not an artefact path (letters, digits, `-_./`)"));
        }
        let name = self.blob(rel);
        let at = self.blobs.display(&name);
        let fail = |e: String| format!("cannot store {at}: {e}");
        if self.blobs.put_new(&name, bytes).map_err(fail)? == Created::Created {
            return Ok(at);
        }
        for _ in 0..3 {
            match self.blobs.get(&name).map_err(fail)? {
                Some((old, _)) if old == bytes => return Ok(at),
                Some((_, etag)) => {
                    if self.blobs.put_if_match(&name, bytes, &etag).map_err(fail)? {
                        return Ok(at);
                    }
                }
                None => {
                    if self.blobs.put_new(&name, bytes).map_err(fail)? == Created::Created {
                        return Ok(at);
                    }
                }
            }
        }
        Err(format!(
            "cannot store {at}: another writer changed it three times while this one wrote it"
        ))
    }
}

impl ArtefactStore for BlobArtefacts {
    fn store(&self, rel: String, bytes: Vec<u8>) -> BoxFuture<'static, Result<String, String>> {
        let me = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || me.store_blocking(&rel, &bytes))
                .await
                .map_err(|e| format!("cannot store the artefact: {e}"))?
        })
    }
    fn location(&self, rel: &str) -> String {
        self.blobs.display(&self.blob(rel))
    }
}

#[cfg(test)]
mod tests {
    use super::super::inbox::MemoryBlobs;
    use super::*;

    #[test]
    fn an_artefact_is_created_then_replaced_only_when_it_changed() {
        let blobs = Arc::new(MemoryBlobs::new());
        let a = BlobArtefacts::new(blobs.clone(), "team/runs/r1/");
        let at = a.store_blocking("support/a.md", b"one").unwrap();
        assert_eq!(at, "memory://team/runs/r1/support/a.md");
        assert_eq!(a.location("support/a.md"), at);
        a.store_blocking("support/a.md", b"one").unwrap();
        assert!(
            !blobs.log().iter().any(|l| l.starts_with("put_if_match")),
            "identical bytes are not written again"
        );
        a.store_blocking("support/a.md", b"two").unwrap();
        assert_eq!(blobs.get("team/runs/r1/support/a.md").unwrap().unwrap().0, b"two");
        assert!(a.store_blocking("../x", b"").unwrap_err().contains("not an artefact path"));
        assert_eq!(blobs.names(), vec!["team/runs/r1/support/a.md".to_string()]);
    }

    #[tokio::test]
    async fn the_async_store_runs_off_the_runtime() {
        let blobs = Arc::new(MemoryBlobs::new());
        let a = BlobArtefacts::new(blobs.clone(), "p/runs/r");
        let at = ArtefactStore::store(&a, "reports/drill.md".into(), b"# x".to_vec()).await;
        assert_eq!(at.unwrap(), "memory://p/runs/r/reports/drill.md");
    }
}
