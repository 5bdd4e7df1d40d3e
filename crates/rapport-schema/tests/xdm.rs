//! XDM JSON Schema import and export: the reference documents, the embedded library, round trips, errors.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use rapport_model::FieldPath;
use rapport_schema::library;
use rapport_schema::xdm::{export, ImportedSchema, SchemaKind, XdmCatalog, XdmError};
use rapport_schema::{Error, FieldDef, FieldType};
use serde_json::{json, Value};

/// `../shared/reference/xdm` beside the workspace, when present (CI has it beside the clone).
fn reference_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/xdm");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

fn reference_catalog() -> Option<(XdmCatalog, Vec<String>)> {
    let dir = reference_dir()?;
    let mut catalog = XdmCatalog::new();
    let ids = catalog.add_dir(&dir).unwrap();
    Some((catalog, ids))
}

/// The fields by path, checking that no path is listed twice.
fn by_path(id: &str, fields: &[FieldDef]) -> BTreeMap<String, FieldDef> {
    let mut out = BTreeMap::new();
    for field in fields {
        let previous = out.insert(field.path.to_string(), field.clone());
        assert!(previous.is_none(), "{id}: `{}` is listed twice", field.path);
    }
    out
}

/// Every difference between two field lists, one line each.
fn differences(left_name: &str, left: &[FieldDef], right_name: &str, right: &[FieldDef], id: &str) -> Vec<String> {
    let left = by_path(id, left);
    let right = by_path(id, right);
    let mut out = Vec::new();
    for (path, l) in &left {
        match right.get(path) {
            None => out.push(format!("{id}: `{path}` only in {left_name} ({})", l.ty)),
            Some(r) if r != l => {
                out.push(format!("{id}: `{path}` differs:\n  {left_name}: {l:?}\n  {right_name}: {r:?}"))
            }
            Some(_) => {}
        }
    }
    for (path, r) in &right {
        if !left.contains_key(path) {
            out.push(format!("{id}: `{path}` only in {right_name} ({})", r.ty));
        }
    }
    out
}

fn xdm_error(err: Error) -> XdmError {
    match err {
        Error::Xdm(err) => err,
        other => panic!("expected an XDM error, got {other}"),
    }
}

#[test]
fn every_reference_document_imports() {
    let Some((catalog, ids)) = reference_catalog() else { return };
    assert_eq!(ids.len(), 83, "the reference set holds 83 schemas");
    let mut kinds = BTreeMap::new();
    for id in &ids {
        let schema = catalog.import(id).unwrap_or_else(|err| panic!("{id}: {err}"));
        assert_eq!(&schema.id, id);
        *kinds.entry(schema.kind).or_insert(0) += 1;
    }
    assert_eq!(kinds.get(&SchemaKind::Behavior), Some(&2), "{kinds:?}");
    assert_eq!(kinds.get(&SchemaKind::Class), Some(&14), "{kinds:?}");
    assert_eq!(kinds.get(&SchemaKind::FieldGroup), Some(&43), "{kinds:?}");
    assert_eq!(kinds.get(&SchemaKind::DataType), Some(&24), "{kinds:?}");
    assert_eq!(catalog.kind("https://ns.adobe.com/xdm/datatypes/b2b-source"), Some(SchemaKind::DataType));
    assert_eq!(catalog.kind("https://ns.adobe.com/xdm/context/profile"), Some(SchemaKind::Class));
}

/// Issue 3: "a test walks the reference files and checks every path our definitions claim".
#[test]
fn issue_3_library_matches_the_reference_documents() {
    let Some((catalog, _)) = reference_catalog() else { return };
    let mut problems = Vec::new();
    for (id, group) in library::groups() {
        let imported = catalog.import(id).unwrap_or_else(|err| panic!("{id}: {err}"));
        let expected_kind = if group.is_class { SchemaKind::Class } else { SchemaKind::FieldGroup };
        if imported.kind != expected_kind {
            problems.push(format!("{id}: imported as {:?}, the library says {expected_kind:?}", imported.kind));
        }
        if imported.title != group.title {
            problems.push(format!("{id}: title `{}` vs `{}`", imported.title, group.title));
        }
        problems.extend(differences("the library", &group.fields, "the reference", &imported.fields, id));
    }
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn every_reference_document_round_trips_through_export() {
    let Some((catalog, ids)) = reference_catalog() else { return };
    for id in &ids {
        let original = catalog.import(id).unwrap();
        let exported = export(&original);
        assert!(!exported.to_string().contains("\"$ref\""), "{id}: the export is resolved");
        // A fresh catalog: the export needs nothing else.
        let again = XdmCatalog::new().import_document(exported).unwrap_or_else(|err| panic!("{id}: {err}"));
        let problems = differences("the original", &original.fields, "the re-import", &again.fields, id);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert_eq!(again.fields.len(), original.fields.len(), "{id}");
        assert_same_schema(&original, &again);
    }
}

fn assert_same_schema(original: &ImportedSchema, again: &ImportedSchema) {
    let id = &original.id;
    assert_eq!(again.id, original.id);
    assert_eq!(again.title, original.title, "{id}");
    assert_eq!(again.kind, original.kind, "{id}");
    assert_eq!(again.extends, original.extends, "{id}");
    assert_eq!(again.intended_to_extend, original.intended_to_extend, "{id}");
    assert_eq!(again.class, original.class, "{id}");
    let mut required = original.required.clone();
    let mut required_again = again.required.clone();
    required.sort();
    required_again.sort();
    assert_eq!(required_again, required, "{id}: required paths");
    assert_eq!(again.annotations, original.annotations, "{id}: titles and descriptions");
}

#[test]
fn person_details_merge_the_two_b2b_declarations_and_resolve_data_types() {
    let Some((catalog, _)) = reference_catalog() else { return };
    let person = catalog.import("https://ns.adobe.com/xdm/mixins/b2b-person-details").unwrap();
    assert_eq!(person.kind, SchemaKind::FieldGroup);
    assert_eq!(person.intended_to_extend, vec!["https://ns.adobe.com/xdm/context/profile".to_owned()]);
    let field = |path: &str| person.field(&FieldPath::parse(path).unwrap()).unwrap_or_else(|| panic!("{path}"));
    // `xdm:b2b` is declared in two definitions: both halves are there, once.
    assert_eq!(field("b2b").ty, FieldType::Object);
    assert_eq!(field("b2b.personType").ty, FieldType::String);
    assert_eq!(field("b2b.accountKey.sourceKey").ty, FieldType::String);
    assert_eq!(person.fields.iter().filter(|f| f.path.to_string() == "b2b").count(), 1);
    assert_eq!(field("b2b.convertedDate").ty, FieldType::DateTime);
    assert_eq!(field("identityMap").ty, FieldType::Map);
    assert_eq!(field("extendedWorkDetails.departments").ty, FieldType::Array(Box::new(FieldType::String)));
    let note = &person.annotations[&FieldPath::parse("b2b.accountKey").unwrap()];
    assert_eq!(note.title.as_deref(), Some("Account Key"), "the title beside the $ref wins");

    let event = catalog.import("https://ns.adobe.com/xdm/context/experienceevent").unwrap();
    assert_eq!(event.kind, SchemaKind::Class);
    let required: Vec<String> = event.required.iter().map(ToString::to_string).collect();
    assert_eq!(required, ["_id", "timestamp"]);
    assert_eq!(event.field(&FieldPath::parse("timestamp").unwrap()).unwrap().ty, FieldType::DateTime);

    let components = catalog.import("https://ns.adobe.com/xdm/mixins/b2b-person-components").unwrap();
    let array = components.field(&FieldPath::parse("personComponents").unwrap()).unwrap();
    assert_eq!(array.ty, FieldType::Array(Box::new(FieldType::Object)));
    assert!(components.field(&FieldPath::parse("personComponents.sourceAccountKey.sourceKey").unwrap()).is_some());
}

/// A tenant schema as users bring it: a class, standard field groups and their own fields.
#[test]
fn tenant_schema_imports_with_its_own_fields() {
    let Some((mut catalog, _)) = reference_catalog() else { return };
    let tenant = json!({
        "$id": "https://ns.adobe.com/acme/schemas/x",
        "title": "Acme Person",
        "type": "object",
        "allOf": [
            {"$ref": "https://ns.adobe.com/xdm/context/profile"},
            {"$ref": "https://ns.adobe.com/xdm/mixins/b2b-person-details"},
            {"$ref": "#/definitions/custom"}
        ],
        "definitions": {"custom": {"properties": {"_acme": {"type": "object", "properties": {
            "loyaltyTier": {"type": "string", "enum": ["gold", "silver"]}
        }}}}}
    });
    let schema = catalog.import_document(tenant).unwrap();
    assert_eq!(schema.kind, SchemaKind::Schema);
    assert_eq!(schema.title, "Acme Person");
    assert_eq!(schema.class.as_deref(), Some("https://ns.adobe.com/xdm/context/profile"));
    assert_eq!(
        schema.extends,
        ["https://ns.adobe.com/xdm/context/profile", "https://ns.adobe.com/xdm/mixins/b2b-person-details"]
    );
    let tier = schema.field(&FieldPath::parse("_acme.loyaltyTier").unwrap()).unwrap();
    assert_eq!(tier.ty, FieldType::String);
    assert_eq!(tier.allowed, Some(vec![json!("gold"), json!("silver")]));
    assert!(schema.field(&FieldPath::parse("b2b.personKey.sourceKey").unwrap()).is_some());
    assert!(schema.field(&FieldPath::parse("personID").unwrap()).is_some());

    let again = XdmCatalog::new().import_document(export(&schema)).unwrap();
    assert!(differences("the original", &schema.fields, "the re-import", &again.fields, &schema.id).is_empty());
    assert_same_schema(&schema, &again);
}

/// A small self-contained catalog for the rules that do not need the reference set.
fn small_catalog() -> XdmCatalog {
    let mut catalog = XdmCatalog::new();
    catalog
        .add(json!({
            "$id": "https://example.com/datatypes/money",
            "title": "Money",
            "type": "object",
            "definitions": {"money": {"properties": {
                "xdm:amount": {"type": "number", "minimum": 0},
                "xdm:currency": {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
                "xdm:cents": {"type": "integer", "meta:xdmType": "long"}
            }}},
            "allOf": [{"$ref": "#/definitions/money"}]
        }))
        .unwrap();
    catalog
}

#[test]
fn imports_types_formats_constraints_maps_and_prefixes() {
    let mut catalog = small_catalog();
    let schema = catalog
        .import_document(json!({
            "$id": "https://example.com/fieldgroups/order",
            "title": "Order",
            "type": "object",
            "meta:intendedToExtend": ["https://ns.adobe.com/xdm/context/experienceevent"],
            "properties": {
                "xdm:total": {"title": "Total", "$ref": "https://example.com/datatypes/money#/definitions/money"},
                "xdm:price": {"$ref": "https://example.com/datatypes/money"},
                "xdm:placed": {"type": "string", "format": "date-time"},
                "xdm:due": {"type": "string", "meta:xdmType": "date"},
                "xdm:contact": {"type": "string", "format": "email"},
                "xdm:site": {"type": "string", "format": "uri-reference"},
                "xdm:page": {"type": "string", "format": "url"},
                "xdm:tags": {"type": "array", "items": {"type": "string", "maxLength": 5}},
                "xdm:lines": {"type": "array", "items": {"type": "object", "required": ["xdm:sku"], "properties": {
                    "xdm:sku": {"type": "string"}, "xdm:count": {"type": "integer", "meta:xdmType": "short"}
                }}},
                "xdm:attributes": {"type": "object", "additionalProperties": {"type": "string"}},
                "xdm:labels": {"type": "object", "meta:xdmType": "map"},
                "marketo:score": {"type": "integer"},
                "@id": {"type": "string"},
                "https://ns.adobe.com/xdm/channels/email": {"type": "string"}
            },
            "required": ["xdm:placed"]
        }))
        .unwrap();
    assert_eq!(schema.kind, SchemaKind::FieldGroup);
    let shown: Vec<String> = schema.fields.iter().map(|f| format!("{} {}", f.path, f.ty)).collect();
    for expected in [
        "total object",
        "total.amount number",
        "total.cents integer",
        "price.currency string",
        "placed date-time",
        "due date",
        "tags array<string>",
        "lines array<object>",
        "lines.sku string",
        "lines.count integer",
        "attributes map",
        "labels map",
        "_marketo.score integer",
        "_id string",
    ] {
        assert!(shown.contains(&expected.to_owned()), "`{expected}` missing from {shown:#?}");
    }
    assert!(!shown.iter().any(|s| s.contains("://") || s.contains("channels")), "URI keys are skipped");
    assert!(!shown.iter().any(|s| s.starts_with("_marketo ")), "a namespace object has no field of its own");
    let field = |path: &str| schema.field(&FieldPath::parse(path).unwrap()).unwrap();
    assert_eq!(field("total.amount").constraints.minimum, Some(0.0));
    assert_eq!(field("price.currency").constraints.pattern.as_deref(), Some("^[A-Z]{3}$"));
    assert_eq!(field("price.currency").constraints.max_length, Some(3));
    assert_eq!(field("tags").constraints.max_length, Some(5), "item constraints apply to each element");
    assert_eq!(field("contact").format, Some(rapport_schema::Format::Email));
    assert_eq!(field("site").format, Some(rapport_schema::Format::Uri));
    assert_eq!(field("page").format, Some(rapport_schema::Format::Other));
    let required: Vec<String> = schema.required.iter().map(ToString::to_string).collect();
    assert_eq!(required, ["placed", "lines.sku"]);
    assert_eq!(schema.annotations[&FieldPath::parse("total").unwrap()].title.as_deref(), Some("Total"));

    let exported = export(&schema);
    assert_eq!(exported["properties"]["page"]["format"], json!("url"));
    assert_eq!(exported["properties"]["total"]["properties"]["cents"]["meta:xdmType"], json!("long"));
    assert_eq!(exported["properties"]["lines"]["items"]["required"], json!(["sku"]));
    let again = XdmCatalog::new().import_document(exported).unwrap();
    assert!(differences("the original", &schema.fields, "the re-import", &again.fields, &schema.id).is_empty());
    assert_same_schema(&schema, &again);
}

#[test]
fn unresolved_ref_names_the_missing_id_and_where_it_is_referenced() {
    let mut catalog = small_catalog();
    let err = catalog
        .import_document(json!({
            "$id": "https://example.com/fieldgroups/broken",
            "type": "object",
            "properties": {"xdm:b2b": {"type": "object", "properties": {
                "xdm:key": {"$ref": "https://example.com/datatypes/missing"}
            }}}
        }))
        .unwrap_err();
    let message = err.to_string();
    match xdm_error(err) {
        XdmError::MissingDocument { missing, document, pointer } => {
            assert_eq!(missing, "https://example.com/datatypes/missing");
            assert_eq!(document, "https://example.com/fieldgroups/broken");
            assert_eq!(pointer, "/properties/xdm:b2b/properties/xdm:key/$ref");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(message.contains("https://example.com/datatypes/missing"), "{message}");
    assert!(message.contains("/properties/xdm:b2b/properties/xdm:key/$ref"), "{message}");

    let err = catalog
        .import_document(json!({
            "$id": "https://example.com/fieldgroups/broken-fragment",
            "allOf": [{"$ref": "https://example.com/datatypes/money#/definitions/nothing"}]
        }))
        .unwrap_err();
    match xdm_error(err) {
        XdmError::MissingDefinition { reference, document, pointer } => {
            assert_eq!(reference, "https://example.com/datatypes/money#/definitions/nothing");
            assert_eq!(document, "https://example.com/fieldgroups/broken-fragment");
            assert_eq!(pointer, "/allOf/0/$ref");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn ref_cycles_are_refused_and_recursive_types_are_cut() {
    let mut catalog = XdmCatalog::new();
    // A `$ref` chain that comes back to itself has no meaning: refused.
    let err = catalog
        .import_document(json!({
            "$id": "https://example.com/loop",
            "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}},
            "properties": {"xdm:x": {"$ref": "#/definitions/a"}}
        }))
        .unwrap_err();
    match xdm_error(err) {
        XdmError::Cycle { document, chain, .. } => {
            assert_eq!(document, "https://example.com/loop");
            assert!(chain.contains("/definitions/a") && chain.contains("/definitions/b"), "{chain}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // So is an `allOf` that includes itself.
    let err = catalog
        .import_document(json!({"$id": "https://example.com/self", "allOf": [{"$ref": "https://example.com/self"}]}))
        .unwrap_err();
    assert!(matches!(xdm_error(err), XdmError::Cycle { .. }));

    // A recursive data type (a person with a manager who is a person) is cut where it recurs.
    catalog
        .add(json!({
            "$id": "https://example.com/datatypes/person",
            "type": "object",
            "properties": {
                "xdm:name": {"type": "string"},
                "xdm:manager": {"$ref": "https://example.com/datatypes/person"},
                "xdm:reports": {"type": "array", "items": {"$ref": "https://example.com/datatypes/person"}}
            }
        }))
        .unwrap();
    let person = catalog.import("https://example.com/datatypes/person").unwrap();
    let shown: Vec<String> = person.fields.iter().map(|f| format!("{} {}", f.path, f.ty)).collect();
    assert_eq!(shown, ["manager object", "name string", "reports array<object>"]);
    let team = catalog
        .import_document(json!({
            "$id": "https://example.com/fieldgroups/team",
            "properties": {"xdm:lead": {"$ref": "https://example.com/datatypes/person"}}
        }))
        .unwrap();
    let shown: Vec<String> = team.fields.iter().map(|f| f.path.to_string()).collect();
    assert_eq!(shown, ["lead", "lead.manager", "lead.name", "lead.reports"]);
}

#[test]
fn documents_that_are_not_objects_are_refused() {
    let mut catalog = XdmCatalog::new();
    let err = catalog.add(json!(["not", "a", "schema"])).unwrap_err();
    assert!(matches!(xdm_error(err), XdmError::NotADocument { found: "an array" }));
    let err = catalog.add(json!({"title": "No id"})).unwrap_err();
    assert!(matches!(xdm_error(err), XdmError::MissingId { ref title } if title == "No id"));
    let err = catalog
        .import_document(json!({"$id": "https://example.com/p", "properties": {"xdm:x": "string"}}))
        .unwrap_err();
    match xdm_error(err) {
        XdmError::NotAnObject { document, pointer } => {
            assert_eq!(document, "https://example.com/p");
            assert_eq!(pointer, "/properties/xdm:x");
        }
        other => panic!("unexpected {other:?}"),
    }
    catalog.add(json!({"$id": "https://example.com/same", "title": "A"})).unwrap();
    catalog.add(json!({"$id": "https://example.com/same", "title": "A"})).unwrap();
    let err = catalog.add(json!({"$id": "https://example.com/same", "title": "B"})).unwrap_err();
    assert!(matches!(xdm_error(err), XdmError::DuplicateId { .. }));
    let err = catalog.import("https://example.com/absent").unwrap_err();
    assert!(matches!(xdm_error(err), XdmError::UnknownDocument { .. }));
}

#[test]
fn unknown_and_contradictory_types_are_refused() {
    let mut catalog = XdmCatalog::new();
    let err = catalog
        .import_document(json!({
            "$id": "https://example.com/t1",
            "properties": {"xdm:a": {"type": "object", "properties": {"xdm:b": {"type": "string", "meta:xdmType": "uuid"}}}}
        }))
        .unwrap_err();
    let message = err.to_string();
    match xdm_error(err) {
        XdmError::UnknownXdmType { document, pointer, xdm_type } => {
            assert_eq!(document, "https://example.com/t1");
            assert_eq!(pointer, "/properties/xdm:a/properties/xdm:b/meta:xdmType");
            assert_eq!(xdm_type, "uuid");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(message.contains("uuid"), "{message}");
    let err = catalog
        .import_document(json!({
            "$id": "https://example.com/t2",
            "properties": {"xdm:a": {"type": "string", "meta:xdmType": "int"}}
        }))
        .unwrap_err();
    assert!(
        matches!(xdm_error(err), XdmError::BadType { ref pointer, .. } if pointer == "/properties/xdm:a/meta:xdmType")
    );
    let err = catalog
        .import_document(json!({"$id": "https://example.com/t3", "properties": {"xdm:a": {"type": "null"}}}))
        .unwrap_err();
    assert!(matches!(xdm_error(err), XdmError::BadType { ref pointer, .. } if pointer == "/properties/xdm:a/type"));
    let err = catalog
        .import_document(json!({"$id": "https://example.com/t4", "properties": {"a b": {"type": "string"}}}))
        .unwrap_err();
    assert!(matches!(xdm_error(err), XdmError::BadPropertyName { ref name, .. } if name == "a b"));
}

#[test]
fn add_dir_reads_only_schema_files_and_names_the_bad_file() {
    let dir = std::env::temp_dir().join(format!("rapport-xdm-{}", std::process::id()));
    let nested = dir.join("nested");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(dir.join("a.schema.json"), r#"{"$id": "https://example.com/a", "type": "object"}"#).unwrap();
    std::fs::write(
        nested.join("b.schema.json"),
        r#"{"$id": "https://example.com/b", "allOf": [{"$ref": "https://example.com/a"}]}"#,
    )
    .unwrap();
    std::fs::write(nested.join("b.example.1.json"), "not even json").unwrap();
    let mut catalog = XdmCatalog::new();
    let ids = catalog.add_dir(&dir).unwrap();
    assert_eq!(ids, ["https://example.com/a", "https://example.com/b"]);
    assert!(catalog.import("https://example.com/b").unwrap().fields.is_empty());
    std::fs::write(nested.join("c.schema.json"), "[1, 2]").unwrap();
    let err = XdmCatalog::new().add_dir(&dir).unwrap_err();
    match xdm_error(err) {
        XdmError::InFile { path, source } => {
            assert!(path.ends_with("nested/c.schema.json"), "{}", path.display());
            assert!(matches!(*source, XdmError::NotADocument { .. }));
        }
        other => panic!("unexpected {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn export_is_self_contained_json_schema() {
    let Some((catalog, _)) = reference_catalog() else { return };
    let account = catalog.import("https://ns.adobe.com/xdm/context/account").unwrap();
    let doc = export(&account);
    assert_eq!(doc["$id"], json!("https://ns.adobe.com/xdm/context/account"));
    assert_eq!(doc["meta:abstract"], json!(true));
    assert_eq!(doc["meta:extends"], json!(["https://ns.adobe.com/xdm/data/record"]));
    assert_eq!(doc["properties"]["accountKey"]["properties"]["sourceKey"]["type"], json!("string"));
    let object: &Value = &doc["properties"]["accountKey"];
    assert_eq!(object["type"], json!("object"));
}

#[test]
fn export_accepts_fields_in_any_order() {
    let mut catalog = XdmCatalog::new();
    let schema = catalog
        .import_document(json!({
            "$id": "https://example.com/fieldgroups/lines",
            "meta:intendedToExtend": [],
            "properties": {"xdm:lines": {"type": "array", "items": {"type": "object", "properties": {
                "xdm:sku": {"type": "string"}
            }}}}
        }))
        .unwrap();
    let mut reversed = schema.clone();
    reversed.fields.reverse();
    let again = XdmCatalog::new().import_document(export(&reversed)).unwrap();
    assert!(differences("the original", &schema.fields, "the re-import", &again.fields, &schema.id).is_empty());
}
