//! The identity graph's linking rules and decisions as the engine stores and explains them.
//!
//! - [`linking_rules`]: the rules a batch is stitched under: namespace defaults plus stored overrides.
//! - Each profile's decisions (every link of its records: made, cut by a unique namespace, removed by an
//!   eviction, or over the record limit) are stored with it as JSON, in its batch's transaction.
//! - [`Engine::explain_identity`]: the graph holding an identity and, for each link, the records and the rule
//!   that made it, with the cut links and evictions that concern the graph (`rapport identity explain`).

use std::collections::{BTreeMap, BTreeSet};

use rapport_identity::{GraphRef, LinkingRules, NamespaceRule, Outcome};
use rapport_model::{EntityKind, Identity, NamespaceCode};
use rapport_store::{FragmentHead, IdentityRuleRow};
use serde::{Deserialize, Serialize};

use crate::{Engine, Result};

/// The rules for the registered namespaces with the stored overrides.
pub fn linking_rules(namespaces: &[rapport_schema::Namespace], overrides: &[IdentityRuleRow]) -> LinkingRules {
    let overrides: Vec<(NamespaceCode, NamespaceRule)> = overrides
        .iter()
        .map(|o| (NamespaceCode::new(o.namespace.as_str()), NamespaceRule { unique: o.unique, priority: o.priority }))
        .collect();
    LinkingRules::new(namespaces, &overrides)
}

/// The rule behind a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkRule {
    /// Linked: the identities arrived together in one record.
    Record,
    /// Cut: the link would have put two values of a unique namespace in one graph; a newer link won.
    UniqueNamespace,
    /// Removed: one end was evicted from a graph over 50 identities.
    GraphCap,
    /// Not linked: the record carries more than 20 identities.
    RecordLimit,
}

impl LinkRule {
    /// The rule's name as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            LinkRule::Record => "record",
            LinkRule::UniqueNamespace => "unique_namespace",
            LinkRule::GraphCap => "graph_cap",
            LinkRule::RecordLimit => "record_limit",
        }
    }
}

/// One stored decision: the link between a record's primary identity and another of its identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredDecision {
    fragment: i64,
    from: (String, String),
    to: (String, String),
    rule: LinkRule,
    /// For a cut: the unique-namespace value the record's graph kept, and the refused one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kept: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused: Option<(String, String)>,
    /// For an eviction: the evicted identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evicted: Option<(String, String)>,
}

fn pair(identity: &Identity) -> (String, String) {
    (identity.namespace.as_str().to_owned(), identity.value.clone())
}

fn unpair((ns, value): &(String, String)) -> Identity {
    Identity::new(ns.as_str(), value.as_str())
}

/// A graph's decisions as stored JSON; `None` when there is nothing to store: the graph is [one linked
/// record](GraphRef::is_one_linked_record), whose decisions [`implied_decisions`] rebuilds from its profile, or
/// it has no decision (records sharing only their primary identity). Most profiles of a load are one linked
/// record (one record of one system), and not storing their decisions saves a row of about 200 bytes a profile.
pub(crate) fn encode_decisions(graph: &GraphRef<'_, '_>, heads: &[FragmentHead]) -> Result<Option<String>> {
    if graph.is_one_linked_record() {
        return Ok(None);
    }
    let decisions = graph.decisions();
    if decisions.is_empty() {
        return Ok(None);
    }
    let stored: Vec<StoredDecision> = decisions
        .iter()
        .map(|d| {
            let (rule, kept, refused, evicted) = match d.outcome {
                Outcome::Linked => (LinkRule::Record, None, None, None),
                Outcome::Cut { kept, refused } => {
                    (LinkRule::UniqueNamespace, Some(pair(kept)), Some(pair(refused)), None)
                }
                Outcome::Evicted { node } => (LinkRule::GraphCap, None, None, Some(pair(node))),
                Outcome::OverRecordLimit => (LinkRule::RecordLimit, None, None, None),
            };
            StoredDecision {
                fragment: heads[d.record].id,
                from: pair(d.from),
                to: pair(d.to),
                rule,
                kept,
                refused,
                evicted,
            }
        })
        .collect();
    Ok(Some(serde_json::to_string(&stored).map_err(|e| crate::Error::Internal(format!("encoding decisions: {e}")))?))
}

/// The decisions of a stored profile that has none stored: from its one fragment, a link of its primary
/// identity with each of its other identities (see [`encode_decisions`]). `None` for a profile of several
/// fragments (whose decisions are always stored) or an unknown one.
fn implied_decisions(store: &rapport_store::Store, entity: EntityKind, id: i64) -> Result<Option<Vec<StoredDecision>>> {
    let Some(members) = store.profile_members(entity, id)? else { return Ok(None) };
    let [fragment] = members.fragments[..] else { return Ok(None) };
    Ok(Some(
        members
            .identities
            .iter()
            .filter(|i| **i != members.primary)
            .map(|to| StoredDecision {
                fragment,
                from: pair(&members.primary),
                to: pair(to),
                rule: LinkRule::Record,
                kept: None,
                refused: None,
                evicted: None,
            })
            .collect(),
    ))
}

/// A record behind a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    /// The fragment id.
    pub fragment: i64,
    /// Its dataset.
    pub dataset: String,
    /// The batch that wrote it.
    pub batch_id: i64,
    /// Its source modification time (RFC 3339), or empty.
    pub updated_at: String,
}

/// One link of a graph (or one refused or removed link) with the records and the rule behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkExplanation {
    /// The primary identity of the records.
    pub from: Identity,
    /// The other identity.
    pub to: Identity,
    /// The rule that decided.
    pub rule: LinkRule,
    /// For a cut: the unique-namespace value kept by the record's graph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<Identity>,
    /// For a cut: the value refused (held by the other graph).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Identity>,
    /// For an eviction: the evicted identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evicted: Option<Identity>,
    /// The records that made (or lost) the link, by fragment id.
    pub records: Vec<DecisionRecord>,
}

/// What `rapport identity explain` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphExplanation {
    /// The class searched.
    pub entity: EntityKind,
    /// The identity asked about.
    pub identity: Identity,
    /// The profile whose graph holds it; `None` when no graph does (its links were cut or evicted, or it was
    /// never seen).
    pub profile_id: Option<i64>,
    /// The graph's identities, sorted (empty without a graph).
    pub identities: Vec<Identity>,
    /// The links that hold the graph together.
    pub links: Vec<LinkExplanation>,
    /// Links of the graph's records, or to its identities, that were cut, removed by an eviction or not made
    /// (over the record limit).
    pub refused: Vec<LinkExplanation>,
}

impl Engine {
    /// Explains the graph holding `identity` in `entity` profiles: its identities, each link with the records
    /// and rule that made it, and the cut links and evictions that concern it (its own records' and other
    /// records' links to its identities). Also answers for an identity in no graph: then only the links that
    /// were refused to it.
    pub fn explain_identity(&self, entity: EntityKind, identity: &Identity) -> Result<GraphExplanation> {
        let store = self.store();
        let profile_id = store.profile_owning(entity, identity)?;
        let identities = match profile_id {
            Some(id) => store.profile_members(entity, id)?.map(|m| m.identities).unwrap_or_default(),
            None => Vec::new(),
        };
        let concerned: BTreeSet<&Identity> =
            if identities.is_empty() { BTreeSet::from([identity]) } else { identities.iter().collect() };
        // Profiles whose records carry one of those identities outside their graph.
        let mut others = BTreeSet::new();
        for i in &concerned {
            others.extend(store.profiles_mentioning(entity, i)?);
        }
        let mut decisions: Vec<StoredDecision> = Vec::new();
        for id in profile_id.into_iter().chain(others.iter().copied().filter(|o| Some(*o) != profile_id)) {
            let own = Some(id) == profile_id;
            let list: Vec<StoredDecision> = match store.profile_decisions(entity, id)? {
                Some(stored) => serde_json::from_str(&stored.decisions)
                    .map_err(|e| crate::Error::Internal(format!("stored decisions of profile {id}: {e}")))?,
                // Only the profile's own links can be implied: a profile whose record was refused a link has its
                // decisions stored.
                None if own => implied_decisions(store, entity, id)?.unwrap_or_default(),
                None => continue,
            };
            decisions.extend(list.into_iter().filter(|d| own || concerned.contains(&&unpair(&d.to))));
        }
        // Group by link and outcome; records by fragment id.
        type Key = (
            LinkRule,
            (String, String),
            (String, String),
            Option<(String, String)>,
            Option<(String, String)>,
            Option<(String, String)>,
        );
        let mut grouped: BTreeMap<Key, BTreeSet<i64>> = BTreeMap::new();
        for d in decisions {
            grouped.entry((d.rule, d.from, d.to, d.kept, d.refused, d.evicted)).or_default().insert(d.fragment);
        }
        let fragment_ids: Vec<i64> = grouped.values().flatten().copied().collect::<BTreeSet<_>>().into_iter().collect();
        let details: BTreeMap<i64, DecisionRecord> = store
            .fragment_details(&fragment_ids, false)?
            .into_iter()
            .map(|f| {
                (
                    f.id,
                    DecisionRecord {
                        fragment: f.id,
                        dataset: f.dataset,
                        batch_id: f.batch_id,
                        updated_at: f.updated_at,
                    },
                )
            })
            .collect();
        let mut links = Vec::new();
        let mut refused = Vec::new();
        for ((rule, from, to, kept, refused_value, evicted), fragments) in grouped {
            let explanation = LinkExplanation {
                from: unpair(&from),
                to: unpair(&to),
                rule,
                kept: kept.as_ref().map(unpair),
                refused: refused_value.as_ref().map(unpair),
                evicted: evicted.as_ref().map(unpair),
                records: fragments.iter().filter_map(|f| details.get(f).cloned()).collect(),
            };
            if rule == LinkRule::Record {
                links.push(explanation);
            } else {
                refused.push(explanation);
            }
        }
        Ok(GraphExplanation { entity, identity: identity.clone(), profile_id, identities, links, refused })
    }

    /// The linking rules in force: every registered namespace with its rule (defaults or stored overrides).
    pub fn linking_rules(&self) -> Result<Vec<(rapport_schema::Namespace, NamespaceRule)>> {
        let namespaces = self.store().namespaces()?;
        let rules = linking_rules(&namespaces, &self.store().identity_rules()?);
        Ok(namespaces
            .into_iter()
            .map(|ns| {
                let rule = rules.rule(&ns.code);
                (ns, rule)
            })
            .collect())
    }

    /// Stores a linking-rule override for a registered namespace and rebuilds every profile under the new
    /// rules.
    pub fn set_linking_rule(&mut self, namespace: &str, rule: NamespaceRule) -> Result<()> {
        if !self.store().namespaces()?.iter().any(|ns| ns.code.as_str() == namespace) {
            return Err(crate::Error::UnknownNamespace(namespace.to_owned()));
        }
        self.store.set_identity_rule(&IdentityRuleRow {
            namespace: namespace.to_owned(),
            unique: rule.unique,
            priority: rule.priority,
        })?;
        self.unify(&crate::Quiet)?;
        Ok(())
    }
}
