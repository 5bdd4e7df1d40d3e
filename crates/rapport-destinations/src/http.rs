//! The outbound HTTP seam: one blocking client and the retry loop every streaming destination shares.
//!
//! A destination's config names its base URL, so tests point a real client at a local server: the seam is the
//! URL, not a trait. Requests and responses are plain bytes; the destinations build and read the JSON.
//!
//! Retries: a step answers [`Step::Retry`] for 429, 5xx, dropped connections and timeouts (and for the
//! vendor's own rate-limit codes in 200 answers); the loop sleeps `min(max, base·2^(n-1))` with equal jitter
//! (a random delay between half and all of it), or the server's `Retry-After` when it gives one (capped at
//! the maximum), and gives up after `max_attempts` attempts with the last reason.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::{CallStats, Error, Result};

/// How hard a destination retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The first backoff delay, in milliseconds.
    pub base_delay_ms: u64,
    /// The longest backoff delay, in milliseconds.
    pub max_delay_ms: u64,
    /// The timeout of one request (connect, send, read), in milliseconds.
    pub timeout_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 6, base_delay_ms: 500, max_delay_ms: 30_000, timeout_ms: 30_000 }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based), jittered; `hint` is the server's `Retry-After`.
    pub fn delay(&self, retry: u32, hint: Option<Duration>) -> Duration {
        let max = Duration::from_millis(self.max_delay_ms);
        if let Some(hint) = hint {
            return hint.min(max);
        }
        let exponential = self.base_delay_ms.saturating_mul(1u64 << retry.saturating_sub(1).min(30));
        let full = exponential.min(self.max_delay_ms);
        let half = full / 2;
        Duration::from_millis(half + fastrand::u64(0..=full - half))
    }
}

/// One request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, `DELETE`.
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: &'static str, url: String) -> Self {
        Self { method, url, headers: Vec::new(), body: None }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets a JSON body.
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.headers.push(("Content-Type", "application/json".to_owned()));
        self.body = Some(body.to_string().into_bytes());
        self
    }
}

/// One response, whatever its status.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// `Retry-After`, when the server sent seconds.
    pub retry_after: Option<Duration>,
    /// Other headers the destinations read, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True for 429 and 5xx: worth retrying.
    pub fn retryable(&self) -> bool {
        self.status == 429 || self.status >= 500
    }
}

/// What one attempt of a step concluded.
#[derive(Debug)]
pub enum Step<T> {
    /// Finished.
    Done(T),
    /// Worth retrying after a backoff (or after `after`).
    Retry {
        /// Why, for the error if every attempt fails.
        reason: String,
        /// The server's hint.
        after: Option<Duration>,
    },
    /// Failed for good.
    Fail(Error),
}

/// The blocking client with its counters.
#[derive(Debug)]
pub struct Http {
    agent: ureq::Agent,
    retry: RetryPolicy,
    stats: CallStats,
}

const READ_HEADERS: [&str; 3] = ["x-restli-id", "location", "content-type"];

impl Http {
    /// A client with this retry policy.
    pub fn new(retry: RetryPolicy) -> Self {
        let timeout = Duration::from_millis(retry.timeout_ms);
        let agent = ureq::AgentBuilder::new().timeout(timeout).timeout_connect(timeout).build();
        Self { agent, retry, stats: CallStats::default() }
    }

    /// The counters so far.
    pub fn stats(&self) -> CallStats {
        self.stats
    }

    /// Sends one request once. `Err` is a transport failure (refused or dropped connection, timeout), with
    /// its description; any HTTP status is a response.
    pub fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, String> {
        self.stats.calls += 1;
        // The query may hold credentials (Marketo's token request): log the path only.
        let path = request.url.split('?').next().unwrap_or_default();
        debug!(method = request.method, url = %path, "request");
        let mut call = self.agent.request(request.method, &request.url);
        for (name, value) in &request.headers {
            call = call.set(name, value);
        }
        let result = match &request.body {
            Some(body) => call.send_bytes(body),
            None => call.call(),
        };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            // Not `transport.to_string()`: it starts with the URL, whose query may hold credentials.
            Err(ureq::Error::Transport(transport)) => {
                let detail = transport.message().map(|m| format!(": {m}")).unwrap_or_default();
                return Err(format!("{path}: {}{detail}", transport.kind()));
            }
        };
        let status = response.status();
        let retry_after =
            response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
        let headers = READ_HEADERS
            .iter()
            .filter_map(|name| response.header(name).map(|v| ((*name).to_owned(), v.to_owned())))
            .collect();
        let body = response.into_string().map_err(|e| format!("reading the response: {e}"))?;
        Ok(HttpResponse { status, retry_after, headers, body })
    }

    /// Runs `attempt` until it is done, fails, or has used every attempt of the policy.
    pub fn retrying<T>(
        &mut self,
        service: &'static str,
        what: &str,
        mut attempt: impl FnMut(&mut Http) -> Step<T>,
    ) -> Result<T> {
        let mut n = 1;
        loop {
            match attempt(self) {
                Step::Done(value) => return Ok(value),
                Step::Fail(err) => return Err(err),
                Step::Retry { reason, after } => {
                    self.backoff(n, service, what, &reason, after)?;
                    n += 1;
                }
            }
        }
    }

    /// After failed attempt `n` (1-based): an error if it was the last the policy allows, otherwise sleeps the
    /// backoff delay and counts a retry.
    pub fn backoff(
        &mut self,
        n: u32,
        service: &'static str,
        what: &str,
        reason: &str,
        after: Option<Duration>,
    ) -> Result<()> {
        if n >= self.retry.max_attempts {
            return Err(Error::Remote { service, message: format!("{what}: gave up after {n} attempts: {reason}") });
        }
        let delay = self.retry.delay(n, after);
        warn!(service, what, attempt = n, reason, delay_ms = delay.as_millis() as u64, "retrying");
        std::thread::sleep(delay);
        self.stats.retries += 1;
        Ok(())
    }

    /// Sends `request` with retries on transport failures, 429 and 5xx; any other response is returned.
    pub fn send_retrying(&mut self, service: &'static str, what: &str, request: &HttpRequest) -> Result<HttpResponse> {
        self.retrying(service, what, |http| match http.send(request) {
            Err(reason) => Step::Retry { reason, after: None },
            Ok(response) if response.retryable() => {
                Step::Retry { reason: format!("HTTP {}", response.status), after: response.retry_after }
            }
            Ok(response) => Step::Done(response),
        })
    }
}

/// Parses a JSON body, naming the service and call on failure.
pub(crate) fn parse_json(service: &'static str, what: &str, body: &str) -> Result<serde_json::Value> {
    serde_json::from_str(body)
        .map_err(|e| Error::Remote { service, message: format!("{what}: the answer is not JSON ({e})") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let policy = RetryPolicy { base_delay_ms: 100, max_delay_ms: 1_000, ..RetryPolicy::default() };
        for _ in 0..50 {
            let first = policy.delay(1, None).as_millis();
            assert!((50..=100).contains(&first), "{first}");
            let third = policy.delay(3, None).as_millis();
            assert!((200..=400).contains(&third), "{third}");
            let capped = policy.delay(12, None).as_millis();
            assert!((500..=1_000).contains(&capped), "{capped}");
        }
        assert_eq!(policy.delay(1, Some(Duration::from_secs(60))), Duration::from_millis(1_000));
        assert_eq!(policy.delay(1, Some(Duration::from_millis(300))), Duration::from_millis(300));
    }
}
