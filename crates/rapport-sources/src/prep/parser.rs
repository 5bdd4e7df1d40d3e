//! A recursive-descent parser from tokens to [`Expr`].
//!
//! Precedence, loosest first: `||`, `&&`, `==`/`!=`, `<`/`<=`/`>`/`>=`, unary `!`/`-`, then method calls
//! (`x.equals(y)`) and primaries (literals, fields, calls, parentheses).

use serde_json::Value;

use super::eval::Func;
use super::lexer::{lex, Tok};
use super::{BinOp, Expr, ParseError, Span};

/// Parses an expression.
pub(crate) fn parse(text: &str) -> Result<Expr, ParseError> {
    let tokens = lex(text)?;
    let mut parser = Parser { tokens, pos: 0, depth: 0 };
    let expr = parser.or()?;
    let (tok, span) = parser.peek();
    if *tok != Tok::End {
        return Err(ParseError::new(span, format!("expected an operator or the end, found {}", tok.describe())));
    }
    Ok(expr)
}

/// `op` over `operands` in order, as a tree of depth log2 of their number.
fn balanced(op: BinOp, mut operands: Vec<Expr>) -> Expr {
    if operands.len() == 1 {
        return operands.pop().expect("one operand");
    }
    let rhs = operands.split_off(operands.len() / 2);
    let (lhs, rhs) = (balanced(op, operands), balanced(op, rhs));
    let span = lhs.span().to(rhs.span());
    Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), span }
}

/// Deeper nesting than this is refused rather than risking the stack (no real mapping comes close).
const MAX_DEPTH: usize = 128;

struct Parser {
    tokens: Vec<(Tok, Span)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> (&Tok, Span) {
        let (tok, span) = &self.tokens[self.pos.min(self.tokens.len() - 1)];
        (tok, *span)
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].0
    }

    fn bump(&mut self) -> (Tok, Span) {
        let item = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        item
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<Span, ParseError> {
        let (tok, span) = self.peek();
        if *tok == want {
            self.bump();
            Ok(span)
        } else {
            Err(ParseError::new(span, format!("expected {what}, found {}", tok.describe())))
        }
    }

    /// A chain of operators of one precedence level. A chain of `&&` or of `||` becomes a balanced tree
    /// (they are associative, and evaluation still goes left to right), so long generated lists stay
    /// shallow; any other chain nests one level per operator and counts against [`MAX_DEPTH`].
    fn binary(
        &mut self,
        next: fn(&mut Self) -> Result<Expr, ParseError>,
        ops: &[(Tok, BinOp)],
    ) -> Result<Expr, ParseError> {
        let mut operands = vec![next(self)?];
        let mut operators: Vec<(BinOp, Span)> = Vec::new();
        loop {
            let (tok, span) = self.peek();
            let Some(op) = ops.iter().find(|(t, _)| t == tok).map(|(_, op)| *op) else { break };
            if !matches!(op, BinOp::And | BinOp::Or) && self.depth + operators.len() >= MAX_DEPTH {
                return Err(ParseError::new(span, format!("the expression nests deeper than {MAX_DEPTH} levels")));
            }
            self.bump();
            operators.push((op, span));
            operands.push(next(self)?);
        }
        match operators.first() {
            Some((op @ (BinOp::And | BinOp::Or), _)) => Ok(balanced(*op, operands)),
            _ => {
                let mut operands = operands.into_iter();
                let first = operands.next().expect("a chain has a first operand");
                Ok(operators.into_iter().zip(operands).fold(first, |lhs, ((op, _), rhs)| {
                    let span = lhs.span().to(rhs.span());
                    Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), span }
                }))
            }
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(self.peek().1, format!("the expression nests deeper than {MAX_DEPTH} levels")));
        }
        let result = self.binary(Self::and, &[(Tok::Or, BinOp::Or)]);
        self.depth -= 1;
        result
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        self.binary(Self::equality, &[(Tok::And, BinOp::And)])
    }

    fn equality(&mut self) -> Result<Expr, ParseError> {
        self.binary(Self::comparison, &[(Tok::Eq, BinOp::Eq), (Tok::Ne, BinOp::Ne)])
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        self.binary(
            Self::unary,
            &[(Tok::Lt, BinOp::Lt), (Tok::Le, BinOp::Le), (Tok::Gt, BinOp::Gt), (Tok::Ge, BinOp::Ge)],
        )
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let (tok, span) = self.peek();
        match tok {
            Tok::Not => {
                self.bump();
                let inner = self.nested(Self::unary)?;
                let span = span.to(inner.span());
                Ok(Expr::Not { expr: Box::new(inner), span })
            }
            Tok::Minus => {
                self.bump();
                let inner = self.nested(Self::unary)?;
                let span = span.to(inner.span());
                Ok(Expr::Neg { expr: Box::new(inner), span })
            }
            _ => self.postfix(),
        }
    }

    /// Runs `inner` one nesting level down (unary chains such as `!!!!x` recurse without passing `or`).
    fn nested(&mut self, inner: fn(&mut Self) -> Result<Expr, ParseError>) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(self.peek().1, format!("the expression nests deeper than {MAX_DEPTH} levels")));
        }
        let result = inner(self);
        self.depth -= 1;
        result
    }

    /// A primary followed by any number of `.method(args)`.
    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut expr = self.primary()?;
        let mut calls = 0;
        while *self.peek().0 == Tok::Dot {
            calls += 1;
            if self.depth + calls > MAX_DEPTH {
                return Err(ParseError::new(
                    self.peek().1,
                    format!("the expression nests deeper than {MAX_DEPTH} levels"),
                ));
            }
            self.bump();
            let (tok, name_span) = self.bump();
            let Tok::Ident(name) = tok else {
                return Err(ParseError::new(name_span, format!("expected a method name, found {}", tok.describe())));
            };
            if *self.peek().0 != Tok::LParen {
                return Err(ParseError::new(
                    name_span,
                    format!("`.{name}` after a value must be a method call such as `.equals(...)`"),
                ));
            }
            let mut args = vec![expr];
            let end = self.arguments(&mut args)?;
            let func = Func::resolve(&name, name_span)?;
            let span = args[0].span().to(end);
            func.check_arity(args.len(), name_span)?;
            func.check_literals(&args)?;
            expr = Expr::Call { func, args, span, name_span };
        }
        Ok(expr)
    }

    /// `( arg, ... )` appended to `args`; returns the span of `)`.
    fn arguments(&mut self, args: &mut Vec<Expr>) -> Result<Span, ParseError> {
        self.expect(Tok::LParen, "`(`")?;
        if *self.peek().0 == Tok::RParen {
            return Ok(self.bump().1);
        }
        loop {
            args.push(self.or()?);
            let (tok, span) = self.bump();
            match tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok(span),
                other => return Err(ParseError::new(span, format!("expected `,` or `)`, found {}", other.describe()))),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let (tok, span) = self.bump();
        match tok {
            Tok::Str(text) => Ok(Expr::Lit { value: Value::String(text), span }),
            Tok::Num(text) => {
                let value = match text.parse::<i64>() {
                    Ok(int) => Value::from(int),
                    Err(_) => text
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                        .ok_or_else(|| ParseError::new(span, format!("`{text}` is not a number")))?,
                };
                Ok(Expr::Lit { value, span })
            }
            Tok::True => Ok(Expr::Lit { value: Value::Bool(true), span }),
            Tok::False => Ok(Expr::Lit { value: Value::Bool(false), span }),
            Tok::Null => Ok(Expr::Lit { value: Value::Null, span }),
            Tok::LParen => {
                let inner = self.or()?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(inner)
            }
            Tok::Ident(name) if *self.peek().0 == Tok::LParen => {
                let func = Func::resolve(&name, span)?;
                let mut args = Vec::new();
                let end = self.arguments(&mut args)?;
                func.check_arity(args.len(), span)?;
                func.check_literals(&args)?;
                Ok(Expr::Call { func, args, span: span.to(end), name_span: span })
            }
            Tok::Ident(name) | Tok::Escaped(name) => {
                let mut path = vec![name];
                let mut end = span;
                // `a.b.c` is a path into nested values, unless `.c(` starts a method call.
                while *self.peek().0 == Tok::Dot && *self.peek_at(2) != Tok::LParen {
                    match self.peek_at(1).clone() {
                        Tok::Ident(segment) | Tok::Escaped(segment) => {
                            self.bump();
                            end = self.bump().1;
                            path.push(segment);
                        }
                        _ => break,
                    }
                }
                Ok(Expr::Field { path, span: span.to(end) })
            }
            other => Err(ParseError::new(span, format!("expected a value, found {}", other.describe()))),
        }
    }
}
