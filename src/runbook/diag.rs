//! Diagnostics: what is wrong with a runbook, where, and how to fix it.
//!
//! Every diagnostic prints as `path:line:col: message (hint)`, lowercase, subject first, no
//! trailing period. A [`LoadError`] holds all of them, sorted by position, so one `plan` shows
//! every problem at once.

use super::model::Span;
use crate::error::UserError;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.span.line,
            self.span.column,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Why a runbook could not be loaded. Nothing has been executed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read runbook {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Neither an existing file nor the name of a built-in runbook (`runbook::builtin`).
    #[error("cannot read runbook {}: no such file, and no built-in runbook has that name", path.display())]
    NotFound { path: PathBuf },
    /// At least one diagnostic, sorted by position.
    #[error("{}", lines(.0))]
    Invalid(Vec<Diagnostic>),
}

fn lines(diags: &[Diagnostic]) -> String {
    diags.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl LoadError {
    /// The diagnostics (empty for a read error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            LoadError::Invalid(d) => d,
            LoadError::Read { .. } | LoadError::NotFound { .. } => &[],
        }
    }
}

impl From<LoadError> for UserError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Read { path, source } => {
                UserError::usage(format!("cannot read runbook {}", path.display()))
                    .with_hint("check the path and its permissions")
                    .with_source(source)
            }
            LoadError::NotFound { path } => UserError::usage(format!(
                "cannot read runbook {}: no such file, and no built-in runbook has that name",
                path.display()
            ))
            .with_hint(super::builtin::not_found_hint(&path)),
            // One `error:` line per diagnostic, as compilers do: the CLI renders `error: {msg}`.
            LoadError::Invalid(diags) => {
                let mut msg =
                    diags.iter().map(ToString::to_string).collect::<Vec<_>>().join("\nerror: ");
                if diags.len() > 1 {
                    msg.push_str(&format!(
                        "\nerror: the runbook has {} errors; nothing was run",
                        diags.len()
                    ));
                }
                UserError::usage(msg)
            }
        }
    }
}

/// Levenshtein distance over chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate, if close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // A case-only difference is always a typo; otherwise allow one edit per three characters,
    // so very short names (where any other name is "close") get no misleading suggestion.
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let d =
                if c.to_lowercase() == word.to_lowercase() { 0 } else { edit_distance(word, c) };
            (d, c)
        })
        .filter(|(d, c)| *d <= word.chars().count().min(c.chars().count()) / 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean 'x'?`, or else `<what>: a, b, c` (or `no_items` when there are none).
pub fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
    no_items: &str,
) -> String {
    match closest(word, candidates.clone()) {
        Some(c) => format!("did you mean '{c}'?"),
        None => {
            let all: Vec<&str> = candidates.into_iter().collect();
            if all.is_empty() {
                no_items.to_string()
            } else {
                format!("{what}: {}", all.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_suggestions() {
        assert_eq!(edit_distance("reaply", "reapply"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("reaply", ["verify", "reapply"]), Some("reapply"));
        assert_eq!(closest("xyz", ["verify", "reapply"]), None);
        assert_eq!(closest("a", ["b", "A"]), Some("A"));
        assert_eq!(closest("a", ["b"]), None);
        assert_eq!(suggest("nedds", ["id", "needs"], "keys", "-"), "did you mean 'needs'?");
        assert_eq!(suggest("zzz", ["a", "b"], "steps", "-"), "steps: a, b");
        assert_eq!(suggest("zzz", [], "steps", "none"), "none");
    }

    #[test]
    fn display_follows_the_grammar() {
        let d = Diagnostic {
            path: "r.yaml".into(),
            span: Span { line: 7, column: 14 },
            message: "step 'verify' needs unknown step 'reaply'".into(),
            hint: Some("did you mean 'reapply'?".into()),
        };
        assert_eq!(
            d.to_string(),
            "r.yaml:7:14: step 'verify' needs unknown step 'reaply' (did you mean 'reapply'?)"
        );
        let u: UserError = LoadError::Invalid(vec![d.clone(), d]).into();
        assert_eq!(u.exit, crate::error::Exit::Usage);
        assert!(u.message.contains("\nerror: r.yaml:7:14"));
    }
}
