//! Dynamics 365 exports (US locale): lower-case GUID ids, quotes only where needed,
//! `M/D/YYYY h:mm:ss AM` datetimes, numeric option-set codes.

use crate::ids::{ascii, dynamics_guid, Kind};
use crate::population::{Account, Case, ContactRole, OppState, Opportunity, Person, Population};
use crate::sink::{FileSpec, Quoting, Row};
use crate::time::{dynamics_date, dynamics_datetime};
use crate::vocab;

pub(crate) static ACCOUNTS: FileSpec = FileSpec {
    path: "dynamics/accounts.csv",
    header: &[
        "accountid",
        "name",
        "accountnumber",
        "revenue",
        "address1_city",
        "address1_country",
        "numberofemployees",
        "websiteurl",
        "createdon",
        "modifiedon",
    ],
    quoting: Quoting::Necessary,
    id_col: 0,
    modified_col: 9,
    bad_dates: vocab::BAD_DYN_DATETIMES,
};

pub(crate) static CONTACTS: FileSpec = FileSpec {
    path: "dynamics/contacts.csv",
    header: &[
        "contactid",
        "parentcustomerid",
        "firstname",
        "lastname",
        "fullname",
        "emailaddress1",
        "department",
        "jobtitle",
        "telephone1",
        "address1_city",
        "address1_country",
        "createdon",
        "modifiedon",
    ],
    quoting: Quoting::Necessary,
    id_col: 0,
    modified_col: 12,
    bad_dates: vocab::BAD_DYN_DATETIMES,
};

pub(crate) static OPPORTUNITIES: FileSpec = FileSpec {
    path: "dynamics/opportunities.csv",
    header: &[
        "opportunityid",
        "parentaccountid",
        "name",
        "statecode",
        "salesstage",
        "estimatedvalue",
        "actualvalue",
        "estimatedclosedate",
        "closeprobability",
        "createdon",
        "modifiedon",
    ],
    quoting: Quoting::Necessary,
    id_col: 0,
    modified_col: 10,
    bad_dates: vocab::BAD_DYN_DATETIMES,
};

pub(crate) static CONNECTIONS: FileSpec = FileSpec {
    path: "dynamics/connections.csv",
    header: &["connectionid", "record1id", "record2id", "connectionrole1.name", "createdon", "modifiedon"],
    quoting: Quoting::Necessary,
    id_col: 0,
    modified_col: 5,
    bad_dates: vocab::BAD_DYN_DATETIMES,
};

fn id(row: &mut Row, seed: u64, kind: Kind, index: u64) -> &mut Row {
    row.str(ascii(&dynamics_guid(seed, kind, index)))
}

pub(crate) fn account_row(row: &mut Row, pop: &Population, index: u32, a: &Account) {
    id(row, pop.seed, Kind::Account, u64::from(index)).with(|s| a.write_name(s)).with(|s| {
        let _ = std::fmt::Write::write_fmt(s, format_args!("BOD-{:06}", index + 1));
    });
    match a.revenue {
        Some(revenue) => row.with(|s| {
            let _ = std::fmt::Write::write_fmt(s, format_args!("{revenue}.00"));
        }),
        None => row.empty(),
    };
    let (city, country) = vocab::CITIES[a.city as usize];
    row.str(city).str(country);
    match a.employees {
        Some(n) => row.num(n),
        None => row.empty(),
    };
    row.with(|s| {
        s.push_str("https://www.");
        a.write_domain(s, Case::Lower);
    })
    .with(|s| dynamics_datetime(s, a.created))
    .with(|s| dynamics_datetime(s, a.modified));
}

/// A contact for `person`'s record in `slot`; `with_account` sets `parentcustomerid`.
pub(crate) fn contact_row(row: &mut Row, pop: &Population, p: &Person, slot: usize, with_account: bool) {
    let rec = &p.records[slot];
    let account = &pop.accounts[p.account as usize];
    id(row, pop.seed, Kind::Contact, u64::from(p.index));
    if with_account {
        id(row, pop.seed, Kind::Account, u64::from(p.account));
    } else {
        row.empty();
    }
    let (city, country) = vocab::CITIES[account.city as usize];
    row.str(p.first.0)
        .with(|s| p.write_last_name(s))
        .with(|s| p.write_full_name(s))
        .with(|s| p.write_email(s, account, rec.email))
        .opt(rec.dept.map(|d| vocab::DEPARTMENTS[d as usize].0))
        .str(p.title(rec.dept))
        .with(|s| {
            let _ = std::fmt::Write::write_fmt(s, format_args!("+1 {}-555-{:04}", p.area, p.line));
        })
        .str(city)
        .str(country)
        .with(|s| dynamics_datetime(s, rec.created))
        .with(|s| dynamics_datetime(s, rec.modified));
}

pub(crate) fn opportunity_row(row: &mut Row, pop: &Population, index: u32, o: &Opportunity) {
    let account = &pop.accounts[o.account as usize];
    // statecode: 0 open, 1 won, 2 lost; salesstage: 0 qualify, 1 develop, 2 propose, 3 close.
    let (state, stage, probability) = match o.state {
        OppState::Open(stage) => (0, u32::from(stage) * 3 / 7, vocab::OPEN_STAGES[stage as usize].1),
        OppState::Won => (1, 3, 100),
        OppState::Lost => (2, u32::from(o.product) % 4, 0),
    };
    id(row, pop.seed, Kind::Opportunity, u64::from(index));
    id(row, pop.seed, Kind::Account, u64::from(o.account));
    row.with(|s| {
        account.write_name(s);
        s.push_str(" - ");
        s.push_str(vocab::PRODUCTS[o.product as usize]);
    })
    .num(state)
    .num(stage)
    .with(|s| {
        let _ = std::fmt::Write::write_fmt(s, format_args!("{}.00", o.amount));
    });
    if o.state == OppState::Won {
        row.with(|s| {
            let _ = std::fmt::Write::write_fmt(s, format_args!("{}.00", o.amount));
        });
    } else {
        row.empty();
    }
    row.with(|s| dynamics_date(s, o.close))
        .num(probability)
        .with(|s| dynamics_datetime(s, o.created))
        .with(|s| dynamics_datetime(s, o.modified));
}

pub(crate) fn connection_row(row: &mut Row, pop: &Population, index: u32, r: &ContactRole) {
    id(row, pop.seed, Kind::ContactRole, u64::from(index));
    id(row, pop.seed, Kind::Opportunity, u64::from(r.opportunity));
    id(row, pop.seed, Kind::Contact, u64::from(r.person));
    row.str(vocab::DYN_ROLES[r.role as usize % vocab::DYN_ROLES.len()])
        .with(|s| dynamics_datetime(s, r.created))
        .with(|s| dynamics_datetime(s, r.modified));
}
