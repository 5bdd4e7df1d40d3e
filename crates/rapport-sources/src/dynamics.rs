//! Microsoft Dynamics 365 exports (logical column names, US dates `3/5/2024 2:22:11 PM` in UTC, or ISO 8601).
//!
//! Mapping: `shared/reference/B2B-DOMAIN.md` c.2, newest version of the template.
//!
//! | Table | File names | Entity |
//! | --- | --- | --- |
//! | `accounts` | `accounts.csv`, `account.csv` | account |
//! | `contacts` | `contacts.csv`, `contact.csv` | person |
//! | `leads` | `leads.csv`, `lead.csv` | person |
//! | `opportunities` | `opportunities.csv`, `opportunity.csv` | opportunity |
//! | `connections` | `connections.csv`, `connection.csv` | opportunity_person |
//! | `campaigns` | `campaigns.csv`, `campaign.csv` | campaign |
//! | `lists` | `lists.csv`, `list.csv` | marketing_list |
//! | `listmembers` | `listmembers.csv`, `listmember.csv` | marketing_list_member |
//!
//! The singular names are the Dynamics entity logical names, the plural ones the Web API entity sets.
//!
//! Extensions beyond the documented template:
//! - `opportunities.statecode` (0 open, 1 won, 2 lost) → `isClosed` = statecode ≠ 0, `isWon` = statecode = 1,
//!   so "open opportunity" audiences work on Dynamics data as on Salesforce data.
//! - `"Contact"` / `"Lead"` → `b2b.personType` on contacts / leads, as the Salesforce template does (c.4: constants
//!   are injected for classification).
//! - `createdby` → `extSourceSystemAudit.createdBy` on campaigns (the older template version maps it).
//!
//! `connections` are read as opportunity contact roles: `record1id` is the opportunity, `record2id` the contact.
//! Picklist codes (`accountratingcode`, `salesstage`, `utcconversiontimezonecode`, ...) are written as given;
//! decoding them into labels is a per-org calculated field the template leaves to the user.
//! `record1objecttypecode` / `record2objecttypecode` need a custom field group and are left unmapped.

use rapport_model::{EntityKind, FieldPath, Record, SourceSystem};
use serde_json::Value;

use crate::formats::{self, Fault};
use crate::mapping::{constant, custom, date, datetime, integer, key, number, text, text_list, Cell, Rule};
use crate::SourceTable;

/// The Dynamics tables.
pub(crate) static TABLES: [SourceTable; 8] = [
    table("accounts", EntityKind::Account, &["accounts", "account"], "accountid", ACCOUNTS),
    table("contacts", EntityKind::Person, &["contacts", "contact"], "contactid", CONTACTS),
    table("leads", EntityKind::Person, &["leads", "lead"], "leadid", LEADS),
    table("opportunities", EntityKind::Opportunity, &["opportunities", "opportunity"], "opportunityid", OPPORTUNITIES),
    table("connections", EntityKind::OpportunityPerson, &["connections", "connection"], "connectionid", CONNECTIONS),
    table("campaigns", EntityKind::Campaign, &["campaigns", "campaign"], "campaignid", CAMPAIGNS),
    table("lists", EntityKind::MarketingList, &["lists", "list"], "listid", LISTS),
    table("listmembers", EntityKind::MarketingListMember, &["listmembers", "listmember"], "listmemberid", LIST_MEMBERS),
];

const fn table(
    name: &'static str,
    entity: EntityKind,
    stems: &'static [&'static str],
    id_column: &'static str,
    rules: &'static [Rule],
) -> SourceTable {
    SourceTable::new(SourceSystem::Dynamics, name, entity, stems, id_column, rules)
}

const ACCOUNTS: &[Rule] = &[
    key("accountid", "accountKey"),
    text("accountnumber", "accountNumber"),
    number("accountratingcode", "accountOrganization.rating"),
    text("address1_addressid", "accountPhysicalAddress._id"),
    text("address1_city", "accountPhysicalAddress.city"),
    text("address1_country", "accountPhysicalAddress.country"),
    text("address1_stateorprovince", "accountPhysicalAddress.state"),
    text("address1_postalcode", "accountPhysicalAddress.postalCode"),
    text("address1_county", "accountPhysicalAddress.region"),
    text("address1_line1", "accountPhysicalAddress.street1"),
    text("address1_line2", "accountPhysicalAddress.street2"),
    text("address1_line3", "accountPhysicalAddress.street3"),
    number("address1_latitude", "accountPhysicalAddress._schema.latitude"),
    number("address1_longitude", "accountPhysicalAddress._schema.longitude"),
    text("address1_name", "accountPhysicalAddress.label"),
    text("address1_postofficebox", "accountPhysicalAddress.postOfficeBox"),
    datetime("createdon", "extSourceSystemAudit.createdDate"),
    datetime("modifiedon", "extSourceSystemAudit.lastUpdatedDate"),
    text("description", "accountDescription"),
    text("fax", "accountFax.number"),
    text("name", "accountName"),
    integer("numberofemployees", "accountOrganization.numberOfEmployees"),
    number("revenue", "accountOrganization.annualRevenue.amount"),
    text("sic", "accountOrganization.SICCode"),
    text("telephone1", "accountPhone.number"),
    text("tickersymbol", "accountOrganization.tickerSymbol"),
    text("websiteurl", "accountOrganization.website"),
];

const CONTACTS: &[Rule] = &[
    key("contactid", "b2b.personKey"),
    key("contactid", "personComponents.sourcePersonKey"),
    key("parentcustomerid", "personComponents.sourceAccountKey"),
    key("parentcustomerid", "b2b.accountKey"),
    text("emailaddress1", "workEmail.address"),
    text("emailaddress1", "personComponents.workEmail.address"),
    text("emailaddress2", "personalEmail.address"),
    text("firstname", "person.name.firstName"),
    text("middlename", "person.name.middleName"),
    text("lastname", "person.name.lastName"),
    text("fullname", "person.name.fullName"),
    text("salutation", "person.name.courtesyTitle"),
    text("suffix", "person.name.suffix"),
    date("birthdate", "person.birthDate"),
    text("jobtitle", "extendedWorkDetails.jobTitle"),
    text_list("department", "extendedWorkDetails.departments"),
    text("assistantname", "extendedWorkDetails.assistantDetails.name.fullName"),
    text("assistantphone", "extendedWorkDetails.assistantDetails.phone.number"),
    text("telephone1", "workPhone.number"),
    text("mobilephone", "mobilePhone.number"),
    text("address1_addressid", "workAddress._id"),
    text("address1_city", "workAddress.city"),
    text("address1_country", "workAddress.country"),
    text("address1_stateorprovince", "workAddress.state"),
    text("address1_postalcode", "workAddress.postalCode"),
    text("address1_postofficebox", "workAddress.postOfficeBox"),
    text("address1_county", "workAddress.stateProvince"),
    text("address1_line1", "workAddress.street1"),
    text("address1_line2", "workAddress.street2"),
    text("address1_line3", "workAddress.street3"),
    number("address1_latitude", "workAddress._schema.latitude"),
    number("address1_longitude", "workAddress._schema.longitude"),
    datetime("createdon", "extSourceSystemAudit.createdDate"),
    datetime("modifiedon", "extSourceSystemAudit.lastUpdatedDate"),
    constant("Contact", "b2b.personType"),
];

const LEADS: &[Rule] = &[
    key("leadid", "b2b.personKey"),
    key("leadid", "personComponents.sourcePersonKey"),
    text("emailaddress1", "workEmail.address"),
    text("emailaddress1", "personComponents.workEmail.address"),
    text("emailaddress2", "personalEmail.address"),
    text("firstname", "person.name.firstName"),
    text("middlename", "person.name.middleName"),
    text("lastname", "person.name.lastName"),
    text("fullname", "person.name.fullName"),
    text("salutation", "person.name.courtesyTitle"),
    text("jobtitle", "extendedWorkDetails.jobTitle"),
    text("telephone1", "workPhone.number"),
    text("mobilephone", "mobilePhone.number"),
    text("fax", "faxPhone.number"),
    text("address1_addressid", "workAddress._id"),
    text("address1_city", "workAddress.city"),
    text("address1_country", "workAddress.country"),
    text("address1_stateorprovince", "workAddress.state"),
    text("address1_postalcode", "workAddress.postalCode"),
    text("address1_postofficebox", "workAddress.postOfficeBox"),
    text("address1_county", "workAddress.stateProvince"),
    text("address1_line1", "workAddress.street1"),
    text("address1_line2", "workAddress.street2"),
    text("address1_line3", "workAddress.street3"),
    number("address1_latitude", "workAddress._schema.latitude"),
    number("address1_longitude", "workAddress._schema.longitude"),
    datetime("createdon", "extSourceSystemAudit.createdDate"),
    datetime("modifiedon", "extSourceSystemAudit.lastUpdatedDate"),
    constant("Lead", "b2b.personType"),
];

const OPPORTUNITIES: &[Rule] = &[
    key("opportunityid", "opportunityKey"),
    key("parentaccountid", "accountKey"),
    key("campaignid", "campaignKey"),
    text("name", "opportunityName"),
    text("description", "opportunityDescription"),
    datetime("actualclosedate", "actualCloseDate"),
    date("estimatedclosedate", "expectedCloseDate"),
    number("actualvalue", "opportunityAmount.amount"),
    number("estimatedvalue", "expectedRevenue.amount"),
    number("closeprobability", "probabilityPercentage"),
    text("salesstage", "opportunityStage"),
    text("stepname", "nextStep"),
    datetime("createdon", "extSourceSystemAudit.createdDate"),
    datetime("modifiedon", "extSourceSystemAudit.lastUpdatedDate"),
    custom("statecode", &["isClosed", "isWon"], state_code),
];

const CONNECTIONS: &[Rule] = &[
    key("connectionid", "opportunityPersonKey"),
    key("record1id", "opportunityKey"),
    key("record2id", "personKey"),
    text("connectionrole1.name", "personRole"),
    datetime("createdon", "extSourceSystemAudit.createdDate"),
    datetime("modifiedon", "extSourceSystemAudit.lastUpdatedDate"),
];

const CAMPAIGNS: &[Rule] = &[
    key("campaignid", "campaignKey"),
    key("campaignid", "extSourceSystemAudit.externalKey"),
    text("name", "campaignName"),
    text("description", "campaignDescription"),
    number("totalactualcost", "actualCost.amount"),
    number("budgetedcost", "budgetedCost.amount"),
    number("expectedrevenue", "expectedRevenue.amount"),
    datetime("actualstart", "campaignStartDate"),
    datetime("actualend", "campaignEndDate"),
    text("expectedresponse", "expectedResponse"),
    text("utcconversiontimezonecode", "timeZone"),
    text("utcconversiontimezonecode", "timezoneName"),
    text("createdby", "extSourceSystemAudit.createdBy"),
    datetime("createdon", "extSourceSystemAudit.createdDate"),
    text("modifiedby", "extSourceSystemAudit.lastUpdatedBy"),
    datetime("modifiedon", "extSourceSystemAudit.lastUpdatedDate"),
];

const LISTS: &[Rule] = &[
    key("listid", "marketingListKey"),
    text("listname", "marketingListName"),
    text("description", "marketingListDescription"),
    datetime("createdon", "extSourceSystemAudit.createdDate"),
    datetime("modifiedon", "extSourceSystemAudit.lastUpdatedDate"),
];

const LIST_MEMBERS: &[Rule] = &[
    key("listmemberid", "marketingListMemberKey"),
    key("entityid", "personKey"),
    key("listid", "marketingListKey"),
    datetime("createdon", "extSourceSystemAudit.createdDate"),
];

/// `statecode` → `isClosed` (code ≠ 0) and `isWon` (code = 1).
fn state_code(cell: &Cell<'_>, targets: &[FieldPath], record: &mut Record) -> Result<(), Fault> {
    let code = formats::integer(cell.value)?;
    if let [is_closed, is_won] = targets {
        is_closed.set(record, Value::Bool(code != 0));
        is_won.set(record, Value::Bool(code == 1));
    }
    Ok(())
}
