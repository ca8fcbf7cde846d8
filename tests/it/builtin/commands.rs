//! `lifeboat runbooks list | show | export`.

use super::{lifeboat_in, ok, usage, REGIONS};
use lifeboat::runbook::builtin;

#[test]
fn list_names_every_built_in_with_its_steps_and_source() {
    let cwd = tempfile::tempdir().unwrap();
    let table = ok(&lifeboat_in(cwd.path(), &["runbooks", "list"]));
    let json = ok(&lifeboat_in(cwd.path(), &["runbooks", "list", "--output", "json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), builtin::CATALOG.len());
    for (row, b) in rows.iter().zip(builtin::CATALOG) {
        assert_eq!(row["name"], b.name);
        assert_eq!(row["source"], format!("builtin:{}.yaml", b.name));
        assert_eq!(row["description"], b.description);
        // The step count is the runbook's, as the library reads it.
        let rb = lifeboat::runbook::load_str_for_graph(&b.display_path(), b.source, &[]).unwrap();
        assert_eq!(row["steps"], rb.steps.len(), "{}", b.name);
        assert!(table.contains(b.name) && table.contains(b.repo_path), "{table}");
    }
    assert_eq!(rows[0]["kind"], "recovery");
    assert_eq!(rows[1]["kind"], "example");
}

#[test]
fn show_prints_the_source_exactly_for_a_name_or_a_file() {
    let cwd = tempfile::tempdir().unwrap();
    let repo = crate::support::repo();
    for b in builtin::CATALOG {
        let out = lifeboat_in(cwd.path(), &["runbooks", "show", b.name]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout, std::fs::read(repo.join(b.repo_path)).unwrap(), "{}", b.name);
    }
    // A file path: its bytes, exactly (no trailing newline added).
    let file = cwd.path().join("mine.yaml");
    std::fs::write(&file, b"apiVersion: lifeboat/v1 # no newline").unwrap();
    let out = lifeboat_in(cwd.path(), &["runbooks", "show", "mine.yaml"]);
    assert_eq!(out.stdout, b"apiVersion: lifeboat/v1 # no newline");
    let err = usage(&lifeboat_in(cwd.path(), &["runbooks", "show", "nope"]));
    assert!(err.contains("built-in runbooks: region-outage, hello"), "{err}");
}

#[test]
fn export_writes_a_copy_that_plans_the_same_and_never_overwrites_without_force() {
    let cwd = tempfile::tempdir().unwrap();
    let dir = cwd.path().join("my/runbooks"); // created, parents too
    let out = ok(&lifeboat_in(cwd.path(), &["runbooks", "export", "region-outage", "my/runbooks"]));
    let file = dir.join("region-outage.yaml");
    assert!(out.contains("wrote my/runbooks/region-outage.yaml"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), builtin::REGION_OUTAGE);

    // The copy gives the built-in's plan: same text (digest), steps, parameters.
    let plan = |rb: &str| -> serde_json::Value {
        let args: Vec<&str> = ["plan", rb, "--output", "json"].into_iter().chain(REGIONS).collect();
        serde_json::from_str(&ok(&lifeboat_in(cwd.path(), &args))).unwrap()
    };
    let (mut copy, mut built_in) = (plan("my/runbooks/region-outage.yaml"), plan("region-outage"));
    assert_eq!(copy["runbook"]["path"], "my/runbooks/region-outage.yaml");
    assert_eq!(built_in["runbook"]["path"], "builtin:region-outage.yaml");
    copy["runbook"]["path"] = serde_json::Value::Null;
    built_in["runbook"]["path"] = serde_json::Value::Null;
    assert_eq!(copy, built_in);

    // An existing file is not replaced without --force (exit 2, a hint, nothing written).
    std::fs::write(&file, "# my edits\n").unwrap();
    let err =
        usage(&lifeboat_in(cwd.path(), &["runbooks", "export", "region-outage", "my/runbooks"]));
    assert!(err.contains("exists; nothing was written") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "# my edits\n");
    ok(&lifeboat_in(
        cwd.path(),
        &["runbooks", "export", "region-outage.yaml", "my/runbooks", "--force"],
    ));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), builtin::REGION_OUTAGE);

    // Only built-in names are exported; a DIR that cannot be a directory is bad input.
    let err = usage(&lifeboat_in(cwd.path(), &["runbooks", "export", "nope", "x"]));
    assert!(
        err.contains("no built-in runbook is named nope") && err.contains("region-outage, hello"),
        "{err}"
    );
    assert!(!cwd.path().join("x").exists());
    let err = usage(&lifeboat_in(
        cwd.path(),
        &["runbooks", "export", "hello", "my/runbooks/region-outage.yaml/sub"],
    ));
    assert!(err.contains("cannot create directory"), "{err}");
}

#[test]
fn help_and_man_pages_document_the_runbooks_commands() {
    let cwd = tempfile::tempdir().unwrap();
    let help = ok(&lifeboat_in(cwd.path(), &["--help"]));
    assert!(help.contains("runbooks") && help.contains("built into lifeboat"), "{help}");
    let run_help = ok(&lifeboat_in(cwd.path(), &["run", "--help"]));
    assert!(run_help.contains("built-in runbook's name"), "{run_help}");
    ok(&lifeboat_in(cwd.path(), &["man", "--out", "man"]));
    for page in ["lifeboat-runbooks.1", "lifeboat-runbooks-list.1", "lifeboat-runbooks-export.1"] {
        let text = std::fs::read_to_string(cwd.path().join("man").join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
    let export =
        std::fs::read_to_string(cwd.path().join("man/lifeboat-runbooks-export.1")).unwrap();
    assert!(export.contains("force"), "{export}");
}
