//! The identity-edge workload for stitching benchmarks (issue 5): pairs of identities seen together.
//!
//! For N persons, person `i` contributes, in this order:
//! - `Email:person{i}@bodea.example` ↔ `b2b_person:{crm id}@{org}.Salesforce` (every person);
//! - the CRM id ↔ `b2b_person:{i}@{munchkin}.Marketo` (every other person, so half);
//! - 1 to 3 cookies `ECID:{38 digits}`, each linked to the email or the CRM id;
//! - with probability 1/100, a cross-link from its email to the CRM id of another random person.
//!
//! That is 1 + 0.5 + 2 + 0.01 ≈ 3.5 edges a person. Output is a pure function of `(persons, seed)`. The file is
//! CSV with a header `a,b`; values hold no comma, quote or line break, so plain `split(',')` reads it too.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::{Error, Result, MARKETO_MUNCHKIN_ID, SALESFORCE_ORG_ID};

/// What [`write_edges`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgesReport {
    /// Persons generated.
    pub persons: u64,
    /// Edges written (header excluded).
    pub edges: u64,
    /// The seed.
    pub seed: u64,
}

fn crm_id(i: u64) -> String {
    format!("b2b_person:003{i:015}@{SALESFORCE_ORG_ID}.Salesforce")
}

/// Every edge of the workload, in file order.
pub fn edges(persons: u64, seed: u64) -> impl Iterator<Item = (String, String)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..persons).flat_map(move |i| {
        let email = format!("Email:person{i}@bodea.example");
        let crm = crm_id(i);
        let mut out = vec![(email.clone(), crm.clone())];
        if i % 2 == 0 {
            out.push((crm.clone(), format!("b2b_person:{i}@{MARKETO_MUNCHKIN_ID}.Marketo")));
        }
        for _ in 0..rng.u32(1..=3) {
            let cookie = format!("ECID:{:019}{:019}", rng.u64(..10_000_000_000_000_000_000), rng.u64(..10_u64.pow(19)));
            let anchor = if rng.bool() { email.clone() } else { crm.clone() };
            out.push((cookie, anchor));
        }
        if persons > 1 && rng.u32(..100) == 0 {
            let mut other = rng.u64(..persons);
            if other == i {
                other = (i + 1) % persons;
            }
            out.push((email, crm_id(other)));
        }
        out
    })
}

/// Writes the workload as CSV (`a,b`, one edge a line) to `out`, creating parent folders.
pub fn write_edges(out: &Path, persons: u64, seed: u64) -> Result<EdgesReport> {
    let io = |source| Error::Io { path: out.to_owned(), source };
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_owned(), source })?;
    }
    let mut writer = BufWriter::new(File::create(out).map_err(io)?);
    writeln!(writer, "a,b").map_err(io)?;
    let mut count = 0;
    for (a, b) in edges(persons, seed) {
        writeln!(writer, "{a},{b}").map_err(io)?;
        count += 1;
    }
    writer.flush().map_err(io)?;
    Ok(EdgesReport { persons, edges: count, seed })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn deterministic_per_seed() {
        let a: Vec<_> = edges(500, 7).collect();
        assert_eq!(a, edges(500, 7).collect::<Vec<_>>());
        assert_ne!(a, edges(500, 8).collect::<Vec<_>>());
    }

    #[test]
    fn about_three_and_a_half_edges_a_person() {
        let n = 20_000;
        let all: Vec<_> = edges(n, 42).collect();
        let per_person = all.len() as f64 / n as f64;
        assert!((3.4..3.6).contains(&per_person), "{per_person} edges a person");
        let email_crm = all.iter().filter(|(a, b)| a.starts_with("Email:") && b.starts_with("b2b_person:003")).count();
        let marketo = all.iter().filter(|(_, b)| b.ends_with(".Marketo")).count();
        // Every person has its email ↔ CRM edge, cross-links add about 1%.
        assert!(email_crm as u64 >= n && (email_crm as u64) < n + n / 50, "{email_crm}");
        assert_eq!(marketo as u64, n / 2);
        let mut cookies: HashMap<&str, usize> = HashMap::new();
        for (a, _) in all.iter().filter(|(a, _)| a.starts_with("ECID:")) {
            *cookies.entry(a).or_default() += 1;
        }
        assert!(cookies.values().all(|&c| c == 1), "a cookie belongs to one person");
    }

    #[test]
    fn writes_csv_with_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/edges.csv");
        let report = write_edges(&path, 10, 1).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "a,b");
        assert_eq!(lines.len() as u64, report.edges + 1);
        assert!(lines[1..].iter().all(|l| l.split(',').count() == 2 && l.split(',').all(|v| v.contains(':'))));
    }
}
