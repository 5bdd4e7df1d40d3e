//! The embedded web console: served without a token, every file it imports is served with its media type
//! and the content security policy, and its data calls need a token like any other.

use std::collections::BTreeSet;

use rapport_engine::Role;

use crate::support::TestServer;

fn fetch(server: &TestServer, path: &str) -> ureq::Response {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    match agent.get(&format!("{}{path}", server.base)).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(err) => panic!("GET {path}: {err}"),
    }
}

#[test]
fn issue_9_the_console_is_served_from_the_binary_and_every_import_resolves() {
    let server = TestServer::start(|_| {});
    let root = fetch(&server, "/");
    assert_eq!((root.status(), root.header("Location")), (303, Some("/console/")));
    let index = fetch(&server, "/console/");
    assert_eq!(index.status(), 200);
    assert_eq!(index.header("Content-Type"), Some("text/html; charset=utf-8"));
    let csp = index.header("Content-Security-Policy").unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    let html = index.into_string().unwrap();

    // Follow every `/console/...` reference from the page and from each module: each must be served, with a
    // script or style media type. Found by reading the texts, not from the server's list of assets.
    let mut seen = BTreeSet::new();
    let mut queue: Vec<String> = references(&html);
    assert!(
        queue.contains(&"/console/app.js".to_owned()) && queue.contains(&"/console/app.css".to_owned()),
        "{queue:?}"
    );
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = fetch(&server, &path);
        assert_eq!(response.status(), 200, "{path}");
        let kind = response.header("Content-Type").unwrap().to_owned();
        let text = response.into_string().unwrap();
        if path.ends_with(".js") {
            assert_eq!(kind, "text/javascript; charset=utf-8", "{path}");
            queue.extend(references(&text));
        } else {
            assert_eq!(kind, "text/css; charset=utf-8", "{path}");
        }
        // No network at run time: nothing is loaded from another origin.
        assert!(!text.contains("https://") && !text.contains("http://"), "{path} names another origin");
    }
    for page in [
        "audiences.js",
        "builder.js",
        "profiles.js",
        "destinations.js",
        "home.js",
        "charts.js",
        "sources.js",
        "schemas.js",
        "api.js",
        "ui.js",
    ] {
        assert!(seen.contains(&format!("/console/{page}")), "{page} is not reachable from the page: {seen:?}");
    }
    assert_eq!(fetch(&server, "/console/nothing.js").status(), 404);
    // The data is not public: the API still needs a token.
    assert_eq!(fetch(&server, "/segment/definitions").status(), 401);
    assert_eq!(server.get("/segment/definitions", Role::Viewer).status, 200);
}

/// The `/console/…` paths a text refers to in quotes.
fn references(text: &str) -> Vec<String> {
    text.split('"')
        .filter(|part| part.starts_with("/console/") && !part.contains(char::is_whitespace) && part.len() > 9)
        .map(str::to_owned)
        .collect()
}
