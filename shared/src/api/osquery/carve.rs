//! `POST /api/osquery/carve/begin` and `/carve/block`: file carving (domain::carves).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::node_key;
use crate::api::body::{parse, JsonBody};
use crate::app::App;
use crate::domain::carves;
use crate::domain::host_auth::check_in;
use crate::error::ApiResult;

pub async fn begin(
    State(app): State<App>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let host = check_in(&app, node_key(&headers, &body)).await?;
    let (_, session_id) = carves::begin(&app, &host, parse(body)?).await?;
    Ok(Json(json!({ "session_id": session_id, "success": true })))
}

/// Authorised by the session id and request id of the carve, not by a node key (as in Fleet).
pub async fn block(State(app): State<App>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    carves::store_block(&app, parse(body)?).await?;
    Ok(Json(json!({ "success": true })))
}
