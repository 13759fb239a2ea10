//! Live queries: `POST /api/v1/fleet/queries/run` and `GET /api/v1/fleet/campaigns/{id}/results`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{host_visible, require_host_access, Id};
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::campaigns::{self, Campaign};
use crate::domain::identity::audit;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, TeamFilter};
use crate::domain::live::Targets;
use crate::domain::scheduled_queries;
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    /// SQL to run (observer_plus and up), or
    #[serde(default)]
    query: Option<String>,
    /// a saved query (observers: only those marked `observer_can_run`).
    #[serde(default)]
    query_id: Option<u64>,
    selected: Targets,
}

fn campaign_json(campaign: &Campaign, responded: usize) -> Value {
    let status = if responded as u64 >= campaign.targeted && campaign.targeted > 0 {
        "finished"
    } else {
        "running"
    };
    json!({
        "id": campaign.id,
        "query": campaign.query,
        "selected": campaign.targets,
        "created_at": campaign.created_at.to_rfc3339(),
        "targeted": campaign.targeted,
        "responded": responded,
        "status": status,
    })
}

/// Which permission this run needs: any SQL needs `RunAnyQuery`; a saved query marked
/// `observer_can_run` needs only `RunSavedQueries`.
async fn sql_and_permission(app: &App, request: &RunRequest) -> ApiResult<(String, Permission)> {
    match (&request.query, request.query_id) {
        (Some(sql), None) => Ok((sql.clone(), Permission::RunAnyQuery)),
        (None, Some(id)) => {
            let saved = scheduled_queries::get(app.state(), id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("query {id} not found")))?;
            let permission = if saved.observer_can_run {
                Permission::RunSavedQueries
            } else {
                Permission::RunAnyQuery
            };
            Ok((saved.query, permission))
        }
        _ => Err(ApiError::bad_request("give either query or query_id")),
    }
}

/// The targets narrowed to what the principal may run on: `all` becomes its teams; named
/// teams and hosts outside them are refused.
async fn allowed_targets(
    app: &App,
    principal: &Principal,
    permission: Permission,
    selected: Targets,
) -> ApiResult<Targets> {
    let filter = principal.teams_with(permission);
    let TeamFilter::Only(teams) = &filter else {
        return Ok(selected);
    };
    if teams.is_empty() {
        return Err(ApiError::forbidden());
    }
    if selected.teams.iter().any(|t| !teams.contains(t)) {
        return Err(ApiError::forbidden());
    }
    for host in &selected.hosts {
        require_host_access(app, principal, permission, *host).await?;
    }
    let mut narrowed = selected;
    if narrowed.all {
        narrowed.all = false;
        narrowed.teams = teams.clone();
    }
    Ok(narrowed)
}

pub async fn run(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: RunRequest = parse(body)?;
    let (sql, permission) = sql_and_permission(&app, &request).await?;
    if !principal.roles.can_somewhere(permission) {
        return Err(ApiError::forbidden());
    }
    let targets = allowed_targets(&app, &principal, permission, request.selected).await?;
    let campaign = campaigns::create(&app, &sql, targets).await?;
    audit::record(
        &app,
        principal.actor(),
        "live_query",
        json!({"campaign_id": campaign.id, "query_id": request.query_id, "query_sql": sql, "targets_count": campaign.targeted}),
        &ip,
    )
    .await?;
    Ok(Json(json!({ "campaign": campaign_json(&campaign, 0) })))
}

/// Results from the hosts the principal may see.
pub async fn results(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let campaign = campaigns::get(app.state(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("campaign {id} not found")))?;
    let mut results = campaigns::results(&app, id).await?;
    let visible = principal.teams_with(Permission::ReadCampaigns);
    let mut kept = Vec::with_capacity(results.len());
    for result in results {
        if host_visible(&app, &visible, result.host_id).await? {
            kept.push(result);
        }
    }
    results = kept;
    let entries: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "host_id": r.host_id,
                "hostname": r.hostname,
                "rows": r.rows,
                "error": r.error,
                "stats": r.stats,
                "received_at": r.received_at.to_rfc3339(),
            })
        })
        .collect();
    Ok(Json(json!({
        "campaign": campaign_json(&campaign, results.len()),
        "results": entries,
    })))
}
