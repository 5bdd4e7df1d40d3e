//! The identity graph: identities that arrive together in one record are linked, and graphs are the
//! connected components of those links (B2B-DOMAIN b.4).
//!
//! [`IdentityGraph`] is a union-find over `(namespace, normalized value)` nodes with path halving and union by
//! size, so stitching N identities costs near-linear time. [`stitch`] groups fragments by graph, numbering
//! graphs in order of their first fragment, which makes results independent of hash order.
//!
//! Not here yet (a later issue): unique-namespace limits, namespace priority, the 50-identity cap with
//! eviction, explain and unmerge. Pure computation: this crate reads and writes no storage.

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

/// Fragments grouped into graphs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stitching {
    /// For each input fragment (in input order), the number of its graph.
    pub graph_of_fragment: Vec<usize>,
    /// For each graph, its fragments (input positions, ascending) and its identities (sorted).
    pub graphs: Vec<Graph>,
}

/// One graph: the fragments it unifies and all their identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Input positions of the fragments, ascending.
    pub fragments: Vec<usize>,
    /// The distinct identities, sorted.
    pub identities: Vec<Identity>,
}

/// Stitches fragments given as their identity lists. Graphs are numbered by their first fragment.
/// A fragment with no identity forms a graph of its own.
pub fn stitch<'a, I>(fragments: I) -> Stitching
where
    I: IntoIterator<Item = &'a [Identity]>,
{
    // A batch union-find keyed by borrowed identities: no identity is cloned until the output. The tables are
    // sized up front (about two identities per fragment) so that they do not rehash while growing: growth
    // showed as half the time in page clearing under `perf`.
    let fragments = fragments.into_iter();
    let expected = fragments.size_hint().0.saturating_mul(2);
    let mut index: FxHashMap<&'a Identity, u32> =
        FxHashMap::with_capacity_and_hasher(expected, rustc_hash::FxBuildHasher);
    let mut nodes: Vec<&'a Identity> = Vec::with_capacity(expected);
    let mut parent: Vec<u32> = Vec::with_capacity(expected);
    let mut size: Vec<u32> = Vec::with_capacity(expected);
    let find = |parent: &mut Vec<u32>, mut node: u32| {
        while parent[node as usize] != node {
            let grandparent = parent[parent[node as usize] as usize];
            parent[node as usize] = grandparent;
            node = grandparent;
        }
        node
    };
    let mut roots: Vec<Option<u32>> = Vec::with_capacity(fragments.size_hint().0);
    for identities in fragments {
        let mut root: Option<u32> = None;
        for identity in identities {
            let node = *index.entry(identity).or_insert_with(|| {
                let id = u32::try_from(nodes.len()).expect("fewer than 2^32 identities");
                nodes.push(identity);
                parent.push(id);
                size.push(1);
                id
            });
            root = Some(match root {
                None => node,
                Some(r) => {
                    let (a, b) = (find(&mut parent, r), find(&mut parent, node));
                    if a == b {
                        a
                    } else {
                        let (big, small) = if size[a as usize] >= size[b as usize] { (a, b) } else { (b, a) };
                        parent[small as usize] = big;
                        size[big as usize] += size[small as usize];
                        big
                    }
                }
            });
        }
        roots.push(root);
    }
    drop(index);
    let mut number_of_root: Vec<u32> = vec![u32::MAX; nodes.len()];
    let mut graphs: Vec<Graph> = Vec::new();
    let mut graph_of_fragment = Vec::with_capacity(roots.len());
    for (position, root) in roots.iter().enumerate() {
        let number = match root {
            Some(root) => {
                let root = find(&mut parent, *root) as usize;
                if number_of_root[root] == u32::MAX {
                    number_of_root[root] = graphs.len() as u32;
                    graphs.push(Graph { fragments: Vec::new(), identities: Vec::new() });
                }
                number_of_root[root] as usize
            }
            None => {
                graphs.push(Graph { fragments: Vec::new(), identities: Vec::new() });
                graphs.len() - 1
            }
        };
        graphs[number].fragments.push(position);
        graph_of_fragment.push(number);
    }
    for (node, identity) in nodes.into_iter().enumerate() {
        let root = find(&mut parent, node as u32) as usize;
        graphs[number_of_root[root] as usize].identities.push(identity.clone());
    }
    for g in &mut graphs {
        g.identities.sort_unstable();
    }
    Stitching { graph_of_fragment, graphs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ns: &str, value: &str) -> Identity {
        Identity::new(ns, value)
    }

    #[test]
    fn records_sharing_an_email_join_one_graph() {
        let a = vec![id("b2b_person", "1@o.Salesforce"), id("Email", "jane@acme.com")];
        let b = vec![id("b2b_person", "9@m.Marketo"), id("Email", "jane@acme.com")];
        let c = vec![id("b2b_person", "2@o.Salesforce"), id("Email", "john@acme.com")];
        let lonely: Vec<Identity> = vec![];
        let result = stitch([a.as_slice(), c.as_slice(), b.as_slice(), lonely.as_slice()]);
        assert_eq!(result.graph_of_fragment, vec![0, 1, 0, 2]);
        assert_eq!(result.graphs[0].fragments, vec![0, 2]);
        assert_eq!(
            result.graphs[0].identities,
            vec![id("Email", "jane@acme.com"), id("b2b_person", "1@o.Salesforce"), id("b2b_person", "9@m.Marketo")]
        );
        assert_eq!(result.graphs[2].identities, vec![]);
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

    #[test]
    fn long_chains_collapse_into_one_component() {
        let records: Vec<Vec<Identity>> =
            (0..1000).map(|i| vec![id("k", &i.to_string()), id("k", &(i + 1).to_string())]).collect();
        let result = stitch(records.iter().map(Vec::as_slice));
        assert_eq!(result.graphs.len(), 1);
        assert_eq!(result.graphs[0].identities.len(), 1001);
    }
}
