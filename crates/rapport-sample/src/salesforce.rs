//! Salesforce Data Loader exports: every field quoted, 18-character ids, ISO datetimes with
//! milliseconds, `true`/`false`, amounts with two decimals.

use crate::ids::{ascii, salesforce_id, Kind};
use crate::population::{Account, ContactRole, OppState, Opportunity, Person, Population};
use crate::sink::{FileSpec, Quoting, Row};
use crate::time::{salesforce_date, salesforce_datetime};
use crate::vocab;

pub(crate) static ACCOUNT: FileSpec = FileSpec {
    path: "salesforce/Account.csv",
    header: &[
        "Id",
        "Name",
        "Industry",
        "AnnualRevenue",
        "BillingCity",
        "BillingCountry",
        "Type",
        "NumberOfEmployees",
        "Website",
        "ParentId",
        "CreatedDate",
        "LastModifiedDate",
    ],
    quoting: Quoting::Always,
    id_col: 0,
    modified_col: 11,
    bad_dates: vocab::BAD_SF_DATETIMES,
};

pub(crate) static CONTACT: FileSpec = FileSpec {
    path: "salesforce/Contact.csv",
    header: &[
        "Id",
        "AccountId",
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Department",
        "Title",
        "Phone",
        "MailingCity",
        "MailingCountry",
        "LeadSource",
        "CreatedDate",
        "LastModifiedDate",
    ],
    quoting: Quoting::Always,
    id_col: 0,
    modified_col: 13,
    bad_dates: vocab::BAD_SF_DATETIMES,
};

pub(crate) static OPPORTUNITY: FileSpec = FileSpec {
    path: "salesforce/Opportunity.csv",
    header: &[
        "Id",
        "AccountId",
        "Name",
        "StageName",
        "Amount",
        "CurrencyIsoCode",
        "IsClosed",
        "IsWon",
        "CloseDate",
        "Probability",
        "Type",
        "LeadSource",
        "CreatedDate",
        "LastModifiedDate",
    ],
    quoting: Quoting::Always,
    id_col: 0,
    modified_col: 13,
    bad_dates: vocab::BAD_SF_DATETIMES,
};

pub(crate) static CONTACT_ROLE: FileSpec = FileSpec {
    path: "salesforce/OpportunityContactRole.csv",
    header: &["Id", "OpportunityId", "ContactId", "Role", "IsPrimary", "CreatedDate", "LastModifiedDate"],
    quoting: Quoting::Always,
    id_col: 0,
    modified_col: 6,
    bad_dates: vocab::BAD_SF_DATETIMES,
};

fn id(row: &mut Row, seed: u64, kind: Kind, index: u64) -> &mut Row {
    row.str(ascii(&salesforce_id(seed, kind, index)))
}

pub(crate) fn account_row(row: &mut Row, pop: &Population, index: u32, a: &Account) {
    id(row, pop.seed, Kind::Account, u64::from(index))
        .with(|s| a.write_name(s))
        .opt(a.industry.map(|i| vocab::INDUSTRIES[i as usize]));
    match a.revenue {
        Some(revenue) => row.with(|s| {
            let _ = std::fmt::Write::write_fmt(s, format_args!("{revenue}.00"));
        }),
        None => row.empty(),
    };
    let (city, country) = vocab::CITIES[a.city as usize];
    row.str(city).str(country).str(vocab::ACCOUNT_TYPES[a.kind as usize]);
    match a.employees {
        Some(n) => row.num(n),
        None => row.empty(),
    };
    row.with(|s| {
        s.push_str("www.");
        a.write_domain(s, crate::population::Case::Lower);
    });
    match a.parent {
        Some(parent) => id(row, pop.seed, Kind::Account, u64::from(parent)),
        None => row.empty(),
    };
    row.with(|s| salesforce_datetime(s, a.created)).with(|s| salesforce_datetime(s, a.modified));
}

/// A contact for `person`'s record in `slot`; `with_account` sets `AccountId`.
pub(crate) fn contact_row(row: &mut Row, pop: &Population, p: &Person, slot: usize, with_account: bool) {
    let rec = &p.records[slot];
    let account = &pop.accounts[p.account as usize];
    id(row, pop.seed, Kind::Contact, u64::from(p.index));
    if with_account {
        id(row, pop.seed, Kind::Account, u64::from(p.account));
    } else {
        row.empty();
    }
    row.str(p.first.0)
        .with(|s| p.write_last_name(s))
        .with(|s| p.write_full_name(s))
        .with(|s| p.write_email(s, account, rec.email))
        .opt(rec.dept.map(|d| vocab::DEPARTMENTS[d as usize].0))
        .str(p.title(rec.dept))
        .with(|s| {
            let _ = std::fmt::Write::write_fmt(s, format_args!("({}) 555-{:04}", p.area, p.line));
        });
    let (city, country) = vocab::CITIES[account.city as usize];
    row.str(city)
        .str(country)
        .opt(p.sf_lead_source.map(|i| vocab::SF_LEAD_SOURCES[i as usize]))
        .with(|s| salesforce_datetime(s, rec.created))
        .with(|s| salesforce_datetime(s, rec.modified));
}

pub(crate) fn opportunity_row(row: &mut Row, pop: &Population, index: u32, o: &Opportunity) {
    let account = &pop.accounts[o.account as usize];
    let (stage, probability, closed, won) = match o.state {
        OppState::Open(stage) => {
            let (name, probability) = vocab::OPEN_STAGES[stage as usize];
            (name, probability, "false", "false")
        }
        OppState::Won => ("Closed Won", 100, "true", "true"),
        OppState::Lost => ("Closed Lost", 0, "true", "false"),
    };
    id(row, pop.seed, Kind::Opportunity, u64::from(index));
    id(row, pop.seed, Kind::Account, u64::from(o.account));
    row.with(|s| {
        account.write_name(s);
        s.push_str(" - ");
        s.push_str(vocab::PRODUCTS[o.product as usize]);
    })
    .str(stage)
    .with(|s| {
        let _ = std::fmt::Write::write_fmt(s, format_args!("{}.00", o.amount));
    })
    .str(vocab::CURRENCIES[o.currency as usize])
    .str(closed)
    .str(won)
    .with(|s| salesforce_date(s, o.close))
    .num(probability)
    .str(vocab::OPPORTUNITY_TYPES[o.kind as usize])
    .opt(o.lead_source.map(|i| vocab::SF_LEAD_SOURCES[i as usize]))
    .with(|s| salesforce_datetime(s, o.created))
    .with(|s| salesforce_datetime(s, o.modified));
}

pub(crate) fn role_row(row: &mut Row, pop: &Population, index: u32, r: &ContactRole) {
    id(row, pop.seed, Kind::ContactRole, u64::from(index));
    id(row, pop.seed, Kind::Opportunity, u64::from(r.opportunity));
    id(row, pop.seed, Kind::Contact, u64::from(r.person));
    row.str(vocab::SF_ROLES[r.role as usize])
        .str(if r.primary { "true" } else { "false" })
        .with(|s| salesforce_datetime(s, r.created))
        .with(|s| salesforce_datetime(s, r.modified));
}
