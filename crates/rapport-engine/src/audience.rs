//! Audiences: create from PQL, evaluate over the linked profiles, list members.

use std::collections::BTreeSet;

use rapport_model::{EntityKind, FieldPath, Identity};
use rapport_profile::ProfileGraph;
use rapport_store::{AudienceRecord, MembershipChange};
use serde::Serialize;
use tracing::{info, instrument};

use crate::{Engine, Result};

/// One audience member, with the attributes exports use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The profile's primary identity as `namespace:value`.
    pub primary: String,
    /// Membership status: `realized` (entered at the last evaluation) or `existing`.
    pub status: String,
    /// The work email (normalized), if any.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// The name of the first related account (by key order), if any.
    pub account_name: Option<String>,
    /// Every identity of the profile's graph, as `namespace:value`.
    pub identities: Vec<String>,
}

/// The result of evaluating an audience.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The audience.
    pub audience: String,
    /// Members now.
    pub size: u64,
    /// Profiles of the audience's class that were evaluated.
    pub profiles: u64,
    /// What changed since the previous evaluation.
    pub change: MembershipChange,
}

fn key(identity: &Identity) -> String {
    format!("{}:{}", identity.namespace, identity.value)
}

fn text_at(record: &rapport_model::Record, path: &str) -> Option<String> {
    FieldPath::parse(path).ok()?.get(record)?.as_str().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Engine {
    /// Checks a PQL definition against the schemas and saves it as an audience of people.
    pub fn create_audience(&mut self, name: &str, pql: &str) -> Result<AudienceRecord> {
        rapport_segment::compile(pql, EntityKind::Person, &self.schemas)?;
        Ok(self.store.create_audience(name, EntityKind::Person, pql)?)
    }

    /// The exact number of profiles a PQL definition selects now, without saving anything.
    pub fn estimate(&self, pql: &str) -> Result<u64> {
        let plan = rapport_segment::compile(pql, EntityKind::Person, &self.schemas)?;
        let graph = self.profile_graph_for(&plan.fields())?;
        Ok(rapport_segment::evaluate(&plan, &graph).len())
    }

    /// Evaluates a saved audience over every profile and records the new membership.
    #[instrument(skip(self))]
    pub fn evaluate_audience(&mut self, name: &str) -> Result<Evaluation> {
        let audience = self.store.audience(name)?;
        let plan = rapport_segment::compile(&audience.pql, audience.entity, &self.schemas)?;
        let graph = self.profile_graph_for(&plan.fields())?;
        let set = graph.set(audience.entity);
        let members: BTreeSet<String> =
            rapport_segment::evaluate(&plan, &graph).iter().map(|id| key(&set.profiles[id as usize].primary)).collect();
        let change = self.store.apply_membership(name, &members)?;
        info!(
            audience = name,
            size = change.size,
            entered = change.entered,
            exited = change.exited,
            "audience evaluated"
        );
        Ok(Evaluation { audience: name.to_owned(), size: change.size, profiles: set.len() as u64, change })
    }

    /// The current members of an audience with their export attributes, in primary identity order.
    pub fn audience_members(&self, name: &str) -> Result<Vec<Member>> {
        let stored = self.store.members(name)?;
        let graph = self.profile_graph_for(&member_fields())?;
        Ok(stored.into_iter().map(|(primary, status)| describe(&graph, primary, status)).collect())
    }
}

/// What member descriptions read: names on people, the account name on accounts.
fn member_fields() -> std::collections::BTreeMap<EntityKind, std::collections::BTreeSet<FieldPath>> {
    let path = |p: &str| FieldPath::parse(p).expect("member field paths are valid");
    [
        (EntityKind::Person, [path("person.name.firstName"), path("person.name.lastName")].into_iter().collect()),
        (EntityKind::Account, [path("accountName")].into_iter().collect()),
    ]
    .into_iter()
    .collect()
}

fn describe(graph: &ProfileGraph, primary: String, status: String) -> Member {
    let persons = graph.set(EntityKind::Person);
    let found = primary
        .split_once(':')
        .and_then(|(ns, value)| persons.find(&Identity::new(ns, value)))
        .map(|id| (id, &persons.profiles[id as usize]));
    let Some((id, profile)) = found else {
        // The profile disappeared since the evaluation (a later rebuild): keep the member visible.
        return Member {
            primary,
            status,
            email: None,
            first_name: None,
            last_name: None,
            account_name: None,
            identities: Vec::new(),
        };
    };
    let accounts = graph.set(EntityKind::Account);
    let account_name = graph
        .navigation(EntityKind::Person, "accounts")
        .and_then(|nav| nav.targets.get(id as usize))
        .and_then(|targets| {
            let mut named: Vec<(&Identity, String)> = targets
                .iter()
                .filter_map(|&a| {
                    let account = &accounts.profiles[a as usize];
                    text_at(&account.record, "accountName").map(|n| (&account.primary, n))
                })
                .collect();
            named.sort();
            named.into_iter().next().map(|(_, n)| n)
        });
    Member {
        primary,
        status,
        email: profile.identities.iter().find(|i| i.namespace.as_str() == "Email").map(|i| i.value.clone()),
        first_name: text_at(&profile.record, "person.name.firstName"),
        last_name: text_at(&profile.record, "person.name.lastName"),
        account_name,
        identities: profile.identities.iter().map(key).collect(),
    }
}
