//! File carves in Fleet's shapes: `GET /api/v1/fleet/carves`, `/carves/{id}`,
//! `/carves/{id}/block/{block_id}`, and the whole file at `/carves/{id}/download`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

use super::{Admin, Id};
use crate::app::App;
use crate::domain::carves::{self, Carve};
use crate::error::{ApiError, ApiResult};
use crate::ports::BlobStore;

/// How long a download URL works.
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// The piece size the local download streams the file in.
const DOWNLOAD_CHUNK: u64 = 1024 * 1024;

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

/// The whole carve: a redirect to a short-lived URL where the blob store can hand one out
/// (S3; a Lambda answer could not carry more than 6 MB), else the bytes themselves.
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
    let blobs = app.ports.blobs.clone();
    let name = carve.data_blob();
    if let Some(url) = blobs.presigned_get(&name, DOWNLOAD_URL_TTL).await? {
        // 303: clients fetch the URL with GET, and drop the admin token on the way (other host).
        return Ok((
            StatusCode::SEE_OTHER,
            [(header::LOCATION, url.clone())],
            Json(json!({ "url": url, "expires_in": DOWNLOAD_URL_TTL.as_secs() })),
        )
            .into_response());
    }
    let size = carve.carve_size;
    let chunks = futures_util::stream::try_unfold(0u64, move |offset| {
        let blobs = blobs.clone();
        let name = name.clone();
        async move {
            if offset >= size {
                return Ok::<_, ApiError>(None);
            }
            let chunk = read_chunk(blobs.as_ref(), &name, offset, size).await?;
            Ok(Some((chunk.clone(), offset + chunk.len() as u64)))
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"carve-{id}.tar\""),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}

async fn read_chunk(
    blobs: &dyn BlobStore,
    name: &str,
    offset: u64,
    size: u64,
) -> Result<bytes::Bytes, ApiError> {
    let chunk = blobs
        .get_range(name, offset, DOWNLOAD_CHUNK.min(size - offset))
        .await?;
    if chunk.is_empty() {
        return Err(ApiError::Internal(format!(
            "{name} ends at {offset} of {size} bytes"
        )));
    }
    Ok(chunk)
}
