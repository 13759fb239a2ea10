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
use crate::domain::app_config;
use crate::domain::identity::audit;
use crate::domain::packages::request::CreateRequest;
use crate::domain::packages::status::{effective, Effective};
use crate::domain::packages::{self, create as creation, Package};
use crate::domain::rate_limit::{
    RateLimit, Verdict, PACKAGE_CREATES, PACKAGE_DOWNLOADS, PACKAGE_STATUS,
};
use crate::error::{ApiError, ApiResult};

/// How long a download URL works (much less than a package lives).
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);

async fn limit(app: &App, limit: &RateLimit, subject: &str) -> ApiResult<()> {
    match limit.hit(app.state(), subject, app.clock.unix()).await? {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after } => Err(ApiError::TooManyRequests { retry_after }),
    }
}

/// A package id is a UUID; anything else cannot name a package (and must not reach a key).
fn package_id(raw: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::bad_request(format!("package_id must be a UUID: {raw:?}")))
}

async fn find(app: &App, id: &str) -> ApiResult<Package> {
    packages::load(app.state(), id)
        .await?
        .map(|(package, _)| package)
        .ok_or_else(|| ApiError::not_found(format!("no package {id}")))
}

pub async fn create(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    limit(&app, &PACKAGE_CREATES, &ip).await?;
    // The deployment's default channels for those the request leaves out.
    let config = app_config::load(app.state()).await?;
    let request = CreateRequest::parse_with(
        body,
        &app.settings.packager.update_url,
        &config.packager.default_channels,
    )?;
    if request.args.update_roots.is_none() && app.settings.packager.update_root.is_none() {
        return Err(ApiError::bad_request(format!(
            "update_roots is required: this deployment has no trusted root metadata for {}",
            request.args.update_url
        )));
    }
    let id = creation::create(&app, request).await?;
    // Unauthenticated until installers need a role (issue 13): recorded as anonymous.
    audit::record(
        &app,
        Actor::Anonymous,
        "created_package",
        json!({"package_id": id}),
        &ip,
    )
    .await?;
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
    let id = package_id(&raw)?;
    limit(&app, &PACKAGE_STATUS, &id).await?;
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
    let id = package_id(&raw)?;
    limit(&app, &PACKAGE_DOWNLOADS, &id).await?;
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
