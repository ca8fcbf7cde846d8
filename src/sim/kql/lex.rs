//! The KQL tokenizer: turns query text into tokens that carry their 0-based character position,
//! so every later error can point at the construct it is about. `//` comments are skipped.

use super::KqlError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Real(f64),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    /// Character offset of the first character.
    pub pos: usize,
    /// Character offset just past the last character.
    pub end: usize,
}

/// Longest first, so `==` wins over `=`.
const PUNCTS: &[&str] = &[
    "==", "!=", "=~", "!~", "<=", ">=", "|", "(", ")", "[", "]", "{", "}", ",", ".", "=", "<", ">",
    "+", "-", "*", "/", "%", "!", "~", ":", ";",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn err(message: impl Into<String>, position: usize) -> KqlError {
    KqlError { message: message.into(), position }
}

pub(super) fn tokenize(query: &str) -> Result<Vec<Token>, KqlError> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c == '@' && matches!(chars.get(i + 1), Some('"') | Some('\'')) {
            // Verbatim string: no escapes, a doubled quote stands for one quote.
            let q = chars[i + 1];
            i += 2;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err("unterminated string literal", start)),
                    Some(&ch) if ch == q => {
                        if chars.get(i + 1) == Some(&q) {
                            s.push(q);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token { tok: Tok::Str(s), pos: start, end: i });
            continue;
        }
        if c == '"' || c == '\'' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None | Some('\n') => return Err(err("unterminated string literal", start)),
                    Some(&ch) if ch == c => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let esc = chars.get(i + 1).copied();
                        let decoded = match esc {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some('0') => '\0',
                            Some(ch @ ('\\' | '"' | '\'')) => ch,
                            Some(other) => {
                                return Err(err(
                                    format!("unsupported escape '\\{other}' in string literal"),
                                    i,
                                ))
                            }
                            None => return Err(err("unterminated string literal", start)),
                        };
                        s.push(decoded);
                        i += 2;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token { tok: Tok::Str(s), pos: start, end: i });
            continue;
        }
        if c.is_ascii_digit() {
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut real = false;
            if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                real = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if matches!(chars.get(i), Some('e') | Some('E')) {
                let mut j = i + 1;
                if matches!(chars.get(j), Some('+') | Some('-')) {
                    j += 1;
                }
                if chars.get(j).is_some_and(char::is_ascii_digit) {
                    real = true;
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            if chars.get(i).is_some_and(|&ch| is_ident_char(ch)) {
                // `5m`, `1d`, `0x1F`: timespans and hex are not in the subset.
                let mut j = i;
                while j < chars.len() && is_ident_char(chars[j]) {
                    j += 1;
                }
                let text: String = chars[start..j].iter().collect();
                return Err(err(format!("unsupported literal '{text}'"), start));
            }
            let text: String = chars[start..i].iter().collect();
            let tok = if real {
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Tok::Real(v),
                    _ => return Err(err(format!("number '{text}' is out of range"), start)),
                }
            } else {
                match text.parse::<i64>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => return Err(err(format!("number '{text}' is out of range"), start)),
                }
            };
            out.push(Token { tok, pos: start, end: i });
            continue;
        }
        if is_ident_start(c) {
            // The first character is consumed whatever it is (`$left`): a start character that
            // is not also an identifier character must still advance, or the lexer never ends.
            i += 1;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token { tok: Tok::Ident(text), pos: start, end: i });
            continue;
        }
        let punct = PUNCTS
            .iter()
            .find(|p| p.chars().enumerate().all(|(k, pc)| chars.get(i + k) == Some(&pc)));
        match punct {
            Some(p) => {
                i += p.chars().count();
                out.push(Token { tok: Tok::Punct(p), pos: start, end: i });
            }
            None => return Err(err(format!("unexpected character '{c}'"), start)),
        }
    }
    out.push(Token { tok: Tok::Eof, pos: chars.len(), end: chars.len() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dollar_sign_is_consumed_not_looped_on() {
        // Found by the `kql` fuzz target: `$` started an identifier that never advanced, and the
        // lexer pushed empty tokens until memory ran out.
        let t = super::tokenize("$").unwrap();
        assert_eq!(t.len(), 2, "one identifier and the end: {t:?}");
        let t = super::tokenize("r$sourbes | $left").unwrap();
        assert!(t.len() <= 6, "{t:?}");
    }

    use super::*;

    fn toks(q: &str) -> Vec<(Tok, usize)> {
        tokenize(q).unwrap().into_iter().map(|t| (t.tok, t.pos)).collect()
    }

    #[test]
    fn tokens_carry_character_positions() {
        let id = |s: &str| Tok::Ident(s.into());
        // "é" is one character but two bytes: positions count characters.
        assert_eq!(
            toks("t | where x=~'é' // c\n and y!=2.5e1"),
            vec![
                (id("t"), 0),
                (Tok::Punct("|"), 2),
                (id("where"), 4),
                (id("x"), 10),
                (Tok::Punct("=~"), 11),
                (Tok::Str("é".into()), 13),
                (id("and"), 23),
                (id("y"), 27),
                (Tok::Punct("!="), 28),
                (Tok::Real(25.0), 30),
                (Tok::Eof, 35),
            ]
        );
    }

    #[test]
    fn strings_numbers_and_errors() {
        assert_eq!(
            toks(r#"'a\'b' "c\"d" @"e""f""#)[..3],
            [
                (Tok::Str("a'b".into()), 0),
                (Tok::Str("c\"d".into()), 7),
                (Tok::Str("e\"f".into()), 14),
            ]
        );
        assert_eq!(toks("42 0.5")[..2], [(Tok::Int(42), 0), (Tok::Real(0.5), 3)]);
        let e = |q: &str| tokenize(q).unwrap_err().to_string();
        assert_eq!(e("x == 'abc"), "unterminated string literal (at position 5)");
        assert_eq!(e("x > 5m"), "unsupported literal '5m' (at position 4)");
        assert_eq!(e("x # 1"), "unexpected character '#' (at position 2)");
        assert_eq!(
            e("99999999999999999999"),
            "number '99999999999999999999' is out of range (at position 0)"
        );
        assert_eq!(e(r"'\q'"), r"unsupported escape '\q' in string literal (at position 1)");
    }
}
