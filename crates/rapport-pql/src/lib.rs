//! The Profile Query Language (PQL): text in, syntax tree out, and back.
//!
//! This crate turns audience definitions such as
//!
//! ```text
//! extendedWorkDetails.departments.includes("Sales")
//!     and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)
//! ```
//!
//! into a [`Query`] whose every node carries the byte [`Span`] it came from, prints a tree back as
//! canonical text (`Display`), and reports errors as located [`Diagnostic`]s with hints. It does not
//! know the schema, the profile store or how to evaluate anything: binding field names and planning
//! belong to `rapport-segment`. It depends on nothing internal and must stay free of I/O, storage,
//! HTTP and evaluation dependencies.
//!
//! Layout:
//! - [`span`]: byte spans; [`diagnostic`]: errors and their caret rendering;
//! - `lexer`: text → tokens (crate-private; keywords are contextual, decided by the parser);
//! - [`ast`]: the syntax tree; `parser`: tokens → tree (recursive descent, one method per level);
//! - `printer`: tree → canonical text with minimal parentheses.
//!
//! # Precedence
//!
//! From loosest to tightest binding:
//!
//! | Level | Forms | Associativity |
//! | --- | --- | --- |
//! | binder | `exists`/`forall ... where c`, `select ... where c`, `let V = v in b`, `sum v over X from s where c` | extends right as far as possible |
//! | or | `a or b` | left |
//! | and | `a and b` | left |
//! | not | `not a`, `!a` (usually written `not (a)`) | prefix |
//! | comparison | `= != < <= > >=`, `in`, `notIn`, `like`, `occurs` | none (`a = b = c` is an error) |
//! | additive | `+ -` | left |
//! | multiplicative | `* / %` | left |
//! | unary | `-a` (`-5` is a negative literal) | prefix |
//! | postfix | `.field`, `.method(args)`, `[predicate]` | left |
//!
//! So `a = 1 or b = 2 and c = 3` reads as `a = 1 or (b = 2 and c = 3)`. Binder forms are
//! primaries: they may appear anywhere, but their last part swallows everything to its right, so
//! write `(exists ...) and x` when something follows.
//!
//! # Design choices
//!
//! - Keywords are case-sensitive and contextual: `from`, `last`, `before`, `over`, units... are field
//!   names except where the grammar expects them; only `and or not in notIn like occurs exists forall
//!   select let where true false null` can never start a path.
//! - Names are resolved as far as syntax allows: a path `A.opportunities` inside `exists A from ...`
//!   is rooted at the variable `A` ([`ast::PathRoot::Var`]), `Profile.x` under `(Profile) =>` at
//!   parameter 1, `^^.x` at a caret; anything else is relative to the implicit root.
//! - Spans take part in `PartialEq`; compare trees from different texts with
//!   [`Expr::eq_ignoring_spans`] or [`Query::eq_ignoring_spans`]. For every tree the parser
//!   produces, `parse(&tree.to_string())` gives the same tree ignoring spans.
//! - Inside a `let` value a bare `in` ends the value, so `x in [..]` must be parenthesised there.
//! - Nesting is limited to 64 levels so that hostile input cannot overflow the stack.
//! - Only the first error is reported; there is no recovery.

pub mod ast;
pub mod diagnostic;
mod lexer;
mod parser;
mod printer;
pub mod span;

pub use ast::{Expr, ExprKind, Ident, Query};
pub use diagnostic::Diagnostic;
pub use parser::{parse, parse_expr};
pub use span::Span;
