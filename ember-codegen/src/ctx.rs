//! The context every stage after parsing shares: the spec's files (for diagnostics), the
//! errors found so far, the environment (`${VAR}` interpolation) and the loader of
//! included files. It knows nothing of spec sections, plans or generated code.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, SourceFile, offset_of};
use crate::units::interpolate;

/// Reads an included file.
pub(crate) type Loader<'a> = dyn FnMut(&Path) -> std::io::Result<String> + 'a;
/// Reads an environment variable.
pub(crate) type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Byte range of a spanned value in `source` (empty at the start when unknown).
pub(crate) fn span_of<T>(source: &str, s: &Spanned<T>) -> Range<usize> {
    let sp = s.referenced.span();
    match (sp.byte_offset(), sp.byte_len()) {
        (Some(o), Some(l)) => o as usize..(o + l.max(1)) as usize,
        _ => {
            let line = s.referenced.line() as usize;
            let col = s.referenced.column() as usize;
            if line == 0 {
                return 0..0;
            }
            let o = offset_of(source, line, col);
            o..o + 1
        }
    }
}

/// The shared context: the spec's files, the diagnostics found so far, the environment and
/// the loader of included files.
pub(crate) struct Ctx<'a, 'l> {
    /// Every spec file read, the root first (diagnostics point into them).
    pub(crate) files: Vec<SourceFile>,
    /// Their paths (to resolve relative includes and refuse repeats).
    pub(crate) paths: Vec<PathBuf>,
    /// Errors found so far.
    pub(crate) errors: Vec<Diagnostic>,
    env: &'a Env<'a>,
    /// Every environment variable read.
    pub(crate) env_read: Vec<String>,
    /// Reads an included file.
    pub(crate) load: &'a mut Loader<'l>,
    /// scale (issue 18): the top-level `redis:`, which Redis-backed features without their
    /// own `url` use (checked before them).
    pub(crate) redis: Option<TopRedis>,
}

impl<'a, 'l> Ctx<'a, 'l> {
    /// A context for the root file `name` holding `source`.
    pub(crate) fn new(
        name: &str,
        source: String,
        load: &'a mut Loader<'l>,
        env: &'a Env<'a>,
    ) -> Self {
        Ctx {
            files: vec![SourceFile {
                name: name.to_owned(),
                source,
            }],
            paths: vec![PathBuf::from(name)],
            errors: Vec::new(),
            env,
            env_read: Vec::new(),
            load,
            redis: None,
        }
    }
}

impl Ctx<'_, '_> {
    /// The source text of file `f`.
    pub(crate) fn source(&self, f: usize) -> &str {
        &self.files[f].source
    }

    pub(crate) fn span<T>(&self, f: usize, s: &Spanned<T>) -> Range<usize> {
        span_of(self.source(f), s)
    }

    pub(crate) fn error(&mut self, f: usize, d: Diagnostic) {
        self.errors.push(d.in_file(f));
    }

    /// The span of the key `name` whose value is `value` (the key stands before its value).
    pub(crate) fn key_span<T>(&self, f: usize, value: &Spanned<T>, name: &str) -> Range<usize> {
        let source = self.source(f);
        let end = self.span(f, value).start;
        let before = &source[..end.min(source.len())];
        let mut search = before.len();
        while let Some(i) = before[..search].rfind(name) {
            let after = before[i + name.len()..].trim_start_matches([' ', '\t', '"', '\'']);
            let starts_word = i == 0 || !before.as_bytes()[i - 1].is_ascii_alphanumeric();
            if starts_word && after.starts_with(':') {
                return i..i + name.len();
            }
            search = i;
        }
        self.span(f, value)
    }

    /// Where a scalar's text starts (inside quotes, if it is quoted).
    pub(crate) fn text_start<T>(&self, f: usize, s: &Spanned<T>) -> usize {
        let start = self.span(f, s).start;
        match self.source(f).as_bytes().get(start) {
            Some(b'"') | Some(b'\'') => start + 1,
            _ => start,
        }
    }

    /// A string value with `${ENV}` interpolated; an error is reported at its place.
    pub(crate) fn text<T: AsRef<str>>(&mut self, f: usize, s: &Spanned<T>) -> Option<String> {
        self.interp(f, s, s.value.as_ref())
    }

    /// A scalar value (any YAML scalar, as text) with `${ENV}` interpolated.
    pub(crate) fn scalar<T: AsRef<str>>(&mut self, f: usize, s: &Spanned<T>) -> Option<String> {
        self.text(f, s)
    }

    pub(crate) fn interp<T>(&mut self, f: usize, at: &Spanned<T>, text: &str) -> Option<String> {
        let env = self.env;
        match interpolate(text, env, &mut self.env_read) {
            Ok(v) => Some(v),
            Err(e) => {
                let start = self.text_start(f, at);
                let d = Diagnostic::new(e.message)
                    .at(start + e.range.start..start + e.range.end, "here")
                    .help("set the variable, or give a default: `${NAME:-default}`");
                self.error(f, d);
                None
            }
        }
    }
}

/// A checked top-level `redis:` (scale, issue 18), which the rules of Redis-backed
/// features read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopRedis {
    /// The registry target as written (`${VAR}` read again at start-up): a URL, or
    /// `cluster:` and the seed nodes separated by commas.
    pub(crate) template: String,
    /// Its value at build time.
    pub(crate) value: String,
    pub(crate) timeout: std::time::Duration,
    pub(crate) pool_size: u64,
    pub(crate) required: bool,
}
