//! Marketo Engage lead export: integer ids, `2024-03-05T14:22:11Z` datetimes, quotes only where
//! needed. Leads carry the company *name*, never an account reference.

use crate::population::{Person, Population, LEAD};
use crate::sink::{FileSpec, Quoting, Row};
use crate::time::marketo_datetime;
use crate::vocab;

/// Marketo lead ids are the person index plus this offset (gaps where a person has no lead).
const FIRST_LEAD_ID: u64 = 1_000_001;

pub(crate) static LEADS: FileSpec = FileSpec {
    path: "marketo/leads.csv",
    header: &[
        "id",
        "email",
        "firstName",
        "lastName",
        "company",
        "title",
        "department",
        "leadScore",
        "leadSource",
        "unsubscribed",
        "createdAt",
        "updatedAt",
    ],
    quoting: Quoting::Necessary,
    id_col: 0,
    modified_col: 11,
    bad_dates: vocab::BAD_MARKETO_DATETIMES,
};

pub(crate) fn lead_row(row: &mut Row, pop: &Population, p: &Person) {
    let rec = &p.records[LEAD];
    let account = &pop.accounts[p.account as usize];
    row.num(FIRST_LEAD_ID + u64::from(p.index))
        .with(|s| p.write_email(s, account, rec.email))
        .str(p.first.0)
        .with(|s| p.write_last_name(s))
        .with(|s| account.write_name(s))
        .str(p.title(rec.dept))
        .opt(rec.dept.map(|d| vocab::DEPARTMENTS[d as usize].0))
        .num(p.lead_score)
        .str(vocab::MARKETO_LEAD_SOURCES[p.marketo_lead_source as usize])
        .str(if p.unsubscribed { "true" } else { "false" })
        .with(|s| marketo_datetime(s, rec.created))
        .with(|s| marketo_datetime(s, rec.modified));
}
