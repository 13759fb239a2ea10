//! Hosts: `GET /api/v1/fleet/hosts`, `GET/DELETE /api/v1/fleet/hosts/{id}` and
//! `POST /api/v1/fleet/hosts/transfer`.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{require_host_access, Id};
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::audit;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, Scope, TeamFilter};
use crate::domain::{host_changes, hosts, teams};
use crate::error::{ApiError, ApiResult};

const DEFAULT_PER_PAGE: usize = 100;
const MAX_PER_PAGE: usize = 500;

#[derive(Deserialize)]
pub struct Paging {
    #[serde(default)]
    page: usize,
    per_page: Option<usize>,
}

/// Hosts of the principal's teams only, for a team role (the page is filled from the hosts it
/// may see; a global role pages over all hosts).
pub async fn list(
    principal: Principal,
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
    let visible = principal.teams_with(Permission::ReadHosts);
    let listed = match &visible {
        TeamFilter::All => hosts::list(app.state(), paging.page, per_page).await?,
        TeamFilter::Only(_) => {
            hosts::list_matching(app.state(), paging.page, per_page, |h| {
                visible.includes(h.team_id)
            })
            .await?
        }
    };
    let hosts: Vec<Value> = listed.iter().map(|h| h.to_json(now)).collect();
    Ok(Json(json!({ "hosts": hosts })))
}

pub async fn get(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let host = require_host_access(&app, &principal, Permission::ReadHosts, id).await?;
    Ok(Json(json!({ "host": host.to_json(app.clock.now()) })))
}

pub async fn delete(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let state = require_host_access(&app, &principal, Permission::WriteHosts, id).await?;
    host_changes::delete(&app, id).await?;
    audit::record(
        &app,
        principal.actor(),
        "deleted_host",
        json!({"host_id": id, "host_display_name": state.host.hostname, "team_id": state.host.team_id}),
        &ip,
    )
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    /// None (or `null`): no team.
    team_id: Option<u64>,
    hosts: Vec<u64>,
}

/// Fleet's `{team_id, hosts: [ids]}`: the principal needs `WriteHosts` on the destination and
/// on every host's current team; nothing moves unless all may.
pub async fn transfer(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: Transfer = parse(body)?;
    let mut ids = request.hosts;
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() || ids.len() > host_changes::MAX_TRANSFER {
        return Err(ApiError::bad_request(format!(
            "hosts must list 1 to {} host ids",
            host_changes::MAX_TRANSFER
        )));
    }
    principal.require(Permission::WriteHosts, Scope::of(request.team_id))?;
    if let Some(team) = request.team_id {
        teams::require(app.state(), team).await?;
    }
    for id in &ids {
        require_host_access(&app, &principal, Permission::WriteHosts, *id).await?;
    }
    host_changes::transfer(&app, request.team_id, &ids).await?;
    audit::record(
        &app,
        principal.actor(),
        "transferred_hosts",
        json!({"team_id": request.team_id, "host_ids": ids}),
        &ip,
    )
    .await?;
    Ok(Json(json!({})))
}
