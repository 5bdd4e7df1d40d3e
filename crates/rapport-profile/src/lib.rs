//! Real-time customer profiles.
//!
//! - [`build_profiles`]: stitches fragments with the identity graph and merges each graph's fragments under a
//!   [`MergePolicy`] into one profile (B2B-DOMAIN d.1–d.2).
//! - [`links`]: resolves the B2B relationships between merged person, account and opportunity profiles into the
//!   navigations PQL uses.
//!
//! A profile's primary identity is the primary identity of its earliest-ingested fragment, so it stays stable
//! as more sources join the graph. Pure computation: reading fragments and writing profiles is the store's job.

pub mod links;
pub mod merge;

use rapport_model::{Identity, Record};

pub use links::{Navigation, Profile, ProfileGraph, ProfileSet, LINKED_CLASSES, LINK_PATHS, NAVIGATIONS};
pub use merge::{merge, FragmentView, MergePolicy};

/// A fragment given to [`build_profiles`].
#[derive(Debug, Clone, Copy)]
pub struct FragmentInput<'a> {
    /// What the merge needs.
    pub view: FragmentView<'a>,
    /// The fragment's primary identity.
    pub primary: &'a Identity,
    /// Every identity of the fragment (the primary one included).
    pub identities: &'a [Identity],
}

/// A merged profile.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedProfile {
    /// The primary identity of its earliest-ingested fragment.
    pub primary: Identity,
    /// Every identity of its graph, sorted.
    pub identities: Vec<Identity>,
    /// How many fragments were merged.
    pub fragment_count: usize,
    /// The merged record.
    pub record: Record,
}

/// Stitches the fragments of one entity class into graphs and merges each graph into a profile.
/// Profiles come out in the order of their first fragment.
pub fn build_profiles(fragments: &[FragmentInput<'_>], policy: &MergePolicy) -> Vec<MergedProfile> {
    let stitching = rapport_identity::stitch(fragments.iter().map(|f| f.identities));
    stitching
        .graphs
        .into_iter()
        .map(|graph| {
            let members: Vec<&FragmentInput<'_>> = graph.fragments.iter().map(|&i| &fragments[i]).collect();
            let views: Vec<FragmentView<'_>> = members.iter().map(|f| f.view).collect();
            let first = members.iter().min_by_key(|f| f.view.seq).expect("a graph has at least one fragment");
            let mut identities = graph.identities;
            if identities.is_empty() {
                identities.push(first.primary.clone());
            }
            MergedProfile {
                primary: first.primary.clone(),
                identities,
                fragment_count: members.len(),
                record: merge(&views, policy),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fragments_sharing_an_email_become_one_profile() {
        let sf = json!({"extendedWorkDetails": {"departments": ["Marketing"]}}).as_object().unwrap().clone();
        let mk = json!({"extendedWorkDetails": {"departments": ["Sales"]}}).as_object().unwrap().clone();
        let other = json!({"extendedWorkDetails": {"departments": ["IT"]}}).as_object().unwrap().clone();
        let sf_key = Identity::new("b2b_person", "1@o.Salesforce");
        let mk_key = Identity::new("b2b_person", "7@m.Marketo");
        let other_key = Identity::new("b2b_person", "2@o.Salesforce");
        let email = Identity::new("Email", "jane@acme.com");
        let sf_ids = [sf_key.clone(), email.clone()];
        let mk_ids = [mk_key.clone(), email.clone()];
        let other_ids = [other_key.clone()];
        let input = [
            FragmentInput {
                view: FragmentView { dataset: "sf", seq: 1, updated_at: "2024-01-01T00:00:00.000Z", record: &sf },
                primary: &sf_key,
                identities: &sf_ids,
            },
            FragmentInput {
                view: FragmentView { dataset: "sf", seq: 2, updated_at: "2024-01-01T00:00:00.000Z", record: &other },
                primary: &other_key,
                identities: &other_ids,
            },
            FragmentInput {
                view: FragmentView { dataset: "mk", seq: 3, updated_at: "2024-02-01T00:00:00.000Z", record: &mk },
                primary: &mk_key,
                identities: &mk_ids,
            },
        ];
        let profiles = build_profiles(&input, &MergePolicy::TimestampOrdered);
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles[0].primary, sf_key);
        assert_eq!(profiles[0].fragment_count, 2);
        assert_eq!(profiles[0].identities, vec![email, sf_key, mk_key]);
        assert_eq!(profiles[0].record["extendedWorkDetails"]["departments"], json!(["Sales"]));
        assert_eq!(profiles[1].primary, other_key);
    }
}
