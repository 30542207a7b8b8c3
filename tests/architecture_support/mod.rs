//! The reader behind `tests/architecture.rs`: a small Rust tokenizer that knows enough to skip
//! comments, strings (raw ones included) and character literals, and, on its tokens, the two
//! things the architecture rules look at:
//!
//! - [`imports`]: every path into the crate a file names — `use crate::…` (grouped forms
//!   `use crate::{a, b::c}` included), inline paths `crate::x::y` in code, and `super::` chains
//!   that climb to the crate root — as the top-level module it reaches;
//! - [`functions`]: every `fn` with a body, and the lines from its `fn` to its closing brace.
//!
//! It is not a parser: it needs the source to be valid Rust, which `cargo test` has just
//! proven it is. Macro bodies are read as code (`$crate` is skipped, being the macro's own).

#![allow(dead_code)]

/// One token, as the rules need it.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    Punct(char),
    /// A string, character or number literal (its text does not matter here).
    Literal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// 1-based line where the token starts.
    pub line: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `src` into tokens, dropping whitespace and comments.
pub fn tokenize(src: &str) -> Vec<Token> {
    let s: Vec<char> = src.chars().collect();
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        // Where the token (or skipped text) ends, and what it is (`None`: nothing to keep).
        let (end, tok) = if c.is_whitespace() {
            (i + 1, None)
        } else if c == '/' && at(i + 1) == '/' {
            let len = s[i..].iter().take_while(|c| **c != '\n').count();
            (i + len, None)
        } else if c == '/' && at(i + 1) == '*' {
            (block_comment_end(&s, i), None)
        } else if let Some(end) = raw_string_end(&s, i) {
            (end, Some(Tok::Literal))
        } else if c == '"' {
            (string_end(&s, i), Some(Tok::Literal))
        } else if matches!(c, 'b' | 'c') && at(i + 1) == '"' {
            (string_end(&s, i + 1), Some(Tok::Literal))
        } else if c == '\'' {
            quote(&s, i)
        } else if c == 'b' && at(i + 1) == '\'' {
            quote(&s, i + 1)
        } else if c == 'r' && at(i + 1) == '#' && is_ident_start(at(i + 2)) {
            // A raw identifier, `r#type`.
            let end = ident_end(&s, i + 2);
            (end, Some(Tok::Ident(s[i + 2..end].iter().collect())))
        } else if is_ident_start(c) {
            let end = ident_end(&s, i);
            (end, Some(Tok::Ident(s[i..end].iter().collect())))
        } else if c.is_ascii_digit() {
            let mut end = i;
            while end < s.len()
                && (is_ident_char(s[end]) || (s[end] == '.' && at(end + 1).is_ascii_digit()))
            {
                end += 1;
            }
            (end, Some(Tok::Literal))
        } else {
            (i + 1, Some(Tok::Punct(c)))
        };
        let end = end.min(s.len());
        if let Some(tok) = tok {
            out.push(Token { tok, line });
        }
        line += s[i..end].iter().filter(|c| **c == '\n').count();
        i = end;
    }
    out
}

fn ident_end(s: &[char], from: usize) -> usize {
    from + s[from..].iter().take_while(|c| is_ident_char(**c)).count()
}

/// Past the end of the (possibly nested) block comment starting at `i`.
fn block_comment_end(s: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < s.len() {
        if s[i] == '/' && s.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Past the closing quote of the string whose opening quote is at `i`.
fn string_end(s: &[char], mut i: usize) -> usize {
    i += 1;
    while i < s.len() && s[i] != '"' {
        // An escape takes the next character with it (`\"`, `\\`).
        i += if s[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// At a quote (`i`): a character literal (`'a'`, `'\n'`, `'\u{7f}'`), or else a lifetime or
/// label, whose quote is kept as a token (its name follows as an identifier).
fn quote(s: &[char], i: usize) -> (usize, Option<Tok>) {
    if s.get(i + 1) == Some(&'\\') {
        let close = s
            .iter()
            .skip(i + 3)
            .position(|c| *c == '\'')
            .map_or(s.len(), |p| i + 3 + p);
        (close + 1, Some(Tok::Literal))
    } else if s.get(i + 2) == Some(&'\'') {
        (i + 3, Some(Tok::Literal))
    } else {
        (i + 1, Some(Tok::Punct('\'')))
    }
}

/// If a raw string (`r"…"`, `r#"…"#`, `br"…"`, `cr"…"`) starts at `i`, the index just past it.
fn raw_string_end(s: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if matches!(s.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if s.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|c| **c == '#').count();
    j += hashes;
    if s.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < s.len() {
        if s[j] == '"'
            && s[j + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(s.len())
}

/// The module path of a file under `src/`: `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`;
/// `lib.rs` and `main.rs` are the crate root, `[]`.
pub fn module_path(file: &str) -> Vec<String> {
    let rel = file.strip_prefix("src/").unwrap_or(file);
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The top-level module a file belongs to: `analysis` for `src/analysis/x.rs`; `lib`, `main`
/// for the crate roots.
pub fn top_module(file: &str) -> String {
    match file.strip_prefix("src/").unwrap_or(file) {
        "lib.rs" => "lib".into(),
        "main.rs" => "main".into(),
        _ => module_path(file).into_iter().next().unwrap_or_default(),
    }
}

/// One path from a file into a top-level module of the crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub line: usize,
    /// The top-level module named (`load` in `crate::load::EngineThread`).
    pub target: String,
}

fn ident(t: Option<&Token>) -> Option<&str> {
    match t.map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

fn punct(t: Option<&Token>, c: char) -> bool {
    t.is_some_and(|t| t.tok == Tok::Punct(c))
}

fn path_sep(toks: &[Token], i: usize) -> bool {
    punct(toks.get(i), ':') && punct(toks.get(i + 1), ':')
}

/// Every path in `src` (the text of `file`) that reaches a top-level module of the crate.
/// `main.rs` is the binary crate: there `zerodrop::` is the library's root.
pub fn imports(file: &str, src: &str) -> Vec<Import> {
    let toks = tokenize(src);
    let file_path = module_path(file);
    let is_main = top_module(file) == "main";
    // Braces opened so far, with the name of each inline `mod name {`.
    let mut braces: Vec<Option<String>> = Vec::new();
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].tok {
            Tok::Punct('{') => {
                let inline = (ident(i.checked_sub(2).and_then(|j| toks.get(j))) == Some("mod"))
                    .then(|| ident(toks.get(i - 1)).map(str::to_string))
                    .flatten();
                braces.push(inline);
            }
            Tok::Punct('}') => {
                braces.pop();
            }
            Tok::Ident(word) => {
                // Not the tail of a longer path (`a::super`) nor a macro's `$crate`; a single `:`
                // before it (`field: crate::x::T`) is a type annotation and does start a path.
                let tail = i >= 2 && path_sep(&toks, i - 2);
                let dollar = i >= 1 && punct(toks.get(i - 1), '$');
                let starts_path = !tail && !dollar;
                let root_at = match word.as_str() {
                    _ if !starts_path => None,
                    "crate" => Some(i + 1),
                    "zerodrop" if is_main => Some(i + 1),
                    "super" => {
                        let mut depth = file_path.len() + braces.iter().flatten().count();
                        let mut j = i;
                        while ident(toks.get(j)) == Some("super") && path_sep(&toks, j + 1) {
                            depth = depth.saturating_sub(1);
                            j += 3;
                        }
                        // `j` is past the last `super::`; back to its `::` if the root is reached.
                        (depth == 0 && j > i).then_some(j - 2)
                    }
                    _ => None,
                };
                if let Some(sep) = root_at.filter(|s| path_sep(&toks, *s)) {
                    out.extend(targets(&toks, sep + 2));
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The top-level modules named at `toks[i]`, just after `crate::`: one name, or each item of a
/// group `{a, b::c, d::{e}}`.
fn targets(toks: &[Token], i: usize) -> Vec<Import> {
    let named = |t: &Token| match &t.tok {
        Tok::Ident(s) if s != "self" => Some(Import {
            line: t.line,
            target: s.clone(),
        }),
        _ => None,
    };
    if !punct(toks.get(i), '{') {
        return toks.get(i).and_then(named).into_iter().collect();
    }
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for t in &toks[i..] {
        match t.tok {
            Tok::Punct('{') => {
                depth += 1;
                item_start = depth == 1;
                continue;
            }
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Punct(',') if depth == 1 => {
                item_start = true;
                continue;
            }
            _ if item_start && depth == 1 => out.extend(named(t)),
            _ => {}
        }
        item_start = false;
    }
    out
}

/// A function with a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// The line of its `fn` keyword.
    pub line: usize,
    /// Lines from `fn` to the closing brace, both included.
    pub lines: usize,
}

/// Every function with a body in `src`, nested ones included (each measured on its own).
/// Function pointer types (`fn(u8) -> u8`) and bodiless declarations (`fn f();` in a trait)
/// are not functions here.
pub fn functions(src: &str) -> Vec<Function> {
    let toks = tokenize(src);
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if t.tok != Tok::Ident("fn".into()) {
            continue;
        }
        let Some(name) = ident(toks.get(i + 1)) else {
            continue;
        };
        // The body is the first `{` outside the parameters' and types' brackets.
        let mut nesting = 0i32;
        let mut body = None;
        for (j, u) in toks.iter().enumerate().skip(i + 2) {
            match u.tok {
                Tok::Punct('(' | '[') => nesting += 1,
                Tok::Punct(')' | ']') => nesting -= 1,
                Tok::Punct(';') if nesting == 0 => break,
                Tok::Punct('{') if nesting == 0 => {
                    body = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let Some(open) = body else { continue };
        let mut depth = 0;
        for u in &toks[open..] {
            match u.tok {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(Function {
                            name: name.to_string(),
                            line: t.line,
                            lines: u.line - t.line + 1,
                        });
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}
