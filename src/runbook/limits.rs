//! Bounds on the values of a runbook that drive time and recursion, in one place.
//!
//! Why bounds at all: a duration is added to the current time (a step's deadline, a retry's
//! wake-up, a wait's end, the next poll). An absurd value such as `1000000000y` parses fine, but
//! the date it yields is outside what a journal can hold, and a poll every nanosecond writes a
//! fsync'd journal entry in a tight loop. Templates are compiled and rendered recursively, so
//! their nesting must be bounded before they are compiled. The validator checks every value
//! against these bounds (`plan` and `run` refuse with a diagnostic, exit 2), steps check their
//! rendered inputs again at run time (a clear step failure), and the engine's time arithmetic is
//! checked regardless.

use crate::catalog::DurationUse;
use std::time::Duration;

/// The longest duration a runbook may name: a step's `timeout`, a `retry` delay, a duration
/// parameter, a wait or a poll interval. 400 days: longer than any real outage or wait on
/// support, far below the limit of a journal's timestamps (year 9999).
pub const MAX_DURATION: Duration = Duration::from_secs(400 * 86_400);

/// The shortest poll interval of any wait (`poll_interval` inputs): every poll is a fsync'd
/// journal entry, and usually a call to Azure.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How deeply a template may nest block helpers (`{{#if}}`, `{{#each}}`, `{{else if}}` chains)
/// and subexpressions (`(eq (len x) 1)`) together.
pub const MAX_TEMPLATE_NESTING: usize = 32;

/// Checks a duration against the bounds of its use. `Err` completes "X ...", e.g. "is longer
/// than the maximum of 400 days".
pub fn check(d: Duration, used_as: DurationUse) -> Result<(), String> {
    if d > MAX_DURATION {
        return Err(format!(
            "is longer than the maximum of {} days",
            MAX_DURATION.as_secs() / 86_400
        ));
    }
    if used_as == DurationUse::PollInterval && d < MIN_POLL_INTERVAL {
        return Err(format!(
            "is shorter than the minimum poll interval of {}",
            humantime::format_duration(MIN_POLL_INTERVAL)
        ));
    }
    Ok(())
}

/// Parses a duration (humantime syntax: `90s`, `15m`, `3d`) and checks its bounds. `Err`
/// completes "X ...": "is not a duration (...)" or a bound from [`check`].
pub fn parse(text: &str, used_as: DurationUse) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(text.trim()).map_err(|e| format!("is not a duration ({e})"))?;
    check(d, used_as)?;
    Ok(d)
}

/// `now + d`, or an error when the result is beyond the dates a journal can hold.
pub fn add(now: time::OffsetDateTime, d: Duration) -> Result<time::OffsetDateTime, String> {
    time::Duration::try_from(d).ok().and_then(|d| now.checked_add(d)).ok_or_else(|| {
        format!(
            "{} after {} is beyond the latest representable time",
            humantime::format_duration(d),
            now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
        )
    })
}

/// The deepest nesting of block helpers and subexpressions in a template, found by a linear scan
/// of its text (no recursion, no compilation: this runs before the template is compiled, so a
/// template nested thousands deep is refused instead of exhausting the stack). It over-counts
/// rather than under-counts: text that handlebars would reject anyway may count deeper.
pub fn template_nesting(template: &str) -> usize {
    let bytes = template.as_bytes();
    // Weight of each open block: 1, plus 1 per `{{else if ...}}` in its chain (each one nests
    // the rest of the chain one level deeper).
    let mut blocks: Vec<usize> = Vec::new();
    let mut open: usize = 0;
    let mut deepest: usize = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if !(bytes[i] == b'{' && bytes[i + 1] == b'{') {
            i += 1;
            continue;
        }
        i += 2;
        while i < bytes.len() && matches!(bytes[i], b'{' | b'~' | b'&') {
            i += 1;
        }
        // Comments hold no expressions: skip them whole.
        if bytes[i..].starts_with(b"!--") {
            i = find(bytes, i, b"--}}").map_or(bytes.len(), |e| e + 4);
            continue;
        }
        if bytes.get(i) == Some(&b'!') {
            i = find(bytes, i, b"}}").map_or(bytes.len(), |e| e + 2);
            continue;
        }
        match bytes.get(i) {
            Some(b'#') | Some(b'^') if !closes_at(bytes, i + 1) => {
                blocks.push(1);
                open += 1;
            }
            Some(b'/') => {
                open -= blocks.pop().unwrap_or(0).min(open);
            }
            _ => {
                let rest = &bytes[i..];
                let chained = rest.starts_with(b"else")
                    && rest.get(4).is_some_and(|c| c.is_ascii_whitespace())
                    && !closes_at(bytes, i + 4);
                if chained {
                    if let Some(top) = blocks.last_mut() {
                        *top += 1;
                    }
                    open += 1;
                }
            }
        }
        deepest = deepest.max(open);
        // The expression itself: count subexpression parentheses outside string literals.
        let mut parens: usize = 0;
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            let c = bytes[i];
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' => quote = Some(c),
                None if c == b'(' => {
                    parens += 1;
                    deepest = deepest.max(open + parens);
                }
                None if c == b')' => parens = parens.saturating_sub(1),
                None if c == b'}' && bytes.get(i + 1) == Some(&b'}') => break,
                None => {}
            }
            i += 1;
        }
        i += 2;
    }
    deepest
}

/// Whether only whitespace (and `~`) stands between `at` and the next `}}`.
fn closes_at(bytes: &[u8], at: usize) -> bool {
    bytes[at.min(bytes.len())..]
        .iter()
        .find(|c| !c.is_ascii_whitespace() && **c != b'~')
        .is_none_or(|c| *c == b'}')
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded_by_their_use() {
        assert_eq!(parse("400d", DurationUse::Duration), Ok(MAX_DURATION));
        assert!(parse("401d", DurationUse::Duration)
            .unwrap_err()
            .contains("longer than the maximum of 400 days"));
        assert!(parse("1000000000y", DurationUse::Duration).is_err());
        assert_eq!(parse("1s", DurationUse::PollInterval), Ok(Duration::from_secs(1)));
        assert!(parse("1ns", DurationUse::PollInterval)
            .unwrap_err()
            .contains("minimum poll interval of 1s"));
        assert_eq!(parse("1ns", DurationUse::Duration), Ok(Duration::from_nanos(1)));
        assert!(parse("soon", DurationUse::Duration).unwrap_err().starts_with("is not a duration"));
    }

    #[test]
    fn adding_time_never_panics() {
        let t = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(
            add(t, Duration::from_secs(86_400)),
            Ok(time::macros::datetime!(2026-01-02 00:00:00 UTC))
        );
        let err = add(t, Duration::from_secs(u64::MAX)).unwrap_err();
        assert!(err.contains("beyond the latest representable time"), "{err}");
        assert!(add(t, Duration::from_secs(400 * 365 * 86_400 * 100)).is_err());
    }

    #[test]
    fn nesting_counts_blocks_chains_and_subexpressions() {
        assert_eq!(template_nesting("plain {{ params.a }} text"), 0);
        assert_eq!(template_nesting("{{#if a}}x{{/if}}{{#if b}}y{{/if}}"), 1);
        assert_eq!(template_nesting("{{#if a}}{{#each b}}{{this}}{{/each}}{{/if}}"), 2);
        assert_eq!(template_nesting("{{~#if a~}}{{~#if b~}}{{~/if~}}{{~/if~}}"), 2);
        assert_eq!(template_nesting("{{#if a}}1{{else if b}}2{{else if c}}3{{else}}4{{/if}}"), 3);
        assert_eq!(template_nesting("{{#if a}}1{{^}}2{{/if}}"), 1);
        assert_eq!(template_nesting("{{ eq (len (json x)) 1 }}"), 2);
        assert_eq!(template_nesting("{{#if (eq a 1)}}{{ not (eq b 2) }}{{/if}}"), 2);
        assert_eq!(template_nesting("{{ eq a \"((((\" }}"), 0);
        assert_eq!(template_nesting("{{!-- {{#if a}} --}}{{! {{#if b}}"), 0);
        let deep = "{{#if a}}".repeat(8000) + &"{{/if}}".repeat(8000);
        assert_eq!(template_nesting(&deep), 8000);
        assert_eq!(template_nesting(&"(".repeat(50_000)), 0);
        assert_eq!(template_nesting(&format!("{{{{ {} }}}}", "(".repeat(50_000))), 50_000);
        // Unbalanced or truncated text never panics.
        for t in ["{{", "{{#", "{{/if}}{{/if}}", "{{else ", "{{!--", "{{ (\"", "}}{{"] {
            let _ = template_nesting(t);
        }
    }
}
