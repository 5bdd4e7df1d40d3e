//! `$ref` resolution and flattening of one XDM document into field definitions.

use std::collections::BTreeMap;

use rapport_model::FieldPath;
use serde_json::{Map, Value};

use super::{FieldAnnotations, XdmError};
use crate::library::{Constraints, FieldDef, FieldType, Format};

type Res<T> = std::result::Result<T, XdmError>;

/// A schema node: a JSON object inside a document, with where it sits (for `#/…` refs and error messages).
#[derive(Clone)]
struct Node<'a> {
    doc: &'a str,
    ptr: String,
    map: &'a Map<String, Value>,
}

impl Node<'_> {
    fn key(&self) -> (String, String) {
        (self.doc.to_owned(), self.ptr.clone())
    }

    fn at(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.ptr)
    }

    fn bad_type(&self, keyword: &str, message: String) -> XdmError {
        XdmError::BadType { document: self.doc.to_owned(), pointer: self.at(keyword), message }
    }
}

/// One property declaration, with its path segments relative to the object declaring it (one segment, or two
/// for a namespaced name such as `repo:createDate` → `_repo`, `createDate`), and the unresolved node (which may
/// carry a `title` beside its `$ref`).
struct Decl<'a> {
    segments: Vec<String>,
    node: Node<'a>,
}

/// The properties and `required` names an object node gathers across its `allOf` parts.
#[derive(Default)]
struct Members<'a> {
    decls: Vec<Decl<'a>>,
    required: Vec<Vec<String>>,
}

/// What a resolved node declares.
enum Shape {
    Object,
    Map,
    Array,
    Scalar(FieldType),
}

/// The flattened content of one document.
pub(super) struct Flat {
    pub(super) fields: Vec<FieldDef>,
    pub(super) required: Vec<FieldPath>,
    pub(super) annotations: BTreeMap<FieldPath, FieldAnnotations>,
}

pub(super) struct Resolver<'a> {
    docs: &'a BTreeMap<String, Value>,
    fields: Vec<FieldDef>,
    required: Vec<FieldPath>,
    annotations: BTreeMap<FieldPath, FieldAnnotations>,
    /// The object nodes being expanded on the current path, to cut recursive data types.
    expanding: Vec<(String, String)>,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(docs: &'a BTreeMap<String, Value>) -> Self {
        Self { docs, fields: Vec::new(), required: Vec::new(), annotations: BTreeMap::new(), expanding: Vec::new() }
    }

    /// Flattens the document `id` (whose content is `map`).
    pub(super) fn flatten(mut self, id: &'a str, map: &'a Map<String, Value>) -> Res<Flat> {
        let root = Node { doc: id, ptr: String::new(), map };
        let mut members = Members::default();
        self.collect(root.clone(), &mut Vec::new(), &mut members)?;
        self.expanding.push(root.key());
        self.members(&[], members)?;
        let mut required = Vec::new();
        for path in self.required {
            if !required.contains(&path) {
                required.push(path);
            }
        }
        Ok(Flat { fields: self.fields, required, annotations: self.annotations })
    }

    /// Follows `$ref`s until a node without one.
    fn resolve(&self, node: Node<'a>) -> Res<Node<'a>> {
        let mut chain: Vec<(String, String)> = Vec::new();
        let mut current = node;
        loop {
            let Some(reference) = current.map.get("$ref") else { return Ok(current) };
            let Some(reference) = reference.as_str() else {
                return Err(current.bad_type("$ref", "`$ref` must be a string".to_owned()));
            };
            if chain.contains(&current.key()) {
                chain.push(current.key());
                return Err(cycle(&current, &chain));
            }
            chain.push(current.key());
            current = self.target(&current, reference)?;
        }
    }

    /// The node a `$ref` found in `from` points at.
    fn target(&self, from: &Node<'a>, reference: &str) -> Res<Node<'a>> {
        let (base, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let (doc_id, doc) = if base.is_empty() {
            self.docs.get_key_value(from.doc).ok_or_else(|| missing_document(from, from.doc))?
        } else {
            self.docs.get_key_value(base).ok_or_else(|| missing_document(from, base))?
        };
        let value = if fragment.is_empty() { Some(doc) } else { doc.pointer(fragment) };
        let Some(value) = value else {
            return Err(XdmError::MissingDefinition {
                reference: reference.to_owned(),
                document: from.doc.to_owned(),
                pointer: from.at("$ref"),
            });
        };
        let map = value
            .as_object()
            .ok_or_else(|| XdmError::NotAnObject { document: doc_id.clone(), pointer: fragment.to_owned() })?;
        Ok(Node { doc: doc_id, ptr: fragment.to_owned(), map })
    }

    /// Gathers the properties and `required` names of an object node: its `allOf` parts first, then its own.
    fn collect(&self, node: Node<'a>, parts: &mut Vec<(String, String)>, out: &mut Members<'a>) -> Res<()> {
        let node = self.resolve(node)?;
        if parts.contains(&node.key()) {
            parts.push(node.key());
            return Err(cycle(&node, parts));
        }
        parts.push(node.key());
        if let Some(all) = node.map.get("allOf") {
            let all = all.as_array().ok_or_else(|| node.bad_type("allOf", "`allOf` must be an array".to_owned()))?;
            for (i, part) in all.iter().enumerate() {
                let ptr = node.at(&format!("allOf/{i}"));
                let map = part.as_object().ok_or_else(|| not_an_object(node.doc, &ptr))?;
                self.collect(Node { doc: node.doc, ptr, map }, parts, out)?;
            }
        }
        if let Some(props) = node.map.get("properties") {
            let props = props
                .as_object()
                .ok_or_else(|| node.bad_type("properties", "`properties` must be an object".to_owned()))?;
            for (name, value) in props {
                let ptr = node.at(&format!("properties/{}", escape(name)));
                let Some(segments) = segments_of(name) else { continue };
                if !segments.iter().all(|s| is_segment(s)) {
                    return Err(XdmError::BadPropertyName {
                        document: node.doc.to_owned(),
                        pointer: ptr,
                        name: name.clone(),
                    });
                }
                let map = value.as_object().ok_or_else(|| not_an_object(node.doc, &ptr))?;
                out.decls.push(Decl { segments, node: Node { doc: node.doc, ptr, map } });
            }
        }
        if let Some(required) = node.map.get("required") {
            let names = required.as_array().ok_or_else(|| required_error(&node))?;
            for name in names {
                let name = name.as_str().ok_or_else(|| required_error(&node))?;
                if let Some(segments) = segments_of(name).filter(|s| s.iter().all(|s| is_segment(s))) {
                    out.required.push(segments);
                }
            }
        }
        parts.pop();
        Ok(())
    }

    /// Flattens the gathered members of the object at `prefix`.
    fn members(&mut self, prefix: &[String], members: Members<'a>) -> Res<()> {
        for segments in members.required {
            let path = FieldPath::from_segments(prefix.iter().chain(&segments));
            self.required.push(path);
        }
        let mut groups: Vec<(String, Vec<Decl<'a>>)> = Vec::new();
        for mut decl in members.decls {
            let first = decl.segments.remove(0);
            match groups.iter_mut().find(|(name, _)| *name == first) {
                Some((_, group)) => group.push(decl),
                None => groups.push((first, vec![decl])),
            }
        }
        for (name, decls) in groups {
            let mut path = prefix.to_vec();
            path.push(name);
            self.property(path, decls)?;
        }
        Ok(())
    }

    /// Flattens one property from every declaration of it.
    fn property(&mut self, path: Vec<String>, decls: Vec<Decl<'a>>) -> Res<()> {
        let mut own = Vec::new();
        let mut nested = Vec::new();
        for decl in decls {
            if decl.segments.is_empty() {
                let resolved = self.resolve(decl.node.clone())?;
                let shape = shape(&resolved)?;
                own.push((decl.node, resolved, shape));
            } else {
                nested.push(decl);
            }
        }
        let merge = !nested.is_empty() || (own.len() > 1 && own.iter().all(|(_, _, s)| matches!(s, Shape::Object)));
        if merge {
            // Several object declarations (or namespaced names below this one): one object, members merged. A
            // namespace object with no declaration of its own (`_repo` from `repo:createDate`) gets no field, as
            // in the library; validation treats such a node as an object.
            if let Some((decl, resolved, _)) = own.first() {
                self.push(object_field(FieldPath::from_segments(path.iter())), Some((decl, resolved)), None);
            }
            let mut members = Members { decls: nested, required: Vec::new() };
            let mut pushed = 0;
            for (_, resolved, shape) in own {
                if !matches!(shape, Shape::Object) || self.expanding.contains(&resolved.key()) {
                    continue;
                }
                self.collect(resolved.clone(), &mut Vec::new(), &mut members)?;
                self.expanding.push(resolved.key());
                pushed += 1;
            }
            let result = self.members(&path, members);
            self.expanding.truncate(self.expanding.len() - pushed);
            return result;
        }
        let Some((decl, node, shape)) = own.pop() else { return Ok(()) };
        let field_path = FieldPath::from_segments(path.iter());
        match shape {
            Shape::Map => self.push(field(field_path, FieldType::Map), Some((&decl, &node)), None),
            Shape::Object => {
                self.push(object_field(field_path), Some((&decl, &node)), None);
                self.expand(&path, node)?;
            }
            Shape::Array => {
                let items = self.items(&node)?;
                let (ty, element) = self.element(items)?;
                let mut def = field(field_path, ty);
                if let Some(scalar) = &element.scalar {
                    scalar_details(scalar, &mut def)?;
                }
                self.push(def, Some((&decl, &node)), element.scalar.as_ref());
                if let Some(object) = element.object {
                    self.expand(&path, object)?;
                }
            }
            Shape::Scalar(ty) => {
                let mut def = field(field_path, ty);
                scalar_details(&node, &mut def)?;
                self.push(def, Some((&decl, &node)), Some(&node));
            }
        }
        Ok(())
    }

    /// Lists the fields of an object node under `path`, unless the node is already being expanded above (a
    /// recursive data type: cut here).
    fn expand(&mut self, path: &[String], node: Node<'a>) -> Res<()> {
        if self.expanding.contains(&node.key()) {
            return Ok(());
        }
        let mut members = Members::default();
        self.collect(node.clone(), &mut Vec::new(), &mut members)?;
        self.expanding.push(node.key());
        let result = self.members(path, members);
        self.expanding.pop();
        result
    }

    /// The resolved `items` of an array node (`{}` when absent: an array of untyped objects).
    fn items(&self, node: &Node<'a>) -> Res<Option<Node<'a>>> {
        let Some(items) = node.map.get("items") else { return Ok(None) };
        let ptr = node.at("items");
        let map = items.as_object().ok_or_else(|| not_an_object(node.doc, &ptr))?;
        Ok(Some(self.resolve(Node { doc: node.doc, ptr, map })?))
    }

    /// The field type of an array whose items are `items`, with the node holding element fields (objects) or
    /// element details (scalars).
    fn element(&self, items: Option<Node<'a>>) -> Res<(FieldType, Element<'a>)> {
        let Some(items) = items else {
            return Ok((FieldType::Array(Box::new(FieldType::Object)), Element::default()));
        };
        Ok(match shape(&items)? {
            Shape::Object => {
                (FieldType::Array(Box::new(FieldType::Object)), Element { object: Some(items), scalar: None })
            }
            Shape::Map => (FieldType::Array(Box::new(FieldType::Map)), Element::default()),
            Shape::Array => {
                let inner = self.items(&items)?;
                let (ty, element) = self.element(inner)?;
                (FieldType::Array(Box::new(ty)), element)
            }
            Shape::Scalar(ty) => (FieldType::Array(Box::new(ty)), Element { object: None, scalar: Some(items) }),
        })
    }

    /// Records a field with its annotations, taken from the declaration (a `title` beside a `$ref`) before the
    /// resolved node.
    fn push(&mut self, def: FieldDef, nodes: Option<(&Node<'a>, &Node<'a>)>, scalar: Option<&Node<'a>>) {
        let mut notes = FieldAnnotations::default();
        if let Some((decl, resolved)) = nodes {
            let text = |key: &str| {
                [decl, resolved].iter().find_map(|n| n.map.get(key).and_then(Value::as_str)).map(str::to_owned)
            };
            notes.title = text("title");
            notes.description = text("description");
        }
        if let Some(scalar) = scalar {
            if def.format == Some(Format::Other) {
                notes.format = scalar.map.get("format").and_then(Value::as_str).map(str::to_owned);
            }
            notes.xdm_type = scalar
                .map
                .get("meta:xdmType")
                .and_then(Value::as_str)
                .filter(|t| matches!(*t, "int" | "long" | "short" | "byte" | "double" | "float"))
                .map(str::to_owned);
        }
        if notes != FieldAnnotations::default() {
            self.annotations.insert(def.path.clone(), notes);
        }
        self.fields.push(def);
    }
}

#[derive(Default)]
struct Element<'a> {
    object: Option<Node<'a>>,
    scalar: Option<Node<'a>>,
}

fn field(path: FieldPath, ty: FieldType) -> FieldDef {
    FieldDef { path, ty, format: None, allowed: None, constraints: Constraints::default() }
}

fn object_field(path: FieldPath) -> FieldDef {
    field(path, FieldType::Object)
}

/// What a resolved node declares, from `type` and `meta:xdmType` (which wins, and must agree).
fn shape(node: &Node<'_>) -> Res<Shape> {
    let json_type = match node.map.get("type") {
        // No type but an enum (`sourceSystemType` in account-intent-details): the type of the values.
        None if !node.map.contains_key("properties") && !node.map.contains_key("allOf") => {
            node.map.get("enum").and_then(Value::as_array).and_then(|values| enum_type(values))
        }
        None => None,
        Some(Value::String(t)) => Some(t.as_str()),
        Some(_) => return Err(node.bad_type("type", "`type` must be a string".to_owned())),
    };
    let xdm_type = match node.map.get("meta:xdmType") {
        None => None,
        Some(Value::String(t)) => Some(t.as_str()),
        Some(_) => return Err(node.bad_type("meta:xdmType", "`meta:xdmType` must be a string".to_owned())),
    };
    if let Some(xdm_type) = xdm_type {
        let (shape, compatible): (Shape, &[&str]) = match xdm_type {
            "object" => (Shape::Object, &["object"]),
            "map" => (Shape::Map, &["object"]),
            "array" => (Shape::Array, &["array"]),
            "string" => (Shape::Scalar(FieldType::String), &["string"]),
            "number" | "double" | "float" => (Shape::Scalar(FieldType::Number), &["number"]),
            "integer" | "int" | "long" | "short" | "byte" => {
                (Shape::Scalar(FieldType::Integer), &["integer", "number"])
            }
            "boolean" => (Shape::Scalar(FieldType::Boolean), &["boolean"]),
            "date" => (Shape::Scalar(FieldType::Date), &["string"]),
            "date-time" => (Shape::Scalar(FieldType::DateTime), &["string"]),
            other => {
                return Err(XdmError::UnknownXdmType {
                    document: node.doc.to_owned(),
                    pointer: node.at("meta:xdmType"),
                    xdm_type: other.to_owned(),
                })
            }
        };
        if let Some(json_type) = json_type.filter(|t| !compatible.contains(t)) {
            return Err(
                node.bad_type("meta:xdmType", format!("meta:xdmType `{xdm_type}` contradicts type `{json_type}`"))
            );
        }
        return Ok(shape);
    }
    Ok(match json_type {
        None | Some("object") => {
            let has_members = node.map.contains_key("properties") || node.map.contains_key("allOf");
            let open = node.map.get("additionalProperties").is_some_and(|a| a.is_object() || a == &Value::Bool(true));
            if open && !has_members {
                Shape::Map
            } else {
                Shape::Object
            }
        }
        Some("array") => Shape::Array,
        Some("string") => match node.map.get("format").and_then(Value::as_str) {
            Some("date") => Shape::Scalar(FieldType::Date),
            Some("date-time") => Shape::Scalar(FieldType::DateTime),
            _ => Shape::Scalar(FieldType::String),
        },
        Some("number") => Shape::Scalar(FieldType::Number),
        Some("integer") => Shape::Scalar(FieldType::Integer),
        Some("boolean") => Shape::Scalar(FieldType::Boolean),
        Some(other) => return Err(node.bad_type("type", format!("unsupported type `{other}`"))),
    })
}

/// The JSON type shared by every value of a non-empty enum.
fn enum_type(values: &[Value]) -> Option<&'static str> {
    let kind = |v: &Value| match v {
        Value::String(_) => Some("string"),
        Value::Bool(_) => Some("boolean"),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some("integer"),
        Value::Number(_) => Some("number"),
        _ => None,
    };
    let first = kind(values.first()?)?;
    let all = values.iter().map(kind).collect::<Option<Vec<_>>>()?;
    if all.iter().all(|k| *k == first) {
        Some(first)
    } else if all.iter().all(|k| matches!(*k, "integer" | "number")) {
        Some("number")
    } else {
        None
    }
}

/// Copies format, enum and constraints of a scalar node onto `def`.
fn scalar_details(node: &Node<'_>, def: &mut FieldDef) -> Res<()> {
    let map = node.map;
    if let Some(format) = map.get("format") {
        let format = format.as_str().ok_or_else(|| node.bad_type("format", "`format` must be a string".to_owned()))?;
        let item = match &def.ty {
            FieldType::Array(item) => item.as_ref(),
            ty => ty,
        };
        def.format = match (format, item) {
            ("date", FieldType::Date) | ("date-time", FieldType::DateTime) => None,
            ("email", _) => Some(Format::Email),
            ("uri" | "uri-reference", _) => Some(Format::Uri),
            _ => Some(Format::Other),
        };
    }
    if let Some(allowed) = map.get("enum") {
        let allowed = allowed.as_array().ok_or_else(|| node.bad_type("enum", "`enum` must be an array".to_owned()))?;
        def.allowed = Some(allowed.clone());
    }
    let number = |key: &str| -> Res<Option<f64>> {
        map.get(key)
            .map(|v| v.as_f64().ok_or_else(|| node.bad_type(key, format!("`{key}` must be a number"))))
            .transpose()
    };
    let count = |key: &str| -> Res<Option<u64>> {
        map.get(key)
            .map(|v| v.as_u64().ok_or_else(|| node.bad_type(key, format!("`{key}` must be a non-negative integer"))))
            .transpose()
    };
    def.constraints = Constraints {
        minimum: number("minimum")?,
        maximum: number("maximum")?,
        min_length: count("minLength")?,
        max_length: count("maxLength")?,
        pattern: map
            .get("pattern")
            .map(|p| {
                p.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| node.bad_type("pattern", "`pattern` must be a string".to_owned()))
            })
            .transpose()?,
    };
    Ok(())
}

/// The path segments of a property name: `xdm:x` → `x`; `@id` → `_id`; `ns:x` → `_ns`, `x`; `None` for keys
/// holding `://`, which are not addressable.
pub(super) fn segments_of(name: &str) -> Option<Vec<String>> {
    if name.contains("://") {
        return None;
    }
    if let Some(rest) = name.strip_prefix("xdm:") {
        return Some(vec![rest.to_owned()]);
    }
    if name == "@id" {
        return Some(vec!["_id".to_owned()]);
    }
    match name.split_once(':') {
        Some((prefix, rest)) if !prefix.is_empty() && !prefix.contains('/') => {
            Some(vec![format!("_{prefix}"), rest.to_owned()])
        }
        _ => Some(vec![name.to_owned()]),
    }
}

/// True when `segment` can be one segment of a [`FieldPath`].
pub(super) fn is_segment(segment: &str) -> bool {
    !segment.is_empty() && !segment.contains(['.', '[', ']', ' '])
}

/// Escapes a key for a JSON pointer (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn not_an_object(doc: &str, ptr: &str) -> XdmError {
    XdmError::NotAnObject { document: doc.to_owned(), pointer: ptr.to_owned() }
}

fn missing_document(from: &Node<'_>, missing: &str) -> XdmError {
    XdmError::MissingDocument { missing: missing.to_owned(), document: from.doc.to_owned(), pointer: from.at("$ref") }
}

fn required_error(node: &Node<'_>) -> XdmError {
    node.bad_type("required", "`required` must be an array of property names".to_owned())
}

fn cycle(node: &Node<'_>, chain: &[(String, String)]) -> XdmError {
    let chain = chain.iter().map(|(doc, ptr)| format!("{doc}#{ptr}")).collect::<Vec<_>>().join(" → ");
    XdmError::Cycle { document: node.doc.to_owned(), pointer: node.ptr.clone(), chain }
}
