//! Relationships between merged profiles: the navigations PQL uses (`accounts`, `opportunities`, `people`,
//! `account`, `parentAccount`), resolved from the standard B2B relationships (B2B-DOMAIN a.3) into adjacency
//! lists of profile numbers.

use std::collections::{BTreeMap, HashMap, HashSet};

use rapport_model::{EntityKind, FieldPath, Identity, Record};
use serde::Serialize;

/// One merged profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Its primary identity.
    pub primary: Identity,
    /// Every identity of its graph.
    pub identities: Vec<Identity>,
    /// The merged record.
    pub record: Record,
}

/// The profiles of one entity class, numbered by position, with an index by identity.
///
/// Profiles at positions `stored()..` are placeholders: entities that other records reference by key but whose
/// own record has not arrived (or was rejected). They carry an empty record, so relationships resolve by key
/// whatever the arrival order, but they are never members of an audience of their own class.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    /// The profiles, stored ones first, then placeholders.
    pub profiles: Vec<Profile>,
    index: HashMap<Identity, u32>,
    stored: usize,
}

impl ProfileSet {
    /// Indexes the profiles by every identity they hold.
    pub fn new(profiles: Vec<Profile>) -> Self {
        let mut index = HashMap::with_capacity(profiles.len() * 2);
        for (i, profile) in profiles.iter().enumerate() {
            let number = u32::try_from(i).expect("fewer than 2^32 profiles");
            for identity in &profile.identities {
                index.insert(identity.clone(), number);
            }
            index.insert(profile.primary.clone(), number);
        }
        let stored = profiles.len();
        Self { profiles, index, stored }
    }

    /// Appends a profile and indexes its identities; `Err` (the profile handed back) when a profile of the set
    /// holds one of them already.
    fn push(&mut self, profile: Profile) -> Result<u32, Profile> {
        if profile.identities.iter().chain([&profile.primary]).any(|identity| self.index.contains_key(identity)) {
            return Err(profile);
        }
        let number = u32::try_from(self.profiles.len()).expect("fewer than 2^32 profiles");
        for identity in profile.identities.iter().chain([&profile.primary]) {
            self.index.insert(identity.clone(), number);
        }
        self.profiles.push(profile);
        self.stored = self.profiles.len();
        Ok(number)
    }

    /// Puts `profile` in slot `slot` (a placeholder's) and indexes its identities there; the slot counts as
    /// stored from now on.
    fn fill(&mut self, slot: u32, profile: Profile) {
        for identity in profile.identities.iter().chain([&profile.primary]) {
            self.index.insert(identity.clone(), slot);
        }
        self.profiles[slot as usize] = profile;
        self.stored = self.stored.max(slot as usize + 1);
    }

    /// The number of stored (non-placeholder) profiles; placeholders follow them.
    pub fn stored(&self) -> usize {
        self.stored
    }

    /// Adds a placeholder for an entity known only by a reference, unless a profile holds the identity already.
    pub fn add_placeholder(&mut self, identity: Identity) -> u32 {
        if let Some(&id) = self.index.get(&identity) {
            return id;
        }
        let id = u32::try_from(self.profiles.len()).expect("fewer than 2^32 profiles");
        self.index.insert(identity.clone(), id);
        self.profiles.push(Profile { identities: vec![identity.clone()], primary: identity, record: Record::new() });
        id
    }

    /// The number of the profile holding `identity`.
    pub fn find(&self, identity: &Identity) -> Option<u32> {
        self.index.get(identity).copied()
    }

    /// The number of profiles, placeholders included.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// True when there are no profiles.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}

/// A named navigation from one entity class to another, resolved for every source profile.
#[derive(Debug, Clone)]
pub struct Navigation {
    /// The class navigated from.
    pub from: EntityKind,
    /// The name used in PQL.
    pub name: &'static str,
    /// The class navigated to.
    pub to: EntityKind,
    /// For each source profile, the sorted, distinct target profile numbers.
    pub targets: Vec<Vec<u32>>,
}

/// Every profile of every class, and the navigations between them.
#[derive(Debug, Clone, Default)]
pub struct ProfileGraph {
    /// Profiles by class.
    pub sets: BTreeMap<EntityKind, ProfileSet>,
    /// The navigations.
    pub navigations: Vec<Navigation>,
    /// The experience events of the persons (`xEvent`), by person profile number.
    pub events: crate::events::EventLog,
    /// Every relationship key some record holds (the trimmed values at [`LINK_PATHS`], whatever their
    /// namespace): a profile none of whose identities is among them is named by no record, which is what lets
    /// [`ProfileGraph::append`] link a new profile without resolving the whole graph again.
    referenced: HashSet<String>,
}

/// The fields each class's records must keep for [`ProfileGraph::link`] to resolve relationships.
pub const LINK_PATHS: &[(EntityKind, &str)] = &[
    (EntityKind::Person, "personComponents.sourceAccountKey.sourceKey"),
    (EntityKind::Account, "accountParentKey.sourceKey"),
    (EntityKind::Opportunity, "accountKey.sourceKey"),
    (EntityKind::OpportunityPerson, "personKey.sourceKey"),
    (EntityKind::OpportunityPerson, "opportunityKey.sourceKey"),
    (EntityKind::AccountPerson, "personKey.sourceKey"),
    (EntityKind::AccountPerson, "accountKey.sourceKey"),
    (EntityKind::CampaignMember, "personKey.sourceKey"),
    (EntityKind::CampaignMember, "campaignKey.sourceKey"),
    (EntityKind::MarketingListMember, "personKey.sourceKey"),
    (EntityKind::MarketingListMember, "marketingListKey.sourceKey"),
];

/// The classes whose profiles take part in navigations (the others can be left unloaded).
pub const LINKED_CLASSES: &[EntityKind] = &[
    EntityKind::Person,
    EntityKind::Account,
    EntityKind::Opportunity,
    EntityKind::OpportunityPerson,
    EntityKind::AccountPerson,
    EntityKind::Campaign,
    EntityKind::CampaignMember,
    EntityKind::MarketingList,
    EntityKind::MarketingListMember,
];

/// The navigations Rapport knows, as (from, name, to). Their resolution is in [`ProfileGraph::link`].
pub const NAVIGATIONS: &[(EntityKind, &str, EntityKind)] = &[
    (EntityKind::Person, "accounts", EntityKind::Account),
    (EntityKind::Person, "opportunities", EntityKind::Opportunity),
    (EntityKind::Account, "people", EntityKind::Person),
    (EntityKind::Account, "opportunities", EntityKind::Opportunity),
    (EntityKind::Account, "parentAccount", EntityKind::Account),
    (EntityKind::Opportunity, "account", EntityKind::Account),
    (EntityKind::Opportunity, "people", EntityKind::Person),
    (EntityKind::Person, "opportunityRoles", EntityKind::OpportunityPerson),
    (EntityKind::OpportunityPerson, "person", EntityKind::Person),
    (EntityKind::OpportunityPerson, "opportunity", EntityKind::Opportunity),
    (EntityKind::Person, "accountRoles", EntityKind::AccountPerson),
    (EntityKind::AccountPerson, "person", EntityKind::Person),
    (EntityKind::AccountPerson, "account", EntityKind::Account),
    (EntityKind::Person, "campaignMemberships", EntityKind::CampaignMember),
    (EntityKind::CampaignMember, "person", EntityKind::Person),
    (EntityKind::CampaignMember, "campaign", EntityKind::Campaign),
    (EntityKind::Person, "listMemberships", EntityKind::MarketingListMember),
    (EntityKind::MarketingListMember, "person", EntityKind::Person),
    (EntityKind::MarketingListMember, "marketingList", EntityKind::MarketingList),
];

/// One way a navigation finds related entities by key. A key names an entity through one of its identities
/// (namespace and value, the value trimmed); a navigation relates the union of what its hops find. This is the
/// declarative form of [`ProfileGraph::link`], which SQL generation and tests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHop {
    /// The source record holds, at `path`, keys of the targets' identities in namespace `ns`.
    Forward {
        /// The path of the keys on the source record (arrays crossed are flattened).
        path: &'static str,
        /// The namespace of the target identity the keys name.
        ns: &'static str,
    },
    /// The target record holds, at `path`, keys of the source's identities in namespace `ns`.
    Backward {
        /// The path of the keys on the target record.
        path: &'static str,
        /// The namespace of the source identity the keys name.
        ns: &'static str,
    },
    /// Records of class `relation` hold a key of the source and a key of the target.
    Through {
        /// The relation class.
        relation: EntityKind,
        /// The path of the source's key on the relation record.
        source_path: &'static str,
        /// The namespace of the source identity it names.
        source_ns: &'static str,
        /// The path of the target's key on the relation record.
        target_path: &'static str,
        /// The namespace of the target identity it names.
        target_ns: &'static str,
    },
}

const PERSON_ACCOUNT_KEYS: &str = "personComponents.sourceAccountKey.sourceKey";

/// How the navigation `name` from class `from` resolves, hop by hop (empty for an unknown navigation).
pub fn navigation_hops(from: EntityKind, name: &str) -> &'static [KeyHop] {
    use EntityKind as E;
    use KeyHop::{Backward, Forward, Through};
    const ACCOUNT_PERSON_FROM_PERSON: KeyHop = Through {
        relation: E::AccountPerson,
        source_path: "personKey.sourceKey",
        source_ns: "b2b_person",
        target_path: "accountKey.sourceKey",
        target_ns: "b2b_account",
    };
    const ACCOUNT_PERSON_FROM_ACCOUNT: KeyHop = Through {
        relation: E::AccountPerson,
        source_path: "accountKey.sourceKey",
        source_ns: "b2b_account",
        target_path: "personKey.sourceKey",
        target_ns: "b2b_person",
    };
    const PERSON_KEY: &str = "personKey.sourceKey";
    match (from, name) {
        (E::Person, "accounts") => {
            &[Forward { path: PERSON_ACCOUNT_KEYS, ns: "b2b_account" }, ACCOUNT_PERSON_FROM_PERSON]
        }
        (E::Person, "opportunities") => &[Through {
            relation: E::OpportunityPerson,
            source_path: PERSON_KEY,
            source_ns: "b2b_person",
            target_path: "opportunityKey.sourceKey",
            target_ns: "b2b_opportunity",
        }],
        (E::Account, "people") => {
            &[Backward { path: PERSON_ACCOUNT_KEYS, ns: "b2b_account" }, ACCOUNT_PERSON_FROM_ACCOUNT]
        }
        (E::Account, "opportunities") => &[Backward { path: "accountKey.sourceKey", ns: "b2b_account" }],
        (E::Account, "parentAccount") => &[Forward { path: "accountParentKey.sourceKey", ns: "b2b_account" }],
        (E::Opportunity, "account") => &[Forward { path: "accountKey.sourceKey", ns: "b2b_account" }],
        (E::Opportunity, "people") => &[Through {
            relation: E::OpportunityPerson,
            source_path: "opportunityKey.sourceKey",
            source_ns: "b2b_opportunity",
            target_path: PERSON_KEY,
            target_ns: "b2b_person",
        }],
        (E::Person, "opportunityRoles" | "accountRoles" | "campaignMemberships" | "listMemberships") => {
            &[Backward { path: PERSON_KEY, ns: "b2b_person" }]
        }
        (E::OpportunityPerson | E::AccountPerson | E::CampaignMember | E::MarketingListMember, "person") => {
            &[Forward { path: PERSON_KEY, ns: "b2b_person" }]
        }
        (E::OpportunityPerson, "opportunity") => &[Forward { path: "opportunityKey.sourceKey", ns: "b2b_opportunity" }],
        (E::AccountPerson, "account") => &[Forward { path: "accountKey.sourceKey", ns: "b2b_account" }],
        (E::CampaignMember, "campaign") => &[Forward { path: "campaignKey.sourceKey", ns: "b2b_campaign" }],
        (E::MarketingListMember, "marketingList") => {
            &[Forward { path: "marketingListKey.sourceKey", ns: "b2b_marketing_list" }]
        }
        _ => &[],
    }
}

/// Resolves a navigation from its hops (see [`navigation_hops`]): for each source profile, the sorted, distinct
/// target profile numbers.
fn resolve_hops(graph: &ProfileGraph, from: EntityKind, to: EntityKind, hops: &[KeyHop]) -> Vec<Vec<u32>> {
    let len = graph.sets.get(&from).map_or(0, ProfileSet::len);
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for hop in hops {
        match *hop {
            KeyHop::Forward { path, ns } => pairs.extend(pairs_of(&references(graph, from, &[path], ns, to))),
            KeyHop::Backward { path, ns } => {
                pairs.extend(pairs_of(&references(graph, to, &[path], ns, from)).map(|(t, s)| (s, t)))
            }
            KeyHop::Through { relation, source_path, source_ns, target_path, target_ns } => {
                pairs.extend(through(graph, relation, (source_path, source_ns, from), (target_path, target_ns, to)))
            }
        }
    }
    adjacency(len, pairs)
}

fn path(text: &str) -> FieldPath {
    FieldPath::parse(text).expect("navigation paths are valid")
}

/// For each profile of `from`, the profiles of `to` named by the string values at `paths` (in namespace `ns`).
fn references(graph: &ProfileGraph, from: EntityKind, paths: &[&str], ns: &str, to: EntityKind) -> Vec<Vec<u32>> {
    let empty = ProfileSet::default();
    let source = graph.sets.get(&from).unwrap_or(&empty);
    let target = graph.sets.get(&to).unwrap_or(&empty);
    let paths: Vec<FieldPath> = paths.iter().map(|p| path(p)).collect();
    source
        .profiles
        .iter()
        .map(|profile| {
            let mut found: Vec<u32> = paths
                .iter()
                .flat_map(|p| p.values(&profile.record))
                .filter_map(|value| value.as_str())
                .filter_map(|key| target.find(&Identity::new(ns, key.trim())))
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        })
        .collect()
}

/// Pairs (a, b) through a relation class whose records point at both ends (opportunity-person, account-person).
fn through(
    graph: &ProfileGraph,
    relation: EntityKind,
    (a_path, a_ns, a): (&str, &str, EntityKind),
    (b_path, b_ns, b): (&str, &str, EntityKind),
) -> Vec<(u32, u32)> {
    let a_refs = references(graph, relation, &[a_path], a_ns, a);
    let b_refs = references(graph, relation, &[b_path], b_ns, b);
    let mut pairs = Vec::new();
    for (a_list, b_list) in a_refs.iter().zip(&b_refs) {
        for &x in a_list {
            for &y in b_list {
                pairs.push((x, y));
            }
        }
    }
    pairs
}

/// The references whose targets get placeholders: (source class, paths, namespace, target class). People are
/// left out on purpose: a person known only from a relation record is not a profile anyone can target.
const PLACEHOLDER_REFERENCES: &[(EntityKind, &[&str], &str, EntityKind)] = &[
    (EntityKind::Person, &["personComponents.sourceAccountKey.sourceKey"], "b2b_account", EntityKind::Account),
    (EntityKind::Opportunity, &["accountKey.sourceKey"], "b2b_account", EntityKind::Account),
    (EntityKind::AccountPerson, &["accountKey.sourceKey"], "b2b_account", EntityKind::Account),
    (EntityKind::Account, &["accountParentKey.sourceKey"], "b2b_account", EntityKind::Account),
    (EntityKind::OpportunityPerson, &["opportunityKey.sourceKey"], "b2b_opportunity", EntityKind::Opportunity),
];

fn add_placeholders(sets: &mut BTreeMap<EntityKind, ProfileSet>) {
    for &(source, paths, ns, target) in PLACEHOLDER_REFERENCES {
        let mut missing = std::collections::BTreeSet::new();
        if let Some(set) = sets.get(&source) {
            let target_set = sets.get(&target);
            for profile in &set.profiles {
                for identity in named_identities(paths, ns, &profile.record) {
                    if target_set.and_then(|t| t.find(&identity)).is_none() {
                        missing.insert(identity);
                    }
                }
            }
        }
        if missing.is_empty() {
            continue;
        }
        let target_set = sets.entry(target).or_default();
        for identity in missing {
            target_set.add_placeholder(identity);
        }
    }
}

/// The identities (in namespace `ns`) that the trimmed, non-empty keys of `record` at `paths` name.
fn named_identities<'a>(paths: &'a [&str], ns: &'a str, record: &'a Record) -> impl Iterator<Item = Identity> + 'a {
    paths
        .iter()
        .flat_map(move |p| path(p).values(record))
        .filter_map(|value| value.as_str().map(str::trim).filter(|k| !k.is_empty()))
        .map(move |key| Identity::new(ns, key))
}

/// The trimmed, non-empty relationship keys a record of `class` holds (at [`LINK_PATHS`]).
fn link_keys(class: EntityKind, record: &Record) -> impl Iterator<Item = &str> + '_ {
    LINK_PATHS
        .iter()
        .filter(move |(c, _)| *c == class)
        .flat_map(move |(_, p)| path(p).values(record))
        .filter_map(|value| value.as_str().map(str::trim))
        .filter(|key| !key.is_empty())
}

fn adjacency(len: usize, pairs: impl IntoIterator<Item = (u32, u32)>) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); len];
    for (from, to) in pairs {
        out[from as usize].push(to);
    }
    for list in &mut out {
        list.sort_unstable();
        list.dedup();
    }
    out
}

fn pairs_of(lists: &[Vec<u32>]) -> impl Iterator<Item = (u32, u32)> + '_ {
    lists.iter().enumerate().flat_map(|(i, list)| list.iter().map(move |&t| (i as u32, t)))
}

impl ProfileGraph {
    /// Builds the graph from the profile sets of each class and resolves every navigation. Accounts and
    /// opportunities referenced by key but without a record of their own get placeholders first.
    pub fn link(mut sets: BTreeMap<EntityKind, ProfileSet>) -> Self {
        use EntityKind as E;
        add_placeholders(&mut sets);
        let referenced = sets
            .iter()
            .flat_map(|(class, set)| set.profiles.iter().map(move |profile| (*class, profile)))
            .flat_map(|(class, profile)| link_keys(class, &profile.record))
            .map(str::to_owned)
            .collect();
        let mut graph = Self { sets, navigations: Vec::new(), events: Default::default(), referenced };
        let len = |e: EntityKind| graph.sets.get(&e).map_or(0, ProfileSet::len);
        let (persons, accounts, opportunities) = (len(E::Person), len(E::Account), len(E::Opportunity));

        // Person → Account: the per-source account keys on the person (relationship #1), plus account-person
        // relation records (#9, #10).
        let direct =
            references(&graph, E::Person, &["personComponents.sourceAccountKey.sourceKey"], "b2b_account", E::Account);
        let related = through(
            &graph,
            E::AccountPerson,
            ("personKey.sourceKey", "b2b_person", E::Person),
            ("accountKey.sourceKey", "b2b_account", E::Account),
        );
        let person_accounts = adjacency(persons, pairs_of(&direct).chain(related));
        let account_people = adjacency(accounts, pairs_of(&person_accounts).map(|(p, a)| (a, p)));

        // Opportunity → Account (#2).
        let opportunity_account =
            references(&graph, E::Opportunity, &["accountKey.sourceKey"], "b2b_account", E::Account);
        let account_opportunities = adjacency(accounts, pairs_of(&opportunity_account).map(|(o, a)| (a, o)));

        // Person ↔ Opportunity through opportunity-person relations (#3, #4).
        let person_opportunity = through(
            &graph,
            E::OpportunityPerson,
            ("personKey.sourceKey", "b2b_person", E::Person),
            ("opportunityKey.sourceKey", "b2b_opportunity", E::Opportunity),
        );
        let person_opportunities = adjacency(persons, person_opportunity.iter().copied());
        let opportunity_people = adjacency(opportunities, person_opportunity.iter().map(|&(p, o)| (o, p)));

        // Account → parent Account (#11).
        let parent = references(&graph, E::Account, &["accountParentKey.sourceKey"], "b2b_account", E::Account);

        let resolved = [
            person_accounts,
            person_opportunities,
            account_people,
            account_opportunities,
            parent,
            opportunity_account,
            opportunity_people,
        ];
        let mut navigations: Vec<Navigation> = NAVIGATIONS
            .iter()
            .zip(resolved)
            .map(|(&(from, name, to), targets)| Navigation { from, name, to, targets })
            .collect();
        // The navigations to and from relation records (roles, campaign and list memberships) resolve straight
        // from their hops; the seven above share intermediate lists and are resolved by hand.
        for &(from, name, to) in &NAVIGATIONS[navigations.len()..] {
            let targets = resolve_hops(&graph, from, to, navigation_hops(from, name));
            navigations.push(Navigation { from, name, to, targets });
        }
        graph.navigations = navigations;
        graph
    }

    /// Adds a new profile of `class` and links it, without resolving the whole graph again: the graph is then
    /// what [`ProfileGraph::link`] of every profile would give (placeholders numbered as they arise). That holds
    /// when no record names the profile by one of its identities and no profile of its class holds one of them;
    /// otherwise the profile is handed back and the caller links the whole graph.
    ///
    /// The work is that of the profile's own keys: its references are resolved, placeholders added for accounts
    /// and opportunities it names that have no profile, and it is added to the lists of the profiles it names
    /// (an account's `people` for a person's account key, a relation record's two ends for `opportunities`).
    pub fn append(&mut self, class: EntityKind, profile: Profile) -> Result<u32, Profile> {
        let named = profile.identities.iter().chain([&profile.primary]).any(|i| self.referenced.contains(&i.value));
        let held = self.sets.get(&class).is_some_and(|set| {
            profile.identities.iter().chain([&profile.primary]).any(|identity| set.find(identity).is_some())
        });
        if named || held {
            return Err(profile);
        }
        self.add_named_placeholders(class, &profile);
        self.referenced.extend(link_keys(class, &profile.record).map(str::to_owned));
        let number =
            self.sets.entry(class).or_default().push(profile).expect("no profile holds its identities (checked above)");
        for navigation in self.navigations.iter_mut().filter(|n| n.from == class) {
            navigation.targets.push(Vec::new());
        }
        self.link_own_keys(class, number);
        Ok(number)
    }

    /// Puts a new profile of `class` in the slot of the placeholder `slot` that records named it by before it
    /// arrived, and links it, without resolving the whole graph again: the graph is then what
    /// [`ProfileGraph::link`] of every profile would give, the profile numbered as its placeholder was. That holds
    /// when the placeholder is the only profile of the class holding one of its identities and every identity of
    /// it some record names is the placeholder's (so every reference to it already reaches the slot); otherwise
    /// the profile is handed back and the caller links the whole graph.
    ///
    /// The work is that of the profile's own keys, as for [`ProfileGraph::append`]: an account arriving after
    /// its people keeps their links and gains its parent's.
    pub fn fill(&mut self, class: EntityKind, slot: u32, profile: Profile) -> Result<u32, Profile> {
        let fits = self.sets.get(&class).is_some_and(|set| {
            let own = || profile.identities.iter().chain([&profile.primary]);
            own().any(|identity| set.find(identity) == Some(slot))
                && own().all(|identity| match set.find(identity) {
                    Some(holder) => holder == slot,
                    None => !self.referenced.contains(&identity.value),
                })
        });
        if !fits {
            return Err(profile);
        }
        // Nothing is changed before this point: a refusal above leaves the graph as it was.
        self.add_named_placeholders(class, &profile);
        self.referenced.extend(link_keys(class, &profile.record).map(str::to_owned));
        self.sets.entry(class).or_default().fill(slot, profile);
        self.link_own_keys(class, slot);
        Ok(slot)
    }

    /// Adds placeholders for the accounts and opportunities `profile` (of `class`, not yet in the graph) names
    /// that have no profile, each a new empty source row; not one it is itself (an account naming itself as its
    /// parent).
    fn add_named_placeholders(&mut self, class: EntityKind, profile: &Profile) {
        let own = |identity: &Identity| profile.identities.iter().chain([&profile.primary]).any(|i| i == identity);
        let mut missing = std::collections::BTreeSet::new();
        for &(_, paths, ns, target) in PLACEHOLDER_REFERENCES.iter().filter(|(source, ..)| *source == class) {
            for identity in named_identities(paths, ns, &profile.record) {
                if self.sets.get(&target).and_then(|t| t.find(&identity)).is_none()
                    && !(target == class && own(&identity))
                {
                    missing.insert((target, identity));
                }
            }
        }
        for (target, identity) in missing {
            self.sets.entry(target).or_default().add_placeholder(identity);
            for navigation in self.navigations.iter_mut().filter(|n| n.from == target) {
                navigation.targets.push(Vec::new());
            }
        }
    }

    /// Adds the links that the keys of profile `number` of `class` make, which no record named before (its
    /// row in each navigation from its class exists, empty or holding what other records gave it).
    fn link_own_keys(&mut self, class: EntityKind, number: u32) {
        let mut added: Vec<(usize, u32, u32)> = Vec::new();
        {
            let record = &self.sets[&class].profiles[number as usize].record;
            let find = |to: EntityKind, path_text: &str, ns: &str| -> Vec<u32> {
                let Some(set) = self.sets.get(&to) else { return Vec::new() };
                path(path_text)
                    .values(record)
                    .into_iter()
                    .filter_map(|value| value.as_str())
                    .filter_map(|key| set.find(&Identity::new(ns, key.trim())))
                    .collect()
            };
            for (at, navigation) in self.navigations.iter().enumerate() {
                for hop in navigation_hops(navigation.from, navigation.name) {
                    match *hop {
                        // Its own keys name targets.
                        KeyHop::Forward { path, ns } if navigation.from == class => {
                            added.extend(find(navigation.to, path, ns).into_iter().map(|t| (at, number, t)));
                        }
                        // Its keys name sources, which now reach it.
                        KeyHop::Backward { path, ns } if navigation.to == class => {
                            added.extend(find(navigation.from, path, ns).into_iter().map(|s| (at, s, number)));
                        }
                        // A relation record: each source it names reaches each target it names.
                        KeyHop::Through { relation, source_path, source_ns, target_path, target_ns }
                            if relation == class =>
                        {
                            let targets = find(navigation.to, target_path, target_ns);
                            for source in find(navigation.from, source_path, source_ns) {
                                added.extend(targets.iter().map(|&t| (at, source, t)));
                            }
                        }
                        // Anything else is a record naming this profile: linked when that record arrived.
                        _ => {}
                    }
                }
            }
        }
        for (at, source, target) in added {
            let list = &mut self.navigations[at].targets[source as usize];
            if let Err(position) = list.binary_search(&target) {
                list.insert(position, target);
            }
        }
    }

    /// The navigation `name` from class `from`.
    pub fn navigation(&self, from: EntityKind, name: &str) -> Option<&Navigation> {
        self.navigations.iter().find(|n| n.from == from && n.name == name)
    }

    /// The profiles of a class (empty when there are none).
    pub fn set(&self, entity: EntityKind) -> &ProfileSet {
        static EMPTY: std::sync::OnceLock<ProfileSet> = std::sync::OnceLock::new();
        self.sets.get(&entity).unwrap_or_else(|| EMPTY.get_or_init(ProfileSet::default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn profile(primary: (&str, &str), record: serde_json::Value) -> Profile {
        let primary = Identity::new(primary.0, primary.1);
        Profile { identities: vec![primary.clone()], primary, record: record.as_object().unwrap().clone() }
    }

    #[test]
    fn resolves_every_navigation_both_ways() {
        use EntityKind as E;
        let mut sets = BTreeMap::new();
        sets.insert(
            E::Person,
            ProfileSet::new(vec![
                profile(("b2b_person", "p0"), json!({"personComponents": [{"sourceAccountKey": {"sourceKey": "a0"}}, {"sourceAccountKey": {"sourceKey": "missing"}}]})),
                profile(("b2b_person", "p1"), json!({})),
            ]),
        );
        sets.insert(
            E::Account,
            ProfileSet::new(vec![
                profile(("b2b_account", "a0"), json!({"accountParentKey": {"sourceKey": "a1"}})),
                profile(("b2b_account", "a1"), json!({})),
            ]),
        );
        sets.insert(
            E::Opportunity,
            ProfileSet::new(vec![
                profile(("b2b_opportunity", "o0"), json!({"accountKey": {"sourceKey": "a0"}})),
                profile(("b2b_opportunity", "o1"), json!({"accountKey": {"sourceKey": " a0 "}})),
            ]),
        );
        sets.insert(
            E::OpportunityPerson,
            ProfileSet::new(vec![profile(
                ("b2b_opportunity_person_relation", "r0"),
                json!({"personKey": {"sourceKey": "p1"}, "opportunityKey": {"sourceKey": "o1"}}),
            )]),
        );
        sets.insert(
            E::AccountPerson,
            ProfileSet::new(vec![profile(
                ("b2b_account_person_relation", "ap0"),
                json!({"personKey": {"sourceKey": "p1"}, "accountKey": {"sourceKey": "a1"}}),
            )]),
        );
        let graph = ProfileGraph::link(sets);
        let nav = |from, name| graph.navigation(from, name).unwrap().targets.clone();
        // "missing" has no account record: it becomes placeholder account 2.
        assert_eq!((graph.set(E::Account).stored(), graph.set(E::Account).len()), (2, 3));
        assert_eq!(graph.set(E::Account).profiles[2].primary, Identity::new("b2b_account", "missing"));
        assert_eq!(nav(E::Person, "accounts"), vec![vec![0, 2], vec![1]]);
        assert_eq!(nav(E::Account, "people"), vec![vec![0], vec![1], vec![0]]);
        assert_eq!(nav(E::Account, "opportunities"), vec![vec![0, 1], vec![], vec![]]);
        assert_eq!(nav(E::Opportunity, "account"), vec![vec![0], vec![0]]);
        assert_eq!(nav(E::Person, "opportunities"), vec![vec![], vec![1]]);
        assert_eq!(nav(E::Opportunity, "people"), vec![vec![], vec![1]]);
        assert_eq!(nav(E::Account, "parentAccount"), vec![vec![1], vec![], vec![]]);
        assert_eq!(nav(E::Person, "opportunityRoles"), vec![vec![], vec![0]]);
        assert_eq!(nav(E::OpportunityPerson, "opportunity"), vec![vec![1]]);
        assert_eq!(nav(E::OpportunityPerson, "person"), vec![vec![1]]);
        assert_eq!(nav(E::Person, "accountRoles"), vec![vec![], vec![0]]);
        assert_eq!(nav(E::AccountPerson, "account"), vec![vec![1]]);
        // The declarative hops describe exactly what `link` resolves by hand.
        for navigation in &graph.navigations {
            let hops = navigation_hops(navigation.from, navigation.name);
            assert!(!hops.is_empty(), "{} has no hops", navigation.name);
            assert_eq!(
                resolve_hops(&graph, navigation.from, navigation.to, hops),
                navigation.targets,
                "{}.{}",
                navigation.from,
                navigation.name
            );
        }
    }

    type Pair = (EntityKind, &'static str, Identity, Identity);

    /// Every navigation as pairs of identities (placeholders are numbered differently by `append` and `link`,
    /// so numbers are not compared), with every class's profiles.
    fn shape(graph: &ProfileGraph) -> (BTreeSet<Pair>, BTreeSet<(EntityKind, Identity)>) {
        let primary = |class: EntityKind, n: u32| graph.set(class).profiles[n as usize].primary.clone();
        let mut pairs = BTreeSet::new();
        for navigation in &graph.navigations {
            assert_eq!(navigation.targets.len(), graph.set(navigation.from).len(), "{}", navigation.name);
            for (source, targets) in navigation.targets.iter().enumerate() {
                assert!(targets.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
                for &target in targets {
                    pairs.insert((
                        navigation.from,
                        navigation.name,
                        primary(navigation.from, source as u32),
                        primary(navigation.to, target),
                    ));
                }
            }
        }
        let profiles = graph
            .sets
            .iter()
            .flat_map(|(class, set)| set.profiles.iter().map(move |p| (*class, p.primary.clone())))
            .collect();
        (pairs, profiles)
    }

    /// `append` of each new profile, or `fill` of its placeholder when records named it first, gives what `link`
    /// of all of them gives, over a random stream of persons, accounts, opportunities and relation records whose
    /// keys often name profiles that have not arrived.
    #[test]
    fn append_and_fill_link_a_new_profile_as_linking_everything_would() {
        use EntityKind as E;
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut all: Vec<(EntityKind, Profile)> = Vec::new();
        let link_all = |all: &[(EntityKind, Profile)]| {
            let mut by_class: BTreeMap<EntityKind, Vec<Profile>> = BTreeMap::new();
            for (class, profile) in all {
                by_class.entry(*class).or_default().push(profile.clone());
            }
            ProfileGraph::link(by_class.into_iter().map(|(c, p)| (c, ProfileSet::new(p))).collect())
        };
        let mut graph = ProfileGraph::link(BTreeMap::new());
        let (mut appended, mut filled, mut refused) = (0, 0, 0);
        for step in 0..600 {
            // Keys from small pools, so that they collide; now and then padded, as CRM exports write them.
            let own = next(60);
            let mut key = |prefix: &str| {
                let key = format!("{prefix}{}", next(40));
                if next(5) == 0 {
                    format!(" {key} ")
                } else {
                    key
                }
            };
            let (class, primary, record) = match step % 9 {
                0 | 1 => (
                    E::Person,
                    Identity::new("b2b_person", format!("p{step}")),
                    json!({"personComponents": [
                    {"sourceAccountKey": {"sourceKey": key("a")}}, {"sourceAccountKey": {"sourceKey": key("a")}}]}),
                ),
                2 => (
                    E::Account,
                    Identity::new("b2b_account", format!("a{own}")),
                    json!({"accountParentKey": {"sourceKey": key("a")}}),
                ),
                3 => (
                    E::Opportunity,
                    Identity::new("b2b_opportunity", format!("o{own}")),
                    json!({"accountKey": {"sourceKey": key("a")}}),
                ),
                4 => (
                    E::OpportunityPerson,
                    Identity::new("b2b_opportunity_person", format!("r{step}")),
                    json!({"personKey": {"sourceKey": key("p")}, "opportunityKey": {"sourceKey": key("o")}}),
                ),
                5 => (
                    E::AccountPerson,
                    Identity::new("b2b_account_person", format!("r{step}")),
                    json!({"personKey": {"sourceKey": key("p")}, "accountKey": {"sourceKey": key("a")}}),
                ),
                6 => (
                    E::CampaignMember,
                    Identity::new("b2b_campaign_member", format!("r{step}")),
                    json!({"personKey": {"sourceKey": key("p")}, "campaignKey": {"sourceKey": key("c")}}),
                ),
                7 => (E::Campaign, Identity::new("b2b_campaign", format!("c{own}")), json!({})),
                _ => (
                    E::MarketingListMember,
                    Identity::new("b2b_marketing_list_member", format!("r{step}")),
                    json!({"personKey": {"sourceKey": key("p")}, "marketingListKey": {"sourceKey": key("l")}}),
                ),
            };
            // Persons take their own number as key (`p{step}`), so relation records name arrived persons too.
            let primary = match class {
                E::Person => Identity::new("b2b_person", format!("p{}", step % 40)),
                _ => primary,
            };
            if all.iter().any(|(c, p)| *c == class && p.primary == primary) {
                continue; // one profile per identity, as merging guarantees
            }
            let profile =
                Profile { identities: vec![primary.clone()], primary, record: record.as_object().unwrap().clone() };
            all.push((class, profile.clone()));
            let before = shape(&graph);
            let Err(profile) = graph.append(class, profile) else {
                appended += 1;
                assert_eq!(shape(&graph), shape(&link_all(&all)), "step {step}: {class} appended");
                continue;
            };
            assert_eq!(shape(&graph), before, "step {step}: a refused {class} left the graph as it was");
            // A placeholder holding its primary identity: a profile of the class that has not arrived.
            let arrived = |n: u32| {
                let primary = &graph.set(class).profiles[n as usize].primary;
                all[..all.len() - 1].iter().any(|(c, p)| *c == class && &p.primary == primary)
            };
            let slot = graph.set(class).find(&profile.primary).filter(|&n| !arrived(n));
            match slot.map(|slot| graph.fill(class, slot, profile)) {
                Some(Ok(n)) => {
                    filled += 1;
                    assert_eq!(Some(n), slot);
                    assert_eq!(shape(&graph), shape(&link_all(&all)), "step {step}: {class} filled its placeholder");
                }
                Some(Err(_)) | None => {
                    refused += 1;
                    assert_eq!(shape(&graph), before, "step {step}: a refused {class} left the graph as it was");
                    graph = link_all(&all);
                }
            }
        }
        // Every way was taken often enough to mean something.
        assert!(
            appended >= 100 && filled >= 20 && refused >= 20,
            "appended {appended}, filled {filled}, refused {refused}"
        );
    }
}
