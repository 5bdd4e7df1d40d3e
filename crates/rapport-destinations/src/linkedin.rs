//! LinkedIn Matched Audiences (people): DMP segments of hashed emails, over the versioned Marketing API.
//!
//! - Every call carries `Authorization: Bearer <token>`, `LinkedIn-Version: YYYYMM` and
//!   `X-Restli-Protocol-Version: 2.0.0`.
//! - A segment per audience: looked up first with the finder `GET /dmpSegments?q=account&account=<urn>` (by
//!   `sourceSegmentId`, the audience name, so a lost answer never creates a second one), created otherwise with
//!   `POST /dmpSegments` (`name`, `sourcePlatform`, `sourceSegmentId`, `account`
//!   `urn:li:sponsoredAccount:<id>`, `type: USER`, `destinations: [{destination: LINKEDIN}]`); the new id is
//!   the `x-restli-id` header of the 201 answer.
//! - Members: `POST /dmpSegments/{id}/users` with `X-RestLi-Method: BATCH_CREATE` and
//!   `{"elements": [{"action": "ADD"|"REMOVE", "userIds": [{"idType": "SHA256_EMAIL", "idValue": …}]}]}`;
//!   the answer has one `{status}` per element (201 on success; adding an existing id or removing an absent
//!   one also answers 201, so retries are harmless). A member whose email changed is removed under the old
//!   hash and added under the new one.
//! - 429 and 5xx answers are retried with backoff (honouring `Retry-After`).
//!
//! No clear-text email leaves Rapport: the id is `hex(sha256(lowercase(trim(email))))`, lower-case hex, no
//! salt.
//!
//! **Companies** (`segment_type: company`, the "(Companies) LinkedIn" destination for account audiences): the
//! segment is created with `type: COMPANY`, and members go to `POST /dmpSegments/{id}/companies` (same
//! `BATCH_CREATE` method and headers) as `{"elements": [{"action": "ADD"|"REMOVE", "companyName": …,
//! "companyWebsiteDomain": …}]}`: the mapped target `companyName` is required, `companyWebsiteDomain` is sent
//! when mapped and present. What was added is remembered, so a removal (or a renamed company's replacement)
//! names the company exactly as it was added. The answer has one `{status}` per element, as for users.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::config::{LinkedInConfig, LinkedInSegmentType};
use crate::http::{parse_json, Http, HttpRequest};
use crate::marketo::encode;
use crate::{CallStats, Change, ChangeAction, Error, Outcome, Result};

const SERVICE: &str = "linkedin";

/// The `SHA256_EMAIL` id of an email: SHA-256 of the trimmed, lower-cased UTF-8 text, in lower-case hex.
pub fn email_sha256(email: &str) -> String {
    hex(&Sha256::digest(email.trim().to_lowercase().as_bytes()))
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// The LinkedIn connector.
#[derive(Debug)]
pub struct LinkedIn {
    config: LinkedInConfig,
    http: Http,
}

impl LinkedIn {
    /// A connector for `config`.
    pub fn new(config: LinkedInConfig, http: Http) -> Self {
        Self { config, http }
    }

    /// The HTTP work done so far.
    pub fn stats(&self) -> CallStats {
        self.http.stats()
    }

    /// Changes per call.
    pub fn batch_size(&self) -> usize {
        self.config.batch_size
    }

    fn request(&self, method: &'static str, path: &str) -> HttpRequest {
        HttpRequest::new(method, format!("{}{path}", self.config.base_url.trim_end_matches('/')))
            .header("Authorization", format!("Bearer {}", self.config.access_token.expose()))
            .header("LinkedIn-Version", self.config.version.clone())
            .header("X-Restli-Protocol-Version", "2.0.0")
    }

    fn account_urn(&self) -> String {
        format!("urn:li:sponsoredAccount:{}", self.config.ad_account_id)
    }

    fn refused(what: &str, status: u16, body: &str) -> Error {
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Error::Remote { service: SERVICE, message: format!("{what}: HTTP {status} {message}").trim().to_owned() }
    }

    /// Finds or creates the DMP segment of `audience`.
    pub fn prepare(&mut self, audience: &str, remote: Option<&str>) -> Result<String> {
        if let Some(remote) = remote {
            return Ok(remote.to_owned());
        }
        let urn = self.account_urn();
        let find = self.request("GET", &format!("/dmpSegments?q=account&account={}", encode(&urn)));
        let response = self.http.send_retrying(SERVICE, "find segment", &find)?;
        if response.status != 200 {
            return Err(Self::refused("find segment", response.status, &response.body));
        }
        let found = parse_json(SERVICE, "find segment", &response.body)?;
        let existing = found
            .get("elements")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
            .find(|segment| segment.get("sourceSegmentId").and_then(|s| s.as_str()) == Some(audience));
        if let Some(id) = existing.and_then(|s| s.get("id")) {
            return Ok(id.as_str().map(str::to_owned).unwrap_or_else(|| id.to_string()));
        }
        let body = json!({
            "name": audience,
            "sourcePlatform": self.config.source_platform,
            "sourceSegmentId": audience,
            "account": urn,
            "type": match self.config.segment_type {
                LinkedInSegmentType::User => "USER",
                LinkedInSegmentType::Company => "COMPANY",
            },
            "destinations": [{"destination": "LINKEDIN"}],
        });
        let create = self.request("POST", "/dmpSegments").json(&body);
        let response = self.http.send_retrying(SERVICE, "create segment", &create)?;
        if response.status != 201 {
            return Err(Self::refused("create segment", response.status, &response.body));
        }
        let id = response.header("x-restli-id").map(str::to_owned).ok_or_else(|| Error::Remote {
            service: SERVICE,
            message: "create segment: the answer has no x-restli-id header".to_owned(),
        })?;
        info!(segment = %id, "linkedin dmp segment created");
        Ok(id)
    }

    /// Checks the token against the ad account.
    pub fn test(&mut self) -> Result<String> {
        let request = self.request("GET", &format!("/adAccounts/{}", self.config.ad_account_id));
        let response = self.http.send_retrying(SERVICE, "read ad account", &request)?;
        if response.status != 200 {
            return Err(Self::refused("read ad account", response.status, &response.body));
        }
        Ok(format!("linkedin: token accepted for ad account {}", self.config.ad_account_id))
    }

    /// Adds and removes the batch's members in the segment.
    pub fn deliver(&mut self, segment: Option<&str>, batch: &[Change]) -> Result<Vec<Outcome>> {
        let segment = segment.ok_or_else(|| Error::Options("linkedin: no segment prepared".to_owned()))?;
        if self.config.segment_type == LinkedInSegmentType::Company {
            return self.deliver_companies(segment, batch);
        }
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        // (change index, element) pairs; a change may need two elements (remove the old hash, add the new).
        let mut elements: Vec<(usize, Value)> = Vec::new();
        let element = |action: &str, hash: &str| json!({"action": action, "userIds": [{"idType": "SHA256_EMAIL", "idValue": hash}]});
        for (i, change) in batch.iter().enumerate() {
            let hash = change.identity.as_deref().filter(|e| !e.trim().is_empty()).map(email_sha256);
            match change.action {
                ChangeAction::Upsert => {
                    let Some(hash) = hash else {
                        outcomes[i] = Some(Outcome::Rejected { reason: "no email to hash".to_owned() });
                        continue;
                    };
                    if let Some(old) = change.previous.as_deref().filter(|old| *old != hash) {
                        elements.push((i, element("REMOVE", old)));
                    }
                    elements.push((i, element("ADD", &hash)));
                    outcomes[i] = Some(Outcome::Accepted { remote: Some(hash) });
                }
                ChangeAction::Remove => match change.previous.clone().or(hash) {
                    Some(old) => {
                        elements.push((i, element("REMOVE", &old)));
                        outcomes[i] = Some(Outcome::Accepted { remote: Some(old) });
                    }
                    None => outcomes[i] = Some(Outcome::Accepted { remote: None }),
                },
            }
        }
        self.send_elements(segment, "users", &elements, &mut outcomes)?;
        Ok(outcomes.into_iter().map(|o| o.expect("every change has an outcome")).collect())
    }

    /// The company fields of a change, as sent (`companyName` required, `companyWebsiteDomain` when present).
    fn company(change: &Change) -> Option<serde_json::Map<String, Value>> {
        let field = |name: &str| {
            change
                .fields
                .iter()
                .find(|(t, _)| t == name)
                .and_then(|(_, v)| v.as_deref())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut company = serde_json::Map::new();
        company.insert("companyName".to_owned(), Value::String(field("companyName")?));
        if let Some(domain) = field("companyWebsiteDomain") {
            company.insert("companyWebsiteDomain".to_owned(), Value::String(domain));
        }
        Some(company)
    }

    /// Adds and removes the batch's companies in a company segment; what is remembered of a company is the
    /// JSON of the fields it was added with.
    fn deliver_companies(&mut self, segment: &str, batch: &[Change]) -> Result<Vec<Outcome>> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        let mut elements: Vec<(usize, Value)> = Vec::new();
        let element = |action: &str, company: &serde_json::Map<String, Value>| {
            let mut element = serde_json::Map::new();
            element.insert("action".to_owned(), Value::String(action.to_owned()));
            element.extend(company.clone());
            Value::Object(element)
        };
        let previous = |change: &Change| {
            change
                .previous
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .and_then(|v| v.as_object().cloned())
        };
        for (i, change) in batch.iter().enumerate() {
            match change.action {
                ChangeAction::Upsert => {
                    let Some(company) = Self::company(change) else {
                        outcomes[i] = Some(Outcome::Rejected { reason: "no company name".to_owned() });
                        continue;
                    };
                    if let Some(old) = previous(change).filter(|old| *old != company) {
                        elements.push((i, element("REMOVE", &old)));
                    }
                    elements.push((i, element("ADD", &company)));
                    outcomes[i] = Some(Outcome::Accepted { remote: Some(Value::Object(company).to_string()) });
                }
                ChangeAction::Remove => match previous(change) {
                    Some(old) => {
                        elements.push((i, element("REMOVE", &old)));
                        outcomes[i] = Some(Outcome::Accepted { remote: None });
                    }
                    None => outcomes[i] = Some(Outcome::Accepted { remote: None }),
                },
            }
        }
        self.send_elements(segment, "companies", &elements, &mut outcomes)?;
        Ok(outcomes.into_iter().map(|o| o.expect("every change has an outcome")).collect())
    }

    /// Sends `elements` (each with the index of its change) to `/dmpSegments/{segment}/{kind}` with
    /// `BATCH_CREATE`, and marks the changes whose elements were refused.
    fn send_elements(
        &mut self,
        segment: &str,
        kind: &str,
        elements: &[(usize, Value)],
        outcomes: &mut [Option<Outcome>],
    ) -> Result<()> {
        let what = format!("update segment {kind}");
        let what = what.as_str();
        if !elements.is_empty() {
            let body = json!({"elements": elements.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>()});
            let request = self
                .request("POST", &format!("/dmpSegments/{}/{kind}", encode(segment)))
                .header("X-RestLi-Method", "BATCH_CREATE")
                .json(&body);
            let response = self.http.send_retrying(SERVICE, what, &request)?;
            if response.status != 200 {
                return Err(Self::refused(what, response.status, &response.body));
            }
            let answer = parse_json(SERVICE, what, &response.body)?;
            let statuses = answer.get("elements").and_then(|e| e.as_array()).cloned().unwrap_or_default();
            if statuses.len() != elements.len() {
                return Err(Error::Remote {
                    service: SERVICE,
                    message: format!("{what}: {} statuses for {} elements", statuses.len(), elements.len()),
                });
            }
            for ((i, _), status) in elements.iter().zip(&statuses) {
                let code = status.get("status").and_then(|s| s.as_u64()).unwrap_or(0);
                if !(200..300).contains(&code) {
                    let message = status.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or("");
                    outcomes[*i] =
                        Some(Outcome::Rejected { reason: format!("status {code} {message}").trim().to_owned() });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_documented_vector() {
        // help/data-prep/functions.md: sha256("my text", "UTF-8").
        let vector = "7330d2b39ca35eaf4cb95fc846c21ee6a39af698154a83a586ee270a0d372104";
        assert_eq!(email_sha256("my text"), vector);
        // Trimmed and lower-cased before hashing.
        assert_eq!(email_sha256("  My Text \n"), vector);
    }
}
