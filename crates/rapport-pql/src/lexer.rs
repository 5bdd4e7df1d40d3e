//! Turns PQL text into tokens with byte spans.
//!
//! Keywords are not distinguished here: every word is a [`Tok::Ident`] and the parser decides, by
//! position, whether `from`, `last` or `in` is a keyword or a field name. Numbers are unsigned; the
//! parser folds a leading `-` into the literal.

use std::fmt;

use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// One token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A word: keyword, field name, variable, function or unit.
    Ident(String),
    /// An unsigned integer literal.
    Int(u64),
    /// An unsigned decimal literal (`3.14`, `1e-3`).
    Double(f64),
    /// A string literal with escapes resolved.
    Str(String),
    /// `$1`, `$2`, ...
    Param(u32),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Colon,
    Caret,
    /// `=>`
    Arrow,
    Eq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    Eof,
}

impl Tok {
    /// True for the word `word`.
    pub(crate) fn is_word(&self, word: &str) -> bool {
        matches!(self, Tok::Ident(w) if w == word)
    }
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sym = match self {
            Tok::Ident(w) => return write!(f, "`{w}`"),
            Tok::Int(n) => return write!(f, "number `{n}`"),
            Tok::Double(n) => return write!(f, "number `{n:?}`"),
            Tok::Str(s) => return write!(f, "string {}", crate::printer::quote(s)),
            Tok::Param(n) => return write!(f, "`${n}`"),
            Tok::Eof => return f.write_str("end of input"),
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::Colon => ":",
            Tok::Caret => "^",
            Tok::Arrow => "=>",
            Tok::Eq => "=",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Bang => "!",
        };
        write!(f, "`{sym}`")
    }
}

/// A token and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) span: Span,
}

/// Splits `text` into tokens, ending with one [`Tok::Eof`] whose span is the end of the text.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, Diagnostic> {
    let mut lexer = Lexer { text, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.kind == Tok::Eof;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn next_token(&mut self) -> Result<Token, Diagnostic> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(Token { kind: Tok::Eof, span: Span::point(start) });
        };
        let kind = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            ':' => Tok::Colon,
            '^' => Tok::Caret,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '%' => Tok::Percent,
            '=' => match self.peek() {
                Some('=') => {
                    self.bump();
                    return Err(Diagnostic::new(self.span_from(start), "unknown operator `==`")
                        .with_hint("PQL compares with a single `=`"));
                }
                Some('>') => {
                    self.bump();
                    Tok::Arrow
                }
                _ => Tok::Eq,
            },
            '!' => self.one_or_two('=', Tok::NotEq, Tok::Bang),
            '>' => self.one_or_two('=', Tok::Ge, Tok::Gt),
            '<' => match self.peek() {
                Some('=') => {
                    self.bump();
                    Tok::Le
                }
                Some('>') => {
                    self.bump();
                    return Err(Diagnostic::new(self.span_from(start), "unknown operator `<>`")
                        .with_hint("PQL writes \"not equal\" as `!=`"));
                }
                _ => Tok::Lt,
            },
            '&' | '|' if self.peek() == Some(c) => {
                self.bump();
                let (op, word) = if c == '&' { ("&&", "and") } else { ("||", "or") };
                return Err(Diagnostic::new(self.span_from(start), format!("unknown operator `{op}`"))
                    .with_hint(format!("use `{word}`")));
            }
            '"' => self.string(start)?,
            '$' => self.param(start)?,
            '\'' => {
                return Err(Diagnostic::new(self.span_from(start), "unknown character `'`")
                    .with_hint("PQL strings use double quotes: \"text\""));
            }
            c if c.is_ascii_digit() => self.number(start)?,
            c if c.is_alphabetic() || c == '_' => {
                while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    self.bump();
                }
                Tok::Ident(self.text[start..self.pos].to_owned())
            }
            other => {
                return Err(Diagnostic::new(self.span_from(start), format!("unknown character `{other}`")));
            }
        };
        Ok(Token { kind, span: self.span_from(start) })
    }

    fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.pos)
    }

    fn one_or_two(&mut self, second: char, two: Tok, one: Tok) -> Tok {
        if self.peek() == Some(second) {
            self.bump();
            two
        } else {
            one
        }
    }

    fn number(&mut self, start: usize) -> Result<Tok, Diagnostic> {
        self.digits();
        let mut is_double = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.digits();
            is_double = true;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let signed = matches!(self.peek_at(1), Some('+' | '-'));
            let first_digit = if signed { 2 } else { 1 };
            if self.peek_at(first_digit).is_some_and(|c| c.is_ascii_digit()) {
                for _ in 0..first_digit {
                    self.bump();
                }
                self.digits();
                is_double = true;
            }
        }
        let text = &self.text[start..self.pos];
        let span = self.span_from(start);
        if is_double {
            match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(Tok::Double(value)),
                _ => Err(Diagnostic::new(span, format!("number `{text}` is out of range"))),
            }
        } else {
            text.parse::<u64>()
                .map(Tok::Int)
                .map_err(|_| Diagnostic::new(span, format!("integer `{text}` is too large")))
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    fn param(&mut self, start: usize) -> Result<Tok, Diagnostic> {
        self.digits();
        let digits = &self.text[start + 1..self.pos];
        let span = self.span_from(start);
        if digits.is_empty() {
            return Err(Diagnostic::new(span, "expected a parameter number after `$`")
                .with_hint("`$1` is the first parameter (the profile)"));
        }
        match digits.parse::<u32>() {
            Ok(0) => {
                Err(Diagnostic::new(span, "parameter `$0` does not exist")
                    .with_hint("parameters are numbered from `$1`"))
            }
            Ok(n) => Ok(Tok::Param(n)),
            Err(_) => Err(Diagnostic::new(span, format!("parameter number `{digits}` is too large"))),
        }
    }

    fn string(&mut self, start: usize) -> Result<Tok, Diagnostic> {
        let mut value = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => {
                    return Err(Diagnostic::new(Span::new(start, start + 1), "unterminated string literal")
                        .with_hint("add a closing `\"`"));
                }
                Some('"') => return Ok(Tok::Str(value)),
                Some('\\') => match self.bump() {
                    Some('"') => value.push('"'),
                    Some('\\') => value.push('\\'),
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some('r') => value.push('\r'),
                    Some(other) => {
                        return Err(Diagnostic::new(
                            self.span_from(at),
                            format!("unknown escape `\\{other}` in string literal"),
                        )
                        .with_hint("write `\\\\` for a backslash, e.g. \"\\\\w+\" for the regex `\\w+`"));
                    }
                    None => {
                        return Err(Diagnostic::new(Span::new(start, start + 1), "unterminated string literal")
                            .with_hint("add a closing `\"`"));
                    }
                },
                Some(c) => value.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        tokenize(text).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn error(text: &str) -> Diagnostic {
        tokenize(text).unwrap_err()
    }

    #[test]
    fn lexes_operators_and_literals() {
        assert_eq!(
            kinds(r#"a.b >= 3.5 != "x\"y\\" $2 => ^ 1e3 7"#),
            vec![
                Tok::Ident("a".into()),
                Tok::Dot,
                Tok::Ident("b".into()),
                Tok::Ge,
                Tok::Double(3.5),
                Tok::NotEq,
                Tok::Str("x\"y\\".into()),
                Tok::Param(2),
                Tok::Arrow,
                Tok::Caret,
                Tok::Double(1000.0),
                Tok::Int(7),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn integer_followed_by_dot_and_word_stays_an_integer() {
        assert_eq!(kinds("5.x"), vec![Tok::Int(5), Tok::Dot, Tok::Ident("x".into()), Tok::Eof]);
    }

    #[test]
    fn spans_are_byte_offsets() {
        let tokens = tokenize("é = \"ü\"").unwrap();
        assert_eq!(tokens[0].span, Span::new(0, 2));
        assert_eq!(tokens[2].span, Span::new(5, 9));
        assert_eq!(tokens[3].span, Span::point(9));
    }

    #[test]
    fn reports_unterminated_string_at_the_quote() {
        let diag = error("name = \"Jo");
        assert_eq!(diag.message, "unterminated string literal");
        assert_eq!(diag.span, Span::new(7, 8));
    }

    #[test]
    fn reports_unknown_character() {
        let diag = error("a # b");
        assert_eq!(diag.message, "unknown character `#`");
        assert_eq!(diag.span, Span::new(2, 3));
    }

    #[test]
    fn hints_at_foreign_operators() {
        let diag = error("a == 1");
        assert_eq!((diag.span, diag.hint.as_deref()), (Span::new(2, 4), Some("PQL compares with a single `=`")));
        assert_eq!(error("a && b").hint.as_deref(), Some("use `and`"));
        assert_eq!(error("a || b").hint.as_deref(), Some("use `or`"));
        assert_eq!(error("a <> b").hint.as_deref(), Some("PQL writes \"not equal\" as `!=`"));
    }

    #[test]
    fn rejects_unknown_escapes_and_bad_params() {
        let diag = error(r#"s.matches("\w")"#);
        assert_eq!(diag.message, "unknown escape `\\w` in string literal");
        assert_eq!(diag.span, Span::new(11, 13));
        assert_eq!(error("$0.a").message, "parameter `$0` does not exist");
        assert_eq!(error("$.a").message, "expected a parameter number after `$`");
        assert_eq!(error("99999999999999999999").message, "integer `99999999999999999999` is too large");
    }
}
