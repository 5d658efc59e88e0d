//! `docs/spec.md`, the JSON Schema (`ember-codegen schema`) and the parser know the same keys.
//!
//! **The docs convention.** A key table in `docs/spec.md` is a Markdown table whose header
//! row is exactly `| key | type | default | example | meaning |`. The line right before it
//! (blank lines allowed) is an HTML comment `<!-- keys: LOCATION -->` naming the object of
//! the schema the table documents. Every row's first cell is one backticked key
//! (`` `max_body_size` ``) and no cell is empty (so every key has a type, a default, an
//! example and a meaning).
//!
//! **Schema locations.** The schema's root object is `top`; each `$defs` entry is its own
//! root, named after it (`group`, `routes`, `route_limits`, `middleware`). Below a root,
//! `properties` add `.KEY` (or just `KEY` below `top`), `additionalProperties` and
//! `patternProperties` add `.*`, `items` adds `[]`, and `anyOf`/`oneOf`/`allOf` branches stay
//! at the same location (their keys are merged). A `$ref` is not followed (its target is
//! walked as its own root). So `server.limits`, `caches.*.redis`, `routes.*` (a route's long
//! form) and `middleware[].cors` are locations; the keys of a location are its properties.
//!
//! The tests: every location with keys has a table with exactly those keys, and every table
//! names such a location; and, probing the parser with an unknown key at each location, the
//! parser accepts exactly the schema's keys there; and every `yaml` example of the docs
//! compiles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// Keys by location.
type Keys = BTreeMap<String, BTreeSet<String>>;

/// The header a key table must have.
const HEADER: [&str; 5] = ["key", "type", "default", "example", "meaning"];

fn docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/spec.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// The schema side

/// Every location of `schema` that has keys, with its keys.
fn schema_keys(schema: &Value) -> Keys {
    let mut out = Keys::new();
    walk(schema, "top", &mut out);
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        for (name, def) in defs {
            walk(def, name, &mut out);
        }
    }
    out
}

fn child(path: &str, key: &str) -> String {
    if path == "top" {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(node: &Value, path: &str, out: &mut Keys) {
    let Some(obj) = node.as_object() else {
        return;
    };
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let keys = out.entry(path.to_owned()).or_default();
        keys.extend(props.keys().cloned());
        for (k, v) in props {
            walk(v, &child(path, k), out);
        }
    }
    if let Some(ap) = obj.get("additionalProperties") {
        walk(ap, &format!("{path}.*"), out);
    }
    if let Some(pp) = obj.get("patternProperties").and_then(Value::as_object) {
        for v in pp.values() {
            walk(v, &format!("{path}.*"), out);
        }
    }
    if let Some(items) = obj.get("items") {
        walk(items, &format!("{path}[]"), out);
    }
    for kw in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = obj.get(kw).and_then(Value::as_array) {
            for b in branches {
                walk(b, path, out);
            }
        }
    }
}

/// Every `$ref` in `node`.
fn refs<'v>(node: &'v Value, out: &mut Vec<&'v str>) {
    match node {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// The docs side

/// The cells of a table row (`| a | b |`), split on unescaped pipes, trimmed.
fn cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    let mut out = vec![String::new()];
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(last) = out.last_mut() {
                    last.push('|');
                }
            }
            '|' => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out.iter().map(|c| c.trim().to_owned()).collect()
}

/// `` `name` `` → `name` (letters, digits and `_` only).
fn key_cell(cell: &str) -> Option<&str> {
    let k = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(k)
}

/// The key tables of `md` by location, or every way it breaks the convention.
fn doc_keys(md: &str) -> Result<Keys, Vec<String>> {
    let mut out = Keys::new();
    let mut errors = Vec::new();
    let lines: Vec<&str> = md.lines().collect();
    // The marker waiting for its table: (location, line number).
    let mut marker: Option<(String, usize)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let n = i + 1;
        i += 1;
        if let Some(rest) = line.strip_prefix("<!-- keys:") {
            let Some(loc) = rest.strip_suffix("-->").map(str::trim) else {
                errors.push(format!(
                    "line {n}: a keys marker is `<!-- keys: LOCATION -->`"
                ));
                continue;
            };
            if let Some((old, at)) = marker.replace((loc.to_owned(), n)) {
                errors.push(format!(
                    "line {at}: marker `{old}` is not followed by a table"
                ));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('|') {
            if let Some((old, at)) = marker.take() {
                errors.push(format!(
                    "line {at}: marker `{old}` is not followed by a table"
                ));
            }
            continue;
        }
        // A table: its header, then the separator, then rows up to the first other line.
        let header = cells(line);
        let start = i;
        while i < lines.len() && lines[i].trim().starts_with('|') {
            i += 1;
        }
        let rows = &lines[start..i];
        let is_key_table = header.first().is_some_and(|c| c == "key");
        let Some((loc, _)) = marker.take() else {
            if is_key_table {
                errors.push(format!(
                    "line {n}: a key table without a `<!-- keys: LOCATION -->` line before it"
                ));
            }
            continue;
        };
        if header != HEADER {
            errors.push(format!(
                "line {n}: the table of `{loc}` must have the columns {}, not {}",
                HEADER.join(" | "),
                header.join(" | ")
            ));
            continue;
        }
        if out.contains_key(&loc) {
            errors.push(format!("line {n}: a second table for `{loc}`"));
            continue;
        }
        let keys = out.entry(loc.clone()).or_default();
        for (j, row) in rows.iter().enumerate().skip(1) {
            let rn = start + j + 1;
            let c = cells(row);
            if c.len() != HEADER.len() {
                errors.push(format!(
                    "line {rn}: {} cells in a table of {}",
                    c.len(),
                    HEADER.len()
                ));
                continue;
            }
            let Some(k) = key_cell(&c[0]) else {
                errors.push(format!(
                    "line {rn}: the first cell must be one backticked key, not `{}`",
                    c[0]
                ));
                continue;
            };
            if let Some(empty) = c.iter().position(String::is_empty) {
                errors.push(format!(
                    "line {rn}: `{k}` has no {} (write `—` for none)",
                    HEADER[empty]
                ));
            }
            if !keys.insert(k.to_owned()) {
                errors.push(format!("line {rn}: `{k}` is listed twice in `{loc}`"));
            }
        }
    }
    if let Some((old, at)) = marker {
        errors.push(format!(
            "line {at}: marker `{old}` is not followed by a table"
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// What differs between the schema's keys and the docs' tables, one line each.
fn differences(schema: &Keys, docs: &Keys) -> Vec<String> {
    let mut out = Vec::new();
    for (loc, keys) in schema {
        match docs.get(loc) {
            None => out.push(format!(
                "docs/spec.md has no key table for `{loc}` (keys: {})",
                keys.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            Some(documented) => {
                for k in keys.difference(documented) {
                    out.push(format!(
                        "`{loc}`: the schema knows `{k}`, docs/spec.md's table does not"
                    ));
                }
                for k in documented.difference(keys) {
                    out.push(format!(
                        "`{loc}`: docs/spec.md documents `{k}`, the schema does not know it"
                    ));
                }
            }
        }
    }
    for loc in docs.keys().filter(|l| !schema.contains_key(*l)) {
        out.push(format!(
            "docs/spec.md has a key table for `{loc}`, which is not a location of the schema"
        ));
    }
    out
}

#[test]
fn every_schema_key_is_documented_and_every_documented_key_is_in_the_schema() {
    let schema = ember_codegen::schema::schema();
    let mut broken = Vec::new();
    refs(&schema, &mut broken);
    broken.retain(|r| {
        r.strip_prefix("#/$defs/")
            .is_none_or(|d| schema["$defs"].get(d).is_none())
    });
    assert!(broken.is_empty(), "dangling $refs: {broken:?}");
    let from_schema = schema_keys(&schema);
    let from_docs = doc_keys(&docs()).unwrap_or_else(|e| {
        panic!(
            "docs/spec.md breaks the key-table convention:\n{}",
            e.join("\n")
        )
    });
    // A sanity floor: the walk and the parser found the real thing.
    for loc in [
        "top",
        "server.limits",
        "caches.*",
        "routes.*",
        "middleware[].rate_limit",
    ] {
        assert!(from_schema.contains_key(loc), "schema location {loc}");
        assert!(from_docs.contains_key(loc), "docs location {loc}");
    }
    let diff = differences(&from_schema, &from_docs);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

/// The check fails when a key is missing on either side (the same functions as above on
/// the real docs and schema, each with one key taken out).
#[test]
fn a_key_missing_on_either_side_is_reported() {
    let mut schema = ember_codegen::schema::schema();
    let docs_text = docs();
    let from_docs = doc_keys(&docs_text).expect("the docs follow the convention");
    assert!(differences(&schema_keys(&schema), &from_docs).is_empty());

    // Missing from the docs: drop the `max_keys` row of rate_limit's table.
    let start = docs_text
        .find("<!-- keys: middleware[].rate_limit -->")
        .expect("the rate_limit table");
    let row = docs_text[start..]
        .find("\n| `max_keys` |")
        .map(|i| start + i + 1)
        .expect("the max_keys row");
    let end = row + docs_text[row..].find('\n').expect("end of row") + 1;
    let without_row = format!("{}{}", &docs_text[..row], &docs_text[end..]);
    let diff = differences(
        &schema_keys(&schema),
        &doc_keys(&without_row).expect("still well-formed"),
    );
    assert_eq!(
        diff,
        ["`middleware[].rate_limit`: the schema knows `max_keys`, docs/spec.md's table does not"]
    );

    // Missing from the schema: drop a cache option.
    let cache = &mut schema["properties"]["caches"]["additionalProperties"]["properties"];
    assert!(
        cache
            .as_object_mut()
            .and_then(|o| o.remove("jitter"))
            .is_some()
    );
    let diff = differences(&schema_keys(&schema), &from_docs);
    assert_eq!(
        diff,
        ["`caches.*`: docs/spec.md documents `jitter`, the schema does not know it"]
    );

    // A table without its marker, or a row without an example, breaks the convention.
    let unmarked = docs_text.replace("<!-- keys: server.io_uring -->\n", "");
    assert!(doc_keys(&unmarked).is_err());
    let no_example = docs_text.replace(
        "| `entries` | integer 8–32768, a power of two | `1024` | `entries: 2048` |",
        "| `entries` | integer 8–32768, a power of two | `1024` |  |",
    );
    assert_ne!(no_example, docs_text);
    assert!(
        doc_keys(&no_example)
            .unwrap_err()
            .iter()
            .any(|e| e.contains("`entries` has no example"))
    );
}

// ---------------------------------------------------------------------------------------
// The parser side

/// A spec with the unknown key `__probe__` at `location`, or `None` for a location this
/// test does not know how to reach (the test then fails: add a probe).
fn probe(location: &str, key: &str, value: &str) -> Option<String> {
    let kv = format!("{key}: {value}");
    Some(match location {
        "top" => format!("{kv}\n"),
        "server" => format!("server:\n  {kv}\n"),
        "server.io_uring" => format!("server:\n  io_uring:\n    {kv}\n"),
        "server.limits" => format!("server:\n  limits:\n    {kv}\n"),
        "caches.*" => format!("caches:\n  c:\n    ttl: 1s\n    {kv}\n"),
        "caches.*.redis" => format!("caches:\n  c:\n    ttl: 1s\n    redis:\n      {kv}\n"),
        "caches.*.memcached" => {
            format!("caches:\n  c:\n    ttl: 1s\n    memcached:\n      {kv}\n")
        }
        "caches.*.key" => format!("caches:\n  c:\n    ttl: 1s\n    key:\n      {kv}\n"),
        "routes.*" => format!("routes:\n  GET /:\n    handler: h\n    {kv}\n"),
        // typed input (issue 15)
        "routes.*.body" => {
            format!("routes:\n  POST /:\n    handler: h\n    body:\n      type: T\n      {kv}\n")
        }
        "route_limits" => format!("routes:\n  GET /:\n    handler: h\n    limits:\n      {kv}\n"),
        "group" => format!("groups:\n  - prefix: /g\n    {kv}\n"),
        "middleware[]" => format!("middleware:\n  - {key}: {{}}\n"),
        // ai (issue 13).
        "ai" => format!("ai:\n  {kv}\n"),
        // openapi (issue 16, api)
        "openapi" => format!("openapi:\n  {kv}\n"),
        "ai.router" => format!("ai:\n  router:\n    {kv}\n"),
        "ai_retries" => format!("ai:\n  router:\n    retries:\n      {kv}\n"),
        "ai_cooldown" => format!("ai:\n  router:\n    cooldown:\n      {kv}\n"),
        "ai.models.*" => format!("ai:\n  models:\n    m:\n      {kv}\n"),
        "ai.models.*.upstreams[]" => {
            format!("ai:\n  models:\n    m:\n      upstreams:\n        - {kv}\n")
        }
        "ai.models.*.upstreams[].cost" => {
            format!("ai:\n  models:\n    m:\n      upstreams:\n        - cost:\n            {kv}\n")
        }
        "ai.routes.*" => format!("ai:\n  routes:\n    POST /x:\n      {kv}\n"),
        // ai state (issue 14)
        "ai.context" => format!("ai:\n  context:\n    {kv}\n"),
        "ai.context.id" => format!("ai:\n  context:\n    id:\n      {kv}\n"),
        "ai.context.redis" => {
            format!("ai:\n  context:\n    store: redis\n    redis:\n      {kv}\n")
        }
        "ai.limits" => format!("ai:\n  limits:\n    {kv}\n"),
        "ai.limits.redis" => format!("ai:\n  limits:\n    store: redis\n    redis:\n      {kv}\n"),
        // semantic cache (semcache, issue 14)
        "ai.semantic_cache" => format!("ai:\n  semantic_cache:\n    {kv}\n"),
        "ai.semantic_cache.embedder" => {
            format!("ai:\n  semantic_cache:\n    embedder:\n      {kv}\n")
        }
        "ai.semantic_cache.redis" => {
            format!("ai:\n  semantic_cache:\n    store: redis\n    redis:\n      {kv}\n")
        }
        "ai.models.*.semantic_cache" => {
            format!("ai:\n  models:\n    m:\n      semantic_cache:\n        {kv}\n")
        }
        // cookies & sessions (issue 15)
        "cookies" => format!("cookies:\n  keys_env: K\n  {kv}\n"),
        // observe (obs, issue 16)
        "access_log" => format!("access_log:\n  {kv}\n"),
        "request_id" => format!("request_id:\n  {kv}\n"),
        "metrics" => format!("metrics:\n  {kv}\n"),
        "sessions.*" => format!("sessions:\n  s:\n    store: memory\n    {kv}\n"),
        "sessions.*.redis" => format!(
            "sessions:\n  s:\n    store: redis\n    redis:\n      url: redis://h:1\n      {kv}\n"
        ),
        "sessions.*.cookie" => {
            format!("sessions:\n  s:\n    store: memory\n    cookie:\n      {kv}\n")
        }
        // scale (issues 16.3, 18)
        "redis" => format!("redis:\n  {kv}\n"),
        "probes" => format!("probes:\n  {kv}\n"),
        other => {
            let kind = other.strip_prefix("middleware[].")?;
            format!("middleware:\n  - {kind}: {{ {kv} }}\n")
        }
    })
}

fn diagnostics(spec: &str) -> String {
    match ember_codegen::compile(
        spec,
        "probe.yaml",
        &mut |_| Err(std::io::Error::other("no includes here")),
        &|_| None,
    ) {
        Ok(_) => String::new(),
        Err(d) => d.render(false),
    }
}

/// The keys an "unknown key" diagnostic lists: serde's "unknown field `x`, expected one of
/// a, b" (or "expected `a` or `b`"), the middleware's "`cors` takes a, b" and "unknown
/// middleware `x`" labelled "expected one of a, b".
fn listed(text: &str) -> Option<BTreeSet<String>> {
    let rest = ["expected one of ", "` takes ", "expected `"]
        .iter()
        .filter_map(|m| text.find(m).map(|i| (i, *m)))
        .min_by_key(|(i, _)| *i)
        .map(|(i, m)| &text[i + m.len()..])?;
    let line = rest.lines().next()?;
    let keys: BTreeSet<String> = line
        .split(", ")
        .flat_map(|p| p.split(" or "))
        .map(|k| k.trim().trim_matches('`').to_owned())
        .filter(|k| !k.is_empty())
        .collect();
    (!keys.is_empty()).then_some(keys)
}

/// Whether the parser refuses `key` at `location` although it reads it there (a limit that
/// only the server may set, `addr` under `redis`).
fn refused_here(location: &str, key: &str) -> bool {
    let Some(spec) = probe(location, key, "1s") else {
        return false;
    };
    let text = diagnostics(&spec);
    text.contains(&format!("`{key}` can only be set under"))
        || text.contains(&format!("not `{key}`"))
}

#[test]
fn the_parser_accepts_exactly_the_schema_keys() {
    let schema = ember_codegen::schema::schema();
    let mut problems = Vec::new();
    for (location, keys) in schema_keys(&schema) {
        let Some(spec) = probe(&location, "__probe__", "1") else {
            problems.push(format!(
                "no probe for schema location `{location}`: add one to `probe`"
            ));
            continue;
        };
        let text = diagnostics(&spec);
        let Some(mut parser) = listed(&text) else {
            problems.push(format!(
                "`{location}`: the parser did not list its keys for an unknown one:\n{text}"
            ));
            continue;
        };
        parser.retain(|k| !refused_here(&location, k));
        for k in keys.difference(&parser) {
            problems.push(format!(
                "`{location}`: the schema knows `{k}`, the parser does not accept it"
            ));
        }
        for k in parser.difference(&keys) {
            problems.push(format!(
                "`{location}`: the parser accepts `{k}`, the schema does not know it"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The examples

/// Every `yaml` block of `docs/spec.md` compiles: a block of top-level keys as it is, a
/// block of list items (`- cors: …`) as a top-level `middleware:` list. Caches `hot` and
/// `posts` are declared for blocks that use them without declaring caches, and included
/// files hold one route.
#[test]
fn every_yaml_example_in_the_docs_compiles() {
    let text = docs();
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut current, line.trim()) {
            (None, "```yaml") => current = Some((i + 1, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, b)), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(blocks.len() >= 10, "only {} yaml blocks", blocks.len());
    let mut failures = Vec::new();
    for (line, block) in blocks {
        let mut spec = if block.trim_start().starts_with("- ") {
            let indented: String = block.lines().map(|l| format!("  {l}\n")).collect();
            format!("middleware:\n{indented}")
        } else {
            block
        };
        if !spec.contains("caches:") {
            spec.push_str("caches:\n  hot: { ttl: 1s }\n  posts: { ttl: 1s }\n");
        }
        let mut n = 0;
        let result = ember_codegen::compile(
            &spec,
            "docs.yaml",
            &mut |_| {
                n += 1;
                Ok(format!("routes:\n  GET /included/{n}: included\n"))
            },
            &|_| None,
        );
        if let Err(d) = result {
            failures.push(format!("docs/spec.md line {line}:\n{spec}\n{d}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// docs/spec.md says a route's `name` and `summary` (and a group's `name`) are accepted and
/// ignored today: the generated code is the same without them.
#[test]
fn route_name_and_summary_are_accepted_and_ignored() {
    let generate = |extra: &str, group_extra: &str| {
        let spec = format!(
            "routes:\n  GET /a: {{ handler: a{extra} }}\ngroups:\n  - {{ prefix: /g{group_extra}, routes: {{ GET /b: b }} }}\n"
        );
        let plan = ember_codegen::compile(
            &spec,
            "t.yaml",
            &mut |_| Err(std::io::Error::other("none")),
            &|_| None,
        )
        .unwrap_or_else(|d| panic!("{d}"));
        ember_codegen::emit(&plan, &ember_codegen::EmitOptions::default())
    };
    let plain = generate("", "");
    let named = generate(", name: get_a, summary: Gets a.", ", name: grp");
    assert_eq!(plain, named);
    assert!(!named.contains("get_a") && !named.contains("Gets a."));
}
