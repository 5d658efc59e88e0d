//! The architecture rules of both crates, checked from their sources:
//!
//! * no import cycle among the top-level modules of `ember-codegen` or of `ember-runtime`;
//! * in `ember-codegen`, the stages run one way, `spec` → `validate` → `plan` → `emit`: no
//!   stage uses a later one, and the shared modules below them (`code`, `ctx`, `diag`,
//!   `path`, `units`) use no stage;
//! * no source file over 600 lines, not counting its `#[cfg(test)] mod tests` block.
//!
//! Run it with `cargo test -p ember-codegen --test architecture`.
//!
//! How dependencies are found: every `crate::a…` path, every `crate::{a…, b…}` group and
//! every `super::…` path (resolved against the file's own module) outside comments and
//! string literals, in the code before the test block. `crate::X` where `X` is an item the
//! crate root re-exports (`pub use a::b::X`) counts as a use of module `a`. Uses of the
//! crate root's own items from a module count as an edge to the root, which itself uses
//! every module: so they show as cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Most lines a source file may have before its test block.
const MAX_LINES: usize = 600;

/// The stages of the generator, in order.
const STAGES: [&str; 4] = ["spec", "validate", "plan", "emit"];
/// The generator's modules below every stage.
const BASE: [&str; 5] = ["code", "ctx", "diag", "path", "units"];
/// The crate root's node name.
const ROOT: &str = "(crate root)";

struct Crate {
    /// Top-level module → the top-level modules it uses.
    edges: BTreeMap<String, BTreeSet<String>>,
    /// Files over [`MAX_LINES`], with their counts.
    long: Vec<(PathBuf, usize)>,
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir` (recursively), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file (`plan/routes.rs` → `["plan", "routes"]`, `lib.rs` → `[]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// The lines before the file's `#[cfg(test)] mod tests` block.
fn before_tests(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            is_test_cfg(lines[i].trim())
                && lines
                    .get(i + 1)
                    .is_some_and(|l| l.trim_start().starts_with("mod tests"))
        })
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// Whether an attribute compiles its item for tests only: `#[cfg(test)]`, or a `cfg(all(…))`
/// that includes `test` (e.g. `#[cfg(all(test, feature = "redis"))]`).
fn is_test_cfg(attr: &str) -> bool {
    attr == "#[cfg(test)]" || (attr.starts_with("#[cfg(all(") && attr.contains("test,"))
}

/// Code without comments and string literals (so that doc text and generated code held in
/// strings are not read as paths).
fn code_only(lines: &[&str]) -> String {
    let text = lines.join("\n");
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += text[i..].find("*/").map_or(b.len() - i, |n| n + 2);
        } else if b[i] == b'r'
            && (b[i + 1..].starts_with(b"#") || b[i + 1..].starts_with(b"\""))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // A raw string: r"…", r#"…"#, …
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) == Some(&b'"') {
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                i = text[start..]
                    .find(&close)
                    .map_or(b.len(), |n| start + n + close.len());
                out.push_str("\"\"");
            } else {
                out.push('r');
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal like '"' or '{'.
            i += 3;
            out.push_str("' '");
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += text[i + 2..].find('\'').map_or(b.len() - i, |n| n + 3);
            out.push_str("' '");
        } else {
            let ch = text[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The top-level names a piece of code reaches through `crate::` and `super::` paths, for
/// a file whose module path is `module`.
fn uses(code: &str, module: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let word_start =
        |i: usize| i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
    for (i, _) in code.match_indices("crate::") {
        if !word_start(i) || (i >= 2 && &code[i - 2..i] == "::") {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b, c::{…}}`: the first name of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphanumeric() || c == '_') => {
                        if let Some(id) = ident_at(&group[k..]) {
                            out.insert(id.to_owned());
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else if let Some(id) = ident_at(rest) {
            // `crate::name!`: a `#[macro_export]` macro, defined in whichever module.
            if !rest[id.len()..].starts_with('!') {
                out.insert(id.to_owned());
            }
        }
    }
    for (i, _) in code.match_indices("super::") {
        if !word_start(i) || (i >= 2 && &code[i - 2..i] == "::") {
            continue;
        }
        // Count the chain `super::super::…`, then the name after it.
        let mut rest = &code[i..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        // In `plan/routes.rs` (module plan::routes) `super::x` is `plan::x`.
        let base_len = module.len().saturating_sub(ups);
        if base_len > 0 {
            // Still inside the same top-level module.
            out.insert(module[0].clone());
        } else if let Some(id) = ident_at(rest.trim_start_matches('{')) {
            out.insert(id.to_owned());
        }
    }
    out
}

/// `pub use a::b::{X, Y};` / `pub use a::X;` at the crate root: item name → module `a`.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = code_only(&lib.lines().collect::<Vec<_>>());
    for stmt in code.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let path = path.trim().trim_start_matches("crate::");
        let Some(module) = ident_at(path) else {
            continue;
        };
        let names: Vec<&str> = match path.find('{') {
            Some(k) => path[k + 1..]
                .trim_end_matches('}')
                .split(',')
                .map(|n| n.trim().rsplit("::").next().unwrap_or("").trim())
                .collect(),
            None => vec![path.rsplit("::").next().unwrap_or("")],
        };
        for n in names {
            let n = n.split(" as ").last().unwrap_or(n).trim();
            if !n.is_empty() && n != module {
                map.insert(n.to_owned(), module.to_owned());
            }
        }
    }
    map
}

/// Reads a crate's `src/`: its module graph and its long files.
fn read_crate(src: &Path) -> Crate {
    let all = files(src);
    let top: BTreeSet<String> = all
        .iter()
        .filter(|f| !f.starts_with(src.join("bin")))
        .filter_map(|f| module_of(src, f).first().cloned())
        .collect();
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let reexports = root_reexports(&lib);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut long = Vec::new();
    for file in &all {
        let text = std::fs::read_to_string(file).expect("read source");
        let lines = before_tests(&text);
        if lines.len() > MAX_LINES {
            long.push((file.clone(), lines.len()));
        }
        if file.starts_with(src.join("bin")) {
            continue; // another crate (the CLI), using the library's public API
        }
        let module = module_of(src, file);
        let from = module.first().cloned().unwrap_or_else(|| ROOT.to_owned());
        let entry = edges.entry(from.clone()).or_default();
        if from == ROOT {
            // The root declares and uses every module.
            entry.extend(top.iter().cloned());
            continue;
        }
        for name in uses(&code_only(&lines), &module) {
            let to = if top.contains(&name) {
                name
            } else if let Some(m) = reexports.get(&name) {
                m.clone()
            } else {
                // An item of the crate root itself.
                ROOT.to_owned()
            };
            if to != from {
                entry.insert(to);
            }
        }
    }
    Crate { edges, long }
}

/// A cycle in the graph, as `a → b → … → a`, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).expect("on stack");
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Every problem of one crate: cycles and long files.
fn problems(c: &Crate) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(cycle) = find_cycle(&c.edges) {
        out.push(format!("import cycle: {}", cycle.join(" → ")));
    }
    for (f, n) in &c.long {
        out.push(format!(
            "{} has {n} lines before its tests (at most {MAX_LINES})",
            f.display()
        ));
    }
    out
}

fn graph(c: &Crate) -> String {
    c.edges
        .iter()
        .map(|(k, v)| {
            format!(
                "  {k} → {}",
                v.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn codegen_modules_have_no_cycle_and_stages_run_one_way() {
    let c = read_crate(&manifest().join("src"));
    let mut errors = problems(&c);
    let stage = |m: &str| STAGES.iter().position(|s| *s == m);
    for (from, tos) in &c.edges {
        for to in tos {
            match (stage(from), stage(to)) {
                (Some(a), Some(b)) if b > a => {
                    errors.push(format!("stage `{from}` uses the later stage `{to}`"))
                }
                (None, Some(_)) if BASE.contains(&from.as_str()) => errors.push(format!(
                    "`{from}` is below every stage but uses the stage `{to}`"
                )),
                _ => {}
            }
        }
    }
    // Shown with `--nocapture`.
    eprintln!("ember-codegen module graph:\n{}", graph(&c));
    for s in STAGES.iter().chain(&BASE) {
        assert!(
            c.edges.contains_key(*s),
            "module `{s}` not found: is the list stale?"
        );
    }
    assert!(
        errors.is_empty(),
        "ember-codegen:\n{}\n\nmodule graph:\n{}",
        errors.join("\n"),
        graph(&c)
    );
}

#[test]
fn runtime_modules_have_no_cycle() {
    let c = read_crate(&manifest().join("../ember-runtime/src"));
    let errors = problems(&c);
    assert!(
        errors.is_empty(),
        "ember-runtime:\n{}\n\nmodule graph:\n{}",
        errors.join("\n"),
        graph(&c)
    );
}

/// The checks themselves find what they should (a rule that cannot fail checks nothing).
#[test]
fn the_checks_find_cycles_later_stages_and_paths() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );

    let module = vec!["plan".to_owned(), "routes".to_owned()];
    let code = code_only(&[
        "use crate::{diag::Diagnostic, spec::{Spec, Entries}};",
        "use super::Builder; // crate::emit in a comment",
        "let s = \"crate::handlers\"; let t = r#\"crate::emit\"#;",
        "fn f() { crate::validate::flag(); super::super::units::x(); }",
    ]);
    let got: Vec<String> = uses(&code, &module).into_iter().collect();
    assert_eq!(got, ["diag", "plan", "spec", "units", "validate"]);

    let lines = ["a", "#[cfg(test)]", "mod tests {", "}"];
    assert_eq!(before_tests(&lines.join("\n")).len(), 1);
    let lines = [
        "a",
        "b",
        "#[cfg(all(test, feature = \"redis\"))]",
        "mod tests {",
        "}",
    ];
    assert_eq!(before_tests(&lines.join("\n")).len(), 2);
    assert_eq!(
        root_reexports("pub use http::response::{Json, Response};\npub use server::run;")
            .into_iter()
            .collect::<Vec<_>>(),
        [
            ("Json".to_owned(), "http".to_owned()),
            ("Response".to_owned(), "http".to_owned()),
            ("run".to_owned(), "server".to_owned()),
        ]
    );
}
