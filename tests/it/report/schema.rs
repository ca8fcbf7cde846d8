//! `report.json` against the shipped JSON Schema (`docs/drill-report.schema.json`).

use crate::report::{fixtures, repo};
use lifeboat::drill::report::{to_json, DrillReport};
use serde_json::Value;

fn schema() -> Value {
    let text =
        std::fs::read_to_string(repo().join("docs/drill-report.schema.json")).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn validator() -> jsonschema::Validator {
    let schema = schema();
    jsonschema::meta::validate(&schema).expect("the schema is a valid draft 2020-12 schema");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles")
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn every_fixture_validates_and_round_trips() {
    let v = validator();
    for (name, report) in fixtures::all() {
        let text = to_json(&report);
        let doc: Value = serde_json::from_str(&text).expect("report.json is JSON");
        let errs = errors(&v, &doc);
        assert!(errs.is_empty(), "{name}: report.json violates the schema:\n{}", errs.join("\n"));
        let back: DrillReport = serde_json::from_str(&text).expect("report.json reads back");
        assert_eq!(back, report, "{name}: round trip");
    }
}

#[test]
fn schema_rejects_missing_unknown_and_mistyped_fields() {
    let v = validator();
    let good: Value = serde_json::from_str(&to_json(&fixtures::passed())).expect("json");
    assert!(errors(&v, &good).is_empty());

    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut doc = good.clone();
        f(&mut doc);
        errors(&v, &doc)
    };
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("missing rto", Box::new(|d| drop(d.as_object_mut().map(|o| o.remove("rto"))))),
        (
            "missing step result",
            Box::new(|d| drop(d["steps"][0].as_object_mut().map(|o| o.remove("result")))),
        ),
        (
            "missing verdict.passed",
            Box::new(|d| drop(d["verdict"].as_object_mut().map(|o| o.remove("passed")))),
        ),
        ("unknown top-level field", Box::new(|d| d["surprise"] = Value::Bool(true))),
        (
            "unknown api counter",
            Box::new(|d| d["api"]["by_operation"]["PUT devops/default"]["teapots"] = 1.into()),
        ),
        ("bad scenario", Box::new(|d| d["scenario"] = "meteor-strike".into())),
        ("bad step result", Box::new(|d| d["steps"][0]["result"] = "maybe".into())),
        ("bad waited_on", Box::new(|d| d["steps"][0]["waited_on"] = "godot".into())),
        ("wrong schema id", Box::new(|d| d["schema"] = "lifeboat/drill-report/v2".into())),
        ("not a timestamp", Box::new(|d| d["outage"]["injected_at"] = "yesterday".into())),
        ("negative count", Box::new(|d| d["api"]["calls"] = (-1).into())),
        ("string for bool", Box::new(|d| d["recovery"]["verified"] = "yes".into())),
    ];
    for (name, f) in cases {
        assert!(!mutate(&*f).is_empty(), "the schema accepted a report with {name}");
    }
}

#[test]
fn schema_lists_exactly_the_fields_the_model_writes() {
    // Every property the serializer writes is declared, and every declared one is required: so the
    // doc, the schema and the code cannot drift apart silently.
    let schema = schema();
    let doc: Value = serde_json::from_str(&to_json(&fixtures::passed())).expect("json");
    let declared: Vec<&String> =
        schema["properties"].as_object().expect("properties").keys().collect();
    let written: Vec<&String> = doc.as_object().expect("object").keys().collect();
    assert_eq!(declared, written);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(required, written.iter().map(|s| s.as_str()).collect::<Vec<_>>());

    let doc_md =
        std::fs::read_to_string(repo().join("docs/drill-report.md")).expect("docs/drill-report.md");
    for field in written {
        assert!(
            doc_md.contains(&format!("`{field}`")),
            "docs/drill-report.md does not document `{field}`"
        );
    }
}
