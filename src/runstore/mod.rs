//! Where a run's state lives: the local state directory (today's behaviour) or an Azure Blob
//! container (`az://container[/prefix]`), so a run outlives the machine that started it.
//!
//! - [`RunStoreUrl`]: what `--run-store`, `LIFEBOAT_RUN_STORE` or the config file's
//!   `[run-store] url` named (precedence in that order; else the local state directory).
//! - [`blob::BlobStore`]: the Blob primitives over `azure_storage_blob` (create-only puts,
//!   compare-and-swap, ranged reads, listings, append blobs with `appendpos`, leases). Every
//!   error is a [`StoreError`] whose [`StoreError::exit`] is the CLI's exit code.
//! - Credentials as the backup store's `az://`: `AZURE_STORAGE_ACCOUNT_NAME`, then
//!   `AZURE_STORAGE_ACCOUNT_KEY` (signed into a short account SAS, never sent), or
//!   `AZURE_STORAGE_SAS_KEY`, or Entra ID through `azure_identity`; `AZURE_STORAGE_ENDPOINT`;
//!   `AZURE_STORAGE_USE_EMULATOR=true` for Azurite (its well-known development account).
//!
//! Layout under `<prefix>/`: `runs/<run-id>/journal.jsonl` (an append blob: the record),
//! `runs/<run-id>/inbox/…`, `runs/<run-id>/support/…`, `runs/<run-id>/reports/…`.
//! Secrets (a key, a SAS) never appear in a message: URLs are shown without their query.

pub mod blob;
pub mod credential;
pub mod remote;
// Lane remote: the inbox and the artefacts beside the journal, and the blocking blob view
// they share.
pub mod artefacts;
pub mod inbox;
mod sync_blobs;

use crate::error::{Exit, UserError};
use std::fmt;
use std::path::PathBuf;

pub use blob::{BlobStore, Etag, LeaseInfo};

/// The environment variable naming the run store (below `--run-store`, above the config file).
pub const ENV: &str = "LIFEBOAT_RUN_STORE";

/// Where runs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStoreUrl {
    /// A local directory: `<dir>/runs/<run-id>/` (today's layout).
    Local(PathBuf),
    /// `az://container[/prefix]`.
    Azure { container: String, prefix: String },
}

impl fmt::Display for RunStoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunStoreUrl::Local(p) => write!(f, "{}", p.display()),
            RunStoreUrl::Azure { container, prefix } if prefix.is_empty() => {
                write!(f, "az://{container}")
            }
            RunStoreUrl::Azure { container, prefix } => write!(f, "az://{container}/{prefix}"),
        }
    }
}

/// Where the value came from (said in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    ConfigFile,
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Flag => "--run-store",
            Origin::Env => ENV,
            Origin::ConfigFile => "the config file's [run-store] url",
            Origin::Default => "the default",
        })
    }
}

impl RunStoreUrl {
    /// Parses a run store: a directory path (or `file://` URL) or `az://container[/prefix]`.
    /// A bad container name or scheme is bad input (exit 2) saying how to write it.
    pub fn parse(text: &str, origin: Origin) -> Result<RunStoreUrl, UserError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UserError::usage(format!("the run store from {origin} is empty"))
                .with_hint("pass a directory or az://CONTAINER[/PREFIX]"));
        }
        if let Some(rest) = text.strip_prefix("az://") {
            let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            check_container_name(container).map_err(|why| {
                UserError::usage(format!(
                    "run store `az://{container}` from {origin}: container name `{container}` {why}"
                ))
                .with_hint(
                    "an Azure container name has 3-63 characters: lowercase letters, digits and \
                     single hyphens, starting and ending with a letter or digit; write \
                     az://CONTAINER or az://CONTAINER/PREFIX",
                )
            })?;
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
                return Err(UserError::usage(format!(
                    "run store `{text}` from {origin}: the prefix `{prefix}` has an empty, `.` or `..` segment"
                ))
                .with_hint("write the prefix as plain names separated by single slashes"));
            }
            if prefix.contains(['?', '#', '\\']) {
                return Err(UserError::usage(format!(
                    "run store from {origin}: the prefix may not contain `?`, `#` or `\\`"
                ))
                .with_hint("credentials (a SAS) go in AZURE_STORAGE_SAS_KEY, never in the URL"));
            }
            return Ok(RunStoreUrl::Azure {
                container: container.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if let Some(dir) = text.strip_prefix("file://") {
            return Ok(RunStoreUrl::Local(PathBuf::from(dir)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(UserError::usage(format!(
                "run store from {origin} has the unsupported scheme `{scheme}://`"
            ))
            .with_hint("use a directory path or az://CONTAINER[/PREFIX]"));
        }
        Ok(RunStoreUrl::Local(PathBuf::from(text)))
    }

    /// Resolves the run store: `flag` > `LIFEBOAT_RUN_STORE` (`env`) > the config file's entry >
    /// `None` (the local state directory, today's behaviour).
    pub fn resolve(
        flag: Option<&str>,
        env: Option<&str>,
        file: Option<&str>,
    ) -> Result<Option<(RunStoreUrl, Origin)>, UserError> {
        for (value, origin) in
            [(flag, Origin::Flag), (env, Origin::Env), (file, Origin::ConfigFile)]
        {
            if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
                return Ok(Some((RunStoreUrl::parse(v, origin)?, origin)));
            }
        }
        Ok(None)
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, RunStoreUrl::Azure { .. })
    }
}

/// Azure's rules for a container name: 3-63 characters, lowercase letters, digits and hyphens,
/// starting with a letter or digit, no two hyphens in a row, not ending with a hyphen.
pub fn check_container_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() < 3 || name.len() > 63 {
        return Err("must have 3 to 63 characters");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err("may contain only lowercase letters, digits and hyphens");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must start and end with a letter or digit");
    }
    if name.contains("--") {
        return Err("may not contain two hyphens in a row");
    }
    Ok(())
}

/// What went wrong talking to the run store. Messages never carry a key or SAS.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("run store container `{container}` does not exist in storage account `{account}`")]
    ContainerNotFound { account: String, container: String },
    #[error("run store `{store}` has no usable credential: {detail}")]
    NoCredential { store: String, detail: String },
    #[error("run store `{store}` refused access ({status}{code})")]
    Denied { store: String, status: u16, code: String },
    #[error("blob `{name}` already exists")]
    AlreadyExists { name: String },
    #[error("blob `{name}` does not exist")]
    NotFound { name: String },
    #[error("blob `{name}` changed since it was read (its ETag no longer matches)")]
    ConditionNotMet { name: String },
    #[error("blob `{name}` is not at the expected append position")]
    AppendPosition { name: String },
    #[error("blob `{name}` is leased by someone else or the lease was lost ({code})")]
    LeaseLost { name: String, code: String },
    #[error("blob `{name}` is already leased")]
    LeaseHeld { name: String },
    #[error("blob `{name}` reached the append blob limit of 50,000 blocks")]
    BlockLimit { name: String },
    #[error("run store request for `{name}` failed: HTTP {status}{code}")]
    Service { name: String, status: u16, code: String },
    #[error("run store request for `{name}` failed: {message}")]
    Transport { name: String, message: String },
}

impl StoreError {
    /// The exit code a command ends with on this error.
    pub fn exit(&self) -> Exit {
        match self {
            StoreError::ContainerNotFound { .. } | StoreError::NoCredential { .. } => Exit::Usage,
            StoreError::Denied { .. } => Exit::Auth,
            StoreError::LeaseLost { .. } | StoreError::LeaseHeld { .. } => Exit::Locked,
            _ => Exit::Failed,
        }
    }

    /// How to fix it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::ContainerNotFound { account, container } => Some(format!(
                "create it: az storage container create --account-name {account} --name {container} --auth-mode login"
            )),
            StoreError::NoCredential { .. } => Some(credential::CREDENTIAL_HINT.to_string()),
            StoreError::Denied { .. } => Some(
                "the identity needs the Storage Blob Data Contributor role on the container, or \
                 check AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_SAS_KEY"
                    .to_string(),
            ),
            _ => None,
        }
    }

    /// Whether retrying the same request may succeed (the outcome was unknown).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Transport { .. } => true,
            StoreError::Service { status, .. } => {
                *status == 408 || *status >= 500 || *status == 429
            }
            _ => false,
        }
    }
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> UserError {
        let hint = e.hint();
        let mut u = UserError::new(e.exit(), e.to_string());
        if let Some(h) = hint {
            u = u.with_hint(h);
        }
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_follow_azure_rules() {
        for ok in ["abc", "lifeboat-runs", "a1-b2", &"a".repeat(63)] {
            assert!(check_container_name(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Abc", "a--b", "-ab", "ab-", "a_b", &"a".repeat(64), ""] {
            assert!(check_container_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_and_precedence() {
        let u = RunStoreUrl::parse("az://runs/team/a", Origin::Flag).unwrap();
        assert_eq!(u, RunStoreUrl::Azure { container: "runs".into(), prefix: "team/a".into() });
        assert_eq!(u.to_string(), "az://runs/team/a");
        assert_eq!(
            RunStoreUrl::parse("/x/y", Origin::Flag).unwrap(),
            RunStoreUrl::Local("/x/y".into())
        );
        let e = RunStoreUrl::parse("az://Runs", Origin::Env).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("LIFEBOAT_RUN_STORE"), "{}", e.message);
        assert!(RunStoreUrl::parse("s3://bucket", Origin::Flag).is_err());
        assert!(RunStoreUrl::parse("az://runs/a?sig=x", Origin::Flag).is_err());
        let (u, o) = RunStoreUrl::resolve(None, Some("az://env-runs"), Some("az://file-runs"))
            .unwrap()
            .unwrap();
        assert_eq!((u.to_string().as_str(), o), ("az://env-runs", Origin::Env));
        let (u, o) = RunStoreUrl::resolve(Some("az://flag-runs"), Some("az://env-runs"), None)
            .unwrap()
            .unwrap();
        assert_eq!((u.to_string().as_str(), o), ("az://flag-runs", Origin::Flag));
        let (_, o) = RunStoreUrl::resolve(None, None, Some("az://file-runs")).unwrap().unwrap();
        assert_eq!(o, Origin::ConfigFile);
        assert!(RunStoreUrl::resolve(None, None, None).unwrap().is_none());
    }
}
