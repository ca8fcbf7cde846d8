//! The run store's [`BlobStore`] as the blocking [`RunBlobs`] the inbox and the artefacts use:
//! each call runs on the store's own runtime ([`BlobStore::blocking`]), so the engine's
//! synchronous `Inbox` works inside or outside another runtime.

use super::inbox::{Created, Deleted, Listed, RunBlobs};
use super::{BlobStore, StoreError};
use bytes::Bytes;

impl RunBlobs for BlobStore {
    fn put_new(&self, name: &str, bytes: &[u8]) -> Result<Created, String> {
        let (name, bytes) = (name.to_string(), Bytes::copy_from_slice(bytes));
        self.blocking(move |s| async move {
            match s.put_new(&name, bytes).await {
                Ok(_) => Ok(Created::Created),
                Err(StoreError::AlreadyExists { .. }) => Ok(Created::Exists),
                Err(e) => Err(e.to_string()),
            }
        })
    }
    fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, String> {
        let name = name.to_string();
        self.blocking(move |s| async move {
            s.get(&name).await.map(|o| o.map(|(b, e)| (b.to_vec(), e))).map_err(|e| e.to_string())
        })
    }
    fn list(&self, prefix: &str) -> Result<Vec<Listed>, String> {
        let prefix = prefix.to_string();
        self.blocking(move |s| async move {
            // The listing gives names only: sizes are checked when a request is read.
            s.list(&prefix)
                .await
                .map(|names| {
                    names.into_iter().map(|name| Listed { name, size: 0, modified: None }).collect()
                })
                .map_err(|e| e.to_string())
        })
    }
    fn put_if_match(&self, name: &str, bytes: &[u8], etag: &str) -> Result<bool, String> {
        let (name, bytes, etag) =
            (name.to_string(), Bytes::copy_from_slice(bytes), etag.to_string());
        self.blocking(move |s| async move {
            match s.put_if_match(&name, bytes, &etag).await {
                Ok(_) => Ok(true),
                Err(StoreError::ConditionNotMet { .. } | StoreError::NotFound { .. }) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        })
    }
    fn delete_if_match(&self, name: &str, etag: &str) -> Result<Deleted, String> {
        let (name, etag) = (name.to_string(), etag.to_string());
        self.blocking(move |s| async move {
            match s.delete(&name, Some(&etag)).await {
                Ok(()) => Ok(Deleted::Deleted),
                Err(StoreError::NotFound { .. }) => Ok(Deleted::Missing),
                Err(StoreError::ConditionNotMet { .. }) => Ok(Deleted::Changed),
                Err(e) => Err(e.to_string()),
            }
        })
    }
    fn display(&self, name: &str) -> String {
        format!("{}/{name}", self.store_name())
    }
}
