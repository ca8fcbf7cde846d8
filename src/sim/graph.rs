//! Azure Resource Graph `POST /providers/Microsoft.ResourceGraph/resources` (2024-04-01): scope
//! filter by `subscriptions`, `$top`/`$skip`/`$skipToken` paging, `objectArray` and `table`
//! result formats, and facets. The query itself is evaluated by [`super::kql::evaluate`] over the
//! `resources` and `securityresources` tables.
//!
//! A `$skipToken` is opaque to clients: base64 of the next offset and a hash of the query and
//! scopes, so a token passed back with another query is refused instead of paging nonsense.

use super::kql::{self, Table};
use super::server::{ArmError, ArmResult, Ctx, Reply};
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::Digest;
use std::collections::BTreeMap;

const DEFAULT_TOP: usize = 100;

fn query_hash(query: &str, subs: &[String]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(query.as_bytes());
    for s in subs {
        h.update(b"\0");
        h.update(s.to_ascii_lowercase().as_bytes());
    }
    hex::encode(&h.finalize()[..12])
}

/// The token carries the page size too, so a next-page request without `$top` keeps the
/// first page's size.
fn encode_token(offset: usize, top: usize, hash: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{offset}:{top}:{hash}"))
}

fn decode_token(token: &str, hash: &str) -> Result<(usize, usize), ArmError> {
    let bad = || {
        ArmError::bad_request("The $skipToken is not valid for this query and scope; pass back the $skipToken of the previous page with the same query and subscriptions.")
            .target("options.$skipToken")
            .detail("InvalidSkipToken", "the $skipToken does not match the query")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ':');
    let (Some(o), Some(t), Some(h)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if h != hash {
        return Err(bad());
    }
    Ok((o.parse().map_err(|_| bad())?, t.parse().map_err(|_| bad())?))
}

fn opt_usize(
    options: &Value,
    name: &str,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ArmError> {
    match options.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (n as usize) >= min && (n as usize) <= max => Ok(Some(n as usize)),
            _ => Err(ArmError::bad_request(format!(
                "The value of 'options.{name}' must be an integer between {min} and {max}."
            ))
            .target(&format!("options.{name}"))),
        },
    }
}

pub fn resources(ctx: &Ctx) -> ArmResult {
    if ctx.method != "POST" {
        return Err(ArmError::new(405, "MethodNotAllowed", "Use POST to query Resource Graph."));
    }
    ctx.require(super::versions::Family::Graph, "resources", "global")?;
    let body = ctx.json_body()?;
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return Err(ArmError::bad_request(
            "The required property 'query' is missing or not a string.",
        )
        .target("query"));
    };
    let subs: Option<Vec<String>> = match body.get("subscriptions") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            Some(a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        }
        Some(_) => {
            return Err(ArmError::bad_request(
                "The value of 'subscriptions' must be an array of strings.",
            )
            .target("subscriptions"))
        }
    };
    let empty = json!({});
    let options = body.get("options").unwrap_or(&empty);
    if !options.is_object() {
        return Err(
            ArmError::bad_request("The value of 'options' must be an object.").target("options")
        );
    }
    let top_opt = opt_usize(options, "$top", 1, 1000)?;
    let skip = opt_usize(options, "$skip", 0, usize::MAX)?.unwrap_or(0);
    let format = match options.get("resultFormat").and_then(Value::as_str) {
        None | Some("objectArray") => "objectArray",
        Some("table") => "table",
        Some(other) => {
            return Err(ArmError::bad_request(format!("The value '{other}' is not valid for 'options.resultFormat'. Allowed values: table, objectArray."))
                .target("options.resultFormat"))
        }
    };
    let mut sorted_subs = subs.clone().unwrap_or_default();
    sorted_subs.sort();
    let hash = query_hash(query, &sorted_subs);
    let (start, top) = match options.get("$skipToken").and_then(Value::as_str) {
        Some(t) => {
            let (offset, token_top) = decode_token(t, &hash)?;
            (offset, top_opt.unwrap_or(token_top))
        }
        None => (skip, top_opt.unwrap_or(DEFAULT_TOP)),
    };

    let in_scope = |row: &Value| {
        subs.as_ref().is_none_or(|subs| {
            let s = row.get("subscriptionId").and_then(Value::as_str).unwrap_or("");
            subs.iter().any(|x| x.eq_ignore_ascii_case(s))
        })
    };
    let mut tables: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    {
        let cloud = ctx.shared.cloud();
        tables.insert(
            "resources".into(),
            cloud.resource_rows().into_iter().filter(|r| in_scope(r)).collect(),
        );
        tables.insert(
            "securityresources".into(),
            cloud.security_resources.iter().filter(|r| in_scope(r)).cloned().collect(),
        );
    }
    let table = kql::evaluate(query, &tables).map_err(|e| {
        ArmError::bad_request(format!("Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying: {e}"))
            .detail("InvalidQuery", &e.to_string())
    })?;
    let total = table.rows.len();
    let end = start.saturating_add(top).min(total);
    let page_rows: Vec<Vec<Value>> = table.rows.get(start.min(total)..end).unwrap_or(&[]).to_vec();
    let count = page_rows.len();
    let data = match format {
        "table" => json!({ "columns": table.columns, "rows": page_rows }),
        _ => Value::Array(page_rows.iter().map(|r| row_object(&table, r)).collect()),
    };
    let mut resp = json!({
        "totalRecords": total,
        "count": count,
        "resultTruncated": "false",
        "data": data,
        "facets": facets(&body, &table)?,
    });
    if end < total {
        resp["$skipToken"] = Value::String(encode_token(end, top, &hash));
    }
    Ok(Reply::ok(resp))
}

fn row_object(table: &Table, row: &[Value]) -> Value {
    let mut m = Map::new();
    for (c, v) in table.columns.iter().zip(row) {
        m.insert(c.name.clone(), v.clone());
    }
    Value::Object(m)
}

/// Facets over the full result: counts per distinct value of a column.
fn facets(body: &Value, table: &Table) -> Result<Value, ArmError> {
    let Some(list) = body.get("facets") else { return Ok(json!([])) };
    let Some(list) = list.as_array() else {
        return Err(
            ArmError::bad_request("The value of 'facets' must be an array.").target("facets")
        );
    };
    let mut out = Vec::new();
    for f in list {
        let Some(expr) = f.get("expression").and_then(Value::as_str) else {
            return Err(
                ArmError::bad_request("Every facet needs an 'expression'.").target("facets")
            );
        };
        // Resource Graph names a projected `a.b.c` column `a_b_c`; a facet may use either.
        let flat = expr.replace('.', "_");
        let Some(col) = table.columns.iter().position(|c| c.name == expr || c.name == flat) else {
            out.push(json!({
                "expression": expr,
                "resultType": "FacetError",
                "errors": [
                    {"code": "NoValidColumns", "message": "No valid columns in facet expression."},
                    {"code": "InvalidColumnNames", "message": format!("Invalid column names: [{expr}].")},
                ],
            }));
            continue;
        };
        let key = table.columns[col].name.clone();
        let top = f.pointer("/options/$top").and_then(Value::as_u64).unwrap_or(10) as usize;
        let asc = f.pointer("/options/sortOrder").and_then(Value::as_str) == Some("asc");
        let mut counts: BTreeMap<String, (Value, u64)> = BTreeMap::new();
        for r in &table.rows {
            let v = r.get(col).cloned().unwrap_or(Value::Null);
            counts.entry(v.to_string()).or_insert((v, 0)).1 += 1;
        }
        let mut groups: Vec<(Value, u64)> = counts.into_values().collect();
        groups.sort_by(|a, b| if asc { a.1.cmp(&b.1) } else { b.1.cmp(&a.1) });
        let total = groups.len();
        let data: Vec<Value> = groups
            .into_iter()
            .take(top)
            .map(|(v, n)| json!({ key.as_str(): v, "count": n }))
            .collect();
        out.push(json!({
            "expression": expr,
            "resultType": "FacetResult",
            "totalRecords": total,
            "count": data.len(),
            "data": data,
        }));
    }
    Ok(Value::Array(out))
}
