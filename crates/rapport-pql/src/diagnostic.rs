//! Located error messages and their plain-text rendering.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::span::Span;

/// A located error in a PQL text: what went wrong, where, and (when obvious) how to fix it.
///
/// Diagnostics are data: the API returns them as JSON, the CLI renders them with [`Diagnostic::render`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    /// The offending bytes of the query text (empty for "end of input").
    pub span: Span,
    /// Lowercase message naming the failing input.
    pub message: String,
    /// A suggestion such as "PQL compares with a single `=`".
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without a hint.
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Self { span, message: message.into(), hint: None }
    }

    /// The same diagnostic with `hint` attached.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The 1-based line and column (in characters) where the span starts in `source`.
    ///
    /// Offsets past the end of `source` are clamped to its end.
    pub fn location(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start)
    }

    /// Renders the diagnostic with the offending line and a caret underline, e.g.
    ///
    /// ```text
    /// error: expected `)` but found end of input
    ///  --> 1:38
    ///   |
    /// 1 | exists A from accounts where (A.x = 1
    ///   |                                      ^
    /// ```
    ///
    /// `source` must be the text the diagnostic was produced from; other text gives a best-effort rendering.
    pub fn render(&self, source: &str) -> String {
        let start = clamp_to_boundary(source, self.span.start);
        let (line_no, col) = line_col(source, start);
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[line_start..].find('\n').map_or(source.len(), |i| line_start + i);
        let line = source[line_start..line_end].trim_end_matches('\r');

        // Underline from the start to the span's end, cut at the end of the line; at least one caret.
        let end = clamp_to_boundary(source, self.span.end.max(start)).min(line_start + line.len()).max(start);
        let width = source[start..end].chars().count().max(1);
        let pad: String = line.chars().take(col - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect::<String>();

        let gutter = " ".repeat(line_no.to_string().len());
        let mut out = format!("error: {}\n{gutter}--> {line_no}:{col}\n{gutter} |\n", self.message);
        out.push_str(&format!("{line_no} | {line}\n"));
        out.push_str(&format!("{gutter} | {pad}{}\n", "^".repeat(width)));
        if let Some(hint) = &self.hint {
            out.push_str(&format!("{gutter} = hint: {hint}\n"));
        }
        out
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// 1-based line and character column of byte `offset` in `source`.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = clamp_to_boundary(source, offset);
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// `offset` clamped to `source.len()` and moved back onto a `char` boundary.
fn clamp_to_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_the_span() {
        let source = "a = 1 and\nb == 2";
        let diag = Diagnostic::new(Span::new(12, 14), "unknown operator `==`").with_hint("use `=`");
        assert_eq!(
            diag.render(source),
            "error: unknown operator `==`\n --> 2:3\n  |\n2 | b == 2\n  |   ^^\n  = hint: use `=`\n"
        );
    }

    #[test]
    fn renders_end_of_input_after_the_last_char() {
        let source = "(a = 1";
        let diag = Diagnostic::new(Span::point(6), "expected `)` but found end of input");
        assert_eq!(
            diag.render(source),
            "error: expected `)` but found end of input\n --> 1:7\n  |\n1 | (a = 1\n  |       ^\n"
        );
    }

    #[test]
    fn clamps_out_of_range_spans() {
        let diag = Diagnostic::new(Span::new(40, 50), "x");
        assert_eq!(diag.location("héllo"), (1, 6));
        assert!(diag.render("héllo").contains("1 | héllo"));
    }
}
