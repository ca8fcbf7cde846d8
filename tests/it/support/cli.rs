//! The `lifeboat` binary under test, with a clean environment.
//!
//! Every test that runs the binary starts from [`lifeboat`]: whatever the shell or CI agent that
//! runs `cargo test` has set for Azure or lifeboat must not change what a test sees (a developer
//! with `AZURE_CLIENT_SECRET` exported, a pipeline's `SYSTEM_ACCESSTOKEN`, a real
//! `LIFEBOAT_ARM_ENDPOINT`, a `~/.config/lifeboat/config.toml` with api-version overrides), and
//! the binary never reads a credential of the machine. A test then adds exactly the flags and
//! variables it means.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lifeboat"))
}

/// Variables of the test process a child never inherits: lifeboat's own (`LIFEBOAT_*`, among
/// them `LIFEBOAT_TEST_STEPS`, which the engine tests set in this process), Azure's credentials
/// (`AZURE_*`, the managed identity's `IDENTITY_*` and `MSI_*`, Azure Pipelines' `SYSTEM_*`),
/// and `RUST_LOG`. Compared without case, as Windows does.
fn inherited_setting(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["AZURE", "LIFEBOAT", "SYSTEM_", "IDENTITY_", "MSI_"].iter().any(|p| n.starts_with(p))
        || n == "RUST_LOG"
}

/// An empty directory the binary gets as `HOME` and `XDG_CONFIG_HOME`, so the config file it
/// reads when present (`~/.config/lifeboat/config.toml`) is never the developer's. Nothing
/// writes to it.
fn empty_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("it-home");
        std::fs::create_dir_all(&home)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", home.display()));
        home
    })
}

/// Removes the inherited settings from `c` (see [`inherited_setting`]) and points its home and
/// config directory at an empty directory.
pub fn clean_env(c: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        if inherited_setting(&k.to_string_lossy()) {
            c.env_remove(k);
        }
    }
    // Named too: a variable another test sets in this process after the scan above would
    // otherwise reach the child (the environment is read when it is spawned).
    c.env_remove("LIFEBOAT_TEST_STEPS");
    c.env("HOME", empty_home()).env("XDG_CONFIG_HOME", empty_home());
    // Times people read are local (`text::local_time`): the same zone on every machine. A test
    // of another zone sets its own TZ.
    c.env("TZ", "UTC");
    c
}

/// The binary with a clean environment ([`clean_env`]); stdin, stdout and stderr as
/// `std::process::Command` leaves them.
pub fn lifeboat() -> Command {
    let mut c = Command::new(bin());
    clean_env(&mut c);
    c
}

/// Runs `cmd` to its end on a blocking thread, so a simulator or stub served by the calling
/// test's runtime keeps answering.
pub async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("lifeboat runs"))
        .await
        .expect("the blocking task ends")
}

/// stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A run's directory in a state directory.
pub fn run_dir(state: &Path, run: &str) -> PathBuf {
    state.join("runs").join(run)
}

/// A run's journal in a state directory.
pub fn journal_path(state: &Path, run: &str) -> PathBuf {
    run_dir(state, run).join("journal.jsonl")
}
