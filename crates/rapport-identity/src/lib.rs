//! The identity graph: identities that arrive together in one record are linked, and graphs are the
//! connected components of those links (B2B-DOMAIN b.4).
//!
//! - [`rules`]: the linking rules — unique namespaces, namespace priority, at most 20 identities per record
//!   and 50 per graph, and the eviction order (B2B-DOMAIN b.4–b.5, h.1; defaults in `docs/identity.md`).
//! - [`stitch()`]: records grouped into graphs under those rules, with every decision (link made, link cut,
//!   link removed by an eviction, identity over the record limit). Identities are interned to `u32` nodes and
//!   the union-find runs over them; graphs are numbered in order of their first record, so results do not
//!   depend on hash order.
//! - [`Graphs`]: records and their graphs held in memory, updated one record at a time by re-stitching only
//!   the closed set of graphs the record reaches, as the engine updates its stored profiles.
//!
//! Pure computation: this crate reads and writes no storage (the engine stores graphs and decisions). Unmerge
//! (deleting identities or records) is not here.

pub mod graphs;
pub mod rules;
pub mod stitch;

pub use graphs::{Graphs, OwnedRecord, Update};
pub use rules::{EvictionClass, LinkingRules, NamespaceRule, MAX_IDENTITIES_PER_GRAPH, MAX_IDENTITIES_PER_RECORD};
pub use stitch::{stitch, stitch_with, Decision, GraphRef, Interned, Outcome, RecordRef, Stitching};
