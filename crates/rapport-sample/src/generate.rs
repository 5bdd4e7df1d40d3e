//! Orchestration: build the population, then stream every file once.

use std::path::Path;

use crate::population::{person, Crm, Population, CONTACT, LEAD, OTHER_CONTACT};
use crate::sink::{FileSpec, Row, Sink};
use crate::{dynamics, marketo, salesforce, Error, GenerateReport};

/// Every file, in report order. The index doubles as the file's error-plan stream tag.
const FILES: [&FileSpec; 9] = [
    &salesforce::ACCOUNT,
    &salesforce::CONTACT,
    &salesforce::OPPORTUNITY,
    &salesforce::CONTACT_ROLE,
    &dynamics::ACCOUNTS,
    &dynamics::CONTACTS,
    &dynamics::OPPORTUNITIES,
    &dynamics::CONNECTIONS,
    &marketo::LEADS,
];

/// Opens the file `FILES[tag]` expecting `rows` data rows.
fn open(out: &Path, pop: &Population, tag: usize, rows: u64) -> Result<Sink, Error> {
    Sink::create(out, FILES[tag], rows, pop.seed, tag as u64)
}

pub(crate) fn run(out: &Path, persons: u32, seed: u64) -> Result<GenerateReport, Error> {
    let pop = Population::build(seed, persons);
    let mut row = Row::default();
    let mut finished = Vec::with_capacity(FILES.len());

    // Accounts.
    let mut sf = open(out, &pop, 0, pop.account_count(Crm::Salesforce))?;
    let mut dy = open(out, &pop, 4, pop.account_count(Crm::Dynamics))?;
    for (i, a) in pop.accounts.iter().enumerate() {
        row.clear();
        match a.crm {
            Crm::Salesforce => {
                salesforce::account_row(&mut row, &pop, i as u32, a);
                sf.write(&row)?;
            }
            Crm::Dynamics => {
                dynamics::account_row(&mut row, &pop, i as u32, a);
                dy.write(&row)?;
            }
        }
    }
    finished.push((0, sf.finish()?));
    finished.push((4, dy.finish()?));

    // Persons: both contact files and the lead file in one pass.
    let mut sf = open(out, &pop, 1, pop.sf_contacts)?;
    let mut dy = open(out, &pop, 5, pop.dyn_contacts)?;
    let mut mk = open(out, &pop, 8, pop.leads)?;
    for j in 0..pop.persons {
        let p = person(seed, j, &pop.accounts);
        for (slot, crm, with_account) in [(CONTACT, p.crm, true), (OTHER_CONTACT, p.crm.other(), false)] {
            if !p.records[slot].present {
                continue;
            }
            row.clear();
            match crm {
                Crm::Salesforce => {
                    salesforce::contact_row(&mut row, &pop, &p, slot, with_account);
                    sf.write(&row)?;
                }
                Crm::Dynamics => {
                    dynamics::contact_row(&mut row, &pop, &p, slot, with_account);
                    dy.write(&row)?;
                }
            }
        }
        if p.records[LEAD].present {
            row.clear();
            marketo::lead_row(&mut row, &pop, &p);
            mk.write(&row)?;
        }
    }
    finished.push((1, sf.finish()?));
    finished.push((5, dy.finish()?));
    finished.push((8, mk.finish()?));

    // Opportunities.
    let mut sf = open(out, &pop, 2, pop.opportunity_count(Crm::Salesforce))?;
    let mut dy = open(out, &pop, 6, pop.opportunity_count(Crm::Dynamics))?;
    for (k, o) in pop.opportunities.iter().enumerate() {
        row.clear();
        match pop.accounts[o.account as usize].crm {
            Crm::Salesforce => {
                salesforce::opportunity_row(&mut row, &pop, k as u32, o);
                sf.write(&row)?;
            }
            Crm::Dynamics => {
                dynamics::opportunity_row(&mut row, &pop, k as u32, o);
                dy.write(&row)?;
            }
        }
    }
    finished.push((2, sf.finish()?));
    finished.push((6, dy.finish()?));

    // Contact roles.
    let mut sf = open(out, &pop, 3, pop.role_count(Crm::Salesforce))?;
    let mut dy = open(out, &pop, 7, pop.role_count(Crm::Dynamics))?;
    for (i, r) in pop.roles.iter().enumerate() {
        row.clear();
        match pop.opp_crm(r.opportunity) {
            Crm::Salesforce => {
                salesforce::role_row(&mut row, &pop, i as u32, r);
                sf.write(&row)?;
            }
            Crm::Dynamics => {
                dynamics::connection_row(&mut row, &pop, i as u32, r);
                dy.write(&row)?;
            }
        }
    }
    finished.push((3, sf.finish()?));
    finished.push((7, dy.finish()?));

    finished.sort_by_key(|(tag, _)| *tag);
    let mut report = GenerateReport { files: Vec::new(), injected_errors: Vec::new() };
    for (_, (file, errors)) in finished {
        report.files.push(file);
        report.injected_errors.extend(errors);
    }
    Ok(report)
}
