//! Machine interfaces: health, metrics and the JSON directory API (docs/openapi.yaml).

use crate::pages::directory::DirectoryParams;
use crate::session::Viewer;
use crate::SharedState;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
    backend: &'static str,
    database_latency_ms: f64,
    version: &'static str,
}

/// 200 when the process and its database answer, 503 otherwise. For load balancers.
pub async fn healthz(State(state): State<SharedState>) -> Response {
    let start = Instant::now();
    let db = state.store.ping().await;
    let body = Health {
        status: if db.is_ok() { "ok" } else { "unavailable" },
        database: if db.is_ok() { "ok" } else { "unreachable" },
        backend: state.store.backend_name(),
        database_latency_ms: (start.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        version: env!("CARGO_PKG_VERSION"),
    };
    if let Err(e) = db {
        tracing::error!(error = %e, "health check: database unreachable");
    }
    let status = if body.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

pub async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    )
        .into_response()
}

#[derive(Serialize)]
struct FacilityItem {
    id: String,
    code: Option<String>,
    name: String,
    name_kana: String,
    facility_type: &'static str,
    category: &'static str,
    status: &'static str,
    postal_code: String,
    address: String,
    area: String,
    tel: String,
    fax: String,
}

#[derive(Serialize)]
struct FacilityList {
    total: i64,
    offset: i64,
    limit: i64,
    items: Vec<FacilityItem>,
}

#[derive(Serialize)]
struct ApiError {
    error: String,
}

/// `GET /api/v1/facilities` — the directory as JSON, for signed-in sessions.
pub async fn facilities(
    State(state): State<SharedState>,
    viewer: Result<Viewer, crate::error::AppError>,
    Query(params): Query<DirectoryParams>,
) -> Response {
    let Ok(viewer) = viewer else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(ApiError {
                error: "sign-in required".into(),
            }),
        )
            .into_response();
    };
    let query = match params.to_query(viewer.is_secretariat()) {
        Ok(q) => q,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(ApiError {
                    error: e.to_string(),
                }),
            )
                .into_response()
        }
    };
    match state.store.search_facilities(&query).await {
        Ok(page) => Json(FacilityList {
            total: page.total,
            offset: query.offset,
            limit: query.limit,
            items: page
                .items
                .into_iter()
                .map(|f| FacilityItem {
                    facility_type: f.facility_type.code(),
                    category: f.facility_type.category().code(),
                    status: f.status.code(),
                    id: f.id,
                    code: f.code,
                    name: f.name,
                    name_kana: f.name_kana,
                    postal_code: f.postal_code,
                    address: f.address,
                    area: f.area,
                    tel: f.tel,
                    fax: f.fax,
                })
                .collect(),
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "directory API");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(ApiError {
                    error: "storage error".into(),
                }),
            )
                .into_response()
        }
    }
}
