//! Evaluation of a [`Plan`] over linked profiles.
//!
//! Batch evaluation is columnar: [`Columns`] hold the fields the plan reads as typed columns and the navigations
//! it crosses as adjacency lists; each condition yields a dense bitset over its class. A row condition is compiled
//! once into a `Test` over columns (a comparison with a literal, `in`, `includes`, `intersects`, `like`, the
//! string tests, `isNull`, `count()` compared with a number, and `and`/`or`/`not` of these), with dictionary work
//! done once per distinct string; only the rest (arithmetic, `if`, field-to-field comparisons, `sum`/`min`/…,
//! row-level quantifiers over arrays, `distinct`, `head`) runs row at a time, through [`crate::row`] on values
//! read back from the columns. A relationship quantifier turns the bitset of qualifying related entities into
//! the bitset of entities related to at least one (`exists`) or only to qualifying ones (`forall`); `and`, `or`
//! and `not` are word-wise intersections, unions and complements.
//!
//! Conditions are evaluated for a set of candidates: an `and` narrows its candidates operand by operand (row
//! conditions first), and a relationship quantifier over few candidates evaluates its inner condition only on
//! the entities they reach. Incremental evaluation ([`crate::incremental`]) re-evaluates a handful of entities
//! through the sparse path, which does the same over sorted lists of profile numbers instead of bitsets, so that
//! its cost follows the candidates and the entities they reach, not the size of the classes.
//!
//! Single-profile evaluation ([`evaluate_one`]) walks the same plan for one entity over its merged records and
//! must always agree with the batch result.

use std::cmp::Ordering;

use rapport_model::EntityKind;
use rapport_pql::ast::{CompareOp, Quantifier};
use rapport_profile::ProfileGraph;
use roaring::RoaringBitmap;
use serde_json::Value;

use crate::bits::Bits;
use crate::columns::{Atom, ClassColumns, Column, Columns, NotLoaded, RowView, Shape};
use crate::plan::{Cond, Func, Plan, Root, RowExpr};
use crate::row;
use crate::sorted;

/// Every member of the audience: profile numbers of the plan's class.
///
/// Copies what the plan reads into [`Columns`] first; to evaluate many times over the same profiles, build the
/// columns once and call [`evaluate_columns`]. Placeholders (entities known only by reference) are never members.
pub fn evaluate(plan: &Plan, graph: &ProfileGraph) -> RoaringBitmap {
    let columns = Columns::for_plan(plan, graph);
    evaluate_columns(plan, &columns).expect("columns built for a plan hold everything it reads")
}

/// Every member of the audience, evaluated over columns that hold what the plan reads.
pub fn evaluate_columns(plan: &Plan, columns: &Columns) -> Result<RoaringBitmap, NotLoaded> {
    columns.check(plan)?;
    let class = columns.class(plan.entity);
    Ok(Evaluator { columns }.cond(&plan.root, plan.entity, None).to_roaring(class.stored))
}

/// Evaluates conditions over columns.
pub(crate) struct Evaluator<'a> {
    pub(crate) columns: &'a Columns,
}

/// A rough cost, to evaluate the cheap operands of an `and` first and narrow the candidates of the others.
fn cost(cond: &Cond) -> u32 {
    match cond {
        Cond::Row(_) => 1,
        Cond::Events(_) => 10,
        Cond::Not(inner) => cost(inner),
        Cond::And(items) | Cond::Or(items) => items.iter().map(cost).sum(),
        Cond::Related { cond, .. } => 100 + cost(cond),
    }
}

impl Evaluator<'_> {
    /// The entities of `entity` among `candidates` (all when `None`) for which `cond` holds; no bit outside the
    /// candidates is set.
    pub(crate) fn cond(&self, cond: &Cond, entity: EntityKind, candidates: Option<&Bits>) -> Bits {
        let len = self.columns.class(entity).len;
        match cond {
            Cond::And(items) => {
                let mut ordered: Vec<&Cond> = items.iter().collect();
                ordered.sort_by_key(|c| cost(c));
                let mut acc = candidates.cloned();
                for item in ordered {
                    if acc.as_ref().is_some_and(Bits::is_empty) {
                        break;
                    }
                    acc = Some(self.cond(item, entity, acc.as_ref()));
                }
                acc.unwrap_or_else(|| Bits::ones(len))
            }
            Cond::Or(items) => {
                let mut out = Bits::zeros(len);
                let mut rest = candidates.cloned().unwrap_or_else(|| Bits::ones(len));
                for item in items {
                    if rest.is_empty() {
                        break;
                    }
                    let holds = self.cond(item, entity, Some(&rest));
                    out.or(&holds);
                    rest.and_not(&holds);
                }
                out
            }
            Cond::Not(inner) => {
                let holds = self.cond(inner, entity, candidates);
                let mut out = candidates.cloned().unwrap_or_else(|| Bits::ones(len));
                out.and_not(&holds);
                out
            }
            Cond::Row(expr) => {
                let class = self.columns.class(entity);
                let mut out = Bits::zeros(len);
                // A handful of candidates (incremental evaluation): reading their values back beats compiling
                // the test, whose dictionary work is proportional to the distinct strings of the column.
                if let Some(c) = candidates.filter(|c| c.count() * 64 < len) {
                    c.iter()
                        .filter(|&r| row::holds(expr, &RowView { class, row: r as usize }))
                        .for_each(|r| out.set(r));
                    return out;
                }
                let test = Test::compile(expr, class);
                match candidates {
                    Some(c) if c.sparse() => {
                        c.iter().filter(|&r| test.holds(class, r as usize)).for_each(|r| out.set(r))
                    }
                    _ => {
                        test.scan(class, &mut out);
                        if let Some(c) = candidates {
                            out.and(c);
                        }
                    }
                }
                out
            }
            Cond::Events(events) => crate::events::evaluate(events, &self.columns.events, len, candidates),
            Cond::Related { quantifier, from, navigation, to, cond } => {
                let key = (*from, navigation.clone());
                let lists = self.columns.navigations.get(&key);
                let targets = |s: u32| lists.map_or(&[][..], |l| l.get(s));
                // Few candidates: the inner condition matters only on the entities they reach.
                let reached = candidates
                    .filter(|c| c.sparse())
                    .map(|c| Bits::of(self.columns.class(*to).len, c.iter().flat_map(|s| targets(s).iter().copied())));
                let inner = self.cond(cond, *to, reached.as_ref());
                let holds = |s: u32| match quantifier {
                    Quantifier::Exists => targets(s).iter().any(|&t| inner.get(t)),
                    Quantifier::Forall => targets(s).iter().all(|&t| inner.get(t)),
                };
                let mut out = Bits::zeros(len);
                match candidates {
                    Some(c) => c.iter().filter(|&s| holds(s)).for_each(|s| out.set(s)),
                    None => (0..len as u32).filter(|&s| holds(s)).for_each(|s| out.set(s)),
                }
                out
            }
        }
    }
}

/// The most candidates the sparse path evaluates one by one in a class of `len` entities; above it, the dense
/// path (compiled tests, bitsets) is cheaper. Small classes always take the sparse path.
fn sparse_limit(len: usize) -> usize {
    (len / 64).max(1024)
}

impl Evaluator<'_> {
    /// The sparse path: the entities of `entity` among `candidates` (sorted, distinct) for which `cond` holds,
    /// sorted. It costs in proportion to the candidates and the entities they reach, never to the class: no
    /// class-sized bitset is allocated while the candidates stay under [`sparse_limit`] (beyond it, it hands
    /// over to the dense path). Candidates beyond the class are dropped, as the dense path drops them.
    pub(crate) fn cond_list(&self, cond: &Cond, entity: EntityKind, candidates: &[u32]) -> Vec<u32> {
        let class = self.columns.class(entity);
        let len = class.len;
        let candidates = &candidates[..candidates.partition_point(|&c| (c as usize) < len)];
        if candidates.is_empty() {
            return Vec::new();
        }
        if candidates.len() > sparse_limit(len) {
            let bits = Bits::of(len, candidates.iter().copied());
            return self.cond(cond, entity, Some(&bits)).iter().collect();
        }
        match cond {
            Cond::And(items) => {
                let mut ordered: Vec<&Cond> = items.iter().collect();
                ordered.sort_by_key(|c| cost(c));
                let mut acc = candidates.to_vec();
                for item in ordered {
                    if acc.is_empty() {
                        break;
                    }
                    acc = self.cond_list(item, entity, &acc);
                }
                acc
            }
            Cond::Or(items) => {
                let mut out = Vec::new();
                let mut rest = candidates.to_vec();
                for item in items {
                    if rest.is_empty() {
                        break;
                    }
                    let holds = self.cond_list(item, entity, &rest);
                    out = sorted::union(&out, &holds);
                    rest = sorted::difference(&rest, &holds);
                }
                out
            }
            Cond::Not(inner) => sorted::difference(candidates, &self.cond_list(inner, entity, candidates)),
            // Reading a handful of values back beats compiling the test, whose dictionary work is proportional
            // to the distinct strings of the column.
            Cond::Row(expr) => {
                candidates.iter().copied().filter(|&r| row::holds(expr, &RowView { class, row: r as usize })).collect()
            }
            // Event conditions read each candidate's own events; the class-sized candidate set is the events
            // module's interface (not yet a sparse one).
            Cond::Events(events) => {
                let bits = Bits::of(len, candidates.iter().copied());
                crate::events::evaluate(events, &self.columns.events, len, Some(&bits)).iter().collect()
            }
            Cond::Related { quantifier, from, navigation, to, cond } => {
                let key = (*from, navigation.clone());
                let lists = self.columns.navigations.get(&key);
                let targets = |s: u32| lists.map_or(&[][..], |l| l.get(s));
                let reached = sorted::normalize(candidates.iter().flat_map(|&s| targets(s).iter().copied()).collect());
                let inner = self.cond_list(cond, *to, &reached);
                let holds = |s: u32| match quantifier {
                    Quantifier::Exists => targets(s).iter().any(|&t| sorted::contains(&inner, t)),
                    Quantifier::Forall => targets(s).iter().all(|&t| sorted::contains(&inner, t)),
                };
                candidates.iter().copied().filter(|&s| holds(s)).collect()
            }
        }
    }
}

/// Whether an ordering satisfies a comparison operator (row evaluation's rule: no ordering, no match).
fn satisfies(op: CompareOp, ordering: Option<Ordering>) -> bool {
    match op {
        CompareOp::Eq => ordering == Some(Ordering::Equal),
        CompareOp::NotEq => ordering.is_some_and(|o| o != Ordering::Equal),
        CompareOp::Lt => ordering == Some(Ordering::Less),
        CompareOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => ordering == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// The operator with its operands swapped: `lit < x` is `x > lit`.
fn flipped(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        other => other,
    }
}

/// The numbers an atom test accepts.
#[derive(Debug)]
enum Numbers {
    None,
    Compare(CompareOp, f64),
    Any(Vec<f64>),
}

/// A test on one atom: per dictionary code for strings, per value for booleans, by comparison for numbers.
/// `null` elements and objects never pass (row evaluation compares neither with a literal).
#[derive(Debug)]
struct AtomTest {
    strings: Vec<bool>,
    numbers: Numbers,
    bools: [bool; 2],
}

impl AtomTest {
    fn strings_only(column: &Column, test: impl Fn(&str) -> bool) -> Self {
        Self { strings: column.strings.iter().map(|s| test(s)).collect(), numbers: Numbers::None, bools: [false; 2] }
    }

    /// `atom op literal`, as row evaluation compares values.
    fn compare(column: &Column, op: CompareOp, literal: &Value) -> Self {
        match literal {
            Value::String(x) => Self::strings_only(column, |s| satisfies(op, Some(s.cmp(x.as_str())))),
            Value::Number(n) => Self {
                strings: Vec::new(),
                numbers: n.as_f64().map_or(Numbers::None, |x| Numbers::Compare(op, x)),
                bools: [false; 2],
            },
            Value::Bool(b) => Self {
                strings: Vec::new(),
                numbers: Numbers::None,
                bools: [satisfies(op, Some(false.cmp(b))), satisfies(op, Some(true.cmp(b)))],
            },
            _ => Self { strings: Vec::new(), numbers: Numbers::None, bools: [false; 2] },
        }
    }

    /// Equal to one of `literals` (scalars or `null`); `None` when one is an array or object.
    fn equal_any(column: &Column, literals: &[Value]) -> Option<Self> {
        let mut test = Self { strings: vec![false; column.strings.len()], numbers: Numbers::None, bools: [false; 2] };
        let mut numbers = Vec::new();
        for literal in literals {
            match literal {
                Value::Null => {}
                Value::String(x) => {
                    if let Some(code) = column.code_of(x) {
                        test.strings[code as usize] = true;
                    }
                }
                Value::Number(n) => numbers.extend(n.as_f64()),
                Value::Bool(b) => test.bools[usize::from(*b)] = true,
                Value::Array(_) | Value::Object(_) => return None,
            }
        }
        if !numbers.is_empty() {
            test.numbers = Numbers::Any(numbers);
        }
        Some(test)
    }

    /// True when only strings can pass: a scan may then read the string codes alone.
    fn strings_only_test(&self) -> bool {
        matches!(self.numbers, Numbers::None) && self.bools == [false; 2]
    }

    #[inline]
    fn passes(&self, atom: Atom) -> bool {
        match atom {
            Atom::Str(code) => self.strings.get(code as usize).copied().unwrap_or(false),
            Atom::Bool(b) => self.bools[usize::from(b)],
            Atom::Null | Atom::Other(_) => false,
            number => {
                let Some(x) = number.number() else { return false };
                match &self.numbers {
                    Numbers::None => false,
                    Numbers::Compare(op, y) => satisfies(*op, x.partial_cmp(y)),
                    Numbers::Any(ys) => ys.contains(&x),
                }
            }
        }
    }
}

/// A row condition compiled against the columns of its class.
enum Test<'a> {
    /// The same answer for every row.
    Const(bool),
    /// The value is a scalar that passes.
    Scalar(&'a Column, AtomTest),
    /// Some element passes (a scalar is its own single element): `includes`, `intersects`.
    Any(&'a Column, AtomTest),
    /// `in` / `notIn`: false for `null`; a scalar passes or not; arrays and objects equal no scalar.
    In(&'a Column, AtomTest, bool),
    /// `isNull()` (false) / `isNotNull()` (true).
    Present(&'a Column, bool),
    /// `count() op n`: `null` counts 0, an array its elements, anything else 1.
    Count(&'a Column, CompareOp, f64),
    And(Vec<Test<'a>>),
    Or(Vec<Test<'a>>),
    Not(Box<Test<'a>>),
    /// Anything else: row evaluation on the values read back from the columns.
    Row(&'a RowExpr),
}

/// A string test over a whole column, atom after atom through the string codes alone (no per-row branching on
/// shapes and spans): sets the rows of the live atoms that pass, which must be scalars when `scalar_only`.
fn scan_codes(c: &Column, t: &AtomTest, scalar_only: bool, out: &mut Bits) {
    let mut table = vec![false; c.strings.len() + 1];
    for (code, _) in t.strings.iter().enumerate().filter(|(_, pass)| **pass) {
        table[code + 1] = true;
    }
    for (i, &code) in c.codes_of_atoms.iter().enumerate() {
        if table[code as usize] {
            let r = c.owner[i] as usize;
            let start = c.start[r] as usize;
            let live = start <= i && i < start + c.count[r] as usize;
            if live && (!scalar_only || c.shape[r] == Shape::Scalar) {
                out.set(r as u32);
            }
        }
    }
}

/// The column of a record field expression.
fn column<'a>(expr: &RowExpr, class: &'a ClassColumns) -> Option<&'a Column> {
    match expr {
        RowExpr::Field { root: Root::Record, path } if !path.segments().is_empty() => class.column(path.segments()),
        _ => None,
    }
}

/// The constant values of a literal list (`[1, 2]` or an array literal); `None` when not constant.
fn literal_list(expr: &RowExpr) -> Option<Vec<Value>> {
    match expr {
        RowExpr::Literal(Value::Array(items)) => Some(items.clone()),
        RowExpr::Literal(Value::Null) => Some(Vec::new()),
        RowExpr::Literal(scalar) => Some(vec![scalar.clone()]),
        RowExpr::Array(items) => items
            .iter()
            .map(|e| match e {
                RowExpr::Literal(v) => Some(v.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn count_of<'a>(expr: &RowExpr, class: &'a ClassColumns) -> Option<&'a Column> {
    match expr {
        RowExpr::Call(Func::Count, args) if args.len() == 1 => column(&args[0], class),
        _ => None,
    }
}

impl<'a> Test<'a> {
    fn compile(expr: &'a RowExpr, class: &'a ClassColumns) -> Test<'a> {
        let fallback = Test::Row(expr);
        match expr {
            RowExpr::Literal(value) => Test::Const(row::truthy(value)),
            RowExpr::Field { .. } => match column(expr, class) {
                Some(c) => Test::Scalar(c, AtomTest::compare(c, CompareOp::Eq, &Value::Bool(true))),
                None => fallback,
            },
            RowExpr::And(items) => Test::And(items.iter().map(|e| Test::compile(e, class)).collect()),
            RowExpr::Or(items) => Test::Or(items.iter().map(|e| Test::compile(e, class)).collect()),
            RowExpr::Not(inner) => Test::Not(Box::new(Test::compile(inner, class))),
            RowExpr::Compare(op, a, b) => match (a.as_ref(), b.as_ref()) {
                (field, RowExpr::Literal(lit)) if column(field, class).is_some() => {
                    let c = column(field, class).expect("checked");
                    Test::Scalar(c, AtomTest::compare(c, *op, lit))
                }
                (RowExpr::Literal(lit), field) if column(field, class).is_some() => {
                    let c = column(field, class).expect("checked");
                    Test::Scalar(c, AtomTest::compare(c, flipped(*op), lit))
                }
                (count, RowExpr::Literal(lit)) if count_of(count, class).is_some() => match lit.as_f64() {
                    Some(n) => Test::Count(count_of(count, class).expect("checked"), *op, n),
                    None => Test::Const(false),
                },
                (RowExpr::Literal(lit), count) if count_of(count, class).is_some() => match lit.as_f64() {
                    Some(n) => Test::Count(count_of(count, class).expect("checked"), flipped(*op), n),
                    None => Test::Const(false),
                },
                _ => fallback,
            },
            RowExpr::In { expr: value, list, negated } => match (column(value, class), literal_list(list)) {
                (Some(c), Some(items)) => match AtomTest::equal_any(c, &items) {
                    Some(test) => Test::In(c, test, *negated),
                    None => fallback,
                },
                _ => fallback,
            },
            RowExpr::Like { expr: value, pattern } => match column(value, class) {
                Some(c) => {
                    let pattern: Vec<char> = pattern.chars().collect();
                    Test::Scalar(c, AtomTest::strings_only(c, |s| row::like(&s.chars().collect::<Vec<_>>(), &pattern)))
                }
                None => fallback,
            },
            RowExpr::Call(func, args) => Self::call(*func, args, class).unwrap_or(fallback),
            _ => fallback,
        }
    }

    fn call(func: Func, args: &'a [RowExpr], class: &'a ClassColumns) -> Option<Test<'a>> {
        let c = column(args.first()?, class)?;
        Some(match func {
            Func::Includes if args.len() == 2 => match &args[1] {
                RowExpr::Literal(x) => Test::Any(c, AtomTest::equal_any(c, std::slice::from_ref(x))?),
                _ => return None,
            },
            Func::Intersects if args.len() == 2 => Test::Any(c, AtomTest::equal_any(c, &literal_list(&args[1])?)?),
            Func::IsNull if args.len() == 1 => Test::Present(c, false),
            Func::IsNotNull if args.len() == 1 => Test::Present(c, true),
            Func::StartsWith
            | Func::DoesNotStartWith
            | Func::EndsWith
            | Func::DoesNotEndWith
            | Func::Contains
            | Func::DoesNotContain
            | Func::Equals
            | Func::NotEqualTo => {
                let mut literals = Vec::new();
                for arg in &args[1..] {
                    let RowExpr::Literal(v) = arg else { return None };
                    literals.push(v.clone());
                }
                Test::Scalar(
                    c,
                    AtomTest::strings_only(c, |s| {
                        let mut values = vec![Value::String(s.to_owned())];
                        values.extend(literals.iter().cloned());
                        row::truthy(&row::string_test(func, &values))
                    }),
                )
            }
            _ => return None,
        })
    }

    /// Whether the test holds for row `r`.
    fn holds(&self, class: &ClassColumns, r: usize) -> bool {
        match self {
            Test::Const(b) => *b,
            Test::Scalar(c, t) => c.shape[r] == Shape::Scalar && t.passes(c.atoms(r)[0]),
            Test::Any(c, t) => {
                matches!(c.shape[r], Shape::Scalar | Shape::Array) && c.atoms(r).iter().any(|&a| t.passes(a))
            }
            Test::In(c, t, negated) => match c.shape[r] {
                Shape::Null => false,
                Shape::Scalar => t.passes(c.atoms(r)[0]) != *negated,
                Shape::Array | Shape::Other => *negated,
            },
            Test::Present(c, present) => (c.shape[r] != Shape::Null) == *present,
            Test::Count(c, op, n) => {
                let count = match c.shape[r] {
                    Shape::Null => 0,
                    Shape::Array => c.count[r],
                    Shape::Scalar | Shape::Other => 1,
                };
                satisfies(*op, f64::from(count).partial_cmp(n))
            }
            Test::And(items) => items.iter().all(|t| t.holds(class, r)),
            Test::Or(items) => items.iter().any(|t| t.holds(class, r)),
            Test::Not(inner) => !inner.holds(class, r),
            Test::Row(expr) => row::holds(expr, &RowView { class, row: r }),
        }
    }

    /// Sets the bit of every row of the class for which the test holds.
    fn scan(&self, class: &ClassColumns, out: &mut Bits) {
        let len = out.len();
        match self {
            Test::Const(false) => {}
            Test::Const(true) => *out = Bits::ones(len),
            // The common leaves get a loop of their own, without the per-row dispatch; string tests read only
            // the atoms' string codes.
            Test::Scalar(c, t) if t.strings_only_test() => scan_codes(c, t, true, out),
            Test::Any(c, t) if t.strings_only_test() => scan_codes(c, t, false, out),
            Test::Scalar(c, t) => {
                for r in 0..len {
                    if c.shape[r] == Shape::Scalar && t.passes(c.atoms[c.start[r] as usize]) {
                        out.set(r as u32);
                    }
                }
            }
            Test::Any(c, t) => {
                for r in 0..len {
                    if matches!(c.shape[r], Shape::Scalar | Shape::Array) && c.atoms(r).iter().any(|&a| t.passes(a)) {
                        out.set(r as u32);
                    }
                }
            }
            Test::And(items) => {
                *out = Bits::ones(len);
                for item in items {
                    let mut part = Bits::zeros(len);
                    item.scan(class, &mut part);
                    out.and(&part);
                }
            }
            Test::Or(items) => {
                for item in items {
                    let mut part = Bits::zeros(len);
                    item.scan(class, &mut part);
                    out.or(&part);
                }
            }
            Test::Not(inner) => {
                let mut part = Bits::zeros(len);
                inner.scan(class, &mut part);
                *out = Bits::ones(len);
                out.and_not(&part);
            }
            _ => (0..len).filter(|&r| self.holds(class, r)).for_each(|r| out.set(r as u32)),
        }
    }
}

/// Whether one profile (number `id` of the plan's class) is a member, evaluated on its own.
pub fn evaluate_one(plan: &Plan, graph: &ProfileGraph, id: u32) -> bool {
    (id as usize) < graph.set(plan.entity).stored() && cond_one(&plan.root, plan.entity, graph, id)
}

fn cond_one(cond: &Cond, entity: rapport_model::EntityKind, graph: &ProfileGraph, id: u32) -> bool {
    match cond {
        Cond::And(items) => items.iter().all(|c| cond_one(c, entity, graph, id)),
        Cond::Or(items) => items.iter().any(|c| cond_one(c, entity, graph, id)),
        Cond::Not(inner) => !cond_one(inner, entity, graph, id),
        Cond::Row(expr) => graph.set(entity).profiles.get(id as usize).is_some_and(|p| row::holds(expr, &p.record)),
        Cond::Events(events) => crate::events::outcome_one(events, graph, id).holds,
        Cond::Related { quantifier, from, navigation, to, cond } => {
            let targets = graph
                .navigation(*from, navigation)
                .and_then(|nav| nav.targets.get(id as usize))
                .map(Vec::as_slice)
                .unwrap_or_default();
            match quantifier {
                Quantifier::Exists => targets.iter().any(|&t| cond_one(cond, *to, graph, t)),
                Quantifier::Forall => targets.iter().all(|&t| cond_one(cond, *to, graph, t)),
            }
        }
    }
}
