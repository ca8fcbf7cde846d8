//! The layer rule, enforced (as rust-analyzer's tidy tests do): every `crate::` path in every
//! file under `src/` (in `use` lines, `use crate::{a, b}` groups, function bodies and tests alike;
//! `super::` paths that climb to the crate root too; `$crate::` in macros) is mapped to the
//! top-level module it names, and a module may name only modules of a lower layer. Comments and
//! string literals are ignored. ARCHITECTURE.md draws the same table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import only from modules of lower layers; a new
/// top-level module must be placed here (the test fails naming it otherwise).
const LAYERS: &[&[&str]] = &[
    &["text", "fsutil", "digest"],
    &["error", "clock", "queries", "catalog", "journal"],
    &["redact"],
    &["runbook", "azure", "sim"],
    &["backup"],
    &["engine"],
    &["steps", "notify", "runstore"],
    &["audit"],
    &["drill"],
    &["cli"],
];

/// Imports that break the rule today and are being removed (file, module it imports): each one
/// names who removes it. Keep it empty.
const PENDING: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// One `crate::` reference: the line and the top-level name it starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    line: usize,
    target: String,
    /// The path as written, for the message (`crate::cli::Globals`).
    text: String,
}

/// The source with comments and string/char literals blanked (newlines kept, so line numbers
/// stay right).
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    while i < c.len() {
        let at = |i: usize, k: usize| c.get(i + k).copied().unwrap_or('\0');
        if at(i, 0) == '/' && at(i, 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
                out.push(' ');
            }
        } else if at(i, 0) == '/' && at(i, 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i, 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(i, 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if (at(i, 0) == 'r' || (at(i, 0) == 'b' && at(i, 1) == 'r'))
            && !c.get(i.wrapping_sub(1)).is_some_and(|p| p.is_alphanumeric() || *p == '_')
            && {
                let s = if at(i, 0) == 'b' { 2 } else { 1 };
                let mut k = s;
                while at(i, k) == '#' {
                    k += 1;
                }
                at(i, k) == '"'
            }
        {
            // A raw string: r"..", r#".."#, br"..".
            let s = if at(i, 0) == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(i, s + hashes) == '#' {
                hashes += 1;
            }
            for _ in 0..s + hashes + 1 {
                out.push(' ');
            }
            i += s + hashes + 1;
            while i < c.len() {
                if c[i] == '"' && (0..hashes).all(|h| c.get(i + 1 + h) == Some(&'#')) {
                    for _ in 0..hashes + 1 {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if at(i, 0) == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                    if i < c.len() {
                        blank(&mut out, c[i]);
                        i += 1;
                    }
                } else if c[i] == '"' {
                    out.push(' ');
                    i += 1;
                    break;
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if at(i, 0) == '\'' && (at(i, 1) == '\\' || (at(i, 1) != '\0' && at(i, 2) == '\'')) {
            // A char literal ('a', '\n', '\u{1F600}'); otherwise a lifetime or a label.
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '\'' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Other(char),
}

fn tokens(src: &str) -> Vec<(usize, Tok)> {
    let mut out = Vec::new();
    let mut line = 1;
    let c: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((line, Tok::Ident(c[start..i].iter().collect())));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((line, Tok::Path));
            i += 2;
        } else {
            out.push((
                line,
                match ch {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    other => Tok::Other(other),
                },
            ));
            i += 1;
        }
    }
    out
}

fn ident(t: Option<&(usize, Tok)>) -> Option<&str> {
    match t {
        Some((_, Tok::Ident(s))) => Some(s),
        _ => None,
    }
}

/// The first segments of the paths a `{ ... }` group starting at `toks[open]` names:
/// `{a::b, c, d::{e, f}}` → `a`, `c`, `d`.
fn group_heads(toks: &[(usize, Tok)], open: usize) -> Vec<(usize, String)> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (line, t) in &toks[open..] {
        match t {
            Tok::Open => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
            }
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Comma if depth == 1 => expect_head = true,
            Tok::Ident(s) if depth == 1 && expect_head => {
                heads.push((*line, s.clone()));
                expect_head = false;
            }
            _ => {
                if depth == 1 {
                    expect_head = false;
                }
            }
        }
    }
    heads
}

/// Every reference to a crate-root item in one file whose module path is `module` (e.g.
/// `["steps", "devops"]` for `src/steps/devops/mod.rs`).
fn references(src: &str, module: &[String]) -> Vec<Reference> {
    let toks = tokens(&strip(src));
    let mut out = Vec::new();
    // Inline modules (`mod tests { .. }`) deepen the path `super::` climbs from.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].1 {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(m) if m == "mod" => {
                if let (Some(name), Some((_, Tok::Open))) =
                    (ident(toks.get(i + 1)), toks.get(i + 2))
                {
                    inline.push((depth, name.to_string()));
                }
            }
            _ => {}
        }
        let line = toks[i].0;
        let head = ident(toks.get(i));
        let preceded_by_path = i > 0 && toks[i - 1].1 == Tok::Path;
        // The crate root: `crate::`, `$crate::`, or `super::` climbed past the top module.
        let root_after = match head {
            Some("crate")
                if !preceded_by_path && toks.get(i + 1).map(|t| &t.1) == Some(&Tok::Path) =>
            {
                Some(i + 2)
            }
            Some("super") if !preceded_by_path => {
                let mut k = i;
                let mut climbs = 0;
                while ident(toks.get(k)) == Some("super")
                    && toks.get(k + 1).map(|t| &t.1) == Some(&Tok::Path)
                {
                    climbs += 1;
                    k += 2;
                }
                let here = module.len() + inline.len();
                (climbs >= here && climbs > 0).then_some(k)
            }
            _ => None,
        };
        if let Some(at) = root_after {
            let heads = match toks.get(at) {
                Some((l, Tok::Ident(s))) => vec![(*l, s.clone())],
                Some((_, Tok::Open)) => group_heads(&toks, at),
                _ => Vec::new(),
            };
            // The path as written, up to the first token that is no segment (`crate::a::b`).
            let mut end = at;
            while matches!(toks.get(end + 1).map(|t| &t.1), Some(Tok::Path))
                && matches!(toks.get(end + 2).map(|t| &t.1), Some(Tok::Ident(_)))
            {
                end += 2;
            }
            let text: String = toks[i..(end + 1).min(toks.len())]
                .iter()
                .map(|(_, t)| match t {
                    Tok::Ident(s) => s.clone(),
                    Tok::Path => "::".into(),
                    Tok::Open => "{".into(),
                    Tok::Close => "}".into(),
                    Tok::Comma => ",".into(),
                    Tok::Other(c) => c.to_string(),
                })
                .collect();
            for (l, target) in heads {
                if target != "self" {
                    out.push(Reference { line: l.max(line), target, text: text.clone() });
                }
            }
        }
        i += 1;
    }
    out
}

/// `src/a/b.rs` → `["a", "b"]`; `src/a/mod.rs` → `["a"]`; `src/lib.rs` → `[]`.
fn module_path(src_dir: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir).unwrap_or(file);
    let mut parts: Vec<String> =
        rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).into_iter().flatten().filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `#[macro_export] macro_rules! name` → the top module defining it (`crate::say!` is `redact`).
fn exported_macros(files: &[(Vec<String>, String)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (module, src) in files {
        let toks = tokens(&strip(src));
        for w in toks.windows(6) {
            if ident(Some(&w[0])) == Some("macro_export")
                && w[1].1 == Tok::Other(']')
                && ident(Some(&w[2])) == Some("macro_rules")
                && w[3].1 == Tok::Other('!')
            {
                if let (Some(name), Some(top)) = (ident(Some(&w[4])), module.first()) {
                    out.insert(name.to_string(), top.clone());
                }
            }
        }
    }
    out
}

/// Every violation of the layer rule under `src_dir`, as `file:line: message`.
fn violations(src_dir: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    rust_files(src_dir, &mut paths);
    let files: Vec<(PathBuf, Vec<String>, String)> = paths
        .into_iter()
        .map(|p| {
            let m = module_path(src_dir, &p);
            let s = std::fs::read_to_string(&p).unwrap_or_default();
            (p, m, s)
        })
        .collect();
    let macros =
        exported_macros(&files.iter().map(|(_, m, s)| (m.clone(), s.clone())).collect::<Vec<_>>());
    let mut out = Vec::new();
    for (path, module, src) in &files {
        let Some(top) = module.first() else { continue };
        if top == "layers" {
            continue;
        }
        let shown = path.strip_prefix(src_dir.parent().unwrap_or(src_dir)).unwrap_or(path);
        let Some(own) = layer_of(top) else {
            out.push(format!(
                "{}:1: top-level module `{top}` has no layer: add it to LAYERS in src/layers.rs and to ARCHITECTURE.md's diagram",
                shown.display()
            ));
            continue;
        };
        for r in references(src, module) {
            let target = macros.get(&r.target).cloned().unwrap_or(r.target.clone());
            if &target == top {
                continue;
            }
            let at = format!("{}:{}", shown.display(), r.line);
            match layer_of(&target) {
                Some(l) if l < own => {}
                Some(l) => {
                    if PENDING.iter().any(|(f, t)| at.starts_with(f) && *t == target) {
                        continue;
                    }
                    out.push(format!(
                        "{at}: `{top}` (layer {own}) imports `{target}` (layer {l}) through `{}`: a module may import only from lower layers (src/layers.rs, ARCHITECTURE.md)",
                        r.text
                    ));
                }
                None => out.push(format!(
                    "{at}: `{}` names `{target}`, which is no top-level module of a layer (a re-export at the crate root would hide a layer)",
                    r.text
                )),
            }
        }
    }
    out
}

#[test]
fn every_import_goes_to_a_lower_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(found.is_empty(), "imports against the layers:\n{}", found.join("\n"));
}

#[test]
fn every_top_level_module_has_one_layer() {
    let mut seen = std::collections::BTreeSet::new();
    for m in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(seen.insert(*m), "{m} is in two layers");
    }
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    for line in lib.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("pub mod ").and_then(|m| m.strip_suffix(';')) {
            assert!(layer_of(m).is_some(), "module {m} has no layer");
        }
    }
}

#[test]
fn the_checker_sees_every_form_of_path() {
    let src = r##"
use crate::azure::ArmClient;
use crate::{engine::kind::Registry, steps, runbook::{self, Plan}};
// use crate::cli::Globals;   (a comment)
fn f() {
    let s = "crate::drill::x";      // a string
    let r = r#"crate::audit"#;
    let c = '"'; let d = crate::sim::start;
    crate::say!("x");
    super::super::clock::now();
}
mod tests {
    use super::*;
    use super::super::error::UserError;
}
"##;
    let refs = references(src, &["backup".to_string()]);
    let got: Vec<(usize, &str)> = refs.iter().map(|r| (r.line, r.target.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, "azure"),
            (3, "engine"),
            (3, "steps"),
            (3, "runbook"),
            (8, "sim"),
            (9, "say"),
            (10, "clock"),
            (14, "error"),
        ]
    );
    // One level of `super` from a nested module stays inside it.
    assert!(references("mod a { use super::x; }", &["steps".into(), "devops".into()]).is_empty());
}

#[test]
fn a_forbidden_import_is_named_with_its_file_line_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("engine")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod engine;\n").unwrap();
    std::fs::write(src.join("engine/mod.rs"), "//! x\n\nuse crate::steps::registry;\n").unwrap();
    std::fs::write(src.join("redact.rs"), "#[macro_export]\nmacro_rules! say { () => {} }\n")
        .unwrap();
    std::fs::write(src.join("journal.rs"), "fn f() { crate::say!(); }\n").unwrap();
    let found = violations(&src);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("src/engine/mod.rs:3: `engine` (layer 5) imports `steps` (layer 6)"),
        "{}",
        found[0]
    );
    assert!(
        found[1].starts_with("src/journal.rs:1: `journal` (layer 1) imports `redact`"),
        "{}",
        found[1]
    );
}
