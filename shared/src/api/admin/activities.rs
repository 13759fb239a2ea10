//! `GET /api/v1/fleet/activities`: newest first, a cursor, filters by actor, type and time.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::domain::activities::{self, Filter, ListError};
use crate::domain::identity::principal::Principal;
use crate::error::{ApiError, ApiResult};

const DEFAULT_PER_PAGE: usize = 100;

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    per_page: Option<usize>,
    #[serde(default)]
    actor_id: Option<u64>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    since: Option<DateTime<Utc>>,
    #[serde(default)]
    until: Option<DateTime<Utc>>,
}

pub async fn list(
    State(app): State<App>,
    _: Principal,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let filter = Filter {
        actor_id: params.actor_id,
        kind: params.kind,
        since: params.since,
        until: params.until,
    };
    let (page, next) = activities::list(
        app.state(),
        app.clock.now(),
        app.settings.identity.activity_retention_days,
        &filter,
        params.cursor.as_deref(),
        params.per_page.unwrap_or(DEFAULT_PER_PAGE),
    )
    .await
    .map_err(|e| match e {
        ListError::BadCursor => ApiError::bad_request("invalid cursor"),
        ListError::Store(e) => e.into(),
    })?;
    let entries: Vec<Value> = page.iter().map(|a| a.to_json()).collect();
    Ok(Json(json!({
        "activities": entries,
        "meta": { "next_cursor": next, "has_next_results": next.is_some() },
    })))
}
