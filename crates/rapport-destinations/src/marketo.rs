//! Marketo Engage: lead upsert and static list membership over the REST API.
//!
//! - Authentication: `GET /identity/oauth/token?grant_type=client_credentials&client_id=…&client_secret=…`
//!   answers `access_token` and `expires_in` (seconds); the token goes in `Authorization: Bearer`. It is
//!   renewed a minute before it expires, and at once when a call answers `601` (invalid) or `602` (expired).
//! - Errors arrive in 200 answers: `success: false` with `errors: [{code, message}]` for the whole call, or a
//!   per-record `status: "skipped"` with `reasons`. `606` (more than 100 calls in 20 s), `615` (more than 10
//!   concurrent calls), `604` (timeout), `608` (temporarily unavailable) and `611` (system error) are retried
//!   with backoff; `607` (daily quota reached) stops the run. Every call, failed or not, counts against the
//!   configured daily quota, and a run stops before exceeding what is left of it.
//! - Upsert: `POST /rest/v1/leads.json` with `action` (`createOrUpdate` or `updateOnly`), `lookupField` (the
//!   dedupe field), optional `partitionName` and at most 300 records in `input`; `result[i]` answers `input[i]`
//!   with the lead `id` and `created`/`updated`, or `skipped` with reasons (e.g. `1004` lead not found).
//! - Static lists: `POST` (add) and `DELETE` (remove) `/rest/v1/lists/{listId}/leads.json` with
//!   `input: [{id}]`, at most 300 ids; each result answers `added`/`removed`, or `skipped` with reasons
//!   (`1015` "lead not in list" on a removal counts as removed: removals are idempotent). A list is found by
//!   name (`GET /rest/asset/v1/staticList/byName.json`) or created in the configured folder
//!   (`POST /rest/asset/v1/staticLists.json`, form-encoded `folder` and `name`).
//!
//! Every call is idempotent: an upsert by the dedupe field never creates a second lead, adding a member twice
//! or removing an absent one changes nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::info;

use crate::config::{MarketoConfig, PersonAction, SyncType};
use crate::http::{parse_json, Http, HttpRequest, Step};
use crate::{CallStats, Change, ChangeAction, Error, Outcome, Result};

/// Records per call (the documented maximum).
pub const BATCH_SIZE: usize = 300;

const SERVICE: &str = "marketo";

/// A token renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// The Marketo connector.
#[derive(Debug)]
pub struct Marketo {
    config: MarketoConfig,
    http: Http,
    token: Option<(String, Instant)>,
    used_today: u64,
}

/// Percent-encodes a query or form value (RFC 3986 unreserved characters pass).
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn error_code(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `code message` of the first element of a Marketo `errors` or `reasons` array.
fn first_reason(list: Option<&Value>) -> (String, String) {
    let first = list.and_then(|l| l.as_array()).and_then(|a| a.first());
    let code = first.and_then(|e| e.get("code")).map(error_code).unwrap_or_default();
    let message = first.and_then(|e| e.get("message")).and_then(|m| m.as_str()).unwrap_or_default().to_owned();
    (code, message)
}

impl Marketo {
    /// A connector for `config`.
    pub fn new(config: MarketoConfig, http: Http) -> Self {
        Self { config, http, token: None, used_today: 0 }
    }

    /// The HTTP work done so far.
    pub fn stats(&self) -> CallStats {
        self.http.stats()
    }

    /// Tells the connector how many calls earlier runs made today, so it keeps within the daily quota.
    pub fn set_used_today(&mut self, calls: u64) {
        self.used_today = calls;
    }

    fn base(&self) -> &str {
        self.config.base_url.trim_end_matches('/')
    }

    fn check_quota(&self) -> Result<()> {
        let used = self.used_today + self.http.stats().calls;
        if used >= self.config.daily_quota {
            return Err(Error::Remote {
                service: SERVICE,
                message: format!("daily quota of {} calls used up ({used} calls today)", self.config.daily_quota),
            });
        }
        Ok(())
    }

    /// A valid access token, fetched when missing or about to expire.
    fn token(&mut self) -> Result<String> {
        if let Some((token, expires)) = &self.token {
            if Instant::now() + TOKEN_MARGIN < *expires {
                return Ok(token.clone());
            }
        }
        self.check_quota()?;
        let url = format!(
            "{}/identity/oauth/token?grant_type=client_credentials&client_id={}&client_secret={}",
            self.base(),
            encode(&self.config.client_id),
            encode(self.config.client_secret.expose())
        );
        let response = self.http.send_retrying(SERVICE, "token", &HttpRequest::new("GET", url))?;
        let body = parse_json(SERVICE, "token", &response.body)?;
        let token = body.get("access_token").and_then(|t| t.as_str());
        let (Some(token), 200) = (token, response.status) else {
            let reason = body.get("error_description").or(body.get("error")).and_then(|e| e.as_str()).unwrap_or("");
            return Err(Error::Remote {
                service: SERVICE,
                message: format!("authentication refused (HTTP {}): {reason}", response.status),
            });
        };
        let expires_in = body.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(0);
        info!(expires_in, "marketo access token obtained");
        self.token = Some((token.to_owned(), Instant::now() + Duration::from_secs(expires_in)));
        Ok(token.to_owned())
    }

    /// One REST call with the token, Marketo's error codes and retries; answers the JSON of a successful call.
    fn call(&mut self, what: &str, method: &'static str, path: &str, body: Option<Body>) -> Result<Value> {
        let url = format!("{}{path}", self.base());
        let mut n = 1;
        loop {
            self.check_quota()?;
            let token = self.token()?;
            let mut request = HttpRequest::new(method, url.clone()).header("Authorization", format!("Bearer {token}"));
            request = match &body {
                Some(Body::Json(value)) => request.json(value),
                Some(Body::Form(text)) => {
                    let mut r = request.header("Content-Type", "application/x-www-form-urlencoded");
                    r.body = Some(text.clone().into_bytes());
                    r
                }
                None => request,
            };
            let step = match self.http.send(&request) {
                Err(reason) => Step::Retry { reason, after: None },
                Ok(response) if response.retryable() => {
                    Step::Retry { reason: format!("HTTP {}", response.status), after: response.retry_after }
                }
                Ok(response) if response.status != 200 => {
                    Step::Fail(Error::Remote { service: SERVICE, message: format!("{what}: HTTP {}", response.status) })
                }
                Ok(response) => {
                    let value = parse_json(SERVICE, what, &response.body)?;
                    if value.get("success").and_then(|s| s.as_bool()) == Some(true) {
                        Step::Done(value)
                    } else {
                        let (code, message) = first_reason(value.get("errors"));
                        match code.as_str() {
                            "601" | "602" => {
                                // The token is invalid or expired: fetch a new one and try again.
                                self.token = None;
                                Step::Retry { reason: format!("{code} {message}"), after: None }
                            }
                            "604" | "606" | "608" | "611" | "615" => {
                                Step::Retry { reason: format!("{code} {message}"), after: None }
                            }
                            "702" => Step::Done(value),
                            _ => Step::Fail(Error::Remote {
                                service: SERVICE,
                                message: format!("{what}: error {code}: {message}"),
                            }),
                        }
                    }
                }
            };
            match step {
                Step::Done(value) => return Ok(value),
                Step::Fail(err) => return Err(err),
                Step::Retry { reason, after } => {
                    // `Http::retrying` cannot run this loop: an attempt needs the token, which needs `self`.
                    self.http.backoff(n, SERVICE, what, &reason, after)?;
                    n += 1;
                }
            }
        }
    }
}

enum Body {
    Json(Value),
    Form(String),
}
impl Marketo {
    /// Finds the static list named after `audience` (or creates it in the configured folder); `None` when the
    /// destination syncs profiles only.
    pub fn prepare(&mut self, audience: &str, remote: Option<&str>) -> Result<Option<String>> {
        if self.config.sync_type == SyncType::ProfileOnly {
            return Ok(None);
        }
        if let Some(remote) = remote {
            return Ok(Some(remote.to_owned()));
        }
        let found = self.call(
            "find static list",
            "GET",
            &format!("/rest/asset/v1/staticList/byName.json?name={}", encode(audience)),
            None,
        )?;
        if let Some(id) = found.pointer("/result/0/id") {
            return Ok(Some(error_code(id)));
        }
        let Some(folder) = self.config.list_folder_id else {
            return Err(Error::Options(format!(
                "marketo has no static list named `{audience}` and `list_folder_id` is not set to create one"
            )));
        };
        let form =
            format!("folder={}&name={}", encode(&format!(r#"{{"id":{folder},"type":"Folder"}}"#)), encode(audience));
        let created =
            self.call("create static list", "POST", "/rest/asset/v1/staticLists.json", Some(Body::Form(form)))?;
        let id = created.pointer("/result/0/id").map(error_code).ok_or_else(|| Error::Remote {
            service: SERVICE,
            message: "create static list: the answer has no list id".to_owned(),
        })?;
        info!(list = %id, "marketo static list created");
        Ok(Some(id))
    }

    /// Checks the credentials (fetches a token).
    pub fn test(&mut self) -> Result<String> {
        self.token = None;
        self.token()?;
        Ok("marketo: credentials accepted, access token obtained".to_owned())
    }

    /// Upserts the batch's leads and adds them to the list, then removes the removed members from it.
    pub fn deliver(&mut self, list: Option<&str>, batch: &[Change]) -> Result<Vec<Outcome>> {
        if batch.len() > BATCH_SIZE {
            return Err(Error::Options(format!("a marketo batch holds at most {BATCH_SIZE} changes")));
        }
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        let upserts: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].action == ChangeAction::Upsert).collect();
        let removes: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].action == ChangeAction::Remove).collect();
        self.upsert(batch, &upserts, &mut outcomes)?;
        if let Some(list) = list {
            let added: Vec<(usize, String)> = upserts
                .iter()
                .filter_map(|&i| match &outcomes[i] {
                    Some(Outcome::Accepted { remote: Some(id) }) => Some((i, id.clone())),
                    _ => None,
                })
                .collect();
            self.membership(list, "POST", &added, &["added"], &mut outcomes)?;
            let removed: Vec<(usize, String)> =
                removes.iter().filter_map(|&i| batch[i].previous.clone().map(|id| (i, id))).collect();
            self.membership(list, "DELETE", &removed, &["removed"], &mut outcomes)?;
        }
        // Removals of members Marketo never got, and every removal of a profile-only sync, need no call.
        Ok(outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Accepted { remote: None })).collect())
    }

    fn upsert(&mut self, batch: &[Change], indexes: &[usize], outcomes: &mut [Option<Outcome>]) -> Result<()> {
        let lookup = self.config.lookup_field.clone();
        let audience_only = self.config.sync_type == SyncType::AudienceOnly;
        let mut sent = Vec::new();
        let mut input = Vec::new();
        for &i in indexes {
            let change = &batch[i];
            let key = change.fields.iter().find(|(name, _)| *name == lookup).and_then(|(_, v)| v.clone());
            let Some(key) = key.filter(|k| !k.is_empty()) else {
                outcomes[i] = Some(Outcome::Rejected { reason: format!("no value for the lookup field `{lookup}`") });
                continue;
            };
            let mut lead = serde_json::Map::new();
            if audience_only {
                lead.insert(lookup.clone(), Value::String(key));
            } else {
                for (name, value) in &change.fields {
                    lead.insert(name.clone(), value.clone().map(Value::String).unwrap_or(Value::Null));
                }
            }
            input.push(Value::Object(lead));
            sent.push(i);
        }
        if input.is_empty() {
            return Ok(());
        }
        let action = match self.config.person_action {
            PersonAction::CreateOrUpdate => "createOrUpdate",
            PersonAction::UpdateOnly => "updateOnly",
        };
        let mut body = json!({"action": action, "lookupField": lookup, "input": input});
        if let Some(partition) = &self.config.partition {
            body["partitionName"] = Value::String(partition.clone());
        }
        let answer = self.call("upsert leads", "POST", "/rest/v1/leads.json", Some(Body::Json(body)))?;
        let results = answer.get("result").and_then(|r| r.as_array()).cloned().unwrap_or_default();
        if results.len() != sent.len() {
            return Err(Error::Remote {
                service: SERVICE,
                message: format!("upsert leads: {} results for {} records", results.len(), sent.len()),
            });
        }
        for (&i, result) in sent.iter().zip(&results) {
            let status = result.get("status").and_then(|s| s.as_str()).unwrap_or("");
            outcomes[i] = Some(match (status, result.get("id")) {
                ("created" | "updated", Some(id)) => Outcome::Accepted { remote: Some(error_code(id)) },
                _ => {
                    let (code, message) = first_reason(result.get("reasons"));
                    Outcome::Rejected { reason: format!("{code} {message}").trim().to_owned() }
                }
            });
        }
        Ok(())
    }

    /// Adds (`POST`) or removes (`DELETE`) lead ids from the list; `ok` are the statuses that count as done.
    fn membership(
        &mut self,
        list: &str,
        method: &'static str,
        members: &[(usize, String)],
        ok: &[&str],
        outcomes: &mut [Option<Outcome>],
    ) -> Result<()> {
        if members.is_empty() {
            return Ok(());
        }
        let input: Vec<Value> = members
            .iter()
            .map(|(_, id)| id.parse::<u64>().map(|n| json!({"id": n})).unwrap_or_else(|_| json!({"id": id})))
            .collect();
        let what = if method == "POST" { "add to list" } else { "remove from list" };
        let path = format!("/rest/v1/lists/{}/leads.json", encode(list));
        let answer = self.call(what, method, &path, Some(Body::Json(json!({"input": input}))))?;
        let mut by_id: BTreeMap<String, Outcome> = BTreeMap::new();
        for result in answer.get("result").and_then(|r| r.as_array()).into_iter().flatten() {
            let Some(id) = result.get("id").map(error_code) else { continue };
            let status = result.get("status").and_then(|s| s.as_str()).unwrap_or("");
            let (code, message) = first_reason(result.get("reasons"));
            let done = ok.contains(&status) || (method == "DELETE" && code == "1015");
            let outcome = if done {
                Outcome::Accepted { remote: Some(id.clone()) }
            } else {
                Outcome::Rejected { reason: format!("{what}: {code} {message}").trim().to_owned() }
            };
            by_id.insert(id, outcome);
        }
        for (i, id) in members {
            outcomes[*i] =
                Some(by_id.get(id).cloned().unwrap_or_else(|| Outcome::Rejected {
                    reason: format!("{what}: lead {id} missing from the answer"),
                }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(encode(r#"{"id":12,"type":"Folder"}"#), "%7B%22id%22%3A12%2C%22type%22%3A%22Folder%22%7D");
    }
}
