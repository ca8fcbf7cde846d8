//! A YAML document as a tree of nodes that each know their line and column.
//!
//! Why a tree instead of deserialising straight into typed structs: serde stops at the first
//! error, but the validator must report every problem at once, each with its position. So the
//! document is first read (with serde-saphyr's `Spanned`) into this untyped, position-carrying
//! tree; `load` then walks it and collects diagnostics. Duplicate mapping keys are passed through
//! by the parser so the walk can report them like any other error.

use super::model::Span;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; duplicates are kept (the validator reports them).
    Map(Vec<(Key, Node)>),
}

/// A mapping key (always a scalar, read as text) and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// A YAML syntax (or structure) error, with its position when the parser knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

fn span_of(loc: &serde_saphyr::Location) -> Span {
    Span {
        line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
        column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
    }
}

/// Parses `text` into a [`Node`] tree. An empty document is a `Null` node at 1:1.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    match serde_saphyr::from_str_with_options::<Option<Node>>(text, options) {
        Ok(Some(node)) => Ok(node),
        Ok(None) => Ok(Node { span: Span { line: 1, column: 1 }, kind: NodeKind::Null }),
        Err(e) => {
            let span = e
                .location()
                .map(|l| span_of(&l))
                .filter(|s| s.line > 0)
                .unwrap_or(Span { line: 1, column: 1 });
            Err(SyntaxError { span, message: plain_message(&e) })
        }
    }
}

/// The parser's message without its own location prefix or source snippet: the diagnostic adds
/// `path:line:col` itself, in the project's grammar.
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("invalid yaml").trim();
    // serde-saphyr prefixes "error: line X column Y: " or similar; keep what follows.
    let msg = match first.find(": ") {
        Some(i) if first[..i].contains("line") => &first[i + 2..],
        _ => first,
    };
    // ... and a trailing " at line X, column Y", which repeats the position.
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    let msg = msg.trim_end_matches('.');
    let mut chars = msg.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "invalid yaml".to_string(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeKind>::deserialize(d)?;
        Ok(Node { span: span_of(&spanned.referenced), kind: spanned.value })
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any yaml value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        NodeKind::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(NodeKind::Int(i)),
            Err(_) => Ok(NodeKind::Float(v as f64)),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        Ok(NodeKind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(NodeKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Node>()?;
            entries.push((Key { name: key.value.0, span: span_of(&key.referenced) }, value));
        }
        Ok(NodeKind::Map(entries))
    }
}

/// A key's text: any scalar is accepted and read as written.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(KeyText)
    }
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }
    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
    /// The node as plain JSON (positions dropped).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => {
                serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null)
            }
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_positions_and_types() {
        let n = parse("a: 1\nb:\n  - x\n  - 'y'\n  - true\nc: dup\nc: [1, ~]\n").unwrap();
        let NodeKind::Map(entries) = &n.kind else { panic!("not a map: {n:?}") };
        let names: Vec<&str> = entries.iter().map(|(k, _)| k.name.as_str()).collect();
        // Duplicate keys are kept for the validator to report.
        assert_eq!(names, ["a", "b", "c", "c"]);
        assert_eq!(entries[0].1.kind, NodeKind::Int(1));
        assert_eq!(entries[0].1.span, Span { line: 1, column: 4 });
        let NodeKind::Seq(items) = &entries[1].1.kind else { panic!("not a list") };
        assert_eq!(items[1].kind, NodeKind::Str("y".into()));
        assert_eq!(items[2].kind, NodeKind::Bool(true));
        assert_eq!(items[2].span, Span { line: 5, column: 5 });
        assert_eq!(entries[3].0.span, Span { line: 7, column: 1 });
        assert_eq!(entries[3].1.to_json(), serde_json::json!([1, null]));
    }

    #[test]
    fn syntax_errors_have_a_position_and_a_plain_message() {
        let e = parse("a: [1, 2\n").unwrap_err();
        assert_eq!(e.span, Span { line: 1, column: 4 });
        assert_eq!(e.message, "unclosed bracket '['");
        let e = parse("a:\n\tb: 1\n").unwrap_err();
        assert_eq!(e.span.line, 2);
        assert_eq!(parse("# only a comment\n").unwrap().kind, NodeKind::Null);
    }
}
