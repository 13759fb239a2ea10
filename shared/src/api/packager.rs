//! The packager API (fleet-installers-packager-design.md): `POST /create`,
//! `GET /status?package_id=`, `GET /download/{package_id}`. Every route is rate-limited in
//! the state store: create per source address, status and download per package.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

use crate::api::blob_download::{self, Download};
use crate::api::body::JsonBody;
use crate::api::client_ip::ClientIp;
use crate::api::public_url::PublicUrl;
use crate::app::App;
use crate::domain::activities::Actor;
use crate::domain::packages::status::{effective, Effective};
use crate::domain::packages::{self, create as creation, Package};
use crate::domain::rate_limit::{PACKAGE_DOWNLOADS, PACKAGE_STATUS};
use crate::error::{ApiError, ApiResult};

/// How long a download URL works (much less than a package lives).
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);

async fn find(app: &App, raw: &str) -> ApiResult<Package> {
    packages::find(app.state(), &packages::parse_id(raw)?).await
}

pub async fn create(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    // Unauthenticated until installers need a role (issue 13): recorded as anonymous.
    let id = creation::submit(&app, body, Actor::Anonymous, &ip).await?;
    Ok(Json(json!({ "package_id": id })))
}

#[derive(Deserialize)]
pub struct StatusQuery {
    package_id: Option<String>,
}

pub async fn status(
    State(app): State<App>,
    PublicUrl(base): PublicUrl,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let raw = query
        .ok()
        .and_then(|Query(q)| q.package_id)
        .ok_or_else(|| ApiError::bad_request("package_id is required"))?;
    let id = packages::parse_id(&raw)?;
    PACKAGE_STATUS.enforce(&app, &id).await?;
    let package = find(&app, &id).await?;
    Ok(Json(match effective(&package, app.clock.unix()) {
        Effective::Success { .. } => json!({
            "status": "success",
            "download_url": format!("{base}/download/{id}"),
        }),
        Effective::InProgress(stage) => json!({
            "status": "in-progress",
            "stage": stage.as_str(),
        }),
        Effective::Failed(logs) => json!({ "status": "fail", "logs": logs }),
        Effective::Expired => json!({ "status": "expired" }),
    }))
}

pub async fn download(
    State(app): State<App>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Response> {
    let Path(raw) = path.map_err(|_| ApiError::bad_request("invalid path"))?;
    let id = packages::parse_id(&raw)?;
    PACKAGE_DOWNLOADS.enforce(&app, &id).await?;
    let package = find(&app, &id).await?;
    let (file_name, size) = match effective(&package, app.clock.unix()) {
        Effective::Success { file_name, size } => (file_name, size),
        Effective::Expired => {
            return Err(ApiError::Gone(format!(
                "package {id} has expired and was deleted"
            )))
        }
        Effective::Failed(_) => {
            return Err(ApiError::Conflict(format!(
                "package {id} failed to build; see its status"
            )))
        }
        Effective::InProgress(stage) => {
            return Err(ApiError::Conflict(format!(
                "package {id} is not built yet (stage {})",
                stage.as_str()
            )))
        }
    };
    let content_type = package
        .kind()
        .map_or("application/octet-stream", |kind| kind.content_type());
    blob_download::serve(
        app.ports.blobs.clone(),
        Download {
            name: package.file_blob(&file_name),
            size,
            file_name: &file_name,
            content_type,
            url_ttl: DOWNLOAD_URL_TTL,
        },
    )
    .await
}
