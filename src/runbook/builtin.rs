//! The runbooks built into the binary: every YAML file of `runbooks/` (and `runbooks/examples/`),
//! embedded at build time, so `lifeboat run region-outage` works from any directory with only
//! the binary.
//!
//! A command that takes a runbook resolves its argument with [`resolve`]: an existing file wins;
//! else a built-in name, with or without `.yaml`; else a read error that lists the built-in names.
//! A built-in runbook is shown as `builtin:NAME.yaml` in diagnostics (`builtin:region-outage.yaml:
//! 12:3: ...`), in `plan`, and in the journal header, which also records its name
//! (`runbook.builtin`) beside the SHA-256 of its text.
//!
//! The examples are built in too (`hello`): they use only the built-in step kinds, run anywhere,
//! and are the starting point for writing a runbook (`lifeboat runbooks export hello DIR`).
//! [`Builtin::example`] tells them apart in `lifeboat runbooks list`.

use super::diag::LoadError;
use std::path::{Path, PathBuf};

/// How a built-in runbook is named in diagnostics and journals: `builtin:NAME.yaml`.
pub const PREFIX: &str = "builtin:";

/// The region-outage runbook (`runbooks/region-outage.yaml`): Microsoft's documented recovery.
pub const REGION_OUTAGE: &str = include_str!("../../runbooks/region-outage.yaml");

/// The first example (`runbooks/examples/hello.yaml`): built-in step kinds only.
pub const HELLO: &str = include_str!("../../runbooks/examples/hello.yaml");

/// One runbook built into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// The name on the command line: `lifeboat run NAME` (its `metadata.name`).
    pub name: &'static str,
    /// Where its source lives in lifeboat's repository.
    pub repo_path: &'static str,
    /// A tutorial example rather than a recovery procedure.
    pub example: bool,
    /// Its `metadata.description` (a test keeps the two equal).
    pub description: &'static str,
    /// The YAML text, byte for byte as in the repository.
    pub source: &'static str,
}

impl Builtin {
    /// `NAME.yaml`: the file `lifeboat runbooks export` writes.
    pub fn file_name(&self) -> String {
        format!("{}.yaml", self.name)
    }

    /// `builtin:NAME.yaml`: its path in diagnostics, `plan` and the journal.
    pub fn display_path(&self) -> PathBuf {
        PathBuf::from(format!("{PREFIX}{}", self.file_name()))
    }
}

/// Every built-in runbook, recovery procedures first.
pub const CATALOG: &[Builtin] = &[
    Builtin {
        name: "region-outage",
        repo_path: "runbooks/region-outage.yaml",
        example: false,
        description: "Recover the DevOps security connectors of a failed Azure region, from a \
                      backup or (backup=none) without one",
        source: REGION_OUTAGE,
    },
    Builtin {
        name: "hello",
        repo_path: "runbooks/examples/hello.yaml",
        example: true,
        description: "Rehearse a hand-off between teams with approvals, manual tasks and timers",
        source: HELLO,
    },
];

/// The built-in runbook called `name`: `region-outage`, `region-outage.yaml` or
/// `builtin:region-outage.yaml`.
pub fn get(name: &str) -> Option<&'static Builtin> {
    let name = name.strip_prefix(PREFIX).unwrap_or(name);
    let name = name.strip_suffix(".yaml").unwrap_or(name);
    CATALOG.iter().find(|b| b.name == name)
}

/// The region-outage runbook's entry (what `lifeboat drill` rehearses by default).
pub fn region_outage() -> &'static Builtin {
    // CATALOG[0] is region-outage by construction (a test checks it); `get` keeps it honest.
    get("region-outage").unwrap_or(&CATALOG[0])
}

/// The built-in names, comma-separated, for messages.
pub fn names() -> String {
    CATALOG.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

/// The built-in runbook whose exact text was validated under `path`, if any: how a [`Source`]
/// knows it came from the binary (the drill and `load` name it `builtin:NAME.yaml`).
///
/// [`Source`]: super::Source
pub fn origin_of(path: &Path, text: &str) -> Option<&'static Builtin> {
    let b = get(path.to_str()?.strip_prefix(PREFIX)?)?;
    (b.source == text && path == b.display_path()).then_some(b)
}

/// What a command's runbook argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An existing file (it wins over a built-in of the same name).
    File(PathBuf),
    /// A runbook built into the binary.
    Builtin(&'static Builtin),
}

impl Resolved {
    /// The path diagnostics name: the file as given, or `builtin:NAME.yaml`.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Resolved::File(p) => p.clone(),
            Resolved::Builtin(b) => b.display_path(),
        }
    }
}

/// Resolves a runbook argument: an existing file path wins; else a built-in name (with or without
/// `.yaml`); else [`LoadError::NotFound`], whose message lists the built-in names.
pub fn resolve(arg: &Path) -> Result<Resolved, LoadError> {
    resolve_in(Path::new(""), arg)
}

/// [`resolve`] with a relative `arg` taken from `base` instead of the working directory (the
/// doc-command test resolves as a responder's empty directory would). A returned file is
/// `base.join(arg)`; the error names `arg` as given.
pub fn resolve_in(base: &Path, arg: &Path) -> Result<Resolved, LoadError> {
    let path = base.join(arg);
    // `exists` follows symlinks; anything there (even a directory) is the user's file, and its
    // read error is reported as such.
    if path.exists() {
        return Ok(Resolved::File(path));
    }
    match arg.to_str().and_then(get) {
        // A bare name only: `runbooks/region-outage.yaml` outside a checkout is a missing file.
        Some(b) if arg.components().count() == 1 => Ok(Resolved::Builtin(b)),
        _ => Err(LoadError::NotFound { path: arg.to_path_buf() }),
    }
}

/// The hint of a runbook argument that is neither a file nor a built-in name.
pub fn not_found_hint(path: &Path) -> String {
    let stem = path.file_name().and_then(|n| n.to_str()).and_then(get);
    match stem {
        Some(b) => format!(
            "the built-in runbook {name} has that name: use `{name}` without a directory, or \
             `lifeboat runbooks export {name} DIR` for a copy to edit",
            name = b.name
        ),
        None => format!(
            "built-in runbooks: {}, described by `lifeboat runbooks list`; otherwise give the \
             path of a runbook YAML file",
            names()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_with_and_without_yaml() {
        assert_eq!(get("region-outage").map(|b| b.name), Some("region-outage"));
        assert_eq!(get("region-outage.yaml").map(|b| b.name), Some("region-outage"));
        assert_eq!(get("builtin:hello.yaml").map(|b| b.name), Some("hello"));
        assert_eq!(get("region-outag"), None);
        assert_eq!(region_outage().name, "region-outage");
        assert_eq!(CATALOG[0].name, "region-outage");
    }

    #[test]
    fn each_builtin_is_valid_and_its_description_is_its_metadata() {
        for b in CATALOG {
            let rb = super::super::load_str_for_graph(&b.display_path(), b.source, &[])
                .unwrap_or_else(|e| panic!("{}: {e}", b.name));
            assert_eq!(rb.name, b.name, "metadata.name of {}", b.repo_path);
            assert_eq!(rb.description.as_deref(), Some(b.description), "{}", b.repo_path);
            assert_eq!(rb.source.builtin.as_deref(), Some(b.name));
        }
    }

    #[test]
    fn every_runbook_file_of_the_repository_is_built_in_byte_for_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut todo = vec![root.join("runbooks")];
        while let Some(dir) = todo.pop() {
            for e in std::fs::read_dir(&dir).expect("runbooks/ lists") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    todo.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    files.push(p);
                }
            }
        }
        assert_eq!(files.len(), CATALOG.len(), "{files:?}: add each runbook to CATALOG");
        for f in files {
            let rel = f.strip_prefix(root).expect("under the root").to_string_lossy().into_owned();
            let b = CATALOG
                .iter()
                .find(|b| b.repo_path == rel)
                .unwrap_or_else(|| panic!("{rel} is not built in: add it to CATALOG"));
            assert_eq!(std::fs::read_to_string(&f).expect("reads"), b.source, "{rel}");
        }
    }

    #[test]
    fn a_file_wins_and_a_path_is_never_a_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("region-outage");
        std::fs::write(&file, "x").expect("writes");
        assert_eq!(resolve(&file).expect("resolves"), Resolved::File(file.clone()));
        assert_eq!(resolve(Path::new("hello")).expect("resolves"), Resolved::Builtin(&CATALOG[1]));
        let missing = dir.path().join("sub/region-outage.yaml");
        assert!(matches!(resolve(&missing), Err(LoadError::NotFound { .. })));
        assert!(not_found_hint(&missing).contains("`region-outage` without a directory"));
        let hint = not_found_hint(Path::new("nope.yaml"));
        assert!(hint.contains("region-outage, hello"), "{hint}");
    }

    #[test]
    fn origin_needs_the_exact_text() {
        let b = region_outage();
        assert_eq!(origin_of(&b.display_path(), b.source), Some(b));
        assert_eq!(origin_of(&b.display_path(), "apiVersion: lifeboat/v1\n"), None);
        assert_eq!(origin_of(Path::new("region-outage.yaml"), b.source), None);
    }
}
