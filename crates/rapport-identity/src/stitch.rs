//! Stitching records into graphs under the linking rules (see `docs/identity.md` for the algorithm).
//!
//! Identities are interned to `u32` nodes (a namespace id plus the borrowed value), links are kept in flat
//! arrays, and the union-find runs over `u32`; the output is a set of flat arrays too, so stitching a million
//! records allocates a handful of vectors rather than a few per graph. Nothing is cloned: the result borrows
//! the input identities.

use hashbrown::HashTable;
use rapport_model::{Identity, NamespaceCode};
use rustc_hash::FxHashMap;

use crate::rules::{EvictionClass, LinkingRules, NamespaceRule};

/// One record to stitch: its primary identity, every identity it carries (the primary one may be among them)
/// and its source modification time (RFC 3339; the most recent record wins a unique-namespace conflict).
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// The record's primary identity: the record belongs to the graph holding it.
    pub primary: &'a Identity,
    /// Every identity of the record.
    pub identities: &'a [Identity],
    /// Source modification time; records with equal times rank by input position (later is newer).
    pub updated_at: &'a str,
}

/// The fate of one link (a record's primary identity with one of its other identities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Linked: both identities arrived together in the record (rule `record`).
    Linked,
    /// Refused: it would have put two values of a unique namespace in one graph, which already held `kept`
    /// (rule `unique_namespace`; newer records had linked first).
    Cut {
        /// The value of a unique namespace the record's graph held.
        kept: &'a Identity,
        /// The other value of that namespace, held by the graph of the other identity.
        refused: &'a Identity,
    },
    /// Removed because `node` (one of its two ends) was evicted from a graph over the cap (rule `graph_cap`).
    Evicted {
        /// The evicted identity.
        node: &'a Identity,
    },
    /// Not linked: the record carries more identities than the per-record limit (rule `record_limit`).
    OverRecordLimit,
}

impl Outcome<'_> {
    /// The rule that decided, as recorded and shown by explain.
    pub fn rule(&self) -> &'static str {
        match self {
            Outcome::Linked => "record",
            Outcome::Cut { .. } => "unique_namespace",
            Outcome::Evicted { .. } => "graph_cap",
            Outcome::OverRecordLimit => "record_limit",
        }
    }
}

/// One recorded decision about one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The record (input position).
    pub record: usize,
    /// The record's primary identity.
    pub from: &'a Identity,
    /// The other identity of the link.
    pub to: &'a Identity,
    /// What happened.
    pub outcome: Outcome<'a>,
}

/// A link's fate as stored internally (node numbers instead of references).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Linked,
    Cut(u32, u32),
    Evicted(u32),
}

const NONE: u32 = u32::MAX;

/// Identities interned to `u32` nodes, and records as flat arrays of node numbers: the input of the linking
/// step. A node is `(namespace id, value)`; the table holds only node numbers (4 bytes a slot) and hashes are
/// recomputed from the borrowed identities when it grows.
#[derive(Debug, Clone)]
pub struct Interned<'a> {
    namespaces: Vec<&'a NamespaceCode>,
    nodes: Vec<&'a Identity>,
    namespace_of: Vec<u32>,
    primary_node: Vec<u32>,
    link_start: Vec<u32>,
    link_to: Vec<u32>,
    updated_at: Vec<&'a str>,
    /// Identities beyond the per-record limit, by record (ascending).
    over_limit: Vec<(u32, &'a Identity)>,
}

fn hash_of(namespace: u32, value: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write_u32(namespace);
    hasher.write(value.as_bytes());
    hasher.finish()
}

impl<'a> Interned<'a> {
    /// Interns `records` (viewed through `view`), keeping at most `max_per_record` identities of each.
    pub fn new<'s, T>(records: &'s [T], view: impl Fn(&'s T) -> RecordRef<'a>, max_per_record: usize) -> Self {
        let n = records.len();
        let mut table: HashTable<u32> = HashTable::with_capacity(n + n / 2);
        let mut out = Interned {
            namespaces: Vec::new(),
            nodes: Vec::with_capacity(n + n / 2),
            namespace_of: Vec::with_capacity(n + n / 2),
            primary_node: Vec::with_capacity(n),
            link_start: Vec::with_capacity(n + 1),
            link_to: Vec::with_capacity(n.saturating_mul(2)),
            updated_at: Vec::with_capacity(n),
            over_limit: Vec::new(),
        };
        out.link_start.push(0);
        for (position, record) in records.iter().enumerate() {
            let record = view(record);
            let primary = out.node(&mut table, record.primary);
            out.primary_node.push(primary);
            out.updated_at.push(record.updated_at);
            let start = out.link_to.len();
            for (i, identity) in record.identities.iter().enumerate() {
                if identity == record.primary {
                    continue;
                }
                if out.link_to.len() - start + 1 >= max_per_record {
                    if !record.identities[..i].contains(identity) {
                        out.over_limit.push((position as u32, identity));
                    }
                    continue;
                }
                let node = out.node(&mut table, identity);
                if !out.link_to[start..].contains(&node) {
                    out.link_to.push(node);
                }
            }
            out.link_start.push(u32::try_from(out.link_to.len()).expect("fewer than 2^32 links"));
        }
        out
    }

    /// The number of distinct identities.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there is no identity.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn namespace(&mut self, code: &'a NamespaceCode) -> u32 {
        // A dataset uses a handful of namespaces: a linear scan beats hashing the code.
        match self.namespaces.iter().position(|&n| n == code) {
            Some(i) => i as u32,
            None => {
                self.namespaces.push(code);
                (self.namespaces.len() - 1) as u32
            }
        }
    }

    fn node(&mut self, table: &mut HashTable<u32>, identity: &'a Identity) -> u32 {
        let ns = self.namespace(&identity.namespace);
        let value = identity.value.as_str();
        let (nodes, namespace_of) = (&self.nodes, &self.namespace_of);
        let entry = table.entry(
            hash_of(ns, value),
            |&n| namespace_of[n as usize] == ns && nodes[n as usize].value == value,
            |&n| hash_of(namespace_of[n as usize], &nodes[n as usize].value),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let next = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&n| n != NONE)
                    .expect("fewer than 2^32 - 1 identities");
                e.insert(next);
                self.nodes.push(identity);
                self.namespace_of.push(ns);
                next
            }
        }
    }
}

/// Union-find over `u32` nodes with path halving and union by size.
struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self { parent: (0..n as u32).collect(), size: vec![1; n] }
    }

    fn find(&mut self, mut node: u32) -> u32 {
        while self.parent[node as usize] != node {
            let grandparent = self.parent[self.parent[node as usize] as usize];
            self.parent[node as usize] = grandparent;
            node = grandparent;
        }
        node
    }

    /// Joins two roots; returns the new root.
    fn union_roots(&mut self, a: u32, b: u32) -> u32 {
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] { (a, b) } else { (b, a) };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        big
    }
}

/// Records grouped into graphs under the linking rules. Graphs are numbered by their first record (input
/// order); a record belongs to the graph of its primary identity.
pub struct Stitching<'a> {
    nodes: Vec<&'a Identity>,
    primary_node: Vec<u32>,
    link_start: Vec<u32>,
    link_to: Vec<u32>,
    fate: Vec<Fate>,
    /// Identities beyond the per-record limit, by record (ascending).
    over_limit: Vec<(u32, &'a Identity)>,
    graph_of_record: Vec<u32>,
    graph_of_node: Vec<u32>,
    record_start: Vec<u32>,
    records: Vec<u32>,
    identity_start: Vec<u32>,
    identities: Vec<u32>,
}

/// One graph of a [`Stitching`].
#[derive(Clone, Copy)]
pub struct GraphRef<'s, 'a> {
    stitching: &'s Stitching<'a>,
    number: usize,
}

impl<'a> Stitching<'a> {
    /// The number of graphs.
    pub fn len(&self) -> usize {
        self.record_start.len() - 1
    }

    /// True when there is no graph (no record).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The graph of a record (input position).
    pub fn graph_of(&self, record: usize) -> usize {
        self.graph_of_record[record] as usize
    }

    /// One graph.
    ///
    /// # Panics
    ///
    /// When `number` is not below [`Stitching::len`].
    pub fn graph(&self, number: usize) -> GraphRef<'_, 'a> {
        assert!(number < self.len(), "graph {number} of {}", self.len());
        GraphRef { stitching: self, number }
    }

    /// Every graph, in number order.
    pub fn graphs(&self) -> impl ExactSizeIterator<Item = GraphRef<'_, 'a>> + '_ {
        (0..self.len()).map(|number| GraphRef { stitching: self, number })
    }

    /// The total number of identities in graphs (evicted or cut identities that no record holds as its
    /// primary are in no graph).
    pub fn identity_count(&self) -> usize {
        self.identities.len()
    }
}

impl<'s, 'a> GraphRef<'s, 'a> {
    /// The graph's number.
    pub fn number(&self) -> usize {
        self.number
    }

    /// Its records (input positions, ascending).
    pub fn records(&self) -> &'s [u32] {
        let s = self.stitching;
        &s.records[s.record_start[self.number] as usize..s.record_start[self.number + 1] as usize]
    }

    /// Its identities, sorted. They are sorted here, when a graph is read, not while stitching: a stitch
    /// computes the graphs of every record, and only the graphs a caller reads pay for the order.
    pub fn identities(&self) -> impl ExactSizeIterator<Item = &'a Identity> + 's {
        let s = self.stitching;
        let mut out: Vec<&'a Identity> = s.identities
            [s.identity_start[self.number] as usize..s.identity_start[self.number + 1] as usize]
            .iter()
            .map(|&node| s.nodes[node as usize])
            .collect();
        out.sort_unstable();
        out.into_iter()
    }

    /// The identities its records carry (within the per-record limit) that are not in the graph, because a
    /// link was cut or evicted: sorted, distinct. Such an identity ties this graph to the graph holding it, so
    /// the two must be re-stitched together.
    pub fn mentions(&self) -> Vec<&'a Identity> {
        let s = self.stitching;
        let mut out: Vec<&'a Identity> = Vec::new();
        for &record in self.records() {
            let links = s.link_start[record as usize] as usize..s.link_start[record as usize + 1] as usize;
            for &node in &s.link_to[links] {
                if s.graph_of_node[node as usize] != self.number as u32 {
                    out.push(s.nodes[node as usize]);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// True when the graph is one record whose primary identity was linked with each of its other
    /// identities: every decision of [`GraphRef::decisions`] would be [`Outcome::Linked`], from that primary, one
    /// for each other identity of the graph. Answers without building the decisions (most graphs of a load
    /// are such, and a caller that stores decisions can leave theirs implied).
    pub fn is_one_linked_record(&self) -> bool {
        let s = self.stitching;
        let &[record] = self.records() else { return false };
        let links = s.link_start[record as usize] as usize..s.link_start[record as usize + 1] as usize;
        let all_linked = links.clone().all(|i| matches!(s.fate.get(i), None | Some(Fate::Linked)));
        let over_limit = s.over_limit.binary_search_by_key(&record, |(r, _)| *r).is_ok();
        // Only links join identities, so a graph of one record whose links all hold is its primary and its
        // links (distinct, never the primary) and nothing else.
        debug_assert!(
            !all_linked
                || (s.identity_start[self.number + 1] - s.identity_start[self.number]) as usize == links.len() + 1
        );
        all_linked && !over_limit
    }

    /// Every decision about the links of its records: by record, then in the record's order.
    pub fn decisions(&self) -> Vec<Decision<'a>> {
        let s = self.stitching;
        let mut out = Vec::new();
        for &record in self.records() {
            let from = s.nodes[s.primary_node[record as usize] as usize];
            let links = s.link_start[record as usize] as usize..s.link_start[record as usize + 1] as usize;
            for (i, &node) in links.clone().zip(&s.link_to[links]) {
                let fate = s.fate.get(i).copied().unwrap_or(Fate::Linked);
                let outcome = match fate {
                    Fate::Linked => Outcome::Linked,
                    Fate::Cut(kept, refused) => {
                        Outcome::Cut { kept: s.nodes[kept as usize], refused: s.nodes[refused as usize] }
                    }
                    Fate::Evicted(evicted) => Outcome::Evicted { node: s.nodes[evicted as usize] },
                };
                out.push(Decision { record: record as usize, from, to: s.nodes[node as usize], outcome });
            }
            let first = s.over_limit.partition_point(|(r, _)| *r < record);
            for &(_, to) in s.over_limit[first..].iter().take_while(|(r, _)| *r == record) {
                out.push(Decision { record: record as usize, from, to, outcome: Outcome::OverRecordLimit });
            }
        }
        out
    }
}

/// Stitches records under `rules`; see the module documentation and `docs/identity.md`.
///
/// 1. Each record links its primary identity with each of its other identities, up to
///    `rules.max_per_record` identities (the primary first, then the record's order); the rest are not linked.
/// 2. When a namespace of the input is unique, records are processed newest first (`updated_at`, then input
///    position), and within a record its links by namespace priority, then identity. A link that would put
///    two values of a unique namespace in one graph is cut. Without a unique namespace the order cannot
///    change the result, and records are processed in input order.
/// 3. A graph over `rules.max_per_graph` identities evicts the surplus: lowest [`EvictionClass`] first,
///    then the identity last seen longest ago (the newest `updated_at` of the records carrying it), then by
///    identity. The links of an evicted identity are removed, and what remains is regrouped.
pub fn stitch<'a>(records: &[RecordRef<'a>], rules: &LinkingRules) -> Stitching<'a> {
    stitch_with(records, |r| *r, rules)
}

/// [`stitch`] over any records, seen through `view` (no intermediate list of [`RecordRef`]).
pub fn stitch_with<'a, 's, T>(
    records: &'s [T],
    view: impl Fn(&'s T) -> RecordRef<'a>,
    rules: &LinkingRules,
) -> Stitching<'a> {
    Interned::new(records, view, rules.max_per_record).stitch(rules)
}

impl<'a> Interned<'a> {
    /// Steps 2–4 of [`stitch`]: links, cuts, evictions and the graphs.
    pub fn stitch(self, rules: &LinkingRules) -> Stitching<'a> {
        let Interned { namespaces, nodes, namespace_of, primary_node, link_start, link_to, updated_at, over_limit } =
            self;
        let n = primary_node.len();
        let ns_rules: Vec<NamespaceRule> = namespaces.iter().map(|code| rules.rule(code)).collect();
        // Every link is `Linked` until a rule decides otherwise; the list is only allocated then.
        let mut fate: Vec<Fate> = Vec::new();
        let mut uf = UnionFind::new(nodes.len());

        if ns_rules.iter().any(|r| r.unique) {
            fate = vec![Fate::Linked; link_to.len()];
            link_newest_first(
                &updated_at,
                &nodes,
                &namespace_of,
                &ns_rules,
                &primary_node,
                &link_start,
                &link_to,
                &mut fate,
                &mut uf,
            );
        } else {
            for (record, &primary) in primary_node.iter().enumerate() {
                let mut root = uf.find(primary);
                for &node in &link_to[link_start[record] as usize..link_start[record + 1] as usize] {
                    let other = uf.find(node);
                    if other != root {
                        root = uf.union_roots(root, other);
                    }
                }
            }
        }

        let classes: Vec<EvictionClass> = namespaces.iter().map(|code| rules.class(code)).collect();
        evict(
            &updated_at,
            rules,
            &nodes,
            &namespace_of,
            &classes,
            &primary_node,
            &link_start,
            &link_to,
            &mut fate,
            &mut uf,
        );

        // Number graphs by their first record, then lay out records and identities per graph. The sizes are not
        // needed any more: their array holds each root's graph number (fresh pages cost as much as the work).
        let mut number_of_root = std::mem::take(&mut uf.size);
        number_of_root.fill(NONE);
        let mut graph_of_record = Vec::with_capacity(n);
        let mut graphs = 0u32;
        for &primary in &primary_node {
            let root = uf.find(primary) as usize;
            if number_of_root[root] == NONE {
                number_of_root[root] = graphs;
                graphs += 1;
            }
            graph_of_record.push(number_of_root[root]);
        }
        let graph_of_node: Vec<u32> =
            (0..nodes.len() as u32).map(|node| number_of_root[uf.find(node) as usize]).collect();
        let (record_start, records_by_graph) = group(graphs as usize, graph_of_record.iter().copied().enumerate());
        let (identity_start, identities) =
            group(graphs as usize, graph_of_node.iter().copied().enumerate().filter(|(_, g)| *g != NONE));
        Stitching {
            nodes,
            primary_node,
            link_start,
            link_to,
            fate,
            over_limit,
            graph_of_record,
            graph_of_node,
            record_start,
            records: records_by_graph,
            identity_start,
            identities,
        }
    }
}

/// Counting sort of `(item, group)` pairs: the start of each group (plus the end) and the items by group,
/// ascending within a group.
fn group(groups: usize, items: impl Iterator<Item = (usize, u32)> + Clone) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; groups + 1];
    for (_, g) in items.clone() {
        start[g as usize + 1] += 1;
    }
    for g in 0..groups {
        start[g + 1] += start[g];
    }
    let mut fill = start.clone();
    let mut out = vec![0u32; start[groups] as usize];
    for (item, g) in items {
        out[fill[g as usize] as usize] = item as u32;
        fill[g as usize] += 1;
    }
    (start, out)
}

/// Step 2 of [`stitch`] with unique namespaces: newest record first, refusing links that break a limit.
#[allow(clippy::too_many_arguments)]
fn link_newest_first<'a>(
    updated_at: &[&'a str],
    nodes: &[&'a Identity],
    namespace_of: &[u32],
    ns_rules: &[NamespaceRule],
    primary_node: &[u32],
    link_start: &[u32],
    link_to: &[u32],
    fate: &mut [Fate],
    uf: &mut UnionFind,
) {
    let mut order: Vec<u32> = (0..updated_at.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| (updated_at[b as usize], b).cmp(&(updated_at[a as usize], a)));
    // The values of unique namespaces each root holds: (namespace id, node).
    let mut held: FxHashMap<u32, Vec<(u32, u32)>> = FxHashMap::default();
    for (node, &ns) in namespace_of.iter().enumerate() {
        if ns_rules[ns as usize].unique {
            held.insert(node as u32, vec![(ns, node as u32)]);
        }
    }
    let mut links: Vec<usize> = Vec::new();
    for record in order {
        let record = record as usize;
        links.clear();
        links.extend(link_start[record] as usize..link_start[record + 1] as usize);
        links.sort_by(|&a, &b| {
            let (na, nb) = (link_to[a] as usize, link_to[b] as usize);
            (ns_rules[namespace_of[na] as usize].priority, nodes[na])
                .cmp(&(ns_rules[namespace_of[nb] as usize].priority, nodes[nb]))
        });
        for &link in &links {
            let root = uf.find(primary_node[record]);
            let other = uf.find(link_to[link]);
            if root == other {
                continue;
            }
            let conflict = match (held.get(&root), held.get(&other)) {
                (Some(mine), Some(theirs)) => mine.iter().find_map(|&(ns, kept)| {
                    theirs
                        .iter()
                        .find(|&&(ns2, refused)| ns == ns2 && kept != refused)
                        .map(|&(_, refused)| (kept, refused))
                }),
                _ => None,
            };
            if let Some((kept, refused)) = conflict {
                fate[link] = Fate::Cut(kept, refused);
                continue;
            }
            let joined = uf.union_roots(root, other);
            let gone = if joined == root { other } else { root };
            if let Some(moved) = held.remove(&gone) {
                held.entry(joined).or_default().extend(moved);
            }
        }
    }
}

/// Step 3 of [`stitch`]: evicts the surplus of graphs over the cap and regroups what remains.
#[allow(clippy::too_many_arguments)]
fn evict<'a>(
    updated_at: &[&'a str],
    rules: &LinkingRules,
    nodes: &[&'a Identity],
    namespace_of: &[u32],
    classes: &[EvictionClass],
    primary_node: &[u32],
    link_start: &[u32],
    link_to: &[u32],
    fate: &mut Vec<Fate>,
    uf: &mut UnionFind,
) {
    let cap = rules.max_per_graph as u32;
    let full: Vec<u32> = (0..nodes.len() as u32)
        .filter(|&node| uf.parent[node as usize] == node && uf.size[node as usize] > cap)
        .collect();
    if full.is_empty() {
        return;
    }
    if fate.is_empty() {
        *fate = vec![Fate::Linked; link_to.len()];
    }
    let mut members: FxHashMap<u32, Vec<u32>> = full.iter().map(|&root| (root, Vec::new())).collect();
    let mut in_full = vec![false; nodes.len()];
    for node in 0..nodes.len() as u32 {
        if let Some(list) = members.get_mut(&uf.find(node)) {
            list.push(node);
            in_full[node as usize] = true;
        }
    }
    // When each identity of a full graph was last seen: the newest record carrying it.
    let mut seen: FxHashMap<u32, &'a str> = FxHashMap::default();
    for (record, &primary) in primary_node.iter().enumerate() {
        let carried =
            std::iter::once(&primary).chain(&link_to[link_start[record] as usize..link_start[record + 1] as usize]);
        for &node in carried {
            if in_full[node as usize] {
                let at = seen.entry(node).or_insert(updated_at[record]);
                if *at < updated_at[record] {
                    *at = updated_at[record];
                }
            }
        }
    }
    let mut evicted = vec![false; nodes.len()];
    for root in full {
        let mut list = members.remove(&root).expect("listed above");
        list.sort_unstable_by(|&a, &b| {
            (classes[namespace_of[a as usize] as usize], seen[&a], nodes[a as usize]).cmp(&(
                classes[namespace_of[b as usize] as usize],
                seen[&b],
                nodes[b as usize],
            ))
        });
        let surplus = list.len() - cap as usize;
        for &node in &list[..surplus] {
            evicted[node as usize] = true;
        }
        for &node in &list {
            uf.parent[node as usize] = node;
            uf.size[node as usize] = 1;
        }
    }
    for (record, &primary) in primary_node.iter().enumerate() {
        if !in_full[primary as usize] {
            continue;
        }
        for link in link_start[record] as usize..link_start[record + 1] as usize {
            if fate[link] != Fate::Linked {
                continue;
            }
            let node = link_to[link];
            if evicted[primary as usize] {
                fate[link] = Fate::Evicted(primary);
            } else if evicted[node as usize] {
                fate[link] = Fate::Evicted(node);
            } else {
                let (a, b) = (uf.find(primary), uf.find(node));
                if a != b {
                    uf.union_roots(a, b);
                }
            }
        }
    }
}
