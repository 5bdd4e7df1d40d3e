//! Row-level evaluation of a [`RowExpr`] on one merged record.
//!
//! Semantics: a missing field is `null`; comparisons and `in`/`notIn` with a `null` side are false; `and`/`or`/
//! `not` are two-valued (only `true` is true). Numbers compare as 64-bit floats; strings, dates and date-times
//! compare as text (ISO 8601 orders correctly).

use std::cmp::Ordering;

use rapport_model::Record;
use rapport_pql::ast::{CompareOp, Quantifier};
use serde_json::Value;

use crate::plan::{Arith, Func, Root, RowExpr};

/// The value at `segments` below `value`, flattening arrays crossed on the way; `Null` when absent.
fn resolve(value: &Value, segments: &[String]) -> Value {
    let Some((first, rest)) = segments.split_first() else { return value.clone() };
    match value {
        Value::Object(map) => map.get(first).map_or(Value::Null, |next| resolve(next, rest)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match resolve(item, segments) {
                    Value::Null => {}
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Array(out)
            }
        }
        _ => Value::Null,
    }
}

pub(crate) fn record_field(record: &Record, segments: &[String]) -> Value {
    let Some((first, rest)) = segments.split_first() else { return Value::Object(record.clone()) };
    record.get(first).map_or(Value::Null, |v| resolve(v, rest))
}

/// What row evaluation reads of one entity: the value at a path of its record, arrays crossed on the way
/// flattened, `Null` when absent. A merged [`Record`] is one source; the columns of
/// [`crate::columns::Columns`] are another.
pub trait Fields {
    /// The value at `segments` (the whole record for no segments).
    fn field(&self, segments: &[String]) -> Value;
}

impl Fields for Record {
    fn field(&self, segments: &[String]) -> Value {
        record_field(self, segments)
    }
}

pub(crate) fn truthy(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
}

pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Some(Ordering::Equal) || (a == b && !a.is_null())
}

pub(crate) fn like(text: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|skip| like(&text[skip..], rest)),
        Some(('_', rest)) => !text.is_empty() && like(&text[1..], rest),
        Some((c, rest)) => text.first() == Some(c) && like(&text[1..], rest),
    }
}

fn elements(value: &Value) -> Vec<Value> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn numbers(value: &Value) -> Vec<f64> {
    elements(value).iter().filter_map(Value::as_f64).collect()
}

pub(crate) fn string_test(func: Func, args: &[Value]) -> Value {
    let (Some(Value::String(s)), Some(Value::String(x))) = (args.first(), args.get(1)) else {
        return Value::Bool(false);
    };
    let sensitive = !matches!(args.get(2), Some(Value::Bool(false)));
    let (s, x) = if sensitive { (s.clone(), x.clone()) } else { (s.to_lowercase(), x.to_lowercase()) };
    Value::Bool(match func {
        Func::StartsWith => s.starts_with(&x),
        Func::DoesNotStartWith => !s.starts_with(&x),
        Func::EndsWith => s.ends_with(&x),
        Func::DoesNotEndWith => !s.ends_with(&x),
        Func::Contains => s.contains(&x),
        Func::DoesNotContain => !s.contains(&x),
        Func::Equals => s == x,
        Func::NotEqualTo => s != x,
        _ => false,
    })
}

fn call(func: Func, args: &[Value]) -> Value {
    let receiver = args.first().unwrap_or(&Value::Null);
    match func {
        Func::Includes => Value::Bool(elements(receiver).iter().any(|e| args.get(1).is_some_and(|x| equal(e, x)))),
        Func::Intersects => {
            let other = elements(args.get(1).unwrap_or(&Value::Null));
            Value::Bool(elements(receiver).iter().any(|e| other.iter().any(|x| equal(e, x))))
        }
        Func::Count => Value::from(elements(receiver).len() as u64),
        Func::Distinct => {
            let mut out: Vec<Value> = Vec::new();
            for e in elements(receiver) {
                if !out.contains(&e) {
                    out.push(e);
                }
            }
            Value::Array(out)
        }
        Func::Sum => Value::from(numbers(receiver).iter().sum::<f64>()),
        Func::Average => {
            let n = numbers(receiver);
            if n.is_empty() {
                Value::Null
            } else {
                Value::from(n.iter().sum::<f64>() / n.len() as f64)
            }
        }
        Func::Min | Func::Max => {
            let items = elements(receiver);
            let pick = items.into_iter().filter(|v| !v.is_null()).reduce(|best, v| match compare(&v, &best) {
                Some(Ordering::Less) if func == Func::Min => v,
                Some(Ordering::Greater) if func == Func::Max => v,
                _ => best,
            });
            pick.unwrap_or(Value::Null)
        }
        Func::StartsWith
        | Func::DoesNotStartWith
        | Func::EndsWith
        | Func::DoesNotEndWith
        | Func::Contains
        | Func::DoesNotContain
        | Func::Equals
        | Func::NotEqualTo => string_test(func, args),
        Func::IsNull => Value::Bool(receiver.is_null()),
        Func::IsNotNull => Value::Bool(!receiver.is_null()),
        Func::Head => elements(receiver).into_iter().next().unwrap_or(Value::Null),
    }
}

/// Evaluates `expr` on `record`; `locals` holds the elements bound by enclosing row quantifiers.
pub fn eval<F: Fields + ?Sized>(expr: &RowExpr, record: &F, locals: &mut Vec<Value>) -> Value {
    match expr {
        RowExpr::Literal(value) => value.clone(),
        RowExpr::Field { root: Root::Record, path } => record.field(path.segments()),
        RowExpr::Field { root: Root::Local(i), path } => {
            locals.get(*i).map_or(Value::Null, |element| resolve(element, path.segments()))
        }
        RowExpr::Array(items) => Value::Array(items.iter().map(|e| eval(e, record, locals)).collect()),
        RowExpr::Compare(op, a, b) => {
            let (a, b) = (eval(a, record, locals), eval(b, record, locals));
            let ordering = compare(&a, &b);
            Value::Bool(match op {
                CompareOp::Eq => ordering == Some(Ordering::Equal),
                CompareOp::NotEq => ordering.is_some_and(|o| o != Ordering::Equal),
                CompareOp::Lt => ordering == Some(Ordering::Less),
                CompareOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                CompareOp::Gt => ordering == Some(Ordering::Greater),
                CompareOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
            })
        }
        RowExpr::And(items) => Value::Bool(items.iter().all(|e| truthy(&eval(e, record, locals)))),
        RowExpr::Or(items) => Value::Bool(items.iter().any(|e| truthy(&eval(e, record, locals)))),
        RowExpr::Not(e) => Value::Bool(!truthy(&eval(e, record, locals))),
        RowExpr::Arith(op, a, b) => {
            let (Some(a), Some(b)) = (eval(a, record, locals).as_f64(), eval(b, record, locals).as_f64()) else {
                return Value::Null;
            };
            let out = match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div if b == 0.0 => return Value::Null,
                Arith::Div => a / b,
                Arith::Rem if b == 0.0 => return Value::Null,
                Arith::Rem => a % b,
            };
            serde_json::Number::from_f64(out).map_or(Value::Null, Value::Number)
        }
        RowExpr::Neg(e) => eval(e, record, locals)
            .as_f64()
            .and_then(|x| serde_json::Number::from_f64(-x))
            .map_or(Value::Null, Value::Number),
        RowExpr::In { expr, list, negated } => {
            let value = eval(expr, record, locals);
            if value.is_null() {
                return Value::Bool(false);
            }
            let found = elements(&eval(list, record, locals)).iter().any(|x| equal(&value, x));
            Value::Bool(found != *negated)
        }
        RowExpr::Like { expr, pattern } => match eval(expr, record, locals) {
            Value::String(s) => {
                let (text, pattern): (Vec<char>, Vec<char>) = (s.chars().collect(), pattern.chars().collect());
                Value::Bool(like(&text, &pattern))
            }
            _ => Value::Bool(false),
        },
        RowExpr::Call(func, args) => {
            let values: Vec<Value> = args.iter().map(|a| eval(a, record, locals)).collect();
            call(*func, &values)
        }
        RowExpr::If(test, then, otherwise) => {
            if truthy(&eval(test, record, locals)) {
                eval(then, record, locals)
            } else {
                eval(otherwise, record, locals)
            }
        }
        RowExpr::Quantified { quantifier, local, source, cond } => {
            let items = elements(&eval(source, record, locals));
            let mut test = |item: Value| {
                locals.truncate(*local);
                locals.push(item);
                let ok = truthy(&eval(cond, record, locals));
                locals.truncate(*local);
                ok
            };
            Value::Bool(match quantifier {
                Quantifier::Exists => items.into_iter().any(&mut test),
                Quantifier::Forall => items.into_iter().all(&mut test),
            })
        }
    }
}

/// True when `expr` holds for `record`.
pub fn holds<F: Fields + ?Sized>(expr: &RowExpr, record: &F) -> bool {
    truthy(&eval(expr, record, &mut Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_runs_and_single_characters() {
        let m = |t: &str, p: &str| like(&t.chars().collect::<Vec<_>>(), &p.chars().collect::<Vec<_>>());
        assert!(m("Vancouver", "%ou%"));
        assert!(m("Les", "_es"));
        assert!(!m("Les", "es"));
        assert!(m("", "%"));
    }

    #[test]
    fn resolve_flattens_arrays_of_objects() {
        let value = serde_json::json!({"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}]});
        assert_eq!(resolve(&value, &["a".into(), "b".into()]), serde_json::json!([1, 2, 3]));
        assert_eq!(resolve(&value, &["a".into(), "z".into()]), Value::Null);
    }
}
