//! Finding the `lifeboat ...` commands of a Markdown file, and turning each into the argument
//! lists to check.
//!
//! What counts as a command:
//! - in a fenced code block (any language), a line starting with `lifeboat` (after leading
//!   spaces, a `$ ` prompt, a YAML `- script: `-style key, and `NAME=value` environment
//!   assignments), or with `cargo run [...] -- ` (the binary built from this checkout); a line
//!   ending in `\` continues on the next, and so does a usage synopsis' next line that starts
//!   with spaces and `[`. When a block has lines starting with `$ `, only those are commands
//!   (the others are output: a transcript). A block right after the line
//!   `<!-- doc-commands: skip -->` is skipped (for output that looks like a command).
//! - an inline code span (one or more backticks, over several lines of a paragraph) whose text
//!   starts with `lifeboat` or `cargo run`.
//!
//! How a command becomes argument lists ([`variants`]):
//! - `# comment` at the end and shell redirections or pipes (`>`, `2>`, ` | `, `&&`, `;`) end it;
//! - optional groups `[...]` (a synopsis) give one variant without any and one per group, each
//!   group checked on its own (two groups may exclude each other);
//! - alternatives `a|b|c` give one variant per alternative;
//! - placeholders get values ([`Placeholders`]): `RUN`, `RUN_ID` a run, `R` the failed region,
//!   `T` the target region, `NAME` a built-in runbook, `FILE`, `DIR`, `PORT`, `STEP`, `ID`, `N`, `#N`, `TEXT`, `<...>`, `~`,
//!   `$(...)`;
//! - an ellipsis `...` (or `…`) means "more arguments here": the command may lack required
//!   arguments; after a flag it is the flag's value, and the flag alone is checked (it must
//!   exist); `KEY=...` gets a value.

use std::path::PathBuf;

/// Where a command was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A line (or lines) of a fenced code block.
    Block,
    /// An inline code span.
    Inline,
}

/// A command as written in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocCommand {
    /// The document, as the failure message names it (`docs/responder.md`).
    pub file: String,
    /// 1-based line of its start.
    pub line: usize,
    /// The command's text: `lifeboat ...` (continuations joined, comment and prompt removed),
    /// or the `cargo run ... -- ...` line.
    pub text: String,
    pub found: Found,
}

impl DocCommand {
    /// `file:line`.
    pub fn place(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// The marker that makes the next fenced block no source of commands.
pub const SKIP_MARKER: &str = "<!-- doc-commands: skip -->";

/// Every command of `markdown`, in document order.
pub fn extract(file: &str, markdown: &str) -> Vec<DocCommand> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    // The text outside fenced blocks, line for line (block lines blanked), for the inline spans.
    let mut prose: Vec<&str> = Vec::with_capacity(lines.len());
    let mut i = 0;
    let mut previous_text: Option<&str> = None;
    while i < lines.len() {
        let line = lines[i];
        if let Some((fence_char, fence_len)) = fence_open(line) {
            let skip = previous_text.is_some_and(|p| p.trim() == SKIP_MARKER);
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && !fence_closes(lines[end], fence_char, fence_len) {
                end += 1;
            }
            if !skip {
                out.extend(block_commands(file, &lines[start..end.min(lines.len())], start + 1));
            }
            prose.extend(std::iter::repeat_n("", end.min(lines.len() - 1) + 1 - i));
            i = end + 1;
            previous_text = None;
            continue;
        }
        if !line.trim().is_empty() {
            previous_text = Some(line);
        }
        prose.push(line);
        i += 1;
    }
    out.extend(inline_commands(file, &prose));
    out.sort_by_key(|c| c.line);
    out
}

/// ```` ``` ```` or `~~~` (three or more) opening a fenced block, after at most three spaces
/// (more inside a list item: any indentation is accepted).
fn fence_open(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    let c = t.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = t.chars().take_while(|&x| x == c).count();
    // An info string with a backtick is no fence (CommonMark).
    (n >= 3 && !(c == '`' && t[n..].contains('`'))).then_some((c, n))
}

fn fence_closes(line: &str, c: char, len: usize) -> bool {
    let t = line.trim();
    let n = t.chars().take_while(|&x| x == c).count();
    n >= len && t.chars().all(|x| x == c)
}

/// The start of a command on a line: `lifeboat ...` or `cargo run ... -- ...`, after a prompt,
/// a YAML key and environment assignments.
fn command_start(line: &str, dollar_mode: bool) -> Option<String> {
    let mut t = line.trim_start();
    if dollar_mode {
        t = t.strip_prefix("$ ")?;
    } else {
        t = t.strip_prefix("$ ").unwrap_or(t);
    }
    // A YAML list item and key (`- script: lifeboat drill ...`).
    let t0 = t.strip_prefix("- ").unwrap_or(t);
    let t = match t0.split_once(": ") {
        Some((key, rest))
            if !key.is_empty()
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            rest.trim_start()
        }
        _ => t0,
    };
    let t = strip_env_assignments(t);
    if is_command(t) {
        Some(t.to_string())
    } else {
        None
    }
}

/// `NAME=value ` prefixes (environment for the command).
fn strip_env_assignments(mut t: &str) -> &str {
    loop {
        let Some((word, rest)) = t.split_once(' ') else { return t };
        let Some((name, _)) = word.split_once('=') else { return t };
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            return t;
        }
        t = rest.trim_start();
    }
}

/// `lifeboat ARGS` (the program's name alone is no command) or `cargo run ... -- ARGS`.
fn is_command(t: &str) -> bool {
    t.starts_with("lifeboat ") || (t.starts_with("cargo run") && t.contains(" -- "))
}

fn block_commands(file: &str, lines: &[&str], first_line: usize) -> Vec<DocCommand> {
    let dollar_mode = lines.iter().any(|l| l.trim_start().starts_with("$ "));
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(mut text) = command_start(lines[i], dollar_mode) else {
            i += 1;
            continue;
        };
        let line = first_line + i;
        // Continuations: a trailing backslash, or a synopsis line indented and starting with `[`.
        loop {
            let trimmed = strip_comment(&text).trim_end().to_string();
            if let Some(before) = trimmed.strip_suffix('\\') {
                if i + 1 < lines.len() {
                    i += 1;
                    text = format!("{} {}", before.trim_end(), lines[i].trim());
                    continue;
                }
                text = before.to_string();
                break;
            }
            if i + 1 < lines.len()
                && lines[i + 1].starts_with(char::is_whitespace)
                && lines[i + 1].trim_start().starts_with('[')
            {
                i += 1;
                text = format!("{} {}", trimmed, lines[i].trim());
                continue;
            }
            break;
        }
        out.push(DocCommand {
            file: file.to_string(),
            line,
            text: strip_comment(&text).trim().to_string(),
            found: Found::Block,
        });
        i += 1;
    }
    out
}

/// The text before a shell comment (` #` outside quotes).
fn strip_comment(s: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '#' && prev_space => return &s[..i],
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    s
}

/// Inline code spans of the prose (fenced blocks blanked) that hold a command.
fn inline_commands(file: &str, prose: &[&str]) -> Vec<DocCommand> {
    let text = prose.join("\n");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let n = bytes[i..].iter().take_while(|&&b| b == b'`').count();
        let open = i;
        let content_start = i + n;
        // The closing run: exactly n backticks.
        let mut j = content_start;
        let mut close = None;
        while j < bytes.len() {
            if bytes[j] == b'`' {
                let m = bytes[j..].iter().take_while(|&&b| b == b'`').count();
                if m == n {
                    close = Some(j);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        let Some(close) = close else {
            i = content_start;
            continue;
        };
        let content = &text[content_start..close];
        // A span never crosses a blank line (a paragraph's end).
        if content.contains("\n\n") || content.contains("\n \n") {
            i = content_start;
            continue;
        }
        let one_line = content.split_whitespace().collect::<Vec<_>>().join(" ");
        if is_command(&one_line) {
            out.push(DocCommand {
                file: file.to_string(),
                line: text[..open].matches('\n').count() + 1,
                text: one_line,
                found: Found::Inline,
            });
        }
        i = close + n;
    }
    out
}

/// The values placeholders take.
#[derive(Debug, Clone)]
pub struct Placeholders {
    /// `RUN`, `RUN_ID`: a run that exists.
    pub run: String,
    /// `STEP`: a step of that run.
    pub step: String,
    /// `PORT`: the simulator's.
    pub port: u16,
    /// `FILE`: a file that exists.
    pub file: PathBuf,
    /// `DIR`: a directory that may not exist yet.
    pub dir: PathBuf,
    /// `~`.
    pub home: PathBuf,
}

impl Placeholders {
    /// The value of a whole-token placeholder, or `None` when `word` is none.
    fn value(&self, word: &str) -> Option<String> {
        Some(match word {
            "RUN" | "RUN_ID" => self.run.clone(),
            "STEP" => self.step.clone(),
            "R" | "REGION" => "westeurope".into(),
            "T" => "northeurope".into(),
            "FILE" => self.file.display().to_string(),
            "DIR" => self.dir.display().to_string(),
            "PORT" => self.port.to_string(),
            "N" => "1".into(),
            "ID" => "doc-id".into(),
            "TEXT" | "NUMBER" => "doc-text".into(),
            "COMMAND" => "run".into(),
            "NAME" => "region-outage".into(),
            "SHELL" => "bash".into(),
            "URL" => format!("http://127.0.0.1:{}", self.port),
            _ if word.starts_with('<') && word.ends_with('>') => "doc-value".into(),
            _ => return None,
        })
    }

    /// A token with its placeholders replaced: whole, after `KEY=`, `PORT` in a URL, `#N`,
    /// `DIR/` at the start of a path, `~`, `$(...)`.
    fn fill(&self, token: &str) -> String {
        if let Some(v) = self.value(token) {
            return v;
        }
        let mut t = token.to_string();
        if let Some(rest) = t.strip_prefix("~/") {
            t = self.home.join(rest).display().to_string();
        } else if t == "~" {
            t = self.home.display().to_string();
        }
        while let (Some(a), Some(b)) = (t.find("$("), t.find(')')) {
            if b < a {
                break;
            }
            t = format!("{}{}{}", &t[..a], self.dir.display(), &t[b + 1..]);
        }
        if let Some(rest) = t.strip_prefix("DIR/") {
            t = self.dir.join(rest).display().to_string();
        }
        if let Some(rest) = t.strip_prefix("FILE") {
            if rest.is_empty() {
                t = self.file.display().to_string();
            }
        }
        if t.contains("127.0.0.1:PORT") {
            t = t.replace("127.0.0.1:PORT", &format!("127.0.0.1:{}", self.port));
        }
        if let Some(base) = t.strip_suffix("#N") {
            t = format!("{base}#0");
        }
        if let Some((key, value)) = t.split_once('=') {
            if !key.starts_with('-') {
                if let Some(v) = self.value(value) {
                    return format!("{key}={v}");
                }
                if value == "..." || value == "…" {
                    return format!("{key}=doc-value");
                }
            }
        }
        // `a,b,...`: the list as given, without the ellipsis.
        for tail in [",...", ",…"] {
            if let Some(base) = t.strip_suffix(tail) {
                t = base.to_string();
            }
        }
        t
    }
}

/// An upper-case word standing for a value (`SEED`, `DURATION`, `FAMILY=V1,V2`).
fn is_placeholder(w: &str) -> bool {
    w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_=,".contains(c))
}

/// One argument list to check (what follows `lifeboat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub args: Vec<String>,
    /// Environment assignments written before the command.
    pub env: Vec<(String, String)>,
    /// An ellipsis stood for more arguments: required ones may be missing.
    pub elided: bool,
    /// Flags whose value was an ellipsis: left out of `args`, each must exist.
    pub elided_flags: Vec<String>,
    /// The first variant (no optional group, the first alternative).
    pub base: bool,
}

/// Splits like a shell (quotes, backslash escapes), stopping at a redirection, pipe or list
/// operator.
pub fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            Some(_) => cur.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    in_word = true;
                }
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                        in_word = true;
                    }
                }
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                _ => {
                    cur.push(c);
                    in_word = true;
                }
            },
        }
    }
    if in_word {
        words.push(cur);
    }
    let end = words
        .iter()
        .position(|w| {
            matches!(w.as_str(), "|" | "||" | "&&" | ";" | "&")
                || w.starts_with('>')
                || w.starts_with("2>")
                || w.starts_with("1>")
                || w.starts_with('<')
        })
        .unwrap_or(words.len());
    words.truncate(end);
    words
}

/// The argument lists of `cmd` (see the module documentation), at most 64.
pub fn variants(cmd: &DocCommand, ph: &Placeholders) -> Vec<Variant> {
    let mut words = shell_words(&cmd.text);
    let mut env = Vec::new();
    // `cargo run [--release] -- ARGS` is `lifeboat ARGS`.
    if words.first().map(String::as_str) == Some("cargo") {
        let at = words.iter().position(|w| w == "--").map_or(words.len(), |p| p + 1);
        words.drain(..at);
    } else {
        // Environment assignments, then `lifeboat`.
        while let Some((k, v)) = words.first().and_then(|w| w.split_once('=')) {
            env.push((k.to_string(), v.to_string()));
            words.remove(0);
        }
        if words.first().map(String::as_str) == Some("lifeboat") {
            words.remove(0);
        }
    }
    // Optional groups: base words, and per group its words and where they go.
    let mut base: Vec<(usize, String)> = Vec::new();
    let mut groups: Vec<Vec<(usize, String)>> = Vec::new();
    let mut depth = 0usize;
    for (pos, w) in words.into_iter().enumerate() {
        let mut w = w.as_str();
        let opens = w.starts_with('[');
        if opens {
            w = &w[1..];
            if depth == 0 {
                groups.push(Vec::new());
            }
            depth += 1;
        }
        let mut closes = 0;
        let mut w = w.to_string();
        for repeat in ["]...", "]…"] {
            if let Some(b) = w.strip_suffix(repeat) {
                w = format!("{b}]");
            }
        }
        while w.ends_with(']') && depth > closes {
            w.pop();
            closes += 1;
        }
        if !w.is_empty() {
            if depth > 0 {
                if let Some(g) = groups.last_mut() {
                    g.push((pos, w));
                }
            } else {
                base.push((pos, w));
            }
        }
        depth -= closes.min(depth);
    }
    let mut lists: Vec<(bool, Vec<(usize, String)>)> = vec![(true, base.clone())];
    for g in &groups {
        let mut with = base.clone();
        with.extend(g.iter().cloned());
        with.sort_by_key(|(p, _)| *p);
        lists.push((false, with));
    }
    let mut out: Vec<Variant> = Vec::new();
    for (is_base, list) in lists {
        // Alternatives `a|b|c` (a pipe between words was cut by `shell_words`).
        let mut expanded: Vec<Vec<String>> = vec![Vec::new()];
        for (_, w) in &list {
            let alts: Vec<&str> = if w.contains('|') && !w.contains("://") {
                w.split('|').filter(|a| !a.is_empty()).collect()
            } else {
                vec![w.as_str()]
            };
            let mut next = Vec::new();
            for prefix in &expanded {
                for a in &alts {
                    let mut v = prefix.clone();
                    v.push(a.to_string());
                    next.push(v);
                }
            }
            next.truncate(64);
            expanded = next;
        }
        for (n, words) in expanded.into_iter().enumerate() {
            let mut args = Vec::new();
            let mut elided = false;
            let mut elided_flags = Vec::new();
            for w in words {
                let after_flag =
                    args.last().is_some_and(|a: &String| a.starts_with('-') && !a.contains('='));
                // A value cut short (`sha256:9f86d0...`); `KEY=...` and `a,b,...` are filled.
                let abbreviated = (w.ends_with("...") || w.ends_with('…'))
                    && !w.contains('=')
                    && !w.contains(',');
                if w == "..." || w == "…" || (abbreviated && after_flag) {
                    elided = true;
                    // After a flag without a value: the flag's value (the flag alone is checked).
                    if after_flag {
                        if let Some(flag) = args.pop() {
                            elided_flags.push(flag);
                        }
                    }
                    continue;
                }
                let filled = ph.fill(&w);
                // A placeholder with no value here (`SEED`, `FAMILY=V1,V2`) as a flag's value:
                // the flag alone is checked.
                if after_flag && filled == w && is_placeholder(&w) {
                    if let Some(flag) = args.pop() {
                        elided_flags.push(flag);
                    }
                    continue;
                }
                args.push(filled);
            }
            let v =
                Variant { args, env: env.clone(), elided, elided_flags, base: is_base && n == 0 };
            if !out.iter().any(|o| o.args == v.args && o.elided_flags == v.elided_flags) {
                out.push(v);
            }
        }
    }
    out.truncate(64);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ph() -> Placeholders {
        Placeholders {
            run: "the-run".into(),
            step: "kick-off".into(),
            port: 4242,
            file: "/tmp/f".into(),
            dir: "/tmp/d".into(),
            home: "/tmp/h".into(),
        }
    }

    fn texts(md: &str) -> Vec<(usize, String)> {
        extract("x.md", md).into_iter().map(|c| (c.line, c.text)).collect()
    }

    #[test]
    fn blocks_inline_spans_continuations_prompts_and_comments() {
        let md = "# t\n\
            Run `lifeboat plan\nregion-outage` now, or `cargo run --release -- drill`.\n\
            \n\
            ```sh\n\
            lifeboat run region-outage \\\n    --guided   # led\n\
            LIFEBOAT_X=1 lifeboat status RUN\n\
            echo lifeboat is here\n\
            - script: lifeboat drill --junit $(Dir)/x.xml\n\
            ```\n\
            ```\n\
            lifeboat sim serve [--listen A]\n                   [--seed N]\n\
            ```\n\
            ```text\n\
            $ lifeboat status RUN\n\
            lifeboat run 20260101 of runbook region-outage\n\
            ```\n\
            <!-- doc-commands: skip -->\n\
            ```\n\
            lifeboat not a command\n\
            ```\n\
            `lifeboat` alone, `lifeboats` no, ``lifeboat man --out DIR``.\n";
        assert_eq!(
            texts(md),
            vec![
                (2, "lifeboat plan region-outage".to_string()),
                (3, "cargo run --release -- drill".into()),
                (6, "lifeboat run region-outage --guided".into()),
                (8, "lifeboat status RUN".into()),
                (10, "lifeboat drill --junit $(Dir)/x.xml".into()),
                (13, "lifeboat sim serve [--listen A] [--seed N]".into()),
                (17, "lifeboat status RUN".into()),
                (24, "lifeboat man --out DIR".into()),
            ]
        );
    }

    #[test]
    fn groups_alternatives_placeholders_and_ellipses_become_variants() {
        let cmd = |text: &str| DocCommand {
            file: "x.md".into(),
            line: 1,
            text: text.into(),
            found: Found::Block,
        };
        let args = |text: &str| -> Vec<Vec<String>> {
            variants(&cmd(text), &ph()).into_iter().map(|v| v.args).collect()
        };
        assert_eq!(
            args("lifeboat drill [--scenario a|b] [--tenant small|FILE]"),
            vec![
                vec!["drill".to_string()],
                vec!["drill".into(), "--scenario".into(), "a".into()],
                vec!["drill".into(), "--scenario".into(), "b".into()],
                vec!["drill".into(), "--tenant".into(), "small".into()],
                vec!["drill".into(), "--tenant".into(), "/tmp/f".into()],
            ]
        );
        assert_eq!(
            args("lifeboat approve RUN approve-submission#N --set failed_region=R > out.txt"),
            vec![vec![
                "approve".to_string(),
                "the-run".into(),
                "approve-submission#0".into(),
                "--set".into(),
                "failed_region=westeurope".into(),
            ]]
        );
        assert_eq!(
            args("lifeboat --arm-endpoint http://127.0.0.1:PORT --auth none connectors list"),
            vec![[
                "--arm-endpoint",
                "http://127.0.0.1:4242",
                "--auth",
                "none",
                "connectors",
                "list"
            ]
            .map(String::from)
            .to_vec()]
        );
        let v = variants(&cmd("LIFEBOAT_A=b lifeboat resume RUN --api-version ..."), &ph());
        assert_eq!(v[0].args, vec!["resume".to_string(), "the-run".into()]);
        assert_eq!(v[0].elided_flags, vec!["--api-version".to_string()]);
        assert!(v[0].elided);
        assert_eq!(v[0].env, vec![("LIFEBOAT_A".to_string(), "b".to_string())]);
        let v = variants(&cmd("lifeboat sim serve [--drift SEED] --x sha256:9f..."), &ph());
        assert_eq!(v[0].args, vec!["sim".to_string(), "serve".into()]);
        assert_eq!(v[0].elided_flags, vec!["--x".to_string()]);
        assert_eq!(v[1].elided_flags, vec!["--drift".to_string(), "--x".into()]);
        let v = variants(&cmd("lifeboat run x --set contact_email=... --set r=a,b,..."), &ph());
        assert_eq!(v[0].args[3], "contact_email=doc-value");
        assert_eq!(v[0].args[5], "r=a,b");
        assert_eq!(
            args("cargo run --release -- sim serve --tenant small"),
            vec![["sim", "serve", "--tenant", "small"].map(String::from).to_vec()]
        );
        assert_eq!(
            args("lifeboat attest RUN STEP --evidence \"ticket NUMBER\" --out ~/k"),
            vec![[
                "attest",
                "the-run",
                "kick-off",
                "--evidence",
                "ticket NUMBER",
                "--out",
                "/tmp/h/k"
            ]
            .map(String::from)
            .to_vec()]
        );
    }
}
