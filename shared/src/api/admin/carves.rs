//! File carves in Fleet's shapes: `GET /api/v1/fleet/carves`, `/carves/{id}`,
//! `/carves/{id}/block/{block_id}`, and the whole file at `/carves/{id}/download`.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

use super::Id;
use crate::api::blob_download::{self, Download};
use crate::app::App;
use crate::domain::carve_access;
use crate::domain::carves::{self, Carve};
use crate::domain::identity::principal::Principal;
use crate::error::{ApiError, ApiResult};

/// How long a download URL works.
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Deserialize)]
pub struct ListOptions {
    /// Fleet lists only unexpired carves unless asked.
    #[serde(default)]
    expired: bool,
}

pub async fn list(
    principal: Principal,
    State(app): State<App>,
    options: Result<Query<ListOptions>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(options) = options.map_err(|_| ApiError::bad_request("expired must be a boolean"))?;
    let now = app.clock.unix();
    let carves: Vec<Value> = carve_access::visible(&app, &principal, options.expired)
        .await?
        .iter()
        .map(|carve| carve.to_json(now))
        .collect();
    Ok(Json(json!({ "carves": carves })))
}

async fn find(app: &App, principal: &Principal, id: u64) -> ApiResult<Carve> {
    carve_access::find(app, principal, id).await
}

pub async fn get(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let carve = find(&app, &principal, id).await?;
    Ok(Json(json!({ "carve": carve.to_json(app.clock.unix()) })))
}

pub async fn block(
    principal: Principal,
    State(app): State<App>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<Value>> {
    let Path((id, block_id)) = path.map_err(|_| ApiError::bad_request("invalid path"))?;
    let number = |raw: &str| {
        raw.parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a valid id")))
    };
    let carve = find(&app, &principal, number(&id)?).await?;
    let data = carves::block_data(&app, carve.id, number(&block_id)?).await?;
    Ok(Json(json!({
        "data": base64::engine::general_purpose::STANDARD.encode(data)
    })))
}

/// The whole carve (see `blob_download`).
pub async fn download(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Response> {
    let carve = find(&app, &principal, id).await?;
    carve_access::require_downloadable(&carve, app.clock.unix())?;
    blob_download::serve(
        app.ports.blobs.clone(),
        Download {
            name: carve.data_blob(),
            size: carve.carve_size,
            file_name: &carve_access::file_name(&carve),
            content_type: "application/octet-stream",
            url_ttl: DOWNLOAD_URL_TTL,
        },
    )
    .await
}
