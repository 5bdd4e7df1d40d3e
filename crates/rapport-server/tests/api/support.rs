//! A server on a temporary data directory, a token per role, and a blocking HTTP client.

use std::collections::BTreeMap;

use rapport_engine::{Engine, Role};
use rapport_server::{Background, ServeOptions, Server};
use serde_json::Value;

/// A running server.
pub struct TestServer {
    /// The data directory, kept until the server is dropped (tests may open a second engine on it).
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// One token per role.
    pub tokens: BTreeMap<Role, String>,
    agent: ureq::Agent,
    running: Option<Background>,
}

/// An answer: status and body (JSON when it parses, else a string).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Value,
    /// The response headers asked for by name are read through this.
    pub location: Option<String>,
}

impl TestServer {
    /// A server over a fresh data directory prepared by `prepare` (e.g. B2B schemas), with the default limits.
    pub fn start(prepare: impl FnOnce(&mut Engine)) -> Self {
        Self::start_with(ServeOptions::default(), prepare)
    }

    /// Like [`TestServer::start`] with `options`.
    pub fn start_with(options: ServeOptions, prepare: impl FnOnce(&mut Engine)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path()).unwrap();
        prepare(&mut engine);
        let tokens =
            Role::ALL.into_iter().map(|role| (role, engine.create_token(role.as_str(), role).unwrap().token)).collect();
        let server = Server::bind(engine, "127.0.0.1:0".parse().unwrap(), options).unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let running = server.serve_in_background().unwrap();
        // A fresh connection per request: a server may close a kept-alive connection after answering a request
        // whose body it did not read (an early 401/403/4xx), and the client only retries idempotent methods on it.
        let agent = ureq::AgentBuilder::new().max_idle_connections(0).build();
        TestServer { dir, base, tokens, agent, running: Some(running) }
    }

    /// A server with the B2B schemas registered.
    pub fn b2b() -> Self {
        Self::start(|engine| {
            engine.generate_b2b_schemas().unwrap();
        })
    }

    /// Sends `method path` with `role`'s token (none when `None`) and a body of `content_type`.
    pub fn send(&self, method: &str, path: &str, role: Option<Role>, content_type: &str, body: &[u8]) -> Answer {
        let mut request = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(role) = role {
            request = request.set("Authorization", &format!("Bearer {}", self.tokens[&role]));
        }
        let result = if body.is_empty() && method == "GET" {
            request.call()
        } else {
            request.set("Content-Type", content_type).send_bytes(body)
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(err) => panic!("{method} {path}: {err}"),
        };
        let status = response.status();
        let location = response.header("Location").map(str::to_owned);
        let text = response.into_string().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body, location }
    }

    /// `GET path` as `role`.
    pub fn get(&self, path: &str, role: Role) -> Answer {
        self.send("GET", path, Some(role), "application/json", b"")
    }

    /// `POST path` with a JSON body as `role`.
    pub fn post(&self, path: &str, role: Role, body: &Value) -> Answer {
        self.send("POST", path, Some(role), "application/json", body.to_string().as_bytes())
    }

    /// Polls `GET /tasks/{id}` until the task has ended (at most about 30 s) and returns it.
    pub fn wait_task(&self, id: &str) -> Value {
        for _ in 0..3000 {
            let task = self.get(&format!("/tasks/{id}"), Role::Viewer);
            assert_eq!(task.status, 200, "{:?}", task.body);
            if task.body["status"] == "succeeded" || task.body["status"] == "failed" {
                return task.body;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("task {id} did not end");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop();
        }
    }
}

/// Asserts the API's error shape with `status` and `code`, and returns the error object.
pub fn assert_error(answer: &Answer, status: u16, code: &str) -> Value {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    let error = &answer.body["error"];
    assert_eq!(error["code"], code, "{:?}", answer.body);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{:?}", answer.body);
    assert!(error["details"].is_array(), "{:?}", answer.body);
    error.clone()
}
