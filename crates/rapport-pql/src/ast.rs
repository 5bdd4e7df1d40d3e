//! The PQL syntax tree.
//!
//! Every node carries the byte [`Span`] of the text it was parsed from. Spans take part in `PartialEq`,
//! so two trees parsed from differently formatted texts differ; compare them with
//! [`Expr::eq_ignoring_spans`] / [`Query::eq_ignoring_spans`], or zero the spans with `clear_spans`.
//!
//! Name resolution is done by the parser, as far as syntax allows: a path root is the implicit profile,
//! a numbered or named query parameter, a variable bound by an enclosing quantifier, `select`, `let` or
//! `over`, or a caret climbing out of filters. Field names themselves are left for the planner.

use crate::span::Span;

/// A whole PQL query: an optional lambda head and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Names from the lambda head `(Profile) => ...`; empty when the query has no head.
    pub params: Vec<Ident>,
    /// The expression after `=>` (or the whole text).
    pub body: Expr,
}

/// A name as written, with its span.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// The text it was parsed from, including any parentheses around it.
    pub span: Span,
}

/// The closed set of PQL expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A scalar literal: string, number, boolean or `null`.
    Literal(Literal),
    /// An array literal `[1, 4, 7]`.
    Array(Vec<Expr>),
    /// A relative time word: `now`, `today`, `last week`, ...
    Time(TimeLiteral),
    /// A field path `a.b.c` from one root; one node however many segments.
    Path(Path),
    /// Field access on a computed value, e.g. `.timestamp` in `xEvent[x = 1].timestamp`.
    Member {
        /// The value whose fields are read.
        target: Box<Expr>,
        /// The field names, outermost first (never empty).
        segments: Vec<Ident>,
    },
    /// A method call `target.name(args)` or a free function call `name(args)` (`target` is `None`).
    ///
    /// `date(y, m, d)`, `inSegment(id)`, `currentMonth()` are free calls.
    Call {
        /// The receiver of a method call.
        target: Option<Box<Expr>>,
        /// The function or method name.
        name: Ident,
        /// The arguments in order.
        args: Vec<Expr>,
    },
    /// The filter operator `target[predicate]`; inside the predicate, implicit paths start at the element.
    Filter {
        /// The array being filtered.
        target: Box<Expr>,
        /// The condition on each element.
        predicate: Box<Expr>,
    },
    /// A prefix operator.
    Unary {
        /// Which one.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// An infix operator.
    Binary {
        /// Which one.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `expr in list` or `expr notIn list`.
    In {
        /// The value tested.
        expr: Box<Expr>,
        /// The candidates (usually an array literal).
        list: Box<Expr>,
        /// True for `notIn`.
        negated: bool,
    },
    /// `expr like pattern` (`%` matches any run, `_` one character).
    Like {
        /// The string tested.
        expr: Box<Expr>,
        /// The pattern (usually a string literal).
        pattern: Box<Expr>,
    },
    /// `if(test, then, otherwise)`.
    If {
        /// The condition.
        test: Box<Expr>,
        /// Value when the condition holds.
        then: Box<Expr>,
        /// Value otherwise.
        otherwise: Box<Expr>,
    },
    /// `exists X from a where c, Y from X.b where d` or the same with `forall`.
    Quantified {
        /// `exists` or `forall`.
        quantifier: Quantifier,
        /// The chained bindings, in order; each sees the variables of the earlier ones (never empty).
        bindings: Vec<Binding>,
    },
    /// `select X from source where condition`.
    Select {
        /// The variable bound to each element.
        var: Ident,
        /// The array.
        source: Box<Expr>,
        /// The condition on `var`.
        condition: Box<Expr>,
    },
    /// `let V = value in body`.
    Let {
        /// The name bound in `body`.
        var: Ident,
        /// Its value (does not see `var`).
        value: Box<Expr>,
        /// The expression using it.
        body: Box<Expr>,
    },
    /// `sum value over X from source [where condition]` and the other aggregates of that form.
    Aggregate {
        /// Which aggregate.
        func: AggregateFn,
        /// The value aggregated per element; sees `var`.
        value: Box<Expr>,
        /// The variable bound to each element.
        var: Ident,
        /// The array.
        source: Box<Expr>,
        /// Optional condition selecting elements; sees `var`.
        condition: Option<Box<Expr>>,
    },
    /// `expr occurs <time constraint>`.
    Occurs {
        /// The timestamp tested.
        expr: Box<Expr>,
        /// The time condition.
        constraint: TimeConstraint,
    },
    /// `CHAIN(source, timestamp, [C0: WHAT(..) WHEN(..), ...])`: ordered steps over an event array.
    Chain {
        /// The event array (`xEvent`).
        source: Box<Expr>,
        /// The field ordering the events (`timestamp`), relative to an event.
        timestamp: Box<Expr>,
        /// The steps in order (never empty).
        steps: Vec<ChainStep>,
    },
}

/// A scalar literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `"text"` with escapes resolved.
    String(String),
    /// `42`, `-201`.
    Int(i64),
    /// `3.14`, `-1e-3` (always finite).
    Double(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A relative time word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeLiteral {
    /// Timestamp of execution.
    Now,
    /// Start of the current day.
    Today,
    /// The previous day.
    Yesterday,
    /// The next day.
    Tomorrow,
    /// `this`/`last`/`next` + unit, e.g. `last week`.
    Period {
        /// `this`, `last` or `next`.
        relative: PeriodRelative,
        /// The calendar unit.
        unit: TimeUnit,
    },
}

/// The word before a unit in `this month`, `last week`, `next year`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodRelative {
    /// `this`
    This,
    /// `last`
    Last,
    /// `next`
    Next,
}

/// A time unit; singular and plural spellings parse to the same unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeUnit {
    /// `millisecond(s)`
    Millisecond,
    /// `second(s)`
    Second,
    /// `minute(s)`
    Minute,
    /// `hour(s)`
    Hour,
    /// `day(s)`
    Day,
    /// `week(s)`
    Week,
    /// `month(s)`
    Month,
    /// `year(s)`
    Year,
    /// `decade(s)`
    Decade,
    /// `century` / `centuries`
    Century,
    /// `millennium` / `millennia`
    Millennium,
}

/// A field path: a root and the field names below it.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Where the path starts.
    pub root: PathRoot,
    /// Field names in order; non-empty for [`PathRoot::Implicit`], possibly empty otherwise (`$1`, `X`).
    pub segments: Vec<Ident>,
}

/// The start of a [`Path`].
#[derive(Debug, Clone, PartialEq)]
pub enum PathRoot {
    /// No explicit root: the first query parameter, or the current element inside a filter predicate.
    Implicit,
    /// A query parameter: `$1`, or a name from the lambda head.
    Param {
        /// 1-based parameter number.
        index: u32,
        /// The lambda-head name used, or `None` for `$n`.
        name: Option<Ident>,
    },
    /// A variable bound by an enclosing quantifier, `select`, `let` or `over`.
    Var(Ident),
    /// `^`, `^^`, ...: climb this many enclosing filters (at least 1).
    Caret(u32),
}

/// A prefix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `not (x)` or `!(x)`.
    Not,
    /// `-x`.
    Neg,
}

/// An infix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// A comparison.
    Compare(CompareOp),
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

/// A comparison operator (also used in `occurs <= 24 hours before now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// `exists` or `forall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantifier {
    /// At least one element satisfies the condition.
    Exists,
    /// Every element satisfies the condition.
    Forall,
}

/// One `X from source where condition` clause of a quantifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The variable.
    pub var: Ident,
    /// The array it ranges over (sees earlier bindings' variables, not its own).
    pub source: Expr,
    /// The condition (sees this and earlier variables).
    pub condition: Expr,
    /// From the variable to the end of the condition.
    pub span: Span,
}

/// The aggregate of an `<aggregate> value over X from source where condition` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateFn {
    /// `sum`
    Sum,
    /// `count`
    Count,
    /// `average`
    Average,
    /// `min`
    Min,
    /// `max`
    Max,
}

/// The time condition after `occurs` or inside `WHEN(..)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeConstraint {
    /// Which form.
    pub kind: TimeConstraintKind,
    /// The constraint's text.
    pub span: Span,
}

/// The forms of a [`TimeConstraint`].
#[derive(Debug, Clone, PartialEq)]
pub enum TimeConstraintKind {
    /// `[cmp] n unit direction time`, e.g. `= 3 hours before now`, `<= 24 hours before now`.
    Offset {
        /// The optional comparison before the amount.
        comparison: Option<CompareOp>,
        /// The amount of units.
        amount: u64,
        /// The unit.
        unit: TimeUnit,
        /// `before`, `after` or `from`.
        direction: Direction,
        /// The reference time.
        anchor: Box<Expr>,
    },
    /// `direction time`, e.g. `before today`.
    Relative {
        /// `before`, `after` or `from`.
        direction: Direction,
        /// The reference time.
        anchor: Box<Expr>,
    },
    /// `[on] time`, e.g. `today`, `last week`, `on date(2020, 1, 1)`.
    On(Box<Expr>),
    /// `between time and time`.
    Between {
        /// Start of the range.
        start: Box<Expr>,
        /// End of the range.
        end: Box<Expr>,
    },
}

/// The direction word of a time constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `before`
    Before,
    /// `after`
    After,
    /// `from`
    From,
}

/// One `C0: WHAT(predicate) WHEN(constraint)` step of a `CHAIN`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainStep {
    /// The step label (`C0`).
    pub label: Ident,
    /// The event predicate; implicit paths start at the event.
    pub what: Expr,
    /// The optional time constraint on the event.
    pub when: Option<TimeConstraint>,
    /// The whole step's text.
    pub span: Span,
}

impl Ident {
    /// A name with its span.
    pub fn new(name: impl Into<String>, span: Span) -> Self {
        Self { name: name.into(), span }
    }
}

impl Expr {
    /// A node of `kind` covering `span`.
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Self { kind, span }
    }

    /// True when both trees are equal once every span is ignored.
    pub fn eq_ignoring_spans(&self, other: &Expr) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.clear_spans();
        b.clear_spans();
        a == b
    }

    /// Sets every span in the tree (this node, its children, idents) to `Span::default()`.
    pub fn clear_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            ExprKind::Literal(_) | ExprKind::Time(_) => {}
            ExprKind::Array(items) => items.iter_mut().for_each(Expr::clear_spans),
            ExprKind::Path(path) => path.clear_spans(),
            ExprKind::Member { target, segments } => {
                target.clear_spans();
                segments.iter_mut().for_each(Ident::clear_span);
            }
            ExprKind::Call { target, name, args } => {
                if let Some(target) = target {
                    target.clear_spans();
                }
                name.clear_span();
                args.iter_mut().for_each(Expr::clear_spans);
            }
            ExprKind::Filter { target, predicate } => {
                target.clear_spans();
                predicate.clear_spans();
            }
            ExprKind::Unary { expr, .. } => expr.clear_spans(),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.clear_spans();
                rhs.clear_spans();
            }
            ExprKind::In { expr, list, .. } => {
                expr.clear_spans();
                list.clear_spans();
            }
            ExprKind::Like { expr, pattern } => {
                expr.clear_spans();
                pattern.clear_spans();
            }
            ExprKind::If { test, then, otherwise } => {
                test.clear_spans();
                then.clear_spans();
                otherwise.clear_spans();
            }
            ExprKind::Quantified { bindings, .. } => {
                for binding in bindings {
                    binding.span = Span::default();
                    binding.var.clear_span();
                    binding.source.clear_spans();
                    binding.condition.clear_spans();
                }
            }
            ExprKind::Select { var, source, condition } => {
                var.clear_span();
                source.clear_spans();
                condition.clear_spans();
            }
            ExprKind::Let { var, value, body } => {
                var.clear_span();
                value.clear_spans();
                body.clear_spans();
            }
            ExprKind::Aggregate { value, var, source, condition, .. } => {
                value.clear_spans();
                var.clear_span();
                source.clear_spans();
                if let Some(condition) = condition {
                    condition.clear_spans();
                }
            }
            ExprKind::Occurs { expr, constraint } => {
                expr.clear_spans();
                constraint.clear_spans();
            }
            ExprKind::Chain { source, timestamp, steps } => {
                source.clear_spans();
                timestamp.clear_spans();
                for step in steps {
                    step.span = Span::default();
                    step.label.clear_span();
                    step.what.clear_spans();
                    if let Some(when) = &mut step.when {
                        when.clear_spans();
                    }
                }
            }
        }
    }
}

impl Query {
    /// True when both queries are equal once every span is ignored.
    pub fn eq_ignoring_spans(&self, other: &Query) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.clear_spans();
        b.clear_spans();
        a == b
    }

    /// Sets every span in the query to `Span::default()`.
    pub fn clear_spans(&mut self) {
        self.params.iter_mut().for_each(Ident::clear_span);
        self.body.clear_spans();
    }
}

impl Ident {
    fn clear_span(&mut self) {
        self.span = Span::default();
    }
}

impl Path {
    fn clear_spans(&mut self) {
        match &mut self.root {
            PathRoot::Param { name: Some(name), .. } | PathRoot::Var(name) => name.clear_span(),
            PathRoot::Implicit | PathRoot::Param { name: None, .. } | PathRoot::Caret(_) => {}
        }
        self.segments.iter_mut().for_each(Ident::clear_span);
    }
}

impl TimeConstraint {
    fn clear_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            TimeConstraintKind::Offset { anchor, .. } | TimeConstraintKind::Relative { anchor, .. } => {
                anchor.clear_spans();
            }
            TimeConstraintKind::On(time) => time.clear_spans(),
            TimeConstraintKind::Between { start, end } => {
                start.clear_spans();
                end.clear_spans();
            }
        }
    }
}

impl TimeUnit {
    /// Every unit, shortest first.
    pub const ALL: [TimeUnit; 11] = [
        TimeUnit::Millisecond,
        TimeUnit::Second,
        TimeUnit::Minute,
        TimeUnit::Hour,
        TimeUnit::Day,
        TimeUnit::Week,
        TimeUnit::Month,
        TimeUnit::Year,
        TimeUnit::Decade,
        TimeUnit::Century,
        TimeUnit::Millennium,
    ];

    /// The singular spelling (`century`).
    pub const fn singular(self) -> &'static str {
        match self {
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

    /// The plural spelling (`centuries`).
    pub const fn plural(self) -> &'static str {
        match self {
            TimeUnit::Millisecond => "milliseconds",
            TimeUnit::Second => "seconds",
            TimeUnit::Minute => "minutes",
            TimeUnit::Hour => "hours",
            TimeUnit::Day => "days",
            TimeUnit::Week => "weeks",
            TimeUnit::Month => "months",
            TimeUnit::Year => "years",
            TimeUnit::Decade => "decades",
            TimeUnit::Century => "centuries",
            TimeUnit::Millennium => "millennia",
        }
    }

    /// The unit spelled `word` (singular or plural), if any.
    pub fn from_word(word: &str) -> Option<TimeUnit> {
        TimeUnit::ALL.into_iter().find(|u| u.singular() == word || u.plural() == word)
    }
}

impl CompareOp {
    /// The operator as written.
    pub const fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::NotEq => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

impl BinaryOp {
    /// The operator as written.
    pub const fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Compare(op) => op.symbol(),
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

impl AggregateFn {
    /// The keyword (`sum`).
    pub const fn keyword(self) -> &'static str {
        match self {
            AggregateFn::Sum => "sum",
            AggregateFn::Count => "count",
            AggregateFn::Average => "average",
            AggregateFn::Min => "min",
            AggregateFn::Max => "max",
        }
    }

    /// The aggregate spelled `word`, if any.
    pub fn from_word(word: &str) -> Option<AggregateFn> {
        [AggregateFn::Sum, AggregateFn::Count, AggregateFn::Average, AggregateFn::Min, AggregateFn::Max]
            .into_iter()
            .find(|f| f.keyword() == word)
    }
}

impl Direction {
    /// The keyword (`before`).
    pub const fn keyword(self) -> &'static str {
        match self {
            Direction::Before => "before",
            Direction::After => "after",
            Direction::From => "from",
        }
    }
}

impl PeriodRelative {
    /// The keyword (`last`).
    pub const fn keyword(self) -> &'static str {
        match self {
            PeriodRelative::This => "this",
            PeriodRelative::Last => "last",
            PeriodRelative::Next => "next",
        }
    }
}
