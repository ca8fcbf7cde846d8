//! The user-facing error type and the documented exit codes.
//!
//! Modules raise their own `thiserror` enums; at the CLI edge every failure becomes a
//! [`UserError`], which carries the [`Exit`] code the process ends with. Messages follow one
//! grammar: lowercase, subject first, no trailing period, an optional hint in parentheses.

use std::fmt;

/// Process exit codes (design.md section 5). Scripts and pipelines rely on these: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// A run, drill or verification failed.
    Failed = 1,
    /// Bad usage or bad input; nothing was done.
    Usage = 2,
    /// The run is paused: waiting for a gate or an external condition (`lifeboat resume` later).
    Paused = 3,
    /// The run is locked by another process.
    Locked = 4,
    /// Authentication failed.
    Auth = 5,
    /// `approve`/`attest`/`skip` queued a request in the inbox of a run another process drives,
    /// and that process did not record it within `--wait`: the request stays queued.
    Queued = 6,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error shown to a person, with the exit code it ends the process with.
#[derive(Debug)]
pub struct UserError {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
    pub source: Option<anyhow::Error>,
}

impl UserError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        UserError { exit, message: message.into(), hint: None, source: None }
    }
    /// Bad usage or bad input (exit 2): nothing was done.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }
    /// A run, drill or verification failed (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failed, message)
    }
    pub fn locked(message: impl Into<String>) -> Self {
        Self::new(Exit::Locked, message)
    }
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(Exit::Auth, message)
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for UserError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

/// The exit code for any error that reaches the CLI edge: a [`UserError`] anywhere in the chain
/// decides; anything else is a failure (1).
pub fn exit_for(err: &anyhow::Error) -> Exit {
    err.chain().find_map(|e| e.downcast_ref::<UserError>()).map(|u| u.exit).unwrap_or(Exit::Failed)
}

/// Renders an error for a terminal: `error: message (hint)` then a `Caused by:` chain.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = format!("error: {err}");
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    if !causes.is_empty() {
        out.push_str("\n\nCaused by:");
        for c in causes {
            out.push_str(&format!("\n    {c}"));
        }
    }
    out
}
