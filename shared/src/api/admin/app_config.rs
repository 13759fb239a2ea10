//! `GET/PATCH /api/v1/fleet/config`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Admin;
use crate::api::body::{parse, JsonBody};
use crate::app::App;
use crate::domain::app_config::{self, AppConfig, AppConfigPatch};
use crate::error::ApiResult;

fn answer(config: &AppConfig) -> Json<Value> {
    Json(json!({
        "agent_options": config.agent_options,
        "org_info": config.org_info,
    }))
}

pub async fn get(_: Admin, State(app): State<App>) -> ApiResult<Json<Value>> {
    Ok(answer(&app_config::load(app.state()).await?))
}

pub async fn patch(
    _: Admin,
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let patch: AppConfigPatch = parse(body)?;
    Ok(answer(&app_config::patch(app.state(), patch).await?))
}
