//! A journal's replica: where each batch goes before the local file, when the run's record
//! lives elsewhere (the run store on Azure Blob, `runstore`). The journal knows no HTTP: a layer
//! above implements [`Replica`] and attaches it to a journal path for as long as it holds the
//! run; every [`super::Writer`] opened on that path then sends each batch (the exact bytes of
//! its lines, one call per batch: group commit) to the replica first, and writes the local
//! copy only once the replica acknowledged it. A batch the replica refuses is not written
//! locally either. Without an attached replica nothing changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a replica did not take a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaError {
    /// For a person: what happened and what to do.
    pub message: String,
    /// Another driver holds the run now: this process must stop writing (exit 4).
    pub fenced: bool,
}

/// The record a journal is replicated to.
pub trait Replica: Send + Sync {
    /// Appends `bytes` (whole journal lines) at byte `offset` of the record (the local file's
    /// length before the batch). `Ok` means the record holds them durably, exactly once.
    fn append(&self, offset: u64, bytes: &[u8]) -> Result<(), ReplicaError>;
}

static ATTACHED: Mutex<BTreeMap<PathBuf, Arc<dyn Replica>>> = Mutex::new(BTreeMap::new());

fn key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Attaches `replica` to the journal at `path` (which must exist) until [`detach`].
pub fn attach(path: &Path, replica: Arc<dyn Replica>) {
    ATTACHED.lock().unwrap_or_else(|p| p.into_inner()).insert(key(path), replica);
}

/// Detaches the replica of `path`, if any.
pub fn detach(path: &Path) {
    ATTACHED.lock().unwrap_or_else(|p| p.into_inner()).remove(&key(path));
}

/// The replica attached to `path`.
pub fn attached(path: &Path) -> Option<Arc<dyn Replica>> {
    let map = ATTACHED.lock().unwrap_or_else(|p| p.into_inner());
    if map.is_empty() {
        return None;
    }
    map.get(&key(path)).cloned()
}
