//! Looking up one profile by any of its identities: the merged record (under the stored policy or another one),
//! the identities, the contributing fragments with their dataset and batch, and the related entities.
//!
//! A lookup never loads a whole class: related entities resolve by key through indexed queries (profile
//! identities; the records that point at a key, e.g. the relation records of one person by the person key they
//! hold, or the opportunities of an account by the account key they hold).
//!
//! Relations shown, per class (the name is [`Related::relation`]):
//! - person: `account` (its account keys), `accountPerson` (account-person relations, with roles),
//!   `opportunityPerson` (opportunity contact roles, with the role);
//! - account: `parentAccount`, `childAccount` (accounts whose parent it is), `opportunity` (opportunities of
//!   the account), `person` (people whose source record names the account), `accountPerson` (people through
//!   account-person relations, with roles);
//! - opportunity: `account`, `opportunityPerson` (people through contact roles, with the role).

use rapport_model::{EntityKind, FieldPath, Identity, Record};
use rapport_profile::{merge, FragmentView, MergePolicy};
use rapport_store::{FragmentDetail, PersonRelation, Reference};
use serde::Serialize;
use serde_json::Value;

use crate::Result;

/// One profile as a lookup shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    /// The entity class.
    pub entity: EntityKind,
    /// The profile id within its class.
    pub id: i64,
    /// The primary identity.
    pub primary: Identity,
    /// Every identity of the profile's graph, sorted.
    pub identities: Vec<Identity>,
    /// The policy the record was merged under.
    pub merge_policy: MergePolicy,
    /// The merged record.
    pub record: Record,
    /// The fragments merged into the profile, by id.
    pub fragments: Vec<FragmentDetail>,
    /// Related entities, in the order: by the profile's own keys, then through relation records.
    pub related: Vec<Related>,
}

/// An entity related to a looked-up profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Related {
    /// How it is related: `account`, `parentAccount` (a key on the record), `childAccount`, `opportunity`,
    /// `person` (a key on the other entity's record), `accountPerson` or `opportunityPerson` (a relation
    /// record); see the module documentation.
    pub relation: String,
    /// Its entity class.
    pub entity: EntityKind,
    /// Its primary identity (the key when no profile holds it yet).
    pub primary: Identity,
    /// Its profile id, when a profile of its own exists.
    pub profile_id: Option<i64>,
    /// Its display name (account or opportunity name; a person's first and last name).
    pub name: Option<String>,
    /// The opportunity stage.
    pub stage: Option<String>,
    /// Whether the opportunity is closed.
    pub is_closed: Option<bool>,
    /// The role from the relation record (contact role, account-contact roles).
    pub role: Option<String>,
}

/// The non-empty, trimmed string values at `path` in a record (every element when the path crosses arrays).
pub(crate) fn strings(record: &Record, path: &str) -> Vec<String> {
    FieldPath::parse(path)
        .map(|p| {
            p.values(record)
                .into_iter()
                .filter_map(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn text(record: &Record, path: &str) -> Option<String> {
    strings(record, path).into_iter().next()
}

/// A role as text: a string, or a list of strings joined by `;`.
fn role(record: &Record, key: &str) -> Option<String> {
    match record.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join(";"))
        }
        _ => None,
    }
}

impl crate::Engine {
    /// The profile of class `entity` holding `identity`, with its merged record under `policy` (the stored
    /// timestamp-ordered record when `None` or `TimestampOrdered`; otherwise re-merged from its fragments, and
    /// fragments of datasets absent from a precedence list do not contribute), or `None` when no profile holds
    /// the identity.
    pub fn lookup(
        &self,
        entity: EntityKind,
        identity: &Identity,
        policy: Option<&MergePolicy>,
    ) -> Result<Option<ProfileView>> {
        let store = self.store();
        let Some(profile) = store.profile_by_identity(entity, identity)? else { return Ok(None) };
        let policy = policy.cloned().unwrap_or_default();
        let remerge = policy != MergePolicy::TimestampOrdered;
        let mut fragments = store.fragment_details(&profile.fragments, remerge)?;
        let record = if remerge {
            let views: Vec<FragmentView<'_>> = fragments
                .iter()
                .filter_map(|f| {
                    f.record.as_ref().map(|record| FragmentView {
                        dataset: &f.dataset,
                        seq: f.id,
                        updated_at: &f.updated_at,
                        record,
                    })
                })
                .collect();
            let merged = merge(&views, &policy);
            for f in &mut fragments {
                f.record = None;
            }
            merged
        } else {
            profile.record
        };
        let related = self.related(entity, &profile.identities, &record)?;
        Ok(Some(ProfileView {
            entity,
            id: profile.id,
            primary: profile.primary,
            identities: profile.identities,
            merge_policy: policy,
            record,
            fragments,
            related,
        }))
    }

    fn related(&self, entity: EntityKind, identities: &[Identity], record: &Record) -> Result<Vec<Related>> {
        let mut out: Vec<Related> = Vec::new();
        match entity {
            EntityKind::Person => {
                let mut accounts = strings(record, "personComponents.sourceAccountKey.sourceKey");
                accounts.extend(strings(record, "b2b.accountKey.sourceKey"));
                accounts.sort();
                accounts.dedup();
                for key in accounts {
                    out.push(self.resolve("account", EntityKind::Account, "b2b_account", &key, None)?);
                }
                let keys = identities.iter().filter(|i| i.namespace.as_str() == "b2b_person");
                for key in keys {
                    for (_, relation) in self.store().person_relations(PersonRelation::AccountPerson, &key.value)? {
                        if let Some(account) = text(&relation, "accountKey.sourceKey") {
                            let role = role(&relation, "personRoles");
                            out.push(self.resolve(
                                "accountPerson",
                                EntityKind::Account,
                                "b2b_account",
                                &account,
                                role,
                            )?);
                        }
                    }
                    for (_, relation) in self.store().person_relations(PersonRelation::OpportunityPerson, &key.value)? {
                        if let Some(opportunity) = text(&relation, "opportunityKey.sourceKey") {
                            let role = role(&relation, "personRole");
                            out.push(self.resolve(
                                "opportunityPerson",
                                EntityKind::Opportunity,
                                "b2b_opportunity",
                                &opportunity,
                                role,
                            )?);
                        }
                    }
                }
            }
            EntityKind::Opportunity => {
                if let Some(key) = text(record, "accountKey.sourceKey") {
                    out.push(self.resolve("account", EntityKind::Account, "b2b_account", &key, None)?);
                }
                for key in identities.iter().filter(|i| i.namespace.as_str() == "b2b_opportunity") {
                    for (_, relation) in
                        self.store().referencing(Reference::OpportunityPersonOpportunity, &key.value)?
                    {
                        if let Some(person) = text(&relation, "personKey.sourceKey") {
                            let role = role(&relation, "personRole");
                            out.push(self.resolve(
                                "opportunityPerson",
                                EntityKind::Person,
                                "b2b_person",
                                &person,
                                role,
                            )?);
                        }
                    }
                }
            }
            EntityKind::Account => {
                if let Some(key) = text(record, "accountParentKey.sourceKey") {
                    out.push(self.resolve("parentAccount", EntityKind::Account, "b2b_account", &key, None)?);
                }
                for key in identities.iter().filter(|i| i.namespace.as_str() == "b2b_account") {
                    let store = self.store();
                    for (child, _) in store.referencing(Reference::AccountParent, &key.value)? {
                        out.push(self.resolve_identity("childAccount", EntityKind::Account, child, None)?);
                    }
                    for (opportunity, _) in store.referencing(Reference::OpportunityAccount, &key.value)? {
                        out.push(self.resolve_identity("opportunity", EntityKind::Opportunity, opportunity, None)?);
                    }
                    for (person, _) in store.referencing(Reference::PersonAccount, &key.value)? {
                        out.push(self.resolve_identity("person", EntityKind::Person, person, None)?);
                    }
                    for (_, relation) in store.referencing(Reference::AccountPersonAccount, &key.value)? {
                        if let Some(person) = text(&relation, "personKey.sourceKey") {
                            let role = role(&relation, "personRoles");
                            out.push(self.resolve("accountPerson", EntityKind::Person, "b2b_person", &person, role)?);
                        }
                    }
                }
            }
            _ => {}
        }
        // One entry per entity and way it is related (two fragments of one profile may name the same key).
        let mut seen = std::collections::HashSet::new();
        out.retain(|r| {
            let who = r.profile_id.map_or_else(|| r.primary.to_string(), |id| id.to_string());
            seen.insert((r.relation.clone(), r.entity, who, r.role.clone()))
        });
        Ok(out)
    }

    /// The entity of class `entity` with key `key` in namespace `ns`, with its display fields when it has a
    /// profile.
    fn resolve(
        &self,
        relation: &str,
        entity: EntityKind,
        ns: &str,
        key: &str,
        role: Option<String>,
    ) -> Result<Related> {
        self.resolve_identity(relation, entity, Identity::new(ns, key), role)
    }

    /// The entity of class `entity` holding `identity`, with its display fields when it has a profile.
    fn resolve_identity(
        &self,
        relation: &str,
        entity: EntityKind,
        identity: Identity,
        role: Option<String>,
    ) -> Result<Related> {
        let profile = self.store().profile_by_identity(entity, &identity)?;
        let mut related = Related {
            relation: relation.to_owned(),
            entity,
            primary: identity,
            profile_id: None,
            name: None,
            stage: None,
            is_closed: None,
            role,
        };
        if let Some(profile) = profile {
            let record = &profile.record;
            related.profile_id = Some(profile.id);
            related.primary = profile.primary;
            match entity {
                EntityKind::Account => related.name = text(record, "accountName"),
                EntityKind::Person => {
                    let parts: Vec<String> = ["person.name.firstName", "person.name.lastName"]
                        .iter()
                        .filter_map(|p| text(record, p))
                        .collect();
                    related.name = (!parts.is_empty()).then(|| parts.join(" "));
                }
                EntityKind::Opportunity => {
                    related.name = text(record, "opportunityName");
                    related.stage = text(record, "opportunityStage");
                    related.is_closed = record.get("isClosed").and_then(Value::as_bool);
                }
                _ => {}
            }
        }
        Ok(related)
    }
}
