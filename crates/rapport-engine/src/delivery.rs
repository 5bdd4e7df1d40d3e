//! Runs of activation flows: what to send, sending it, recording what the destination accepted.
//!
//! A run, for each audience of the flow:
//! 1. reads the current members (evaluating the audience first if it never was) and builds each member's
//!    payload: the identity, the mapped attributes. Members are **excluded** when their consent denies the
//!    flow's marketing action (any of the action's consent fields holds `n` or `dn`), when they lack the
//!    identity or a mandatory attribute, or when a member with the same deduplication key wins;
//!    Under `rapport serve` the payloads are read from the resident profile graph (see [`crate::live`]), which
//!    holds the fields every flow maps, and a flow that maps no membership status and deduplicates nothing takes
//!    its members from the resident audience state (profile numbers) when that state is what the store records
//!    (no membership rows read, no identity looked up); payloads are built on every core. A one-shot process
//!    reads the stored memberships and loads only the mapped fields (and the relationship keys);
//! 2. compares the payloads with what the destination holds (the recorded state): members not held or whose
//!    payload fingerprint changed are **upserts**, held members no longer wanted (left, excluded) are
//!    **removals**. The first run holds nothing, so it is the full backfill. A file destination's state is one
//!    (member digest, row hash) array per audience in digest order ([`rapport_store::HeldRows`], with the
//!    members' keys only when the files name left members): the comparison is a merge of two lists in digest
//!    order; streaming destinations keep one row per member with its SHA-256 fingerprint and the
//!    destination's reference;
//! 3. delivers: files are written (all wanted members for full exports, the changes for incremental ones)
//!    and then recorded; streaming destinations get batches of the vendor's size, and each batch's accepted
//!    changes are recorded in one transaction as soon as it is answered. A file run records what the files
//!    now hold (every wanted member with its row hash) in the transaction that ends the run, after the files
//!    are synced and renamed: a crash in between writes the same changes again at the next run. A batch that still fails after every
//!    retry stops that audience (its report names the error); nothing of it is recorded, so the next run
//!    sends it again (every call is idempotent) and a crash resumes from the last recorded batch. Other
//!    audiences and other flows go on.
//!
//! Every run leaves a [`DeliveryReport`] in the flow's history.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rapport_destinations::file::{ExportMode, FileContext, Rows, WrittenFile};
use rapport_destinations::{
    Change, ChangeAction, Connector, DestinationConfig, FileConfig, MarketingAction, Outcome, RetryPolicy,
};
use rapport_model::{EntityKind, FieldPath, Identity};
use rapport_profile::ProfileGraph;
use rapport_store::{Accepted, HeldMember, HeldRows};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument, warn};

use crate::destinations::{destination_config, flow_definition, ActivationFlowDef, Source};
use crate::free::free_later;
use crate::live::member_key;
use crate::par::{par_map, par_map_mut};
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
    /// (writing files or calling the destination, recording each answered batch of a streaming destination).
    /// A file delivery's state is recorded with the run's end, after the report is written: it is in the run's
    /// duration, not in a phase.
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

/// One wanted member: its key, identity and mapped values packed in one allocation (a million members make a
/// million allocations, not five or six million), and what identifies its payload.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    /// The member key, the flow's identity (none when the flow sends none), then the mapped values in the
    /// order of the flow's mapping; each as its header (see [`push_header`]) and its text. The primary
    /// identity's slots hold no value: the member key is read in their place. A `str`, so reading it back
    /// checks no UTF-8.
    packed: Box<str>,
    /// The xxh3-64 hash of the payload bytes, which file destinations record.
    pub(crate) hash: u64,
    pub(crate) mark: Mark,
}

/// How a destination recognises a payload it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mark {
    /// The SHA-256 fingerprint of the payload bytes (32 hex digits), which streaming destinations record per
    /// member.
    Fingerprint(String),
    /// The member's digest ([`HeldRows::digest`]) as two big-endian halves (8-byte aligned, unlike `u128`):
    /// file destinations record their rows by it, with the hash.
    Digest([u64; 2]),
}

impl Mark {
    fn digest(digest: u128) -> Self {
        Mark::Digest([(digest >> 64) as u64, digest as u64])
    }
}

/// The headers' digit base: a header char below it (U+0000–U+D7FF) is the last digit.
const HEADER_BASE: u32 = 0xD800;
/// The first char of the high digits (U+E000 upwards, past the surrogates).
const HEADER_HIGH: u32 = 0xE000;

/// A slot's header: `0` for no value, else its byte length + 1, as one char when below [`HEADER_BASE`] (one
/// byte for values under 127 bytes), else a high digit (`HEADER_HIGH` + quotient) before the last digit (the
/// remainder).
fn header(value: Option<&str>) -> (Option<char>, char) {
    let n = value.map_or(0, |v| u32::try_from(v.len() + 1).expect("a value under 4 GiB"));
    let char = |c: u32| char::from_u32(c).expect("outside the surrogates");
    ((n >= HEADER_BASE).then(|| char(HEADER_HIGH + n / HEADER_BASE)), char(n % HEADER_BASE))
}

/// Packs `values` (see [`Wanted::packed`]) into a string of exactly their size.
fn pack<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> Box<str> {
    let size = values
        .clone()
        .map(|v| {
            let (high, last) = header(v);
            high.map_or(0, char::len_utf8) + last.len_utf8() + v.map_or(0, str::len)
        })
        .sum();
    let mut out = String::with_capacity(size);
    for value in values {
        let (high, last) = header(value);
        out.extend(high);
        out.push(last);
        out.push_str(value.unwrap_or_default());
    }
    debug_assert_eq!(out.len(), size);
    out.into_boxed_str()
}

/// The values of a packed string, in order.
struct Unpack<'a>(&'a str);

impl<'a> Iterator for Unpack<'a> {
    type Item = Option<&'a str>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut chars = self.0.chars();
        let mut n = u32::from(chars.next()?);
        if n >= HEADER_HIGH {
            n = (n - HEADER_HIGH) * HEADER_BASE + u32::from(chars.next().expect("a last digit after a high one"));
        }
        let rest = chars.as_str();
        let Some(len) = (n as usize).checked_sub(1) else {
            self.0 = rest;
            return Some(None);
        };
        let (text, rest) = rest.split_at(len);
        self.0 = rest;
        Some(Some(text))
    }
}

impl Wanted {
    /// The member's key (`namespace:value`).
    pub(crate) fn member(&self) -> &str {
        Unpack(&self.packed).next().flatten().expect("a packed payload starts with its member")
    }

    /// The value of the flow's identity namespace, when the flow sends one.
    pub(crate) fn identity(&self) -> Option<&str> {
        Unpack(&self.packed).nth(1).flatten()
    }

    /// The mapped values, in the order of the flow's mapping, whose sources are `sources`.
    pub(crate) fn values<'a>(&'a self, sources: &'a [Source]) -> impl Iterator<Item = Option<&'a str>> + 'a {
        let mut values = Unpack(&self.packed);
        let member = values.next().flatten();
        values.skip(1).zip(sources).map(move |(value, source)| if *source == Source::Primary { member } else { value })
    }

    /// The SHA-256 fingerprint streaming destinations record (empty for file payloads).
    pub(crate) fn fingerprint(&self) -> &str {
        match &self.mark {
            Mark::Fingerprint(f) => f,
            Mark::Digest(_) => "",
        }
    }

    /// The mapped values named by their target attribute, as destinations take them.
    pub(crate) fn named_fields(&self, def: &ActivationFlowDef, sources: &[Source]) -> Vec<(String, Option<String>)> {
        def.mapping.iter().map(|m| m.target.clone()).zip(self.values(sources).map(|v| v.map(str::to_owned))).collect()
    }
}

/// The bytes a payload's fingerprint and row hash are computed over: each value (the identity, then the mapped
/// values) as `1`, its length (u64 little-endian) and its UTF-8, or `0` for no value. Target names are not in
/// it (renaming a target changes no payload).
fn payload_bytes<'a>(identity: Option<&'a str>, values: impl Iterator<Item = Option<&'a str>>, out: &mut Vec<u8>) {
    out.clear();
    for value in std::iter::once(identity).chain(values) {
        match value {
            Some(v) => {
                out.push(1);
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                out.extend_from_slice(v.as_bytes());
            }
            None => out.push(0),
        }
    }
}

/// The SHA-256 fingerprint of payload bytes: the first 16 bytes of the digest, lowercase hex.
fn fingerprint(bytes: &[u8]) -> String {
    format!("{:032x}", HeldRows::digest(bytes))
}

/// The row hash of payload bytes (xxh3-64, seed 0).
fn row_hash(bytes: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(bytes)
}

fn scalar_text(value: &serde_json::Value) -> Option<Cow<'_, str>> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(Cow::Borrowed(s)),
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => Some(Cow::Owned(value.to_string())),
        // Arrays and objects are refused at flow creation; a record that holds one where the schema says
        // scalar is exported as its JSON text.
        other => Some(Cow::Owned(other.to_string())),
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

/// The sources of a flow's mapped values, in the order of its mapping.
pub(crate) fn sources(def: &ActivationFlowDef) -> Vec<Source> {
    def.mapping.iter().map(|m| Source::parse(&m.source).expect("validated at creation")).collect()
}

/// What a flow reads of each member: its mapping sources and the consent fields of its marketing action.
pub(crate) struct PayloadSpec {
    pub(crate) sources: Vec<Source>,
    pub(crate) consent: Vec<FieldPath>,
    /// Whether the payloads become file rows: no SHA-256 fingerprint (streaming destinations record it; file
    /// runs need only the row hash), the member's digest instead.
    pub(crate) files: bool,
}

impl PayloadSpec {
    /// The spec of a flow over `entity` audiences: consent is person-level, so account audiences check none.
    pub(crate) fn new(def: &ActivationFlowDef, action: MarketingAction, entity: EntityKind) -> Self {
        Self {
            sources: sources(def),
            consent: match entity {
                EntityKind::Person => action
                    .consent_fields()
                    .iter()
                    .map(|p| FieldPath::parse(p).expect("consent paths are valid"))
                    .collect(),
                _ => Vec::new(),
            },
            files: false,
        }
    }

    /// The record fields the payloads read: the mapped fields and the consent fields.
    pub(crate) fn fields(&self) -> BTreeSet<FieldPath> {
        let mut fields: BTreeSet<FieldPath> = self.consent.iter().cloned().collect();
        fields.extend(self.sources.iter().filter_map(|s| match s {
            Source::Field(p) => Some(p.clone()),
            _ => None,
        }));
        fields
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
            profile.and_then(|(ids, _)| ids.iter().find(|i| i.namespace.as_str() == ns)).map(|i| i.value.as_str())
        };
        if let Some((_, record)) = profile {
            // The consent paths share their first segment (`consents`): it is looked up once, not per path.
            let mut top: Option<(&str, Option<&serde_json::Value>)> = None;
            let denied = self.consent.iter().any(|path| {
                let Some((first, rest)) = path.segments().split_first() else { return false };
                let parent = match top {
                    Some((name, value)) if name == first => value,
                    _ => top.insert((first, record.get(first))).1,
                };
                let value = parent.and_then(|p| rest.iter().try_fold(p, |v, segment| v.get(segment)));
                value.and_then(|v| v.as_str()).is_some_and(rapport_destinations::config::consent_denies)
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
        // Values are borrowed from the profile (numbers and booleans as text): the packed buffer is the only copy.
        let values: Vec<Option<Cow<'_, str>>> = self
            .sources
            .iter()
            .map(|source| match source {
                Source::Field(path) => profile.and_then(|(_, r)| path.get(r)).and_then(scalar_text),
                Source::Primary => Some(Cow::Borrowed(member)),
                Source::Identity(ns) => identity_of(ns).map(Cow::Borrowed),
                Source::Status => Some(Cow::Borrowed(status)),
            })
            .collect();
        let missing = def.mandatory.iter().any(|name| {
            def.mapping
                .iter()
                .position(|m| &m.target == name)
                .and_then(|i| values[i].as_deref())
                .is_none_or(str::is_empty)
        });
        if missing {
            return Candidate::Excluded(Exclusion::Mandatory);
        }
        // The status column says what the member's state is; it is not a change of payload.
        let hashed =
            values.iter().zip(&self.sources).map(|(v, s)| if *s == Source::Status { None } else { v.as_deref() });
        let mut bytes = Vec::with_capacity(128);
        payload_bytes(identity, hashed, &mut bytes);
        let mark =
            if self.files { Mark::digest(HeldRows::digest(member)) } else { Mark::Fingerprint(fingerprint(&bytes)) };
        let stored =
            values.iter().zip(&self.sources).map(|(v, s)| if *s == Source::Primary { None } else { v.as_deref() });
        let packed = pack([Some(member), identity].into_iter().chain(stored));
        Candidate::Send(Wanted { packed, hash: row_hash(&bytes), mark })
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
        let mut held = Vec::new();
        let result = self.deliver_flow(flow, &def, &config, options, &mut report, &mut held);
        if let Err(err) = result {
            // A failure before any audience could be looked at (e.g. an audience was deleted).
            report.audiences.push(AudienceDelivery { error: Some(err.to_string()), ..AudienceDelivery::default() });
        }
        self.end_run(&mut report, started, &held)?;
        free_later(held);
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

    /// Sums up a run's report (state, counts, duration) and records it as the run's end, in one transaction
    /// with what the files of each audience in `held` now hold.
    pub(crate) fn end_run(
        &mut self,
        report: &mut DeliveryReport,
        started: Instant,
        held: &[(String, HeldRows)],
    ) -> Result<()> {
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
        if held.is_empty() {
            self.store.end_activation_run(report.run, &report.state, &text)?;
        } else {
            let flow = report.flow.clone();
            self.store.end_activation_run_holding(report.run, &report.state, &text, &flow, held)?;
        }
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

    /// Delivers every audience of a flow; what file audiences now hold goes to `held`, to record with the
    /// run's end.
    fn deliver_flow(
        &mut self,
        flow: &str,
        def: &ActivationFlowDef,
        config: &DestinationConfig,
        options: &RunOptions,
        report: &mut DeliveryReport,
        held: &mut Vec<(String, HeldRows)>,
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
                Ok(_) if connector.is_some() => self.store.set_activation_checkpoint(flow, audience, head)?,
                Ok(Some(rows)) => held.push((audience.clone(), rows)),
                Ok(None) => {}
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

    /// What every activation flow reads of its audiences' profiles, by class (the resident graph keeps it).
    pub(crate) fn activation_fields(&self) -> Result<BTreeMap<EntityKind, BTreeSet<FieldPath>>> {
        let mut fields: BTreeMap<EntityKind, BTreeSet<FieldPath>> = BTreeMap::new();
        for flow in self.store.activation_flows()? {
            let def = flow_definition(&flow)?;
            let config = destination_config(&self.store.destination(&def.destination)?)?;
            let action = def.marketing_action.unwrap_or(config.kind().default_action());
            for audience in &def.audiences {
                // An audience cannot be deleted while a flow sends it; should one be missing, the run reports it.
                let entity = match self.store.audience(audience) {
                    Ok(record) => record.entity,
                    Err(rapport_store::Error::NotFound { .. }) => continue,
                    Err(err) => return Err(err.into()),
                };
                fields.entry(entity).or_default().extend(PayloadSpec::new(&def, action, entity).fields());
            }
        }
        Ok(fields)
    }

    /// The payloads of the members to send, sorted by member key for streaming destinations; in no particular
    /// order for files (their rows are compared by member digest: a million keys are not sorted for them).
    /// Profiles come from the resident graph when
    /// the process keeps one (reloaded once if it lacks a mapped field), else from a graph loaded with the
    /// mapped fields only.
    fn wanted_members(
        &mut self,
        audience: &str,
        def: &ActivationFlowDef,
        action: MarketingAction,
        files: bool,
        delivery: &mut AudienceDelivery,
    ) -> Result<Vec<Wanted>> {
        let record = self.store.audience(audience)?;
        if record.evaluated_at.is_none() {
            self.evaluate_audience(audience)?;
        }
        let entity = record.entity;
        let spec = &PayloadSpec { files, ..PayloadSpec::new(def, action, entity) };
        let fields: BTreeMap<EntityKind, BTreeSet<FieldPath>> = [(entity, spec.fields())].into_iter().collect();
        if self.live.is_some() && self.resident_graph_for(&fields)?.is_none() {
            self.refresh_audiences()?;
            if self.resident_graph_for(&fields)?.is_none() {
                self.reload_resident_for_flows()?;
            }
        }
        // Without a status column or deduplication (which ranks by status), the resident audience state gives
        // the members as profile numbers: no membership rows read, no identity looked up.
        let statusless = def.dedupe.is_empty() && !spec.sources.contains(&Source::Status);
        if let Some(resident) = self.resident_graph_for(&fields)? {
            let numbers = if statusless {
                resident.member_numbers(audience, self.store.live_checkpoint(audience)?)
            } else {
                None
            };
            if let Some(numbers) = numbers {
                return Ok(wanted_of_numbers(resident.graph(), entity, &numbers, def, spec, delivery));
            }
            let real = |n| resident.is_real(entity, n);
            let members = find_profiles(resident.graph(), &real, entity, self.store.members(audience)?);
            return Ok(wanted_from(resident.graph(), entity, members, def, spec, delivery));
        }
        let graph = self.profile_graph_for(&fields)?;
        let members = find_profiles(&graph, &|_| true, entity, self.store.members(audience)?);
        Ok(wanted_from(&graph, entity, members, def, spec, delivery))
    }

    /// Delivers one audience of a flow: the wanted members, their difference with what the destination holds,
    /// then files or batches. A file delivery returns what its files now hold, which the caller records with
    /// the run's end; streaming deliveries record each answered batch themselves and return `None`.
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
    ) -> Result<Option<HeldRows>> {
        let audience = delivery.audience.clone();
        let is_file = matches!(config, DestinationConfig::File(_));
        let started = Instant::now();
        let wanted = self.wanted_members(&audience, def, action, is_file, delivery)?;
        delivery.phases_ms.insert("members".to_owned(), started.elapsed().as_millis() as u64);
        let started = Instant::now();
        match (config, connector) {
            (DestinationConfig::File(file), _) => {
                let held = self.store.held_rows(flow, &audience)?;
                let diff = diff_rows(&wanted, &held);
                delivery.upserts = diff.upserts.len() as u64;
                delivery.removals = diff.removals.len() as u64;
                delivery.phases_ms.insert("compare".to_owned(), started.elapsed().as_millis() as u64);
                let full = file.export == ExportMode::Full || held.is_empty();
                // State from before the keys were left out of it (none kept): left members are counted, but
                // cannot be named in `exited` rows.
                let removals: Vec<&str> = diff.removals.iter().filter_map(|&j| held.member(j)).collect();
                let held_now = deliver_files(def, file, options, &wanted, full, &diff, &removals, delivery);
                free_later((held, wanted, diff));
                held_now.map(Some)
            }
            (_, Some(connector)) => {
                let held = self.store.held_members(flow, &audience)?;
                let upserts: Vec<&Wanted> = wanted
                    .iter()
                    .filter(|w| held.get(w.member()).is_none_or(|h| h.fingerprint != w.fingerprint()))
                    .collect();
                let is_wanted = |m: &str| wanted.binary_search_by(|w| w.member().cmp(m)).is_ok();
                let mut removals: Vec<(&String, &HeldMember)> = held.iter().filter(|(m, _)| !is_wanted(m)).collect();
                removals.sort_by(|a, b| a.0.cmp(b.0));
                delivery.upserts = upserts.len() as u64;
                delivery.removals = removals.len() as u64;
                delivery.phases_ms.insert("compare".to_owned(), started.elapsed().as_millis() as u64);
                let prepared = self.prepare_target(flow, &audience, connector)?;
                let sources = sources(def);
                let changes: Vec<Change> = upserts
                    .iter()
                    .map(|w| Change {
                        member: w.member().to_owned(),
                        action: ChangeAction::Upsert,
                        identity: w.identity().map(str::to_owned),
                        fields: w.named_fields(def, &sources),
                        previous: held.get(w.member()).and_then(|h| h.remote.clone()),
                    })
                    .chain(removals.iter().map(|(m, h)| Change {
                        member: (*m).clone(),
                        action: ChangeAction::Remove,
                        identity: None,
                        fields: Vec::new(),
                        previous: h.remote.clone(),
                    }))
                    .collect();
                let fingerprints: HashMap<&str, &str> = wanted.iter().map(|w| (w.member(), w.fingerprint())).collect();
                let name = format!("{flow}/{run}/{audience}");
                self.send_changes(flow, &name, connector, prepared.as_deref(), &changes, &fingerprints, delivery)?;
                Ok(None)
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
}

/// Writes the file(s) of one audience: every wanted member when `full`, else the upserts of `diff` and, when the
/// flow maps the membership status, the `removals` as `exited` rows. Returns what the files now hold: every
/// wanted member's digest and row hash, with the members' keys when the flow maps the status (its next
/// incremental files name the members that left).
#[allow(clippy::too_many_arguments)]
fn deliver_files(
    def: &ActivationFlowDef,
    file: &FileConfig,
    options: &RunOptions,
    wanted: &[Wanted],
    full: bool,
    diff: &RowDiff,
    removals: &[&str],
    delivery: &mut AudienceDelivery,
) -> Result<HeldRows> {
    let sources = sources(def);
    let mut columns: Vec<String> = def.identity.iter().cloned().collect();
    columns.extend(def.mapping.iter().map(|m| m.target.clone()));
    let status_column = sources.contains(&Source::Status);
    // Left members appear in incremental files only with a status column.
    let left = if status_column && !full { removals } else { &[] };
    let rows = FileRows {
        sources: &sources,
        identity: def.identity.is_some(),
        wanted,
        picked: if full { None } else { Some(&diff.upserts) },
        left,
    };
    let at = options.at.unwrap_or_else(Utc::now);
    let ctx = FileContext { destination: &def.destination, audience: &delivery.audience, at };
    let started = Instant::now();
    delivery.files = rapport_destinations::file::write_files(file, &ctx, &columns, &rows)?;
    delivery.phases_ms.insert("deliver".to_owned(), started.elapsed().as_millis() as u64);
    delivery.sent = rows.count() as u64;
    delivery.accepted = delivery.sent;
    // The files are synced and renamed; the caller records this state with the run's end (a crash before
    // that commit writes the same changes again at the next run).
    let state = diff.state.iter().map(|&(digest, hash, _)| (digest, hash)).collect();
    Ok(if status_column {
        let members = diff.state.iter().map(|&(_, _, i)| wanted[i as usize].member().to_owned()).collect();
        HeldRows::with_sorted_members(state, members)
    } else {
        HeldRows::from_digests(state)
    })
}

/// The rows of one audience's files: the picked wanted members (the identity first when the flow sends one,
/// then the mapped values), then the members that left as `exited` rows (their key columns, nothing else).
struct FileRows<'a> {
    sources: &'a [Source],
    identity: bool,
    wanted: &'a [Wanted],
    /// The indexes in `wanted` of the members written; every member when `None`.
    picked: Option<&'a [usize]>,
    left: &'a [&'a str],
}

impl FileRows<'_> {
    fn members(&self) -> usize {
        self.picked.map_or(self.wanted.len(), <[usize]>::len)
    }
}

impl Rows for FileRows<'_> {
    fn count(&self) -> usize {
        self.members() + self.left.len()
    }

    fn row<'b>(&'b self, i: usize, out: &mut Vec<Option<&'b str>>) {
        let members = self.members();
        if i < members {
            let w = &self.wanted[self.picked.map_or(i, |p| p[i])];
            if self.identity {
                out.push(w.identity());
            }
            out.extend(w.values(self.sources));
            return;
        }
        let member = self.left[i - members];
        if self.identity {
            out.push(None);
        }
        out.extend(self.sources.iter().map(|s| match s {
            Source::Status => Some("exited"),
            Source::Primary => Some(member),
            _ => None,
        }));
    }
}

/// A member to send: its key (`namespace:value`), its status and its profile number in the graph (`None` when
/// no stored profile holds it).
type Member = (String, &'static str, Option<u32>);

/// The status of a member the store does not list with one (resident members: the flow reads no status).
const EXISTING: &str = "existing";

/// The profile of each member (listed by the store with its status) in `graph` of `entity`, whose profile
/// numbers `real` tells stored profiles from placeholders; looked up on every core, order kept.
fn find_profiles(
    graph: &ProfileGraph,
    real: &(dyn Fn(u32) -> bool + Sync),
    entity: EntityKind,
    members: Vec<(String, String)>,
) -> Vec<Member> {
    let profiles = graph.set(entity);
    let numbers = par_map(&members, |(member, _)| {
        member.split_once(':').and_then(|(ns, value)| profiles.find(&Identity::new(ns, value))).filter(|&n| real(n))
    });
    members
        .into_iter()
        .zip(numbers)
        .map(|((member, status), n)| (member, if status == "realized" { "realized" } else { EXISTING }, n))
        .collect()
}

/// The payloads of the profiles numbered `numbers` in `graph` of `entity`, members whose status the flow does
/// not read and that it does not deduplicate: each member's key and payload built together, on every core.
/// Sorted by member, except file payloads (see `Engine::wanted_members`).
fn wanted_of_numbers(
    graph: &ProfileGraph,
    entity: EntityKind,
    numbers: &[u32],
    def: &ActivationFlowDef,
    spec: &PayloadSpec,
    delivery: &mut AudienceDelivery,
) -> Vec<Wanted> {
    delivery.members = numbers.len() as u64;
    let profiles = &graph.set(entity).profiles;
    let candidates = par_map(numbers, |&n| {
        let profile = &profiles[n as usize];
        let member = member_key(&profile.primary);
        spec.payload(def, &member, EXISTING, Some((&profile.identities, &profile.record)))
    });
    let mut wanted = sendable(candidates, &mut delivery.excluded);
    if !spec.files {
        wanted.sort_unstable_by(|a, b| a.member().cmp(b.member()));
    }
    wanted
}

/// The members' payloads to send, the exclusions counted in `excluded`; collected in place (the candidates'
/// memory becomes the payloads': a million members are not copied).
fn sendable(candidates: Vec<Candidate>, excluded: &mut Excluded) -> Vec<Wanted> {
    candidates
        .into_iter()
        .filter_map(|candidate| match candidate {
            Candidate::Send(payload) => Some(payload),
            Candidate::Excluded(reason) => {
                reason.count(excluded);
                None
            }
        })
        .collect()
}

/// The payloads of `members` over `graph` of `entity`: consent, identity and mandatory exclusions, then
/// deduplication. Sorted by member, except file payloads (see `Engine::wanted_members`).
fn wanted_from(
    graph: &ProfileGraph,
    entity: EntityKind,
    members: Vec<Member>,
    def: &ActivationFlowDef,
    spec: &PayloadSpec,
    delivery: &mut AudienceDelivery,
) -> Vec<Wanted> {
    delivery.members = members.len() as u64;
    let profiles = graph.set(entity);
    let mut members = members;
    // Each member's key is dropped once packed into its candidate (the statuses stay for deduplication).
    let candidates = par_map_mut(&mut members, |(member, status, n)| {
        let profile = n.map(|n| &profiles.profiles[n as usize]).map(|p| (p.identities.as_slice(), &p.record));
        let candidate = spec.payload(def, member, status, profile);
        drop(std::mem::take(member));
        candidate
    });
    if def.dedupe.is_empty() {
        return sendable(candidates, &mut delivery.excluded);
    }
    // Candidates per dedupe key: (status rank, payload), the member in the payload.
    let mut by_key: HashMap<Vec<Option<String>>, (u8, Wanted)> = HashMap::new();
    let mut wanted = Vec::with_capacity(members.len());
    let dedupe: Vec<Option<usize>> = def
        .dedupe
        .iter()
        .map(|k| if k == "identity" { None } else { def.mapping.iter().position(|m| &m.target == k) })
        .collect();
    for ((_, status, _), candidate) in members.into_iter().zip(candidates) {
        let payload = match candidate {
            Candidate::Send(payload) => payload,
            Candidate::Excluded(reason) => {
                reason.count(&mut delivery.excluded);
                continue;
            }
        };
        let values: Vec<Option<&str>> = payload.values(&spec.sources).collect();
        let key: Vec<Option<String>> = def
            .dedupe
            .iter()
            .zip(&dedupe)
            .map(|(k, at)| match at {
                _ if k == "identity" => payload.identity(),
                Some(i) => values[*i],
                None => None,
            })
            .map(|v| v.map(str::to_owned))
            .collect();
        // `realized` (entered at the last evaluation) qualified more recently than `existing`.
        let rank = u8::from(status != "realized");
        match by_key.get(&key) {
            Some((r, w)) if (*r, w.member()) <= (rank, payload.member()) => delivery.excluded.duplicate += 1,
            Some(_) => {
                delivery.excluded.duplicate += 1;
                by_key.insert(key, (rank, payload));
            }
            None => {
                by_key.insert(key, (rank, payload));
            }
        }
    }
    wanted.extend(by_key.into_values().map(|(_, payload)| payload));
    // The store lists members sorted; the dedupe winners come unordered. File payloads need no order.
    if !spec.files && !wanted.is_sorted_by(|a, b| a.member() < b.member()) {
        wanted.sort_unstable_by(|a, b| a.member().cmp(b.member()));
    }
    wanted
}

/// Sorts `rows` by digest. Digests are uniform: the rows are split in place by the digest's top bit and the
/// halves sorted on two cores.
fn sort_by_digest(rows: &mut [(u128, u64, u32)]) {
    let sort = |half: &mut [(u128, u64, u32)]| half.sort_unstable_by_key(|r| r.0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || rows.len() < 10_000 {
        return sort(rows);
    }
    let (mut low, mut high) = (0, rows.len());
    while low < high {
        if rows[low].0 >> 127 == 0 {
            low += 1;
        } else {
            high -= 1;
            rows.swap(low, high);
        }
    }
    let (low, high) = rows.split_at_mut(low);
    std::thread::scope(|scope| {
        scope.spawn(|| sort(high));
        sort(low);
    });
}

/// The difference between what is wanted (in any order) and what a file destination holds.
#[derive(Debug, PartialEq, Eq)]
struct RowDiff {
    /// The indexes in `wanted` of members not held or held with another row hash, ascending.
    upserts: Vec<usize>,
    /// The indexes in the held rows of members no longer wanted, in digest order.
    removals: Vec<usize>,
    /// What the files hold once the changes are written: every wanted member's (digest, row hash, index in
    /// `wanted`), in digest order.
    state: Vec<(u128, u64, u32)>,
}

/// Compares `wanted` (file payloads, which carry their member's digest) with `held` by member digest: both in
/// digest order, then one merge.
fn diff_rows(wanted: &[Wanted], held: &HeldRows) -> RowDiff {
    let digest = |w: &Wanted| match w.mark {
        Mark::Digest([high, low]) => (u128::from(high) << 64) | u128::from(low),
        Mark::Fingerprint(_) => HeldRows::digest(w.member()),
    };
    let mut ours: Vec<(u128, u64, u32)> =
        wanted.iter().enumerate().map(|(i, w)| (digest(w), w.hash, i as u32)).collect();
    sort_by_digest(&mut ours);
    let held = held.rows();
    let (mut upserts, mut removals) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < ours.len() || j < held.len() {
        let order = match (ours.get(i), held.get(j)) {
            (Some(w), Some(h)) => w.0.cmp(&h.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                upserts.push(ours[i].2 as usize);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                removals.push(j);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if ours[i].1 != held[j].1 {
                    upserts.push(ours[i].2 as usize);
                }
                i += 1;
                j += 1;
            }
        }
    }
    upserts.sort_unstable();
    RowDiff { upserts, removals, state: ours }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(identity: Option<&str>, values: &[Option<&str>]) -> Vec<u8> {
        let mut out = Vec::new();
        payload_bytes(identity, values.iter().copied(), &mut out);
        out
    }

    fn wanted(member: &str, hash: u64) -> Wanted {
        let mark = Mark::digest(HeldRows::digest(member));
        Wanted { packed: pack([Some(member), None].into_iter()), hash, mark }
    }

    #[test]
    fn packed_payloads_give_back_their_values_with_the_member_in_primary_slots() {
        let sources = [Source::Primary, Source::Status, Source::Identity("Email".into()), Source::Primary];
        let values = [Some("email:ann@bodea.com"), Some("ann@bodea.com"), None, Some("existing"), Some(""), None];
        let w = Wanted { packed: pack(values.into_iter()), hash: 0, mark: Mark::digest(0) };
        // One header char each (length + 1, or 0 for none): 6 bytes for these short values.
        assert_eq!(w.packed.len(), 6 + 19 + 13 + 8);
        assert_eq!(w.packed.as_bytes()[0], 20);
        assert_eq!(&w.packed.as_bytes()[34..37], [0, 9, b'e']);
        assert_eq!((w.member(), w.identity()), ("email:ann@bodea.com", Some("ann@bodea.com")));
        let member = Some("email:ann@bodea.com");
        assert_eq!(w.values(&sources).collect::<Vec<_>>(), [member, Some("existing"), Some(""), member]);
        assert_eq!(w.fingerprint(), "");
        let empty = Wanted { packed: pack([Some("m"), None].into_iter()), hash: 0, mark: Mark::digest(0) };
        assert_eq!((empty.identity(), empty.values(&sources).count()), (None, 0));
    }

    #[test]
    fn packed_headers_take_a_second_char_from_the_length_that_reaches_the_surrogates() {
        // Lengths + 1 around the last one-char header (0xD7FF), the first two-char one (0xD800), and a
        // value with multi-byte characters (its length counts bytes).
        let long = |n: usize| "x".repeat(n);
        let texts = [long(0xD7FE), long(0xD7FF), long(0xD800 * 3 + 5), "é€😀".to_owned()];
        let packed = pack(texts.iter().map(|t| Some(t.as_str())).chain([None]));
        let back: Vec<Option<&str>> = Unpack(&packed).collect();
        assert_eq!(back, texts.iter().map(|t| Some(t.as_str())).chain([None]).collect::<Vec<_>>());
        // 0xD7FF is U+D7FF (3 bytes); 0xD800 becomes U+E001 then U+0000 (3 + 1 bytes).
        assert_eq!(packed.len(), 3 + 0xD7FE + 4 + 0xD7FF + 4 + 0xD800 * 3 + 5 + 1 + 9 + 1);
        assert_eq!(header(Some(&long(0xD7FE))), (None, '\u{D7FF}'));
        assert_eq!(header(Some(&long(0xD7FF))), (Some('\u{E001}'), '\u{0}'));
        assert_eq!(header(Some(&long(0xD800 * 3 + 5))), (Some('\u{E003}'), '\u{6}'));
        assert_eq!((header(Some("")), header(None)), ((None, '\u{1}'), (None, '\u{0}')));
    }

    #[test]
    fn payload_bytes_tell_null_from_empty_and_keep_value_bounds() {
        assert_eq!(bytes(Some("x"), &[None]), [1, 1, 0, 0, 0, 0, 0, 0, 0, b'x', 0]);
        assert_eq!(bytes(Some("x"), &[Some("")]), [1, 1, 0, 0, 0, 0, 0, 0, 0, b'x', 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_ne!(bytes(Some("ab"), &[Some("c")]), bytes(Some("a"), &[Some("bc")]));
    }

    #[test]
    fn fingerprint_is_the_sha256_prefix_and_row_hash_is_xxh3() {
        // FIPS 180-2 vector for "abc"; XXH3-64 of the empty input with seed 0 from the xxHash reference.
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01cfea414140de5dae2223");
        assert_eq!(row_hash(b""), 0x2D06_8005_38D3_94C2);
    }

    #[test]
    fn digests_sort_in_two_halves_as_one_sort_would() {
        // Enough rows for the two-core split, from a fixed xorshift sequence; the oracle is the standard sort.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut rows: Vec<(u128, u64, u32)> =
            (0..50_000).map(|i| ((u128::from(next()) << 64) | u128::from(next()), next(), i)).collect();
        let mut expected = rows.clone();
        expected.sort_by_key(|r| r.0);
        sort_by_digest(&mut rows);
        assert_eq!(rows, expected);
        // All in one half, and empty.
        let mut low: Vec<(u128, u64, u32)> = (0..20_000u32).rev().map(|i| (u128::from(i), 0, i)).collect();
        sort_by_digest(&mut low);
        assert!(low.iter().enumerate().all(|(i, r)| r.0 == i as u128));
        sort_by_digest(&mut []);
    }

    #[test]
    fn diff_sends_new_and_changed_members_and_lists_left_ones() {
        let want = [wanted("Email:a", 1), wanted("Email:b", 2), wanted("Email:d", 4)];
        let held = HeldRows::with_members(vec![("Email:a".into(), 1), ("Email:b".into(), 9), ("Email:c".into(), 3)]);
        let left = |diff: &RowDiff| -> Vec<&str> { diff.removals.iter().map(|&j| held.member(j).unwrap()).collect() };
        let digest = HeldRows::digest;
        let mut state = vec![(digest("Email:a"), 1, 0), (digest("Email:b"), 2, 1), (digest("Email:d"), 4, 2)];
        state.sort_unstable();
        // a unchanged; b changed (hash 9 → 2); c left; d new.
        let diff = diff_rows(&want, &held);
        assert_eq!((diff.upserts.as_slice(), left(&diff), &diff.state), (&[1, 2][..], vec!["Email:c"], &state));
        let diff = diff_rows(&want, &HeldRows::default());
        assert_eq!((diff.upserts, diff.removals, diff.state), (vec![0, 1, 2], vec![], state));
        let diff = diff_rows(&[], &held);
        let mut gone = left(&diff);
        gone.sort_unstable();
        assert_eq!((diff.upserts, gone, diff.state), (vec![], vec!["Email:a", "Email:b", "Email:c"], vec![]));
    }
}
