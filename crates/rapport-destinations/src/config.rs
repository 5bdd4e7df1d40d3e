//! Destination settings: one tagged config per type, unknown keys rejected, secrets masked.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::file::FileConfig;
use crate::{Error, Result};

/// A secret setting (client secret, access token, signing key). `Debug` and `Display` print `***`; the value
/// is read with [`Secret::expose`] where a request needs it, and never logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The type of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// Files in a local folder.
    File,
    /// Marketo Engage.
    Marketo,
    /// LinkedIn Matched Audiences (people).
    Linkedin,
    /// A JSON webhook.
    Webhook,
}

impl DestinationKind {
    /// The type's name as configs spell it.
    pub fn name(self) -> &'static str {
        match self {
            DestinationKind::File => "file",
            DestinationKind::Marketo => "marketo",
            DestinationKind::Linkedin => "linkedin",
            DestinationKind::Webhook => "webhook",
        }
    }

    /// The marketing action a flow to this type performs unless it names another one.
    pub fn default_action(self) -> MarketingAction {
        match self {
            DestinationKind::File | DestinationKind::Marketo => MarketingAction::EmailTargeting,
            DestinationKind::Linkedin | DestinationKind::Webhook => MarketingAction::ExportToThirdParty,
        }
    }
}

/// What an activation does with the people it sends, for consent and data-usage checks.
///
/// | action | consent fields that must not be `n` or `dn` | labels that refuse a field |
/// | --- | --- | --- |
/// | `email_targeting` | `consents.collect.val`, `consents.marketing.any.val`, `consents.marketing.email.val` | `C4`, `C12` |
/// | `export_to_third_party` | `consents.collect.val`, `consents.share.val` | `C2`, `C4`, `C12` |
///
/// Labels follow Adobe's contract labels: `C2` no export to a third party, `C4` no targeting of any kind,
/// `C12` no data export of any kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketingAction {
    /// Emails and marketing-automation programs (Marketo, email marketing files).
    EmailTargeting,
    /// Sending people to a third party (ad platforms, webhooks).
    ExportToThirdParty,
}

impl MarketingAction {
    /// The action's name.
    pub fn name(self) -> &'static str {
        match self {
            MarketingAction::EmailTargeting => "email_targeting",
            MarketingAction::ExportToThirdParty => "export_to_third_party",
        }
    }

    /// The XDM consent fields (Consents and Preferences field group) that deny this action when they hold `n`
    /// or `dn`.
    pub fn consent_fields(self) -> &'static [&'static str] {
        match self {
            MarketingAction::EmailTargeting => {
                &["consents.collect.val", "consents.marketing.any.val", "consents.marketing.email.val"]
            }
            MarketingAction::ExportToThirdParty => &["consents.collect.val", "consents.share.val"],
        }
    }

    /// The data-usage labels a field may not carry to be sent with this action, with what each means.
    pub fn restricted_labels(self) -> &'static [(&'static str, &'static str)] {
        const C2: (&str, &str) = ("C2", "no export to a third party");
        const C4: (&str, &str) = ("C4", "no targeting of any kind");
        const C12: (&str, &str) = ("C12", "no data export of any kind");
        match self {
            MarketingAction::EmailTargeting => &[C4, C12],
            MarketingAction::ExportToThirdParty => &[C2, C4, C12],
        }
    }
}

/// True when a consent value denies: `n` (no) or `dn` (default no). `y`, `dy`, `p` (pending), `u` (unknown)
/// and absence do not deny.
pub fn consent_denies(value: &str) -> bool {
    matches!(value, "n" | "dn")
}

/// A destination's type and settings, as `rapport destination create` takes them (JSON, `type` tag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DestinationConfig {
    /// Files in a local folder.
    File(FileConfig),
    /// Marketo Engage.
    Marketo(MarketoConfig),
    /// LinkedIn Matched Audiences.
    Linkedin(LinkedInConfig),
    /// A JSON webhook.
    Webhook(WebhookConfig),
}

/// Whether Marketo leads are created or only updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PersonAction {
    /// "Update existing and create new persons": `createOrUpdate`.
    #[default]
    CreateOrUpdate,
    /// "Update existing persons only": `updateOnly` (people unknown to Marketo are rejected).
    UpdateOnly,
}

/// What a Marketo destination synchronises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyncType {
    /// Lead upsert and static list membership.
    #[default]
    AudienceAndProfile,
    /// Static list membership only: the upsert that finds (or creates) each lead's id carries the dedupe field
    /// alone, so no other lead field is written.
    AudienceOnly,
    /// Lead upsert only, no static list.
    ProfileOnly,
}

/// Marketo Engage settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketoConfig {
    /// The REST base URL, `https://<munchkin-id>.mktorest.com`.
    pub base_url: String,
    /// The API-only user's client id (a LaunchPoint custom service).
    pub client_id: String,
    /// Its client secret.
    pub client_secret: Secret,
    /// The lead field Marketo deduplicates on (`lookupField`), e.g. `email`; the flow must map it.
    #[serde(default = "default_lookup_field")]
    pub lookup_field: String,
    /// Create new persons, or update existing ones only.
    #[serde(default)]
    pub person_action: PersonAction,
    /// Lead upsert, static lists, or both.
    #[serde(default)]
    pub sync_type: SyncType,
    /// The lead partition new leads go to, if the instance has partitions.
    #[serde(default)]
    pub partition: Option<String>,
    /// The folder (id) where static lists named after the audiences are created when missing.
    #[serde(default)]
    pub list_folder_id: Option<u64>,
    /// Calls per day the subscription allows (Marketo's default quota is 50,000); a run stops before
    /// exceeding what is left of it.
    #[serde(default = "default_daily_quota")]
    pub daily_quota: u64,
}

fn default_lookup_field() -> String {
    "email".to_owned()
}

fn default_daily_quota() -> u64 {
    50_000
}

/// LinkedIn Matched Audiences settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedInConfig {
    /// The API base, `https://api.linkedin.com/rest`.
    #[serde(default = "default_linkedin_base")]
    pub base_url: String,
    /// The OAuth 2.0 access token (member authorization with `rw_dmp_segments`).
    pub access_token: Secret,
    /// The Campaign Manager ad account id (the number of `urn:li:sponsoredAccount:<id>`).
    pub ad_account_id: String,
    /// The `LinkedIn-Version` header, `YYYYMM`.
    #[serde(default = "default_linkedin_version")]
    pub version: String,
    /// The `sourcePlatform` of created DMP segments (the partner's platform value assigned by LinkedIn).
    #[serde(default = "default_source_platform")]
    pub source_platform: String,
    /// Changes per `BATCH_CREATE` call.
    #[serde(default = "default_linkedin_batch")]
    pub batch_size: usize,
    /// What the DMP segments hold: `user` (people, by hashed email) or `company` (accounts, by company name;
    /// the "(Companies) LinkedIn" destination for account audiences).
    #[serde(default)]
    pub segment_type: LinkedInSegmentType,
}

/// The type of LinkedIn DMP segments a destination creates and fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LinkedInSegmentType {
    /// People audiences: `SHA256_EMAIL` user ids (`POST /dmpSegments/{id}/users`).
    #[default]
    User,
    /// Account audiences: companies by `companyName` (`POST /dmpSegments/{id}/companies`).
    Company,
}

fn default_linkedin_base() -> String {
    "https://api.linkedin.com/rest".to_owned()
}

fn default_linkedin_version() -> String {
    "202511".to_owned()
}

fn default_source_platform() -> String {
    "STREAMING".to_owned()
}

fn default_linkedin_batch() -> usize {
    1_000
}

/// Webhook settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL membership changes are POSTed to.
    pub url: String,
    /// The HMAC-SHA256 key of the `X-Rapport-Signature` header.
    pub secret: Secret,
    /// Changes per request.
    #[serde(default = "default_webhook_batch")]
    pub batch_size: usize,
}

fn default_webhook_batch() -> usize {
    500
}

impl DestinationConfig {
    /// Parses and validates a JSON config; errors name the setting.
    pub fn parse(text: &str) -> Result<Self> {
        let config: Self =
            serde_json::from_str(text).map_err(|e| Error::Options(format!("destination config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// The type.
    pub fn kind(&self) -> DestinationKind {
        match self {
            DestinationConfig::File(_) => DestinationKind::File,
            DestinationConfig::Marketo(_) => DestinationKind::Marketo,
            DestinationConfig::Linkedin(_) => DestinationKind::Linkedin,
            DestinationConfig::Webhook(_) => DestinationKind::Webhook,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let url = |name: &str, value: &str| {
            if value.starts_with("https://") || value.starts_with("http://") {
                Ok(())
            } else {
                Err(Error::Options(format!("`{name}` must be an http(s) URL, got `{value}`")))
            }
        };
        match self {
            DestinationConfig::File(c) => c.validate(),
            DestinationConfig::Marketo(c) => {
                url("base_url", &c.base_url)?;
                if c.lookup_field.trim().is_empty() {
                    return Err(Error::Options("`lookup_field` is empty".to_owned()));
                }
                Ok(())
            }
            DestinationConfig::Linkedin(c) => {
                url("base_url", &c.base_url)?;
                if !c.ad_account_id.chars().all(|ch| ch.is_ascii_digit()) || c.ad_account_id.is_empty() {
                    return Err(Error::Options(format!("`ad_account_id` must be digits, got `{}`", c.ad_account_id)));
                }
                if c.version.len() != 6 || !c.version.chars().all(|ch| ch.is_ascii_digit()) {
                    return Err(Error::Options(format!("`version` must be YYYYMM, got `{}`", c.version)));
                }
                if !(1..=5_000).contains(&c.batch_size) {
                    return Err(Error::Options("`batch_size` must be between 1 and 5000".to_owned()));
                }
                Ok(())
            }
            DestinationConfig::Webhook(c) => {
                url("url", &c.url)?;
                if c.batch_size == 0 {
                    return Err(Error::Options("`batch_size` must be at least 1".to_owned()));
                }
                Ok(())
            }
        }
    }

    /// A copy whose secrets read `***`, for display.
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        match &mut copy {
            DestinationConfig::File(c) => *c = c.redacted(),
            DestinationConfig::Marketo(c) => c.client_secret = Secret::new("***"),
            DestinationConfig::Linkedin(c) => c.access_token = Secret::new("***"),
            DestinationConfig::Webhook(c) => c.secret = Secret::new("***"),
        }
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_and_redaction_blanks_them() {
        let config = DestinationConfig::parse(
            r#"{"type":"webhook","url":"https://hooks.example.com/x","secret":"s3cr3t-value"}"#,
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
        let shown = serde_json::to_string(&config.redacted()).unwrap();
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains(r#""secret":"***""#), "{shown}");
    }

    #[test]
    fn unknown_settings_and_bad_values_are_named() {
        let err = DestinationConfig::parse(r#"{"type":"webhook","url":"https://x","secret":"k","colour":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = DestinationConfig::parse(r#"{"type":"linkedin","access_token":"t","ad_account_id":"12a"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`ad_account_id` must be digits, got `12a`"), "{err}");
    }

    #[test]
    fn consent_values_that_deny() {
        let denied: Vec<&str> =
            ["y", "n", "dy", "dn", "p", "u", "LI"].into_iter().filter(|v| consent_denies(v)).collect();
        assert_eq!(denied, ["n", "dn"]);
    }
}
