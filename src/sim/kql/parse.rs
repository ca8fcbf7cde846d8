//! A recursive-descent parser for the KQL subset: `table | op | op ...`.
//!
//! Unsupported tabular operators, scalar operators and functions are rejected here, with the
//! position of their name, so a query fails before any row is read. Expression nesting is
//! bounded so a hostile query cannot overflow the stack of the simulator.

use super::lex::{Tok, Token};
use super::KqlError;
use serde_json::Value;

/// Deeper nesting than this is refused (real queries nest a handful of levels).
const MAX_DEPTH: usize = 64;

/// At most this many binary operators and property accesses per query. Chains such as
/// `a or b or c ...` build trees as deep as they are long, and evaluation recurses on them:
/// this bound (with [`MAX_DEPTH`]) keeps the tree shallow enough for any thread's stack.
const MAX_LINKS: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum BinOp {
    Eq,
    Ne,
    EqCi,
    NeCi,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// String operators; all take the left side as a string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum StrOp {
    Contains,
    Has,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Lit(Value),
    Col { name: String, pos: usize },
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Str { op: StrOp, negated: bool, case_sensitive: bool, lhs: Box<Expr>, rhs: Box<Expr> },
    In { lhs: Box<Expr>, list: Vec<Expr>, negated: bool, case_insensitive: bool },
    Call { name: String, args: Vec<Expr>, pos: usize },
}

/// `name = expr`, or a bare `expr` whose column name is derived from it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Assign {
    pub name: Option<String>,
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct SortKey {
    pub expr: Expr,
    pub desc: bool,
    pub nulls_first: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    Where(Expr),
    Extend(Vec<Assign>),
    Project(Vec<Assign>),
    /// Column names or `prefix*` patterns, with positions.
    ProjectAway(Vec<(String, usize)>),
    ProjectRename(Vec<(String, String, usize)>),
    Summarize {
        aggs: Vec<Assign>,
        by: Vec<Assign>,
    },
    Sort(Vec<SortKey>),
    Take(usize),
    Top(usize, SortKey),
    /// Empty means `distinct *`.
    Distinct(Vec<Assign>),
    Count,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Query {
    pub table: String,
    pub table_pos: usize,
    pub ops: Vec<(Op, usize)>,
}

/// Scalar functions with their accepted argument counts.
pub(super) const SCALAR_FUNCS: &[(&str, usize, usize)] = &[
    ("tostring", 1, 1),
    ("tolower", 1, 1),
    ("toupper", 1, 1),
    ("toint", 1, 1),
    ("tolong", 1, 1),
    ("toreal", 1, 1),
    ("todouble", 1, 1),
    ("tobool", 1, 1),
    ("toboolean", 1, 1),
    ("parse_json", 1, 1),
    ("todynamic", 1, 1),
    ("strlen", 1, 1),
    ("strcat", 1, 64),
    ("iff", 3, 3),
    ("iif", 3, 3),
    ("isempty", 1, 1),
    ("isnotempty", 1, 1),
    ("isnull", 1, 1),
    ("isnotnull", 1, 1),
    ("not", 1, 1),
    ("coalesce", 1, 64),
    ("array_length", 1, 1),
];

/// Aggregation functions (only inside `summarize`) with their accepted argument counts.
pub(super) const AGG_FUNCS: &[(&str, usize, usize)] = &[
    ("count", 0, 0),
    ("countif", 1, 1),
    ("dcount", 1, 1),
    ("sum", 1, 1),
    ("min", 1, 1),
    ("max", 1, 1),
    ("avg", 1, 1),
];

/// Kusto scalar operators we recognise but do not implement: named in the error.
const UNSUPPORTED_SCALAR_OPS: &[&str] = &[
    "between",
    "matches",
    "has_any",
    "has_all",
    "hasprefix",
    "hassuffix",
    "hasprefix_cs",
    "hassuffix_cs",
    "like",
    "notlike",
    "contains_any",
    "in_cs",
];

fn err(message: impl Into<String>, position: usize) -> KqlError {
    KqlError { message: message.into(), position }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Str(s) => format!("string \"{s}\""),
        Tok::Int(i) => format!("number {i}"),
        Tok::Real(r) => format!("number {r}"),
        Tok::Punct(p) => format!("'{p}'"),
        Tok::Eof => "the end of the query".into(),
    }
}

struct Parser<'t> {
    toks: &'t [Token],
    i: usize,
    depth: usize,
    links: usize,
}

pub(super) fn parse(toks: &[Token]) -> Result<Query, KqlError> {
    let mut p = Parser { toks, i: 0, depth: 0, links: 0 };
    p.query()
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &'t Token {
        // tokenize always ends with Eof, and `bump` never moves past it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, k: usize) -> &'t Token {
        &self.toks[(self.i + k).min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> &'t Token {
        let t = self.peek();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(&self.peek().tok, Tok::Punct(q) if *q == p)
    }

    fn is_ident(&self, s: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(q) if q == s)
    }

    fn link(&mut self) -> Result<(), KqlError> {
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(err(
                format!(
                    "query too complex (more than {MAX_LINKS} operators and property accesses)"
                ),
                self.peek().pos,
            ));
        }
        Ok(())
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let yes = self.is_punct(p);
        if yes {
            self.bump();
        }
        yes
    }

    fn expect_punct(&mut self, p: &str, what: &str) -> Result<(), KqlError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            let t = self.peek();
            Err(err(format!("expected '{p}' {what}, found {}", describe(&t.tok)), t.pos))
        }
    }

    fn ident(&mut self, what: &str) -> Result<(String, usize), KqlError> {
        let t = self.peek();
        match &t.tok {
            Tok::Ident(s) => {
                self.bump();
                Ok((s.clone(), t.pos))
            }
            other => Err(err(format!("expected {what}, found {}", describe(other)), t.pos)),
        }
    }

    fn query(&mut self) -> Result<Query, KqlError> {
        let (table, table_pos) = match &self.peek().tok {
            Tok::Ident(_) => self.ident("a table name")?,
            Tok::Eof => return Err(err("empty query (start with a table, e.g. 'resources')", 0)),
            other => {
                return Err(err(
                    format!(
                        "expected a table name, found {} (start with e.g. 'resources')",
                        describe(other)
                    ),
                    self.peek().pos,
                ))
            }
        };
        if table == "let" {
            return Err(err("unsupported statement 'let'", table_pos));
        }
        let mut ops = Vec::new();
        loop {
            let t = self.peek();
            match &t.tok {
                Tok::Eof => break,
                Tok::Punct("|") => {
                    self.bump();
                    ops.push(self.operator()?);
                }
                other => {
                    return Err(err(
                        format!("expected '|' or the end of the query, found {}", describe(other)),
                        t.pos,
                    ))
                }
            }
        }
        Ok(Query { table, table_pos, ops })
    }

    /// An operator name, joining `project-away`-style hyphenated names written without spaces.
    fn operator_name(&mut self) -> Result<(String, usize), KqlError> {
        let (mut name, pos) = self.ident("a tabular operator after '|'")?;
        let mut end = self.toks[self.i - 1].end;
        while self.is_punct("-") && self.peek().pos == end {
            let next = self.peek_at(1);
            match &next.tok {
                Tok::Ident(s) if next.pos == end + 1 => {
                    name.push('-');
                    name.push_str(s);
                    end = next.end;
                    self.bump();
                    self.bump();
                }
                _ => break,
            }
        }
        Ok((name, pos))
    }

    fn operator(&mut self) -> Result<(Op, usize), KqlError> {
        let (name, pos) = self.operator_name()?;
        let op = match name.as_str() {
            "where" | "filter" => {
                let e = self.expr()?;
                check_scalar(&e)?;
                Op::Where(e)
            }
            "extend" => Op::Extend(self.assignments(false)?),
            "project" => Op::Project(self.assignments(false)?),
            "project-away" => {
                let mut cols = Vec::new();
                loop {
                    let (mut col, cpos) = self.ident("a column name")?;
                    if self.is_punct("*") && self.peek().pos == self.toks[self.i - 1].end {
                        self.bump();
                        col.push('*');
                    }
                    cols.push((col, cpos));
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                Op::ProjectAway(cols)
            }
            "project-rename" => {
                let mut renames = Vec::new();
                loop {
                    let (new, _) = self.ident("a new column name")?;
                    self.expect_punct("=", "in project-rename (new = old)")?;
                    let (old, opos) = self.ident("an existing column name")?;
                    renames.push((new, old, opos));
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                Op::ProjectRename(renames)
            }
            "summarize" => {
                let aggs = if self.is_ident("by") { Vec::new() } else { self.assignments(true)? };
                let by = if self.is_ident("by") {
                    self.bump();
                    self.assignments(false)?
                } else {
                    Vec::new()
                };
                if aggs.is_empty() && by.is_empty() {
                    return Err(err("summarize needs an aggregation or a 'by' clause", pos));
                }
                Op::Summarize { aggs, by }
            }
            "order" | "sort" => {
                if !self.is_ident("by") {
                    let t = self.peek();
                    return Err(err(
                        format!("expected 'by' after '{name}', found {}", describe(&t.tok)),
                        t.pos,
                    ));
                }
                self.bump();
                let mut keys = vec![self.sort_key()?];
                while self.eat_punct(",") {
                    keys.push(self.sort_key()?);
                }
                Op::Sort(keys)
            }
            "take" | "limit" => Op::Take(self.count_literal(&name)?),
            "top" => {
                let n = self.count_literal(&name)?;
                if !self.is_ident("by") {
                    let t = self.peek();
                    return Err(err(
                        format!("expected 'by' after 'top {n}', found {}", describe(&t.tok)),
                        t.pos,
                    ));
                }
                self.bump();
                Op::Top(n, self.sort_key()?)
            }
            "distinct" => {
                if self.eat_punct("*") {
                    Op::Distinct(Vec::new())
                } else {
                    Op::Distinct(self.assignments(false)?)
                }
            }
            "count" => Op::Count,
            _ => return Err(err(format!("unsupported tabular operator '{name}'"), pos)),
        };
        Ok((op, pos))
    }

    fn count_literal(&mut self, op: &str) -> Result<usize, KqlError> {
        let t = self.bump();
        match t.tok {
            Tok::Int(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            ref other => Err(err(
                format!(
                    "expected a non-negative whole number after '{op}', found {}",
                    describe(other)
                ),
                t.pos,
            )),
        }
    }

    fn sort_key(&mut self) -> Result<SortKey, KqlError> {
        let expr = self.expr()?;
        check_scalar(&expr)?;
        // Kusto sorts descending unless told otherwise; nulls go last when descending.
        let mut desc = true;
        if self.is_ident("asc") {
            self.bump();
            desc = false;
        } else if self.is_ident("desc") {
            self.bump();
        }
        let mut nulls_first = !desc;
        if self.is_ident("nulls") {
            self.bump();
            let (w, wpos) = self.ident("'first' or 'last' after 'nulls'")?;
            nulls_first = match w.as_str() {
                "first" => true,
                "last" => false,
                _ => {
                    return Err(err(
                        format!("expected 'first' or 'last' after 'nulls', found '{w}'"),
                        wpos,
                    ))
                }
            };
        }
        Ok(SortKey { expr, desc, nulls_first })
    }

    /// `[name =] expr, ...`; `aggregate` allows aggregation calls at the top of each expression.
    fn assignments(&mut self, aggregate: bool) -> Result<Vec<Assign>, KqlError> {
        let mut out = Vec::new();
        loop {
            let name = match (&self.peek().tok, &self.peek_at(1).tok) {
                (Tok::Ident(n), Tok::Punct("=")) => {
                    let n = n.clone();
                    self.bump();
                    self.bump();
                    Some(n)
                }
                _ => None,
            };
            let start = self.peek().pos;
            let expr = self.expr()?;
            if aggregate {
                check_aggregate(&expr, start)?;
            } else {
                check_scalar(&expr)?;
            }
            out.push(Assign { name, expr });
            if !self.eat_punct(",") {
                break;
            }
        }
        Ok(out)
    }

    fn expr(&mut self) -> Result<Expr, KqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(
                format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
                self.peek().pos,
            ));
        }
        let r = self.or_expr();
        self.depth -= 1;
        let e = r?;
        Ok(e)
    }

    fn or_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.and_expr()?;
        while self.is_ident("or") {
            self.link()?;
            self.bump();
            let rhs = self.and_expr()?;
            lhs = Expr::Bin(BinOp::Or, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.cmp_expr()?;
        while self.is_ident("and") {
            self.link()?;
            self.bump();
            let rhs = self.cmp_expr()?;
            lhs = Expr::Bin(BinOp::And, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn cmp_expr(&mut self) -> Result<Expr, KqlError> {
        let lhs = self.add_expr()?;
        let t = self.peek();
        let bin = |op| Some(op);
        let op = match &t.tok {
            Tok::Punct("==") => bin(BinOp::Eq),
            Tok::Punct("!=") => bin(BinOp::Ne),
            Tok::Punct("=~") => bin(BinOp::EqCi),
            Tok::Punct("!~") => bin(BinOp::NeCi),
            Tok::Punct("<") => bin(BinOp::Lt),
            Tok::Punct("<=") => bin(BinOp::Le),
            Tok::Punct(">") => bin(BinOp::Gt),
            Tok::Punct(">=") => bin(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.link()?;
            self.bump();
            let rhs = self.add_expr()?;
            return Ok(Expr::Bin(op, Box::new(lhs), Box::new(rhs)));
        }
        // Word operators, possibly negated with a `!` written right before the word.
        let (negated, word_tok) = match &t.tok {
            Tok::Punct("!") => {
                let next = self.peek_at(1);
                match &next.tok {
                    Tok::Ident(_) if next.pos == t.end => (true, next),
                    _ => return Ok(lhs),
                }
            }
            Tok::Ident(_) => (false, t),
            _ => return Ok(lhs),
        };
        let Tok::Ident(word) = &word_tok.tok else { return Ok(lhs) };
        let shown = if negated { format!("!{word}") } else { word.clone() };
        let str_op = match word.as_str() {
            "contains" => Some((StrOp::Contains, false)),
            "contains_cs" => Some((StrOp::Contains, true)),
            "has" => Some((StrOp::Has, false)),
            "has_cs" => Some((StrOp::Has, true)),
            "startswith" => Some((StrOp::StartsWith, false)),
            "startswith_cs" => Some((StrOp::StartsWith, true)),
            "endswith" => Some((StrOp::EndsWith, false)),
            "endswith_cs" => Some((StrOp::EndsWith, true)),
            _ => None,
        };
        if let Some((op, case_sensitive)) = str_op {
            self.link()?;
            if negated {
                self.bump();
            }
            self.bump();
            let rhs = self.add_expr()?;
            return Ok(Expr::Str {
                op,
                negated,
                case_sensitive,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            });
        }
        if word == "in" {
            self.link()?;
            if negated {
                self.bump();
            }
            self.bump();
            let mut case_insensitive = false;
            if self.is_punct("~") && self.peek().pos == word_tok.end {
                self.bump();
                case_insensitive = true;
            }
            self.expect_punct("(", "after 'in' (e.g. in (\"a\", \"b\"))")?;
            let mut list = Vec::new();
            if !self.is_punct(")") {
                loop {
                    list.push(self.expr()?);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
            }
            self.expect_punct(")", "to close the 'in' list")?;
            return Ok(Expr::In { lhs: Box::new(lhs), list, negated, case_insensitive });
        }
        if UNSUPPORTED_SCALAR_OPS.contains(&word.as_str()) {
            return Err(err(format!("unsupported operator '{shown}'"), t.pos));
        }
        if negated {
            return Err(err(format!("unsupported operator '{shown}'"), t.pos));
        }
        Ok(lhs)
    }

    fn add_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.mul_expr()?;
        loop {
            let op = if self.is_punct("+") {
                BinOp::Add
            } else if self.is_punct("-") {
                BinOp::Sub
            } else {
                break;
            };
            self.link()?;
            self.bump();
            let rhs = self.mul_expr()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn mul_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.unary()?;
        loop {
            let op = if self.is_punct("*") {
                BinOp::Mul
            } else if self.is_punct("/") {
                BinOp::Div
            } else if self.is_punct("%") {
                BinOp::Mod
            } else {
                break;
            };
            self.link()?;
            self.bump();
            let rhs = self.unary()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, KqlError> {
        if self.eat_punct("-") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(err("expression nested too deeply", self.peek().pos));
            }
            let r = self.unary();
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(r?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, KqlError> {
        let mut e = self.primary()?;
        loop {
            if self.is_punct(".") || self.is_punct("[") {
                self.link()?;
            }
            if self.eat_punct(".") {
                let t = self.bump();
                match &t.tok {
                    Tok::Ident(s) => e = Expr::Member(Box::new(e), s.clone()),
                    // `properties.['a b']` is also valid KQL.
                    Tok::Punct("[") => {
                        let idx = self.expr()?;
                        self.expect_punct("]", "to close the index")?;
                        e = Expr::Index(Box::new(e), Box::new(idx));
                    }
                    other => {
                        return Err(err(
                            format!(
                                "expected a property name after '.', found {}",
                                describe(other)
                            ),
                            t.pos,
                        ))
                    }
                }
            } else if self.eat_punct("[") {
                let idx = self.expr()?;
                self.expect_punct("]", "to close the index")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, KqlError> {
        let t = self.bump();
        match &t.tok {
            Tok::Int(i) => Ok(Expr::Lit(Value::from(*i))),
            Tok::Real(r) => Ok(Expr::Lit(Value::from(*r))),
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s.clone()))),
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect_punct(")", "to close '('")?;
                Ok(e)
            }
            Tok::Ident(name) => {
                if !self.is_punct("(") {
                    return Ok(match name.as_str() {
                        "true" => Expr::Lit(Value::Bool(true)),
                        "false" => Expr::Lit(Value::Bool(false)),
                        _ => Expr::Col { name: name.clone(), pos: t.pos },
                    });
                }
                self.bump();
                if name == "dynamic" {
                    let v = self.dynamic_value(0)?;
                    self.expect_punct(")", "to close 'dynamic('")?;
                    return Ok(Expr::Lit(v));
                }
                let known = SCALAR_FUNCS.iter().chain(AGG_FUNCS).find(|(n, _, _)| n == name);
                let Some(&(_, min, max)) = known else {
                    return Err(err(format!("unsupported function '{name}'"), t.pos));
                };
                let mut args = Vec::new();
                if !self.is_punct(")") {
                    loop {
                        args.push(self.expr()?);
                        if !self.eat_punct(",") {
                            break;
                        }
                    }
                }
                self.expect_punct(")", &format!("to close the arguments of '{name}'"))?;
                if args.len() < min || args.len() > max {
                    let expected =
                        if min == max { format!("{min}") } else { format!("{min} to {max}") };
                    return Err(err(
                        format!(
                            "function '{name}' takes {expected} argument(s), got {}",
                            args.len()
                        ),
                        t.pos,
                    ));
                }
                Ok(Expr::Call { name: name.clone(), args, pos: t.pos })
            }
            other => Err(err(format!("expected an expression, found {}", describe(other)), t.pos)),
        }
    }

    /// The JSON-like body of `dynamic(...)`: arrays, objects, strings, numbers, booleans, null.
    fn dynamic_value(&mut self, depth: usize) -> Result<Value, KqlError> {
        if depth > MAX_DEPTH {
            return Err(err("dynamic literal nested too deeply", self.peek().pos));
        }
        let t = self.bump();
        match &t.tok {
            Tok::Int(i) => Ok(Value::from(*i)),
            Tok::Real(r) => Ok(Value::from(*r)),
            Tok::Str(s) => Ok(Value::String(s.clone())),
            Tok::Ident(w) if w == "true" => Ok(Value::Bool(true)),
            Tok::Ident(w) if w == "false" => Ok(Value::Bool(false)),
            Tok::Ident(w) if w == "null" => Ok(Value::Null),
            Tok::Punct("-") => match self.bump().tok {
                Tok::Int(i) => Ok(Value::from(i.wrapping_neg())),
                Tok::Real(r) => Ok(Value::from(-r)),
                _ => Err(err("expected a number after '-' in dynamic literal", t.pos)),
            },
            Tok::Punct("[") => {
                let mut items = Vec::new();
                if !self.eat_punct("]") {
                    loop {
                        items.push(self.dynamic_value(depth + 1)?);
                        if !self.eat_punct(",") {
                            break;
                        }
                    }
                    self.expect_punct("]", "to close the dynamic array")?;
                }
                Ok(Value::Array(items))
            }
            Tok::Punct("{") => {
                let mut map = serde_json::Map::new();
                if !self.eat_punct("}") {
                    loop {
                        let k = self.bump();
                        let Tok::Str(key) = &k.tok else {
                            return Err(err(
                                format!(
                                    "expected a quoted key in dynamic object, found {}",
                                    describe(&k.tok)
                                ),
                                k.pos,
                            ));
                        };
                        self.expect_punct(":", "after the key in dynamic object")?;
                        let v = self.dynamic_value(depth + 1)?;
                        map.insert(key.clone(), v);
                        if !self.eat_punct(",") {
                            break;
                        }
                    }
                    self.expect_punct("}", "to close the dynamic object")?;
                }
                Ok(Value::Object(map))
            }
            other => Err(err(
                format!("expected a value in dynamic literal, found {}", describe(other)),
                t.pos,
            )),
        }
    }
}

fn walk_calls(
    e: &Expr,
    f: &mut dyn FnMut(&str, usize) -> Result<(), KqlError>,
) -> Result<(), KqlError> {
    match e {
        Expr::Lit(_) | Expr::Col { .. } => Ok(()),
        Expr::Member(b, _) | Expr::Neg(b) => walk_calls(b, f),
        Expr::Index(a, b) | Expr::Bin(_, a, b) => {
            walk_calls(a, f)?;
            walk_calls(b, f)
        }
        Expr::Str { lhs, rhs, .. } => {
            walk_calls(lhs, f)?;
            walk_calls(rhs, f)
        }
        Expr::In { lhs, list, .. } => {
            walk_calls(lhs, f)?;
            list.iter().try_for_each(|x| walk_calls(x, f))
        }
        Expr::Call { name, args, pos } => {
            f(name, *pos)?;
            args.iter().try_for_each(|x| walk_calls(x, f))
        }
    }
}

fn is_agg(name: &str) -> bool {
    AGG_FUNCS.iter().any(|(n, _, _)| *n == name)
}

/// No aggregation function outside `summarize`.
fn check_scalar(e: &Expr) -> Result<(), KqlError> {
    walk_calls(e, &mut |name, pos| {
        if is_agg(name) {
            Err(err(format!("aggregation function '{name}' is only allowed in summarize"), pos))
        } else {
            Ok(())
        }
    })
}

/// A summarize aggregation is exactly one aggregation call over scalar arguments.
fn check_aggregate(e: &Expr, start: usize) -> Result<(), KqlError> {
    match e {
        Expr::Call { name, args, .. } if is_agg(name) => args.iter().try_for_each(check_scalar),
        _ => Err(err("expected an aggregation such as count() in summarize (or 'by')", start)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::tokenize;
    use super::*;

    fn p(q: &str) -> Result<Query, KqlError> {
        parse(&tokenize(q)?)
    }

    fn perr(q: &str) -> String {
        p(q).unwrap_err().to_string()
    }

    #[test]
    fn parses_operators() {
        let q =
            p("Resources | where a == 1 | project-away b, c* | sort by x asc, y | take 5 | count")
                .unwrap();
        assert_eq!(q.table, "Resources");
        assert_eq!(q.ops.len(), 5);
        assert_eq!(q.ops[1].0, Op::ProjectAway(vec![("b".into(), 40), ("c*".into(), 43)]));
        let Op::Sort(keys) = &q.ops[2].0 else { panic!() };
        assert_eq!((keys[0].desc, keys[1].desc, keys[1].nulls_first), (false, true, false));
        assert_eq!(q.ops[3].0, Op::Take(5));
        assert_eq!(q.ops[4], (Op::Count, 76));
    }

    #[test]
    fn precedence_and_word_operators() {
        let q = p("t | where a == 1 or b !in~ ('x') and not(c !contains 'y')").unwrap();
        let Op::Where(Expr::Bin(BinOp::Or, _, rhs)) = &q.ops[0].0 else { panic!("{q:?}") };
        let Expr::Bin(BinOp::And, l, _) = rhs.as_ref() else { panic!("{rhs:?}") };
        assert!(matches!(l.as_ref(), Expr::In { negated: true, case_insensitive: true, .. }));
        let q = p("t | extend x = 1 + 2 * 3").unwrap();
        let Op::Extend(a) = &q.ops[0].0 else { panic!() };
        let Expr::Bin(BinOp::Add, _, r) = &a[0].expr else { panic!() };
        assert!(matches!(r.as_ref(), Expr::Bin(BinOp::Mul, _, _)));
    }

    #[test]
    fn errors_name_the_construct_and_position() {
        assert_eq!(
            perr("resources | join kind=inner (x) on id"),
            "unsupported tabular operator 'join' (at position 12)"
        );
        assert_eq!(
            perr("resources | mv-expand x"),
            "unsupported tabular operator 'mv-expand' (at position 12)"
        );
        assert_eq!(
            perr("resources | where x between (1 .. 2)"),
            "unsupported operator 'between' (at position 20)"
        );
        assert_eq!(
            perr("resources | where x !has_any ('a')"),
            "unsupported operator '!has_any' (at position 20)"
        );
        assert_eq!(
            perr("resources | extend y = extract('a', 1, x)"),
            "unsupported function 'extract' (at position 23)"
        );
        assert_eq!(
            perr("resources | where count() > 1"),
            "aggregation function 'count' is only allowed in summarize (at position 18)"
        );
        assert_eq!(
            perr("resources | summarize tolower(x)"),
            "expected an aggregation such as count() in summarize (or 'by') (at position 22)"
        );
        assert_eq!(
            perr("resources | where"),
            "expected an expression, found the end of the query (at position 17)"
        );
        assert_eq!(
            perr("resources | where (a == 1"),
            "expected ')' to close '(', found the end of the query (at position 25)"
        );
        assert_eq!(
            perr("resources | take -1"),
            "expected a non-negative whole number after 'take', found '-' (at position 17)"
        );
        assert_eq!(
            perr("resources where a"),
            "expected '|' or the end of the query, found 'where' (at position 10)"
        );
        assert_eq!(
            perr("resources | order x"),
            "expected 'by' after 'order', found 'x' (at position 18)"
        );
        assert_eq!(
            perr("resources | extend s = strlen()"),
            "function 'strlen' takes 1 argument(s), got 0 (at position 23)"
        );
        assert_eq!(perr("let x = 1; resources"), "unsupported statement 'let' (at position 0)");
        assert_eq!(
            perr("// only a comment"),
            "empty query (start with a table, e.g. 'resources') (at position 0)"
        );
        let deep = format!("t | where {}1{}", "(".repeat(500), ")".repeat(500));
        assert!(perr(&deep).starts_with("expression nested too deeply"));
        for chain in [" or a", " + 1", ".b", "[0]", " == 1 and a"] {
            let q = format!("t | where a{}", chain.repeat(600));
            assert!(perr(&q).starts_with("query too complex"), "{chain}");
        }
        let deep = format!("t | where {}1", "-".repeat(500));
        assert!(perr(&deep).starts_with("expression nested too deeply"));
    }

    #[test]
    fn dynamic_literals() {
        let q =
            p(r#"t | where x in (dynamic(["a", 'b', -1, 2.5, true, null, {"k": [1]}]))"#).unwrap();
        let Op::Where(Expr::In { list, .. }) = &q.ops[0].0 else { panic!() };
        assert_eq!(
            list[0],
            Expr::Lit(serde_json::json!(["a", "b", -1, 2.5, true, null, {"k": [1]}]))
        );
    }
}
