//! Secret values out of text: the one redactor for the journal, stdout and stderr.
//!
//! A [`Redactor`] knows secret values (secret parameters, secret step outputs, OAuth codes) and
//! replaces every occurrence of one inside a string by the marker [`MARKER`] (`[REDACTED]`). It
//! keeps types: a string stays a string (object keys included), so a scrubbed event still
//! deserialises into the same shape. Where a whole value is secret and the slot takes any JSON
//! (a secret parameter in the journaled plan, a secret step output), the journal writes
//! `journal::redact`'s `{"redacted": true, "sha256": ...}` instead; a string field never becomes
//! such a map.
//!
//! Every known secret is redacted whatever its length. Because a short value occurs in ordinary
//! text (a 3-character secret would be cut out of every word that contains it), secrets shorter
//! than [`MIN_SECRET_LEN`] characters are refused where they enter (`--set`, prompts, codes
//! files, secret step outputs): see [`weakness`].
//!
//! The process keeps one registry ([`register`], [`process`]): `lifeboat run`/`resume`/guided
//! print through [`scrub_output`], and the tracing writer ([`StderrScrubber`]) scrubs every log
//! line, so what the process learned is redacted on stdout and stderr as in the journal.

use serde_json::Value;
use std::borrow::Cow;
use std::sync::RwLock;

/// Secrets shorter than this (in characters) are refused where they enter.
pub const MIN_SECRET_LEN: usize = 8;

/// What replaces each occurrence of a secret inside a string.
pub const MARKER: &str = "[REDACTED]";

/// Known secret values, longest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub const fn new() -> Redactor {
        Redactor { secrets: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Adds one secret text (an empty one is ignored).
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        self.secrets.push(secret.to_string());
        // Longest first: where two secrets overlap, the longer one decides the marked span.
        self.secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    /// Adds every text of a secret value (see [`secret_texts`]).
    pub fn add_value(&mut self, value: &Value) {
        for t in secret_texts(value) {
            self.add(&t);
        }
    }

    /// Adds every secret another redactor knows.
    pub fn extend(&mut self, other: &Redactor) {
        for s in &other.secrets {
            self.add(s);
        }
    }

    /// Whether `text` contains a known secret.
    pub fn reveals(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// `text` with every occurrence of a known secret replaced by [`MARKER`] (overlapping or
    /// adjacent occurrences become one marker). Should the result still contain a secret (one
    /// that straddles a marker), the whole text becomes the marker.
    pub fn scrub_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.reveals(text) {
            return Cow::Borrowed(text);
        }
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for s in &self.secrets {
            spans.extend(text.match_indices(s.as_str()).map(|(at, m)| (at, at + m.len())));
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        let mut iter = spans.into_iter().peekable();
        while let Some((start, mut end)) = iter.next() {
            while let Some(&(s, e)) = iter.peek() {
                if s > end {
                    break;
                }
                end = end.max(e);
                iter.next();
            }
            // Sorted and merged: every span starts at or after the previous one's end.
            out.push_str(&text[pos..start]);
            out.push_str(MARKER);
            pos = end;
        }
        out.push_str(&text[pos..]);
        if self.reveals(&out) {
            let whole = if self.reveals(MARKER) { "" } else { MARKER };
            return Cow::Owned(whole.to_string());
        }
        Cow::Owned(out)
    }

    /// Scrubs every string of a JSON value in place: values and object keys, at any depth.
    /// Types never change.
    pub fn scrub(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(clean) = self.scrub_str(s) {
                    *s = clean;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.scrub(x)),
            Value::Object(m) => {
                if m.keys().any(|k| self.reveals(k)) {
                    let old = std::mem::take(m);
                    for (k, mut v) in old {
                        self.scrub(&mut v);
                        let mut key = self.scrub_str(&k).into_owned();
                        // Two keys that differ only by their secrets must not overwrite each other.
                        let base = key.clone();
                        let mut n = 2;
                        while m.contains_key(&key) {
                            key = format!("{base}#{n}");
                            n += 1;
                        }
                        m.insert(key, v);
                    }
                } else {
                    m.values_mut().for_each(|x| self.scrub(x));
                }
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
        }
    }
}

/// The texts under which a secret value can appear in a string: a string itself, a number's
/// JSON text, a boolean's word; lists and objects element by element. `null` (an optional
/// secret left unset) and redaction markers have none.
pub fn secret_texts(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Null => {}
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(b.to_string()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(_) if crate::journal::is_redacted(v) => {}
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
        }
    }
    walk(value, &mut out);
    out
}

/// Why a secret text could not be redacted reliably, in words that never show it: shorter than
/// [`MIN_SECRET_LEN`] characters, or part of the marker itself. `None` when it is fine.
pub fn weakness(text: &str) -> Option<String> {
    let n = text.chars().count();
    if n < MIN_SECRET_LEN {
        return Some(format!(
            "is {n} character{} long; a secret needs at least {MIN_SECRET_LEN} (a shorter value occurs in ordinary text, so it could not be kept out of the journal and the output reliably)",
            if n == 1 { "" } else { "s" }
        ));
    }
    if MARKER.contains(text) {
        return Some(format!("is part of the redaction marker {MARKER}"));
    }
    None
}

/// [`weakness`] of every text of a secret value.
pub fn value_weakness(value: &Value) -> Option<String> {
    secret_texts(value).iter().find_map(|t| weakness(t))
}

static PROCESS: RwLock<Redactor> = RwLock::new(Redactor::new());

/// Adds a secret value to the process's registry: from now on [`scrub_output`], the tracing
/// writer and every journal commit of this process redact it.
pub fn register(value: &Value) {
    let texts = secret_texts(value);
    if texts.is_empty() {
        return;
    }
    let mut r = PROCESS.write().unwrap_or_else(|e| e.into_inner());
    for t in texts {
        r.add(&t);
    }
}

/// [`register`] for one secret text.
pub fn register_str(secret: &str) {
    PROCESS.write().unwrap_or_else(|e| e.into_inner()).add(secret);
}

/// A copy of the process's registry.
pub fn process() -> Redactor {
    PROCESS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `text` scrubbed of every secret this process knows: what `run`, `resume` and guided mode
/// print.
pub fn scrub_output(text: &str) -> String {
    let r = PROCESS.read().unwrap_or_else(|e| e.into_inner());
    r.scrub_str(text).into_owned()
}

/// `println!` through [`scrub_output`].
#[macro_export]
macro_rules! say {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::redact::scrub_output(&format!($($arg)*))) };
}

/// `eprintln!` through [`scrub_output`].
#[macro_export]
macro_rules! say_err {
    ($($arg:tt)*) => { eprintln!("{}", $crate::redact::scrub_output(&format!($($arg)*))) };
}

/// A tracing writer to stderr that scrubs each log record (one record is one write) of the
/// process's secrets before it is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrScrubber;

/// One log record, buffered until dropped.
pub struct ScrubbedRecord(Vec<u8>);

impl std::io::Write for ScrubbedRecord {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedRecord {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        let clean = scrub_output(&text);
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), clean.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StderrScrubber {
    type Writer = ScrubbedRecord;
    fn make_writer(&'a self) -> ScrubbedRecord {
        ScrubbedRecord(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(secrets: &[&str]) -> Redactor {
        let mut r = Redactor::new();
        for s in secrets {
            r.add(s);
        }
        r
    }

    #[test]
    fn every_occurrence_becomes_the_marker_and_types_stay() {
        let r = r(&["hunter2-long"]);
        assert_eq!(r.scrub_str("a hunter2-long b hunter2-long"), "a [REDACTED] b [REDACTED]");
        let mut v = json!({"s": "x hunter2-long", "n": 3, "l": ["hunter2-long"], "hunter2-long-k": {"k": true}});
        r.scrub(&mut v);
        assert_eq!(
            v,
            json!({"s": "x [REDACTED]", "n": 3, "l": ["[REDACTED]"], "[REDACTED]-k": {"k": true}})
        );
    }

    #[test]
    fn overlapping_secrets_leave_nothing_behind() {
        let r = r(&["abcdefgh", "efghijkl"]);
        let out = r.scrub_str("xxabcdefghijklyy");
        assert_eq!(out, "xx[REDACTED]yy");
        // Adjacent occurrences: one marker.
        assert_eq!(r.scrub_str("abcdefghabcdefgh"), "[REDACTED]");
    }

    #[test]
    fn a_secret_straddling_a_marker_empties_into_the_marker() {
        // "D]zzzzzz" appears only once the first secret became the marker.
        let r = r(&["1234567890", "D]zzzzzz"]);
        let out = r.scrub_str("1234567890zzzzzz");
        assert!(!r.reveals(&out), "{out}");
        assert_eq!(out, MARKER);
    }

    #[test]
    fn keys_that_collide_after_scrubbing_are_kept_apart() {
        let r = r(&["secret-aaa", "secret-bbb"]);
        let mut v = json!({"k-secret-aaa": 1, "k-secret-bbb": 2});
        r.scrub(&mut v);
        let m = v.as_object().unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.keys().all(|k| k.starts_with("k-[REDACTED]")));
    }

    #[test]
    fn short_secrets_and_marker_parts_are_weak() {
        assert!(weakness("abc").unwrap().contains("is 3 characters long"));
        assert!(weakness("REDACTED").unwrap().contains("marker"));
        assert!(weakness("a-long-secret").is_none());
        assert!(value_weakness(&json!(["a-long-secret", "x"])).is_some());
        assert!(value_weakness(&json!(12345)).is_some());
        assert!(value_weakness(&json!(null)).is_none());
        assert!(value_weakness(&crate::journal::redact(&json!("x"))).is_none());
        assert!(!weakness("abc").unwrap().contains("abc"), "never shows the value");
    }
}
