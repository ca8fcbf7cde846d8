//! Issue 15, item 4: status a person reads, through the real binary. Branches are labelled by
//! their connector (`promote[ado-weu]`) in status, `--watch`, the runs list and the audit
//! export; `approve`/`attest`/`skip` take the label (and `#N` still); an unknown label is bad
//! input listing the branches, with nothing journaled; duplicate names fall back to `#N`;
//! "Needs you now" comes first with the exact commands; each connector shows its old and new
//! connector ID and its ticket; times are local, to the second, with the offset (TZ); and
//! `status --output json` validates against `docs/status.schema.json`, paused and finished.

use crate::engine::common::lifeboat;
use crate::support::cli::text;
use lifeboat::journal;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-dr/providers/Microsoft.Security/securityConnectors";

/// Two connectors, each created, its ticket filed by a person, then promoted after approval.
fn runbook(dir: &Path, names: &[&str]) -> PathBuf {
    let items: String = names
        .iter()
        .map(|n| format!("\n          - {{name: {n}, resource_id: {SUB}/{n}}}"))
        .collect();
    let text = format!(
        r#"apiVersion: lifeboat/v1
metadata:
  name: labels
  concurrency: 4
steps:
  - id: discover
    uses: test.idempotent
    with:
      effect_file: FX
      outputs:
        connectors:{items}
  - id: create
    uses: test.idempotent
    needs: [discover]
    for_each: "{{{{ steps.discover.outputs.connectors }}}}"
    with:
      effect_file: FX
      outputs:
        old_resource_id: "{{{{ item.resource_id }}}}"
        new_resource_id: "{{{{ item.resource_id }}}}-westeurope"
  - id: file-support-request
    uses: manual.task
    needs: [create]
    for_each: "{{{{ steps.discover.outputs.connectors }}}}"
    with:
      instructions: "File the support request for {{{{ item.name }}}}"
  - id: promote
    uses: gate.approval
    needs: [file-support-request]
    for_each: "{{{{ steps.discover.outputs.connectors }}}}"
    with:
      prompt: "Promote the new connector of {{{{ item.name }}}}?"
"#
    )
    .replace("FX", &dir.join("fx").display().to_string());
    let rb = dir.join("labels.yaml");
    std::fs::write(&rb, text).unwrap();
    rb
}

struct Run {
    dir: tempfile::TempDir,
    tz: &'static str,
}

impl Run {
    fn new(tz: &'static str) -> Run {
        Run { dir: tempfile::tempdir().unwrap(), tz }
    }
    fn state(&self) -> &Path {
        self.dir.path()
    }
    fn cmd(&self, args: &[&str], expect: i32) -> Output {
        let out = lifeboat(self.state()).env("TZ", self.tz).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(expect), "lifeboat {args:?}\n{}", text(&out));
        out
    }
    fn stdout(&self, args: &[&str]) -> String {
        String::from_utf8(self.cmd(args, 0).stdout).unwrap()
    }
    fn json(&self, run: &str) -> Value {
        serde_json::from_str(&self.stdout(&["status", run, "--output", "json"])).unwrap()
    }
    fn journal(&self, run: &str) -> String {
        std::fs::read_to_string(self.state().join("runs").join(run).join(journal::JOURNAL_FILE))
            .unwrap()
    }
    fn start(&self, run: &str, names: &[&str]) {
        let rb = runbook(self.state(), names);
        self.cmd(&["run", &rb.display().to_string(), "--run-id", run], 3);
    }
}

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::meta::validate(&schema).expect("a valid draft 2020-12 schema");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> =
        v.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "status JSON violates docs/status.schema.json:\n{}\n{doc:#}",
        errors.join("\n")
    );
}

/// Times a person reads: `YYYY-MM-DD HH:MM:SS +05:30` (the zone the test sets), never RFC 3339
/// with nanoseconds.
fn local_times(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for i in 0..b.len().saturating_sub(25) {
        let s = &b[i..i + 26];
        let shape = s.iter().enumerate().all(|(k, &c)| match k {
            4 | 7 => c == b'-',
            10 | 19 => c == b' ',
            13 | 16 | 23 => c == b':',
            20 => c == b'+' || c == b'-',
            _ => c.is_ascii_digit(),
        });
        if shape && (i == 0 || !b[i - 1].is_ascii_digit()) {
            out.push(String::from_utf8_lossy(s).into_owned());
        }
    }
    out
}

/// No RFC 3339 time (`2026-12-06T10:15:31...`) where a person reads.
fn no_machine_times(text: &str) {
    let b = text.as_bytes();
    for i in 0..b.len().saturating_sub(19) {
        let rfc = b[i..i + 4].iter().all(u8::is_ascii_digit)
            && b[i + 4] == b'-'
            && b[i + 10] == b'T'
            && b[i + 13] == b':';
        let shown = String::from_utf8_lossy(&b[i..(i + 30).min(b.len())]).into_owned();
        assert!(!rfc, "an RFC 3339 time where a person reads: {shown}");
    }
}

#[test]
fn status_reads_by_connector_and_takes_labels_as_input() {
    let r = Run::new("<+0530>-5:30");
    let v = validator();
    r.start("L1", &["ado-weu", "gh-weu"]);

    // The paused run: what needs a person comes first, with the exact commands.
    let status = r.stdout(&["status", "L1"]);
    let first: Vec<&str> = status.lines().take(5).collect();
    assert_eq!(first[..2], ["run L1: paused", "runbook: labels"], "{status}");
    assert!(first[2].starts_with("waits for: a person: attestation of file-support-request[ado-weu], file-support-request[gh-weu]"), "{status}");
    assert_eq!(first[4], "Needs you now", "{status}");
    let needs = status.find("Needs you now").unwrap();
    let connectors = status.find("\nConnectors\n").expect("a connectors section");
    let steps = status.find("\nSteps\n").expect("a steps section");
    assert!(needs < connectors && connectors < steps, "{status}");
    for want in [
        "  file-support-request[ado-weu] is a manual task: do it, then attest it: File the support request for ado-weu",
        "    lifeboat attest L1 'file-support-request[ado-weu]' --evidence TEXT",
        "    lifeboat attest L1 'file-support-request[gh-weu]' --evidence TEXT",
        "  then continue with: lifeboat resume L1",
        "  ado-weu: now at file-support-request[ado-weu] (awaiting-attestation)",
        &format!("old connector   {SUB}/ado-weu\n"),
        &format!("new connector   {SUB}/ado-weu-westeurope\n"),
        "support ticket  none yet",
        "\ncreate[gh-weu]  ",
    ] {
        assert!(status.contains(want), "status lacks {want:?}:\n{status}");
    }
    assert!(!status.contains('#'), "every branch has a label: {status}");
    no_machine_times(&status);
    let times = local_times(&status);
    assert!(!times.is_empty() && times.iter().all(|t| t.ends_with(" +05:30")), "{status}");

    // The same as JSON, against the schema.
    let doc = r.json("L1");
    assert_valid(&v, &doc);
    assert_eq!(doc["schema_version"], "1.1");
    assert_eq!(
        (doc["run"].as_str(), doc["runbook"].as_str(), doc["state"].as_str()),
        (Some("L1"), Some("labels"), Some("paused"))
    );
    assert_eq!(doc["needs_you"][0]["instance"], "file-support-request[ado-weu]");
    assert_eq!(doc["needs_you"][0]["reason"], "attestation");
    assert_eq!(
        doc["needs_you"][0]["commands"][0],
        "lifeboat attest L1 'file-support-request[ado-weu]' --evidence TEXT"
    );
    assert_eq!(doc["pending_requests"], serde_json::json!([]));
    assert_eq!(doc["connectors"][1]["label"], "gh-weu");
    assert_eq!(doc["connectors"][1]["new_connector_id"], format!("{SUB}/gh-weu-westeurope"));
    assert_eq!(doc["connectors"][1]["ticket"], Value::Null);
    // A local time in the text is the JSON's UTC time at +05:30, to the second.
    let started = doc["steps"][0]["started"].as_str().unwrap();
    assert!(started.ends_with('Z'), "{started}");
    let utc = time::OffsetDateTime::parse(started, &time::format_description::well_known::Rfc3339)
        .unwrap();
    let shown = lifeboat::text::time_at_offset(utc, time::UtcOffset::from_hms(5, 30, 0).unwrap());
    assert!(status.contains(&shown), "{shown} not in:\n{status}");

    // Bad labels: exit 2, the branches listed, nothing journaled.
    let before = r.journal("L1");
    let out = r.cmd(&["attest", "L1", "file-support-request[nope]", "--evidence", "x"], 2);
    let err = text(&out);
    assert!(err.contains("step file-support-request has no branch [nope]"), "{err}");
    assert!(err.contains("file-support-request[ado-weu], file-support-request[gh-weu]"), "{err}");
    let out = r.cmd(&["skip", "L1", "discover[ado-weu]", "--reason", "x"], 2);
    assert!(text(&out).contains("step discover is not fanned out"), "{}", text(&out));
    let out = r.cmd(&["approve", "L1", "promote[ado-weu"], 2);
    assert!(text(&out).contains("is not a step name"), "{}", text(&out));
    let out = r.cmd(&["approve", "L1", "promote[ado-weu]", "--all"], 2);
    assert!(text(&out).contains("names one branch and --all"), "{}", text(&out));
    assert_eq!(r.journal("L1"), before, "nothing journaled");

    // The label, and the index as before: both name the same kind of thing.
    let out = r.stdout(&[
        "attest",
        "L1",
        "file-support-request[ado-weu]",
        "--evidence",
        "ticket 2412060010001234",
    ]);
    assert!(out.starts_with("attested file-support-request[ado-weu] of run L1"), "{out}");
    let out = r.stdout(&[
        "attest",
        "L1",
        "file-support-request#1",
        "--evidence",
        "ticket 2412060010005678",
    ]);
    assert!(out.starts_with("attested file-support-request[gh-weu] of run L1"), "{out}");
    r.cmd(&["resume", "L1"], 3);
    let status = r.stdout(&["status", "L1"]);
    for want in [
        "support ticket  ticket 2412060010001234",
        "support ticket  ticket 2412060010005678",
        "    lifeboat approve L1 'promote[gh-weu]' --comment TEXT",
        "  gh-weu: now at promote[gh-weu] (awaiting-approval)",
    ] {
        assert!(status.contains(want), "status lacks {want:?}:\n{status}");
    }
    assert_eq!(r.json("L1")["connectors"][0]["ticket"], "ticket 2412060010001234");
    r.stdout(&["approve", "L1", "promote[ado-weu]", "--comment", "ok"]);
    r.stdout(&["approve", "L1", "promote[gh-weu]"]);
    r.cmd(&["resume", "L1"], 0);

    // Finished: nothing needs anybody, every connector is done, and the JSON still validates.
    let status = r.stdout(&["status", "L1"]);
    assert!(status.contains("Needs you now: nothing, the run succeeded"), "{status}");
    assert!(status.contains("  ado-weu: all steps done"), "{status}");
    let doc = r.json("L1");
    assert_valid(&v, &doc);
    assert_eq!(doc["state"], "succeeded");
    assert_eq!(doc["waits_for"], Value::Null);
    assert_eq!(doc["connectors"][0]["current_step"], Value::Null);
    let names: Vec<&str> =
        doc["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "discover",
            "create[ado-weu]",
            "create[gh-weu]",
            "file-support-request[ado-weu]",
            "file-support-request[gh-weu]",
            "promote[ado-weu]",
            "promote[gh-weu]"
        ]
    );

    // The runs list names the runbook and the state; --watch and the audit export the labels.
    let list = r.stdout(&["status"]);
    let row = list.lines().find(|l| l.starts_with("L1 ")).unwrap();
    assert!(row.contains("labels") && row.contains("succeeded"), "{list}");
    assert_eq!(local_times(row).len(), 1, "{row}");
    no_machine_times(&list);
    let watch = r.stdout(&["status", "L1", "--watch", "--interval", "50ms"]);
    assert!(watch.contains("promote[gh-weu] succeeded attempt 1"), "{watch}");
    assert!(local_times(&watch).iter().all(|t| t.ends_with(" +05:30")), "{watch}");
    no_machine_times(&watch);
    for format in ["csv", "md", "html"] {
        let export = r.stdout(&["audit", "export", "L1", "--format", format]);
        // Markdown escapes the brackets (`promote\[ado-weu\]` reads `promote[ado-weu]`).
        let export =
            if format == "md" { export.replace("\\[", "[").replace("\\]", "]") } else { export };
        assert!(
            export.contains("promote[ado-weu]") && export.contains("file-support-request[gh-weu]"),
            "{format}: {export}"
        );
        assert!(!export.contains("promote#"), "{format}: {export}");
        if format != "csv" {
            assert!(!local_times(&export).is_empty(), "{format}: local times");
            no_machine_times(&export.replace("datetime=", ""));
        }
    }
}

#[test]
fn duplicate_names_keep_the_branch_index() {
    let r = Run::new("UTC");
    r.start("D1", &["dup", "dup", "solo"]);
    let doc = r.json("D1");
    let names: Vec<&str> = doc["needs_you"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["instance"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["file-support-request#0", "file-support-request#1", "file-support-request[solo]"]
    );
    assert_eq!(doc["connectors"][0]["label"], Value::Null);
    let status = r.stdout(&["status", "D1"]);
    assert!(status.contains("  dup (branch #1): now at file-support-request#1"), "{status}");
    assert!(
        status.contains("lifeboat attest D1 file-support-request#0 --evidence TEXT"),
        "{status}"
    );
    // A name two connectors share is no label: refused, listing what the branches are called.
    let before = r.journal("D1");
    let out = r.cmd(&["attest", "D1", "file-support-request[dup]", "--evidence", "x"], 2);
    assert!(text(&out).contains("its branches: file-support-request#0, file-support-request#1, file-support-request[solo]"), "{}", text(&out));
    assert_eq!(r.journal("D1"), before, "nothing journaled");
    let out = r.stdout(&["attest", "D1", "file-support-request", "--all", "--evidence", "t"]);
    assert!(
        out.contains(
            "attested file-support-request#0, file-support-request#1, file-support-request[solo]"
        ),
        "{out}"
    );
}

#[test]
fn a_label_template_chooses_the_labels_and_is_validated_like_any_template() {
    let r = Run::new("UTC");
    let rb = r.state().join("lt.yaml");
    let body = |extra: &str| {
        format!(
            r#"apiVersion: lifeboat/v1
metadata:
  name: lt
params:
  regions: {{type: list, default: [westeurope, northeurope, westeurope]}}
steps:
  - id: go
    uses: gate.approval
    for_each: "{{{{ params.regions }}}}"
{extra}    with:
      prompt: "Go?"
"#
        )
    };
    // Plain strings have no name; the template labels them, a duplicate keeps its index.
    std::fs::write(&rb, body("    label: \"dr-{{ item }}\"\n")).unwrap();
    r.cmd(&["run", &rb.display().to_string(), "--run-id", "T1"], 3);
    let doc = r.json("T1");
    let names: Vec<&str> =
        doc["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["go#0", "go[dr-northeurope]", "go#2"]);
    r.stdout(&["approve", "T1", "go[dr-northeurope]"]);
    // Bad label templates are refused before anything runs, naming the place.
    for (extra, want) in [
        ("    label: \"{{ item.nope.x }}\"\n", ""),
        ("    label: \"{{ steps.missing.outputs.x }}\"\n", "lt.yaml:10:"),
        ("    label: [a]\n", "label of step 'go' must be a string"),
    ] {
        std::fs::write(&rb, body(extra)).unwrap();
        if want.is_empty() {
            // A path into the item is only known at run time: no label, the index stays.
            r.cmd(&["run", &rb.display().to_string(), "--run-id", "T2"], 3);
            assert_eq!(r.json("T2")["steps"][1]["name"], "go#1");
            continue;
        }
        let out = r.cmd(&["run", &rb.display().to_string(), "--run-id", "T3"], 2);
        assert!(text(&out).contains(want), "{extra}: {}", text(&out));
        assert!(!r.state().join("runs/T3").exists());
    }
    let without = r#"apiVersion: lifeboat/v1
metadata:
  name: lt
steps:
  - id: go
    uses: gate.approval
    label: "x"
    with:
      prompt: "Go?"
"#;
    std::fs::write(&rb, without).unwrap();
    let out = r.cmd(&["run", &rb.display().to_string(), "--run-id", "T3"], 2);
    assert!(
        text(&out).contains("label of step 'go' names branches, but the step has no for_each"),
        "{}",
        text(&out)
    );
}

#[test]
fn failures_and_interrupted_one_shot_steps_need_a_person_with_the_right_command() {
    use crate::engine::common::{actor, plan, Harness};
    use lifeboat::cli::status::RunStatus;
    let mut h = Harness::new(plan(
        "needs",
        4,
        r#"params:
  connectors: {type: list, default: [ado-weu, gh-weu]}
steps:
  - id: create
    uses: test.idempotent
    for_each: "{{ params.connectors }}"
    label: "{{ item }}"
    retry: {max_attempts: 1}
    with: {effect_file: /dev/null}
  - id: delete
    uses: test.oneshot
    for_each: "{{ params.connectors }}"
    label: "{{ item }}"
    with: {effect_file: /dev/null}
"#,
    ));
    h.start_all();
    h.fail("create", Some(0), true);
    h.fail("create", Some(1), false);
    // A restart while the one-shot deletes were running parks them for a person.
    h.ev(lifeboat::engine::Event::Resumed { by: actor(), took_over_from: None });
    let header = serde_json::json!({"runbook": {"name": "needs"}});
    let status = RunStatus::build("run-1", &h.engine, &header);
    let doc = serde_json::to_value(&status).unwrap();
    assert_valid(&validator(), &doc);
    let needs: Vec<(&str, &str, Vec<&str>)> = doc["needs_you"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let commands = n["commands"].as_array().unwrap().iter().map(|c| c.as_str().unwrap());
            (n["reason"].as_str().unwrap(), n["instance"].as_str().unwrap(), commands.collect())
        })
        .collect();
    assert_eq!(
        needs,
        [
            ("failed", "create[ado-weu]", vec!["lifeboat resume run-1"]),
            (
                "failed",
                "create[gh-weu]",
                vec!["lifeboat skip run-1 'create[gh-weu]' --reason TEXT"]
            ),
            (
                "interrupted",
                "delete[ado-weu]",
                vec![
                    "lifeboat attest run-1 'delete[ado-weu]' --evidence TEXT",
                    "lifeboat skip run-1 'delete[ado-weu]' --reason TEXT"
                ]
            ),
            (
                "interrupted",
                "delete[gh-weu]",
                vec![
                    "lifeboat attest run-1 'delete[gh-weu]' --evidence TEXT",
                    "lifeboat skip run-1 'delete[gh-weu]' --reason TEXT"
                ]
            ),
        ]
    );
    let text = status.render(&h.engine.snapshot(), h.now);
    assert!(text.contains("  create[ado-weu] failed: boom\n    lifeboat resume run-1\n"), "{text}");
    assert!(text.contains("  delete[gh-weu] was interrupted and must never run twice"), "{text}");
    assert!(text.contains("  then continue with: lifeboat resume run-1"), "{text}");
    assert!(status.waits_for.as_deref().is_some_and(|w| w.starts_with(
        "a person: a check of interrupted delete[ado-weu], delete[gh-weu]; failed create[ado-weu], create[gh-weu]"
    )), "{:?}", status.waits_for);
    // No connector items (plain strings): no connectors section.
    assert!(status.connectors.is_empty() && !text.contains("Connectors"), "{text}");
}
