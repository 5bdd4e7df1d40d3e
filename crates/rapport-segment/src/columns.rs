//! Typed, columnar copies of what a plan reads: one [`Column`] per field path and class, and the adjacency
//! lists of the navigations it crosses.
//!
//! A column holds, for every profile of its class, the value [`crate::row`] would read at that path (arrays crossed
//! on the way flattened, exactly as row evaluation resolves them) in one of four shapes: missing (`null`), a scalar,
//! an array, or another value (an object). Scalars and array elements are `Atom`s: booleans, numbers kept with
//! their JSON kind, strings as codes into the column's dictionary (so an equality is a code compare and `like` or
//! `startsWith` runs once per distinct string), and anything else as an index into a side table of JSON values.
//!
//! Every row points at its atoms by (start, count); rewriting one row appends its new atoms and repoints it, so
//! [`crate::incremental`] updates a changed profile in place without moving the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rapport_model::{EntityKind, FieldPath};
use rapport_profile::ProfileGraph;
use serde_json::Value;

use crate::plan::{Cond, Plan};
use crate::row::{self, Fields};

/// The shape of one row's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Missing or `null`: no atom.
    Null,
    /// A boolean, number or string: one atom.
    Scalar,
    /// An array: one atom per element.
    Array,
    /// An object: one [`Atom::Other`].
    Other,
}

/// One scalar value or array element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Atom {
    /// `null` (only inside arrays).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// A larger unsigned integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A string: its code in the column's dictionary.
    Str(u32),
    /// An object or nested array: its index in the column's side table.
    Other(u32),
}

impl Atom {
    /// The number, as row evaluation compares numbers (64-bit floats).
    pub(crate) fn number(self) -> Option<f64> {
        match self {
            Atom::Int(i) => Some(i as f64),
            Atom::UInt(u) => Some(u as f64),
            Atom::Float(f) => Some(f),
            _ => None,
        }
    }
}

/// The values of one field path for every profile of a class.
#[derive(Debug, Clone, Default)]
pub struct Column {
    pub(crate) shape: Vec<Shape>,
    pub(crate) start: Vec<u32>,
    pub(crate) count: Vec<u32>,
    pub(crate) atoms: Vec<Atom>,
    /// Parallel to `atoms`: one more than the string code of each atom, 0 for the others. A quarter of the
    /// atoms' size, it is what scans of string tests read, atom after atom.
    pub(crate) codes_of_atoms: Vec<u32>,
    /// Parallel to `atoms`: the row each atom was written for (a rewritten row leaves its old atoms behind:
    /// an atom is live only within its row's current span).
    pub(crate) owner: Vec<u32>,
    /// Distinct strings, by code.
    pub(crate) strings: Vec<String>,
    codes: HashMap<String, u32>,
    /// Objects and nested arrays, by index.
    pub(crate) others: Vec<Value>,
}

impl Column {
    fn atom(&mut self, value: &Value) -> Atom {
        match value {
            Value::Null => Atom::Null,
            Value::Bool(b) => Atom::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Atom::Int(i),
                (None, Some(u), _) => Atom::UInt(u),
                (None, None, Some(f)) => Atom::Float(f),
                (None, None, None) => self.other(value),
            },
            Value::String(s) => Atom::Str(self.code(s)),
            Value::Array(_) | Value::Object(_) => self.other(value),
        }
    }

    fn other(&mut self, value: &Value) -> Atom {
        let index = u32::try_from(self.others.len()).expect("fewer than 2^32 values in a column");
        self.others.push(value.clone());
        Atom::Other(index)
    }

    fn code(&mut self, text: &str) -> u32 {
        if let Some(&code) = self.codes.get(text) {
            return code;
        }
        let code = u32::try_from(self.strings.len()).expect("fewer than 2^32 distinct strings in a column");
        self.strings.push(text.to_owned());
        self.codes.insert(text.to_owned(), code);
        code
    }

    /// The code of `text`, when some row holds it.
    pub(crate) fn code_of(&self, text: &str) -> Option<u32> {
        self.codes.get(text).copied()
    }

    /// Appends the atoms of `value` for row `row` and returns the row's (shape, start, count).
    fn encode(&mut self, row: u32, value: &Value) -> (Shape, u32, u32) {
        let start = u32::try_from(self.atoms.len()).expect("fewer than 2^32 atoms in a column");
        let shape = match value {
            Value::Null => return (Shape::Null, start, 0),
            Value::Array(items) => {
                for item in items {
                    let atom = self.atom(item);
                    self.push_atom(atom, row);
                }
                Shape::Array
            }
            Value::Object(_) => {
                let atom = self.other(value);
                self.push_atom(atom, row);
                Shape::Other
            }
            scalar => {
                let atom = self.atom(scalar);
                self.push_atom(atom, row);
                Shape::Scalar
            }
        };
        (shape, start, u32::try_from(self.atoms.len()).expect("fewer than 2^32 atoms") - start)
    }

    fn push_atom(&mut self, atom: Atom, row: u32) {
        self.atoms.push(atom);
        self.owner.push(row);
        self.codes_of_atoms.push(match atom {
            Atom::Str(code) => code + 1,
            _ => 0,
        });
    }

    fn push(&mut self, value: &Value) {
        let row = u32::try_from(self.shape.len()).expect("fewer than 2^32 profiles");
        let (shape, start, count) = self.encode(row, value);
        self.shape.push(shape);
        self.start.push(start);
        self.count.push(count);
    }

    /// Rewrites row `row` (which must exist) with `value`.
    fn set(&mut self, row: usize, value: &Value) {
        let (shape, start, count) = self.encode(row as u32, value);
        self.shape[row] = shape;
        self.start[row] = start;
        self.count[row] = count;
    }

    /// The atoms of row `row`.
    pub(crate) fn atoms(&self, row: usize) -> &[Atom] {
        let start = self.start[row] as usize;
        &self.atoms[start..start + self.count[row] as usize]
    }

    fn atom_value(&self, atom: Atom) -> Value {
        match atom {
            Atom::Null => Value::Null,
            Atom::Bool(b) => Value::Bool(b),
            Atom::Int(i) => Value::from(i),
            Atom::UInt(u) => Value::from(u),
            Atom::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            Atom::Str(code) => Value::String(self.strings[code as usize].clone()),
            Atom::Other(index) => self.others[index as usize].clone(),
        }
    }

    /// The JSON value of row `row`, as row evaluation would read it from the record.
    pub(crate) fn value(&self, row: usize) -> Value {
        match self.shape[row] {
            Shape::Null => Value::Null,
            Shape::Scalar | Shape::Other => self.atom_value(self.atoms(row)[0]),
            Shape::Array => Value::Array(self.atoms(row).iter().map(|&a| self.atom_value(a)).collect()),
        }
    }
}

/// The columns of one class.
#[derive(Debug, Clone, Default)]
pub struct ClassColumns {
    /// Profiles, placeholders included.
    pub(crate) len: usize,
    /// Stored (non-placeholder) profiles: numbers below this can be members.
    pub(crate) stored: usize,
    /// The field paths (as segments) and their columns.
    pub(crate) columns: Vec<(Vec<String>, Column)>,
}

impl ClassColumns {
    /// The column of the field at `segments`.
    pub(crate) fn column(&self, segments: &[String]) -> Option<&Column> {
        self.columns.iter().find(|(path, _)| path.as_slice() == segments).map(|(_, c)| c)
    }
}

/// One row of a class, read through its columns: what the row-at-a-time fallback evaluates on.
pub(crate) struct RowView<'a> {
    pub(crate) class: &'a ClassColumns,
    pub(crate) row: usize,
}

impl Fields for RowView<'_> {
    fn field(&self, segments: &[String]) -> Value {
        match self.class.column(segments) {
            Some(column) => column.value(self.row),
            // `$1` alone names the whole record, which no column holds; plans never compare it with anything
            // but `null` tests, which an object answers like the record would.
            None if segments.is_empty() => Value::Object(serde_json::Map::new()),
            None => Value::Null,
        }
    }
}

/// A navigation: (class navigated from, its PQL name).
pub(crate) type NavKey = (EntityKind, String);

/// The adjacency lists of one navigation in one flat array (each source's sorted, distinct targets at its
/// (start, count)), so that a scan over the sources reads memory in order instead of chasing one allocation per
/// source. Rewriting a source's list appends the new list and repoints it, as columns rewrite rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lists {
    start: Vec<u32>,
    count: Vec<u32>,
    flat: Vec<u32>,
}

impl Lists {
    fn of(lists: &[Vec<u32>]) -> Self {
        let mut out = Self {
            start: Vec::with_capacity(lists.len()),
            count: Vec::with_capacity(lists.len()),
            flat: Vec::with_capacity(lists.iter().map(Vec::len).sum()),
        };
        for list in lists {
            out.push(list);
        }
        out
    }

    fn push(&mut self, list: &[u32]) {
        self.start.push(u32::try_from(self.flat.len()).expect("fewer than 2^32 links in a navigation"));
        self.count.push(u32::try_from(list.len()).expect("fewer than 2^32 targets"));
        self.flat.extend_from_slice(list);
    }

    /// The number of sources.
    pub(crate) fn len(&self) -> usize {
        self.start.len()
    }

    /// The targets of source `s` (none beyond the end).
    #[inline]
    pub(crate) fn get(&self, s: u32) -> &[u32] {
        let s = s as usize;
        if s >= self.start.len() {
            return &[];
        }
        let start = self.start[s] as usize;
        &self.flat[start..start + self.count[s] as usize]
    }

    /// Replaces the targets of source `s` (which must exist).
    pub(crate) fn set(&mut self, s: u32, list: &[u32]) {
        let start = u32::try_from(self.flat.len()).expect("fewer than 2^32 links in a navigation");
        self.flat.extend_from_slice(list);
        self.start[s as usize] = start;
        self.count[s as usize] = u32::try_from(list.len()).expect("fewer than 2^32 targets");
    }

    /// Extends to `len` sources (new ones with no target); never shrinks.
    fn grow(&mut self, len: usize) {
        while self.start.len() < len {
            self.push(&[]);
        }
    }

    /// Every source's targets, in source order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u32]> + '_ {
        (0..self.len() as u32).map(|s| self.get(s))
    }
}

/// The columns a plan reads and the navigations it crosses, copied out of a [`ProfileGraph`].
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub(crate) classes: BTreeMap<EntityKind, ClassColumns>,
    /// For each navigation, each source profile's sorted, distinct targets.
    pub(crate) navigations: BTreeMap<NavKey, Lists>,
    /// The persons' events, when the plan has event conditions.
    pub(crate) events: crate::events::EventTable,
}

/// The navigations a condition crosses, with their target classes.
pub(crate) fn navigations(cond: &Cond, out: &mut BTreeMap<NavKey, EntityKind>) {
    match cond {
        Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| navigations(c, out)),
        Cond::Not(inner) => navigations(inner, out),
        Cond::Related { from, navigation, to, cond, .. } => {
            out.insert((*from, navigation.clone()), *to);
            navigations(cond, out);
        }
        Cond::Row(_) | Cond::Events(_) => {}
    }
}

/// A field a plan reads that [`Columns`] were not built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLoaded {
    /// The class.
    pub entity: EntityKind,
    /// The field path, or the navigation name.
    pub what: String,
}

impl std::fmt::Display for NotLoaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` of {} was not loaded into the columns this plan is evaluated over", self.what, self.entity)
    }
}

impl std::error::Error for NotLoaded {}

impl Columns {
    /// Copies what `plan` reads out of `graph`: its fields as typed columns, its navigations' adjacency lists.
    pub fn for_plan(plan: &Plan, graph: &ProfileGraph) -> Self {
        let mut navs = BTreeMap::new();
        navigations(&plan.root, &mut navs);
        let mut fields = plan.fields();
        fields.entry(plan.entity).or_default();
        let mut columns = Self::build(graph, &fields, navs.keys());
        columns.events = crate::events::EventTable::for_cond(&plan.root, graph);
        columns
    }

    /// Copies `fields` (by class) and the navigations `navs` out of `graph`.
    pub fn build<'a>(
        graph: &ProfileGraph,
        fields: &BTreeMap<EntityKind, BTreeSet<FieldPath>>,
        navs: impl IntoIterator<Item = &'a NavKey>,
    ) -> Self {
        let mut classes = BTreeMap::new();
        for (&entity, paths) in fields {
            let set = graph.set(entity);
            let mut class = ClassColumns { len: set.len(), stored: set.stored(), columns: Vec::new() };
            for path in paths {
                let mut column = Column::default();
                for profile in &set.profiles {
                    column.push(&row::record_field(&profile.record, path.segments()));
                }
                class.columns.push((path.segments().to_vec(), column));
            }
            classes.insert(entity, class);
        }
        let mut navigations = BTreeMap::new();
        for key in navs {
            let lists = graph.navigation(key.0, &key.1).map(|n| Lists::of(&n.targets)).unwrap_or_default();
            navigations.insert(key.clone(), lists);
        }
        Self { classes, navigations, events: Default::default() }
    }

    /// Checks that every field and navigation `plan` reads was loaded.
    pub fn check(&self, plan: &Plan) -> Result<(), NotLoaded> {
        for (entity, paths) in plan.fields() {
            let class = self.classes.get(&entity);
            for path in paths {
                if class.and_then(|c| c.column(path.segments())).is_none() {
                    return Err(NotLoaded { entity, what: path.to_string() });
                }
            }
        }
        let mut navs = BTreeMap::new();
        navigations(&plan.root, &mut navs);
        for (from, name) in navs.into_keys() {
            if !self.navigations.contains_key(&(from, name.clone())) {
                return Err(NotLoaded { entity: from, what: name });
            }
        }
        if !self.classes.contains_key(&plan.entity) {
            return Err(NotLoaded { entity: plan.entity, what: "its profiles".into() });
        }
        Ok(())
    }

    /// The profiles of a class (placeholders included) and how many of them are stored.
    pub(crate) fn class(&self, entity: EntityKind) -> &ClassColumns {
        static EMPTY: std::sync::OnceLock<ClassColumns> = std::sync::OnceLock::new();
        self.classes.get(&entity).unwrap_or_else(|| EMPTY.get_or_init(ClassColumns::default))
    }

    /// Grows every class to the graph's sizes (new rows missing, new lists empty); returns the previous sizes
    /// (len, stored) by class.
    pub(crate) fn grow(&mut self, graph: &ProfileGraph) -> BTreeMap<EntityKind, (usize, usize)> {
        let mut before = BTreeMap::new();
        self.events.grow(graph);
        for (&entity, class) in &mut self.classes {
            let set = graph.set(entity);
            before.insert(entity, (class.len, class.stored));
            for (_, column) in &mut class.columns {
                while column.shape.len() < set.len() {
                    column.push(&Value::Null);
                }
            }
            class.len = class.len.max(set.len());
            class.stored = set.stored();
        }
        for ((from, _), lists) in &mut self.navigations {
            let len = self.classes.get(from).map_or(0, |c| c.len);
            lists.grow(len);
        }
        before
    }

    /// Rereads row `id` of class `entity` from the graph's record.
    pub(crate) fn refresh(&mut self, graph: &ProfileGraph, entity: EntityKind, id: u32) {
        if entity == EntityKind::Person {
            self.events.refresh(graph, id);
        }
        let Some(class) = self.classes.get_mut(&entity) else { return };
        let Some(profile) = graph.set(entity).profiles.get(id as usize) else { return };
        for (path, column) in &mut class.columns {
            if (id as usize) < column.shape.len() {
                column.set(id as usize, &row::record_field(&profile.record, path));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_column_keeps_each_shape_and_reads_back_the_same_values() {
        let values = [
            Value::Null,
            json!("Sales"),
            json!(["Sales", "IT", null, 3, [1]]),
            json!({"a": 1}),
            json!(7),
            json!(-2.5),
            json!(u64::MAX),
            json!(true),
            json!("Sales"),
        ];
        let mut column = Column::default();
        values.iter().for_each(|v| column.push(v));
        for (row, value) in values.iter().enumerate() {
            assert_eq!(&column.value(row), value, "row {row}");
        }
        assert_eq!(column.strings, vec!["Sales".to_owned(), "IT".to_owned()], "strings are interned once");
        assert_eq!(column.shape[3], Shape::Other);
        column.set(1, &json!(["x"]));
        assert_eq!(column.value(1), json!(["x"]));
        assert_eq!(column.value(2), values[2], "rewriting a row leaves the others alone");
    }
}
