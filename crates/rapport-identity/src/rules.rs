//! Linking rules: per-namespace uniqueness and priority, the per-record and per-graph limits, and the
//! eviction order (B2B-DOMAIN b.4, b.5, h.1).
//!
//! Defaults come from the namespace's identity type (the table is in `docs/identity.md`); a stored override
//! ([`NamespaceRule`] per namespace code) replaces the default of one namespace.

use rapport_model::NamespaceCode;
use rapport_schema::{IdentityType, Namespace};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// At most this many identities of one record take part in linking (B2B-DOMAIN h.1).
pub const MAX_IDENTITIES_PER_RECORD: usize = 20;

/// At most this many identities in one graph; more are evicted (B2B-DOMAIN b.4).
pub const MAX_IDENTITIES_PER_GRAPH: usize = 50;

/// Which identities a full graph evicts first: lower classes go first (B2B-DOMAIN b.4: partner ids, then
/// cookies, then devices, finally people identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictionClass {
    /// Partner ids: evicted first.
    Partner,
    /// Browser cookies (ECID).
    Cookie,
    /// Hardware device ids.
    Device,
    /// Cross-device ids, emails, phones and every other type: evicted last.
    Person,
}

impl EvictionClass {
    /// The class of an identity type.
    pub fn of(id_type: IdentityType) -> Self {
        match id_type {
            IdentityType::PartnerId => EvictionClass::Partner,
            IdentityType::Cookie => EvictionClass::Cookie,
            IdentityType::Device => EvictionClass::Device,
            _ => EvictionClass::Person,
        }
    }
}

/// The linking rule of one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRule {
    /// At most one value of this namespace in a graph.
    pub unique: bool,
    /// Namespace priority: lower numbers rank higher. Within one record, links to higher-priority
    /// identities are made first.
    pub priority: u32,
}

impl NamespaceRule {
    /// The default rule of a namespace (see `docs/identity.md`): custom cross-device namespaces (one system's
    /// person id, a CRM id) are unique; `b2b_person` is not, because it holds the source keys of every system
    /// and instance (a Salesforce contact, a Salesforce lead and a Marketo lead of one person are three values
    /// that must stitch). Priority follows cardinality: people identifiers, then emails, phones, devices,
    /// cookies.
    pub fn default_for(namespace: &Namespace) -> Self {
        let unique = namespace.id_type == IdentityType::CrossDevice && !namespace.standard;
        let priority = match namespace.id_type {
            IdentityType::CrossDevice => 10,
            IdentityType::Email => 20,
            IdentityType::Phone => 30,
            IdentityType::Device => 40,
            IdentityType::Cookie => 50,
            IdentityType::NonPeople => 60,
            IdentityType::PartnerId => 70,
            // The B2B entity namespaces are the primary identities of their own classes' graphs.
            _ => 10,
        };
        Self { unique, priority }
    }
}

/// The rule of a namespace the rules do not know (not registered): not unique, lowest priority, evicted last.
const UNKNOWN: (NamespaceRule, EvictionClass) =
    (NamespaceRule { unique: false, priority: u32::MAX }, EvictionClass::Person);

/// Every namespace's rule, and the limits.
#[derive(Debug, Clone)]
pub struct LinkingRules {
    by_namespace: FxHashMap<NamespaceCode, (NamespaceRule, EvictionClass)>,
    /// At most this many identities of one record are linked (the primary identity first, then the others in
    /// the record's order).
    pub max_per_record: usize,
    /// At most this many identities in one graph.
    pub max_per_graph: usize,
}

impl Default for LinkingRules {
    /// The standard namespaces with their default rules.
    fn default() -> Self {
        Self::new(&rapport_schema::namespace::standard(), &[])
    }
}

impl LinkingRules {
    /// The rules for the registered `namespaces`: defaults, replaced by `overrides` where given.
    pub fn new(namespaces: &[Namespace], overrides: &[(NamespaceCode, NamespaceRule)]) -> Self {
        let mut by_namespace: FxHashMap<NamespaceCode, (NamespaceRule, EvictionClass)> = namespaces
            .iter()
            .map(|ns| (ns.code.clone(), (NamespaceRule::default_for(ns), EvictionClass::of(ns.id_type))))
            .collect();
        for (code, rule) in overrides {
            let entry = by_namespace.entry(code.clone()).or_insert(UNKNOWN);
            entry.0 = *rule;
        }
        Self { by_namespace, max_per_record: MAX_IDENTITIES_PER_RECORD, max_per_graph: MAX_IDENTITIES_PER_GRAPH }
    }

    /// The rule of a namespace.
    pub fn rule(&self, namespace: &NamespaceCode) -> NamespaceRule {
        self.entry(namespace).0
    }

    /// The eviction class of a namespace.
    pub fn class(&self, namespace: &NamespaceCode) -> EvictionClass {
        self.entry(namespace).1
    }

    fn entry(&self, namespace: &NamespaceCode) -> (NamespaceRule, EvictionClass) {
        self.by_namespace.get(namespace).copied().unwrap_or(UNKNOWN)
    }

    /// Sets one namespace's rule (the tests and the graph simulation use this).
    pub fn set(&mut self, namespace: &str, rule: NamespaceRule) {
        let entry = self.by_namespace.entry(NamespaceCode::new(namespace)).or_insert(UNKNOWN);
        entry.0 = rule;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_identity_type() {
        let rules = LinkingRules::new(
            &[
                rapport_schema::namespace::standard_by_code("b2b_person").unwrap().clone(),
                rapport_schema::namespace::standard_by_code("Email").unwrap().clone(),
                rapport_schema::namespace::standard_by_code("ECID").unwrap().clone(),
                Namespace::custom("CRMID", "CRM id", IdentityType::CrossDevice, rapport_schema::Normalization::Trim)
                    .unwrap(),
            ],
            &[],
        );
        let ns = NamespaceCode::new;
        assert_eq!(rules.rule(&ns("CRMID")), NamespaceRule { unique: true, priority: 10 });
        assert_eq!(rules.rule(&ns("b2b_person")), NamespaceRule { unique: false, priority: 10 });
        assert_eq!(rules.rule(&ns("Email")), NamespaceRule { unique: false, priority: 20 });
        assert_eq!(rules.rule(&ns("ECID")), NamespaceRule { unique: false, priority: 50 });
        assert_eq!(rules.class(&ns("ECID")), EvictionClass::Cookie);
        assert_eq!(rules.class(&ns("Email")), EvictionClass::Person);
        assert_eq!(rules.rule(&ns("nowhere")), NamespaceRule { unique: false, priority: u32::MAX });
    }

    #[test]
    fn an_override_replaces_the_default() {
        let rules = LinkingRules::new(
            &rapport_schema::namespace::standard(),
            &[(NamespaceCode::new("Email"), NamespaceRule { unique: true, priority: 5 })],
        );
        assert_eq!(rules.rule(&NamespaceCode::new("Email")), NamespaceRule { unique: true, priority: 5 });
        assert_eq!(rules.class(&NamespaceCode::new("Email")), EvictionClass::Person);
    }
}
