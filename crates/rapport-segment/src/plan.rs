//! The typed plan of an audience: entity-level conditions (boolean algebra and relationship quantifiers, evaluated
//! with bitmaps) over row-level expressions (evaluated on one merged record). Plans print as indented text, which
//! tests and `explain` share.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rapport_model::{EntityKind, FieldPath};
use rapport_pql::ast::{CompareOp, Quantifier};
use serde_json::Value;

/// A bound, checked audience definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The class of the audience's members.
    pub entity: EntityKind,
    /// The condition a member satisfies.
    pub root: Cond,
}

/// A condition on the entities of one class.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Every operand holds.
    And(Vec<Cond>),
    /// Some operand holds.
    Or(Vec<Cond>),
    /// The operand does not hold (two-valued: a missing value makes a comparison false, its negation true).
    Not(Box<Cond>),
    /// A quantifier over related entities: `exists A from accounts where …`.
    Related {
        /// `exists` or `forall` (`forall` holds vacuously when nothing is related).
        quantifier: Quantifier,
        /// The class navigated from.
        from: EntityKind,
        /// The navigation's name, e.g. `accounts`.
        navigation: String,
        /// The class navigated to.
        to: EntityKind,
        /// The condition on the related entities.
        cond: Box<Cond>,
    },
    /// A condition on each entity's own merged record.
    Row(RowExpr),
    /// A condition on a person's experience events (`xEvent`); see [`crate::events`].
    Events(crate::events::EventCond),
}

/// Where a field path starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// The entity's merged record.
    Record,
    /// An element bound by a row-level quantifier (index into the locals).
    Local(usize),
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

/// A function or method the evaluator implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `a.includes(x)`: the array holds `x`.
    Includes,
    /// `a.intersects(b)`: the arrays share an element.
    Intersects,
    /// `a.count()`: number of elements (0 for a missing value).
    Count,
    /// `a.distinct()`: the distinct elements.
    Distinct,
    /// `a.sum()`, `a.average()`, `a.min()`, `a.max()` over numbers.
    Sum,
    /// Average of numbers.
    Average,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// `s.startsWith(x[, caseSensitive])`.
    StartsWith,
    /// `s.doesNotStartWith(x[, caseSensitive])`.
    DoesNotStartWith,
    /// `s.endsWith(x[, caseSensitive])`.
    EndsWith,
    /// `s.doesNotEndWith(x[, caseSensitive])`.
    DoesNotEndWith,
    /// `s.contains(x[, caseSensitive])`.
    Contains,
    /// `s.doesNotContain(x[, caseSensitive])`.
    DoesNotContain,
    /// `s.equals(x[, caseSensitive])`.
    Equals,
    /// `s.notEqualTo(x[, caseSensitive])`.
    NotEqualTo,
    /// `o.isNull()`.
    IsNull,
    /// `o.isNotNull()`.
    IsNotNull,
    /// `a.head()`: the first element.
    Head,
}

impl Func {
    /// The PQL name and the accepted argument counts.
    pub fn signature(self) -> (&'static str, std::ops::RangeInclusive<usize>) {
        use Func::*;
        match self {
            Includes => ("includes", 1..=1),
            Intersects => ("intersects", 1..=1),
            Count => ("count", 0..=0),
            Distinct => ("distinct", 0..=0),
            Sum => ("sum", 0..=0),
            Average => ("average", 0..=0),
            Min => ("min", 0..=0),
            Max => ("max", 0..=0),
            StartsWith => ("startsWith", 1..=2),
            DoesNotStartWith => ("doesNotStartWith", 1..=2),
            EndsWith => ("endsWith", 1..=2),
            DoesNotEndWith => ("doesNotEndWith", 1..=2),
            Contains => ("contains", 1..=2),
            DoesNotContain => ("doesNotContain", 1..=2),
            Equals => ("equals", 1..=2),
            NotEqualTo => ("notEqualTo", 1..=2),
            IsNull => ("isNull", 0..=0),
            IsNotNull => ("isNotNull", 0..=0),
            Head => ("head", 0..=0),
        }
    }

    /// Every function, for lookups and suggestions.
    pub const ALL: [Func; 19] = [
        Func::Includes,
        Func::Intersects,
        Func::Count,
        Func::Distinct,
        Func::Sum,
        Func::Average,
        Func::Min,
        Func::Max,
        Func::StartsWith,
        Func::DoesNotStartWith,
        Func::EndsWith,
        Func::DoesNotEndWith,
        Func::Contains,
        Func::DoesNotContain,
        Func::Equals,
        Func::NotEqualTo,
        Func::IsNull,
        Func::IsNotNull,
        Func::Head,
    ];

    /// The function with this PQL name.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.signature().0 == name)
    }
}

/// An expression on one record.
#[derive(Debug, Clone, PartialEq)]
pub enum RowExpr {
    /// A constant.
    Literal(Value),
    /// A field value (arrays crossed on the way are flattened).
    Field {
        /// Where the path starts.
        root: Root,
        /// The path below the root.
        path: FieldPath,
    },
    /// An array built from expressions.
    Array(Vec<RowExpr>),
    /// A comparison (false when either side is missing).
    Compare(CompareOp, Box<RowExpr>, Box<RowExpr>),
    /// Conjunction.
    And(Vec<RowExpr>),
    /// Disjunction.
    Or(Vec<RowExpr>),
    /// Negation.
    Not(Box<RowExpr>),
    /// Arithmetic on numbers.
    Arith(Arith, Box<RowExpr>, Box<RowExpr>),
    /// Numeric negation.
    Neg(Box<RowExpr>),
    /// `x in [..]` / `x notIn [..]` (both false when `x` is missing).
    In {
        /// The value tested.
        expr: Box<RowExpr>,
        /// The candidates.
        list: Box<RowExpr>,
        /// True for `notIn`.
        negated: bool,
    },
    /// `s like "pattern"`.
    Like {
        /// The string.
        expr: Box<RowExpr>,
        /// The pattern (`%` any run, `_` one character).
        pattern: String,
    },
    /// A function or method call; the receiver is the first argument.
    Call(Func, Vec<RowExpr>),
    /// `if(test, then, otherwise)`.
    If(Box<RowExpr>, Box<RowExpr>, Box<RowExpr>),
    /// `exists X from <array> where …` / `forall …` over an array of the record.
    Quantified {
        /// `exists` or `forall`.
        quantifier: Quantifier,
        /// The local slot the element is bound to.
        local: usize,
        /// The array.
        source: Box<RowExpr>,
        /// The condition on each element.
        cond: Box<RowExpr>,
    },
}

impl RowExpr {
    /// Adds the record paths this expression reads; `locals` holds the array path each local ranges over.
    pub(crate) fn collect_fields(&self, locals: &mut Vec<FieldPath>, out: &mut BTreeSet<FieldPath>) {
        let absolute = |root: &Root, path: &FieldPath, locals: &[FieldPath]| match root {
            Root::Record => path.clone(),
            Root::Local(i) => {
                let mut full =
                    locals.get(*i).cloned().unwrap_or_else(|| FieldPath::from_segments(Vec::<String>::new()));
                for segment in path.segments() {
                    full = full.child(segment);
                }
                full
            }
        };
        match self {
            RowExpr::Literal(_) => {}
            RowExpr::Field { root, path } => {
                let full = absolute(root, path, locals);
                if !full.segments().is_empty() {
                    out.insert(full);
                }
            }
            RowExpr::Array(items) | RowExpr::And(items) | RowExpr::Or(items) | RowExpr::Call(_, items) => {
                items.iter().for_each(|e| e.collect_fields(locals, out))
            }
            RowExpr::Compare(_, a, b) | RowExpr::Arith(_, a, b) => {
                a.collect_fields(locals, out);
                b.collect_fields(locals, out);
            }
            RowExpr::Not(e) | RowExpr::Neg(e) | RowExpr::Like { expr: e, .. } => e.collect_fields(locals, out),
            RowExpr::In { expr, list, .. } => {
                expr.collect_fields(locals, out);
                list.collect_fields(locals, out);
            }
            RowExpr::If(a, b, c) => {
                a.collect_fields(locals, out);
                b.collect_fields(locals, out);
                c.collect_fields(locals, out);
            }
            RowExpr::Quantified { local, source, cond, .. } => {
                source.collect_fields(locals, out);
                let array = match source.as_ref() {
                    RowExpr::Field { root, path } => absolute(root, path, locals),
                    _ => FieldPath::from_segments(Vec::<String>::new()),
                };
                locals.truncate(*local);
                locals.push(array);
                cond.collect_fields(locals, out);
                locals.truncate(*local);
            }
        }
    }
}

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

fn quantifier_text(q: Quantifier) -> &'static str {
    match q {
        Quantifier::Exists => "exists",
        Quantifier::Forall => "forall",
    }
}

fn join(f: &mut fmt::Formatter<'_>, items: &[RowExpr], sep: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for RowExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowExpr::Literal(value) => write!(f, "{value}"),
            RowExpr::Field { root: Root::Record, path } => write!(f, "{path}"),
            RowExpr::Field { root: Root::Local(i), path } if path.segments().is_empty() => write!(f, "${i}"),
            RowExpr::Field { root: Root::Local(i), path } => write!(f, "${i}.{path}"),
            RowExpr::Array(items) => {
                f.write_str("[")?;
                join(f, items, ", ")?;
                f.write_str("]")
            }
            RowExpr::Compare(op, a, b) => write!(f, "({a} {} {b})", op_text(*op)),
            RowExpr::And(items) => {
                f.write_str("(")?;
                join(f, items, " and ")?;
                f.write_str(")")
            }
            RowExpr::Or(items) => {
                f.write_str("(")?;
                join(f, items, " or ")?;
                f.write_str(")")
            }
            RowExpr::Not(e) => write!(f, "not {e}"),
            RowExpr::Arith(op, a, b) => {
                let op = match op {
                    Arith::Add => "+",
                    Arith::Sub => "-",
                    Arith::Mul => "*",
                    Arith::Div => "/",
                    Arith::Rem => "%",
                };
                write!(f, "({a} {op} {b})")
            }
            RowExpr::Neg(e) => write!(f, "-{e}"),
            RowExpr::In { expr, list, negated } => {
                write!(f, "({expr} {} {list})", if *negated { "notIn" } else { "in" })
            }
            RowExpr::Like { expr, pattern } => write!(f, "({expr} like {})", Value::from(pattern.as_str())),
            RowExpr::Call(func, args) => {
                let (name, _) = func.signature();
                match args.split_first() {
                    Some((receiver, rest)) => {
                        write!(f, "{receiver}.{name}(")?;
                        join(f, rest, ", ")?;
                        f.write_str(")")
                    }
                    None => write!(f, "{name}()"),
                }
            }
            RowExpr::If(t, a, b) => write!(f, "if({t}, {a}, {b})"),
            RowExpr::Quantified { quantifier, local, source, cond } => {
                write!(f, "({} ${local} from {source} where {cond})", quantifier_text(*quantifier))
            }
        }
    }
}

impl Plan {
    /// The record fields the plan reads, by class (array crossings included, element fields with their array's
    /// path as prefix). Evaluation needs nothing else of the records.
    pub fn fields(&self) -> BTreeMap<EntityKind, BTreeSet<FieldPath>> {
        let mut out = BTreeMap::new();
        self.root.collect_fields(self.entity, &mut out);
        out
    }

    /// Whether the plan reads experience events (`xEvent`) anywhere, under navigations included.
    pub fn reads_events(&self) -> bool {
        self.root.any(&mut |cond| matches!(cond, Cond::Events(_)))
    }

    /// Whether the plan's answer depends on the evaluation time (`now`): an event window anchored at a time word
    /// (`now`, `today`, `last month`, …). Such an audience changes as time passes, with no change of data.
    pub fn depends_on_now(&self) -> bool {
        self.root.any(&mut |cond| matches!(cond, Cond::Events(events) if events.depends_on_now()))
    }
}

impl Cond {
    /// Whether `f` holds for this condition or any condition below it.
    fn any(&self, f: &mut impl FnMut(&Cond) -> bool) -> bool {
        if f(self) {
            return true;
        }
        match self {
            Cond::And(items) | Cond::Or(items) => items.iter().any(|c| c.any(f)),
            Cond::Not(inner) | Cond::Related { cond: inner, .. } => inner.any(f),
            Cond::Row(_) | Cond::Events(_) => false,
        }
    }
}

impl Cond {
    fn collect_fields(&self, entity: EntityKind, out: &mut BTreeMap<EntityKind, BTreeSet<FieldPath>>) {
        match self {
            Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| c.collect_fields(entity, out)),
            Cond::Not(inner) => inner.collect_fields(entity, out),
            Cond::Related { to, cond, .. } => {
                out.entry(*to).or_default();
                cond.collect_fields(*to, out)
            }
            Cond::Row(expr) => expr.collect_fields(&mut Vec::new(), out.entry(entity).or_default()),
            // Event fields are copied by the event table, not by the record columns.
            Cond::Events(_) => {
                out.entry(entity).or_default();
            }
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let pad = "  ".repeat(depth);
        match self {
            Cond::And(items) | Cond::Or(items) => {
                writeln!(f, "{pad}{}", if matches!(self, Cond::And(_)) { "And" } else { "Or" })?;
                items.iter().try_for_each(|c| c.write(f, depth + 1))
            }
            Cond::Not(inner) => {
                writeln!(f, "{pad}Not")?;
                inner.write(f, depth + 1)
            }
            Cond::Related { quantifier, from, navigation, to, cond } => {
                let q = if *quantifier == Quantifier::Exists { "Exists" } else { "Forall" };
                writeln!(f, "{pad}{q} {navigation} ({from} -> {to})")?;
                cond.write(f, depth + 1)
            }
            Cond::Row(expr) => writeln!(f, "{pad}Filter {expr}"),
            Cond::Events(events) => writeln!(f, "{pad}Events {events}"),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Audience of {}", self.entity)?;
        self.root.write(f, 1)
    }
}
