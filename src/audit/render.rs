//! The export formats of an [`AuditRecord`]: CSV (one row per journal entry, RFC 4180, CRLF,
//! formula-safe), Markdown (summary and event table), HTML (one self-contained file via the
//! embedded `templates/audit-report.html.hbs`), JUnit (one test case per step instance). The
//! JSONL export is the journal's bytes (see [`super`]), so it has no renderer.
//!
//! Every text goes through [`export_text`] (no control characters, bidirectional controls shown
//! as `<U+202E>` and the like) and is then escaped for its format: the HTML has no script and no
//! external URL, and the Markdown has no link, image, autolink or raw HTML made of journaled text.

use super::{AuditEvent, AuditRecord};
use crate::engine::Actor;
use crate::text::{clean_text, xml_escape};
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
    "azure_tenant_id",
    "inbox_request",
    "method",
    "resource",
    "http_status",
    "request_id",
    "correlation_id",
    "detail",
    "prev_hash",
    "hash",
];

/// RFC 3339 as journaled, for the CSV (machine-read).
fn ts(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A time as people read it (Markdown, HTML, JUnit text): local, to the second, with the offset.
fn human(t: OffsetDateTime) -> String {
    crate::text::local_time(t)
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
        o(&e.azure_tenant_id),
        o(&e.inbox_request),
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
    let mut v = export_text(value);
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

/// Whether `c` is a bidirectional formatting character: an embedding, override or isolate
/// (U+202A–U+202E, U+2066–U+2069) or an invisible direction mark (U+200E, U+200F, U+061C).
/// Any of them can make a viewer show text in another order than it is stored (a comment that
/// reads "approved" but holds "devorppa", a file name whose extension appears elsewhere).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Replaces every bidirectional formatting character ([`is_bidi_control`]) with a visible
/// `<U+XXXX>`, so every export shows the text in its stored order and shows that a control was
/// there. The one function every export uses (through [`export_text`]).
pub fn neutralize_bidi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_bidi_control(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Every journaled text on its way into an export (CSV, Markdown, HTML, JUnit), before the
/// format's own escaping: characters invalid in HTML/XML replaced (`clean_text`), bidirectional
/// controls made visible ([`neutralize_bidi`]). The JSONL export is the journal's bytes and is
/// not touched (see `docs/auditor.md`).
pub fn export_text(s: &str) -> String {
    neutralize_bidi(&clean_text(s))
}

/// Whether a word (no whitespace) could become a link in some Markdown renderer by itself: a URL
/// (`://`, `www.`), an e-mail address or mention (`@`), or a scheme such as `javascript:` or
/// `mailto:` (a letter, a colon, then more). Extended autolinks (GFM) are found in plain text
/// and whether a backslash escape stops them differs between renderers, while a code span is
/// literal in all of them: such a word is written as a code span. (A bare domain name such as
/// `evil.example` is left as text: no CommonMark or GFM renderer links it, and dotted names such
/// as `gate.approval` are everywhere in a record.)
fn linkish(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains('@') {
        return true;
    }
    let chars: Vec<char> = word.chars().collect();
    chars.windows(3).any(|w| w[0].is_ascii_alphabetic() && w[1] == ':' && !w[2].is_whitespace())
}

/// A code span holding `text` literally: a fence of backticks longer than any run inside,
/// padded with spaces when the text starts or ends with a backtick; `|` escaped, which GFM
/// tables require even inside code.
fn code_span(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // A renderer strips one space at each end when both are there, and a backtick at an end
    // would join the fence: pad with a space on each side in both cases.
    let pad = if text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' '))
    {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('|', "\\|"))
}

/// One word of Markdown text, every character that could start markup escaped: link and image
/// brackets, emphasis, code, HTML (as entities), tables, math; `_` only where it could
/// delimit emphasis (not inside a word such as `step_started`); `#`, `-`, `+` only at the
/// start of the text (headings, lists).
fn md_word(word: &str, at_start: bool, out: &mut String) {
    let chars: Vec<char> = word.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '[' | ']' | '(' | ')' | '!' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '_' => {
                let inside = i > 0
                    && chars[i - 1].is_alphanumeric()
                    && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
                if !inside {
                    out.push('\\');
                }
                out.push(c);
            }
            '#' | '-' | '+' if at_start && i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// Markdown text (a table cell or a heading) that a renderer shows exactly as journaled: one
/// line, every markup character escaped ([`md_word`]), and every word that looks like a URL,
/// an address or a scheme ([`linkish`]) in a code span, so nothing becomes a link, an image or
/// HTML.
fn md(s: &str) -> String {
    let text = export_text(s).replace(['\r', '\n'], " ");
    let mut out = String::with_capacity(text.len() + 8);
    let mut word = String::new();
    let mut at_start = true;
    let flush = |word: &mut String, out: &mut String, at_start: &mut bool| {
        if word.is_empty() {
            return;
        }
        if linkish(word) {
            // Punctuation around a URL or address stays text, as a reader expects: `(see
            // https://x),` shows `https://x` as code between the parenthesis and the comma.
            let core = word.trim_start_matches('(');
            let core = core.trim_end_matches([',', '.', ';', ':', '!', '?', ')']);
            let core = if core.is_empty() || !linkish(core) { word.as_str() } else { core };
            let start = word.len() - word.trim_start_matches('(').len();
            let start = if core.len() == word.len() { 0 } else { start };
            md_word(&word[..start], *at_start, out);
            out.push_str(&code_span(core));
            md_word(&word[start + core.len()..], false, out);
        } else {
            md_word(word, *at_start, out);
        }
        *at_start = false;
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut word, &mut out, &mut at_start);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out, &mut at_start);
    out
}

/// A value shown as code in Markdown (paths, hashes, key fingerprints): one line, literal.
fn md_code(s: &str) -> String {
    code_span(&export_text(s).replace(['\r', '\n'], " "))
}

/// A person as the record shows them: the Azure principal (claimed by the token of the command
/// that acted) with the OS user and host next to it, and the inbox request it came through.
fn actor_text(a: &Actor) -> String {
    let mut s = a.describe();
    if let Some(r) = &a.request {
        s.push_str(&format!(", through inbox request {r}"));
    }
    s
}

/// [`actor_text`] of a journal entry's normalized columns.
fn event_actor_text(e: &AuditEvent) -> String {
    match &e.user {
        None => String::new(),
        Some(user) => {
            let mut a = Actor::os(user.clone(), e.host.clone().unwrap_or_default());
            a.azure_principal = e.azure_principal_id.clone();
            a.azure_principal_name = e.azure_principal_name.clone();
            a.azure_tenant = e.azure_tenant_id.clone();
            a.request = e.inbox_request.clone();
            actor_text(&a)
        }
    }
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
    o.push_str(&format!("| Runbook | {} ({}) |\n", md(&r.runbook_name), md_code(&r.runbook_path)));
    o.push_str(&format!("| Runbook SHA-256 | {} |\n", md_code(&r.runbook_sha256)));
    o.push_str(&format!("| Status | {} |\n", md(&r.status)));
    o.push_str(&format!("| Started | {} |\n", human(r.started)));
    o.push_str(&format!("| Last entry | {} |\n", human(r.last_entry)));
    if let Some(a) = &r.started_by {
        o.push_str(&format!("| Started by | {} |\n", md(&actor_text(a))));
    }
    o.push_str(&format!("| Journal | format {}, {} entries |\n", md(&r.journal_format), r.entries));
    o.push_str(&format!("| Final hash | {} |\n", md_code(&r.final_hash)));
    o.push_str(&format!(
        "| Signatures | {} |\n\n",
        if r.signatures.is_empty() {
            "none".to_string()
        } else {
            r.signatures
                .iter()
                .map(|s| format!("entry {} by key {}", s.seq, md_code(&s.key_fingerprint)))
                .collect::<Vec<_>>()
                .join("; ")
        }
    ));
    if !r.warnings.is_empty() {
        o.push_str("## Warnings\n\n");
        for w in &r.warnings {
            o.push_str(&format!("- {} (entry {}): {}\n", md_code(&w.step), w.seq, md(&w.text)));
        }
        o.push('\n');
    }
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
            human(a.started),
            a.ended.map(human).unwrap_or_default(),
            md(&a.result),
            md(a.error.as_deref().unwrap_or("")),
            md_code(&compact(&a.inputs)),
            md_code(&a.outputs.as_ref().map(compact).unwrap_or_default()),
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
                human(m.time),
                md(&m.action),
                md(m.step.as_deref().unwrap_or("")),
                md(&actor_text(&m.by)),
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
                human(e.time),
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
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            e.seq,
            human(e.time),
            md(&e.event),
            md(e.step.as_deref().unwrap_or("")),
            e.attempt.map(|a| a.to_string()).unwrap_or_default(),
            md(e.result.as_deref().unwrap_or("")),
            md(&event_actor_text(e)),
            md(e.detail.as_deref().unwrap_or("")),
            md_code(&e.hash),
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

/// [`export_text`], escaped for an XML attribute or element ([`xml_escape`]: newlines and tabs
/// as character references, so a `message` attribute keeps them).
fn xml(s: &str) -> String {
    xml_escape(&export_text(s))
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
                human(a.started),
                a.ended.map(human).unwrap_or_else(|| "-".into()),
                a.result,
                a.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ));
        }
        for w in r.warnings.iter().filter(|w| w.step == *step) {
            out.push_str(&format!("warning: {}\n", w.text));
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
    let c = |s: &str| export_text(s);
    let o = |s: &Option<String>| export_text(s.as_deref().unwrap_or(""));
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
                "attempt": a.attempt, "started": human(a.started),
                "ended": a.ended.map(human).unwrap_or_default(),
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
                "seq": m.seq, "time": human(m.time), "action": c(&m.action),
                "step": c(m.step.as_deref().unwrap_or("")), "user": c(&m.by.user),
                "host": c(&m.by.host),
                "principal_name": o(&m.by.azure_principal_name),
                "principal_id": o(&m.by.azure_principal),
                "principal_tenant": o(&m.by.azure_tenant),
                "claimed": m.by.azure_principal.is_some() || m.by.azure_principal_name.is_some(),
                "request": o(&m.by.request),
                "text": c(m.text.as_deref().unwrap_or("")),
            })
        })
        .collect();
    let effects: Vec<Value> = r
        .effects
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq, "time": human(e.time), "step": o(&e.step), "method": o(&e.method),
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
            let who = event_actor_text(e);
            let what = match (&e.method, &e.resource) {
                (Some(m), Some(res)) => format!(
                    "{m} {res}{}",
                    e.http_status.map(|s| format!(" → {s}")).unwrap_or_default()
                ),
                _ => e.detail.clone().unwrap_or_default(),
            };
            json!({
                "seq": e.seq, "time": human(e.time), "event": c(&e.event.replace('_', " ")),
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
    let warnings: Vec<Value> = r
        .warnings
        .iter()
        .map(|w| json!({"seq": w.seq, "step": c(&w.step), "text": c(&w.text)}))
        .collect();
    let started_by = r.started_by.as_ref().map(actor_text).unwrap_or_default();
    json!({
        "run_id": c(&r.run_id),
        "warnings": warnings,
        "runbook_name": c(&r.runbook_name),
        "runbook_path": c(&r.runbook_path),
        "runbook_sha256": c(&r.runbook_sha256),
        "status": c(&r.status),
        "status_class": result_class(&r.status),
        "started": human(r.started),
        "last_entry": human(r.last_entry),
        "started_by": c(&started_by),
        "journal_format": c(&r.journal_format),
        "entries": r.entries,
        "final_hash": c(&r.final_hash),
        "signatures": r.signatures.iter().map(|s| json!({"seq": s.seq, "time": human(s.time), "fingerprint": c(&s.key_fingerprint)})).collect::<Vec<_>>(),
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

    /// Journaled texts an attacker (or a careless author) could write, each with what a reader
    /// must see.
    const HOSTILE: &[&str] = &[
        "[x](javascript:alert(1))",
        "![](https://evil.example/x.png)",
        "![alt][ref]\n\n[ref]: https://evil.example/y.png",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<a href=\"https://evil.example\">click</a>",
        "see https://evil.example/path?q=1 now",
        "javascript:alert(document.cookie)",
        "JaVaScRiPt:alert(1) and data:text/html;base64,PHNjcmlwdD4=",
        "mail soc@evil.example or www.evil.example or evil.example",
        "<https://evil.example/auto>",
        "[x]( <javascript:alert(1)> ) [y][] [z]\n[y]: /u",
        "&lt;script&gt; &#106;avascript:alert(1) &amp;",
        "`code` ``two`` ` lone | pipe \\| escaped \\",
        "**bold** _em_ ~~strike~~ $x^2$ step_started a_b_ _c",
        "# heading",
        "- item",
        "+ item",
        "> quote",
        "1. ordered [link](/x)",
        "| a | b |",
        "trailing backslash \\",
        "`https://evil.example` ` `",
        "(see https://evil.example/x), then [x](javascript:alert(1)). ((www.evil.example)):",
        "[\u{202e}x](javascript:alert(1))",
    ];

    /// The text a reader sees in the one body cell of `| h |\n|---|\n| cell |`, and whether any
    /// link, image or raw HTML came out of it, per pulldown-cmark (CommonMark + GFM tables).
    fn pulldown_cell(cell: &str) -> (String, Vec<String>) {
        use pulldown_cmark::{Event, Options, Parser, Tag};
        let doc = format!("| h |\n|---|\n| {cell} |\n");
        let opts = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_MATH
            | Options::ENABLE_GFM;
        let (mut text, mut bad, mut in_body) = (String::new(), Vec::new(), false);
        for ev in Parser::new_ext(&doc, opts) {
            match ev {
                Event::Start(Tag::TableRow) => in_body = true,
                Event::Text(t) | Event::Code(t) if in_body => text.push_str(&t),
                Event::Html(h) | Event::InlineHtml(h) => bad.push(format!("html {h}")),
                Event::InlineMath(m) | Event::DisplayMath(m) => bad.push(format!("math {m}")),
                Event::Start(Tag::Link { dest_url, .. }) => bad.push(format!("link {dest_url}")),
                Event::Start(Tag::Image { dest_url, .. }) => bad.push(format!("image {dest_url}")),
                Event::Start(Tag::Emphasis | Tag::Strong | Tag::Strikethrough) => {
                    bad.push("emphasis".into())
                }
                _ => {}
            }
        }
        (text, bad)
    }

    /// The same per comrak (cmark-gfm: tables, extended autolinks, strikethrough, tag filter).
    fn comrak_cell(cell: &str) -> (String, Vec<String>) {
        use comrak::nodes::NodeValue;
        let doc = format!("| h |\n|---|\n| {cell} |\n");
        let mut opts = comrak::Options::default();
        opts.extension.table = true;
        opts.extension.autolink = true;
        opts.extension.strikethrough = true;
        opts.extension.footnotes = true;
        opts.extension.math_dollars = true;
        opts.render.r#unsafe = true;
        let arena = comrak::Arena::new();
        let root = comrak::parse_document(&arena, &doc, &opts);
        let (mut text, mut bad) = (String::new(), Vec::new());
        let rows: Vec<_> = root
            .descendants()
            .filter(|n| matches!(n.data.borrow().value, NodeValue::TableRow(_)))
            .collect();
        for n in root.descendants() {
            match &n.data.borrow().value {
                NodeValue::Link(l) => bad.push(format!("link {}", l.url)),
                NodeValue::Image(l) => bad.push(format!("image {}", l.url)),
                NodeValue::HtmlInline(h) => bad.push(format!("html {h}")),
                NodeValue::HtmlBlock(h) => bad.push(format!("html {}", h.literal)),
                NodeValue::Math(m) => bad.push(format!("math {}", m.literal)),
                NodeValue::Emph | NodeValue::Strong | NodeValue::Strikethrough => {
                    bad.push("emphasis".into())
                }
                _ => {}
            }
        }
        if let Some(body) = rows.get(1) {
            for n in body.descendants() {
                match &n.data.borrow().value {
                    NodeValue::Text(t) => text.push_str(t),
                    NodeValue::Code(c) => text.push_str(&c.literal),
                    _ => {}
                }
            }
        }
        (text, bad)
    }

    #[test]
    fn defect_11_markdown_text_renders_as_the_journaled_text_never_as_markup() {
        for s in HOSTILE {
            let expected = neutralize_bidi(s).replace('\n', " ").trim().to_string();
            let cell = md(s);
            for (renderer, (text, bad)) in
                [("pulldown-cmark", pulldown_cell(&cell)), ("comrak", comrak_cell(&cell))]
            {
                assert!(bad.is_empty(), "{renderer}: {s:?} as {cell:?} renders {bad:?}");
                assert_eq!(text, expected, "{renderer}: {s:?} as {cell:?}");
            }
        }
    }

    #[test]
    fn the_renderers_do_find_markup_in_unescaped_text() {
        // So that the test above can fail: unescaped, these are links, images and HTML.
        for raw in
            ["[x](javascript:alert(1))", "![](https://e.example/x.png)", "<script>x</script>"]
        {
            assert!(!pulldown_cell(raw).1.is_empty(), "{raw}");
            assert!(!comrak_cell(raw).1.is_empty(), "{raw}");
        }
        // GFM's extended autolinks: no markup character at all.
        for raw in ["see https://evil.example/x", "www.evil.example", "mail soc@evil.example"] {
            assert!(comrak_cell(raw).1.iter().any(|b| b.starts_with("link")), "{raw}");
        }
    }

    #[test]
    fn defect_11_markdown_code_values_are_literal() {
        for s in ["C:\\runbooks\\a`b|c.yaml", "`x`", " padded ", "https://evil.example/x.png"] {
            let cell = md_code(s);
            for (renderer, (text, bad)) in
                [("pulldown-cmark", pulldown_cell(&cell)), ("comrak", comrak_cell(&cell))]
            {
                assert!(bad.is_empty(), "{renderer}: {s:?} as {cell:?} renders {bad:?}");
                assert_eq!(text, s.to_string(), "{renderer}: {s:?} as {cell:?}");
            }
        }
    }

    #[test]
    fn defect_11_bidi_controls_are_shown_as_code_points_in_every_format() {
        let all = "a\u{202a}b\u{202b}c\u{202c}d\u{202d}e\u{202e}f\u{2066}g\u{2067}h\u{2068}i\u{2069}j\u{200e}k\u{200f}l\u{61c}m";
        let shown = "a<U+202A>b<U+202B>c<U+202C>d<U+202D>e<U+202E>f<U+2066>g<U+2067>h<U+2068>i<U+2069>j<U+200E>k<U+200F>l<U+061C>m";
        assert_eq!(neutralize_bidi(all), shown);
        assert_eq!(export_text(all), shown);
        assert_eq!(csv_cell(all), shown);
        assert_eq!(xml(all), shown.replace('<', "&lt;").replace('>', "&gt;"));
        assert_eq!(md(all), shown.replace('<', "&lt;").replace('>', "&gt;"));
        // Other text is untouched: letters of right-to-left scripts, joiners, emoji.
        let plain = "שלום مرحبا a\u{200d}b 👩\u{200d}💻";
        assert_eq!(neutralize_bidi(plain), plain);
        for format in [csv_cell(all), xml(all), md(all), md_code(all)] {
            assert!(!format.chars().any(is_bidi_control), "{format:?}");
        }
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(xml("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
    }
}
