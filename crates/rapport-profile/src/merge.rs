//! Merge policies: which value wins when fragments of one profile disagree (B2B-DOMAIN d.2).

use rapport_model::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How conflicting attribute values are resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum MergePolicy {
    /// The most recently updated fragment wins (by the source's modification time, then ingestion order).
    #[default]
    TimestampOrdered,
    /// Fragments of earlier datasets in `order` win; datasets absent from the list do not contribute.
    DataSetPrecedence {
        /// Dataset names, highest priority first.
        order: Vec<String>,
    },
}

/// A fragment as the merge sees it.
#[derive(Debug, Clone, Copy)]
pub struct FragmentView<'a> {
    /// The dataset it belongs to.
    pub dataset: &'a str,
    /// Ingestion order (larger = later).
    pub seq: i64,
    /// Source modification time, RFC 3339 in one fixed format, or empty when unknown.
    pub updated_at: &'a str,
    /// The record.
    pub record: &'a Record,
}

/// True for the per-source component arrays (`personComponents`, `accountComponents`, …), whose elements are
/// concatenated across fragments instead of replaced: each element describes one contributing source.
fn is_component_array(key: &str) -> bool {
    key.ends_with("Components")
}

/// Merges fragments under `policy`.
///
/// Objects merge field by field; a scalar or array value from a winning fragment replaces the loser's, but a
/// missing or null value never erases one. Component arrays are concatenated without duplicates.
pub fn merge(fragments: &[FragmentView<'_>], policy: &MergePolicy) -> Record {
    let mut ordered: Vec<(usize, &FragmentView<'_>)> = match policy {
        MergePolicy::TimestampOrdered => fragments.iter().enumerate().collect(),
        MergePolicy::DataSetPrecedence { order } => {
            fragments.iter().filter_map(|f| order.iter().position(|d| d == f.dataset).map(|rank| (rank, f))).collect()
        }
    };
    match policy {
        // Oldest first, so that later fragments overwrite earlier ones.
        MergePolicy::TimestampOrdered => {
            ordered.sort_by(|a, b| (a.1.updated_at, a.1.seq).cmp(&(b.1.updated_at, b.1.seq)))
        }
        // Lowest priority first; within a dataset, older first.
        MergePolicy::DataSetPrecedence { .. } => ordered
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (a.1.updated_at, a.1.seq).cmp(&(b.1.updated_at, b.1.seq)))),
    }
    let mut merged = Record::new();
    for (_, fragment) in ordered {
        overlay(&mut merged, fragment.record);
    }
    merged
}

fn overlay(target: &mut Record, source: &Record) {
    for (key, value) in source {
        match (target.get_mut(key), value) {
            (_, Value::Null) => {}
            (Some(Value::Object(existing)), Value::Object(incoming)) => overlay(existing, incoming),
            (Some(Value::Array(existing)), Value::Array(incoming)) if is_component_array(key) => {
                for item in incoming {
                    if !existing.contains(item) {
                        existing.push(item.clone());
                    }
                }
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(value: Value) -> Record {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_most_recent_value_wins_and_absent_values_do_not_erase() {
        let salesforce = rec(json!({"extendedWorkDetails": {"jobTitle": "VP Sales", "departments": ["Sales"]},
            "personComponents": [{"sourcePersonKey": {"sourceKey": "1@o.Salesforce"}}]}));
        let marketo = rec(json!({"extendedWorkDetails": {"jobTitle": "Vice President"},
            "personComponents": [{"sourcePersonKey": {"sourceKey": "9@m.Marketo"}}]}));
        let fragments = [
            FragmentView { dataset: "marketo", seq: 1, updated_at: "2024-03-02T00:00:00.000Z", record: &marketo },
            FragmentView { dataset: "salesforce", seq: 2, updated_at: "2024-03-01T00:00:00.000Z", record: &salesforce },
        ];
        let merged = merge(&fragments, &MergePolicy::TimestampOrdered);
        assert_eq!(
            Value::Object(merged),
            json!({"extendedWorkDetails": {"jobTitle": "Vice President", "departments": ["Sales"]},
                "personComponents": [{"sourcePersonKey": {"sourceKey": "1@o.Salesforce"}},
                                     {"sourcePersonKey": {"sourceKey": "9@m.Marketo"}}]})
        );
        let precedence = MergePolicy::DataSetPrecedence { order: vec!["salesforce".into()] };
        let merged = merge(&fragments, &precedence);
        assert_eq!(merged["extendedWorkDetails"]["jobTitle"], "VP Sales");
        assert_eq!(merged["personComponents"].as_array().unwrap().len(), 1, "marketo is not in the order list");
    }

    #[test]
    fn equal_timestamps_fall_back_to_ingestion_order() {
        let a = rec(json!({"x": 1}));
        let b = rec(json!({"x": 2}));
        let fragments = [
            FragmentView { dataset: "d", seq: 7, updated_at: "", record: &b },
            FragmentView { dataset: "d", seq: 3, updated_at: "", record: &a },
        ];
        assert_eq!(merge(&fragments, &MergePolicy::TimestampOrdered)["x"], 2);
    }
}
