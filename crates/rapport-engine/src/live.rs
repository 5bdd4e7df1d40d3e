//! Live audiences: memberships kept current from the change feed, right after every commit.
//!
//! Every write (a batch file, a mapped load, a group of streamed messages, a deletion) appends change events in
//! its own transaction (see [`crate::changes`]). Right after that transaction commits, [`Engine::refresh_audiences`]
//! reads the events each saved audience has not taken into account yet (its checkpoint), finds the entities of the
//! audience's class the events can affect, re-evaluates only those, and writes who entered and who exited, each
//! history entry naming the change event that caused it, together with the new checkpoint in **one transaction
//! of its own, the one right after the batch's** ([`rapport_store::Store::apply_live_changes`]). A crash between
//! the two leaves the checkpoint behind the feed, never ahead of the memberships: the next refresh (after the next
//! commit, or when the engine opens) re-evaluates those events again, and since evaluation reads the current
//! profiles and writes differences only, doing it twice changes nothing more.
//!
//! Three ways to decide, which give the same memberships (the tests check it):
//!
//! - **store** (one-shot commands: `ingest`, `load`, `flow run`, deletions): the affected entities are found by
//!   walking the audience's plan from the changed entities back to its root class through indexed key lookups
//!   (an opportunity change reaches its account, then the people of that account), then each candidate's linked
//!   neighbourhood (what the plan navigates, nothing more) is read from the store and the plan evaluated on it. No
//!   full profile graph is loaded.
//! - **resident** (`rapport serve`, [`Engine::keep_audiences_resident`]): the linked profile graph (the fields the
//!   audiences read plus relationship keys) stays in memory with one [`rapport_segment::Incremental`] per audience;
//!   after each commit the changed profiles are reread by id, patched into the graph (relinked when a relationship
//!   key, an identity or the set of profiles changed) and `Incremental::apply` decides the delta in process.
//! - **full**: a whole evaluation (a new audience's backfill, `audience evaluate`, after a profile rebuild, when the
//!   feed moved by more than [`FULL_EVALUATION_ABOVE`] events, or when events touch classes the feed gives no
//!   relationships for, such as campaign members, and the audience reads them).
//!
//! A member is a profile's primary identity (`namespace:value`). A candidate's former primary identities (the one a
//! merged or deleted profile had, named by its event) are reconsidered too: an identity stays a member only while a
//! profile holds it as its primary identity and satisfies the audience.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rapport_model::{EntityKind, FieldPath, Identity, Projection, Record};
use rapport_profile::{KeyHop, Profile, ProfileGraph, ProfileSet};
use rapport_segment::{Change, Cond, Incremental, Plan};
use rapport_store::{AudienceRecord, ChangeEvent, LiveChange, Reference};
use serde::Serialize;
use tracing::{debug, error, info};

use crate::lookup::strings;
use crate::{Engine, Result};

/// Above this many pending change events, a refresh evaluates the audience whole (one graph load) instead of
/// walking the changes: a bulk load touches most profiles anyway.
pub const FULL_EVALUATION_ABOVE: usize = 2_000;

/// How a refresh decided the memberships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LiveMode {
    /// A whole evaluation over the loaded profile graph.
    Full,
    /// Only the affected entities, read from the store.
    Store,
    /// In process, on the resident graph.
    Resident,
}

/// What one refresh did to one audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveUpdate {
    /// The audience.
    pub audience: String,
    /// How the memberships were decided.
    pub mode: LiveMode,
    /// The checkpoint before (none for a first evaluation).
    pub from_seq: Option<i64>,
    /// The last change event now taken into account.
    pub through_seq: i64,
    /// Entities of the audience's class re-evaluated.
    pub evaluated: u64,
    /// Members that entered.
    pub entered: u64,
    /// Members that left.
    pub exited: u64,
    /// Members now.
    pub size: u64,
    /// The history positions written (first, last), for readers of
    /// [`Engine::membership_changes_since`].
    pub history: Option<(i64, i64)>,
}

/// Test switches: a consumer paused (as if the process died right after a batch commit) or failing before its
/// commit.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Faults {
    pub(crate) paused: bool,
    pub(crate) fail_commit: bool,
    /// The evaluation time (`now` in PQL) of every graph the engine builds, in milliseconds since the Unix
    /// epoch; `None` reads the clock.
    pub(crate) now: Option<i64>,
}

impl Engine {
    /// Called after every commit that may have appended change events: refreshes every audience and logs a
    /// failure instead of returning it (the batch is committed; memberships catch up at the next refresh).
    pub(crate) fn after_commit(&mut self) {
        if self.faults.paused {
            return;
        }
        if let Err(err) = self.refresh_audiences() {
            error!(error = %err, "live audience refresh failed; memberships catch up at the next commit or open");
        }
    }

    /// Brings every saved audience's memberships up to the end of the change feed (see the module
    /// documentation) and returns what changed, one entry per audience that was behind.
    pub fn refresh_audiences(&mut self) -> Result<Vec<LiveUpdate>> {
        let last = self.store.last_change_seq()?;
        let audiences = self.store.audiences()?;
        if self.live.is_some() {
            return self.refresh_resident(&audiences);
        }
        let mut updates = Vec::new();
        for audience in &audiences {
            let checkpoint = self.store.live_checkpoint(&audience.name)?;
            if checkpoint == Some(last) {
                continue;
            }
            let update = match checkpoint {
                None => self.refresh_full(audience, last)?,
                Some(seq) => self.refresh_from_store(audience, seq, last)?,
            };
            self.after_membership_changes(&update);
            updates.push(update);
        }
        Ok(updates)
    }

    /// Re-evaluates the audiences whose answer moves with time alone (an event window anchored at `now`,
    /// `today`, `last month`, …: [`rapport_segment::Plan::depends_on_now`]), so that people whose events aged out
    /// of a window leave and people entering a window by the calendar join, with no data change. First every
    /// audience is brought up to the end of the change feed; then each such audience is evaluated whole at the
    /// current time (in process on the resident graph under `rapport serve`, else over a loaded graph) and,
    /// when its members differ from the stored ones, recorded as an evaluation run (entries and exits with the
    /// run as their cause). `rapport serve` calls this every minute (`--time-refresh-secs`).
    pub fn refresh_time_windows(&mut self) -> Result<Vec<LiveUpdate>> {
        self.refresh_audiences()?;
        let mut updates = Vec::new();
        for audience in self.store.audiences()? {
            let plan = self.compile_pql(&audience.pql, audience.entity)?;
            if !plan.depends_on_now() {
                continue;
            }
            let resident = self.live.as_mut().filter(|r| r.audiences.contains_key(&audience.name));
            let in_process = resident.is_some();
            let (before, members, through, evaluated) = if let Some(resident) = resident {
                // The resident state is at the end of the feed (refreshed above), so its members are the stored
                // ones; a fresh state at the current time replaces it.
                let state = Incremental::new(plan, &resident.graph);
                let members = resident.members_of(audience.entity, &state);
                let evaluated = resident.graph.set(audience.entity).len() as u64;
                let old = resident.audiences.insert(audience.name.clone(), state).expect("filtered on the key");
                (resident.members_of(audience.entity, &old), members, resident.seq, evaluated)
            } else {
                let through = self.store.last_change_seq()?;
                let (members, stored_profiles, _) = self.members_whole(&plan)?;
                let before = self.store.members(&audience.name)?.into_iter().map(|(m, _)| m).collect();
                (before, members, through, stored_profiles)
            };
            if members == before {
                continue;
            }
            let from_seq = self.store.live_checkpoint(&audience.name)?;
            let change = self.store.apply_membership_through(&audience.name, &members, Some(through))?;
            let update = LiveUpdate {
                audience: audience.name.clone(),
                mode: if in_process { LiveMode::Resident } else { LiveMode::Full },
                from_seq,
                through_seq: through,
                evaluated,
                entered: change.entered,
                exited: change.exited,
                size: change.size,
                history: None,
            };
            self.after_membership_changes(&update);
            updates.push(update);
        }
        Ok(updates)
    }

    /// After a profile rebuild (no change events, profile ids renumbered): every audience evaluated whole, and
    /// the resident state, if any, reloaded.
    pub(crate) fn after_rebuild(&mut self) -> Result<()> {
        let through = self.store.last_change_seq()?;
        let audiences = self.store.audiences()?;
        for audience in &audiences {
            let update = self.refresh_full(audience, through)?;
            self.after_membership_changes(&update);
        }
        if self.live.is_some() {
            self.live = Some(Resident::load(self, &audiences)?);
        }
        Ok(())
    }

    /// The hook called once memberships are written (live or full): streaming destinations are wired here.
    /// Today nothing else needs it, so it only logs.
    pub(crate) fn after_membership_changes(&mut self, update: &LiveUpdate) {
        if update.entered + update.exited > 0 {
            info!(
                audience = %update.audience,
                mode = ?update.mode,
                through = update.through_seq,
                entered = update.entered,
                exited = update.exited,
                "audience memberships changed"
            );
        }
    }

    /// Up to `limit` entries and exits of an audience after history position `after` (0 for the first), each
    /// with its cause: what a streaming destination reads since its own checkpoint. Positions only grow.
    pub fn membership_changes_since(
        &self,
        audience: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<rapport_store::MembershipEvent>> {
        Ok(self.store.membership_changes_since(audience, after, limit)?)
    }

    /// Keeps the linked profile graph and one incremental state per audience in memory, so that refreshes after
    /// each commit decide memberships in process (`rapport serve` does this at start).
    pub fn keep_audiences_resident(&mut self) -> Result<()> {
        self.refresh_audiences()?;
        let audiences = self.store.audiences()?;
        self.live = Some(Resident::load(self, &audiences)?);
        Ok(())
    }

    /// The resident graph, when this process keeps one (`rapport serve`), it reflects every committed change
    /// event and it holds `fields` of each class: activation runs then read members' payloads from memory
    /// instead of loading the profiles from the store. `None` otherwise (the caller loads a graph).
    pub(crate) fn resident_graph_for(
        &self,
        fields: &BTreeMap<EntityKind, BTreeSet<FieldPath>>,
    ) -> Result<Option<&Resident>> {
        let Some(resident) = &self.live else { return Ok(None) };
        // No audience was resident at load (no graph), or a paused consumer left the graph behind the feed.
        if resident.audiences.is_empty() || resident.seq != self.store.last_change_seq()? {
            return Ok(None);
        }
        let covered = fields.iter().all(|(class, paths)| {
            paths.is_empty() || resident.fields.get(class).is_some_and(|have| paths.is_subset(have))
        });
        Ok(covered.then_some(resident))
    }

    /// Reloads the resident graph (when this process keeps one) so that it holds what every activation flow
    /// maps; a flow created after `rapport serve` started pays the load once, at its first run.
    pub(crate) fn reload_resident_for_flows(&mut self) -> Result<()> {
        if self.live.is_some() {
            self.keep_audiences_resident()?;
        }
        Ok(())
    }

    /// Stops keeping audiences in memory (the next refreshes read the store).
    pub fn drop_resident_audiences(&mut self) {
        self.live = None;
    }

    /// Test switch: pause the live consumer, as if the process stopped right after each batch commit.
    #[doc(hidden)]
    pub fn pause_live_audiences(&mut self, paused: bool) {
        self.faults.paused = paused;
    }

    /// Test switch: evaluate PQL time words (`now`, `today`, …) at `now_ms` (milliseconds since the Unix epoch)
    /// instead of the clock; `None` goes back to the clock.
    #[doc(hidden)]
    pub fn set_evaluation_time(&mut self, now_ms: Option<i64>) {
        self.faults.now = now_ms;
        if let Some(resident) = self.live.as_mut() {
            resident.graph.events.now = now_ms;
        }
    }

    /// Test switch: make the live consumer's membership transaction fail before its commit.
    #[doc(hidden)]
    pub fn fail_live_commits(&mut self, fail: bool) {
        self.faults.fail_commit = fail;
    }

    /// Evaluates an audience whole over the loaded profile graph and records it, with checkpoint `through` (read
    /// before the graph, so that the checkpoint is never ahead of what the graph saw).
    pub(crate) fn refresh_full(&mut self, audience: &AudienceRecord, through: i64) -> Result<LiveUpdate> {
        Ok(self.evaluate_whole(audience, through)?.0)
    }

    /// [`Self::refresh_full`] with what an explicit evaluation reports besides: the recorded change (its run) and
    /// the number of profiles of the audience's class.
    pub(crate) fn evaluate_whole(
        &mut self,
        audience: &AudienceRecord,
        through: i64,
    ) -> Result<(LiveUpdate, rapport_store::MembershipChange, u64)> {
        let from_seq = self.store.live_checkpoint(&audience.name)?;
        let plan = self.compile_pql(&audience.pql, audience.entity)?;
        let (members, stored_profiles, profiles) = self.members_whole(&plan)?;
        let change = self.store.apply_membership_through(&audience.name, &members, Some(through))?;
        let update = LiveUpdate {
            audience: audience.name.clone(),
            mode: LiveMode::Full,
            from_seq,
            through_seq: through,
            evaluated: stored_profiles,
            entered: change.entered,
            exited: change.exited,
            size: change.size,
            history: None,
        };
        Ok((update, change, profiles))
    }

    /// Evaluates `plan` whole over a graph loaded for it, at the current time: the members (primary identities
    /// as `namespace:value`), the stored profiles of its class and all of them (placeholders included).
    fn members_whole(&self, plan: &Plan) -> Result<(BTreeSet<String>, u64, u64)> {
        let graph = self.profile_graph_for(&plan.fields())?;
        let set = graph.set(plan.entity);
        let members = rapport_segment::evaluate(plan, &graph)
            .iter()
            .map(|id| member_key(&set.profiles[id as usize].primary))
            .collect();
        Ok((members, set.stored() as u64, set.len() as u64))
    }

    fn write_live(
        &mut self,
        audience: &str,
        changes: &[LiveChange],
        from_seq: Option<i64>,
        through: i64,
        mode: LiveMode,
        evaluated: u64,
    ) -> Result<LiveUpdate> {
        let fail = self.faults.fail_commit;
        let applied = self.store.apply_live_changes_failing(audience, changes, through, fail)?;
        Ok(LiveUpdate {
            audience: audience.to_owned(),
            mode,
            from_seq,
            through_seq: through,
            evaluated,
            entered: applied.entered,
            exited: applied.exited,
            size: applied.size,
            history: applied.first_history_id.zip(applied.last_history_id),
        })
    }

    /// Store mode: the events after `seq`, the root entities they can affect, each re-evaluated on its
    /// neighbourhood read from the store.
    fn refresh_from_store(&mut self, audience: &AudienceRecord, seq: i64, last: i64) -> Result<LiveUpdate> {
        let events = self.store.changes_since(seq, FULL_EVALUATION_ABOVE + 1)?;
        if events.len() > FULL_EVALUATION_ABOVE {
            return self.refresh_full(audience, last);
        }
        let through = events.last().map_or(last, |e| e.seq).max(seq);
        let plan = self.compile_pql(&audience.pql, audience.entity)?;
        if events.iter().any(|e| !FEED_RELATED.contains(&e.entity) && plan_reads(&plan).contains(&e.entity)) {
            return self.refresh_full(audience, through);
        }
        let started = std::time::Instant::now();
        let reader = StoreReader { engine: self };
        let touched = reader.touched(&events)?;
        let mut affected = reader.affected(&plan.root, plan.entity, &touched)?;
        for (key, seq) in touched.get(&plan.entity).into_iter().flatten() {
            bump(&mut affected, key, *seq);
        }
        // The candidates: the profiles holding the affected keys; the member strings to reconsider: the keys that
        // are primary identities, the candidates' primaries, and their identities that are members now.
        let mut candidates: BTreeMap<Identity, (Profile, i64)> = BTreeMap::new();
        let mut reconsider: BTreeMap<String, i64> = BTreeMap::new();
        for (identity, seq) in &affected {
            bump(&mut reconsider, &member_key(identity), *seq);
            if let Some(profile) = reader.profile(plan.entity, identity)? {
                let slot = candidates.entry(profile.primary.clone()).or_insert((profile, *seq));
                slot.1 = slot.1.max(*seq);
            }
        }
        for (profile, seq) in candidates.values() {
            bump(&mut reconsider, &member_key(&profile.primary), *seq);
            for identity in &profile.identities {
                let text = member_key(identity);
                if self.store.membership_status(&audience.name, &text)?.is_some_and(|s| s != "exited") {
                    bump(&mut reconsider, &text, *seq);
                }
            }
        }
        let members = StoreReader { engine: self }.members(&plan, candidates.values().map(|(p, _)| p))?;
        let changes: Vec<LiveChange> = reconsider
            .into_iter()
            .map(|(member, seq)| LiveChange { entered: members.contains(&member), member, seq })
            .collect();
        debug!(
            audience = %audience.name,
            events = events.len(),
            candidates = candidates.len(),
            micros = started.elapsed().as_micros() as u64,
            "live candidates evaluated from the store"
        );
        self.write_live(&audience.name, &changes, Some(seq), through, LiveMode::Store, candidates.len() as u64)
    }

    /// Resident mode: patch the resident graph with the events since its position, then apply each audience's
    /// incremental state.
    fn refresh_resident(&mut self, audiences: &[AudienceRecord]) -> Result<Vec<LiveUpdate>> {
        let mut resident = self.live.take().expect("called with a resident state");
        let result = self.refresh_resident_with(&mut resident, audiences);
        if result.is_ok() {
            self.live = Some(resident);
        } else {
            // The state may be half patched: drop it; the next refresh reads the store (and `serve` keeps going).
            error!("resident audience state dropped after a failed refresh; later refreshes read the store");
        }
        result
    }

    fn refresh_resident_with(
        &mut self,
        resident: &mut Resident,
        audiences: &[AudienceRecord],
    ) -> Result<Vec<LiveUpdate>> {
        if audiences.is_empty() {
            // Nothing to keep current: the graph is not patched (the first audience reloads it).
            resident.seq = self.store.last_change_seq()?;
            resident.audiences.clear();
            return Ok(Vec::new());
        }
        // Plans first: an audience reading fields the graph does not hold needs a reload.
        let mut plans = Vec::with_capacity(audiences.len());
        for audience in audiences {
            plans.push(self.compile_pql(&audience.pql, audience.entity)?);
        }
        if resident.audiences.is_empty() || plans.iter().any(|plan| !resident.covers(plan)) {
            *resident = Resident::load(self, audiences)?;
        }
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(resident.seq, |e: &ChangeEvent| e.seq);
            let page = self.store.changes_since(after, 10_000)?;
            if page.is_empty() {
                break;
            }
            events.extend(page);
        }
        let before = resident.seq;
        let patch = resident.patch(&self.store, &events)?;
        resident.seq = events.last().map_or(before, |e| e.seq);
        let through = resident.seq;
        let mut states = std::mem::take(&mut resident.audiences);
        states.retain(|name, _| audiences.iter().any(|a| &a.name == name));
        let mut updates = Vec::new();
        for (audience, plan) in audiences.iter().zip(plans) {
            let checkpoint = self.store.live_checkpoint(&audience.name)?;
            let fresh = !states.contains_key(&audience.name);
            let state = states.entry(audience.name.clone()).or_insert_with(|| Incremental::new(plan, &resident.graph));
            let root = state.plan().entity;
            let (changes, evaluated): (Vec<LiveChange>, u64) = if fresh || checkpoint != Some(before) {
                // A state new to this process, or memberships not at the graph's position (a failed write, an
                // evaluation elsewhere): reconcile the whole membership with the state.
                if !fresh && !events.is_empty() {
                    state.apply(&resident.graph, &patch.changes);
                }
                let stored: BTreeSet<String> =
                    self.store.members(&audience.name)?.into_iter().map(|(m, _)| m).collect();
                let now: BTreeSet<String> = resident.members_of(root, state);
                let changes = now
                    .difference(&stored)
                    .map(|m| LiveChange { member: m.clone(), entered: true, seq: through })
                    .chain(stored.difference(&now).map(|m| LiveChange {
                        member: m.clone(),
                        entered: false,
                        seq: through,
                    }))
                    .collect();
                (changes, resident.graph.set(root).len() as u64)
            } else {
                if events.is_empty() {
                    continue;
                }
                let delta = state.apply(&resident.graph, &patch.changes);
                let mut numbers: BTreeSet<u32> = delta.entered.iter().chain(&delta.exited).copied().collect();
                numbers.extend(patch.changes.iter().filter(|c| c.entity == root).map(|c| c.id));
                let mut reconsider: BTreeMap<String, i64> = BTreeMap::new();
                for n in numbers {
                    let seq = patch.seqs.get(&(root, n)).copied().unwrap_or(through);
                    if let Some(old) = patch.former_primaries.get(&(root, n)) {
                        bump(&mut reconsider, old, seq);
                    }
                    if resident.is_real(root, n) {
                        bump(&mut reconsider, &member_key(&resident.graph.set(root).profiles[n as usize].primary), seq);
                    }
                }
                let changes = reconsider
                    .into_iter()
                    .map(|(member, seq)| {
                        let entered = resident.is_member(root, state, &member);
                        LiveChange { member, entered, seq }
                    })
                    .collect();
                (changes, delta.evaluated)
            };
            let written = self.write_live(&audience.name, &changes, checkpoint, through, LiveMode::Resident, evaluated);
            let update = match written {
                Ok(update) => update,
                Err(err) => {
                    resident.audiences = states;
                    return Err(err);
                }
            };
            self.after_membership_changes(&update);
            updates.push(update);
        }
        resident.audiences = states;
        Ok(updates)
    }
}

/// Classes whose change events list the related entities (both ends of relationships, before and after).
const FEED_RELATED: &[EntityKind] = &[
    EntityKind::Person,
    EntityKind::Account,
    EntityKind::Opportunity,
    EntityKind::OpportunityPerson,
    EntityKind::AccountPerson,
];

/// Every class a plan reads or navigates through (relation classes of `through` hops included).
fn plan_reads(plan: &Plan) -> BTreeSet<EntityKind> {
    fn walk(cond: &Cond, out: &mut BTreeSet<EntityKind>) {
        match cond {
            Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| walk(c, out)),
            Cond::Not(inner) => walk(inner, out),
            Cond::Related { from, navigation, to, cond, .. } => {
                out.insert(*to);
                for hop in rapport_profile::navigation_hops(*from, navigation) {
                    if let KeyHop::Through { relation, .. } = hop {
                        out.insert(*relation);
                    }
                }
                walk(cond, out);
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::from([plan.entity]);
    walk(&plan.root, &mut out);
    out
}

/// A member string: `namespace:value`, the form memberships are stored in.
pub(crate) fn member_key(identity: &Identity) -> String {
    let (namespace, value) = (identity.namespace.as_str(), identity.value.as_str());
    let mut key = String::with_capacity(namespace.len() + 1 + value.len());
    key.push_str(namespace);
    key.push(':');
    key.push_str(value);
    key
}

fn bump<K: Ord + Clone>(map: &mut BTreeMap<K, i64>, k: &K, seq: i64) {
    match map.get_mut(k) {
        Some(s) => *s = (*s).max(seq),
        None => {
            map.insert(k.clone(), seq);
        }
    }
}

/// Keys touched per class, each with the latest change event that touched it.
type Touched = BTreeMap<EntityKind, BTreeMap<Identity, i64>>;

/// The index that finds the fragments of `class` holding a key at `path`, if there is one.
fn reference(class: EntityKind, path: &str) -> Option<Reference> {
    use EntityKind as E;
    Some(match (class, path) {
        (E::Opportunity, "accountKey.sourceKey") => Reference::OpportunityAccount,
        (E::Person, "personComponents.sourceAccountKey.sourceKey") => Reference::PersonAccount,
        (E::AccountPerson, "accountKey.sourceKey") => Reference::AccountPersonAccount,
        (E::AccountPerson, "personKey.sourceKey") => Reference::AccountPersonPerson,
        (E::OpportunityPerson, "opportunityKey.sourceKey") => Reference::OpportunityPersonOpportunity,
        (E::OpportunityPerson, "personKey.sourceKey") => Reference::OpportunityPersonPerson,
        (E::Account, "accountParentKey.sourceKey") => Reference::AccountParent,
        _ => return None,
    })
}

/// Reads what store mode needs: profiles by key, who points at a key, neighbourhoods.
struct StoreReader<'a> {
    engine: &'a Engine,
}

impl StoreReader<'_> {
    /// The profile of `class` holding `identity`.
    fn profile(&self, class: EntityKind, identity: &Identity) -> Result<Option<Profile>> {
        Ok(self.engine.store.profile_by_identity(class, identity)?.map(|p| Profile {
            primary: p.primary,
            identities: p.identities,
            record: p.record,
        }))
    }

    /// The primary identities of the profiles of `class` whose record holds `value` at `path` (an indexed lookup
    /// when there is an index, a scan of the class otherwise). A superset: the fragment that holds the key may
    /// have lost the merge.
    fn referrers(&self, class: EntityKind, path: &str, value: &str) -> Result<Vec<(Identity, Record)>> {
        if let Some(reference) = reference(class, path) {
            return Ok(self.engine.store.referencing(reference, value)?);
        }
        let field = FieldPath::parse(path).map_err(|e| crate::Error::Internal(format!("link path: {e}")))?;
        let mut out = Vec::new();
        self.engine.store.for_each_profile(class, |_, primary, _, text| -> Result<()> {
            let record: Record =
                serde_json::from_str(text).map_err(|e| crate::Error::Internal(format!("stored profile: {e}")))?;
            if field.values(&record).iter().any(|v| v.as_str().map(str::trim) == Some(value)) {
                out.push((primary, record));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every key the events touched: each event's profile (its primary identity, and the current identities of
    /// the profile holding it), its former profiles, and its related entities.
    fn touched(&self, events: &[ChangeEvent]) -> Result<Touched> {
        let mut out: Touched = BTreeMap::new();
        let add = |class: EntityKind, identity: Identity, seq: i64, out: &mut Touched| {
            bump(out.entry(class).or_default(), &identity, seq);
        };
        for event in events {
            add(event.entity, event.primary.clone(), event.seq, &mut out);
            for &former in &event.previous {
                if let Some((primary, _, _)) = self.engine.store.profile_row(event.entity, former)? {
                    add(event.entity, primary, event.seq, &mut out);
                }
            }
            for related in &event.related {
                add(related.entity, related.key.clone(), event.seq, &mut out);
            }
        }
        // Every identity of the profiles now holding a touched key is a key of the same entity.
        for (class, keys) in &mut out {
            let mut more: Vec<(Identity, i64)> = Vec::new();
            for (identity, seq) in keys.iter() {
                if let Some(profile) = self.engine.store.profile_by_identity(*class, identity)? {
                    more.extend(profile.identities.into_iter().map(|i| (i, *seq)));
                    more.push((profile.primary, *seq));
                }
            }
            for (identity, seq) in more {
                bump(keys, &identity, seq);
            }
        }
        Ok(out)
    }

    /// The keys of `class` whose value of `cond` may have changed (the sources, through the plan's navigations
    /// walked backwards, of every touched key).
    fn affected(&self, cond: &Cond, class: EntityKind, touched: &Touched) -> Result<BTreeMap<Identity, i64>> {
        let own = || touched.get(&class).cloned().unwrap_or_default();
        match cond {
            Cond::And(items) | Cond::Or(items) => {
                let mut out = BTreeMap::new();
                for item in items {
                    for (k, s) in self.affected(item, class, touched)? {
                        bump(&mut out, &k, s);
                    }
                }
                Ok(out)
            }
            Cond::Not(inner) => self.affected(inner, class, touched),
            Cond::Related { from, navigation, to, cond, .. } => {
                let mut targets = self.affected(cond, *to, touched)?;
                for (k, s) in touched.get(to).into_iter().flatten() {
                    bump(&mut targets, k, *s);
                }
                let mut out = own();
                for (source, seq) in self.sources(*from, navigation, *to, &targets)? {
                    bump(&mut out, &source, seq);
                }
                Ok(out)
            }
            // A condition on the entity itself (and any condition kind added later that reads only the entity's
            // own data) changes only with the entity.
            _ => Ok(own()),
        }
    }

    /// The entities of `from` whose navigation `name` (to `to`) reaches one of `targets` now, as keys (all their
    /// identities), each with the latest event of the targets it reaches.
    fn sources(
        &self,
        from: EntityKind,
        name: &str,
        to: EntityKind,
        targets: &BTreeMap<Identity, i64>,
    ) -> Result<BTreeMap<Identity, i64>> {
        let mut out = BTreeMap::new();
        let mut target_profiles: HashMap<Identity, Option<Profile>> = HashMap::new();
        for hop in rapport_profile::navigation_hops(from, name) {
            for (target, seq) in targets {
                match *hop {
                    // The source holds the target's key: who points at it.
                    KeyHop::Forward { path, ns } => {
                        if target.namespace.as_str() != ns {
                            continue;
                        }
                        for (primary, _) in self.referrers(from, path, &target.value)? {
                            bump(&mut out, &primary, *seq);
                        }
                    }
                    // The target holds the source's key: read it off the target.
                    KeyHop::Backward { path, ns } => {
                        let profile = match target_profiles.get(target) {
                            Some(p) => p.clone(),
                            None => {
                                let p = self.profile(to, target)?;
                                target_profiles.insert(target.clone(), p.clone());
                                p
                            }
                        };
                        if let Some(profile) = profile {
                            for k in strings(&profile.record, path) {
                                bump(&mut out, &Identity::new(ns, k), *seq);
                            }
                        }
                    }
                    // Relation records pointing at the target name the sources.
                    KeyHop::Through { relation, source_path, source_ns, target_path, target_ns } => {
                        if target.namespace.as_str() != target_ns {
                            continue;
                        }
                        for (primary, record) in self.referrers(relation, target_path, &target.value)? {
                            let mut keys = strings(&record, source_path);
                            if let Some(merged) = self.profile(relation, &primary)? {
                                keys.extend(strings(&merged.record, source_path));
                            }
                            for k in keys {
                                bump(&mut out, &Identity::new(source_ns, k), *seq);
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The primary identities (as member strings) of `candidates` that satisfy `plan`, each evaluated on its
    /// neighbourhood: the profiles the plan navigates to from it, read from the store and linked.
    fn members<'p>(&self, plan: &Plan, candidates: impl Iterator<Item = &'p Profile>) -> Result<BTreeSet<String>> {
        let mut hood = Hood::default();
        let roots: Vec<Node> = candidates
            .map(|p| {
                hood.add(plan.entity, p.clone());
                Node {
                    identities: p.identities.iter().chain([&p.primary]).cloned().collect(),
                    record: p.record.clone(),
                }
            })
            .collect();
        if roots.is_empty() {
            return Ok(BTreeSet::new());
        }
        let primaries: Vec<Identity> = hood.sets[&plan.entity].values().map(|p| p.primary.clone()).collect();
        self.expand(&plan.root, roots, &mut hood)?;
        let sets: BTreeMap<EntityKind, ProfileSet> = hood
            .sets
            .into_iter()
            .map(|(class, profiles)| (class, ProfileSet::new(profiles.into_values().collect())))
            .collect();
        let mut graph = ProfileGraph::link(sets);
        graph.events.now = self.engine.faults.now;
        if plan.reads_events() {
            // Each stored person of the neighbourhood with its events as the store holds them now.
            if let Some(persons) = graph.sets.get(&EntityKind::Person) {
                let mut lists = Vec::new();
                for (n, profile) in persons.profiles.iter().enumerate().take(persons.stored()) {
                    let identities = profile.identities.iter().chain([&profile.primary]);
                    lists.push((n as u32, crate::events::person_events(&self.engine.store, identities)?));
                }
                for (n, events) in lists {
                    graph.events.replace(n, events);
                }
            }
        }
        let set = graph.set(plan.entity);
        Ok(primaries
            .into_iter()
            .filter(|primary| set.find(primary).is_some_and(|n| rapport_segment::evaluate_one(plan, &graph, n)))
            .map(|p| member_key(&p))
            .collect())
    }

    /// Loads into `hood` what `cond` navigates to from `sources` (entities of the condition's class).
    fn expand(&self, cond: &Cond, sources: Vec<Node>, hood: &mut Hood) -> Result<()> {
        match cond {
            Cond::And(items) | Cond::Or(items) => {
                for item in items {
                    self.expand(item, sources.clone(), hood)?;
                }
                Ok(())
            }
            Cond::Not(inner) => self.expand(inner, sources, hood),
            Cond::Related { from, navigation, to, cond, .. } => {
                let mut targets: BTreeMap<Identity, Node> = BTreeMap::new();
                let reach =
                    |identity: Identity, hood: &mut Hood, targets: &mut BTreeMap<Identity, Node>| -> Result<()> {
                        if targets.contains_key(&identity) {
                            return Ok(());
                        }
                        // A key no profile holds still counts: linking gives it a placeholder, whose own navigations
                        // (by its key) matter.
                        let node = match self.load(*to, &identity, hood)? {
                            Some(profile) => Node {
                                identities: profile.identities.iter().chain([&profile.primary]).cloned().collect(),
                                record: profile.record,
                            },
                            None => Node { identities: vec![identity.clone()], record: Record::new() },
                        };
                        targets.insert(identity, node);
                        Ok(())
                    };
                for source in &sources {
                    for hop in rapport_profile::navigation_hops(*from, navigation) {
                        match *hop {
                            KeyHop::Forward { path, ns } => {
                                for k in strings(&source.record, path) {
                                    reach(Identity::new(ns, k), hood, &mut targets)?;
                                }
                            }
                            KeyHop::Backward { path, ns } => {
                                for identity in source.identities.iter().filter(|i| i.namespace.as_str() == ns) {
                                    for (primary, _) in self.referrers(*to, path, &identity.value)? {
                                        reach(primary, hood, &mut targets)?;
                                    }
                                }
                            }
                            KeyHop::Through { relation, source_path, source_ns, target_path, target_ns } => {
                                for identity in source.identities.iter().filter(|i| i.namespace.as_str() == source_ns) {
                                    for (primary, _) in self.referrers(relation, source_path, &identity.value)? {
                                        let Some(record) = self.load(relation, &primary, hood)? else { continue };
                                        for k in strings(&record.record, target_path) {
                                            reach(Identity::new(target_ns, k), hood, &mut targets)?;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                self.expand(cond, targets.into_values().collect(), hood)
            }
            _ => Ok(()),
        }
    }

    /// The profile of `class` holding `identity`, added to `hood` (read once).
    fn load(&self, class: EntityKind, identity: &Identity, hood: &mut Hood) -> Result<Option<Profile>> {
        if let Some(found) = hood.seen.get(&(class, identity.clone())) {
            return Ok(found.as_ref().and_then(|primary| hood.sets.get(&class)?.get(primary).cloned()));
        }
        let profile = self.profile(class, identity)?;
        hood.seen.insert((class, identity.clone()), profile.as_ref().map(|p| p.primary.clone()));
        if let Some(profile) = &profile {
            hood.add(class, profile.clone());
        }
        Ok(profile)
    }
}

/// An entity reached while loading a neighbourhood: a profile, or a key no profile holds.
#[derive(Clone)]
struct Node {
    identities: Vec<Identity>,
    record: Record,
}

/// The profiles of a neighbourhood, by class and primary identity.
#[derive(Default)]
struct Hood {
    sets: BTreeMap<EntityKind, BTreeMap<Identity, Profile>>,
    seen: HashMap<(EntityKind, Identity), Option<Identity>>,
}

impl Hood {
    fn add(&mut self, class: EntityKind, profile: Profile) {
        self.sets.entry(class).or_default().entry(profile.primary.clone()).or_insert(profile);
    }
}

/// The resident state of `rapport serve`: the linked graph, store ids ↔ profile numbers, and one incremental
/// state per audience.
#[derive(Debug)]
pub(crate) struct Resident {
    graph: ProfileGraph,
    /// The fields kept of each class's records (what the audiences read plus the relationship keys).
    fields: BTreeMap<EntityKind, BTreeSet<FieldPath>>,
    projections: BTreeMap<EntityKind, Projection>,
    /// Store profile id → profile number, per class.
    numbers: BTreeMap<EntityKind, HashMap<i64, u32>>,
    /// Whether each number is a stored profile (not a placeholder, not a deleted profile's empty slot).
    real: BTreeMap<EntityKind, Vec<bool>>,
    audiences: BTreeMap<String, Incremental>,
    /// Whether the graph holds the persons' experience events (some audience reads them).
    events: bool,
    /// The last change event the graph reflects.
    seq: i64,
}

/// What patching the resident graph changed.
#[derive(Default)]
struct Patch {
    changes: Vec<Change>,
    /// The latest event that touched each (class, number).
    seqs: HashMap<(EntityKind, u32), i64>,
    /// The primary identity (member string) a number had before the patch, when it was a stored profile.
    former_primaries: HashMap<(EntityKind, u32), String>,
}

impl Resident {
    fn load(engine: &Engine, audiences: &[AudienceRecord]) -> Result<Self> {
        let seq = engine.store.last_change_seq()?;
        let mut fields: BTreeMap<EntityKind, BTreeSet<FieldPath>> = BTreeMap::new();
        let mut events = false;
        for audience in audiences {
            let plan = engine.compile_pql(&audience.pql, audience.entity)?;
            events |= plan.reads_events();
            for (class, paths) in plan.fields() {
                fields.entry(class).or_default().extend(paths);
            }
        }
        for (class, path) in rapport_profile::LINK_PATHS {
            fields.entry(*class).or_default().insert(FieldPath::parse(path).expect("link paths are valid"));
        }
        // What the activation flows map too, so that their runs build payloads from this graph.
        for (class, paths) in engine.activation_fields()? {
            fields.entry(class).or_default().extend(paths);
        }
        let projections: BTreeMap<EntityKind, Projection> =
            fields.iter().map(|(class, paths)| (*class, Projection::new(paths))).collect();
        let mut sets = BTreeMap::new();
        let mut numbers: BTreeMap<EntityKind, HashMap<i64, u32>> = BTreeMap::new();
        // No audience, nothing to keep: the first audience seen later loads the graph.
        let classes = if audiences.is_empty() { &[][..] } else { rapport_profile::LINKED_CLASSES };
        for &class in classes {
            let projection = projections.get(&class);
            let mut profiles = Vec::new();
            let ids = numbers.entry(class).or_default();
            engine.store.for_each_profile(class, |id, primary, identities, text| -> Result<()> {
                let record = project(projection, text)?;
                ids.insert(id, profiles.len() as u32);
                profiles.push(Profile { primary, identities, record });
                Ok(())
            })?;
            sets.insert(class, ProfileSet::new(profiles));
        }
        let mut graph = ProfileGraph::link(sets);
        graph.events.now = engine.faults.now;
        if events {
            engine.attach_events(&mut graph)?;
        }
        let real = graph
            .sets
            .iter()
            .map(|(class, set)| (*class, (0..set.len()).map(|n| n < set.stored()).collect()))
            .collect();
        let mut resident = Self { graph, fields, projections, numbers, real, audiences: BTreeMap::new(), events, seq };
        for audience in audiences {
            let plan = engine.compile_pql(&audience.pql, audience.entity)?;
            let state = Incremental::new(plan, &resident.graph);
            resident.audiences.insert(audience.name.clone(), state);
        }
        info!(audiences = audiences.len(), seq, "audiences resident in memory");
        Ok(resident)
    }

    fn covers(&self, plan: &Plan) -> bool {
        if plan.reads_events() && !self.events {
            return false;
        }
        plan.fields()
            .iter()
            .all(|(class, paths)| paths.is_empty() || self.fields.get(class).is_some_and(|have| paths.is_subset(have)))
    }

    /// The linked graph kept in memory.
    pub(crate) fn graph(&self) -> &ProfileGraph {
        &self.graph
    }

    /// Whether profile number `n` of `class` is a stored profile (not a placeholder, not a deleted profile's
    /// empty slot).
    pub(crate) fn is_real(&self, class: EntityKind, n: u32) -> bool {
        self.real.get(&class).and_then(|r| r.get(n as usize)).copied().unwrap_or(false)
    }

    /// Whether the member string `member` is a member: a stored profile holds it as its primary identity and
    /// the state counts that profile in.
    fn is_member(&self, class: EntityKind, state: &Incremental, member: &str) -> bool {
        let Some((ns, value)) = member.split_once(':') else { return false };
        let identity = Identity::new(ns, value);
        let set = self.graph.set(class);
        set.find(&identity).is_some_and(|n| {
            self.is_real(class, n) && set.profiles[n as usize].primary == identity && state.members().contains(n)
        })
    }

    /// The members of `audience` as profile numbers of its class, when the state kept here is what the store
    /// records: the audience is resident, its memberships were written at the graph's position (`checkpoint`,
    /// the audience's live checkpoint in the store, equals it) and its answer does not move with the clock
    /// (an evaluation elsewhere at another time could differ). `None` otherwise: the caller reads the store.
    pub(crate) fn member_numbers(&self, audience: &str, checkpoint: Option<i64>) -> Option<Vec<u32>> {
        let state = self.audiences.get(audience)?;
        if checkpoint != Some(self.seq) || state.plan().depends_on_now() {
            return None;
        }
        let class = state.plan().entity;
        Some(state.members().iter().filter(|&n| self.is_real(class, n)).collect())
    }

    /// Every member string the state counts in.
    fn members_of(&self, class: EntityKind, state: &Incremental) -> BTreeSet<String> {
        let set = self.graph.set(class);
        state
            .members()
            .iter()
            .filter(|&n| self.is_real(class, n))
            .map(|n| member_key(&set.profiles[n as usize].primary))
            .collect()
    }

    /// Rereads the profiles the events touched and patches them into the graph (relinking it when a
    /// relationship key, an identity or the set of profiles changed). Numbers never move: a new profile takes a
    /// new number, a deleted one leaves an empty slot.
    fn patch(&mut self, store: &rapport_store::Store, events: &[ChangeEvent]) -> Result<Patch> {
        let mut touched: BTreeMap<(EntityKind, i64), i64> = BTreeMap::new();
        for event in events {
            let mut add = |class: EntityKind, id: i64| {
                if rapport_profile::LINKED_CLASSES.contains(&class) {
                    let slot = touched.entry((class, id)).or_insert(event.seq);
                    *slot = (*slot).max(event.seq);
                }
            };
            add(event.entity, event.profile_id);
            for &former in &event.previous {
                add(event.entity, former);
            }
            for related in &event.related {
                if let Some(id) = related.profile_id {
                    add(related.entity, id);
                }
            }
        }
        // Persons whose events changed (the feed names them with path `xEvent`).
        let new_events: BTreeSet<i64> = events
            .iter()
            .filter(|e| e.entity == EntityKind::Person && e.paths.iter().any(|p| p == "xEvent"))
            .map(|e| e.profile_id)
            .collect();
        let mut patch = Patch::default();
        let mut relink = false;
        // Person numbers whose event lists must be reread: new events, new or changed identities (which link
        // events), or an emptied slot. An attribute change alone keeps the list.
        let mut reread: BTreeSet<(EntityKind, u32)> = BTreeSet::new();
        for (&(class, id), &seq) in &touched {
            let row = store.profile_row(class, id)?;
            let projection = self.projections.get(&class);
            let set = self.graph.sets.entry(class).or_default();
            let real = self.real.entry(class).or_default();
            let numbers = self.numbers.entry(class).or_default();
            let number = match (numbers.get(&id).copied(), row) {
                (Some(n), None) => {
                    // Deleted: an empty slot, never a member.
                    let slot = &mut set.profiles[n as usize];
                    if real[n as usize] {
                        patch.former_primaries.insert((class, n), member_key(&slot.primary));
                    }
                    *slot = Profile { primary: Identity::new("", ""), identities: Vec::new(), record: Record::new() };
                    real[n as usize] = false;
                    numbers.remove(&id);
                    relink = true;
                    reread.insert((class, n));
                    n
                }
                (Some(n), Some((primary, identities, text))) => {
                    let record = project(projection, &text)?;
                    let slot = &mut set.profiles[n as usize];
                    patch.former_primaries.insert((class, n), member_key(&slot.primary));
                    let mut old_identities = slot.identities.clone();
                    old_identities.sort();
                    let identities_moved = slot.primary != primary || old_identities != identities;
                    if identities_moved || (class == EntityKind::Person && new_events.contains(&id)) {
                        reread.insert((class, n));
                    }
                    if identities_moved || link_values(class, &slot.record) != link_values(class, &record) {
                        relink = true;
                    }
                    *slot = Profile { primary, identities, record };
                    n
                }
                (None, Some((primary, identities, text))) => {
                    let record = project(projection, &text)?;
                    let profile = Profile { primary, identities, record };
                    // A profile no record names, of identities no profile holds, is linked on its own (with
                    // placeholders for the accounts and opportunities it names); else the graph is linked again.
                    let appended = if relink { Err(profile) } else { self.graph.append(class, profile) };
                    // A profile records named before it arrived takes its placeholder's slot (an account after
                    // its people), when only that placeholder holds its identities.
                    let appended = match appended {
                        Err(profile) if !relink => {
                            match self.graph.set(class).find(&profile.primary).filter(|&n| !self.is_real(class, n)) {
                                Some(slot) => self.graph.fill(class, slot, profile),
                                None => Err(profile),
                            }
                        }
                        other => other,
                    };
                    let n = match appended {
                        Ok(n) => n,
                        Err(profile) => {
                            let set = self.graph.sets.entry(class).or_default();
                            let real = self.real.entry(class).or_default();
                            // A placeholder holding one of its identities gives way (its slot empties).
                            // (Rows past `real` are placeholders an append of this patch added.)
                            for identity in profile.identities.iter().chain([&profile.primary]) {
                                let placeholder = |p: &u32| !real.get(*p as usize).copied().unwrap_or(false);
                                if let Some(p) = set.find(identity).filter(placeholder) {
                                    set.profiles[p as usize] = Profile {
                                        primary: Identity::new("", ""),
                                        identities: Vec::new(),
                                        record: Record::new(),
                                    };
                                    patch.changes.push(Change { entity: class, id: p });
                                    reread.insert((class, p));
                                }
                            }
                            set.profiles.push(profile);
                            relink = true;
                            set.profiles.len() as u32 - 1
                        }
                    };
                    let real = self.real.entry(class).or_default();
                    if real.len() <= n as usize {
                        real.resize(n as usize + 1, false);
                    }
                    real[n as usize] = true;
                    self.numbers.entry(class).or_default().insert(id, n);
                    reread.insert((class, n));
                    n
                }
                (None, None) => continue,
            };
            patch.changes.push(Change { entity: class, id: number });
            let slot = patch.seqs.entry((class, number)).or_insert(seq);
            *slot = (*slot).max(seq);
        }
        if self.events {
            for (_, n) in reread.into_iter().filter(|(class, _)| *class == EntityKind::Person) {
                let events = if self.is_real(EntityKind::Person, n) {
                    let profile = &self.graph.set(EntityKind::Person).profiles[n as usize];
                    crate::events::person_events(store, profile.identities.iter().chain([&profile.primary]))?
                } else {
                    Vec::new()
                };
                self.graph.events.replace(n, events);
            }
        }
        if relink {
            let sets = std::mem::take(&mut self.graph.sets);
            let sets = sets.into_iter().map(|(class, set)| (class, ProfileSet::new(set.profiles))).collect();
            let events = std::mem::take(&mut self.graph.events);
            self.graph = ProfileGraph::link(sets);
            self.graph.events = events;
        }
        // Placeholders the relink or an append added for keys nobody holds: not stored profiles.
        for (class, set) in &self.graph.sets {
            let real = self.real.entry(*class).or_default();
            real.resize(set.len(), false);
        }
        Ok(patch)
    }
}

fn project(projection: Option<&Projection>, text: &str) -> Result<Record> {
    let record: Record =
        serde_json::from_str(text).map_err(|e| crate::Error::Internal(format!("stored profile: {e}")))?;
    Ok(match projection {
        Some(projection) => projection.apply(&record),
        None => record,
    })
}

/// The relationship keys a record holds (what linking reads of it).
fn link_values(class: EntityKind, record: &Record) -> Vec<Vec<String>> {
    rapport_profile::LINK_PATHS.iter().filter(|(c, _)| *c == class).map(|(_, path)| strings(record, path)).collect()
}
