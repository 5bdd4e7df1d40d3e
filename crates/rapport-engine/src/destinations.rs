//! Destinations and activation flows: create, list, show, test; data-usage labels checked at flow creation.
//!
//! An activation flow sends audiences of people to one destination: the identity exported (a namespace), the
//! attributes selected with their target names (`mapping`), the attributes a member must have to be sent
//! (`mandatory`), the deduplication key, the schedule and the marketing action (for consent and labels; by
//! default the destination type's, see [`MarketingAction`]).
//!
//! **Mapping sources.** A person field path of the schema (scalar fields only: arrays, objects and maps cannot
//! be exported), or one of: `primaryIdentity` (the profile's primary identity as `namespace:value`),
//! `identityMap.<NAMESPACE>` (the profile's first identity in that namespace), `segmentMembership.status`
//! (`realized`, `existing`, or `exited` in incremental files).
//!
//! **Labels.** The schema model has no labels yet, so labels live in the store (`rapport label add PATH
//! LABEL`): a label on a path covers the fields under it. A flow whose selected fields carry a label its
//! marketing action restricts is refused, naming the label and the field.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use rapport_destinations::{DestinationConfig, DestinationKind, MarketingAction, RetryPolicy};
use rapport_model::{EntityKind, FieldPath};
use rapport_store::{StoredActivationFlow, StoredDestination};
use serde::{Deserialize, Serialize};

use crate::{Engine, Error, Result};

/// Most audiences one flow activates (the documented soft guardrail, enforced).
pub const MAX_AUDIENCES: usize = 250;
/// Most attributes one flow maps (the documented soft guardrail, enforced).
pub const MAX_ATTRIBUTES: usize = 50;

/// One selected attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMapping {
    /// The source: a person field path or a special source (see the module docs).
    pub source: String,
    /// The name at the destination (file column, Marketo lead field, webhook attribute).
    pub target: String,
}

/// When a flow runs (`rapport activation run --due` runs the flows that are due).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "every", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// On demand only.
    #[default]
    Manual,
    /// Once: due until its first run.
    Once,
    /// Every 3, 6, 8 or 12 hours.
    Hours {
        /// The period.
        hours: u32,
    },
    /// Daily at a UTC time, `HH:MM`.
    Daily {
        /// The time.
        at: String,
    },
}

impl Schedule {
    fn validate(&self) -> Result<()> {
        match self {
            Schedule::Hours { hours } if ![3, 6, 8, 12].contains(hours) => {
                Err(Error::Flow(format!("schedule: every {hours} hours is not one of 3, 6, 8 or 12")))
            }
            Schedule::Daily { at } => NaiveTime::parse_from_str(at, "%H:%M")
                .map(|_| ())
                .map_err(|_| Error::Flow(format!("schedule: daily time `{at}` is not HH:MM"))),
            _ => Ok(()),
        }
    }

    /// Whether a flow last started at `last` (`None`: never) is due at `now`.
    pub fn due(&self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match self {
            Schedule::Manual => false,
            Schedule::Once => last.is_none(),
            Schedule::Hours { hours } => last.is_none_or(|l| now - l >= chrono::Duration::hours(i64::from(*hours))),
            Schedule::Daily { at } => {
                let Ok(time) = NaiveTime::parse_from_str(at, "%H:%M") else { return false };
                let today = now.date_naive().and_hms_opt(time.hour(), time.minute(), 0).expect("valid time").and_utc();
                now >= today && last.is_none_or(|l| l < today)
            }
        }
    }
}

/// An activation flow's definition (`rapport activation create NAME --definition JSON`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationFlowDef {
    /// The destination's name.
    pub destination: String,
    /// The audiences sent (people audiences).
    pub audiences: Vec<String>,
    /// The identity namespace exported (e.g. `Email`): its value is the member's identity at the destination
    /// (hashed for LinkedIn) and, for files, a column named after the namespace. Required for Marketo and
    /// LinkedIn (an email namespace).
    #[serde(default)]
    pub identity: Option<String>,
    /// The selected attributes.
    #[serde(default)]
    pub mapping: Vec<AttributeMapping>,
    /// Target names a member must have a value for to be sent.
    #[serde(default)]
    pub mandatory: Vec<String>,
    /// The deduplication key: `["identity"]`, one target name, or two target names; when members collide, the
    /// one that qualified most recently (`realized` before `existing`) wins, then the smallest member key.
    #[serde(default)]
    pub dedupe: Vec<String>,
    /// When the flow runs.
    #[serde(default)]
    pub schedule: Schedule,
    /// The marketing action, when not the destination type's default.
    #[serde(default)]
    pub marketing_action: Option<MarketingAction>,
}

/// A destination as shown: secrets redacted.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationView {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: DestinationKind,
    /// Its settings, secrets shown as `***`.
    pub config: DestinationConfig,
    /// Creation time.
    pub created_at: String,
}

/// A stored flow with its definition.
#[derive(Debug, Clone, Serialize)]
pub struct ActivationFlow {
    /// Its name.
    pub name: String,
    /// Its definition.
    pub definition: ActivationFlowDef,
    /// Creation time.
    pub created_at: String,
}

/// What a mapping source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A person field.
    Field(FieldPath),
    /// The primary identity.
    Primary,
    /// The first identity of a namespace.
    Identity(String),
    /// The membership status.
    Status,
}

impl Source {
    pub(crate) fn parse(text: &str) -> Option<Source> {
        match text {
            "primaryIdentity" => Some(Source::Primary),
            "segmentMembership.status" => Some(Source::Status),
            _ => match text.strip_prefix("identityMap.") {
                Some(ns) if !ns.is_empty() => Some(Source::Identity(ns.to_owned())),
                _ => FieldPath::parse(text).ok().map(Source::Field),
            },
        }
    }
}

pub(crate) fn destination_config(stored: &StoredDestination) -> Result<DestinationConfig> {
    serde_json::from_str(&stored.config)
        .map_err(|e| Error::Internal(format!("stored destination `{}`: {e}", stored.name)))
}

pub(crate) fn flow_definition(stored: &StoredActivationFlow) -> Result<ActivationFlowDef> {
    serde_json::from_str(&stored.definition)
        .map_err(|e| Error::Internal(format!("stored activation flow `{}`: {e}", stored.name)))
}

fn view(stored: &StoredDestination) -> Result<DestinationView> {
    let config = destination_config(stored)?;
    Ok(DestinationView {
        name: stored.name.clone(),
        kind: config.kind(),
        config: config.redacted(),
        created_at: stored.created_at.clone(),
    })
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(Error::Flow(format!("{what} name `{name}` must be letters, digits, `-`, `_` or `.`")));
    }
    Ok(())
}

impl Engine {
    /// Saves a destination after validating its settings.
    pub fn create_destination(&mut self, name: &str, config: &DestinationConfig) -> Result<DestinationView> {
        check_name("destination", name)?;
        config.validate()?;
        let text = serde_json::to_string(config).map_err(|e| Error::Internal(e.to_string()))?;
        let stored = self.store.create_destination(name, config.kind().name(), &text)?;
        view(&stored)
    }

    /// Every destination, secrets redacted.
    pub fn destinations(&self) -> Result<Vec<DestinationView>> {
        self.store.destinations()?.iter().map(view).collect()
    }

    /// One destination, secrets redacted.
    pub fn destination(&self, name: &str) -> Result<DestinationView> {
        view(&self.store.destination(name)?)
    }

    /// Checks that a destination is reachable with its credentials (a file destination: that its folder can
    /// be written), changing nothing at the destination.
    pub fn test_destination(&self, name: &str, retry: RetryPolicy) -> Result<String> {
        let config = destination_config(&self.store.destination(name)?)?;
        if let DestinationConfig::File(file) = &config {
            let dir = rapport_destinations::file::resolve_folder(&file.folder, "test")?;
            // The nearest folder that exists (the rest is created by the first export).
            let base = dir
                .ancestors()
                .map(|p| if p.as_os_str().is_empty() { std::path::Path::new(".") } else { p })
                .find(|p| p.is_dir())
                .unwrap_or(&dir)
                .to_owned();
            let probe = tempfile_in(&base)?;
            return Ok(format!("file: folder {} is writable ({})", base.display(), probe));
        }
        let mut connector = rapport_destinations::Connector::build(&config, retry)?
            .ok_or_else(|| Error::Internal("a streaming destination has a connector".to_owned()))?;
        Ok(connector.test()?)
    }

    /// Puts a data-usage label (e.g. `C2`) on a person field path.
    pub fn add_field_label(&mut self, path: &str, label: &str) -> Result<()> {
        let parsed = FieldPath::parse(path).map_err(|e| Error::Flow(format!("label: {e}")))?;
        let schema = self.schemas.for_entity(EntityKind::Person).ok_or(Error::NoSchema(EntityKind::Person))?;
        let known = schema.fields().any(|f| f.path == parsed || f.path.segments().starts_with(parsed.segments()));
        if !known {
            let hint = schema.suggest(path).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
            return Err(Error::Flow(format!("label: the person schema has no field `{path}`{hint}")));
        }
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Flow(format!("label `{label}` must be letters, digits or `_`")));
        }
        Ok(self.store.add_field_label(path, label)?)
    }

    /// Every (field path, label).
    pub fn field_labels(&self) -> Result<Vec<(String, String)>> {
        Ok(self.store.field_labels()?)
    }

    /// Validates and saves an activation flow.
    pub fn create_activation_flow(&mut self, name: &str, def: &ActivationFlowDef) -> Result<ActivationFlow> {
        check_name("activation flow", name)?;
        self.validate_flow(def)?;
        let text = serde_json::to_string(def).map_err(|e| Error::Internal(e.to_string()))?;
        let stored = self.store.create_activation_flow(name, &def.destination, &text)?;
        Ok(ActivationFlow { name: stored.name, definition: def.clone(), created_at: stored.created_at })
    }

    /// Every activation flow.
    pub fn activation_flows(&self) -> Result<Vec<ActivationFlow>> {
        self.store
            .activation_flows()?
            .iter()
            .map(|s| {
                Ok(ActivationFlow {
                    name: s.name.clone(),
                    definition: flow_definition(s)?,
                    created_at: s.created_at.clone(),
                })
            })
            .collect()
    }

    fn validate_flow(&self, def: &ActivationFlowDef) -> Result<()> {
        let destination = destination_config(&self.store.destination(&def.destination)?)?;
        let kind = destination.kind();
        if def.audiences.is_empty() {
            return Err(Error::Flow("a flow needs at least one audience".to_owned()));
        }
        if def.audiences.len() > MAX_AUDIENCES {
            return Err(Error::Flow(format!(
                "{} audiences: a flow takes at most {MAX_AUDIENCES}",
                def.audiences.len()
            )));
        }
        for audience in &def.audiences {
            let record = self.store.audience(audience)?;
            if record.entity != EntityKind::Person {
                return Err(Error::Flow(format!("audience `{audience}` is not an audience of people")));
            }
        }
        if def.mapping.len() > MAX_ATTRIBUTES {
            return Err(Error::Flow(format!("{} attributes: a flow maps at most {MAX_ATTRIBUTES}", def.mapping.len())));
        }
        let schema = self.schemas.for_entity(EntityKind::Person).ok_or(Error::NoSchema(EntityKind::Person))?;
        let mut targets = BTreeSet::new();
        for (i, m) in def.mapping.iter().enumerate() {
            let at = format!("mapping[{i}]");
            if m.target.trim().is_empty() {
                return Err(Error::Flow(format!("{at}: the target name is empty")));
            }
            if !targets.insert(m.target.as_str()) {
                return Err(Error::Flow(format!("{at}: target `{}` is mapped twice", m.target)));
            }
            match Source::parse(&m.source) {
                None => return Err(Error::Flow(format!("{at}: `{}` is not a field path", m.source))),
                Some(Source::Field(path)) => match schema.field(&path) {
                    None => {
                        let hint =
                            schema.suggest(&m.source).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                        return Err(Error::Flow(format!("{at}: the person schema has no field `{}`{hint}", m.source)));
                    }
                    Some(field) if !field.ty.is_scalar() => {
                        return Err(Error::Flow(format!(
                            "{at}: `{}` is {}; arrays, objects and maps cannot be exported",
                            m.source, field.ty
                        )));
                    }
                    Some(_) => {}
                },
                Some(Source::Identity(ns)) => self.check_namespace(&at, &ns)?,
                Some(Source::Primary | Source::Status) => {}
            }
        }
        if let Some(ns) = &def.identity {
            self.check_namespace("identity", ns)?;
        }
        for name in &def.mandatory {
            if !targets.contains(name.as_str()) {
                return Err(Error::Flow(format!("mandatory attribute `{name}` is not a mapped target")));
            }
        }
        let identity_key = def.dedupe.iter().any(|k| k == "identity");
        if def.dedupe.len() > 2 || (identity_key && def.dedupe.len() > 1) {
            return Err(Error::Flow(
                "dedupe: one identity (`identity`), one attribute, or two attributes, never a mix".to_owned(),
            ));
        }
        if identity_key && def.identity.is_none() {
            return Err(Error::Flow("dedupe on `identity` needs the flow's `identity` namespace".to_owned()));
        }
        for key in def.dedupe.iter().filter(|k| *k != "identity") {
            if !targets.contains(key.as_str()) {
                return Err(Error::Flow(format!("dedupe key `{key}` is not a mapped target")));
            }
        }
        def.schedule.validate()?;
        match &destination {
            DestinationConfig::Marketo(c) if !targets.contains(c.lookup_field.as_str()) => {
                return Err(Error::Flow(format!(
                    "marketo deduplicates leads on `{}`: map an attribute to that target",
                    c.lookup_field
                )));
            }
            DestinationConfig::Linkedin(_) => {
                let email = def
                    .identity
                    .as_deref()
                    .and_then(|ns| self.store.namespaces().ok()?.into_iter().find(|n| n.code.as_str() == ns));
                let is_email = email.is_some_and(|n| n.id_type == rapport_schema::namespace::IdentityType::Email);
                if !is_email {
                    return Err(Error::Flow(
                        "linkedin matches people by hashed email: set `identity` to an email namespace (e.g. `Email`)"
                            .to_owned(),
                    ));
                }
            }
            _ => {}
        }
        // Data-usage labels.
        let action = def.marketing_action.unwrap_or(kind.default_action());
        let labels = self.store.field_labels()?;
        for m in &def.mapping {
            let Some(Source::Field(path)) = Source::parse(&m.source) else { continue };
            for (labelled, label) in &labels {
                let Ok(labelled_path) = FieldPath::parse(labelled) else { continue };
                if !path.segments().starts_with(labelled_path.segments()) {
                    continue;
                }
                if let Some((_, meaning)) = action.restricted_labels().iter().find(|(l, _)| l == label) {
                    return Err(Error::Flow(format!(
                        "field `{}` carries label `{label}` ({meaning}), which the marketing action `{}` of \
                         destination `{}` does not allow",
                        m.source,
                        action.name(),
                        def.destination
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_namespace(&self, at: &str, ns: &str) -> Result<()> {
        if self.store.namespaces()?.iter().any(|n| n.code.as_str() == ns) {
            Ok(())
        } else {
            Err(Error::Flow(format!("{at}: no identity namespace `{ns}`")))
        }
    }
}

/// Creates and removes a probe file in `dir`, returning its name.
fn tempfile_in(dir: &std::path::Path) -> Result<String> {
    let probe = dir.join(format!(".rapport-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|source| Error::Input { path: dir.display().to_string(), source })?;
    Ok("probe file written and removed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, h, m, 0).unwrap()
    }

    #[test]
    fn schedules_are_due_as_documented() {
        assert!(!Schedule::Manual.due(None, t(12, 0)));
        assert!(Schedule::Once.due(None, t(12, 0)));
        assert!(!Schedule::Once.due(Some(t(1, 0)), t(12, 0)));
        let six = Schedule::Hours { hours: 6 };
        assert!(six.due(Some(t(6, 0)), t(12, 0)));
        assert!(!six.due(Some(t(6, 1)), t(12, 0)));
        let daily = Schedule::Daily { at: "09:30".into() };
        assert!(!daily.due(None, t(9, 29)));
        assert!(daily.due(None, t(9, 30)));
        assert!(daily.due(Some(t(9, 0) - chrono::Duration::days(1)), t(10, 0)));
        assert!(!daily.due(Some(t(9, 31)), t(23, 0)));
        assert!(Schedule::Hours { hours: 5 }.validate().is_err());
        assert!(Schedule::Daily { at: "25:00".into() }.validate().is_err());
    }
}
