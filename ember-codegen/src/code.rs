//! A writer of Rust source text: lines at an indentation, blocks, and literals.
//!
//! The generator writes formatted source directly (as prost-build does) instead of building
//! token trees and pretty-printing them: a 300-route spec is generated in a few
//! milliseconds, and the build script needs no `syn`. Whether the text is valid Rust is
//! pinned down by the tests (every reference spec's output is parsed, and the router's is
//! compiled and run).

use std::fmt::{self, Write as _};

/// Rust source being written: whole lines, each at the current indentation (4 spaces a
/// level).
#[derive(Debug, Default)]
pub(crate) struct Code {
    out: String,
    depth: usize,
}

impl Code {
    /// An empty file.
    pub(crate) fn new() -> Code {
        Code {
            out: String::with_capacity(64 * 1024),
            depth: 0,
        }
    }

    /// Writes one line at the current indentation.
    pub(crate) fn line(&mut self, args: fmt::Arguments<'_>) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        match args.as_str() {
            Some(s) => self.out.push_str(s),
            None => {
                let _ = self.out.write_fmt(args);
            }
        }
        self.out.push('\n');
    }

    /// Writes a line that opens a block (it ends in `{`, `(` or `[`), then indents.
    pub(crate) fn open(&mut self, args: fmt::Arguments<'_>) {
        self.line(args);
        self.depth += 1;
    }

    /// Un-indents, then writes the line that closes a block.
    pub(crate) fn close(&mut self, args: fmt::Arguments<'_>) {
        self.depth = self.depth.saturating_sub(1);
        self.line(args);
    }

    /// Writes a method chain: `head`, then each call (`.name(…)`) on its own line one level
    /// deeper, with `end` (`;`, `,` or nothing) after the last.
    pub(crate) fn chain(&mut self, head: &str, calls: &[String], end: &str) {
        match calls.split_last() {
            None => self.line(format_args!("{head}{end}")),
            Some((last, init)) => {
                self.line(format_args!("{head}"));
                self.depth += 1;
                for call in init {
                    self.line(format_args!("{call}"));
                }
                self.line(format_args!("{last}{end}"));
                self.depth -= 1;
            }
        }
    }

    /// Indents the lines written by `f` one level more.
    pub(crate) fn indented(&mut self, f: impl FnOnce(&mut Code)) {
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    /// An empty line between items (never two, never right after an opening line).
    pub(crate) fn blank(&mut self) {
        if !(self.out.is_empty()
            || self.out.ends_with("\n\n")
            || self.out.ends_with("{\n")
            || self.out.ends_with("[\n")
            || self.out.ends_with("(\n"))
        {
            self.out.push('\n');
        }
    }

    /// Writes a block of lines given as one text (a template with no placeholders): its
    /// common indentation is replaced by the current one, and surrounding empty lines are
    /// dropped.
    pub(crate) fn text(&mut self, block: &str) {
        let lines: Vec<&str> = block.lines().collect();
        let start = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(0);
        let end = lines
            .iter()
            .rposition(|l| !l.trim().is_empty())
            .map_or(0, |i| i + 1);
        let lines = &lines[start..end.max(start)];
        let common = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        for l in lines {
            if l.trim().is_empty() {
                self.out.push('\n');
            } else {
                self.line(format_args!("{}", &l[common..]));
            }
        }
    }

    /// Writes a source file of `src/snippets/` (Rust that is compiled into the generator
    /// too), without its leading `//` comment.
    #[cfg(test)]
    pub(crate) fn snippet(&mut self, file: &str) {
        let mut rest = file;
        while let Some(line) = rest.lines().next() {
            let t = line.trim_start();
            if !(t.is_empty() || (t.starts_with("//") && !t.starts_with("///"))) {
                break;
            }
            rest = rest.get(line.len() + 1..).unwrap_or("");
        }
        self.text(rest);
    }

    /// The source written so far.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Writes one line: `w!(code, "let {x} = 1;")`.
macro_rules! w {
    ($code:expr, $($arg:tt)*) => {
        $code.line(format_args!($($arg)*))
    };
}

/// Writes a line that opens a block, then indents: `open!(code, "fn f() {{")`.
macro_rules! open {
    ($code:expr, $($arg:tt)*) => {
        $code.open(format_args!($($arg)*))
    };
}

/// Un-indents, then writes the closing line: `close!(code, "}}")`.
macro_rules! close {
    ($code:expr, $($arg:tt)*) => {
        $code.close(format_args!($($arg)*))
    };
}

pub(crate) use {close, open, w};

/// A Rust string literal of `s` (`Display`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Str<'a>(pub(crate) &'a str);

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Debug` of a `str` is a valid Rust string literal: quotes, backslashes and
        // control characters are escaped, `\u{…}` for the rest.
        write!(f, "{:?}", self.0)
    }
}

/// A Rust byte-string literal of `b` (`Display`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByteStr<'a>(pub(crate) &'a [u8]);

impl fmt::Display for ByteStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &b in self.0 {
            match b {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => f.write_char(char::from(b))?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_char('"')
    }
}

/// A Rust byte literal of `b` (`Display`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Byte(pub(crate) u8);

impl fmt::Display for Byte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'\'' => f.write_str("b'\\''"),
            b'\\' => f.write_str("b'\\\\'"),
            b @ 0x20..=0x7e => write!(f, "b'{}'", char::from(b)),
            b => write!(f, "b'\\x{b:02x}'"),
        }
    }
}

/// `Some(literal)` or `None` for an optional string (`Display`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OptStr<'a>(pub(crate) Option<&'a str>);

impl fmt::Display for OptStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "Some({})", Str(s)),
            None => f.write_str("None"),
        }
    }
}

/// A list of string literals, comma-separated (`Display`), for `&[…]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StrList<'a>(pub(crate) &'a [String]);

impl fmt::Display for StrList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            Str(s).fmt(f)?;
        }
        Ok(())
    }
}

/// `::core::time::Duration::from_millis(ms)` for a duration (`Display`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Millis(pub(crate) std::time::Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "::core::time::Duration::from_millis({})",
            self.0.as_millis() as u64
        )
    }
}

/// Text for a `///` doc comment: one line, whatever the spec put in it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Doc<'a>(pub(crate) &'a str);

impl fmt::Display for Doc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            f.write_char(if c.is_control() { ' ' } else { c })?;
        }
        Ok(())
    }
}

/// Whether `s` is a Rust path to an item: `a::b::c`, optionally starting with `::`, each
/// segment an identifier (raw `r#…` allowed) or `crate`, `self`, `super`, `Self`.
pub(crate) fn is_path(s: &str) -> bool {
    let s = s.strip_prefix("::").unwrap_or(s);
    !s.is_empty() && s.split("::").enumerate().all(|(i, seg)| is_segment(seg, i))
}

/// One segment of [`is_path`] at position `i`.
fn is_segment(seg: &str, i: usize) -> bool {
    if let Some(raw) = seg.strip_prefix("r#") {
        return is_ident_text(raw) && !matches!(raw, "crate" | "self" | "super" | "Self" | "_");
    }
    match seg {
        "crate" => i == 0,
        "self" | "super" | "Self" => true,
        _ => is_ident_text(seg) && !KEYWORDS.contains(&seg),
    }
}

/// Identifier syntax (letters, digits and `_`, not starting with a digit; `_` alone is not
/// one).
fn is_ident_text(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && s != "_"
}

/// Rust's strict and reserved keywords (2024 edition), which are not identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_indent_and_templates_reindent() {
        let mut c = Code::new();
        open!(c, "fn f() {{");
        w!(c, "let x = {};", 1);
        c.blank();
        c.text(
            "
                if x == 1 {
                    return;
                }
            ",
        );
        close!(c, "}}");
        assert_eq!(
            c.finish(),
            "fn f() {\n    let x = 1;\n\n    if x == 1 {\n        return;\n    }\n}\n"
        );
    }

    #[test]
    fn literals_are_escaped() {
        assert_eq!(Str("a\"b\\c\n").to_string(), r#""a\"b\\c\n""#);
        assert_eq!(ByteStr(b"/a\"\\\xff").to_string(), r#"b"/a\"\\\xff""#);
        assert_eq!(Byte(b'a').to_string(), "b'a'");
        assert_eq!(Byte(b'\'').to_string(), r"b'\''");
        assert_eq!(Byte(0xc3).to_string(), r"b'\xc3'");
        assert_eq!(OptStr(None).to_string(), "None");
        assert_eq!(
            StrList(&["a".to_owned(), "b".to_owned()]).to_string(),
            r#""a", "b""#
        );
        assert_eq!(Doc("a\nb").to_string(), "a b");
    }

    #[test]
    fn paths() {
        for ok in [
            "crate::handlers::hello",
            "::my_crate::f",
            "h",
            "users::show",
            "self::x",
            "super::x",
            "r#type::f",
            "ünï::cødé",
        ] {
            assert!(is_path(ok), "{ok}");
        }
        for bad in [
            "", "::", "a::", "::a::", "a:::b", "1a", "a-b", "a b", "fn", "a::type", "x::crate",
            "_", "a::<T>", "r#crate",
        ] {
            assert!(!is_path(bad), "{bad}");
        }
    }
}
