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
use rapport_destinations::config::LinkedInSegmentType;
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

/// When a flow runs: `rapport serve` runs the flows that are due (its scheduler), and so does `rapport
/// activation run --due` (for cron).
///
/// Scheduled runs happen at **slots**: `daily` at `at` (UTC) every day; `hours` every 3, 6, 8 or 12 hours
/// counted from `at` (default `00:00`), which repeat the same times every day since those periods divide a day
/// (every 6 hours from `02:30`: 02:30, 08:30, 14:30, 20:30). A flow is due at the first slot after its last run
/// (a run at 08:30:00.2 is followed by the 14:30 slot) or, if it never ran, at the first slot at or after its
/// creation. Slots missed while nothing was running are not caught up one by one: the next check runs the flow
/// once. `once` is due as soon as it is created, until its first run.
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
        /// The first slot of each day, `HH:MM` UTC (`00:00` when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    /// Daily at a UTC time, `HH:MM`.
    Daily {
        /// The time.
        at: String,
    },
}

fn parse_hhmm(at: &str) -> Option<NaiveTime> {
    if at.len() != 5 {
        return None;
    }
    NaiveTime::parse_from_str(at, "%H:%M").ok()
}

/// The first slot strictly after `t` (or at or after it, when `inclusive`) of slots every `period` seconds
/// shifted by `offset` seconds from the Unix epoch (a midnight UTC).
fn slot_after(t: DateTime<Utc>, period: i64, offset: i64, inclusive: bool) -> DateTime<Utc> {
    // Whole milliseconds: a run that started 0.2 s after its slot is after it.
    let ms = t.timestamp_millis() - offset * 1000;
    let p = period * 1000;
    let n = if inclusive { (ms + p - 1).div_euclid(p) } else { ms.div_euclid(p) + 1 };
    DateTime::from_timestamp_millis(n * p + offset * 1000).expect("slot within chrono's range")
}

impl Schedule {
    fn validate(&self) -> Result<()> {
        let time = |at: &str| {
            parse_hhmm(at)
                .map(|_| ())
                .ok_or_else(|| Error::Flow(format!("schedule: time `{at}` is not HH:MM (UTC, 00:00 to 23:59)")))
        };
        match self {
            Schedule::Hours { hours, .. } if ![3, 6, 8, 12].contains(hours) => {
                Err(Error::Flow(format!("schedule: every {hours} hours is not one of 3, 6, 8 or 12")))
            }
            Schedule::Hours { at: Some(at), .. } | Schedule::Daily { at } => time(at),
            _ => Ok(()),
        }
    }

    /// The period and offset (seconds) of the slots of a periodic schedule.
    fn slots(&self) -> Option<(i64, i64)> {
        let seconds = |at: Option<&str>| -> Option<i64> {
            let time = match at {
                None => NaiveTime::MIN,
                Some(at) => parse_hhmm(at)?,
            };
            Some(i64::from(time.num_seconds_from_midnight()))
        };
        match self {
            Schedule::Manual | Schedule::Once => None,
            Schedule::Hours { hours, at } => {
                let period = i64::from(*hours) * 3600;
                Some((period, seconds(at.as_deref())?.rem_euclid(period)))
            }
            Schedule::Daily { at } => Some((86_400, seconds(Some(at))?)),
        }
    }

    /// When a flow created at `created` whose last scheduled run started at `last` (`None`: never) is next
    /// due; `None` when it never is again (manual, or a `once` that ran).
    pub fn next_due(&self, last: Option<DateTime<Utc>>, created: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Manual => None,
            Schedule::Once => last.is_none().then_some(created),
            _ => {
                let (period, offset) = self.slots()?;
                Some(match last {
                    Some(last) => slot_after(last, period, offset, false),
                    None => slot_after(created, period, offset, true),
                })
            }
        }
    }

    /// Whether the flow is due at `now` (see [`Schedule::next_due`]).
    pub fn due(&self, last: Option<DateTime<Utc>>, created: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.next_due(last, created).is_some_and(|at| at <= now)
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

/// The class of the audiences a destination takes: accounts for LinkedIn company segments, the class of the
/// flow's first audience for files (people or accounts), people otherwise. `None` for a file flow whose first
/// audience is of another class.
pub(crate) fn flow_entity(config: &DestinationConfig, first_audience: EntityKind) -> Option<EntityKind> {
    match config {
        DestinationConfig::Linkedin(c) if c.segment_type == LinkedInSegmentType::Company => Some(EntityKind::Account),
        DestinationConfig::File(_) => {
            matches!(first_audience, EntityKind::Person | EntityKind::Account).then_some(first_audience)
        }
        _ => Some(EntityKind::Person),
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
            if let Some(sftp) = &file.sftp {
                // The folder up to its audience macros: signs in, and creates and removes a probe file there.
                let base = rapport_destinations::file::base_folder(&file.folder)?;
                return Ok(rapport_destinations::sftp::check(sftp, &base)?);
            }
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
        self.store.activation_flows()?.iter().map(activation_flow).collect()
    }

    /// The activation flow `name` (a store `NotFound` when there is none).
    pub fn activation_flow(&self, name: &str) -> Result<ActivationFlow> {
        activation_flow(&self.store.activation_flow(name)?)
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
        let classes: Vec<EntityKind> =
            def.audiences.iter().map(|a| Ok(self.store.audience(a)?.entity)).collect::<Result<_>>()?;
        let entity = flow_entity(&destination, classes[0]).ok_or_else(|| {
            Error::Flow(format!(
                "audience `{}` is an audience of {} profiles: files take audiences of people or accounts",
                def.audiences[0],
                classes[0].name()
            ))
        })?;
        for (audience, &class) in def.audiences.iter().zip(&classes) {
            if class != entity {
                return Err(Error::Flow(match (&destination, entity) {
                    (DestinationConfig::File(_), _) => format!(
                        "audience `{audience}` is an audience of {} profiles, `{}` of {}: a flow's audiences are \
                         all of one class",
                        class.name(),
                        def.audiences[0],
                        entity.name()
                    ),
                    (_, EntityKind::Account) => format!(
                        "audience `{audience}` is not an account audience (a company segment takes account audiences)"
                    ),
                    _ => format!("audience `{audience}` is not an audience of people"),
                }));
            }
        }
        if def.mapping.len() > MAX_ATTRIBUTES {
            return Err(Error::Flow(format!("{} attributes: a flow maps at most {MAX_ATTRIBUTES}", def.mapping.len())));
        }
        let schema = self.schemas.for_entity(entity).ok_or(Error::NoSchema(entity))?;
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
                        return Err(Error::Flow(format!(
                            "{at}: the {} schema has no field `{}`{hint}",
                            entity.name(),
                            m.source
                        )));
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
            DestinationConfig::Linkedin(c)
                if c.segment_type == LinkedInSegmentType::Company && !targets.contains("companyName") =>
            {
                return Err(Error::Flow(
                    "linkedin company segments match companies by name: map an attribute (e.g. `accountName`) \
                     to the target `companyName`"
                        .to_owned(),
                ));
            }
            // Company segments carry no email identity: nothing more to check.
            DestinationConfig::Linkedin(c) if c.segment_type == LinkedInSegmentType::Company => {}
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
        // Data-usage labels (they are put on person fields: an account flow's fields carry none).
        let action = def.marketing_action.unwrap_or(kind.default_action());
        let labels = if entity == EntityKind::Person { self.store.field_labels()? } else { Vec::new() };
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

/// A stored activation flow with its definition read.
fn activation_flow(stored: &rapport_store::StoredActivationFlow) -> Result<ActivationFlow> {
    Ok(ActivationFlow {
        name: stored.name.clone(),
        definition: flow_definition(stored)?,
        created_at: stored.created_at.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32, m: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, s).unwrap() + chrono::Duration::milliseconds(i64::from(ms))
    }

    fn hours(h: u32, at: Option<&str>) -> Schedule {
        Schedule::Hours { hours: h, at: at.map(str::to_owned) }
    }

    #[test]
    fn next_due_times_worked_by_hand() {
        let created = at(29, 10, 17, 0, 0);
        // Manual: never. Once: at creation, then never.
        assert_eq!(Schedule::Manual.next_due(None, created), None);
        assert_eq!(Schedule::Once.next_due(None, created), Some(created));
        assert_eq!(Schedule::Once.next_due(Some(at(29, 10, 18, 0, 0)), created), None);
        // Every 6 hours from 02:30: slots 02:30, 08:30, 14:30, 20:30.
        let six = hours(6, Some("02:30"));
        assert_eq!(six.next_due(None, created), Some(at(29, 14, 30, 0, 0)));
        assert_eq!(six.next_due(None, at(29, 14, 30, 0, 0)), Some(at(29, 14, 30, 0, 0)), "a slot at creation counts");
        assert_eq!(six.next_due(Some(at(29, 8, 30, 0, 200)), created), Some(at(29, 14, 30, 0, 0)));
        assert_eq!(six.next_due(Some(at(29, 14, 30, 0, 0)), created), Some(at(29, 20, 30, 0, 0)));
        assert_eq!(six.next_due(Some(at(29, 20, 31, 0, 0)), created), Some(at(30, 2, 30, 0, 0)));
        assert_eq!(six.next_due(Some(at(29, 1, 59, 59, 999)), created), Some(at(29, 2, 30, 0, 0)));
        // Every 8 hours from midnight (no `at`): 00:00, 08:00, 16:00.
        let eight = hours(8, None);
        assert_eq!(eight.next_due(Some(at(29, 16, 0, 0, 1)), created), Some(at(30, 0, 0, 0, 0)));
        assert_eq!(eight.next_due(None, created), Some(at(29, 16, 0, 0, 0)));
        // Every 3 hours from 01:15: 01:15, 04:15, …, 22:15.
        assert_eq!(hours(3, Some("01:15")).next_due(Some(at(29, 22, 15, 0, 0)), created), Some(at(30, 1, 15, 0, 0)));
        // Every 12 hours from 23:00: 11:00 and 23:00.
        assert_eq!(hours(12, Some("23:00")).next_due(None, created), Some(at(29, 11, 0, 0, 0)));
        assert_eq!(hours(12, Some("23:00")).next_due(Some(at(29, 11, 0, 5, 0)), created), Some(at(29, 23, 0, 0, 0)));
        // Daily at 09:30: created at 10:17 → tomorrow; after a run today at 09:30 → tomorrow; a run yesterday
        // at 23:59 → today.
        let daily = Schedule::Daily { at: "09:30".into() };
        assert_eq!(daily.next_due(None, created), Some(at(30, 9, 30, 0, 0)));
        assert_eq!(daily.next_due(None, at(29, 9, 0, 0, 0)), Some(at(29, 9, 30, 0, 0)));
        assert_eq!(daily.next_due(Some(at(29, 9, 30, 0, 0)), created), Some(at(30, 9, 30, 0, 0)));
        assert_eq!(daily.next_due(Some(at(28, 23, 59, 0, 0)), created), Some(at(29, 9, 30, 0, 0)));
        // Across a month end.
        assert_eq!(
            daily.next_due(Some(at(30, 10, 0, 0, 0)), created),
            Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).single()
        );
        // Missed slots are not caught up one by one: two days down, one run, then the next slot.
        assert!(daily.due(Some(at(26, 9, 30, 0, 0)), created, at(29, 12, 0, 0, 0)));
        assert_eq!(daily.next_due(Some(at(29, 12, 0, 0, 0)), created), Some(at(30, 9, 30, 0, 0)));
        assert!(!daily.due(Some(at(29, 9, 31, 0, 0)), created, at(29, 23, 0, 0, 0)));
        assert!(six.due(None, created, at(29, 14, 30, 0, 0)));
        assert!(!six.due(None, created, at(29, 14, 29, 59, 999)));
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert!(hours(5, None).validate().is_err());
        assert!(hours(6, Some("6:00")).validate().is_err());
        assert!(hours(6, Some("06:00")).validate().is_ok());
        assert!(Schedule::Daily { at: "25:00".into() }.validate().is_err());
        let parsed: Schedule = serde_json::from_str(r#"{"every":"hours","hours":6}"#).unwrap();
        assert_eq!(parsed, hours(6, None));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), r#"{"every":"hours","hours":6}"#);
        assert!(serde_json::from_str::<Schedule>(r#"{"every":"hours","hours":6,"start":"x"}"#).is_err());
    }
}
