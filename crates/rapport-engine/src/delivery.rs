//! Runs of activation flows: what to send, sending it, recording what the destination accepted.
//!
//! A run, for each audience of the flow:
//! 1. reads the current members (evaluating the audience first if it never was) and builds each member's
//!    payload: the identity, the mapped attributes. Members are **excluded** when their consent denies the
//!    flow's marketing action (any of the action's consent fields holds `n` or `dn`), when they lack the
//!    identity or a mandatory attribute, or when a member with the same deduplication key wins;
//! 2. compares the payloads with what the destination holds (the recorded state): members not held or whose
//!    payload fingerprint changed are **upserts**, held members no longer wanted (left, excluded) are
//!    **removals**. The first run holds nothing, so it is the full backfill;
//! 3. delivers: files are written (all wanted members for full exports, the changes for incremental ones)
//!    and then recorded; streaming destinations get batches of the vendor's size, and each batch's accepted
//!    changes are recorded in one transaction as soon as it is answered. A batch that still fails after every
//!    retry stops that audience (its report names the error); nothing of it is recorded, so the next run
//!    sends it again (every call is idempotent) and a crash resumes from the last recorded batch. Other
//!    audiences and other flows go on.
//!
//! Every run leaves a [`DeliveryReport`] in the flow's history.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rapport_destinations::file::{ExportMode, FileContext, WrittenFile};
use rapport_destinations::{
    Change, ChangeAction, Connector, DestinationConfig, FileConfig, MarketingAction, Outcome, RetryPolicy,
};
use rapport_model::{EntityKind, FieldPath, Identity};
use rapport_store::{Accepted, HeldMember};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, instrument, warn};

use crate::destinations::{destination_config, flow_definition, ActivationFlowDef, Source};
use crate::{Engine, Result};

/// Options of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// How streaming destinations retry.
    pub retry: RetryPolicy,
    /// The export time used in file names (now when `None`).
    pub at: Option<DateTime<Utc>>,
}

/// Members left out of a run, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excluded {
    /// Their consent denies the flow's marketing action.
    pub consent: u64,
    /// They lack the flow's identity.
    pub no_identity: u64,
    /// They lack a mandatory attribute.
    pub mandatory: u64,
    /// Another member with the same deduplication key won.
    pub duplicate: u64,
}

/// What one audience's delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceDelivery {
    /// The audience.
    pub audience: String,
    /// Members of the audience now.
    pub members: u64,
    /// Members left out.
    pub excluded: Excluded,
    /// Upserts this run had to send (entered or changed).
    pub upserts: u64,
    /// Removals this run had to send (left or excluded).
    pub removals: u64,
    /// Changes sent (in requests, or rows written).
    pub sent: u64,
    /// Changes the destination accepted (recorded).
    pub accepted: u64,
    /// Changes it refused, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Files written.
    pub files: Vec<WrittenFile>,
    /// Why the delivery stopped, if it did (the rest is sent by the next run).
    pub error: Option<String>,
    /// Milliseconds spent per phase: `members` (reading the members and building their payloads, the
    /// profile load included), `compare` (reading the recorded state, computing the difference), `deliver`
    /// (writing files or calling the destination) and `record` (recording what was accepted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases_ms: BTreeMap<String, u64>,
}

/// The report of one run of a flow, kept as history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// The run id.
    pub run: i64,
    /// The flow.
    pub flow: String,
    /// The destination.
    pub destination: String,
    /// `success`, `partial` or `failed`.
    pub state: String,
    /// Per audience.
    pub audiences: Vec<AudienceDelivery>,
    /// Changes sent, over all audiences.
    pub sent: u64,
    /// Changes accepted.
    pub accepted: u64,
    /// Changes rejected.
    pub rejected: u64,
    /// HTTP requests made.
    pub api_calls: u64,
    /// Of them, retries.
    pub retried: u64,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// What started the run: absent for a run on demand or on schedule, `stream` for a push of membership
    /// changes ([`Engine::push_streaming_flows`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A run in a flow's history.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRun {
    /// The run id.
    pub id: i64,
    /// `running` (or killed), `success`, `partial`, `failed`.
    pub state: String,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub ended_at: Option<String>,
    /// The report, once the run ended.
    pub report: Option<DeliveryReport>,
}

/// One wanted member: its payload and fingerprint.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub(crate) identity: Option<String>,
    pub(crate) fields: Vec<(String, Option<String>)>,
    pub(crate) fingerprint: String,
}

fn fingerprint(identity: Option<&str>, fields: &[(String, Option<String>)]) -> String {
    let mut hash = Sha256::new();
    let mut put = |value: Option<&str>| match value {
        Some(v) => {
            hash.update([1u8]);
            hash.update((v.len() as u64).to_le_bytes());
            hash.update(v.as_bytes());
        }
        None => hash.update([0u8]),
    };
    put(identity);
    for (_, value) in fields {
        put(value.as_deref());
    }
    let digest = hash.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => Some(value.to_string()),
        // Arrays and objects are refused at flow creation; a record that holds one where the schema says
        // scalar is exported as its JSON text.
        other => Some(other.to_string()),
    }
}

/// Why a member is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exclusion {
    Consent,
    NoIdentity,
    Mandatory,
}

impl Exclusion {
    pub(crate) fn count(self, excluded: &mut Excluded) {
        match self {
            Exclusion::Consent => excluded.consent += 1,
            Exclusion::NoIdentity => excluded.no_identity += 1,
            Exclusion::Mandatory => excluded.mandatory += 1,
        }
    }
}

/// A member's payload, or why it is not sent.
pub(crate) enum Candidate {
    Send(Wanted),
    Excluded(Exclusion),
}

/// What a flow reads of each member: its mapping sources and the consent fields of its marketing action.
pub(crate) struct PayloadSpec {
    pub(crate) sources: Vec<Source>,
    pub(crate) consent: Vec<FieldPath>,
}

impl PayloadSpec {
    /// The spec of a flow over `entity` audiences: consent is person-level, so account audiences check none.
    pub(crate) fn new(def: &ActivationFlowDef, action: MarketingAction, entity: EntityKind) -> Self {
        Self {
            sources: def.mapping.iter().map(|m| Source::parse(&m.source).expect("validated at creation")).collect(),
            consent: match entity {
                EntityKind::Person => action
                    .consent_fields()
                    .iter()
                    .map(|p| FieldPath::parse(p).expect("consent paths are valid"))
                    .collect(),
                _ => Vec::new(),
            },
        }
    }

    /// The payload of `member` (status `status`), whose merged profile (identities and record) is `profile`:
    /// excluded when its consent denies the action, when it lacks the flow's identity or a mandatory attribute.
    pub(crate) fn payload(
        &self,
        def: &ActivationFlowDef,
        member: &str,
        status: &str,
        profile: Option<(&[Identity], &rapport_model::Record)>,
    ) -> Candidate {
        let identity_of = |ns: &str| {
            profile.and_then(|(ids, _)| ids.iter().find(|i| i.namespace.as_str() == ns)).map(|i| i.value.clone())
        };
        if let Some((_, record)) = profile {
            let denied = self.consent.iter().any(|path| {
                path.get(record).and_then(|v| v.as_str()).is_some_and(rapport_destinations::config::consent_denies)
            });
            if denied {
                return Candidate::Excluded(Exclusion::Consent);
            }
        }
        let identity = match &def.identity {
            Some(ns) => match identity_of(ns) {
                Some(value) => Some(value),
                None => return Candidate::Excluded(Exclusion::NoIdentity),
            },
            None => None,
        };
        let fields: Vec<(String, Option<String>)> = def
            .mapping
            .iter()
            .zip(&self.sources)
            .map(|(m, source)| {
                let value = match source {
                    Source::Field(path) => profile.and_then(|(_, r)| path.get(r)).and_then(scalar_text),
                    Source::Primary => Some(member.to_owned()),
                    Source::Identity(ns) => identity_of(ns),
                    Source::Status => Some(status.to_owned()),
                };
                (m.target.clone(), value)
            })
            .collect();
        let missing = def.mandatory.iter().any(|name| {
            fields.iter().find(|(t, _)| t == name).and_then(|(_, v)| v.as_deref()).is_none_or(str::is_empty)
        });
        if missing {
            return Candidate::Excluded(Exclusion::Mandatory);
        }
        // The status column says what the member's state is; it is not a change of payload.
        let hashed: Vec<(String, Option<String>)> = fields
            .iter()
            .zip(&self.sources)
            .map(|(f, s)| if *s == Source::Status { (f.0.clone(), None) } else { f.clone() })
            .collect();
        Candidate::Send(Wanted { fingerprint: fingerprint(identity.as_deref(), &hashed), identity, fields })
    }
}

impl Engine {
    /// Runs one activation flow and records its report in the flow's history. Destination failures end up in
    /// the report (state `partial` or `failed`); an error is returned only when the run cannot start (unknown
    /// flow, unreadable store).
    #[instrument(skip(self, options))]
    pub fn run_activation(&mut self, flow: &str, options: &RunOptions) -> Result<DeliveryReport> {
        let started = Instant::now();
        let stored = self.store.activation_flow(flow)?;
        let def = flow_definition(&stored)?;
        let config = destination_config(&self.store.destination(&def.destination)?)?;
        let run = self.store.start_activation_run(flow)?;
        let mut report = DeliveryReport {
            run,
            flow: flow.to_owned(),
            destination: def.destination.clone(),
            ..DeliveryReport::default()
        };
        let result = self.deliver_flow(flow, &def, &config, options, &mut report);
        if let Err(err) = result {
            // A failure before any audience could be looked at (e.g. an audience was deleted).
            report.audiences.push(AudienceDelivery { error: Some(err.to_string()), ..AudienceDelivery::default() });
        }
        self.end_run(&mut report, started)?;
        info!(
            flow,
            state = %report.state,
            sent = report.sent,
            accepted = report.accepted,
            rejected = report.rejected,
            retried = report.retried,
            "activation run ended"
        );
        Ok(report)
    }

    /// Sums up a run's report (state, counts, duration) and records it as the run's end.
    pub(crate) fn end_run(&mut self, report: &mut DeliveryReport, started: Instant) -> Result<()> {
        let failed = report.audiences.iter().filter(|a| a.error.is_some()).count();
        report.state = match failed {
            0 => "success",
            n if n == report.audiences.len() => "failed",
            _ => "partial",
        }
        .to_owned();
        report.sent = report.audiences.iter().map(|a| a.sent).sum();
        report.accepted = report.audiences.iter().map(|a| a.accepted).sum();
        report.rejected = report.audiences.iter().map(|a| a.rejected.values().sum::<u64>()).sum();
        report.duration_ms = started.elapsed().as_millis() as u64;
        let text = serde_json::to_string(&*report).map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.store.end_activation_run(report.run, &report.state, &text)?;
        Ok(())
    }

    /// Runs several flows, one after the other; a flow that fails never stops the others.
    pub fn run_activations(&mut self, flows: &[String], options: &RunOptions) -> Vec<(String, Result<DeliveryReport>)> {
        flows.iter().map(|flow| (flow.clone(), self.run_activation(flow, options))).collect()
    }

    /// The flows whose schedule says they are due at `now` (see [`crate::Schedule::next_due`]): the last run
    /// that counts is the last one on demand or on schedule (pushes of membership changes do not count).
    pub fn due_activation_flows(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
        let mut due = Vec::new();
        for (flow, next) in self.activation_schedule()? {
            if next.is_some_and(|at| at <= now) {
                due.push(flow);
            }
        }
        Ok(due)
    }

    /// Runs the flows that are due now, one after the other (a failing one never stops the others).
    pub fn run_due_activations(&mut self, options: &RunOptions) -> Result<Vec<(String, Result<DeliveryReport>)>> {
        let due = self.due_activation_flows(Utc::now())?;
        Ok(self.run_activations(&due, options))
    }

    /// Every flow with the time it is next due (`None`: never), from its schedule, its creation and its last
    /// run on demand or on schedule, all read from the store (so a restart changes nothing).
    pub fn activation_schedule(&self) -> Result<Vec<(String, Option<DateTime<Utc>>)>> {
        let time = |text: &str| DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc));
        let mut out = Vec::new();
        for flow in self.activation_flows()? {
            let last = self.store.last_scheduled_run_start(&flow.name)?.as_deref().and_then(time);
            let created = time(&flow.created_at)
                .ok_or_else(|| crate::Error::Internal(format!("flow `{}`: bad creation time", flow.name)))?;
            out.push((flow.name.clone(), flow.definition.schedule.next_due(last, created)));
        }
        Ok(out)
    }

    /// The runs of a flow, oldest first, with their reports.
    pub fn activation_history(&self, flow: &str) -> Result<Vec<DeliveryRun>> {
        Ok(self
            .store
            .activation_runs(flow)?
            .into_iter()
            .map(|r| DeliveryRun {
                id: r.id,
                report: serde_json::from_str(&r.report).ok().filter(|_: &DeliveryReport| r.ended_at.is_some()),
                state: r.state,
                started_at: r.started_at,
                ended_at: r.ended_at,
            })
            .collect())
    }

    fn deliver_flow(
        &mut self,
        flow: &str,
        def: &ActivationFlowDef,
        config: &DestinationConfig,
        options: &RunOptions,
        report: &mut DeliveryReport,
    ) -> Result<()> {
        let action = def.marketing_action.unwrap_or(config.kind().default_action());
        let mut connector = self.connector_for(def, config, options)?;
        // Everything in the membership history up to here is reflected by a successful delivery below.
        let head = self.store.history_head()?;
        for audience in &def.audiences {
            let mut delivery = AudienceDelivery { audience: audience.clone(), ..AudienceDelivery::default() };
            let result = self.deliver_audience(
                flow,
                report.run,
                def,
                config,
                action,
                connector.as_mut(),
                options,
                &mut delivery,
            );
            match result {
                Err(err) => {
                    warn!(flow, audience = %audience, error = %err, "audience delivery stopped");
                    delivery.error = Some(err.to_string());
                }
                // A streaming flow's pushes start from here.
                Ok(()) if connector.is_some() => self.store.set_activation_checkpoint(flow, audience, head)?,
                Ok(()) => {}
            }
            report.audiences.push(delivery);
        }
        if let Some(connector) = &connector {
            let stats = connector.stats();
            report.api_calls = stats.calls;
            report.retried = stats.retries;
        }
        Ok(())
    }

    /// The connector of a streaming destination (`None` for files), told how many calls today's runs to the
    /// destination already made (the daily quota counts the calls of every run since midnight UTC).
    pub(crate) fn connector_for(
        &self,
        def: &ActivationFlowDef,
        config: &DestinationConfig,
        options: &RunOptions,
    ) -> Result<Option<Connector>> {
        let mut connector = Connector::build(config, options.retry)?;
        if let Some(connector) = &mut connector {
            let midnight = Utc::now().date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            let since = midnight.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let used: u64 = self
                .store
                .destination_reports_since(&def.destination, &since)?
                .iter()
                .filter_map(|text| serde_json::from_str::<DeliveryReport>(text).ok())
                .map(|r| r.api_calls)
                .sum();
            connector.set_used_today(used);
        }
        Ok(connector)
    }

    /// The payloads of the members to send, by member key.
    fn wanted_members(
        &mut self,
        audience: &str,
        def: &ActivationFlowDef,
        action: MarketingAction,
        delivery: &mut AudienceDelivery,
    ) -> Result<BTreeMap<String, Wanted>> {
        let record = self.store.audience(audience)?;
        if record.evaluated_at.is_none() {
            self.evaluate_audience(audience)?;
        }
        let entity = record.entity;
        let members = self.store.members(audience)?;
        delivery.members = members.len() as u64;
        let spec = PayloadSpec::new(def, action, entity);
        let mut fields: std::collections::BTreeSet<FieldPath> = spec.consent.iter().cloned().collect();
        fields.extend(spec.sources.iter().filter_map(|s| match s {
            Source::Field(p) => Some(p.clone()),
            _ => None,
        }));
        let graph = self.profile_graph_for(&[(entity, fields)].into_iter().collect())?;
        let persons = graph.set(entity);
        // Candidates per dedupe key: (status rank, member) → payload.
        let mut by_key: HashMap<Vec<Option<String>>, (u8, String, Wanted)> = HashMap::new();
        let mut wanted = BTreeMap::new();
        for (member, status) in members {
            let profile = member
                .split_once(':')
                .and_then(|(ns, value)| persons.find(&Identity::new(ns, value)))
                .map(|id| &persons.profiles[id as usize])
                .map(|p| (p.identities.as_slice(), &p.record));
            let payload = match spec.payload(def, &member, &status, profile) {
                Candidate::Send(payload) => payload,
                Candidate::Excluded(reason) => {
                    reason.count(&mut delivery.excluded);
                    continue;
                }
            };
            if def.dedupe.is_empty() {
                wanted.insert(member, payload);
                continue;
            }
            let key: Vec<Option<String>> = def
                .dedupe
                .iter()
                .map(|k| {
                    if k == "identity" {
                        payload.identity.clone()
                    } else {
                        payload.fields.iter().find(|(t, _)| t == k).and_then(|(_, v)| v.clone())
                    }
                })
                .collect();
            // `realized` (entered at the last evaluation) qualified more recently than `existing`.
            let rank = u8::from(status != "realized");
            match by_key.get(&key) {
                Some((r, m, _)) if (*r, m.as_str()) <= (rank, member.as_str()) => delivery.excluded.duplicate += 1,
                Some(_) => {
                    delivery.excluded.duplicate += 1;
                    by_key.insert(key, (rank, member, payload));
                }
                None => {
                    by_key.insert(key, (rank, member, payload));
                }
            }
        }
        wanted.extend(by_key.into_values().map(|(_, member, payload)| (member, payload)));
        Ok(wanted)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn deliver_audience(
        &mut self,
        flow: &str,
        run: i64,
        def: &ActivationFlowDef,
        config: &DestinationConfig,
        action: MarketingAction,
        connector: Option<&mut Connector>,
        options: &RunOptions,
        delivery: &mut AudienceDelivery,
    ) -> Result<()> {
        let audience = delivery.audience.clone();
        let started = Instant::now();
        let wanted = self.wanted_members(&audience, def, action, delivery)?;
        delivery.phases_ms.insert("members".to_owned(), started.elapsed().as_millis() as u64);
        let started = Instant::now();
        let held = self.store.held_members(flow, &audience)?;
        let upserts: Vec<&String> = wanted
            .iter()
            .filter(|(m, w)| held.get(*m).is_none_or(|h| h.fingerprint != w.fingerprint))
            .map(|(m, _)| m)
            .collect();
        let mut removals: Vec<(&String, &HeldMember)> = held.iter().filter(|(m, _)| !wanted.contains_key(*m)).collect();
        removals.sort_by(|a, b| a.0.cmp(b.0));
        delivery.upserts = upserts.len() as u64;
        delivery.removals = removals.len() as u64;
        delivery.phases_ms.insert("compare".to_owned(), started.elapsed().as_millis() as u64);
        match (config, connector) {
            (DestinationConfig::File(file), _) => {
                self.deliver_files(flow, def, file, options, &wanted, &held, &upserts, &removals, delivery)
            }
            (_, Some(connector)) => {
                let prepared = self.prepare_target(flow, &audience, connector)?;
                let changes: Vec<Change> = upserts
                    .iter()
                    .map(|m| {
                        let w = &wanted[*m];
                        Change {
                            member: (*m).clone(),
                            action: ChangeAction::Upsert,
                            identity: w.identity.clone(),
                            fields: w.fields.clone(),
                            previous: held.get(*m).and_then(|h| h.remote.clone()),
                        }
                    })
                    .chain(removals.iter().map(|(m, h)| Change {
                        member: (*m).clone(),
                        action: ChangeAction::Remove,
                        identity: None,
                        fields: Vec::new(),
                        previous: h.remote.clone(),
                    }))
                    .collect();
                let fingerprints: HashMap<&str, &str> =
                    wanted.iter().map(|(m, w)| (m.as_str(), w.fingerprint.as_str())).collect();
                let name = format!("{flow}/{run}/{audience}");
                self.send_changes(flow, &name, connector, prepared.as_deref(), &changes, &fingerprints, delivery)
            }
            (_, None) => Err(crate::Error::Internal("a streaming destination has a connector".to_owned())),
        }
    }

    /// Makes sure the destination holds a container for `audience` (created or found once, then recorded).
    pub(crate) fn prepare_target(
        &mut self,
        flow: &str,
        audience: &str,
        connector: &mut Connector,
    ) -> Result<Option<String>> {
        let remote = self.store.activation_target(flow, audience)?;
        let prepared = connector.prepare(audience, remote.as_deref())?;
        if let Some(id) = &prepared {
            if remote.as_deref() != Some(id) {
                self.store.set_activation_target(flow, audience, id)?;
            }
        }
        Ok(prepared)
    }

    /// Sends `changes` to a streaming destination in batches of its size, recording each batch's accepted
    /// changes in one transaction as soon as it is answered (upserts with their payload's fingerprint from
    /// `fingerprints`). The first batch that fails after every retry stops the sending with its error; what
    /// was recorded before stays. `name` prefixes the batches' delivery names (`name/1`, `name/2`, …).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_changes(
        &mut self,
        flow: &str,
        name: &str,
        connector: &mut Connector,
        container: Option<&str>,
        changes: &[Change],
        fingerprints: &HashMap<&str, &str>,
        delivery: &mut AudienceDelivery,
    ) -> Result<()> {
        let audience = delivery.audience.clone();
        for (number, batch) in changes.chunks(connector.batch_size()).enumerate() {
            delivery.sent += batch.len() as u64;
            let outcomes = connector.deliver(&audience, container, &format!("{name}/{}", number + 1), batch)?;
            let mut accepted = Vec::with_capacity(batch.len());
            for (change, outcome) in batch.iter().zip(outcomes) {
                match (outcome, change.action) {
                    (Outcome::Accepted { remote }, ChangeAction::Upsert) => accepted.push(Accepted::Held {
                        member: change.member.clone(),
                        fingerprint: fingerprints.get(change.member.as_str()).copied().unwrap_or_default().to_owned(),
                        remote,
                    }),
                    (Outcome::Accepted { .. }, ChangeAction::Remove) => {
                        accepted.push(Accepted::Removed { member: change.member.clone() })
                    }
                    (Outcome::Rejected { reason }, _) => *delivery.rejected.entry(reason).or_default() += 1,
                }
            }
            delivery.accepted += accepted.len() as u64;
            self.store.record_accepted(flow, &audience, &accepted)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver_files(
        &mut self,
        flow: &str,
        def: &ActivationFlowDef,
        file: &FileConfig,
        options: &RunOptions,
        wanted: &BTreeMap<String, Wanted>,
        held: &HashMap<String, HeldMember>,
        upserts: &[&String],
        removals: &[(&String, &HeldMember)],
        delivery: &mut AudienceDelivery,
    ) -> Result<()> {
        let audience = delivery.audience.clone();
        let mut columns: Vec<String> = def.identity.iter().cloned().collect();
        columns.extend(def.mapping.iter().map(|m| m.target.clone()));
        let row = |w: &Wanted| -> Vec<Option<String>> {
            def.identity.iter().map(|_| w.identity.clone()).chain(w.fields.iter().map(|(_, v)| v.clone())).collect()
        };
        let full = file.export == ExportMode::Full || held.is_empty();
        let mut rows: Vec<Vec<Option<String>>> =
            if full { wanted.values().map(row).collect() } else { upserts.iter().map(|m| row(&wanted[*m])).collect() };
        // Left members appear in incremental files only with a status column: `exited`, their key columns
        // (`primaryIdentity`) and nothing else.
        let status_column = def.mapping.iter().any(|m| m.source == "segmentMembership.status");
        if status_column && !full {
            for (member, _) in removals {
                let mut values: Vec<Option<String>> = def.identity.iter().map(|_| None).collect();
                values.extend(def.mapping.iter().map(|m| match m.source.as_str() {
                    "segmentMembership.status" => Some("exited".to_owned()),
                    "primaryIdentity" => Some((*member).clone()),
                    _ => None,
                }));
                rows.push(values);
            }
        }
        let at = options.at.unwrap_or_else(Utc::now);
        let ctx = FileContext { destination: &def.destination, audience: &audience, at };
        let started = Instant::now();
        delivery.files = rapport_destinations::file::write_files(file, &ctx, &columns, &rows)?;
        delivery.phases_ms.insert("deliver".to_owned(), started.elapsed().as_millis() as u64);
        let started = Instant::now();
        delivery.sent = rows.len() as u64;
        // The files are in place: record the state (a crash before this line re-exports the same changes).
        let mut accepted: Vec<Accepted> = upserts
            .iter()
            .map(|m| Accepted::Held { member: (*m).clone(), fingerprint: wanted[*m].fingerprint.clone(), remote: None })
            .collect();
        accepted.extend(removals.iter().map(|(m, _)| Accepted::Removed { member: (*m).clone() }));
        self.store.record_accepted(flow, &audience, &accepted)?;
        delivery.accepted = delivery.sent;
        delivery.phases_ms.insert("record".to_owned(), started.elapsed().as_millis() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_null_from_empty_and_ignore_target_names() {
        let a = fingerprint(Some("x"), &[("t".into(), None)]);
        let b = fingerprint(Some("x"), &[("t".into(), Some(String::new()))]);
        let c = fingerprint(Some("x"), &[("other".into(), None)]);
        assert_ne!(a, b);
        assert_eq!(a, c);
        assert_ne!(
            fingerprint(Some("ab"), &[("t".into(), Some("c".into()))]),
            fingerprint(Some("a"), &[("t".into(), Some("bc".into()))])
        );
        assert_eq!(a.len(), 32);
    }
}
