//! Webhook: membership changes as signed JSON POSTs.
//!
//! The body is `{"audience": …, "changes": [{"member", "action": "upsert"|"remove", "identity", "attributes"}],
//! "delivery": …}` where `delivery` names the batch (flow, run, audience and batch number).
//! Headers: `X-Rapport-Signature: sha256=<hex HMAC-SHA256 of the body with the shared secret>` and
//! `Idempotency-Key: <the first 32 hex digits of the body's SHA-256>`: a retried batch has the same body, hence
//! the same key, so a receiver that remembers keys applies it once. A batch a later run sends again (after
//! every retry of an earlier run failed) has a new key; its upserts and removals are idempotent by member. Any 2xx accepts the batch; 429, 5xx,
//! dropped connections and timeouts are retried; another status rejects every change of the batch.

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::config::WebhookConfig;
use crate::http::{Http, HttpRequest};
use crate::linkedin::hex;
use crate::{CallStats, Change, ChangeAction, Error, Outcome, Result};

const SERVICE: &str = "webhook";

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// The webhook connector.
#[derive(Debug)]
pub struct Webhook {
    config: WebhookConfig,
    http: Http,
}

impl Webhook {
    /// A connector for `config`.
    pub fn new(config: WebhookConfig, http: Http) -> Self {
        Self { config, http }
    }

    /// The HTTP work done so far.
    pub fn stats(&self) -> CallStats {
        self.http.stats()
    }

    /// Changes per request.
    pub fn batch_size(&self) -> usize {
        self.config.batch_size
    }

    fn post(&mut self, what: &str, body: &Value) -> Result<crate::http::HttpResponse> {
        let bytes = body.to_string().into_bytes();
        let key = hex(&Sha256::digest(&bytes))[..32].to_owned();
        let mut request = HttpRequest::new("POST", self.config.url.clone())
            .header("Content-Type", "application/json")
            .header("X-Rapport-Signature", signature(self.config.secret.expose().as_bytes(), &bytes))
            .header("Idempotency-Key", key);
        request.body = Some(bytes);
        self.http.send_retrying(SERVICE, what, &request)
    }

    /// Posts a signed `{"ping": true}`.
    pub fn test(&mut self) -> Result<String> {
        let response = self.post("ping", &json!({"ping": true}))?;
        if !(200..300).contains(&response.status) {
            return Err(Error::Remote { service: SERVICE, message: format!("ping: HTTP {}", response.status) });
        }
        Ok(format!("webhook: ping answered HTTP {}", response.status))
    }

    /// Posts the batch.
    pub fn deliver(&mut self, audience: &str, delivery: &str, batch: &[Change]) -> Result<Vec<Outcome>> {
        let changes: Vec<Value> = batch
            .iter()
            .map(|change| {
                let attributes: Map<String, Value> = change
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().map(Value::String).unwrap_or(Value::Null)))
                    .collect();
                let action = match change.action {
                    ChangeAction::Upsert => "upsert",
                    ChangeAction::Remove => "remove",
                };
                json!({"member": change.member, "action": action, "identity": change.identity, "attributes": attributes})
            })
            .collect();
        let body = json!({"audience": audience, "changes": changes, "delivery": delivery});
        let response = self.post("post changes", &body)?;
        let outcome = if (200..300).contains(&response.status) {
            Outcome::Accepted { remote: None }
        } else {
            Outcome::Rejected { reason: format!("HTTP {}", response.status) }
        };
        Ok(vec![outcome; batch.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
