//! Static assets compiled into the binary: nothing is fetched from a CDN.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../assets/renkei.css");
const FAVICON: &str = include_str!("../assets/favicon.svg");
const ICU_CENSUS_JS: &str = include_str!("../assets/icu_census.js");
const NOTIFY_JS: &str = include_str!("../assets/notify.js");

pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "renkei.css" => (CSS, "text/css; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        "icu_census.js" => (ICU_CENSUS_JS, "text/javascript; charset=utf-8"),
        "notify.js" => (NOTIFY_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
