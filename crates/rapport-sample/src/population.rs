//! The Bodea population: accounts, opportunities, contact roles and persons, before any CSV.
//!
//! Accounts, opportunities and contact roles are few (N/10, N/5, ~0.3·N) and kept in memory.
//! Persons are not stored: [`person`] derives person `j` from its own random stream, so the
//! counting pass and the writing pass see exactly the same person without holding N of them.

use fastrand::Rng;

use crate::ids::stream_seed;
use crate::time::{DAY, T2019, T2020, T2024_07};
use crate::vocab;

/// Stream tags for [`stream_seed`].
const STREAM_MASTER: u64 = 0x10;
const STREAM_PERSON: u64 = 0x20;

/// Which CRM holds an account (and its opportunities and primary contacts).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Crm {
    Salesforce,
    Dynamics,
}

impl Crm {
    pub(crate) fn other(self) -> Crm {
        match self {
            Crm::Salesforce => Crm::Dynamics,
            Crm::Dynamics => Crm::Salesforce,
        }
    }
}

/// One account; index in [`Population::accounts`] is its id seed.
pub(crate) struct Account {
    pub crm: Crm,
    pub stem: u8,
    /// Index into [`vocab::COMPANY_WORDS`], or `None` for a one-word name.
    pub word: Option<u8>,
    pub legal: u8,
    pub city: u8,
    pub industry: Option<u8>,
    pub kind: u8,
    /// Annual revenue in whole currency units, sometimes unknown.
    pub revenue: Option<u64>,
    pub employees: Option<u32>,
    /// Parent account (same CRM).
    pub parent: Option<u32>,
    pub created: i64,
    pub modified: i64,
}

impl Account {
    /// Display name, e.g. `Acme Robotics, Inc.`.
    pub(crate) fn write_name(&self, out: &mut String) {
        out.push_str(vocab::COMPANY_STEMS[self.stem as usize].0);
        if let Some(word) = self.word {
            out.push(' ');
            out.push_str(vocab::COMPANY_WORDS[word as usize].0);
        }
        out.push_str(vocab::LEGAL_FORMS[self.legal as usize].0);
    }

    /// E-mail / web domain, e.g. `acmerobotics.com`, with the chosen letter case.
    pub(crate) fn write_domain(&self, out: &mut String, case: Case) {
        push_cased(out, vocab::COMPANY_STEMS[self.stem as usize].1, case);
        if let Some(word) = self.word {
            push_cased(
                out,
                vocab::COMPANY_WORDS[word as usize].1,
                if case == Case::Upper { case } else { Case::Lower },
            );
        }
        out.push('.');
        push_cased(
            out,
            vocab::LEGAL_FORMS[self.legal as usize].1,
            if case == Case::Upper { case } else { Case::Lower },
        );
    }
}

/// Open, won or lost.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OppState {
    /// Open, at an index into [`vocab::OPEN_STAGES`].
    Open(u8),
    Won,
    Lost,
}

/// One opportunity, attached to an account of its CRM.
pub(crate) struct Opportunity {
    pub account: u32,
    pub state: OppState,
    pub amount: u64,
    pub currency: u8,
    pub close: i64,
    pub created: i64,
    pub modified: i64,
    pub kind: u8,
    pub lead_source: Option<u8>,
    pub product: u8,
}

/// One contact role: a contact of the opportunity's own account.
pub(crate) struct ContactRole {
    pub opportunity: u32,
    /// Index of the person whose primary contact plays the role.
    pub person: u32,
    pub role: u8,
    pub primary: bool,
    pub created: i64,
    pub modified: i64,
}

/// Letter case used when rendering an e-mail variant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Lower,
    Title,
    Upper,
}

/// Appends `text` in the given case (only ASCII letters change).
pub(crate) fn push_cased(out: &mut String, text: &str, case: Case) {
    match case {
        Case::Lower => out.push_str(text),
        Case::Upper => out.extend(text.chars().map(|c| c.to_ascii_uppercase())),
        Case::Title => {
            let mut chars = text.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
            }
            out.push_str(chars.as_str());
        }
    }
}

/// How a record spells its person's e-mail. The normalized form (trim + ASCII lower-case) is the
/// same for every non-empty variant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum EmailForm {
    Empty,
    Canonical,
    Title,
    Upper,
    Padded,
    TitlePadded,
}

/// Slot of a person's record in [`Person::records`].
pub(crate) const CONTACT: usize = 0;
/// Slot of the Marketo lead.
pub(crate) const LEAD: usize = 1;
/// Slot of the contact in the other CRM (no account reference).
pub(crate) const OTHER_CONTACT: usize = 2;

/// One of a person's records in one system.
#[derive(Clone, Copy)]
pub(crate) struct PersonRecord {
    pub present: bool,
    /// Index into [`vocab::DEPARTMENTS`], `None` for an empty department.
    pub dept: Option<u8>,
    pub email: EmailForm,
    pub created: i64,
    pub modified: i64,
}

const ABSENT: PersonRecord =
    PersonRecord { present: false, dept: None, email: EmailForm::Empty, created: 0, modified: 0 };

/// A person and their one to three records.
pub(crate) struct Person {
    pub index: u32,
    pub account: u32,
    /// The account's CRM: where the primary contact lives.
    pub crm: Crm,
    pub first: (&'static str, &'static str),
    pub last: (&'static str, &'static str),
    pub suffix: Option<&'static str>,
    /// The person's "true" department, used for the job title.
    pub dept: u8,
    pub title: u8,
    pub area: u16,
    pub line: u16,
    /// Index into [`vocab::SF_LEAD_SOURCES`].
    pub sf_lead_source: Option<u8>,
    pub marketo_lead_source: u8,
    pub lead_score: u16,
    pub unsubscribed: bool,
    /// Indexed by [`CONTACT`], [`LEAD`], [`OTHER_CONTACT`].
    pub records: [PersonRecord; 3],
}

impl Person {
    /// The job title for a record whose department is `dept`.
    pub(crate) fn title(&self, dept: Option<u8>) -> &'static str {
        let titles = vocab::TITLES[dept.unwrap_or(self.dept) as usize];
        titles[self.title as usize % titles.len()]
    }

    /// `LastName` as the systems store it: with a `, Jr.`-style suffix when there is one.
    pub(crate) fn write_last_name(&self, out: &mut String) {
        out.push_str(self.last.0);
        if let Some(suffix) = self.suffix {
            out.push_str(", ");
            out.push_str(suffix);
        }
    }

    /// Full name, `First Last[, Suffix]`.
    pub(crate) fn write_full_name(&self, out: &mut String) {
        out.push_str(self.first.0);
        out.push(' ');
        self.write_last_name(out);
    }

    /// The e-mail in the given spelling; nothing for [`EmailForm::Empty`].
    pub(crate) fn write_email(&self, out: &mut String, account: &Account, form: EmailForm) {
        let case = match form {
            EmailForm::Empty => return,
            EmailForm::Canonical | EmailForm::Padded => Case::Lower,
            EmailForm::Title | EmailForm::TitlePadded => Case::Title,
            EmailForm::Upper => Case::Upper,
        };
        match form {
            EmailForm::Padded => out.push_str("  "),
            EmailForm::TitlePadded => out.push(' '),
            _ => {}
        }
        push_cased(out, self.first.1, case);
        out.push('.');
        push_cased(out, self.last.1, case);
        // The person index makes the address unique across the whole population.
        let _ = std::fmt::Write::write_fmt(out, format_args!("{}@", self.index));
        account.write_domain(out, case);
        match form {
            EmailForm::Padded => out.push(' '),
            EmailForm::TitlePadded => out.push_str("  "),
            _ => {}
        }
    }
}

/// Picks a department by the weights of [`vocab::DEPARTMENTS`].
fn department(rng: &mut Rng) -> u8 {
    let mut r = rng.u32(0..100);
    for (i, (_, weight)) in vocab::DEPARTMENTS.iter().enumerate() {
        if r < *weight {
            return i as u8;
        }
        r -= weight;
    }
    0
}

/// A uniform index in `range`, drawn as `u32` so output does not depend on the pointer width.
pub(crate) fn uniform_index(rng: &mut Rng, range: std::ops::Range<usize>) -> usize {
    rng.u32(range.start as u32..range.end as u32) as usize
}

fn pick<T>(rng: &mut Rng, list: &[T]) -> u8 {
    rng.u8(0..list.len() as u8)
}

/// Derives person `index` from its own random stream.
pub(crate) fn person(seed: u64, index: u32, accounts: &[Account]) -> Person {
    let mut rng = Rng::with_seed(stream_seed(seed, STREAM_PERSON, u64::from(index)));
    let account = rng.u32(0..accounts.len() as u32);
    let crm = accounts[account as usize].crm;
    // 90% have a contact in their account's CRM; a third of those are also Marketo leads, and a
    // third of those again also sit, account-less, in the other CRM. The rest are Marketo-only.
    let has_contact = rng.u32(0..100) >= 10;
    let also_lead = has_contact && rng.u32(0..3) == 0;
    let also_other = also_lead && rng.u32(0..3) == 0;

    let first = match rng.u32(0..200) {
        0 => vocab::NICKNAMED[uniform_index(&mut rng, 0..vocab::NICKNAMED.len())],
        _ => vocab::FIRST_NAMES[uniform_index(&mut rng, 0..vocab::FIRST_NAMES.len())],
    };
    let last = vocab::LAST_NAMES[uniform_index(&mut rng, 0..vocab::LAST_NAMES.len())];
    let suffix = (rng.u32(0..50) == 0).then(|| vocab::SUFFIXES[uniform_index(&mut rng, 0..vocab::SUFFIXES.len())]);
    let dept = department(&mut rng);
    let maybe_empty = |rng: &mut Rng, dept: u8| (rng.u32(0..100) >= 5).then_some(dept);
    let email = |rng: &mut Rng, secondary: bool| {
        if rng.u32(0..100) < 2 {
            EmailForm::Empty
        } else if !secondary {
            EmailForm::Canonical
        } else {
            [EmailForm::Title, EmailForm::Upper, EmailForm::Padded, EmailForm::TitlePadded][uniform_index(rng, 0..4)]
        }
    };

    let mut records = [ABSENT; 3];
    let t0 = rng.i64(T2020..T2024_07);
    let primary_slot = if has_contact { CONTACT } else { LEAD };
    records[primary_slot] = PersonRecord {
        present: true,
        dept: maybe_empty(&mut rng, dept),
        email: email(&mut rng, false),
        created: created_before(&mut rng, t0),
        modified: t0,
    };
    for (slot, present) in [(LEAD, also_lead), (OTHER_CONTACT, also_other)] {
        if !present {
            continue;
        }
        // A quarter of secondary records moved on: another department, modified later.
        let changed = rng.u32(0..4) == 0;
        let (rec_dept, mut t) = if changed {
            let other = (dept + 1 + rng.u8(0..7)) % 8;
            (Some(other), t0 + rng.i64(3600..200 * DAY))
        } else {
            (maybe_empty(&mut rng, dept), t0 + rng.i64(-200 * DAY..200 * DAY))
        };
        // No two records of a person share a modification time: merges never tie.
        while records.iter().any(|r| r.present && r.modified == t) {
            t += 1;
        }
        records[slot] = PersonRecord {
            present: true,
            dept: rec_dept,
            email: email(&mut rng, true),
            created: created_before(&mut rng, t),
            modified: t,
        };
    }

    Person {
        index,
        account,
        crm,
        first,
        last,
        suffix,
        dept,
        title: rng.u8(0..60),
        area: rng.u16(201..990),
        line: rng.u16(100..200),
        sf_lead_source: (rng.u32(0..10) > 0).then(|| pick(&mut rng, vocab::SF_LEAD_SOURCES)),
        marketo_lead_source: pick(&mut rng, vocab::MARKETO_LEAD_SOURCES),
        lead_score: rng.u16(0..150),
        unsubscribed: rng.u32(0..100) < 5,
        records,
    }
}

/// A creation time up to about two years before `t`.
fn created_before(rng: &mut Rng, t: i64) -> i64 {
    (t - rng.i64(DAY..800 * DAY)).max(T2019 - 365 * DAY).min(t)
}

/// Everything but the persons, plus what the writers need to know in advance about them.
pub(crate) struct Population {
    pub seed: u64,
    pub persons: u32,
    pub accounts: Vec<Account>,
    pub opportunities: Vec<Opportunity>,
    pub roles: Vec<ContactRole>,
    /// Rows each person file will get: Salesforce contacts, Dynamics contacts, Marketo leads.
    pub sf_contacts: u64,
    pub dyn_contacts: u64,
    pub leads: u64,
}

impl Population {
    /// Builds accounts and opportunities, counts person records, then draws contact roles.
    pub(crate) fn build(seed: u64, persons: u32) -> Population {
        let mut rng = Rng::with_seed(stream_seed(seed, STREAM_MASTER, 0));
        let n_accounts = if persons == 0 { 0 } else { (persons / 10).max(1) };
        let accounts = accounts(&mut rng, n_accounts);
        let opportunities =
            if accounts.is_empty() { Vec::new() } else { opportunities(&mut rng, &accounts, persons / 5) };

        // Pass over persons: row counts per file, and each account's primary contacts.
        let (mut sf_contacts, mut dyn_contacts, mut leads) = (0, 0, 0);
        let mut contact_accounts: Vec<(u32, u32)> = Vec::new();
        for j in 0..persons {
            let p = person(seed, j, &accounts);
            let (own, other) = match p.crm {
                Crm::Salesforce => (&mut sf_contacts, &mut dyn_contacts),
                Crm::Dynamics => (&mut dyn_contacts, &mut sf_contacts),
            };
            *own += u64::from(p.records[CONTACT].present);
            *other += u64::from(p.records[OTHER_CONTACT].present);
            leads += u64::from(p.records[LEAD].present);
            if p.records[CONTACT].present {
                contact_accounts.push((p.account, j));
            }
        }
        contact_accounts.sort_unstable();
        let mut offsets = vec![0usize; accounts.len() + 1];
        for (account, _) in &contact_accounts {
            offsets[*account as usize + 1] += 1;
        }
        for i in 0..accounts.len() {
            offsets[i + 1] += offsets[i];
        }
        let contacts_of = |account: u32| &contact_accounts[offsets[account as usize]..offsets[account as usize + 1]];
        let roles = roles(&mut rng, &opportunities, contacts_of);
        Population { seed, persons, accounts, opportunities, roles, sf_contacts, dyn_contacts, leads }
    }

    /// Number of accounts in one CRM.
    pub(crate) fn account_count(&self, crm: Crm) -> u64 {
        self.accounts.iter().filter(|a| a.crm == crm).count() as u64
    }

    /// Number of opportunities in one CRM.
    pub(crate) fn opportunity_count(&self, crm: Crm) -> u64 {
        self.opportunities.iter().filter(|o| self.accounts[o.account as usize].crm == crm).count() as u64
    }

    /// Number of contact roles in one CRM.
    pub(crate) fn role_count(&self, crm: Crm) -> u64 {
        self.roles.iter().filter(|r| self.opp_crm(r.opportunity) == crm).count() as u64
    }

    /// The CRM of an opportunity.
    pub(crate) fn opp_crm(&self, opportunity: u32) -> Crm {
        self.accounts[self.opportunities[opportunity as usize].account as usize].crm
    }
}

fn accounts(rng: &mut Rng, n: u32) -> Vec<Account> {
    let mut out: Vec<Account> = Vec::with_capacity(n as usize);
    let mut last_of: [Option<u32>; 2] = [None, None];
    for i in 0..n {
        let crm = if rng.u32(0..10) < 7 { Crm::Salesforce } else { Crm::Dynamics };
        let created = rng.i64(T2019..T2024_07 - 90 * DAY);
        let modified = rng.i64(created + DAY..T2024_07 + 90 * DAY);
        // Some accounts are subsidiaries of an earlier account of the same CRM.
        let slot = usize::from(crm == Crm::Dynamics);
        let parent = match last_of[slot] {
            Some(last) if rng.u32(0..100) < 8 => {
                let candidate = rng.u32(0..=last);
                (out[candidate as usize].crm == crm).then_some(candidate)
            }
            _ => None,
        };
        last_of[slot] = Some(i);
        out.push(Account {
            crm,
            stem: pick(rng, vocab::COMPANY_STEMS),
            word: (rng.u32(0..5) > 0).then(|| pick(rng, vocab::COMPANY_WORDS)),
            legal: pick(rng, vocab::LEGAL_FORMS),
            city: pick(rng, vocab::CITIES),
            industry: (rng.u32(0..20) > 0).then(|| pick(rng, vocab::INDUSTRIES)),
            kind: pick(rng, vocab::ACCOUNT_TYPES),
            revenue: (rng.u32(0..10) > 0).then(|| rng.u64(5..50_000) * 10_000),
            employees: (rng.u32(0..10) > 0).then(|| rng.u32(5..100_000)),
            parent,
            created,
            modified,
        });
    }
    out
}

fn opportunities(rng: &mut Rng, accounts: &[Account], n: u32) -> Vec<Opportunity> {
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        // Squaring a uniform draw skews towards low account indexes: a few accounts carry many
        // opportunities, and many (mostly high indexes) carry none.
        let u = rng.f64();
        let account = ((u * u * accounts.len() as f64) as u32).min(accounts.len() as u32 - 1);
        let acc = &accounts[account as usize];
        let state = match rng.u32(0..100) {
            0..40 => OppState::Open(pick(rng, vocab::OPEN_STAGES)),
            40..67 => OppState::Won,
            _ => OppState::Lost,
        };
        let created = rng.i64(acc.created..T2024_07);
        let modified = created + rng.i64(3600..300 * DAY);
        let close = match state {
            OppState::Open(_) => created + rng.i64(30 * DAY..400 * DAY),
            _ => modified,
        };
        out.push(Opportunity {
            account,
            state,
            amount: u64::from(rng.u32(50..5_000)) * 100,
            currency: pick(rng, vocab::CURRENCIES),
            close,
            created,
            modified,
            kind: pick(rng, vocab::OPPORTUNITY_TYPES),
            lead_source: (rng.u32(0..4) > 0).then(|| pick(rng, vocab::SF_LEAD_SOURCES)),
            product: pick(rng, vocab::PRODUCTS),
        });
    }
    out
}

fn roles<'a>(
    rng: &mut Rng,
    opportunities: &[Opportunity],
    contacts_of: impl Fn(u32) -> &'a [(u32, u32)],
) -> Vec<ContactRole> {
    let mut out = Vec::new();
    let mut chosen: Vec<u32> = Vec::with_capacity(3);
    for (k, opp) in opportunities.iter().enumerate() {
        let contacts = contacts_of(opp.account);
        let wanted = match rng.u32(0..100) {
            0..30 => 0,
            30..65 => 1,
            65..87 => 2,
            _ => 3,
        }
        .min(contacts.len());
        chosen.clear();
        while chosen.len() < wanted {
            let person = contacts[uniform_index(rng, 0..contacts.len())].1;
            if !chosen.contains(&person) {
                chosen.push(person);
            }
        }
        for (i, person) in chosen.iter().enumerate() {
            let created = opp.created + rng.i64(0..30 * DAY);
            out.push(ContactRole {
                opportunity: k as u32,
                person: *person,
                role: pick(rng, vocab::SF_ROLES),
                primary: i == 0,
                created,
                modified: created + rng.i64(0..60 * DAY),
            });
        }
    }
    out
}
