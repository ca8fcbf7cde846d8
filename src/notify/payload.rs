//! What a notification says ([`Message`]) and the JSON each kind of receiver takes ([`render`]).
//!
//! The shapes, from the receivers' documentation:
//! - Slack incoming webhook (api.slack.com/messaging/webhooks): a JSON body with `text`, which
//!   is the notification's fallback when `blocks` (Block Kit) are given; `&`, `<` and `>` are
//!   escaped in mrkdwn; a header block takes at most 150 characters of plain text, a section
//!   3000.
//! - Microsoft Teams Workflows webhook ("When a Teams webhook request is received", Power
//!   Automate): Adaptive Cards only, sent as `{"type": "message", "attachments": [{"contentType":
//!   "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": CARD}]}`
//!   (learn.microsoft.com, Teams platform, "Create and send messages" and "Create Incoming
//!   Webhooks": "Workflows support Adaptive Cards only").
//! - Microsoft Teams legacy connector (Office 365 / Microsoft 365 connectors, `*.webhook.office.com`):
//!   the MessageCard (`@type: MessageCard`, `@context`, `summary` or `text` required, `title`,
//!   `themeColor`; "Legacy actionable message card reference").
//! - Anything else: lifeboat's own JSON, `schema: lifeboat/notification/v1` (docs/responder.md).
//!
//! Every text is scrubbed of the secrets the process knows (`redact::scrub_output`) and of
//! characters invalid in XML/HTML when the message is built, and bounded in length; a message
//! never carries a step's outputs or a run's parameters (what builds it, `super::observe`, puts
//! only instance names, states, errors and commands in).

use super::target::Shape;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// The `schema` of the generic JSON.
pub const SCHEMA: &str = "lifeboat/notification/v1";

/// The longest line a message keeps (an error message can be long).
const MAX_LINE: usize = 400;
/// The most lines (and commands) a message lists; the rest is counted.
pub const MAX_ITEMS: usize = 8;

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A gate awaits approval, a manual task awaits attestation, or an interrupted one-shot
    /// step is parked for a person.
    NeedsPerson,
    /// A step failed for good (its retries are used up).
    StepFailed,
    /// A step has run longer than its `expected` time.
    WaitOverdue,
    /// The command that drove the run stopped: succeeded, failed, paused, or waiting.
    RunEnded,
}

impl Kind {
    /// The `event` of the generic JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::NeedsPerson => "needs_person",
            Kind::StepFailed => "step_failed",
            Kind::WaitOverdue => "wait_overdue",
            Kind::RunEnded => "run_ended",
        }
    }
}

/// How urgent a message looks (the colour of a card).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Attention,
    Warning,
    Good,
    Neutral,
}

/// One notification, already scrubbed (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: Kind,
    pub tone: Tone,
    pub run: String,
    pub runbook: String,
    /// A drill's run: nothing real is at stake.
    pub rehearsal: bool,
    pub title: String,
    pub lines: Vec<String>,
    /// What to do, as commands a person types.
    pub commands: Vec<String>,
    /// The step instances concerned (`step`, `step#N` or `step[label]`, as commands take them).
    pub steps: Vec<String>,
    /// For [`Kind::RunEnded`]: `succeeded`, `failed`, `paused`, `waiting`, `stopped`, `cancelled`.
    pub status: Option<String>,
    pub time: OffsetDateTime,
}

/// A text as a message may hold it: scrubbed, valid, at most [`MAX_LINE`] characters.
pub fn clean(text: &str) -> String {
    let t = crate::text::clean_text(&crate::redact::scrub_output(text));
    let t = t.trim();
    if t.chars().count() <= MAX_LINE {
        return t.to_string();
    }
    let mut cut: String = t.chars().take(MAX_LINE - 1).collect();
    cut.push('…');
    cut
}

impl Message {
    pub fn new(kind: Kind, tone: Tone, run: &str, runbook: &str, time: OffsetDateTime) -> Self {
        Message {
            kind,
            tone,
            run: clean(run),
            runbook: clean(runbook),
            rehearsal: false,
            title: String::new(),
            lines: Vec::new(),
            commands: Vec::new(),
            steps: Vec::new(),
            status: None,
            time,
        }
    }

    pub fn rehearsal(mut self, yes: bool) -> Self {
        self.rehearsal = yes;
        self
    }

    pub fn title(mut self, t: &str) -> Self {
        self.title = clean(t);
        self
    }

    pub fn line(mut self, l: &str) -> Self {
        self.lines.push(clean(l));
        self
    }

    pub fn command(mut self, c: &str) -> Self {
        let c = clean(c);
        if !self.commands.contains(&c) {
            self.commands.push(c);
        }
        self
    }

    pub fn step(mut self, s: &str) -> Self {
        self.steps.push(clean(s));
        self
    }

    pub fn status(mut self, s: &str) -> Self {
        self.status = Some(clean(s));
        self
    }

    /// The title as shown: `lifeboat: ...`, `lifeboat drill: ...` for a rehearsal.
    pub fn heading(&self) -> String {
        let who = if self.rehearsal { "lifeboat drill" } else { "lifeboat" };
        format!("{who}: {}", self.title)
    }

    /// `runbook NAME · run ID`.
    pub fn footer(&self) -> String {
        format!("runbook {} · run {}", self.runbook, self.run)
    }

    /// The whole message as plain text (Slack's fallback, the generic JSON's `text`).
    pub fn text(&self) -> String {
        let mut out = self.heading();
        for l in &self.lines {
            out.push('\n');
            out.push_str(l);
        }
        if !self.commands.is_empty() {
            out.push_str("\nwhat to do:");
            for c in &self.commands {
                out.push_str("\n  ");
                out.push_str(c);
            }
        }
        out.push('\n');
        out.push_str(&self.footer());
        out
    }
}

/// The JSON body for a receiver of `shape`.
pub fn render(shape: Shape, m: &Message) -> Value {
    match shape {
        Shape::Slack => slack(m),
        Shape::TeamsWorkflow => adaptive_card(m),
        Shape::TeamsConnector => message_card(m),
        Shape::Generic => generic(m),
    }
}

fn time_text(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn generic(m: &Message) -> Value {
    json!({
        "schema": SCHEMA,
        "event": m.kind.name(),
        "text": m.text(),
        "title": m.heading(),
        "run": m.run,
        "runbook": m.runbook,
        "rehearsal": m.rehearsal,
        "steps": m.steps,
        "status": m.status,
        "commands": m.commands,
        "time": time_text(m.time),
    })
}

/// Slack's mrkdwn escapes (`&`, `<`, `>`: "Escaping text").
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn slack(m: &Message) -> Value {
    let mut body = String::new();
    for l in &m.lines {
        body.push_str(&slack_escape(l));
        body.push('\n');
    }
    if !m.commands.is_empty() {
        body.push_str("*What to do:*\n");
        for c in &m.commands {
            // Inline code: a backtick inside would end it.
            body.push_str(&format!("`{}`\n", slack_escape(&c.replace('`', "'"))));
        }
    }
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&m.heading(), 150), "emoji": false},
    })];
    if !body.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(body.trim_end(), 3000)},
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": slack_escape(&m.footer())}],
    }));
    json!({ "text": truncate(&m.text(), 3000), "blocks": blocks })
}

fn adaptive_card(m: &Message) -> Value {
    let color = match m.tone {
        Tone::Attention => "Attention",
        Tone::Warning => "Warning",
        Tone::Good => "Good",
        Tone::Neutral => "Default",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": m.heading(),
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
        "wrap": true,
    })];
    for l in &m.lines {
        body.push(json!({"type": "TextBlock", "text": l, "wrap": true}));
    }
    if !m.commands.is_empty() {
        body.push(
            json!({"type": "TextBlock", "text": "What to do:", "weight": "Bolder", "wrap": true}),
        );
        for c in &m.commands {
            body.push(
                json!({"type": "TextBlock", "text": c, "fontType": "Monospace", "wrap": true}),
            );
        }
    }
    body.push(json!({"type": "TextBlock", "text": m.footer(), "isSubtle": true, "size": "Small", "wrap": true}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.2",
                "body": body,
            },
        }],
    })
}

/// Markdown as MessageCard text takes it: the special characters escaped.
fn card_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '#' | '[' | ']' | '(' | ')' | '`' | '~' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn message_card(m: &Message) -> Value {
    let color = match m.tone {
        Tone::Attention => "D83B01",
        Tone::Warning => "FFB900",
        Tone::Good => "107C10",
        Tone::Neutral => "737373",
    };
    let mut text: Vec<String> = m.lines.iter().map(|l| card_escape(l)).collect();
    if !m.commands.is_empty() {
        text.push("**What to do:**".into());
        text.extend(m.commands.iter().map(|c| card_escape(c)));
    }
    text.push(card_escape(&m.footer()));
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": truncate(&m.heading(), 150),
        "themeColor": color,
        "title": m.heading(),
        // Two spaces before a newline: a line break in the card's Markdown.
        "text": text.join("  \n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message::new(
            Kind::NeedsPerson,
            Tone::Warning,
            "r1",
            "region-outage",
            time::macros::datetime!(2025-01-02 03:04:05 UTC),
        )
        .title("run r1 needs a person")
        .line("approve-submission[ado-weu] awaits approval <now> & then")
        .command("lifeboat approve r1 approve-submission[ado-weu] --comment TEXT")
        .step("approve-submission[ado-weu]")
    }

    #[test]
    fn slack_gets_text_and_blocks_with_mrkdwn_escaped() {
        let v = render(Shape::Slack, &sample());
        let text = v["text"].as_str().unwrap();
        assert!(text.starts_with("lifeboat: run r1 needs a person\n"), "{text}");
        assert!(text.contains("lifeboat approve r1 approve-submission[ado-weu] --comment TEXT"));
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[1]["type"], "section");
        let section = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(section.contains("awaits approval &lt;now&gt; &amp; then"), "{section}");
        assert!(section.contains("`lifeboat approve r1"), "{section}");
        assert_eq!(blocks[2]["type"], "context");
        assert_eq!(blocks[2]["elements"][0]["text"], "runbook region-outage · run r1");
    }

    #[test]
    fn teams_workflows_get_one_adaptive_card_in_a_message() {
        let v = render(Shape::TeamsWorkflow, &sample());
        assert_eq!(v["type"], "message");
        let a = &v["attachments"].as_array().unwrap()[0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(a["contentUrl"].is_null());
        let card = &a["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
        assert_eq!(card["version"], "1.2");
        let body = card["body"].as_array().unwrap();
        assert!(body.iter().all(|b| b["type"] == "TextBlock" && b["wrap"] == true));
        assert_eq!(body[0]["text"], "lifeboat: run r1 needs a person");
        assert_eq!(body[0]["color"], "Warning");
        assert!(body.iter().any(|b| b["fontType"] == "Monospace"
            && b["text"] == "lifeboat approve r1 approve-submission[ado-weu] --comment TEXT"));
    }

    #[test]
    fn teams_connectors_get_a_message_card_with_summary_and_text() {
        let v = render(Shape::TeamsConnector, &sample());
        assert_eq!(v["@type"], "MessageCard");
        assert_eq!(v["@context"], "https://schema.org/extensions");
        assert_eq!(v["summary"], "lifeboat: run r1 needs a person");
        assert_eq!(v["themeColor"], "FFB900");
        let text = v["text"].as_str().unwrap();
        assert!(
            text.contains("approve-submission\\[ado-weu\\] awaits approval \\<now\\>"),
            "{text}"
        );
        assert!(text.contains("**What to do:**"), "{text}");
    }

    #[test]
    fn the_generic_json_names_event_run_steps_and_commands() {
        let m = sample().rehearsal(true);
        let v = render(Shape::Generic, &m);
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["event"], "needs_person");
        assert_eq!(v["run"], "r1");
        assert_eq!(v["runbook"], "region-outage");
        assert_eq!(v["rehearsal"], true);
        assert_eq!(v["steps"], json!(["approve-submission[ado-weu]"]));
        assert!(v["status"].is_null());
        assert_eq!(v["time"], "2025-01-02T03:04:05Z");
        assert!(v["text"].as_str().unwrap().starts_with("lifeboat drill: run r1 needs a person"));
    }

    #[test]
    fn messages_are_scrubbed_cleaned_and_bounded() {
        crate::redact::register_str("payload-test-secret-9876");
        let long = "x".repeat(5000);
        let m =
            Message::new(Kind::StepFailed, Tone::Attention, "r", "rb", OffsetDateTime::UNIX_EPOCH)
                .title("step failed")
                .line("cannot open /x/payload-test-secret-9876/y\u{7}")
                .line(&long);
        assert_eq!(m.lines[0], "cannot open /x/[REDACTED]/y\u{fffd}");
        assert_eq!(m.lines[1].chars().count(), MAX_LINE);
        for shape in [Shape::Slack, Shape::TeamsWorkflow, Shape::TeamsConnector, Shape::Generic] {
            let body = render(shape, &m).to_string();
            assert!(!body.contains("payload-test-secret"), "{shape:?}: {body}");
        }
    }
}
