#![allow(clippy::unwrap_used)]

use rapport_model::RowFault;
use serde_json::json;

use super::*;

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn row(line: u64, fields: Value) -> SourceRow {
    SourceRow { line, offset: None, fields: fields.as_object().cloned().unwrap(), faults: Vec::new() }
}

fn options() -> CompileOptions {
    CompileOptions {
        placeholders: Placeholders { crm_org_id: Some("org1".into()), ..Placeholders::default() },
        missing_fields: MissingFields::Error,
    }
}

const FILE: &str = r#"{
  "entity": "person",
  "name": "contacts export",
  "required": ["id"],
  "mappings": [
    {"sourceType": "CONSTANT", "source": "Salesforce", "destination": "b2b.personKey.sourceType"},
    {"sourceType": "ATTRIBUTE", "source": "id", "destination": "b2b.personKey.sourceID"},
    {"sourceType": "EXPRESSION", "source": "concat(id, \"@${CRM_ORG_ID}.Salesforce\")", "destination": "b2b.personKey.sourceKey"},
    {"sourceType": "EXPRESSION", "source": "lower(trim(E_Mail))", "destination": "workEmail.address", "description": "normalized"},
    {"sourceType": "ATTRIBUTE", "source": "address.city", "destination": "workAddress.city"},
    {"sourceType": "EXPRESSION", "source": "to_integer(score)", "destination": "b2b.personScore"},
    {"sourceType": "ATTRIBUTE", "source": "E_Mail", "destination": "personComponents.workEmail.address"},
    {"sourceType": "EXPRESSION", "source": "explode(tags, \";\")", "destination": "personRoles"}
  ]
}"#;

#[test]
fn mapping_files_round_trip() {
    let set = MappingSet::from_json(FILE, "contacts.json").unwrap();
    assert_eq!(set.entity, EntityKind::Person);
    assert_eq!(set.mappings.len(), 8);
    assert_eq!(
        set.mappings[3],
        Mapping {
            source_type: SourceType::Expression,
            source: "lower(trim(E_Mail))".into(),
            destination: "workEmail.address".into(),
            description: Some("normalized".into()),
        }
    );
    // The file a set came from is remembered for errors, not written.
    assert_eq!(set.origin.as_deref(), Some("contacts.json"));
    assert!(!set.to_json().contains("contacts.json"));
    let again = MappingSet::from_json(&set.to_json(), "again.json").unwrap();
    assert_eq!(MappingSet { origin: set.origin.clone(), ..again }, set);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    set.save(&path).unwrap();
    let loaded = MappingSet::load(&path).unwrap();
    assert_eq!(loaded.origin, Some(path.display().to_string()));
    assert_eq!(MappingSet { origin: set.origin.clone(), ..loaded }, set);
    // A byte order mark, as some Windows editors write, is no error.
    let with_bom = MappingSet::from_json(&format!("\u{feff}{}", set.to_json()), "contacts.json").unwrap();
    assert_eq!(with_bom, set);
}

#[test]
fn bad_files_name_the_problem() {
    let err = MappingSet::from_json(
        r#"{"entity": "person", "mappings": [{"sourceType": "FIELD", "source": "a", "destination": "b"}]}"#,
        "m.json",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("m.json: not a valid mapping set: unknown variant `FIELD`, expected one of `ATTRIBUTE`, `EXPRESSION`, `CONSTANT`"), "{text}");
    let err = MappingSet::from_json(r#"{"entity": "person", "mapings": []}"#, "m.json").unwrap_err();
    assert!(err.to_string().contains("unknown field `mapings`"), "{err}");
}

#[test]
fn maps_rows_with_nested_fields_merges_and_components() {
    let set = MappingSet::from_json(FILE, "m.json").unwrap();
    let compiled = set.compile(&columns(&["id", "E_Mail", "address", "score", "tags", "Fax"]), &options()).unwrap();
    assert_eq!(compiled.unmapped_fields(), ["Fax"]);
    let record = compiled
        .map_row(&row(2, json!({"id": "003", "E_Mail": " Ada@X.com ", "address": {"city": "Paris"}, "score": "12", "tags": "", "Fax": "1"})), "in.json")
        .unwrap();
    assert_eq!(
        Value::Object(record),
        json!({
            "b2b": {"personKey": {"sourceType": "Salesforce", "sourceID": "003", "sourceKey": "003@org1.Salesforce"}, "personScore": 12},
            "workEmail": {"address": "ada@x.com"},
            "workAddress": {"city": "Paris"},
            "personComponents": [{"workEmail": {"address": " Ada@X.com "}}]
        })
    );
}

#[test]
fn row_errors_name_line_destination_mapping_and_function() {
    let set = MappingSet::from_json(FILE, "m.json").unwrap();
    let compiled = set.compile(&columns(&["id", "E_Mail", "address", "score", "tags"]), &options()).unwrap();
    let err = compiled.map_row(&row(7, json!({"id": "003", "score": "lots"})), "in.csv").unwrap_err();
    assert_eq!(err.file, "in.csv");
    assert_eq!(err.line, 7);
    assert_eq!(err.field.as_deref(), Some("b2b.personScore"));
    assert_eq!(err.code, RowErrorCode::BadNumber);
    assert_eq!(err.message, r#"mapping 6 (to_integer(score)): to_integer: argument 1: "lots" is not a whole number"#);
    let err = compiled.map_row(&row(8, json!({"id": " ", "score": "1"})), "in.csv").unwrap_err();
    assert_eq!((err.line, err.field.as_deref(), err.code), (8, Some("id"), RowErrorCode::MissingId));
}

#[test]
fn compile_errors_name_the_entry_and_suggest_a_column() {
    let set = MappingSet::from_json(FILE, "m.json").unwrap();
    let err = set.compile(&columns(&["id", "EMail", "address", "score", "tags"]), &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mapping 4 (→ workEmail.address) reads `E_Mail`, which the input does not have (did you mean `EMail`?)"
    );
    let err = set.compile(&columns(&["ID2", "E_Mail"]), &options()).unwrap_err();
    assert_eq!(err.to_string(), "the required field `id` is not in the input (did you mean `ID2`?)");

    let mut bad = set.clone();
    bad.mappings[5].source = "to_integer(score".into();
    let err = bad.compile(&columns(&["id", "E_Mail", "address", "score", "tags"]), &options()).unwrap_err();
    let MappingError::Expression { index, error, .. } = &err else { panic!("{err}") };
    assert_eq!((*index, error.span.start, error.span.end), (6, 16, 16));
    // The expression stands on its own line, so the caret falls under the fault.
    assert_eq!(
        err.to_string(),
        "mapping 6 (→ b2b.personScore):\n    to_integer(score\n                    ^ expected `,` or `)`, found the end of the expression"
    );
    let mut bad = set.clone();
    bad.mappings[5].source = "concat(\n  score,\n  ,score)".into();
    let err = bad.compile(&columns(&["id", "E_Mail", "address", "score", "tags"]), &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mapping 6 (→ b2b.personScore):\n    line 3:   ,score)\n              ^ expected a value, found `,`"
    );

    let mut bad = set.clone();
    bad.mappings[0].destination = "b2b..personType".into();
    let err = bad.compile(&columns(&["id", "E_Mail", "address", "score", "tags"]), &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mapping 1: the destination `b2b..personType` is not a valid field path: a segment is empty"
    );

    let no_org = CompileOptions::default();
    let err = set.compile(&columns(&["id", "E_Mail", "address", "score", "tags"]), &no_org).unwrap_err();
    assert!(err.to_string().contains("the placeholder ${CRM_ORG_ID} has no value"), "{err}");
}

#[test]
fn columns_bind_case_insensitively_and_templates_skip_absent_ones() {
    let set = MappingSet::from_json(FILE, "m.json").unwrap();
    let compiled = set
        .compile(&columns(&["ID", "e_mail"]), &CompileOptions { missing_fields: MissingFields::Skip, ..options() })
        .unwrap();
    let skipped: Vec<(usize, &str)> = compiled.skipped().iter().map(|s| (s.index, s.field.as_str())).collect();
    assert_eq!(skipped, vec![(5, "address"), (6, "score"), (8, "tags")]);
    let record = compiled.map_row(&row(2, json!({"ID": "9", "e_mail": "A@B.C"})), "f").unwrap();
    assert_eq!(record["workEmail"], json!({"address": "a@b.c"}));
    assert_eq!(record["b2b"]["personKey"]["sourceKey"], json!("9@org1.Salesforce"));
    assert_eq!(compiled.destinations().len(), 5);
}

#[test]
fn a_value_that_could_not_be_read_rejects_its_row_only_where_a_mapping_reads_it() {
    let set = MappingSet::from_json(FILE, "contacts.json").unwrap();
    let compiled = set.compile(&columns(&["id", "E_Mail", "address", "score", "tags", "extra"]), &options()).unwrap();
    let fault = |path: &str| RowFault {
        path: path.split('.').map(str::to_owned).collect(),
        code: RowErrorCode::BadNumber,
        message: format!("the integer at {path} is too large"),
    };
    let faulty = |paths: &[&str]| SourceRow {
        faults: paths.iter().map(|path| fault(path)).collect(),
        ..row(4, json!({"id": "c1", "E_Mail": "a@x.com", "address": {"city": null, "zip": null}, "extra": null}))
    };
    // Not read: a field no mapping reads, a key beside the one read, a key inside a field no mapping reads.
    for paths in [&["extra"][..], &["address.zip"], &["extra.ids.1", "address.zip.0"]] {
        let record = compiled.map_row(&faulty(paths), "f.json").unwrap();
        assert_eq!(record["workEmail"]["address"], json!("a@x.com"), "{paths:?}");
    }
    // Read: the key a mapping reads, a value inside it, the object holding it, a field read whole, the
    // required one. The first read fault is the one named.
    for (paths, named) in [
        (&["extra", "address.city"][..], "address.city"),
        (&["address.city.0"], "address.city.0"),
        (&["address"], "address"),
        (&["score"], "score"),
        (&["id", "score"], "id"),
    ] {
        let err = compiled.map_row(&faulty(paths), "f.json").unwrap_err();
        assert_eq!(
            (err.line, err.field.as_deref(), err.code, err.message.as_str()),
            (4, Some(named), RowErrorCode::BadNumber, format!("the integer at {named} is too large").as_str()),
            "{paths:?}"
        );
    }
}
