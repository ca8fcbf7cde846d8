//! Leases: `prune` and `create` never overlap on one store.
//!
//! `create` references objects it listed at its start and writes its manifest last; a `prune`
//! in between could delete such an object and leave a snapshot pointing at nothing. So each
//! holds a *lease*: a small JSON object `locks/<kind>-<id>.json` written create-only, naming the
//! holder (user, host, pid), when it was taken and when it expires. Protocol (restic's, over
//! create-only puts, since object_store has no leases):
//!
//! 1. write your own lease, then list `locks/`;
//! 2. a `create` gives up if a live `prune` lease exists; a `prune` gives up if any other live
//!    lease exists (creates are shared among themselves, prune is exclusive). Since both write
//!    before they list, of two that start together at least one sees the other;
//! 3. a lease past its expiry belongs to a process that died (or hung): `prune` breaks it
//!    (deletes it, and says so), `create` ignores it;
//! 4. a holder renews its lease before it gets old (a new lease object, then the old one is
//!    checked to still exist and removed). Before its decisive write (the manifest for `create`,
//!    the first delete for `prune`) it confirms the lease: a lease that was broken meanwhile
//!    stops it with nothing written.
//!
//! Expiry is judged by the clock of the process that reads the lease: hosts sharing a store need
//! clocks within minutes of each other (a lease is renewed [`RENEW_AFTER`] after it was taken and
//! lives [`LEASE_TTL`]). On Azure Blob a real blob lease (server-side, exclusive, with a duration)
//! would not depend on clocks; object_store does not expose it.
//!
//! Immutable (WORM) stores are never pruned and cannot delete lease objects: they take none.

use super::store::Store;
use super::BackupError;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `format` of a lease object.
pub const LEASE_FORMAT: &str = "lifeboat-backup-lease";
/// How long a lease lives unless renewed.
pub const LEASE_TTL: time::Duration = time::Duration::hours(1);
/// A lease is renewed at the first occasion after this age.
pub const RENEW_AFTER: time::Duration = time::Duration::minutes(15);
const LOCKS: &str = "locks";

/// Who holds a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaseKind {
    /// `backup create`: shared with other creates, exclusive of prune.
    Create,
    /// `backup prune`: exclusive.
    Prune,
}

impl LeaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseKind::Create => "create",
            LeaseKind::Prune => "prune",
        }
    }
    /// Whether a live lease of `other` keeps a holder of `self` from working.
    fn conflicts_with(self, other: LeaseKind) -> bool {
        self == LeaseKind::Prune || other == LeaseKind::Prune
    }
}

/// The content of a lease object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub format: String,
    pub kind: LeaseKind,
    pub id: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub acquired: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    pub lifeboat_version: String,
}

impl LeaseRecord {
    fn describe(&self, path: &Path) -> String {
        format!(
            "{} lease `{path}` of {}@{} (pid {}), taken {}, expires {}",
            self.kind.as_str(),
            self.user,
            self.host,
            self.pid,
            rfc3339(self.acquired),
            rfc3339(self.expires)
        )
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn user() -> String {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

fn host() -> String {
    hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "unknown".into())
}

/// Another holder's lease as found in a listing.
struct Found {
    path: Path,
    /// `None` when the object is not a lease lifeboat understands.
    record: Option<LeaseRecord>,
    /// The record's expiry, or for an unreadable object its modification time plus the TTL.
    expires: OffsetDateTime,
}

impl Found {
    fn kind(&self) -> LeaseKind {
        // An unreadable lease is taken for the most exclusive kind.
        self.record.as_ref().map_or(LeaseKind::Prune, |r| r.kind)
    }
    fn describe(&self) -> String {
        match &self.record {
            Some(r) => r.describe(&self.path),
            None => format!("unreadable lease `{}`, expires {}", self.path, rfc3339(self.expires)),
        }
    }
}

/// A lease held by this process. Release it with [`Lease::release`] on every path.
#[derive(Debug)]
pub struct Lease<'a> {
    store: &'a Store,
    path: Path,
    record: LeaseRecord,
    /// Expired leases this holder broke, described.
    broken: Vec<String>,
}

impl Store {
    /// Takes a lease of `kind`, or fails with [`BackupError::Locked`] (exit 4) naming the holder
    /// of the conflicting lease. A `prune` breaks expired leases and lists them in
    /// [`Lease::broken`].
    pub async fn acquire_lease(&self, kind: LeaseKind) -> Result<Lease<'_>, BackupError> {
        let (path, record) = write_lease(self, kind).await?;
        let mut lease = Lease { store: self, path, record, broken: Vec::new() };
        let now = self.now();
        let mut blocking = Vec::new();
        for other in lease.others().await? {
            if !kind.conflicts_with(other.kind()) {
                continue;
            }
            if other.expires > now {
                blocking.push(other);
            } else if kind == LeaseKind::Prune {
                tracing::warn!(lease = %other.path, "breaking an expired lease");
                self.delete(&other.path).await?;
                lease.broken.push(other.describe());
            }
        }
        if let Some(first) = blocking.first() {
            let more = match blocking.len() - 1 {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            let message = format!(
                "backup store `{}` is busy: {}{more}; this {} did nothing",
                self.url(),
                first.describe(),
                kind.as_str()
            );
            let expires = rfc3339(first.expires);
            let _ = self.delete(&lease.path).await;
            return Err(BackupError::Locked {
                message,
                hint: format!(
                    "{} never runs while a {} runs; try again when it is done (the lease of a process that died expires by itself at {expires}, after which `backup prune` breaks it)",
                    if kind == LeaseKind::Prune { "prune" } else { "create" },
                    first.kind().as_str()
                ),
            });
        }
        Ok(lease)
    }
}

async fn write_lease(store: &Store, kind: LeaseKind) -> Result<(Path, LeaseRecord), BackupError> {
    let now = store.now();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let record = LeaseRecord {
        format: LEASE_FORMAT.into(),
        kind,
        id: id.clone(),
        user: user(),
        host: host(),
        pid: std::process::id(),
        acquired: now,
        expires: now + LEASE_TTL,
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
    };
    let path = Path::from(format!("{LOCKS}/{}-{id}.json", kind.as_str()));
    let bytes = serde_json::to_vec(&record)
        .map_err(|e| BackupError::internal(format!("cannot serialize a lease: {e}")))?;
    store.put_create(&path, bytes).await?;
    Ok((path, record))
}

impl Lease<'_> {
    /// Expired leases broken when this one was taken, described (for the command's output).
    pub fn broken(&self) -> &[String] {
        &self.broken
    }

    pub fn record(&self) -> &LeaseRecord {
        &self.record
    }

    /// Every lease in the store but this one.
    async fn others(&self) -> Result<Vec<Found>, BackupError> {
        let mut out = Vec::new();
        for meta in self.store.list(LOCKS).await? {
            if meta.location == self.path {
                continue;
            }
            let record = match self.store.get(&meta.location).await? {
                Some(bytes) => serde_json::from_slice::<LeaseRecord>(&bytes)
                    .ok()
                    .filter(|r| r.format == LEASE_FORMAT),
                // Released between the listing and the read.
                None => continue,
            };
            let modified = OffsetDateTime::from_unix_timestamp(meta.last_modified.timestamp())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let expires = record.as_ref().map_or(modified + LEASE_TTL, |r| r.expires);
            out.push(Found { path: meta.location, record, expires });
        }
        Ok(out)
    }

    /// Renews the lease if it is older than [`RENEW_AFTER`]. Cheap when not due (a clock read).
    pub async fn keep_alive(&mut self) -> Result<(), BackupError> {
        if self.store.now() - self.record.acquired < RENEW_AFTER {
            return Ok(());
        }
        let (path, record) = write_lease(self.store, self.record.kind).await?;
        let old = std::mem::replace(&mut self.path, path);
        self.record = record;
        if self.store.get(&old).await?.is_none() {
            return Err(self.broken_error());
        }
        self.store.delete(&old).await
    }

    /// Renews the lease if due and checks that it still exists: to be called right before the
    /// write that the lease protects. An error when the lease was broken (it expired while this
    /// process was stalled and a prune removed it).
    pub async fn confirm(&mut self) -> Result<(), BackupError> {
        self.keep_alive().await?;
        if self.store.get(&self.path).await?.is_none() {
            return Err(self.broken_error());
        }
        Ok(())
    }

    fn broken_error(&self) -> BackupError {
        BackupError::Locked {
            message: format!(
                "the {} lease of this process on backup store `{}` expired and was broken (by a prune): stopped before writing anything that depends on it",
                self.record.kind.as_str(),
                self.store.url()
            ),
            hint: "run the command again; if it keeps happening, check that the clocks of the hosts sharing the store agree".into(),
        }
    }

    /// Removes the lease.
    pub async fn release(self) -> Result<(), BackupError> {
        self.store.delete(&self.path).await
    }
}
