//! Spanned diagnostics: errors that point at `ember.yaml`, rendered like rustc's.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// A labelled region of the spec source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Byte range in the source.
    pub span: Range<usize>,
    /// What this region has to do with the error.
    pub text: String,
}

/// One error in a spec, with the place it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Which file of the [`Diagnostics`] the spans refer to (0: the root spec).
    pub file: usize,
    /// The headline.
    pub message: String,
    /// The main location, if known.
    pub primary: Option<Label>,
    /// Other locations involved (the other side of a conflict).
    pub secondary: Vec<Label>,
    /// A suggestion for the fix.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with a message and no location yet.
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            file: 0,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
        }
    }

    /// Says which file the spans refer to.
    pub fn in_file(mut self, file: usize) -> Self {
        self.file = file;
        self
    }

    /// Points the error at `span`.
    pub fn at(mut self, span: Range<usize>, text: impl Into<String>) -> Self {
        self.primary = Some(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Adds a second location.
    pub fn also(mut self, span: Range<usize>, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Adds a suggestion.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A spec source file: its name (as shown in diagnostics) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The name diagnostics show (`ember.yaml`, `routes/admin.yaml`).
    pub name: String,
    /// The file's text.
    pub source: String,
}

/// All the errors found in a spec and the files it includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    files: Vec<SourceFile>,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(files: Vec<SourceFile>, items: Vec<Diagnostic>) -> Self {
        Diagnostics { files, items }
    }

    /// The individual errors.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    fn file(&self, d: &Diagnostic) -> (&str, &str) {
        match self.files.get(d.file) {
            Some(f) => (f.name.as_str(), f.source.as_str()),
            None => ("<spec>", ""),
        }
    }

    /// `FILE:LINE:COL` of each error's primary location (1-based), for tools and tests.
    pub fn locations(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|d| {
                let (name, source) = self.file(d);
                match &d.primary {
                    Some(l) => {
                        let (line, col) = line_col(source, l.span.start);
                        format!("{name}:{line}:{col}")
                    }
                    None => name.to_owned(),
                }
            })
            .collect()
    }

    /// Renders every error, in colour when `color` is set.
    pub fn render(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut out = String::new();
        for (d, loc) in self.items.iter().zip(self.locations()) {
            let (name, source) = self.file(d);
            let title = format!("{loc}: {}", d.message);
            let mut group = Group::with_title(Level::ERROR.primary_title(title.as_str()));
            if d.primary.is_some() || !d.secondary.is_empty() {
                let mut snippet = Snippet::source(source).path(name);
                if let Some(p) = &d.primary {
                    snippet = snippet.annotation(
                        AnnotationKind::Primary
                            .span(clamp(source, &p.span))
                            .label(p.text.as_str()),
                    );
                }
                for s in &d.secondary {
                    snippet = snippet.annotation(
                        AnnotationKind::Context
                            .span(clamp(source, &s.span))
                            .label(s.text.as_str()),
                    );
                }
                group = group.element(snippet);
            }
            let report: Vec<Group<'_>> = match &d.help {
                Some(h) => vec![
                    group,
                    Group::with_title(Level::HELP.secondary_title(h.as_str())),
                ],
                None => vec![group],
            };
            out.push_str(&renderer.render(&report));
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

/// Keeps a span inside the source and on character boundaries.
fn clamp(source: &str, span: &Range<usize>) -> Range<usize> {
    let mut start = span.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, source.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..clamp(source, &(offset..offset)).start];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Byte offset of a 1-based line and column.
pub(crate) fn offset_of(source: &str, line: usize, col: usize) -> usize {
    let mut off = 0;
    for (i, l) in source.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return off
                + l.char_indices()
                    .nth(col.saturating_sub(1))
                    .map(|(b, _)| b)
                    .unwrap_or(l.len());
        }
        off += l.len();
    }
    source.len()
}

/// The closest of `candidates` to `word`, if it is close enough to suggest.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if word.len() >= 3
        && let Some(c) = candidates
            .iter()
            .find(|c| c.starts_with(word) && c.len() > word.len())
    {
        return Some(c);
    }
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(3) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let src = "a: 1\nbb: 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 5), (2, 1));
        assert_eq!(line_col(src, 9), (2, 5));
        assert_eq!(offset_of(src, 2, 5), 9);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("routse", &["routes", "server", "app"]),
            Some("routes")
        );
        assert_eq!(did_you_mean("zzz", &["routes", "server"]), None);
    }
}
