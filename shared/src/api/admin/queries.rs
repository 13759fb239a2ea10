//! Scheduled queries: `GET/POST /api/v1/fleet/queries`, `DELETE /api/v1/fleet/queries/{id}`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{Admin, Id};
use crate::api::body::{parse, JsonBody};
use crate::app::App;
use crate::domain::scheduled_queries::{self, NewScheduledQuery};
use crate::domain::teams;
use crate::error::ApiResult;

pub async fn list(_: Admin, State(app): State<App>) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "queries": scheduled_queries::list(app.state()).await? }),
    ))
}

pub async fn create(
    _: Admin,
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let new: NewScheduledQuery = parse(body)?;
    if let Some(team) = new.team_id {
        teams::require(app.state(), team).await?;
    }
    let query = scheduled_queries::create(app.state(), app.clock.now(), new).await?;
    Ok(Json(json!({ "query": query })))
}

pub async fn delete(_: Admin, State(app): State<App>, Id(id): Id) -> ApiResult<Json<Value>> {
    scheduled_queries::delete(app.state(), id).await?;
    Ok(Json(json!({})))
}
