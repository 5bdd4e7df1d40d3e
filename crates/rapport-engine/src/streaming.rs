//! Streaming destinations pushed as memberships change.
//!
//! Each flow to a streaming destination (Marketo, LinkedIn, webhook) keeps, per audience, a **checkpoint**:
//! the position in the membership history (every entry and exit of every audience, in commit order) up to
//! which its destination is known to hold the audience. [`Engine::push_streaming_flows`] reads, per audience,
//! only the history after the checkpoint and, for each member it names, compares what the member should be
//! now (its current membership, consent, identity and mandatory attributes: the same rules as a run) with
//! what the destination holds (the recorded state): an upsert when the payload is not held yet, a removal
//! when a held member should no longer be there, nothing otherwise. A member that entered and left between two
//! pushes is therefore sent nothing, and one already sent by a run is not sent again.
//!
//! Changes go out in batches of the vendor's size; each batch's accepted changes are recorded as it is
//! answered, and the checkpoint moves only after every batch of the audience was accepted. A failure keeps
//! the checkpoint: the next push reads the same entries again and sends only what is still missing (the
//! recorded state already holds the rest). The first push of an audience (no checkpoint) is a backfill: the
//! whole difference with the audience, as a run computes it; so is every push of a flow with a deduplication
//! key, since one member's change can change which member of its key wins.
//!
//! A push that sends something leaves a delivery report in the flow's history with cause `stream`; schedules
//! ignore those runs.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use rapport_destinations::{Change, ChangeAction, Connector, DestinationConfig};
use rapport_model::Identity;
use rapport_store::streaming::CAUSE_STREAM;
use tracing::{debug, info, warn};

use crate::delivery::{AudienceDelivery, Candidate, DeliveryReport, PayloadSpec, RunOptions};
use crate::destinations::{destination_config, flow_definition, ActivationFlowDef};
use crate::{Engine, Result};

/// History entries read per query while collecting the members an audience's new entries name.
const HISTORY_PAGE: usize = 10_000;

/// What one audience needs from a push.
enum Pending {
    /// Never pushed: the whole difference.
    Backfill,
    /// The entries after this position.
    After(i64),
}

impl Engine {
    /// Pushes the membership changes since their checkpoints to every flow of a streaming destination;
    /// returns the report of each flow that had something to push (flows with nothing new leave no run).
    /// A flow that cannot be pushed is logged and skipped; the others go on.
    pub fn push_streaming_flows(&mut self, options: &RunOptions) -> Result<Vec<DeliveryReport>> {
        let mut reports = Vec::new();
        for stored in self.store.activation_flows()? {
            match self.push_streaming_flow(&stored.name, options) {
                Ok(Some(report)) => reports.push(report),
                Ok(None) => {}
                Err(err) => warn!(flow = %stored.name, error = %err, "streaming push skipped"),
            }
        }
        Ok(reports)
    }

    /// Pushes one flow's membership changes since its checkpoints (see the module docs); `None` when the flow
    /// is not a streaming one or had nothing to push.
    pub fn push_streaming_flow(&mut self, flow: &str, options: &RunOptions) -> Result<Option<DeliveryReport>> {
        let started = Instant::now();
        let stored = self.store.activation_flow(flow)?;
        let def = flow_definition(&stored)?;
        let config = destination_config(&self.store.destination(&def.destination)?)?;
        if matches!(config, DestinationConfig::File(_)) {
            return Ok(None);
        }
        let head = self.store.history_head()?;
        let mut pending = Vec::new();
        for audience in &def.audiences {
            match self.store.activation_checkpoint(flow, audience)? {
                None => pending.push((audience.clone(), Pending::Backfill)),
                Some(at) if at >= head => {}
                Some(at) if self.store.history_entries(audience, at, head, 1)?.is_empty() => {
                    // Only other audiences changed.
                    self.store.set_activation_checkpoint(flow, audience, head)?;
                }
                Some(at) => pending.push((audience.clone(), Pending::After(at))),
            }
        }
        if pending.is_empty() {
            return Ok(None);
        }
        let run = self.store.start_activation_run_caused(flow, Some(CAUSE_STREAM))?;
        let mut report = DeliveryReport {
            run,
            flow: flow.to_owned(),
            destination: def.destination.clone(),
            cause: Some(CAUSE_STREAM.to_owned()),
            ..DeliveryReport::default()
        };
        let action = def.marketing_action.unwrap_or(config.kind().default_action());
        match self.connector_for(&def, &config, options) {
            Ok(Some(mut connector)) => {
                for (audience, since) in pending {
                    let mut delivery = AudienceDelivery { audience: audience.clone(), ..AudienceDelivery::default() };
                    let result = match since {
                        Pending::After(at) if def.dedupe.is_empty() => {
                            self.push_audience(flow, run, &def, action, &mut connector, at, head, &mut delivery)
                        }
                        // A streaming delivery records its batches itself: it holds no file state.
                        _ => self
                            .deliver_audience(
                                flow,
                                run,
                                &def,
                                &config,
                                action,
                                Some(&mut connector),
                                options,
                                &mut delivery,
                            )
                            .map(|_| ()),
                    };
                    match result {
                        Ok(()) => self.store.set_activation_checkpoint(flow, &audience, head)?,
                        Err(err) => {
                            warn!(flow, audience = %audience, error = %err, "streaming push stopped");
                            delivery.error = Some(err.to_string());
                        }
                    }
                    report.audiences.push(delivery);
                }
                let stats = connector.stats();
                report.api_calls = stats.calls;
                report.retried = stats.retries;
            }
            Ok(None) => {
                return Err(crate::Error::Internal("a streaming destination has a connector".to_owned()));
            }
            Err(err) => {
                report.audiences.push(AudienceDelivery { error: Some(err.to_string()), ..AudienceDelivery::default() })
            }
        }
        self.end_run(&mut report, started, &[])?;
        info!(
            flow,
            state = %report.state,
            sent = report.sent,
            accepted = report.accepted,
            rejected = report.rejected,
            "streaming push ended"
        );
        Ok(Some(report))
    }

    /// Pushes the members named by `audience`'s history entries in (`after`, `upto`].
    #[allow(clippy::too_many_arguments)]
    fn push_audience(
        &mut self,
        flow: &str,
        run: i64,
        def: &ActivationFlowDef,
        action: rapport_destinations::MarketingAction,
        connector: &mut Connector,
        after: i64,
        upto: i64,
        delivery: &mut AudienceDelivery,
    ) -> Result<()> {
        let audience = delivery.audience.clone();
        let mut touched = BTreeSet::new();
        let mut position = after;
        loop {
            let page = self.store.history_entries(&audience, position, upto, HISTORY_PAGE)?;
            let Some((last, _)) = page.last() else { break };
            position = *last;
            touched.extend(page.into_iter().map(|(_, member)| member));
        }
        debug!(flow, audience = %audience, members = touched.len(), "membership changes to push");
        let record = self.store.audience(&audience)?;
        delivery.members = record.size.unwrap_or(0);
        let entity = record.entity;
        let spec = PayloadSpec::new(def, action, entity);
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        let mut fingerprints: HashMap<String, String> = HashMap::new();
        for member in touched {
            let held = self.store.held_member(flow, &audience, &member)?;
            let status = self.store.membership_status(&audience, &member)?;
            let wanted = match status.as_deref() {
                Some(status @ ("realized" | "existing")) => {
                    let profile = match member.split_once(':') {
                        Some((ns, value)) => self.store.profile_by_identity(entity, &Identity::new(ns, value))?,
                        None => None,
                    };
                    match spec.payload(
                        def,
                        &member,
                        status,
                        profile.as_ref().map(|p| (p.identities.as_slice(), &p.record)),
                    ) {
                        Candidate::Send(wanted) => Some(wanted),
                        Candidate::Excluded(reason) => {
                            reason.count(&mut delivery.excluded);
                            None
                        }
                    }
                }
                _ => None,
            };
            match (wanted, held) {
                (Some(w), held) if held.as_ref().is_none_or(|h| h.fingerprint != w.fingerprint()) => {
                    fingerprints.insert(member.clone(), w.fingerprint().to_owned());
                    upserts.push(Change {
                        member,
                        action: ChangeAction::Upsert,
                        fields: w.named_fields(def, &spec.sources),
                        identity: w.identity().map(str::to_owned),
                        previous: held.and_then(|h| h.remote),
                    });
                }
                (Some(_), _) => {}
                (None, Some(h)) => removals.push(Change {
                    member,
                    action: ChangeAction::Remove,
                    identity: None,
                    fields: Vec::new(),
                    previous: h.remote,
                }),
                (None, None) => {}
            }
        }
        delivery.upserts = upserts.len() as u64;
        delivery.removals = removals.len() as u64;
        if upserts.is_empty() && removals.is_empty() {
            return Ok(());
        }
        let container = self.prepare_target(flow, &audience, connector)?;
        let changes: Vec<Change> = upserts.into_iter().chain(removals).collect();
        let fingerprints: HashMap<&str, &str> = fingerprints.iter().map(|(m, f)| (m.as_str(), f.as_str())).collect();
        let name = format!("{flow}/{run}/{audience}");
        self.send_changes(flow, &name, connector, container.as_deref(), &changes, &fingerprints, delivery)
    }
}
