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

    /// Four fragments of one person from three datasets, their timestamps disagreeing with ingestion order
    /// (`seq`); every expected record is worked out by hand from the rules in the module documentation.
    fn conflicting() -> [Record; 4] {
        [
            // crm, ingested first, newest of all.
            rec(json!({"title": "VP", "score": 10, "tags": ["a"], "address": {"city": "Paris", "zip": "75001"},
                "personComponents": [{"k": "crm-1"}]})),
            // crm again (another key of the same person), ingested second, oldest.
            rec(json!({"title": "Director", "phone": "111", "tags": ["b", "c"], "personComponents": [{"k": "crm-2"}]})),
            // marketo: middle timestamp, a null that must not erase, a city and a country.
            rec(json!({"title": "Vice President", "score": null, "address": {"city": "Lyon", "country": "FR"},
                "personComponents": [{"k": "mkto-1"}]})),
            // web: ingested last with the newest-but-one timestamp; often left out of the order list.
            rec(json!({"title": "Boss", "phone": "999", "personComponents": [{"k": "web-1"}]})),
        ]
    }

    fn views(records: &[Record; 4]) -> [FragmentView<'_>; 4] {
        [
            FragmentView { dataset: "crm", seq: 1, updated_at: "2024-05-01T00:00:00.000Z", record: &records[0] },
            FragmentView { dataset: "crm", seq: 2, updated_at: "2024-01-01T00:00:00.000Z", record: &records[1] },
            FragmentView { dataset: "marketo", seq: 3, updated_at: "2024-03-01T00:00:00.000Z", record: &records[2] },
            FragmentView { dataset: "web", seq: 4, updated_at: "2024-04-01T00:00:00.000Z", record: &records[3] },
        ]
    }

    #[test]
    fn timestamp_ordered_takes_each_value_from_the_newest_fragment_holding_it() {
        let records = conflicting();
        // Oldest first: crm-2 (Jan), marketo (Mar), web (Apr), crm-1 (May).
        let merged = merge(&views(&records), &MergePolicy::TimestampOrdered);
        assert_eq!(
            Value::Object(merged),
            json!({"title": "VP", "score": 10, "phone": "999", "tags": ["a"],
                "address": {"city": "Paris", "zip": "75001", "country": "FR"},
                "personComponents": [{"k": "crm-2"}, {"k": "mkto-1"}, {"k": "web-1"}, {"k": "crm-1"}]})
        );
        // The input order does not matter.
        let mut reversed = views(&records);
        reversed.reverse();
        assert_eq!(
            merge(&reversed, &MergePolicy::TimestampOrdered),
            merge(&views(&records), &MergePolicy::TimestampOrdered)
        );
    }

    #[test]
    fn dataset_precedence_beats_recency_and_unlisted_datasets_do_not_contribute() {
        let records = conflicting();
        // marketo over crm; web is not listed. Lowest priority first: crm-2 (Jan), crm-1 (May), then marketo.
        let policy = MergePolicy::DataSetPrecedence { order: vec!["marketo".into(), "crm".into()] };
        assert_eq!(
            Value::Object(merge(&views(&records), &policy)),
            json!({"title": "Vice President", "score": 10, "phone": "111", "tags": ["a"],
                "address": {"city": "Lyon", "zip": "75001", "country": "FR"},
                "personComponents": [{"k": "crm-2"}, {"k": "crm-1"}, {"k": "mkto-1"}]})
        );
        // crm over web over marketo: within crm the newer fragment (crm-1) still wins.
        let policy = MergePolicy::DataSetPrecedence { order: vec!["crm".into(), "web".into(), "marketo".into()] };
        assert_eq!(
            Value::Object(merge(&views(&records), &policy)),
            json!({"title": "VP", "score": 10, "phone": "111", "tags": ["a"],
                "address": {"city": "Paris", "zip": "75001", "country": "FR"},
                "personComponents": [{"k": "mkto-1"}, {"k": "web-1"}, {"k": "crm-2"}, {"k": "crm-1"}]})
        );
        // Only web listed: the other datasets contribute nothing at all.
        let policy = MergePolicy::DataSetPrecedence { order: vec!["web".into()] };
        assert_eq!(
            Value::Object(merge(&views(&records), &policy)),
            json!({"title": "Boss", "phone": "999", "personComponents": [{"k": "web-1"}]})
        );
        // A list naming no dataset of the profile merges nothing.
        let policy = MergePolicy::DataSetPrecedence { order: vec!["salesforce".into()] };
        assert!(merge(&views(&records), &policy).is_empty());
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
