//! Contract tests of the SFTP file target against an in-process SFTP server (tests/support/sftp_server.rs):
//! exact file names, folders and bytes on the server, the temporary name then rename of every file, the
//! fallback when the server has no POSIX rename, host key pinning, sign-in by password and by key (ed25519,
//! passphrase-protected RSA), and a connection dropped mid-upload.

#![allow(clippy::unwrap_used)]

#[path = "support/sftp_server.rs"]
mod sftp_server;

use chrono::{TimeZone, Utc};
use rapport_destinations::file::{write_files, FileConfig, FileContext};
use rapport_destinations::sftp::{check, SftpConfig};
use rapport_destinations::Secret;
use sftp_server::{key, Options, SftpServer, HOST_KEY_FINGERPRINT, PASSWORD, RSA_PASSPHRASE, USER};

fn sftp(server: &SftpServer) -> SftpConfig {
    SftpConfig {
        host: "127.0.0.1".to_owned(),
        port: server.port,
        username: USER.to_owned(),
        password: Some(Secret::new(PASSWORD)),
        private_key: None,
        passphrase: None,
        host_key: HOST_KEY_FINGERPRINT.to_owned(),
        timeout_secs: 10,
        retries: 3,
    }
}

fn files_config(folder: &str, sftp: SftpConfig) -> FileConfig {
    FileConfig { sftp: Some(sftp), ..FileConfig::csv(folder) }
}

fn ctx() -> FileContext<'static> {
    FileContext {
        destination: "bodea-sftp",
        audience: "Sales people",
        at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap(),
    }
}

fn columns() -> Vec<String> {
    vec!["primaryIdentity".to_owned(), "email".to_owned()]
}

fn row(key: &str, email: Option<&str>) -> Vec<Option<String>> {
    vec![Some(key.to_owned()), email.map(str::to_owned)]
}

fn read(server: &SftpServer, path: &str) -> String {
    std::fs::read_to_string(server.local(path)).unwrap()
}

#[test]
fn an_export_lands_split_under_its_names_each_file_written_as_a_temporary_then_renamed() {
    let server = SftpServer::start(Options::default());
    let config = FileConfig { rows_per_file: 2, ..files_config("/exports/%SEGMENT_NAME%", sftp(&server)) };
    let rows = vec![
        row("email:ann@bodea.com", Some("ann@bodea.com")),
        row("email:bo@bodea.com", None),
        row("email:cy@bodea.com", Some("cy,\"the\" third@bodea.com")),
        row("email:di@bodea.com", Some("")),
        row("email:ed@bodea.com", Some("ed@bodea.com")),
    ];
    let written = write_files(&config, &ctx(), &columns(), &rows).unwrap();

    let dir = "/exports/Sales_people";
    let names = [
        "bodea-sftp_segmentSales_people_20261130120000.csv",
        "bodea-sftp_segmentSales_people_20261130120000_2.csv",
        "bodea-sftp_segmentSales_people_20261130120000_3.csv",
    ];
    let reported: Vec<(String, usize)> =
        written.iter().map(|f| (f.path.to_string_lossy().into_owned(), f.rows)).collect();
    assert_eq!(reported, names.iter().zip([2, 2, 1]).map(|(n, r)| (format!("{dir}/{n}"), r)).collect::<Vec<_>>());
    assert_eq!(server.files(dir), names);
    let header = "primaryIdentity,email\n";
    assert_eq!(
        read(&server, &format!("{dir}/{}", names[0])),
        format!("{header}email:ann@bodea.com,ann@bodea.com\nemail:bo@bodea.com,\n")
    );
    assert_eq!(
        read(&server, &format!("{dir}/{}", names[1])),
        format!("{header}email:cy@bodea.com,\"cy,\"\"the\"\" third@bodea.com\"\nemail:di@bodea.com,\n")
    );
    assert_eq!(read(&server, &format!("{dir}/{}", names[2])), format!("{header}email:ed@bodea.com,ed@bodea.com\n"));

    let mut expected = vec!["mkdir /exports".to_owned(), format!("mkdir {dir}")];
    for name in names {
        let temp = format!("{dir}/.{name}.tmp");
        expected.extend([
            format!("open {temp}"),
            format!("fsync {temp}"),
            format!("close {temp}"),
            format!("posix-rename {temp} {dir}/{name}"),
        ]);
    }
    assert_eq!(server.log(), expected);
    assert_eq!((server.connections(), server.sign_ins()), (1, 1));
}

#[test]
fn without_posix_rename_a_static_name_replaces_the_previous_file() {
    let server = SftpServer::start(Options { posix_rename: false, fsync: false, drop_after_writes: None });
    let config =
        FileConfig { file_name: Some("%DESTINATION%_%SEGMENT_ID%".to_owned()), ..files_config("/out", sftp(&server)) };
    write_files(&config, &ctx(), &columns(), &[row("email:ann@bodea.com", Some("ann@bodea.com"))]).unwrap();
    write_files(&config, &ctx(), &columns(), &[row("email:bo@bodea.com", Some("bo@bodea.com"))]).unwrap();

    assert_eq!(server.files("/out"), ["bodea-sftp_Sales_people.csv"]);
    assert_eq!(
        read(&server, "/out/bodea-sftp_Sales_people.csv"),
        "primaryIdentity,email\nemail:bo@bodea.com,bo@bodea.com\n"
    );
    let (temp, name) = ("/out/.bodea-sftp_Sales_people.csv.tmp", "/out/bodea-sftp_Sales_people.csv");
    assert_eq!(
        server.log(),
        [
            "mkdir /out".to_owned(),
            format!("open {temp}"),
            format!("close {temp}"),
            format!("rename {temp} {name}"),
            format!("open {temp}"),
            format!("close {temp}"),
            format!("refused-rename {temp} {name}"),
            format!("remove {name}"),
            format!("rename {temp} {name}"),
        ]
    );
}

#[test]
fn a_host_key_other_than_the_pinned_one_is_refused_before_signing_in() {
    let server = SftpServer::start(Options::default());
    let other = "SHA256:Du9Ok7g3c1+NhMuAS9QvMlxGa/SfCqKFsnkl3hgi1So";
    let config = files_config("/out", SftpConfig { host_key: other.to_owned(), ..sftp(&server) });
    let err = write_files(&config, &ctx(), &columns(), &[row("email:ann@bodea.com", None)]).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "the server's host key is {HOST_KEY_FINGERPRINT}, not the configured `host_key` {other}"
        )),
        "{err}"
    );
    assert!(err.starts_with(&format!("sftp: bodea@127.0.0.1:{}", server.port)), "{err}");
    // Not retried, never signed in, nothing written.
    assert_eq!((server.connections(), server.sign_ins()), (1, 0));
    assert!(server.log().is_empty());
}

#[test]
fn a_refused_password_stops_at_once_and_names_the_user() {
    let server = SftpServer::start(Options::default());
    let config = files_config("/out", SftpConfig { password: Some(Secret::new("wrong")), ..sftp(&server) });
    let err = write_files(&config, &ctx(), &columns(), &[row("email:ann@bodea.com", None)]).unwrap_err().to_string();
    assert!(err.contains("the server refused the password of `bodea`"), "{err}");
    assert!(!err.contains("wrong"), "{err}");
    assert_eq!((server.connections(), server.sign_ins()), (1, 0));
}

#[test]
fn private_keys_sign_in_ed25519_and_passphrase_protected_rsa() {
    let server = SftpServer::start(Options::default());
    let ed25519 = SftpConfig { password: None, private_key: Some(Secret::new(key("user_ed25519"))), ..sftp(&server) };
    let rsa = SftpConfig {
        password: None,
        private_key: Some(Secret::new(key("user_rsa"))),
        passphrase: Some(Secret::new(RSA_PASSPHRASE)),
        ..sftp(&server)
    };
    for (folder, config) in [("/ed", ed25519), ("/rsa", rsa)] {
        let files = files_config(folder, config);
        files.validate().unwrap();
        write_files(&files, &ctx(), &columns(), &[row("email:ann@bodea.com", None)]).unwrap();
        assert_eq!(server.files(folder), ["bodea-sftp_segmentSales_people_20261130120000.csv"]);
    }
    assert_eq!(server.sign_ins(), 2);
    // A wrong passphrase is refused when the settings are checked, naming the setting, not the key.
    let wrong = SftpConfig {
        password: None,
        private_key: Some(Secret::new(key("user_rsa"))),
        passphrase: Some(Secret::new("wrong")),
        ..sftp(&server)
    };
    let err = wrong.validate().unwrap_err().to_string();
    assert!(err.contains("`private_key` cannot be read"), "{err}");
    assert!(!err.contains("PRIVATE KEY"), "{err}");
}

/// 40,000 rows of about 60 bytes: two parts of about 1.2 MB, some 37 write requests each.
fn many_rows() -> Vec<Vec<Option<String>>> {
    (0..40_000)
        .map(|i| row(&format!("email:person{i:06}@bodea.com"), Some(&format!("person{i:06}@bodea.com"))))
        .collect()
}

#[test]
fn a_connection_dropped_mid_upload_is_reopened_and_every_file_completes() {
    let server = SftpServer::start(Options { drop_after_writes: Some(50), ..Options::default() });
    let config = FileConfig { rows_per_file: 20_000, ..files_config("/out", sftp(&server)) };
    let rows = many_rows();
    let written = write_files(&config, &ctx(), &columns(), &rows).unwrap();
    assert_eq!(written.iter().map(|f| f.rows).collect::<Vec<_>>(), [20_000, 20_000]);

    // The same export written locally is what the server must hold, byte for byte.
    let local = tempfile::tempdir().unwrap();
    let local_config = FileConfig { rows_per_file: 20_000, ..FileConfig::csv(local.path().to_str().unwrap()) };
    let expected = write_files(&local_config, &ctx(), &columns(), &rows).unwrap();
    let names =
        ["bodea-sftp_segmentSales_people_20261130120000.csv", "bodea-sftp_segmentSales_people_20261130120000_2.csv"];
    assert_eq!(server.files("/out"), names);
    for (name, file) in names.iter().zip(&expected) {
        assert_eq!(
            std::fs::read(server.local(&format!("/out/{name}"))).unwrap(),
            std::fs::read(&file.path).unwrap(),
            "{name}"
        );
    }
    // The drop came in the second file: the first was already in place and was not sent again.
    assert_eq!((server.dropped(), server.connections(), server.sign_ins()), (1, 2, 2));
    let log = server.log();
    let drop = log.iter().position(|e| e == "drop").unwrap();
    let renames: Vec<usize> =
        log.iter().enumerate().filter(|(_, e)| e.starts_with("posix-rename")).map(|(i, _)| i).collect();
    assert_eq!(renames.len(), 2, "{log:?}");
    assert!(renames[0] < drop && drop < renames[1], "{log:?}");
    assert_eq!(log.iter().filter(|e| e.starts_with("open /out/.") && e.ends_with("_2.csv.tmp")).count(), 2, "{log:?}");
}

#[test]
fn without_retries_a_drop_fails_the_export_and_no_file_appears_under_its_name() {
    let server = SftpServer::start(Options { drop_after_writes: Some(10), ..Options::default() });
    let config =
        FileConfig { rows_per_file: 20_000, ..files_config("/out", SftpConfig { retries: 0, ..sftp(&server) }) };
    let err = write_files(&config, &ctx(), &columns(), &many_rows()).unwrap_err().to_string();
    assert!(err.starts_with("sftp: bodea@127.0.0.1:"), "{err}");
    // The client sees the connection close (or the lost-connection answer to the request it was sending).
    assert!(err.contains("the connection closed") || err.to_lowercase().contains("connection lost"), "{err}");
    // Only the hidden temporary file is there, never a partial file under its final name.
    assert_eq!(server.files("/out"), [".bodea-sftp_segmentSales_people_20261130120000.csv.tmp"]);
    assert!(!server.log().iter().any(|e| e.contains("rename")));
}

#[test]
fn the_destination_check_signs_in_and_probes_the_folder_leaving_nothing() {
    let server = SftpServer::start(Options::default());
    std::fs::create_dir(server.local("/in")).unwrap();
    let message = check(&sftp(&server), "/in").unwrap();
    assert!(message.contains(&format!("signed in to bodea@127.0.0.1:{}", server.port)), "{message}");
    assert!(message.contains("folder /in is writable"), "{message}");
    assert!(server.files("/in").is_empty());
    let log = server.log();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log[0].starts_with("open /in/.rapport-test-") && log[2].starts_with("remove /in/.rapport-test-"),
        "{log:?}"
    );

    let message = check(&sftp(&server), "/in/new/deeper").unwrap();
    assert!(
        message.contains("folder /in is writable (/in/new/deeper will be created by the first export)"),
        "{message}"
    );
    assert!(server.files("/in").is_empty());
}

#[test]
fn a_refused_rename_fails_the_export_and_removes_the_temporary_file() {
    let server = SftpServer::start(Options::default());
    // A folder where the file should go: the server refuses to rename the file over it.
    std::fs::create_dir_all(server.local("/out/bodea-sftp_segmentSales_people_20261130120000.csv")).unwrap();
    let config = files_config("/out", sftp(&server));
    let err = write_files(&config, &ctx(), &columns(), &[row("email:ann@bodea.com", None)]).unwrap_err().to_string();
    assert!(err.contains("rename /out/.bodea-sftp_segmentSales_people_20261130120000.csv.tmp"), "{err}");
    assert!(!err.contains("retries"), "a refusal is not retried: {err}");
    assert_eq!(server.files("/out"), ["bodea-sftp_segmentSales_people_20261130120000.csv"]);
    assert!(server.local("/out/bodea-sftp_segmentSales_people_20261130120000.csv").is_dir());
    assert_eq!(server.log().last().unwrap(), "remove /out/.bodea-sftp_segmentSales_people_20261130120000.csv.tmp");
}
