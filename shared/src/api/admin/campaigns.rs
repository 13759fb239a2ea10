//! Live queries: `POST /api/v1/fleet/queries/run` and `GET /api/v1/fleet/campaigns/{id}/results`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Admin, Id};
use crate::api::body::{parse, JsonBody};
use crate::app::App;
use crate::domain::campaigns::{self, Campaign};
use crate::domain::live::Targets;
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    query: String,
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

pub async fn run(
    _: Admin,
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: RunRequest = parse(body)?;
    let campaign = campaigns::create(&app, &request.query, request.selected).await?;
    Ok(Json(json!({ "campaign": campaign_json(&campaign, 0) })))
}

pub async fn results(_: Admin, State(app): State<App>, Id(id): Id) -> ApiResult<Json<Value>> {
    let campaign = campaigns::get(app.state(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("campaign {id} not found")))?;
    let results = campaigns::results(&app, id).await?;
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
