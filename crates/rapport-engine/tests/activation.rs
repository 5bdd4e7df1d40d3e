//! Activation flows end to end on a real store: incremental files after churn (replaying them reproduces the
//! audience, also through an SFTP server that drops a connection), consent per marketing action, labels refused at flow creation, and a streaming destination that
//! fails mid-run (dropped answer, 429 storm, 500s) and recovers holding exactly the audience while another
//! destination in the same run is unaffected.

#![allow(clippy::unwrap_used)]

#[path = "../../rapport-destinations/tests/fake/mod.rs"]
mod fake;
#[path = "../../rapport-destinations/tests/support/sftp_server.rs"]
mod sftp_server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use fake::Fault;
use rapport_destinations::config::{MarketoConfig, PersonAction, SyncType, WebhookConfig};
use rapport_destinations::file::ExportMode;
use rapport_destinations::sftp::SftpConfig;
use rapport_destinations::{DestinationConfig, FileConfig, RetryPolicy, Secret};
use rapport_engine::{ActivationFlowDef, AttributeMapping, Engine, Quiet, RunOptions, Schedule};
use rapport_model::{EntityKind, SourceSystem};

/// One generated lead.
#[derive(Debug, Clone)]
struct Lead {
    id: u32,
    first: Option<String>,
    score: u32,
    unsubscribed: bool,
}

impl Lead {
    fn new(id: u32) -> Self {
        Self {
            id,
            first: (id % 50 != 1).then(|| format!("F{id}")),
            score: (id * 7) % 100,
            unsubscribed: id.is_multiple_of(37),
        }
    }

    fn email(&self) -> String {
        format!("p{}@acme.com", self.id)
    }
}

fn write_leads(dir: &Path, name: &str, leads: &[Lead], updated: &str) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = "id,email,firstName,leadScore,unsubscribed,updatedAt\n".to_owned();
    for l in leads {
        text.push_str(&format!(
            "{},{},{},{},{},{updated}\n",
            l.id,
            l.email(),
            l.first.clone().unwrap_or_default(),
            l.score,
            l.unsubscribed
        ));
    }
    let path = folder.join("leads.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn setup(dir: &Path, leads: &[Lead]) -> Engine {
    let mut engine = Engine::open(&dir.join("data")).unwrap();
    engine.generate_b2b_schemas().unwrap();
    let path = write_leads(dir, "in0", leads, "2024-01-01T00:00:00Z");
    let report = engine.ingest(SourceSystem::Marketo, &[path], "mk1", &Quiet).unwrap();
    assert_eq!(report.rows_rejected(), 0);
    // Creating the audience evaluates it (the backfill: every member `realized`).
    engine.create_audience("hot", "b2b.personScore >= 50").unwrap();
    engine
}

fn reingest(engine: &mut Engine, dir: &Path, name: &str, leads: &[Lead], updated: &str) {
    let path = write_leads(dir, name, leads, updated);
    // Memberships follow the batch as it commits (live); no evaluation needed.
    engine.ingest(SourceSystem::Marketo, &[path], "mk1", &Quiet).unwrap();
}

fn map(source: &str, target: &str) -> AttributeMapping {
    AttributeMapping { source: source.into(), target: target.into() }
}

fn flow(destination: &str, identity: Option<&str>, mapping: Vec<AttributeMapping>) -> ActivationFlowDef {
    ActivationFlowDef {
        destination: destination.into(),
        audiences: vec!["hot".into()],
        identity: identity.map(str::to_owned),
        mapping,
        mandatory: vec![],
        dedupe: vec![],
        schedule: Schedule::Manual,
        marketing_action: None,
    }
}

/// Run options of an export at `hour` on 2026-11-29 UTC (distinct times keep successive files apart).
fn at(hour: u32) -> RunOptions {
    RunOptions { at: Some(Utc.with_ymd_and_hms(2026, 11, 29, hour, 0, 0).unwrap()), ..RunOptions::default() }
}

/// A CSV destination `files` in `out` and a flow `f` of the audience to it: the email identity and the first
/// name, which is mandatory.
fn first_name_file_flow(engine: &mut Engine, out: &Path, export: ExportMode) {
    let config = FileConfig { export, ..FileConfig::csv(out.to_str().unwrap()) };
    engine.create_destination("files", &DestinationConfig::File(config)).unwrap();
    let mut def = flow("files", Some("Email"), vec![map("person.name.firstName", "firstName")]);
    def.mandatory = vec!["firstName".into()];
    engine.create_activation_flow("f", &def).unwrap();
}

fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    reader.records().map(|r| headers.iter().cloned().zip(r.unwrap().iter().map(str::to_owned)).collect()).collect()
}

/// The oracle: the emails a flow with mandatory `firstName` and email consent should hold.
fn expected_emails(leads: &[Lead]) -> BTreeSet<String> {
    leads.iter().filter(|l| l.score >= 50 && !l.unsubscribed && l.first.is_some()).map(Lead::email).collect()
}

#[test]
fn incremental_files_after_churn_hold_only_the_changes_and_replay_to_the_audience() {
    let tmp = tempfile::tempdir().unwrap();
    let mut leads: Vec<Lead> = (1..=400).map(Lead::new).collect();
    let mut engine = setup(tmp.path(), &leads);
    let out = tmp.path().join("out");
    let mut file = FileConfig::csv(&format!("{}/%SEGMENT_NAME%", out.display()));
    file.file_name = Some("%DESTINATION%_%SEGMENT_ID%_%TIMESTAMP%".into());
    engine.create_destination("files", &DestinationConfig::File(file)).unwrap();
    let mut def = flow(
        "files",
        Some("Email"),
        vec![map("person.name.firstName", "firstName"), map("segmentMembership.status", "status")],
    );
    def.mandatory = vec!["firstName".into()];
    engine.create_activation_flow("daily-files", &def).unwrap();

    let first = engine.run_activation("daily-files", &at(1)).unwrap();
    assert_eq!(first.state, "success");
    let audience = &first.audiences[0];
    let expected = expected_emails(&leads);
    // The backfill: every wanted member, one file, in the audience's folder.
    assert_eq!(audience.files.len(), 1);
    assert_eq!(audience.files[0].path, out.join("hot").join("files_hot_20261129010000.csv"));
    let rows = read_csv(&audience.files[0].path);
    assert_eq!(rows.iter().map(|r| r["Email"].clone()).collect::<BTreeSet<_>>(), expected);
    assert!(rows.iter().all(|r| r["status"] == "realized"));
    let unsubscribed_hot = leads.iter().filter(|l| l.score >= 50 && l.unsubscribed).count() as u64;
    let nameless_hot = leads.iter().filter(|l| l.score >= 50 && !l.unsubscribed && l.first.is_none()).count() as u64;
    assert_eq!(audience.excluded.consent, unsubscribed_hot);
    assert_eq!(audience.excluded.mandatory, nameless_hot);
    assert!(unsubscribed_hot > 0 && nameless_hot > 0);

    // 1% churn (4 of 400): two leave, one enters, one changes its first name.
    let leaving: Vec<u32> = leads.iter().filter(|l| expected.contains(&l.email())).take(2).map(|l| l.id).collect();
    let entering = leads.iter().find(|l| l.score < 50 && !l.unsubscribed && l.first.is_some()).unwrap().id;
    let renamed = leads.iter().filter(|l| expected.contains(&l.email())).nth(5).unwrap().id;
    for l in &mut leads {
        if leaving.contains(&l.id) {
            l.score = 10;
        } else if l.id == entering {
            l.score = 90;
        } else if l.id == renamed {
            l.first = Some("Renamed".into());
        }
    }
    reingest(&mut engine, tmp.path(), "in1", &leads, "2024-02-01T00:00:00Z");
    let second = engine.run_activation("daily-files", &at(2)).unwrap();
    let audience = &second.audiences[0];
    assert_eq!((audience.upserts, audience.removals), (2, 2));
    let rows = read_csv(&audience.files[0].path);
    let changes: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            let who = if r["status"] == "exited" { String::new() } else { r["Email"].clone() };
            (who, r["status"].clone())
        })
        .collect();
    let email = |id: u32| format!("p{id}@acme.com");
    assert_eq!(
        changes,
        [
            (email(entering), "realized".to_owned()),
            // Live memberships: a member stays `realized` from its entry until a full evaluation confirms it
            // `existing` (docs/segment-language.md, "Memberships and history"); none ran here.
            (email(renamed), "realized".to_owned()),
            (String::new(), "exited".to_owned()),
        ]
        .into()
    );
    assert_eq!(rows.len(), 4, "only the changed members");
    assert!(rows.iter().any(|r| r["firstName"] == "Renamed"));

    // Nothing changed: the next file is empty.
    let third = engine.run_activation("daily-files", &at(3)).unwrap();
    assert_eq!((third.audiences[0].sent, third.audiences[0].upserts, third.audiences[0].removals), (0, 0, 0));

    // History keeps every run's report.
    let history = engine.activation_history("daily-files").unwrap();
    assert_eq!(
        history.iter().map(|r| r.report.as_ref().unwrap().sent).collect::<Vec<_>>(),
        [expected.len() as u64, 4, 0]
    );
}

#[test]
fn incremental_files_replay_to_the_audience_after_random_churn() {
    replay_random_churn(false);
}

/// The same rounds under `rapport serve`'s resident graph (kept after the flow exists, patched by each batch):
/// the payloads come from memory and the files replay to the same audience.
#[test]
fn issue_7_resident_graph_files_replay_to_the_audience_after_random_churn() {
    replay_random_churn(true);
}

/// `changes` random changes to the leads: a new score, consent flipped, or a new or no first name.
fn churn(leads: &mut [Lead], rng: &mut fastrand::Rng, changes: usize) {
    for _ in 0..changes {
        let l = &mut leads[rng.usize(..leads.len())];
        match rng.u8(..3) {
            0 => l.score = rng.u32(..100),
            1 => l.unsubscribed = !l.unsubscribed,
            _ => l.first = if rng.bool() { Some(format!("N{}", rng.u32(..1000))) } else { None },
        }
    }
}

/// A flow `f` of the audience to `destination` whose incremental files can be replayed: the email identity,
/// the primary identity as `id`, the first name (mandatory) and the membership status.
fn replay_flow(engine: &mut Engine, destination: &str) {
    let mut def = flow(
        destination,
        Some("Email"),
        vec![
            map("primaryIdentity", "id"),
            map("person.name.firstName", "firstName"),
            map("segmentMembership.status", "status"),
        ],
    );
    def.mandatory = vec!["firstName".into()];
    engine.create_activation_flow("f", &def).unwrap();
}

/// Applies the rows of one file of [`replay_flow`] to `replay` (primary identity → email).
fn replay_rows(replay: &mut BTreeMap<String, String>, rows: Vec<BTreeMap<String, String>>) {
    for row in rows {
        if row["status"] == "exited" {
            assert!(replay.remove(&row["id"]).is_some(), "an exit of a member never sent");
        } else {
            replay.insert(row["id"].clone(), row["Email"].clone());
        }
    }
}

/// Round `round` of random churn: from the second round on, `changes` random changes ingested as a new batch.
fn churn_round(
    engine: &mut Engine,
    dir: &Path,
    leads: &mut [Lead],
    rng: &mut fastrand::Rng,
    round: u32,
    changes: usize,
) {
    if round > 0 {
        churn(leads, rng, changes);
        reingest(engine, dir, &format!("in{round}"), leads, &format!("2024-0{}-01T00:00:00Z", round + 1));
    }
}

fn replay_random_churn(resident: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let mut leads: Vec<Lead> = (1..=300).map(Lead::new).collect();
    let mut engine = setup(tmp.path(), &leads);
    let out = tmp.path().join("out");
    engine.create_destination("files", &DestinationConfig::File(FileConfig::csv(out.to_str().unwrap()))).unwrap();
    replay_flow(&mut engine, "files");
    if resident {
        engine.keep_audiences_resident().unwrap();
    }
    let mut rng = fastrand::Rng::with_seed(7);
    // primary identity → email, learnt from the files themselves.
    let mut replay: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..5u32 {
        churn_round(&mut engine, tmp.path(), &mut leads, &mut rng, round, 15);
        let report = engine.run_activation("f", &at(round)).unwrap();
        for file in &report.audiences[0].files {
            replay_rows(&mut replay, read_csv(&file.path));
        }
        let held: BTreeSet<String> = replay.values().cloned().collect();
        assert_eq!(held, expected_emails(&leads), "round {round}");
    }
}

/// The replay through an SFTP server (tests/support/sftp_server.rs): after each round of random churn the
/// incremental files on the server replay to the audience. In the third round the server drops the connection
/// mid-upload and the destination allows no retry: the run fails, records nothing, and the next run sends the
/// same changes again, so the replay stays exact; no file is left half-written under its name.
#[test]
fn issue_7_sftp_files_replay_to_the_audience_after_random_churn_and_a_failed_upload() {
    let tmp = tempfile::tempdir().unwrap();
    // 3,000 leads: the backfill file is big enough (about 150 KB) to need several write requests.
    let mut leads: Vec<Lead> = (1..=3_000).map(Lead::new).collect();
    let mut engine = setup(tmp.path(), &leads);
    let server = sftp_server::SftpServer::start(sftp_server::Options::default());
    let sftp = SftpConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        username: sftp_server::USER.into(),
        password: Some(Secret::new(sftp_server::PASSWORD)),
        private_key: None,
        passphrase: None,
        host_key: sftp_server::HOST_KEY_FINGERPRINT.into(),
        timeout_secs: 10,
        retries: 0,
    };
    let file = FileConfig { sftp: Some(sftp), ..FileConfig::csv("/drop/%SEGMENT_NAME%") };
    engine.create_destination("sftp", &DestinationConfig::File(file)).unwrap();
    // Secrets are kept, and shown as `***`.
    let shown = serde_json::to_string(&engine.destination("sftp").unwrap()).unwrap();
    assert!(shown.contains(r#""password":"***""#) && !shown.contains(sftp_server::PASSWORD), "{shown}");
    // The folder does not exist yet: its nearest parent is probed.
    let checked = engine.test_destination("sftp", RetryPolicy::default()).unwrap();
    assert!(checked.contains("folder / is writable (/drop will be created by the first export)"), "{checked}");
    replay_flow(&mut engine, "sftp");
    let mut rng = fastrand::Rng::with_seed(5);
    let mut replay: BTreeMap<String, String> = BTreeMap::new();
    let mut failed = 0;
    for round in 0..5u32 {
        churn_round(&mut engine, tmp.path(), &mut leads, &mut rng, round, 30);
        if round == 2 {
            server.drop_after_more_writes(1);
            let report = engine.run_activation("f", &at(round)).unwrap();
            assert_eq!(report.state, "failed");
            let error = report.audiences[0].error.clone().unwrap_or_default();
            assert!(error.contains(&format!("sftp: bodea@127.0.0.1:{}", server.port)), "{error}");
            failed += 1;
        }
        let report = engine.run_activation("f", &at(round)).unwrap();
        assert_eq!(report.state, "success", "round {round}: {report:?}");
        let files = &report.audiences[0].files;
        assert_eq!(files.len(), 1);
        let path = files[0].path.to_str().unwrap().to_owned();
        assert_eq!(path, format!("/drop/hot/sftp_segmenthot_20261129{round:02}0000.csv"));
        let rows = read_csv(&server.local(&path));
        assert_eq!(rows.len(), files[0].rows);
        replay_rows(&mut replay, rows);
        let held: BTreeSet<String> = replay.values().cloned().collect();
        assert_eq!(held, expected_emails(&leads), "round {round}");
    }
    assert_eq!((failed, server.dropped()), (1, 1));
    // Every file on the server is under its name: the failed upload's temporary file was rewritten and renamed.
    let names = server.files("/drop/hot");
    assert_eq!(names.iter().filter(|n| n.ends_with(".tmp")).count(), 0, "{names:?}");
    assert_eq!(names.len(), 5, "{names:?}");
}

/// Account audiences go to files too: one row per account of the audience, with its name, from the stored
/// profiles and then from the resident graph; a flow mixing account and person audiences is refused.
#[test]
fn account_audiences_export_to_files() {
    let tmp = tempfile::tempdir().unwrap();
    let leads: Vec<Lead> = (1..=20).map(Lead::new).collect();
    let mut engine = setup(tmp.path(), &leads);
    let folder = tmp.path().join("sf");
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = "Id,Name,AnnualRevenue,LastModifiedDate\n".to_owned();
    for i in 0..30u32 {
        text.push_str(&format!("001{i:015},Account {i},{},2024-01-01T00:00:00Z\n", i * 100_000));
    }
    std::fs::write(folder.join("Account.csv"), text).unwrap();
    let report = engine.ingest(SourceSystem::Salesforce, &[folder.join("Account.csv")], "sf1", &Quiet).unwrap();
    assert_eq!(report.rows_rejected(), 0);
    engine
        .create_audience_of("big", EntityKind::Account, "accountOrganization.annualRevenue.amount >= 2000000")
        .unwrap();
    let out = tmp.path().join("accounts");
    let config = FileConfig { export: ExportMode::Full, ..FileConfig::csv(out.to_str().unwrap()) };
    engine.create_destination("files", &DestinationConfig::File(config)).unwrap();
    let mut def = flow("files", None, vec![map("primaryIdentity", "id"), map("accountName", "name")]);
    def.audiences = vec!["big".into(), "hot".into()];
    let err = engine.create_activation_flow("mixed", &def).unwrap_err().to_string();
    assert!(err.contains("audience `hot` is an audience of person profiles, `big` of account"), "{err}");
    def.audiences = vec!["big".into()];
    engine.create_activation_flow("accounts", &def).unwrap();
    // Revenue 2,000,000 and more: accounts 20 to 29.
    let expected: BTreeSet<(String, String)> =
        (20..30u32).map(|i| (format!("b2b_account:001{i:015}@sf1.Salesforce"), format!("Account {i}"))).collect();
    for (round, resident) in [(1, false), (2, true)] {
        if resident {
            engine.keep_audiences_resident().unwrap();
        }
        let report = engine.run_activation("accounts", &at(round)).unwrap();
        assert_eq!(report.state, "success", "{report:?}");
        let rows: BTreeSet<(String, String)> = report.audiences[0]
            .files
            .iter()
            .flat_map(|f| read_csv(&f.path))
            .map(|r| (r["id"].clone(), r["name"].clone()))
            .collect();
        assert_eq!(rows, expected, "resident: {resident}");
        assert_eq!(report.audiences[0].sent, 10);
    }
}

/// Under `rapport serve` a flow that maps no membership status takes its members from the resident audience
/// state (profile numbers) instead of the stored memberships: after each round of random churn, a full export
/// holds exactly the oracle's people with their current first names, and the report counts the audience and
/// the people left out by consent and by the mandatory attribute as the leads say.
#[test]
fn issue_7_resident_members_give_full_files_of_exactly_the_audience_after_random_churn() {
    let tmp = tempfile::tempdir().unwrap();
    let mut leads: Vec<Lead> = (1..=300).map(Lead::new).collect();
    let mut engine = setup(tmp.path(), &leads);
    first_name_file_flow(&mut engine, &tmp.path().join("out"), ExportMode::Full);
    engine.keep_audiences_resident().unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    for round in 0..5u32 {
        churn_round(&mut engine, tmp.path(), &mut leads, &mut rng, round, 20);
        let report = engine.run_activation("f", &at(round)).unwrap();
        let delivery = &report.audiences[0];
        let rows: BTreeSet<(String, String)> = delivery
            .files
            .iter()
            .flat_map(|file| read_csv(&file.path))
            .map(|row| (row["Email"].clone(), row["firstName"].clone()))
            .collect();
        let expected: BTreeSet<(String, String)> = leads
            .iter()
            .filter(|l| l.score >= 50 && !l.unsubscribed)
            .filter_map(|l| l.first.clone().map(|first| (l.email(), first)))
            .collect();
        assert_eq!(rows, expected, "round {round}");
        assert_eq!(delivery.sent as usize, expected.len(), "round {round}");
        let hot = leads.iter().filter(|l| l.score >= 50);
        assert_eq!(delivery.members as usize, hot.clone().count(), "round {round}");
        assert_eq!(delivery.excluded.consent as usize, hot.clone().filter(|l| l.unsubscribed).count());
        assert_eq!(delivery.excluded.mandatory as usize, hot.filter(|l| !l.unsubscribed && l.first.is_none()).count());
    }
}

/// What a file flow holds is one BLOB per (flow, audience), written with the run's end: after a first run of
/// 400 leads and a second after churn, the store holds exactly the wanted members, no per-member rows. The flow
/// names no left member in its files (no status column), so the BLOB keeps no keys: 10 header bytes and 24 a
/// member (digest and row hash).
#[test]
fn issue_7_file_state_is_one_value_per_audience_recorded_with_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut leads: Vec<Lead> = (1..=400).map(Lead::new).collect();
    let mut engine = setup(tmp.path(), &leads);
    first_name_file_flow(&mut engine, &tmp.path().join("out"), ExportMode::Incremental);
    let state = |engine: &Engine| {
        let db = rusqlite::Connection::open(engine.store().dir().join(rapport_store::DATABASE_FILE)).unwrap();
        let blob: (i64, i64, i64) = db
            .query_row(
                "SELECT members, (SELECT COUNT(*) FROM activation_state WHERE flow = 'f'), length(state)
                 FROM activation_file_state WHERE flow = 'f' AND audience = 'hot'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(blob.2, 10 + 24 * blob.0, "digests and row hashes only");
        let runs: i64 = db
            .query_row("SELECT COUNT(*) FROM activation_runs WHERE flow = 'f' AND state = 'success'", [], |r| r.get(0))
            .unwrap();
        (blob.0 as usize, blob.1, runs)
    };
    let first = engine.run_activation("f", &at(1)).unwrap();
    let expected = expected_emails(&leads);
    assert_eq!(first.audiences[0].sent as usize, expected.len());
    assert_eq!(state(&engine), (expected.len(), 0, 1));

    // One member changes its first name, one leaves (score 10), nothing else.
    let mut wanted = leads.iter().filter(|l| expected.contains(&l.email()));
    let (renamed, leaving) = (wanted.next().unwrap().id, wanted.next().unwrap().id);
    for l in &mut leads {
        if l.id == renamed {
            l.first = Some("Renamed".into());
        } else if l.id == leaving {
            l.score = 10;
        }
    }
    reingest(&mut engine, tmp.path(), "in1", &leads, "2024-02-01T00:00:00Z");
    let second = engine.run_activation("f", &at(2)).unwrap();
    let audience = &second.audiences[0];
    assert_eq!((audience.upserts, audience.removals, audience.sent), (1, 1, 1));
    let rows = read_csv(&audience.files[0].path);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["Email"].as_str(), rows[0]["firstName"].as_str()),
        (format!("p{renamed}@acme.com").as_str(), "Renamed")
    );
    assert_eq!(state(&engine), (expected.len() - 1, 0, 2));
}

#[test]
fn restricted_labels_and_bad_mappings_are_refused_at_creation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut engine = setup(tmp.path(), &[Lead::new(1)]);
    engine
        .create_destination(
            "hook",
            &DestinationConfig::Webhook(WebhookConfig {
                url: "http://127.0.0.1:9/x".into(),
                secret: Secret::new("k"),
                batch_size: 10,
            }),
        )
        .unwrap();
    engine.add_field_label("person.name", "C2").unwrap();
    let err = engine
        .create_activation_flow("f", &flow("hook", None, vec![map("person.name.firstName", "first")]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "field `person.name.firstName` carries label `C2` (no export to a third party), which the marketing \
         action `export_to_third_party` of destination `hook` does not allow"
    );
    // C2 does not restrict email targeting.
    let mut email = flow("hook", None, vec![map("person.name.firstName", "first")]);
    email.marketing_action = Some(rapport_destinations::MarketingAction::EmailTargeting);
    engine.create_activation_flow("f2", &email).unwrap();

    let err =
        engine.create_activation_flow("f3", &flow("hook", None, vec![map("person.name.frstName", "x")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mapping[0]: the person schema has no field `person.name.frstName` (did you mean `person.name.firstName`?)"
    );
    let err = engine
        .create_activation_flow("f4", &flow("hook", None, vec![map("extendedWorkDetails.departments", "d")]))
        .unwrap_err();
    assert!(err.to_string().contains("arrays, objects and maps cannot be exported"), "{err}");
    let err = engine.add_field_label("person.nope", "C2").unwrap_err();
    assert!(err.to_string().contains("no field `person.nope`"), "{err}");
}

fn marketo_config(url: &str) -> MarketoConfig {
    MarketoConfig {
        base_url: url.into(),
        client_id: "cid".into(),
        client_secret: Secret::new("csecret"),
        lookup_field: "email".into(),
        person_action: PersonAction::CreateOrUpdate,
        sync_type: SyncType::AudienceAndProfile,
        partition: None,
        list_folder_id: Some(9),
        daily_quota: 50_000,
    }
}

#[test]
fn a_destination_failing_mid_run_recovers_holding_exactly_the_audience() {
    let tmp = tempfile::tempdir().unwrap();
    let mut leads: Vec<Lead> = (1..=1000).map(Lead::new).collect();
    let mut engine = setup(tmp.path(), &leads);
    let marketo = fake::marketo();
    let hook = fake::Server::start(
        fake::Receiver { key: b"k".to_vec(), ..fake::Receiver::default() },
        fake::receiver_handler(rapport_destinations::webhook::signature),
    );
    engine.create_destination("mkto", &DestinationConfig::Marketo(marketo_config(&marketo.url))).unwrap();
    engine
        .create_destination(
            "hook",
            &DestinationConfig::Webhook(WebhookConfig {
                url: format!("{}/hook", hook.url),
                secret: Secret::new("k"),
                batch_size: 100,
            }),
        )
        .unwrap();
    let mut to_marketo =
        flow("mkto", Some("Email"), vec![map("workEmail.address", "email"), map("person.name.firstName", "firstName")]);
    to_marketo.mandatory = vec!["firstName".into()];
    engine.create_activation_flow("to-marketo", &to_marketo).unwrap();
    let mut to_hook =
        flow("hook", Some("Email"), vec![map("primaryIdentity", "id"), map("person.name.firstName", "firstName")]);
    to_hook.mandatory = vec!["firstName".into()];
    engine.create_activation_flow("to-hook", &to_hook).unwrap();

    let expected = expected_emails(&leads);
    assert!(expected.len() > 300, "the audience takes more than one Marketo batch");
    // The webhook's marketing action (export to a third party) reads `consents.share`, which these people
    // never denied: the unsubscribed still go there.
    let hook_expected = leads.iter().filter(|l| l.score >= 50 && l.first.is_some()).count();

    // Batch 1 passes; batch 2's upsert is applied but its answer lost, then 429s and a 500 exhaust 4 attempts.
    marketo.fail(
        "/rest/v1/leads.json",
        &[Fault::Pass, Fault::DropAfterApply, Fault::TooMany, Fault::ServerError, Fault::TooMany],
    );
    hook.fail("/hook", &[Fault::ServerError, Fault::DropBefore]);
    let options = RunOptions {
        retry: RetryPolicy { max_attempts: 4, base_delay_ms: 1, max_delay_ms: 4, timeout_ms: 5_000 },
        at: None,
    };
    let runs = engine.run_activations(&["to-marketo".into(), "to-hook".into()], &options);
    let marketo_run = runs[0].1.as_ref().unwrap();
    assert_eq!(marketo_run.state, "failed");
    let error = marketo_run.audiences[0].error.clone().unwrap();
    assert_eq!(error, "marketo: upsert leads: gave up after 4 attempts: HTTP 429");
    assert_eq!(marketo_run.accepted, 300, "the first batch was recorded");
    assert_eq!(marketo.state.lock().unwrap().list_emails(1000).len(), 300);
    // The other destination in the same run is unaffected.
    let hook_run = runs[1].1.as_ref().unwrap();
    assert_eq!(hook_run.state, "success");
    assert_eq!(hook.state.lock().unwrap().held.len(), hook_expected);

    // Recovery: the next run sends the rest; batch 2 is sent again, which duplicates nothing.
    let recovered = engine.run_activation("to-marketo", &options).unwrap();
    assert_eq!(recovered.state, "success");
    assert_eq!(recovered.accepted as usize, expected.len() - 300);
    {
        let state = marketo.state.lock().unwrap();
        assert_eq!(state.list_emails(1000), expected);
        assert_eq!(state.leads.len(), expected.len(), "one lead per person: none duplicated");
        for email in &expected {
            assert_eq!(state.lead_by("email", email).len(), 1);
        }
    }

    // Churn, then both flows again: the destinations follow the audience exactly.
    for l in leads.iter_mut().take(60) {
        l.score = (l.score + 50) % 100;
    }
    leads[100].unsubscribed = !leads[100].unsubscribed;
    reingest(&mut engine, tmp.path(), "in1", &leads, "2024-03-01T00:00:00Z");
    let runs = engine.run_activations(&["to-marketo".into(), "to-hook".into()], &options);
    assert!(runs.iter().all(|(_, r)| r.as_ref().unwrap().state == "success"));
    let expected = expected_emails(&leads);
    assert_eq!(marketo.state.lock().unwrap().list_emails(1000), expected);
    let receiver = hook.state.lock().unwrap();
    let hook_expected: BTreeSet<String> =
        leads.iter().filter(|l| l.score >= 50 && l.first.is_some()).map(Lead::email).collect();
    let held: BTreeSet<String> = receiver.held.values().map(|i| i.clone().unwrap()).collect();
    assert_eq!(held, hook_expected);
    assert_eq!(receiver.held.len(), hook_expected.len());
    assert!(receiver.upserts.values().all(|&n| n == 1), "a retried webhook batch was applied once");
    assert_eq!(receiver.bad_signatures, 0);
    let left: BTreeSet<String> = receiver.held.keys().cloned().collect();
    drop(receiver);

    // The churned people come back: a re-add is a new delivery, applied again (not taken for a retry).
    for l in leads.iter_mut().take(60) {
        l.score = (l.score + 50) % 100;
    }
    reingest(&mut engine, tmp.path(), "in2", &leads, "2024-04-01T00:00:00Z");
    let runs = engine.run_activations(&["to-marketo".into(), "to-hook".into()], &options);
    assert!(runs.iter().all(|(_, r)| r.as_ref().unwrap().state == "success"));
    assert_eq!(marketo.state.lock().unwrap().list_emails(1000), expected_emails(&leads));
    let receiver = hook.state.lock().unwrap();
    let back: Vec<&String> = receiver.held.keys().filter(|m| !left.contains(*m)).collect();
    assert!(!back.is_empty());
    assert!(back.iter().all(|m| receiver.upserts[*m] >= 1));
    let readded = receiver.upserts.values().filter(|&&n| n == 2).count();
    assert!(readded > 0, "members that left and came back were upserted twice");
    let held: BTreeSet<String> = receiver.held.values().map(|i| i.clone().unwrap()).collect();
    assert_eq!(held, leads.iter().filter(|l| l.score >= 50 && l.first.is_some()).map(Lead::email).collect());
}
