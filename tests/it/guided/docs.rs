//! `lifeboat completions SHELL` and `lifeboat man [--out DIR]`.

use super::lifeboat;

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    let state = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = lifeboat(state.path()).args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        for sub in ["resume", "approve", "backup", "audit", "completions"] {
            assert!(text.contains(sub), "{shell} completions lack {sub}");
        }
        // Flags added by guided mode and the watch are completed too.
        assert!(
            text.contains("guided") && text.contains("watch"),
            "{shell} completions lack flags"
        );
    }
    let out = lifeboat(state.path()).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad usage");
}

/// Renders roff with groff when it is installed; the page must produce text with its sections.
fn renders(page: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .ok()?;
    let warnings = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "groff failed on {}: {warnings}", page.display());
    let text = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-P-cbou"])
        .arg(page)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&text.stdout).to_string() + &warnings)
}

#[test]
fn man_prints_the_top_page_and_writes_one_page_per_command() {
    let state = tempfile::tempdir().unwrap();
    let out = lifeboat(state.path()).arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH lifeboat"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("Exit codes"));

    let dir = state.path().join("man");
    let out = lifeboat(state.path()).arg("man").arg("--out").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    for name in ["lifeboat.1", "lifeboat-run.1", "lifeboat-status.1", "lifeboat-backup-create.1"] {
        let p = dir.join(name);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{name} missing"));
        assert!(text.contains(".TH"), "{name} is not a man page");
        if let Some(rendered) = renders(&p) {
            assert!(
                rendered.contains("NAME") && rendered.contains("SYNOPSIS"),
                "{name}: {rendered}"
            );
            assert!(!rendered.contains("warning"), "{name}: {rendered}");
        }
    }
    let run_page = std::fs::read_to_string(dir.join("lifeboat-run.1")).unwrap();
    assert!(run_page.contains("guided"), "run's page documents --guided");

    // A path that cannot be a directory is bad input.
    let file = state.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out =
        lifeboat(state.path()).arg("man").arg("--out").arg(file.join("sub")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create directory"));
}
