//! Fleet's per-host live query and refetch: `POST /api/v1/fleet/hosts/{id}/query` and
//! `POST /api/v1/fleet/hosts/{id}/refetch`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Id;
use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::audit;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::roles::{Permission, Scope};
use crate::domain::{host_admin, host_query, refetch};
use crate::error::ApiResult;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostQueryRequest {
    query: String,
}

/// Runs SQL on one host and waits (bounded) for its rows, in Fleet's shape. Any SQL: the
/// caller needs `RunAnyQuery` on the host's team (observer_plus and up), as for `queries/run`.
pub async fn query(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    Id(id): Id,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: HostQueryRequest = parse(body)?;
    let host = host_admin::visible(&app, &principal, id).await?;
    principal.require(Permission::RunAnyQuery, Scope::of(host.host.team_id))?;
    let answer = host_query::run(&app, &host, &request.query, principal.user_id()).await?;
    audit::record(
        &app,
        principal.actor(),
        "live_query",
        json!({"campaign_id": answer.campaign_id, "query_sql": answer.query, "targets_count": 1, "host_id": id}),
        &ip,
    )
    .await?;
    Ok(Json(json!({
        "host_id": answer.host_id,
        "query": answer.query,
        "status": if answer.online { "online" } else { "offline" },
        "error": answer.error,
        "rows": answer.rows,
    })))
}

/// Marks the host's vitals stale: its next check-in is handed the detail queries. Fleet lets
/// anyone who can read the host do this (observers included), so `ReadHosts` on its team.
pub async fn refetch(
    principal: Principal,
    State(app): State<App>,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    host_admin::visible(&app, &principal, id).await?;
    refetch::request(&app, id).await?;
    Ok(Json(json!({})))
}
