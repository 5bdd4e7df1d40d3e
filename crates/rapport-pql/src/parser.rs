//! Recursive-descent parser from tokens to [`Query`].
//!
//! One method per precedence level (see the crate docs for the table). The quantifier, `select`,
//! `let` and `<aggregate> ... over` forms are parsed as primaries whose last part extends as far
//! right as possible, like a lambda body. The parser tracks which names are bound (lambda params and
//! enclosing variables) so that `A.opportunities` becomes a path rooted at the variable `A`.

use crate::ast::{
    AggregateFn, BinaryOp, Binding, ChainStep, CompareOp, Direction, Expr, ExprKind, Ident, Literal, Path, PathRoot,
    PeriodRelative, Quantifier, Query, TimeConstraint, TimeConstraintKind, TimeLiteral, TimeUnit, UnaryOp,
};
use crate::diagnostic::{line_col, Diagnostic};
use crate::lexer::{tokenize, Tok, Token};
use crate::span::Span;

type PResult<T> = Result<T, Diagnostic>;

/// Words that never start a path (they are operators, binders or literals).
pub(crate) const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "notIn", "like", "occurs", "exists", "forall", "select", "let", "where", "true", "false",
    "null",
];

/// Keywords offered in "did you mean" / case-sensitivity hints.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "notIn", "like", "occurs", "exists", "forall", "select", "let", "where", "from", "over",
    "true", "false", "null", "between", "before", "after", "CHAIN", "WHAT", "WHEN",
];

/// Deepest nesting accepted, so that hostile input cannot overflow the stack.
const MAX_DEPTH: u32 = 64;

/// Parses a whole PQL query.
///
/// # Errors
///
/// Returns the first lexical or syntax error, located by its byte span in `text`.
pub fn parse(text: &str) -> Result<Query, Diagnostic> {
    let tokens = tokenize(text)?;
    let mut parser =
        Parser { text, tokens, pos: 0, params: Vec::new(), scope: Vec::new(), no_in: false, filters: 0, depth: 0 };
    parser.query()
}

/// Parses a single expression (no lambda head), with no names bound.
///
/// # Errors
///
/// As [`parse`].
pub fn parse_expr(text: &str) -> Result<Expr, Diagnostic> {
    let tokens = tokenize(text)?;
    let mut parser =
        Parser { text, tokens, pos: 0, params: Vec::new(), scope: Vec::new(), no_in: false, filters: 0, depth: 0 };
    let body = parser.expr()?;
    parser.finish(&body)?;
    Ok(body)
}

/// Which operator of the comparison level is next.
enum CmpKind {
    Compare(CompareOp),
    In { negated: bool },
    Like,
    Occurs,
}

struct Parser<'a> {
    text: &'a str,
    /// Always ends with one `Eof` token.
    tokens: Vec<Token>,
    pos: usize,
    /// Lambda-head names, in order.
    params: Vec<String>,
    /// Variables bound by enclosing binders, innermost last.
    scope: Vec<String>,
    /// Inside a `let` value, where a bare `in` ends the value instead of testing membership.
    no_in: bool,
    /// Number of enclosing filter predicates (bounds `^`).
    filters: u32,
    depth: u32,
}

impl Parser<'_> {
    // ---- token helpers ----

    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].kind
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + n).min(last)].kind
    }

    fn token(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if token.kind != Tok::Eof {
            self.pos += 1;
        }
        token
    }

    fn prev_end(&self) -> usize {
        if self.pos == 0 {
            0
        } else {
            self.tokens[self.pos - 1].span.end
        }
    }

    fn eat(&mut self, tok: &Tok) -> Option<Span> {
        (self.peek() == tok).then(|| self.advance().span)
    }

    fn eat_word(&mut self, word: &str) -> Option<Span> {
        self.peek().is_word(word).then(|| self.advance().span)
    }

    /// An error at the current token: "expected {expected} but found {token}".
    fn unexpected(&self, expected: &str) -> Diagnostic {
        let token = self.token();
        Diagnostic::new(token.span, format!("expected {expected} but found {}", token.kind))
    }

    fn expect(&mut self, tok: &Tok, expected: &str) -> PResult<Span> {
        self.eat(tok).ok_or_else(|| self.unexpected(expected))
    }

    fn expect_word(&mut self, word: &str, expected: &str) -> PResult<Span> {
        self.eat_word(word).ok_or_else(|| self.unexpected(expected))
    }

    /// Consumes the closing delimiter `close` matching the opener at `open`.
    fn close(&mut self, close: &Tok, open: Span, expected: &str) -> PResult<Span> {
        if let Some(span) = self.eat(close) {
            return Ok(span);
        }
        let opener = open.slice(self.text).unwrap_or("(");
        let found = self.token();
        if found.kind == Tok::Eof {
            Err(Diagnostic::new(open, format!("unclosed `{opener}`: expected {expected} but found end of input"))
                .with_hint(format!("add {close} to close it")))
        } else {
            let (line, col) = line_col(self.text, open.start);
            Err(self.unexpected(expected).with_hint(format!("to close the `{opener}` at {line}:{col}")))
        }
    }

    fn nest<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_DEPTH {
            return Err(Diagnostic::new(self.token().span, "expression nests too deeply")
                .with_hint(format!("at most {MAX_DEPTH} levels of nesting are accepted")));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Runs `f` with the `let`-value restriction set to `no_in`, then restores it.
    fn with_no_in<T>(&mut self, no_in: bool, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let saved = std::mem::replace(&mut self.no_in, no_in);
        let result = f(self);
        self.no_in = saved;
        result
    }

    // ---- query ----

    fn query(&mut self) -> PResult<Query> {
        let params = self.lambda_head()?;
        self.params = params.iter().map(|p| p.name.clone()).collect();
        let body = self.expr()?;
        self.finish(&body)?;
        Ok(Query { params, body })
    }

    /// `( ident {, ident} ) =>`, recognised by looking ahead; anything else is no head.
    fn lambda_head(&mut self) -> PResult<Vec<Ident>> {
        if *self.peek() != Tok::LParen {
            return Ok(Vec::new());
        }
        let mut n = 1;
        loop {
            if !matches!(self.peek_at(n), Tok::Ident(_)) {
                return Ok(Vec::new());
            }
            match self.peek_at(n + 1) {
                Tok::Comma => n += 2,
                Tok::RParen => break,
                _ => return Ok(Vec::new()),
            }
        }
        if *self.peek_at(n + 2) != Tok::Arrow {
            return Ok(Vec::new());
        }
        self.advance();
        let mut params: Vec<Ident> = Vec::new();
        loop {
            let token = self.advance();
            let Tok::Ident(name) = token.kind else { unreachable!("checked by the lookahead above") };
            if RESERVED.contains(&name.as_str()) {
                return Err(Diagnostic::new(token.span, format!("keyword `{name}` cannot name a parameter")));
            }
            if params.iter().any(|p| p.name == name) {
                return Err(Diagnostic::new(token.span, format!("parameter `{name}` is declared twice")));
            }
            params.push(Ident::new(name, token.span));
            if self.eat(&Tok::Comma).is_none() {
                break;
            }
        }
        self.advance(); // `)`
        self.advance(); // `=>`
        Ok(params)
    }

    /// Requires the end of input after a complete expression.
    fn finish(&self, body: &Expr) -> PResult<()> {
        let token = self.token();
        let diag = match &token.kind {
            Tok::Eof => return Ok(()),
            Tok::RParen => Diagnostic::new(token.span, "unmatched `)`"),
            Tok::RBracket => Diagnostic::new(token.span, "unmatched `]`"),
            Tok::Arrow => Diagnostic::new(token.span, "unexpected `=>`")
                .with_hint("a lambda head comes first and needs parentheses: `(Profile) => ...`"),
            Tok::Ident(word) => {
                let diag = Diagnostic::new(token.span, format!("unexpected `{word}` after a complete expression"));
                if let Some(keyword) = case_insensitive_keyword(word) {
                    diag.with_hint(format!("keywords are case-sensitive: write `{keyword}`"))
                } else if let Some(keyword) = misspelt_keyword(body) {
                    diag.with_hint(format!("did you mean `{keyword}`?"))
                } else {
                    diag.with_hint("is an operator such as `and` missing?")
                }
            }
            other => Diagnostic::new(token.span, format!("unexpected {other} after a complete expression")),
        };
        Err(diag)
    }

    // ---- precedence levels ----

    fn expr(&mut self) -> PResult<Expr> {
        self.nest(Self::or)
    }

    fn or(&mut self) -> PResult<Expr> {
        let mut lhs = self.and()?;
        while self.eat_word("or").is_some() {
            let rhs = self.and()?;
            lhs = binary(BinaryOp::Or, lhs, rhs);
        }
        Ok(lhs)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut lhs = self.not()?;
        while self.eat_word("and").is_some() {
            let rhs = self.not()?;
            lhs = binary(BinaryOp::And, lhs, rhs);
        }
        Ok(lhs)
    }

    fn not(&mut self) -> PResult<Expr> {
        if self.peek().is_word("not") || *self.peek() == Tok::Bang {
            let start = self.advance().span;
            let operand = self.nest(Self::not)?;
            let span = start.to(operand.span);
            return Ok(Expr::new(ExprKind::Unary { op: UnaryOp::Not, expr: Box::new(operand) }, span));
        }
        self.comparison()
    }

    fn comparison_op(&self) -> Option<CmpKind> {
        Some(match self.peek() {
            Tok::Eq => CmpKind::Compare(CompareOp::Eq),
            Tok::NotEq => CmpKind::Compare(CompareOp::NotEq),
            Tok::Lt => CmpKind::Compare(CompareOp::Lt),
            Tok::Le => CmpKind::Compare(CompareOp::Le),
            Tok::Gt => CmpKind::Compare(CompareOp::Gt),
            Tok::Ge => CmpKind::Compare(CompareOp::Ge),
            Tok::Ident(w) if w == "in" && !self.no_in => CmpKind::In { negated: false },
            Tok::Ident(w) if w == "notIn" => CmpKind::In { negated: true },
            Tok::Ident(w) if w == "like" => CmpKind::Like,
            Tok::Ident(w) if w == "occurs" => CmpKind::Occurs,
            _ => return None,
        })
    }

    fn comparison(&mut self) -> PResult<Expr> {
        let lhs = self.additive()?;
        let Some(op) = self.comparison_op() else { return Ok(lhs) };
        self.advance();
        let start = lhs.span;
        let lhs = Box::new(lhs);
        let kind = match op {
            CmpKind::Compare(op) => {
                ExprKind::Binary { op: BinaryOp::Compare(op), lhs, rhs: Box::new(self.additive()?) }
            }
            CmpKind::In { negated } => ExprKind::In { expr: lhs, list: Box::new(self.additive()?), negated },
            CmpKind::Like => ExprKind::Like { expr: lhs, pattern: Box::new(self.additive()?) },
            CmpKind::Occurs => ExprKind::Occurs { expr: lhs, constraint: self.time_constraint()? },
        };
        if self.comparison_op().is_some() {
            return Err(Diagnostic::new(self.token().span, format!("{} cannot follow a comparison", self.peek()))
                .with_hint("comparisons do not chain; add parentheses to say which comes first"));
        }
        Ok(Expr::new(kind, start.to(Span::point(self.prev_end()))))
    }

    fn additive(&mut self) -> PResult<Expr> {
        let mut lhs = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinaryOp::Add,
                Tok::Minus => BinaryOp::Sub,
                _ => return Ok(lhs),
            };
            self.advance();
            let rhs = self.multiplicative()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn multiplicative(&mut self) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinaryOp::Mul,
                Tok::Slash => BinaryOp::Div,
                Tok::Percent => BinaryOp::Rem,
                _ => return Ok(lhs),
            };
            self.advance();
            let rhs = self.unary()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    /// Unary minus; `-` directly before a number is folded into a negative literal.
    fn unary(&mut self) -> PResult<Expr> {
        if *self.peek() != Tok::Minus {
            let primary = self.primary()?;
            return self.postfix(primary);
        }
        let start = self.advance().span;
        let literal = match *self.peek() {
            Tok::Int(n) => {
                let token = self.advance();
                let value = 0i64
                    .checked_sub_unsigned(n)
                    .ok_or_else(|| Diagnostic::new(start.to(token.span), format!("integer `-{n}` is out of range")))?;
                Literal::Int(value)
            }
            Tok::Double(d) => {
                self.advance();
                Literal::Double(-d)
            }
            _ => {
                let operand = self.nest(Self::unary)?;
                let span = start.to(operand.span);
                return Ok(Expr::new(ExprKind::Unary { op: UnaryOp::Neg, expr: Box::new(operand) }, span));
            }
        };
        let literal = Expr::new(ExprKind::Literal(literal), start.to(Span::point(self.prev_end())));
        self.postfix(literal)
    }

    /// `.field`, `.method(args)` and `[predicate]` after an expression.
    fn postfix(&mut self, mut expr: Expr) -> PResult<Expr> {
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.advance();
                    let name = self.field_name()?;
                    if *self.peek() == Tok::LParen {
                        let (args, close) = self.args()?;
                        let span = expr.span.to(close);
                        expr = Expr::new(ExprKind::Call { target: Some(Box::new(expr)), name, args }, span);
                    } else {
                        expr = extend_path(expr, name);
                    }
                }
                Tok::LBracket => {
                    let open = self.advance().span;
                    self.filters += 1;
                    let predicate = self.with_no_in(false, Self::expr)?;
                    self.filters -= 1;
                    let close = self.close(&Tok::RBracket, open, "`]`")?;
                    let span = expr.span.to(close);
                    expr = Expr::new(ExprKind::Filter { target: Box::new(expr), predicate: Box::new(predicate) }, span);
                }
                _ => return Ok(expr),
            }
        }
    }

    fn field_name(&mut self) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Ident(name) => Ok(Ident::new(name, self.advance().span)),
            _ => Err(self.unexpected("a field name after `.`")),
        }
    }

    /// `( expr {, expr} )` starting at the current `(`; returns the arguments and the `)` span.
    fn args(&mut self) -> PResult<(Vec<Expr>, Span)> {
        let open = self.expect(&Tok::LParen, "`(`")?;
        self.with_no_in(false, |p| {
            let mut args = Vec::new();
            if let Some(close) = p.eat(&Tok::RParen) {
                return Ok((args, close));
            }
            loop {
                args.push(p.expr()?);
                if p.eat(&Tok::Comma).is_none() {
                    break;
                }
            }
            let close = p.close(&Tok::RParen, open, "`,` or `)`")?;
            Ok((args, close))
        })
    }

    // ---- primaries ----

    fn primary(&mut self) -> PResult<Expr> {
        let token = self.token().clone();
        let literal = |lit: Literal| Ok(Expr::new(ExprKind::Literal(lit), token.span));
        match token.kind {
            Tok::Int(n) => {
                self.advance();
                let value = i64::try_from(n)
                    .map_err(|_| Diagnostic::new(token.span, format!("integer `{n}` is out of range")))?;
                literal(Literal::Int(value))
            }
            Tok::Double(d) => {
                self.advance();
                literal(Literal::Double(d))
            }
            Tok::Str(ref s) => {
                self.advance();
                literal(Literal::String(s.clone()))
            }
            Tok::Param(index) => {
                self.advance();
                Ok(path_expr(PathRoot::Param { index, name: None }, Vec::new(), token.span))
            }
            Tok::Caret => self.carets(),
            Tok::LParen => {
                let open = self.advance().span;
                let mut inner = self.with_no_in(false, Self::expr)?;
                let close = self.close(&Tok::RParen, open, "`)`")?;
                inner.span = open.to(close);
                Ok(inner)
            }
            Tok::LBracket => {
                let open = self.advance().span;
                let items = self.with_no_in(false, |p| {
                    let mut items = Vec::new();
                    if *p.peek() != Tok::RBracket {
                        loop {
                            items.push(p.expr()?);
                            if p.eat(&Tok::Comma).is_none() {
                                break;
                            }
                        }
                    }
                    Ok(items)
                })?;
                let close = self.close(&Tok::RBracket, open, "`,` or `]`")?;
                Ok(Expr::new(ExprKind::Array(items), open.to(close)))
            }
            Tok::Ident(ref word) => self.word(word, token.span),
            Tok::Bang => Err(self
                .unexpected("an expression")
                .with_hint("`!(...)` binds loosely here; put parentheses around it: `(!(...))`")),
            _ => Err(self.unexpected("an expression")),
        }
    }

    fn carets(&mut self) -> PResult<Expr> {
        let start = self.token().span;
        let mut levels = 0u32;
        while self.eat(&Tok::Caret).is_some() {
            levels += 1;
        }
        let span = start.to(Span::point(self.prev_end()));
        if levels > self.filters {
            let message = if self.filters == 0 {
                format!("`{}` can only be used inside a filter `[...]`", "^".repeat(levels as usize))
            } else {
                format!(
                    "`{}` climbs {levels} levels but only {} filter{} enclose{} it",
                    "^".repeat(levels as usize),
                    self.filters,
                    if self.filters == 1 { "" } else { "s" },
                    if self.filters == 1 { "s" } else { "" },
                )
            };
            return Err(Diagnostic::new(span, message));
        }
        Ok(path_expr(PathRoot::Caret(levels), Vec::new(), span))
    }

    /// A primary starting with a word.
    fn word(&mut self, word: &str, span: Span) -> PResult<Expr> {
        let next_is_paren = *self.peek_at(1) == Tok::LParen;
        let time = |t: TimeLiteral| Expr::new(ExprKind::Time(t), span);
        match word {
            "true" | "false" => {
                self.advance();
                Ok(Expr::new(ExprKind::Literal(Literal::Bool(word == "true")), span))
            }
            "null" => {
                self.advance();
                Ok(Expr::new(ExprKind::Literal(Literal::Null), span))
            }
            "now" | "today" | "yesterday" | "tomorrow" => {
                self.advance();
                Ok(time(match word {
                    "now" => TimeLiteral::Now,
                    "today" => TimeLiteral::Today,
                    "yesterday" => TimeLiteral::Yesterday,
                    _ => TimeLiteral::Tomorrow,
                }))
            }
            "this" | "last" | "next" if self.unit_at(1).is_some() => {
                let relative = match word {
                    "this" => PeriodRelative::This,
                    "last" => PeriodRelative::Last,
                    _ => PeriodRelative::Next,
                };
                let unit = self.unit_at(1).expect("checked by the match guard");
                self.advance();
                let end = self.advance().span;
                Ok(Expr::new(ExprKind::Time(TimeLiteral::Period { relative, unit }), span.to(end)))
            }
            "exists" => self.quantified(Quantifier::Exists),
            "forall" => self.quantified(Quantifier::Forall),
            "select" => self.select(),
            "let" => self.let_in(),
            "CHAIN" if next_is_paren => self.chain(),
            "if" if next_is_paren => self.if_call(),
            "not" => Err(self
                .unexpected("an expression")
                .with_hint("`not` binds loosely here; put parentheses around it: `(not (...))`")),
            _ if RESERVED.contains(&word) => {
                Err(Diagnostic::new(span, format!("expected an expression but found keyword `{word}`")))
            }
            _ => {
                if let Some(func) = AggregateFn::from_word(word) {
                    if *self.peek_at(1) != Tok::Dot {
                        if let Some(var) = self.scan_over() {
                            return self.aggregate(func, var);
                        }
                    }
                }
                let ident = Ident::new(word, span);
                self.advance();
                if next_is_paren {
                    let (args, close) = self.args()?;
                    return Ok(Expr::new(ExprKind::Call { target: None, name: ident, args }, span.to(close)));
                }
                Ok(self.name_path(ident))
            }
        }
    }

    /// A path starting with a bare name: a bound variable, a lambda parameter, or a field of the profile.
    fn name_path(&self, ident: Ident) -> Expr {
        let span = ident.span;
        if self.scope.contains(&ident.name) {
            return path_expr(PathRoot::Var(ident), Vec::new(), span);
        }
        if let Some(i) = self.params.iter().position(|p| *p == ident.name) {
            let index = u32::try_from(i + 1).expect("fewer than 2^32 parameters");
            return path_expr(PathRoot::Param { index, name: Some(ident) }, Vec::new(), span);
        }
        path_expr(PathRoot::Implicit, vec![ident], span)
    }

    fn unit_at(&self, n: usize) -> Option<TimeUnit> {
        match self.peek_at(n) {
            Tok::Ident(w) => TimeUnit::from_word(w),
            _ => None,
        }
    }

    /// A variable name being bound.
    fn binder(&mut self, after: &str) -> PResult<Ident> {
        match self.peek().clone() {
            // `exists from x` lacks the variable, rather than binding one named `from`.
            Tok::Ident(name) if name == "from" && !self.peek_at(1).is_word("from") => {
                Err(self.unexpected(&format!("a variable name after {after}")))
            }
            Tok::Ident(name) if !RESERVED.contains(&name.as_str()) => Ok(Ident::new(name, self.advance().span)),
            _ => Err(self.unexpected(&format!("a variable name after {after}"))),
        }
    }

    fn quantified(&mut self, quantifier: Quantifier) -> PResult<Expr> {
        let keyword = self.advance();
        let outer_scope = self.scope.len();
        let mut bindings = Vec::new();
        let mut after = format!("{}", keyword.kind);
        loop {
            let var = self.binder(&after)?;
            self.expect_word("from", &format!("`from` after the variable `{}`", var.name))?;
            let source = self.expr()?;
            if self.eat_word("where").is_none() && self.eat(&Tok::Colon).is_none() {
                return Err(self.unexpected("`where` or `:` after the binding's source"));
            }
            self.scope.push(var.name.clone());
            let condition = self.expr()?;
            let span = var.span.to(condition.span);
            bindings.push(Binding { var, source, condition, span });
            let chained = *self.peek() == Tok::Comma
                && matches!(self.peek_at(1), Tok::Ident(_))
                && self.peek_at(2).is_word("from");
            if !chained {
                break;
            }
            self.advance();
            after = "`,`".to_owned();
        }
        self.scope.truncate(outer_scope);
        let span = keyword.span.to(Span::point(self.prev_end()));
        Ok(Expr::new(ExprKind::Quantified { quantifier, bindings }, span))
    }

    fn select(&mut self) -> PResult<Expr> {
        let keyword = self.advance();
        let var = self.binder("`select`")?;
        self.expect_word("from", &format!("`from` after the variable `{}`", var.name))?;
        let source = self.expr()?;
        if self.eat_word("where").is_none() && self.eat(&Tok::Colon).is_none() {
            return Err(self.unexpected("`where` after the source of `select`"));
        }
        self.scope.push(var.name.clone());
        let condition = self.expr()?;
        self.scope.pop();
        let span = keyword.span.to(condition.span);
        Ok(Expr::new(ExprKind::Select { var, source: Box::new(source), condition: Box::new(condition) }, span))
    }

    fn let_in(&mut self) -> PResult<Expr> {
        let keyword = self.advance();
        let var = self.binder("`let`")?;
        self.expect(&Tok::Eq, &format!("`=` after `let {}`", var.name))?;
        let value = self.with_no_in(true, Self::expr)?;
        self.expect_word("in", &format!("`in` after the value of `let {}`", var.name))?;
        self.scope.push(var.name.clone());
        let body = self.expr()?;
        self.scope.pop();
        let span = keyword.span.to(body.span);
        Ok(Expr::new(ExprKind::Let { var, value: Box::new(value), body: Box::new(body) }, span))
    }

    /// For `sum <value> over X from ...`: the variable after the first `over` at this nesting level.
    fn scan_over(&self) -> Option<String> {
        let mut depth = 0usize;
        for i in self.pos + 1..self.tokens.len() {
            match &self.tokens[i].kind {
                Tok::LParen | Tok::LBracket => depth += 1,
                Tok::RParen | Tok::RBracket if depth == 0 => return None,
                Tok::RParen | Tok::RBracket => depth -= 1,
                Tok::Comma if depth == 0 => return None,
                Tok::Eof => return None,
                Tok::Ident(w) if depth == 0 && w == "over" && self.tokens[i - 1].kind != Tok::Dot => {
                    return match &self.tokens[i + 1].kind {
                        Tok::Ident(var) => Some(var.clone()),
                        _ => None,
                    };
                }
                _ => {}
            }
        }
        None
    }

    fn aggregate(&mut self, func: AggregateFn, var_name: String) -> PResult<Expr> {
        let keyword = self.advance();
        self.scope.push(var_name);
        let value = self.expr()?;
        self.scope.pop();
        self.expect_word("over", &format!("`over` after the value of `{}`", func.keyword()))?;
        let var = self.binder("`over`")?;
        self.expect_word("from", &format!("`from` after the variable `{}`", var.name))?;
        let source = self.expr()?;
        let condition = if self.eat_word("where").is_some() || self.eat(&Tok::Colon).is_some() {
            self.scope.push(var.name.clone());
            let condition = self.expr()?;
            self.scope.pop();
            Some(Box::new(condition))
        } else {
            None
        };
        let span = keyword.span.to(Span::point(self.prev_end()));
        let kind = ExprKind::Aggregate { func, value: Box::new(value), var, source: Box::new(source), condition };
        Ok(Expr::new(kind, span))
    }

    fn if_call(&mut self) -> PResult<Expr> {
        let keyword = self.advance();
        let (args, close) = self.args()?;
        let span = keyword.span.to(close);
        let Ok([test, then, otherwise]) = <[Expr; 3]>::try_from(args) else {
            return Err(Diagnostic::new(span, "`if` takes 3 arguments (test, then, else)"));
        };
        let kind = ExprKind::If { test: Box::new(test), then: Box::new(then), otherwise: Box::new(otherwise) };
        Ok(Expr::new(kind, span))
    }

    fn chain(&mut self) -> PResult<Expr> {
        let keyword = self.advance();
        let open = self.advance().span;
        let (source, timestamp, steps) = self.with_no_in(false, |p| {
            let source = p.expr()?;
            p.expect(&Tok::Comma, "`,` after the event array of `CHAIN`")?;
            let timestamp = p.expr()?;
            p.expect(&Tok::Comma, "`,` after the timestamp field of `CHAIN`")?;
            let open_steps = p.expect(&Tok::LBracket, "`[` before the steps of `CHAIN`")?;
            let mut steps = vec![p.chain_step()?];
            while p.eat(&Tok::Comma).is_some() {
                steps.push(p.chain_step()?);
            }
            p.close(&Tok::RBracket, open_steps, "`,` or `]`")?;
            Ok((source, timestamp, steps))
        })?;
        let close = self.close(&Tok::RParen, open, "`)`")?;
        let kind = ExprKind::Chain { source: Box::new(source), timestamp: Box::new(timestamp), steps };
        Ok(Expr::new(kind, keyword.span.to(close)))
    }

    fn chain_step(&mut self) -> PResult<ChainStep> {
        let label = self.binder("the previous step (a step label such as `C0`)")?;
        self.expect(&Tok::Colon, &format!("`:` after the step label `{}`", label.name))?;
        self.expect_word("WHAT", &format!("`WHAT(...)` after `{}:`", label.name))?;
        let open = self.expect(&Tok::LParen, "`(` after `WHAT`")?;
        let what = self.expr()?;
        let mut end = self.close(&Tok::RParen, open, "`)`")?;
        let when = if self.eat_word("WHEN").is_some() {
            let open = self.expect(&Tok::LParen, "`(` after `WHEN`")?;
            let constraint = self.time_constraint()?;
            end = self.close(&Tok::RParen, open, "`)`")?;
            Some(constraint)
        } else {
            None
        };
        let span = label.span.to(end);
        Ok(ChainStep { label, what, when, span })
    }

    // ---- time ----

    fn time_constraint(&mut self) -> PResult<TimeConstraint> {
        let start = self.token().span;
        let comparison = match self.peek() {
            Tok::Eq => Some(CompareOp::Eq),
            Tok::NotEq => Some(CompareOp::NotEq),
            Tok::Lt => Some(CompareOp::Lt),
            Tok::Le => Some(CompareOp::Le),
            Tok::Gt => Some(CompareOp::Gt),
            Tok::Ge => Some(CompareOp::Ge),
            _ => None,
        };
        let direction = |tok: &Tok| match tok {
            Tok::Ident(w) if w == "before" => Some(Direction::Before),
            Tok::Ident(w) if w == "after" => Some(Direction::After),
            Tok::Ident(w) if w == "from" => Some(Direction::From),
            _ => None,
        };
        let kind = if comparison.is_some() || matches!(self.peek(), Tok::Int(_)) {
            if let Some(op) = comparison {
                self.advance();
                if !matches!(self.peek(), Tok::Int(_)) {
                    return Err(self.unexpected(&format!("a number of time units after `{}`", op.symbol())));
                }
            }
            let Tok::Int(amount) = self.advance().kind else { unreachable!("checked above") };
            let unit = match self.unit_at(0) {
                Some(unit) => {
                    self.advance();
                    unit
                }
                None => {
                    let diag = self.unexpected("a time unit such as `hours` or `days`");
                    return Err(match self.peek() {
                        Tok::Ident(w) => match closest_unit(w) {
                            Some(unit) => diag.with_hint(format!("did you mean `{unit}`?")),
                            None => diag,
                        },
                        _ => diag,
                    });
                }
            };
            let Some(direction) = direction(self.peek()) else {
                return Err(self.unexpected(&format!("`before`, `after` or `from` after `{amount} {}`", unit.plural())));
            };
            self.advance();
            let anchor = Box::new(self.time()?);
            TimeConstraintKind::Offset { comparison, amount, unit, direction, anchor }
        } else if let Some(direction) = direction(self.peek()) {
            self.advance();
            TimeConstraintKind::Relative { direction, anchor: Box::new(self.time()?) }
        } else if self.eat_word("between").is_some() {
            let start = Box::new(self.time()?);
            self.expect_word("and", "`and` between the two times of `between`")?;
            TimeConstraintKind::Between { start, end: Box::new(self.time()?) }
        } else {
            self.eat_word("on");
            TimeConstraintKind::On(Box::new(self.time()?))
        };
        Ok(TimeConstraint { kind, span: start.to(Span::point(self.prev_end())) })
    }

    /// A point or period in time: a time word, `date(..)`, a path, a parameter or a parenthesised expression.
    fn time(&mut self) -> PResult<Expr> {
        let starts_time = match self.peek() {
            Tok::Ident(w) => !RESERVED.contains(&w.as_str()),
            Tok::Param(_) | Tok::Caret | Tok::LParen | Tok::Str(_) => true,
            _ => false,
        };
        if !starts_time {
            return Err(self.unexpected("a time such as `today`, `last week`, `date(2024, 1, 31)` or a field"));
        }
        let primary = self.primary()?;
        self.postfix(primary)
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr::new(ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span)
}

fn path_expr(root: PathRoot, segments: Vec<Ident>, span: Span) -> Expr {
    Expr::new(ExprKind::Path(Path { root, segments }), span)
}

/// Appends `.name` to a path or member access, or starts a member access on any other value.
fn extend_path(expr: Expr, name: Ident) -> Expr {
    let span = expr.span.to(name.span);
    match expr.kind {
        ExprKind::Path(mut path) => {
            path.segments.push(name);
            Expr::new(ExprKind::Path(path), span)
        }
        ExprKind::Member { target, mut segments } => {
            segments.push(name);
            Expr::new(ExprKind::Member { target, segments }, span)
        }
        kind => {
            let target = Box::new(Expr::new(kind, expr.span));
            Expr::new(ExprKind::Member { target, segments: vec![name] }, span)
        }
    }
}

/// The keyword `word` spells in another case (`AND` → `and`), if any.
fn case_insensitive_keyword(word: &str) -> Option<&'static str> {
    KEYWORDS.iter().copied().find(|k| *k != word && k.eq_ignore_ascii_case(word))
}

/// The binder keyword a lone bare name (as in `exist A from ...`) probably meant.
fn misspelt_keyword(body: &Expr) -> Option<&'static str> {
    let ExprKind::Path(Path { root: PathRoot::Implicit, segments }) = &body.kind else { return None };
    let [only] = segments.as_slice() else { return None };
    if only.name.len() < 3 {
        return None;
    }
    ["exists", "forall", "select", "let"].into_iter().find(|k| strsim::levenshtein(&only.name.to_lowercase(), k) <= 2)
}

fn closest_unit(word: &str) -> Option<&'static str> {
    TimeUnit::ALL
        .into_iter()
        .flat_map(|u| [u.singular(), u.plural()])
        .map(|name| (strsim::levenshtein(word, name), name))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}
