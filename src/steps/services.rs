//! The shared services Azure step kinds find in [`crate::engine::kind::Services`], and how a run gets them.
//!
//! A step kind asks `ctx.services.get::<T>()` for one of these types; a missing one is a clear
//! step failure ("this step needs an Azure connection"), never a panic. The CLI, the drill and
//! the tests insert what a run needs before driving it:
//! - `Arc<ArmClient>`: the one Azure client (`crate::azure::connect`, once per command).
//! - `Arc<crate::backup::Store>`: the backup store snapshots are read from.
//! - `Arc<RunDir>`: the run's directory, for artifacts a person reads (the drafted support request).
//! - `Arc<LiveDrill>`: present only under `lifeboat drill --live`, whose client refuses every
//!   write to the production connector; the runbook's drill mode (`drill: true`) needs it.
//! - `Arc<dyn Prompter>` wrapped in [`PrompterHandle`]: present only in guided mode, to ask a
//!   person for a secret (the OAuth authorization code) or a confirmation at the terminal.

use futures::future::BoxFuture;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::azure::ArmClient;

/// The directory of the current run (`<state-dir>/runs/<run-id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir(pub PathBuf);

/// The run is a live drill (`lifeboat drill --live`): its Azure client refuses every write to
/// `production` (the connector the drill rehearses losing) or its children, and ledgers every
/// creation for `lifeboat drill --cleanup`. The step kinds' drill mode (`drill: true`, set by the
/// region-outage runbook's `drill` parameter) runs only with it, so `lifeboat run --set
/// drill=true` cannot write a drill's resources without that guard and ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDrill {
    /// The production connector's resource ID.
    pub production: String,
}

/// Asks a person at the terminal. Implemented by guided mode; absent otherwise, in which case
/// steps fall back to files given as inputs, or wait for the person to act in the portal.
pub trait Prompter: Send + Sync {
    /// Asks for a secret with hidden input. `None` when the person declines (pauses the step).
    fn secret(&self, label: String) -> BoxFuture<'static, Option<String>>;
    /// Tells the person something without waiting for an answer.
    fn notice(&self, message: String);
}

/// `Services` is keyed by concrete type, so the trait object travels in this wrapper.
#[derive(Clone)]
pub struct PrompterHandle(pub Arc<dyn Prompter>);

impl std::fmt::Debug for PrompterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrompterHandle")
    }
}
