//! Activation: destinations, activation flows, what each destination holds, delivery history, field labels.
//!
//! - `destinations`: a name, a type and its settings (JSON, secrets included: the data directory is the
//!   secret store; callers redact before display).
//! - `activation_flows`: a name, its destination and its definition (JSON the engine owns).
//! - `activation_state`: per (flow, audience, member), the fingerprint of what was last accepted and the
//!   destination's reference for the member (a Marketo lead id, a hashed email). A run sends only the members
//!   whose fingerprint differs or who are no longer wanted; each accepted batch updates the state in one
//!   transaction, so a crash mid-run resumes from what was accepted. Streaming destinations (Marketo,
//!   LinkedIn, webhooks) keep this per-member state: each answered batch records its members and their
//!   destination references.
//! - `activation_file_state`: per (flow, audience) of a file destination, one BLOB holding every member the
//!   files hold (named by a 16-byte digest of its key) with the hash of its last written row ([`HeldRows`]).
//!   A million members are 24 MB written in one statement, in the transaction that ends the run
//!   ([`Store::end_activation_run_holding`]), where a million rows of `activation_state` took seconds. A data directory from before keeps its per-member rows
//!   until the flow's next run, which reads them ([`Store::held_rows`]) and replaces them by the BLOB.
//! - `activation_targets`: per (flow, audience), the destination's container (a static list, a DMP segment).
//! - `activation_runs`: one row per run of a flow with its delivery report (JSON), kept as history.
//! - `field_labels`: data-usage labels on field paths (`C2`, `C4`, `C12`, …), checked at flow creation.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{now, Error, Result, Store};

/// A stored destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredDestination {
    /// Its name.
    pub name: String,
    /// Its type (`file`, `marketo`, `linkedin`, `webhook`).
    pub kind: String,
    /// Its settings as JSON (secrets included).
    pub config: String,
    /// Creation time.
    pub created_at: String,
}

/// A stored activation flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredActivationFlow {
    /// Its name.
    pub name: String,
    /// Its destination.
    pub destination: String,
    /// Its definition as JSON.
    pub definition: String,
    /// Creation time.
    pub created_at: String,
}

/// What a destination holds for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMember {
    /// The fingerprint of the payload last accepted.
    pub fingerprint: String,
    /// The destination's reference for the member, if any.
    pub remote: Option<String>,
}

/// One accepted change, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The destination now holds the member with this payload.
    Held {
        /// The member.
        member: String,
        /// The payload's fingerprint.
        fingerprint: String,
        /// The destination's reference.
        remote: Option<String>,
    },
    /// The destination no longer holds the member.
    Removed {
        /// The member.
        member: String,
    },
}

/// What a file destination holds for one (flow, audience): every member, named by the digest of its key (the
/// primary identity, `namespace:value`, see [`HeldRows::digest`]), with the hash of the row last written for
/// it; sorted by digest, without duplicates. The keys themselves are kept only when asked for (a flow whose
/// files list left members as `exited` rows needs them; others need only to recognise a member): a million
/// keys of a hundred bytes would be a hundred megabytes written at every run, their digests are sixteen.
///
/// Encoded as one BLOB: a format byte (`2`), the number of members (u64, little-endian), a flags byte (`1`:
/// keys kept, `0`: not), then for each member in digest order its digest (16 bytes, big-endian) and its row
/// hash (u64 LE); then, when the keys are kept, for each member in the same order the byte length of its key
/// (u32 LE) and the key (UTF-8). The format `1` of earlier versions (keys in key order, each with its row hash)
/// is still read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldRows {
    /// (digest, row hash), strictly increasing by digest.
    rows: Vec<(u128, u64)>,
    /// The key of each row, in the same order; empty when the keys are not kept.
    members: Vec<String>,
}

/// The format byte of [`HeldRows`] BLOBs written now, and the one of earlier versions.
const HELD_ROWS_FORMAT: u8 = 2;
const HELD_ROWS_FORMAT_KEYS: u8 = 1;

impl HeldRows {
    /// The digest naming a member: the first 16 bytes of the SHA-256 of its key, read big-endian (so that
    /// digest order is the order of the digest bytes). Collision-resistant: two members never share one.
    /// (Streaming destinations' payload fingerprints are the same digest of the payload's bytes, in hex.)
    pub fn digest(member: impl AsRef<[u8]>) -> u128 {
        let hash = Sha256::digest(member.as_ref());
        u128::from_be_bytes(hash[..16].try_into().expect("16 bytes"))
    }

    /// The held rows of `rows` (digest, row hash), in any order; without keys.
    ///
    /// # Panics
    /// When two rows share a digest (a caller's bug: members are unique, and digests do not collide).
    pub fn from_digests(mut rows: Vec<(u128, u64)>) -> Self {
        rows.sort_unstable_by_key(|r| r.0);
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "held rows must not hold a member twice");
        Self { rows, members: Vec::new() }
    }

    /// The held rows of `rows` (member key, row hash), in any order, keeping the keys.
    ///
    /// # Panics
    /// When a member appears twice.
    pub fn with_members(rows: Vec<(String, u64)>) -> Self {
        let mut rows: Vec<(u128, String, u64)> =
            rows.into_iter().map(|(member, hash)| (Self::digest(&member), member, hash)).collect();
        rows.sort_unstable_by_key(|r| r.0);
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "held rows must not hold a member twice");
        let (rows, members) = rows.into_iter().map(|(digest, member, hash)| ((digest, hash), member)).unzip();
        Self { rows, members }
    }

    /// The held rows of `rows` (digest, row hash), sorted by digest, with the key of each in `members` (in the
    /// same order).
    ///
    /// # Panics
    /// When the rows are not strictly increasing by digest, or the keys are not as many as the rows.
    pub fn with_sorted_members(rows: Vec<(u128, u64)>, members: Vec<String>) -> Self {
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "held rows are sorted and hold no member twice");
        assert_eq!(rows.len(), members.len(), "a key per held row");
        debug_assert!(rows.iter().zip(&members).all(|(r, m)| r.0 == Self::digest(m)), "each key has its digest");
        Self { rows, members }
    }

    /// Every (digest, row hash), sorted by digest.
    pub fn rows(&self) -> &[(u128, u64)] {
        &self.rows
    }

    /// The key of row `i`, when the keys are kept.
    pub fn member(&self, i: usize) -> Option<&str> {
        self.members.get(i).map(String::as_str)
    }

    /// How many members are held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The BLOB form (see the type's docs).
    pub fn encode(&self) -> Vec<u8> {
        let keys: usize = self.members.iter().map(|m| 4 + m.len()).sum();
        let mut out = Vec::with_capacity(10 + self.rows.len() * 24 + keys);
        out.push(HELD_ROWS_FORMAT);
        out.extend_from_slice(&(self.rows.len() as u64).to_le_bytes());
        out.push(u8::from(!self.members.is_empty()));
        for (digest, hash) in &self.rows {
            out.extend_from_slice(&digest.to_be_bytes());
            out.extend_from_slice(&hash.to_le_bytes());
        }
        for member in &self.members {
            out.extend_from_slice(&u32::try_from(member.len()).expect("a member key under 4 GiB").to_le_bytes());
            out.extend_from_slice(member.as_bytes());
        }
        out
    }

    /// Reads the BLOB form back (this format or the earlier one), checking its format, bounds, UTF-8, order
    /// and that each kept key has its digest.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("activation file state: {what}"));
        let (&format, mut rest) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
        let mut take = |n: usize| -> Result<&[u8]> {
            if rest.len() < n {
                return Err(corrupt("truncated"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
        // Each entry takes at least 12 bytes: a count beyond that is a corrupt header, not an allocation to try.
        let count = usize::try_from(count).ok().filter(|&c| c <= bytes.len() / 12).ok_or_else(|| corrupt("count"))?;
        let held = match format {
            HELD_ROWS_FORMAT => {
                let keys = match take(1)?[0] {
                    0 => false,
                    1 => true,
                    other => return Err(corrupt(&format!("unknown flags {other}"))),
                };
                let mut rows = Vec::with_capacity(count);
                for _ in 0..count {
                    let digest = u128::from_be_bytes(take(16)?.try_into().expect("16 bytes"));
                    let hash = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
                    if rows.last().is_some_and(|&(last, _)| last >= digest) {
                        return Err(corrupt("members out of order"));
                    }
                    rows.push((digest, hash));
                }
                let mut members = Vec::with_capacity(if keys { count } else { 0 });
                for &(digest, _) in rows.iter().take(if keys { count } else { 0 }) {
                    let member = read_key(&mut take)?;
                    if Self::digest(member) != digest {
                        return Err(corrupt("a key does not match its digest"));
                    }
                    members.push(member.to_owned());
                }
                Self { rows, members }
            }
            HELD_ROWS_FORMAT_KEYS => {
                let mut rows: Vec<(String, u64)> = Vec::with_capacity(count);
                for _ in 0..count {
                    let hash = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
                    let member = read_key(&mut take)?;
                    if rows.last().is_some_and(|(last, _)| last.as_str() >= member) {
                        return Err(corrupt("members out of order"));
                    }
                    rows.push((member.to_owned(), hash));
                }
                Self::with_members(rows)
            }
            other => return Err(corrupt(&format!("unknown format {other}"))),
        };
        if !rest.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(held)
    }
}

/// Reads one key (u32 LE length, then UTF-8) of a [`HeldRows`] BLOB through `take`.
fn read_key<'b>(take: &mut impl FnMut(usize) -> Result<&'b [u8]>) -> Result<&'b str> {
    let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
    std::str::from_utf8(take(len)?).map_err(|_| Error::Corrupt("activation file state: member is not UTF-8".into()))
}

/// A stored run of an activation flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredActivationRun {
    /// The run id.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// `running`, `success`, `partial` (some audience failed) or `failed`.
    pub state: String,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub ended_at: Option<String>,
    /// The delivery report (JSON).
    pub report: String,
}

impl Store {
    /// Saves a new destination.
    pub fn create_destination(&mut self, name: &str, kind: &str, config: &str) -> Result<StoredDestination> {
        let created_at = now();
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO destinations (name, kind, config, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, kind, config, created_at],
        )?;
        if inserted == 0 {
            return Err(Error::AlreadyExists { kind: "destination", name: name.to_owned() });
        }
        Ok(StoredDestination { name: name.to_owned(), kind: kind.to_owned(), config: config.to_owned(), created_at })
    }

    /// The destination with this name.
    pub fn destination(&self, name: &str) -> Result<StoredDestination> {
        self.conn
            .query_row(
                "SELECT name, kind, config, created_at FROM destinations WHERE name = ?1",
                [name],
                destination_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "destination", name: name.to_owned() })
    }

    /// Every destination, by name.
    pub fn destinations(&self) -> Result<Vec<StoredDestination>> {
        let mut stmt = self.conn.prepare("SELECT name, kind, config, created_at FROM destinations ORDER BY name")?;
        let rows = stmt.query_map([], destination_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Saves a new activation flow (its destination must exist).
    pub fn create_activation_flow(
        &mut self,
        name: &str,
        destination: &str,
        definition: &str,
    ) -> Result<StoredActivationFlow> {
        self.destination(destination)?;
        let created_at = now();
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO activation_flows (name, destination, definition, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, destination, definition, created_at],
        )?;
        if inserted == 0 {
            return Err(Error::AlreadyExists { kind: "activation flow", name: name.to_owned() });
        }
        Ok(StoredActivationFlow {
            name: name.to_owned(),
            destination: destination.to_owned(),
            definition: definition.to_owned(),
            created_at,
        })
    }

    /// The activation flow with this name.
    pub fn activation_flow(&self, name: &str) -> Result<StoredActivationFlow> {
        self.conn
            .query_row(
                "SELECT name, destination, definition, created_at FROM activation_flows WHERE name = ?1",
                [name],
                flow_row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound { kind: "activation flow", name: name.to_owned() })
    }

    /// Every activation flow, by name.
    pub fn activation_flows(&self) -> Result<Vec<StoredActivationFlow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, destination, definition, created_at FROM activation_flows ORDER BY name")?;
        let rows = stmt.query_map([], flow_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// What the destination of `flow` holds for `audience`, by member.
    pub fn held_members(&self, flow: &str, audience: &str) -> Result<HashMap<String, HeldMember>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT member, fingerprint, remote FROM activation_state WHERE flow = ?1 AND audience = ?2",
        )?;
        let rows = stmt.query_map([flow, audience], |row| {
            Ok((row.get::<_, String>(0)?, HeldMember { fingerprint: row.get(1)?, remote: row.get(2)? }))
        })?;
        Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
    }

    /// Records accepted changes in one transaction.
    pub fn record_accepted(&mut self, flow: &str, audience: &str, accepted: &[Accepted]) -> Result<()> {
        let at = now();
        let tx = self.conn.transaction()?;
        {
            let mut held = tx.prepare_cached(
                "INSERT INTO activation_state (flow, audience, member, fingerprint, remote, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (flow, audience, member)
                 DO UPDATE SET fingerprint = excluded.fingerprint, remote = excluded.remote, sent_at = excluded.sent_at",
            )?;
            let mut removed =
                tx.prepare_cached("DELETE FROM activation_state WHERE flow = ?1 AND audience = ?2 AND member = ?3")?;
            for change in accepted {
                match change {
                    Accepted::Held { member, fingerprint, remote } => {
                        held.execute(params![flow, audience, member, fingerprint, remote, at])?;
                    }
                    Accepted::Removed { member } => {
                        removed.execute(params![flow, audience, member])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// What the file destination of `flow` holds for `audience`: the recorded BLOB; for a flow last run before
    /// the BLOB existed, its per-member rows, each with row hash 0 (their SHA-256 fingerprints are not row
    /// hashes), so that the next run writes every held member once more as changed and lists the left ones.
    pub fn held_rows(&self, flow: &str, audience: &str) -> Result<HeldRows> {
        let blob: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT state FROM activation_file_state WHERE flow = ?1 AND audience = ?2")?
            .query_row([flow, audience], |row| row.get(0))
            .optional()?;
        if let Some(blob) = blob {
            return HeldRows::decode(&blob);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT member FROM activation_state WHERE flow = ?1 AND audience = ?2 ORDER BY member")?;
        let rows = stmt.query_map([flow, audience], |row| Ok((row.get::<_, String>(0)?, 0)))?;
        Ok(HeldRows::with_members(rows.collect::<Result<Vec<_>, _>>()?))
    }

    /// Ends run `run` of `flow` with its state and report and, in the same transaction, records what its file
    /// destination now holds for each audience in `held` (replacing the per-member rows of a flow last run
    /// before the BLOB existed). The caller writes and renames the files first: a crash before this commit
    /// leaves the run `running` and the previous state, so the next run writes the same changes again.
    pub fn end_activation_run_holding(
        &mut self,
        run: i64,
        state: &str,
        report: &str,
        flow: &str,
        held: &[(String, HeldRows)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO activation_file_state (flow, audience, run, members, state) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (flow, audience) DO UPDATE SET run = excluded.run, members = excluded.members,
                     state = excluded.state",
            )?;
            let mut legacy = tx.prepare_cached("DELETE FROM activation_state WHERE flow = ?1 AND audience = ?2")?;
            for (audience, rows) in held {
                put.execute(params![flow, audience, run, rows.len() as i64, rows.encode()])?;
                legacy.execute(params![flow, audience])?;
            }
        }
        tx.execute(
            "UPDATE activation_runs SET state = ?2, ended_at = ?3, report = ?4 WHERE id = ?1",
            params![run, state, now(), report],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The destination's container for `audience` in `flow`, if one was recorded.
    pub fn activation_target(&self, flow: &str, audience: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT remote FROM activation_targets WHERE flow = ?1 AND audience = ?2",
                [flow, audience],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Records the destination's container for `audience` in `flow`.
    pub fn set_activation_target(&mut self, flow: &str, audience: &str, remote: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO activation_targets (flow, audience, remote) VALUES (?1, ?2, ?3)
             ON CONFLICT (flow, audience) DO UPDATE SET remote = excluded.remote",
            params![flow, audience, remote],
        )?;
        Ok(())
    }

    /// Starts a run of `flow`.
    pub fn start_activation_run(&mut self, flow: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO activation_runs (flow, state, started_at, report) VALUES (?1, 'running', ?2, '{}')",
            params![flow, now()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a run with its state and report.
    pub fn end_activation_run(&mut self, run: i64, state: &str, report: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE activation_runs SET state = ?2, ended_at = ?3, report = ?4 WHERE id = ?1",
            params![run, state, now(), report],
        )?;
        Ok(())
    }

    /// The runs of `flow`, oldest first.
    pub fn activation_runs(&self, flow: &str) -> Result<Vec<StoredActivationRun>> {
        self.activation_flow(flow)?;
        let mut stmt = self.conn.prepare(
            "SELECT id, flow, state, started_at, ended_at, report FROM activation_runs WHERE flow = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([flow], |row| {
            Ok(StoredActivationRun {
                id: row.get(0)?,
                flow: row.get(1)?,
                state: row.get(2)?,
                started_at: row.get(3)?,
                ended_at: row.get(4)?,
                report: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The reports of the runs of every flow to `destination` started on or after `since` (RFC 3339).
    pub fn destination_reports_since(&self, destination: &str, since: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.report FROM activation_runs r JOIN activation_flows f ON f.name = r.flow
             WHERE f.destination = ?1 AND r.started_at >= ?2 ORDER BY r.id",
        )?;
        let rows = stmt.query_map([destination, since], |row| row.get(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Puts a data-usage label on a field path (idempotent).
    pub fn add_field_label(&mut self, path: &str, label: &str) -> Result<()> {
        self.conn.execute("INSERT OR IGNORE INTO field_labels (path, label) VALUES (?1, ?2)", params![path, label])?;
        Ok(())
    }

    /// Every (field path, label), sorted.
    pub fn field_labels(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare("SELECT path, label FROM field_labels ORDER BY path, label")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn destination_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredDestination> {
    Ok(StoredDestination { name: row.get(0)?, kind: row.get(1)?, config: row.get(2)?, created_at: row.get(3)? })
}

fn flow_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredActivationFlow> {
    Ok(StoredActivationFlow {
        name: row.get(0)?,
        destination: row.get(1)?,
        definition: row.get(2)?,
        created_at: row.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::store;

    #[test]
    fn state_follows_accepted_changes() {
        let (_dir, mut store) = store();
        store.create_destination("d", "webhook", "{}").unwrap();
        assert!(matches!(store.create_destination("d", "webhook", "{}"), Err(Error::AlreadyExists { .. })));
        assert!(matches!(store.create_activation_flow("f", "nope", "{}"), Err(Error::NotFound { .. })));
        store.create_activation_flow("f", "d", "{}").unwrap();
        let held = |m: &str, f: &str| Accepted::Held { member: m.into(), fingerprint: f.into(), remote: None };
        store.record_accepted("f", "a", &[held("p1", "x"), held("p2", "y")]).unwrap();
        store.record_accepted("f", "a", &[held("p2", "z"), Accepted::Removed { member: "p1".into() }]).unwrap();
        let state = store.held_members("f", "a").unwrap();
        assert_eq!(state.len(), 1);
        assert_eq!(state["p2"], HeldMember { fingerprint: "z".into(), remote: None });
        assert!(store.held_members("f", "other").unwrap().is_empty());

        let run = store.start_activation_run("f").unwrap();
        store.end_activation_run(run, "success", r#"{"sent":2}"#).unwrap();
        let runs = store.activation_runs("f").unwrap();
        assert_eq!((runs.len(), runs[0].state.as_str(), runs[0].report.as_str()), (1, "success", r#"{"sent":2}"#));
        assert_eq!(store.destination_reports_since("d", "2000-01-01").unwrap(), [r#"{"sent":2}"#]);
        assert!(store.destination_reports_since("d", "2999-01-01").unwrap().is_empty());
    }

    /// The digest bytes of a key, computed here with SHA-256 directly.
    fn sha_prefix(key: &str) -> [u8; 16] {
        Sha256::digest(key.as_bytes())[..16].try_into().unwrap()
    }

    #[test]
    fn member_digests_are_the_sha256_prefix() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2 vector).
        assert_eq!(HeldRows::digest("abc"), 0xba7816bf8f01cfea414140de5dae2223);
    }

    #[test]
    fn held_rows_encode_to_the_documented_bytes_and_back() {
        let (a, bc) = (HeldRows::digest("E:a"), HeldRows::digest("E:bc"));
        // Without keys: digest order, whatever the order given.
        let rows = HeldRows::from_digests(vec![(a, 0x0102), (bc, u64::MAX)]);
        let mut ordered = [("E:a", 0x0102u64), ("E:bc", u64::MAX)];
        ordered.sort_by_key(|(k, _)| sha_prefix(k));
        let mut expected = vec![2u8, 2, 0, 0, 0, 0, 0, 0, 0, 0];
        for (key, hash) in ordered {
            expected.extend(sha_prefix(key));
            expected.extend(hash.to_le_bytes());
        }
        assert_eq!(rows.encode(), expected);
        assert_eq!(HeldRows::decode(&expected).unwrap(), rows);
        assert_eq!(HeldRows::decode(&expected).unwrap().member(0), None);
        // With keys: the same rows, flag 1, then each key after its length.
        let kept = HeldRows::with_members(vec![("E:bc".into(), u64::MAX), ("E:a".into(), 0x0102)]);
        expected[9] = 1;
        for (key, _) in ordered {
            expected.extend((key.len() as u32).to_le_bytes());
            expected.extend(key.as_bytes());
        }
        assert_eq!(kept.encode(), expected);
        let back = HeldRows::decode(&expected).unwrap();
        assert_eq!(back, kept);
        let at_a = usize::from(ordered[0].0 != "E:a");
        assert_eq!((back.member(at_a), back.rows()[at_a]), (Some("E:a"), (a, 0x0102)));
        assert_eq!(HeldRows::decode(&HeldRows::default().encode()).unwrap(), HeldRows::default());
    }

    #[test]
    fn the_earlier_format_with_keys_in_key_order_is_read() {
        let mut old = vec![1u8, 2, 0, 0, 0, 0, 0, 0, 0];
        old.extend([2, 1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]);
        old.extend(b"E:a");
        old.extend([0xff; 8]);
        old.extend([4, 0, 0, 0]);
        old.extend(b"E:bc");
        let read = HeldRows::decode(&old).unwrap();
        assert_eq!(read, HeldRows::with_members(vec![("E:a".into(), 0x0102), ("E:bc".into(), u64::MAX)]));
        // Members out of order in the earlier format.
        let mut swapped = vec![1u8, 2, 0, 0, 0, 0, 0, 0, 0];
        swapped.extend([0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]);
        swapped.extend(b"E:b");
        swapped.extend([0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]);
        swapped.extend(b"E:a");
        assert!(matches!(HeldRows::decode(&swapped), Err(Error::Corrupt(_))));
    }

    #[test]
    fn corrupt_held_rows_are_refused() {
        let good = HeldRows::with_members(vec![("E:a".into(), 1), ("E:b".into(), 2)]).encode();
        let mut wrong_key = good.clone();
        let last = wrong_key.len() - 1;
        wrong_key[last] = b'c';
        let mut flags = good.clone();
        flags[9] = 7;
        for bad in [
            &[][..],
            &[3u8, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &good[..good.len() - 1],
            &[good.as_slice(), &[0]].concat()[..],
            // A count far beyond the bytes.
            &[2u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0][..],
            &wrong_key[..],
            &flags[..],
        ] {
            assert!(matches!(HeldRows::decode(bad), Err(Error::Corrupt(_))), "{bad:?}");
        }
        // Digests out of order.
        let rows = HeldRows::from_digests(vec![(1, 1), (2, 2)]);
        let mut swapped = rows.encode();
        let (first, second) = (swapped[10..34].to_vec(), swapped[34..58].to_vec());
        swapped[10..34].copy_from_slice(&second);
        swapped[34..58].copy_from_slice(&first);
        assert!(matches!(HeldRows::decode(&swapped), Err(Error::Corrupt(_))));
    }

    #[test]
    fn file_state_commits_with_the_run_and_replaces_per_member_rows() {
        let (_dir, mut store) = store();
        store.create_destination("d", "file", "{}").unwrap();
        store.create_activation_flow("f", "d", "{}").unwrap();
        // A flow last run before the BLOB: its per-member rows are read with row hash 0.
        let held = |m: &str| Accepted::Held { member: m.into(), fingerprint: "x".into(), remote: None };
        store.record_accepted("f", "a", &[held("E:b"), held("E:a")]).unwrap();
        let legacy = store.held_rows("f", "a").unwrap();
        assert_eq!(legacy, HeldRows::with_members(vec![("E:a".into(), 0), ("E:b".into(), 0)]));

        let run = store.start_activation_run("f").unwrap();
        let rows = HeldRows::from_digests(vec![(HeldRows::digest("E:b"), 7), (HeldRows::digest("E:c"), 8)]);
        store.end_activation_run_holding(run, "success", "{}", "f", &[("a".into(), rows.clone())]).unwrap();
        assert_eq!(store.held_rows("f", "a").unwrap(), rows);
        assert!(store.held_members("f", "a").unwrap().is_empty(), "the per-member rows are gone");
        assert_eq!(store.activation_runs("f").unwrap()[0].state, "success");
        assert!(store.held_rows("f", "other").unwrap().is_empty());
    }
}
