//! A KQL evaluator for the subset of Azure Resource Graph that lifeboat's queries use.
//!
//! Contract (used by the Resource Graph endpoint of the simulator):
//! `evaluate(query, tables)` parses the query, evaluates it over the named tables (`resources`,
//! `securityresources`), and returns a [`Table`] with typed columns in projection order. An
//! unsupported operator or function, or a syntax error, is a [`KqlError`] that names the
//! construct and its character position (the endpoint turns it into an ARM 400).

use serde_json::Value;

/// The rows of the tables a query can start from. Rows are JSON objects as Resource Graph
/// stores them (`id`, `name`, `type` (lowercase), `location`, `resourceGroup`, `subscriptionId`,
/// `properties`, `tags`, ...).
pub trait Tables {
    fn get(&self, name: &str) -> Option<&[Value]>;
}

impl Tables for std::collections::BTreeMap<String, Vec<Value>> {
    fn get(&self, name: &str) -> Option<&[Value]> {
        std::collections::BTreeMap::get(self, name).map(|v| v.as_slice())
    }
}

/// Resource Graph column types, as the `table` result format names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Integer,
    Real,
    Boolean,
    Object,
    Datetime,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct KqlError {
    pub message: String,
    /// 0-based character offset into the query.
    pub position: usize,
}

mod eval;
mod lex;
mod parse;

use std::borrow::Cow;

/// The columns every Resource Graph table has, in the order Resource Graph returns them. Rows
/// may carry more keys (appended after these); a query that names a column outside both is an
/// error, as in Kusto, which catches typos such as `locaton` instead of an empty result.
const STANDARD_COLUMNS: &[&str] = &[
    "id",
    "name",
    "type",
    "tenantId",
    "kind",
    "location",
    "resourceGroup",
    "subscriptionId",
    "managedBy",
    "sku",
    "plan",
    "properties",
    "tags",
    "identity",
    "zones",
    "extendedLocation",
];

/// Evaluates `query` over `tables`. Table names are case-insensitive (`Resources` and
/// `resources` are the same table, as in Resource Graph); `tables` is asked for the lowercase
/// name. Never panics, whatever the query.
pub fn evaluate(query: &str, tables: &dyn Tables) -> Result<Table, KqlError> {
    let tokens = lex::tokenize(query)?;
    let parsed = parse::parse(&tokens)?;
    let rows = tables.get(&parsed.table.to_lowercase()).ok_or_else(|| KqlError {
        message: format!(
            "unknown table '{}' (Resource Graph tables here: resources, securityresources)",
            parsed.table
        ),
        position: parsed.table_pos,
    })?;
    let mut cols: Vec<String> = STANDARD_COLUMNS.iter().map(|c| (*c).to_string()).collect();
    for row in rows {
        if let Value::Object(m) = row {
            for k in m.keys() {
                if !cols.iter().any(|c| c == k) {
                    cols.push(k.clone());
                }
            }
        }
    }
    let null = Value::Null;
    let frame_rows = rows
        .iter()
        .map(|row| {
            cols.iter().map(|c| Cow::Borrowed(row.get(c.as_str()).unwrap_or(&null))).collect()
        })
        .collect();
    let out = eval::run(&parsed, eval::Frame { cols, rows: frame_rows })?;
    let columns = out
        .cols
        .iter()
        .enumerate()
        .map(|(i, name)| Column {
            name: name.clone(),
            ty: infer_type(out.rows.iter().filter_map(|r| r.get(i)).map(|c| c.as_ref())),
        })
        .collect();
    let rows = out.rows.into_iter().map(|r| r.into_iter().map(Cow::into_owned).collect()).collect();
    Ok(Table { columns, rows })
}

/// The Resource Graph type of a column from its values: one kind throughout gives that kind
/// (strings that are all RFC 3339 timestamps are `datetime`), integers mixed with reals are
/// `real`, anything else mixed is `object` (dynamic). A column of nulls only is `string`.
fn infer_type<'v>(values: impl Iterator<Item = &'v Value>) -> ColumnType {
    let mut ty: Option<ColumnType> = None;
    for v in values {
        let t = match v {
            Value::Null => continue,
            Value::Bool(_) => ColumnType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => ColumnType::Integer,
            Value::Number(_) => ColumnType::Real,
            Value::String(s) if is_datetime(s) => ColumnType::Datetime,
            Value::String(_) => ColumnType::String,
            Value::Array(_) | Value::Object(_) => ColumnType::Object,
        };
        ty = Some(match (ty, t) {
            (None, t) => t,
            (Some(a), b) if a == b => a,
            (Some(ColumnType::Integer), ColumnType::Real)
            | (Some(ColumnType::Real), ColumnType::Integer) => ColumnType::Real,
            (Some(ColumnType::Datetime), ColumnType::String)
            | (Some(ColumnType::String), ColumnType::Datetime) => ColumnType::String,
            _ => ColumnType::Object,
        });
    }
    ty.unwrap_or(ColumnType::String)
}

fn is_datetime(s: &str) -> bool {
    // Cheap pre-check before the parser: `2024-01-31T...`.
    s.len() >= 20
        && s.as_bytes().get(4) == Some(&b'-')
        && s.as_bytes().get(10) == Some(&b'T')
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    const SEED_QUERY: &str = r#"resources
| extend connectorType = tostring(parse_json(properties["environmentName"]))
| where type == "microsoft.security/securityconnectors"
| where connectorType in ("AzureDevOps", "Github", "GitLab")
| project connectorResourceId = id, region = location"#;

    fn connector(sub: &str, name: &str, env: &str, location: &str) -> Value {
        json!({
            "id": format!("/subscriptions/{sub}/resourceGroups/rg-{name}/providers/Microsoft.Security/securityConnectors/{name}"),
            "name": name,
            "type": "microsoft.security/securityconnectors",
            "location": location,
            "resourceGroup": format!("rg-{name}"),
            "subscriptionId": sub,
            "tags": {"owner": "team-a"},
            "properties": {"environmentName": env, "hierarchyIdentifier": "h1", "environmentData": {"environmentType": format!("{env}Scope")}},
        })
    }

    /// Connectors of every environment type (DevOps ones and cloud ones that must be left
    /// out), plus other resources, one of them with the connector type in another casing.
    fn sample() -> BTreeMap<String, Vec<Value>> {
        let mut resources = vec![
            connector("s1", "ado-weu", "AzureDevOps", "westeurope"),
            connector("s1", "gh-eus", "Github", "eastus"),
            connector("s2", "gl-eus", "GitLab", "eastus"),
            connector("s2", "aws", "AWS", "eastus"),
            connector("s2", "gcp", "GCP", "westeurope"),
            json!({"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1",
                   "name": "st1", "type": "microsoft.storage/storageaccounts", "location": "eastus",
                   "subscriptionId": "s1", "resourceGroup": "rg", "properties": {"environmentName": "AzureDevOps"}}),
            json!({"id": "/subscriptions/s3/x/no-props", "name": "np", "type": "microsoft.security/securityconnectors",
                   "location": "northeurope", "subscriptionId": "s3", "resourceGroup": "rg"}),
        ];
        let mut cased = connector("s3", "ado-cased", "AzureDevOps", "northeurope");
        cased["type"] = json!("Microsoft.Security/securityConnectors");
        resources.push(cased);
        let mut lower_env = connector("s3", "gh-lower", "github", "northeurope");
        lower_env["properties"]["count"] = json!(3);
        resources.push(lower_env);
        let security = vec![
            json!({"id": "/subscriptions/s1/providers/Microsoft.Security/assessments/a1",
            "name": "a1", "type": "microsoft.security/assessments", "location": "global",
            "subscriptionId": "s1", "properties": {"status": {"code": "Unhealthy"}, "severity": 2}}),
        ];
        BTreeMap::from([
            ("resources".to_string(), resources),
            ("securityresources".to_string(), security),
        ])
    }

    fn run(q: &str) -> Table {
        evaluate(q, &sample()).unwrap_or_else(|e| panic!("{q}\n{e}"))
    }

    fn run_err(q: &str) -> String {
        match evaluate(q, &sample()) {
            Ok(t) => panic!("{q} should fail, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// One column's values as strings (null as "null").
    fn col(t: &Table, name: &str) -> Vec<String> {
        let i = t
            .columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", t.columns));
        t.rows
            .iter()
            .map(|r| match &r[i] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect()
    }

    fn names(t: &Table) -> Vec<&str> {
        t.columns.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn seed_query_returns_exactly_the_devops_connectors() {
        let t = run(SEED_QUERY);
        assert_eq!(
            t.columns,
            vec![
                Column { name: "connectorResourceId".into(), ty: ColumnType::String },
                Column { name: "region".into(), ty: ColumnType::String },
            ]
        );
        // `type ==` is case-sensitive and `in` too: the cased type, lowercase "github", AWS,
        // GCP, the storage account and the connector without properties are all left out.
        assert_eq!(col(&t, "region"), vec!["westeurope", "eastus", "eastus"]);
        assert!(col(&t, "connectorResourceId")[0].ends_with("/securityConnectors/ado-weu"));
    }

    #[test]
    fn project_query_of_the_repo_runs() {
        let q = crate::queries::DEVOPS_CONNECTORS;
        let t = run(q);
        assert_eq!(
            names(&t),
            [
                "connectorResourceId",
                "region",
                "connectorType",
                "name",
                "subscriptionId",
                "resourceGroup",
                "tags",
                "kind",
                "properties"
            ]
        );
        assert_eq!(col(&t, "name"), vec!["ado-weu", "gh-eus", "gl-eus"], "ordered by id ascending");
        assert_eq!(col(&t, "connectorType"), vec!["AzureDevOps", "Github", "GitLab"]);
        assert_eq!(t.columns[6].ty, ColumnType::Object);
    }

    #[test]
    fn table_names_are_case_insensitive_and_unknown_tables_fail() {
        assert_eq!(run("Resources | count").rows, vec![vec![json!(9)]]);
        assert_eq!(run("SecurityResources | count").rows, vec![vec![json!(1)]]);
        assert_eq!(
            run_err("resourcecontainers | count"),
            "unknown table 'resourcecontainers' (Resource Graph tables here: resources, securityresources) (at position 0)"
        );
    }

    #[test]
    fn where_operators() {
        let count =
            |w: &str| run(&format!("resources | where {w} | count")).rows[0][0].as_i64().unwrap();
        assert_eq!(count("type == 'microsoft.security/securityconnectors'"), 7);
        assert_eq!(count("type =~ 'MICROSOFT.SECURITY/SECURITYCONNECTORS'"), 8);
        assert_eq!(count("type != 'microsoft.security/securityconnectors'"), 2);
        assert_eq!(count("type !~ 'microsoft.security/securityconnectors'"), 1);
        assert_eq!(count("name in ('aws', 'gcp', 'nope')"), 2);
        assert_eq!(count("name !in ('aws', 'gcp')"), 7);
        assert_eq!(count("properties.environmentName in~ ('GITHUB')"), 2);
        assert_eq!(
            count("properties.environmentName !in~ ('GITHUB')"),
            6,
            "null environment: neither in nor !in"
        );
        assert_eq!(count("name in (dynamic(['aws', 'gcp']))"), 2);
        assert_eq!(count("type contains 'SECURITY'"), 8);
        assert_eq!(count("type contains_cs 'SECURITY'"), 0);
        assert_eq!(count("type !contains 'security'"), 1);
        assert_eq!(count("type has 'security'"), 8, "'.' and '/' delimit terms");
        assert_eq!(count("type has 'securityconn'"), 0);
        assert_eq!(count("type has 'securityconnectors'"), 8);
        assert_eq!(count("type !has 'storageaccounts'"), 8);
        assert_eq!(count("name startswith 'GH-'"), 2);
        assert_eq!(count("name !startswith 'gh-'"), 7);
        assert_eq!(count("name endswith '-EUS'"), 2);
        assert_eq!(count("name endswith_cs '-EUS'"), 0);
        assert_eq!(count("properties.count > 2"), 1);
        assert_eq!(count("properties.count >= 3 and properties.count <= 3"), 1);
        assert_eq!(count("properties.count < 3"), 0);
        assert_eq!(count("location == 'eastus' and subscriptionId == 's2'"), 2);
        assert_eq!(count("location == 'eastus' or location == 'westeurope'"), 6);
        assert_eq!(count("not(location == 'eastus')"), 5);
        assert_eq!(count("isnotempty(properties.environmentName)"), 8);
        assert_eq!(count("isempty(properties.environmentName)"), 1);
        assert_eq!(count("isnull(properties)"), 1);
        assert_eq!(count("isnotnull(properties)"), 8);
        assert_eq!(count("properties.missing == 'x'"), 0);
        assert_eq!(count("properties.missing != 'x'"), 0, "comparisons with null are false");
        assert_eq!(count("not(properties.missing == 'x')"), 0);
        assert_eq!(count("(name == 'aws' or name == 'gcp') and location == 'eastus'"), 1);
        assert_eq!(count("true"), 9);
        assert_eq!(count("tags['owner'] == 'team-a'"), 7);
    }

    #[test]
    fn tabular_operators() {
        let t = run("resources | where type =~ 'microsoft.security/securityconnectors' | summarize count() by location | order by count_ desc, location asc");
        assert_eq!(names(&t), ["location", "count_"]);
        assert_eq!(t.columns[1].ty, ColumnType::Integer);
        assert_eq!(col(&t, "location"), ["eastus", "northeurope", "westeurope"]);
        assert_eq!(col(&t, "count_"), ["3", "3", "2"]);
        let t = run("resources | summarize n = count(), subs = dcount(subscriptionId) by loc = location, subscriptionId | sort by loc asc, subscriptionId asc | take 2");
        assert_eq!(names(&t), ["loc", "subscriptionId", "n", "subs"]);
        assert_eq!(
            t.rows,
            vec![
                vec![json!("eastus"), json!("s1"), json!(2), json!(1)],
                vec![json!("eastus"), json!("s2"), json!(2), json!(1)]
            ]
        );
        assert_eq!(run("resources | summarize count()").rows, vec![vec![json!(9)]]);
        assert_eq!(
            run("resources | where name == 'none' | summarize count()").rows,
            vec![vec![json!(0)]]
        );
        assert_eq!(run("resources | summarize dcount(location)").rows, vec![vec![json!(3)]]);
        let t = run("resources | summarize s = sum(properties.count), mx = max(name), mn = min(name), c = countif(location == 'eastus'), a = avg(properties.count)");
        assert_eq!(
            t.rows,
            vec![vec![json!(3), json!("st1"), json!("ado-cased"), json!(4), json!(3.0)]]
        );
        let t = run("resources | distinct location | order by location");
        assert_eq!(
            col(&t, "location"),
            ["westeurope", "northeurope", "eastus"],
            "order by defaults to desc"
        );
        assert_eq!(run("resources | distinct * | count").rows[0][0], json!(9));
        assert_eq!(
            run("resources | distinct subscriptionId, location | count").rows[0][0],
            json!(5)
        );
        assert_eq!(run("resources | limit 4 | count").rows[0][0], json!(4));
        assert_eq!(run("resources | take 0").rows.len(), 0);
        assert_eq!(
            col(&run("resources | top 2 by name asc | project name"), "name"),
            ["ado-cased", "ado-weu"]
        );
        let t = run("resources | project-away properties, tags, id, extended*, t* ");
        assert_eq!(
            names(&t),
            [
                "name",
                "kind",
                "location",
                "resourceGroup",
                "subscriptionId",
                "managedBy",
                "sku",
                "plan",
                "identity",
                "zones"
            ]
        );
        let t = run("resources | project-rename region = location | project region | take 1");
        assert_eq!(t.rows, vec![vec![json!("westeurope")]]);
        // nulls sort last when descending and first when ascending.
        let t = run("resources | project e = tostring(properties.environmentName), n = properties.environmentName | sort by n asc | take 1");
        assert_eq!(t.rows[0][1], Value::Null);
        let t = run("resources | project n = properties.environmentName | sort by n desc nulls first | take 1");
        assert_eq!(t.rows[0][0], Value::Null);
        let t = run("resources | where name == 'aws' | extend name = toupper(name), x = 1 | project name, x");
        assert_eq!(t.rows, vec![vec![json!("AWS"), json!(1)]]);
        let t = run("resources | take 1 | project name, name, properties.environmentName, properties['hierarchyIdentifier'], strlen(name)");
        assert_eq!(
            names(&t),
            [
                "name",
                "name1",
                "properties_environmentName",
                "properties_hierarchyIdentifier",
                "Column1"
            ]
        );
    }

    #[test]
    fn scalar_functions() {
        let one = |e: &str| {
            run(&format!("resources | where name == 'gh-lower' | project v = {e}")).rows[0][0]
                .clone()
        };
        assert_eq!(one("tostring(properties.count)"), json!("3"));
        assert_eq!(one("tostring(properties.missing)"), json!(""));
        assert_eq!(one("tostring(tags)"), json!(r#"{"owner":"team-a"}"#));
        assert_eq!(one("tolower('AbC')"), json!("abc"));
        assert_eq!(one("toupper(name)"), json!("GH-LOWER"));
        assert_eq!(one("toint('42')"), json!(42));
        assert_eq!(one("toint('nope')"), Value::Null);
        assert_eq!(one("toint(5000000000)"), Value::Null);
        assert_eq!(one("tolong(5000000000)"), json!(5_000_000_000_i64));
        assert_eq!(one("tolong(2.9)"), json!(2));
        assert_eq!(one("toreal('2.5')"), json!(2.5));
        assert_eq!(one("tobool('TRUE')"), json!(true));
        assert_eq!(one("parse_json('{\"a\": [1, 2]}').a[1]"), json!(2));
        assert_eq!(one("todynamic('[1,2,3]')[-1]"), json!(3));
        assert_eq!(one("parse_json('not json')"), json!("not json"));
        assert_eq!(one("parse_json(properties).environmentName"), json!("github"));
        assert_eq!(one("properties.environmentData.environmentType"), json!("githubScope"));
        assert_eq!(one("properties['environmentData']['environmentType']"), json!("githubScope"));
        assert_eq!(one("properties.['environmentData'].environmentType"), json!("githubScope"));
        assert_eq!(one("dynamic(['a', 'b'])[0]"), json!("a"));
        assert_eq!(one("dynamic(['a', 'b'])[5]"), Value::Null);
        assert_eq!(one("name[0]"), Value::Null);
        assert_eq!(one("strlen('héllo')"), json!(5));
        assert_eq!(
            one("strcat(name, '/', properties.count, '/', properties.missing)"),
            json!("gh-lower/3/")
        );
        assert_eq!(one("iff(properties.count > 2, 'big', 'small')"), json!("big"));
        assert_eq!(one("iif(properties.missing > 2, 'big', 'small')"), json!("small"));
        assert_eq!(one("coalesce(properties.missing, '', name)"), json!("gh-lower"));
        assert_eq!(one("array_length(dynamic([1, 2]))"), json!(2));
        assert_eq!(one("properties.count * 2 + 1 - 10 / 5 % 3"), json!(5));
        assert_eq!(one("-properties.count"), json!(-3));
        assert_eq!(one("1.5 * 2"), json!(3.0));
        assert_eq!(one("\"it's\""), json!("it's"));
        assert_eq!(one("false"), json!(false));
    }

    #[test]
    fn result_column_types() {
        let t = run("resources | take 1 | project s = name, i = 1, r = 1.5, b = true, o = properties, d = '2024-05-01T10:00:00Z', n = properties.missing, m = iff(true, 1, 2.5)");
        let types: Vec<ColumnType> = t.columns.iter().map(|c| c.ty).collect();
        use ColumnType::*;
        assert_eq!(types, [String, Integer, Real, Boolean, Object, Datetime, String, Integer]);
        let values = [json!(1), json!(2.5)];
        assert_eq!(infer_type(values.iter()), Real);
        let values = [json!("a"), json!({"x": 1})];
        assert_eq!(infer_type(values.iter()), Object);
    }

    #[test]
    fn errors_point_at_the_construct() {
        let q = "resources | where type == 'x' | join (securityresources) on id";
        assert_eq!(run_err(q), "unsupported tabular operator 'join' (at position 32)");
        assert_eq!(&q[32..36], "join");
        assert_eq!(
            run_err("resources | where locaton == 'x'"),
            "unknown column 'locaton' (at position 18)"
        );
        assert_eq!(
            run_err("resources | where Location == 'x'"),
            "unknown column 'Location' (did you mean 'location'?) (at position 18)"
        );
        assert_eq!(
            run_err("resources | project a = name | where name == 'x'"),
            "unknown column 'name' (at position 37)"
        );
        assert_eq!(
            run_err("resources | project-away nope"),
            "unknown column 'nope' (at position 25)"
        );
        assert_eq!(
            run_err("resources | where name matches regex 'x'"),
            "unsupported operator 'matches' (at position 23)"
        );
        assert_eq!(
            run_err("resources\n| extend x = bag_keys(properties)"),
            "unsupported function 'bag_keys' (at position 23)"
        );
        assert_eq!(
            run_err("resources | where name == 'x"),
            "unterminated string literal (at position 26)"
        );
    }

    /// A tiny deterministic generator (xorshift) so the test needs no extra dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn never_panics_on_random_or_truncated_queries() {
        let tables = sample();
        let fragments = [
            "resources",
            "securityresources",
            "|",
            "where",
            "extend",
            "project",
            "project-away",
            "summarize",
            "count()",
            "by",
            "order",
            "sort",
            "asc",
            "desc",
            "take",
            "limit",
            "distinct",
            "count",
            "top",
            "x",
            "=",
            "==",
            "!=",
            "=~",
            "!~",
            "in",
            "!in",
            "in~",
            "(",
            ")",
            "[",
            "]",
            ",",
            ".",
            "'a'",
            "\"b\"",
            "1",
            "-2",
            "2.5",
            "and",
            "or",
            "not",
            "contains",
            "!contains",
            "has",
            "startswith",
            "tostring(",
            "parse_json(",
            "dynamic(",
            "{",
            "}",
            ":",
            "properties",
            "name",
            "type",
            "location",
            "id",
            "*",
            "/",
            "%",
            "+",
            "-",
            "!",
            "~",
            "@'",
            "'",
            "\"",
            "//",
            "\n",
            "é",
            "nulls",
            "first",
            "iff(",
            "strcat(",
            "0",
            "99999999999999999999999",
            "dcount(",
            "sum(",
            "tags",
            "project-rename",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut ok = 0;
        for _ in 0..3000 {
            let n = 1 + rng.below(14);
            let mut q = String::new();
            for _ in 0..n {
                q.push_str(fragments[rng.below(fragments.len())]);
                q.push(if rng.below(4) == 0 { '\n' } else { ' ' });
            }
            if let Ok(t) = evaluate(&q, &tables) {
                ok += 1;
                assert!(t.rows.iter().all(|r| r.len() == t.columns.len()), "{q}");
            } else if let Err(e) = evaluate(&q, &tables) {
                assert!(e.position <= q.chars().count(), "{q}: {e}");
            }
        }
        // Every prefix of real queries, cut at every character.
        for q in [SEED_QUERY, crate::queries::DEVOPS_CONNECTORS] {
            for (i, _) in q.char_indices() {
                if let Err(e) = evaluate(&q[..i], &tables) {
                    assert!(e.position <= i, "{}: {e}", &q[..i]);
                }
            }
        }
        assert!(ok > 0, "some random queries should be valid");
    }

    #[test]
    fn performance_over_fifty_thousand_rows() {
        // Printed, not asserted (timings depend on the machine and on the debug build).
        let envs = ["AzureDevOps", "Github", "GitLab", "AWS", "GCP"];
        let rows: Vec<Value> = (0..50_000)
            .map(|i| {
                let mut r = connector(
                    &format!("s{}", i % 7),
                    &format!("c{i}"),
                    envs[i % 5],
                    if i % 2 == 0 { "eastus" } else { "westeurope" },
                );
                if i % 3 == 0 {
                    r["type"] = json!("microsoft.devops/repos");
                }
                r
            })
            .collect();
        let tables = BTreeMap::from([("resources".to_string(), rows)]);
        for (label, q) in [
            ("seed query", SEED_QUERY),
            ("devops-connectors.kql", crate::queries::DEVOPS_CONNECTORS),
            ("summarize by 2 keys", "resources | summarize count() by location, subscriptionId"),
        ] {
            // A monotonic timer for a printed figure only (not the wall clock).
            let start = std::time::Instant::now();
            let t = evaluate(q, &tables).unwrap();
            if label != "summarize by 2 keys" {
                // i % 3 != 0 (connector type) and i % 5 < 3 (DevOps environment): 6 in 15.
                assert_eq!(t.rows.len(), 20_000, "{label}");
            }
            println!(
                "kql perf: {label}: 50,000 rows -> {} rows in {:?}",
                t.rows.len(),
                start.elapsed()
            );
        }
    }
}
