//! Contract tests: each streaming destination against a local server implementing the vendor's documented
//! requests and answers (tokens and their expiry, rate limits, partial failures), with exact payloads.

#![allow(clippy::unwrap_used)]

mod fake;

use fake::Fault;
use rapport_destinations::config::{
    LinkedInConfig, LinkedInSegmentType, MarketoConfig, PersonAction, SyncType, WebhookConfig,
};
use rapport_destinations::{Change, ChangeAction, Connector, DestinationConfig, Outcome, RetryPolicy, Secret};
use serde_json::json;

fn fast() -> RetryPolicy {
    RetryPolicy { max_attempts: 5, base_delay_ms: 1, max_delay_ms: 5, timeout_ms: 5_000 }
}

fn upsert(member: &str, email: &str, first: Option<&str>) -> Change {
    Change {
        member: member.into(),
        action: ChangeAction::Upsert,
        identity: Some(email.into()),
        fields: vec![("email".into(), Some(email.into())), ("firstName".into(), first.map(str::to_owned))],
        previous: None,
    }
}

fn remove(member: &str, previous: Option<&str>) -> Change {
    Change {
        member: member.into(),
        action: ChangeAction::Remove,
        identity: None,
        fields: vec![],
        previous: previous.map(str::to_owned),
    }
}

fn marketo_config(url: &str) -> MarketoConfig {
    MarketoConfig {
        base_url: url.to_owned(),
        client_id: "cid".into(),
        client_secret: Secret::new("csecret"),
        lookup_field: "email".into(),
        person_action: PersonAction::CreateOrUpdate,
        sync_type: SyncType::AudienceAndProfile,
        partition: None,
        list_folder_id: Some(42),
        daily_quota: 50_000,
    }
}

fn accepted(id: &str) -> Outcome {
    Outcome::Accepted { remote: Some(id.to_owned()) }
}

#[test]
fn marketo_upserts_leads_and_maintains_the_static_list() {
    let server = fake::marketo();
    let config = DestinationConfig::Marketo(marketo_config(&server.url));
    let mut connector = Connector::build(&config, fast()).unwrap().unwrap();
    assert_eq!(connector.batch_size(), 300);

    // The list is created in the folder, named after the audience, once.
    let list = connector.prepare("Bodea Sales", None).unwrap().unwrap();
    assert_eq!(list, "1000");
    assert_eq!(server.state.lock().unwrap().lists[&1000], "Bodea Sales");
    let create = &server.requests("/rest/asset/v1/staticLists.json")[0];
    assert_eq!(create.headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(create.body, "folder=%7B%22id%22%3A42%2C%22type%22%3A%22Folder%22%7D&name=Bodea%20Sales");
    // Found by name the next time (a lost answer never creates a second list).
    let mut again = Connector::build(&config, fast()).unwrap().unwrap();
    assert_eq!(again.prepare("Bodea Sales", None).unwrap().unwrap(), "1000");
    assert_eq!(server.state.lock().unwrap().lists.len(), 1);

    let batch = [upsert("p1", "ann@x.com", Some("Ann")), upsert("p2", "bob@x.com", None)];
    let outcomes = connector.deliver("Bodea Sales", Some(&list), "d1", &batch).unwrap();
    assert_eq!(outcomes, [accepted("101"), accepted("102")]);

    // The exact upsert payload: action, lookup field, records in order, nulls kept.
    let upserts = server.requests("/rest/v1/leads.json");
    assert_eq!(upserts[0].method, "POST");
    assert_eq!(upserts[0].headers["authorization"], "Bearer tok-1");
    assert_eq!(
        upserts[0].json(),
        json!({"action": "createOrUpdate", "lookupField": "email", "input": [
            {"email": "ann@x.com", "firstName": "Ann"},
            {"email": "bob@x.com", "firstName": null}
        ]})
    );
    let adds = server.requests("/rest/v1/lists/1000/leads.json");
    assert_eq!((adds[0].method.as_str(), adds[0].json()), ("POST", json!({"input": [{"id": 101}, {"id": 102}]})));
    assert_eq!(server.state.lock().unwrap().list_emails(1000), ["ann@x.com", "bob@x.com"].map(String::from).into());

    // Removing a member and one never delivered; removing again is harmless (1015 counts as removed).
    let outcomes =
        connector.deliver("Bodea Sales", Some(&list), "d1", &[remove("p1", Some("101")), remove("p9", None)]).unwrap();
    assert_eq!(outcomes, [accepted("101"), Outcome::Accepted { remote: None }]);
    let delete = server.requests("/rest/v1/lists/1000/leads.json").pop().unwrap();
    assert_eq!((delete.method.as_str(), delete.json()), ("DELETE", json!({"input": [{"id": 101}]})));
    assert_eq!(
        connector.deliver("Bodea Sales", Some(&list), "d1", &[remove("p1", Some("101"))]).unwrap(),
        [accepted("101")]
    );
    assert_eq!(server.state.lock().unwrap().list_emails(1000), ["bob@x.com".to_owned()].into());
    // The lead itself stays in Marketo, and no lead was ever duplicated.
    assert_eq!(server.state.lock().unwrap().leads.len(), 2);
}

#[test]
fn marketo_renews_expired_tokens_and_backs_off_on_rate_limits() {
    let server = fake::marketo();
    // Each token serves two calls, then answers 602.
    server.state.lock().unwrap().token_calls = 2;
    let mut connector =
        Connector::build(&DestinationConfig::Marketo(marketo_config(&server.url)), fast()).unwrap().unwrap();
    server.fail("/rest/v1/leads.json", &[Fault::Marketo606, Fault::Marketo615, Fault::ServerError]);
    let list = connector.prepare("a", None).unwrap();
    let outcomes = connector.deliver("a", list.as_deref(), "d1", &[upsert("p1", "ann@x.com", Some("Ann"))]).unwrap();
    assert_eq!(outcomes, [accepted("101")]);
    let stats = connector.stats();
    let state = server.state.lock().unwrap();
    assert_eq!(state.leads.len(), 1);
    assert_eq!(state.list_emails(1000).len(), 1);
    // find list + create list (token 1), 606, 615, 500 (no token use), upsert → 602 (token expired), token 2,
    // upsert, add to list: 3 tokens' worth of renewals at most, and the three faults were retried.
    assert!(state.tokens_issued >= 2, "tokens {}", state.tokens_issued);
    assert!(stats.retries >= 4, "{stats:?}");
    drop(state);
    let log: Vec<String> = server.log.lock().unwrap().iter().map(|r| r.path.clone()).collect();
    assert_eq!(log.iter().filter(|p| *p == "/rest/v1/leads.json").count(), 5, "{log:?}");
}

#[test]
fn marketo_partial_failures_reject_only_their_records() {
    let server = fake::marketo();
    let mut config = marketo_config(&server.url);
    config.person_action = PersonAction::UpdateOnly;
    server.state.lock().unwrap().leads.insert(7, [("email".to_owned(), json!("ann@x.com"))].into());
    server.state.lock().unwrap().lists.insert(55, "a".into());
    let mut connector = Connector::build(&DestinationConfig::Marketo(config), fast()).unwrap().unwrap();
    let list = connector.prepare("a", None).unwrap();
    assert_eq!(list.as_deref(), Some("55"));
    let mut no_email = upsert("p3", "", None);
    no_email.fields[0].1 = None;
    let outcomes = connector
        .deliver(
            "a",
            list.as_deref(),
            "d1",
            &[upsert("p1", "ann@x.com", Some("Ann")), upsert("p2", "zed@x.com", None), no_email],
        )
        .unwrap();
    assert_eq!(
        outcomes,
        [
            accepted("7"),
            Outcome::Rejected { reason: "1004 Lead not found".into() },
            Outcome::Rejected { reason: "no value for the lookup field `email`".into() }
        ]
    );
    assert_eq!(server.requests("/rest/v1/leads.json")[0].json()["action"], "updateOnly");
    assert_eq!(server.state.lock().unwrap().leads.len(), 1);
}

#[test]
fn marketo_stops_at_the_daily_quota() {
    let server = fake::marketo();
    server.state.lock().unwrap().quota = Some(0);
    let mut connector =
        Connector::build(&DestinationConfig::Marketo(marketo_config(&server.url)), fast()).unwrap().unwrap();
    let err = connector.prepare("a", None).unwrap_err().to_string();
    assert!(err.contains("error 607: Daily quota reached"), "{err}");

    let mut config = marketo_config(&server.url);
    config.daily_quota = 10;
    let mut connector = Connector::build(&DestinationConfig::Marketo(config), fast()).unwrap().unwrap();
    connector.set_used_today(10);
    let before = server.log.lock().unwrap().len();
    let err = connector.prepare("a", None).unwrap_err().to_string();
    assert!(err.contains("daily quota of 10 calls used up"), "{err}");
    assert_eq!(server.log.lock().unwrap().len(), before, "no call is made over the quota");
}

#[test]
fn marketo_refuses_bad_credentials_clearly() {
    let server = fake::marketo();
    let mut config = marketo_config(&server.url);
    config.client_secret = Secret::new("wrong");
    let mut connector = Connector::build(&DestinationConfig::Marketo(config), fast()).unwrap().unwrap();
    let err = connector.test().unwrap_err().to_string();
    assert_eq!(err, "marketo: authentication refused (HTTP 401): Bad client credentials");
}

#[test]
fn transport_errors_never_carry_the_credentials_of_the_query() {
    // Nothing listens on the port: every attempt of the token request fails to connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut config = marketo_config(&url);
    config.client_secret = Secret::new("very-secret-value");
    let mut connector = Connector::build(&DestinationConfig::Marketo(config), fast()).unwrap().unwrap();
    let err = connector.test().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("marketo: token: gave up after 5 attempts: {url}/identity/oauth/token: ")),
        "{err}"
    );
    assert!(!err.contains("very-secret-value") && !err.contains("client_secret"), "{err}");
}

fn linkedin_config(url: &str) -> LinkedInConfig {
    LinkedInConfig {
        base_url: format!("{url}/rest"),
        access_token: Secret::new("li-token"),
        ad_account_id: "516848833".into(),
        version: "202511".into(),
        source_platform: "STREAMING".into(),
        batch_size: 1000,
        segment_type: LinkedInSegmentType::User,
    }
}

fn company(member: &str, name: Option<&str>, domain: Option<&str>) -> Change {
    Change {
        member: member.into(),
        action: ChangeAction::Upsert,
        identity: None,
        fields: vec![
            ("companyName".into(), name.map(str::to_owned)),
            ("primaryId".into(), Some(member.into())),
            ("companyWebsiteDomain".into(), domain.map(str::to_owned)),
        ],
        previous: None,
    }
}

#[test]
fn linkedin_company_segments_stream_companies_by_name() {
    let server = fake::linkedin("li-token");
    let config = LinkedInConfig { segment_type: LinkedInSegmentType::Company, ..linkedin_config(&server.url) };
    let mut connector = Connector::build(&DestinationConfig::Linkedin(config), fast()).unwrap().unwrap();
    let segment = connector.prepare("abm-accounts", None).unwrap().unwrap();
    assert_eq!(
        server.state.lock().unwrap().created[0],
        json!({"name": "abm-accounts", "sourcePlatform": "STREAMING", "sourceSegmentId": "abm-accounts",
               "account": "urn:li:sponsoredAccount:516848833", "type": "COMPANY",
               "destinations": [{"destination": "LINKEDIN"}]})
    );
    server.fail("/rest/dmpSegments/5000/companies", &[Fault::TooMany, Fault::ServerError]);
    let outcomes = connector
        .deliver(
            "abm-accounts",
            Some(&segment),
            "d1",
            &[
                company("sf:001A", Some(" Acme Corp "), Some("acme.com")),
                company("sf:001B", Some("Globex"), None),
                company("sf:001C", None, Some("initech.com")),
            ],
        )
        .unwrap();
    let acme = r#"{"companyName":"Acme Corp","companyWebsiteDomain":"acme.com"}"#;
    let globex = r#"{"companyName":"Globex"}"#;
    assert_eq!(outcomes, [accepted(acme), accepted(globex), Outcome::Rejected { reason: "no company name".into() }]);
    let calls = server.requests("/rest/dmpSegments/5000/companies");
    assert_eq!(calls.len(), 3, "a 429 and a 500 were retried");
    let last = calls.last().unwrap();
    assert_eq!(last.headers["x-restli-method"], "BATCH_CREATE");
    assert_eq!(last.headers["linkedin-version"], "202511");
    assert_eq!(last.headers["x-restli-protocol-version"], "2.0.0");
    assert_eq!(last.headers["authorization"], "Bearer li-token");
    assert_eq!(
        last.json(),
        json!({"elements": [
            {"action": "ADD", "companyName": "Acme Corp", "companyWebsiteDomain": "acme.com"},
            {"action": "ADD", "companyName": "Globex"}
        ]})
    );
    assert!(!last.body.contains("sf:001"), "the primary id is the member key, not sent");

    // Globex renamed: removed as it was added, added under the new name. Acme left the audience.
    let mut renamed = company("sf:001B", Some("Globex Corporation"), None);
    renamed.previous = Some(globex.into());
    let outcomes =
        connector.deliver("abm-accounts", Some(&segment), "d2", &[renamed, remove("sf:001A", Some(acme))]).unwrap();
    assert_eq!(outcomes, [accepted(r#"{"companyName":"Globex Corporation"}"#), Outcome::Accepted { remote: None }]);
    assert_eq!(
        server.requests("/rest/dmpSegments/5000/companies").last().unwrap().json(),
        json!({"elements": [
            {"action": "REMOVE", "companyName": "Globex"},
            {"action": "ADD", "companyName": "Globex Corporation"},
            {"action": "REMOVE", "companyName": "Acme Corp", "companyWebsiteDomain": "acme.com"}
        ]})
    );
    assert_eq!(
        server.state.lock().unwrap().segments[&5000].1,
        [r#"{"companyName":"Globex Corporation"}"#.to_owned()].into()
    );
    assert!(server.requests("/rest/dmpSegments/5000/users").is_empty());
}

#[test]
fn linkedin_creates_the_segment_and_streams_hashed_members() {
    let server = fake::linkedin("li-token");
    let mut connector =
        Connector::build(&DestinationConfig::Linkedin(linkedin_config(&server.url)), fast()).unwrap().unwrap();
    server.fail("/rest/dmpSegments/", &[Fault::TooMany, Fault::TooMany, Fault::ServerError]);
    let segment = connector.prepare("bodea", None).unwrap().unwrap();
    assert_eq!(segment, "5000");
    assert_eq!(
        server.state.lock().unwrap().created[0],
        json!({"name": "bodea", "sourcePlatform": "STREAMING", "sourceSegmentId": "bodea",
               "account": "urn:li:sponsoredAccount:516848833", "type": "USER",
               "destinations": [{"destination": "LINKEDIN"}]})
    );
    let find = &server.requests("/rest/dmpSegments")[0];
    assert_eq!(find.query["account"], "urn:li:sponsoredAccount:516848833");
    // Found, not created again.
    assert_eq!(connector.prepare("bodea", None).unwrap().unwrap(), "5000");
    assert_eq!(server.state.lock().unwrap().segments.len(), 1);

    let ann = "b7e0d8372a47f54bbefeb251ab9ac1e9e6b2d1983263de10196101be3961ed23"; // sha256("ann.lee@example.com")
    let bob = "5ff860bf1190596c7188ab851db691f0f3169c453936e9e1eba2f9a47f7a0018"; // sha256("bob@example.com")
    let new_bob = "15535db210b2ddd65607e7b3c5b0dcaccda81a4df71a9e1c3cb81d0bebcc67a2"; // sha256("new.bob@example.com")
    let outcomes = connector
        .deliver(
            "bodea",
            Some(&segment),
            "d1",
            &[upsert("p1", "  Ann.Lee@Example.COM ", None), upsert("p2", "bob@example.com", None)],
        )
        .unwrap();
    assert_eq!(outcomes, [accepted(ann), accepted(bob)]);
    let calls = server.requests("/rest/dmpSegments/5000/users");
    assert_eq!(calls.len(), 4, "two 429s and a 500 were retried");
    let last = calls.last().unwrap();
    assert_eq!(last.headers["linkedin-version"], "202511");
    assert_eq!(last.headers["x-restli-protocol-version"], "2.0.0");
    assert_eq!(last.headers["x-restli-method"], "BATCH_CREATE");
    assert_eq!(
        last.json(),
        json!({"elements": [
            {"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": ann}]},
            {"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": bob}]}
        ]})
    );
    assert!(!last.body.contains("example.com"), "no clear-text email leaves");

    // Bob's email changed: removed under the old hash, added under the new one. Ann left.
    let mut changed = upsert("p2", "new.bob@example.com", None);
    changed.previous = Some(bob.into());
    let outcomes = connector.deliver("bodea", Some(&segment), "d1", &[changed, remove("p1", Some(ann))]).unwrap();
    assert_eq!(outcomes, [accepted(new_bob), accepted(ann)]);
    assert_eq!(
        server.requests("/rest/dmpSegments/5000/users").last().unwrap().json(),
        json!({"elements": [
            {"action": "REMOVE", "userIds": [{"idType": "SHA256_EMAIL", "idValue": bob}]},
            {"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": new_bob}]},
            {"action": "REMOVE", "userIds": [{"idType": "SHA256_EMAIL", "idValue": ann}]}
        ]})
    );
    assert_eq!(server.state.lock().unwrap().segments[&5000].1, [new_bob.to_owned()].into());
}

#[test]
fn linkedin_gives_up_after_a_429_storm_and_names_it() {
    let server = fake::linkedin("li-token");
    let mut connector =
        Connector::build(&DestinationConfig::Linkedin(linkedin_config(&server.url)), fast()).unwrap().unwrap();
    let segment = connector.prepare("a", None).unwrap();
    server.fail("/rest/dmpSegments/", &[Fault::TooMany; 5]);
    let err =
        connector.deliver("a", segment.as_deref(), "d1", &[upsert("p1", "a@x.com", None)]).unwrap_err().to_string();
    assert_eq!(err, "linkedin: update segment users: gave up after 5 attempts: HTTP 429");
    let mut bad = Connector::build(
        &DestinationConfig::Linkedin(LinkedInConfig {
            access_token: Secret::new("expired"),
            ..linkedin_config(&server.url)
        }),
        fast(),
    )
    .unwrap()
    .unwrap();
    let err = bad.prepare("a", None).unwrap_err().to_string();
    assert_eq!(err, "linkedin: find segment: HTTP 401 Invalid access token");
}

#[test]
fn webhook_signs_bodies_and_retries_idempotently() {
    let receiver = fake::Server::start(
        fake::Receiver { key: b"whsec".to_vec(), ..fake::Receiver::default() },
        fake::receiver_handler(rapport_destinations::webhook::signature),
    );
    let config = DestinationConfig::Webhook(WebhookConfig {
        url: format!("{}/hooks/rapport", receiver.url),
        secret: Secret::new("whsec"),
        batch_size: 500,
    });
    let mut connector = Connector::build(&config, fast()).unwrap().unwrap();
    // The first answer is lost after the receiver applied the batch; the retry carries the same key.
    receiver.fail("/hooks", &[Fault::DropAfterApply, Fault::ServerError]);
    let outcomes = connector.deliver("bodea", None, "d1", &[upsert("p1", "ann@x.com", Some("Ann"))]).unwrap();
    assert_eq!(outcomes, [Outcome::Accepted { remote: None }]);
    let requests = receiver.requests("/hooks");
    assert_eq!(requests.len(), 3);
    let body = &requests[0].body;
    assert_eq!(
        body,
        r#"{"audience":"bodea","changes":[{"action":"upsert","attributes":{"email":"ann@x.com","firstName":"Ann"},"identity":"ann@x.com","member":"p1"}],"delivery":"d1"}"#
    );
    // HMAC-SHA256 of that body with key "whsec", computed independently (Python hmac).
    assert_eq!(
        requests[0].headers["x-rapport-signature"],
        "sha256=f4feaa209bf807314affee3c7ce2f81a709750044a73cea95c7eb67d63537a56"
    );
    assert!(requests.iter().all(|r| r.headers["idempotency-key"] == requests[0].headers["idempotency-key"]));
    let state = receiver.state.lock().unwrap();
    assert_eq!(state.upserts["p1"], 1, "applied once");
    assert_eq!(state.bad_signatures, 0);
}
