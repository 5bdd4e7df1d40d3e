//! Contract tests: small files written the way each system exports them, mapped to exact XDM JSON.

use std::fs;
use std::path::Path;

use rapport_model::{EntityKind, RowErrorCode, SourceSystem};
use rapport_sources::mapping_set::{CompileOptions, MappingSet, MissingFields};
use rapport_sources::prep::Placeholders;
use rapport_sources::{read_file, recognise, tables, templates, Error, FileBatch, ReadOptions, SourceRow, SourceTable};
use serde_json::{json, Value};

const SF_ORG: &str = "00D5g000004ABCdEAA";
const DYN_ORG: &str = "contoso";
const MUNCHKIN: &str = "123-ABC-456";

fn key(system: &str, instance: &str, id: &str) -> Value {
    json!({"sourceType": system, "sourceInstanceID": instance, "sourceID": id, "sourceKey": format!("{id}@{instance}.{system}")})
}

fn sf(id: &str) -> Value {
    key("Salesforce", SF_ORG, id)
}

fn dyn_key(id: &str) -> Value {
    key("Dynamics", DYN_ORG, id)
}

fn mk(id: &str) -> Value {
    key("Marketo", MUNCHKIN, id)
}

/// Writes `contents` to a file named `name`, recognises it and reads it.
fn load(system: SourceSystem, name: &str, contents: &str) -> FileBatch {
    load_bytes(system, name, contents.as_bytes())
}

fn load_bytes(system: SourceSystem, name: &str, contents: &[u8]) -> FileBatch {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    fs::write(&path, contents).expect("the test file is written");
    let table = recognise(system, &path).unwrap_or_else(|| panic!("{name} is not recognised as a {system} table"));
    let instance_id = match system {
        SourceSystem::Salesforce => SF_ORG,
        SourceSystem::Dynamics => DYN_ORG,
        SourceSystem::Marketo => MUNCHKIN,
    };
    let mut last_progress = 0;
    let batch = read_file(&table, &path, name, &ReadOptions { instance_id: instance_id.into() }, &mut |bytes| {
        last_progress = bytes;
    })
    .expect("the file reads");
    assert_eq!(last_progress, contents.len() as u64, "progress ends at the file size");
    same_through_the_template(system, &table, instance_id, contents, &batch);
    batch
}

#[test]
fn issue_4_templates_match_the_built_in_path_on_the_bodea_sample_with_its_bad_rows() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = rapport_sample::GenerateOptions { persons: 1500, seed: 7 };
    rapport_sample::generate_bodea(dir.path(), &options).expect("the sample is generated");
    let mut files = 0;
    let mut rejected = 0;
    for system in [SourceSystem::Salesforce, SourceSystem::Dynamics, SourceSystem::Marketo] {
        let folder = dir.path().join(system.name());
        for entry in fs::read_dir(&folder).expect("the system folder exists") {
            let path = entry.expect("a folder entry").path();
            let Some(table) = recognise(system, &path) else { continue };
            let contents = fs::read(&path).expect("the sample file reads");
            let instance_id = "inst";
            let batch =
                read_file(&table, &path, "sample", &ReadOptions { instance_id: instance_id.into() }, &mut |_| {})
                    .expect("the sample file maps");
            same_through_the_template(system, &table, instance_id, &contents, &batch);
            files += 1;
            rejected += batch.rejected.len();
        }
    }
    assert!(files >= 9, "the sample has files of every system ({files})");
    assert!(rejected > 0, "the sample's deliberately bad rows are part of the comparison");
}

/// The differential check, run on every test file: the table's template mapping set, evaluated by the
/// expression interpreter over the file's rows, yields exactly the records of the built-in path, and rejects
/// the same lines with the same codes (rows the CSV layer cannot read are left out of both).
fn same_through_the_template(
    system: SourceSystem,
    table: &SourceTable,
    instance_id: &str,
    contents: &[u8],
    batch: &FileBatch,
) {
    let set = templates::template(table);
    // The template survives a save and reload.
    let set = MappingSet::from_json(&set.to_json(), "template.json").expect("the rendered template reads back");
    let placeholders = match system {
        SourceSystem::Marketo => Placeholders { munchkin_id: Some(instance_id.into()), ..Placeholders::default() },
        _ => Placeholders { crm_org_id: Some(instance_id.into()), ..Placeholders::default() },
    };
    let contents = contents.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(contents);
    let mut reader = csv::ReaderBuilder::new().from_reader(contents);
    let headers: Vec<String> = reader
        .byte_headers()
        .expect("the header reads")
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_owned())
        .collect();
    let options = CompileOptions { placeholders, missing_fields: MissingFields::Skip };
    let compiled = set.compile(&headers, &options).expect("the template compiles against the test file");
    assert_eq!(compiled.unmapped_fields(), batch.unmapped_columns, "{table}: unmapped columns");

    let unreadable: Vec<u64> =
        batch.rejected.iter().filter(|e| e.code == RowErrorCode::Unparsable).map(|e| e.line).collect();
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for result in reader.byte_records() {
        let Ok(record) = result else { continue };
        // The line counted in the bytes: the parser's own count lags on `\r\n`, and its position can be the
        // line end before the record.
        let at = record.position().expect("a read record has a position").byte() as usize;
        let start = at + contents[at..].iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
        let line = 1 + contents[..start].iter().filter(|b| **b == b'\n').count() as u64;
        let Ok(cells) = record.iter().map(|c| String::from_utf8(c.to_vec())).collect::<Result<Vec<_>, _>>() else {
            continue;
        };
        assert!(!unreadable.contains(&line), "{table}: line {line} is read here but not by the built-in path");
        let mut fields = serde_json::Map::new();
        for (name, cell) in headers.iter().zip(cells) {
            fields.insert(name.clone(), Value::String(cell));
        }
        match compiled.map_row(&SourceRow { line, offset: None, fields, faults: Vec::new() }, "test") {
            Ok(record) => records.push((line, Value::Object(record))),
            Err(error) => rejected.push((line, error.code)),
        }
    }
    let expected: Vec<(u64, Value)> = batch.records.iter().map(|m| (m.line, Value::Object(m.record.clone()))).collect();
    assert_eq!(records, expected, "{table}: records through the template differ from the built-in path");
    let expected: Vec<(u64, RowErrorCode)> =
        batch.rejected.iter().filter(|e| e.code != RowErrorCode::Unparsable).map(|e| (e.line, e.code)).collect();
    assert_eq!(rejected, expected, "{table}: rejections through the template differ from the built-in path");
}

/// The records of a batch that rejected nothing, as JSON.
fn records(batch: &FileBatch) -> Vec<Value> {
    assert!(batch.rejected.is_empty(), "unexpected rejections: {:#?}", batch.rejected);
    batch.records.iter().map(|mapped| Value::Object(mapped.record.clone())).collect()
}

fn only_record(batch: &FileBatch) -> Value {
    let mut all = records(batch);
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn rejections(batch: &FileBatch) -> Vec<(u64, Option<&str>, RowErrorCode)> {
    batch.rejected.iter().map(|error| (error.line, error.field.as_deref(), error.code)).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Salesforce (Data Loader: every field quoted, ISO date-times with millis)

#[test]
fn salesforce_account_maps_every_documented_column() {
    // Data Loader upper-cases the header; columns match case-insensitively.
    let csv = concat!(
        r#""ID","ACCOUNTNUMBER","ACCOUNTSOURCE","ANNUALREVENUE","BILLINGCITY","BILLINGCOUNTRY","BILLINGPOSTALCODE","BILLINGSTATE","BILLINGSTREET","BILLINGLATITUDE","BILLINGLONGITUDE","SHIPPINGCITY","CREATEDDATE","LASTACTIVITYDATE","LASTMODIFIEDDATE","DESCRIPTION","DUNSNUMBER","FAX","INDUSTRY","NAME","NUMBEROFEMPLOYEES","OWNERSHIP","PARENTID","PHONE","SIC","SITE","TICKERSYMBOL","TYPE","WEBSITE","ISDELETED","SYSTEMMODSTAMP""#,
        "\n",
        r#""0015g00000ABCdE","A-1001","Web","5000000","San Francisco","USA","94105","CA","1 Market St, Suite 300","37.7749","-122.4194","Oakland","2024-03-05T14:22:11.000Z","2024-03-01","2024-03-06T09:00:00.000Z","The ""best"" customer, by far","123456789","+1 415 555 0100","Technology","Acme, Inc.","1200","Public","0015g00000PARnT","+1 415 555 0199","7372","HQ","ACME","Customer","https://acme.example","false","2024-03-06T09:00:00.000Z""#,
        "\n",
    );
    let batch = load(SourceSystem::Salesforce, "Account.csv", csv);
    assert_eq!(batch.table.name, "Account");
    assert_eq!(batch.table.entity, EntityKind::Account);
    assert_eq!(batch.rows_read, 1);
    assert_eq!(batch.records[0].line, 2);
    assert_eq!(batch.unmapped_columns, ["SYSTEMMODSTAMP"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "accountKey": sf("0015g00000ABCdE"),
            "accountNumber": "A-1001",
            "accountSourceType": "Web",
            "accountOrganization": {
                "annualRevenue": {"amount": 5_000_000},
                "DUNSNumber": "123456789",
                "industry": "Technology",
                "numberOfEmployees": 1200,
                "SICCode": "7372",
                "tickerSymbol": "ACME",
                "website": "https://acme.example"
            },
            "accountBillingAddress": {
                "city": "San Francisco", "country": "USA", "postalCode": "94105", "state": "CA",
                "street1": "1 Market St, Suite 300",
                "_schema": {"latitude": 37.7749, "longitude": -122.4194}
            },
            "accountShippingAddress": {"city": "Oakland"},
            "extSourceSystemAudit": {
                "createdDate": "2024-03-05T14:22:11.000Z",
                "lastActivityDate": "2024-03-01T00:00:00.000Z",
                "lastUpdatedDate": "2024-03-06T09:00:00.000Z"
            },
            "accountDescription": "The \"best\" customer, by far",
            "accountFax": {"number": "+1 415 555 0100"},
            "accountName": "Acme, Inc.",
            "accountOwnership": "Public",
            "accountParentKey": sf("0015g00000PARnT"),
            "accountPhone": {"number": "+1 415 555 0199"},
            "accountSite": "HQ",
            "accountType": "Customer",
            "isDeleted": false
        })
    );
}

const SF_CONTACT_HEADER: &str = r#""Id","AccountId","Email","FirstName","LastName","Name","Salutation","Birthdate","Title","Department","ReportsToId","AssistantName","AssistantPhone","Phone","MobilePhone","HomePhone","OtherPhone","Fax","MailingStreet","MailingCity","MailingState","MailingPostalCode","MailingCountry","MailingLatitude","MailingLongitude","OtherCity","LeadSource","CreatedDate","LastModifiedDate","LastViewedDate","IsDeleted","Custom__c""#;

#[test]
fn salesforce_contact_maps_person_and_its_component() {
    let csv = format!(
        "{SF_CONTACT_HEADER}\n{}\n",
        r#""0035g00000XyZaB","0015g00000ABCdE","Jane.Doe@Acme.example","Jane","Doe","Jane Doe","Ms.","1985-07-14","VP Sales","Sales","0035g00000BoSs1","Sam Poe","+1 415 555 0111","+1 415 555 0123","+1 415 555 0124","+1 415 555 0125","+1 415 555 0126","+1 415 555 0127","1 Market St","San Francisco","CA","94105","USA","37.7749","-122.4194","Oakland","Web","2024-03-05T14:22:11.000Z","2024-03-06T09:00:00.000+0000","2024-03-07T10:00:00Z","false","x""#
    );
    let batch = load(SourceSystem::Salesforce, "Contact.csv", &csv);
    assert_eq!(batch.table.entity, EntityKind::Person);
    assert_eq!(batch.unmapped_columns, ["Custom__c"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "b2b": {
                "personKey": sf("0035g00000XyZaB"),
                "accountKey": sf("0015g00000ABCdE"),
                "personSource": "Web",
                "personType": "Contact"
            },
            "personComponents": [{
                "sourcePersonKey": sf("0035g00000XyZaB"),
                "sourceAccountKey": sf("0015g00000ABCdE"),
                "workEmail": {"address": "Jane.Doe@Acme.example"},
                "personSource": "Web"
            }],
            "workEmail": {"address": "Jane.Doe@Acme.example"},
            "person": {
                "name": {"firstName": "Jane", "lastName": "Doe", "fullName": "Jane Doe", "courtesyTitle": "Ms."},
                "birthDate": "1985-07-14"
            },
            "extendedWorkDetails": {
                "jobTitle": "VP Sales",
                "departments": ["Sales"],
                "reportsToID": "0035g00000BoSs1",
                "assistantDetails": {"name": {"fullName": "Sam Poe"}, "phone": {"number": "+1 415 555 0111"}}
            },
            "workPhone": {"number": "+1 415 555 0123"},
            "mobilePhone": {"number": "+1 415 555 0124"},
            "homePhone": {"number": "+1 415 555 0125"},
            "otherPhone": {"number": "+1 415 555 0126"},
            "faxPhone": {"number": "+1 415 555 0127"},
            "workAddress": {
                "street1": "1 Market St", "city": "San Francisco", "state": "CA", "postalCode": "94105", "country": "USA",
                "_schema": {"latitude": 37.7749, "longitude": -122.4194}
            },
            "otherAddress": {"city": "Oakland"},
            "extSourceSystemAudit": {
                "createdDate": "2024-03-05T14:22:11.000Z",
                "lastUpdatedDate": "2024-03-06T09:00:00.000Z",
                "lastViewedDate": "2024-03-07T10:00:00.000Z"
            },
            "isDeleted": false
        })
    );
}

#[test]
fn salesforce_contact_without_account_has_no_account_keys() {
    let csv = concat!(r#""Id","AccountId","Email""#, "\n", r#""0035g00000XyZaB","","""#, "\n");
    let record = only_record(&load(SourceSystem::Salesforce, "Contact.csv", csv));
    assert_eq!(
        record,
        json!({
            "b2b": {"personKey": sf("0035g00000XyZaB"), "personType": "Contact"},
            "personComponents": [{"sourcePersonKey": sf("0035g00000XyZaB")}]
        })
    );
}

#[test]
fn salesforce_rejects_bad_rows_precisely_and_keeps_loading() {
    let rows = [
        // line 2: fine
        r#""0035g00000Good1","","a@x.example","2024-03-05T14:22:11.000Z","false","37.1""#,
        // line 3: empty id
        r#""","","b@x.example","2024-03-05T14:22:11.000Z","false","""#,
        // line 4: impossible date
        r#""0035g00000BadDt","","c@x.example","2024-02-30T10:00:00.000Z","false","""#,
        // line 5: not a boolean
        r#""0035g00000BadBo","","d@x.example","2024-03-05T14:22:11.000Z","maybe","""#,
        // line 6: a short row
        r#""0035g00000Short","","e@x.example""#,
        // line 7: not a number
        r#""0035g00000BadNu","","f@x.example","2024-03-05T14:22:11.000Z","false","north""#,
        // lines 8-9: a quoted field spanning two lines, then fine
        "\"0035g00000Multi\",\"\",\"g@x.example\",\"2024-03-05T14:22:11.000Z\",\"true\",\"1\"\n\"0035g00000Last1\",\"\",\"\",\"\",\"\",\"\"",
    ];
    let csv = format!(
        "{}\n{}\n",
        r#""Id","AccountId","Email","LastModifiedDate","IsDeleted","MailingLatitude""#,
        rows.join("\n")
    );
    // Windows line ends (Excel, Python's csv module) number the same lines.
    let crlf = load(SourceSystem::Salesforce, "contact.csv", &csv.replace('\n', "\r\n"));
    let batch = load(SourceSystem::Salesforce, "contact.csv", &csv);
    for batch in [&batch, &crlf] {
        let lines: Vec<u64> =
            batch.rejected.iter().map(|e| e.line).chain(batch.records.iter().map(|m| m.line)).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 2, 8, 9]);
    }
    assert_eq!(batch.rows_read, 9 - 1);
    assert_eq!(
        rejections(&batch),
        [
            (3, Some("Id"), RowErrorCode::MissingId),
            (4, Some("LastModifiedDate"), RowErrorCode::BadDate),
            (5, Some("IsDeleted"), RowErrorCode::BadBoolean),
            (6, None, RowErrorCode::Unparsable),
            (7, Some("MailingLatitude"), RowErrorCode::BadNumber),
        ]
    );
    let lines: Vec<u64> = batch.records.iter().map(|mapped| mapped.line).collect();
    assert_eq!(lines, [2, 8, 9]);

    let bad_date = &batch.rejected[1];
    assert_eq!(bad_date.file, "contact.csv");
    assert_eq!(
        bad_date.message,
        r#""2024-02-30T10:00:00.000Z" is not a Salesforce date-time (expected YYYY-MM-DDTHH:MM:SS.sssZ)"#
    );
    assert_eq!(
        bad_date.to_string(),
        format!(
            "contact.csv:4 (byte {}): LastModifiedDate: \"2024-02-30T10:00:00.000Z\" is not a Salesforce date-time \
             (expected YYYY-MM-DDTHH:MM:SS.sssZ) (bad_date)",
            csv.find("\"0035g00000BadDt").unwrap()
        )
    );
    assert_eq!(batch.rejected[2].message, r#""maybe" is not a Salesforce boolean (expected true, false, 1 or 0)"#);
    assert_eq!(batch.rejected[3].message, "the row has 3 fields but the header has 6");
    assert_eq!(batch.rejected[4].message, r#""north" is not a number"#);
}

#[test]
fn salesforce_lead_maps_conversion_and_the_lead_constant() {
    let csv = concat!(
        r#""Id","Email","FirstName","LastName","Name","Salutation","Suffix","Title","Fax","Street","City","State","PostalCode","Country","Latitude","Longitude","Status","LeadSource","Company","Website","IsConverted","ConvertedDate","ConvertedContactId","CreatedDate","LastModifiedDate","IsDeleted","Phone""#,
        "\n",
        r#""00Q5g00000LeAd1","lee@globex.example","Lee","Chan","Lee Chan","Mr.","Jr.","CTO","+1 512 555 0100","2 Main St","Austin","TX","73301","USA","30.2672","-97.7431","Qualified","Trade Show","Globex","https://globex.example","true","2024-03-04","0035g00000CoNv1","2024-03-01T08:00:00.000Z","2024-03-04T08:00:00.000Z","false","+1 512 555 0101""#,
        "\n",
        r#""00Q5g00000LeAd2","","","Kim","","","","","","","","","","","","","Open","","Initech","","false","","","","","False","""#,
        "\n",
    );
    let batch = load(SourceSystem::Salesforce, "Lead.csv", csv);
    assert_eq!(batch.unmapped_columns, ["Phone"]);
    let all = records(&batch);
    assert_eq!(
        all[0],
        json!({
            "b2b": {
                "personKey": sf("00Q5g00000LeAd1"),
                "personStatus": "Qualified",
                "personSource": "Trade Show",
                "companyName": "Globex",
                "companyWebsite": "https://globex.example",
                "isConverted": true,
                "convertedDate": "2024-03-04T00:00:00.000Z",
                "convertedContactKey": sf("0035g00000CoNv1"),
                "personType": "Lead"
            },
            "personComponents": [{
                "sourcePersonKey": sf("00Q5g00000LeAd1"),
                "workEmail": {"address": "lee@globex.example"},
                "personStatus": "Qualified",
                "personSource": "Trade Show",
                "sourceConvertedContactKey": sf("0035g00000CoNv1")
            }],
            "workEmail": {"address": "lee@globex.example"},
            "person": {"name": {"firstName": "Lee", "lastName": "Chan", "fullName": "Lee Chan", "courtesyTitle": "Mr.", "suffix": "Jr."}},
            "extendedWorkDetails": {"jobTitle": "CTO"},
            "faxPhone": {"number": "+1 512 555 0100"},
            "workAddress": {
                "street1": "2 Main St", "city": "Austin", "state": "TX", "postalCode": "73301", "country": "USA",
                "_schema": {"latitude": 30.2672, "longitude": -97.7431}
            },
            "extSourceSystemAudit": {"createdDate": "2024-03-01T08:00:00.000Z", "lastUpdatedDate": "2024-03-04T08:00:00.000Z"},
            "isDeleted": false
        })
    );
    assert_eq!(
        all[1],
        json!({
            "b2b": {"personKey": sf("00Q5g00000LeAd2"), "personStatus": "Open", "companyName": "Initech", "isConverted": false, "personType": "Lead"},
            "personComponents": [{"sourcePersonKey": sf("00Q5g00000LeAd2"), "personStatus": "Open"}],
            "person": {"name": {"lastName": "Kim"}},
            "isDeleted": false
        })
    );
}

#[test]
fn salesforce_opportunity_maps_amounts_flags_and_references() {
    let csv = concat!(
        r#""Id","AccountId","CampaignId","Amount","CurrencyIsoCode","CloseDate","Description","ExpectedRevenue","FiscalQuarter","FiscalYear","ForecastCategory","ForecastCategoryName","IsClosed","IsWon","LeadSource","Name","NextStep","Probability","StageName","TotalOpportunityQuantity","Type","CreatedDate","LastModifiedDate","IsDeleted""#,
        "\n",
        r#""0065g00000OpP01","0015g00000ABCdE","","250000.50","USD","2024-06-30","Big deal","125000.25","2","2024","Pipeline","Pipeline","false","false","Web","Acme expansion","Demo","50","Proposal","10.0","New Business","2024-03-05T14:22:11.000Z","2024-03-06T09:00:00.000Z","false""#,
        "\n",
    );
    let record = only_record(&load(SourceSystem::Salesforce, "Opportunity.csv", csv));
    assert_eq!(
        record,
        json!({
            "opportunityKey": sf("0065g00000OpP01"),
            "accountKey": sf("0015g00000ABCdE"),
            "opportunityAmount": {"amount": 250000.5, "currencyCode": "USD"},
            "expectedCloseDate": "2024-06-30",
            "opportunityDescription": "Big deal",
            "expectedRevenue": {"amount": 125000.25},
            "fiscalQuarter": "2",
            "fiscalYear": 2024,
            "forecastCategory": "Pipeline",
            "forecastCategoryName": "Pipeline",
            "isClosed": false,
            "isWon": false,
            "leadSource": "Web",
            "opportunityName": "Acme expansion",
            "nextStep": "Demo",
            "probabilityPercentage": 50,
            "opportunityStage": "Proposal",
            "opportunityQuantity": 10,
            "opportunityType": "New Business",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isDeleted": false
        })
    );
}

#[test]
fn salesforce_opportunity_contact_role_links_person_and_opportunity() {
    let csv = concat!(
        r#""Id","ContactId","OpportunityId","Role","IsPrimary","CreatedDate","LastModifiedDate","IsDeleted""#,
        "\n",
        r#""00K5g00000OcR01","0035g00000XyZaB","0065g00000OpP01","Decision Maker","true","2024-03-05T14:22:11.000Z","2024-03-06T09:00:00.000Z","false""#,
        "\n",
    );
    let batch = load(SourceSystem::Salesforce, "OpportunityContactRole.csv", csv);
    assert_eq!(batch.table.entity, EntityKind::OpportunityPerson);
    assert_eq!(
        only_record(&batch),
        json!({
            "opportunityPersonKey": sf("00K5g00000OcR01"),
            "personKey": sf("0035g00000XyZaB"),
            "opportunityKey": sf("0065g00000OpP01"),
            "personRole": "Decision Maker",
            "isPrimary": true,
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isDeleted": false
        })
    );
}

#[test]
fn salesforce_campaign_maps_costs_dates_and_parent() {
    let csv = concat!(
        r#""Id","Name","Description","Type","Status","ParentId","StartDate","EndDate","ExpectedRevenue","BudgetedCost","ActualCost","CurrencyIsoCode","ExpectedResponse","IsActive","CreatedDate","LastModifiedDate","IsDeleted""#,
        "\n",
        r#""7015g00000CaMp1","Spring Webinar","Launch webinar","Webinar","In Progress","7015g00000PaRnT","2024-04-01","2024-04-30","100000","5000","4200.75","USD","10.00","true","2024-03-05T14:22:11.000Z","2024-03-06T09:00:00.000Z","false""#,
        "\n",
    );
    let record = only_record(&load(SourceSystem::Salesforce, "Campaign.csv", csv));
    assert_eq!(
        record,
        json!({
            "campaignKey": sf("7015g00000CaMp1"),
            "campaignName": "Spring Webinar",
            "campaignDescription": "Launch webinar",
            "campaignType": "Webinar",
            "campaignStatus": "In Progress",
            "parentCampaignKey": sf("7015g00000PaRnT"),
            "campaignStartDate": "2024-04-01T00:00:00.000Z",
            "campaignEndDate": "2024-04-30T00:00:00.000Z",
            "expectedRevenue": {"amount": 100000},
            "budgetedCost": {"amount": 5000},
            "actualCost": {"amount": 4200.75, "currencyCode": "USD"},
            "expectedResponse": "10.00",
            "isActive": true,
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isDeleted": false
        })
    );
}

#[test]
fn salesforce_campaign_member_maps_keys_and_person_type() {
    let csv = concat!(
        r#""Id","CampaignId","LeadOrContactId","Status","HasResponded","FirstRespondedDate","CreatedDate","LastModifiedDate","Type","IsDeleted""#,
        "\n",
        r#""00v5g00000MeM01","7015g00000CaMp1","0035g00000XyZaB","Responded","TRUE","2024-04-02","2024-03-05T14:22:11.000Z","2024-03-06T09:00:00.000Z","Contact","0""#,
        "\n",
    );
    let record = only_record(&load(SourceSystem::Salesforce, "CampaignMember.csv", csv));
    assert_eq!(
        record,
        json!({
            "campaignMemberKey": sf("00v5g00000MeM01"),
            "campaignKey": sf("7015g00000CaMp1"),
            "personKey": sf("0035g00000XyZaB"),
            "memberStatus": "Responded",
            "hasResponded": true,
            "firstRespondedDate": "2024-04-02T00:00:00.000Z",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "b2b": {"personType": "Contact"},
            "isDeleted": false
        })
    );
}

#[test]
fn salesforce_account_contact_relation_splits_roles() {
    let csv = concat!(
        r#""Id","AccountId","ContactId","CreatedById","CreatedDate","LastModifiedById","LastModifiedDate","StartDate","EndDate","IsActive","IsDirect","Roles","IsDeleted""#,
        "\n",
        r#""07k5g00000AcR01","0015g00000ABCdE","0035g00000XyZaB","0055g00000UsR01","2024-03-05T14:22:11.000Z","0055g00000UsR02","2024-03-06T09:00:00.000Z","2024-01-01","","true","1","Decision Maker;Economic Buyer","0""#,
        "\n",
    );
    let batch = load(SourceSystem::Salesforce, "AccountContactRelation.csv", csv);
    assert_eq!(batch.table.entity, EntityKind::AccountPerson);
    assert_eq!(
        only_record(&batch),
        json!({
            "accountKey": sf("0015g00000ABCdE"),
            "personKey": sf("0035g00000XyZaB"),
            "accountPersonKey": sf("07k5g00000AcR01"),
            "extSourceSystemAudit": {
                "createdBy": "0055g00000UsR01",
                "createdDate": "2024-03-05T14:22:11.000Z",
                "lastUpdatedBy": "0055g00000UsR02",
                "lastUpdatedDate": "2024-03-06T09:00:00.000Z"
            },
            "relationStartDate": "2024-01-01T00:00:00.000Z",
            "isActive": true,
            "isDirect": true,
            "personRoles": ["Decision Maker", "Economic Buyer"],
            "isDeleted": false
        })
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Dynamics (logical column names, US date-times in UTC, quoting only where needed)

#[test]
fn dynamics_accounts_map_the_physical_address_and_organization() {
    let csv = "accountid,accountnumber,accountratingcode,address1_addressid,address1_city,address1_country,address1_county,address1_line1,address1_line2,address1_latitude,address1_longitude,address1_name,address1_postalcode,address1_stateorprovince,address1_postofficebox,createdon,modifiedon,description,fax,name,numberofemployees,revenue,sic,telephone1,tickersymbol,websiteurl,statuscode\n\
a0000000-0000-0000-0000-000000000001,ACC-1,2,ad000000-0000-0000-0000-000000000001,Seattle,USA,King,1 Pine St,Floor 2,47.6062,-122.3321,HQ,98101,WA,PO 12,3/5/2024 2:22:11 PM,3/6/2024 9:00:00 AM,\"Makes \"\"widgets\"\", mostly\",+1 206 555 0100,\"Contoso, Ltd.\",500,1500000.5,7372,+1 206 555 0101,CTSO,https://contoso.example,1\n";
    let batch = load(SourceSystem::Dynamics, "accounts.csv", csv);
    assert_eq!(batch.table.name, "accounts");
    assert_eq!(batch.unmapped_columns, ["statuscode"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "accountKey": dyn_key("a0000000-0000-0000-0000-000000000001"),
            "accountNumber": "ACC-1",
            "accountOrganization": {
                "rating": 2,
                "numberOfEmployees": 500,
                "annualRevenue": {"amount": 1500000.5},
                "SICCode": "7372",
                "tickerSymbol": "CTSO",
                "website": "https://contoso.example"
            },
            "accountPhysicalAddress": {
                "_id": "ad000000-0000-0000-0000-000000000001",
                "city": "Seattle", "country": "USA", "region": "King", "street1": "1 Pine St", "street2": "Floor 2",
                "_schema": {"latitude": 47.6062, "longitude": -122.3321},
                "label": "HQ", "postalCode": "98101", "state": "WA", "postOfficeBox": "PO 12"
            },
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "accountDescription": "Makes \"widgets\", mostly",
            "accountFax": {"number": "+1 206 555 0100"},
            "accountName": "Contoso, Ltd.",
            "accountPhone": {"number": "+1 206 555 0101"}
        })
    );
}

#[test]
fn dynamics_contacts_with_a_byte_order_mark() {
    let csv = "\u{feff}contactid,parentcustomerid,emailaddress1,emailaddress2,firstname,middlename,lastname,fullname,salutation,suffix,birthdate,jobtitle,department,assistantname,assistantphone,telephone1,mobilephone,address1_addressid,address1_city,address1_county,address1_line1,address1_latitude,createdon,modifiedon\n\
c0000000-0000-0000-0000-000000000001,a0000000-0000-0000-0000-000000000001,Pat.Lee@Contoso.example,pat@home.example,Pat,Q,Lee,Pat Lee,Dr.,PhD,7/14/1985,Head of Sales,Sales,Alex Roe,+1 206 555 0111,+1 206 555 0123,+1 206 555 0124,ad000000-0000-0000-0000-000000000002,Seattle,King,1 Pine St,47.6062,3/5/2024 2:22:11 PM,2024-03-06T09:00:00Z\n";
    let batch = load(SourceSystem::Dynamics, "Contacts.csv", csv);
    assert!(batch.unmapped_columns.is_empty(), "the BOM is not part of the first column: {:?}", batch.unmapped_columns);
    assert_eq!(
        only_record(&batch),
        json!({
            "b2b": {
                "personKey": dyn_key("c0000000-0000-0000-0000-000000000001"),
                "accountKey": dyn_key("a0000000-0000-0000-0000-000000000001"),
                "personType": "Contact"
            },
            "personComponents": [{
                "sourcePersonKey": dyn_key("c0000000-0000-0000-0000-000000000001"),
                "sourceAccountKey": dyn_key("a0000000-0000-0000-0000-000000000001"),
                "workEmail": {"address": "Pat.Lee@Contoso.example"}
            }],
            "workEmail": {"address": "Pat.Lee@Contoso.example"},
            "personalEmail": {"address": "pat@home.example"},
            "person": {
                "name": {"firstName": "Pat", "middleName": "Q", "lastName": "Lee", "fullName": "Pat Lee", "courtesyTitle": "Dr.", "suffix": "PhD"},
                "birthDate": "1985-07-14"
            },
            "extendedWorkDetails": {
                "jobTitle": "Head of Sales",
                "departments": ["Sales"],
                "assistantDetails": {"name": {"fullName": "Alex Roe"}, "phone": {"number": "+1 206 555 0111"}}
            },
            "workPhone": {"number": "+1 206 555 0123"},
            "mobilePhone": {"number": "+1 206 555 0124"},
            "workAddress": {
                "_id": "ad000000-0000-0000-0000-000000000002",
                "city": "Seattle", "stateProvince": "King", "street1": "1 Pine St",
                "_schema": {"latitude": 47.6062}
            },
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"}
        })
    );
}

#[test]
fn dynamics_leads_map_to_persons() {
    let csv = "leadid,emailaddress1,firstname,lastname,fax,jobtitle,address1_city,createdon,modifiedon,subject\n\
l0000000-0000-0000-0000-000000000001,sam@fabrikam.example,Sam,Fox,+1 206 555 0200,Buyer,Redmond,3/5/2024 2:22 PM,,Interested\n";
    let batch = load(SourceSystem::Dynamics, "leads.csv", csv);
    assert_eq!(batch.unmapped_columns, ["subject"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "b2b": {"personKey": dyn_key("l0000000-0000-0000-0000-000000000001"), "personType": "Lead"},
            "personComponents": [{
                "sourcePersonKey": dyn_key("l0000000-0000-0000-0000-000000000001"),
                "workEmail": {"address": "sam@fabrikam.example"}
            }],
            "workEmail": {"address": "sam@fabrikam.example"},
            "person": {"name": {"firstName": "Sam", "lastName": "Fox"}},
            "faxPhone": {"number": "+1 206 555 0200"},
            "extendedWorkDetails": {"jobTitle": "Buyer"},
            "workAddress": {"city": "Redmond"},
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:00.000Z"}
        })
    );
}

#[test]
fn dynamics_opportunities_derive_closed_and_won_from_statecode() {
    let csv = "opportunityid,parentaccountid,campaignid,name,description,actualclosedate,estimatedclosedate,actualvalue,estimatedvalue,closeprobability,salesstage,stepname,statecode,createdon,modifiedon\n\
o1,a0000000-0000-0000-0000-000000000001,k1,Contoso renewal,Renewal,,6/30/2024,,80000,40,1,Qualify,0,3/5/2024 2:22:11 PM,3/6/2024 9:00:00 AM\n\
o2,,,Won deal,,4/1/2024,3/31/2024,120000.5,,100,3,,1,,\n\
o3,,,Lost deal,,,,,,0,,,2,,\n\
o4,,,Odd deal,,,13/1/2024,,,,,,,,\n\
o5,,,Broken deal,,,,,,,,,open,,\n";
    let batch = load(SourceSystem::Dynamics, "opportunities.csv", csv);
    assert_eq!(
        rejections(&batch),
        [(5, Some("estimatedclosedate"), RowErrorCode::BadDate), (6, Some("statecode"), RowErrorCode::BadNumber)]
    );
    assert_eq!(batch.rejected[0].message, r#""13/1/2024" is not a Dynamics date (expected M/D/YYYY)"#);
    let all: Vec<Value> = batch.records.iter().map(|mapped| Value::Object(mapped.record.clone())).collect();
    assert_eq!(
        all[0],
        json!({
            "opportunityKey": dyn_key("o1"),
            "accountKey": dyn_key("a0000000-0000-0000-0000-000000000001"),
            "campaignKey": dyn_key("k1"),
            "opportunityName": "Contoso renewal",
            "opportunityDescription": "Renewal",
            "expectedCloseDate": "2024-06-30",
            "expectedRevenue": {"amount": 80000},
            "probabilityPercentage": 40,
            "opportunityStage": "1",
            "nextStep": "Qualify",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isClosed": false,
            "isWon": false
        })
    );
    assert_eq!(
        all[1],
        json!({
            "opportunityKey": dyn_key("o2"),
            "opportunityName": "Won deal",
            "actualCloseDate": "2024-04-01T00:00:00.000Z",
            "expectedCloseDate": "2024-03-31",
            "opportunityAmount": {"amount": 120000.5},
            "probabilityPercentage": 100,
            "opportunityStage": "3",
            "isClosed": true,
            "isWon": true
        })
    );
    assert_eq!((&all[2]["isClosed"], &all[2]["isWon"]), (&json!(true), &json!(false)));
}

#[test]
fn dynamics_connections_are_opportunity_contact_roles() {
    let csv = "connectionid,record1id,record2id,connectionrole1.name,record1objecttypecode,createdon,modifiedon\n\
n1,o1,c0000000-0000-0000-0000-000000000001,Decision Maker,3,3/5/2024 2:22:11 PM,3/6/2024 9:00:00 AM\n";
    let batch = load(SourceSystem::Dynamics, "connections.csv", csv);
    assert_eq!(batch.table.entity, EntityKind::OpportunityPerson);
    assert_eq!(batch.unmapped_columns, ["record1objecttypecode"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "opportunityPersonKey": dyn_key("n1"),
            "opportunityKey": dyn_key("o1"),
            "personKey": dyn_key("c0000000-0000-0000-0000-000000000001"),
            "personRole": "Decision Maker",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"}
        })
    );
}

#[test]
fn dynamics_campaigns_carry_an_external_key() {
    let csv = "campaignid,name,description,totalactualcost,budgetedcost,expectedrevenue,actualstart,actualend,expectedresponse,utcconversiontimezonecode,createdby,createdon,modifiedby,modifiedon\n\
k1,Launch,Spring launch,4200.75,5000,100000,4/1/2024,4/30/2024,10,35,u1,3/5/2024 2:22:11 PM,u2,3/6/2024 9:00:00 AM\n";
    let record = only_record(&load(SourceSystem::Dynamics, "campaigns.csv", csv));
    assert_eq!(
        record,
        json!({
            "campaignKey": dyn_key("k1"),
            "extSourceSystemAudit": {
                "externalKey": dyn_key("k1"),
                "createdBy": "u1",
                "createdDate": "2024-03-05T14:22:11.000Z",
                "lastUpdatedBy": "u2",
                "lastUpdatedDate": "2024-03-06T09:00:00.000Z"
            },
            "campaignName": "Launch",
            "campaignDescription": "Spring launch",
            "actualCost": {"amount": 4200.75},
            "budgetedCost": {"amount": 5000},
            "expectedRevenue": {"amount": 100000},
            "campaignStartDate": "2024-04-01T00:00:00.000Z",
            "campaignEndDate": "2024-04-30T00:00:00.000Z",
            "expectedResponse": "10",
            "timeZone": "35",
            "timezoneName": "35"
        })
    );
}

#[test]
fn dynamics_marketing_lists_and_members() {
    let lists = "listid,listname,description,createdon,modifiedon,type\nli1,Key accounts,Top 50,3/5/2024 2:22:11 PM,3/6/2024 9:00:00 AM,0\n";
    let batch = load(SourceSystem::Dynamics, "lists.csv", lists);
    assert_eq!(batch.table.entity, EntityKind::MarketingList);
    assert_eq!(batch.unmapped_columns, ["type"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "marketingListKey": dyn_key("li1"),
            "marketingListName": "Key accounts",
            "marketingListDescription": "Top 50",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"}
        })
    );

    let members =
        "listmemberid,entityid,listid,createdon\nlm1,c0000000-0000-0000-0000-000000000001,li1,3/5/2024 2:22:11 PM\n";
    let batch = load(SourceSystem::Dynamics, "listmembers.csv", members);
    assert_eq!(batch.table.entity, EntityKind::MarketingListMember);
    assert_eq!(
        only_record(&batch),
        json!({
            "marketingListMemberKey": dyn_key("lm1"),
            "personKey": dyn_key("c0000000-0000-0000-0000-000000000001"),
            "marketingListKey": dyn_key("li1"),
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z"}
        })
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Marketo (bulk extract: camelCase columns, ISO date-times)

#[test]
fn marketo_persons_map_keys_consent_identity_map_and_components() {
    let csv = "id,email,firstName,lastName,middleName,salutation,title,department,phone,mobilePhone,fax,dateOfBirth,address,city,state,postalCode,country,company,website,contactCompany,leadScore,leadSource,leadStatus,personType,leadPartitionId,marketingSuspended,marketingSuspendedCause,mktoCdpIsConverted,mktoCdpConvertedDate,mktoCdpCnvContactPersonId,unsubscribed,unsubscribedReason,ecids,createdAt,updatedAt,marketoIsDeleted,sfdcType,sfdcContactId\n\
1001,Jane.Doe@Acme.example,Jane,Doe,M,Ms.,VP Sales,Sales,+1 415 555 0123,+1 415 555 0124,+1 415 555 0127,1985-07-14,1 Market St,San Francisco,CA,94105,USA,Acme,https://acme.example,2001,42,Web,MQL,contact,1,false,,true,2024-03-04T10:00:00Z,1002,TRUE,\"Too many emails, sorry\",\"ecid-1, ecid-2\",2024-03-05T14:22:11Z,2024-03-06T09:00:00.123Z,false,Contact,0035g00000XyZaB\n";
    let batch = load(SourceSystem::Marketo, "persons.csv", csv);
    assert_eq!(batch.table.name, "leads");
    assert_eq!(batch.unmapped_columns, ["sfdcType", "sfdcContactId"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "b2b": {
                "personKey": mk("1001"),
                "accountKey": mk("2001.mkto_org"),
                "isMarketingSuspended": false,
                "personScore": 42,
                "personSource": "Web",
                "personStatus": "MQL",
                "personType": "contact",
                "personGroupID": "1",
                "isConverted": true,
                "convertedDate": "2024-03-04T10:00:00.000Z",
                "companyName": "Acme",
                "companyWebsite": "https://acme.example",
                "convertedContactKey": mk("1002")
            },
            "personComponents": [{
                "sourcePersonKey": mk("1001"),
                "sourceAccountKey": mk("2001.mkto_org"),
                "personScore": 42,
                "personSource": "Web",
                "personStatus": "MQL",
                "personType": "contact",
                "personGroupID": "1",
                "workEmail": {"address": "Jane.Doe@Acme.example"},
                "sourceConvertedContactKey": mk("1002")
            }],
            "consents": {"marketing": {"email": {"val": "n", "reason": "Too many emails, sorry"}}},
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.123Z"},
            "extendedWorkDetails": {"jobTitle": "VP Sales", "departments": ["Sales"]},
            "faxPhone": {"number": "+1 415 555 0127"},
            "mobilePhone": {"number": "+1 415 555 0124"},
            "workPhone": {"number": "+1 415 555 0123"},
            "person": {
                "name": {"firstName": "Jane", "lastName": "Doe", "middleName": "M", "courtesyTitle": "Ms."},
                "birthDate": "1985-07-14"
            },
            "workAddress": {"city": "San Francisco", "country": "USA", "postalCode": "94105", "state": "CA", "street1": "1 Market St"},
            "workEmail": {"address": "Jane.Doe@Acme.example"},
            "identityMap": {"ECID": [{"id": "ecid-1"}, {"id": "ecid-2"}]},
            "isDeleted": false
        })
    );
}

#[test]
fn marketo_rejects_bad_booleans_and_dates() {
    let long_reason = "x".repeat(150);
    let csv = format!(
        "id,email,unsubscribed,unsubscribedReason,updatedAt\n\
         1,a@x.example,0,{long_reason},2024-03-05T14:22:11Z\n\
         2,b@x.example,perhaps,,\n\
         3,c@x.example,,,3/5/2024 2:22:11 PM\n\
         ,d@x.example,,,\n"
    );
    let batch = load(SourceSystem::Marketo, "Leads.csv", &csv);
    assert_eq!(
        rejections(&batch),
        [
            (3, Some("unsubscribed"), RowErrorCode::BadBoolean),
            (4, Some("updatedAt"), RowErrorCode::BadDate),
            (5, Some("id"), RowErrorCode::MissingId)
        ]
    );
    assert_eq!(
        batch.rejected[1].message,
        r#""3/5/2024 2:22:11 PM" is not a Marketo date-time (expected YYYY-MM-DDTHH:MM:SSZ)"#
    );
    let consent = &batch.records[0].record["consents"]["marketing"]["email"];
    assert_eq!(consent["val"], json!("y"));
    assert_eq!(consent["reason"], json!("x".repeat(100)));
}

#[test]
fn marketo_companies_use_the_org_suffix() {
    let csv = "id,company,companyNotes,site,mainPhone,billingCity,billingCountry,billingPostalCode,billingState,billingStreet,annualRevenue,sicCode,industry,numberOfEmployees,website,mktoCdpParentOrgId,mktoCdpExternalId,createdAt,updatedAt,marketoIsDeleted\n\
2001,Acme,Key account,HQ,+1 415 555 0199,San Francisco,USA,94105,CA,1 Market St,5000000,7372,Technology,1200,https://acme.example,2000,0015g00000ABCdE,2024-03-05T14:22:11Z,2024-03-06T09:00:00Z,false\n";
    let batch = load(SourceSystem::Marketo, "companies.csv", csv);
    assert_eq!(batch.unmapped_columns, ["mktoCdpExternalId"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "accountKey": mk("2001.mkto_org"),
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "accountBillingAddress": {"city": "San Francisco", "country": "USA", "postalCode": "94105", "state": "CA", "street1": "1 Market St"},
            "accountOrganization": {
                "annualRevenue": {"amount": 5_000_000},
                "SICCode": "7372",
                "industry": "Technology",
                "numberOfEmployees": 1200,
                "website": "https://acme.example"
            },
            "accountPhone": {"number": "+1 415 555 0199"},
            "accountName": "Acme",
            "accountDescription": "Key account",
            "accountSite": "HQ",
            "accountParentKey": mk("2000.mkto_org"),
            "isDeleted": false
        })
    );
}

#[test]
fn marketo_opportunities_and_roles() {
    let csv = "id,name,description,stage,type,amount,expectedRevenue,closeDate,fiscalQuarter,fiscalYear,forecastCategory,forecastCategoryName,isClosed,isWon,quantity,probability,lastActivityDate,leadSource,nextStep,mktoCdpAccountOrgId,externalOpportunityId,createdAt,updatedAt,marketoIsDeleted\n\
3001,Acme expansion,Big deal,Proposal,New Business,250000.5,125000,2024-06-30,Q2,2024,Pipeline,Pipeline,false,false,10,50,2024-03-04T10:00:00Z,Web,Demo,2001,0065g00000OpP01,2024-03-05T14:22:11Z,2024-03-06T09:00:00Z,false\n";
    let batch = load(SourceSystem::Marketo, "opportunities.csv", csv);
    assert_eq!(batch.unmapped_columns, ["externalOpportunityId"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "opportunityKey": mk("3001"),
            "accountKey": mk("2001.mkto_org"),
            "opportunityName": "Acme expansion",
            "opportunityDescription": "Big deal",
            "opportunityStage": "Proposal",
            "opportunityType": "New Business",
            "opportunityAmount": {"amount": 250000.5},
            "expectedRevenue": {"amount": 125000},
            "expectedCloseDate": "2024-06-30",
            "fiscalQuarter": "Q2",
            "fiscalYear": 2024,
            "forecastCategory": "Pipeline",
            "forecastCategoryName": "Pipeline",
            "isClosed": false,
            "isWon": false,
            "opportunityQuantity": 10,
            "probabilityPercentage": 50,
            "lastActivityDate": "2024-03-04T10:00:00.000Z",
            "leadSource": "Web",
            "nextStep": "Demo",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isDeleted": false
        })
    );

    let roles = "id,mktoCdpOpptyId,leadId,role,isPrimary,mktoCdpSfdcId,createdAt,updatedAt,marketoIsDeleted\n\
4001,3001,1001,Decision Maker,1,00K5g00000OcR01,2024-03-05T14:22:11Z,2024-03-06T09:00:00Z,0\n";
    let batch = load(SourceSystem::Marketo, "OpportunityRoles.csv", roles);
    assert_eq!(batch.table.entity, EntityKind::OpportunityPerson);
    assert_eq!(batch.unmapped_columns, ["mktoCdpSfdcId"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "opportunityPersonKey": mk("4001"),
            "opportunityKey": mk("3001"),
            "personKey": mk("1001"),
            "personRole": "Decision Maker",
            "isPrimary": true,
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isDeleted": false
        })
    );
}

#[test]
fn marketo_programs_and_memberships() {
    let programs = "id,name,description,type,status,channel,cost,parentProgramId,integrationPartner,webinarSessionName,webinarSessionDescription,webinarHistorySyncStatus,webinarHistorySyncDate,startDate,endDate,createdAt,updatedAt,marketoIsDeleted,workspace\n\
5001,Spring Webinar,Launch webinar,Event,Active,Webinar,4200.75,5000,ON24,Session A,First session,Synced,2024-04-02T10:00:00Z,2024-04-01T00:00:00Z,2024-04-30T00:00:00Z,2024-03-05T14:22:11Z,2024-03-06T09:00:00Z,false,Default\n";
    let batch = load(SourceSystem::Marketo, "programs.csv", programs);
    assert_eq!(batch.unmapped_columns, ["workspace"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "campaignKey": mk("5001"),
            "campaignName": "Spring Webinar",
            "campaignDescription": "Launch webinar",
            "campaignType": "Event",
            "campaignStatus": "Active",
            "channelName": "Webinar",
            "actualCost": {"amount": 4200.75},
            "parentCampaignKey": mk("5000"),
            "integrationPartnerName": "ON24",
            "webinarSessionName": "Session A",
            "webinarSessionDescription": "First session",
            "webinarHistorySyncStatus": "Synced",
            "webinarHistorySyncDate": "2024-04-02T10:00:00.000Z",
            "campaignStartDate": "2024-04-01T00:00:00.000Z",
            "campaignEndDate": "2024-04-30T00:00:00.000Z",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isDeleted": false
        })
    );

    let members = "id,programId,leadId,acquiredByCampaignID,reachedSuccess,isExhausted,statusName,statusReason,membershipDate,nurtureCadence,trackName,webinarUrl,registrationCode,reachedSuccessDate,sfdc.lastStatus,sfdc.hasResponded,sfdc.firstRespondedDate,sfdc.crmId,createdAt,updatedAt,marketoIsDeleted\n\
6001,5001,1001,7001,true,false,Attended,Joined live,2024-04-02T10:00:00Z,paused,Track 1,https://w.example/j/1,REG-1,2024-04-02T11:00:00Z,Responded,true,2024-04-02T12:00:00Z,00v5g00000MeM01,2024-03-05T14:22:11Z,2024-03-06T09:00:00Z,false\n";
    let batch = load(SourceSystem::Marketo, "programmembers.csv", members);
    assert_eq!(batch.table.entity, EntityKind::CampaignMember);
    assert_eq!(batch.unmapped_columns, ["sfdc.crmId"]);
    assert_eq!(
        only_record(&batch),
        json!({
            "campaignMemberKey": mk("6001"),
            "campaignKey": mk("5001"),
            "personKey": mk("1001"),
            "acquiredByCampaignKey": mk("7001"),
            "hasReachedSuccess": true,
            "isExhausted": false,
            "memberStatus": "Attended",
            "memberStatusReason": "Joined live",
            "membershipDate": "2024-04-02T10:00:00.000Z",
            "nurtureCadence": "paused",
            "nurtureTrackName": "Track 1",
            "webinarConfirmationUrl": "https://w.example/j/1",
            "webinarRegistrationID": "REG-1",
            "reachedSuccessDate": "2024-04-02T11:00:00.000Z",
            "lastStatus": "Responded",
            "hasResponded": true,
            "firstRespondedDate": "2024-04-02T12:00:00.000Z",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isDeleted": false
        })
    );
}

#[test]
fn marketo_static_lists_and_memberships() {
    let lists = "id,name,description,createdAt,updatedAt,marketoIsDeleted\n8001,Webinar invitees,Spring,2024-03-05T14:22:11Z,2024-03-06T09:00:00Z,false\n";
    let batch = load(SourceSystem::Marketo, "staticlists.csv", lists);
    assert_eq!(batch.table.entity, EntityKind::MarketingList);
    assert_eq!(
        only_record(&batch),
        json!({
            "marketingListKey": mk("8001"),
            "marketingListName": "Webinar invitees",
            "marketingListDescription": "Spring",
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z", "lastUpdatedDate": "2024-03-06T09:00:00.000Z"},
            "isDeleted": false
        })
    );

    let members = "staticListMemberID,staticListID,personID,createdAt,marketoIsDeleted\n9001,8001,1001,2024-03-05T14:22:11Z,true\n";
    let batch = load(SourceSystem::Marketo, "StaticListMembers.CSV", members);
    assert_eq!(batch.table.entity, EntityKind::MarketingListMember);
    assert_eq!(
        only_record(&batch),
        json!({
            "marketingListMemberKey": mk("9001"),
            "marketingListKey": mk("8001"),
            "personKey": mk("1001"),
            "extSourceSystemAudit": {"createdDate": "2024-03-05T14:22:11.000Z"},
            "isDeleted": true
        })
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Recognition and whole-file errors

#[test]
fn recognises_file_names_case_insensitively() {
    let name = |system, file: &str| recognise(system, Path::new(file)).map(|table| table.name);
    assert_eq!(name(SourceSystem::Salesforce, "exports/Account.csv"), Some("Account"));
    assert_eq!(name(SourceSystem::Salesforce, "contact.CSV"), Some("Contact"));
    assert_eq!(name(SourceSystem::Salesforce, "ACCOUNTCONTACTRELATION.csv"), Some("AccountContactRelation"));
    assert_eq!(name(SourceSystem::Salesforce, "Account.json"), None);
    assert_eq!(name(SourceSystem::Salesforce, "Accounts.csv"), None);
    assert_eq!(name(SourceSystem::Dynamics, "Accounts.csv"), Some("accounts"));
    assert_eq!(name(SourceSystem::Dynamics, "listmember.csv"), Some("listmembers"));
    assert_eq!(name(SourceSystem::Marketo, "persons.csv"), Some("leads"));
    assert_eq!(name(SourceSystem::Marketo, "Leads.csv"), Some("leads"));
    assert_eq!(name(SourceSystem::Marketo, "opportunityroles.csv"), Some("opportunityroles"));
    assert_eq!(name(SourceSystem::Marketo, "activities.csv"), None);
    assert_eq!(name(SourceSystem::Marketo, "leads"), None);
}

#[test]
fn every_system_lists_its_eight_tables() {
    for system in [SourceSystem::Salesforce, SourceSystem::Dynamics, SourceSystem::Marketo] {
        let known = tables(system);
        assert_eq!(known.len(), 8, "{system}");
        for table in known {
            assert_eq!(table.system, system);
            let file = format!("{}.csv", table.file_stems()[0]);
            assert_eq!(recognise(system, Path::new(&file)), Some(*table));
            assert!(table.columns().contains(&table.id_column()));
            assert!(!table.targets().is_empty());
        }
    }
}

fn read_error(system: SourceSystem, name: &str, contents: Option<&str>) -> Error {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    if let Some(contents) = contents {
        fs::write(&path, contents).expect("the test file is written");
    }
    let table = recognise(system, &path).expect("a known table");
    read_file(&table, &path, name, &ReadOptions { instance_id: "org".into() }, &mut |_| {})
        .expect_err("the file is refused")
}

#[test]
fn whole_file_errors_name_the_file_and_column() {
    let err = read_error(SourceSystem::Salesforce, "Contact.csv", Some("\"AccountId\",\"Email\"\n\"001\",\"a@x\"\n"));
    assert!(matches!(err, Error::MissingColumn { column: "Id", .. }), "{err:?}");
    assert_eq!(err.to_string(), "Contact.csv has no `Id` column, which the salesforce Contact mapping requires");

    let err = read_error(SourceSystem::Marketo, "staticlistmembers.csv", Some("id,staticListID\n1,2\n"));
    assert!(matches!(err, Error::MissingColumn { column: "staticListMemberID", .. }), "{err:?}");

    // Two columns of one name: which holds the value is unknown (the generic CSV reader refuses them too).
    let err = read_error(SourceSystem::Salesforce, "Contact.csv", Some("Id,Email,Email\n003A,a@x.com,b@x.com\n"));
    assert!(matches!(err, Error::BadHeader { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the header row of Contact.csv cannot be read: column `Email` appears twice (columns 2 and 3)"
    );
    let err = read_error(SourceSystem::Salesforce, "Contact.csv", Some("Id,Email, EMAIL\n003A,a@x.com,b@x.com\n"));
    assert_eq!(
        err.to_string(),
        "the header row of Contact.csv cannot be read: columns 2 `Email` and 3 ` EMAIL` are one name to a connector, which ignores case"
    );

    let err = read_error(SourceSystem::Dynamics, "accounts.csv", Some(""));
    assert!(matches!(err, Error::NoHeader { .. }), "{err:?}");
    assert_eq!(err.to_string(), "accounts.csv has no header row (the file is empty)");

    let err = read_error(SourceSystem::Dynamics, "accounts.csv", None);
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cannot open accounts.csv: "));
}

#[test]
fn an_empty_instance_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Account.csv");
    fs::write(&path, "Id\n1\n").unwrap();
    let table = recognise(SourceSystem::Salesforce, &path).unwrap();
    let err =
        read_file(&table, &path, "Account.csv", &ReadOptions { instance_id: " ".into() }, &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::NoInstance { .. }), "{err:?}");
}

#[test]
fn invalid_utf8_rows_are_rejected_and_reading_goes_on() {
    let mut contents = b"\"Id\",\"Name\"\n\"001A\",\"Acme\"\n\"001B\",\"Caf".to_vec();
    contents.extend_from_slice(b"\xE9\"\n\"001C\",\"Globex\"\n");
    let batch = load_bytes(SourceSystem::Salesforce, "Account.csv", &contents);
    assert_eq!(rejections(&batch), [(3, None, RowErrorCode::Unparsable)]);
    assert_eq!(batch.rejected[0].message, "column 2 is not valid UTF-8");
    assert_eq!(batch.records.len(), 2);
    assert_eq!(batch.records[1].line, 4);
}

#[test]
fn header_only_files_read_no_rows() {
    let batch = load(SourceSystem::Salesforce, "Campaign.csv", "\"Id\",\"Name\"\n");
    assert_eq!((batch.rows_read, batch.records.len(), batch.rejected.len()), (0, 0, 0));
}

#[test]
fn a_quote_never_closed_fails_the_whole_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("Contact.csv");
    let csv = "Id,Email,LastModifiedDate\n0035g00000Good1,a@x.example,2024-03-05T14:22:11.000Z\n\
               0035g00000Bad01,\"b@x.example,2024-03-05T14:22:11.000Z\n0035g00000Good2,c@x.example,2024-03-05T14:22:11.000Z\n";
    fs::write(&path, csv).expect("the test file is written");
    let table = recognise(SourceSystem::Salesforce, &path).expect("a Salesforce table");
    let err = read_file(&table, &path, "Contact.csv", &ReadOptions { instance_id: SF_ORG.into() }, &mut |_| {})
        .expect_err("the file does not read");
    let offset = csv.find("\"b@").expect("the quote");
    assert!(
        err.to_string()
            .starts_with(&format!("Contact.csv:3 (byte {offset}): a quoted field opens here and is never closed")),
        "{err}"
    );
}
