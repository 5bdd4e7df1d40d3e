//! Canonical text for the syntax tree (`Display` impls).
//!
//! The printer adds parentheses only where the parser would otherwise read a different tree:
//! - an operand whose operator binds more loosely than its context;
//! - a binder form (`exists`, `forall`, `select`, `let`, `sum ... over`), whose last part extends as
//!   far right as possible, unless nothing follows it before a closing delimiter or the end;
//! - `x in [..]` inside a `let` value, where a bare `in` would end the value.
//!
//! Canonical spellings: `not (x)` for both `not` and `!`, `if(a, b, c)`, singular units after `1` and
//! plural units otherwise, `where` (never `:`), and `on` only before a non-word time.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{
    BinaryOp, Binding, ChainStep, Expr, ExprKind, Literal, Path, PathRoot, Query, TimeConstraint, TimeConstraintKind,
    TimeLiteral, UnaryOp,
};

const OPEN: u8 = 0;
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const CMP: u8 = 4;
const ADD: u8 = 5;
const MUL: u8 = 6;
const UNARY: u8 = 7;
const POSTFIX: u8 = 8;

/// Where an expression is printed.
#[derive(Clone, Copy)]
struct Ctx {
    /// Lowest precedence printable without parentheses.
    prec: u8,
    /// Nothing follows before a closing delimiter or the end, so binder forms may stay bare.
    tail: bool,
    /// Inside a `let` value: a bare `in` would end it.
    no_in: bool,
}

const TOP: Ctx = Ctx { prec: OPEN, tail: true, no_in: false };

impl Ctx {
    fn with(self, prec: u8, tail: bool) -> Ctx {
        Ctx { prec, tail: tail && self.tail, no_in: self.no_in }
    }
}

fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Quantified { .. } | ExprKind::Select { .. } | ExprKind::Let { .. } | ExprKind::Aggregate { .. } => {
            OPEN
        }
        ExprKind::Binary { op, .. } => match op {
            BinaryOp::Or => OR,
            BinaryOp::And => AND,
            BinaryOp::Compare(_) => CMP,
            BinaryOp::Add | BinaryOp::Sub => ADD,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => MUL,
        },
        ExprKind::Unary { op: UnaryOp::Not, .. } => NOT,
        ExprKind::Unary { op: UnaryOp::Neg, .. } => UNARY,
        ExprKind::In { .. } | ExprKind::Like { .. } | ExprKind::Occurs { .. } => CMP,
        ExprKind::Literal(_)
        | ExprKind::Array(_)
        | ExprKind::Time(_)
        | ExprKind::Path(_)
        | ExprKind::Member { .. }
        | ExprKind::Call { .. }
        | ExprKind::Filter { .. }
        | ExprKind::If { .. }
        | ExprKind::Chain { .. } => POSTFIX,
    }
}

fn write_expr(f: &mut Formatter<'_>, expr: &Expr, ctx: Ctx) -> fmt::Result {
    let prec = precedence(expr);
    let parens = if prec == OPEN { !ctx.tail } else { prec < ctx.prec }
        || (ctx.no_in && matches!(expr.kind, ExprKind::In { negated: false, .. }));
    if parens {
        f.write_char('(')?;
        write_bare(f, expr, TOP)?;
        f.write_char(')')
    } else {
        write_bare(f, expr, ctx)
    }
}

fn write_list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_expr(f, item, TOP)?;
    }
    Ok(())
}

/// True when the printed expression starts with a digit, so `-` before it would fold into the literal.
fn starts_with_number(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Literal(Literal::Int(_) | Literal::Double(_)) => true,
        ExprKind::Call { target: Some(target), .. }
        | ExprKind::Filter { target, .. }
        | ExprKind::Member { target, .. } => starts_with_number(target),
        _ => false,
    }
}

/// Writes `expr` without parentheses around itself; `ctx` is what follows it.
fn write_bare(f: &mut Formatter<'_>, expr: &Expr, ctx: Ctx) -> fmt::Result {
    let prec = precedence(expr);
    match &expr.kind {
        ExprKind::Literal(literal) => write!(f, "{literal}"),
        ExprKind::Array(items) => {
            f.write_char('[')?;
            write_list(f, items)?;
            f.write_char(']')
        }
        ExprKind::Time(time) => write!(f, "{time}"),
        ExprKind::Path(path) => write!(f, "{path}"),
        ExprKind::Member { target, segments } => {
            write_expr(f, target, ctx.with(POSTFIX, false))?;
            for segment in segments {
                write!(f, ".{}", segment.name)?;
            }
            Ok(())
        }
        ExprKind::Call { target, name, args } => {
            if let Some(target) = target {
                write_expr(f, target, ctx.with(POSTFIX, false))?;
                f.write_char('.')?;
            }
            write!(f, "{}(", name.name)?;
            write_list(f, args)?;
            f.write_char(')')
        }
        ExprKind::Filter { target, predicate } => {
            write_expr(f, target, ctx.with(POSTFIX, false))?;
            f.write_char('[')?;
            write_expr(f, predicate, TOP)?;
            f.write_char(']')
        }
        ExprKind::Unary { op: UnaryOp::Not, expr } => {
            f.write_str("not (")?;
            write_expr(f, expr, TOP)?;
            f.write_char(')')
        }
        ExprKind::Unary { op: UnaryOp::Neg, expr } => {
            f.write_char('-')?;
            if starts_with_number(expr) || matches!(expr.kind, ExprKind::Unary { .. }) {
                f.write_char('(')?;
                write_expr(f, expr, TOP)?;
                f.write_char(')')
            } else {
                write_expr(f, expr, ctx.with(UNARY, true))
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            // Left-associative, except comparisons, which do not chain.
            let lhs_prec = if matches!(op, BinaryOp::Compare(_)) { prec + 1 } else { prec };
            write_expr(f, lhs, ctx.with(lhs_prec, false))?;
            write!(f, " {} ", op.symbol())?;
            write_expr(f, rhs, ctx.with(prec + 1, true))
        }
        ExprKind::In { expr, list, negated } => {
            write_expr(f, expr, ctx.with(CMP + 1, false))?;
            f.write_str(if *negated { " notIn " } else { " in " })?;
            write_expr(f, list, ctx.with(CMP + 1, true))
        }
        ExprKind::Like { expr, pattern } => {
            write_expr(f, expr, ctx.with(CMP + 1, false))?;
            f.write_str(" like ")?;
            write_expr(f, pattern, ctx.with(CMP + 1, true))
        }
        ExprKind::Occurs { expr, constraint } => {
            write_expr(f, expr, ctx.with(CMP + 1, false))?;
            f.write_str(" occurs ")?;
            write_constraint(f, constraint, ctx)
        }
        ExprKind::If { test, then, otherwise } => {
            f.write_str("if(")?;
            write_expr(f, test, TOP)?;
            f.write_str(", ")?;
            write_expr(f, then, TOP)?;
            f.write_str(", ")?;
            write_expr(f, otherwise, TOP)?;
            f.write_char(')')
        }
        ExprKind::Quantified { quantifier, bindings } => {
            f.write_str(match quantifier {
                crate::ast::Quantifier::Exists => "exists ",
                crate::ast::Quantifier::Forall => "forall ",
            })?;
            for (i, binding) in bindings.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                let last = i + 1 == bindings.len();
                write_binding(f, binding, ctx.with(OPEN, last))?;
            }
            Ok(())
        }
        ExprKind::Select { var, source, condition } => {
            write!(f, "select {} from ", var.name)?;
            write_expr(f, source, ctx.with(OPEN, false))?;
            f.write_str(" where ")?;
            write_expr(f, condition, ctx.with(OPEN, true))
        }
        ExprKind::Let { var, value, body } => {
            write!(f, "let {} = ", var.name)?;
            write_expr(f, value, Ctx { prec: OPEN, tail: false, no_in: true })?;
            f.write_str(" in ")?;
            write_expr(f, body, ctx.with(OPEN, true))
        }
        ExprKind::Aggregate { func, value, var, source, condition } => {
            write!(f, "{} ", func.keyword())?;
            write_expr(f, value, ctx.with(OPEN, false))?;
            write!(f, " over {} from ", var.name)?;
            write_expr(f, source, ctx.with(OPEN, condition.is_none()))?;
            if let Some(condition) = condition {
                f.write_str(" where ")?;
                write_expr(f, condition, ctx.with(OPEN, true))?;
            }
            Ok(())
        }
        ExprKind::Chain { source, timestamp, steps } => {
            f.write_str("CHAIN(")?;
            write_expr(f, source, TOP)?;
            f.write_str(", ")?;
            write_expr(f, timestamp, TOP)?;
            f.write_str(", [")?;
            for (i, step) in steps.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_step(f, step)?;
            }
            f.write_str("])")
        }
    }
}

fn write_binding(f: &mut Formatter<'_>, binding: &Binding, ctx: Ctx) -> fmt::Result {
    write!(f, "{} from ", binding.var.name)?;
    write_expr(f, &binding.source, ctx.with(OPEN, false))?;
    f.write_str(" where ")?;
    write_expr(f, &binding.condition, ctx)
}

fn write_step(f: &mut Formatter<'_>, step: &ChainStep) -> fmt::Result {
    write!(f, "{}: WHAT(", step.label.name)?;
    write_expr(f, &step.what, TOP)?;
    f.write_char(')')?;
    if let Some(when) = &step.when {
        f.write_str(" WHEN(")?;
        write_constraint(f, when, TOP)?;
        f.write_char(')')?;
    }
    Ok(())
}

fn write_constraint(f: &mut Formatter<'_>, constraint: &TimeConstraint, ctx: Ctx) -> fmt::Result {
    let time = ctx.with(POSTFIX, false);
    match &constraint.kind {
        TimeConstraintKind::Offset { comparison, amount, unit, direction, anchor } => {
            if let Some(op) = comparison {
                write!(f, "{} ", op.symbol())?;
            }
            let unit = if *amount == 1 { unit.singular() } else { unit.plural() };
            write!(f, "{amount} {unit} {} ", direction.keyword())?;
            write_expr(f, anchor, time)
        }
        TimeConstraintKind::Relative { direction, anchor } => {
            write!(f, "{} ", direction.keyword())?;
            write_expr(f, anchor, time)
        }
        TimeConstraintKind::On(anchor) => {
            if !matches!(anchor.kind, ExprKind::Time(_)) {
                f.write_str("on ")?;
            }
            write_expr(f, anchor, time)
        }
        TimeConstraintKind::Between { start, end } => {
            f.write_str("between ")?;
            write_expr(f, start, time)?;
            f.write_str(" and ")?;
            write_expr(f, end, time)
        }
    }
}

/// `s` as a PQL string literal, with `"`, `\` and control characters escaped.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.params.is_empty() {
            f.write_char('(')?;
            for (i, param) in self.params.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(&param.name)?;
            }
            f.write_str(") => ")?;
        }
        write_expr(f, &self.body, TOP)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_expr(f, self, TOP)
    }
}

impl Display for TimeConstraint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_constraint(f, self, TOP)
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => f.write_str(&quote(s)),
            Literal::Int(n) => write!(f, "{n}"),
            // `Debug` keeps a `.0` or an exponent, so the text reads back as a double.
            Literal::Double(d) => write!(f, "{d:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

impl Display for TimeLiteral {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TimeLiteral::Now => f.write_str("now"),
            TimeLiteral::Today => f.write_str("today"),
            TimeLiteral::Yesterday => f.write_str("yesterday"),
            TimeLiteral::Tomorrow => f.write_str("tomorrow"),
            TimeLiteral::Period { relative, unit } => write!(f, "{} {}", relative.keyword(), unit.singular()),
        }
    }
}

impl Display for Path {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut segments = self.segments.iter();
        match &self.root {
            PathRoot::Implicit => match segments.next() {
                Some(first) => f.write_str(&first.name)?,
                None => return Ok(()),
            },
            PathRoot::Param { name: Some(name), .. } | PathRoot::Var(name) => f.write_str(&name.name)?,
            PathRoot::Param { index, name: None } => write!(f, "${index}")?,
            PathRoot::Caret(levels) => f.write_str(&"^".repeat(*levels as usize))?,
        }
        for segment in segments {
            write!(f, ".{}", segment.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_strings_with_escapes() {
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }

    #[test]
    fn doubles_keep_a_fraction_or_exponent() {
        assert_eq!(Literal::Double(1.0).to_string(), "1.0");
        assert_eq!(Literal::Double(1e300).to_string(), "1e300");
        assert_eq!(Literal::Double(-0.25).to_string(), "-0.25");
    }
}
