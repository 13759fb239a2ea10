//! Single sign-on: its settings (admins), and the public part of the flow.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::api::body::{parse, JsonBody};
use crate::api::client_ip::ClientIp;
use crate::app::App;
use crate::domain::identity::audit;
use crate::domain::identity::principal::Principal;
use crate::domain::identity::sso_settings::{self, SsoSettingsPatch};
use crate::error::ApiResult;

pub async fn get_settings(State(app): State<App>, _: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "sso_settings": sso_settings::load(app.state()).await? }),
    ))
}

pub async fn patch_settings(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let patch: SsoSettingsPatch = parse(body)?;
    let settings = sso_settings::patch(app.state(), patch).await?;
    audit::record(
        &app,
        principal.actor(),
        "edited_sso_settings",
        json!(settings),
        &ip,
    )
    .await?;
    Ok(Json(json!({ "sso_settings": settings })))
}

/// What the sign-in page needs: whether SSO is on and the provider's name.
pub async fn public_settings(State(app): State<App>) -> ApiResult<Json<Value>> {
    let settings = sso_settings::load(app.state()).await?;
    Ok(Json(json!({
        "settings": {
            "idp_name": settings.idp_name,
            "sso_enabled": settings.enable_sso,
            "sso_required": settings.sso_required,
        }
    })))
}
