//! Audiences: create from PQL, evaluate over the linked profiles, list members.

use rapport_model::{EntityKind, FieldPath, Identity};
use rapport_profile::ProfileGraph;
use rapport_segment::Trace;
use rapport_store::{AudienceRecord, AudienceRun, HistoryEntry, Membership, MembershipChange};
use serde::Serialize;
use tracing::{info, instrument};

use crate::live::member_key;
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
    /// For a person, the name of the first related account (by key order), if any; for an account, its name.
    pub account_name: Option<String>,
    /// Every identity of the profile's graph, as `namespace:value`.
    pub identities: Vec<String>,
}

/// What `explain` shows: the plan, the equivalent SQL and, for one profile, why it is or is not a member.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The audience, when a saved one was explained.
    pub audience: Option<String>,
    /// The class of its members.
    pub entity: EntityKind,
    /// The PQL text.
    pub pql: String,
    /// The plan, as indented text.
    pub plan: String,
    /// The plan as PostgreSQL over the store's tables.
    pub sql: String,
    /// The profile asked about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileExplanation>,
}

/// Why one profile is or is not a member.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileExplanation {
    /// The profile's primary identity as `namespace:value`.
    pub primary: String,
    /// Whether it is a member now (evaluated on its own, over the current profiles).
    pub member: bool,
    /// Each condition with whether it held and the values it read.
    pub trace: Trace,
}

/// A saved audience with its plan, runs and membership counts.
#[derive(Debug, Clone, Serialize)]
pub struct AudienceDetails {
    /// The stored definition.
    #[serde(flatten)]
    pub record: AudienceRecord,
    /// The plan, as indented text.
    pub plan: String,
    /// Members by status (`realized`, `existing`, `exited`).
    pub statuses: std::collections::BTreeMap<String, u64>,
    /// The evaluation runs, oldest first.
    pub runs: Vec<AudienceRun>,
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

fn text_at(record: &rapport_model::Record, path: &str) -> Option<String> {
    FieldPath::parse(path).ok()?.get(record)?.as_str().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Engine {
    /// Checks a PQL definition against the schemas and saves it as an audience of people.
    pub fn create_audience(&mut self, name: &str, pql: &str) -> Result<AudienceRecord> {
        self.create_audience_of(name, EntityKind::Person, pql)
    }

    /// Checks a PQL definition against the schemas and saves it as an audience whose members are of class
    /// `entity` (people, accounts, …), then evaluates it once (backfill); from then on its memberships follow
    /// the change feed (see [`crate::live`]).
    pub fn create_audience_of(&mut self, name: &str, entity: EntityKind, pql: &str) -> Result<AudienceRecord> {
        self.compile_pql(pql, entity)?;
        let record = self.store.create_audience(name, entity, pql)?;
        // Backfill: a first full evaluation, which also sets the audience's place in the change feed.
        let through = self.store.last_change_seq()?;
        let update = self.refresh_full(&record, through)?;
        self.after_membership_changes(&update);
        Ok(self.store.audience(name)?)
    }

    /// The exact number of people a PQL definition selects now, without saving anything.
    pub fn estimate(&self, pql: &str) -> Result<u64> {
        self.estimate_of(EntityKind::Person, pql)
    }

    /// The exact number of profiles of class `entity` a PQL definition selects now, without saving anything.
    pub fn estimate_of(&self, entity: EntityKind, pql: &str) -> Result<u64> {
        let plan = self.compile_pql(pql, entity)?;
        let graph = self.profile_graph_for(&plan.fields())?;
        Ok(rapport_segment::evaluate(&plan, &graph).len())
    }

    /// Explains an audience (saved, by `name`, or a PQL text for `entity`): its plan, its SQL and, for the
    /// profile holding `identity`, why it is or is not a member.
    pub fn explain(&self, target: ExplainTarget<'_>, identity: Option<&Identity>) -> Result<Explanation> {
        let (audience, entity, pql) = match target {
            ExplainTarget::Saved(name) => {
                let record = self.store.audience(name)?;
                (Some(record.name), record.entity, record.pql)
            }
            ExplainTarget::Pql { entity, pql } => (None, entity, pql.to_owned()),
        };
        let plan = self.compile_pql(&pql, entity)?;
        let profile = match identity {
            None => None,
            Some(identity) => {
                let graph = self.profile_graph_for(&plan.fields())?;
                let id = graph
                    .set(entity)
                    .find(identity)
                    .filter(|&id| (id as usize) < graph.set(entity).stored())
                    .ok_or_else(|| {
                        crate::Error::NotFound(format!("no {entity} profile holds the identity {identity}"))
                    })?;
                let trace = rapport_segment::why(&plan, &graph, id);
                Some(ProfileExplanation {
                    primary: member_key(&graph.set(entity).profiles[id as usize].primary),
                    member: trace.holds,
                    trace,
                })
            }
        };
        Ok(Explanation {
            audience,
            entity,
            plan: plan.to_string(),
            sql: rapport_segment::to_sql(&plan, &self.schemas),
            pql,
            profile,
        })
    }

    /// A saved audience with its plan, runs and membership counts by status.
    pub fn audience_details(&self, name: &str) -> Result<AudienceDetails> {
        let record = self.store.audience(name)?;
        let plan = self.compile_pql(&record.pql, record.entity)?;
        let mut statuses = std::collections::BTreeMap::new();
        for membership in self.store.memberships(name)? {
            *statuses.entry(membership.status).or_insert(0) += 1;
        }
        Ok(AudienceDetails { plan: plan.to_string(), statuses, runs: self.store.audience_runs(name)?, record })
    }

    /// Every membership of an audience, exited ones included.
    pub fn memberships(&self, name: &str) -> Result<Vec<Membership>> {
        Ok(self.store.memberships(name)?)
    }

    /// Who entered or left an audience (or only `member`, as `namespace:value`), when, and why.
    pub fn audience_history(&self, name: &str, member: Option<&str>) -> Result<Vec<HistoryEntry>> {
        Ok(self.store.membership_history(name, member)?)
    }

    /// Deletes a saved audience with its memberships and history. Refused while an activation flow sends it
    /// (delete or change the flow first), as Adobe refuses deleting a segment mapped to a destination.
    pub fn delete_audience(&mut self, name: &str) -> Result<()> {
        self.store.audience(name)?;
        if let Some(flow) =
            self.activation_flows()?.into_iter().find(|f| f.definition.audiences.iter().any(|a| a == name))
        {
            return Err(crate::Error::Conflict(format!(
                "audience `{name}` is activated by flow `{}`; delete the flow first",
                flow.name
            )));
        }
        self.store.delete_audience(name)?;
        info!(audience = name, "audience deleted");
        Ok(())
    }

    /// Evaluates a saved audience over every profile and records the new membership.
    #[instrument(skip(self))]
    pub fn evaluate_audience(&mut self, name: &str) -> Result<Evaluation> {
        let audience = self.store.audience(name)?;
        // Read before the graph: the checkpoint set with these memberships is never ahead of what they saw.
        let through = self.store.last_change_seq()?;
        let (update, change, profiles) = self.evaluate_whole(&audience, through)?;
        self.after_membership_changes(&update);
        info!(
            audience = name,
            size = change.size,
            entered = change.entered,
            exited = change.exited,
            "audience evaluated"
        );
        Ok(Evaluation { audience: name.to_owned(), size: change.size, profiles, change })
    }

    /// The current members of an audience with their export attributes, in primary identity order.
    pub fn audience_members(&self, name: &str) -> Result<Vec<Member>> {
        let stored = self.store.members(name)?;
        let graph = self.profile_graph_for(&member_fields())?;
        Ok(stored.into_iter().map(|(primary, status)| describe(&graph, primary, status)).collect())
    }
}

/// Which audience `explain` is about.
#[derive(Debug, Clone, Copy)]
pub enum ExplainTarget<'a> {
    /// A saved audience, by name.
    Saved(&'a str),
    /// A definition not saved.
    Pql {
        /// The class of its members.
        entity: EntityKind,
        /// The PQL text.
        pql: &'a str,
    },
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
        // A member of an account audience: its own name and identities.
        let accounts = graph.set(EntityKind::Account);
        let account = primary
            .split_once(':')
            .and_then(|(ns, value)| accounts.find(&Identity::new(ns, value)))
            .filter(|&id| (id as usize) < accounts.stored())
            .map(|id| &accounts.profiles[id as usize]);
        if let Some(account) = account {
            return Member {
                account_name: text_at(&account.record, "accountName"),
                identities: account.identities.iter().map(member_key).collect(),
                primary,
                status,
                email: None,
                first_name: None,
                last_name: None,
            };
        }
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
        identities: profile.identities.iter().map(member_key).collect(),
    }
}
