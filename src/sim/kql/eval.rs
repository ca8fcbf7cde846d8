//! Evaluation of a parsed query over rows, operator by operator.
//!
//! Each operator first binds its expressions to the current columns (so an unknown column is an
//! error with its position, as in Kusto, before any row is touched), then maps the rows. Cells
//! borrow from the input tables until an operator computes a new value, so filtering 50,000
//! resources does not copy their `properties`.
//!
//! Semantics follow Kusto: `==` on strings is case-sensitive and `=~` is not; string operators
//! (`contains`, `has`, ...) are case-insensitive unless `_cs`; a missing property is null;
//! comparisons with null are null, which `where` treats as false; `and`/`or` are three-valued.

use super::parse::{Assign, BinOp, Expr, Op, Query, SortKey, StrOp};
use super::KqlError;
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

type Row<'a> = Vec<Cow<'a, Value>>;

pub(super) struct Frame<'a> {
    pub cols: Vec<String>,
    pub rows: Vec<Row<'a>>,
}

/// An expression with its columns resolved to indices.
#[derive(Debug, Clone)]
enum B {
    Lit(Value),
    Col(usize),
    Member(Box<B>, String),
    Index(Box<B>, Box<B>),
    Neg(Box<B>),
    Bin(BinOp, Box<B>, Box<B>),
    Str { op: StrOp, negated: bool, cs: bool, lhs: Box<B>, rhs: Box<B> },
    In { lhs: Box<B>, list: Vec<B>, negated: bool, ci: bool },
    Call(String, Vec<B>),
}

fn err(message: impl Into<String>, position: usize) -> KqlError {
    KqlError { message: message.into(), position }
}

fn bind(e: &Expr, cols: &[String]) -> Result<B, KqlError> {
    let b = |x: &Expr| bind(x, cols).map(Box::new);
    Ok(match e {
        Expr::Lit(v) => B::Lit(v.clone()),
        Expr::Col { name, pos } => match cols.iter().position(|c| c == name) {
            Some(i) => B::Col(i),
            None => {
                // Kusto names are case-sensitive; a near miss gets a hint.
                let hint = cols
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(name))
                    .map(|c| format!(" (did you mean '{c}'?)"))
                    .unwrap_or_default();
                return Err(err(format!("unknown column '{name}'{hint}"), *pos));
            }
        },
        Expr::Member(base, key) => B::Member(b(base)?, key.clone()),
        Expr::Index(base, idx) => B::Index(b(base)?, b(idx)?),
        Expr::Neg(x) => B::Neg(b(x)?),
        Expr::Bin(op, l, r) => B::Bin(op.clone(), b(l)?, b(r)?),
        Expr::Str { op, negated, case_sensitive, lhs, rhs } => {
            B::Str { op: *op, negated: *negated, cs: *case_sensitive, lhs: b(lhs)?, rhs: b(rhs)? }
        }
        Expr::In { lhs, list, negated, case_insensitive } => B::In {
            lhs: b(lhs)?,
            list: list.iter().map(|x| bind(x, cols)).collect::<Result<_, _>>()?,
            negated: *negated,
            ci: *case_insensitive,
        },
        Expr::Call { name, args, .. } => {
            B::Call(name.clone(), args.iter().map(|x| bind(x, cols)).collect::<Result<_, _>>()?)
        }
    })
}

/// Kusto's `tostring`: null is the empty string, dynamic values are their JSON text.
fn to_str(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Null => Cow::Borrowed(""),
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Value::Number(n) => Cow::Owned(n.to_string()),
        other => Cow::Owned(other.to_string()),
    }
}

fn truthy(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

fn to_bool3(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn bool3(b: Option<bool>) -> Value {
    b.map_or(Value::Null, Value::Bool)
}

fn num(v: &Value) -> Option<&Number> {
    match v {
        Value::Number(n) => Some(n),
        _ => None,
    }
}

fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Equality as Kusto: None when either side is null.
fn equals(a: &Value, b: &Value, ci: bool) -> Option<bool> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::String(x), Value::String(y)) => Some(if ci { eq_ci(x, y) } else { x == y }),
        (Value::Number(x), Value::Number(y)) => Some(cmp_numbers(x, y) == Some(Ordering::Equal)),
        (Value::String(x), other) | (other, Value::String(x)) if ci => {
            Some(eq_ci(x, &to_str(other)))
        }
        _ => Some(a == b),
    }
}

fn eq_ci(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// Ordering for `<` and friends: numbers with numbers, strings with strings, booleans.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// A total order for sorting: nulls are handled by the caller, other types rank by kind.
fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    order(a, b).unwrap_or_else(|| match rank(a).cmp(&rank(b)) {
        Ordering::Equal => a.to_string().cmp(&b.to_string()),
        o => o,
    })
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) || !s.is_ascii() {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Kusto's `has`: `needle` occurs as a whole term (bounded by non-alphanumeric characters).
fn has_term(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let is_word = |c: char| c.is_alphanumeric();
    let first_word = needle.chars().next().is_some_and(is_word);
    let last_word = needle.chars().next_back().is_some_and(is_word);
    let mut from = 0;
    while let Some(off) = hay[from..].find(needle) {
        let start = from + off;
        let end = start + needle.len();
        let before_ok = !first_word || hay[..start].chars().next_back().is_none_or(|c| !is_word(c));
        let after_ok = !last_word || hay[end..].chars().next().is_none_or(|c| !is_word(c));
        if before_ok && after_ok {
            return true;
        }
        // Advance by one character (not byte) to stay on a boundary.
        from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

fn str_op(op: StrOp, cs: bool, hay: &str, needle: &str) -> bool {
    let (hay, needle) =
        if cs { (Cow::Borrowed(hay), Cow::Borrowed(needle)) } else { (lower(hay), lower(needle)) };
    match op {
        StrOp::Contains => hay.contains(needle.as_ref()),
        StrOp::Has => has_term(&hay, &needle),
        StrOp::StartsWith => hay.starts_with(needle.as_ref()),
        StrOp::EndsWith => hay.ends_with(needle.as_ref()),
    }
}

fn to_long(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.is_finite() && f.abs() < 9.2e18).then_some(f.trunc() as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                let f: f64 = s.parse().ok()?;
                (f.is_finite() && f.abs() < 9.2e18).then_some(f.trunc() as i64)
            })
        }
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn to_real(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn real(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn arith(op: &BinOp, a: &Value, b: &Value) -> Value {
    let (Some(x), Some(y)) = (num(a), num(b)) else { return Value::Null };
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        let r = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div => x.checked_div(y),
            BinOp::Mod => x.checked_rem(y),
            _ => None,
        };
        return r.map_or(Value::Null, Value::from);
    }
    let (Some(x), Some(y)) = (x.as_f64(), y.as_f64()) else { return Value::Null };
    real(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
        BinOp::Mod => x % y,
        _ => return Value::Null,
    })
}

fn index<'r>(base: Cow<'r, Value>, idx: &Value) -> Cow<'r, Value> {
    let pick = |v: &Value| -> Option<usize> {
        match (v, idx) {
            (Value::Object(_), Value::String(_)) => None,
            (Value::Array(a), Value::Number(n)) => {
                let i = n.as_i64()?;
                let len = i64::try_from(a.len()).ok()?;
                // Negative indices count from the end, as in Kusto.
                let i = if i < 0 { i.checked_add(len)? } else { i };
                usize::try_from(i).ok().filter(|&i| i < a.len())
            }
            _ => None,
        }
    };
    match base {
        Cow::Borrowed(v) => match (v, idx) {
            (Value::Object(m), Value::String(k)) => {
                m.get(k).map_or(Cow::Owned(Value::Null), Cow::Borrowed)
            }
            (Value::Array(a), _) => {
                pick(v).map_or(Cow::Owned(Value::Null), |i| Cow::Borrowed(&a[i]))
            }
            _ => Cow::Owned(Value::Null),
        },
        Cow::Owned(v) => {
            let i = pick(&v);
            match (v, idx) {
                (Value::Object(mut m), Value::String(k)) => {
                    Cow::Owned(m.remove(k).unwrap_or(Value::Null))
                }
                (Value::Array(mut a), _) => Cow::Owned(i.map_or(Value::Null, |i| a.swap_remove(i))),
                _ => Cow::Owned(Value::Null),
            }
        }
    }
}

fn eval<'r>(e: &B, row: &'r [Cow<'_, Value>]) -> Cow<'r, Value> {
    match e {
        B::Lit(v) => Cow::Owned(v.clone()),
        B::Col(i) => row.get(*i).map_or(Cow::Owned(Value::Null), |c| Cow::Borrowed(c.as_ref())),
        B::Member(base, key) => index(eval(base, row), &Value::String(key.clone())),
        B::Index(base, idx) => {
            let idx = eval(idx, row);
            index(eval(base, row), &idx)
        }
        B::Neg(x) => Cow::Owned(arith(&BinOp::Sub, &Value::from(0), &eval(x, row))),
        B::Bin(op, l, r) => Cow::Owned(match op {
            BinOp::And => {
                let a = to_bool3(&eval(l, row));
                if a == Some(false) {
                    return Cow::Owned(Value::Bool(false));
                }
                let b = to_bool3(&eval(r, row));
                bool3(match (a, b) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            BinOp::Or => {
                let a = to_bool3(&eval(l, row));
                if a == Some(true) {
                    return Cow::Owned(Value::Bool(true));
                }
                let b = to_bool3(&eval(r, row));
                bool3(match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            BinOp::Eq => bool3(equals(&eval(l, row), &eval(r, row), false)),
            BinOp::Ne => bool3(equals(&eval(l, row), &eval(r, row), false).map(|b| !b)),
            BinOp::EqCi => bool3(equals(&eval(l, row), &eval(r, row), true)),
            BinOp::NeCi => bool3(equals(&eval(l, row), &eval(r, row), true).map(|b| !b)),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let o = order(&eval(l, row), &eval(r, row));
                bool3(o.map(|o| match op {
                    BinOp::Lt => o == Ordering::Less,
                    BinOp::Le => o != Ordering::Greater,
                    BinOp::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }))
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
                arith(op, &eval(l, row), &eval(r, row))
            }
        }),
        B::Str { op, negated, cs, lhs, rhs } => {
            let hay = eval(lhs, row);
            let needle = eval(rhs, row);
            let found = str_op(*op, *cs, &to_str(&hay), &to_str(&needle));
            Cow::Owned(Value::Bool(found != *negated))
        }
        B::In { lhs, list, negated, ci } => {
            let v = eval(lhs, row);
            if v.is_null() {
                return Cow::Owned(Value::Null);
            }
            let mut found = false;
            for item in list {
                let item = eval(item, row);
                // A dynamic array in the list stands for its elements.
                let hit = match item.as_ref() {
                    Value::Array(xs) => xs.iter().any(|x| equals(&v, x, *ci) == Some(true)),
                    x => equals(&v, x, *ci) == Some(true),
                };
                if hit {
                    found = true;
                    break;
                }
            }
            Cow::Owned(Value::Bool(found != *negated))
        }
        B::Call(name, args) => call(name, args, row),
    }
}

fn call<'r>(name: &str, args: &[B], row: &'r [Cow<'_, Value>]) -> Cow<'r, Value> {
    let arg = |i: usize| args.get(i).map_or(Cow::Owned(Value::Null), |a| eval(a, row));
    let owned = |v: Value| Cow::Owned(v);
    match name {
        "tostring" => owned(Value::String(to_str(&arg(0)).into_owned())),
        "tolower" => owned(Value::String(to_str(&arg(0)).to_lowercase())),
        "toupper" => owned(Value::String(to_str(&arg(0)).to_uppercase())),
        "tolong" => owned(to_long(&arg(0)).map_or(Value::Null, Value::from)),
        "toint" => owned(
            to_long(&arg(0)).and_then(|v| i32::try_from(v).ok()).map_or(Value::Null, Value::from),
        ),
        "toreal" | "todouble" => owned(to_real(&arg(0)).map_or(Value::Null, real)),
        "tobool" | "toboolean" => owned(match arg(0).as_ref() {
            Value::Bool(b) => Value::Bool(*b),
            Value::Number(n) => n.as_f64().map_or(Value::Null, |f| Value::Bool(f != 0.0)),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => Value::Null,
        }),
        "parse_json" | "todynamic" => match arg(0) {
            // Text that is not JSON stays the string it was, as in Kusto.
            Cow::Borrowed(Value::String(s)) => {
                owned(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())))
            }
            Cow::Owned(Value::String(s)) => {
                owned(serde_json::from_str(&s).unwrap_or(Value::String(s)))
            }
            other => other,
        },
        "strlen" => owned(Value::from(to_str(&arg(0)).chars().count())),
        "strcat" => {
            let mut s = String::new();
            for a in args {
                s.push_str(&to_str(&eval(a, row)));
            }
            owned(Value::String(s))
        }
        "iff" | "iif" => {
            if truthy(&arg(0)) {
                arg(1)
            } else {
                arg(2)
            }
        }
        "isempty" => owned(Value::Bool(is_empty(&arg(0)))),
        "isnotempty" => owned(Value::Bool(!is_empty(&arg(0)))),
        "isnull" => owned(Value::Bool(arg(0).is_null())),
        "isnotnull" => owned(Value::Bool(!arg(0).is_null())),
        "not" => owned(bool3(to_bool3(&arg(0)).map(|b| !b))),
        "coalesce" => {
            for a in args {
                let v = eval(a, row);
                if !is_empty(&v) {
                    return v;
                }
            }
            owned(Value::Null)
        }
        "array_length" => owned(match arg(0).as_ref() {
            Value::Array(a) => Value::from(a.len()),
            _ => Value::Null,
        }),
        // The parser only lets known functions through; anything else is null, never a panic.
        _ => owned(Value::Null),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The column name Kusto gives an unnamed expression: a column keeps its name, a property path
/// joins its parts with `_` (`properties.a` → `properties_a`), a conversion keeps its
/// argument's name; anything else gets `Column1`, `Column2`, ...
fn derive_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Col { name, .. } => Some(name.clone()),
        Expr::Member(base, key) => Some(format!("{}_{key}", derive_name(base)?)),
        Expr::Index(base, idx) => match idx.as_ref() {
            Expr::Lit(Value::String(k)) => Some(format!("{}_{k}", derive_name(base)?)),
            Expr::Lit(Value::Number(n)) => Some(format!("{}_{n}", derive_name(base)?)),
            _ => None,
        },
        Expr::Call { name, args, .. }
            if matches!(
                name.as_str(),
                "tostring"
                    | "tolong"
                    | "toint"
                    | "toreal"
                    | "todouble"
                    | "tobool"
                    | "toboolean"
                    | "todynamic"
                    | "parse_json"
            ) =>
        {
            derive_name(&args[0])
        }
        _ => None,
    }
}

fn agg_name(e: &Expr) -> String {
    match e {
        Expr::Call { name, args, .. } => match args.first().and_then(derive_name) {
            Some(a) => format!("{name}_{a}"),
            None => format!("{name}_"),
        },
        _ => "Column1".into(),
    }
}

/// Names for a list of assignments, numbering the unnamed ones and de-duplicating as Kusto
/// does (`name`, `name1`, ...).
fn names(assigns: &[Assign], fallback: impl Fn(&Expr) -> Option<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut unnamed = 0;
    for a in assigns {
        let base = a.name.clone().or_else(|| fallback(&a.expr)).unwrap_or_else(|| {
            unnamed += 1;
            format!("Column{unnamed}")
        });
        let mut name = base.clone();
        let mut k = 0;
        while out.contains(&name) {
            k += 1;
            name = format!("{base}{k}");
        }
        out.push(name);
    }
    out
}

fn bind_all(assigns: &[Assign], cols: &[String]) -> Result<Vec<B>, KqlError> {
    assigns.iter().map(|a| bind(&a.expr, cols)).collect()
}

fn dedup_key(values: &[Cow<'_, Value>]) -> String {
    let mut s = String::new();
    for v in values {
        s.push_str(&v.to_string());
        s.push('\u{1f}');
    }
    s
}

fn sort_rows(frame: &mut Frame<'_>, keys: &[SortKey]) -> Result<(), KqlError> {
    let bound: Vec<B> =
        keys.iter().map(|k| bind(&k.expr, &frame.cols)).collect::<Result<_, _>>()?;
    let mut keyed: Vec<(Vec<Value>, Row<'_>)> = std::mem::take(&mut frame.rows)
        .into_iter()
        .map(|r| (bound.iter().map(|b| eval(b, &r).into_owned()).collect(), r))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        for (k, (x, y)) in keys.iter().zip(a.iter().zip(b)) {
            let o = match (x.is_null(), y.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if k.nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, true) => {
                    if k.nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, false) => {
                    let o = sort_cmp(x, y);
                    if k.desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    frame.rows = keyed.into_iter().map(|(_, r)| r).collect();
    Ok(())
}

#[derive(Default)]
struct Acc {
    count: i64,
    distinct: std::collections::HashSet<String>,
    sum_i: Option<i64>,
    sum_f: f64,
    any_real: bool,
    overflow: bool,
    n: i64,
    best: Option<Value>,
}

fn aggregate(name: &str, args: &[B], rows: &[&Row<'_>]) -> Value {
    let mut acc = Acc::default();
    for r in rows {
        let v = args.first().map(|a| eval(a, r));
        match name {
            "count" => acc.count += 1,
            "countif" => acc.count += i64::from(v.is_some_and(|v| truthy(&v))),
            "dcount" => {
                if let Some(v) = v.filter(|v| !v.is_null()) {
                    acc.distinct.insert(v.to_string());
                }
            }
            "sum" | "avg" => {
                if let Some(Value::Number(n)) = v.as_deref() {
                    acc.n += 1;
                    match n.as_i64() {
                        Some(i) if !acc.any_real => match acc.sum_i.unwrap_or(0).checked_add(i) {
                            Some(s) => acc.sum_i = Some(s),
                            None => acc.overflow = true,
                        },
                        _ => acc.any_real = true,
                    }
                    acc.sum_f += n.as_f64().unwrap_or(0.0);
                }
            }
            "min" | "max" => {
                if let Some(v) = v.filter(|v| !v.is_null()) {
                    let better = match &acc.best {
                        None => true,
                        Some(b) => {
                            let o = sort_cmp(&v, b);
                            if name == "min" {
                                o == Ordering::Less
                            } else {
                                o == Ordering::Greater
                            }
                        }
                    };
                    if better {
                        acc.best = Some(v.into_owned());
                    }
                }
            }
            _ => {}
        }
    }
    match name {
        "count" | "countif" => Value::from(acc.count),
        "dcount" => Value::from(acc.distinct.len()),
        "sum" if acc.n == 0 => Value::Null,
        "sum" if !acc.any_real && !acc.overflow => Value::from(acc.sum_i.unwrap_or(0)),
        "sum" => real(acc.sum_f),
        "avg" if acc.n == 0 => Value::Null,
        "avg" => real(acc.sum_f / acc.n as f64),
        "min" | "max" => acc.best.unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn summarize<'a>(frame: Frame<'a>, aggs: &[Assign], by: &[Assign]) -> Result<Frame<'a>, KqlError> {
    let by_b = bind_all(by, &frame.cols)?;
    let agg_b: Vec<(String, Vec<B>)> = aggs
        .iter()
        .map(|a| match &a.expr {
            Expr::Call { name, args, .. } => Ok((
                name.clone(),
                args.iter().map(|x| bind(x, &frame.cols)).collect::<Result<Vec<_>, _>>()?,
            )),
            // The parser only lets aggregation calls through.
            _ => Ok((String::new(), Vec::new())),
        })
        .collect::<Result<_, KqlError>>()?;
    let mut groups: Vec<(Row<'a>, Vec<usize>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (ri, r) in frame.rows.iter().enumerate() {
        let key: Row<'a> = by_b.iter().map(|b| Cow::Owned(eval(b, r).into_owned())).collect();
        let k = dedup_key(&key);
        match index.get(&k) {
            Some(&g) => groups[g].1.push(ri),
            None => {
                index.insert(k, groups.len());
                groups.push((key, vec![ri]));
            }
        }
    }
    // `summarize count()` over no rows still answers one row (0), as in Kusto.
    if groups.is_empty() && by.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }
    let mut cols = names(by, derive_name);
    for name in names(aggs, |e| Some(agg_name(e))) {
        let mut n = name.clone();
        let mut k = 0;
        while cols.contains(&n) {
            k += 1;
            n = format!("{name}{k}");
        }
        cols.push(n);
    }
    let rows = groups
        .into_iter()
        .map(|(mut key, members)| {
            let rs: Vec<&Row<'a>> = members.iter().map(|&i| &frame.rows[i]).collect();
            for (name, args) in &agg_b {
                key.push(Cow::Owned(aggregate(name, args, &rs)));
            }
            key
        })
        .collect();
    Ok(Frame { cols, rows })
}

pub(super) fn run<'a>(query: &Query, mut frame: Frame<'a>) -> Result<Frame<'a>, KqlError> {
    for (op, _pos) in &query.ops {
        frame = match op {
            Op::Where(e) => {
                let b = bind(e, &frame.cols)?;
                let rows = frame.rows.into_iter().filter(|r| truthy(&eval(&b, r))).collect();
                Frame { cols: frame.cols, rows }
            }
            Op::Extend(assigns) => {
                let mut cols = frame.cols.clone();
                let bound = bind_all(assigns, &frame.cols)?;
                // Where each new value goes: an existing column is replaced in place.
                let mut slots = Vec::new();
                for name in names(assigns, derive_name) {
                    match cols.iter().position(|c| *c == name) {
                        Some(i) => slots.push(i),
                        None => {
                            cols.push(name);
                            slots.push(cols.len() - 1);
                        }
                    }
                }
                let rows = frame
                    .rows
                    .into_iter()
                    .map(|mut r| {
                        let vals: Vec<Value> =
                            bound.iter().map(|b| eval(b, &r).into_owned()).collect();
                        r.resize(cols.len(), Cow::Owned(Value::Null));
                        for (slot, v) in slots.iter().zip(vals) {
                            r[*slot] = Cow::Owned(v);
                        }
                        r
                    })
                    .collect();
                Frame { cols, rows }
            }
            Op::Project(assigns) | Op::Distinct(assigns) if !assigns.is_empty() => {
                let bound = bind_all(assigns, &frame.cols)?;
                let cols = names(assigns, derive_name);
                let mut rows: Vec<Row<'a>> = frame
                    .rows
                    .iter()
                    .map(|r| {
                        bound
                            .iter()
                            .map(|b| match b {
                                // A bare column keeps borrowing from the input.
                                B::Col(i) => r[*i].clone(),
                                _ => Cow::Owned(eval(b, r).into_owned()),
                            })
                            .collect()
                    })
                    .collect();
                if matches!(op, Op::Distinct(_)) {
                    dedup(&mut rows);
                }
                Frame { cols, rows }
            }
            Op::Project(_) => frame,
            Op::Distinct(_) => {
                let mut rows = frame.rows;
                dedup(&mut rows);
                Frame { cols: frame.cols, rows }
            }
            Op::ProjectAway(patterns) => {
                let mut drop = vec![false; frame.cols.len()];
                for (p, pos) in patterns {
                    let mut matched = false;
                    for (i, c) in frame.cols.iter().enumerate() {
                        let hit = match p.strip_suffix('*') {
                            Some(prefix) => c.starts_with(prefix),
                            None => c == p,
                        };
                        if hit {
                            drop[i] = true;
                            matched = true;
                        }
                    }
                    if !matched && !p.ends_with('*') {
                        return Err(err(format!("unknown column '{p}'"), *pos));
                    }
                }
                let keep = |i: &usize| !drop[*i];
                let cols =
                    (0..frame.cols.len()).filter(keep).map(|i| frame.cols[i].clone()).collect();
                let rows = frame
                    .rows
                    .into_iter()
                    .map(|r| {
                        r.into_iter().enumerate().filter(|(i, _)| keep(i)).map(|(_, c)| c).collect()
                    })
                    .collect();
                Frame { cols, rows }
            }
            Op::ProjectRename(renames) => {
                let mut cols = frame.cols;
                for (new, old, pos) in renames {
                    let Some(i) = cols.iter().position(|c| c == old) else {
                        return Err(err(format!("unknown column '{old}'"), *pos));
                    };
                    cols[i] = new.clone();
                }
                Frame { cols, rows: frame.rows }
            }
            Op::Summarize { aggs, by } => summarize(frame, aggs, by)?,
            Op::Sort(keys) => {
                sort_rows(&mut frame, keys)?;
                frame
            }
            Op::Take(n) => {
                frame.rows.truncate(*n);
                frame
            }
            Op::Top(n, key) => {
                sort_rows(&mut frame, std::slice::from_ref(key))?;
                frame.rows.truncate(*n);
                frame
            }
            Op::Count => Frame {
                cols: vec!["Count".into()],
                rows: vec![vec![Cow::Owned(Value::from(frame.rows.len()))]],
            },
        };
    }
    Ok(frame)
}

fn dedup(rows: &mut Vec<Row<'_>>) {
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| seen.insert(dedup_key(r)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_matches_whole_terms() {
        assert!(has_term("microsoft.security/securityconnectors", "security"));
        assert!(has_term("a b-c", "c"));
        assert!(!has_term("securityconnectors", "security"));
        assert!(has_term("x/y", "/"));
        assert!(has_term("aé b", "b"));
        assert!(!has_term("été", "t"));
    }

    #[test]
    fn null_and_mixed_comparisons() {
        assert_eq!(equals(&Value::Null, &Value::Null, false), None);
        assert_eq!(equals(&Value::from(1), &Value::from(1.0), false), Some(true));
        assert_eq!(equals(&Value::from("A"), &Value::from("a"), true), Some(true));
        assert_eq!(equals(&Value::from("A"), &Value::from("a"), false), Some(false));
        assert_eq!(order(&Value::from("a"), &Value::from(1)), None);
        assert_eq!(arith(&BinOp::Div, &Value::from(1), &Value::from(0)), Value::Null);
        assert_eq!(arith(&BinOp::Mod, &Value::from(i64::MIN), &Value::from(-1)), Value::Null);
        assert_eq!(arith(&BinOp::Add, &Value::from(i64::MAX), &Value::from(1)), Value::Null);
        assert_eq!(arith(&BinOp::Div, &Value::from(1.0), &Value::from(0)), Value::Null);
    }
}
