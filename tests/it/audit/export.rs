//! `audit export` in every format: snapshots (md, csv, jsonl), CSV parsed back strictly, HTML
//! self-contained and valid, JUnit cases, no planted secret anywhere, `--all` over a period.

use super::*;
use crate::support::validators::validator;

fn text(format: &str) -> String {
    String::from_utf8(export(format)).expect("exports are UTF-8")
}

fn journal_lines() -> usize {
    std::fs::read_to_string(&scenario().journal).unwrap().lines().count()
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("markdown", stable(&text("md")));
}

#[test]
fn csv_snapshot() {
    insta::assert_snapshot!("csv", stable(&text("csv")).replace("\r\n", "⏎\n"));
}

#[test]
fn jsonl_snapshot_and_it_is_the_journal_verbatim() {
    let bytes = export("jsonl");
    assert_eq!(bytes, std::fs::read(&scenario().journal).unwrap());
    insta::assert_snapshot!("jsonl", stable(&String::from_utf8(bytes).unwrap()));
}

/// A strict RFC 4180 parser: CRLF records, quoted fields with doubled quotes, nothing after a
/// closing quote but a comma or the record end, and the file ends with CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut i = 0;
    let mut at_field_start = true;
    while i < chars.len() {
        let c = chars[i];
        if at_field_start && c == '"' {
            i += 1;
            loop {
                assert!(i < chars.len(), "unterminated quoted field");
                if chars[i] == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        field.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                field.push(chars[i]);
                i += 1;
            }
            assert!(
                matches!(chars.get(i), Some(',') | Some('\r')),
                "garbage after a closing quote at char {i}"
            );
            at_field_start = false;
            continue;
        }
        match c {
            ',' => {
                row.push(std::mem::take(&mut field));
                at_field_start = true;
                i += 1;
            }
            '\r' => {
                assert_eq!(chars.get(i + 1), Some(&'\n'), "a CR not followed by LF at char {i}");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                at_field_start = true;
                i += 2;
            }
            '\n' => panic!("a bare LF outside quotes at char {i}"),
            '"' => panic!("a quote inside an unquoted field at char {i}"),
            _ => {
                field.push(c);
                at_field_start = false;
                i += 1;
            }
        }
    }
    assert!(row.is_empty() && field.is_empty(), "the last record does not end with CRLF");
    rows
}

#[test]
fn csv_parses_back_strictly_one_row_per_journal_entry_and_is_formula_safe() {
    let csv = text("csv");
    assert!(!csv.starts_with('\u{feff}'));
    let rows = parse_csv(&csv);
    assert_eq!(rows[0][0], "seq");
    assert_eq!(rows[0].len(), 20, "{:?}", rows[0]);
    assert_eq!(rows.len() - 1, journal_lines(), "one row per journal entry");
    for (n, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 20, "row {n} has {} cells", r.len());
        for cell in r {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "row {n}: a cell a spreadsheet would evaluate: {cell}"
            );
        }
        if n > 0 {
            assert_eq!(r[0], (n - 1).to_string(), "seq column");
        }
    }
    // The formula the runbook label and the evidence try survive as text, behind a quote.
    assert!(rows.iter().flatten().any(|c| c.starts_with("'=mailed soc@example.com")));
    let effects: Vec<_> =
        rows.iter().filter(|r| r[2] == "effect_recorded" && r[12] == "PUT").collect();
    assert_eq!(effects.len(), 2, "two fake Azure calls");
    assert!(effects.iter().all(|r| r[14] == "200"
        && r[15].starts_with("req-audit-1-")
        && r[16].starts_with("corr-audit-1-")
        && r[13].contains("/providers/Microsoft.Security/securityConnectors/ado-main")));
    let approved = rows.iter().find(|r| r[2] == "approved").expect("an approval row");
    assert_eq!(approved[3], "go-ahead");
    assert!(!approved[6].is_empty(), "the approver's OS user");
    assert!(approved[17].contains("CHG-42"));
}

#[test]
fn html_is_self_contained_and_shows_the_record() {
    let html = text("html");
    for forbidden in ["<script", "src=", "href=", "<link", "@import", "url(", "//fonts"] {
        assert!(!html.contains(forbidden), "the HTML contains {forbidden}");
    }
    // The only URL is the one the runbook's label plants, and it stays inert, escaped text.
    assert_eq!(html.matches("http").count(), html.matches("http://evil.example/").count());
    assert!(!html.contains("https://"));
    assert!(html.contains(r"&#x3D;HYPERLINK(\&quot;http://evil.example/"), "{html}");
    for expected in [
        "audit-scenario",
        "go-ahead",
        "CHG-42",
        "INC-7",
        "nothing to clean",
        "Timeline",
        "req-audit-1-",
        "Hash chain",
        "simulated failure of attempt 1",
        "SHA256:",
        "&lt;b&gt;the SOC&lt;/b&gt;",
    ] {
        assert!(html.contains(expected), "the HTML lacks {expected}");
    }
}

#[test]
fn html_passes_the_nu_html_checker() {
    let Some(jar) = validator("LIFEBOAT_TEST_VNU_JAR", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.html");
    std::fs::write(&file, export("html")).unwrap();
    let out = Command::new("java")
        .arg("-jar")
        .arg(&jar)
        .args(["--errors-only", "--format", "text"])
        .arg(&file)
        .output()
        .expect("java runs");
    assert!(
        out.status.success(),
        "vnu rejected the audit HTML:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn junit_has_one_testcase_per_step_instance() {
    let x = text("junit");
    assert_eq!(x.matches("<testcase ").count(), 5, "{x}");
    assert!(x.contains("tests=\"5\" failures=\"0\" errors=\"0\" skipped=\"1\""), "{x}");
    assert!(
        x.contains("<skipped message=\"the old connector is already gone, nothing to clean\"/>")
    );
    assert!(x.contains("attempt 1:") && x.contains("simulated failure of attempt 1"));
}

#[test]
fn no_planted_secret_reaches_any_export() {
    let s = scenario();
    let mut texts = vec![("journal", std::fs::read_to_string(&s.journal).unwrap())];
    for f in ["jsonl", "csv", "html", "md", "junit"] {
        texts.push((f, text(f)));
    }
    for (name, t) in &texts {
        for secret in [SECRET_CODE, ENV_TOKEN, ENV_CLIENT_SECRET] {
            assert!(!t.contains(secret), "{name} export contains the planted secret {secret}");
        }
    }
    // The secret is there as a redaction marker: its output and parameter are recorded, hidden.
    let md = text("md");
    assert!(md.contains("| code | \\(secret, redacted\\) |"), "{md}");
    assert!(md.contains("\"token\":{\"redacted\":true"), "{md}");
}

#[test]
fn export_to_a_file_and_of_a_run_directory_or_journal_path() {
    let s = scenario();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.md");
    run_ok(
        lifeboat(&s.state)
            .args(["audit", "export"])
            .arg(s.journal.parent().unwrap())
            .args(["--format", "md", "-o"])
            .arg(&out),
        &[0],
    );
    assert_eq!(std::fs::read(&out).unwrap(), export("md"));
    let by_path = run_ok(
        lifeboat(&s.state).args(["audit", "export"]).arg(&s.journal).args(["--format", "csv"]),
        &[0],
    );
    assert_eq!(by_path.stdout, export("csv"));
}

#[test]
fn export_all_writes_every_run_of_the_period_and_an_index() {
    let s = scenario();
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        lifeboat(&s.state)
            .args(["audit", "export", "--all", "--since", "2000-01-01", "--format", "csv", "-o"])
            .arg(dir.path()),
        &[0],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("exported 1 run(s)"));
    assert_eq!(std::fs::read(dir.path().join("audit-1.csv")).unwrap(), export("csv"));
    let index = std::fs::read_to_string(dir.path().join("index.csv")).unwrap();
    let rows = parse_csv(&index);
    assert_eq!(rows.len(), 2, "{index}");
    assert_eq!(rows[1][0], "audit-1");
    assert_eq!(rows[1][3], "succeeded");
    // A period before the run exports nothing.
    let empty = tempfile::tempdir().unwrap();
    let out = run_ok(
        lifeboat(&s.state)
            .args([
                "audit",
                "export",
                "--all",
                "--since",
                "2000-01-01",
                "--until",
                "2000-12-31",
                "--format",
                "md",
                "-o",
            ])
            .arg(empty.path()),
        &[0],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("exported 0 run(s)"));
}

#[test]
fn bad_input_exits_2_with_a_hint() {
    let s = scenario();
    let out =
        run_ok(lifeboat(&s.state).args(["audit", "export", "no-such-run", "--format", "md"]), &[2]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run no-such-run does not exist") && err.contains("runs list"), "{err}");
    let out = run_ok(
        lifeboat(&s.state).args([
            "audit",
            "export",
            "--all",
            "--since",
            "last tuesday",
            "--format",
            "md",
            "-o",
            "x",
        ]),
        &[2],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a date"));
    let out = run_ok(
        lifeboat(&s.state).args(["audit", "verify", RUN_ID, "--public-key"]).arg(&s.journal),
        &[2],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not an Ed25519 public key"), "{err}");
    assert!(!err.contains("\"seq\""), "the key error quotes the file: {err}");
}
