//! Tokens of the Data Prep expression language, each with its byte span in the expression text.

use super::{ParseError, Span};

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A plain identifier (`firstName`, `_id`, `$x`).
    Ident(String),
    /// `${...}` with its escapes resolved (`${a\.b}` → `a.b`).
    Escaped(String),
    /// A quoted string, escapes resolved.
    Str(String),
    /// A number literal as written.
    Num(String),
    True,
    False,
    Null,
    LParen,
    RParen,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Not,
    Minus,
    End,
}

impl Tok {
    /// How the token is named in "expected ..., found ..." messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Escaped(name) => format!("`${{{name}}}`"),
            Tok::Str(text) => format!("string {text:?}"),
            Tok::Num(text) => format!("number {text}"),
            Tok::True => "`true`".into(),
            Tok::False => "`false`".into(),
            Tok::Null => "`null`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Dot => "`.`".into(),
            Tok::Eq => "`==`".into(),
            Tok::Ne => "`!=`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Le => "`<=`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Ge => "`>=`".into(),
            Tok::And => "`&&`".into(),
            Tok::Or => "`||`".into(),
            Tok::Not => "`!`".into(),
            Tok::Minus => "`-`".into(),
            Tok::End => "the end of the expression".into(),
        }
    }
}

/// Splits `text` into tokens; the last one is [`Tok::End`].
pub(crate) fn lex(text: &str) -> Result<Vec<(Tok, Span)>, ParseError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let c = bytes[pos];
        if c.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let two = |second: u8| bytes.get(pos + 1) == Some(&second);
        let (tok, len) = match c {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b',' => (Tok::Comma, 1),
            b'.' if !bytes.get(pos + 1).is_some_and(u8::is_ascii_digit) => (Tok::Dot, 1),
            b'=' if two(b'=') => (Tok::Eq, 2),
            b'!' if two(b'=') => (Tok::Ne, 2),
            b'!' => (Tok::Not, 1),
            b'<' if two(b'=') => (Tok::Le, 2),
            b'<' => (Tok::Lt, 1),
            b'>' if two(b'=') => (Tok::Ge, 2),
            b'>' => (Tok::Gt, 1),
            b'&' if two(b'&') => (Tok::And, 2),
            b'|' if two(b'|') => (Tok::Or, 2),
            b'-' => (Tok::Minus, 1),
            b'"' | b'\'' => {
                let (value, end) = string(text, pos)?;
                out.push((Tok::Str(value), Span::new(start, end)));
                pos = end;
                continue;
            }
            b'$' if two(b'{') => {
                let (name, end) = escaped(text, pos)?;
                out.push((Tok::Escaped(name), Span::new(start, end)));
                pos = end;
                continue;
            }
            b'0'..=b'9' | b'.' => {
                let mut end = pos;
                let mut dot = false;
                while end < bytes.len() && (bytes[end].is_ascii_digit() || (bytes[end] == b'.' && !dot)) {
                    dot |= bytes[end] == b'.';
                    end += 1;
                }
                out.push((Tok::Num(text[pos..end].to_owned()), Span::new(start, end)));
                pos = end;
                continue;
            }
            _ if is_ident_start(c) => {
                let mut end = pos;
                while end < bytes.len() && (is_ident_start(bytes[end]) || bytes[end].is_ascii_digit()) {
                    end += 1;
                }
                let word = &text[pos..end];
                let tok = match word {
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "null" => Tok::Null,
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "eq" => Tok::Eq,
                    "ne" => Tok::Ne,
                    "lt" => Tok::Lt,
                    "le" => Tok::Le,
                    "gt" => Tok::Gt,
                    "ge" => Tok::Ge,
                    _ => Tok::Ident(word.to_owned()),
                };
                out.push((tok, Span::new(start, end)));
                pos = end;
                continue;
            }
            _ => {
                let ch = text[pos..].chars().next().unwrap_or('?');
                let hint = match c {
                    b'=' => " (compare with `==`)",
                    b'&' => " (use `&&`)",
                    b'|' => " (use `||`)",
                    _ => "",
                };
                return Err(ParseError::new(Span::new(pos, pos + ch.len_utf8()), format!("unexpected `{ch}`{hint}")));
            }
        };
        out.push((tok, Span::new(start, start + len)));
        pos += len;
    }
    out.push((Tok::End, Span::new(text.len(), text.len())));
    Ok(out)
}

/// Identifiers start with a letter, `_` or `$` (Data Prep field names); non-ASCII letters are allowed.
fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80
}

/// A quoted string starting at `start`; returns its value and the offset after the closing quote.
fn string(text: &str, start: usize) -> Result<(String, usize), ParseError> {
    let quote = text.as_bytes()[start] as char;
    let mut value = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        let at = start + 1 + i;
        match c {
            _ if c == quote => return Ok((value, at + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, other)) => value.push(other),
                None => break,
            },
            _ => value.push(c),
        }
    }
    Err(ParseError::new(Span::new(start, text.len()), format!("unterminated string (no closing {quote})")))
}

/// `${name}` starting at `start`: `\.`, `\}` and `\\` are literal characters.
fn escaped(text: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut name = String::new();
    let mut chars = text[start + 2..].char_indices();
    while let Some((i, c)) = chars.next() {
        let at = start + 2 + i;
        match c {
            '}' => {
                if name.is_empty() {
                    return Err(ParseError::new(Span::new(start, at + 1), "`${}` names no field"));
                }
                return Ok((name, at + 1));
            }
            '\\' => match chars.next() {
                Some((_, other)) => name.push(other),
                None => break,
            },
            _ => name.push(c),
        }
    }
    Err(ParseError::new(Span::new(start, text.len()), "unterminated `${` (no closing `}`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        lex(text).unwrap().into_iter().map(|(tok, _)| tok).collect()
    }

    #[test]
    fn tokens_with_spans_and_escapes() {
        let tokens = lex(r#"concat(a.b, "x\"y", ${sfdc\.id}) >= 1.5"#).unwrap();
        let spans: Vec<(usize, usize)> = tokens.iter().map(|(_, s)| (s.start, s.end)).collect();
        assert_eq!(
            tokens.into_iter().map(|(t, _)| t).collect::<Vec<_>>(),
            vec![
                Tok::Ident("concat".into()),
                Tok::LParen,
                Tok::Ident("a".into()),
                Tok::Dot,
                Tok::Ident("b".into()),
                Tok::Comma,
                Tok::Str("x\"y".into()),
                Tok::Comma,
                Tok::Escaped("sfdc.id".into()),
                Tok::RParen,
                Tok::Ge,
                Tok::Num("1.5".into()),
                Tok::End,
            ]
        );
        assert_eq!(spans[6], (12, 18));
        assert_eq!(spans[8], (20, 31));
    }

    #[test]
    fn word_operators_and_single_quotes() {
        assert_eq!(
            kinds("a eq 'x' and not b"),
            vec![
                Tok::Ident("a".into()),
                Tok::Eq,
                Tok::Str("x".into()),
                Tok::And,
                Tok::Not,
                Tok::Ident("b".into()),
                Tok::End
            ]
        );
    }

    #[test]
    fn lexical_errors_carry_spans() {
        let err = lex("a = b").unwrap_err();
        assert_eq!((err.span.start, err.span.end), (2, 3));
        assert_eq!(err.message, "unexpected `=` (compare with `==`)");
        let err = lex("concat('abc").unwrap_err();
        assert_eq!((err.span.start, err.span.end), (7, 11));
        let err = lex("${a.b").unwrap_err();
        assert_eq!(err.message, "unterminated `${` (no closing `}`)");
    }
}
