//! The layout of the integration tests holds: `Cargo.toml` builds one test binary
//! (`autotests = false`, `[[test]] it`), so a test file anywhere else, or one without its `mod`
//! line, would never be compiled and its tests would silently stop running. These checks make
//! that a failure instead.

use std::path::{Path, PathBuf};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
        for e in entries {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// True when `file` declares module `name` (`mod name;`, optionally `pub`/`pub(crate)`).
fn declares(file: &Path, name: &str) -> bool {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let want = format!("mod {name};");
    text.lines().any(|l| {
        let l = l.trim();
        let l = l.strip_prefix("pub(crate) ").or_else(|| l.strip_prefix("pub ")).unwrap_or(l);
        l == want
    })
}

#[test]
fn tests_live_in_the_one_binary_or_in_fixtures() {
    let mut strays = Vec::new();
    for e in std::fs::read_dir(tests_dir()).expect("tests/ lists") {
        let e = e.expect("directory entry");
        let name = e.file_name().to_string_lossy().into_owned();
        // Hidden entries (an editor's swap file) are no test.
        if name.starts_with('.') {
            continue;
        }
        if !(e.path().is_dir() && (name == "it" || name == "fixtures")) {
            strays.push(format!("tests/{name}"));
        }
    }
    assert!(
        strays.is_empty(),
        "{strays:?}: tests/ holds only it/ (the one test binary) and fixtures/; move tests into \
         the module of their area under tests/it/ (snapshots go to that module's snapshots/ \
         directory, renamed it__<area>__<module>__<name>.snap)"
    );
}

#[test]
fn every_test_file_is_declared_by_its_parent_module() {
    let it = tests_dir().join("it");
    let mut orphans = Vec::new();
    for f in rust_files(&it) {
        if f == it.join("main.rs") {
            continue;
        }
        let dir = f.parent().expect("a file has a parent");
        let stem = f.file_stem().expect("a file name").to_string_lossy().into_owned();
        // `d/mod.rs` is module `d`, declared by the parent of `d`; `d/x.rs` is module `x`,
        // declared by `d` (`d/mod.rs`, or `main.rs` when `d` is `it`).
        let (module_dir, name) = if stem == "mod" {
            let name = dir.file_name().expect("a directory name").to_string_lossy().into_owned();
            (dir.parent().expect("under tests/it").to_path_buf(), name)
        } else {
            (dir.to_path_buf(), stem)
        };
        let parent = if module_dir == it { it.join("main.rs") } else { module_dir.join("mod.rs") };
        if !declares(&parent, &name) {
            orphans.push(format!(
                "{} (no `mod {name};` in {})",
                f.strip_prefix(tests_dir()).unwrap_or(&f).display(),
                parent.strip_prefix(tests_dir()).unwrap_or(&parent).display()
            ));
        }
    }
    assert!(orphans.is_empty(), "test files never compiled: {orphans:?}");
}
