//! SQL generation: a [`Plan`] as PostgreSQL-dialect SQL over the store's tables, for `explain` and (later)
//! pushdown. This module writes text only; it never runs it.
//!
//! The tables are the store's: `profiles (entity, profile_id, primary_ns, primary_value, identities, fragments,
//! fragment_id, record)`, where a profile made of one fragment keeps its record in `fragments.record`, and
//! `profile_identities (entity, ns, value, profile_id)`. Records are read as `jsonb`. Each class the plan touches
//! becomes a CTE of its profiles with their merged records; relationship quantifiers become `EXISTS` /
//! `NOT EXISTS` subqueries that match the keys a record holds (read with a lax JSON path, so arrays crossed on
//! the way are flattened, as evaluation does) against `profile_identities`, hop by hop as
//! [`rapport_profile::navigation_hops`] describes each navigation. Experience-event conditions become subqueries
//! over the store's `experience_events` table (one row per event, linked to its person by an identity), their time
//! windows written against `now()`.
//!
//! Semantics follow evaluation: a missing value makes a comparison unknown, and only `TRUE` counts, so negation
//! is written `(…) IS NOT TRUE` and `forall` as `NOT EXISTS (… WHERE (…) IS NOT TRUE)`. Fields are read with the
//! SQL type of their schema type (`numeric`, `boolean`, `text`) or as `jsonb` when the type is not scalar.
//! Known differences: entities known only by reference (placeholders in the profile graph) have no row, so a
//! `forall` over a relationship ignores them; `min`/`max` consider numbers only; strings compare in the
//! database collation rather than by bytes.

use std::fmt::Write as _;

use rapport_model::{EntityKind, FieldPath};
use rapport_pql::ast::{CompareOp, Quantifier};
use rapport_profile::KeyHop;
use rapport_schema::{FieldType, SchemaSet};
use serde_json::Value;

use crate::plan::{Arith, Cond, Func, Plan, Root, RowExpr};

/// The SQL type an expression has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Numeric,
    Text,
    Boolean,
    Jsonb,
    /// SQL `NULL` of no particular type.
    Null,
}

/// A compiled expression and its type.
struct Sql {
    text: String,
    ty: Ty,
}

impl Sql {
    fn new(text: impl Into<String>, ty: Ty) -> Self {
        Self { text: text.into(), ty }
    }

    fn as_jsonb(&self) -> String {
        match self.ty {
            Ty::Jsonb => self.text.clone(),
            Ty::Null => "NULL::jsonb".to_owned(),
            Ty::Numeric => format!("to_jsonb(({})::numeric)", self.text),
            Ty::Text => format!("to_jsonb(({})::text)", self.text),
            Ty::Boolean => format!("to_jsonb(({})::boolean)", self.text),
        }
    }

    fn as_numeric(&self) -> String {
        match self.ty {
            Ty::Numeric => self.text.clone(),
            Ty::Jsonb => {
                format!("CASE WHEN jsonb_typeof({0}) = 'number' THEN ({0} #>> '{{}}')::numeric END", self.text)
            }
            _ => "NULL::numeric".to_owned(),
        }
    }

    fn as_text(&self) -> String {
        match self.ty {
            Ty::Text => self.text.clone(),
            Ty::Jsonb => format!("CASE WHEN jsonb_typeof({0}) = 'string' THEN {0} #>> '{{}}' END", self.text),
            _ => "NULL::text".to_owned(),
        }
    }
}

/// A SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A lax SQL/JSON path over `segments` (each quoted as a JSON string, so any field name is safe).
fn json_path(segments: &[String]) -> String {
    let mut out = "lax $".to_owned();
    for segment in segments {
        out.push('.');
        out.push_str(&Value::from(segment.as_str()).to_string());
    }
    out
}

/// A text-array literal for `#>` / `#>>`.
fn path_array(segments: &[String]) -> String {
    let items: Vec<String> = segments
        .iter()
        .map(|s| {
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                s.clone()
            } else {
                format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
            }
        })
        .collect();
    quote(&format!("{{{}}}", items.join(",")))
}

fn literal(value: &Value) -> Sql {
    match value {
        Value::Null => Sql::new("NULL", Ty::Null),
        Value::Bool(b) => Sql::new(if *b { "TRUE" } else { "FALSE" }, Ty::Boolean),
        Value::Number(n) => Sql::new(n.to_string(), Ty::Numeric),
        Value::String(s) => Sql::new(quote(s), Ty::Text),
        other => Sql::new(format!("{}::jsonb", quote(&other.to_string())), Ty::Jsonb),
    }
}

/// A local bound by a row-level quantifier: its SQL alias and the schema path of its array.
struct Local {
    alias: String,
    prefix: FieldPath,
}

struct Compiler<'a> {
    schemas: &'a SchemaSet,
    classes: Vec<EntityKind>,
    next_alias: usize,
}

/// The plan as one PostgreSQL `SELECT` returning the members' primary identities.
pub fn to_sql(plan: &Plan, schemas: &SchemaSet) -> String {
    let mut compiler = Compiler { schemas, classes: vec![plan.entity], next_alias: 1 };
    let condition = compiler.cond(&plan.root, plan.entity, "e0", 1);
    let mut out = String::from("WITH ");
    for (i, class) in compiler.classes.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        let _ = write!(
            out,
            "{name} AS (\n  SELECT p.profile_id, p.primary_ns, p.primary_value, COALESCE(p.record, f.record)::jsonb AS \
             record\n  FROM profiles p LEFT JOIN fragments f ON f.id = p.fragment_id\n  WHERE p.entity = {entity}\n)",
            name = class.name(),
            entity = quote(class.name())
        );
    }
    let _ = write!(
        out,
        "\nSELECT e0.primary_ns, e0.primary_value\nFROM {} e0\nWHERE {condition}\nORDER BY e0.profile_id;",
        plan.entity.name()
    );
    out
}

fn pad(depth: usize) -> String {
    "  ".repeat(depth)
}

impl Compiler<'_> {
    fn alias(&mut self, prefix: &str) -> String {
        let alias = format!("{prefix}{}", self.next_alias);
        self.next_alias += 1;
        alias
    }

    fn use_class(&mut self, class: EntityKind) {
        if !self.classes.contains(&class) {
            self.classes.push(class);
        }
    }

    fn cond(&mut self, cond: &Cond, entity: EntityKind, alias: &str, depth: usize) -> String {
        match cond {
            Cond::And(items) | Cond::Or(items) if items.is_empty() => {
                if matches!(cond, Cond::And(_)) { "TRUE" } else { "FALSE" }.to_owned()
            }
            Cond::And(items) | Cond::Or(items) => {
                let sep = if matches!(cond, Cond::And(_)) { "AND" } else { "OR" };
                let parts: Vec<String> = items.iter().map(|c| self.cond(c, entity, alias, depth + 1)).collect();
                format!("(\n{}{}\n{})", pad(depth + 1), parts.join(&format!("\n{}{sep} ", pad(depth + 1))), pad(depth))
            }
            Cond::Not(inner) => format!("({}) IS NOT TRUE", self.cond(inner, entity, alias, depth)),
            Cond::Row(expr) => {
                let sql = self.row(expr, entity, alias, &mut Vec::new());
                sql.text
            }
            Cond::Events(events) => {
                let event = self.alias("ev");
                crate::events::to_sql(events, alias, &event, &mut |expr: &RowExpr, at: &str| {
                    self.row(expr, EntityKind::Activity, at, &mut Vec::new()).text
                })
            }
            Cond::Related { quantifier, from, navigation, to, cond } => {
                self.use_class(*to);
                let target = self.alias("e");
                let link = self.link(*from, navigation, alias, &target, *to, depth + 1);
                let inner = self.cond(cond, *to, &target, depth + 1);
                let body = format!(
                    "SELECT 1 FROM {class} {target}\n{p}WHERE {link}\n{p}AND ",
                    class = to.name(),
                    p = pad(depth + 1)
                );
                match quantifier {
                    Quantifier::Exists => {
                        format!("EXISTS (\n{p}{body}{inner}\n{q})", p = pad(depth + 1), q = pad(depth))
                    }
                    Quantifier::Forall => {
                        format!(
                            "NOT EXISTS (\n{p}{body}({inner}) IS NOT TRUE\n{q})",
                            p = pad(depth + 1),
                            q = pad(depth)
                        )
                    }
                }
            }
        }
    }

    /// `EXISTS`: a key at `path` on the record of `keys_of` names the profile `named` (of class `class`) by an
    /// identity in namespace `ns`.
    fn names(&mut self, keys_of: &str, path: &str, named: &str, class: EntityKind, ns: &str) -> String {
        let identity = self.alias("i");
        let key = self.alias("k");
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        let json_path = format!("{} ? (@.type() == \"string\")", json_path(&segments));
        format!(
            "EXISTS (SELECT 1 FROM profile_identities {identity} WHERE {identity}.entity = {entity} AND \
             {identity}.profile_id = {named}.profile_id AND {identity}.ns = {ns} AND {identity}.value IN (SELECT \
             btrim({key} #>> '{{}}') FROM jsonb_path_query({keys_of}.record, {path}) AS {key}))",
            entity = quote(class.name()),
            ns = quote(ns),
            path = quote(&json_path),
        )
    }

    /// The condition relating `source` (of class `from`) to `target` (of class `to`) through `navigation`.
    fn link(
        &mut self,
        from: EntityKind,
        navigation: &str,
        source: &str,
        target: &str,
        to: EntityKind,
        depth: usize,
    ) -> String {
        let hops = rapport_profile::navigation_hops(from, navigation);
        let mut parts = Vec::new();
        for hop in hops {
            parts.push(match *hop {
                KeyHop::Forward { path, ns } => self.names(source, path, target, to, ns),
                KeyHop::Backward { path, ns } => self.names(target, path, source, from, ns),
                KeyHop::Through { relation, source_path, source_ns, target_path, target_ns } => {
                    self.use_class(relation);
                    let r = self.alias("r");
                    let to_source = self.names(&r, source_path, source, from, source_ns);
                    let to_target = self.names(&r, target_path, target, to, target_ns);
                    format!(
                        "EXISTS (\n{p}SELECT 1 FROM {class} {r}\n{p}WHERE {to_source}\n{p}AND {to_target}\n{q})",
                        class = relation.name(),
                        p = pad(depth + 1),
                        q = pad(depth)
                    )
                }
            });
        }
        match parts.len() {
            0 => "FALSE".to_owned(),
            1 => parts.remove(0),
            _ => format!("({})", parts.join(&format!("\n{}OR ", pad(depth)))),
        }
    }

    fn field(&self, entity: EntityKind, base: &str, prefix: &FieldPath, below: &FieldPath) -> Sql {
        if below.segments().is_empty() {
            return Sql::new(base.to_owned(), Ty::Jsonb);
        }
        let mut full = prefix.clone();
        for segment in below.segments() {
            full = full.child(segment);
        }
        let schema = if entity == EntityKind::Activity {
            Some(self.schemas.activity())
        } else {
            self.schemas.for_entity(entity)
        };
        let ty = schema.and_then(|s| s.field(&full)).map(|f| f.ty.clone());
        // Does the path cross an array between `base` and its end?
        let crosses = (prefix.segments().len() + 1..full.segments().len()).any(|n| {
            let step = FieldPath::from_segments(full.segments()[..n].iter().cloned());
            matches!(schema.and_then(|s| s.field(&step)).map(|f| &f.ty), Some(FieldType::Array(_)))
        });
        let segments = below.segments();
        if crosses {
            // Arrays crossed on the way: the array of every non-null value found, arrays at the end flattened
            // (`[*]` unwraps an array and keeps a scalar), or missing when there is none.
            let path = format!("{}[*] ? (@ != null)", json_path(segments));
            let values = format!("jsonb_path_query_array({base}, {})", quote(&path));
            return Sql::new(
                format!("(SELECT CASE jsonb_array_length(v) WHEN 0 THEN NULL ELSE v END FROM (SELECT {values} AS v) AS flat)"),
                Ty::Jsonb,
            );
        }
        let path = path_array(segments);
        match ty {
            Some(FieldType::Number | FieldType::Integer) => {
                Sql::new(format!("({base} #>> {path})::numeric"), Ty::Numeric)
            }
            Some(FieldType::Boolean) => Sql::new(format!("({base} #>> {path})::boolean"), Ty::Boolean),
            Some(FieldType::String | FieldType::Date | FieldType::DateTime) => {
                Sql::new(format!("({base} #>> {path})"), Ty::Text)
            }
            _ => Sql::new(format!("({base} #> {path})"), Ty::Jsonb),
        }
    }

    /// The elements of an array-valued expression as a set-returning `jsonb_path_query` (a scalar is one element,
    /// a missing value none).
    fn elements(&self, sql: &Sql) -> String {
        format!("jsonb_path_query({}, 'lax $[*]')", sql.as_jsonb())
    }

    fn compare(op: CompareOp, a: &Sql, b: &Sql) -> String {
        let op = match op {
            CompareOp::Eq => "=",
            CompareOp::NotEq => "<>",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        };
        match (a.ty, b.ty) {
            (Ty::Null, _) | (_, Ty::Null) => "NULL::boolean".to_owned(),
            (x, y) if x == y && x != Ty::Jsonb => format!("{} {op} {}", a.text, b.text),
            (Ty::Jsonb, Ty::Numeric) | (Ty::Numeric, Ty::Jsonb) => {
                format!("{} {op} {}", a.as_numeric(), b.as_numeric())
            }
            (Ty::Jsonb, Ty::Text) | (Ty::Text, Ty::Jsonb) => format!("{} {op} {}", a.as_text(), b.as_text()),
            (Ty::Jsonb, Ty::Jsonb) => format!(
                "(jsonb_typeof({a}) = jsonb_typeof({b}) AND jsonb_typeof({a}) IN ('number', 'string', 'boolean') AND \
                 {a} {op} {b})",
                a = a.text,
                b = b.text
            ),
            // Values of different scalar types never compare.
            _ => "NULL::boolean".to_owned(),
        }
    }

    fn row(&mut self, expr: &RowExpr, entity: EntityKind, alias: &str, locals: &mut Vec<Local>) -> Sql {
        let root = FieldPath::from_segments(Vec::<String>::new());
        match expr {
            RowExpr::Literal(value) => literal(value),
            RowExpr::Field { root: Root::Record, path } => self.field(entity, &format!("{alias}.record"), &root, path),
            RowExpr::Field { root: Root::Local(i), path } => match locals.get(*i) {
                Some(local) => {
                    let (base, prefix) = (local.alias.clone(), local.prefix.clone());
                    self.field(entity, &format!("{base}.v"), &prefix, path)
                }
                None => Sql::new("NULL", Ty::Null),
            },
            RowExpr::Array(items) => {
                let items: Vec<String> = items.iter().map(|e| self.row(e, entity, alias, locals).as_jsonb()).collect();
                Sql::new(format!("jsonb_build_array({})", items.join(", ")), Ty::Jsonb)
            }
            RowExpr::Compare(op, a, b) => {
                let (a, b) = (self.row(a, entity, alias, locals), self.row(b, entity, alias, locals));
                Sql::new(format!("({})", Self::compare(*op, &a, &b)), Ty::Boolean)
            }
            RowExpr::And(items) | RowExpr::Or(items) => {
                let sep = if matches!(expr, RowExpr::And(_)) { " AND " } else { " OR " };
                let mut parts = Vec::new();
                for item in items {
                    let sql = self.row(item, entity, alias, locals);
                    parts.push(self.boolean(&sql));
                }
                Sql::new(format!("({})", parts.join(sep)), Ty::Boolean)
            }
            RowExpr::Not(e) => {
                let inner = self.row(e, entity, alias, locals);
                Sql::new(format!("({}) IS NOT TRUE", self.boolean(&inner)), Ty::Boolean)
            }
            RowExpr::Arith(op, a, b) => {
                let (a, b) = (self.row(a, entity, alias, locals), self.row(b, entity, alias, locals));
                let (a, b) = (a.as_numeric(), b.as_numeric());
                let text = match op {
                    Arith::Add => format!("({a} + {b})"),
                    Arith::Sub => format!("({a} - {b})"),
                    Arith::Mul => format!("({a} * {b})"),
                    Arith::Div => format!("({a} / NULLIF({b}, 0))"),
                    Arith::Rem => format!("mod({a}, NULLIF({b}, 0))"),
                };
                Sql::new(text, Ty::Numeric)
            }
            RowExpr::Neg(e) => {
                let inner = self.row(e, entity, alias, locals);
                Sql::new(format!("(-{})", inner.as_numeric()), Ty::Numeric)
            }
            RowExpr::In { expr, list, negated } => {
                let value = self.row(expr, entity, alias, locals);
                let not = if *negated { "NOT " } else { "" };
                if let RowExpr::Array(items) = list.as_ref() {
                    let candidates: Vec<Sql> = items.iter().map(|e| self.row(e, entity, alias, locals)).collect();
                    if candidates.iter().all(|c| c.ty == value.ty && c.ty != Ty::Jsonb) {
                        let texts: Vec<&str> = candidates.iter().map(|c| c.text.as_str()).collect();
                        return Sql::new(format!("({} {not}IN ({}))", value.text, texts.join(", ")), Ty::Boolean);
                    }
                }
                let list = self.row(list, entity, alias, locals);
                let element = self.alias("x");
                Sql::new(
                    format!(
                        "({v} IS NOT NULL AND {not}EXISTS (SELECT 1 FROM {elements} AS {element} WHERE {element} = {v}))",
                        v = value.as_jsonb(),
                        elements = self.elements(&list)
                    ),
                    Ty::Boolean,
                )
            }
            RowExpr::Like { expr, pattern } => {
                let value = self.row(expr, entity, alias, locals);
                Sql::new(format!("({} LIKE {} ESCAPE '')", value.as_text(), quote(pattern)), Ty::Boolean)
            }
            RowExpr::Call(func, args) => self.call(*func, args, entity, alias, locals),
            RowExpr::If(test, then, otherwise) => {
                let test = self.row(test, entity, alias, locals);
                let (then, otherwise) =
                    (self.row(then, entity, alias, locals), self.row(otherwise, entity, alias, locals));
                let (then, otherwise, ty) = if then.ty == otherwise.ty || otherwise.ty == Ty::Null {
                    (then.text.clone(), otherwise.text.clone(), then.ty)
                } else if then.ty == Ty::Null {
                    (then.text.clone(), otherwise.text.clone(), otherwise.ty)
                } else {
                    (then.as_jsonb(), otherwise.as_jsonb(), Ty::Jsonb)
                };
                Sql::new(format!("(CASE WHEN {} THEN {then} ELSE {otherwise} END)", self.boolean(&test)), ty)
            }
            RowExpr::Quantified { quantifier, local, source, cond } => {
                let source = self.row(source, entity, alias, locals);
                let element = self.alias("l");
                let prefix = match source_path(expr, locals) {
                    Some(prefix) => prefix,
                    None => root.clone(),
                };
                locals.truncate(*local);
                locals.push(Local { alias: element.clone(), prefix });
                let cond = self.row(cond, entity, alias, locals);
                locals.truncate(*local);
                let from = format!("{} AS {element}(v)", self.elements(&source));
                Sql::new(
                    match quantifier {
                        Quantifier::Exists => {
                            format!("EXISTS (SELECT 1 FROM {from} WHERE {})", self.boolean(&cond))
                        }
                        Quantifier::Forall => {
                            format!("NOT EXISTS (SELECT 1 FROM {from} WHERE ({}) IS NOT TRUE)", self.boolean(&cond))
                        }
                    },
                    Ty::Boolean,
                )
            }
        }
    }

    /// A boolean condition from any expression: only `true` is true.
    fn boolean(&self, sql: &Sql) -> String {
        match sql.ty {
            Ty::Boolean => sql.text.clone(),
            Ty::Jsonb => format!("({} = 'true'::jsonb)", sql.text),
            _ => "FALSE".to_owned(),
        }
    }

    fn call(&mut self, func: Func, args: &[RowExpr], entity: EntityKind, alias: &str, locals: &mut Vec<Local>) -> Sql {
        let values: Vec<Sql> = args.iter().map(|a| self.row(a, entity, alias, locals)).collect();
        let receiver = values.first().map_or_else(|| Sql::new("NULL", Ty::Null), |s| Sql::new(s.text.clone(), s.ty));
        let x = self.alias("x");
        let elements = self.elements(&receiver);
        match func {
            Func::Includes => {
                let needle = values.get(1).map_or_else(|| "NULL::jsonb".to_owned(), Sql::as_jsonb);
                Sql::new(format!("EXISTS (SELECT 1 FROM {elements} AS {x} WHERE {x} = {needle})"), Ty::Boolean)
            }
            Func::Intersects => {
                let other =
                    values.get(1).map_or_else(|| Sql::new("NULL", Ty::Null), |s| Sql::new(s.text.clone(), s.ty));
                let y = self.alias("x");
                Sql::new(
                    format!(
                        "EXISTS (SELECT 1 FROM {elements} AS {x}, {} AS {y} WHERE {x} = {y})",
                        self.elements(&other)
                    ),
                    Ty::Boolean,
                )
            }
            Func::Count => Sql::new(format!("(SELECT count(*) FROM {elements} AS {x})"), Ty::Numeric),
            Func::Distinct => Sql::new(format!("(SELECT jsonb_agg(DISTINCT {x}) FROM {elements} AS {x})"), Ty::Jsonb),
            Func::Sum | Func::Average | Func::Min | Func::Max => {
                let value = format!("({x} #>> '{{}}')::numeric");
                let aggregate = match func {
                    // The sum of nothing is 0; the other aggregates of nothing are missing.
                    Func::Sum => format!("COALESCE(sum({value}), 0)"),
                    Func::Average => format!("avg({value})"),
                    Func::Min => format!("min({value})"),
                    _ => format!("max({value})"),
                };
                Sql::new(
                    format!("(SELECT {aggregate} FROM {elements} AS {x} WHERE jsonb_typeof({x}) = 'number')"),
                    Ty::Numeric,
                )
            }
            Func::IsNull => Sql::new(
                match receiver.ty {
                    Ty::Jsonb => format!("({0} IS NULL OR {0} = 'null'::jsonb)", receiver.text),
                    _ => format!("({} IS NULL)", receiver.text),
                },
                Ty::Boolean,
            ),
            Func::IsNotNull => Sql::new(
                match receiver.ty {
                    Ty::Jsonb => format!("({0} IS NOT NULL AND {0} <> 'null'::jsonb)", receiver.text),
                    _ => format!("({} IS NOT NULL)", receiver.text),
                },
                Ty::Boolean,
            ),
            Func::Head => Sql::new(format!("jsonb_path_query_first({}, 'lax $[*]')", receiver.as_jsonb()), Ty::Jsonb),
            Func::StartsWith
            | Func::DoesNotStartWith
            | Func::EndsWith
            | Func::DoesNotEndWith
            | Func::Contains
            | Func::DoesNotContain
            | Func::Equals
            | Func::NotEqualTo => {
                let (mut s, mut needle) =
                    (receiver.as_text(), values.get(1).map_or_else(|| "NULL::text".to_owned(), Sql::as_text));
                match values.get(2) {
                    Some(flag) if flag.text == "FALSE" => {
                        s = format!("lower({s})");
                        needle = format!("lower({needle})");
                    }
                    Some(flag) if flag.text != "TRUE" => {
                        let test = self.boolean(flag);
                        s = format!("(CASE WHEN ({test}) IS NOT DISTINCT FROM FALSE THEN lower({s}) ELSE {s} END)");
                        needle = format!(
                            "(CASE WHEN ({test}) IS NOT DISTINCT FROM FALSE THEN lower({needle}) ELSE {needle} END)"
                        );
                    }
                    _ => {}
                }
                let test = match func {
                    Func::StartsWith => format!("starts_with({s}, {needle})"),
                    Func::DoesNotStartWith => format!("NOT starts_with({s}, {needle})"),
                    Func::EndsWith => format!("right({s}, length({needle})) = {needle}"),
                    Func::DoesNotEndWith => format!("right({s}, length({needle})) <> {needle}"),
                    Func::Contains => format!("strpos({s}, {needle}) > 0"),
                    Func::DoesNotContain => format!("strpos({s}, {needle}) = 0"),
                    Func::Equals => format!("{s} = {needle}"),
                    _ => format!("{s} <> {needle}"),
                };
                Sql::new(format!("({test})"), Ty::Boolean)
            }
        }
    }
}

/// The schema path of the array a row quantifier ranges over, when its source is a field.
fn source_path(expr: &RowExpr, locals: &[Local]) -> Option<FieldPath> {
    let RowExpr::Quantified { source, .. } = expr else { return None };
    let RowExpr::Field { root, path } = source.as_ref() else { return None };
    let mut full = match root {
        Root::Record => FieldPath::from_segments(Vec::<String>::new()),
        Root::Local(i) => locals.get(*i)?.prefix.clone(),
    };
    for segment in path.segments() {
        full = full.child(segment);
    }
    Some(full)
}
