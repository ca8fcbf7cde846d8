//! `junit.xml`: the drill as JUnit test cases.

use super::{rfc3339, DrillReport, Scenario, StepResult, TAMPERED_SNAPSHOT};
use crate::text::xml_escape;
use std::fmt::Write as _;

/// JUnit `time` attributes: seconds with three decimals, no exponent, never negative.
fn junit_time(s: f64) -> String {
    format!("{:.3}", if s.is_finite() { s.max(0.0) } else { 0.0 })
}

/// `junit.xml`: a `<testsuites>` with one `<testsuite>` for the drill, one `<testcase>` per step
/// (classname `drill.steps`) and per verification (`drill.verify`), plus `drill.verdict`.
/// Failed steps are `<failure>`, interrupted ones `<error>`, skipped ones `<skipped/>`. In a
/// `tampered-backup` drill, the step that refused the tampered restore failed *as expected*: it
/// is reported as passed with the explanation in `<system-out>`, so a pipeline that fails on
/// failed tests agrees with the verdict. The Jenkins/Surefire shape that Azure Pipelines
/// (`PublishTestResults`, JUnit format) and GitHub Actions test reporters read.
pub fn render_junit(r: &DrillReport) -> String {
    struct Case {
        name: String,
        classname: &'static str,
        time: f64,
        body: String,
        failure: bool,
        error: bool,
        skipped: bool,
    }
    let expected_fail: Vec<&str> = if r.scenario == Scenario::TamperedBackup {
        r.detected
            .iter()
            .filter(|d| d.kind == TAMPERED_SNAPSHOT && d.restore_refused)
            .filter_map(|d| d.step.as_deref())
            .collect()
    } else {
        Vec::new()
    };
    let mut cases = Vec::new();
    for s in &r.steps {
        let mut case = Case {
            name: s.label(),
            classname: "drill.steps",
            time: s.duration_seconds,
            body: String::new(),
            failure: false,
            error: false,
            skipped: false,
        };
        let msg = s.error.clone().unwrap_or_else(|| format!("step {}", s.result.as_str()));
        let detail = format!(
            "kind: {}\nattempts: {}\nstarted: {}\nfinished: {}\n{}",
            s.kind,
            s.attempts,
            rfc3339(s.started_at),
            rfc3339(s.finished_at),
            s.error.as_deref().unwrap_or("")
        );
        match s.result {
            StepResult::Succeeded => {}
            StepResult::Failed if expected_fail.contains(&s.id.as_str()) => {
                case.body = format!(
                    "<system-out>{}</system-out>",
                    xml_escape(&format!("failed as the tampered-backup drill expects: {msg}"))
                );
            }
            StepResult::Failed => {
                case.failure = true;
                case.body = format!(
                    "<failure message=\"{}\" type=\"step-failed\">{}</failure>",
                    xml_escape(&msg),
                    xml_escape(&detail)
                );
            }
            StepResult::Interrupted => {
                case.error = true;
                case.body = format!(
                    "<error message=\"{}\" type=\"step-interrupted\">{}</error>",
                    xml_escape(&msg),
                    xml_escape(&detail)
                );
            }
            StepResult::Skipped => {
                case.skipped = true;
                case.body = format!("<skipped message=\"{}\"/>", xml_escape(&msg));
            }
        }
        cases.push(case);
    }
    for v in &r.verifications {
        let name = match &v.resource_id {
            Some(id) => format!("{} ({id})", v.name),
            None => v.name.clone(),
        };
        let mut case = Case {
            name,
            classname: "drill.verify",
            time: 0.0,
            body: String::new(),
            failure: false,
            error: false,
            skipped: false,
        };
        if !v.passed {
            case.failure = true;
            let text = format!(
                "expected: {}\nactual: {}\n{}",
                v.expected.as_deref().unwrap_or("n/a"),
                v.actual.as_deref().unwrap_or("n/a"),
                v.detail
            );
            case.body = format!(
                "<failure message=\"{}\" type=\"verification-failed\">{}</failure>",
                xml_escape(&v.detail),
                xml_escape(&text)
            );
        }
        cases.push(case);
    }
    let mut verdict = Case {
        name: "verdict".into(),
        classname: "drill.verdict",
        time: r.wall_clock_seconds,
        body: String::new(),
        failure: false,
        error: false,
        skipped: false,
    };
    let reasons = r.verdict.reasons.join("\n");
    if r.verdict.passed {
        verdict.body = format!("<system-out>{}</system-out>", xml_escape(&reasons));
    } else {
        verdict.failure = true;
        let first = r.verdict.reasons.first().cloned().unwrap_or_else(|| "drill failed".into());
        verdict.body = format!(
            "<failure message=\"{}\" type=\"drill-verdict\">{}</failure>",
            xml_escape(&first),
            xml_escape(&reasons)
        );
    }
    cases.push(verdict);

    let tests = cases.len();
    let failures = cases.iter().filter(|c| c.failure).count();
    let errors = cases.iter().filter(|c| c.error).count();
    let skipped = cases.iter().filter(|c| c.skipped).count();
    let suite_time = junit_time(r.wall_clock_seconds);
    let suite_name = format!("lifeboat drill {} ({})", r.scenario.as_str(), r.run_id);
    // Surefire's timestamp is a local date-time without offset; the report's start is UTC-based.
    let ts = r.started_at.to_offset(time::UtcOffset::UTC);
    let timestamp = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        ts.year(),
        u8::from(ts.month()),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    );

    let mut props: Vec<(&str, String)> = vec![
        ("schema", r.schema.clone()),
        ("run_id", r.run_id.clone()),
        ("scenario", r.scenario.as_str().into()),
        ("mode", r.mode.as_str().into()),
        ("tenant", r.tenant.clone()),
        ("outage_region", r.outage.region.clone()),
        ("target_region", r.target_region.clone()),
        ("recovery_verified", r.recovery.verified.to_string()),
        ("verdict", r.verdict.word().to_ascii_lowercase()),
    ];
    let num = |o: Option<f64>| o.map(|v| v.to_string()).unwrap_or_default();
    props.push(("rto_seconds", num(r.rto.seconds)));
    props.push(("rto_support_wait_seconds", r.rto.support_wait_seconds.to_string()));
    props.push(("rto_excluding_support_wait_seconds", num(r.rto.excluding_support_wait_seconds)));
    props.push(("rto_target_seconds", num(r.rto.target_seconds)));
    props.push(("rpo_seconds", num(r.rpo.seconds)));
    props.push(("rpo_target_seconds", num(r.rpo.target_seconds)));
    props.push(("rpo_backup_id", r.rpo.backup_id.clone().unwrap_or_default()));
    props.push(("api_calls", r.api.totals.calls.to_string()));
    props.push(("api_throttled_429", r.api.totals.throttled_429.to_string()));

    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"lifeboat drill\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{suite_time}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{suite_time}\" timestamp=\"{timestamp}\" id=\"{}\" package=\"drill\">",
        xml_escape(&suite_name),
        xml_escape(&r.run_id)
    );
    x.push_str("    <properties>\n");
    for (name, value) in props {
        let _ = writeln!(x, "      <property name=\"{name}\" value=\"{}\"/>", xml_escape(&value));
    }
    x.push_str("    </properties>\n");
    for c in cases {
        let open = format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            xml_escape(&c.name),
            c.classname,
            junit_time(c.time)
        );
        if c.body.is_empty() {
            let _ = writeln!(x, "{open}/>");
        } else {
            let _ = writeln!(x, "{open}>{}</testcase>", c.body);
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
