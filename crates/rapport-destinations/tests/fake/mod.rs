//! Local fakes of the vendors' HTTP APIs for contract tests: a std `TcpListener` thread answering one request
//! per connection (`Connection: close`), implementing the documented requests and answers of Marketo's REST
//! API, LinkedIn's DMP segment API and a webhook receiver, with scripted faults (dropped connections after the
//! request was applied, 429 storms, 500s, expired tokens).
//!
//! Shared by the destinations' contract tests and the engine's delivery tests (`#[path]`).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// One received request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Request {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A scripted fault, consumed by the next matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally (keeps later faults for later requests).
    Pass,
    /// Apply the request, then close the connection without answering (the answer is lost).
    DropAfterApply,
    /// Close the connection without reading or applying anything.
    DropBefore,
    /// Answer HTTP 429 (with `Retry-After: 0`).
    TooMany,
    /// Answer HTTP 500.
    ServerError,
    /// Marketo: answer 200 with error 606 (rate limit).
    Marketo606,
    /// Marketo: answer 200 with error 615 (concurrency limit).
    Marketo615,
}

/// An answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, headers: Vec::new(), body: body.to_string() }
    }
}

type Handler<S> = dyn Fn(&Request, &mut S) -> Reply + Send + Sync;

/// Queued faults by path prefix.
type Faults = Arc<Mutex<Vec<(String, VecDeque<Fault>)>>>;

/// A running fake server over state `S`.
pub struct Server<S> {
    pub url: String,
    pub state: Arc<Mutex<S>>,
    pub log: Arc<Mutex<Vec<Request>>>,
    /// Faults for requests whose path starts with the key.
    pub faults: Faults,
}

impl<S: Send + 'static> Server<S> {
    pub fn start(state: S, handler: Box<Handler<S>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(state));
        let log = Arc::new(Mutex::new(Vec::new()));
        let faults: Faults = Arc::new(Mutex::new(Vec::new()));
        let (s, l, f) = (state.clone(), log.clone(), faults.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, &s, &l, &f, handler.as_ref());
            }
        });
        Self { url, state, log, faults }
    }

    /// Queues faults for the next requests whose path starts with `prefix`.
    pub fn fail(&self, prefix: &str, faults: &[Fault]) {
        self.faults.lock().unwrap().push((prefix.to_owned(), faults.iter().copied().collect()));
    }

    pub fn requests(&self, path_prefix: &str) -> Vec<Request> {
        self.log.lock().unwrap().iter().filter(|r| r.path.starts_with(path_prefix)).cloned().collect()
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q),
        None => (target.clone(), ""),
    };
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Request { method, path, query, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn serve<S>(
    mut stream: TcpStream,
    state: &Mutex<S>,
    log: &Mutex<Vec<Request>>,
    faults: &Mutex<Vec<(String, VecDeque<Fault>)>>,
    handler: &Handler<S>,
) {
    let Some(request) = read_request(&mut stream) else { return };
    let fault = {
        let mut faults = faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|(p, q)| request.path.starts_with(p.as_str()) && !q.is_empty())
            .and_then(|(_, q)| q.pop_front())
    };
    log.lock().unwrap().push(request.clone());
    let reply = match fault {
        Some(Fault::DropBefore) => return,
        Some(Fault::DropAfterApply) => {
            handler(&request, &mut state.lock().unwrap());
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        Some(Fault::TooMany) => Reply {
            status: 429,
            headers: vec![("Retry-After".into(), "0".into())],
            body: json!({"status": 429, "message": "Resource level throttle limit"}).to_string(),
        },
        Some(Fault::ServerError) => Reply::json(500, json!({"message": "internal"})),
        Some(Fault::Marketo606) => Reply::json(
            200,
            json!({"requestId": "r", "success": false, "errors": [{"code": "606", "message": "Max rate limit '100' exceeded with in '20' secs"}]}),
        ),
        Some(Fault::Marketo615) => Reply::json(
            200,
            json!({"requestId": "r", "success": false, "errors": [{"code": "615", "message": "Concurrent access limit reached"}]}),
        ),
        None | Some(Fault::Pass) => handler(&request, &mut state.lock().unwrap()),
    };
    let mut text = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&reply.body);
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

// ---------------------------------------------------------------------------------------------------------
// Marketo

/// Marketo's side: leads, static lists, tokens.
#[derive(Debug, Default)]
pub struct Marketo {
    pub client_id: String,
    pub client_secret: String,
    /// Token lifetime in seconds, as answered.
    pub expires_in: u64,
    /// The valid token, and how many more calls it serves before it expires (602).
    pub token: Option<(String, u64)>,
    pub tokens_issued: u64,
    /// Calls each token serves (`u64::MAX`: unlimited).
    pub token_calls: u64,
    pub next_id: u64,
    /// id → lead fields.
    pub leads: BTreeMap<u64, BTreeMap<String, Value>>,
    /// list id → name.
    pub lists: BTreeMap<u64, String>,
    /// list id → member lead ids.
    pub members: BTreeMap<u64, BTreeSet<u64>>,
    /// REST calls left today (`None`: unlimited); 607 when none.
    pub quota: Option<u64>,
}

impl Marketo {
    pub fn new() -> Self {
        Self {
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            expires_in: 3599,
            token_calls: u64::MAX,
            next_id: 100,
            ..Self::default()
        }
    }

    /// The lead holding `field` = `value`.
    pub fn lead_by(&self, field: &str, value: &str) -> Vec<u64> {
        self.leads
            .iter()
            .filter(|(_, l)| l.get(field).and_then(|v| v.as_str()) == Some(value))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The emails of a list's members.
    pub fn list_emails(&self, list: u64) -> BTreeSet<String> {
        self.members
            .get(&list)
            .into_iter()
            .flatten()
            .map(|id| self.leads[id]["email"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn marketo_error(code: &str, message: &str) -> Reply {
    Reply::json(200, json!({"requestId": "e#1", "success": false, "errors": [{"code": code, "message": message}]}))
}

pub fn marketo_handler(request: &Request, m: &mut Marketo) -> Reply {
    if request.path == "/identity/oauth/token" {
        let q = &request.query;
        if q.get("grant_type").map(String::as_str) != Some("client_credentials")
            || q.get("client_id") != Some(&m.client_id)
            || q.get("client_secret") != Some(&m.client_secret)
        {
            return Reply::json(401, json!({"error": "unauthorized", "error_description": "Bad client credentials"}));
        }
        m.tokens_issued += 1;
        let token = format!("tok-{}", m.tokens_issued);
        m.token = Some((token.clone(), m.token_calls));
        return Reply::json(
            200,
            json!({"access_token": token, "token_type": "bearer", "expires_in": m.expires_in, "scope": "api@x"}),
        );
    }
    let bearer = request.headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_owned);
    match (&mut m.token, bearer) {
        (_, None) => return marketo_error("600", "Access token not specified"),
        (Some((valid, left)), Some(given)) if *valid == given => {
            if *left == 0 {
                return marketo_error("602", "Access token expired");
            }
            *left = left.saturating_sub(1);
        }
        _ => return marketo_error("601", "Access token invalid"),
    }
    if let Some(quota) = &mut m.quota {
        if *quota == 0 {
            return marketo_error("607", "Daily quota reached");
        }
        *quota -= 1;
    }
    let ok = |result: Vec<Value>| Reply::json(200, json!({"requestId": "a#1", "success": true, "result": result}));
    if request.path == "/rest/v1/leads.json" && request.method == "POST" {
        let body = request.json();
        let lookup = body["lookupField"].as_str().unwrap_or("email").to_owned();
        let action = body["action"].as_str().unwrap_or("createOrUpdate").to_owned();
        let input = body["input"].as_array().cloned().unwrap_or_default();
        if input.len() > 300 {
            return marketo_error("1003", "Batch size exceeds 300");
        }
        let mut result = Vec::new();
        for record in input {
            let Some(key) = record.get(&lookup).and_then(|v| v.as_str()).map(str::to_owned) else {
                result.push(json!({"status": "skipped", "reasons": [{"code": "1006", "message": format!("Field '{lookup}' not found")}]}));
                continue;
            };
            let found = m.lead_by(&lookup, &key);
            let fields: BTreeMap<String, Value> =
                record.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            match (found.first(), action.as_str()) {
                (Some(&id), _) => {
                    m.leads.get_mut(&id).unwrap().extend(fields);
                    result.push(json!({"id": id, "status": "updated"}));
                }
                (None, "updateOnly") => result
                    .push(json!({"status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]})),
                (None, _) => {
                    m.next_id += 1;
                    m.leads.insert(m.next_id, fields);
                    result.push(json!({"id": m.next_id, "status": "created"}));
                }
            }
        }
        return ok(result);
    }
    if let Some(rest) = request.path.strip_prefix("/rest/v1/lists/") {
        let list: u64 = rest.trim_end_matches("/leads.json").parse().unwrap();
        if !m.lists.contains_key(&list) {
            return marketo_error("1013", "Static list not found");
        }
        let ids: Vec<u64> =
            request.json()["input"].as_array().unwrap().iter().map(|i| i["id"].as_u64().unwrap()).collect();
        if ids.len() > 300 {
            return marketo_error("1003", "Batch size exceeds 300");
        }
        let mut result = Vec::new();
        for id in ids {
            if !m.leads.contains_key(&id) {
                result.push(
                    json!({"id": id, "status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]}),
                );
                continue;
            }
            let members = m.members.entry(list).or_default();
            if request.method == "POST" {
                members.insert(id);
                result.push(json!({"id": id, "status": "added"}));
            } else if members.remove(&id) {
                result.push(json!({"id": id, "status": "removed"}));
            } else {
                result.push(json!({"id": id, "status": "skipped", "reasons": [{"code": "1015", "message": "Lead not in list"}]}));
            }
        }
        return ok(result);
    }
    if request.path == "/rest/asset/v1/staticList/byName.json" {
        let name = request.query.get("name").cloned().unwrap_or_default();
        let found: Vec<Value> =
            m.lists.iter().filter(|(_, n)| **n == name).map(|(id, n)| json!({"id": id, "name": n})).collect();
        if found.is_empty() {
            return Reply::json(
                200,
                json!({"success": true, "errors": [], "warnings": ["No assets found for the given search criteria."], "requestId": "b#1"}),
            );
        }
        return ok(found);
    }
    if request.path == "/rest/asset/v1/staticLists.json" && request.method == "POST" {
        let form: BTreeMap<String, String> = request
            .body
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (decode(k), decode(v))
            })
            .collect();
        let folder: Value = serde_json::from_str(&form["folder"]).unwrap();
        assert_eq!(folder["type"], "Folder");
        let id = 1000 + m.lists.len() as u64;
        m.lists.insert(id, form["name"].clone());
        return ok(vec![json!({"id": id, "name": form["name"], "folder": folder})]);
    }
    Reply::json(404, json!({"message": format!("no route {} {}", request.method, request.path)}))
}

pub fn marketo() -> Server<Marketo> {
    Server::start(Marketo::new(), Box::new(marketo_handler))
}

// ---------------------------------------------------------------------------------------------------------
// LinkedIn

#[derive(Debug, Default)]
pub struct LinkedIn {
    pub token: String,
    /// segment id → (sourceSegmentId, hashed members).
    pub segments: BTreeMap<u64, (String, BTreeSet<String>)>,
    pub created: Vec<Value>,
}

pub fn linkedin_handler(request: &Request, l: &mut LinkedIn) -> Reply {
    if request.headers.get("authorization") != Some(&format!("Bearer {}", l.token)) {
        return Reply::json(401, json!({"status": 401, "message": "Invalid access token"}));
    }
    if request.headers.get("x-restli-protocol-version").map(String::as_str) != Some("2.0.0")
        || request.headers.get("linkedin-version").is_none_or(|v| v.len() != 6)
    {
        return Reply::json(400, json!({"status": 400, "message": "missing version headers"}));
    }
    if request.path == "/rest/dmpSegments" && request.method == "GET" {
        let elements: Vec<Value> = l
            .segments
            .iter()
            .map(|(id, (source, _))| json!({"id": id, "sourceSegmentId": source, "account": request.query["account"]}))
            .collect();
        return Reply::json(200, json!({"elements": elements, "paging": {"start": 0, "count": 10}}));
    }
    if request.path == "/rest/dmpSegments" && request.method == "POST" {
        let body = request.json();
        let id = 5000 + l.segments.len() as u64;
        l.segments.insert(id, (body["sourceSegmentId"].as_str().unwrap().to_owned(), BTreeSet::new()));
        l.created.push(body);
        return Reply { status: 201, headers: vec![("x-restli-id".into(), id.to_string())], body: String::new() };
    }
    if let Some(rest) = request.path.strip_prefix("/rest/dmpSegments/") {
        assert_eq!(request.headers.get("x-restli-method").map(String::as_str), Some("BATCH_CREATE"));
        let (id, kind) = rest.split_once('/').unwrap();
        let id: u64 = id.parse().unwrap();
        if !l.segments.contains_key(&id) {
            return Reply::json(404, json!({"status": 404, "message": "segment not found"}));
        }
        let created_type =
            l.created.iter().find(|c| c["sourceSegmentId"] == json!(l.segments[&id].0)).map(|c| c["type"].clone());
        let Some((_, members)) = l.segments.get_mut(&id) else { unreachable!() };
        let mut statuses = Vec::new();
        if kind == "companies" {
            // DMP Segment Companies: {action, companyName?, companyWebsiteDomain?, …}; the segment must be a
            // COMPANY segment. A company is held as its element without the action.
            if created_type != Some(json!("COMPANY")) {
                return Reply::json(400, json!({"status": 400, "message": "not a company segment"}));
            }
            for element in request.json()["elements"].as_array().unwrap() {
                let mut company = element.as_object().unwrap().clone();
                let action = company.remove("action");
                let known = ["companyName", "companyWebsiteDomain"];
                if company.is_empty() || company.keys().any(|k| !known.contains(&k.as_str())) {
                    statuses.push(json!({"status": 400, "error": {"message": "invalid company"}}));
                    continue;
                }
                let key = Value::Object(company).to_string();
                match action.as_ref().and_then(Value::as_str) {
                    Some("ADD") => members.insert(key),
                    Some("REMOVE") => members.remove(&key),
                    _ => {
                        statuses.push(json!({"status": 400, "error": {"message": "invalid action"}}));
                        continue;
                    }
                };
                statuses.push(json!({"status": 201}));
            }
            return Reply::json(200, json!({"elements": statuses}));
        }
        assert_eq!(kind, "users");
        for element in request.json()["elements"].as_array().unwrap() {
            let value = element["userIds"][0]["idValue"].as_str().unwrap().to_owned();
            let valid = element["userIds"][0]["idType"] == "SHA256_EMAIL"
                && value.len() == 64
                && value.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            if !valid {
                statuses.push(json!({"status": 400, "error": {"message": "invalid idValue"}}));
                continue;
            }
            match element["action"].as_str() {
                Some("ADD") => members.insert(value),
                _ => members.remove(&value),
            };
            statuses.push(json!({"status": 201}));
        }
        return Reply::json(200, json!({"elements": statuses}));
    }
    Reply::json(404, json!({"message": "no route"}))
}

pub fn linkedin(token: &str) -> Server<LinkedIn> {
    Server::start(LinkedIn { token: token.into(), ..LinkedIn::default() }, Box::new(linkedin_handler))
}

// ---------------------------------------------------------------------------------------------------------
// Webhook receiver

/// A receiver that applies each batch once per `Idempotency-Key`, after checking the signature with `key`.
#[derive(Debug, Default)]
pub struct Receiver {
    pub key: Vec<u8>,
    pub seen: BTreeSet<String>,
    /// member → times it was upserted (applied batches only).
    pub upserts: BTreeMap<String, u64>,
    /// The members held now, with the identity of their last upsert.
    pub held: BTreeMap<String, Option<String>>,
    pub bad_signatures: u64,
    /// Every applied change in order: (member, `upsert` | `remove`), and the size of each applied batch.
    pub applied: Vec<(String, String)>,
    pub batch_sizes: Vec<usize>,
}

pub fn receiver_handler(verify: fn(&[u8], &[u8]) -> String) -> Box<Handler<Receiver>> {
    Box::new(move |request, r| {
        let signature = request.headers.get("x-rapport-signature").cloned().unwrap_or_default();
        if signature != verify(&r.key, request.body.as_bytes()) {
            r.bad_signatures += 1;
            return Reply::json(401, json!({"message": "bad signature"}));
        }
        let key = request.headers.get("idempotency-key").cloned().unwrap_or_default();
        if !r.seen.insert(key) {
            return Reply::json(200, json!({"duplicate": true}));
        }
        let changes = request.json()["changes"].as_array().cloned().unwrap_or_default();
        r.batch_sizes.push(changes.len());
        for change in &changes {
            let member = change["member"].as_str().unwrap().to_owned();
            r.applied.push((member.clone(), change["action"].as_str().unwrap_or_default().to_owned()));
            if change["action"] == "upsert" {
                *r.upserts.entry(member.clone()).or_default() += 1;
                r.held.insert(member, change["identity"].as_str().map(str::to_owned));
            } else {
                r.held.remove(&member);
            }
        }
        Reply::json(202, json!({"accepted": true}))
    })
}
