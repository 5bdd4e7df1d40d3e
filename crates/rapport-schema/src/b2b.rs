//! The standard "B2B …" schemas, their identity descriptors and relationships (B2B-DOMAIN a.1–a.4).

use std::collections::BTreeMap;

use rapport_model::{EntityKind, FieldPath, NamespaceCode};
use serde::Serialize;

use crate::library::{self, FieldDef};

/// An identity descriptor: this field's values are identities of that namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IdentityDescriptor {
    /// The field holding the identity value.
    pub path: FieldPath,
    /// The namespace of the values.
    pub namespace: NamespaceCode,
    /// True for the schema's primary identity.
    pub primary: bool,
}

/// A many-to-one relationship from a field of one schema to the primary identity of another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relationship {
    /// The entity holding the reference.
    pub source: EntityKind,
    /// The referencing field (may cross an array, as `personComponents[*]…`).
    pub source_path: FieldPath,
    /// The referenced entity.
    pub destination: EntityKind,
    /// The referenced field: the destination's primary identity.
    pub destination_path: FieldPath,
    /// The namespace of the referenced identity.
    pub namespace: NamespaceCode,
    /// The label seen from the source ("Account").
    pub name_from_source: &'static str,
    /// The label seen from the destination ("People").
    pub name_from_destination: &'static str,
}

/// A schema: one class plus field groups, with identity descriptors.
#[derive(Debug, Clone, Serialize)]
pub struct Schema {
    /// The title, e.g. `B2B Person`.
    pub name: String,
    /// The entity class.
    pub entity: EntityKind,
    /// The XDM class `$id`.
    pub class_id: String,
    /// The `$id`s of the attached field groups.
    pub field_groups: Vec<String>,
    /// Primary and secondary identity descriptors.
    pub identities: Vec<IdentityDescriptor>,
    /// True when the schema takes part in profiles (the generator enables every B2B schema).
    pub profile_enabled: bool,
    #[serde(skip)]
    fields: BTreeMap<FieldPath, FieldDef>,
    #[serde(skip)]
    tree: FieldNode,
    #[serde(skip)]
    required: Vec<FieldPath>,
}

/// The schema's fields as a tree keyed by field name, so that validation walks a record without building
/// paths. Element fields of an array of objects hang directly under the array's node. Children sit in an
/// FxHash map: on validation, SipHash took a quarter of the time and binary search over sorted names more
/// than half (`perf record` on `cargo bench -p rapport-schema --bench validate`).
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldNode {
    /// The field at this node (`None` for the root and for undeclared namespace objects such as `_schema`).
    pub(crate) def: Option<FieldDef>,
    /// True for the schema's primary identity field.
    pub(crate) is_primary: bool,
    children: rustc_hash::FxHashMap<String, FieldNode>,
}

impl FieldNode {
    fn build(fields: &BTreeMap<FieldPath, FieldDef>, primary: Option<&FieldPath>) -> Self {
        let mut root = FieldNode::default();
        for (path, def) in fields {
            let mut node = &mut root;
            for segment in path.segments() {
                node = node.children.entry(segment.clone()).or_default();
            }
            node.def = Some(def.clone());
            node.is_primary = primary == Some(path);
        }
        root
    }

    /// The child field named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&FieldNode> {
        self.children.get(name)
    }
}

/// The stored form of a schema: everything but the resolved fields, which are recomputed from the groups.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SchemaDoc {
    /// The title.
    pub name: String,
    /// The entity class.
    pub entity: EntityKind,
    /// The XDM class `$id`.
    pub class_id: String,
    /// The `$id`s of the attached field groups.
    pub field_groups: Vec<String>,
    /// Identity descriptors.
    pub identities: Vec<IdentityDescriptor>,
    /// Whether the schema takes part in profiles.
    pub profile_enabled: bool,
}

/// Why a schema cannot be composed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// A class or field group `$id` is neither in the standard library nor registered.
    #[error("schema {schema}: unknown class or field group `{id}`")]
    UnknownGroup {
        /// The schema.
        schema: String,
        /// The missing `$id`.
        id: String,
    },
    /// Two groups define the same path with different types.
    #[error("schema {schema}: `{path}` is {detail}")]
    Conflict {
        /// The schema.
        schema: String,
        /// The field.
        path: String,
        /// Both definitions: "string in Group A but integer in Group B".
        detail: String,
    },
    /// An identity descriptor names a field the schema does not have, or one that is not a string.
    #[error("schema {schema}: identity field `{path}` {reason}")]
    BadIdentity {
        /// The schema.
        schema: String,
        /// The descriptor's path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Schema {
    fn new(name: &str, entity: EntityKind, class_id: &str, field_groups: &[&str], identities: &[(&str, &str)]) -> Self {
        let doc = SchemaDoc {
            name: name.to_owned(),
            entity,
            class_id: class_id.to_owned(),
            field_groups: field_groups.iter().map(|id| (*id).to_owned()).collect(),
            identities: identities
                .iter()
                .enumerate()
                .map(|(i, (path, ns))| IdentityDescriptor {
                    path: FieldPath::parse(path).expect("standard identity paths are valid"),
                    namespace: NamespaceCode::new(*ns),
                    primary: i == 0,
                })
                .collect(),
            profile_enabled: true,
        };
        Self::compose(doc, &|id| library::group(id).cloned()).expect("the standard schemas compose")
    }

    /// Builds a schema from its stored form, resolving its class and field groups with `groups` (which must
    /// know the standard library and any registered custom groups). Fields of later groups must agree in type
    /// with earlier definitions of the same path.
    pub fn compose(doc: SchemaDoc, groups: &dyn Fn(&str) -> Option<library::Group>) -> Result<Self, ComposeError> {
        let mut fields: BTreeMap<FieldPath, FieldDef> = BTreeMap::new();
        let mut origin: BTreeMap<FieldPath, String> = BTreeMap::new();
        let mut required: Vec<FieldPath> = Vec::new();
        for id in std::iter::once(doc.class_id.as_str()).chain(doc.field_groups.iter().map(String::as_str)) {
            let group =
                groups(id).ok_or_else(|| ComposeError::UnknownGroup { schema: doc.name.clone(), id: id.to_owned() })?;
            for path in &group.required {
                if !required.contains(path) {
                    required.push(path.clone());
                }
            }
            for field in &group.fields {
                match fields.get(&field.path) {
                    Some(existing) if existing.ty != field.ty => {
                        return Err(ComposeError::Conflict {
                            schema: doc.name.clone(),
                            path: field.path.to_string(),
                            detail: format!(
                                "{} in {} but {} in {}",
                                existing.ty, origin[&field.path], field.ty, group.title
                            ),
                        })
                    }
                    Some(_) => {}
                    None => {
                        fields.insert(field.path.clone(), field.clone());
                        origin.insert(field.path.clone(), group.title.clone());
                    }
                }
            }
        }
        for identity in &doc.identities {
            let reason = match fields.get(&identity.path) {
                None => Some("is not a field of the schema"),
                Some(f) if f.ty != library::FieldType::String => Some("is not a string field"),
                Some(_) => None,
            };
            if let Some(reason) = reason {
                return Err(ComposeError::BadIdentity {
                    schema: doc.name.clone(),
                    path: identity.path.to_string(),
                    reason,
                });
            }
        }
        let primary = doc.identities.iter().find(|i| i.primary).map(|i| &i.path);
        let tree = FieldNode::build(&fields, primary);
        Ok(Self {
            name: doc.name,
            entity: doc.entity,
            class_id: doc.class_id,
            field_groups: doc.field_groups,
            identities: doc.identities,
            profile_enabled: doc.profile_enabled,
            fields,
            tree,
            required,
        })
    }

    /// The schema as an XDM document model, for export: a concrete schema of its class, identified as
    /// `https://ns.rapport.dev/schemas/<name in kebab case>`, its primary identity required.
    pub fn to_xdm(&self) -> crate::xdm::ImportedSchema {
        let slug: String =
            self.name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        crate::xdm::ImportedSchema {
            id: format!("https://ns.rapport.dev/schemas/{slug}"),
            title: self.name.clone(),
            kind: crate::xdm::SchemaKind::Schema,
            extends: std::iter::once(self.class_id.clone()).chain(self.field_groups.iter().cloned()).collect(),
            intended_to_extend: Vec::new(),
            class: Some(self.class_id.clone()),
            fields: self.fields.values().cloned().collect(),
            required: std::iter::once(self.primary().path.clone()).chain(self.required.iter().cloned()).collect(),
            annotations: BTreeMap::new(),
        }
    }

    /// The stored form of the schema.
    pub fn doc(&self) -> SchemaDoc {
        SchemaDoc {
            name: self.name.clone(),
            entity: self.entity,
            class_id: self.class_id.clone(),
            field_groups: self.field_groups.clone(),
            identities: self.identities.clone(),
            profile_enabled: self.profile_enabled,
        }
    }

    /// Fields that must be present whenever their parent object is.
    pub fn required(&self) -> &[FieldPath] {
        &self.required
    }

    /// The root of the field tree.
    pub(crate) fn tree(&self) -> &FieldNode {
        &self.tree
    }

    /// The primary identity descriptor.
    pub fn primary(&self) -> &IdentityDescriptor {
        self.identities.iter().find(|d| d.primary).expect("every standard schema has a primary identity")
    }

    /// The field at `path`, if the schema has it.
    pub fn field(&self, path: &FieldPath) -> Option<&FieldDef> {
        self.fields.get(path)
    }

    /// Every field of the schema, in path order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.values()
    }

    /// The closest existing field path to `path`, for "did you mean" hints.
    pub fn suggest(&self, path: &str) -> Option<String> {
        let last = path.rsplit('.').next().unwrap_or(path);
        self.fields
            .keys()
            .map(|candidate| {
                let text = candidate.to_string();
                let whole = strsim::normalized_levenshtein(path, &text);
                let leaf = candidate.segments().last().map(|s| strsim::normalized_levenshtein(last, s)).unwrap_or(0.0);
                (whole.max(leaf), text)
            })
            .filter(|(score, _)| *score >= 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
            .map(|(_, text)| text)
    }
}

/// The schemas and relationships of one sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaSet {
    /// The schemas.
    pub schemas: Vec<Schema>,
    /// The many-to-one relationships between them.
    pub relationships: Vec<Relationship>,
}

impl SchemaSet {
    /// The schema of an entity class (the union schema, since there is one schema per B2B class).
    pub fn for_entity(&self, entity: EntityKind) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.entity == entity)
    }

    /// The schema with this name.
    pub fn by_name(&self, name: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.name == name)
    }
}

const PROFILE: &str = "https://ns.adobe.com/xdm/context/profile";
const ACCOUNT: &str = "https://ns.adobe.com/xdm/context/account";
const OPPORTUNITY: &str = "https://ns.adobe.com/xdm/context/opportunity";
const OPPORTUNITY_PERSON: &str = "https://ns.adobe.com/xdm/classes/opportunity-person";
const ACCOUNT_PERSON: &str = "https://ns.adobe.com/xdm/classes/account-person";
const CAMPAIGN: &str = "https://ns.adobe.com/xdm/classes/campaign";
const CAMPAIGN_MEMBER: &str = "https://ns.adobe.com/xdm/context/campaign-member";
const MARKETING_LIST: &str = "https://ns.adobe.com/xdm/classes/marketing-list";
const MARKETING_LIST_MEMBER: &str = "https://ns.adobe.com/xdm/classes/marketing-list-member";
const AUDIT: &str = "https://ns.adobe.com/xdm/common/external-source-system-audit-details";
const EXTERNAL_KEY: &str = "extSourceSystemAudit.externalKey.sourceKey";

const EXPERIENCE_EVENT: &str = "https://ns.adobe.com/xdm/context/experienceevent";

/// The `$id` of Rapport's field group holding the "B2B Activity" fields of the Marketo activities mapping
/// (B2B-DOMAIN c.3) that the XDM reference snapshot does not define: `personKey` and the `web.*`,
/// `environment.*`, `device.*`, `search.*`, `directMarketing.*`, `leadOperation.changeScore/interestingMoment`
/// and `listOperations.*` fields, all typed as the mapping writes them.
pub const ACTIVITY_FIELD_GROUP: &str = "https://ns.rapport.dev/fieldgroups/b2b-activity-details";

const ACTIVITY_FIELD_GROUP_JSON: &str = include_str!("../library/rapport-b2b-activity.json");

/// The field groups of the "B2B Activity" schema: the XDM event field groups of the reference snapshot
/// (opportunity, campaign and Marketo web URL events), then Rapport's [`ACTIVITY_FIELD_GROUP`].
const ACTIVITY_GROUPS: &[&str] = &[
    "https://ns.adobe.com/xdm/mixins/events/opportunityupdated",
    "https://ns.adobe.com/xdm/mixins/events/add-to-opportunity",
    "https://ns.adobe.com/xdm/mixins/events/remove-from-opportunity",
    "https://ns.adobe.com/xdm/mixins/events/add-to-campaign",
    "https://ns.adobe.com/xdm/mixins/events/change-campaign-stream",
    "https://ns.adobe.com/xdm/mixins/events/change-campaign-cadence",
    "https://ns.adobe.com/xdm/mixins/events/statusincampaignprogressionchanged",
    "https://ns.adobe.com/b2b/marketo/marketo-web-url",
    ACTIVITY_FIELD_GROUP,
];

/// Rapport's activity field group ([`ACTIVITY_FIELD_GROUP`]), in the library's own form.
pub fn activity_field_group() -> &'static library::Group {
    static GROUP: std::sync::OnceLock<library::Group> = std::sync::OnceLock::new();
    GROUP.get_or_init(|| {
        let value: serde_json::Value =
            serde_json::from_str(ACTIVITY_FIELD_GROUP_JSON).expect("the embedded activity field group is JSON");
        library::group_from_json(ACTIVITY_FIELD_GROUP, &value).expect("the embedded activity field group is valid")
    })
}

/// The "B2B Activity" schema (B2B-DOMAIN a.1): the XDM ExperienceEvent class (`_id`, `timestamp`, `eventType`,
/// `producedBy`, `identityMap`) with the activity field groups; primary identity `personKey.sourceKey` in
/// `b2b_person`, which links each event to its person. Time-series: events are appended, never merged.
pub fn activity() -> &'static Schema {
    static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        let doc = SchemaDoc {
            name: "B2B Activity".to_owned(),
            entity: EntityKind::Activity,
            class_id: EXPERIENCE_EVENT.to_owned(),
            field_groups: ACTIVITY_GROUPS.iter().map(|id| (*id).to_owned()).collect(),
            identities: vec![IdentityDescriptor {
                path: FieldPath::from_segments(["personKey", "sourceKey"]),
                namespace: NamespaceCode::new("b2b_person"),
                primary: true,
            }],
            profile_enabled: true,
        };
        let groups = |id: &str| {
            if id == ACTIVITY_FIELD_GROUP {
                Some(activity_field_group().clone())
            } else {
                library::group(id).cloned()
            }
        };
        Schema::compose(doc, &groups).expect("the B2B Activity schema composes")
    })
}

impl SchemaSet {
    /// The schema of the experience events: the set's own `activity` schema, else the standard
    /// [`activity()`] schema.
    pub fn activity(&self) -> &Schema {
        self.for_entity(EntityKind::Activity).unwrap_or_else(|| activity())
    }
}

/// The standard B2B schemas, as the auto-generation utility creates them (B2B-DOMAIN a.1, a.3, a.4).
pub fn generate_b2b() -> SchemaSet {
    use EntityKind as E;
    let schemas = vec![
        Schema::new(
            "B2B Person",
            E::Person,
            PROFILE,
            &[
                "https://ns.adobe.com/xdm/mixins/b2b-person-details",
                "https://ns.adobe.com/xdm/mixins/b2b-person-components",
                "https://ns.adobe.com/xdm/context/identitymap",
                "https://ns.adobe.com/xdm/mixins/profile-consents",
            ],
            &[("b2b.personKey.sourceKey", "b2b_person"), (EXTERNAL_KEY, "b2b_person"), ("workEmail.address", "Email")],
        ),
        Schema::new(
            "B2B Account",
            E::Account,
            ACCOUNT,
            &["https://ns.adobe.com/xdm/mixins/account-details"],
            &[("accountKey.sourceKey", "b2b_account"), (EXTERNAL_KEY, "b2b_account")],
        ),
        Schema::new(
            "B2B Opportunity",
            E::Opportunity,
            OPPORTUNITY,
            &["https://ns.adobe.com/xdm/mixins/opportunity-details"],
            &[("opportunityKey.sourceKey", "b2b_opportunity"), (EXTERNAL_KEY, "b2b_opportunity")],
        ),
        Schema::new(
            "B2B Opportunity Person Relation",
            E::OpportunityPerson,
            OPPORTUNITY_PERSON,
            &[],
            &[
                ("opportunityPersonKey.sourceKey", "b2b_opportunity_person_relation"),
                (EXTERNAL_KEY, "b2b_opportunity_person_relation"),
            ],
        ),
        Schema::new(
            "B2B Account Person Relation",
            E::AccountPerson,
            ACCOUNT_PERSON,
            &["https://ns.adobe.com/xdm/context/identitymap"],
            &[("accountPersonKey.sourceKey", "b2b_account_person_relation")],
        ),
        Schema::new(
            "B2B Campaign",
            E::Campaign,
            CAMPAIGN,
            &["https://ns.adobe.com/xdm/mixins/campaign-details", AUDIT],
            &[("campaignKey.sourceKey", "b2b_campaign"), (EXTERNAL_KEY, "b2b_campaign")],
        ),
        Schema::new(
            "B2B Campaign Member",
            E::CampaignMember,
            CAMPAIGN_MEMBER,
            &["https://ns.adobe.com/xdm/context/campaign-member-details", AUDIT],
            &[("campaignMemberKey.sourceKey", "b2b_campaign_member"), (EXTERNAL_KEY, "b2b_campaign_member")],
        ),
        Schema::new(
            "B2B Marketing List",
            E::MarketingList,
            MARKETING_LIST,
            &[],
            &[("marketingListKey.sourceKey", "b2b_marketing_list")],
        ),
        Schema::new(
            "B2B Marketing List Member",
            E::MarketingListMember,
            MARKETING_LIST_MEMBER,
            &[],
            &[("marketingListMemberKey.sourceKey", "b2b_marketing_list_member")],
        ),
    ];
    let rel =
        |source, source_path: &str, destination, destination_path: &str, ns: &str, from_src, from_dst| Relationship {
            source,
            source_path: FieldPath::parse(source_path).expect("standard relationship paths are valid"),
            destination,
            destination_path: FieldPath::parse(destination_path).expect("standard relationship paths are valid"),
            namespace: NamespaceCode::new(ns),
            name_from_source: from_src,
            name_from_destination: from_dst,
        };
    let person_key = "b2b.personKey.sourceKey";
    let account_key = "accountKey.sourceKey";
    let relationships = vec![
        rel(
            E::Person,
            "personComponents[*].sourceAccountKey.sourceKey",
            E::Account,
            account_key,
            "b2b_account",
            "Account",
            "People",
        ),
        rel(E::Opportunity, account_key, E::Account, account_key, "b2b_account", "Account", "Opportunities"),
        rel(
            E::OpportunityPerson,
            "personKey.sourceKey",
            E::Person,
            person_key,
            "b2b_person",
            "Person",
            "Opportunities",
        ),
        rel(
            E::OpportunityPerson,
            "opportunityKey.sourceKey",
            E::Opportunity,
            "opportunityKey.sourceKey",
            "b2b_opportunity",
            "Opportunity",
            "People",
        ),
        rel(E::CampaignMember, "personKey.sourceKey", E::Person, person_key, "b2b_person", "Person", "Campaigns"),
        rel(
            E::CampaignMember,
            "campaignKey.sourceKey",
            E::Campaign,
            "campaignKey.sourceKey",
            "b2b_campaign",
            "Campaign",
            "People",
        ),
        rel(
            E::MarketingListMember,
            "personKey.sourceKey",
            E::Person,
            person_key,
            "b2b_person",
            "Person",
            "Marketing Lists",
        ),
        rel(
            E::MarketingListMember,
            "marketingListKey.sourceKey",
            E::MarketingList,
            "marketingListKey.sourceKey",
            "b2b_marketing_list",
            "Marketing List",
            "People",
        ),
        rel(E::AccountPerson, "personKey.sourceKey", E::Person, person_key, "b2b_person", "People", "Account"),
        rel(E::AccountPerson, account_key, E::Account, account_key, "b2b_account", "Account", "People"),
        rel(
            E::Account,
            "accountParentKey.sourceKey",
            E::Account,
            account_key,
            "b2b_account",
            "Parent Account",
            "Child Accounts",
        ),
    ];
    SchemaSet { schemas, relationships }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identity_and_relationship_path_exists_in_its_schema() {
        let set = generate_b2b();
        assert_eq!(set.schemas.len(), 9);
        for schema in &set.schemas {
            for identity in &schema.identities {
                assert!(schema.field(&identity.path).is_some(), "{}: {}", schema.name, identity.path);
            }
        }
        for rel in &set.relationships {
            let source = set.for_entity(rel.source).unwrap();
            let destination = set.for_entity(rel.destination).unwrap();
            assert!(source.field(&rel.source_path).is_some(), "{} {}", source.name, rel.source_path);
            assert_eq!(&destination.primary().path, &rel.destination_path);
        }
    }

    #[test]
    fn the_activity_schema_holds_the_event_fields_of_the_marketo_mapping() {
        let schema = activity();
        assert_eq!(schema.entity, EntityKind::Activity);
        assert_eq!(schema.primary().path.to_string(), "personKey.sourceKey");
        for path in [
            "_id",
            "timestamp",
            "eventType",
            "producedBy",
            "personKey.sourceKey",
            "web.webPageDetails.URL",
            "opportunityEvent.opportunityKey.sourceKey",
            "leadOperation.campaignProgression.campaignKey.sourceKey",
            "listOperations.listKey.sourceKey",
        ] {
            assert!(schema.field(&FieldPath::parse(path).unwrap()).is_some(), "{path}");
        }
        assert_eq!(
            schema.field(&FieldPath::parse("timestamp").unwrap()).unwrap().ty,
            crate::FieldType::DateTime,
            "the class's timestamp comes from the XDM JSON as a date-time"
        );
    }

    #[test]
    fn suggests_close_field_names() {
        let set = generate_b2b();
        let person = set.for_entity(EntityKind::Person).unwrap();
        assert_eq!(person.suggest("extendedWorkDetails.departmnt").as_deref(), Some("extendedWorkDetails.departments"));
    }
}
