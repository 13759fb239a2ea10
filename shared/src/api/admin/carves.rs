//! File carves in Fleet's shapes: `GET /api/v1/fleet/carves`, `/carves/{id}`,
//! `/carves/{id}/block/{block_id}`, and the whole file at `/carves/{id}/download`.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

use super::{host_visible, require_host_access, Id};
use crate::api::blob_download::{self, Download};
use crate::app::App;
use crate::domain::carves::{self, Carve};
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, TeamFilter};
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
    let visible = principal.teams_with(Permission::ReadCarves);
    let mut carves = Vec::new();
    for carve in carves::list(app.state()).await? {
        if !options.expired && carve.expired(now) {
            continue;
        }
        if !host_visible(&app, &visible, carve.host_id).await? {
            continue;
        }
        carves.push(carve.to_json(now));
    }
    Ok(Json(json!({ "carves": carves })))
}

/// The carve, if the principal may see its host's carves.
async fn find(app: &App, principal: &Principal, id: u64) -> ApiResult<Carve> {
    let carve = carves::get(app.state(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("carve {id} not found")))?;
    if principal.teams_with(Permission::ReadCarves) != TeamFilter::All {
        require_host_access(app, principal, Permission::ReadCarves, carve.host_id).await?;
    }
    Ok(carve)
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
