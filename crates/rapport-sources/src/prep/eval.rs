//! The functions and the evaluator.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rapport_model::RowErrorCode;
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use super::datefmt::DatePattern;
use super::{BinOp, EvalError, Expr, ParseError, Span};
use crate::formats;

/// The functions the language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Concat,
    Iif,
    ToObject,
    Decode,
    Explode,
    Substr,
    Left,
    Right,
    Lower,
    Upper,
    Trim,
    Ltrim,
    Rtrim,
    Replacestr,
    Equals,
    EqualsIgnoreCase,
    Coalesce,
    IsEmpty,
    IsNull,
    IsNotNull,
    ContainsKey,
    Nullify,
    SizeOf,
    First,
    Last,
    ToArray,
    ArraysToObjects,
    JsonToObject,
    Sha256,
    Date,
    Format,
    ToInteger,
    ToBigint,
    ToDecimal,
    ToFloat,
    ToBoolean,
    ToString,
}

/// Every name, with its function and arity (min, max; `None` = any number).
const FUNCTIONS: &[(&str, Func, usize, Option<usize>)] = &[
    ("concat", Func::Concat, 1, None),
    ("iif", Func::Iif, 3, Some(3)),
    ("to_object", Func::ToObject, 2, None),
    ("decode", Func::Decode, 3, None),
    ("explode", Func::Explode, 1, Some(2)),
    ("split", Func::Explode, 2, Some(2)),
    ("substr", Func::Substr, 2, Some(3)),
    ("left", Func::Left, 2, Some(2)),
    ("right", Func::Right, 2, Some(2)),
    ("lower", Func::Lower, 1, Some(1)),
    ("lcase", Func::Lower, 1, Some(1)),
    ("upper", Func::Upper, 1, Some(1)),
    ("ucase", Func::Upper, 1, Some(1)),
    ("trim", Func::Trim, 1, Some(1)),
    ("ltrim", Func::Ltrim, 1, Some(1)),
    ("rtrim", Func::Rtrim, 1, Some(1)),
    ("replacestr", Func::Replacestr, 3, Some(3)),
    ("equals", Func::Equals, 2, Some(2)),
    ("equalsIgnoreCase", Func::EqualsIgnoreCase, 2, Some(2)),
    ("coalesce", Func::Coalesce, 1, None),
    ("is_empty", Func::IsEmpty, 1, Some(1)),
    ("is_null", Func::IsNull, 1, Some(1)),
    ("isnull", Func::IsNull, 1, Some(1)),
    ("is_not_null", Func::IsNotNull, 1, Some(1)),
    ("contains_key", Func::ContainsKey, 1, Some(1)),
    ("is_set", Func::ContainsKey, 1, Some(1)),
    ("nullify", Func::Nullify, 0, Some(0)),
    ("size_of", Func::SizeOf, 1, Some(1)),
    ("first", Func::First, 1, None),
    ("last", Func::Last, 1, None),
    ("to_array", Func::ToArray, 1, None),
    ("arrays_to_objects", Func::ArraysToObjects, 2, None),
    ("json_to_object", Func::JsonToObject, 1, Some(1)),
    ("sha256", Func::Sha256, 1, Some(2)),
    ("date", Func::Date, 1, Some(3)),
    ("format", Func::Format, 2, Some(2)),
    ("to_integer", Func::ToInteger, 1, Some(1)),
    ("to_bigint", Func::ToBigint, 1, Some(1)),
    ("to_decimal", Func::ToDecimal, 1, Some(1)),
    ("to_float", Func::ToFloat, 1, Some(1)),
    ("to_boolean", Func::ToBoolean, 1, Some(1)),
    ("to_string", Func::ToString, 1, Some(1)),
    ("string", Func::ToString, 1, Some(1)),
];

/// The names of every function, for documentation and hints.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|(name, ..)| *name)
}

impl Func {
    pub(crate) fn resolve(name: &str, span: Span) -> Result<Func, ParseError> {
        if let Some((_, func, ..)) = FUNCTIONS.iter().find(|(n, ..)| *n == name) {
            return Ok(*func);
        }
        let hint = names()
            .map(|candidate| (strsim::jaro_winkler(&name.to_lowercase(), &candidate.to_lowercase()), candidate))
            .filter(|(score, _)| *score >= 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, candidate)| format!(" (did you mean `{candidate}`?)"))
            .unwrap_or_default();
        Err(ParseError::new(span, format!("unknown function `{name}`{hint}")))
    }

    pub(crate) fn name(self) -> &'static str {
        FUNCTIONS.iter().find(|(_, f, ..)| *f == self).map_or("?", |(name, ..)| *name)
    }

    /// Refuses literal arguments no row could make work (a malformed date pattern, a date default that is
    /// no date) when the expression is parsed, rather than rejecting every row.
    pub(crate) fn check_literals(self, args: &[Expr]) -> Result<(), ParseError> {
        let literal = |index: usize| match args.get(index) {
            Some(Expr::Lit { value: Value::String(text), span }) => Some((text.as_str(), *span)),
            _ => None,
        };
        if !matches!(self, Func::Date | Func::Format) {
            return Ok(());
        }
        let mut pattern = None;
        if let Some((text, span)) = literal(1) {
            let compiled = DatePattern::compile(text)
                .map_err(|message| ParseError::new(span, format!("{}: argument 2: {message}", self.name())))?;
            pattern = Some(compiled);
        }
        if let (Func::Date, Some((text, span))) = (self, literal(2)) {
            if instant(text).is_none() && pattern.as_ref().and_then(|p| p.parse(text)).is_none() {
                return Err(ParseError::new(span, format!("date: argument 3: {}", default_not_a_date(text))));
            }
        }
        Ok(())
    }

    pub(crate) fn check_arity(self, count: usize, span: Span) -> Result<(), ParseError> {
        let (_, _, min, max) = FUNCTIONS.iter().find(|(_, f, ..)| *f == self).copied().unwrap_or(("?", self, 0, None));
        let ok = count >= min && max.is_none_or(|max| count <= max);
        if ok && !(self == Func::ToObject && count % 2 == 1) {
            return Ok(());
        }
        let expected = match max {
            _ if self == Func::ToObject => "an even number of (at least 2)".to_owned(),
            Some(max) if max == min => format!("{min}"),
            Some(max) => format!("{min} to {max}"),
            None => format!("at least {min}"),
        };
        Err(ParseError::new(span, format!("{} takes {expected} arguments, not {count}", self.name())))
    }
}

type Fields = Map<String, Value>;

/// Reads a field path from the row; blank strings read as null.
fn field(path: &[String], fields: &Fields) -> Value {
    let Some((first, rest)) = path.split_first() else { return Value::Null };
    let mut current = match fields.get(first) {
        Some(value) => value,
        None => return Value::Null,
    };
    for segment in rest {
        current = match current.get(segment.as_str()) {
            Some(value) => value,
            None => return Value::Null,
        };
    }
    match current {
        Value::String(text) if text.trim().is_empty() => Value::Null,
        other => other.clone(),
    }
}

pub(crate) fn eval(expr: &Expr, fields: &Fields) -> Result<Value, EvalError> {
    match expr {
        Expr::Lit { value, .. } => Ok(value.clone()),
        Expr::Field { path, .. } => Ok(field(path, fields)),
        Expr::Not { expr, .. } => Ok(Value::Bool(!truth(&eval(expr, fields)?, "!", None)?)),
        Expr::Neg { expr, .. } => match eval(expr, fields)? {
            Value::Null => Ok(Value::Null),
            Value::Number(n) => Ok(match n.as_i64() {
                Some(int) => Value::from(-int),
                None => float(-n.as_f64().unwrap_or(0.0)),
            }),
            other => Err(EvalError::new("-", None, RowErrorCode::Invalid, format!("cannot negate {}", show(&other)))),
        },
        Expr::Binary { op: BinOp::And, lhs, rhs, .. } => {
            Ok(Value::Bool(truth(&eval(lhs, fields)?, "&&", Some(1))? && truth(&eval(rhs, fields)?, "&&", Some(2))?))
        }
        Expr::Binary { op: BinOp::Or, lhs, rhs, .. } => {
            Ok(Value::Bool(truth(&eval(lhs, fields)?, "||", Some(1))? || truth(&eval(rhs, fields)?, "||", Some(2))?))
        }
        Expr::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (eval(lhs, fields)?, eval(rhs, fields)?);
            Ok(Value::Bool(match op {
                BinOp::Eq => equal(&a, &b),
                BinOp::Ne => !equal(&a, &b),
                _ => match compare(&a, &b, op.symbol())? {
                    None => false,
                    Some(ordering) => match op {
                        BinOp::Lt => ordering.is_lt(),
                        BinOp::Le => ordering.is_le(),
                        BinOp::Gt => ordering.is_gt(),
                        _ => ordering.is_ge(),
                    },
                },
            }))
        }
        Expr::Call { func: Func::Iif, args, .. } => {
            let condition = eval(&args[0], fields)?;
            if truth(&condition, "iif", Some(1))? {
                eval(&args[1], fields)
            } else {
                eval(&args[2], fields)
            }
        }
        Expr::Call { func: Func::ContainsKey, args, .. } => {
            let path = eval(&args[0], fields)?;
            let Value::String(path) = path else {
                return Err(EvalError::new(
                    "contains_key",
                    Some(1),
                    RowErrorCode::Invalid,
                    "expected a field path string",
                ));
            };
            let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
            Ok(Value::Bool(!field(&segments, fields).is_null()))
        }
        Expr::Call { func, args, .. } => {
            let values = args.iter().map(|arg| eval(arg, fields)).collect::<Result<Vec<_>, _>>()?;
            call(*func, values)
        }
    }
}

/// The truth of a condition: booleans, and null as false. Anything else is an error.
fn truth(value: &Value, function: &'static str, argument: Option<usize>) -> Result<bool, EvalError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        other => Err(EvalError::new(
            function,
            argument,
            RowErrorCode::Invalid,
            format!("expected a condition (true or false), found {}", show(other)),
        )),
    }
}

/// How a value is named in messages.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        other => other.to_string(),
    }
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// Equality with the loose coercions Data Prep (JEXL) applies: a number equals a string holding it, a boolean
/// equals `"true"` / `"false"`.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            matches!((as_number(a), as_number(b)), (Some(x), Some(y)) if x == y)
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s.trim().eq_ignore_ascii_case(if *x { "true" } else { "false" })
        }
        _ => a == b,
    }
}

/// Ordering for `<` and friends; `None` when either side is null.
fn compare(a: &Value, b: &Value, op: &'static str) -> Result<Option<std::cmp::Ordering>, EvalError> {
    if a.is_null() || b.is_null() {
        return Ok(None);
    }
    if let (Value::String(x), Value::String(y)) = (a, b) {
        return Ok(Some(x.cmp(y)));
    }
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => Ok(x.partial_cmp(&y)),
        _ => {
            Err(EvalError::new(op, None, RowErrorCode::Invalid, format!("cannot compare {} with {}", show(a), show(b))))
        }
    }
}

/// A value as text: strings as they are, numbers and booleans printed, arrays and objects as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn string_arg(function: Func, index: usize, value: &Value) -> Result<Option<String>, EvalError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(_) | Value::Bool(_) => Ok(Some(value.to_string())),
        other => Err(EvalError::new(
            function.name(),
            Some(index + 1),
            RowErrorCode::Invalid,
            format!("expected a string, found {}", show(other)),
        )),
    }
}

fn int_arg(function: Func, index: usize, value: &Value) -> Result<i64, EvalError> {
    match value {
        Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or(0)),
        other => Err(EvalError::new(
            function.name(),
            Some(index + 1),
            RowErrorCode::Invalid,
            format!("expected a whole number, found {}", show(other)),
        )),
    }
}

fn fault(function: Func, argument: usize, fault: formats::Fault) -> EvalError {
    EvalError::new(function.name(), Some(argument), fault.code, fault.message)
}

fn call(func: Func, mut args: Vec<Value>) -> Result<Value, EvalError> {
    let err = |argument: usize, code: RowErrorCode, message: String| {
        EvalError::new(func.name(), Some(argument), code, message)
    };
    Ok(match func {
        Func::Concat => {
            if args.iter().all(Value::is_null) {
                Value::Null
            } else {
                Value::String(args.iter().map(text).collect())
            }
        }
        Func::ToObject => {
            let mut object = Map::new();
            for (index, pair) in args.chunks(2).enumerate() {
                let Value::String(key) = &pair[0] else {
                    return Err(err(
                        index * 2 + 1,
                        RowErrorCode::Invalid,
                        format!("expected a key string, found {}", show(&pair[0])),
                    ));
                };
                if !pair[1].is_null() {
                    object.insert(key.clone(), pair[1].clone());
                }
            }
            Value::Object(object)
        }
        Func::Decode => {
            let key = args.remove(0);
            let mut pairs = args.chunks_exact(2);
            let found = pairs.by_ref().find(|pair| equal(&key, &pair[0])).map(|pair| pair[1].clone());
            let default = pairs.remainder().first().cloned();
            found.or(default).unwrap_or(Value::Null)
        }
        Func::Explode => {
            let Some(input) = string_arg(func, 0, &args[0])? else { return Ok(Value::Null) };
            let separator = match args.get(1) {
                Some(value) => string_arg(func, 1, value)?.unwrap_or_else(|| ",".into()).replace('\\', ""),
                None => ",".into(),
            };
            if separator.is_empty() {
                return Err(err(2, RowErrorCode::Invalid, "the separator is empty".into()));
            }
            let parts: Vec<Value> =
                input.split(separator.as_str()).map(str::trim).filter(|p| !p.is_empty()).map(Value::from).collect();
            if parts.is_empty() {
                Value::Null
            } else {
                Value::Array(parts)
            }
        }
        Func::Substr | Func::Left | Func::Right => {
            let Some(input) = string_arg(func, 0, &args[0])? else { return Ok(Value::Null) };
            let chars: Vec<char> = input.chars().collect();
            let len = chars.len() as i64;
            let (start, count) = match func {
                Func::Substr => {
                    let start = int_arg(func, 1, &args[1])?;
                    let count = match args.get(2) {
                        Some(value) => int_arg(func, 2, value)?,
                        None => len,
                    };
                    (start, count)
                }
                Func::Left => (0, int_arg(func, 1, &args[1])?),
                _ => {
                    let count = int_arg(func, 1, &args[1])?.clamp(0, len);
                    (len - count, count)
                }
            };
            if start < 0 {
                return Err(err(2, RowErrorCode::Invalid, format!("the start {start} is negative")));
            }
            if count < 0 {
                let argument = if func == Func::Substr { 3 } else { 2 };
                return Err(err(argument, RowErrorCode::Invalid, format!("the length {count} is negative")));
            }
            Value::String(chars.iter().skip(start as usize).take(count as usize).collect())
        }
        Func::Lower | Func::Upper | Func::Trim | Func::Ltrim | Func::Rtrim => {
            let Some(input) = string_arg(func, 0, &args[0])? else { return Ok(Value::Null) };
            Value::String(match func {
                Func::Lower => input.to_lowercase(),
                Func::Upper => input.to_uppercase(),
                Func::Trim => input.trim().to_owned(),
                Func::Ltrim => input.trim_start().to_owned(),
                _ => input.trim_end().to_owned(),
            })
        }
        Func::Replacestr => {
            let Some(input) = string_arg(func, 0, &args[0])? else { return Ok(Value::Null) };
            let find = string_arg(func, 1, &args[1])?.unwrap_or_default();
            let replace = string_arg(func, 2, &args[2])?.unwrap_or_default();
            if find.is_empty() {
                Value::String(input)
            } else {
                Value::String(input.replace(&find, &replace))
            }
        }
        Func::Equals | Func::EqualsIgnoreCase => {
            let (a, b) = (string_arg(func, 0, &args[0])?, string_arg(func, 1, &args[1])?);
            Value::Bool(match (a, b) {
                (Some(a), Some(b)) if func == Func::Equals => a == b,
                (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
                _ => false,
            })
        }
        Func::Coalesce => {
            let values = match args.as_slice() {
                [Value::Array(items)] => items.clone(),
                _ => args,
            };
            values.into_iter().find(|v| !v.is_null()).unwrap_or(Value::Null)
        }
        Func::IsEmpty => Value::Bool(match &args[0] {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }),
        Func::IsNull => Value::Bool(args[0].is_null()),
        Func::IsNotNull => Value::Bool(!args[0].is_null()),
        Func::Nullify => Value::Null,
        Func::SizeOf => match &args[0] {
            Value::Null => Value::from(0),
            Value::String(s) => Value::from(s.chars().count()),
            Value::Array(a) => Value::from(a.len()),
            Value::Object(o) => Value::from(o.len()),
            _ => Value::from(1),
        },
        Func::First | Func::Last => {
            let mut values = match args.as_slice() {
                [Value::Array(items)] => items.clone(),
                _ => args,
            };
            if func == Func::First {
                values.into_iter().next().unwrap_or(Value::Null)
            } else {
                values.pop().unwrap_or(Value::Null)
            }
        }
        Func::ToArray => {
            let include_nulls = match args.remove(0) {
                Value::Bool(b) => b,
                other => {
                    return Err(err(
                        1,
                        RowErrorCode::Invalid,
                        format!("expected true or false, found {}", show(&other)),
                    ))
                }
            };
            Value::Array(args.into_iter().filter(|v| include_nulls || !v.is_null()).collect())
        }
        Func::ArraysToObjects => {
            if args.len() % 2 == 1 {
                return Err(err(args.len(), RowErrorCode::Invalid, "expected name, array pairs".into()));
            }
            let mut columns = Vec::new();
            for (index, pair) in args.chunks(2).enumerate() {
                let Value::String(name) = &pair[0] else {
                    return Err(err(
                        index * 2 + 1,
                        RowErrorCode::Invalid,
                        format!("expected a name, found {}", show(&pair[0])),
                    ));
                };
                let items = match &pair[1] {
                    Value::Null => Vec::new(),
                    Value::Array(items) => items.clone(),
                    single => vec![single.clone()],
                };
                columns.push((name.clone(), items));
            }
            let rows = columns.iter().map(|(_, items)| items.len()).max().unwrap_or(0);
            if columns.iter().all(|(_, items)| items.is_empty()) {
                return Ok(Value::Null);
            }
            Value::Array(
                (0..rows)
                    .map(|row| {
                        let mut object = Map::new();
                        for (name, items) in &columns {
                            if let Some(value) = items.get(row).filter(|v| !v.is_null()) {
                                object.insert(name.clone(), value.clone());
                            }
                        }
                        Value::Object(object)
                    })
                    .collect(),
            )
        }
        Func::JsonToObject => match &args[0] {
            Value::Null => Value::Null,
            Value::String(s) => {
                serde_json::from_str(s).map_err(|e| err(1, RowErrorCode::Invalid, format!("not JSON: {e}")))?
            }
            other => other.clone(),
        },
        Func::Sha256 => {
            let Some(input) = string_arg(func, 0, &args[0])? else { return Ok(Value::Null) };
            if let Some(charset) = args.get(1).and_then(Value::as_str) {
                if !charset.eq_ignore_ascii_case("UTF-8") {
                    return Err(err(2, RowErrorCode::Invalid, format!("only UTF-8 is supported, not {charset:?}")));
                }
            }
            let digest = Sha256::digest(input.as_bytes());
            Value::String(digest.iter().map(|byte| format!("{byte:02x}")).collect())
        }
        Func::Date => date(func, &args)?,
        Func::Format => {
            let Some(input) = string_arg(func, 0, &args[0])? else { return Ok(Value::Null) };
            let instant = instant(&input).ok_or_else(|| {
                err(1, RowErrorCode::BadDate, format!("{input:?} is not an RFC 3339 date-time or a YYYY-MM-DD date"))
            })?;
            let pattern = string_arg(func, 1, &args[1])?.unwrap_or_default();
            let text = with_pattern(&pattern, |compiled| compiled.format(&instant))
                .map_err(|message| err(2, RowErrorCode::Invalid, message))?;
            Value::String(text)
        }
        Func::ToInteger | Func::ToBigint => match &args[0] {
            Value::Null => Value::Null,
            Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
                return Err(err(1, RowErrorCode::BadNumber, format!("{} is not a whole number", show(&args[0]))))
            }
            other => Value::from(formats::integer(&text(other)).map_err(|f| fault(func, 1, f))?),
        },
        Func::ToDecimal | Func::ToFloat => match &args[0] {
            Value::Null => Value::Null,
            Value::Number(n) => Value::Number(n.clone()),
            Value::String(s) => Value::Number(formats::number(s).map_err(|f| fault(func, 1, f))?),
            other => return Err(err(1, RowErrorCode::BadNumber, format!("{} is not a number", show(other)))),
        },
        Func::ToBoolean => match &args[0] {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            other => {
                let raw = text(other);
                match raw.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => {
                        return Err(err(
                            1,
                            RowErrorCode::BadBoolean,
                            format!("{raw:?} is not a boolean (expected true, false, 1 or 0)"),
                        ))
                    }
                }
            }
        },
        Func::ToString => match &args[0] {
            Value::Null => Value::Null,
            other => Value::String(text(other)),
        },
        Func::Iif | Func::ContainsKey => unreachable!("evaluated lazily in eval()"),
    })
}

thread_local! {
    /// Compiled date patterns by text: mappings use a handful of literal patterns on every row.
    static PATTERNS: std::cell::RefCell<std::collections::HashMap<String, Result<DatePattern, String>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The most patterns kept per thread (the cache is emptied past it).
const MAX_CACHED_PATTERNS: usize = 64;

/// Runs `f` with the compiled `pattern`.
fn with_pattern<T>(pattern: &str, f: impl FnOnce(&DatePattern) -> T) -> Result<T, String> {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            if cache.len() >= MAX_CACHED_PATTERNS {
                cache.clear();
            }
            cache.insert(pattern.to_owned(), DatePattern::compile(pattern));
        }
        match cache.get(pattern) {
            Some(Ok(compiled)) => Ok(f(compiled)),
            Some(Err(message)) => Err(message.clone()),
            None => DatePattern::compile(pattern).map(|compiled| f(&compiled)),
        }
    })
}

/// Patterns `date(x)` tries when no format is given (Data Prep's documented list, in its order).
const DEFAULT_DATE_PATTERNS: [&str; 10] = [
    "yyyy-MM-dd HH:mm:ssZ",
    "yyyy-MM-dd HH:mm:ss.SSSZ",
    "yyyy-MM-dd HH:mm:ss.SSS",
    "yyyy-MM-dd'T'HH:mm:ss[.SSS]X",
    "yyyy-MM-dd",
    "yyyy/MM/dd",
    "yyyy.MM.dd",
    "MM-dd-yyyy",
    "M/dd/yyyy",
    "M/dd/yyyy hh:mm:ss a",
];

/// `date(text[, pattern[, default]])` → RFC 3339 UTC with milliseconds.
fn date(func: Func, args: &[Value]) -> Result<Value, EvalError> {
    let pattern = match args.get(1) {
        Some(pattern) => Some(string_arg(func, 1, pattern)?.unwrap_or_default()),
        None => None,
    };
    let parse = |input: &str| match &pattern {
        Some(pattern) => with_pattern(pattern, |compiled| compiled.parse(input))
            .map_err(|message| EvalError::new(func.name(), Some(2), RowErrorCode::Invalid, message)),
        None => Ok(DEFAULT_DATE_PATTERNS
            .iter()
            .find_map(|pattern| with_pattern(pattern, |compiled| compiled.parse(input)).ok().flatten())),
    };
    let render = |instant: DateTime<Utc>| Value::String(instant.to_rfc3339_opts(SecondsFormat::Millis, true));
    if let Some(input) = string_arg(func, 0, &args[0])? {
        if let Some(instant) = parse(&input)? {
            return Ok(render(instant));
        }
        if args.len() < 3 {
            let message = match &pattern {
                Some(pattern) => format!("{input:?} does not match the date pattern {pattern:?}"),
                None => format!("{input:?} is not a date in any of the standard formats"),
            };
            return Err(EvalError::new(func.name(), Some(1), RowErrorCode::BadDate, message));
        }
    }
    // No date (or none given): the default, itself a date, comes out in the same form.
    let Some(default) = args.get(2) else { return Ok(Value::Null) };
    let Some(text) = string_arg(func, 2, default)? else { return Ok(Value::Null) };
    match instant(&text).map(|t| Ok(Some(t))).unwrap_or_else(|| parse(&text)) {
        Ok(Some(instant)) => Ok(render(instant)),
        Ok(None) => Err(EvalError::new(func.name(), Some(3), RowErrorCode::BadDate, default_not_a_date(&text))),
        Err(error) => Err(error),
    }
}

fn default_not_a_date(text: &str) -> String {
    format!("the default {text:?} is not a date (RFC 3339, YYYY-MM-DD or the pattern's form)")
}

/// An RFC 3339 date-time or a `YYYY-MM-DD` date (midnight UTC).
fn instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
    })
}
