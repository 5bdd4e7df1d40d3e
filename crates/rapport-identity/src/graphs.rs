//! Identity graphs held in memory and updated one record at a time.
//!
//! [`Graphs`] holds records and the graphs the linking rules make of them. [`Graphs::insert`] applies one new
//! record the way the engine applies a batch to its stored profiles (`apply_fragments` in
//! `rapport-engine/src/profiles.rs`, `docs/identity.md` "Incremental = rebuild"): it finds the closed set of
//! graphs the record reaches — the graphs holding one of its identities and, once a rule has cut or evicted a
//! link somewhere, the graphs whose records mention one, repeated until nothing new joins — re-stitches their
//! records with the new one through [`stitch_with`], and puts the resulting graphs in their place. Only the
//! reached graphs are read or written, so an insert costs in proportion to the graphs it reaches, not to the
//! size of the whole graph.
//!
//! Identities are interned to `u32` nodes; a node remembers where it was first seen (record, position), so
//! every identity string is stored once, in its records. The owner of a node is a graph slot; freed slots are
//! reused.

use hashbrown::HashTable;
use rapport_model::Identity;
use rustc_hash::FxHashMap;

use crate::rules::LinkingRules;
use crate::stitch::{stitch_with, RecordRef};

const NONE: u32 = u32::MAX;

/// One record held by [`Graphs`]: its identities (the primary one first) and its source modification time
/// (RFC 3339; records with equal times rank by insertion order, later is newer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRecord {
    identities: Vec<Identity>,
    updated_at: String,
}

impl OwnedRecord {
    /// A record with its primary identity, its other identities and its modification time. The primary
    /// identity may appear among `others` too.
    pub fn new(primary: Identity, others: impl IntoIterator<Item = Identity>, updated_at: impl Into<String>) -> Self {
        let mut identities = vec![primary];
        identities.extend(others);
        Self { identities, updated_at: updated_at.into() }
    }

    /// The primary identity.
    pub fn primary(&self) -> &Identity {
        &self.identities[0]
    }

    /// Every identity, the primary one first.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// The record as [`stitch`](crate::stitch()) reads it.
    pub fn view(&self) -> RecordRef<'_> {
        RecordRef { primary: &self.identities[0], identities: &self.identities, updated_at: &self.updated_at }
    }
}

/// What one [`Graphs::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Update {
    /// Graphs replaced: the closed set the record reached.
    pub replaced: usize,
    /// Graphs written in their place.
    pub written: usize,
    /// Records re-stitched, the new one included.
    pub records: usize,
}

/// Records and their identity graphs under the linking rules, kept current one record at a time.
#[derive(Debug, Clone)]
pub struct Graphs {
    rules: LinkingRules,
    records: Vec<OwnedRecord>,
    /// The nodes of each record's identities, in the record's order: `record_node[node_start[r]..node_start[r + 1]]`.
    node_start: Vec<u32>,
    record_node: Vec<u32>,
    /// The node numbers, hashed by identity.
    table: HashTable<u32>,
    /// Where each node was first seen: (record, position among its identities).
    first_seen: Vec<(u32, u32)>,
    /// The graph slot holding each node, or `NONE` (a cut or evicted identity no record holds as primary).
    owner: Vec<u32>,
    /// The slots whose records carry a node without their graph holding it (only after a rule fired).
    mentioned_by: FxHashMap<u32, Vec<u32>>,
    /// The records of each slot, ascending; empty for a free slot.
    graphs: Vec<Vec<u32>>,
    free: Vec<u32>,
}

fn hash_of(identity: &Identity) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    let namespace = identity.namespace.as_str();
    hasher.write_usize(namespace.len());
    hasher.write(namespace.as_bytes());
    hasher.write(identity.value.as_bytes());
    hasher.finish()
}

impl Graphs {
    /// No record, no graph.
    pub fn new(rules: LinkingRules) -> Self {
        Self {
            rules,
            records: Vec::new(),
            node_start: vec![0],
            record_node: Vec::new(),
            table: HashTable::new(),
            first_seen: Vec::new(),
            owner: Vec::new(),
            mentioned_by: FxHashMap::default(),
            graphs: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The graphs of `records`, stitched all at once (the result [`Graphs::insert`] of each record in turn gives).
    pub fn from_records(records: Vec<OwnedRecord>, rules: LinkingRules) -> Self {
        let mut out = Self::new(rules);
        out.records.reserve(records.len());
        out.node_start.reserve(records.len());
        for record in records {
            out.push(record);
        }
        let all: Vec<u32> = (0..out.records.len() as u32).collect();
        out.restitch(&all, &[]);
        out
    }

    /// Makes room for `records` more records carrying `identities` more identities in all (new ones and
    /// repeats), so that inserting them does not grow (copy) the arrays on the way; growth is amortized, but
    /// one insert that doubles an array of millions of entries takes milliseconds.
    pub fn reserve(&mut self, records: usize, identities: usize) {
        self.records.reserve(records);
        self.node_start.reserve(records);
        self.record_node.reserve(identities);
        self.first_seen.reserve(identities);
        self.owner.reserve(identities);
        self.graphs.reserve(records);
        let Graphs { records, table, first_seen, .. } = self;
        table.reserve(identities, |&n| {
            let (r, p) = first_seen[n as usize];
            hash_of(&records[r as usize].identities[p as usize])
        });
    }

    /// The linking rules.
    pub fn rules(&self) -> &LinkingRules {
        &self.rules
    }

    /// Every record, in insertion order (a record's number is its position).
    pub fn records(&self) -> &[OwnedRecord] {
        &self.records
    }

    /// The number of graphs.
    pub fn len(&self) -> usize {
        self.graphs.len() - self.free.len()
    }

    /// True when there is no graph (no record).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of identities held by a graph.
    pub fn identity_count(&self) -> usize {
        self.owner.iter().filter(|&&slot| slot != NONE).count()
    }

    /// The slots of the graphs, ascending.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.graphs.iter().enumerate().filter(|(_, records)| !records.is_empty()).map(|(slot, _)| slot as u32)
    }

    /// The slot of the graph holding `identity`.
    pub fn graph_of(&self, identity: &Identity) -> Option<u32> {
        self.find(identity).map(|node| self.owner[node as usize]).filter(|&slot| slot != NONE)
    }

    /// The slot of the graph a record belongs to (the graph holding its primary identity).
    ///
    /// # Panics
    ///
    /// When `record` is not below the number of records.
    pub fn graph_of_record(&self, record: u32) -> u32 {
        self.owner[self.record_node[self.node_start[record as usize] as usize] as usize]
    }

    /// The records of a graph, ascending (empty for a slot that holds no graph).
    pub fn records_of(&self, slot: u32) -> &[u32] {
        self.graphs.get(slot as usize).map_or(&[], Vec::as_slice)
    }

    /// The identities of a graph, sorted.
    pub fn identities_of(&self, slot: u32) -> Vec<&Identity> {
        let mut nodes: Vec<u32> = self
            .records_of(slot)
            .iter()
            .flat_map(|&r| self.nodes_of(r))
            .filter(|&n| self.owner[n as usize] == slot)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let mut out: Vec<&Identity> = nodes.into_iter().map(|n| self.identity(n)).collect();
        out.sort_unstable();
        out
    }

    /// Adds one record and re-stitches the graphs it reaches (see the module documentation); returns its
    /// number and what changed.
    pub fn insert(&mut self, record: OwnedRecord) -> (u32, Update) {
        let number = self.push(record);
        let mentions_exist = !self.mentioned_by.is_empty();
        // The closed set of slots, grown from the record's identities as `closure` in the engine grows it.
        let mut reached: Vec<u32> = Vec::new();
        let mut seen: Vec<u32> = self.nodes_of(number).collect();
        let mut frontier = seen.clone();
        while !frontier.is_empty() {
            let before = reached.len();
            for &node in &frontier {
                let owner = self.owner[node as usize];
                if owner != NONE && !reached.contains(&owner) {
                    reached.push(owner);
                }
                if mentions_exist {
                    for &slot in self.mentioned_by.get(&node).map_or(&[][..], Vec::as_slice) {
                        if !reached.contains(&slot) {
                            reached.push(slot);
                        }
                    }
                }
            }
            frontier.clear();
            if mentions_exist {
                for &slot in &reached[before..] {
                    for &record in &self.graphs[slot as usize] {
                        for node in self.nodes_of(record) {
                            if !seen.contains(&node) {
                                seen.push(node);
                                frontier.push(node);
                            }
                        }
                    }
                }
            }
        }
        let mut records: Vec<u32> =
            reached.iter().flat_map(|&slot| self.graphs[slot as usize].iter().copied()).collect();
        records.push(number);
        records.sort_unstable();
        let written = self.restitch(&records, &reached);
        (number, Update { replaced: reached.len(), written, records: records.len() })
    }

    /// Stitches `records` (ascending), drops the graphs of `old` slots and writes the new graphs; returns their
    /// number.
    fn restitch(&mut self, records: &[u32], old: &[u32]) -> usize {
        // What the new graphs hold, as (records, identity nodes, mentioned nodes), computed while the
        // stitching borrows the records.
        let mut fresh: Vec<(Vec<u32>, Vec<u32>, Vec<u32>)> = Vec::new();
        {
            let stitching = stitch_with(records, |&r| self.records[r as usize].view(), &self.rules);
            fresh.reserve(stitching.len());
            for graph in stitching.graphs() {
                let members: Vec<u32> = graph.records().iter().map(|&i| records[i as usize]).collect();
                let identities: Vec<u32> =
                    graph.identities().map(|identity| self.find(identity).expect("interned on push")).collect();
                let mentions: Vec<u32> = graph
                    .mentions()
                    .into_iter()
                    .map(|identity| self.find(identity).expect("interned on push"))
                    .collect();
                fresh.push((members, identities, mentions));
            }
        }
        for &slot in old {
            let members = std::mem::take(&mut self.graphs[slot as usize]);
            for &record in &members {
                let (start, end) =
                    (self.node_start[record as usize] as usize, self.node_start[record as usize + 1] as usize);
                for &node in &self.record_node[start..end] {
                    if self.owner[node as usize] == slot {
                        self.owner[node as usize] = NONE;
                    }
                    if let Some(slots) = self.mentioned_by.get_mut(&node) {
                        slots.retain(|&s| s != slot);
                        if slots.is_empty() {
                            self.mentioned_by.remove(&node);
                        }
                    }
                }
            }
            self.free.push(slot);
        }
        let written = fresh.len();
        for (members, identities, mentions) in fresh {
            let slot = match self.free.pop() {
                Some(slot) => slot,
                None => {
                    self.graphs.push(Vec::new());
                    u32::try_from(self.graphs.len() - 1)
                        .ok()
                        .filter(|&s| s != NONE)
                        .expect("fewer than 2^32 - 1 graphs")
                }
            };
            for node in identities {
                self.owner[node as usize] = slot;
            }
            for node in mentions {
                self.mentioned_by.entry(node).or_default().push(slot);
            }
            self.graphs[slot as usize] = members;
        }
        written
    }

    /// Appends a record and interns its identities (new nodes belong to no graph yet); returns its number.
    fn push(&mut self, record: OwnedRecord) -> u32 {
        let number =
            u32::try_from(self.records.len()).ok().filter(|&n| n != NONE).expect("fewer than 2^32 - 1 records");
        self.records.push(record);
        let Graphs { records, table, first_seen, owner, record_node, .. } = self;
        let records: &[OwnedRecord] = records;
        let identity_at = |seen: &[(u32, u32)], node: u32| {
            let (r, p) = seen[node as usize];
            &records[r as usize].identities[p as usize]
        };
        for (position, identity) in records[number as usize].identities.iter().enumerate() {
            let hash = hash_of(identity);
            let node = match table.find(hash, |&n| identity_at(first_seen, n) == identity) {
                Some(&node) => node,
                None => {
                    let node = u32::try_from(first_seen.len())
                        .ok()
                        .filter(|&n| n != NONE)
                        .expect("fewer than 2^32 - 1 identities");
                    first_seen.push((number, position as u32));
                    // The table holds node numbers only: hashes are recomputed from the identities when it grows.
                    table.insert_unique(hash, node, |&n| hash_of(identity_at(first_seen, n)));
                    owner.push(NONE);
                    node
                }
            };
            record_node.push(node);
        }
        self.node_start.push(u32::try_from(self.record_node.len()).expect("fewer than 2^32 record identities"));
        number
    }

    fn nodes_of(&self, record: u32) -> impl Iterator<Item = u32> + '_ {
        let (start, end) = (self.node_start[record as usize] as usize, self.node_start[record as usize + 1] as usize);
        self.record_node[start..end].iter().copied()
    }

    fn identity(&self, node: u32) -> &Identity {
        let (record, position) = self.first_seen[node as usize];
        &self.records[record as usize].identities[position as usize]
    }

    fn find(&self, identity: &Identity) -> Option<u32> {
        self.table.find(hash_of(identity), |&node| self.identity(node) == identity).copied()
    }
}
