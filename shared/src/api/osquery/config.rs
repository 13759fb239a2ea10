//! `POST /api/osquery/config`: the osquery config for the host, top level.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;

use super::node_key;
use crate::api::body::JsonBody;
use crate::app::App;
use crate::domain::host_auth::check_in;
use crate::domain::hosts::Host;
use crate::domain::{agent_options, scheduled_queries};
use crate::error::ApiResult;

pub async fn config(
    State(app): State<App>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let auth = check_in(&app, node_key(&headers, &body)).await?;
    let store = app.state();
    let now_ms = app.clock.now().timestamp_millis();
    let app_config = app.config_cache.app_config(store, now_ms).await?;
    let team_options = match auth.team_id {
        Some(team) => app.config_cache.team_options(store, team, now_ms).await?,
        None => Default::default(),
    };
    let options = team_options
        .as_ref()
        .as_ref()
        .unwrap_or(&app_config.agent_options);
    let queries = app.config_cache.scheduled_queries(store, now_ms).await?;
    let platforms = Host::platform_keys(&auth.platform, &auth.platform_like);
    let platforms: Vec<&str> = platforms.iter().map(String::as_str).collect();
    Ok(Json(agent_options::render(
        options,
        &platforms,
        scheduled_queries::packs_for(&queries, auth.team_id),
    )))
}
