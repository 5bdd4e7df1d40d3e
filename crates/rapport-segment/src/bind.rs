//! Binding: checks a parsed PQL query against the B2B schemas and turns it into a [`Plan`].
//!
//! Relationship quantifiers (`exists A from accounts where …`) become entity-level [`Cond::Related`] nodes;
//! everything on one entity's own record becomes a [`RowExpr`]. Field names are checked against the entity's
//! union schema, with "did you mean" hints; comparisons of a typed field with a literal of another type are
//! refused. Inside a relationship quantifier, fields are named through its variable (`A.accountName`); a
//! condition that mixes two entities (a correlated condition) is refused with an explanation.

use rapport_model::{EntityKind, FieldPath};
use rapport_pql::ast::{BinaryOp, Binding, CompareOp, Expr, ExprKind, Literal, Path, PathRoot, Quantifier, UnaryOp};
use rapport_pql::{Diagnostic, Span};
use rapport_schema::{FieldType, Schema, SchemaSet};
use serde_json::Value;

use crate::plan::{Arith, Cond, Func, Plan, Root, RowExpr};

type Result<T> = std::result::Result<T, Diagnostic>;

/// The entity-level scope: which class the current condition is about and how it is named.
#[derive(Clone)]
pub(crate) struct Scope<'a> {
    pub(crate) entity: EntityKind,
    pub(crate) schema: &'a Schema,
    /// The quantifier variable naming this entity; `None` for the audience's own entity.
    pub(crate) var: Option<String>,
    /// Variables of enclosing relationship quantifiers (naming other entities).
    pub(crate) outer: Vec<String>,
}

/// The saved audiences `inSegment("…")` may reference, and the chain of references being bound (to report
/// cycles).
pub struct Audiences<'a> {
    lookup: &'a dyn Fn(&str) -> Option<(EntityKind, String)>,
    stack: std::cell::RefCell<Vec<String>>,
}

impl<'a> Audiences<'a> {
    /// Audiences found by name through `lookup`, which answers the class of the audience's members and its
    /// PQL text.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<(EntityKind, String)>) -> Self {
        Self { lookup, stack: std::cell::RefCell::new(Vec::new()) }
    }
}

/// A row-level local: an element of an array field, bound by a row-level quantifier.
pub(crate) struct Local {
    name: String,
    /// The schema path of the array the element comes from.
    prefix: FieldPath,
}

fn navigation(from: EntityKind, name: &str) -> Option<EntityKind> {
    rapport_profile::NAVIGATIONS.iter().find(|(f, n, _)| *f == from && *n == name).map(|(_, _, to)| *to)
}

fn navigation_names(from: EntityKind) -> Vec<&'static str> {
    rapport_profile::NAVIGATIONS.iter().filter(|(f, _, _)| *f == from).map(|(_, n, _)| *n).collect()
}

fn unsupported(span: Span, what: &str) -> Diagnostic {
    Diagnostic::new(span, format!("{what} is valid PQL but Rapport does not evaluate it yet"))
}

fn path_text(path: &Path) -> String {
    path.segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(".")
}

fn path_span(path: &Path, fallback: Span) -> Span {
    match (path.segments.first(), path.segments.last()) {
        (Some(first), Some(last)) => first.span.to(last.span),
        _ => fallback,
    }
}

/// Binds a parsed query for an audience whose members are of class `entity`.
pub fn bind(query: &rapport_pql::Query, entity: EntityKind, schemas: &SchemaSet) -> Result<Plan> {
    bind_with(query, entity, schemas, None)
}

/// Binds a parsed query whose `inSegment("…")` references are resolved through `audiences` (inlined: the
/// referenced audience's condition replaces the call, so every evaluation sees one plan).
pub fn bind_with(
    query: &rapport_pql::Query,
    entity: EntityKind,
    schemas: &SchemaSet,
    audiences: Option<&Audiences<'_>>,
) -> Result<Plan> {
    let schema = schemas
        .for_entity(entity)
        .ok_or_else(|| Diagnostic::new(query.body.span, format!("no schema is registered for {entity}")))?;
    let binder = Binder { schemas, audiences };
    let scope = Scope { entity, schema, var: None, outer: Vec::new() };
    Ok(Plan { entity, root: binder.cond(&query.body, &scope)? })
}

pub(crate) struct Binder<'a> {
    pub(crate) schemas: &'a SchemaSet,
    audiences: Option<&'a Audiences<'a>>,
}

impl<'a> Binder<'a> {
    fn cond(&self, expr: &Expr, scope: &Scope<'a>) -> Result<Cond> {
        match &expr.kind {
            ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs } => {
                let mut items = Vec::new();
                for side in [lhs, rhs] {
                    match (self.cond(side, scope)?, op) {
                        (Cond::And(inner), BinaryOp::And) | (Cond::Or(inner), BinaryOp::Or) => items.extend(inner),
                        (other, _) => items.push(other),
                    }
                }
                Ok(if *op == BinaryOp::And { Cond::And(items) } else { Cond::Or(items) })
            }
            ExprKind::Unary { op: UnaryOp::Not, expr: inner } => Ok(Cond::Not(Box::new(self.cond(inner, scope)?))),
            ExprKind::Quantified { quantifier, bindings } if self.related(&bindings[0].source, scope).is_some() => {
                self.related_chain(*quantifier, bindings, scope)
            }
            ExprKind::Call { target: None, name, args } if name.name == "inSegment" => {
                self.in_segment(expr.span, args, scope)
            }
            _ if crate::events::is_event_cond(expr) => Ok(Cond::Events(self.events(expr, scope)?)),
            _ => Ok(Cond::Row(self.row(expr, scope, &mut Vec::new())?)),
        }
    }

    /// `inSegment("name")`: the referenced audience's condition, bound in turn (cycles refused).
    fn in_segment(&self, span: Span, args: &[Expr], scope: &Scope<'a>) -> Result<Cond> {
        let [arg] = args else {
            return Err(Diagnostic::new(span, "`inSegment` takes one argument, the audience's name"));
        };
        let ExprKind::Literal(Literal::String(name)) = &arg.kind else {
            return Err(Diagnostic::new(arg.span, "the argument of `inSegment` is a string literal"));
        };
        let Some(audiences) = self.audiences else {
            return Err(Diagnostic::new(span, "`inSegment` needs the saved audiences; none are available here"));
        };
        let (entity, text) =
            (audiences.lookup)(name).ok_or_else(|| Diagnostic::new(arg.span, format!("unknown audience `{name}`")))?;
        if entity != scope.entity {
            return Err(Diagnostic::new(
                arg.span,
                format!("audience `{name}` has {entity} members; it cannot qualify a {}", scope.entity),
            ));
        }
        if audiences.stack.borrow().contains(name) {
            let mut chain = audiences.stack.borrow().clone();
            chain.push(name.clone());
            return Err(Diagnostic::new(
                arg.span,
                format!("audience `{name}` depends on itself: {}", chain.join(" -> ")),
            )
            .with_hint("an audience cannot reference itself, directly or through other audiences"));
        }
        let query = rapport_pql::parse(&text).map_err(|inner| {
            Diagnostic::new(arg.span, format!("audience `{name}` does not parse: {}", inner.message))
        })?;
        audiences.stack.borrow_mut().push(name.clone());
        let bound = bind_with(&query, entity, self.schemas, Some(audiences));
        audiences.stack.borrow_mut().pop();
        match bound {
            Ok(plan) => Ok(plan.root),
            // A cycle found deeper is reported at this call, with the whole chain.
            Err(inner) if inner.message.contains("depends on itself") => {
                Err(Diagnostic::new(arg.span, inner.message.clone())
                    .with_hint("an audience cannot reference itself, directly or through other audiences"))
            }
            Err(inner) => Err(Diagnostic::new(arg.span, format!("audience `{name}` does not bind: {}", inner.message))),
        }
    }

    /// The navigation a quantifier source names, when it is `name`, `$1.name`, `Profile.name` or `V.name` with
    /// `V` the variable of the current scope.
    fn related(&self, source: &Expr, scope: &Scope<'a>) -> Option<(String, EntityKind)> {
        let ExprKind::Path(path) = &source.kind else { return None };
        let [segment] = path.segments.as_slice() else { return None };
        let rooted_here = match (&path.root, &scope.var) {
            (PathRoot::Implicit | PathRoot::Param { index: 1, .. }, None) => true,
            (PathRoot::Var(v), Some(var)) => &v.name == var,
            _ => false,
        };
        if !rooted_here {
            return None;
        }
        navigation(scope.entity, &segment.name).map(|to| (segment.name.clone(), to))
    }

    fn related_chain(&self, quantifier: Quantifier, bindings: &[Binding], scope: &Scope<'a>) -> Result<Cond> {
        let (first, rest) = bindings.split_first().expect("the parser never yields an empty binding list");
        let (name, to) =
            self.related(&first.source, scope).ok_or_else(|| {
                Diagnostic::new(first.source.span, "a chained binding must range over a relationship").with_hint(
                    format!("relationships of {}: {}", scope.entity, navigation_names(scope.entity).join(", ")),
                )
            })?;
        if quantifier == Quantifier::Forall && !rest.is_empty() {
            return Err(unsupported(first.span.to(rest[rest.len() - 1].span), "a chained `forall`"));
        }
        let schema = self
            .schemas
            .for_entity(to)
            .ok_or_else(|| Diagnostic::new(first.source.span, format!("no schema is registered for {to}")))?;
        let mut outer = scope.outer.clone();
        outer.extend(scope.var.clone());
        let inner = Scope { entity: to, schema, var: Some(first.var.name.clone()), outer };
        let mut cond = self.cond(&first.condition, &inner)?;
        let mut siblings = Vec::new();
        if !rest.is_empty() {
            // The next binding ranges over this variable's relationships, or independently over the outer
            // entity's (then the two quantifiers are simply conjoined).
            if self.related(&rest[0].source, &inner).is_some() {
                cond = Cond::And(vec![cond, self.related_chain(quantifier, rest, &inner)?]);
            } else {
                siblings.push(self.related_chain(quantifier, rest, scope)?);
            }
        }
        let node = Cond::Related { quantifier, from: scope.entity, navigation: name, to, cond: Box::new(cond) };
        Ok(if siblings.is_empty() {
            node
        } else {
            siblings.insert(0, node);
            Cond::And(siblings)
        })
    }

    fn check_field(&self, scope: &Scope<'a>, full: &FieldPath, span: Span) -> Result<Option<FieldType>> {
        if full.segments().is_empty() {
            return Ok(None);
        }
        if let Some(field) = scope.schema.field(full) {
            return Ok(Some(field.ty.clone()));
        }
        let text = full.to_string();
        if navigation(scope.entity, &full.segments()[0]).is_some() {
            return Err(Diagnostic::new(
                span,
                format!("`{}` is a relationship of {}, not a field", full.segments()[0], scope.entity),
            )
            .with_hint(format!("quantify over it: `exists X from {} where (…)`", full.segments()[0])));
        }
        let mut diagnostic =
            Diagnostic::new(span, format!("unknown field `{text}` on {} ({})", scope.schema.name, scope.entity));
        let navigations = navigation_names(scope.entity);
        let close_navigation =
            navigations.iter().find(|n| strsim::normalized_levenshtein(n, &full.segments()[0]) >= 0.7).copied();
        if let Some(suggestion) = scope.schema.suggest(&text) {
            diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
        } else if let Some(nav) = close_navigation {
            diagnostic = diagnostic.with_hint(format!("did you mean the relationship `{nav}`?"));
        }
        Err(diagnostic)
    }

    /// Binds a path, returning the expression and the schema type of the field it names (when known).
    fn path(
        &self,
        path: &Path,
        span: Span,
        scope: &Scope<'a>,
        locals: &[Local],
    ) -> Result<(RowExpr, Option<FieldType>)> {
        let below = FieldPath::from_segments(path.segments.iter().map(|s| s.name.clone()));
        let whole = path_span(path, span);
        let (root, prefix) = match &path.root {
            PathRoot::Implicit | PathRoot::Param { index: 1, .. } if scope.var.is_none() => {
                (Root::Record, FieldPath::from_segments(Vec::<String>::new()))
            }
            PathRoot::Implicit | PathRoot::Param { .. } => {
                let var = scope.var.as_deref().unwrap_or("X");
                return Err(Diagnostic::new(
                    whole,
                    format!(
                        "`{}` names a field of the audience's profile inside a quantifier over {}",
                        path_text(path),
                        scope.entity
                    ),
                )
                .with_hint(format!(
                    "a quantifier's `where` extends to the end of the text: to test the profile, wrap the quantifier \
                     in parentheses, `(exists … where (…)) and {}`; to test the related {}, write `{var}.{}`",
                    path_text(path),
                    scope.entity,
                    path_text(path)
                )));
            }
            PathRoot::Var(ident) => {
                if let Some(index) = locals.iter().rposition(|l| l.name == ident.name) {
                    (Root::Local(index), locals[index].prefix.clone())
                } else if scope.var.as_deref() == Some(ident.name.as_str()) {
                    (Root::Record, FieldPath::from_segments(Vec::<String>::new()))
                } else if scope.outer.contains(&ident.name) {
                    return Err(Diagnostic::new(
                        ident.span,
                        format!("`{}` names an outer entity inside a quantifier over {}", ident.name, scope.entity),
                    )
                    .with_hint("conditions that mix two entities are not supported yet"));
                } else {
                    return Err(Diagnostic::new(ident.span, format!("`{}` is not bound here", ident.name)));
                }
            }
            PathRoot::Caret(_) => return Err(unsupported(span, "a `^` reference")),
        };
        let mut full = prefix.clone();
        for segment in below.segments() {
            full = full.child(segment);
        }
        let ty = if full.segments().is_empty() { None } else { self.check_field(scope, &full, whole)? };
        Ok((RowExpr::Field { root, path: below }, ty))
    }

    pub(crate) fn row(&self, expr: &Expr, scope: &Scope<'a>, locals: &mut Vec<Local>) -> Result<RowExpr> {
        Ok(self.typed(expr, scope, locals)?.0)
    }

    pub(crate) fn typed(
        &self,
        expr: &Expr,
        scope: &Scope<'a>,
        locals: &mut Vec<Local>,
    ) -> Result<(RowExpr, Option<FieldType>)> {
        let plain = |e| Ok((e, None));
        match &expr.kind {
            ExprKind::Literal(literal) => plain(RowExpr::Literal(match literal {
                Literal::String(s) => Value::from(s.as_str()),
                Literal::Int(i) => Value::from(*i),
                Literal::Double(d) => Value::from(*d),
                Literal::Bool(b) => Value::from(*b),
                Literal::Null => Value::Null,
            })),
            ExprKind::Array(items) => {
                let items = items.iter().map(|e| self.row(e, scope, locals)).collect::<Result<_>>()?;
                plain(RowExpr::Array(items))
            }
            ExprKind::Path(path) => self.path(path, expr.span, scope, locals),
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, lt) = self.typed(lhs, scope, locals)?;
                let (r, rt) = self.typed(rhs, scope, locals)?;
                let (l, r) = (Box::new(l), Box::new(r));
                plain(match op {
                    BinaryOp::And => RowExpr::And(vec![*l, *r]),
                    BinaryOp::Or => RowExpr::Or(vec![*l, *r]),
                    BinaryOp::Compare(op) => {
                        check_comparison(*op, (&l, lt.as_ref(), lhs.span), (&r, rt.as_ref(), rhs.span))?;
                        RowExpr::Compare(*op, l, r)
                    }
                    BinaryOp::Add => RowExpr::Arith(Arith::Add, l, r),
                    BinaryOp::Sub => RowExpr::Arith(Arith::Sub, l, r),
                    BinaryOp::Mul => RowExpr::Arith(Arith::Mul, l, r),
                    BinaryOp::Div => RowExpr::Arith(Arith::Div, l, r),
                    BinaryOp::Rem => RowExpr::Arith(Arith::Rem, l, r),
                })
            }
            ExprKind::Unary { op, expr: inner } => {
                let inner = Box::new(self.row(inner, scope, locals)?);
                plain(if *op == UnaryOp::Not { RowExpr::Not(inner) } else { RowExpr::Neg(inner) })
            }
            ExprKind::In { expr: value, list, negated } => plain(RowExpr::In {
                expr: Box::new(self.row(value, scope, locals)?),
                list: Box::new(self.row(list, scope, locals)?),
                negated: *negated,
            }),
            ExprKind::Like { expr: value, pattern } => {
                let ExprKind::Literal(Literal::String(text)) = &pattern.kind else {
                    return Err(Diagnostic::new(pattern.span, "the pattern of `like` must be a string literal"));
                };
                plain(RowExpr::Like { expr: Box::new(self.row(value, scope, locals)?), pattern: text.clone() })
            }
            ExprKind::If { test, then, otherwise } => plain(RowExpr::If(
                Box::new(self.row(test, scope, locals)?),
                Box::new(self.row(then, scope, locals)?),
                Box::new(self.row(otherwise, scope, locals)?),
            )),
            ExprKind::Call { target: Some(target), name, args } => {
                let func = Func::from_name(&name.name).ok_or_else(|| {
                    let best = Func::ALL
                        .iter()
                        .map(|f| f.signature().0)
                        .max_by(|a, b| {
                            strsim::normalized_levenshtein(a, &name.name)
                                .total_cmp(&strsim::normalized_levenshtein(b, &name.name))
                        })
                        .unwrap_or("includes");
                    Diagnostic::new(name.span, format!("unknown or unsupported function `{}`", name.name))
                        .with_hint(format!("did you mean `{best}`?"))
                })?;
                let (fname, arity) = func.signature();
                if !arity.contains(&args.len()) {
                    return Err(Diagnostic::new(
                        expr.span,
                        format!("`{fname}` takes {} argument(s), found {}", describe(&arity), args.len()),
                    ));
                }
                let mut bound = vec![self.row(target, scope, locals)?];
                for arg in args {
                    bound.push(self.row(arg, scope, locals)?);
                }
                plain(RowExpr::Call(func, bound))
            }
            ExprKind::Call { target: None, name, args } if name.name == "date" => {
                let parts: Vec<i64> = args
                    .iter()
                    .filter_map(|a| match a.kind {
                        ExprKind::Literal(Literal::Int(i)) => Some(i),
                        _ => None,
                    })
                    .collect();
                match parts.as_slice() {
                    [y, m, d] if args.len() == 3 => {
                        let valid = chrono_like_date(*y, *m, *d).ok_or_else(|| {
                            Diagnostic::new(expr.span, format!("date({y}, {m}, {d}) is not a calendar date"))
                        })?;
                        plain(RowExpr::Literal(Value::from(valid)))
                    }
                    _ => Err(Diagnostic::new(expr.span, "`date` takes three integer literals: date(year, month, day)")),
                }
            }
            ExprKind::Call { target: None, name, .. } => Err(unsupported(name.span, &format!("`{}(…)`", name.name))),
            ExprKind::Quantified { quantifier, bindings } => self.row_quantified(*quantifier, bindings, scope, locals),
            ExprKind::Time(_) => Err(unsupported(expr.span, "a relative time word")),
            ExprKind::Member { .. } => Err(unsupported(expr.span, "a field of a computed value")),
            ExprKind::Filter { .. } => Err(unsupported(expr.span, "the filter operator `[…]`")),
            ExprKind::Select { .. } => Err(unsupported(expr.span, "`select … from`")),
            ExprKind::Let { .. } => Err(unsupported(expr.span, "`let … in`")),
            ExprKind::Aggregate { .. } => Err(unsupported(expr.span, "an aggregate `… over … from`")),
            ExprKind::Occurs { .. } => Err(unsupported(expr.span, "`occurs`")),
            ExprKind::Chain { .. } => Err(unsupported(expr.span, "`CHAIN(…)`")),
        }
    }

    fn row_quantified(
        &self,
        quantifier: Quantifier,
        bindings: &[Binding],
        scope: &Scope<'a>,
        locals: &mut Vec<Local>,
    ) -> Result<(RowExpr, Option<FieldType>)> {
        let (first, rest) = bindings.split_first().expect("the parser never yields an empty binding list");
        if quantifier == Quantifier::Forall && !rest.is_empty() {
            return Err(unsupported(first.span, "a chained `forall`"));
        }
        if let Some((name, _)) = self.related(&first.source, scope) {
            return Err(Diagnostic::new(
                first.source.span,
                format!("the relationship `{name}` cannot be quantified inside a row condition"),
            )
            .with_hint(
                "a quantifier's `where` extends to the end of the text: wrap the quantifier before it in \
                 parentheses, `(exists … where …) and exists …`; relationships cannot be used inside functions or `if`",
            ));
        }
        let (source, ty) = self.typed(&first.source, scope, locals)?;
        let RowExpr::Field { root, path } = &source else {
            return Err(Diagnostic::new(first.source.span, "a quantifier must range over an array field"));
        };
        if !matches!(ty, Some(FieldType::Array(_))) {
            return Err(Diagnostic::new(
                first.source.span,
                format!("`{path}` is not an array field; `exists`/`forall` range over arrays or relationships"),
            ));
        }
        let mut prefix = match root {
            Root::Record => FieldPath::from_segments(Vec::<String>::new()),
            Root::Local(i) => locals[*i].prefix.clone(),
        };
        for segment in path.segments() {
            prefix = prefix.child(segment);
        }
        let local = locals.len();
        locals.push(Local { name: first.var.name.clone(), prefix });
        let mut cond = self.row(&first.condition, scope, locals)?;
        if !rest.is_empty() {
            let (next, _) = self.row_quantified(quantifier, rest, scope, locals)?;
            cond = RowExpr::And(vec![cond, next]);
        }
        locals.truncate(local);
        Ok((RowExpr::Quantified { quantifier, local, source: Box::new(source), cond: Box::new(cond) }, None))
    }
}

fn describe(range: &std::ops::RangeInclusive<usize>) -> String {
    if range.start() == range.end() {
        range.start().to_string()
    } else {
        format!("{} to {}", range.start(), range.end())
    }
}

fn chrono_like_date(y: i64, m: i64, d: i64) -> Option<String> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    ((1..=9999).contains(&y) && (1..=days).contains(&d)).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// Refuses comparisons of a typed field with a literal of an incompatible type.
fn check_comparison(
    op: CompareOp,
    left: (&RowExpr, Option<&FieldType>, Span),
    right: (&RowExpr, Option<&FieldType>, Span),
) -> Result<()> {
    for ((expr, ty, _), (other, _, other_span)) in [(left, right), (right, left)] {
        let (RowExpr::Field { path, .. }, Some(ty), RowExpr::Literal(value)) = (expr, ty, other) else { continue };
        let ok = match (ty, value) {
            (_, Value::Null) => true,
            (FieldType::Boolean, Value::Bool(_)) => true,
            (FieldType::Number | FieldType::Integer, Value::Number(_)) => true,
            (FieldType::String | FieldType::Date | FieldType::DateTime, Value::String(_)) => true,
            (FieldType::Array(_) | FieldType::Object | FieldType::Map, _) => false,
            _ => false,
        };
        if !ok {
            let mut diagnostic =
                Diagnostic::new(other_span, format!("`{path}` is a {ty} field and cannot be compared with {value}"));
            if let FieldType::Array(_) = ty {
                diagnostic = diagnostic.with_hint(format!("test membership with `{path}.includes({value})`"));
            } else if op == CompareOp::Eq && matches!(ty, FieldType::Boolean) {
                diagnostic = diagnostic.with_hint(format!("write `{path} = true` or `{path} = false`"));
            }
            return Err(diagnostic);
        }
    }
    Ok(())
}
