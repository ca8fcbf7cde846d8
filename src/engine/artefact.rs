//! Copies of a run's artefacts beside its journal, for a run kept in a shared run store
//! (`--run-store az://...`): the support requests `support.draft` writes into `<run dir>/support/`
//! and the drill's reports. The local files are written as always; an [`ArtefactStore`] in the
//! run's services (wrapped in [`Artefacts`]) also stores each one under the run's prefix
//! (`support/NAME`, `reports/NAME`), so a person on another machine finds them where the run is.
//! The engine only carries the interface; `runstore` implements it on Blob storage.

use futures::future::BoxFuture;
use std::sync::Arc;

/// Where a run's artefacts are copied to. `rel` is the artefact's path relative to the run
/// (`support/connector-a.md`): letters, digits, `-`, `_`, `.` and `/`, no `..`.
pub trait ArtefactStore: Send + Sync {
    /// Stores `bytes` as `rel`, replacing an earlier copy of the same artefact (a step re-run
    /// after a crash drafts it again). Resolves to where it is, for people (`az://c/p/runs/R/support/x.md`);
    /// the error message names the artefact and is safe to show (no key, no SAS token).
    fn store(&self, rel: String, bytes: Vec<u8>) -> BoxFuture<'static, Result<String, String>>;
    /// Where `rel` is (or would be) stored, for people.
    fn location(&self, rel: &str) -> String;
}

/// `Services` is keyed by concrete type, so the trait object travels in this wrapper.
#[derive(Clone)]
pub struct Artefacts(pub Arc<dyn ArtefactStore>);

impl std::fmt::Debug for Artefacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Artefacts")
    }
}

/// Whether `rel` is an artefact path [`ArtefactStore::store`] accepts.
pub fn valid_rel(rel: &str) -> bool {
    !rel.is_empty()
        && rel.len() <= 512
        && !rel.starts_with('/')
        && rel.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && rel.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn artefact_paths_stay_under_the_run() {
        for ok in ["support/a.md", "reports/drill.html", "support/con-1_x.json"] {
            assert!(super::valid_rel(ok), "{ok}");
        }
        for bad in ["", "/etc/x", "support/../../x", "a//b", "support/x?sig=1", "./x"] {
            assert!(!super::valid_rel(bad), "{bad}");
        }
    }
}
