//! Scheduled queries: `GET/POST /api/v1/fleet/queries`, `DELETE /api/v1/fleet/queries/{id}`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Id;
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::audit;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, Scope};
use crate::domain::scheduled_queries::{self, NewScheduledQuery};
use crate::domain::teams;
use crate::error::ApiError;
use crate::error::ApiResult;

/// Global queries and those of the principal's teams.
pub async fn list(principal: Principal, State(app): State<App>) -> ApiResult<Json<Value>> {
    let visible = principal.teams_with(Permission::ReadQueries);
    let queries: Vec<_> = scheduled_queries::list(app.state())
        .await?
        .into_iter()
        .filter(|q| q.team_id.is_none() || visible.includes(q.team_id))
        .collect();
    Ok(Json(json!({ "queries": queries })))
}

pub async fn create(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let new: NewScheduledQuery = parse(body)?;
    principal.require(Permission::WriteQueries, Scope::of(new.team_id))?;
    if let Some(team) = new.team_id {
        teams::require(app.state(), team).await?;
    }
    let query = scheduled_queries::create(app.state(), app.clock.now(), new).await?;
    audit::record(
        &app,
        principal.actor(),
        "created_saved_query",
        json!({"query_id": query.id, "query_name": query.name, "team_id": query.team_id}),
        &ip,
    )
    .await?;
    Ok(Json(json!({ "query": query })))
}

pub async fn delete(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let query = scheduled_queries::get(app.state(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("query {id} not found")))?;
    principal.require(Permission::WriteQueries, Scope::of(query.team_id))?;
    scheduled_queries::delete(app.state(), id).await?;
    audit::record(
        &app,
        principal.actor(),
        "deleted_saved_query",
        json!({"query_id": id, "query_name": query.name, "team_id": query.team_id}),
        &ip,
    )
    .await?;
    Ok(Json(json!({})))
}
