//! File carves in Fleet's shapes: `GET /api/v1/fleet/carves`, `/carves/{id}`,
//! `/carves/{id}/block/{block_id}`, and the whole file at `/carves/{id}/download`.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

use super::{Admin, Id};
use crate::api::blob_download::{self, Download};
use crate::app::App;
use crate::domain::carves::{self, Carve};
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
    _: Admin,
    State(app): State<App>,
    options: Result<Query<ListOptions>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(options) = options.map_err(|_| ApiError::bad_request("expired must be a boolean"))?;
    let now = app.clock.unix();
    let carves: Vec<Value> = carves::list(app.state())
        .await?
        .iter()
        .filter(|carve| options.expired || !carve.expired(now))
        .map(|carve| carve.to_json(now))
        .collect();
    Ok(Json(json!({ "carves": carves })))
}

async fn find(app: &App, id: u64) -> ApiResult<Carve> {
    carves::get(app.state(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("carve {id} not found")))
}

pub async fn get(_: Admin, State(app): State<App>, Id(id): Id) -> ApiResult<Json<Value>> {
    let carve = find(&app, id).await?;
    Ok(Json(json!({ "carve": carve.to_json(app.clock.unix()) })))
}

pub async fn block(
    _: Admin,
    State(app): State<App>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<Value>> {
    let Path((id, block_id)) = path.map_err(|_| ApiError::bad_request("invalid path"))?;
    let number = |raw: &str| {
        raw.parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("{raw:?} is not a valid id")))
    };
    let data = carves::block_data(&app, number(&id)?, number(&block_id)?).await?;
    Ok(Json(json!({
        "data": base64::engine::general_purpose::STANDARD.encode(data)
    })))
}

/// The whole carve (see `blob_download`).
pub async fn download(_: Admin, State(app): State<App>, Id(id): Id) -> ApiResult<Response> {
    let carve = find(&app, id).await?;
    if carve.expired(app.clock.unix()) {
        return Err(ApiError::Gone(format!("carve {id} has expired")));
    }
    if carve.completed_at.is_none() {
        return Err(ApiError::Conflict(format!(
            "carve {id} is not complete: {} of {} blocks received{}",
            carve.max_block + 1,
            carve.block_count,
            if carve.received_all() {
                ", being assembled"
            } else {
                ""
            }
        )));
    }
    blob_download::serve(
        app.ports.blobs.clone(),
        Download {
            name: carve.data_blob(),
            size: carve.carve_size,
            file_name: &format!("carve-{id}.tar"),
            content_type: "application/octet-stream",
            url_ttl: DOWNLOAD_URL_TTL,
        },
    )
    .await
}
