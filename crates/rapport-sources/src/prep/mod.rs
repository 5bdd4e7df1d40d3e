//! The Data Prep expression language (the one Adobe's mapping templates are written in): a hand-written lexer,
//! parser and evaluator. `docs/mapping.md` is the user guide; this is the implementation.
//!
//! - Field references: `firstName`, `name.firstName` (a path into nested JSON values) and `${First Name}` /
//!   `${sfdc\.crmId}` for names that are not identifiers or hold dots.
//! - Literals: `"text"` / `'text'`, numbers, `true`, `false`, `null`.
//! - Operators: `==` `!=` `<` `<=` `>` `>=` `&&` `||` `!` (and JEXL's `eq ne lt le gt ge and or not`),
//!   parentheses, unary `-`.
//! - Calls `f(a, b)` and method calls `a.equals(b)` (the receiver is the first argument).
//! - Placeholders `${CRM_ORG_ID}`, `${MUNCHKIN_ID}`, `${CRM_TYPE}` inside string literals (and as bare references)
//!   are replaced by [`Placeholders`] once, before evaluation.
//!
//! Values are JSON values; dates are RFC 3339 strings. Parse errors carry the byte span of the fault;
//! evaluation errors name the function and the argument.
//!
//! One Rapport rule differs from a plain JSON reading: a field whose value is a string that is empty or only
//! whitespace reads as `null`. CSV has no null, and an empty cell means "no value" (so `X != null` is the
//! whole guard a CSV column needs).

use std::fmt;

use rapport_model::RowErrorCode;
use serde_json::{Map, Value};

mod datefmt;
mod eval;
mod lexer;
mod parser;

pub use datefmt::{format_datetime, parse_datetime, DatePattern};

/// A byte range in an expression's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The span covering `self` through `other`.
    pub(crate) fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// An expression that does not parse: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at bytes {}..{}: {message}", span.start, span.end)]
pub struct ParseError {
    /// The offending bytes of the expression.
    pub span: Span,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(span: Span, message: impl Into<String>) -> Self {
        Self { span, message: message.into() }
    }

    /// The expression with a caret line under the fault, for terminals. Of an expression written
    /// over several lines, only the line holding the fault is shown, after its line number.
    pub fn render(&self, text: &str) -> String {
        let at = self.span.start.min(text.len());
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        let line = &text[line_start..line_end];
        let (prefix, line) = match text.contains('\n') {
            true => (format!("line {}: ", text[..line_start].matches('\n').count() + 1), line),
            false => (String::new(), line),
        };
        let column = prefix.chars().count() + text[line_start..at].chars().count();
        let end = self.span.end.clamp(at, line_end);
        let width = text[at..end].chars().count().max(1);
        format!("{prefix}{line}\n{}{} {}", " ".repeat(column), "^".repeat(width), self.message)
    }
}

/// An evaluation that failed on one row: which function, which argument, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{function}: {}{message}", argument.map(|a| format!("argument {a}: ")).unwrap_or_default())]
pub struct EvalError {
    /// The function that failed (`to_integer`, `date`, ...), or the operator (`<`).
    pub function: &'static str,
    /// The 1-based argument at fault, when one is.
    pub argument: Option<usize>,
    /// The row error code a rejected row gets (`bad_date`, `bad_number`, `bad_boolean`, `invalid`).
    pub code: RowErrorCode,
    /// What is wrong (may quote the value: row errors stay at debug level in logs).
    pub message: String,
}

impl EvalError {
    pub(crate) fn new(
        function: &'static str,
        argument: Option<usize>,
        code: RowErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self { function, argument, code, message: message.into() }
    }
}

/// Values of the connector placeholders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    /// `${CRM_ORG_ID}`: the Salesforce or Dynamics org id.
    pub crm_org_id: Option<String>,
    /// `${MUNCHKIN_ID}`: the Marketo munchkin id.
    pub munchkin_id: Option<String>,
    /// `${CRM_TYPE}`: `Salesforce` or `Dynamics`.
    pub crm_type: Option<String>,
}

impl Placeholders {
    /// The names, as written between `${` and `}`.
    pub const NAMES: [&'static str; 3] = ["CRM_ORG_ID", "MUNCHKIN_ID", "CRM_TYPE"];

    /// The value of a placeholder: `Ok(None)` when `name` is not a placeholder, `Err` when it is one without
    /// a value.
    fn value(&self, name: &str) -> Result<Option<&str>, String> {
        let slot = match name {
            "CRM_ORG_ID" => &self.crm_org_id,
            "MUNCHKIN_ID" => &self.munchkin_id,
            "CRM_TYPE" => &self.crm_type,
            _ => return Ok(None),
        };
        slot.as_deref().map(Some).ok_or_else(|| format!("the placeholder ${{{name}}} has no value"))
    }

    /// `text` with every known `${NAME}` replaced.
    fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            match after.find('}') {
                Some(close) => match self.value(&after[..close])? {
                    Some(value) => {
                        out.push_str(value);
                        rest = &after[close + 1..];
                    }
                    None => {
                        out.push_str("${");
                        rest = after;
                    }
                },
                None => {
                    out.push_str(&rest[at..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }
}

/// A node of a parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Lit { value: Value, span: Span },
    Field { path: Vec<String>, span: Span },
    Not { expr: Box<Expr>, span: Span },
    Neg { expr: Box<Expr>, span: Span },
    Binary { op: BinOp, lhs: Box<Expr>, rhs: Box<Expr>, span: Span },
    Call { func: eval::Func, args: Vec<Expr>, span: Span, name_span: Span },
}

impl Expr {
    pub(crate) fn span(&self) -> Span {
        match self {
            Expr::Lit { span, .. }
            | Expr::Field { span, .. }
            | Expr::Not { span, .. }
            | Expr::Neg { span, .. }
            | Expr::Binary { span, .. }
            | Expr::Call { span, .. } => *span,
        }
    }

    fn walk_mut(&mut self, visit: &mut dyn FnMut(&mut Expr) -> Result<(), ParseError>) -> Result<(), ParseError> {
        visit(self)?;
        match self {
            Expr::Lit { .. } | Expr::Field { .. } => Ok(()),
            Expr::Not { expr, .. } | Expr::Neg { expr, .. } => expr.walk_mut(visit),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk_mut(visit)?;
                rhs.walk_mut(visit)
            }
            Expr::Call { args, .. } => args.iter_mut().try_for_each(|arg| arg.walk_mut(visit)),
        }
    }
}

/// A field an expression reads: its path (the first segment is the input field) and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// The path: `["name", "firstName"]` for `name.firstName`, `["sfdc.crmId"]` for `${sfdc\.crmId}`.
    pub path: Vec<String>,
    /// Where the reference is in the expression.
    pub span: Span,
}

/// A parsed Data Prep expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    text: String,
    root: Expr,
}

impl Expression {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        Ok(Self { text: text.to_owned(), root: parser::parse(text)? })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The input fields the expression reads, in order of appearance (placeholders excluded once substituted).
    pub fn fields(&self) -> Vec<FieldRef> {
        fn collect(expr: &Expr, out: &mut Vec<FieldRef>) {
            match expr {
                Expr::Lit { .. } => {}
                Expr::Field { path, span } => out.push(FieldRef { path: path.clone(), span: *span }),
                Expr::Not { expr, .. } | Expr::Neg { expr, .. } => collect(expr, out),
                Expr::Binary { lhs, rhs, .. } => {
                    collect(lhs, out);
                    collect(rhs, out);
                }
                Expr::Call { args, .. } => args.iter().for_each(|arg| collect(arg, out)),
            }
        }
        let mut out = Vec::new();
        collect(&self.root, &mut out);
        out
    }

    /// Replaces the placeholders in string literals and bare `${NAME}` references. A placeholder without a
    /// value is an error located at its literal.
    pub fn substitute(&mut self, placeholders: &Placeholders) -> Result<(), ParseError> {
        self.root.walk_mut(&mut |node| {
            match node {
                Expr::Lit { value: Value::String(text), span } if text.contains("${") => {
                    *text = placeholders.substitute(text).map_err(|message| ParseError::new(*span, message))?;
                }
                Expr::Field { path, span } if path.len() == 1 => {
                    if let Some(value) =
                        placeholders.value(&path[0]).map_err(|message| ParseError::new(*span, message))?
                    {
                        *node = Expr::Lit { value: Value::from(value), span: *span };
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// Renames the input field `from` (the first path segment) to `to` wherever it is read: binds a
    /// reference to the input's actual column name.
    pub fn rename_field(&mut self, from: &str, to: &str) {
        let _ = self.root.walk_mut(&mut |node| {
            if let Expr::Field { path, .. } = node {
                if path[0] == from {
                    path[0] = to.to_owned();
                }
            }
            Ok(())
        });
    }

    /// Evaluates the expression on one row's fields.
    pub fn eval(&self, fields: &Map<String, Value>) -> Result<Value, EvalError> {
        eval::eval(&self.root, fields)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Writes `name` as a field reference: plain when it is an identifier and not a reserved word, else `${...}`
/// with `.`, `}` and `\` escaped.
pub fn field_reference(name: &str) -> String {
    const RESERVED: [&str; 24] = [
        "new", "mod", "or", "break", "var", "lt", "for", "false", "while", "eq", "gt", "div", "not", "null",
        "continue", "else", "and", "ne", "true", "le", "if", "ge", "return", "_errors",
    ];
    let plain = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        && !RESERVED.contains(&name);
    if plain {
        return name.to_owned();
    }
    let mut out = String::from("${");
    for c in name.chars() {
        if matches!(c, '.' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('}');
    out
}

/// Writes `text` as a double-quoted string literal.
pub fn string_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
