//! `GET /api/v1/fleet/hosts` and `GET /api/v1/fleet/hosts/{id}`.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Admin, Id};
use crate::app::App;
use crate::domain::hosts;
use crate::error::{ApiError, ApiResult};

const DEFAULT_PER_PAGE: usize = 100;
const MAX_PER_PAGE: usize = 500;

#[derive(Deserialize)]
pub struct Paging {
    #[serde(default)]
    page: usize,
    per_page: Option<usize>,
}

pub async fn list(
    _: Admin,
    State(app): State<App>,
    paging: Result<Query<Paging>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(paging) = paging
        .map_err(|_| ApiError::bad_request("page and per_page must be non-negative integers"))?;
    let per_page = paging
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let now = app.clock.now();
    let hosts: Vec<Value> = hosts::list(app.state(), paging.page, per_page)
        .await?
        .iter()
        .map(|h| h.to_json(now))
        .collect();
    Ok(Json(json!({ "hosts": hosts })))
}

pub async fn get(_: Admin, State(app): State<App>, Id(id): Id) -> ApiResult<Json<Value>> {
    let host = hosts::load(app.state(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("host {id} not found")))?;
    Ok(Json(json!({ "host": host.to_json(app.clock.now()) })))
}
