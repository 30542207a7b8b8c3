//! The architecture, checked: which top-level module may import which (the dependency rule of
//! the README's layout and `src/lib.rs`), and the size rule (no file in `src/` over 600 lines,
//! no function over 80). Every `src/**/*.rs` is read as text (`architecture_support`): `use
//! crate::…` lines, grouped or not, inline `crate::x::y` paths and `super::` chains that climb
//! to the crate root all count as imports.
//!
//! The rule, by importing module:
//! - `model` imports nothing of ours;
//! - `timeline` imports only `model`;
//! - `analysis`, `gate`, `report` and `record` never import `load`, `cluster`, `cli`,
//!   `commands` or `run`;
//! - `load` never imports `record`, `cluster`, `cli`, `commands`, `run`, `analysis`, `report`
//!   or `gate`;
//! - nothing but `commands` (and `main.rs`, `plugin.rs`) imports `cli`.

mod architecture_support;

use std::path::Path;

use architecture_support::{Function, functions, imports, top_module};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

// ---- known violations ------------------------------------------------------------------------
// None: issue 11's branches are merged and these lists are empty. They stay as the one place an
// exception would have to be written down and argued for; an entry that no longer matches a
// violation fails the test too, so a list can only shrink.

/// (file, imported top-level module).
const ALLOWED_IMPORTS: &[(&str, &str)] = &[];

/// Files allowed over `MAX_FILE_LINES`, with their length when this list was written.
const ALLOWED_LONG_FILES: &[&str] = &[];

/// (file, function name) allowed over `MAX_FN_LINES`, with their length when this list was
/// written.
const ALLOWED_LONG_FNS: &[(&str, &str)] = &[];

// ---- the rule --------------------------------------------------------------------------------

/// The rule an import from module `from` of module `to` breaks, if any.
fn broken_rule(from: &str, to: &str) -> Option<&'static str> {
    const BELOW_THE_RUN: [&str; 5] = ["load", "cluster", "cli", "commands", "run"];
    const NOT_FROM_LOAD: [&str; 8] = [
        "record", "cluster", "cli", "commands", "run", "analysis", "report", "gate",
    ];
    if from == to {
        return None;
    }
    match from {
        "model" => return Some("model imports nothing of ours"),
        "timeline" if to != "model" => return Some("timeline imports only model"),
        "analysis" | "gate" | "report" | "record" if BELOW_THE_RUN.contains(&to) => {
            return Some(
                "analysis, gate, report and record never import load, cluster, cli, commands or run",
            );
        }
        "load" if NOT_FROM_LOAD.contains(&to) => {
            return Some(
                "load never imports record, cluster, cli, commands, run, analysis, report or gate",
            );
        }
        _ => {}
    }
    (to == "cli" && !matches!(from, "commands" | "main" | "plugin"))
        .then_some("nothing but commands (and main.rs, plugin.rs) imports cli")
}

/// Every import in `files` (path under the crate, text) that breaks the rule, as
/// `(file, line, imported module, rule)`. `modules` are the crate's top-level modules: a path
/// to anything else (an item of `lib.rs`) is not an import of a module.
fn broken_imports(
    files: &[(String, String)],
    modules: &[String],
) -> Vec<(String, usize, String, &'static str)> {
    let mut out = Vec::new();
    for (file, text) in files {
        let from = top_module(file);
        for i in imports(file, text) {
            if !modules.contains(&i.target) {
                continue;
            }
            if let Some(rule) = broken_rule(&from, &i.target) {
                out.push((file.clone(), i.line, i.target, rule));
            }
        }
    }
    out
}

// ---- the tree --------------------------------------------------------------------------------

/// Every `.rs` file under `src/`, as (path from the crate root, text), sorted.
fn source_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let path = e.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(root).expect("under the crate");
                let text = std::fs::read_to_string(&path).expect("source is UTF-8");
                out.push((rel.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("src"), root, &mut out);
    out.sort();
    assert!(out.len() > 50, "found only {} source files", out.len());
    out
}

/// The crate's top-level modules: what `src/` holds, as files and directories.
fn top_modules(files: &[(String, String)]) -> Vec<String> {
    let mut m: Vec<String> = files.iter().map(|(f, _)| top_module(f)).collect();
    m.sort();
    m.dedup();
    m
}

/// Fails listing each of `found` (key, message) whose key `allowed` lacks, and each allowed key
/// no longer found.
fn check_against_allowlist(what: &str, found: &[(String, String)], allowed: &[String]) {
    let mut problems: Vec<String> = found
        .iter()
        .filter(|(key, _)| !allowed.contains(key))
        .map(|(_, message)| message.clone())
        .collect();
    problems.extend(
        allowed
            .iter()
            .filter(|key| !found.iter().any(|(k, _)| k == *key))
            .map(|key| format!("allowed but no longer found, remove it from the list: {key}")),
    );
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn every_import_in_src_keeps_the_dependency_rule() {
    let files = source_files();
    let found: Vec<(String, String)> = broken_imports(&files, &top_modules(&files))
        .into_iter()
        .map(|(file, line, to, rule)| {
            (
                format!("{file} {to}"),
                format!("{file}:{line} imports {to}: {rule}"),
            )
        })
        .collect();
    let allowed: Vec<String> = ALLOWED_IMPORTS
        .iter()
        .map(|(file, to)| format!("{file} {to}"))
        .collect();
    check_against_allowlist("imports that break the dependency rule", &found, &allowed);
}

#[test]
fn no_file_in_src_is_over_600_lines() {
    let found: Vec<(String, String)> = source_files()
        .into_iter()
        .map(|(file, text)| (file, text.lines().count()))
        .filter(|(_, n)| *n > MAX_FILE_LINES)
        .map(|(file, n)| {
            let message = format!("{file}: {n} lines (at most {MAX_FILE_LINES})");
            (file, message)
        })
        .collect();
    let allowed: Vec<String> = ALLOWED_LONG_FILES.iter().map(|f| f.to_string()).collect();
    check_against_allowlist("files over the size limit", &found, &allowed);
}

#[test]
fn no_function_in_src_is_over_80_lines() {
    let mut found = Vec::new();
    for (file, text) in source_files() {
        for Function { name, line, lines } in functions(&text) {
            if lines > MAX_FN_LINES {
                found.push((
                    format!("{file} {name}"),
                    format!("{file}:{line} fn {name}: {lines} lines (at most {MAX_FN_LINES})"),
                ));
            }
        }
    }
    let allowed: Vec<String> = ALLOWED_LONG_FNS
        .iter()
        .map(|(file, name)| format!("{file} {name}"))
        .collect();
    check_against_allowlist("functions over the length limit", &found, &allowed);
}

// ---- the checker itself ----------------------------------------------------------------------

fn synthetic(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect()
}

fn modules() -> Vec<String> {
    [
        "analysis", "cli", "cluster", "commands", "gate", "load", "model", "record", "report",
        "run", "timeline", "plugin", "lib", "main",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_forbidden_import_is_caught_with_its_file_line_and_rule() {
    let files = synthetic(&[
        (
            "src/analysis/attribute.rs",
            "//! Attribution.\n\nuse crate::model::clock::At;\nuse crate::load::EngineThread;\n",
        ),
        ("src/model/clock.rs", "use std::time::Duration;\n"),
    ]);
    assert_eq!(
        broken_imports(&files, &modules()),
        vec![(
            "src/analysis/attribute.rs".to_string(),
            4,
            "load".to_string(),
            "analysis, gate, report and record never import load, cluster, cli, commands or run"
        )]
    );
}

#[test]
fn grouped_inline_and_super_paths_are_imports_and_comments_and_strings_are_not() {
    let files = synthetic(&[
        (
            "src/record/mod.rs",
            "use crate::{model::clock::At, load::{self, Mode}};\n",
        ),
        (
            "src/gate.rs",
            "fn f() { let _ = crate::cluster::kube::x(); }\n// crate::cli::Cli\nconst S: &str = \"crate::run::flow\";\nstruct O { out: crate::run::Out }\n",
        ),
        ("src/timeline.rs", "use super::report::text;\n"),
        (
            "src/model/event.rs",
            "mod tests { use super::super::Revision; }\n",
        ),
        ("src/load/engine.rs", "use crate::cli::TrafficArgs;\n"),
        ("src/commands/run.rs", "use crate::cli::RunArgs;\n"),
        ("src/main.rs", "fn main() { zerodrop::cli::parse(); }\n"),
    ]);
    let got: Vec<(String, usize, String)> = broken_imports(&files, &modules())
        .into_iter()
        .map(|(f, l, m, _)| (f, l, m))
        .collect();
    let want: Vec<(String, usize, String)> = [
        ("src/record/mod.rs", 1, "load"),
        ("src/gate.rs", 1, "cluster"),
        ("src/gate.rs", 4, "run"),
        ("src/timeline.rs", 1, "report"),
        ("src/load/engine.rs", 1, "cli"),
    ]
    .iter()
    .map(|(f, l, m)| (f.to_string(), *l, m.to_string()))
    .collect();
    // `super::super::Revision` from `model::event`'s inline `tests` is `model::Revision`.
    assert_eq!(got, want);
}

#[test]
fn the_scanner_ignores_braces_in_strings_comments_and_characters() {
    let src = r####"
fn outer() {
    let s = "} not the end {";
    let r = r#"}"# ;
    let c = '}';
    let b = b"}\"{\\";
    let e = '\'';
    let l: &'static str = "x";
    /* } /* nested } */ still a comment } */
    // }
    let inner = |x: u8| x;
}
fn next<'a>(x: &'a str) -> &'a str { x }
"####;
    let fns = functions(src);
    let got: Vec<(&str, usize, usize)> = fns
        .iter()
        .map(|f| (f.name.as_str(), f.line, f.lines))
        .collect();
    assert_eq!(got, vec![("outer", 2, 11), ("next", 13, 1)]);
}

#[test]
fn the_scanner_measures_nested_functions_and_skips_declarations_and_pointer_types() {
    let src = "trait T {\n    fn declared(&self);\n}\nfn takes(f: fn(u8) -> u8) -> [u8; 2] {\n    fn helper() {\n    }\n    [f(1), 2]\n}\n";
    let got: Vec<(String, usize)> = functions(src)
        .into_iter()
        .map(|f| (f.name, f.lines))
        .collect();
    assert_eq!(
        got,
        vec![("takes".to_string(), 5), ("helper".to_string(), 2)]
    );
}
