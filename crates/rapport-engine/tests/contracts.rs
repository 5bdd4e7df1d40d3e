//! Contracts between layers: every XDM path a connector writes exists in the target entity's standard schema.

use rapport_model::{FieldPath, SourceSystem};
use rapport_schema::b2b::generate_b2b;

#[test]
fn every_connector_target_is_a_field_of_its_schema() {
    let schemas = generate_b2b();
    let mut missing = Vec::new();
    for system in [SourceSystem::Salesforce, SourceSystem::Dynamics, SourceSystem::Marketo] {
        for table in rapport_sources::tables(system) {
            let schema = schemas.for_entity(table.entity).expect("every entity has a standard schema");
            for target in table.targets() {
                let path = FieldPath::parse(target).expect("targets are valid paths");
                // Keys below a map field (identityMap.ECID) are data, not schema fields.
                let under_map = (1..path.segments().len()).any(|n| {
                    let prefix = FieldPath::from_segments(path.segments()[..n].iter().cloned());
                    schema.field(&prefix).is_some_and(|f| f.ty == rapport_schema::FieldType::Map)
                });
                if schema.field(&path).is_none() && !under_map {
                    missing.push(format!("{table}: {target} is not in {}", schema.name));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{} unmapped targets:\n{}", missing.len(), missing.join("\n"));
}
