//! Stored values Azure refuses (`POST /_sim/reject`): a write whose body carries a field path
//! (with a given value, or any value) gets `400 InvalidRequestContent` naming the path, as ARM
//! answers a property its model cannot take. Tests use it to stage "a snapshot field that the
//! current api-version refuses".

use super::server::ArmError;
use serde::Serialize;
use serde_json::Value;

/// One refused field: `path` is dotted (`properties.actionableRemediation.state`); an array is
/// matched element by element (`properties.offerings.offeringType` or `...offerings[0]...`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    pub path: String,
    /// `None`: any value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

const MAX_PATH: usize = 512;

impl Reject {
    /// Checks a path given by a test: non-empty dotted segments of printable characters.
    pub fn new(path: &str, value: Option<Value>) -> Result<Reject, String> {
        let p = normalize(path);
        let ok = !p.is_empty()
            && p.len() <= MAX_PATH
            && p.split('.').all(|s| !s.is_empty())
            && !p.chars().any(char::is_control);
        if !ok {
            return Err(format!(
                "'path' must be a dotted field path of at most {MAX_PATH} characters, e.g. properties.actionableRemediation.state"
            ));
        }
        Ok(Reject { path: p, value })
    }
}

fn normalize(path: &str) -> String {
    path.trim().replace('[', ".").replace(']', "").trim_matches('.').to_string()
}

/// The concrete paths and values at `path` in `body`.
fn found(body: &Value, path: &str) -> Vec<(String, Value)> {
    fn go(v: &Value, segs: &[&str], at: String, out: &mut Vec<(String, Value)>) {
        let Some((first, rest)) = segs.split_first() else {
            out.push((at, v.clone()));
            return;
        };
        match v {
            Value::Object(m) => {
                if let Some(child) = m.get(*first) {
                    let next =
                        if at.is_empty() { first.to_string() } else { format!("{at}.{first}") };
                    go(child, rest, next, out);
                }
            }
            Value::Array(a) => match first.parse::<usize>() {
                Ok(i) => {
                    if let Some(item) = a.get(i) {
                        go(item, rest, format!("{at}[{i}]"), out);
                    }
                }
                Err(_) => {
                    for (i, item) in a.iter().enumerate() {
                        go(item, segs, format!("{at}[{i}]"), out);
                    }
                }
            },
            _ => {}
        }
    }
    let segs: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    go(body, &segs, String::new(), &mut out);
    out
}

/// The first refusal that `body` triggers, as ARM's error.
pub fn check(rejects: &[Reject], body: &Value) -> Result<(), ArmError> {
    for r in rejects {
        for (at, v) in found(body, &r.path) {
            if r.value.as_ref().is_none_or(|want| *want == v) {
                let mut shown = v.to_string();
                if shown.len() > 200 {
                    shown.truncate(200);
                    shown.push('…');
                }
                return Err(ArmError::new(
                    400,
                    "InvalidRequestContent",
                    format!(
                        "The request content was invalid and could not be deserialized: 'The value {shown} is not accepted for property '{at}'. Path '{at}', line 1.'"
                    ),
                )
                .target(&at));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_match_through_arrays_and_values_narrow_them() {
        let body = json!({"properties": {"actionableRemediation": {"state": "Enabled",
            "categoryConfigurations": [{"category": "Code"}, {"category": "Futuristic"}]}}});
        let any = Reject::new("properties.actionableRemediation.state", None).unwrap();
        let e = check(&[any], &body).unwrap_err();
        assert_eq!(e.target.as_deref(), Some("properties.actionableRemediation.state"));
        assert!(e.message.contains("\"Enabled\""), "{}", e.message);
        let cat = Reject::new(
            "properties.actionableRemediation.categoryConfigurations.category",
            Some(json!("Futuristic")),
        )
        .unwrap();
        let e = check(&[cat], &body).unwrap_err();
        assert_eq!(
            e.target.as_deref(),
            Some("properties.actionableRemediation.categoryConfigurations[1].category")
        );
        let other =
            Reject::new("properties.actionableRemediation.state", Some(json!("Disabled"))).unwrap();
        assert!(check(&[other], &body).is_ok());
        let indexed =
            Reject::new("properties.actionableRemediation.categoryConfigurations[0]", None)
                .unwrap();
        assert!(check(&[indexed], &body).is_err());
        assert!(Reject::new("", None).is_err());
        assert!(Reject::new("a..b", None).is_err());
    }
}
