//! Custom field groups on the generated B2B schemas, persisted, and held to the evolution rules.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use rapport_engine::Engine;
use rapport_model::EntityKind;
use rapport_schema::library::{group_from_json, Group};
use rapport_schema::validate::validate;
use serde_json::json;

const LOYALTY: &str = "https://ns.adobe.com/bodea/mixins/loyalty";

fn group(id: &str, fields: serde_json::Value) -> Group {
    group_from_json(id, &json!({"title": "Bodea Loyalty", "kind": "fieldgroup", "fields": fields})).unwrap()
}

fn v1() -> Group {
    group(
        LOYALTY,
        json!([
            {"path": "_bodea", "type": "object"},
            {"path": "_bodea.tier", "type": "string", "enum": ["gold", "silver"]},
            {"path": "_bodea.points", "type": "integer", "maximum": 1000}
        ]),
    )
}

#[test]
fn issue_3_custom_field_groups_are_added_persisted_and_evolve_additively() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path()).unwrap();
    let refused = engine.add_field_group("B2B Person", v1()).unwrap_err();
    assert!(refused.to_string().contains("generate-b2b"), "{refused}");
    engine.generate_b2b_schemas().unwrap();

    let change = engine.add_field_group("B2B Person", v1()).unwrap();
    assert_eq!(change.schemas, ["B2B Person"]);
    assert_eq!(change.added_fields["B2B Person"], ["_bodea", "_bodea.points", "_bodea.tier"]);

    // Persisted: a fresh engine on the same directory validates records with the tenant fields.
    drop(engine);
    let mut engine = Engine::open(dir.path()).unwrap();
    let person = engine.schemas().for_entity(EntityKind::Person).unwrap().clone();
    let record = json!({"b2b": {"personKey": {"sourceKey": "k"}}, "_bodea": {"tier": "gold", "points": 1200}});
    let errors = validate(&person, record.as_object().unwrap());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "_bodea.points");

    // Additive: a new enum value, a looser maximum and a new field.
    let v2 = group(
        LOYALTY,
        json!([
            {"path": "_bodea", "type": "object"},
            {"path": "_bodea.tier", "type": "string", "enum": ["gold", "silver", "bronze"]},
            {"path": "_bodea.points", "type": "integer", "maximum": 5000},
            {"path": "_bodea.referrer", "type": "string"}
        ]),
    );
    let change = engine.add_field_group("B2B Person", v2).unwrap();
    assert_eq!(change.added_fields["B2B Person"], ["_bodea.referrer"]);

    // Breaking: removing a field and narrowing a type are refused, naming the field and the rule.
    let v3 = group(
        LOYALTY,
        json!([
            {"path": "_bodea", "type": "object"},
            {"path": "_bodea.tier", "type": "string", "enum": ["gold", "silver", "bronze"]},
            {"path": "_bodea.points", "type": "string"}
        ]),
    );
    let err = engine.add_field_group("B2B Person", v3).unwrap_err().to_string();
    assert!(err.contains("schema B2B Person is enabled for profile and accepts only additive changes"), "{err}");
    assert!(err.contains("`_bodea.points`: type integer would become string (rule: type_changed)"), "{err}");
    assert!(err.contains("`_bodea.referrer`: the field would be removed (rule: field_removed)"), "{err}");
    let still = engine.schemas().for_entity(EntityKind::Person).unwrap();
    assert!(still.field(&"_bodea.referrer".parse().unwrap()).is_some(), "a refused change changes nothing");

    // Fields outside a tenant object, standard ids and type conflicts are refused.
    let top = group("https://ns.adobe.com/bodea/mixins/top", json!([{"path": "loyaltyTier", "type": "string"}]));
    let err = engine.add_field_group("B2B Person", top).unwrap_err().to_string();
    assert!(err.contains("`loyaltyTier` must live under a tenant object `_{tenant}`"), "{err}");
    let clash = group("https://ns.adobe.com/bodea/mixins/clash", json!([{"path": "_bodea.tier", "type": "integer"}]));
    let err = engine.add_field_group("B2B Person", clash).unwrap_err().to_string();
    assert!(err.contains("`_bodea.tier` is string in Bodea Loyalty but integer in Bodea Loyalty"), "{err}");
    let err = engine.add_field_group("B2B Nothing", v1()).unwrap_err().to_string();
    assert!(err.contains("schema `B2B Nothing` does not exist"), "{err}");
}
