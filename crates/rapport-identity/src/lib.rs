//! The identity graph: identities that arrive together in one record are linked, and graphs are the
//! connected components of those links (B2B-DOMAIN b.4).
//!
//! - [`rules`]: the linking rules — unique namespaces, namespace priority, at most 20 identities per record
//!   and 50 per graph, and the eviction order (B2B-DOMAIN b.4–b.5, h.1; defaults in `docs/identity.md`).
//! - [`stitch()`]: records grouped into graphs under those rules, with every decision (link made, link cut,
//!   link removed by an eviction, identity over the record limit). Identities are interned to `u32` nodes and
//!   the union-find runs over them; graphs are numbered in order of their first record, so results do not
//!   depend on hash order.
//! - [`IdentityGraph`]: a growing union-find over owned identities, for linking one record at a time (plain
//!   connected components, without the linking rules).
//!
//! Pure computation: this crate reads and writes no storage (the engine stores graphs and decisions). Unmerge
//! (deleting identities or records) is not here.

pub mod rules;
pub mod stitch;

pub use rules::{EvictionClass, LinkingRules, NamespaceRule, MAX_IDENTITIES_PER_GRAPH, MAX_IDENTITIES_PER_RECORD};
pub use stitch::{stitch, stitch_with, Decision, GraphRef, Interned, Outcome, RecordRef, Stitching};

use rapport_model::Identity;
use rustc_hash::FxHashMap;

/// A union-find over identities.
#[derive(Debug, Default, Clone)]
pub struct IdentityGraph {
    /// FxHash: identities are short strings hashed millions of times; SipHash's DoS resistance buys nothing
    /// for values that come from the customer's own sources.
    index: FxHashMap<Identity, u32>,
    nodes: Vec<Identity>,
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl IdentityGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of identities in the graph.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the graph holds no identity.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn node(&mut self, identity: &Identity) -> u32 {
        if let Some(&id) = self.index.get(identity) {
            return id;
        }
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 identities");
        self.index.insert(identity.clone(), id);
        self.nodes.push(identity.clone());
        self.parent.push(id);
        self.size.push(1);
        id
    }

    fn find(&mut self, mut node: u32) -> u32 {
        // Path halving: every other node on the way points to its grandparent.
        while self.parent[node as usize] != node {
            let grandparent = self.parent[self.parent[node as usize] as usize];
            self.parent[node as usize] = grandparent;
            node = grandparent;
        }
        node
    }

    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return a;
        }
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] { (a, b) } else { (b, a) };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
        big
    }

    /// Adds the identities of one record and links them all together; returns the root node of their graph,
    /// or `None` for an empty slice.
    pub fn link(&mut self, identities: &[Identity]) -> Option<u32> {
        let (first, rest) = identities.split_first()?;
        let mut root = self.node(first);
        for identity in rest {
            let node = self.node(identity);
            root = self.union(root, node);
        }
        Some(root)
    }

    /// The root node of the graph holding `identity`.
    pub fn root_of(&mut self, identity: &Identity) -> Option<u32> {
        let node = *self.index.get(identity)?;
        Some(self.find(node))
    }

    /// True when both identities are in the same graph.
    pub fn connected(&mut self, a: &Identity, b: &Identity) -> bool {
        match (self.root_of(a), self.root_of(b)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ns: &str, value: &str) -> Identity {
        Identity::new(ns, value)
    }

    #[test]
    fn a_bridge_merges_two_graphs() {
        // The documented example: {PHONE, EMAIL, CRMID} + {CRMID, ECID} → the ECID joins the graph.
        let mut graph = IdentityGraph::new();
        graph.link(&[id("Phone", "555-555-1234"), id("Email", "julien@acme.com"), id("CRMID", "60013ABC")]);
        graph.link(&[id("ECID", "100066526")]);
        assert!(!graph.connected(&id("ECID", "100066526"), &id("Email", "julien@acme.com")));
        graph.link(&[id("CRMID", "60013ABC"), id("ECID", "100066526")]);
        assert!(graph.connected(&id("ECID", "100066526"), &id("Email", "julien@acme.com")));
        assert_eq!(graph.len(), 4);
    }
}
