//! `GET /api/v1/fleet/hosts` and `GET /api/v1/fleet/hosts/{id}`.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{require_host_access, Id};
use crate::app::App;
use crate::domain::hosts;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, TeamFilter};
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
