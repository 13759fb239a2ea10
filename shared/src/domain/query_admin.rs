//! Admin actions on saved queries, as the JSON API and the admin UI both make them: the
//! check of the principal's role on the query's team (or globally), the change, and its
//! record in the activity log.

use serde_json::json;

use super::identity::audit;
use super::identity::principal::Principal;
use super::identity::roles::{Permission, Scope};
use super::scheduled_queries::{self, NewScheduledQuery, QueryChange, ScheduledQuery};
use super::teams;
use crate::app::AppInner;
use crate::error::ApiError;

/// Global queries and those of the principal's teams.
pub async fn visible(
    app: &AppInner,
    principal: &Principal,
) -> Result<Vec<ScheduledQuery>, ApiError> {
    let visible = principal.teams_with(Permission::ReadQueries);
    Ok(scheduled_queries::list(app.state())
        .await?
        .into_iter()
        .filter(|q| q.team_id.is_none() || visible.includes(q.team_id))
        .collect())
}

fn not_found(id: u64) -> ApiError {
    ApiError::not_found(format!("query {id} not found"))
}

/// One query, if the principal may read it: a global one, or one of their teams'.
pub async fn read(
    app: &AppInner,
    principal: &Principal,
    id: u64,
) -> Result<ScheduledQuery, ApiError> {
    let query = scheduled_queries::get(app.state(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if let Some(team) = query.team_id {
        principal.require(Permission::ReadQueries, Scope::Team(team))?;
    }
    Ok(query)
}

/// The query as the principal may change it: 403 unless they may write its team's queries.
async fn writable(
    app: &AppInner,
    principal: &Principal,
    id: u64,
) -> Result<ScheduledQuery, ApiError> {
    let query = scheduled_queries::get(app.state(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    principal.require(Permission::WriteQueries, Scope::of(query.team_id))?;
    Ok(query)
}

pub async fn create(
    app: &AppInner,
    principal: &Principal,
    new: NewScheduledQuery,
    ip: &str,
) -> Result<ScheduledQuery, ApiError> {
    principal.require(Permission::WriteQueries, Scope::of(new.team_id))?;
    if let Some(team) = new.team_id {
        teams::require(app.state(), team).await?;
    }
    let query = scheduled_queries::create(app.state(), app.clock.now(), new).await?;
    record(app, principal, "created_saved_query", &query, ip).await?;
    Ok(query)
}

pub async fn update(
    app: &AppInner,
    principal: &Principal,
    id: u64,
    change: QueryChange,
    ip: &str,
) -> Result<ScheduledQuery, ApiError> {
    writable(app, principal, id).await?;
    let query = scheduled_queries::update(app.state(), id, change).await?;
    record(app, principal, "edited_saved_query", &query, ip).await?;
    Ok(query)
}

pub async fn delete(
    app: &AppInner,
    principal: &Principal,
    id: u64,
    ip: &str,
) -> Result<ScheduledQuery, ApiError> {
    let query = writable(app, principal, id).await?;
    scheduled_queries::delete(app.state(), id).await?;
    record(app, principal, "deleted_saved_query", &query, ip).await?;
    Ok(query)
}

async fn record(
    app: &AppInner,
    principal: &Principal,
    kind: &str,
    query: &ScheduledQuery,
    ip: &str,
) -> Result<(), ApiError> {
    audit::record(
        app,
        principal.actor(),
        kind,
        json!({"query_id": query.id, "query_name": query.name, "team_id": query.team_id}),
        ip,
    )
    .await
}
