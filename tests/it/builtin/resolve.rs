//! How `plan`, `graph`, `run` and `drill` resolve a runbook argument.

use super::{lifeboat_in, ok, usage, REGIONS};
use lifeboat::runbook::builtin;

fn with_regions<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(REGIONS).collect()
}

#[test]
fn a_built_in_name_plans_and_draws_from_an_empty_directory_with_or_without_yaml() {
    let cwd = tempfile::tempdir().unwrap();
    for name in ["region-outage", "region-outage.yaml"] {
        let plan = ok(&lifeboat_in(cwd.path(), &with_regions(&["plan", name])));
        assert!(plan.starts_with("runbook region-outage ("), "{plan}");
    }
    let json =
        ok(&lifeboat_in(cwd.path(), &with_regions(&["plan", "region-outage", "--output", "json"])));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["runbook"]["path"], "builtin:region-outage.yaml");
    let b = builtin::region_outage();
    assert_eq!(doc["runbook"]["sha256"], lifeboat::digest::sha256_hex(b.source.as_bytes()));
    let dot = ok(&lifeboat_in(cwd.path(), &["graph", "hello"]));
    assert!(dot.starts_with("digraph"), "{dot}");
}

#[test]
fn diagnostics_of_a_built_in_runbook_name_it() {
    let cwd = tempfile::tempdir().unwrap();
    let err = usage(&lifeboat_in(cwd.path(), &["plan", "region-outage"]));
    assert!(
        err.contains("error: builtin:region-outage.yaml:")
            && err.contains("required parameter 'failed_region' is not set"),
        "{err}"
    );
    // line:col of the parameter in the built-in text.
    let line =
        builtin::REGION_OUTAGE.lines().position(|l| l == "  failed_region:").expect("declared") + 1;
    assert!(err.contains(&format!("builtin:region-outage.yaml:{line}:3:")), "{err}");
}

#[test]
fn an_existing_file_wins_over_a_built_in_name() {
    let cwd = tempfile::tempdir().unwrap();
    // A file called `region-outage` in the working directory: the hello example under that name.
    std::fs::write(cwd.path().join("region-outage"), builtin::HELLO).unwrap();
    let plan = ok(&lifeboat_in(cwd.path(), &["plan", "region-outage"]));
    assert!(plan.starts_with("runbook hello ("), "{plan}");
    // A directory of that name is the user's too: its read error, not the built-in.
    std::fs::create_dir(cwd.path().join("hello")).unwrap();
    let err = usage(&lifeboat_in(cwd.path(), &["plan", "hello"]));
    assert!(err.contains("cannot read runbook hello"), "{err}");
}

#[test]
fn neither_a_file_nor_a_name_is_bad_input_listing_the_built_ins() {
    let cwd = tempfile::tempdir().unwrap();
    let state = cwd.path().join("state");
    for cmd in ["plan", "graph", "run"] {
        let err = usage(&lifeboat_in(
            cwd.path(),
            &["--state-dir", state.to_str().unwrap(), cmd, "regoin-outage"],
        ));
        assert!(
            err.contains("cannot read runbook regoin-outage: no such file, and no built-in runbook has that name")
                && err.contains("built-in runbooks: region-outage, hello"),
            "{cmd}: {err}"
        );
    }
    assert!(!state.exists(), "nothing written");
    // The repository path outside a checkout: a missing file, with the name to use instead.
    let err =
        usage(&lifeboat_in(cwd.path(), &with_regions(&["plan", "runbooks/region-outage.yaml"])));
    assert!(
        err.contains("no such file") && err.contains("use `region-outage` without a directory"),
        "{err}"
    );
    let err = usage(&lifeboat_in(cwd.path(), &["drill", "--runbook", "nope"]));
    assert!(
        err.contains("--runbook: cannot read runbook nope") && err.contains("region-outage"),
        "{err}"
    );
}
