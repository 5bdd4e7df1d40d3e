//! Identity namespaces: the standard set and how each normalizes its values.

use rapport_model::{Identity, NamespaceCode};
use serde::{Deserialize, Serialize};

/// The identity type of a namespace (it decides graph behaviour and eviction order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentityType {
    /// A person identifier across devices (CRM ids, `b2b_person`).
    CrossDevice,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A browser cookie (ECID).
    Cookie,
    /// A hardware device id.
    Device,
    /// An identifier of something that is not a person; no person graph is built from it.
    NonPeople,
    /// A partner id; no graph is built from it.
    PartnerId,
    /// The B2B account entity.
    B2bAccount,
    /// The B2B opportunity entity.
    B2bOpportunity,
    /// The B2B opportunity-person relation entity.
    B2bOpportunityPerson,
    /// The B2B campaign entity.
    B2bCampaign,
    /// The B2B campaign member entity.
    B2bCampaignMember,
    /// The B2B marketing list entity.
    B2bMarketingList,
    /// The B2B marketing list member entity.
    B2bMarketingListMember,
    /// The B2B account-person relation entity.
    B2bAccountPerson,
}

/// How a namespace normalizes an identity value before it is compared or stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Surrounding white space removed.
    Trim,
    /// Trimmed and ASCII lower-cased (emails).
    TrimLowercase,
    /// Kept exactly as given.
    Exact,
    /// A phone number in E.164: `+`, country code and number, digits only (spaces, dashes, dots and
    /// parentheses dropped; a leading `00` read as `+`). A number without a country code is refused.
    E164,
}

impl Normalization {
    /// Applies the rule; `None` when nothing is left.
    pub fn apply(self, value: &str) -> Option<String> {
        let out = match self {
            Normalization::Trim => value.trim().to_owned(),
            Normalization::TrimLowercase => value.trim().to_ascii_lowercase(),
            Normalization::Exact => value.to_owned(),
            Normalization::E164 => return e164(value),
        };
        (!out.is_empty()).then_some(out)
    }

    /// The names accepted on the command line.
    pub const NAMES: &'static [&'static str] = &["trim", "lowercase", "exact", "e164"];

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "trim" => Some(Normalization::Trim),
            "lowercase" => Some(Normalization::TrimLowercase),
            "exact" => Some(Normalization::Exact),
            "e164" => Some(Normalization::E164),
            _ => None,
        }
    }
}

fn e164(value: &str) -> Option<String> {
    let trimmed = value.trim();
    let rest = if let Some(rest) = trimmed.strip_prefix('+') { rest } else { trimmed.strip_prefix("00")? };
    let mut digits = String::with_capacity(16);
    digits.push('+');
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    // E.164: at most 15 digits; the shortest numbers in use have 8 with their country code.
    ((9..=16).contains(&digits.len()) && !digits[1..].starts_with('0')).then_some(digits)
}

/// An identity namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// The identity symbol, e.g. `b2b_person`.
    pub code: NamespaceCode,
    /// The display name, e.g. `B2B Person`.
    pub name: String,
    /// The identity type.
    pub id_type: IdentityType,
    /// How values are normalized.
    pub normalization: Normalization,
    /// True for namespaces Rapport ships (they cannot be changed or deleted).
    pub standard: bool,
}

impl IdentityType {
    /// The names accepted on the command line, with their types.
    pub const NAMES: &'static [(&'static str, IdentityType)] = &[
        ("cross-device", IdentityType::CrossDevice),
        ("email", IdentityType::Email),
        ("phone", IdentityType::Phone),
        ("cookie", IdentityType::Cookie),
        ("device", IdentityType::Device),
        ("non-people", IdentityType::NonPeople),
        ("partner-id", IdentityType::PartnerId),
    ];

    /// Parses a command-line name (custom namespaces take the people and non-people types, not the B2B ones).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }
}

impl Namespace {
    /// A custom namespace, checked: the code is 1–64 letters, digits, `_`, `-` or `.` and starts with a letter;
    /// the display name is not empty.
    pub fn custom(code: &str, name: &str, id_type: IdentityType, normalization: Normalization) -> Result<Self, String> {
        let valid_code = code.len() <= 64
            && code.starts_with(|c: char| c.is_ascii_alphabetic())
            && code.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !valid_code {
            return Err(format!(
                "namespace code `{code}` must start with a letter and hold at most 64 letters, digits, `_`, `-` or `.`"
            ));
        }
        if name.trim().is_empty() {
            return Err(format!("namespace `{code}` needs a display name"));
        }
        Ok(Self {
            code: NamespaceCode::new(code),
            name: name.trim().to_owned(),
            id_type,
            normalization,
            standard: false,
        })
    }

    fn standard(code: &str, name: &str, id_type: IdentityType, normalization: Normalization) -> Self {
        Self { code: NamespaceCode::new(code), name: name.to_owned(), id_type, normalization, standard: true }
    }

    /// The identity for a raw value, normalized by this namespace; `None` for an empty value.
    pub fn identity(&self, raw: &str) -> Option<Identity> {
        self.normalization.apply(raw).map(|value| Identity { namespace: self.code.clone(), value })
    }

    /// True when identities of this namespace take part in person identity graphs.
    pub fn stitches_people(&self) -> bool {
        matches!(self.id_type, IdentityType::CrossDevice | IdentityType::Email | IdentityType::Phone)
    }
}

/// The namespaces Rapport ships: the nine B2B namespaces, the two intent ones, Email, Phone and ECID.
pub fn standard() -> Vec<Namespace> {
    use IdentityType as T;
    use Normalization as N;
    vec![
        Namespace::standard("b2b_person", "B2B Person", T::CrossDevice, N::Trim),
        Namespace::standard("b2b_account", "B2B Account", T::B2bAccount, N::Trim),
        Namespace::standard("b2b_opportunity", "B2B Opportunity", T::B2bOpportunity, N::Trim),
        Namespace::standard(
            "b2b_opportunity_person_relation",
            "B2B Opportunity Person Relation",
            T::B2bOpportunityPerson,
            N::Trim,
        ),
        Namespace::standard("b2b_campaign", "B2B Campaign", T::B2bCampaign, N::Trim),
        Namespace::standard("b2b_campaign_member", "B2B Campaign Member", T::B2bCampaignMember, N::Trim),
        Namespace::standard("b2b_marketing_list", "B2B Marketing List", T::B2bMarketingList, N::Trim),
        Namespace::standard(
            "b2b_marketing_list_member",
            "B2B Marketing List Member",
            T::B2bMarketingListMember,
            N::Trim,
        ),
        Namespace::standard("b2b_account_person_relation", "B2B Account Person Relation", T::B2bAccountPerson, N::Trim),
        Namespace::standard("b2b_demandbase_account_intent", "B2B Demandbase Account Intent", T::NonPeople, N::Trim),
        Namespace::standard("b2b_bombora_account_intent", "B2B Bombora Account Intent", T::NonPeople, N::Trim),
        Namespace::standard("Email", "Email", T::Email, N::TrimLowercase),
        Namespace::standard("Phone", "Phone", T::Phone, N::Trim),
        Namespace::standard("Phone_E.164", "Phone (E.164)", T::Phone, N::E164),
        Namespace::standard("ECID", "Experience Cloud ID", T::Cookie, N::Exact),
    ]
}

/// The standard namespace with this code.
pub fn standard_by_code(code: &str) -> Option<&'static Namespace> {
    static STANDARD: std::sync::OnceLock<Vec<Namespace>> = std::sync::OnceLock::new();
    STANDARD.get_or_init(standard).iter().find(|ns| ns.code.as_str() == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = standard_by_code("Email").unwrap();
        assert_eq!(email.identity("  Jane.Doe@Acme.COM ").unwrap().value, "jane.doe@acme.com");
        assert_eq!(email.identity("   "), None);
    }

    #[test]
    fn the_nine_b2b_namespaces_are_standard() {
        let codes: Vec<_> = standard().into_iter().map(|ns| ns.code.as_str().to_owned()).collect();
        for code in [
            "b2b_person",
            "b2b_account",
            "b2b_opportunity",
            "b2b_opportunity_person_relation",
            "b2b_campaign",
            "b2b_campaign_member",
            "b2b_marketing_list",
            "b2b_marketing_list_member",
            "b2b_account_person_relation",
        ] {
            assert!(codes.iter().any(|c| c == code), "{code} missing");
        }
    }

    #[test]
    fn phones_normalize_to_e164_or_are_refused() {
        let e164 = Normalization::E164;
        assert_eq!(e164.apply(" +1 (415) 555-0132 ").as_deref(), Some("+14155550132"));
        assert_eq!(e164.apply("0049 30 1234567").as_deref(), Some("+49301234567"));
        assert_eq!(e164.apply("415-555-0132"), None, "no country code");
        assert_eq!(e164.apply("+1 415 555 0132 ext 7"), None, "letters");
        assert_eq!(e164.apply("+0 123 456 789"), None, "country codes do not start with 0");
        assert_eq!(e164.apply("+1234567890123456"), None, "more than 15 digits");
    }

    #[test]
    fn custom_namespace_codes_are_checked() {
        assert!(Namespace::custom("loyaltyId", "Loyalty ID", IdentityType::CrossDevice, Normalization::Trim).is_ok());
        let err = Namespace::custom("9lives", "x", IdentityType::CrossDevice, Normalization::Trim).unwrap_err();
        assert!(err.contains("must start with a letter"), "{err}");
        assert!(Namespace::custom("ok", " ", IdentityType::Email, Normalization::Trim).is_err());
    }
}
