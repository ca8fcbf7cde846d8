//! A drill's run on an `az://` run store (`lifeboat drill --run-store az://...`, simulated and
//! live): created in the run store's local working copy, published (the journal blob is the
//! record, leased by the drill until it ends), its inbox and support drafts beside the journal.

use crate::engine::inbox::Inbox;
use crate::engine::kind::Services;
use crate::error::UserError;
use crate::runstore::remote::{self, LeaseOptions, RemoteRun};
use crate::runstore::BlobStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// A drill's run published to the run store: holds its lease until dropped.
pub struct SharedDrillRun {
    pub held: RemoteRun,
    /// For `RunOptions::inbox`.
    pub inbox: Arc<dyn Inbox>,
}

/// Where a drill creates its run: the state directory, or the run store's working copies.
pub fn runs_root(state_dir: &Path, store: Option<&BlobStore>) -> PathBuf {
    match store {
        Some(s) => remote::cache_root(state_dir, s),
        None => state_dir.to_path_buf(),
    }
}

/// Publishes the run just created in `run_dir` to `store` and adds the artefact store of its
/// support drafts to `services`.
pub async fn publish(
    store: &BlobStore,
    run_id: &str,
    run_dir: &Path,
    now: OffsetDateTime,
    services: &mut Services,
) -> Result<SharedDrillRun, UserError> {
    let lease = LeaseOptions::from_env(&|k: &str| std::env::var(k).ok(), false)?;
    let held = remote::publish_new(store, run_id, run_dir, &lease, now).await?;
    let prefix = format!("runs/{run_id}");
    let blobs: Arc<dyn crate::runstore::inbox::RunBlobs> = Arc::new(store.clone());
    let artefacts = crate::runstore::artefacts::BlobArtefacts::new(blobs.clone(), &prefix);
    services.insert(Arc::new(crate::engine::artefact::Artefacts(Arc::new(artefacts))));
    let inbox = Arc::new(crate::runstore::inbox::BlobInbox::new(blobs, &prefix));
    Ok(SharedDrillRun { held, inbox })
}
