//! The Bodea journey through the `rapport` binary, checked against an oracle that reads the generated CSV files
//! itself (`support/bodea_oracle.rs`, which shares no code with Rapport).

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "../../rapport-destinations/tests/support/sftp_server.rs"]
mod sftp_server;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use rapport_sample::{DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID, SALESFORCE_ORG_ID};
use serde_json::Value;
use support::bodea_oracle;

const BODEA_PQL: &str = "extendedWorkDetails.departments.includes(\"Sales\") and exists A from accounts where (exists O from A.opportunities where O.isClosed = false)";

fn rapport(data_dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("RAPPORT_DATA_DIR")
        .output()
        .expect("the rapport binary runs");
    assert!(
        output.status.success(),
        "rapport {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&output.stdout));
    })
}

/// Each member's person keys (`b2b_person` identities), as the oracle represents members.
fn member_keys(members: &Value) -> BTreeSet<BTreeSet<String>> {
    members
        .as_array()
        .expect("members are an array")
        .iter()
        .map(|m| {
            m["identities"]
                .as_array()
                .expect("identities")
                .iter()
                .filter_map(|i| i.as_str()?.strip_prefix("b2b_person:").map(str::to_owned))
                .collect()
        })
        .collect()
}

#[test]
fn issue_2_the_bodea_audience_matches_an_independent_oracle() {
    let tmp = tempfile::tempdir().unwrap();
    let exports = tmp.path().join("exports");
    let data = tmp.path().join("data");
    let generated = json(&rapport(
        &data,
        &["generate", "bodea", "--out", exports.to_str().unwrap(), "--persons", "3000", "--seed", "7", "--json"],
    ));

    // Ingesting before the schemas exist is refused with a hint, and nothing is stored.
    let refused = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("--data-dir")
        .arg(&data)
        .args(["ingest", "salesforce", exports.join("salesforce").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("run `rapport schema generate-b2b` first"));

    let created = json(&rapport(&data, &["schema", "generate-b2b", "--json"]));
    assert_eq!(created["schemas_created"].as_array().unwrap().len(), 9);
    let again = json(&rapport(&data, &["schema", "generate-b2b", "--json"]));
    assert_eq!(again["schemas_created"].as_array().unwrap().len(), 0, "generating twice changes nothing");

    // Every injected malformed row is rejected at its exact file and line, and nothing else is.
    let mut rejected: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut read = 0;
    let mut ingested = 0;
    for (system, instance) in
        [("salesforce", SALESFORCE_ORG_ID), ("dynamics", DYNAMICS_ORG_ID), ("marketo", MARKETO_MUNCHKIN_ID)]
    {
        let folder = exports.join(system);
        let report =
            json(&rapport(&data, &["ingest", system, folder.to_str().unwrap(), "--instance", instance, "--json"]));
        for file in report["ingest"]["files"].as_array().unwrap() {
            read += file["rows_read"].as_u64().unwrap();
            ingested += file["rows_ingested"].as_u64().unwrap();
            let name = Path::new(file["file"].as_str().unwrap())
                .strip_prefix(&exports)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            for row in file["rejected"].as_array().unwrap() {
                rejected.insert((name.clone(), row["line"].as_u64().unwrap()));
            }
        }
    }
    let injected: BTreeSet<(String, u64)> = generated["injected_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["file"].as_str().unwrap().to_owned(), e["line"].as_u64().unwrap()))
        .collect();
    assert!(!injected.is_empty());
    assert_eq!(rejected, injected);
    let written: u64 = generated["files"].as_array().unwrap().iter().map(|f| f["rows"].as_u64().unwrap()).sum();
    assert_eq!(read, written, "every data row is read");
    assert_eq!(ingested + injected.len() as u64, written, "every good row is kept");

    rapport(&data, &["audience", "create", "bodea", "--pql", BODEA_PQL]);
    let evaluation = json(&rapport(&data, &["audience", "evaluate", "bodea", "--json"]));
    let members = json(&rapport(&data, &["audience", "members", "bodea", "--json"]));

    let expected = bodea_oracle::bodea_audience(&exports, SALESFORCE_ORG_ID, DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID);
    let persons = bodea_oracle::person_count(&exports, SALESFORCE_ORG_ID, DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID);
    assert!(expected.len() > 50, "the sample data must make a non-trivial audience ({})", expected.len());
    assert!(expected.iter().any(|m| m.len() > 1), "some members are stitched from several systems");
    let got = member_keys(&members);
    let missing: Vec<_> = expected.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&expected).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}\nextra {extra:?}");
    assert_eq!(evaluation["size"].as_u64().unwrap(), expected.len() as u64);
    assert_eq!(evaluation["profiles"].as_u64().unwrap(), persons as u64);

    // The estimate of the same definition is exact.
    let estimate = json(&rapport(&data, &["audience", "estimate", "--pql", BODEA_PQL, "--json"]));
    assert_eq!(estimate["size"].as_u64().unwrap(), expected.len() as u64);

    // Activation writes one CSV with a header and one row per member.
    let out = tmp.path().join("out");
    let activation =
        json(&rapport(&data, &["activate", "bodea", "--to", &format!("file:{}", out.display()), "--json"]));
    let files = activation["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    let mut reader = csv::Reader::from_path(files[0]["path"].as_str().unwrap()).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["primaryIdentity", "email", "firstName", "lastName", "accountName"]
    );
    let primaries: BTreeSet<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    let member_primaries: BTreeSet<String> =
        members.as_array().unwrap().iter().map(|m| m["primary"].as_str().unwrap().to_owned()).collect();
    assert_eq!(primaries, member_primaries);
    assert_eq!(primaries.len(), expected.len());

    // Ingesting the same files again duplicates nothing and changes no membership.
    rapport(
        &data,
        &["ingest", "marketo", exports.join("marketo").to_str().unwrap(), "--instance", MARKETO_MUNCHKIN_ID],
    );
    let second = json(&rapport(&data, &["audience", "evaluate", "bodea", "--json"]));
    assert_eq!(second["size"], evaluation["size"]);
    assert_eq!(second["change"]["entered"], 0);
    assert_eq!(second["change"]["exited"], 0);
    assert_eq!(second["profiles"], evaluation["profiles"]);
}

#[test]
fn issue_2_the_demo_runs_the_journey_and_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let summary = json(&rapport(&data, &["demo", "--persons", "800", "--seed", "3", "--json"]));
    let exports = data.join("bodea-exports");
    let expected = bodea_oracle::bodea_audience(&exports, SALESFORCE_ORG_ID, DYNAMICS_ORG_ID, MARKETO_MUNCHKIN_ID);
    assert_eq!(summary["audience"]["size"].as_u64().unwrap(), expected.len() as u64);
    let steps: Vec<&str> = summary["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert!(steps.contains(&"ingest salesforce") && steps.contains(&"evaluate audience"), "{steps:?}");
    assert!(Path::new(summary["file"].as_str().unwrap()).is_file());
    // Output not on a terminal (as here): the console is not served; the summary says where it would be, with a
    // token and the command that serves it, and the run ends (this call returned).
    let console = &summary["console"];
    assert_eq!(console["serving"], false, "{console}");
    assert_eq!(console["url"], "http://127.0.0.1:8080/");
    assert!(console["command"].as_str().unwrap().ends_with(" serve --bind 127.0.0.1:8080"), "{console}");
    let first_token = console["token"].as_str().unwrap().to_owned();
    assert!(first_token.len() >= 32, "{console}");
    // A second run on the same data directory is idempotent; its console token replaces the first one.
    let again = json(&rapport(&data, &["demo", "--persons", "800", "--seed", "3", "--json"]));
    assert_eq!(again["audience"]["size"], summary["audience"]["size"]);
    assert_eq!(again["profiles"], summary["profiles"]);
    assert_ne!(again["console"]["token"].as_str().unwrap(), first_token);
    let tokens = json(&rapport(&data, &["token", "list", "--json"]));
    let demo: Vec<&Value> =
        tokens.as_array().unwrap().iter().filter(|t| t["name"].as_str().unwrap().starts_with("demo-console")).collect();
    assert_eq!(demo.len(), 2, "{tokens}");
    assert_eq!(demo.iter().filter(|t| t["revoked_at"].is_null()).count(), 1, "{tokens}");
    // `--no-serve` skips the console step.
    let quiet = json(&rapport(&data, &["demo", "--persons", "800", "--seed", "3", "--json", "--no-serve"]));
    assert!(quiet.get("console").is_none());
}

#[test]
fn issue_2_a_pql_error_points_at_the_span_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    rapport(&data, &["schema", "generate-b2b"]);
    let output = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("--data-dir")
        .arg(&data)
        .args(["audience", "create", "x", "--pql", "extendedWorkDetails.departmnt.includes(\"Sales\")"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `extendedWorkDetails.departmnt` on B2B Person"), "{stderr}");
    assert!(stderr.contains("did you mean `extendedWorkDetails.departments`?"), "{stderr}");
    assert!(stderr.contains("^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"), "{stderr}");
}

#[test]
fn issue_6_audience_show_explain_and_history_describe_the_demo_audience() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let summary = json(&rapport(&data, &["demo", "--persons", "300", "--seed", "5", "--json", "--no-serve"]));
    let name = summary["audience"]["name"].as_str().unwrap().to_owned();
    let size = summary["audience"]["size"].as_u64().unwrap();
    assert!(size > 0);

    let show = json(&rapport(&data, &["audience", "show", &name, "--json"]));
    assert_eq!(show["statuses"]["realized"].as_u64(), Some(size));
    assert_eq!(show["runs"].as_array().unwrap().len(), 1);
    assert!(show["plan"].as_str().unwrap().starts_with("Audience of person\n  And\n"), "{show}");

    // Every member entered at run 1 (the evaluation at creation), and nobody else did.
    let members = json(&rapport(&data, &["audience", "members", &name, "--json"]));
    let members: BTreeSet<String> =
        members.as_array().unwrap().iter().map(|m| m["primary"].as_str().unwrap().to_owned()).collect();
    let history = json(&rapport(&data, &["audience", "history", &name, "--json"]));
    let run = show["runs"][0]["id"].as_i64().unwrap();
    let (by_run, live): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        history.as_array().unwrap().iter().partition(|h| h["run"].is_i64());
    let entered: BTreeSet<String> = by_run
        .iter()
        .inspect(|h| assert_eq!((h["event"].as_str(), h["run"].as_i64()), (Some("realized"), Some(run)), "{h}"))
        .map(|h| h["member"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(entered, members);
    // The demo's live step closed one account's open opportunities, then reopened them: each person who left
    // came back, and every such entry names the opportunity change that caused it.
    let left = summary["live"]["left"].as_u64().unwrap();
    assert_eq!(live.len() as u64, 2 * left, "{history}");
    for h in &live {
        assert_eq!(h["cause"]["entity"].as_str(), Some("opportunity"), "{h}");
        assert_eq!(h["cause"]["kind"].as_str(), Some("updated"), "{h}");
        assert!(h["cause"]["seq"].as_i64().unwrap() > 0, "{h}");
    }
    assert_eq!(summary["live"]["expected"].as_u64(), Some(left));

    // Explaining a member says it is one; the SQL reads the person profiles.
    let first = members.iter().next().unwrap();
    let (ns, value) = first.split_once(':').unwrap();
    let explained = json(&rapport(&data, &["audience", "explain", &name, "--profile", ns, value, "--json"]));
    assert_eq!(explained["profile"]["primary"].as_str(), Some(first.as_str()));
    assert_eq!(explained["profile"]["member"], true);
    assert_eq!(explained["profile"]["trace"]["holds"], true);
    assert!(explained["sql"].as_str().unwrap().contains("FROM person e0"));
    // An unsaved definition explains too, without a profile.
    let text =
        String::from_utf8(rapport(&data, &["audience", "explain", "--pql", "b2b.personScore > 80"]).stdout).unwrap();
    assert!(text.contains("Filter (b2b.personScore > 80)"), "{text}");
    assert!(text.contains("WHERE ((e0.record #>> '{b2b,personScore}')::numeric > 80)"), "{text}");
}

/// The demo's audience.
const DEMO_AUDIENCE: &str = "bodea-sales-open-opportunities";

/// A demo of 300 people (seed 5) in a temporary folder: the folder and the data directory.
fn small_demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    rapport(&data, &["demo", "--persons", "300", "--seed", "5", "--json", "--no-serve"]);
    (tmp, data)
}

/// An SFTP destination from the command line: settings from a file, the password shown as `***`, `destination
/// test` signing in to an in-process SFTP server, and a run whose file lands on that server with every member.
#[test]
fn issue_7_sftp_destination_through_the_command_line() {
    let (tmp, data) = small_demo();
    let audience = DEMO_AUDIENCE;
    let members = json(&rapport(&data, &["audience", "members", audience, "--json"]));
    let server = sftp_server::SftpServer::start(sftp_server::Options::default());
    let settings = serde_json::json!({
        "type": "file",
        "folder": "/exports/%SEGMENT_NAME%",
        "sftp": {
            "host": "127.0.0.1",
            "port": server.port,
            "username": sftp_server::USER,
            "password": sftp_server::PASSWORD,
            "host_key": sftp_server::HOST_KEY_FINGERPRINT,
        },
    });
    let file = tmp.path().join("sftp.json");
    std::fs::write(&file, settings.to_string()).unwrap();
    rapport(&data, &["destination", "create", "drop", "--config", &format!("@{}", file.display())]);
    let shown = String::from_utf8(rapport(&data, &["destination", "show", "drop"]).stdout).unwrap();
    assert!(shown.contains(r#""password": "***""#) && !shown.contains(sftp_server::PASSWORD), "{shown}");
    let tested = String::from_utf8(rapport(&data, &["destination", "test", "drop"]).stdout).unwrap();
    assert!(tested.contains(&format!("signed in to bodea@127.0.0.1:{}", server.port)), "{tested}");

    let definition = format!(
        r#"{{"destination":"drop","audiences":["{audience}"],"mapping":[{{"source":"primaryIdentity","target":"id"}}]}}"#
    );
    rapport(&data, &["activation", "create", "to-drop", "--definition", &definition]);
    let reports = json(&rapport(&data, &["activation", "run", "to-drop", "--json"]));
    assert_eq!(reports[0]["state"], "success", "{reports}");
    let path = reports[0]["audiences"][0]["files"][0]["path"].as_str().unwrap().to_owned();
    assert!(path.starts_with(&format!("/exports/{audience}/drop_segment{audience}_")), "{path}");
    let text = std::fs::read_to_string(server.local(&path)).unwrap();
    let ids: BTreeSet<&str> = text.lines().skip(1).collect();
    let expected: BTreeSet<&str> = members.as_array().unwrap().iter().map(|m| m["primary"].as_str().unwrap()).collect();
    // No consent or identity is required of a flow without identity: every member, by its primary identity.
    assert_eq!(ids, expected);
    assert!(!expected.is_empty());
}

#[test]
fn issue_7_activation_flows_through_the_command_line() {
    let (tmp, data) = small_demo();
    let audience = DEMO_AUDIENCE;
    let members = json(&rapport(&data, &["audience", "members", audience, "--json"]));
    let members: BTreeSet<String> =
        members.as_array().unwrap().iter().map(|m| m["primary"].as_str().unwrap().to_owned()).collect();

    let out = tmp.path().join("out");
    let config = format!(r#"{{"type":"file","folder":"{}","format":"json_lines"}}"#, out.display());
    rapport(&data, &["destination", "create", "lake", "--config", &config]);
    let hook = r#"{"type":"webhook","url":"https://hooks.example.com/rapport","secret":"s3cr3t-hook-key"}"#;
    rapport(&data, &["destination", "create", "hook", "--config", hook]);
    let shown = String::from_utf8(rapport(&data, &["destination", "show", "hook"]).stdout).unwrap();
    assert!(shown.contains(r#""secret": "***""#) && !shown.contains("s3cr3t-hook-key"), "{shown}");
    let listed = json(&rapport(&data, &["destination", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let definition = format!(
        r#"{{"destination":"lake","audiences":["{audience}"],"identity":"Email",
            "mapping":[{{"source":"primaryIdentity","target":"id"}},{{"source":"segmentMembership.status","target":"status"}}]}}"#
    );
    rapport(&data, &["activation", "create", "to-lake", "--definition", &definition]);
    let reports = json(&rapport(&data, &["activation", "run", "to-lake", "--json"]));
    let report = &reports[0]["audiences"][0];
    let path = report["files"][0]["path"].as_str().unwrap();
    let rows: Vec<Value> =
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: BTreeSet<String> = rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert!(ids.is_subset(&members));
    let excluded = &report["excluded"];
    let left_out = excluded["consent"].as_u64().unwrap() + excluded["no_identity"].as_u64().unwrap();
    assert_eq!(ids.len() as u64 + left_out, members.len() as u64);
    assert!(rows.iter().all(|r| r["status"] == "realized" && r["Email"].as_str().unwrap().contains('@')));

    // Nothing changed: the second run sends nothing; the history keeps both reports.
    let again = json(&rapport(&data, &["activation", "run", "--all", "--json"]));
    assert_eq!(again[0]["sent"], 0);
    let history = json(&rapport(&data, &["activation", "history", "to-lake", "--json"]));
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[0]["report"]["sent"].as_u64().unwrap(), ids.len() as u64);

    // A field labelled C2 cannot go to a third party.
    rapport(&data, &["label", "add", "person.name.lastName", "C2"]);
    let refused = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("--data-dir")
        .arg(&data)
        .args(["activation", "create", "to-hook", "--definition"])
        .arg(format!(r#"{{"destination":"hook","audiences":["{audience}"],"mapping":[{{"source":"person.name.lastName","target":"last"}}]}}"#))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("field `person.name.lastName` carries label `C2`"), "{stderr}");
}
