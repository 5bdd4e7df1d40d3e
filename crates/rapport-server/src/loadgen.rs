//! The load generator behind `rapport bench stream`: `concurrency` keep-alive connections send person records
//! shaped like Bodea's Salesforce contacts (about 1.2 KB each) in multi-message requests until `messages` have
//! been sent, timing each request from its first byte written to its answer read (the acknowledgement
//! latency: the server answers only after the commit).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::client::HttpConnection;
use crate::{Error, Result};

/// The Salesforce org id of Bodea's sample data (as `rapport_sample::SALESFORCE_ORG_ID`).
const ORG: &str = "00D5g00000BodeaEAB";
const FIRST: &[&str] = &["Noah", "Hiroshi", "Amara", "Lena", "Mateo", "Priya", "Olivia", "Kwame", "Sofia", "Jonas"];
const LAST: &[&str] = &["García", "Silva", "Okafor", "Müller", "Rossi", "Sharma", "Smith", "Mensah", "Nowak", "Berg"];
const TITLES: &[&str] = &["Account Executive", "CIO", "VP Marketing", "IT Manager", "Procurement Lead", "CFO"];
const DEPARTMENTS: &[&str] = &["Sales", "IT", "Marketing", "Finance", "Operations"];
const DOMAINS: &[&str] = &["umbrellabank.de", "initech.com", "globex.io", "acme.co.uk", "hooli.com"];

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server, as `http://host:port`.
    pub url: String,
    /// The inlet id.
    pub inlet: String,
    /// The API token sent as `Authorization: Bearer` (a role that may stream: engineer or admin).
    pub token: String,
    /// Messages to send in all.
    pub messages: u64,
    /// Messages per request (1 uses `POST /collection/{inlet}`, more `POST /collection/batch/{inlet}`).
    pub batch: usize,
    /// Concurrent connections.
    pub concurrency: usize,
    /// The dataset every message targets.
    pub dataset: String,
    /// The schema id every message claims.
    pub schema_ref: String,
    /// Person numbers start at `seed × 10^9`, so runs with different seeds add new people and runs with the
    /// same seed update the same ones.
    pub seed: u64,
}

/// Acknowledgement latencies of the requests, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The endpoint.
    pub url: String,
    /// Messages sent.
    pub messages: u64,
    /// Messages acknowledged as stored.
    pub accepted: u64,
    /// Messages refused or failed (per-message status other than success, or a whole request failing).
    pub failed: u64,
    /// Requests sent.
    pub requests: u64,
    /// Messages per request.
    pub batch: usize,
    /// Connections.
    pub concurrency: usize,
    /// Wall time from the first request to the last answer, in seconds.
    pub seconds: f64,
    /// Acknowledged messages per second of wall time.
    pub messages_per_second: f64,
    /// Requests per second of wall time.
    pub requests_per_second: f64,
    /// Per-request acknowledgement latency.
    pub latency_ms: Latency,
    /// Requests per HTTP status.
    pub statuses: BTreeMap<u16, u64>,
}

/// One person record, shaped like a mapped Bodea Salesforce contact, in its message envelope.
pub fn person_message(out: &mut String, number: u64, dataset: &str, schema_ref: &str) {
    let n = number as usize;
    let (first, last) = (FIRST[n % FIRST.len()], LAST[(n / FIRST.len()) % LAST.len()]);
    let id = format!("003St{number:013}");
    let account = format!("001St{:013}", number / 25);
    let email = format!("{}.{}{number}@{}", first.to_lowercase(), last.to_lowercase(), DOMAINS[n % DOMAINS.len()]);
    let key = |id: &str| {
        format!(
            r#"{{"sourceID":"{id}","sourceInstanceID":"{ORG}","sourceKey":"{id}@{ORG}.Salesforce","sourceType":"Salesforce"}}"#
        )
    };
    let (person_key, account_key) = (key(&id), key(&account));
    let _ = write!(
        out,
        r#"{{"header":{{"schemaRef":{{"id":"{schema_ref}","contentType":"application/vnd.adobe.xed-full+json;version=1"}},"datasetId":"{dataset}","source":{{"name":"rapport bench stream"}}}},"body":{{"xdmMeta":{{"schemaRef":{{"id":"{schema_ref}","contentType":"application/vnd.adobe.xed-full+json;version=1"}}}},"xdmEntity":{{"b2b":{{"accountKey":{account_key},"personKey":{person_key},"personSource":"Web","personType":"Contact"}},"extSourceSystemAudit":{{"createdDate":"2025-03-11T12:28:23.000Z","lastUpdatedDate":"2026-11-{day:02}T19:31:36.000Z"}},"extendedWorkDetails":{{"departments":["{department}"],"jobTitle":"{title}"}},"person":{{"name":{{"firstName":"{first}","fullName":"{first} {last}","lastName":"{last}"}}}},"personComponents":[{{"personSource":"Web","sourceAccountKey":{account_key},"sourcePersonKey":{person_key},"workEmail":{{"address":"{email}"}}}}],"workAddress":{{"city":"San Francisco","country":"United States"}},"workEmail":{{"address":"{email}"}},"workPhone":{{"number":"(834) 555-{phone:04}"}}}}}}}}"#,
        day = 1 + n % 28,
        department = DEPARTMENTS[n % DEPARTMENTS.len()],
        title = TITLES[n % TITLES.len()],
        phone = n % 10_000,
    );
}

/// `host:port` and the path prefix of an `http://host:port` URL.
fn authority(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::Load(format!("--url `{url}`: only http://host:port is supported")))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(Error::Load(format!("--url `{url}`: expected http://host:port without a path")));
    }
    Ok(host.to_owned())
}

/// Runs the load on a new runtime and reports it.
pub fn run(options: &LoadOptions) -> Result<LoadReport> {
    if options.batch == 0 || options.concurrency == 0 || options.messages == 0 {
        return Err(Error::Load("--messages, --batch and --concurrency must be at least 1".to_owned()));
    }
    let host = authority(&options.url)?;
    let path = if options.batch == 1 {
        format!("/collection/{}", options.inlet)
    } else {
        format!("/collection/batch/{}", options.inlet)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..options.concurrency {
            let (next, host, path, options) = (next.clone(), host.clone(), path.clone(), options.clone());
            tasks.push(tokio::spawn(async move { connection(&host, &path, &options, &next).await }));
        }
        let mut tally = Tally::default();
        for task in tasks {
            let part = task.await.map_err(|e| Error::Load(format!("a connection task failed: {e}")))??;
            tally.merge(part);
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok(tally.report(format!("{}{path}", options.url.trim_end_matches('/')), options, seconds))
    })
}

#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<f64>,
    messages: u64,
    accepted: u64,
    statuses: BTreeMap<u16, u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.messages += other.messages;
        self.accepted += other.accepted;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
    }

    fn report(mut self, url: String, options: &LoadOptions, seconds: f64) -> LoadReport {
        self.latencies.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if self.latencies.is_empty() {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
            self.latencies[rank - 1]
        };
        let requests = self.latencies.len() as u64;
        let mean = if requests == 0 { 0.0 } else { self.latencies.iter().sum::<f64>() / requests as f64 };
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        LoadReport {
            url,
            messages: self.messages,
            accepted: self.accepted,
            failed: self.messages - self.accepted,
            requests,
            batch: options.batch,
            concurrency: options.concurrency,
            seconds: round(seconds),
            messages_per_second: (self.accepted as f64 / seconds).round(),
            requests_per_second: round(requests as f64 / seconds),
            latency_ms: Latency {
                p50: round(at(0.50)),
                p90: round(at(0.90)),
                p99: round(at(0.99)),
                max: round(at(1.0)),
                mean: round(mean),
            },
            statuses: self.statuses,
        }
    }
}

/// One connection: takes the next slice of message numbers until all are sent.
async fn connection(host: &str, path: &str, options: &LoadOptions, next: &AtomicU64) -> Result<Tally> {
    let mut conn = HttpConnection::connect(host).await?.with_bearer(options.token.clone());
    let mut tally = Tally::default();
    let mut body = String::with_capacity(options.batch * 1400 + 16);
    let base = options.seed.saturating_mul(1_000_000_000);
    loop {
        let start = next.fetch_add(options.batch as u64, Ordering::Relaxed);
        if start >= options.messages {
            break;
        }
        let end = (start + options.batch as u64).min(options.messages);
        body.clear();
        if options.batch > 1 {
            body.push_str(r#"{"messages":["#);
        }
        for number in start..end {
            if number > start {
                body.push(',');
            }
            person_message(&mut body, base + number, &options.dataset, &options.schema_ref);
        }
        if options.batch > 1 {
            body.push_str("]}");
        }
        let sent = Instant::now();
        let response = conn.request("POST", path, body.as_bytes()).await?;
        tally.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        *tally.statuses.entry(response.status).or_default() += 1;
        let count = end - start;
        tally.messages += count;
        tally.accepted += match response.status {
            200 => count,
            207 => {
                let answer = response.json()?;
                let responses = answer["responses"].as_array().map(Vec::as_slice).unwrap_or_default();
                responses.iter().filter(|r| r.get("statusCode").is_none()).count() as u64
            }
            _ => 0,
        };
    }
    Ok(tally)
}

/// Sends `bodies` one after the other, each alone in its request (`POST path` on one keep-alive connection to
/// `url`), each sent only once the previous answer was read. Returns each answer's status and latency (first
/// byte sent to answer read), in seconds: what one record at a time costs end to end. `token` is sent as
/// `Authorization: Bearer`.
pub fn post_one_by_one(url: &str, token: &str, path: &str, bodies: &[Vec<u8>]) -> Result<Vec<(u16, f64)>> {
    let host = authority(url)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut connection = crate::client::HttpConnection::connect(&host).await?.with_bearer(token);
        let mut out = Vec::with_capacity(bodies.len());
        for body in bodies {
            let started = Instant::now();
            let response = connection.request("POST", path, body).await?;
            out.push((response.status, started.elapsed().as_secs_f64()));
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn person_messages_are_json_envelopes_of_distinct_people() {
        let (mut a, mut b) = (String::new(), String::new());
        person_message(&mut a, 7, "web.person", "s");
        person_message(&mut b, 8, "web.person", "s");
        let a: serde_json::Value = serde_json::from_str(&a).unwrap();
        let b: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(a["header"]["datasetId"], "web.person");
        assert_eq!(
            a["body"]["xdmEntity"]["b2b"]["personKey"]["sourceKey"],
            "003St0000000000007@00D5g00000BodeaEAB.Salesforce"
        );
        assert_ne!(a["body"]["xdmEntity"]["workEmail"], b["body"]["xdmEntity"]["workEmail"]);
    }

    #[test]
    fn only_plain_http_authorities_are_accepted() {
        assert_eq!(authority("http://127.0.0.1:8080/").unwrap(), "127.0.0.1:8080");
        assert!(authority("https://x:1").is_err());
        assert!(authority("http://x:1/collection").is_err());
    }
}
