//! Schema commands through the binary: export → import round trip, custom field groups from XDM documents.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::path::Path;
use std::process::{Command, Output};

fn rapport(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A tenant field group (two fields under `_bodea`), shared with the API's schema tests.
const LOYALTY: &str = include_str!("../../../tests/fixtures/xdm/bodea-loyalty.json");

#[test]
fn issue_3_export_then_import_round_trips_and_field_groups_attach_from_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(rapport(&data, &["schema", "generate-b2b"]));

    let group = tmp.path().join("loyalty.json");
    std::fs::write(&group, LOYALTY).unwrap();
    let added: serde_json::Value = serde_json::from_str(&ok(rapport(
        &data,
        &["schema", "add-field-group", "B2B Person", group.to_str().unwrap(), "--json"],
    )))
    .unwrap();
    assert_eq!(added["added_fields"]["B2B Person"], serde_json::json!(["_bodea", "_bodea.points", "_bodea.tier"]));

    // The exported person schema carries the tenant fields, and importing it gives back the same fields.
    let exported = ok(rapport(&data, &["schema", "export", "B2B Person"]));
    let doc: serde_json::Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(doc["properties"]["_bodea"]["properties"]["tier"]["enum"], serde_json::json!(["gold", "silver"]));
    let file = tmp.path().join("person.json");
    std::fs::write(&file, &exported).unwrap();
    let imported: serde_json::Value =
        serde_json::from_str(&ok(rapport(&data, &["schema", "import", file.to_str().unwrap(), "--json"]))).unwrap();
    assert_eq!(imported[0]["kind"], "schema");
    let person_fields = imported[0]["fields"].as_u64().unwrap();
    assert!(person_fields > 400, "{person_fields}");

    // A field group for another class is refused, naming both.
    let err = rapport(&data, &["schema", "add-field-group", "B2B Account", group.to_str().unwrap()]);
    assert!(!err.status.success());
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(stderr.contains("extends https://ns.adobe.com/xdm/context/profile but schema B2B Account"), "{stderr}");

    // A broken document names the unresolved reference.
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, LOYALTY.replace("#/definitions/loyalty", "https://ns.adobe.com/bodea/missing")).unwrap();
    let err = rapport(&data, &["schema", "add-field-group", "B2B Person", broken.to_str().unwrap()]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("https://ns.adobe.com/bodea/missing"));
}
