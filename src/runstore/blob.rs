//! The Blob primitives of the run store, over `azure_storage_blob` (one `azure_core` pipeline:
//! no second HTTP stack). Names are relative to the store's prefix. Every request is one
//! HTTP attempt counted in [`BlobStore::round_trips`] (retries by the pipeline included), so
//! the benchmark can report round trips per journal batch.
//!
//! Methods are async; [`BlobStore::blocking`] runs one on the store's own runtime thread from
//! synchronous code (the journal writer's replica hook), inside or outside another runtime.

use super::credential::{Account, Auth};
use super::{RunStoreUrl, StoreError};
use azure_core::error::ErrorKind;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{ClientOptions, Context, ExponentialRetryOptions, Request, RetryOptions};
use azure_storage_blob::models::{
    AppendBlobClientAppendBlockOptions, AppendBlobClientAppendBlockResultHeaders,
    AppendBlobClientCreateOptions, BlobClientAcquireLeaseOptions, BlobClientBreakLeaseOptions,
    BlobClientDeleteOptions, BlobClientDownloadOptions, BlobClientGetPropertiesResultHeaders,
    BlobClientSetMetadataOptions, BlobClientUploadOptions, BlobContainerClientListBlobsOptions,
    LeaseState,
};
use azure_storage_blob::{BlobClient, BlobContainerClient, BlobContainerClientOptions};
use bytes::Bytes;
use futures::TryStreamExt;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// A blob's ETag, as the service gave it (quotes included).
pub type Etag = String;

/// What [`BlobStore::properties`] tells of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    pub length: u64,
    pub etag: Etag,
    /// The lease is `leased` (held, maybe by a process that stopped renewing) or `breaking`.
    pub leased: bool,
    pub metadata: HashMap<String, String>,
}

/// An opened run store container. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    container: BlobContainerClient,
    container_name: String,
    prefix: String,
    account: String,
    round_trips: Arc<AtomicU64>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").field("store", &self.store_name()).finish_non_exhaustive()
    }
}

/// Counts HTTP attempts (a per-try policy).
#[derive(Debug)]
struct CountAttempts(Arc<AtomicU64>);

#[async_trait::async_trait]
impl Policy for CountAttempts {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        match next.first() {
            Some(p) => p.send(ctx, request, &next[1..]).await,
            None => Err(azure_core::Error::with_message(ErrorKind::Other, "no transport policy")),
        }
    }
}

/// Drops the query of every URL in a message (a SAS is a secret; transport errors name URLs).
pub fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let end =
            tail.find(|c: char| c.is_whitespace() || c == ')' || c == '"').unwrap_or(tail.len());
        let url = &tail[..end];
        out.push_str(url.split('?').next().unwrap_or(url));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lifeboat-runstore")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the run store's runtime: {e}"))
    })
}

impl BlobStore {
    /// Opens `az://container/prefix` with the account of the environment (no request yet).
    /// `now` dates the account SAS signed from a key (valid 30 days).
    pub fn open(
        url: &RunStoreUrl,
        env: &dyn Fn(&str) -> Option<String>,
        now: OffsetDateTime,
    ) -> Result<BlobStore, StoreError> {
        let RunStoreUrl::Azure { container, prefix } = url else {
            return Err(StoreError::Transport {
                name: url.to_string(),
                message: "not an az:// run store".into(),
            });
        };
        let account = Account::from_env(env, &url.to_string(), now)?;
        Self::with_account(account, container, prefix)
    }

    /// Opens a container of `account`.
    pub fn with_account(
        account: Account,
        container: &str,
        prefix: &str,
    ) -> Result<BlobStore, StoreError> {
        let store = format!("az://{container}/{prefix}");
        let round_trips = Arc::new(AtomicU64::new(0));
        let transport_target = account.endpoint.clone();
        let client = crate::azure::http::client_builder(&transport_target)
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| StoreError::Transport {
                name: store.clone(),
                message: scrub(&e.to_string()),
            })?;
        let client_options = ClientOptions {
            per_try_policies: vec![Arc::new(CountAttempts(round_trips.clone()))],
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(100),
                max_retries: 6,
                max_total_elapsed: azure_core::time::Duration::seconds(30),
                max_delay: azure_core::time::Duration::seconds(4),
            }),
            transport: Some(azure_core::http::Transport::new(Arc::new(client))),
            ..Default::default()
        };
        let options = BlobContainerClientOptions { client_options, ..Default::default() };
        let token = match &account.auth {
            Auth::Token(t) => Some(t.clone()),
            Auth::Sas(_) => None,
        };
        let container_client =
            BlobContainerClient::new(account.container_url(container), token, Some(options))
                .map_err(|e| StoreError::NoCredential {
                    store: store.clone(),
                    detail: scrub(&e.to_string()),
                })?;
        Ok(BlobStore {
            inner: Arc::new(Inner {
                container: container_client,
                container_name: container.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
                account: account.name,
                round_trips,
            }),
        })
    }

    /// `az://container/prefix`, for messages.
    pub fn store_name(&self) -> String {
        if self.inner.prefix.is_empty() {
            format!("az://{}", self.inner.container_name)
        } else {
            format!("az://{}/{}", self.inner.container_name, self.inner.prefix)
        }
    }

    pub fn account(&self) -> &str {
        &self.inner.account
    }

    pub fn container(&self) -> &str {
        &self.inner.container_name
    }

    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// HTTP attempts made so far by this store (and its clones).
    pub fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    fn full(&self, name: &str) -> String {
        if self.inner.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.inner.prefix)
        }
    }

    fn blob(&self, name: &str) -> BlobClient {
        // One path segment: the service reads `%2F` as `/` in a blob name.
        self.inner.container.blob_client(&self.full(name))
    }

    fn map(&self, name: &str, e: azure_core::Error) -> StoreError {
        let name = name.to_string();
        let (status, code) = match e.kind() {
            ErrorKind::HttpResponse { status, error_code, .. } => {
                (u16::from(*status), error_code.clone().unwrap_or_default())
            }
            _ => return StoreError::Transport { name, message: scrub(&e.to_string()) },
        };
        match code.as_str() {
            "ContainerNotFound" => StoreError::ContainerNotFound {
                account: self.inner.account.clone(),
                container: self.inner.container_name.clone(),
            },
            "BlobNotFound" => StoreError::NotFound { name },
            "BlobAlreadyExists" => StoreError::AlreadyExists { name },
            "ConditionNotMet" => StoreError::ConditionNotMet { name },
            "AppendPositionConditionNotMet" => StoreError::AppendPosition { name },
            "LeaseAlreadyPresent" => StoreError::LeaseHeld { name },
            "BlockCountExceedsLimit" => StoreError::BlockLimit { name },
            c if c.starts_with("Lease") => StoreError::LeaseLost { name, code },
            "AuthenticationFailed" | "AuthorizationFailure" | "AuthorizationPermissionMismatch" => {
                StoreError::Denied { store: self.store_name(), status, code: format!(" {code}") }
            }
            _ if status == 401 || status == 403 => {
                StoreError::Denied { store: self.store_name(), status, code: String::new() }
            }
            "" => StoreError::Service { name, status, code },
            _ => StoreError::Service { name, status, code: format!(" {code}") },
        }
    }

    /// Checks that the container exists and the credential may read it: a missing container
    /// is exit 2 naming it and how to create it.
    pub async fn check_container(&self) -> Result<(), StoreError> {
        match self.inner.container.get_properties(None).await {
            Ok(_) => Ok(()),
            Err(e) => match self.map(&self.store_name(), e) {
                StoreError::Service { status: 404, .. } | StoreError::NotFound { .. } => {
                    Err(StoreError::ContainerNotFound {
                        account: self.inner.account.clone(),
                        container: self.inner.container_name.clone(),
                    })
                }
                other => Err(other),
            },
        }
    }

    /// Creates the container (tests and set-up tools; lifeboat's commands never create one).
    pub async fn create_container(&self) -> Result<(), StoreError> {
        self.inner
            .container
            .create(None)
            .await
            .map(|_| ())
            .map_err(|e| self.map(&self.store_name(), e))
    }

    /// Creates `name` with `bytes` only if it does not exist (`If-None-Match: *`):
    /// [`StoreError::AlreadyExists`] otherwise.
    pub async fn put_new(&self, name: &str, bytes: Bytes) -> Result<Etag, StoreError> {
        let opts =
            BlobClientUploadOptions { if_none_match: Some("*".into()), ..Default::default() };
        match self.blob(name).upload(bytes.into(), Some(opts)).await {
            Ok(r) => Ok(r.etag.map(|e| e.to_string()).unwrap_or_default()),
            Err(e) => match self.map(name, e) {
                StoreError::ConditionNotMet { name } => Err(StoreError::AlreadyExists { name }),
                other => Err(other),
            },
        }
    }

    /// Replaces `name` only if its ETag is still `etag`: [`StoreError::ConditionNotMet`] otherwise.
    pub async fn put_if_match(
        &self,
        name: &str,
        bytes: Bytes,
        etag: &str,
    ) -> Result<Etag, StoreError> {
        let opts = BlobClientUploadOptions {
            if_match: Some(etag.to_string().into()),
            ..Default::default()
        };
        match self.blob(name).upload(bytes.into(), Some(opts)).await {
            Ok(r) => Ok(r.etag.map(|e| e.to_string()).unwrap_or_default()),
            Err(e) => match self.map(name, e) {
                StoreError::NotFound { name } => Err(StoreError::ConditionNotMet { name }),
                other => Err(other),
            },
        }
    }

    /// The whole blob and its ETag; `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<(Bytes, Etag)>, StoreError> {
        let opts =
            BlobClientDownloadOptions { parallel: std::num::NonZero::new(1), ..Default::default() };
        match self.blob(name).download(Some(opts)).await {
            Ok(r) => {
                let etag = r.properties.etag.as_ref().map(|e| e.to_string()).unwrap_or_default();
                let body = r.body.collect().await.map_err(|e| self.map(name, e))?;
                Ok(Some((body, etag)))
            }
            Err(e) => match self.map(name, e) {
                StoreError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The blob's bytes from `offset` to its end (empty when `offset` is its length); `None`
    /// when it does not exist.
    pub async fn get_range(&self, name: &str, offset: u64) -> Result<Option<Bytes>, StoreError> {
        let opts = BlobClientDownloadOptions {
            parallel: std::num::NonZero::new(1),
            range: Some((offset..).into()),
            ..Default::default()
        };
        match self.blob(name).download(Some(opts)).await {
            Ok(r) => Ok(Some(r.body.collect().await.map_err(|e| self.map(name, e))?)),
            Err(e) => match self.map(name, e) {
                StoreError::NotFound { .. } => Ok(None),
                StoreError::Service { status: 416, .. } => Ok(Some(Bytes::new())),
                other => Err(other),
            },
        }
    }

    /// Length, ETag, lease state and metadata; `None` when the blob does not exist.
    pub async fn properties(&self, name: &str) -> Result<Option<LeaseInfo>, StoreError> {
        match self.blob(name).get_properties(None).await {
            Ok(r) => {
                let bad = |e: azure_core::Error| self.map(name, e);
                Ok(Some(LeaseInfo {
                    length: r.content_length().map_err(bad)?.unwrap_or(0),
                    etag: r.etag().map_err(bad)?.map(|e| e.to_string()).unwrap_or_default(),
                    leased: matches!(
                        r.lease_state().map_err(bad)?,
                        Some(LeaseState::Leased) | Some(LeaseState::Breaking)
                    ),
                    metadata: r.metadata().map_err(bad)?,
                }))
            }
            Err(e) => match self.map(name, e) {
                StoreError::NotFound { .. } | StoreError::Service { status: 404, .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The names (relative to the store's prefix) of the blobs under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let full = self.full(prefix);
        let opts = BlobContainerClientListBlobsOptions {
            prefix: Some(full.clone()),
            ..Default::default()
        };
        let mut pager =
            self.inner.container.list_blobs(Some(opts)).map_err(|e| self.map(prefix, e))?;
        let strip = if self.inner.prefix.is_empty() { 0 } else { self.inner.prefix.len() + 1 };
        let mut names = Vec::new();
        while let Some(item) = pager.try_next().await.map_err(|e| self.map(prefix, e))? {
            if let Some(n) = item.name {
                if n.len() >= strip {
                    names.push(n[strip..].to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Deletes `name`, only if its ETag is still `if_match` when given.
    pub async fn delete(&self, name: &str, if_match: Option<&str>) -> Result<(), StoreError> {
        let opts = BlobClientDeleteOptions {
            if_match: if_match.map(|e| e.to_string().into()),
            ..Default::default()
        };
        self.blob(name).delete(Some(opts)).await.map(|_| ()).map_err(|e| self.map(name, e))
    }

    /// Creates an empty append blob `name` with `metadata`, only if it does not exist.
    pub async fn create_append(
        &self,
        name: &str,
        metadata: HashMap<String, String>,
    ) -> Result<(), StoreError> {
        let opts = AppendBlobClientCreateOptions { metadata: Some(metadata), ..Default::default() }
            .if_not_exists();
        match self.blob(name).append_blob_client().create(Some(opts)).await {
            Ok(_) => Ok(()),
            Err(e) => match self.map(name, e) {
                StoreError::ConditionNotMet { name } => Err(StoreError::AlreadyExists { name }),
                other => Err(other),
            },
        }
    }

    /// Appends `bytes` as ONE block at `appendpos` (`x-ms-blob-condition-appendpos`), under
    /// `lease` when given (`x-ms-lease-id`). Returns the blob's length after it.
    pub async fn append(
        &self,
        name: &str,
        bytes: Bytes,
        appendpos: u64,
        lease: Option<&str>,
    ) -> Result<u64, StoreError> {
        let len = bytes.len() as u64;
        let opts = AppendBlobClientAppendBlockOptions {
            append_position: Some(i64::try_from(appendpos).unwrap_or(i64::MAX)),
            lease_id: lease.map(str::to_string),
            ..Default::default()
        };
        let r = self
            .blob(name)
            .append_blob_client()
            .append_block(bytes.into(), len, Some(opts))
            .await
            .map_err(|e| self.map(name, e))?;
        let offset = r
            .blob_append_offset()
            .ok()
            .flatten()
            .and_then(|o| o.parse::<u64>().ok())
            .unwrap_or(appendpos);
        Ok(offset + len)
    }

    /// Acquires a lease of `seconds` (15-60, or -1 for infinite) with the id `proposed`.
    pub async fn acquire_lease(
        &self,
        name: &str,
        seconds: i32,
        proposed: &str,
    ) -> Result<String, StoreError> {
        let opts = BlobClientAcquireLeaseOptions {
            proposed_lease_id: Some(proposed.to_string()),
            ..Default::default()
        };
        self.blob(name)
            .acquire_lease(seconds, Some(opts))
            .await
            .map(|_| proposed.to_string())
            .map_err(|e| self.map(name, e))
    }

    pub async fn renew_lease(&self, name: &str, lease: &str) -> Result<(), StoreError> {
        self.blob(name)
            .renew_lease(lease.to_string(), None)
            .await
            .map(|_| ())
            .map_err(|e| self.map(name, e))
    }

    pub async fn release_lease(&self, name: &str, lease: &str) -> Result<(), StoreError> {
        self.blob(name)
            .release_lease(lease.to_string(), None)
            .await
            .map(|_| ())
            .map_err(|e| self.map(name, e))
    }

    /// Breaks the lease now (break period 0): the next acquire succeeds.
    pub async fn break_lease(&self, name: &str) -> Result<(), StoreError> {
        let opts = BlobClientBreakLeaseOptions { break_period: Some(0), ..Default::default() };
        self.blob(name).break_lease(Some(opts)).await.map(|_| ()).map_err(|e| self.map(name, e))
    }

    /// Replaces the blob's metadata (under `lease` when it is leased).
    pub async fn set_metadata(
        &self,
        name: &str,
        metadata: &HashMap<String, String>,
        lease: Option<&str>,
    ) -> Result<(), StoreError> {
        let opts = BlobClientSetMetadataOptions {
            lease_id: lease.map(str::to_string),
            ..Default::default()
        };
        self.blob(name)
            .set_metadata(metadata, Some(opts))
            .await
            .map(|_| ())
            .map_err(|e| self.map(name, e))
    }

    /// Runs `f(store)` on the run store's own runtime and waits for it: synchronous code (the
    /// journal writer's replica, the lease renewer) calls the async primitives this way, from
    /// inside another runtime or not.
    pub fn blocking<T, F, Fut>(&self, f: F) -> T
    where
        F: FnOnce(BlobStore) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let fut = f(self.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime().spawn(async move {
            let _ = tx.send(fut.await);
        });
        match rx.recv() {
            Ok(v) => v,
            Err(_) => panic!("the run store's runtime dropped a request"),
        }
    }
}
