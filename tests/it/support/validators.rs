//! External validators of what lifeboat writes: the Nu HTML Checker (`LIFEBOAT_TEST_VNU_JAR`,
//! the `vnu.jar` of the npm package `vnu-jar`, run with `java`) and xmllint
//! (`LIFEBOAT_TEST_XMLLINT`, or `xmllint` on PATH). `.ci/validators.sh install` installs both and
//! `.ci/validators.sh env` prints the exports. Without them a test prints a note and skips its
//! external check, except under `CI`, where a missing validator fails, so a pipeline never
//! passes unchecked.

use std::path::PathBuf;

/// True when running in CI (`CI` set to anything but empty, `0` or `false`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// An external validator: `var` if set, else `fallback` on PATH; `None` (with a printed note)
/// when absent outside CI; a panic when absent in CI.
pub fn validator(var: &str, fallback: Option<&str>) -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(v);
        assert!(
            p.exists(),
            "{var} points to {}, which does not exist (run .ci/validators.sh install)",
            p.display()
        );
        return Some(p);
    }
    if let Some(name) = fallback {
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
    }
    if in_ci() {
        panic!("{var} is unset in CI (run `.ci/validators.sh install` and `eval \"$(.ci/validators.sh env)\"` before cargo test)");
    }
    eprintln!("note: {var} is unset: skipping this external validation (run .ci/validators.sh install, then eval \"$(.ci/validators.sh env)\")");
    None
}
