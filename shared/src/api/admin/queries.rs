//! Scheduled queries: `GET/POST /api/v1/fleet/queries`, `PATCH/DELETE
//! /api/v1/fleet/queries/{id}` (`domain::query_admin`).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Id;
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::principal::Principal;
use crate::domain::query_admin;
use crate::domain::scheduled_queries::{NewScheduledQuery, QueryChange};
use crate::error::ApiResult;

/// Global queries and those of the principal's teams.
pub async fn list(principal: Principal, State(app): State<App>) -> ApiResult<Json<Value>> {
    let queries = query_admin::visible(&app, &principal).await?;
    Ok(Json(json!({ "queries": queries })))
}

pub async fn create(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let new: NewScheduledQuery = parse(body)?;
    let query = query_admin::create(&app, &principal, new, &ip).await?;
    Ok(Json(json!({ "query": query })))
}

/// Fleet's modify query: the fields given replace the stored ones.
pub async fn patch(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let change: QueryChange = parse(body)?;
    let query = query_admin::update(&app, &principal, id, change, &ip).await?;
    Ok(Json(json!({ "query": query })))
}

pub async fn delete(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    query_admin::delete(&app, &principal, id, &ip).await?;
    Ok(Json(json!({})))
}
