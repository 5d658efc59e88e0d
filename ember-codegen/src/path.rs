//! Route path syntax: `/static/{name}/{id:u64}/{*rest}`.

/// The type of a path parameter, as written after `:` (default `str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `str` (or `string`): a percent-decoded `&str`.
    Str,
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `usize`
    Usize,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `uuid`: `ember_runtime::Uuid`.
    Uuid,
}

/// Every accepted type name, for errors and suggestions.
pub const PARAM_TYPES: &[&str] = &[
    "str", "string", "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "uuid",
];

impl ParamType {
    /// Parses a type name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "str" | "string" => ParamType::Str,
            "u8" => ParamType::U8,
            "u16" => ParamType::U16,
            "u32" => ParamType::U32,
            "u64" => ParamType::U64,
            "usize" => ParamType::Usize,
            "i8" => ParamType::I8,
            "i16" => ParamType::I16,
            "i32" => ParamType::I32,
            "i64" => ParamType::I64,
            "uuid" => ParamType::Uuid,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Str => "str",
            ParamType::U8 => "u8",
            ParamType::U16 => "u16",
            ParamType::U32 => "u32",
            ParamType::U64 => "u64",
            ParamType::Usize => "usize",
            ParamType::I8 => "i8",
            ParamType::I16 => "i16",
            ParamType::I32 => "i32",
            ParamType::I64 => "i64",
            ParamType::Uuid => "uuid",
        }
    }
}

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text (possibly empty, for a trailing slash or the root `/`).
    Static(String),
    /// `{name}` or `{name:type}`: one whole non-empty segment.
    Param {
        /// The parameter's name.
        name: String,
        /// Its type.
        ty: ParamType,
    },
    /// `{*name}`: the rest of the path, slashes included (may be empty); always last.
    CatchAll {
        /// The parameter's name.
        name: String,
    },
}

/// A path syntax error: what is wrong and the byte range within the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// What is wrong.
    pub message: String,
    /// Where, as a byte range of the path string.
    pub range: std::ops::Range<usize>,
    /// A suggestion.
    pub help: Option<String>,
}

fn err(message: impl Into<String>, range: std::ops::Range<usize>) -> PathError {
    PathError {
        message: message.into(),
        range,
        help: None,
    }
}

/// Parses a route path into segments.
pub fn parse_path(path: &str) -> Result<Vec<Segment>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError {
            message: format!("route path `{path}` must start with `/`"),
            range: 0..path.len().min(1),
            help: Some(format!("write `/{path}`")),
        });
    }
    let mut segments = Vec::new();
    let mut offset = 1;
    let parts: Vec<&str> = path[1..].split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let range = offset..offset + part.len();
        offset += part.len() + 1;
        let last = i + 1 == parts.len();
        if let Some(inner) = part.strip_prefix('{') {
            let Some(inner) = inner.strip_suffix('}') else {
                return Err(err(
                    format!(
                        "unclosed parameter `{part}`: a parameter is a whole segment like `{{name}}`"
                    ),
                    range,
                ));
            };
            if let Some(name) = inner.strip_prefix('*') {
                check_name(name, &range)?;
                if !last {
                    return Err(err(
                        format!("catch-all `{{*{name}}}` must be the last segment"),
                        range,
                    ));
                }
                segments.push(Segment::CatchAll {
                    name: name.to_owned(),
                });
                continue;
            }
            let (name, ty) = match inner.split_once(':') {
                Some((n, t)) => (n, Some(t)),
                None => (inner, None),
            };
            check_name(name, &range)?;
            let ty = match ty {
                None => ParamType::Str,
                Some(t) => ParamType::from_name(t).ok_or_else(|| PathError {
                    message: format!("unknown parameter type `{t}`"),
                    range: range.clone(),
                    help: Some(match crate::diag::did_you_mean(t, PARAM_TYPES) {
                        Some(s) => {
                            format!("did you mean `{s}`? (types: {})", PARAM_TYPES.join(", "))
                        }
                        None => format!("the types are: {}", PARAM_TYPES.join(", ")),
                    }),
                })?,
            };
            segments.push(Segment::Param {
                name: name.to_owned(),
                ty,
            });
        } else {
            if part.contains('{') || part.contains('}') {
                return Err(err(
                    format!("`{part}`: a parameter must be a whole segment, like `/{{name}}`"),
                    range,
                ));
            }
            if let Some(bad) = part.chars().find(|c| !is_path_char(*c)) {
                return Err(err(
                    format!(
                        "character `{}` is not allowed in a route path (percent-encode it)",
                        bad.escape_default()
                    ),
                    range,
                ));
            }
            segments.push(Segment::Static(part.to_string()));
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for s in &segments {
        if let Segment::Param { name, .. } | Segment::CatchAll { name } = s {
            if names.contains(&name.as_str()) {
                return Err(err(
                    format!("parameter `{name}` appears twice in `{path}`"),
                    0..path.len(),
                ));
            }
            names.push(name);
        }
    }
    Ok(segments)
}

/// RFC 3986 `pchar` minus `%` handling: unreserved, sub-delims, `:` and `@`, and `%`.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@%".contains(c)
}

fn check_name(name: &str, range: &std::ops::Range<usize>) -> Result<(), PathError> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid && !is_keyword(name) {
        Ok(())
    } else {
        Err(err(
            format!(
                "parameter name `{name}` must be a Rust identifier (letters, digits, `_`) and not a keyword"
            ),
            range.clone(),
        ))
    }
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "as" | "async"
            | "await"
            | "break"
            | "const"
            | "continue"
            | "crate"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "self"
            | "Self"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "_"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Segment {
        Segment::Static(x.into())
    }
    fn p(n: &str, ty: ParamType) -> Segment {
        Segment::Param { name: n.into(), ty }
    }

    #[test]
    fn valid_paths() {
        assert_eq!(parse_path("/").unwrap(), vec![s("")]);
        assert_eq!(parse_path("/a/b/").unwrap(), vec![s("a"), s("b"), s("")]);
        assert_eq!(
            parse_path("/u/{id:u64}/{name}").unwrap(),
            vec![s("u"), p("id", ParamType::U64), p("name", ParamType::Str)]
        );
        assert_eq!(
            parse_path("/f/{*rest}").unwrap(),
            vec![
                s("f"),
                Segment::CatchAll {
                    name: "rest".into()
                }
            ]
        );
    }

    #[test]
    fn invalid_paths() {
        let cases = [
            ("nope", "must start with `/`"),
            ("/a/{id", "unclosed parameter"),
            ("/a/x{id}", "whole segment"),
            ("/a/{*r}/b", "must be the last segment"),
            ("/a/{id:float}", "unknown parameter type `float`"),
            ("/a/{1x}", "Rust identifier"),
            ("/a/{fn}", "Rust identifier"),
            ("/a/{x}/{x}", "appears twice"),
            ("/a b", "not allowed"),
        ];
        for (path, want) in cases {
            let e = parse_path(path).unwrap_err();
            assert!(e.message.contains(want), "{path}: {}", e.message);
        }
    }
}
