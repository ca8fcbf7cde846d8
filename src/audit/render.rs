//! The export formats of an [`AuditRecord`]: CSV (one row per journal entry, RFC 4180, CRLF,
//! formula-safe), Markdown (summary and event table), HTML (one self-contained file via the
//! embedded `templates/audit-report.html.hbs`), JUnit (one test case per step instance). The
//! JSONL export is the journal's bytes (see [`super`]), so it has no renderer.
//!
//! Every text is passed through `drill::report::clean_text` (no control characters) and escaped
//! for its format; the HTML has no script and no external URL.

use super::{AuditEvent, AuditRecord};
use crate::drill::report::clean_text;
use serde_json::{json, Value};
use time::OffsetDateTime;

const HTML_TEMPLATE: &str = include_str!("../../templates/audit-report.html.hbs");

/// The CSV columns, in order (documented in `docs/auditor.md`).
pub const CSV_COLUMNS: &[&str] = &[
    "seq",
    "time",
    "event",
    "step",
    "attempt",
    "result",
    "user",
    "host",
    "azure_principal_name",
    "azure_principal_id",
    "method",
    "resource",
    "http_status",
    "request_id",
    "correlation_id",
    "detail",
    "prev_hash",
    "hash",
];

fn ts(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn row(e: &AuditEvent) -> Vec<String> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        e.seq.to_string(),
        ts(e.time),
        e.event.clone(),
        o(&e.step),
        e.attempt.map(|a| a.to_string()).unwrap_or_default(),
        o(&e.result),
        o(&e.user),
        o(&e.host),
        o(&e.azure_principal_name),
        o(&e.azure_principal_id),
        o(&e.method),
        o(&e.resource),
        e.http_status.map(|s| s.to_string()).unwrap_or_default(),
        o(&e.request_id),
        o(&e.correlation_id),
        o(&e.detail),
        e.prev_hash.clone(),
        e.hash.clone(),
    ]
}

/// One CSV cell: formula-safe (OWASP: a leading `=`, `+`, `-`, `@`, tab or carriage return gets
/// a `'` in front, so a spreadsheet shows text instead of evaluating it), then RFC 4180 quoted
/// when it holds a comma, quote, or line break.
pub fn csv_cell(value: &str) -> String {
    let mut v = clean_text(value);
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// CSV: a header row, then one row per journal entry; UTF-8 without BOM, CRLF line ends.
pub fn to_csv(r: &AuditRecord) -> String {
    let mut out = String::new();
    let line = |cells: Vec<String>| {
        let mut l = cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",");
        l.push_str("\r\n");
        l
    };
    out.push_str(&line(CSV_COLUMNS.iter().map(|c| c.to_string()).collect()));
    for e in &r.events {
        out.push_str(&line(row(e)));
    }
    out
}

/// A Markdown table cell: no line breaks, pipes and backslashes escaped, HTML-ish characters
/// escaped so a renderer shows them as text.
fn md(s: &str) -> String {
    clean_text(s)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\r', '\n'], " ")
}

fn actor_text(user: &Option<String>, name: &Option<String>, id: &Option<String>) -> String {
    let mut s = user.clone().unwrap_or_default();
    match (name, id) {
        (Some(n), Some(i)) => s.push_str(&format!(" (Azure: {n}, {i})")),
        (Some(n), None) => s.push_str(&format!(" (Azure: {n})")),
        (None, Some(i)) => s.push_str(&format!(" (Azure: {i})")),
        (None, None) => {}
    }
    s
}

fn params_text(r: &AuditRecord) -> Vec<(String, String)> {
    r.params
        .iter()
        .map(|(k, v)| {
            let shown = if crate::journal::is_redacted(v) {
                "(secret, redacted)".to_string()
            } else {
                match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            };
            (k.clone(), shown)
        })
        .collect()
}

/// Markdown: the run's summary, attempts, manual actions, Azure calls, signatures and every
/// journal entry with its hashes.
pub fn to_markdown(r: &AuditRecord) -> String {
    let mut o = String::new();
    o.push_str(&format!("# Audit record of run {}\n\n", md(&r.run_id)));
    o.push_str("| | |\n|---|---|\n");
    o.push_str(&format!("| Runbook | {} (`{}`) |\n", md(&r.runbook_name), md(&r.runbook_path)));
    o.push_str(&format!("| Runbook SHA-256 | `{}` |\n", md(&r.runbook_sha256)));
    o.push_str(&format!("| Status | {} |\n", md(&r.status)));
    o.push_str(&format!("| Started | {} |\n", ts(r.started)));
    o.push_str(&format!("| Last entry | {} |\n", ts(r.last_entry)));
    if let Some(a) = &r.started_by {
        o.push_str(&format!(
            "| Started by | {} on {} |\n",
            md(&actor_text(&Some(a.user.clone()), &a.azure_principal_name, &a.azure_principal)),
            md(&a.host)
        ));
    }
    o.push_str(&format!("| Journal | format {}, {} entries |\n", md(&r.journal_format), r.entries));
    o.push_str(&format!("| Final hash | `{}` |\n", md(&r.final_hash)));
    o.push_str(&format!(
        "| Signatures | {} |\n\n",
        if r.signatures.is_empty() {
            "none".to_string()
        } else {
            r.signatures
                .iter()
                .map(|s| format!("entry {} by key `{}`", s.seq, md(&s.key_fingerprint)))
                .collect::<Vec<_>>()
                .join("; ")
        }
    ));
    o.push_str("## Parameters\n\n");
    if r.params.is_empty() {
        o.push_str("None.\n\n");
    } else {
        o.push_str("| Name | Value |\n|---|---|\n");
        for (k, v) in params_text(r) {
            o.push_str(&format!("| {} | {} |\n", md(&k), md(&v)));
        }
        o.push('\n');
    }
    o.push_str("## Step attempts\n\n");
    o.push_str("| Step | Kind | Attempt | Started | Ended | Result | Error | Inputs | Outputs |\n");
    o.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for a in &r.attempts {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            md(&a.step),
            md(a.uses.as_deref().unwrap_or("")),
            a.attempt,
            ts(a.started),
            a.ended.map(ts).unwrap_or_default(),
            md(&a.result),
            md(a.error.as_deref().unwrap_or("")),
            md(&compact(&a.inputs)),
            md(&a.outputs.as_ref().map(compact).unwrap_or_default()),
        ));
    }
    o.push_str("\n## Approvals, attestations and skips\n\n");
    if r.manual.is_empty() {
        o.push_str("None.\n\n");
    } else {
        o.push_str("| Entry | Time | Action | Step | By | Host | Comment, evidence or reason |\n");
        o.push_str("|---|---|---|---|---|---|---|\n");
        for m in &r.manual {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                m.seq,
                ts(m.time),
                md(&m.action),
                md(m.step.as_deref().unwrap_or("")),
                md(&actor_text(
                    &Some(m.by.user.clone()),
                    &m.by.azure_principal_name,
                    &m.by.azure_principal
                )),
                md(&m.by.host),
                md(m.text.as_deref().unwrap_or("")),
            ));
        }
        o.push('\n');
    }
    o.push_str("## Azure calls\n\n");
    if r.effects.is_empty() {
        o.push_str("None.\n\n");
    } else {
        o.push_str(
            "| Entry | Time | Step | Method | Resource | Status | Request ID | Correlation ID |\n",
        );
        o.push_str("|---|---|---|---|---|---|---|---|\n");
        for e in &r.effects {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                e.seq,
                ts(e.time),
                md(e.step.as_deref().unwrap_or("")),
                md(e.method.as_deref().unwrap_or("")),
                md(e.resource.as_deref().unwrap_or("")),
                e.http_status.map(|s| s.to_string()).unwrap_or_default(),
                md(e.request_id.as_deref().unwrap_or("")),
                md(e.correlation_id.as_deref().unwrap_or("")),
            ));
        }
        o.push('\n');
    }
    o.push_str("## Journal entries\n\n");
    o.push_str("| Seq | Time | Event | Step | Attempt | Result | By | Detail | Hash |\n");
    o.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for e in &r.events {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | `{}` |\n",
            e.seq,
            ts(e.time),
            md(&e.event),
            md(e.step.as_deref().unwrap_or("")),
            e.attempt.map(|a| a.to_string()).unwrap_or_default(),
            md(e.result.as_deref().unwrap_or("")),
            md(&if e.user.is_some() {
                actor_text(&e.user, &e.azure_principal_name, &e.azure_principal_id)
            } else {
                String::new()
            }),
            md(e.detail.as_deref().unwrap_or("")),
            md(&e.hash),
        ));
    }
    o
}

fn compact(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => String::new(),
        other => other.to_string(),
    }
}

fn xml(s: &str) -> String {
    clean_text(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML: one test case per step instance (its last attempt decides), failures carry the
/// error, skips the reason; every attempt is listed in `system-out`.
pub fn to_junit(r: &AuditRecord) -> String {
    let instances = r.instances();
    let mut failures = 0;
    let mut skipped = 0;
    let mut cases = String::new();
    for (step, attempts) in &instances {
        let Some(last) = attempts.last() else { continue };
        let secs =
            last.ended.map(|e| (e - attempts[0].started).as_seconds_f64().max(0.0)).unwrap_or(0.0);
        cases.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{secs:.3}\">\n",
            xml(&r.runbook_name),
            xml(step)
        ));
        match last.result.as_str() {
            "failed" => {
                failures += 1;
                let msg = last.error.clone().unwrap_or_default();
                cases.push_str(&format!(
                    "      <failure message=\"{}\" type=\"step-failed\">{}</failure>\n",
                    xml(&msg),
                    xml(&msg)
                ));
            }
            "skipped" => {
                skipped += 1;
                let reason = r
                    .manual
                    .iter()
                    .rev()
                    .find(|m| m.action == "skipped" && m.step.as_deref() == Some(step))
                    .and_then(|m| m.text.clone())
                    .unwrap_or_default();
                cases.push_str(&format!("      <skipped message=\"{}\"/>\n", xml(&reason)));
            }
            "succeeded" | "approved" | "attested" => {}
            other => {
                failures += 1;
                cases.push_str(&format!(
                    "      <failure message=\"step did not finish: {}\" type=\"step-unfinished\"/>\n",
                    xml(other)
                ));
            }
        }
        let mut out = String::new();
        for a in attempts {
            out.push_str(&format!(
                "attempt {}: {} {} -> {}{}\n",
                a.attempt,
                ts(a.started),
                a.ended.map(ts).unwrap_or_else(|| "-".into()),
                a.result,
                a.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ));
        }
        cases.push_str(&format!("      <system-out>{}</system-out>\n", xml(&out)));
        cases.push_str("    </testcase>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"lifeboat audit {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" timestamp=\"{}\">\n{cases}  </testsuite>\n</testsuites>\n",
        xml(&r.run_id),
        instances.len(),
        xml(&r.runbook_name),
        instances.len(),
        r.started
            .format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]"
            ))
            .unwrap_or_default(),
    )
}

/// An error rendering the HTML template: a bug in the template, never in the record's data.
#[derive(Debug, thiserror::Error)]
#[error("audit report template failed to render")]
pub struct RenderError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// HTML: one self-contained file (inline CSS, no script, no external URL) with a timeline.
pub fn to_html(r: &AuditRecord) -> Result<String, RenderError> {
    let mut hb = handlebars::Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_template_string("audit", HTML_TEMPLATE).map_err(|e| RenderError(Box::new(e)))?;
    hb.render("audit", &html_view(r)).map_err(|e| RenderError(Box::new(e)))
}

/// The template's view: every string cleaned and formatted here, so the template only loops.
fn html_view(r: &AuditRecord) -> Value {
    let c = |s: &str| clean_text(s);
    let o = |s: &Option<String>| clean_text(s.as_deref().unwrap_or(""));
    let result_class = |res: &str| match res {
        "succeeded" | "approved" | "attested" => "ok",
        "failed" | "failed (retryable)" => "bad",
        "skipped" => "neutral",
        _ => "warn",
    };
    let attempts: Vec<Value> = r
        .attempts
        .iter()
        .map(|a| {
            json!({
                "step": c(&a.step), "uses": c(a.uses.as_deref().unwrap_or("")),
                "attempt": a.attempt, "started": ts(a.started),
                "ended": a.ended.map(ts).unwrap_or_default(),
                "result": c(&a.result), "class": result_class(&a.result),
                "error": c(a.error.as_deref().unwrap_or("")),
                "inputs": c(&compact(&a.inputs)),
                "outputs": c(&a.outputs.as_ref().map(compact).unwrap_or_default()),
                "effects": a.effects,
            })
        })
        .collect();
    let manual: Vec<Value> = r
        .manual
        .iter()
        .map(|m| {
            json!({
                "seq": m.seq, "time": ts(m.time), "action": c(&m.action),
                "step": c(m.step.as_deref().unwrap_or("")), "user": c(&m.by.user),
                "host": c(&m.by.host),
                "principal_name": o(&m.by.azure_principal_name),
                "principal_id": o(&m.by.azure_principal),
                "text": c(m.text.as_deref().unwrap_or("")),
            })
        })
        .collect();
    let effects: Vec<Value> = r
        .effects
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq, "time": ts(e.time), "step": o(&e.step), "method": o(&e.method),
                "resource": o(&e.resource),
                "status": e.http_status.map(|s| s.to_string()).unwrap_or_default(),
                "request_id": o(&e.request_id), "correlation_id": o(&e.correlation_id),
            })
        })
        .collect();
    // The timeline: person actions, results and Azure calls, not progress or scratch noise.
    let timeline: Vec<Value> = r
        .events
        .iter()
        .filter(|e| !matches!(e.event.as_str(), "step_progress" | "scratch_saved" | "timer_fired"))
        .map(|e| {
            let who = if e.user.is_some() {
                actor_text(&e.user, &e.azure_principal_name, &e.azure_principal_id)
            } else {
                String::new()
            };
            let what = match (&e.method, &e.resource) {
                (Some(m), Some(res)) => format!(
                    "{m} {res}{}",
                    e.http_status.map(|s| format!(" → {s}")).unwrap_or_default()
                ),
                _ => e.detail.clone().unwrap_or_default(),
            };
            json!({
                "seq": e.seq, "time": ts(e.time), "event": c(&e.event.replace('_', " ")),
                "step": o(&e.step),
                "attempt": e.attempt.map(|a| a.to_string()).unwrap_or_default(),
                "result": o(&e.result),
                "class": result_class(e.result.as_deref().unwrap_or("")),
                "who": c(&who), "what": c(&what),
            })
        })
        .collect();
    let chain: Vec<Value> = r
        .events
        .iter()
        .map(|e| json!({"seq": e.seq, "event": c(&e.event), "prev": c(&e.prev_hash), "hash": c(&e.hash)}))
        .collect();
    let params: Vec<Value> =
        params_text(r).into_iter().map(|(k, v)| json!({"name": c(&k), "value": c(&v)})).collect();
    let started_by = r
        .started_by
        .as_ref()
        .map(|a| {
            format!(
                "{} on {}",
                actor_text(&Some(a.user.clone()), &a.azure_principal_name, &a.azure_principal),
                a.host
            )
        })
        .unwrap_or_default();
    json!({
        "run_id": c(&r.run_id),
        "runbook_name": c(&r.runbook_name),
        "runbook_path": c(&r.runbook_path),
        "runbook_sha256": c(&r.runbook_sha256),
        "status": c(&r.status),
        "status_class": result_class(&r.status),
        "started": ts(r.started),
        "last_entry": ts(r.last_entry),
        "started_by": c(&started_by),
        "journal_format": c(&r.journal_format),
        "entries": r.entries,
        "final_hash": c(&r.final_hash),
        "signatures": r.signatures.iter().map(|s| json!({"seq": s.seq, "time": ts(s.time), "fingerprint": c(&s.key_fingerprint)})).collect::<Vec<_>>(),
        "params": params,
        "attempts": attempts,
        "manual": manual,
        "effects": effects,
        "timeline": timeline,
        "chain": chain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formula_safe() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_cell("bell\u{7}"), "bell\u{fffd}");
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(md("a|b\nc<script>"), "a\\|b c&lt;script&gt;");
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(xml("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
    }
}
