//! Where a notification goes: a webhook URL, checked, with the payload shape its receiver
//! expects, and the redacted form every message shows instead of it.
//!
//! A webhook URL is a secret: whoever has it can post to the channel (Slack's
//! `hooks.slack.com/services/T…/B…/TOKEN`, Teams' `…webhook.office.com/webhookb2/…`, Power
//! Automate's `…?sig=SIGNATURE`). It is never printed, logged or journaled: messages name it as
//! `scheme://host[:port]/…` plus the last 4 characters of its path and query
//! ([`Target::shown`]), and [`Target::parse`] registers it with the process redactor
//! (`redact::register_str`) so nothing lifeboat prints can carry it.

use url::Url;

/// The JSON a receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Slack incoming webhook: `{"text": ..., "blocks": [...]}`.
    Slack,
    /// Microsoft Teams through a Workflows (Power Automate) webhook: a `message` activity with
    /// one Adaptive Card attachment. Workflows do not take the legacy MessageCard.
    TeamsWorkflow,
    /// Microsoft Teams through a legacy Office 365 / Microsoft 365 connector (Incoming Webhook
    /// connector): a MessageCard.
    TeamsConnector,
    /// Anything else: lifeboat's own JSON (`schema: lifeboat/notification/v1`).
    Generic,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Slack => "Slack",
            Shape::TeamsWorkflow => "Teams (Adaptive Card)",
            Shape::TeamsConnector => "Teams connector (MessageCard)",
            Shape::Generic => "generic JSON",
        }
    }
}

/// The explicit prefixes (`slack+https://...`): they win over the host.
pub const PREFIXES: &[(&str, Shape)] = &[
    ("slack", Shape::Slack),
    ("teams", Shape::TeamsWorkflow),
    ("messagecard", Shape::TeamsConnector),
    ("json", Shape::Generic),
];

/// How the hint of a refused URL reads.
pub const URL_HINT: &str = "give an https:// webhook URL (plain http only to 127.0.0.1, ::1 or localhost), optionally prefixed with slack+, teams+, messagecard+ or json+ to choose the payload (docs/responder.md, Notifications)";

/// One checked webhook.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    url: Url,
    shape: Shape,
    shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL.
        f.debug_struct("Target").field("shown", &self.shown).field("shape", &self.shape).finish()
    }
}

impl Target {
    /// Checks a webhook URL (optionally `PREFIX+https://...`): http or https with a host,
    /// plain http only to loopback (the rule of `--arm-endpoint`: the token in the URL must not
    /// travel in clear). `Err` says what is wrong and names the URL only in its redacted form.
    /// On success the URL is registered with the process redactor.
    pub fn parse(raw: &str) -> Result<Target, String> {
        let raw = raw.trim();
        let (prefix, rest) = split_prefix(raw);
        let forced = match prefix {
            None => None,
            Some(p) => match PREFIXES.iter().find(|(name, _)| p.eq_ignore_ascii_case(name)) {
                Some((_, shape)) => Some(*shape),
                None => {
                    return Err(format!(
                        "{}: unknown prefix `{p}+` (known: slack+, teams+, messagecard+, json+)",
                        redacted_raw(raw)
                    ))
                }
            },
        };
        let url =
            Url::parse(rest).map_err(|e| format!("{}: not a URL ({e})", redacted_raw(raw)))?;
        let shown = redacted(&url);
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{shown}: the URL has no host"));
        }
        match url.scheme() {
            "https" => {}
            "http" if crate::azure::is_loopback(&url) => {}
            "http" => {
                return Err(format!(
                    "{shown}: plain http to a host that is not loopback (a webhook URL carries its token: it must not travel in clear)"
                ))
            }
            other => return Err(format!("{shown}: scheme `{other}` (use https)")),
        }
        crate::redact::register_str(raw);
        crate::redact::register_str(rest);
        crate::redact::register_str(url.as_str());
        let tail = path_and_query(&url);
        if tail.chars().count() >= MIN_REGISTERED_PATH {
            crate::redact::register_str(&tail);
        }
        let shape = forced.unwrap_or_else(|| shape_of_host(&url));
        Ok(Target { url, shape, shown })
    }

    /// The URL: only for the request itself, never for a message.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// How messages name it: `https://hooks.slack.com/…abcd`.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// A path and query this long is registered as a secret of its own (it is where the token is);
/// a shorter one (`/hook`) would only scrub ordinary words from the output.
const MIN_REGISTERED_PATH: usize = 16;

/// `PREFIX+scheme://...` → (`PREFIX`, `scheme://...`); anything else → (None, the text).
fn split_prefix(raw: &str) -> (Option<&str>, &str) {
    if let Some((scheme, _)) = raw.split_once("://") {
        if let Some((prefix, _)) = scheme.split_once('+') {
            return (Some(prefix), &raw[prefix.len() + 1..]);
        }
    }
    (None, raw)
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// The payload a host expects: Slack's webhook host; Teams' legacy connectors
/// (`*.webhook.office.com`, the older `outlook.office.com/webhook/...`); Power Automate / Logic
/// Apps (`*.logic.azure.com`, `*.powerplatform.com`, which Teams Workflows webhooks use); else
/// the generic JSON.
pub fn shape_of_host(url: &Url) -> Shape {
    let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    let is = |d: &str| host == d;
    let under = |d: &str| host.ends_with(&format!(".{d}"));
    if is("hooks.slack.com") || is("hooks.slack-gov.com") {
        Shape::Slack
    } else if under("webhook.office.com") || is("outlook.office.com") || is("outlook.office365.com")
    {
        Shape::TeamsConnector
    } else if under("logic.azure.com") || is("powerplatform.com") || under("powerplatform.com") {
        Shape::TeamsWorkflow
    } else {
        Shape::Generic
    }
}

/// `scheme://host[:port]/…` and the last 4 characters of the path and query: enough to tell two
/// webhooks apart, never enough to post to one. No user name or password, ever.
pub fn redacted(url: &Url) -> String {
    let origin = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        (None, _) => format!("{}:", url.scheme()),
    };
    let tail = path_and_query(url);
    let tail = tail.trim_start_matches('/');
    if tail.is_empty() {
        return format!("{origin}/");
    }
    let chars: Vec<char> = tail.chars().collect();
    let last: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{origin}/…{last}")
}

/// A value that did not parse as a URL: only its last 4 characters.
pub fn redacted_raw(raw: &str) -> String {
    let chars: Vec<char> = raw.trim().chars().collect();
    if chars.is_empty() {
        return "an empty URL".into();
    }
    let last: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("the URL ending in …{last}")
}

/// `text` with every URL in it (`scheme://...` up to a space, a quote or a bracket) replaced by
/// its redacted form: for messages that may quote what a person wrote (a config file's parse
/// error quotes the value it refused).
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let head = &rest[..at];
        let start = head
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map(|(i, _)| i)
            .unwrap_or(at);
        let end = rest[at..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ')' | ']' | '>' | ',')
            })
            .map(|e| at + e)
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        let url = &rest[start..end];
        let (_, bare) = split_prefix(url);
        out.push_str(&match Url::parse(bare) {
            Ok(u) => redacted(&u),
            Err(_) => redacted_raw(url),
        });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK: &str =
        "https://hooks.slack.com/services/T0000TEST/B0000TEST/notARealTokenButLong1234abcd";

    #[test]
    fn a_url_is_shown_by_origin_and_its_last_four_characters() {
        let t = Target::parse(SLACK).unwrap();
        assert_eq!(t.shown(), "https://hooks.slack.com/…abcd");
        assert_eq!(t.shape(), Shape::Slack);
        // Debug never shows it either.
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("notARealToken"), "{dbg}");
        // The port stays, user and password never show.
        let u = Url::parse("https://me:pw@example.com:8443/hooks/xyz?sig=0123456789").unwrap();
        assert_eq!(redacted(&u), "https://example.com:8443/…6789");
        let u = Url::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(redacted(&u), "http://127.0.0.1:9/");
        assert_eq!(redacted_raw("not a url but secret-ish zz99"), "the URL ending in …zz99");
    }

    #[test]
    fn the_host_or_a_prefix_chooses_the_payload() {
        for (url, shape) in [
            (SLACK, Shape::Slack),
            (
                "https://contoso.webhook.office.com/webhookb2/aaaa@bbbb/IncomingWebhook/cccc/dddd",
                Shape::TeamsConnector,
            ),
            ("https://outlook.office.com/webhook/aaaa/IncomingWebhook/bbbb", Shape::TeamsConnector),
            (
                "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=xyz",
                Shape::TeamsWorkflow,
            ),
            (
                "https://default0123.45.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke?sig=xyz",
                Shape::TeamsWorkflow,
            ),
            ("https://example.com/hook", Shape::Generic),
            ("https://notslack.com/hooks.slack.com", Shape::Generic),
            ("https://evilwebhook.office.com/x", Shape::Generic),
            ("slack+http://127.0.0.1:8080/hook", Shape::Slack),
            ("teams+https://example.com/hook", Shape::TeamsWorkflow),
            ("MessageCard+https://example.com/hook", Shape::TeamsConnector),
            ("json+https://hooks.slack.com/services/x/y/z", Shape::Generic),
        ] {
            assert_eq!(Target::parse(url).unwrap().shape(), shape, "{url}");
        }
        // The prefix is not part of the URL that is posted to.
        let t = Target::parse("slack+http://127.0.0.1:8080/hook").unwrap();
        assert_eq!(t.url().as_str(), "http://127.0.0.1:8080/hook");
    }

    #[test]
    fn bad_urls_are_refused_naming_only_their_redacted_form() {
        for (raw, want) in [
            ("http://example.com/secret-token-1234", "plain http to a host that is not loopback"),
            ("ftp://127.0.0.1/secret-token-1234", "scheme `ftp`"),
            ("secret-token-1234", "not a URL"),
            ("carrier+https://example.com/secret-token-1234", "unknown prefix `carrier+`"),
            ("https://", "not a URL"),
            ("", "not a URL"),
        ] {
            let e = Target::parse(raw).unwrap_err();
            assert!(e.contains(want), "{raw}: {e}");
            assert!(!e.contains("secret-token"), "{raw}: {e}");
        }
        for ok in ["http://127.0.0.1:1/x", "http://[::1]:1/x", "http://localhost:1/x"] {
            assert!(Target::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn urls_inside_a_text_are_redacted() {
        let t = "invalid type: string \"https://hooks.slack.com/services/T/B/tok9999\", expected a sequence (see slack+https://h.example/a/b/zz12)";
        assert_eq!(
            redact_urls_in(t),
            "invalid type: string \"https://hooks.slack.com/…9999\", expected a sequence (see https://h.example/…zz12)"
        );
        assert_eq!(redact_urls_in("no url here"), "no url here");
    }

    #[test]
    fn a_parsed_url_is_scrubbed_from_every_output() {
        let raw = "https://example.com/hooks/registered-secret-path-5678?sig=zzzz";
        Target::parse(raw).unwrap();
        let line = format!("error sending request for url ({raw})");
        let out = crate::redact::scrub_output(&line);
        assert!(!out.contains("registered-secret-path"), "{out}");
        let out = crate::redact::scrub_output("POST /hooks/registered-secret-path-5678?sig=zzzz");
        assert!(!out.contains("registered-secret-path"), "{out}");
    }
}
