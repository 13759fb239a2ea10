//! `GET/PATCH /api/v1/fleet/config`, with the packager's URL (fleet-installers-packager-design.md).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::api::public_url::PublicUrl;
use crate::app::App;
use crate::domain::app_config::{self, AppConfig, AppConfigPatch};
use crate::domain::identity::audit::ActedBy;
use crate::domain::identity::principal::Principal;
use crate::error::ApiResult;

/// `packager_url`: where the UI sends packager requests (this API serves them).
fn answer(config: &AppConfig, base: &str) -> Json<Value> {
    Json(json!({
        "agent_options": config.agent_options,
        "org_info": config.org_info,
        "packager": config.packager,
        "packager_url": base,
    }))
}

pub async fn get(
    _: Principal,
    State(app): State<App>,
    PublicUrl(base): PublicUrl,
) -> ApiResult<Json<Value>> {
    Ok(answer(&app_config::load(app.state()).await?, &base))
}

pub async fn patch(
    principal: Principal,
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    PublicUrl(base): PublicUrl,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let patch: AppConfigPatch = parse(body)?;
    let config = app_config::save(&app, &ActedBy::new(&principal, &ip), patch).await?;
    Ok(answer(&config, &base))
}
