//! Schema evolution: once a schema is enabled for profile, only additive changes are accepted.
//!
//! A change is breaking when data valid before could be invalid or mean something else after it: a field is
//! removed, its type changes, an enum loses values, a constraint tightens or appears, a format appears or
//! changes, or an identity descriptor is removed or changed. New fields, new enum values, looser constraints
//! and new secondary identities are additive.

use std::fmt;

use serde::Serialize;

use crate::b2b::Schema;

/// The rule a change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvolutionRule {
    /// A field was removed.
    FieldRemoved,
    /// A field's type changed.
    TypeChanged,
    /// An enum lost values, or a free field became an enum.
    EnumNarrowed,
    /// A minimum, maximum or length constraint tightened or appeared.
    ConstraintTightened,
    /// A format appeared or changed.
    FormatChanged,
    /// An identity descriptor was removed or changed.
    IdentityChanged,
}

impl EvolutionRule {
    /// The snake_case name of the rule.
    pub fn name(self) -> &'static str {
        match self {
            EvolutionRule::FieldRemoved => "field_removed",
            EvolutionRule::TypeChanged => "type_changed",
            EvolutionRule::EnumNarrowed => "enum_narrowed",
            EvolutionRule::ConstraintTightened => "constraint_tightened",
            EvolutionRule::FormatChanged => "format_changed",
            EvolutionRule::IdentityChanged => "identity_changed",
        }
    }
}

/// One breaking change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakingChange {
    /// The field (or identity path) concerned.
    pub path: String,
    /// The rule broken.
    pub rule: EvolutionRule,
    /// What changed.
    pub message: String,
}

impl fmt::Display for BreakingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {} (rule: {})", self.path, self.message, self.rule.name())
    }
}

fn tighter_lower(old: Option<f64>, new: Option<f64>) -> bool {
    match (old, new) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => b > a,
        _ => false,
    }
}

fn tighter_upper(old: Option<f64>, new: Option<f64>) -> bool {
    match (old, new) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => b < a,
        _ => false,
    }
}

/// The breaking changes from `old` to `new` (empty when the change is additive). Only profile-enabled schemas
/// are held to these rules; callers decide that.
pub fn breaking_changes(old: &Schema, new: &Schema) -> Vec<BreakingChange> {
    let mut out = Vec::new();
    let mut push = |path: String, rule, message: String| out.push(BreakingChange { path, rule, message });
    for before in old.fields() {
        let path = before.path.to_string();
        let Some(after) = new.field(&before.path) else {
            push(path, EvolutionRule::FieldRemoved, "the field would be removed".to_owned());
            continue;
        };
        if after.ty != before.ty {
            push(path.clone(), EvolutionRule::TypeChanged, format!("type {} would become {}", before.ty, after.ty));
            continue;
        }
        if after.format != before.format && after.format.is_some() {
            push(
                path.clone(),
                EvolutionRule::FormatChanged,
                format!("format {:?} would become {:?}", before.format, after.format),
            );
        }
        match (&before.allowed, &after.allowed) {
            (None, Some(_)) => {
                push(path.clone(), EvolutionRule::EnumNarrowed, "the field would become an enum".to_owned())
            }
            (Some(old_values), Some(new_values)) => {
                let lost: Vec<String> =
                    old_values.iter().filter(|v| !new_values.contains(v)).map(ToString::to_string).collect();
                if !lost.is_empty() {
                    push(
                        path.clone(),
                        EvolutionRule::EnumNarrowed,
                        format!("enum values {} would be removed", lost.join(", ")),
                    );
                }
            }
            _ => {}
        }
        let (b, a) = (&before.constraints, &after.constraints);
        let tightened = tighter_lower(b.minimum, a.minimum)
            || tighter_upper(b.maximum, a.maximum)
            || tighter_lower(b.min_length.map(|v| v as f64), a.min_length.map(|v| v as f64))
            || tighter_upper(b.max_length.map(|v| v as f64), a.max_length.map(|v| v as f64))
            || (b.pattern != a.pattern && a.pattern.is_some());
        if tightened {
            push(path, EvolutionRule::ConstraintTightened, "a constraint would tighten".to_owned());
        }
    }
    for identity in &old.identities {
        if !new.identities.contains(identity) {
            push(
                identity.path.to_string(),
                EvolutionRule::IdentityChanged,
                format!(
                    "the {} identity ({}) would be removed or changed",
                    if identity.primary { "primary" } else { "secondary" },
                    identity.namespace
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b2b::generate_b2b;
    use crate::library::{self, group_from_json, Group};
    use rapport_model::EntityKind;
    use serde_json::json;

    const TENANT: &str = "https://ns.adobe.com/bodea/mixins/loyalty";

    fn with_group(fields: serde_json::Value) -> Schema {
        let group = group_from_json(TENANT, &json!({"title": "Bodea Loyalty", "kind": "fieldgroup", "fields": fields}))
            .unwrap();
        let mut doc = generate_b2b().for_entity(EntityKind::Person).unwrap().doc();
        doc.field_groups.push(TENANT.to_owned());
        let resolve = |id: &str| -> Option<Group> {
            if id == TENANT {
                Some(group.clone())
            } else {
                library::group(id).cloned()
            }
        };
        Schema::compose(doc, &resolve).unwrap()
    }

    fn v1() -> Schema {
        with_group(json!([
            {"path": "_bodea", "type": "object"},
            {"path": "_bodea.tier", "type": "string", "enum": ["gold", "silver"]},
            {"path": "_bodea.points", "type": "integer", "maximum": 1000},
            {"path": "_bodea.memberSince", "type": "string", "format": "date"}
        ]))
    }

    fn rules(new: &Schema) -> Vec<(String, EvolutionRule)> {
        breaking_changes(&v1(), new).into_iter().map(|c| (c.path, c.rule)).collect()
    }

    #[test]
    fn additive_changes_pass() {
        let v2 = with_group(json!([
            {"path": "_bodea", "type": "object"},
            {"path": "_bodea.tier", "type": "string", "enum": ["gold", "silver", "bronze"]},
            {"path": "_bodea.points", "type": "integer", "maximum": 5000},
            {"path": "_bodea.memberSince", "type": "string", "format": "date"},
            {"path": "_bodea.referrer", "type": "string"}
        ]));
        assert_eq!(breaking_changes(&v1(), &v2), vec![]);
    }

    #[test]
    fn removals_type_changes_narrowing_and_tightening_are_breaking() {
        let v2 = with_group(json!([
            {"path": "_bodea", "type": "object"},
            {"path": "_bodea.tier", "type": "string", "enum": ["gold"]},
            {"path": "_bodea.points", "type": "number", "maximum": 1000},
            {"path": "_bodea.memberSince", "type": "string", "format": "date-time"}
        ]));
        assert_eq!(
            rules(&v2),
            vec![
                ("_bodea.memberSince".to_owned(), EvolutionRule::TypeChanged),
                ("_bodea.points".to_owned(), EvolutionRule::TypeChanged),
                ("_bodea.tier".to_owned(), EvolutionRule::EnumNarrowed),
            ]
        );
        let v3 = with_group(json!([
            {"path": "_bodea", "type": "object"},
            {"path": "_bodea.tier", "type": "string", "enum": ["gold", "silver"]},
            {"path": "_bodea.points", "type": "integer", "maximum": 100}
        ]));
        let changes = breaking_changes(&v1(), &v3);
        assert_eq!(changes[0].to_string(), "`_bodea.memberSince`: the field would be removed (rule: field_removed)");
        assert_eq!(changes[1].rule, EvolutionRule::ConstraintTightened);
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn identity_changes_are_breaking() {
        let mut doc = v1().doc();
        doc.identities.retain(|i| i.namespace.as_str() != "Email");
        let resolve = |id: &str| {
            library::group(id).cloned().or_else(|| {
                (id == TENANT).then(|| {
                    group_from_json(TENANT, &json!({"title": "t", "kind": "fieldgroup", "fields": []})).unwrap()
                })
            })
        };
        let v2 = Schema::compose(doc, &resolve).unwrap();
        let changes = breaking_changes(&v1(), &v2);
        assert!(changes.iter().any(|c| c.rule == EvolutionRule::IdentityChanged && c.path == "workEmail.address"));
    }
}
