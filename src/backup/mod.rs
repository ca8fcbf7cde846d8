//! Backups of connector configuration: content-addressed, incremental, encrypted snapshots in a
//! store where nothing is ever overwritten. Knows nothing of the engine.
//!
//! - [`Store`] (`store.rs`): an `object_store` (local directory or Azure Blob) where every write
//!   is a create-only conditional put. Layout: `config`, `objects/ab/<sha256>`,
//!   `snapshots/<YYYYMMDDTHHMMSSZ>-<id>.json`.
//! - [`create`] (`snapshot.rs`): consumes a stream of [`Captured`] resources, writes the objects
//!   the store lacks, then the [`Manifest`] last: a failed run leaves no manifest.
//! - [`collect`] (`collect.rs`): walks a [`ConfigReader`] (the ARM client, or a fake) and streams
//!   what it reads into [`create`].
//! - `ops.rs`: verify, diff, prune, the tree of `show`, and anomaly detection.
//! - `canonical.rs`: canonical JSON, content hashes, volatile fields, secret scrubbing.
//! - `crypto.rs`: age recipients and identities; `keygen` (a new identity file, mode 0600).
//! - `health.rs`: the checks of `backup check` (integrity, freshness of the newest verified
//!   snapshot, connectors in Azure missing from it, encryption), read-only.
//! - `auth.rs`: Ed25519 signatures of manifests (authenticated snapshots).
//! - `lease.rs`: the leases that keep `prune` and `create` from overlapping.
//! - [`arm_reader::ArmReader`] (`arm_reader.rs`): the [`ConfigReader`] over [`crate::azure::ArmClient`]
//!   (raw JSON bodies through the generic pager; connectors found per subscription or through
//!   Resource Graph).
//!
//! Every stored file (config, object, manifest) is a *sealed* document: the JSON
//! `{"content":…,"sha256":"<sha256 of the content's exact bytes>"}`, age-encrypted for objects
//! and manifests of an encrypted store. Reading re-checks the seal, so any byte change is
//! detected, even inside fields the content address ignores (volatile fields). Object content is
//! canonical JSON (sorted keys, no whitespace) and is re-hashed to its address on read.

//!
//! ## Decisions
//!
//! - **Volatile fields** ([`canonical::VOLATILE_FIELDS`]): `etag`, `systemData.lastModifiedAt`,
//!   `systemData.lastModifiedBy`, `systemData.lastModifiedByType` and
//!   `properties.provisioningStatusUpdateTimeUtc` are left out of the content address, because
//!   ARM changes them without any configuration change. They stay in the stored body; when two
//!   captures differ only there, the first one stored is kept. `provisioningState` and
//!   `provisioningStatusMessage` *are* hashed: a connector that turned `Failed` is news.
//! - **Secrets**: `properties.authorization` (the OAuth code, `x-ms-secret`) is removed before
//!   hashing; the manifest lists where one was found (`secrets_removed`) and which connectors
//!   will need a person to authorize again (`needs_reauthorization`: all DevOps connectors).
//! - **Content address of encrypted objects**: the SHA-256 of the plaintext canonical JSON, as
//!   the issue specifies, so deduplication works and a writer needs only public keys. The leak:
//!   someone who can list the store and can guess a *whole* resource body byte for byte (GUIDs,
//!   URLs and settings included) can confirm that guess, and can see how many objects changed
//!   between snapshots and their sizes. Resource IDs, names and settings themselves are only in
//!   encrypted files. A restic-style keyed HMAC would close the confirmation attack but forces
//!   every writer to hold a secret key, which defeats write-only pipelines; we chose the latter.
//! - **Identities** (`--identity-file` / `LIFEBOAT_BACKUP_IDENTITY`): a path to an age identity
//!   file, or the `AGE-SECRET-KEY-1…` key itself (recognized by that prefix). The store config
//!   records the recipients' public keys, so a wrong identity (exit 2) is told apart from a
//!   damaged file (exit 1).
//! - **Prune and concurrent backups** (`lease.rs`): `create` holds a shared lease and `prune`
//!   an exclusive one (create-only lease objects under `locks/`, with an expiry), so a prune
//!   never deletes an object a running backup is about to reference; expired leases are broken
//!   by prune, with a message. Prune also still spares unreferenced objects younger than
//!   [`ops::PRUNE_GRACE`] (1 h).
//! - **Damaged objects** are not reused: `create` re-reads and re-hashes every existing object it
//!   references (cheap next to the ARM calls: measured in `tests/it/backup/scale.rs`), and writes a
//!   fresh copy at `objects/ab/<hash>.repair-<n>` when every copy is damaged; readers take the
//!   first copy that verifies. A writer of an encrypted store without an identity cannot read
//!   objects, so it cannot re-check them: it says how many it reused unchecked.
//! - **Authentication** (`auth.rs`): a bare SHA-256 seal stops accidents, not forgers. Snapshots
//!   are signed with the writer's Ed25519 key; a store created with one refuses unsigned or
//!   wrongly signed snapshots, and readers may pin the public key from outside the store.
//! - **Anomalies** need the previous manifest: on an encrypted store without an identity the
//!   check is skipped and the manifest says so (`anomaly_check_skipped`).

pub mod arm_reader;
pub mod auth;
pub mod canonical;
pub mod collect;
pub mod crypto;
pub mod health;
pub mod lease;
pub mod ops;
pub mod snapshot;
pub mod store;

pub use auth::{Authenticity, Pin, SigningKey, VerifyKey};
pub use collect::{collect, ConfigReader, ReaderError};
pub use crypto::{Identities, Recipients};
pub use lease::LeaseKind;
pub use ops::{diff, prune, verify, Anomaly, AnomalyRules, Diff, PrunePolicy, VerifyReport};
pub use snapshot::{create, CreateOptions, Entry, Manifest, Scope, SnapshotInfo, SnapshotSummary};
pub use store::{Keys, Store, StoreConfig};

use crate::error::{Exit, UserError};
use serde::{Deserialize, Serialize};

/// One resource as read from ARM, exactly as the API returned it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub resource_id: String,
    pub kind: ResourceKind,
    /// The ARM api-version the body was read with (the manifest entry's `apiVersion`).
    pub api_version: String,
    pub body: serde_json::Value,
}

/// What a captured resource is. The names (`azure-devops-repo`, `github-owner`, ...) are part of
/// the store format: manifests record them, so never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    #[serde(rename = "connector")]
    Connector,
    #[serde(rename = "devops-configuration")]
    DevOpsConfiguration,
    #[serde(rename = "azure-devops-org")]
    AzureDevOpsOrg,
    #[serde(rename = "azure-devops-project")]
    AzureDevOpsProject,
    #[serde(rename = "azure-devops-repo")]
    AzureDevOpsRepo,
    #[serde(rename = "github-owner")]
    GitHubOwner,
    #[serde(rename = "github-repo")]
    GitHubRepo,
    #[serde(rename = "gitlab-group")]
    GitLabGroup,
    #[serde(rename = "gitlab-project")]
    GitLabProject,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 9] = [
        ResourceKind::Connector,
        ResourceKind::DevOpsConfiguration,
        ResourceKind::AzureDevOpsOrg,
        ResourceKind::AzureDevOpsProject,
        ResourceKind::AzureDevOpsRepo,
        ResourceKind::GitHubOwner,
        ResourceKind::GitHubRepo,
        ResourceKind::GitLabGroup,
        ResourceKind::GitLabProject,
    ];

    /// The kebab-case name used in manifests and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Connector => "connector",
            ResourceKind::DevOpsConfiguration => "devops-configuration",
            ResourceKind::AzureDevOpsOrg => "azure-devops-org",
            ResourceKind::AzureDevOpsProject => "azure-devops-project",
            ResourceKind::AzureDevOpsRepo => "azure-devops-repo",
            ResourceKind::GitHubOwner => "github-owner",
            ResourceKind::GitHubRepo => "github-repo",
            ResourceKind::GitLabGroup => "gitlab-group",
            ResourceKind::GitLabProject => "gitlab-project",
        }
    }

    /// Repositories and projects whose annotation/onboarding state the anomaly rules watch.
    pub fn is_repo(self) -> bool {
        matches!(
            self,
            ResourceKind::AzureDevOpsRepo | ResourceKind::GitHubRepo | ResourceKind::GitLabProject
        )
    }
}

/// Errors of the backup module. Each maps to one exit code at the CLI edge.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Bad input or a store that does not fit the request: nothing was written (exit 2).
    #[error("{message}")]
    Usage { message: String, hint: Option<String> },
    /// Data in the store is missing, changed or unreadable (exit 1).
    #[error("{message}")]
    Integrity { message: String },
    /// Another process holds a conflicting lease on the store (exit 4); nothing was done.
    #[error("{message}")]
    Locked { message: String, hint: String },
    /// The store could not be reached or written (exit 1).
    #[error("{message}")]
    Storage {
        message: String,
        #[source]
        source: object_store::Error,
    },
    /// The source of captured resources failed (exit 1); no manifest was written.
    #[error("reading the configuration failed: {message}")]
    Source {
        message: String,
        /// The Azure failure itself, when there was one: the CLI maps it to its exit code.
        azure: Option<Box<crate::azure::AzureError>>,
    },
    /// A bug or an environment failure (exit 1).
    #[error("{0}")]
    Internal(String),
}

impl BackupError {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        BackupError::Usage { message: message.into(), hint: Some(hint.into()) }
    }
    pub fn integrity(message: impl Into<String>) -> Self {
        BackupError::Integrity { message: message.into() }
    }
    pub fn storage(message: impl Into<String>, source: object_store::Error) -> Self {
        BackupError::Storage { message: message.into(), source }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        BackupError::Internal(message.into())
    }
    pub fn exit(&self) -> Exit {
        match self {
            BackupError::Usage { .. } => Exit::Usage,
            BackupError::Locked { .. } => Exit::Locked,
            _ => Exit::Failed,
        }
    }
}

impl From<String> for BackupError {
    /// A source's plain error (test sources and fakes).
    fn from(message: String) -> Self {
        BackupError::Source { message, azure: None }
    }
}

impl From<BackupError> for UserError {
    fn from(e: BackupError) -> Self {
        let exit = e.exit();
        match e {
            BackupError::Usage { message, hint } => {
                let u = UserError::new(exit, message);
                match hint {
                    Some(h) => u.with_hint(h),
                    None => u,
                }
            }
            BackupError::Locked { message, hint } => UserError::new(exit, message).with_hint(hint),
            BackupError::Storage { message, source } => {
                UserError::new(exit, message).with_source(source)
            }
            BackupError::Source { azure: Some(azure), .. } => crate::azure::user_error(*azure),
            other => UserError::new(exit, other.to_string()),
        }
    }
}

#[cfg(test)]
mod kind_names {
    use super::ResourceKind;

    /// `as_str` is what the CLI prints and serde what manifests store: they must agree.
    #[test]
    fn serde_names_equal_display_names() {
        for kind in ResourceKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::Value::String(kind.as_str().to_string()));
        }
    }
}
