//! Marketo Engage exports (bulk-extract CSV: camelCase columns, ISO date-times `2024-03-05T14:22:11Z`).
//!
//! Mapping: `shared/reference/B2B-DOMAIN.md` c.3. The instance id is the munchkin id.
//!
//! | Table | File names | Entity |
//! | --- | --- | --- |
//! | `leads` | `leads.csv`, `persons.csv` | person |
//! | `companies` | `companies.csv` | account |
//! | `opportunities` | `opportunities.csv` | opportunity |
//! | `opportunityroles` | `opportunityroles.csv` | opportunity_person |
//! | `programs` | `programs.csv` | campaign |
//! | `programmembers` | `programmembers.csv` | campaign_member |
//! | `staticlists` | `staticlists.csv` | marketing_list |
//! | `staticlistmembers` | `staticlistmembers.csv` | marketing_list_member |
//!
//! Company keys carry the `.mkto_org` suffix (`{id}.mkto_org@{munchkin}.Marketo`), and so do the references
//! to companies (`contactCompany`, `mktoCdpParentOrgId`, `mktoCdpAccountOrgId`).
//!
//! Not mapped (reported as unmapped columns): the CRM-linked external keys (`CRM_REF(...)`: `sfdcType` /
//! `sfdcContactId` / `sfdcLeadId`, `msft*`, `mktoCdpExternalId`, `msftCdpExternalId`, `externalOpportunityId`,
//! `mktoCdpSfdcId`, `sfdcId`, `sfdc.crmId`). They need the CRM's type and org id, which a Marketo read does not
//! know ([`ReadOptions`](crate::ReadOptions) carries the munchkin id only).
//!
//! Calculated fields:
//! - `unsubscribed` → `consents.marketing.email.val`: `"n"` when true, `"y"` when false, as the template's
//!   expression `iif(unsubscribed == 'true', 'n', 'y')` does (its prose says false ⇒ null; the expression wins).
//! - `unsubscribedReason` → `consents.marketing.email.reason`, cut to 100 characters.
//! - `ecids` (comma-separated) → `identityMap.ECID` = `[{"id": ...}, ...]`.
//!
//! Extension beyond the template: `department` → `extendedWorkDetails.departments` (one-element array).

use rapport_model::{EntityKind, FieldPath, Record, SourceSystem};
use serde_json::{json, Value};

use crate::formats::{self, Fault};
use crate::mapping::{boolean, custom, date, datetime, integer, key, number, org_key, text, text_list, Cell, Rule};
use crate::SourceTable;

/// The Marketo tables.
pub(crate) static TABLES: [SourceTable; 8] = [
    table("leads", EntityKind::Person, &["leads", "persons"], "id", LEADS),
    table("companies", EntityKind::Account, &["companies"], "id", COMPANIES),
    table("opportunities", EntityKind::Opportunity, &["opportunities"], "id", OPPORTUNITIES),
    table("opportunityroles", EntityKind::OpportunityPerson, &["opportunityroles"], "id", OPPORTUNITY_ROLES),
    table("programs", EntityKind::Campaign, &["programs"], "id", PROGRAMS),
    table("programmembers", EntityKind::CampaignMember, &["programmembers"], "id", PROGRAM_MEMBERS),
    table("staticlists", EntityKind::MarketingList, &["staticlists"], "id", STATIC_LISTS),
    table(
        "staticlistmembers",
        EntityKind::MarketingListMember,
        &["staticlistmembers"],
        "staticListMemberID",
        STATIC_LIST_MEMBERS,
    ),
];

const fn table(
    name: &'static str,
    entity: EntityKind,
    stems: &'static [&'static str],
    id_column: &'static str,
    rules: &'static [Rule],
) -> SourceTable {
    SourceTable::new(SourceSystem::Marketo, name, entity, stems, id_column, rules)
}

const LEADS: &[Rule] = &[
    key("id", "b2b.personKey"),
    key("id", "personComponents.sourcePersonKey"),
    custom("unsubscribed", &["consents.marketing.email.val"], unsubscribed),
    custom("unsubscribedReason", &["consents.marketing.email.reason"], unsubscribed_reason),
    org_key("contactCompany", "b2b.accountKey"),
    org_key("contactCompany", "personComponents.sourceAccountKey"),
    boolean("marketingSuspended", "b2b.isMarketingSuspended"),
    text("marketingSuspendedCause", "b2b.marketingSuspendedCause"),
    number("leadScore", "b2b.personScore"),
    number("leadScore", "personComponents.personScore"),
    text("leadSource", "b2b.personSource"),
    text("leadSource", "personComponents.personSource"),
    text("leadStatus", "b2b.personStatus"),
    text("leadStatus", "personComponents.personStatus"),
    text("personType", "b2b.personType"),
    text("personType", "personComponents.personType"),
    text("leadPartitionId", "b2b.personGroupID"),
    text("leadPartitionId", "personComponents.personGroupID"),
    boolean("mktoCdpIsConverted", "b2b.isConverted"),
    datetime("mktoCdpConvertedDate", "b2b.convertedDate"),
    datetime("createdAt", "extSourceSystemAudit.createdDate"),
    datetime("updatedAt", "extSourceSystemAudit.lastUpdatedDate"),
    text("title", "extendedWorkDetails.jobTitle"),
    text_list("department", "extendedWorkDetails.departments"),
    text("fax", "faxPhone.number"),
    text("mobilePhone", "mobilePhone.number"),
    text("phone", "workPhone.number"),
    text("firstName", "person.name.firstName"),
    text("lastName", "person.name.lastName"),
    text("middleName", "person.name.middleName"),
    text("salutation", "person.name.courtesyTitle"),
    date("dateOfBirth", "person.birthDate"),
    text("city", "workAddress.city"),
    text("country", "workAddress.country"),
    text("postalCode", "workAddress.postalCode"),
    text("state", "workAddress.state"),
    text("address", "workAddress.street1"),
    text("company", "b2b.companyName"),
    text("website", "b2b.companyWebsite"),
    text("email", "workEmail.address"),
    text("email", "personComponents.workEmail.address"),
    custom("ecids", &["identityMap.ECID"], ecids),
    key("mktoCdpCnvContactPersonId", "b2b.convertedContactKey"),
    key("mktoCdpCnvContactPersonId", "personComponents.sourceConvertedContactKey"),
    boolean("marketoIsDeleted", "isDeleted"),
];

const COMPANIES: &[Rule] = &[
    org_key("id", "accountKey"),
    datetime("createdAt", "extSourceSystemAudit.createdDate"),
    datetime("updatedAt", "extSourceSystemAudit.lastUpdatedDate"),
    text("billingCity", "accountBillingAddress.city"),
    text("billingCountry", "accountBillingAddress.country"),
    text("billingPostalCode", "accountBillingAddress.postalCode"),
    text("billingState", "accountBillingAddress.state"),
    text("billingStreet", "accountBillingAddress.street1"),
    number("annualRevenue", "accountOrganization.annualRevenue.amount"),
    text("sicCode", "accountOrganization.SICCode"),
    text("industry", "accountOrganization.industry"),
    integer("numberOfEmployees", "accountOrganization.numberOfEmployees"),
    text("website", "accountOrganization.website"),
    text("mainPhone", "accountPhone.number"),
    text("company", "accountName"),
    text("companyNotes", "accountDescription"),
    text("site", "accountSite"),
    org_key("mktoCdpParentOrgId", "accountParentKey"),
    boolean("marketoIsDeleted", "isDeleted"),
];

const OPPORTUNITIES: &[Rule] = &[
    key("id", "opportunityKey"),
    org_key("mktoCdpAccountOrgId", "accountKey"),
    text("name", "opportunityName"),
    text("description", "opportunityDescription"),
    text("stage", "opportunityStage"),
    text("type", "opportunityType"),
    number("amount", "opportunityAmount.amount"),
    number("expectedRevenue", "expectedRevenue.amount"),
    date("closeDate", "expectedCloseDate"),
    text("fiscalQuarter", "fiscalQuarter"),
    integer("fiscalYear", "fiscalYear"),
    text("forecastCategory", "forecastCategory"),
    text("forecastCategoryName", "forecastCategoryName"),
    boolean("isClosed", "isClosed"),
    boolean("isWon", "isWon"),
    integer("quantity", "opportunityQuantity"),
    number("probability", "probabilityPercentage"),
    datetime("lastActivityDate", "lastActivityDate"),
    text("leadSource", "leadSource"),
    text("nextStep", "nextStep"),
    datetime("createdAt", "extSourceSystemAudit.createdDate"),
    datetime("updatedAt", "extSourceSystemAudit.lastUpdatedDate"),
    boolean("marketoIsDeleted", "isDeleted"),
];

const OPPORTUNITY_ROLES: &[Rule] = &[
    key("id", "opportunityPersonKey"),
    key("mktoCdpOpptyId", "opportunityKey"),
    key("leadId", "personKey"),
    text("role", "personRole"),
    boolean("isPrimary", "isPrimary"),
    datetime("createdAt", "extSourceSystemAudit.createdDate"),
    datetime("updatedAt", "extSourceSystemAudit.lastUpdatedDate"),
    boolean("marketoIsDeleted", "isDeleted"),
];

const PROGRAMS: &[Rule] = &[
    key("id", "campaignKey"),
    text("name", "campaignName"),
    text("description", "campaignDescription"),
    text("type", "campaignType"),
    text("status", "campaignStatus"),
    text("channel", "channelName"),
    number("cost", "actualCost.amount"),
    key("parentProgramId", "parentCampaignKey"),
    text("integrationPartner", "integrationPartnerName"),
    text("webinarSessionName", "webinarSessionName"),
    text("webinarSessionDescription", "webinarSessionDescription"),
    text("webinarHistorySyncStatus", "webinarHistorySyncStatus"),
    datetime("webinarHistorySyncDate", "webinarHistorySyncDate"),
    datetime("startDate", "campaignStartDate"),
    datetime("endDate", "campaignEndDate"),
    datetime("createdAt", "extSourceSystemAudit.createdDate"),
    datetime("updatedAt", "extSourceSystemAudit.lastUpdatedDate"),
    boolean("marketoIsDeleted", "isDeleted"),
];

const PROGRAM_MEMBERS: &[Rule] = &[
    key("id", "campaignMemberKey"),
    key("programId", "campaignKey"),
    key("leadId", "personKey"),
    key("acquiredByCampaignID", "acquiredByCampaignKey"),
    boolean("reachedSuccess", "hasReachedSuccess"),
    boolean("isExhausted", "isExhausted"),
    text("statusName", "memberStatus"),
    text("statusReason", "memberStatusReason"),
    datetime("membershipDate", "membershipDate"),
    text("nurtureCadence", "nurtureCadence"),
    text("trackName", "nurtureTrackName"),
    text("webinarUrl", "webinarConfirmationUrl"),
    text("registrationCode", "webinarRegistrationID"),
    datetime("reachedSuccessDate", "reachedSuccessDate"),
    text("sfdc.lastStatus", "lastStatus"),
    boolean("sfdc.hasResponded", "hasResponded"),
    datetime("sfdc.firstRespondedDate", "firstRespondedDate"),
    datetime("createdAt", "extSourceSystemAudit.createdDate"),
    datetime("updatedAt", "extSourceSystemAudit.lastUpdatedDate"),
    boolean("marketoIsDeleted", "isDeleted"),
];

const STATIC_LISTS: &[Rule] = &[
    key("id", "marketingListKey"),
    text("name", "marketingListName"),
    text("description", "marketingListDescription"),
    datetime("createdAt", "extSourceSystemAudit.createdDate"),
    datetime("updatedAt", "extSourceSystemAudit.lastUpdatedDate"),
    boolean("marketoIsDeleted", "isDeleted"),
];

const STATIC_LIST_MEMBERS: &[Rule] = &[
    key("staticListMemberID", "marketingListMemberKey"),
    key("staticListID", "marketingListKey"),
    key("personID", "personKey"),
    datetime("createdAt", "extSourceSystemAudit.createdDate"),
    boolean("marketoIsDeleted", "isDeleted"),
];

/// The longest unsubscribe reason kept (`substr(unsubscribedReason, 0, 100)`).
const MAX_REASON_CHARS: usize = 100;

/// `iif(unsubscribed == 'true', 'n', 'y')` → `consents.marketing.email.val`.
fn unsubscribed(cell: &Cell<'_>, targets: &[FieldPath], record: &mut Record) -> Result<(), Fault> {
    let unsubscribed = formats::boolean(cell.system, cell.value)?;
    for target in targets {
        target.set(record, Value::from(if unsubscribed { "n" } else { "y" }));
    }
    Ok(())
}

/// `substr(unsubscribedReason, 0, 100)` → `consents.marketing.email.reason`.
fn unsubscribed_reason(cell: &Cell<'_>, targets: &[FieldPath], record: &mut Record) -> Result<(), Fault> {
    let reason: String = cell.value.chars().take(MAX_REASON_CHARS).collect();
    for target in targets {
        target.set(record, Value::from(reason.as_str()));
    }
    Ok(())
}

/// `to_object('ECID', arrays_to_objects('id', explode(ecids)))` → `identityMap`.
fn ecids(cell: &Cell<'_>, targets: &[FieldPath], record: &mut Record) -> Result<(), Fault> {
    let ids: Vec<Value> =
        cell.value.split(',').map(str::trim).filter(|id| !id.is_empty()).map(|id| json!({ "id": id })).collect();
    if !ids.is_empty() {
        for target in targets {
            target.set(record, Value::Array(ids.clone()));
        }
    }
    Ok(())
}
