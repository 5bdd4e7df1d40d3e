//! The web console: plain HTML, CSS and JavaScript modules embedded in the binary with `include_str!`, served
//! under `/console/` (and `/` redirects there). No build step, no CDN, nothing fetched at run time: the pages
//! call this server's REST API with the bearer token the user typed (kept in the tab's `sessionStorage`).
//!
//! The assets are public (they hold no data); every API call they make needs a token. Responses carry a
//! content security policy that allows only this origin's scripts, styles and API (`connect-src 'self'`), no
//! inline script or style attribute, and no framing.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file: its name under `/console/`, its media type and its text.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    text: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console. A page module imports the others by absolute path (`/console/api.js`).
const ASSETS: &[Asset] = &[
    Asset { name: "index.html", media_type: "text/html; charset=utf-8", text: include_str!("../console/index.html") },
    Asset { name: "app.css", media_type: "text/css; charset=utf-8", text: include_str!("../console/app.css") },
    Asset { name: "app.js", media_type: JS, text: include_str!("../console/app.js") },
    Asset { name: "api.js", media_type: JS, text: include_str!("../console/api.js") },
    Asset { name: "ui.js", media_type: JS, text: include_str!("../console/ui.js") },
    Asset { name: "charts.js", media_type: JS, text: include_str!("../console/charts.js") },
    Asset { name: "home.js", media_type: JS, text: include_str!("../console/home.js") },
    Asset { name: "builder.js", media_type: JS, text: include_str!("../console/builder.js") },
    Asset { name: "sources.js", media_type: JS, text: include_str!("../console/sources.js") },
    Asset { name: "schemas.js", media_type: JS, text: include_str!("../console/schemas.js") },
    Asset { name: "audiences.js", media_type: JS, text: include_str!("../console/audiences.js") },
    Asset { name: "profiles.js", media_type: JS, text: include_str!("../console/profiles.js") },
    Asset { name: "destinations.js", media_type: JS, text: include_str!("../console/destinations.js") },
];

/// The policy every console response carries.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The names of the embedded files (for tests and the OpenAPI-free routes check).
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

/// The console's routes: `/` and `/console` redirect to `/console/`, which serves `index.html`, and
/// `/console/{file}` serves one embedded file (404 for any other name).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { serve("index.html") }))
        .route("/console/{file}", get(|Path(file): Path<String>| async move { serve(&file) }))
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    let mut response = asset.text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.media_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The files change with the binary only; revalidating keeps an upgraded server's console current.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
