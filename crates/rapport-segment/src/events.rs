//! Experience-event conditions: what a person audience can say about the person's events (`xEvent`).
//!
//! Every event construct of PQL binds to one [`EventCond`] on the person:
//!
//! | PQL | condition |
//! | --- | --- |
//! | `select X from xEvent where c`, `exists X from xEvent where c`, `xEvent[c]` | at least one event satisfies `c` |
//! | `forall X from xEvent where c` | no event fails `c` |
//! | `xEvent.f > 0` | some event's `f` is greater than 0 |
//! | `xEvent[c].count() >= 3`, `xEvent.count() = 0` | the number of events satisfying `c` compared with a number |
//! | `xEvent[c].sum(f) > 100`, `xEvent[c].f.average() < 5`, `(sum X.f over X from xEvent where c) > 1`; also `min`, `max` | an aggregate of a numeric event field over the events satisfying `c` |
//! | `CHAIN(xEvent, timestamp, [C0: WHAT(a) WHEN(t), C1: WHAT(b)])` | events satisfying each step, in timestamp order |
//!
//! Inside an event condition, `E.timestamp occurs <time>` tests an event's date-time field against a window
//! resolved from the evaluation time `now` ([`rapport_profile::EventLog::now`], the clock when unset): time words
//! (`now`, `today`, `yesterday`, `tomorrow`, `this`/`last`/`next` + unit), `date(y, m, d)` and timestamp strings;
//! forms `occurs [on] T`, `before T` (earlier than T's start), `after T` (from T's end), `from T` (from T's
//! start), `between T1 and T2` (from T1's start to T2's end), and `[cmp] n units before|after T` measured from T's
//! start: `<= 3 days before now` is the last three days, `> 3 days before now` anything older, and `= 3 days
//! before now` (or no comparison) the fourth day back, i.e. more than 3 and at most 4 days ago. Calendar units
//! (month, year, …) move along the calendar; weeks start on Monday; every calendar computation is in UTC.
//!
//! A person's events are at most the latest [`rapport_profile::SEGMENTATION_EVENT_LIMIT`] (the guardrail of
//! B2B-DOMAIN h.4). Batch evaluation copies the event fields a plan reads into an [`EventTable`] (part of the
//! [`crate::Columns`]) and tests each candidate person's events; single-profile evaluation reads the graph's
//! [`rapport_profile::EventLog`]. An event arriving is a change of its person for [`crate::Incremental`]. Time
//! passing alone changes no input: audiences with relative time windows need a periodic batch evaluation to
//! drop people whose events aged out.

use std::collections::BTreeSet;
use std::fmt;

use rapport_model::{EntityKind, FieldPath, Projection, Record};
use rapport_pql::ast::{
    AggregateFn, BinaryOp, CompareOp, Direction, Expr, ExprKind, Literal, PathRoot, PeriodRelative, Quantifier,
    TimeConstraint, TimeConstraintKind, TimeLiteral, TimeUnit, UnaryOp,
};
use rapport_pql::Diagnostic;
use rapport_profile::events::{civil, days_from_civil, format_timestamp, parse_timestamp};
use rapport_profile::ProfileGraph;
use serde_json::Value;

use crate::bind::{Binder, Scope};
use crate::bits::Bits;
use crate::plan::RowExpr;
use crate::row;

type Result<T> = std::result::Result<T, Diagnostic>;

const DAY_MS: i64 = 86_400_000;

/// What is measured over the events that satisfy a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// How many.
    Count,
    /// The sum of a numeric value (0 over no event).
    Sum(RowExpr),
    /// The average (none over no event: the comparison is false).
    Average(RowExpr),
    /// The smallest value.
    Min(RowExpr),
    /// The largest value.
    Max(RowExpr),
}

/// A condition on one event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventPred {
    /// Every event.
    True,
    /// Every operand holds.
    And(Vec<EventPred>),
    /// Some operand holds.
    Or(Vec<EventPred>),
    /// The operand does not hold.
    Not(Box<EventPred>),
    /// A row expression on the event record.
    Row(RowExpr),
    /// `field occurs <window>`: the date-time at `field` falls in the window.
    Occurs {
        /// The event field (usually `timestamp`).
        field: FieldPath,
        /// The window, resolved against the evaluation time.
        window: Window,
    },
}

/// A time a window is anchored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// A relative time word (`now`, `today`, `last month`, …).
    Word(TimeLiteral),
    /// A calendar day (`date(2026, 1, 31)`, `"2026-01-31"`): days since 1970-01-01.
    Day(i64),
    /// An instant (`"2026-01-31T10:00:00Z"`): milliseconds since the Unix epoch.
    Instant(i64),
}

/// The time condition of `occurs` or `WHEN(…)`, before resolution.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// `[on] T`: within T.
    On(Anchor),
    /// `before T` / `after T` / `from T`.
    Relative(Direction, Anchor),
    /// `between T1 and T2`.
    Between(Anchor, Anchor),
    /// `[cmp] n unit before|after|from T`.
    Offset {
        /// The comparison of the distance with `n` units (`=` when absent).
        op: Option<CompareOp>,
        /// The number of units.
        amount: u64,
        /// The unit.
        unit: TimeUnit,
        /// Before or after T.
        direction: Direction,
        /// T.
        anchor: Anchor,
    },
}

/// A condition on a person's experience events.
#[derive(Debug, Clone, PartialEq)]
pub enum EventCond {
    /// A measure over the events satisfying `filter`, compared with a number.
    Aggregate {
        /// What is measured.
        measure: Measure,
        /// Which events count.
        filter: EventPred,
        /// The comparison.
        op: CompareOp,
        /// The number compared with.
        value: f64,
    },
    /// `CHAIN`: one event per step, each satisfying its step, in timestamp order.
    Sequence(Vec<EventPred>),
}

// ----------------------------------------------------------------------------------------------------------
// Binding

fn is_xevent(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Path(path) => {
            matches!(path.root, PathRoot::Implicit | PathRoot::Param { index: 1, .. })
                && path.segments.first().is_some_and(|s| s.name == "xEvent")
        }
        ExprKind::Filter { target, .. } | ExprKind::Member { target, .. } => is_xevent(target),
        ExprKind::Call { target: Some(target), .. } => is_xevent(target),
        ExprKind::Aggregate { source, .. } => is_xevent(source),
        _ => false,
    }
}

/// True when `expr` is an event condition of the audience's person (bound by [`bind`]).
pub(crate) fn is_event_cond(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Select { source, .. } => is_xevent(source),
        ExprKind::Quantified { bindings, .. } => is_xevent(&bindings[0].source),
        ExprKind::Chain { .. } => true,
        ExprKind::Binary { op: BinaryOp::Compare(_), lhs, rhs } => is_xevent(lhs) || is_xevent(rhs),
        ExprKind::Filter { .. } | ExprKind::Path(_) => is_xevent(expr),
        _ => false,
    }
}

fn compare_value(op: CompareOp, x: f64, y: f64) -> bool {
    match op {
        CompareOp::Eq => x == y,
        CompareOp::NotEq => x != y,
        CompareOp::Lt => x < y,
        CompareOp::Le => x <= y,
        CompareOp::Gt => x > y,
        CompareOp::Ge => x >= y,
    }
}

fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        other => other,
    }
}

fn number(expr: &Expr) -> Option<f64> {
    match &expr.kind {
        ExprKind::Literal(Literal::Int(i)) => Some(*i as f64),
        ExprKind::Literal(Literal::Double(d)) => Some(*d),
        ExprKind::Unary { op: UnaryOp::Neg, expr } => number(expr).map(|x| -x),
        _ => None,
    }
}

fn at_least_one(filter: EventPred) -> EventCond {
    EventCond::Aggregate { measure: Measure::Count, filter, op: CompareOp::Ge, value: 1.0 }
}

impl<'a> Binder<'a> {
    fn event_scope(&self, var: Option<&str>) -> Scope<'a> {
        Scope {
            entity: EntityKind::Activity,
            schema: self.schemas.activity(),
            var: var.map(str::to_owned),
            outer: Vec::new(),
        }
    }

    /// Binds an event condition ([`is_event_cond`]) of the audience's persons.
    pub(crate) fn events(&self, expr: &Expr, scope: &Scope<'a>) -> Result<EventCond> {
        if scope.entity != EntityKind::Person || scope.var.is_some() {
            return Err(Diagnostic::new(
                expr.span,
                format!("experience events (`xEvent`) belong to persons, not to {}", scope.entity),
            )
            .with_hint("build the event audience separately and reference it with `inSegment(\"…\")`"));
        }
        match &expr.kind {
            ExprKind::Select { var, source, condition } => {
                self.only_xevent(source)?;
                Ok(at_least_one(self.event_pred(condition, &self.event_scope(Some(&var.name)))?))
            }
            ExprKind::Quantified { quantifier, bindings } => {
                let (first, rest) = bindings.split_first().expect("the parser never yields an empty binding list");
                self.only_xevent(&first.source)?;
                let event = self.event_scope(Some(&first.var.name));
                let mut filter = self.event_pred(&first.condition, &event)?;
                if !rest.is_empty() {
                    if *quantifier == Quantifier::Forall {
                        return Err(Diagnostic::new(first.span, "a chained `forall` over events is not supported"));
                    }
                    // The next bindings range over arrays of the event: a row quantifier on the event.
                    let span = rest[0].span.to(rest[rest.len() - 1].span);
                    let nested =
                        Expr::new(ExprKind::Quantified { quantifier: *quantifier, bindings: rest.to_vec() }, span);
                    filter = EventPred::And(vec![filter, EventPred::Row(self.row(&nested, &event, &mut Vec::new())?)]);
                }
                Ok(match quantifier {
                    Quantifier::Exists => at_least_one(filter),
                    Quantifier::Forall => EventCond::Aggregate {
                        measure: Measure::Count,
                        filter: EventPred::Not(Box::new(filter)),
                        op: CompareOp::Eq,
                        value: 0.0,
                    },
                })
            }
            ExprKind::Chain { source, timestamp, steps } => {
                self.only_xevent(source)?;
                let ExprKind::Path(ts) = &timestamp.kind else {
                    return Err(Diagnostic::new(timestamp.span, "the second argument of CHAIN is an event field"));
                };
                let event = self.event_scope(None);
                let (_, ty) = self.typed(timestamp, &event, &mut Vec::new())?;
                if !matches!(ty, Some(rapport_schema::FieldType::DateTime | rapport_schema::FieldType::Date)) {
                    return Err(Diagnostic::new(timestamp.span, "CHAIN orders events by a date-time field"));
                }
                let field = FieldPath::from_segments(ts.segments.iter().map(|s| s.name.clone()));
                if field.to_string() != "timestamp" {
                    return Err(Diagnostic::new(timestamp.span, "CHAIN orders events by `timestamp` only"));
                }
                let mut out = Vec::new();
                for step in steps {
                    let mut pred = self.event_pred(&step.what, &event)?;
                    if let Some(when) = &step.when {
                        let window = EventPred::Occurs { field: field.clone(), window: self.window(when)? };
                        pred = EventPred::And(vec![pred, window]);
                    }
                    out.push(pred);
                }
                Ok(EventCond::Sequence(out))
            }
            ExprKind::Binary { op: BinaryOp::Compare(op), lhs, rhs } => {
                let (side, op, other) = if is_xevent(lhs) { (lhs, *op, rhs) } else { (rhs, flip(*op), lhs) };
                if let Some((measure, filter)) = self.measure(side)? {
                    let value = number(other).ok_or_else(|| {
                        Diagnostic::new(other.span, "an event count or aggregate is compared with a number literal")
                    })?;
                    return Ok(EventCond::Aggregate { measure, filter, op, value });
                }
                // `xEvent.f op literal`: some event's field compares.
                let (field, filter) = self.event_path(side)?;
                let event = self.event_scope(None);
                let compared = if is_xevent(lhs) {
                    Expr::new(
                        ExprKind::Binary { op: BinaryOp::Compare(op), lhs: Box::new(field), rhs: other.clone() },
                        expr.span,
                    )
                } else {
                    Expr::new(
                        ExprKind::Binary { op: BinaryOp::Compare(flip(op)), lhs: other.clone(), rhs: Box::new(field) },
                        expr.span,
                    )
                };
                let test = EventPred::Row(self.row(&compared, &event, &mut Vec::new())?);
                Ok(at_least_one(and(filter, test)))
            }
            ExprKind::Filter { target, predicate } => {
                self.only_xevent(target)?;
                Ok(at_least_one(self.event_pred(predicate, &self.event_scope(None))?))
            }
            ExprKind::Path(_) => {
                let (field, filter) = self.event_path(expr)?;
                let test = EventPred::Row(self.row(&field, &self.event_scope(None), &mut Vec::new())?);
                Ok(at_least_one(and(filter, test)))
            }
            _ => Err(Diagnostic::new(expr.span, "not an event condition")),
        }
    }

    fn only_xevent(&self, source: &Expr) -> Result<()> {
        match &source.kind {
            ExprKind::Path(path) if is_xevent(source) && path.segments.len() == 1 => Ok(()),
            _ => Err(Diagnostic::new(source.span, "events are read from `xEvent` itself").with_hint(
                "filter with `where` or `xEvent[…]`, e.g. `select E from xEvent where E.eventType = \"…\"`",
            )),
        }
    }

    /// `xEvent` or `xEvent[c]`: the filter.
    fn event_set(&self, expr: &Expr) -> Result<Option<EventPred>> {
        match &expr.kind {
            ExprKind::Path(path) if is_xevent(expr) && path.segments.len() == 1 => Ok(Some(EventPred::True)),
            ExprKind::Filter { target, predicate } if is_xevent(target) => {
                let outer = self.event_set(target)?.ok_or_else(|| {
                    Diagnostic::new(target.span, "filter `xEvent` or an already filtered `xEvent[…]`")
                })?;
                Ok(Some(and(outer, self.event_pred(predicate, &self.event_scope(None))?)))
            }
            _ => Ok(None),
        }
    }

    /// A path below the events (`xEvent.a.b` or `xEvent[c].a.b`): the field as an event-relative path expression
    /// and the filter.
    fn event_path(&self, expr: &Expr) -> Result<(Expr, EventPred)> {
        let bad = || Diagnostic::new(expr.span, "expected a field of the events, e.g. `xEvent.eventType`");
        match &expr.kind {
            ExprKind::Path(path) if is_xevent(expr) && path.segments.len() > 1 => {
                let below = rapport_pql::ast::Path { root: PathRoot::Implicit, segments: path.segments[1..].to_vec() };
                Ok((Expr::new(ExprKind::Path(below), expr.span), EventPred::True))
            }
            ExprKind::Member { target, segments } => {
                let filter = self.event_set(target)?.ok_or_else(bad)?;
                let below = rapport_pql::ast::Path { root: PathRoot::Implicit, segments: segments.clone() };
                Ok((Expr::new(ExprKind::Path(below), expr.span), filter))
            }
            _ => Err(bad()),
        }
    }

    /// A count or aggregate over events, when `expr` is one.
    fn measure(&self, expr: &Expr) -> Result<Option<(Measure, EventPred)>> {
        let event = self.event_scope(None);
        match &expr.kind {
            ExprKind::Call { target: Some(target), name, args } => {
                let kind = name.name.as_str();
                if !matches!(kind, "count" | "sum" | "average" | "min" | "max") {
                    return Ok(None);
                }
                let (filter, value) = match self.event_set(target)? {
                    Some(filter) => match (kind, args.as_slice()) {
                        ("count", []) => (filter, None),
                        (_, [arg]) if kind != "count" => (filter, Some(self.row(arg, &event, &mut Vec::new())?)),
                        _ => {
                            return Err(Diagnostic::new(
                                expr.span,
                                format!(
                                    "`{kind}` over events takes {}",
                                    if kind == "count" { "no argument" } else { "the event field to aggregate" }
                                ),
                            ))
                        }
                    },
                    None if kind != "count" && args.is_empty() => {
                        let (field, filter) = self.event_path(target)?;
                        (filter, Some(self.row(&field, &event, &mut Vec::new())?))
                    }
                    None => return Ok(None),
                };
                let measure = match (kind, value) {
                    ("count", _) => Measure::Count,
                    ("sum", Some(v)) => Measure::Sum(v),
                    ("average", Some(v)) => Measure::Average(v),
                    ("min", Some(v)) => Measure::Min(v),
                    (_, Some(v)) => Measure::Max(v),
                    _ => unreachable!("every aggregate but count has a value"),
                };
                Ok(Some((measure, filter)))
            }
            ExprKind::Aggregate { func, value, var, source, condition } => {
                self.only_xevent(source)?;
                let scope = self.event_scope(Some(&var.name));
                let filter = match condition {
                    Some(c) => self.event_pred(c, &scope)?,
                    None => EventPred::True,
                };
                let v = self.row(value, &scope, &mut Vec::new())?;
                let measure = match func {
                    AggregateFn::Count => Measure::Count,
                    AggregateFn::Sum => Measure::Sum(v),
                    AggregateFn::Average => Measure::Average(v),
                    AggregateFn::Min => Measure::Min(v),
                    AggregateFn::Max => Measure::Max(v),
                };
                Ok(Some((measure, filter)))
            }
            _ => Ok(None),
        }
    }

    /// A condition on one event, in the event scope `event`.
    fn event_pred(&self, expr: &Expr, event: &Scope<'a>) -> Result<EventPred> {
        match &expr.kind {
            ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs } => {
                let items = vec![self.event_pred(lhs, event)?, self.event_pred(rhs, event)?];
                Ok(if *op == BinaryOp::And { EventPred::And(items) } else { EventPred::Or(items) })
            }
            ExprKind::Unary { op: UnaryOp::Not, expr: inner } => {
                Ok(EventPred::Not(Box::new(self.event_pred(inner, event)?)))
            }
            ExprKind::Occurs { expr: value, constraint } => {
                let (bound, ty) = self.typed(value, event, &mut Vec::new())?;
                let RowExpr::Field { root: crate::plan::Root::Record, path } = bound else {
                    return Err(Diagnostic::new(value.span, "`occurs` tests a date-time field of the event"));
                };
                if !matches!(ty, Some(rapport_schema::FieldType::DateTime | rapport_schema::FieldType::Date)) {
                    return Err(Diagnostic::new(value.span, format!("`{path}` is not a date or date-time field")));
                }
                Ok(EventPred::Occurs { field: path, window: self.window(constraint)? })
            }
            ExprKind::Path(path) if matches!(path.root, PathRoot::Caret(_)) => {
                Err(Diagnostic::new(expr.span, "`^` (a field of the profile inside an event filter) is not supported")
                    .with_hint("combine the profile condition with the event condition using `and` outside the filter"))
            }
            _ => Ok(EventPred::Row(self.row(expr, event, &mut Vec::new())?)),
        }
    }

    fn anchor(&self, expr: &Expr) -> Result<Anchor> {
        let bad = || {
            Diagnostic::new(
                expr.span,
                "a time is a time word (`now`, `today`, `last month`, …), `date(y, m, d)` or a timestamp string",
            )
        };
        match &expr.kind {
            ExprKind::Time(word) => Ok(Anchor::Word(*word)),
            ExprKind::Literal(Literal::String(text)) => {
                let ms = parse_timestamp(text).ok_or_else(bad)?;
                Ok(if text.trim().len() == 10 { Anchor::Day(ms.div_euclid(DAY_MS)) } else { Anchor::Instant(ms) })
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
                    [y, m, d] if args.len() == 3 && (1..=12).contains(m) && (1..=31).contains(d) => {
                        let days = days_from_civil(*y, *m as u32, *d as u32);
                        // Reject dates that do not exist (31 April): they would roll over.
                        if civil(days) != (*y, *m as u32, *d as u32) {
                            return Err(Diagnostic::new(
                                expr.span,
                                format!("date({y}, {m}, {d}) is not a calendar date"),
                            ));
                        }
                        Ok(Anchor::Day(days))
                    }
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }

    fn window(&self, constraint: &TimeConstraint) -> Result<Window> {
        Ok(match &constraint.kind {
            TimeConstraintKind::On(t) => Window::On(self.anchor(t)?),
            TimeConstraintKind::Relative { direction, anchor } => Window::Relative(*direction, self.anchor(anchor)?),
            TimeConstraintKind::Between { start, end } => Window::Between(self.anchor(start)?, self.anchor(end)?),
            TimeConstraintKind::Offset { comparison, amount, unit, direction, anchor } => Window::Offset {
                op: *comparison,
                amount: *amount,
                unit: *unit,
                direction: *direction,
                anchor: self.anchor(anchor)?,
            },
        })
    }
}

fn and(a: EventPred, b: EventPred) -> EventPred {
    match (a, b) {
        (EventPred::True, x) | (x, EventPred::True) => x,
        (EventPred::And(mut items), x) => {
            items.push(x);
            EventPred::And(items)
        }
        (x, y) => EventPred::And(vec![x, y]),
    }
}

// ----------------------------------------------------------------------------------------------------------
// Time

/// Moves `ms` by `k` units; calendar units move along the calendar (the day clamped to the month's length).
pub fn shift(ms: i64, unit: TimeUnit, k: i64) -> i64 {
    let fixed = |d: i64| ms.saturating_add(k.saturating_mul(d));
    let months = match unit {
        TimeUnit::Millisecond => return fixed(1),
        TimeUnit::Second => return fixed(1000),
        TimeUnit::Minute => return fixed(60_000),
        TimeUnit::Hour => return fixed(3_600_000),
        TimeUnit::Day => return fixed(DAY_MS),
        TimeUnit::Week => return fixed(7 * DAY_MS),
        TimeUnit::Month => 1,
        TimeUnit::Year => 12,
        TimeUnit::Decade => 120,
        TimeUnit::Century => 1200,
        TimeUnit::Millennium => 12_000,
    };
    let (days, time) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    let (y, m, d) = civil(days);
    let total = y * 12 + i64::from(m) - 1 + k.saturating_mul(months);
    let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let last = civil(days_from_civil(if nm == 12 { ny + 1 } else { ny }, if nm == 12 { 1 } else { nm + 1 }, 1) - 1).2;
    days_from_civil(ny, nm, d.min(last)) * DAY_MS + time
}

/// The start of the `unit` period holding `ms`.
fn period_start(ms: i64, unit: TimeUnit) -> i64 {
    let floor = |d: i64| ms.div_euclid(d) * d;
    let days = ms.div_euclid(DAY_MS);
    let (y, m, _) = civil(days);
    let year_start = |y: i64| days_from_civil(y, 1, 1) * DAY_MS;
    match unit {
        TimeUnit::Millisecond => ms,
        TimeUnit::Second => floor(1000),
        TimeUnit::Minute => floor(60_000),
        TimeUnit::Hour => floor(3_600_000),
        TimeUnit::Day => floor(DAY_MS),
        // 1970-01-01 was a Thursday: Monday is day 3 of the week counted from Thursday.
        TimeUnit::Week => (days - (days + 3).rem_euclid(7)) * DAY_MS,
        TimeUnit::Month => days_from_civil(y, m, 1) * DAY_MS,
        TimeUnit::Year => year_start(y),
        TimeUnit::Decade => year_start(y - y.rem_euclid(10)),
        TimeUnit::Century => year_start(y - y.rem_euclid(100)),
        TimeUnit::Millennium => year_start(y - y.rem_euclid(1000)),
    }
}

/// The span `[start, end)` an anchor denotes at evaluation time `now`.
fn span(anchor: Anchor, now: i64) -> (i64, i64) {
    let day = |ms: i64| {
        let s = period_start(ms, TimeUnit::Day);
        (s, s + DAY_MS)
    };
    match anchor {
        Anchor::Instant(ms) => (ms, ms + 1),
        Anchor::Day(d) => (d * DAY_MS, (d + 1) * DAY_MS),
        Anchor::Word(TimeLiteral::Now) => (now, now + 1),
        Anchor::Word(TimeLiteral::Today) => day(now),
        Anchor::Word(TimeLiteral::Yesterday) => day(now - DAY_MS),
        Anchor::Word(TimeLiteral::Tomorrow) => day(now + DAY_MS),
        Anchor::Word(TimeLiteral::Period { relative, unit }) => {
            let start = period_start(now, unit);
            let k = match relative {
                PeriodRelative::This => 0,
                PeriodRelative::Last => -1,
                PeriodRelative::Next => 1,
            };
            (shift(start, unit, k), shift(start, unit, k + 1))
        }
    }
}

/// A window resolved at an evaluation time: a union of half-open intervals of milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervals(pub Vec<(i64, i64)>);

impl Intervals {
    /// Whether `t` falls in one of the intervals.
    pub fn contains(&self, t: i64) -> bool {
        self.0.iter().any(|&(a, b)| (a..b).contains(&t))
    }
}

impl Window {
    /// Whether an anchor of the window is a time word.
    fn depends_on_now(&self) -> bool {
        let word = |a: &Anchor| matches!(a, Anchor::Word(_));
        match self {
            Window::On(a) | Window::Relative(_, a) | Window::Offset { anchor: a, .. } => word(a),
            Window::Between(a, b) => word(a) || word(b),
        }
    }

    /// The window at evaluation time `now` (milliseconds since the Unix epoch).
    pub fn resolve(&self, now: i64) -> Intervals {
        const MIN: i64 = i64::MIN;
        const MAX: i64 = i64::MAX;
        Intervals(match *self {
            Window::On(a) => vec![span(a, now)],
            Window::Relative(Direction::Before, a) => vec![(MIN, span(a, now).0)],
            Window::Relative(Direction::After, a) => vec![(span(a, now).1, MAX)],
            Window::Relative(Direction::From, a) => vec![(span(a, now).0, MAX)],
            Window::Between(a, b) => vec![(span(a, now).0, span(b, now).1)],
            Window::Offset { op, amount, unit, direction, anchor } => {
                let x = span(anchor, now).0;
                let n = i64::try_from(amount).unwrap_or(i64::MAX);
                let op = op.unwrap_or(CompareOp::Eq);
                if direction == Direction::Before {
                    let b = |k: i64| shift(x, unit, -k);
                    match op {
                        CompareOp::Le => vec![(b(n), x + 1)],
                        CompareOp::Lt => vec![(b(n) + 1, x + 1)],
                        CompareOp::Ge => vec![(MIN, b(n) + 1)],
                        CompareOp::Gt => vec![(MIN, b(n))],
                        CompareOp::Eq => vec![(b(n + 1) + 1, b(n) + 1)],
                        CompareOp::NotEq => vec![(MIN, b(n + 1) + 1), (b(n) + 1, x + 1)],
                    }
                } else {
                    let b = |k: i64| shift(x, unit, k);
                    match op {
                        CompareOp::Le => vec![(x, b(n) + 1)],
                        CompareOp::Lt => vec![(x, b(n))],
                        CompareOp::Ge => vec![(b(n), MAX)],
                        CompareOp::Gt => vec![(b(n) + 1, MAX)],
                        CompareOp::Eq => vec![(b(n), b(n + 1))],
                        CompareOp::NotEq => vec![(x, b(n)), (b(n + 1), MAX)],
                    }
                }
            }
        })
    }
}

// ----------------------------------------------------------------------------------------------------------
// Evaluation

/// One event as evaluation reads it.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) timestamp: Option<i64>,
    pub(crate) record: Record,
}

/// The events of every person, projected to the fields a plan reads, with the evaluation time. Part of
/// [`crate::Columns`]; empty for plans without event conditions.
#[derive(Debug, Clone, Default)]
pub struct EventTable {
    projection: Option<Projection>,
    persons: Vec<Vec<EventRow>>,
    pub(crate) now: i64,
}

impl EventTable {
    /// Copies the events the plan's event conditions read (nothing when it has none).
    pub(crate) fn for_cond(cond: &crate::plan::Cond, graph: &ProfileGraph) -> Self {
        let mut fields = BTreeSet::new();
        let mut any = false;
        collect(cond, &mut fields, &mut any);
        if !any {
            return Self::default();
        }
        fields.insert(FieldPath::from_segments(["timestamp"]));
        let mut table = Self { projection: Some(Projection::new(&fields)), persons: Vec::new(), now: 0 };
        table.grow(graph);
        for person in 0..table.persons.len() {
            table.refresh(graph, person as u32);
        }
        table
    }

    /// Follows the graph's person count and evaluation time.
    pub(crate) fn grow(&mut self, graph: &ProfileGraph) {
        if self.projection.is_none() {
            return;
        }
        self.now = graph.events.now_ms();
        let len = graph.set(EntityKind::Person).len();
        if self.persons.len() < len {
            self.persons.resize_with(len, Vec::new);
        }
    }

    /// Rereads one person's events.
    pub(crate) fn refresh(&mut self, graph: &ProfileGraph, person: u32) {
        let Some(projection) = &self.projection else { return };
        let Some(slot) = self.persons.get_mut(person as usize) else { return };
        *slot = graph
            .events
            .events(person)
            .iter()
            .map(|e| EventRow { timestamp: e.timestamp, record: projection.apply(&e.record) })
            .collect();
    }

    fn events(&self, person: u32) -> &[EventRow] {
        self.persons.get(person as usize).map_or(&[], Vec::as_slice)
    }
}

fn collect(cond: &crate::plan::Cond, out: &mut BTreeSet<FieldPath>, any: &mut bool) {
    use crate::plan::Cond;
    match cond {
        Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| collect(c, out, any)),
        Cond::Not(inner) => collect(inner, out, any),
        Cond::Related { cond, .. } => collect(cond, out, any),
        Cond::Row(_) => {}
        Cond::Events(ev) => {
            *any = true;
            ev.fields(out);
        }
    }
}

impl EventPred {
    /// Whether an `occurs` below is anchored at a time word.
    fn depends_on_now(&self) -> bool {
        match self {
            EventPred::True | EventPred::Row(_) => false,
            EventPred::And(items) | EventPred::Or(items) => items.iter().any(EventPred::depends_on_now),
            EventPred::Not(inner) => inner.depends_on_now(),
            EventPred::Occurs { window, .. } => window.depends_on_now(),
        }
    }

    fn fields(&self, out: &mut BTreeSet<FieldPath>) {
        match self {
            EventPred::True => {}
            EventPred::And(items) | EventPred::Or(items) => items.iter().for_each(|p| p.fields(out)),
            EventPred::Not(inner) => inner.fields(out),
            EventPred::Row(expr) => expr.collect_fields(&mut Vec::new(), out),
            EventPred::Occurs { field, .. } => {
                out.insert(field.clone());
            }
        }
    }

    fn resolve(&self, now: i64) -> Resolved<'_> {
        match self {
            EventPred::True => Resolved::True,
            EventPred::And(items) => Resolved::And(items.iter().map(|p| p.resolve(now)).collect()),
            EventPred::Or(items) => Resolved::Or(items.iter().map(|p| p.resolve(now)).collect()),
            EventPred::Not(inner) => Resolved::Not(Box::new(inner.resolve(now))),
            EventPred::Row(expr) => Resolved::Row(expr),
            EventPred::Occurs { field, window } => Resolved::Occurs(field, window.resolve(now)),
        }
    }
}

/// An event predicate with its windows resolved.
enum Resolved<'a> {
    True,
    And(Vec<Resolved<'a>>),
    Or(Vec<Resolved<'a>>),
    Not(Box<Resolved<'a>>),
    Row(&'a RowExpr),
    Occurs(&'a FieldPath, Intervals),
}

impl Resolved<'_> {
    fn holds(&self, timestamp: Option<i64>, record: &Record) -> bool {
        match self {
            Resolved::True => true,
            Resolved::And(items) => items.iter().all(|p| p.holds(timestamp, record)),
            Resolved::Or(items) => items.iter().any(|p| p.holds(timestamp, record)),
            Resolved::Not(inner) => !inner.holds(timestamp, record),
            Resolved::Row(expr) => row::holds(expr, record),
            Resolved::Occurs(field, window) => {
                let t = if field.segments() == ["timestamp"] {
                    timestamp
                } else {
                    field.get(record).and_then(Value::as_str).and_then(parse_timestamp)
                };
                t.is_some_and(|t| window.contains(t))
            }
        }
    }
}

fn numeric(expr: &RowExpr, record: &Record) -> Vec<f64> {
    match row::eval(expr, record, &mut Vec::new()) {
        Value::Number(n) => n.as_f64().into_iter().collect(),
        Value::Array(items) => items.iter().filter_map(Value::as_f64).collect(),
        _ => Vec::new(),
    }
}

/// What a condition measured for one person: the measure (`None` when undefined, as an average of nothing)
/// and how many events passed the filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) holds: bool,
    pub(crate) measured: Option<f64>,
    pub(crate) matched: usize,
}

/// A resolved event condition.
enum Ready<'a> {
    Aggregate { measure: &'a Measure, filter: Resolved<'a>, op: CompareOp, value: f64 },
    Sequence(Vec<Resolved<'a>>),
}

impl EventCond {
    /// Whether some window of the condition is anchored at a time word, so that its answer moves with `now`.
    pub fn depends_on_now(&self) -> bool {
        match self {
            EventCond::Aggregate { filter, .. } => filter.depends_on_now(),
            EventCond::Sequence(steps) => steps.iter().any(EventPred::depends_on_now),
        }
    }

    fn fields(&self, out: &mut BTreeSet<FieldPath>) {
        match self {
            EventCond::Aggregate { measure, filter, .. } => {
                filter.fields(out);
                if let Measure::Sum(e) | Measure::Average(e) | Measure::Min(e) | Measure::Max(e) = measure {
                    e.collect_fields(&mut Vec::new(), out);
                }
            }
            EventCond::Sequence(steps) => steps.iter().for_each(|s| s.fields(out)),
        }
    }

    fn ready(&self, now: i64) -> Ready<'_> {
        match self {
            EventCond::Aggregate { measure, filter, op, value } => {
                Ready::Aggregate { measure, filter: filter.resolve(now), op: *op, value: *value }
            }
            EventCond::Sequence(steps) => Ready::Sequence(steps.iter().map(|s| s.resolve(now)).collect()),
        }
    }
}

impl Ready<'_> {
    fn outcome<'e>(&self, events: impl Iterator<Item = (Option<i64>, &'e Record)>) -> Outcome {
        match self {
            Ready::Aggregate { measure, filter, op, value } => {
                let mut matched = 0usize;
                let (mut sum, mut n, mut min, mut max) = (0.0, 0usize, f64::INFINITY, f64::NEG_INFINITY);
                for (ts, record) in events {
                    if !filter.holds(ts, record) {
                        continue;
                    }
                    matched += 1;
                    if let Measure::Sum(e) | Measure::Average(e) | Measure::Min(e) | Measure::Max(e) = measure {
                        for x in numeric(e, record) {
                            sum += x;
                            n += 1;
                            min = min.min(x);
                            max = max.max(x);
                        }
                    }
                }
                let measured = match measure {
                    Measure::Count => Some(matched as f64),
                    Measure::Sum(_) => Some(sum),
                    Measure::Average(_) => (n > 0).then(|| sum / n as f64),
                    Measure::Min(_) => (n > 0).then_some(min),
                    Measure::Max(_) => (n > 0).then_some(max),
                };
                Outcome { holds: measured.is_some_and(|m| compare_value(*op, m, *value)), measured, matched }
            }
            Ready::Sequence(steps) => {
                // Greedy: the earliest event for each step leaves the most room for the next ones.
                let mut step = 0;
                for (ts, record) in events {
                    if step < steps.len() && steps[step].holds(ts, record) {
                        step += 1;
                    }
                }
                Outcome { holds: step == steps.len(), measured: Some(step as f64), matched: step }
            }
        }
    }
}

/// The persons among `candidates` (all `len` when `None`) whose events satisfy `cond`.
pub(crate) fn evaluate(cond: &EventCond, table: &EventTable, len: usize, candidates: Option<&Bits>) -> Bits {
    let ready = cond.ready(table.now);
    let holds = |p: u32| ready.outcome(table.events(p).iter().map(|e| (e.timestamp, &e.record))).holds;
    let mut out = Bits::zeros(len);
    match candidates {
        Some(c) => c.iter().filter(|&p| holds(p)).for_each(|p| out.set(p)),
        None => (0..len as u32).filter(|&p| holds(p)).for_each(|p| out.set(p)),
    }
    out
}

/// What `cond` measures for person `person` of the graph, evaluated on its own.
pub(crate) fn outcome_one(cond: &EventCond, graph: &ProfileGraph, person: u32) -> Outcome {
    let ready = cond.ready(graph.events.now_ms());
    ready.outcome(graph.events.events(person).iter().map(|e| (e.timestamp, &e.record)))
}

/// The `why` trace of an event condition for one person.
pub(crate) fn trace(cond: &EventCond, graph: &ProfileGraph, person: u32) -> crate::why::Trace {
    let outcome = outcome_one(cond, graph, person);
    let total = graph.events.events(person).len();
    let note = match cond {
        EventCond::Aggregate { measure: Measure::Count, .. } => {
            format!("{} of {total} event(s) match", outcome.matched)
        }
        EventCond::Aggregate { .. } => format!(
            "{} of {total} event(s) match; measured {}",
            outcome.matched,
            outcome.measured.map_or("nothing".to_owned(), |m| m.to_string())
        ),
        EventCond::Sequence(steps) => {
            format!("{} of {} step(s) found in {total} event(s)", outcome.matched, steps.len())
        }
    };
    crate::why::Trace {
        condition: format!("Events {cond}"),
        holds: outcome.holds,
        entity: None,
        values: Vec::new(),
        note: Some(format!("{note} (now = {})", format_timestamp(graph.events.now_ms()))),
        children: Vec::new(),
    }
}

// ----------------------------------------------------------------------------------------------------------
// Printing

fn op_text(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::NotEq => "!=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    }
}

fn unit_text(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Millisecond => "millisecond",
        TimeUnit::Second => "second",
        TimeUnit::Minute => "minute",
        TimeUnit::Hour => "hour",
        TimeUnit::Day => "day",
        TimeUnit::Week => "week",
        TimeUnit::Month => "month",
        TimeUnit::Year => "year",
        TimeUnit::Decade => "decade",
        TimeUnit::Century => "century",
        TimeUnit::Millennium => "millennium",
    }
}

fn direction_text(direction: Direction) -> &'static str {
    match direction {
        Direction::Before => "before",
        Direction::After => "after",
        Direction::From => "from",
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anchor::Word(TimeLiteral::Now) => f.write_str("now"),
            Anchor::Word(TimeLiteral::Today) => f.write_str("today"),
            Anchor::Word(TimeLiteral::Yesterday) => f.write_str("yesterday"),
            Anchor::Word(TimeLiteral::Tomorrow) => f.write_str("tomorrow"),
            Anchor::Word(TimeLiteral::Period { relative, unit }) => {
                let r = match relative {
                    PeriodRelative::This => "this",
                    PeriodRelative::Last => "last",
                    PeriodRelative::Next => "next",
                };
                write!(f, "{r} {}", unit_text(*unit))
            }
            Anchor::Day(d) => {
                let (y, m, day) = civil(*d);
                write!(f, "date({y}, {m}, {day})")
            }
            Anchor::Instant(ms) => write!(f, "\"{}\"", format_timestamp(*ms)),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::On(a) => write!(f, "{a}"),
            Window::Relative(d, a) => write!(f, "{} {a}", direction_text(*d)),
            Window::Between(a, b) => write!(f, "between {a} and {b}"),
            Window::Offset { op, amount, unit, direction, anchor } => {
                if let Some(op) = op {
                    write!(f, "{} ", op_text(*op))?;
                }
                write!(f, "{amount} {}(s) {} {anchor}", unit_text(*unit), direction_text(*direction))
            }
        }
    }
}

impl fmt::Display for EventPred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[EventPred], sep: &str| {
            f.write_str("(")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(")")
        };
        match self {
            EventPred::True => f.write_str("true"),
            EventPred::And(items) => join(f, items, " and "),
            EventPred::Or(items) => join(f, items, " or "),
            EventPred::Not(inner) => write!(f, "not {inner}"),
            EventPred::Row(expr) => write!(f, "{expr}"),
            EventPred::Occurs { field, window } => write!(f, "({field} occurs {window})"),
        }
    }
}

impl fmt::Display for EventCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventCond::Aggregate { measure, filter, op, value } => {
                match measure {
                    Measure::Count => f.write_str("count()")?,
                    Measure::Sum(e) => write!(f, "sum({e})")?,
                    Measure::Average(e) => write!(f, "average({e})")?,
                    Measure::Min(e) => write!(f, "min({e})")?,
                    Measure::Max(e) => write!(f, "max({e})")?,
                }
                write!(f, " {} {value} where {filter}", op_text(*op))
            }
            EventCond::Sequence(steps) => {
                f.write_str("chain [")?;
                for (i, step) in steps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "C{i}: {step}")?;
                }
                f.write_str("]")
            }
        }
    }
}

// ----------------------------------------------------------------------------------------------------------
// SQL

/// The SQL text of an event window over the `timestamptz` expression `t`, with the window's bounds written as
/// PostgreSQL expressions over `now()` (so the text does not depend on when it was generated).
fn window_sql(window: &Window, t: &str) -> String {
    fn anchor_span(a: Anchor) -> (String, String) {
        let period = |unit: &str, start: String| {
            (format!("date_trunc('{unit}', {start})"), format!("date_trunc('{unit}', {start}) + interval '1 {unit}'"))
        };
        match a {
            Anchor::Word(TimeLiteral::Now) => ("now()".into(), "now()".into()),
            Anchor::Word(TimeLiteral::Today) => period("day", "now()".into()),
            Anchor::Word(TimeLiteral::Yesterday) => period("day", "now() - interval '1 day'".into()),
            Anchor::Word(TimeLiteral::Tomorrow) => period("day", "now() + interval '1 day'".into()),
            Anchor::Word(TimeLiteral::Period { relative, unit }) => {
                let u = unit_text(unit);
                let start = match relative {
                    PeriodRelative::This => "now()".to_owned(),
                    PeriodRelative::Last => format!("now() - interval '1 {u}'"),
                    PeriodRelative::Next => format!("now() + interval '1 {u}'"),
                };
                period(u, start)
            }
            Anchor::Day(d) => {
                let (y, m, day) = civil(d);
                let s = format!("timestamptz '{y:04}-{m:02}-{day:02}T00:00:00Z'");
                (s.clone(), format!("{s} + interval '1 day'"))
            }
            Anchor::Instant(ms) => {
                let s = format!("timestamptz '{}'", format_timestamp(ms));
                (s.clone(), s)
            }
        }
    }
    match window {
        Window::On(a) => {
            let (s, e) = anchor_span(*a);
            format!("({t} >= {s} AND {t} < {e})")
        }
        Window::Relative(Direction::Before, a) => format!("{t} < {}", anchor_span(*a).0),
        Window::Relative(Direction::After, a) => format!("{t} >= {}", anchor_span(*a).1),
        Window::Relative(Direction::From, a) => format!("{t} >= {}", anchor_span(*a).0),
        Window::Between(a, b) => format!("({t} >= {} AND {t} < {})", anchor_span(*a).0, anchor_span(*b).1),
        Window::Offset { op, amount, unit, direction, anchor } => {
            let x = anchor_span(*anchor).0;
            let u = unit_text(*unit);
            let sign = if *direction == Direction::Before { "-" } else { "+" };
            let b = |k: u64| format!("({x} {sign} interval '{k} {u}')");
            let (n, n1) = (b(*amount), b(amount + 1));
            let (lo, hi) =
                if *direction == Direction::Before { (n.clone(), x.clone()) } else { (x.clone(), n.clone()) };
            match (op.unwrap_or(CompareOp::Eq), *direction == Direction::Before) {
                (CompareOp::Le, _) => format!("({t} >= {lo} AND {t} <= {hi})"),
                (CompareOp::Lt, true) => format!("({t} > {n} AND {t} <= {x})"),
                (CompareOp::Lt, false) => format!("({t} >= {x} AND {t} < {n})"),
                (CompareOp::Ge, true) => format!("{t} <= {n}"),
                (CompareOp::Gt, true) => format!("{t} < {n}"),
                (CompareOp::Ge, false) => format!("{t} >= {n}"),
                (CompareOp::Gt, false) => format!("{t} > {n}"),
                (CompareOp::Eq, true) => format!("({t} > {n1} AND {t} <= {n})"),
                (CompareOp::Eq, false) => format!("({t} >= {n} AND {t} < {n1})"),
                (CompareOp::NotEq, true) => format!("({t} <= {x} AND NOT ({t} > {n1} AND {t} <= {n}))"),
                (CompareOp::NotEq, false) => format!("({t} >= {x} AND NOT ({t} >= {n} AND {t} < {n1}))"),
            }
        }
    }
}

impl EventPred {
    pub(crate) fn sql(&self, alias: &str, row: &mut dyn FnMut(&RowExpr, &str) -> String) -> String {
        match self {
            EventPred::True => "TRUE".to_owned(),
            EventPred::And(items) | EventPred::Or(items) => {
                let sep = if matches!(self, EventPred::And(_)) { " AND " } else { " OR " };
                let parts: Vec<String> = items.iter().map(|p| p.sql(alias, row)).collect();
                format!("({})", parts.join(sep))
            }
            EventPred::Not(inner) => format!("({}) IS NOT TRUE", inner.sql(alias, row)),
            EventPred::Row(expr) => row(expr, alias),
            EventPred::Occurs { field, window } => {
                let path = field.segments().iter().map(|s| s.replace('\'', "''")).collect::<Vec<_>>().join(",");
                window_sql(window, &format!("({alias}.record #>> '{{{path}}}')::timestamptz"))
            }
        }
    }
}

/// The SQL of an event condition on the person row `person` (alias of a `person` CTE row): subqueries over the
/// store's `experience_events (dataset, event_id, person_ns, person_value, ts, record)` table, one row per event,
/// linked to the person through any identity of its profile.
pub(crate) fn to_sql(
    cond: &EventCond,
    person: &str,
    alias: &str,
    row: &mut dyn FnMut(&RowExpr, &str) -> String,
) -> String {
    let owns = |a: &str| {
        format!(
            "({a}.person_ns, {a}.person_value) IN (SELECT i.ns, i.value FROM profile_identities i \
             WHERE i.entity = 'person' AND i.profile_id = {person}.profile_id)"
        )
    };
    let from = format!("FROM experience_events {alias} WHERE {}", owns(alias));
    match cond {
        EventCond::Aggregate { measure, filter, op, value } => {
            let filter = filter.sql(alias, row);
            let measured = match measure {
                Measure::Count => "count(*)".to_owned(),
                Measure::Sum(e) => format!("COALESCE(sum(({})::numeric), 0)", row(e, alias)),
                Measure::Average(e) => format!("avg(({})::numeric)", row(e, alias)),
                Measure::Min(e) => format!("min(({})::numeric)", row(e, alias)),
                Measure::Max(e) => format!("max(({})::numeric)", row(e, alias)),
            };
            format!("(SELECT {measured} {from} AND {filter}) {} {value}", op_text(*op))
        }
        EventCond::Sequence(steps) => {
            // Step i's event strictly after step i-1's, by timestamp: nested EXISTS.
            let mut text = String::from("TRUE");
            for (i, step) in steps.iter().enumerate().rev() {
                let a = format!("{alias}_{i}");
                let step_sql = step.sql(&a, row);
                // `ts` holds milliseconds since the Unix epoch.
                let after = if i > 0 { format!(" AND {a}.ts > {alias}_{}.ts", i - 1) } else { String::new() };
                text = format!(
                    "EXISTS (SELECT 1 FROM experience_events {a} WHERE {}{after} AND {step_sql} AND {text})",
                    owns(&a)
                );
            }
            text
        }
    }
}
