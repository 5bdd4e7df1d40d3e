//! Salesforce exports (Data Loader / Data Export CSV: every field quoted, date-times `2024-03-05T14:22:11.000Z`).
//!
//! Mapping: `shared/reference/B2B-DOMAIN.md` c.1, newest version of the template (with `isDeleted`, the
//! `"Contact"` / `"Lead"` constants, `Website`, `CurrencyIsoCode`, `AccountContactRelation`).
//!
//! | Table | File names | Entity |
//! | --- | --- | --- |
//! | `Account` | `Account.csv` | account |
//! | `Contact` | `Contact.csv` | person |
//! | `Lead` | `Lead.csv` | person |
//! | `Opportunity` | `Opportunity.csv` | opportunity |
//! | `OpportunityContactRole` | `OpportunityContactRole.csv` | opportunity_person |
//! | `Campaign` | `Campaign.csv` | campaign |
//! | `CampaignMember` | `CampaignMember.csv` | campaign_member |
//! | `AccountContactRelation` | `AccountContactRelation.csv` | account_person |
//!
//! Where the template says `SF_REF(X)` (a key without `sourceID`) and separately `X` → `....sourceID`, both
//! rules are kept, so the written object ends up complete; `SF_REF_ID(X)` writes the whole key at once.
//!
//! Choices where the template is loose:
//! - The relation tables' second and third key quadruples (`OpportunityContactRole.ContactId`,
//!   `CampaignMember.LeadOrContactId`, ...) are not guarded in the template; an empty one here writes no key
//!   rather than a dangling `"@org.Salesforce"` one.
//! - `AccountContactRelation`: the template writes `IsActive` → `IsActive` and `IsDirect` → `IsDirect` with
//!   Salesforce capitalisation; the XDM fields are `isActive` / `isDirect`, which is what is written.
//! - Salesforce date fields mapped to XDM date-times (`LastActivityDate`, campaign and relation start/end dates,
//!   `ConvertedDate`, `FirstRespondedDate`) are read as midnight UTC.

use rapport_model::{EntityKind, SourceSystem};

use crate::mapping::{
    boolean, constant, date, datetime, integer, key, number, reference, split, text, text_list, Rule,
};
use crate::SourceTable;

/// The Salesforce tables.
pub(crate) static TABLES: [SourceTable; 8] = [
    table("Account", EntityKind::Account, &["account"], ACCOUNT),
    table("Contact", EntityKind::Person, &["contact"], CONTACT),
    table("Lead", EntityKind::Person, &["lead"], LEAD),
    table("Opportunity", EntityKind::Opportunity, &["opportunity"], OPPORTUNITY),
    table(
        "OpportunityContactRole",
        EntityKind::OpportunityPerson,
        &["opportunitycontactrole"],
        OPPORTUNITY_CONTACT_ROLE,
    ),
    table("Campaign", EntityKind::Campaign, &["campaign"], CAMPAIGN),
    table("CampaignMember", EntityKind::CampaignMember, &["campaignmember"], CAMPAIGN_MEMBER),
    table("AccountContactRelation", EntityKind::AccountPerson, &["accountcontactrelation"], ACCOUNT_CONTACT_RELATION),
];

const fn table(
    name: &'static str,
    entity: EntityKind,
    stems: &'static [&'static str],
    rules: &'static [Rule],
) -> SourceTable {
    SourceTable::new(SourceSystem::Salesforce, name, entity, stems, "Id", rules)
}

const ACCOUNT: &[Rule] = &[
    key("Id", "accountKey"),
    text("AccountNumber", "accountNumber"),
    text("AccountSource", "accountSourceType"),
    number("AnnualRevenue", "accountOrganization.annualRevenue.amount"),
    text("BillingCity", "accountBillingAddress.city"),
    text("BillingCountry", "accountBillingAddress.country"),
    text("BillingPostalCode", "accountBillingAddress.postalCode"),
    text("BillingState", "accountBillingAddress.state"),
    text("BillingStreet", "accountBillingAddress.street1"),
    number("BillingLatitude", "accountBillingAddress._schema.latitude"),
    number("BillingLongitude", "accountBillingAddress._schema.longitude"),
    text("ShippingCity", "accountShippingAddress.city"),
    text("ShippingCountry", "accountShippingAddress.country"),
    text("ShippingPostalCode", "accountShippingAddress.postalCode"),
    text("ShippingState", "accountShippingAddress.state"),
    text("ShippingStreet", "accountShippingAddress.street1"),
    number("ShippingLatitude", "accountShippingAddress._schema.latitude"),
    number("ShippingLongitude", "accountShippingAddress._schema.longitude"),
    datetime("CreatedDate", "extSourceSystemAudit.createdDate"),
    datetime("LastActivityDate", "extSourceSystemAudit.lastActivityDate"),
    datetime("LastModifiedDate", "extSourceSystemAudit.lastUpdatedDate"),
    datetime("LastReferencedDate", "extSourceSystemAudit.lastReferencedDate"),
    datetime("LastViewedDate", "extSourceSystemAudit.lastViewedDate"),
    text("Description", "accountDescription"),
    text("DunsNumber", "accountOrganization.DUNSNumber"),
    text("Fax", "accountFax.number"),
    text("Industry", "accountOrganization.industry"),
    text("Jigsaw", "accountOrganization.jigsaw"),
    text("NaicsCode", "accountOrganization.NAICSCode"),
    text("NaicsDesc", "accountOrganization.NAICSDescription"),
    text("Name", "accountName"),
    integer("NumberOfEmployees", "accountOrganization.numberOfEmployees"),
    text("Ownership", "accountOwnership"),
    text("ParentId", "accountParentKey.sourceID"),
    reference("ParentId", "accountParentKey"),
    text("Phone", "accountPhone.number"),
    text("Sic", "accountOrganization.SICCode"),
    text("SicDesc", "accountOrganization.SICDescription"),
    text("Site", "accountSite"),
    text("TickerSymbol", "accountOrganization.tickerSymbol"),
    text("Tradestyle", "accountTradeStyle"),
    text("Type", "accountType"),
    text("Website", "accountOrganization.website"),
    boolean("IsDeleted", "isDeleted"),
];

const CONTACT: &[Rule] = &[
    key("Id", "b2b.personKey"),
    key("Id", "personComponents.sourcePersonKey"),
    text("AccountId", "b2b.accountKey.sourceID"),
    reference("AccountId", "b2b.accountKey"),
    key("AccountId", "personComponents.sourceAccountKey"),
    text("Email", "workEmail.address"),
    text("Email", "personComponents.workEmail.address"),
    text("FirstName", "person.name.firstName"),
    text("LastName", "person.name.lastName"),
    text("Name", "person.name.fullName"),
    text("Salutation", "person.name.courtesyTitle"),
    date("Birthdate", "person.birthDate"),
    text("Title", "extendedWorkDetails.jobTitle"),
    text_list("Department", "extendedWorkDetails.departments"),
    text("ReportsToId", "extendedWorkDetails.reportsToID"),
    text("AssistantName", "extendedWorkDetails.assistantDetails.name.fullName"),
    text("AssistantPhone", "extendedWorkDetails.assistantDetails.phone.number"),
    text("Phone", "workPhone.number"),
    text("MobilePhone", "mobilePhone.number"),
    text("HomePhone", "homePhone.number"),
    text("OtherPhone", "otherPhone.number"),
    text("Fax", "faxPhone.number"),
    text("MailingStreet", "workAddress.street1"),
    text("MailingCity", "workAddress.city"),
    text("MailingState", "workAddress.state"),
    text("MailingPostalCode", "workAddress.postalCode"),
    text("MailingCountry", "workAddress.country"),
    number("MailingLatitude", "workAddress._schema.latitude"),
    number("MailingLongitude", "workAddress._schema.longitude"),
    text("OtherStreet", "otherAddress.street1"),
    text("OtherCity", "otherAddress.city"),
    text("OtherState", "otherAddress.state"),
    text("OtherPostalCode", "otherAddress.postalCode"),
    text("OtherCountry", "otherAddress.country"),
    number("OtherLatitude", "otherAddress._schema.latitude"),
    number("OtherLongitude", "otherAddress._schema.longitude"),
    text("LeadSource", "b2b.personSource"),
    text("LeadSource", "personComponents.personSource"),
    datetime("CreatedDate", "extSourceSystemAudit.createdDate"),
    datetime("LastActivityDate", "extSourceSystemAudit.lastActivityDate"),
    datetime("LastModifiedDate", "extSourceSystemAudit.lastUpdatedDate"),
    datetime("LastReferencedDate", "extSourceSystemAudit.lastReferencedDate"),
    datetime("LastViewedDate", "extSourceSystemAudit.lastViewedDate"),
    constant("Contact", "b2b.personType"),
    boolean("IsDeleted", "isDeleted"),
];

const LEAD: &[Rule] = &[
    key("Id", "b2b.personKey"),
    key("Id", "personComponents.sourcePersonKey"),
    text("Email", "workEmail.address"),
    text("Email", "personComponents.workEmail.address"),
    text("FirstName", "person.name.firstName"),
    text("LastName", "person.name.lastName"),
    text("Name", "person.name.fullName"),
    text("Salutation", "person.name.courtesyTitle"),
    text("Suffix", "person.name.suffix"),
    text("Title", "extendedWorkDetails.jobTitle"),
    text("Fax", "faxPhone.number"),
    text("Street", "workAddress.street1"),
    text("City", "workAddress.city"),
    text("State", "workAddress.state"),
    text("PostalCode", "workAddress.postalCode"),
    text("Country", "workAddress.country"),
    number("Latitude", "workAddress._schema.latitude"),
    number("Longitude", "workAddress._schema.longitude"),
    text("Status", "b2b.personStatus"),
    text("Status", "personComponents.personStatus"),
    text("LeadSource", "b2b.personSource"),
    text("LeadSource", "personComponents.personSource"),
    text("Company", "b2b.companyName"),
    text("Website", "b2b.companyWebsite"),
    boolean("IsConverted", "b2b.isConverted"),
    datetime("ConvertedDate", "b2b.convertedDate"),
    text("ConvertedContactId", "b2b.convertedContactKey.sourceID"),
    reference("ConvertedContactId", "b2b.convertedContactKey"),
    key("ConvertedContactId", "personComponents.sourceConvertedContactKey"),
    datetime("CreatedDate", "extSourceSystemAudit.createdDate"),
    datetime("LastActivityDate", "extSourceSystemAudit.lastActivityDate"),
    datetime("LastModifiedDate", "extSourceSystemAudit.lastUpdatedDate"),
    datetime("LastReferencedDate", "extSourceSystemAudit.lastReferencedDate"),
    datetime("LastViewedDate", "extSourceSystemAudit.lastViewedDate"),
    constant("Lead", "b2b.personType"),
    boolean("IsDeleted", "isDeleted"),
];

const OPPORTUNITY: &[Rule] = &[
    key("Id", "opportunityKey"),
    text("AccountId", "accountKey.sourceID"),
    reference("AccountId", "accountKey"),
    text("CampaignId", "campaignKey.sourceID"),
    reference("CampaignId", "campaignKey"),
    number("Amount", "opportunityAmount.amount"),
    text("CurrencyIsoCode", "opportunityAmount.currencyCode"),
    date("CloseDate", "expectedCloseDate"),
    text("Description", "opportunityDescription"),
    number("ExpectedRevenue", "expectedRevenue.amount"),
    text("FiscalQuarter", "fiscalQuarter"),
    integer("FiscalYear", "fiscalYear"),
    text("ForecastCategory", "forecastCategory"),
    text("ForecastCategoryName", "forecastCategoryName"),
    boolean("IsClosed", "isClosed"),
    boolean("IsWon", "isWon"),
    text("LeadSource", "leadSource"),
    text("Name", "opportunityName"),
    text("NextStep", "nextStep"),
    number("Probability", "probabilityPercentage"),
    text("StageName", "opportunityStage"),
    integer("TotalOpportunityQuantity", "opportunityQuantity"),
    text("Type", "opportunityType"),
    datetime("CreatedDate", "extSourceSystemAudit.createdDate"),
    datetime("LastActivityDate", "extSourceSystemAudit.lastActivityDate"),
    datetime("LastModifiedDate", "extSourceSystemAudit.lastUpdatedDate"),
    datetime("LastReferencedDate", "extSourceSystemAudit.lastReferencedDate"),
    datetime("LastViewedDate", "extSourceSystemAudit.lastViewedDate"),
    boolean("IsDeleted", "isDeleted"),
];

const OPPORTUNITY_CONTACT_ROLE: &[Rule] = &[
    key("Id", "opportunityPersonKey"),
    key("ContactId", "personKey"),
    key("OpportunityId", "opportunityKey"),
    text("Role", "personRole"),
    boolean("IsPrimary", "isPrimary"),
    datetime("CreatedDate", "extSourceSystemAudit.createdDate"),
    datetime("LastModifiedDate", "extSourceSystemAudit.lastUpdatedDate"),
    boolean("IsDeleted", "isDeleted"),
];

const CAMPAIGN: &[Rule] = &[
    key("Id", "campaignKey"),
    text("Name", "campaignName"),
    text("Description", "campaignDescription"),
    text("Type", "campaignType"),
    text("Status", "campaignStatus"),
    text("ParentId", "parentCampaignKey.sourceID"),
    reference("ParentId", "parentCampaignKey"),
    datetime("StartDate", "campaignStartDate"),
    datetime("EndDate", "campaignEndDate"),
    number("ExpectedRevenue", "expectedRevenue.amount"),
    number("BudgetedCost", "budgetedCost.amount"),
    number("ActualCost", "actualCost.amount"),
    text("CurrencyIsoCode", "actualCost.currencyCode"),
    text("ExpectedResponse", "expectedResponse"),
    boolean("IsActive", "isActive"),
    datetime("CreatedDate", "extSourceSystemAudit.createdDate"),
    datetime("LastModifiedDate", "extSourceSystemAudit.lastUpdatedDate"),
    datetime("LastActivityDate", "extSourceSystemAudit.lastActivityDate"),
    datetime("LastViewedDate", "extSourceSystemAudit.lastViewedDate"),
    datetime("LastReferencedDate", "extSourceSystemAudit.lastReferencedDate"),
    boolean("IsDeleted", "isDeleted"),
];

const CAMPAIGN_MEMBER: &[Rule] = &[
    key("Id", "campaignMemberKey"),
    key("CampaignId", "campaignKey"),
    key("LeadOrContactId", "personKey"),
    text("Status", "memberStatus"),
    boolean("HasResponded", "hasResponded"),
    datetime("FirstRespondedDate", "firstRespondedDate"),
    datetime("CreatedDate", "extSourceSystemAudit.createdDate"),
    datetime("LastModifiedDate", "extSourceSystemAudit.lastUpdatedDate"),
    text("Type", "b2b.personType"),
    boolean("IsDeleted", "isDeleted"),
];

const ACCOUNT_CONTACT_RELATION: &[Rule] = &[
    text("AccountId", "accountKey.sourceID"),
    reference("AccountId", "accountKey"),
    text("ContactId", "personKey.sourceID"),
    reference("ContactId", "personKey"),
    key("Id", "accountPersonKey"),
    text("CreatedById", "extSourceSystemAudit.createdBy"),
    datetime("CreatedDate", "extSourceSystemAudit.createdDate"),
    text("LastModifiedById", "extSourceSystemAudit.lastUpdatedBy"),
    datetime("LastModifiedDate", "extSourceSystemAudit.lastUpdatedDate"),
    datetime("StartDate", "relationStartDate"),
    datetime("EndDate", "relationEndDate"),
    boolean("IsActive", "isActive"),
    boolean("IsDirect", "isDirect"),
    split("Roles", "personRoles", ';'),
    boolean("IsDeleted", "isDeleted"),
];
